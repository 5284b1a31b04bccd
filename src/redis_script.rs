//! One Redis connection for scripts and single commands, each bounded in time: opened on
//! first use, forgotten after a failure so that the next call opens a new one. What the
//! session store and the login throttle run their Lua through (feature `redis`).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, Script};

/// A lazily (re)opened multiplexed connection with a timeout per call. Errors are messages
/// (`redis: ...`) for the caller's own error type.
pub(crate) struct ScriptConnection {
    client: Client,
    config: AsyncConnectionConfig,
    timeout: Duration,
    slot: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

impl ScriptConnection {
    /// A connection to the Redis at `url` (not opened yet), `timeout` per call.
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            client: Client::open(url).map_err(failure)?,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
            timeout,
            slot: tokio::sync::Mutex::new(None),
        })
    }

    /// The open connection, or a new one.
    pub(crate) async fn connection(&self) -> Result<MultiplexedConnection, String> {
        let mut slot = self.slot.lock().await;
        if let Some(open) = &*slot {
            return Ok(open.clone());
        }
        let opened = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&self.config),
        )
        .await
        .map_err(|_| "redis: timed out connecting".to_owned())?
        .map_err(failure)?;
        *slot = Some(opened.clone());
        Ok(opened)
    }

    /// Runs `script` with `keys` and `args`.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[impl AsRef<str>],
        args: &[impl AsRef<str>],
    ) -> Result<T, String> {
        let mut connection = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key.as_ref());
        }
        for arg in args {
            invocation.arg(arg.as_ref());
        }
        let answer =
            tokio::time::timeout(self.timeout, invocation.invoke_async::<T>(&mut connection)).await;
        self.settle(answer).await
    }

    /// Runs one command.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, String> {
        let mut connection = self.connection().await?;
        let answer =
            tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut connection)).await;
        self.settle(answer).await
    }

    /// The answer, or the failure; a failure forgets the connection.
    async fn settle<T>(
        &self,
        answer: Result<Result<T, redis::RedisError>, tokio::time::error::Elapsed>,
    ) -> Result<T, String> {
        let failed = match answer {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => failure(err),
            Err(_) => "redis: timed out".to_owned(),
        };
        *self.slot.lock().await = None;
        Err(failed)
    }
}

fn failure(err: redis::RedisError) -> String {
    format!("redis: {err}")
}
