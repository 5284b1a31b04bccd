//! The key ring: a manager's keys, rotated at run time without a restart. Readers (every
//! request) load the current set without a lock; rotations build a new set and swap it in.

use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;

use super::{Key, KeySet};

/// A key could not be added, promoted or retired.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// A key with this `kid` and algorithm is already in the set.
    DuplicateKid(String),
    /// Another key of this algorithm is in the set, and one of the two has no `kid` (tokens
    /// choose among the keys of one algorithm by `kid`).
    KidRequired(Algorithm),
    /// No key with this `kid` is in the set.
    UnknownKid(String),
    /// The key cannot sign (a public key): it cannot be promoted.
    CannotSign(String),
    /// The key signs today's tokens: promote another one before retiring it.
    RetiringSigningKey(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::DuplicateKid(kid) => {
                write!(f, "a key with kid {kid:?} is already in the set")
            }
            KeyError::KidRequired(alg) => write!(
                f,
                "the set already holds a {alg:?} key: both need a kid of their own (tokens \
                 choose among the keys of one algorithm by kid)"
            ),
            KeyError::UnknownKid(kid) => write!(f, "no key with kid {kid:?} in the set"),
            KeyError::CannotSign(kid) => write!(f, "the key {kid:?} cannot sign (a public key)"),
            KeyError::RetiringSigningKey(kid) => write!(
                f,
                "the key {kid:?} signs today's tokens: promote another key first"
            ),
        }
    }
}

impl std::error::Error for KeyError {}

/// What a key set holds, for listing.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's `kid`.
    pub kid: Option<String>,
    /// The algorithm it pins.
    pub algorithm: Algorithm,
    /// Whether it signs the tokens issued now.
    pub signing: bool,
    /// Whether it could sign (a secret or a private key).
    pub can_sign: bool,
}

/// A manager's keys: the current set, loaded without a lock, and one writer at a time.
pub(crate) struct KeyRing {
    current: ArcSwap<KeySet>,
    writer: Mutex<()>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.current.load().fmt(f)
    }
}

impl KeyRing {
    pub(crate) fn new(set: KeySet) -> Self {
        Self {
            current: ArcSwap::from_pointee(set),
            writer: Mutex::new(()),
        }
    }

    /// The current set.
    #[inline]
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.current.load()
    }

    /// Replaces the set with `change(current)`, one writer at a time.
    fn update(
        &self,
        change: impl FnOnce(&KeySet) -> Result<KeySet, KeyError>,
    ) -> Result<(), KeyError> {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = change(&self.current.load())?;
        super::set::replace_set(&self.current, next);
        Ok(())
    }

    /// Adds a key that verifies (and is published) but does not sign yet.
    pub(crate) fn add(&self, key: Key) -> Result<(), KeyError> {
        self.update(|set| {
            let same_alg = set.keys.iter().filter(|k| k.algorithm == key.algorithm);
            for other in same_alg {
                match (&key.kid, &other.kid) {
                    (Some(kid), Some(theirs)) if kid == theirs => {
                        return Err(KeyError::DuplicateKid(kid.clone()))
                    }
                    (None, _) | (_, None) => return Err(KeyError::KidRequired(key.algorithm)),
                    _ => {}
                }
            }
            let mut next = set.clone();
            next.keys.push(Arc::new(key));
            Ok(next)
        })
    }

    /// Makes the key named `kid` the one that signs.
    pub(crate) fn promote(&self, kid: &str) -> Result<(), KeyError> {
        self.update(|set| {
            let at = position(set, kid)?;
            if set.keys[at].encoding.is_none() {
                return Err(KeyError::CannotSign(kid.to_owned()));
            }
            let mut next = set.clone();
            next.signing = Some(at);
            Ok(next)
        })
    }

    /// Removes the key named `kid`: its tokens are refused from now on.
    pub(crate) fn retire(&self, kid: &str) -> Result<(), KeyError> {
        self.update(|set| {
            let at = position(set, kid)?;
            if set.signing == Some(at) {
                return Err(KeyError::RetiringSigningKey(kid.to_owned()));
            }
            let mut next = set.clone();
            next.keys.remove(at);
            next.signing = next.signing.map(|s| if s > at { s - 1 } else { s });
            Ok(next)
        })
    }

    /// The keys, in the order they were added.
    pub(crate) fn list(&self) -> Vec<KeyInfo> {
        let set = self.load();
        set.keys
            .iter()
            .enumerate()
            .map(|(i, k)| KeyInfo {
                kid: k.kid.clone(),
                algorithm: k.algorithm,
                signing: set.signing == Some(i),
                can_sign: k.encoding.is_some(),
            })
            .collect()
    }
}

fn position(set: &KeySet, kid: &str) -> Result<usize, KeyError> {
    set.keys
        .iter()
        .position(|k| k.kid.as_deref() == Some(kid))
        .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))
}
