//! Interop with the real Flask-JWT-Extended 4.7 (Python): tokens issued here decode there
//! and the reverse, with the same secret.
//!
//! Needs `python3` with `flask-jwt-extended==4.7.4` (`.ci/run` installs it). Without it the
//! test fails under `CI=true` and prints why it was skipped otherwise. The example server's
//! interop test is in `tests/example_server`.

use std::time::Duration;

use serde_json::json;
use tower_jwt_auth::{ErrorKind, Freshness, JwtManager, TokenOptions, TokenType};

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
