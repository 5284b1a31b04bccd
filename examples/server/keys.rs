//! The example server's keys from the environment: `JWT_ALGORITHM` with `JWT_SECRET_KEY`
//! (HMAC) or `JWT_PRIVATE_KEY` (PEM files: the first signs, all verify and are published at
//! `/.well-known/jwks.json`, each named by its RFC 7638 thumbprint), and outside issuers:
//! one by its JWKS (`JWT_JWKS_URL` with `JWT_JWKS_ISSUER`) and any number by OpenID Connect
//! discovery (`JWT_JWKS_ISSUERS`, comma-separated issuer URLs, each's keys found at
//! `<issuer>/.well-known/openid-configuration` → `jwks_uri`), both may be combined; a token's
//! `iss` selects its issuer's keys. `JWT_JWKS_AUDIENCE`, `JWT_JWKS_COOLDOWN` and
//! `JWT_JWKS_REFRESH` apply to every outside issuer, and so does `JWT_ROLES_CLAIM` (default
//! `roles`; dotted for a nested claim, `realm_access.roles`): where its tokens carry roles.
//! With `--features jwks`, which brings the HTTP client: without it, `JWT_JWKS_URL` or
//! `JWT_JWKS_ISSUERS` stops the server at start.

#[cfg(feature = "jwks")]
use std::time::Duration;

#[cfg(feature = "jwks")]
use tower_jwt_auth::authorization::ClaimPath;
use tower_jwt_auth::jsonwebtoken::Algorithm;
#[cfg(feature = "jwks")]
use tower_jwt_auth::jwks::RemoteJwks;
use tower_jwt_auth::keys::JwtKey;
use tower_jwt_auth::manager::JwtManagerBuilder;

use crate::env_or;
#[cfg(feature = "jwks")]
use crate::env_parse;

/// The server's own keys.
pub(crate) fn own_keys() -> Result<Vec<JwtKey>, String> {
    let name = env_or("JWT_ALGORITHM", "HS256");
    let algorithm: Algorithm = name
        .trim()
        .parse()
        .map_err(|_| format!("JWT_ALGORITHM: unknown algorithm {name:?}"))?;
    let hmac = matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    );
    let secret = std::env::var("JWT_SECRET_KEY")
        .ok()
        .filter(|s| !s.is_empty());
    if !hmac {
        if secret.is_some() {
            tracing::info!("JWT_ALGORITHM is {name}: JWT_SECRET_KEY is ignored");
        }
        let paths = env_or("JWT_PRIVATE_KEY", "");
        let paths: Vec<&str> = paths
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if paths.is_empty() {
            return Err(format!(
                "JWT_ALGORITHM is {name}: set JWT_PRIVATE_KEY to the PEM private key(s)"
            ));
        }
        return paths
            .iter()
            .map(|path| {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("JWT_PRIVATE_KEY: cannot read {path}: {e}"))?;
                let key = JwtKey::from_pem(algorithm, &pem)
                    .map_err(|e| format!("JWT_PRIVATE_KEY: {path}: {}", crate::chain(&e)))?;
                tracing::info!(
                    kid = key.kid().unwrap_or_default(),
                    "{name} key from {path}"
                );
                Ok(key)
            })
            .collect();
    }
    let secret = match secret {
        Some(secret) => secret.into_bytes(),
        None => {
            tracing::warn!(
                "JWT_SECRET_KEY is not set: using a random key for this run; \
                 tokens will not be accepted after a restart"
            );
            let mut key = vec![0u8; 64];
            getrandom::fill(&mut key).map_err(|e| format!("no randomness for a key: {e}"))?;
            key
        }
    };
    let key = JwtKey::hmac(algorithm, secret).map_err(|e| format!("JWT_SECRET_KEY: {e}"))?;
    Ok(vec![key])
}

/// `JWT_JWKS_URL`, when set.
fn jwks_url() -> Option<String> {
    std::env::var("JWT_JWKS_URL").ok().filter(|u| !u.is_empty())
}

/// `JWT_JWKS_ISSUERS`: the issuer URLs, comma-separated (empty entries skipped).
fn jwks_issuers() -> Vec<String> {
    std::env::var("JWT_JWKS_ISSUERS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Trusts the outside issuers of `JWT_JWKS_URL` and `JWT_JWKS_ISSUERS`, if set.
#[cfg(feature = "jwks")]
pub(crate) async fn trust_remote_jwks(
    mut builder: JwtManagerBuilder,
) -> Result<JwtManagerBuilder, String> {
    for remote in remote_jwks().await? {
        builder = builder.trust_jwks(&remote);
    }
    Ok(builder)
}

/// Without the `jwks` feature there is no HTTP client to fetch keys with: `JWT_JWKS_URL` or
/// `JWT_JWKS_ISSUERS` stops the server rather than leaving its issuers' tokens refused in
/// silence.
#[cfg(not(feature = "jwks"))]
pub(crate) async fn trust_remote_jwks(
    builder: JwtManagerBuilder,
) -> Result<JwtManagerBuilder, String> {
    let name = match (jwks_url(), jwks_issuers().is_empty()) {
        (Some(_), _) => "JWT_JWKS_URL",
        (None, false) => "JWT_JWKS_ISSUERS",
        (None, true) => return Ok(builder),
    };
    Err(format!(
        "{name} is set, but the example was built without the `jwks` feature: \
         cargo run --example server --features jwks"
    ))
}

/// The outside issuers, their keys fetched before the server listens: the one of
/// `JWT_JWKS_URL`, then those of `JWT_JWKS_ISSUERS` (found by discovery).
#[cfg(feature = "jwks")]
async fn remote_jwks() -> Result<Vec<RemoteJwks>, String> {
    // Every issuer checked before any is fetched.
    let mut sources = Vec::new();
    let mut issuers = Vec::new();
    if let Some(url) = jwks_url() {
        let issuer = std::env::var("JWT_JWKS_ISSUER")
            .ok()
            .filter(|i| !i.is_empty())
            .ok_or("JWT_JWKS_URL is set: JWT_JWKS_ISSUER (the iss its tokens carry) is required")?;
        issuers.push(issuer.clone());
        sources.push((
            RemoteJwks::builder(url.clone()).issuer(issuer),
            url,
            "JWT_JWKS_URL",
        ));
    }
    for issuer in jwks_issuers() {
        if issuers.contains(&issuer) {
            return Err(format!(
                "JWT_JWKS_ISSUERS: {issuer:?} is named twice (JWT_JWKS_ISSUER included)"
            ));
        }
        issuers.push(issuer.clone());
        sources.push((
            RemoteJwks::discover(issuer.clone()),
            issuer,
            "JWT_JWKS_ISSUERS",
        ));
    }
    let mut remotes = Vec::new();
    for (builder, source, variable) in sources {
        remotes.push(start(builder, &source, variable).await?);
    }
    Ok(remotes)
}

/// `JWT_ROLES_CLAIM`: the claim holding outside issuers' roles, `roles` by default; dots
/// separate the members of a nested one (`realm_access.roles`).
#[cfg(feature = "jwks")]
fn roles_claim() -> Result<ClaimPath, String> {
    let value = env_or("JWT_ROLES_CLAIM", "");
    let value = match value.trim() {
        "" => "roles",
        path => path,
    };
    if value.split('.').any(str::is_empty) {
        return Err(format!(
            "JWT_ROLES_CLAIM: {value:?} has an empty member (expected e.g. roles or realm_access.roles)"
        ));
    }
    Ok(ClaimPath::dotted(value))
}

/// One outside issuer with the settings shared by all (`JWT_JWKS_AUDIENCE`,
/// `JWT_JWKS_COOLDOWN`, `JWT_JWKS_REFRESH`, `JWT_ROLES_CLAIM`), its first fetch made (a
/// failed one is logged: its tokens are refused until a later fetch succeeds).
#[cfg(feature = "jwks")]
async fn start(
    builder: tower_jwt_auth::jwks::RemoteJwksBuilder,
    source: &str,
    variable: &str,
) -> Result<RemoteJwks, String> {
    let mut builder = builder
        .roles_claim(roles_claim()?)
        .cooldown(Duration::from_secs(
            env_parse("JWT_JWKS_COOLDOWN")?.unwrap_or(30),
        ))
        .refresh_interval(Duration::from_secs(
            env_parse("JWT_JWKS_REFRESH")?.unwrap_or(600),
        ));
    if let Some(audience) = std::env::var("JWT_JWKS_AUDIENCE")
        .ok()
        .filter(|a| !a.is_empty())
    {
        builder = builder.audience(audience);
    }
    let remote = builder
        .build()
        .map_err(|e| format!("{variable}: {}", crate::chain(&e)))?;
    let refresh = match remote.start().await {
        Ok(refresh) => {
            tracing::info!("{} key(s) of {source} trusted", remote.key_ids().len());
            refresh
        }
        Err(failed) => {
            let why = crate::chain(&failed);
            tracing::warn!("{why}: its tokens are refused until a fetch succeeds");
            failed.into_handle()
        }
    };
    // Refreshed for as long as the server runs.
    refresh.detach();
    Ok(remote)
}
