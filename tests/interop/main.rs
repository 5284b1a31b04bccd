//! Interop with the real Flask-JWT-Extended 4.7 (Python): tokens issued here decode there
//! and the reverse, with the same secret.
//!
//! Needs `python3` with `flask-jwt-extended==4.7.4` (`.ci/run` installs it). Without it the
//! test fails under `CI=true` and prints why it was skipped otherwise. The example server's
//! interop test is in `tests/example_server`.

use std::time::Duration;

use serde_json::json;
use tower_jwt_auth::claims::{Freshness, TokenType};
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::{ErrorKind, JwtManager};

#[path = "../support/flask.rs"]
mod flask;

const SECRET: &str = "interop-secret-shared-with-flask-0123456789";

#[tokio::test]
async fn tokens_cross_between_rust_and_flask_jwt_extended() {
    let Some(python) = flask::python() else {
        return;
    };
    let m = JwtManager::builder().secret(SECRET).build().unwrap();

    // Rust → Flask.
    let access = m
        .create_access_token_with(42, TokenOptions::new().fresh(true))
        .unwrap();
    let refresh = m.create_refresh_token(42).unwrap();
    let fresh_for = m
        .create_access_token_with(
            "42",
            TokenOptions::new()
                .fresh(Duration::from_secs(300))
                .claim("role", "admin")
                .header("kid", "k1"),
        )
        .unwrap();
    let out = flask::run(&python, SECRET, "7", &[&access, &refresh, &fresh_for]);
    let decoded = out["decoded"].as_array().unwrap();
    for (d, (token, kind, fresh)) in decoded.iter().zip([
        (&access, "access", json!(true)),
        (&refresh, "refresh", json!(false)),
    ]) {
        assert!(d.get("error").is_none(), "Flask refused our token: {d}");
        let ours = m.decode_token(token).unwrap();
        let c = &d["claims"];
        assert_eq!(c["type"], kind);
        assert_eq!(c["fresh"], fresh);
        assert_eq!(c["sub"], "42");
        assert_eq!(c["jti"].as_str(), ours.jti());
        assert_eq!(c["exp"].as_f64(), ours.expires_at());
        // `iat` to the microsecond, `nbf` the whole second before it.
        assert_eq!(
            c["iat"].as_f64().unwrap().floor(),
            c["nbf"].as_f64().unwrap()
        );
        assert_eq!(c["iat"].as_f64(), ours.issued_at());
        assert_eq!(d["header"], json!({"alg": "HS256", "typ": "JWT"}));
    }
    let d = &decoded[2];
    assert!(d.get("error").is_none(), "Flask refused our token: {d}");
    assert_eq!(d["claims"]["role"], "admin");
    assert!(d["claims"]["fresh"].as_f64().unwrap() > d["claims"]["iat"].as_f64().unwrap());
    assert_eq!(d["header"]["kid"], "k1");

    // Flask → Rust, through the same checks the guards run.
    let created = &out["created"];
    let token = |name: &str| created[name].as_str().unwrap().to_owned();
    let access = m.verify_token(&token("access")).await.unwrap();
    assert_eq!(access.identity(), "7");
    assert_eq!(access.token_type(), &TokenType::Access);
    assert_eq!(access.freshness(), Freshness::NotFresh);
    assert!(access.jti().is_some());
    assert_eq!(
        m.verify_token(&token("fresh")).await.unwrap().freshness(),
        Freshness::Fresh
    );
    assert!(matches!(
        m.verify_token(&token("fresh_for"))
            .await
            .unwrap()
            .freshness(),
        Freshness::Until(_)
    ));
    assert_eq!(
        m.verify_token(&token("refresh"))
            .await
            .unwrap()
            .token_type(),
        &TokenType::Refresh
    );
    let extra = m.verify_token(&token("extra")).await.unwrap();
    assert_eq!(extra.claims_json()["role"], "admin");
    assert_eq!(extra.claims_json()["perms"], json!([1, 2]));
    assert_eq!(extra.header()["kid"], "k1");
    assert_eq!(
        m.verify_token(&token("expired")).await.unwrap_err().kind(),
        ErrorKind::Expired
    );

    // A Flask token on real routes of the guard layers.
    use http::Request;
    let req = |t: &str| {
        Request::get("/")
            .header("Authorization", format!("Bearer {t}"))
            .body(())
            .unwrap()
    };
    assert_eq!(
        m.verify_request(&req(&token("access")))
            .await
            .unwrap()
            .identity(),
        "7"
    );
    assert_eq!(
        m.verify_request(&req(&token("refresh")))
            .await
            .unwrap_err()
            .message(),
        "Only non-refresh tokens are allowed"
    );
}

/// Cookie mode, both ways: our cookies (token and CSRF value) on a Flask-JWT-Extended app
/// with `JWT_TOKEN_LOCATION = ["cookies"]`, and its cookies on our guards, with the right,
/// a wrong and no `X-CSRF-TOKEN` header.
#[tokio::test]
async fn cookie_mode_tokens_cross_with_their_csrf_claims() {
    use http::header::{COOKIE, SET_COOKIE};
    use http::{HeaderMap, Request};
    use tower_jwt_auth::manager::TokenLocation;

    let Some(python) = flask::python() else {
        return;
    };
    let m = JwtManager::builder()
        .secret(SECRET)
        .token_locations([TokenLocation::Cookies])
        .build()
        .unwrap();

    // Rust → Flask: the cookies our helpers set.
    let mut headers = HeaderMap::new();
    m.cookies()
        .set_access(&mut headers, &m.create_access_token(42).unwrap())
        .unwrap();
    m.cookies()
        .set_refresh(&mut headers, &m.create_refresh_token(42).unwrap())
        .unwrap();
    let ours = cookies_of(&headers);
    let input = json!({
        "secret": SECRET,
        "access": ours["access_token_cookie"],
        "access_csrf": ours["csrf_access_token"],
        "refresh": ours["refresh_token_cookie"],
        "refresh_csrf": ours["csrf_refresh_token"],
    });
    let out = flask::run_script(&python, "fje_cookies.py", &input);
    let r = &out["results"];
    for kind in ["access", "refresh"] {
        assert_eq!(
            r[format!("{kind}_right")],
            json!({"status": 200, "json": {"identity": "42"}}),
            "Flask refused our {kind} cookie"
        );
        assert_eq!(
            r[format!("{kind}_wrong")],
            json!({"status": 401, "json": {"msg": "CSRF double submit tokens do not match"}})
        );
        assert_eq!(
            r[format!("{kind}_none")],
            json!({"status": 401, "json": {"msg": "Missing CSRF token"}})
        );
    }

    // Flask → Rust: the cookies Flask-JWT-Extended set, on our guards.
    let mut flask_headers = HeaderMap::new();
    for value in out["set_cookie"].as_array().unwrap() {
        flask_headers.append(SET_COOKIE, value.as_str().unwrap().parse().unwrap());
    }
    let theirs = cookies_of(&flask_headers);
    let jar = theirs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    for (refresh, csrf_cookie) in [(false, "csrf_access_token"), (true, "csrf_refresh_token")] {
        let token = &theirs[if refresh {
            "refresh_token_cookie"
        } else {
            "access_token_cookie"
        }];
        let claims = m.decode_token(token).unwrap();
        assert_eq!(claims.csrf(), Some(theirs[csrf_cookie].as_str()));
        for (csrf, expected) in [
            (Some(theirs[csrf_cookie].as_str()), Ok("7")),
            (
                Some("not-the-csrf-value"),
                Err("CSRF double submit tokens do not match"),
            ),
            (None, Err("Missing CSRF token")),
        ] {
            let mut req = Request::post("/").header(COOKIE, &jar);
            if let Some(csrf) = csrf {
                req = req.header("X-CSRF-TOKEN", csrf);
            }
            let req = req.body(axum::body::Body::empty()).unwrap();
            let got = if refresh {
                guarded_identity(tower_jwt_auth::RefreshRequiredLayer::new(&m), req).await
            } else {
                guarded_identity(tower_jwt_auth::JwtRequiredLayer::new(&m), req).await
            };
            assert_eq!(got, expected.map(str::to_owned).map_err(str::to_owned));
        }
    }
}

/// `name → value` of the cookies set by these headers.
fn cookies_of(headers: &http::HeaderMap) -> std::collections::BTreeMap<String, String> {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| {
            let c = cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
            (c.name().to_owned(), c.value().to_owned())
        })
        .collect()
}

/// The identity a guard admits, or its rejection message.
async fn guarded_identity<L>(
    layer: L,
    req: http::Request<axum::body::Body>,
) -> Result<String, String>
where
    L: tower::Layer<
        tower::util::BoxCloneService<
            http::Request<tower_jwt_auth::guard::RequestBody<axum::body::Body>>,
            http::Response<axum::body::Body>,
            std::convert::Infallible,
        >,
    >,
    L::Service: tower::Service<
        http::Request<axum::body::Body>,
        Response = http::Response<tower_jwt_auth::guard::ResponseBody<axum::body::Body>>,
        Error = std::convert::Infallible,
    >,
{
    use tower::ServiceExt;
    let inner = tower::util::BoxCloneService::new(tower::service_fn(
        |req: http::Request<tower_jwt_auth::guard::RequestBody<axum::body::Body>>| async move {
            let id = req
                .extensions()
                .get::<tower_jwt_auth::VerifiedToken>()
                .map(|t| t.identity().to_owned())
                .unwrap_or_default();
            Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::from(id)))
        },
    ));
    let res = layer.layer(inner).oneshot(req).await.unwrap();
    match res.extensions().get::<tower_jwt_auth::AuthError>() {
        Some(err) => Err(err.message().to_owned()),
        None => {
            let bytes = http_body_util::BodyExt::collect(res.into_body())
                .await
                .unwrap()
                .to_bytes();
            Ok(String::from_utf8(bytes.to_vec()).unwrap())
        }
    }
}
