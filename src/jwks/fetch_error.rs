//! Why a JWKS could not be fetched or used.

crate::error::store_error!(
    /// A JWKS (or OpenID discovery document) could not be fetched or used. The keys known
    /// before stay in use. Its `Display` names the URL and what failed; the HTTP client's or
    /// the JSON parser's error, if one caused it, is its
    /// [`source`](std::error::Error::source).
    JwksError,
    "JWKS",
    pub(super)
);
