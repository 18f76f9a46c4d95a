//! A minimal blocking TCP proxy (threads and `std::net`) to put in front of a backend server
//! and break the network on purpose: stop it (the server "goes away": the listener and every
//! proxied connection are closed), start it again on the same port (the server "comes
//! back"), hold every byte (the server "hangs": nothing is lost, it is delivered late), or
//! let requests through but cut each connection as soon as the server answers (the server
//! applied a write, the client never hears of it).
//!
//! Shared by the library's fault tests (`tests/`) and, through `#[path]`, by the CLI's
//! (`cli/tests/serve_faults.rs`).

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does with the bytes it relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Relays both ways.
    Forward,
    /// Relays client -> server; the first bytes the server sends back on a connection are
    /// dropped and that connection is closed on both sides. A request reaches the server
    /// (and is carried out), its reply never reaches the client: the outcome is unknown to
    /// the client, as when a connection breaks at the worst moment. New connections cannot
    /// complete a handshake either.
    CutOnReply,
    /// Accepts and reads as usual but delivers nothing, either way, until the mode changes
    /// (then what was held is delivered, in order): a server that hangs, or a network
    /// partition that heals. TCP loses nothing, so neither does this.
    Hold,
}

impl Mode {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Mode::CutOnReply,
            2 => Mode::Hold,
            _ => Mode::Forward,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Mode::Forward => 0,
            Mode::CutOnReply => 1,
            Mode::Hold => 2,
        }
    }
}

struct Shared {
    stop: AtomicBool,
    mode: AtomicU8,
    /// Bumped whenever every connection is closed, so relays holding bytes give up.
    epoch: AtomicUsize,
    conns: Mutex<Vec<TcpStream>>,
    accepted: AtomicUsize,
    cuts: AtomicUsize,
    /// One shot, see [`Proxy::cut_reply_to`]: the bytes of a request whose reply is cut.
    reply_trigger: Mutex<Option<Vec<u8>>>,
}

impl Shared {
    fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::SeqCst))
    }

    fn close_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

/// A running proxy; stopped (listener and connections closed) on [`Proxy::stop`] or drop.
pub struct Proxy {
    port: u16,
    target: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `127.0.0.1:port` (0: any free port) and relays every connection to
    /// `target`. Binding the port of a stopped proxy again works (std sets `SO_REUSEADDR`).
    pub fn start(target: SocketAddr, port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("proxy listener on port {port}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            mode: AtomicU8::new(Mode::Forward.as_u8()),
            epoch: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
            accepted: AtomicUsize::new(0),
            cuts: AtomicUsize::new(0),
            reply_trigger: Mutex::new(None),
        });
        let acceptor = std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || accept_loop(&listener, target, &shared)
        });
        Self {
            port,
            target,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server it relays to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Changes what it does with the bytes of every connection, open or new.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode.as_u8(), Ordering::SeqCst);
    }

    /// How many client connections it accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Once: the next request (one read from the client) containing `pattern` is relayed to
    /// the server, and the connection it came on is cut as soon as the server answers it
    /// (counted in [`cuts`](Self::cuts)). The request is carried out; the client never hears
    /// of it. Other connections and requests are relayed as usual.
    pub fn cut_reply_to(&self, pattern: &[u8]) {
        *self.shared.reply_trigger.lock().unwrap() = Some(pattern.to_vec());
    }

    /// How many connections [`Mode::CutOnReply`] and [`cut_reply_to`](Self::cut_reply_to)
    /// cut so far.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// Closes every proxied connection, leaving the listener open (the server "restarted":
    /// existing connections break, new ones work).
    pub fn drop_connections(&self) {
        self.shared.close_all();
    }

    /// Stops listening and closes every proxied connection; returns once the port is free.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            // The acceptor owns the listener: once it returns, the port is closed.
            let _ = acceptor.join();
        }
        self.shared.close_all();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(target) else {
                    continue; // the client sees its connection closed
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut conns = shared.conns.lock().unwrap();
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    conns.push(client.try_clone().unwrap());
                    conns.push(server.try_clone().unwrap());
                }
                let armed = Arc::new(AtomicBool::new(false));
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    false,
                    Arc::clone(shared),
                    Arc::clone(&armed),
                );
                pipe(server, client, true, Arc::clone(shared), armed);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("proxy accept: {e}"),
        }
    }
}

/// Copies `from` into `to` on a thread of its own until either side closes. `reply` marks
/// the server -> client direction, which [`Mode::CutOnReply`] cuts, and which `armed` (set
/// by the other direction on a request matching [`Proxy::cut_reply_to`]) cuts.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    reply: bool,
    shared: Arc<Shared>,
    armed: Arc<AtomicBool>,
) {
    let epoch = shared.epoch.load(Ordering::SeqCst);
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        'relay: loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if reply && armed.load(Ordering::SeqCst) {
                shared.cuts.fetch_add(1, Ordering::SeqCst);
                break 'relay;
            }
            if !reply {
                let mut trigger = shared.reply_trigger.lock().unwrap();
                let hit = trigger
                    .as_deref()
                    .is_some_and(|p| buf[..n].windows(p.len()).any(|w| w == p));
                if hit {
                    *trigger = None;
                    armed.store(true, Ordering::SeqCst);
                }
            }
            loop {
                match shared.mode() {
                    Mode::Forward => break,
                    Mode::CutOnReply if reply => {
                        shared.cuts.fetch_add(1, Ordering::SeqCst);
                        break 'relay;
                    }
                    Mode::CutOnReply => break,
                    Mode::Hold => {
                        if shared.stop.load(Ordering::SeqCst)
                            || shared.epoch.load(Ordering::SeqCst) != epoch
                        {
                            break 'relay;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// How many times the fault tests repeat their fault cycle: `OPTIMIST_FAULT_ROUNDS` (the long
/// mode, e.g. 50), else 1.
pub fn fault_rounds() -> usize {
    std::env::var("OPTIMIST_FAULT_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// `scheme://[userinfo@]HOST:PORT[/rest]` -> (`HOST:PORT` as an address, the same URL with
/// `127.0.0.1:{port}` instead). `None` for URLs this cannot rewrite (no IP literal, several
/// hosts, a Unix socket, query parameters naming hosts). A host name is resolved.
pub fn rewrite_url(url: &str, port: u16) -> Option<(SocketAddr, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if path.contains("host=") || path.contains("hostaddr=") {
        return None;
    }
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((user, hostport)) => (Some(user), hostport),
        None => (None, authority),
    };
    let target = hostport.to_socket_addrs().ok()?.next()?;
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    Some((
        target,
        format!("{scheme}://{userinfo}127.0.0.1:{port}{path}"),
    ))
}

/// `url` through a new proxy, with the URL to reach it; `None` (skipped loudly) when the URL
/// cannot be rewritten.
pub fn proxied(url: &str) -> Option<(Proxy, String)> {
    let Some((target, _)) = rewrite_url(url, 0) else {
        eprintln!("SKIPPED: cannot put a proxy in front of {url:?} (not HOST:PORT)");
        return None;
    };
    let proxy = Proxy::start(target, 0);
    let (_, through) = rewrite_url(url, proxy.port()).expect("a URL rewritten once rewrites again");
    Some((proxy, through))
}
