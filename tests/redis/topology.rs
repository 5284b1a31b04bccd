//! Real Redis topologies for the Redis suite: a cluster ([`Cluster`], 3 primaries, with or
//! without a replica each) and a primary with a replica watched by a sentinel
//! ([`SentinelSet`]). Every process listens on a free loopback port, keeps its data and its
//! output in a temporary directory of its topology, and is killed on Drop, also on panic;
//! the directory is removed then, unless the thread is panicking (it is kept, and named, for
//! its logs). Every wait is bounded; a wait that runs out panics with the last state seen
//! and the tail of every process's log.
//!
//! Shared by several test targets (included with `#[path]` elsewhere), each of which uses
//! part of it; the tests of the topologies themselves are in `topology_tests.rs`.

// Each target that includes this kit uses only part of it.
#![allow(dead_code)]

// Explicit paths: they hold however this file is included.
#[path = "topology/cluster.rs"]
mod cluster;
#[path = "topology/sentinel.rs"]
mod sentinel;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use cluster::Cluster;
pub use sentinel::SentinelSet;

use crate::server::skip;

/// How often a wait polls.
const POLL: Duration = Duration::from_millis(25);

/// `redis-server` and `redis-cli`, or `false` (after saying why) when one is missing outside
/// CI; under `CI=true` a missing binary fails the test.
pub fn available() -> bool {
    if !crate::server::available() {
        return false;
    }
    let found = Command::new("redis-cli")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        skip::skip(
            "Redis topology test",
            "redis-cli is not installed (apt-get install -y redis-tools)",
        );
    }
    found
}

/// Ports handed out in this process (with their cluster bus ports), so that topologies
/// started by tests running in parallel never share one.
static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A free loopback port not handed out before in this process; with `bus`, below 55535
/// with `port + 10000` free too (the cluster bus).
fn free_port(bus: bool) -> u16 {
    let mut taken = TAKEN.lock().unwrap();
    for _ in 0..10_000 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if taken.contains(&port) {
            continue;
        }
        if bus {
            let free = port < 55535
                && !taken.contains(&(port + 10000))
                && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok();
            if !free {
                continue;
            }
            taken.insert(port + 10000);
        }
        taken.insert(port);
        return port;
    }
    panic!("no free loopback port (bus: {bus})");
}

/// Starts `redis-server` with `args(port)` on a free port (see [`free_port`]), its output
/// in `<dir>/<port>.log`, and waits until it answers `PING`. A port that another process
/// took meanwhile (the server exits with "Address already in use") is replaced, up to 5
/// times; any other exit panics with the log.
fn spawn_node(dir: &Path, bus: bool, args: impl Fn(u16) -> Vec<OsString>) -> Node {
    for _ in 0..5 {
        let port = free_port(bus);
        let log = dir.join(format!("{port}.log"));
        let mut node = Node::spawn(port, args(port), log.clone());
        let logs = [log.clone()];
        let up = wait_until(
            Duration::from_secs(10),
            "redis-server answers",
            &logs,
            || {
                if !node.alive() {
                    return Ok(false);
                }
                let pong = try_query::<String>(port, &redis::cmd("PING"));
                pong.map(|_| true).map_err(|e| e.to_string())
            },
        );
        if up {
            return node;
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("Address already in use"),
            "redis-server on {port} exited:\n{}",
            tails(&logs, 25)
        );
        node.kill();
    }
    panic!("redis-server found no free port in 5 tries");
}

/// One `redis-server` process, its output appended to `log`.
struct Node {
    port: u16,
    args: Vec<OsString>,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn spawn(port: u16, args: Vec<OsString>, log: PathBuf) -> Self {
        let mut node = Self {
            port,
            args,
            log,
            child: None,
        };
        node.start();
        node
    }

    fn start(&mut self) {
        self.kill();
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("redis-server")
            // A group of its own, so that `kill` reaches the children it forks too.
            .process_group(0)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server.
    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running node");
        let status = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {}", child.id());
    }

    /// SIGKILL to the server and to the children it forked (an AOF rewrite, an RDB save,
    /// which would write on into the directory), and reaped.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                // Not reaped yet, so its id still names its group.
                let group = format!("-{}", child.id());
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &group])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

/// Args shared by every data node: loopback, the port, its own data directory, an
/// append-only file written at once, no snapshot, and a replica's first sync without delay.
fn data_node_args(port: u16, dir: &Path) -> Vec<OsString> {
    let data = dir.join(port.to_string());
    std::fs::create_dir_all(&data).unwrap();
    let mut args: Vec<OsString> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(data.into_os_string());
    args
}

/// Removes a topology's directory, unless the thread is panicking: then it is kept (and
/// named) for its logs.
fn remove_dir(dir: &Path) {
    if std::thread::panicking() {
        eprintln!("kept for its logs: {}", dir.display());
    } else {
        // A child of a killed server may still be closing a file there: a few tries.
        for _ in 0..20 {
            if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
                return;
            }
            std::thread::sleep(POLL);
        }
        eprintln!("could not remove {}", dir.display());
    }
}

/// A fresh temporary directory for one topology.
fn temp_dir(kind: &str) -> PathBuf {
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("tower-jwt-auth-{kind}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs one command on the node at `port` (a connection of its own, 1 s to connect, 2 s
/// to answer).
pub fn try_query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(1))?;
    con.set_read_timeout(Some(Duration::from_secs(2)))?;
    con.set_write_timeout(Some(Duration::from_secs(2)))?;
    cmd.query(&mut con)
}

/// Runs one pipeline on the node at `port`, on one connection (so that a `WAIT` in it
/// counts the writes before it: `WAIT` waits for its own connection's writes only).
pub fn query_pipe<T: redis::FromRedisValue>(port: u16, pipe: &redis::Pipeline) -> T {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    pipe.query(&mut con)
        .unwrap_or_else(|e| panic!("{pipe:?} on port {port}: {e}"))
}

/// Whether `replicas` replicas of the primary at `port` acknowledge a write within 100 ms.
/// A replica reported `state=online` may not be streamed to yet (after a diskless sync the
/// primary waits for its first `REPLCONF ACK`, up to a second); the write is
/// `FUNCTION FLUSH`, which touches no key and is replicated.
fn replicas_ack(port: u16, replicas: usize) -> Result<(), String> {
    let mut pipe = redis::pipe();
    pipe.cmd("FUNCTION").arg("FLUSH").ignore();
    pipe.cmd("WAIT").arg(replicas).arg(100);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let acked: (usize,) = client
        .get_connection_with_timeout(Duration::from_secs(1))
        .and_then(|mut con| pipe.query(&mut con))
        .map_err(|e| format!("{port}: {e}"))?;
    if acked.0 >= replicas {
        Ok(())
    } else {
        Err(format!(
            "{} of {replicas} replicas of {port} acknowledge",
            acked.0
        ))
    }
}

/// The ports of the replicas connected to the primary at `port` (`INFO replication`).
pub fn replica_ports(port: u16) -> Vec<u16> {
    let info: String = query(port, redis::cmd("INFO").arg("replication"));
    info.lines()
        .filter(|l| l.starts_with("slave"))
        .filter_map(|l| l.split("port=").nth(1)?.split(',').next()?.parse().ok())
        .collect()
}

/// [`try_query`] that panics on an error, naming the command and the port.
pub fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> T {
    try_query(port, cmd).unwrap_or_else(|e| panic!("{cmd:?} on port {port}: {e}"))
}

/// The last `lines` lines of every log, for a failure's message.
fn tails(logs: &[PathBuf], lines: usize) -> String {
    let mut out = String::new();
    for log in logs {
        let mut text = String::new();
        if let Ok(mut file) = File::open(log) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let all: Vec<&str> = text.lines().collect();
        out += &format!("--- {} (last {lines} lines)\n", log.display());
        for line in &all[all.len().saturating_sub(lines)..] {
            out += line;
            out.push('\n');
        }
    }
    out
}

/// Polls `probe` every [`POLL`] until it answers `Ok`, at most `within`; then panics with
/// `what`, the probe's last `Err` (the state it saw) and the logs' tails.
fn wait_until<T>(
    within: Duration,
    what: &str,
    logs: &[PathBuf],
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        let last = match probe() {
            Ok(value) => return value,
            Err(state) => state,
        };
        if start.elapsed() >= within {
            panic!(
                "{what}: not within {within:?}; last seen: {last}\n{}",
                tails(logs, 25)
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Runs `redis-cli` with `args`, its output appended to `log`, killed after `within`;
/// returns whether it succeeded and its output.
fn redis_cli(args: &[String], log: &Path, within: Duration) -> (bool, String) {
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let start = out.seek(SeekFrom::End(0)).unwrap();
    let mut child = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start redis-cli");
    let began = Instant::now();
    let ok = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if began.elapsed() >= within {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(POLL);
    };
    let mut text = String::new();
    let mut file = File::open(log).unwrap();
    file.seek(SeekFrom::Start(start)).unwrap();
    file.read_to_string(&mut text).unwrap();
    (ok, text)
}
