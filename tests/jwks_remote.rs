//! Tokens of an outside issuer verified through its JWKS, against an issuer inside the test
//! process (tests/support/jwks_idp.rs: a hyper server on 127.0.0.1, tokens signed with the
//! vendored keys). A new key is picked up after the cooldown, concurrent misses share one
//! fetch, the keys survive the server going away; the issuer, audience and algorithm rules
//! hold; the fetcher's limits (size, time, HTTPS, redirects) hold; a failed first fetch
//! recovers; tokens that name no key (no `kid`, an algorithm no key has) fetch again, HMAC and
//! `none` tokens never; one refresh task, stopped by its handle.
#![cfg(feature = "jwks")]

use std::time::{Duration, Instant};

use http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use tower_jwt_auth::jwks::{RemoteJwks, RemoteJwksBuilder};
use tower_jwt_auth::{ErrorKind, JwtManager};

#[path = "support/jwks_idp.rs"]
mod idp;
use idp::{claims, guard, mint, public_jwk, Answer, Idp, ISSUER};

const SECRET: &str = "remote-jwks-test-secret-0123456789abcdef";
const RS: Algorithm = Algorithm::RS256;
const ES: Algorithm = Algorithm::ES256;

fn builder(url: String) -> RemoteJwksBuilder {
    RemoteJwks::builder(url)
        .issuer(ISSUER)
        .audience("api")
        .refresh_interval(Duration::from_secs(3600))
}

fn manager(remote: &RemoteJwks) -> JwtManager {
    JwtManager::builder()
        .secret(SECRET)
        .trust_jwks(remote)
        .build()
        .unwrap()
}

/// An issuer publishing `rsa-1` (RS256) and `ec-1` (ES256), fetched once.
async fn setup(cooldown: Duration) -> (Idp, RemoteJwks, JwtManager) {
    let idp = Idp::start(vec![public_jwk(RS, "rsa-1"), public_jwk(ES, "ec-1")]).await;
    let remote = builder(idp.url("/jwks.json"))
        .cooldown(cooldown)
        .build()
        .unwrap();
    let refresh = remote.start().await.unwrap();
    assert_eq!(refresh.first_fetch().unwrap(), 2);
    refresh.detach();
    let m = manager(&remote);
    (idp, remote, m)
}

/// The header of `token` replaced (the signature no longer matters: the key lookup comes
/// first).
fn with_header(token: &str, header: Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rest = token.split_once('.').unwrap().1;
    format!("{}.{rest}", b64.encode(header.to_string()))
}

#[tokio::test]
async fn outside_tokens_verify_through_the_jwks() {
    let (_idp, remote, m) = setup(Duration::from_secs(30)).await;
    let mut ids = remote.key_ids();
    ids.sort();
    assert_eq!(ids, ["ec-1", "rsa-1"]);
    for (alg, kid) in [(RS, "rsa-1"), (ES, "ec-1")] {
        let token = mint(alg, Some(kid), &claims("https://idp.example.test/users/42"));
        assert_eq!(
            guard(&m, &token).await,
            Ok("https://idp.example.test/users/42".into()),
            "{kid}"
        );
        let verified = m.verify_token(&token).await.unwrap();
        assert_eq!(
            verified.token_type(),
            &tower_jwt_auth::claims::TokenType::Access
        );
        assert!(verified.jti().is_none());
    }
    // The manager's own tokens still work.
    let own = m.create_access_token("ada").unwrap();
    assert_eq!(guard(&m, &own).await, Ok("ada".into()));

    // Issuer and audience: required and checked for outside tokens.
    let without = |claim: &str| {
        let mut c = claims("u");
        c.as_object_mut().unwrap().remove(claim);
        c
    };
    let mut wrong_iss = claims("u");
    wrong_iss["iss"] = json!("https://evil.example");
    let mut wrong_aud = claims("u");
    wrong_aud["aud"] = json!("other-api");
    for (claims, message) in [
        (wrong_iss, "Invalid issuer"),
        (without("iss"), "Token is missing the \"iss\" claim"),
        (wrong_aud, "Audience doesn't match"),
        (without("aud"), "Token is missing the \"aud\" claim"),
        (without("exp"), "Token is missing the \"exp\" claim"),
    ] {
        let token = mint(RS, Some("rsa-1"), &claims);
        assert_eq!(
            guard(&m, &token).await,
            Err((StatusCode::UNAUTHORIZED, message.into()))
        );
    }
}

/// A key published after the first fetch is picked up when a token names it, once the
/// cooldown allows a fetch; a burst of requests naming unknown keys costs at most one fetch
/// per cooldown, and concurrent misses share one.
#[tokio::test]
async fn new_keys_are_picked_up_and_misses_share_fetches() {
    // Long enough that a loaded machine does not pass it between two steps "within" it.
    let cooldown = Duration::from_millis(1500);
    let idp = Idp::start(vec![public_jwk(ES, "ec-1")]).await;
    let remote = builder(idp.url("/jwks.json"))
        .cooldown(cooldown)
        .build()
        .unwrap();
    let _refresh = remote.start().await.unwrap();
    let m = manager(&remote);
    assert_eq!(idp.hits("/jwks.json"), 1);
    let token = mint(RS, Some("rsa-2"), &claims("carol"));

    // Within the cooldown of the first fetch, a miss fetches nothing.
    assert!(guard(&m, &token).await.is_err());
    assert_eq!(idp.hits("/jwks.json"), 1);

    // Unknown to the issuer's JWKS too: refused, with one fetch (the first miss after the
    // cooldown).
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    assert_eq!(
        guard(&m, &token).await,
        Err((
            StatusCode::UNAUTHORIZED,
            "No key matches the token's key id (kid)".into()
        ))
    );
    assert_eq!(idp.hits("/jwks.json"), 2);

    // Published now, but within the cooldown: still refused, no fetch, whatever a burst of
    // 50 requests naming unknown keys does.
    idp.publish(public_jwk(RS, "rsa-2"));
    let burst: Vec<_> = (0..50)
        .map(|i| {
            let m = m.clone();
            let token = if i % 2 == 0 {
                token.clone()
            } else {
                with_header(
                    &token,
                    json!({"alg": "RS256", "kid": format!("unknown-{i}")}),
                )
            };
            tokio::spawn(async move { guard(&m, &token).await })
        })
        .collect();
    for task in burst {
        assert!(task.await.unwrap().is_err());
    }
    assert_eq!(idp.hits("/jwks.json"), 2, "no fetch within the cooldown");

    // After the cooldown, concurrent misses share one fetch, and the new key verifies.
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    let concurrent: Vec<_> = (0..20)
        .map(|_| {
            let (m, token) = (m.clone(), token.clone());
            tokio::spawn(async move { guard(&m, &token).await })
        })
        .collect();
    for task in concurrent {
        assert_eq!(task.await.unwrap(), Ok("carol".into()));
    }
    assert_eq!(
        idp.hits("/jwks.json"),
        3,
        "one fetch for 20 concurrent misses"
    );
    assert_eq!(remote.fetches(), 3);
}

/// A token remembered by the memo of verified tokens (on by default) is refused once its
/// issuer withdraws the key that signed it and the JWKS is fetched again; a token of a key
/// still published goes on verifying.
#[tokio::test]
async fn a_remembered_outside_token_is_refused_once_its_key_is_withdrawn() {
    let (idp, remote, m) = setup(Duration::from_millis(10)).await;
    let (rsa, ec) = (
        mint(RS, Some("rsa-1"), &claims("ada")),
        mint(ES, Some("ec-1"), &claims("bob")),
    );
    for _ in 0..3 {
        // The second verification stores it, the third is a memo hit.
        assert_eq!(guard(&m, &rsa).await, Ok("ada".into()));
        assert_eq!(guard(&m, &ec).await, Ok("bob".into()));
    }
    idp.withdraw("rsa-1");
    assert_eq!(remote.refresh().await.unwrap(), 1);
    assert_eq!(
        guard(&m, &rsa).await,
        Err((
            StatusCode::UNAUTHORIZED,
            "No key matches the token's key id (kid)".into()
        ))
    );
    assert_eq!(guard(&m, &ec).await, Ok("bob".into()));
}

/// When the issuer's server goes away, the keys fetched before keep verifying, and a failed
/// fetch changes nothing.
#[tokio::test]
async fn keys_survive_the_jwks_server_going_away() {
    let (idp, remote, m) = setup(Duration::from_millis(100)).await;
    let token = mint(ES, Some("ec-1"), &claims("dave"));
    assert_eq!(guard(&m, &token).await, Ok("dave".into()));
    drop(idp);
    assert!(remote.refresh().await.is_err());
    tokio::time::sleep(Duration::from_millis(150)).await;
    // An unknown kid makes it try again, and fail: the known keys stay.
    let unknown = with_header(&token, json!({"alg": "ES256", "kid": "gone"}));
    assert!(guard(&m, &unknown).await.is_err());
    assert_eq!(remote.fetches(), 3);
    assert_eq!(guard(&m, &token).await, Ok("dave".into()));
    let mut ids = remote.key_ids();
    ids.sort();
    assert_eq!(ids, ["ec-1", "rsa-1"]);
}

/// No token chooses its verification algorithm with an outside key either; HMAC keys and
/// algorithms outside the allow-list are never used.
#[tokio::test]
async fn algorithm_confusion_with_outside_keys() {
    let (idp, _remote, m) = setup(Duration::from_secs(30)).await;
    let token = mint(RS, Some("rsa-1"), &claims("eve"));
    let signature = token.rsplit('.').next().unwrap();
    for (header, signature) in [
        (json!({"alg": "none", "kid": "rsa-1"}), ""),
        // HS256 "signed" with whatever: the key of that kid pins RS256.
        (json!({"alg": "HS256", "kid": "rsa-1"}), signature),
        // The RSA signature presented under the EC key's kid.
        (json!({"alg": "RS256", "kid": "ec-1"}), signature),
        (json!({"alg": "PS256", "kid": "rsa-1"}), signature),
    ] {
        let forged = with_header(&token, header.clone());
        let forged = format!("{}.{signature}", forged.rsplit_once('.').unwrap().0);
        let err = m.verify_token(&forged).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlgorithmNotAllowed, "{header}");
    }

    // A key whose algorithm is not allowed is not used.
    let strict = builder(idp.url("/jwks.json"))
        .allowed_algorithms([Algorithm::ES256])
        .build()
        .unwrap();
    let _refresh = strict.start().await.unwrap();
    assert_eq!(_refresh.first_fetch().unwrap(), 1);
    assert_eq!(strict.key_ids(), ["ec-1"]);
    // HMAC is never allowed from a JWKS; the issuer is required.
    assert!(builder(idp.url("/jwks.json"))
        .allowed_algorithms([Algorithm::HS256])
        .build()
        .is_err());
    assert!(
        RemoteJwks::builder(idp.url("/jwks.json")).build().is_err(),
        "the issuer is required"
    );
}

/// OpenID Connect discovery: the issuer's configuration names its JWKS.
#[tokio::test]
async fn keys_found_through_discovery() {
    let idp = Idp::start(vec![public_jwk(ES, "ec-9")]).await;
    let issuer = idp.url("");
    let remote = RemoteJwks::discover(&issuer).build().unwrap();
    let _refresh = remote.start().await.unwrap();
    assert_eq!(_refresh.first_fetch().unwrap(), 1);
    assert_eq!(idp.hits("/.well-known/openid-configuration"), 1);
    let m = manager(&remote);
    let token = mint(
        ES,
        Some("ec-9"),
        &json!({"sub": "frank", "iss": issuer, "iat": idp::now(), "exp": idp::now() + 60}),
    );
    assert_eq!(guard(&m, &token).await, Ok("frank".into()));
}

/// Documents over the size cap are refused, whether announced by `Content-Length` or sent
/// chunked; the keys known before stay.
#[tokio::test]
async fn documents_over_the_size_cap_are_refused() {
    let idp = Idp::start(vec![public_jwk(ES, "ec-1")]).await;
    let capped = |path: &str| {
        builder(idp.url(path))
            .max_document_size(2048)
            .build()
            .unwrap()
    };
    for (path, says) in [
        ("/big-length", "Content-Length 4096, larger than 2048 bytes"),
        ("/big-chunked", "big-chunked: larger than 2048 bytes"),
    ] {
        let remote = capped(path);
        let err = remote.refresh().await.unwrap_err().to_string();
        assert!(err.contains(says), "{path}: {err}");
        assert_eq!(idp.hits(path), 1);
        assert!(remote.key_ids().is_empty());
    }
    // Under the cap, chunked or not, the same keys are taken.
    assert_eq!(capped("/small-chunked").refresh().await.unwrap(), 1);
    assert_eq!(capped("/jwks.json").refresh().await.unwrap(), 1);
    // The padding is whitespace: with a larger cap the large documents are valid JWKS.
    for path in ["/big-length", "/big-chunked"] {
        let roomy = builder(idp.url(path))
            .max_document_size(8192)
            .build()
            .unwrap();
        assert_eq!(roomy.refresh().await.unwrap(), 1, "{path}");
    }
}

/// A server that never answers costs at most the timeout.
#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let idp = Idp::start(vec![public_jwk(ES, "ec-1")]).await;
    let remote = builder(idp.url("/hang"))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = remote.refresh().await.unwrap_err().to_string();
    let took = started.elapsed();
    assert!(err.contains("no answer within 300ms"), "{err}");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(idp.hits("/hang"), 1);
}

/// HTTPS, or plain HTTP to a loopback address only.
#[test]
fn plain_http_only_on_loopback() {
    for url in [
        "http://example.com/jwks.json",
        "http://10.0.0.1/jwks.json",
        "http://127.0.0.1.example.com/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "not a url",
    ] {
        let err = builder(url.into()).build().unwrap_err().to_string();
        assert!(
            err.contains("HTTPS required") || err.contains("relative URL") || err.contains(url),
            "{url}: {err}"
        );
    }
    for url in [
        "https://example.com/jwks.json",
        "http://127.0.0.1/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
        "http://[::1]/jwks.json",
        "http://[::1]:8080/jwks.json",
        "http://localhost/jwks.json",
        "http://localhost:8080/jwks.json",
    ] {
        assert!(builder(url.into()).build().is_ok(), "{url}");
    }
    for issuer in ["http://example.com", "http://127.0.0.1:9"] {
        assert_eq!(
            RemoteJwks::discover(issuer).build().is_ok(),
            issuer.contains("127.0.0.1"),
            "{issuer}"
        );
    }
}

/// A redirect is never followed, even to a valid JWKS on the same server, and neither by a
/// client passed in (built from a `ClientBuilder` that follows redirects by default).
#[tokio::test]
async fn redirects_are_refused() {
    let idp = Idp::start(vec![public_jwk(ES, "ec-1")]).await;
    let own = builder(idp.url("/redirect")).build().unwrap();
    let err = own.refresh().await.unwrap_err().to_string();
    assert!(err.contains("302"), "{err}");
    let passed_in = builder(idp.url("/redirect"))
        .http_client(tower_jwt_auth::jwks::reqwest::Client::builder())
        .build()
        .unwrap();
    let err = passed_in.refresh().await.unwrap_err().to_string();
    assert!(err.contains("302"), "{err}");
    assert_eq!(idp.hits("/redirect"), 2);
    assert_eq!(idp.hits("/valid.json"), 0, "the redirect was followed");
    assert!(own.key_ids().is_empty() && passed_in.key_ids().is_empty());
}

/// The issuer answers 500 at the start: its tokens are refused, then verify once the cooldown
/// allows a fetch, without restarting anything; with a `kid` or without one, through the
/// guard and through `verify_token`.
#[tokio::test]
async fn a_failed_first_fetch_recovers() {
    // Long enough that a loaded machine does not pass it between two steps "within" it.
    let cooldown = Duration::from_millis(1000);
    for (kid, through_guard) in [
        (Some("rsa-1"), true),
        (None, true),
        (Some("rsa-1"), false),
        (None, false),
    ] {
        let case = format!("kid {kid:?}, guard {through_guard}");
        let idp = Idp::start(vec![public_jwk(RS, "rsa-1")]).await;
        idp.queue([Answer::Status(500)]);
        let remote = builder(idp.url("/jwks.json"))
            .cooldown(cooldown)
            .build()
            .unwrap();
        let err = remote.start().await.unwrap_err().to_string();
        assert!(err.contains("500"), "{case}: {err}");
        let m = manager(&remote);
        let token = mint(RS, kid, &claims("grace"));
        let verify = || async {
            if through_guard {
                guard(&m, &token).await.map_err(|(_, msg)| msg)
            } else {
                m.verify_token(&token)
                    .await
                    .map(|t| t.identity().to_owned())
                    .map_err(|e| e.message().to_owned())
            }
        };
        // Within the cooldown of the failed fetch: refused, nothing fetched.
        assert!(verify().await.is_err(), "{case}");
        assert_eq!(idp.hits("/jwks.json"), 1, "{case}");
        tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
        assert_eq!(verify().await, Ok("grace".into()), "{case}");
        assert_eq!(idp.hits("/jwks.json"), 2, "{case}");
    }
}

/// A token of an algorithm no known key has (the issuer started signing with a new key
/// type) fetches the keys again, with or without a `kid`.
#[tokio::test]
async fn a_token_of_an_algorithm_no_key_has_fetches_again() {
    let cooldown = Duration::from_millis(300);
    for kid in [None, Some("ec-2")] {
        let idp = Idp::start(vec![public_jwk(RS, "rsa-1")]).await;
        let remote = builder(idp.url("/jwks.json"))
            .cooldown(cooldown)
            .build()
            .unwrap();
        let _refresh = remote.start().await.unwrap();
        let m = manager(&remote);
        idp.publish(public_jwk(ES, "ec-2"));
        tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
        let token = mint(ES, kid, &claims("heidi"));
        assert_eq!(guard(&m, &token).await, Ok("heidi".into()), "{kid:?}");
        assert_eq!(idp.hits("/jwks.json"), 2, "{kid:?}");
    }
}

/// Tokens that no outside key could verify never make it fetch: HMAC ones (with or without
/// a `kid`), `alg: none`, algorithms the issuer is not allowed, and tokens claiming another
/// issuer than the one trusted (or none); an RS256 token of the issuer does.
#[tokio::test]
async fn hmac_and_none_tokens_never_fetch() {
    let cooldown = Duration::from_millis(100);
    let idp = Idp::start(vec![public_jwk(RS, "rsa-1")]).await;
    idp.queue([Answer::Status(500)]);
    let remote = builder(idp.url("/jwks.json"))
        .cooldown(cooldown)
        .allowed_algorithms([Algorithm::RS256, Algorithm::ES256])
        .build()
        .unwrap();
    let _refresh = remote.start().await.unwrap_err().into_handle();
    // The manager's own keys have kids, so that an unknown kid is "unknown" to them too.
    let m = JwtManager::builder()
        .key(
            tower_jwt_auth::keys::JwtKey::hmac(Algorithm::HS256, SECRET)
                .unwrap()
                .with_kid("own"),
        )
        .trust_jwks(&remote)
        .build()
        .unwrap();
    let token = mint(RS, Some("rsa-1"), &claims("ivan"));
    for header in [
        json!({"alg": "HS256"}),
        json!({"alg": "HS256", "kid": "rsa-1"}),
        json!({"alg": "HS256", "kid": "new"}),
        json!({"alg": "HS512", "kid": "new"}),
        json!({"alg": "none"}),
        json!({"alg": "none", "kid": "new"}),
        json!({"alg": "ES384", "kid": "new"}),
        json!({"alg": "PS256"}),
        json!({"kid": "new"}),
    ] {
        tokio::time::sleep(cooldown + Duration::from_millis(20)).await;
        let forged = with_header(&token, header.clone());
        assert!(guard(&m, &forged).await.is_err(), "{header}");
        assert!(m.verify_token(&forged).await.is_err(), "{header}");
        assert_eq!(idp.hits("/jwks.json"), 1, "{header} made it fetch");
    }
    // A key the issuer may publish, but the token claims no issuer, or one not trusted: its
    // `iss` names no issuer to ask (and a `kid` of the manager's own never makes the
    // outside issuer fetch for such a token).
    let mut elsewhere = claims("ivan");
    elsewhere["iss"] = json!("https://elsewhere.example");
    let mut nowhere = claims("ivan");
    nowhere.as_object_mut().unwrap().remove("iss");
    for claims in [elsewhere, nowhere] {
        for kid in ["rsa-1", "new", "own"] {
            tokio::time::sleep(cooldown + Duration::from_millis(20)).await;
            let forged = mint(RS, Some(kid), &claims);
            assert!(guard(&m, &forged).await.is_err(), "{kid} {claims}");
            assert_eq!(idp.hits("/jwks.json"), 1, "{kid} {claims} made it fetch");
        }
    }
    tokio::time::sleep(cooldown + Duration::from_millis(20)).await;
    assert_eq!(guard(&m, &token).await, Ok("ivan".into()));
    assert_eq!(idp.hits("/jwks.json"), 2);
}

/// `start()` twice: one refresh task, and no second first fetch; the task runs until the
/// last handle goes.
#[tokio::test]
async fn start_is_idempotent() {
    let idp = Idp::start(vec![public_jwk(ES, "ec-1")]).await;
    let remote = refreshing(&idp);
    let first = remote.start().await.unwrap();
    let second = remote.start().await.unwrap();
    assert_eq!(
        (first.first_fetch().unwrap(), second.first_fetch().unwrap()),
        (1, 1)
    );
    assert_eq!(idp.hits("/jwks.json"), 1, "a second first fetch");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // One task: at most two refreshes in a second (every 360 to 440 ms); two tasks: four.
    // (A loaded machine only delays timers, so only the upper bound is asserted.)
    let hits = idp.hits("/jwks.json");
    assert!(hits <= 3, "{hits} fetches");
    drop(first);
    assert!(second.is_running(), "stopped with a handle left");
    let before = idp.hits("/jwks.json");
    wait_for_hits(&idp, before + 1).await;
    assert!(
        idp.hits("/jwks.json") > before,
        "no refresh with a handle left"
    );
    drop(second);
    assert_stopped(&idp).await;
}

/// Keys refreshed every 400 ms (± 10%).
fn refreshing(idp: &Idp) -> RemoteJwks {
    builder(idp.url("/jwks.json"))
        .cooldown(Duration::from_millis(50))
        .refresh_interval(Duration::from_millis(400))
        .build()
        .unwrap()
}

/// Waits (3 s at most) until `/jwks.json` has had `n` requests.
async fn wait_for_hits(idp: &Idp, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while idp.hits("/jwks.json") < n {
        assert!(
            Instant::now() < deadline,
            "{} fetches, not {n}",
            idp.hits("/jwks.json")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// No fetch in three refresh intervals.
async fn assert_stopped(idp: &Idp) {
    // A request under way when the task stopped may still reach the server.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = idp.hits("/jwks.json");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(idp.hits("/jwks.json"), before, "refreshed after it stopped");
}

/// The handle stops the periodic refresh when asked and when dropped; detached, the task runs
/// on until the keys are dropped; a later `start()` starts a new task.
#[tokio::test]
async fn the_handle_stops_the_periodic_refresh() {
    let idp = Idp::start(vec![public_jwk(ES, "ec-1")]).await;
    let remote = refreshing(&idp);
    let m = manager(&remote);
    let handle = remote.start().await.unwrap();
    wait_for_hits(&idp, 2).await;
    handle.stop();
    assert_stopped(&idp).await;

    // Started again: a first fetch and a new task, which dropping its handle stops.
    let before = idp.hits("/jwks.json");
    let handle = remote.start().await.unwrap();
    assert_eq!(idp.hits("/jwks.json"), before + 1);
    assert!(handle.is_running());
    wait_for_hits(&idp, before + 2).await;
    drop(handle);
    assert_stopped(&idp).await;

    // Detached: it runs on without a handle, a `start()` finds it running, and it stops
    // once no manager and no `RemoteJwks` holds the keys.
    let before = idp.hits("/jwks.json");
    remote.start().await.unwrap().detach();
    wait_for_hits(&idp, before + 2).await;
    let hits = idp.hits("/jwks.json");
    let again = remote.start().await.unwrap();
    assert!(again.is_running());
    assert_eq!(idp.hits("/jwks.json"), hits, "fetched by start()");
    drop(again);
    wait_for_hits(&idp, hits + 1).await;
    assert!(
        idp.hits("/jwks.json") > hits,
        "stopped by a handle of a detached task"
    );
    drop((remote, m));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_stopped(&idp).await;
    // The token path still fetches without a task: see `a_failed_first_fetch_recovers`.
}
