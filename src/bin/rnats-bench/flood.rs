//! The HTTP monitoring flood (`--http`): keep-alive HTTP/1.1 clients that GET monitoring
//! endpoints for exactly the measured run, one request in flight each (optionally paced), and
//! count what they got, their errors and their own CPU time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// At most this many flood clients: the flood is a bounded load, not a denial of service.
pub const MAX_HTTP_CLIENTS: usize = 64;

/// One `http://host:port/path?query` endpoint.
#[derive(Clone, Debug)]
pub struct HttpTarget {
    /// `host:port` to connect to.
    pub addr: String,
    /// `Host` header value.
    pub host: String,
    /// Request target: path and query.
    pub path: String,
}

pub fn parse_http_url(url: &str) -> Result<HttpTarget, String> {
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

/// What one flood client did during the measured run.
#[derive(Default)]
pub struct FloodStats {
    /// Complete 2xx responses.
    pub requests: u64,
    /// I/O errors, malformed responses and non-2xx answers.
    pub errors: u64,
    /// Response body bytes of the counted requests.
    pub body_bytes: u64,
    /// The first error, to explain a non-zero count.
    pub first_error: Option<String>,
    /// CPU time this client's thread used during the run (None where /proc cannot tell).
    pub cpu: Option<Duration>,
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
pub fn flood_client(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        let t = parse_http_url("http://127.0.0.1:8222/connz?subs=1").unwrap();
        assert_eq!(
            (t.addr.as_str(), t.host.as_str(), t.path.as_str()),
            ("127.0.0.1:8222", "127.0.0.1:8222", "/connz?subs=1")
        );
        let t = parse_http_url("http://localhost?x").unwrap();
        assert_eq!((t.addr.as_str(), t.path.as_str()), ("localhost:80", "/?x"));
        assert!(parse_http_url("https://a/").is_err());
        assert!(parse_http_url("http://u@a/").is_err());
    }
}
