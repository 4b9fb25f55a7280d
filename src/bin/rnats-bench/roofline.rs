//! `--roofline`: the publish-only run without a server. The same publishers write the same
//! bytes (`PubFrames`, the same batches; no handshake, no final PING) to an in-process sink on
//! 127.0.0.1 that only reads and discards, one thread and one 64 KiB buffer per connection. The
//! clock stops when the sink has read every byte, so the figures are the most this machine's
//! loopback and publishers allow: a server's publish-only bytes/s divided by these is how close
//! it comes.

use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::wire::{open, PubFrames};
use crate::{join_clients, role, share, Config, Outcome, Shared};

/// The sink's read size.
const SINK_BUF: usize = 64 * 1024;

pub struct Roofline {
    pub start: Instant,
    /// When the sink read the last byte.
    pub finished: Instant,
    pub published: u64,
    pub wire_bytes: u64,
}

/// Run the publishers against the sink. `on_start` runs as the clock starts. Errors have been
/// printed when this returns None.
pub fn run(cfg: &Arc<Config>, shared: &Arc<Shared>, on_start: impl FnOnce()) -> Option<Roofline> {
    let listener =
        match TcpListener::bind("127.0.0.1:0").and_then(|l| l.set_nonblocking(true).map(|_| l)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("rnats-bench: roofline sink: binding 127.0.0.1:0: {e}");
                return None;
            }
        };
    let addr = match listener.local_addr() {
        Ok(a) => a.to_string(),
        Err(e) => {
            eprintln!("rnats-bench: roofline sink: {e}");
            return None;
        }
    };
    let frames = Arc::new(PubFrames::new(&cfg.subject, cfg.size));
    let mut pubs = Vec::new();
    for i in 0..cfg.pubs {
        let count = share(cfg.msgs, cfg.pubs, i);
        let (shared, addr, frames) = (shared.clone(), addr.clone(), frames.clone());
        pubs.push((
            format!("publisher {}", i + 1),
            std::thread::spawn(move || {
                role(
                    &shared,
                    || open(&addr),
                    |s| {
                        frames.write(&s, count, &shared.published)?;
                        s.shutdown(Shutdown::Write)?;
                        Ok(Outcome::new(Instant::now(), count))
                    },
                )
            }),
        ));
    }
    // Accept every publisher before the clock starts (polling, so a publisher that failed to
    // connect cannot leave us waiting).
    let mut sinks: Vec<(String, JoinHandle<io::Result<Outcome>>)> = Vec::new();
    let mut failed = false;
    while sinks.len() < cfg.pubs && !shared.abort.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, _)) => {
                let shared = shared.clone();
                sinks.push((
                    format!("sink {}", sinks.len() + 1),
                    std::thread::spawn(move || sink(s, &shared)),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => {
                eprintln!("rnats-bench: roofline sink: accept: {e}");
                shared.abort.store(true, Ordering::Relaxed);
                failed = true;
            }
        }
    }
    shared.ready.wait();
    let start = Instant::now();
    on_start();
    let published = join_clients(pubs);
    let read = join_clients(sinks);
    let (published, read) = match (published, read) {
        (Some(p), Some(r)) if !failed => (p, r),
        _ => return None,
    };
    let published: u64 = published.iter().map(|o| o.count).sum();
    let wire_bytes: u64 = read.iter().map(|o| o.count).sum();
    if wire_bytes != frames.bytes_for(published) {
        eprintln!(
            "rnats-bench: roofline sink read {wire_bytes} bytes, the publishers wrote {}",
            frames.bytes_for(published)
        );
        return None;
    }
    let finished = read.iter().map(|o| o.finished).max().unwrap_or(start);
    Some(Roofline {
        start,
        finished,
        published,
        wire_bytes,
    })
}

/// Read and discard until the end of the stream; the outcome counts bytes and ends at the
/// last byte read.
fn sink(mut s: TcpStream, shared: &Shared) -> io::Result<Outcome> {
    s.set_nonblocking(false)?;
    let mut buf = vec![0u8; SINK_BUF];
    let mut bytes = 0u64;
    let mut last = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(Outcome::new(last, bytes)),
            Ok(n) => {
                last = Instant::now();
                bytes += n as u64;
                shared.received.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
