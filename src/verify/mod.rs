//! The one verification core behind all four guards, [`JwtManager::verify_token`] and the
//! auth service.
//!
//! Checks run in Flask-JWT-Extended's order: OPTIONS passes; the token is [located](locate);
//! size and shape are checked before any decoding; then the key and the signature, the
//! time claims with the leeway, `iss` and `aud`, the identity ([`decode`](decode::decode));
//! then one pipeline for everything after decoding: the token type, freshness, revocation,
//! the claims hook, the user lookup, and last the route's requirements (roles, scopes:
//! 403, see [`authorization`](crate::authorization)). Everything up to revocation is
//! synchronous; a future is allocated only when the denylist cannot answer locally or a
//! hook must be awaited.
//!
//! What decoding proves depends only on the token and the settings, so a token this thread
//! verified before is taken from the [`cache`] (when the manager has it on), with its time
//! claims checked again; the pipeline after decoding runs every time.
//!
//! [`JwtManager::verify_token`]: crate::JwtManager::verify_token

use std::borrow::Cow;
use std::sync::Arc;

use crate::claims::{LookedUp, TokenType, VerifiedToken};
use crate::config::keys::constant_time_eq;
use crate::config::{Settings, TokenLocation};
use crate::denylist::{Denylist, DenylistError};
use crate::error::{AuthError, ErrorKind};
use crate::BoxFuture;

mod cache;
pub(crate) mod decode;
pub(crate) mod locate;
mod revocation;

pub(crate) use locate::RequestView;

/// Which token type a route accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// Anything but `type: "refresh"`.
    Access,
    /// Exactly `type: "refresh"`.
    Refresh,
}

/// What a guard requires of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub(crate) kind: TokenKind,
    pub(crate) fresh: bool,
    pub(crate) optional: bool,
}

impl Requirement {
    pub(crate) const ACCESS: Self = Self {
        kind: TokenKind::Access,
        fresh: false,
        optional: false,
    };
}

/// A claims hook's verdict: accepted, or refused with a message (400).
pub(crate) type ClaimsCheck = Result<(), Cow<'static, str>>;

/// The claims hook, synchronous or not.
pub(crate) enum ClaimsHook {
    Sync(Arc<dyn Fn(&VerifiedToken) -> ClaimsCheck + Send + Sync>),
    Async(Arc<dyn Fn(&VerifiedToken) -> PendingCheck + Send + Sync>),
}

/// An async claims hook's verdict, to be awaited.
pub(crate) type PendingCheck = BoxFuture<'static, ClaimsCheck>;

/// The user-lookup hook, erased: the user, none, or the store's failure (for the logs).
pub(crate) type UserLookup = Arc<
    dyn Fn(&VerifiedToken) -> BoxFuture<'static, Result<Option<LookedUp>, String>> + Send + Sync,
>;

/// What a manager shares with every guard: its settings, its denylist, its hooks.
pub(crate) struct Core {
    pub(crate) settings: Arc<Settings>,
    pub(crate) denylist: Arc<dyn Denylist>,
    pub(crate) check_revocation: bool,
    pub(crate) claims_hook: Option<ClaimsHook>,
    pub(crate) user_lookup: Option<UserLookup>,
    pub(crate) user_lookup_error: String,
    /// Whether the user lookup is asked about outside issuers' tokens too (it then reads
    /// their issuer); otherwise such a token names no user.
    pub(crate) user_lookup_outside: bool,
    /// This manager's key in the per-thread memo of verified tokens; `None` when off.
    memo_owner: Option<u64>,
}

impl Core {
    pub(crate) fn new(
        settings: Arc<Settings>,
        denylist: Arc<dyn Denylist>,
        check_revocation: bool,
        claims_hook: Option<ClaimsHook>,
        user_lookup: Option<UserLookup>,
        user_lookup_error: String,
        user_lookup_outside: bool,
    ) -> Self {
        Self {
            memo_owner: settings.verified_token_cache.then(cache::owner_id),
            settings,
            denylist,
            check_revocation,
            claims_hook,
            user_lookup,
            user_lookup_error,
            user_lookup_outside,
        }
    }

    /// Decodes an encoded token (see [`decode::decode`]): `now` is epoch seconds.
    pub(crate) fn decode(
        &self,
        encoded: &str,
        location: Option<TokenLocation>,
    ) -> Result<VerifiedToken, AuthError> {
        decode::decode(
            &self.settings,
            encoded.as_bytes(),
            location,
            self.settings.clock.now_secs(),
        )
    }

    /// [`decode`](Self::decode), or its remembered result for a token this thread verified
    /// before (see [`cache`]): its time claims are checked again (the clock moves, and may
    /// step back), and so is its key's membership of the set. `Ok(None)` for an `unchecked`
    /// token (see [`locate::Found::unchecked`]) that is not remembered and not plain.
    fn decode_remembered(
        &self,
        encoded: &[u8],
        location: TokenLocation,
        unchecked: bool,
        now: f64,
    ) -> Result<Option<VerifiedToken>, AuthError> {
        let s = &self.settings;
        if let Some(owner) = self.memo_owner {
            if let Some(token) = cache::get(owner, encoded, location) {
                let t = &token.0;
                if t.key.in_set() {
                    decode::check_times(s, t.iat.unwrap_or(0.0), t.nbf, t.exp, now)?;
                    crate::telemetry::memo_hit();
                    return Ok(Some(token));
                }
            }
        }
        if unchecked && !locate::is_plain(encoded) {
            return Ok(None);
        }
        let token = decode::decode(s, encoded, Some(location), now)?;
        if let Some(owner) = self.memo_owner {
            cache::put(owner, encoded, location, &token);
        }
        Ok(Some(token))
    }

    /// Whether every check after revocation can be decided without waiting.
    fn hooks_are_sync(&self) -> bool {
        self.user_lookup.is_none() && !matches!(self.claims_hook, Some(ClaimsHook::Async(_)))
    }
}

/// A request a guard lets through.
pub(crate) enum Admitted {
    /// With a verified token.
    Token(VerifiedToken),
    /// Without one (OPTIONS, or an optional route), and why: what a required extractor
    /// answers.
    Anonymous(AuthError),
}

/// The result of the synchronous part of verification.
pub(crate) enum Verdict {
    /// Decided: admitted, or a rejection.
    Ready(Result<Admitted, AuthError>),
    /// The revocation store or a hook must be awaited.
    Pending(BoxFuture<'static, Result<Admitted, AuthError>>),
}

impl Verdict {
    /// Waits for the outcome.
    pub(crate) async fn outcome(self) -> Result<Admitted, AuthError> {
        match self {
            Verdict::Ready(outcome) => outcome,
            Verdict::Pending(pending) => pending.await,
        }
    }
}

/// A guard's resolved configuration: the manager's core with the route's requirement and
/// overrides. No HTTP: the guard answers rejections.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) core: Arc<Core>,
    pub(crate) requirement: Requirement,
    /// Whether the token type is checked (`verify_type`).
    pub(crate) verify_type: bool,
    pub(crate) locations: Arc<[TokenLocation]>,
    pub(crate) check_revocation: bool,
    /// Let requests through when the revocation store cannot answer.
    pub(crate) fail_open: bool,
    pub(crate) invalid_as_anonymous: bool,
    /// What a valid token must also carry (roles, scopes, predicates): checked last.
    pub(crate) authorization: crate::authorization::Requirements,
    /// Whether a token (or a CSRF value) may be in the body: JSON is a location, or cookies
    /// are and CSRF values may come in forms.
    reads_body: bool,
}

impl Route {
    pub(crate) fn new(core: Arc<Core>, requirement: Requirement) -> Self {
        let mut route = Self {
            requirement,
            verify_type: true,
            locations: Arc::new([]),
            check_revocation: core.check_revocation,
            fail_open: false,
            invalid_as_anonymous: false,
            authorization: Default::default(),
            reads_body: false,
            core,
        };
        route.set_locations(route.core.settings.locations.clone());
        route
    }

    /// Looks for tokens in these locations, in this order.
    pub(crate) fn set_locations(&mut self, locations: Arc<[TokenLocation]>) {
        self.reads_body = locations.contains(&TokenLocation::Json)
            || (self.core.settings.cookies.csrf_check_form
                && locations.contains(&TokenLocation::Cookies));
        self.locations = locations;
    }

    fn settings(&self) -> &Settings {
        &self.core.settings
    }

    /// Verifies a request: every check that needs no waiting now, and what is left.
    pub(crate) fn verify(self: &Arc<Self>, req: &RequestView<'_>) -> Verdict {
        self.verify_located(req, true)
    }

    /// [`verify`](Self::verify), the header's token taken the `quick` way or not (see
    /// [`locate::locate`]).
    fn verify_located(self: &Arc<Self>, req: &RequestView<'_>, quick: bool) -> Verdict {
        let found = match self.locate(req, quick) {
            Ok(Ok(found)) => found,
            Ok(Err(anonymous)) => return Verdict::Ready(Ok(anonymous)),
            Err(err) => return Verdict::Ready(self.tolerate(err)),
        };
        match self.decode_found(&found) {
            Ok(Some(token)) => self.after_decode(token),
            // Not a plain token: the header is read again, the careful way.
            Ok(None) => self.verify_located(req, false),
            Err(err) if err.kind() == ErrorKind::UnknownKey => {
                match self.settings().keys.refreshers_for(&found.token) {
                    refreshers if refreshers.is_empty() => Verdict::Ready(self.tolerate(err)),
                    refreshers => self.after_refreshing_keys(found.into_owned(), refreshers),
                }
            }
            Err(err) => Verdict::Ready(self.tolerate(err)),
        }
    }

    /// The token of a request, or why the request passes without one (OPTIONS, or no token
    /// on an optional route).
    fn locate<'a>(
        &self,
        req: &RequestView<'a>,
        quick: bool,
    ) -> Result<Result<locate::Found<'a>, Admitted>, AuthError> {
        if req.method == http::Method::OPTIONS {
            return Ok(Err(Admitted::Anonymous(AuthError::missing(
                "Missing JWT: OPTIONS requests are not authenticated",
            ))));
        }
        let refresh = self.requirement.kind == TokenKind::Refresh;
        match locate::locate(self.settings(), &self.locations, refresh, req, quick) {
            Ok(found) => Ok(Ok(found)),
            Err(err) if err.kind() == ErrorKind::MissingToken && self.requirement.optional => {
                Ok(Err(Admitted::Anonymous(err)))
            }
            Err(err) => Err(err),
        }
    }

    /// Decodes a located token (or takes it from the memo) and checks its CSRF value;
    /// `Ok(None)` for a token the quick path took that is not one (see
    /// [`Core::decode_remembered`]).
    fn decode_found(&self, found: &locate::Found<'_>) -> Result<Option<VerifiedToken>, AuthError> {
        let now = self.settings().clock.now_secs();
        let token =
            self.core
                .decode_remembered(&found.token, found.location, found.unchecked, now)?;
        if let (Some(token), Some(presented)) = (&token, &found.csrf) {
            check_csrf(token, presented)?;
        }
        Ok(token)
    }

    /// A token whose key none of the sets holds: the keys of the outside issuer that may
    /// have published it (the one its `iss` names, if allowed its `alg`, see
    /// `Keys::refreshers_for`) are fetched
    /// again (at most once per cooldown, concurrent misses sharing one fetch), then the
    /// token is decoded once more.
    fn after_refreshing_keys(
        self: &Arc<Self>,
        found: locate::Found<'static>,
        refreshers: Vec<Arc<dyn crate::config::keys::Refresher>>,
    ) -> Verdict {
        let route = Arc::clone(self);
        Verdict::Pending(Box::pin(async move {
            for refresher in refreshers {
                refresher.refresh_on_miss().await;
            }
            match route.decode_found(&found) {
                Ok(Some(token)) => route.after_decode(token).outcome().await,
                // Unreachable: the first decode of this token passed `is_plain`.
                Ok(None) => {
                    debug_assert!(false, "a token decoded once is plain");
                    route.tolerate(AuthError::malformed("Invalid header padding"))
                }
                Err(err) => route.tolerate(err),
            }
        }))
    }

    /// Locate and decode, or why the request passes without a token; what `verify` does
    /// before the pipeline, without fetching keys.
    #[cfg(test)]
    fn locate_and_decode(&self, req: &RequestView<'_>) -> Result<Admitted, AuthError> {
        match self.locate(req, false)? {
            Ok(found) => self
                .decode_found(&found)
                .map(|token| Admitted::Token(token.expect("located the careful way"))),
            Err(anonymous) => Ok(anonymous),
        }
    }

    /// Whether verifying `req` needs its body, not read yet: a JSON body on a route that
    /// reads tokens from JSON, or a form that may carry the CSRF value of a cookie-borne
    /// token. One test of a flag on routes that read no body.
    pub(crate) fn needs_body(&self, req: &RequestView<'_>) -> bool {
        self.reads_body
            && req.method != http::Method::OPTIONS
            && locate::needs_body(
                self.settings(),
                &self.locations,
                self.requirement.kind == TokenKind::Refresh,
                req,
            )
    }

    /// The most a guard buffers of a body.
    pub(crate) fn body_limit(&self) -> usize {
        self.settings().json.body_limit
    }

    /// The one pipeline after decoding: type and freshness, revocation, the claims hook,
    /// the user lookup, the route's requirements. Decided at once when nothing needs
    /// waiting.
    pub(crate) fn after_decode(self: &Arc<Self>, token: VerifiedToken) -> Verdict {
        if let Err(err) = self.check_type_and_freshness(&token) {
            return Verdict::Ready(self.tolerate(err));
        }
        let revoked_now = match self.revocation_now(&token) {
            Ok(known) => known,
            Err(err) => return Verdict::Ready(self.tolerate(err)),
        };
        if revoked_now.is_some() && self.core.hooks_are_sync() {
            let checked = self
                .claims_hook_now(&token)
                .and_then(|()| self.authorize(&token))
                .map(|()| Admitted::Token(token));
            return Verdict::Ready(checked.or_else(|e| self.tolerate(e)));
        }
        let route = Arc::clone(self);
        Verdict::Pending(Box::pin(async move {
            let checked = route.finish(token, revoked_now.is_some()).await;
            checked.map(Admitted::Token).or_else(|e| route.tolerate(e))
        }))
    }

    /// What is left after the synchronous checks: revocation (unless already settled), the
    /// claims hook, the user lookup, then the route's requirements.
    async fn finish(
        &self,
        token: VerifiedToken,
        revocation_settled: bool,
    ) -> Result<VerifiedToken, AuthError> {
        if !revocation_settled {
            let answer = self.core.is_revoked(&token).await?;
            self.revoked(answer)?;
        }
        match &self.core.claims_hook {
            Some(ClaimsHook::Async(hook)) => hook(&token).await.map_err(claims_refused)?,
            _ => self.claims_hook_now(&token)?,
        }
        let token = self.lookup_user(token).await?;
        self.authorize(&token)?;
        Ok(token)
    }

    /// The route's requirements (403), last: an invalid or revoked token is refused first.
    #[inline]
    fn authorize(&self, token: &VerifiedToken) -> Result<(), AuthError> {
        if self.authorization.is_empty() {
            return Ok(());
        }
        self.authorization.check(token)
    }

    /// An optional route that treats invalid tokens as anonymous turns token problems
    /// into "no token".
    fn tolerate(&self, err: AuthError) -> Result<Admitted, AuthError> {
        if self.requirement.optional && self.invalid_as_anonymous && err.kind().is_token_problem() {
            Ok(Admitted::Anonymous(err))
        } else {
            Err(err)
        }
    }

    fn check_type_and_freshness(&self, token: &VerifiedToken) -> Result<(), AuthError> {
        if self.verify_type {
            match (self.requirement.kind, token.token_type()) {
                (TokenKind::Access, TokenType::Refresh) => {
                    return Err(AuthError::new(
                        ErrorKind::WrongTokenType,
                        "Only non-refresh tokens are allowed",
                    ))
                }
                (TokenKind::Refresh, t) if *t != TokenType::Refresh => {
                    return Err(AuthError::new(
                        ErrorKind::WrongTokenType,
                        "Only refresh tokens are allowed",
                    ))
                }
                _ => {}
            }
        }
        if self.requirement.fresh && !token.is_fresh() {
            return Err(AuthError::new(
                ErrorKind::FreshTokenRequired,
                "Fresh token required",
            ));
        }
        Ok(())
    }

    /// `Ok(Some(false))` when not revoked (or not checked), `Ok(None)` when the store must
    /// be awaited; a revoked token or a failing store is an error.
    fn revocation_now(&self, token: &VerifiedToken) -> Result<Option<bool>, AuthError> {
        if !self.check_revocation {
            return Ok(Some(false));
        }
        match self.core.is_revoked_now(token)? {
            Some(answer) => self.revoked(answer).map(Some),
            None => Ok(None),
        }
    }

    /// The denylist's answer as a verdict: a store error fails closed, or open on routes
    /// configured so.
    fn revoked(&self, answer: Result<bool, DenylistError>) -> Result<bool, AuthError> {
        match answer {
            Ok(false) => Ok(false),
            Ok(true) => Err(AuthError::new(ErrorKind::Revoked, "Token has been revoked")),
            Err(err) if self.fail_open => {
                tracing::warn!(
                    outcome = "fail-open",
                    "revocation not checked: {}",
                    crate::error::Report(&err)
                );
                Ok(false)
            }
            Err(_) => Err(AuthError::new(
                ErrorKind::RevocationStoreUnavailable,
                "Token revocation store unavailable",
            )),
        }
    }

    /// The synchronous claims hook, if that is the kind configured.
    fn claims_hook_now(&self, token: &VerifiedToken) -> Result<(), AuthError> {
        match &self.core.claims_hook {
            Some(ClaimsHook::Sync(hook)) => hook(token).map_err(claims_refused),
            _ => Ok(()),
        }
    }

    async fn lookup_user(&self, mut token: VerifiedToken) -> Result<VerifiedToken, AuthError> {
        let Some(lookup) = &self.core.user_lookup else {
            return Ok(token);
        };
        // An outside issuer's `sub` is not a local identity: the hook, written for the
        // manager's own tokens, is not asked unless it says it maps outside identities.
        let asked = !token.is_external() || self.core.user_lookup_outside;
        let found = if asked {
            lookup(&token).await
        } else {
            Ok(None)
        };
        if !asked {
            tracing::debug!(
                outcome = "refused",
                "an outside issuer's token names no local user (see user_lookup_for_external_tokens)"
            );
        }
        match found {
            Ok(Some(user)) => {
                token.1 = Some(Box::new(user));
                Ok(token)
            }
            Ok(None) => Err(AuthError::new(
                ErrorKind::UserLookup,
                format!("Error loading the user {}", token.identity()),
            )),
            Err(err) => {
                tracing::warn!(outcome = "error", "user lookup failed: {err}");
                Err(AuthError::new(
                    ErrorKind::UserStoreUnavailable,
                    self.core.user_lookup_error.clone(),
                ))
            }
        }
    }

    /// Whether a token verified earlier is still good for issuing a successor: not expired
    /// (leeway aside) and, as far as the denylist can tell at once, not revoked since.
    pub(crate) fn still_valid(&self, token: &VerifiedToken) -> bool {
        let now = self.settings().clock.now_secs();
        token.expires_at().is_none_or(|exp| exp > now)
            && self
                .core
                .is_revoked_now(token)
                .ok()
                .flatten()
                .is_some_and(|answer| matches!(answer, Ok(false)))
    }

    /// Records a request the guard let through (never the token itself).
    pub(crate) fn admit(&self, admitted: &Admitted) {
        match admitted {
            Admitted::Token(token) => tracing::debug!(
                outcome = "accepted",
                location = token.location().map_or("direct", TokenLocation::as_str),
                token_type = token.token_type().as_str(),
                "token verified"
            ),
            Admitted::Anonymous(_) => {
                tracing::debug!(outcome = "anonymous", "no token required")
            }
        }
    }
}

/// The CSRF double-submit check of a cookie-borne token: the value presented must equal its
/// `csrf` claim, compared in constant time.
fn check_csrf(token: &VerifiedToken, presented: &str) -> Result<(), AuthError> {
    let Some(claim) = token.csrf() else {
        return Err(AuthError::new(
            ErrorKind::InvalidClaim,
            "Missing claim: csrf",
        ));
    };
    if constant_time_eq(claim.as_bytes(), presented.as_bytes()) {
        Ok(())
    } else {
        Err(AuthError::new(
            ErrorKind::Csrf,
            "CSRF double submit tokens do not match",
        ))
    }
}

fn claims_refused(message: Cow<'static, str>) -> AuthError {
    AuthError::new(ErrorKind::UserClaimsVerification, message)
}

#[cfg(test)]
mod tests;
