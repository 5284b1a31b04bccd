//! Claims: the Flask-JWT-Extended layout, token types, freshness, and the verified token
//! that guards put into request extensions.
//!
//! # Example
//!
//! ```
//! use serde::Deserialize;
//! use tower_jwt_auth::{Freshness, JwtManager, TokenOptions, TokenType};
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! let token = manager
//!     .create_access_token_with("42", TokenOptions::new().fresh(true).claim("role", "admin"))
//!     .unwrap();
//!
//! // Accepted: the verified token exposes the identity and every claim.
//! let verified = manager.decode_token(&token).unwrap();
//! assert_eq!(verified.identity(), "42");
//! assert_eq!(verified.token_type(), &TokenType::Access);
//! assert_eq!(verified.freshness(), Freshness::Fresh);
//!
//! #[derive(Deserialize)]
//! struct Role {
//!     role: String,
//! }
//! assert_eq!(verified.claims::<Role>().unwrap().role, "admin");
//!
//! // Rejected: a refresh token is not an access token, but both decode.
//! let refresh = manager.create_refresh_token("42").unwrap();
//! assert_eq!(manager.decode_token(&refresh).unwrap().token_type(), &TokenType::Refresh);
//! assert!(manager.decode_token(&format!("{token}x")).is_err());
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::clock::ClockHandle;
use crate::token::TokenLocation;

/// The `type` claim of a token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `"access"`, or no `type` claim at all (Flask-JWT-Extended's default).
    Access,
    /// `"refresh"`.
    Refresh,
    /// Any other string, e.g. `"app"`; accepted on access routes, as Flask-JWT-Extended does.
    Other(String),
}

impl TokenType {
    /// The claim's value.
    pub fn as_str(&self) -> &str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
            TokenType::Other(other) => other,
        }
    }
}

/// The `fresh` claim of a token.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Freshness {
    /// `true`.
    Fresh,
    /// `false`, absent, or not a boolean or number.
    #[default]
    NotFresh,
    /// A float epoch: fresh until that time.
    Until(f64),
}

impl Freshness {
    /// Whether the token counts as fresh at `now` (epoch seconds). No leeway applies.
    pub fn is_fresh_at(self, now: f64) -> bool {
        match self {
            Freshness::Fresh => true,
            Freshness::NotFresh => false,
            Freshness::Until(until) => until >= now,
        }
    }
}

/// A token that passed every check of a guard (or of [`JwtManager::decode_token`]).
///
/// Guards insert it into the request's extensions; handlers read it from there (or through
/// the framework extractors). Its `Debug` output never shows the raw claims.
///
/// [`JwtManager::decode_token`]: crate::JwtManager::decode_token
///
/// Cheap to clone and to move: the verified data sit behind one shared pointer.
#[derive(Clone)]
pub struct VerifiedToken(pub(crate) Arc<TokenData>);

/// What a [`VerifiedToken`] holds.
#[derive(Clone)]
pub(crate) struct TokenData {
    pub(crate) identity: Text,
    pub(crate) jti: Option<Text>,
    pub(crate) token_type: TokenType,
    pub(crate) fresh: Freshness,
    pub(crate) iat: Option<f64>,
    /// When it was issued, as precisely as the token says (see `verify::issue_time`):
    /// what revoke-all cut-offs compare with.
    pub(crate) issued: f64,
    pub(crate) nbf: Option<f64>,
    pub(crate) exp: Option<f64>,
    pub(crate) location: TokenLocation,
    /// The decoded header JSON, `None` when it is the manager's default header.
    pub(crate) header: Option<Vec<u8>>,
    pub(crate) default_header: &'static str,
    /// The clock of the manager that verified it.
    pub(crate) clock: ClockHandle,
    /// The JSON key of that manager's error messages (for the extractors' errors).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) message_key: Arc<str>,
    /// The decoded payload JSON.
    pub(crate) payload: Vec<u8>,
    pub(crate) user: Option<Arc<dyn Any + Send + Sync>>,
}

impl VerifiedToken {
    /// The identity (the `sub` claim, or the configured identity claim): Flask-JWT-Extended's
    /// `get_jwt_identity()`.
    pub fn identity(&self) -> &str {
        self.text(&self.0.identity)
    }

    /// The token's unique id (`jti`), when it has one.
    pub fn jti(&self) -> Option<&str> {
        self.0.jti.as_ref().map(|jti| self.text(jti))
    }

    fn text<'a>(&'a self, text: &'a Text) -> &'a str {
        text.as_str(&self.0.payload)
    }

    /// The token's type.
    pub fn token_type(&self) -> &TokenType {
        &self.0.token_type
    }

    /// The token's freshness.
    pub fn freshness(&self) -> Freshness {
        self.0.fresh
    }

    /// Whether the token is fresh now, by the clock of the manager that verified it.
    pub fn is_fresh(&self) -> bool {
        self.0.fresh.is_fresh_at(self.0.clock.now_secs())
    }

    /// Issue time (`iat`), epoch seconds.
    pub fn issued_at(&self) -> Option<f64> {
        self.0.iat
    }

    /// Not-before time (`nbf`), epoch seconds.
    pub fn not_before(&self) -> Option<f64> {
        self.0.nbf
    }

    /// Expiry time (`exp`), epoch seconds; `None` for a token that never expires.
    pub fn expires_at(&self) -> Option<f64> {
        self.0.exp
    }

    /// Where the token was found.
    pub fn location(&self) -> TokenLocation {
        self.0.location
    }

    /// All claims as JSON: Flask-JWT-Extended's `get_jwt()`.
    pub fn claims_json(&self) -> serde_json::Map<String, serde_json::Value> {
        // The payload parsed as an object during verification, so this cannot fail.
        serde_json::from_slice(&self.0.payload).unwrap_or_default()
    }

    /// The claims deserialized into a type of your own (unknown claims are ignored unless
    /// the type says otherwise).
    pub fn claims<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.0.payload)
    }

    /// The decoded JOSE header as JSON: Flask-JWT-Extended's `get_jwt_header()`.
    pub fn header(&self) -> serde_json::Map<String, serde_json::Value> {
        let raw = self
            .0
            .header
            .as_deref()
            .unwrap_or(self.0.default_header.as_bytes());
        serde_json::from_slice(raw).unwrap_or_default()
    }

    /// The object found by the manager's user-lookup hook: Flask-JWT-Extended's
    /// `get_current_user()`. `None` when no hook is configured or `U` is not its type.
    pub fn user<U: Send + Sync + 'static>(&self) -> Option<&U> {
        self.0.user.as_deref()?.downcast_ref()
    }

    /// The looked-up user as a shared pointer (see [`user`](Self::user)).
    pub fn user_arc<U: Send + Sync + 'static>(&self) -> Option<Arc<U>> {
        self.0.user.clone()?.downcast().ok()
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("identity", &self.identity())
            .field("jti", &self.jti())
            .field("token_type", &self.0.token_type)
            .field("fresh", &self.0.fresh)
            .field("iat", &self.0.iat)
            .field("exp", &self.0.exp)
            .field("location", &self.0.location)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------
// One-pass typed parsing of the payload. Values of the wrong JSON type are recorded rather
// than failing the parse, so that validation can answer with PyJWT's precise message;
// only malformed JSON, a non-object payload or a duplicated registered claim fail here.
// ---------------------------------------------------------------------------------------

/// A claim value as found: absent, the expected type, or something else.
#[derive(Debug, Default, PartialEq)]
pub(crate) enum Found<T> {
    #[default]
    Absent,
    Valid(T),
    Invalid,
}

impl<T> Found<T> {
    pub(crate) fn is_absent(&self) -> bool {
        matches!(self, Found::Absent)
    }
}

/// The registered claims a guard needs, parsed once.
#[derive(Debug, Default)]
pub(crate) struct RawClaims {
    pub(crate) identity: Found<Text>,
    pub(crate) jti: Found<Text>,
    pub(crate) token_type: Found<TokenType>,
    pub(crate) fresh: Freshness,
    pub(crate) iat: Found<f64>,
    pub(crate) nbf: Found<f64>,
    pub(crate) exp: Found<f64>,
    pub(crate) iss: Found<String>,
    pub(crate) aud: Found<Vec<String>>,
}

/// A string claim kept without copying: a span of the decoded payload, or (when JSON
/// escapes made serde_json unescape it) an owned copy.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Text {
    Span(u32, u32),
    Owned(Box<str>),
}

impl Text {
    /// The text, given the payload a span refers to.
    pub(crate) fn as_str<'a>(&'a self, payload: &'a [u8]) -> &'a str {
        match self {
            // The span was a JSON string serde_json validated; checking again is cheap.
            Text::Span(at, len) => payload
                .get(*at as usize..*at as usize + *len as usize)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .unwrap_or_default(),
            Text::Owned(text) => text,
        }
    }
}

/// Parses a payload, reading the identity from the claim named `identity_claim`. `payload`
/// is the buffer being parsed: string claims are recorded as spans of it.
pub(crate) struct ClaimsSeed<'a> {
    pub(crate) identity_claim: &'a str,
    pub(crate) payload: &'a [u8],
}

/// Reads a string claim as a [`Text`]; any other JSON type is recorded as invalid.
struct TextSeed<'a>(&'a [u8]);

impl<'de> DeserializeSeed<'de> for TextSeed<'_> {
    type Value = Found<Text>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found<Text>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed<'_> {
    type Value = Found<Text>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Found<Text>, E> {
        let start = self.0.as_ptr() as usize;
        let at = (v.as_ptr() as usize).wrapping_sub(start);
        Ok(Found::Valid(
            match (u32::try_from(at), u32::try_from(v.len())) {
                (Ok(at), Ok(len)) if at as usize + v.len() <= self.0.len() => Text::Span(at, len),
                _ => Text::Owned(v.into()),
            },
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Found<Text>, E> {
        Ok(Found::Valid(Text::Owned(v.into())))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Found<Text>, E> {
        Ok(Found::Invalid)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Found<Text>, E> {
        Ok(Found::Invalid)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Found<Text>, E> {
        Ok(Found::Invalid)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Found<Text>, E> {
        Ok(Found::Invalid)
    }
    fn visit_unit<E>(self) -> Result<Found<Text>, E> {
        Ok(Found::Invalid)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Found<Text>, A::Error> {
        while a.next_element::<Skip>()?.is_some() {}
        Ok(Found::Invalid)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Found<Text>, A::Error> {
        while a.next_entry::<IgnoredAny, Skip>()?.is_some() {}
        Ok(Found::Invalid)
    }
}

enum Field {
    Identity,
    Jti,
    Type,
    Fresh,
    Iat,
    Nbf,
    Exp,
    Iss,
    Aud,
    /// Any other claim, by a hash of its name (for duplicate detection without allocating).
    Other(u64),
}

struct FieldSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldSeed<'_> {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(if v == self.0 {
            Field::Identity
        } else {
            match v {
                "jti" => Field::Jti,
                "type" => Field::Type,
                "fresh" => Field::Fresh,
                "iat" => Field::Iat,
                "nbf" => Field::Nbf,
                "exp" => Field::Exp,
                "iss" => Field::Iss,
                "aud" => Field::Aud,
                other => Field::Other(name_hash(other)),
            }
        })
    }
}

/// A 64-bit hash of a claim name. Two different names colliding would make a genuine token
/// fail as "duplicate claim": the safe direction, and vanishingly unlikely.
fn name_hash(name: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(name)
}

/// Skips any JSON value through `deserialize_any`, so serde_json's nesting limit applies
/// (its `IgnoredAny` path skips without one, and 100,000 nested arrays would pass).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Skip, A::Error> {
                while a.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Skip, A::Error> {
                while a.next_entry::<IgnoredAny, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        d.deserialize_any(V)
    }
}

/// One JSON value, classified. Non-scalar values are skipped without being kept.
enum Scalar {
    Bool(bool),
    Number(f64),
    String(String),
    Other,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::String(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_element::<Skip>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_entry::<IgnoredAny, Skip>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

use crate::clock::MAX_NUMERIC_DATE;

impl Scalar {
    /// A numeric date: a finite number from 0 to year 9999.
    fn numeric_date(self) -> Found<f64> {
        match self {
            Scalar::Number(v) if (0.0..=MAX_NUMERIC_DATE).contains(&v) => Found::Valid(v),
            _ => Found::Invalid,
        }
    }

    fn string(self) -> Found<String> {
        match self {
            Scalar::String(s) => Found::Valid(s),
            _ => Found::Invalid,
        }
    }

    /// `fresh`: `true`/`false` or an epoch; anything else counts as not fresh.
    fn freshness(self) -> Freshness {
        match self {
            Scalar::Bool(true) => Freshness::Fresh,
            Scalar::Number(until) => Freshness::Until(until),
            _ => Freshness::NotFresh,
        }
    }
}

/// `type`, classified without allocating for the two usual values.
struct TypeClaim(Found<TokenType>);

impl<'de> Deserialize<'de> for TypeClaim {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TypeClaim;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<TypeClaim, E> {
                Ok(TypeClaim(Found::Valid(match v {
                    "access" => TokenType::Access,
                    "refresh" => TokenType::Refresh,
                    other => TokenType::Other(other.to_owned()),
                })))
            }
            fn visit_bool<E>(self, _: bool) -> Result<TypeClaim, E> {
                Ok(TypeClaim(Found::Invalid))
            }
            fn visit_i64<E>(self, _: i64) -> Result<TypeClaim, E> {
                Ok(TypeClaim(Found::Invalid))
            }
            fn visit_u64<E>(self, _: u64) -> Result<TypeClaim, E> {
                Ok(TypeClaim(Found::Invalid))
            }
            fn visit_f64<E>(self, _: f64) -> Result<TypeClaim, E> {
                Ok(TypeClaim(Found::Invalid))
            }
            fn visit_unit<E>(self) -> Result<TypeClaim, E> {
                Ok(TypeClaim(Found::Invalid))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<TypeClaim, A::Error> {
                while a.next_element::<Skip>()?.is_some() {}
                Ok(TypeClaim(Found::Invalid))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<TypeClaim, A::Error> {
                while a.next_entry::<IgnoredAny, Skip>()?.is_some() {}
                Ok(TypeClaim(Found::Invalid))
            }
        }
        d.deserialize_any(V)
    }
}

/// `aud`: a string or an array of strings.
struct AudienceClaim(Found<Vec<String>>);

impl<'de> Deserialize<'de> for AudienceClaim {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Aud {
            One(String),
            Many(Vec<String>),
            Other(Skip),
        }
        Ok(AudienceClaim(match Aud::deserialize(d)? {
            Aud::One(one) => Found::Valid(vec![one]),
            Aud::Many(many) => Found::Valid(many),
            Aud::Other(_) => Found::Invalid,
        }))
    }
}

fn set_once<T, E: de::Error>(slot: &mut Found<T>, value: Found<T>, name: &str) -> Result<(), E> {
    if !slot.is_absent() {
        return Err(E::custom(format_args!("duplicate claim {name:?}")));
    }
    *slot = value;
    Ok(())
}

impl<'de> DeserializeSeed<'de> for ClaimsSeed<'_> {
    type Value = RawClaims;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawClaims, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed<'_> {
    type Value = RawClaims;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawClaims, A::Error> {
        let mut claims = RawClaims::default();
        let mut fresh_seen = false;
        let mut others: Vec<u64> = Vec::new();
        while let Some(field) = map.next_key_seed(FieldSeed(self.identity_claim))? {
            match field {
                Field::Identity => {
                    let v = map.next_value_seed(TextSeed(self.payload))?;
                    set_once(&mut claims.identity, v, self.identity_claim)?;
                }
                Field::Jti => {
                    let v = map.next_value_seed(TextSeed(self.payload))?;
                    set_once(&mut claims.jti, v, "jti")?;
                }
                Field::Type => {
                    let v = map.next_value::<TypeClaim>()?.0;
                    set_once(&mut claims.token_type, v, "type")?;
                }
                Field::Fresh => {
                    if std::mem::replace(&mut fresh_seen, true) {
                        return Err(de::Error::custom("duplicate claim \"fresh\""));
                    }
                    claims.fresh = map.next_value::<Scalar>()?.freshness();
                }
                Field::Iat => set_once(
                    &mut claims.iat,
                    map.next_value::<Scalar>()?.numeric_date(),
                    "iat",
                )?,
                Field::Nbf => set_once(
                    &mut claims.nbf,
                    map.next_value::<Scalar>()?.numeric_date(),
                    "nbf",
                )?,
                Field::Exp => set_once(
                    &mut claims.exp,
                    map.next_value::<Scalar>()?.numeric_date(),
                    "exp",
                )?,
                Field::Iss => {
                    set_once(&mut claims.iss, map.next_value::<Scalar>()?.string(), "iss")?
                }
                Field::Aud => {
                    set_once(&mut claims.aud, map.next_value::<AudienceClaim>()?.0, "aud")?
                }
                Field::Other(hash) => {
                    if others.contains(&hash) {
                        return Err(de::Error::custom("duplicate claim"));
                    }
                    others.push(hash);
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(claims)
    }
}

/// The JOSE header fields a guard looks at.
#[derive(Debug, Default)]
pub(crate) struct RawHeader {
    pub(crate) alg: Option<String>,
    /// A header field that is never honoured and therefore refused (`crit`, `jku`, ...).
    pub(crate) forbidden: Option<&'static str>,
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHeader;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
                let mut header = RawHeader::default();
                let mut seen: Vec<String> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if seen.contains(&key) {
                        return Err(de::Error::custom("duplicate header field"));
                    }
                    match &*key {
                        "alg" => {
                            header.alg = Some(match map.next_value::<Scalar>()? {
                                Scalar::String(alg) => alg,
                                _ => String::new(),
                            });
                        }
                        "crit" | "jku" | "x5u" | "jwk" | "x5c" => {
                            header.forbidden = Some(match &*key {
                                "crit" => "crit",
                                "jku" => "jku",
                                "x5u" => "x5u",
                                "jwk" => "jwk",
                                _ => "x5c",
                            });
                            map.next_value::<Skip>()?;
                        }
                        _ => {
                            map.next_value::<Skip>()?;
                        }
                    }
                    seen.push(key);
                }
                Ok(header)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<RawClaims, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let claims = ClaimsSeed {
            identity_claim: "sub",
            payload: json.as_bytes(),
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(claims)
    }

    #[test]
    fn parses_flask_layout() {
        let c = parse(
            r#"{"fresh":false,"iat":1,"jti":"j","type":"refresh","sub":"42","nbf":1,"exp":2,"x":[1]}"#,
        )
        .unwrap();
        assert!(matches!(c.identity, Found::Valid(Text::Span(_, 2))));
        assert_eq!(c.token_type, Found::Valid(TokenType::Refresh));
        assert_eq!(c.exp, Found::Valid(2.0));
        assert_eq!(c.fresh, Freshness::NotFresh);
    }

    #[test]
    fn records_wrong_types_without_failing() {
        let c =
            parse(r#"{"sub":42,"exp":"1","nbf":1e300,"iat":null,"fresh":"true","aud":3}"#).unwrap();
        assert_eq!(c.identity, Found::Invalid);
        assert_eq!(c.exp, Found::Invalid);
        assert_eq!(c.nbf, Found::Invalid);
        assert_eq!(c.iat, Found::Invalid);
        assert_eq!(c.aud, Found::Invalid);
        assert_eq!(c.fresh, Freshness::NotFresh);
    }

    #[test]
    fn rejects_duplicates_non_objects_and_trailing_bytes() {
        assert!(parse(r#"{"exp":1,"exp":2}"#).is_err());
        assert!(parse(r#"{"sub":"a","sub":"b"}"#).is_err());
        assert!(parse(r#"{"fresh":true,"fresh":false}"#).is_err());
        assert!(parse(r#"{"role":"user","role":"admin"}"#).is_err());
        assert!(parse(r#"{"role":"user","x":"admin"}"#).is_ok());
        assert!(parse(r#"[1,2]"#).is_err());
        assert!(parse(r#"{"sub":"a"} x"#).is_err());
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn freshness_until() {
        assert!(Freshness::Until(10.0).is_fresh_at(9.5));
        assert!(!Freshness::Until(10.0).is_fresh_at(10.5));
        assert!(!Freshness::NotFresh.is_fresh_at(0.0));
    }
}
