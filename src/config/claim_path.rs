//! Which claims hold a token's roles and scopes: [`ClaimPath`] (public as
//! `authorization::ClaimPath`), a manager's or an outside issuer's names, checked at build
//! time.

use std::fmt;
use std::sync::Arc;

/// The claims the verification reads by their own names (the parse matches them before the
/// identity claim, which therefore can be none of them: refused at build time, as the roles
/// and scopes claims can be none of these, nor [`SESSION_CLAIM`]).
pub(crate) const REGISTERED: [&str; 9] = [
    "exp", "iat", "nbf", "jti", "type", "fresh", "iss", "aud", "csrf",
];

/// The claim naming a token's refresh-rotation session (`claims::SESSION_CLAIM`).
pub(crate) const SESSION_CLAIM: &str = "sid";

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
    /// reads itself (`identity_claim` and the registered claims). The error says why, naming
    /// `what` the path is for ("roles", "scopes"); the caller names the setting.
    pub(crate) fn check(&self, what: &str, identity_claim: Option<&str>) -> Result<(), String> {
        if self.0.is_empty() || self.0.iter().any(|s| s.is_empty()) {
            return Err(format!(
                "{what} claim path {self:?} is empty or has an empty member"
            ));
        }
        let top = self.top();
        let read_by_the_crate =
            REGISTERED.contains(&top) || top == SESSION_CLAIM || identity_claim == Some(top);
        if read_by_the_crate {
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

impl ClaimNames {
    /// Both paths checked (see [`ClaimPath::check`]).
    pub(crate) fn check(&self, identity_claim: Option<&str>) -> Result<(), crate::BuildError> {
        let roles = self.roles.check("roles", identity_claim);
        roles.map_err(|reason| crate::BuildError::setting("roles_claim", reason))?;
        let scopes = self.scopes.check("scopes", identity_claim);
        scopes.map_err(|reason| crate::BuildError::setting("scopes_claim", reason))
    }
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            roles: ClaimPath::new("roles"),
            scopes: ClaimPath::new("scope"),
        }
    }
}

/// A scope RFC 6749 §3.3 allows: printable ASCII without space, `"` or `\`.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Writes `roles` (an array) and `scopes` (one space-separated string, RFC 9068) where
/// `names` says, making the objects on the way; refuses what no check could match (an empty
/// role; an empty scope, or one with a space, `"` or `\`), naming it.
pub(crate) fn write_roles_and_scopes(
    names: &ClaimNames,
    claims: &mut serde_json::Map<String, serde_json::Value>,
    roles: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
) -> Result<(), String> {
    if let Some(roles) = roles {
        if let Some(empty) = roles.iter().find(|role| role.is_empty()) {
            return Err(empty.clone());
        }
        set_path(claims, &names.roles, roles.into());
    }
    if let Some(scopes) = scopes {
        if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(bad.clone());
        }
        set_path(claims, &names.scopes, scopes.join(" ").into());
    }
    Ok(())
}

/// Sets `value` at `path` in `claims`, making the objects on the way.
fn set_path(
    claims: &mut serde_json::Map<String, serde_json::Value>,
    path: &ClaimPath,
    value: serde_json::Value,
) {
    use serde_json::{Map, Value};
    let mut segments = path.segments().peekable();
    let mut at = claims;
    while let Some(name) = segments.next() {
        if segments.peek().is_none() {
            at.insert(name.to_owned(), value);
            return;
        }
        let next = at
            .entry(name.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(next) = next else { return };
        at = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
