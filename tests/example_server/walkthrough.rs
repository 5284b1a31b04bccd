//! The README's walkthroughs, run as written: the `sh` blocks under "The example server, step
//! by step" and "Browser apps" go to `bash` against the example server (with
//! `localhost:3000` pointed at the test's server, in a temporary directory), and every answer
//! is compared with the `#=>` line that follows its command in the README (`…` matches any
//! text). Needs `bash`, `curl` and `sed`: without
//! them the test says why it is skipped, and fails under `CI=true`.

use std::process::{Command, Stdio};

use crate::harness::{Server, TempDb};

#[path = "../support/skip.rs"]
mod skip;

/// The commands of the first `sh` block under `heading`, each with the answer the README
/// shows (if any).
fn walkthrough(heading: &str) -> Vec<(String, Option<String>)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme
        .find(heading)
        .expect("the README has the walkthrough")..];
    let start = section.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let mut steps: Vec<(String, Option<String>)> = Vec::new();
    let mut command = String::new();
    for line in block.lines() {
        if let Some(answer) = line.strip_prefix("#=> ") {
            steps.last_mut().expect("an answer follows a command").1 = Some(answer.to_owned());
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            command.push_str(line);
            command.push('\n');
            if !line.ends_with('\\') {
                steps.push((std::mem::take(&mut command), None));
            }
        }
    }
    steps
}

/// Whether `text` matches `pattern`, where `…` stands for any text.
fn matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part) && rest.len() >= part.len();
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn tools_available() -> bool {
    let missing: Vec<&str> = ["bash", "curl", "sed"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let reason = format!("the README walkthrough needs {}", missing.join(", "));
    skip::skip("walkthrough test", &reason);
    false
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    assert!(matches(
        "{\"access_token\":\"…\"}",
        "{\"access_token\":\"eyJ.x.y\"}"
    ));
    assert!(!matches("{\"a\":\"…\"}", "{\"b\":\"x\"}"));
    run("## The example server, step by step", 15);
}

#[test]
fn the_readme_cookie_walkthrough_runs_as_written() {
    run("## Browser apps", 8);
}

fn run(heading: &str, at_least: usize) {
    let steps = walkthrough(heading);
    assert!(
        steps.len() >= at_least,
        "the walkthrough has its steps: {}",
        steps.len()
    );
    if !tools_available() {
        return;
    }
    let db = TempDb::new("walkthrough");
    let server = Server::start(&db.path(), &[]);
    const MARK: &str = "<<<walkthrough step>>>";
    let mut script = String::from("set -u\n");
    for (command, _) in &steps {
        let command = command.replace("localhost:3000", &server.addr.to_string());
        script.push_str(&format!("{command}echo\necho '{MARK}'\n"));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(db.dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<&str> = stdout.split(MARK).collect();
    for ((command, expected), answer) in steps.iter().zip(&answers) {
        let answer = answer.trim();
        match expected {
            Some(expected) => assert!(
                matches(expected, answer),
                "{command}answered {answer:?}, the README shows {expected:?}"
            ),
            None => assert!(answer.is_empty(), "{command}printed {answer:?}"),
        }
    }
    println!(
        "README walkthrough {heading:?}: {} commands, {} answers as shown",
        steps.len(),
        steps.iter().filter(|(_, e)| e.is_some()).count()
    );
}
