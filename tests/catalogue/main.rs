//! The bad-input catalogue of `shared/reference/security.md`: 42 numbered cases in groups,
//! each asserting its exact outcome (status and message, default status policy) through the
//! real guard layers and the auth service. Case 42 (no leaks) is checked at the end of every
//! group over the captured tracing output and response bodies.

mod harness;

mod algorithm;
mod claims;
mod cookies;
mod kinds;
mod login;
mod rotation;
mod structure;
mod transport;
