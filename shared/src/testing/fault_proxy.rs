//! A TCP proxy that breaks connections on command, put between a service and its broker (or
//! database) so a test can make a real connection die the ways networks do: reset by the peer,
//! closed, silently black-holed (no byte either way and no FIN, until heartbeats notice), or
//! refused for new connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does to the connections open at the moment of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Keep forwarding.
    None,
    /// Send a TCP reset to both ends ("connection reset by peer").
    Reset,
    /// Close both ends in order (FIN).
    Close,
}

struct State {
    /// Bumped with each cut, so every connection task sees each command once.
    cuts: watch::Sender<(u64, Cut)>,
    /// While set, no byte moves either way on any connection; sockets stay open.
    black_hole: AtomicBool,
    /// While set, new connections are reset as soon as they are accepted.
    refusing: AtomicBool,
    open: AtomicUsize,
    accepted: AtomicUsize,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    acceptor: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener =
            TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("fault proxy cannot listen: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("fault proxy address: {e}"));
        let state = Arc::new(State {
            cuts: watch::channel((0, Cut::None)).0,
            black_hole: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        });
        let shared = state.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                if shared.refusing.load(Ordering::SeqCst) {
                    reset(client);
                    continue;
                }
                tokio::spawn(forward(client, upstream, shared.clone()));
            }
        });
        Self { addr, state, acceptor }
    }

    /// `url` (amqp://… or postgres://…) with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let (authority, path) =
            rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
        let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
        format!("{scheme}://{userinfo}{}{path}", self.addr)
    }

    /// Resets every open connection, as a broker that crashed or a middlebox would.
    pub fn reset_all(&self) {
        self.state.cuts.send_modify(|(n, cut)| (*n, *cut) = (*n + 1, Cut::Reset));
    }

    /// Closes every open connection in order (FIN to both ends).
    pub fn close_all(&self) {
        self.state.cuts.send_modify(|(n, cut)| (*n, *cut) = (*n + 1, Cut::Close));
    }

    /// Stops (or resumes) moving bytes on every connection, keeping them open: a partition
    /// that only heartbeats can notice.
    pub fn black_hole(&self, on: bool) {
        self.state.black_hole.store(on, Ordering::SeqCst);
    }

    /// Resets (or accepts again) new connections: the broker is down.
    pub fn refuse(&self, on: bool) {
        self.state.refusing.store(on, Ordering::SeqCst);
    }

    /// Connections open through the proxy now.
    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    /// Connections accepted since the start (refused ones included).
    pub fn accepted(&self) -> usize {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.reset_all();
    }
}

/// Drops `stream` with SO_LINGER 0, so the kernel sends RST instead of FIN.
fn reset(stream: TcpStream) {
    // A zero linger never blocks: the socket is discarded at once.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn forward(client: TcpStream, upstream: SocketAddr, state: Arc<State>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        reset(client);
        return;
    };
    state.open.fetch_add(1, Ordering::SeqCst);
    let mut cuts = state.cuts.subscribe();
    cuts.mark_unchanged();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let cut = loop {
        // While black-holed nothing is read, so nothing is written either way.
        let flowing = !state.black_hole.load(Ordering::SeqCst);
        tokio::select! {
            changed = cuts.changed() => match changed {
                Ok(()) => {
                    let (_, cut) = *cuts.borrow_and_update();
                    if cut != Cut::None { break cut; }
                }
                Err(_) => break Cut::Reset,
            },
            read = client_read.read(&mut up), if flowing => match read {
                Ok(0) | Err(_) => break Cut::Close,
                Ok(n) => if server_write.write_all(&up[..n]).await.is_err() { break Cut::Close },
            },
            read = server_read.read(&mut down), if flowing => match read {
                Ok(0) | Err(_) => break Cut::Close,
                Ok(n) => if client_write.write_all(&down[..n]).await.is_err() { break Cut::Close },
            },
            // Looks at the black hole again now and then.
            _ = tokio::time::sleep(Duration::from_millis(50)), if !flowing => {}
        }
    };
    state.open.fetch_sub(1, Ordering::SeqCst);
    match (client_read.reunite(client_write), server_read.reunite(server_write)) {
        (Ok(client), Ok(server)) if cut == Cut::Reset => {
            reset(client);
            reset(server);
        }
        (client, server) => {
            if let Ok(mut client) = client {
                let _ = client.shutdown().await;
            }
            if let Ok(mut server) = server {
                let _ = server.shutdown().await;
            }
        }
    }
}
