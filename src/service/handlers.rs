//! The three endpoints of the auth service.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Map, Value};

use super::{login, BoxError, Inner, UserStore};

/// The answer to a throttled login, the same for every account.
const THROTTLED: &str = "Too many login attempts, try again later";
use crate::claims::{TokenType, VerifiedToken};
use crate::config::locations::{cookie_value, declared_length, is_json};
use crate::cookies::Cookies;
use crate::error::AuthError;
use crate::error::ErrorKind;
use crate::manager::{audit_revoked, RevokeError};
use crate::password::PasswordError;
use crate::respond::json_message;
use crate::telemetry;

pub(super) type Reply = Response<Full<Bytes>>;

impl<U: UserStore> Inner<U> {
    pub(super) async fn login<B>(&self, req: Request<B>) -> Reply
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let client = self.login.client(req.extensions(), req.headers());
        let body = match self.read_json(req, true).await {
            Ok(Some(body)) => body,
            Ok(None) => return self.bad_login_body(),
            Err(reply) => return reply,
        };
        let field = |name: &str| match body.get(name) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let (Some(login), Some(password)) = (field(&self.login_field), field("password")) else {
            return self.bad_login_body();
        };
        if password.len() > self.max_password_size {
            return self.message(
                StatusCode::BAD_REQUEST,
                &format!("password is longer than {} bytes", self.max_password_size),
            );
        }

        // The throttle first: a refused attempt costs no hashing, and answers the same for
        // every account. An admitted one counts as a failure unless it succeeds.
        let pending = match self.login.admit(login, &client).await {
            Ok(pending) => pending,
            Err(login::Refused::Throttled(wait)) => {
                telemetry::login(telemetry::Login::Throttled);
                let mut reply = self.message(StatusCode::TOO_MANY_REQUESTS, THROTTLED);
                (reply.headers_mut()).insert(RETRY_AFTER, login::retry_after(wait));
                return reply;
            }
            Err(login::Refused::Unavailable) => {
                telemetry::login(telemetry::Login::Unavailable);
                return self.message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Login throttle unavailable",
                );
            }
        };

        // Every failure below costs one Argon2 verification and answers the same.
        let user = if login.is_empty() || password.is_empty() {
            None
        } else {
            match self.store.find_user(login).await {
                Ok(user) => user,
                Err(err) => {
                    tracing::warn!(
                        outcome = "error",
                        "login: user store failed: {}",
                        crate::error::Report(&err)
                    );
                    telemetry::login(telemetry::Login::Unavailable);
                    pending.released().await;
                    return self.message(StatusCode::SERVICE_UNAVAILABLE, "User store unavailable");
                }
            }
        };
        let stored = user.as_ref().map(|u| u.password_hash.as_str());
        let matches = match self.hasher.verify_login(password, stored).await {
            Ok(matches) => matches,
            Err(err) => {
                // Undecided (the pool was busy): not a failed guess.
                telemetry::login(telemetry::Login::Unavailable);
                pending.released().await;
                return self.password_error(err);
            }
        };
        let user = match user {
            Some(user) if matches && !password.is_empty() => user,
            user => {
                let (reason, user_id) = match &user {
                    Some(user) => ("wrong password", user.id.as_str()),
                    None => ("unknown login", ""),
                };
                tracing::info!(
                    target: "tower_jwt_auth::audit",
                    event = "authn_login_fail",
                    reason,
                    user_id,
                    client = %client.addr(),
                    user_agent = ?client.user_agent(),
                    "login failed"
                );
                pending.failed();
                telemetry::login(telemetry::Login::Failure);
                return self.message(StatusCode::UNAUTHORIZED, &self.login_failed);
            }
        };
        // Not a failure: given back, and (account, client) reset. Best effort: the login
        // succeeds either way.
        pending.succeeded().await;

        if self.hasher.needs_rehash(&user.password_hash) {
            // Upgrading is best effort: the login succeeds either way.
            if let Ok(upgraded) = self.hasher.hash(password).await {
                match self.store.update_password_hash(&user.id, &upgraded).await {
                    Ok(()) => tracing::info!(user_id = %user.id, "password hash upgraded"),
                    Err(err) => {
                        tracing::warn!(user_id = %user.id, "password hash upgrade failed: {}", crate::error::Report(&err))
                    }
                }
            }
        }

        let (access, refresh) = match self
            .login_tokens(&user.id, client.user_agent.as_deref())
            .await
        {
            Ok(tokens) => (tokens.access, tokens.refresh),
            Err(reply) => {
                telemetry::login(telemetry::Login::Unavailable);
                return reply;
            }
        };
        telemetry::login(telemetry::Login::Success);
        tracing::info!(
            target: "tower_jwt_auth::audit",
            event = "authn_login_success",
            user_id = %user.id,
            client = %client.addr(),
            user_agent = ?client.user_agent(),
            "login"
        );
        self.tokens_reply(
            json!({"access_token": access, "refresh_token": refresh}),
            "Logged in",
            |cookies, headers| {
                cookies.set_access(headers, &access)?;
                cookies.set_refresh(headers, &refresh)
            },
        )
    }

    /// `/refresh`, behind a `RefreshRequired` guard: a new, non-fresh access token (and,
    /// with rotation on, a new refresh token).
    pub(super) async fn refresh(&self, token: &VerifiedToken, req: &Parts) -> Reply {
        // No first-party token is ever minted from an outside issuer's token, not even from
        // one trusted to say it is a refresh token.
        if token.is_external() {
            telemetry::refresh(telemetry::Refresh::Failure);
            let err = AuthError::new(ErrorKind::WrongTokenType, "Only refresh tokens are allowed");
            return self.message(err.status(self.manager.status_policy()), err.message());
        }
        if let Some(rotating) = &self.rotating {
            return self.rotate(rotating, token, req).await;
        }
        let Ok(access) = self.manager.create_access_token(token.identity()) else {
            telemetry::refresh(telemetry::Refresh::Failure);
            return self.message(StatusCode::SERVICE_UNAVAILABLE, "Could not issue tokens");
        };
        tracing::info!(outcome = "accepted", user_id = %token.identity(), "refresh");
        telemetry::refresh(telemetry::Refresh::Success);
        self.tokens_reply(
            json!({"access_token": access}),
            "Token refreshed",
            |cookies, headers| cookies.set_access(headers, &access),
        )
    }

    /// A reply carrying new tokens: in the body (or `message` when they stay out of it),
    /// and as cookies in cookie mode.
    pub(super) fn tokens_reply(
        &self,
        tokens: Value,
        message: &str,
        set_cookies: impl FnOnce(Cookies<'_>, &mut HeaderMap) -> Result<(), AuthError>,
    ) -> Reply {
        let csrf = self.csrf_values(&tokens);
        let mut reply = match (self.tokens_in_body, csrf.is_empty()) {
            (true, true) => json_reply(StatusCode::OK, &tokens),
            (false, true) => self.message(StatusCode::OK, message),
            (in_body, false) => {
                let mut body = match tokens {
                    Value::Object(tokens) if in_body => tokens,
                    _ => Map::from_iter([(self.manager.message_key().into(), message.into())]),
                };
                body.extend(csrf);
                json_reply(StatusCode::OK, &Value::Object(body))
            }
        };
        if self.cookies && set_cookies(self.manager.cookies(), reply.headers_mut()).is_err() {
            return self.message(StatusCode::SERVICE_UNAVAILABLE, "Could not issue tokens");
        }
        reply
    }

    /// `/revoke`, behind a guard accepting access and refresh tokens alike.
    pub(super) async fn revoke<B>(&self, presented: VerifiedToken, req: Request<B>) -> Reply
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        if presented.jti().is_none() {
            return self.cannot_revoke();
        }
        let headers = req.headers().clone();
        let client = self.login.client(req.extensions(), &headers);
        let body = match self.read_json(req, false).await {
            Ok(body) => body,
            Err(reply) => return reply,
        };
        let refresh = match body.as_ref().map(|b| b.get("refresh_token")) {
            None | Some(None) | Some(Some(Value::Null)) => match self.refresh_cookie(&headers) {
                // A refresh cookie that is not a usable refresh token of the same identity is
                // unset below all the same; only a store that cannot answer stops the logout.
                Some(token) => match self.companion_refresh(&presented, token).await {
                    Ok(token) => token,
                    Err(reply) if reply.status() == StatusCode::SERVICE_UNAVAILABLE => {
                        return reply
                    }
                    Err(_) => None,
                },
                None => None,
            },
            Some(Some(Value::String(token))) => {
                match self.companion_refresh(&presented, token).await {
                    Ok(token) => token,
                    Err(reply) => return reply,
                }
            }
            Some(Some(_)) => {
                return self.message(
                    StatusCode::BAD_REQUEST,
                    "\"refresh_token\" must be a string",
                )
            }
        };
        // With rotation on, a logout ends the session: every token of it is refused.
        if let Err(reply) = self.end_session_of(&presented).await {
            return reply;
        }
        // The companion refresh token first: if the store fails half-way, the presented
        // token still works, so the client's retry reaches this point again.
        for token in refresh.iter().chain(std::iter::once(&presented)) {
            match self.manager.revoke_unaudited(token).await {
                Ok(()) => {
                    audit_revoked(token, Some((&client.addr(), client.user_agent())));
                    telemetry::revocation(telemetry::Revocation::Token);
                }
                Err(RevokeError::NoJti) => return self.cannot_revoke(),
                Err(err) => {
                    tracing::warn!(outcome = "error", "revoke: {}", crate::error::Report(&err));
                    return self.message(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Token revocation store unavailable",
                    );
                }
            }
        }
        tracing::info!(
            outcome = "accepted",
            user_id = %presented.identity(),
            tokens = 1 + usize::from(refresh.is_some()),
            "revoke"
        );
        let mut reply = self.message(StatusCode::OK, "Successfully logged out");
        if self.cookies {
            self.manager.cookies().unset_all(reply.headers_mut());
        }
        reply
    }

    /// The refresh token in the refresh cookie, in cookie mode.
    fn refresh_cookie<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let name = &self.manager.core().settings.cookies.refresh.jwt;
        let value = self
            .cookies
            .then(|| cookie_value(headers, name))
            .flatten()?;
        std::str::from_utf8(value).ok()
    }

    /// The refresh token named in a revoke body: `None` when it is already unusable
    /// (expired or revoked), an error reply when it is not a refresh token of the same
    /// identity.
    async fn companion_refresh(
        &self,
        presented: &VerifiedToken,
        encoded: &str,
    ) -> Result<Option<VerifiedToken>, Reply> {
        match self.manager.verify_token(encoded).await {
            Ok(token) if token.token_type() != &TokenType::Refresh => Err(self.message(
                StatusCode::BAD_REQUEST,
                "\"refresh_token\" is not a refresh token",
            )),
            Ok(token) if token.subject() != presented.subject() => Err(self.message(
                StatusCode::BAD_REQUEST,
                "\"refresh_token\" belongs to another identity",
            )),
            Ok(token) => Ok(Some(token)),
            Err(err) if matches!(err.kind(), ErrorKind::Expired | ErrorKind::Revoked) => Ok(None),
            Err(err) if err.kind() == ErrorKind::RevocationStoreUnavailable => Err(self.message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Token revocation store unavailable",
            )),
            Err(err) => Err(self.message(
                StatusCode::BAD_REQUEST,
                &format!("Invalid \"refresh_token\": {}", err.message()),
            )),
        }
    }

    /// Reads a JSON object body within the size cap. `Ok(None)` for an empty body when it
    /// is optional, or for JSON that is not an object.
    async fn read_json<B>(
        &self,
        req: Request<B>,
        required: bool,
    ) -> Result<Option<Map<String, Value>>, Reply>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        if declared_length(&parts.headers) == Some(0) && !required {
            return Ok(None);
        }
        let bytes = self.read_bytes(&parts.headers, body).await?;
        if bytes.is_empty() && !required {
            return Ok(None);
        }
        if !is_json(&parts.headers) {
            return Err(self.message(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Some(map)),
            Ok(_) if required => Ok(None),
            Ok(_) | Err(_) => Err(self.message(
                StatusCode::BAD_REQUEST,
                "The request body must be a JSON object",
            )),
        }
    }

    /// The request with its body read whole, within the size cap.
    pub(super) async fn read_whole<B>(&self, req: Request<B>) -> Result<Request<Full<Bytes>>, Reply>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let bytes = self.read_bytes(&parts.headers, body).await?;
        Ok(Request::from_parts(parts, Full::new(bytes)))
    }

    /// A body's bytes within the size cap: 413 over it, 400 when it cannot be read.
    async fn read_bytes<B>(&self, headers: &HeaderMap, body: B) -> Result<Bytes, Reply>
    where
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        if declared_length(headers).is_some_and(|len| len > self.max_body_size as u64) {
            return Err(self.too_large());
        }
        match Limited::new(body, self.max_body_size).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(self.too_large()),
            Err(_) => Err(self.message(StatusCode::BAD_REQUEST, "Could not read the request body")),
        }
    }

    fn bad_login_body(&self) -> Reply {
        self.message(
            StatusCode::BAD_REQUEST,
            &format!(
                "The request body must be a JSON object with \"{}\" and \"password\" strings",
                self.login_field
            ),
        )
    }

    fn too_large(&self) -> Reply {
        self.message(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "The request body is larger than {} bytes",
                self.max_body_size
            ),
        )
    }

    /// A busy (or overloaded) hashing pool is a 503 to retry; anything else is a 500 with a
    /// generic message (the detail goes to the logs only).
    fn password_error(&self, err: PasswordError) -> Reply {
        match err {
            PasswordError::Busy | PasswordError::Timeout => {
                tracing::warn!(outcome = "busy", "login: {}", crate::error::Report(&err));
                let mut reply = self.message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many logins in progress, try again shortly",
                );
                reply
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                reply
            }
            _ => {
                tracing::error!(outcome = "error", "login: {}", crate::error::Report(&err));
                self.message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }

    /// A token without `jti` (an outside issuer's may have none) cannot be revoked alone:
    /// the client's request cannot succeed, so it is a 400, never a 503 to retry.
    fn cannot_revoke(&self) -> Reply {
        self.message(
            StatusCode::BAD_REQUEST,
            "This token has no \"jti\" claim and cannot be revoked",
        )
    }

    /// `{"<message key>": message}` with `status`.
    pub(super) fn message(&self, status: StatusCode, message: &str) -> Reply {
        json_message(status, self.manager.message_key(), message).map(Full::new)
    }
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.to_string())));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{AuthService, MemoryUserStore};
    use crate::JwtManager;

    #[test]
    fn only_a_busy_pool_is_a_503() {
        let jwt = JwtManager::builder()
            .secret("handlers-unit-test-secret-0123456789abcdef")
            .build()
            .unwrap();
        let svc = AuthService::new(&jwt, MemoryUserStore::new());
        let reply = svc
            .inner
            .password_error(PasswordError::Failed("the hashing threads are gone".into()));
        assert_eq!(reply.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(reply.headers().get(RETRY_AFTER).is_none());
        let busy = svc.inner.password_error(PasswordError::Busy);
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[RETRY_AFTER], "1");
    }
}
