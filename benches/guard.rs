//! Guard cost per request, as ratios to baselines measured in the same run.
//!
//! For HS256, EdDSA, RS256 and ES256 tokens with the default claims in the `Authorization`
//! header, with 1,000,000 revoked jtis in the in-process denylist:
//!
//! - `echo`: building the request and calling a bare echo service;
//! - `layer`: the same through `JwtRequired` with the memo of verified tokens off, so that
//!   every call verifies from scratch (the guard's cost is `layer - echo`);
//! - `layer_remembered`: the same with the memo on (the default), where the repeated token
//!   is a hit: what a client's second and later requests cost;
//! - `many_tokens` / `many_tokens_remembered` (HS256): 4,096 different tokens in turn, the
//!   memo off / on: what the memo costs when it never hits;
//! - `sid` / `sid_control` (HS256): `layer` for a token of a refresh-rotation session (its
//!   `sid` claim is looked up in the denylist too) and one of the same size without;
//! - `keys10` (HS256): `layer` over a set of ten keys with kids, the token's promoted last:
//!   what choosing a key by `kid` costs;
//! - `loc_headers` / `loc_headers_cookies` / `loc_cookie` (HS256, memo off; `_remembered`:
//!   on): one token in the header through a headers-only guard and a `headers,cookies`
//!   guard, and in a cookie through the latter; `echo_cookie`: the bare echo of the
//!   cookie-borne request, which the cookie routines are taken over (it is longer to build);
//! - `role` / `role_control` (HS256, memo off; `_remembered`: on): a token carrying
//!   `roles: ["user", "admin"]` through a guard requiring `admin` and through the same guard
//!   without the requirement;
//! - `floor_mac` (HS256): the floor's signature check alone;
//! - `floor`: signature check over the signing input + base64url decode of the payload +
//!   one typed JSON parse of the claims (for HS256: a precomputed HMAC key, compared with
//!   the signature's bytes decoded before the loop);
//! - `jsonwebtoken_decode`: `jsonwebtoken::decode` of the same token;
//! - `jwt_authorizer` / `jwt_authorizer_echo`: jwt-authorizer 0.15's layer on its own echo.
//!
//! After criterion, the same routines are timed again in turns (25 rounds of ~20 ms
//! batches), and each ratio is the median of its 25 per-round ratios: a shared machine's
//! speed drifts over seconds, and criterion measures one routine after another.
//!
//! `cargo bench --bench guard`; both tables are printed at the end and written to
//! `target/criterion/guard-summary.txt` (`GUARD_BENCH_VERBOSE=1` also prints the interleaved
//! medians themselves), the interleaved medians to `target/criterion/guard-medians.json`
//! (what `scripts/chart.py` draws). `cargo bench --bench guard -- hs256/none` skips
//! criterion's pass (its filter matches no routine) and runs only the interleaved rounds.

use std::convert::Infallible;
#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use criterion::Criterion;
use hmac::{KeyInit, Mac};
use http::header::{AUTHORIZATION, COOKIE};
use http::{Request, Response};
use http_body_util::Empty;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::Deserialize;
use support::{interleaved, median, quartiles, ready, selected, target_dir, Round, Routine};
use tower::{service_fn, Layer, Service};
use tower_jwt_auth::denylist::MemoryDenylist;
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::keys::JwtKey;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

/// Flask-JWT-Extended's claims, typed.
#[derive(Deserialize, Clone)]
#[allow(dead_code)]
struct Claims {
    fresh: bool,
    iat: u64,
    jti: String,
    #[serde(rename = "type")]
    kind: String,
    sub: String,
    nbf: u64,
    exp: u64,
}

const SECRET: &str = "benchmark-secret-0123456789abcdefghijklmnop";

fn key(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/catalogue/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn request(auth: &str) -> Request<Empty<Bytes>> {
    Request::get("/")
        .header(AUTHORIZATION, auth)
        .body(Empty::new())
        .unwrap()
}

fn cookie_request(cookie: &str) -> Request<Empty<Bytes>> {
    Request::get("/")
        .header(COOKIE, cookie)
        .body(Empty::new())
        .unwrap()
}

struct Case {
    name: &'static str,
    /// The memo of verified tokens off: every call verifies from scratch.
    manager: JwtManager,
    /// The same settings with the memo on (the default).
    remembered: JwtManager,
    decoding: DecodingKey,
    algorithm: Algorithm,
}

fn cases(denylist: &MemoryDenylist) -> Vec<Case> {
    let case =
        |name, algorithm, decoding, builder: fn() -> tower_jwt_auth::manager::JwtManagerBuilder| {
            let build = |memo| {
                builder()
                    .denylist(denylist.clone())
                    .verified_token_cache(memo)
                    .build()
                    .unwrap()
            };
            Case {
                name,
                manager: build(false),
                remembered: build(true),
                decoding,
                algorithm,
            }
        };
    vec![
        case(
            "hs256",
            Algorithm::HS256,
            DecodingKey::from_secret(SECRET.as_bytes()).unwrap(),
            || JwtManager::builder().secret(SECRET),
        ),
        case(
            "eddsa",
            Algorithm::EdDSA,
            DecodingKey::from_ed_pem(&key("ed25519_public.pem")).unwrap(),
            || {
                JwtManager::builder()
                    .key_pair(
                        EncodingKey::from_ed_pem(&key("ed25519_private.pem")).unwrap(),
                        DecodingKey::from_ed_pem(&key("ed25519_public.pem")).unwrap(),
                    )
                    .algorithm(Algorithm::EdDSA)
            },
        ),
        case(
            "rs256",
            Algorithm::RS256,
            DecodingKey::from_rsa_pem(&key("rsa_public.pem")).unwrap(),
            || {
                JwtManager::builder()
                    .key_pair(
                        EncodingKey::from_rsa_pem(&key("rsa_private.pem")).unwrap(),
                        DecodingKey::from_rsa_pem(&key("rsa_public.pem")).unwrap(),
                    )
                    .algorithm(Algorithm::RS256)
            },
        ),
        case(
            "es256",
            Algorithm::ES256,
            DecodingKey::from_ec_pem(&key("ec_public.pem")).unwrap(),
            || {
                JwtManager::builder()
                    .key_pair(
                        EncodingKey::from_ec_pem(&key("ec_private.pem")).unwrap(),
                        DecodingKey::from_ec_pem(&key("ec_public.pem")).unwrap(),
                    )
                    .algorithm(Algorithm::ES256)
            },
        ),
    ]
}

fn bench(c: &mut Criterion, case: &Case, denylist: &MemoryDenylist) -> Vec<Round> {
    let token = case.manager.create_access_token("42").unwrap();
    let auth = format!("Bearer {token}");
    let auth = auth.as_str();
    let mut routines: Vec<Routine> = Vec::new();

    // The same echo bare and behind a guard (which hands on the body in a `RequestBody`).
    let mut bare = service_fn(|_: Request<Empty<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let echo = service_fn(|_: Request<RequestBody<Empty<Bytes>>>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    routines.push((
        "echo",
        Box::new(move || {
            black_box(ready(bare.call(request(black_box(auth)))).unwrap());
        }),
    ));
    for (name, manager) in [
        ("layer", &case.manager),
        ("layer_remembered", &case.remembered),
    ] {
        let mut guarded = JwtRequiredLayer::new(manager).layer(echo);
        assert_eq!(ready(guarded.call(request(auth))).unwrap().status(), 200);
        routines.push((
            name,
            Box::new(move || {
                black_box(ready(guarded.call(request(black_box(auth)))).unwrap());
            }),
        ));
    }

    // Many clients: 4,096 tokens in turn, far more than a thread's memo holds, so that the
    // memo never hits; what it then costs over having it off.
    if case.algorithm == Algorithm::HS256 {
        let auths: Vec<String> = (0..4096)
            .map(|i| format!("Bearer {}", case.manager.create_access_token(i).unwrap()))
            .collect();
        for (name, manager) in [
            ("many_tokens", &case.manager),
            ("many_tokens_remembered", &case.remembered),
        ] {
            let mut guarded = JwtRequiredLayer::new(manager).layer(echo);
            let auths = auths.clone();
            let mut i = 0usize;
            routines.push((
                name,
                Box::new(move || {
                    i = (i + 1) % auths.len();
                    black_box(ready(guarded.call(request(black_box(&auths[i])))).unwrap());
                }),
            ));
        }
    }
    // Token locations (HS256): one token (it carries a `csrf` claim) through a headers-only
    // guard and a `headers,cookies` guard in the header, and through the latter in a cookie
    // (after another cookie, as browsers send them), the memo off and on.
    if case.algorithm == Algorithm::HS256 {
        let with = |locations: &[TokenLocation], memo: bool| {
            JwtManager::builder()
                .secret(SECRET)
                .denylist(denylist.clone())
                .token_locations(locations.iter().copied())
                .verified_token_cache(memo)
                .build()
                .unwrap()
        };
        let cookie_token = with(&[TokenLocation::Cookies], false)
            .create_access_token("42")
            .unwrap();
        let header = format!("Bearer {cookie_token}");
        let cookie = format!("csrf_access_token=0f6c1d3e; access_token_cookie={cookie_token}");
        // The bare echo with the cookie-borne request (longer to build than `echo`'s): what
        // a cookie route's guard cost is taken over.
        let mut bare = service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
        });
        let bare_cookie = cookie.clone();
        routines.push((
            "echo_cookie",
            Box::new(move || {
                black_box(ready(bare.call(cookie_request(black_box(&bare_cookie)))).unwrap());
            }),
        ));
        for memo in [false, true] {
            let suffix = if memo { "_remembered" } else { "" };
            let headers_only = with(&[TokenLocation::Headers], memo);
            let both = with(&[TokenLocation::Headers, TokenLocation::Cookies], memo);
            for (name, manager, cookie_borne) in [
                ("loc_headers", headers_only, false),
                ("loc_headers_cookies", both.clone(), false),
                ("loc_cookie", both, true),
            ] {
                let name: &'static str = Box::leak(format!("{name}{suffix}").into_boxed_str());
                let mut guarded = JwtRequiredLayer::new(&manager).layer(echo);
                let (header, cookie) = (header.clone(), cookie.clone());
                let make = move || {
                    if cookie_borne {
                        cookie_request(black_box(&cookie))
                    } else {
                        request(black_box(&header))
                    }
                };
                assert_eq!(ready(guarded.call(make())).unwrap().status(), 200);
                routines.push((
                    name,
                    Box::new(move || {
                        black_box(ready(guarded.call(make())).unwrap());
                    }),
                ));
            }
        }
    }

    // A set of ten HS256 keys with kids, the token signed by the one looked at last.
    if case.algorithm == Algorithm::HS256 {
        let secret = |i: usize| format!("benchmark-secret-{i:02}-0123456789abcdefghijklmnop");
        let first = JwtKey::hmac(Algorithm::HS256, secret(0))
            .unwrap()
            .with_kid("k00");
        let manager = JwtManager::builder()
            .key(first)
            .denylist(denylist.clone())
            .verified_token_cache(false)
            .build()
            .unwrap();
        for i in 1..10 {
            let key = JwtKey::hmac(Algorithm::HS256, secret(i)).unwrap();
            manager.add_key(key.with_kid(format!("k{i:02}"))).unwrap();
        }
        manager.promote_key("k09").unwrap();
        let token = manager.create_access_token("42").unwrap();
        let auth = format!("Bearer {token}");
        let mut guarded = JwtRequiredLayer::new(&manager).layer(echo);
        assert_eq!(ready(guarded.call(request(&auth))).unwrap().status(), 200);
        routines.push((
            "keys10",
            Box::new(move || {
                black_box(ready(guarded.call(request(black_box(&auth)))).unwrap());
            }),
        ));
    }

    // Refresh rotation (HS256): a token of a session (its `sid` claim, looked up in the
    // denylist next to its `jti`) against a token of the same size with another claim
    // carrying the same value, the memo off.
    if case.algorithm == Algorithm::HS256 {
        let sid = uuid::Uuid::new_v4().to_string();
        for (name, claim) in [("sid", "sid"), ("sid_control", "xid")] {
            // `sid` is reserved (only the auth service sets it): the manager's own token
            // with one more claim last, as it issued a session's, signed with its secret.
            let issued = case.manager.create_access_token("42").unwrap();
            let mut parts = issued.split('.');
            let (header, payload) = (parts.next().unwrap(), parts.next().unwrap());
            let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
            let json = format!(r#"{},"{claim}":"{sid}"}}"#, json.strip_suffix('}').unwrap());
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(json));
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(input.as_bytes());
            let token = format!(
                "{input}.{}",
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            );
            let auth = format!("Bearer {token}");
            let mut guarded = JwtRequiredLayer::new(&case.manager).layer(echo);
            assert_eq!(ready(guarded.call(request(&auth))).unwrap().status(), 200);
            routines.push((
                name,
                Box::new(move || {
                    black_box(ready(guarded.call(request(black_box(&auth)))).unwrap());
                }),
            ));
        }
    }

    // Authorization (HS256): one token carrying roles through a guard requiring one of them
    // and through the same guard without the requirement, the memo off and on.
    if case.algorithm == Algorithm::HS256 {
        let options = tower_jwt_auth::issue::TokenOptions::new().roles(["user", "admin"]);
        let token = case
            .manager
            .create_access_token_with("42", options)
            .unwrap();
        let auth = format!("Bearer {token}");
        for (suffix, manager) in [("", &case.manager), ("_remembered", &case.remembered)] {
            for (name, layer) in [
                ("role", JwtRequiredLayer::new(manager).require_role("admin")),
                ("role_control", JwtRequiredLayer::new(manager)),
            ] {
                let name: &'static str = Box::leak(format!("{name}{suffix}").into_boxed_str());
                let mut guarded = layer.layer(echo);
                let auth = auth.clone();
                assert_eq!(ready(guarded.call(request(&auth))).unwrap().status(), 200);
                routines.push((
                    name,
                    Box::new(move || {
                        black_box(ready(guarded.call(request(black_box(&auth)))).unwrap());
                    }),
                ));
            }
        }
    }

    // The floor: signature, base64url of the payload, one typed parse. For HS256, the MAC
    // over the signing input compared with the signature's bytes decoded once, outside the
    // loop: decoding the signature is work the floor does not count.
    let (input, signature) = token.rsplit_once('.').unwrap();
    let payload = input.split_once('.').unwrap().1;
    let hmac_key = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    let signature_bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let algorithm = case.algorithm;
    let decoding = &case.decoding;
    if algorithm == Algorithm::HS256 {
        // The floor's first stage alone, for the chart of the cost per stage.
        let hmac_key = hmac_key.clone();
        let signature_bytes = signature_bytes.clone();
        routines.push((
            "floor_mac",
            Box::new(move || {
                let mut mac = hmac_key.clone();
                mac.update(black_box(input).as_bytes());
                assert!(mac.verify_slice(black_box(&signature_bytes)).is_ok());
            }),
        ));
    }
    routines.push((
        "floor",
        Box::new(move || {
            let ok = if algorithm == Algorithm::HS256 {
                let mut mac = hmac_key.clone();
                mac.update(black_box(input).as_bytes());
                mac.verify_slice(black_box(&signature_bytes)).is_ok()
            } else {
                jsonwebtoken::crypto::verify(
                    signature,
                    black_box(input).as_bytes(),
                    decoding,
                    algorithm,
                )
                .unwrap()
            };
            assert!(ok);
            // The fastest strict base64url decoder at hand (the one the guard uses).
            let json = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(payload).unwrap();
            black_box(serde_json::from_slice::<Claims>(&json).unwrap());
        }),
    ));

    let mut validation = Validation::new(case.algorithm);
    validation.leeway = 0;
    let token = token.as_str();
    routines.push((
        "jsonwebtoken_decode",
        Box::new(move || {
            black_box(
                jsonwebtoken::decode::<Claims>(black_box(token), decoding, &validation).unwrap(),
            );
        }),
    ));

    // jwt-authorizer's layer needs a Tokio runtime entered while it is called.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _enter = runtime.enter();
    if case.algorithm == Algorithm::HS256 {
        let echo07 = service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(axum07::response::Response::new(axum07::body::Body::empty()))
        });
        let mut bare07 = echo07;
        routines.push((
            "jwt_authorizer_echo",
            Box::new(move || {
                black_box(ready(bare07.call(request(black_box(auth)))).unwrap());
            }),
        ));
        use jwt_authorizer::IntoLayer;
        let authorizer = runtime
            .block_on(jwt_authorizer::JwtAuthorizer::<Claims>::from_secret(SECRET).build())
            .unwrap();
        let mut authorized = authorizer.into_layer().layer(echo07);
        assert_eq!(ready(authorized.call(request(auth))).unwrap().status(), 200);
        routines.push((
            "jwt_authorizer",
            Box::new(move || {
                black_box(ready(authorized.call(request(black_box(auth)))).unwrap());
            }),
        ));
    }

    let mut group = support::group(c, case.name);
    for (name, routine) in routines.iter_mut() {
        group.bench_function(*name, |b| b.iter(&mut *routine));
    }
    group.finish();
    if selected(case.name) {
        interleaved(&mut routines)
    } else {
        Vec::new()
    }
}

fn summary(names: &[&str], rounds: &[Vec<Round>]) -> String {
    let mut out = String::from(
        "criterion medians (ns)\n\
         case   guard(layer-echo)  remembered  floor      jsonwebtoken  jwt-authorizer\n",
    );
    for name in names {
        let m = |b| median(name, b);
        out.push_str(&format!(
            "{name:<6} {:>10.0} ns {:>10.0} ns {:>8.0} ns {:>10.0} ns {:>12.0} ns\n",
            m("layer") - m("echo"),
            m("layer_remembered") - m("echo"),
            m("floor"),
            m("jsonwebtoken_decode"),
            m("jwt_authorizer") - m("jwt_authorizer_echo"),
        ));
    }
    out.push_str(
        "\nratios, interleaved rounds: median [first quartile, third quartile] of 25 per-round ratios\n\
         case   guard/floor          guard/decode         authorizer/guard     remembered/floor\n",
    );
    for (name, rounds) in names.iter().zip(rounds) {
        // One round's figures: the guard, the floor, jsonwebtoken, jwt-authorizer, the
        // guard on a remembered token.
        let figures: Vec<[f64; 5]> = rounds
            .iter()
            .map(|round| {
                let t = |b: &str| {
                    round
                        .iter()
                        .find(|(n, _)| *n == b)
                        .map_or(f64::NAN, |(_, t)| *t)
                };
                [
                    t("layer") - t("echo"),
                    t("floor"),
                    t("jsonwebtoken_decode"),
                    t("jwt_authorizer") - t("jwt_authorizer_echo"),
                    t("layer_remembered") - t("echo"),
                ]
            })
            .collect();
        let ratio = |f: fn(&[f64; 5]) -> f64| {
            let (mid, low, high) = quartiles(figures.iter().map(f).collect());
            format!("{mid:>5.2}x [{low:.2}, {high:.2}]")
        };
        if std::env::var_os("GUARD_BENCH_VERBOSE").is_some() {
            for (i, what) in [
                "guard",
                "floor",
                "jsonwebtoken",
                "jwt-authorizer",
                "remembered",
            ]
            .iter()
            .enumerate()
            {
                let (mid, _, _) = quartiles(figures.iter().map(|f| f[i]).collect());
                eprintln!("{name} interleaved median {what}: {mid:.0} ns");
            }
        }
        out.push_str(&format!(
            "{name:<6} {:<20} {:<20} {:<20} {}\n",
            ratio(|[guard, floor, ..]| guard / floor),
            ratio(|[guard, _, decode, ..]| guard / decode),
            ratio(|[guard, _, _, authorizer, _]| authorizer / guard),
            ratio(|[_, floor, .., remembered]| remembered / floor),
        ));
    }
    for (name, rounds) in names.iter().zip(rounds) {
        let extra: Vec<f64> = rounds
            .iter()
            .map(|round| {
                let t = |n: &str| round.iter().find(|(m, _)| *m == n).map(|(_, t)| *t);
                match (t("keys10"), t("layer")) {
                    (Some(ten), Some(one)) => ten - one,
                    _ => f64::NAN,
                }
            })
            .collect();
        let sid: Vec<f64> = rounds
            .iter()
            .map(|round| {
                let t = |n: &str| round.iter().find(|(m, _)| *m == n).map(|(_, t)| *t);
                match (t("sid"), t("sid_control"), t("echo")) {
                    (Some(sid), Some(control), Some(echo)) => (sid - echo) / (control - echo),
                    _ => f64::NAN,
                }
            })
            .collect();
        if sid.iter().any(|r| r.is_finite()) {
            let (mid, low, high) = quartiles(sid);
            out.push_str(&format!(
                "{name:<6} a session's token (sid looked up) / the same size without: \
                 {mid:.3}x [{low:.3}, {high:.3}]\n"
            ));
        }
        if extra.iter().any(|r| r.is_finite()) {
            let (mid, low, high) = quartiles(extra);
            out.push_str(&format!(
                "{name:<6} ten keys, the token's looked at last, against one key: \
                 {mid:+.0} ns [{low:+.0}, {high:+.0}]\n"
            ));
        }
        for suffix in ["", "_remembered"] {
            let ratio = |a: &str, b: &str| {
                let (a, b) = (format!("{a}{suffix}"), format!("{b}{suffix}"));
                let ratios: Vec<f64> = rounds
                    .iter()
                    .map(|round| {
                        let t = |n: &str| round.iter().find(|(m, _)| *m == n).map(|(_, t)| *t);
                        // Each over the bare echo of its own request.
                        let echo = |n: &str| match n.starts_with("loc_cookie") {
                            true => t("echo_cookie"),
                            false => t("echo"),
                        };
                        match (t(&a), t(&b), echo(&a), echo(&b)) {
                            (Some(a), Some(b), Some(echo_a), Some(echo_b)) => {
                                (a - echo_a) / (b - echo_b)
                            }
                            _ => f64::NAN,
                        }
                    })
                    .collect();
                ratios
                    .iter()
                    .any(|r| r.is_finite())
                    .then(|| quartiles(ratios))
            };
            if let Some(role) = ratio("role", "role_control") {
                let memo = if suffix.is_empty() {
                    "memo off"
                } else {
                    "memo on"
                };
                out.push_str(&format!(
                    "{name:<6} one role required / none, {memo}: {:.3}x [{:.3}, {:.3}]\n",
                    role.0, role.1, role.2
                ));
            }
            if let (Some(both), Some(cookie)) = (
                ratio("loc_headers_cookies", "loc_headers"),
                ratio("loc_cookie", "loc_headers_cookies"),
            ) {
                let memo = if suffix.is_empty() {
                    "memo off"
                } else {
                    "memo on"
                };
                out.push_str(&format!(
                    "{name:<6} locations, {memo}: headers,cookies / headers-only (header token) \
                     {:.3}x [{:.3}, {:.3}]; cookie token / header token {:.3}x [{:.3}, {:.3}]\n",
                    both.0, both.1, both.2, cookie.0, cookie.1, cookie.2
                ));
            }
        }
    }
    for (name, rounds) in names.iter().zip(rounds) {
        // jwt-authorizer's overhead over ours with the memo on: a repeated token (a hit),
        // and 4,096 tokens in turn (never a hit).
        for (routine, what) in [
            ("layer_remembered", "memo on, a repeated token"),
            ("many_tokens_remembered", "memo on, 4,096 tokens in turn"),
        ] {
            let ratios: Vec<f64> = rounds
                .iter()
                .map(|round| {
                    let t = |b: &str| round.iter().find(|(n, _)| *n == b).map(|(_, t)| *t);
                    match (
                        t("jwt_authorizer"),
                        t("jwt_authorizer_echo"),
                        t(routine),
                        t("echo"),
                    ) {
                        (Some(a), Some(a_echo), Some(ours), Some(echo)) => {
                            (a - a_echo) / (ours - echo)
                        }
                        _ => f64::NAN,
                    }
                })
                .collect();
            if ratios.iter().any(|r| r.is_finite()) {
                let (mid, low, high) = quartiles(ratios);
                out.push_str(&format!(
                    "{name:<6} authorizer/guard, {what}: {mid:.2}x [{low:.2}, {high:.2}]\n"
                ));
            }
        }
    }
    for (name, rounds) in names.iter().zip(rounds) {
        let ratios: Vec<f64> = rounds
            .iter()
            .map(|round| {
                let t = |b: &str| round.iter().find(|(n, _)| *n == b).map(|(_, t)| *t);
                match (t("many_tokens_remembered"), t("many_tokens"), t("echo")) {
                    (Some(on), Some(off), Some(echo)) => (on - echo) / (off - echo),
                    _ => f64::NAN,
                }
            })
            .collect();
        if ratios.iter().any(|r| r.is_finite()) {
            let (mid, low, high) = quartiles(ratios);
            out.push_str(&format!(
                "{name:<6} 4,096 tokens in turn (the memo never hits): guard with the memo on / off \
                 {mid:.2}x [{low:.2}, {high:.2}]\n"
            ));
        }
    }
    out
}

fn main() {
    // 1,000,000 revoked tokens, as after a busy month (`GUARD_BENCH_REVOKED` to change).
    let denylist = support::full_denylist("GUARD_BENCH_REVOKED", 1_000_000);
    let cases = cases(&denylist);
    let mut c = Criterion::default().configure_from_args();
    let rounds: Vec<_> = cases
        .iter()
        .map(|case| bench(&mut c, case, &denylist))
        .collect();
    c.final_summary();
    let medians: Vec<(&str, Vec<(&str, f64)>)> = cases
        .iter()
        .zip(&rounds)
        .map(|(case, rounds)| (case.name, support::interleaved_medians(rounds)))
        .collect();
    support::write_medians("guard", &medians);
    let table = summary(&cases.iter().map(|c| c.name).collect::<Vec<_>>(), &rounds);
    println!("\n{} revoked jtis in the denylist\n{table}", denylist.len());
    let _ = std::fs::write(
        format!("{}/criterion/guard-summary.txt", target_dir()),
        table,
    );
}
