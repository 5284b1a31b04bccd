//! Runs `tests/support/fje.py` with the real Flask-JWT-Extended.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

#[path = "skip.rs"]
mod skip;

/// The Python interpreter with flask-jwt-extended, or `None` (after saying why) when it is
/// missing outside CI. Under `CI=true` a missing package fails the test.
pub fn python() -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import flask_jwt_extended"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    let reason = format!(
        "{python} with flask-jwt-extended is not available (pip install flask-jwt-extended==4.7.4)"
    );
    skip::skip("interop test", &reason);
    None
}

/// Decodes `tokens` with Flask-JWT-Extended and creates tokens for `identity`, all with
/// `secret`: `{"decoded": [...], "created": {...}}`.
pub fn run(python: &str, secret: &str, identity: &str, tokens: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/fje.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = json!({"secret": secret, "identity": identity, "tokens": tokens}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "fje.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
