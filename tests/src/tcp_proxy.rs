//! A TCP proxy on a free loopback port in front of a broker, for the failures
//! a real network has and a test cannot otherwise make: cutting every
//! connection without an MQTT DISCONNECT ([`TcpProxy::sever`]), refusing new
//! connections ([`TcpProxy::refuse`]), and holding back everything the broker
//! sends to its clients (PUBACKs included) while passing what clients send
//! ([`TcpProxy::hold_replies`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug)]
struct Shared {
    upstream_port: u16,
    refuse: AtomicBool,
    accepted: AtomicU64,
    /// Incremented by `sever`: connections of an older generation close.
    generation: watch::Sender<u64>,
    /// While true, bytes from the broker wait in the proxy.
    hold: watch::Sender<bool>,
}

/// The proxy; stops (and closes every connection) when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free 127.0.0.1 port and forwards to 127.0.0.1:`upstream_port`.
    pub async fn start(upstream_port: u16) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the proxy")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            upstream_port,
            refuse: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            generation: watch::channel(0).0,
            hold: watch::channel(false).0,
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(TcpProxy { port, shared, task })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted and forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Closes every open connection, on both sides, without any MQTT packet:
    /// to the broker it looks like a client that died.
    pub fn sever(&self) {
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// While `refuse` is true, new connections are closed at once.
    pub fn refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    /// While `hold` is true, nothing the broker sends reaches the clients.
    pub fn hold_replies(&self, hold: bool) {
        self.shared.hold.send_replace(hold);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.sever();
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        if shared.refuse.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let Ok(broker) = TcpStream::connect(("127.0.0.1", shared.upstream_port)).await else {
                return;
            };
            shared.accepted.fetch_add(1, Ordering::SeqCst);
            let mut generation = shared.generation.subscribe();
            let born = *generation.borrow_and_update();
            let (client_read, client_write) = client.into_split();
            let (broker_read, broker_write) = broker.into_split();
            let up = pipe(client_read, broker_write, None);
            let down = pipe(broker_read, client_write, Some(shared.hold.subscribe()));
            tokio::select! {
                _ = up => {}
                _ = down => {}
                _ = generation.wait_for(|g| *g != born) => {}
            }
            // Both halves are dropped here: the sockets close.
        });
    }
}

/// Copies until EOF or an error; with `hold`, waits before each write while held.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut hold: Option<watch::Receiver<bool>>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(hold) = hold.as_mut() {
            if hold.wait_for(|held| !*held).await.is_err() {
                return;
            }
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
