//! `rnats-bench`: a small NATS load generator in the manner of `nats bench`, for comparing
//! servers. Publishers stream PUBs in large writes; subscribers count MSGs; the clock runs from
//! the moment every subscriber is ready until every subscriber has every message (or, with no
//! subscribers, until the server has acknowledged every publish with a PONG).
//!
//! Usage: rnats-bench SUBJECT [--pub N] [--sub N] [--msgs N] [--size N] [-s URL] [--csv FILE]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

struct Config {
    subject: String,
    pubs: usize,
    subs: usize,
    msgs: usize,
    size: usize,
    addr: String,
    csv: Option<String>,
}

fn parse_args() -> Result<Config, String> {
    let mut o = getopts::Options::new();
    o.long_only(true);
    o.optopt("", "pub", "number of publishers (default 1)", "N");
    o.optopt("", "sub", "number of subscribers (default 0)", "N");
    o.optopt(
        "",
        "msgs",
        "messages to publish in all (default 100000)",
        "N",
    );
    o.optopt("", "size", "payload size in bytes (default 128)", "N");
    o.optopt(
        "s",
        "server",
        "server URL (default nats://127.0.0.1:4222)",
        "URL",
    );
    o.optopt("", "csv", "append a CSV line of results to FILE", "FILE");
    o.optflag("h", "help", "show this help");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let m = o.parse(&args).map_err(|e| e.to_string())?;
    if m.opt_present("h") || m.free.is_empty() {
        return Err(o.usage("Usage: rnats-bench SUBJECT [options]"));
    }
    let num = |k: &str, d: usize| -> Result<usize, String> {
        m.opt_str(k)
            .map(|v| {
                v.replace('_', "")
                    .parse::<usize>()
                    .map_err(|_| format!("bad --{k}: {v}"))
            })
            .unwrap_or(Ok(d))
    };
    let url = m
        .opt_str("s")
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let addr = url.trim_start_matches("nats://").to_string();
    Ok(Config {
        subject: m.free[0].clone(),
        pubs: num("pub", 1)?,
        subs: num("sub", 0)?,
        msgs: num("msgs", 100_000)?,
        size: num("size", 128)?,
        addr,
        csv: m.opt_str("csv"),
    })
}

/// Connect, read INFO, send a quiet CONNECT, and wait for the PONG that confirms it.
fn connect(addr: &str) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut r = BufReader::with_capacity(256 * 1024, s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut w = s.try_clone()?;
    w.write_all(
        b"CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"rnats-bench\"}\r\nPING\r\n",
    )?;
    expect_pong(&mut r)?;
    Ok((s, r))
}

fn expect_pong(r: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        if line.starts_with("PONG") {
            return Ok(());
        }
        if line.starts_with("-ERR") {
            return Err(std::io::Error::other(line.trim().to_string()));
        }
    }
}

/// Count MSG operations in a byte stream until `want` have arrived.
fn count_msgs(r: &mut BufReader<TcpStream>, want: usize) -> std::io::Result<usize> {
    let mut got = 0;
    let mut line = Vec::with_capacity(256);
    while got < want {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        if line.starts_with(b"MSG ") {
            let text = std::str::from_utf8(&line).map_err(std::io::Error::other)?;
            let size: usize = text
                .trim_end()
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let mut left = size + 2;
            while left > 0 {
                let buf = r.fill_buf()?;
                if buf.is_empty() {
                    return Err(std::io::Error::other("connection closed"));
                }
                let n = buf.len().min(left);
                r.consume(n);
                left -= n;
            }
            got += 1;
        } else if line.starts_with(b"PING") {
            r.get_mut().write_all(b"PONG\r\n")?;
        }
    }
    Ok(got)
}

fn publish(addr: &str, subject: &str, count: usize, size: usize) -> std::io::Result<()> {
    let (mut s, mut r) = connect(addr)?;
    let one = {
        let mut m = format!("PUB {subject} {size}\r\n").into_bytes();
        m.extend(std::iter::repeat_n(b'x', size));
        m.extend_from_slice(b"\r\n");
        m
    };
    let per_batch = (64 * 1024 / one.len()).max(1);
    let batch: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * per_batch)
        .collect();
    let mut left = count;
    while left >= per_batch {
        s.write_all(&batch)?;
        left -= per_batch;
    }
    s.write_all(&batch[..one.len() * left])?;
    s.write_all(b"PING\r\n")?;
    expect_pong(&mut r)
}

fn main() -> ExitCode {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let ready = Arc::new(Barrier::new(cfg.subs + cfg.pubs + 1));
    let mut subs = Vec::new();
    for _ in 0..cfg.subs {
        let (addr, subject, want, ready) = (
            cfg.addr.clone(),
            cfg.subject.clone(),
            cfg.msgs,
            ready.clone(),
        );
        subs.push(std::thread::spawn(move || -> std::io::Result<Duration> {
            let (mut s, mut r) = connect(&addr)?;
            s.write_all(format!("SUB {subject} 1\r\nPING\r\n").as_bytes())?;
            expect_pong(&mut r)?;
            ready.wait();
            let t0 = Instant::now();
            count_msgs(&mut r, want)?;
            Ok(t0.elapsed())
        }));
    }
    let mut pubs = Vec::new();
    for i in 0..cfg.pubs {
        let count = cfg.msgs / cfg.pubs + usize::from(i < cfg.msgs % cfg.pubs);
        let (addr, subject, size, ready) = (
            cfg.addr.clone(),
            cfg.subject.clone(),
            cfg.size,
            ready.clone(),
        );
        pubs.push(std::thread::spawn(move || -> std::io::Result<Duration> {
            ready.wait();
            let t0 = Instant::now();
            publish(&addr, &subject, count, size)?;
            Ok(t0.elapsed())
        }));
    }
    ready.wait();
    let start = Instant::now();
    let mut failed = false;
    for h in pubs.into_iter().chain(subs) {
        match h.join() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                eprintln!("client error: {e}");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    if failed {
        return ExitCode::FAILURE;
    }
    let delivered = cfg.msgs * cfg.subs;
    let total = cfg.msgs + delivered;
    let rate = total as f64 / elapsed;
    let mbs = rate * cfg.size as f64 / 1e6;
    println!(
        "{} pub, {} sub, {} msgs x {} B: {:.3}s, {:.0} msgs/s ({:.0} published/s), {:.1} MB/s",
        cfg.pubs,
        cfg.subs,
        cfg.msgs,
        cfg.size,
        elapsed,
        rate,
        cfg.msgs as f64 / elapsed,
        mbs
    );
    if let Some(path) = cfg.csv {
        let line = format!(
            "{},{},{},{},{:.6},{:.0},{:.2}\n",
            cfg.pubs, cfg.subs, cfg.msgs, cfg.size, elapsed, rate, mbs
        );
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = res {
            eprintln!("writing {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let _ = std::io::stdout().flush();
    ExitCode::SUCCESS
}
