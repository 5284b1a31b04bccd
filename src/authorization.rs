//! Authorization: what a verified token may do. Requirements are set per route on any
//! guard layer ([`require_role`](crate::guard::GuardLayer::require_role),
//! [`require_scope`](crate::guard::GuardLayer::require_scope),
//! [`require`](crate::guard::GuardLayer::require) for any predicate) and checked after
//! every authentication check, revocation included: a missing, invalid or revoked token is
//! 401, a valid token without the role or scope is **403** with
//! `WWW-Authenticate: Bearer error="insufficient_scope"` (and `scope="..."` for scopes,
//! RFC 6750 §3.1), gRPC `PERMISSION_DENIED`.
//!
//! Which claim holds a token's roles and scopes is a [`ClaimPath`], set per manager
//! ([`JwtManagerBuilder::roles_claim`](crate::JwtManagerBuilder::roles_claim),
//! [`scopes_claim`](crate::JwtManagerBuilder::scopes_claim); `roles` and `scope` by default)
//! and per outside issuer (`RemoteJwksBuilder::roles_claim`): `scp` (Azure, Okta),
//! `realm_access.roles` (Keycloak), `permissions` (Auth0). The claim may be an array of
//! strings (one role or scope per item) or a string (space-separated, RFC 8693/9068).
//! Tokens are checked where they lie: the claim is located while the token is decoded, and a
//! check reads that value only, without allocating.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_jwt_auth::guard::RequestBody;
//! use tower_jwt_auth::{JwtManager, JwtRequiredLayer, TokenOptions};
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! let admin_only = ServiceBuilder::new()
//!     .layer(JwtRequiredLayer::new(&manager).require_role("admin"))
//!     .service(service_fn(|_: Request<RequestBody<Full<Bytes>>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::from("welcome")))
//!     }));
//! let call = |token: String| {
//!     let req = Request::get("/admin")
//!         .header("Authorization", format!("Bearer {token}"))
//!         .body(Full::default())
//!         .unwrap();
//!     admin_only.clone().oneshot(req)
//! };
//!
//! // Accepted: the token carries the role.
//! let admin = manager
//!     .create_access_token_with("ada", TokenOptions::new().roles(["admin"]))
//!     .unwrap();
//! assert_eq!(call(admin).await.unwrap().status(), StatusCode::OK);
//!
//! // Rejected: a valid token without it is 403 insufficient_scope.
//! let user = manager.create_access_token("bob").unwrap();
//! let res = call(user).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! assert_eq!(res.headers()["www-authenticate"], r#"Bearer error="insufficient_scope""#);
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::claims::VerifiedToken;
use crate::config::keys::Key;
use crate::config::Settings;
use crate::error::{AuthError, ErrorKind};

/// Where a claim lives in a token's payload: a top-level claim, or a member of nested
/// objects (`realm_access` → `roles`).
///
/// A `&str` or `String` names one top-level claim as it is, dots included (Auth0's
/// namespaced claims look like `https://example.com/roles`); [`nested`](Self::nested) and
/// [`dotted`](Self::dotted) name members of objects.
///
/// ```
/// use tower_jwt_auth::authorization::ClaimPath;
///
/// assert_eq!(ClaimPath::from("scp").to_string(), "scp");
/// assert_eq!(ClaimPath::nested(["realm_access", "roles"]), ClaimPath::dotted("realm_access.roles"));
/// assert_eq!(ClaimPath::from("https://example.com/roles").segments().len(), 1);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath(Arc<[Box<str>]>);

impl ClaimPath {
    /// The top-level claim `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self(Arc::new([name.into().into_boxed_str()]))
    }

    /// The member at `segments` below the top-level claim `segments[0]`, e.g.
    /// `["realm_access", "roles"]` or `["resource_access", "my-client", "roles"]`.
    pub fn nested<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(
            segments
                .into_iter()
                .map(|s| s.into().into_boxed_str())
                .collect(),
        )
    }

    /// A path written with dots: `"realm_access.roles"`.
    pub fn dotted(path: &str) -> Self {
        Self::nested(path.split('.'))
    }

    /// The names along the path, the top-level claim first.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|s| &**s)
    }

    /// The top-level claim.
    pub(crate) fn top(&self) -> &str {
        self.0.first().map_or("", |s| s)
    }

    /// The members below the top-level claim.
    pub(crate) fn below(&self) -> &[Box<str>] {
        self.0.get(1..).unwrap_or_default()
    }

    /// Refused at build time: no segment, an empty one, or a top-level claim this crate
    /// reads itself (`identity_claim` and the registered claims).
    pub(crate) fn check(&self, what: &str, identity_claim: Option<&str>) -> Result<(), String> {
        const READ_BY_THE_CRATE: [&str; 10] = [
            "jti", "type", "fresh", "iat", "nbf", "exp", "iss", "aud", "csrf", "sid",
        ];
        if self.0.is_empty() || self.0.iter().any(|s| s.is_empty()) {
            return Err(format!(
                "{what} claim path {self:?} is empty or has an empty member"
            ));
        }
        let top = self.top();
        if READ_BY_THE_CRATE.contains(&top) || identity_claim == Some(top) {
            return Err(format!(
                "{what} claim {top:?} is a claim the crate reads itself"
            ));
        }
        Ok(())
    }
}

impl From<&str> for ClaimPath {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for ClaimPath {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Which claims hold roles and scopes: a manager's, or an outside issuer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaimNames {
    pub(crate) roles: ClaimPath,
    pub(crate) scopes: ClaimPath,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            roles: ClaimPath::new("roles"),
            scopes: ClaimPath::new("scope"),
        }
    }
}

/// The claims holding roles and scopes in tokens `key` verifies: its outside issuer's, or
/// the manager's.
pub(crate) fn paths<'a>(settings: &'a Settings, key: &'a Key) -> (&'a ClaimPath, &'a ClaimPath) {
    let own = &settings.claim_names;
    match key.trust.as_deref() {
        Some(trust) => (
            trust.roles_claim.as_ref().unwrap_or(&own.roles),
            trust.scopes_claim.as_ref().unwrap_or(&own.scopes),
        ),
        None => (&own.roles, &own.scopes),
    }
}

/// Whether the JSON value `json` holds `wanted` at `below` (members of nested objects):
/// an array holding it as one of its strings, or a string holding it as one of its
/// space-separated words. Anything else, malformed JSON, or a member named twice on the
/// way (which parsers would read differently) holds nothing. Reads `json` in place: no
/// allocation unless strings carry JSON escapes.
pub(crate) fn holds(json: &[u8], below: &[Box<str>], wanted: &str) -> bool {
    let mut de = serde_json::Deserializer::from_slice(json);
    Holds { below, wanted }
        .deserialize(&mut de)
        .unwrap_or(false)
}

/// Every string `json` holds at `below`, as [`holds`] reads them (each is checked with it,
/// so that the two never disagree).
pub(crate) fn all(json: &[u8], below: &[Box<str>]) -> Vec<String> {
    use serde_json::Value;
    let mut at = serde_json::from_slice::<Value>(json).unwrap_or_default();
    for member in below {
        at = at.get_mut(&**member).map(Value::take).unwrap_or_default();
    }
    let candidates: Vec<String> = match at {
        Value::String(s) => s.split(' ').map(str::to_owned).collect(),
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut found: Vec<String> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if !candidate.is_empty() && !found.contains(&candidate) && holds(json, below, &candidate) {
            found.push(candidate);
        }
    }
    found
}

struct Holds<'a> {
    below: &'a [Box<str>],
    wanted: &'a str,
}

impl<'de> DeserializeSeed<'de> for Holds<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Holds<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim value")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(self.below.is_empty() && v.split(' ').any(|word| word == self.wanted))
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut found = false;
        if self.below.is_empty() {
            while let Some(is) = seq.next_element_seed(Item(self.wanted))? {
                found |= is;
            }
        } else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(found)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Some((member, below)) = self.below.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(false);
        };
        let mut found: Option<bool> = None;
        let mut twice = false;
        while let Some(is_member) = map.next_key_seed(Named(member))? {
            if is_member {
                let holds = map.next_value_seed(Holds {
                    below,
                    wanted: self.wanted,
                })?;
                twice |= found.replace(holds).is_some();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(!twice && found == Some(true))
    }
}

/// One item of an array: whether it is the string wanted.
struct Item<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array item")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// An object member's name: whether it is the one looked for.
struct Named<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Named<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Named<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// A predicate over a verified token, for [`GuardLayer::require`](crate::guard::GuardLayer::require).
pub(crate) type Predicate = Arc<dyn Fn(&VerifiedToken) -> bool + Send + Sync>;

/// One requirement of a route.
#[derive(Clone)]
enum Check {
    /// Every one of these roles.
    AllRoles(Box<[Box<str>]>),
    /// At least one of these roles.
    AnyRole(Box<[Box<str>]>),
    /// Every one of these scopes.
    Scopes(Box<[Box<str>]>),
    Predicate(Predicate),
}

impl Check {
    fn passes(&self, token: &VerifiedToken) -> bool {
        match self {
            Check::AllRoles(roles) => roles.iter().all(|role| token.has_role(role)),
            Check::AnyRole(roles) => roles.iter().any(|role| token.has_role(role)),
            Check::Scopes(scopes) => scopes.iter().all(|scope| token.has_scope(scope)),
            Check::Predicate(predicate) => predicate(token),
        }
    }

    /// The message of a 403 for this check, unless the route sets its own.
    fn message(&self) -> String {
        let list = |names: &[Box<str>]| names.join(", ");
        match self {
            Check::AllRoles(roles) if roles.len() == 1 => format!("Role required: {}", roles[0]),
            Check::AllRoles(roles) => format!("Roles required: {}", list(roles)),
            Check::AnyRole(roles) => format!("One of these roles required: {}", list(roles)),
            Check::Scopes(scopes) if scopes.len() == 1 => format!("Scope required: {}", scopes[0]),
            Check::Scopes(scopes) => format!("Scopes required: {}", list(scopes)),
            Check::Predicate(_) => "Not authorized".to_owned(),
        }
    }
}

/// What a route requires of a valid token beyond authentication; every check must pass.
#[derive(Clone, Default)]
pub(crate) struct Requirements {
    checks: Vec<Check>,
    /// The route's own 403 message.
    message: Option<Cow<'static, str>>,
    /// Every scope the route requires, space-separated: the challenge's `scope`.
    scope: Option<Arc<str>>,
}

impl fmt::Debug for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let checks: Vec<String> = self.checks.iter().map(Check::message).collect();
        f.debug_struct("Requirements")
            .field("checks", &checks)
            .finish_non_exhaustive()
    }
}

impl Requirements {
    /// Every one of `roles`.
    ///
    /// # Panics
    /// On an empty role name: a mistake in the route's configuration.
    pub(crate) fn all_roles(&mut self, roles: Vec<String>) {
        self.checks.push(Check::AllRoles(names("role", roles)));
    }

    /// At least one of `roles`.
    pub(crate) fn any_role(&mut self, roles: Vec<String>) {
        self.checks.push(Check::AnyRole(names("role", roles)));
    }

    /// Every one of `scopes`.
    ///
    /// # Panics
    /// On a scope RFC 6749 §3.3 does not allow (empty, or with a space, `"`, `\` or a
    /// control character): it could not be named in the challenge.
    pub(crate) fn scopes(&mut self, scopes: Vec<String>) {
        for scope in &scopes {
            assert!(
                is_scope_token(scope),
                "invalid scope {scope:?}: RFC 6749 scopes are printable ASCII without space, '\"' or '\\'"
            );
        }
        let scopes = names("scope", scopes);
        let mut all: Vec<&str> = self
            .scope
            .as_deref()
            .map(|s| s.split(' ').collect())
            .unwrap_or_default();
        for scope in scopes.iter() {
            if !all.contains(&&**scope) {
                all.push(scope);
            }
        }
        self.scope = Some(all.join(" ").into());
        self.checks.push(Check::Scopes(scopes));
    }

    pub(crate) fn predicate(&mut self, predicate: Predicate) {
        self.checks.push(Check::Predicate(predicate));
    }

    pub(crate) fn message(&mut self, message: Cow<'static, str>) {
        self.message = Some(message);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Every check, in the order they were set: the first that fails answers 403.
    pub(crate) fn check(&self, token: &VerifiedToken) -> Result<(), AuthError> {
        let Some(failed) = self.checks.iter().find(|check| !check.passes(token)) else {
            return Ok(());
        };
        let message = match &self.message {
            Some(message) => message.clone(),
            None => Cow::Owned(failed.message()),
        };
        let err = AuthError::new(ErrorKind::InsufficientScope, message);
        Err(match failed {
            Check::Scopes(_) => err.with_scope(self.scope.clone()),
            _ => err,
        })
    }
}

/// `scope` for a challenge when it is a scope RFC 6749 allows (printable ASCII without
/// space, `"` or `\`), so that it cannot break the header.
pub(crate) fn challenge_scope(scope: &str) -> Option<Arc<str>> {
    is_scope_token(scope).then(|| scope.into())
}

fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn names(what: &str, names: Vec<String>) -> Box<[Box<str>]> {
    assert!(!names.is_empty(), "no {what} given");
    names
        .into_iter()
        .map(|name| {
            assert!(!name.is_empty(), "empty {what} name");
            name.into_boxed_str()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<Box<str>> {
        ClaimPath::dotted(p).below().to_vec()
    }

    #[test]
    fn shapes() {
        assert!(holds(br#"["user","admin"]"#, &[], "admin"));
        assert!(!holds(br#"["user","administrator"]"#, &[], "admin"));
        assert!(holds(br#""orders:read orders:write""#, &[], "orders:write"));
        assert!(!holds(br#""orders:read""#, &[], "orders"));
        assert!(holds(br#"["a\u0064min"]"#, &[], "admin"));
        assert!(!holds(br#"[["admin"]]"#, &[], "admin"));
        assert!(!holds(br#"{"admin":true}"#, &[], "admin"));
        assert!(!holds(br#"true"#, &[], "admin"));
        assert!(!holds(br#"["admin""#, &[], "admin"));
        // An array item is one role: no splitting.
        assert!(!holds(br#"["user admin"]"#, &[], "admin"));
    }

    #[test]
    fn nested() {
        let below = path("realm_access.roles");
        let kc = br#"{"roles":["offline_access","admin"],"other":{"roles":["x"]}}"#;
        assert!(holds(kc, &below, "admin"));
        assert!(!holds(kc, &below, "x"));
        // A member named twice holds nothing, whatever either says.
        assert!(!holds(
            br#"{"roles":["admin"],"roles":[]}"#,
            &below,
            "admin"
        ));
        assert!(!holds(
            br#"{"roles":[],"roles":["admin"]}"#,
            &below,
            "admin"
        ));
        assert!(!holds(br#"["admin"]"#, &below, "admin"));
        let deep = path("resource_access.api.roles");
        assert!(holds(
            br#"{"api":{"roles":["w"]},"web":{"roles":["r"]}}"#,
            &deep,
            "w"
        ));
        assert!(!holds(
            br#"{"api":{"roles":["w"]},"web":{"roles":["r"]}}"#,
            &deep,
            "r"
        ));
    }

    #[test]
    fn lists() {
        assert_eq!(all(br#""a  b""#, &[]), ["a", "b"]);
        assert_eq!(all(br#"["a",1,"b"]"#, &[]), ["a", "b"]);
        assert_eq!(all(br#"{"roles":["r"]}"#, &path("x.roles")), ["r"]);
        assert!(all(br#"{"roles":1}"#, &path("x.roles")).is_empty());
    }

    #[test]
    #[should_panic(expected = "invalid scope")]
    fn scope_names_fit_the_challenge() {
        Requirements::default().scopes(vec!["a\"b".into()]);
    }

    #[test]
    fn claim_paths_are_checked() {
        assert!(ClaimPath::new("roles").check("roles", Some("sub")).is_ok());
        assert!(ClaimPath::new("sub").check("roles", Some("sub")).is_err());
        assert!(ClaimPath::new("aud").check("scopes", None).is_err());
        assert!(ClaimPath::dotted("a..b").check("roles", None).is_err());
        assert!(ClaimPath::nested(Vec::<String>::new())
            .check("roles", None)
            .is_err());
    }
}
