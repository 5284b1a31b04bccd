//! [`PasswordHasher`]: hashing and verification on a dedicated pool of low-priority threads,
//! bounded in number and in time, with logins that cost the same whatever the account.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use argon2::Params;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{dummy_hash, hash_with, verify_reusing_memory, weaker_than, PasswordError};

/// The stack of each hashing thread: Argon2's memory is on the heap, and a job needs a
/// few tens of KiB of stack.
pub(crate) const THREAD_STACK_SIZE: usize = 256 * 1024;

/// Runs hashing and verification on a dedicated pool of low-priority threads, a bounded
/// number at once.
///
/// Every call is bounded in time: waiting for a slot by `max_wait` ([`PasswordError::Busy`]),
/// running by [`max_hash_time`](Self::max_hash_time) ([`PasswordError::Timeout`]). A job that
/// panics answers [`PasswordError::Failed`] and its thread serves on.
///
/// Threads start on demand: none when the hasher is made, one more each time every
/// started thread is busy, up to `max_concurrent` ([`threads_started`](Self::threads_started)),
/// so a pool holds as many threads as it ever had hashes at once. Each holds, while idle:
///
/// - its stack: 256 KiB reserved (a few KiB touched);
/// - the Argon2 memory of the largest hash it verified, kept for the next verification
///   instead of being allocated and faulted in every time: 19 MiB at OWASP's parameters,
///   at most 64 MiB (a stored hash asking for more, up to [`MAX_M_COST`](super::MAX_M_COST),
///   gets memory of its own for that job only). Kept rather than freed on purpose: with
///   glibc, 19 MiB blocks freed by several threads stay in their arenas: over bursts of
///   four concurrent verifications, freeing the memory after each idle second let the
///   process's resident set grow from burst to burst (83 MiB, then 159 MiB) where reusing
///   it keeps it at 83 MiB.
///
/// So at OWASP's parameters, a pool that once ran `n` hashes at once keeps about
/// `n` × 19.3 MiB resident (`max_concurrent` is the number of cores by default).
///
/// Cheap to clone; clones share the pool and the bound. The threads end when the last clone
/// is dropped.
#[derive(Clone)]
#[must_use = "a hasher does nothing until it hashes"]
pub struct PasswordHasher {
    pool: Arc<Pool>,
    max_concurrent: usize,
    max_wait: Duration,
    max_hash_time: Duration,
    /// The Argon2id parameters of new hashes and of the dummy (OWASP's by default).
    params: Params,
    login: Arc<LoginCost>,
}

/// The threads, started on demand.
struct Pool {
    permits: Arc<Semaphore>,
    /// Idle threads, the one busy last on top (its Argon2 memory is warm): each the sender
    /// of its own job channel. Dropping them (with the pool) ends the threads.
    idle: Mutex<Vec<mpsc::Sender<Job>>>,
    started: AtomicUsize,
}

/// Work for a hashing thread: computes, and answers the delivery of the result, which the
/// thread runs once it is idle again (so that the caller, answered, finds it idle).
type Work = Box<dyn FnOnce() -> Box<dyn FnOnce() + Send> + Send>;

/// A job for one thread: the work, the slot it holds until the work is done, and the
/// thread's own sender, put back among the idle ones afterwards.
struct Job {
    work: Work,
    permit: OwnedSemaphorePermit,
    thread: mpsc::Sender<Job>,
}

impl Pool {
    /// Hands `work` to an idle thread, or to a new one when every started thread is busy.
    /// There are never more threads than slots: each is idle, or holds the slot of its job
    /// until it is idle again, and the caller holds one (`permit`) while finding none idle.
    fn dispatch(
        self: &Arc<Self>,
        work: Work,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), PasswordError> {
        let mut job = (work, permit);
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(thread) = idle else {
                return self.spawn(job.0, job.1);
            };
            let (work, permit) = job;
            match thread.send(Job {
                work,
                permit,
                thread: thread.clone(),
            }) {
                Ok(()) => return Ok(()),
                // That thread is gone: another one.
                Err(mpsc::SendError(back)) => job = (back.work, back.permit),
            }
        }
    }

    fn spawn(
        self: &Arc<Self>,
        work: Work,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), PasswordError> {
        let (thread, jobs) = mpsc::channel::<Job>();
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let pool = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name(format!("password-hasher-{n}"))
            .stack_size(THREAD_STACK_SIZE)
            .spawn(move || serve(&jobs, &pool));
        if let Err(err) = spawned {
            self.started.fetch_sub(1, Ordering::Relaxed);
            return Err(PasswordError::Failed(format!(
                "could not start a hashing thread: {err}"
            )));
        }
        thread
            .send(Job {
                work,
                permit,
                thread: thread.clone(),
            })
            .map_err(|_| PasswordError::Failed("the hashing thread is gone".into()))
    }
}

/// A hashing thread: runs the jobs sent to it, and ends with its pool.
fn serve(jobs: &mpsc::Receiver<Job>, pool: &Weak<Pool>) {
    lower_priority();
    loop {
        let Ok(job) = jobs.recv() else {
            return; // every hasher was dropped
        };
        let Job {
            work,
            permit,
            thread,
        } = job;
        // A panicking job drops its answer channel (the caller hears `Failed`); the thread
        // serves on.
        let delivery = std::panic::catch_unwind(AssertUnwindSafe(work));
        // Idle again before the caller hears the answer and before the slot is free, so
        // that the next job finds this thread rather than starting another.
        let alive = pool.upgrade();
        if let Some(alive) = &alive {
            alive
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(thread);
        }
        if let Ok(deliver) = delivery {
            deliver();
        }
        drop(permit);
        if alive.is_none() {
            return; // every hasher was dropped
        }
    }
}

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
            .field("threads_started", &self.threads_started())
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
        Self {
            pool: Arc::new(Pool {
                permits: Arc::new(Semaphore::new(max_concurrent)),
                idle: Mutex::new(Vec::with_capacity(max_concurrent)),
                started: AtomicUsize::new(0),
            }),
            max_concurrent,
            max_wait,
            max_hash_time: Duration::from_secs(10),
            params: Params::default(),
            login: Arc::default(),
        }
    }

    /// How many threads the pool has started: none until the first hash, then one more
    /// each time every started thread was busy, at most `max_concurrent` (for metrics and
    /// tests).
    pub fn threads_started(&self) -> usize {
        self.pool.started.load(Ordering::Relaxed)
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

    /// Checks `password` against a stored PHC string (see [`verify`](super::verify)). Each pool
    /// thread keeps its Argon2 memory between calls (at most 64 MiB) instead of allocating
    /// (and faulting in) 19 MiB every time.
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
        // Counted while waiting, also when the caller gives up meanwhile (dropped).
        let waiting = crate::telemetry::PasswordWaiting::start();
        let permit =
            tokio::time::timeout(self.max_wait, self.pool.permits.clone().acquire_owned()).await;
        drop(waiting);
        let permit = permit
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let (done, result) = tokio::sync::oneshot::channel();
        // The permit travels with the job: it is held until the hash is done even if the
        // caller gives up, so abandoned requests cannot pile up hashes. A job goes to an
        // idle thread or a new one, so it never waits in a queue.
        self.pool.dispatch(
            Box::new(move || {
                let started = std::time::Instant::now();
                let answer = work();
                crate::telemetry::password_hash(started.elapsed());
                Box::new(move || {
                    let _ = done.send(answer);
                })
            }),
            permit,
        )?;
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

    fn phc_of(params: Params) -> String {
        phc(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn threads_start_on_demand_up_to_the_limit() {
        let hasher = PasswordHasher::with_limits(3, Duration::from_secs(10));
        assert_eq!(hasher.threads_started(), 0, "none before the first job");
        let phc = hash("pw").unwrap();
        for _ in 0..3 {
            assert_eq!(hasher.verify("pw", &phc).await, Ok(true));
            assert_eq!(hasher.threads_started(), 1, "one after another: one thread");
        }
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move {
                    hasher
                        .run(|| {
                            std::thread::sleep(Duration::from_millis(50));
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        assert_eq!(hasher.threads_started(), 3, "six at once: the limit");
    }

    #[tokio::test]
    async fn the_argon2_memory_a_thread_keeps_is_bounded() {
        let hasher = PasswordHasher::with_limits(1, Duration::from_secs(10));
        let kept =
            || hasher.run(|| Ok(crate::password::BLOCKS.with_borrow(|memory| memory.capacity())));
        assert_eq!(kept().await, Ok(0), "nothing before the first verification");
        let phc = hash("pw").unwrap(); // OWASP's parameters: 19456 blocks of 1 KiB
        assert_eq!(hasher.verify("pw", &phc).await, Ok(true));
        assert_eq!(kept().await, Ok(19_456), "kept for the next verification");
        // A stored hash asking for more than 64 MiB gets memory of its own for that job.
        let big = phc_of(Params::new(80 * 1024, 1, 1, None).unwrap());
        assert_eq!(hasher.verify("pw", &big).await, Ok(true));
        assert_eq!(kept().await, Ok(19_456));
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
