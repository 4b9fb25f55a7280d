//! Routes: the links of a full mesh of servers (nats-server 2.9's route protocol).
//!
//! A route is a connection on a worker like a client's, with its own parser
//! ([`crate::proto::route`]). Each side sends INFO on connect; the side that dialled also sends
//! CONNECT (cluster name, its id, route credentials). Once a peer's INFO names a server we have no
//! route to (and not ourselves), the route is registered: our local interest goes out as `RS+`
//! lines, and (on the accepting side) the newcomer's INFO is forwarded to the other peers, who
//! then dial it — so every server ends up linked to every other one.
//!
//! Interest: a peer's `RS+` becomes a subscription in the account's sublist whose client is the
//! route connection (queue subscriptions carry the peer's member count as a weight). Local
//! subscriptions are counted per (account, subject, queue); the first one of a kind sends `RS+`,
//! the last one `RS-` (queue counts are re-announced as weights). Messages from clients reach each
//! interested route once (`RMSG`, naming the queue groups chosen there); messages from a route
//! reach local subscribers only, so a message crosses at most one route.
//!
//! Dialling (explicit `routes` and gossiped ones) runs on a small thread of its own with a retry
//! delay; explicit routes are retried for ever, gossiped ones `connect_retries` times.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream as StdStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::account::Account;
use super::client::{CloseReason, Conn};
use super::delivery::Router;
use super::shared::{ClientShared, SubRef, Subscription};
use super::Server;
use crate::conf::cluster::{route_target, ClusterConfig};
use crate::conf::COMPAT_VERSION;
use crate::proto::route::{self, RouteOp};

/// How long to wait before dialling a route again.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Bytes waiting on a route beyond which its producers are not read until it drains.
pub const ROUTE_HIGH_WATER: usize = 8 * 1024 * 1024;
/// How long one dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// A registered peer.
pub struct Peer {
    pub cid: u64,
    pub id: String,
    pub name: String,
    pub shared: Arc<ClientShared>,
    /// Where the peer takes routes (`nats-route://host:port/`).
    pub url: String,
    /// The URL we dialled, when we did.
    pub solicited: Option<String>,
    /// The peer's client URLs.
    pub connect_urls: Vec<String>,
    pub start: SystemTime,
    /// The peer said it is in lame-duck mode: its client URLs are no longer advertised.
    pub ldm: AtomicBool,
}

#[derive(Debug, Clone, PartialEq)]
enum Dial {
    /// Dial at this time.
    Due(Instant),
    /// A connection is being made or is up.
    Busy,
}

struct Target {
    url: String,
    explicit: bool,
    dial: Dial,
    failures: u32,
    /// The server behind the URL, once known.
    id: Option<String>,
}

/// This server's part of the cluster.
pub struct Cluster {
    /// The cluster's name; without one configured, a random one that gives way to a peer's.
    name: RwLock<String>,
    dynamic: AtomicBool,
    /// Where we listen for routes.
    pub addr: SocketAddr,
    /// The host and port peers dial to reach us (in our route INFO).
    pub advertise: (String, u16),
    credentials: Option<(String, String)>,
    connect_retries: u32,
    no_advertise: bool,
    peers: Mutex<HashMap<u64, Arc<Peer>>>,
    /// Registered route connections, for broadcasting interest.
    links: RwLock<Vec<Arc<ClientShared>>>,
    targets: Mutex<Vec<Target>>,
    wake: Condvar,
    pub stop: AtomicBool,
    /// Route TLS (accepting and dialling sides), when `cluster { tls {} }` is set.
    pub tls: Option<(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>)>,
    /// How long a route TLS handshake may take.
    pub tls_timeout: Duration,
}

/// The INFO a server sends on a route (and forwards about others, with `ip`).
#[derive(Serialize, Deserialize, Default, Clone, Debug)]
pub struct RouteInfo {
    #[serde(default)]
    pub server_id: String,
    #[serde(default)]
    pub server_name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub proto: u32,
    #[serde(default)]
    pub go: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub headers: bool,
    #[serde(default)]
    pub max_payload: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_required: Option<bool>,
    #[serde(default)]
    pub cluster: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cluster_dynamic: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    /// The peer understands leaf-node origins (LS+/LMSG). rnatsd has no leaf nodes and says
    /// no, so Go peers send it plain RS+/RMSG.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lnoc: bool,
    /// The server is in lame-duck mode (its clients should go elsewhere).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ldm: bool,
}

#[derive(Deserialize, Default)]
struct RouteConnect {
    #[serde(default, alias = "dynamic")]
    cluster_dynamic: bool,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    pass: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    cluster: String,
}

/// A peer's interest by (account, subject, queue).
type RemoteSubs = HashMap<(String, Box<[u8]>, Option<Box<[u8]>>), SubRef>;

/// Per-connection state of a route (beside the connection's socket and buffers).
pub struct RouteState {
    pub parser: route::Parser,
    /// The peer's interest as subscriptions in our sublists: (account, subject, queue).
    subs: RemoteSubs,
    /// The URL we dialled, if we did.
    pub solicited: Option<String>,
    pub peer: Option<Arc<Peer>>,
    /// CONNECT has been accepted (always true on the side that dialled).
    connected: bool,
}

/// The longest route control line taken (a peer is authenticated; this only bounds memory).
const ROUTE_MAX_LINE: usize = 64 * 1024 * 1024;

impl RouteState {
    pub fn new(max_payload: usize, solicited: Option<String>) -> RouteState {
        let connected = solicited.is_some();
        RouteState {
            parser: route::Parser::new(route::Limits {
                // nats-server 2.9 bounds neither; an RMSG names every queue group it is
                // for, so its line grows with them (3,000 groups: about 90 KB).
                max_control_line: ROUTE_MAX_LINE,
                max_payload: max_payload.max(64 * 1024 * 1024),
            }),
            subs: HashMap::new(),
            solicited,
            peer: None,
            connected,
        }
    }
}

impl Cluster {
    /// Bind the route listener and set up dialling of `c.routes`.
    pub fn new(c: &ClusterConfig) -> io::Result<(Cluster, mio::net::TcpListener)> {
        let tls = match &c.tls {
            Some(t) => Some(
                super::tls::route_configs(t)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
            ),
            None => None,
        };
        let tls_timeout = c
            .tls
            .as_ref()
            .map_or(crate::conf::tls::TLS_TIMEOUT, |t| t.timeout);
        let host = c.host.clone().unwrap_or_else(|| "0.0.0.0".into());
        let (listener, shown) = super::bind(&host, c.port.unwrap_or(0));
        let listener = listener.map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))?;
        let addr = listener.local_addr()?;
        // Where peers are told to dial us: `cluster_advertise`, else the listen address.
        let advertise = match &c.advertise {
            Some(a) => super::parse_advertise(a, addr.port()),
            // "0.0.0.0" as listened, as nats-server says it: peers use our connection's address.
            None => (addr.ip().to_string(), addr.port()),
        };
        let now = Instant::now();
        let targets = c
            .routes
            .iter()
            .map(|u| Target {
                url: u.clone(),
                explicit: true,
                dial: Dial::Due(now),
                failures: 0,
                id: None,
            })
            .collect();
        let credentials = c
            .user
            .clone()
            .map(|u| (u, c.password.clone().unwrap_or_default()));
        Ok((
            Cluster {
                name: RwLock::new(c.name.clone().unwrap_or_else(random_name)),
                dynamic: AtomicBool::new(c.name.is_none()),
                addr,
                advertise,
                credentials,
                connect_retries: c.connect_retries,
                no_advertise: c.no_advertise,
                peers: Mutex::new(HashMap::new()),
                links: RwLock::new(Vec::new()),
                targets: Mutex::new(targets),
                wake: Condvar::new(),
                stop: AtomicBool::new(false),
                tls,
                tls_timeout,
            },
            listener,
        ))
    }

    pub fn name(&self) -> String {
        self.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn is_dynamic(&self) -> bool {
        self.dynamic.load(Ordering::Acquire)
    }

    /// A peer names another cluster. With a name of our own making we take theirs when theirs
    /// is configured or sorts after ours, and keep ours (they will take it) when both are made
    /// up and ours sorts after theirs — nats-server 2.9's rule. False when the names conflict.
    fn reconcile(&self, theirs: &str, their_dynamic: bool) -> bool {
        let ours = self.name();
        if theirs.is_empty() || theirs == ours {
            return true;
        }
        if !self.is_dynamic() {
            return false;
        }
        if !their_dynamic || ours.as_str() < theirs {
            crate::notice!("Cluster name updated to {theirs}");
            *self.name.write().unwrap_or_else(|e| e.into_inner()) = theirs.to_string();
            self.dynamic.store(their_dynamic, Ordering::Release);
            return true;
        }
        true
    }

    pub fn no_advertise(&self) -> bool {
        self.no_advertise
    }

    pub fn peers(&self) -> Vec<Arc<Peer>> {
        let mut v: Vec<Arc<Peer>> = self
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|p| p.cid);
        v
    }

    fn has_peer(&self, id: &str) -> bool {
        self.peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|p| p.id == id)
    }

    /// Client URLs of the peers (for the `connect_urls` clients are told about).
    pub fn peer_client_urls(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in self.peers() {
            if p.ldm.load(Ordering::Acquire) {
                continue;
            }
            for u in &p.connect_urls {
                if !out.contains(u) {
                    out.push(u.clone());
                }
            }
        }
        out
    }

    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_all();
    }

    /// Dial another server's route URL we heard about (gossip), unless it is known.
    fn learn(&self, url: &str, id: &str) {
        let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        if t.iter()
            .any(|x| x.url == url || x.id.as_deref() == Some(id))
        {
            return;
        }
        crate::debug!("Learned about route {url} ({id}) from a peer");
        t.push(Target {
            url: url.to_string(),
            explicit: false,
            dial: Dial::Due(Instant::now()),
            failures: 0,
            id: Some(id.to_string()),
        });
        self.wake.notify_all();
    }

    /// A route we dialled is gone (or never came up): dial again later, or give up on it.
    /// Returns whether a failed dial is worth an error line, as nats-server reports them: the
    /// first attempt and every 3600th while a route never came up, every attempt once it had.
    fn dial_ended(&self, url: &str, failed: bool) -> Option<(u32, bool)> {
        let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        let retries = self.connect_retries;
        let mut report = None;
        t.retain_mut(|x| {
            if x.url != url {
                return true;
            }
            if failed {
                x.failures += 1;
                let loud = x.id.is_some() || x.failures == 1 || x.failures % 3600 == 0;
                report = Some((x.failures, loud));
            } else {
                x.failures = 0;
            }
            // As nats-server: every second while the peer stays away.
            x.dial = Dial::Due(Instant::now() + RECONNECT_DELAY);
            x.explicit || x.failures <= retries
        });
        self.wake.notify_all();
        report
    }

    fn set_target_id(&self, url: &str, id: &str) {
        let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        for x in t.iter_mut().filter(|x| x.url == url) {
            x.id = Some(id.to_string());
        }
    }

    /// A URL that turned out to be ourselves: never dial it again.
    fn forget(&self, url: &str) {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|x| x.url != url);
    }

    fn info(&self, server: &Server) -> RouteInfo {
        let o = server.opts();
        // With cluster_advertise, the address peers gossip for us (as nats-server sets it);
        // without, they take the address our connection comes from.
        let ip = o
            .cluster
            .as_ref()
            .and_then(|c| c.advertise.as_ref())
            .map(|_| {
                format!(
                    "nats-route://{}/",
                    host_port(&self.advertise.0, self.advertise.1)
                )
            });
        RouteInfo {
            server_id: server.id.clone(),
            server_name: server.name.clone(),
            version: COMPAT_VERSION.into(),
            proto: 2,
            go: concat!("rnatsd ", env!("CARGO_PKG_VERSION")).into(),
            host: self.advertise.0.clone(),
            port: self.advertise.1,
            headers: true,
            max_payload: o.max_payload,
            ip,
            auth_required: self.credentials.as_ref().map(|_| true),
            cluster: self.name(),
            cluster_dynamic: self.is_dynamic(),
            connect_urls: if self.no_advertise {
                Vec::new()
            } else {
                vec![server.client_url()]
            },
            lnoc: false,
            ldm: false,
        }
    }

    /// We are in lame-duck mode: tell every peer (route INFO with `ldm`), so their clients
    /// stop being sent to us, as nats-server does.
    pub fn announce_lame_duck(&self, server: &Server) {
        let mut info = self.info(server);
        info.ldm = true;
        let line = info_line(&info);
        for p in self.peers() {
            send(server, &p.shared, &line);
        }
    }
}

/// A made-up cluster name, as nats-server makes one: 22 random base62 characters.
fn random_name() -> String {
    use ring::rand::SecureRandom;
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut b = [0u8; 22];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b.iter().map(|x| A[*x as usize % A.len()] as char).collect()
}

fn info_line(info: &RouteInfo) -> Vec<u8> {
    let mut b = b"INFO ".to_vec();
    b.extend_from_slice(&serde_json::to_vec(info).unwrap_or_default());
    b.extend_from_slice(b"\r\n");
    b
}

/// The TLS session a new route starts with (before any other byte, as nats-server does):
/// the server side when it was accepted, the client side (checking the peer as `host` of the
/// URL) when we dialled.
pub fn tls_session(
    server: &Server,
    solicited: Option<&str>,
) -> Result<Option<rustls::Connection>, String> {
    let Some((srv, cli)) = server.cluster.as_ref().and_then(|c| c.tls.as_ref()) else {
        return Ok(None);
    };
    let conn = match solicited {
        None => rustls::Connection::Server(
            rustls::ServerConnection::new(srv.clone()).map_err(|e| e.to_string())?,
        ),
        Some(url) => {
            let host = route_target(url).map(|(_, h, _)| h).unwrap_or_default();
            let name = rustls::pki_types::ServerName::try_from(host)
                .map_err(|e| format!("route host: {e}"))?;
            rustls::Connection::Client(
                rustls::ClientConnection::new(cli.clone(), name).map_err(|e| e.to_string())?,
            )
        }
    };
    Ok(Some(conn))
}

/// The first bytes on a new route: our INFO from the accepting side; the dialling side waits
/// for it (to settle the cluster name first, as nats-server does), then sends [`connect_line`].
pub fn greeting(server: &Server, solicited: Option<&str>) -> Vec<u8> {
    match (&server.cluster, solicited) {
        (Some(c), None) => info_line(&c.info(server)),
        _ => Vec::new(),
    }
}

/// CONNECT and our INFO, sent by the dialling side once the peer's INFO has arrived.
fn connect_line(server: &Server, url: &str) -> Vec<u8> {
    let Some(c) = &server.cluster else {
        return Vec::new();
    };
    let mut out = Vec::new();
    {
        // Credentials from the URL, else our own cluster's (gossiped URLs carry none).
        let creds = route_target(url)
            .and_then(|(u, ..)| u)
            .or_else(|| c.credentials.clone());
        let connect = serde_json::json!({
            "echo": true,
            "verbose": false,
            "pedantic": false,
            "user": creds.as_ref().map(|(u, _)| u.clone()),
            "pass": creds.as_ref().map(|(_, p)| p.clone()),
            "tls_required": c.tls.is_some(),
            "headers": true,
            "name": server.id,
            "cluster": c.name(),
            "cluster_dynamic": c.is_dynamic(),
        });
        let mut connect = connect;
        if creds.is_none() {
            if let Some(m) = connect.as_object_mut() {
                m.remove("user");
                m.remove("pass");
            }
        }
        out.extend_from_slice(b"CONNECT ");
        out.extend_from_slice(connect.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&info_line(&c.info(server)));
    out
}

/// Append `bytes` to a connection's output from any thread, and have its worker write it.
pub fn send(server: &Server, to: &ClientShared, bytes: &[u8]) {
    {
        let mut out = to.out.lock().unwrap_or_else(|e| e.into_inner());
        if out.closed {
            return;
        }
        out.append(bytes);
    }
    to.pending.fetch_add(bytes.len(), Ordering::AcqRel);
    if !to.flush_queued.swap(true, Ordering::AcqRel) {
        server.workers[to.worker].request_flush(&[to.token]);
    }
}

/// Local interest changed by `delta` for (`account`, `subject`, `queue`): tell the peers when
/// it appears or goes (and queue weights as they change).
pub fn local_interest(
    server: &Server,
    account: &Account,
    subject: &[u8],
    queue: Option<&[u8]>,
    delta: i32,
) {
    let Some(c) = &server.cluster else {
        return;
    };
    let key = (subject.into(), queue.map(Into::into));
    let (before, after) = {
        let mut m = account.interest.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key).or_insert(0);
        let before = *n;
        *n = (i64::from(*n) + i64::from(delta)).max(0) as u32;
        let after = *n;
        if after == 0 {
            m.remove(&(subject.into(), queue.map(Into::into)));
        }
        (before, after)
    };
    let mut line = Vec::new();
    match queue {
        None if before == 0 && after > 0 => {
            route::rs_plus(&mut line, account.name.as_bytes(), subject, None)
        }
        None if before > 0 && after == 0 => {
            route::rs_minus(&mut line, account.name.as_bytes(), subject, None)
        }
        Some(q) if after > 0 && after != before => route::rs_plus(
            &mut line,
            account.name.as_bytes(),
            subject,
            Some((q, after)),
        ),
        Some(q) if after == 0 && before > 0 => {
            route::rs_minus(&mut line, account.name.as_bytes(), subject, Some(q))
        }
        _ => return,
    }
    for link in c.links.read().unwrap_or_else(|e| e.into_inner()).iter() {
        send(server, link, &line);
    }
}

/// A local subscription went away (UNSUB, auto-unsubscribe, close).
pub fn unsubscribed(server: &Server, sub: &Subscription) {
    if !sub.client.is_route {
        local_interest(server, &sub.account, &sub.subject, sub.queue.as_deref(), -1);
    }
}

/// Interest we hold for the account links of `opts` (announced to every peer, as nats-server's
/// import subscriptions are): the exported subject of every stream import, so peers route the
/// exporter's messages here to import them; and our reply prefix in every account that exports
/// a service we import, so replies come back.
pub fn link_interest(server: &Server) {
    if server.cluster.is_none() {
        return;
    }
    let opts = server.opts();
    let mut seen = Vec::new();
    for im in &opts.imports {
        let Some(exporter) = server.accounts.get(Some(&im.from)) else {
            continue;
        };
        let subject = match im.kind {
            crate::conf::auth::LinkKind::Stream => im.subject.clone(),
            crate::conf::auth::LinkKind::Service => format!("_R_.{}.>", server.response_prefix),
        };
        if seen.contains(&(im.from.clone(), subject.clone())) {
            continue;
        }
        local_interest(server, &exporter, subject.as_bytes(), None, 1);
        seen.push((im.from.clone(), subject));
    }
}

/// Every current local interest as RS+ lines, for a new peer.
fn all_interest(server: &Server) -> Vec<u8> {
    let mut out = Vec::new();
    for a in server.accounts.all() {
        let m = a.interest.lock().unwrap_or_else(|e| e.into_inner());
        for ((subject, queue), n) in m.iter() {
            let q = queue.as_deref().map(|q| (q, *n));
            route::rs_plus(&mut out, a.name.as_bytes(), subject, q);
        }
    }
    out
}

impl Conn {
    /// Parse and handle the `n` bytes just read on a route.
    pub(super) fn process_route(&mut self, n: usize, router: &mut Router) {
        let (rbuf, st, rs) = self.route_parts();
        let Some(rs) = rs else {
            return;
        };
        let buf = &rbuf[..n];
        st.shared.last_activity.store(
            super::shared::unix_nanos(SystemTime::now()),
            Ordering::Relaxed,
        );
        let mut pos = 0;
        loop {
            match rs.parser.next_op(buf, &mut pos) {
                Ok(Some(op)) => handle_op(
                    op,
                    st,
                    &mut rs.subs,
                    &mut rs.peer,
                    &mut rs.connected,
                    rs.solicited.as_deref(),
                    router,
                ),
                Ok(None) => break,
                Err(e) => {
                    crate::error!("{} - rid:{} - Route Error {}", st.peer, st.cid(), e);
                    st.close = Some(CloseReason::ParseError);
                    break;
                }
            }
            if st.close.is_some() {
                break;
            }
        }
    }

    /// The route is closing: drop its interest, unregister it, and dial again if we had dialled.
    pub fn route_closed(&mut self, server: &Arc<Server>) {
        let Some(rs) = self.route.as_mut() else {
            return;
        };
        let Some(c) = &server.cluster else {
            return;
        };
        for (_, sub) in rs.subs.drain() {
            if sub.close() {
                sub.account
                    .sublist
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&sub.subject, sub.queue.as_deref(), &sub);
            }
        }
        let cid = self.st.cid();
        let gone = c
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&cid);
        let was_peer = gone.is_some();
        // A route refused right after it formed (credentials, names) counts as a failed dial.
        let lasted = gone.is_some_and(|p| {
            SystemTime::now()
                .duration_since(p.start)
                .is_ok_and(|d| d > Duration::from_secs(2))
        });
        c.links
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|l| l.cid != cid);
        if let Some(url) = &rs.solicited {
            c.dial_ended(url, !lasted);
        }
        if was_peer {
            server.announce_info();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn handle_op(
    op: RouteOp<'_>,
    st: &mut super::client::ClientState,
    subs: &mut RemoteSubs,
    peer: &mut Option<Arc<Peer>>,
    connected: &mut bool,
    solicited: Option<&str>,
    router: &mut Router,
) {
    let server = router.server.clone();
    let Some(cluster) = &server.cluster else {
        return;
    };
    match op {
        RouteOp::Ping => {
            router.stage(&st.shared).extend_from_slice(b"PONG\r\n");
        }
        RouteOp::Pong => {
            st.pings_out = 0;
            if let Some(sent) = st.ping_sent.take() {
                st.shared.set_rtt(sent.elapsed());
            }
        }
        RouteOp::Ok => {}
        RouteOp::Err(text) => {
            crate::error!(
                "{} - rid:{} - Route Error {}",
                st.peer,
                st.cid(),
                String::from_utf8_lossy(text)
            );
        }
        RouteOp::Connect(json) => {
            let c: RouteConnect = match serde_json::from_slice(json) {
                Ok(c) => c,
                Err(e) => {
                    crate::error!("{} - rid:{} - bad route CONNECT: {e}", st.peer, st.cid());
                    st.close = Some(CloseReason::ProtocolViolation);
                    return;
                }
            };
            if let Some((u, p)) = &cluster.credentials {
                let ok = c.user.as_deref() == Some(u.as_str())
                    && super::auth::password_matches(p, c.pass.as_deref().unwrap_or(""));
                if !ok {
                    crate::error!(
                        "{} - rid:{} - authentication error - User {:?}",
                        st.peer,
                        st.cid(),
                        c.user.unwrap_or_default()
                    );
                    router
                        .stage(&st.shared)
                        .extend_from_slice(b"-ERR 'Authorization Violation'\r\n");
                    st.close = Some(CloseReason::AuthenticationViolation);
                    return;
                }
            }
            let ours = cluster.name();
            if !cluster.reconcile(&c.cluster, c.cluster_dynamic) {
                let text = format!(
                    "Rejecting connection, cluster name {:?} does not match {:?}",
                    c.cluster, ours
                );
                crate::error!("{} - rid:{} - {}", st.peer, st.cid(), text);
                router
                    .stage(&st.shared)
                    .extend_from_slice(format!("-ERR '{text}'\r\n").as_bytes());
                st.close = Some(CloseReason::ProtocolViolation);
                return;
            }
            let _ = c.name;
            *connected = true;
            st.authed = true;
        }
        RouteOp::Info(json) => {
            let info: RouteInfo = match serde_json::from_slice(json) {
                Ok(i) => i,
                Err(e) => {
                    crate::error!("{} - rid:{} - bad route INFO: {e}", st.peer, st.cid());
                    st.close = Some(CloseReason::ProtocolViolation);
                    return;
                }
            };
            if let Some(p) = peer.as_ref().filter(|p| info.ldm && info.server_id == p.id) {
                // The peer entered lame-duck mode: stop telling our clients of it.
                if !p.ldm.swap(true, Ordering::AcqRel) {
                    crate::debug!("{} - rid:{} - Peer in lame duck mode", st.peer, st.cid());
                    server.announce_info();
                }
                return;
            }
            if peer.is_some() {
                // Gossip: a server one of our peers has met.
                if let Some(ip) = &info.ip {
                    if info.server_id != server.id && !cluster.has_peer(&info.server_id) {
                        cluster.learn(ip, &info.server_id);
                    }
                }
                return;
            }
            if !*connected {
                // The dialling side sends CONNECT first.
                st.close = Some(CloseReason::AuthenticationViolation);
                return;
            }
            if let Some(url) = solicited {
                // Settle the cluster name before we introduce ourselves.
                if info.server_id != server.id
                    && !cluster.reconcile(&info.cluster, info.cluster_dynamic)
                {
                    crate::error!(
                        "{} - rid:{} - Rejecting route, cluster name {:?} does not match {:?}",
                        st.peer,
                        st.cid(),
                        info.cluster,
                        cluster.name()
                    );
                    st.close = Some(CloseReason::ProtocolViolation);
                    return;
                }
                let hello = connect_line(&server, url);
                router.stage(&st.shared).extend_from_slice(&hello);
            }
            register(&server, cluster, st, peer, info, solicited, router);
            if peer.is_some() && st.ping_sent.is_none() {
                // A first PING right away, so the route's rtt is known (as nats-server
                // shows it in /routez) before the ping timer's first round.
                st.ping_sent = Some(std::time::Instant::now());
                crate::trace!("{} - rid:{} - ->> [PING]", st.peer, st.cid());
                router.stage(&st.shared).extend_from_slice(
                    b"PING
",
                );
            }
        }
        RouteOp::Sub {
            account,
            subject,
            queue,
        } => {
            if peer.is_none() {
                return;
            }
            remote_sub(&server, st, subs, account, subject, queue);
        }
        RouteOp::Unsub {
            account,
            subject,
            queue,
        } => {
            let key = (
                String::from_utf8_lossy(account).into_owned(),
                Box::<[u8]>::from(subject),
                queue.map(Box::<[u8]>::from),
            );
            if let Some(sub) = subs.remove(&key) {
                if sub.close() {
                    sub.account
                        .sublist
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&sub.subject, sub.queue.as_deref(), &sub);
                }
            }
        }
        RouteOp::LeafSub { .. } | RouteOp::LeafUnsub { .. } => {}
        RouteOp::Msg(m) => {
            if peer.is_none() {
                return;
            }
            let name = String::from_utf8_lossy(m.account);
            let Some(account) = server.accounts.get(Some(&name)) else {
                return;
            };
            let msg = crate::proto::client::Msg {
                subject: m.subject,
                reply: m.reply,
                header_len: m.header_len,
                data: m.data,
            };
            let bytes = (m.data.len() - m.header_len) as u64;
            st.shared.stats.add_in(1, bytes);
            // Server totals count what routes bring in too, as nats-server's /varz does.
            router.server.stats.of(router.worker).add_in(1, bytes);
            router.route_peer = Some(st.shared.clone());
            router.route_from_peer(&account, &msg, m.queues);
            router.route_peer = None;
        }
    }
}

/// nats-server's name for a route's subscription.
fn route_sid(account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Box<[u8]> {
    let mut v = Vec::new();
    crate::proto::route::push_key(&mut v, account, subject, queue);
    v.into()
}

fn remote_sub(
    server: &Server,
    st: &super::client::ClientState,
    subs: &mut RemoteSubs,
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    let name = String::from_utf8_lossy(account).into_owned();
    let Some(acc) = server.accounts.get(Some(&name)) else {
        // An account we do not have (the Go server's $SYS, say): nothing here can want it.
        return;
    };
    let key = (
        name,
        Box::<[u8]>::from(subject),
        queue.map(|(q, _)| Box::<[u8]>::from(q)),
    );
    if let Some(existing) = subs.get(&key) {
        if let Some((_, w)) = queue {
            existing.weight.store(w, Ordering::Relaxed);
        }
        return;
    }
    if !crate::proto::subject::is_valid_subject(subject) {
        return;
    }
    let sub = SubRef(Arc::new(Subscription {
        client: st.shared.clone(),
        account: acc.clone(),
        subject: subject.into(),
        queue: queue.map(|(q, _)| q.into()),
        // nats-server's key for a route's subscription, shown as its sid by /routez.
        sid: route_sid(account, subject, queue.map(|(q, _)| q)),
        max: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        weight: AtomicU32::new(queue.map_or(1, |(_, w)| w)),
    }));
    let ok = acc
        .sublist
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(subject, queue.map(|(q, _)| q), sub.clone())
        .is_ok();
    if ok {
        st.shared.num_subs.fetch_add(1, Ordering::Relaxed);
        subs.insert(key, sub);
    }
}

fn register(
    server: &Arc<Server>,
    cluster: &Cluster,
    st: &mut super::client::ClientState,
    peer: &mut Option<Arc<Peer>>,
    info: RouteInfo,
    solicited: Option<&str>,
    router: &mut Router,
) {
    if info.server_id == server.id {
        crate::debug!(
            "{} - rid:{} - Detected route to self, ignoring",
            st.peer,
            st.cid()
        );
        if let Some(url) = solicited {
            cluster.forget(url);
        }
        st.close = Some(CloseReason::DuplicateRoute);
        return;
    }
    let ours = cluster.name();
    if !cluster.reconcile(&info.cluster, info.cluster_dynamic) {
        crate::error!(
            "{} - rid:{} - Rejecting route, cluster name {:?} does not match {:?}",
            st.peer,
            st.cid(),
            info.cluster,
            ours
        );
        st.close = Some(CloseReason::ProtocolViolation);
        return;
    }
    if let Some(url) = solicited {
        cluster.set_target_id(url, &info.server_id);
    }
    // How others are told to reach this peer: its advertised address, else the address its
    // connection comes from with the port its INFO names (as nats-server gossips it).
    let url = info.ip.clone().unwrap_or_else(|| {
        format!(
            "nats-route://{}/",
            host_port(&st.peer.ip().to_string(), info.port)
        )
    });
    let me = Arc::new(Peer {
        cid: st.cid(),
        id: info.server_id.clone(),
        name: info.server_name.clone(),
        shared: st.shared.clone(),
        url: url.clone(),
        solicited: solicited.map(str::to_string),
        connect_urls: info.connect_urls.clone(),
        start: SystemTime::now(),
        ldm: AtomicBool::new(info.ldm),
    });
    {
        let mut peers = cluster.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(other) = peers.values().find(|p| p.id == info.server_id).cloned() {
            // Two links to one server (both dialled at once): keep the one dialled by the server
            // with the smaller id, which both sides decide alike.
            let keep_new = (server.id < info.server_id) == solicited.is_some();
            crate::debug!(
                "{} - rid:{} - Detected duplicate remote route {:?}",
                st.peer,
                st.cid(),
                info.server_id
            );
            if !keep_new {
                st.close = Some(CloseReason::DuplicateRoute);
                return;
            }
            peers.remove(&other.cid);
            other
                .shared
                .out
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .closed = true;
            server.workers[other.shared.worker]
                .inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .close
                .push((other.shared.token, other.cid));
            let _ = server.workers[other.shared.worker].waker.wake();
        }
        peers.insert(st.cid(), me.clone());
    }
    crate::notice!("{} - rid:{} - Route connection created", st.peer, st.cid());
    {
        let mut m = st.shared.meta.lock().unwrap_or_else(|e| e.into_inner());
        m.name = info.server_name.clone();
        m.user = info.server_id.clone();
    }
    *peer = Some(me);
    // Our interest first, then the link joins the broadcast list.
    let interest = all_interest(server);
    router.stage(&st.shared).extend_from_slice(&interest);
    cluster
        .links
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(st.shared.clone());
    if solicited.is_none() {
        // Tell the others about the newcomer so they link to it too.
        let mut fwd = info;
        fwd.ip = Some(url);
        let line = info_line(&fwd);
        for p in cluster.peers() {
            if p.cid != st.cid() {
                send(server, &p.shared, &line);
            }
        }
    }
    server.announce_info();
}

/// `host:port`, an IPv6 host in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The dialling thread: connect to due targets, hand the sockets to the workers.
pub fn dial_loop(server: Arc<Server>) {
    let Some(c) = &server.cluster else {
        return;
    };
    let mut next_worker = 0usize;
    loop {
        let due: Vec<String> = {
            let mut t = c.targets.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let mut due = Vec::new();
            let mut wait = Duration::from_secs(1);
            for x in t.iter_mut() {
                if let Dial::Due(at) = x.dial {
                    let known = x.id.as_deref().is_some_and(|id| c.has_peer(id));
                    if at <= now && !known {
                        x.dial = Dial::Busy;
                        due.push(x.url.clone());
                    } else if at <= now {
                        // Linked already through the other side's dial: check again later.
                        x.dial = Dial::Due(now + RECONNECT_DELAY);
                    } else {
                        wait = wait.min(at - now);
                    }
                }
            }
            if due.is_empty() {
                let (_t, _) = c
                    .wake
                    .wait_timeout(t, wait)
                    .unwrap_or_else(|e| e.into_inner());
            }
            due
        };
        if c.stop.load(Ordering::Acquire) || server.shutting_down.load(Ordering::Acquire) {
            return;
        }
        for url in due {
            match dial(&url) {
                Ok((sock, peer)) => {
                    crate::debug!("Connected to route {url}");
                    let w = next_worker % server.workers.len();
                    next_worker = next_worker.wrapping_add(1);
                    let h = &server.workers[w];
                    h.inbox
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .routes
                        .push((sock, peer, Some(url)));
                    let _ = h.waker.wake();
                }
                Err(e) => {
                    if let Some((n, loud)) = c.dial_ended(&url, true) {
                        if loud {
                            crate::error!("Error trying to connect to route (attempt {n}): {e}");
                        } else {
                            crate::debug!("Error trying to connect to route (attempt {n}): {e}");
                        }
                    }
                }
            }
        }
    }
}

fn dial(url: &str) -> io::Result<(mio::net::TcpStream, SocketAddr)> {
    let (_, host, port) = route_target(url)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad route URL"))?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address"))?;
    let s = StdStream::connect_timeout(&addr, DIAL_TIMEOUT)?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    let peer = s.peer_addr()?;
    let _ = (&s).flush();
    Ok((mio::net::TcpStream::from_std(s), peer))
}
