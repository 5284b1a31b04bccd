//! A per-thread memo of tokens that passed [`decode`](super::decode).
//!
//! A client presents the same token on every request of its lifetime, and what `decode`
//! proves about it — signature, shape, `iat`, `nbf`, lifetime, issuer, audience, identity —
//! depends only on the token's bytes and the manager's settings, which never change. Only
//! the expiry moves with the clock, so a remembered token has its `exp` checked again on
//! every hit; everything after `decode` (type, freshness, revocation, the claims hook, the
//! user lookup) runs on every request as before.
//!
//! Each thread keeps [`SLOTS`] entries, placed by a keyed hash of the signature and
//! matched on the whole token, compared in constant time. Threads share nothing, so a hit
//! takes no lock and touches no shared cache line. Only verified tokens are stored, and a
//! failing token is never remembered.

use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::claims::VerifiedToken;
use crate::token::TokenLocation;

/// Entries per thread: about 170 KB at most with typical tokens.
pub(crate) const SLOTS: usize = 256;

/// Identifies one manager's settings; never reused within a process.
pub(crate) fn owner_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

struct Entry {
    owner: u64,
    location: TokenLocation,
    token: Box<[u8]>,
    verified: VerifiedToken,
}

struct Slots {
    hasher: RandomState,
    entries: Box<[Option<Entry>]>,
}

impl Slots {
    fn index(&self, token: &[u8]) -> usize {
        // The signature is the part that differs between tokens; the key is per thread, so
        // which tokens share a slot cannot be chosen from outside.
        let signature = memchr::memrchr(b'.', token).map_or(token, |dot| &token[dot + 1..]);
        self.hasher.hash_one(signature) as usize % SLOTS
    }
}

thread_local! {
    static CACHE: RefCell<Option<Slots>> = const { RefCell::new(None) };
}

/// The remembered verification of `token`, found at `location` by the manager `owner`.
pub(crate) fn get(owner: u64, token: &str, location: TokenLocation) -> Option<VerifiedToken> {
    CACHE
        .try_with(|cache| {
            let cache = cache.borrow();
            let slots = cache.as_ref()?;
            let entry = slots.entries[slots.index(token.as_bytes())].as_ref()?;
            (entry.owner == owner
                && entry.location == location
                && constant_time_eq(&entry.token, token.as_bytes()))
            .then(|| entry.verified.clone())
        })
        .ok()
        .flatten()
}

/// Remembers that `token` verified as `verified`, replacing whatever shared its slot.
pub(crate) fn put(owner: u64, token: &str, location: TokenLocation, verified: &VerifiedToken) {
    let entry = Entry {
        owner,
        location,
        token: token.as_bytes().into(),
        verified: verified.clone(),
    };
    let _ = CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        let slots = cache.get_or_insert_with(|| Slots {
            hasher: RandomState::new(),
            entries: (0..SLOTS).map(|_| None).collect(),
        });
        let at = slots.index(token.as_bytes());
        // The evicted entry is dropped after the borrow ends (it runs no user code: cached
        // tokens never carry a looked-up user, but nothing here needs to rely on that).
        slots.entries[at].replace(entry)
    });
}

/// Equal lengths and equal bytes, every byte compared whatever the first difference.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    }
}
