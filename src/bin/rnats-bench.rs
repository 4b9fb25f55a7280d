//! `rnats-bench`: a small NATS load generator in the manner of `nats bench`, for comparing
//! servers. Publishers stream PUBs in large writes; subscribers count MSGs; the clock runs from
//! the moment every subscriber is ready until every subscriber has every message (or, with no
//! subscribers, until the server has acknowledged every publish with a PONG).
//!
//! With `--http URL` (repeatable, or comma-separated), `--http-clients N` threads flood those
//! monitoring endpoints with keep-alive HTTP/1.1 GETs for exactly the measured run, one request
//! in flight per thread (`--http-rate N` caps the total at N requests/s), and the flood's
//! requests, requests/s, errors and the clients' own CPU time are reported too.
//!
//! With `--sub-server URL` the subscribers connect to another server of a cluster; each waits
//! until a probe published on the publishers' server reaches it (its interest has crossed the
//! route) before the clock starts.
//!
//! Usage: rnats-bench SUBJECT [--pub N] [--sub N] [--msgs N] [--size N] [-s URL] [--csv FILE]
//!        [--sub-server URL] [--http URL]... [--http-clients N] [--http-rate N]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// At most this many flood clients: the flood is a bounded load, not a denial of service.
const MAX_HTTP_CLIENTS: usize = 64;

struct Config {
    /// Where subscribers connect, when not where the publishers do.
    sub_addr: Option<String>,
    subject: String,
    pubs: usize,
    subs: usize,
    msgs: usize,
    size: usize,
    addr: String,
    csv: Option<String>,
    /// Monitoring endpoints to flood during the run (empty: no flood).
    http: Vec<HttpTarget>,
    http_clients: usize,
    /// Cap on the flood's total requests per second (None: as fast as answers come).
    http_rate: Option<f64>,
}

/// One `http://host:port/path?query` endpoint.
#[derive(Clone, Debug)]
struct HttpTarget {
    /// `host:port` to connect to.
    addr: String,
    /// `Host` header value.
    host: String,
    /// Request target: path and query.
    path: String,
}

fn parse_http_url(url: &str) -> Result<HttpTarget, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("bad --http {url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') || path.contains([' ', '\r', '\n']) {
        return Err(format!("bad --http {url}"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let addr = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(HttpTarget {
        addr,
        host: authority.to_string(),
        path,
    })
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
    o.optmulti(
        "",
        "http",
        "during the run, flood this monitoring URL with GETs (repeat or comma-separate to rotate)",
        "URL",
    );
    o.optopt(
        "",
        "http-clients",
        "flood clients (keep-alive connections, default 4, at most 64)",
        "N",
    );
    o.optopt(
        "",
        "http-rate",
        "cap the flood at N requests/s in all (default: no cap)",
        "N",
    );
    o.optopt(
        "",
        "sub-server",
        "subscribers connect here (another server of the cluster; default: -s)",
        "URL",
    );
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
    let mut http = Vec::new();
    for v in m.opt_strs("http") {
        for u in v.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            http.push(parse_http_url(u)?);
        }
    }
    let http_clients = num("http-clients", 4)?;
    if !(1..=MAX_HTTP_CLIENTS).contains(&http_clients) {
        return Err(format!(
            "bad --http-clients: {http_clients} (1 to {MAX_HTTP_CLIENTS})"
        ));
    }
    let http_rate = match m.opt_str("http-rate") {
        None => None,
        Some(v) => match v.replace('_', "").parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Some(r),
            _ => return Err(format!("bad --http-rate: {v}")),
        },
    };
    if (m.opt_present("http-clients") || http_rate.is_some()) && http.is_empty() {
        return Err("--http-clients and --http-rate need --http URL".into());
    }
    let sub_addr = m
        .opt_str("sub-server")
        .map(|u| u.trim_start_matches("nats://").to_string());
    Ok(Config {
        sub_addr,
        subject: m.free[0].clone(),
        pubs: num("pub", 1)?,
        subs: num("sub", 0)?,
        msgs: num("msgs", 100_000)?,
        size: num("size", 128)?,
        addr,
        csv: m.opt_str("csv"),
        http,
        http_clients,
        http_rate,
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

/// What one flood client did during the measured run.
#[derive(Default)]
struct FloodStats {
    /// Complete 2xx responses.
    requests: u64,
    /// I/O errors, malformed responses and non-2xx answers.
    errors: u64,
    /// Response body bytes of the counted requests.
    body_bytes: u64,
    /// The first error, to explain a non-zero count.
    first_error: Option<String>,
    /// CPU time this client's thread used during the run (None where /proc cannot tell).
    cpu: Option<Duration>,
}

/// CPU time the calling thread has used so far (Linux: /proc/thread-self/schedstat, in ns).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = s.split_ascii_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// One keep-alive connection to a monitoring endpoint.
struct HttpConn {
    addr: String,
    r: BufReader<TcpStream>,
    /// Requests answered on this connection so far.
    served: u64,
}

const HTTP_LINE_MAX: usize = 64 * 1024;

impl HttpConn {
    fn open(addr: &str) -> std::io::Result<HttpConn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(HttpConn {
            addr: addr.to_string(),
            r: BufReader::with_capacity(64 * 1024, s),
            served: 0,
        })
    }

    /// Read one line (up to `\n`, bounded), returning its length; 0 at end of stream.
    fn line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        buf.clear();
        let n = (&mut self.r)
            .take(HTTP_LINE_MAX as u64)
            .read_until(b'\n', buf)?;
        if n == HTTP_LINE_MAX && buf.last() != Some(&b'\n') {
            return Err(std::io::Error::other("response line too long"));
        }
        Ok(n)
    }

    /// Discard exactly `n` bytes.
    fn skip(&mut self, n: u64) -> std::io::Result<()> {
        let got = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())?;
        if got != n {
            return Err(std::io::Error::other(
                "connection closed in a response body",
            ));
        }
        Ok(())
    }

    /// Send one GET and read the whole response. Returns (status, body bytes, keep-alive).
    /// An `UnexpectedEof` error means the server closed before the first byte of the answer.
    fn get(&mut self, request: &[u8]) -> std::io::Result<(u16, u64, bool)> {
        let mut line = Vec::with_capacity(256);
        // A keep-alive connection the server has closed shows as a failed write, a reset or
        // an end of stream before the status line: all reported as UnexpectedEof.
        let closed = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted => std::io::ErrorKind::UnexpectedEof.into(),
            _ => e,
        };
        self.r.get_mut().write_all(request).map_err(closed)?;
        let mut first = true;
        loop {
            let n = if first {
                self.line(&mut line).map_err(closed)?
            } else {
                self.line(&mut line)?
            };
            first = false;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let text = String::from_utf8_lossy(&line);
            let mut parts = text.split_ascii_whitespace();
            let version = parts.next().unwrap_or("");
            let status: u16 = parts
                .next()
                .and_then(|c| c.parse().ok())
                .filter(|_| version.starts_with("HTTP/1."))
                .ok_or_else(|| {
                    std::io::Error::other(format!("bad status line {:?}", text.trim_end()))
                })?;
            let mut keep = version == "HTTP/1.1";
            let mut length: Option<u64> = None;
            let mut chunked = false;
            loop {
                if self.line(&mut line)? == 0 {
                    return Err(std::io::Error::other(
                        "connection closed in response headers",
                    ));
                }
                if line == b"\r\n" || line == b"\n" {
                    break;
                }
                let h = String::from_utf8_lossy(&line);
                let Some((name, value)) = h.split_once(':') else {
                    return Err(std::io::Error::other(format!(
                        "bad header {:?}",
                        h.trim_end()
                    )));
                };
                let value = value.trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => {
                        length = Some(value.parse().map_err(|_| {
                            std::io::Error::other(format!("bad Content-Length {value:?}"))
                        })?)
                    }
                    "transfer-encoding" => {
                        chunked = value.to_ascii_lowercase().ends_with("chunked")
                    }
                    "connection" => {
                        let v = value.to_ascii_lowercase();
                        if v.contains("close") {
                            keep = false;
                        } else if v.contains("keep-alive") {
                            keep = true;
                        }
                    }
                    _ => {}
                }
            }
            if (100..200).contains(&status) {
                continue; // interim answer (100 Continue): the real one follows
            }
            let body = if status == 204 || status == 304 {
                0
            } else if chunked {
                self.chunked_body(&mut line)?
            } else if let Some(n) = length {
                self.skip(n)?;
                n
            } else {
                // No length: the body runs to the end of the connection.
                keep = false;
                std::io::copy(&mut self.r, &mut std::io::sink())?
            };
            self.served += 1;
            return Ok((status, body, keep));
        }
    }

    fn chunked_body(&mut self, line: &mut Vec<u8>) -> std::io::Result<u64> {
        let mut total = 0u64;
        loop {
            if self.line(line)? == 0 {
                return Err(std::io::Error::other("connection closed in a chunked body"));
            }
            let text = String::from_utf8_lossy(line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    if self.line(line)? == 0 {
                        return Err(std::io::Error::other("connection closed in chunk trailers"));
                    }
                    if line.as_slice() == b"\r\n" || line.as_slice() == b"\n" {
                        return Ok(total);
                    }
                }
            }
            self.skip(size)?;
            total += size;
            if self.line(line)? == 0 || line.trim_ascii() != b"" {
                return Err(std::io::Error::other("chunk not followed by CRLF"));
            }
        }
    }
}

/// One flood client: from the start barrier until `stop`, GET the targets in turn (starting
/// at `first`), one request at a time, on a keep-alive connection; at most one request per
/// `interval` when paced.
fn flood_client(
    targets: Arc<Vec<HttpTarget>>,
    first: usize,
    interval: Option<Duration>,
    ready: Arc<Barrier>,
    stop: Arc<AtomicBool>,
) -> FloodStats {
    let requests: Vec<Vec<u8>> = targets
        .iter()
        .map(|t| {
            format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: rnats-bench\r\nAccept: */*\r\n\r\n",
                t.path, t.host
            )
            .into_bytes()
        })
        .collect();
    let mut stats = FloodStats::default();
    // Connect before the clock starts so the first request is not a connection setup.
    let mut conn = HttpConn::open(&targets[first].addr).ok();
    ready.wait();
    let cpu0 = thread_cpu();
    let mut due = Instant::now();
    let mut i = first;
    while !stop.load(Ordering::Relaxed) {
        if let Some(interval) = interval {
            // Sleep until the next slot, in short naps so the end of the run is noticed.
            loop {
                let now = Instant::now();
                if now >= due || stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(20)));
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            // Fall behind by at most one slot: no bursts to catch up.
            due = (due + interval).max(Instant::now());
        }
        let t = &targets[i];
        let request = &requests[i];
        i = (i + 1) % targets.len();
        let result = (|| -> std::io::Result<(u16, u64, bool)> {
            if conn.as_ref().is_some_and(|c| c.addr != t.addr) {
                conn = None;
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => conn.insert(HttpConn::open(&t.addr)?),
            };
            match c.get(request) {
                // The server closed an idle keep-alive connection: once more on a new one.
                Err(e) if c.served > 0 && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    let c = conn.insert(HttpConn::open(&t.addr)?);
                    c.get(request)
                }
                other => other,
            }
        })();
        if stop.load(Ordering::Relaxed) {
            break; // finished after the run: not part of it
        }
        let failure = match result {
            Ok((status, body, keep)) => {
                if !keep {
                    conn = None;
                }
                if (200..300).contains(&status) {
                    stats.requests += 1;
                    stats.body_bytes += body;
                    None
                } else {
                    Some(format!("GET {}: HTTP status {status}", t.path))
                }
            }
            Err(e) => {
                conn = None;
                let e = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    "connection closed or reset before the response".to_string()
                } else {
                    e.to_string()
                };
                // Do not spin on a refused or failing endpoint: that would load the machine, not
                // the server.
                std::thread::sleep(Duration::from_millis(10));
                Some(format!("GET http://{}{}: {e}", t.host, t.path))
            }
        };
        if let Some(f) = failure {
            stats.errors += 1;
            stats.first_error.get_or_insert(f);
        }
    }
    stats.cpu = thread_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    stats
}

fn main() -> ExitCode {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let flood_clients = if cfg.http.is_empty() {
        0
    } else {
        cfg.http_clients
    };
    let ready = Arc::new(Barrier::new(cfg.subs + cfg.pubs + flood_clients + 1));
    let mut subs = Vec::new();
    // Across a cluster, a probe publisher on the publishers' server runs until every subscriber
    // has seen a probe: their interest has reached it.
    let probing = Arc::new(AtomicBool::new(cfg.sub_addr.is_some()));
    let probe_subject = format!("_rnats_bench_probe.{}", std::process::id());
    let prober = cfg.sub_addr.as_ref().map(|_| {
        let (addr, subject, probing) = (cfg.addr.clone(), probe_subject.clone(), probing.clone());
        std::thread::spawn(move || -> std::io::Result<()> {
            let (mut s, mut r) = connect(&addr)?;
            while probing.load(Ordering::Acquire) {
                s.write_all(format!("PUB {subject} 0\r\n\r\nPING\r\n").as_bytes())?;
                expect_pong(&mut r)?;
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
    });
    for _ in 0..cfg.subs {
        let (addr, subject, want, ready) = (
            cfg.sub_addr.clone().unwrap_or_else(|| cfg.addr.clone()),
            cfg.subject.clone(),
            cfg.msgs,
            ready.clone(),
        );
        let probe = cfg.sub_addr.as_ref().map(|_| probe_subject.clone());
        subs.push(std::thread::spawn(move || -> std::io::Result<Duration> {
            let (mut s, mut r) = connect(&addr)?;
            match &probe {
                Some(p) => {
                    s.write_all(format!("SUB {p} 2\r\nSUB {subject} 1\r\nPING\r\n").as_bytes())?;
                    expect_pong(&mut r)?;
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        if r.read_until(b'\n', &mut line)? == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                        if line.starts_with(b"MSG ") {
                            break;
                        }
                    }
                    s.write_all(b"UNSUB 2\r\nPING\r\n")?;
                    // Probes that arrived before the UNSUB come first; then the PONG.
                    loop {
                        line.clear();
                        if r.read_until(b'\n', &mut line)? == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                        if line.starts_with(b"PONG") {
                            break;
                        }
                    }
                }
                None => {
                    s.write_all(format!("SUB {subject} 1\r\nPING\r\n").as_bytes())?;
                    expect_pong(&mut r)?;
                }
            }
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
    let stop = Arc::new(AtomicBool::new(false));
    let targets = Arc::new(cfg.http.clone());
    let mut flood = Vec::new();
    let interval = cfg
        .http_rate
        .map(|r| Duration::from_secs_f64(flood_clients as f64 / r));
    for i in 0..flood_clients {
        let (targets, ready, stop) = (targets.clone(), ready.clone(), stop.clone());
        let first = i % targets.len();
        flood.push(std::thread::spawn(move || {
            flood_client(targets, first, interval, ready, stop)
        }));
    }
    ready.wait();
    let start = Instant::now();
    probing.store(false, Ordering::Release);
    if let Some(p) = prober {
        let _ = p.join();
    }
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
    stop.store(true, Ordering::Relaxed);
    let mut fl = FloodStats {
        cpu: Some(Duration::ZERO),
        ..FloodStats::default()
    };
    for h in flood {
        match h.join() {
            Ok(s) => {
                fl.requests += s.requests;
                fl.errors += s.errors;
                fl.body_bytes += s.body_bytes;
                fl.cpu = fl.cpu.zip(s.cpu).map(|(a, b)| a + b);
                if fl.first_error.is_none() {
                    fl.first_error = s.first_error;
                }
            }
            Err(_) => failed = true,
        }
    }
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
    let flood_rate = fl.requests as f64 / elapsed;
    // The flood clients' own CPU time, in seconds (-1 where /proc cannot tell).
    let flood_cpu = fl.cpu.map_or(-1.0, |c| c.as_secs_f64());
    if flood_clients > 0 {
        let cap = cfg
            .http_rate
            .map_or(String::new(), |r| format!(" (capped at {r:.0} req/s)"));
        let cpu = fl.cpu.map_or(String::new(), |c| {
            format!(
                ", clients used {:.2} CPU-s ({:.0}% of a core)",
                c.as_secs_f64(),
                100.0 * c.as_secs_f64() / elapsed
            )
        });
        println!(
            "http flood: {} clients over {} endpoints{}, {} requests ({:.0} req/s), {} errors, {:.1} MB received{}",
            flood_clients,
            cfg.http.len(),
            cap,
            fl.requests,
            flood_rate,
            fl.errors,
            fl.body_bytes as f64 / 1e6,
            cpu
        );
        if let Some(e) = &fl.first_error {
            eprintln!("http flood: first error: {e}");
        }
    }
    if let Some(path) = cfg.csv {
        let mut line = format!(
            "{},{},{},{},{:.6},{:.0},{:.2}",
            cfg.pubs, cfg.subs, cfg.msgs, cfg.size, elapsed, rate, mbs
        );
        if flood_clients > 0 {
            // Extra columns: http_clients, http_requests, http_req_per_s, http_errors,
            // http_body_bytes, http_client_cpu_s (-1: unknown)
            line += &format!(
                ",{},{},{:.0},{},{},{:.3}",
                flood_clients, fl.requests, flood_rate, fl.errors, fl.body_bytes, flood_cpu
            );
        }
        line.push('\n');
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
