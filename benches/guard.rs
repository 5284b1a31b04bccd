//! Guard cost per request, as ratios to baselines measured in the same run.
//!
//! For HS256, EdDSA and ES256 tokens with the default claims in the `Authorization` header,
//! with 1,000,000 revoked jtis in the in-process denylist:
//!
//! - `echo`: building the request and calling a bare echo service;
//! - `layer`: the same through `JwtRequired` (the guard's cost is `layer - echo`);
//! - `floor`: signature check over the signing input + base64url decode of the payload +
//!   one typed JSON parse of the claims (for HS256 with a precomputed HMAC key);
//! - `jsonwebtoken_decode`: `jsonwebtoken::decode` of the same token;
//! - `jwt_authorizer` / `jwt_authorizer_echo`: jwt-authorizer 0.15's layer on its own echo.
//!
//! `cargo bench --bench guard`; the ratio table is printed at the end and written to
//! `target/criterion/guard-summary.txt`.

use std::convert::Infallible;
#[path = "support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use criterion::Criterion;
use hmac::{KeyInit, Mac};
use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::Empty;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::Deserialize;
use support::{median, ready, target_dir};
use tower::{service_fn, Layer, Service};
use tower_jwt_auth::{JwtManager, JwtRequiredLayer, MemoryDenylist};

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

/// 1,000,000 revoked tokens, as after a busy month (`GUARD_BENCH_REVOKED` to change).
fn full_denylist() -> MemoryDenylist {
    let list = MemoryDenylist::new();
    let until = Some(SystemTime::now() + Duration::from_secs(3600));
    let n: usize = std::env::var("GUARD_BENCH_REVOKED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    for _ in 0..n {
        list.insert(&uuid::Uuid::new_v4().to_string(), until);
    }
    list
}

struct Case {
    name: &'static str,
    manager: JwtManager,
    decoding: DecodingKey,
    algorithm: Algorithm,
}

fn cases(denylist: &MemoryDenylist) -> Vec<Case> {
    let build =
        |b: tower_jwt_auth::JwtManagerBuilder| b.denylist(denylist.clone()).build().unwrap();
    vec![
        Case {
            name: "hs256",
            manager: build(JwtManager::builder().secret(SECRET)),
            decoding: DecodingKey::from_secret(SECRET.as_bytes()).unwrap(),
            algorithm: Algorithm::HS256,
        },
        Case {
            name: "eddsa",
            manager: build(
                JwtManager::builder()
                    .key_pair(
                        EncodingKey::from_ed_pem(&key("ed25519_private.pem")).unwrap(),
                        DecodingKey::from_ed_pem(&key("ed25519_public.pem")).unwrap(),
                    )
                    .algorithm(Algorithm::EdDSA),
            ),
            decoding: DecodingKey::from_ed_pem(&key("ed25519_public.pem")).unwrap(),
            algorithm: Algorithm::EdDSA,
        },
        Case {
            name: "es256",
            manager: build(
                JwtManager::builder()
                    .key_pair(
                        EncodingKey::from_ec_pem(&key("ec_private.pem")).unwrap(),
                        DecodingKey::from_ec_pem(&key("ec_public.pem")).unwrap(),
                    )
                    .algorithm(Algorithm::ES256),
            ),
            decoding: DecodingKey::from_ec_pem(&key("ec_public.pem")).unwrap(),
            algorithm: Algorithm::ES256,
        },
    ]
}

fn bench(c: &mut Criterion, case: &Case) {
    let token = case.manager.create_access_token("42").unwrap();
    let auth = format!("Bearer {token}");
    let mut group = c.benchmark_group(case.name);
    group
        .sample_size(40)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    let echo = service_fn(|_: Request<Empty<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    let mut bare = echo;
    group.bench_function("echo", |b| {
        b.iter(|| ready(bare.call(request(black_box(&auth)))).unwrap())
    });
    let mut guarded = JwtRequiredLayer::new(&case.manager).layer(echo);
    assert_eq!(ready(guarded.call(request(&auth))).unwrap().status(), 200);
    group.bench_function("layer", |b| {
        b.iter(|| ready(guarded.call(request(black_box(&auth)))).unwrap())
    });

    // The floor: signature, base64url of the payload, one typed parse.
    let (input, signature) = token.rsplit_once('.').unwrap();
    let payload = input.split_once('.').unwrap().1;
    let hmac_key = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    let algorithm = case.algorithm;
    let decoding = &case.decoding;
    group.bench_function("floor", |b| {
        b.iter(|| {
            let ok = if algorithm == Algorithm::HS256 {
                let mut mac = hmac_key.clone();
                mac.update(black_box(input).as_bytes());
                let sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
                mac.verify_slice(&sig).is_ok()
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
            let json = URL_SAFE_NO_PAD.decode(payload).unwrap();
            serde_json::from_slice::<Claims>(&json).unwrap()
        })
    });

    let mut validation = Validation::new(case.algorithm);
    validation.leeway = 0;
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), decoding, &validation).unwrap())
    });

    if case.algorithm == Algorithm::HS256 {
        let echo07 = service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(axum07::response::Response::new(axum07::body::Body::empty()))
        });
        let mut bare07 = echo07;
        group.bench_function("jwt_authorizer_echo", |b| {
            b.iter(|| ready(bare07.call(request(black_box(&auth)))).unwrap())
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        use jwt_authorizer::IntoLayer;
        let authorizer = runtime
            .block_on(jwt_authorizer::JwtAuthorizer::<Claims>::from_secret(SECRET).build())
            .unwrap();
        let layer = authorizer.into_layer();
        let mut authorized = layer.layer(echo07);
        let _enter = runtime.enter();
        assert_eq!(
            ready(authorized.call(request(&auth))).unwrap().status(),
            200
        );
        group.bench_function("jwt_authorizer", |b| {
            b.iter(|| ready(authorized.call(request(black_box(&auth)))).unwrap())
        });
    }
    group.finish();
}

fn summary(names: &[&str]) -> String {
    let mut out = String::from(
        "case   guard(layer-echo)  floor      jsonwebtoken  jwt-authorizer  guard/floor  guard/decode  authorizer/guard\n",
    );
    for name in names {
        let m = |b| median(name, b);
        let guard = m("layer") - m("echo");
        let authorizer = m("jwt_authorizer") - m("jwt_authorizer_echo");
        out.push_str(&format!(
            "{name:<6} {:>10.0} ns {:>8.0} ns {:>10.0} ns {:>12.0} ns {:>10.2}x {:>12.2}x {:>14.2}x\n",
            guard,
            m("floor"),
            m("jsonwebtoken_decode"),
            authorizer,
            guard / m("floor"),
            guard / m("jsonwebtoken_decode"),
            authorizer / guard,
        ));
    }
    out
}

fn main() {
    let denylist = full_denylist();
    let cases = cases(&denylist);
    let mut c = Criterion::default().configure_from_args();
    for case in &cases {
        bench(&mut c, case);
    }
    c.final_summary();
    let table = summary(&cases.iter().map(|c| c.name).collect::<Vec<_>>());
    println!("\nmedians, 1,000,000 revoked jtis in the denylist:\n{table}");
    let _ = std::fs::write(
        format!("{}/criterion/guard-summary.txt", target_dir()),
        table,
    );
}
