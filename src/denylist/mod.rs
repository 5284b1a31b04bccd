//! Revocation: the [`Denylist`] trait, the default in-process [`MemoryDenylist`], and (feature
//! `redis`) the [`RedisDenylist`] shared by several instances.
//!
//! Guards check every access and refresh token's `jti` against the manager's denylist
//! (Flask-JWT-Extended's "blocklist"), and its identity's revoke-all cut-off. Entries live
//! until the tokens they cover would have expired (plus leeway) and are never evicted
//! earlier: an eviction would silently un-revoke a token.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tower_jwt_auth::{ErrorKind, JwtManager};
//!
//! let manager = JwtManager::builder()
//!     .secret("an-example-secret-that-is-32-bytes!")
//!     .build()
//!     .unwrap();
//! let token = manager.create_access_token("alice").unwrap();
//!
//! // Accepted before logout.
//! let verified = manager.verify_token(&token).await.unwrap();
//!
//! // Rejected after it.
//! manager.revoke(&verified).await.unwrap();
//! let err = manager.verify_token(&token).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Revoked);
//! assert_eq!(err.message(), "Token has been revoked");
//! # }
//! ```

use std::fmt;

use crate::BoxFuture;
use std::time::SystemTime;

mod memory;
pub use memory::MemoryDenylist;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisDenylist, RedisDenylistBuilder};

crate::error::store_error!(
    /// The revocation store could not answer or record a revocation.
    DenylistError,
    "revocation store error"
);

/// What a denylist is asked about a token.
#[non_exhaustive]
#[derive(Clone, Copy)]
pub struct TokenId<'a> {
    /// The token's unique id; `None` for an outside issuer's token without one (only its
    /// identity's cut-off can then revoke it).
    pub jti: Option<&'a str>,
    /// The token's identity.
    pub identity: &'a str,
    /// When the token was issued, in epoch seconds: its `iat`, or to the millisecond when
    /// its `jti` says so (this crate's tokens). Revoke-all cut-offs compare with it.
    pub issued_at: f64,
    /// The `jti` as a packed uuid, when the verification already read it so: spares the
    /// in-process denylist parsing it again on every request.
    pub(crate) uuid: JtiUuid<'a>,
}

/// What is known of a `jti`'s uuid form (see [`packed_uuid`]).
#[derive(Clone, Copy)]
pub(crate) enum JtiUuid<'a> {
    /// Not looked at: the store parses the `jti` itself.
    Unknown,
    /// [`packed_uuid`] of `of`: used only while the `jti` is still that very slice (a
    /// store in front of another may rewrite `jti` before handing the id on).
    Known { of: &'a str, uuid: Option<u128> },
}

impl fmt::Debug for TokenId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenId")
            .field("jti", &self.jti)
            .field("identity", &self.identity)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

/// A `jti` in the canonical lowercase hyphenated uuid form, as one number; `None` for any
/// other string (so that two different strings never share a key).
pub(crate) fn packed_uuid(jti: &str) -> Option<u128> {
    packed_parsed(jti, || uuid::Uuid::try_parse(jti).ok())
}

/// [`packed_uuid`], given a way to `jti`'s parse as a uuid (the verification has it already):
/// the one rule for both the keys revocations are stored under and the keys asked for.
pub(crate) fn packed_parsed(
    jti: &str,
    parsed: impl FnOnce() -> Option<uuid::Uuid>,
) -> Option<u128> {
    // The hyphenated length, lowercase; a fold rather than `any`: no early exit, so that it
    // vectorises. (uuid's parser is table-driven: no branch per hex digit to mispredict.)
    let canonical = jti.len() == 36
        && !jti
            .bytes()
            .fold(false, |acc, b| acc | b.is_ascii_uppercase());
    canonical.then(parsed).flatten().map(|id| id.as_u128())
}

impl PartialEq for TokenId<'_> {
    /// The same token: `jti`, identity and issue time (what is known of its uuid form
    /// follows from the `jti`).
    fn eq(&self, other: &Self) -> bool {
        (self.jti, self.identity, self.issued_at) == (other.jti, other.identity, other.issued_at)
    }
}

impl<'a> TokenId<'a> {
    /// A token `jti` of `identity`, issued at `issued_at` (epoch seconds).
    pub fn new(jti: &'a str, identity: &'a str, issued_at: f64) -> Self {
        Self {
            jti: Some(jti),
            identity,
            issued_at,
            uuid: JtiUuid::Unknown,
        }
    }

    /// A token of `identity` without a `jti` (an outside issuer's), issued at `issued_at`.
    pub fn without_jti(identity: &'a str, issued_at: f64) -> Self {
        Self {
            jti: None,
            identity,
            issued_at,
            uuid: JtiUuid::Unknown,
        }
    }

    /// The same, with the `jti`'s uuid form as the verification read it.
    pub(crate) fn with_uuid(self, uuid: Option<u128>) -> Self {
        match self.jti {
            Some(of) => Self {
                uuid: JtiUuid::Known { of, uuid },
                ..self
            },
            None => self,
        }
    }

    /// [`packed_uuid`] of the `jti`, parsed only if not known for this very `jti`.
    pub(crate) fn packed_uuid(&self) -> Option<u128> {
        match (self.uuid, self.jti) {
            (JtiUuid::Known { of, uuid }, Some(jti)) if std::ptr::eq(of, jti) => uuid,
            (_, jti) => jti.and_then(packed_uuid),
        }
    }
}

/// A store of revoked tokens: single tokens by `jti`, and every token of an identity
/// issued before a cut-off.
///
/// The names a store sees are namespaced by issuer: the manager's own tokens' `jti`s and
/// identities as they are, an outside issuer's as `<issuer>\u{1f}<name>` (see
/// [`Subject::key`](crate::claims::Subject::key)), so that an outside issuer's names never
/// meet the manager's.
///
/// Implement it to share revocations between instances (a database, Redis, ...). Guards
/// first call [`is_revoked_now`](Self::is_revoked_now), which a store with a local view
/// answers without waiting; only when it returns `None` do they await
/// [`is_revoked`](Self::is_revoked). An `Err` makes the guard fail closed (503) unless the
/// route fails open.
pub trait Denylist: Send + Sync + 'static {
    /// Records `jti` as revoked. The entry may be forgotten after `until` (the token's
    /// expiry plus leeway); `None` means the token never expires.
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>>;

    /// Records every `jti` of `jtis` as revoked, kept until `until` like
    /// [`revoke`](Self::revoke). The default revokes them one by one; a shared store should
    /// record them in one step (ending all of a user's sessions revokes them so).
    fn revoke_many<'a>(
        &'a self,
        jtis: &'a [&'a str],
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        Box::pin(async move {
            for jti in jtis {
                self.revoke(jti, until).await?;
            }
            Ok(())
        })
    }

    /// Revokes every token of `identity` issued before `issued_before`: a token is covered
    /// when its `iat` (epoch seconds, compared as numbers) is below the cut-off's. The
    /// cut-off may be forgotten after `until` (when every such token has expired); `None`
    /// keeps it forever. A store must never move a cut-off back: keep the latest one. The
    /// default refuses: the store does not support it.
    fn revoke_all<'a>(
        &'a self,
        identity: &'a str,
        issued_before: SystemTime,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        let _ = (identity, issued_before, until);
        Box::pin(std::future::ready(Err(DenylistError::new(
            "this store cannot revoke all tokens of an identity",
        ))))
    }

    /// Whether the token has been revoked, by `jti` or by its identity's cut-off.
    fn is_revoked<'a>(&'a self, token: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>>;

    /// Answers without waiting when the store knows locally; `None` to be asked through
    /// [`is_revoked`](Self::is_revoked).
    fn is_revoked_now(&self, token: TokenId<'_>) -> Option<Result<bool, DenylistError>> {
        let _ = token;
        None
    }
}

/// A shared denylist is one: `JwtManagerBuilder::denylist` takes an `Arc<dyn Denylist>`
/// (or an `Arc` of any denylist) as it takes the denylist itself.
impl<T: Denylist + ?Sized> Denylist for std::sync::Arc<T> {
    fn revoke<'a>(
        &'a self,
        jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        (**self).revoke(jti, until)
    }

    fn revoke_many<'a>(
        &'a self,
        jtis: &'a [&'a str],
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        (**self).revoke_many(jtis, until)
    }

    fn revoke_all<'a>(
        &'a self,
        identity: &'a str,
        issued_before: SystemTime,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), DenylistError>> {
        (**self).revoke_all(identity, issued_before, until)
    }

    fn is_revoked<'a>(&'a self, token: TokenId<'a>) -> BoxFuture<'a, Result<bool, DenylistError>> {
        (**self).is_revoked(token)
    }

    fn is_revoked_now(&self, token: TokenId<'_>) -> Option<Result<bool, DenylistError>> {
        (**self).is_revoked_now(token)
    }
}
