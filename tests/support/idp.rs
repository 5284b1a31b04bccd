//! An outside issuer in the test process (no Python): an ES256 key from tests/data/keys, its
//! JWKS served over plain HTTP on 127.0.0.1, and tokens with whatever claims a test wants.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower_jwt_auth::JwtKey;

pub const ISSUER: &str = "https://idp.example.test";

pub struct Idp {
    /// The JWKS's address (`http://127.0.0.1:<port>/jwks.json`).
    pub url: String,
    kid: String,
    key: EncodingKey,
    /// Dropped with the issuer: its server stops.
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Idp {
    /// Serves the JWKS on a free loopback port, on a thread of its own.
    pub async fn start() -> Self {
        let pem = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/keys/ec256_pkcs8.pem"),
        )
        .unwrap();
        let key = JwtKey::from_pem(Algorithm::ES256, &pem).unwrap();
        let kid = key.kid().unwrap().to_owned();
        let jwks = json!({"keys": [key.public_jwk().unwrap()]}).to_string();
        // Its own thread and runtime: a test that blocks its runtime (waiting for a server
        // process to listen) must not keep the issuer from answering.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let serve = async {
                    while let Ok((mut stream, _)) = listener.accept().await {
                        let jwks = jwks.clone();
                        tokio::spawn(async move {
                            let mut request = [0u8; 4096];
                            let _ = stream.read(&mut request).await;
                            let response = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\nconnection: close\r\n\r\n{jwks}",
                                jwks.len()
                            );
                            let _ = stream.write_all(response.as_bytes()).await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            url,
            kid,
            key: EncodingKey::from_ec_pem(&pem).unwrap(),
            _stop: stop,
        }
    }

    /// A token of the issuer: `sub`, `iss`, `iat` and a 5-minute `exp`, then `extra` (which
    /// may override them).
    pub fn token(&self, sub: &str, extra: Value) -> String {
        let mut claims = json!({
            "sub": sub,
            "iss": ISSUER,
            "iat": now(),
            "exp": now() + 300,
        });
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}
