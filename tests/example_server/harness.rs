//! Starts the example server binary on a free loopback port and talks HTTP to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

pub const SECRET: &str = "example-server-test-secret-0123456789abcdef";

/// The example binary, built by `cargo test` next to the test binaries.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(Path::parent).unwrap();
    let binary = debug.join("examples").join("server");
    assert!(
        binary.exists(),
        "{} is missing: run the whole suite with `cargo test` (it builds the examples), \
         or `cargo build --example server` first",
        binary.display()
    );
    binary
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Every line the server has written on stdout (its log) so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the server on `db` with the test secret and `env`; waits for it to listen.
    pub fn start(db: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(server_binary());
        cmd.env("APP_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("JWT_SECRET_KEY", SECRET)
            .env("NO_COLOR", "1")
            // Its log at its default level, whatever the test runner's `RUST_LOG` says.
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let addr = line[at + "listening on http://".len()..].trim().to_owned();
                    let _ = tx.send(addr);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server listens within 30 s")
            .parse()
            .unwrap();
        Self { child, addr, log }
    }

    /// The lines of the server's log so far that contain `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// Waits (at most 5 s) for a line of the server's log containing `needle`.
    pub async fn log_line(&self, needle: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            if let Some(line) = self.log_lines(needle).pop() {
                return line;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no log line with {needle:?} within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a request; returns the status and the JSON body (`Null` when not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let (status, _, body) = self.call_with(method, path, &headers, body).await;
        (status, body)
    }

    /// Sends a request with these headers; returns the status, the headers and the JSON body
    /// (`Null` when not JSON).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        match body {
            Some(json) => {
                let mut headers = headers.to_vec();
                headers.push(("content-type", "application/json"));
                self.send(method, path, &headers, json.to_string()).await
            }
            None => self.send(method, path, headers, String::new()).await,
        }
    }

    /// Sends a request with these headers and this body as it is (no content type added);
    /// returns the status, the headers and the JSON body (`Null` when not JSON).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> (StatusCode, HeaderMap, Value) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = Full::from(body);
        let res = tokio::time::timeout(
            Duration::from_secs(30),
            send.send_request(req.body(body).unwrap()),
        )
        .await
        .expect("answered within 30 s")
        .unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, body).await
    }
}

/// Runs the server with `env` (on a throwaway database) until it exits by itself, within
/// 30 s: for settings that must stop it.
pub fn run_to_exit(env: &[(&str, &str)]) -> std::process::Output {
    let db = TempDb::new("exit");
    let mut cmd = Command::new(server_binary());
    cmd.env("APP_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", format!("sqlite://{}", db.path().display()))
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not stop with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh database path in a temporary directory, removed on drop.
pub struct TempDb(PathBuf);

impl TempDb {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tower-jwt-auth-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> PathBuf {
        self.0.join("app.db")
    }

    /// The temporary directory itself.
    pub fn dir(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
