//! [`PasswordHasher`]: hashing and verification on a dedicated pool of low-priority threads,
//! bounded in number and in time, with logins that cost the same whatever the account.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::Params;
use tokio::sync::Semaphore;

use super::{dummy_hash, hash_with, verify_reusing_memory, weaker_than, PasswordError};

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
    /// The Argon2id parameters of new hashes and of the dummy (OWASP's by default).
    params: Params,
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
    fn verify_dummy(&self, password: &str, params: &Params) {
        let dummy = self.dummy.get_or_init(|| dummy_hash(params));
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
            params: Params::default(),
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

    /// Argon2id with other parameters than OWASP's, for new hashes and the dummy (the test
    /// kit's deliberately weak ones).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self.login = Arc::default();
        self
    }

    /// Hashes `password` with Argon2id at this hasher's parameters (OWASP's, see [`hash`](super::hash)).
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let (password, params) = (password.to_owned(), self.params.clone());
        self.run(move || hash_with(&password, &params)).await
    }

    /// Whether a stored hash is weaker than this hasher's parameters and should be replaced
    /// (see [`needs_rehash`](super::needs_rehash)).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        weaker_than(phc, &self.params)
    }

    /// Checks `password` against a stored PHC string (see [`verify`](super::verify)). Each pool thread
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
        let (login, params) = (self.login.clone(), self.params.clone());
        let (matches, pad) = self
            .run(move || {
                let Some(phc) = stored else {
                    login.verify_dummy(&password, &params);
                    return Ok((false, Duration::ZERO));
                };
                let started = Instant::now();
                match verify_reusing_memory(&password, &phc) {
                    Ok(matches) if weaker_than(&phc, &params) => match login.reference() {
                        Some(reference) => {
                            Ok((matches, reference.saturating_sub(started.elapsed())))
                        }
                        None => {
                            login.verify_dummy(&password, &params);
                            Ok((matches, Duration::ZERO))
                        }
                    },
                    Ok(matches) => Ok((matches, Duration::ZERO)),
                    Err(_) => {
                        login.verify_dummy(&password, &params);
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
    use crate::password::hash;

    use crate::password::tests::phc;

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
