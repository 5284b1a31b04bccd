//! What guards ask the denylist about a token: its `jti` (or, for an outside issuer's token
//! without one, its identity's cut-off), then its refresh-rotation session.

use std::borrow::Cow;

use super::Core;
use crate::claims::{scoped, VerifiedToken};
use crate::denylist::{DenylistError, TokenId};
use crate::error::{AuthError, ErrorKind};

impl Core {
    /// The denylist's answer for `token` without waiting, `None` when the store must be
    /// awaited: its own `jti` (or its identity's cut-off), then its session.
    pub(super) fn is_revoked_now(
        &self,
        token: &VerifiedToken,
    ) -> Result<Option<Result<bool, DenylistError>>, AuthError> {
        let names = Names::of(token)?;
        let answer = self.denylist.is_revoked_now(names.token_id(token));
        Ok(match (answer, names.session_id(token)) {
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
        let names = Names::of(token)?;
        let answer = self.denylist.is_revoked(names.token_id(token)).await;
        Ok(match (answer, names.session_id(token)) {
            (Ok(false), Some(session)) => self.denylist.is_revoked(session).await,
            (answer, _) => answer,
        })
    }
}

/// The names the denylist knows a token by: its `jti` (if any), its identity and its
/// session, namespaced by issuer for an outside issuer's token (borrowed, without an
/// allocation, for the manager's own).
struct Names<'t> {
    jti: Option<Cow<'t, str>>,
    identity: Cow<'t, str>,
    session: Option<Cow<'t, str>>,
}

impl<'t> Names<'t> {
    /// A token of this manager without `jti` cannot be checked; an outside issuer's (which
    /// often has none) is checked against its identity's cut-off only.
    fn of(token: &'t VerifiedToken) -> Result<Self, AuthError> {
        let issuer = token.issuer();
        let jti = token.jti();
        if jti.is_none() && issuer.is_none() {
            return Err(AuthError::new(
                ErrorKind::InvalidClaim,
                r#"Token is missing the "jti" claim"#,
            ));
        }
        Ok(Self {
            jti: jti.map(|jti| scoped(issuer, jti)),
            identity: scoped(issuer, token.identity()),
            session: token.session().map(|sid| scoped(issuer, sid)),
        })
    }

    fn token_id(&self, token: &VerifiedToken) -> TokenId<'_> {
        match &self.jti {
            Some(jti) => {
                TokenId::new(jti, &self.identity, token.0.issued).with_uuid(token.0.jti_uuid)
            }
            None => TokenId::without_jti(&self.identity, token.0.issued),
        }
    }

    /// A token's session (its `sid` claim) as the denylist is asked about it: a revoked
    /// session is an entry like a revoked `jti` (session ids are uuids too).
    fn session_id(&self, token: &VerifiedToken) -> Option<TokenId<'_>> {
        let session = self.session.as_deref()?;
        Some(TokenId::new(session, &self.identity, token.0.issued).with_uuid(token.0.session_uuid))
    }
}
