//! The server: shared state ([`Server`]), the worker reactors, and the main thread, which binds
//! the listener, accepts connections and hands each to a worker, and turns SIGINT/SIGTERM into a
//! graceful shutdown (pending output flushed, connections closed, pid file removed).

pub mod account;
pub mod auth;
pub mod client;
pub mod delivery;
pub mod log;
pub mod reload;
pub mod route;
pub mod shared;
pub mod signals;
pub mod tls;
pub mod worker;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use serde::Serialize;

use crate::conf::{Options, COMPAT_VERSION, VERSION};
use shared::ClientShared;

/// Errors that stop the server from starting.
#[derive(Debug)]
pub enum Error {
    Listen(String, io::Error),
    Io(String, io::Error),
    Tls(String),
    /// Options that cannot work together.
    Config(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Listen(addr, e) => write!(f, "Error listening on port: {addr}, \"{e}\""),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Tls(msg) => write!(f, "TLS configuration error: {msg}"),
            Error::Config(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

/// Bind a listening socket on `host` (a name, an address, or `[v6]`) and `port` (0: any free
/// one); also returns `host:port` as messages show it.
pub fn bind(host: &str, port: u16) -> (io::Result<TcpListener>, String) {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let listener = (host, port)
        .to_socket_addrs()
        .and_then(|mut a| a.next().ok_or_else(|| io::Error::other("no address")))
        .and_then(TcpListener::bind);
    (listener, shown)
}

/// An OS error as Go prints it: the C library's text in lower case, without "(os error N)".
pub fn os_error_text(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if e.raw_os_error().is_some() => &text[..i],
        _ => &text,
    };
    let mut c = text.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What other threads hand a worker.
#[derive(Default)]
pub struct Inbox {
    pub conns: Vec<(TcpStream, SocketAddr)>,
    pub flush: Vec<usize>,
    /// The configuration was reloaded: refresh every connection.
    pub reload: bool,
    /// Lame-duck mode began: tell every client (INFO with ldm).
    pub ldm_info: bool,
    /// Connections to close (slot, cid), for lame-duck mode.
    pub close: Vec<(usize, u64)>,
    /// Route connections, with the URL when we dialled them.
    pub routes: Vec<(TcpStream, SocketAddr, Option<String>)>,
    /// The cluster changed: send clients a fresh INFO (new `connect_urls`).
    pub info: bool,
}

pub struct WorkerHandle {
    pub waker: Waker,
    pub inbox: Mutex<Inbox>,
    /// The worker's match-cache counters, published once per loop turn.
    pub cache: CacheStats,
}

/// Match-cache counters of one worker: hits, misses, entries, fan-out sum and maximum.
#[derive(Default)]
pub struct CacheStats([AtomicU64; 5]);

impl CacheStats {
    pub fn store(&self, v: [u64; 5]) {
        for (a, v) in self.0.iter().zip(v) {
            a.store(v, Ordering::Relaxed);
        }
    }

    pub fn load(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

impl WorkerHandle {
    /// Ask the worker to flush these connection slots; one lock and one wake for all of them.
    pub fn request_flush(&self, slots: &[usize]) {
        self.inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .flush
            .extend_from_slice(slots);
        let _ = self.waker.wake();
    }
}

pub struct Server {
    /// The options in force; replaced whole by a configuration reload.
    opts: RwLock<Arc<Options>>,
    pub id: String,
    pub name: String,
    /// Host and port clients are told about in INFO (the advertised ones when set).
    pub(crate) info_host: String,
    pub(crate) info_port: u16,
    pub addr: SocketAddr,
    pub accounts: account::Accounts,
    pub workers: Vec<WorkerHandle>,
    pub stats: shared::WorkerCounters,
    pub slow_consumers: AtomicU64,
    pub next_cid: AtomicU64,
    pub num_clients: AtomicUsize,
    pub total_connections: AtomicU64,
    pub clients: Mutex<HashMap<u64, Arc<ClientShared>>>,
    pub shutting_down: AtomicBool,
    /// In lame-duck mode: no new clients, existing ones are being closed.
    pub lame_duck: AtomicBool,
    pub started: SystemTime,
    auth: RwLock<Arc<auth::Auth>>,
    /// TLS for client connections, when configured.
    tls: RwLock<Option<Arc<rustls::ServerConfig>>>,
    /// The command line the server started with, re-applied over the file on reload.
    pub args: Vec<String>,
    /// Workers that have applied the latest reload, so a reload can wait for all of them.
    pub reloaded: (Mutex<usize>, std::sync::Condvar),
    /// The most recent closed connections, oldest first (bounded by `max_closed_clients`).
    pub closed: Mutex<std::collections::VecDeque<Arc<shared::Closed>>>,
    /// When the configuration was last loaded (start or reload).
    pub config_load_time: Mutex<SystemTime>,
    /// Routes to other servers, when clustering is on.
    pub cluster: Option<route::Cluster>,
    /// The middle part of this server's service reply subjects (`_R_.<prefix>.xxxxxx`).
    pub response_prefix: String,
    /// The monitoring listeners' addresses, once bound (http, https).
    pub monitor_addrs: Mutex<(Option<SocketAddr>, Option<SocketAddr>)>,
}

#[derive(Serialize)]
struct Info<'a> {
    server_id: &'a str,
    server_name: &'a str,
    version: &'a str,
    proto: u32,
    go: &'a str,
    host: &'a str,
    port: u16,
    headers: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    tls_verify: bool,
    max_payload: usize,
    client_id: u64,
    client_ip: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    ldm: bool,
}

impl Server {
    pub fn opts(&self) -> Arc<Options> {
        self.opts.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn auth(&self) -> Arc<auth::Auth> {
        self.auth.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Put reloaded options, authentication and TLS in force for what comes next.
    pub fn install(&self, opts: Arc<Options>, tls: Option<Arc<rustls::ServerConfig>>) {
        self.accounts.ensure(&opts.accounts);
        self.accounts.link(&opts);
        *self.auth.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(auth::Auth::new(&opts));
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = tls;
        *self.opts.write().unwrap_or_else(|e| e.into_inner()) = opts;
    }

    /// The INFO line sent to a new client.
    pub fn client_info(&self, cid: u64, client_ip: &str, nonce: Option<&str>) -> String {
        let opts = self.opts();
        let cluster_name = self.cluster.as_ref().map(|c| c.name());
        let info = Info {
            server_id: &self.id,
            server_name: &self.name,
            version: COMPAT_VERSION,
            proto: 1,
            go: concat!("rnatsd ", env!("CARGO_PKG_VERSION")),
            host: &self.info_host,
            port: self.info_port,
            headers: true,
            auth_required: self.auth().expects_connect(),
            tls_required: self.tls().is_some(),
            tls_verify: opts.tls.as_ref().is_some_and(|t| t.verify),
            max_payload: opts.max_payload,
            client_id: cid,
            client_ip,
            nonce,
            cluster: cluster_name.as_deref(),
            connect_urls: self.connect_urls(),
            ldm: self.lame_duck.load(Ordering::Acquire),
        };
        let json = serde_json::to_string(&info).unwrap_or_default();
        format!("INFO {json} \r\n")
    }

    pub fn register_client(&self, c: &Arc<ClientShared>) {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(c.cid, c.clone());
    }

    /// `host:port` clients reach this server at (as told in INFO's `connect_urls`).
    pub fn client_url(&self) -> String {
        let host = if self.info_host.is_empty() || self.info_host == "0.0.0.0" {
            "127.0.0.1"
        } else {
            &self.info_host
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.info_port)
        } else {
            format!("{host}:{}", self.info_port)
        }
    }

    /// Every server's client URL, ours first, once there are peers (none alone, as Go); none at
    /// all with `no_advertise`, which keeps the cluster's addresses from our clients too.
    pub fn connect_urls(&self) -> Vec<String> {
        let Some(c) = self.cluster.as_ref().filter(|c| !c.no_advertise()) else {
            return Vec::new();
        };
        let peers = c.peer_client_urls();
        if c.peers().is_empty() {
            return Vec::new();
        }
        // In lame-duck mode our own URL is left out, as nats-server leaves it.
        let mut v = if self.lame_duck.load(Ordering::Acquire) {
            Vec::new()
        } else {
            vec![self.client_url()]
        };
        for u in peers {
            if !v.contains(&u) {
                v.push(u);
            }
        }
        v
    }

    /// The cluster changed: have every worker send its clients a fresh INFO.
    pub fn announce_info(&self) {
        for h in &self.workers {
            h.inbox.lock().unwrap_or_else(|e| e.into_inner()).info = true;
            let _ = h.waker.wake();
        }
    }

    /// Keep a closed connection's record for `/connz?state=closed`.
    pub fn remember_closed(&self, c: shared::Closed) {
        let max = self.opts().max_closed_clients;
        if max == 0 {
            return;
        }
        let mut q = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        while q.len() >= max {
            q.pop_front();
        }
        q.push_back(Arc::new(c));
    }

    /// Open client connections.
    pub fn client_count(&self) -> usize {
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Snapshots of the live subscriptions `keep` selects, account by account (each sublist is
    /// locked only while its matching handles are copied out).
    pub fn subscriptions(
        &self,
        keep: impl Fn(&shared::Subscription) -> bool,
    ) -> Vec<shared::SubSnapshot> {
        let mut out = Vec::new();
        for a in self.accounts.all() {
            let mut picked = Vec::new();
            a.sublist
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .for_each(|s| {
                    if !s.is_closed() && keep(s) {
                        picked.push(s.clone());
                    }
                });
            out.extend(picked.iter().map(|s| s.snapshot()));
        }
        out
    }

    /// Every open client connection, at this moment.
    pub fn client_list(&self) -> Vec<Arc<ClientShared>> {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn unregister_client(&self, cid: u64) {
        let removed = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&cid)
            .is_some();
        if removed {
            self.num_clients.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A server ID in nats-server's shape: 'N' and 55 base32 characters.
fn new_server_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = [0u8; 55];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        // Fall back to the clock and pid; uniqueness, not secrecy, is what matters here.
        let mut x = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(std::process::id()) << 32;
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    let mut id = String::with_capacity(56);
    id.push('N');
    id.extend(bytes.iter().map(|b| ALPHABET[(*b & 31) as usize] as char));
    id
}

/// Split an advertise string `host[:port]` (as nats-server accepts it), defaulting the port.
fn parse_advertise(s: &str, default_port: u16) -> (String, u16) {
    let s = s.trim_start_matches("nats://");
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            let port = p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(default_port);
            return (h.to_string(), port);
        }
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().unwrap_or(default_port)),
        _ => (s.to_string(), default_port),
    }
}

const LISTENER: Token = Token(0);
const STOP: Token = Token(1);
const ROUTE_LISTENER: Token = Token(2);

/// A service started beside the client listener (the monitoring server): it is started once
/// the server's state exists and before clients are accepted, and hands back how to stop it.
pub type Extension = Box<dyn FnOnce(&Arc<Server>) -> Result<Stopper, Error>>;

/// Stops what an [`Extension`] started (waking and joining its thread).
pub type Stopper = Box<dyn FnOnce() + Send>;

/// A started server: its shared state and its threads. Dropping it does not stop it; call
/// [`Handle::shutdown`].
pub struct Handle {
    pub server: Arc<Server>,
    threads: Vec<std::thread::JoinHandle<()>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
    stop: Arc<Waker>,
    files: RunFiles,
    extensions: Vec<Stopper>,
}

impl Handle {
    /// Lame-duck mode: stop accepting, tell clients (INFO with `ldm`), wait the grace period,
    /// close the clients spread over the rest of `lame_duck_duration`, then stop the process
    /// as SIGTERM would.
    pub fn enter_lame_duck(&self) {
        if self.server.lame_duck.swap(true, Ordering::AcqRel) {
            return;
        }
        crate::notice!("Entering lame duck mode, stop accepting new clients");
        let _ = self.stop.wake();
        if let Some(c) = &self.server.cluster {
            c.announce_lame_duck(&self.server);
        }
        for h in &self.server.workers {
            h.inbox.lock().unwrap_or_else(|e| e.into_inner()).ldm_info = true;
            let _ = h.waker.wake();
        }
        let server = self.server.clone();
        let spawned = std::thread::Builder::new()
            .name("lame-duck".into())
            .spawn(move || {
                reload::lame_duck(&server);
                // SAFETY: kill(2) on our own pid; the signal thread then shuts down gracefully.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGTERM);
                }
            });
        if let Err(e) = spawned {
            crate::error!("lame duck mode: {e}");
        }
    }

    /// Stop accepting, flush and close every connection, join the threads, remove the pid and
    /// ports files.
    pub fn shutdown(mut self) {
        crate::notice!("Initiating Shutdown...");
        self.server.shutting_down.store(true, Ordering::Release);
        let _ = self.stop.wake();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        if let Some(c) = &self.server.cluster {
            c.shutdown();
        }
        for h in &self.server.workers {
            let _ = h.waker.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for stop in self.extensions.drain(..) {
            stop();
        }
        self.files.remove();
        crate::notice!("Server Exiting..");
    }
}

/// Start the server: bind, spawn the workers and the acceptor, write the pid and ports files.
pub fn start(opts: Options) -> Result<Handle, Error> {
    start_with_args(opts, Vec::new())
}

/// Start, remembering the command line so a reload can apply it over the file again.
pub fn start_with_args(opts: Options, args: Vec<String>) -> Result<Handle, Error> {
    start_with(opts, args, Vec::new())
}

/// Start with extensions (see [`Extension`]).
pub fn start_with(
    opts: Options,
    args: Vec<String>,
    extensions: Vec<Extension>,
) -> Result<Handle, Error> {
    let opts = Arc::new(opts);
    let id = new_server_id();
    let name = if opts.server_name.is_empty() {
        id.clone()
    } else {
        opts.server_name.clone()
    };

    crate::notice!("Starting rnatsd");
    crate::notice!(
        "  Version:  {} (nats-server {} compatible)",
        VERSION,
        COMPAT_VERSION
    );
    crate::notice!("  Name:     {}", name);
    crate::notice!("  ID:       {}", id);

    let tls = match &opts.tls {
        Some(t) => Some(tls::server_config(t).map_err(Error::Tls)?),
        None => None,
    };
    let (listener, shown) = bind(&opts.host, opts.port.unwrap_or(0));
    let mut listener = listener.map_err(|e| Error::Listen(shown, e))?;
    widen_backlog(&listener);
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Io("listener address".into(), e))?;

    let (cluster, mut route_listener) = match &opts.cluster {
        Some(c) => {
            let (cl, l) = route::Cluster::new(c)
                .map_err(|e| Error::Config(format!("Error listening on route port: {e}")))?;
            (Some(cl), Some(l))
        }
        None => (None, None),
    };

    let nworkers = opts.worker_count();
    let mut polls = Vec::with_capacity(nworkers);
    let mut handles = Vec::with_capacity(nworkers);
    for _ in 0..nworkers {
        let poll = Poll::new().map_err(|e| Error::Io("creating poll".into(), e))?;
        let waker = Waker::new(poll.registry(), worker::WAKE_TOKEN)
            .map_err(|e| Error::Io("creating waker".into(), e))?;
        handles.push(WorkerHandle {
            waker,
            inbox: Mutex::new(Inbox::default()),
            cache: CacheStats::default(),
        });
        polls.push(poll);
    }
    let (info_host, info_port) = match &opts.client_advertise {
        Some(a) => parse_advertise(a, addr.port()),
        None => (
            opts.host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            addr.port(),
        ),
    };
    let server = Arc::new(Server {
        opts: RwLock::new(opts.clone()),
        id,
        name,
        info_host,
        info_port,
        addr,
        accounts: account::Accounts::new(&opts.accounts),
        workers: handles,
        stats: shared::WorkerCounters::new(nworkers),
        slow_consumers: AtomicU64::new(0),
        next_cid: AtomicU64::new(1),
        num_clients: AtomicUsize::new(0),
        total_connections: AtomicU64::new(0),
        clients: Mutex::new(HashMap::new()),
        shutting_down: AtomicBool::new(false),
        lame_duck: AtomicBool::new(false),
        started: SystemTime::now(),
        auth: RwLock::new(Arc::new(auth::Auth::new(&opts))),
        tls: RwLock::new(tls),
        args,
        reloaded: (Mutex::new(0), std::sync::Condvar::new()),
        closed: Mutex::new(std::collections::VecDeque::new()),
        config_load_time: Mutex::new(SystemTime::now()),
        monitor_addrs: Mutex::new((None, None)),
        cluster,
        response_prefix: new_server_id()[1..7].to_string(),
    });
    route::link_interest(&server);
    server.accounts.link(&opts);

    let mut threads = Vec::with_capacity(nworkers);
    for (i, poll) in polls.into_iter().enumerate() {
        let w = worker::Worker::new(i, poll, server.clone());
        let t = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || w.run())
            .map_err(|e| Error::Io("spawning worker".into(), e))?;
        threads.push(t);
    }

    let poll = Poll::new().map_err(|e| Error::Io("creating poll".into(), e))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| Error::Io("registering listener".into(), e))?;
    if let Some(l) = route_listener.as_mut() {
        poll.registry()
            .register(l, ROUTE_LISTENER, Interest::READABLE)
            .map_err(|e| Error::Io("registering route listener".into(), e))?;
    }
    let stop = Arc::new(
        Waker::new(poll.registry(), STOP).map_err(|e| Error::Io("creating waker".into(), e))?,
    );
    let mut stoppers = Vec::with_capacity(extensions.len());
    for ext in extensions {
        stoppers.push(ext(&server)?);
    }
    let files = RunFiles::write(&opts, &addr)?;
    crate::notice!(
        "Listening for client connections on {}",
        display_addr(&addr)
    );
    if let Some(c) = &server.cluster {
        crate::notice!("Cluster name is {}", c.name());
        crate::notice!("Listening for route connections on {}", c.addr);
        let server = server.clone();
        let t = std::thread::Builder::new()
            .name("routes".into())
            .spawn(move || route::dial_loop(server))
            .map_err(|e| Error::Io("spawning the route dialler".into(), e))?;
        threads.push(t);
    }
    let acceptor = {
        let server = server.clone();
        std::thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || accept_loop(server, poll, listener, route_listener))
            .map_err(|e| Error::Io("spawning acceptor".into(), e))?
    };
    crate::notice!("Server is ready");
    Ok(Handle {
        server,
        threads,
        acceptor: Some(acceptor),
        stop,
        files,
        extensions: stoppers,
    })
}

/// Run the server (with `extensions`) until SIGINT or SIGTERM, then shut it down gracefully.
pub fn run(opts: Options, args: Vec<String>, extensions: Vec<Extension>) -> Result<(), Error> {
    let mut sig =
        signals::install().map_err(|e| Error::Io("installing signal handlers".into(), e))?;
    let handle = start_with(opts, args, extensions)?;
    let mut poll = Poll::new().map_err(|e| Error::Io("creating poll".into(), e))?;
    poll.registry()
        .register(&mut sig, Token(0), Interest::READABLE)
        .map_err(|e| Error::Io("registering signals".into(), e))?;
    let mut events = Events::with_capacity(4);
    'main: loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            crate::error!("signal poll failed: {e}");
            break;
        }
        for req in signals::drain(&mut sig) {
            match req {
                signals::Request::Stop(name) => {
                    crate::notice!("Trapped \"{}\" signal", name);
                    break 'main;
                }
                signals::Request::Reload => match reload::reload(&handle.server) {
                    Ok(()) => crate::notice!("Reloaded server configuration"),
                    Err(e) => crate::error!("Failed to reload server configuration: {e}"),
                },
                signals::Request::Reopen => {
                    crate::notice!("Reopening log file");
                    if let Err(e) = log::reopen() {
                        crate::error!("Failed to reopen log file: {e}");
                    }
                }
                signals::Request::LameDuck => handle.enter_lame_duck(),
            }
        }
    }
    handle.shutdown();
    Ok(())
}

fn accept_loop(
    server: Arc<Server>,
    mut poll: Poll,
    mut listener: TcpListener,
    mut routes: Option<TcpListener>,
) {
    let mut events = Events::with_capacity(128);
    let mut next_worker = 0usize;
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            crate::error!("acceptor poll failed: {e}");
            return;
        }
        if server.shutting_down.load(Ordering::Acquire) || server.lame_duck.load(Ordering::Acquire)
        {
            return;
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_all(&server, &mut listener, &mut next_worker);
            } else if ev.token() == ROUTE_LISTENER {
                if let Some(l) = routes.as_mut() {
                    accept_routes(&server, l, &mut next_worker);
                }
            }
        }
    }
}

/// Listen again with the kernel's largest backlog (as Go does), so a burst of connects is queued
/// rather than refused; the default bind leaves it at 128.
fn widen_backlog(listener: &TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a socket we own and that is already listening only resizes its queue.
    unsafe {
        libc::listen(listener.as_raw_fd(), libc::SOMAXCONN.max(4096));
    }
}

fn display_addr(a: &SocketAddr) -> String {
    a.to_string()
}

fn accept_all(server: &Arc<Server>, listener: &mut TcpListener, next_worker: &mut usize) {
    loop {
        match listener.accept() {
            Ok((mut sock, peer)) => {
                let _ = sock.set_nodelay(true);
                server.total_connections.fetch_add(1, Ordering::Relaxed);
                let n = server.num_clients.fetch_add(1, Ordering::AcqRel);
                if n >= server.opts().max_connections {
                    server.num_clients.fetch_sub(1, Ordering::AcqRel);
                    reject_max_connections(server, &mut sock, &peer);
                    continue;
                }
                let w = *next_worker % server.workers.len();
                *next_worker = next_worker.wrapping_add(1);
                let h = &server.workers[w];
                h.inbox
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .conns
                    .push((sock, peer));
                let _ = h.waker.wake();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of descriptors and the like: log and let the next readiness retry.
                crate::error!("Error accepting client connection: {e}");
                return;
            }
        }
    }
}

fn accept_routes(server: &Arc<Server>, listener: &mut TcpListener, next_worker: &mut usize) {
    loop {
        match listener.accept() {
            Ok((sock, peer)) => {
                let _ = sock.set_nodelay(true);
                let w = *next_worker % server.workers.len();
                *next_worker = next_worker.wrapping_add(1);
                let h = &server.workers[w];
                h.inbox
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .routes
                    .push((sock, peer, None));
                let _ = h.waker.wake();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                crate::error!("Error accepting route connection: {e}");
                return;
            }
        }
    }
}

/// Over `max_connections`: INFO, then the Go server's error, then close.
fn reject_max_connections(server: &Server, sock: &mut TcpStream, peer: &SocketAddr) {
    let cid = server.next_cid.fetch_add(1, Ordering::Relaxed);
    let mut msg = server
        .client_info(cid, &peer.ip().to_string(), None)
        .into_bytes();
    msg.extend_from_slice(b"-ERR 'maximum connections exceeded'\r\n");
    let _ = sock.write(&msg);
    crate::error!("{} - cid:{} - maximum connections exceeded", peer, cid);
    let _ = sock.shutdown(std::net::Shutdown::Both);
}

/// The pid file and ports file, removed at shutdown.
struct RunFiles {
    pid: Option<PathBuf>,
    ports: Option<PathBuf>,
}

impl RunFiles {
    fn write(opts: &Options, addr: &SocketAddr) -> Result<RunFiles, Error> {
        let pid = std::process::id();
        let mut files = RunFiles {
            pid: None,
            ports: None,
        };
        if let Some(p) = &opts.pid_file {
            std::fs::write(p, pid.to_string())
                .map_err(|e| Error::Io(format!("Could not write pidfile {}", p.display()), e))?;
            files.pid = Some(p.clone());
        }
        if let Some(dir) = &opts.ports_file_dir {
            let exe = std::env::args()
                .next()
                .and_then(|a| {
                    std::path::Path::new(&a)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "rnatsd".into());
            let path = dir.join(format!("{exe}_{pid}.ports"));
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                addr.ip().to_string()
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            let json = serde_json::json!({ "nats": [format!("nats://{}:{}", host, addr.port())] });
            std::fs::write(&path, json.to_string()).map_err(|e| {
                Error::Io(format!("Error writing ports file {}", path.display()), e)
            })?;
            files.ports = Some(path);
        }
        Ok(files)
    }

    fn remove(&self) {
        for p in self.pid.iter().chain(self.ports.iter()) {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_look_like_nats_ids() {
        let id = new_server_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_ne!(id, new_server_id());
    }

    #[test]
    fn advertise_parsing() {
        assert_eq!(
            parse_advertise("example.com:5222", 4222),
            ("example.com".into(), 5222)
        );
        assert_eq!(
            parse_advertise("example.com", 4222),
            ("example.com".into(), 4222)
        );
        assert_eq!(parse_advertise("[::1]:5", 4222), ("::1".into(), 5));
        assert_eq!(parse_advertise("nats://h:7", 4222), ("h".into(), 7));
    }

    #[test]
    fn os_errors_read_like_go() {
        let e = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(os_error_text(&e), "address already in use");
        assert_eq!(os_error_text(&io::Error::other("X y")), "x y");
    }
}
