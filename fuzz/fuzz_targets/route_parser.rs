//! Fuzz the route protocol parser and its encoders.
//!
//! Input layout: `flags`, `n`, then `n & 7` chunk lengths, then the protocol bytes.
//!
//! * `flags & 3` picks the limits: 0 default, 1 and 3 small (control line 64, payload 256),
//!   2 tiny (control line 16, payload 0).
//! * `flags & 16`: cycle the chunk lengths over the whole input; otherwise the lengths cut the
//!   front and the rest is one last chunk. `flags & 32`: feed one byte at a time instead.
//!
//! The bytes are fed once whole and once in chunks to two parsers; both must return the same
//! operations, ending at the same offsets, and the same error. Every operation must agree with an
//! independent reading of its raw bytes, respect the limits, and survive a round trip through the
//! encoders: encoded and parsed again, it is the same operation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnatsd::proto::route::{self, Error, Limits, Parser, RouteOp};

/// Owned bytes that print as an escaped string.
#[derive(PartialEq, Eq, Clone)]
struct B(Vec<u8>);

impl std::fmt::Debug for B {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

fn b(s: &[u8]) -> B {
    B(s.to_vec())
}

#[derive(Debug, PartialEq, Eq, Clone)]
enum Owned {
    Info(B),
    Connect(B),
    Ping,
    Pong,
    Ok,
    Err(B),
    Sub {
        origin: Option<B>,
        account: B,
        subject: B,
        queue: Option<(B, u32)>,
    },
    Unsub {
        leaf: bool,
        account: B,
        subject: B,
        queue: Option<B>,
    },
    Msg {
        origin: Option<B>,
        account: B,
        subject: B,
        reply: Option<B>,
        queues: Vec<B>,
        header_len: usize,
        data: B,
    },
}

fn own(op: RouteOp<'_>) -> Owned {
    match op {
        RouteOp::Info(a) => Owned::Info(b(a)),
        RouteOp::Connect(a) => Owned::Connect(b(a)),
        RouteOp::Ping => Owned::Ping,
        RouteOp::Pong => Owned::Pong,
        RouteOp::Ok => Owned::Ok,
        RouteOp::Err(a) => Owned::Err(b(a)),
        RouteOp::Sub {
            account,
            subject,
            queue,
        } => Owned::Sub {
            origin: None,
            account: b(account),
            subject: b(subject),
            queue: queue.map(|(q, w)| (b(q), w)),
        },
        RouteOp::LeafSub {
            origin,
            account,
            subject,
            queue,
        } => Owned::Sub {
            origin: Some(b(origin)),
            account: b(account),
            subject: b(subject),
            queue: queue.map(|(q, w)| (b(q), w)),
        },
        RouteOp::Unsub {
            account,
            subject,
            queue,
        } => Owned::Unsub {
            leaf: false,
            account: b(account),
            subject: b(subject),
            queue: queue.map(b),
        },
        RouteOp::LeafUnsub {
            account,
            subject,
            queue,
        } => Owned::Unsub {
            leaf: true,
            account: b(account),
            subject: b(subject),
            queue: queue.map(b),
        },
        RouteOp::Msg(m) => Owned::Msg {
            origin: m.origin.map(b),
            account: b(m.account),
            subject: b(m.subject),
            reply: m.reply.map(b),
            queues: m.queues.iter().map(b).collect(),
            header_len: m.header_len,
            data: b(m.data),
        },
    }
}

/// What one feeding produced: each operation with the input offset just past it, and the error
/// (with the absolute offset `pos` was left at) if parsing stopped.
#[derive(PartialEq, Eq)]
struct Run {
    ops: Vec<(Owned, usize)>,
    err: Option<(Error, usize)>,
    idle: bool,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (op, end) in &self.ops {
            writeln!(f, "    {op:?} (ends at {end})")?;
        }
        writeln!(f, "    error: {:?}, idle: {}", self.err, self.idle)
    }
}

fn limits_for(flags: u8) -> Limits {
    let (max_control_line, max_payload) = match flags & 3 {
        0 => (4096, 1024 * 1024),
        2 => (16, 0),
        _ => (64, 256),
    };
    Limits {
        max_control_line,
        max_payload,
    }
}

/// Feed `input` cut into chunks of the given lengths (which add up to `input.len()`).
fn feed(input: &[u8], chunks: &[usize], lim: Limits) -> Run {
    let mut p = Parser::new(lim);
    let mut ops = Vec::new();
    // The caller's read buffer, reused and scribbled over between reads as a server would.
    let mut buf: Vec<u8> = Vec::new();
    let mut base = 0;
    // Side buffers hold at most a control line (plus the read that overflowed it) and one
    // payload; capacity can double, and a payload buffer up to 64 KiB is kept for reuse.
    let held_bound = 2 * (lim.max_control_line + lim.max_payload + input.len()) + 64 * 1024 + 64;
    for &len in chunks {
        buf.clear();
        buf.extend_from_slice(&input[base..base + len]);
        let mut pos = 0;
        loop {
            let before = pos;
            let res = p.next_op(&buf, &mut pos).map(|o| o.map(own));
            assert!(pos <= buf.len(), "pos {pos} past the chunk ({})", buf.len());
            assert!(
                p.held_bytes() <= held_bound,
                "side buffers grew to {}",
                p.held_bytes()
            );
            match res {
                Ok(Some(op)) => {
                    assert!(pos > before, "an operation consumed no bytes");
                    ops.push((op, base + pos));
                }
                Ok(None) => {
                    assert_eq!(pos, buf.len(), "Ok(None) must use up the chunk");
                    break;
                }
                Err(e) => {
                    return Run {
                        ops,
                        err: Some((e, base + pos)),
                        idle: p.is_idle(),
                    };
                }
            }
        }
        buf.fill(0xA5);
        base += len;
    }
    assert_eq!(base, input.len());
    Run {
        ops,
        err: None,
        idle: p.is_idle(),
    }
}

/// Chunk lengths from the header bytes; returns the flags, the lengths and the protocol bytes.
fn split_input(data: &[u8]) -> Option<(u8, Vec<usize>, &[u8])> {
    let (&flags, rest) = data.split_first()?;
    let (&n, rest) = rest.split_first()?;
    let n = (n & 7) as usize;
    if rest.len() < n {
        return None;
    }
    let (lens, input) = rest.split_at(n);
    let mut chunks = Vec::new();
    let mut left = input.len();
    if flags & 32 != 0 {
        chunks = vec![1; input.len()];
        left = 0;
    } else if flags & 16 != 0 && lens.iter().any(|&l| l != 0) {
        'outer: loop {
            for &l in lens {
                let l = (l as usize).min(left);
                chunks.push(l);
                left -= l;
                if left == 0 {
                    break 'outer;
                }
            }
        }
    } else {
        for &l in lens {
            let l = (l as usize).min(left);
            chunks.push(l);
            left -= l;
        }
    }
    chunks.push(left);
    Some((flags, chunks, input))
}

const KWS: [&[u8]; 13] = [
    b"INFO", b"CONNECT", b"PING", b"PONG", b"+OK", b"-ERR", b"RS+", b"RS-", b"LS+", b"LS-",
    b"RMSG", b"HMSG", b"LMSG",
];

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn model_tokens(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .filter(|t| !t.is_empty())
        .collect()
}

fn model_size(t: &[u8]) -> Option<usize> {
    if t.is_empty() || t.len() > 18 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

/// Read one successful operation's raw bytes independently of the parser and check that the
/// parser saw the same thing, within the limits.
fn check_op(op: &Owned, raw: &[u8], lim: &Limits) {
    let kw = *KWS
        .iter()
        .find(|k| raw.len() >= k.len() && raw[..k.len()].eq_ignore_ascii_case(k))
        .unwrap_or_else(|| panic!("{op:?} from raw bytes with no keyword: {:?}", b(raw)));
    let rest = &raw[kw.len()..];
    let nl = rest.iter().position(|&c| c == b'\n').expect("a newline");
    if matches!(kw, b"PING" | b"PONG" | b"+OK") {
        let want = match kw {
            b"PING" => Owned::Ping,
            b"PONG" => Owned::Pong,
            _ => Owned::Ok,
        };
        assert_eq!(*op, want);
        assert_eq!(nl, rest.len() - 1, "bytes left after the newline");
        return;
    }
    let first = rest.iter().position(|&c| !is_blank(c)).expect("arguments");
    if !matches!(kw, b"CONNECT" | b"INFO") {
        assert!(first > 0, "{op:?}: no blank after the operation name");
    }
    let line = &rest[first..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = &rest[nl + 1..];
    assert!(
        line.len() <= lim.max_control_line,
        "control line of {} bytes over the limit {}",
        line.len(),
        lim.max_control_line
    );
    let toks = model_tokens(line);
    let bs = |t: &[&[u8]]| t.iter().map(|t| b(t)).collect::<Vec<_>>();
    match op {
        Owned::Info(a) | Owned::Connect(a) | Owned::Err(a) => {
            let want: &[u8] = match op {
                Owned::Info(_) => b"INFO",
                Owned::Connect(_) => b"CONNECT",
                _ => b"-ERR",
            };
            assert_eq!(kw, want);
            assert_eq!(a.0, line);
            assert!(body.is_empty());
        }
        Owned::Sub {
            origin,
            account,
            subject,
            queue,
        } => {
            assert_eq!(
                kw,
                if origin.is_some() {
                    &b"LS+"[..]
                } else {
                    b"RS+"
                }
            );
            let mut want: Vec<B> = origin.iter().cloned().collect();
            want.extend([account.clone(), subject.clone()]);
            if let Some((q, w)) = queue {
                assert_eq!(model_size(toks[toks.len() - 1]), Some(*w as usize));
                want.push(q.clone());
                want.push(b(toks[toks.len() - 1]));
            }
            assert_eq!(bs(&toks), want);
            assert!(body.is_empty());
        }
        Owned::Unsub {
            leaf,
            account,
            subject,
            queue,
        } => {
            assert_eq!(kw, if *leaf { &b"LS-"[..] } else { b"RS-" });
            let mut want = vec![account.clone(), subject.clone()];
            want.extend(queue.iter().cloned());
            assert_eq!(bs(&toks), want);
            assert!(body.is_empty());
        }
        Owned::Msg {
            origin,
            account,
            subject,
            reply,
            queues,
            header_len,
            data,
        } => {
            let (base, sizes) = match kw {
                b"RMSG" => (2, 1),
                b"HMSG" => (2, 2),
                b"LMSG" => (3, 2),
                _ => panic!("message from {:?}", b(kw)),
            };
            assert!(data.0.len() <= lim.max_payload, "payload over the limit");
            let n = toks.len();
            assert!(n >= base + sizes);
            assert_eq!(
                origin.as_ref().map(|o| o.0.as_slice()),
                (base == 3).then(|| toks[0])
            );
            assert_eq!(account.0, toks[base - 2]);
            assert_eq!(subject.0, toks[base - 1]);
            let (want_reply, want_queues): (Option<&[u8]>, &[&[u8]]) = if n == base + sizes {
                (None, &[])
            } else if n == base + sizes + 1 {
                (Some(toks[base]), &[])
            } else if toks[base] == b"+" {
                (Some(toks[base + 1]), &toks[base + 2..n - sizes])
            } else {
                assert_eq!(toks[base], b"|");
                (None, &toks[base + 1..n - sizes])
            };
            assert_eq!(reply.as_ref().map(|r| r.0.as_slice()), want_reply);
            assert_eq!(*queues, bs(want_queues));
            let size = model_size(toks[n - 1]).expect("a size");
            let hdr = if sizes == 2 {
                model_size(toks[n - 2]).expect("a header size")
            } else {
                0
            };
            assert_eq!((*header_len, data.0.len()), (hdr, size));
            assert_eq!(body.len(), size + 2);
            assert_eq!(&body[..size], data.0.as_slice());
            assert_eq!(&body[size..], b"\r\n");
        }
        Owned::Ping | Owned::Pong | Owned::Ok => unreachable!(),
    }
}

/// Write an operation back with the encoders.
fn encode(op: &Owned, out: &mut Vec<u8>) {
    match op {
        Owned::Info(a) | Owned::Connect(a) | Owned::Err(a) => {
            out.extend_from_slice(match op {
                Owned::Info(_) => b"INFO ",
                Owned::Connect(_) => b"CONNECT ",
                _ => b"-ERR ",
            });
            out.extend_from_slice(&a.0);
            out.extend_from_slice(b"\r\n");
        }
        Owned::Ping => out.extend_from_slice(b"PING\r\n"),
        Owned::Pong => out.extend_from_slice(b"PONG\r\n"),
        Owned::Ok => out.extend_from_slice(b"+OK\r\n"),
        Owned::Sub {
            origin,
            account,
            subject,
            queue,
        } => {
            let q = queue.as_ref().map(|(q, w)| (q.0.as_slice(), *w));
            match origin {
                Some(o) => route::ls_plus(out, &o.0, &account.0, &subject.0, q),
                None => route::rs_plus(out, &account.0, &subject.0, q),
            }
        }
        Owned::Unsub {
            leaf,
            account,
            subject,
            queue,
        } => {
            let q = queue.as_ref().map(|q| q.0.as_slice());
            if *leaf {
                route::ls_minus(out, &account.0, &subject.0, q);
            } else {
                route::rs_minus(out, &account.0, &subject.0, q);
            }
        }
        Owned::Msg {
            origin,
            account,
            subject,
            reply,
            queues,
            header_len,
            data,
        } => {
            let qs: Vec<&[u8]> = queues.iter().map(|q| q.0.as_slice()).collect();
            let reply = reply.as_ref().map(|r| r.0.as_slice());
            let total = data.0.len();
            match origin {
                Some(o) => route::lmsg_head(
                    out,
                    &o.0,
                    &account.0,
                    &subject.0,
                    reply,
                    &qs,
                    *header_len,
                    total,
                ),
                None => {
                    route::rmsg_head(out, &account.0, &subject.0, reply, &qs, *header_len, total)
                }
            }
            out.extend_from_slice(&data.0);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((flags, chunks, input)) = split_input(data) else {
        return;
    };
    let lim = limits_for(flags);
    let whole = feed(input, &[input.len()], lim);
    let split = feed(input, &chunks, lim);

    // Every operation the whole feed returned is checked against its raw bytes, and comes back
    // the same from its encoding (never longer than the original, so within the same limits).
    let mut start = 0;
    let mut encoded = Vec::new();
    for (op, end) in &whole.ops {
        let raw = &input[start..*end];
        check_op(op, raw, &lim);
        start = *end;
        encoded.clear();
        encode(op, &mut encoded);
        let again = feed(&encoded, &[encoded.len()], lim);
        assert_eq!(
            again.ops.iter().map(|(o, _)| o).collect::<Vec<_>>(),
            [op],
            "round trip of {:?} through {:?}: {again:?}",
            b(raw),
            b(&encoded)
        );
        assert!(again.err.is_none() && again.idle);
    }
    if whole.err.is_none() {
        // Nothing left over means nothing partial held, and the other way round.
        let rest = &input[start..];
        assert_eq!(
            whole.idle,
            rest.is_empty(),
            "idle with {:?} unparsed",
            b(rest)
        );
    }

    if whole == split {
        return;
    }
    // A line over the limit is found as soon as enough of it has arrived, so where depends on
    // the cuts; every other error is found at the same place.
    let same_ops = whole.ops == split.ops;
    let same_err = match (&whole.err, &split.err) {
        (Some((Error::MaxControlLine, _)), Some((Error::MaxControlLine, _))) => true,
        (a, b) => a == b,
    };
    if same_ops && same_err && (whole.err.is_some() || whole.idle == split.idle) {
        return;
    }
    panic!(
        "splitting changed the result\ninput: {:?}\nchunks: {chunks:?}\nlimits: {lim:?}\n\
         whole:\n{whole:?}split:\n{split:?}",
        b(input)
    );
});
