use super::*;

/// An owned copy of an operation, so results from many feeds can be compared.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Owned {
    Info(Vec<u8>),
    Connect(Vec<u8>),
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
    Sub {
        leaf_origin: Option<Vec<u8>>,
        account: Vec<u8>,
        subject: Vec<u8>,
        queue: Option<(Vec<u8>, u32)>,
    },
    Unsub {
        leaf: bool,
        account: Vec<u8>,
        subject: Vec<u8>,
        queue: Option<Vec<u8>>,
    },
    Msg(OwnedMsg),
}

#[derive(Debug, PartialEq, Eq, Clone, Default)]
struct OwnedMsg {
    origin: Option<Vec<u8>>,
    account: Vec<u8>,
    subject: Vec<u8>,
    reply: Option<Vec<u8>>,
    queues: Vec<Vec<u8>>,
    header_len: usize,
    data: Vec<u8>,
}

fn own(op: RouteOp<'_>) -> Owned {
    let v = |s: &[u8]| s.to_vec();
    match op {
        RouteOp::Info(a) => Owned::Info(v(a)),
        RouteOp::Connect(a) => Owned::Connect(v(a)),
        RouteOp::Ping => Owned::Ping,
        RouteOp::Pong => Owned::Pong,
        RouteOp::Ok => Owned::Ok,
        RouteOp::Err(a) => Owned::Err(v(a)),
        RouteOp::Sub {
            account,
            subject,
            queue,
        } => Owned::Sub {
            leaf_origin: None,
            account: v(account),
            subject: v(subject),
            queue: queue.map(|(q, w)| (v(q), w)),
        },
        RouteOp::LeafSub {
            origin,
            account,
            subject,
            queue,
        } => Owned::Sub {
            leaf_origin: Some(v(origin)),
            account: v(account),
            subject: v(subject),
            queue: queue.map(|(q, w)| (v(q), w)),
        },
        RouteOp::Unsub {
            account,
            subject,
            queue,
        } => Owned::Unsub {
            leaf: false,
            account: v(account),
            subject: v(subject),
            queue: queue.map(v),
        },
        RouteOp::LeafUnsub {
            account,
            subject,
            queue,
        } => Owned::Unsub {
            leaf: true,
            account: v(account),
            subject: v(subject),
            queue: queue.map(v),
        },
        RouteOp::Msg(m) => Owned::Msg(OwnedMsg {
            origin: m.origin.map(v),
            account: v(m.account),
            subject: v(m.subject),
            reply: m.reply.map(v),
            queues: m.queues.iter().map(v).collect(),
            header_len: m.header_len,
            data: v(m.data),
        }),
    }
}

/// Feed the chunks in order; collect operations until the end or the first error.
fn feed(chunks: &[&[u8]], lim: Limits) -> (Vec<Owned>, Option<Error>) {
    let mut p = Parser::new(lim);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut pos = 0;
        loop {
            match p.next_op(chunk, &mut pos) {
                Ok(Some(op)) => out.push(own(op)),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        assert_eq!(pos, chunk.len());
    }
    (out, None)
}

fn whole(input: &[u8]) -> (Vec<Owned>, Option<Error>) {
    feed(&[input], Limits::default())
}

fn ok(input: &[u8]) -> Vec<Owned> {
    let (ops, err) = whole(input);
    assert_eq!(err, None, "{:?}", input.escape_ascii().to_string());
    ops
}

fn one(input: &[u8]) -> Owned {
    let ops = ok(input);
    assert_eq!(ops.len(), 1, "{ops:?}");
    ops.into_iter().next().unwrap()
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn sub(account: &str, subject: &str, queue: Option<(&str, u32)>) -> Owned {
    Owned::Sub {
        leaf_origin: None,
        account: b(account),
        subject: b(subject),
        queue: queue.map(|(q, w)| (b(q), w)),
    }
}

fn unsub(leaf: bool, account: &str, subject: &str, queue: Option<&str>) -> Owned {
    Owned::Unsub {
        leaf,
        account: b(account),
        subject: b(subject),
        queue: queue.map(b),
    }
}

fn msg(
    account: &str,
    subject: &str,
    reply: Option<&str>,
    queues: &[&str],
    header_len: usize,
    data: &str,
) -> Owned {
    Owned::Msg(OwnedMsg {
        origin: None,
        account: b(account),
        subject: b(subject),
        reply: reply.map(b),
        queues: queues.iter().map(|q| b(q)).collect(),
        header_len,
        data: b(data),
    })
}

fn lmsg(origin: &str, m: Owned) -> Owned {
    match m {
        Owned::Msg(m) => Owned::Msg(OwnedMsg {
            origin: Some(b(origin)),
            ..m
        }),
        _ => unreachable!(),
    }
}

/// What two nats-server 2.9.10 in a cluster wrote to each other (captured on the wire), plus the
/// forms the protocol allows that Go did not happen to send (lower case, bare LF, tabs).
const SESSION: &[u8] = b"CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\
\"tls_required\":false,\"headers\":true,\"name\":\"NB2W\",\"cluster\":\"c1\",\"lnoc\":true}\r\n\
INFO {\"server_id\":\"NB2W\",\"proto\":2,\"cluster\":\"c1\",\"lnoc\":true} \r\n\
RS+ $G foo\r\nRS+ $G bar q1 1\r\nRS+ $G wild.> qq 12\r\n\
RMSG $G foo 5\r\nhello\r\nRMSG $G foo _INBOX.r1 2\r\nhi\r\nRMSG $G bar | q1 2\r\nq1\r\n\
RMSG $G bar + _INBOX.r2 q1 2\r\nq2\r\n\
HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n\
HMSG $G bar + _INBOX.x q1 q2 12 14\r\nNATS/1.0\r\n\r\ngh\r\n\
RMSG $G bar + r q1 0\r\n\r\nPING\r\nPONG\r\n\
LS+ leafc $G lf\r\nLS+ leafc $G lq qq 1\r\n\
LMSG leafc $G fromc 0 2\r\nc1\r\nLMSG leafc $G fromc rr 0 2\r\nc2\r\n\
LMSG leafc $G fromcq + r g 0 2\r\nc5\r\nLMSG leafc $G fromcq | g 12 14\r\nNATS/1.0\r\n\r\nc4\r\n\
LS-  $G lf\r\nLS-  $G lq qq\r\nRS- $G foo\r\nRS- $G bar q1\r\n\
rs+\t$A  a.b \tq 3\nrmsg $A a.b 3\nabc\r\nhmsg $A a | x y z 0 1\r\n.\r\n\
+OK\r\n-ERR 'Authorization Violation'\r\nping\n";

fn session_ops() -> Vec<Owned> {
    vec![
        Owned::Connect(b(
            "{\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\
             \"headers\":true,\"name\":\"NB2W\",\"cluster\":\"c1\",\"lnoc\":true}",
        )),
        Owned::Info(b(
            "{\"server_id\":\"NB2W\",\"proto\":2,\"cluster\":\"c1\",\"lnoc\":true} ",
        )),
        sub("$G", "foo", None),
        sub("$G", "bar", Some(("q1", 1))),
        sub("$G", "wild.>", Some(("qq", 12))),
        msg("$G", "foo", None, &[], 0, "hello"),
        msg("$G", "foo", Some("_INBOX.r1"), &[], 0, "hi"),
        msg("$G", "bar", None, &["q1"], 0, "q1"),
        msg("$G", "bar", Some("_INBOX.r2"), &["q1"], 0, "q2"),
        msg("$G", "foo", None, &[], 12, "NATS/1.0\r\n\r\nhi"),
        msg(
            "$G",
            "bar",
            Some("_INBOX.x"),
            &["q1", "q2"],
            12,
            "NATS/1.0\r\n\r\ngh",
        ),
        msg("$G", "bar", Some("r"), &["q1"], 0, ""),
        Owned::Ping,
        Owned::Pong,
        Owned::Sub {
            leaf_origin: Some(b("leafc")),
            account: b("$G"),
            subject: b("lf"),
            queue: None,
        },
        Owned::Sub {
            leaf_origin: Some(b("leafc")),
            account: b("$G"),
            subject: b("lq"),
            queue: Some((b("qq"), 1)),
        },
        lmsg("leafc", msg("$G", "fromc", None, &[], 0, "c1")),
        lmsg("leafc", msg("$G", "fromc", Some("rr"), &[], 0, "c2")),
        lmsg("leafc", msg("$G", "fromcq", Some("r"), &["g"], 0, "c5")),
        lmsg(
            "leafc",
            msg("$G", "fromcq", None, &["g"], 12, "NATS/1.0\r\n\r\nc4"),
        ),
        unsub(true, "$G", "lf", None),
        unsub(true, "$G", "lq", Some("qq")),
        unsub(false, "$G", "foo", None),
        unsub(false, "$G", "bar", Some("q1")),
        sub("$A", "a.b", Some(("q", 3))),
        msg("$A", "a.b", None, &[], 0, "abc"),
        msg("$A", "a", None, &["x", "y", "z"], 0, "."),
        Owned::Ok,
        Owned::Err(b("'Authorization Violation'")),
        Owned::Ping,
    ]
}

#[test]
fn whole_session() {
    assert_eq!(whole(SESSION), (session_ops(), None));
}

#[test]
fn every_split_point_parses_the_same() {
    let want = (session_ops(), None);
    for cut in 0..=SESSION.len() {
        let (a, b) = SESSION.split_at(cut);
        assert_eq!(feed(&[a, b], Limits::default()), want, "cut at {cut}");
    }
}

#[test]
fn double_cuts_parse_the_same() {
    let want = (session_ops(), None);
    for cut1 in (0..SESSION.len()).step_by(5) {
        for cut2 in cut1..=SESSION.len() {
            let parts = [&SESSION[..cut1], &SESSION[cut1..cut2], &SESSION[cut2..]];
            assert_eq!(feed(&parts, Limits::default()), want, "cuts {cut1} {cut2}");
        }
    }
}

#[test]
fn byte_at_a_time() {
    let chunks: Vec<&[u8]> = SESSION.chunks(1).collect();
    assert_eq!(feed(&chunks, Limits::default()), (session_ops(), None));
    // With empty reads in between too.
    let mut with_empty: Vec<&[u8]> = Vec::new();
    for c in SESSION.chunks(1) {
        with_empty.push(c);
        with_empty.push(b"");
    }
    assert_eq!(feed(&with_empty, Limits::default()), (session_ops(), None));
}

const EACH_OP: &[&[u8]] = &[
    b"INFO {\"server_id\":\"x\"} \r\n",
    b"CONNECT {\"lnoc\":true}\r\n",
    b"PING\r\n",
    b"PONG\r\n",
    b"+OK\r\n",
    b"-ERR 'Unknown Protocol Operation'\r\n",
    b"RS+ $G foo\r\n",
    b"RS+ $G bar q1 2\r\n",
    b"RS- $G foo\r\n",
    b"RS- $G bar q1\r\n",
    b"LS+ leafc $G lf\r\n",
    b"LS+ leafc $G lq qq 1\r\n",
    b"LS-  $G lf\r\n",
    b"LS-  $G lq qq\r\n",
    b"RMSG $G foo 5\r\nhello\r\n",
    b"RMSG $G foo _INBOX.r1 2\r\nhi\r\n",
    b"RMSG $G bar | q1 2\r\nq1\r\n",
    b"RMSG $G bar + _INBOX.r2 q1 q2 2\r\nq2\r\n",
    b"HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    b"HMSG $G bar _INBOX.r3 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nxy\r\n",
    b"HMSG $G bar + _INBOX.x q1 q2 12 14\r\nNATS/1.0\r\n\r\ngh\r\n",
    b"HMSG $G bar | q2 12 14\r\nNATS/1.0\r\n\r\nef\r\n",
    b"LMSG leafc $G fromc 0 2\r\nc1\r\n",
    b"LMSG leafc $G fromc rr 0 2\r\nc2\r\n",
    b"LMSG leafc $G fromcq | g 0 2\r\nc4\r\n",
    b"LMSG leafc $G fromcq + r g h 12 14\r\nNATS/1.0\r\n\r\nc5\r\n",
];

#[test]
fn each_op_split_at_every_byte() {
    for op in EACH_OP {
        let want = whole(op);
        assert!(want.1.is_none() && want.0.len() == 1, "{want:?}");
        for cut in 0..=op.len() {
            let (a, b) = op.split_at(cut);
            assert_eq!(
                feed(&[a, b], Limits::default()),
                want,
                "{:?} cut at {cut}",
                op.escape_ascii().to_string()
            );
        }
        let bytes: Vec<&[u8]> = op.chunks(1).collect();
        assert_eq!(feed(&bytes, Limits::default()), want);
    }
}

#[test]
fn operations_are_case_insensitive_and_take_bare_lf() {
    for op in EACH_OP {
        let want = one(op);
        let name_len = op.iter().position(|&c| c == b' ').unwrap_or(4);
        let mut lower = op.to_vec();
        lower[..name_len].make_ascii_lowercase();
        assert_eq!(one(&lower), want);
        // Every CRLF that ends a control line may be a bare LF (a payload's CRLF may not).
        let nl = op.iter().position(|&c| c == b'\n').unwrap();
        let mut lf = op.to_vec();
        lf.remove(nl - 1);
        assert_eq!(one(&lf), want);
    }
}

#[test]
fn whole_ops_are_zero_copy() {
    let buf = b"RMSG $G bar + _INBOX.r2 q1 q2 2\r\nq2\r\nRS+ $G bar q1 2\r\n".to_vec();
    let range = buf.as_ptr_range();
    let inside = |s: &[u8]| range.contains(&s.as_ptr());
    let mut p = Parser::default();
    let mut pos = 0;
    let Ok(Some(RouteOp::Msg(m))) = p.next_op(&buf, &mut pos) else {
        panic!("no message")
    };
    assert!(inside(m.account) && inside(m.subject) && inside(m.data));
    assert!(inside(m.reply.unwrap()) && inside(m.queues.raw()));
    assert_eq!(m.queues.raw(), b"q1 q2");
    let Ok(Some(RouteOp::Sub { queue, .. })) = p.next_op(&buf, &mut pos) else {
        panic!("no RS+")
    };
    assert!(inside(queue.unwrap().0));
    assert_eq!(p.held_bytes(), 0);
}

#[test]
fn queues_iterate_and_compare_by_name() {
    let q = Queues::new(b"a  b\tc");
    assert_eq!(q.iter().collect::<Vec<_>>(), [&b"a"[..], b"b", b"c"]);
    assert_eq!(q, Queues::new(b"a b c"));
    assert_ne!(q, Queues::new(b"a b"));
    assert!(Queues::new(b"").is_empty());
    assert!(Queues::default().is_empty());
    assert_eq!(format!("{q:?}"), r#"["a", "b", "c"]"#);
    let mut names = Vec::new();
    for n in q {
        names.push(n);
    }
    assert_eq!(names.len(), 3);
}

#[test]
fn many_queue_names() {
    let names: Vec<String> = (0..500).map(|i| format!("queue{i}")).collect();
    let refs: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
    let mut out = Vec::new();
    rmsg_head(&mut out, b"$G", b"foo", Some(b"r"), &refs, 0, 3);
    out.extend_from_slice(b"abc\r\n");
    let lim = Limits {
        max_control_line: 1 << 16,
        ..Limits::default()
    };
    let (ops, err) = feed(&[&out], lim);
    assert_eq!(err, None);
    let Owned::Msg(m) = &ops[0] else { panic!() };
    assert_eq!(
        m.queues,
        refs.iter().map(|r| r.to_vec()).collect::<Vec<_>>()
    );
    assert_eq!(m.reply.as_deref(), Some(&b"r"[..]));
}

#[test]
fn encoders_write_what_nats_server_writes() {
    let mut out = Vec::new();
    rs_plus(&mut out, b"$G", b"foo", None);
    rs_plus(&mut out, b"$G", b"bar", Some((b"q1", 2)));
    rs_minus(&mut out, b"$G", b"foo", None);
    rs_minus(&mut out, b"$G", b"bar", Some(b"q1"));
    ls_plus(&mut out, b"leafc", b"$G", b"lq", Some((b"qq", 1)));
    ls_minus(&mut out, b"$G", b"lq", Some(b"qq"));
    rmsg_head(&mut out, b"$G", b"foo", None, &[], 0, 5);
    rmsg_head(&mut out, b"$G", b"foo", Some(b"_INBOX.r1"), &[], 0, 2);
    rmsg_head(&mut out, b"$G", b"bar", None, &[b"q1"], 0, 2);
    rmsg_head(&mut out, b"$G", b"bar", Some(b"_INBOX.r2"), &[b"q1"], 0, 2);
    rmsg_head(&mut out, b"$G", b"foo", None, &[], 12, 14);
    rmsg_head(
        &mut out,
        b"$G",
        b"bar",
        Some(b"_INBOX.x"),
        &[b"q1", b"q2"],
        12,
        14,
    );
    lmsg_head(&mut out, b"leafc", b"$G", b"fromc", None, &[], 0, 2);
    lmsg_head(
        &mut out,
        b"leafc",
        b"$G",
        b"fromcq",
        Some(b"r"),
        &[b"g"],
        0,
        2,
    );
    rmsg_head(&mut out, b"$G", b"big", None, &[], 0, 1234567890);
    let want: &[&str] = &[
        "RS+ $G foo",
        "RS+ $G bar q1 2",
        "RS- $G foo",
        "RS- $G bar q1",
        "LS+ leafc $G lq qq 1",
        "LS- $G lq qq",
        "RMSG $G foo 5",
        "RMSG $G foo _INBOX.r1 2",
        "RMSG $G bar | q1 2",
        "RMSG $G bar + _INBOX.r2 q1 2",
        "HMSG $G foo 12 14",
        "HMSG $G bar + _INBOX.x q1 q2 12 14",
        "LMSG leafc $G fromc 0 2",
        "LMSG leafc $G fromcq + r g 0 2",
        "RMSG $G big 1234567890",
    ];
    let mut joined = want.join("\r\n");
    joined.push_str("\r\n");
    assert_eq!(String::from_utf8(out).unwrap(), joined);
}

#[test]
fn encoders_reserve_exactly_once() {
    for len in [0usize, 1, 9, 10, 99, 100, usize::MAX] {
        let mut out = Vec::new();
        rmsg_head(
            &mut out,
            b"acc",
            b"s.u.b",
            Some(b"r"),
            &[b"q1", b"q22"],
            len,
            len,
        );
        assert_eq!(out.len(), out.capacity(), "{}", out.escape_ascii());
        let mut out = Vec::new();
        lmsg_head(&mut out, b"o", b"acc", b"s", None, &[b"q"], len, len);
        assert_eq!(out.len(), out.capacity());
        let mut out = Vec::new();
        rs_plus(&mut out, b"acc", b"s", Some((b"q", len as u32)));
        assert_eq!(out.len(), out.capacity());
        let mut out = Vec::new();
        ls_plus(&mut out, b"o", b"acc", b"s", Some((b"q", len as u32)));
        assert_eq!(out.len(), out.capacity());
        let mut out = Vec::new();
        rs_minus(&mut out, b"acc", b"s", Some(b"q"));
        assert_eq!(out.len(), out.capacity());
    }
}

/// A small xorshift generator: deterministic, no crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A token: 1-12 bytes of anything but separators, sometimes the markers `+` and `|`.
    fn token(&mut self) -> Vec<u8> {
        match self.below(12) {
            0 => b"+".to_vec(),
            1 => b"|".to_vec(),
            _ => (0..1 + self.below(12))
                .map(|_| loop {
                    let c = self.next() as u8;
                    if !is_sep(c) {
                        break c;
                    }
                })
                .collect(),
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Encode a random operation; returns its bytes and what the parser must give back.
fn random_op(rng: &mut Rng) -> (Vec<u8>, Owned) {
    let mut out = Vec::new();
    let account = rng.token();
    let subject = rng.token();
    let queue = (rng.below(2) == 0).then(|| rng.token());
    let weight = rng.next() as u32 >> rng.below(32);
    let op = match rng.below(8) {
        0 => {
            rs_plus(
                &mut out,
                &account,
                &subject,
                queue.as_deref().map(|q| (q, weight)),
            );
            Owned::Sub {
                leaf_origin: None,
                account,
                subject,
                queue: queue.map(|q| (q, weight)),
            }
        }
        1 => {
            let origin = rng.token();
            ls_plus(
                &mut out,
                &origin,
                &account,
                &subject,
                queue.as_deref().map(|q| (q, weight)),
            );
            Owned::Sub {
                leaf_origin: Some(origin),
                account,
                subject,
                queue: queue.map(|q| (q, weight)),
            }
        }
        2 | 3 => {
            let leaf = rng.below(2) == 0;
            if leaf {
                ls_minus(&mut out, &account, &subject, queue.as_deref());
            } else {
                rs_minus(&mut out, &account, &subject, queue.as_deref());
            }
            Owned::Unsub {
                leaf,
                account,
                subject,
                queue,
            }
        }
        4 => {
            out.extend_from_slice(if rng.below(2) == 0 {
                b"PING\r\n"
            } else {
                b"PONG\r\n"
            });
            return match out[1] {
                b'I' => (out, Owned::Ping),
                _ => (out, Owned::Pong),
            };
        }
        _ => {
            let origin = (rng.below(3) == 0).then(|| rng.token());
            let reply = (rng.below(2) == 0).then(|| rng.token());
            let queues: Vec<Vec<u8>> = (0..[0, 0, 1, 2, 5][rng.below(5)])
                .map(|_| rng.token())
                .collect();
            let qrefs: Vec<&[u8]> = queues.iter().map(|q| &q[..]).collect();
            let size = [0, 1, 2, 50, 3000][rng.below(5)];
            let header_len = if rng.below(2) == 0 {
                0
            } else {
                rng.below(size + 1)
            };
            let data = rng.bytes(size);
            match &origin {
                Some(o) => lmsg_head(
                    &mut out,
                    o,
                    &account,
                    &subject,
                    reply.as_deref(),
                    &qrefs,
                    header_len,
                    size,
                ),
                None => rmsg_head(
                    &mut out,
                    &account,
                    &subject,
                    reply.as_deref(),
                    &qrefs,
                    header_len,
                    size,
                ),
            }
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\r\n");
            Owned::Msg(OwnedMsg {
                origin,
                account,
                subject,
                reply,
                queues,
                header_len,
                data,
            })
        }
    };
    (out, op)
}

#[test]
fn random_encoder_round_trips() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..300 {
        let mut input = Vec::new();
        let mut want = Vec::new();
        for _ in 0..1 + rng.below(20) {
            let (bytes, op) = random_op(&mut rng);
            input.extend_from_slice(&bytes);
            want.push(op);
        }
        let want = (want, None);
        assert_eq!(whole(&input), want, "round {round}");
        // The same bytes in random pieces.
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let scale = [3, 40, 700][rng.below(3)];
            let len = 1 + rng.below(scale);
            let end = (at + len).min(input.len());
            chunks.push(&input[at..end]);
            at = end;
        }
        assert_eq!(feed(&chunks, Limits::default()), want, "round {round}");
    }
}

#[test]
fn unknown_ops_fail_at_the_first_wrong_byte() {
    for (bad, at) in [
        (&b"X"[..], 0),
        (b"RX", 1),
        (b"RS*", 2),
        (b"RS+X", 3),
        (b"RMSGX", 4),
        (b"PUB foo 1\r\n", 1),
        (b"SUB foo 1\r\n", 0),
        (b"MSG foo 1 1\r\n", 0),
        (b"\r\n", 0),
        (b" PING\r\n", 0),
        (b"PIN\r\n", 3),
        (b"-ERR\r\n", 4),
        (b"RS+\r\n", 3),
        (b"LS-\n", 3),
        (b"A+ $G\r\n", 0),
        (b"PING\r\nX", 6),
    ] {
        let mut p = Parser::default();
        let mut pos = 0;
        let res = loop {
            match p.next_op(bad, &mut pos) {
                Ok(Some(_)) => continue,
                other => break other,
            }
        };
        assert_eq!(res, Err(Error::UnknownOp), "{}", bad.escape_ascii());
        assert_eq!(pos, at, "{}", bad.escape_ascii());
    }
    // Trailing junk after PING is ignored up to the newline, as in the client protocol.
    assert_eq!(ok(b"PINGX\r\n"), [Owned::Ping]);
    assert_eq!(ok(b"pong foo\r\n"), [Owned::Pong]);
    // INFO and CONNECT need no blank before their argument; an empty one is empty.
    assert_eq!(ok(b"INFO{}\r\n"), [Owned::Info(b("{}"))]);
    assert_eq!(ok(b"CONNECT\r\n"), [Owned::Connect(b(""))]);
    assert_eq!(ok(b"-ERR \r\n"), [Owned::Err(b(""))]);
}

#[test]
fn bad_arguments() {
    for bad in [
        &b"RS+ $G\r\n"[..],
        b"RS+ $G foo q\r\n",
        b"RS+ $G foo q 1 x\r\n",
        b"RS+ $G foo q x\r\n",
        b"RS+ $G foo q -1\r\n",
        b"RS+ $G foo q 4294967296\r\n",
        b"RS+  \r\n",
        b"LS+ o $G\r\n",
        b"LS+ $G foo q 1\r\n",
        b"RS- $G\r\n",
        b"RS- $G foo q x\r\n",
        b"LS- $G foo q o x\r\n",
        b"RMSG $G 5\r\n",
        b"RMSG $G foo x\r\n",
        b"RMSG $G foo r -1\r\n",
        b"RMSG $G foo ++ r q 1\r\n",
        b"RMSG $G foo * r q 1\r\n",
        b"RMSG $G foo + r q 1a\r\n",
        b"HMSG $G foo 5\r\n",
        b"HMSG $G foo 6 5\r\n",
        b"HMSG $G foo x 5\r\n",
        b"HMSG $G foo r 1 x\r\n",
        b"HMSG $G foo ! q1 q2 1 2\r\n",
        b"LMSG o $G foo 5\r\n",
        b"LMSG o $G foo 3 2\r\n",
        b"LMSG o $G foo # q 1 2\r\n",
        b"RMSG\t\r\n",
        b"RMSG $G foo 1 1 1\r\n",
    ] {
        match whole(bad).1 {
            Some(Error::BadArgs(text)) => {
                assert!(text.contains('\''), "{text}");
            }
            other => panic!("{}: {other:?}", bad.escape_ascii()),
        }
    }
    // The text names the Go function that would have refused it, and shows the line.
    assert_eq!(
        whole(b"RMSG $G foo x\r\n").1,
        Some(Error::BadArgs(
            "processRoutedMsgArgs Bad or Missing Size: '$G foo x'".into()
        ))
    );
    assert_eq!(
        whole(b"HMSG $G foo 6 5\r\n").1.unwrap().to_string(),
        "processRoutedHeaderMsgArgs Header Size larger then TotalSize: '$G foo 6 5'"
    );
}

#[test]
fn message_shapes_nats_server_accepts() {
    // A reply marker with a reply but no queue names; a reply that is itself "+" or "|".
    assert_eq!(
        one(b"RMSG $G foo + r 1\r\nx\r\n"),
        msg("$G", "foo", Some("r"), &[], 0, "x")
    );
    assert_eq!(
        one(b"RMSG $G foo + 1\r\nx\r\n"),
        msg("$G", "foo", Some("+"), &[], 0, "x")
    );
    assert_eq!(
        one(b"RMSG $G foo | 1\r\nx\r\n"),
        msg("$G", "foo", Some("|"), &[], 0, "x")
    );
    assert_eq!(
        one(b"HMSG $G foo + r 0 1\r\nx\r\n"),
        msg("$G", "foo", Some("r"), &[], 0, "x")
    );
    // HMSG with an empty header block is a message without headers.
    assert_eq!(
        one(b"HMSG $G foo 0 1\r\nx\r\n"),
        msg("$G", "foo", None, &[], 0, "x")
    );
    // Blanks and stray CRs between arguments, blanks at the end.
    assert_eq!(
        one(b"RMSG  \t$G foo\r|  q1\tq2  1 \t\r\nx\r\n"),
        msg("$G", "foo", None, &["q1", "q2"], 0, "x")
    );
    assert_eq!(one(b"RS+ $G foo q 0\r\n"), sub("$G", "foo", Some(("q", 0))));
    assert_eq!(
        one(b"RS+ $G foo q 4294967295\r\n"),
        sub("$G", "foo", Some(("q", u32::MAX)))
    );
}

#[test]
fn payload_must_end_in_crlf() {
    for (input, at) in [
        (&b"RMSG $G foo 5\r\nhelloXX"[..], 20),
        (b"RMSG $G foo 5\r\nhello\nPING\r\n", 20),
        (b"RMSG $G foo 1\r\na\rPING\r\n", 17),
        (b"HMSG $G foo 0 0\r\nX\r\n", 17),
    ] {
        let mut p = Parser::default();
        let mut pos = 0;
        assert_eq!(p.next_op(input, &mut pos), Err(Error::BadPayloadEnd));
        assert_eq!(pos, at, "{}", input.escape_ascii());
    }
    for chunks in [
        &[&b"RMSG $G foo 1\r\na"[..], b"X"][..],
        &[b"RMSG $G foo 1\r\na\r", b"X"],
        &[b"RMSG $G foo 1\r\n", b"a\r", b"\r"],
    ] {
        assert_eq!(
            feed(chunks, Limits::default()).1,
            Some(Error::BadPayloadEnd)
        );
    }
}

#[test]
fn limits_are_enforced() {
    let lim = Limits {
        max_control_line: 16,
        max_payload: 10,
    };
    assert_eq!(
        feed(&[b"RMSG $G foo 11\r\n"], lim).1,
        Some(Error::MaxPayload)
    );
    assert_eq!(
        feed(&[b"HMSG $G foo 1 11\r\n"], lim).1,
        Some(Error::MaxPayload)
    );
    assert_eq!(feed(&[b"RMSG $G foo 10\r\n0123456789\r\n"], lim).1, None);
    // The control line is what follows the name and blanks, without the line end.
    assert_eq!(feed(&[b"RS+ $G aaaaaaaaaaaaa\r\n"], lim).1, None);
    assert_eq!(feed(&[b"RS+     $G aaaaaaaaaaaaa\n"], lim).1, None);
    for line in [
        &b"RS+ $G aaaaaaaaaaaaaa\r\n"[..],
        b"RS- $G aaaaaaaaaaaaaa\r\n",
        b"LS+ o $G aaaaaaaaaaaa\r\n",
        b"RMSG $G aaaaaaaaaaaa 1\r\n",
        b"INFO {\"server_id\":\"x\"}\r\n",
        b"CONNECT {\"lnoc\":true,\"a\":1}\r\n",
        b"-ERR 'Unknown Protocol'\r\n",
        // Over the limit before its end arrives.
        b"RS+ $G aaaaaaaaaaaaaaaaa",
    ] {
        assert_eq!(
            feed(&[line], lim).1,
            Some(Error::MaxControlLine),
            "{}",
            line.escape_ascii()
        );
    }
    // Split lines are checked as they grow, not counting a CR that may be the line end.
    assert_eq!(
        feed(&[b"RS+ $G aaaaaa", b"aaaaaaaaaaaa"], lim).1,
        Some(Error::MaxControlLine)
    );
    assert_eq!(
        feed(&[b"RS+ $G aaaaaaaaaaaaa\r", b"\nPING\r\n"], lim),
        (vec![sub("$G", "aaaaaaaaaaaaa", None), Owned::Ping], None)
    );
}

#[test]
fn large_split_payload_is_stitched() {
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut input = Vec::new();
    rmsg_head(&mut input, b"$G", b"big", None, &[b"q"], 100, payload.len());
    input.extend_from_slice(&payload);
    input.extend_from_slice(b"\r\nPING\r\n");
    let lim = Limits {
        max_payload: 1 << 20,
        ..Limits::default()
    };
    let chunks: Vec<&[u8]> = input.chunks(4096).collect();
    let (ops, err) = feed(&chunks, lim);
    assert_eq!(err, None);
    assert_eq!(
        ops,
        vec![
            Owned::Msg(OwnedMsg {
                account: b("$G"),
                subject: b("big"),
                queues: vec![b("q")],
                header_len: 100,
                data: payload,
                ..OwnedMsg::default()
            }),
            Owned::Ping
        ]
    );
}

#[test]
fn parser_releases_side_buffers() {
    let input = b"RMSG $G foo + r q 5\r\nhello\r\n";
    let mut p = Parser::default();
    for cut in 1..input.len() {
        let mut pos = 0;
        assert!(p.next_op(&input[..cut], &mut pos).unwrap().is_none());
        assert!(!p.is_idle());
        let mut pos = 0;
        let rest = &input[cut..];
        assert!(matches!(
            p.next_op(rest, &mut pos),
            Ok(Some(RouteOp::Msg(_)))
        ));
        assert!(p.next_op(rest, &mut pos).unwrap().is_none());
        assert!(p.is_idle());
    }
    // A big stitched payload is not kept once it has been handed out.
    let mut big = Vec::new();
    rmsg_head(&mut big, b"$G", b"foo", None, &[], 0, 100_000);
    big.resize(big.len() + 100_000, b'x');
    big.extend_from_slice(b"\r\n");
    let mut p = Parser::default();
    let (a, rest) = big.split_at(big.len() - 50_000);
    let mut pos = 0;
    assert!(p.next_op(a, &mut pos).unwrap().is_none());
    let mut pos = 0;
    assert!(p.next_op(rest, &mut pos).unwrap().is_some());
    assert!(p.held_bytes() > 100_000);
    let mut pos = 0;
    assert!(p.next_op(b"PING\r\n", &mut pos).unwrap().is_some());
    assert!(p.held_bytes() < 1000, "{}", p.held_bytes());
}

#[test]
fn errors_read_well() {
    assert_eq!(
        Error::UnknownOp.to_string(),
        "Route parser ERROR: Unknown Protocol Operation"
    );
    assert_eq!(
        Error::MaxControlLine.to_string(),
        "maximum control line exceeded"
    );
    assert_eq!(Error::MaxPayload.to_string(), "Maximum Payload Violation");
    assert!(Error::BadPayloadEnd.to_string().contains("CRLF"));
}
