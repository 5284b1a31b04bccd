//! The guard inside axum 0.8, against the maintained axum peer, as ratios measured in turns.
//!
//! One HS256 token with Flask-JWT-Extended's default claims and an audience (`aud`), in
//! `Authorization: Bearer`, sent as a `Request<axum::body::Body>` to an `axum::Router` whose
//! `GET /` handler returns a static string:
//!
//! - `bare`: the route without auth;
//! - `ours`: the same route with `.route_layer(JwtRequiredLayer::new(&manager).for_axum())`
//!   (the guard handing on and answering axum's own body), the handler taking the crate's
//!   `VerifiedToken` extractor (what the docs and `examples/axum.rs` write), the manager
//!   checking the audience, 100,000 revoked jtis in its in-process
//!   denylist (`AXUM_BENCH_REVOKED` to change), the memo of verified tokens off, so that
//!   every call verifies from scratch;
//! - `ours_remembered`: the same with the memo on (the default): a client's later requests;
//! - `ours_handler_layer`: `ours` with the guard as the handler's own layer
//!   (`get(ours.layer(...))`, axum's `Handler::layer`) instead of the route's;
//! - `ours_extension`: `ours` with the handler taking axum's `Extension<VerifiedToken>`;
//! - `ours_generic`: `ours` with the guard as for any tower service (without `for_axum`:
//!   axum boxes its body types once more);
//! - `peer`: axum-jwt-auth 0.7's `Claims<T>` extractor over a `LocalDecoder` (HS256, the
//!   audience checked), the router's state as its docs show, the same token;
//! - `tower_echo` / `tower_layer` / `tower_layer_remembered`: `benches/guard.rs`'s `echo`,
//!   `layer` and `layer_remembered` (the same guard around a bare tower service) with these
//!   managers, so that what axum's path adds to the guard is measured in the same rounds.
//!
//! Every router is called as `axum::serve` calls it (after `with_state`), and axum has its
//! default features (axum-jwt-auth asks for them, as most applications do): its router puts
//! `OriginalUri`, `MatchedPath` and the URL parameters into every request's extensions.
//!
//! Every routine is checked to answer 200 before it is timed, and the guarded routes to
//! answer 401 to a request without a token and to a token for another audience.
//!
//! After criterion, the routines are timed again in turns (25 rounds of ~20 ms batches),
//! and each ratio is the median of its 25 per-round ratios (see `benches/guard.rs`).
//!
//! `cargo bench --bench axum --features axum`; the ratios are printed at the end and written
//! to `target/criterion/axum-summary.txt`, the interleaved medians to
//! `target/criterion/axum-medians.json`. Instruction counts of one routine's calls:
//! `valgrind --tool=callgrind --toggle-collect='axum::call_router' <bench binary> --bench
//! 'axum/ours$' --profile-time 3` (`call_tower` for the `tower_` routines).

#[path = "support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Extension;
use axum::handler::Handler;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use criterion::Criterion;
use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use serde::Deserialize;
use support::{interleaved, median, quartiles, ready, selected, target_dir, Round, Routine};
use tower::{service_fn, Layer, Service};
use tower_jwt_auth::denylist::MemoryDenylist;
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer, VerifiedToken};

const SECRET: &str = "benchmark-secret-0123456789abcdefghijklmnop";
const AUDIENCE: &str = "benchmark-audience";

/// Flask-JWT-Extended's claims with an audience, typed: what the peer's handler gets.
#[derive(Deserialize, Clone)]
#[allow(dead_code)]
struct PeerClaims {
    fresh: bool,
    iat: u64,
    jti: String,
    #[serde(rename = "type")]
    kind: String,
    sub: String,
    nbf: u64,
    exp: u64,
    aud: String,
}

fn request(auth: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/");
    if let Some(auth) = auth {
        request = request.header(AUTHORIZATION, auth);
    }
    request.body(Body::empty()).unwrap()
}

/// One call through a router, the response dropped: what callgrind's `--toggle-collect`
/// counts per request (the request is built outside, the same for every routine).
#[inline(never)]
fn call_router(router: &mut Router, request: Request<Body>) -> StatusCode {
    // Every route here answers without waiting: polled at once, as `benches/guard.rs` does.
    ready(router.call(request)).unwrap().status()
}

/// One call through a tower service, as `call_router`.
#[inline(never)]
fn call_tower<S, B, R>(service: &mut S, request: Request<B>) -> StatusCode
where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible>,
{
    ready(service.call(request)).unwrap().status()
}

/// What a request to `router` answers.
fn status(router: &mut Router, auth: Option<&str>) -> StatusCode {
    call_router(router, request(auth))
}

async fn bare() -> &'static str {
    "hello"
}

/// The crate's own extractor, as the docs and `examples/axum.rs` use it.
async fn ours(token: VerifiedToken) -> &'static str {
    black_box(token.identity());
    "hello"
}

async fn ours_extension(Extension(token): Extension<VerifiedToken>) -> &'static str {
    black_box(token.identity());
    "hello"
}

async fn peer(claims: axum_jwt_auth::Claims<PeerClaims>) -> &'static str {
    black_box(&claims.claims.sub);
    "hello"
}

fn guard_manager(denylist: &MemoryDenylist, memo: bool) -> JwtManager {
    JwtManager::builder()
        .secret(SECRET)
        // Written into issued tokens (`aud`) and required of verified ones.
        .audience(AUDIENCE)
        .denylist(denylist.clone())
        .verified_token_cache(memo)
        .build()
        .unwrap()
}

/// The peer's router: a `LocalDecoder` with the audience checked, as the router's state.
fn peer_router() -> Router {
    use jsonwebtoken10::{Algorithm, DecodingKey, Validation};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    let decoder = axum_jwt_auth::LocalDecoder::builder()
        .keys(vec![DecodingKey::from_secret(SECRET.as_bytes())])
        .validation(validation)
        .build()
        .unwrap();
    let decoder: axum_jwt_auth::Decoder<PeerClaims> = Arc::new(decoder);
    Router::new().route("/", get(peer)).with_state(decoder)
}

fn bench(c: &mut Criterion, denylist: &MemoryDenylist) -> Vec<Round> {
    let manager = guard_manager(denylist, false);
    let remembered = guard_manager(denylist, true);
    let auth = format!("Bearer {}", manager.create_access_token("42").unwrap());
    let auth = auth.as_str();
    // The same secret, another audience: every guarded route must refuse it.
    let elsewhere = JwtManager::builder()
        .secret(SECRET)
        .audience("another-audience")
        .build()
        .unwrap();
    let foreign = format!("Bearer {}", elsewhere.create_access_token("42").unwrap());

    // `with_state(())`, as `axum::serve` does for every connection: the handlers (and the
    // layers of `route_layer`) become routes once, not on every request as when a
    // `Router<()>` straight from `route` is called (the peer's `with_state` does the same).
    let routers: Vec<(&'static str, Router)> = vec![
        ("bare", Router::new().route("/", get(bare))),
        (
            "ours",
            Router::new().route(
                "/",
                get(ours).route_layer(JwtRequiredLayer::new(&manager).for_axum()),
            ),
        ),
        (
            "ours_remembered",
            Router::new().route(
                "/",
                get(ours).route_layer(JwtRequiredLayer::new(&remembered).for_axum()),
            ),
        ),
        (
            "ours_handler_layer",
            Router::new().route(
                "/",
                get(ours.layer(JwtRequiredLayer::new(&manager).for_axum())),
            ),
        ),
        (
            "ours_extension",
            Router::new().route(
                "/",
                get(ours_extension).route_layer(JwtRequiredLayer::new(&manager).for_axum()),
            ),
        ),
        (
            "ours_generic",
            Router::new().route("/", get(ours).route_layer(JwtRequiredLayer::new(&manager))),
        ),
    ];
    let mut routers: Vec<(&'static str, Router)> = routers
        .into_iter()
        .map(|(name, router)| (name, router.with_state(())))
        .chain([("peer", peer_router())])
        .collect();
    for (name, router) in &mut routers {
        assert_eq!(status(router, Some(auth)), StatusCode::OK, "{name}");
        if *name != "bare" {
            // Not a route that skips auth: no token, or another audience's, is refused.
            assert_eq!(status(router, None), StatusCode::UNAUTHORIZED, "{name}");
            let refused = status(router, Some(&foreign));
            assert_eq!(refused, StatusCode::UNAUTHORIZED, "{name}");
        }
    }
    let mut routines: Vec<Routine> = routers
        .into_iter()
        .map(|(name, mut router)| {
            let routine: Box<dyn FnMut()> = Box::new(move || {
                black_box(call_router(&mut router, request(Some(black_box(auth)))));
            });
            (name, routine)
        })
        .collect();

    // `benches/guard.rs`'s `echo`, `layer` and `layer_remembered` with these managers, in the
    // same rounds.
    let tower_request = |auth: &str| {
        Request::get("/")
            .header(AUTHORIZATION, auth)
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let mut echo = service_fn(|_: Request<Empty<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
    });
    routines.push((
        "tower_echo",
        Box::new(move || {
            black_box(call_tower(&mut echo, tower_request(black_box(auth))));
        }),
    ));
    for (name, manager) in [
        ("tower_layer", &manager),
        ("tower_layer_remembered", &remembered),
    ] {
        let mut guarded = JwtRequiredLayer::new(manager).layer(service_fn(
            |_: Request<RequestBody<Empty<Bytes>>>| async {
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            },
        ));
        let status = call_tower(&mut guarded, tower_request(auth));
        assert_eq!(status, StatusCode::OK, "{name}");
        routines.push((
            name,
            Box::new(move || {
                black_box(call_tower(&mut guarded, tower_request(black_box(auth))));
            }),
        ));
    }

    let mut group = support::group(c, "axum");
    for (name, routine) in routines.iter_mut() {
        group.bench_function(*name, |b| b.iter(&mut *routine));
    }
    group.finish();
    if selected("axum") {
        interleaved(&mut routines)
    } else {
        Vec::new()
    }
}

/// A routine's time in one round (NaN if it was not timed).
fn time(round: &Round, name: &str) -> f64 {
    round
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(f64::NAN, |(_, t)| *t)
}

fn summary(rounds: &[Round]) -> String {
    let m = |name| median("axum", name);
    let mut out = format!(
        "criterion medians (ns): overhead over the bare route (tower: over tower_echo)\n\
         ours, memo off  ours, memo on  ours, Extension  peer (axum-jwt-auth)  \
         tower, memo off  tower, memo on\n\
         {:>11.0} ns {:>10.0} ns {:>12.0} ns {:>17.0} ns {:>12.0} ns {:>11.0} ns\n",
        m("ours") - m("bare"),
        m("ours_remembered") - m("bare"),
        m("ours_extension") - m("bare"),
        m("peer") - m("bare"),
        m("tower_layer") - m("tower_echo"),
        m("tower_layer_remembered") - m("tower_echo"),
    );
    if rounds.is_empty() {
        return out;
    }
    let per_round = |f: &dyn Fn(&Round) -> f64| quartiles(rounds.iter().map(f).collect());
    let overhead = |round: &Round, name: &str| time(round, name) - time(round, "bare");
    let ratio = |(mid, low, high): (f64, f64, f64)| format!("{mid:.2}x [{low:.2}, {high:.2}]");
    let ns = |(mid, low, high): (f64, f64, f64)| format!("{mid:.0} ns [{low:.0}, {high:.0}]");
    out.push_str(
        "\ninterleaved rounds: median [first quartile, third quartile] of 25 per-round figures\n",
    );
    out.push_str(&format!(
        "peer overhead / ours overhead, memo off: {}\n",
        ratio(per_round(&|r| overhead(r, "peer") / overhead(r, "ours")))
    ));
    out.push_str(&format!(
        "peer overhead / ours overhead, memo on:  {}\n",
        ratio(per_round(
            &|r| overhead(r, "peer") / overhead(r, "ours_remembered")
        ))
    ));
    out.push_str(&format!(
        "ours in axum (ours - bare), memo off: {}; memo on: {}\n",
        ns(per_round(&|r| overhead(r, "ours"))),
        ns(per_round(&|r| overhead(r, "ours_remembered"))),
    ));
    out.push_str(&format!(
        "peer in axum (peer - bare): {}\n",
        ns(per_round(&|r| overhead(r, "peer")))
    ));
    out.push_str(&format!(
        "Extension<VerifiedToken> - VerifiedToken extractor: {}; \
         the handler's layer - the route's: {}; without `for_axum` - with: {}\n",
        ns(per_round(&|r| time(r, "ours_extension") - time(r, "ours"))),
        ns(per_round(
            &|r| time(r, "ours_handler_layer") - time(r, "ours")
        )),
        ns(per_round(&|r| time(r, "ours_generic") - time(r, "ours"))),
    ));
    for (memo, layer, route) in [
        ("off", "tower_layer", "ours"),
        ("on", "tower_layer_remembered", "ours_remembered"),
    ] {
        let tower = |r: &Round| time(r, layer) - time(r, "tower_echo");
        out.push_str(&format!(
            "memo {memo}: guard on tower ({layer} - tower_echo): {}; what axum's path adds to it \
             ({route} - bare - that): {}\n",
            ns(per_round(&tower)),
            ns(per_round(&|r| overhead(r, route) - tower(r))),
        ));
    }
    out
}

fn main() {
    // 100,000 revoked tokens (`AXUM_BENCH_REVOKED` to change).
    let denylist = support::full_denylist("AXUM_BENCH_REVOKED", 100_000);
    let mut c = Criterion::default().configure_from_args();
    let rounds = bench(&mut c, &denylist);
    c.final_summary();
    support::write_medians("axum", &[("hs256", support::interleaved_medians(&rounds))]);
    let table = summary(&rounds);
    println!(
        "\n{} revoked jtis in the denylist, HS256, audience checked\n{table}",
        denylist.len()
    );
    let _ = std::fs::write(
        format!("{}/criterion/axum-summary.txt", target_dir()),
        table,
    );
}
