//! Cases 1-9: transport and header.

use axum::body::Body;
use http::{HeaderValue, Request};

use crate::harness::*;

const BAD: &str = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'";
const NO_BEARER: &str =
    "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'";

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

#[tokio::test]
async fn transport_and_header() {
    let g = Group::new();
    let jwt = builder().build().unwrap();
    let app = app(&jwt);
    let token = jwt.create_access_token("1").unwrap();

    g.case(
        1,
        "no credentials",
        &app,
        get("/access", None),
        401,
        "Missing Authorization Header",
    )
    .await;

    g.case(2, "Bearer", &app, get("/access", Some("Bearer")), 401, BAD)
        .await;
    g.case(
        2,
        "Bearer + space",
        &app,
        get("/access", Some("Bearer ")),
        401,
        BAD,
    )
    .await;

    g.case(
        3,
        "lowercase scheme",
        &app,
        get("/access", Some(&format!("bearer {token}"))),
        200,
        "",
    )
    .await;
    let recased = swap_case(&token);
    g.case(
        3,
        "token letters re-cased",
        &app,
        bearer("/access", &recased),
        401,
        "Invalid header string",
    )
    .await;

    g.case(
        4,
        "Basic",
        &app,
        get("/access", Some("Basic YWRhOnB3")),
        401,
        NO_BEARER,
    )
    .await;
    g.case(
        4,
        "Token scheme",
        &app,
        get("/access", Some(&format!("Token {token}"))),
        401,
        NO_BEARER,
    )
    .await;
    g.case(
        4,
        "no space",
        &app,
        get("/access", Some(&format!("Bearer{token}"))),
        401,
        NO_BEARER,
    )
    .await;
    g.case(
        4,
        "extra part",
        &app,
        get("/access", Some(&format!("Bearer {token} extra"))),
        401,
        BAD,
    )
    .await;

    for (first, second) in [
        (format!("Bearer {token}"), "Bearer garbage".to_owned()),
        ("Bearer garbage".into(), format!("Bearer {token}")),
    ] {
        let req = Request::get("/access")
            .header("authorization", first)
            .header("authorization", second)
            .body(Body::empty())
            .unwrap();
        g.case(
            5,
            "two Authorization headers",
            &app,
            req,
            401,
            "Bad Authorization header. Expected a single 'Authorization' header",
        )
        .await;
    }

    let (a, b) = token.split_at(token.len() / 2);
    g.case(
        6,
        "space inside the token",
        &app,
        get("/access", Some(&format!("Bearer {a} {b}"))),
        401,
        BAD,
    )
    .await;
    g.case(
        6,
        "tab inside the token",
        &app,
        get("/access", Some(&format!("Bearer {a}\t{b}"))),
        401,
        BAD,
    )
    .await;
    g.case(
        6,
        "tab as separator",
        &app,
        get("/access", Some(&format!("Bearer\t{token}"))),
        401,
        BAD,
    )
    .await;
    // CR and LF cannot be put in a header value at all: http (and hyper) refuse them.
    assert!(
        HeaderValue::from_str(&format!("Bearer {a}\r\n{b}")).is_err(),
        "case 6 (CR/LF)"
    );
    // Leading and trailing optional whitespace is not part of a field value (RFC 9110 §5.5);
    // HTTP parsers strip it, and so does the guard.
    g.case(
        6,
        "surrounding OWS",
        &app,
        get("/access", Some(&format!(" Bearer {token} "))),
        200,
        "",
    )
    .await;

    g.case(
        7,
        "token only in ?jwt=",
        &app,
        get(&format!("/access?jwt={token}"), None),
        401,
        "Missing Authorization Header",
    )
    .await;

    let too_big = format!("{token}{}", "A".repeat(8 * 1024 + 1 - token.len()));
    assert_eq!(too_big.len(), 8 * 1024 + 1);
    g.case(
        8,
        "cap + 1 byte",
        &app,
        bearer("/access", &too_big),
        401,
        "Token is too large",
    )
    .await;
    let huge = "A".repeat(8 * 1024 * 1024);
    g.case(
        8,
        "8 MB",
        &app,
        bearer("/access", &huge),
        401,
        "Token is too large",
    )
    .await;

    let dots = ".".repeat(2_000_000);
    g.case(
        9,
        "2,000,000 dots",
        &app,
        bearer("/access", &dots),
        401,
        "Token is too large",
    )
    .await;
    // With the cap raised out of the way, the shape check still refuses it before decoding.
    let roomy = builder().max_token_size(4 * 1024 * 1024).build().unwrap();
    g.case(
        9,
        "2,000,000 dots, no cap",
        &app_with_jwt(&roomy),
        bearer("/access", &dots),
        401,
        "Too many segments",
    )
    .await;

    g.assert_no_leaks();
}

fn app_with_jwt(jwt: &tower_jwt_auth::JwtManager) -> axum::Router {
    app(jwt)
}
