//! The example server's metrics (`METRICS=true`, feature `metrics`): `GET /metrics` answers
//! the Prometheus text exposition, parsed here by the official Python client's parser
//! (`prometheus-client`, which `.ci/run` installs; without it that part says why it is
//! skipped, and fails under `CI=true`); the counters move with logins, refusals and
//! logouts, and no label carries an identity, a token or an address. Off by default:
//! `GET /metrics` is 404. The page's live panel in Chromium draws the same counts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, Locator};
use http::{header, Method, StatusCode};
use serde_json::{json, Value};

#[path = "../support/skip.rs"]
mod skip;

use crate::browser::{click, fill, session, text, wait_text, WAIT};
use crate::harness::{Server, TempDb};
use crate::register;

const GUARD: &str = "tower_jwt_auth_guard_requests_total";
const LOGINS: &str = "tower_jwt_auth_login_attempts_total";
const REVOCATIONS: &str = "tower_jwt_auth_revocations_total";

/// `GET /metrics`: the status, the content type and the body as text.
async fn scrape(s: &Server) -> (StatusCode, Option<String>, String) {
    let stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake::<
        _,
        http_body_util::Empty<bytes::Bytes>,
    >(hyper_util::rt::TokioIo::new(stream))
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("/metrics")
        .header("host", "localhost")
        .body(http_body_util::Empty::new())
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(30), send.send_request(req))
        .await
        .expect("answered within 30 s")
        .unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

/// A metric sample as the Prometheus client's parser reads it.
#[derive(Debug, Clone)]
struct Sample {
    family: String,
    family_type: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: Value,
}

/// Python with `prometheus_client`, or `None` after saying why (a failure under `CI=true`).
fn python() -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import prometheus_client.parser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    skip::skip(
        "metrics exposition parsed by prometheus_client",
        &format!(
            "{python} with prometheus-client is not available \
             (pip install prometheus-client==0.21.1)"
        ),
    );
    None
}

/// Every sample of `exposition`, parsed by `prometheus_client.parser` (which fails on a
/// malformed exposition).
fn parse(python: &str, exposition: &str) -> Vec<Sample> {
    let parsed = crate::flask::run_script_on(python, "prometheus_parse.py", exposition.as_bytes());
    let mut samples = Vec::new();
    for family in parsed["families"].as_array().unwrap() {
        for sample in family["samples"].as_array().unwrap() {
            samples.push(Sample {
                family: family["name"].as_str().unwrap().to_owned(),
                family_type: family["type"].as_str().unwrap().to_owned(),
                name: sample["name"].as_str().unwrap().to_owned(),
                labels: serde_json::from_value(sample["labels"].clone()).unwrap(),
                value: sample["value"].clone(),
            });
        }
    }
    samples
}

/// The sum of the samples named `name` whose labels include `labels` (0 when none).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value.as_f64().unwrap_or(0.0))
        .fold(0.0, |sum, v| sum + v)
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let db = TempDb::new("metrics-off");
    for env in [&[][..], &[("METRICS", "false")][..]] {
        let s = Server::start(&db.path(), env);
        assert_eq!(
            s.get("/metrics", None).await,
            (StatusCode::NOT_FOUND, json!({"msg": "Not found"})),
            "{env:?}"
        );
        // The page still serves its (idle) panel.
        let (status, _, _) = s.send(Method::GET, "/", &[], String::new()).await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// A `METRICS` that is not a boolean stops the server at start, naming the variable.
#[test]
fn metrics_must_be_a_boolean() {
    let out = crate::harness::run_to_exit(&[("METRICS", "yes")]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("METRICS: cannot parse \"yes\""), "{said}");
    assert!(!said.contains("listening on"), "{said}");
}

#[tokio::test]
async fn metrics_count_logins_refusals_and_logouts() {
    let db = TempDb::new("metrics-on");
    let s = Server::start(&db.path(), &[("METRICS", "true")]);

    let (status, content_type, before) = scrape(&s).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
    // No token needed, and a token is not looked at.
    let (status, _, _) = s
        .send(
            Method::GET,
            "/metrics",
            &[("authorization", "Bearer not-a-token")],
            String::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (username, email, password) = ("metrics-grace-7f3c", "grace.7f3c@example.com", "a");
    let password = format!("{password} long enough password");
    let user = register(&s, username, email, &password).await;
    let user_id = user["id"].as_i64().unwrap().to_string();

    let Some(python) = python() else { return };
    let before = parse(&python, &before);

    let (access, refresh) = crate::login(&s, email, &password).await;
    let (status, _) = s
        .post(
            "/token",
            None,
            Some(json!({"email": email, "password": "the wrong password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.get("/me", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.get("/me", Some(&access)).await.0, StatusCode::OK);
    assert_eq!(
        s.post("/revoke", Some(&access), None).await,
        (StatusCode::OK, json!({"msg": "Successfully logged out"}))
    );

    let (status, content_type, text) = scrape(&s).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
    let after = parse(&python, &text);

    // Once per event (the logout's own guard accepts its token too: at least one more).
    for (name, labels, exactly) in [
        (LOGINS, &[("result", "success")][..], true),
        (LOGINS, &[("result", "failure")][..], true),
        (
            GUARD,
            &[("result", "refused"), ("reason", "missing")][..],
            true,
        ),
        (GUARD, &[("result", "accepted")][..], false),
        (REVOCATIONS, &[("kind", "token")][..], true),
    ] {
        let (was, is) = (value(&before, name, labels), value(&after, name, labels));
        assert!(
            if exactly {
                is == was + 1.0
            } else {
                is >= was + 1.0
            },
            "{name}{labels:?} went from {was} to {is}; the exposition:\n{text}"
        );
    }
    for family in [GUARD, LOGINS, REVOCATIONS] {
        let types: Vec<&str> = after
            .iter()
            .filter(|s| s.name == family)
            .map(|s| s.family_type.as_str())
            .collect();
        assert!(
            !types.is_empty() && types.iter().all(|t| *t == "counter"),
            "{family}: {types:?}"
        );
    }

    // Nothing identifies the user, their tokens or the client, in a label or anywhere else.
    let secrets = [username, email, &access, &refresh, "127.0.0.1"];
    for secret in secrets {
        assert!(!text.contains(secret), "/metrics shows {secret:?}:\n{text}");
    }
    for sample in &after {
        for (label, value) in &sample.labels {
            for secret in secrets {
                assert!(
                    !value.contains(secret),
                    "{}{{{label}={value:?}}} of {}",
                    sample.name,
                    sample.family
                );
            }
            // Quantiles and bucket bounds are numbers that may equal an id by chance.
            if label != "quantile" && label != "le" {
                assert_ne!(
                    value, &user_id,
                    "{}{{{label}}} is the user's id",
                    sample.name
                );
            }
        }
    }
}

/// The counters of `name` in a Prometheus text exposition, summed by the value of label
/// `by` (only the samples whose labels include `filter`); a plain reading of the format, for
/// comparing the page's panel with what the server says.
fn sums(exposition: &str, name: &str, by: &str, filter: &[(&str, &str)]) -> BTreeMap<String, f64> {
    let mut sums = BTreeMap::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(rest) => rest.split_once("} ").unwrap(),
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        let labels: BTreeMap<&str, &str> = labels
            .split(',')
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim_matches('"')))
            .collect();
        if filter.iter().any(|(k, v)| labels.get(k) != Some(v)) {
            continue;
        }
        let key = labels.get(by).copied().unwrap_or_default().to_owned();
        let value: f64 = value.split_whitespace().next().unwrap().parse().unwrap();
        *sums.entry(key).or_default() += value;
    }
    sums
}

/// The bars of the panel's list `id`: `(data-key, count shown, the bar's width in pixels)`.
async fn bars(c: &Client, id: &str) -> Vec<(String, f64, f64)> {
    let rows = c
        .execute(
            "return Array.from(document.querySelectorAll('#' + arguments[0] + ' li')).map(li => \
             [li.dataset.key, li.querySelector('.count').textContent, \
              li.querySelector('.fill').getBoundingClientRect().width])",
            vec![json!(id)],
        )
        .await
        .unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_str().unwrap().parse().unwrap(),
                r[2].as_f64().unwrap(),
            )
        })
        .collect()
}

/// What the server's counters say, as the panel's rows should show them: `(key, count)`
/// for the guard's accepted requests and refusals by reason, and for the logins by result.
async fn expected(s: &Server) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (_, _, text) = scrape(s).await;
    let mut guard = BTreeMap::new();
    for (result, n) in sums(&text, GUARD, "result", &[]) {
        if n > 0.0 && (result == "accepted" || result == "anonymous") {
            guard.insert(result, n);
        }
    }
    for (reason, n) in sums(&text, GUARD, "reason", &[("result", "refused")]) {
        if n > 0.0 {
            guard.insert(format!("refused:{reason}"), n);
        }
    }
    let logins = sums(&text, LOGINS, "result", &[])
        .into_iter()
        .filter(|(_, n)| *n > 0.0)
        .collect();
    (guard, logins)
}

/// The panel's rows of list `id` with a count, as a map, checking every non-zero count has a
/// visible bar.
async fn shown(c: &Client, id: &str) -> BTreeMap<String, f64> {
    let mut rows = BTreeMap::new();
    for (key, count, width) in bars(c, id).await {
        if count > 0.0 {
            assert!(width > 0.0, "#{id} {key}: {count} with no bar");
            rows.insert(key, count);
        }
    }
    rows
}

#[tokio::test]
async fn the_metrics_panel_in_chromium() {
    let db = TempDb::new("metrics-browser");
    let s = Server::start(&db.path(), &[("METRICS", "true")]);
    let off_db = TempDb::new("metrics-browser-off");
    let off = Server::start(&off_db.path(), &[]);
    let Some((_driver, c)) = session("metrics panel browser test").await else {
        return;
    };
    let result = panel(&c, &s, &off).await;
    let _ = c.close().await;
    result.unwrap();
}

/// Waits for the page's first `/me` to be answered.
async fn ready(c: &Client) -> Result<(), String> {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("body[data-ready=true]"))
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

async fn panel(c: &Client, s: &Server, off: &Server) -> Result<(), String> {
    // Metrics off: the panel says how to turn them on.
    c.goto(&format!("http://{}/", off.addr))
        .await
        .map_err(|e| e.to_string())?;
    ready(c).await?;
    wait_text(c, "metrics-state", "off").await;
    let note = text(c, "metrics-off").await;
    assert!(note.contains("METRICS=true"), "{note}");
    assert_eq!(text(c, "metrics-guard").await, "");

    c.goto(&format!("http://{}/", s.addr))
        .await
        .map_err(|e| e.to_string())?;
    ready(c).await?;
    wait_text(c, "metrics-state", "live").await;
    assert_eq!(text(c, "metrics-off").await, "");

    // Register, a wrong password, then a login and /me (accepted).
    fill(c, "reg-username", "lin").await;
    fill(c, "reg-email", "lin@example.com").await;
    fill(c, "reg-password", "correct horse").await;
    click(c, "reg-submit").await;
    wait_text(c, "result", "Register: 201").await;
    fill(c, "login-password", "not the password").await;
    click(c, "login-submit").await;
    wait_text(c, "result", "Log in: 401").await;
    fill(c, "login-password", "correct horse").await;
    click(c, "login-submit").await;
    wait_text(c, "status", "Logged in as lin").await;
    for n in 1..=3 {
        click(c, "me-button").await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while text(c, "log").await.matches("Show /me: 200").count() < n {
            assert!(tokio::time::Instant::now() < deadline, "/me #{n} answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Refused requests: without credentials, and with a token that is not one.
    let refused = c
        .execute(
            "return Promise.all([\
               fetch('/me', {credentials: 'omit'}),\
               fetch('/me', {credentials: 'omit', headers: {Authorization: 'Bearer not.a.token'}}),\
             ]).then(rs => rs.map(r => r.status))",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(refused, json!([401, 401]));

    // Within a few seconds (the panel polls every 2.5 s) it shows what the server counted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let (guard, logins) = loop {
        let (guard, logins) = expected(s).await;
        let shown_guard = shown(c, "metrics-guard").await;
        let shown_logins = shown(c, "metrics-logins").await;
        if shown_guard == guard && shown_logins == logins {
            break (guard, logins);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the panel shows {shown_guard:?} and {shown_logins:?}, \
             the server counted {guard:?} and {logins:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        guard.get("accepted").is_some_and(|n| *n >= 1.0),
        "{guard:?}"
    );
    for reason in ["refused:missing", "refused:invalid"] {
        assert!(guard.get(reason).is_some_and(|n| *n >= 1.0), "{guard:?}");
    }
    assert_eq!(
        logins,
        BTreeMap::from([("failure".to_owned(), 1.0), ("success".to_owned(), 1.0)])
    );
    let labels = text(c, "metrics-panel").await;
    for shown in [
        "accepted",
        "refused: no token",
        "refused: invalid token",
        "succeeded",
        "wrong email or password",
    ] {
        assert!(labels.contains(shown), "{labels}");
    }

    // The panel, for the README.
    let png = c
        .find(Locator::Id("metrics-panel"))
        .await
        .map_err(|e| e.to_string())?
        .screenshot()
        .await
        .map_err(|e| e.to_string())?;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metrics-panel.png"), &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    Ok(())
}
