//! Flask-JWT-Extended 4.7's test scenarios, ported: each layer driven through
//! `tower::ServiceExt::oneshot`, statuses asserted under both status policies.

mod client;
mod common;

mod blocklist;
mod claims_verification;
mod config;
mod cookies;
mod decode_tokens;
mod headers;
mod json;
mod multiple_token_locations;
mod optional_get_methods;
mod options_method;
mod query_string;
mod user_lookup;
mod view_decorators;
