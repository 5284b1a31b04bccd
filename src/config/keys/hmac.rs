//! HMAC keys with their key schedule done once, and the one constant-time compare.

use jsonwebtoken::Algorithm;

use crate::config::BuildError;

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
    pub(crate) fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self, BuildError> {
        use hmac::KeyInit;
        let invalid = |_| BuildError::key("invalid HMAC secret");
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
    pub(crate) fn verify(&self, input: &[u8], signature_b64: &[u8]) -> Result<bool, ()> {
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
        let given = signature_b64;
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

/// Equal lengths and equal bytes, every byte compared whatever the first difference:
/// RustCrypto's `ctutils` (the successor of `subtle`, its slices compared a machine word at
/// a time with `cmov`, whose constant time does not rest on the compiler's goodwill): for
/// MACs and CSRF values, the secrets an attacker would learn by timing (79 instructions for
/// an HS256 signature; `subtle`'s slice compare 563).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    ctutils::CtEq::ct_eq(a, b).to_bool()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What every byte compare of the crate must do (`constant_time_eq` here, the memo's
    /// `same_token`): tell lengths apart, and find a difference in any bit of any byte,
    /// across several 32-byte steps and a tail.
    pub(crate) fn compares_length_and_every_bit(eq: fn(&[u8], &[u8]) -> bool) {
        assert!(eq(b"abc", b"abc"));
        assert!(!eq(b"abc", b"abd"));
        assert!(!eq(b"abc", b"xbc"));
        assert!(!eq(b"abc", b"abcd"));
        assert!(eq(b"", b""));
        let long: Vec<u8> = (0..100u8).collect();
        for at in 0..long.len() {
            for bit in 0..8 {
                let mut other = long.clone();
                other[at] ^= 1 << bit;
                assert!(!eq(&long, &other), "difference at {at}.{bit} missed");
            }
        }
        assert!(eq(&long, &long.clone()));
    }

    #[test]
    fn constant_time_eq_compares_length_and_every_bit() {
        compares_length_and_every_bit(constant_time_eq);
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
        assert_eq!(key.verify(b"header.payload", good.as_bytes()), Ok(true));
        assert_eq!(key.verify(b"header.payloaX", good.as_bytes()), Ok(false));
        // The same 32 bytes with non-zero unused bits in the last character: not strict
        // base64url, so malformed rather than merely wrong.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = alphabet.find(good.chars().last().unwrap()).unwrap();
        let other = alphabet.chars().nth(last | 1).unwrap();
        let noncanonical = format!("{}{other}", &good[..good.len() - 1]);
        assert_ne!(noncanonical, good);
        assert_eq!(
            key.verify(b"header.payload", noncanonical.as_bytes()),
            Err(())
        );
        // Too short or too long: a wrong signature, or not base64url at all.
        assert_eq!(
            key.verify(b"header.payload", &good.as_bytes()[..40]),
            Ok(false)
        );
        assert_eq!(
            key.verify(b"header.payload", &good.as_bytes()[..41]),
            Err(())
        );
        assert_eq!(
            key.verify(b"header.payload", "A".repeat(89).as_bytes()),
            Ok(false)
        );
    }
}
