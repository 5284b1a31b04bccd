//! External test vectors through the crate's verification path (`JwtManager::decode_token`
//! on a manager pinned to the vector's algorithm and key):
//!
//! - Wycheproof `json_web_signature_test.json`: valid cases accepted, invalid rejected; the
//!   known-bad labels quarantined by id with the reason.
//! - RFC 7520 (JOSE cookbook) and RFC 8037: the compact outputs accepted, tampered copies
//!   and the JSON serializations rejected.
//!
//! The vectors are vendored in `tests/data/` (sources and licences in its README). The
//! payloads are raw bytes, not claims, so a vector counts as *accepted* when decoding
//! gets past the signature to the payload's JSON (`Invalid payload string`).

use std::path::PathBuf;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tower_jwt_auth::JwtManager;

fn testdata(path: &str) -> Value {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (vendored in tests/data)", file.display()));
    serde_json::from_str(&text).unwrap()
}

fn b64url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

/// A verify-only manager for a JWK, or why none can be built.
fn manager_for(jwk: &Value) -> Result<JwtManager, String> {
    let alg: Algorithm = match jwk.get("alg").and_then(Value::as_str) {
        Some(alg) => alg
            .parse()
            .map_err(|_| format!("algorithm {alg} is not supported by jsonwebtoken"))?,
        None => return Err("the key has no \"alg\"".into()),
    };
    let builder = JwtManager::builder().algorithm(alg).check_revocation(false);
    let builder = match jwk["kty"].as_str() {
        Some("oct") => builder.secret(b64url(jwk["k"].as_str().unwrap())),
        _ => {
            let parsed: Jwk =
                serde_json::from_value(jwk.clone()).map_err(|e| format!("JWK: {e}"))?;
            builder
                .verification_key(DecodingKey::from_jwk(&parsed).map_err(|e| format!("JWK: {e}"))?)
        }
    };
    builder.build().map_err(|e| e.to_string())
}

fn accepted(manager: &JwtManager, jws: &str) -> bool {
    match manager.decode_token(jws) {
        Ok(_) => true,
        Err(err) => err.message().starts_with("Invalid payload string"),
    }
}

/// Labels known to be wrong, or cases jsonwebtoken cannot run (tests/data/README.md).
const QUARANTINE: &[(u64, &str)] = &[
    (346, "known-bad label (tests/data/README.md)"),
    (350, "known-bad label (tests/data/README.md)"),
    (367, "byte-identical to valid tc357, labelled invalid"),
    (370, "byte-identical to valid tc357, labelled invalid"),
    (372, "known-bad label (tests/data/README.md)"),
    (373, "known-bad label (tests/data/README.md)"),
];

#[test]
fn wycheproof_json_web_signature() {
    let vectors = testdata("wycheproof/json_web_signature_test.json");
    let (mut valid_ok, mut invalid_ok, mut acceptable, mut quarantined, mut cannot_run) =
        (0, 0, 0, 0, 0);
    let mut unexpected = Vec::new();
    for group in vectors["testGroups"].as_array().unwrap() {
        let key = group.get("public").unwrap_or(&group["private"]);
        let manager = manager_for(key);
        for case in group["tests"].as_array().unwrap() {
            let id = case["tcId"].as_u64().unwrap();
            if let Some((_, why)) = QUARANTINE.iter().find(|(q, _)| *q == id) {
                println!("quarantined tc{id}: {why}");
                quarantined += 1;
                continue;
            }
            let manager = match &manager {
                Ok(manager) => manager,
                Err(why) => {
                    println!("cannot run tc{id}: {why}");
                    cannot_run += 1;
                    continue;
                }
            };
            let jws = match &case["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(), // JSON serialization: must be refused as a token
            };
            let got = accepted(manager, &jws);
            match (case["result"].as_str().unwrap(), got) {
                ("valid", true) => valid_ok += 1,
                ("invalid", false) => invalid_ok += 1,
                ("acceptable", _) => acceptable += 1,
                (expected, got) => unexpected.push(format!(
                    "tc{id} ({}): expected {expected}, accepted = {got}",
                    case["comment"].as_str().unwrap_or("")
                )),
            }
        }
    }
    println!(
        "wycheproof JWS: {valid_ok} valid accepted, {invalid_ok} invalid rejected, {acceptable} acceptable, \
         {quarantined} quarantined, {cannot_run} not runnable, {} unexpected",
        unexpected.len()
    );
    assert!(
        unexpected.is_empty(),
        "unexpected results:\n{}",
        unexpected.join("\n")
    );
    let total = valid_ok + invalid_ok + acceptable + quarantined + cannot_run;
    assert_eq!(total as u64, vectors["numberOfTests"].as_u64().unwrap());
    // Not runnable: ES521 (2), keys without "alg" (4), and the HMAC group of tc357-377 whose
    // key repeats one byte, which the builder refuses as a weak secret (secure default 2).
    assert_eq!(
        (valid_ok, invalid_ok, quarantined, cannot_run),
        (35, 337, 6, 23)
    );
}

#[test]
fn rfc7520_and_rfc8037_cookbook() {
    let mut checked = 0;
    for file in [
        "jose-cookbook/4_1.rsa_v15_signature.json",
        "jose-cookbook/4_2.rsa-pss_signature.json",
        "jose-cookbook/4_3.ecdsa_signature.json",
        "jose-cookbook/4_4.hmac-sha2_integrity_protection.json",
        "jose-cookbook/jws.json",
    ] {
        let vector = testdata(file);
        let mut key = vector["input"]["key"].clone();
        key["alg"] = vector["input"]["alg"].clone();
        let manager = match manager_for(&key) {
            Ok(manager) => manager,
            Err(why) => {
                println!("{file}: not runnable: {why}");
                continue;
            }
        };
        let compact = vector["output"]["compact"].as_str().unwrap();
        assert!(
            accepted(&manager, compact),
            "{file}: the compact output is refused"
        );
        let mut tampered = compact.to_owned().into_bytes();
        let at = tampered.len() - 5;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        assert!(
            !accepted(&manager, std::str::from_utf8(&tampered).unwrap()),
            "{file}: tampered accepted"
        );
        for serialization in ["json", "json_flat"] {
            let json = vector["output"][serialization].to_string();
            assert!(
                !accepted(&manager, &json),
                "{file}: {serialization} serialization accepted"
            );
        }
        println!("{file}: compact accepted; tampered and JSON serializations refused");
        checked += 1;
    }
    assert_eq!(
        checked, 4,
        "RS256, PS384, HS256 and EdDSA run; ES512 is not supported"
    );
}
