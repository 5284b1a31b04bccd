//! The `WWW-Authenticate` challenges the guards answer with: RFC 9470's step-up
//! (`insufficient_user_authentication`) for a non-fresh token on a fresh route, under both
//! status policies, with the JSON body unchanged; RFC 9728's `resource_metadata` on every
//! challenge when the manager names its protected resource (and RFC 6750's 403
//! `insufficient_scope`, with `scope`), and the metadata document
//! (`ProtectedResourceService`) checked against the RFC's members. The challenges are also
//! parsed by a real client library (werkzeug's `WWWAuthenticate`) when Python has it.

#[path = "support/skip.rs"]
mod skip;

use std::convert::Infallible;

use bytes::Bytes;
use http::header::WWW_AUTHENTICATE;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::metadata::ProtectedResourceService;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{BuildError, FreshRequiredLayer, JwtManager};

const SECRET: &str = "challenge-tests-secret-0123456789abcdef";

/// The status, the `WWW-Authenticate` header (empty when absent) and the JSON body of a
/// request with `token` (none: no header) through `jwt`'s `FreshRequired` guard.
async fn call(jwt: &JwtManager, token: Option<&str>) -> (StatusCode, String, Value) {
    let svc = FreshRequiredLayer::new(jwt).layer(service_fn(
        |_: Request<RequestBody<Empty<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        },
    ));
    let mut req = Request::get("/");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let res = svc.oneshot(req.body(Empty::new()).unwrap()).await.unwrap();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        challenge,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_non_fresh_token_is_asked_to_step_up_under_both_policies() {
    for policy in [StatusPolicy::Default, StatusPolicy::FlaskCompatible] {
        let jwt = JwtManager::builder()
            .secret(SECRET)
            .status_policy(policy)
            .build()
            .unwrap();
        let stale = jwt.create_access_token("ada").unwrap();
        let (status, challenge, body) = call(&jwt, Some(&stale)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{policy:?}");
        assert_eq!(body, json!({"msg": "Fresh token required"}), "{policy:?}");
        assert_eq!(
            challenge, r#"Bearer error="insufficient_user_authentication""#,
            "{policy:?}"
        );

        // A fresh token passes; no challenge on success.
        let fresh = jwt
            .create_access_token_with("ada", TokenOptions::new().fresh(true))
            .unwrap();
        let (status, challenge, _) = call(&jwt, Some(&fresh)).await;
        assert_eq!((status, challenge.as_str()), (StatusCode::OK, ""));
    }
}

#[tokio::test]
async fn other_challenges_are_unchanged() {
    let jwt = JwtManager::builder().secret(SECRET).build().unwrap();
    assert_eq!(call(&jwt, None).await.1, "Bearer");
    assert_eq!(
        call(&jwt, Some("not-a-jwt")).await.1,
        r#"Bearer error="invalid_token""#
    );
    // The Flask-compatible policy has no challenge but the step-up one.
    let flask = JwtManager::builder()
        .secret(SECRET)
        .status_policy(StatusPolicy::FlaskCompatible)
        .build()
        .unwrap();
    assert_eq!(call(&flask, None).await.1, "");
    assert_eq!(call(&flask, Some("not-a-jwt")).await.1, "");
}

const RESOURCE: &str = "https://api.example.com";
const METADATA: &str = "https://api.example.com/.well-known/oauth-protected-resource";

fn with_resource() -> JwtManager {
    JwtManager::builder()
        .secret(SECRET)
        .protected_resource(RESOURCE)
        .build()
        .unwrap()
}

/// The three challenges of `jwt`'s fresh route: no token, a bad one, a stale one.
async fn challenges(jwt: &JwtManager) -> [String; 5] {
    let stale = jwt.create_access_token("ada").unwrap();
    let fresh = jwt
        .create_access_token_with("ada", TokenOptions::new().fresh(true))
        .unwrap();
    // A valid token without the route's role, or its scopes: 403.
    let forbidden = |layer: tower_jwt_auth::JwtRequiredLayer| {
        let svc = layer.layer(service_fn(|_: Request<RequestBody<Empty<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        }));
        let req = Request::get("/")
            .header("authorization", format!("Bearer {fresh}"))
            .body(Empty::new())
            .unwrap();
        async move {
            let res = svc.oneshot(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            res.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned()
        }
    };
    let required = || tower_jwt_auth::JwtRequiredLayer::new(jwt);
    [
        call(jwt, None).await.1,
        call(jwt, Some("not-a-jwt")).await.1,
        call(jwt, Some(&stale)).await.1,
        forbidden(required().require_role("admin")).await,
        forbidden(required().require_scopes(["orders:read", "orders:write"])).await,
    ]
}

#[tokio::test]
async fn every_challenge_names_the_resource_metadata_when_configured() {
    let jwt = with_resource();
    assert_eq!(jwt.resource_metadata_url(), Some(METADATA));
    let meta = format!(r#"resource_metadata="{METADATA}""#);
    assert_eq!(
        challenges(&jwt).await,
        [
            format!("Bearer {meta}"),
            format!(r#"Bearer error="invalid_token", {meta}"#),
            format!(r#"Bearer error="insufficient_user_authentication", {meta}"#),
            format!(r#"Bearer error="insufficient_scope", {meta}"#),
            format!(
                r#"Bearer error="insufficient_scope", scope="orders:read orders:write", {meta}"#
            ),
        ]
    );
    // Bodies are unchanged.
    assert_eq!(
        call(&jwt, Some("not-a-jwt")).await.2,
        json!({"msg": "Not enough segments"})
    );
}

#[test]
fn a_resource_rfc_9728_forbids_is_refused_at_build() {
    for bad in [
        "https://api.example.com/#section",
        "http://api.example.com",
        "not a url",
        "/relative/path",
    ] {
        let err = JwtManager::builder()
            .secret(SECRET)
            .protected_resource(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                BuildError::InvalidSetting {
                    setting: "protected_resource",
                    ..
                }
            ),
            "{bad}"
        );
    }
    // Plain http on loopback is a resource identifier for local development.
    JwtManager::builder()
        .secret(SECRET)
        .protected_resource("http://127.0.0.1:8080/mcp")
        .build()
        .unwrap();
}

/// `GET` (or another method) on the service: status, headers, JSON body.
async fn get(
    service: &ProtectedResourceService,
    method: http::Method,
) -> (StatusCode, http::HeaderMap, Value) {
    let req = Request::builder()
        .method(method)
        .uri("/.well-known/oauth-protected-resource")
        .body(())
        .unwrap();
    let res = service.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// RFC 9728 §2: `resource` is required and is the identifier the manager names;
/// `authorization_servers`, `scopes_supported` and `bearer_methods_supported` are arrays of
/// strings; `bearer_methods_supported` holds only RFC 6750's method names.
fn assert_rfc_9728(doc: &Value) {
    let doc = doc.as_object().expect("a JSON object");
    let resource = doc["resource"].as_str().expect("resource is required");
    assert!(
        resource.starts_with("https://") && !resource.contains('#'),
        "{resource}"
    );
    for member in [
        "authorization_servers",
        "scopes_supported",
        "bearer_methods_supported",
    ] {
        if let Some(value) = doc.get(member) {
            let items = value.as_array().unwrap_or_else(|| panic!("{member}"));
            assert!(items.iter().all(Value::is_string), "{member}");
        }
    }
    for method in doc["bearer_methods_supported"].as_array().unwrap() {
        assert!(["header", "body", "query"].contains(&method.as_str().unwrap()));
    }
}

#[tokio::test]
async fn the_metadata_document_has_rfc_9728_members() {
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .protected_resource(RESOURCE)
        .token_locations([
            TokenLocation::Headers,
            TokenLocation::Cookies,
            TokenLocation::QueryString,
            TokenLocation::Json,
        ])
        .query_string_name("access_token")
        .build()
        .unwrap();
    let service = ProtectedResourceService::new(&jwt)
        .authorization_server("https://login.example.com")
        .authorization_server("https://login.example.com")
        .scopes_supported(["orders:read", "orders:write"]);
    let (status, headers, doc) = get(&service, http::Method::GET).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert_rfc_9728(&doc);
    assert_eq!(
        doc,
        json!({
            "resource": RESOURCE,
            "authorization_servers": ["https://login.example.com"],
            "bearer_methods_supported": ["header", "query"],
            "scopes_supported": ["orders:read", "orders:write"],
        })
    );
    assert_eq!(
        jwt.protected_resource_metadata().unwrap()["resource"],
        RESOURCE
    );

    // Other methods: 405 with Allow, as the JWKS service.
    let (status, headers, body) = get(&service, http::Method::POST).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "GET, HEAD");
    assert_eq!(body, json!({"msg": "Method not allowed"}));
}

#[tokio::test]
async fn bearer_methods_follow_the_locations_and_their_names() {
    // Flask's defaults: a `jwt` query parameter and cookies are no RFC 6750 method.
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .protected_resource(RESOURCE)
        .token_locations([TokenLocation::Cookies, TokenLocation::QueryString])
        .build()
        .unwrap();
    let doc = get(&ProtectedResourceService::new(&jwt), http::Method::GET)
        .await
        .2;
    assert_rfc_9728(&doc);
    assert_eq!(doc["bearer_methods_supported"], json!([]));
    assert_eq!(doc["authorization_servers"], json!([]));
    assert!(doc.get("scopes_supported").is_none());

    // Another header scheme is no RFC 6750 header method either.
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .protected_resource(RESOURCE)
        .header_type("JWT")
        .build()
        .unwrap();
    assert_eq!(
        jwt.protected_resource_metadata().unwrap()["bearer_methods_supported"],
        json!([])
    );
}

#[tokio::test]
async fn no_resource_no_document() {
    let jwt = JwtManager::builder().secret(SECRET).build().unwrap();
    assert_eq!(jwt.resource_metadata_url(), None);
    assert!(jwt.protected_resource_metadata().is_none());
    let (status, _, body) = get(&ProtectedResourceService::new(&jwt), http::Method::GET).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"msg": "No protected resource"}));
}

#[cfg(feature = "jwks")]
#[tokio::test]
async fn the_outside_issuers_are_the_authorization_servers() {
    use tower_jwt_auth::jwks::RemoteJwks;
    // Never fetched: the document only names the issuers.
    let remote = |issuer: &str| {
        RemoteJwks::builder("http://127.0.0.1:9/jwks.json")
            .issuer(issuer)
            .build()
            .unwrap()
    };
    let (a, b) = (remote("https://a.example"), remote("https://b.example"));
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .protected_resource(RESOURCE)
        .trust_jwks(&a)
        .trust_jwks(&b)
        .build()
        .unwrap();
    let doc = get(
        &ProtectedResourceService::new(&jwt).authorization_server("https://b.example"),
        http::Method::GET,
    )
    .await
    .2;
    assert_rfc_9728(&doc);
    assert_eq!(
        doc["authorization_servers"],
        json!(["https://a.example", "https://b.example"])
    );
}

/// Parses challenges with werkzeug's `WWWAuthenticate` (what Flask clients and servers use):
/// each as `[scheme, {parameters}]`; `None` (after saying why) without it.
fn parse_with_werkzeug(challenges: &[String]) -> Option<Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const SCRIPT: &str = r#"
import json, sys
from werkzeug.datastructures import WWWAuthenticate
out = []
for header in json.load(sys.stdin):
    w = WWWAuthenticate.from_header(header)
    out.append([w.type, dict(w.parameters)])
print(json.dumps(out))
"#;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let spawned = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = spawned else {
        skip::skip(
            "werkzeug challenge parsing",
            &format!("{python} is not available"),
        );
        return None;
    };
    let input = serde_json::to_vec(challenges).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("ModuleNotFoundError") || stderr.contains("ImportError") {
            skip::skip(
                "werkzeug challenge parsing",
                &format!("{python} has no werkzeug >= 2.3 (pip install flask-jwt-extended==4.7.4)"),
            );
            return None;
        }
        panic!("werkzeug failed: {stderr}");
    }
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[tokio::test]
async fn a_client_library_reads_the_challenges() {
    let jwt = with_resource();
    let Some(parsed) = parse_with_werkzeug(&challenges(&jwt).await) else {
        return;
    };
    assert_eq!(
        parsed,
        json!([
            ["bearer", {"resource_metadata": METADATA}],
            ["bearer", {"error": "invalid_token", "resource_metadata": METADATA}],
            ["bearer", {"error": "insufficient_user_authentication", "resource_metadata": METADATA}],
            ["bearer", {"error": "insufficient_scope", "resource_metadata": METADATA}],
            ["bearer", {"error": "insufficient_scope", "scope": "orders:read orders:write", "resource_metadata": METADATA}],
        ])
    );
}
