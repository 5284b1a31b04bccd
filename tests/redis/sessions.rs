//! Refresh-token rotation shared by two instances through a real `redis-server`: the
//! sequences, concurrent refreshes with one token on both instances, a reuse on one
//! instance revoking the session on the other, sessions ended across instances, and the
//! session state expiring with the session's tokens.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::ServiceExt;
use tower_jwt_auth::claims::Subject;
use tower_jwt_auth::clock::Clock;
use tower_jwt_auth::denylist::TokenId;
use tower_jwt_auth::manager::Lifetime;
use tower_jwt_auth::service::AuthService;
use tower_jwt_auth::sessions::{RedisSessionStore, Rotate, Rotation, Session, SessionStore};
use tower_jwt_auth::testing::{insecure_fast_password_hasher, InsecureTestUsers, TestClock};
use tower_jwt_auth::JwtManager;

use super::fleet::HasTarget;
use super::server::{self, RedisServer};
use super::{app, call, REVOKED, SECRET};

const GRACE: Duration = Duration::from_secs(2);

struct Instance {
    jwt: JwtManager,
    auth: AuthService<InsecureTestUsers>,
}

async fn instance(redis: &impl HasTarget, prefix: &str) -> Instance {
    let denylist = super::trusted_denylist(redis.target(), prefix).await;
    let jwt = JwtManager::builder()
        .secret(SECRET)
        .denylist(denylist)
        .refresh_token_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    let store = RedisSessionStore::connect_with(redis.target(), prefix, Duration::from_secs(2))
        .await
        .unwrap();
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "correct horse");
    let auth = AuthService::builder(&jwt, users)
        .password_hasher(insecure_fast_password_hasher())
        .refresh_rotation(store)
        .reuse_grace(GRACE)
        .build();
    Instance { jwt, auth }
}

async fn post(i: &Instance, path: &str, bearer: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(token) = bearer {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let res = i
        .auth
        .clone()
        .oneshot(req.body(Full::<Bytes>::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(i: &Instance) -> (String, String) {
    let (status, body) = post(
        i,
        "/token",
        None,
        r#"{"email":"ada@example.com","password":"correct horse"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens(&body)
}

fn tokens(body: &Value) -> (String, String) {
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn rotate(i: &Instance, refresh: &str) -> (String, String) {
    let (status, body) = post(i, "/refresh", Some(refresh), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokens(&body)
}

/// Waits (bounded) until `instance` refuses `access` as revoked.
async fn until_refused(i: &Instance, access: &str) {
    let app = app(&i.jwt);
    let start = std::time::Instant::now();
    loop {
        let (status, body) = call(&app, "/", access).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(body, REVOKED);
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never refused");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

on_every_topology! {
async fn rotation_across_instances_and_reuse_revokes_everywhere(redis: &Fleet) {
    let (a, b) = (instance(&redis, "s1:").await, instance(&redis, "s1:").await);

    let (a0, r0) = login(&a).await;
    let (a1, r1) = rotate(&b, &r0).await; // rotated on B
    let (a2, r2) = rotate(&a, &r1).await; // and again on A

    // The previous token within the grace, on B: 200 with the current token, no alarm.
    let (a_again, r_again) = rotate(&b, &r1).await;
    assert_eq!(
        a.jwt.decode_token(&r_again).unwrap().jti(),
        a.jwt.decode_token(&r2).unwrap().jti()
    );
    assert_eq!(call(&app(&a.jwt), "/", &a_again).await.0, StatusCode::OK);

    // After the grace, r1 is a reuse: 401 on B, and A refuses the whole session.
    tokio::time::sleep(GRACE + Duration::from_millis(300)).await;
    let (status, body) = post(&b, "/refresh", Some(&r1), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["msg"], "Token has been revoked");
    for access in [&a0, &a1, &a2, &a_again] {
        until_refused(&a, access).await;
    }
    let (status, body) = post(&a, "/refresh", Some(&r2), "").await;
    assert_eq!(
        (status, body["msg"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Token has been revoked"))
    );

    // A new login is a new session.
    let (a3, r3) = login(&a).await;
    assert_eq!(call(&app(&b.jwt), "/", &a3).await.0, StatusCode::OK);
    rotate(&b, &r3).await;
}
}

on_every_topology! {
async fn four_concurrent_refreshes_on_two_instances_all_succeed(redis: &Fleet) {
    let (a, b) = (instance(&redis, "s2:").await, instance(&redis, "s2:").await);
    for _round in 0..5 {
        let (_, r0) = login(&a).await;
        let (ra, rb) = (&r0, &r0);
        let (x, y, z, w) = tokio::join!(
            post(&a, "/refresh", Some(ra), ""),
            post(&b, "/refresh", Some(rb), ""),
            post(&a, "/refresh", Some(ra), ""),
            post(&b, "/refresh", Some(rb), ""),
        );
        let mut jtis = Vec::new();
        for (status, body) in [x, y, z, w] {
            assert_eq!(status, StatusCode::OK, "{body}");
            let (access, refresh) = tokens(&body);
            assert_eq!(call(&app(&a.jwt), "/", &access).await.0, StatusCode::OK);
            jtis.push(
                a.jwt
                    .decode_token(&refresh)
                    .unwrap()
                    .jti()
                    .unwrap()
                    .to_owned(),
            );
        }
        jtis.dedup();
        assert_eq!(
            jtis.len(),
            1,
            "one rotation, the others got its token: {jtis:?}"
        );
        // The session stays alive.
        let (_, current) = tokens(&post(&a, "/refresh", Some(&r0), "").await.1);
        let (access, _) = rotate(&b, &current).await;
        assert_eq!(call(&app(&a.jwt), "/", &access).await.0, StatusCode::OK);
    }
}
}

on_every_topology! {
async fn a_session_ended_on_one_instance_is_refused_on_the_other(redis: &Fleet) {
    let (a, b) = (instance(&redis, "s3:").await, instance(&redis, "s3:").await);
    let (one_access, one_refresh) = login(&a).await;
    let (two_access, _) = login(&b).await;
    let listed = b
        .auth
        .sessions()
        .unwrap()
        .list(Subject::local("1"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let one = a
        .jwt
        .decode_token(&one_refresh)
        .unwrap()
        .session()
        .unwrap()
        .to_owned();
    assert!(!a
        .auth
        .sessions()
        .unwrap()
        .end(Subject::local("2"), &one)
        .await
        .unwrap());
    assert!(a
        .auth
        .sessions()
        .unwrap()
        .end(Subject::local("1"), &one)
        .await
        .unwrap());
    until_refused(&b, &one_access).await;
    assert_eq!(call(&app(&b.jwt), "/", &two_access).await.0, StatusCode::OK);
    assert_eq!(
        b.auth
            .sessions()
            .unwrap()
            .list(Subject::local("1"))
            .await
            .unwrap()
            .len(),
        1
    );
}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_expires_with_the_refresh_lifetime() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start();
    let a = instance(&redis, "s4:").await;
    let (_, refresh) = login(&a).await;
    let sid = a
        .jwt
        .decode_token(&refresh)
        .unwrap()
        .session()
        .unwrap()
        .to_owned();
    let client = redis::Client::open(redis.url()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    // The one key matching `pattern` (keys carry the identity's hash tag).
    let key = |pattern: String| {
        let keys: Vec<String> = redis.query(redis::cmd("KEYS").arg(&pattern));
        assert_eq!(keys.len(), 1, "{pattern}: {keys:?}");
        keys[0].clone()
    };
    let ttl = |pattern: String| {
        let mut conn = conn.clone();
        let key = key(pattern);
        async move {
            redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
                .unwrap()
        }
    };
    // The refresh lifetime (3600 s, the longest) plus the default leeway of 0.
    let session_ttl = ttl(format!("s4:session:{{*}}:{sid}")).await;
    assert!(
        (3_590_000..=3_600_000).contains(&session_ttl),
        "{session_ttl}"
    );
    let index_ttl = ttl("s4:sessions:{*}:1".to_owned()).await;
    assert!((3_590_000..=3_600_000).contains(&index_ttl), "{index_ttl}");

    // Never-expiring refresh tokens: the session is kept for good.
    let never = JwtManager::builder()
        .secret(SECRET)
        .refresh_token_lifetime(Lifetime::Never)
        .build()
        .unwrap();
    let store = RedisSessionStore::connect_with(&redis.url(), "s5:", Duration::from_secs(2))
        .await
        .unwrap();
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "correct horse");
    let auth = AuthService::builder(&never, users)
        .password_hasher(insecure_fast_password_hasher())
        .refresh_rotation(store)
        .build();
    let i = Instance { jwt: never, auth };
    let (_, refresh) = login(&i).await;
    let sid = i
        .jwt
        .decode_token(&refresh)
        .unwrap()
        .session()
        .unwrap()
        .to_owned();
    assert_eq!(ttl(format!("s5:session:{{*}}:{sid}")).await, -1);
    assert_eq!(ttl("s5:sessions:{*}:1".to_owned()).await, -1);
}

/// Redis's `MONITOR` stream: the commands clients send (not those a script runs, which
/// `MONITOR` marks `lua`), counted between markers.
struct Monitor {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::net::TcpStream>>,
    conn: redis::aio::MultiplexedConnection,
    marker: u32,
}

impl Monitor {
    async fn start(redis: &RedisServer) -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(redis.addr()).await.unwrap();
        stream.write_all(b"MONITOR\r\n").await.unwrap();
        let mut lines = tokio::io::BufReader::new(stream).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("+OK"));
        let client = redis::Client::open(redis.url()).unwrap();
        let conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut monitor = Self {
            lines,
            conn,
            marker: 0,
        };
        monitor.count().await;
        monitor
    }

    /// The commands clients sent since the last call (the denylist's pings aside).
    async fn count(&mut self) -> usize {
        self.marker += 1;
        let marker = format!("marker-{}", self.marker);
        let _: String = redis::cmd("ECHO")
            .arg(&marker)
            .query_async(&mut self.conn)
            .await
            .unwrap();
        let mut count = 0;
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
                .await
                .expect("MONITOR answers")
                .unwrap()
                .unwrap();
            if line.contains(&marker) {
                return count;
            }
            let lower = line.to_ascii_lowercase();
            if !line.contains(" lua]") && !lower.contains("\"ping\"") {
                count += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotating_refresh_costs_one_redis_round_trip() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start();
    let a = instance(&redis, "s6:").await;
    let users = InsecureTestUsers::new().with_user("ada@example.com", "1", "correct horse");
    let plain = Instance {
        jwt: a.jwt.clone(),
        auth: AuthService::builder(&a.jwt, users)
            .password_hasher(insecure_fast_password_hasher())
            .build(),
    };
    let (_, plain_refresh) = login(&plain).await;
    let (_, r0) = login(&a).await;
    let (_, mut current) = rotate(&a, &r0).await; // the script is loaded
    let mut monitor = Monitor::start(&redis).await;
    for _ in 0..5 {
        let (status, _) = post(&plain, "/refresh", Some(&plain_refresh), "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            monitor.count().await,
            0,
            "a refresh without rotation asks Redis nothing"
        );
        current = rotate(&a, &current).await.1;
        assert_eq!(
            monitor.count().await,
            1,
            "a rotating refresh runs one script"
        );
    }
}

/// Starts `n` sessions of `identity` straight in the store; their ids (`<tag>-<i>`).
async fn seed(store: &RedisSessionStore, identity: &str, tag: &str, n: usize) -> Vec<String> {
    let now = SystemTime::now();
    let until = Some(now + Duration::from_secs(3600));
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("{tag}-{i}");
        let session = Session::new(id.clone(), identity, now);
        store
            .start(&session, &format!("jti-{tag}-{i}"), until)
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// The hash tag Redis Cluster would place `key` by: what lies between the first `{` and
/// the first `}` after it, when not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')?;
    Some(&key[open + 1..open + 1 + close]).filter(|tag| !tag.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_sessions_costs_the_same_commands_for_3_and_300_sessions() {
    if !server::available() {
        return;
    }
    let redis = RedisServer::start();
    let (a, b) = (instance(&redis, "s7:").await, instance(&redis, "s7:").await);
    let store = RedisSessionStore::connect_with(&redis.url(), "s7:", Duration::from_secs(2))
        .await
        .unwrap();
    let sessions = a.auth.sessions().unwrap();
    // Every script loaded once.
    let warm = seed(&store, "warm", "w", 3).await;
    assert!(sessions
        .end(Subject::local("warm"), &warm[0])
        .await
        .unwrap());
    assert_eq!(
        sessions
            .end_all_except(Subject::local("warm"), None)
            .await
            .unwrap(),
        2
    );

    let mut monitor = Monitor::start(&redis).await;
    let mut costs = Vec::new();
    // Identities with spaces, braces and colons: a `}` must not break the hash tag.
    for (identity, tag, n) in [("few {a} b}", "few", 3), ("many } {c}: d", "many", 300)] {
        let ids = seed(&store, identity, tag, n).await;
        monitor.count().await;
        assert!(sessions
            .end(Subject::local(identity), &ids[0])
            .await
            .unwrap());
        let end_one = monitor.count().await;
        assert!(!sessions
            .end(Subject::local("someone else"), &ids[2])
            .await
            .unwrap());
        monitor.count().await;
        let ended = sessions
            .end_all_except(Subject::local(identity), Some(&ids[1]))
            .await
            .unwrap();
        let end_rest = monitor.count().await;
        assert_eq!(ended, n - 2);
        costs.push((end_one, end_rest));

        let left = sessions.list(Subject::local(identity)).await.unwrap();
        let left: Vec<&str> = left.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(left, [ids[1].as_str()]);
        for (i, id) in ids.iter().enumerate() {
            let revoked = a
                .jwt
                .denylist()
                .is_revoked(TokenId::new(id, identity, 0.0))
                .await
                .unwrap();
            assert_eq!(revoked, i != 1, "session {id}");
        }
        // The other instance hears of every revocation.
        let start = std::time::Instant::now();
        let heard = |id: &str| {
            let revoked = b
                .jwt
                .denylist()
                .is_revoked_now(TokenId::new(id, identity, 0.0));
            matches!(revoked, Some(Ok(true)))
        };
        while !ids.iter().enumerate().all(|(i, id)| i == 1 || heard(id)) {
            assert!(start.elapsed() < Duration::from_secs(10), "B hears of them");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!heard(&ids[1]));
    }
    println!("Redis commands (end one, end all but one) for 3 and 300 sessions: {costs:?}");
    assert_eq!(
        costs[0], costs[1],
        "(end one, end all but one) cost as many commands for 3 sessions as for 300"
    );
    assert!(costs[1].0 <= 3 && costs[1].1 <= 3, "{costs:?}");

    // The keys of one identity share one hash tag (one Cluster slot), whatever it holds.
    let keys: Vec<String> = redis.query(redis::cmd("KEYS").arg("s7:*"));
    let mut tags: Vec<&str> = keys
        .iter()
        .filter(|k| !k.starts_with("s7:jti:") && !k.starts_with("s7:cutoff:"))
        .map(|k| hash_tag(k).unwrap_or_else(|| panic!("{k} has no hash tag")))
        .collect();
    tags.sort();
    tags.dedup();
    // One tag for the index and the session left of each identity still holding one.
    assert_eq!(tags.len(), 2, "{keys:?}");
}

/// An instance's view of time: a session store and a clock of its own.
struct Skewed {
    store: RedisSessionStore,
    clock: TestClock,
}

impl Skewed {
    async fn rotate(&self, session: &str, presented: &str, next: &str) -> Rotation {
        let now = self.clock.now();
        let rotate = Rotate {
            session,
            identity: "ada",
            presented,
            next,
            now,
            grace: GRACE,
            until: Some(now + Duration::from_secs(7200)),
        };
        self.store.rotate(rotate).await.unwrap()
    }
}

on_every_topology! {
async fn instances_with_different_clocks_make_the_same_grace_decision(redis: &Fleet) {
    let real = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let mut instances = Vec::new();
    // On time, an hour fast, an hour slow.
    for at in [real, real + hour, real - hour] {
        let store = RedisSessionStore::connect_with(redis.target(), "s8:", Duration::from_secs(2))
            .await
            .unwrap();
        instances.push(Skewed {
            store,
            clock: TestClock::at(at),
        });
    }
    let first = &instances[0];
    // One session per instance and case, rotated by the first instance.
    for case in ["within", "after"] {
        for i in 0..instances.len() {
            let id = format!("{case}-{i}");
            let session = Session::new(id.clone(), "ada", real);
            first
                .store
                .start(&session, "j1", Some(real + hour))
                .await
                .unwrap();
            assert_eq!(first.rotate(&id, "j1", "j2").await, Rotation::Rotated);
        }
    }
    // Within the grace: every instance sees a concurrent refresh.
    for (i, instance) in instances.iter().enumerate() {
        let decision = instance.rotate(&format!("within-{i}"), "j1", "j3").await;
        assert_eq!(
            decision,
            Rotation::Concurrent {
                current: "j2".into()
            },
            "instance {i}"
        );
    }
    // After the grace (each clock moving on as real time does): every instance sees a reuse.
    tokio::time::sleep(GRACE + Duration::from_millis(500)).await;
    for (i, instance) in instances.iter().enumerate() {
        instance.clock.advance(GRACE + Duration::from_millis(500));
        let decision = instance.rotate(&format!("after-{i}"), "j1", "j3").await;
        assert_eq!(decision, Rotation::Reused, "instance {i}");
    }
}
}
