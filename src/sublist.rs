//! The subscription list: a trie of subject tokens with one literal map, one `*` child and one
//! `>` child per level, queue subscribers grouped by queue name, and a bounded match cache.
//!
//! [`Sublist`] is the shared structure (the server keeps it behind a read-write lock); every
//! insert or remove bumps its generation. [`MatchCache`] is a per-thread cache of match results
//! that checks that generation before trusting an entry, so a hit needs no lock at all.
//! Removing the last subscription below a node prunes the node, so churn does not leak.
//! Uses only `proto::subject`; knows nothing of clients or sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::proto::subject;

/// Why an insert was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    InvalidSubject,
}

/// Subscribers that match one subject: plain ones, and the members of each queue group (one
/// entry per queue name, merged across the nodes that matched, as nats-server does).
#[derive(Debug)]
pub struct Matches<T> {
    pub psubs: Vec<T>,
    pub qsubs: Vec<(Arc<[u8]>, Vec<T>)>,
}

impl<T> Matches<T> {
    fn empty() -> Self {
        Matches {
            psubs: Vec::new(),
            qsubs: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty()
    }

    /// Number of receivers a message gets: every plain subscriber plus one per queue group.
    pub fn fanout(&self) -> usize {
        self.psubs.len() + self.qsubs.len()
    }
}

struct Node<T> {
    next: Option<Box<Level<T>>>,
    psubs: Vec<T>,
    /// Queue groups at this node: (queue name, members).
    qsubs: Vec<(Arc<[u8]>, Vec<T>)>,
}

impl<T> Node<T> {
    fn new() -> Self {
        Node {
            next: None,
            psubs: Vec::new(),
            qsubs: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.psubs.is_empty()
            && self.qsubs.is_empty()
            && self.next.as_ref().is_none_or(|l| l.is_empty())
    }
}

struct Level<T> {
    nodes: HashMap<Box<[u8]>, Node<T>>,
    pwc: Option<Box<Node<T>>>,
    fwc: Option<Box<Node<T>>>,
}

impl<T> Level<T> {
    fn new() -> Self {
        Level {
            nodes: HashMap::new(),
            pwc: None,
            fwc: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }
}

/// Counters for monitoring.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub subscriptions: u64,
    pub inserts: u64,
    pub removes: u64,
    pub matches: u64,
}

/// The subject trie. `T` is a subscription handle whose `PartialEq` is identity.
pub struct Sublist<T> {
    root: Level<T>,
    generation: Arc<AtomicU64>,
    stats: Stats,
}

impl<T: Clone + PartialEq> Default for Sublist<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + PartialEq> Sublist<T> {
    pub fn new() -> Self {
        Sublist {
            root: Level::new(),
            generation: Arc::new(AtomicU64::new(1)),
            stats: Stats::default(),
        }
    }

    /// The generation counter, shared with caches so they can check it without a lock.
    pub fn generation(&self) -> Arc<AtomicU64> {
        self.generation.clone()
    }

    pub fn count(&self) -> u64 {
        self.stats.subscriptions
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Add `sub` under `subj`, optionally in queue group `queue`.
    pub fn insert(&mut self, subj: &[u8], queue: Option<&[u8]>, sub: T) -> Result<(), Error> {
        if !subject::is_valid_subject(subj) {
            return Err(Error::InvalidSubject);
        }
        let mut level = &mut self.root;
        let mut tokens = subj.split(|&b| b == b'.').peekable();
        let node = loop {
            let tok = tokens.next().expect("valid subjects have a token");
            let node: &mut Node<T> = match tok {
                b"*" => level.pwc.get_or_insert_with(|| Box::new(Node::new())),
                b">" => level.fwc.get_or_insert_with(|| Box::new(Node::new())),
                _ => level.nodes.entry(tok.into()).or_insert_with(Node::new),
            };
            if tokens.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(|| Box::new(Level::new()));
        };
        match queue {
            None => node.psubs.push(sub),
            Some(q) => match node.qsubs.iter_mut().find(|(name, _)| &**name == q) {
                Some((_, members)) => members.push(sub),
                None => node.qsubs.push((q.into(), vec![sub])),
            },
        }
        self.stats.subscriptions += 1;
        self.stats.inserts += 1;
        self.bump();
        Ok(())
    }

    /// Remove `sub` (as inserted under `subj`/`queue`); prunes nodes left empty. Returns whether
    /// it was found.
    pub fn remove(&mut self, subj: &[u8], queue: Option<&[u8]>, sub: &T) -> bool {
        let tokens: Vec<&[u8]> = subj.split(|&b| b == b'.').collect();
        let found = remove_from(&mut self.root, &tokens, queue, sub);
        if found {
            self.stats.subscriptions -= 1;
            self.stats.removes += 1;
            self.bump();
        }
        found
    }

    /// All subscribers whose subject matches the literal `subj`.
    pub fn match_subject(&mut self, subj: &[u8]) -> Matches<T> {
        self.stats.matches += 1;
        self.collect(subj)
    }

    /// Matching without touching the counters, for callers holding only a read lock.
    pub fn collect(&self, subj: &[u8]) -> Matches<T> {
        let mut out = Matches::empty();
        let tokens: Vec<&[u8]> = subj.split(|&b| b == b'.').collect();
        if tokens.iter().any(|t| t.is_empty()) {
            // Never matches anything but can come from a non-pedantic publisher.
            return out;
        }
        match_level(&self.root, &tokens, &mut out);
        out
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Visit every subscription (for monitoring and shutdown).
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        fn walk<T>(l: &Level<T>, f: &mut impl FnMut(&T)) {
            let nodes = l
                .nodes
                .values()
                .chain(l.pwc.as_deref())
                .chain(l.fwc.as_deref());
            for n in nodes {
                n.psubs.iter().for_each(&mut *f);
                n.qsubs.iter().flat_map(|(_, m)| m).for_each(&mut *f);
                if let Some(next) = &n.next {
                    walk(next, f);
                }
            }
        }
        walk(&self.root, &mut f);
    }

    /// True when no node is left in the trie (used to check pruning).
    pub fn is_pruned(&self) -> bool {
        self.root.is_empty()
    }
}

fn add_node<T: Clone>(n: &Node<T>, out: &mut Matches<T>) {
    out.psubs.extend(n.psubs.iter().cloned());
    for (name, members) in &n.qsubs {
        match out.qsubs.iter_mut().find(|(q, _)| q == name) {
            Some((_, m)) => m.extend(members.iter().cloned()),
            None => out.qsubs.push((name.clone(), members.clone())),
        }
    }
}

fn match_level<T: Clone>(mut level: &Level<T>, tokens: &[&[u8]], out: &mut Matches<T>) {
    let mut pwc: Option<&Node<T>> = None;
    let mut node: Option<&Node<T>> = None;
    for (i, tok) in tokens.iter().enumerate() {
        if let Some(f) = &level.fwc {
            add_node(f, out);
        }
        pwc = level.pwc.as_deref();
        if let Some(p) = pwc {
            if let Some(next) = &p.next {
                match_level(next, &tokens[i + 1..], out);
            }
        }
        node = level.nodes.get(*tok);
        match node.and_then(|n| n.next.as_deref()) {
            Some(next) => level = next,
            None => {
                if i + 1 < tokens.len() {
                    node = None;
                    pwc = None;
                }
                break;
            }
        }
    }
    if let Some(n) = node {
        add_node(n, out);
    }
    if let Some(p) = pwc {
        add_node(p, out);
    }
}

fn remove_from<T: PartialEq>(
    level: &mut Level<T>,
    tokens: &[&[u8]],
    queue: Option<&[u8]>,
    sub: &T,
) -> bool {
    let (tok, rest) = match tokens.split_first() {
        Some(x) => x,
        None => return false,
    };
    let node: &mut Node<T> = match *tok {
        b"*" => match level.pwc.as_deref_mut() {
            Some(n) => n,
            None => return false,
        },
        b">" => match level.fwc.as_deref_mut() {
            Some(n) => n,
            None => return false,
        },
        t => match level.nodes.get_mut(t) {
            Some(n) => n,
            None => return false,
        },
    };
    let found = if rest.is_empty() {
        remove_sub(node, queue, sub)
    } else {
        match node.next.as_deref_mut() {
            Some(next) => {
                let f = remove_from(next, rest, queue, sub);
                if f && next.is_empty() {
                    node.next = None;
                }
                f
            }
            None => false,
        }
    };
    if found && node.is_empty() {
        match *tok {
            b"*" => level.pwc = None,
            b">" => level.fwc = None,
            t => {
                level.nodes.remove(t);
            }
        }
    }
    found
}

fn remove_sub<T: PartialEq>(node: &mut Node<T>, queue: Option<&[u8]>, sub: &T) -> bool {
    match queue {
        None => match node.psubs.iter().position(|s| s == sub) {
            Some(i) => {
                node.psubs.swap_remove(i);
                true
            }
            None => false,
        },
        Some(q) => {
            let Some(g) = node.qsubs.iter().position(|(name, _)| &**name == q) else {
                return false;
            };
            let members = &mut node.qsubs[g].1;
            let Some(i) = members.iter().position(|s| s == sub) else {
                return false;
            };
            members.swap_remove(i);
            if members.is_empty() {
                node.qsubs.swap_remove(g);
            }
            true
        }
    }
}

/// A bounded, per-thread cache of match results, valid while the sublist's generation holds.
pub struct MatchCache<T> {
    generation: Arc<AtomicU64>,
    seen: u64,
    map: HashMap<Box<[u8]>, Arc<Matches<T>>, SubjectHash>,
    /// The last subject answered and its result: a publisher streaming on one subject is
    /// answered by one compare, without hashing (valid for the same generation as the map).
    last_key: Vec<u8>,
    last: Option<Arc<Matches<T>>>,
    bound: usize,
    pub hits: u64,
    pub misses: u64,
    /// Sum and maximum of the fan-out of the stored results (for monitoring).
    fanout_sum: u64,
    fanout_max: u64,
}

impl<T: Clone + PartialEq> MatchCache<T> {
    pub fn new(generation: Arc<AtomicU64>, bound: usize) -> Self {
        MatchCache {
            generation,
            seen: 0,
            map: HashMap::with_hasher(SubjectHash::new()),
            last_key: Vec::new(),
            last: None,
            bound: bound.max(1),
            hits: 0,
            misses: 0,
            fanout_sum: 0,
            fanout_max: 0,
        }
    }

    /// The cached result for `subj`, if the sublist has not changed since it was stored.
    pub fn get(&mut self, subj: &[u8]) -> Option<Arc<Matches<T>>> {
        self.get_ref(subj).cloned()
    }

    /// As [`get`](Self::get), lent rather than shared: a hit on the last subject touches no
    /// reference count. A hit becomes the last result ([`last`](Self::last)).
    pub fn get_ref(&mut self, subj: &[u8]) -> Option<&Arc<Matches<T>>> {
        let g = self.generation.load(Ordering::Acquire);
        if g != self.seen {
            self.map.clear();
            self.last = None;
            self.fanout_sum = 0;
            self.fanout_max = 0;
            self.seen = g;
            self.misses += 1;
            return None;
        }
        if self.last.is_some() && self.last_key == subj {
            self.hits += 1;
            return self.last.as_ref();
        }
        match self.map.get(subj).cloned() {
            Some(m) => {
                self.hits += 1;
                self.remember(subj, m);
                self.last.as_ref()
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// The result of the last hit or store.
    pub fn last(&self) -> Option<&Arc<Matches<T>>> {
        self.last.as_ref()
    }

    fn remember(&mut self, subj: &[u8], m: Arc<Matches<T>>) {
        self.last_key.clear();
        self.last_key.extend_from_slice(subj);
        self.last = Some(m);
    }

    /// Store a result computed at generation `generation` (read before matching, under the lock).
    pub fn put(&mut self, subj: &[u8], generation: u64, m: Arc<Matches<T>>) {
        if generation != self.seen {
            return;
        }
        if self.map.len() >= self.bound {
            // Drop an arbitrary half; cheap and keeps the hot entries likely enough.
            let keep = self.bound / 2;
            let mut n = 0;
            let (mut sum, mut max) = (0, 0);
            self.map.retain(|_, m| {
                n += 1;
                if n <= keep {
                    let f = m.fanout() as u64;
                    sum += f;
                    max = max.max(f);
                }
                n <= keep
            });
            (self.fanout_sum, self.fanout_max) = (sum, max);
        }
        let f = m.fanout() as u64;
        self.remember(subj, m.clone());
        if let Some(old) = self.map.insert(subj.into(), m) {
            self.fanout_sum -= old.fanout() as u64;
        }
        self.fanout_sum += f;
        self.fanout_max = self.fanout_max.max(f);
    }

    /// Sum and maximum fan-out over the stored results.
    pub fn fanout(&self) -> (u64, u64) {
        (self.fanout_sum, self.fanout_max)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The match caches' hash: a keyed multiply-fold over 8-byte words, several times cheaper than
/// the standard SipHash on short subjects (hashing was a tenth of a publish-only profile). The
/// key is random per cache, so which subjects collide cannot be known in advance; a cache is
/// bounded and per thread, so collisions could only cost that thread's hit rate anyway.
#[derive(Clone)]
pub struct SubjectHash {
    key: u64,
}

impl SubjectHash {
    pub fn new() -> Self {
        use std::hash::BuildHasher;
        SubjectHash {
            key: std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl Default for SubjectHash {
    fn default() -> Self {
        Self::new()
    }
}

impl std::hash::BuildHasher for SubjectHash {
    type Hasher = SubjectHasher;
    fn build_hasher(&self) -> SubjectHasher {
        SubjectHasher {
            h: self.key,
            key: self.key,
        }
    }
}

pub struct SubjectHasher {
    h: u64,
    key: u64,
}

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The last `n` (1..=7) bytes of `bytes` as a word, read with whole loads (overlapping the
/// bytes before when `bytes` is long enough) instead of a byte copy into a zeroed word, which
/// stalls the load that follows it.
#[inline]
fn tail_word(bytes: &[u8], n: usize) -> u64 {
    let len = bytes.len();
    if len >= 8 {
        let w = u64::from_le_bytes(bytes[len - 8..].try_into().expect("8 bytes"));
        return w >> (8 * (8 - n));
    }
    let b = &bytes[len - n..];
    if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
        let hi = u32::from_le_bytes(b[n - 4..].try_into().expect("4 bytes"));
        u64::from(lo) | (u64::from(hi) << 32)
    } else {
        u64::from(b[0]) | (u64::from(b[n / 2]) << 8) | (u64::from(b[n - 1]) << 16)
    }
}

impl std::hash::Hasher for SubjectHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.h;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            h = fold_mul(h ^ w, self.key ^ MIX);
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            h = fold_mul(h ^ tail_word(bytes, rest.len()), self.key ^ MIX);
        }
        self.h = h;
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.h = fold_mul(self.h ^ n, self.key ^ MIX);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.h = fold_mul(self.h ^ n as u64, MIX);
    }

    #[inline]
    fn finish(&self) -> u64 {
        fold_mul(self.h, self.key.rotate_left(32) ^ MIX)
    }
}

#[cfg(test)]
mod tests;
