//! Why a JWKS could not be fetched or used.

use std::fmt;
use std::sync::Arc;

/// A JWKS (or OpenID discovery document) could not be fetched or used. The keys known
/// before stay in use.
#[derive(Debug, Clone)]
pub struct JwksError {
    message: String,
    /// The HTTP client's or the JSON parser's error, if one caused it.
    source: crate::error::Cause,
}

impl JwksError {
    pub(super) fn new(message: String) -> Self {
        Self {
            message,
            source: None,
        }
    }

    pub(super) fn caused(
        what: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: format!("{what}: {source}"),
            source: Some(Arc::new(source)),
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JWKS: {}", self.message)
    }
}

impl std::error::Error for JwksError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        crate::error::source_of(&self.source)
    }
}
