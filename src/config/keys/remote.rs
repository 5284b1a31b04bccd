//! The keys of an outside issuer, filled from its JWKS by the `jwks` feature's fetcher: a
//! set loaded without a lock, what its tokens must carry, and how to ask for a refresh when
//! a token names a key the set does not hold.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

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
    pub(crate) fn new(trust: Trust) -> Self {
        Self {
            trust: Arc::new(trust),
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
        self.set.store(Arc::new(KeySet {
            keys,
            signing: None,
        }));
    }

    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    pub(crate) fn set_refresher(&self, refresher: Arc<dyn Refresher>) {
        let _ = self.refresher.set(refresher);
    }

    pub(crate) fn refresher(&self) -> Option<&Arc<dyn Refresher>> {
        self.refresher.get()
    }
}
