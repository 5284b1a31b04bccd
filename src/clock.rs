//! The one clock a manager reads time from: issuing (`iat`, `nbf`, `exp`, `fresh`),
//! verifying (expiry, not-before, freshness), and revoke-all cut-offs.
//!
//! The system clock is the default; tests plug in a clock of their own with
//! [`JwtManagerBuilder::clock`](crate::manager::JwtManagerBuilder::clock) to move time without
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
//! let at = UNIX_EPOCH + Duration::from_millis(1_900_000_000_250);
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .clock(Stopped(at))
//!     .build()
//!     .unwrap();
//! let token = manager.create_access_token("ada").unwrap();
//!
//! // Accepted: issued and verified at the same instant; `iat` is whole seconds.
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
        numeric_date(self.now())
    }
}

impl fmt::Debug for ClockHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_none() { "system" } else { "custom" })
    }
}

/// `t` as a JWT numeric date: epoch seconds, with a fraction (negative before 1970).
///
/// Stores that keep revoke-all cut-offs as numbers use this and [`from_numeric_date`]: for
/// times to the microsecond (what the crate issues and cuts off at) the two are exact
/// inverses, so a cut-off compares the same after a round trip through a store.
pub fn numeric_date(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The instant a numeric date (epoch seconds) denotes, to the microsecond; `None` when it is
/// not a time a `SystemTime` can hold (not finite, or out of range). See [`numeric_date`].
pub fn from_numeric_date(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() {
        return None;
    }
    let micros = (secs.abs() * 1e6).round();
    if micros >= u64::MAX as f64 {
        return None;
    }
    let magnitude = Duration::from_micros(micros as u64);
    if secs >= 0.0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// The latest numeric date accepted in a claim (9999-12-31T23:59:59Z); `1e300` and friends
/// are refused.
pub(crate) const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// `t` to the millisecond (rounded down): the precision of the issue time a token's `jti`
/// carries, and of revoke-all cut-offs. Both go through [`numeric_date`] from here, so
/// comparing them as numbers compares the milliseconds.
pub(crate) fn to_millis(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_millis(d.as_millis() as u64),
        Err(_) => UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_conversions() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(numeric_date(t), 1_700_000_000.123456);
        assert_eq!(numeric_date(UNIX_EPOCH - Duration::from_secs(2)), -2.0);
        assert_eq!(
            from_numeric_date(2.5),
            Some(UNIX_EPOCH + Duration::from_millis(2500))
        );
        assert_eq!(
            from_numeric_date(-2.0),
            Some(UNIX_EPOCH - Duration::from_secs(2))
        );
        assert_eq!(from_numeric_date(f64::NAN), None);
        assert_eq!(from_numeric_date(f64::INFINITY), None);
        assert_eq!(from_numeric_date(1e300), None);
        assert_eq!(
            to_millis(UNIX_EPOCH + Duration::from_nanos(1_500_999_999)),
            UNIX_EPOCH + Duration::from_millis(1_500)
        );
    }
}
