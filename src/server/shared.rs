//! What other workers may reach of a client: its outbound buffer (behind a small lock), its
//! counters (atomics), and its subscriptions as they sit in the sublist. Everything else about a
//! connection belongs to its worker alone (see `client.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use super::auth::{Perms, Replies};

/// Bytes waiting to be written to one client: a queue of chunks, oldest first, the last one
/// open for appending. A producer's batch becomes a chunk of its own when the open one is big
/// already, so pending output never grows one buffer by reallocation (which, with allocators
/// that map large blocks, faults in fresh pages on every step), and the writer's emptied
/// buffer comes back as the next chunk's space.
#[derive(Default)]
pub struct Outbound {
    /// The open chunk (newest bytes).
    buf: Vec<u8>,
    /// Older chunks, oldest first.
    full: std::collections::VecDeque<Vec<u8>>,
    /// Emptied buffers the writer gave back, handed to producers for their next batch, so a
    /// stream circulates the same few buffers instead of allocating (at most `FREE` of them,
    /// each at most `FREE_MAX`; dropped when the connection goes quiet, see `trim`).
    free: Vec<Vec<u8>>,
    /// Set once the connection is closing: producers drop their bytes instead of appending.
    pub closed: bool,
}

/// The open chunk takes appends up to this size; past it a new chunk starts.
const CHUNK: usize = 64 * 1024;
const FREE: usize = 4;
const FREE_MAX: usize = 4 * CHUNK;

impl Outbound {
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.full.is_empty()
    }

    /// Append a copy of `bytes`.
    pub fn append(&mut self, bytes: &[u8]) {
        if self.buf.len() >= CHUNK {
            self.seal();
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Append the whole of `batch`, taking its buffer when it can (a chunk of its own) and
    /// leaving in `batch` an empty buffer to reuse, if there is one.
    pub fn append_batch(&mut self, batch: &mut Vec<u8>) {
        if self.buf.is_empty() {
            std::mem::swap(&mut self.buf, batch);
        } else if self.buf.len() + batch.len() <= CHUNK
            && self.buf.capacity() - self.buf.len() >= batch.len()
        {
            self.buf.extend_from_slice(batch);
            batch.clear();
            return;
        } else {
            self.full
                .push_back(std::mem::replace(&mut self.buf, std::mem::take(batch)));
        }
        if batch.capacity() == 0 {
            if let Some(b) = self.free.pop() {
                *batch = b;
            }
        }
    }

    /// Close the open chunk; the next one starts in a free buffer.
    fn seal(&mut self) {
        let next = self.free.pop().unwrap_or_default();
        self.full.push_back(std::mem::replace(&mut self.buf, next));
    }

    /// Drop the free buffers (the connection has gone quiet).
    pub fn trim(&mut self) {
        self.free = Vec::new();
    }

    /// The writer's turn: swap the oldest pending chunk into `writing` (which is empty; its
    /// buffer is kept for reuse). False when nothing is pending.
    pub fn take(&mut self, writing: &mut Vec<u8>) -> bool {
        match self.full.pop_front() {
            Some(chunk) => {
                let old = std::mem::replace(writing, chunk);
                if old.capacity() > 0 && old.capacity() <= FREE_MAX && self.free.len() < FREE {
                    self.free.push(old);
                }
                true
            }
            None if self.buf.is_empty() => false,
            None => {
                std::mem::swap(&mut self.buf, writing);
                true
            }
        }
    }
}

/// Per-connection counters, in nats-server's sense: `in_*` what the client published, `out_*`
/// what was delivered to it (message counts and payload bytes).
#[derive(Default)]
pub struct Counters {
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_msgs: AtomicU64,
    pub out_bytes: AtomicU64,
}

/// Counters on a cache line of their own, so workers that each update theirs on every read
/// buffer do not take the line from one another.
#[derive(Default)]
#[repr(align(128))]
pub struct PaddedCounters(pub Counters);

/// Server-wide totals, kept per worker and summed when read.
#[derive(Default)]
pub struct WorkerCounters(Vec<PaddedCounters>);

impl WorkerCounters {
    pub fn new(workers: usize) -> Self {
        WorkerCounters(
            (0..workers.max(1))
                .map(|_| PaddedCounters::default())
                .collect(),
        )
    }

    /// The counters worker `w` adds to.
    pub fn of(&self, w: usize) -> &Counters {
        &self.0[w % self.0.len()].0
    }

    pub fn snapshot(&self) -> [u64; 4] {
        let mut t = [0u64; 4];
        for c in &self.0 {
            for (t, v) in t.iter_mut().zip(c.0.snapshot()) {
                *t += v;
            }
        }
        t
    }
}

impl Counters {
    pub fn add_in(&self, msgs: u64, bytes: u64) {
        self.in_msgs.fetch_add(msgs, Ordering::Relaxed);
        self.in_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn add_out(&self, msgs: u64, bytes: u64) {
        self.out_msgs.fetch_add(msgs, Ordering::Relaxed);
        self.out_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> [u64; 4] {
        [
            self.in_msgs.load(Ordering::Relaxed),
            self.in_bytes.load(Ordering::Relaxed),
            self.out_msgs.load(Ordering::Relaxed),
            self.out_bytes.load(Ordering::Relaxed),
        ]
    }
}

/// What a client told about itself and how it is connected, for monitoring; set at CONNECT
/// and at the end of the TLS handshake.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub name: String,
    pub lang: String,
    pub version: String,
    /// The user it authenticated as (empty without authentication).
    pub user: String,
    /// Its account's name.
    pub account: String,
    /// TLS protocol version ("1.2", "1.3") and cipher suite, in Go's names.
    pub tls_version: String,
    pub tls_cipher: String,
    /// The client's certificates, when it sent some.
    pub peer_certs: Vec<PeerCert>,
    /// It authenticated with an nkey (monitoring shows its account as issuer).
    pub nkey: bool,
    /// It authenticated with the token.
    pub token: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PeerCert {
    pub subject: String,
    pub spki_sha256: String,
    pub cert_sha256: String,
}

/// Wall-clock time as Unix nanoseconds (0 before 1970, which does not happen).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub struct ClientShared {
    pub cid: u64,
    /// A route to another server, not a client.
    pub is_route: bool,
    /// `ip:port` of the peer, for log lines.
    pub peer: String,
    pub addr: SocketAddr,
    /// When the connection was accepted.
    pub start: SystemTime,
    /// Unix nanoseconds of the last read from the client.
    pub last_activity: AtomicU64,
    /// Round-trip time in nanoseconds: first estimated at CONNECT, then measured by the
    /// server's PINGs. 0 until CONNECT.
    pub rtt: AtomicU64,
    /// Live subscriptions.
    pub num_subs: AtomicU32,
    pub meta: Mutex<Meta>,
    /// The worker that owns the socket, and the connection's slot there.
    pub worker: usize,
    pub token: usize,
    pub out: Mutex<Outbound>,
    /// Bytes appended but not yet written to the socket (outbound plus the write in progress).
    pub pending: AtomicUsize,
    /// Set while a flush request for this client sits in its worker's inbox.
    pub flush_queued: AtomicBool,
    /// Set when a producer found the client over `max_pending`: its worker closes it.
    pub slow_consumer: AtomicBool,
    /// Whether the client negotiated headers (decides HMSG or MSG on delivery).
    pub headers: AtomicBool,
    pub stats: Counters,
    /// Permissions of the authenticated user (replaced if a later CONNECT logs in again).
    pub perms: RwLock<Option<Arc<Perms>>>,
    /// Deliveries are checked against the subscribe deny list (see `Perms`).
    pub deny_filter: AtomicBool,
    /// The user may answer received requests (`allow_responses`): note their reply subjects.
    pub responses: AtomicBool,
    /// Reply subjects this client may answer (`allow_responses`).
    pub replies: Mutex<Replies>,
}

impl ClientShared {
    pub fn new(cid: u64, addr: SocketAddr, worker: usize, token: usize) -> Self {
        let start = SystemTime::now();
        ClientShared {
            cid,
            is_route: false,
            peer: addr.to_string(),
            addr,
            start,
            last_activity: AtomicU64::new(unix_nanos(start)),
            rtt: AtomicU64::new(0),
            num_subs: AtomicU32::new(0),
            meta: Mutex::new(Meta::default()),
            worker,
            token,
            out: Mutex::new(Outbound::default()),
            pending: AtomicUsize::new(0),
            flush_queued: AtomicBool::new(false),
            slow_consumer: AtomicBool::new(false),
            headers: AtomicBool::new(false),
            stats: Counters::default(),
            perms: RwLock::new(None),
            deny_filter: AtomicBool::new(false),
            responses: AtomicBool::new(false),
            replies: Mutex::new(Replies::default()),
        }
    }

    /// The shared side of a route connection.
    pub fn new_route(cid: u64, addr: SocketAddr, worker: usize, token: usize) -> Self {
        ClientShared {
            is_route: true,
            ..ClientShared::new(cid, addr, worker, token)
        }
    }

    pub fn is_closed(&self) -> bool {
        self.out.lock().map(|o| o.closed).unwrap_or(true)
    }

    pub fn meta(&self) -> Meta {
        self.meta.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_rtt(&self, rtt: Duration) {
        // Never 0 once measured: 0 means "not yet".
        self.rtt
            .store((rtt.as_nanos() as u64).max(1), Ordering::Relaxed);
    }

    /// A point-in-time copy of what monitoring shows about this connection.
    pub fn snapshot(&self) -> ConnSnapshot {
        let [in_msgs, in_bytes, out_msgs, out_bytes] = self.stats.snapshot();
        ConnSnapshot {
            cid: self.cid,
            addr: self.addr,
            start: self.start,
            last_activity: self.last_activity.load(Ordering::Relaxed),
            rtt: self.rtt.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
            in_msgs,
            in_bytes,
            out_msgs,
            out_bytes,
            subs: self.num_subs.load(Ordering::Relaxed),
            meta: self.meta(),
        }
    }

    pub fn perms(&self) -> Option<Arc<Perms>> {
        self.perms.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Install the permissions of whoever the client authenticated as.
    pub fn set_perms(&self, perms: Option<Arc<Perms>>) {
        self.responses.store(
            perms.as_ref().is_some_and(|p| p.response.is_some()),
            Ordering::Release,
        );
        self.deny_filter.store(false, Ordering::Release);
        *self.perms.write().unwrap_or_else(|e| e.into_inner()) = perms;
    }
}

/// A connection as monitoring reports it.
#[derive(Clone, Debug)]
pub struct ConnSnapshot {
    pub cid: u64,
    pub addr: SocketAddr,
    pub start: SystemTime,
    /// Unix nanoseconds.
    pub last_activity: u64,
    /// Nanoseconds; 0 when not known yet.
    pub rtt: u64,
    pub pending: usize,
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub subs: u32,
    pub meta: Meta,
}

/// One subscription as monitoring reports it.
#[derive(Clone, Debug)]
pub struct SubSnapshot {
    pub account: String,
    pub subject: String,
    pub queue: Option<String>,
    pub sid: String,
    pub msgs: u64,
    /// Auto-unsubscribe limit; 0 for none.
    pub max: u64,
    pub cid: u64,
}

/// A connection that has closed, kept for `/connz?state=closed`.
#[derive(Debug)]
pub struct Closed {
    pub conn: ConnSnapshot,
    pub stop: SystemTime,
    pub reason: &'static str,
    pub subs: Vec<SubSnapshot>,
}

/// One subscription, shared between its client (by sid) and the sublist.
pub struct Subscription {
    pub client: Arc<ClientShared>,
    /// The account whose sublist holds it.
    pub account: Arc<super::account::Account>,
    pub subject: Box<[u8]>,
    pub queue: Option<Box<[u8]>>,
    pub sid: Box<[u8]>,
    /// Auto-unsubscribe after this many deliveries; 0 means never.
    pub max: AtomicU64,
    pub delivered: AtomicU64,
    /// Removed (by UNSUB, auto-unsubscribe or close); deliveries skip it from then on.
    pub closed: AtomicBool,
    /// For a route's queue subscription: the members behind it on the peer.
    pub weight: AtomicU32,
}

impl Subscription {
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Mark the subscription removed; true for the caller that did it (who then takes it out of
    /// the sublist).
    pub fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::AcqRel);
        if first {
            self.client.num_subs.fetch_sub(1, Ordering::Relaxed);
        }
        first
    }

    pub fn snapshot(&self) -> SubSnapshot {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        SubSnapshot {
            account: self.account.name.clone(),
            subject: s(&self.subject),
            queue: self.queue.as_deref().map(s),
            sid: s(&self.sid),
            msgs: self.delivered.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
            cid: self.client.cid,
        }
    }
}

/// A handle to a subscription whose equality is identity, as the sublist needs.
#[derive(Clone)]
pub struct SubRef(pub Arc<Subscription>);

impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for SubRef {
    type Target = Subscription;
    fn deref(&self) -> &Subscription {
        &self.0
    }
}

#[cfg(test)]
mod outbound_tests {
    use super::*;

    /// Whatever mix of copies and handed-over batches goes in, the writer takes the same bytes
    /// out, in order, and nothing is left behind.
    #[test]
    fn chunks_come_out_in_order() {
        let mut out = Outbound::default();
        let mut want = Vec::new();
        let mut got = Vec::new();
        let mut writing = Vec::new();
        let mut seed = 7u32;
        for round in 0..2000u32 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = (seed >> 8) as usize % (3 * CHUNK / 2);
            let bytes: Vec<u8> = (0..len).map(|i| (round as usize + i) as u8).collect();
            want.extend_from_slice(&bytes);
            if seed & 1 == 0 {
                out.append(&bytes);
            } else {
                let mut batch = bytes;
                out.append_batch(&mut batch);
                assert!(batch.is_empty());
            }
            // The writer drains now and then, not every round.
            if seed & 6 == 0 {
                while out.take(&mut writing) {
                    got.extend_from_slice(&writing);
                    writing.clear();
                }
                assert!(out.is_empty());
            }
        }
        while out.take(&mut writing) {
            got.extend_from_slice(&writing);
            writing.clear();
        }
        assert!(out.is_empty());
        assert_eq!(got.len(), want.len());
        assert!(got == want);
    }
}
