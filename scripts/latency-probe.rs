//! Steady-rate latency probe for scripts/http-bench.sh: GET <path> with a bearer token,
//! 200 requests per second on one keep-alive connection for the given number of requests;
//! prints the p99 latency in milliseconds. Compiled with plain rustc (std only), so that
//! the probe itself stays small next to the server it measures on a small machine.
//!
//! Usage: latency-probe <port> <token> <path> [requests]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: latency-probe <port> <token> <path> [requests]");
        std::process::exit(2);
    }
    let port: u16 = args[1].parse().expect("port");
    let (token, path) = (&args[2], &args[3]);
    let requests: usize = args.get(4).map_or(2000, |n| n.parse().expect("requests"));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let mut buffer = vec![0u8; 1 << 16];
    let mut latencies = Vec::with_capacity(requests);
    let start = Instant::now();
    for i in 0..requests {
        let due = start + Duration::from_millis(5) * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let sent = Instant::now();
        stream.write_all(request.as_bytes()).expect("write");
        let mut filled = 0;
        loop {
            let n = stream.read(&mut buffer[filled..]).expect("read");
            assert!(n > 0, "the server closed the connection");
            filled += n;
            let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse().ok())
                .expect("content-length");
            if filled >= end + 4 + length {
                break;
            }
        }
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    println!("{:.3}", p99.as_secs_f64() * 1000.0);
}
