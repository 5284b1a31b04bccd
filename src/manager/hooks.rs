//! The hooks a manager runs on every verified token (claims check, user lookup) and the
//! loaders it runs on every issued one (additional claims and headers).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::JwtManagerBuilder;
use crate::claims::{LookedUp, VerifiedToken};
use crate::verify::ClaimsHook;

/// What a [user-lookup hook](JwtManagerBuilder::user_lookup) may return: `Option<U>` (the
/// user, or none), or `Result<Option<U>, E>` when the store can fail.
pub trait LookupOutcome: Send + 'static {
    /// The user type.
    type User: Send + Sync + 'static;
    /// The user, none (401 "Error loading the user"), or a store failure (503).
    fn into_result(self) -> Result<Option<Self::User>, String>;
}

impl<U: Send + Sync + 'static> LookupOutcome for Option<U> {
    type User = U;
    fn into_result(self) -> Result<Option<U>, String> {
        Ok(self)
    }
}

impl<U: Send + Sync + 'static, E: fmt::Display + Send + 'static> LookupOutcome
    for Result<Option<U>, E>
{
    type User = U;
    fn into_result(self) -> Result<Option<U>, String> {
        self.map_err(|e| e.to_string())
    }
}

/// What a [claims hook](JwtManagerBuilder::verify_claims) may return: `bool`, or
/// `Result<(), E>` with the message to refuse with.
pub trait ClaimsVerdict: Send + 'static {
    /// `Ok` to accept the token; the message to refuse it with otherwise.
    fn into_result(self) -> Result<(), Cow<'static, str>>;
}

impl ClaimsVerdict for bool {
    fn into_result(self) -> Result<(), Cow<'static, str>> {
        if self {
            Ok(())
        } else {
            Err(Cow::Borrowed("User claims verification failed"))
        }
    }
}

impl<E: Into<Cow<'static, str>> + Send + 'static> ClaimsVerdict for Result<(), E> {
    fn into_result(self) -> Result<(), Cow<'static, str>> {
        self.map_err(Into::into)
    }
}

impl JwtManagerBuilder {
    /// A hook that checks a verified token's claims: Flask-JWT-Extended's
    /// `token_verification_loader`. It returns `bool` or `Result<(), E>`: `false` answers
    /// 400 "User claims verification failed", `Err(message)` answers 400 with the message.
    /// It runs after revocation, on every request. See
    /// [`verify_claims_async`](Self::verify_claims_async) for a hook that must wait.
    pub fn verify_claims<F, R>(mut self, hook: F) -> Self
    where
        F: Fn(&VerifiedToken) -> R + Send + Sync + 'static,
        R: ClaimsVerdict,
    {
        self.claims_hook = Some(ClaimsHook::Sync(Arc::new(move |token: &VerifiedToken| {
            hook(token).into_result()
        })));
        self
    }

    /// An async claims hook (e.g. one that asks a permissions service): like
    /// [`verify_claims`](Self::verify_claims), awaited.
    pub fn verify_claims_async<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(&VerifiedToken) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: ClaimsVerdict,
    {
        self.claims_hook = Some(ClaimsHook::Async(Arc::new(move |token: &VerifiedToken| {
            let verdict = hook(token);
            Box::pin(async move { verdict.await.into_result() })
        })));
        self
    }

    /// An async hook that loads the user a token names: Flask-JWT-Extended's
    /// `user_lookup_loader`. Handlers read the user with [`VerifiedToken::user`].
    ///
    /// It returns `Option<U>`, or `Result<Option<U>, E>` when the store can fail. `None`
    /// answers 401 "Error loading the user `<identity>`"; an `Err` fails closed with 503 and
    /// the [`user_lookup_error_message`](Self::user_lookup_error_message) (the error itself
    /// goes to the logs only).
    pub fn user_lookup<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(&VerifiedToken) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future + Send + 'static,
        Fut::Output: LookupOutcome,
    {
        let type_name = std::any::type_name::<<Fut::Output as LookupOutcome>::User>();
        self.user_lookup = Some(Arc::new(move |token: &VerifiedToken| {
            let fut = hook(token);
            Box::pin(async move {
                let user = fut.await.into_result()?;
                Ok(user.map(|user| LookedUp {
                    value: Arc::new(user),
                    type_name,
                }))
            })
        }));
        self
    }

    /// Whether the [user-lookup hook](Self::user_lookup) is asked about outside issuers'
    /// tokens too (default `false`).
    ///
    /// An outside issuer's `sub` is its own name for a user, not a local identity: by
    /// default such a token names no user, so on a manager with a user lookup it is refused
    /// (401 "Error loading the user ..."), and a hook that looks users up by
    /// [`VerifiedToken::identity`] can never hand an outside token a local user's row. Turn
    /// this on when the hook maps outside identities itself, reading
    /// [`VerifiedToken::subject`] (or [`issuer`](VerifiedToken::issuer)).
    pub fn user_lookup_for_external_tokens(mut self, ask: bool) -> Self {
        self.user_lookup_outside = ask;
        self
    }

    /// The message of the 503 answered when the user-lookup hook fails (default
    /// `User store unavailable`).
    pub fn user_lookup_error_message(mut self, message: impl Into<String>) -> Self {
        self.user_lookup_error = message.into();
        self
    }

    /// Claims added to every token issued for an identity; per-call claims win
    /// (Flask-JWT-Extended's `additional_claims_loader`). As with [`TokenOptions::claim`],
    /// the [reserved claims](crate::issue::RESERVED_CLAIMS) (`type`, `fresh`, `jti`, `sid`,
    /// `csrf`) are refused: issuing fails with
    /// [`IssueError::ReservedClaim`](crate::issue::IssueError::ReservedClaim).
    ///
    /// [`TokenOptions::claim`]: crate::issue::TokenOptions::claim
    pub fn additional_claims<F>(mut self, loader: F) -> Self
    where
        F: Fn(&str) -> Map<String, Value> + Send + Sync + 'static,
    {
        self.claims_loader = Some(Arc::new(loader));
        self
    }

    /// Header fields added to every token issued for an identity; per-call headers win
    /// (Flask-JWT-Extended's `additional_headers_loader`).
    pub fn additional_headers<F>(mut self, loader: F) -> Self
    where
        F: Fn(&str) -> Map<String, Value> + Send + Sync + 'static,
    {
        self.headers_loader = Some(Arc::new(loader));
        self
    }
}
