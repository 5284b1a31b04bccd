//! The key sets: [`KeySet`] (one snapshot of a manager's own keys or of an outside
//! issuer's, chosen by a token's header or its `alg` and `kid`) and [`Keys`] (every set a
//! manager verifies with).

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Key, KeyRing, Refresher, RemoteKeys};

/// A fast, non-cryptographic hash of a header's bytes (8 bytes at a time; FxHash's
/// multiply-rotate): it only narrows the search, the bytes are compared after it.
pub(super) fn header_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut chunks = bytes.chunks_exact(8);
    let mut hash = bytes.len() as u64;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        hash = (hash.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    hash
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

/// The keys a manager verifies with, and the one it signs with: one snapshot of the
/// [`KeyRing`].
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    pub(crate) keys: Vec<Arc<Key>>,
    pub(crate) signing: Option<usize>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

/// Why no key verifies a token's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoKey {
    /// The `alg` is none of the set's (or not the one of the key its `kid` names).
    Algorithm,
    /// A `kid` the set does not hold.
    UnknownKid,
    /// No `kid`, and the set holds several keys for the algorithm.
    Ambiguous,
    /// No `kid`, and no set holds a key for the algorithm; an outside issuer allowed it may
    /// have published one since its keys were fetched (or since a fetch failed).
    NotFetched,
}

impl NoKey {
    /// Of two answers from two sets, the more telling one.
    pub(crate) fn or(self, other: NoKey) -> NoKey {
        match (self, other) {
            (NoKey::Algorithm, other) => other,
            (this, _) => this,
        }
    }
}

impl KeySet {
    /// A set of one key, which signs when it can.
    #[cfg(test)]
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
        match self.keys.as_slice() {
            [only] => (only.header_b64 == header_b64).then_some(only),
            keys => {
                let hash = header_hash(header_b64.as_bytes());
                keys.iter()
                    .find(|k| k.header_hash == hash && k.header_b64 == header_b64)
            }
        }
    }

    /// The key for a token whose header names `alg` and maybe `kid`: the key with that
    /// `kid`, which must pin `alg`; without a `kid` (or with one, when no key of `alg` has
    /// one: tokens of Flask-JWT-Extended and of earlier versions), the one key of `alg`.
    pub(crate) fn select(&self, alg: &str, kid: Option<&str>) -> Result<&Arc<Key>, NoKey> {
        let mut of_alg = self.keys.iter().filter(|k| k.alg_name == alg);
        match kid {
            Some(kid) if self.keys.iter().any(|k| k.kid.as_deref() == Some(kid)) => of_alg
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(NoKey::Algorithm),
            Some(_)
                if self
                    .keys
                    .iter()
                    .any(|k| k.alg_name == alg && k.kid.is_some()) =>
            {
                Err(NoKey::UnknownKid)
            }
            _ => match (of_alg.next(), of_alg.next()) {
                (Some(key), None) => Ok(key),
                (None, _) => Err(NoKey::Algorithm),
                (Some(_), Some(_)) => Err(NoKey::Ambiguous),
            },
        }
    }

    /// The key with this [`Key::id`], while it is in the set.
    pub(crate) fn by_id(&self, id: u64) -> Option<&Arc<Key>> {
        self.keys.iter().find(|k| k.id == id)
    }
}

/// Every key a manager verifies with: its own (rotated through the ring) and those of the
/// outside issuers it trusts.
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) ring: KeyRing,
    pub(crate) remotes: Vec<Arc<RemoteKeys>>,
}

impl Keys {
    pub(crate) fn new(set: KeySet, remotes: Vec<Arc<RemoteKeys>>) -> Self {
        Self {
            ring: KeyRing::new(set),
            remotes,
        }
    }

    /// The key whose default header is exactly `header_b64`: the common case, no parsing.
    #[inline]
    pub(crate) fn by_header(&self, header_b64: &str) -> Option<Arc<Key>> {
        if let Some(key) = self.ring.load().by_header(header_b64) {
            return Some(key.clone());
        }
        self.remotes
            .iter()
            .find_map(|r| r.load().by_header(header_b64).cloned())
    }

    /// The key for a token's `alg` and `kid`: the manager's own first, then the outside
    /// issuers'.
    pub(crate) fn select(&self, alg: &str, kid: Option<&str>) -> Result<Arc<Key>, NoKey> {
        // A `kid` one of the sets holds decides: that set's key, which must pin `alg`.
        if let Some(kid) = kid {
            let named = |set: &KeySet| set.keys.iter().any(|k| k.kid.as_deref() == Some(kid));
            let own = self.ring.load();
            if named(&own) {
                return own.select(alg, Some(kid)).cloned();
            }
            for remote in &self.remotes {
                let set = remote.load();
                if named(&set) {
                    return set.select(alg, Some(kid)).cloned();
                }
            }
        }
        let mut why = match self.ring.load().select(alg, kid) {
            Ok(key) => return Ok(key.clone()),
            Err(why) => why,
        };
        for remote in &self.remotes {
            match remote.load().select(alg, kid) {
                Ok(key) => return Ok(key.clone()),
                Err(other) => why = why.or(other),
            }
        }
        // A key nobody holds yet, which an outside issuer may have published since its keys
        // were fetched (or since a fetch failed): only for an algorithm one of them is
        // allowed, so that an HMAC or `none` token is refused as before, and never fetches.
        if why == NoKey::Algorithm && self.remotes.iter().any(|r| r.may_publish(alg)) {
            why = match kid {
                Some(_) => NoKey::UnknownKid,
                None => NoKey::NotFetched,
            };
        }
        Err(why)
    }

    /// The refreshers of the outside issuers that may publish a key for this token, to ask
    /// when no set holds its key: those allowed the `alg` of its header. None for an HMAC
    /// or `none` token, or a header that does not parse: such tokens never make us fetch.
    /// Called on misses only (the header is parsed again).
    pub(crate) fn refreshers_for(&self, token: &[u8]) -> Vec<Arc<dyn Refresher>> {
        #[derive(serde::Deserialize)]
        struct Alg<'a> {
            #[serde(borrow)]
            alg: std::borrow::Cow<'a, str>,
        }
        if self.remotes.is_empty() {
            return Vec::new();
        }
        let header = token.split(|&b| b == b'.').next().unwrap_or_default();
        let Ok(json) = base64_simd::URL_SAFE_NO_PAD.decode_to_vec(header) else {
            return Vec::new();
        };
        let Ok(Alg { alg }) = serde_json::from_slice::<Alg<'_>>(&json) else {
            return Vec::new();
        };
        self.remotes
            .iter()
            .filter(|r| r.may_publish(&alg))
            .filter_map(|r| r.refresher().cloned())
            .collect()
    }

    /// Whether the key with this id is still in a set (the memo of verified tokens forgets
    /// what a retired key verified).
    #[inline]
    pub(crate) fn alive(&self, id: u64) -> bool {
        self.ring.load().by_id(id).is_some()
            || self.remotes.iter().any(|r| r.load().by_id(id).is_some())
    }

    /// The key tokens are signed with now.
    pub(crate) fn signing(&self) -> Option<Arc<Key>> {
        self.ring.load().signing().cloned()
    }
}
