//! Audit events: `tracing` events of target `tower_jwt_auth::audit`, named after OWASP's
//! logging vocabulary in their `event` field.
//!
//! | `event` | level | where | fields |
//! |---|---|---|---|
//! | `authn_login_success` | INFO | auth service `/token` | `user_id`, `client`, `user_agent` |
//! | `authn_login_fail` | INFO | auth service `/token` | `reason`, `user_id`, `client`, `user_agent` |
//! | `authn_login_lock` | WARN | auth service `/token` | `key`, `retry_after`, `client`, `user_agent` |
//! | `authn_token_revoked` | INFO | auth service `/revoke`, [`JwtManager::revoke`], [`JwtManager::revoke_all`] | `user_id`, `revoked` (`"token"` or `"all"`), `jti_hash` and `token_type` (one token), `client` and `user_agent` (auth service only) |
//! | `authn_token_reuse` | WARN | auth service `/refresh`, refresh rotation | `reason` (`"reused"` or `"session_ended"`), `user_id`, `session_hash`, `jti_hash`, `client`, `user_agent` |
//! | `authn_token_invalid` | INFO | guards | `reason` ([`ErrorKind::as_str`]), `client`, `user_agent` |
//! | `authz_fail` | INFO | guards | `reason` (`"insufficient_scope"`), `client`, `user_agent` |
//!
//! Never a password, a token or a raw `jti` or session id: those are named by the first 8
//! bytes of their SHA-256, in hex (`jti_hash`, `session_hash`). `user_id` is the subject's
//! store key ([`Subject::key`]): the identity for the manager's own tokens,
//! `<issuer>\u{1f}<sub>` for an outside issuer's. `user_agent` is the `User-Agent` header
//! (its first 256 bytes, `Debug`-formatted); `client` the client's address (in guards, the
//! TCP peer of a [`PeerAddr`] in the request's extensions; `"unknown"` without one). A
//! request without any token is not audited (it logs at DEBUG); a store that cannot answer
//! logs a WARN outside the audit target. A refusal written in a handler (axum's
//! `RequireRole` or `ExtractRejection::forbidden`, tonic's `require_role`) is not audited.
//!
//! [`JwtManager::revoke`]: crate::JwtManager::revoke
//! [`JwtManager::revoke_all`]: crate::JwtManager::revoke_all
//! [`ErrorKind::as_str`]: crate::ErrorKind::as_str
//! [`Subject::key`]: crate::claims::Subject::key

use std::fmt;

use http::{Extensions, HeaderMap};
use sha2::{Digest, Sha256};

/// The longest `User-Agent` an audit event (or a session) shows, in bytes.
pub(crate) const MAX_USER_AGENT: usize = 256;

/// A secret-ish identifier (a `jti`, a session id) as audit events name it: the first 8
/// bytes of its SHA-256, in hex. Enough to match two events (or an event and a token one
/// holds), useless to present.
pub(crate) struct Hashed<'a>(pub(crate) &'a str);

impl fmt::Display for Hashed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = Sha256::digest(self.0.as_bytes());
        digest[..8].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The TCP peer of a request, as the server put it into the request's extensions: what
/// audit events name as the client, and the login throttle counts (see
/// [`throttle`](crate::throttle)). hyper: insert it per connection; axum (served with
/// `into_make_service_with_connect_info::<SocketAddr>()`): a middleware copying
/// `ConnectInfo<SocketAddr>` into it, as the example server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The request's `User-Agent` as audit events show it: at most 256 bytes (cut on a
/// character boundary); `""` without a readable one.
pub fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(http::header::USER_AGENT)
        .and_then(|ua| ua.to_str().ok())
        .map_or("", |ua| truncate(ua, MAX_USER_AGENT))
}

/// The TCP peer's address (a [`PeerAddr`] in the extensions) as guard events show it.
pub(crate) struct Peer<'a>(pub(crate) &'a Extensions);

impl fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.get::<PeerAddr>() {
            Some(peer) => peer.0.ip().fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_is_a_short_sha256_prefix() {
        // SHA-256("abc") = ba7816bf8f01cfea 414140de...
        assert_eq!(Hashed("abc").to_string(), "ba7816bf8f01cfea");
    }

    #[test]
    fn user_agent_is_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(user_agent(&headers), "");
        let long = "a".repeat(300);
        headers.insert(http::header::USER_AGENT, long.parse().unwrap());
        assert_eq!(user_agent(&headers), &long[..256]);
        assert_eq!(truncate(&format!("a{}", "é".repeat(200)), 256).len(), 255);
    }
}
