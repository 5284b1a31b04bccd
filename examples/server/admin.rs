//! Administrators: the users whose emails `ADMIN_EMAILS` lists get `"roles": ["admin"]` in
//! every token issued to them, and `GET /admin/users` (which requires that role) lists every
//! user.
//!
//! The role is looked up while each token is issued (login, refresh, rotation, implicit
//! refresh): the user's email from SQLite, against the list read at start. So a user added
//! to `ADMIN_EMAILS` (and the server restarted) is an admin from their next refresh on, and
//! one removed keeps the role only until the access tokens already issued expire.

use std::collections::HashSet;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::db::Db;
use crate::{env_or, AppState};

/// The role `ADMIN_EMAILS` grants, and `GET /admin/users` requires.
pub(crate) const ADMIN: &str = "admin";

/// `ADMIN_EMAILS`: comma-separated, spaces trimmed, compared as emails are stored: ASCII
/// letters lowercased, nothing else folded (empty by default: no one). Full Unicode case
/// folding would make another account's email (`\u{212A}im@...`, the Kelvin sign) equal to
/// an admin's `kim@...`.
pub(crate) fn admin_emails() -> HashSet<String> {
    env_or("ADMIN_EMAILS", "")
        .split(',')
        .map(|email| email.trim().to_ascii_lowercase())
        .filter(|email| !email.is_empty())
        .collect()
}

/// Warns about listed emails no account has yet: registration does not prove that the
/// registrant owns the address, so whoever registers it first gets the role. Create the
/// admins' accounts before listing them.
pub(crate) async fn warn_unregistered(db: &Db, admins: &HashSet<String>) {
    for email in admins {
        if let Ok(None) = db.user_by("email", email.clone()).await {
            tracing::warn!(
                "ADMIN_EMAILS lists {email}, which no account has: whoever registers it first \
                 becomes an admin (registration does not verify emails)"
            );
        }
    }
}

/// The claims loader of the server's own tokens: `"roles": ["admin"]` for a user whose
/// email is in `admins`, nothing for anyone else. A database failure issues the token
/// without the role (logged): never more than the user has.
pub(crate) fn roles_loader(
    db: Db,
    admins: HashSet<String>,
) -> impl Fn(&str) -> Map<String, Value> + Send + Sync + 'static {
    move |identity| {
        let mut claims = Map::new();
        if admins.is_empty() {
            return claims;
        }
        match db.email_by_id(identity) {
            Ok(Some(email)) if admins.contains(&email.to_ascii_lowercase()) => {
                claims.insert("roles".into(), json!([ADMIN]));
            }
            Ok(_) => {}
            Err(err) => {
                tracing::error!("roles of user {identity}: {err:?}; token issued without them");
            }
        }
        claims
    }
}

/// `GET /admin/users`, behind a guard requiring the admin role: every user's id, username
/// and email.
pub(crate) async fn users(State(state): State<AppState>) -> Response {
    match state.db.users().await {
        Ok(users) => Json(
            users
                .into_iter()
                .map(
                    |(id, username, email)| json!({"id": id, "username": username, "email": email}),
                )
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(err) => err.into_response(),
    }
}
