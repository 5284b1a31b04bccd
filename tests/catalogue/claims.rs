//! Cases 26-31: claims.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

fn with(mut claims: Value, name: &str, value: Value) -> String {
    claims[name] = value;
    signed_claims(&claims)
}

fn without(mut claims: Value, name: &str) -> String {
    claims.as_object_mut().unwrap().remove(name);
    signed_claims(&claims)
}

#[tokio::test]
async fn claims_group() {
    let g = Group::new();
    let jwt = builder().leeway(Duration::from_secs(10)).build().unwrap();
    let app = app(&jwt);
    let now = now();

    g.case(
        26,
        "exp missing",
        &app,
        bearer("/access", &without(claims(), "exp")),
        401,
        r#"Token is missing the "exp" claim"#,
    )
    .await;
    g.case(
        26,
        "exp null",
        &app,
        bearer("/access", &with(claims(), "exp", Value::Null)),
        401,
        "Expiration Time claim (exp) must be an integer.",
    )
    .await;
    // The jwt.io sample: no exp, signed with a published secret that we refuse to use.
    let jwtio = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    g.case(
        26,
        "jwt.io sample",
        &app,
        bearer("/access", jwtio),
        401,
        "Signature verification failed",
    )
    .await;

    for (claim, msg) in [
        ("exp", "Expiration Time claim (exp) must be an integer."),
        ("nbf", "Not Before claim (nbf) must be an integer."),
    ] {
        for value in [json!("1893456000"), json!(true), json!(-1), json!(1e300)] {
            g.case(
                27,
                &format!("{claim} = {value}"),
                &app,
                bearer("/access", &with(claims(), claim, value)),
                401,
                msg,
            )
            .await;
        }
    }

    g.case(
        28,
        "exp = now - (leeway + 1)",
        &app,
        bearer("/access", &with(claims(), "exp", json!(now - 11))),
        401,
        "Token has expired",
    )
    .await;
    g.case(
        28,
        "exp = now + 1",
        &app,
        bearer("/access", &with(claims(), "exp", json!(now + 1))),
        200,
        "",
    )
    .await;
    g.case(
        28,
        "exp = now - 5 within leeway",
        &app,
        bearer("/access", &with(claims(), "exp", json!(now - 5))),
        200,
        "",
    )
    .await;

    g.case(
        29,
        "nbf an hour ahead",
        &app,
        bearer("/access", &with(claims(), "nbf", json!(now + 3600))),
        401,
        "The token is not yet valid (nbf)",
    )
    .await;
    g.case(
        29,
        "iat a day ahead",
        &app,
        bearer("/access", &with(claims(), "iat", json!(now + 86_400))),
        401,
        "The token is not yet valid (iat)",
    )
    .await;
    // The longest lifetime configured is 30 days (refresh tokens).
    g.case(
        29,
        "exp - iat beyond the maximum",
        &app,
        bearer("/access", &with(claims(), "exp", json!(now + 31 * 86_400))),
        401,
        "Token lifetime (exp - iat) exceeds the maximum",
    )
    .await;
    g.case(
        29,
        "iat missing",
        &app,
        bearer("/access", &without(claims(), "iat")),
        401,
        r#"Token is missing the "iat" claim"#,
    )
    .await;

    let strict = builder()
        .issuer("us")
        .decode_audience(["api"])
        .build()
        .unwrap();
    let strict_app = crate::harness::app(&strict);
    let mut good = claims();
    good["iss"] = json!("us");
    good["aud"] = json!("api");
    g.case(
        30,
        "iss and aud right",
        &strict_app,
        bearer("/access", &signed_claims(&good)),
        200,
        "",
    )
    .await;
    g.case(
        30,
        "iss an array",
        &strict_app,
        bearer("/access", &with(good.clone(), "iss", json!(["evil", "us"]))),
        401,
        "Invalid issuer",
    )
    .await;
    g.case(
        30,
        "iss missing",
        &strict_app,
        bearer("/access", &without(good.clone(), "iss")),
        401,
        r#"Token is missing the "iss" claim"#,
    )
    .await;
    g.case(
        30,
        "aud missing",
        &strict_app,
        bearer("/access", &without(good.clone(), "aud")),
        401,
        r#"Token is missing the "aud" claim"#,
    )
    .await;
    g.case(
        30,
        "aud wrong",
        &strict_app,
        bearer("/access", &with(good.clone(), "aud", json!(["web"]))),
        401,
        "Audience doesn't match",
    )
    .await;

    g.case(
        31,
        "sub missing",
        &app,
        bearer("/access", &without(claims(), "sub")),
        401,
        "Missing claim: sub",
    )
    .await;
    g.case(
        31,
        "sub a number",
        &app,
        bearer("/access", &with(claims(), "sub", json!(1))),
        401,
        "Subject must be a string",
    )
    .await;
    g.case(
        31,
        "sub an object",
        &app,
        bearer("/access", &with(claims(), "sub", json!({"id": 1}))),
        401,
        "Subject must be a string",
    )
    .await;

    g.assert_no_leaks();
}
