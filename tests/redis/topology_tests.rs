//! Tests of the Redis topologies themselves (`topology.rs`): a cluster redirects, moves a
//! slot with its keys, and fails over to a replica; a sentinel fails over to the replica
//! with the data acknowledged before, and turns the old primary into a replica; a wait
//! that runs out shows what it saw.

use std::time::{Duration, Instant};

use crate::topology::{available, query_pipe, try_query, Cluster, SentinelSet};

/// `SET key kept` then `WAIT 1 1000`, to run on one connection.
fn set_and_wait(key: &str) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg(key).arg("kept").ignore();
    pipe.cmd("WAIT").arg(1).arg(1000);
    pipe
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn cluster_starts_and_redirects() {
    if !available() {
        return;
    }
    let start = Instant::now();
    let mut cluster = Cluster::start();
    println!("cluster of 3 primaries up in {:?}", start.elapsed());
    let seeds = cluster.seeds();
    assert_eq!(seeds.len(), 3, "{seeds:?}");
    assert_eq!(cluster.nodes().len(), 3);

    let owner = cluster.primary_for_key("topology:redirect");
    let others: Vec<u16> = seeds
        .iter()
        .map(|s| port_of(s))
        .filter(|&p| p != owner)
        .collect();
    // A node that does not serve the key redirects a plain client to the one that does.
    let moved = try_query::<()>(
        others[0],
        redis::cmd("SET").arg("topology:redirect").arg("v"),
    );
    let err = moved.unwrap_err();
    let slot = cluster.slot_of("topology:redirect");
    let owner_addr = format!("127.0.0.1:{owner}");
    assert_eq!(err.code(), Some("MOVED"), "{err}");
    assert_eq!(
        err.redirect_node(),
        Some((owner_addr.as_str(), slot)),
        "{err}"
    );
    // A client following redirections writes through one node and reads through another.
    assert_eq!(
        cluster.cli_c(others[0], &["SET", "topology:redirect", "v1"]),
        "OK"
    );
    assert_eq!(
        cluster.cli_c(others[1], &["GET", "topology:redirect"]),
        "v1"
    );
    let on_owner: String = cluster.query(owner, redis::cmd("GET").arg("topology:redirect"));
    assert_eq!(on_owner, "v1");
}

#[test]
fn migrate_slot_moves_every_key_of_the_slot() {
    if !available() {
        return;
    }
    let mut cluster = Cluster::start();
    let from = cluster.primary_for_key("{topology}");
    let to = port_of(cluster.seeds().iter().find(|s| port_of(s) != from).unwrap());
    // More keys than one MIGRATE batch, all in the slot of "{topology}".
    let keys: Vec<String> = (0..250).map(|i| format!("{{topology}}:{i}")).collect();
    for key in &keys {
        let _: () = cluster.query(from, redis::cmd("SET").arg(key).arg(key));
    }
    let slot = cluster.slot_of("{topology}");
    let start = Instant::now();
    cluster.migrate_slot_of("{topology}", to);
    println!("slot with 250 keys migrated in {:?}", start.elapsed());

    assert_eq!(cluster.primary_for_key("{topology}:7"), to);
    let count: u64 = cluster.query(to, redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot));
    assert_eq!(count, 250);
    let left: u64 = cluster.query(from, redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot));
    assert_eq!(left, 0);
    for key in [&keys[0], &keys[249]] {
        let value: String = cluster.query(to, redis::cmd("GET").arg(key));
        assert_eq!(&value, key);
        let err = try_query::<String>(from, redis::cmd("GET").arg(key)).unwrap_err();
        let to_addr = format!("127.0.0.1:{to}");
        assert_eq!(err.code(), Some("MOVED"), "{err}");
        assert_eq!(err.redirect_node(), Some((to_addr.as_str(), slot)), "{err}");
    }
}

#[test]
fn cluster_failover_promotes_a_replica() {
    if !available() {
        return;
    }
    let start = Instant::now();
    let mut cluster = Cluster::start_with_replicas();
    println!(
        "cluster of 3 primaries + 3 replicas up in {:?}",
        start.elapsed()
    );
    assert_eq!(cluster.nodes().len(), 6);
    let key = "topology:failover";
    let old = cluster.primary_for_key(key);
    let (acked,): (u64,) = query_pipe(old, &set_and_wait(key));
    assert_eq!(acked, 1, "the replica holds the write");

    assert_eq!(cluster.kill_primary_of(key), old);
    let start = Instant::now();
    let new = cluster.wait_failover(key, Duration::from_secs(10));
    println!("cluster failover in {:?}", start.elapsed());
    assert_ne!(new, old);
    assert_eq!(cluster.primary_for_key(key), new);
    assert!(!cluster.seeds().contains(&format!("127.0.0.1:{old}")));
    let value: String = cluster.query(new, redis::cmd("GET").arg(key));
    assert_eq!(value, "kept");
}

#[test]
fn sentinel_failover_promotes_the_replica_with_its_data() {
    if !available() {
        return;
    }
    let start = Instant::now();
    let mut set = SentinelSet::start();
    println!("primary + replica + sentinel up in {:?}", start.elapsed());
    assert_eq!(set.master_name(), "mymaster");
    let sentinel = port_of(&set.sentinels()[0]);
    let old = set.primary_port();
    let (acked,): (u64,) = query_pipe(old, &set_and_wait("topology:sentinel"));
    assert_eq!(acked, 1, "the replica holds the write");

    assert_eq!(set.kill_primary(), old);
    let start = Instant::now();
    let new = set.wait_failover(Duration::from_secs(10));
    println!("sentinel failover in {:?}", start.elapsed());
    assert_ne!(new, old);
    let addr: (String, u16) = set.query(
        sentinel,
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg("mymaster"),
    );
    assert_eq!(addr, ("127.0.0.1".to_owned(), new));
    let value: String = set.query(new, redis::cmd("GET").arg("topology:sentinel"));
    assert_eq!(value, "kept");

    // The old primary returns and is made a replica of the new one: it has the data and
    // refuses writes.
    let start = Instant::now();
    assert_eq!(set.restart_old_primary(Duration::from_secs(30)), old);
    println!("old primary back as a replica in {:?}", start.elapsed());
    let value: String = set.query(old, redis::cmd("GET").arg("topology:sentinel"));
    assert_eq!(value, "kept");
    let err =
        try_query::<()>(old, redis::cmd("SET").arg("topology:sentinel").arg("x")).unwrap_err();
    assert_eq!(err.code(), Some("READONLY"), "{err}");
}

/// A wait that runs out names what it waited for, the last state it saw, and the tail of
/// every process's log.
#[test]
fn a_wait_that_runs_out_shows_the_state_and_the_logs() {
    if !available() {
        return;
    }
    let mut set = SentinelSet::start();
    let old = set.kill_primary();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        set.wait_failover(Duration::from_millis(100))
    }))
    .expect_err("no failover within 100 ms (the sentinel waits 1 s to call it down)");
    let message = panic.downcast_ref::<String>().unwrap();
    for part in [
        "the sentinel promotes the replica: not within 100ms",
        &format!("last seen: the sentinel names {old} (down)"),
        &format!("{old}.log (last 25 lines)"),
        "Ready to accept connections",
        "+monitor master mymaster",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}
