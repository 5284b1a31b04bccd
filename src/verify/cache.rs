//! A per-thread memo of tokens that passed [`decode`](super::decode::decode).
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
//! failing token is never remembered. A token is stored the second time it is verified in
//! a row at its slot (a "doorkeeper" word per slot remembers the first time), so that a
//! stream of tokens each seen once — or more distinct tokens than slots — costs a word
//! compare per request instead of copying and evicting entries.

use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::claims::{TokenData, VerifiedToken};
use crate::config::TokenLocation;

/// Entries per thread (a power of two): about 170 KB at most with typical tokens.
pub(crate) const SLOTS: usize = 256;
const _: () = assert!(SLOTS.is_power_of_two());

/// Identifies one manager's settings; never reused within a process.
pub(crate) fn owner_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

struct Entry {
    owner: u64,
    location: TokenLocation,
    token: Box<[u8]>,
    /// The verified data only: a looked-up user belongs to one request, never remembered.
    verified: Arc<TokenData>,
}

struct Slots {
    /// Per-thread random key for the slot choice.
    key: u64,
    /// Per slot, the fingerprint of the last token verified there and not stored.
    seen: Box<[u64]>,
    entries: Box<[Option<Entry>]>,
}

impl Slots {
    fn new() -> Self {
        Self {
            key: RandomState::new().hash_one(0u64),
            seen: vec![0; SLOTS].into(),
            entries: (0..SLOTS).map(|_| None).collect(),
        }
    }

    /// The slot of a token and its fingerprint: the first 8 characters of its signature,
    /// mixed with the thread's key. Signatures of genuine tokens are uniformly random, and
    /// only verified tokens are stored, so a crafted token can at most miss; which tokens
    /// share a slot decides only which evict each other.
    fn index(&self, token: &[u8]) -> (usize, u64) {
        let signature = memchr::memrchr(b'.', token).map_or(token, |dot| &token[dot + 1..]);
        let mut word = [0u8; 8];
        let n = signature.len().min(8);
        word[..n].copy_from_slice(&signature[..n]);
        let mixed = (u64::from_le_bytes(word) ^ self.key).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((mixed >> (64 - SLOTS.trailing_zeros())) as usize, mixed)
    }
}

thread_local! {
    static CACHE: RefCell<Option<Slots>> = const { RefCell::new(None) };
}

/// The remembered verification of `token`, found at `location` by the manager `owner`.
pub(crate) fn get(owner: u64, token: &[u8], location: TokenLocation) -> Option<VerifiedToken> {
    CACHE
        .try_with(|cache| {
            let cache = cache.borrow();
            let slots = cache.as_ref()?;
            let entry = slots.entries[slots.index(token).0].as_ref()?;
            let hit = entry.owner == owner
                && entry.location == location
                && same_token(&entry.token, token);
            hit.then(|| VerifiedToken(entry.verified.clone(), None))
        })
        .ok()
        .flatten()
}

/// Records that `token` verified as `verified`: remembered if it was also the last token
/// verified at its slot, replacing whatever entry shared the slot.
pub(crate) fn put(owner: u64, token: &[u8], location: TokenLocation, verified: &VerifiedToken) {
    let _ = CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        let slots = cache.get_or_insert_with(Slots::new);
        let (at, fingerprint) = slots.index(token);
        if std::mem::replace(&mut slots.seen[at], fingerprint) != fingerprint {
            return None; // the first time: only noted
        }
        slots.seen[at] = 0;
        // The evicted entry is dropped after the borrow ends (it runs no user code: entries
        // hold no looked-up user, but nothing here needs to rely on that).
        slots.entries[at].replace(Entry {
            owner,
            location,
            token: token.into(),
            verified: verified.0.clone(),
        })
    });
}

/// Equal tokens, every byte compared whatever the first difference: a branch-free XOR/OR
/// over 64-bit words, the running result passed through an optimisation barrier after every
/// 32 bytes (best effort: `black_box` promises no constant time, `ctutils` does, and
/// compares MACs and CSRF values). Here a difference in timing could only tell how much of
/// a token an attacker made up matches a remembered one at the slot its signature picks;
/// the compare runs on every memo hit, and costs ~150 instructions for a 250-byte token
/// against `ctutils`' 277–312 (`subtle`'s 3,254).
fn same_token(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let ((a32, a_tail), (b32, b_tail)) = (a.as_chunks::<32>(), b.as_chunks::<32>());
    let mut difference = 0u64;
    for (x, y) in a32.iter().zip(b32) {
        let (x, y) = (x.as_chunks::<8>().0, y.as_chunks::<8>().0);
        for (x, y) in x.iter().zip(y) {
            difference |= u64::from_ne_bytes(*x) ^ u64::from_ne_bytes(*y);
        }
        difference = std::hint::black_box(difference);
    }
    let tail = a_tail
        .iter()
        .zip(b_tail)
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference | u64::from(tail)) == 0
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn same_token_compares_length_and_every_bit() {
        crate::config::keys::hmac::tests::compares_length_and_every_bit(same_token);
    }
}
