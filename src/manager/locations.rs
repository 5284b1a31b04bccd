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
    pub(super) json_body_limit: usize,
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
            json_body_limit: 16 * 1024,
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
    let refuse = |message: String| Err(BuildError::Invalid(message));
    if c.same_site == Some(SameSite::None) && !c.secure {
        return refuse(
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
            return refuse(format!(
                "{named} needs cookie_secure(true): browsers drop {prefix} cookies that are \
                 not Secure"
            ));
        }
        if prefix == HOST {
            if let Some(domain) = &c.domain {
                return refuse(format!(
                    "{named} cannot have a cookie_domain ({domain:?}): browsers drop {HOST} \
                     cookies with a Domain"
                ));
            }
            if path != "/" {
                return refuse(format!(
                    "{named} needs {path_setting}(\"/\"), not {path:?}: browsers drop {HOST} \
                     cookies with another path"
                ));
            }
        }
    }
    if c.csrf_protect && c.csrf_methods.is_empty() {
        return refuse(
            "csrf_methods is empty while csrf_protect is on: no request would be checked \
             (turn csrf_protect off instead)"
                .into(),
        );
    }
    if cookies_located && c.csrf_protect && !c.csrf_in_cookies && !c.csrf_in_response_body {
        return refuse(
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
        let invalid =
            |what: &str, value: &str| BuildError::Invalid(format!("invalid {what} {value:?}"));
        let c = &mut self.cookies;
        for (what, name) in [
            ("access cookie name", &c.access.jwt),
            ("refresh cookie name", &c.refresh.jwt),
            ("access CSRF cookie name", &c.access.csrf),
            ("refresh CSRF cookie name", &c.refresh.csrf),
        ] {
            if !valid_cookie_name(name) {
                return Err(invalid(what, name));
            }
        }
        for (names, header) in [
            (&mut c.access, &self.access_csrf_header),
            (&mut c.refresh, &self.refresh_csrf_header),
        ] {
            names.csrf_header = HeaderName::try_from(header.as_str())
                .map_err(|_| invalid("CSRF header name", header))?;
            names.missing = missing_cookie(&names.jwt);
            for path in [&names.jwt_path, &names.csrf_path] {
                if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_control() || b == b';')
                {
                    return Err(invalid("cookie path", path));
                }
            }
        }
        if c.domain.as_deref().is_some_and(|d| !valid_domain(d)) {
            return Err(invalid(
                "cookie domain",
                c.domain.as_deref().unwrap_or_default(),
            ));
        }
        workable(c, cookies_located)?;
        if self.query_name.is_empty() {
            return Err(invalid("query string name", &self.query_name));
        }
        if self.json_access_key.is_empty() || self.json_refresh_key.is_empty() {
            return Err(BuildError::Invalid("JSON keys must not be empty".into()));
        }
        if self.json_body_limit == 0 {
            return Err(BuildError::Invalid(
                "the JSON body limit must be positive".into(),
            ));
        }
        Ok((
            self.cookies,
            QuerySettings::new(&self.query_name, &self.query_prefix),
            JsonSettings::new(
                &self.json_access_key,
                &self.json_refresh_key,
                self.json_body_limit,
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
    /// use tower_jwt_auth::{JwtManager, TokenLocation};
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
    pub fn json_body_limit(mut self, bytes: usize) -> Self {
        self.locations_settings.json_body_limit = bytes;
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
mod tests {
    use crate::{BuildError, JwtManager, JwtManagerBuilder, SameSite, TokenLocation};

    fn cookies() -> JwtManagerBuilder {
        JwtManager::builder()
            .secret("locations-unit-test-secret-0123456789abcdef")
            .token_locations([TokenLocation::Headers, TokenLocation::Cookies])
    }

    /// The message of a refused build; panics when the build succeeds.
    fn refused(builder: JwtManagerBuilder) -> String {
        match builder.build() {
            Err(BuildError::Invalid(message)) => message,
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("built"),
        }
    }

    #[test]
    fn same_site_none_needs_secure() {
        let message = refused(
            cookies()
                .cookie_secure(false)
                .cookie_samesite(Some(SameSite::None)),
        );
        assert!(
            message.contains("SameSite=None") && message.contains("cookie_secure"),
            "{message}"
        );
        assert!(cookies()
            .cookie_samesite(Some(SameSite::None))
            .build()
            .is_ok());
        assert!(cookies()
            .cookie_secure(false)
            .cookie_samesite(Some(SameSite::Lax))
            .build()
            .is_ok());
    }

    #[test]
    fn host_prefixed_names_need_secure_no_domain_and_the_root_path() {
        type Name = fn(JwtManagerBuilder, &'static str) -> JwtManagerBuilder;
        type Path = fn(JwtManagerBuilder, &'static str) -> JwtManagerBuilder;
        let settings: [(&str, Name, Path, &str); 4] = [
            (
                "access_cookie_name",
                |b, n| b.access_cookie_name(n),
                |b, p| b.access_cookie_path(p),
                "access_cookie_path",
            ),
            (
                "refresh_cookie_name",
                |b, n| b.refresh_cookie_name(n),
                |b, p| b.refresh_cookie_path(p),
                "refresh_cookie_path",
            ),
            (
                "access_csrf_cookie_name",
                |b, n| b.access_csrf_cookie_name(n),
                |b, p| b.access_csrf_cookie_path(p),
                "access_csrf_cookie_path",
            ),
            (
                "refresh_csrf_cookie_name",
                |b, n| b.refresh_csrf_cookie_name(n),
                |b, p| b.refresh_csrf_cookie_path(p),
                "refresh_csrf_cookie_path",
            ),
        ];
        for (name_setting, name, path, path_setting) in settings {
            let host = || name(cookies(), "__Host-x");
            assert!(host().build().is_ok(), "{name_setting}");
            for (builder, says) in [
                (host().cookie_secure(false), "cookie_secure"),
                (host().cookie_domain("example.com"), "cookie_domain"),
                (path(host(), "/api"), path_setting),
                // Browsers match the prefix whatever its case.
                (
                    name(cookies(), "__host-x").cookie_secure(false),
                    "cookie_secure",
                ),
            ] {
                let message = refused(builder);
                assert!(
                    message.contains(name_setting) && message.contains(says),
                    "{name_setting}: {message}"
                );
            }
            let secure = || name(cookies(), "__Secure-x");
            assert!(secure().cookie_domain("example.com").build().is_ok());
            assert!(path(secure(), "/api").build().is_ok());
            let message = refused(secure().cookie_secure(false));
            assert!(
                message.contains(name_setting) && message.contains("cookie_secure"),
                "{message}"
            );
        }
    }

    #[test]
    fn csrf_needs_methods_and_a_way_to_the_client() {
        let message = refused(cookies().csrf_methods([]));
        assert!(message.contains("csrf_methods"), "{message}");
        assert!(cookies()
            .csrf_protect(false)
            .csrf_methods([])
            .build()
            .is_ok());
        // The value must reach the page somehow: in cookies, or in JSON answers.
        let message = refused(cookies().csrf_in_cookies(false));
        assert!(message.contains("csrf_in_cookies"), "{message}");
        assert!(cookies()
            .csrf_in_cookies(false)
            .csrf_protect(false)
            .build()
            .is_ok());
        // Without cookies as a location, nothing needs it.
        assert!(JwtManager::builder()
            .secret("locations-unit-test-secret-0123456789abcdef")
            .csrf_in_cookies(false)
            .build()
            .is_ok());
    }

    #[test]
    fn a_domain_override_keeps_host_prefixed_cookies_valid() {
        let m = cookies().access_cookie_name("__Host-a").build().unwrap();
        assert!(m.cookies().domain("example.com").is_err());
        let m = cookies().build().unwrap();
        assert!(m.cookies().domain("example.com").is_ok());
    }
}
