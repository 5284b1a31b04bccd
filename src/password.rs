//! Password hashing with Argon2id at OWASP's parameters (m = 19456 KiB, t = 2, p = 1,
//! 16-byte random salt), stored as PHC strings.
//!
//! [`PasswordHasher`] runs the work on its own small pool of threads, one per core by
//! default, so a burst of logins can neither starve the async runtime nor exhaust memory
//! (each hash holds 19 MiB); a caller that waits longer than the configured bound gets
//! [`PasswordError::Busy`] instead of queueing forever. On Linux the pool runs under the
//! `SCHED_IDLE` policy: request handling preempts hashing whenever it wakes up, and hashing
//! gets every idle cycle, so a login storm neither starves other routes nor wastes the
//! machine. (The scheduler can still let a hash finish its tick before a request that was
//! already runnable, so every extra thread hop on a request path, such as a blocking-pool
//! round trip, is a small chance of a millisecond-scale wait while all cores hash; fewer
//! hashing threads, via [`PasswordHasher::with_limits`], trade hashing throughput for that
//! tail.)
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tower_jwt_auth::password::{self, PasswordHasher};
//!
//! let hasher = PasswordHasher::new();
//! let phc = hasher.hash("correct horse battery staple").await.unwrap();
//! assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
//!
//! // Accepted: the right password.
//! assert!(hasher.verify("correct horse battery staple", &phc).await.unwrap());
//! // Rejected: a wrong one.
//! assert!(!hasher.verify("Tr0ub4dor&3", &phc).await.unwrap());
//! assert!(!password::needs_rehash(&phc));
//! # }
//! ```

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Argon2, Params, PasswordHash, PasswordHasher as _};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Why a password could not be hashed or checked.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    /// Every hashing slot stayed busy for longer than the configured wait.
    Busy,
    /// The stored hash is not a PHC string this crate can verify.
    InvalidHash,
    /// An admitted job took longer than the configured bound
    /// ([`PasswordHasher::max_hash_time`]); its slot stays taken until it ends.
    Timeout,
    /// Hashing failed (e.g. no randomness for the salt) or its job panicked.
    Failed(String),
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::Busy => f.write_str("too many password checks in progress"),
            PasswordError::InvalidHash => f.write_str("the stored password hash is invalid"),
            PasswordError::Timeout => f.write_str("a password check took too long"),
            PasswordError::Failed(why) => write!(f, "password hashing failed: {why}"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// Hashes `password` with Argon2id at the default parameters, on the calling thread.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Failed(e.to_string()))
}

/// A hash at today's parameters that no password is expected to match: unknown users are
/// checked against it so that they cost as much as known ones. Its salt is fixed, so it
/// needs no randomness.
fn dummy_hash() -> String {
    Argon2::default()
        .hash_password_with_salt(b"tower-jwt-auth: no such user", b"tower-jwt-auth-d")
        .map(|hash| hash.to_string())
        .unwrap_or_default()
}

/// Checks `password` against a stored PHC string, on the calling thread. The parameters
/// come from the PHC string, so older, weaker hashes still verify; parameters beyond
/// [`MAX_M_COST`], [`MAX_T_COST`] or [`MAX_P_COST`] are refused as
/// [`PasswordError::InvalidHash`] (a stored hash must not be able to cost minutes).
pub fn verify(password: &str, phc: &str) -> Result<bool, PasswordError> {
    verify_with(password, phc, false)
}

/// The largest memory cost (KiB) a stored hash may ask for: 256 MiB.
pub const MAX_M_COST: u32 = 256 * 1024;
/// The largest time cost (passes) a stored hash may ask for.
pub const MAX_T_COST: u32 = 64;
/// The largest parallelism a stored hash may ask for.
pub const MAX_P_COST: u32 = 16;

/// Memory kept by each pool thread for verification: up to 64 MiB (`m` up to 65536 KiB).
const REUSED_BLOCKS_MAX: usize = 65_536;

thread_local! {
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`verify`], computing into this thread's reusable Argon2 memory (the pool's threads).
fn verify_reusing_memory(password: &str, phc: &str) -> Result<bool, PasswordError> {
    verify_with(password, phc, true)
}

fn verify_with(password: &str, phc: &str, reuse_memory: bool) -> Result<bool, PasswordError> {
    fn invalid<E>(_: E) -> PasswordError {
        PasswordError::InvalidHash
    }
    let parsed = PasswordHash::new(phc).map_err(invalid)?;
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm.as_str()).map_err(invalid)?;
    let version = match parsed.version {
        Some(v) => argon2::Version::try_from(v).map_err(invalid)?,
        None => argon2::Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(invalid)?;
    if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        return Err(PasswordError::InvalidHash);
    }
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(PasswordError::InvalidHash);
    };
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let blocks = params.block_count();
    let computed = if reuse_memory && blocks <= REUSED_BLOCKS_MAX {
        BLOCKS.with_borrow_mut(|memory| {
            memory.resize(blocks, argon2::Block::default());
            argon2.hash_password_into_with_memory(
                password.as_bytes(),
                salt.as_ref(),
                &mut out,
                &mut memory[..],
            )
        })
    } else {
        argon2.hash_password_into(password.as_bytes(), salt.as_ref(), &mut out)
    };
    computed.map_err(|_| PasswordError::InvalidHash)?;
    Ok(out.ct_eq(expected).into())
}

/// Whether a stored hash is weaker than the current parameters (another algorithm or
/// variant, or lower memory, time or parallelism cost) and should be replaced.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT || parsed.version != Some(0x13) {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(params) => {
            params.m_cost() < Params::DEFAULT_M_COST
                || params.t_cost() < Params::DEFAULT_T_COST
                || params.p_cost() < Params::DEFAULT_P_COST
        }
        Err(_) => true,
    }
}

/// Runs hashing and verification on a dedicated pool of low-priority threads, a bounded
/// number at once.
///
/// Every call is bounded in time: waiting for a slot by `max_wait` ([`PasswordError::Busy`]),
/// running by [`max_hash_time`](Self::max_hash_time) ([`PasswordError::Timeout`]). A job that
/// panics answers [`PasswordError::Failed`] and its thread serves on.
///
/// Cheap to clone; clones share the pool and the bound. The threads end when the last clone
/// is dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    jobs: std::sync::mpsc::Sender<Job>,
    max_concurrent: usize,
    max_wait: Duration,
    max_hash_time: Duration,
    login: Arc<LoginCost>,
}

type Job = Box<dyn FnOnce() + Send>;

/// What a failed login must cost, so that every failure costs the same.
#[derive(Default)]
struct LoginCost {
    /// A hash at today's parameters that no password matches (see [`dummy_hash`]).
    dummy: std::sync::OnceLock<String>,
    /// How long verifying against it takes, in nanoseconds (a moving average; 0: not yet
    /// measured).
    reference_nanos: std::sync::atomic::AtomicU64,
}

impl LoginCost {
    /// Verifies `password` against the dummy hash and records how long that took.
    fn verify_dummy(&self, password: &str) {
        let dummy = self.dummy.get_or_init(dummy_hash);
        let started = Instant::now();
        let _ = verify_reusing_memory(password, dummy);
        let took = started.elapsed().as_nanos() as u64;
        let old = self.reference_nanos.load(Ordering::Relaxed);
        let new = if old == 0 { took } else { (old * 4 + took) / 5 };
        self.reference_nanos.store(new, Ordering::Relaxed);
    }

    fn reference(&self) -> Option<Duration> {
        match self.reference_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("max_concurrent", &self.max_concurrent)
            .field("max_wait", &self.max_wait)
            .field("max_hash_time", &self.max_hash_time)
            .finish()
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// As many hashes at once as the machine has cores; callers wait at most 1 s for one.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_limits(cores, Duration::from_secs(1))
    }

    /// At most `max_concurrent` hashes at once (at least 1), each on its own thread; callers
    /// wait at most `max_wait` for a slot before getting [`PasswordError::Busy`].
    pub fn with_limits(max_concurrent: usize, max_wait: Duration) -> Self {
        let max_concurrent = max_concurrent.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..max_concurrent {
            let queue = queue.clone();
            let _ = std::thread::Builder::new()
                .name(format!("password-hasher-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job drops its answer channel (the caller hears
                            // `Failed`); the thread serves on.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                            }
                            Err(_) => return, // every hasher was dropped
                        }
                    }
                });
        }
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            jobs,
            max_concurrent,
            max_wait,
            max_hash_time: Duration::from_secs(10),
            login: Arc::default(),
        }
    }

    /// How long an admitted hash or verification may run before the caller gets
    /// [`PasswordError::Timeout`] (default 10 s; at OWASP's parameters one takes tens of
    /// milliseconds). The thread finishes the job regardless, and its slot stays taken until
    /// then, so a flood of slow jobs still cannot pile up.
    pub fn max_hash_time(mut self, max: Duration) -> Self {
        self.max_hash_time = max;
        self
    }

    /// Hashes `password` (see [`hash`]).
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        self.run(move || hash(&password)).await
    }

    /// Checks `password` against a stored PHC string (see [`verify`]). Each pool thread
    /// keeps its Argon2 memory between calls instead of allocating (and faulting in) 19 MiB
    /// every time.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool, PasswordError> {
        let (password, phc) = (password.to_owned(), phc.to_owned());
        self.run(move || verify_reusing_memory(&password, &phc))
            .await
    }

    /// Checks a login attempt: `password` against the user's stored hash, or `None` for an
    /// unknown user. Every failure costs what a check at today's parameters costs, so that
    /// timing does not tell which accounts exist: an unknown user and a malformed stored
    /// hash are checked against a dummy hash, and a hash made with weaker parameters is
    /// padded (by waiting, which takes no hashing slot) to the dummy's measured cost. A
    /// malformed hash answers `Ok(false)`. (Hashes made with stronger parameters than
    /// today's cost more; they are not padded down.)
    pub async fn verify_login(
        &self,
        password: &str,
        stored: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let (password, stored) = (password.to_owned(), stored.map(str::to_owned));
        let login = self.login.clone();
        let (matches, pad) = self
            .run(move || {
                let Some(phc) = stored else {
                    login.verify_dummy(&password);
                    return Ok((false, Duration::ZERO));
                };
                let started = Instant::now();
                match verify_reusing_memory(&password, &phc) {
                    Ok(matches) if needs_rehash(&phc) => match login.reference() {
                        Some(reference) => {
                            Ok((matches, reference.saturating_sub(started.elapsed())))
                        }
                        None => {
                            login.verify_dummy(&password);
                            Ok((matches, Duration::ZERO))
                        }
                    },
                    Ok(matches) => Ok((matches, Duration::ZERO)),
                    Err(_) => {
                        login.verify_dummy(&password);
                        Ok((false, Duration::ZERO))
                    }
                }
            })
            .await?;
        if !pad.is_zero() {
            tokio::time::sleep(pad).await;
        }
        Ok(matches)
    }

    async fn run<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        F: FnOnce() -> Result<T, PasswordError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let (done, result) = tokio::sync::oneshot::channel();
        // The permit travels with the job: it is held until the hash is done even if the
        // caller gives up, so abandoned requests cannot pile up hashes. There are as many
        // threads as permits, so a job never waits in the queue.
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = done.send(work());
        });
        self.jobs
            .send(job)
            .map_err(|_| PasswordError::Failed("the hashing threads are gone".into()))?;
        match tokio::time::timeout(self.max_hash_time, result).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(PasswordError::Failed("a hashing job panicked".into())),
            Err(_) => Err(PasswordError::Timeout),
        }
    }
}

/// Gives the calling thread the lowest scheduling priority. On Linux: the `SCHED_IDLE`
/// policy, which runs the thread only when no ordinary thread wants the CPU (falling back to
/// nice 19). Elsewhere the threads keep the default priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        use thread_priority::{set_current_thread_priority, ThreadPriority};
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle).is_err() {
            if let Err(err) = set_current_thread_priority(ThreadPriority::Min) {
                tracing::debug!("could not lower the password threads' priority: {err:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PHC string for "pw" with the given variant, version and parameters.
    fn phc(algorithm: argon2::Algorithm, version: argon2::Version, params: Params) -> String {
        Argon2::new(algorithm, version, params)
            .hash_password(b"pw")
            .unwrap()
            .to_string()
    }

    fn weak() -> String {
        phc(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
    }

    #[test]
    fn weaker_hashes_need_rehash() {
        let weak = weak();
        assert!(needs_rehash(&weak));
        assert!(verify("pw", &weak).unwrap());
        let argon2i = phc(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            Params::default(),
        );
        assert!(needs_rehash(&argon2i));
        assert!(needs_rehash("not a phc string"));
        assert!(!needs_rehash(&hash("pw").unwrap()));
    }

    #[test]
    fn reusing_memory_gives_the_same_answers() {
        let weak = weak();
        let strong = hash("pw").unwrap();
        let argon2i = phc(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x10,
            Params::default(),
        );
        // Alternate sizes and variants so that the buffer is reused, shrunk and grown.
        for phc in [&strong, &weak, &argon2i, &strong, &weak] {
            assert_eq!(verify_reusing_memory("pw", phc), Ok(true), "{phc}");
            assert_eq!(verify_reusing_memory("nope", phc), Ok(false), "{phc}");
            assert_eq!(verify("pw", phc), Ok(true));
        }
        assert_eq!(
            verify_reusing_memory("pw", "$argon2id$garbage"),
            Err(PasswordError::InvalidHash)
        );
        assert_eq!(verify_reusing_memory("pw", &dummy_hash()), Ok(false));
        assert_eq!(verify_reusing_memory("", &dummy_hash()), Ok(false));
    }

    #[test]
    fn invalid_stored_hash() {
        assert_eq!(
            verify("pw", "$argon2id$garbage"),
            Err(PasswordError::InvalidHash)
        );
        assert_eq!(verify("pw", ""), Err(PasswordError::InvalidHash));
    }

    #[test]
    fn salts_are_16_random_bytes() {
        let (a, b) = (hash("pw").unwrap(), hash("pw").unwrap());
        assert_ne!(a, b);
        let salt = PasswordHash::new(&a).unwrap().salt.unwrap();
        assert_eq!(salt.len(), 16);
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_shrink_the_pool() {
        let hasher = PasswordHasher::with_limits(1, Duration::from_secs(5));
        for _ in 0..3 {
            let failed = hasher
                .run(|| -> Result<(), PasswordError> { panic!("a job panicked") })
                .await;
            assert!(
                matches!(failed, Err(PasswordError::Failed(_))),
                "{failed:?}"
            );
        }
        // The one thread still serves.
        let phc = hash("pw").unwrap();
        assert_eq!(hasher.verify("pw", &phc).await, Ok(true));
    }

    #[tokio::test]
    async fn an_admitted_job_is_bounded_in_time() {
        // 64 MiB and 40 passes: about a second of hashing.
        let slow = phc(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(65_536, 40, 1, None).unwrap(),
        );
        let hasher = PasswordHasher::with_limits(1, Duration::from_secs(10))
            .max_hash_time(Duration::from_millis(100));
        let started = std::time::Instant::now();
        assert_eq!(
            hasher.verify("pw", &slow).await,
            Err(PasswordError::Timeout)
        );
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn absurd_stored_parameters_are_refused_without_hashing() {
        for params in [
            Params::new(MAX_M_COST + 8, 1, 1, None).unwrap(),
            Params::new(8, MAX_T_COST + 1, 1, None).unwrap(),
            Params::new(8 * (MAX_P_COST + 1), 1, MAX_P_COST + 1, None).unwrap(),
        ] {
            // A PHC string naming the parameters (the hash itself is never computed).
            let cheap = phc(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                Params::new(8, 1, 1, None).unwrap(),
            );
            let named = cheap.replacen(
                "m=8,t=1,p=1",
                &format!(
                    "m={},t={},p={}",
                    params.m_cost(),
                    params.t_cost(),
                    params.p_cost()
                ),
                1,
            );
            assert_eq!(
                verify("pw", &named),
                Err(PasswordError::InvalidHash),
                "{named}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn excess_callers_get_busy() {
        let hasher = PasswordHasher::with_limits(1, Duration::from_millis(1));
        let phc = hash("pw").unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (hasher, phc) = (hasher.clone(), phc.clone());
                tokio::spawn(async move { hasher.verify("pw", &phc).await })
            })
            .collect();
        let mut busy = 0;
        let mut ok = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(true) => ok += 1,
                Err(PasswordError::Busy) => busy += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(ok >= 1, "one slot always serves");
        assert!(
            busy >= 1,
            "a 1 ms wait cannot cover six hashes of milliseconds each on one slot"
        );
    }
}
