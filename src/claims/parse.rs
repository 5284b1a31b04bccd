//! One-pass typed parsing of a token's header and payload. Values of the wrong JSON type are
//! recorded rather than failing the parse, so that validation can answer with PyJWT's
//! precise message; only malformed JSON, a non-object, or a duplicated claim or header
//! field fail here. Every value goes through one visitor, [`Scalar`], which skips compound
//! values through `deserialize_any` so that serde_json's nesting limit applies.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Freshness, TokenType};
use crate::clock::MAX_NUMERIC_DATE;

/// A claim value as found: absent, the expected type, or something else.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Found<T> {
    #[default]
    Absent,
    Valid(T),
    Invalid,
}

/// A string claim kept without copying: a span of the decoded payload, or (when JSON
/// escapes made serde_json unescape it) an owned copy.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Text {
    Span(u32, u32),
    Owned(Box<str>),
}

impl Text {
    /// The text, given the payload a span refers to (validated as UTF-8 once, whole, before
    /// parsing: a span is sliced out, not checked again).
    pub(crate) fn as_str<'a>(&'a self, payload: &'a str) -> &'a str {
        match self {
            Text::Span(at, len) => payload
                .get(*at as usize..*at as usize + *len as usize)
                .unwrap_or_default(),
            Text::Owned(text) => text,
        }
    }
}

/// One JSON value, classified. Strings are borrowed from the input when it has no escapes;
/// anything else is skipped.
pub(crate) enum Scalar<'de> {
    Bool(bool),
    Number(f64),
    Borrowed(&'de str),
    Owned(String),
    Other,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Owned(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Owned(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Scalar<'de>, A::Error> {
                while a.next_element::<Scalar<'de>>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Scalar<'de>, A::Error> {
                while a.next_entry::<de::IgnoredAny, Scalar<'de>>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Scalar<'de> {
    /// A string, kept as a span of `payload` when borrowed from it.
    fn text(self, payload: &str) -> Found<Text> {
        match self {
            Scalar::Borrowed(v) => {
                let at = (v.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
                Found::Valid(match (u32::try_from(at), u32::try_from(v.len())) {
                    (Ok(at), Ok(len)) if at as usize + v.len() <= payload.len() => {
                        Text::Span(at, len)
                    }
                    _ => Text::Owned(v.into()),
                })
            }
            Scalar::Owned(v) => Found::Valid(Text::Owned(v.into())),
            _ => Found::Invalid,
        }
    }

    fn string(self) -> Found<String> {
        match self {
            Scalar::Borrowed(v) => Found::Valid(v.to_owned()),
            Scalar::Owned(v) => Found::Valid(v),
            _ => Found::Invalid,
        }
    }

    /// A numeric date: a finite number from 0 to year 9999.
    fn numeric_date(self) -> Found<f64> {
        match self {
            Scalar::Number(v) if (0.0..=MAX_NUMERIC_DATE).contains(&v) => Found::Valid(v),
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

    /// `type`, without allocating for the two usual values.
    fn token_type(self) -> Found<TokenType> {
        let of = |v: &str| match v {
            "access" => TokenType::Access,
            "refresh" => TokenType::Refresh,
            other => TokenType::Other(other.to_owned()),
        };
        match self {
            Scalar::Borrowed(v) => Found::Valid(of(v)),
            Scalar::Owned(v) => Found::Valid(of(&v)),
            _ => Found::Invalid,
        }
    }
}

/// The registered claims the verification needs, parsed once.
#[derive(Debug, Default)]
pub(crate) struct RawClaims {
    pub(crate) identity: Found<Text>,
    pub(crate) jti: Found<Text>,
    pub(crate) token_type: Found<TokenType>,
    pub(crate) fresh: Freshness,
    pub(crate) iat: Found<f64>,
    pub(crate) nbf: Found<f64>,
    pub(crate) exp: Found<f64>,
    pub(crate) iss: Found<Text>,
    /// The raw JSON of `aud` (a span of the payload), read only when an audience is
    /// required (see [`audience_holds`]).
    pub(crate) aud: Found<(u32, u32)>,
    pub(crate) csrf: Found<Text>,
    pub(crate) sid: Found<Text>,
    /// The raw JSON of the claims naming roles and scopes (see `authorization`): a span
    /// (offset, length) of the payload.
    pub(crate) roles: Found<(u32, u32)>,
    pub(crate) scopes: Found<(u32, u32)>,
}

/// Parses a payload, reading the identity from the claim named `identity_claim`. `payload`
/// is the buffer being parsed: string claims are recorded as spans of it.
pub(crate) struct ClaimsSeed<'a> {
    pub(crate) identity_claim: &'a str,
    /// The top-level claims holding roles and scopes, kept as raw JSON spans.
    /// `None`: the token's issuer names no such claim (an outside issuer by default).
    pub(crate) roles_claim: Option<&'a str>,
    pub(crate) scopes_claim: Option<&'a str>,
    pub(crate) payload: &'a str,
}

impl ClaimsSeed<'_> {
    /// The claims of `self.payload`, which must be one JSON object and nothing after it,
    /// written into `claims` (a few hundred bytes: not moved through the layers of serde's
    /// results). Parsed from a `str`, so that serde_json does not validate each string's
    /// UTF-8 again.
    pub(crate) fn parse_into(self, claims: &mut RawClaims) -> Result<(), serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(self.payload);
        ParseInto { seed: self, claims }.deserialize(&mut de)?;
        de.end()
    }
}

/// A [`ClaimsSeed`] parsing into claims held by the caller.
struct ParseInto<'s, 'a> {
    seed: ClaimsSeed<'a>,
    claims: &'s mut RawClaims,
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
    Csrf,
    Sid,
    /// The claim holding roles, scopes, or both.
    Authz {
        roles: bool,
        scopes: bool,
    },
    /// Any other claim, by a hash of its name (for duplicate detection without allocating).
    Other(u64),
}

/// Reads a claim's name as the [`Field`] it is, given the names of the identity, roles and
/// scopes claims.
struct FieldSeed<'a>(&'a ClaimsSeed<'a>);

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
    fn visit_str<E: de::Error>(self, name: &str) -> Result<Field, E> {
        Ok(Field::of(name, self.0))
    }
}

impl Field {
    fn of(name: &str, seed: &ClaimsSeed<'_>) -> Self {
        // The registered claims first, compared inline (the identity claim is never one of
        // these: refused at build time), then the identity claim (compared by `memcmp`: only
        // names that are none of them get that far): a token without roles or scopes pays
        // nothing more. (The roles and scopes claims are never registered ones either.)
        match name {
            "jti" => Field::Jti,
            "type" => Field::Type,
            "fresh" => Field::Fresh,
            "iat" => Field::Iat,
            "nbf" => Field::Nbf,
            "exp" => Field::Exp,
            "iss" => Field::Iss,
            "aud" => Field::Aud,
            "csrf" => Field::Csrf,
            _ if name == seed.identity_claim => Field::Identity,
            super::SESSION_CLAIM => Field::Sid,
            other => Field::other(other, seed),
        }
    }

    /// A claim the crate does not read itself: the roles or scopes claim, or any other.
    /// Apart, so that the registered claims' path keeps the seed's names out of registers.
    #[inline(never)]
    fn other(name: &str, seed: &ClaimsSeed<'_>) -> Self {
        let (roles, scopes) = (
            seed.roles_claim == Some(name),
            seed.scopes_claim == Some(name),
        );
        if roles || scopes {
            Field::Authz { roles, scopes }
        } else {
            Field::Other(name_hash(name))
        }
    }
}

/// A 64-bit hash of a claim name. Two different names colliding would make a genuine token
/// fail as "duplicate claim": the safe direction, and vanishingly unlikely.
fn name_hash(name: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(name)
}

/// A claim name for an error message (only a named claim is ever captured).
fn name_of(claim: Option<&str>) -> &str {
    claim.unwrap_or_default()
}

fn set_once<T, E: de::Error>(slot: &mut Found<T>, value: Found<T>, name: &str) -> Result<(), E> {
    if !matches!(slot, Found::Absent) {
        return Err(E::custom(format_args!("duplicate claim {name:?}")));
    }
    *slot = value;
    Ok(())
}

impl<'de> DeserializeSeed<'de> for ParseInto<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ParseInto<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ParseInto { seed: this, claims } = self;
        let this = &this;
        let mut fresh_seen = false;
        let mut others: Vec<u64> = Vec::new();
        while let Some(field) = map.next_key_seed(FieldSeed(this))? {
            if let Field::Authz { .. } | Field::Aud = field {
                // Kept as it lies, for the checks to read without copying.
                let raw = map.next_value::<&'de serde_json::value::RawValue>()?.get();
                let at = (raw.as_ptr() as usize).wrapping_sub(this.payload.as_ptr() as usize);
                let span = match (u32::try_from(at), u32::try_from(raw.len())) {
                    (Ok(at), Ok(len)) if at as usize + raw.len() <= this.payload.len() => {
                        Found::Valid((at, len))
                    }
                    _ => Found::Invalid,
                };
                let Field::Authz { roles, scopes } = field else {
                    set_once(&mut claims.aud, span, "aud")?;
                    continue;
                };
                if roles {
                    set_once(&mut claims.roles, span.clone(), name_of(this.roles_claim))?;
                }
                if scopes {
                    set_once(&mut claims.scopes, span, name_of(this.scopes_claim))?;
                }
                continue;
            }
            let value = map.next_value::<Scalar<'de>>()?;
            match field {
                Field::Identity => set_once(
                    &mut claims.identity,
                    value.text(this.payload),
                    this.identity_claim,
                )?,
                Field::Jti => set_once(&mut claims.jti, value.text(this.payload), "jti")?,
                Field::Type => set_once(&mut claims.token_type, value.token_type(), "type")?,
                Field::Fresh => {
                    if std::mem::replace(&mut fresh_seen, true) {
                        return Err(de::Error::custom("duplicate claim \"fresh\""));
                    }
                    claims.fresh = value.freshness();
                }
                Field::Iat => set_once(&mut claims.iat, value.numeric_date(), "iat")?,
                Field::Nbf => set_once(&mut claims.nbf, value.numeric_date(), "nbf")?,
                Field::Exp => set_once(&mut claims.exp, value.numeric_date(), "exp")?,
                Field::Iss => set_once(&mut claims.iss, value.text(this.payload), "iss")?,
                Field::Csrf => set_once(&mut claims.csrf, value.text(this.payload), "csrf")?,
                Field::Sid => set_once(
                    &mut claims.sid,
                    value.text(this.payload),
                    super::SESSION_CLAIM,
                )?,
                Field::Authz { .. } | Field::Aud => {}
                Field::Other(hash) => {
                    if others.contains(&hash) {
                        return Err(de::Error::custom("duplicate claim"));
                    }
                    others.push(hash);
                }
            }
        }
        Ok(())
    }
}

/// The JOSE header fields the verification looks at.
#[derive(Debug, Default)]
pub(crate) struct RawHeader {
    pub(crate) alg: Option<String>,
    pub(crate) kid: Option<String>,
    /// A header field that is never honoured and therefore refused (`crit`, `jku`, ...).
    pub(crate) forbidden: Option<&'static str>,
}

impl RawHeader {
    /// The header of `json`, which must be one JSON object without duplicate fields.
    pub(crate) fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }
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
                const FORBIDDEN: [&str; 5] = ["crit", "jku", "x5u", "jwk", "x5c"];
                let mut header = RawHeader::default();
                let mut seen: Vec<String> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if seen.contains(&key) {
                        return Err(de::Error::custom("duplicate header field"));
                    }
                    let value = map.next_value::<Scalar<'de>>()?;
                    match &*key {
                        // An `alg` that is not a string matches no key.
                        "alg" => {
                            header.alg = Some(value.string().into_option().unwrap_or_default())
                        }
                        "kid" => {
                            header.kid = Some(value.string().into_option().unwrap_or_default())
                        }
                        name => {
                            if let Some(forbidden) = FORBIDDEN.iter().find(|f| **f == name) {
                                header.forbidden = Some(forbidden);
                            }
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

impl<T> Found<T> {
    pub(crate) fn into_option(self) -> Option<T> {
        match self {
            Found::Valid(v) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The claims a seed parses.
    fn claims_of(seed: ClaimsSeed<'_>) -> Result<RawClaims, serde_json::Error> {
        let mut claims = RawClaims::default();
        seed.parse_into(&mut claims)?;
        Ok(claims)
    }

    fn parse(json: &str) -> Result<RawClaims, serde_json::Error> {
        claims_of(ClaimsSeed {
            identity_claim: "sub",
            roles_claim: Some("roles"),
            scopes_claim: Some("scope"),
            payload: json,
        })
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
        let json = r#"{"sub":"a\u0062c","aud":["x","y"],"iss":"i"}"#;
        let escaped = parse(json).unwrap();
        assert_eq!(escaped.identity, Found::Valid(Text::Owned("abc".into())));
        let Found::Valid((at, len)) = escaped.aud else {
            panic!("aud kept")
        };
        assert_eq!(&json[at as usize..(at + len) as usize], r#"["x","y"]"#);
        let Found::Valid(iss) = escaped.iss else {
            panic!("iss kept")
        };
        assert_eq!(iss.as_str(json), "i");
    }

    #[test]
    fn keeps_roles_and_scopes_as_they_lie() {
        let json = r#"{"sub":"a","roles":["admin", "x"],"scope":"a b","other":1}"#;
        let c = parse(json).unwrap();
        let raw = |t: &Found<(u32, u32)>| match *t {
            Found::Valid((at, len)) => json[at as usize..(at + len) as usize].to_owned(),
            _ => panic!("not found"),
        };
        assert_eq!(raw(&c.roles), r#"["admin", "x"]"#);
        assert_eq!(raw(&c.scopes), r#""a b""#);
        assert!(parse(r#"{"roles":[],"roles":["admin"]}"#).is_err());
        let nested = claims_of(ClaimsSeed {
            identity_claim: "sub",
            roles_claim: Some("realm_access"),
            scopes_claim: Some("realm_access"),
            payload: r#"{"realm_access":{"roles":["r"]}}"#,
        })
        .unwrap();
        assert_eq!(nested.roles, nested.scopes);
        assert_eq!(nested.roles, Found::Valid((16, 15)));
    }

    /// The registered claims are matched before the identity claim: none of them can be
    /// read as the identity, whatever the identity claim is named.
    #[test]
    fn registered_claims_are_never_the_identity() {
        for name in crate::claims::REGISTERED {
            let seed = ClaimsSeed {
                identity_claim: name,
                roles_claim: None,
                scopes_claim: None,
                payload: "",
            };
            assert!(
                !matches!(Field::of(name, &seed), Field::Identity | Field::Other(_)),
                "{name}"
            );
        }
    }

    #[test]
    fn records_wrong_types_without_failing() {
        let json =
            r#"{"sub":42,"exp":"1","nbf":1e300,"iat":null,"fresh":"true","aud":[3],"type":[]}"#;
        let c = parse(json).unwrap();
        assert_eq!(c.identity, Found::Invalid);
        assert_eq!(c.exp, Found::Invalid);
        assert_eq!(c.nbf, Found::Invalid);
        assert_eq!(c.iat, Found::Invalid);
        // `aud` is kept as it lies, its type judged when an audience is required.
        let Found::Valid((at, len)) = c.aud else {
            panic!("aud kept")
        };
        assert_eq!(
            crate::claims::audience_holds(&json[at as usize..(at + len) as usize], &[]),
            None
        );
        assert_eq!(c.token_type, Found::Invalid);
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
    fn headers() {
        let h = RawHeader::parse(br#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#).unwrap();
        assert_eq!(
            (h.alg.as_deref(), h.kid.as_deref()),
            (Some("HS256"), Some("k1"))
        );
        assert_eq!(h.forbidden, None);
        let h = RawHeader::parse(br#"{"alg":7,"jku":"http://x"}"#).unwrap();
        assert_eq!((h.alg.as_deref(), h.forbidden), (Some(""), Some("jku")));
        assert!(RawHeader::parse(br#"{"alg":"a","alg":"b"}"#).is_err());
        assert!(RawHeader::parse(b"[1]").is_err());
    }
}
