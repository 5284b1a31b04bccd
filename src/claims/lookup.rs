//! Reading a token's roles and scopes: the raw JSON of the claim its issuer keeps them in,
//! walked to a nested member. The strings it holds are located once, when the token is
//! decoded ([`Held`]), so that a route's check compares a few bytes and allocates nothing,
//! also for a token taken from the memo.
//!
//! What a claim holds: an array holds each of its strings; a string holds itself as one role,
//! or each of its space-separated words as scopes (RFC 6749 §3.3). Anything else, or a
//! member named twice on the way to a nested claim (which parsers would read differently),
//! holds nothing.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Text;
use crate::config::keys::Key;
use crate::config::{ClaimPath, Settings};

/// The claims holding roles and scopes in tokens `key` verifies: its outside issuer's, or
/// the manager's.
#[inline]
pub(crate) fn paths<'a>(settings: &'a Settings, key: &'a Key) -> (&'a ClaimPath, &'a ClaimPath) {
    let own = &settings.claim_names;
    match key.trust.as_deref() {
        Some(trust) => (
            trust.roles_claim.as_ref().unwrap_or(&own.roles),
            trust.scopes_claim.as_ref().unwrap_or(&own.scopes),
        ),
        None => (&own.roles, &own.scopes),
    }
}

/// How a claim's strings are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// A string is one role.
    Roles,
    /// A string is space-separated scopes.
    Scopes,
}

/// At most this many strings are located when a token is decoded; a claim holding more (or
/// strings with JSON escapes) is read again at each check.
const LOCATED: usize = 8;

/// The strings a roles or scopes claim holds, located when the token is decoded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Held {
    /// The raw JSON of the top-level claim; `None` when the token has none.
    raw: Option<Text>,
    /// Where the strings held lie in the payload; `None`: read `raw` at each check.
    located: Option<Spans>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Spans {
    n: u8,
    at: [(u32, u16); LOCATED],
}

impl Spans {
    /// Adds a span; `false` when full or out of range.
    fn push(&mut self, at: usize, len: usize) -> bool {
        let (Ok(at), Ok(len)) = (u32::try_from(at), u16::try_from(len)) else {
            return false;
        };
        let Some(slot) = self.at.get_mut(self.n as usize) else {
            return false;
        };
        *slot = (at, len);
        self.n += 1;
        true
    }
}

impl Held {
    /// The claim `raw` (a span of `payload`), its strings at `below` located.
    pub(crate) fn new(
        raw: Option<Text>,
        payload: &[u8],
        below: &[Box<str>],
        reading: Reading,
    ) -> Self {
        let located = match &raw {
            Some(Text::Span(at, len)) => {
                let at = *at as usize;
                payload
                    .get(at..at + *len as usize)
                    .and_then(|json| locate(json, at, below, reading))
            }
            _ => None,
        };
        Self { raw, located }
    }

    /// Whether the claim holds `wanted` (never the empty string).
    #[inline]
    pub(crate) fn holds(
        &self,
        payload: &[u8],
        below: &[Box<str>],
        reading: Reading,
        wanted: &str,
    ) -> bool {
        if wanted.is_empty() {
            return false;
        }
        match (&self.located, &self.raw) {
            // Lengths first: most strings that differ differ in length.
            (Some(spans), _) => {
                let wanted = wanted.as_bytes();
                spans.at[..spans.n as usize].iter().any(|&(at, len)| {
                    len as usize == wanted.len()
                        && payload.get(at as usize..at as usize + wanted.len()) == Some(wanted)
                })
            }
            (None, Some(raw)) => {
                let mut found = false;
                let clean = walk(raw.as_bytes(payload), below, reading, &mut |s, _| {
                    found |= s == wanted
                });
                clean && found
            }
            (None, None) => false,
        }
    }

    /// Every string the claim holds, once each, in order.
    pub(crate) fn all(&self, payload: &[u8], below: &[Box<str>], reading: Reading) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        let Some(raw) = &self.raw else {
            return all;
        };
        let clean = walk(raw.as_bytes(payload), below, reading, &mut |s, _| {
            if !all.iter().any(|seen| seen == s) {
                all.push(s.to_owned());
            }
        });
        if clean {
            all
        } else {
            Vec::new()
        }
    }
}

/// The spans (offset by `at`) of the strings `json` holds at `below`, if there are at most
/// [`LOCATED`] and none has escapes. A top-level claim without escapes is scanned directly:
/// in JSON without `\`, every `"` delimits a string.
fn locate(json: &[u8], at: usize, below: &[Box<str>], reading: Reading) -> Option<Spans> {
    let mut spans = Spans::default();
    let mut fits = true;
    if below.is_empty() && memchr::memchr(b'\\', json).is_none() {
        scan(json, reading, &mut |from, len| {
            fits &= spans.push(at + from, len)
        });
        return fits.then_some(spans);
    }
    let base = json.as_ptr() as usize;
    let clean = walk(json, below, reading, &mut |s, borrowed| {
        let from = (s.as_ptr() as usize).wrapping_sub(base);
        fits &= borrowed && from + s.len() <= json.len() && spans.push(at + from, s.len());
    });
    match (clean, fits) {
        (false, _) => Some(Spans::default()),
        (true, true) => Some(spans),
        (true, false) => None,
    }
}

/// [`walk`] for a top-level JSON value without `\`: `f(offset, length)` for each string held.
fn scan(json: &[u8], reading: Reading, f: &mut impl FnMut(usize, usize)) {
    match json.first() {
        Some(b'"') => {
            let inner = 1..json.len().saturating_sub(1).max(1);
            if reading == Reading::Roles {
                if !inner.is_empty() {
                    f(inner.start, inner.len());
                }
                return;
            }
            let mut from = inner.start;
            for word in json[inner.clone()].split(|&b| b == b' ') {
                if !word.is_empty() {
                    f(from, word.len());
                }
                from += word.len() + 1;
            }
        }
        Some(b'[') => {
            let (mut depth, mut i) = (0usize, 0usize);
            while i < json.len() {
                match json[i] {
                    b'"' => {
                        let end =
                            memchr::memchr(b'"', &json[i + 1..]).map_or(json.len(), |e| i + 1 + e);
                        if depth == 1 && end > i + 1 {
                            f(i + 1, end - i - 1);
                        }
                        i = end + 1;
                        continue;
                    }
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {}
    }
}

/// Calls `f(string, borrowed)` for each string `json` holds at `below` (`borrowed`: the
/// string is a slice of `json`); `false` when a member was named twice on the way (the
/// caller then discards what it was given) or `json` is not JSON. Allocates nothing unless
/// strings carry escapes.
fn walk(json: &[u8], below: &[Box<str>], reading: Reading, f: &mut impl FnMut(&str, bool)) -> bool {
    let mut de = serde_json::Deserializer::from_slice(json);
    Walk { below, reading, f }
        .deserialize(&mut de)
        .unwrap_or(false)
}

struct Walk<'a, F> {
    below: &'a [Box<str>],
    reading: Reading,
    f: &'a mut F,
}

impl<F: FnMut(&str, bool)> Walk<'_, F> {
    fn string(self, v: &str, borrowed: bool) -> bool {
        if !self.below.is_empty() || v.is_empty() {
            return true;
        }
        match self.reading {
            Reading::Roles => (self.f)(v, borrowed),
            Reading::Scopes => v
                .split(' ')
                .filter(|word| !word.is_empty())
                .for_each(|word| (self.f)(word, borrowed)),
        }
        true
    }
}

impl<'de, F: FnMut(&str, bool)> DeserializeSeed<'de> for Walk<'_, F> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(&str, bool)> Visitor<'de> for Walk<'_, F> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<bool, E> {
        Ok(self.string(v, true))
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(self.string(v, false))
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        if self.below.is_empty() {
            while seq.next_element_seed(Item(&mut *self.f))?.is_some() {}
        } else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(true)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Some((member, below)) = self.below.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(true);
        };
        let (mut seen, mut clean) = (false, true);
        while let Some(is_member) = map.next_key_seed(Named(member))? {
            if is_member {
                clean &= !std::mem::replace(&mut seen, true);
                clean &= map.next_value_seed(Walk {
                    below,
                    reading: self.reading,
                    f: &mut *self.f,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(clean)
    }
}

/// One item of an array: a string is held whole; anything else holds nothing.
struct Item<'a, F>(&'a mut F);

impl<'de, F: FnMut(&str, bool)> DeserializeSeed<'de> for Item<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(&str, bool)> Visitor<'de> for Item<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array item")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        if !v.is_empty() {
            (self.0)(v, true);
        }
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        if !v.is_empty() {
            (self.0)(v, false);
        }
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// An object member's name: whether it is the one looked for.
struct Named<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Named<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Named<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// The message of a 403 for a missing role.
pub(crate) fn role_required(role: &str) -> String {
    format!("Role required: {role}")
}

/// The message of a 403 for a missing scope.
pub(crate) fn scope_required(scope: &str) -> String {
    format!("Scope required: {scope}")
}

/// `scope` for a challenge when it is a scope RFC 6749 allows, so that it cannot break the
/// header.
pub(crate) fn challenge_scope(scope: &str) -> Option<std::sync::Arc<str>> {
    is_scope_token(scope).then(|| scope.into())
}

/// A scope RFC 6749 §3.3 allows: printable ASCII without space, `"` or `\`.
pub(crate) fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<Box<str>> {
        ClaimPath::dotted(p).below().to_vec()
    }

    /// Held (located, or read at each check) and `walk` agree, as roles and as scopes.
    fn holds(json: &str, below: &[Box<str>], reading: Reading, wanted: &str) -> bool {
        let payload = format!(r#"{{"x":{json}}}"#);
        let raw = Text::Span(5, json.len() as u32);
        let held = Held::new(Some(raw.clone()), payload.as_bytes(), below, reading);
        let answer = held.holds(payload.as_bytes(), below, reading, wanted);
        let unlocated = Held {
            raw: Some(raw),
            located: None,
        };
        assert_eq!(
            unlocated.holds(payload.as_bytes(), below, reading, wanted),
            answer,
            "{json} {wanted}: located and read disagree"
        );
        assert_eq!(
            held.all(payload.as_bytes(), below, reading)
                .iter()
                .any(|s| s == wanted),
            answer,
            "{json} {wanted}: all() disagrees"
        );
        answer
    }

    #[test]
    fn shapes() {
        use Reading::{Roles, Scopes};
        for reading in [Roles, Scopes] {
            assert!(holds(r#"["user","admin"]"#, &[], reading, "admin"));
            assert!(holds(r#"[ "user" , "admin" ]"#, &[], reading, "admin"));
            assert!(!holds(r#"["user","administrator"]"#, &[], reading, "admin"));
            assert!(holds(r#"["a\u0064min"]"#, &[], reading, "admin"));
            assert!(!holds(r#"[["admin"]]"#, &[], reading, "admin"));
            assert!(!holds(r#"[{"admin":"admin"}]"#, &[], reading, "admin"));
            assert!(holds(r#"[{"x":"]"},"admin"]"#, &[], reading, "admin"));
            assert!(!holds(r#"{"admin":true}"#, &[], reading, "admin"));
            assert!(!holds("true", &[], reading, "admin"));
            assert!(!holds("null", &[], reading, "admin"));
            assert!(!holds(r#"["user admin"]"#, &[], reading, "admin"));
            assert!(!holds(r#"["",""]"#, &[], reading, ""));
            assert!(!holds(r#""""#, &[], reading, ""));
            assert!(holds(r#"["é","ü"]"#, &[], reading, "ü"));
        }
        // A string is one role, or space-separated scopes.
        assert!(holds(r#""Billing admin""#, &[], Roles, "Billing admin"));
        assert!(!holds(r#""Billing admin""#, &[], Roles, "admin"));
        assert!(holds(
            r#""orders:read  orders:write ""#,
            &[],
            Scopes,
            "orders:write"
        ));
        assert!(!holds(r#""orders:read""#, &[], Scopes, "orders"));
        assert!(!holds("\"a\\tb\"", &[], Scopes, "b"));
        // More than are located: read at each check.
        let many = format!("[{}\"last\"]", "\"x\",".repeat(20));
        assert!(holds(&many, &[], Roles, "last"));
    }

    #[test]
    fn nested() {
        let below = path("realm_access.roles");
        let kc = r#"{"roles":["offline_access","admin"],"other":{"roles":["x"]}}"#;
        for reading in [Reading::Roles, Reading::Scopes] {
            assert!(holds(kc, &below, reading, "admin"));
            assert!(!holds(kc, &below, reading, "x"));
            // A member named twice holds nothing, whatever either says.
            for twice in [
                r#"{"roles":["admin"],"roles":[]}"#,
                r#"{"roles":[],"roles":["admin"]}"#,
                r#"{"roles":["admin"],"rol\u0065s":["user"]}"#,
            ] {
                assert!(!holds(twice, &below, reading, "admin"), "{twice}");
            }
            assert!(!holds(r#"["admin"]"#, &below, reading, "admin"));
        }
        let deep = path("resource_access.api.roles");
        let two = r#"{"api":{"roles":["w"]},"web":{"roles":["r"]}}"#;
        assert!(holds(two, &deep, Reading::Roles, "w"));
        assert!(!holds(two, &deep, Reading::Roles, "r"));
    }
}
