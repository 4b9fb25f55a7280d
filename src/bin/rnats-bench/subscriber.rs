//! The receiving side of a run: subscribers that count messages, and responders (`--reply`)
//! that answer every message carrying a reply subject with its own payload, the answers to one
//! read buffer going out in one write. With `--queue` they all join the queue group
//! `rnats-bench` and share one count, so the run ends when the group has `--msgs`.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::wire::{aborted, push_decimal, server_error, write_all, Conn, Op, READ_BUF};
use crate::{Config, Outcome, Shared};

pub const QUEUE_GROUP: &str = "rnats-bench";
/// Once messages flow (or this process's publishers are done), this long with nothing fails
/// the run: the server dropped messages, or the other side died.
const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// With `--sub-server`, a subscription must reach the publishers' server within this.
const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// PONGs during setup (and the responders' final flush) must come within this.
const PONG_LIMIT: Duration = Duration::from_secs(10);

/// Connect and subscribe; return once the server has confirmed the subscription (and, across
/// a cluster, once it has reached the publishers' server).
pub fn subscriber_setup(cfg: &Config, shared: &Shared) -> io::Result<Conn> {
    let addr = cfg.sub_addr.as_deref().unwrap_or(&cfg.addr);
    let mut conn = Conn::connect(addr, &shared.abort)?;
    let sub = if cfg.queue {
        format!("SUB {} {QUEUE_GROUP} 1\r\n", cfg.subject)
    } else {
        format!("SUB {} 1\r\n", cfg.subject)
    };
    let Some(probe) = &cfg.probe else {
        conn.write(format!("{sub}PING\r\n").as_bytes())?;
        return conn.wait_pong(PONG_LIMIT, &shared.abort).map(|_| conn);
    };
    conn.write(format!("SUB {probe} 2\r\n{sub}PING\r\n").as_bytes())?;
    conn.wait_pong(PONG_LIMIT, &shared.abort)?;
    let deadline = Instant::now() + PROBE_LIMIT;
    'probe: loop {
        while let Some(op) = conn.rb.next_op()? {
            match op {
                Op::Msg { subject, .. } if subject == probe.as_bytes() => break 'probe,
                Op::Ping => write_all(&conn.stream, b"PONG\r\n")?,
                Op::Err(e) => return Err(server_error(e)),
                _ => {}
            }
        }
        if !conn.fill()? {
            if shared.abort.load(Ordering::Relaxed) {
                return Err(aborted());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the subscription on {addr} did not reach the publishers' server {} \
                         within {} s (are the servers routed?)",
                        cfg.addr,
                        PROBE_LIMIT.as_secs()
                    ),
                ));
            }
        }
    }
    // Probes that arrived before the UNSUB come first, then the PONG.
    conn.write(b"UNSUB 2\r\nPING\r\n")?;
    conn.wait_pong(PONG_LIMIT, &shared.abort)?;
    Ok(conn)
}

/// Receive (and with `--reply`, answer) until this subscriber, or with `--queue` the group,
/// has `--msgs` messages.
pub fn subscriber_run(mut conn: Conn, cfg: &Config, shared: &Shared) -> io::Result<Outcome> {
    let want = cfg.msgs;
    let mut got = 0u64;
    let mut out = Vec::with_capacity(if cfg.reply { 2 * READ_BUF } else { 256 });
    let mut last_read = Instant::now();
    let mut last_msg = last_read;
    while got < want {
        let got_more = conn
            .fill()
            .map_err(|e| io::Error::new(e.kind(), format!("{e} after {got} of {want} messages")))?;
        if !got_more {
            if shared.abort.load(Ordering::Relaxed) {
                return Err(aborted());
            }
            if cfg.queue && shared.group.load(Ordering::Acquire) >= want {
                break; // another member took the last one
            }
            let publishers_done = cfg.pubs > 0 && shared.pubs_running.load(Ordering::Acquire) == 0;
            if (got > 0 || publishers_done) && last_read.elapsed() >= IDLE_LIMIT {
                let so_far = if cfg.queue {
                    format!(
                        "the queue group received {}",
                        shared.group.load(Ordering::Relaxed)
                    )
                } else {
                    format!("received {got}")
                };
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{so_far} of {want} messages, then nothing for {} s \
                         (did the server drop messages?)",
                        IDLE_LIMIT.as_secs()
                    ),
                ));
            }
            continue;
        }
        let mut n = 0u64;
        while let Some(op) = conn.rb.next_op()? {
            match op {
                Op::Msg { reply, payload, .. } => {
                    n += 1;
                    if let (true, Some(reply)) = (cfg.reply, reply) {
                        out.extend_from_slice(b"PUB ");
                        out.extend_from_slice(reply);
                        out.push(b' ');
                        push_decimal(&mut out, payload.len() as u64);
                        out.extend_from_slice(b"\r\n");
                        out.extend_from_slice(payload);
                        out.extend_from_slice(b"\r\n");
                    }
                }
                Op::Ping => out.extend_from_slice(b"PONG\r\n"),
                Op::Err(e) => {
                    return Err(io::Error::other(format!(
                        "{} after {got} messages",
                        server_error(e)
                    )))
                }
                _ => {}
            }
        }
        if !out.is_empty() {
            if let Err(e) = write_all(&conn.stream, &out) {
                return Err(conn.explain(e));
            }
            out.clear();
        }
        last_read = Instant::now();
        if n > 0 {
            last_msg = last_read;
            got += n;
            if !cfg.request {
                shared.received.fetch_add(n, Ordering::Relaxed);
            }
            if cfg.queue && shared.group.fetch_add(n, Ordering::AcqRel) + n >= want {
                break;
            }
        }
    }
    if cfg.reply {
        // The answers are written; a PONG says the server has taken them before we close.
        conn.write(b"PING\r\n")?;
        conn.wait_pong(PONG_LIMIT, &shared.abort)?;
    }
    Ok(Outcome::new(last_msg, got))
}
