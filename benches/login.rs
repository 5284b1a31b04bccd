//! Logins per second: what one core sustains at OWASP's Argon2id parameters (m = 19456 KiB,
//! t = 2, p = 1), including the access and refresh tokens a login issues, with the crypto
//! backend the crate was built with, and what all cores reach at once (no HTTP).
//!
//! Per signing algorithm (HS256, EdDSA, ES256, RS256), criterion times:
//!
//! - `login/<alg>/login`: a whole `POST /token` answered 200 by the `AuthService` (JSON body
//!   read, user looked up in a `MemoryUserStore`, the password verified on the pool, a fresh
//!   access token and a refresh token signed, the JSON answer written), one at a time:
//!   logins per second on one core = 1 s ÷ its median;
//! - `login/<alg>/tokens`: the two tokens alone (what the backend adds to a login);
//!
//! and once, `login/argon2/verify`: one verification on the pool, the Argon2 part alone.
//!
//! Then, per algorithm, 9 alternating rounds (`LOGIN_ROUNDS`) of 10 logins one at a time and
//! 10 batches of as many logins at once as there are cores (the pool has a thread per core):
//! the batch's logins per second ÷ the limit (cores ÷ the time of one login), the median of
//! the rounds' ratios, as the login storm (BENCHMARKS.md §5) computes it over HTTP.
//!
//! Results are printed and written to `target/criterion/login-summary.txt`.
//!
//! ```text
//! cargo bench --bench login                                                  # rust_crypto
//! cargo bench --bench login --no-default-features --features aws_lc_rs,service  # aws-lc-rs
//! ```

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use criterion::Criterion;
use http::{Request, StatusCode};
use http_body_util::Full;
use tower::ServiceExt;
use tower_jwt_auth::issue::TokenOptions;
use tower_jwt_auth::jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use tower_jwt_auth::password::PasswordHasher;
use tower_jwt_auth::service::{AuthService, MemoryUserStore};
use tower_jwt_auth::JwtManager;

const SECRET: &str = "a-bench-secret-that-is-32-bytes!";
const PASSWORD: &str = "correct horse battery staple";

const BACKEND: &str = if cfg!(feature = "aws_lc_rs") {
    "aws_lc_rs"
} else {
    "rust_crypto"
};

fn key(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/catalogue/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The signing algorithms a login may issue with, each with its manager.
fn managers() -> Vec<(&'static str, JwtManager)> {
    let pair = |algorithm, encoding: EncodingKey, decoding: DecodingKey| {
        JwtManager::builder()
            .key_pair(encoding, decoding)
            .algorithm(algorithm)
            .build()
            .unwrap()
    };
    vec![
        (
            "hs256",
            JwtManager::builder().secret(SECRET).build().unwrap(),
        ),
        (
            "eddsa",
            pair(
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(&key("ed25519_private.pem")).unwrap(),
                DecodingKey::from_ed_pem(&key("ed25519_public.pem")).unwrap(),
            ),
        ),
        (
            "es256",
            pair(
                Algorithm::ES256,
                EncodingKey::from_ec_pem(&key("ec_private.pem")).unwrap(),
                DecodingKey::from_ec_pem(&key("ec_public.pem")).unwrap(),
            ),
        ),
        (
            "rs256",
            pair(
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(&key("rsa_private.pem")).unwrap(),
                DecodingKey::from_rsa_pem(&key("rsa_public.pem")).unwrap(),
            ),
        ),
    ]
}

fn login_request() -> Request<Full<Bytes>> {
    Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::from(format!(
            r#"{{"email":"ada@example.com","password":"{PASSWORD}"}}"#
        )))
        .unwrap()
}

/// One signing algorithm's results: criterion's medians of a login and of its two tokens, and
/// the alternating rounds' ratios (sorted).
struct Summary {
    name: &'static str,
    login_ns: f64,
    tokens_ns: f64,
    ratios: Vec<f64>,
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rounds: usize = std::env::var("LOGIN_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(9)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_time()
        .build()
        .unwrap();
    // One pool thread per core, as `PasswordHasher::new`, waiting long enough never to be busy.
    let hasher = PasswordHasher::with_limits(cores, Duration::from_secs(60));
    let users = MemoryUserStore::new();
    users.add_user("ada@example.com", "1", PASSWORD).unwrap();
    let phc = tower_jwt_auth::password::hash(PASSWORD).unwrap();
    assert!(
        phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "OWASP's parameters: {phc}"
    );

    let mut c = Criterion::default().configure_from_args();
    let quick = std::env::args().any(|a| a == "--list" || a == "--test" || a == "--profile-time");
    {
        let mut group = support::group(&mut c, "login/argon2");
        // A hash takes ~20 ms: fewer samples over a longer time than the shared settings.
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
        group.bench_function("verify", |b| {
            b.iter(|| assert!(runtime.block_on(hasher.verify(PASSWORD, &phc)).unwrap()))
        });
        group.finish();
    }

    let mut summaries = Vec::new();
    for (name, manager) in managers() {
        let auth = AuthService::builder(&manager, users.clone())
            .password_hasher(hasher.clone())
            .build();
        let login = |auth: AuthService<MemoryUserStore>| async move {
            let res = auth
                .oneshot(login_request())
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            assert_eq!(res.status(), StatusCode::OK);
        };
        let one = || {
            runtime.block_on(login(auth.clone()));
        };
        // `cores` logins at once; the time of the batch.
        let full = || {
            runtime.block_on(async {
                let logins: Vec<_> = (0..cores)
                    .map(|_| tokio::spawn(login(auth.clone())))
                    .collect();
                for done in logins {
                    done.await.unwrap();
                }
            })
        };
        let tokens = || {
            let access = manager
                .create_access_token_with("1", TokenOptions::new().fresh(true))
                .unwrap();
            let refresh = manager.create_refresh_token("1").unwrap();
            (access, refresh)
        };

        let group_name = format!("login/{name}");
        let mut group = support::group(&mut c, &group_name);
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3));
        group.bench_function("login", |b| b.iter(one));
        group.bench_function("tokens", |b| b.iter(tokens));
        group.finish();
        if quick {
            full(); // the batch works too
            continue;
        }

        // Logins per second with every core busy, against cores / time of one login.
        let ratios = support::pool_efficiency(&one, &full, rounds);
        summaries.push(Summary {
            name,
            // Criterion's folder of the group: its name with '/' as '_'.
            login_ns: support::median(&group_name.replace('/', "_"), "login"),
            tokens_ns: support::median(&group_name.replace('/', "_"), "tokens"),
            ratios,
        });
    }
    c.final_summary();
    if quick {
        return;
    }

    let verify_ns = support::median("login_argon2", "verify");
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Logins at OWASP's Argon2id parameters (m=19456 KiB, t=2, p=1), backend {BACKEND}, \
         {cores} cores; criterion medians\n\
         one Argon2id verification on the pool: {:.2} ms ({:.1} per second on one core)\n",
        verify_ns / 1e6,
        1e9 / verify_ns
    );
    let _ = writeln!(
        text,
        "{:<6} {:>10} {:>14} {:>12} {:>8}   all cores at once ÷ (cores ÷ one login): median of \
         rounds (range)",
        "alg", "login ms", "logins/s/core", "2 tokens µs", "tokens %"
    );
    for s in &summaries {
        let median = s.ratios[s.ratios.len() / 2];
        let _ = writeln!(
            text,
            "{:<6} {:>10.2} {:>14.1} {:>12.1} {:>7.1}%   {:.2} of {} rounds ({:.2}–{:.2})",
            s.name,
            s.login_ns / 1e6,
            1e9 / s.login_ns,
            s.tokens_ns / 1e3,
            100.0 * s.tokens_ns / s.login_ns,
            median,
            s.ratios.len(),
            s.ratios[0],
            s.ratios[s.ratios.len() - 1]
        );
    }
    let _ = writeln!(
        text,
        "\n(The last column wants a quiet machine: the pool's threads run under SCHED_IDLE and \
         get only the CPU nothing else wants.)"
    );
    println!("\n{text}");
    let path = format!("{}/criterion/login-summary.txt", support::target_dir());
    match std::fs::write(&path, &text) {
        Ok(()) => println!("written to {path}"),
        Err(err) => eprintln!("could not write {path}: {err}"),
    }
}
