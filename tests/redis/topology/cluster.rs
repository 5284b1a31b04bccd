//! A Redis cluster of 3 primaries, with or without one replica each.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::Node;
use super::{data_node_args, query, redis_cli, spawn_node, tails, temp_dir, try_query, wait_until};

const SLOTS: u32 = 16384;

/// Port of each primary serving slots -> its slot ranges, sorted.
type Owners = BTreeMap<u16, Vec<(u16, u16)>>;

pub struct Cluster {
    dir: PathBuf,
    nodes: Vec<Node>,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
struct Entry {
    port: u16,
    flags: Vec<String>,
    /// Served slot ranges (inclusive); migrating/importing marks are left out.
    slots: Vec<(u16, u16)>,
}

impl Entry {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }
}

fn parse_nodes(text: &str) -> Vec<Entry> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = f[1].split('@').next().unwrap_or("");
            let port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            let slots = f[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .map(|s| match s.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (s.parse().unwrap(), s.parse().unwrap()),
                })
                .collect();
            Entry {
                port: port.unwrap_or(0),
                flags: f[2].split(',').map(str::to_owned).collect(),
                slots,
            }
        })
        .collect()
}

impl Cluster {
    /// 3 primaries, no replica.
    pub fn start() -> Self {
        Self::start_n(0)
    }

    /// 3 primaries with one replica each (6 nodes); when this returns every replica is in
    /// sync and acknowledges its primary's writes.
    pub fn start_with_replicas() -> Self {
        Self::start_n(1)
    }

    fn start_n(replicas: usize) -> Self {
        let dir = temp_dir("cluster");
        let nodes: Vec<Node> = (0..3 * (1 + replicas))
            .map(|_| {
                spawn_node(&dir, true, |port| {
                    let mut args = data_node_args(port, &dir);
                    let conf = dir.join(format!("nodes-{port}.conf"));
                    args.extend(
                        ["--cluster-enabled", "yes", "--cluster-config-file"].map(Into::into),
                    );
                    args.push(conf.into_os_string());
                    args.extend(
                        [
                            "--cluster-node-timeout",
                            "1000",
                            // A replica may take over however long its link was down.
                            "--cluster-replica-validity-factor",
                            "0",
                            // Replicas stay with the primary they were given.
                            "--cluster-allow-replica-migration",
                            "no",
                        ]
                        .map(Into::into),
                    );
                    args
                })
            })
            .collect();
        let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
        let mut cluster = Self { dir, nodes };
        let mut args = vec!["--cluster".to_owned(), "create".to_owned()];
        args.extend(ports.iter().map(|p| format!("127.0.0.1:{p}")));
        args.extend(["--cluster-replicas".into(), replicas.to_string()]);
        args.push("--cluster-yes".into());
        let (ok, out) = redis_cli(
            &args,
            &cluster.dir.join("create.log"),
            Duration::from_secs(20),
        );
        assert!(
            ok,
            "redis-cli --cluster create failed:\n{out}\n{}",
            cluster.tails()
        );
        cluster.wait(Duration::from_secs(20), "the cluster is formed", |c| {
            c.settled()?;
            // Every replica in sync with its primary (so that it can take over), and
            // streamed to (so that a WAIT does not wait for its first acknowledgement).
            for port in c.live_ports() {
                let info: String = try_query(port, redis::cmd("INFO").arg("replication"))
                    .map_err(|e| e.to_string())?;
                if info.contains("role:slave") && !info.contains("master_link_status:up") {
                    return Err(format!("replica {port} not in sync"));
                }
                if replicas > 0 && info.contains("role:master") {
                    super::replicas_ack(port, replicas)?;
                }
            }
            Ok(())
        });
        cluster
    }

    /// "127.0.0.1:P" of every live primary serving slots.
    pub fn seeds(&mut self) -> Vec<String> {
        let live = self.live_ports();
        let mut ports: Vec<u16> = self
            .view()
            .iter()
            .filter(|e| !e.slots.is_empty() && live.contains(&e.port))
            .map(|e| e.port)
            .collect();
        ports.sort();
        ports.iter().map(|p| format!("127.0.0.1:{p}")).collect()
    }

    /// "127.0.0.1:P" of every node still running, primaries and replicas.
    pub fn nodes(&mut self) -> Vec<String> {
        self.live_ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect()
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    pub fn slot_of(&mut self, key: &str) -> u16 {
        let port = self.live_ports()[0];
        query(port, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
    }

    /// The port of the primary serving `key`'s slot, as the first live node sees it.
    pub fn primary_for_key(&mut self, key: &str) -> u16 {
        let slot = self.slot_of(key);
        self.view()
            .iter()
            .find(|e| e.serves(slot))
            .unwrap_or_else(|| panic!("no node serves slot {slot}"))
            .port
    }

    /// SIGKILLs the primary serving `key`; returns its port.
    pub fn kill_primary_of(&mut self, key: &str) -> u16 {
        let port = self.primary_for_key(key);
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .unwrap()
            .kill();
        port
    }

    /// Waits (at most `within`) until a live node serves `key`'s slot, answers `ROLE` as a
    /// master, and every live node agrees on every slot with `cluster_state:ok`; returns that
    /// node's port.
    pub fn wait_failover(&mut self, key: &str, within: Duration) -> u16 {
        let slot = self.slot_of(key);
        self.wait(within, "a replica takes over", |c| {
            let view = c.settled()?;
            let owner = view.iter().find(|e| e.serves(slot)).unwrap().port;
            let role: Vec<redis::Value> =
                try_query(owner, &redis::cmd("ROLE")).map_err(|e| e.to_string())?;
            match role.first() {
                Some(redis::Value::BulkString(r)) if r == b"master" => Ok(owner),
                other => Err(format!("{owner} answers ROLE {other:?}")),
            }
        })
    }

    /// Moves the slot holding `key` (with all its keys) from its primary to the primary at
    /// `to`: IMPORTING on `to`, MIGRATING on the owner, `MIGRATE` in batches until the slot
    /// is empty there, then `SETSLOT NODE` on `to`, the owner and every other primary; waits
    /// until every node agrees.
    pub fn migrate_slot_of(&mut self, key: &str, to: u16) {
        let slot = self.slot_of(key);
        let from = self.primary_for_key(key);
        assert_ne!(from, to, "slot {slot} is on {to} already");
        let id = |port: u16| -> String { query(port, redis::cmd("CLUSTER").arg("MYID")) };
        let (from_id, to_id) = (id(from), id(to));
        let setslot = |port: u16, how: &str, node: &str| {
            let _: () = query(
                port,
                redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg(how)
                    .arg(node),
            );
        };
        setslot(to, "IMPORTING", &from_id);
        setslot(from, "MIGRATING", &to_id);
        loop {
            let keys: Vec<Vec<u8>> = query(
                from,
                redis::cmd("CLUSTER")
                    .arg("GETKEYSINSLOT")
                    .arg(slot)
                    .arg(100),
            );
            if keys.is_empty() {
                break;
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate
                .arg("127.0.0.1")
                .arg(to)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(keys);
            let _: redis::Value = query(from, &migrate);
        }
        setslot(to, "NODE", &to_id);
        setslot(from, "NODE", &to_id);
        let live = self.live_ports();
        for e in self.view() {
            let other = e.port != from && e.port != to;
            if e.has("master") && other && live.contains(&e.port) {
                setslot(e.port, "NODE", &to_id);
            }
        }
        self.wait(
            Duration::from_secs(10),
            "every node sees the slot moved",
            |c| {
                let view = c.settled()?;
                match view.iter().find(|e| e.serves(slot)) {
                    Some(e) if e.port == to => Ok(()),
                    other => Err(format!("slot {slot} on {other:?}")),
                }
            },
        );
    }

    /// `redis-cli -c -p <port> <args>` (a client following redirections), its output in
    /// `cli.log`; returns that output, trimmed; panics if it fails or takes over 5 s.
    pub fn cli_c(&self, port: u16, args: &[&str]) -> String {
        let mut all = vec!["-c".to_owned(), "-p".to_owned(), port.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        let log = self.dir.join("cli.log");
        let (ok, out) = redis_cli(&all, &log, Duration::from_secs(5));
        assert!(ok, "redis-cli {all:?}: {out}");
        out.trim().to_owned()
    }

    /// Stops (`STOP`) or resumes (`CONT`) the node at `port`: a paused replica never
    /// acknowledges a write.
    pub fn signal(&self, port: u16, signal: &str) {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .expect("a node of this topology")
            .signal(signal);
    }

    /// Runs one command on the node at `port`.
    pub fn query<T: redis::FromRedisValue>(&self, port: u16, cmd: &redis::Cmd) -> T {
        query(port, cmd)
    }

    fn live_ports(&mut self) -> Vec<u16> {
        self.nodes
            .iter_mut()
            .filter_map(|n| n.alive().then_some(n.port))
            .collect()
    }

    /// `CLUSTER NODES` as the first live node answers it.
    fn view(&mut self) -> Vec<Entry> {
        let port = *self.live_ports().first().expect("a live node");
        parse_nodes(&query::<String>(port, redis::cmd("CLUSTER").arg("NODES")))
    }

    /// Every live node says `cluster_state:ok`, knows every live node, and sees the same
    /// owner (a live node) for all 16384 slots; returns the first one's view.
    fn settled(&mut self) -> Result<Vec<Entry>, String> {
        let live = self.live_ports();
        let mut agreed: Option<(u16, Owners, Vec<Entry>)> = None;
        for &port in &live {
            let err = |e: redis::RedisError| format!("{port}: {e}");
            let info: String = try_query(port, redis::cmd("CLUSTER").arg("INFO")).map_err(err)?;
            if !info.contains("cluster_state:ok") {
                return Err(format!("{port}: not cluster_state:ok"));
            }
            let text: String = try_query(port, redis::cmd("CLUSTER").arg("NODES")).map_err(err)?;
            let view = parse_nodes(&text);
            for &other in &live {
                if !view.iter().any(|e| e.port == other && !e.has("handshake")) {
                    return Err(format!("{port} does not know {other} yet"));
                }
            }
            let mut owners = BTreeMap::new();
            let mut covered = 0;
            for e in view.iter().filter(|e| !e.slots.is_empty()) {
                let mut slots = e.slots.clone();
                slots.sort();
                covered += slots
                    .iter()
                    .map(|&(a, b)| u32::from(b - a) + 1)
                    .sum::<u32>();
                if !live.contains(&e.port) {
                    return Err(format!("{port} sees slots on {} (down)", e.port));
                }
                owners.insert(e.port, slots);
            }
            if covered != SLOTS {
                return Err(format!("{port} sees {covered} slots served"));
            }
            match &agreed {
                None => agreed = Some((port, owners, view)),
                Some((first, seen, _)) if *seen != owners => {
                    return Err(format!(
                        "{port} and {first} disagree: {owners:?} vs {seen:?}"
                    ));
                }
                Some(_) => {}
            }
        }
        agreed
            .map(|(_, _, view)| view)
            .ok_or_else(|| "no node is running".to_owned())
    }

    fn logs(&self) -> Vec<PathBuf> {
        let mut logs: Vec<PathBuf> = self.nodes.iter().map(|n| n.log.clone()).collect();
        logs.extend(["create.log", "cli.log"].map(|name| self.dir.join(name)));
        logs
    }

    fn tails(&self) -> String {
        tails(&self.logs(), 25)
    }

    fn wait<T>(
        &mut self,
        within: Duration,
        what: &str,
        mut probe: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> T {
        let logs = self.logs();
        wait_until(within, what, &logs, || probe(self))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        super::remove_dir(&self.dir);
    }
}
