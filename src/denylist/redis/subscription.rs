//! The subscription that keeps an instance's local view complete and live: snapshot with
//! retries, messages applied as they come, a ping barrier before trusting the view, and
//! liveness pings. On one node (or Sentinel's primary) a plain pub/sub connection; on a
//! Cluster, a sharded subscription (`SSUBSCRIBE`) on the primary of the channel's slot,
//! through a Cluster connection of its own: its disconnection, or the server ending the
//! subscription because the slot moved, counts as lost.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use redis::aio::{PubSubSink, PubSubStream};
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{BoxFuture, DenylistError, Inner};
use crate::redis_connection::{Link, RedisConnection};

/// A live subscription to the revocation channel.
enum Subscriber {
    Node {
        sink: PubSubSink,
        stream: PubSubStream,
        /// The node subscribed to (compared with the primary Sentinel names).
        node: Option<(String, u16)>,
    },
    Cluster {
        link: Link,
        pushes: UnboundedReceiver<PushInfo>,
        channel: String,
        // Keeps the connection's task alive with the subscription.
        _connection: ClusterConnection,
    },
}

/// What a subscription heard.
enum Heard {
    Message(Option<String>),
    Nothing,
}

impl Subscriber {
    async fn open(redis: &RedisConnection, channel: &str) -> Result<Self, String> {
        if redis.is_cluster() {
            let (tx, pushes) = tokio::sync::mpsc::unbounded_channel();
            let mut connection = redis
                .cluster_subscriber(tx)
                .await
                .map_err(|e| format!("connecting failed: {e}"))?;
            connection
                .ssubscribe(channel)
                .await
                .map_err(|e| format!("subscribing failed: {e}"))?;
            Ok(Subscriber::Cluster {
                link: Link::Cluster(connection.clone()),
                pushes,
                channel: channel.to_owned(),
                _connection: connection,
            })
        } else {
            let client = redis
                .node_client()
                .await
                .map_err(|e| format!("finding the node failed: {e}"))?;
            let mut pubsub = client
                .get_async_pubsub()
                .await
                .map_err(|e| format!("connecting failed: {e}"))?;
            pubsub
                .subscribe(channel)
                .await
                .map_err(|e| format!("subscribing failed: {e}"))?;
            let (sink, stream) = pubsub.split();
            let node = match client.get_connection_info().addr() {
                redis::ConnectionAddr::Tcp(host, port) => Some((host.clone(), *port)),
                redis::ConnectionAddr::TcpTls { host, port, .. } => Some((host.clone(), *port)),
                _ => None,
            };
            Ok(Subscriber::Node { sink, stream, node })
        }
    }

    /// The next thing heard; an error when the subscription is lost.
    async fn next(&mut self) -> Result<Heard, String> {
        match self {
            Subscriber::Node { stream, .. } => {
                let message = stream.next().await.ok_or("the subscription closed")?;
                Ok(Heard::Message(message.get_payload::<String>().ok()))
            }
            Subscriber::Cluster { pushes, .. } => {
                let push = pushes.recv().await.ok_or("the subscription closed")?;
                heard(push)
            }
        }
    }

    /// What was heard already, without waiting: `None` when nothing is.
    fn next_now(&mut self) -> Option<Result<Heard, String>> {
        match self {
            Subscriber::Node { stream, .. } => match stream.next().now_or_never()? {
                Some(message) => Some(Ok(Heard::Message(message.get_payload::<String>().ok()))),
                None => Some(Err("the subscription closed".into())),
            },
            Subscriber::Cluster { pushes, .. } => match pushes.try_recv() {
                Ok(push) => Some(heard(push)),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => None,
                Err(_) => Some(Err("the subscription closed".into())),
            },
        }
    }

    /// A liveness `PING` on the subscription's own connection, answered within `within`.
    async fn ping(&mut self, within: Duration) -> Result<(), String> {
        let answered = match self {
            Subscriber::Node { sink, .. } => {
                tokio::time::timeout(within, sink.ping::<Value>()).await
            }
            Subscriber::Cluster { link, channel, .. } => {
                tokio::time::timeout(
                    within,
                    link.query_at_key::<Value>(redis::cmd("PING"), channel),
                )
                .await
            }
        };
        match answered {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(format!("ping failed: {err}")),
            Err(_) => Err(format!("no answer to a ping within {within:?}")),
        }
    }

    /// The periodic check that the subscription still hears what is published (within
    /// `within`). On one node, a `PING` on its connection; behind Sentinel, also that the
    /// node is still the primary Sentinel names (a primary cut off from the Sentinels still
    /// answers, while revocations go to the one they promoted). On a Cluster, the barrier:
    /// a marker published on the channel goes to the slot's owner now, so a subscription
    /// left on a node that lost the slot (or a Cluster that is down) does not hear it back.
    async fn check(
        &mut self,
        redis: &RedisConnection,
        within: Duration,
        apply: impl FnMut(Heard) -> Result<(), String>,
    ) -> Result<(), String> {
        match self {
            Subscriber::Node { node, .. } => {
                let subscribed = node.clone();
                self.ping(within).await?;
                // Any Sentinel naming another primary ends the subscription; none answering
                // keeps it (Sentinels down while the primary serves is no reason to stop
                // trusting what it delivers).
                let named = tokio::time::timeout(within, redis.sentinel_primaries()).await;
                let other = match (named, subscribed) {
                    (Ok(named), Some(node)) => named.into_iter().find(|p| *p != node),
                    _ => None,
                };
                match other {
                    Some(primary) => Err(format!(
                        "a Sentinel names another primary ({}:{})",
                        primary.0, primary.1
                    )),
                    None => Ok(()),
                }
            }
            Subscriber::Cluster { .. } => self.barrier(within, apply).await,
        }
    }

    /// Hears (and hands to `apply`) every message published before it was called, within
    /// `within`. On one node, a `PING` on the subscription's connection: its answer comes
    /// after them. On a Cluster, whose pushes reach this task through redis-rs's own task
    /// (no order against answers), a marker published on the channel and heard back: the
    /// channel's primary delivers in order.
    async fn barrier(
        &mut self,
        within: Duration,
        mut apply: impl FnMut(Heard) -> Result<(), String>,
    ) -> Result<(), String> {
        let marker = match self {
            Subscriber::Node { .. } => {
                self.ping(within).await?;
                while let Some(heard) = self.next_now() {
                    apply(heard?)?;
                }
                return Ok(());
            }
            Subscriber::Cluster { link, channel, .. } => {
                let marker = barrier_marker();
                let published = link.query_at_key::<Value>(
                    redis::cmd("SPUBLISH").arg(&*channel).arg(&marker).clone(),
                    channel,
                );
                match tokio::time::timeout(within, published).await {
                    Ok(Ok(_)) => marker,
                    Ok(Err(err)) => return Err(format!("publishing a barrier failed: {err}")),
                    Err(_) => return Err(format!("no answer to a barrier within {within:?}")),
                }
            }
        };
        let heard_back = async {
            loop {
                match self.next().await? {
                    Heard::Message(Some(text)) if text == marker => return Ok(()),
                    heard => apply(heard)?,
                }
            }
        };
        tokio::time::timeout(within, heard_back)
            .await
            .map_err(|_| format!("the barrier was not heard back within {within:?}"))?
    }
}

/// A barrier message no other instance sends: `b <pid>-<nanoseconds>-<count>`.
fn barrier_marker() -> String {
    use std::sync::atomic::AtomicU64;
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("b {}-{nanos}-{count}", std::process::id())
}

/// A push of the sharded subscription: a message, or the end of it (the connection
/// dropped, or the slot moved to another primary).
fn heard(push: PushInfo) -> Result<Heard, String> {
    match push.kind {
        PushKind::SMessage | PushKind::Message => {
            let payload = push.data.get(1).and_then(|v| match v {
                Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
                Value::SimpleString(text) => Some(text.clone()),
                _ => None,
            });
            Ok(Heard::Message(payload))
        }
        PushKind::Disconnection => Err("the connection dropped".into()),
        PushKind::SUnsubscribe | PushKind::Unsubscribe => {
            Err("the server ended the subscription (its slot moved)".into())
        }
        _ => Ok(Heard::Nothing),
    }
}

/// Keeps a subscription to the revocation channel, and the local view trusted only while
/// it is complete and live. Ends when the denylist is dropped.
pub(super) async fn subscribe_forever(inner: Weak<Inner>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut was_trusted = false;
        let why = match serve(&inner, &mut was_trusted).await {
            Ok(never) => match never {},
            Err(why) => why,
        };
        let Some(strong) = inner.upgrade() else {
            return;
        };
        strong.trusted.store(false, Ordering::Release);
        crate::telemetry::view_trusted(false);
        // The command connections may be as dead as the subscription was (or reach a
        // primary that is one no more). Not a Cluster's: its client follows failovers and
        // moved slots itself, and a new one would have to learn the slots again, while
        // lookups (the view is untrusted) need it.
        if !strong.connection.is_cluster() {
            strong.connection.reset();
            strong.writes.reset();
        }
        drop(strong);
        tracing::warn!("Redis revocation subscription lost: {why}");
        if was_trusted {
            backoff = Duration::from_millis(50);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// One subscription, from connecting to losing it; returns why it ended, and sets
/// `was_trusted` once the view was trusted through it.
async fn serve(
    inner: &Weak<Inner>,
    was_trusted: &mut bool,
) -> Result<std::convert::Infallible, String> {
    let (mut subscriber, ping_every, ping_timeout) = {
        let strong = inner.upgrade().ok_or("dropped")?;
        let opened = tokio::time::timeout(
            strong.timeout.saturating_mul(4),
            Subscriber::open(&strong.connection, &strong.channel),
        )
        .await;
        let subscriber = match opened {
            Ok(opened) => opened?,
            Err(_) => return Err("subscribing timed out".into()),
        };
        (subscriber, strong.ping_interval, strong.ping_timeout())
    };

    // Messages are applied as they come, while the snapshot loads (both only add).
    let mut snapshot_backoff = Duration::from_millis(50);
    let mut snapshot = Some(load_after(inner, Duration::ZERO)?);
    let mut ping = tokio::time::interval(ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            heard = subscriber.next() => apply(inner, heard?)?,
            loaded = async { snapshot.as_mut().expect("guarded").await }, if snapshot.is_some() => {
                snapshot = None;
                match loaded {
                    Ok(count) => {
                        // Everything announced before the ping's answer has been heard
                        // now: apply it, then trust the view.
                        subscriber.barrier(ping_timeout, |heard| apply(inner, heard)).await?;
                        inner.upgrade().ok_or("dropped")?.trusted.store(true, Ordering::Release);
                        crate::telemetry::view_trusted(true);
                        *was_trusted = true;
                        tracing::info!(revocations = count, "revocation view loaded from Redis");
                    }
                    Err(err) => {
                        let err = crate::error::Report(&err);
                        tracing::warn!("loading revocations from Redis failed (retrying): {err}");
                        snapshot = Some(load_after(inner, snapshot_backoff)?);
                        snapshot_backoff = (snapshot_backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
            _ = ping.tick() => {
                let strong = inner.upgrade().ok_or("dropped")?;
                subscriber.check(&strong.connection, ping_timeout, |heard| apply(inner, heard)).await?;
            }
        }
    }
}

/// The snapshot, after `delay`. It holds the denylist weakly while it waits: a denylist
/// dropped meanwhile is dropped at once (its task with it), not a retry later.
fn load_after(
    inner: &Weak<Inner>,
    delay: Duration,
) -> Result<BoxFuture<'static, Result<usize, DenylistError>>, String> {
    if inner.strong_count() == 0 {
        return Err("dropped".into());
    }
    let inner = inner.clone();
    Ok(Box::pin(async move {
        tokio::time::sleep(delay).await;
        let strong = inner
            .upgrade()
            .ok_or_else(|| DenylistError::new("dropped"))?;
        strong.load_snapshot().await
    }))
}

fn apply(inner: &Weak<Inner>, heard: Heard) -> Result<(), String> {
    let strong = inner.upgrade().ok_or("dropped")?;
    match heard {
        Heard::Message(Some(text)) => strong.apply_message(&text),
        Heard::Message(None) => tracing::warn!("ignoring a revocation message that is not text"),
        Heard::Nothing => {}
    }
    Ok(())
}
