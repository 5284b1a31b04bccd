//! JWKs: the public JWK of a key (what is published, and its RFC 7638 thumbprint), the
//! public half of a private key, and the keys of a JWKS document (an outside issuer's).

use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Map, Value};

use super::{Key, Material, Trust};
use crate::config::BuildError;

/// The public JWK of a verifying key (`kty`, `kid` once named, `alg`, `use: "sig"`, the
/// public members, nothing private) and its RFC 7638 SHA-256 thumbprint.
pub(super) fn public(
    decoding: &DecodingKey,
    algorithm: Algorithm,
    alg_name: &str,
) -> Result<(Map<String, Value>, String), BuildError> {
    let invalid = |e: jsonwebtoken::errors::Error| {
        BuildError::Invalid(format!(
            "{algorithm:?} key: cannot describe it as a JWK: {e}"
        ))
    };
    let jwk = Jwk::from_decoding_key(decoding, Some(algorithm)).map_err(invalid)?;
    let thumbprint = jwk.thumbprint(ThumbprintHash::SHA256).map_err(invalid)?;
    let Ok(Value::Object(mut members)) = serde_json::to_value(&jwk.algorithm) else {
        return Err(BuildError::Invalid(format!(
            "{algorithm:?} key: cannot describe it as a JWK"
        )));
    };
    members.insert("alg".into(), alg_name.into());
    members.insert("use".into(), "sig".into());
    Ok((members, thumbprint))
}

/// The public half of a private key, to verify what it signs.
pub(super) fn decoding_from_private(
    encoding: &EncodingKey,
    algorithm: Algorithm,
) -> Result<DecodingKey, BuildError> {
    let invalid = |e: jsonwebtoken::errors::Error| {
        BuildError::Invalid(format!("{algorithm:?} private key: {e}"))
    };
    let jwk = Jwk::from_encoding_key(encoding, algorithm).map_err(invalid)?;
    DecodingKey::from_jwk(&jwk).map_err(invalid)
}

/// A SEC1 EC private key (`-----BEGIN EC PRIVATE KEY-----`, what `openssl ecparam
/// -genkey` writes) wrapped as PKCS#8 DER, which the crypto backends read; `None` for any
/// other PEM.
pub(super) fn sec1_as_pkcs8(pem: &[u8], algorithm: Algorithm) -> Option<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN EC PRIVATE KEY-----";
    const END: &str = "-----END EC PRIVATE KEY-----";
    let text = std::str::from_utf8(pem).ok()?;
    let body = text.split(BEGIN).nth(1)?.split(END).next()?;
    let base64: String = body.split_whitespace().collect();
    let sec1 = base64_simd::STANDARD.decode_to_vec(base64).ok()?;
    // PrivateKeyInfo ::= SEQUENCE { version 0, AlgorithmIdentifier { id-ecPublicKey,
    // namedCurve }, privateKey OCTET STRING (the SEC1 structure) } (RFC 5915, RFC 5208).
    const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let curve: &[u8] = match algorithm {
        Algorithm::ES256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        Algorithm::ES384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        _ => return None,
    };
    let identifier = der(0x30, &[EC_PUBLIC_KEY, curve].concat());
    let info = [&[0x02, 0x01, 0x00][..], &identifier, &der(0x04, &sec1)].concat();
    Some(der(0x30, &info))
}

/// A DER element: tag, length (short or long form), contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg_attr(not(feature = "jwks"), allow(dead_code))]
/// The algorithms a JWK may be used with: its `alg` when it says, else those of `allowed`
/// its key type and curve fit. Never an HMAC algorithm: a JWKS publishes public keys.
fn algorithms_of(jwk: &Jwk, allowed: &[Algorithm]) -> Vec<Algorithm> {
    let fits = |alg: &Algorithm| match (&jwk.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    };
    let named = jwk
        .common
        .key_algorithm
        .map(|a| match serde_json::to_value(a) {
            Ok(Value::String(name)) => name.parse::<Algorithm>().map_err(drop),
            _ => Err(()),
        });
    match named {
        Some(Ok(alg)) => [alg]
            .into_iter()
            .filter(|alg| allowed.contains(alg) && fits(alg))
            .collect(),
        // An `alg` this crate does not know (or `RSA1_5`, an encryption algorithm): unusable.
        Some(Err(_)) => Vec::new(),
        None => allowed.iter().copied().filter(fits).collect(),
    }
}

#[cfg_attr(not(feature = "jwks"), allow(dead_code))]
/// The signing keys of a JWKS document, each pinning an algorithm of `allowed`, trusted
/// for tokens of `trust`'s issuer. Keys for encryption (`use: "enc"`), of an unknown type
/// or with an algorithm not allowed are skipped; `previous` keys equal to a new one are
/// kept as they are (so that what the memo of verified tokens remembers stays valid).
pub(crate) fn keys_from_jwks(
    document: &[u8],
    allowed: &[Algorithm],
    trust: &Arc<Trust>,
    previous: &[Arc<Key>],
) -> Result<Vec<Arc<Key>>, String> {
    let set: JwkSet =
        serde_json::from_slice(document).map_err(|e| format!("not a JWK set: {e}"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if matches!(
            jwk.common.public_key_use,
            Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
        ) {
            continue;
        }
        let Ok(decoding) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        for algorithm in algorithms_of(jwk, allowed) {
            let Ok(mut key) = Key::new(algorithm, Material::Public(decoding.clone())) else {
                continue;
            };
            key.set_kid(jwk.common.key_id.clone());
            key.trust = Some(trust.clone());
            let same = previous.iter().find(|k| {
                k.kid == key.kid && k.algorithm == key.algorithm && k.public_jwk == key.public_jwk
            });
            keys.push(same.cloned().unwrap_or_else(|| Arc::new(key)));
        }
    }
    Ok(keys)
}
