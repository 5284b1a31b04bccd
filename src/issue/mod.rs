//! Issuing tokens: Flask-JWT-Extended's claim layout (`fresh`, `iat`, `jti`, `type`, the
//! identity, `nbf`, `exp`, and `aud`/`iss` when configured; extra claims last and overriding
//! in place), signed with the key set's signing key. Options per token: freshness, lifetime,
//! extra claims and headers.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tower_jwt_auth::JwtManager;
//! use tower_jwt_auth::issue::{IssueError, TokenOptions};
//! use tower_jwt_auth::manager::Lifetime;
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//!
//! // Issued: fresh for five minutes, with a role.
//! let token = manager
//!     .create_access_token_with(
//!         "ada",
//!         TokenOptions::new().fresh(Duration::from_secs(300)).claim("role", "admin"),
//!     )
//!     .unwrap();
//! assert_eq!(manager.decode_token(&token).unwrap().claims_json()["role"], "admin");
//!
//! // Refused: a token this manager would not accept (it requires `exp`).
//! let never = manager.create_access_token_with("ada", TokenOptions::new().lifetime(Lifetime::Never));
//! assert!(matches!(never, Err(IssueError::ExpiryRequired)));
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::clock;
use crate::config::{keys, Lifetime, Settings};

mod error;
pub use error::IssueError;

/// Claims or header fields added to every token of an identity.
pub(crate) type Loader = Arc<dyn Fn(&str) -> Map<String, Value> + Send + Sync>;

/// Freshness of a token being issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fresh {
    /// `"fresh": false`.
    #[default]
    No,
    /// `"fresh": true`.
    Yes,
    /// `"fresh": <epoch>`: fresh for this long after issue.
    For(Duration),
}

impl From<bool> for Fresh {
    fn from(fresh: bool) -> Self {
        if fresh {
            Fresh::Yes
        } else {
            Fresh::No
        }
    }
}

impl From<Duration> for Fresh {
    fn from(d: Duration) -> Self {
        Fresh::For(d)
    }
}

/// Options for one token being issued.
#[derive(Clone, Debug, Default)]
#[must_use = "options do nothing until a token is created with them"]
pub struct TokenOptions {
    fresh: Fresh,
    lifetime: Option<Lifetime>,
    claims: Map<String, Value>,
    headers: Map<String, Value>,
    /// Standard claims left out (the test kit's tokens without `jti`, ...).
    omit: Vec<String>,
    /// Reserved claims set by the crate itself (a session's `sid`, the test kit's forged
    /// claims): allowed in `claims`.
    reserved: Vec<String>,
    /// Roles and scopes, written where the manager's claim names say.
    roles: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
}

/// The claims only the manager sets: an application's value for one of them would change
/// the kind of token minted (`type`), its freshness, its id (revocation), its session or
/// its CSRF value. [`TokenOptions::claim`] and the additional-claims loader refuse them.
pub const RESERVED_CLAIMS: [&str; 5] = ["type", "fresh", "jti", "sid", "csrf"];

impl TokenOptions {
    /// Default options: not fresh, the manager's lifetime, no extra claims or headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the token fresh (`true`), not fresh (`false`), or fresh for a [`Duration`].
    pub fn fresh(mut self, fresh: impl Into<Fresh>) -> Self {
        self.fresh = fresh.into();
        self
    }

    /// Overrides the manager's lifetime for this token.
    pub fn lifetime(mut self, lifetime: impl Into<Lifetime>) -> Self {
        self.lifetime = Some(lifetime.into());
        self
    }

    /// Adds a claim; it overrides the claims loader's, and (as in Flask-JWT-Extended) the
    /// standard `iat`, `nbf`, `exp`, `iss`, `aud` and identity claims.
    ///
    /// **The [reserved claims](RESERVED_CLAIMS) `type`, `fresh`, `jti`, `sid` and `csrf`
    /// cannot be set**: issuing fails with [`IssueError::ReservedClaim`]. (`claim("type",
    /// "refresh")` on the access-token path would otherwise mint a refresh token.) Use
    /// [`fresh`](Self::fresh) for freshness and the refresh-token methods for refresh
    /// tokens.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// The token's roles, written as an array of strings into the manager's
    /// [`roles_claim`](crate::manager::JwtManagerBuilder::roles_claim) (`roles` by default; nested
    /// objects are created for a nested path), over any value set there otherwise. An empty
    /// role fails with [`IssueError::InvalidRoleOrScope`].
    ///
    /// These are this token's only: a token issued later for the identity (a refresh, an
    /// implicit refresh, the auth service's login) carries what the
    /// [`additional_claims`](crate::manager::JwtManagerBuilder::additional_claims) loader gives. Roles
    /// that must last belong there.
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = Some(roles.into_iter().map(Into::into).collect());
        self
    }

    /// The token's scopes, written as one space-separated string (RFC 9068) into the
    /// manager's [`scopes_claim`](crate::manager::JwtManagerBuilder::scopes_claim) (`scope` by
    /// default), over any value set there otherwise. A scope RFC 6749 does not allow
    /// (empty, with a space, `"` or `\`) fails with [`IssueError::InvalidRoleOrScope`]. As
    /// with [`roles`](Self::roles), later tokens carry the loader's claims, not these.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Adds several claims at once (the same rules as [`claim`](Self::claim)).
    pub fn claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims.extend(claims);
        self
    }

    /// Sets a reserved claim: for the crate itself (a session's `sid`, the `jti` of a
    /// session's current token, the test kit's forged tokens).
    pub(crate) fn reserved_claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self.reserved.push(name.to_owned());
        self
    }

    /// Whether a claim was set explicitly (it then overrides the standard one).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn sets_claim(&self, name: &str) -> bool {
        self.claims.contains_key(name)
    }

    /// Leaves a claim (`jti`, `csrf`, ...) out of the token: for tokens a manager should
    /// refuse, in tests.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn omit(mut self, claim: impl Into<String>) -> Self {
        self.omit.push(claim.into());
        self
    }

    /// Adds a JOSE header field (`alg` cannot be overridden).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
}

/// Issues tokens with a manager's settings and loaders.
pub(crate) struct Issuer {
    pub(crate) settings: Arc<Settings>,
    /// Identities whose tokens are dated no earlier than their latest revoke-all cut-off.
    pub(crate) cut_offs: CutOffs,
    pub(crate) claims_loader: Option<Loader>,
    pub(crate) headers_loader: Option<Loader>,
}

/// The latest revoke-all cut-off of each identity, for as long as it lies ahead of the
/// clock: a token issued after `revoke_all` returns carries its cut-off (or later) as its
/// issue time in its `jti`, so it is never taken for one issued before it, and nothing waits
/// for the clock to get there. Its `iat` stays the clock's second, so it is never "not yet
/// valid". One table per manager (and its clones), on its clock: another manager, here or on
/// another instance, dates by its own clock, so a token it issues within the millisecond of
/// the cut-off counts as issued before it. Per identity, so that revoking many identities in
/// a row moves no one else's dates; entries last about a millisecond.
#[derive(Default)]
pub(crate) struct CutOffs {
    /// Whether any entry may be ahead of the clock: issuing looks no further when not.
    any: std::sync::atomic::AtomicBool,
    ahead: std::sync::Mutex<std::collections::HashMap<Box<str>, SystemTime>>,
}

impl CutOffs {
    /// When a token of `identity` issued now is dated: the clock, or its cut-off when that
    /// is later.
    pub(crate) fn date(&self, identity: &str, now: SystemTime) -> SystemTime {
        if !self.any.load(std::sync::atomic::Ordering::Acquire) {
            return now;
        }
        let Ok(mut ahead) = self.ahead.lock() else {
            return now;
        };
        self.prune(&mut ahead, now);
        ahead.get(identity).map_or(now, |&cut_off| cut_off.max(now))
    }

    /// Forgets the cut-offs the clock has passed.
    fn prune(&self, ahead: &mut std::collections::HashMap<Box<str>, SystemTime>, now: SystemTime) {
        ahead.retain(|_, cut_off| *cut_off > now);
        self.any
            .store(!ahead.is_empty(), std::sync::atomic::Ordering::Release);
    }

    /// A new cut-off for `identity`: the millisecond after every token of it issued so far
    /// (those dated at an earlier cut-off included).
    pub(crate) fn cut(&self, identity: &str, now: SystemTime) -> SystemTime {
        let Ok(mut ahead) = self.ahead.lock() else {
            return clock::to_millis(now) + Duration::from_millis(1);
        };
        self.prune(&mut ahead, now);
        let latest = ahead.get(identity).map_or(now, |&cut_off| cut_off.max(now));
        let cut_off = clock::to_millis(latest) + Duration::from_millis(1);
        ahead.insert(identity.into(), cut_off);
        self.any.store(true, std::sync::atomic::Ordering::Release);
        cut_off
    }
}

impl Issuer {
    /// Issues a token for `identity`: Flask-JWT-Extended's claim layout, signed with the
    /// key set's signing key.
    pub(crate) fn issue(
        &self,
        identity: &str,
        refresh: bool,
        options: TokenOptions,
    ) -> Result<String, IssueError> {
        let s = &*self.settings;
        // Flask-JWT-Extended's layout: `iat`, `nbf` and `exp` in whole seconds. The `jti` is a
        // UUIDv7 carrying the issue time to the millisecond: revoke-all cut-offs compare with
        // it, so a token issued right after one works even within the same second.
        if identity.contains(crate::config::keys::ISSUER_SEPARATOR) {
            return Err(IssueError::InvalidIdentity);
        }
        let now = s.clock.now();
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        // The issue time the `jti` carries: now, or the identity's latest cut-off when that
        // lies ahead (by a millisecond at most; see `CutOffs`).
        let issued = self.cut_offs.date(identity, now);
        let since_epoch = issued.duration_since(UNIX_EPOCH).unwrap_or_default();
        let lifetime = options.lifetime.unwrap_or(if refresh {
            s.refresh_lifetime
        } else {
            s.access_lifetime
        });
        let exp = match lifetime {
            Lifetime::After(d) if d.subsec_nanos() != 0 || d.is_zero() => {
                return Err(IssueError::InvalidLifetime(d))
            }
            Lifetime::After(d) if d.as_secs_f64() > s.max_lifetime => {
                return Err(IssueError::LifetimeTooLong(d))
            }
            Lifetime::After(d) => Some(
                iat.checked_add(d.as_secs())
                    .filter(|&exp| exp as f64 <= clock::MAX_NUMERIC_DATE)
                    .ok_or(IssueError::LifetimeTooLong(d))?,
            ),
            Lifetime::Never if s.may_not_expire(refresh) => None,
            Lifetime::Never => return Err(IssueError::ExpiryRequired),
        };
        let fresh = match options.fresh {
            Fresh::No => Value::Bool(false),
            Fresh::Yes => Value::Bool(true),
            // Fresh for longer than any date can say: simply fresh.
            Fresh::For(d) => now
                .checked_add(d)
                .map(clock::numeric_date)
                .filter(|&until| until <= clock::MAX_NUMERIC_DATE)
                .map_or(Value::Bool(true), Value::from),
        };
        let mut extra = self
            .claims_loader
            .as_ref()
            .map(|l| l(identity))
            .unwrap_or_default();
        let given = extra.keys().chain(
            options
                .claims
                .keys()
                .filter(|name| !options.reserved.contains(name)),
        );
        if let Some(name) = given
            .into_iter()
            .find(|name| RESERVED_CLAIMS.contains(&name.as_str()))
        {
            return Err(IssueError::ReservedClaim(name.clone()));
        }
        extra.extend(options.claims);
        crate::config::write_roles_and_scopes(
            &self.settings.claim_names,
            &mut extra,
            options.roles,
            options.scopes,
        )
        .map_err(IssueError::InvalidRoleOrScope)?;
        let jti = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            since_epoch.as_secs(),
            since_epoch.subsec_nanos(),
        ))
        .to_string();
        let claims = IssuedClaims {
            standard: [
                ("fresh", Some(fresh)),
                ("iat", Some(iat.into())),
                ("jti", Some(jti.into())),
                (
                    "type",
                    Some(if refresh { "refresh" } else { "access" }.into()),
                ),
                (&s.identity_claim, Some(identity.into())),
                ("nbf", s.encode_nbf.then(|| iat.into())),
                (
                    "csrf",
                    s.issues_csrf()
                        .then(|| uuid::Uuid::new_v4().to_string().into()),
                ),
                ("aud", s.encode_audience.clone()),
                ("iss", s.encode_issuer.clone().map(Value::from)),
                ("exp", exp.map(Value::from)),
            ],
            extra: &extra,
            omit: &options.omit,
        };

        let key = s.keys.signing().ok_or(IssueError::VerifyOnly)?;
        let encoding = key.encoding.as_ref().ok_or(IssueError::VerifyOnly)?;
        let mut extra_headers = self
            .headers_loader
            .as_ref()
            .map(|l| l(identity))
            .unwrap_or_default();
        extra_headers.extend(options.headers);
        let b64 = base64_simd::URL_SAFE_NO_PAD;
        let mut token = if extra_headers.is_empty() {
            key.header_b64.clone()
        } else {
            b64.encode_to_string(keys::header(
                &key.alg_name,
                key.kid.as_deref(),
                &extra_headers,
            ))
        };
        let payload = serde_json::to_vec(&claims).map_err(IssueError::signing)?;
        token.push('.');
        b64.encode_append(payload, &mut token);
        let signature = jsonwebtoken::crypto::sign(token.as_bytes(), encoding, key.algorithm)
            .map_err(IssueError::signing)?;
        token.push('.');
        token.push_str(&signature);
        Ok(token)
    }
}

/// Serializes claims in Flask-JWT-Extended's order; extra claims override in place.
struct IssuedClaims<'a, const N: usize> {
    standard: [(&'a str, Option<Value>); N],
    extra: &'a Map<String, Value>,
    omit: &'a [String],
}

impl<const N: usize> Serialize for IssuedClaims<'_, N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in &self.standard {
            if self.omit.iter().any(|omitted| omitted == name) {
                continue;
            }
            match (self.extra.get(*name), value) {
                (Some(overridden), _) => map.serialize_entry(name, overridden)?,
                (None, Some(value)) => map.serialize_entry(name, value)?,
                (None, None) => {}
            }
        }
        for (name, value) in self.extra {
            let standard = self.standard.iter().any(|(std, _)| std == name);
            if !standard && !self.omit.iter().any(|omitted| omitted == name) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::JwtManager;

    fn manager() -> JwtManager {
        JwtManager::builder()
            .secret("issue-unit-test-secret-0123456789abcdefgh")
            .token_locations([crate::manager::TokenLocation::Cookies])
            .build()
            .unwrap()
    }

    /// An application's claim never changes what kind of token is minted, its freshness,
    /// its id, its session or its CSRF value: refused, whatever the value.
    #[test]
    fn reserved_claims_are_refused() {
        let m = manager();
        for name in ["type", "fresh", "jti", "sid", "csrf"] {
            for value in [json!("refresh"), json!(true), json!(null)] {
                let options = || TokenOptions::new().claim(name, value.clone());
                let access = m.create_access_token_with("ada", options());
                let refresh = m.create_refresh_token_with("ada", options());
                for issued in [access, refresh] {
                    let err = issued.expect_err(name);
                    assert!(err.to_string().contains(name), "{name}: {err}");
                }
            }
            let claims = serde_json::Map::from_iter([(name.to_owned(), json!("x"))]);
            assert!(m
                .create_access_token_with("ada", TokenOptions::new().claims(claims))
                .is_err());
        }
        // `claim("type", "refresh")` on the access path minted a refresh token.
        let token = m.create_access_token_with("ada", TokenOptions::new().claim("type", "refresh"));
        assert!(token.is_err());
    }

    /// The additional-claims loader follows the same rule.
    #[test]
    fn reserved_claims_from_the_loader_are_refused() {
        let m = JwtManager::builder()
            .secret("issue-unit-test-secret-0123456789abcdefgh")
            .additional_claims(|_| serde_json::Map::from_iter([("fresh".into(), json!(true))]))
            .build()
            .unwrap();
        let err = m.create_access_token("ada").unwrap_err();
        assert!(err.to_string().contains("fresh"), "{err}");
    }

    /// As in Flask-JWT-Extended, the other standard claims may be overridden.
    #[test]
    fn other_standard_claims_may_be_overridden() {
        let m = manager();
        let token = m
            .create_access_token_with(
                "ada",
                TokenOptions::new()
                    .claim("iss", "me")
                    .claim("role", "admin"),
            )
            .unwrap();
        let verified = m.decode_token(&token).unwrap();
        assert_eq!(verified.claims_json()["iss"], "me");
        assert_eq!(verified.claims_json()["role"], "admin");
    }

    #[test]
    fn claims_in_flask_order_with_overrides_in_place() {
        let m = crate::JwtManager::builder()
            .secret("builder-unit-test-secret-0123456789abcdef")
            .build()
            .unwrap();
        let token = m
            .create_access_token_with(
                "u",
                crate::issue::TokenOptions::new()
                    .claim("nbf", 7)
                    .claim("z", 1),
            )
            .unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let json = String::from_utf8(base64_simd::URL_SAFE_NO_PAD.decode_to_vec(payload).unwrap())
            .unwrap();
        let keys: Vec<&str> = json
            .split(['{', ',', '}'])
            .filter_map(|kv| kv.split(':').next())
            .filter(|k| !k.is_empty())
            .collect();
        assert_eq!(
            keys,
            [
                r#""fresh""#,
                r#""iat""#,
                r#""jti""#,
                r#""type""#,
                r#""sub""#,
                r#""nbf""#,
                r#""exp""#,
                r#""z""#
            ]
        );
        assert!(json.contains(r#""nbf":7"#));
        assert_eq!(
            token.split('.').next().unwrap(),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        );
    }
}
