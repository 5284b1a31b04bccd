//! Finding the token in a request: locations are tried in the configured order; only
//! "token missing" moves on to the next one, any other problem stops the search
//! (Flask-JWT-Extended's rule).

use http::{HeaderMap, Method, Request};

use crate::config::{Settings, TokenLocation};
use crate::error::{AuthError, ErrorKind};

/// What the verification reads of a request: its method, headers and query string (and,
/// for the JSON location to come, a buffered body). Built without copying anything.
#[derive(Clone, Copy)]
pub(crate) struct RequestView<'a> {
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a HeaderMap,
    #[allow(dead_code)] // the query-string location reads it
    pub(crate) query: Option<&'a str>,
}

impl<'a> RequestView<'a> {
    pub(crate) fn of<B>(req: &'a Request<B>) -> Self {
        Self {
            method: req.method(),
            headers: req.headers(),
            query: req.uri().query(),
        }
    }
}

/// Finds the encoded token in the first location that has one. The token is ASCII without
/// whitespace, commas or control characters.
pub(crate) fn locate<'a>(
    settings: &Settings,
    locations: &[TokenLocation],
    req: &RequestView<'a>,
) -> Result<(&'a [u8], TokenLocation), AuthError> {
    let mut missing: Vec<String> = Vec::new();
    for &location in locations {
        let found = match location {
            TokenLocation::Headers => from_headers(settings, req.headers),
        };
        match found {
            Ok(token) => return Ok((token, location)),
            Err(err) if err.kind() == ErrorKind::MissingToken => {
                missing.push(err.message().to_owned())
            }
            Err(err) => return Err(err),
        }
    }
    Err(missing_everywhere(locations, missing))
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
fn from_headers<'a>(settings: &Settings, headers: &'a HeaderMap) -> Result<&'a [u8], AuthError> {
    let messages = &settings.header_messages;
    let mut values = headers.get_all(&settings.header_name).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::missing(messages.missing.clone()));
    };
    if values.next().is_some() {
        return Err(AuthError::new(
            ErrorKind::BadHeader,
            messages.several.clone(),
        ));
    }
    let bad_header = || AuthError::new(ErrorKind::BadHeader, messages.bad.clone());
    // The common case, `<type> <token>` and nothing else, without the general parsing.
    if let Some(token) = single_credential(value.as_bytes(), settings.header_type.as_bytes()) {
        return Ok(token);
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
            (Some(token), None) => Ok(token.as_bytes()),
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
        (Some(token), None) if !item.contains('\t') => Ok(token.as_bytes()),
        _ => Err(bad_header()),
    }
}

/// `<scheme> <token>` exactly (scheme matched case-insensitively, one space, a token with no
/// whitespace, comma or control character, so ASCII): the token. Anything else takes the
/// general path, which gives the same answer for this shape.
fn single_credential<'a>(value: &'a [u8], scheme: &[u8]) -> Option<&'a [u8]> {
    if scheme.is_empty() || value.len() <= scheme.len() + 1 {
        return None;
    }
    let (head, token) = value.split_at(scheme.len() + 1);
    if !head[..scheme.len()].eq_ignore_ascii_case(scheme) || head[scheme.len()] != b' ' {
        return None;
    }
    // Without early exit, so that it vectorises.
    let unusual = token.iter().fold(false, |acc, &b| {
        acc | (b <= b' ') | (b == b',') | (b >= 0x7f)
    });
    (!unusual).then_some(token)
}
