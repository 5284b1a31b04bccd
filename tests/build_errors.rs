//! Errors a program can match on (#26): each misconfiguration of the builder answers a
//! [`BuildError`] variant naming its setting, with the same sentence as before; errors
//! caused by another library's error keep it as their `source()`; a layer's token locations
//! are refused by the builder's rule.

use std::error::Error as _;
use std::time::Duration;

use tower_jwt_auth::denylist::DenylistError;
use tower_jwt_auth::jsonwebtoken::Algorithm;
use tower_jwt_auth::keys::{JwtKey, KeyError};
use tower_jwt_auth::manager::{JwtManagerBuilder, Lifetime, TokenLocation};
use tower_jwt_auth::{BuildError, JwtManager, JwtRequiredLayer};

const SECRET: &str = "build-errors-test-secret-0123456789abcdef";

fn builder() -> JwtManagerBuilder {
    JwtManager::builder().secret(SECRET)
}

fn refused(builder: JwtManagerBuilder) -> BuildError {
    match builder.build() {
        Err(err) => err,
        Ok(_) => panic!("built"),
    }
}

/// Each setting's mistake names that setting, and the message is the sentence users saw
/// before the variants existed.
#[test]
fn each_invalid_setting_names_its_setting() {
    let cases: Vec<(&str, JwtManagerBuilder, &str)> = vec![
        (
            "access_token_lifetime",
            builder().access_token_lifetime(Duration::from_millis(1500)),
            "is not a whole number of seconds",
        ),
        (
            "refresh_token_lifetime",
            builder().refresh_token_lifetime(Duration::from_secs(200 * 365 * 24 * 3600)),
            "longer than a century",
        ),
        (
            "max_token_lifetime",
            builder()
                .access_token_lifetime(Lifetime::Never)
                .refresh_token_lifetime(Lifetime::Never)
                .max_token_lifetime(Duration::ZERO),
            "must be positive",
        ),
        (
            "leeway",
            builder().leeway(Duration::from_secs(2 * 24 * 3600)),
            "leeway over one day",
        ),
        (
            "identity_claim",
            builder().identity_claim("exp"),
            "reserved",
        ),
        (
            "error_message_key",
            builder().error_message_key(""),
            "error message key is empty",
        ),
        (
            "header_name",
            builder().header_name("bad header"),
            "invalid header name",
        ),
        (
            "header_type",
            builder().header_type("Bearer, Basic"),
            "must be a single token",
        ),
        (
            "max_token_size",
            builder().max_token_size(8),
            "max token size below 16 bytes",
        ),
        (
            "token_locations",
            builder().token_locations([TokenLocation::Headers, TokenLocation::Headers]),
            "listed twice",
        ),
        (
            "access_cookie_name",
            builder().access_cookie_name("bad;name"),
            "invalid access cookie name",
        ),
        (
            "query_string_name",
            builder().query_string_name(""),
            "invalid query string name",
        ),
        (
            "max_json_body_size",
            builder().max_json_body_size(0),
            "must be positive",
        ),
        (
            "csrf_methods",
            builder()
                .token_locations([TokenLocation::Cookies])
                .csrf_methods([]),
            "csrf_methods is empty",
        ),
        ("roles_claim", builder().roles_claim("sub"), "reads itself"),
        (
            "protected_resource",
            builder().protected_resource("http://api.example.com"),
            "protected resource",
        ),
    ];
    for (expected, builder, words) in cases {
        match refused(builder) {
            BuildError::InvalidSetting {
                setting, reason, ..
            } => {
                assert_eq!(setting, expected, "{reason}");
                assert!(reason.contains(words), "{expected}: {reason}");
            }
            other => panic!("{expected}: another variant: {other:?}"),
        }
    }
}

#[test]
fn the_other_mistakes_have_variants_of_their_own() {
    assert!(matches!(
        refused(JwtManager::builder()),
        BuildError::MissingKey
    ));
    let no_location = refused(builder().token_locations([]));
    assert!(
        matches!(no_location, BuildError::NoTokenLocation),
        "{no_location:?}"
    );
    assert_eq!(no_location.to_string(), "no token location configured");
    assert!(matches!(
        refused(JwtManager::builder().secret("secret")),
        BuildError::WeakSecret(_)
    ));
    assert!(matches!(
        JwtKey::hmac(Algorithm::RS256, SECRET),
        Err(BuildError::UnsupportedAlgorithm(_))
    ));
    let two_without_kid = refused(builder().key(JwtKey::hmac(Algorithm::HS256, SECRET).unwrap()));
    assert!(
        matches!(
            two_without_kid,
            BuildError::KeySet(KeyError::KidRequired(Algorithm::HS256))
        ),
        "{two_without_kid:?}"
    );
    assert!(two_without_kid
        .source()
        .and_then(|s| s.downcast_ref::<KeyError>())
        .is_some());
}

/// A PEM the crypto library cannot read: `InvalidKey`, with the library's error as source,
/// and the message saying which key.
#[test]
fn an_unreadable_key_keeps_the_crypto_error_as_its_source() {
    let damaged = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    for result in [
        JwtKey::from_pem(Algorithm::RS256, damaged),
        JwtKey::from_public_pem(Algorithm::ES256, damaged),
    ] {
        let err = result.unwrap_err();
        let BuildError::InvalidKey { reason, .. } = &err else {
            panic!("another variant: {err:?}");
        };
        assert!(reason.ends_with(" key could not be read"), "{reason}");
        let source = err.source().expect("the crypto library's error");
        // The sentence does not repeat its cause (a report of the chain shows it once).
        assert!(!err.to_string().contains(&source.to_string()), "{err}");
        assert!(
            source
                .downcast_ref::<tower_jwt_auth::jsonwebtoken::errors::Error>()
                .is_some(),
            "{source}"
        );
    }
}

/// A layer's locations follow the builder's rule: none twice (and at least one, in
/// `tests/revocation.rs`).
#[test]
#[should_panic(expected = "token_locations: token location headers listed twice")]
fn a_layer_listing_a_location_twice_is_refused() {
    let m = builder().build().unwrap();
    let _ = JwtRequiredLayer::new(&m).token_locations([
        TokenLocation::Headers,
        TokenLocation::Cookies,
        TokenLocation::Headers,
    ]);
}

/// A store's error keeps what caused it; its `Debug` shows the cause's message only.
#[test]
fn store_errors_keep_their_cause() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "port 6379 closed");
    let err = DenylistError::with_source("recording a revocation", io);
    assert_eq!(
        err.to_string(),
        "revocation store error: recording a revocation"
    );
    let source = err.source().expect("the cause");
    assert_eq!(
        source.downcast_ref::<std::io::Error>().unwrap().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    assert!(DenylistError::new("no cause").source().is_none());
    // `Debug` shows the cause's message (and only that).
    assert!(format!("{err:?}").contains("port 6379 closed"), "{err:?}");
    // What store implementors hold converts too: a boxed error.
    let boxed: Box<dyn std::error::Error + Send + Sync> = "a boxed cause".into();
    let err = DenylistError::with_source("asking", boxed);
    assert_eq!(err.source().unwrap().to_string(), "a boxed cause");
}

/// A Redis store that cannot connect answers with the Redis client's error as the source.
#[cfg(feature = "redis")]
#[tokio::test]
async fn a_redis_failure_keeps_the_client_error() {
    use tower_jwt_auth::denylist::RedisDenylist;
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RedisDenylist::connect(format!("redis://127.0.0.1:{port}/"))
        .await
        .expect_err("nothing listens there");
    let source = err.source().expect("the Redis client's error");
    assert!(
        source.downcast_ref::<redis::RedisError>().is_some(),
        "{source}"
    );
    assert!(!err.to_string().contains(&source.to_string()), "{err}");
}

/// The JWKS client's settings are named too: the constructor for its URL.
#[cfg(feature = "jwks")]
#[test]
fn jwks_settings_are_named() {
    use tower_jwt_auth::jwks::RemoteJwks;
    let cases = [
        (
            RemoteJwks::builder("http://idp.example.com/jwks").issuer("https://idp"),
            "builder",
        ),
        (RemoteJwks::discover("ftp://idp.example.com"), "discover"),
        (
            RemoteJwks::builder("https://idp.example.com/jwks")
                .issuer("https://idp")
                .allowed_algorithms([Algorithm::HS256]),
            "allowed_algorithms",
        ),
        (
            RemoteJwks::builder("https://idp.example.com/jwks")
                .issuer("https://idp")
                .roles_claim("exp"),
            "roles_claim",
        ),
    ];
    for (builder, expected) in cases {
        match builder.build().map(drop) {
            Err(BuildError::InvalidSetting {
                setting, reason, ..
            }) => {
                assert_eq!(setting, expected, "{reason}");
                assert!(reason.starts_with("JWKS: "), "{reason}");
            }
            other => panic!("{expected}: {other:?}"),
        }
    }
}

/// `cookies::SameSite` reads as browsers read the attribute, and writes as they expect.
#[test]
fn same_site_parses_and_prints() {
    use tower_jwt_auth::cookies::SameSite;
    assert_eq!(SameSite::default(), SameSite::Lax);
    for (text, value) in [
        ("Strict", SameSite::Strict),
        ("lax", SameSite::Lax),
        (" NONE ", SameSite::None),
    ] {
        assert_eq!(text.parse::<SameSite>(), Ok(value));
    }
    assert_eq!(SameSite::None.to_string(), "None");
    let err = " sometimes ".parse::<SameSite>().unwrap_err();
    assert_eq!(err.got(), "sometimes");
    assert_eq!(
        err.to_string(),
        "unknown SameSite value \"sometimes\" (Lax, Strict or None)"
    );
    let err = "body".parse::<TokenLocation>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown token location \"body\" (headers, cookies, query_string or json)"
    );
    // An `Error`, so `?` carries it into any error type.
    let _: &dyn std::error::Error = &err;
}
