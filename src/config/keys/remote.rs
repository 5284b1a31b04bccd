//! The keys of an outside issuer, filled from its JWKS by the `jwks` feature's fetcher: a
//! set loaded without a lock, what its tokens must carry, and how to ask for a refresh when
//! a token names a key the set does not hold.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;

use super::{Key, KeySet, Trust};
use crate::BoxFuture;

/// Fetches an outside issuer's keys again when a token names an unknown one (at most once
/// per cooldown, concurrent misses sharing one fetch).
pub(crate) trait Refresher: Send + Sync + 'static {
    fn refresh_on_miss(&self) -> BoxFuture<'static, ()>;
}

/// An outside issuer's keys.
pub(crate) struct RemoteKeys {
    pub(crate) trust: Arc<Trust>,
    /// The algorithms its keys may pin (asymmetric ones only): a token of another algorithm
    /// never makes it fetch.
    allowed: Vec<Algorithm>,
    set: ArcSwap<KeySet>,
    refresher: OnceLock<Arc<dyn Refresher>>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.trust.issuer)
            .field("keys", &self.set.load().keys.len())
            .finish()
    }
}

impl RemoteKeys {
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn new(trust: Trust, allowed: Vec<Algorithm>) -> Self {
        debug_assert!(!allowed.iter().any(|a| super::is_hmac(*a)));
        Self {
            trust: Arc::new(trust),
            allowed,
            set: ArcSwap::from_pointee(KeySet::default()),
            refresher: OnceLock::new(),
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.set.load()
    }

    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    /// Replaces the keys (after a successful fetch).
    pub(crate) fn replace(&self, keys: Vec<Arc<Key>>) {
        super::set::replace_set(
            &self.set,
            KeySet {
                keys,
                signing: None,
            },
        );
    }

    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn set_refresher(&self, refresher: Arc<dyn Refresher>) {
        let _ = self.refresher.set(refresher);
    }

    pub(crate) fn refresher(&self) -> Option<&Arc<dyn Refresher>> {
        self.refresher.get()
    }

    /// Whether a key for `alg` (a header's `alg`) may come with a fetch: one of the
    /// asymmetric algorithms this issuer is allowed. Never HMAC, never `none`.
    pub(crate) fn may_publish(&self, alg: &str) -> bool {
        alg.parse::<Algorithm>()
            .is_ok_and(|alg| self.allowed.contains(&alg))
    }
}
