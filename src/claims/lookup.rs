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

use crate::config::keys::Key;
use crate::config::{is_scope_token, ClaimPath, Settings};

/// The claims holding roles and scopes in tokens `key` verifies: the manager's for its own
/// tokens; for an outside issuer's, those its `RemoteJwksBuilder::roles_claim` /
/// `scopes_claim` name, and none otherwise (its roles and scopes are not believed unless
/// the application says where they are, as its `type` or `fresh` are not).
#[inline]
pub(crate) fn paths<'a>(
    settings: &'a Settings,
    key: &'a Key,
) -> (Option<&'a ClaimPath>, Option<&'a ClaimPath>) {
    let own = &settings.claim_names;
    match key.trust.as_deref() {
        Some(trust) => (trust.roles_claim.as_ref(), trust.scopes_claim.as_ref()),
        None => (Some(&own.roles), Some(&own.scopes)),
    }
}

/// The members below a claim path's top-level claim (none without a path).
#[inline]
pub(crate) fn below(path: Option<&ClaimPath>) -> &[Box<str>] {
    path.map_or(&[], ClaimPath::below)
}

/// Which claim, and how its strings are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// The roles claim: a string is one role.
    Roles = 0,
    /// The scopes claim: a string is space-separated scopes.
    Scopes = 1,
}

/// At most this many strings are located when a token is decoded; a claim holding more (or
/// strings with JSON escapes) is read again at each check.
const LOCATED: usize = 8;

/// The strings a token's roles and scopes claims hold, located when the token is decoded.
/// Compact (it is part of every verified token): spans of payloads up to 64 KiB, at most
/// [`LOCATED`] strings for the two claims together, the roles' first.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Held {
    /// The raw JSON of each top-level claim, a span of the payload; `None` when absent.
    raw: [Option<(u32, u32)>; 2],
    /// How many strings of each were located; [`UNKNOWN`]: read `raw` at each check.
    n: [u8; 2],
    at: [(u16, u16); LOCATED],
}

/// Not located: the claim is read at each check.
const UNKNOWN: u8 = u8::MAX;

impl Held {
    /// The claims `roles` and `scopes` (spans of `payload`) with their strings at the
    /// members `below` each located.
    #[inline]
    pub(crate) fn new(
        payload: &[u8],
        roles: (Option<(u32, u32)>, &[Box<str>]),
        scopes: (Option<(u32, u32)>, &[Box<str>]),
    ) -> Self {
        if roles.0.is_none() && scopes.0.is_none() {
            return Self::default();
        }
        Self::located(payload, roles, scopes)
    }

    fn located(
        payload: &[u8],
        roles: (Option<(u32, u32)>, &[Box<str>]),
        scopes: (Option<(u32, u32)>, &[Box<str>]),
    ) -> Self {
        let mut held = Self::default();
        let mut used = 0usize;
        for ((raw, below), reading) in [(roles, Reading::Roles), (scopes, Reading::Scopes)] {
            let i = reading as usize;
            let Some((at, len)) = raw else {
                continue;
            };
            held.raw[i] = Some((at, len));
            let json = payload
                .get(at as usize..at as usize + len as usize)
                .unwrap_or_default();
            let free = &mut held.at[used..];
            match locate(json, at as usize, below, reading, free) {
                Some(n) => {
                    held.n[i] = n as u8;
                    used += n;
                }
                None => held.n[i] = UNKNOWN,
            }
        }
        held
    }

    /// Whether the claim read as `reading` holds `wanted` (never the empty string).
    #[inline]
    pub(crate) fn holds(
        &self,
        payload: &[u8],
        below: &[Box<str>],
        reading: Reading,
        wanted: &str,
    ) -> bool {
        let i = reading as usize;
        if wanted.is_empty() || self.raw[i].is_none() {
            return false;
        }
        if self.n[i] != UNKNOWN {
            // The roles' strings first, then the scopes'.
            let from = match (reading, self.n[0]) {
                (Reading::Scopes, n) if n != UNKNOWN => n as usize,
                _ => 0,
            };
            let spans = self
                .at
                .get(from..from + self.n[i] as usize)
                .unwrap_or_default();
            // Lengths first: most strings that differ differ in length.
            let wanted = wanted.as_bytes();
            return spans.iter().any(|&(at, len)| {
                len as usize == wanted.len()
                    && payload.get(at as usize..at as usize + wanted.len()) == Some(wanted)
            });
        }
        let Some(json) = self.raw(payload, i) else {
            return false;
        };
        let mut found = false;
        let clean = walk(json, below, reading, &mut |s, _| found |= s == wanted);
        clean && found
    }

    fn raw<'a>(&self, payload: &'a [u8], i: usize) -> Option<&'a [u8]> {
        let (at, len) = self.raw[i]?;
        payload.get(at as usize..at as usize + len as usize)
    }

    /// Every string the claim read as `reading` holds, once each, in order.
    pub(crate) fn all(&self, payload: &[u8], below: &[Box<str>], reading: Reading) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        let Some(json) = self.raw(payload, reading as usize) else {
            return all;
        };
        let clean = walk(json, below, reading, &mut |s, _| {
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

/// Writes into `into` the spans (offset by `at`) of the strings `json` holds at `below`, and
/// says how many, if they fit and none has escapes. A top-level claim without escapes is
/// scanned directly: in JSON without `\`, every `"` delimits a string.
fn locate(
    json: &[u8],
    at: usize,
    below: &[Box<str>],
    reading: Reading,
    into: &mut [(u16, u16)],
) -> Option<usize> {
    let mut n = 0usize;
    let mut fits = true;
    let mut push = |from: usize, len: usize| match (
        u16::try_from(at + from),
        u16::try_from(len),
        into.get_mut(n),
    ) {
        (Ok(from), Ok(len), Some(slot)) => {
            *slot = (from, len);
            n += 1;
        }
        _ => fits = false,
    };
    if below.is_empty() && memchr::memchr(b'\\', json).is_none() {
        scan(json, reading, &mut push);
        return fits.then_some(n);
    }
    let base = json.as_ptr() as usize;
    let mut borrowed_only = true;
    let clean = walk(json, below, reading, &mut |s, borrowed| {
        let from = (s.as_ptr() as usize).wrapping_sub(base);
        if borrowed && from + s.len() <= json.len() {
            push(from, s.len());
        } else {
            borrowed_only = false;
        }
    });
    match (clean, fits && borrowed_only) {
        // A member named twice on the way: holds nothing.
        (false, _) => Some(0),
        (true, true) => Some(n),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<Box<str>> {
        ClaimPath::dotted(p).below().to_vec()
    }

    /// Held (located, or read at each check) and `walk` agree, as roles and as scopes.
    fn holds(json: &str, below: &[Box<str>], reading: Reading, wanted: &str) -> bool {
        let payload = format!(r#"{{"x":{json}}}"#);
        let raw = Some((5, json.len() as u32));
        let claim = (raw, below);
        let held = match reading {
            Reading::Roles => Held::new(payload.as_bytes(), claim, (None, &[])),
            Reading::Scopes => Held::new(payload.as_bytes(), (None, &[]), claim),
        };
        let answer = held.holds(payload.as_bytes(), below, reading, wanted);
        let mut unlocated = held;
        unlocated.n = [UNKNOWN; 2];
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
