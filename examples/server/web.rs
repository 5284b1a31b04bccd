//! The web page at `GET /`: plain HTML, CSS and a little JavaScript embedded in the binary.
//! It logs in through `/web/token`, an auth service that sets the cookies and keeps the
//! tokens out of its answers, so no token is ever reachable from the page's scripts.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

const PAGE: &str = include_str!("page.html");

/// The page, with its content-security policy: only its own inline script and style (by
/// hash) and requests to this origin.
#[derive(Clone)]
pub struct Page {
    html: &'static str,
    policy: HeaderValue,
}

impl Page {
    /// The page for a server where cookies are (or are not) a token location, whose cookie
    /// names start with `prefix` (`__Host-` for secure cookies): its script reads the CSRF
    /// cookies by name.
    pub fn new(cookies: bool, prefix: &str) -> Self {
        let html: &'static str = Box::leak(
            PAGE.replace("{{COOKIES}}", if cookies { "true" } else { "false" })
                .replace("{{COOKIE_PREFIX}}", prefix)
                .into_boxed_str(),
        );
        let policy = format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; \
             img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            inline_hash(html, "script"),
            inline_hash(html, "style"),
        );
        Self {
            html,
            policy: HeaderValue::try_from(policy).expect("hashes are base64"),
        }
    }

    pub fn response(&self) -> Response {
        (
            StatusCode::OK,
            [
                (
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (CONTENT_SECURITY_POLICY, self.policy.clone()),
                (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (
                    axum::http::header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
                (
                    axum::http::header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
            ],
            self.html,
        )
            .into_response()
    }
}

/// `sha256-<base64>` of the content of the page's one `<tag>` element.
fn inline_hash(html: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = html.find(&open).expect("the page has the element") + open.len();
    let end = start + html[start..].find(&format!("</{tag}>")).expect("closed");
    let digest = Sha256::digest(&html.as_bytes()[start..end]);
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}
