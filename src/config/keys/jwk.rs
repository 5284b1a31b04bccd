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
        BuildError::key_from(format_args!("{algorithm:?} key as a JWK"), e)
    };
    let jwk = Jwk::from_decoding_key(decoding, Some(algorithm)).map_err(invalid)?;
    let thumbprint = jwk.thumbprint(ThumbprintHash::SHA256).map_err(invalid)?;
    let Ok(Value::Object(mut members)) = serde_json::to_value(&jwk.algorithm) else {
        return Err(BuildError::key(format!(
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
        BuildError::key_from(format_args!("{algorithm:?} private key"), e)
    };
    let jwk = Jwk::from_encoding_key(encoding, algorithm).map_err(invalid)?;
    DecodingKey::from_jwk(&jwk).map_err(invalid)
}

/// A SEC1 EC private key (`-----BEGIN EC PRIVATE KEY-----`, what `openssl ecparam
/// -genkey` writes, after its `EC PARAMETERS` block) as PKCS#8 DER, which the crypto backends
/// read: `Ok(None)` for a PEM without a SEC1 key, an error for a damaged SEC1 key or one of
/// another curve than `algorithm`'s. Read and written by the `sec1` and `pkcs8` crates.
pub(super) fn sec1_as_pkcs8(
    pem: &[u8],
    algorithm: Algorithm,
) -> Result<Option<Vec<u8>>, BuildError> {
    use pkcs8::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
    use pkcs8::der::{Decode as _, Encode as _, SecretDocument};
    use pkcs8::{AlgorithmIdentifierRef, PrivateKeyInfoRef};

    const BEGIN: &str = "-----BEGIN EC PRIVATE KEY-----";
    let Some(at) = std::str::from_utf8(pem)
        .ok()
        .and_then(|text| Some(&text[text.find(BEGIN)?..]))
    else {
        return Ok(None);
    };
    let invalid = |e: &dyn std::fmt::Display| {
        BuildError::key(format!("{algorithm:?} private key: SEC1 key: {e}"))
    };
    let curve = match algorithm {
        Algorithm::ES256 => ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"), // P-256
        Algorithm::ES384 => ObjectIdentifier::new_unwrap("1.3.132.0.34"),        // P-384
        other => return Err(invalid(&format!("{other:?} is not an EC algorithm"))),
    };
    let (_, document) = SecretDocument::from_pem(at).map_err(|e| invalid(&e))?;
    let key = sec1::EcPrivateKey::from_der(document.as_bytes()).map_err(|e| invalid(&e))?;
    if let Some(named) = key.parameters.map(|p| p.named_curve()) {
        if named != Some(curve) {
            return Err(invalid(&format!("not a key of {algorithm:?}'s curve")));
        }
    }
    // RFC 5915 §2 / RFC 5208: PrivateKeyInfo { version 0, AlgorithmIdentifier
    // { id-ecPublicKey, namedCurve }, privateKey OCTET STRING (the SEC1 structure) }.
    let info = PrivateKeyInfoRef::new(
        AlgorithmIdentifierRef {
            oid: sec1::ALGORITHM_OID,
            parameters: Some(AnyRef::from(&curve)),
        },
        OctetStringRef::new(document.as_bytes()).map_err(|e| invalid(&e))?,
    );
    info.to_der().map(Some).map_err(|e| invalid(&e))
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
