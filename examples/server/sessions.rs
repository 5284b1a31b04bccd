//! Sessions of refresh-token rotation for the example server: SQLite by default (they
//! survive a restart), Redis with `REDIS_URL` (shared by several instances); and the
//! `/me/sessions` routes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rusqlite::{params, OptionalExtension};
use serde_json::json;
use tower_jwt_auth::sessions::{Rotate, Rotation, Session, SessionError, SessionStore};
use tower_jwt_auth::{BoxFuture, VerifiedToken};

use crate::db::Db;
use crate::{error, AppState};

pub const NEEDS_ROTATION: &str = "Sessions need JWT_REFRESH_ROTATION=true";

/// Sessions in the example's SQLite database. The database's one write connection makes
/// each check-and-rotate a single transaction that nothing interleaves with.
#[derive(Clone)]
pub struct SqliteSessionStore {
    db: Db,
}

impl SqliteSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn failed(err: crate::db::DbError) -> SessionError {
    SessionError::new(format!("sqlite: {err:?}"))
}

impl SessionStore for SqliteSessionStore {
    fn start<'a>(
        &'a self,
        session: &'a Session,
        refresh_jti: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), SessionError>> {
        let (s, jti) = (session.clone(), refresh_jti.to_owned());
        Box::pin(async move {
            self.db
                .call(move |conn| {
                    conn.execute(
                        "INSERT OR REPLACE INTO sessions (id, identity, current, previous,
                             spent_at, created_at, last_refreshed_at, user_agent, expires_at)
                         VALUES (?1, ?2, ?3, NULL, NULL, ?4, ?4, ?5, ?6)",
                        params![
                            s.id,
                            s.identity,
                            jti,
                            ms(s.created_at),
                            s.user_agent,
                            until.map(ms)
                        ],
                    )
                    .map(drop)
                })
                .await
                .map_err(failed)
        })
    }

    fn rotate<'a>(&'a self, r: Rotate<'a>) -> BoxFuture<'a, Result<Rotation, SessionError>> {
        let (session, identity, presented, next) = (
            r.session.to_owned(),
            r.identity.to_owned(),
            r.presented.to_owned(),
            r.next.to_owned(),
        );
        let (now, grace, until) = (ms(r.now), r.grace.as_millis() as i64, r.until.map(ms));
        Box::pin(async move {
            self.db
                .call(move |conn| {
                    let tx = conn.unchecked_transaction()?;
                    let row: Option<(String, Option<String>, Option<i64>)> = tx
                        .query_row(
                            "SELECT current, previous, spent_at FROM sessions
                             WHERE id = ?1 AND identity = ?2
                               AND (expires_at IS NULL OR expires_at > ?3)",
                            params![session, identity, now],
                            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                        )
                        .optional()?;
                    let outcome = match row {
                        None => Rotation::Ended,
                        Some((current, _, _)) if current == presented => {
                            tx.execute(
                                "UPDATE sessions SET current = ?2, previous = ?3, spent_at = ?4,
                                     last_refreshed_at = ?4, expires_at = ?5 WHERE id = ?1",
                                params![session, next, presented, now, until],
                            )?;
                            Rotation::Rotated
                        }
                        Some((current, Some(previous), Some(spent)))
                            if previous == presented && now - spent < grace =>
                        {
                            Rotation::Concurrent { current }
                        }
                        Some(_) => {
                            tx.execute("DELETE FROM sessions WHERE id = ?1", params![session])?;
                            Rotation::Reused
                        }
                    };
                    tx.commit()?;
                    Ok(outcome)
                })
                .await
                .map_err(failed)
        })
    }

    fn list<'a>(
        &'a self,
        identity: &'a str,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<Vec<Session>, SessionError>> {
        let identity = identity.to_owned();
        Box::pin(async move {
            self.db
                .call(move |conn| {
                    let mut stmt = conn.prepare_cached(
                        "SELECT id, created_at, last_refreshed_at, user_agent FROM sessions
                         WHERE identity = ?1 AND (expires_at IS NULL OR expires_at > ?2)
                         ORDER BY created_at, id",
                    )?;
                    let rows = stmt.query_map(params![identity, ms(now)], |row| {
                        let mut s =
                            Session::new(row.get::<_, String>(0)?, &identity, time(row.get(1)?));
                        s.last_refreshed_at = time(row.get(2)?);
                        s.user_agent = row.get(3)?;
                        Ok(s)
                    })?;
                    rows.collect()
                })
                .await
                .map_err(failed)
        })
    }

    fn end<'a>(
        &'a self,
        identity: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        let (identity, id) = (identity.to_owned(), id.to_owned());
        Box::pin(async move {
            self.db
                .call(move |conn| {
                    conn.execute(
                        "DELETE FROM sessions WHERE id = ?1 AND identity = ?2",
                        params![id, identity],
                    )
                    .map(|n| n == 1)
                })
                .await
                .map_err(failed)
        })
    }
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `GET /me/sessions`: the caller's sessions, `current` marking the one of the token used.
pub async fn list(
    State(state): State<AppState>,
    Extension(token): Extension<VerifiedToken>,
) -> Response {
    let Some(sessions) = &state.sessions else {
        return error(StatusCode::NOT_FOUND, NEEDS_ROTATION);
    };
    match sessions.list(&token).await {
        Ok(list) => Json(
            list.iter()
                .map(|s| {
                    json!({
                        "id": s.id,
                        "created_at": epoch_secs(s.created_at),
                        "last_refreshed_at": epoch_secs(s.last_refreshed_at),
                        "user_agent": s.user_agent,
                        "current": token.session() == Some(s.id.as_str()),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(err) => unavailable(&err),
    }
}

/// `DELETE /me/sessions/{id}`: ends one of the caller's sessions.
pub async fn end(
    State(state): State<AppState>,
    Extension(token): Extension<VerifiedToken>,
    Path(id): Path<String>,
) -> Response {
    let Some(sessions) = &state.sessions else {
        return error(StatusCode::NOT_FOUND, NEEDS_ROTATION);
    };
    match sessions.end(&token, &id).await {
        Ok(true) => Json(json!({"msg": "Session ended"})).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "Session not found"),
        Err(err) => unavailable(&err),
    }
}

pub fn unavailable(err: &SessionError) -> Response {
    tracing::error!("{err}");
    error(StatusCode::SERVICE_UNAVAILABLE, "Session store unavailable")
}
