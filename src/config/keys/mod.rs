//! Keys: [`JwtKey`] (one key, pinning its algorithm), the key set a manager verifies with
//! (chosen by a token's `kid`) and signs with, rotated at run time through the [`KeyRing`],
//! and the keys of outside issuers ([`RemoteKeys`], filled from their JWKS).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Map, Value};

use super::BuildError;

pub(crate) mod hmac;
mod jwk;
mod remote;
mod ring;
mod set;

pub(crate) use self::hmac::{constant_time_eq, HmacKey};
#[cfg_attr(not(feature = "jwks"), allow(unused_imports))]
pub(crate) use self::jwk::keys_from_jwks;
pub(crate) use self::remote::{Refresher, RemoteKeys};
pub(crate) use self::ring::KeyRing;
pub use self::ring::{KeyError, KeyInfo};
use self::set::header_hash;
pub(crate) use self::set::{header, outside_spelling_own, peek_issuer, KeySet, Keys, NoKey, Scope};

/// One key: how to verify with it, and to sign with it when it is private.
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    pub(crate) algorithm: Algorithm,
    /// The algorithm's name as it appears in headers (`"HS256"`).
    pub(crate) alg_name: String,
    /// The header this key signs with, `{"alg":..,"typ":"JWT"}` in PyJWT's layout, and its
    /// base64url form: tokens carrying it are recognised without parsing their header.
    pub(crate) header_json: String,
    pub(crate) header_b64: String,
    /// A hash of `header_b64`: among many keys, the one a token's header names is found by
    /// comparing words before bytes.
    header_hash: u64,
    pub(crate) decoding: DecodingKey,
    /// `None` for a key that only verifies.
    pub(crate) encoding: Option<EncodingKey>,
    /// For HS256/384/512: the HMAC with its key schedule done once.
    pub(crate) hmac: Option<HmacKey>,
    /// The public JWK (`kty`, `kid`, `alg`, `use`, and the public members); `None` for an
    /// HMAC key, which is never published.
    pub(crate) public_jwk: Option<Map<String, Value>>,
    /// The RFC 7638 SHA-256 thumbprint of the public JWK (asymmetric keys).
    pub(crate) thumbprint: Option<String>,
    /// For an outside issuer's key: the `iss` (and `aud`) its tokens must carry.
    pub(crate) trust: Option<Arc<Trust>>,
    /// Whether the key is in its set (cleared when a rotation or a JWKS refresh drops it):
    /// what the memo of verified tokens asks on every hit, one load, no lookup.
    in_set: AtomicBool,
}

/// What separates an outside issuer from the identity (or `jti`, or session) it names in
/// the names stores see: a control character no issuer URL holds, and which the manager's
/// own identities may not hold (refused when issuing and when verifying).
pub(crate) const ISSUER_SEPARATOR: char = '\u{1f}';

/// What tokens verified with an outside issuer's key must carry.
#[derive(Debug)]
pub(crate) struct Trust {
    pub(crate) issuer: String,
    /// Checked when not empty: the token's `aud` must name one of them.
    pub(crate) audience: Vec<String>,
    /// Whether the token's own `type`, `fresh`, `csrf` and `sid` claims are believed (a
    /// sibling service of this crate); otherwise its tokens are non-fresh access tokens.
    pub(crate) trust_claims: bool,
    /// The claims holding its tokens' roles and scopes, when not the manager's.
    pub(crate) roles_claim: Option<crate::config::ClaimPath>,
    pub(crate) scopes_claim: Option<crate::config::ClaimPath>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("signs", &self.encoding.is_some())
            .field("material", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Key material as configured.
pub(crate) enum Material {
    Secret(Vec<u8>),
    Pair(EncodingKey, DecodingKey),
    Public(DecodingKey),
}

impl Key {
    /// Whether the key is still in its set: the tokens it verified may still be trusted.
    #[inline]
    pub(crate) fn in_set(&self) -> bool {
        self.in_set.load(Ordering::Acquire)
    }
    /// A key for `algorithm`, checked: secrets long enough and not well known, the
    /// algorithm fitting the key, a private key verifying what it signs.
    pub(crate) fn new(algorithm: Algorithm, material: Material) -> Result<Self, BuildError> {
        ensure_crypto_provider()?;
        let (encoding, decoding, hmac) = match material {
            Material::Secret(secret) => {
                check_secret(&secret, algorithm)?;
                let invalid = |e: jsonwebtoken::errors::Error| BuildError::key_from("secret", e);
                (
                    Some(EncodingKey::from_secret(&secret).map_err(invalid)?),
                    DecodingKey::from_secret(&secret).map_err(invalid)?,
                    Some(HmacKey::new(algorithm, &secret)?),
                )
            }
            Material::Pair(..) | Material::Public(_) if is_hmac(algorithm) => {
                return Err(BuildError::UnsupportedAlgorithm(format!(
                    "{algorithm:?} needs a secret, not a key pair or public key"
                )))
            }
            Material::Pair(encoding, decoding) => (Some(encoding), decoding, None),
            Material::Public(decoding) => (None, decoding, None),
        };
        // Prove the key and the algorithm fit together now rather than on a request.
        if decoding.family() != algorithm.family() {
            return Err(BuildError::UnsupportedAlgorithm(format!(
                "{algorithm:?} does not fit the {:?} key",
                decoding.family()
            )));
        }
        if let Some(encoding) = &encoding {
            let probe = jsonwebtoken::crypto::sign(b"probe", encoding, algorithm)
                .map_err(|e| BuildError::UnsupportedAlgorithm(format!("{algorithm:?}: {e}")))?;
            if !matches!(
                jsonwebtoken::crypto::verify(&probe, b"probe", &decoding, algorithm),
                Ok(true)
            ) {
                return Err(BuildError::key(
                    "the decoding key does not verify what the encoding key signs",
                ));
            }
        }
        let alg_name = match serde_json::to_value(algorithm) {
            Ok(Value::String(name)) => name,
            _ => return Err(BuildError::UnsupportedAlgorithm(format!("{algorithm:?}"))),
        };
        // An asymmetric key is published; a `JwtKey` is named by its RFC 7638 thumbprint by
        // default (a key given to the builder's `key_pair`/`verification_key` stays unnamed,
        // as in 0.1: its tokens' `kid` is then ignored).
        let (public_jwk, thumbprint) = if hmac.is_some() {
            (None, None)
        } else {
            let (jwk, thumbprint) = jwk::public(&decoding, algorithm, &alg_name)?;
            (Some(jwk), Some(thumbprint))
        };
        let mut key = Self {
            kid: None,
            algorithm,
            alg_name,
            header_json: String::new(),
            header_b64: String::new(),
            header_hash: 0,
            decoding,
            encoding,
            hmac,
            public_jwk,
            thumbprint,
            trust: None,
            in_set: AtomicBool::new(true),
        };
        key.set_kid(None);
        Ok(key)
    }

    /// Names the key (or unnames it): its tokens' header and its JWK say so.
    pub(crate) fn set_kid(&mut self, kid: Option<String>) {
        self.header_json = header(&self.alg_name, kid.as_deref(), &Map::new());
        self.header_b64 = base64_simd::URL_SAFE_NO_PAD.encode_to_string(&self.header_json);
        self.header_hash = header_hash(self.header_b64.as_bytes());
        if let Some(jwk) = &mut self.public_jwk {
            match &kid {
                Some(kid) => jwk.insert("kid".into(), kid.clone().into()),
                None => jwk.remove("kid"),
            };
        }
        self.kid = kid;
    }
}

/// A key for a manager's key set: a secret (HS256/384/512) or an asymmetric key (RS*, PS*,
/// ES256/384, EdDSA) that pins its algorithm, so that no token can choose how it is
/// verified. An asymmetric key is named (`kid`) by its RFC 7638 SHA-256 JWK thumbprint
/// unless [`with_kid`](Self::with_kid) says otherwise; a secret has no `kid` unless given
/// one.
///
/// ```
/// use tower_jwt_auth::jsonwebtoken::Algorithm;
/// use tower_jwt_auth::keys::JwtKey;
///
/// let key = JwtKey::hmac(Algorithm::HS256, "an-example-secret-that-is-32-bytes!")
///     .unwrap()
///     .with_kid("2026-11");
/// assert_eq!(key.kid(), Some("2026-11"));
///
/// // Refused: too short for HS256, or an algorithm that does not fit the key.
/// assert!(JwtKey::hmac(Algorithm::HS256, "short").is_err());
/// assert!(JwtKey::hmac(Algorithm::RS256, "an-example-secret-that-is-32-bytes!").is_err());
/// ```
#[must_use = "a key does nothing until given to a manager or key set"]
pub struct JwtKey(pub(crate) Key);

impl From<Key> for JwtKey {
    /// Named by its thumbprint (asymmetric keys).
    fn from(mut key: Key) -> Self {
        key.set_kid(key.thumbprint.clone());
        Self(key)
    }
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl JwtKey {
    /// An HMAC secret for HS256, HS384 or HS512 (at least 32, 48 or 64 bytes, not a
    /// well-known example value).
    pub fn hmac(algorithm: Algorithm, secret: impl AsRef<[u8]>) -> Result<Self, BuildError> {
        Key::new(algorithm, Material::Secret(secret.as_ref().to_vec())).map(JwtKey::from)
    }

    /// A private key in PEM (PKCS#8; also PKCS#1 for RSA and SEC1 for EC where jsonwebtoken
    /// reads them): it signs, and verifies with its public half.
    pub fn from_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, BuildError> {
        ensure_crypto_provider()?;
        let invalid = |e: jsonwebtoken::errors::Error| {
            BuildError::key_from(format_args!("{algorithm:?} private key"), e)
        };
        let encoding = match algorithm {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => EncodingKey::from_rsa_pem(pem),
            Algorithm::ES256 | Algorithm::ES384 => match jwk::sec1_as_pkcs8(pem, algorithm)? {
                Some(der) => Ok(EncodingKey::from_ec_der(&der)),
                None => EncodingKey::from_ec_pem(pem),
            },
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
            other => {
                return Err(BuildError::UnsupportedAlgorithm(format!(
                    "{other:?} needs a secret, not a PEM key"
                )))
            }
        }
        .map_err(invalid)?;
        let decoding = jwk::decoding_from_private(&encoding, algorithm)?;
        Key::new(algorithm, Material::Pair(encoding, decoding)).map(JwtKey::from)
    }

    /// A public key in PEM (SPKI; also PKCS#1 for RSA): it verifies only.
    pub fn from_public_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, BuildError> {
        ensure_crypto_provider()?;
        let invalid = |e: jsonwebtoken::errors::Error| {
            BuildError::key_from(format_args!("{algorithm:?} public key"), e)
        };
        let decoding = match algorithm.family() {
            jsonwebtoken::AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
            jsonwebtoken::AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
            jsonwebtoken::AlgorithmFamily::Ed => DecodingKey::from_ed_pem(pem),
            jsonwebtoken::AlgorithmFamily::Hmac => {
                return Err(BuildError::UnsupportedAlgorithm(format!(
                    "{algorithm:?} needs a secret, not a PEM key"
                )))
            }
        }
        .map_err(invalid)?;
        Key::new(algorithm, Material::Public(decoding)).map(JwtKey::from)
    }

    /// A key pair from jsonwebtoken's keys.
    pub fn from_pair(
        algorithm: Algorithm,
        encoding: EncodingKey,
        decoding: DecodingKey,
    ) -> Result<Self, BuildError> {
        Key::new(algorithm, Material::Pair(encoding, decoding)).map(JwtKey::from)
    }

    /// A public key from jsonwebtoken's [`DecodingKey`]: it verifies only.
    pub fn from_decoding_key(
        algorithm: Algorithm,
        decoding: DecodingKey,
    ) -> Result<Self, BuildError> {
        Key::new(algorithm, Material::Public(decoding)).map(JwtKey::from)
    }

    /// Names the key: its tokens carry this `kid`, and its JWK too.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.0.set_kid(Some(kid.into()));
        self
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.0.kid.as_deref()
    }

    /// The algorithm the key pins.
    pub fn algorithm(&self) -> Algorithm {
        self.0.algorithm
    }

    /// Whether the key can sign (a secret or a private key).
    pub fn can_sign(&self) -> bool {
        self.0.encoding.is_some()
    }

    /// The public JWK (`kty`, `kid`, `alg`, `use: "sig"` and the public members); `None` for
    /// a secret, which is never published.
    pub fn public_jwk(&self) -> Option<Value> {
        self.0.public_jwk.clone().map(Value::Object)
    }
}

pub(crate) fn is_hmac(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
}

/// With both backend features enabled (e.g. `--all-features`), jsonwebtoken cannot pick
/// one by itself; the opt-in `aws_lc_rs` then wins.
pub(crate) fn ensure_crypto_provider() -> Result<(), BuildError> {
    use jsonwebtoken::crypto::CryptoProvider;
    if CryptoProvider::try_get_default().is_none() {
        #[cfg(feature = "aws_lc_rs")]
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        #[cfg(all(feature = "rust_crypto", not(feature = "aws_lc_rs")))]
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    }
    match CryptoProvider::try_get_default() {
        Some(_) => Ok(()),
        None => Err(BuildError::NoCryptoBackend),
    }
}

/// Secrets that are published in tutorials and must never sign real tokens.
const WELL_KNOWN_SECRETS: &[&str] = &[
    "secret",
    "secret-key",
    "secret_key",
    "secretkey",
    "your-256-bit-secret",
    "your-384-bit-secret",
    "your-512-bit-secret",
    "change_me",
    "changeme",
    "change-me",
    "super-secret",
    "supersecret",
    "super-secret-key",
    "jwt-secret",
    "jwt_secret_key",
    "my-secret-key",
    "password",
    "foobarbaz",
];

fn check_secret(secret: &[u8], algorithm: Algorithm) -> Result<(), BuildError> {
    let min = match algorithm {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        other => {
            return Err(BuildError::UnsupportedAlgorithm(format!(
                "{other:?} needs a key pair, not a secret"
            )))
        }
    };
    let lowered = String::from_utf8_lossy(secret).trim().to_ascii_lowercase();
    if WELL_KNOWN_SECRETS.contains(&lowered.as_str()) {
        return Err(BuildError::WeakSecret(
            "the secret is a well-known example value; use a random one".into(),
        ));
    }
    if secret.len() < min {
        return Err(BuildError::WeakSecret(format!(
            "the secret is {} bytes; {algorithm:?} needs at least {min} random bytes",
            secret.len()
        )));
    }
    let period = shortest_period(secret);
    if period <= secret.len() / 2 {
        return Err(BuildError::WeakSecret(format!(
            "the secret repeats a string of {period} byte{}; use a random one",
            if period == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// The length of the shortest string that, repeated (the last copy possibly cut short),
/// spells `bytes`: a secret whose period is at most half its length is a shorter string
/// repeated (`changeme` × 4), no stronger than that string. Linear time (the border of
/// Knuth-Morris-Pratt's prefix function).
fn shortest_period(bytes: &[u8]) -> usize {
    // border[i]: the length of the longest proper prefix of bytes[..=i] that is also its
    // suffix.
    let mut border = vec![0usize; bytes.len()];
    for i in 1..bytes.len() {
        let mut k = border[i - 1];
        while k > 0 && bytes[i] != bytes[k] {
            k = border[k - 1];
        }
        if bytes[i] == bytes[k] {
            k += 1;
        }
        border[i] = k;
    }
    bytes.len() - border.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shorter string repeated is as weak as its one copy (JWT cracking tools find them).
    #[test]
    fn repeated_secrets_are_refused() {
        for weak in [
            "changeme".repeat(4),
            "0123456789abcdef".repeat(2),
            "ab".repeat(20),
            "a".repeat(40),
            // A partial copy at the end does not make it stronger.
            "password1".repeat(4) + "pass",
        ] {
            assert!(
                matches!(
                    check_secret(weak.as_bytes(), Algorithm::HS256),
                    Err(BuildError::WeakSecret(_))
                ),
                "{weak:?} accepted"
            );
        }
        for weak in ["0123456789abcdef".repeat(4), "changeme".repeat(8)] {
            assert!(check_secret(weak.as_bytes(), Algorithm::HS512).is_err());
        }
        // Random secrets pass, and so do the test suite's.
        let random: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
        assert!(check_secret(&random, Algorithm::HS256).is_ok());
        for fine in [
            "an-example-secret-that-is-32-bytes!",
            "key-set-test-secret-0123456789abcdefgh",
            "benchmark-secret-0123456789abcdefghijklmnop",
            // Repeated, but not all through: not a repetition.
            &("changeme".repeat(4) + "-and-then-something-else"),
        ] {
            assert!(
                check_secret(fine.as_bytes(), Algorithm::HS256).is_ok(),
                "{fine}"
            );
        }
    }

    fn rand_byte() -> u8 {
        uuid::Uuid::new_v4().as_bytes()[0]
    }

    #[test]
    fn headers_in_pyjwt_layout() {
        assert_eq!(
            header("HS256", None, &Map::new()),
            r#"{"alg":"HS256","typ":"JWT"}"#
        );
        let mut extra = Map::new();
        extra.insert("alg".into(), "none".into());
        extra.insert("b".into(), 1.into());
        assert_eq!(
            header("ES256", Some("k1"), &extra),
            r#"{"alg":"ES256","b":1,"kid":"k1","typ":"JWT"}"#
        );
    }

    #[test]
    fn keys_are_chosen_by_kid_and_pin_their_algorithm() {
        let key = Key::new(
            Algorithm::HS256,
            Material::Secret(b"keys-unit-test-secret-0123456789abcdef".to_vec()),
        )
        .unwrap();
        let set = KeySet::single(key);
        let only = set.keys[0].clone();
        assert!(Arc::ptr_eq(set.select("HS256", None).unwrap(), &only));
        assert_eq!(set.select("HS512", None).unwrap_err(), NoKey::Algorithm);
        // Keys without a kid: a token's kid selects nothing (tokens of earlier versions
        // and of Flask-JWT-Extended may carry one).
        assert!(Arc::ptr_eq(set.select("HS256", Some("k")).unwrap(), &only));
        assert!(Arc::ptr_eq(
            set.by_header(b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9")
                .unwrap(),
            &only
        ));
    }

    #[test]
    fn keys_know_whether_they_are_in_their_set() {
        let secret = |i: u8| {
            Material::Secret(format!("in-set-unit-test-secret-{i}-0123456789abcdef").into_bytes())
        };
        let key = |i| Arc::new(Key::new(Algorithm::HS256, secret(i)).unwrap());
        let (a, b) = (key(1), key(2));
        let slot = arc_swap::ArcSwap::from_pointee(KeySet {
            keys: vec![a.clone(), b.clone()],
            signing: None,
        });
        assert!(a.in_set() && b.in_set());
        set::replace_set(
            &slot,
            KeySet {
                keys: vec![b.clone()],
                signing: None,
            },
        );
        assert!(!a.in_set(), "dropped from the set");
        assert!(b.in_set(), "kept");
        set::replace_set(
            &slot,
            KeySet {
                keys: vec![a.clone(), b.clone()],
                signing: None,
            },
        );
        assert!(a.in_set(), "back in the set");
    }
}
