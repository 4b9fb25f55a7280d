//! Differential monitoring test: drive the same traffic into rnatsd and into Debian's
//! `nats-server` 2.9.10, then compare the *structure* of what the HTTP monitoring endpoints
//! answer — the set of JSON keys and the type of each value — plus the status and Content-Type
//! of good, bad and odd requests.
//!
//! A JSON document is reduced to a set of `(path, type)` pairs: `connections[].subscriptions_list[]`
//! names the elements of an array inside the elements of an array, `cluster.name` a key of an
//! object, and maps whose keys are data rather than field names (`http_req_stats`) are walked
//! with `*` as the key. Types are `null`, `bool`, `number`, `string`, `array`, `object` (Go's `0`
//! and serde's `0.0` are both numbers). Arrays contribute the union over their elements, so the
//! counts (Go has ~43 internal `$SYS` subscriptions, rnatsd none) never matter, only the keys.
//!
//! The only differences tolerated are in the section "The allowed differences" below: keys and
//! endpoints nats-server has for features rnatsd does not have. A key rnatsd shows and Go does
//! not, a type that differs, or a Go key missing from rnatsd and not listed there fails the test,
//! with every difference listed.
//!
//! Scenarios (each a fresh pair of servers with the same flags, `-m`/`-ms` on 127.0.0.1):
//! default flags; users with permissions + `tls {}`; accounts with a stream import/export;
//! a `cluster {}` block (no routes); token + TLS with the monitoring port on HTTPS (`-ms`); nkey
//! users + `no_auth_user`; TLS with client certificates (`verify: true`).
//!
//! Environment knobs (all optional):
//! - `RNATSD_TEST_BIN=/usr/sbin/nats-server`: run Go against Go (checks the harness itself is
//!   deterministic; every difference is then a harness bug).
//! - `MONDIFF_SHOW=1`: print the reference (Go) `(path, type)` sets of every request; `=2` also
//!   both servers' JSON.

mod common;

use common::{free_port, go_server_bin, ServerProcess, TempDir};
use ring::signature::{Ed25519KeyPair, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The allowed differences: all of them, in one place
// ---------------------------------------------------------------------------------------------

/// Keys nats-server 2.9.10 shows that rnatsd may leave out, because they belong to features
/// rnatsd does not have: `(endpoint, path, reason)`. A path covers everything below it. Only
/// Go-side keys can be excused here; if rnatsd shows one of these keys anyway, its type must
/// still match Go's. Never add a key here only because rnatsd lacks it by mistake.
///
/// Deliberately short: rnatsd prints Go's empty `jetstream`, `gateway`, `leaf`, `mqtt` and
/// `websocket` objects and the `leafnodes` count in /varz, so they are compared, not excused.
const GO_ONLY_ALLOWED: &[(&str, &str, &str)] = &[(
    "/varz",
    "system_account",
    "rnatsd has no system account ($SYS) and no internal system clients",
)];

/// Endpoints nats-server 2.9.10 serves (200) that rnatsd may answer with 404:
/// `(endpoint, reason)`. The test checks that Go does serve them, and that rnatsd answers
/// either the same status and Content-Type as Go or a 404.
const ENDPOINTS_NOT_BUILT: &[(&str, &str)] = &[
    ("/jsz", "JetStream is not implemented"),
    ("/gatewayz", "gateways are not implemented"),
    ("/leafz", "leaf nodes are not implemented"),
    (
        "/accountz",
        "not among issue 4's endpoints (/, /varz, /connz, /routez, /subsz, /healthz)",
    ),
    (
        "/accstatz",
        "not among issue 4's endpoints (/, /varz, /connz, /routez, /subsz, /healthz)",
    ),
];

/// Methods nats-server serves like GET (Go's ServeMux ignores the method) that rnatsd answers
/// with `405 Method Not Allowed` (and an `Allow` header): issue 4 asks for clear 405 answers,
/// and no monitoring tool sends these. GET, HEAD and POST are compared as usual.
const METHODS_REFUSED: &[&str] = &["PUT", "DELETE", "OPTIONS"];

/// Objects whose keys are data (endpoint names, ...), not field names: walked with `*`.
const DYNAMIC_KEY_MAPS: &[&str] = &["http_req_stats"];

/// Longest wait for a server to reach a state (connections closed, ...).
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// Read timeout for NATS and HTTP connections.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 client (Content-Length, chunked, or read-to-close bodies; HTTP or HTTPS)
// ---------------------------------------------------------------------------------------------

/// A monitoring listener: its port, and whether it speaks HTTPS (`-ms`).
#[derive(Clone, Copy)]
struct Mon {
    port: u16,
    https: bool,
}

#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn content_type(&self) -> String {
        self.header("content-type").unwrap_or("<none>").to_string()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn read_crlf_line(r: &mut impl BufRead, what: &str) -> Result<String, String> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) => Err(format!("connection closed while reading {what}")),
        Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_string()),
        Err(e) => Err(format!("reading {what}: {e}")),
    }
}

/// `METHOD target` with `Connection: close`. The body is read as the headers say (chunked or
/// Content-Length; none for HEAD), so a server that keeps the connection open anyway does not
/// stall the test; without either, it is read until the server closes.
fn http_request(mon: Mon, method: &str, target: &str) -> HttpResponse {
    try_http_request(mon, method, target)
        .unwrap_or_else(|e| panic!("HTTP {method} {target} on port {}: {e}", mon.port))
}

fn try_http_request(mon: Mon, method: &str, target: &str) -> Result<HttpResponse, String> {
    let sock = TcpStream::connect(("127.0.0.1", mon.port)).map_err(|e| format!("connect: {e}"))?;
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // Without this, a TLS handshake's small writes meet delayed ACKs: ~40 ms per request.
    sock.set_nodelay(true).ok();
    let stream: Box<dyn Stream> = if mon.https {
        let conn = rustls::ClientConnection::new(
            tls_client_config(false),
            ServerName::try_from("localhost").unwrap(),
        )
        .map_err(|e| format!("TLS client: {e}"))?;
        Box::new(rustls::StreamOwned::new(conn, sock))
    } else {
        Box::new(sock)
    };
    let mut r = BufReader::new(stream);
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: rnatsd-mondiff\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        mon.port
    );
    r.get_mut()
        .write_all(head.as_bytes())
        .and_then(|_| r.get_mut().flush())
        .map_err(|e| format!("write: {e}"))?;
    let status_line = read_crlf_line(&mut r, "the status line")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_crlf_line(&mut r, "headers")?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut resp = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if method == "HEAD" || status == 204 || status == 304 {
        // No body, whatever the headers say.
    } else if chunked {
        loop {
            let size_line = read_crlf_line(&mut r, "a chunk size")?;
            let hex = size_line.split(';').next().unwrap_or("").trim();
            let n = usize::from_str_radix(hex, 16)
                .map_err(|_| format!("bad chunk size line {size_line:?}"))?;
            if n == 0 {
                // Trailers, up to the empty line.
                while !read_crlf_line(&mut r, "trailers")?.is_empty() {}
                break;
            }
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk)
                .map_err(|e| format!("reading a chunk: {e}"))?;
            if &chunk[n..] != b"\r\n" {
                return Err("chunk not CRLF-terminated".into());
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = resp.header("content-length") {
        let n: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        resp.body = vec![0u8; n];
        r.read_exact(&mut resp.body)
            .map_err(|e| format!("reading the body: {e}"))?;
    } else {
        r.read_to_end(&mut resp.body)
            .map_err(|e| format!("reading the body to close: {e}"))?;
    }
    Ok(resp)
}

fn get_json(mon: Mon, target: &str) -> Value {
    fetch_json(mon, target).unwrap_or_else(|e| panic!("{e}"))
}

/// GET and parse as JSON (or JSONP `cb(...)` when `callback=` is in the query); a failed
/// request, a wrong status, a missing JSONP wrapper or bad JSON is an error to report.
fn fetch_json(mon: Mon, target: &str) -> Result<Value, String> {
    let port = mon.port;
    let resp = try_http_request(mon, "GET", target)
        .map_err(|e| format!("GET {target} on port {port}: {e}"))?;
    let text = resp.text();
    if resp.status != 200 {
        return Err(format!(
            "GET {target} on port {port}: status {} body {text:?}",
            resp.status
        ));
    }
    let json = match jsonp_callback(target) {
        Some(cb) => {
            let t = text.trim();
            t.strip_prefix(&format!("{cb}("))
                .and_then(|t| t.strip_suffix(')'))
                .ok_or_else(|| {
                    format!("GET {target} on port {port}: not JSONP for {cb}: {text:?}")
                })?
                .to_string()
        }
        None => text,
    };
    serde_json::from_str(&json)
        .map_err(|e| format!("GET {target} on port {port}: bad JSON ({e}): {json:?}"))
}

fn jsonp_callback(target: &str) -> Option<&str> {
    let q = target.split_once('?')?.1;
    q.split('&').find_map(|kv| kv.strip_prefix("callback="))
}

// ---------------------------------------------------------------------------------------------
// JSON structure: a set of (path, type) pairs
// ---------------------------------------------------------------------------------------------

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

type Shape = BTreeSet<(String, &'static str)>;

fn shape(v: &Value) -> Shape {
    let mut out = Shape::new();
    walk(v, "", &mut out);
    out
}

fn walk(v: &Value, path: &str, out: &mut Shape) {
    if !path.is_empty() {
        out.insert((path.to_string(), type_name(v)));
    }
    match v {
        Value::Array(items) => {
            let p = format!("{path}[]");
            for item in items {
                walk(item, &p, out);
            }
        }
        Value::Object(map) => {
            let dynamic = DYNAMIC_KEY_MAPS.contains(&path);
            for (k, child) in map {
                let key = if dynamic { "*" } else { k.as_str() };
                let p = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                walk(child, &p, out);
            }
        }
        _ => {}
    }
}

/// The endpoint of a request target: `/connz?subs=1` -> `/connz`.
fn endpoint(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

/// The allowed-list path that excuses Go-only `path` on `endpoint`, if any.
fn allowed(endpoint: &str, path: &str) -> Option<&'static str> {
    GO_ONLY_ALLOWED
        .iter()
        .find(|(ep, p, _)| {
            *ep == endpoint
                && (path == *p
                    || path
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with("[]")))
        })
        .map(|(_, p, _)| *p)
}

/// Differences between Go's and rnatsd's shapes of one request (`target` names it in the
/// messages); excused Go-only keys go to `excused` as "endpoint path".
fn compare_shapes(
    target: &str,
    go: &Shape,
    rn: &Shape,
    failures: &mut Vec<String>,
    excused: &mut BTreeSet<String>,
) {
    fn by_path(s: &Shape) -> BTreeMap<&str, BTreeSet<&'static str>> {
        let mut m: BTreeMap<&str, BTreeSet<&'static str>> = BTreeMap::new();
        for (p, t) in s {
            m.entry(p.as_str()).or_default().insert(*t);
        }
        m
    }
    fn types(t: &BTreeSet<&str>) -> String {
        t.iter().copied().collect::<Vec<_>>().join("/")
    }
    let ep = endpoint(target);
    let (g, r) = (by_path(go), by_path(rn));
    let paths: BTreeSet<&str> = g.keys().chain(r.keys()).copied().collect();
    for path in paths {
        match (g.get(path), r.get(path)) {
            (Some(gt), Some(rt)) if gt == rt => {}
            (Some(gt), Some(rt)) => failures.push(format!(
                "{target}: `{path}` is {} in rnatsd, {} in nats-server",
                types(rt),
                types(gt)
            )),
            (Some(gt), None) => match allowed(ep, path) {
                Some(p) => {
                    excused.insert(format!("{ep} {p}"));
                }
                None => failures.push(format!(
                    "{target}: `{path}` ({}) only in nats-server",
                    types(gt)
                )),
            },
            (None, Some(rt)) => {
                failures.push(format!("{target}: `{path}` ({}) only in rnatsd", types(rt)))
            }
            (None, None) => unreachable!(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// NATS clients (plain or TLS, any credentials) for the traffic
// ---------------------------------------------------------------------------------------------

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn cert(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("configs/certs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A client TLS configuration trusting the test CA, optionally with the test client certificate.
fn tls_client_config(client_cert: bool) -> Arc<rustls::ClientConfig> {
    let provider = rustls::crypto::ring::default_provider();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert("ca.pem")).expect("read ca.pem") {
        roots.add(c.expect("CA certificate")).expect("add CA");
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("TLS versions")
        .with_root_certificates(roots);
    let cfg = if client_cert {
        let certs = CertificateDer::pem_file_iter(cert("client-cert.pem"))
            .expect("read client-cert.pem")
            .map(|c| c.expect("client certificate"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(cert("client-key.pem")).expect("client key");
        b.with_client_auth_cert(certs, key).expect("client auth")
    } else {
        b.with_no_client_auth()
    };
    Arc::new(cfg)
}

/// How a client logs in.
#[derive(Clone, Copy)]
enum Creds {
    None,
    User(&'static str, &'static str),
    Token(&'static str),
    /// An nkey user whose ed25519 seed is 32 times this byte (see `nkey_pair`).
    NKey(u8),
}

fn nkey_pair(seed: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).expect("ed25519 seed")
}

/// The public user nkey (`U...`) of `Creds::NKey(seed)`, for configuration files.
fn nkey_public(seed: u8) -> String {
    rnatsd::proto::nkey::encode_user_key(nkey_pair(seed).public_key().as_ref())
}

impl Creds {
    /// The CONNECT fields for these credentials (each followed by a comma), given the INFO.
    fn connect_fields(self, info: &Value) -> String {
        match self {
            Creds::None => String::new(),
            Creds::User(u, p) => format!("\"user\":\"{u}\",\"pass\":\"{p}\","),
            Creds::Token(t) => format!("\"auth_token\":\"{t}\","),
            Creds::NKey(seed) => {
                let nonce = info["nonce"].as_str().expect("INFO has a nonce for nkeys");
                let sig = rnatsd::proto::nkey::base64_url_encode(
                    nkey_pair(seed).sign(nonce.as_bytes()).as_ref(),
                );
                format!("\"nkey\":\"{}\",\"sig\":\"{sig}\",", nkey_public(seed))
            }
        }
    }
}

struct NatsConn {
    r: BufReader<Box<dyn Stream>>,
    sock: TcpStream,
}

impl NatsConn {
    /// Connect, read INFO (in the clear), upgrade to TLS when the scenario says so, send CONNECT
    /// (name, lang, version and the credentials) and PING, and wait for the PONG.
    fn open(port: u16, sc: &Scenario, creds: Creds, name: &str, lang: &str) -> NatsConn {
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("NATS connect");
        sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        sock.set_nodelay(true).ok();
        // Byte by byte, so nothing after INFO is buffered before a TLS upgrade.
        let mut info = Vec::new();
        let mut b = [0u8; 1];
        while !info.ends_with(b"\r\n") {
            (&sock).read_exact(&mut b).expect("read INFO");
            info.push(b[0]);
        }
        let info = String::from_utf8_lossy(&info).into_owned();
        let info_json: Value = info
            .strip_prefix("INFO ")
            .and_then(|j| serde_json::from_str(j.trim_end()).ok())
            .unwrap_or_else(|| panic!("expected INFO, got {info:?}"));
        let stream: Box<dyn Stream> = if sc.tls {
            let conn = rustls::ClientConnection::new(
                tls_client_config(sc.client_cert),
                ServerName::try_from("localhost").unwrap(),
            )
            .expect("TLS client");
            Box::new(rustls::StreamOwned::new(conn, sock.try_clone().unwrap()))
        } else {
            Box::new(sock.try_clone().unwrap())
        };
        let mut c = NatsConn {
            r: BufReader::new(stream),
            sock,
        };
        c.send(&format!(
            "CONNECT {{{}\"verbose\":false,\"pedantic\":false,\"name\":\"{name}\",\"lang\":\"{lang}\",\"version\":\"1.2.3\",\"protocol\":1,\"headers\":true}}\r\n",
            creds.connect_fields(&info_json)
        ));
        c.sync();
        c
    }

    fn send(&mut self, s: &str) {
        let w = self.r.get_mut();
        w.write_all(s.as_bytes()).expect("NATS write");
        w.flush().expect("NATS flush");
    }

    /// PING, then read (and drop deliveries) up to the PONG: everything sent before has been
    /// processed and everything delivered to this connection so far has been read.
    fn sync(&mut self) {
        self.send("PING\r\n");
        loop {
            let mut line = String::new();
            match self.r.read_line(&mut line) {
                Ok(0) => panic!("NATS: connection closed while waiting for PONG"),
                Ok(_) => {}
                Err(e) => panic!("NATS: waiting for PONG: {e}"),
            }
            let line = line.trim_end();
            assert!(!line.starts_with("-ERR"), "NATS: server said {line}");
            if line == "PONG" {
                return;
            }
            if line == "PING" {
                self.send("PONG\r\n");
            }
            // MSG/HMSG lines and their (text, PONG-free) payload lines are skipped.
        }
    }

    /// Close from the client side, as a client that goes away does.
    fn close(self) {
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// How one scenario's servers are set up and how its clients log in.
struct Scenario {
    name: &'static str,
    /// Configuration file text (given a free port for a cluster listener), or None.
    config: Option<fn(u16) -> String>,
    /// Clients use TLS (the config has a `tls {}` block).
    tls: bool,
    /// Clients present the test client certificate.
    client_cert: bool,
    /// Monitoring on HTTPS (`-ms`) rather than HTTP (`-m`).
    https: bool,
    /// Credentials of the subscriber, the publisher and the client that goes away.
    creds: [Creds; 3],
}

impl Scenario {
    fn plain(name: &'static str, config: Option<fn(u16) -> String>) -> Scenario {
        Scenario {
            name,
            config,
            tls: false,
            client_cert: false,
            https: false,
            creds: [Creds::None; 3],
        }
    }
}

/// The requests compared for every scenario, in this order on both servers. `{sub_cid}` and
/// `{closer_cid}` are replaced by each server's cid of the subscriber and of the closed client.
const TARGETS: &[&str] = &[
    "/varz",
    "/connz",
    "/connz?subs=1",
    "/connz?subs=1&auth=1",
    "/connz?subs=detail",
    "/connz?subs=detail&auth=1",
    "/connz?state=closed&subs=1",
    "/connz?state=closed&subs=detail&auth=1",
    "/connz?state=any&subs=1&auth=1",
    "/connz?sort=msgs_from&limit=1&offset=1",
    "/connz?cid={sub_cid}&subs=detail&auth=1",
    "/connz?state=closed&cid={closer_cid}&subs=1",
    "/connz?offset=100",
    "/routez",
    "/routez?subs=1",
    "/routez?subs=detail",
    "/subsz",
    "/subsz?subs=1",
    "/subsz?subs=1&test=foo",
    "/subsz?test=foo",
    "/subsz?subs=1&test=no.match.here",
    // One match, so paging is deterministic (Go lists subscriptions in map order).
    "/subsz?subs=1&test=foo&limit=1&offset=0",
    "/healthz",
    "/varz?callback=cb",
    "/connz?subs=1&callback=cb",
    "/subsz?subs=1&callback=cb",
    // Last, so http_req_stats holds every endpoint above.
    "/varz",
];

/// The same traffic for every server: a subscriber (plain, queue, wildcard, auto-unsubscribe,
/// an import's subject and a removed subscription), a publisher (matched, queued, wildcard,
/// unmatched, request and header messages), and a client that subscribes, publishes and goes
/// away. Returns the two clients that stay open.
fn drive_traffic(port: u16, sc: &Scenario) -> (NatsConn, NatsConn) {
    let mut sub = NatsConn::open(port, sc, sc.creds[0], "mondiff-sub", "rust");
    sub.send(
        "SUB foo 1\r\nSUB bar.* workers 2\r\nSUB baz.> 3\r\nSUB temp 4\r\nUNSUB 4\r\nSUB limited 5\r\nUNSUB 5 10\r\nSUB eng.builds.> 6\r\n",
    );
    sub.sync();
    let mut publ = NatsConn::open(port, sc, sc.creds[1], "mondiff-pub", "go");
    publ.send(
        "PUB foo 5\r\nhello\r\nPUB bar.x 5\r\nworld\r\nPUB baz.a.b 3\r\nabc\r\nPUB nobody 4\r\nnone\r\nPUB foo reply.1 2\r\nhi\r\nPUB limited 3\r\none\r\nPUB builds.1 2\r\nok\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
    );
    publ.sync();
    sub.sync();
    let mut closer = NatsConn::open(port, sc, sc.creds[2], "mondiff-closer", "python3");
    closer.send("SUB x 1\r\nSUB y q 2\r\nPUB foo 2\r\nok\r\nPUB builds.2 2\r\nok\r\n");
    closer.sync();
    sub.sync();
    closer.close();
    (sub, publ)
}

/// The cid of the connection named `name` in a /connz answer.
fn cid_of(connz: &Value, name: &str) -> Option<u64> {
    connz["connections"]
        .as_array()?
        .iter()
        .find(|c| c["name"].as_str() == Some(name))?["cid"]
        .as_u64()
}

/// Wait until the server shows exactly our two open client connections and the closed one in
/// its closed-connection list (so no readiness probe or half-closed client can make listings
/// differ from run to run); returns (subscriber cid, closed client cid).
fn settle(mon: Mon, who: &str) -> (u64, u64) {
    let deadline = Instant::now() + SETTLE_LIMIT;
    loop {
        let open = get_json(mon, "/connz");
        let closed = get_json(mon, "/connz?state=closed");
        let n_open = open["num_connections"].as_u64();
        if let (Some(2), Some(sub), Some(closer)) = (
            n_open,
            cid_of(&open, "mondiff-sub"),
            cid_of(&closed, "mondiff-closer"),
        ) {
            return (sub, closer);
        }
        assert!(
            Instant::now() < deadline,
            "{who}: connections did not settle: open {open} closed {closed}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One server of a scenario: the process, its monitoring listener and its config directory.
struct Side {
    _dir: TempDir,
    server: ServerProcess,
    mon: Mon,
}

fn start_side(bin: &Path, sc: &Scenario) -> Side {
    let dir = TempDir::new("mondiff");
    // The harness retries with other client ports if a start fails, not other monitoring
    // ports: retry here as well, in case the free monitoring port was taken in between.
    for _ in 0..5 {
        let mon = Mon {
            port: free_port(),
            https: sc.https,
        };
        let flag = if sc.https { "-ms" } else { "-m" };
        let mut args: Vec<String> = vec![flag.into(), mon.port.to_string()];
        if let Some(cfg) = sc.config {
            let path = dir.path.join("server.conf");
            std::fs::write(&path, cfg(free_port())).expect("write config");
            args.push("-c".into());
            args.push(path.to_string_lossy().into_owned());
        }
        let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let Ok(server) = std::panic::catch_unwind(|| ServerProcess::start_bin(bin, &argv)) else {
            continue;
        };
        // The client port answers first; wait for the monitoring port too.
        let deadline = Instant::now() + SETTLE_LIMIT;
        while TcpStream::connect(("127.0.0.1", mon.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{}: monitoring port {} never opened; log:\n{}",
                bin.display(),
                mon.port,
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        return Side {
            _dir: dir,
            server,
            mon,
        };
    }
    panic!("{} did not start (scenario {})", bin.display(), sc.name);
}

/// `MONDIFF_SHOW`: 0 (default) nothing, 1 Go's shapes, 2 also both servers' JSON.
fn show_level() -> u32 {
    std::env::var("MONDIFF_SHOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// At most `n` characters of `s`, for messages.
fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Run one scenario on both servers and compare every request in `TARGETS`.
fn run_scenario(sc: &Scenario) {
    let Some(go_bin) = go_server_bin() else {
        eprintln!(
            "SKIP {}: nats-server not installed (`make test` installs it)",
            sc.name
        );
        return;
    };
    let rn_bin = common::rnatsd_bin();
    let go = start_side(&go_bin, sc);
    let rn = start_side(&rn_bin, sc);

    let go_clients = drive_traffic(go.server.port, sc);
    let rn_clients = drive_traffic(rn.server.port, sc);
    let go_cids = settle(go.mon, "nats-server");
    let rn_cids = settle(rn.mon, "rnatsd");
    let concrete = |t: &str, (sub, closer): (u64, u64)| {
        t.replace("{sub_cid}", &sub.to_string())
            .replace("{closer_cid}", &closer.to_string())
    };

    let mut failures = Vec::new();
    let mut excused = BTreeSet::new();
    for target in TARGETS {
        let gv = get_json(go.mon, &concrete(target, go_cids));
        let g = shape(&gv);
        let rv = fetch_json(rn.mon, &concrete(target, rn_cids));
        if show_level() >= 1 {
            let mut s = format!("--- {} {target} (nats-server)\n", sc.name);
            for (p, t) in &g {
                let _ = writeln!(s, "  {p}: {t}");
            }
            if show_level() >= 2 {
                let _ = writeln!(s, "nats-server: {gv:#}");
                let _ = writeln!(s, "rnatsd: {rv:#?}");
            }
            eprint!("{s}");
        }
        match rv {
            Ok(v) => compare_shapes(target, &g, &shape(&v), &mut failures, &mut excused),
            Err(e) => failures.push(format!("{target}: rnatsd: {e}")),
        }
    }
    drop((go_clients, rn_clients));

    for e in &excused {
        eprintln!("{}: allowed difference (nats-server only): {e}", sc.name);
    }
    assert!(
        failures.is_empty(),
        "scenario {}: {} monitoring key/type difference(s) between nats-server ({}) and rnatsd ({}):\n  {}",
        sc.name,
        failures.len(),
        go_bin.display(),
        rn_bin.display(),
        failures.join("\n  ")
    );
}

fn tls_block(extra: &str) -> String {
    format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  timeout: 2\n{extra}}}\n",
        cert("server-cert.pem"),
        cert("server-key.pem")
    )
}

#[test]
fn default_flags() {
    run_scenario(&Scenario::plain("default_flags", None));
}

#[test]
fn users_and_tls() {
    fn config(_: u16) -> String {
        tls_block("")
            + "authorization {\n  users = [\n    {user: alice, password: alice-secret}\n    \
               {user: bob, password: bob-secret, permissions: {publish: \">\", subscribe: \">\"}}\n  ]\n}\n"
    }
    run_scenario(&Scenario {
        tls: true,
        creds: [
            Creds::User("alice", "alice-secret"),
            Creds::User("bob", "bob-secret"),
            Creds::User("alice", "alice-secret"),
        ],
        ..Scenario::plain("users_and_tls", Some(config))
    });
}

#[test]
fn accounts() {
    fn config(_: u16) -> String {
        "accounts {\n  \
           SALES: {\n    users: [ {user: sales, password: sales-secret} ]\n    \
             imports: [ {stream: {account: ENG, subject: \"builds.>\"}, prefix: \"eng\"} ]\n  }\n  \
           ENG: {\n    users: [ {user: eng, password: eng-secret} ]\n    \
             exports: [ {stream: \"builds.>\"} ]\n  }\n\
         }\n\
         authorization { users: [ {user: admin, password: admin-secret} ] }\n"
            .to_string()
    }
    // Subscriber in SALES (importing ENG's builds), publisher in $G (no `account` shown for
    // it), the client that goes away in ENG (a closed connection in an account).
    run_scenario(&Scenario {
        creds: [
            Creds::User("sales", "sales-secret"),
            Creds::User("admin", "admin-secret"),
            Creds::User("eng", "eng-secret"),
        ],
        ..Scenario::plain("accounts", Some(config))
    });
}

#[test]
fn cluster_block() {
    fn config(cluster_port: u16) -> String {
        // The route goes to a free port nobody listens on: configured, never connected.
        format!(
            "cluster {{\n  name: mondiff\n  listen: \"127.0.0.1:{cluster_port}\"\n  \
             authorization {{ user: route, password: route-secret, timeout: 1 }}\n  \
             routes: [ \"nats-route://route:route-secret@127.0.0.1:{}\" ]\n}}\n",
            free_port()
        )
    }
    run_scenario(&Scenario::plain("cluster_block", Some(config)));
}

#[test]
fn token_tls_and_https_monitoring() {
    fn config(_: u16) -> String {
        tls_block("") + "authorization { token: \"s3cr3t-token\" }\n"
    }
    run_scenario(&Scenario {
        tls: true,
        https: true,
        creds: [Creds::Token("s3cr3t-token"); 3],
        ..Scenario::plain("token_tls_and_https_monitoring", Some(config))
    });
}

#[test]
fn nkeys_and_no_auth_user() {
    fn config(_: u16) -> String {
        format!(
            "authorization {{\n  users = [\n    {{nkey: {}}}\n    {{nkey: {}}}\n    \
             {{user: guest, password: guest}}\n  ]\n}}\nno_auth_user: guest\n",
            nkey_public(7),
            nkey_public(9)
        )
    }
    // The client that goes away logs in as no_auth_user, without credentials.
    run_scenario(&Scenario {
        creds: [Creds::NKey(7), Creds::NKey(9), Creds::None],
        ..Scenario::plain("nkeys_and_no_auth_user", Some(config))
    });
}

#[test]
fn tls_with_client_certificates() {
    fn config(_: u16) -> String {
        tls_block(&format!(
            "  ca_file: \"{}\"\n  verify: true\n",
            cert("ca.pem")
        ))
    }
    run_scenario(&Scenario {
        tls: true,
        client_cert: true,
        ..Scenario::plain("tls_with_client_certificates", Some(config))
    });
}

// ---------------------------------------------------------------------------------------------
// Status lines and Content-Type
// ---------------------------------------------------------------------------------------------

/// Requests whose status and Content-Type must be the same on both servers: `(method, target)`.
/// Bodies of non-JSON answers (error texts) are compared too, but only reported, not failed on.
const STATUS_REQUESTS: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/varz"),
    ("GET", "/healthz"),
    ("GET", "/healthz?js-enabled-only=true"),
    ("GET", "/healthz?js-server-only=true"),
    ("GET", "/connz"),
    ("GET", "/routez"),
    ("GET", "/subsz"),
    ("GET", "/subscriptionsz"),
    ("GET", "/nonexistent"),
    ("GET", "/varz/"),
    ("GET", "/ROUTEZ"),
    ("GET", "/varz?"),
    ("GET", "/varz?foo=bar"),
    ("GET", "/connz?sort=bogus"),
    ("GET", "/connz?sort=rtt"),
    ("GET", "/connz?sort=stop"),
    ("GET", "/connz?sort=stop&state=closed"),
    ("GET", "/connz?sort=reason&state=any"),
    ("GET", "/connz?sort=reason&state=closed"),
    ("GET", "/connz?sort=cid"),
    ("GET", "/connz?sort=start"),
    ("GET", "/connz?sort=subs"),
    ("GET", "/connz?sort=pending"),
    ("GET", "/connz?sort=msgs_to"),
    ("GET", "/connz?sort=msgs_from"),
    ("GET", "/connz?sort=bytes_to"),
    ("GET", "/connz?sort=bytes_from"),
    ("GET", "/connz?sort=last"),
    ("GET", "/connz?sort=idle"),
    ("GET", "/connz?sort=uptime"),
    ("GET", "/connz?sort=cid&sort=bogus"),
    ("GET", "/connz?state=bogus"),
    ("GET", "/connz?limit=abc"),
    ("GET", "/connz?offset=-1"),
    ("GET", "/connz?cid=abc"),
    ("GET", "/connz?cid=99999"),
    ("GET", "/connz?subs=bogus"),
    ("GET", "/connz?subs=true"),
    ("GET", "/connz?auth=bogus"),
    ("GET", "/subsz?subs=bogus"),
    ("GET", "/subsz?test=foo.*"),
    ("GET", "/subsz?test=foo"),
    ("GET", "/routez?subs=bogus"),
    ("GET", "/varz?callback=x"),
    ("GET", "/varz?callback="),
    ("GET", "/healthz?callback=cb"),
    ("GET", "/connz?callback=x&subs=1"),
    ("GET", "/connz?sort=bogus&callback=x"),
    ("GET", "/subsz?callback=x"),
    ("GET", "/routez?callback=x"),
    // Go's ServeMux: any method is served; `//x` is redirected; the path is percent-decoded.
    ("HEAD", "/varz"),
    ("POST", "/varz"),
    ("PUT", "/connz"),
    ("DELETE", "/varz"),
    ("OPTIONS", "/healthz"),
    ("GET", "//varz"),
    ("GET", "/%76arz"),
];

#[test]
fn http_status_and_content_type() {
    let Some(go_bin) = go_server_bin() else {
        eprintln!("SKIP http_status_and_content_type: nats-server not installed");
        return;
    };
    let sc = Scenario::plain("http_status", None);
    let go = start_side(&go_bin, &sc);
    let rn = start_side(&common::rnatsd_bin(), &sc);
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    for &(method, target) in STATUS_REQUESTS {
        let g = http_request(go.mon, method, target);
        let r = match try_http_request(rn.mon, method, target) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{method} {target}: rnatsd: {e}"));
                continue;
            }
        };
        if METHODS_REFUSED.contains(&method) {
            if r.status != 405 || r.header("allow").is_none() {
                failures.push(format!(
                    "{method} {target}: want 405 with Allow from rnatsd, got {}",
                    r.status
                ));
            } else {
                eprintln!("allowed difference: {method} {target} is 405 in rnatsd");
            }
            continue;
        }
        if g.status != r.status {
            failures.push(format!(
                "{method} {target}: status {} from nats-server, {} from rnatsd (bodies {:?} / {:?})",
                g.status,
                r.status,
                clip(&g.text(), 60),
                clip(&r.text(), 60)
            ));
        }
        if g.content_type() != r.content_type() {
            failures.push(format!(
                "{method} {target}: Content-Type {:?} from nats-server, {:?} from rnatsd",
                g.content_type(),
                r.content_type()
            ));
        }
        if g.header("location") != r.header("location") {
            failures.push(format!(
                "{method} {target}: Location {:?} from nats-server, {:?} from rnatsd",
                g.header("location"),
                r.header("location")
            ));
        }
        let ct = g.content_type();
        let data = ["application/json", "application/javascript", "text/html"]
            .iter()
            .any(|p| ct.starts_with(p));
        if !data && g.body != r.body {
            notes.push(format!(
                "{method} {target}: body {:?} from nats-server, {:?} from rnatsd",
                g.text(),
                r.text()
            ));
        }
    }
    for &(ep, reason) in ENDPOINTS_NOT_BUILT {
        let g = http_request(go.mon, "GET", ep);
        assert_eq!(
            g.status, 200,
            "{ep}: nats-server does not serve it; drop it from ENDPOINTS_NOT_BUILT"
        );
        let r = http_request(rn.mon, "GET", ep);
        let same = r.status == g.status && r.content_type() == g.content_type();
        if !same && r.status != 404 {
            failures.push(format!(
                "GET {ep}: status {} {:?} from rnatsd; want Go's {} {:?} or a 404 ({reason})",
                r.status,
                r.content_type(),
                g.status,
                g.content_type()
            ));
        } else if r.status == 404 {
            eprintln!("allowed difference: GET {ep} is 404 in rnatsd ({reason})");
        }
    }
    for n in &notes {
        eprintln!("note (not a failure): {n}");
    }
    assert!(
        failures.is_empty(),
        "{} HTTP status/Content-Type difference(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// `http_base_path`: the endpoints move under it; the same status and Content-Type on both.
#[test]
fn http_base_path_status() {
    let Some(go_bin) = go_server_bin() else {
        eprintln!("SKIP http_base_path_status: nats-server not installed");
        return;
    };
    fn config(_: u16) -> String {
        "http_base_path: \"/mon\"\n".to_string()
    }
    let sc = Scenario::plain("http_base_path", Some(config));
    let go = start_side(&go_bin, &sc);
    let rn = start_side(&common::rnatsd_bin(), &sc);
    let mut failures = Vec::new();
    for target in [
        "/mon/varz",
        "/mon/connz?subs=1",
        "/mon/routez",
        "/mon/subsz",
        "/mon/healthz",
        "/mon/",
        "/mon",
        "/varz",
        "/",
        "/monvarz",
        "/mon/nonexistent",
    ] {
        let g = http_request(go.mon, "GET", target);
        let r = http_request(rn.mon, "GET", target);
        if (g.status, g.content_type()) != (r.status, r.content_type()) {
            failures.push(format!(
                "GET {target}: {} {:?} from nats-server, {} {:?} from rnatsd",
                g.status,
                g.content_type(),
                r.status,
                r.content_type()
            ));
        }
        if g.status == 200 && g.content_type().starts_with("application/json") {
            let gj: Value = serde_json::from_slice(&g.body).expect("Go JSON");
            match serde_json::from_slice::<Value>(&r.body) {
                Ok(rj) => {
                    let mut excused = BTreeSet::new();
                    let ep = target.strip_prefix("/mon").unwrap_or(target);
                    compare_shapes(ep, &shape(&gj), &shape(&rj), &mut failures, &mut excused);
                }
                Err(e) => failures.push(format!("GET {target}: rnatsd: bad JSON ({e})")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} difference(s) with http_base_path:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// The comparison itself, without servers: paths, `*` keys, types, the allowed list.
#[test]
fn shape_comparison_self_check() {
    let go: Value = serde_json::from_str(
        r#"{"a":1,"b":[{"c":"x"},{"d":null},{"d":[]}],"http_req_stats":{"/varz":1,"/connz":2},
            "system_account":"$SYS","leaf":{"x":1},"e":[]}"#,
    )
    .unwrap();
    let g = shape(&go);
    let want: Vec<(&str, &str)> = vec![
        ("a", "number"),
        ("b", "array"),
        ("b[]", "object"),
        ("b[].c", "string"),
        ("b[].d", "array"),
        ("b[].d", "null"),
        ("e", "array"),
        ("http_req_stats", "object"),
        ("http_req_stats.*", "number"),
        ("leaf", "object"),
        ("leaf.x", "number"),
        ("system_account", "string"),
    ];
    let want: Shape = want.into_iter().map(|(p, t)| (p.to_string(), t)).collect();
    assert_eq!(g, want);

    // Allowed keys missing on the rnatsd side are excused; a float where Go has an integer is
    // the same type.
    let rn: Value = serde_json::from_str(
        r#"{"a":1.0,"b":[{"c":"y","d":null},{"d":[1]}],"http_req_stats":{"/healthz":3},"e":[],
            "leaf":{"x":2}}"#,
    )
    .unwrap();
    let mut r = shape(&rn);
    r.remove(&("b[].d[]".to_string(), "number"));
    let (mut failures, mut excused) = (Vec::new(), BTreeSet::new());
    compare_shapes("/varz", &g, &r, &mut failures, &mut excused);
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        excused.into_iter().collect::<Vec<_>>(),
        vec!["/varz system_account".to_string()]
    );
    // An entry covers its subtree, and only its subtree.
    assert_eq!(allowed("/varz", "system_account.x"), Some("system_account"));
    assert_eq!(
        allowed("/varz", "system_account[].x"),
        Some("system_account")
    );
    assert_eq!(allowed("/varz", "system_accounts"), None);
    assert_eq!(allowed("/connz", "system_account"), None);

    // The same keys elsewhere are not excused; extra keys, missing keys and type changes fail
    // (also a type Go sometimes has and rnatsd never).
    let rn: Value = serde_json::from_str(
        r#"{"a":"1","b":[{"c":"y","d":null}],"http_req_stats":{},"e":null,"extra":true}"#,
    )
    .unwrap();
    let (mut failures, mut excused) = (Vec::new(), BTreeSet::new());
    compare_shapes("/connz?x=1", &g, &shape(&rn), &mut failures, &mut excused);
    assert!(excused.is_empty());
    let text = failures.join("\n");
    for want in [
        "/connz?x=1: `a` is string in rnatsd, number in nats-server",
        "/connz?x=1: `b[].d` is null in rnatsd, array/null in nats-server",
        "/connz?x=1: `http_req_stats.*` (number) only in nats-server",
        "/connz?x=1: `e` is null in rnatsd, array in nats-server",
        "/connz?x=1: `extra` (bool) only in rnatsd",
        "/connz?x=1: `system_account` (string) only in nats-server",
        "/connz?x=1: `leaf` (object) only in nats-server",
        "/connz?x=1: `leaf.x` (number) only in nats-server",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert_eq!(failures.len(), 8, "{text}");
}
