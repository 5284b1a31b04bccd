//! An outside issuer for the remote JWKS tests: `tests/support/jwks_server.py` (PyJWT mints
//! its tokens, an HTTP server on a loopback port publishes its keys), started per test and
//! killed on drop. Needs `python3` with PyJWT and `cryptography`; without them the test says
//! why it is skipped, and fails under `CI=true`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

#[path = "skip.rs"]
mod skip;

pub struct Issuer {
    child: Child,
    pub port: u16,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python interpreter with PyJWT and `cryptography`, or `None` (after saying why).
pub fn python() -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import jwt, cryptography"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip::skip(
            "remote JWKS test",
            &format!("{python} with PyJWT and cryptography is not available (pip install PyJWT cryptography)"),
        );
        return None;
    }
    Some(python)
}

impl Issuer {
    /// Starts the issuer; its tokens carry `issuer` ("self": its own base URL).
    pub fn start(python: &str, issuer: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/jwks_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(issuer)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .unwrap_or_else(|| panic!("jwks_server.py said {line:?}"))
            .parse()
            .unwrap();
        Self { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the server (the keys it published go away with it).
    #[allow(dead_code)]
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn call(&self, method: http::Method, path: &str, body: Option<Value>) -> Value {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        let res = tokio::time::timeout(Duration::from_secs(30), send.send_request(req))
            .await
            .expect("the issuer answers within 30 s")
            .unwrap();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(http::Method::POST, path, Some(body)).await
    }

    /// Creates a key (`RS256`, `PS256` or `ES256`), published or not.
    pub async fn key(&self, kid: &str, alg: &str, publish: bool) {
        self.post("/key", json!({"kid": kid, "alg": alg})).await;
        if publish {
            self.post("/publish", json!({"kid": kid})).await;
        }
    }

    /// A token signed by key `kid`, with `claims` (and extra header fields).
    pub async fn mint(&self, kid: &str, claims: Value, headers: Value) -> String {
        let out = self
            .post(
                "/mint",
                json!({"kid": kid, "claims": claims, "headers": headers}),
            )
            .await;
        out["token"].as_str().unwrap().to_owned()
    }

    /// How many times its JWKS was fetched.
    #[allow(dead_code)]
    pub async fn fetches(&self) -> u64 {
        self.call(http::Method::GET, "/count", None).await["jwks"]
            .as_u64()
            .unwrap()
    }

    /// PyJWT's `PyJWKClient` fetches `jwks_url` and verifies `token`.
    #[allow(dead_code)]
    pub async fn verify_with_pyjwkclient(&self, jwks_url: &str, token: &str) -> Value {
        self.post("/verify", json!({"jwks_url": jwks_url, "token": token}))
            .await
    }
}
