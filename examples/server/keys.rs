//! The example server's keys from the environment: `JWT_ALGORITHM` with `JWT_SECRET_KEY`
//! (HMAC) or `JWT_PRIVATE_KEY` (PEM files: the first signs, all verify and are published at
//! `/.well-known/jwks.json`, each named by its RFC 7638 thumbprint), and an outside issuer's
//! JWKS (`JWT_JWKS_URL`, `JWT_JWKS_ISSUER`, `JWT_JWKS_AUDIENCE`, `JWT_JWKS_COOLDOWN`,
//! `JWT_JWKS_REFRESH`; with `--features jwks`, which brings the HTTP client: without it,
//! `JWT_JWKS_URL` stops the server at start).

#[cfg(feature = "jwks")]
use std::time::Duration;

#[cfg(feature = "jwks")]
use tower_jwt_auth::jwks::RemoteJwks;
use tower_jwt_auth::{Algorithm, JwtKey, JwtManagerBuilder};

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
                    .map_err(|e| format!("JWT_PRIVATE_KEY: {path}: {e}"))?;
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

/// Trusts the outside issuer of `JWT_JWKS_URL`, if set.
#[cfg(feature = "jwks")]
pub(crate) async fn trust_remote_jwks(
    builder: JwtManagerBuilder,
) -> Result<JwtManagerBuilder, String> {
    Ok(match remote_jwks().await? {
        Some(remote) => builder.trust_jwks(&remote),
        None => builder,
    })
}

/// Without the `jwks` feature there is no HTTP client to fetch keys with: `JWT_JWKS_URL`
/// stops the server rather than leaving its issuer's tokens refused in silence.
#[cfg(not(feature = "jwks"))]
pub(crate) async fn trust_remote_jwks(
    builder: JwtManagerBuilder,
) -> Result<JwtManagerBuilder, String> {
    match jwks_url() {
        Some(_) => Err(
            "JWT_JWKS_URL is set, but the example was built without the `jwks` \
                        feature: cargo run --example server --features jwks"
                .into(),
        ),
        None => Ok(builder),
    }
}

/// The outside issuer of `JWT_JWKS_URL`, its keys fetched before the server listens.
#[cfg(feature = "jwks")]
async fn remote_jwks() -> Result<Option<RemoteJwks>, String> {
    let Some(url) = jwks_url() else {
        return Ok(None);
    };
    let issuer = std::env::var("JWT_JWKS_ISSUER")
        .ok()
        .filter(|i| !i.is_empty())
        .ok_or("JWT_JWKS_URL is set: JWT_JWKS_ISSUER (the iss its tokens carry) is required")?;
    let mut builder = RemoteJwks::builder(url.clone())
        .issuer(issuer)
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
    let remote = builder.build().map_err(|e| e.to_string())?;
    let refresh = match remote.start().await {
        Ok(refresh) => {
            tracing::info!("{} key(s) of {url} trusted", remote.key_ids().len());
            refresh
        }
        Err(failed) => {
            tracing::warn!("{failed}: its tokens are refused until a fetch succeeds");
            failed.into_handle()
        }
    };
    // Refreshed for as long as the server runs.
    refresh.detach();
    Ok(Some(remote))
}
