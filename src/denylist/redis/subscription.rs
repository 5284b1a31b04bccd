//! The subscription that keeps an instance's local view complete and live: snapshot with
//! retries, messages applied as they come, a ping barrier before trusting the view, and
//! liveness pings.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use redis::aio::{PubSubSink, PubSubStream};
use redis::Client;

use super::{BoxFuture, DenylistError, Inner};

/// Keeps a subscription to the revocation channel, and the local view trusted only while
/// it is complete and live. Ends when the denylist is dropped.
pub(super) async fn subscribe_forever(client: Client, inner: Weak<Inner>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut was_trusted = false;
        let why = serve_subscription(&client, &inner, &mut was_trusted).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        strong.trusted.store(false, Ordering::Release);
        // The command connection may be as dead as the subscription was.
        strong.connection.reset().await;
        strong.writes.reset().await;
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
async fn serve_subscription(
    client: &Client,
    inner: &Weak<Inner>,
    was_trusted: &mut bool,
) -> String {
    match serve(client, inner, was_trusted).await {
        Ok(never) => match never {},
        Err(why) => why,
    }
}

async fn serve(
    client: &Client,
    inner: &Weak<Inner>,
    was_trusted: &mut bool,
) -> Result<std::convert::Infallible, String> {
    let (timeout, channel, ping_every, ping_timeout) = {
        let strong = inner.upgrade().ok_or("dropped")?;
        (
            strong.timeout.saturating_mul(4),
            strong.channel.clone(),
            strong.ping_interval,
            strong.ping_timeout(),
        )
    };
    let subscribed = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        redis::RedisResult::Ok(pubsub.split())
    };
    let (mut sink, mut stream) = match tokio::time::timeout(timeout, subscribed).await {
        Ok(Ok(split)) => split,
        Ok(Err(err)) => return Err(format!("subscribing failed: {err}")),
        Err(_) => return Err("subscribing timed out".into()),
    };

    // Messages are applied as they come, while the snapshot loads (both only add).
    let mut snapshot_backoff = Duration::from_millis(50);
    let mut snapshot = Some(load_after(inner, Duration::ZERO)?);
    let mut ping = tokio::time::interval(ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => {
                apply(inner, &message.ok_or("the subscription closed")?)?;
            }
            loaded = async { snapshot.as_mut().expect("guarded").await }, if snapshot.is_some() => {
                snapshot = None;
                match loaded {
                    Ok(count) => {
                        // Everything announced before the ping's answer is in the stream
                        // now: apply it, then trust the view.
                        ping_within(&mut sink, ping_timeout).await?;
                        drain(inner, &mut stream)?;
                        inner.upgrade().ok_or("dropped")?.trusted.store(true, Ordering::Release);
                        *was_trusted = true;
                        tracing::info!(revocations = count, "revocation view loaded from Redis");
                    }
                    Err(err) => {
                        tracing::warn!("loading revocations from Redis failed (retrying): {err}");
                        snapshot = Some(load_after(inner, snapshot_backoff)?);
                        snapshot_backoff = (snapshot_backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
            _ = ping.tick() => ping_within(&mut sink, ping_timeout).await?,
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

fn apply(inner: &Weak<Inner>, message: &redis::Msg) -> Result<(), String> {
    let strong = inner.upgrade().ok_or("dropped")?;
    match message.get_payload::<String>() {
        Ok(text) => strong.apply_message(&text),
        Err(_) => tracing::warn!("ignoring a revocation message that is not text"),
    }
    Ok(())
}

/// Applies every message already received.
fn drain(inner: &Weak<Inner>, stream: &mut PubSubStream) -> Result<(), String> {
    loop {
        match stream.next().now_or_never() {
            Some(Some(message)) => apply(inner, &message)?,
            Some(None) => return Err("the subscription closed".into()),
            None => return Ok(()),
        }
    }
}

async fn ping_within(sink: &mut PubSubSink, within: Duration) -> Result<(), String> {
    match tokio::time::timeout(within, sink.ping::<redis::Value>()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("ping failed: {err}")),
        Err(_) => Err(format!("no answer to a ping within {within:?}")),
    }
}
