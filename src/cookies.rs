//! Setting and unsetting the token cookies: Flask-JWT-Extended's `set_access_cookies`,
//! `set_refresh_cookies`, `unset_access_cookies`, `unset_refresh_cookies` and
//! `unset_jwt_cookies`, with safer defaults.
//!
//! A token's cookie is `HttpOnly` (scripts never see the token); its CSRF cookie is not, so
//! that the page's script can copy it into the `X-CSRF-TOKEN` header. `Path`, `Domain`,
//! `Secure` and `SameSite` come from the manager's settings: `Secure` and `SameSite=Lax` by
//! default (Flask-JWT-Extended writes neither by default). Cookies are session cookies by
//! default; with [`session_cookies(false)`](crate::manager::JwtManagerBuilder::session_cookies) their
//! `Max-Age` is the token's remaining lifetime (not Flask-JWT-Extended's fixed year).
//!
//! On a site whose sibling subdomains are not all trusted (`app.example.com` next to
//! `blog.example.com`), use [`host_prefixed_cookies`](crate::manager::JwtManagerBuilder::host_prefixed_cookies):
//! `__Host-` cookies can only be set by the host itself over HTTPS, so a sibling cannot plant
//! a token or CSRF cookie of its own for it (cookie tossing). Settings browsers would drop
//! cookies for (`SameSite=None` without `Secure`, a `__Host-` cookie with a `Domain`, ...)
//! are refused when the manager is built.
//!
//! # Example
//!
//! ```
//! use http::{header::SET_COOKIE, HeaderMap};
//! use tower_jwt_auth::JwtManager;
//! use tower_jwt_auth::manager::TokenLocation;
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .token_locations([TokenLocation::Cookies])
//!     .build()
//!     .unwrap();
//!
//! let mut headers = HeaderMap::new();
//! let token = manager.create_access_token("alice").unwrap();
//! manager.cookies().set_access(&mut headers, &token).unwrap();
//! let set: Vec<_> = headers.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
//! assert!(set[0].starts_with(&format!("access_token_cookie={token}; HttpOnly;")));
//! assert!(set[1].starts_with("csrf_access_token="));
//! assert!(!set[1].contains("HttpOnly"));
//!
//! // Logging out: all four cookies, expired.
//! let mut headers = HeaderMap::new();
//! manager.cookies().unset_all(&mut headers);
//! assert_eq!(headers.get_all(SET_COOKIE).iter().count(), 4);
//!
//! // Rejected: only a valid token of this manager can be set.
//! assert!(manager.cookies().set_access(&mut headers, "not-a-token").is_err());
//! ```

use std::time::Duration;

use cookie::Cookie;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::config::locations::{host_prefixed, valid_domain, CookieNames, CookieSettings};
use crate::config::BuildError;
use crate::error::AuthError;
use crate::manager::JwtManager;

pub use crate::config::locations::SameSite;

/// The longest `Max-Age` browsers honour (400 days), given to a token that never expires.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// Sets and unsets a manager's token cookies; from [`JwtManager::cookies`].
#[derive(Clone, Copy, Debug)]
pub struct Cookies<'a> {
    manager: &'a JwtManager,
    /// This call's `Domain`, overriding the manager's.
    domain: Option<&'a str>,
}

impl JwtManager {
    /// Sets and unsets this manager's token cookies. See the [`cookies`](crate::cookies)
    /// module.
    pub fn cookies(&self) -> Cookies<'_> {
        Cookies {
            manager: self,
            domain: None,
        }
    }
}

impl<'a> Cookies<'a> {
    /// Uses this `Domain` instead of the manager's for the cookies set or unset through the
    /// returned value (Flask-JWT-Extended's `domain=` argument). Refused unless it is a host
    /// name, and for `__Host-` cookies (browsers drop those with a `Domain`).
    pub fn domain(self, domain: &'a str) -> Result<Self, BuildError> {
        if !valid_domain(domain) {
            return Err(BuildError::setting(
                "domain",
                format!("invalid cookie domain {domain:?}"),
            ));
        }
        let s = self.settings();
        if let Some(name) = [
            &s.access.jwt,
            &s.access.csrf,
            &s.refresh.jwt,
            &s.refresh.csrf,
        ]
        .into_iter()
        .find(|name| host_prefixed(name))
        {
            return Err(BuildError::setting(
                "domain",
                format!(
                    "cookie {name:?} cannot have a Domain: browsers drop __Host- cookies with one"
                ),
            ));
        }
        Ok(Self {
            domain: Some(domain),
            ..self
        })
    }

    fn settings(&self) -> &CookieSettings {
        &self.manager.core().settings.cookies
    }

    /// Appends `Set-Cookie` headers for an access token: its cookie and, when CSRF values
    /// go in cookies, its CSRF cookie. The token must verify with this manager (its `csrf`
    /// claim and expiry are read from it).
    pub fn set_access(&self, headers: &mut HeaderMap, token: &str) -> Result<(), AuthError> {
        self.set(headers, token, false)
    }

    /// Appends `Set-Cookie` headers for a refresh token: its cookie and its CSRF cookie.
    pub fn set_refresh(&self, headers: &mut HeaderMap, token: &str) -> Result<(), AuthError> {
        self.set(headers, token, true)
    }

    /// The cookies [`set_access`](Self::set_access) writes, for a cookie jar such as
    /// `axum-extra`'s.
    pub fn access(&self, token: &str) -> Result<Vec<Cookie<'static>>, AuthError> {
        self.build(token, false)
    }

    /// The cookies [`set_refresh`](Self::set_refresh) writes.
    pub fn refresh(&self, token: &str) -> Result<Vec<Cookie<'static>>, AuthError> {
        self.build(token, true)
    }

    /// Appends `Set-Cookie` headers expiring the access token's cookie and CSRF cookie.
    pub fn unset_access(&self, headers: &mut HeaderMap) {
        self.unset(headers, false)
    }

    /// Appends `Set-Cookie` headers expiring the refresh token's cookie and CSRF cookie.
    pub fn unset_refresh(&self, headers: &mut HeaderMap) {
        self.unset(headers, true)
    }

    /// Appends `Set-Cookie` headers expiring all four cookies (logging out).
    pub fn unset_all(&self, headers: &mut HeaderMap) {
        self.unset_access(headers);
        self.unset_refresh(headers);
    }

    /// Whether these headers already set (or unset) the access token's cookie.
    pub(crate) fn sets_access(&self, headers: &HeaderMap) -> bool {
        let name = &self.settings().access.jwt;
        headers.get_all(SET_COOKIE).iter().any(|value| {
            value.to_str().ok().is_some_and(|v| {
                v.split_once('=')
                    .is_some_and(|(n, _)| n.trim() == name.as_str())
            })
        })
    }

    fn set(&self, headers: &mut HeaderMap, token: &str, refresh: bool) -> Result<(), AuthError> {
        for cookie in self.build(token, refresh)? {
            append(headers, &cookie);
        }
        Ok(())
    }

    fn build(&self, token: &str, refresh: bool) -> Result<Vec<Cookie<'static>>, AuthError> {
        let verified = self.manager.decode_token(token)?;
        let settings = self.settings();
        let names = settings.names(refresh);
        let max_age = (!settings.session).then(|| {
            verified.expires_at().map_or(LONGEST_MAX_AGE, |exp| {
                let now = self.manager.core().settings.clock.now_secs();
                Duration::from_secs_f64((exp - now).max(0.0)).min(LONGEST_MAX_AGE)
            })
        });
        let mut cookies = vec![self.cookie(names, true, token.to_owned(), max_age)];
        if settings.csrf_protect && settings.csrf_in_cookies {
            if let Some(csrf) = verified.csrf() {
                cookies.push(self.cookie(names, false, csrf.to_owned(), max_age));
            }
        }
        Ok(cookies)
    }

    fn unset(&self, headers: &mut HeaderMap, refresh: bool) {
        let names = self.settings().names(refresh);
        for jwt in [true, false] {
            let mut cookie = self.cookie(names, jwt, String::new(), None);
            cookie.make_removal();
            append(headers, &cookie);
        }
    }

    /// A token cookie (`jwt`) or a CSRF cookie, with the configured attributes.
    fn cookie(
        &self,
        names: &CookieNames,
        jwt: bool,
        value: String,
        max_age: Option<Duration>,
    ) -> Cookie<'static> {
        let settings = self.settings();
        let (name, path) = if jwt {
            (&names.jwt, &names.jwt_path)
        } else {
            (&names.csrf, &names.csrf_path)
        };
        let mut cookie = Cookie::build((name.clone(), value))
            .path(path.clone())
            .secure(settings.secure)
            .http_only(jwt);
        if let Some(same_site) = settings.same_site {
            cookie = cookie.same_site(same_site.into());
        }
        if let Some(domain) = self.domain.or(settings.domain.as_deref()) {
            cookie = cookie.domain(domain.to_owned());
        }
        if let Some(max_age) = max_age {
            cookie = cookie.max_age(cookie::time::Duration::seconds(max_age.as_secs() as i64));
        }
        cookie.build()
    }
}

fn append(headers: &mut HeaderMap, cookie: &Cookie<'_>) {
    // Names, paths and domains were checked when the manager was built, and tokens and
    // CSRF values are ASCII without separators: the value is always a valid header.
    if let Ok(value) = HeaderValue::try_from(cookie.to_string()) {
        headers.append(SET_COOKIE, value);
    }
}
