//! Port of `tests/test_query_string.py`.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tower_jwt_auth::manager::{JwtManagerBuilder, TokenLocation};
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::JwtRequiredLayer;

use crate::common::*;

fn query_builder(policy: StatusPolicy) -> JwtManagerBuilder {
    builder(policy).token_locations([TokenLocation::QueryString])
}

fn get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::default()).unwrap()
}

#[tokio::test]
async fn default_query_parameter() {
    let m = query_builder(StatusPolicy::Default).build().unwrap();
    let token = m.create_access_token("username").unwrap();
    let r = call(
        &JwtRequiredLayer::new(&m),
        get(&format!("/protected?jwt={token}")),
    )
    .await;
    assert_eq!(r.status, 200);
    // Among other parameters, percent-encoded or not.
    let r = call(
        &JwtRequiredLayer::new(&m),
        get(&format!(
            "/protected?a=1&jwt={}&b=%20",
            token.replace('.', "%2E")
        )),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn query_string_value_prefix() {
    for policy in POLICIES {
        let m = query_builder(policy)
            .query_string_value_prefix("bearer ")
            .build()
            .unwrap();
        let layer = JwtRequiredLayer::new(&m);
        let token = m.create_access_token("username").unwrap();

        let r = call(&layer, get(&format!("/protected?jwt=bearer%20{token}"))).await;
        assert_eq!(r.status, 200);
        let r = call(&layer, get(&format!("/protected?jwt=bearer+{token}"))).await;
        assert_eq!(r.status, 200);

        let r = call(&layer, get(&format!("/protected?jwt={token}"))).await;
        assert_eq!(
            r.status_msg(),
            (
                expect(policy, 422),
                "Invalid value for query parameter 'jwt'. Expected the value to start with 'bearer '"
            )
        );
    }
}

#[tokio::test]
async fn custom_query_parameter() {
    let m = query_builder(StatusPolicy::Default)
        .query_string_name("foo")
        .build()
        .unwrap();
    let layer = JwtRequiredLayer::new(&m);
    let token = m.create_access_token("username").unwrap();
    let r = call(&layer, get(&format!("/protected?jwt={token}"))).await;
    assert_eq!(r.status_msg(), (401, "Missing 'foo' query paramater"));
    let r = call(&layer, get(&format!("/protected?foo={token}"))).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn missing_query_parameter() {
    for policy in POLICIES {
        let m = query_builder(policy).build().unwrap();
        let layer = JwtRequiredLayer::new(&m);
        let token = m.create_access_token("username").unwrap();

        let r = call(&layer, get("/protected")).await;
        assert_eq!(r.status_msg(), (401, "Missing 'jwt' query paramater"));
        // An empty value is missing too.
        let r = call(&layer, get("/protected?jwt=")).await;
        assert_eq!(r.status_msg(), (401, "Missing 'jwt' query paramater"));

        let req = Request::get("/protected")
            .header("Authorization", bearer(&token))
            .body(Full::default())
            .unwrap();
        let r = call(&layer, req).await;
        assert_eq!(r.status_msg(), (401, "Missing 'jwt' query paramater"));

        // A custom unauthorized response.
        let custom = JwtRequiredLayer::new(&m).error_responder(fixed_response(
            Some(tower_jwt_auth::ErrorKind::MissingToken),
            201,
            r#"{"foo":"bar"}"#,
        ));
        let r = call(&custom, get("/protected")).await;
        assert_eq!(
            (r.status.as_u16(), r.json["foo"].as_str()),
            (201, Some("bar"))
        );
    }
}
