//! What other workers may reach of a client: its outbound buffer (behind a small lock), its
//! counters (atomics), and its subscriptions as they sit in the sublist. Everything else about a
//! connection belongs to its worker alone (see `client.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::auth::{Perms, Replies};

/// Bytes waiting to be written to one client.
#[derive(Default)]
pub struct Outbound {
    pub buf: Vec<u8>,
    /// Set once the connection is closing: producers drop their bytes instead of appending.
    pub closed: bool,
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

pub struct ClientShared {
    pub cid: u64,
    /// `ip:port` of the peer, for log lines.
    pub peer: String,
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
    pub fn new(cid: u64, peer: String, worker: usize, token: usize) -> Self {
        ClientShared {
            cid,
            peer,
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

    pub fn is_closed(&self) -> bool {
        self.out.lock().map(|o| o.closed).unwrap_or(true)
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
}

impl Subscription {
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
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
