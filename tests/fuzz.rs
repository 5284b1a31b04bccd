//! Property-based fuzzing of the request path: header parsing, token shape checks,
//! decoding and claim validation, through a real guard layer. Every input must get a 4xx
//! (or pass, when it is a genuine token) and never panic.
//!
//! `cargo test --test fuzz` runs 256 cases per property (five properties). For a long run,
//! set the number of cases per property:
//!
//! ```sh
//! PROPTEST_CASES=200000 cargo test --release --test fuzz -- --nocapture
//! ```

use std::convert::Infallible;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use serde_json::Value;
use tower::{service_fn, Layer, ServiceExt};
use tower_jwt_auth::guard::RequestBody;
use tower_jwt_auth::{JwtManager, JwtRequiredLayer};

const SECRET: &str = "fuzz-test-secret-0123456789abcdefghijkl";

fn manager() -> &'static JwtManager {
    static M: OnceLock<JwtManager> = OnceLock::new();
    M.get_or_init(|| JwtManager::builder().secret(SECRET).build().unwrap())
}

/// The same settings with the memo of verified tokens off.
fn manager_without_memo() -> &'static JwtManager {
    static M: OnceLock<JwtManager> = OnceLock::new();
    M.get_or_init(|| {
        JwtManager::builder()
            .secret(SECRET)
            .verified_token_cache(false)
            .build()
            .unwrap()
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fn valid_token() -> &'static str {
    static T: OnceLock<String> = OnceLock::new();
    T.get_or_init(|| manager().create_access_token("fuzz").unwrap())
}

/// Sends one `Authorization` value through `JwtRequired` and returns the status.
fn guard_status(value: HeaderValue) -> StatusCode {
    guard_reply(manager(), value).0
}

/// The status and body `JwtRequired` with `jwt`'s settings answers for one `Authorization`
/// value (the body names the identity when the token passed).
fn guard_reply(jwt: &JwtManager, value: HeaderValue) -> (StatusCode, Bytes) {
    let svc = JwtRequiredLayer::new(jwt).layer(service_fn(
        |req: Request<RequestBody<Full<Bytes>>>| async move {
            let identity = req
                .extensions()
                .get::<tower_jwt_auth::VerifiedToken>()
                .map(|t| t.identity().to_owned())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(identity))))
        },
    ));
    let req = Request::get("/")
        .header("authorization", value)
        .body(Full::default())
        .unwrap();
    runtime().block_on(async {
        let response = svc.oneshot(req).await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    })
}

fn sign(header: &[u8], payload: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let _ = manager();
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{input}.{sig}")
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, char),
    Delete(usize),
    Truncate(usize),
    DuplicateSegment(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let ch = prop::sample::select(
        "AZaz09-_.=+/ \t,{}\"\\%\u{0}\u{7f}é"
            .chars()
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        (any::<usize>(), 1u8..=0x7f).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), ch).prop_map(|(i, c)| Mutation::Insert(i, c)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (0usize..3).prop_map(Mutation::DuplicateSegment),
    ]
}

fn apply(token: &str, m: &Mutation) -> Vec<u8> {
    let mut bytes = token.as_bytes().to_vec();
    let n = bytes.len();
    match *m {
        Mutation::Flip(i, b) => bytes[i % n] ^= b,
        Mutation::Insert(i, c) => {
            let mut buf = [0u8; 4];
            let at = i % (n + 1);
            bytes.splice(at..at, c.encode_utf8(&mut buf).bytes());
        }
        Mutation::Delete(i) => {
            bytes.remove(i % n);
        }
        Mutation::Truncate(i) => bytes.truncate(i % n),
        Mutation::DuplicateSegment(s) => {
            let parts: Vec<&str> = token.split('.').collect();
            let mut parts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            parts.insert(s, parts[s].clone());
            bytes = parts.join(".").into_bytes();
        }
    }
    bytes
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Arbitrary header bytes: never a panic, never a pass, always 401.
    #[test]
    fn arbitrary_authorization_values(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            prop_assert_eq!(guard_status(value), StatusCode::UNAUTHORIZED);
        }
    }

    /// A valid token, mutated once: rejected unless the mutation changed nothing that
    /// matters (for example a duplicate of the trailing separator stripped as whitespace).
    #[test]
    fn mutated_tokens(m in mutation(), scheme in prop::sample::select(vec!["Bearer ", "bearer ", ""])) {
        let token = valid_token();
        let mutated = apply(token, &m);
        let mut value = scheme.as_bytes().to_vec();
        value.extend_from_slice(&mutated);
        if let Ok(header) = HeaderValue::from_bytes(&value) {
            let status = guard_status(header);
            // Still the genuine token: extra spaces after the scheme (`1*SP`), and trailing
            // whitespace and commas (list syntax, stripped as Flask-JWT-Extended does) do not
            // change it; a tab after the scheme does (RFC 6750 allows only spaces there).
            let text = String::from_utf8_lossy(&mutated);
            let same = text.trim_end_matches([' ', '\t', ',']).trim_start_matches(' ') == token;
            if same && !scheme.is_empty() {
                prop_assert_eq!(status, StatusCode::OK);
            } else {
                prop_assert_eq!(status, StatusCode::UNAUTHORIZED, "mutation {:?} passed", m);
            }
        }
    }

    /// Properly signed tokens with arbitrary claims: claim validation never panics and
    /// answers 200 or 401.
    #[test]
    fn signed_arbitrary_claims(claims in prop::collection::btree_map(
        prop::sample::select(vec!["exp", "iat", "nbf", "sub", "jti", "type", "fresh", "aud", "iss", "x"]),
        json_value(),
        0..8,
    )) {
        let payload = serde_json::to_vec(&claims).unwrap();
        let token = sign(br#"{"alg":"HS256","typ":"JWT"}"#, &payload);
        let status = guard_status(HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        prop_assert!(status == StatusCode::OK || status == StatusCode::UNAUTHORIZED, "{}", status);
    }

    /// The memo of verified tokens never changes an answer: a valid token (whose memo entry
    /// builds up over the cases of this thread), the same token mutated once (often landing
    /// in the valid token's slot, as the signature's first characters are unchanged), or a
    /// properly signed token with arbitrary claims gets the same status and body with the
    /// memo on — asked twice, so that the second asking can hit — as with it off.
    #[test]
    fn the_memo_never_changes_an_answer(
        m in prop::option::of(mutation()),
        claims in prop::option::of(prop::collection::btree_map(
            prop::sample::select(vec!["exp", "iat", "nbf", "sub", "jti", "type", "fresh"]),
            json_value(),
            0..8,
        )),
    ) {
        let token = match (&m, &claims) {
            (_, Some(claims)) => sign(br#"{"alg":"HS256","typ":"JWT"}"#, &serde_json::to_vec(claims).unwrap()).into_bytes(),
            (Some(m), None) => apply(valid_token(), m),
            (None, None) => valid_token().as_bytes().to_vec(),
        };
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(&token);
        if let Ok(header) = HeaderValue::from_bytes(&value) {
            let without = guard_reply(manager_without_memo(), header.clone());
            prop_assert_eq!(&guard_reply(manager(), header.clone()), &without);
            prop_assert_eq!(&guard_reply(manager(), header), &without);
        }
    }

    /// Properly signed arbitrary header and payload bytes.
    #[test]
    fn signed_arbitrary_bytes(header in prop::collection::vec(any::<u8>(), 0..64),
                              payload in prop::collection::vec(any::<u8>(), 0..256)) {
        let token = sign(&header, &payload);
        prop_assert_eq!(guard_status(HeaderValue::from_str(&format!("Bearer {token}")).unwrap()), StatusCode::UNAUTHORIZED);
    }
}
