//! [`JwtManagerBuilder`]: every setting of a manager, validated by
//! [`build`](JwtManagerBuilder::build).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::Value;

use super::JwtManager;
use crate::clock::{Clock, ClockHandle};
use crate::config::keys::{JwtKey, Key, KeySet, Keys, Material, RemoteKeys};
use crate::config::{BuildError, HeaderMessages, Lifetime, Settings, TokenLocation};
use crate::denylist::{Denylist, MemoryDenylist};
use crate::issue::{Issuer, Loader};
use crate::respond::{DefaultErrorResponder, ErrorResponder, StatusPolicy};
use crate::verify::{ClaimsHook, Core, UserLookup};

/// Builds a [`JwtManager`]; every setting is validated by [`build`](Self::build).
#[must_use = "builders do nothing until built"]
pub struct JwtManagerBuilder {
    material: Option<Material>,
    /// Keys added with [`key`](Self::key), after the one of `secret`/`key_pair`.
    keys: Vec<JwtKey>,
    /// Outside issuers whose keys verify too.
    pub(crate) remotes: Vec<Arc<RemoteKeys>>,
    max_lifetime: Option<Duration>,
    algorithm: Algorithm,
    access_lifetime: Lifetime,
    refresh_lifetime: Lifetime,
    leeway: Duration,
    identity_claim: String,
    pub(super) claim_names: crate::config::ClaimNames,
    encode_issuer: Option<String>,
    encode_audience: Option<Value>,
    decode_issuer: Option<String>,
    decode_audience: Vec<String>,
    encode_nbf: bool,
    message_key: String,
    header_name: String,
    header_type: String,
    max_token_size: usize,
    verified_token_cache: bool,
    locations: Vec<TokenLocation>,
    pub(super) locations_settings: super::locations::LocationSettings,
    status_policy: StatusPolicy,
    responder: Arc<dyn ErrorResponder>,
    pub(super) resource: Option<String>,
    denylist: Option<Arc<dyn Denylist>>,
    clock: ClockHandle,
    check_revocation: bool,
    pub(super) claims_hook: Option<ClaimsHook>,
    pub(super) user_lookup: Option<UserLookup>,
    pub(super) user_lookup_error: String,
    pub(super) user_lookup_outside: bool,
    pub(super) claims_loader: Option<Loader>,
    pub(super) headers_loader: Option<Loader>,
}

impl Default for JwtManagerBuilder {
    fn default() -> Self {
        Self {
            material: None,
            keys: Vec::new(),
            remotes: Vec::new(),
            max_lifetime: None,
            algorithm: Algorithm::HS256,
            access_lifetime: Lifetime::After(Duration::from_secs(15 * 60)),
            refresh_lifetime: Lifetime::After(Duration::from_secs(30 * 24 * 3600)),
            leeway: Duration::ZERO,
            identity_claim: "sub".into(),
            claim_names: Default::default(),
            encode_issuer: None,
            encode_audience: None,
            decode_issuer: None,
            decode_audience: Vec::new(),
            encode_nbf: true,
            message_key: "msg".into(),
            header_name: "Authorization".into(),
            header_type: "Bearer".into(),
            max_token_size: 8 * 1024,
            verified_token_cache: true,
            locations: vec![TokenLocation::Headers],
            locations_settings: Default::default(),
            status_policy: StatusPolicy::Default,
            responder: Arc::new(DefaultErrorResponder),
            resource: None,
            denylist: None,
            clock: ClockHandle::default(),
            check_revocation: true,
            claims_hook: None,
            user_lookup: None,
            user_lookup_error: "User store unavailable".into(),
            user_lookup_outside: false,
            claims_loader: None,
            headers_loader: None,
        }
    }
}

impl fmt::Debug for JwtManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtManagerBuilder")
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl JwtManagerBuilder {
    /// The HMAC secret (HS256 by default). At least as long as the hash output
    /// (32 bytes for HS256, 48 for HS384, 64 for HS512) and not a well-known value.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.material = Some(Material::Secret(secret.as_ref().to_vec()));
        self
    }

    /// An asymmetric key pair (RS*, PS*, ES256/384, EdDSA) instead of a secret, e.g. from
    /// `EncodingKey::from_ed_pem` and `DecodingKey::from_ed_pem`. Set the matching
    /// [`algorithm`](Self::algorithm).
    pub fn key_pair(mut self, encoding: EncodingKey, decoding: DecodingKey) -> Self {
        self.material = Some(Material::Pair(encoding, decoding));
        self
    }

    /// Only a public key (e.g. `DecodingKey::from_rsa_pem`, `DecodingKey::from_jwk`): the
    /// manager verifies tokens issued elsewhere and cannot issue any. Set the matching
    /// [`algorithm`](Self::algorithm).
    pub fn verification_key(mut self, decoding: DecodingKey) -> Self {
        self.material = Some(Material::Public(decoding));
        self
    }

    /// Adds a key to the set (see [`JwtKey`]): every key verifies the tokens naming it by
    /// `kid`, and the first key that can sign (the one of [`secret`](Self::secret) or
    /// [`key_pair`](Self::key_pair) when set) signs. Keys of one algorithm need a `kid`
    /// each; an asymmetric key has its thumbprint by default. Rotate at run time with
    /// [`JwtManager::add_key`], [`promote_key`](JwtManager::promote_key) and
    /// [`retire_key`](JwtManager::retire_key).
    pub fn key(mut self, key: JwtKey) -> Self {
        self.keys.push(key);
        self
    }

    /// The longest `exp - iat` accepted (default: the longer of the access and refresh
    /// lifetimes). Issuing a token with a longer lifetime fails.
    pub fn max_token_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max);
        self
    }

    /// The signing algorithm, and the only one accepted when verifying (default HS256).
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Access token lifetime (default 15 minutes); [`Lifetime::Never`] for no `exp`.
    pub fn access_token_lifetime(mut self, lifetime: impl Into<Lifetime>) -> Self {
        self.access_lifetime = lifetime.into();
        self
    }

    /// Refresh token lifetime (default 30 days); [`Lifetime::Never`] for no `exp`.
    pub fn refresh_token_lifetime(mut self, lifetime: impl Into<Lifetime>) -> Self {
        self.refresh_lifetime = lifetime.into();
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (default 0 s, as Flask-JWT-Extended).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The claim that holds the identity (default `sub`).
    pub fn identity_claim(mut self, name: impl Into<String>) -> Self {
        self.identity_claim = name.into();
        self
    }

    /// Issuer written into issued tokens (`iss`) and required of verified ones.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        self.encode_issuer(issuer.clone()).decode_issuer(issuer)
    }

    /// Issuer written into issued tokens only.
    pub fn encode_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.encode_issuer = Some(issuer.into());
        self
    }

    /// Issuer required of verified tokens only.
    pub fn decode_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.decode_issuer = Some(issuer.into());
        self
    }

    /// Audience written into issued tokens (`aud`) and required of verified ones.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        self.encode_audience(audience.clone())
            .decode_audience([audience])
    }

    /// Audience written into issued tokens only (a string, or an array of strings).
    pub fn encode_audience(mut self, audience: impl Into<Value>) -> Self {
        self.encode_audience = Some(audience.into());
        self
    }

    /// Audiences accepted when verifying: a token's `aud` must name at least one.
    pub fn decode_audience<I, A>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.decode_audience = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Whether issued tokens carry `nbf` (default true).
    pub fn encode_nbf(mut self, yes: bool) -> Self {
        self.encode_nbf = yes;
        self
    }

    /// The JSON key of error messages (default `msg`).
    pub fn error_message_key(mut self, key: impl Into<String>) -> Self {
        self.message_key = key.into();
        self
    }

    /// The header holding the token (default `Authorization`).
    pub fn header_name(mut self, name: impl Into<String>) -> Self {
        self.header_name = name.into();
        self
    }

    /// The scheme before the token (default `Bearer`; empty for a bare token).
    pub fn header_type(mut self, scheme: impl Into<String>) -> Self {
        self.header_type = scheme.into();
        self
    }

    /// Tokens longer than this are refused before any decoding (default 8 KiB).
    pub fn max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Whether guards remember the tokens they verified (default `true`).
    ///
    /// A client sends the same token with every request until it expires. With the memo
    /// on, each thread keeps up to 256 verified tokens (stored from a token's second
    /// verification, matched on the whole token in constant time), and a token seen again
    /// skips the signature, base64 and JSON work; its expiry, type, freshness, revocation,
    /// the claims hook and the user lookup are still checked on every request, so no answer
    /// changes. Turn it off to verify every request from scratch.
    /// [`JwtManager::decode_token`] never uses it.
    pub fn verified_token_cache(mut self, yes: bool) -> Self {
        self.verified_token_cache = yes;
        self
    }

    /// Where to look for tokens, in order of precedence (default: headers only).
    pub fn token_locations(mut self, locations: impl IntoIterator<Item = TokenLocation>) -> Self {
        self.locations = locations.into_iter().collect();
        self
    }

    /// How error kinds map to status codes (default [`StatusPolicy::Default`]).
    pub fn status_policy(mut self, policy: StatusPolicy) -> Self {
        self.status_policy = policy;
        self
    }

    /// Replaces the default error responses.
    pub fn error_responder(mut self, responder: impl ErrorResponder) -> Self {
        self.responder = Arc::new(responder);
        self
    }

    /// The revocation store (default an in-process [`MemoryDenylist`]): the denylist itself,
    /// or a shared `Arc<dyn Denylist>` (held as it is).
    pub fn denylist(mut self, denylist: impl Denylist) -> Self {
        self.denylist = Some(shared(denylist));
        self
    }

    /// The clock the manager reads time from (default: the system clock); see
    /// the [`clock`](mod@crate::clock) module. The default in-process denylist uses it too.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockHandle::new(clock);
        self
    }

    /// Whether guards check revocation (default true; tokens then need a `jti`).
    pub fn check_revocation(mut self, yes: bool) -> Self {
        self.check_revocation = yes;
        self
    }

    /// The manager's own keys: the one of `secret`/`key_pair`/`verification_key`, then those
    /// of [`key`](Self::key); the first that can sign signs.
    fn key_set(&mut self) -> Result<KeySet, BuildError> {
        let mut keys: Vec<Key> = Vec::new();
        if let Some(material) = self.material.take() {
            keys.push(Key::new(self.algorithm, material)?);
        }
        keys.extend(self.keys.drain(..).map(|k| k.0));
        if keys.is_empty() && self.remotes.is_empty() {
            return Err(BuildError::MissingKey);
        }
        let own = [&self.encode_issuer, &self.decode_issuer];
        if let Some(own) = crate::config::keys::outside_spelling_own(&self.remotes, own) {
            return Err(BuildError::setting(
                "trust_jwks",
                format!("the outside issuer {own:?} is the manager's own issuer"),
            ));
        }
        let ring = crate::config::keys::KeyRing::new(KeySet::default());
        let mut signing = None;
        for (i, key) in keys.into_iter().enumerate() {
            if signing.is_none() && key.encoding.is_some() {
                signing = Some(i);
            }
            ring.add(key).map_err(BuildError::KeySet)?;
        }
        let mut set = KeySet::clone(&ring.load());
        set.signing = signing;
        Ok(set)
    }

    /// Validates the settings and builds the manager.
    pub fn build(mut self) -> Result<JwtManager, BuildError> {
        let keys = self.key_set()?;
        // Lifetimes are whole seconds (`exp` is an integer for the consumers that read it as
        // one); longer than a century is a mistake (use `Lifetime::Never`).
        const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
        for (setting, name, lifetime) in [
            ("access_token_lifetime", "access", self.access_lifetime),
            ("refresh_token_lifetime", "refresh", self.refresh_lifetime),
        ] {
            let problem = match lifetime {
                Lifetime::After(d) if d.subsec_nanos() != 0 || d.is_zero() => format!(
                    "the {name} token lifetime {d:?} is not a whole number of seconds (at \
                     least one)"
                ),
                Lifetime::After(d) if d > LONGEST => format!(
                    "the {name} token lifetime {d:?} is longer than a century: use \
                     Lifetime::Never for tokens that never expire"
                ),
                Lifetime::After(d) if self.max_lifetime.is_some_and(|max| d > max) => {
                    format!("the {name} token lifetime {d:?} exceeds the maximum token lifetime")
                }
                _ => continue,
            };
            return Err(BuildError::setting(setting, problem));
        }
        // The longest `exp - iat` accepted: by default the longest finite lifetime, or no
        // bound when both are `Never`.
        let max_lifetime = match self.max_lifetime {
            Some(max) => max.as_secs_f64(),
            None => [self.access_lifetime, self.refresh_lifetime]
                .into_iter()
                .filter_map(|l| match l {
                    Lifetime::After(d) => Some(d.as_secs_f64()),
                    Lifetime::Never => None,
                })
                .reduce(f64::max)
                .unwrap_or(f64::INFINITY),
        };
        if max_lifetime <= 0.0 {
            return Err(BuildError::setting(
                "max_token_lifetime",
                "the maximum token lifetime must be positive",
            ));
        }
        if self.leeway > Duration::from_secs(24 * 3600) {
            return Err(BuildError::setting("leeway", "leeway over one day"));
        }
        if self.identity_claim.is_empty()
            || crate::claims::REGISTERED.contains(&self.identity_claim.as_str())
        {
            return Err(BuildError::setting(
                "identity_claim",
                format!(
                    "identity claim {:?} is empty or reserved",
                    self.identity_claim
                ),
            ));
        }
        if self.message_key.is_empty() {
            return Err(BuildError::setting(
                "error_message_key",
                "error message key is empty",
            ));
        }
        let header_name = HeaderName::try_from(self.header_name.as_str()).map_err(|_| {
            BuildError::setting(
                "header_name",
                format!("invalid header name {:?}", self.header_name),
            )
        })?;
        if self
            .header_type
            .bytes()
            .any(|b| !b.is_ascii_graphic() || b == b',')
        {
            return Err(BuildError::setting(
                "header_type",
                format!("header type {:?} must be a single token", self.header_type),
            ));
        }
        if self.max_token_size < 16 {
            return Err(BuildError::setting(
                "max_token_size",
                "max token size below 16 bytes",
            ));
        }
        TokenLocation::check_list(&self.locations)?;

        let (resource, challenges) = super::resource::challenges(self.resource.as_deref())?;
        (self.claim_names).check(Some(&self.identity_claim))?;
        for trust in self.remotes.iter().map(|remote| &remote.trust) {
            for (what, path) in [
                ("roles", &trust.roles_claim),
                ("scopes", &trust.scopes_claim),
            ] {
                if let Some(Err(err)) = path
                    .as_ref()
                    .map(|p| p.check(what, Some(&self.identity_claim)))
                {
                    return Err(BuildError::setting(
                        "trust_jwks",
                        format!("{}: {err}", trust.issuer),
                    ));
                }
            }
        }
        let (cookies, query, json, implicit_refresh) = self
            .locations_settings
            .validate(self.locations.contains(&TokenLocation::Cookies))?;
        let settings = Arc::new(Settings {
            keys: Keys::new(keys, self.remotes),
            access_lifetime: self.access_lifetime,
            refresh_lifetime: self.refresh_lifetime,
            leeway: self.leeway.as_secs_f64(),
            max_lifetime,
            identity_claim: self.identity_claim,
            encode_issuer: self.encode_issuer,
            encode_audience: self.encode_audience,
            decode_issuer: self.decode_issuer,
            decode_audience: self.decode_audience,
            encode_nbf: self.encode_nbf,
            message_key: self.message_key.into(),
            header_messages: HeaderMessages::new(&self.header_name, &self.header_type),
            header_name,
            header_type: self.header_type,
            max_token_size: self.max_token_size,
            locations: self.locations.into(),
            cookies,
            query,
            json,
            implicit_refresh,
            verified_token_cache: self.verified_token_cache,
            clock: self.clock.clone(),
            claim_names: self.claim_names,
            challenges,
        });
        let denylist = self
            .denylist
            .unwrap_or_else(|| Arc::new(MemoryDenylist::with_clock_handle(self.clock)));
        Ok(JwtManager::from_parts(
            Core::new(
                settings.clone(),
                denylist,
                self.check_revocation,
                self.claims_hook,
                self.user_lookup,
                self.user_lookup_error,
                self.user_lookup_outside,
            ),
            Issuer {
                cut_offs: Default::default(),
                settings,
                claims_loader: self.claims_loader,
                headers_loader: self.headers_loader,
            },
            self.status_policy,
            self.responder,
            resource,
        ))
    }
}

/// `denylist` as the manager holds it: an `Arc<dyn Denylist>` as it is (not behind a second
/// `Arc`, which every guard would follow), anything else in a new one.
fn shared<D: Denylist>(denylist: D) -> Arc<dyn Denylist> {
    let mut slot = Some(denylist);
    if let Some(arc) =
        (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Arc<dyn Denylist>>>()
    {
        if let Some(arc) = arc.take() {
            return arc;
        }
    }
    Arc::new(slot.expect("not taken"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "builder-unit-test-secret-0123456789abcdef";

    #[test]
    fn secrets_are_checked() {
        for weak in [
            "",
            "secret",
            "your-256-bit-secret",
            "short",
            &"a".repeat(40),
        ] {
            assert!(
                matches!(
                    JwtManager::builder().secret(weak).build(),
                    Err(BuildError::WeakSecret(_))
                ),
                "{weak:?} accepted"
            );
        }
        assert!(JwtManager::builder().secret(SECRET).build().is_ok());
        assert!(JwtManager::builder()
            .secret(SECRET)
            .algorithm(Algorithm::HS512)
            .build()
            .is_err());
        assert!(matches!(
            JwtManager::builder().build().unwrap_err(),
            BuildError::MissingKey
        ));
    }

    #[test]
    fn settings_are_validated() {
        let b = || JwtManager::builder().secret(SECRET);
        assert!(b().header_name("bad header").build().is_err());
        assert!(b().header_type("Bear er").build().is_err());
        assert!(b().identity_claim("exp").build().is_err());
        assert!(b().token_locations([]).build().is_err());
        assert!(b()
            .token_locations([TokenLocation::Headers, TokenLocation::Headers])
            .build()
            .is_err());
        assert!(b().access_token_lifetime(Duration::ZERO).build().is_err());
        assert!(b().error_message_key("").build().is_err());
    }

    #[test]
    fn a_crypto_backend_is_selected() {
        JwtManager::builder().secret(SECRET).build().unwrap();
        let chosen = jsonwebtoken::crypto::CryptoProvider::try_get_default().unwrap();
        #[cfg(feature = "aws_lc_rs")]
        assert!(std::ptr::eq(
            chosen,
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
        ));
        #[cfg(not(feature = "aws_lc_rs"))]
        assert!(std::ptr::eq(
            chosen,
            &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
        ));
    }

    #[test]
    fn debug_redacts_the_key() {
        let m = JwtManager::builder().secret(SECRET).build().unwrap();
        let shown = format!("{m:?} {:?}", JwtManager::builder().secret(SECRET));
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains("48, 49")); // no byte dump either
        assert!(shown.contains("<redacted>"));
    }
}
