//! The `aud` claim, read where it lies in the payload: checked only when an audience is
//! required, without copying its strings.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::parse::Scalar;

/// Whether the raw JSON of an `aud` claim names one of `wanted`: `Some` for a string or an
/// array of strings (every item a string, an empty array naming none), `None` for anything
/// else. Strings without escapes are compared where they lie: nothing is allocated.
pub(crate) fn audience_holds(raw: &str, wanted: &[String]) -> Option<bool> {
    struct Audience<'w>(&'w [String]);
    impl<'de> Visitor<'de> for Audience<'_> {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_str<E>(self, v: &str) -> Result<Option<bool>, E> {
            Ok(Some(self.0.iter().any(|w| w == v)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Option<bool>, A::Error> {
            let (mut held, mut strings) = (false, true);
            while let Some(item) = items.next_element::<Scalar<'de>>()? {
                match item {
                    Scalar::Borrowed(v) => held |= self.0.iter().any(|w| w == v),
                    Scalar::Owned(v) => held |= self.0.contains(&v),
                    _ => strings = false,
                }
            }
            Ok(strings.then_some(held))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Option<bool>, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Option<bool>, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Option<bool>, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Option<bool>, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Option<bool>, E> {
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<bool>, A::Error> {
            while map
                .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                .is_some()
            {}
            Ok(None)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_any(Audience(wanted)).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_checked_where_they_lie() {
        let wanted = ["api".to_owned(), "x\"y".to_owned()];
        for (raw, held) in [
            (r#""api""#, Some(true)),
            (r#""other""#, Some(false)),
            (r#"["other","api"]"#, Some(true)),
            (r#"["other"]"#, Some(false)),
            (r#"[]"#, Some(false)),
            (r#""x\"y""#, Some(true)),
            (r#"["x\"y"]"#, Some(true)),
            (r#""\u0061pi""#, Some(true)),
            (r#"["api",1]"#, None),
            (r#"[1,"api"]"#, None),
            (r#"[["api"]]"#, None),
            (r#"{"api":1}"#, None),
            ("1", None),
            ("true", None),
            ("null", None),
        ] {
            assert_eq!(audience_holds(raw, &wanted), held, "{raw}");
        }
    }
}
