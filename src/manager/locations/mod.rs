//! The builder's settings for where tokens travel besides the header: cookies and CSRF double
//! submit, the query string, the JSON body, and implicit refresh of cookies. Defaults are
//! Flask-JWT-Extended's, except `Secure` and `SameSite=Lax` on cookies (safer).

use std::time::Duration;

use http::header::HeaderName;
use http::Method;

use super::JwtManagerBuilder;
use crate::config::locations::{
    cookie_prefix, host_prefixed, missing_cookie, valid_domain, CookieSettings, JsonSettings,
    QuerySettings, SameSite, HOST,
};
use crate::config::BuildError;

/// Location settings collected by the builder, validated by `build`.
#[derive(Clone, Debug)]
pub(super) struct LocationSettings {
    pub(super) cookies: CookieSettings,
    /// CSRF header names as given, checked when the manager is built.
    pub(super) access_csrf_header: String,
    pub(super) refresh_csrf_header: String,
    pub(super) query_name: String,
    pub(super) query_prefix: String,
    pub(super) json_access_key: String,
    pub(super) json_refresh_key: String,
    pub(super) max_json_body_size: usize,
    pub(super) implicit_refresh: Option<Duration>,
}

impl Default for LocationSettings {
    fn default() -> Self {
        Self {
            cookies: CookieSettings::default(),
            access_csrf_header: "X-CSRF-TOKEN".into(),
            refresh_csrf_header: "X-CSRF-TOKEN".into(),
            query_name: "jwt".into(),
            query_prefix: String::new(),
            json_access_key: "access_token".into(),
            json_refresh_key: "refresh_token".into(),
            max_json_body_size: 16 * 1024,
            implicit_refresh: None,
        }
    }
}

/// Validated location settings: cookies, query string, JSON body, implicit refresh.
pub(super) type Validated = (
    CookieSettings,
    QuerySettings,
    JsonSettings,
    Option<Duration>,
);

/// A cookie name: a token of visible ASCII without separators (RFC 6265).
fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// Refuses cookie settings that cannot work: browsers drop `SameSite=None` cookies that are
/// not `Secure`, and `__Secure-` / `__Host-` cookies that break their prefix's rules (RFC
/// 6265bis §4.1.3: `Secure`; for `__Host-` also no `Domain` and the path `/`); CSRF double
/// submit needs methods to check and, in cookie mode, a way for the page to learn the value.
fn workable(c: &CookieSettings, cookies_located: bool) -> Result<(), BuildError> {
    let refuse = |setting, message: String| Err(BuildError::setting(setting, message));
    if c.same_site == Some(SameSite::None) && !c.secure {
        return refuse(
            "cookie_samesite",
            "cookie_samesite(Some(SameSite::None)) needs cookie_secure(true): browsers drop \
             SameSite=None cookies that are not Secure"
                .into(),
        );
    }
    for (setting, name, path_setting, path) in [
        (
            "access_cookie_name",
            &c.access.jwt,
            "access_cookie_path",
            &c.access.jwt_path,
        ),
        (
            "refresh_cookie_name",
            &c.refresh.jwt,
            "refresh_cookie_path",
            &c.refresh.jwt_path,
        ),
        (
            "access_csrf_cookie_name",
            &c.access.csrf,
            "access_csrf_cookie_path",
            &c.access.csrf_path,
        ),
        (
            "refresh_csrf_cookie_name",
            &c.refresh.csrf,
            "refresh_csrf_cookie_path",
            &c.refresh.csrf_path,
        ),
    ] {
        let Some(prefix) = cookie_prefix(name) else {
            continue;
        };
        let named = format!("{setting}({name:?})");
        if !c.secure {
            return refuse(
                "cookie_secure",
                format!(
                    "{named} needs cookie_secure(true): browsers drop {prefix} cookies that are \
                 not Secure"
                ),
            );
        }
        if prefix == HOST {
            if let Some(domain) = &c.domain {
                return refuse(
                    "cookie_domain",
                    format!(
                        "{named} cannot have a cookie_domain ({domain:?}): browsers drop {HOST} \
                     cookies with a Domain"
                    ),
                );
            }
            if path != "/" {
                return refuse(
                    path_setting,
                    format!(
                        "{named} needs {path_setting}(\"/\"), not {path:?}: browsers drop {HOST} \
                     cookies with another path"
                    ),
                );
            }
        }
    }
    if c.csrf_protect && c.csrf_methods.is_empty() {
        return refuse(
            "csrf_methods",
            "csrf_methods is empty while csrf_protect is on: no request would be checked \
             (turn csrf_protect off instead)"
                .into(),
        );
    }
    if cookies_located && c.csrf_protect && !c.csrf_in_cookies && !c.csrf_in_response_body {
        return refuse(
            "csrf_in_cookies",
            "csrf_in_cookies(false) with csrf_protect on and cookies as a token location: the \
             client has no way to learn the CSRF values; set csrf_in_response_body(true) (the auth \
             service's login and refresh answers carry them), or turn csrf_protect off"
                .into(),
        );
    }
    Ok(())
}

impl LocationSettings {
    /// The settings with every name checked and the messages built: cookies, query string,
    /// JSON body, implicit refresh.
    pub(super) fn validate(mut self, cookies_located: bool) -> Result<Validated, BuildError> {
        let invalid = |setting, what: &str, value: &str| {
            BuildError::setting(setting, format!("invalid {what} {value:?}"))
        };
        let c = &mut self.cookies;
        for (setting, what, name) in [
            ("access_cookie_name", "access cookie name", &c.access.jwt),
            ("refresh_cookie_name", "refresh cookie name", &c.refresh.jwt),
            (
                "access_csrf_cookie_name",
                "access CSRF cookie name",
                &c.access.csrf,
            ),
            (
                "refresh_csrf_cookie_name",
                "refresh CSRF cookie name",
                &c.refresh.csrf,
            ),
        ] {
            if !valid_cookie_name(name) {
                return Err(invalid(setting, what, name));
            }
        }
        for (names, header, [header_setting, jwt_path, csrf_path]) in [
            (
                &mut c.access,
                &self.access_csrf_header,
                [
                    "access_csrf_header_name",
                    "access_cookie_path",
                    "access_csrf_cookie_path",
                ],
            ),
            (
                &mut c.refresh,
                &self.refresh_csrf_header,
                [
                    "refresh_csrf_header_name",
                    "refresh_cookie_path",
                    "refresh_csrf_cookie_path",
                ],
            ),
        ] {
            names.csrf_header = HeaderName::try_from(header.as_str())
                .map_err(|_| invalid(header_setting, "CSRF header name", header))?;
            names.missing = missing_cookie(&names.jwt);
            for (setting, path) in [(jwt_path, &names.jwt_path), (csrf_path, &names.csrf_path)] {
                if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_control() || b == b';')
                {
                    return Err(invalid(setting, "cookie path", path));
                }
            }
        }
        if c.domain.as_deref().is_some_and(|d| !valid_domain(d)) {
            return Err(invalid(
                "cookie_domain",
                "cookie domain",
                c.domain.as_deref().unwrap_or_default(),
            ));
        }
        workable(c, cookies_located)?;
        if self.query_name.is_empty() {
            return Err(invalid(
                "query_string_name",
                "query string name",
                &self.query_name,
            ));
        }
        if self.json_access_key.is_empty() || self.json_refresh_key.is_empty() {
            let setting = if self.json_access_key.is_empty() {
                "json_key"
            } else {
                "refresh_json_key"
            };
            return Err(BuildError::setting(setting, "JSON keys must not be empty"));
        }
        if self.max_json_body_size == 0 {
            return Err(BuildError::setting(
                "max_json_body_size",
                "the JSON body size limit must be positive",
            ));
        }
        Ok((
            self.cookies,
            QuerySettings::new(&self.query_name, &self.query_prefix),
            JsonSettings::new(
                &self.json_access_key,
                &self.json_refresh_key,
                self.max_json_body_size,
            ),
            self.implicit_refresh.filter(|d| !d.is_zero()),
        ))
    }
}

impl JwtManagerBuilder {
    fn cookie_settings(&mut self) -> &mut CookieSettings {
        &mut self.locations_settings.cookies
    }

    /// The access token's cookie (default `access_token_cookie`).
    pub fn access_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_settings().access.jwt = name.into();
        self
    }

    /// The refresh token's cookie (default `refresh_token_cookie`).
    pub fn refresh_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_settings().refresh.jwt = name.into();
        self
    }

    /// The access token's CSRF cookie (default `csrf_access_token`).
    pub fn access_csrf_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_settings().access.csrf = name.into();
        self
    }

    /// The refresh token's CSRF cookie (default `csrf_refresh_token`).
    pub fn refresh_csrf_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_settings().refresh.csrf = name.into();
        self
    }

    /// The `Path` of the access token's cookie (default `/`).
    pub fn access_cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie_settings().access.jwt_path = path.into();
        self
    }

    /// The `Path` of the refresh token's cookie (default `/`).
    pub fn refresh_cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie_settings().refresh.jwt_path = path.into();
        self
    }

    /// The `Path` of the access token's CSRF cookie (default `/`).
    pub fn access_csrf_cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie_settings().access.csrf_path = path.into();
        self
    }

    /// The `Path` of the refresh token's CSRF cookie (default `/`).
    pub fn refresh_csrf_cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie_settings().refresh.csrf_path = path.into();
        self
    }

    /// The `Domain` of every cookie (default none: the host that set it).
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie_settings().domain = Some(domain.into());
        self
    }

    /// Whether cookies are `Secure` (sent over HTTPS only). On by default (Flask-JWT-Extended:
    /// off); turn it off only for plain HTTP on loopback during development.
    pub fn cookie_secure(mut self, yes: bool) -> Self {
        self.cookie_settings().secure = yes;
        self
    }

    /// The `SameSite` attribute (default `Lax`; Flask-JWT-Extended writes none). `None`
    /// writes no attribute.
    pub fn cookie_samesite(mut self, same_site: Option<SameSite>) -> Self {
        self.cookie_settings().same_site = same_site;
        self
    }

    /// Session cookies (the default, no `Max-Age`), or cookies that live as long as their
    /// token: `Max-Age` is the token's remaining lifetime (400 days for a token that never
    /// expires, the most browsers keep a cookie). Flask-JWT-Extended's `JWT_SESSION_COOKIE`,
    /// without its fixed year.
    pub fn session_cookies(mut self, yes: bool) -> Self {
        self.cookie_settings().session = yes;
        self
    }

    /// CSRF double submit for cookie-borne tokens (default on): tokens carry a `csrf` claim,
    /// and a request with a method of [`csrf_methods`](Self::csrf_methods) must send the same
    /// value in the CSRF header (or form field).
    pub fn csrf_protect(mut self, yes: bool) -> Self {
        self.cookie_settings().csrf_protect = yes;
        self
    }

    /// Whether the CSRF values are also set as cookies readable by scripts (default on).
    /// Off in cookie mode with CSRF protection on, the client needs another way to learn
    /// them: [`csrf_in_response_body`](Self::csrf_in_response_body), or `build` refuses.
    pub fn csrf_in_cookies(mut self, yes: bool) -> Self {
        self.cookie_settings().csrf_in_cookies = yes;
        self
    }

    /// Whether the answers that set token cookies carry their CSRF values in JSON (default
    /// off): the [auth service](crate::service)'s login and refresh answers then hold
    /// `csrf_access_token` and `csrf_refresh_token` (for the tokens they set), and an
    /// application setting cookies itself sends [`VerifiedToken::csrf`](crate::VerifiedToken::csrf)
    /// the same way. The way to the client when [`csrf_in_cookies`](Self::csrf_in_cookies)
    /// is off.
    pub fn csrf_in_response_body(mut self, yes: bool) -> Self {
        self.cookie_settings().csrf_in_response_body = yes;
        self
    }

    /// The `__Host-` preset, against cookie tossing: the four cookies are named
    /// `__Host-access_token_cookie`, `__Host-refresh_token_cookie`,
    /// `__Host-csrf_access_token` and `__Host-csrf_refresh_token`, `Secure`, with the path
    /// `/` and no `Domain`.
    ///
    /// Browsers accept a `__Host-` cookie only from the host itself over HTTPS, so a
    /// sibling subdomain (`evil.example.com` next to `app.example.com`) cannot plant its own
    /// token or CSRF cookie for the application's host, nor shadow them with a cookie of a
    /// longer path. Settings that break the prefix's rules later (`cookie_secure(false)`, a
    /// `cookie_domain`, another cookie path) are refused by `build`. Scripts read the CSRF
    /// cookies by their new names.
    ///
    /// ```
    /// use tower_jwt_auth::JwtManager;
    /// use tower_jwt_auth::manager::TokenLocation;
    ///
    /// let manager = JwtManager::builder()
    ///     .secret("an-example-secret-that-is-32-bytes!")
    ///     .token_locations([TokenLocation::Cookies])
    ///     .host_prefixed_cookies()
    ///     .build()
    ///     .unwrap();
    /// let token = manager.create_access_token("ada").unwrap();
    /// let cookies = manager.cookies().access(&token).unwrap();
    /// assert_eq!(cookies[0].name(), "__Host-access_token_cookie");
    /// assert_eq!(cookies[1].name(), "__Host-csrf_access_token");
    /// assert!(cookies.iter().all(|c| c.secure() == Some(true) && c.domain().is_none()));
    ///
    /// // A Domain would make browsers drop them: refused.
    /// assert!(JwtManager::builder()
    ///     .secret("an-example-secret-that-is-32-bytes!")
    ///     .host_prefixed_cookies()
    ///     .cookie_domain("example.com")
    ///     .build()
    ///     .is_err());
    /// ```
    pub fn host_prefixed_cookies(mut self) -> Self {
        let c = self.cookie_settings();
        for names in [&mut c.access, &mut c.refresh] {
            for name in [&mut names.jwt, &mut names.csrf] {
                if !host_prefixed(name) {
                    *name = format!("{HOST}{name}");
                }
            }
            names.jwt_path = "/".into();
            names.csrf_path = "/".into();
        }
        c.secure = true;
        c.domain = None;
        self
    }

    /// The methods whose cookie-borne tokens need the CSRF value (default POST, PUT, PATCH,
    /// DELETE).
    pub fn csrf_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.cookie_settings().csrf_methods = methods.into_iter().collect();
        self
    }

    /// The header carrying the CSRF value, for both kinds of token (default `X-CSRF-TOKEN`).
    pub fn csrf_header_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.access_csrf_header_name(name.clone())
            .refresh_csrf_header_name(name)
    }

    /// The header carrying the access token's CSRF value.
    pub fn access_csrf_header_name(mut self, name: impl Into<String>) -> Self {
        self.locations_settings.access_csrf_header = name.into();
        self
    }

    /// The header carrying the refresh token's CSRF value.
    pub fn refresh_csrf_header_name(mut self, name: impl Into<String>) -> Self {
        self.locations_settings.refresh_csrf_header = name.into();
        self
    }

    /// Also accept the CSRF value from a field of an HTML form body (default off).
    pub fn csrf_check_form(mut self, yes: bool) -> Self {
        self.cookie_settings().csrf_check_form = yes;
        self
    }

    /// The form field carrying the CSRF value, for both kinds of token (default
    /// `csrf_token`).
    pub fn csrf_field_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.cookie_settings().access.csrf_field = name.clone();
        self.cookie_settings().refresh.csrf_field = name;
        self
    }

    /// The query-string parameter carrying a token (default `jwt`).
    pub fn query_string_name(mut self, name: impl Into<String>) -> Self {
        self.locations_settings.query_name = name.into();
        self
    }

    /// A prefix the query-string value must start with, e.g. `"Bearer "` (default none).
    pub fn query_string_value_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.locations_settings.query_prefix = prefix.into();
        self
    }

    /// The JSON key carrying an access token (default `access_token`).
    pub fn json_key(mut self, key: impl Into<String>) -> Self {
        self.locations_settings.json_access_key = key.into();
        self
    }

    /// The JSON key carrying a refresh token (default `refresh_token`).
    pub fn refresh_json_key(mut self, key: impl Into<String>) -> Self {
        self.locations_settings.json_refresh_key = key.into();
        self
    }

    /// The most a guard buffers of a JSON body (or form) to find a token (or CSRF value) in
    /// it (default 16 KiB). A body declared larger (`Content-Length`) is not read at all;
    /// a larger body answers 413 on required routes, and means "no token" on optional ones.
    pub fn max_json_body_size(mut self, bytes: usize) -> Self {
        self.locations_settings.max_json_body_size = bytes;
        self
    }

    /// Implicit refresh: when a cookie-borne access token has less than `within` left, the
    /// response to a guarded request also sets a new (non-fresh) access cookie and CSRF cookie
    /// for the same identity (default off; `Duration::ZERO` turns it off). Never from an
    /// expired or revoked token, never on a response that sets or unsets the access cookie
    /// itself (a login, a logout), never twice on one response.
    pub fn implicit_refresh_within(mut self, within: Duration) -> Self {
        self.locations_settings.implicit_refresh = Some(within);
        self
    }
}

#[cfg(test)]
mod tests;
