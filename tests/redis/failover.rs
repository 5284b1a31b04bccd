//! Nothing acknowledged is lost when the topology changes under the instances: a Sentinel
//! failover and a Cluster failover (the primary SIGKILLed right after a batch of revocations
//! was acknowledged), and a Cluster slot migration. After each, every instance's view is
//! untrusted until reloaded from the new primary, trusted again within 5 s, and from then on
//! no guarded request gets a 5xx.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use tower_jwt_auth::denylist::RedisDenylist;
use tower_jwt_auth::JwtManager;

use super::fleet::{Fleet, Kind};
use super::topology;
use super::{app, call, instance, refused_within, REVOKED};

const PREFIX: &str = "fo:";

/// A batch of tokens of A, revoked on A (each acknowledged).
async fn revoke_batch(a: &JwtManager, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..n {
        let token = a.create_access_token(format!("user-{i}")).unwrap();
        a.revoke(&a.decode_token(&token).unwrap()).await.unwrap();
        tokens.push(token);
    }
    tokens
}

/// Watches instances' views from before a change: each must be seen untrusted (the change
/// noticed) and then trusted again (reloaded).
struct Watch {
    seen_untrusted: Arc<Vec<AtomicBool>>,
    stop: Arc<AtomicBool>,
}

impl Watch {
    fn start(lists: &[&RedisDenylist]) -> Self {
        let lists: Vec<RedisDenylist> = lists.iter().map(|l| (*l).clone()).collect();
        let seen_untrusted = Arc::new(
            lists
                .iter()
                .map(|_| AtomicBool::new(false))
                .collect::<Vec<_>>(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        tokio::spawn({
            let (seen, stop) = (seen_untrusted.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    for (list, seen) in lists.iter().zip(seen.iter()) {
                        if !list.is_trusted() {
                            seen.store(true, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
            }
        });
        Self {
            seen_untrusted,
            stop,
        }
    }

    /// Waits until every view was seen untrusted and is trusted again, at most `within`
    /// after `since`; returns how long after `since` the last one was trusted again.
    async fn reloaded(
        &self,
        lists: &[&RedisDenylist],
        since: Instant,
        within: Duration,
    ) -> Duration {
        loop {
            let done = lists
                .iter()
                .zip(self.seen_untrusted.iter())
                .all(|(l, seen)| seen.load(Ordering::Relaxed) && l.is_trusted());
            if done {
                self.stop.store(true, Ordering::Relaxed);
                return since.elapsed();
            }
            assert!(
                since.elapsed() < within,
                "views noticed the change and were reloaded within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Guarded requests with a valid token on `jwt`, as fast as they come, until stopped;
/// counts the 5xx answers given while `watching` (once the views are trusted again).
struct Traffic {
    stop: Arc<AtomicBool>,
    watching: Arc<AtomicBool>,
    errors: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Traffic {
    fn start(jwt: &JwtManager) -> Self {
        let router = app(jwt);
        let token = jwt.create_access_token("traffic").unwrap();
        let (stop, watching) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (errors, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let task = tokio::spawn({
            let (stop, watching, errors, calls) = (
                stop.clone(),
                watching.clone(),
                errors.clone(),
                calls.clone(),
            );
            async move {
                while !stop.load(Ordering::Relaxed) {
                    let (status, _) = call(&router, "/", &token).await;
                    if watching.load(Ordering::Relaxed) {
                        calls.fetch_add(1, Ordering::Relaxed);
                        if status.is_server_error() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        });
        Self {
            stop,
            watching,
            errors,
            calls,
            task,
        }
    }

    /// Stops; returns (guarded calls while watching, 5xx among them).
    async fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        (
            self.calls.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

/// After the topology changed at `since`: the views reload within 5 s; from then on no 5xx;
/// the batch stays refused on both instances and for an instance started now; new
/// revocations reach the other instance.
async fn after_the_change(
    redis: &Fleet,
    (a, a_list): (&JwtManager, &RedisDenylist),
    (b, b_list): (&JwtManager, &RedisDenylist),
    batch: &[String],
    (traffic, watch): (Traffic, Watch),
    since: Instant,
) {
    let trusted_after = watch
        .reloaded(&[a_list, b_list], since, Duration::from_secs(5))
        .await;
    traffic.watching.store(true, Ordering::Relaxed);
    println!("views trusted again {trusted_after:?} after the change");
    for token in batch {
        for jwt in [a, b] {
            assert_eq!(
                call(&app(jwt), "/", token).await,
                (StatusCode::UNAUTHORIZED, REVOKED.into())
            );
        }
    }
    // Redis itself holds every one of them: an instance starting now loads them.
    let (c, _) = instance(redis, PREFIX).await;
    for token in batch {
        assert_eq!(
            call(&app(&c), "/", token).await,
            (StatusCode::UNAUTHORIZED, REVOKED.into()),
            "lost in the change"
        );
    }
    // New revocations work, and reach the other instance.
    let fresh = a.create_access_token("after").unwrap();
    a.revoke(&a.decode_token(&fresh).unwrap()).await.unwrap();
    assert_eq!(
        refused_within(&app(b), &fresh, Duration::from_millis(500)).await,
        (StatusCode::UNAUTHORIZED, REVOKED.into())
    );
    let (calls, errors) = traffic.stop().await;
    assert!(calls > 0, "traffic ran after the views were trusted");
    assert_eq!(
        errors, 0,
        "5xx among {calls} guarded requests after the views were trusted"
    );
}

/// A failover: the primary holding the revocations is SIGKILLed right after a batch of
/// them was acknowledged, and a replica is promoted.
async fn failover(redis: Fleet) {
    let (a, a_list) = instance(&redis, PREFIX).await;
    let (b, b_list) = instance(&redis, PREFIX).await;
    let traffic = Traffic::start(&b);
    let batch = revoke_batch(&a, 50).await;
    let watch = Watch::start(&[&a_list, &b_list]);
    // SIGKILL at once: only what a replica acknowledged survives.
    let channel = redis.revocation_key(PREFIX, "revocations");
    let killed = redis.kill_primary_of(&channel);
    let promoted =
        tokio::task::block_in_place(|| redis.wait_failover(&channel, Duration::from_secs(20)));
    assert_ne!(killed, promoted);
    // The 5 s run from the promotion: before it, there is no primary to reload from.
    let since = Instant::now();
    after_the_change(
        &redis,
        (&a, &a_list),
        (&b, &b_list),
        &batch,
        (traffic, watch),
        since,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_loses_no_acknowledged_revocation() {
    if let Some(redis) = Fleet::start(Kind::Sentinel) {
        failover(redis).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_failover_loses_no_acknowledged_revocation() {
    if let Some(redis) = Fleet::start(Kind::ClusterWithReplicas) {
        failover(redis).await;
    }
}

/// The slot holding the revocations moves to another primary: the subscriptions end with
/// it, and the views reload from the new owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migration_loses_no_revocation() {
    let Some(redis) = Fleet::start(Kind::Cluster) else {
        return;
    };
    let (a, a_list) = instance(&redis, PREFIX).await;
    let (b, b_list) = instance(&redis, PREFIX).await;
    let traffic = Traffic::start(&b);
    let batch = revoke_batch(&a, 50).await;
    let channel = redis.revocation_key(PREFIX, "revocations");
    let owner = redis.primary_of(&channel);
    let to = *redis.primaries().iter().find(|&&p| p != owner).unwrap();
    let watch = Watch::start(&[&a_list, &b_list]);
    let since = Instant::now();
    tokio::task::block_in_place(|| redis.migrate_slot_of(&channel, to));
    assert_eq!(redis.primary_of(&channel), to);
    after_the_change(
        &redis,
        (&a, &a_list),
        (&b, &b_list),
        &batch,
        (traffic, watch),
        since,
    )
    .await;
}

/// A revocation is acknowledged only once a replica of the primary that ran it holds it:
/// with that replica paused, it is reported failed (503 for a logout), and it succeeds
/// again once the replica is back. On a Cluster the script and its `WAIT` go to the slot's
/// primary as one pipeline.
async fn a_paused_replica_fails_revocations(redis: Fleet) {
    let list = RedisDenylist::builder(redis.target())
        .prefix(PREFIX)
        .replica_acks(1, Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    use tower_jwt_auth::denylist::Denylist;
    list.revoke("before", None).await.unwrap();
    let channel = redis.revocation_key(PREFIX, "revocations");
    let replicas = topology::replica_ports(redis.primary_of(&channel));
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    redis.signal(replicas[0], "STOP");
    let refused = list.revoke("while-paused", None).await;
    redis.signal(replicas[0], "CONT");
    let err = refused.expect_err("acknowledged without its replica");
    assert!(err.to_string().contains("replicas"), "{err}");
    // Back: acknowledged again (the replica catches up).
    let start = Instant::now();
    while list.revoke("after", None).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the replica is back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_replica_fails_revocations_behind_sentinel() {
    if let Some(redis) = Fleet::start(Kind::Sentinel) {
        a_paused_replica_fails_revocations(redis).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_replica_fails_revocations_on_a_cluster() {
    if let Some(redis) = Fleet::start(Kind::ClusterWithReplicas) {
        a_paused_replica_fails_revocations(redis).await;
    }
}
