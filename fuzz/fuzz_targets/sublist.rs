//! Fuzz the sublist and its match cache against a brute-force model.
//!
//! The first byte sets the cache bound; the rest is a program of operations, each an opcode byte
//! followed by its arguments (see `Op`). Subjects are built from a small token alphabet, mostly
//! `a`, `b`, `c`, `*` and `>`, with some empty and blank-carrying tokens that make a subject
//! invalid. After every step the sublist must agree with a plain list of subscriptions matched
//! one by one with `rnatsd::proto::subject::matches`; at the end everything is removed and the
//! trie must be pruned back to nothing.
#![no_main]

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rnatsd::proto::subject::{is_valid_subject, matches};
use rnatsd::sublist::{Error, MatchCache, Matches, Sublist};

const TOKENS: [&[u8]; 16] = [
    b"a", b"a", b"a", b"b", b"b", b"c", b"*", b"*", b"*", b">", b">", b"", b"ab", b"x y", b"a*",
    b"b>",
];
const QUEUES: [Option<&[u8]>; 5] = [None, None, Some(b"q1"), Some(b"q2"), Some(b"q3")];

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }

    /// A subject of 1 to 5 tokens: a length byte, then one byte per token.
    fn subject(&mut self) -> Option<Vec<u8>> {
        let n = 1 + (self.byte()? % 5) as usize;
        let mut s = Vec::new();
        for i in 0..n {
            if i > 0 {
                s.push(b'.');
            }
            s.extend_from_slice(TOKENS[(self.byte()? % 16) as usize]);
        }
        Some(s)
    }

    fn queue(&mut self) -> Option<Option<&'static [u8]>> {
        Some(QUEUES[(self.byte()? % 5) as usize])
    }
}

#[derive(Clone, Debug)]
struct Entry {
    subject: Vec<u8>,
    queue: Option<&'static [u8]>,
    id: u32,
}

/// Subject validity written out independently of `is_valid_subject`.
fn model_valid(s: &[u8]) -> bool {
    if s.is_empty() || s.iter().any(|b| b" \t\n\r\x0c".contains(b)) {
        return false;
    }
    let toks: Vec<&[u8]> = s.split(|&b| b == b'.').collect();
    toks.iter().all(|t| !t.is_empty()) && !toks[..toks.len() - 1].iter().any(|t| *t == b">")
}

/// Plain subscribers, and queue members by queue name, as the model says should match.
type Expected = (Vec<u32>, BTreeMap<Vec<u8>, Vec<u32>>);

fn expected(model: &[Entry], subj: &[u8]) -> Expected {
    let mut psubs = Vec::new();
    let mut qsubs: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
    // A subject with an empty token (from a non-pedantic publisher) matches nothing.
    if !subj.split(|&b| b == b'.').any(|t| t.is_empty()) {
        for e in model.iter().filter(|e| matches(&e.subject, subj)) {
            match e.queue {
                None => psubs.push(e.id),
                Some(q) => qsubs.entry(q.to_vec()).or_default().push(e.id),
            }
        }
    }
    psubs.sort_unstable();
    for m in qsubs.values_mut() {
        m.sort_unstable();
    }
    (psubs, qsubs)
}

fn check(m: &Matches<u32>, want: &Expected, subj: &[u8], how: &str) {
    let mut psubs = m.psubs.clone();
    psubs.sort_unstable();
    let mut qsubs: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
    for (name, members) in &m.qsubs {
        assert!(
            !members.is_empty(),
            "{how} {subj:?}: empty queue group {name:?}"
        );
        let mut members = members.clone();
        members.sort_unstable();
        let dup = qsubs.insert(name.to_vec(), members);
        assert!(
            dup.is_none(),
            "{how} {subj:?}: queue {name:?} in two group entries"
        );
    }
    assert_eq!(
        (&psubs, &qsubs),
        (&want.0, &want.1),
        "{how} {:?}: sublist (left) vs model (right)",
        String::from_utf8_lossy(subj)
    );
    assert_eq!(m.fanout(), want.0.len() + want.1.len());
    assert_eq!(m.is_empty(), want.0.is_empty() && want.1.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let Some(b) = input.byte() else { return };
    let mut sl: Sublist<u32> = Sublist::new();
    let gen = sl.generation();
    let mut cache = MatchCache::new(sl.generation(), 1 + (b % 8) as usize);
    let mut model: Vec<Entry> = Vec::new();
    let mut next_id = 1u32;
    let (mut inserts, mut removes, mut match_calls) = (0u64, 0u64, 0u64);

    // Each op either changes the sublist (and the generation goes up by exactly one) or does not.
    let mut steps = 0;
    while let Some(op) = input.byte() {
        steps += 1;
        if steps > 2000 {
            break;
        }
        let g0 = gen.load(Ordering::Acquire);
        let changed;
        match op % 10 {
            // Insert.
            0..=2 => {
                let (Some(subject), Some(queue)) = (input.subject(), input.queue()) else {
                    break;
                };
                let valid = model_valid(&subject);
                assert_eq!(is_valid_subject(&subject), valid, "{subject:?}");
                let id = next_id;
                next_id += 1;
                match sl.insert(&subject, queue, id) {
                    Ok(()) => {
                        assert!(valid, "invalid subject {subject:?} accepted");
                        inserts += 1;
                        model.push(Entry { subject, queue, id });
                        changed = true;
                    }
                    Err(Error::InvalidSubject) => {
                        assert!(!valid, "valid subject {subject:?} refused");
                        changed = false;
                    }
                }
            }
            // Remove an existing subscription.
            3 | 4 => {
                let Some(i) = input.byte() else { break };
                if model.is_empty() {
                    continue;
                }
                let e = model.swap_remove(i as usize % model.len());
                assert!(sl.remove(&e.subject, e.queue, &e.id), "{e:?} not found");
                removes += 1;
                changed = true;
                if model.is_empty() {
                    assert!(sl.is_pruned(), "empty but not pruned");
                }
            }
            // Remove something that is not there.
            5 => {
                let (Some(kind), Some(subject)) = (input.byte(), input.subject()) else {
                    break;
                };
                let (subject, queue, id) = match (model.first(), kind % 3) {
                    (Some(e), 0) => {
                        // Right subscription, wrong queue.
                        let q = if e.queue.is_none() {
                            Some(&b"q1"[..])
                        } else {
                            None
                        };
                        (e.subject.clone(), q, e.id)
                    }
                    (Some(e), 1) if subject != e.subject => (subject, e.queue, e.id),
                    _ => (subject, None, next_id + 1_000_000),
                };
                assert!(
                    !sl.remove(&subject, queue, &id),
                    "removed absent {subject:?}"
                );
                changed = false;
            }
            // Match a literal subject, through the cache as a server worker does.
            6..=8 => {
                let Some(subj) = input.subject() else { break };
                let want = expected(&model, &subj);
                match cache.get(&subj) {
                    Some(m) => check(&m, &want, &subj, "cached"),
                    None => {
                        let g = gen.load(Ordering::Acquire);
                        let m = Arc::new(sl.collect(&subj));
                        check(&m, &want, &subj, "collect");
                        cache.put(&subj, g, m);
                    }
                }
                assert!(cache.len() <= 1 + (b % 8) as usize);
                check(&sl.match_subject(&subj), &want, &subj, "match_subject");
                match_calls += 1;
                changed = false;
            }
            // Walk everything.
            _ => {
                let mut seen = Vec::new();
                sl.for_each(|&id| seen.push(id));
                seen.sort_unstable();
                let mut ids: Vec<u32> = model.iter().map(|e| e.id).collect();
                ids.sort_unstable();
                assert_eq!(seen, ids, "for_each");
                changed = false;
            }
        }
        let g1 = gen.load(Ordering::Acquire);
        assert_eq!(g1, g0 + changed as u64, "generation after op {}", op % 10);
        assert_eq!(sl.count(), model.len() as u64, "count");
        let st = sl.stats();
        assert_eq!(
            (st.subscriptions, st.inserts, st.removes, st.matches),
            (model.len() as u64, inserts, removes, match_calls),
            "stats"
        );
    }

    // Remove everything left, newest first; the trie must end empty.
    while let Some(e) = model.pop() {
        assert!(sl.remove(&e.subject, e.queue, &e.id), "{e:?} not found");
        assert!(
            !sl.remove(&e.subject, e.queue, &e.id),
            "{e:?} removed twice"
        );
    }
    assert_eq!(sl.count(), 0);
    assert!(sl.is_pruned(), "not pruned after removing everything");
    for subj in [&b"a"[..], b"a.b", b"*", b">", b"a.b.c.d.e"] {
        assert!(sl.collect(subj).is_empty());
    }
});
