//! A client connection as its worker sees it: socket, read buffer, parser, negotiated options,
//! subscriptions by sid, and the write in progress. Handles each parsed operation the way
//! nats-server 2.9 does, staging every reply through the worker's [`Router`] so replies and
//! deliveries keep their order.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use mio::net::TcpStream;
use serde::Deserialize;

use super::account::Account;
use super::auth::{Credentials, Identity, Method as AuthMethod};
use super::delivery::Router;
use super::shared::{
    unix_nanos, ClientShared, Closed, PeerCert, SubRef, SubSnapshot, Subscription,
};
use crate::conf::Options;
use crate::proto::client::{Error as ParseError, Limits, Msg, Op, Parser};
use crate::proto::{subject, x509};

const READ_BUF_MIN: usize = 512;
const READ_BUF_MAX: usize = 64 * 1024;
/// A write buffer up to this size is kept between writes while the connection is busy.
const WRITE_BUF_KEEP: usize = 1024 * 1024;
/// Reads per readiness event before other connections get a turn.
const READS_PER_TURN: usize = 16;

/// Why a connection closed, in nats-server's words (they show up in logs and, later, in /connz).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    ReadError,
    WriteError,
    ParseError,
    ProtocolViolation,
    BadClientProtocolVersion,
    StaleConnection,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    MaxConnectionsExceeded,
    AuthenticationTimeout,
    AuthenticationViolation,
    TlsHandshakeError,
    ServerShutdown,
    DuplicateRoute,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ReadError => "Read Error",
            CloseReason::WriteError => "Write Error",
            CloseReason::ParseError => "Parse Error",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::TlsHandshakeError => "TLS Handshake Error",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::DuplicateRoute => "Duplicate Route",
        }
    }
}

/// Options a client sets with CONNECT. Fields it leaves out keep their values, as in nats-server
/// (which starts every client with verbose, pedantic and echo on).
#[derive(Clone, Debug)]
pub struct ConnectOpts {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub protocol: i64,
    pub name: String,
    pub lang: String,
    pub version: String,
}

impl Default for ConnectOpts {
    fn default() -> Self {
        ConnectOpts {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            protocol: 0,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
        }
    }
}

/// The CONNECT JSON; every field optional, unknown fields ignored, wrong types refused.
#[derive(Deserialize, Default)]
#[allow(dead_code)]
struct ConnectJson {
    verbose: Option<bool>,
    pedantic: Option<bool>,
    echo: Option<bool>,
    headers: Option<bool>,
    no_responders: Option<bool>,
    protocol: Option<i64>,
    name: Option<String>,
    lang: Option<String>,
    version: Option<String>,
    tls_required: Option<bool>,
    user: Option<String>,
    pass: Option<String>,
    auth_token: Option<String>,
    nkey: Option<String>,
    sig: Option<String>,
    jwt: Option<String>,
}

/// What a read pass left behind.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadState {
    /// Drained to WouldBlock: wait for the next readiness event.
    Drained,
    /// Stopped for fairness with data possibly left: read again soon.
    More,
    Close(CloseReason),
}

pub struct Conn {
    parser: Parser,
    rbuf: Vec<u8>,
    small_reads: u32,
    pub st: ClientState,
    /// Set for a route connection (see `route.rs`).
    pub route: Option<Box<super::route::RouteState>>,
}

/// Everything about a connection except its parser and read buffer (which the parsed
/// operations borrow from).
pub struct ClientState {
    pub shared: Arc<ClientShared>,
    pub sock: TcpStream,
    pub peer: SocketAddr,
    pub opts: ConnectOpts,
    subs: HashMap<Box<[u8]>, SubRef>,
    sweep_at: usize,
    server_opts: Arc<Options>,
    /// The write in progress: bytes taken from the outbound buffer, written up to `woff`.
    writing: Vec<u8>,
    woff: usize,
    pub write_interest: bool,
    pub pings_out: u32,
    /// When the server's last PING went out, to measure the round trip on PONG.
    pub ping_sent: Option<Instant>,
    pub last_in: Instant,
    pub created: Instant,
    /// When the socket last refused bytes with output pending (write-deadline clock).
    pub stalled_since: Option<Instant>,
    /// Set when the connection must close once its pending output is flushed.
    pub close: Option<CloseReason>,
    in_msgs: u64,
    in_bytes: u64,
    /// A message, SUB, UNSUB or CONNECT arrived in this read buffer: what nats-server counts
    /// as activity (PING and PONG are not).
    active: bool,
    /// The nonce sent in INFO, for nkey signatures.
    pub nonce: Option<String>,
    /// CONNECT passed authentication (always true when none is required).
    pub authed: bool,
    /// The authenticated user, for log lines.
    user: String,
    /// How the user authenticated.
    auth_method: AuthMethod,
    /// Publish permission answers by subject (bounded).
    pub_cache: HashMap<Box<[u8]>, bool>,
    /// This worker's copy of `shared`'s permissions (set together), so a publish checks them
    /// without taking the shared lock.
    perms: Option<Arc<super::auth::Perms>>,
    /// The TLS session, once the plaintext INFO has gone out.
    pub tls: Option<Box<rustls::Connection>>,
    /// The credentials of the last CONNECT, to check the client again after a reload.
    creds: Option<OwnedCredentials>,
    /// The account the client belongs to (its subject space).
    pub account: Arc<Account>,
}

#[derive(Clone, Default)]
struct OwnedCredentials {
    user: Option<String>,
    pass: Option<String>,
    token: Option<String>,
    nkey: Option<String>,
    sig: Option<String>,
}

impl OwnedCredentials {
    fn borrow(&self) -> Credentials<'_> {
        Credentials {
            user: self.user.as_deref(),
            pass: self.pass.as_deref(),
            token: self.token.as_deref(),
            nkey: self.nkey.as_deref(),
            sig: self.sig.as_deref(),
        }
    }
}

impl Conn {
    pub fn new(
        sock: TcpStream,
        peer: SocketAddr,
        shared: Arc<ClientShared>,
        server_opts: Arc<Options>,
        nonce: Option<String>,
        authed: bool,
        account: Arc<Account>,
    ) -> Conn {
        let limits = Limits {
            max_control_line: server_opts.max_control_line,
            max_payload: server_opts.max_payload,
            headers: false,
            expect_connect: !authed,
        };
        let now = Instant::now();
        Conn {
            parser: Parser::new(limits),
            rbuf: vec![0; READ_BUF_MIN],
            small_reads: 0,
            st: ClientState {
                shared,
                sock,
                peer,
                opts: ConnectOpts::default(),
                subs: HashMap::new(),
                sweep_at: 64,
                server_opts,
                writing: Vec::new(),
                woff: 0,
                write_interest: false,
                pings_out: 0,
                ping_sent: None,
                last_in: now,
                created: now,
                stalled_since: None,
                close: None,
                in_msgs: 0,
                in_bytes: 0,
                active: false,
                nonce,
                authed,
                user: String::new(),
                auth_method: AuthMethod::None,
                pub_cache: HashMap::new(),
                perms: None,
                tls: None,
                creds: None,
                account,
            },
            route: None,
        }
    }

    /// Read and process until the socket is drained, the turn is over, or the connection must
    /// close. Staged output is committed by the caller.
    pub fn on_readable(&mut self, router: &mut Router) -> ReadState {
        for _ in 0..READS_PER_TURN {
            let n = match self.st.read_some(&mut self.rbuf) {
                Ok(0) => return ReadState::Close(CloseReason::ClientClosed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadState::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return ReadState::Close(CloseReason::ClientClosed)
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData && self.st.tls.is_some() => {
                    crate::error!(
                        "{} - cid:{} - TLS handshake error: {}",
                        self.st.peer,
                        self.st.cid(),
                        e
                    );
                    return ReadState::Close(CloseReason::TlsHandshakeError);
                }
                Err(_) => return ReadState::Close(CloseReason::ReadError),
            };
            self.st.last_in = Instant::now();
            self.process(n, router);
            if let Some(r) = self.st.close {
                return ReadState::Close(r);
            }
            // Hand this read's output over now: staging stays one read buffer's worth (reused
            // buffers, never grown across a whole turn), receivers start writing sooner, and a
            // congested receiver stops this producer after one buffer, not a turn's worth.
            router.commit();
            if router.congested.is_some() {
                return ReadState::More;
            }
            self.resize_read_buffer(n);
        }
        ReadState::More
    }

    /// Grow the read buffer when reads fill it, shrink it when they stay small.
    fn resize_read_buffer(&mut self, n: usize) {
        let cap = self.rbuf.len();
        if n == cap && cap < READ_BUF_MAX {
            self.rbuf.resize(cap * 2, 0);
            self.small_reads = 0;
        } else if n < cap / 2 && cap > READ_BUF_MIN {
            self.small_reads += 1;
            if self.small_reads > 2 {
                self.rbuf.truncate(cap / 2);
                self.rbuf.shrink_to_fit();
                self.small_reads = 0;
            }
        } else {
            self.small_reads = 0;
        }
    }

    /// The read buffer, the shared state and the route state, borrowed apart.
    pub(super) fn route_parts(
        &mut self,
    ) -> (
        &[u8],
        &mut ClientState,
        Option<&mut super::route::RouteState>,
    ) {
        (&self.rbuf, &mut self.st, self.route.as_deref_mut())
    }

    /// Parse and handle the `n` bytes just read.
    fn process(&mut self, n: usize, router: &mut Router) {
        if self.route.is_some() {
            return self.process_route(n, router);
        }
        let Conn {
            parser, rbuf, st, ..
        } = self;
        let buf = &rbuf[..n];
        let mut pos = 0;
        loop {
            match parser.next_op(buf, &mut pos) {
                Ok(Some(op)) => st.handle(op, router),
                Ok(None) => break,
                Err(e) => {
                    st.parse_error(e, buf, pos, router);
                    break;
                }
            }
            if st.close.is_some() {
                break;
            }
            parser.limits.headers = st.opts.headers;
            parser.limits.expect_connect = !st.authed;
        }
        st.flush_counters(router);
    }

    /// The configuration was reloaded: take the new limits, and check the client against the
    /// authorization in force (a client that no longer passes is marked for closing).
    pub fn reload(&mut self, router: &mut Router) {
        let opts = router.server.opts();
        self.parser.limits.max_payload = opts.max_payload;
        self.parser.limits.max_control_line = opts.max_control_line;
        self.st.server_opts = opts;
        let auth = router.server.auth();
        if !auth.required {
            self.st.authed = true;
            self.st.set_perms(None);
        } else if self.st.creds.is_some() {
            self.st.authenticate(router);
        } else if let Some(g) = auth.guest() {
            self.st.assume(g, router);
        } else {
            self.st.auth_violation(router);
        }
        self.parser.limits.expect_connect = !self.st.authed;
    }
}

impl ClientState {
    pub fn cid(&self) -> u64 {
        self.shared.cid
    }

    fn stage(&self, router: &mut Router, bytes: &[u8]) {
        router.stage(&self.shared).extend_from_slice(bytes);
    }

    fn send_ok(&self, router: &mut Router) {
        if self.opts.verbose {
            crate::trace!("{} - cid:{} - ->> [OK]", self.peer, self.cid());
            self.stage(router, b"+OK\r\n");
        }
    }

    /// Send `-ERR '<text>'`.
    pub fn send_err(&self, router: &mut Router, text: &str) {
        crate::trace!("{} - cid:{} - ->> [-ERR {}]", self.peer, self.cid(), text);
        let b = router.stage(&self.shared);
        b.extend_from_slice(b"-ERR '");
        b.extend_from_slice(text.as_bytes());
        b.extend_from_slice(b"'\r\n");
    }

    fn flush_counters(&mut self, router: &mut Router) {
        if self.active {
            self.active = false;
            self.shared
                .last_activity
                .store(unix_nanos(SystemTime::now()), Ordering::Relaxed);
        }
        if self.in_msgs > 0 {
            self.shared.stats.add_in(self.in_msgs, self.in_bytes);
            router
                .server
                .stats
                .of(router.worker)
                .add_in(self.in_msgs, self.in_bytes);
            self.in_msgs = 0;
            self.in_bytes = 0;
        }
    }

    fn parse_error(&mut self, e: ParseError, buf: &[u8], pos: usize, router: &mut Router) {
        if let Some(text) = e.client_text() {
            self.send_err(router, text);
        }
        let reason = match e {
            ParseError::UnknownOp => {
                let snip = &buf[pos.min(buf.len())..buf.len().min(pos + 32)];
                crate::error!(
                    "{} - cid:{} - Client parser ERROR, i={}: proto='{:?}...'",
                    self.peer,
                    self.cid(),
                    pos,
                    String::from_utf8_lossy(snip)
                );
                CloseReason::ProtocolViolation
            }
            ParseError::MaxControlLine => CloseReason::MaxControlLineExceeded,
            ParseError::MaxPayload => CloseReason::MaxPayloadExceeded,
            ParseError::AuthorizationViolation => CloseReason::AuthenticationViolation,
            ParseError::HeadersNotSupported | ParseError::BadArgs(_) => {
                crate::error!("{} - cid:{} - {}", self.peer, self.cid(), e);
                CloseReason::ProtocolViolation
            }
        };
        self.close = Some(reason);
    }

    fn handle(&mut self, op: Op<'_>, router: &mut Router) {
        if !self.authed && !matches!(op, Op::Connect(_)) {
            // With authentication on, CONNECT must come first.
            self.auth_violation(router);
            return;
        }
        match op {
            Op::Ping => {
                crate::trace!("{} - cid:{} - <<- [PING]", self.peer, self.cid());
                crate::trace!("{} - cid:{} - ->> [PONG]", self.peer, self.cid());
                self.stage(router, b"PONG\r\n");
            }
            Op::Pong => {
                crate::trace!("{} - cid:{} - <<- [PONG]", self.peer, self.cid());
                self.pings_out = 0;
                if let Some(sent) = self.ping_sent.take() {
                    self.shared.set_rtt(sent.elapsed());
                }
            }
            Op::Pub(msg) => self.process_pub(&msg, router),
            Op::Sub {
                subject,
                queue,
                sid,
            } => self.process_sub(subject, queue, sid, router),
            Op::Unsub { sid, max } => self.process_unsub(sid, max, router),
            Op::Connect(arg) => self.process_connect(arg, router),
            Op::Info(arg) => {
                crate::trace!(
                    "{} - cid:{} - <<- [INFO {}]",
                    self.peer,
                    self.cid(),
                    String::from_utf8_lossy(arg)
                );
                // Ignored from a client, but it must still be a JSON object, as for nats-server.
                if let Err(e) =
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(arg)
                {
                    crate::error!("{} - cid:{} - {}", self.peer, self.cid(), e);
                    self.close = Some(CloseReason::ProtocolViolation);
                }
            }
            Op::Ok => {}
            Op::Err(arg) => {
                crate::error!(
                    "{} - cid:{} - Client Error {}",
                    self.peer,
                    self.cid(),
                    String::from_utf8_lossy(arg)
                );
                self.close = Some(CloseReason::ParseError);
            }
        }
    }

    fn process_connect(&mut self, arg: &[u8], router: &mut Router) {
        self.active = true;
        crate::trace!(
            "{} - cid:{} - <<- [CONNECT {}]",
            self.peer,
            self.cid(),
            String::from_utf8_lossy(arg)
        );
        let c: ConnectJson = match serde_json::from_slice(arg) {
            Ok(c) => c,
            Err(e) => {
                crate::error!("{} - cid:{} - {}", self.peer, self.cid(), e);
                self.close = Some(CloseReason::ProtocolViolation);
                return;
            }
        };
        let o = &mut self.opts;
        o.verbose = c.verbose.unwrap_or(o.verbose);
        o.pedantic = c.pedantic.unwrap_or(o.pedantic);
        o.echo = c.echo.unwrap_or(o.echo);
        o.headers = c.headers.unwrap_or(o.headers);
        o.no_responders = c.no_responders.unwrap_or(o.no_responders);
        o.protocol = c.protocol.unwrap_or(o.protocol);
        if let Some(v) = c.name {
            o.name = v;
        }
        if let Some(v) = c.lang {
            o.lang = v;
        }
        if let Some(v) = c.version {
            o.version = v;
        }
        // Every CONNECT authenticates (again), as with nats-server: a second one may log in as
        // someone else, or fail.
        self.creds = Some(OwnedCredentials {
            user: c.user,
            pass: c.pass,
            token: c.auth_token,
            nkey: c.nkey,
            sig: c.sig,
        });
        if router.server.auth().required && !self.authenticate(router) {
            return;
        }
        let o = &mut self.opts;
        if !(0..=1).contains(&o.protocol) {
            self.send_err(router, "invalid client protocol");
            self.close = Some(CloseReason::BadClientProtocolVersion);
            return;
        }
        if o.no_responders && !o.headers {
            self.send_err(router, "no responders requires headers support");
            self.close = Some(CloseReason::ProtocolViolation);
            return;
        }
        self.shared
            .headers
            .store(self.opts.headers, Ordering::Relaxed);
        self.note_connect();
        self.send_ok(router);
    }

    /// Record what monitoring shows after CONNECT: the client's name, language and version,
    /// who it is, its TLS session, and a first round-trip estimate (the time from accept to
    /// CONNECT, as nats-server does).
    fn note_connect(&mut self) {
        let (tls_version, tls_cipher) = match &self.tls {
            Some(t) => tls_names(t),
            None => (String::new(), String::new()),
        };
        let peer_certs = self
            .tls
            .as_ref()
            .and_then(|t| t.peer_certificates())
            .map(|certs| certs.iter().map(|c| peer_cert(c)).collect())
            .unwrap_or_default();
        {
            let mut m = self.shared.meta.lock().unwrap_or_else(|e| e.into_inner());
            m.name.clone_from(&self.opts.name);
            m.lang.clone_from(&self.opts.lang);
            m.version.clone_from(&self.opts.version);
            m.user.clone_from(&self.user);
            m.token = self.auth_method == AuthMethod::Token;
            m.nkey = self.auth_method == AuthMethod::Nkey;
            m.account.clone_from(&self.account.name);
            m.tls_version = tls_version;
            m.tls_cipher = tls_cipher;
            m.peer_certs = peer_certs;
        }
        if self.shared.rtt.load(Ordering::Relaxed) == 0 {
            let rtt = SystemTime::now()
                .duration_since(self.shared.start)
                .unwrap_or_default();
            self.shared.set_rtt(rtt);
        }
    }

    /// The connection as it is at close, for `/connz?state=closed`.
    pub fn closed_record(&self, reason: CloseReason) -> Closed {
        let mut subs: Vec<SubSnapshot> = self
            .subs
            .values()
            .filter(|s| !s.is_closed())
            .map(|s| s.snapshot())
            .collect();
        subs.sort_by(|a, b| a.sid.cmp(&b.sid));
        Closed {
            conn: self.shared.snapshot(),
            stop: SystemTime::now(),
            reason: reason.as_str(),
            subs,
        }
    }

    fn process_pub(&mut self, msg: &Msg<'_>, router: &mut Router) {
        if crate::server::log::trace_enabled() {
            self.trace_pub(msg);
        }
        if !self.may_publish(msg.subject) {
            crate::error!(
                "{} - cid:{} - Publish Violation - User {:?}, Subject {:?}",
                self.peer,
                self.cid(),
                self.user,
                String::from_utf8_lossy(msg.subject)
            );
            let text = format!(
                "Permissions Violation for Publish to {:?}",
                String::from_utf8_lossy(msg.subject)
            );
            self.send_err(router, &text);
            return;
        }
        if self.opts.pedantic && !subject::is_valid_literal_subject(msg.subject) {
            self.send_err(router, "Invalid Publish Subject");
        }
        self.in_msgs += 1;
        self.active = true;
        self.in_bytes += msg.data.len() as u64;
        self.send_ok(router);
        let delivered = router.route(&self.account, &self.shared, self.opts.echo, msg);
        if delivered == 0 && self.opts.no_responders {
            if let Some(reply) = msg.reply {
                router.no_responders(&self.account, &self.shared, reply);
            }
        }
    }

    /// Publish permissions, cached per subject; a reply to a received request may pass where
    /// the permissions alone would not (`allow_responses`).
    fn may_publish(&mut self, subject: &[u8]) -> bool {
        let Some(perms) = &self.perms else {
            return true;
        };
        let allowed = match self.pub_cache.get(subject) {
            Some(&a) => a,
            None => {
                let a = perms.can_publish(subject);
                if self.pub_cache.len() >= 1024 {
                    self.pub_cache.clear();
                }
                self.pub_cache.insert(subject.into(), a);
                a
            }
        };
        if allowed {
            return true;
        }
        match &perms.response {
            Some(rp) => self
                .shared
                .replies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(subject, rp),
            None => false,
        }
    }

    /// Check the stored credentials against the authorization in force; on failure send the
    /// violation and mark the connection for closing.
    fn authenticate(&mut self, router: &mut Router) -> bool {
        let creds = self.creds.clone().unwrap_or_default();
        let auth = router.server.auth();
        let map_cert = self
            .server_opts
            .tls
            .as_ref()
            .is_some_and(|t| t.verify_and_map);
        let result = if map_cert {
            // The user comes from the verified client certificate, not from CONNECT.
            let der = self
                .tls
                .as_ref()
                .and_then(|t| t.peer_certificates()?.first().cloned());
            match der.map(|d| x509::parse_identity(&d)) {
                Some(Ok(cert)) => auth.authenticate_cert(&cert),
                Some(Err(e)) => Err(format!("unreadable client certificate: {e:?}")),
                None => Err("no client certificate".into()),
            }
        } else {
            auth.authenticate(&creds.borrow(), self.nonce.as_deref().map(str::as_bytes))
        };
        match result {
            Ok(id) => {
                self.authed = true;
                self.assume(id, router);
                true
            }
            Err(name) => {
                crate::error!(
                    "{} - cid:{} - authentication error - User {:?}",
                    self.peer,
                    self.cid(),
                    name
                );
                self.auth_violation(router);
                false
            }
        }
    }

    /// Take on an identity: its name, permissions and account. Subscriptions made in another
    /// account (a CONNECT that logs in as a user of another account) are dropped.
    pub fn assume(&mut self, id: Identity, router: &Router) {
        self.user = id.name;
        self.auth_method = id.method;
        self.set_perms(id.perms);
        self.pub_cache.clear();
        let account = router
            .server
            .accounts
            .get(id.account.as_deref())
            .unwrap_or_else(|| router.server.accounts.global());
        if !Arc::ptr_eq(&account, &self.account) {
            self.remove_all_subs(&router.server);
            self.account = account;
        }
    }

    fn set_perms(&mut self, perms: Option<Arc<super::auth::Perms>>) {
        self.perms = perms.clone();
        self.shared.set_perms(perms);
    }

    fn auth_violation(&mut self, router: &mut Router) {
        self.send_err(router, "Authorization Violation");
        self.close = Some(CloseReason::AuthenticationViolation);
    }

    /// The authentication timer fired: close unless CONNECT has authenticated by now.
    pub fn auth_timeout(&mut self, router: &mut Router) -> bool {
        if self.authed {
            return false;
        }
        crate::error!(
            "{} - cid:{} - Authentication Timeout",
            self.peer,
            self.cid()
        );
        self.send_err(router, "Authentication Timeout");
        self.close = Some(CloseReason::AuthenticationTimeout);
        true
    }

    fn trace_pub(&self, msg: &Msg<'_>) {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let reply = msg.reply.map(|r| format!("{} ", s(r))).unwrap_or_default();
        let line = if msg.header_len > 0 {
            format!(
                "HPUB {} {}{} {}",
                s(msg.subject),
                reply,
                msg.header_len,
                msg.data.len()
            )
        } else {
            format!("PUB {} {}{}", s(msg.subject), reply, msg.data.len())
        };
        crate::trace!("{} - cid:{} - <<- [{}]", self.peer, self.cid(), line);
        let max = self.server_opts.max_traced_msg_len;
        let shown = &msg.data[..msg.data.len().min(max)];
        let more = if msg.data.len() > max { "..." } else { "" };
        crate::trace!(
            "{} - cid:{} - <<- MSG_PAYLOAD: [{:?}{}]",
            self.peer,
            self.cid(),
            s(shown),
            more
        );
    }

    fn process_sub(&mut self, subj: &[u8], queue: Option<&[u8]>, sid: &[u8], router: &mut Router) {
        self.active = true;
        if crate::server::log::trace_enabled() {
            let q = queue
                .map(|q| format!("{} ", String::from_utf8_lossy(q)))
                .unwrap_or_default();
            crate::trace!(
                "{} - cid:{} - <<- [SUB {} {}{}]",
                self.peer,
                self.cid(),
                String::from_utf8_lossy(subj),
                q,
                String::from_utf8_lossy(sid)
            );
        }
        if let Some(existing) = self.subs.get(sid) {
            if !existing.is_closed() {
                // Same sid again: nats-server keeps the first subscription.
                self.send_ok(router);
                return;
            }
        }
        if !subject::is_valid_subject(subj) || queue.is_some_and(|q| !is_valid_queue(q)) {
            self.send_err(router, "Invalid Subject");
            return;
        }
        if let Some(perms) = &self.perms {
            if !perms.can_subscribe(subj, queue) {
                crate::error!(
                    "{} - cid:{} - Subscription Violation - User {:?}, Subject {:?}, SID {}",
                    self.peer,
                    self.cid(),
                    self.user,
                    String::from_utf8_lossy(subj),
                    String::from_utf8_lossy(sid)
                );
                let mut text = format!(
                    "Permissions Violation for Subscription to {:?}",
                    String::from_utf8_lossy(subj)
                );
                if let Some(q) = queue {
                    text.push_str(&format!(" using queue {:?}", String::from_utf8_lossy(q)));
                }
                self.send_err(router, &text);
                return;
            }
            if perms.wildcard_needs_deny_filter(subj) {
                self.shared.deny_filter.store(true, Ordering::Release);
            }
        }
        let sub = SubRef(Arc::new(Subscription {
            client: self.shared.clone(),
            account: self.account.clone(),
            subject: subj.into(),
            queue: queue.map(Into::into),
            sid: sid.into(),
            max: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            weight: std::sync::atomic::AtomicU32::new(1),
        }));
        let inserted = {
            let mut sl = self
                .account
                .sublist
                .write()
                .unwrap_or_else(|e| e.into_inner());
            sl.insert(subj, queue, sub.clone()).is_ok()
        };
        if !inserted {
            self.send_err(router, "Invalid Subject");
            return;
        }
        self.subs.insert(sid.into(), sub);
        self.shared.num_subs.fetch_add(1, Ordering::Relaxed);
        super::route::local_interest(&router.server, &self.account, subj, queue, 1);
        if self.subs.len() > self.sweep_at {
            // Auto-unsubscribed entries linger until here; drop them in one pass.
            self.subs.retain(|_, s| !s.is_closed());
            self.sweep_at = (self.subs.len() * 2).max(64);
        }
        self.send_ok(router);
    }

    fn process_unsub(&mut self, sid: &[u8], max: Option<usize>, router: &mut Router) {
        self.active = true;
        if crate::server::log::trace_enabled() {
            let m = max.map(|m| format!(" {m}")).unwrap_or_default();
            crate::trace!(
                "{} - cid:{} - <<- [UNSUB {}{}]",
                self.peer,
                self.cid(),
                String::from_utf8_lossy(sid),
                m
            );
        }
        if let Some(sub) = self.subs.get(sid) {
            let keep = match max {
                Some(m) if m > 0 && (m as u64) > sub.delivered.load(Ordering::Acquire) => {
                    sub.max.store(m as u64, Ordering::Release);
                    true
                }
                Some(_) => false,
                None => false,
            };
            if !keep {
                if let Some(sub) = self.subs.remove(sid) {
                    remove_sub(&router.server, &sub);
                }
            }
        }
        self.send_ok(router);
    }

    /// Remove every subscription (on close).
    pub fn remove_all_subs(&mut self, server: &super::Server) {
        let mut subs: Vec<SubRef> = self.subs.drain().map(|(_, s)| s).collect();
        let mut closed = Vec::new();
        // Usually all in one account: one lock per account.
        while let Some(first) = subs.first() {
            let account = first.account.clone();
            let (mine, rest): (Vec<SubRef>, Vec<SubRef>) = subs
                .into_iter()
                .partition(|s| Arc::ptr_eq(&s.account, &account));
            let mut sl = account.sublist.write().unwrap_or_else(|e| e.into_inner());
            for sub in &mine {
                if sub.close() {
                    sl.remove(&sub.subject, sub.queue.as_deref(), sub);
                    closed.push(sub.clone());
                }
            }
            drop(sl);
            subs = rest;
        }
        for sub in &closed {
            super::route::unsubscribed(server, sub);
        }
    }

    /// Read plaintext: from the socket, or through the TLS session once there is one.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.tls.as_mut() {
            Some(tls) => super::tls::read_plaintext(tls, &mut self.sock, buf),
            None => self.sock.read(buf),
        }
    }

    /// The TLS session has bytes of its own to send (handshake messages, alerts).
    pub fn tls_wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Still in the TLS handshake.
    pub fn tls_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// Take the next chunk of pending output into `writing`; false when there is none.
    fn refill(&mut self) -> bool {
        if self.woff < self.writing.len() {
            return true;
        }
        self.writing.clear();
        self.woff = 0;
        let mut out = self.shared.out.lock().unwrap_or_else(|e| e.into_inner());
        out.take(&mut self.writing)
    }

    fn wrote(&mut self, n: usize) {
        self.woff += n;
        self.shared.pending.fetch_sub(n, Ordering::AcqRel);
    }

    fn stalled(&mut self) -> io::Result<bool> {
        if self.stalled_since.is_none() {
            self.stalled_since = Some(Instant::now());
        }
        Ok(false)
    }

    /// Write what is pending. Returns Ok(true) when everything was written, Ok(false) when the
    /// socket is full (the caller registers write interest).
    pub fn flush(&mut self) -> io::Result<bool> {
        if self.tls.is_some() {
            return self.flush_tls();
        }
        while self.refill() {
            match self.sock.write(&self.writing[self.woff..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0")),
                Ok(n) => {
                    self.wrote(n);
                    self.stalled_since = None;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.stalled(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.writing.capacity() > WRITE_BUF_KEEP {
            self.writing = Vec::new();
        }
        Ok(true)
    }

    /// Give back a large write buffer once the connection has gone quiet (called from the
    /// ping timer; while busy the buffer is kept, so a stream does not reallocate it per write).
    pub fn trim_buffers(&mut self) {
        if self.woff >= self.writing.len() && self.writing.capacity() > READ_BUF_MAX {
            self.writing = Vec::new();
            self.woff = 0;
        }
        self.shared
            .out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trim();
    }

    /// Through TLS: plaintext into the session (which holds a bounded amount), records out to
    /// the socket, until both are empty or the socket is full.
    fn flush_tls(&mut self) -> io::Result<bool> {
        loop {
            let more = self.refill();
            if more {
                let tls = self.tls.as_mut().expect("TLS session");
                let n = tls.writer().write(&self.writing[self.woff..])?;
                self.wrote(n);
            }
            let tls = self.tls.as_mut().expect("TLS session");
            if !tls.wants_write() {
                if more {
                    continue;
                }
                return Ok(true);
            }
            while tls.wants_write() {
                match tls.write_tls(&mut self.sock) {
                    Ok(0) => {
                        return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0"))
                    }
                    Ok(_) => self.stalled_since = None,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.stalled(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// A client certificate as `/connz` describes it: subject and SHA-256 of its public key and of
/// the whole certificate, in hex.
fn peer_cert(der: &[u8]) -> PeerCert {
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let sha = |d: &[u8]| hex(ring::digest::digest(&ring::digest::SHA256, d).as_ref());
    let (subject, spki) = match x509::parse_identity(der) {
        Ok(id) => (id.subject, sha(&id.spki)),
        Err(_) => (String::new(), String::new()),
    };
    PeerCert {
        subject,
        spki_sha256: spki,
        cert_sha256: sha(der),
    }
}

/// TLS version and cipher suite in Go's names ("1.3", "TLS_AES_128_GCM_SHA256").
fn tls_names(t: &rustls::Connection) -> (String, String) {
    let version = match t.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
        _ => "",
    };
    let cipher = t
        .negotiated_cipher_suite()
        .map(|s| {
            let name = format!("{:?}", s.suite());
            match name.strip_prefix("TLS13_") {
                Some(rest) => format!("TLS_{rest}"),
                None => name,
            }
        })
        .unwrap_or_default();
    (version.to_string(), cipher)
}

/// Take `sub` out of its account's sublist (once).
pub fn remove_sub(server: &super::Server, sub: &SubRef) {
    if sub.close() {
        super::route::unsubscribed(server, sub);
        let mut sl = sub
            .account
            .sublist
            .write()
            .unwrap_or_else(|e| e.into_inner());
        sl.remove(&sub.subject, sub.queue.as_deref(), sub);
    }
}

/// Queue names follow subject rules for whitespace but must not be empty.
fn is_valid_queue(q: &[u8]) -> bool {
    !q.is_empty()
        && !q
            .iter()
            .any(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c))
}
