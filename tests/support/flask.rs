//! Runs the Python scripts of `tests/support` with the real Flask-JWT-Extended.

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
#[allow(dead_code)]
pub fn run(python: &str, secret: &str, identity: &str, tokens: &[&str]) -> Value {
    let input = json!({"secret": secret, "identity": identity, "tokens": tokens});
    run_script(python, "fje.py", &input)
}

/// Runs `tests/support/<script>` with `input` as JSON on its standard input; its standard
/// output, parsed.
pub fn run_script(python: &str, script: &str, input: &Value) -> Value {
    run_script_on(python, script, input.to_string().as_bytes())
}

/// Runs `tests/support/<script>` with `input` on its standard input; its standard output,
/// parsed as JSON.
pub fn run_script_on(python: &str, script: &str, input: &[u8]) -> Value {
    let script = format!("{}/tests/support/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
