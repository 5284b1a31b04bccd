//! Case 36: refresh-token rotation with reuse detection.

use std::time::Duration;

use tower_jwt_auth::service::AuthService;
use tower_jwt_auth::sessions::MemorySessionStore;

use crate::harness::*;

/// `/auth/refresh` with `token`, outside the group: its answer carries new tokens, which
/// the leak check would otherwise find in a body once they are presented themselves.
async fn refresh(app: &axum::Router, token: &str) -> (http::StatusCode, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let res = app
        .clone()
        .oneshot(post_json("/auth/refresh", Some(token), ""))
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The refresh and access tokens of a `/auth/refresh` answer.
fn tokens(body: &str) -> (String, String) {
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn refresh_rotation_reuse() {
    let g = Group::new();
    let jwt = builder().build().unwrap();
    let with_grace = |grace| {
        let auth = AuthService::builder(&jwt, users())
            .refresh_rotation(MemorySessionStore::new())
            .reuse_grace(grace)
            .build();
        app_with(&jwt, auth)
    };
    // No grace: every reuse is one. (A refresh token from before rotation starts a session,
    // which spares an Argon2 login here.)
    let app = with_grace(Duration::ZERO);
    let legacy = jwt.create_refresh_token("1").unwrap();
    let (status, body) = refresh(&app, &legacy).await;
    assert_eq!(status, 200, "{body}");
    let (_, r1) = tokens(&body);
    let (status, body) = refresh(&app, &r1).await;
    assert_eq!(status, 200, "{body}");
    let (a2, r2) = tokens(&body);
    g.case(
        36,
        "access token of the session",
        &app,
        bearer("/access", &a2),
        200,
        "",
    )
    .await;

    g.case(
        36,
        "a used refresh token presented again",
        &app,
        post_json("/auth/refresh", Some(&r1), ""),
        401,
        "Token has been revoked",
    )
    .await;
    g.case(
        36,
        "the family's latest refresh token, after the reuse",
        &app,
        post_json("/auth/refresh", Some(&r2), ""),
        401,
        "Token has been revoked",
    )
    .await;
    g.case(
        36,
        "the family's access token, after the reuse",
        &app,
        bearer("/access", &a2),
        401,
        "Token has been revoked",
    )
    .await;

    // Two parallel refreshes of one token: at most one succeeds.
    let legacy = jwt.create_refresh_token("1").unwrap();
    let (_, body) = refresh(&app, &legacy).await;
    let (_, r) = tokens(&body);
    let (one, two) = tokio::join!(refresh(&app, &r), refresh(&app, &r),);
    let succeeded = [&one, &two].iter().filter(|(s, _)| *s == 200).count();
    assert!(succeeded <= 1, "case 36: {one:?} {two:?}");
    for (status, body) in [&one, &two] {
        if *status != 200 {
            assert_eq!(
                (status.as_u16(), body.as_str()),
                (401, r#"{"msg":"Token has been revoked"}"#),
                "case 36 (the parallel refresh that lost)"
            );
        }
    }

    // With the default grace (issue #17), parallel refreshes all answer 200, but only one
    // rotates: both get the session's one current refresh token.
    let app = with_grace(Duration::from_secs(10));
    let legacy = jwt.create_refresh_token("1").unwrap();
    let (_, body) = refresh(&app, &legacy).await;
    let (_, r) = tokens(&body);
    let (one, two) = tokio::join!(refresh(&app, &r), refresh(&app, &r),);
    assert_eq!(
        (one.0.as_u16(), two.0.as_u16()),
        (200, 200),
        "{one:?} {two:?}"
    );
    let jti = |body: &str| {
        jwt.decode_token(&tokens(body).1)
            .unwrap()
            .jti()
            .unwrap()
            .to_owned()
    };
    assert_eq!(jti(&one.1), jti(&two.1), "case 36: one rotation");

    g.assert_no_leaks();
}
