//! The monitoring endpoints: each turns a request's query into JSON with nats-server 2.9's field
//! names, types and order, built from snapshots of the server's state (connections are copied
//! out of the registry, subscriptions out of the sublists, then the locks are let go). Query
//! errors answer 400 with the Go server's words.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Not;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use super::format::{from_unix_nanos, rfc3339, rtt, uptime, CpuMeter};
use crate::conf::COMPAT_VERSION;
use crate::proto::http::query_value;
use crate::proto::subject;
use crate::server::account::GLOBAL;
use crate::server::shared::{Closed, ConnSnapshot, PeerCert, SubSnapshot};
use crate::server::Server;

/// nats-server's default page size for `/connz` and `/subsz`.
const DEFAULT_LIMIT: usize = 1024;

/// What an endpoint answers.
pub enum Reply {
    /// JSON (wrapped for JSONP by the caller when asked).
    Json(Vec<u8>),
    Html(String),
    /// A refused query: status and plain-text message.
    Error(u16, String),
}

/// What endpoints may read besides the server.
pub struct Context<'a> {
    pub server: &'a Arc<Server>,
    pub req_stats: &'a BTreeMap<String, u64>,
    pub cpu: &'a mut CpuMeter,
    /// The bound monitoring ports (http, https), 0 when not serving.
    pub http_port: u16,
    pub https_port: u16,
}

fn json<T: Serialize>(v: &T) -> Reply {
    match serde_json::to_vec_pretty(v) {
        Ok(b) => Reply::Json(b),
        Err(e) => Reply::Error(500, e.to_string()),
    }
}

/// Floats as Go writes them: whole numbers without a fraction (`0`, `2`), others as usual.
fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ---- query parameters, decoded and refused as nats-server does ----

fn param(q: &[u8], key: &str) -> String {
    query_value(q, key).unwrap_or_default()
}

fn decode_bool(q: &[u8], key: &str) -> Result<bool, String> {
    match param(q, key).as_str() {
        "" => Ok(false),
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        v => Err(format!(
            "Error decoding boolean for '{key}': strconv.ParseBool: parsing {v:?}: invalid syntax"
        )),
    }
}

/// Go's `strconv` failure text for `v`: out of range when it is all digits, else syntax
/// (`ParseUint` takes no sign at all).
fn num_error(func: &str, v: &str) -> String {
    let digits = if func == "ParseUint" {
        v
    } else {
        v.strip_prefix(['+', '-']).unwrap_or(v)
    };
    let why = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        "value out of range"
    } else {
        "invalid syntax"
    };
    format!("strconv.{func}: parsing {v:?}: {why}")
}

fn decode_int(q: &[u8], key: &str) -> Result<i64, String> {
    let v = param(q, key);
    if v.is_empty() {
        return Ok(0);
    }
    v.parse::<i64>()
        .map_err(|_| format!("Error decoding int for '{key}': {}", num_error("Atoi", &v)))
}

fn decode_u64(q: &[u8], key: &str) -> Result<u64, String> {
    let v = param(q, key);
    if v.is_empty() {
        return Ok(0);
    }
    v.parse::<u64>().map_err(|_| {
        format!(
            "Error decoding uint64 for '{key}': {}",
            num_error("ParseUint", &v)
        )
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Subs {
    None,
    List,
    Detail,
}

fn decode_subs(q: &[u8]) -> Result<Subs, String> {
    if param(q, "subs").eq_ignore_ascii_case("detail") {
        return Ok(Subs::Detail);
    }
    Ok(if decode_bool(q, "subs")? {
        Subs::List
    } else {
        Subs::None
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Open,
    Closed,
    Any,
}

fn decode_state(q: &[u8]) -> Result<State, String> {
    let v = param(q, "state");
    match v.to_ascii_lowercase().as_str() {
        "" | "open" => Ok(State::Open),
        "closed" => Ok(State::Closed),
        "any" | "all" => Ok(State::Any),
        _ => Err(format!("Error decoding state for {v}")),
    }
}

/// `limit`/`offset` as nats-server applies them: a negative offset is 0, a limit of 0 or less
/// is the default.
fn page(offset: i64, limit: i64) -> (usize, usize) {
    let offset = offset.max(0) as usize;
    let limit = if limit <= 0 {
        DEFAULT_LIMIT
    } else {
        limit as usize
    };
    (offset, limit)
}

fn window<T>(v: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    v.into_iter().skip(offset).take(limit).collect()
}

// ---- /varz ----

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize, Default)]
struct ClusterVarz {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_port: Option<u16>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_go_float"
    )]
    auth_timeout: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    urls: Vec<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_go_float"
    )]
    tls_timeout: Option<f64>,
    #[serde(skip_serializing_if = "Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "Not::not")]
    tls_verify: bool,
}

fn opt_go_float<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    go_float(&v.unwrap_or(0.0), s)
}

#[derive(Serialize)]
struct Varz<'a> {
    server_id: &'a str,
    server_name: &'a str,
    version: &'a str,
    proto: u32,
    go: &'a str,
    host: &'a str,
    port: u16,
    #[serde(skip_serializing_if = "Not::not")]
    auth_required: bool,
    #[serde(skip_serializing_if = "Not::not")]
    tls_required: bool,
    #[serde(skip_serializing_if = "Not::not")]
    tls_verify: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    connect_urls: Vec<String>,
    max_connections: usize,
    ping_interval: u64,
    ping_max: u32,
    http_host: &'a str,
    http_port: u16,
    http_base_path: &'a str,
    https_port: u16,
    #[serde(serialize_with = "go_float")]
    auth_timeout: f64,
    max_control_line: usize,
    max_payload: usize,
    max_pending: usize,
    cluster: ClusterVarz,
    gateway: Empty,
    leaf: Empty,
    mqtt: Empty,
    websocket: Empty,
    jetstream: Empty,
    #[serde(serialize_with = "go_float")]
    tls_timeout: f64,
    write_deadline: u64,
    start: String,
    now: String,
    uptime: String,
    mem: u64,
    cores: usize,
    gomaxprocs: usize,
    #[serde(serialize_with = "go_float")]
    cpu: f64,
    connections: usize,
    total_connections: u64,
    routes: u64,
    remotes: u64,
    leafnodes: u64,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    slow_consumers: u64,
    subscriptions: u64,
    http_req_stats: &'a BTreeMap<String, u64>,
    config_load_time: String,
}

pub fn varz(cx: &mut Context<'_>) -> Reply {
    let s = cx.server;
    let o = s.opts();
    let [in_msgs, in_bytes, out_msgs, out_bytes] = s.stats.snapshot();
    let http_host = o
        .http
        .as_ref()
        .or(o.https.as_ref())
        .and_then(|(h, _)| h.clone())
        .unwrap_or_else(|| o.host.clone());
    let cluster = match &o.cluster {
        None => ClusterVarz::default(),
        Some(c) => {
            let tls_timeout = c
                .tls
                .as_ref()
                .map_or(crate::conf::tls::TLS_TIMEOUT, |t| t.timeout);
            let auth_timeout = c.auth_timeout.unwrap_or(if c.tls.is_some() {
                tls_timeout + Duration::from_secs(1)
            } else {
                crate::conf::auth::AUTH_TIMEOUT
            });
            ClusterVarz {
                name: s
                    .cluster
                    .as_ref()
                    .map(|cl| cl.name())
                    .or_else(|| c.name.clone()),
                addr: Some(c.host.clone().unwrap_or_else(|| "0.0.0.0".into())),
                cluster_port: c.port.filter(|p| *p != 0),
                auth_timeout: Some(secs(auth_timeout)),
                urls: c
                    .routes
                    .iter()
                    .map(|r| {
                        let rest = r.split_once("://").map_or(r.as_str(), |(_, r)| r);
                        let rest = rest.rsplit_once('@').map_or(rest, |(_, hp)| hp);
                        rest.trim_end_matches('/').to_string()
                    })
                    .collect(),
                tls_timeout: Some(secs(tls_timeout)),
                tls_required: c.tls.is_some(),
                tls_verify: c.tls.as_ref().is_some_and(|t| t.verify),
            }
        }
    };
    let now = SystemTime::now();
    let v = Varz {
        server_id: &s.id,
        server_name: &s.name,
        version: COMPAT_VERSION,
        proto: 1,
        go: concat!("rnatsd ", env!("CARGO_PKG_VERSION")),
        // With client_advertise, the advertised address (as nats-server shows it).
        host: if o.client_advertise.is_some() {
            &s.info_host
        } else {
            &o.host
        },
        port: if o.client_advertise.is_some() {
            s.info_port
        } else {
            s.addr.port()
        },
        auth_required: s.auth().required,
        tls_required: o.tls.is_some(),
        tls_verify: o.tls.as_ref().is_some_and(|t| t.verify),
        connect_urls: s.connect_urls(),
        max_connections: o.max_connections,
        ping_interval: o.ping_interval.as_nanos() as u64,
        ping_max: o.ping_max,
        http_host: &http_host,
        http_port: cx.http_port,
        http_base_path: o.http_base_path.as_deref().unwrap_or(""),
        https_port: cx.https_port,
        auth_timeout: secs(o.auth_timeout()),
        max_control_line: o.max_control_line,
        max_payload: o.max_payload,
        max_pending: o.max_pending,
        cluster,
        gateway: Empty {},
        leaf: Empty {},
        mqtt: Empty {},
        websocket: Empty {},
        jetstream: Empty {},
        tls_timeout: secs(
            o.tls
                .as_ref()
                .map_or(crate::conf::tls::TLS_TIMEOUT, |t| t.timeout),
        ),
        write_deadline: o.write_deadline.as_nanos() as u64,
        start: rfc3339(s.started),
        now: rfc3339(now),
        uptime: uptime(now.duration_since(s.started).unwrap_or_default()),
        mem: super::format::rss_bytes(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gomaxprocs: s.workers.len(),
        cpu: cx.cpu.percent(s.started),
        connections: s.client_count(),
        total_connections: s
            .total_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        routes: s.cluster.as_ref().map_or(0, |c| c.peers().len() as u64),
        remotes: s.cluster.as_ref().map_or(0, |c| c.peers().len() as u64),
        leafnodes: 0,
        in_msgs,
        out_msgs,
        in_bytes,
        out_bytes,
        slow_consumers: s.slow_consumers.load(std::sync::atomic::Ordering::Relaxed),
        subscriptions: s
            .accounts
            .all()
            .iter()
            .map(|a| a.subscription_count())
            .sum(),
        http_req_stats: cx.req_stats,
        config_load_time: rfc3339(*s.config_load_time.lock().unwrap_or_else(|e| e.into_inner())),
    };
    json(&v)
}

// ---- /connz ----

#[derive(Serialize)]
struct SubDetail {
    #[serde(skip_serializing_if = "String::is_empty")]
    account: String,
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    qgroup: Option<String>,
    sid: String,
    msgs: u64,
    #[serde(skip_serializing_if = "is_zero")]
    max: u64,
    cid: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SubDetail {
    fn of(s: &SubSnapshot, with_account: bool) -> SubDetail {
        SubDetail {
            account: if with_account {
                s.account.clone()
            } else {
                String::new()
            },
            subject: s.subject.clone(),
            qgroup: s.queue.clone(),
            sid: s.sid.clone(),
            msgs: s.msgs,
            max: s.max,
            cid: s.cid,
        }
    }
}

#[derive(Serialize)]
struct ConnInfo {
    cid: u64,
    kind: &'static str,
    #[serde(rename = "type")]
    kind_type: &'static str,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "String::is_empty")]
    rtt: String,
    uptime: String,
    idle: String,
    pending_bytes: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tls_cipher_suite: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tls_peer_certs: Vec<PeerCert>,
    #[serde(skip_serializing_if = "String::is_empty")]
    authorized_user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    issuer_key: String,
}

#[derive(Serialize)]
struct Connz<'a> {
    server_id: &'a str,
    now: String,
    num_connections: usize,
    total: usize,
    offset: usize,
    limit: usize,
    connections: Vec<ConnInfo>,
}

/// One connection, open or closed, while `/connz` sorts and pages.
struct Row {
    c: ConnSnapshot,
    closed: Option<Arc<Closed>>,
}

impl Row {
    fn stop(&self) -> Option<SystemTime> {
        self.closed.as_ref().map(|c| c.stop)
    }

    /// How long it has been (or was) up, and idle.
    fn uptime(&self, now: SystemTime) -> Duration {
        self.stop()
            .unwrap_or(now)
            .duration_since(self.c.start)
            .unwrap_or_default()
    }

    fn active_span(&self) -> Duration {
        from_unix_nanos(self.c.last_activity)
            .duration_since(self.c.start)
            .unwrap_or_default()
    }

    fn idle(&self, now: SystemTime) -> Duration {
        self.stop()
            .unwrap_or(now)
            .duration_since(from_unix_nanos(self.c.last_activity))
            .unwrap_or_default()
    }
}

const SORTS: &[&str] = &[
    "cid",
    "start",
    "subs",
    "pending",
    "msgs_to",
    "msgs_from",
    "bytes_to",
    "bytes_from",
    "last",
    "idle",
    "uptime",
    "stop",
    "reason",
];

fn sort_rows(rows: &mut [Row], by: &str, now: SystemTime) {
    use std::cmp::Reverse;
    match by {
        "start" => rows.sort_by_key(|r| (r.c.start, r.c.cid)),
        "subs" => rows.sort_by_key(|r| (Reverse(r.c.subs), r.c.cid)),
        "pending" => rows.sort_by_key(|r| (Reverse(r.c.pending), r.c.cid)),
        "msgs_to" => rows.sort_by_key(|r| (Reverse(r.c.out_msgs), r.c.cid)),
        "msgs_from" => rows.sort_by_key(|r| (Reverse(r.c.in_msgs), r.c.cid)),
        "bytes_to" => rows.sort_by_key(|r| (Reverse(r.c.out_bytes), r.c.cid)),
        "bytes_from" => rows.sort_by_key(|r| (Reverse(r.c.in_bytes), r.c.cid)),
        "last" => rows.sort_by_key(|r| (Reverse(r.c.last_activity), r.c.cid)),
        "idle" => rows.sort_by_key(|r| (Reverse(r.active_span()), r.c.cid)),
        // As nats-server 2.9 orders them: the youngest first, and "idle" by how long the
        // connection was active (last activity minus start), the longest first.
        "uptime" => rows.sort_by_key(|r| (r.uptime(now), r.c.cid)),
        "stop" => rows.sort_by_key(|r| (Reverse(r.stop()), r.c.cid)),
        "reason" => rows.sort_by(|a, b| {
            let ra = a.closed.as_ref().map(|c| c.reason);
            let rb = b.closed.as_ref().map(|c| c.reason);
            (ra, a.c.cid).cmp(&(rb, b.c.cid))
        }),
        _ => rows.sort_by_key(|r| r.c.cid),
    }
}

pub fn connz(cx: &mut Context<'_>, q: &[u8]) -> Reply {
    match connz_inner(cx, q) {
        Ok(r) => r,
        Err(e) => Reply::Error(400, e),
    }
}

fn connz_inner(cx: &mut Context<'_>, q: &[u8]) -> Result<Reply, String> {
    let sort = param(q, "sort");
    let auth = decode_bool(q, "auth")?;
    let subs = decode_subs(q)?;
    let offset = decode_int(q, "offset")?;
    let limit = decode_int(q, "limit")?;
    let cid = decode_u64(q, "cid")?;
    let state = decode_state(q)?;
    let user = param(q, "user");
    let acc = param(q, "acc");
    if !sort.is_empty() && !SORTS.contains(&sort.as_str()) {
        return Err(format!("invalid sorting option: {sort}"));
    }
    // nats-server 2.9 filters by user and account without `auth` too (2.10 refuses that).
    let _ = auth;
    let (offset, mut limit) = page(offset, limit);
    if (sort == "stop" || sort == "reason") && state != State::Closed {
        return Err(format!("sort by {sort} only valid on closed connections"));
    }
    if cid > 0 {
        limit = 1;
    }

    let s = cx.server;
    let mut rows: Vec<Row> = Vec::new();
    // With cid, `total` still counts the connections looked through, as nats-server's does.
    let mut considered = 0;
    if state != State::Closed {
        let open = s.client_list();
        considered += open.len();
        rows.extend(
            open.iter()
                .filter(|c| cid == 0 || c.cid == cid)
                .map(|c| Row {
                    c: c.snapshot(),
                    closed: None,
                }),
        );
    }
    if state != State::Open {
        let ring = s.closed.lock().unwrap_or_else(|e| e.into_inner());
        considered += ring.len();
        // A cid found open is not looked for among the closed.
        let closed: Vec<Arc<Closed>> = if cid > 0 && !rows.is_empty() {
            Vec::new()
        } else {
            ring.iter()
                .filter(|c| cid == 0 || c.conn.cid == cid)
                .cloned()
                .collect()
        };
        drop(ring);
        rows.extend(closed.into_iter().map(|c| Row {
            c: c.conn.clone(),
            closed: Some(c),
        }));
    }
    if !acc.is_empty() {
        rows.retain(|r| r.c.meta.account == acc);
    }
    // As nats-server 2.9 counts it: `total` is taken after the account filter and before the
    // user filter.
    let total = if cid > 0 { considered } else { rows.len() };
    if !user.is_empty() {
        rows.retain(|r| r.c.meta.user == user);
    }
    let now = SystemTime::now();
    sort_rows(&mut rows, &sort, now);
    let rows = window(rows, offset, limit);

    // Subscriptions of the open connections shown, gathered from the sublists in one pass.
    let mut open_subs: HashMap<u64, Vec<SubSnapshot>> = HashMap::new();
    if subs != Subs::None {
        let cids: HashSet<u64> = rows
            .iter()
            .filter(|r| r.closed.is_none() && r.c.subs > 0)
            .map(|r| r.c.cid)
            .collect();
        if !cids.is_empty() {
            for sub in s.subscriptions(|sub| cids.contains(&sub.client.cid)) {
                open_subs.entry(sub.cid).or_default().push(sub);
            }
        }
    }

    let connections = rows
        .into_iter()
        .map(|r| {
            let sub_list: Vec<SubSnapshot> = match &r.closed {
                Some(c) => c.subs.clone(),
                None => open_subs.remove(&r.c.cid).unwrap_or_default(),
            };
            // nats-server names the account in the details it kept of a closed connection.
            let detail_account = r.closed.is_some();
            let (list, detail) = match subs {
                _ if sub_list.is_empty() => (None, None),
                Subs::None => (None, None),
                Subs::List => (
                    Some(sub_list.iter().map(|s| s.subject.clone()).collect()),
                    None,
                ),
                Subs::Detail => (
                    None,
                    Some(
                        sub_list
                            .iter()
                            .map(|s| SubDetail::of(s, detail_account))
                            .collect(),
                    ),
                ),
            };
            let up = r.uptime(now);
            let idle = r.idle(now);
            let c = r.c;
            let m = c.meta;
            ConnInfo {
                cid: c.cid,
                kind: "Client",
                kind_type: "nats",
                ip: c.addr.ip().to_string(),
                port: c.addr.port(),
                start: rfc3339(c.start),
                last_activity: rfc3339(from_unix_nanos(c.last_activity)),
                stop: r.closed.as_ref().map(|x| rfc3339(x.stop)),
                reason: r.closed.as_ref().map(|x| x.reason),
                rtt: if c.rtt > 0 { rtt(c.rtt) } else { String::new() },
                uptime: uptime(up),
                idle: uptime(idle),
                pending_bytes: c.pending,
                in_msgs: c.in_msgs,
                out_msgs: c.out_msgs,
                in_bytes: c.in_bytes,
                out_bytes: c.out_bytes,
                subscriptions: c.subs,
                name: m.name,
                lang: m.lang,
                version: m.version,
                tls_version: m.tls_version,
                tls_cipher_suite: m.tls_cipher,
                // Go shows certificates of open connections only, and only with auth.
                tls_peer_certs: if auth && r.closed.is_none() {
                    m.peer_certs
                } else {
                    Vec::new()
                },
                // For a token, nats-server shows the token itself (of open connections only);
                // rnatsd shows that one was used, not what it is.
                authorized_user: match (auth, m.token, r.closed.is_some()) {
                    (false, ..) | (true, true, true) => String::new(),
                    (true, true, false) => "[REDACTED]".into(),
                    (true, false, _) => m.user,
                },
                issuer_key: if auth && m.nkey {
                    m.account.clone()
                } else {
                    String::new()
                },
                account: if auth && m.account != GLOBAL {
                    m.account
                } else {
                    String::new()
                },
                subscriptions_list: list,
                subscriptions_list_detail: detail,
            }
        })
        .collect::<Vec<_>>();
    Ok(json(&Connz {
        server_id: &s.id,
        now: rfc3339(now),
        num_connections: connections.len(),
        total,
        offset,
        limit,
        connections,
    }))
}

// ---- /subsz ----

#[derive(Serialize)]
struct SublistStats {
    num_subscriptions: u64,
    num_cache: u64,
    num_inserts: u64,
    num_removes: u64,
    num_matches: u64,
    #[serde(serialize_with = "go_float")]
    cache_hit_rate: f64,
    max_fanout: u64,
    #[serde(serialize_with = "go_float")]
    avg_fanout: f64,
}

#[derive(Serialize)]
struct Subsz<'a> {
    server_id: &'a str,
    now: String,
    #[serde(flatten)]
    stats: SublistStats,
    total: usize,
    offset: usize,
    limit: usize,
    subscriptions_list: Vec<SubDetail>,
}

fn sublist_stats(s: &Server) -> SublistStats {
    let mut st = SublistStats {
        num_subscriptions: 0,
        num_cache: 0,
        num_inserts: 0,
        num_removes: 0,
        num_matches: 0,
        cache_hit_rate: 0.0,
        max_fanout: 0,
        avg_fanout: 0.0,
    };
    for a in s.accounts.all() {
        let x = a.sublist_stats();
        st.num_subscriptions += x.subscriptions;
        st.num_inserts += x.inserts;
        st.num_removes += x.removes;
    }
    let (mut hits, mut fanout_sum) = (0, 0);
    for w in &s.workers {
        let [h, m, entries, sum, max] = w.cache.load();
        hits += h;
        st.num_matches += h + m;
        st.num_cache += entries;
        fanout_sum += sum;
        st.max_fanout = st.max_fanout.max(max);
    }
    if st.num_matches > 0 {
        st.cache_hit_rate = hits as f64 / st.num_matches as f64;
    }
    if st.num_cache > 0 {
        st.avg_fanout = fanout_sum as f64 / st.num_cache as f64;
    }
    st
}

pub fn subsz(cx: &mut Context<'_>, q: &[u8]) -> Reply {
    let parsed = (|| -> Result<_, String> {
        let subs = decode_bool(q, "subs")?;
        let offset = decode_int(q, "offset")?;
        let limit = decode_int(q, "limit")?;
        Ok((subs, offset, limit))
    })();
    let (subs, offset, limit) = match parsed {
        Ok(p) => p,
        Err(e) => return Reply::Error(400, e),
    };
    let (offset, limit) = page(offset, limit);
    let test = param(q, "test");
    if !test.is_empty() && !subject::is_valid_literal_subject(test.as_bytes()) {
        return Reply::Error(
            400,
            format!("invalid test subject, must be valid publish subject: {test}"),
        );
    }
    let acc = param(q, "acc");
    let s = cx.server;
    let stats = sublist_stats(s);
    let mut list = Vec::new();
    if subs {
        let all = s.subscriptions(|sub| {
            (acc.is_empty() || sub.account.name == acc)
                && (test.is_empty() || subject::matches(&sub.subject, test.as_bytes()))
        });
        list = window(all, offset, limit)
            .iter()
            .map(|s| SubDetail::of(s, true))
            .collect();
    }
    if list.is_empty() {
        // nats-server prints the bare statistics when there is no list to show.
        return json(&stats);
    }
    json(&Subsz {
        server_id: &s.id,
        now: rfc3339(SystemTime::now()),
        stats,
        total: list.len(),
        offset,
        limit,
        subscriptions_list: list,
    })
}

// ---- /routez, /healthz, / ----

#[derive(Serialize)]
struct RouteInfo {
    rid: u64,
    remote_id: String,
    did_solicit: bool,
    is_configured: bool,
    ip: String,
    port: u16,
    start: String,
    last_activity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    rtt: String,
    uptime: String,
    idle: String,
    pending_size: usize,
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
    subscriptions: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriptions_list_detail: Option<Vec<SubDetail>>,
}

#[derive(Serialize)]
struct Routez<'a> {
    server_id: &'a str,
    now: String,
    num_routes: usize,
    routes: Vec<RouteInfo>,
}

pub fn routez(cx: &mut Context<'_>, q: &[u8]) -> Reply {
    let subs = match decode_subs(q) {
        Ok(s) => s,
        Err(e) => return Reply::Error(400, e),
    };
    let s = cx.server;
    let now = SystemTime::now();
    let peers = s.cluster.as_ref().map(|c| c.peers()).unwrap_or_default();
    let configured: Vec<String> = s
        .opts()
        .cluster
        .as_ref()
        .map(|c| c.routes.clone())
        .unwrap_or_default();
    let routes = peers
        .iter()
        .map(|p| {
            let c = p.shared.snapshot();
            let list = if subs == Subs::None {
                Vec::new()
            } else {
                s.subscriptions(|sub| sub.client.cid == p.cid)
            };
            let (subscriptions_list, subscriptions_list_detail) = match subs {
                _ if list.is_empty() => (None, None),
                Subs::None => (None, None),
                Subs::List => (Some(list.iter().map(|x| x.subject.clone()).collect()), None),
                Subs::Detail => (
                    None,
                    // As nats-server: the sid names the account; no account field.
                    Some(list.iter().map(|x| SubDetail::of(x, false)).collect()),
                ),
            };
            let last = from_unix_nanos(c.last_activity);
            RouteInfo {
                rid: p.cid,
                remote_id: p.id.clone(),
                did_solicit: p.solicited.is_some(),
                is_configured: p.solicited.as_ref().is_some_and(|u| configured.contains(u)),
                ip: c.addr.ip().to_string(),
                port: c.addr.port(),
                start: rfc3339(c.start),
                last_activity: rfc3339(last),
                rtt: rtt(c.rtt), // "0s" until measured, as nats-server shows it
                uptime: uptime(now.duration_since(c.start).unwrap_or_default()),
                idle: uptime(now.duration_since(last).unwrap_or_default()),
                pending_size: c.pending,
                in_msgs: c.in_msgs,
                out_msgs: c.out_msgs,
                in_bytes: c.in_bytes,
                out_bytes: c.out_bytes,
                subscriptions: c.subs,
                subscriptions_list,
                subscriptions_list_detail,
            }
        })
        .collect::<Vec<_>>();
    json(&Routez {
        server_id: &s.id,
        now: rfc3339(now),
        num_routes: routes.len(),
        routes,
    })
}

pub fn healthz() -> Reply {
    Reply::Json(br#"{"status":"ok"}"#.to_vec())
}

/// The endpoints the index page links to.
pub const LINKS: &[(&str, &str)] = &[
    ("varz", "General"),
    ("connz", "Connections"),
    ("routez", "Routes"),
    ("subsz", "Subscriptions"),
    ("healthz", "Health Probe"),
];

pub fn index(base: &str) -> Reply {
    let mut html = String::from(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<title>rnatsd monitoring</title>\n",
        "<style>body { font-family: sans-serif; margin-left: 32px } ",
        "a { display: block; padding-bottom: 6px }</style>\n</head>\n<body>\n",
        "<h1>rnatsd</h1>\n<p>v",
        env!("CARGO_PKG_VERSION"),
        " (nats-server ",
    ));
    html.push_str(COMPAT_VERSION);
    html.push_str(" compatible)</p>\n");
    for (path, title) in LINKS {
        html.push_str(&format!("<a href=.{base}/{path}>{title}</a>\n"));
    }
    html.push_str("</body>\n</html>\n");
    Reply::Html(html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::shared::Meta;

    #[test]
    fn query_errors_use_go_words() {
        assert_eq!(decode_bool(b"subs=1", "subs"), Ok(true));
        assert_eq!(decode_bool(b"auth=false", "auth"), Ok(false));
        assert_eq!(decode_bool(b"", "auth"), Ok(false));
        assert_eq!(
            decode_bool(b"subs=yes", "subs").unwrap_err(),
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(decode_subs(b"subs=detail"), Ok(Subs::Detail));
        assert_eq!(decode_subs(b"subs=true"), Ok(Subs::List));
        assert_eq!(decode_int(b"limit=-3", "limit"), Ok(-3));
        assert_eq!(
            decode_int(b"limit=x", "limit").unwrap_err(),
            "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            decode_int(b"limit=99999999999999999999", "limit").unwrap_err(),
            "Error decoding int for 'limit': strconv.Atoi: parsing \"99999999999999999999\": value out of range"
        );
        assert_eq!(
            decode_u64(b"cid=abc", "cid").unwrap_err(),
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"abc\": invalid syntax"
        );
        assert_eq!(decode_state(b"state=any"), Ok(State::Any));
        assert_eq!(decode_state(b"state=CLOSED"), Ok(State::Closed));
        assert_eq!(decode_subs(b"subs=Detail"), Ok(Subs::Detail));
        assert_eq!(
            decode_u64(b"cid=-1", "cid").unwrap_err(),
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
        assert_eq!(
            decode_state(b"state=FOO").unwrap_err(),
            "Error decoding state for FOO"
        );
        assert_eq!(
            decode_state(b"state=foo").unwrap_err(),
            "Error decoding state for foo"
        );
        assert_eq!(page(-1, 0), (0, DEFAULT_LIMIT));
        assert_eq!(page(5, 2), (5, 2));
        assert_eq!(window(vec![1, 2, 3, 4], 1, 2), vec![2, 3]);
        assert!(window(vec![1, 2], 5, 2).is_empty());
    }

    fn row(cid: u64, in_msgs: u64, subs: u32, last: u64) -> Row {
        Row {
            c: ConnSnapshot {
                cid,
                addr: "127.0.0.1:1".parse().unwrap(),
                start: SystemTime::UNIX_EPOCH + Duration::from_secs(cid),
                last_activity: last,
                rtt: 0,
                pending: 0,
                in_msgs,
                in_bytes: in_msgs * 10,
                out_msgs: 0,
                out_bytes: 0,
                subs,
                meta: Meta::default(),
            },
            closed: None,
        }
    }

    #[test]
    fn sort_orders() {
        let now = SystemTime::now();
        let cids = |rows: &[Row]| rows.iter().map(|r| r.c.cid).collect::<Vec<_>>();
        let mut rows = vec![row(2, 5, 0, 30), row(1, 1, 3, 10), row(3, 3, 1, 20)];
        sort_rows(&mut rows, "", now);
        assert_eq!(cids(&rows), [1, 2, 3]);
        sort_rows(&mut rows, "msgs_from", now);
        assert_eq!(cids(&rows), [2, 3, 1]);
        sort_rows(&mut rows, "bytes_from", now);
        assert_eq!(cids(&rows), [2, 3, 1]);
        sort_rows(&mut rows, "subs", now);
        assert_eq!(cids(&rows), [1, 3, 2]);
        sort_rows(&mut rows, "last", now);
        assert_eq!(cids(&rows), [2, 3, 1]);
        // Active span (last activity - start): 2 → 28 s, 1 → 9 s, 3 → 17 s.
        let mut rows: Vec<Row> = [(2, 30), (1, 10), (3, 20)]
            .iter()
            .map(|&(cid, last)| row(cid, 0, 0, last * 1_000_000_000))
            .collect();
        sort_rows(&mut rows, "idle", now);
        assert_eq!(cids(&rows), [2, 3, 1]);
        sort_rows(&mut rows, "start", now);
        assert_eq!(cids(&rows), [1, 2, 3]);
        sort_rows(&mut rows, "uptime", now);
        assert_eq!(cids(&rows), [3, 2, 1]);
    }

    #[test]
    fn go_floats() {
        let f = |v: f64| {
            let mut out = Vec::new();
            go_float(&v, &mut serde_json::Serializer::new(&mut out)).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(f(0.0), "0");
        assert_eq!(f(2.0), "2");
        assert_eq!(f(0.75), "0.75");
    }
}
