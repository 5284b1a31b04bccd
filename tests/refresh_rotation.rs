//! Refresh-token rotation with reuse detection and sessions, against the in-process store:
//! rotate twice, the previous token within the grace, a spent token after it (the whole
//! session refused), a new login is a new session, concurrent refreshes, rotation off,
//! sessions listed and ended, logout, cookie mode, legacy refresh tokens.
#![cfg(feature = "testing")]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::claims::Subject;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::service::AuthService;
use tower_jwt_auth::sessions::{MemorySessionStore, SessionStore};
use tower_jwt_auth::testing::{insecure_fast_password_hasher, InsecureTestUsers, TestClock};
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

const SECRET: &str = "refresh-rotation-test-secret-0123456789abcdef";

struct World {
    clock: TestClock,
    jwt: JwtManager,
    auth: AuthService<InsecureTestUsers>,
}

fn world_with(rotation: Option<Box<dyn FnOnce() -> MemorySessionStore>>) -> World {
    let clock = TestClock::new();
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .clock(clock.clone())
        .build()
        .unwrap();
    let users = InsecureTestUsers::new()
        .with_user("ada@example.com", "1", "correct horse")
        .with_user("bob@example.com", "2", "battery staple");
    let mut auth =
        AuthService::builder(&jwt, users).password_hasher(insecure_fast_password_hasher());
    if let Some(store) = rotation {
        auth = auth.refresh_rotation(store());
    }
    World {
        clock,
        jwt,
        auth: auth.build(),
    }
}

fn world() -> World {
    world_with(Some(Box::new(MemorySessionStore::new)))
}

struct Reply {
    status: StatusCode,
    body: Value,
}

async fn call(auth: &AuthService<InsecureTestUsers>, req: Request<Full<Bytes>>) -> Reply {
    let res = auth.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn login(w: &World, email: &str, password: &str) -> (String, String) {
    let req = Request::post("/token")
        .header("content-type", "application/json")
        .header("user-agent", "rotation-test/1.0")
        .body(Full::from(format!(
            r#"{{"email":"{email}","password":"{password}"}}"#
        )))
        .unwrap();
    let reply = call(&w.auth, req).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    (
        reply.body["access_token"].as_str().unwrap().to_owned(),
        reply.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn ada(w: &World) -> (String, String) {
    login(w, "ada@example.com", "correct horse").await
}

async fn refresh(w: &World, token: &str) -> Reply {
    let req = Request::post("/refresh")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    call(&w.auth, req).await
}

/// A refresh that must rotate: the new access and refresh tokens.
async fn rotate(w: &World, token: &str) -> (String, String) {
    let reply = refresh(w, token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    (
        reply.body["access_token"].as_str().unwrap().to_owned(),
        reply.body["refresh_token"]
            .as_str()
            .expect("a new refresh token")
            .to_owned(),
    )
}

async fn ok<B>(_: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::from("ok")))
}

/// What a guarded route answers to an access token: 200, or the message.
async fn access(w: &World, token: &str) -> Result<(), String> {
    let svc = JwtRequiredLayer::new(&w.jwt).layer(service_fn(ok));
    let req = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    if res.status() == StatusCode::OK {
        return Ok(());
    }
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    Err(body["msg"].as_str().unwrap().to_owned())
}

fn revoked() -> Result<(), String> {
    Err("Token has been revoked".to_owned())
}

#[tokio::test]
async fn rotates_twice_and_the_tokens_carry_their_session() {
    let w = world();
    let (access0, r0) = ada(&w).await;
    let sid = w
        .jwt
        .decode_token(&r0)
        .unwrap()
        .session()
        .unwrap()
        .to_owned();
    assert_eq!(
        w.jwt.decode_token(&access0).unwrap().session(),
        Some(sid.as_str())
    );
    // Flask-JWT-Extended reads it as one more claim.
    assert_eq!(
        w.jwt.decode_token(&r0).unwrap().claims_json()["sid"],
        sid.as_str()
    );

    let (a1, r1) = rotate(&w, &r0).await;
    let (a2, r2) = rotate(&w, &r1).await;
    for token in [&a1, &r1, &a2, &r2] {
        assert_eq!(
            w.jwt.decode_token(token).unwrap().session(),
            Some(sid.as_str())
        );
    }
    assert_ne!(r1, r2);
    assert_eq!(access(&w, &a2).await, Ok(()));
    assert!(
        !w.jwt.decode_token(&a2).unwrap().is_fresh(),
        "a refreshed token is not fresh"
    );
}

#[tokio::test]
async fn the_previous_token_within_the_grace_answers_the_current_one() {
    let w = world();
    let (_, r0) = ada(&w).await;
    let (_, r1) = rotate(&w, &r0).await;
    w.clock.advance(Duration::from_secs(9));

    // Another tab presents r0 again within the grace: 200 with a working refresh token of
    // the session (the current one's jti), no alarm.
    let (a_again, r_again) = rotate(&w, &r0).await;
    let current = w.jwt.decode_token(&r1).unwrap();
    let again = w.jwt.decode_token(&r_again).unwrap();
    assert_eq!(again.jti(), current.jti());
    assert_eq!(again.session(), current.session());
    assert_eq!(access(&w, &a_again).await, Ok(()));

    // The session lives on: both tabs go on refreshing from the current token.
    let (a2, r2) = rotate(&w, &r_again).await;
    assert_eq!(access(&w, &a2).await, Ok(()));
    assert_eq!(
        w.jwt.decode_token(&r2).unwrap().session(),
        current.session()
    );
}

#[tokio::test]
async fn a_spent_token_after_the_grace_revokes_the_whole_session() {
    let w = world();
    let (a0, r0) = ada(&w).await;
    let (a1, r1) = rotate(&w, &r0).await;
    let (a2, r2) = rotate(&w, &r1).await;
    w.clock.advance(Duration::from_secs(11));

    // r1 was spent more than the grace ago (and r0 is older still): a reuse.
    let reply = refresh(&w, &r1).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["msg"], "Token has been revoked");

    // The latest refresh token and every access token of the session are refused.
    assert_eq!(refresh(&w, &r2).await.body["msg"], "Token has been revoked");
    for token in [&a0, &a1, &a2] {
        assert_eq!(access(&w, token).await, revoked());
    }
    assert_eq!(refresh(&w, &r0).await.status, StatusCode::UNAUTHORIZED);
    assert!(w
        .auth
        .sessions()
        .unwrap()
        .list(Subject::local("1"))
        .await
        .unwrap()
        .is_empty());

    // A new login is a new session, untouched by the old one's revocation.
    let (a3, r3) = ada(&w).await;
    assert_ne!(
        w.jwt.decode_token(&r3).unwrap().session(),
        w.jwt.decode_token(&r2).unwrap().session()
    );
    assert_eq!(access(&w, &a3).await, Ok(()));
    rotate(&w, &r3).await;
}

#[tokio::test]
async fn an_older_spent_token_is_a_reuse_even_within_the_grace() {
    let w = world();
    let (_, r0) = ada(&w).await;
    let (_, r1) = rotate(&w, &r0).await;
    let (a2, _) = rotate(&w, &r1).await;
    // r0 is two rotations old: only the token just before the current one has a grace.
    assert_eq!(refresh(&w, &r0).await.body["msg"], "Token has been revoked");
    assert_eq!(access(&w, &a2).await, revoked());
}

#[tokio::test]
async fn a_grace_of_zero_makes_every_reuse_an_alarm() {
    let clock = TestClock::new();
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .clock(clock.clone())
        .build()
        .unwrap();
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "correct horse");
    let auth = AuthService::builder(&jwt, users)
        .password_hasher(insecure_fast_password_hasher())
        .refresh_rotation(MemorySessionStore::new())
        .reuse_grace(Duration::ZERO)
        .build();
    let w = World { clock, jwt, auth };
    let (_, r0) = ada(&w).await;
    let (a1, _) = rotate(&w, &r0).await;
    w.clock.advance(Duration::from_millis(1));
    assert_eq!(refresh(&w, &r0).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(access(&w, &a1).await, revoked());
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_all_succeed() {
    let w = world();
    let (_, r0) = ada(&w).await;
    let replies = futures_join(&w, &r0, 4).await;
    let mut jtis = Vec::new();
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let token = w
            .jwt
            .decode_token(reply.body["refresh_token"].as_str().unwrap())
            .unwrap();
        jtis.push(token.jti().unwrap().to_owned());
        assert_eq!(
            access(&w, reply.body["access_token"].as_str().unwrap()).await,
            Ok(())
        );
    }
    // One rotation happened; the others got the same current token.
    jtis.dedup();
    assert_eq!(jtis.len(), 1, "{jtis:?}");
    assert_eq!(
        w.auth
            .sessions()
            .unwrap()
            .list(Subject::local("1"))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn futures_join(w: &World, token: &str, n: usize) -> Vec<Reply> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let auth = w.auth.clone();
        let req = Request::post("/refresh")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::<Bytes>::default())
            .unwrap();
        tasks.spawn(async move { call(&auth, req).await });
    }
    let mut replies = Vec::new();
    while let Some(reply) = tasks.join_next().await {
        replies.push(reply.unwrap());
    }
    replies
}

#[tokio::test]
async fn rotation_off_keeps_the_refresh_token_reusable() {
    let w = world_with(None);
    let (_, r0) = ada(&w).await;
    assert!(w.jwt.decode_token(&r0).unwrap().session().is_none());
    for _ in 0..3 {
        let reply = refresh(&w, &r0).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body.get("refresh_token").is_none(), "{}", reply.body);
        w.clock.advance(Duration::from_secs(60));
    }
    assert!(w.auth.sessions().is_none());
}

#[tokio::test]
async fn two_logins_are_two_sessions_and_ending_one_leaves_the_other() {
    let w = world();
    let (a_one, r_one) = ada(&w).await;
    w.clock.advance(Duration::from_secs(1));
    let (a_two, r_two) = ada(&w).await;
    let (_bob_access, _) = login(&w, "bob@example.com", "battery staple").await;

    let sessions = w.auth.sessions().unwrap();
    let listed = sessions.list(Subject::local("1")).await.unwrap();
    assert_eq!(listed.len(), 2);
    let one = w
        .jwt
        .decode_token(&r_one)
        .unwrap()
        .session()
        .unwrap()
        .to_owned();
    let two = w
        .jwt
        .decode_token(&r_two)
        .unwrap()
        .session()
        .unwrap()
        .to_owned();
    assert_eq!(listed[0].id, one);
    assert_eq!(listed[1].id, two);
    assert_eq!(listed[0].user_agent.as_deref(), Some("rotation-test/1.0"));
    assert!(listed[0].created_at < listed[1].created_at);

    // Another identity cannot end it.
    assert!(!sessions.end(Subject::local("2"), &one).await.unwrap());
    assert_eq!(access(&w, &a_one).await, Ok(()));

    assert!(sessions.end(Subject::local("1"), &one).await.unwrap());
    assert_eq!(access(&w, &a_one).await, revoked());
    assert_eq!(
        refresh(&w, &r_one).await.body["msg"],
        "Token has been revoked"
    );
    assert_eq!(access(&w, &a_two).await, Ok(()));
    rotate(&w, &r_two).await;
    let left: Vec<String> = sessions
        .list(Subject::local("1"))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![two.clone()]);
    assert_eq!(sessions.list(Subject::local("2")).await.unwrap().len(), 1);

    // A password change may end every other session.
    let (a_three, _) = ada(&w).await;
    assert_eq!(
        sessions
            .end_all_except(Subject::local("1"), Some(&two))
            .await
            .unwrap(),
        1
    );
    assert_eq!(access(&w, &a_three).await, revoked());
    assert_eq!(sessions.list(Subject::local("1")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn last_refreshed_moves_with_each_rotation() {
    let w = world();
    let (_, r0) = ada(&w).await;
    w.clock.advance(Duration::from_secs(30));
    rotate(&w, &r0).await;
    let s = &w
        .auth
        .sessions()
        .unwrap()
        .list(Subject::local("1"))
        .await
        .unwrap()[0];
    assert_eq!(
        s.last_refreshed_at.duration_since(s.created_at).unwrap(),
        Duration::from_secs(30)
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let w = world();
    let (a0, r0) = ada(&w).await;
    let (a1, _r1) = rotate(&w, &r0).await;
    let req = Request::post("/revoke")
        .header("authorization", format!("Bearer {a1}"))
        .body(Full::default())
        .unwrap();
    assert_eq!(call(&w.auth, req).await.status, StatusCode::OK);
    assert_eq!(access(&w, &a0).await, revoked());
    assert!(w
        .auth
        .sessions()
        .unwrap()
        .list(Subject::local("1"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_refresh_token_from_before_rotation_starts_a_session_and_is_spent() {
    let w = world();
    let legacy = w.jwt.create_refresh_token("1").unwrap();
    let (access_token, r1) = rotate(&w, &legacy).await;
    assert!(w.jwt.decode_token(&r1).unwrap().session().is_some());
    assert_eq!(access(&w, &access_token).await, Ok(()));
    assert_eq!(
        refresh(&w, &legacy).await.body["msg"],
        "Token has been revoked"
    );
    rotate(&w, &r1).await;
}

#[tokio::test]
async fn cookie_mode_replaces_the_refresh_cookie() {
    let clock = TestClock::new();
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .clock(clock.clone())
        .token_locations([TokenLocation::Cookies])
        .build()
        .unwrap();
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "correct horse");
    let auth = AuthService::builder(&jwt, users)
        .password_hasher(insecure_fast_password_hasher())
        .refresh_rotation(MemorySessionStore::new())
        .build();
    let res = auth
        .clone()
        .oneshot(
            Request::post("/token")
                .header("content-type", "application/json")
                .body(Full::<Bytes>::from(
                    r#"{"email":"ada@example.com","password":"correct horse"}"#,
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    let cookies = |res: &Response<_>| -> Vec<(String, String)> {
        res.headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| {
                let c = cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
                (c.name().to_owned(), c.value().to_owned())
            })
            .collect()
    };
    let find = |set: &[(String, String)], name: &str| {
        set.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let set = cookies(&res);
    let refresh0 = find(&set, "refresh_token_cookie");
    let csrf0 = find(&set, "csrf_refresh_token");
    let res = auth
        .clone()
        .oneshot(
            Request::post("/refresh")
                .header(COOKIE, format!("refresh_token_cookie={refresh0}"))
                .header("X-CSRF-TOKEN", csrf0)
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let set = cookies(&res);
    let refresh1 = find(&set, "refresh_token_cookie");
    assert_ne!(refresh1, refresh0);
    let (t0, t1) = (
        jwt.decode_token(&refresh0).unwrap(),
        jwt.decode_token(&refresh1).unwrap(),
    );
    assert_eq!(t0.session(), t1.session());
    assert!(set.iter().any(|(n, _)| n == "access_token_cookie"));
}

#[tokio::test]
async fn the_store_is_atomic_under_contention() {
    // Many tasks present the current token at once: exactly one rotates.
    let store = MemorySessionStore::new();
    let now = std::time::SystemTime::now();
    let session = tower_jwt_auth::sessions::Session::new("s", "ada", now);
    store.start(&session, "j0", None).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let next = format!("j{}", i + 1);
            store
                .rotate(tower_jwt_auth::sessions::Rotate {
                    session: "s",
                    identity: "ada",
                    presented: "j0",
                    next: &next,
                    now,
                    grace: Duration::from_secs(10),
                    until: None,
                })
                .await
                .unwrap()
        });
    }
    let mut rotated = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            tower_jwt_auth::sessions::Rotation::Rotated => rotated += 1,
            tower_jwt_auth::sessions::Rotation::Concurrent { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(rotated, 1);
}

#[tokio::test]
async fn an_implicitly_refreshed_access_cookie_stays_in_its_session() {
    let clock = TestClock::new();
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .clock(clock.clone())
        .token_locations([TokenLocation::Cookies])
        .access_token_lifetime(Duration::from_secs(900))
        .implicit_refresh_within(Duration::from_secs(300))
        .build()
        .unwrap();
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "correct horse");
    let auth = AuthService::builder(&jwt, users)
        .password_hasher(insecure_fast_password_hasher())
        .refresh_rotation(MemorySessionStore::new())
        .build();
    let w = World { clock, jwt, auth };
    let res = w
        .auth
        .clone()
        .oneshot(
            Request::post("/token")
                .header("content-type", "application/json")
                .body(Full::<Bytes>::from(
                    r#"{"email":"ada@example.com","password":"correct horse"}"#,
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    let cookie_of = |res: &Response<_>, name: &str| -> Option<String> {
        res.headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    };
    let access = cookie_of(&res, "access_token_cookie").unwrap();
    let sid = w
        .jwt
        .decode_token(&access)
        .unwrap()
        .session()
        .unwrap()
        .to_owned();

    // Near expiry, a guarded request answers with a new access cookie of the same session.
    w.clock.advance(Duration::from_secs(700));
    let guarded = JwtRequiredLayer::new(&w.jwt).layer(service_fn(ok));
    let res = guarded
        .clone()
        .oneshot(
            Request::get("/")
                .header(COOKIE, format!("access_token_cookie={access}"))
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed = cookie_of(&res, "access_token_cookie").expect("an implicit refresh");
    assert_ne!(refreshed, access);
    assert_eq!(
        w.jwt.decode_token(&refreshed).unwrap().session(),
        Some(sid.as_str())
    );

    // Ending the session refuses the refreshed token too.
    assert!(w
        .auth
        .sessions()
        .unwrap()
        .end(Subject::local("1"), &sid)
        .await
        .unwrap());
    let res = guarded
        .oneshot(
            Request::get("/")
                .header(COOKIE, format!("access_token_cookie={refreshed}"))
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
