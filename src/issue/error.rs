//! Why a token could not be issued.

use std::fmt;
use std::time::Duration;

#[cfg(doc)]
use super::{TokenOptions, RESERVED_CLAIMS};
#[cfg(doc)]
use crate::config::Lifetime;

/// A token could not be issued.
#[non_exhaustive]
#[derive(Debug)]
pub enum IssueError {
    /// The manager holds only a public key (see [`JwtManagerBuilder::verification_key`](crate::manager::JwtManagerBuilder::verification_key)).
    VerifyOnly,
    /// The requested lifetime exceeds the maximum token lifetime (or the year 9999).
    LifetimeTooLong(Duration),
    /// A token without `exp` was requested, but this manager refuses such tokens of this
    /// type (its lifetime for them is not [`Lifetime::Never`]).
    ExpiryRequired,
    /// Lifetimes are whole seconds (`exp` is an integer), at least one.
    InvalidLifetime(Duration),
    /// Serializing or signing failed: `reason` says why, `source` (also
    /// [`source`](std::error::Error::source)) is the library's error where there is one.
    #[non_exhaustive]
    Signing {
        /// What failed.
        reason: String,
        /// The serializer's or the crypto library's error.
        source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// A [reserved claim](RESERVED_CLAIMS) was given through [`TokenOptions::claim`] or the
    /// additional-claims loader; the claim's name.
    ReservedClaim(String),
    /// The identity holds U+001F, the separator of outside issuers' names (see
    /// [`Subject::key`](crate::claims::Subject::key)): guards refuse such a token.
    InvalidIdentity,
    /// A role or scope given to [`TokenOptions::roles`] or [`TokenOptions::scopes`] that no
    /// check could match: an empty one, or a scope RFC 6749 does not allow (with a space,
    /// `"`, `\` or a non-printable character; `scopes(["a b"])` would mint two).
    InvalidRoleOrScope(String),
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueError::VerifyOnly => f.write_str("this manager can only verify tokens"),
            IssueError::LifetimeTooLong(d) => {
                write!(f, "a lifetime of {d:?} exceeds the maximum token lifetime")
            }
            IssueError::InvalidLifetime(d) => {
                write!(f, "a lifetime of {d:?} is not a whole number of seconds")
            }
            IssueError::ExpiryRequired => f.write_str(
                "this manager refuses tokens of this type without `exp`: configure their \
                 lifetime as Lifetime::Never to issue such tokens",
            ),
            IssueError::Signing { reason, .. } => write!(f, "could not sign the token: {reason}"),
            IssueError::InvalidIdentity => f.write_str(
                "the identity holds U+001F, which separates an outside issuer from the \
                 identities it names",
            ),
            IssueError::InvalidRoleOrScope(name) => {
                write!(f, "{name:?} is not a role or scope a check could match")
            }
            IssueError::ReservedClaim(name) => write!(
                f,
                "the claim {name:?} is reserved: only the manager sets it (use \
                 TokenOptions::fresh for freshness, the refresh-token methods for refresh \
                 tokens)"
            ),
        }
    }
}

impl std::error::Error for IssueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IssueError::Signing { source, .. } => crate::error::source_of(source),
            _ => None,
        }
    }
}

impl IssueError {
    /// A signing failure caused by `source`.
    pub(crate) fn signing(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        IssueError::Signing {
            reason: "the serializer or the crypto library failed".to_owned(),
            source: Some(std::sync::Arc::new(source)),
        }
    }
}
