//! The bad-input catalogue of `shared/reference/security.md`: 42 numbered cases in groups,
//! each asserting its exact outcome (status and message, default status policy) through the
//! real guard layers and the auth service. Case 42 (no leaks) is checked at the end of every
//! group over the captured tracing output and response bodies.
//!
//! Cases that need features not built yet are listed, with what they wait for, in
//! `not_yet_covered`.

mod harness;

mod algorithm;
mod claims;
mod kinds;
mod login;
mod structure;
mod transport;

/// Cases whose features do not exist yet: named here so that they are not silently lost.
#[test]
fn not_yet_covered() {
    let waiting = [
        (36, "refresh-token rotation with reuse detection: not in any open issue yet"),
        (38, "cookie location with CSRF double submit: token locations beyond headers, not in any open issue yet"),
    ];
    for (case, reason) in waiting {
        println!("catalogue case {case} waits for {reason}");
    }
    assert_eq!(waiting.len(), 2);
}
