//! The periodic refresh of an outside issuer's keys: one task per [`RemoteJwks`], however
//! often [`start`](RemoteJwks::start) is called, stopped through its [`RefreshHandle`];
//! its intervals carry ±10% of jitter, so that instances started together do not fetch
//! together.
//!
//! # Example
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use tower_jwt_auth::jwks::RemoteJwks;
//!
//! let idp = RemoteJwks::builder("https://login.example.com/certs")
//!     .issuer("https://login.example.com")
//!     .refresh_interval(Duration::from_secs(600))
//!     .build()
//!     .unwrap();
//! // The first fetch, then one every 9 to 11 minutes, for as long as `refresh` lives.
//! let refresh = match idp.start().await {
//!     Ok(refresh) => refresh,
//!     Err(failed) => {
//!         eprintln!("{failed}: its tokens are refused until a fetch succeeds");
//!         failed.into_handle() // the refreshes go on all the same
//!     }
//! };
//! let again = idp.start().await.unwrap(); // the same task: nothing fetched, nothing spawned
//! drop(again); // the task runs on: `refresh` still holds it
//! refresh.stop(); // or `refresh.detach()` to keep it running without a handle
//! # }
//! ```
//!
//! [`RemoteJwks`]: super::RemoteJwks
//! [`RemoteJwks::start`]: super::RemoteJwks::start

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::remote::{Fetcher, JwksError};
#[cfg(doc)]
use super::RemoteJwks;

/// The refresh task of one [`RemoteJwks`], if one runs. Each `start` that finds none
/// starts a new one under a new `epoch`, so that handles of a task stopped before never
/// touch the next.
#[derive(Default)]
pub(super) struct TaskSlot {
    epoch: u64,
    running: Option<tokio::task::AbortHandle>,
    /// Handles of the running task not yet dropped.
    handles: usize,
    /// Runs on without handles ([`RefreshHandle::detach`]).
    detached: bool,
    /// The result of the task's first fetch.
    first: Option<Result<usize, JwksError>>,
}

impl TaskSlot {
    fn is_running(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }

    fn stop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
        self.handles = 0;
    }
}

/// Holds the periodic refresh started by [`RemoteJwks::start`], and tells how its first
/// fetch went.
///
/// The task stops when [`stop`](Self::stop) is called on any of its handles, or when the
/// last of them is dropped, unless one was [`detach`](Self::detach)ed: then it runs for as
/// long as the [`RemoteJwks`] or a manager trusting it lives. The keys already fetched stay
/// in use when it stops, and a token naming an unknown key still fetches (within the
/// cooldown); [`RemoteJwks::start`] then starts a new task.
#[must_use = "dropping the handle stops the periodic refresh: keep it, or call `.detach()`"]
pub struct RefreshHandle {
    fetcher: Weak<Fetcher>,
    epoch: u64,
    first: Result<usize, JwksError>,
    released: bool,
}

impl std::fmt::Debug for RefreshHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshHandle")
            .field("epoch", &self.epoch)
            .field("first_fetch", &self.first)
            .finish()
    }
}

impl RefreshHandle {
    /// The first fetch of the task: the number of usable keys, or why there are none yet
    /// (the task goes on, and tokens naming an unknown key fetch again after the cooldown).
    /// A `start` that found the task running tells the task's first fetch too.
    pub fn first_fetch(&self) -> Result<usize, JwksError> {
        self.first.clone()
    }

    /// Whether the task still runs.
    pub fn is_running(&self) -> bool {
        self.fetcher.upgrade().is_some_and(|fetcher| {
            let slot = lock(&fetcher.task);
            slot.epoch == self.epoch && slot.is_running()
        })
    }

    /// Stops the periodic refresh now, for every handle of the task.
    pub fn stop(mut self) {
        self.release(true);
    }

    /// Lets the periodic refresh run without this handle, for as long as the
    /// [`RemoteJwks`] or a manager trusting it lives (or until a handle's
    /// [`stop`](Self::stop)).
    pub fn detach(mut self) {
        if let Some(fetcher) = self.fetcher.upgrade() {
            let mut slot = lock(&fetcher.task);
            if slot.epoch == self.epoch {
                slot.detached = true;
            }
        }
        self.release(false);
    }

    fn release(&mut self, stop: bool) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        let Some(fetcher) = self.fetcher.upgrade() else {
            return;
        };
        let mut slot = lock(&fetcher.task);
        if slot.epoch != self.epoch {
            return;
        }
        slot.handles = slot.handles.saturating_sub(1);
        if stop || (slot.handles == 0 && !slot.detached) {
            slot.stop();
        }
    }
}

impl Drop for RefreshHandle {
    fn drop(&mut self) {
        self.release(false);
    }
}

fn lock(slot: &Mutex<TaskSlot>) -> std::sync::MutexGuard<'_, TaskSlot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The first fetch of [`RemoteJwks::start`] failed; the periodic refresh runs all the
/// same, held by the handle inside ([`into_handle`](Self::into_handle)): dropping this error
/// drops the handle, which stops it.
#[must_use = "dropping it stops the periodic refresh: keep `into_handle()`, or return the error"]
pub struct StartError {
    error: JwksError,
    handle: RefreshHandle,
}

impl StartError {
    /// Why the first fetch failed.
    pub fn error(&self) -> &JwksError {
        &self.error
    }

    /// The handle of the refresh task, which goes on (a token naming an unknown key also
    /// fetches again once the cooldown allows).
    pub fn into_handle(self) -> RefreshHandle {
        self.handle
    }
}

impl std::fmt::Debug for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// Shows its [`JwksError`], so its cause is that error's.
impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// The first fetch and the periodic task, or a new handle of the task already running.
pub(super) async fn start(fetcher: &Arc<Fetcher>) -> Result<RefreshHandle, StartError> {
    let handle = start_task(fetcher).await;
    match handle.first_fetch() {
        Ok(_) => Ok(handle),
        Err(error) => Err(StartError { error, handle }),
    }
}

async fn start_task(fetcher: &Arc<Fetcher>) -> RefreshHandle {
    // One `start` at a time: two concurrent calls share one first fetch and one task.
    let _starting = fetcher.starting.lock().await;
    let handle = |slot: &mut TaskSlot, first: Result<usize, JwksError>| {
        slot.handles += 1;
        RefreshHandle {
            fetcher: Arc::downgrade(fetcher),
            epoch: slot.epoch,
            first,
            released: false,
        }
    };
    {
        let mut slot = lock(&fetcher.task);
        if slot.is_running() {
            let first = slot.first.clone().unwrap_or(Ok(0));
            return handle(&mut slot, first);
        }
    }
    let first = fetcher.fetch().await;
    let task = tokio::spawn(periodic(Arc::downgrade(fetcher), fetcher.refresh_every));
    let mut slot = lock(&fetcher.task);
    slot.stop();
    *slot = TaskSlot {
        epoch: slot.epoch + 1,
        running: Some(task.abort_handle()),
        handles: 0,
        detached: false,
        first: Some(first.clone()),
    };
    handle(&mut slot, first)
}

/// Fetches every `every` ± 10% for as long as the keys are in use.
async fn periodic(fetcher: Weak<Fetcher>, every: Duration) {
    loop {
        tokio::time::sleep(jittered(every, random_fraction())).await;
        let Some(fetcher) = fetcher.upgrade() else {
            return;
        };
        if !fetcher.keys_in_use() {
            return;
        }
        let _ = fetcher.fetch().await;
    }
}

/// `every` scaled by a factor from 0.9 to 1.1, `fraction` (in `[0, 1)`) choosing it.
fn jittered(every: Duration, fraction: f64) -> Duration {
    every.mul_f64(0.9 + 0.2 * fraction.clamp(0.0, 1.0))
}

/// A uniform fraction in `[0, 1)` from the random bits of a UUIDv4 (the crate's random
/// source already; a refresh time needs no cryptographic quality, only spread).
fn random_fraction() -> f64 {
    // The first four bytes of a v4 UUID are random (the version and variant bits are
    // further on).
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let bits = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    f64::from(bits) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_times_carry_ten_percent_of_jitter() {
        let every = Duration::from_secs(600);
        assert_eq!(jittered(every, 0.0), Duration::from_secs(540));
        assert_eq!(jittered(every, 0.5), every);
        assert!(jittered(every, 0.999_999) <= Duration::from_secs(660));
        let times: Vec<Duration> = (0..200)
            .map(|_| jittered(every, random_fraction()))
            .collect();
        assert!(times
            .iter()
            .all(|t| (Duration::from_secs(540)..Duration::from_secs(660)).contains(t)));
        // Spread over the range, not one value: some in each fifth of it.
        for fifth in 0..5u64 {
            let low = Duration::from_secs(540 + 24 * fifth);
            let high = low + Duration::from_secs(24);
            assert!(
                times.iter().any(|t| (low..high).contains(t)),
                "none in {low:?}..{high:?}"
            );
        }
    }
}
