//! HTTP(S) monitoring, black-box: known traffic in, the numbers nats-server 2.9 would report out.
//! `/varz`, `/connz` (counters, identity, subscriptions, every sort key, paging, `cid`, `state`,
//! `auth`, TLS fields), `/subsz` (stats, lists, `test=`), `/routez`, `/healthz`, `/`, JSONP,
//! `http_req_stats`, error answers, keep-alive, `http_base_path`, HTTPS.
//!
//! The same file runs against Debian's Go server (`RNATSD_TEST_BIN=/usr/sbin/nats-server`), which
//! is the reference. Where the two differ by design, the assertion depends on `is_go()`:
//! the Go server has a `$SYS` account whose internal subscriptions (about 43) show in the
//! subscription counts and lists, and its internal clients take the first cids; it answers any
//! HTTP method. Counts are therefore checked as deltas from a baseline taken before the traffic,
//! and our connections are found by name, never by an assumed cid.
//!
//! rnatsd-only assertions (skipped on Go): no internal subscriptions (varz `subscriptions` 0 at
//! start, subsz lists only client subscriptions), 405 for other methods, 400 for a malformed
//! request, 4xx for an oversized request line, 503 beyond the bound on monitoring connections.
//!
//! Some assertions pin nats-server 2.9.10 behaviour that looks like a quirk but is what tools
//! written against it see: `sort=uptime` is shortest first and `sort=idle` is by
//! (last_activity - start); a PING is not activity; `cid=` keeps `total` at the number of
//! connections considered; closed connections' subscription details carry `account`.
//!
//! Synchronisation is by PING/PONG round trips (`Client::flush`): once a client's PONG is back,
//! the server has processed (and counted) everything that client sent before it. Closes are
//! noticed asynchronously, so those are polled with a bounded retry loop, as is the harness's
//! readiness-probe connection going away (`Mon::settled`). The only other sleeps put measurable
//! gaps between timestamps (time-ordered sorts, last_activity).

mod common;

use common::{free_port, rnatsd_bin, Client, ServerProcess, TempDir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Harness: the server with its monitoring port, a small HTTP/1.1 client, JSON and time helpers.

/// True when the binary under test is the Go reference server.
fn is_go() -> bool {
    rnatsd_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("nats-server"))
}

fn cert(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("configs/certs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A server with HTTP monitoring on `mport` (127.0.0.1, the client host).
struct Mon {
    s: ServerProcess,
    mport: u16,
    /// http_base_path, if the configuration sets one.
    base: String,
    /// /connz requests made while settling (see `settled`).
    settle_reqs: u64,
    _dir: Option<TempDir>,
}

impl Mon {
    /// Start with `-m <free port>` plus `extra` flags.
    fn start(extra: &[&str]) -> Mon {
        let mport = free_port();
        let m = mport.to_string();
        let mut args = vec!["-m", &m];
        args.extend_from_slice(extra);
        Mon {
            s: ServerProcess::start(&args),
            mport,
            base: String::new(),
            settle_reqs: 0,
            _dir: None,
        }
        .settled()
    }

    /// Start with a configuration file; `conf` may use `{MPORT}` for a free monitoring port.
    /// The monitoring port must be set by the file itself (`http`, `http_port`, ...).
    fn with_config(conf: &str, extra: &[&str]) -> Mon {
        Self::with_config_unsettled(conf, extra).settled()
    }

    /// As `with_config`, without `settled` (for a monitor that speaks only HTTPS).
    fn with_config_unsettled(conf: &str, extra: &[&str]) -> Mon {
        let mport = free_port();
        let dir = TempDir::new("mon");
        let f = dir.path.join("server.conf");
        std::fs::write(&f, conf.replace("{MPORT}", &mport.to_string())).unwrap();
        let fs = f.to_string_lossy().into_owned();
        let mut args = vec!["-c", &fs];
        args.extend_from_slice(extra);
        Mon {
            s: ServerProcess::start(&args),
            mport,
            base: base_path_of(conf),
            settle_reqs: 0,
            _dir: Some(dir),
        }
    }

    /// Wait until the harness's readiness probe (a connection that read INFO and left) is no
    /// longer listed, so tests see only their own connections. Uses /connz only, so /varz's
    /// request count starts at zero; the /connz requests made here are counted in `settle_reqs`.
    fn settled(mut self) -> Mon {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.get(&format!("{}/connz", self.base));
            self.settle_reqs += 1;
            assert_eq!(r.status, 200, "GET /connz: {}", r.text());
            if r.json()["num_connections"] == 0 {
                return self;
            }
            assert!(
                Instant::now() < deadline,
                "the readiness probe's connection never went away"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn port(&self) -> u16 {
        self.s.port
    }

    fn get(&self, path: &str) -> Resp {
        http_get(self.mport, path)
    }

    /// GET `path`, expect 200 with a JSON body, and parse it.
    fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {} {}", r.status, r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "GET {path}"
        );
        r.json()
    }

    fn varz(&self) -> Value {
        self.json("/varz")
    }

    fn connz(&self, query: &str) -> Value {
        self.json(&format!("/connz{query}"))
    }

    /// GET `path`, expect 400 with this plain-text message.
    fn expect_400(&self, path: &str, msg: &str) {
        let r = self.get(path);
        assert_eq!(r.status, 400, "GET {path}: {}", r.text());
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("text/plain")),
            "GET {path}: {:?}",
            r.headers
        );
        assert_eq!(r.text().trim_end(), msg, "GET {path}");
    }

    /// Poll `/connz?<query>` until `pred` holds (closes are noticed asynchronously).
    fn connz_until(&self, query: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.connz(&format!("?{query}"));
            if pred(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v:#}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn varz_until(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.varz();
            if pred(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v:#}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The `http_base_path` a configuration text sets, or "".
fn base_path_of(conf: &str) -> String {
    conf.lines()
        .find_map(|l| l.trim().strip_prefix("http_base_path:"))
        .map(|v| v.trim().trim_matches('"').to_string())
        .unwrap_or_default()
}

/// One parsed HTTP response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", self.text()))
    }
}

/// Read one response from `r`: status line, headers, then the body by Content-Length, chunked
/// transfer coding, or until EOF. `head`: the request was HEAD (no body follows).
fn read_response<R: BufRead>(r: &mut R, head: bool) -> std::io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status_line = line.trim_end().to_string();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    assert!(
        version.starts_with("HTTP/1."),
        "bad status line {status_line:?}"
    );
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header line {l:?}"));
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(resp);
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size_hex = line.trim_end().split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .unwrap_or_else(|_| panic!("bad chunk size {line:?}"));
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    r.read_line(&mut line)?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0u8; size + 2];
            r.read_exact(&mut chunk)?;
            assert_eq!(&chunk[size..], b"\r\n", "chunk not followed by CRLF");
            resp.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = resp.header("content-length") {
        let n: usize = n.parse().expect("Content-Length");
        let mut body = vec![0u8; n];
        r.read_exact(&mut body)?;
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

fn connect_http(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the monitoring port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).ok();
    s
}

/// One request on a fresh connection (`Connection: close`).
fn http_request(port: u16, method: &str, path: &str) -> Resp {
    let mut s = connect_http(port);
    let body_hdr = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: rnatsd-tests\r\n{body_hdr}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    read_response(&mut r, method == "HEAD")
        .unwrap_or_else(|e| panic!("{method} {path}: no response: {e}"))
}

fn http_get(port: u16, path: &str) -> Resp {
    http_request(port, "GET", path)
}

/// Send raw bytes and return everything the server sends back until it closes the connection
/// (or 5 s pass).
fn raw_exchange(port: u16, req: &[u8]) -> String {
    let mut s = connect_http(port);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw response text.
fn raw_status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {resp:?}"))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an unsigned integer in {v:#}"))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v:#}"))
}

fn conns(v: &Value) -> &Vec<Value> {
    v["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("no connections array in {v:#}"))
}

/// The connection named `name` in a connz answer.
fn conn_named<'a>(v: &'a Value, name: &str) -> &'a Value {
    conns(v)
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no connection named {name} in {v:#}"))
}

/// The names of the named connections (the harness's readiness probe is an unnamed one, and it
/// stays in the closed-connections list).
fn named_names(v: &Value) -> Vec<String> {
    names(v).into_iter().filter(|n| !n.is_empty()).collect()
}

fn names(v: &Value) -> Vec<String> {
    conns(v)
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A client with a name, lang and version in its CONNECT.
fn named(port: u16, name: &str) -> Client {
    Client::connect_with(
        port,
        &format!(
            r#"{{"verbose":false,"pedantic":false,"headers":true,"name":"{name}","lang":"rust","version":"1.2.3"}}"#
        ),
    )
}

/// PING, and count the MSGs that arrive before the PONG.
fn flush_counting_msgs(c: &mut Client) -> usize {
    c.send("PING\r\n");
    let mut n = 0;
    loop {
        let line = c.read_line();
        if line == "PONG" {
            return n;
        }
        let size: usize = line
            .strip_prefix("MSG ")
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|sz| sz.parse().ok())
            .unwrap_or_else(|| panic!("expected MSG or PONG, got {line:?}"));
        c.read_exact(size + 2);
        n += 1;
    }
}

/// PING and wait for the PONG, answering any PING the server sends meanwhile (nats-server
/// pings a client whose writes it had to wait for).
fn flush_answering_pings(c: &mut Client) {
    c.send("PING\r\n");
    loop {
        match c.read_line().as_str() {
            "PONG" => return,
            "PING" => c.send("PONG\r\n"),
            other => panic!("expected PONG, got {other:?}"),
        }
    }
}

/// The client's local (ephemeral) port: what connz reports as `port`.
fn local_port(c: &Client) -> u64 {
    c.stream.local_addr().unwrap().port() as u64
}

/// Nanoseconds since the epoch of an RFC 3339 time (`2026-11-27T21:15:09.022977917Z` or with an
/// offset), or None if it is not one.
fn rfc3339_ns(t: &str) -> Option<i128> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_ns: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &t[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        frac_ns = format!("{digits:0<9}").parse().ok()?;
    }
    let offset_s: i64 = match &t[i..] {
        "Z" => 0,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
    Some(secs as i128 * 1_000_000_000 + frac_ns)
}

fn time_of(v: &Value, key: &str) -> i128 {
    let t = s(v, key);
    rfc3339_ns(t).unwrap_or_else(|| panic!("{key} is not an RFC 3339 time: {t:?}"))
}

/// Nanoseconds of a Go `time.Duration.String()` ("0s", "755µs", "48.123999ms", "1m2.5s",
/// "1h0m0s"), or None.
fn go_duration_ns(d: &str) -> Option<f64> {
    if d == "0s" {
        return Some(0.0);
    }
    let mut rest = d.strip_prefix('-').unwrap_or(d);
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (unit, len) = [
            ("ns", 1.0),
            ("µs", 1e3),
            ("us", 1e3),
            ("ms", 1e6),
            ("h", 3600e9),
            ("m", 60e9),
            ("s", 1e9),
        ]
        .iter()
        .find(|(u, _)| rest.starts_with(u))
        .map(|(u, f)| (*f, u.len()))?;
        total += value * unit;
        rest = &rest[len..];
    }
    Some(total)
}

/// Seconds of nats-server's uptime format: "0s", "1m33s", "2h0m5s", "3d4h5m6s", "1y2d3h4m5s".
fn uptime_secs(u: &str) -> Option<u64> {
    let mut rest = u;
    let mut total = 0u64;
    let mut units: Vec<char> = Vec::new();
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n == 0 || n == rest.len() {
            return None;
        }
        let value: u64 = rest[..n].parse().ok()?;
        let unit = rest[n..].chars().next()?;
        let mult = match unit {
            'y' => 365 * 86400,
            'd' => 86400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        units.push(unit);
        total += value * mult;
        rest = &rest[n + 1..];
    }
    // Units in order, each at most once, always ending in seconds, with no gaps after the first.
    let order = ['y', 'd', 'h', 'm', 's'];
    let head = *units.first()?;
    let first = order.iter().position(|c| *c == head)?;
    if units != order[first..] {
        return None;
    }
    Some(total)
}

/// The top-level keys of a pretty-printed JSON object, in the order they appear.
fn top_level_keys(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("  \"")?;
            if l.starts_with("   ") {
                return None;
            }
            Some(rest.split('"').next()?.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// /varz

/// varz's keys, in the Go server's order (the omitempty ones left out: auth_required,
/// tls_required, tls_verify, ip, connect_urls, ..., and Go's system_account).
const VARZ_KEYS: &[&str] = &[
    "server_id",
    "server_name",
    "version",
    "proto",
    "go",
    "host",
    "port",
    "max_connections",
    "ping_interval",
    "ping_max",
    "http_host",
    "http_port",
    "http_base_path",
    "https_port",
    "auth_timeout",
    "max_control_line",
    "max_payload",
    "max_pending",
    "cluster",
    "gateway",
    "leaf",
    "mqtt",
    "websocket",
    "jetstream",
    "tls_timeout",
    "write_deadline",
    "start",
    "now",
    "uptime",
    "mem",
    "cores",
    "gomaxprocs",
    "cpu",
    "connections",
    "total_connections",
    "routes",
    "remotes",
    "leafnodes",
    "in_msgs",
    "out_msgs",
    "in_bytes",
    "out_bytes",
    "slow_consumers",
    "subscriptions",
    "http_req_stats",
    "config_load_time",
];

#[test]
fn varz_identity_defaults_and_format() {
    let m = Mon::start(&[]);
    let c = Client::connect(m.port());
    let info: Value = serde_json::from_str(c.info.strip_prefix("INFO ").unwrap()).unwrap();
    drop(c);

    let r = m.get("/varz");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.text();
    // Pretty-printed like Go's json.MarshalIndent(v, "", "  ").
    assert!(body.starts_with("{\n  \"server_id\": \""), "{body}");
    assert!(body.ends_with("\n}"), "{body:?}");
    assert!(
        body.lines().all(|l| {
            let indent = l.len() - l.trim_start_matches(' ').len();
            indent % 2 == 0 && !l.starts_with('\t')
        }),
        "{body}"
    );
    let v = r.json();

    // Every key, in Go's order; nothing but known optional keys besides.
    let keys = top_level_keys(&body);
    let ours: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| VARZ_KEYS.contains(k))
        .collect();
    assert_eq!(ours, VARZ_KEYS, "varz keys or their order differ:\n{body}");
    for k in &keys {
        assert!(
            VARZ_KEYS.contains(&k.as_str()) || (is_go() && k == "system_account"),
            "unexpected varz key {k:?} (auth_required/tls_required must be omitted when false)"
        );
    }

    // Identity agrees with INFO.
    assert_eq!(v["server_id"], info["server_id"]);
    assert_eq!(v["server_name"], info["server_name"]);
    assert_eq!(v["version"], info["version"]);
    assert_eq!(v["proto"], 1);
    assert!(v["go"].is_string());
    assert_eq!(v["host"], "127.0.0.1");
    assert_eq!(u(&v, "port"), m.port() as u64);
    assert_eq!(v["http_host"], "127.0.0.1");
    assert_eq!(u(&v, "http_port"), m.mport as u64);
    assert_eq!(v["http_base_path"], "");
    assert_eq!(v["https_port"], 0);

    // Defaults, in Go's units (durations in ns, timeouts in seconds).
    assert_eq!(v["max_connections"], 65536);
    assert_eq!(v["ping_interval"], 120_000_000_000u64);
    assert_eq!(v["ping_max"], 2);
    assert_eq!(v["auth_timeout"], 2);
    assert_eq!(v["max_control_line"], 4096);
    assert_eq!(v["max_payload"], 1048576);
    assert_eq!(v["max_pending"], 67108864);
    assert_eq!(v["tls_timeout"], 2);
    assert_eq!(v["write_deadline"], 10_000_000_000u64);
    for k in [
        "cluster",
        "gateway",
        "leaf",
        "mqtt",
        "websocket",
        "jetstream",
    ] {
        assert!(v[k].is_object(), "{k} is not an object: {}", v[k]);
    }

    // Times and process figures.
    let start = time_of(&v, "start");
    let now = time_of(&v, "now");
    assert!(now >= start, "now {} before start {}", v["now"], v["start"]);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    assert!(
        (wall - now).abs() < 60_000_000_000,
        "now is not the current time: {}",
        v["now"]
    );
    time_of(&v, "config_load_time");
    let up = s(&v, "uptime");
    let up_s = uptime_secs(up).unwrap_or_else(|| panic!("bad uptime {up:?}"));
    assert!(up_s < 60, "uptime {up}");
    assert!(u(&v, "mem") > 100_000, "mem (RSS bytes) {}", v["mem"]);
    // mem is the process's resident set size: compare with /proc (it moves a little).
    let status = std::fs::read_to_string(format!("/proc/{}/status", m.s.child.id())).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS");
    let (mem, rss) = (u(&v, "mem") as f64, (rss_kb * 1024) as f64);
    assert!(
        mem > rss * 0.5 && mem < rss * 2.0,
        "mem {mem} vs VmRSS {rss}"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    assert!(
        u(&v, "cores") >= 1 && u(&v, "cores") <= cores.max(1) * 4,
        "cores {}",
        v["cores"]
    );
    assert!(u(&v, "gomaxprocs") >= 1);
    assert!(v["cpu"].is_number());
    for k in [
        "connections",
        "total_connections",
        "routes",
        "remotes",
        "leafnodes",
        "in_msgs",
        "out_msgs",
        "in_bytes",
        "out_bytes",
        "slow_consumers",
        "subscriptions",
    ] {
        assert!(v[k].is_u64(), "{k}: {}", v[k]);
    }
    assert_eq!(v["routes"], 0);
    assert_eq!(v["remotes"], 0);
    assert_eq!(v["leafnodes"], 0);
    assert_eq!(v["slow_consumers"], 0);
    if !is_go() {
        // No $SYS account, so no internal subscriptions.
        assert_eq!(v["subscriptions"], 0);
    }
    assert!(v["http_req_stats"].is_object());
}

#[test]
fn varz_reflects_the_configuration() {
    let m = Mon::with_config(
        "server_name: \"mon-test\"\n\
         http_port: {MPORT}\n\
         max_payload: 65536\n\
         max_connections: 100\n\
         max_control_line: 2048\n\
         max_pending: 1000000\n\
         ping_interval: \"30s\"\n\
         ping_max: 3\n\
         write_deadline: \"3s\"\n",
        &[],
    );
    let v = m.varz();
    assert_eq!(v["server_name"], "mon-test");
    assert_ne!(v["server_id"], "mon-test");
    assert_eq!(v["http_host"], "127.0.0.1");
    assert_eq!(u(&v, "http_port"), m.mport as u64);
    assert_eq!(v["max_payload"], 65536);
    assert_eq!(v["max_connections"], 100);
    assert_eq!(v["max_control_line"], 2048);
    assert_eq!(v["max_pending"], 1000000);
    assert_eq!(v["ping_interval"], 30_000_000_000u64);
    assert_eq!(v["ping_max"], 3);
    assert_eq!(v["write_deadline"], 3_000_000_000u64);
}

#[test]
fn varz_long_flag_and_uptime_grows() {
    let mport = free_port();
    let mp = mport.to_string();
    let s = ServerProcess::start(&["--http_port", &mp]);
    let v = http_get(mport, "/varz").json();
    assert_eq!(u(&v, "http_port"), mport as u64);
    assert_eq!(u(&v, "port"), s.port as u64);
    // now advances between requests; start does not.
    let v2 = http_get(mport, "/varz").json();
    assert_eq!(v["start"], v2["start"]);
    assert!(time_of(&v2, "now") > time_of(&v, "now"));
}

/// Known traffic: three connections, eight messages in, eleven out; varz totals and per
/// connection counters must add up.
#[test]
fn varz_and_connz_count_known_traffic() {
    let m = Mon::start(&[]);
    let base = m.varz();
    let base_subs = u(&base, "subscriptions");
    // The harness's readiness probe was a connection too.
    let base_total = u(&base, "total_connections");
    assert!(base_total >= 1, "{base:#}");
    assert_eq!(base["connections"], 0);
    assert_eq!(base["in_msgs"], 0);

    let mut sub1 = named(m.port(), "sub1");
    sub1.send("SUB foo 1\r\n");
    sub1.flush();
    let mut sub2 = named(m.port(), "sub2");
    sub2.send("SUB foo 1\r\nSUB bar grp 2\r\n");
    sub2.flush();
    // A publisher with its own lang/version and no subscriptions.
    let mut publ = Client::connect_with(
        m.port(),
        r#"{"verbose":false,"pedantic":false,"name":"pub","lang":"go","version":"1.30.0"}"#,
    );
    for n in 1..=5 {
        publ.send(&format!("PUB foo {n}\r\n{}\r\n", "x".repeat(n))); // 15 bytes in all
    }
    publ.send("PUB bar 7\r\nbarbody\r\n");
    publ.send("PUB nobody 10\r\n0123456789\r\nPUB nobody 10\r\n0123456789\r\n");
    publ.flush();
    for _ in 0..5 {
        assert_eq!(sub1.read_msg().0, "foo");
    }
    sub1.flush();
    for _ in 0..5 {
        assert_eq!(sub2.read_msg().0, "foo");
    }
    let (subj, sid, _, payload) = sub2.read_msg();
    assert_eq!((subj.as_str(), sid.as_str()), ("bar", "2"));
    assert_eq!(payload, b"barbody");
    sub2.flush();

    let v = m.varz();
    assert_eq!(v["connections"], 3, "{v:#}");
    assert_eq!(u(&v, "total_connections"), base_total + 3);
    assert_eq!(v["in_msgs"], 8);
    assert_eq!(v["in_bytes"], 15 + 7 + 20);
    assert_eq!(v["out_msgs"], 5 + 5 + 1);
    assert_eq!(v["out_bytes"], 15 + 15 + 7);
    assert_eq!(u(&v, "subscriptions"), base_subs + 3);
    assert_eq!(v["slow_consumers"], 0);

    // pending_bytes drops once a write completes, which the client may see (its PONG) a moment
    // before the server books it: wait for it to settle rather than race it.
    let c = m.connz_until("", "pending_bytes to drain", |c| {
        conns(c).iter().all(|x| x["pending_bytes"] == 0)
    });
    assert_eq!(c["num_connections"], 3, "{c:#}");
    assert_eq!(c["total"], 3);
    assert_eq!(
        top_level_keys(&m.get("/connz").text()),
        [
            "server_id",
            "now",
            "num_connections",
            "total",
            "offset",
            "limit",
            "connections"
        ]
    );
    assert_eq!(c["offset"], 0);
    assert_eq!(c["limit"], 1024);
    assert!(c["server_id"] == v["server_id"]);
    time_of(&c, "now");
    // Default order: by cid, ascending, which is connection order.
    assert_eq!(names(&c), ["sub1", "sub2", "pub"]);
    let cids: Vec<u64> = conns(&c).iter().map(|x| u(x, "cid")).collect();
    assert!(cids.windows(2).all(|w| w[0] < w[1]), "{cids:?}");

    // (name, client, in_msgs, in_bytes, out_msgs, out_bytes, subscriptions)
    let expect = [
        ("sub1", &sub1, 0, 0, 5, 15, 1),
        ("sub2", &sub2, 0, 0, 6, 22, 2),
        ("pub", &publ, 8, 42, 0, 0, 0),
    ];
    for (name, client, im, ib, om, ob, ns) in expect {
        let x = conn_named(&c, name);
        assert_eq!(x["kind"], "Client", "{x:#}");
        assert_eq!(x["type"], "nats");
        assert_eq!(x["ip"], "127.0.0.1");
        assert_eq!(u(x, "port"), local_port(client), "{name}");
        assert_eq!(u(x, "in_msgs"), im, "{name} in_msgs");
        assert_eq!(u(x, "in_bytes"), ib, "{name} in_bytes");
        assert_eq!(u(x, "out_msgs"), om, "{name} out_msgs");
        assert_eq!(u(x, "out_bytes"), ob, "{name} out_bytes");
        assert_eq!(u(x, "subscriptions"), ns, "{name} subscriptions");
        assert_eq!(u(x, "pending_bytes"), 0, "{name}");
        let start = time_of(x, "start");
        let last = time_of(x, "last_activity");
        assert!(last >= start, "{x:#}");
        assert!(time_of(&c, "now") >= last);
        let rtt = s(x, "rtt");
        assert!(go_duration_ns(rtt).is_some(), "{name}: rtt {rtt:?}");
        assert!(uptime_secs(s(x, "uptime")).is_some(), "{x:#}");
        assert!(uptime_secs(s(x, "idle")).is_some(), "{x:#}");
        // No list unless asked for; no TLS or auth fields on a plain, open connection.
        for k in [
            "subscriptions_list",
            "subscriptions_list_detail",
            "tls_version",
            "tls_cipher_suite",
            "authorized_user",
            "account",
            "stop",
            "reason",
        ] {
            assert!(x.get(k).is_none(), "{name} has {k}: {x:#}");
        }
    }
    assert_eq!(conn_named(&c, "sub1")["lang"], "rust");
    assert_eq!(conn_named(&c, "sub1")["version"], "1.2.3");
    assert_eq!(conn_named(&c, "pub")["lang"], "go");
    assert_eq!(conn_named(&c, "pub")["version"], "1.30.0");

    // A connection that leaves lowers `connections`, not `total_connections`, and takes its
    // subscription with it.
    drop(sub1);
    let v = m.varz_until("sub1's close", |v| v["connections"] == 2);
    assert_eq!(u(&v, "total_connections"), base_total + 3);
    assert_eq!(u(&v, "subscriptions"), base_subs + 2);
    // Totals keep what the closed connection did.
    assert_eq!(v["out_msgs"], 11);
}

#[test]
fn connz_name_lang_version_are_omitted_when_empty() {
    let m = Mon::start(&[]);
    let mut bare = Client::connect_with(m.port(), r#"{"verbose":false}"#);
    bare.flush();
    let c = m.connz("");
    let x = &conns(&c)[0];
    for k in ["name", "lang", "version"] {
        assert!(x.get(k).is_none(), "{k} present: {x:#}");
    }
    // rtt is set once CONNECT was processed.
    let rtt = go_duration_ns(s(x, "rtt")).expect("rtt");
    assert!(rtt > 0.0, "{x:#}");
}

#[test]
fn headers_count_in_bytes() {
    let m = Mon::start(&[]);
    let mut sub = named(m.port(), "sub");
    sub.send("SUB foo 1\r\n");
    sub.flush();
    let mut publ = named(m.port(), "pub");
    // 12 header bytes + 5 payload bytes.
    publ.send("HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
    publ.flush();
    assert_eq!(sub.read_line(), "HMSG foo 1 12 17");
    sub.read_exact(19);
    sub.flush();
    let v = m.varz();
    assert_eq!(v["in_msgs"], 1);
    assert_eq!(v["in_bytes"], 17);
    assert_eq!(v["out_bytes"], 17);
    let c = m.connz("");
    assert_eq!(conn_named(&c, "pub")["in_bytes"], 17);
    assert_eq!(conn_named(&c, "sub")["out_bytes"], 17);
}

// ---------------------------------------------------------------------------------------------
// /connz subscriptions, sorting, paging, cid, state, auth, TLS

#[test]
fn connz_subscription_lists() {
    let m = Mon::start(&[]);
    let mut sub = named(m.port(), "sub");
    sub.send("SUB foo 1\r\nSUB bar q 2\r\nSUB baz.* 3\r\nSUB gone 4\r\nUNSUB 4\r\n");
    sub.flush();
    let mut publ = named(m.port(), "pub");
    publ.send(
        "PUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\nPUB bar 2\r\nhi\r\n",
    );
    publ.flush();
    for _ in 0..4 {
        sub.read_msg();
    }
    sub.flush();

    let c = m.connz("?subs=1");
    let x = conn_named(&c, "sub");
    assert_eq!(x["subscriptions"], 3);
    let mut list: Vec<&str> = x["subscriptions_list"]
        .as_array()
        .unwrap_or_else(|| panic!("{x:#}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    list.sort();
    assert_eq!(list, ["bar", "baz.*", "foo"]);
    assert!(x.get("subscriptions_list_detail").is_none());
    // A connection without subscriptions has no list at all (omitempty).
    assert!(
        conn_named(&c, "pub").get("subscriptions_list").is_none(),
        "{c:#}"
    );
    // subs=true is the same as subs=1.
    let c = m.connz("?subs=true");
    assert!(conn_named(&c, "sub")["subscriptions_list"].is_array());

    let c = m.connz("?subs=detail");
    let x = conn_named(&c, "sub");
    let cid = u(x, "cid");
    assert!(x.get("subscriptions_list").is_none());
    let mut detail: Vec<Value> = x["subscriptions_list_detail"]
        .as_array()
        .unwrap_or_else(|| panic!("{x:#}"))
        .clone();
    detail.sort_by_key(|d| d["sid"].as_str().unwrap_or("").to_string());
    assert_eq!(detail.len(), 3, "{detail:#?}");
    let want = [
        ("foo", None, "1", 3),
        ("bar", Some("q"), "2", 1),
        ("baz.*", None, "3", 0),
    ];
    for (d, (subject, qgroup, sid, msgs)) in detail.iter().zip(want) {
        assert_eq!(d["subject"], subject, "{d:#}");
        assert_eq!(d["sid"], sid, "{d:#}");
        assert_eq!(u(d, "msgs"), msgs, "{d:#}");
        assert_eq!(u(d, "cid"), cid, "{d:#}");
        match qgroup {
            Some(q) => assert_eq!(d["qgroup"], q),
            None => assert!(d.get("qgroup").is_none(), "{d:#}"),
        }
        // Open connections' details carry no account in nats-server 2.9 (closed ones do).
        assert!(d.get("account").is_none(), "{d:#}");
    }
}

#[test]
fn connz_sorts_by_counters() {
    let m = Mon::start(&[]);
    // Created in this order, so cid/start order is one, five, three.
    let mut one = named(m.port(), "one");
    let mut five = named(m.port(), "five");
    let mut three = named(m.port(), "three");
    five.send("SUB t.five.a 1\r\nSUB t.five.b 2\r\n");
    five.flush();
    three.send("SUB t.three 1\r\n");
    three.flush();
    // one: 1 msg of 10 bytes in, delivered to five.
    one.send("PUB t.five.a 10\r\n0123456789\r\n");
    one.flush();
    // five: 5 msgs of 1 byte in, delivered to three.
    for _ in 0..5 {
        five.send("PUB t.three 1\r\nx\r\n");
    }
    // three: 3 msgs of 20 bytes to nobody.
    for _ in 0..3 {
        three.send(&format!("PUB none 20\r\n{}\r\n", "y".repeat(20)));
    }
    // Drain the deliveries so every counter is settled.
    assert_eq!(flush_counting_msgs(&mut five), 1);
    assert_eq!(flush_counting_msgs(&mut three), 5);
    one.flush();
    assert_eq!(flush_counting_msgs(&mut five), 0);

    // msgs_from: five 5, three 3, one 1. bytes_from: three 60, one 10, five 5.
    // subs: five 2, three 1, one 0. msgs_to: three 5, five 1, one 0.
    // bytes_to: five 10, three 5, one 0. cid and start: creation order.
    let cases = [
        ("cid", ["one", "five", "three"]),
        ("start", ["one", "five", "three"]),
        ("msgs_from", ["five", "three", "one"]),
        ("bytes_from", ["three", "one", "five"]),
        ("subs", ["five", "three", "one"]),
        ("msgs_to", ["three", "five", "one"]),
        ("bytes_to", ["five", "three", "one"]),
    ];
    for (key, want) in cases {
        let c = m.connz(&format!("?sort={key}"));
        assert_eq!(names(&c), want, "sort={key}: {c:#}");
    }
    // pending: everything is drained, so just accepted and ordered.
    let c = m.connz("?sort=pending");
    let p: Vec<u64> = conns(&c).iter().map(|x| u(x, "pending_bytes")).collect();
    assert!(p.windows(2).all(|w| w[0] >= w[1]), "{p:?}");
    assert_eq!(p.len(), 3);
    // Sorting applies before paging.
    let c = m.connz("?sort=msgs_from&limit=1&offset=1");
    assert_eq!(names(&c), ["three"]);
    assert_eq!(c["total"], 3);
}

/// Time-based sorts, nats-server 2.9 semantics: `last` is the most recent activity first,
/// `uptime` the shortest uptime first, and `idle` the longest (last_activity - start) first.
#[test]
fn connz_sorts_by_times() {
    let gap = || std::thread::sleep(Duration::from_millis(40)); // measurable time apart
    let m = Mon::start(&[]);
    let mut a = named(m.port(), "a");
    gap();
    let _b = named(m.port(), "b");
    gap();
    let mut c = named(m.port(), "c");
    gap();
    a.send("PUB x 1\r\n1\r\n");
    a.flush();
    gap();
    c.send("PUB x 1\r\n1\r\n");
    c.flush();

    let v = m.connz("");
    let t = |n: &str, k: &str| time_of(conn_named(&v, n), k);
    assert!(t("a", "start") < t("b", "start") && t("b", "start") < t("c", "start"));
    assert!(
        t("c", "last_activity") > t("a", "last_activity")
            && t("a", "last_activity") > t("b", "last_activity"),
        "PUB updates last_activity: {v:#}"
    );

    let cases = [
        ("start", ["a", "b", "c"]),
        ("last", ["c", "a", "b"]),
        ("uptime", ["c", "b", "a"]),
        ("idle", ["a", "c", "b"]),
    ];
    for (key, want) in cases {
        let c = m.connz(&format!("?sort={key}"));
        assert_eq!(names(&c), want, "sort={key}: {c:#}");
    }
}

/// In nats-server only messages and interest changes (SUB/UNSUB), and CONNECT, are activity:
/// PING/PONG keep-alives do not move last_activity (so an idle client pinging stays idle).
#[test]
fn last_activity_ignores_pings() {
    let m = Mon::start(&[]);
    let mut c = named(m.port(), "c");
    let before = time_of(conn_named(&m.connz(""), "c"), "last_activity");
    std::thread::sleep(Duration::from_millis(20)); // so a moved timestamp would show
    c.flush();
    let after = time_of(conn_named(&m.connz(""), "c"), "last_activity");
    assert_eq!(before, after, "a PING moved last_activity");
    c.send("SUB s 1\r\n");
    c.flush();
    let sub = time_of(conn_named(&m.connz(""), "c"), "last_activity");
    assert!(sub > after, "a SUB is activity");
    std::thread::sleep(Duration::from_millis(20));
    c.send("PUB p 0\r\n\r\n");
    c.flush();
    let publ = time_of(conn_named(&m.connz(""), "c"), "last_activity");
    assert!(publ > sub, "a PUB is activity");
}

#[test]
fn connz_paging_and_cid() {
    let m = Mon::start(&[]);
    let clients: Vec<Client> = (0..5).map(|i| named(m.port(), &format!("c{i}"))).collect();
    let all = m.connz("");
    let cids: Vec<u64> = conns(&all).iter().map(|x| u(x, "cid")).collect();
    assert_eq!(names(&all), ["c0", "c1", "c2", "c3", "c4"]);

    let page = |q: &str| {
        let v = m.connz(q);
        (
            names(&v),
            u(&v, "num_connections"),
            u(&v, "total"),
            v["offset"].as_i64().unwrap(),
            v["limit"].as_i64().unwrap(),
        )
    };
    assert_eq!(
        page("?limit=2"),
        (vec!["c0".into(), "c1".into()], 2, 5, 0, 2)
    );
    assert_eq!(
        page("?limit=2&offset=2"),
        (vec!["c2".into(), "c3".into()], 2, 5, 2, 2)
    );
    assert_eq!(page("?limit=2&offset=4"), (vec!["c4".into()], 1, 5, 4, 2));
    assert_eq!(page("?offset=10"), (vec![], 0, 5, 10, 1024));
    assert_eq!(page("?limit=0").4, 1024);
    assert_eq!(page("?limit=-5").4, 1024);
    assert_eq!(page("?offset=-3").3, 0);
    assert_eq!(page("?offset=-3").0.len(), 5);
    let empty = m.connz("?offset=10");
    assert_eq!(empty["connections"], Value::Array(vec![]));

    // cid=N: that connection only, limit 1 (total stays the number of connections considered,
    // as nats-server 2.9 reports it).
    let v = m.connz(&format!("?cid={}", cids[3]));
    assert_eq!(names(&v), ["c3"]);
    assert_eq!(v["num_connections"], 1);
    assert_eq!(v["limit"], 1);
    assert_eq!(v["total"], 5, "{v:#}");
    let v = m.connz("?cid=999999");
    assert_eq!(v["num_connections"], 0);
    assert_eq!(v["connections"], Value::Array(vec![]));
    drop(clients);
}

#[test]
fn connz_closed_connections() {
    let m = Mon::start(&[]);
    let closed_base = u(&m.connz("?state=closed"), "num_connections");
    let mut stay = named(m.port(), "stay");
    let mut gone = named(m.port(), "gone");
    gone.send("SUB a.b 7\r\nSUB c q1 8\r\nPUB x 3\r\nabc\r\n");
    gone.flush();
    let gone_cid = u(conn_named(&m.connz(""), "gone"), "cid");
    drop(gone);

    let v = m.connz_until("state=closed&subs=1", "the closed connection", |v| {
        conns(v).iter().any(|c| c["name"] == "gone")
    });
    assert_eq!(u(&v, "num_connections"), closed_base + 1, "{v:#}");
    assert_eq!(u(&v, "total"), closed_base + 1);
    let x = conn_named(&v, "gone");
    assert_eq!(u(x, "cid"), gone_cid);
    assert_eq!(x["reason"], "Client Closed", "{x:#}");
    let stop = time_of(x, "stop");
    assert!(stop >= time_of(x, "start"));
    assert!(stop >= time_of(x, "last_activity"));
    // Counters and subscriptions are kept as they were at the close.
    assert_eq!(x["in_msgs"], 1);
    assert_eq!(x["in_bytes"], 3);
    assert_eq!(x["subscriptions"], 2);
    let mut list: Vec<&str> = x["subscriptions_list"]
        .as_array()
        .unwrap_or_else(|| panic!("closed connection lost its subscriptions: {x:#}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    list.sort();
    assert_eq!(list, ["a.b", "c"]);
    assert_eq!(x["lang"], "rust");

    // Details of a closed connection carry the account.
    let v = m.connz("?state=closed&subs=detail");
    let x = conn_named(&v, "gone");
    let mut detail = x["subscriptions_list_detail"].as_array().unwrap().clone();
    detail.sort_by_key(|d| d["sid"].as_str().unwrap().to_string());
    assert_eq!(detail.len(), 2);
    assert_eq!(detail[0]["subject"], "a.b");
    assert_eq!(detail[0]["sid"], "7");
    assert_eq!(detail[0]["account"], "$G");
    assert_eq!(u(&detail[0], "cid"), gone_cid);
    assert_eq!(detail[1]["subject"], "c");
    assert_eq!(detail[1]["qgroup"], "q1");

    // open (the default) excludes it; any has both.
    assert_eq!(names(&m.connz("")), ["stay"]);
    assert_eq!(names(&m.connz("?state=open")), ["stay"]);
    let any = m.connz("?state=any");
    let mut n = named_names(&any);
    n.sort();
    assert_eq!(n, ["gone", "stay"]);
    assert!(conn_named(&any, "stay").get("stop").is_none());
    // cid finds a closed connection with state=closed or any, not with open.
    assert_eq!(m.connz(&format!("?cid={gone_cid}"))["num_connections"], 0);
    assert_eq!(
        names(&m.connz(&format!("?cid={gone_cid}&state=any"))),
        ["gone"]
    );
    assert_eq!(
        names(&m.connz(&format!("?cid={gone_cid}&state=closed"))),
        ["gone"]
    );

    // stop and reason sorts: only on closed connections.
    m.expect_400(
        "/connz?sort=stop",
        "sort by stop only valid on closed connections",
    );
    m.expect_400(
        "/connz?sort=reason",
        "sort by reason only valid on closed connections",
    );
    stay.flush();
}

#[test]
fn connz_closed_sorted_by_stop_and_reason() {
    let m = Mon::start(&[]);
    let first = named(m.port(), "first");
    let mut second = named(m.port(), "second");
    // first closes normally, then second with a protocol violation.
    drop(first);
    m.connz_until("state=closed", "first's close", |v| {
        named_names(v) == ["first"]
    });
    second.send("FOO BAR\r\n");
    second.expect_line("-ERR 'Unknown Protocol Operation'");
    let v = m.connz_until("state=closed", "second's close", |v| {
        named_names(v).len() == 2
    });
    assert_eq!(conn_named(&v, "first")["reason"], "Client Closed");
    assert_eq!(conn_named(&v, "second")["reason"], "Protocol Violation");
    // stop: most recent first. reason: alphabetical.
    assert_eq!(
        named_names(&m.connz("?state=closed&sort=stop")),
        ["second", "first"]
    );
    assert_eq!(
        named_names(&m.connz("?state=closed&sort=reason")),
        ["first", "second"]
    );
    assert_eq!(
        named_names(&m.connz("?state=closed&sort=cid")),
        ["first", "second"]
    );
}

/// Monitoring on 127.0.0.1, user bob (password pw) in account A, alice (s3cret) in $G.
const BOB_IN_A_ALICE_GLOBAL: &str = "http: \"127.0.0.1:{MPORT}\"\n\
     accounts {\n  A: { users: [ {user: bob, password: pw} ] }\n}\n\
     authorization { users: [ {user: alice, password: s3cret} ] }\n";

#[test]
fn connz_auth_shows_user_and_account() {
    let m = Mon::with_config(BOB_IN_A_ALICE_GLOBAL, &[]);
    let mut bob = Client::connect_with(
        m.port(),
        r#"{"verbose":false,"user":"bob","pass":"pw","name":"bob"}"#,
    );
    let mut alice = Client::connect_with(
        m.port(),
        r#"{"verbose":false,"user":"alice","pass":"s3cret","name":"alice"}"#,
    );
    bob.send("SUB foo 1\r\n");
    bob.flush();
    alice.send("SUB foo 1\r\n");
    alice.flush();

    let v = m.varz();
    assert_eq!(v["auth_required"], true);

    let c = m.connz("");
    for n in ["bob", "alice"] {
        let x = conn_named(&c, n);
        assert!(x.get("authorized_user").is_none(), "{x:#}");
        assert!(x.get("account").is_none(), "{x:#}");
    }
    for q in ["?auth=1", "?auth=true"] {
        let c = m.connz(q);
        let b = conn_named(&c, "bob");
        assert_eq!(b["authorized_user"], "bob", "{b:#}");
        assert_eq!(b["account"], "A", "{b:#}");
        let a = conn_named(&c, "alice");
        assert_eq!(a["authorized_user"], "alice", "{a:#}");
        // The global account is not shown.
        assert!(a.get("account").is_none(), "{a:#}");
    }

    // subsz lists the account of each subscription.
    let v = m.json("/subsz?subs=1&test=foo");
    let list = v["subscriptions_list"].as_array().unwrap();
    let mut accs: Vec<&str> = list
        .iter()
        .map(|d| d["account"].as_str().unwrap())
        .collect();
    accs.sort();
    assert_eq!(accs, ["$G", "A"], "{v:#}");

    // A closed connection keeps its user for auth=1.
    drop(bob);
    let v = m.connz_until("state=closed&auth=1", "bob's close", |v| {
        named_names(v) == ["bob"]
    });
    let b = conn_named(&v, "bob");
    assert_eq!(b["authorized_user"], "bob", "{b:#}");
    assert_eq!(b["account"], "A", "{b:#}");
    let v = m.connz("?state=closed");
    assert!(conn_named(&v, "bob").get("authorized_user").is_none());
}

fn tls_client_config() -> Arc<rustls::ClientConfig> {
    tls_client_config_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
}

fn tls_client_config_versions(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let provider = rustls::crypto::ring::default_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_stream(sock: TcpStream) -> Tls {
    tls_stream_with(sock, tls_client_config())
}

fn tls_stream_with(sock: TcpStream, cfg: Arc<rustls::ClientConfig>) -> Tls {
    let conn =
        rustls::ClientConnection::new(cfg, ServerName::try_from("localhost").unwrap()).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// A NATS client over TLS: INFO in the clear, the upgrade, CONNECT with `name`, PING/PONG.
/// Returns the stream and Go's name of the negotiated cipher suite.
fn tls_nats_client(
    port: u16,
    name: &str,
    cfg: Arc<rustls::ClientConfig>,
) -> (BufReader<Tls>, String) {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 1];
    let mut info = Vec::new();
    while !info.ends_with(b"\r\n") {
        sock.read_exact(&mut b).unwrap();
        info.push(b[0]);
    }
    let mut t = BufReader::new(tls_stream_with(sock, cfg));
    t.get_mut()
        .write_all(
            format!("CONNECT {{\"verbose\":false,\"name\":\"{name}\"}}\r\nPING\r\n").as_bytes(),
        )
        .unwrap();
    let mut line = String::new();
    t.read_line(&mut line).unwrap();
    assert_eq!(line, "PONG\r\n");
    let suite = t.get_ref().conn.negotiated_cipher_suite().unwrap();
    // rustls names TLS 1.3 suites TLS13_*, Go (and IANA) TLS_*; TLS 1.2 names are the same.
    let suite_name = format!("{:?}", suite.suite()).replace("TLS13_", "TLS_");
    (t, suite_name)
}

fn tls_args() -> Vec<String> {
    vec![
        "--tls".into(),
        "--tlscert".into(),
        cert("server-cert.pem"),
        "--tlskey".into(),
        cert("server-key.pem"),
    ]
}

#[test]
fn connz_tls_connection_fields() {
    let targs = tls_args();
    let args: Vec<&str> = targs.iter().map(String::as_str).collect();
    let m = Mon::start(&args);
    let (_t13, suite13) = tls_nats_client(m.port(), "secure", tls_client_config());
    let (_t12, suite12) = tls_nats_client(
        m.port(),
        "tls12",
        tls_client_config_versions(&[&rustls::version::TLS12]),
    );
    assert!(suite12.starts_with("TLS_ECDHE_"), "{suite12}");

    let v = m.varz();
    assert_eq!(v["tls_required"], true);
    // nats-server raises auth_timeout to tls_timeout + 1 when TLS is on and it was not set.
    assert_eq!(v["auth_timeout"], 3);
    let c = m.connz("");
    let x = conn_named(&c, "secure");
    assert_eq!(x["tls_version"], "1.3", "{x:#}");
    assert_eq!(x["tls_cipher_suite"], suite13.as_str(), "{x:#}");
    let x = conn_named(&c, "tls12");
    assert_eq!(x["tls_version"], "1.2", "{x:#}");
    assert_eq!(x["tls_cipher_suite"], suite12.as_str(), "{x:#}");
}

#[test]
fn slow_consumers_are_counted() {
    let m = Mon::with_config(
        "http_port: {MPORT}\nmax_payload: 16384\nmax_pending: 65536\n",
        &[],
    );
    let mut slow = named(m.port(), "slow");
    slow.send("SUB flood 1\r\n");
    slow.flush();
    let mut publ = named(m.port(), "flooder");
    let payload = "x".repeat(8192);
    let chunk: String = (0..16)
        .map(|_| format!("PUB flood {}\r\n{}\r\n", payload.len(), payload))
        .collect();
    // The slow client never reads; flood until the server gives up on it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        publ.send(&chunk);
        flush_answering_pings(&mut publ);
        if m.varz()["slow_consumers"] != 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no slow consumer detected");
    }
    let v = m.varz();
    assert_eq!(v["slow_consumers"], 1);
    let c = m.connz_until("state=closed", "the slow consumer's close", |v| {
        conns(v).iter().any(|c| c["name"] == "slow")
    });
    let x = conn_named(&c, "slow");
    assert_eq!(x["reason"], "Slow Consumer (Pending Bytes)", "{x:#}");
    // The publisher is still there.
    flush_answering_pings(&mut publ);
    assert_eq!(names(&m.connz("")), ["flooder"]);
}

// ---------------------------------------------------------------------------------------------
// /subsz, /routez, /healthz, /

/// subsz's stats-only keys, in order.
const SUBSZ_STATS: &[&str] = &[
    "num_subscriptions",
    "num_cache",
    "num_inserts",
    "num_removes",
    "num_matches",
    "cache_hit_rate",
    "max_fanout",
    "avg_fanout",
];

#[test]
fn subsz_counts_lists_and_test_filter() {
    let m = Mon::start(&[]);
    let base = m.json("/subsz");
    let base_subs = u(&base, "num_subscriptions");
    let base_inserts = u(&base, "num_inserts");
    let base_removes = u(&base, "num_removes");
    let base_matches = u(&base, "num_matches");

    let mut sub = named(m.port(), "sub");
    sub.send(
        "SUB fan.x 1\r\nSUB fan.* 2\r\nSUB fan.> 3\r\nSUB other q 4\r\nSUB tmp 5\r\nUNSUB 5\r\n",
    );
    sub.flush();
    let mut publ = named(m.port(), "pub");
    publ.send("PUB fan.x 2\r\nhi\r\nPUB fan.x 2\r\nhi\r\n");
    publ.flush();
    for _ in 0..6 {
        sub.read_msg();
    }
    sub.flush();
    let cid = u(conn_named(&m.connz(""), "sub"), "cid");

    // Without subs: the stats only, exactly these keys in this order.
    let r = m.get("/subsz");
    assert_eq!(r.status, 200);
    assert_eq!(top_level_keys(&r.text()), SUBSZ_STATS, "{}", r.text());
    let v = r.json();
    assert_eq!(u(&v, "num_subscriptions"), base_subs + 4);
    assert_eq!(u(&v, "num_inserts"), base_inserts + 5);
    assert_eq!(u(&v, "num_removes"), base_removes + 1);
    assert!(u(&v, "num_matches") > base_matches, "{v:#}");
    assert!(u(&v, "num_cache") >= 1, "{v:#}");
    assert!(
        u(&v, "max_fanout") >= 3,
        "fan.x matches three subscriptions: {v:#}"
    );
    let hit = v["cache_hit_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&hit), "{v:#}");
    assert!(v["avg_fanout"].as_f64().unwrap() > 0.0, "{v:#}");
    assert_eq!(v["num_subscriptions"], m.varz()["subscriptions"]);
    // /subscriptionsz is the same endpoint.
    let alias = m.json("/subscriptionsz");
    assert_eq!(alias["num_subscriptions"], v["num_subscriptions"]);

    // With subs=1: the list, with paging fields.
    let mut keys = vec!["server_id", "now"];
    keys.extend_from_slice(SUBSZ_STATS);
    keys.extend_from_slice(&["total", "offset", "limit", "subscriptions_list"]);
    assert_eq!(top_level_keys(&m.get("/subsz?subs=1").text()), keys);
    let v = m.json("/subsz?subs=1");
    assert!(v["server_id"].is_string());
    time_of(&v, "now");
    assert_eq!(v["offset"], 0);
    assert_eq!(v["limit"], 1024);
    let list = v["subscriptions_list"].as_array().unwrap();
    assert_eq!(u(&v, "total"), list.len() as u64);
    let mut ours: Vec<&Value> = list.iter().filter(|d| d["cid"] == cid).collect();
    ours.sort_by_key(|d| d["sid"].as_str().unwrap().to_string());
    let want = [
        ("fan.x", "1", None, 2),
        ("fan.*", "2", None, 2),
        ("fan.>", "3", None, 2),
        ("other", "4", Some("q"), 0),
    ];
    assert_eq!(ours.len(), want.len(), "{v:#}");
    for (d, (subject, sid, q, msgs)) in ours.iter().zip(want) {
        assert_eq!(d["account"], "$G", "{d:#}");
        assert_eq!(d["subject"], subject, "{d:#}");
        assert_eq!(d["sid"], sid, "{d:#}");
        assert_eq!(u(d, "msgs"), msgs, "{d:#}");
        match q {
            Some(q) => assert_eq!(d["qgroup"], q),
            None => assert!(d.get("qgroup").is_none()),
        }
    }
    if !is_go() {
        assert_eq!(list.len(), 4, "only client subscriptions: {v:#}");
    }

    // test=subject keeps those that match that publish subject.
    let v = m.json("/subsz?subs=1&test=fan.x");
    let mut subjects: Vec<&str> = v["subscriptions_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["fan.*", "fan.>", "fan.x"]);
    assert_eq!(v["total"], 3);
    // total is the number returned after offset/limit, as nats-server 2.9 reports it.
    let v = m.json("/subsz?subs=1&test=fan.x&limit=2");
    assert_eq!(v["subscriptions_list"].as_array().unwrap().len(), 2);
    assert_eq!(v["total"], 2);
    assert_eq!(v["limit"], 2);
    let v = m.json("/subsz?subs=1&test=fan.x&offset=2");
    assert_eq!(v["subscriptions_list"].as_array().unwrap().len(), 1);
    assert_eq!(v["offset"], 2);
    // Nothing matches: back to the stats only.
    let r = m.get("/subsz?subs=1&test=no.such.subject");
    assert_eq!(top_level_keys(&r.text()), SUBSZ_STATS, "{}", r.text());
    // test without subs: still the stats only.
    let r = m.get("/subsz?test=fan.x");
    assert_eq!(top_level_keys(&r.text()), SUBSZ_STATS, "{}", r.text());

    m.expect_400(
        "/subsz?subs=1&test=foo.*",
        "invalid test subject, must be valid publish subject: foo.*",
    );
    m.expect_400(
        "/subsz?subs=1&test=foo.>",
        "invalid test subject, must be valid publish subject: foo.>",
    );
}

#[test]
fn routez_without_a_cluster() {
    let m = Mon::start(&[]);
    for q in ["", "?subs=1"] {
        let r = m.get(&format!("/routez{q}"));
        assert_eq!(r.status, 200);
        assert_eq!(
            top_level_keys(&r.text()),
            ["server_id", "now", "num_routes", "routes"]
        );
        let v = r.json();
        assert_eq!(v["num_routes"], 0);
        assert_eq!(v["routes"], Value::Array(vec![]));
        assert_eq!(v["server_id"], m.varz()["server_id"]);
        time_of(&v, "now");
    }
}

#[test]
fn healthz_and_jsonp() {
    let m = Mon::start(&[]);
    let r = m.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), r#"{"status":"ok"}"#);

    let r = m.get("/healthz?callback=cb");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/javascript"));
    assert_eq!(r.text(), r#"cb({"status":"ok"})"#);

    // Every endpoint takes callback=, percent-decoded.
    for ep in ["/varz", "/connz", "/subsz", "/routez"] {
        let r = m.get(&format!("{ep}?callback=my%20cb"));
        assert_eq!(r.status, 200, "{ep}");
        assert_eq!(r.header("content-type"), Some("application/javascript"));
        let t = r.text();
        let inner = t
            .strip_prefix("my cb(")
            .and_then(|t| t.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{ep}: not JSONP: {t}"));
        let v: Value = serde_json::from_str(inner).unwrap();
        assert!(v.is_object(), "{ep}");
    }
    // With other parameters too.
    let r = m.get("/connz?limit=1&callback=f");
    let t = r.text();
    assert!(t.starts_with("f({") && t.ends_with("})"), "{t}");
}

#[test]
fn index_page_links_the_endpoints() {
    let m = Mon::start(&[]);
    let r = m.get("/");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        r.headers
    );
    let t = r.text();
    for ep in ["varz", "connz", "subsz", "routez", "healthz"] {
        assert!(t.contains(&format!("href=./{ep}")), "no link to {ep}:\n{t}");
    }
}

#[test]
fn http_req_stats_count_requests() {
    let m = Mon::start(&[]);
    let v = m.varz();
    // The current request is counted.
    assert_eq!(
        v["http_req_stats"],
        serde_json::json!({"/varz": 1, "/connz": m.settle_reqs}),
        "{v:#}"
    );
    m.connz("");
    m.connz("?subs=1");
    m.json("/subsz");
    m.json("/routez");
    m.json("/healthz");
    assert_eq!(m.get("/").status, 200);
    assert_eq!(m.get("/nope").status, 404);
    let v = m.varz();
    assert_eq!(
        v["http_req_stats"],
        serde_json::json!({
            "/": 1,
            "/connz": 2 + m.settle_reqs,
            "/healthz": 1,
            "/routez": 1,
            "/subsz": 1,
            "/varz": 2
        }),
        "{v:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors and HTTP details

#[test]
fn bad_parameters_get_400_with_go_messages() {
    let m = Mon::start(&[]);
    let cases = [
        (
            "/connz?limit=x",
            "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax",
        ),
        (
            "/connz?offset=1.5",
            "Error decoding int for 'offset': strconv.Atoi: parsing \"1.5\": invalid syntax",
        ),
        (
            "/connz?cid=abc",
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"abc\": invalid syntax",
        ),
        ("/connz?state=foo", "Error decoding state for foo"),
        (
            "/connz?subs=yes",
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"yes\": invalid syntax",
        ),
        (
            "/connz?auth=maybe",
            "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        ("/connz?sort=foo", "invalid sorting option: foo"),
        (
            "/connz?sort=stop&state=open",
            "sort by stop only valid on closed connections",
        ),
        (
            "/subsz?subs=nope",
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"nope\": invalid syntax",
        ),
        (
            "/subsz?limit=z",
            "Error decoding int for 'limit': strconv.Atoi: parsing \"z\": invalid syntax",
        ),
    ];
    for (path, msg) in cases {
        m.expect_400(path, msg);
    }
    // Percent-decoded before it is reported.
    m.expect_400("/connz?sort=a%20b", "invalid sorting option: a b");
}

#[test]
fn unknown_paths_get_404() {
    let m = Mon::start(&[]);
    for p in ["/nope", "/varzz", "/varz/extra", "/connz/"] {
        let r = m.get(p);
        assert_eq!(r.status, 404, "{p}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("text/plain")),
            "{p}: {:?}",
            r.headers
        );
        assert_eq!(r.text().trim_end(), "404 page not found", "{p}");
    }
}

#[test]
fn head_and_post_are_served() {
    let m = Mon::start(&[]);
    let r = http_request(m.mport, "HEAD", "/varz");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.body.is_empty());
    let r = http_request(m.mport, "POST", "/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"status":"ok"}"#);
}

/// rnatsd only: nats-server answers any method and has no such limits of its own.
#[test]
fn other_methods_and_malformed_requests_are_refused() {
    if is_go() {
        return;
    }
    let m = Mon::start(&[]);
    for method in ["DELETE", "PUT", "OPTIONS", "PATCH"] {
        let r = http_request(m.mport, method, "/varz");
        assert_eq!(r.status, 405, "{method}: {}", r.text());
    }
    // Garbage instead of a request line.
    let resp = raw_exchange(m.mport, b"GARBAGE\r\n\r\n");
    assert_eq!(raw_status(&resp), 400, "{resp}");
    // A request line far beyond any sane size gets a 4xx and the connection is closed.
    let long = format!(
        "GET /varz?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a=1&".repeat(64 * 1024)
    );
    let resp = raw_exchange(m.mport, long.as_bytes());
    if !resp.is_empty() {
        let st = raw_status(&resp);
        assert!((400..500).contains(&st), "{resp}");
    }
    // Still serving afterwards.
    assert_eq!(m.get("/healthz").status, 200);
}

#[test]
fn garbage_gets_400() {
    let m = Mon::start(&[]);
    let resp = raw_exchange(m.mport, b"NOT A REQUEST\r\n\r\n");
    assert_eq!(raw_status(&resp), 400, "{resp}");
    assert_eq!(m.get("/healthz").status, 200);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let m = Mon::start(&[]);
    let mut s = connect_http(m.mport);
    let mut r = BufReader::new(s.try_clone().unwrap());
    // One after the other.
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let a = read_response(&mut r, false).unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), r#"{"status":"ok"}"#);
    s.write_all(b"GET /varz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let b = read_response(&mut r, false).unwrap();
    assert_eq!(b.status, 200);
    assert!(b.json()["server_id"].is_string());
    // Pipelined: two requests in one write, answered in order.
    s.write_all(b"GET /healthz?callback=one HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz?callback=two HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut r, false).unwrap().text(),
        r#"one({"status":"ok"})"#
    );
    assert_eq!(
        read_response(&mut r, false).unwrap().text(),
        r#"two({"status":"ok"})"#
    );
    // An error answer does not end the connection either.
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 404);
    // Connection: close ends it after the answer.
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    // The stats saw all six.
    let v = m.varz();
    assert_eq!(v["http_req_stats"]["/healthz"], 4);

    // HTTP/1.0 without keep-alive: one answer, then the close.
    let resp = raw_exchange(m.mport, b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(raw_status(&resp), 200, "{resp}");
    assert!(resp.ends_with(r#"{"status":"ok"}"#), "{resp}");
}

/// Many idle monitoring connections neither disturb client traffic nor keep the monitor
/// unusable once they are gone (rnatsd bounds how many it holds).
#[test]
fn idle_monitoring_connections_are_released() {
    let m = Mon::start(&[]);
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", m.mport)).ok())
        .collect();
    assert_eq!(idle.len(), 200);
    let mut c = named(m.port(), "c");
    c.send("SUB x 1\r\nPUB x 2\r\nok\r\n");
    assert_eq!(c.read_msg().3, b"ok");
    c.flush();
    if !is_go() {
        // rnatsd holds a bounded number: one more is told so at once, in the clear.
        let t = Instant::now();
        let resp = raw_exchange(
            m.mport,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(raw_status(&resp), 503, "{resp}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = TcpStream::connect(("127.0.0.1", m.mport))
            .ok()
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .ok()?;
                read_response(&mut BufReader::new(s), false).ok()
            })
            .is_some_and(|r| r.status == 200);
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "monitor unusable after idle connections left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(u(&m.varz(), "connections"), 1);
}

#[test]
fn http_base_path_from_config() {
    let m = Mon::with_config(
        "http: \"127.0.0.1:{MPORT}\"\nhttp_base_path: \"/mon\"\n",
        &[],
    );
    let v = m.json("/mon/varz");
    assert_eq!(v["http_base_path"], "/mon");
    assert_eq!(u(&v, "http_port"), m.mport as u64);
    assert_eq!(m.json("/mon/healthz"), serde_json::json!({"status": "ok"}));
    m.json("/mon/connz");
    m.json("/mon/subsz");
    m.json("/mon/routez");
    // Not under the base path: 404.
    for p in ["/varz", "/healthz", "/"] {
        assert_eq!(m.get(p).status, 404, "{p}");
    }
    // The index lives at the base path and links below it.
    let r = m.get("/mon");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("mon/varz"), "{}", r.text());
    // Stats are kept by endpoint, not by full path.
    let v = m.json("/mon/varz");
    assert_eq!(v["http_req_stats"]["/varz"], 2, "{v:#}");
    assert_eq!(v["http_req_stats"]["/healthz"], 1, "{v:#}");
}

#[test]
fn https_monitoring() {
    let hport = free_port();
    let hp = hport.to_string();
    let targs = tls_args();
    let mut args: Vec<&str> = vec!["-ms", &hp];
    args.extend(targs.iter().map(String::as_str));
    let srv = ServerProcess::start(&args);

    let get = |path: &str| -> Resp {
        let sock = connect_http(hport);
        let mut t = tls_stream(sock);
        write!(
            t,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        t.flush().unwrap();
        read_response(&mut BufReader::new(t), false).unwrap()
    };
    let r = get("/varz");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(u(&v, "https_port"), hport as u64);
    assert_eq!(v["http_port"], 0);
    assert_eq!(u(&v, "port"), srv.port as u64);
    assert_eq!(get("/healthz").text(), r#"{"status":"ok"}"#);
    let c = get("/connz").json();
    assert_eq!(c["num_connections"], 0);

    // Plain HTTP on the HTTPS port gets no answer.
    let resp = raw_exchange(
        hport,
        b"GET /varz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(!resp.contains("200 OK"), "{resp}");
}

#[test]
fn https_port_from_config_with_tls_block() {
    let m = Mon::with_config_unsettled(
        &format!(
            "https_port: {{MPORT}}\ntls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n",
            cert("server-cert.pem"),
            cert("server-key.pem")
        ),
        &[],
    );
    let sock = connect_http(m.mport);
    let mut t = tls_stream(sock);
    t.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    t.flush().unwrap();
    let r = read_response(&mut BufReader::new(t), false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"status":"ok"}"#);
}

// ---------------------------------------------------------------------------------------------
// The helpers' own parsers.

#[test]
fn helper_parsers() {
    assert_eq!(rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(rfc3339_ns("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
    assert_eq!(rfc3339_ns("1970-01-01T01:00:00+01:00"), Some(0));
    assert_eq!(
        rfc3339_ns("2026-11-27T21:15:09.022977917Z"),
        Some(1_795_814_109_022_977_917)
    );
    assert_eq!(rfc3339_ns("2026-11-27 21:15:09Z"), None);
    assert_eq!(go_duration_ns("0s"), Some(0.0));
    assert_eq!(go_duration_ns("755µs"), Some(755_000.0));
    assert_eq!(go_duration_ns("1m2.5s"), Some(62.5e9));
    assert_eq!(go_duration_ns("abc"), None);
    assert_eq!(uptime_secs("0s"), Some(0));
    assert_eq!(uptime_secs("1m33s"), Some(93));
    assert_eq!(uptime_secs("1d0h0m1s"), Some(86401));
    assert_eq!(uptime_secs("1h5s"), None);
    assert_eq!(uptime_secs("5m"), None);
    assert_eq!(
        top_level_keys("{\n  \"a\": {\n    \"b\": 1\n  },\n  \"c\": 2\n}"),
        ["a", "c"]
    );
}

/// Details where nats-server 2.9 answers differently from what a reading of its docs suggests,
/// each checked against it: a delivery is activity of the receiver; `acc` and `user` filter
/// without `auth`, and `total` is counted before the user filter; a failed login closes with
/// "Authentication Failure"; /varz shows the client_advertise address.
#[test]
fn connz_and_varz_details_as_nats_server_2_9() {
    let m = Mon::with_config(
        BOB_IN_A_ALICE_GLOBAL,
        &["--client_advertise", "10.1.2.3:4444"],
    );
    let v = m.varz();
    assert_eq!((&v["host"], &v["port"]), (&json!("10.1.2.3"), &json!(4444)));

    let login = |user: &str, pass: &str, name: &str| {
        Client::connect_with(
            m.port(),
            &format!(r#"{{"verbose":false,"user":"{user}","pass":"{pass}","name":"{name}"}}"#),
        )
    };
    let mut sub = login("bob", "pw", "sub");
    let mut publ = login("bob", "pw", "pub");
    let _alice = login("alice", "s3cret", "alice");
    sub.send("SUB foo 1\r\n");
    sub.flush();

    // Filters without auth=1 (2.10 refuses them; 2.9 applies them).
    let v = m.connz("?acc=A");
    assert_eq!(named_names(&v), ["sub", "pub"], "{v:#}");
    assert_eq!(v["total"], 2, "{v:#}");
    let v = m.connz("?user=alice");
    assert_eq!(named_names(&v), ["alice"], "{v:#}");
    assert_eq!(v["total"], 3, "total counts before the user filter: {v:#}");
    let v = m.connz("?acc=A&user=bob&auth=1");
    assert_eq!(v["total"], 2, "{v:#}");

    // The subscriber's last activity moves when a message is delivered to it.
    let before = time_of(conn_named(&m.connz(""), "sub"), "last_activity");
    std::thread::sleep(Duration::from_millis(20)); // let the clock move past `before`
    publ.send("PUB foo 2\r\nhi\r\n");
    publ.flush();
    let (subject, _, _, payload) = sub.read_msg();
    assert_eq!((subject.as_str(), payload.as_slice()), ("foo", &b"hi"[..]));
    let after = time_of(conn_named(&m.connz(""), "sub"), "last_activity");
    assert!(after > before, "last_activity {before} -> {after}");

    // A failed login's reason.
    let open = m.connz("");
    let newest_open = conns(&open)
        .iter()
        .filter_map(|c| c["cid"].as_u64())
        .max()
        .unwrap();
    let mut bad = Client::connect(m.port());
    bad.send("CONNECT {\"verbose\":false,\"user\":\"bob\",\"pass\":\"nope\",\"name\":\"bad\"}\r\n");
    bad.expect_line("-ERR 'Authorization Violation'");
    // It is the newest connection: the last closed by cid.
    let v = m.connz_until("state=closed", "the failed login's close", |v| {
        conns(v)
            .iter()
            .any(|c| c["cid"].as_u64() > Some(newest_open))
    });
    let c = conns(&v).last().unwrap().clone();
    assert_eq!(c["reason"], "Authentication Failure", "{c:#}");
}
