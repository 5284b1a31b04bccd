//! The bad-input catalogue of `shared/reference/security.md`: 42 numbered cases in groups,
//! each asserting its exact outcome (status and message, default status policy) through the
//! real guard layers and the auth service. Case 42 (no leaks) is checked at the end of every
//! group over the captured tracing output and response bodies.
//!
//! Cases that need features not built yet (36, 38) are ignored tests that say what they
//! wait for.

mod harness;

mod algorithm;
mod claims;
mod kinds;
mod login;
mod structure;
mod transport;

// Cases whose features do not exist yet: ignored tests with the reason, so that every run
// lists them as waiting rather than passing.

#[test]
#[ignore = "case 36 waits for refresh-token rotation with reuse detection (not in any open issue yet)"]
fn case_36_refresh_rotation_reuse() {
    panic!("refresh-token rotation is not built");
}

#[test]
#[ignore = "case 38 waits for the cookie token location with CSRF double submit (not in any open issue yet)"]
fn case_38_cookie_csrf() {
    panic!("the cookie location is not built");
}
