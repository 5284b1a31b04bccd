//! Revocation at the edges of time: revoke-all and a login in the same second, tokens that
//! never expire, extreme and sub-second durations. Each answer must keep the promise "a
//! revoked token is refused, a valid one is accepted", and no duration may panic.
#![cfg(feature = "testing")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tower_jwt_auth::claims::Subject;
use tower_jwt_auth::clock::Clock;
use tower_jwt_auth::denylist::{Denylist, DenylistError, MemoryDenylist, TokenId};
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::manager::{JwtManagerBuilder, Lifetime};
use tower_jwt_auth::testing::TestClock;
use tower_jwt_auth::BoxFuture;
use tower_jwt_auth::{ErrorKind, JwtManager};

const SECRET: &str = "revocation-tests-secret-0123456789abcdef";

fn builder() -> JwtManagerBuilder {
    JwtManager::builder().secret(SECRET)
}

/// A denylist that records what it is asked to keep, in front of a memory one.
#[derive(Clone, Default)]
struct Recorder {
    inner: MemoryDenylist,
    untils: Arc<Mutex<Vec<Option<SystemTime>>>>,
}

impl Denylist for Recorder {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        self.untils.lock().unwrap().push(until);
        self.inner.revoke(jti, until)
    }
    fn revoke_all<'a>(
        &'a self,
        identity: &'a str,
        issued_before: SystemTime,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        self.untils.lock().unwrap().push(until);
        self.inner.revoke_all(identity, issued_before, until)
    }
    fn is_revoked<'a>(&'a self, token: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>> {
        self.inner.is_revoked(token)
    }
    fn is_revoked_now(&self, token: TokenId<'_>) -> Option<Result<bool, DenylistError>> {
        self.inner.is_revoked_now(token)
    }
}

async fn kind(m: &JwtManager, token: &str) -> Result<(), ErrorKind> {
    m.verify_token(token).await.map(drop).map_err(|e| e.kind())
}

#[tokio::test]
async fn a_login_right_after_revoke_all_works_and_older_tokens_do_not() {
    let m = builder().build().unwrap();
    let mut older = Vec::new();
    // Four password changes in a row, each followed at once by a new login: no sleeping.
    for round in 0..4 {
        let before = m.create_access_token("ada").unwrap();
        let refresh_before = m.create_refresh_token("ada").unwrap();
        older.extend([before, refresh_before]);
        m.revoke_all(Subject::local("ada")).await.unwrap();
        let after = m.create_access_token("ada").unwrap();
        let refresh_after = m.create_refresh_token("ada").unwrap();
        assert_eq!(kind(&m, &after).await, Ok(()), "round {round}: new access");
        assert_eq!(
            kind(&m, &refresh_after).await,
            Ok(()),
            "round {round}: new refresh"
        );
        for token in &older {
            assert_eq!(
                kind(&m, token).await,
                Err(ErrorKind::Revoked),
                "round {round}"
            );
        }
        older.extend([after, refresh_after]);
    }
}

#[tokio::test]
async fn tokens_of_other_issuers_keep_whole_second_semantics() {
    // Flask-JWT-Extended's tokens carry a UUIDv4 `jti` and a whole-second `iat`: one issued
    // in the second of a cut-off counts as issued before it, even if it came after.
    let clock = TestClock::new();
    let m = builder().clock(clock.clone()).build().unwrap();
    let flask_like = |m: &JwtManager| {
        tower_jwt_auth::testing::token(m, "ada")
            .claim("jti", uuid::Uuid::new_v4().to_string())
            .mint()
    };
    let before = flask_like(&m);
    let ours_before = m.create_access_token("ada").unwrap();
    clock.advance(Duration::from_millis(1));
    m.revoke_all(Subject::local("ada")).await.unwrap();
    clock.advance(Duration::from_millis(1));
    let after_same_second = flask_like(&m);
    let ours_after = m.create_access_token("ada").unwrap();
    assert_eq!(kind(&m, &before).await, Err(ErrorKind::Revoked));
    assert_eq!(kind(&m, &ours_before).await, Err(ErrorKind::Revoked));
    assert_eq!(
        kind(&m, &ours_after).await,
        Ok(()),
        "ours: to the millisecond"
    );
    // Unless the cut-off fell on a second's boundary, the same second: refused.
    let second = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    if second(clock.now()) == second(clock.now() - Duration::from_millis(2)) {
        assert_eq!(kind(&m, &after_same_second).await, Err(ErrorKind::Revoked));
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(kind(&m, &flask_like(&m)).await, Ok(()), "the next second");
}

#[tokio::test]
async fn a_revoke_all_within_the_millisecond_of_a_login() {
    // A clock stopped at one instant: a token issued at the very instant of the cut-off
    // counts as issued before it; one issued after `revoke_all` returns works, although the
    // clock has not moved (0.2 spun up to 5 ms on the executor waiting for the clock, then
    // refused it: the manager now dates its later tokens at the cut-off instead).
    let clock = TestClock::new();
    let m = builder().clock(clock.clone()).build().unwrap();
    let at_the_instant = m.create_access_token("ada").unwrap();
    m.revoke_all(Subject::local("ada")).await.unwrap();
    let after_the_call = m.create_access_token("ada").unwrap();
    assert_eq!(kind(&m, &at_the_instant).await, Err(ErrorKind::Revoked));
    assert_eq!(kind(&m, &after_the_call).await, Ok(()));
    clock.advance(Duration::from_millis(1));
    let next = m.create_access_token("ada").unwrap();
    assert_eq!(kind(&m, &next).await, Ok(()));
}

#[tokio::test]
async fn cut_offs_live_as_long_as_the_tokens_they_cover() {
    for (access, refresh, expect_forever) in [
        (
            Lifetime::Never,
            Lifetime::After(Duration::from_secs(3600)),
            true,
        ),
        (
            Lifetime::After(Duration::from_secs(900)),
            Lifetime::Never,
            true,
        ),
        (Lifetime::Never, Lifetime::Never, true),
        (
            Lifetime::After(Duration::from_secs(900)),
            Lifetime::After(Duration::from_secs(3600)),
            false,
        ),
    ] {
        let recorder = Recorder::default();
        let m = builder()
            .access_token_lifetime(access)
            .refresh_token_lifetime(refresh)
            .denylist(recorder.clone())
            .build()
            .unwrap();
        let old = m.create_access_token("ada").unwrap();
        m.revoke_all(Subject::local("ada")).await.unwrap();
        let until = recorder.untils.lock().unwrap()[0];
        assert_eq!(until.is_none(), expect_forever, "{access:?} {refresh:?}");
        if let Some(until) = until {
            let longest = SystemTime::now() + Duration::from_secs(3600);
            assert!(
                until >= longest - Duration::from_secs(5),
                "kept long enough"
            );
        }
        assert_eq!(kind(&m, &old).await, Err(ErrorKind::Revoked));
        // Revoking a never-expiring token keeps its entry forever.
        let token = m.create_access_token("bob").unwrap();
        let verified = m.decode_token(&token).unwrap();
        m.revoke(&verified).await.unwrap();
        let until = *recorder.untils.lock().unwrap().last().unwrap();
        assert_eq!(until.is_none(), access == Lifetime::Never);
        assert_eq!(kind(&m, &token).await, Err(ErrorKind::Revoked));
    }
}

#[tokio::test]
async fn a_manager_never_issues_a_token_it_refuses() {
    let m = builder().build().unwrap();
    for options in [
        TokenOptions::new().lifetime(Lifetime::Never),
        TokenOptions::new().lifetime(Duration::MAX),
        TokenOptions::new().lifetime(Duration::from_secs(10 * 365 * 24 * 3600)),
        TokenOptions::new().lifetime(Duration::from_millis(1500)),
        TokenOptions::new().fresh(Duration::MAX),
    ] {
        for refresh in [false, true] {
            let issued = if refresh {
                m.create_refresh_token_with("ada", options.clone())
            } else {
                m.create_access_token_with("ada", options.clone())
            };
            if let Ok(token) = issued {
                assert_eq!(
                    kind(&m, &token).await,
                    Ok(()),
                    "{options:?} refresh={refresh}"
                );
            }
        }
    }
    // A fresh-for duration too long to represent is simply fresh.
    let token = m
        .create_access_token_with("ada", TokenOptions::new().fresh(Duration::MAX))
        .unwrap();
    assert!(m.decode_token(&token).unwrap().is_fresh());
}

#[tokio::test]
async fn no_duration_a_user_can_pass_panics() {
    let durations = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_millis(500),
        Duration::from_secs(u32::MAX as u64),
        Duration::from_secs(u64::MAX / 2),
        Duration::MAX,
    ];
    for d in durations {
        for b in [
            builder().access_token_lifetime(d),
            builder().refresh_token_lifetime(d),
            builder().max_token_lifetime(d),
            builder().leeway(d),
            builder()
                .access_token_lifetime(Lifetime::Never)
                .refresh_token_lifetime(Lifetime::Never)
                .max_token_lifetime(d),
        ] {
            // Refused at build time, or working: both fine; a panic is not.
            let Ok(m) = b.build() else { continue };
            let access = m.create_access_token("ada");
            let refresh = m.create_refresh_token("ada");
            m.create_access_token_with("ada", TokenOptions::new().fresh(d))
                .ok();
            m.create_access_token_with("ada", TokenOptions::new().lifetime(d))
                .ok();
            m.revoke_all(Subject::local("ada")).await.unwrap();
            for token in [access, refresh].into_iter().flatten() {
                let verified = m.decode_token(&token).unwrap();
                m.revoke(&verified).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn sub_second_lifetimes_are_refused_and_sub_second_leeway_is_honoured() {
    // `exp` is whole seconds (typed consumers read it as an integer): a lifetime with a
    // fraction is refused when the manager is built, or when a token asks for one.
    for lifetime in [Duration::from_millis(500), Duration::from_millis(1500)] {
        let err = builder()
            .access_token_lifetime(lifetime)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("whole number of seconds"), "{err}");
    }
    let m = builder().build().unwrap();
    assert!(m
        .create_access_token_with(
            "ada",
            TokenOptions::new().lifetime(Duration::from_millis(500))
        )
        .is_err());

    // `exp` is `iat` plus the lifetime, both whole seconds (Flask-JWT-Extended's layout).
    let m = builder()
        .access_token_lifetime(Duration::from_secs(1))
        .build()
        .unwrap();
    let t = m
        .decode_token(&m.create_access_token("ada").unwrap())
        .unwrap();
    assert_eq!(t.expires_at().unwrap() - t.issued_at().unwrap(), 1.0);

    // Leeway is honoured to the sub-second.
    let clock = TestClock::new();
    let m = builder()
        .clock(clock.clone())
        .access_token_lifetime(Duration::from_secs(1))
        .leeway(Duration::from_millis(500))
        .build()
        .unwrap();
    let token = m.create_access_token("ada").unwrap();
    let exp = m.decode_token(&token).unwrap().expires_at().unwrap();
    let at = |secs: f64| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs);
    clock.set(at(exp + 0.3));
    assert_eq!(kind(&m, &token).await, Ok(()), "within the leeway");
    clock.set(at(exp + 0.6));
    assert_eq!(kind(&m, &token).await, Err(ErrorKind::Expired), "beyond it");
}

#[tokio::test]
async fn revoking_many_identities_moves_no_other_identitys_dates() {
    // A stopped clock and 2,000 revoke-alls in a row (an administrator logging everyone
    // out): each identity's later tokens are dated at its own cut-off, and nobody else's
    // are dated ahead of the clock (which a zero leeway would refuse as not yet valid).
    let clock = TestClock::new();
    let m = builder().clock(clock.clone()).build().unwrap();
    for n in 0..2_000 {
        m.revoke_all(Subject::local(format!("user-{n}").as_str()))
            .await
            .unwrap();
    }
    let bob = m.create_access_token("bob").unwrap();
    assert_eq!(kind(&m, &bob).await, Ok(()));
    let now = clock.now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
    assert_eq!(
        m.decode_token(&bob).unwrap().issued_at(),
        Some(now.as_secs() as f64)
    );
    let user = m.create_access_token("user-7").unwrap();
    assert_eq!(kind(&m, &user).await, Ok(()));
}

#[tokio::test]
async fn a_token_issued_right_after_a_revoke_all_at_the_end_of_a_second_is_valid_at_once() {
    // The cut-off lies in the next second: the token's `jti` carries it, its `iat` is the
    // clock's second, so it is neither revoked nor "not yet valid" (with no leeway).
    let clock =
        TestClock::at(SystemTime::UNIX_EPOCH + Duration::from_micros(1_800_000_000_999_700));
    let m = builder().clock(clock.clone()).build().unwrap();
    let before = m.create_access_token("ada").unwrap();
    m.revoke_all(Subject::local("ada")).await.unwrap();
    let after = m.create_access_token("ada").unwrap();
    assert_eq!(kind(&m, &before).await, Err(ErrorKind::Revoked));
    assert_eq!(kind(&m, &after).await, Ok(()));
    assert_eq!(
        m.decode_token(&after).unwrap().issued_at(),
        Some(1_800_000_000.0)
    );
}

/// A shared `Arc<dyn Denylist>` is held as it is (no second `Arc` on the guard's path); any
/// other denylist, an `Arc` of a concrete one too, is taken as well.
#[test]
fn a_shared_denylist_is_held_as_it_is() {
    let shared: Arc<dyn Denylist> = Arc::new(MemoryDenylist::new());
    let m = JwtManager::builder()
        .secret(SECRET)
        .denylist(shared.clone())
        .build()
        .unwrap();
    assert!(Arc::ptr_eq(m.denylist(), &shared), "behind a second Arc");
    let concrete = Arc::new(MemoryDenylist::new());
    let m = JwtManager::builder()
        .secret(SECRET)
        .denylist(concrete.clone())
        .build()
        .unwrap();
    concrete.insert("seen", None);
    assert!(matches!(
        m.denylist()
            .is_revoked_now(TokenId::new("seen", "ada", 0.0)),
        Some(Ok(true))
    ));
}

/// A guard layer without a token location is refused, as the builder refuses one.
#[test]
#[should_panic(expected = "token_locations: no token location configured")]
fn a_layer_without_token_locations_is_refused() {
    let m = JwtManager::builder().secret(SECRET).build().unwrap();
    let _ = tower_jwt_auth::JwtRequiredLayer::new(&m).token_locations([]);
}

#[tokio::test]
async fn a_jti_is_revoked_as_spelled_whatever_its_uuid_form() {
    // The verification reads a uuid `jti` once for the denylist (canonical lowercase
    // hyphenated uuids are kept packed): every spelling is its own `jti`, revoked exactly.
    let m = builder().build().unwrap();
    let id = uuid::Uuid::new_v4();
    let spellings = [
        id.to_string(),
        id.to_string().to_uppercase(),
        id.simple().to_string(),
        format!("{{{id}}}"),
        id.urn().to_string(),
        "not-a-uuid".to_owned(),
    ];
    let token = |jti: &str| {
        tower_jwt_auth::testing::token(&m, "ada")
            .claim("jti", jti)
            .mint()
    };
    for (i, jti) in spellings.iter().enumerate() {
        let verified = m.verify_token(&token(jti)).await.unwrap();
        m.revoke(&verified).await.unwrap();
        for (j, other) in spellings.iter().enumerate() {
            let expected = if j <= i {
                Err(ErrorKind::Revoked)
            } else {
                Ok(())
            };
            assert_eq!(
                kind(&m, &token(other)).await,
                expected,
                "{other} after {jti}"
            );
        }
    }
}

/// A store in front of the in-process one that keeps `jti`s under names of its own (here a
/// tenant prefix) and hands the rewritten id on: the verification's reading of the original
/// `jti` as a uuid is not applied to the rewritten one.
#[tokio::test]
async fn a_store_that_renames_jtis_before_delegating_still_refuses_revoked_tokens() {
    #[derive(Clone, Default)]
    struct Tenant(MemoryDenylist);
    impl Denylist for Tenant {
        fn revoke<'a>(
            &'a self,
            jti: &'a str,
            until: Option<SystemTime>,
        ) -> BoxFuture<'a, Result<(), DenylistError>> {
            self.0.insert(&format!("tenant:{jti}"), until);
            Box::pin(std::future::ready(Ok(())))
        }
        fn revoke_all<'a>(
            &'a self,
            identity: &'a str,
            issued_before: SystemTime,
            until: Option<SystemTime>,
        ) -> BoxFuture<'a, Result<(), DenylistError>> {
            self.0.revoke_all(identity, issued_before, until)
        }
        fn is_revoked<'a>(
            &'a self,
            token: TokenId<'a>,
        ) -> BoxFuture<'a, Result<bool, DenylistError>> {
            Box::pin(std::future::ready(Ok(self
                .is_revoked_now(token)
                .unwrap()
                .unwrap())))
        }
        fn is_revoked_now(&self, token: TokenId<'_>) -> Option<Result<bool, DenylistError>> {
            let renamed = token.jti.map(|jti| format!("tenant:{jti}"));
            let mut token = token;
            token.jti = renamed.as_deref();
            Some(Ok(self.0.is_token_revoked(token)))
        }
    }
    let m = builder().denylist(Tenant::default()).build().unwrap();
    let token = m.create_access_token("ada").unwrap();
    let verified = m.verify_token(&token).await.unwrap();
    m.revoke(&verified).await.unwrap();
    assert_eq!(kind(&m, &token).await, Err(ErrorKind::Revoked));
    // Through a guard too (the synchronous check).
    let guard = tower::Layer::layer(
        &tower_jwt_auth::JwtRequiredLayer::new(&m),
        tower::service_fn(
            |_: http::Request<
                tower_jwt_auth::guard::RequestBody<http_body_util::Empty<bytes::Bytes>>,
            >| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<
                    bytes::Bytes,
                >::new()))
            },
        ),
    );
    let req = http::Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let res = tower::ServiceExt::oneshot(guard, req).await.unwrap();
    assert_eq!(res.status(), http::StatusCode::UNAUTHORIZED);
}
