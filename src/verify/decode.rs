//! Decoding a compact JWS: shape and size, the key (by header; with outside issuers, among
//! the keys of the issuer its `iss` names), the signature, one typed parse of the claims,
//! the time claims, issuer, audience, identity. Everything here depends only on the token
//! and the settings, which is what makes the memo of verified tokens possible.

use std::sync::Arc;

use crate::claims::{
    ClaimsSeed, Found, Freshness, Held, RawClaims, RawHeader, TokenData, TokenType, VerifiedToken,
};
use crate::config::keys::{peek_issuer, NoKey, Scope, ISSUER_SEPARATOR};
use crate::config::{ClaimPath, Settings, TokenLocation};
use crate::denylist::{packed_parsed, packed_uuid};
use crate::error::{AuthError, ErrorKind};

/// `iat` and `nbf` not in the future, `exp` not in the past, with the leeway; PyJWT's
/// order and messages.
pub(super) fn check_times(
    s: &Settings,
    iat: f64,
    nbf: Option<f64>,
    exp: Option<f64>,
    now: f64,
) -> Result<(), AuthError> {
    if iat > now + s.leeway {
        return Err(AuthError::new(
            ErrorKind::NotYetValid,
            "The token is not yet valid (iat)",
        ));
    }
    if nbf.is_some_and(|nbf| nbf > now + s.leeway) {
        return Err(AuthError::new(
            ErrorKind::NotYetValid,
            "The token is not yet valid (nbf)",
        ));
    }
    if exp.is_some_and(|exp| exp <= now - s.leeway) {
        return Err(AuthError::new(ErrorKind::Expired, "Token has expired"));
    }
    Ok(())
}

/// Decodes and validates an encoded token: shape, algorithm, signature, payload, time
/// claims, issuer, audience and identity. `now` is epoch seconds. Bytes rather than a `str`:
/// a token located in a request is not checked for UTF-8 first (every segment is checked
/// for what it may hold on its way).
pub(crate) fn decode(
    s: &Arc<Settings>,
    encoded: &[u8],
    location: Option<TokenLocation>,
    now: f64,
) -> Result<VerifiedToken, AuthError> {
    // Size and shape, before any decoding.
    if encoded.len() > s.max_token_size {
        return Err(AuthError::new(ErrorKind::TooLarge, "Token is too large"));
    }
    let (header_b64, payload_b64, signature_b64) = split_segments(encoded)?;
    // The usual token: the manager's own HMAC key, recognised by its header's spelling. Its
    // characters are then checked only if the signature fails (to name the segment at
    // fault, as before): a header equal to the key's, a signature equal to the MAC's strict
    // spelling and a payload the strict decoder accepts hold nothing else.
    let own_key = match s.keys.has_outside() {
        false => s.keys.by_header(header_b64, Scope::Own),
        true => None,
    };
    let alphabet_checked = own_key.as_ref().is_none_or(|key| key.hmac.is_none());
    if alphabet_checked {
        check_alphabet(encoded, header_b64, payload_b64)?;
    }

    // Whose keys: with outside issuers, the token's `iss` picks them (`Scope`), read from
    // the payload decoded now rather than after the signature (it is decoded anyway). A
    // manager without outside issuers never looks: its own keys are the only ones.
    let mut early_payload = None;
    let mut claims_issuer = false;
    let scope = if s.keys.has_outside() {
        match base64_simd::URL_SAFE_NO_PAD.decode_to_vec(payload_b64) {
            Ok(payload) => {
                let iss = peek_issuer(&payload);
                claims_issuer = iss.is_some();
                let scope = s.keys.scope(iss.as_deref());
                early_payload = Some(payload);
                scope
            }
            // Refused after the signature, as without outside issuers.
            Err(_) => Scope::Own,
        }
    } else {
        Scope::Own
    };

    // The key: by a key's own header, recognised without parsing; otherwise by the
    // header's `alg` and `kid`. The key pins the algorithm: a token cannot choose it.
    let (key, header) = match own_key.or_else(|| s.keys.by_header(header_b64, scope)) {
        Some(key) => (key, None),
        None => {
            let json = base64_simd::URL_SAFE_NO_PAD
                .decode_to_vec(header_b64)
                .map_err(|_| AuthError::malformed("Invalid header padding"))?;
            let raw = RawHeader::parse(&json)
                .map_err(|_| AuthError::malformed("Invalid header string"))?;
            if let Some(field) = raw.forbidden {
                return Err(AuthError::new(
                    ErrorKind::Malformed,
                    format!("Unsupported header field \"{field}\""),
                ));
            }
            let (alg, kid) = (raw.alg.as_deref().unwrap_or(""), raw.kid.as_deref());
            let key = match s.keys.select(alg, kid, scope) {
                Ok(key) => key,
                // A key another issuer (or the manager) holds: the token claims the wrong
                // issuer, or none; the keys of the one it claims are the only ones tried.
                // Not for a key an outside issuer may have published since (an unknown
                // `kid`, or none of its `alg` yet): that one is fetched for, below, even
                // when a kid-less key elsewhere would take any `kid` of the algorithm.
                Err(err)
                    if s.keys.has_outside()
                        && !(matches!(scope, Scope::Outside(_))
                            && matches!(err, NoKey::UnknownKid | NoKey::NotFetched))
                        && s.keys.held_anywhere(alg, kid) =>
                {
                    return Err(if claims_issuer {
                        AuthError::new(ErrorKind::InvalidIssuer, "Invalid issuer")
                    } else {
                        AuthError::new(
                            ErrorKind::InvalidIssuer,
                            r#"Token is missing the "iss" claim"#,
                        )
                    });
                }
                Err(NoKey::Algorithm) => {
                    return Err(AuthError::new(
                        ErrorKind::AlgorithmNotAllowed,
                        "The specified alg value is not allowed",
                    ))
                }
                Err(NoKey::UnknownKid) => {
                    return Err(AuthError::new(
                        ErrorKind::UnknownKey,
                        "No key matches the token's key id (kid)",
                    ))
                }
                Err(NoKey::NotFetched) => {
                    return Err(AuthError::new(
                        ErrorKind::UnknownKey,
                        "The token has no key id (kid), and no known key has its alg",
                    ))
                }
                Err(NoKey::Ambiguous) => {
                    return Err(AuthError::new(
                        ErrorKind::UnknownKey,
                        "The token has no key id (kid), and several keys could verify it",
                    ))
                }
            };
            (key, Some(json))
        }
    };

    // Signature over `header.payload` with the key's algorithm.
    let signing_input = &encoded[..header_b64.len() + 1 + payload_b64.len()];
    let verified = match &key.hmac {
        Some(hmac) => hmac.verify(signing_input, signature_b64),
        // Checked against the base64url alphabet above: ASCII.
        None => std::str::from_utf8(signature_b64)
            .map_err(drop)
            .and_then(|signature| {
                jsonwebtoken::crypto::verify(signature, signing_input, &key.decoding, key.algorithm)
                    .map_err(drop)
            }),
    };
    if !alphabet_checked && !matches!(verified, Ok(true)) {
        check_alphabet(encoded, header_b64, payload_b64)?;
    }
    match verified {
        Ok(true) => {}
        Ok(false) => {
            return Err(AuthError::new(
                ErrorKind::InvalidSignature,
                "Signature verification failed",
            ))
        }
        Err(_) => return Err(AuthError::malformed("Invalid crypto padding")),
    }

    // Claims, parsed once; `sub` and `jti` are kept as spans of the decoded payload.
    // base64-simd: strict like the `base64` crate (canonical spellings only), and SIMD.
    let payload = match early_payload {
        Some(payload) => payload,
        None => base64_simd::URL_SAFE_NO_PAD
            .decode_to_vec(payload_b64)
            .map_err(|_| AuthError::malformed("Invalid payload padding"))?,
    };
    let invalid_payload = || {
        AuthError::malformed(
            "Invalid payload string: must be a json object without duplicate claims",
        )
    };
    // UTF-8 checked once, whole: the parse and every claim read later then take it as text.
    let payload = String::from_utf8(payload).map_err(|_| invalid_payload())?;
    let (roles_claim, scopes_claim) = crate::claims::paths(s, &key);
    let mut claims = RawClaims::default();
    ClaimsSeed {
        identity_claim: &s.identity_claim,
        roles_claim: roles_claim.map(ClaimPath::top),
        scopes_claim: scopes_claim.map(ClaimPath::top),
        payload: &payload,
    }
    .parse_into(&mut claims)
    .map_err(|_| invalid_payload())?;

    // Time claims, in PyJWT's order: iat, nbf, exp.
    let Some(iat) = numeric(claims.iat, "Issued At claim (iat) must be an integer.")? else {
        return Err(AuthError::new(
            ErrorKind::InvalidClaim,
            r#"Token is missing the "iat" claim"#,
        ));
    };
    let nbf = numeric(claims.nbf, "Not Before claim (nbf) must be an integer.")?;
    let exp = numeric(
        claims.exp,
        "Expiration Time claim (exp) must be an integer.",
    )?;
    check_times(s, iat, nbf, exp, now)?;
    // An outside issuer's token always expires; its lifetime is its issuer's business.
    let own = key.trust.is_none();
    match exp {
        Some(exp) if own && exp - iat > s.max_lifetime => {
            return Err(AuthError::new(
                ErrorKind::InvalidClaim,
                "Token lifetime (exp - iat) exceeds the maximum",
            ))
        }
        Some(_) => {}
        None => {
            let refresh = matches!(claims.token_type, Found::Valid(TokenType::Refresh));
            if !own || !s.may_not_expire(refresh) {
                return Err(AuthError::new(
                    ErrorKind::InvalidClaim,
                    r#"Token is missing the "exp" claim"#,
                ));
            }
        }
    }

    // Issuer, then audience: the manager's settings for its own tokens; for an outside
    // issuer's, its `iss` (required) and the audience configured for it.
    let (issuer, audience) = match &key.trust {
        Some(trust) => (Some(&trust.issuer), &trust.audience),
        None => (s.decode_issuer.as_ref(), &s.decode_audience),
    };
    if let Some(expected) = issuer {
        match &claims.iss {
            Found::Absent => {
                return Err(AuthError::new(
                    ErrorKind::InvalidIssuer,
                    r#"Token is missing the "iss" claim"#,
                ))
            }
            Found::Valid(iss) if iss.as_str(&payload) == expected => {}
            _ => return Err(AuthError::new(ErrorKind::InvalidIssuer, "Invalid issuer")),
        }
    }
    if !audience.is_empty() {
        match &claims.aud {
            Found::Absent => {
                return Err(AuthError::new(
                    ErrorKind::InvalidAudience,
                    r#"Token is missing the "aud" claim"#,
                ))
            }
            Found::Invalid => {
                return Err(AuthError::new(
                    ErrorKind::InvalidAudience,
                    "Invalid audience",
                ))
            }
            Found::Valid((at, len)) => {
                let raw = payload
                    .get(*at as usize..*at as usize + *len as usize)
                    .unwrap_or_default();
                match crate::claims::audience_holds(raw, audience) {
                    Some(true) => {}
                    Some(false) => {
                        return Err(AuthError::new(
                            ErrorKind::InvalidAudience,
                            "Audience doesn't match",
                        ))
                    }
                    None => {
                        return Err(AuthError::new(
                            ErrorKind::InvalidAudience,
                            "Invalid audience",
                        ))
                    }
                }
            }
        }
    }

    // The identity: present, and a string; the manager's own never holds the separator of
    // outside issuers' names, so that no local identity can spell an outside one.
    let identity = match claims.identity {
        Found::Valid(identity)
            if own
                && memchr::memchr(ISSUER_SEPARATOR as u8, identity.as_str(&payload).as_bytes())
                    .is_some() =>
        {
            return Err(AuthError::new(
                ErrorKind::InvalidSubject,
                "Subject must not contain U+001F",
            ))
        }
        Found::Valid(identity) => identity,
        Found::Absent => {
            return Err(AuthError::new(
                ErrorKind::InvalidClaim,
                format!("Missing claim: {}", s.identity_claim),
            ))
        }
        Found::Invalid => {
            return Err(AuthError::new(
                ErrorKind::InvalidSubject,
                "Subject must be a string",
            ))
        }
    };
    let jti = match claims.jti {
        Found::Valid(jti) => Some(jti),
        Found::Absent => None,
        Found::Invalid => {
            return Err(AuthError::new(
                ErrorKind::InvalidClaim,
                r#"Invalid "jti" claim"#,
            ))
        }
    };
    // An outside issuer's `type`, `fresh`, `csrf` and `sid` mean nothing here unless it is
    // trusted to speak this crate's language: its tokens are non-fresh access tokens.
    let believed = key.trust.as_ref().is_none_or(|trust| trust.trust_claims);
    let token_type = match claims.token_type {
        _ if !believed => TokenType::Access,
        Found::Valid(t) => t,
        Found::Absent => TokenType::Access,
        Found::Invalid => {
            return Err(AuthError::new(
                ErrorKind::InvalidClaim,
                r#"Invalid "type" claim"#,
            ))
        }
    };

    // The `jti` parsed as a uuid once: for its issue time, and for the denylist.
    let jti_text = jti.as_ref().map(|jti| jti.as_str(&payload));
    let jti_parsed = jti_text.and_then(|jti| uuid::Uuid::try_parse(jti).ok());
    let issued = issue_time(iat, jti_parsed);
    let session = match claims.sid {
        Found::Valid(sid) if believed => Some(sid),
        _ => None,
    };
    // The stores' uuid keys, for the manager's own names only: an outside issuer's are
    // namespaced (`<issuer>\u{1f}<name>`), never a uuid.
    let (jti_uuid, session_uuid) = match own {
        true => (
            jti_text.and_then(|jti| packed_parsed(jti, || jti_parsed)),
            session
                .as_ref()
                .and_then(|sid| packed_uuid(sid.as_str(&payload))),
        ),
        false => (None, None),
    };
    Ok(VerifiedToken(
        Arc::new(TokenData {
            identity,
            jti_uuid,
            session_uuid,
            jti,
            token_type,
            fresh: if believed {
                claims.fresh
            } else {
                Freshness::NotFresh
            },
            iat: Some(iat),
            issued,
            nbf,
            exp,
            location,
            csrf: match claims.csrf {
                Found::Valid(csrf) if believed => Some(csrf),
                _ => None,
            },
            session,
            held: Held::new(
                payload.as_bytes(),
                (
                    claims.roles.into_option(),
                    crate::claims::below(roles_claim),
                ),
                (
                    claims.scopes.into_option(),
                    crate::claims::below(scopes_claim),
                ),
            ),
            header,
            key,
            settings: s.clone(),
            payload,
        }),
        None,
    ))
}

fn numeric(found: Found<f64>, invalid: &'static str) -> Result<Option<f64>, AuthError> {
    match found {
        Found::Absent => Ok(None),
        Found::Valid(v) => Ok(Some(v)),
        Found::Invalid => Err(AuthError::new(ErrorKind::InvalidClaim, invalid)),
    }
}

/// When a token was issued, as precisely as it says: the time its `jti` carries when that is
/// a UUIDv7 of `iat`'s second or the next (this crate's tokens, to the millisecond; a token
/// issued right after a revoke-all carries the cut-off, which may lie in the next second),
/// else `iat`.
fn issue_time(iat: f64, jti: Option<uuid::Uuid>) -> f64 {
    jti.filter(|id| id.get_version_num() == 7)
        .and_then(|id| id.get_timestamp())
        .map(|timestamp| timestamp.to_unix())
        .filter(|&(secs, _)| secs as f64 == iat || secs as f64 == iat + 1.0)
        .map(|(secs, nanos)| {
            crate::clock::numeric_date(
                std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos),
            )
        })
        .unwrap_or(iat)
}

/// A compact JWS's header, payload and signature, as written.
type Segments<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// Splits a compact JWS into its three segments (its characters: [`check_alphabet`]).
fn split_segments(encoded: &[u8]) -> Result<Segments<'_>, AuthError> {
    let bytes = encoded;
    let Some(first) = memchr::memchr(b'.', bytes) else {
        return Err(AuthError::malformed("Not enough segments"));
    };
    let Some(second) = memchr::memchr(b'.', &bytes[first + 1..]).map(|at| first + 1 + at) else {
        return Err(AuthError::malformed("Not enough segments"));
    };
    let (header, payload, signature) = (
        &encoded[..first],
        &encoded[first + 1..second],
        &encoded[second + 1..],
    );
    if memchr::memchr(b'.', signature).is_some() {
        return Err(AuthError::malformed("Too many segments"));
    }
    Ok((header, payload, signature))
}

/// Checks a token's characters, in one branch-free pass (which vectorises): a character
/// outside the base64url alphabet is reported against the segment that holds it, as PyJWT
/// would.
fn check_alphabet(encoded: &[u8], header: &[u8], payload: &[u8]) -> Result<(), AuthError> {
    let bad = encoded.iter().fold(0u8, |acc, &b| {
        acc | u8::from(!(is_base64url(b) | (b == b'.')))
    }) != 0;
    if bad {
        let invalid = |s: &[u8]| s.iter().any(|&b| !is_base64url(b));
        return Err(AuthError::malformed(if invalid(header) {
            "Invalid header padding"
        } else if invalid(payload) {
            "Invalid payload padding"
        } else {
            "Invalid crypto padding"
        }));
    }
    Ok(())
}

/// `[A-Za-z0-9_-]`, with comparisons only, so that loops over it vectorise.
#[inline(always)]
fn is_base64url(b: u8) -> bool {
    ((b | 0x20).wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10) | (b == b'-') | (b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split, then the characters checked.
    fn alphabet(token: &str) -> Result<(), AuthError> {
        let token = token.as_bytes();
        let (header, payload, _) = split_segments(token)?;
        check_alphabet(token, header, payload)
    }

    fn split(token: &str) -> Result<Segments<'_>, AuthError> {
        split_segments(token.as_bytes())
    }

    #[test]
    fn segments() {
        assert_eq!(split("a.b.c").unwrap(), (&b"a"[..], &b"b"[..], &b"c"[..]));
        assert!(alphabet("a.b.c").is_ok());
        assert_eq!(split("a.b").unwrap_err().message(), "Not enough segments");
        assert_eq!(split("").unwrap_err().message(), "Not enough segments");
        assert_eq!(split("a.b.c.d").unwrap_err().message(), "Too many segments");
        assert_eq!(
            alphabet("a=.b.c").unwrap_err().message(),
            "Invalid header padding"
        );
        assert_eq!(
            alphabet("a.b+.c").unwrap_err().message(),
            "Invalid payload padding"
        );
        assert_eq!(
            alphabet("a.b.c/").unwrap_err().message(),
            "Invalid crypto padding"
        );
        assert_eq!(
            split(&".".repeat(2_000_000)).unwrap_err().message(),
            "Too many segments"
        );
    }
}
