//! The example's web page in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs) driven over WebDriver. The whole flow on the
//! page: register, log in, `/me`, refresh, a password change refused for a non-fresh token
//! and accepted with a fresh one, log out, and a refused request after it. A screenshot of
//! the logged-in page is saved to `target/screenshots/logged-in.png` (the README shows a copy).
//!
//! Without Chromium or ChromeDriver the test says why it is skipped (and fails under
//! `CI=true`). `CHROME` and `CHROMEDRIVER` override the binaries' paths.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use http::StatusCode;
use serde_json::json;

#[path = "../support/skip.rs"]
mod skip;

use crate::harness::{Server, TempDb};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

fn binary(var: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(var) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| candidates.iter().map(move |c| dir.join(c)))
        .find(|p| p.is_file())
}

/// ChromeDriver on a free loopback port, killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(path: &PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn text(c: &Client, id: &str) -> String {
    c.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
}

/// Waits until element `id`'s text contains `wanted`; fails with what it shows instead.
pub(crate) async fn wait_text(c: &Client, id: &str, wanted: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let shown = text(c, id).await;
        if shown.contains(wanted) {
            return shown;
        }
        if tokio::time::Instant::now() > deadline {
            let log = text(c, "log").await;
            panic!(
                "#{id} shows {shown:?}, expected it to contain {wanted:?}; the page's log:\n{log}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn fill(c: &Client, id: &str, value: &str) {
    let input = c.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

pub(crate) async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// `document.cookie` as the page's scripts see it.
async fn script_cookies(c: &Client) -> String {
    let value = c.execute("return document.cookie", vec![]).await.unwrap();
    value.as_str().unwrap_or_default().to_owned()
}

/// Headless Chromium under ChromeDriver (both killed when the driver drops), or `None` after
/// saying why `what` is skipped (a failure under `CI=true`).
pub(crate) async fn session(what: &str) -> Option<(Driver, Client)> {
    let (Some(chrome), Some(chromedriver)) = (
        binary("CHROME", &["chromium", "chromium-browser", "google-chrome"]),
        binary("CHROMEDRIVER", &["chromedriver"]),
    ) else {
        skip::skip(
            what,
            "chromium and chromedriver are not installed \
             (apt-get install -y chromium chromium-driver)",
        );
        return None;
    };
    let driver = Driver::start(&chromedriver).await;

    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chrome,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,900", "--no-first-run", "--disable-extensions",
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = tokio::time::timeout(
        WAIT,
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver.url),
    )
    .await
    .expect("a browser session within 20 s")
    .expect("chromedriver starts a session");
    Some((driver, c))
}

#[tokio::test]
async fn the_web_page_walks_the_whole_flow_in_chromium() {
    let db = TempDb::new("browser");
    let s = Server::start(&db.path(), &[]);
    let Some((_driver, c)) = session("browser test").await else {
        return;
    };
    let result = walk(&c, &s).await;
    let _ = c.close().await;
    result.unwrap();
}

async fn walk(c: &Client, s: &Server) -> Result<(), String> {
    let base = format!("http://{}", s.addr);
    c.goto(&format!("{base}/"))
        .await
        .map_err(|e| e.to_string())?;
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("body[data-ready=true]"))
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(text(c, "status").await, "Not logged in");

    // Register, then log in.
    fill(c, "reg-username", "ada").await;
    fill(c, "reg-email", "ada@example.com").await;
    fill(c, "reg-password", "correct horse").await;
    click(c, "reg-submit").await;
    wait_text(c, "result", "Register: 201").await;
    fill(c, "login-password", "correct horse").await;
    click(c, "login-submit").await;
    wait_text(c, "status", "Logged in as ada <ada@example.com>").await;
    wait_text(c, "result", "Log in: 200").await;

    // The tokens are in HttpOnly cookies: scripts see the CSRF values only.
    let seen = script_cookies(c).await;
    assert!(
        seen.contains("csrf_access_token=") && seen.contains("csrf_refresh_token="),
        "{seen}"
    );
    assert!(
        !seen.contains("access_token_cookie") && !seen.contains("refresh_token_cookie"),
        "{seen}"
    );
    let response = text(c, "response").await;
    assert!(
        !response.contains("eyJ"),
        "a token reached the page: {response}"
    );

    click(c, "me-button").await;
    wait_text(c, "result", "Show /me: 200 OK — ada <ada@example.com>").await;

    // The logged-in page, for the README.
    let png = c.screenshot().await.map_err(|e| e.to_string())?;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("logged-in.png"), &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    // Refresh: a new access cookie, not fresh, so the password change is refused.
    click(c, "refresh-button").await;
    wait_text(c, "result", "Refresh: 200").await;
    fill(c, "pw-old", "correct horse").await;
    fill(c, "pw-new", "battery staple").await;
    click(c, "pw-submit").await;
    wait_text(
        c,
        "result",
        "Change password: 401 Unauthorized — Fresh token required",
    )
    .await;

    // Log out: both tokens revoked, the cookies gone; the old access token is refused.
    let old_access = c
        .get_named_cookie("access_token_cookie")
        .await
        .map_err(|e| e.to_string())?
        .value()
        .to_owned();
    click(c, "logout-button").await;
    wait_text(c, "result", "Log out: 200 OK — Successfully logged out").await;
    wait_text(c, "status", "Not logged in").await;
    assert!(!script_cookies(c).await.contains("csrf_access_token="));
    let refused = c
        .execute(
            "return fetch('/me').then(async r => [r.status, (await r.json()).msg])",
            vec![],
        )
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(
        refused,
        json!([
            401,
            "Missing JWT in headers or cookies (Missing Authorization Header; \
                      Missing cookie \"access_token_cookie\")"
        ])
    );
    let (status, body) = s.get("/me", Some(&old_access)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"msg": "Token has been revoked"})
        )
    );

    // A fresh login can change the password; every session ends with it.
    fill(c, "login-email", "ada@example.com").await;
    fill(c, "login-password", "correct horse").await;
    click(c, "login-submit").await;
    wait_text(c, "status", "Logged in as ada").await;
    fill(c, "pw-old", "correct horse").await;
    fill(c, "pw-new", "battery staple").await;
    click(c, "pw-submit").await;
    wait_text(c, "result", "Change password: 200 OK").await;
    wait_text(c, "status", "Not logged in").await;
    fill(c, "login-password", "battery staple").await;
    click(c, "login-submit").await;
    wait_text(c, "status", "Logged in as ada").await;
    Ok(())
}
