//! The one clock a manager reads time from: issuing (`iat`, `nbf`, `exp`, `fresh`),
//! verifying (expiry, not-before, freshness), and revoke-all cut-offs.
//!
//! The system clock is the default; tests plug in a clock of their own with
//! [`JwtManagerBuilder::clock`](crate::JwtManagerBuilder::clock) to move time without
//! sleeping or backdating tokens.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use tower_jwt_auth::clock::Clock;
//! use tower_jwt_auth::JwtManager;
//!
//! /// A clock stopped at one instant.
//! struct Stopped(SystemTime);
//! impl Clock for Stopped {
//!     fn now(&self) -> SystemTime {
//!         self.0
//!     }
//! }
//!
//! let at = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .clock(Stopped(at))
//!     .build()
//!     .unwrap();
//! let token = manager.create_access_token("ada").unwrap();
//!
//! // Accepted: issued and verified at the same instant.
//! let verified = manager.decode_token(&token).unwrap();
//! assert_eq!(verified.issued_at(), Some(1_900_000_000.0));
//!
//! // Rejected: the system clock is far behind this manager's, but only this manager's
//! // clock counts, so its tokens are "not yet valid" for a manager on the system clock.
//! let other = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! assert_eq!(
//!     other.decode_token(&token).unwrap_err().message(),
//!     "The token is not yet valid (iat)"
//! );
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
///
/// Implemented by [`SystemClock`] (the default) and by any clock a test wants to control.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock ([`SystemTime::now`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The clock a manager holds: the system clock without an indirect call, or another one.
#[derive(Clone, Default)]
pub(crate) struct ClockHandle(Option<Arc<dyn Clock>>);

impl ClockHandle {
    pub(crate) fn new(clock: impl Clock) -> Self {
        Self(Some(Arc::new(clock)))
    }

    pub(crate) fn now(&self) -> SystemTime {
        match &self.0 {
            None => SystemTime::now(),
            Some(clock) => clock.now(),
        }
    }

    /// Now, in epoch seconds.
    pub(crate) fn now_secs(&self) -> f64 {
        epoch_secs(self.now())
    }
}

impl fmt::Debug for ClockHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_none() { "system" } else { "custom" })
    }
}

/// `t` in epoch seconds (negative before 1970).
pub(crate) fn epoch_secs(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The instant `secs` epoch seconds denote; `None` when it is not a time a `SystemTime` can
/// hold (not finite, or out of range).
#[allow(dead_code)] // used by the revocation fixes that follow
pub(crate) fn from_epoch_secs(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() {
        return None;
    }
    let magnitude = Duration::try_from_secs_f64(secs.abs()).ok()?;
    if secs >= 0.0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_conversions() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(epoch_secs(t), 1_700_000_000.123456);
        assert_eq!(epoch_secs(UNIX_EPOCH - Duration::from_secs(2)), -2.0);
        assert_eq!(
            from_epoch_secs(2.5),
            Some(UNIX_EPOCH + Duration::from_millis(2500))
        );
        assert_eq!(
            from_epoch_secs(-2.0),
            Some(UNIX_EPOCH - Duration::from_secs(2))
        );
        assert_eq!(from_epoch_secs(f64::NAN), None);
        assert_eq!(from_epoch_secs(f64::INFINITY), None);
        assert_eq!(from_epoch_secs(1e300), None);
    }
}
