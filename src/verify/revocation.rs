//! What guards ask the denylist about a token: its `jti` (or, for an outside issuer's token
//! without one, its identity's cut-off), then its refresh-rotation session.

use super::Core;
use crate::claims::VerifiedToken;
use crate::denylist::{DenylistError, TokenId};
use crate::error::{AuthError, ErrorKind};

impl Core {
    /// The denylist's answer for `token` without waiting, `None` when the store must be
    /// awaited: its own `jti` (or its identity's cut-off), then its session.
    pub(super) fn is_revoked_now(
        &self,
        token: &VerifiedToken,
    ) -> Result<Option<Result<bool, DenylistError>>, AuthError> {
        let id = token_id(token)?;
        let answer = self.denylist.is_revoked_now(id);
        Ok(match (answer, session_id(token, &id)) {
            (Some(Ok(false)), Some(session)) => self.denylist.is_revoked_now(session),
            (answer, _) => answer,
        })
    }

    /// The denylist's answer for `token`: its own `jti` (or its identity's cut-off), then
    /// its session.
    pub(super) async fn is_revoked(
        &self,
        token: &VerifiedToken,
    ) -> Result<Result<bool, DenylistError>, AuthError> {
        let id = token_id(token)?;
        let answer = self.denylist.is_revoked(id).await;
        Ok(match (answer, session_id(token, &id)) {
            (Ok(false), Some(session)) => self.denylist.is_revoked(session).await,
            (answer, _) => answer,
        })
    }
}

/// A token's session (its `sid` claim) as the denylist is asked about it: a revoked
/// session is an entry like a revoked `jti` (session ids are uuids too).
fn session_id<'t>(token: &'t VerifiedToken, id: &TokenId<'t>) -> Option<TokenId<'t>> {
    token
        .session()
        .map(|sid| TokenId::new(sid, id.identity, id.issued_at))
}

/// What the denylist is asked about a token. A token of this manager without `jti` cannot
/// be checked; an outside issuer's (which often has none) is checked against its identity's
/// cut-off only.
fn token_id(token: &VerifiedToken) -> Result<TokenId<'_>, AuthError> {
    match token.jti() {
        Some(jti) => Ok(TokenId::new(jti, token.identity(), token.0.issued)),
        None if token.0.key.trust.is_some() => {
            Ok(TokenId::without_jti(token.identity(), token.0.issued))
        }
        None => Err(AuthError::new(
            ErrorKind::InvalidClaim,
            r#"Token is missing the "jti" claim"#,
        )),
    }
}
