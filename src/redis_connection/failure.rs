//! What a Redis call that failed answers.

use std::sync::Arc;

/// A Redis failure: what failed (`redis: ...`), and the client's error when there is one.
/// Its `Display` shows both (it is logged as it is); the stores' errors made from it keep
/// the context as their message and the client's error as their
/// [`source`](std::error::Error::source), so that a report of the chain says each once.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(super) message: String,
    pub(super) source: Option<Arc<redis::RedisError>>,
}

impl Failure {
    /// A store's error: the message, and the client's error as its source.
    pub(crate) fn into_error<E: crate::error::FromParts>(self) -> E {
        let source = self
            .source
            .map(|s| s as Arc<dyn std::error::Error + Send + Sync + 'static>);
        E::from_parts(self.message, source)
    }
}

impl From<redis::RedisError> for Failure {
    fn from(err: redis::RedisError) -> Self {
        Failure {
            message: "redis request failed".to_owned(),
            source: Some(Arc::new(err)),
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure {
            message: message.to_owned(),
            source: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}
