//! The monitoring server: a tiny HTTP/1.1 server (HTTPS with the server's `tls {}` block) on
//! its own thread and `mio` reactor, so a flood of monitoring requests costs the workers
//! nothing but the short locks the snapshots take. Requests are parsed in place by
//! [`crate::proto::http`] with limits; connections are bounded in number, keep-alive is
//! honoured, and idle or stalled connections are dropped after a while. One request is answered
//! at a time per connection: the next is read only once the previous answer is written.

pub mod endpoints;
pub mod format;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::proto::http::{self, Method, Parsed};
use crate::server::{Error, Server, Stopper};
use endpoints::{Context, Reply};

const LISTENER: Token = Token(0);
const STOP: Token = Token(1);
const FIRST_CONN: usize = 2;

/// Monitoring connections served at once; more are answered 503 and closed.
pub const MAX_CONNS: usize = 64;
/// A request head must arrive within this long of the previous answer (or the connect).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// An answer that cannot be written for this long is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Read at most this much ahead of the request being answered.
const READ_LIMIT: usize = 8 * 1024 + 1;

/// Start the monitoring server if the options ask for it: bind now (so the port is open when
/// the server is ready), serve on a thread of its own.
pub fn start(server: &Arc<Server>) -> Result<Stopper, Error> {
    let o = server.opts();
    let enabled = |v: &Option<(Option<String>, Option<u16>)>| {
        v.as_ref()
            .filter(|(_, p)| *p != Some(0))
            .map(|(h, p)| (h.clone().unwrap_or_else(|| o.host.clone()), p.unwrap_or(0)))
    };
    let (http, https) = (enabled(&o.http), enabled(&o.https));
    let (host, port, tls) = match (http, https) {
        (None, None) => return Ok(Box::new(|| {})),
        (Some((_, a)), Some((_, b))) => {
            return Err(Error::Config(format!(
                "Can't start monitoring: can't specify both HTTP ({a}) and HTTPs ({b}) ports"
            )))
        }
        (Some((h, p)), None) => (h, p, None),
        (None, Some((h, p))) => {
            let Some(t) = &o.tls else {
                return Err(Error::Config(
                    "Can't start monitoring: TLS cert and key required for HTTPS".into(),
                ));
            };
            let cfg = crate::server::tls::monitor_config(t).map_err(Error::Tls)?;
            (h, p, Some(cfg))
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (listener, shown) = crate::server::bind(&host, port);
    let mut listener = listener.map_err(|e| {
        Error::Config(format!(
            "Can't start monitoring: can't listen to the monitor port: listen tcp {shown}: bind: {}",
            crate::server::os_error_text(&e)
        ))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Io("monitor address".into(), e))?;
    crate::notice!("Starting {} monitor on {}", scheme, bound);
    {
        let mut a = server
            .monitor_addrs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if tls.is_some() {
            a.1 = Some(bound);
        } else {
            a.0 = Some(bound);
        }
    }
    let poll = Poll::new().map_err(|e| Error::Io("creating poll".into(), e))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| Error::Io("registering the monitor listener".into(), e))?;
    let waker = Arc::new(
        Waker::new(poll.registry(), STOP).map_err(|e| Error::Io("creating waker".into(), e))?,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let base = base_path(o.http_base_path.as_deref().unwrap_or(""));
    let mut m = Monitor {
        server: server.clone(),
        poll,
        listener,
        tls,
        conns: Vec::new(),
        stop: stop.clone(),
        req_stats: BTreeMap::new(),
        cpu: format::CpuMeter::new(),
        base,
        ports: (
            if scheme == "http" { bound.port() } else { 0 },
            if scheme == "https" { bound.port() } else { 0 },
        ),
    };
    let thread = std::thread::Builder::new()
        .name("monitor".into())
        .spawn(move || m.run())
        .map_err(|e| Error::Io("spawning the monitor".into(), e))?;
    Ok(Box::new(move || {
        stop.store(true, Ordering::Release);
        let _ = waker.wake();
        let _ = thread.join();
    }))
}

/// `http_base_path` as nats-server normalizes it: a leading `/`, no trailing one ("" for none).
fn base_path(p: &str) -> String {
    let p = p.trim().trim_end_matches('/');
    if p.is_empty() {
        String::new()
    } else if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

struct HttpConn {
    sock: TcpStream,
    tls: Option<Box<rustls::Connection>>,
    /// Request bytes read but not yet answered.
    rbuf: Vec<u8>,
    /// The answer being written, and how much of it is out.
    wbuf: Vec<u8>,
    woff: usize,
    /// When the connection last made progress (for the timeouts).
    since: Instant,
    /// Close once the answer is written.
    closing: bool,
    /// The peer closed its side.
    eof: bool,
    write_interest: bool,
}

struct Monitor {
    server: Arc<Server>,
    poll: Poll,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    conns: Vec<Option<HttpConn>>,
    stop: Arc<AtomicBool>,
    /// Requests served per endpoint (`http_req_stats`).
    req_stats: BTreeMap<String, u64>,
    cpu: format::CpuMeter,
    base: String,
    ports: (u16, u16),
}

impl Monitor {
    fn run(&mut self) {
        lower_priority();
        let mut events = Events::with_capacity(128);
        while !self.stop.load(Ordering::Acquire) {
            if let Err(e) = self.poll.poll(&mut events, Some(Duration::from_secs(1))) {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::error!("monitor: poll failed: {e}");
                    return;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    STOP => {}
                    Token(t) => self.service(t - FIRST_CONN),
                }
            }
            self.expire();
        }
    }

    fn accept(&mut self) {
        loop {
            let (mut sock, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::error!("monitor: accept: {e}");
                    return;
                }
            };
            let slot = match self.conns.iter().position(Option::is_none) {
                Some(s) => s,
                None if self.conns.len() < MAX_CONNS => {
                    self.conns.push(None);
                    self.conns.len() - 1
                }
                None => {
                    refuse(&mut sock, self.tls.is_some(), &peer);
                    continue;
                }
            };
            let tls = match &self.tls {
                Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
                    Ok(t) => Some(Box::new(rustls::Connection::Server(t))),
                    Err(e) => {
                        crate::error!("monitor: TLS session for {peer}: {e}");
                        continue;
                    }
                },
                None => None,
            };
            if self
                .poll
                .registry()
                .register(&mut sock, Token(slot + FIRST_CONN), Interest::READABLE)
                .is_err()
            {
                continue;
            }
            self.conns[slot] = Some(HttpConn {
                sock,
                tls,
                rbuf: Vec::new(),
                wbuf: Vec::new(),
                woff: 0,
                since: Instant::now(),
                closing: false,
                eof: false,
                write_interest: false,
            });
            self.service(slot);
        }
    }

    /// Make all the progress the connection allows: write the pending answer, then read and
    /// answer the next request, until it would block.
    fn service(&mut self, slot: usize) {
        loop {
            let Some(c) = self.conns.get_mut(slot).and_then(|c| c.as_mut()) else {
                return;
            };
            match c.flush() {
                Ok(true) => {}
                Ok(false) => {
                    if !c.write_interest {
                        c.write_interest = true;
                        let _ = self.poll.registry().reregister(
                            &mut c.sock,
                            Token(slot + FIRST_CONN),
                            Interest::READABLE | Interest::WRITABLE,
                        );
                    }
                    return;
                }
                Err(_) => return self.close(slot),
            }
            if c.write_interest {
                c.write_interest = false;
                let _ = self.poll.registry().reregister(
                    &mut c.sock,
                    Token(slot + FIRST_CONN),
                    Interest::READABLE,
                );
            }
            if c.closing {
                return self.close(slot);
            }
            if c.fill().is_err() {
                return self.close(slot);
            }
            let lim = http::Limits::default();
            let parsed = match http::parse(&c.rbuf, &lim) {
                Ok(Parsed::Partial) => {
                    if c.eof {
                        return self.close(slot);
                    }
                    // A TLS handshake may have left records to send.
                    if c.tls.as_ref().is_some_and(|t| t.wants_write()) && c.flush().is_err() {
                        return self.close(slot);
                    }
                    return;
                }
                Ok(Parsed::Complete(req, used)) => Ok((
                    req.method,
                    req.path.to_vec(),
                    req.query.to_vec(),
                    req.keep_alive,
                    used,
                )),
                Err(e) => Err(e),
            };
            let (out, keep, used) = match parsed {
                Ok((method, path, query, keep, used)) => {
                    let mut out = self.respond(method, &path, &query);
                    finish(&mut out, keep, method == Method::Head);
                    (out, keep, used)
                }
                Err(e) => {
                    let (status, reason) = e.status();
                    let mut out = Response::text(status, reason, format!("{status} {reason}\n"));
                    finish(&mut out, false, false);
                    (out, false, usize::MAX)
                }
            };
            let Some(c) = self.conns.get_mut(slot).and_then(|c| c.as_mut()) else {
                return;
            };
            if used == usize::MAX {
                c.rbuf.clear();
            } else {
                c.rbuf.drain(..used);
            }
            c.wbuf = out.bytes;
            c.woff = 0;
            c.closing = !keep;
            c.since = Instant::now();
        }
    }

    /// Route a request to its endpoint and render the answer.
    fn respond(&mut self, method: Method, path: &[u8], q: &[u8]) -> Response {
        if method == Method::Other {
            let mut r =
                Response::text(405, "Method Not Allowed", "405 method not allowed\n".into());
            r.headers.push("Allow: GET, HEAD, POST".into());
            return r;
        }
        let decoded = http::decode_path(path);
        let clean = http::clean_path(&decoded);
        if clean != decoded {
            return Response::redirect(&clean, q);
        }
        let path = String::from_utf8_lossy(&decoded);
        let Some(rest) = path.strip_prefix(self.base.as_str()) else {
            return Response::not_found();
        };
        // The index is at the base path itself (`/` without one).
        let index = if self.base.is_empty() { "/" } else { "" };
        let endpoint = match rest {
            r if r == index => "/",
            "/varz" => "/varz",
            "/connz" => "/connz",
            "/routez" => "/routez",
            "/subsz" | "/subscriptionsz" => "/subsz",
            "/healthz" => "/healthz",
            _ => return Response::not_found(),
        };
        *self.req_stats.entry(endpoint.to_string()).or_insert(0) += 1;
        let (http_port, https_port) = self.ports;
        let mut cx = Context {
            server: &self.server,
            req_stats: &self.req_stats,
            cpu: &mut self.cpu,
            http_port,
            https_port,
        };
        let reply = match endpoint {
            "/" => endpoints::index(&self.base),
            "/varz" => endpoints::varz(&mut cx),
            "/connz" => endpoints::connz(&mut cx, q),
            "/routez" => endpoints::routez(&mut cx, q),
            "/subsz" => endpoints::subsz(&mut cx, q),
            _ => endpoints::healthz(),
        };
        match reply {
            Reply::Json(body) => match http::query_value(q, "callback") {
                Some(cb) if !cb.is_empty() => {
                    let mut b = Vec::with_capacity(body.len() + cb.len() + 2);
                    b.extend_from_slice(cb.as_bytes());
                    b.push(b'(');
                    b.extend_from_slice(&body);
                    b.push(b')');
                    Response::new(200, "OK", "application/javascript", b)
                }
                _ => Response::new(200, "OK", "application/json", body),
            },
            Reply::Html(h) => Response::new(200, "OK", "text/html; charset=utf-8", h.into_bytes()),
            Reply::Error(status, text) => Response::text(status, reason(status), text),
        }
    }

    /// Drop connections that stalled: no request in time, or an answer nobody reads.
    fn expire(&mut self) {
        let now = Instant::now();
        for slot in 0..self.conns.len() {
            let stale = self.conns[slot].as_ref().is_some_and(|c| {
                let waited = now.duration_since(c.since);
                if c.woff < c.wbuf.len() {
                    waited > WRITE_TIMEOUT
                } else {
                    waited > REQUEST_TIMEOUT
                }
            });
            if stale {
                self.close(slot);
            }
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut c) = self.conns.get_mut(slot).and_then(|c| c.take()) {
            let _ = self.poll.registry().deregister(&mut c.sock);
            let _ = c.sock.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl HttpConn {
    /// Read what has arrived, up to the read-ahead limit.
    fn fill(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        while self.rbuf.len() < READ_LIMIT && !self.eof {
            let n = match self.read_some(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.rbuf.extend_from_slice(&buf[..n]);
            self.since = Instant::now();
        }
        Ok(())
    }

    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.tls.as_mut() {
            Some(tls) => crate::server::tls::read_plaintext(tls, &mut self.sock, buf),
            None => self.sock.read(buf),
        }
    }

    /// Write the pending answer; true once all of it (and any TLS records) is out.
    fn flush(&mut self) -> io::Result<bool> {
        let Some(tls) = self.tls.as_mut() else {
            while self.woff < self.wbuf.len() {
                match self.sock.write(&self.wbuf[self.woff..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.woff += n;
                        self.since = Instant::now();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.wbuf = Vec::new();
            self.woff = 0;
            return Ok(true);
        };
        loop {
            if self.woff < self.wbuf.len() {
                let n = tls.writer().write(&self.wbuf[self.woff..])?;
                self.woff += n;
            }
            while tls.wants_write() {
                match tls.write_tls(&mut self.sock) {
                    Ok(_) => self.since = Instant::now(),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.woff >= self.wbuf.len() {
                self.wbuf = Vec::new();
                self.woff = 0;
                return Ok(true);
            }
        }
    }
}

/// Run this thread at the lowest scheduling priority (nice 19), so that on a busy machine a
/// flood of monitoring requests takes CPU from idle time rather than from message delivery.
fn lower_priority() {
    // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes this
    // thread's nice value.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
}

/// Over the connection limit: answer 503 in the clear (or just close a TLS one) and hang up.
fn refuse(sock: &mut TcpStream, tls: bool, peer: &SocketAddr) {
    crate::debug!("monitor: too many connections, refusing {peer}");
    if !tls {
        let mut r = Response::text(
            503,
            "Service Unavailable",
            "too many monitoring connections\n".into(),
        );
        finish(&mut r, false, false);
        let _ = sock.write(&r.bytes);
    }
    let _ = sock.shutdown(std::net::Shutdown::Both);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// An answer being put together: status line and headers first, the body kept apart until
/// [`finish`] knows the connection's fate.
struct Response {
    status: u16,
    reason: &'static str,
    headers: Vec<String>,
    body: Vec<u8>,
    bytes: Vec<u8>,
}

impl Response {
    fn new(status: u16, reason: &'static str, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            reason,
            headers: vec![format!("Content-Type: {content_type}")],
            body,
            bytes: Vec::new(),
        }
    }

    fn text(status: u16, reason: &'static str, text: String) -> Response {
        Response::new(
            status,
            reason,
            "text/plain; charset=utf-8",
            text.into_bytes(),
        )
    }

    /// 301 to the canonical path, keeping the query (as Go's `ServeMux` does).
    fn redirect(path: &[u8], query: &[u8]) -> Response {
        // Decoded bytes go back out escaped: nothing a header or the HTML could take as syntax.
        let mut location = String::with_capacity(path.len() + query.len() + 1);
        for &b in path {
            if b.is_ascii_graphic() && !b"\"<>%".contains(&b) {
                location.push(b as char);
            } else {
                location.push_str(&format!("%{b:02X}"));
            }
        }
        if !query.is_empty() {
            location.push('?');
            location.push_str(&String::from_utf8_lossy(query).replace(['"', '<', '>'], ""));
        }
        let body = format!("<a href=\"{location}\">Moved Permanently</a>.\n\n");
        let mut r = Response::new(
            301,
            "Moved Permanently",
            "text/html; charset=utf-8",
            body.into_bytes(),
        );
        r.headers.push(format!("Location: {location}"));
        r
    }

    fn not_found() -> Response {
        let mut r = Response::text(404, "Not Found", "404 page not found\n".into());
        r.headers.push("X-Content-Type-Options: nosniff".into());
        r
    }
}

/// Render the response: status line, headers (with `Date`, `Content-Length`, and
/// `Connection: close` when the connection ends), then the body unless it was a HEAD.
fn finish(r: &mut Response, keep_alive: bool, head: bool) {
    let mut out = Vec::with_capacity(r.body.len() + 256);
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", r.status, r.reason);
    for h in &r.headers {
        let _ = write!(out, "{h}\r\n");
    }
    let _ = write!(
        out,
        "Date: {}\r\nContent-Length: {}\r\n",
        format::http_date(SystemTime::now()),
        r.body.len()
    );
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(&r.body);
    }
    r.bytes = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths() {
        assert_eq!(base_path(""), "");
        assert_eq!(base_path("/"), "");
        assert_eq!(base_path("mon"), "/mon");
        assert_eq!(base_path("/mon/"), "/mon");
    }

    #[test]
    fn redirects_escape_what_they_echo() {
        let r = Response::redirect(b"/a\r\nSet-Cookie: x\"<", b"q=1");
        let loc = r
            .headers
            .iter()
            .find(|h| h.starts_with("Location: "))
            .unwrap();
        assert_eq!(loc, "Location: /a%0D%0ASet-Cookie:%20x%22%3C?q=1");
        assert_eq!(r.status, 301);
    }

    #[test]
    fn responses() {
        let mut r = Response::new(200, "OK", "application/json", b"{}".to_vec());
        finish(&mut r, true, false);
        let s = String::from_utf8(r.bytes.clone()).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: "));
        assert!(s.ends_with("Content-Length: 2\r\n\r\n{}"), "{s}");
        finish(&mut r, false, true);
        let s = String::from_utf8(r.bytes).unwrap();
        assert!(
            s.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n"),
            "{s}"
        );
    }
}
