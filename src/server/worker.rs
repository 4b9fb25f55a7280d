//! One reactor thread: a `mio::Poll`, the connections it owns (a slab indexed by token), a timer
//! heap polled through the poll timeout, and an inbox other threads fill (new sockets, flush
//! requests) before waking it with its `Waker`. Output is flushed once per client per loop turn,
//! just before the thread goes back to sleep.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::client::{CloseReason, Conn, ReadState};
use super::delivery::Router;
use super::shared::ClientShared;
use super::Server;

pub const WAKE_TOKEN: Token = Token(usize::MAX);

/// How often stalled producers look whether their destination has drained.
const STALL_CHECK: Duration = Duration::from_millis(1);
/// The longest a producer waits for a client (routes are waited for as long as they live):
/// after that the client is cut as a slow consumer if it still falls behind.
const STALL_MAX: Duration = Duration::from_secs(1);

/// A producer (connection slot) waiting for a destination to drain.
struct Stall {
    slot: usize,
    dest: Arc<ClientShared>,
    since: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum TimerKind {
    Ping,
    WriteDeadline,
    AuthTimeout,
    TlsTimeout,
}

/// (deadline, slot, cid, kind); stale entries (closed or replaced clients) are skipped.
type Timer = Reverse<(Instant, usize, u64, TimerKind)>;

/// A fresh nonce for nkey authentication: 11 random bytes, URL-safe base64 (as nats-server).
fn new_nonce() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 11];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    crate::proto::nkey::base64_url_encode(&b)
}

pub struct Worker {
    idx: usize,
    poll: Poll,
    server: Arc<Server>,
    router: Router,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    timers: BinaryHeap<Timer>,
    /// Connections to flush before sleeping.
    dirty: Vec<usize>,
    /// Connections that still had input when their turn ended.
    again: Vec<usize>,
    /// Connections not read while a destination they fed is backed up (back-pressure).
    stalled: Vec<Stall>,
}

/// Bytes waiting for a destination beyond which its producers pause.
pub fn high_water(dest: &ClientShared, max_pending: usize) -> usize {
    if dest.is_route {
        super::route::ROUTE_HIGH_WATER
    } else {
        (max_pending / 4).max(64 * 1024)
    }
}

impl Worker {
    pub fn new(idx: usize, poll: Poll, server: Arc<Server>) -> Worker {
        let router = Router::new(server.clone(), idx);
        Worker {
            idx,
            poll,
            server,
            router,
            conns: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            again: Vec::new(),
            stalled: Vec::new(),
        }
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(512);
        loop {
            let timeout = if !self.again.is_empty() {
                Some(Duration::ZERO)
            } else if !self.stalled.is_empty() {
                // Waiting for a route to drain: look again soon.
                Some(
                    self.next_timeout()
                        .map_or(STALL_CHECK, |t| t.min(STALL_CHECK)),
                )
            } else {
                self.next_timeout()
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    crate::error!("worker {}: poll failed: {}", self.idx, e);
                    return;
                }
            }
            for ev in events.iter() {
                if ev.token() == WAKE_TOKEN {
                    continue;
                }
                let slot = ev.token().0;
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.read(slot);
                }
                if ev.is_writable() {
                    self.mark_dirty(slot);
                }
            }
            // Inbox after events, so a wake-up that raced with them is never lost.
            if self.drain_inbox() {
                self.shutdown();
                return;
            }
            if !self.stalled.is_empty() {
                self.release_stalled();
            }
            for slot in std::mem::take(&mut self.again) {
                self.read(slot);
            }
            self.run_timers();
            self.flush_dirty();
            self.router
                .publish_cache_stats(&self.server.workers[self.idx].cache);
        }
    }

    fn mark_dirty(&mut self, slot: usize) {
        self.dirty.push(slot);
    }

    /// Producers whose destination has drained to half its high-water mark (or closed, or a
    /// client that kept them waiting too long) are read again.
    fn release_stalled(&mut self) {
        let max_pending = self.router.max_pending;
        let mut i = 0;
        while i < self.stalled.len() {
            let st = &self.stalled[i];
            let d = &st.dest;
            let drained = d.pending.load(Ordering::Acquire) <= high_water(d, max_pending) / 2;
            let gone = d.out.lock().map(|o| o.closed).unwrap_or(true);
            if drained || gone || (!d.is_route && st.since.elapsed() > STALL_MAX) {
                let st = self.stalled.swap_remove(i);
                self.again.push(st.slot);
            } else {
                i += 1;
            }
        }
    }

    fn read(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(|c| c.as_mut()) else {
            return;
        };
        if self.stalled.iter().any(|s| s.slot == slot) {
            return;
        }
        let state = conn.on_readable(&mut self.router);
        if conn.st.tls_wants_write() {
            self.dirty.push(slot);
        }
        self.router.commit();
        self.dirty.append(&mut self.router.local_flush);
        // Back-pressure: a destination this read filled past its high-water mark makes this
        // producer wait (it is read again once that drains), instead of growing the backlog
        // until the destination must be cut.
        let congested = self.router.congested.take();
        match state {
            ReadState::Close(reason) => self.close(slot, reason),
            _ if congested.is_some() => {
                if let Some(dest) = congested {
                    self.stalled.push(Stall {
                        slot,
                        dest,
                        since: Instant::now(),
                    });
                }
            }
            ReadState::Drained => {}
            ReadState::More => self.again.push(slot),
        }
    }

    /// Take new connections and flush requests; true when the server is shutting down.
    fn drain_inbox(&mut self) -> bool {
        let (conns, flush, reload, ldm_info, close, routes, info) = {
            let mut inbox = self.server.workers[self.idx]
                .inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            (
                std::mem::take(&mut inbox.conns),
                std::mem::take(&mut inbox.flush),
                std::mem::take(&mut inbox.reload),
                std::mem::take(&mut inbox.ldm_info),
                std::mem::take(&mut inbox.close),
                std::mem::take(&mut inbox.routes),
                std::mem::take(&mut inbox.info),
            )
        };
        for (sock, peer, solicited) in routes {
            self.accept_route(sock, peer, solicited);
        }
        if info {
            self.announce_info();
        }
        for (sock, peer) in conns {
            self.accept(sock, peer);
        }
        for slot in flush {
            if let Some(Some(c)) = self.conns.get(slot) {
                c.st.shared.flush_queued.store(false, Ordering::Release);
            }
            self.dirty.push(slot);
        }
        if reload {
            self.reload();
            let (lock, cvar) = &self.server.reloaded;
            *lock.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            cvar.notify_all();
        }
        if ldm_info {
            self.announce_lame_duck();
        }
        for (slot, cid) in close {
            if self
                .conns
                .get(slot)
                .and_then(|c| c.as_ref())
                .is_some_and(|c| c.st.cid() == cid)
            {
                self.close(slot, CloseReason::ServerShutdown);
            }
        }
        self.server.shutting_down.load(Ordering::Acquire)
    }

    /// New options are in force: refresh every connection, and check each client against the
    /// (possibly new) authorization, closing those it no longer admits.
    fn reload(&mut self) {
        self.router.max_pending = self.server.opts().max_pending;
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_mut() else {
                continue;
            };
            conn.reload(&mut self.router);
            if conn.st.close.is_some() {
                self.router.commit();
                self.router.local_flush.clear();
                let reason = conn
                    .st
                    .close
                    .unwrap_or(CloseReason::AuthenticationViolation);
                self.close(slot, reason);
            }
        }
    }

    /// The cluster changed: a fresh INFO (with `connect_urls`) to every client that speaks
    /// protocol 1 and has sent CONNECT, as nats-server does.
    fn announce_info(&mut self) {
        self.resend_info(true);
    }

    /// A fresh INFO to the clients (not routes); with `async_only`, only to those that said
    /// (protocol 1) they take INFO at any time.
    fn resend_info(&mut self, async_only: bool) {
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_ref() else {
                continue;
            };
            if conn.route.is_some() || (async_only && conn.st.opts.protocol < 1) {
                continue;
            }
            let ip = conn.st.peer.ip().to_string();
            let info = self
                .server
                .client_info(conn.st.cid(), &ip, conn.st.nonce.as_deref());
            self.router
                .stage(&conn.st.shared)
                .extend_from_slice(info.as_bytes());
        }
        self.router.commit();
        self.dirty.append(&mut self.router.local_flush);
    }

    /// A route connection, accepted or dialled: greet the peer and wait for its INFO.
    fn accept_route(&mut self, mut sock: TcpStream, peer: SocketAddr, solicited: Option<String>) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let cid = self.server.next_cid.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, Token(slot), Interest::READABLE)
        {
            crate::error!("{} - rid:{} - register failed: {}", peer, cid, e);
            self.free.push(slot);
            return;
        }
        let shared = Arc::new(ClientShared::new_route(cid, peer, self.idx, slot));
        let opts = self.server.opts();
        let mut conn = Conn::new(
            sock,
            peer,
            shared.clone(),
            opts.clone(),
            None,
            solicited.is_some(),
            self.server.accounts.global(),
        );
        conn.route = Some(Box::new(super::route::RouteState::new(
            opts.max_payload,
            solicited.clone(),
        )));
        match super::route::tls_session(&self.server, solicited.as_deref()) {
            Ok(Some(mut tls)) => {
                tls.set_buffer_limit(Some(64 * 1024));
                conn.st.tls = Some(Box::new(tls));
            }
            Ok(None) => {}
            Err(e) => {
                crate::error!("{} - rid:{} - TLS session: {}", peer, cid, e);
                let _ = self.poll.registry().deregister(&mut conn.st.sock);
                self.free.push(slot);
                return;
            }
        }
        crate::debug!(
            "{} - rid:{} - Route connection accepted or dialled",
            peer,
            cid
        );
        let hello = super::route::greeting(&self.server, solicited.as_deref());
        self.router.stage(&shared).extend_from_slice(&hello);
        self.router.commit();
        self.router.local_flush.clear();
        self.conns[slot] = Some(conn);
        self.schedule(slot, cid, TimerKind::Ping, opts.ping_interval);
        if solicited.is_none() {
            self.schedule(slot, cid, TimerKind::AuthTimeout, opts.auth_timeout());
        }
        if let Some(c) = self.server.cluster.as_ref().filter(|c| c.tls.is_some()) {
            self.schedule(slot, cid, TimerKind::TlsTimeout, c.tls_timeout);
        }
        self.dirty.push(slot);
        self.read(slot);
    }

    /// Tell every client the server is in lame-duck mode (INFO with `ldm`).
    fn announce_lame_duck(&mut self) {
        self.resend_info(false);
    }

    fn accept(&mut self, mut sock: TcpStream, peer: SocketAddr) {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let cid = self.server.next_cid.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut sock, Token(slot), Interest::READABLE)
        {
            crate::error!("{} - cid:{} - register failed: {}", peer, cid, e);
            self.free.push(slot);
            self.server.num_clients.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let shared = Arc::new(ClientShared::new(cid, peer, self.idx, slot));
        self.server.register_client(&shared);
        let nonce = self.server.auth().wants_nonce.then(new_nonce);
        let auth = self.server.auth();
        // With no_auth_user, a client is that user until a CONNECT says otherwise.
        let guest = auth.guest();
        let authed = !auth.required || guest.is_some();
        let global = self.server.accounts.global();
        let mut conn = Conn::new(
            sock,
            peer,
            shared.clone(),
            self.server.opts(),
            nonce.clone(),
            authed,
            global,
        );
        if let Some(g) = guest {
            conn.st.assume(g, &self.router);
        }
        crate::debug!("{} - cid:{} - Client connection created", peer, cid);
        let info = self
            .server
            .client_info(cid, &peer.ip().to_string(), nonce.as_deref());
        if let Some(cfg) = self.server.tls() {
            // INFO goes out in the clear; everything after it is TLS.
            if let Err(e) = std::io::Write::write_all(&mut conn.st.sock, info.as_bytes()) {
                crate::debug!("{} - cid:{} - writing INFO: {}", peer, cid, e);
            }
            match rustls::ServerConnection::new(cfg.clone()) {
                Ok(mut tls) => {
                    tls.set_buffer_limit(Some(64 * 1024));
                    conn.st.tls = Some(Box::new(rustls::Connection::Server(tls)));
                }
                Err(e) => crate::error!("{} - cid:{} - TLS session: {}", peer, cid, e),
            }
        } else {
            self.router
                .stage(&shared)
                .extend_from_slice(info.as_bytes());
            self.router.commit();
            self.router.local_flush.clear();
        }
        conn.st.created = Instant::now();
        self.conns[slot] = Some(conn);
        self.schedule(slot, cid, TimerKind::Ping, self.server.opts().ping_interval);
        if self.server.auth().required {
            self.schedule(
                slot,
                cid,
                TimerKind::AuthTimeout,
                self.server.auth().timeout,
            );
        }
        if let Some(t) = &self.server.opts().tls {
            self.schedule(slot, cid, TimerKind::TlsTimeout, t.timeout);
        }
        self.dirty.push(slot);
        // Bytes may already be waiting (a client that sends CONNECT at once).
        self.read(slot);
    }

    fn schedule(&mut self, slot: usize, cid: u64, kind: TimerKind, after: Duration) {
        self.timers
            .push(Reverse((Instant::now() + after, slot, cid, kind)));
    }

    fn next_timeout(&self) -> Option<Duration> {
        self.timers
            .peek()
            .map(|Reverse((at, ..))| at.saturating_duration_since(Instant::now()))
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, slot, cid, kind))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.conns.get_mut(slot).and_then(|c| c.as_mut()) else {
                continue;
            };
            if conn.st.cid() != cid {
                continue;
            }
            match kind {
                TimerKind::Ping => self.ping_timer(slot, cid, now),
                TimerKind::TlsTimeout => {
                    if conn.st.tls_handshaking() {
                        crate::error!("{} - cid:{} - TLS handshake timeout", conn.st.peer, cid);
                        self.close(slot, CloseReason::TlsHandshakeError);
                    }
                }
                TimerKind::AuthTimeout => {
                    if conn.st.auth_timeout(&mut self.router) {
                        self.router.commit();
                        self.router.local_flush.clear();
                        self.close(slot, CloseReason::AuthenticationTimeout);
                    }
                }
                TimerKind::WriteDeadline => {
                    let deadline = self.server.opts().write_deadline;
                    match conn.st.stalled_since {
                        Some(since) if now.duration_since(since) >= deadline => {
                            crate::notice!(
                                "{} - cid:{} - Slow Consumer Detected: WriteDeadline of {:?} exceeded",
                                conn.st.peer,
                                cid,
                                deadline
                            );
                            self.server.slow_consumers.fetch_add(1, Ordering::Relaxed);
                            self.close(slot, CloseReason::SlowConsumerWriteDeadline);
                        }
                        Some(since) => {
                            let left = deadline.saturating_sub(now.duration_since(since));
                            self.schedule(slot, cid, TimerKind::WriteDeadline, left);
                        }
                        None => {}
                    }
                }
            }
        }
    }

    fn ping_timer(&mut self, slot: usize, cid: u64, now: Instant) {
        let interval = self.server.opts().ping_interval;
        let ping_max = self.server.opts().ping_max;
        let Some(conn) = self.conns.get_mut(slot).and_then(|c| c.as_mut()) else {
            return;
        };
        let st = &mut conn.st;
        st.trim_buffers();
        let idle = now.duration_since(st.last_in);
        if idle < interval {
            crate::debug!(
                "{} - cid:{} - Delaying PING due to client activity {:?} ago",
                st.peer,
                cid,
                idle
            );
        } else if st.pings_out + 1 > ping_max {
            crate::debug!(
                "{} - cid:{} - Stale Client Connection - Closing",
                st.peer,
                cid
            );
            st.send_err(&mut self.router, "Stale Connection");
            self.router.commit();
            self.router.local_flush.clear();
            self.close(slot, CloseReason::StaleConnection);
            return;
        } else {
            st.pings_out += 1;
            st.ping_sent = Some(now);
            crate::trace!("{} - cid:{} - ->> [PING]", st.peer, cid);
            self.router.stage(&st.shared).extend_from_slice(b"PING\r\n");
            self.router.commit();
            self.dirty.append(&mut self.router.local_flush);
        }
        self.schedule(slot, cid, TimerKind::Ping, interval);
    }

    /// Write every connection that got output this turn; register write interest where the
    /// socket is full and drop it where it has drained.
    fn flush_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for slot in dirty.drain(..) {
            self.flush(slot);
        }
        self.dirty = dirty;
    }

    fn flush(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(|c| c.as_mut()) else {
            return;
        };
        let st = &mut conn.st;
        if st.shared.slow_consumer.load(Ordering::Acquire) {
            crate::notice!(
                "{} - cid:{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                st.peer,
                st.cid(),
                self.server.opts().max_pending
            );
            self.server.slow_consumers.fetch_add(1, Ordering::Relaxed);
            self.close(slot, CloseReason::SlowConsumerPendingBytes);
            return;
        }
        let was_stalled = st.stalled_since.is_some();
        match st.flush() {
            Ok(done) => {
                if done != !st.write_interest {
                    let interest = if done {
                        Interest::READABLE
                    } else {
                        Interest::READABLE | Interest::WRITABLE
                    };
                    let _ = self
                        .poll
                        .registry()
                        .reregister(&mut st.sock, Token(slot), interest);
                    st.write_interest = !done;
                }
                let cid = st.cid();
                let close = if done { st.close } else { None };
                if !done && !was_stalled {
                    self.schedule(
                        slot,
                        cid,
                        TimerKind::WriteDeadline,
                        self.server.opts().write_deadline,
                    );
                }
                if let Some(reason) = close {
                    self.close(slot, reason);
                }
            }
            Err(_) => self.close(slot, CloseReason::WriteError),
        }
    }

    /// Close a connection: drop its subscriptions, try once to write what it still has (an
    /// `-ERR` line, usually), and free its slot.
    fn close(&mut self, slot: usize, reason: CloseReason) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(|c| c.take()) else {
            return;
        };
        let st = &mut conn.st;
        {
            let mut out = st.shared.out.lock().unwrap_or_else(|e| e.into_inner());
            out.closed = true;
        }
        if reason != CloseReason::SlowConsumerPendingBytes
            && reason != CloseReason::SlowConsumerWriteDeadline
        {
            let _ = st.flush();
        }
        if conn.route.is_some() {
            conn.route_closed(&self.server);
        } else {
            self.server.remember_closed(conn.st.closed_record(reason));
        }
        let st = &mut conn.st;
        st.remove_all_subs(&self.server);
        // Logged before the socket closes, so whoever sees the close finds the line written.
        if conn.route.is_some() {
            crate::notice!(
                "{} - rid:{} - Router connection closed: {}",
                st.peer,
                st.cid(),
                reason.as_str()
            );
        } else {
            crate::debug!(
                "{} - cid:{} - Client connection closed: {}",
                st.peer,
                st.cid(),
                reason.as_str()
            );
        }
        let _ = self.poll.registry().deregister(&mut st.sock);
        let _ = st.sock.shutdown(std::net::Shutdown::Both);
        if conn.route.is_none() {
            self.server.unregister_client(st.cid());
        }
        self.free.push(slot);
    }

    fn shutdown(&mut self) {
        self.flush_dirty();
        for slot in 0..self.conns.len() {
            if self.conns[slot].is_some() {
                self.close(slot, CloseReason::ServerShutdown);
            }
        }
    }
}
