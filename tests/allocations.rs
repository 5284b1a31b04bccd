//! Cookie parsing allocates nothing on the hot path: a guarded request whose token comes
//! from a cookie (among others, on a route that also reads headers) allocates exactly as
//! much as the same request with the token in the `Authorization` header, and a guard
//! configured with `headers,cookies` allocates no more than a headers-only one.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{service_fn, Layer, Service};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::manager::TokenLocation;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

struct Counting;

thread_local! {
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    COUNT.with(Cell::get)
}

/// Allocations made on this thread by one guarded request, driven to completion in place.
fn allocations_of(layer: &JwtRequiredLayer, req: impl Fn() -> Request<Full<Bytes>>) -> u64 {
    let mut svc = layer.layer(service_fn(|_: Request<RequestBody<Full<Bytes>>>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    }));
    let mut cx = Context::from_waker(Waker::noop());
    let mut once = || {
        let req = req();
        let before = allocations();
        let mut future = pin!(svc.call(req));
        let Poll::Ready(res) = future.as_mut().poll(&mut cx) else {
            panic!("the in-memory denylist answers at once");
        };
        let after = allocations();
        assert_eq!(res.unwrap().status(), 200);
        after - before
    };
    // Warm the verified-token memo and the denylist cache, then measure.
    once();
    once();
    (0..5).map(|_| once()).min().unwrap()
}

fn manager(locations: &[TokenLocation]) -> JwtManager {
    JwtManager::builder()
        .secret("allocation-test-secret-0123456789abcdef")
        .token_locations(locations.iter().copied())
        .build()
        .unwrap()
}

#[test]
fn cookie_tokens_allocate_no_more_than_header_tokens() {
    let headers_only = manager(&[TokenLocation::Headers]);
    let both = manager(&[TokenLocation::Headers, TokenLocation::Cookies]);
    let cookies_first = manager(&[TokenLocation::Cookies, TokenLocation::Headers]);
    let token = both.create_access_token("ada").unwrap();
    let csrf = both
        .decode_token(&token)
        .unwrap()
        .csrf()
        .unwrap()
        .to_owned();

    let header_req = || {
        Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::default())
            .unwrap()
    };
    let cookie_req = |method: &str| {
        let cookie = format!("theme=dark; access_token_cookie={token}; csrf_access_token={csrf}");
        Request::builder()
            .method(method)
            .uri("/")
            .header("cookie", "lang=en")
            .header("cookie", cookie)
            .header("x-csrf-token", &csrf)
            .body(Full::default())
            .unwrap()
    };

    let baseline = allocations_of(&JwtRequiredLayer::new(&headers_only), header_req);
    let header_with_cookies_on = allocations_of(&JwtRequiredLayer::new(&both), header_req);
    let cookie_get = allocations_of(&JwtRequiredLayer::new(&both), || cookie_req("GET"));
    let cookie_post = allocations_of(&JwtRequiredLayer::new(&both), || cookie_req("POST"));
    let cookie_first = allocations_of(&JwtRequiredLayer::new(&cookies_first), || cookie_req("GET"));
    eprintln!(
        "allocations per request: header {baseline}, header with cookies on \
         {header_with_cookies_on}, cookie GET {cookie_get}, cookie POST (CSRF) {cookie_post}, \
         cookies first {cookie_first}"
    );
    assert_eq!(header_with_cookies_on, baseline);
    assert_eq!(cookie_first, baseline);
    // Moving on from a missing header to the cookie costs nothing either.
    assert_eq!(cookie_get, baseline);
    assert_eq!(cookie_post, cookie_get);
}

/// A route's role and scope requirements are read where the token holds them: a route with
/// them allocates exactly what the same route without them does, for a token that passes
/// (tokens with JSON escapes in their roles aside).
#[test]
fn requirements_allocate_nothing() {
    let m = manager(&[TokenLocation::Headers]);
    let token = m
        .create_access_token_with(
            "ada",
            tower_jwt_auth::issue::TokenOptions::new()
                .roles(["user", "admin"])
                .scopes(["orders:read", "orders:write"]),
        )
        .unwrap();
    let req = || {
        Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::default())
            .unwrap()
    };
    let plain = allocations_of(&JwtRequiredLayer::new(&m), req);
    let role = allocations_of(&JwtRequiredLayer::new(&m).require_role("admin"), req);
    let all = allocations_of(
        &JwtRequiredLayer::new(&m)
            .require_any_role(["auditor", "admin"])
            .require_scopes(["orders:write", "orders:read"]),
        req,
    );
    eprintln!("allocations per request: plain {plain}, one role {role}, roles and scopes {all}");
    assert_eq!(role, plain);
    assert_eq!(all, plain);
}

/// The accepted path allocates what the request's extensions need (http's map, its table,
/// the boxed `VerifiedToken`: 3) and, when the token is verified from scratch, the decoded
/// payload and the verified token's one shared allocation: 5. Nothing else, with an
/// audience required too (`aud` is compared where it lies).
#[test]
fn the_accepted_path_allocates_only_what_it_hands_on() {
    for audience in [false, true] {
        for memo in [false, true] {
            let mut builder = JwtManager::builder()
                .secret("allocation-test-secret-0123456789abcdef")
                .verified_token_cache(memo);
            if audience {
                builder = builder.audience("api");
            }
            let m = builder.build().unwrap();
            let token = m.create_access_token("ada").unwrap();
            let req = || {
                Request::get("/")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Full::default())
                    .unwrap()
            };
            let n = allocations_of(&JwtRequiredLayer::new(&m), req);
            let expected = if memo { 3 } else { 5 };
            assert_eq!(n, expected, "memo {memo}, audience {audience}");
        }
    }
}

/// With a user lookup, a remembered token costs what it costs without one, less the two
/// allocations of verifying from scratch: the looked-up user sits beside the shared
/// verified data, so a memo hit never copies that data to attach it.
#[test]
fn a_user_lookup_does_not_copy_a_remembered_token() {
    let per_request = |memo: bool| {
        let m = JwtManager::builder()
            .secret("allocation-test-secret-0123456789abcdef")
            .verified_token_cache(memo)
            .user_lookup(|_subject| async { Ok::<_, std::convert::Infallible>(Some(7u32)) })
            .build()
            .unwrap();
        let token = m.create_access_token("ada").unwrap();
        let req = || {
            Request::get("/")
                .header("authorization", format!("Bearer {token}"))
                .body(Full::default())
                .unwrap()
        };
        allocations_of(&JwtRequiredLayer::new(&m), req)
    };
    let (off, on) = (per_request(false), per_request(true));
    eprintln!("allocations per request with a user lookup: memo off {off}, memo on {on}");
    assert_eq!(off - on, 2, "memo off {off}, memo on {on}");
}
