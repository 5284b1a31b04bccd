//! A TCP proxy on a free loopback port that can make its open connections go silent
//! without closing them: what a half-open connection or a stuck middlebox looks like.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct SilentProxy {
    pub addr: SocketAddr,
    /// How many connections were accepted so far.
    accepted: Arc<AtomicU64>,
    /// Connections numbered up to this one are silent.
    silent_up_to: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SilentProxy {
    /// Forwards every connection to `upstream` until [`silence`](Self::silence) is called.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent_up_to = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let (silent, count) = (silent_up_to.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let generation = count.fetch_add(1, Ordering::SeqCst) + 1;
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, generation, silent.clone()));
                tokio::spawn(pump(sr, cw, generation, silent.clone()));
            }
        });
        Self {
            addr,
            accepted,
            silent_up_to,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// From now on the connections open so far forward nothing in either direction and
    /// never close; new connections are forwarded as before.
    pub fn silence(&self) {
        self.silent_up_to
            .store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

impl Drop for SilentProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    generation: u64,
    silent_up_to: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if generation <= silent_up_to.load(Ordering::SeqCst) {
            // Swallow everything and keep both sockets open, forever.
            let _keep = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
