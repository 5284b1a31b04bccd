//! The default in-process [`MemoryDenylist`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use moka::sync::Cache;
use moka::Expiry;

use super::{packed_uuid, Denylist, DenylistError, TokenId};
use crate::clock::{numeric_date, Clock, ClockHandle};
use crate::BoxFuture;

/// A packed uuid as the compact table's key.
fn key_of(id: u128) -> (u64, u64) {
    ((id >> 64) as u64, id as u64)
}

/// Revoked uuid `jti`s: 16-byte keys and 4-byte [`Deadline`]s in sharded open-addressing tables with the keys inline, so that a lookup at a
/// million entries costs one cache miss, at about 50 bytes per revoked token against ~300 for
/// a moka entry. Expired entries are dropped from a shard, by rebuilding it, at most once a
/// minute, when it is written.
struct Compact {
    shards: Box<[RwLock<Shard>]>,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    key: (u64, u64),
    until: Deadline,
}

#[derive(Default)]
struct Shard {
    /// One byte per slot, 0 for empty, else 7 bits of the key's hash: small enough to stay in
    /// cache, so that a miss (every valid token) rarely reads a slot.
    tags: Vec<u8>,
    slots: Vec<Slot>,
    len: usize,
    next_sweep: u64,
}

const SHARDS: usize = 16;

impl Shard {
    /// Where `key` is, or the empty slot where it would go. The table is never full.
    fn find(&self, key: (u64, u64)) -> usize {
        let mask = self.slots.len() - 1;
        let hash = hash(key);
        let tag = tag(hash);
        let mut i = (hash >> 32) as usize & mask;
        loop {
            match self.tags[i] {
                0 => return i,
                t if t == tag && self.slots[i].key == key => return i,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn get(&self, key: (u64, u64)) -> Option<Deadline> {
        if self.slots.is_empty() {
            return None;
        }
        let i = self.find(key);
        (self.tags[i] != 0).then(|| self.slots[i].until)
    }

    /// Rebuilds the table with room for one more entry at most 70% full, keeping the entries
    /// `keep` accepts.
    fn rebuild(&mut self, keep: impl Fn(&Slot) -> bool) {
        let live: Vec<Slot> = (0..self.slots.len())
            .filter(|&i| self.tags[i] != 0 && keep(&self.slots[i]))
            .map(|i| self.slots[i])
            .collect();
        let capacity = ((live.len() + 1) * 10 / 7 + 1).next_power_of_two().max(64);
        self.tags = vec![0; capacity];
        self.slots = vec![Slot::default(); capacity];
        self.len = 0;
        for slot in live {
            self.place(slot);
        }
    }

    fn place(&mut self, slot: Slot) {
        let i = self.find(slot.key);
        if self.tags[i] == 0 {
            self.tags[i] = tag(hash(slot.key));
            self.slots[i] = slot;
            self.len += 1;
        } else {
            self.slots[i].until = self.slots[i].until.max(slot.until);
        }
    }

    fn insert(&mut self, key: (u64, u64), until: Deadline, now: u64) {
        if now >= self.next_sweep {
            self.rebuild(|slot| slot.until.is_live(now));
            self.next_sweep = now + 60;
        }
        if (self.len + 1) * 10 > self.slots.len() * 7 {
            self.rebuild(|_| true);
        }
        self.place(Slot { key, until });
    }
}

/// The low 64 bits of a uuid4 or uuid7 are random (a uuid7's high bits carry its time), and
/// keys come only from tokens whose signature verified, so a cheap mix
/// is enough: nobody can choose colliding keys.
fn hash(key: (u64, u64)) -> u64 {
    (key.0 ^ key.1.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// 7 bits of a hash, never 0 (0 marks an empty slot).
fn tag(hash: u64) -> u8 {
    (hash as u8 & 0x7f) | 0x80
}

impl Compact {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }

    fn shard(&self, key: &(u64, u64)) -> &RwLock<Shard> {
        &self.shards[(key.1 as usize) % SHARDS]
    }

    fn insert(&self, key: (u64, u64), deadline: Deadline, now: u64) {
        let mut shard = self.shard(&key).write().unwrap_or_else(|e| e.into_inner());
        shard.insert(key, deadline, now);
    }

    /// The entry's deadline, if present (expired or not).
    fn get(&self, key: &(u64, u64)) -> Option<Deadline> {
        let shard = self.shard(key).read().unwrap_or_else(|e| e.into_inner());
        shard.get(*key)
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len)
            .sum()
    }
}

/// When an entry may go: whole epoch seconds, rounded up, or [`Deadline::NEVER`] — the one
/// spelling of "never" in memory. Four bytes, so that the compact table stays small
/// (deadlines after 2106 count as never: the safe direction).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline(u32);

impl Deadline {
    const NEVER: Self = Deadline(u32::MAX);

    fn of(until: Option<SystemTime>) -> Self {
        match until {
            None => Self::NEVER,
            Some(t) => {
                let secs = numeric_date(t).max(0.0).ceil();
                Deadline(if secs >= f64::from(u32::MAX) {
                    u32::MAX
                } else {
                    secs as u32
                })
            }
        }
    }

    /// Whether the entry is still needed at `now` (epoch seconds, rounded down).
    fn is_live(self, now: u64) -> bool {
        self == Self::NEVER || u64::from(self.0) > now
    }

    /// How long from `now` until the entry may go; `None` for never.
    fn remaining(self, now: u64) -> Option<Duration> {
        (self != Self::NEVER).then(|| Duration::from_secs(u64::from(self.0).saturating_sub(now)))
    }
}

/// Epoch seconds, rounded down.
fn epoch_secs(t: SystemTime) -> u64 {
    numeric_date(t).max(0.0) as u64
}

/// The deadline an entry's value carries.
trait HasDeadline {
    fn deadline(&self) -> Deadline;
}

impl HasDeadline for Deadline {
    fn deadline(&self) -> Deadline {
        *self
    }
}

impl HasDeadline for (f64, Deadline) {
    fn deadline(&self) -> Deadline {
        self.1
    }
}

/// Expires each moka entry at its own deadline, by the denylist's clock.
struct UntilDeadline(ClockHandle);

impl<K, V: HasDeadline> Expiry<K, V> for UntilDeadline {
    fn expire_after_create(&self, _: &K, value: &V, _: Instant) -> Option<Duration> {
        value.deadline().remaining(epoch_secs(self.0.now()))
    }

    fn expire_after_update(
        &self,
        _: &K,
        value: &V,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        value.deadline().remaining(epoch_secs(self.0.now()))
    }
}

/// The default denylist: entries expire with their tokens and are never evicted earlier.
///
/// Canonical uuid `jti`s (what Flask-JWT-Extended and this crate issue) live in a compact
/// table of 16-byte keys; the moka cache holds the rest, which needs richer keys: other
/// `jti`s and per-identity cut-offs. Neither has a size bound. Cheap to clone (clones share
/// the entries).
#[derive(Clone)]
pub struct MemoryDenylist {
    uuids: Arc<Compact>,
    others: Cache<Box<str>, Deadline>,
    /// Identity → cut-off (epoch seconds, to the microsecond) and the deadline after which
    /// it may go.
    cutoffs: Cache<Box<str>, (f64, Deadline)>,
    /// Whether any cut-off was ever set: spares the lookup on the hot path until then.
    any_cutoff: Arc<AtomicBool>,
    /// Decides when entries have outlived their tokens.
    clock: ClockHandle,
    /// The `store` label of its size metric, and the second it was last reported.
    store: crate::telemetry::Store,
    reported_at: Arc<std::sync::atomic::AtomicU64>,
}

impl MemoryDenylist {
    /// An empty denylist on the system clock.
    pub fn new() -> Self {
        Self::with_clock_handle(ClockHandle::default())
    }

    /// The time by this denylist's clock.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// An empty denylist whose entries expire by `clock` (use the manager's clock).
    pub fn with_clock(clock: impl Clock) -> Self {
        Self::with_clock_handle(ClockHandle::new(clock))
    }

    pub(crate) fn with_clock_handle(clock: ClockHandle) -> Self {
        Self {
            uuids: Arc::new(Compact::new()),
            others: Cache::builder()
                .expire_after(UntilDeadline(clock.clone()))
                .build(),
            cutoffs: Cache::builder()
                .expire_after(UntilDeadline(clock.clone()))
                .build(),
            any_cutoff: Arc::new(AtomicBool::new(false)),
            clock,
            store: crate::telemetry::Store::Memory,
            reported_at: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// The local view of a shared store (its size metric says `store="redis"`).
    #[cfg(feature = "redis")]
    pub(crate) fn view_of(store: crate::telemetry::Store) -> Self {
        Self {
            store,
            ..Self::new()
        }
    }

    /// Reports the number of entries (feature `metrics`), at most once a second (a
    /// snapshot of many entries reports once, and again when it ends): revoked tokens and
    /// cut-offs, those expired counting until swept. Revocations later in the same second
    /// show at the next report. Every in-process denylist writes the one `store="memory"`
    /// gauge.
    fn report_size(&self) {
        if cfg!(feature = "metrics") {
            let now = epoch_secs(self.clock.now());
            if self.reported_at.swap(now, Ordering::Relaxed) != now {
                self.report_size_now();
            }
        }
    }

    /// Reports the number of entries now (feature `metrics`): after a batch.
    pub(crate) fn report_size_now(&self) {
        if cfg!(feature = "metrics") {
            let entries = self.revoked_tokens() + self.cutoffs.entry_count();
            crate::telemetry::denylist_size(self.store, entries);
        }
    }

    /// Records `jti` as revoked until `until` (`None`: forever). Synchronous form of
    /// [`Denylist::revoke`].
    pub fn insert(&self, jti: &str, until: Option<SystemTime>) {
        let deadline = Deadline::of(until);
        let now = epoch_secs(self.clock.now());
        if !deadline.is_live(now) {
            return; // the token has expired: nothing left to refuse
        }
        match packed_uuid(jti) {
            Some(id) => self.uuids.insert(key_of(id), deadline, now),
            None => self.others.insert(jti.into(), deadline),
        }
        self.report_size();
    }

    /// Whether `jti` is revoked.
    pub fn contains(&self, jti: &str) -> bool {
        // The clock is read only on a hit: a miss, the common case, never needs it.
        self.entry_until(jti)
            .is_some_and(|until| until.is_live(epoch_secs(self.clock.now())))
    }

    /// The deadline of `jti`'s entry, expired or not (moka expires its own entries itself).
    fn entry_until(&self, jti: &str) -> Option<Deadline> {
        self.entry_until_packed(jti, packed_uuid(jti))
    }

    /// The same, given `packed_uuid(jti)`.
    fn entry_until_packed(&self, jti: &str, uuid: Option<u128>) -> Option<Deadline> {
        match uuid {
            Some(id) => self.uuids.get(&key_of(id)),
            None => self.others.get(jti),
        }
    }

    /// Revokes every token of `identity` issued before `issued_before`, keeping the cut-off
    /// until `until` (`None`: forever). Cut-offs only move forward, and are kept as long as
    /// the longest-lived of them asks: whatever order calls come in, the latest cut-off and
    /// the latest deadline win. Synchronous form of [`Denylist::revoke_all`].
    pub fn insert_cutoff(
        &self,
        identity: &str,
        issued_before: SystemTime,
        until: Option<SystemTime>,
    ) {
        let cutoff = numeric_date(issued_before);
        let until = Deadline::of(until);
        self.any_cutoff.store(true, Ordering::Release);
        self.cutoffs.entry(identity.into()).and_upsert_with(|old| {
            match old.map(|e| e.into_value()) {
                Some((old_cutoff, old_until)) => (old_cutoff.max(cutoff), old_until.max(until)),
                None => (cutoff, until),
            }
        });
        self.report_size();
    }

    /// The cut-off for `identity`, in epoch seconds: its tokens issued before it are revoked.
    pub fn cutoff(&self, identity: &str) -> Option<f64> {
        if !self.any_cutoff.load(Ordering::Acquire) {
            return None;
        }
        self.cutoffs.get(identity).map(|(cutoff, _)| cutoff)
    }

    /// Whether the token is revoked, by `jti` or by its identity's cut-off. Synchronous
    /// form of [`Denylist::is_revoked`].
    ///
    /// Unlike [`contains`](Self::contains) it does not read the clock: it is asked about
    /// tokens that are not expired, and an entry lives until its token's expiry plus leeway,
    /// so an entry found here is live (or, if it was given a shorter life, still refuses a
    /// little longer: the safe direction).
    pub fn is_token_revoked(&self, token: TokenId<'_>) -> bool {
        token
            .jti
            .is_some_and(|jti| self.entry_until_packed(jti, token.packed_uuid()).is_some())
            || self
                .cutoff(token.identity)
                .is_some_and(|cutoff| token.issued_at < cutoff)
    }

    /// The number of revoked tokens held (approximate until pending maintenance has run).
    pub fn len(&self) -> u64 {
        self.others.run_pending_tasks();
        self.revoked_tokens()
    }

    /// The revoked tokens held, those expired but not yet swept included.
    fn revoked_tokens(&self) -> u64 {
        self.uuids.len() as u64 + self.others.entry_count()
    }

    /// Whether no revoked token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryDenylist {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryDenylist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDenylist")
            .field(
                "entries",
                &(self.uuids.len() as u64 + self.others.entry_count()),
            )
            .finish()
    }
}

impl Denylist for MemoryDenylist {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        self.insert(jti, until);
        Box::pin(std::future::ready(Ok(())))
    }

    fn revoke_all<'a>(
        &'a self,
        identity: &'a str,
        issued_before: SystemTime,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        self.insert_cutoff(identity, issued_before, until);
        Box::pin(std::future::ready(Ok(())))
    }

    fn is_revoked<'a>(&'a self, token: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>> {
        Box::pin(std::future::ready(Ok(self.is_token_revoked(token))))
    }

    fn is_revoked_now(&self, token: TokenId<'_>) -> Option<Result<bool, DenylistError>> {
        Some(Ok(self.is_token_revoked(token)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_and_other_keys() {
        let list = MemoryDenylist::new();
        let id = "0b5e6a8e-5e8f-4b39-9c3e-1f2a3b4c5d6e";
        list.insert(id, None);
        list.insert("not-a-uuid", None);
        assert!(list.contains(id));
        assert!(list.contains("not-a-uuid"));
        // A differently spelled uuid is a different jti.
        assert!(!list.contains(&id.to_uppercase()));
        assert!(!list.contains("0b5e6a8e5e8f4b399c3e1f2a3b4c5d6e"));
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn entries_expire_with_their_token_and_not_before() {
        let list = MemoryDenylist::new();
        list.insert("past", Some(SystemTime::now() - Duration::from_secs(5)));
        list.insert(
            "future",
            Some(SystemTime::now() + Duration::from_secs(3600)),
        );
        list.insert("forever", None);
        assert!(!list.contains("past"));
        assert!(list.contains("future"));
        assert!(list.contains("forever"));
    }

    #[test]
    fn cutoffs_revoke_older_tokens_of_one_identity() {
        let list = MemoryDenylist::new();
        let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let token = |identity, issued_at| TokenId::new("j", identity, issued_at);
        assert!(!list.is_token_revoked(token("ada", 100.0)));
        list.insert_cutoff("ada", at(1_000), None);
        assert!(list.is_token_revoked(token("ada", 999.0)));
        assert!(!list.is_token_revoked(token("ada", 1_000.0)));
        assert!(!list.is_token_revoked(token("bob", 999.0)));
        // An earlier cut-off never weakens a later one.
        list.insert_cutoff("ada", at(500), None);
        assert_eq!(list.cutoff("ada"), Some(1_000.0));
        // Sub-second cut-offs are compared as numbers.
        list.insert_cutoff("eve", at(1_000) + Duration::from_micros(500_001), None);
        assert!(list.is_token_revoked(token("eve", 1_000.5)));
        assert!(!list.is_token_revoked(token("eve", 1_000.500001)));
        list.insert_cutoff("ada", at(2_000), None);
        assert!(list.is_token_revoked(token("ada", 1_500.0)));
    }

    #[test]
    fn compact_table_sweeps_expired_entries_on_write() {
        let table = Compact::new();
        let (a, b) = ((1, 16), (2, 32)); // the same shard
        table.insert(a, Deadline(100), 50);
        assert_eq!(table.get(&a), Some(Deadline(100)));
        table.insert(a, Deadline(90), 50); // a shorter deadline never shortens an entry
        assert_eq!(table.get(&a), Some(Deadline(100)));
        table.insert(b, Deadline(1_000), 150); // past the sweep time: `a` has expired
        assert_eq!(
            (table.get(&a), table.get(&b)),
            (None, Some(Deadline(1_000)))
        );
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn many_uuid_jtis_stay_until_they_expire() {
        let list = MemoryDenylist::new();
        let ids: Vec<String> = (0..20_000)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let later = SystemTime::now() + Duration::from_secs(3600);
        for id in &ids {
            list.insert(id, Some(later));
        }
        list.insert(
            &uuid::Uuid::new_v4().to_string(),
            Some(SystemTime::now() - Duration::from_secs(1)),
        );
        assert_eq!(list.len(), 20_000, "an already expired token is not stored");
        assert!(ids.iter().all(|id| list.contains(id)));
        assert!(!list.contains(&uuid::Uuid::new_v4().to_string()));
    }

    #[test]
    fn deadlines() {
        let at = |secs: f64| Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        assert_eq!(Deadline::of(None), Deadline::NEVER);
        assert_eq!(Deadline::of(at(10.2)), Deadline(11), "rounded up");
        assert_eq!(Deadline::of(at(1e12)), Deadline::NEVER, "after 2106");
        assert!(Deadline(11).is_live(10) && !Deadline(11).is_live(11));
        assert!(Deadline::NEVER.is_live(u64::MAX));
        assert_eq!(Deadline::NEVER.remaining(5), None);
        assert_eq!(Deadline(11).remaining(5), Some(Duration::from_secs(6)));
    }

    #[test]
    fn canonical_uuids_only() {
        let id = uuid::Uuid::new_v4();
        let packed = packed_uuid(&id.to_string()).unwrap();
        assert_eq!(packed, id.as_u128());
        let (high, low) = key_of(packed);
        assert_eq!(((high as u128) << 64) | low as u128, id.as_u128());
        for other in [
            id.to_string().to_uppercase(),
            id.simple().to_string(),
            format!("{{{id}}}"),
            format!("{}g", &id.to_string()[..35]),
            "0b5e6a8e-5e8f-4b39-9c3e_1f2a3b4c5d6e".to_owned(),
        ] {
            assert_eq!(packed_uuid(&other), None, "{other}");
        }
    }

    #[test]
    fn never_evicted_by_size() {
        let list = MemoryDenylist::new();
        for i in 0..20_000 {
            list.insert(&format!("jti-{i}"), None);
        }
        assert_eq!(list.len(), 20_000);
        assert!((0..20_000).all(|i| list.contains(&format!("jti-{i}"))));
    }
}
