//! Port of `tests/test_get_methods_in_optional_endpoint.py`: with no token, an optional
//! route sees no identity and the user lookup never runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{JwtOptionalLayer, VerifiedToken};

use crate::common::*;

#[tokio::test]
async fn get_jwt_in_optional_route() {
    let looked_up = Arc::new(AtomicBool::new(false));
    let flag = looked_up.clone();
    let m = builder(StatusPolicy::Default)
        .user_lookup(move |_: &VerifiedToken| {
            flag.store(true, Ordering::SeqCst);
            async { Some(()) }
        })
        .build()
        .unwrap();
    let r = send(&JwtOptionalLayer::new(&m), None).await;
    assert_eq!((r.status.as_u16(), r.json), (200, json!({"foo": "bar"})));
    assert!(!looked_up.load(Ordering::SeqCst));
}
