//! Port of `tests/test_multiple_token_locations.py`: locations tried in order, only
//! "missing" moves on, manager-wide or per route.

use bytes::Bytes;
use http::Request;
use serde_json::json;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::respond::StatusPolicy;

use crate::client::Client;
use crate::common::*;

use TokenLocation::{Cookies, Headers, Json, QueryString};

const ALL: [TokenLocation; 4] = [Headers, Cookies, QueryString, Json];

/// The app with every location on the manager, and the app with headers only on the
/// manager and every location on the route.
fn apps(policy: StatusPolicy) -> [Client; 2] {
    let everywhere = Client::new(builder(policy).token_locations(ALL).build().unwrap());
    let mut per_route = Client::new(builder(policy).token_locations([Headers]).build().unwrap());
    per_route.route_locations = Some(ALL.to_vec());
    [everywhere, per_route]
}

fn app(policy: StatusPolicy, locations: &[TokenLocation]) -> Client {
    Client::new(
        builder(policy)
            .token_locations(locations.iter().copied())
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn header_access() {
    for mut c in apps(StatusPolicy::Default) {
        let token = c.m.create_access_token("username").unwrap();
        let r = c
            .send(Request::get("/protected").header("Authorization", bearer(&token)))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.json),
            (200, json!({"foo": "bar", "location": "headers"}))
        );
    }
}

#[tokio::test]
async fn cookie_access() {
    for mut c in apps(StatusPolicy::Default) {
        c.get("/cookie_login").await;
        let r = c.get("/protected").await;
        assert_eq!(
            (r.status.as_u16(), r.json),
            (200, json!({"foo": "bar", "location": "cookies"}))
        );
    }
}

#[tokio::test]
async fn query_string_access() {
    for mut c in apps(StatusPolicy::Default) {
        let token = c.m.create_access_token("username").unwrap();
        let r = c.get(&format!("/protected?jwt={token}")).await;
        assert_eq!(
            (r.status.as_u16(), r.json),
            (200, json!({"foo": "bar", "location": "query_string"}))
        );
    }
}

#[tokio::test]
async fn json_access() {
    for mut c in apps(StatusPolicy::Default) {
        let token = c.m.create_access_token("username").unwrap();
        let body = json!({"access_token": token}).to_string();
        let req = Request::post("/protected").header("content-type", "application/json");
        let r = c.send_body(req, Bytes::from(body)).await;
        assert_eq!(
            (r.status.as_u16(), r.json),
            (200, json!({"foo": "bar", "location": "json"}))
        );
    }
}

#[tokio::test]
async fn no_jwt_in_request() {
    let cases: [(&[TokenLocation], &str); 4] = [
        (
            &[Cookies, Headers],
            "Missing JWT in cookies or headers (Missing cookie \"access_token_cookie\"; Missing Authorization Header)",
        ),
        (
            &[Json, QueryString],
            "Missing JWT in json or query_string (Invalid content-type. Must be application/json.; Missing 'jwt' query paramater)",
        ),
        (
            &[Headers, Cookies],
            "Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie \"access_token_cookie\")",
        ),
        (
            &ALL,
            "Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; \
             Missing cookie \"access_token_cookie\"; Missing 'jwt' query paramater; Invalid \
             content-type. Must be application/json.)",
        ),
    ];
    for policy in POLICIES {
        for (locations, expected) in cases {
            let r = app(policy, locations).get("/protected").await;
            assert_eq!(r.status_msg(), (401, expected));
        }
    }
}

#[tokio::test]
async fn order_of_jwt_locations_in_request() {
    for locations in [[Cookies, Headers], [Headers, Cookies]] {
        let mut c = app(StatusPolicy::Default, &locations);
        c.get("/cookie_login").await;
        let r = c.get("/protected").await;
        assert_eq!(
            (r.status.as_u16(), r.json),
            (200, json!({"foo": "bar", "location": "cookies"}))
        );
    }
}

#[tokio::test]
async fn order_of_jwt_locations_with_one_invalid_token_in_request() {
    for policy in POLICIES {
        for (locations, expected) in [
            ([Cookies, Headers], (200, "")),
            (
                [Headers, Cookies],
                (expect(policy, 422), "Invalid header padding"),
            ),
        ] {
            let mut c = app(policy, &locations);
            let token = c.m.create_access_token("username").unwrap();
            let invalid = format!("000000{}", &token[5..]);
            c.get("/cookie_login").await;
            let r = c
                .send(Request::get("/protected").header("Authorization", bearer(&invalid)))
                .await;
            assert_eq!(r.status_msg(), expected);
            if expected.0 == 200 {
                assert_eq!(r.json["location"], "cookies");
            }
        }
    }
}

/// A CSRF failure is final: it does not move on to the next location (Flask-JWT-Extended's
/// `CSRFError` is not a "missing" error).
#[tokio::test]
async fn csrf_failure_does_not_fall_through() {
    let mut c = app(StatusPolicy::Default, &[Cookies, Headers]);
    c.get("/cookie_login").await;
    let token = c.m.create_access_token("username").unwrap();
    let r = c
        .send(Request::post("/protected").header("Authorization", bearer(&token)))
        .await;
    assert_eq!(r.status_msg(), (401, "Missing CSRF token"));
}
