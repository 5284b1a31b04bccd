//! Key rotation at run time, without a restart: add the next key (it verifies and is
//! published, but does not sign yet), promote it to signing, and retire the old one once
//! every token it signed has expired (the longest token lifetime after the promotion).
//!
//! # Example
//!
//! ```
//! use tower_jwt_auth::JwtManager;
//! use tower_jwt_auth::jsonwebtoken::Algorithm;
//! use tower_jwt_auth::keys::JwtKey;
//!
//! let old = JwtKey::hmac(Algorithm::HS256, "the-old-secret-of-at-least-32-bytes!").unwrap();
//! let manager = JwtManager::builder().key(old.with_kid("2026-10")).build().unwrap();
//! let before = manager.create_access_token("ada").unwrap();
//!
//! // The next key verifies at once; promoted, it signs new tokens.
//! let next = JwtKey::hmac(Algorithm::HS256, "the-next-secret-of-at-least-32-byte!").unwrap();
//! manager.add_key(next.with_kid("2026-11")).unwrap();
//! manager.promote_key("2026-11").unwrap();
//! let after = manager.create_access_token("ada").unwrap();
//! assert!(manager.decode_token(&before).is_ok());
//! assert!(manager.decode_token(&after).is_ok());
//!
//! // Retired, the old key's tokens are refused; the signing key cannot be retired.
//! manager.retire_key("2026-10").unwrap();
//! assert!(manager.decode_token(&before).is_err());
//! assert!(manager.retire_key("2026-11").is_err());
//! ```

use super::JwtManager;
use crate::config::keys::{JwtKey, KeyError, KeyInfo};

impl JwtManager {
    /// Adds a key: it verifies the tokens that name it and is published in the JWKS, but
    /// does not sign until [promoted](Self::promote_key). Keys of one algorithm need a `kid`
    /// each.
    pub fn add_key(&self, key: JwtKey) -> Result<(), KeyError> {
        let kid = key.kid().map(str::to_owned);
        self.core().settings.keys.ring.add(key.0)?;
        tracing::info!(kid = ?kid, "key added");
        Ok(())
    }

    /// Makes the key named `kid` sign the tokens issued from now on.
    pub fn promote_key(&self, kid: &str) -> Result<(), KeyError> {
        self.core().settings.keys.ring.promote(kid)?;
        tracing::info!(kid, "key promoted to signing");
        Ok(())
    }

    /// Removes the key named `kid`: the tokens it signed are refused from now on, also
    /// those the memo of verified tokens remembers. Retire a key once the longest token
    /// lifetime has passed since another key took over signing.
    pub fn retire_key(&self, kid: &str) -> Result<(), KeyError> {
        self.core().settings.keys.ring.retire(kid)?;
        tracing::info!(kid, "key retired");
        Ok(())
    }

    /// The manager's own keys, in the order they were added.
    pub fn keys(&self) -> Vec<KeyInfo> {
        self.core().settings.keys.ring.list()
    }
}
