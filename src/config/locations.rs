//! Where tokens travel besides the header, as configured: cookies (with CSRF double submit),
//! the query string and the JSON body. Flask-JWT-Extended's names and messages by default.

use http::header::{HeaderName, CONTENT_TYPE, COOKIE};
use http::{HeaderMap, Method};

/// The `SameSite` attribute of the cookies this crate writes (RFC 6265bis §4.1.2.7), for
/// [`JwtManagerBuilder::cookie_samesite`](crate::manager::JwtManagerBuilder::cookie_samesite)
/// (public as `cookies::SameSite`).
///
/// This crate's own type rather than the `cookie` crate's, so that a new major version of
/// `cookie` is not a breaking change of this crate's builder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Strict`: sent only with requests from the site itself.
    Strict,
    /// `SameSite=Lax` (the default): also sent with top-level navigations from elsewhere.
    #[default]
    Lax,
    /// `SameSite=None`: sent with every request; browsers require `Secure` with it.
    None,
}

impl SameSite {
    /// The attribute's value: `Strict`, `Lax` or `None`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

impl std::fmt::Display for SameSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SameSite {
    type Err = super::UnknownValue;

    /// `Strict`, `Lax` or `None`, in any case (as browsers read the attribute).
    fn from_str(value: &str) -> Result<Self, super::UnknownValue> {
        let value = value.trim();
        [SameSite::Strict, SameSite::Lax, SameSite::None]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value))
            .ok_or_else(|| super::UnknownValue {
                what: "SameSite value",
                expected: "Lax, Strict or None",
                got: value.to_owned(),
            })
    }
}

impl From<SameSite> for cookie::SameSite {
    fn from(same_site: SameSite) -> Self {
        match same_site {
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::None => cookie::SameSite::None,
        }
    }
}

/// One kind of token's cookie, CSRF cookie, CSRF header and form field, and the message of
/// its absence.
#[derive(Clone, Debug)]
pub(crate) struct CookieNames {
    pub(crate) jwt: String,
    pub(crate) csrf: String,
    pub(crate) jwt_path: String,
    pub(crate) csrf_path: String,
    pub(crate) csrf_header: HeaderName,
    pub(crate) csrf_field: String,
    /// `Missing cookie "<name>"`.
    pub(crate) missing: String,
}

impl CookieNames {
    fn new(jwt: &str, csrf: &str) -> Self {
        Self {
            jwt: jwt.into(),
            csrf: csrf.into(),
            jwt_path: "/".into(),
            csrf_path: "/".into(),
            csrf_header: HeaderName::from_static("x-csrf-token"),
            csrf_field: "csrf_token".into(),
            missing: missing_cookie(jwt),
        }
    }
}

/// The value of cookie `name` among a request's `Cookie` headers (RFC 6265 §4.2: pairs
/// separated by `;` and optional whitespace; a value may be quoted), borrowed from them; the
/// first pair with that name wins. `None` when it is absent or empty.
///
/// A byte search rather than the `cookie` crate's parser: it runs on every request of a
/// cookie-carrying route, and parsing every pair into a `Cookie` costs ~15 times as much
/// (446 ns against ~20 ns for a 380-byte header). Nothing is allocated.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    for header in headers.get_all(COOKIE) {
        let bytes = header.as_bytes();
        let mut start = 0;
        while start < bytes.len() {
            let end = memchr::memchr(b';', &bytes[start..]).map_or(bytes.len(), |at| start + at);
            let pair = &bytes[start..end];
            start = end + 1;
            // `name = value`, whitespace around both allowed (as browsers and the `cookie`
            // crate do); other names are skipped without looking further.
            let Some(rest) = trim_start(pair).strip_prefix(name) else {
                continue;
            };
            let Some(value) = trim_start(rest).strip_prefix(b"=") else {
                continue;
            };
            let value = trim(value);
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            return (!value.is_empty()).then_some(value);
        }
    }
    None
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t');
    &bytes[start.unwrap_or(bytes.len())..]
}

fn trim(bytes: &[u8]) -> &[u8] {
    let bytes = trim_start(bytes);
    let end = bytes.iter().rposition(|&b| b != b' ' && b != b'\t');
    &bytes[..end.map_or(0, |end| end + 1)]
}

/// A cookie `Domain`: a host name (letters, digits, dots and hyphens).
pub(crate) fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// The cookie prefix of a host's own cookies: `Secure`, no `Domain`, path `/`.
pub(crate) const HOST: &str = "__Host-";
/// The cookie prefix of `Secure` cookies.
pub(crate) const SECURE: &str = "__Secure-";

/// The `__Host-` or `__Secure-` prefix of a cookie name, matched whatever its case as
/// browsers do.
pub(crate) fn cookie_prefix(name: &str) -> Option<&'static str> {
    [HOST, SECURE].into_iter().find(|prefix| {
        name.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    })
}

/// Whether a cookie name has the `__Host-` prefix (no `Domain` allowed).
pub(crate) fn host_prefixed(name: &str) -> bool {
    cookie_prefix(name) == Some(HOST)
}

pub(crate) fn missing_cookie(name: &str) -> String {
    format!("Missing cookie \"{name}\"")
}

/// Cookies and CSRF double submit.
#[derive(Clone, Debug)]
pub(crate) struct CookieSettings {
    pub(crate) access: CookieNames,
    pub(crate) refresh: CookieNames,
    pub(crate) domain: Option<String>,
    /// `Secure` (on by default: Flask-JWT-Extended's default is off).
    pub(crate) secure: bool,
    /// `SameSite` (`Lax` by default: Flask-JWT-Extended writes none).
    pub(crate) same_site: Option<SameSite>,
    /// Session cookies (no `Max-Age`); otherwise `Max-Age` is the token's remaining life.
    pub(crate) session: bool,
    /// Tokens carry a `csrf` claim and cookie-borne ones must match a header or form field.
    pub(crate) csrf_protect: bool,
    /// The CSRF values are also set as cookies (readable by scripts).
    pub(crate) csrf_in_cookies: bool,
    /// The answers that set token cookies carry the CSRF values in JSON.
    pub(crate) csrf_in_response_body: bool,
    /// The methods that need the CSRF value.
    pub(crate) csrf_methods: Vec<Method>,
    /// Also look for the CSRF value in a form field (`application/x-www-form-urlencoded`).
    pub(crate) csrf_check_form: bool,
}

impl Default for CookieSettings {
    fn default() -> Self {
        Self {
            access: CookieNames::new("access_token_cookie", "csrf_access_token"),
            refresh: CookieNames::new("refresh_token_cookie", "csrf_refresh_token"),
            domain: None,
            secure: true,
            same_site: Some(SameSite::Lax),
            session: true,
            csrf_protect: true,
            csrf_in_cookies: true,
            csrf_in_response_body: false,
            csrf_methods: vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE],
            csrf_check_form: false,
        }
    }
}

impl CookieSettings {
    pub(crate) fn names(&self, refresh: bool) -> &CookieNames {
        if refresh {
            &self.refresh
        } else {
            &self.access
        }
    }

    /// Whether a cookie-borne token on a request with this method needs the CSRF value.
    pub(crate) fn csrf_required(&self, method: &Method) -> bool {
        self.csrf_protect && self.csrf_methods.contains(method)
    }
}

/// The query-string location.
#[derive(Clone, Debug)]
pub(crate) struct QuerySettings {
    pub(crate) name: String,
    pub(crate) prefix: String,
    /// `Missing '<name>' query paramater` (sic, Flask-JWT-Extended's spelling).
    pub(crate) missing: String,
    /// `Invalid value for query parameter '<name>'. Expected the value to start with '<prefix>'`.
    pub(crate) bad_prefix: String,
}

impl QuerySettings {
    pub(crate) fn new(name: &str, prefix: &str) -> Self {
        Self {
            name: name.into(),
            prefix: prefix.into(),
            missing: format!("Missing '{name}' query paramater"),
            bad_prefix: format!(
                "Invalid value for query parameter '{name}'. Expected the value to start with \
                 '{prefix}'"
            ),
        }
    }
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self::new("jwt", "")
    }
}

/// The JSON-body location.
#[derive(Clone, Debug)]
pub(crate) struct JsonSettings {
    pub(crate) access_key: String,
    pub(crate) refresh_key: String,
    /// The most a guard buffers of a JSON body to find a token in it.
    pub(crate) body_limit: usize,
    pub(crate) missing_access: String,
    pub(crate) missing_refresh: String,
}

impl JsonSettings {
    pub(crate) fn new(access_key: &str, refresh_key: &str, body_limit: usize) -> Self {
        Self {
            access_key: access_key.into(),
            refresh_key: refresh_key.into(),
            body_limit,
            missing_access: missing_key(access_key),
            missing_refresh: missing_key(refresh_key),
        }
    }

    pub(crate) fn key(&self, refresh: bool) -> (&str, &str) {
        if refresh {
            (&self.refresh_key, &self.missing_refresh)
        } else {
            (&self.access_key, &self.missing_access)
        }
    }
}

fn missing_key(key: &str) -> String {
    format!("Missing \"{key}\" key in json data.")
}

impl Default for JsonSettings {
    fn default() -> Self {
        Self::new("access_token", "refresh_token", 16 * 1024)
    }
}

/// `Invalid content-type. Must be application/json.`
pub(crate) const NOT_JSON: &str = "Invalid content-type. Must be application/json.";

/// Whether a request's body is JSON by its `Content-Type`: `application/json` or
/// `application/<name>+json` (RFC 6839's structured syntax suffix), parameters allowed, names
/// matched case-insensitively; what Flask and axum accept. The one test of the guard's JSON
/// location and of the auth service.
/// The body length a request declares (`Content-Length`, surrounding whitespace allowed), for
/// the guard and the auth service alike.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    let Some((kind, subtype)) = media_type(headers) else {
        return false;
    };
    kind.eq_ignore_ascii_case(b"application")
        && (subtype.eq_ignore_ascii_case(b"json")
            || (subtype.len() > b"+json".len()
                && subtype[subtype.len() - b"+json".len()..].eq_ignore_ascii_case(b"+json")))
}

/// Whether a request's body is an HTML form (`application/x-www-form-urlencoded`, parameters
/// allowed) by its `Content-Type`.
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|(kind, subtype)| {
        kind.eq_ignore_ascii_case(b"application")
            && subtype.eq_ignore_ascii_case(b"x-www-form-urlencoded")
    })
}

/// The type and subtype of a request's `Content-Type` (RFC 9110 §8.3.1: `type "/" subtype`,
/// both tokens, then optional parameters after `;`).
fn media_type(headers: &HeaderMap) -> Option<(&[u8], &[u8])> {
    let value = headers.get(CONTENT_TYPE)?.as_bytes();
    let essence = trim(value.split(|&b| b == b';').next()?);
    let slash = memchr::memchr(b'/', essence)?;
    let (kind, subtype) = (&essence[..slash], &essence[slash + 1..]);
    let token = |name: &[u8]| !name.is_empty() && name.iter().all(|&b| is_tchar(b));
    (token(kind) && token(subtype)).then_some((kind, subtype))
}

/// A token character (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
        cookie_value(headers, name).map(|v| std::str::from_utf8(v).unwrap())
    }

    #[test]
    fn cookie_values_are_found_as_rfc_6265_pairs() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "lang=en".parse().unwrap());
        h.append(
            COOKIE,
            "xaccess=1; access=; theme = dark ;access=tok.en; access=second; q=\"quoted v\""
                .parse()
                .unwrap(),
        );
        // `xaccess` is not `access`; the first `access` pair is empty: absent.
        assert_eq!(value(&h, "access"), None);
        assert_eq!(value(&h, "lang"), Some("en"));
        assert_eq!(value(&h, "xaccess"), Some("1"));
        assert_eq!(value(&h, "q"), Some("quoted v"));
        assert_eq!(value(&h, "missing"), None);
        // A name inside a value is not a pair.
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "a=access=x; b=2".parse().unwrap());
        assert_eq!(value(&h, "access"), None);
        assert_eq!(value(&h, "b"), Some("2"));
        let mut h = HeaderMap::new();
        h.insert(COOKIE, "\taccess=tok;".parse().unwrap());
        assert_eq!(value(&h, "access"), Some("tok"));
    }

    /// Agrees with the `cookie` crate's parser on well-formed headers.
    #[test]
    fn cookie_values_match_the_cookie_crate() {
        for header in [
            "a=1; b=2; c=3",
            "csrf_access_token=0f6c; access_token_cookie=eyJ.eyJ.sig",
            "access_token_cookie=eyJ.eyJ.sig;csrf=1",
            "  x = y ; access_token_cookie = v ",
        ] {
            let mut h = HeaderMap::new();
            h.insert(COOKIE, header.parse().unwrap());
            for name in ["a", "b", "c", "access_token_cookie", "csrf", "x", "none"] {
                let theirs = cookie::Cookie::split_parse(header)
                    .filter_map(Result::ok)
                    .find(|c| c.name() == name)
                    .map(|c| c.value().to_owned())
                    .filter(|v| !v.is_empty());
                assert_eq!(
                    value(&h, name).map(str::to_owned),
                    theirs,
                    "{header} / {name}"
                );
            }
        }
    }

    #[test]
    fn json_and_form_media_types() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, value.parse().unwrap());
            h
        };
        for json in [
            "application/json",
            "APPLICATION/Json",
            " application/json ; charset=utf-8",
            "application/vnd.api+json",
            "application/vnd.api+JSON;charset=UTF-8",
            "application/problem+json",
        ] {
            assert!(is_json(&with(json)), "{json}");
            assert!(!is_form(&with(json)), "{json}");
        }
        for other in [
            "",
            "json",
            "text/json",
            "application/",
            "/json",
            "application/jsonp",
            "application/json+xml",
            "application/+json",
            "application/vnd api+json",
            "application /json",
            "text/plain; x=application/json",
            "multipart/form-data",
        ] {
            assert!(!is_json(&with(other)), "{other}");
        }
        assert!(!is_json(&HeaderMap::new()));
        for form in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        ] {
            assert!(is_form(&with(form)), "{form}");
            assert!(!is_json(&with(form)), "{form}");
        }
        assert!(!is_form(&with("multipart/form-data; boundary=x")));
        assert!(!is_form(&HeaderMap::new()));
    }
}
