//! Flask-JWT-Extended 4.7's test scenarios, ported: each layer driven through
//! `tower::ServiceExt::oneshot`, statuses asserted under both status policies.

mod common;

mod blocklist;
mod claims_verification;
mod config;
mod decode_tokens;
mod headers;
mod optional_get_methods;
mod options_method;
mod user_lookup;
mod view_decorators;
