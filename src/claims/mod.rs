//! Claims: the Flask-JWT-Extended layout, token types, freshness, and the verified token
//! that guards put into request extensions.
//!
//! # Example
//!
//! ```
//! use serde::Deserialize;
//! use tower_jwt_auth::JwtManager;
//! use tower_jwt_auth::claims::{Freshness, TokenType};
//! use tower_jwt_auth::issue::TokenOptions;
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! let token = manager
//!     .create_access_token_with("42", TokenOptions::new().fresh(true).claim("role", "admin"))
//!     .unwrap();
//!
//! // Accepted: the verified token exposes the identity and every claim.
//! let verified = manager.decode_token(&token).unwrap();
//! assert_eq!(verified.identity(), "42");
//! assert_eq!(verified.token_type(), &TokenType::Access);
//! assert_eq!(verified.freshness(), Freshness::Fresh);
//!
//! #[derive(Deserialize)]
//! struct Role {
//!     role: String,
//! }
//! assert_eq!(verified.claims::<Role>().unwrap().role, "admin");
//!
//! // Rejected: a refresh token is not an access token, but both decode.
//! let refresh = manager.create_refresh_token("42").unwrap();
//! assert_eq!(manager.decode_token(&refresh).unwrap().token_type(), &TokenType::Refresh);
//! assert!(manager.decode_token(&format!("{token}x")).is_err());
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::config::keys::{Key, ISSUER_SEPARATOR};
use crate::config::{Settings, TokenLocation};

mod audience;
mod lookup;
mod parse;
pub(crate) use crate::config::claim_path::REGISTERED;
pub(crate) use audience::audience_holds;
pub(crate) use lookup::{
    below, challenge_scope, paths, role_required, scope_required, Held, Reading,
};
pub(crate) use parse::{ClaimsSeed, Found, RawClaims, RawHeader, Text};

/// The `type` claim of a token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `"access"`, or no `type` claim at all (Flask-JWT-Extended's default).
    Access,
    /// `"refresh"`.
    Refresh,
    /// Any other string, e.g. `"app"`; accepted on access routes, as Flask-JWT-Extended does.
    Other(String),
}

impl TokenType {
    /// The claim's value.
    pub fn as_str(&self) -> &str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
            TokenType::Other(other) => other,
        }
    }
}

/// The `fresh` claim of a token.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Freshness {
    /// `true`.
    Fresh,
    /// `false`, absent, or not a boolean or number.
    #[default]
    NotFresh,
    /// A float epoch: fresh until that time.
    Until(f64),
}

impl Freshness {
    /// Whether the token counts as fresh at `now` (epoch seconds). No leeway applies.
    pub fn is_fresh_at(self, now: f64) -> bool {
        match self {
            Freshness::Fresh => true,
            Freshness::NotFresh => false,
            Freshness::Until(until) => until >= now,
        }
    }
}

/// Where [`VerifiedToken`] is defined: public at the crate root only (one path per type).
pub(crate) mod verified {
    use std::sync::Arc;

    use super::{LookedUp, TokenData};

    /// A token that passed every check of a guard (or of [`JwtManager::decode_token`]).
    ///
    /// Guards insert it into the request's extensions; handlers read it from there (or through
    /// the framework extractors). Its `Debug` output never shows the raw claims.
    ///
    /// [`JwtManager::decode_token`]: crate::JwtManager::decode_token
    ///
    /// Cheap to clone and to move (two pointers): the verified data sit behind one shared
    /// pointer (which the memo of verified tokens shares too), the user the lookup hook
    /// found for this request beside it.
    #[derive(Clone)]
    pub struct VerifiedToken(pub(crate) Arc<TokenData>, pub(crate) Option<Box<LookedUp>>);
}
pub(crate) use verified::VerifiedToken;

/// The claim naming the refresh-rotation session a token belongs to (OpenID Connect's
/// session id claim); see [`VerifiedToken::session`].
pub const SESSION_CLAIM: &str = crate::config::claim_path::SESSION_CLAIM;

/// What a [`VerifiedToken`] holds.
#[derive(Clone)]
pub(crate) struct TokenData {
    pub(crate) identity: Text,
    pub(crate) jti: Option<Text>,
    /// `jti` and `session` as packed uuids (see `denylist::packed_uuid`), read once here
    /// rather than by the denylist on every request; `None` for an outside issuer's token
    /// (the stores know its names namespaced, never as uuids).
    pub(crate) jti_uuid: Option<u128>,
    pub(crate) session_uuid: Option<u128>,
    pub(crate) token_type: TokenType,
    pub(crate) fresh: Freshness,
    pub(crate) iat: Option<f64>,
    /// When it was issued, as precisely as the token says (see `verify::decode`): what
    /// revoke-all cut-offs compare with.
    pub(crate) issued: f64,
    pub(crate) nbf: Option<f64>,
    pub(crate) exp: Option<f64>,
    /// `None` for a token handed to the manager directly (`decode_token`, `verify_token`).
    pub(crate) location: Option<TokenLocation>,
    /// The `csrf` claim, when it is a string.
    pub(crate) csrf: Option<Text>,
    /// The `sid` claim (the session of a rotated refresh token), when it is a string.
    pub(crate) session: Option<Text>,
    /// The roles and scopes claims, their strings located (see
    /// [`authorization`](crate::authorization)).
    pub(crate) held: Held,
    /// The decoded header JSON, `None` when it is the key's own header.
    pub(crate) header: Option<Vec<u8>>,
    /// The key that verified it.
    pub(crate) key: Arc<Key>,
    /// The settings of the manager that verified it (its clock, its message key).
    pub(crate) settings: Arc<Settings>,
    /// The decoded payload JSON (valid UTF-8, checked once).
    pub(crate) payload: String,
}

/// The user a lookup hook found, and the name of its type (for a clear error when a handler
/// asks for another type).
#[derive(Clone)]
pub(crate) struct LookedUp {
    pub(crate) value: Arc<dyn Any + Send + Sync>,
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) type_name: &'static str,
}

/// Who a token speaks for: an identity, and the outside issuer that vouches for it (`None`
/// for the manager's own tokens).
///
/// Identities are **namespaced by issuer**: `"1"` of an outside issuer is not local user
/// `"1"`. [`JwtManager::revoke_all`](crate::JwtManager::revoke_all) and the sessions API take
/// a `Subject` (or the token, which converts into its own): a local identity is spelled
/// [`Subject::local`], never a bare string, so that code written as
/// `revoke_all(token.identity())` cannot quietly aim an outside token's `sub` at a local
/// user. The denylist and session stores see an outside identity under [`key`](Self::key),
/// never under its bare `sub`.
///
/// ```
/// use tower_jwt_auth::claims::Subject;
///
/// let local = Subject::local("1");
/// let outside = Subject::external("https://idp.example", "1");
/// assert!(!local.is_external() && outside.is_external());
/// assert_ne!(local, outside);
/// assert_eq!(local.key(), "1");
/// assert_ne!(outside.key(), "1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subject<'a> {
    issuer: Option<&'a str>,
    id: &'a str,
}

impl<'a> Subject<'a> {
    /// An identity of the manager's own tokens.
    pub fn local(id: &'a str) -> Self {
        Self { issuer: None, id }
    }

    /// An identity `id` as outside issuer `issuer` names it.
    pub fn external(issuer: &'a str, id: &'a str) -> Self {
        Self {
            issuer: Some(issuer),
            id,
        }
    }

    /// The outside issuer, `None` for the manager's own identities.
    pub fn issuer(&self) -> Option<&'a str> {
        self.issuer
    }

    /// The identity as its issuer names it (the token's `sub`).
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// Whether an outside issuer names this identity.
    pub fn is_external(&self) -> bool {
        self.issuer.is_some()
    }

    /// The name stores keep this identity under: the identity itself for the manager's
    /// own, `<issuer>\u{1f}<id>` for an outside issuer's (no allocation for local ones).
    pub fn key(&self) -> std::borrow::Cow<'a, str> {
        scoped(self.issuer, self.id)
    }
}

/// `value` (an identity, a `jti`, a session id) as stores keep it: namespaced by its outside
/// issuer, if any.
pub(crate) fn scoped<'a>(issuer: Option<&str>, value: &'a str) -> std::borrow::Cow<'a, str> {
    match issuer {
        None => std::borrow::Cow::Borrowed(value),
        Some(issuer) => format!("{issuer}{ISSUER_SEPARATOR}{value}").into(),
    }
}

impl<'a> From<&'a VerifiedToken> for Subject<'a> {
    fn from(token: &'a VerifiedToken) -> Self {
        token.subject()
    }
}

impl VerifiedToken {
    /// The identity (the `sub` claim, or the configured identity claim): Flask-JWT-Extended's
    /// `get_jwt_identity()`.
    ///
    /// For an outside issuer's token this is *its* name for the user: see
    /// [`local_identity`](Self::local_identity) for a name of a local user, and
    /// [`subject`](Self::subject) for the identity with its issuer.
    pub fn identity(&self) -> &str {
        self.text(&self.0.identity)
    }

    /// The identity when the token is the manager's own, `None` for an outside issuer's:
    /// what to look a local user up by. An outside `sub` never names a local user unless the
    /// application maps it (through [`subject`](Self::subject)).
    pub fn local_identity(&self) -> Option<&str> {
        (!self.is_external()).then(|| self.identity())
    }

    /// The identity together with its issuer.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            issuer: self.issuer(),
            id: self.identity(),
        }
    }

    /// The outside issuer whose published keys verified the token (its `iss`), `None` for
    /// the manager's own tokens.
    pub fn issuer(&self) -> Option<&str> {
        self.0.key.trust.as_ref().map(|trust| trust.issuer.as_str())
    }

    /// Whether an outside issuer (a [`RemoteJwks`](crate::jwks)) issued the token. Unless
    /// that issuer is trusted with `trust_token_claims`, such a token is a non-fresh access
    /// token whatever its claims say.
    pub fn is_external(&self) -> bool {
        self.0.key.trust.is_some()
    }

    /// The token's unique id (`jti`), when it has one.
    pub fn jti(&self) -> Option<&str> {
        self.0.jti.as_ref().map(|jti| self.text(jti))
    }

    fn text<'a>(&'a self, text: &'a Text) -> &'a str {
        text.as_str(&self.0.payload)
    }

    /// The CSRF double-submit value (`csrf` claim) the token carries, if any.
    pub fn csrf(&self) -> Option<&str> {
        self.0.csrf.as_ref().map(|csrf| self.text(csrf))
    }

    /// The session the token belongs to (its `sid` claim), when refresh-token rotation
    /// issued it: guards refuse it once the session has been revoked.
    pub fn session(&self) -> Option<&str> {
        self.0.session.as_ref().map(|sid| self.text(sid))
    }

    /// Whether the token carries `role` in the claim its issuer keeps roles in (see
    /// [`authorization`](crate::authorization)): an array holding it, or a string that is
    /// it. Compares bytes located when the token was decoded: no allocation.
    #[inline]
    pub fn has_role(&self, role: &str) -> bool {
        let (roles, _) = paths(&self.0.settings, &self.0.key);
        (self.0.held).holds(
            self.0.payload.as_bytes(),
            lookup::below(roles),
            Reading::Roles,
            role,
        )
    }

    /// Whether the token carries `scope` in the claim its issuer keeps scopes in: an array
    /// holding it, or a string holding it among its space-separated scopes.
    #[inline]
    pub fn has_scope(&self, scope: &str) -> bool {
        let (_, scopes) = paths(&self.0.settings, &self.0.key);
        (self.0.held).holds(
            self.0.payload.as_bytes(),
            lookup::below(scopes),
            Reading::Scopes,
            scope,
        )
    }

    /// Every role the token carries (as [`has_role`](Self::has_role) reads them).
    pub fn roles(&self) -> Vec<String> {
        let (roles, _) = paths(&self.0.settings, &self.0.key);
        (self.0.held).all(
            self.0.payload.as_bytes(),
            lookup::below(roles),
            Reading::Roles,
        )
    }

    /// Every scope the token carries (as [`has_scope`](Self::has_scope) reads them).
    pub fn scopes(&self) -> Vec<String> {
        let (_, scopes) = paths(&self.0.settings, &self.0.key);
        (self.0.held).all(
            self.0.payload.as_bytes(),
            lookup::below(scopes),
            Reading::Scopes,
        )
    }

    /// `Ok` if the token carries `role`; otherwise the guards' own 403 error
    /// ([`ErrorKind::InsufficientScope`](crate::ErrorKind::InsufficientScope)), for checks
    /// inside a handler.
    pub fn require_role(&self, role: &str) -> Result<&Self, crate::AuthError> {
        if self.has_role(role) {
            Ok(self)
        } else {
            Err(crate::AuthError::new(
                crate::ErrorKind::InsufficientScope,
                lookup::role_required(role),
            ))
        }
    }

    /// `Ok` if the token carries `scope`; otherwise the guards' own 403 error, naming the
    /// scope for the challenge ([`AuthError::scope`](crate::AuthError::scope)).
    pub fn require_scope(&self, scope: &str) -> Result<&Self, crate::AuthError> {
        if self.has_scope(scope) {
            Ok(self)
        } else {
            Err(crate::AuthError::new(
                crate::ErrorKind::InsufficientScope,
                lookup::scope_required(scope),
            )
            .with_scope(challenge_scope(scope)))
        }
    }

    /// The token's type.
    pub fn token_type(&self) -> &TokenType {
        &self.0.token_type
    }

    /// The token's freshness.
    pub fn freshness(&self) -> Freshness {
        self.0.fresh
    }

    /// Whether the token is fresh now, by the clock of the manager that verified it.
    pub fn is_fresh(&self) -> bool {
        self.0.fresh.is_fresh_at(self.0.settings.clock.now_secs())
    }

    /// Issue time (`iat`), epoch seconds.
    pub fn issued_at(&self) -> Option<f64> {
        self.0.iat
    }

    /// Not-before time (`nbf`), epoch seconds.
    pub fn not_before(&self) -> Option<f64> {
        self.0.nbf
    }

    /// Expiry time (`exp`), epoch seconds; `None` for a token that never expires.
    pub fn expires_at(&self) -> Option<f64> {
        self.0.exp
    }

    /// Where the request carried the token; `None` for a token handed to the manager
    /// directly ([`JwtManager::decode_token`](crate::JwtManager::decode_token),
    /// [`verify_token`](crate::JwtManager::verify_token)).
    pub fn location(&self) -> Option<TokenLocation> {
        self.0.location
    }

    /// All claims as JSON: Flask-JWT-Extended's `get_jwt()`.
    ///
    /// The claims as the token carries them: for an outside issuer's token, its `type`,
    /// `fresh`, `csrf` and `sid` too, which the crate does not believe unless the issuer is
    /// trusted with them ([`token_type`](Self::token_type), [`freshness`](Self::freshness),
    /// [`session`](Self::session) and [`is_fresh`](Self::is_fresh) say what counts). Check
    /// [`is_external`](Self::is_external) before trusting any claim of your own (a role, a
    /// scope) from them.
    pub fn claims_json(&self) -> serde_json::Map<String, serde_json::Value> {
        // The payload parsed as an object during verification; only claims the verification
        // keeps as they lie (`aud`, roles, scopes) are not walked for serde_json's nesting
        // limit there, so a signed token nesting one deeper than 128 levels reads as empty.
        serde_json::from_str(&self.0.payload).unwrap_or_default()
    }

    /// The claims deserialized into a type of your own (unknown claims are ignored unless
    /// the type says otherwise): as the token carries them, like
    /// [`claims_json`](Self::claims_json).
    pub fn claims<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0.payload)
    }

    /// The decoded JOSE header as JSON: Flask-JWT-Extended's `get_jwt_header()`.
    pub fn header(&self) -> serde_json::Map<String, serde_json::Value> {
        let raw = self
            .0
            .header
            .as_deref()
            .unwrap_or(self.0.key.header_json.as_bytes());
        serde_json::from_slice(raw).unwrap_or_default()
    }

    /// The object found by the manager's user-lookup hook: Flask-JWT-Extended's
    /// `get_current_user()`. `None` when no hook is configured or `U` is not its type.
    pub fn user<U: Send + Sync + 'static>(&self) -> Option<&U> {
        self.1.as_ref()?.value.downcast_ref()
    }

    /// The looked-up user as a shared pointer (see [`user`](Self::user)).
    pub fn user_arc<U: Send + Sync + 'static>(&self) -> Option<Arc<U>> {
        self.1.as_ref()?.value.clone().downcast().ok()
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("identity", &self.identity())
            .field("jti", &self.jti())
            .field("token_type", &self.0.token_type)
            .field("fresh", &self.0.fresh)
            .field("iat", &self.0.iat)
            .field("exp", &self.0.exp)
            .field("location", &self.0.location)
            .field("issuer", &self.issuer())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_until() {
        assert!(Freshness::Until(10.0).is_fresh_at(9.5));
        assert!(!Freshness::Until(10.0).is_fresh_at(10.5));
        assert!(!Freshness::NotFresh.is_fresh_at(0.0));
    }
}
