//! Reading a token's roles and scopes where they lie: the raw JSON of the claim its issuer
//! keeps them in, walked to a nested member without allocating.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::config::keys::Key;
use crate::config::{ClaimPath, Settings};

/// The claims holding roles and scopes in tokens `key` verifies: its outside issuer's, or
/// the manager's.
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

/// Whether the JSON value `json` holds `wanted` at `below` (members of nested objects):
/// an array holding it as one of its strings, or a string holding it as one of its
/// space-separated words. Anything else, malformed JSON, or a member named twice on the
/// way (which parsers would read differently) holds nothing. Reads `json` in place: no
/// allocation unless strings carry JSON escapes.
pub(crate) fn holds(json: &[u8], below: &[Box<str>], wanted: &str) -> bool {
    let mut de = serde_json::Deserializer::from_slice(json);
    Holds { below, wanted }
        .deserialize(&mut de)
        .unwrap_or(false)
}

/// Every string `json` holds at `below`, as [`holds`] reads them (each is checked with it,
/// so that the two never disagree).
pub(crate) fn all(json: &[u8], below: &[Box<str>]) -> Vec<String> {
    use serde_json::Value;
    let mut at = serde_json::from_slice::<Value>(json).unwrap_or_default();
    for member in below {
        at = at.get_mut(&**member).map(Value::take).unwrap_or_default();
    }
    let candidates: Vec<String> = match at {
        Value::String(s) => s.split(' ').map(str::to_owned).collect(),
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut found: Vec<String> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if !candidate.is_empty() && !found.contains(&candidate) && holds(json, below, &candidate) {
            found.push(candidate);
        }
    }
    found
}

struct Holds<'a> {
    below: &'a [Box<str>],
    wanted: &'a str,
}

impl<'de> DeserializeSeed<'de> for Holds<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Holds<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim value")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(self.below.is_empty() && v.split(' ').any(|word| word == self.wanted))
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut found = false;
        if self.below.is_empty() {
            while let Some(is) = seq.next_element_seed(Item(self.wanted))? {
                found |= is;
            }
        } else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(found)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let Some((member, below)) = self.below.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(false);
        };
        let mut found: Option<bool> = None;
        let mut twice = false;
        while let Some(is_member) = map.next_key_seed(Named(member))? {
            if is_member {
                let holds = map.next_value_seed(Holds {
                    below,
                    wanted: self.wanted,
                })?;
                twice |= found.replace(holds).is_some();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(!twice && found == Some(true))
    }
}

/// One item of an array: whether it is the string wanted.
struct Item<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array item")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
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
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// `scope` for a challenge when it is a scope RFC 6749 allows (printable ASCII without
/// space, `"` or `\`), so that it cannot break the header.
pub(crate) fn challenge_scope(scope: &str) -> Option<Arc<str>> {
    is_scope_token(scope).then(|| scope.into())
}

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

    #[test]
    fn shapes() {
        assert!(holds(br#"["user","admin"]"#, &[], "admin"));
        assert!(!holds(br#"["user","administrator"]"#, &[], "admin"));
        assert!(holds(br#""orders:read orders:write""#, &[], "orders:write"));
        assert!(!holds(br#""orders:read""#, &[], "orders"));
        assert!(holds(br#"["a\u0064min"]"#, &[], "admin"));
        assert!(!holds(br#"[["admin"]]"#, &[], "admin"));
        assert!(!holds(br#"{"admin":true}"#, &[], "admin"));
        assert!(!holds(br#"true"#, &[], "admin"));
        assert!(!holds(br#"["admin""#, &[], "admin"));
        // An array item is one role: no splitting.
        assert!(!holds(br#"["user admin"]"#, &[], "admin"));
    }

    #[test]
    fn nested() {
        let below = path("realm_access.roles");
        let kc = br#"{"roles":["offline_access","admin"],"other":{"roles":["x"]}}"#;
        assert!(holds(kc, &below, "admin"));
        assert!(!holds(kc, &below, "x"));
        // A member named twice holds nothing, whatever either says.
        assert!(!holds(
            br#"{"roles":["admin"],"roles":[]}"#,
            &below,
            "admin"
        ));
        assert!(!holds(
            br#"{"roles":[],"roles":["admin"]}"#,
            &below,
            "admin"
        ));
        assert!(!holds(br#"["admin"]"#, &below, "admin"));
        let deep = path("resource_access.api.roles");
        assert!(holds(
            br#"{"api":{"roles":["w"]},"web":{"roles":["r"]}}"#,
            &deep,
            "w"
        ));
        assert!(!holds(
            br#"{"api":{"roles":["w"]},"web":{"roles":["r"]}}"#,
            &deep,
            "r"
        ));
    }

    #[test]
    fn lists() {
        assert_eq!(all(br#""a  b""#, &[]), ["a", "b"]);
        assert_eq!(all(br#"["a",1,"b"]"#, &[]), ["a", "b"]);
        assert_eq!(all(br#"{"roles":["r"]}"#, &path("x.roles")), ["r"]);
        assert!(all(br#"{"roles":1}"#, &path("x.roles")).is_empty());
    }
}
