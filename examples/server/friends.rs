//! The tutorial's friends: `POST /me/friends` `{"username": "..."}` adds one (in the order
//! added, no duplicates), and the owner's views of a user (`GET /me`, `GET /users/{username}`
//! with the owner's token) list them. Kept in SQLite (table `friends`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rusqlite::params;
use serde_json::{json, Value};
use tower_jwt_auth::VerifiedToken;

use crate::{error, read_json, AppState};

/// `POST /me/friends` (JwtRequired): 200 `{"friends": [...]}`; 404 for an unknown
/// username; 400 for oneself or a body without a `username` string. Adding twice is not an
/// error.
pub async fn add(
    State(state): State<AppState>,
    Extension(token): Extension<VerifiedToken>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let fields = match read_json(&headers, body).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let Some(username) = fields.get("username").and_then(Value::as_str) else {
        return error(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object with a \"username\" string",
        );
    };
    // An outside issuer's identity has no local row, so no friends; nor has a token whose
    // user is gone (as `GET /me` answers it).
    let Some(me) = token.local_identity().and_then(|id| id.parse::<i64>().ok()) else {
        return error(StatusCode::NOT_FOUND, "user not found");
    };
    match state.db.user_by_id(&me.to_string()).await {
        Ok(Some(_)) => {}
        Ok(None) => return error(StatusCode::NOT_FOUND, "user not found"),
        Err(err) => return err.into_response(),
    }
    let friend = match state.db.user_by("username", username.to_owned()).await {
        Ok(Some(friend)) => friend,
        Ok(None) => return error(StatusCode::NOT_FOUND, "user not found"),
        Err(err) => return err.into_response(),
    };
    if friend.id == me {
        return error(
            StatusCode::BAD_REQUEST,
            "you cannot add yourself as a friend",
        );
    }
    let added = state
        .db
        .call(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO friends (user_id, friend_id) VALUES (?1, ?2)",
                params![me, friend.id],
            )
        })
        .await;
    if let Err(err) = added {
        return err.into_response();
    }
    match state.db.friends_of(me).await {
        Ok(friends) => Json(json!({ "friends": friends })).into_response(),
        Err(err) => err.into_response(),
    }
}
