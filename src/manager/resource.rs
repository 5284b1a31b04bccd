//! The protected resource a manager's guards stand for (RFC 9728): its identifier, checked
//! when the manager is built, and the URL of its metadata document, which every 401
//! challenge names (`resource_metadata="<url>"`); and which claims of a token name its roles
//! and scopes there.

use std::sync::Arc;

use http::Uri;

use super::JwtManagerBuilder;
use crate::config::BuildError;
use crate::respond::Challenges;

/// The path RFC 9728 §3 registers for protected resource metadata.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A protected resource: its identifier as configured and its metadata document's URL.
#[derive(Clone, Debug)]
pub(crate) struct Resource {
    pub(crate) id: Arc<str>,
    pub(crate) metadata_url: Arc<str>,
}

impl Resource {
    /// Checks `id` (an `https` URL, or `http` on a loopback host, with no fragment and no
    /// character that cannot stand in a quoted challenge parameter) and derives its metadata
    /// URL: the well-known path inserted between the host and the path (RFC 9728 §3.1), so
    /// `https://api.example.com` has `https://api.example.com/.well-known/oauth-protected-resource`.
    pub(crate) fn new(id: &str) -> Result<Self, BuildError> {
        let refuse = |why: &str| {
            Err(BuildError::setting(
                "protected_resource",
                format!("protected resource {id:?} {why}"),
            ))
        };
        if id.contains('#') {
            return refuse("has a fragment (RFC 9728 §1.2)");
        }
        if id
            .bytes()
            .any(|b| b == b'"' || b == b'\\' || !b.is_ascii_graphic())
        {
            return refuse("holds a quote, a backslash, a space or a non-ASCII character");
        }
        let Ok(uri) = Uri::try_from(id) else {
            return refuse("is not a URL");
        };
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return refuse("is not an absolute URL");
        };
        if authority.as_str().contains('@') {
            return refuse("has user information");
        }
        let loopback = matches!(authority.host(), "localhost" | "[::1]")
            || authority
                .host()
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback());
        match scheme {
            "https" => {}
            "http" if loopback => {}
            _ => return refuse("is not an https URL (http only on a loopback host)"),
        }
        let path = uri.path().trim_end_matches('/');
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        Ok(Self {
            id: id.into(),
            metadata_url: format!("{scheme}://{authority}{WELL_KNOWN}{path}{query}").into(),
        })
    }
}

impl JwtManagerBuilder {
    /// The claim that holds a token's roles (default `roles`): an array of strings, or one
    /// string (one role); e.g. `ClaimPath::dotted("realm_access.roles")` for Keycloak.
    /// What [`GuardLayer::require_role`](crate::guard::GuardLayer::require_role) and
    /// [`TokenOptions::roles`](crate::issue::TokenOptions::roles) use, for the manager's own
    /// tokens; an outside issuer's roles are read only where its
    /// `RemoteJwksBuilder::roles_claim` says. See [`authorization`](crate::authorization).
    pub fn roles_claim(mut self, path: impl Into<crate::config::ClaimPath>) -> Self {
        self.claim_names.roles = path.into();
        self
    }

    /// The claim that holds a token's scopes (default `scope`, RFC 8693/9068's
    /// space-separated string; `scp` holds an array at Azure and Okta, `permissions` at
    /// Auth0). What [`GuardLayer::require_scope`](crate::guard::GuardLayer::require_scope)
    /// and [`TokenOptions::scopes`](crate::issue::TokenOptions::scopes) use.
    pub fn scopes_claim(mut self, path: impl Into<crate::config::ClaimPath>) -> Self {
        self.claim_names.scopes = path.into();
        self
    }

    /// Names the protected resource the guards stand for (RFC 9728): an `https` URL (`http`
    /// only on a loopback host) without a fragment, e.g. `https://api.example.com`. Every
    /// 401 challenge then carries `resource_metadata="<its metadata URL>"` (what OAuth and
    /// MCP clients look for), and [`ProtectedResourceService`](crate::metadata::ProtectedResourceService)
    /// publishes the document there.
    pub fn protected_resource(mut self, url: impl Into<String>) -> Self {
        self.resource = Some(url.into());
        self
    }
}

/// The resource named with `id`, checked, and the challenges naming its metadata URL (the
/// plain ones without a resource): built once, with the manager.
pub(super) fn challenges(id: Option<&str>) -> Result<(Option<Resource>, Challenges), BuildError> {
    let resource = id.map(Resource::new).transpose()?;
    let url = resource.as_ref().map(|r| &*r.metadata_url);
    let challenges = Challenges::new(url).ok_or_else(|| {
        BuildError::setting(
            "protected_resource",
            format!("resource metadata URL {url:?} is not a header value"),
        )
    })?;
    Ok((resource, challenges))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> String {
        Resource::new(id).unwrap().metadata_url.to_string()
    }

    #[test]
    fn metadata_url_inserts_the_well_known_path_after_the_host() {
        assert_eq!(
            meta("https://api.example.com"),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            meta("https://api.example.com/"),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            meta("https://api.example.com:8443/v1/"),
            "https://api.example.com:8443/.well-known/oauth-protected-resource/v1"
        );
        assert_eq!(
            meta("http://127.0.0.1:3000"),
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            Resource::new("http://localhost").unwrap().id.as_ref(),
            "http://localhost"
        );
        assert!(Resource::new("http://[::1]:80/mcp").is_ok());
    }

    #[test]
    fn refuses_what_rfc_9728_forbids() {
        for bad in [
            "https://api.example.com/#top",
            "http://api.example.com",
            "ftp://api.example.com",
            "/relative",
            "api.example.com",
            "https://user@api.example.com",
            "https://api.example.com/\"x",
            "https://api.example.com/ x",
            "",
        ] {
            assert!(Resource::new(bad).is_err(), "{bad}");
        }
    }
}
