//! The sending side of a run: publishers (a stream of PUBs in large writes, then a PING whose
//! PONG says the server has taken them all) and requesters (one request in flight, each round
//! trip timed into a histogram).

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::hist::Histogram;
use crate::wire::{aborted, push_decimal, server_error, write_all, Conn, Op, PubFrames};
use crate::{Config, Outcome, Shared};

/// The publishers' final PONG must come within this (the server has a backlog to route first).
const PONG_LIMIT: Duration = Duration::from_secs(30);
/// A request unanswered this long fails the run.
const REQUEST_LIMIT: Duration = Duration::from_secs(5);

/// A publisher, connected, before the clock starts.
pub struct Publisher {
    conn: Conn,
    frames: PubFrames,
    count: u64,
}

pub fn publisher_setup(cfg: &Config, shared: &Shared, count: u64) -> io::Result<Publisher> {
    let conn = Conn::connect(&cfg.addr, &shared.abort)?;
    check_size(&conn, cfg.size)?;
    Ok(Publisher {
        conn,
        frames: PubFrames::new(&cfg.subject, cfg.size),
        count,
    })
}

pub fn publisher_run(mut p: Publisher, shared: &Shared) -> io::Result<Outcome> {
    let written = p
        .frames
        .write(&p.conn.stream, p.count, &shared.published)
        .and_then(|_| p.conn.write(b"PING\r\n"));
    if let Err(e) = written {
        return Err(p.conn.explain(e));
    }
    p.conn.wait_pong(PONG_LIMIT, &shared.abort)?;
    Ok(Outcome::new(Instant::now(), p.count))
}

/// A requester, subscribed to its inbox, before the clock starts.
pub struct Requester {
    conn: Conn,
    count: u64,
    size: usize,
    /// The request being built: `PUB subject _INBOX.<token>.` (then the request number).
    frame: Vec<u8>,
    prefix_len: usize,
    /// Where the reply subject starts in `frame`.
    inbox_at: usize,
    /// ` size\r\n` + payload + `\r\n`.
    tail: Vec<u8>,
    subject: String,
}

pub fn requester_setup(
    cfg: &Config,
    shared: &Shared,
    index: usize,
    count: u64,
) -> io::Result<Requester> {
    let mut conn = Conn::connect(&cfg.addr, &shared.abort)?;
    check_size(&conn, cfg.size)?;
    let inbox = format!("_INBOX.{}", inbox_token(index));
    conn.write(format!("SUB {inbox}.* 1\r\nPING\r\n").as_bytes())?;
    conn.wait_pong(PONG_LIMIT, &shared.abort)?;
    let mut frame = format!("PUB {} ", cfg.subject).into_bytes();
    let inbox_at = frame.len();
    frame.extend_from_slice(inbox.as_bytes());
    frame.push(b'.');
    let prefix_len = frame.len();
    let mut tail = format!(" {}\r\n", cfg.size).into_bytes();
    tail.resize(tail.len() + cfg.size, b'x');
    tail.extend_from_slice(b"\r\n");
    frame.reserve(20 + tail.len());
    Ok(Requester {
        conn,
        count,
        size: cfg.size,
        frame,
        prefix_len,
        inbox_at,
        tail,
        subject: cfg.subject.clone(),
    })
}

pub fn requester_run(mut r: Requester, shared: &Shared) -> io::Result<Outcome> {
    let mut hist = Histogram::new();
    let mut late = 0u64;
    for n in 0..r.count {
        r.frame.truncate(r.prefix_len);
        push_decimal(&mut r.frame, n);
        let inbox_end = r.frame.len();
        r.frame.extend_from_slice(&r.tail);
        let sent = Instant::now();
        if let Err(e) = r.conn.write(&r.frame) {
            return Err(r.conn.explain(e));
        }
        shared.published.fetch_add(1, Ordering::Relaxed);
        let reply_to = &r.frame[r.inbox_at..inbox_end];
        'reply: loop {
            while let Some(op) = r.conn.rb.next_op()? {
                match op {
                    Op::Msg {
                        subject, payload, ..
                    } => {
                        if subject != reply_to {
                            late += 1; // another responder's answer to an earlier request
                            continue;
                        }
                        let rtt = sent.elapsed();
                        if payload.len() != r.size {
                            return Err(io::Error::other(format!(
                                "reply to request {n} has {} bytes, not {}",
                                payload.len(),
                                r.size
                            )));
                        }
                        hist.record(rtt.as_nanos().try_into().unwrap_or(u64::MAX));
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        break 'reply;
                    }
                    Op::Ping => write_all(&r.conn.stream, b"PONG\r\n")?,
                    Op::Err(e) => return Err(server_error(e)),
                    _ => {}
                }
            }
            let got = r.conn.fill()?;
            if !got && shared.abort.load(Ordering::Relaxed) {
                return Err(aborted());
            }
            if sent.elapsed() >= REQUEST_LIMIT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "request {n} on {:?} unanswered for {} s: is a responder running \
                         (--sub N --reply here, or elsewhere)?",
                        r.subject,
                        REQUEST_LIMIT.as_secs()
                    ),
                ));
            }
        }
    }
    let mut o = Outcome::new(Instant::now(), r.count);
    o.hist = Some(hist);
    o.late = late;
    Ok(o)
}

/// Fail early, and clearly, on a payload the server would refuse.
fn check_size(conn: &Conn, size: usize) -> io::Result<()> {
    match conn.max_payload {
        Some(max) if size as u64 > max => Err(io::Error::other(format!(
            "--size {size} is over the server's max_payload ({max} bytes)"
        ))),
        _ => Ok(()),
    }
}

/// A token for a requester's inbox, unique per process, thread and moment (splitmix64 of
/// the clock, the pid and the requester's index).
fn inbox_token(index: usize) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = now
        ^ (u64::from(std::process::id()) << 32)
        ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = String::with_capacity(22);
    for _ in 0..2 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.push_str(&format!("{z:016x}"));
    }
    out
}
