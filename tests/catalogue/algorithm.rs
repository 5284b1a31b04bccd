//! Cases 17-25: algorithm and key.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::json;

use crate::harness::*;

const NOT_ALLOWED: &str = "The specified alg value is not allowed";

fn key(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/catalogue/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn rsa_manager() -> tower_jwt_auth::JwtManager {
    tower_jwt_auth::JwtManager::builder()
        .key_pair(
            EncodingKey::from_rsa_pem(&key("rsa_private.pem")).unwrap(),
            DecodingKey::from_rsa_pem(&key("rsa_public.pem")).unwrap(),
        )
        .algorithm(Algorithm::RS256)
        .build()
        .unwrap()
}

pub fn ec_manager() -> tower_jwt_auth::JwtManager {
    tower_jwt_auth::JwtManager::builder()
        .key_pair(
            EncodingKey::from_ec_pem(&key("ec_private.pem")).unwrap(),
            DecodingKey::from_ec_pem(&key("ec_public.pem")).unwrap(),
        )
        .algorithm(Algorithm::ES256)
        .build()
        .unwrap()
}

/// The P-256 group order n, big-endian.
pub const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `a - b` for 256-bit big-endian numbers (`a >= b`).
pub fn sub256(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = a[i] as i16 - b[i] as i16 - borrow;
        borrow = if d < 0 {
            d += 256;
            1
        } else {
            0
        };
        out[i] = d as u8;
    }
    out
}

fn with_signature(token: &str, sig: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", b64(sig))
}

#[tokio::test]
async fn algorithm_and_key() {
    let g = Group::new();
    let jwt = builder().build().unwrap();
    let app = app(&jwt);
    let payload = b64(claims().to_string());

    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg, "typ": "JWT"}).to_string());
        g.case(
            17,
            alg,
            &app,
            bearer("/access", &format!("{header}.{payload}.")),
            401,
            NOT_ALLOWED,
        )
        .await;
    }

    let token = jwt.create_access_token("1").unwrap();
    let (input, _) = token.rsplit_once('.').unwrap();
    g.case(
        18,
        "signature stripped",
        &app,
        bearer("/access", &format!("{input}.")),
        401,
        "Signature verification failed",
    )
    .await;

    // An RS256 service; a token MACed with HS256 using the service's public key PEM.
    let rsa = rsa_manager();
    let rsa_app = crate::harness::app(&rsa);
    let confused = signed_segments(
        &b64(HS256_HEADER),
        &payload,
        Algorithm::HS256,
        &key("rsa_public.pem"),
    );
    g.case(
        19,
        "HS256 with the RSA public key",
        &rsa_app,
        bearer("/access", &confused),
        401,
        NOT_ALLOWED,
    )
    .await;
    let rsa_token = rsa.create_access_token("1").unwrap();
    g.case(
        19,
        "RS256 itself",
        &rsa_app,
        bearer("/access", &rsa_token),
        200,
        "",
    )
    .await;

    let hs512 = signed_segments(
        &b64(br#"{"alg":"HS512","typ":"JWT"}"#),
        &payload,
        Algorithm::HS512,
        SECRET.as_bytes(),
    );
    g.case(
        20,
        "HS512 vs HS256",
        &app,
        bearer("/access", &hs512),
        401,
        NOT_ALLOWED,
    )
    .await;
    let ps256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::PS256),
        &claims(),
        &EncodingKey::from_rsa_pem(&key("rsa_private.pem")).unwrap(),
    )
    .unwrap();
    g.case(
        20,
        "PS256 vs RS256",
        &rsa_app,
        bearer("/access", &ps256),
        401,
        NOT_ALLOWED,
    )
    .await;

    let lower = signed_segments(
        &b64(br#"{"alg":"hs256","typ":"JWT"}"#),
        &payload,
        Algorithm::HS256,
        SECRET.as_bytes(),
    );
    g.case(
        21,
        "alg hs256",
        &app,
        bearer("/access", &lower),
        401,
        NOT_ALLOWED,
    )
    .await;
    let es512 = format!(
        "{}.{payload}.{}",
        b64(br#"{"alg":"ES512","typ":"JWT"}"#),
        b64([7u8; 132])
    );
    g.case(
        21,
        "ES512",
        &app,
        bearer("/access", &es512),
        401,
        NOT_ALLOWED,
    )
    .await;

    let ec = ec_manager();
    let ec_app = crate::harness::app(&ec);
    let ec_token = ec.create_access_token("1").unwrap();
    g.case(
        22,
        "ES256 itself",
        &ec_app,
        bearer("/access", &ec_token),
        200,
        "",
    )
    .await;
    let mut n_n = P256_N.to_vec();
    n_n.extend_from_slice(&P256_N);
    let sig = unb64(ec_token.rsplit_once('.').unwrap().1);
    let mut r_n = sig[..32].to_vec();
    r_n.extend_from_slice(&P256_N);
    let mut der = vec![0x30, 0x44, 0x02, 0x20];
    der.extend_from_slice(&sig[..32]);
    der.extend_from_slice(&[0x02, 0x20]);
    der.extend_from_slice(&sig[32..]);
    for (what, bad) in [
        ("r=0,s=0", vec![0u8; 64]),
        ("r=s=n", n_n),
        ("s=n", r_n),
        ("DER-encoded", der),
    ] {
        g.case(
            22,
            what,
            &ec_app,
            bearer("/access", &with_signature(&ec_token, &bad)),
            401,
            "Signature verification failed",
        )
        .await;
    }

    // Case 23: every single-bit flip in the decoded header, payload and signature.
    let segments: Vec<Vec<u8>> = token.split('.').map(unb64).collect();
    let mut flips = 0;
    for seg in 0..3 {
        for byte in 0..segments[seg].len() {
            for bit in 0..8 {
                let mut parts = segments.clone();
                parts[seg][byte] ^= 1 << bit;
                let flipped = parts.iter().map(b64).collect::<Vec<_>>().join(".");
                assert!(
                    jwt.decode_token(&flipped).is_err(),
                    "case 23: flip {seg}/{byte}/{bit} accepted"
                );
                flips += 1;
            }
        }
    }
    assert!(flips > 1500, "{flips}");
    let mut parts = segments.clone();
    parts[1][10] ^= 1;
    let flipped = parts.iter().map(b64).collect::<Vec<_>>().join(".");
    g.case(
        23,
        "payload bit flip through the guard",
        &app,
        bearer("/access", &flipped),
        401,
        "Signature verification failed",
    )
    .await;

    g.case(
        24,
        "crit",
        &app,
        bearer(
            "/access",
            &signed_raw(
                br#"{"alg":"HS256","crit":["exp"]}"#,
                claims().to_string().as_bytes(),
            ),
        ),
        401,
        "Unsupported header field \"crit\"",
    )
    .await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    for field in ["jku", "x5u"] {
        let header = json!({"alg": "HS256", field: url}).to_string();
        g.case(
            24,
            field,
            &app,
            bearer(
                "/access",
                &signed_raw(header.as_bytes(), claims().to_string().as_bytes()),
            ),
            401,
            &format!("Unsupported header field \"{field}\""),
        )
        .await;
    }
    let attacker_jwk = json!({"kty": "oct", "k": b64(b"attacker key material 0123456789")});
    let header = json!({"alg": "HS256", "jwk": attacker_jwk}).to_string();
    let attacker = signed_segments(
        &b64(header),
        &payload,
        Algorithm::HS256,
        b"attacker key material 0123456789",
    );
    g.case(
        24,
        "jwk",
        &app,
        bearer("/access", &attacker),
        401,
        "Unsupported header field \"jwk\"",
    )
    .await;
    let header = json!({"alg": "HS256", "x5c": ["MIIB"]}).to_string();
    g.case(
        24,
        "x5c",
        &app,
        bearer(
            "/access",
            &signed_raw(header.as_bytes(), claims().to_string().as_bytes()),
        ),
        401,
        "Unsupported header field \"x5c\"",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(listener.accept().is_err(), "case 24: a key URL was fetched");

    for kid in ["../../dev/null", "' OR 1=1--"] {
        let header = json!({"alg": "HS256", "kid": kid}).to_string();
        let forged = signed_segments(&b64(header), &payload, Algorithm::HS256, b"\0");
        g.case(
            25,
            kid,
            &app,
            bearer("/access", &forged),
            401,
            "Signature verification failed",
        )
        .await;
    }
    let header = json!({"alg": "HS256", "kid": "k".repeat(10_000)}).to_string();
    let long_kid = signed_segments(&b64(header), &payload, Algorithm::HS256, b"attacker");
    g.case(
        25,
        "10 KB kid",
        &app,
        bearer("/access", &long_kid),
        401,
        "Token is too large",
    )
    .await;

    g.assert_no_leaks();
}
