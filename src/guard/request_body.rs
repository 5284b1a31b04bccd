//! Reading a request body to find a token (or a CSRF value) in it, and handing the same
//! bytes on to the inner service as a body of the request's own type.
//!
//! A guard is generic over its request body, and a body cannot be rebuilt from bytes in
//! general; these types can: axum's `Body` (with the `axum` feature), http-body-util's
//! `Full<Bytes>`, `String`, `Bytes` and `Vec<u8>`. Bodies of other types are never read (the
//! JSON location then reports that it cannot see the body). Only routes with a body location
//! get here, and only for requests whose token is not found before it.

use std::any::Any;

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};

use crate::error::{AuthError, ErrorKind};
use crate::BoxFuture;

/// Reading the body: its bytes, or why not (413 over the limit, 400 unreadable).
pub(super) type Reading = BoxFuture<'static, Result<Bytes, AuthError>>;

/// Starts reading `body` when its type is one the guard can rebuild; gives it back if not.
pub(super) fn read<B: 'static>(body: B, limit: usize) -> Result<Reading, B> {
    let body = match cast::<B, Full<Bytes>>(body) {
        Ok(body) => return Ok(Box::pin(collect(body, limit))),
        Err(body) => body,
    };
    let body = match cast::<B, Bytes>(body) {
        Ok(body) => return Ok(Box::pin(collect(Full::new(body), limit))),
        Err(body) => body,
    };
    let body = match cast::<B, String>(body) {
        Ok(body) => return Ok(Box::pin(collect(Full::new(Bytes::from(body)), limit))),
        Err(body) => body,
    };
    let body = match cast::<B, Vec<u8>>(body) {
        Ok(body) => return Ok(Box::pin(collect(Full::new(Bytes::from(body)), limit))),
        Err(body) => body,
    };
    #[cfg(feature = "axum")]
    let body = match cast::<B, axum_core::body::Body>(body) {
        Ok(body) => return Ok(Box::pin(collect(body, limit))),
        Err(body) => body,
    };
    Err(body)
}

/// A body of type `B` holding `bytes`, for a `B` that [`read`] accepted.
pub(super) fn rebuild<B: 'static>(bytes: Bytes) -> Option<B> {
    if let Ok(body) = cast(Full::new(bytes.clone())) {
        return Some(body);
    }
    if let Ok(body) = cast(bytes.clone()) {
        return Some(body);
    }
    if let Ok(body) = cast(Vec::from(bytes.clone())) {
        return Some(body);
    }
    #[cfg(feature = "axum")]
    if let Ok(body) = cast(axum_core::body::Body::from(bytes.clone())) {
        return Some(body);
    }
    // A `String` body was read whole, so its bytes are UTF-8.
    cast(String::from_utf8(bytes.into()).ok()?).ok()
}

/// `value` as a `T`, when `V` is `T`.
fn cast<V: 'static, T: 'static>(value: V) -> Result<T, V> {
    let mut slot = Some(value);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>() {
        Some(cast) => cast.take().ok_or_else(|| unreachable!()),
        None => Err(slot.take().unwrap_or_else(|| unreachable!())),
    }
}

async fn collect<B>(body: B, limit: usize) -> Result<Bytes, AuthError>
where
    B: Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(AuthError::new(
            ErrorKind::BodyTooLarge,
            format!("The request body is larger than {limit} bytes"),
        )),
        Err(_) => Err(AuthError::new(
            ErrorKind::BodyUnreadable,
            "Could not read the request body",
        )),
    }
}
