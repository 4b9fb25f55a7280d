//! Clustering interop (issue 5): rnatsd and Debian's Go `nats-server` 2.9.10 in one cluster.
//!
//! - `rnatsd_seed_go_joins` / `go_seed_rnatsd_joins`: a two-server cluster in both directions of
//!   who solicits the route. Interest made before the route forms (the subscription dump); pub/sub
//!   (plain, wildcards, headers with and without header-aware subscribers, reply subjects, a burst,
//!   payloads up to max_payload), queue groups (members on both sides and on one side, with
//!   reply subjects and headers), request/reply and no-responders, UNSUB and interest reference
//!   counts, auto-unsubscribe, each across the two implementations both ways; `connect_urls` in
//!   both servers' INFO; the Go server's `/routez` lists rnatsd as its route (and the interest it
//!   sent and withdrew); one route for the whole run.
//! - `three_node_mix_meshes_by_gossip` (Go seed; rnatsd and Go join it) and
//!   `three_node_rnatsd_seed_meshes_by_gossip` (rnatsd seed; two Go servers join it): the mesh
//!   completes by gossip (the joiners link directly: shown by killing the seed and seeing
//!   messages still cross), one hop per message, queue groups cluster-wide, the seed's address
//!   withdrawn from `connect_urls` when it dies.
//! - `go_sys_account_traffic_keeps_the_route`: the Go server's `$SYS` account traffic (`RS+ $SYS`
//!   on connect, `RMSG $SYS` once rnatsd has `$SYS` interest) flows for a few seconds; rnatsd
//!   stays up and the one route stays.
//! - `dynamic_cluster_names_converge`: no cluster names anywhere (Go generates one, and dynamic
//!   names are adopted), a Go seed with rnatsd and a Go server joining: the mesh must settle.
//! - `cluster_name_mismatch_refused`, `route_credentials_both_ways`: no route across configured
//!   names that differ or with a wrong route password; a route with the right one; either side
//!   listening.
//! - `accounts_stay_isolated_across_routes`, `stream_import_*`, `service_import_*`: the same
//!   accounts on both servers; stream and service imports where the exporting account's
//!   publisher or responder is on the other server, each implementation on each side.
//!
//! Reference check: `RNATSD_TEST_BIN=/usr/sbin/nats-server` puts the Go server in rnatsd's roles
//! too; every test passes that way.
//!
//! Synchronisation (no fixed sleeps): route establishment is polled (logs and `/routez`) for at
//! most 10 s; interest propagation is shown by a barrier: after the subscriptions under test, each
//! subscriber subscribes a fresh `_b.N.>` and the publisher sends probes until each has one. A
//! client's subscriptions travel a route in order, so the interest under test is known where the
//! publisher is. After the counted traffic the publisher sends a marker to the same barrier
//! subjects; a publisher's messages keep their order to each subscriber, so everything a
//! subscriber gets before its marker is everything it will get.
//!
//! Skipped, with a note, when the Go server is not installed (`make test` installs it).

mod common;

use common::{free_port, go_server_bin, rnatsd_bin, Client, ServerProcess, TempDir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Longest wait for anything asynchronous (route establishment, interest propagation).
const LIMIT: Duration = Duration::from_secs(10);

/// Clients speak headers and ask for no-responders; protocol 1 so that INFO updates arrive too
/// (they are skipped by the reader).
const CONNECT: &str =
    r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1}"#;
/// A client that does not support headers.
const CONNECT_NO_HEADERS: &str =
    r#"{"verbose":false,"pedantic":false,"headers":false,"protocol":1}"#;

/// A `$G` user of rnatsd in the `$SYS` test.
const G_USER: &str = r#"{"verbose":false,"pedantic":false,"headers":true,"user":"g","pass":"g"}"#;

const CREATED: &str = "Route connection created";
const CLOSED: &str = "Router connection closed";

fn go_bin(test: &str) -> Option<PathBuf> {
    let g = go_server_bin();
    if g.is_none() {
        eprintln!("note: {test}: nats-server is not installed (make test installs it); skipped");
    }
    g
}

fn uniq() -> usize {
    static N: AtomicUsize = AtomicUsize::new(1);
    N.fetch_add(1, Ordering::SeqCst)
}

fn route_url(cluster_port: u16) -> String {
    format!("nats://127.0.0.1:{cluster_port}")
}

/// Poll `f` until it yields, for at most `LIMIT`; `what` (evaluated on failure) says what was
/// awaited and what was seen.
fn wait_until<T>(what: impl Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {LIMIT:?} waiting for {}",
            what()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

// ---------------------------------------------------------------------------------------------
// Servers

struct Node {
    sp: ServerProcess,
    is_go: bool,
    http: Option<u16>,
}

/// Start a server (rnatsd when `go` is None) with a route listener on `cluster_port`, dialling
/// `routes`, with `name` as cluster name, and a monitoring port when `http`.
fn node(
    go: Option<&Path>,
    cluster_port: u16,
    routes: &[u16],
    name: Option<&str>,
    http: bool,
    extra: &[&str],
) -> Node {
    let routes: Vec<String> = routes.iter().map(|p| route_url(*p)).collect();
    node_urls(go, &route_url(cluster_port), &routes, name, http, extra)
}

/// `node` with the listen URL and route URLs spelled out (credentials in them).
fn node_urls(
    go: Option<&Path>,
    listen: &str,
    routes: &[String],
    name: Option<&str>,
    http: bool,
    extra: &[&str],
) -> Node {
    let http = http.then(free_port);
    let mut args: Vec<String> = vec!["--cluster".into(), listen.to_string()];
    if !routes.is_empty() {
        args.push("--routes".into());
        args.push(routes.join(","));
    }
    if let Some(n) = name {
        args.push("--cluster_name".into());
        args.push(n.into());
    }
    if let Some(h) = http {
        args.push("-m".into());
        args.push(h.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let sp = match go {
        Some(bin) => ServerProcess::start_bin(bin, &args),
        None => ServerProcess::start(&args),
    };
    Node {
        sp,
        // RNATSD_TEST_BIN=/usr/sbin/nats-server puts the Go server in rnatsd's roles too.
        is_go: go.is_some() || go_server_bin().is_some_and(|g| g == rnatsd_bin()),
        http,
    }
}

impl Node {
    fn port(&self) -> u16 {
        self.sp.port
    }

    fn kind(&self) -> &'static str {
        if self.is_go {
            "nats-server"
        } else {
            "rnatsd"
        }
    }

    /// The server's INFO as a client sees it.
    fn info(&self) -> Value {
        let c = Client::connect(self.port());
        serde_json::from_str(c.info.trim_start_matches("INFO ").trim()).expect("INFO JSON")
    }

    fn server_id(&self) -> String {
        self.info()["server_id"]
            .as_str()
            .expect("server_id")
            .to_string()
    }

    fn log_count(&self, needle: &str) -> usize {
        self.sp.log_text().matches(needle).count()
    }

    fn routez(&self, query: &str) -> Value {
        let port = self.http.expect("server started without a monitoring port");
        http_json(port, &format!("/routez{query}"))
    }

    /// The remote ids of this server's routes, from its `/routez`.
    fn route_ids(&self) -> BTreeSet<String> {
        let r = self.routez("");
        r["routes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["remote_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Poll `/routez` until this server's routes are exactly to `ids`.
    fn wait_routes_to(&self, ids: &[&str]) {
        let want: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
        wait_until(
            || {
                format!(
                    "{} on port {} to have routes to exactly {want:?}; /routez: {}\nlog:\n{}",
                    self.kind(),
                    self.port(),
                    self.routez(""),
                    self.sp.log_text()
                )
            },
            || {
                let r = self.routez("");
                (r["num_routes"].as_u64() == Some(want.len() as u64) && self.route_ids() == want)
                    .then_some(())
            },
        );
    }

    /// Poll the log until it has at least `n` "Route connection created" lines.
    fn wait_routes_created(&self, n: usize) {
        wait_until(
            || {
                format!(
                    "{n} x {CREATED:?} in the log of {} on port {}:\n{}",
                    self.kind(),
                    self.port(),
                    self.sp.log_text()
                )
            },
            || (self.log_count(CREATED) >= n).then_some(()),
        );
    }

    /// The subjects of the interest the peer `remote_id` sent this (Go) server, from
    /// `/routez?subs=1`.
    fn route_subs(&self, remote_id: &str) -> Vec<String> {
        let r = self.routez("?subs=1");
        let route = r["routes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["remote_id"] == remote_id))
            .unwrap_or_else(|| panic!("no route to {remote_id} in /routez: {r}"));
        route["subscriptions_list"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        assert!(
            matches!(self.sp.child.try_wait(), Ok(None)),
            "{} exited; log:\n{}",
            self.kind(),
            self.sp.log_text()
        );
    }
}

/// GET `path` from a monitoring port (HTTP/1.0: the body runs to the close) and parse it as JSON.
fn http_json(port: u16, path: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the monitoring port");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .expect("read the monitoring response");
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {text:?}"));
    assert!(
        head.starts_with("HTTP/1.") && head.split(' ').nth(1) == Some("200"),
        "GET {path}: {head}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

// ---------------------------------------------------------------------------------------------
// Clients: reading MSG/HMSG, barriers and markers

fn client(port: u16) -> Client {
    connect(port, CONNECT)
}

/// Connect, send CONNECT with `json` and wait for the PONG of a PING (skipping the INFO updates
/// and answering the PINGs a server may send meanwhile).
fn connect(port: u16, json: &str) -> Client {
    let mut c = Client::connect(port);
    c.send(&format!("CONNECT {json}\r\n"));
    flush(&mut c);
    c
}

/// PING and wait for the PONG, so everything sent before has been processed; no message other
/// than barrier traffic may arrive meanwhile.
fn flush(c: &mut Client) {
    let got = flush_collect(c);
    assert!(got.is_empty(), "unexpected messages: {got:?}");
}

#[derive(Debug, Clone, PartialEq)]
struct Msg {
    subject: String,
    sid: String,
    reply: Option<String>,
    /// The header block of an HMSG, None for a MSG.
    hdr: Option<Vec<u8>>,
    payload: Vec<u8>,
}

impl Msg {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

enum Ev {
    Msg(Msg),
    Pong,
}

/// The next MSG, HMSG or PONG; INFO updates are skipped and server PINGs answered.
fn read_event(c: &mut Client) -> Ev {
    loop {
        let line = c.read_line();
        if line.starts_with("INFO ") {
            continue;
        }
        if line == "PING" {
            c.send("PONG\r\n");
            continue;
        }
        if line == "PONG" {
            return Ev::Pong;
        }
        let p: Vec<&str> = line.split(' ').collect();
        let (hdr_len, total, reply) = match (p[0], p.len()) {
            ("MSG", 4) => (None, p[3], None),
            ("MSG", 5) => (None, p[4], Some(p[3])),
            ("HMSG", 5) => (Some(p[3]), p[4], None),
            ("HMSG", 6) => (Some(p[4]), p[5], Some(p[3])),
            _ => panic!("unexpected line from the server: {line:?}"),
        };
        let total: usize = total.parse().expect("message size");
        let h: usize = hdr_len.map_or(0, |h| h.parse().expect("header size"));
        assert!(h <= total, "header size beyond total in {line:?}");
        let mut body = c.read_exact(total + 2);
        assert_eq!(
            &body[total..],
            b"\r\n",
            "message not followed by CRLF: {line:?}"
        );
        body.truncate(total);
        let payload = body.split_off(h);
        return Ev::Msg(Msg {
            subject: p[1].to_string(),
            sid: p[2].to_string(),
            reply: reply.map(String::from),
            hdr: hdr_len.map(|_| body),
            payload,
        });
    }
}

/// Send PING and collect the messages (other than barrier traffic) that arrive before the PONG.
fn flush_collect(c: &mut Client) -> Vec<Msg> {
    c.send("PING\r\n");
    let mut out = Vec::new();
    loop {
        match read_event(c) {
            Ev::Pong => return out,
            Ev::Msg(m) if m.subject.starts_with("_b.") => {}
            Ev::Msg(m) => out.push(m),
        }
    }
}

/// The next message other than barrier traffic.
fn next_msg(c: &mut Client) -> Msg {
    loop {
        match read_event(c) {
            Ev::Pong => panic!("unexpected PONG while waiting for a message"),
            Ev::Msg(m) if m.subject.starts_with("_b.") => {}
            Ev::Msg(m) => return m,
        }
    }
}

/// Barrier subjects of a set of subscribers, for one publisher.
struct Barrier {
    tags: Vec<String>,
}

/// Make every subscription `subs` made so far known where `publ` is connected: each subscriber
/// subscribes a fresh `_b.N.>`; `publ` publishes probes until each subscriber has one. The
/// subscribers then may still get late probes, which every reader here skips.
fn barrier(publ: &mut Client, subs: &mut [&mut Client]) -> Barrier {
    let tags: Vec<String> = subs
        .iter_mut()
        .map(|c| {
            let n = uniq();
            let t = format!("_b.{n}");
            c.send(&format!("SUB {t}.> {}\r\n", 1_000_000 + n));
            flush(c);
            t
        })
        .collect();
    let mut seen = vec![false; subs.len()];
    let deadline = Instant::now() + LIMIT;
    while seen.contains(&false) {
        assert!(
            Instant::now() < deadline,
            "interest did not propagate within {LIMIT:?} (barriers seen: {seen:?})"
        );
        for (t, _) in tags.iter().zip(&seen).filter(|(_, s)| !**s) {
            publ.send(&format!("PUB {t}.p 0\r\n\r\n"));
        }
        flush(publ);
        for (i, c) in subs.iter_mut().enumerate() {
            if seen[i] {
                continue;
            }
            c.send("PING\r\n");
            loop {
                match read_event(c) {
                    Ev::Pong => break,
                    Ev::Msg(m) if m.subject.starts_with(&format!("{}.", tags[i])) => seen[i] = true,
                    Ev::Msg(m) if m.subject.starts_with("_b.") => {}
                    Ev::Msg(m) => panic!("unexpected message while waiting for interest: {m:?}"),
                }
            }
        }
        if seen.contains(&false) {
            // Poll interval between probe rounds, not a synchronisation.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Barrier { tags }
}

impl Barrier {
    /// `publ` (the barrier's publisher) sends a marker to every subscriber; returns, per
    /// subscriber, every message (other than barrier traffic) it got before its marker.
    fn mark(&self, publ: &mut Client, subs: &mut [&mut Client]) -> Vec<Vec<Msg>> {
        assert_eq!(subs.len(), self.tags.len());
        let k = uniq();
        for t in &self.tags {
            publ.send(&format!("PUB {t}.m{k} 0\r\n\r\n"));
        }
        flush(publ);
        subs.iter_mut()
            .zip(&self.tags)
            .map(|(c, t)| {
                let want = format!("{t}.m{k}");
                let mut got = Vec::new();
                loop {
                    match read_event(c) {
                        Ev::Pong => panic!("unexpected PONG while waiting for marker {want}"),
                        Ev::Msg(m) if m.subject == want => break,
                        Ev::Msg(m) if m.subject.starts_with("_b.") => {}
                        Ev::Msg(m) => got.push(m),
                    }
                }
                got
            })
            .collect()
    }
}

/// Compare payload lists, reporting the first difference briefly (payloads can be 1 MB).
fn same_payloads(got: &[String], want: &[String], what: &str) {
    let short = |s: &str| -> String {
        if s.len() > 40 {
            format!("{}... ({} bytes)", &s[..40], s.len())
        } else {
            s.to_string()
        }
    };
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: message {i} is {:?}, want {:?} ({} received, {} sent)",
            short(&got[i]),
            short(&want[i]),
            got.len(),
            want.len()
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} received, {} sent (all received ones match)",
        got.len(),
        want.len()
    );
}

fn payloads(msgs: &[Msg]) -> Vec<String> {
    msgs.iter().map(Msg::text).collect()
}

/// (subject, sid) of each message.
fn routing(msgs: &[Msg]) -> Vec<(String, String)> {
    msgs.iter()
        .map(|m| (m.subject.clone(), m.sid.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios across two servers (each run in both directions)

/// Which way traffic goes in a scenario, for messages.
fn dir(from: &Node, to: &Node) -> String {
    format!(
        "{} (port {}) -> {} (port {})",
        from.kind(),
        from.port(),
        to.kind(),
        to.port()
    )
}

/// Plain subjects (with and without reply subjects, sizes up to a 300 KB payload), wildcards,
/// and a burst, published on `from` and received on `to`; everything arrives once, in order.
fn pubsub_plain_and_wildcards(from: &Node, to: &Node) {
    let d = dir(from, to);
    let n = uniq();
    let mut sub = client(to.port());
    let mut publ = client(from.port());
    sub.send(&format!(
        "SUB p.{n} 1\r\nSUB w.{n}.* 2\r\nSUB w.{n}.> 3\r\nSUB *.{n}.x 4\r\n"
    ));
    let b = barrier(&mut publ, &mut [&mut sub]);

    let mut want = Vec::new();
    for i in 0..200 {
        let payload = format!("m{i}-{}", "z".repeat(i * 37 % 1500));
        if i % 3 == 0 {
            publ.send(&format!(
                "PUB p.{n} reply.{n}.{i} {}\r\n{payload}\r\n",
                payload.len()
            ));
        } else {
            publ.send(&format!("PUB p.{n} {}\r\n{payload}\r\n", payload.len()));
        }
        want.push(payload);
    }
    let big: String = (0..300_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    publ.send(&format!("PUB p.{n} {}\r\n{big}\r\n", big.len()));
    want.push(big);
    let max: String = (0..1_048_576)
        .map(|i| (b'A' + (i % 26) as u8) as char)
        .collect();
    publ.send(&format!("PUB p.{n} {}\r\n{max}\r\n", max.len()));
    want.push(max);
    publ.send(&format!("PUB p.{n} 0\r\n\r\n"));
    want.push(String::new());
    // A burst of small messages, written in one go.
    let mut burst = String::new();
    for i in 0..5000 {
        let payload = format!("b{i}{}", ".".repeat(i % 97));
        burst.push_str(&format!("PUB p.{n} {}\r\n{payload}\r\n", payload.len()));
        want.push(payload);
    }
    publ.send(&burst);
    publ.send(&format!("PUB w.{n}.a 2\r\nwa\r\n"));
    publ.send(&format!("PUB w.{n}.a.b 3\r\nwab\r\n"));
    publ.send(&format!("PUB w.{n} 1\r\nw\r\n"));
    publ.send(&format!("PUB w.{n}.x reply.{n} 3\r\nwxr\r\n"));
    publ.send(&format!("PUB q.{n}.x 2\r\nqx\r\n"));
    let got = b.mark(&mut publ, &mut [&mut sub]).remove(0);

    let plain: Vec<&Msg> = got.iter().filter(|m| m.sid == "1").collect();
    same_payloads(
        &plain.iter().map(|m| m.text()).collect::<Vec<_>>(),
        &want,
        &format!("{d}: plain messages (in order, once)"),
    );
    for (i, m) in plain.iter().enumerate() {
        assert_eq!(m.subject, format!("p.{n}"), "{d}");
        assert_eq!(m.hdr, None, "{d}: a plain PUB arrived with headers");
        let want_reply = (i < 200 && i % 3 == 0).then(|| format!("reply.{n}.{i}"));
        assert_eq!(m.reply, want_reply, "{d}: reply subject of message {i}");
    }
    let mut wild: Vec<(String, String, Option<String>, String)> = got
        .iter()
        .filter(|m| m.sid != "1")
        .map(|m| (m.subject.clone(), m.sid.clone(), m.reply.clone(), m.text()))
        .collect();
    wild.sort();
    let s = |x: &str| x.to_string();
    let r = Some(format!("reply.{n}"));
    let mut want_wild = vec![
        (format!("w.{n}.a"), s("2"), None, s("wa")),
        (format!("w.{n}.a"), s("3"), None, s("wa")),
        (format!("w.{n}.a.b"), s("3"), None, s("wab")),
        (format!("w.{n}.x"), s("2"), r.clone(), s("wxr")),
        (format!("w.{n}.x"), s("3"), r.clone(), s("wxr")),
        (format!("w.{n}.x"), s("4"), r, s("wxr")),
        (format!("q.{n}.x"), s("4"), None, s("qx")),
    ];
    want_wild.sort();
    assert_eq!(
        wild, want_wild,
        "{d}: wildcard deliveries (each matching subscription once)"
    );
}

/// HPUB across: a header-aware subscriber gets the header block byte for byte (with and without
/// reply subjects); a subscriber without header support gets the payload alone, as MSG.
fn headers_across(from: &Node, to: &Node) {
    let d = dir(from, to);
    let n = uniq();
    let mut sub = client(to.port());
    let mut plain_sub = connect(to.port(), CONNECT_NO_HEADERS);
    let mut publ = client(from.port());
    sub.send(&format!("SUB h.{n} 1\r\n"));
    plain_sub.send(&format!("SUB h.{n} 7\r\n"));
    let b = barrier(&mut publ, &mut [&mut sub, &mut plain_sub]);

    let hdrs = [
        "NATS/1.0\r\nX-One: 1\r\n\r\n".to_string(),
        "NATS/1.0\r\nX-Multi: a\r\nX-Multi: b\r\nContent-Type: text/plain\r\n\r\n".to_string(),
        format!("NATS/1.0\r\nX-Big: {}\r\n\r\n", "h".repeat(5000)),
        "NATS/1.0\r\n\r\n".to_string(),
    ];
    let mut want = Vec::new();
    for (i, h) in hdrs.iter().enumerate() {
        let payload = format!("payload-{i}");
        let reply = if i % 2 == 1 {
            format!(" hreply.{n}.{i}")
        } else {
            String::new()
        };
        publ.send(&format!(
            "HPUB h.{n}{reply} {} {}\r\n{h}{payload}\r\n",
            h.len(),
            h.len() + payload.len()
        ));
        want.push((h.clone(), payload, reply.trim().to_string()));
    }
    // An empty payload after headers.
    publ.send(&format!(
        "HPUB h.{n} {} {}\r\n{}\r\n",
        12, 12, "NATS/1.0\r\n\r\n"
    ));
    want.push(("NATS/1.0\r\n\r\n".into(), String::new(), String::new()));
    let mut got = b.mark(&mut publ, &mut [&mut sub, &mut plain_sub]);
    let stripped = got.pop().unwrap();
    let with_hdrs = got.pop().unwrap();

    assert_eq!(
        with_hdrs.len(),
        want.len(),
        "{d}: HMSG count: {with_hdrs:?}"
    );
    for (m, (h, p, r)) in with_hdrs.iter().zip(&want) {
        assert_eq!(m.subject, format!("h.{n}"), "{d}");
        assert_eq!(
            m.hdr.as_deref().map(String::from_utf8_lossy),
            Some(h.as_str().into()),
            "{d}: header block"
        );
        assert_eq!(&m.text(), p, "{d}: payload after headers");
        assert_eq!(
            m.reply.clone().unwrap_or_default(),
            *r,
            "{d}: reply subject"
        );
    }
    assert_eq!(
        stripped
            .iter()
            .map(|m| (
                m.hdr.is_some(),
                m.text(),
                m.reply.clone().unwrap_or_default()
            ))
            .collect::<Vec<_>>(),
        want.iter()
            .map(|(_, p, r)| (false, p.clone(), r.clone()))
            .collect::<Vec<_>>(),
        "{d}: a subscriber without header support gets MSG with the payload alone"
    );
}

/// Queue groups with members on both servers and on one side only: every message delivered to
/// exactly one member of each group cluster-wide, none twice, none lost. (Which member is not
/// checked: nats-server 2.9 picks at random among local members and routes, about half of a
/// two-server group's messages crossing; rnatsd prefers local members, as issue 5 asks.)
fn queue_groups(a: &Node, b: &Node) {
    const N: usize = 300;
    let d = dir(a, b);
    let n = uniq();
    // Members: two on a, two on b, group g; group h has one member on b only; a plain subscriber
    // on b.
    let mut a1 = client(a.port());
    let mut a2 = client(a.port());
    let mut b1 = client(b.port());
    let mut b2 = client(b.port());
    a1.send(&format!("SUB q.{n} g 1\r\n"));
    a2.send(&format!("SUB q.{n} g 1\r\n"));
    b1.send(&format!("SUB q.{n} g 1\r\nSUB q.{n} h 2\r\n"));
    b2.send(&format!("SUB q.{n} g 1\r\nSUB q.{n} 3\r\n"));
    let mut pa = client(a.port());
    let mut pb = client(b.port());
    let ba = barrier(&mut pa, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
    let bb = barrier(&mut pb, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);

    for (who, publ, bar) in [("a", &mut pa, &ba), ("b", &mut pb, &bb)] {
        for i in 0..N {
            publ.send(&format!(
                "PUB q.{n} {}\r\n{who}{i}\r\n",
                who.len() + i.to_string().len()
            ));
        }
        let got = bar.mark(publ, &mut [&mut a1, &mut a2, &mut b1, &mut b2]);
        let group = |sid: &str| -> Vec<(usize, String)> {
            got.iter()
                .enumerate()
                .flat_map(|(k, ms)| {
                    ms.iter()
                        .filter(|m| m.sid == sid)
                        .map(move |m| (k, m.text()))
                })
                .collect()
        };
        let g = group("1");
        let mut texts: Vec<String> = g.iter().map(|(_, t)| t.clone()).collect();
        texts.sort();
        let mut want: Vec<String> = (0..N).map(|i| format!("{who}{i}")).collect();
        want.sort();
        assert_eq!(
            texts, want,
            "{d}: publisher on {who}: group g must get each message exactly once"
        );
        let h: Vec<String> = group("2").into_iter().map(|(_, t)| t).collect();
        let plain: Vec<String> = group("3").into_iter().map(|(_, t)| t).collect();
        let in_order: Vec<String> = (0..N).map(|i| format!("{who}{i}")).collect();
        assert_eq!(
            h, in_order,
            "{d}: publisher on {who}: group h (one member, on b)"
        );
        assert_eq!(
            plain, in_order,
            "{d}: publisher on {who}: plain subscriber on b"
        );
    }
}

/// Queue groups whose members are all on `to`, the publisher on `from`: two groups and a plain
/// subscriber on one subject, messages with and without reply subjects and headers (the routed
/// message names the groups: `RMSG acc subj + reply q1 q2 size` / `| q1 q2`); each group gets
/// every message once with its reply subject and headers intact. Then a member leaves.
fn queue_remote_only(from: &Node, to: &Node) {
    const N: usize = 300;
    let d = dir(from, to);
    let n = uniq();
    let mut publ = client(from.port());
    let mut r1 = client(to.port());
    let mut r2 = client(to.port());
    let mut r3 = client(to.port());
    r1.send(&format!("SUB rq.{n} w 1\r\nSUB rq.{n} v 2\r\n"));
    r2.send(&format!("SUB rq.{n} w 1\r\nSUB rq.{n} v 2\r\n"));
    r3.send(&format!("SUB rq.{n} 3\r\n"));
    let bar = barrier(&mut publ, &mut [&mut r1, &mut r2, &mut r3]);
    let hdr = "NATS/1.0\r\nX-Q: 1\r\n\r\n";
    // (payload, reply, headers) of message i
    let expect = |i: usize| -> (String, Option<String>, Option<Vec<u8>>) {
        let p = format!("x{i}");
        match i % 4 {
            0 => (p, None, None),
            1 => (p, Some(format!("rr.{n}.{i}")), None),
            2 => (p, None, Some(hdr.as_bytes().to_vec())),
            _ => (
                p,
                Some(format!("rr.{n}.{i}")),
                Some(hdr.as_bytes().to_vec()),
            ),
        }
    };
    for i in 0..N {
        let (p, reply, h) = expect(i);
        let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
        match h {
            None => publ.send(&format!("PUB rq.{n}{reply} {}\r\n{p}\r\n", p.len())),
            Some(h) => publ.send(&format!(
                "HPUB rq.{n}{reply} {} {}\r\n{hdr}{p}\r\n",
                h.len(),
                h.len() + p.len()
            )),
        }
    }
    let got = bar.mark(&mut publ, &mut [&mut r1, &mut r2, &mut r3]);
    let all_want: Vec<_> = (0..N).map(expect).collect();
    for (sid, what) in [("1", "group w"), ("2", "group v")] {
        let mut g: Vec<_> = got[..2]
            .iter()
            .flatten()
            .filter(|m| m.sid == sid)
            .map(|m| (m.text(), m.reply.clone(), m.hdr.clone()))
            .collect();
        g.sort();
        let mut want = all_want.clone();
        want.sort();
        assert_eq!(
            g, want,
            "{d}: {what} (members only on the receiving server): each message once, intact"
        );
    }
    let plain: Vec<_> = got[2]
        .iter()
        .map(|m| (m.text(), m.reply.clone(), m.hdr.clone()))
        .collect();
    assert_eq!(plain, all_want, "{d}: plain subscriber next to the groups");

    // A member leaves: the rest of the group still gets everything, once.
    r1.send("UNSUB 1\r\nUNSUB 2\r\n");
    flush(&mut r1);
    for i in 0..50 {
        publ.send(&format!(
            "PUB rq.{n} {}\r\ny{i}\r\n",
            1 + i.to_string().len()
        ));
    }
    let got = bar.mark(&mut publ, &mut [&mut r1, &mut r2, &mut r3]);
    assert!(
        got[0].is_empty(),
        "{d}: an unsubscribed queue member got {:?}",
        got[0]
    );
    let y: Vec<String> = (0..50).map(|i| format!("y{i}")).collect();
    for sid in ["1", "2"] {
        assert_eq!(
            got[1]
                .iter()
                .filter(|m| m.sid == sid)
                .map(Msg::text)
                .collect::<Vec<_>>(),
            y,
            "{d}: the remaining member (sid {sid}) gets everything"
        );
    }
}

/// Request/reply with the requester on `from` and the responder on `to` (PUB and HPUB requests,
/// replies to a wildcard inbox); then, once the responder unsubscribes, the requester gets a
/// no-responders status (its server learned the interest is gone).
fn request_reply(from: &Node, to: &Node) {
    let d = dir(from, to);
    let n = uniq();
    let mut req = client(from.port());
    let mut rsp = client(to.port());
    req.send(&format!("SUB _INBOX.{n}.* 1\r\n"));
    rsp.send(&format!("SUB svc.{n} 5\r\n"));
    let _b1 = barrier(&mut req, &mut [&mut rsp]);
    let _b2 = barrier(&mut rsp, &mut [&mut req]);

    for i in 0..20 {
        let inbox = format!("_INBOX.{n}.{i}");
        let body = format!("req{i}");
        if i % 2 == 0 {
            req.send(&format!("PUB svc.{n} {inbox} {}\r\n{body}\r\n", body.len()));
        } else {
            let h = format!("NATS/1.0\r\nX-Req: {i}\r\n\r\n");
            req.send(&format!(
                "HPUB svc.{n} {inbox} {} {}\r\n{h}{body}\r\n",
                h.len(),
                h.len() + body.len()
            ));
        }
        let m = next_msg(&mut rsp);
        assert_eq!(
            (m.subject.as_str(), m.sid.as_str(), m.reply.as_deref()),
            (format!("svc.{n}").as_str(), "5", Some(inbox.as_str())),
            "{d}: request {i}"
        );
        assert_eq!(m.text(), body, "{d}: request {i} payload");
        assert_eq!(
            m.hdr.is_some(),
            i % 2 == 1,
            "{d}: request {i}: headers must cross iff sent"
        );
        let answer = format!("ans{i}");
        rsp.send(&format!("PUB {inbox} {}\r\n{answer}\r\n", answer.len()));
        let r = next_msg(&mut req);
        assert_eq!(
            (r.subject.as_str(), r.sid.as_str(), r.text()),
            (inbox.as_str(), "1", answer),
            "{d}: reply {i}: {r:?}"
        );
        assert_eq!(r.hdr, None, "{d}: reply {i} arrived with headers: {r:?}");
    }

    // The responder leaves; its server sends RS-; the requester's server then answers 503.
    rsp.send("UNSUB 5\r\n");
    flush(&mut rsp);
    let mut k = 0;
    wait_until(
        || format!("{d}: a no-responders status once the only responder unsubscribed"),
        || {
            k += 1;
            let inbox = format!("_INBOX.{n}.nr{k}");
            req.send(&format!("PUB svc.{n} {inbox} 1\r\nx\r\n"));
            let got = flush_collect(&mut req);
            let status = got.iter().find(|m| {
                m.subject == inbox
                    && m.hdr
                        .as_ref()
                        .is_some_and(|h| h.starts_with(b"NATS/1.0 503"))
            });
            status.is_some().then_some(())
        },
    );
    assert!(
        flush_collect(&mut rsp).is_empty(),
        "{d}: an unsubscribed responder got requests"
    );
}

/// UNSUB stops delivery at once (the subscriber's own server drops what is still routed to it),
/// and the interest is withdrawn from the peer (`RS-`, seen in the Go server's `/routez` when
/// the subscriber is on rnatsd). Two clients on one subject: the first leaving keeps the interest.
fn unsubscribe(from: &Node, to: &Node, go: &Node, rnatsd_id: &str) {
    let d = dir(from, to);
    let n = uniq();
    let mut s1 = client(to.port());
    let mut s2 = client(to.port());
    let mut publ = client(from.port());
    s1.send(&format!("SUB u.{n} 1\r\nSUB uw.{n}.> 2\r\n"));
    s2.send(&format!("SUB u.{n} 1\r\n"));
    let b = barrier(&mut publ, &mut [&mut s1, &mut s2]);
    let watch_go = !to.is_go && go.http.is_some();
    if watch_go {
        let subs = go.route_subs(rnatsd_id);
        for s in [format!("u.{n}"), format!("uw.{n}.>")] {
            assert!(
                subs.contains(&s),
                "{d}: Go's /routez lacks rnatsd's interest {s}: {subs:?}"
            );
        }
    }
    publ.send(&format!("PUB u.{n} 2\r\nu1\r\nPUB uw.{n}.z 3\r\nuw1\r\n"));
    let got = b.mark(&mut publ, &mut [&mut s1, &mut s2]);
    assert_eq!(
        routing(&got[0]),
        [
            (format!("u.{n}"), "1".into()),
            (format!("uw.{n}.z"), "2".into())
        ],
        "{d}"
    );
    assert_eq!(routing(&got[1]), [(format!("u.{n}"), "1".into())], "{d}");

    // s1 leaves u (s2 still there) and uw.>.
    s1.send("UNSUB 1\r\nUNSUB 2\r\n");
    flush(&mut s1);
    for i in 0..5 {
        publ.send(&format!(
            "PUB u.{n} 2\r\nv{i}\r\nPUB uw.{n}.z 2\r\nw{i}\r\n"
        ));
    }
    let got = b.mark(&mut publ, &mut [&mut s1, &mut s2]);
    assert!(
        got[0].is_empty(),
        "{d}: delivered after UNSUB: {:?}",
        got[0]
    );
    assert_eq!(
        payloads(&got[1]),
        (0..5).map(|i| format!("v{i}")).collect::<Vec<_>>(),
        "{d}: the other subscriber of the subject still gets it"
    );
    if watch_go {
        wait_until(
            || format!("{d}: Go's /routez to drop uw.{n}.> after rnatsd's UNSUB"),
            || {
                let subs = go.route_subs(rnatsd_id);
                (!subs.contains(&format!("uw.{n}.>"))).then_some(subs)
            },
        );
        assert!(
            go.route_subs(rnatsd_id).contains(&format!("u.{n}")),
            "{d}: rnatsd withdrew u.{n} although a subscriber is left"
        );
    }
    s2.send("UNSUB 1\r\n");
    flush(&mut s2);
    publ.send(&format!("PUB u.{n} 2\r\nzz\r\n"));
    let got = b.mark(&mut publ, &mut [&mut s1, &mut s2]);
    assert!(
        got.iter().all(|g| g.is_empty()),
        "{d}: delivered after UNSUB: {got:?}"
    );
    if watch_go {
        wait_until(
            || format!("{d}: Go's /routez to drop u.{n} after the last UNSUB on rnatsd"),
            || (!go.route_subs(rnatsd_id).contains(&format!("u.{n}"))).then_some(()),
        );
    }
}

/// UNSUB with a maximum: the subscriber gets exactly max messages of those routed to it (plain
/// and queue subscription), then the interest is withdrawn from the peer.
fn auto_unsubscribe(from: &Node, to: &Node, go: &Node, rnatsd_id: &str) {
    let d = dir(from, to);
    let n = uniq();
    let mut sub = client(to.port());
    let mut publ = client(from.port());
    sub.send(&format!(
        "SUB a.{n} 1\r\nUNSUB 1 3\r\nSUB aq.{n} grp 2\r\nUNSUB 2 4\r\nSUB a.{n} 3\r\n"
    ));
    let b = barrier(&mut publ, &mut [&mut sub]);
    for i in 0..10 {
        publ.send(&format!("PUB a.{n} 2\r\na{i}\r\nPUB aq.{n} 2\r\nq{i}\r\n"));
    }
    let got = b.mark(&mut publ, &mut [&mut sub]).remove(0);
    let by_sid =
        |sid: &str| -> Vec<String> { got.iter().filter(|m| m.sid == sid).map(Msg::text).collect() };
    assert_eq!(by_sid("1"), ["a0", "a1", "a2"], "{d}: UNSUB 1 3");
    assert_eq!(
        by_sid("2"),
        ["q0", "q1", "q2", "q3"],
        "{d}: queue UNSUB 2 4"
    );
    assert_eq!(by_sid("3").len(), 10, "{d}: the unlimited subscription");
    if !to.is_go && go.http.is_some() {
        wait_until(
            || format!("{d}: Go's /routez to drop aq.{n} once rnatsd's auto-unsubscribe is done"),
            || (!go.route_subs(rnatsd_id).contains(&format!("aq.{n}"))).then_some(()),
        );
        assert!(
            go.route_subs(rnatsd_id).contains(&format!("a.{n}")),
            "{d}: a.{n} still has a subscriber on rnatsd"
        );
    }
    // Once the maxima are reached nothing more arrives (the unlimited one is gone too).
    sub.send("UNSUB 3\r\n");
    flush(&mut sub);
    publ.send(&format!("PUB a.{n} 1\r\nx\r\nPUB aq.{n} 1\r\nx\r\n"));
    let got = b.mark(&mut publ, &mut [&mut sub]).remove(0);
    assert!(got.is_empty(), "{d}: delivered beyond the maximum: {got:?}");
}

/// Everything across a two-server cluster of `r` (rnatsd) and `g` (Go), both ways.
fn exercise_pair(r: &Node, g: &Node) {
    let rid = r.server_id();
    for (from, to) in [(g, r), (r, g)] {
        pubsub_plain_and_wildcards(from, to);
        headers_across(from, to);
        request_reply(from, to);
        unsubscribe(from, to, g, &rid);
        auto_unsubscribe(from, to, g, &rid);
        queue_remote_only(from, to);
    }
    queue_groups(r, g);
}

/// Interest made on the first server before the second one exists: it must travel in the
/// subscription dump sent when the route forms.
struct PreRoute {
    c: Client,
    n: usize,
}

fn pre_route_interest(first: &Node) -> PreRoute {
    let n = uniq();
    let mut c = client(first.port());
    c.send(&format!(
        "SUB pre.{n}.> 1\r\nSUB preq.{n} g 2\r\nSUB preq.{n} g 3\r\nSUB preq.{n} h 4\r\n"
    ));
    flush(&mut c);
    PreRoute { c, n }
}

impl PreRoute {
    /// Publish from `from` (the server that joined) and see everything arrive.
    fn check(mut self, from: &Node) {
        let n = self.n;
        let mut p = client(from.port());
        let bar = barrier(&mut p, &mut [&mut self.c]);
        for i in 0..10 {
            p.send(&format!(
                "PUB pre.{n}.a 2\r\np{i}\r\nPUB preq.{n} 2\r\nq{i}\r\n"
            ));
        }
        let got = bar.mark(&mut p, &mut [&mut self.c]).remove(0);
        let of = |sids: &[&str]| -> Vec<String> {
            got.iter()
                .filter(|m| sids.contains(&m.sid.as_str()))
                .map(Msg::text)
                .collect()
        };
        let p10: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
        let q10: Vec<String> = (0..10).map(|i| format!("q{i}")).collect();
        assert_eq!(of(&["1"]), p10, "subscription made before the route formed");
        assert_eq!(
            of(&["2", "3"]),
            q10,
            "queue group g made before the route formed"
        );
        assert_eq!(
            of(&["4"]),
            q10,
            "queue group h made before the route formed"
        );
    }
}

/// Poll until `x`'s INFO to clients lists exactly the client addresses of `servers` in
/// `connect_urls` (its own included once it has peers, as nats-server does).
fn wait_connect_urls(x: &Node, servers: &[&Node]) {
    let mut want: Vec<String> = servers.iter().map(|s| s.sp.addr()).collect();
    want.sort();
    wait_until(
        || {
            format!(
                "{} on port {} to advertise connect_urls {want:?}; INFO: {}",
                x.kind(),
                x.port(),
                x.info()
            )
        },
        || {
            let info = x.info();
            let mut got: Vec<String> = info["connect_urls"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|u| u.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            got.sort();
            (got == want).then_some(())
        },
    );
}

/// Go's `/routez` shows rnatsd as its only route.
fn check_go_routez(g: &Node, r: &Node, go_solicited: bool) {
    let rid = r.server_id();
    g.wait_routes_to(&[&rid]);
    let z = g.routez("");
    assert_eq!(z["num_routes"], 1, "{z}");
    assert_eq!(z["server_id"], g.server_id().as_str(), "{z}");
    let route = &z["routes"][0];
    assert_eq!(route["remote_id"], rid.as_str(), "{z}");
    assert_eq!(route["did_solicit"], go_solicited, "{z}");
    assert_eq!(route["is_configured"], go_solicited, "{z}");
    assert_eq!(route["ip"], "127.0.0.1", "{z}");
}

/// rnatsd made exactly one route and never closed one (no reconnect loop), and is still up.
fn check_one_stable_route(r: &mut Node) {
    r.assert_alive();
    let log = r.sp.log_text();
    assert_eq!(
        log.matches(CREATED).count(),
        1,
        "rnatsd must have created exactly one route; log:\n{log}"
    );
    assert!(!log.contains(CLOSED), "rnatsd closed a route; log:\n{log}");
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn rnatsd_seed_go_joins() {
    let Some(go) = go_bin("rnatsd_seed_go_joins") else {
        return;
    };
    let (rc, gc) = (free_port(), free_port());
    let mut r = node(None, rc, &[], Some("interop"), false, &[]);
    let pre = pre_route_interest(&r);
    let mut g = node(Some(&go), gc, &[rc], Some("interop"), true, &[]);
    r.wait_routes_created(1);
    g.wait_routes_created(1);
    check_go_routez(&g, &r, true);
    wait_connect_urls(&r, &[&r, &g]);
    wait_connect_urls(&g, &[&r, &g]);
    pre.check(&g);
    exercise_pair(&r, &g);
    check_go_routez(&g, &r, true);
    check_one_stable_route(&mut r);
    g.assert_alive();
    assert!(!g.sp.log_text().contains(CLOSED), "{}", g.sp.log_text());
}

#[test]
fn go_seed_rnatsd_joins() {
    let Some(go) = go_bin("go_seed_rnatsd_joins") else {
        return;
    };
    let (rc, gc) = (free_port(), free_port());
    let mut g = node(Some(&go), gc, &[], Some("interop"), true, &[]);
    let pre = pre_route_interest(&g);
    let mut r = node(None, rc, &[gc], Some("interop"), true, &[]);
    r.wait_routes_created(1);
    g.wait_routes_created(1);
    check_go_routez(&g, &r, false);
    wait_connect_urls(&r, &[&r, &g]);
    wait_connect_urls(&g, &[&r, &g]);
    pre.check(&r);
    exercise_pair(&r, &g);
    check_go_routez(&g, &r, false);
    route_figures(&g, false);
    route_figures(&r, true);
    routez_detail_sids(&g, &r);
    routez_detail_sids(&r, &g);
    check_one_stable_route(&mut r);
    g.assert_alive();
    assert!(!g.sp.log_text().contains(CLOSED), "{}", g.sp.log_text());
}

/// `/routez?subs=detail` on `seen_by` names a queue subscription made on `sub_on` as nats-server
/// does: sid "ACCOUNT SUBJECT QUEUE", no account field.
fn routez_detail_sids(sub_on: &Node, seen_by: &Node) {
    let n = uniq();
    let mut c = client(sub_on.port());
    c.send(&format!("SUB rz.{n} grp 1\r\n"));
    flush(&mut c);
    let want = format!("$G rz.{n} grp");
    let d = wait_until(
        || {
            format!(
                "{want:?} in /routez?subs=detail: {}",
                seen_by.routez("?subs=detail")
            )
        },
        || {
            let z = seen_by.routez("?subs=detail");
            z["routes"][0]["subscriptions_list_detail"]
                .as_array()?
                .iter()
                .find(|d| d["sid"] == want.as_str())
                .cloned()
        },
    );
    assert_eq!(d["subject"], format!("rz.{n}"), "{d:#}");
    assert_eq!(d["qgroup"], "grp", "{d:#}");
    assert!(d.get("account").is_none(), "{d:#}");
}

/// A route shows its rtt (measured when `rtt_measured`), and /varz `in_msgs`/`in_bytes` include what came in over routes as
/// well as from clients, as nats-server counts them.
fn route_figures(n: &Node, rtt_measured: bool) {
    let routes = n.routez("");
    let (mut msgs, mut bytes) = (0, 0);
    for r in routes["routes"].as_array().expect("routes") {
        // rnatsd measures it by a PING as the route forms, long before this (nats-server
        // leaves it "0s" on a route it accepted).
        assert!(
            r["rtt"]
                .as_str()
                .is_some_and(|t| t.ends_with('s') && (t != "0s" || !rtt_measured)),
            "route rtt: {r:#}"
        );
        msgs += r["in_msgs"].as_u64().unwrap();
        bytes += r["in_bytes"].as_u64().unwrap();
    }
    assert!(msgs > 0, "no routed messages counted: {routes:#}");
    // And what clients (open or gone) published here.
    let port = n.http.unwrap();
    let c = http_json(port, "/connz?state=any&limit=100000");
    for x in c["connections"].as_array().expect("connections") {
        msgs += x["in_msgs"].as_u64().unwrap();
        bytes += x["in_bytes"].as_u64().unwrap();
    }
    // Read last: the server's totals can only have grown since.
    let v = http_json(port, "/varz");
    assert!(
        v["in_msgs"].as_u64().unwrap() >= msgs && v["in_bytes"].as_u64().unwrap() >= bytes,
        "/varz in_msgs {} in_bytes {} below routes' and clients' {msgs} {bytes}",
        v["in_msgs"],
        v["in_bytes"]
    );
}

/// Go seed A; rnatsd B and Go C join A only. See `three_node_mesh`.
#[test]
fn three_node_mix_meshes_by_gossip() {
    let Some(go) = go_bin("three_node_mix_meshes_by_gossip") else {
        return;
    };
    three_node_mesh([Some(&go), None, Some(&go)]);
}

/// rnatsd seed A; Go servers B and C join A only: rnatsd's gossip must tell each Go joiner of
/// the other. See `three_node_mesh`.
#[test]
fn three_node_rnatsd_seed_meshes_by_gossip() {
    let Some(go) = go_bin("three_node_rnatsd_seed_meshes_by_gossip") else {
        return;
    };
    three_node_mesh([None, Some(&go), Some(&go)]);
}

/// Seed A; B and C join A only (`kinds`: the Go binary, or None for rnatsd). The mesh completes
/// by gossip (every /routez lists the other two, every INFO all three client addresses); every
/// message crosses one hop (no copies relayed through a third server); queue groups deliver once
/// cluster-wide; with the seed killed, B and C still exchange messages over their direct route,
/// including for interest created after the kill, and stop advertising the seed's address.
fn three_node_mesh(kinds: [Option<&Path>; 3]) {
    let (ac, bc, cc) = (free_port(), free_port(), free_port());
    let mut a = node(kinds[0], ac, &[], Some("mix"), true, &[]);
    let b = node(kinds[1], bc, &[ac], Some("mix"), true, &[]);
    let c = node(kinds[2], cc, &[ac], Some("mix"), true, &[]);
    let (aid, bid, cid) = (a.server_id(), b.server_id(), c.server_id());
    a.wait_routes_to(&[&bid, &cid]);
    b.wait_routes_to(&[&aid, &cid]);
    c.wait_routes_to(&[&aid, &bid]);
    for x in [&a, &b, &c] {
        wait_connect_urls(x, &[&a, &b, &c]);
    }

    // One subscriber on each server; a publisher on each; each message once per subscriber.
    let n = uniq();
    let mut subs: Vec<Client> = [&a, &b, &c].iter().map(|x| client(x.port())).collect();
    for s in subs.iter_mut() {
        s.send(&format!("SUB m.{n}.> 1\r\nSUB m.{n}.* qg 2\r\n"));
    }
    let mut pubs: Vec<Client> = [&a, &b, &c].iter().map(|x| client(x.port())).collect();
    let names = [
        format!("A ({} seed)", a.kind()),
        format!("B ({})", b.kind()),
        format!("C ({})", c.kind()),
    ];
    for (p, pname) in pubs.iter_mut().zip(names.clone()) {
        let [s0, s1, s2] = &mut subs[..] else {
            unreachable!()
        };
        let bar = barrier(p, &mut [s0, s1, s2]);
        for i in 0..100 {
            p.send(&format!("PUB m.{n}.x 4\r\n{i:04}\r\n"));
        }
        let got = bar.mark(p, &mut [s0, s1, s2]);
        let want: Vec<String> = (0..100).map(|i| format!("{i:04}")).collect();
        for (k, g) in got.iter().enumerate() {
            let plain: Vec<String> = g.iter().filter(|m| m.sid == "1").map(Msg::text).collect();
            assert_eq!(
                plain, want,
                "publisher on {pname}: subscriber on {} must get each message once, in order",
                names[k]
            );
        }
        let mut queue: Vec<String> = got
            .iter()
            .flatten()
            .filter(|m| m.sid == "2")
            .map(Msg::text)
            .collect();
        queue.sort();
        assert_eq!(
            queue, want,
            "publisher on {pname}: queue group qg once cluster-wide"
        );
    }

    // Queue members only on the two servers other than the publisher's.
    let rn = uniq();
    for (pi, pname) in names.iter().enumerate() {
        let mut members: Vec<Client> = [&a, &b, &c]
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != pi)
            .map(|(_, x)| client(x.port()))
            .collect();
        for m in members.iter_mut() {
            m.send(&format!("SUB r.{rn}.{pi} grp 1\r\n"));
        }
        let [m0, m1] = &mut members[..] else {
            unreachable!()
        };
        let p = &mut pubs[pi];
        let bar = barrier(p, &mut [m0, m1]);
        for i in 0..200 {
            p.send(&format!("PUB r.{rn}.{pi} 4\r\n{i:04}\r\n"));
        }
        let got = bar.mark(p, &mut [m0, m1]);
        let mut all: Vec<String> = got.iter().flat_map(|g| payloads(g)).collect();
        all.sort();
        assert_eq!(
            all,
            (0..200).map(|i| format!("{i:04}")).collect::<Vec<_>>(),
            "publisher on {pname}, members on the two others: each message exactly once"
        );
    }

    // Kill the seed: B and C must still be linked directly.
    a.sp.kill();
    let [_, sb, sc] = &mut subs[..] else {
        unreachable!()
    };
    let [_, pb, pc] = &mut pubs[..] else {
        unreachable!()
    };
    // Existing interest, both ways: each message once to each of B's and C's subscribers, once
    // to the queue group.
    for (p, what) in [(&mut *pb, "publisher on B"), (&mut *pc, "publisher on C")] {
        let bar = barrier(p, &mut [&mut *sb, &mut *sc]);
        for i in 0..20 {
            p.send(&format!("PUB m.{n}.y 2\r\n{i:02}\r\n"));
        }
        let got = bar.mark(p, &mut [&mut *sb, &mut *sc]);
        let want: Vec<String> = (0..20).map(|i| format!("{i:02}")).collect();
        for (g, on) in got.iter().zip(["B", "C"]) {
            let plain: Vec<String> = g.iter().filter(|m| m.sid == "1").map(Msg::text).collect();
            assert_eq!(
                plain, want,
                "{what}, subscriber on {on}, after the seed is gone (existing interest)"
            );
        }
        let mut queue: Vec<String> = got
            .iter()
            .flatten()
            .filter(|m| m.sid == "2")
            .map(Msg::text)
            .collect();
        queue.sort();
        assert_eq!(queue, want, "{what}: queue group after the seed is gone");
    }
    // New interest after the kill, both ways.
    let k = uniq();
    let mut nb = client(b.port());
    let mut nc = client(c.port());
    nb.send(&format!("SUB late.{k} 1\r\n"));
    nc.send(&format!("SUB late.{k} 1\r\n"));
    for (p, what) in [(&mut *pb, "publisher on B"), (&mut *pc, "publisher on C")] {
        let bar = barrier(p, &mut [&mut nb, &mut nc]);
        p.send(&format!("PUB late.{k} 4\r\nlate\r\n"));
        for (g, on) in bar.mark(p, &mut [&mut nb, &mut nc]).iter().zip(["B", "C"]) {
            assert_eq!(
                payloads(g),
                ["late"],
                "{what}, subscriber on {on}, after the seed is gone (new interest)"
            );
        }
    }
    // The seed's client address is withdrawn from the others' INFO.
    wait_connect_urls(&b, &[&b, &c]);
    wait_connect_urls(&c, &[&b, &c]);
    // The direct route between B and C is what carried that.
    assert!(
        c.route_ids().contains(&bid),
        "C lost its route to B: {}",
        c.routez("")
    );
}

/// The Go server's `$SYS` account traffic over a route: `RS+ $SYS ...` for its ~40 internal
/// subscriptions on connect, and, once rnatsd (with a `$SYS` account of its own) has interest,
/// `RMSG $SYS ...`: statsz heartbeats, connect/disconnect events, replies to
/// `$SYS.REQ.SERVER.PING`. For a few seconds of that, rnatsd stays up, the route stays (one
/// created, none closed), `$G` traffic keeps flowing.
#[test]
fn go_sys_account_traffic_keeps_the_route() {
    let Some(go) = go_bin("go_sys_account_traffic_keeps_the_route") else {
        return;
    };
    let dir = TempDir::new("sysacc");
    let conf = dir.path.join("r.conf");
    // `$SYS` as nats-server names its system account; `$G` users at the top level (nats-server
    // refuses `$G` under `accounts`: "Reserved Account").
    std::fs::write(
        &conf,
        "accounts {\n  \"$SYS\": { users = [ {user: sys, password: sys} ] }\n}\n\
         authorization { users = [ {user: g, password: g} ] }\n",
    )
    .unwrap();
    let started = Instant::now();
    let (rc, gc) = (free_port(), free_port());
    let mut r = node(
        None,
        rc,
        &[],
        Some("sys"),
        false,
        &["-c", conf.to_str().unwrap()],
    );
    let mut g = node(Some(&go), gc, &[rc], Some("sys"), true, &[]);
    r.wait_routes_created(1);
    let gid = g.server_id();
    check_go_routez(&g, &r, true);

    let mut sys = connect(
        r.port(),
        r#"{"verbose":false,"pedantic":false,"headers":true,"user":"sys","pass":"sys"}"#,
    );
    let mut rsub = connect(r.port(), G_USER);
    sys.send("SUB $SYS.> 1\r\nSUB _INBOX.sys.> 2\r\n");
    flush_collect(&mut sys);
    // rnatsd's $SYS interest reaches Go: poll with server pings until the Go server answers one
    // (a reply routed back to rnatsd in $SYS).
    let mut k = 0;
    wait_until(
        || "a reply from the Go server to $SYS.REQ.SERVER.PING sent on rnatsd".to_string(),
        || {
            k += 1;
            sys.send(&format!(
                "PUB $SYS.REQ.SERVER.PING _INBOX.sys.{k} 0\r\n\r\n"
            ));
            flush_collect(&mut sys).into_iter().find(|m| {
                m.sid == "2"
                    && serde_json::from_slice::<Value>(&m.payload)
                        .is_ok_and(|v| v["server"]["id"] == gid.as_str())
            })
        },
    );

    // A client connecting to and leaving the Go server: account connection updates for $G
    // (`$SYS.SERVER.ACCOUNT.$G.CONNS`, `$SYS.ACCOUNT.$G.SERVER.CONNS`) over the route.
    {
        let mut gc1 = connect(g.port(), r#"{"verbose":false,"name":"evt"}"#);
        flush(&mut gc1);
    }
    let mut events = BTreeMap::<String, usize>::new();
    let mut statsz = 0;
    let statsz_subject = format!("$SYS.SERVER.{gid}.STATSZ");
    let deadline = Instant::now() + LIMIT;
    while !events.contains_key("$SYS.SERVER.ACCOUNT.$G.CONNS") {
        assert!(
            Instant::now() < deadline,
            "$SYS.SERVER.ACCOUNT.$G.CONNS from Go on rnatsd within {LIMIT:?}; got {events:?}"
        );
        let m = next_msg(&mut sys);
        if m.subject == statsz_subject {
            statsz += 1;
        }
        if m.subject.ends_with(".CONNS") {
            let v: Value = serde_json::from_slice(&m.payload).expect("CONNS JSON");
            assert_eq!(v["acc"], "$G", "{}: {v}", m.subject);
            assert_eq!(v["server"]["id"], gid.as_str(), "{}: {v}", m.subject);
        }
        *events.entry(m.subject.clone()).or_default() += 1;
    }

    // $G traffic alongside, both ways.
    let n = uniq();
    let mut gsub = client(g.port());
    let mut gpub = client(g.port());
    let mut rpub = connect(r.port(), G_USER);
    gsub.send(&format!("SUB rg.{n} 1\r\n"));
    rsub.send(&format!("SUB gr.{n} 1\r\n"));
    let b1 = barrier(&mut rpub, &mut [&mut gsub]);
    let b2 = barrier(&mut gpub, &mut [&mut rsub]);

    // Keep the traffic going for at least 5 s after the servers started, with statsz among it.
    while started.elapsed() < Duration::from_secs(5) || statsz == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no STATSZ from Go: {events:?}"
        );
        k += 1;
        sys.send(&format!(
            "PUB $SYS.REQ.SERVER.PING _INBOX.sys.{k} 0\r\n\r\n"
        ));
        rpub.send(&format!("PUB rg.{n} 2\r\nr{}\r\n", k % 10));
        gpub.send(&format!("PUB gr.{n} 2\r\ng{}\r\n", k % 10));
        let got_g = b1.mark(&mut rpub, &mut [&mut gsub]).remove(0);
        assert_eq!(
            payloads(&got_g),
            [format!("r{}", k % 10)],
            "rnatsd -> Go ($G)"
        );
        let got_r = b2.mark(&mut gpub, &mut [&mut rsub]).remove(0);
        assert_eq!(
            payloads(&got_r),
            [format!("g{}", k % 10)],
            "Go -> rnatsd ($G)"
        );
        for m in flush_collect(&mut sys) {
            if m.subject == statsz_subject {
                statsz += 1;
            }
        }
        r.assert_alive();
        // Pace the load loop (not a synchronisation).
        std::thread::sleep(Duration::from_millis(50));
    }
    check_one_stable_route(&mut r);
    check_go_routez(&g, &r, true);
    g.assert_alive();
    assert!(!g.sp.log_text().contains(CLOSED), "{}", g.sp.log_text());
}

/// No cluster names: the Go server generates one ("Cluster name was dynamically generated") and
/// servers with dynamic names adopt a peer's. A Go seed, rnatsd and a Go server joining it must
/// settle into one named, stable full mesh, as three Go servers do.
#[test]
fn dynamic_cluster_names_converge() {
    let Some(go) = go_bin("dynamic_cluster_names_converge") else {
        return;
    };
    let (ac, bc, cc) = (free_port(), free_port(), free_port());
    let a = node(Some(&go), ac, &[], None, true, &[]);
    let b = node(None, bc, &[ac], None, true, &[]);
    let c = node(Some(&go), cc, &[ac], None, true, &[]);
    let (aid, bid, cid) = (a.server_id(), b.server_id(), c.server_id());
    a.wait_routes_to(&[&bid, &cid]);
    c.wait_routes_to(&[&aid, &bid]);
    b.wait_routes_to(&[&aid, &cid]);
    let names: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|x| x.info()["cluster"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        !names[0].is_empty() && names.iter().all(|x| *x == names[0]),
        "one non-empty cluster name in every server's INFO: {names:?}"
    );
    let closes = a.log_count(CLOSED);
    // Traffic between all three; the mesh stays as it is meanwhile.
    let n = uniq();
    let mut subs: Vec<Client> = [&a, &b, &c].iter().map(|x| client(x.port())).collect();
    for s in subs.iter_mut() {
        s.send(&format!("SUB d.{n} 1\r\n"));
    }
    for x in [&a, &b, &c] {
        let mut p = client(x.port());
        let [s0, s1, s2] = &mut subs[..] else {
            unreachable!()
        };
        let bar = barrier(&mut p, &mut [s0, s1, s2]);
        p.send(&format!("PUB d.{n} 2\r\nhi\r\n"));
        for g in bar.mark(&mut p, &mut [s0, s1, s2]) {
            assert_eq!(payloads(&g), ["hi"], "from {}", x.kind());
        }
    }
    assert_eq!(
        a.log_count(CLOSED),
        closes,
        "the seed kept dropping routes:\n{}",
        a.sp.log_text()
    );
}

/// The next message other than barrier traffic, failing with `what` when none comes within the
/// harness's read timeout.
fn next_msg_or(c: &mut Client, what: &str) -> Msg {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| next_msg(c))) {
        Ok(m) => m,
        Err(_) => panic!("no message within {:?}: {what}", common::READ_TIMEOUT),
    }
}

const ACCOUNTS_CONF: &str = r#"
accounts {
  A: {
    users: [ {user: a, password: a} ]
    exports: [ {stream: "feed.>"}, {service: "svc.echo"} ]
  }
  B: {
    users: [ {user: b, password: b} ]
    imports: [
      {stream: {account: A, subject: "feed.>"}, prefix: "fromA"}
      {service: {account: A, subject: "svc.echo"}}
    ]
  }
}
"#;

fn account_client(port: u16, user: &str) -> Client {
    connect(
        port,
        &format!(
            r#"{{"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"user":"{user}","pass":"{user}"}}"#
        ),
    )
}

/// rnatsd and a Go server joining it, both with the accounts of `ACCOUNTS_CONF`.
struct AccountPair {
    r: Node,
    g: Node,
    _tmp: TempDir,
}

fn account_pair(go: &Path) -> AccountPair {
    let tmp = TempDir::new("accounts");
    let conf = tmp.path.join("accounts.conf");
    std::fs::write(&conf, ACCOUNTS_CONF).unwrap();
    let conf = conf.to_str().unwrap();
    let (rc, gc) = (free_port(), free_port());
    let r = node(None, rc, &[], Some("acc"), false, &["-c", conf]);
    let g = node(Some(go), gc, &[rc], Some("acc"), true, &["-c", conf]);
    r.wait_routes_created(1);
    check_go_routez(&g, &r, true);
    AccountPair { r, g, _tmp: tmp }
}

/// The same subject in accounts A and B: messages stay in their account across the route
/// (RS+/RMSG name it). Both directions.
#[test]
fn accounts_stay_isolated_across_routes() {
    let Some(go) = go_bin("accounts_stay_isolated_across_routes") else {
        return;
    };
    let p = account_pair(&go);
    for (from, to) in [(&p.g, &p.r), (&p.r, &p.g)] {
        let d = dir(from, to);
        let n = uniq();
        let mut sa = account_client(to.port(), "a");
        let mut sb = account_client(to.port(), "b");
        let mut pa = account_client(from.port(), "a");
        let mut pb = account_client(from.port(), "b");
        sa.send(&format!("SUB iso.{n} 1\r\n"));
        sb.send(&format!("SUB iso.{n} 1\r\n"));
        let ba = barrier(&mut pa, &mut [&mut sa]);
        let bb = barrier(&mut pb, &mut [&mut sb]);
        pa.send(&format!("PUB iso.{n} 2\r\nia\r\n"));
        pb.send(&format!("PUB iso.{n} 2\r\nib\r\n"));
        let mut got_a = ba.mark(&mut pa, &mut [&mut sa]).remove(0);
        let mut got_b = bb.mark(&mut pb, &mut [&mut sb]).remove(0);
        // A second round of markers, so a stray cross-account copy would have arrived by now.
        got_a.extend(ba.mark(&mut pa, &mut [&mut sa]).remove(0));
        got_b.extend(bb.mark(&mut pb, &mut [&mut sb]).remove(0));
        assert_eq!(payloads(&got_a), ["ia"], "{d}: account A's subscriber");
        assert_eq!(payloads(&got_b), ["ib"], "{d}: account B's subscriber");
    }
}

/// Stream import (B imports A's `feed.>` with prefix `fromA`): account A publishes on `from`;
/// B's subscriber on `to` gets each message once as `fromA.feed...`. nats-server routes the
/// message in the exporting account (the importer's server told it of the interest in A with a
/// shadow subscription's `RS+ A feed...`) and applies the import where the subscriber is.
fn stream_import_across(from: &Node, to: &Node) {
    let d = dir(from, to);
    let n = uniq();
    let mut sb = account_client(to.port(), "b");
    let mut pb = account_client(from.port(), "b");
    let mut pa = account_client(from.port(), "a");
    sb.send(&format!("SUB fromA.feed.{n}.> 2\r\n"));
    let _bb = barrier(&mut pb, &mut [&mut sb]);
    for i in 0..5 {
        pa.send(&format!("PUB feed.{n}.x 2\r\nf{i}\r\n"));
    }
    pa.send(&format!("PUB feed.{n}.x 3\r\nend\r\n"));
    flush(&mut pa);
    // Read up to the last one: a copy routed twice (once per account) comes in between, over the
    // one route.
    let mut got = Vec::new();
    loop {
        let m = next_msg_or(
            &mut sb,
            &format!(
                "{d}: B's stream import of A's feed.{n}.x published on the other server (got so \
                 far: {:?})",
                payloads(&got)
            ),
        );
        assert_eq!(
            (m.subject.as_str(), m.sid.as_str()),
            (format!("fromA.feed.{n}.x").as_str(), "2"),
            "{d}: stream import"
        );
        if m.text() == "end" {
            break;
        }
        got.push(m);
    }
    assert_eq!(
        payloads(&got),
        (0..5).map(|i| format!("f{i}")).collect::<Vec<_>>(),
        "{d}: stream import: each message once"
    );
}

#[test]
fn stream_import_go_publisher_rnatsd_subscriber() {
    let Some(go) = go_bin("stream_import_go_publisher_rnatsd_subscriber") else {
        return;
    };
    let p = account_pair(&go);
    stream_import_across(&p.g, &p.r);
}

#[test]
fn stream_import_rnatsd_publisher_go_subscriber() {
    let Some(go) = go_bin("stream_import_rnatsd_publisher_go_subscriber") else {
        return;
    };
    let p = account_pair(&go);
    stream_import_across(&p.r, &p.g);
}

/// Service import (B imports A's `svc.echo`): a requester in B on `from`, the responder in A on
/// `to`. The request arrives with a `_R_.` reply subject of the exporting account; the reply to
/// it must get back to the requester's server (which must have told its peers of the interest
/// in its `_R_.` subjects in A) and out under the requester's own inbox.
fn service_import_across(from: &Node, to: &Node) {
    let d = dir(from, to);
    let n = uniq();
    let mut pa = account_client(from.port(), "a");
    let mut rsp = account_client(to.port(), "a");
    rsp.send("SUB svc.echo 1\r\n");
    let _ba = barrier(&mut pa, &mut [&mut rsp]);
    let mut req = account_client(from.port(), "b");
    req.send(&format!("SUB _INBOX.{n}.* 1\r\n"));
    flush(&mut req);
    for i in 0..5 {
        let inbox = format!("_INBOX.{n}.{i}");
        req.send(&format!("PUB svc.echo {inbox} 2\r\nq{i}\r\n"));
        let m = next_msg_or(
            &mut rsp,
            &format!("{d}: a request through B's service import to A's responder"),
        );
        assert_eq!(m.subject, "svc.echo", "{d}");
        assert_eq!(m.text(), format!("q{i}"), "{d}");
        let reply = m.reply.clone().expect("a request carries a reply subject");
        assert!(
            reply.starts_with("_R_."),
            "{d}: the reply subject in the exporting account: {reply}"
        );
        rsp.send(&format!("PUB {reply} 2\r\na{i}\r\n"));
        let r = next_msg_or(
            &mut req,
            &format!("{d}: the reply (to {reply} in A) back to the requester in B"),
        );
        assert_eq!(
            (r.subject.as_str(), r.text()),
            (inbox.as_str(), format!("a{i}")),
            "{d}: service reply"
        );
    }
}

#[test]
fn service_import_go_requester_rnatsd_responder() {
    let Some(go) = go_bin("service_import_go_requester_rnatsd_responder") else {
        return;
    };
    let p = account_pair(&go);
    service_import_across(&p.g, &p.r);
}

#[test]
fn service_import_rnatsd_requester_go_responder() {
    let Some(go) = go_bin("service_import_rnatsd_requester_go_responder") else {
        return;
    };
    let p = account_pair(&go);
    service_import_across(&p.r, &p.g);
}

/// Route credentials (`--cluster nats://u:p@host:port` on the listener, the same in the joiner's
/// `--routes` URL), with either implementation listening: the right password makes the route
/// (and traffic crosses), a wrong one is refused ("authentication error" in the listener's log,
/// no route in Go's `/routez`).
#[test]
fn route_credentials_both_ways() {
    let Some(go) = go_bin("route_credentials_both_ways") else {
        return;
    };
    for rnatsd_listens in [true, false] {
        for (pass, ok) in [("s3cret", true), ("wrong", false)] {
            let (lc, jc) = (free_port(), free_port());
            let listen_url = format!("nats://ru:s3cret@127.0.0.1:{lc}");
            let route = vec![format!("nats://ru:{pass}@127.0.0.1:{lc}")];
            let (lgo, jgo) = if rnatsd_listens {
                (None, Some(go.as_path()))
            } else {
                (Some(go.as_path()), None)
            };
            let l = node_urls(lgo, &listen_url, &[], Some("auth"), lgo.is_some(), &[]);
            let j = node_urls(
                jgo,
                &route_url(jc),
                &route,
                Some("auth"),
                jgo.is_some(),
                &[],
            );
            let what = format!(
                "{} listening, {} joining with password {pass:?}",
                l.kind(),
                j.kind()
            );
            let (g, r) = if rnatsd_listens { (&j, &l) } else { (&l, &j) };
            if ok {
                check_go_routez(g, r, rnatsd_listens);
                let n = uniq();
                let mut sl = client(l.port());
                let mut sj = client(j.port());
                let mut pl = client(l.port());
                let mut pj = client(j.port());
                sl.send(&format!("SUB cred.{n} 1\r\n"));
                sj.send(&format!("SUB cred.{n} 1\r\n"));
                let bl = barrier(&mut pj, &mut [&mut sl]);
                let bj = barrier(&mut pl, &mut [&mut sj]);
                pj.send(&format!("PUB cred.{n} 2\r\nhi\r\n"));
                pl.send(&format!("PUB cred.{n} 2\r\nho\r\n"));
                let got_l = bl.mark(&mut pj, &mut [&mut sl]).remove(0);
                let got_j = bj.mark(&mut pl, &mut [&mut sj]).remove(0);
                assert!(
                    payloads(&got_l).contains(&"hi".to_string()),
                    "{what}: {got_l:?}"
                );
                assert!(
                    payloads(&got_j).contains(&"ho".to_string()),
                    "{what}: {got_j:?}"
                );
            } else {
                wait_until(
                    || {
                        format!(
                            "{what}: \"authentication error\" in the listener's log:\n{}",
                            l.sp.log_text()
                        )
                    },
                    || {
                        l.sp.log_text()
                            .contains("authentication error")
                            .then_some(())
                    },
                );
                let z = g.routez("");
                assert_eq!(z["num_routes"], 0, "{what}: {z}");
            }
        }
    }
}

/// Configured cluster names that differ: no route, either way round ("does not match" logged by
/// whichever side sees the other's name first, as nats-server words it), none in Go's `/routez`.
#[test]
fn cluster_name_mismatch_refused() {
    let Some(go) = go_bin("cluster_name_mismatch_refused") else {
        return;
    };
    for rnatsd_listens in [true, false] {
        let (lc, jc) = (free_port(), free_port());
        let (lgo, jgo) = if rnatsd_listens {
            (None, Some(go.as_path()))
        } else {
            (Some(go.as_path()), None)
        };
        let l = node(lgo, lc, &[], Some("one"), lgo.is_some(), &[]);
        let j = node(jgo, jc, &[lc], Some("two"), jgo.is_some(), &[]);
        let what = format!(
            "{} named one listening, {} named two joining",
            l.kind(),
            j.kind()
        );
        let g = if rnatsd_listens { &j } else { &l };
        wait_until(
            || {
                format!(
                    "{what}: a cluster name conflict in a log:\n{}\n{}",
                    l.sp.log_text(),
                    j.sp.log_text()
                )
            },
            || {
                (l.sp.log_text().contains("does not match")
                    || j.sp.log_text().contains("does not match")
                    || g.sp.log_text().contains("Cluster Name Conflict"))
                .then_some(())
            },
        );
        let z = g.routez("");
        assert_eq!(z["num_routes"], 0, "{what}: {z}");
    }
}

/// Lame-duck mode crosses implementations: each side stops offering the other to its clients
/// once the other says (route INFO with `ldm`) that it is going away.
#[test]
fn lame_duck_peers_are_no_longer_advertised() {
    let Some(go) = go_bin("lame_duck_peers_are_no_longer_advertised") else {
        return;
    };
    for go_leaves in [true, false] {
        let (rc, gc) = (free_port(), free_port());
        let r = node(None, rc, &[], Some("interop"), false, &[]);
        let g = node(Some(&go), gc, &[rc], Some("interop"), false, &[]);
        wait_connect_urls(&r, &[&r, &g]);
        wait_connect_urls(&g, &[&r, &g]);
        let (leaving, staying) = if go_leaves { (&g, &r) } else { (&r, &g) };
        // A client keeps the leaving server in lame-duck mode (with none it exits at once).
        let _keep = client(leaving.port());
        leaving.sp.signal("USR2");
        wait_connect_urls(staying, &[staying]);
    }
}
