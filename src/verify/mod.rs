//! The one verification core behind all four guards.
//!
//! Checks run in Flask-JWT-Extended's order: OPTIONS passes; the token is located; size
//! and shape are checked before any decoding; then the signature with the pinned
//! algorithm; `iat`, `nbf`, `exp` with the leeway; `iss` and `aud` when configured; the
//! identity claim; the token type; freshness; revocation; the claims hook; the user lookup.
//! Everything up to revocation is synchronous; the guard only allocates a future when the
//! denylist cannot answer locally or a user lookup is configured.
//!
//! What the steps from size to identity prove depends only on the token and the settings,
//! so a token this thread verified before is taken from [`cache`] (when the manager has
//! it on), with its `exp` checked again; the steps from the type on run every time.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::{Method, Request};
use serde::de::DeserializeSeed;

use crate::claims::{ClaimsSeed, Found, RawHeader, TokenData, TokenType, VerifiedToken};
use crate::denylist::{BoxFuture, DenylistError, TokenId};
use crate::error::{AuthError, ErrorContext, ErrorKind, ErrorResponder, StatusPolicy};
use crate::manager::{algorithm_name, JwtManager, Settings};
use crate::token::{locate, RequestParts, TokenLocation};

mod cache;
pub(crate) use cache::owner_id;

/// Which token type a route accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// Anything but `type: "refresh"`.
    Access,
    /// Exactly `type: "refresh"`.
    Refresh,
    /// No type check.
    Any,
}

/// What a guard requires of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub(crate) kind: TokenKind,
    pub(crate) fresh: bool,
    pub(crate) optional: bool,
}

impl Requirement {
    pub(crate) const ACCESS: Self = Self {
        kind: TokenKind::Access,
        fresh: false,
        optional: false,
    };
    pub(crate) const ANY: Self = Self {
        kind: TokenKind::Any,
        fresh: false,
        optional: false,
    };
}

/// A guard's resolved configuration: the manager's settings with the route's overrides.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) manager: JwtManager,
    pub(crate) requirement: Requirement,
    pub(crate) locations: Arc<[TokenLocation]>,
    pub(crate) check_revocation: bool,
    /// Let requests through when the revocation store cannot answer.
    pub(crate) fail_open: bool,
    pub(crate) invalid_as_anonymous: bool,
    pub(crate) policy: StatusPolicy,
    pub(crate) responder: Arc<dyn ErrorResponder>,
}

/// A request a guard lets through.
pub(crate) enum Admitted {
    /// With a verified token.
    Token(VerifiedToken),
    /// Without one (OPTIONS, or an optional route), and why: what a required extractor
    /// answers.
    Anonymous(AuthError),
}

/// The result of the synchronous part of verification.
pub(crate) enum Verdict {
    /// Decided: admitted, or a rejection.
    Ready(Result<Admitted, AuthError>),
    /// The revocation store or the user lookup must be awaited.
    Pending(BoxFuture<'static, Result<Admitted, AuthError>>),
}

impl Route {
    pub(crate) fn new(manager: JwtManager, requirement: Requirement) -> Self {
        let s = &manager.settings;
        Self {
            requirement,
            locations: s.locations.clone(),
            check_revocation: s.check_revocation,
            fail_open: false,
            invalid_as_anonymous: false,
            policy: s.status_policy,
            responder: s.responder.clone(),
            manager,
        }
    }

    fn settings(&self) -> &Settings {
        &self.manager.settings
    }

    /// Runs every check that needs no waiting, and says what is left.
    pub(crate) fn verify<B>(self: &Arc<Self>, req: &Request<B>) -> Verdict {
        let token = match self.verify_sync(req) {
            Ok(Admitted::Token(token)) => token,
            other => return Verdict::Ready(other.or_else(|e| self.tolerate(e))),
        };
        let revoked_now = match self.revocation_now(&token) {
            Ok(known) => known,
            Err(e) => return Verdict::Ready(self.tolerate(e)),
        };
        if revoked_now.is_some() && self.settings().user_lookup.is_none() {
            return Verdict::Ready(
                self.after_revocation(token)
                    .map(Admitted::Token)
                    .or_else(|e| self.tolerate(e)),
            );
        }
        let route = Arc::clone(self);
        Verdict::Pending(Box::pin(async move {
            let result = match revoked_now {
                Some(_) => route.after_revocation(token),
                None => route.finish_revocation(token).await,
            };
            let result = match result {
                Ok(token) => route.lookup_user(token).await,
                Err(e) => Err(e),
            };
            result.map(Admitted::Token).or_else(|e| route.tolerate(e))
        }))
    }

    /// Verifies without waiting: user lookup is skipped, and a denylist that cannot answer
    /// locally fails the check closed (it is never skipped).
    pub(crate) fn verify_now<B>(&self, req: &Request<B>) -> Result<VerifiedToken, AuthError> {
        let token = match self.verify_sync(req)? {
            Admitted::Token(token) => token,
            Admitted::Anonymous(why) => return Err(why),
        };
        if self.revocation_now(&token)?.is_none() {
            return self
                .revoked(Err(DenylistError::new(
                    "the denylist answers only asynchronously: use verify_token",
                )))
                .map(|_| token);
        }
        self.after_revocation(token)
    }

    /// The async tail for a decoded token: revocation, claims hook, user lookup.
    pub(crate) async fn finish(&self, token: VerifiedToken) -> Result<VerifiedToken, AuthError> {
        let token = match self.revocation_now(&token)? {
            Some(_) => self.after_revocation(token)?,
            None => self.finish_revocation(token).await?,
        };
        self.lookup_user(token).await
    }

    /// An optional route that treats invalid tokens as anonymous turns token problems
    /// into "no token".
    fn tolerate(&self, err: AuthError) -> Result<Admitted, AuthError> {
        if self.requirement.optional && self.invalid_as_anonymous && err.kind().is_token_problem() {
            Ok(Admitted::Anonymous(err))
        } else {
            Err(err)
        }
    }

    /// Locate, decode, type and freshness, or why the request passes without a token
    /// (OPTIONS, or no token on an optional route).
    fn verify_sync<B>(&self, req: &Request<B>) -> Result<Admitted, AuthError> {
        if req.method() == Method::OPTIONS {
            return Ok(Admitted::Anonymous(AuthError::missing(
                "Missing JWT: OPTIONS requests are not authenticated",
            )));
        }
        let parts = RequestParts {
            headers: req.headers(),
        };
        let (encoded, location) = match locate(self.settings(), &self.locations, &parts) {
            Ok(found) => found,
            Err(err) if err.kind() == ErrorKind::MissingToken && self.requirement.optional => {
                return Ok(Admitted::Anonymous(err))
            }
            Err(err) => return Err(err),
        };
        let now = self.settings().clock.now_secs();
        let token = decode_remembered(self.settings(), encoded, location, now)?;
        self.check_type_and_freshness(&token, now)?;
        Ok(Admitted::Token(token))
    }

    fn check_type_and_freshness(&self, token: &VerifiedToken, now: f64) -> Result<(), AuthError> {
        match (self.requirement.kind, token.token_type()) {
            (TokenKind::Access, TokenType::Refresh) => {
                return Err(AuthError::new(
                    ErrorKind::WrongTokenType,
                    "Only non-refresh tokens are allowed",
                ))
            }
            (TokenKind::Refresh, t) if *t != TokenType::Refresh => {
                return Err(AuthError::new(
                    ErrorKind::WrongTokenType,
                    "Only refresh tokens are allowed",
                ))
            }
            _ => {}
        }
        if self.requirement.fresh && !token.freshness().is_fresh_at(now) {
            return Err(AuthError::new(
                ErrorKind::FreshTokenRequired,
                "Fresh token required",
            ));
        }
        Ok(())
    }

    /// `Ok(Some(false))` when not revoked (or not checked), `Ok(None)` when the store must
    /// be awaited; a revoked token or a failing store is an error.
    fn revocation_now(&self, token: &VerifiedToken) -> Result<Option<bool>, AuthError> {
        if !self.check_revocation {
            return Ok(Some(false));
        }
        match self.settings().denylist.is_revoked_now(token_id(token)?) {
            Some(result) => self.revoked(result).map(Some),
            None => Ok(None),
        }
    }

    /// The denylist's answer as a verdict: a store error fails closed, or open on routes
    /// configured so.
    fn revoked(&self, answer: Result<bool, DenylistError>) -> Result<bool, AuthError> {
        match answer {
            Ok(false) => Ok(false),
            Ok(true) => Err(AuthError::new(ErrorKind::Revoked, "Token has been revoked")),
            Err(err) if self.fail_open => {
                tracing::warn!(outcome = "fail-open", "revocation not checked: {err}");
                Ok(false)
            }
            Err(_) => Err(AuthError::new(
                ErrorKind::RevocationStoreUnavailable,
                "Token revocation store unavailable",
            )),
        }
    }

    async fn finish_revocation(&self, token: VerifiedToken) -> Result<VerifiedToken, AuthError> {
        self.revoked(self.settings().denylist.is_revoked(token_id(&token)?).await)?;
        self.after_revocation(token)
    }

    /// The claims hook, which runs once revocation is settled.
    fn after_revocation(&self, token: VerifiedToken) -> Result<VerifiedToken, AuthError> {
        match &self.settings().claims_verifier {
            Some(hook) if !hook(&token) => Err(AuthError::new(
                ErrorKind::UserClaimsVerification,
                "User claims verification failed",
            )),
            _ => Ok(token),
        }
    }

    async fn lookup_user(&self, mut token: VerifiedToken) -> Result<VerifiedToken, AuthError> {
        if let Some(lookup) = &self.settings().user_lookup {
            match lookup(&token).await {
                Ok(Some(user)) => Arc::make_mut(&mut token.0).user = Some(user),
                Ok(None) => {
                    return Err(AuthError::new(
                        ErrorKind::UserLookup,
                        format!("Error loading the user {}", token.identity()),
                    ))
                }
                Err(err) => {
                    tracing::warn!(outcome = "error", "user lookup failed: {err}");
                    return Err(AuthError::new(
                        ErrorKind::UserStoreUnavailable,
                        self.settings().user_lookup_error.clone(),
                    ));
                }
            }
        }
        Ok(token)
    }

    /// Records a request the guard let through (never the token itself).
    pub(crate) fn admit(&self, admitted: &Admitted) {
        match admitted {
            Admitted::Token(token) => tracing::debug!(
                outcome = "accepted",
                location = token.location().as_str(),
                token_type = token.token_type().as_str(),
                "token verified"
            ),
            Admitted::Anonymous(_) => {
                tracing::debug!(outcome = "anonymous", "no token required")
            }
        }
    }

    /// The rejection response for `err`, with the error in its extensions.
    pub(crate) fn reject(
        &self,
        headers: &http::HeaderMap,
        err: AuthError,
    ) -> http::Response<Bytes> {
        if err.kind().is_unavailable() {
            tracing::warn!(outcome = "rejected", kind = ?err.kind(), "{}", err.message());
        } else {
            tracing::debug!(outcome = "rejected", kind = ?err.kind(), "{}", err.message());
        }
        let grpc = headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"));
        let cx = ErrorContext {
            message_key: &self.settings().message_key,
            policy: self.policy,
            grpc,
        };
        let mut response = self.responder.respond(&err, &cx);
        response.extensions_mut().insert(err);
        response
    }
}

/// What the denylist is asked about a token; a token without `jti` cannot be checked.
fn token_id(token: &VerifiedToken) -> Result<TokenId<'_>, AuthError> {
    Ok(TokenId {
        jti: token.jti().ok_or_else(|| {
            AuthError::new(
                ErrorKind::InvalidClaim,
                r#"Token is missing the "jti" claim"#,
            )
        })?,
        identity: token.identity(),
        issued_at: token.0.issued,
    })
}

/// When a token was issued, as precisely as it says: the time its `jti` carries when that is
/// a UUIDv7 of `iat`'s second (this crate's tokens, to the millisecond), else `iat`.
fn issue_time(iat: f64, jti: Option<&str>) -> f64 {
    jti.and_then(|jti| uuid::Uuid::try_parse(jti).ok())
        .filter(|id| id.get_version_num() == 7)
        .and_then(|id| id.get_timestamp())
        .map(|timestamp| timestamp.to_unix())
        .filter(|&(secs, _)| secs as f64 == iat)
        .map(|(secs, nanos)| {
            crate::clock::numeric_date(
                std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos),
            )
        })
        .unwrap_or(iat)
}

/// [`decode`], or its remembered result for a token this thread verified before (see
/// [`cache`]): only the expiry depends on the time, so it is checked again.
fn decode_remembered(
    s: &Settings,
    encoded: &[u8],
    location: TokenLocation,
    now: f64,
) -> Result<VerifiedToken, AuthError> {
    if let Some(owner) = s.cache_owner {
        if let Some(token) = cache::get(owner, encoded, location) {
            // The time claims are checked again, in `decode`'s order: the clock moves, and
            // may step back.
            let t = &token.0;
            check_times(s, t.iat.unwrap_or(0.0), t.nbf, t.exp, now)?;
            return Ok(token);
        }
    }
    // `locate` hands out ASCII only; the check is for the type system.
    let encoded =
        std::str::from_utf8(encoded).map_err(|_| AuthError::malformed("Invalid header padding"))?;
    let token = decode(s, encoded, location, now)?;
    if let Some(owner) = s.cache_owner {
        cache::put(owner, encoded.as_bytes(), location, &token);
    }
    Ok(token)
}

/// `iat` and `nbf` not in the future, `exp` not in the past, with the leeway; PyJWT's
/// order and messages.
fn check_times(
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
/// claims, issuer, audience and identity. `now` is epoch seconds.
pub(crate) fn decode(
    s: &Settings,
    encoded: &str,
    location: TokenLocation,
    now: f64,
) -> Result<VerifiedToken, AuthError> {
    // Size and shape, before any decoding.
    if encoded.len() > s.max_token_size {
        return Err(AuthError::new(ErrorKind::TooLarge, "Token is too large"));
    }
    let (header_b64, payload_b64, signature_b64) = split_segments(encoded)?;

    // Header: the default one is recognised without parsing.
    let header = if header_b64 == s.default_header_b64 {
        None
    } else {
        let json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| AuthError::malformed("Invalid header padding"))?;
        let raw: RawHeader = serde_json::from_slice(&json)
            .map_err(|_| AuthError::malformed("Invalid header string"))?;
        if let Some(field) = raw.forbidden {
            return Err(AuthError::new(
                ErrorKind::Malformed,
                format!("Unsupported header field \"{field}\""),
            ));
        }
        if raw.alg.as_deref() != Some(algorithm_name(s)) {
            return Err(AuthError::new(
                ErrorKind::AlgorithmNotAllowed,
                "The specified alg value is not allowed",
            ));
        }
        Some(json)
    };

    // Signature over `header.payload` with the pinned algorithm.
    let signing_input = &encoded[..header_b64.len() + 1 + payload_b64.len()];
    let verified = match &s.hmac {
        Some(hmac) => hmac.verify(signing_input.as_bytes(), signature_b64),
        None => jsonwebtoken::crypto::verify(
            signature_b64,
            signing_input.as_bytes(),
            &s.decoding_key,
            s.algorithm,
        )
        .map_err(drop),
    };
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
    let payload = base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(payload_b64)
        .map_err(|_| AuthError::malformed("Invalid payload padding"))?;
    let claims = {
        let mut de = serde_json::Deserializer::from_slice(&payload);
        let claims = ClaimsSeed {
            identity_claim: &s.identity_claim,
            payload: &payload,
        }
        .deserialize(&mut de)
        .and_then(|claims| de.end().map(|()| claims))
        .map_err(|_| {
            AuthError::malformed(
                "Invalid payload string: must be a json object without duplicate claims",
            )
        })?;
        claims
    };

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
    match exp {
        Some(exp) if exp - iat > s.max_lifetime => {
            return Err(AuthError::new(
                ErrorKind::InvalidClaim,
                "Token lifetime (exp - iat) exceeds the maximum",
            ))
        }
        Some(_) => {}
        None => {
            let refresh = matches!(claims.token_type, Found::Valid(TokenType::Refresh));
            if !s.may_not_expire(refresh) {
                return Err(AuthError::new(
                    ErrorKind::InvalidClaim,
                    r#"Token is missing the "exp" claim"#,
                ));
            }
        }
    }

    // Issuer, then audience, when configured.
    if let Some(expected) = &s.decode_issuer {
        match &claims.iss {
            Found::Absent => {
                return Err(AuthError::new(
                    ErrorKind::InvalidIssuer,
                    r#"Token is missing the "iss" claim"#,
                ))
            }
            Found::Valid(iss) if iss == expected => {}
            _ => return Err(AuthError::new(ErrorKind::InvalidIssuer, "Invalid issuer")),
        }
    }
    if !s.decode_audience.is_empty() {
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
            Found::Valid(aud) => {
                if !aud.iter().any(|a| s.decode_audience.contains(a)) {
                    return Err(AuthError::new(
                        ErrorKind::InvalidAudience,
                        "Audience doesn't match",
                    ));
                }
            }
        }
    }

    // The identity: present, and a string.
    let identity = match claims.identity {
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
    let token_type = match claims.token_type {
        Found::Valid(t) => t,
        Found::Absent => TokenType::Access,
        Found::Invalid => {
            return Err(AuthError::new(
                ErrorKind::InvalidClaim,
                r#"Invalid "type" claim"#,
            ))
        }
    };

    let jti_text = jti.as_ref().map(|jti| jti.as_str(&payload));
    let issued = issue_time(iat, jti_text);
    Ok(VerifiedToken(Arc::new(TokenData {
        identity,
        jti,
        token_type,
        fresh: claims.fresh,
        iat: Some(iat),
        issued,
        nbf,
        exp,
        location,
        header,
        default_header: s.default_header,
        clock: s.clock.clone(),
        message_key: s.message_key.clone(),
        payload,
        user: None,
    })))
}

fn numeric(found: Found<f64>, invalid: &'static str) -> Result<Option<f64>, AuthError> {
    match found {
        Found::Absent => Ok(None),
        Found::Valid(v) => Ok(Some(v)),
        Found::Invalid => Err(AuthError::new(ErrorKind::InvalidClaim, invalid)),
    }
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
    pub(crate) fn new(
        alg: jsonwebtoken::Algorithm,
        secret: &[u8],
    ) -> Result<Self, crate::manager::BuildError> {
        use hmac::KeyInit;
        use jsonwebtoken::Algorithm::*;
        let invalid = |_| crate::manager::BuildError::Invalid("invalid HMAC secret".into());
        Ok(match alg {
            HS256 => HmacKey::Sha256(hmac::Hmac::new_from_slice(secret).map_err(invalid)?),
            HS384 => HmacKey::Sha384(hmac::Hmac::new_from_slice(secret).map_err(invalid)?),
            HS512 => HmacKey::Sha512(hmac::Hmac::new_from_slice(secret).map_err(invalid)?),
            other => {
                return Err(crate::manager::BuildError::UnsupportedAlgorithm(format!(
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
    fn verify(&self, input: &[u8], signature_b64: &str) -> Result<bool, ()> {
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
        let mut spelled = [0u8; 88]; // room for 64 bytes
        let spelled = base64_simd::URL_SAFE_NO_PAD
            .encode(&mac[..n], base64_simd::Out::from_slice(&mut spelled));
        let given = signature_b64.as_bytes();
        if constant_time_eq(spelled, given) {
            return Ok(true);
        }
        if given.len() > 88 {
            return Ok(false); // longer than any HMAC-SHA2 output
        }
        let mut decoded = [0u8; 66];
        URL_SAFE_NO_PAD
            .decode_slice(given, &mut decoded)
            .map(|_| false)
            .map_err(|_| ())
    }
}

/// Equal lengths and equal bytes, every byte compared whatever the first difference.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or_default());
    a8.zip(b8)
        .fold(u64::from(tail), |acc, (x, y)| acc | (word(x) ^ word(y)))
        == 0
}

/// Splits a compact JWS into its three segments and checks their characters; a bad
/// character is reported against the segment that holds it, as PyJWT would.
fn split_segments(encoded: &str) -> Result<(&str, &str, &str), AuthError> {
    // The dots by memchr, then one branch-free pass, which vectorises, for anything else
    // outside the base64url alphabet.
    let bytes = encoded.as_bytes();
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
    if memchr::memchr(b'.', signature.as_bytes()).is_some() {
        return Err(AuthError::malformed("Too many segments"));
    }
    let bad = bytes.iter().fold(0u8, |acc, &b| {
        acc | u8::from(!(is_base64url(b) | (b == b'.')))
    }) != 0;
    if bad {
        let invalid = |s: &str| s.bytes().any(|b| !is_base64url(b));
        return Err(AuthError::malformed(if invalid(header) {
            "Invalid header padding"
        } else if invalid(payload) {
            "Invalid payload padding"
        } else {
            "Invalid crypto padding"
        }));
    }
    Ok((header, payload, signature))
}

/// `[A-Za-z0-9_-]`, with comparisons only, so that loops over it vectorise.
#[inline(always)]
fn is_base64url(b: u8) -> bool {
    ((b | 0x20).wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10) | (b == b'-') | (b == b'_')
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
    fn segments() {
        assert_eq!(split_segments("a.b.c").unwrap(), ("a", "b", "c"));
        assert_eq!(
            split_segments("a.b").unwrap_err().message(),
            "Not enough segments"
        );
        assert_eq!(
            split_segments("").unwrap_err().message(),
            "Not enough segments"
        );
        assert_eq!(
            split_segments("a.b.c.d").unwrap_err().message(),
            "Too many segments"
        );
        assert_eq!(
            split_segments("a=.b.c").unwrap_err().message(),
            "Invalid header padding"
        );
        assert_eq!(
            split_segments("a.b+.c").unwrap_err().message(),
            "Invalid payload padding"
        );
        assert_eq!(
            split_segments("a.b.c/").unwrap_err().message(),
            "Invalid crypto padding"
        );
        assert_eq!(
            split_segments(&".".repeat(2_000_000))
                .unwrap_err()
                .message(),
            "Too many segments"
        );
    }

    /// The guard fills this thread's memo only when the manager has it on, from the second
    /// verification of a token on, and a hit gives back the very token that was verified.
    #[test]
    fn verified_tokens_are_remembered_only_when_on() {
        for on in [true, false] {
            let jwt = JwtManager::builder()
                .secret("memo-unit-test-secret-0123456789abcdef")
                .verified_token_cache(on)
                .build()
                .unwrap();
            let token = jwt.create_access_token("ada").unwrap();
            let req = Request::get("/")
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .unwrap();
            let route = Route::new(jwt.clone(), Requirement::ACCESS);
            let owner = jwt.settings.cache_owner;
            assert_eq!(owner.is_some(), on);
            let remembered =
                || owner.and_then(|o| cache::get(o, token.as_bytes(), TokenLocation::Headers));
            let verify = || match route.verify_sync(&req).unwrap() {
                Admitted::Token(token) => token,
                Admitted::Anonymous(why) => panic!("{why}"),
            };
            verify();
            assert!(remembered().is_none(), "stored at its first verification");
            let second = verify();
            assert_eq!(remembered().is_some(), on);
            let third = verify();
            assert_eq!(Arc::ptr_eq(&third.0, &second.0), on);
            if let Some(remembered) = remembered() {
                assert!(Arc::ptr_eq(&remembered.0, &second.0));
            }
        }
    }

    #[test]
    fn hmac_signature_spellings() {
        use hmac::Mac;
        let key = HmacKey::new(
            jsonwebtoken::Algorithm::HS256,
            b"0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        let HmacKey::Sha256(mac) = &key else {
            unreachable!()
        };
        let mut mac = mac.clone();
        mac.update(b"header.payload");
        let good = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
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
