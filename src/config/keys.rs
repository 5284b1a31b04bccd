//! The key set: the keys a manager verifies with, chosen by a token's `kid`, each pinning
//! its own algorithm, and the one it signs with. One key today; the seam for key rotation
//! and JWKS.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use super::BuildError;

/// One key: how to verify with it, and to sign with it when it is private.
pub(crate) struct Key {
    /// Unique in this process: what the memo of verified tokens remembers a token by, so
    /// that a key removed from the set takes what it verified with it.
    pub(crate) id: u64,
    pub(crate) kid: Option<String>,
    pub(crate) algorithm: Algorithm,
    /// The algorithm's name as it appears in headers (`"HS256"`).
    pub(crate) alg_name: String,
    /// The header this key signs with, `{"alg":..,"typ":"JWT"}` in PyJWT's layout, and its
    /// base64url form: tokens carrying it are recognised without parsing their header.
    pub(crate) header_json: String,
    pub(crate) header_b64: String,
    pub(crate) decoding: DecodingKey,
    /// `None` for a key that only verifies.
    pub(crate) encoding: Option<EncodingKey>,
    /// For HS256/384/512: the HMAC with its key schedule done once.
    pub(crate) hmac: Option<HmacKey>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
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
    /// A key for `algorithm`, checked: secrets long enough and not well known, the
    /// algorithm fitting the key, a private key verifying what it signs.
    pub(crate) fn new(algorithm: Algorithm, material: Material) -> Result<Self, BuildError> {
        ensure_crypto_provider()?;
        let (encoding, decoding, hmac) = match material {
            Material::Secret(secret) => {
                check_secret(&secret, algorithm)?;
                let invalid =
                    |e: jsonwebtoken::errors::Error| BuildError::Invalid(format!("secret: {e}"));
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
                return Err(BuildError::Invalid(
                    "the decoding key does not verify what the encoding key signs".into(),
                ));
            }
        }
        let alg_name = match serde_json::to_value(algorithm) {
            Ok(Value::String(name)) => name,
            _ => return Err(BuildError::UnsupportedAlgorithm(format!("{algorithm:?}"))),
        };
        let header_json = header(&alg_name, None, &Map::new());
        let header_b64 = base64_simd::URL_SAFE_NO_PAD.encode_to_string(&header_json);
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            kid: None,
            algorithm,
            alg_name,
            header_json,
            header_b64,
            decoding,
            encoding,
            hmac,
        })
    }
}

/// A JOSE header in PyJWT's layout: `{"alg", "kid"?, "typ": "JWT"}` updated with `extra`,
/// keys sorted; `alg` always the key's own.
pub(crate) fn header(alg_name: &str, kid: Option<&str>, extra: &Map<String, Value>) -> String {
    // serde_json's map keeps keys sorted (no `preserve_order`).
    let mut header = Map::new();
    header.insert("typ".into(), "JWT".into());
    if let Some(kid) = kid {
        header.insert("kid".into(), kid.into());
    }
    header.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    header.insert("alg".into(), alg_name.into());
    Value::Object(header).to_string()
}

/// The keys a manager verifies with, and the one it signs with.
pub(crate) struct KeySet {
    keys: Vec<Arc<Key>>,
    signing: Option<usize>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

/// Why no key verifies a token's header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NoKey {
    /// The `alg` is none of the set's.
    Algorithm,
    /// A `kid` the set does not hold.
    UnknownKid,
    /// No `kid`, and the set holds several keys for the algorithm.
    Ambiguous,
}

impl KeySet {
    /// A set of one key, which signs when it can.
    pub(crate) fn single(key: Key) -> Self {
        let signing = key.encoding.is_some().then_some(0);
        Self {
            keys: vec![Arc::new(key)],
            signing,
        }
    }

    /// The key tokens are signed with, if any.
    pub(crate) fn signing(&self) -> Option<&Arc<Key>> {
        self.signing.map(|i| &self.keys[i])
    }

    /// The key whose default header is exactly `header_b64`: the common case, no parsing.
    pub(crate) fn by_header(&self, header_b64: &str) -> Option<&Arc<Key>> {
        self.keys.iter().find(|k| k.header_b64 == header_b64)
    }

    /// The key for a token whose header names `alg` and maybe `kid`: by `kid` when it has
    /// one (a set whose keys have none ignores it); otherwise the one key of its algorithm.
    /// The key's algorithm must be `alg`.
    pub(crate) fn select(&self, alg: &str, kid: Option<&str>) -> Result<&Arc<Key>, NoKey> {
        let named = kid.filter(|_| self.keys.iter().any(|k| k.kid.is_some()));
        let key = match named {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(NoKey::UnknownKid)?,
            None => {
                let mut of_alg = self.keys.iter().filter(|k| k.alg_name == alg);
                match (of_alg.next(), of_alg.next()) {
                    (Some(key), None) => key,
                    (None, _) => return Err(NoKey::Algorithm),
                    (Some(_), Some(_)) => return Err(NoKey::Ambiguous),
                }
            }
        };
        if key.alg_name == alg {
            Ok(key)
        } else {
            Err(NoKey::Algorithm)
        }
    }

    /// The key with this [`Key::id`], while it is in the set.
    pub(crate) fn by_id(&self, id: u64) -> Option<&Arc<Key>> {
        self.keys.iter().find(|k| k.id == id)
    }
}

fn is_hmac(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    )
}

/// An HMAC key with its key schedule done once. Verification clones it (a copy of the
/// inner and outer hash states), so every request saves the key setup, a boxed verifier and
/// an allocation for the signature.
#[derive(Clone)]
pub(crate) enum HmacKey {
    Sha256(hmac::Hmac<sha2::Sha256>),
    Sha384(hmac::Hmac<sha2::Sha384>),
    Sha512(hmac::Hmac<sha2::Sha512>),
}

impl HmacKey {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self, BuildError> {
        use hmac::KeyInit;
        let invalid = |_| BuildError::Invalid("invalid HMAC secret".into());
        Ok(match algorithm {
            Algorithm::HS256 => {
                HmacKey::Sha256(hmac::Hmac::new_from_slice(secret).map_err(invalid)?)
            }
            Algorithm::HS384 => {
                HmacKey::Sha384(hmac::Hmac::new_from_slice(secret).map_err(invalid)?)
            }
            Algorithm::HS512 => {
                HmacKey::Sha512(hmac::Hmac::new_from_slice(secret).map_err(invalid)?)
            }
            other => {
                return Err(BuildError::UnsupportedAlgorithm(format!(
                    "{other:?} is not an HMAC algorithm"
                )))
            }
        })
    }

    /// Whether `signature_b64` is the MAC of `input`, compared in constant time. `Err` when
    /// the signature is not strict base64url.
    ///
    /// The MAC is encoded and compared with the signature as written, rather than the
    /// signature decoded: encoding 32 bytes is cheaper than decoding 43 characters, and as
    /// strict base64url has one spelling per byte string, equal spellings mean equal MACs.
    /// Only a mismatch decodes the signature, to tell a wrong one from a malformed one.
    pub(crate) fn verify(&self, input: &[u8], signature_b64: &str) -> Result<bool, ()> {
        use hmac::Mac;
        fn tag<M: Mac + Clone>(mac: &M, input: &[u8], out: &mut [u8; 64]) -> usize {
            let mut mac = mac.clone();
            mac.update(input);
            let tag = mac.finalize().into_bytes();
            out[..tag.len()].copy_from_slice(&tag);
            tag.len()
        }
        let mut mac = [0u8; 64];
        let n = match self {
            HmacKey::Sha256(key) => tag(key, input, &mut mac),
            HmacKey::Sha384(key) => tag(key, input, &mut mac),
            HmacKey::Sha512(key) => tag(key, input, &mut mac),
        };
        let b64 = base64_simd::URL_SAFE_NO_PAD;
        let mut spelled = [0u8; 88]; // room for 64 bytes
        let spelled = b64.encode(&mac[..n], base64_simd::Out::from_slice(&mut spelled));
        let given = signature_b64.as_bytes();
        if constant_time_eq(spelled, given) {
            return Ok(true);
        }
        if given.len() > 88 {
            return Ok(false); // longer than any HMAC-SHA2 output
        }
        let mut decoded = [0u8; 66];
        b64.decode(given, base64_simd::Out::from_slice(&mut decoded))
            .map(|_| false)
            .map_err(drop)
    }
}

/// Equal lengths and equal bytes, every byte compared whatever the first difference.
///
/// The differences are OR-folded word by word without a branch, and `subtle` decides
/// whether the fold is zero. (`subtle`'s own slice comparison passes every byte through an
/// optimisation barrier: measured here at 990 ns for a 250-byte token, against 30 ns for
/// this, and the memo of verified tokens compares whole tokens on every hit.)
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .fold(0u64, |acc, (x, y)| acc | u64::from(x ^ y));
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or_default());
    let difference = a8
        .zip(b8)
        .fold(tail, |acc, (x, y)| acc | (word(x) ^ word(y)));
    difference.ct_eq(&0).into()
}

/// With both backend features enabled (e.g. `--all-features`), jsonwebtoken cannot pick
/// one by itself; the opt-in `aws_lc_rs` then wins.
fn ensure_crypto_provider() -> Result<(), BuildError> {
    use jsonwebtoken::crypto::CryptoProvider;
    if CryptoProvider::try_get_default().is_none() {
        #[cfg(feature = "aws_lc_rs")]
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        #[cfg(all(feature = "rust_crypto", not(feature = "aws_lc_rs")))]
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    }
    match CryptoProvider::try_get_default() {
        Some(_) => Ok(()),
        None => Err(BuildError::Invalid(
            "no jsonwebtoken crypto backend: enable exactly one of the `rust_crypto` and \
             `aws_lc_rs` features"
                .into(),
        )),
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
    if secret.iter().all(|&b| b == secret[0]) {
        return Err(BuildError::WeakSecret(
            "the secret repeats a single byte; use a random one".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_length_and_every_byte() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
        let long = b"0123456789abcdef0123456789abcdefXYZ";
        for at in 0..long.len() {
            let mut other = *long;
            other[at] ^= 1;
            assert!(!constant_time_eq(long, &other), "difference at {at} missed");
        }
        assert!(constant_time_eq(long, &long.clone()));
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
            Material::Secret(b"0123456789abcdef0123456789abcdef".to_vec()),
        )
        .unwrap();
        let id = key.id;
        let set = KeySet::single(key);
        assert_eq!(set.select("HS256", None).unwrap().id, id);
        assert_eq!(set.select("HS512", None).unwrap_err(), NoKey::Algorithm);
        // Keys without a kid: a token's kid selects nothing (tokens of earlier versions
        // and of Flask-JWT-Extended may carry one).
        assert_eq!(set.select("HS256", Some("k")).unwrap().id, id);
        assert_eq!(set.by_id(id).unwrap().id, id);
        assert!(set.by_id(id + 1_000_000).is_none());
        assert_eq!(
            set.by_header("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9")
                .unwrap()
                .id,
            id
        );
    }

    #[test]
    fn hmac_signature_spellings() {
        use hmac::Mac;
        let key = HmacKey::new(Algorithm::HS256, b"0123456789abcdef0123456789abcdef").unwrap();
        let HmacKey::Sha256(mac) = &key else {
            unreachable!()
        };
        let mut mac = mac.clone();
        mac.update(b"header.payload");
        let good = base64_simd::URL_SAFE_NO_PAD.encode_to_string(mac.finalize().into_bytes());
        assert_eq!(key.verify(b"header.payload", &good), Ok(true));
        assert_eq!(key.verify(b"header.payloaX", &good), Ok(false));
        // The same 32 bytes with non-zero unused bits in the last character: not strict
        // base64url, so malformed rather than merely wrong.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = alphabet.find(good.chars().last().unwrap()).unwrap();
        let other = alphabet.chars().nth(last | 1).unwrap();
        let noncanonical = format!("{}{other}", &good[..good.len() - 1]);
        assert_ne!(noncanonical, good);
        assert_eq!(key.verify(b"header.payload", &noncanonical), Err(()));
        // Too short or too long: a wrong signature, or not base64url at all.
        assert_eq!(key.verify(b"header.payload", &good[..40]), Ok(false));
        assert_eq!(key.verify(b"header.payload", &good[..41]), Err(()));
        assert_eq!(key.verify(b"header.payload", &"A".repeat(89)), Ok(false));
    }
}
