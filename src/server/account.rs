//! Accounts: separate subject spaces. Every client belongs to one account (the global `$G`
//! unless its user is defined in `accounts {}`); subscriptions and deliveries never cross an
//! account boundary.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::conf::auth::{Import, LinkKind};
use crate::conf::Options;

use super::shared::SubRef;
use crate::sublist::Sublist;

/// The account of users outside `accounts {}`.
pub const GLOBAL: &str = "$G";

pub struct Account {
    pub name: String,
    /// Small dense number, for per-worker caches.
    pub id: usize,
    pub sublist: RwLock<Sublist<SubRef>>,
    pub generation: Arc<AtomicU64>,
    /// Set when any stream, service or pending response links this account to another, so
    /// routing checks the lists below only then.
    pub linked: AtomicBool,
    /// Streams other accounts import from this one.
    pub streams: RwLock<Vec<StreamRoute>>,
    /// Services this account imports from others.
    pub services: RwLock<Vec<ServiceRoute>>,
    /// Replies owed to requesters in importing accounts: our `_R_.` subject → (their account,
    /// their reply subject).
    responses: Mutex<HashMap<Box<[u8]>, (Arc<Account>, Box<[u8]>, Instant)>>,
    /// Local subscriptions by (subject, queue), as told to route peers.
    pub interest: Mutex<HashMap<(Box<[u8]>, Option<Box<[u8]>>), u32>>,
}

/// Messages on `subject` (in the exporting account) also go to `target`, renamed.
pub struct StreamRoute {
    pub subject: Box<[u8]>,
    pub target: Arc<Account>,
    pub prefix: Option<Box<[u8]>>,
    pub to: Option<Box<[u8]>>,
}

impl StreamRoute {
    /// The subject a message on `subject` gets in the importing account.
    pub fn rename(&self, subject: &[u8]) -> Vec<u8> {
        match (&self.prefix, &self.to) {
            (Some(p), _) => [&p[..], b".", subject].concat(),
            (None, Some(to)) => to.to_vec(),
            (None, None) => subject.to_vec(),
        }
    }
}

/// Requests on `local` (in the importing account) go to `target` as `subject`.
pub struct ServiceRoute {
    pub local: Box<[u8]>,
    pub target: Arc<Account>,
    pub subject: Box<[u8]>,
}

/// How long a service's reply subject stays valid.
const RESPONSE_TTL: Duration = Duration::from_secs(120);
const MAX_RESPONSES: usize = 100_000;

impl Account {
    fn new(name: &str, id: usize) -> Account {
        let sublist = Sublist::new();
        Account {
            name: name.to_string(),
            id,
            generation: sublist.generation(),
            sublist: RwLock::new(sublist),
            linked: AtomicBool::new(false),
            streams: RwLock::new(Vec::new()),
            services: RwLock::new(Vec::new()),
            responses: Mutex::new(HashMap::new()),
            interest: Mutex::new(HashMap::new()),
        }
    }

    /// Remember that a reply on `ours` (in this, the exporting account) answers `reply` in
    /// `requester`'s account.
    pub fn subscription_count(&self) -> u64 {
        self.sublist
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .count()
    }

    pub fn sublist_stats(&self) -> crate::sublist::Stats {
        self.sublist
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .stats()
    }

    pub fn expect_response(&self, ours: &[u8], requester: Arc<Account>, reply: &[u8]) {
        let mut r = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        if r.len() >= MAX_RESPONSES {
            let now = Instant::now();
            r.retain(|_, (_, _, at)| now.duration_since(*at) < RESPONSE_TTL);
        }
        r.insert(ours.into(), (requester, reply.into(), Instant::now()));
        self.linked.store(true, Ordering::Release);
    }

    /// The requester a reply on `subject` is for (once: services answer a request once).
    pub fn take_response(&self, subject: &[u8]) -> Option<(Arc<Account>, Box<[u8]>)> {
        let mut r = self.responses.lock().unwrap_or_else(|e| e.into_inner());
        let (acc, reply, at) = r.remove(subject)?;
        (at.elapsed() < RESPONSE_TTL).then_some((acc, reply))
    }
}

/// All accounts by name.
pub struct Accounts {
    map: RwLock<HashMap<String, Arc<Account>>>,
    global: Arc<Account>,
}

impl Accounts {
    pub fn new(names: &[String]) -> Accounts {
        let global = Arc::new(Account::new(GLOBAL, 0));
        let a = Accounts {
            map: RwLock::new(HashMap::new()),
            global: global.clone(),
        };
        a.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(GLOBAL.to_string(), global);
        a.ensure(names);
        a
    }

    /// Add accounts not known yet (configuration reload); existing ones keep their state.
    pub fn ensure(&self, names: &[String]) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for n in names {
            if !map.contains_key(n) {
                let id = map.len();
                map.insert(n.clone(), Arc::new(Account::new(n, id)));
            }
        }
    }

    /// Wire the imports of `o` (replacing earlier ones, for reload).
    pub fn link(&self, o: &Options) {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        for a in map.values() {
            a.streams.write().unwrap_or_else(|e| e.into_inner()).clear();
            a.services
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        for im in &o.imports {
            let (Some(importer), Some(exporter)) = (map.get(&im.account), map.get(&im.from)) else {
                continue;
            };
            link_one(im, importer, exporter);
        }
    }

    /// Every account, the global one first, then by name.
    pub fn all(&self) -> Vec<Arc<Account>> {
        let mut v: Vec<Arc<Account>> = self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.id != 0, &a.name).cmp(&(b.id != 0, &b.name)));
        v
    }

    pub fn global(&self) -> Arc<Account> {
        self.global.clone()
    }

    /// The account called `name`; `None` means the global one.
    pub fn get(&self, name: Option<&str>) -> Option<Arc<Account>> {
        match name {
            None => Some(self.global.clone()),
            Some(n) => self
                .map
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(n)
                .cloned(),
        }
    }
}

fn link_one(im: &Import, importer: &Arc<Account>, exporter: &Arc<Account>) {
    let b = |s: &str| -> Box<[u8]> { s.as_bytes().into() };
    match im.kind {
        LinkKind::Stream => {
            exporter
                .streams
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(StreamRoute {
                    subject: b(&im.subject),
                    target: importer.clone(),
                    prefix: im.prefix.as_deref().map(b),
                    to: im.to.as_deref().map(b),
                });
            exporter.linked.store(true, Ordering::Release);
        }
        LinkKind::Service => {
            importer
                .services
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(ServiceRoute {
                    local: b(im.to.as_deref().unwrap_or(&im.subject)),
                    target: exporter.clone(),
                    subject: b(&im.subject),
                });
            importer.linked.store(true, Ordering::Release);
        }
    }
}
