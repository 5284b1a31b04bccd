//! A primary, its replica, and one sentinel watching them (quorum 1).

use std::path::PathBuf;
use std::time::Duration;

use super::{data_node_args, query, spawn_node, try_query, wait_until, Node};

const MASTER: &str = "mymaster";

pub struct SentinelSet {
    dir: PathBuf,
    /// The primary as started, then its replica.
    data: Vec<Node>,
    /// Empty until the replica is online.
    sentinels: Vec<Node>,
}

impl SentinelSet {
    /// Starts the primary and its replica, waits until the replica is online and
    /// acknowledges writes, then starts the sentinel and waits until it knows both.
    pub fn start() -> Self {
        let dir = super::temp_dir("sentinel");
        let primary_node = spawn_node(&dir, false, |port| data_node_args(port, &dir));
        let primary = primary_node.port;
        let replica_node = spawn_node(&dir, false, |port| {
            let mut args = data_node_args(port, &dir);
            args.extend(["--replicaof", "127.0.0.1", &primary.to_string()].map(Into::into));
            args
        });
        let replica = replica_node.port;
        let mut set = Self {
            dir: dir.clone(),
            data: vec![primary_node, replica_node],
            sentinels: Vec::new(),
        };
        set.wait(Duration::from_secs(10), "the replica is online", |s| {
            s.exited()?;
            let info: String = try_query(primary, redis::cmd("INFO").arg("replication"))
                .map_err(|e| e.to_string())?;
            if !info.contains(&format!("port={replica},state=online")) {
                return Err(info);
            }
            super::replicas_ack(primary, 1)
        });
        // The sentinel rewrites its file (its state), so it lives in the temporary directory.
        let conf = dir.join("sentinel.conf");
        let sentinel = spawn_node(&dir, false, |port| {
            let sentinel_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&sentinel_dir).unwrap();
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {primary} 1\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 5000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                sentinel_dir.display()
            );
            std::fs::write(&conf, text).unwrap();
            vec![conf.clone().into_os_string(), "--sentinel".into()]
        });
        set.sentinels.push(sentinel);
        set.wait(Duration::from_secs(10), "the sentinel knows both", |s| {
            s.exited()?;
            let now = s.try_primary_port()?;
            if now != primary {
                return Err(format!("the sentinel names {now}"));
            }
            let flags = s.master_flags()?;
            if flags != "master" {
                return Err(format!("the sentinel flags {primary} {flags}"));
            }
            let replicas = s.sentinel_replicas()?;
            if replicas
                .iter()
                .any(|(port, flags)| *port == replica && flags == "slave")
            {
                Ok(())
            } else {
                Err(format!("the sentinel lists {replicas:?}"))
            }
        });
        set
    }

    /// "127.0.0.1:S" of every sentinel.
    pub fn sentinels(&self) -> Vec<String> {
        let ports = self.sentinels.iter().map(|n| n.port);
        ports.map(|p| format!("127.0.0.1:{p}")).collect()
    }

    pub fn master_name(&self) -> &str {
        MASTER
    }

    /// The primary's port, as the sentinel reports it now.
    pub fn primary_port(&self) -> u16 {
        self.try_primary_port().unwrap()
    }

    /// SIGKILLs the process of the primary the sentinel reports now; returns its port.
    pub fn kill_primary(&mut self) -> u16 {
        let port = self.primary_port();
        self.data
            .iter_mut()
            .find(|n| n.port == port)
            .unwrap()
            .kill();
        port
    }

    /// Waits (at most `within`) until the sentinel reports a primary that is running and
    /// answers `ROLE` as a master, and has ended its failover (its flags for the primary are
    /// just "master"); returns its port.
    pub fn wait_failover(&mut self, within: Duration) -> u16 {
        self.wait(within, "the sentinel promotes the replica", |s| {
            let port = s.try_primary_port()?;
            let node = s.data.iter_mut().find(|n| n.port == port);
            if !node.is_some_and(|n| n.alive()) {
                return Err(format!("the sentinel names {port} (down)"));
            }
            let role: Vec<redis::Value> =
                try_query(port, &redis::cmd("ROLE")).map_err(|e| e.to_string())?;
            match role.first() {
                Some(redis::Value::BulkString(r)) if r == b"master" => {}
                other => return Err(format!("{port} answers ROLE {other:?}")),
            }
            // The failover over (no failover_in_progress), the new primary seen up.
            match s.master_flags()?.as_str() {
                "master" => Ok(port),
                flags => Err(format!("the sentinel flags {port} {flags}")),
            }
        })
    }

    /// Starts the killed primary again (same port, data and arguments: it comes back a
    /// primary) and waits (at most `within`) until the sentinel has turned it into a replica
    /// of the current primary, in sync; returns its port. The sentinel waits 8 s after it
    /// sees the wrong role before it corrects it, so allow about 20 s.
    pub fn restart_old_primary(&mut self, within: Duration) -> u16 {
        let node = self.data.iter_mut().find(|n| n.child.is_none());
        let node = node.expect("a killed primary");
        node.start();
        let port = node.port;
        self.wait(within, "the old primary comes back as a replica", |s| {
            let primary = s.try_primary_port()?;
            let info: String = try_query(port, redis::cmd("INFO").arg("replication"))
                .map_err(|e| e.to_string())?;
            let ok = info.contains("role:slave")
                && info.contains(&format!("master_port:{primary}"))
                && info.contains("master_link_status:up");
            if ok {
                Ok(port)
            } else {
                Err(info)
            }
        })
    }

    /// Stops (`STOP`) or resumes (`CONT`) the node at `port`: a paused replica never
    /// acknowledges a write.
    pub fn signal(&self, port: u16, signal: &str) {
        self.data
            .iter()
            .find(|n| n.port == port)
            .expect("a node of this topology")
            .signal(signal);
    }

    /// Runs one command on the node (or sentinel) at `port`.
    pub fn query<T: redis::FromRedisValue>(&self, port: u16, cmd: &redis::Cmd) -> T {
        query(port, cmd)
    }

    fn try_primary_port(&self) -> Result<u16, String> {
        let cmd = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(MASTER)
            .clone();
        let addr: Option<(String, u16)> =
            try_query(self.sentinels[0].port, &cmd).map_err(|e| e.to_string())?;
        addr.map(|(_, port)| port)
            .ok_or_else(|| "the sentinel knows no primary".into())
    }

    /// The `flags` of the primary in `SENTINEL master`: just "master" when it is up and no
    /// failover is under way.
    fn master_flags(&self) -> Result<String, String> {
        let cmd = redis::cmd("SENTINEL").arg("master").arg(MASTER).clone();
        let fields: Vec<String> =
            try_query(self.sentinels[0].port, &cmd).map_err(|e| e.to_string())?;
        let flags = fields.chunks(2).find(|kv| kv[0] == "flags");
        Ok(flags.map(|kv| kv[1].clone()).unwrap_or_default())
    }

    /// (port, flags) of every replica the sentinel knows.
    fn sentinel_replicas(&self) -> Result<Vec<(u16, String)>, String> {
        let cmd = redis::cmd("SENTINEL").arg("replicas").arg(MASTER).clone();
        let replicas: Vec<Vec<String>> =
            try_query(self.sentinels[0].port, &cmd).map_err(|e| e.to_string())?;
        Ok(replicas
            .iter()
            .map(|fields| {
                let field = |name: &str| {
                    let at = fields.chunks(2).find(|kv| kv[0] == name);
                    at.map(|kv| kv[1].clone()).unwrap_or_default()
                };
                (field("port").parse().unwrap_or(0), field("flags"))
            })
            .collect())
    }

    /// An error naming the first process that exited by itself.
    fn exited(&mut self) -> Result<(), String> {
        for node in self.data.iter_mut().chain(&mut self.sentinels) {
            if node.child.is_some() && !node.alive() {
                return Err(format!("the process on {} exited", node.port));
            }
        }
        Ok(())
    }

    fn logs(&self) -> Vec<PathBuf> {
        let nodes = self.data.iter().chain(&self.sentinels);
        let mut logs: Vec<PathBuf> = nodes.map(|n| n.log.clone()).collect();
        logs.push(self.dir.join("sentinel.conf"));
        logs
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

impl Drop for SentinelSet {
    fn drop(&mut self) {
        for node in self.sentinels.iter_mut().chain(&mut self.data) {
            node.kill();
        }
        super::remove_dir(&self.dir);
    }
}
