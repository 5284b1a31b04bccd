//! Cases 10-16: structure and encoding.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn structure_and_encoding() {
    let g = Group::new();
    let jwt = builder().build().unwrap();
    let app = app(&jwt);
    let token = jwt.create_access_token("1").unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    g.case(
        10,
        "two parts",
        &app,
        bearer("/access", &parts[..2].join(".")),
        401,
        "Not enough segments",
    )
    .await;
    g.case(
        10,
        "four parts",
        &app,
        bearer("/access", &format!("{token}.{}", parts[2])),
        401,
        "Too many segments",
    )
    .await;
    g.case(
        10,
        "five parts",
        &app,
        bearer("/access", &format!("{token}.a.b")),
        401,
        "Too many segments",
    )
    .await;
    g.case(
        10,
        "..",
        &app,
        bearer("/access", ".."),
        401,
        "Invalid header string",
    )
    .await;

    g.case(
        11,
        "= padding",
        &app,
        bearer(
            "/access",
            &format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        ),
        401,
        "Invalid header padding",
    )
    .await;
    g.case(
        11,
        "+ alphabet",
        &app,
        bearer(
            "/access",
            &format!("{}.{}+.{}", parts[0], parts[1], parts[2]),
        ),
        401,
        "Invalid payload padding",
    )
    .await;
    g.case(
        11,
        "/ alphabet",
        &app,
        bearer(
            "/access",
            &format!("{}.{}.{}/", parts[0], parts[1], parts[2]),
        ),
        401,
        "Invalid crypto padding",
    )
    .await;
    // A payload segment whose last character carries non-zero unused bits, properly signed:
    // strict base64 refuses it after the signature check.
    let mut padded = claims();
    let payload = loop {
        let payload = b64(padded.to_string());
        if !payload.len().is_multiple_of(4) {
            break payload; // the last character carries unused bits
        }
        padded["pad"] = serde_json::json!(format!("{}x", padded["pad"].as_str().unwrap_or("")));
    };
    let mut chars: Vec<char> = payload.chars().collect();
    let last = chars.pop().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet.find(last).unwrap();
    chars.push(alphabet.chars().nth(value | 1).unwrap());
    let noncanonical: String = chars.into_iter().collect();
    let signed = signed_segments(
        &b64(HS256_HEADER),
        &noncanonical,
        jsonwebtoken::Algorithm::HS256,
        SECRET.as_bytes(),
    );
    g.case(
        11,
        "non-canonical last char",
        &app,
        bearer("/access", &signed),
        401,
        "Invalid payload padding",
    )
    .await;

    let json_serialization =
        json!({"payload": parts[1], "protected": parts[0], "signature": parts[2]}).to_string();
    g.case(
        12,
        "JWS JSON serialization",
        &app,
        bearer("/access", &json_serialization),
        401,
        "Not enough segments",
    )
    .await;

    g.case(
        13,
        "header not an object",
        &app,
        bearer(
            "/access",
            &signed_raw(b"[\"HS256\"]", claims().to_string().as_bytes()),
        ),
        401,
        "Invalid header string",
    )
    .await;
    g.case(
        13,
        "payload an array",
        &app,
        bearer("/access", &signed_raw(HS256_HEADER, b"[1,2,3]")),
        401,
        "Invalid payload string: must be a json object without duplicate claims",
    )
    .await;
    let trailing = format!("{} x", claims());
    g.case(
        13,
        "trailing bytes after JSON",
        &app,
        bearer("/access", &signed_raw(HS256_HEADER, trailing.as_bytes())),
        401,
        "Invalid payload string: must be a json object without duplicate claims",
    )
    .await;

    g.case(
        14,
        "payload not UTF-8",
        &app,
        bearer(
            "/access",
            &signed_raw(HS256_HEADER, b"{\"sub\":\"\xff\xfe\"}"),
        ),
        401,
        "Invalid payload string: must be a json object without duplicate claims",
    )
    .await;
    let utf16: Vec<u8> = claims()
        .to_string()
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    g.case(
        14,
        "UTF-16 JSON",
        &app,
        bearer("/access", &signed_raw(HS256_HEADER, &utf16)),
        401,
        "Invalid payload string: must be a json object without duplicate claims",
    )
    .await;

    let nested = format!(
        "{{\"sub\":\"1\",\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep = signed_raw(HS256_HEADER, nested.as_bytes());
    g.case(
        15,
        "100,000 nested arrays",
        &app,
        bearer("/access", &deep),
        401,
        "Token is too large",
    )
    .await;
    let roomy = builder().max_token_size(1024 * 1024).build().unwrap();
    g.case(
        15,
        "100,000 nested arrays, no cap",
        &crate::harness::app(&roomy),
        bearer("/access", &deep),
        401,
        "Invalid payload string: must be a json object without duplicate claims",
    )
    .await;

    let base = claims().to_string();
    let body = &base[1..base.len() - 1];
    for (what, dup) in [
        ("exp", format!("{{{body},\"exp\":1}}")),
        ("sub", format!("{{{body},\"sub\":\"2\"}}")),
        (
            "custom",
            format!("{{{body},\"role\":\"user\",\"role\":\"admin\"}}"),
        ),
    ] {
        g.case(
            16,
            what,
            &app,
            bearer("/access", &signed_raw(HS256_HEADER, dup.as_bytes())),
            401,
            "Invalid payload string: must be a json object without duplicate claims",
        )
        .await;
    }
    g.case(
        16,
        "duplicate alg",
        &app,
        bearer(
            "/access",
            &signed_raw(br#"{"alg":"HS256","alg":"HS256"}"#, base.as_bytes()),
        ),
        401,
        "Invalid header string",
    )
    .await;

    g.assert_no_leaks();
}
