//! Finding the token in a request: locations are tried in the configured order; only
//! "token missing" moves on to the next one, any other problem stops the search
//! (Flask-JWT-Extended's rule). A cookie-borne token on a request whose method changes state
//! also needs its CSRF double-submit value, from a header (or a form field).

use std::borrow::Cow;

use http::{HeaderMap, Method, Request};

use crate::config::locations::{cookie_value, is_form, is_json, NOT_JSON};
use crate::config::{Settings, TokenLocation};
use crate::error::{AuthError, ErrorKind};

/// What the verification reads of a request: its method, headers, query string and, when a
/// guard buffered it, its body. Built without copying anything.
#[derive(Clone, Copy)]
pub(crate) struct RequestView<'a> {
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) query: Option<&'a str>,
    pub(crate) body: Option<&'a [u8]>,
}

impl<'a> RequestView<'a> {
    pub(crate) fn of<B>(req: &'a Request<B>) -> Self {
        Self {
            method: req.method(),
            headers: req.headers(),
            query: req.uri().query(),
            body: None,
        }
    }
}

/// A token found in a request.
#[derive(Clone)]
pub(crate) struct Found<'a> {
    /// The encoded token (borrowed from the request, unless it had to be decoded).
    pub(crate) token: Cow<'a, [u8]>,
    pub(crate) location: TokenLocation,
    /// For a cookie-borne token on a request that changes state: the CSRF value presented.
    pub(crate) csrf: Option<Cow<'a, str>>,
    /// Taken from `Authorization: <type> <token>` by the quick path, without looking at its
    /// characters: [`is_plain`] decides, unless the memo of verified tokens knows it (a
    /// token is remembered only once it was found plain, or located the careful way, and
    /// verified). Not plain: locate again, carefully.
    pub(crate) unchecked: bool,
}

impl Found<'_> {
    /// The same, owning what it borrowed from the request (to wait for keys).
    pub(crate) fn into_owned(self) -> Found<'static> {
        Found {
            token: Cow::Owned(self.token.into_owned()),
            location: self.location,
            csrf: self.csrf.map(|c| Cow::Owned(c.into_owned())),
            unchecked: self.unchecked,
        }
    }
}

/// Finds the token in the first location that has one, looking for a refresh token's
/// cookie and JSON key when `refresh`. Moving on from a location that plainly holds nothing
/// allocates nothing. `quick`: a single `<type> <token>` header value is taken as is, its
/// token's characters left to the caller (see [`Found::unchecked`]).
pub(crate) fn locate<'a>(
    settings: &Settings,
    locations: &[TokenLocation],
    refresh: bool,
    req: &RequestView<'a>,
    quick: bool,
) -> Result<Found<'a>, AuthError> {
    for &location in locations {
        match find(settings, location, refresh, req, quick) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => {}
            Err(err) if err.kind() == ErrorKind::MissingToken => {}
            Err(err) => return Err(err),
        }
    }
    // No location holds a token (the rejection path): each one's reason, in order.
    let missing = locations
        .iter()
        .map(
            |&location| match find(settings, location, refresh, req, false) {
                Err(err) => err.message().to_owned(),
                _ => absent(settings, location, refresh).to_owned(),
            },
        )
        .collect();
    Err(missing_everywhere(locations, missing))
}

/// Why a location that plainly holds nothing has no token: Flask-JWT-Extended's message.
fn absent(settings: &Settings, location: TokenLocation, refresh: bool) -> &str {
    match location {
        TokenLocation::Headers => &settings.header_messages.missing,
        TokenLocation::Cookies => &settings.cookies.names(refresh).missing,
        TokenLocation::QueryString => &settings.query.missing,
        TokenLocation::Json => NOT_JSON,
    }
}

/// Whether finding the token needs the request's body, which has not been read: the first
/// location holding something is a JSON body, or a cookie whose CSRF value may be in a form.
pub(crate) fn needs_body(
    settings: &Settings,
    locations: &[TokenLocation],
    refresh: bool,
    req: &RequestView<'_>,
) -> bool {
    for &location in locations {
        if location == TokenLocation::Json {
            return is_json(req.headers);
        }
        match find(settings, location, refresh, req, false) {
            Ok(None) => continue,
            Err(err) if err.kind() == ErrorKind::MissingToken => continue,
            // Only a form's field can still hold the CSRF value the header lacks.
            Err(err) if err.kind() == ErrorKind::Csrf => {
                return settings.cookies.csrf_check_form && is_form(req.headers)
            }
            _ => return false,
        }
    }
    false
}

/// The token in one location: `Ok(None)` when the location plainly holds nothing.
fn find<'a>(
    settings: &Settings,
    location: TokenLocation,
    refresh: bool,
    req: &RequestView<'a>,
    quick: bool,
) -> Result<Option<Found<'a>>, AuthError> {
    match location {
        TokenLocation::Headers => Ok(from_headers(settings, req.headers, quick)?.map(
            |(token, unchecked)| Found {
                token: Cow::Borrowed(token),
                location,
                csrf: None,
                unchecked,
            },
        )),
        TokenLocation::Cookies => from_cookies(settings, refresh, req),
        TokenLocation::QueryString => from_query(settings, req),
        TokenLocation::Json => from_json(settings, refresh, req),
    }
}

/// A cookie-borne token, and the CSRF value a state-changing request must present with it
/// (the header, or with form checking on, a field of a buffered form body).
fn from_cookies<'a>(
    settings: &Settings,
    refresh: bool,
    req: &RequestView<'a>,
) -> Result<Option<Found<'a>>, AuthError> {
    let cookies = &settings.cookies;
    let names = cookies.names(refresh);
    let Some(token) = cookie_value(req.headers, &names.jwt) else {
        return Ok(None);
    };
    let csrf = if cookies.csrf_required(req.method) {
        let header = req
            .headers
            .get(&names.csrf_header)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(Cow::Borrowed);
        let field = || {
            let body = req.body.filter(|_| cookies.csrf_check_form)?;
            is_form(req.headers).then_some(())?;
            form_urlencoded::parse(body)
                .find(|(name, _)| *name == names.csrf_field)
                .map(|(_, value)| value)
                .filter(|value| !value.is_empty())
        };
        Some(
            header
                .or_else(field)
                .ok_or_else(|| AuthError::new(ErrorKind::Csrf, "Missing CSRF token"))?,
        )
    } else {
        None
    };
    Ok(Some(Found {
        token: Cow::Borrowed(token),
        location: TokenLocation::Cookies,
        csrf,
        unchecked: false,
    }))
}

/// `?jwt=<token>`, percent-decoded, after the configured prefix.
fn from_query<'a>(
    settings: &Settings,
    req: &RequestView<'a>,
) -> Result<Option<Found<'a>>, AuthError> {
    let query = &settings.query;
    let value = req
        .query
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(name, _)| *name == query.name)
                .map(|(_, value)| value)
        })
        .filter(|value| !value.is_empty());
    let Some(value) = value else {
        return Ok(None);
    };
    let token = match value {
        Cow::Borrowed(value) => value.strip_prefix(&*query.prefix).map(Cow::Borrowed),
        Cow::Owned(value) => value
            .strip_prefix(&*query.prefix)
            .map(|token| Cow::Owned(token.to_owned())),
    }
    .ok_or_else(|| AuthError::new(ErrorKind::BadQueryParameter, query.bad_prefix.clone()))?;
    Ok(Some(Found {
        token: match token {
            Cow::Borrowed(token) => Cow::Borrowed(token.as_bytes()),
            Cow::Owned(token) => Cow::Owned(token.into_bytes()),
        },
        location: TokenLocation::QueryString,
        csrf: None,
        unchecked: false,
    }))
}

/// `{"access_token": "<token>"}` in a JSON body the guard buffered.
fn from_json<'a>(
    settings: &Settings,
    refresh: bool,
    req: &RequestView<'a>,
) -> Result<Option<Found<'a>>, AuthError> {
    if !is_json(req.headers) {
        return Ok(None);
    }
    let (key, missing) = settings.json.key(refresh);
    let Some(body) = req.body else {
        return Err(AuthError::missing(format!(
            "{missing} (the request body was not read)"
        )));
    };
    let token = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .ok()
        .and_then(|mut object| match object.remove(key) {
            Some(serde_json::Value::String(token)) if !token.is_empty() => Some(token),
            _ => None,
        })
        .ok_or_else(|| AuthError::missing(missing.to_owned()))?;
    Ok(Some(Found {
        token: Cow::Owned(token.into_bytes()),
        location: TokenLocation::Json,
        csrf: None,
        unchecked: false,
    }))
}

/// Flask-JWT-Extended's message when no location holds a token.
fn missing_everywhere(locations: &[TokenLocation], mut missing: Vec<String>) -> AuthError {
    if let [_] = locations {
        return AuthError::missing(missing.pop().unwrap_or_default());
    }
    let (last, first) = match locations.split_last() {
        Some(split) => split,
        None => return AuthError::missing("Missing JWT"),
    };
    let first: Vec<&str> = first.iter().map(|l| l.as_str()).collect();
    AuthError::missing(format!(
        "Missing JWT in {} or {} ({})",
        first.join(", "),
        last.as_str(),
        missing.join("; ")
    ))
}

/// `Authorization: Bearer <JWT>`, parsed as Flask-JWT-Extended does: the value may hold
/// several comma-separated credentials, exactly one of which must use the header type.
/// The type is matched case-insensitively (RFC 9110 §11.1). Several header lines are refused.
/// `Ok(None)` without the header.
fn from_headers<'a>(
    settings: &Settings,
    headers: &'a HeaderMap,
    quick: bool,
) -> Result<Option<(&'a [u8], bool)>, AuthError> {
    let messages = &settings.header_messages;
    let mut values = headers.get_all(&settings.header_name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::new(
            ErrorKind::BadHeader,
            messages.several.clone(),
        ));
    }
    let bad_header = || AuthError::new(ErrorKind::BadHeader, messages.bad.clone());
    // The common case, `<type> <token>` and nothing else, without the general parsing
    // (`quick`: the token's characters looked at later, if at all).
    if let Some(token) = single_credential(value.as_bytes(), settings.header_type.as_bytes()) {
        if quick {
            return Ok(Some((token, true)));
        }
        if is_plain(token) {
            return Ok(Some((token, false)));
        }
    }
    let value = value.to_str().map_err(|_| bad_header())?;
    let value = value.trim().trim_matches(',');
    if value.is_empty() {
        return Err(AuthError::missing(messages.missing.clone()));
    }

    let header_type = &*settings.header_type;
    if header_type.is_empty() {
        let mut parts = value.split_ascii_whitespace();
        return match (parts.next(), parts.next()) {
            (Some(token), None) => Ok(Some((token.as_bytes(), false))),
            _ => Err(bad_header()),
        };
    }

    let mut matching = value
        .split(',')
        .map(|item| item.trim_start())
        .filter(|item| {
            item.split_ascii_whitespace()
                .next()
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case(header_type))
        });
    let (Some(item), None) = (matching.next(), matching.next()) else {
        return Err(AuthError::missing(messages.missing_type.clone()));
    };
    // RFC 6750: `"Bearer" 1*SP b64token`: a tab is no separator there. Whitespace after the
    // credential, before a comma, is the list's optional whitespace.
    let item = item.trim_end();
    let mut parts = item.split_ascii_whitespace().skip(1);
    match (parts.next(), parts.next()) {
        (Some(token), None) if !item.contains('\t') => Ok(Some((token.as_bytes(), false))),
        _ => Err(bad_header()),
    }
}

/// `<scheme> <rest>` (scheme matched case-insensitively, one space): the rest, the token if
/// it [`is_plain`]. Anything else takes the general path, which gives the same answer for a
/// plain token.
fn single_credential<'a>(value: &'a [u8], scheme: &[u8]) -> Option<&'a [u8]> {
    if scheme.is_empty() || value.len() <= scheme.len() + 1 {
        return None;
    }
    let (head, token) = value.split_at(scheme.len() + 1);
    if !head[..scheme.len()].eq_ignore_ascii_case(scheme) || head[scheme.len()] != b' ' {
        return None;
    }
    Some(token)
}

/// A token with no whitespace, comma or control character, so ASCII: what the quick path
/// of a header takes as the token.
pub(crate) fn is_plain(token: &[u8]) -> bool {
    // Without early exit, so that it vectorises.
    !token.iter().fold(false, |acc, &b| {
        acc | (b <= b' ') | (b == b',') | (b >= 0x7f)
    })
}
