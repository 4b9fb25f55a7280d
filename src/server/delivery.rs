//! Routing a published message to its subscribers, batched per read buffer.
//!
//! While a worker parses one read buffer, every byte for every receiver (MSG lines, and the
//! publisher's own +OK/PONG/-ERR, so their order is kept) is staged in the worker's own scratch
//! buffer for that receiver. At the end of the buffer, [`Router::commit`] takes each receiver's
//! outbound lock once, appends, and wakes each other worker once. Locks and wake-ups are then per
//! read buffer, not per message. Subject lookups go through the worker's own match cache.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::account::Account;
use super::shared::{ClientShared, SubRef};

/// Entries in each per-worker, per-account match cache.
const CACHE_ENTRIES: usize = 4096;
/// Receivers of one read buffer found by a scan before they are indexed in a map.
const SCAN_STAGED: usize = 8;
/// Staging buffers up to this capacity are kept for reuse, up to `SPARE_BYTES` in all per
/// worker. (Freeing and reallocating the 64-200 KiB buffers of a busy stream costs page faults
/// on every read buffer with allocators that return large blocks to the system, as musl's does.)
const SPARE_BUF_MAX: usize = 1024 * 1024;
const SPARE_BYTES: usize = 4 * 1024 * 1024;
use super::Server;
use crate::proto::client::Msg;
use crate::proto::subject;
use crate::sublist::{MatchCache, Matches};

/// Status message sent to a requester when nobody listens on the subject.
const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";

struct Staged {
    client: Arc<ClientShared>,
    buf: Vec<u8>,
    msgs: u64,
    bytes: u64,
}

/// Per-worker routing state: match cache, staging buffers, and the worker's own counters.
pub struct Router {
    pub server: Arc<Server>,
    pub worker: usize,
    /// Match caches by account id.
    caches: Vec<Option<MatchCache<SubRef>>>,
    staged: Vec<Staged>,
    index: HashMap<u64, usize, crate::sublist::SubjectHash>,
    /// Emptied staging buffers kept for reuse, and their capacity in all (bounded by
    /// `SPARE_BYTES`, so a burst's buffers are reused instead of freed and faulted in again).
    spare: Vec<Vec<u8>>,
    spare_bytes: usize,
    auto_unsub: Vec<SubRef>,
    remote: Vec<Vec<usize>>,
    /// Tokens of this worker's clients that got bytes in the last commit.
    pub local_flush: Vec<usize>,
    /// A destination the last commit left over its high-water mark (back-pressure).
    pub congested: Option<Arc<ClientShared>>,
    /// The route whose message is being delivered (for links applied to it).
    pub route_peer: Option<Arc<ClientShared>>,
    /// Scratch for forwarding to routes (kept so forwarding allocates nothing per message).
    scratch_peers: Vec<Arc<ClientShared>>,
    scratch_queues: Vec<(usize, Arc<[u8]>)>,
    /// The last match computed outside the cache.
    fresh: Option<Arc<Matches<SubRef>>>,
    /// `max_pending` of the options in force (refreshed on reload), so a commit reads no
    /// shared lock.
    pub max_pending: usize,
    rng: u64,
}

impl Router {
    pub fn new(server: Arc<Server>, worker: usize) -> Router {
        let nworkers = server.workers.len();
        let max_pending = server.opts().max_pending;
        Router {
            max_pending,
            server,
            worker,
            caches: Vec::new(),
            staged: Vec::new(),
            index: HashMap::default(),
            spare: Vec::new(),
            spare_bytes: 0,
            auto_unsub: Vec::new(),
            remote: vec![Vec::new(); nworkers],
            local_flush: Vec::new(),
            congested: None,
            route_peer: None,
            scratch_peers: Vec::new(),
            scratch_queues: Vec::new(),
            fresh: None,
            rng: seed() ^ ((worker as u64 + 1) << 17),
        }
    }

    /// The staging buffer for `client`.
    pub fn stage(&mut self, client: &Arc<ClientShared>) -> &mut Vec<u8> {
        let i = self.slot(client);
        &mut self.staged[i].buf
    }

    fn slot(&mut self, client: &Arc<ClientShared>) -> usize {
        // A read buffer usually feeds a few receivers: scan them; index them only past that.
        if self.staged.len() <= SCAN_STAGED {
            if let Some(i) = self.staged.iter().position(|s| s.client.cid == client.cid) {
                return i;
            }
        } else if let Some(&i) = self.index.get(&client.cid) {
            return i;
        }
        let i = self.staged.len();
        let buf = match self.spare.pop() {
            Some(b) => {
                self.spare_bytes -= b.capacity();
                b
            }
            None => Vec::new(),
        };
        self.staged.push(Staged {
            client: client.clone(),
            buf,
            msgs: 0,
            bytes: 0,
        });
        if self.staged.len() > SCAN_STAGED {
            if self.index.is_empty() {
                for (k, st) in self.staged.iter().enumerate() {
                    self.index.insert(st.client.cid, k);
                }
            } else {
                self.index.insert(client.cid, i);
            }
        }
        i
    }

    fn next_rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Subscribers of `subject` in `account`, from the cache when its sublist has not changed.
    pub fn lookup(&mut self, account: &Account, subject: &[u8]) -> Arc<Matches<SubRef>> {
        self.lookup_ref(account, subject).clone()
    }

    /// As [`lookup`](Self::lookup), lent: a publisher streaming on one subject is answered
    /// without touching a reference count (and nobody listening costs no atomic at all).
    fn lookup_ref(&mut self, account: &Account, subject: &[u8]) -> &Arc<Matches<SubRef>> {
        if self.caches.len() <= account.id {
            self.caches.resize_with(account.id + 1, || None);
        }
        let cache = self.caches[account.id]
            .get_or_insert_with(|| MatchCache::new(account.generation.clone(), CACHE_ENTRIES));
        if cache.get_ref(subject).is_some() {
            return cache.last().expect("a hit is the last result");
        }
        let (generation, m) = {
            let sl = account.sublist.read().unwrap_or_else(|e| e.into_inner());
            (
                account.generation.load(Ordering::Acquire),
                Arc::new(sl.collect(subject)),
            )
        };
        cache.put(subject, generation, m.clone());
        // Kept here too: the cache refuses a result when the sublist changed meanwhile.
        self.fresh.insert(m)
    }

    /// Deliver `msg` from `from` (whose `echo` option says whether it hears itself). Returns how
    /// many subscribers got it.
    pub fn route(
        &mut self,
        account: &Account,
        from: &Arc<ClientShared>,
        echo: bool,
        msg: &Msg<'_>,
    ) -> usize {
        let mut delivered = self.route_local(account, from, echo, msg, true);
        if account.linked.load(Ordering::Acquire) {
            delivered += self.route_links(account, from, echo, msg);
        }
        delivered
    }

    /// Imports and exports: a reply owed to another account, streams other accounts import from
    /// this one, services this one imports (the last not for messages from a peer, which has
    /// applied them already). One hop only, so links cannot loop.
    fn route_links(
        &mut self,
        account: &Account,
        from: &Arc<ClientShared>,
        echo: bool,
        msg: &Msg<'_>,
    ) -> usize {
        self.route_links_from(account, from, echo, msg, true)
    }

    fn route_links_from(
        &mut self,
        account: &Account,
        from: &Arc<ClientShared>,
        echo: bool,
        msg: &Msg<'_>,
        services: bool,
    ) -> usize {
        if let Some((requester, reply)) = account.take_response(msg.subject) {
            let m = Msg {
                subject: &reply,
                reply: None,
                ..*msg
            };
            return self.route_local(&requester, from, echo, &m, false);
        }
        let mut delivered = 0;
        let streams: Vec<(Arc<Account>, Vec<u8>)> = account
            .streams
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| subject::matches(&r.subject, msg.subject))
            .map(|r| (r.target.clone(), r.rename(msg.subject)))
            .collect();
        for (target, subject) in streams {
            // Imported streams are delivered here only: other servers import from the
            // exporting account themselves (they announced interest in it), as nats-server does.
            delivered += self.route_local(
                &target,
                from,
                echo,
                &Msg {
                    subject: &subject,
                    ..*msg
                },
                false,
            );
        }
        if !services {
            return delivered;
        }
        let services: Vec<(Arc<Account>, Vec<u8>)> = account
            .services
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| subject::matches(&r.local, msg.subject))
            .map(|r| {
                let s = if subject::has_wildcard(&r.subject) {
                    msg.subject.to_vec()
                } else {
                    r.subject.to_vec()
                };
                (r.target.clone(), s)
            })
            .collect();
        for (target, subject) in services {
            let ours = msg.reply.map(|reply| {
                let ours = self.response_subject();
                target.expect_response(&ours, self.account_of(account), reply);
                ours
            });
            let m = Msg {
                subject: &subject,
                reply: ours.as_deref(),
                ..*msg
            };
            // The service may answer on another server: requests go to peers too.
            delivered += self.route_local(&target, from, echo, &m, true);
        }
        delivered
    }

    /// `_R_.<server prefix>.yyyyyy`, a fresh reply subject in the exporting account (peers
    /// route replies back here through our interest in `_R_.<server prefix>.>`).
    fn response_subject(&mut self) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut out = format!("_R_.{}.", self.server.response_prefix).into_bytes();
        for _ in 0..6 {
            out.push(A[(self.next_rand() % A.len() as u64) as usize]);
        }
        out
    }

    fn account_of(&self, account: &Account) -> Arc<Account> {
        self.server
            .accounts
            .get(Some(&account.name))
            .unwrap_or_else(|| self.server.accounts.global())
    }

    /// Deliver within one account: to local subscribers, and once to each route with interest
    /// (naming the queue groups it should serve). Queue groups prefer a local member.
    fn route_local(
        &mut self,
        account: &Account,
        from: &Arc<ClientShared>,
        echo: bool,
        msg: &Msg<'_>,
        to_peers: bool,
    ) -> usize {
        let m = {
            let m = self.lookup_ref(account, msg.subject);
            if m.is_empty() {
                return 0;
            }
            m.clone()
        };
        let mut delivered = 0;
        // Routes to forward to, and the queue groups each is to serve (by index into `peers`);
        // both are the router's scratch, kept between messages.
        let mut peers = std::mem::take(&mut self.scratch_peers);
        let mut picks = std::mem::take(&mut self.scratch_queues);
        for sub in &m.psubs {
            if sub.client.is_route {
                if to_peers && !sub.is_closed() && !peers.iter().any(|c| c.cid == sub.client.cid) {
                    peers.push(sub.client.clone());
                }
                continue;
            }
            if !echo && Arc::ptr_eq(&sub.client, from) {
                continue;
            }
            if self.deliver(sub, msg.subject, msg) {
                delivered += 1;
            }
        }
        for (queue, members) in &m.qsubs {
            let n = members.len();
            let start = (self.next_rand() % n as u64) as usize;
            let mut done = false;
            for k in 0..n {
                let sub = &members[(start + k) % n];
                if sub.client.is_route || (!echo && Arc::ptr_eq(&sub.client, from)) {
                    continue;
                }
                if self.deliver(sub, msg.subject, msg) {
                    delivered += 1;
                    done = true;
                    break;
                }
            }
            if done || !to_peers {
                continue;
            }
            // No local member took it: one route, chosen by its members' weight.
            let total: u64 = members
                .iter()
                .filter(|s| s.client.is_route && !s.is_closed())
                .map(|s| u64::from(s.weight.load(Ordering::Relaxed).max(1)))
                .sum();
            if total == 0 {
                continue;
            }
            let mut pick = self.next_rand() % total;
            for sub in members
                .iter()
                .filter(|s| s.client.is_route && !s.is_closed())
            {
                let w = u64::from(sub.weight.load(Ordering::Relaxed).max(1));
                if pick >= w {
                    pick -= w;
                    continue;
                }
                let at = match peers.iter().position(|c| c.cid == sub.client.cid) {
                    Some(at) => at,
                    None => {
                        peers.push(sub.client.clone());
                        peers.len() - 1
                    }
                };
                picks.push((at, queue.clone()));
                break;
            }
        }
        for (at, peer) in peers.iter().enumerate() {
            self.forward(peer, account, msg, &picks, at);
            delivered += 1;
        }
        peers.clear();
        picks.clear();
        self.scratch_peers = peers;
        self.scratch_queues = picks;
        delivered
    }

    /// Stage one RMSG/HMSG to a route, naming the queue groups `picks` chose for peer `at`.
    fn forward(
        &mut self,
        peer: &Arc<ClientShared>,
        account: &Account,
        msg: &Msg<'_>,
        picks: &[(usize, Arc<[u8]>)],
        at: usize,
    ) {
        // Up to 8 queue names on the stack; more (rare) in a Vec.
        let mut few: [&[u8]; 8] = [&[]; 8];
        let mut n = 0;
        let mut many = Vec::new();
        for (_, q) in picks.iter().filter(|(p, _)| *p == at) {
            if n < few.len() {
                few[n] = q;
                n += 1;
            } else {
                if many.is_empty() {
                    many.extend_from_slice(&few);
                }
                many.push(&q[..]);
            }
        }
        let qs: &[&[u8]] = if many.is_empty() { &few[..n] } else { &many };
        let i = self.slot(peer);
        let st = &mut self.staged[i];
        crate::proto::route::rmsg_head(
            &mut st.buf,
            account.name.as_bytes(),
            msg.subject,
            msg.reply,
            qs,
            msg.header_len,
            msg.data.len(),
        );
        st.buf.extend_from_slice(msg.data);
        st.buf.extend_from_slice(b"\r\n");
        st.msgs += 1;
        st.bytes += (msg.data.len() - msg.header_len) as u64;
    }

    /// Deliver a message a route brought: to local subscribers only (one hop), and to one local
    /// member of each queue group the sender named.
    pub fn route_from_peer(
        &mut self,
        account: &Account,
        msg: &Msg<'_>,
        queues: crate::proto::route::Queues<'_>,
    ) -> usize {
        let mut delivered = 0;
        if account.linked.load(Ordering::Acquire) {
            // Replies owed to our requesters, and streams our accounts import, are ours to apply.
            let via = self.route_peer.clone();
            if let Some(via) = via {
                delivered += self.route_links_from(account, &via, true, msg, false);
            }
        }
        let m = self.lookup(account, msg.subject);
        for sub in &m.psubs {
            if !sub.client.is_route && self.deliver(sub, msg.subject, msg) {
                delivered += 1;
            }
        }
        if queues.is_empty() {
            return delivered;
        }
        for (queue, members) in &m.qsubs {
            if !queues.iter().any(|q| q == &queue[..]) {
                continue;
            }
            let n = members.len();
            let start = (self.next_rand() % n as u64) as usize;
            for k in 0..n {
                let sub = &members[(start + k) % n];
                if !sub.client.is_route && self.deliver(sub, msg.subject, msg) {
                    delivered += 1;
                    break;
                }
            }
        }
        delivered
    }

    /// Tell a requester nobody answers: a 503 status on its own subscription for `reply`.
    pub fn no_responders(&mut self, account: &Account, from: &Arc<ClientShared>, reply: &[u8]) {
        let m = self.lookup(account, reply);
        if let Some(sub) = m.psubs.iter().find(|s| Arc::ptr_eq(&s.client, from)) {
            let status = Msg {
                subject: reply,
                reply: None,
                header_len: NO_RESPONDERS_HDR.len(),
                data: NO_RESPONDERS_HDR,
            };
            self.deliver(sub, reply, &status);
        }
    }

    /// Stage one MSG/HMSG for `sub`. False when the subscription is gone or used up.
    fn deliver(&mut self, sub: &SubRef, subject: &[u8], msg: &Msg<'_>) -> bool {
        if sub.is_closed() {
            return false;
        }
        // A wildcard subscription may cover subjects the subscriber's deny list names.
        if sub.client.deny_filter.load(Ordering::Acquire)
            && sub
                .client
                .perms()
                .is_some_and(|p| p.denies_delivery(subject))
        {
            return false;
        }
        let max = sub.max.load(Ordering::Relaxed);
        let n = sub.delivered.fetch_add(1, Ordering::AcqRel) + 1;
        if max > 0 {
            if n > max {
                return false;
            }
            if n == max {
                if sub.close() {
                    super::route::unsubscribed(&self.server, sub);
                }
                self.auto_unsub.push(sub.clone());
            }
        }
        let client = &sub.client;
        if let (true, Some(reply)) = (client.responses.load(Ordering::Acquire), msg.reply) {
            if let Some(rp) = client.perms().and_then(|p| p.response.clone()) {
                client
                    .replies
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .add(reply, &rp);
            }
        }
        let with_headers = msg.header_len > 0 && client.headers.load(Ordering::Relaxed);
        let body = if msg.header_len > 0 && !with_headers {
            &msg.data[msg.header_len..]
        } else {
            msg.data
        };
        let i = self.slot(client);
        let st = &mut self.staged[i];
        let b = &mut st.buf;
        let start = b.len();
        b.extend_from_slice(if with_headers { b"HMSG " } else { b"MSG " });
        b.extend_from_slice(subject);
        b.push(b' ');
        b.extend_from_slice(&sub.sid);
        b.push(b' ');
        if let Some(r) = msg.reply {
            b.extend_from_slice(r);
            b.push(b' ');
        }
        if with_headers {
            push_usize(b, msg.header_len);
            b.push(b' ');
        }
        push_usize(b, body.len());
        if crate::server::log::trace_enabled() {
            crate::trace!(
                "{} - cid:{} - ->> [{}]",
                client.peer,
                client.cid,
                String::from_utf8_lossy(&b[start..])
            );
        }
        b.extend_from_slice(b"\r\n");
        b.extend_from_slice(body);
        b.extend_from_slice(b"\r\n");
        st.msgs += 1;
        st.bytes += body.len() as u64;
        true
    }

    /// Hand every staged buffer to its client: one lock per client, one wake per other worker.
    /// Afterwards `local_flush` lists this worker's clients that have bytes to write.
    pub fn commit(&mut self) {
        let max_pending = self.max_pending;
        // A delivery is activity of the receiver too (as nats-server counts it); one clock
        // read per commit, and only when messages went out.
        let mut now = 0u64;
        for mut st in self.staged.drain(..) {
            let c = &st.client;
            let len = st.buf.len();
            if len > 0 {
                let appended = {
                    let mut out = c.out.lock().unwrap_or_else(|e| e.into_inner());
                    if out.closed {
                        false
                    } else if !c.is_route && c.pending.load(Ordering::Acquire) + len > max_pending {
                        out.closed = true;
                        c.slow_consumer.store(true, Ordering::Release);
                        false
                    } else {
                        out.append_batch(&mut st.buf);
                        c.pending.fetch_add(len, Ordering::AcqRel);
                        true
                    }
                };
                if appended {
                    if st.msgs > 0 {
                        if now == 0 {
                            now = super::shared::unix_nanos(std::time::SystemTime::now());
                        }
                        c.last_activity.store(now, Ordering::Relaxed);
                    }
                    c.stats.add_out(st.msgs, st.bytes);
                    self.server.stats.of(self.worker).add_out(st.msgs, st.bytes);
                    if self.congested.is_none()
                        && c.pending.load(Ordering::Relaxed)
                            > super::worker::high_water(c, max_pending)
                    {
                        self.congested = Some(c.clone());
                    }
                }
                if c.worker == self.worker {
                    self.local_flush.push(c.token);
                } else if !c.flush_queued.swap(true, Ordering::AcqRel) {
                    self.remote[c.worker].push(c.token);
                }
            }
            st.buf.clear();
            let cap = st.buf.capacity();
            if cap > 0
                && cap <= SPARE_BUF_MAX
                && self.spare_bytes + cap <= SPARE_BYTES
                && self.spare.len() < 64
            {
                self.spare_bytes += cap;
                self.spare.push(std::mem::take(&mut st.buf));
            }
        }
        self.index.clear();
        for (w, tokens) in self.remote.iter_mut().enumerate() {
            if !tokens.is_empty() {
                self.server.workers[w].request_flush(tokens);
                tokens.clear();
            }
        }
        for sub in self.auto_unsub.drain(..) {
            let mut sl = sub
                .account
                .sublist
                .write()
                .unwrap_or_else(|e| e.into_inner());
            sl.remove(&sub.subject, sub.queue.as_deref(), &sub);
        }
    }

    /// Make this worker's match-cache counters visible to monitoring.
    pub fn publish_cache_stats(&self, to: &super::CacheStats) {
        let mut v = [0u64; 5];
        for c in self.caches.iter().flatten() {
            let (sum, max) = c.fanout();
            v[0] += c.hits;
            v[1] += c.misses;
            v[2] += c.len() as u64;
            v[3] += sum;
            v[4] = v[4].max(max);
        }
        to.store(v);
    }
}

/// A random seed for the router's generator (reply subjects must differ between processes).
fn seed() -> u64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u64::from_le_bytes(b) | 1
}

/// Append `n` in decimal.
pub fn push_usize(b: &mut Vec<u8>, mut n: usize) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}
