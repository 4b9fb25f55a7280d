//! Fuzz the client protocol parser.
//!
//! Input layout: `flags`, `n`, then `n & 7` chunk lengths, then the protocol bytes.
//!
//! * `flags & 3` picks the limits: 0 default, 1 and 3 small (control line 64, payload 256),
//!   2 tiny (control line 16, payload 0).
//! * `flags & 4`: headers allowed from the start; `flags & 8`: headers switched on after each
//!   CONNECT (what the server does once CONNECT negotiates them).
//! * `flags & 16`: cycle the chunk lengths over the whole input; otherwise the lengths cut the
//!   front and the rest is one last chunk. `flags & 32`: feed one byte at a time instead.
//!
//! The bytes are fed once whole and once in chunks to two parsers. Both must return the same
//! operations, ending at the same offsets, and the same error. Every operation must also agree
//! with an independent reading of its raw bytes (declared sizes, argument splitting) and respect
//! the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnatsd::proto::client::{Error, Limits, Op, Parser};

/// Owned bytes that print as an escaped string.
#[derive(PartialEq, Eq, Clone)]
struct B(Vec<u8>);

impl std::fmt::Debug for B {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl std::ops::Deref for B {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl B {
    fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

fn b(s: &[u8]) -> B {
    B(s.to_vec())
}

#[derive(Debug, PartialEq, Eq, Clone)]
enum Owned {
    Connect(B),
    Info(B),
    Pub {
        subject: B,
        reply: Option<B>,
        header_len: usize,
        data: B,
    },
    Sub {
        subject: B,
        queue: Option<B>,
        sid: B,
    },
    Unsub {
        sid: B,
        max: Option<usize>,
    },
    Ping,
    Pong,
    Ok,
    Err(B),
}

fn own(op: Op<'_>) -> Owned {
    match op {
        Op::Connect(a) => Owned::Connect(b(a)),
        Op::Info(a) => Owned::Info(b(a)),
        Op::Pub(m) => Owned::Pub {
            subject: b(m.subject),
            reply: m.reply.map(b),
            header_len: m.header_len,
            data: b(m.data),
        },
        Op::Sub {
            subject,
            queue,
            sid,
        } => Owned::Sub {
            subject: b(subject),
            queue: queue.map(b),
            sid: b(sid),
        },
        Op::Unsub { sid, max } => Owned::Unsub { sid: b(sid), max },
        Op::Ping => Owned::Ping,
        Op::Pong => Owned::Pong,
        Op::Ok => Owned::Ok,
        Op::Err(a) => Owned::Err(b(a)),
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
        headers: flags & 4 != 0,
        expect_connect: false,
    }
}

/// Feed `input` cut into chunks of the given lengths (which add up to `input.len()`).
fn feed(input: &[u8], chunks: &[usize], lim: Limits, headers_on_connect: bool) -> Run {
    let mut p = Parser::new(lim);
    let mut ops = Vec::new();
    // The caller's read buffer, reused and scribbled over between reads as a server would.
    let mut buf: Vec<u8> = Vec::new();
    let mut base = 0;
    // Side buffers may hold at most a control line (plus the read that overflowed it) and one
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
                    if headers_on_connect && matches!(op, Owned::Connect(_)) {
                        p.limits.headers = true;
                    }
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

/// Chunk lengths from the header bytes; returns them and the protocol bytes.
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

const KWS: [&[u8]; 10] = [
    b"CONNECT", b"HPUB", b"PUB", b"UNSUB", b"SUB", b"PING", b"PONG", b"INFO", b"+OK", b"-ERR",
];

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// nats-server drops the line's last byte when a CR appears after the first argument byte.
fn model_drop_cr(line: &[u8]) -> &[u8] {
    if line.len() > 1 && line[1..].contains(&b'\r') {
        &line[..line.len() - 1]
    } else {
        line
    }
}

/// PUB/HPUB arguments split on blanks; SUB/UNSUB ones (nats-server's splitArg) on CR and LF too.
fn model_tokens<'a>(line: &'a [u8], kw: &[u8]) -> Vec<&'a [u8]> {
    let crlf_too = kw == b"SUB" || kw == b"UNSUB";
    line.split(|&b| is_blank(b) || (crlf_too && (b == b'\r' || b == b'\n')))
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
    let kw = KWS
        .iter()
        .find(|k| raw.len() >= k.len() && raw[..k.len()].eq_ignore_ascii_case(k))
        .unwrap_or_else(|| {
            panic!(
                "operation {op:?} from raw bytes with no keyword: {:?}",
                b(raw)
            )
        });
    let rest = &raw[kw.len()..];
    if matches!(*kw, b"PING" | b"PONG" | b"+OK") {
        let want = match *kw {
            b"PING" => Owned::Ping,
            b"PONG" => Owned::Pong,
            _ => Owned::Ok,
        };
        assert_eq!(*op, want);
        assert_eq!(rest.iter().position(|&b| b == b'\n'), Some(rest.len() - 1));
        return;
    }
    // The first non-blank byte starts the arguments and is taken whatever it is.
    let first = rest.iter().position(|&b| !is_blank(b)).expect("arguments");
    if !matches!(*kw, b"CONNECT" | b"INFO") {
        assert!(first > 0, "{op:?}: no blank after the operation name");
    }
    let nl = first
        + 1
        + rest[first + 1..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("control line ends in a newline");
    let line = model_drop_cr(&rest[first..nl]);
    let body = &rest[nl + 1..];
    let toks = model_tokens(line, kw);
    // nats-server 2.9 checks every control line, CONNECT, INFO and -ERR included, once complete.
    assert!(
        line.len() <= lim.max_control_line,
        "{} control line of {} bytes accepted over max_control_line {}",
        String::from_utf8_lossy(kw),
        line.len(),
        lim.max_control_line
    );
    match op {
        Owned::Connect(a) => {
            assert_eq!(*kw, b"CONNECT");
            assert_eq!(a.as_slice(), line);
        }
        Owned::Info(a) => {
            assert_eq!(*kw, b"INFO");
            assert_eq!(a.as_slice(), line);
        }
        Owned::Err(a) => {
            assert_eq!(*kw, b"-ERR");
            assert_eq!(a.as_slice(), line);
        }
        Owned::Sub {
            subject,
            queue,
            sid,
        } => {
            assert_eq!(*kw, b"SUB");
            let want: Vec<&[u8]> = match queue {
                None => vec![subject.as_slice(), sid],
                Some(q) => vec![subject.as_slice(), q, sid],
            };
            assert_eq!(toks, want);
        }
        Owned::Unsub { sid, max } => {
            assert_eq!(*kw, b"UNSUB");
            match toks.as_slice() {
                [s] => assert_eq!((*s, *max), (sid.as_slice(), None)),
                [s, m] => {
                    assert_eq!(*s, sid.as_slice());
                    assert_eq!(*max, Some(model_size(m).unwrap_or(0)));
                }
                t => panic!("UNSUB with {} arguments accepted", t.len()),
            }
        }
        Owned::Pub {
            subject,
            reply,
            header_len,
            data,
        } => {
            let hpub = *kw == b"HPUB";
            assert!(hpub || *kw == b"PUB");
            assert!(data.len() <= lim.max_payload, "payload over the limit");
            assert!(*header_len <= data.len());
            let fixed = if hpub { 3 } else { 2 };
            assert!(toks.len() == fixed || toks.len() == fixed + 1, "{toks:?}");
            assert_eq!(toks[0], subject.as_slice());
            let want_reply = (toks.len() == fixed + 1).then(|| toks[1]);
            assert_eq!(want_reply, reply.as_deref());
            let size = model_size(toks[toks.len() - 1]).expect("declared size");
            assert_eq!(
                data.len(),
                size,
                "payload length differs from the declared size"
            );
            if hpub {
                let h = model_size(toks[toks.len() - 2]).expect("declared header size");
                assert_eq!(*header_len, h);
            } else {
                assert_eq!(*header_len, 0);
            }
            assert_eq!(body.len(), size + 2);
            assert_eq!(&body[..size], data.as_slice());
            assert_eq!(&body[size..], b"\r\n");
        }
        Owned::Ping | Owned::Pong | Owned::Ok => unreachable!(),
    }
}


fuzz_target!(|data: &[u8]| {
    let Some((flags, chunks, input)) = split_input(data) else {
        return;
    };
    let lim = limits_for(flags);
    let on_connect = flags & 8 != 0;
    let whole = feed(input, &[input.len()], lim, on_connect);
    let split = feed(input, &chunks, lim, on_connect);

    // Every operation the whole feed returned is checked against its raw bytes.
    let mut start = 0;
    for (op, end) in &whole.ops {
        check_op(op, &input[start..*end], &lim);
        start = *end;
    }
    if whole.err.is_none() {
        // Nothing left over means nothing partial held, and the other way round.
        let rest = &input[start..];
        assert_eq!(whole.idle, rest.is_empty(), "idle with {rest:?} unparsed");
    }

    if whole == split {
        return;
    }
    // Positions are only meaningful for errors at a byte; BadArgs and the limits report the line.
    let same_ops = whole.ops == split.ops;
    let same_err = match (&whole.err, &split.err) {
        (Some((Error::UnknownOp, a)), Some((Error::UnknownOp, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b,
        (None, None) => true,
        _ => false,
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
