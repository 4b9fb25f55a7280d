use super::*;
use crate::proto::subject::matches;

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort();
    v
}

fn psubs(sl: &mut Sublist<u32>, subj: &str) -> Vec<u32> {
    sorted(sl.match_subject(subj.as_bytes()).psubs)
}

#[test]
fn literal_and_wildcards() {
    let mut sl = Sublist::new();
    sl.insert(b"foo.bar", None, 1).unwrap();
    sl.insert(b"foo.*", None, 2).unwrap();
    sl.insert(b"foo.>", None, 3).unwrap();
    sl.insert(b">", None, 4).unwrap();
    sl.insert(b"*.bar", None, 5).unwrap();
    sl.insert(b"foo", None, 6).unwrap();
    sl.insert(b"*", None, 7).unwrap();
    sl.insert(b"foo.*.baz", None, 8).unwrap();
    assert_eq!(psubs(&mut sl, "foo.bar"), vec![1, 2, 3, 4, 5]);
    assert_eq!(psubs(&mut sl, "foo"), vec![4, 6, 7]);
    assert_eq!(psubs(&mut sl, "foo.bar.baz"), vec![3, 4, 8]);
    assert_eq!(psubs(&mut sl, "bar"), vec![4, 7]);
    assert_eq!(psubs(&mut sl, "x.y.z"), vec![4]);
    assert_eq!(psubs(&mut sl, "foo..bar"), Vec::<u32>::new());
    assert_eq!(sl.count(), 8);
}

#[test]
fn invalid_subjects_are_refused() {
    let mut sl = Sublist::new();
    for bad in ["", "foo..bar", "foo.>.bar", ".", "foo."] {
        assert_eq!(
            sl.insert(bad.as_bytes(), None, 1),
            Err(Error::InvalidSubject),
            "{bad}"
        );
    }
    assert!(sl.is_pruned());
}

#[test]
fn queue_groups_merge_by_name() {
    let mut sl = Sublist::new();
    sl.insert(b"foo.bar", Some(b"q"), 1).unwrap();
    sl.insert(b"foo.bar", Some(b"q"), 2).unwrap();
    sl.insert(b"foo.*", Some(b"q"), 3).unwrap();
    sl.insert(b"foo.*", Some(b"r"), 4).unwrap();
    sl.insert(b"foo.bar", None, 5).unwrap();
    let m = sl.match_subject(b"foo.bar");
    assert_eq!(m.psubs, vec![5]);
    assert_eq!(m.qsubs.len(), 2);
    let q = m.qsubs.iter().find(|(n, _)| &**n == b"q").unwrap();
    assert_eq!(sorted(q.1.clone()), vec![1, 2, 3]);
    assert_eq!(m.fanout(), 3);
    assert!(sl.remove(b"foo.bar", Some(b"q"), &2));
    assert!(!sl.remove(b"foo.bar", Some(b"q"), &2));
    assert!(!sl.remove(b"foo.bar", Some(b"zz"), &1));
    let m = sl.match_subject(b"foo.bar");
    let q = m.qsubs.iter().find(|(n, _)| &**n == b"q").unwrap();
    assert_eq!(sorted(q.1.clone()), vec![1, 3]);
}

#[test]
fn remove_prunes_empty_nodes() {
    let mut sl = Sublist::new();
    let subjects = ["a.b.c", "a.*.c", "a.>", ">", "*", "a.b", "x.y.z.w", "a.b.c"];
    for (i, s) in subjects.iter().enumerate() {
        sl.insert(
            s.as_bytes(),
            if i % 3 == 0 { Some(b"g") } else { None },
            i as u32,
        )
        .unwrap();
    }
    assert!(!sl.is_pruned());
    for (i, s) in subjects.iter().enumerate() {
        assert!(sl.remove(
            s.as_bytes(),
            if i % 3 == 0 { Some(b"g") } else { None },
            &(i as u32)
        ));
    }
    assert!(sl.is_pruned());
    assert_eq!(sl.count(), 0);
    let st = sl.stats();
    assert_eq!((st.inserts, st.removes), (8, 8));
}

#[test]
fn cache_is_invalidated_by_insert_and_remove() {
    let mut sl = Sublist::new();
    let mut cache = MatchCache::new(sl.generation(), 16);
    sl.insert(b"foo.*", None, 1).unwrap();
    let lookup = |sl: &mut Sublist<u32>, cache: &mut MatchCache<u32>, s: &[u8]| -> Vec<u32> {
        if let Some(m) = cache.get(s) {
            return sorted(m.psubs.clone());
        }
        let g = sl.generation().load(Ordering::Acquire);
        let m = Arc::new(sl.match_subject(s));
        cache.put(s, g, m.clone());
        sorted(m.psubs.clone())
    };
    assert_eq!(lookup(&mut sl, &mut cache, b"foo.bar"), vec![1]);
    assert_eq!(lookup(&mut sl, &mut cache, b"foo.bar"), vec![1]);
    assert_eq!(cache.hits, 1);
    sl.insert(b"foo.bar", None, 2).unwrap();
    assert_eq!(lookup(&mut sl, &mut cache, b"foo.bar"), vec![1, 2]);
    sl.remove(b"foo.*", None, &1);
    assert_eq!(lookup(&mut sl, &mut cache, b"foo.bar"), vec![2]);
    assert_eq!(lookup(&mut sl, &mut cache, b"foo.bar"), vec![2]);
}

#[test]
fn cache_stays_bounded() {
    let mut sl: Sublist<u32> = Sublist::new();
    sl.insert(b">", None, 1).unwrap();
    let g = sl.generation().load(Ordering::Acquire);
    let mut cache = MatchCache::new(sl.generation(), 64);
    assert!(cache.get(b"x").is_none());
    for i in 0..10_000 {
        let s = format!("s.{i}");
        cache.put(s.as_bytes(), g, Arc::new(sl.match_subject(s.as_bytes())));
        assert!(cache.len() <= 64);
    }
}

/// A small deterministic PRNG so the randomized tests repeat exactly.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn random_subject(rng: &mut Rng, wildcards: bool) -> String {
    let lits = ["a", "b", "c", "foo", "bar"];
    let n = 1 + rng.next() % 4;
    let mut toks = Vec::new();
    for i in 0..n {
        let r = rng.next() % 10;
        if wildcards && r == 0 && i == n - 1 {
            toks.push(">");
        } else if wildcards && r < 3 {
            toks.push("*");
        } else {
            toks.push(rng.pick(&lits));
        }
    }
    toks.join(".")
}

#[test]
fn randomized_against_brute_force() {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut sl = Sublist::new();
    let mut cache = MatchCache::new(sl.generation(), 32);
    let mut model: Vec<(String, Option<&str>, u32)> = Vec::new();
    let mut next_id = 0u32;
    for step in 0..20_000 {
        match rng.next() % 10 {
            0..=3 => {
                let s = random_subject(&mut rng, true);
                let q = if rng.next() % 4 == 0 {
                    Some(rng.pick(&["q1", "q2"]))
                } else {
                    None
                };
                sl.insert(s.as_bytes(), q.map(|q| q.as_bytes()), next_id)
                    .unwrap();
                model.push((s, q, next_id));
                next_id += 1;
            }
            4..=5 if !model.is_empty() => {
                let i = (rng.next() % model.len() as u64) as usize;
                let (s, q, id) = model.swap_remove(i);
                assert!(sl.remove(s.as_bytes(), q.map(|q| q.as_bytes()), &id));
            }
            _ => {
                let subj = random_subject(&mut rng, false);
                let m = match cache.get(subj.as_bytes()) {
                    Some(m) => m,
                    None => {
                        let g = sl.generation().load(Ordering::Acquire);
                        let m = Arc::new(sl.match_subject(subj.as_bytes()));
                        cache.put(subj.as_bytes(), g, m.clone());
                        m
                    }
                };
                let mut got: Vec<u32> = m.psubs.clone();
                for (_, members) in &m.qsubs {
                    got.extend(members.iter().copied());
                }
                let want: Vec<u32> = model
                    .iter()
                    .filter(|(p, _, _)| matches(p.as_bytes(), subj.as_bytes()))
                    .map(|x| x.2)
                    .collect();
                assert_eq!(sorted(got), sorted(want), "step {step} subject {subj}");
                let groups: std::collections::HashSet<&str> = model
                    .iter()
                    .filter(|(p, q, _)| q.is_some() && matches(p.as_bytes(), subj.as_bytes()))
                    .map(|x| x.1.unwrap())
                    .collect();
                assert_eq!(m.qsubs.len(), groups.len());
            }
        }
        assert_eq!(sl.count(), model.len() as u64);
    }
    for (s, q, id) in model.drain(..) {
        assert!(sl.remove(s.as_bytes(), q.map(|q| q.as_bytes()), &id));
    }
    assert!(sl.is_pruned());
}
