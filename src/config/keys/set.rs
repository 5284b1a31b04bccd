//! The key sets: [`KeySet`] (one snapshot of a manager's own keys or of an outside
//! issuer's, chosen by a token's header or its `alg` and `kid`) and [`Keys`] (every set a
//! manager verifies with; with outside issuers, a token's `iss` picks the sets consulted,
//! its [`Scope`]).

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
    pub(crate) fn by_header(&self, header_b64: &[u8]) -> Option<&Arc<Key>> {
        match self.keys.as_slice() {
            [only] => (only.header_b64.as_bytes() == header_b64).then_some(only),
            keys => {
                let hash = header_hash(header_b64);
                keys.iter()
                    .find(|k| k.header_hash == hash && k.header_b64.as_bytes() == header_b64)
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
}

/// Makes `next` the set in `slot`. The keys it no longer holds are marked out of their set,
/// so that the memo of verified tokens forgets what they verified; those it holds, in it.
/// Callers replace one slot's set one at a time (the ring's writer lock, the one JWKS
/// refresh in flight): two at once could leave a kept key marked out (memo misses only).
pub(crate) fn replace_set(slot: &arc_swap::ArcSwap<KeySet>, next: KeySet) {
    use std::sync::atomic::Ordering::Release;
    for key in &next.keys {
        key.in_set.store(true, Release);
    }
    let next = Arc::new(next);
    let previous = slot.swap(next.clone());
    for key in &previous.keys {
        if !next.keys.iter().any(|kept| Arc::ptr_eq(kept, key)) {
            key.in_set.store(false, Release);
        }
    }
}

/// The `iss` of a decoded payload, read without the rest of the claims (unknown members
/// skipped): `None` when absent, not a string, duplicated or the payload not a JSON object
/// (the full parse after the signature refuses those).
pub(crate) fn peek_issuer(payload: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Iss<'a> {
        #[serde(borrow)]
        iss: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Iss<'_>>(payload).ok()?.iss
}

/// The first of the manager's own issuers (`own`) that an outside issuer spells too: that
/// issuer would take the manager's tokens, since a token's `iss` picks its keys.
pub(crate) fn outside_spelling_own<'a>(
    remotes: &[Arc<RemoteKeys>],
    own: [&'a Option<String>; 2],
) -> Option<&'a str> {
    own.into_iter()
        .flatten()
        .find(|own| remotes.iter().any(|r| r.trust.issuer == **own))
        .map(String::as_str)
}

/// Which sets may verify a token. With outside issuers, a token's `iss` decides: the
/// issuer whose `iss` it names is the only one consulted (index of its first set; several
/// [`RemoteKeys`] of one issuer are consulted together), and any other token (no `iss`, the
/// manager's own, or one nobody is trusted for) is verified with the manager's own keys only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Own,
    Outside(usize),
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

    /// Whether any outside issuer is trusted (then a token's `iss` picks its [`Scope`]).
    #[inline]
    pub(crate) fn has_outside(&self) -> bool {
        !self.remotes.is_empty()
    }

    /// The sets a token claiming `iss` may be verified with.
    pub(crate) fn scope(&self, iss: Option<&str>) -> Scope {
        iss.and_then(|iss| self.remotes.iter().position(|r| *r.trust.issuer == *iss))
            .map_or(Scope::Own, Scope::Outside)
    }

    /// The outside sets of the issuer whose first set is `first`.
    fn issuer_sets(&self, first: usize) -> impl Iterator<Item = &Arc<RemoteKeys>> + Clone {
        let issuer = &self.remotes[first].trust.issuer;
        self.remotes[first..]
            .iter()
            .filter(move |r| r.trust.issuer == *issuer)
    }

    /// The key of `scope` whose default header is exactly `header_b64`: the common case, no
    /// parsing.
    #[inline]
    pub(crate) fn by_header(&self, header_b64: &[u8], scope: Scope) -> Option<Arc<Key>> {
        match scope {
            Scope::Own => self.ring.load().by_header(header_b64).cloned(),
            Scope::Outside(first) => self
                .issuer_sets(first)
                .find_map(|r| r.load().by_header(header_b64).cloned()),
        }
    }

    /// The key of `scope` for a token's `alg` and `kid`.
    pub(crate) fn select(
        &self,
        alg: &str,
        kid: Option<&str>,
        scope: Scope,
    ) -> Result<Arc<Key>, NoKey> {
        match scope {
            Scope::Own => self.ring.load().select(alg, kid).cloned(),
            Scope::Outside(first) => Self::select_among(self.issuer_sets(first), alg, kid),
        }
    }

    /// Whether a set of any issuer (the manager's own too) holds the key for this `alg` and
    /// `kid`, as if the token's `iss` did not matter (a `kid` some set holds decides): on a
    /// miss only, to tell a token that claims the wrong issuer (or none) from one no key fits.
    pub(crate) fn held_anywhere(&self, alg: &str, kid: Option<&str>) -> bool {
        let sets =
            || std::iter::once(self.ring.load()).chain(self.remotes.iter().map(|r| r.load()));
        if let Some(kid) = kid {
            if let Some(set) =
                sets().find(|set| set.keys.iter().any(|k| k.kid.as_deref() == Some(kid)))
            {
                return set.select(alg, Some(kid)).is_ok();
            }
        }
        sets().any(|set| set.select(alg, kid).is_ok())
    }

    /// The key among one issuer's sets for a token's `alg` and `kid`.
    fn select_among<'a>(
        sets: impl Iterator<Item = &'a Arc<RemoteKeys>> + Clone,
        alg: &str,
        kid: Option<&str>,
    ) -> Result<Arc<Key>, NoKey> {
        // A `kid` one of the sets holds decides: that set's key, which must pin `alg`.
        if let Some(kid) = kid {
            for remote in sets.clone() {
                let set = remote.load();
                if set.keys.iter().any(|k| k.kid.as_deref() == Some(kid)) {
                    return set.select(alg, Some(kid)).cloned();
                }
            }
        }
        let mut why = NoKey::Algorithm;
        for remote in sets.clone() {
            match remote.load().select(alg, kid) {
                Ok(key) => return Ok(key.clone()),
                Err(other) => why = why.or(other),
            }
        }
        // A key the issuer may have published since its keys were fetched (or since a fetch
        // failed): only for an algorithm it is allowed, so that an HMAC or `none` token is
        // refused as before, and never fetches.
        if why == NoKey::Algorithm && sets.clone().any(|r| r.may_publish(alg)) {
            why = match kid {
                Some(_) => NoKey::UnknownKid,
                None => NoKey::NotFetched,
            };
        }
        Err(why)
    }

    /// The refreshers of the outside issuer that may publish a key for this token, to ask
    /// when its sets do not hold its key: the issuer its `iss` names, if allowed the `alg` of
    /// its header. None for a token claiming no trusted issuer, an HMAC or `none` token, or a
    /// header or payload that does not parse: such tokens never make us fetch. Called on
    /// misses only (the header and payload are parsed again).
    pub(crate) fn refreshers_for(&self, token: &[u8]) -> Vec<Arc<dyn Refresher>> {
        #[derive(serde::Deserialize)]
        struct Alg<'a> {
            #[serde(borrow)]
            alg: std::borrow::Cow<'a, str>,
        }
        if self.remotes.is_empty() {
            return Vec::new();
        }
        let mut segments = token.split(|&b| b == b'.');
        let decode = |segment: Option<&[u8]>| {
            base64_simd::URL_SAFE_NO_PAD.decode_to_vec(segment.unwrap_or_default())
        };
        let (Ok(header), Ok(payload)) = (decode(segments.next()), decode(segments.next())) else {
            return Vec::new();
        };
        let Ok(Alg { alg }) = serde_json::from_slice::<Alg<'_>>(&header) else {
            return Vec::new();
        };
        let Scope::Outside(first) = self.scope(peek_issuer(&payload).as_deref()) else {
            return Vec::new();
        };
        self.issuer_sets(first)
            .filter(|r| r.may_publish(&alg))
            .filter_map(|r| r.refresher().cloned())
            .collect()
    }

    /// The key tokens are signed with now.
    pub(crate) fn signing(&self) -> Option<Arc<Key>> {
        self.ring.load().signing().cloned()
    }
}
