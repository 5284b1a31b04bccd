//! Port of `tests/test_options_method.py`: OPTIONS (CORS preflight) passes every guard.

use serde_json::json;
use tower_jwt_auth::respond::StatusPolicy;
use tower_jwt_auth::{FreshRequiredLayer, JwtRequiredLayer, RefreshRequiredLayer};

use crate::common::*;

#[tokio::test]
async fn options_requests_pass_untouched() {
    let m = manager(StatusPolicy::Default);
    let r = call(&JwtRequiredLayer::new(&m), options_request()).await;
    assert_eq!((r.status.as_u16(), r.json), (200, json!({"foo": "bar"})));
    let r = call(&FreshRequiredLayer::new(&m), options_request()).await;
    assert_eq!((r.status.as_u16(), r.json), (200, json!({"foo": "bar"})));
    let r = call(&RefreshRequiredLayer::new(&m), options_request()).await;
    assert_eq!((r.status.as_u16(), r.json), (200, json!({"foo": "bar"})));
}
