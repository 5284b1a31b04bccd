//! Where an outside issuer's tokens meet the crate's other features (issue #20): such a token
//! is a non-fresh access token whatever its claims say, its identity is namespaced by its
//! issuer, and no first-party token is ever minted from it. The issuer runs in the test
//! process (tests/support/jwks_idp.rs): no Python.
#![cfg(all(feature = "jwks", feature = "testing"))]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::claims::{Freshness, Subject, TokenType};
use tower_jwt_auth::jwks::RemoteJwks;
use tower_jwt_auth::manager::{RevokeError, TokenLocation};
use tower_jwt_auth::service::AuthService;
use tower_jwt_auth::testing;
use tower_jwt_auth::testing::InsecureTestUsers;
use tower_jwt_auth::{
    AuthError, ErrorKind, FreshRequiredLayer, JwtManager, JwtRequiredLayer, RefreshRequiredLayer,
    VerifiedToken,
};

#[path = "support/jwks_idp.rs"]
mod idp;
use idp::{Idp, ISSUER};

const SECRET: &str = "outside-tokens-test-secret-0123456789abcdef";

async fn remote(issuer: &Idp, trust_claims: bool) -> RemoteJwks {
    let remote = RemoteJwks::builder(issuer.url("/jwks.json"))
        .issuer(ISSUER)
        .trust_token_claims(trust_claims)
        .build()
        .unwrap();
    // One fetch now; no periodic refresh (nothing here needs one).
    remote.refresh().await.unwrap();
    remote
}

async fn setup() -> (Idp, JwtManager) {
    let issuer = idp::start_es256().await;
    let remote = remote(&issuer, false).await;
    let m = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&remote)
        .build()
        .unwrap();
    (issuer, m)
}

async fn who<B>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let token = req.extensions().get::<VerifiedToken>().unwrap();
    Ok(Response::new(Full::from(token.identity().to_owned())))
}

/// The auth service of `m`, with the test kit's fast hasher and no users.
fn auth_service(m: &JwtManager) -> AuthService<InsecureTestUsers> {
    AuthService::builder(m, InsecureTestUsers::new())
        .password_hasher(testing::insecure_fast_password_hasher())
        .build()
}

/// `POST path` to the auth service with `token` as the bearer: status and JSON body.
async fn post(
    auth: &AuthService<InsecureTestUsers>,
    path: &str,
    token: &str,
) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::<Bytes>::default())
        .unwrap();
    let res = auth.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn bearer(token: &str) -> Request<Full<Bytes>> {
    Request::post("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

macro_rules! guarded {
    ($layer:expr, $req:expr) => {{
        let res = $layer.layer(service_fn(who)).oneshot($req).await.unwrap();
        let status = res.status();
        let err = res.extensions().get::<AuthError>().cloned();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        match err {
            None => Ok::<_, (StatusCode, String)>(String::from_utf8(body.to_vec()).unwrap()),
            Some(err) => Err((status, err.message().to_owned())),
        }
    }};
}

#[tokio::test]
async fn outside_claims_of_type_and_freshness_are_not_believed() {
    let (_issuer, m) = setup().await;
    let refresh = idp::token("1", json!({"type": "refresh", "jti": "r-1"}));
    let fresh = idp::token("1", json!({"fresh": true, "jti": "f-1"}));

    let verified = m.verify_token(&refresh).await.unwrap();
    assert_eq!(verified.token_type(), &TokenType::Access);
    assert!(verified.is_external());
    assert_eq!(verified.issuer(), Some(ISSUER));
    assert_eq!(verified.local_identity(), None);
    assert_eq!(verified.subject(), Subject::external(ISSUER, "1"));
    assert_ne!(verified.subject(), Subject::local("1"));

    // Not a refresh token, whatever it says; an access token for access routes.
    assert_eq!(
        guarded!(RefreshRequiredLayer::new(&m), bearer(&refresh)),
        Err((
            StatusCode::UNAUTHORIZED,
            "Only refresh tokens are allowed".into()
        ))
    );
    assert_eq!(
        guarded!(JwtRequiredLayer::new(&m), bearer(&refresh)).unwrap(),
        "1"
    );

    // Never fresh.
    let verified = m.verify_token(&fresh).await.unwrap();
    assert_eq!(verified.freshness(), Freshness::NotFresh);
    assert_eq!(
        guarded!(FreshRequiredLayer::new(&m), bearer(&fresh)),
        Err((StatusCode::UNAUTHORIZED, "Fresh token required".into()))
    );
    // Its `csrf` and `sid` claims are not believed either.
    let claimed = idp::token("1", json!({"csrf": "x", "sid": "s"}));
    let verified = m.verify_token(&claimed).await.unwrap();
    assert_eq!(verified.csrf(), None);
    assert_eq!(verified.session(), None);
}

#[tokio::test]
async fn a_sibling_trusted_with_its_claims_is_believed_but_never_refreshed_here() {
    let issuer = idp::start_es256().await;
    let remote = remote(&issuer, true).await;
    let m = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&remote)
        .build()
        .unwrap();
    let refresh = idp::token("1", json!({"type": "refresh", "jti": "r-1"}));
    let fresh = idp::token("1", json!({"fresh": true, "jti": "f-1"}));
    assert_eq!(
        guarded!(RefreshRequiredLayer::new(&m), bearer(&refresh)).unwrap(),
        "1"
    );
    assert_eq!(
        guarded!(FreshRequiredLayer::new(&m), bearer(&fresh)).unwrap(),
        "1"
    );
    // Still namespaced, and the auth service mints nothing from it.
    assert_eq!(
        m.verify_token(&refresh).await.unwrap().local_identity(),
        None
    );
    let auth = auth_service(&m);
    assert_eq!(
        post(&auth, "/refresh", &refresh).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Only refresh tokens are allowed"})
        )
    );
}

#[tokio::test]
async fn the_auth_service_mints_nothing_from_an_outside_refresh_token() {
    let (_issuer, m) = setup().await;
    let auth = auth_service(&m);
    let refresh = idp::token("1", json!({"type": "refresh", "jti": "r-2"}));
    assert_eq!(
        post(&auth, "/refresh", &refresh).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Only refresh tokens are allowed"})
        )
    );
}

#[tokio::test]
async fn identities_and_jtis_are_namespaced_by_issuer() {
    let (_issuer, m) = setup().await;
    // A local token and an outside one with the same `sub` and the same `jti`.
    let outside = idp::token("1", json!({"jti": "shared-jti"}));
    let local = testing::token(&m, "1").mint();
    let local_verified = m.verify_token(&local).await.unwrap();
    let outside_verified = m.verify_token(&outside).await.unwrap();

    // Revoking all of local user 1's tokens leaves the outside "1" alone, and back.
    m.revoke_all(Subject::local("1")).await.unwrap();
    assert_eq!(
        m.verify_token(&local).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
    m.verify_token(&outside).await.unwrap();
    let local2 = testing::token(&m, "1").mint();
    m.revoke_all(&outside_verified).await.unwrap();
    assert_eq!(
        m.verify_token(&outside).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
    m.verify_token(&local2).await.unwrap();

    // Revoking an outside token by its `jti` does not revoke a local token with that `jti`
    // (the denylist sees it under its issuer's name).
    let (_issuer2, m2) = setup().await;
    // The shared `jti` is a canonical uuid (the form the in-process denylist keeps packed).
    let uuid_jti = local_verified.jti().unwrap();
    let outside_token = idp::token("2", json!({"jti": uuid_jti}));
    let outside = m2.verify_token(&outside_token).await.unwrap();
    m2.revoke(&outside).await.unwrap();
    // The outside token is refused, by the manager and by a guard (the synchronous check);
    // a local token with that very `jti` is not.
    assert_eq!(
        m2.verify_token(&outside_token).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
    let guard = JwtRequiredLayer::new(&m2).layer(service_fn(who));
    let req = |token: &str| {
        Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    let res = guard.clone().oneshot(req(&outside_token)).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let same_jti_local = testing::token(&m2, "2").claim("jti", uuid_jti).mint();
    m2.verify_token(&same_jti_local).await.unwrap();
    let res = guard.oneshot(req(&same_jti_local)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let answer = m2
        .denylist()
        .is_revoked_now(tower_jwt_auth::denylist::TokenId::new(
            local_verified.jti().unwrap(),
            "1",
            0.0,
        ));
    assert!(matches!(answer, Some(Ok(false))), "{answer:?}");
}

#[tokio::test]
async fn an_outside_token_without_jti_cannot_be_revoked_alone_and_says_so() {
    let (_issuer, m) = setup().await;
    let token = idp::token("1", json!({}));
    let verified = m.verify_token(&token).await.unwrap();
    assert!(matches!(m.revoke(&verified).await, Err(RevokeError::NoJti)));
    let auth = auth_service(&m);
    let (status, body) = post(&auth, "/revoke", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["msg"].as_str().unwrap().contains("jti"), "{body}");

    // With a `jti` it is revoked: 200, then refused.
    let token = idp::token("1", json!({"jti": "outside-1"}));
    assert_eq!(post(&auth, "/revoke", &token).await.0, StatusCode::OK);
    assert_eq!(
        m.verify_token(&token).await.unwrap_err().kind(),
        ErrorKind::Revoked
    );
}

#[tokio::test]
async fn the_user_lookup_is_not_asked_about_outside_identities_unless_it_maps_them() {
    let issuer = idp::start_es256().await;
    let remote = remote(&issuer, false).await;
    let asked = Arc::new(AtomicUsize::new(0));
    let lookup = |asked: Arc<AtomicUsize>| {
        move |token: &VerifiedToken| {
            asked.fetch_add(1, Ordering::SeqCst);
            // A hook written for local tokens: user "1" exists.
            let user =
                (token.identity() == "1").then(|| format!("local user {}", token.identity()));
            std::future::ready(user)
        }
    };
    let m = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&remote)
        .user_lookup(lookup(asked.clone()))
        .build()
        .unwrap();
    let outside = idp::token("1", json!({"jti": "o-1"}));
    let err = m.verify_token(&outside).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UserLookup);
    assert_eq!(asked.load(Ordering::SeqCst), 0);
    let local = testing::token(&m, "1").mint();
    let verified = m.verify_token(&local).await.unwrap();
    assert_eq!(verified.user::<String>().unwrap(), "local user 1");
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    // Opted in: the hook is asked, and sees the issuer.
    let mapping = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&remote)
        .user_lookup(|token: &VerifiedToken| {
            std::future::ready(
                (token.subject() == Subject::external(ISSUER, "1"))
                    .then(|| "mapped outside user".to_string()),
            )
        })
        .user_lookup_for_external_tokens(true)
        .build()
        .unwrap();
    let verified = mapping.verify_token(&outside).await.unwrap();
    assert_eq!(verified.user::<String>().unwrap(), "mapped outside user");
}

#[tokio::test]
async fn no_access_cookie_is_minted_from_an_outside_token_near_expiry() {
    let issuer = idp::start_es256().await;
    let remote = remote(&issuer, false).await;
    let m = JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(&remote)
        .token_locations([TokenLocation::Cookies])
        .implicit_refresh_within(Duration::from_secs(300))
        .build()
        .unwrap();
    let with_cookie = |token: &str| {
        Request::get("/")
            .header(COOKIE, format!("access_token_cookie={token}"))
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    let near_expiry = idp::token("1", json!({"exp": idp::now() + 60}));
    let svc = JwtRequiredLayer::new(&m).layer(service_fn(who));
    let res = svc
        .clone()
        .oneshot(with_cookie(&near_expiry))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get(SET_COOKIE).is_none(),
        "an access cookie was minted from an outside token"
    );
    // A local token near expiry still gets one.
    let local = testing::token(&m, "1")
        .lifetime(Duration::from_secs(60))
        .mint();
    let res = svc.clone().oneshot(with_cookie(&local)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(SET_COOKIE).is_some());

    // Its `csrf` claim is not believed: a POST with the matching header is refused.
    let with_csrf = idp::token("1", json!({"csrf": "chosen-by-the-issuer"}));
    let post = Request::post("/")
        .header(COOKIE, format!("access_token_cookie={with_csrf}"))
        .header("x-csrf-token", "chosen-by-the-issuer")
        .body(Full::<Bytes>::default())
        .unwrap();
    let res = svc.oneshot(post).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.extensions().get::<AuthError>().unwrap().message(),
        "Missing claim: csrf"
    );
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn the_axum_identity_extractor_never_hands_out_an_outside_sub() {
    use tower_jwt_auth::axum::Identity;
    let (_issuer, m) = setup().await;
    let app = axum::Router::new()
        .route(
            "/mine",
            axum::routing::get(|Identity(id): Identity| async move { id }),
        )
        .route(
            "/maybe",
            axum::routing::get(|id: Option<Identity>| async move {
                id.map_or("none".to_owned(), |Identity(id)| id)
            }),
        )
        .route_layer(JwtRequiredLayer::new(&m));
    let call = |path: &'static str, token: String| {
        let app = app.clone();
        async move {
            let req = Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let body = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let outside = idp::token("1", json!({}));
    let local = testing::token(&m, "1").mint();
    assert_eq!(
        call("/mine", local.clone()).await,
        (StatusCode::OK, "1".into())
    );
    let (status, body) = call("/mine", outside.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("outside issuer"), "{body}");
    assert_eq!(call("/maybe", local).await.1, "1");
    assert_eq!(call("/maybe", outside).await.1, "none");
}

#[cfg(feature = "tonic")]
#[tokio::test]
async fn tonic_requests_name_no_local_identity_for_an_outside_token() {
    use tower_jwt_auth::tonic::RequestExt;
    let (_issuer, m) = setup().await;
    let outside = m.verify_token(&idp::token("1", json!({}))).await.unwrap();
    let mut req = tonic::Request::new(());
    req.extensions_mut().insert(outside);
    assert_eq!(req.identity(), None);
    assert_eq!(req.subject(), Some(Subject::external(ISSUER, "1")));
    let local = m
        .verify_token(&testing::token(&m, "1").mint())
        .await
        .unwrap();
    let mut req = tonic::Request::new(());
    req.extensions_mut().insert(local);
    assert_eq!(req.identity(), Some("1"));
}

#[tokio::test]
async fn no_local_identity_can_spell_an_outside_one() {
    let (_issuer, m) = setup().await;
    // The name an outside subject is kept under, spelled as a local identity.
    let spelled = Subject::external(ISSUER, "1").key().into_owned();
    assert!(matches!(
        m.create_access_token(&spelled),
        Err(tower_jwt_auth::issue::IssueError::InvalidIdentity)
    ));
    // Nor signed by hand with the manager's secret (say, by a Flask peer).
    let now = idp::now();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": spelled.clone(), "iat": now, "exp": now + 60, "jti": "x", "type": "access"}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    let err = m.verify_token(&forged).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSubject);
    assert_eq!(err.message(), "Subject must not contain U+001F");
    // Nor can an outside issuer's name hold the separator (issuer "A\u{1f}x" with sub "y"
    // would spell issuer "A" with sub "x\u{1f}y").
    let err = RemoteJwks::builder("http://127.0.0.1:1/jwks.json")
        .issuer(format!("{ISSUER}\u{1f}x"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("U+001F"), "{err}");
}
