//! Differential protocol test: replay raw client-protocol sessions (good and bad input) against
//! rnatsd and against Debian's `nats-server` 2.9 and compare what comes back.
//!
//! Sessions live in `tests/differential/*.sessions`; the format, the synchronisation scheme and
//! the normalisation rules are described in `tests/differential/README.md`.
//!
//! Every session is first run as written; when that matches, it is re-run with its bytes
//! re-chunked several ways (all sends joined, one byte per write, seeded random splits). Each run
//! gets a fresh server on both sides, so no subscription can leak from one run into the next.
//!
//! Environment knobs (all optional):
//! - `DIFF_FILTER=substr`: only run sessions whose name contains `substr`.
//! - `DIFF_SHOW=1`: print the reference (Go) transcript of every session run as written.

mod common;

use common::{go_server_bin, ServerProcess};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest wait for one synchronisation point (a PONG or a close).
const SYNC_LIMIT: Duration = Duration::from_secs(3);
/// Pause between consecutive as-written sends on one connection (see `run_session`).
const CHUNK_PAUSE: Duration = Duration::from_millis(2);
/// Worker threads per session file.
const WORKERS: usize = 4;

// ---------------------------------------------------------------------------------------------
// Session files
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Step {
    /// Open the named connection now (otherwise it opens on first use).
    Connect(String),
    /// Write these bytes on the named connection (one write per step).
    Send(String, Vec<u8>),
    /// Send `PING\r\n` and read until its PONG, or until the server closes.
    Sync(String),
    /// Like `Sync`, but the reference server is required to have closed the connection.
    ExpectClose(String),
    /// Send nothing and read until the server closes the connection (e.g. an authentication
    /// timeout); the reference server is required to close it within the bounded wait.
    AwaitClose(String),
}

/// How the servers of a session are started: the same for both sides, on top of the harness's
/// own `-a 127.0.0.1 -p PORT`.
#[derive(Clone, Debug, Default, PartialEq)]
struct ServerSetup {
    /// A configuration file in `tests/differential/`, passed as `-c`.
    config: Option<String>,
    /// Further command-line arguments.
    args: Vec<String>,
}

impl ServerSetup {
    fn is_default(&self) -> bool {
        self.config.is_none() && self.args.is_empty()
    }

    /// The command-line arguments for the servers (the config file resolved to an absolute path
    /// at run time, so nothing machine-specific is written in the session files).
    fn server_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(c) = &self.config {
            out.push("-c".to_string());
            out.push(sessions_dir().join(c).to_string_lossy().into_owned());
        }
        out.extend(self.args.iter().cloned());
        out
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.config {
            parts.push(format!("-c {c}"));
        }
        parts.extend(self.args.iter().cloned());
        parts.join(" ")
    }
}

#[derive(Clone, Debug)]
struct Session {
    name: String,
    file: String,
    line: usize,
    steps: Vec<Step>,
    /// (connection, sid) -> label: deliveries to these subscriptions are compared as an
    /// unordered multiset per label, with the sid shown as `<label>` (queue-group members: which
    /// member gets a message is not deterministic, only that the group gets it once).
    merge: HashMap<(String, String), String>,
    /// Configuration file and flags both servers are started with.
    server: ServerSetup,
}

fn is_conn_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Decode the data part of a send line: `\r \n \t \\ \xNN` and `\{N:text}` (text repeated N
/// times; text is taken literally up to the closing brace). Everything else is literal.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        match b.get(i) {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = s.get(i + 1..i + 3).ok_or("truncated \\x escape")?;
                let v = u8::from_str_radix(hex, 16).map_err(|_| format!("bad \\x{hex}"))?;
                out.push(v);
                i += 2;
            }
            Some(b'{') => {
                let close = s[i..].find('}').ok_or("unterminated \\{N:text}")? + i;
                let body = &s[i + 1..close];
                let (n, text) = body.split_once(':').ok_or("\\{N:text} needs a colon")?;
                let n: usize = n.parse().map_err(|_| format!("bad repeat count {n:?}"))?;
                for _ in 0..n {
                    out.extend_from_slice(text.as_bytes());
                }
                i = close;
            }
            other => {
                return Err(format!(
                    "unknown escape \\{}",
                    other.map(|&c| c as char).unwrap_or(' ')
                ))
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Cross-connection order is only deterministic if no other connection has input in flight
/// while one is synchronised: its deliveries could land before or after the PONG. So before
/// `sync X` (or `expect_close X`) every other connection must have been synced since its last
/// send, and at most one connection may end with unsynced input (it is synced first at the end).
fn check_sync_discipline(s: &Session) -> Result<(), String> {
    let mut dirty: Vec<&str> = Vec::new();
    for st in &s.steps {
        match st {
            Step::Send(c, _) => {
                if !dirty.contains(&c.as_str()) {
                    dirty.push(c);
                }
            }
            Step::Sync(c) | Step::ExpectClose(c) | Step::AwaitClose(c) => {
                if let Some(other) = dirty.iter().find(|d| **d != c.as_str()) {
                    return Err(format!(
                        "{}:{}: session {}: `sync {c}` while {other} has unsynced input; add `sync {other}` first",
                        s.file, s.line, s.name
                    ));
                }
                dirty.clear();
            }
            Step::Connect(_) => {}
        }
    }
    if dirty.len() > 1 {
        return Err(format!(
            "{}:{}: session {}: several connections end with unsynced input ({}); sync all but one",
            s.file,
            s.line,
            s.name,
            dirty.join(", ")
        ));
    }
    Ok(())
}

/// A `server_config:` value: a file name relative to `tests/differential/`, without `..`.
fn parse_config_name(v: &str) -> Result<Option<String>, String> {
    let v = v.trim();
    if v.is_empty() || v == "none" {
        return Ok(None);
    }
    let p = Path::new(v);
    if v.contains(char::is_whitespace)
        || p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "server_config wants a file name relative to tests/differential/, got {v:?}"
        ));
    }
    Ok(Some(v.to_string()))
}

/// A `server_args:` value: whitespace-separated arguments (no quoting). The listen address and
/// port belong to the harness, and a configuration file to `server_config:`.
fn parse_server_args(v: &str) -> Result<Vec<String>, String> {
    let args: Vec<String> = v.split_whitespace().map(str::to_string).collect();
    for a in &args {
        let flag = a.trim_start_matches('-');
        let flag = flag.split('=').next().unwrap_or("");
        if a.starts_with('-')
            && matches!(flag, "a" | "addr" | "net" | "p" | "port" | "c" | "config")
        {
            return Err(format!(
                "server_args must not set {a}: the harness sets address and port, and a \
                 configuration file goes in `server_config:`"
            ));
        }
    }
    Ok(args)
}

fn parse_sessions(file: &str, text: &str) -> Result<Vec<Session>, String> {
    let mut sessions: Vec<Session> = Vec::new();
    // File-level server setup (header lines before the first session).
    let mut file_server = ServerSetup::default();
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let err = |m: String| format!("{file}:{lineno}: {m}");
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let header = line
            .strip_prefix("server_config:")
            .map(|v| (true, v))
            .or_else(|| line.strip_prefix("server_args:").map(|v| (false, v)));
        if let Some((is_config, value)) = header {
            let target = match sessions.last_mut() {
                None => &mut file_server,
                Some(cur) if cur.steps.is_empty() => &mut cur.server,
                Some(cur) => {
                    return Err(err(format!(
                        "server setup lines go before the first step of session {}",
                        cur.name
                    )))
                }
            };
            if is_config {
                target.config = parse_config_name(value).map_err(err)?;
            } else {
                target.args = parse_server_args(value).map_err(err)?;
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("=== ") {
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(format!("bad session name {name:?}")));
            }
            sessions.push(Session {
                name: name.to_string(),
                file: file.to_string(),
                line: lineno,
                steps: Vec::new(),
                merge: HashMap::new(),
                server: file_server.clone(),
            });
            continue;
        }
        let cur = sessions
            .last_mut()
            .ok_or_else(|| err("step before the first `=== name`".into()))?;
        // Send: `conn> data`
        if let Some(pos) = line.find("> ") {
            let conn = &line[..pos];
            if is_conn_name(conn) {
                let data = unescape(&line[pos + 2..]).map_err(err)?;
                if data.is_empty() {
                    return Err(err("empty send".into()));
                }
                cur.steps.push(Step::Send(conn.to_string(), data));
                continue;
            }
        }
        let mut words = line.split_whitespace();
        let kw = words.next().unwrap_or("");
        let args: Vec<&str> = words.collect();
        match kw {
            "connect" | "sync" | "expect_close" | "await_close" => {
                if args.len() != 1 || !is_conn_name(args[0]) {
                    return Err(err(format!("`{kw}` takes one connection name")));
                }
                let c = args[0].to_string();
                cur.steps.push(match kw {
                    "connect" => Step::Connect(c),
                    "sync" => Step::Sync(c),
                    "expect_close" => Step::ExpectClose(c),
                    _ => Step::AwaitClose(c),
                });
            }
            "merge_msgs" => {
                if args.len() < 2 || args[0].contains(':') {
                    return Err(err("usage: merge_msgs LABEL conn:sid [conn:sid...]".into()));
                }
                for a in &args[1..] {
                    let (c, sid) = a
                        .split_once(':')
                        .ok_or_else(|| err(format!("bad conn:sid {a:?}")))?;
                    let key = (c.to_string(), sid.to_string());
                    if cur.merge.insert(key, args[0].to_string()).is_some() {
                        return Err(err(format!("{a} merged twice")));
                    }
                }
            }
            _ => return Err(err(format!("unrecognised line {line:?}"))),
        }
    }
    let mut seen = HashSet::new();
    for s in &sessions {
        check_sync_discipline(s)?;
        if s.steps.is_empty() {
            return Err(format!(
                "{}:{}: session {} has no steps",
                s.file, s.line, s.name
            ));
        }
        if !seen.insert(s.name.clone()) {
            return Err(format!(
                "{}:{}: duplicate session name {}",
                s.file, s.line, s.name
            ));
        }
    }
    Ok(sessions)
}

// ---------------------------------------------------------------------------------------------
// Re-chunking variants
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Variant {
    /// One write per send line, as written in the file.
    AsWritten,
    /// Consecutive sends on the same connection joined into one write.
    Joined,
    /// Every byte its own write.
    Bytes,
    /// Joined, then cut at random points (about one cut per `one_in` bytes), fixed seed.
    Random { seed: u64, one_in: u64 },
}

const SPLIT_VARIANTS: [Variant; 5] = [
    Variant::Joined,
    Variant::Bytes,
    Variant::Random { seed: 1, one_in: 3 },
    Variant::Random {
        seed: 2,
        one_in: 11,
    },
    Variant::Random {
        seed: 3,
        one_in: 40,
    },
];

impl Variant {
    fn name(&self) -> String {
        match self {
            Variant::AsWritten => "as-written".into(),
            Variant::Joined => "joined".into(),
            Variant::Bytes => "byte-by-byte".into(),
            Variant::Random { seed, one_in } => format!("random-splits(seed={seed},1/{one_in})"),
        }
    }

    fn apply(&self, session: &Session) -> Vec<Step> {
        if *self == Variant::AsWritten {
            return session.steps.clone();
        }
        // Join consecutive sends on the same connection.
        let mut joined: Vec<Step> = Vec::new();
        for st in &session.steps {
            if let (Step::Send(c, d), Some(Step::Send(pc, pd))) = (st, joined.last_mut()) {
                if c == pc {
                    pd.extend_from_slice(d);
                    continue;
                }
            }
            joined.push(st.clone());
        }
        let (one_in, seed) = match *self {
            Variant::Joined => return joined,
            Variant::Bytes => (1, 0),
            Variant::Random { seed, one_in } => (one_in, seed),
            Variant::AsWritten => unreachable!(),
        };
        // xorshift64*, seeded from the variant seed and the session name (FNV-1a).
        let mut state = session.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        }) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if state == 0 {
            state = 1;
        }
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut out = Vec::new();
        for st in joined {
            match st {
                Step::Send(c, d) => {
                    let mut start = 0;
                    for i in 1..d.len() {
                        if one_in == 1 || next() % one_in == 0 {
                            out.push(Step::Send(c.clone(), d[start..i].to_vec()));
                            start = i;
                        }
                    }
                    out.push(Step::Send(c, d[start..].to_vec()));
                }
                other => out.push(other),
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Running a session against one server
// ---------------------------------------------------------------------------------------------

/// How many PONGs a server owes for `data` sent by a client: the number of complete lines that
/// begin with `PING` (any case), skipping the payload of each well-formed PUB/HPUB by its
/// declared size (a malformed one makes the server close, so its count no longer matters). This
/// mirrors nats-server's parser closely enough for the sessions here.
fn owed_pongs(data: &[u8]) -> usize {
    const MAX_PAYLOAD: usize = 1024 * 1024;
    let mut n = 0;
    let mut i = 0;
    while let Some(off) = data[i..].iter().position(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(&data[i..i + off]).into_owned();
        i += off + 1;
        if line.len() >= 4 && line.as_bytes()[..4].eq_ignore_ascii_case(b"PING") {
            n += 1;
            continue;
        }
        let toks: Vec<&str> = line.split_whitespace().collect();
        let size = |t: &str| t.parse::<usize>().ok().filter(|&v| v <= MAX_PAYLOAD);
        let payload = match (toks.first().map(|t| t.to_ascii_uppercase()), toks.len()) {
            (Some(op), 3 | 4) if op == "PUB" => size(toks[toks.len() - 1]),
            (Some(op), 4 | 5) if op == "HPUB" => {
                match (size(toks[toks.len() - 2]), size(toks[toks.len() - 1])) {
                    (Some(h), Some(t)) if h <= t => Some(t),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(size) = payload {
            if data.len() - i < size + 2 {
                break;
            }
            i += size + 2;
        }
    }
    n
}

/// The sids of all well-formed SUB lines in `data` (no attempt to skip payloads: an extra UNSUB
/// of an unknown sid is harmless).
fn subscribed_sids(data: &[u8]) -> BTreeSet<String> {
    let mut sids = BTreeSet::new();
    for line in String::from_utf8_lossy(data).split('\n') {
        let toks: Vec<&str> = line.split_whitespace().collect();
        if matches!(toks.len(), 3 | 4)
            && toks[0].eq_ignore_ascii_case("SUB")
            && toks[toks.len() - 1].len() < 100
        {
            sids.insert(toks[toks.len() - 1].to_string());
        }
    }
    sids
}

fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}

/// INFO normalisation: the set of JSON keys, plus the values that must not differ.
fn normalise_info(line: &[u8]) -> String {
    const STABLE: [&str; 5] = [
        "proto",
        "headers",
        "max_payload",
        "client_ip",
        "auth_required",
    ];
    let text = String::from_utf8_lossy(line);
    let body = text.trim_end_matches(['\r', '\n']);
    let json = body.get(5..).unwrap_or("").trim();
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => {
            let keys: BTreeSet<&str> = map.keys().map(|k| k.as_str()).collect();
            let stable: Vec<String> = STABLE
                .iter()
                .filter_map(|k| map.get(*k).map(|v| format!("{k}={v}")))
                .collect();
            format!(
                "INFO keys=[{}] {}",
                keys.into_iter().collect::<Vec<_>>().join(","),
                stable.join(" ")
            )
        }
        _ => format!("INFO <not a JSON object> {}", escape_bytes(line)),
    }
}

#[derive(Clone, Debug)]
struct Frame {
    text: String,
    /// For MSG/HMSG: the sid, and the frame text split around the sid.
    msg: Option<(String, String, String)>,
}

struct Conn {
    name: String,
    stream: Option<TcpStream>,
    sent: Vec<u8>,
    inbuf: Vec<u8>,
    frames: Vec<Frame>,
    pongs: usize,
    closed: bool,
    stuck: bool,
}

impl Conn {
    fn open(name: &str, port: u16) -> Conn {
        let mut c = Conn {
            name: name.to_string(),
            stream: None,
            sent: Vec::new(),
            inbuf: Vec::new(),
            frames: Vec::new(),
            pongs: 0,
            closed: false,
            stuck: false,
        };
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_nodelay(true).ok();
                c.stream = Some(s);
            }
            Err(e) => {
                c.note(format!("<connect failed: {e}>"));
                c.closed = true;
            }
        }
        c
    }

    fn note(&mut self, text: String) {
        self.frames.push(Frame { text, msg: None });
    }

    fn live(&self) -> bool {
        !self.closed && !self.stuck
    }

    fn send(&mut self, data: &[u8]) {
        if !self.live() {
            return;
        }
        self.sent.extend_from_slice(data);
        if let Some(s) = self.stream.as_mut() {
            // A failed write means the server already closed; the read side reports that.
            let _ = s.write_all(data);
        }
    }

    /// Take one complete frame off the input buffer, if there is one.
    fn parse_frame(&mut self) -> bool {
        let Some(nl) = self.inbuf.iter().position(|&b| b == b'\n') else {
            return false;
        };
        let line = &self.inbuf[..=nl];
        let text = String::from_utf8_lossy(line).into_owned();
        let toks: Vec<&str> = text.split_whitespace().collect();
        let mut len = nl + 1;
        let mut msg = None;
        let is_msg = matches!(toks.first(), Some(&"MSG") | Some(&"HMSG"));
        if is_msg && toks.len() >= 4 {
            if let Some(size) = toks.last().and_then(|t| t.parse::<usize>().ok()) {
                len = match (nl + 1).checked_add(size).and_then(|x| x.checked_add(2)) {
                    Some(l) => l,
                    None => nl + 1,
                };
                if self.inbuf.len() < len {
                    return false;
                }
                let payload = escape_bytes(&self.inbuf[nl + 1..len]);
                msg = Some((
                    toks[2].to_string(),
                    format!("{} {} ", toks[0], toks[1]),
                    format!(" {}\\r\\n{}", toks[3..].join(" "), payload),
                ));
            }
        }
        let frame_bytes: Vec<u8> = self.inbuf.drain(..len).collect();
        let pong = frame_bytes
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            == Some(b"PONG");
        let text = if frame_bytes.starts_with(b"INFO ") || frame_bytes.starts_with(b"INFO\t") {
            normalise_info(&frame_bytes)
        } else {
            escape_bytes(&frame_bytes)
        };
        if pong {
            self.pongs += 1;
        }
        self.frames.push(Frame { text, msg });
        true
    }

    /// PING and read until the server has answered every PING sent so far, or closed.
    ///
    /// When the bytes sent so far end inside a PUB payload, the PING would only be more payload:
    /// that is a session design error (reported), except before `expect_close`, where the
    /// reader then waits for the close alone.
    fn sync(&mut self, expect_close: bool, problems: &mut Vec<String>) {
        if !self.live() {
            return;
        }
        let before = owed_pongs(&self.sent);
        self.send(b"PING\r\n");
        let mut want = owed_pongs(&self.sent);
        if want == before {
            if !expect_close {
                problems.push(format!(
                    "the sync PING on {} lands inside an unfinished payload; end the session on complete input",
                    self.name
                ));
                return;
            }
            want = usize::MAX;
        }
        self.read_until(want);
    }

    /// Send nothing and read until the server closes the connection (bounded).
    fn await_close(&mut self) {
        if self.live() {
            self.read_until(usize::MAX);
        }
    }

    /// Read until `want` PONGs have arrived in all (`usize::MAX`: until the close), the server
    /// closes, or the bounded wait runs out.
    fn read_until(&mut self, want: usize) {
        let deadline = Instant::now() + SYNC_LIMIT;
        let mut tmp = [0u8; 16384];
        while self.pongs < want {
            if self.parse_frame() {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                let what = if want == usize::MAX {
                    "no close".to_string()
                } else {
                    format!("no PONG #{want} and no close")
                };
                if !self.inbuf.is_empty() {
                    let rest = std::mem::take(&mut self.inbuf);
                    self.note(format!("<incomplete frame> {}", escape_bytes(&rest)));
                }
                self.note(format!("<{what} within {}s>", SYNC_LIMIT.as_secs()));
                self.stuck = true;
                return;
            }
            let s = self.stream.as_mut().expect("live connection has a stream");
            s.set_read_timeout(Some(deadline - now)).ok();
            match s.read(&mut tmp) {
                Ok(0) => break,
                Ok(n) => self.inbuf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => break, // reset: the server closed
            }
        }
        if self.pongs >= want {
            return;
        }
        // The server closed: keep whatever complete frames arrived before the close.
        while self.parse_frame() {}
        if !self.inbuf.is_empty() {
            let rest = std::mem::take(&mut self.inbuf);
            self.note(format!("<incomplete frame> {}", escape_bytes(&rest)));
        }
        self.note("<closed>".into());
        self.closed = true;
        self.stream = None;
    }
}

#[derive(Debug, PartialEq)]
struct Transcript {
    /// Rendered lines, connection-tagged, in per-connection order.
    lines: Vec<String>,
}

struct RunResult {
    transcript: Transcript,
    /// Disagreements with the session's own annotations (only enforced on the reference).
    problems: Vec<String>,
}

/// nats-server 2.9 quirk: with `pedantic`, a PUB/HPUB to an invalid or wildcard subject gets
/// `-ERR 'Invalid Publish Subject'`, and gets it again when its payload arrives in a later read
/// than its control line (`clonePubArg` re-runs `processPub`). Where reads split depends on TCP
/// timing, so for re-chunked runs repeated copies of this error are collapsed into one.
const SPLIT_DUPLICATED_ERR: &str = "-ERR 'Invalid Publish Subject'\\r\\n";

fn run_session(port: u16, session: &Session, steps: &[Step], variant: Variant) -> RunResult {
    let mut conns: Vec<Conn> = Vec::new();
    let mut problems = Vec::new();
    let mut expected_closed: HashSet<String> = HashSet::new();
    fn idx(conns: &mut Vec<Conn>, name: &str, port: u16) -> usize {
        match conns.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                conns.push(Conn::open(name, port));
                conns.len() - 1
            }
        }
    }
    let collapse_split_dups = variant != Variant::AsWritten;
    let mut prev: Option<&Step> = None;
    for st in steps {
        match st {
            Step::Connect(c) => {
                idx(&mut conns, c, port);
            }
            Step::Send(c, d) => {
                let i = idx(&mut conns, c, port);
                if variant == Variant::AsWritten
                    && matches!(prev, Some(Step::Send(pc, _)) if pc == c)
                {
                    // Split points written in the file: give the server a moment to read the
                    // first chunk on its own (not a synchronisation; replies are awaited by PING).
                    std::thread::sleep(CHUNK_PAUSE);
                }
                conns[i].send(d);
            }
            Step::Sync(c) => {
                let i = idx(&mut conns, c, port);
                conns[i].sync(false, &mut problems);
            }
            Step::ExpectClose(c) => {
                let i = idx(&mut conns, c, port);
                conns[i].sync(true, &mut problems);
                expected_closed.insert(c.clone());
                if !conns[i].closed {
                    problems.push(format!("connection {c} still open at `expect_close {c}`"));
                }
            }
            Step::AwaitClose(c) => {
                let i = idx(&mut conns, c, port);
                conns[i].await_close();
                expected_closed.insert(c.clone());
                if !conns[i].closed {
                    problems.push(format!("connection {c} not closed at `await_close {c}`"));
                }
            }
        }
        prev = Some(st);
    }
    // Final synchronisation: first the one connection that may still have unsynced input (the
    // last one sent on), so everything it causes has been delivered; then all the others.
    let last_sender = steps.iter().rev().find_map(|st| match st {
        Step::Send(c, _) => Some(c.clone()),
        _ => None,
    });
    let mut order: Vec<usize> = (0..conns.len()).collect();
    if let Some(p) = conns
        .iter()
        .position(|c| Some(&c.name) == last_sender.as_ref())
    {
        order.retain(|&i| i != p);
        order.insert(0, p);
    }
    for i in order {
        conns[i].sync(false, &mut problems);
    }
    let mut lines = Vec::new();
    let mut merged = Vec::new();
    for c in &conns {
        if c.closed && !expected_closed.contains(&c.name) {
            problems.push(format!(
                "connection {} closed without `expect_close {}`",
                c.name, c.name
            ));
        }
        if c.stuck {
            problems.push(format!("connection {} timed out", c.name));
        }
        for (k, f) in c.frames.iter().enumerate() {
            if collapse_split_dups
                && k > 0
                && f.text == SPLIT_DUPLICATED_ERR
                && c.frames[k - 1].text == f.text
            {
                continue;
            }
            let label = f
                .msg
                .as_ref()
                .and_then(|(sid, _, _)| session.merge.get(&(c.name.clone(), sid.clone())));
            match (&f.msg, label) {
                (Some((_, head, tail)), Some(label)) => {
                    merged.push(format!("{head}<{label}>{tail}"))
                }
                _ => lines.push(format!("[{}] {}", c.name, f.text)),
            }
        }
    }
    merged.sort();
    lines.extend(merged.into_iter().map(|m| format!("[merged] {m}")));
    // Clean up before disconnecting, so no subscription outlives this run on the server: UNSUB
    // every sid the connection subscribed, and wait until that has been processed.
    let mut ignored = Vec::new();
    for c in conns.iter_mut() {
        let mut unsubs = Vec::new();
        for sid in subscribed_sids(&c.sent) {
            unsubs.extend_from_slice(format!("UNSUB {sid}\r\n").as_bytes());
        }
        if !unsubs.is_empty() {
            c.send(&unsubs);
            c.sync(false, &mut ignored);
        }
    }
    RunResult {
        transcript: Transcript { lines },
        problems,
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing and reporting
// ---------------------------------------------------------------------------------------------

fn clip(s: &str) -> String {
    const MAX: usize = 240;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} chars)", &s[..end], s.len())
}

/// Line diff (LCS): `  ` both, `- ` only in expected (Go), `+ ` only in actual (rnatsd).
fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            let _ = writeln!(out, "      {}", clip(&expected[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "    + {}", clip(&actual[j]));
            j += 1;
        } else {
            let _ = writeln!(out, "    - {}", clip(&expected[i]));
            i += 1;
        }
    }
    out
}

fn describe(session: &Session) -> String {
    if session.server.is_default() {
        format!("{} ({}:{})", session.name, session.file, session.line)
    } else {
        format!(
            "{} ({}:{}, servers: {})",
            session.name,
            session.file,
            session.line,
            session.server.describe()
        )
    }
}

/// Starts are serialised: `free_port` probes a port and frees it before the server binds it, so
/// two concurrent starts could be handed the same port.
static START_LOCK: Mutex<()> = Mutex::new(());

fn start_server(bin: Option<&Path>, setup: &ServerSetup) -> ServerProcess {
    let args = setup.server_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _guard = START_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    match bin {
        Some(b) => ServerProcess::start_bin(b, &args),
        None => ServerProcess::start(&args),
    }
}

/// Why a server does not start with `setup`: its output with the same arguments plus `-t`
/// (check the configuration and exit), bounded.
fn why_no_start(bin: &Path, setup: &ServerSetup) -> String {
    let mut args = vec!["-a".to_string(), "127.0.0.1".to_string()];
    args.push("-p".into());
    args.push(common::free_port().to_string());
    args.extend(setup.server_args());
    args.push("-t".into());
    let child = std::process::Command::new(bin)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("cannot run {}: {e}", bin.display()),
    };
    let deadline = Instant::now() + SYNC_LIMIT;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill(); // by handle: only this child
    match child.wait_with_output() {
        Ok(out) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let text = text.trim();
            if text.is_empty() {
                "no output with -t".to_string()
            } else {
                text.replace('\n', "\n      ")
            }
        }
        Err(e) => format!("no output: {e}"),
    }
}

/// Start a server for `setup`; when it does not come up (e.g. it rejects the configuration),
/// say why instead of panicking.
fn try_start_server(bin: Option<&Path>, setup: &ServerSetup) -> Result<ServerProcess, String> {
    // (The panic hook is left alone: it is process-wide and other tests run concurrently, so
    // the harness's "did not become ready" message is printed as well.)
    std::panic::catch_unwind(|| start_server(bin, setup)).map_err(|_| {
        let path = bin
            .map(Path::to_path_buf)
            .unwrap_or_else(common::rnatsd_bin);
        why_no_start(&path, setup)
    })
}

fn exited(srv: &mut ServerProcess) -> bool {
    !matches!(srv.child.try_wait(), Ok(None))
}

/// Variants run one after another on the same pair of servers (each run cleans up its
/// subscriptions before it disconnects). A connection the server closed may leave its
/// subscriptions behind for a moment, which a later run could see through queue-group or
/// no-responders behaviour; sessions with both get fresh servers for every run.
fn needs_fresh_servers(session: &Session) -> bool {
    let closes = session
        .steps
        .iter()
        .any(|st| matches!(st, Step::ExpectClose(_) | Step::AwaitClose(_)));
    let sensitive = !session.merge.is_empty()
        || session.steps.iter().any(|st| match st {
            Step::Send(_, d) => {
                let t = String::from_utf8_lossy(d).to_ascii_lowercase();
                t.contains("no_responders")
                    || t.lines()
                        .any(|l| l.starts_with("sub") && l.split_whitespace().count() >= 4)
            }
            _ => false,
        });
    closes && sensitive
}

/// Run one session in every variant; returns the failures (empty when all match). A session
/// that differs as written is not re-chunked: that would only repeat the difference. `Err` is
/// rnatsd failing to start with the session's server setup (the reason).
fn check_session(go: &Path, session: &Session) -> Result<Vec<String>, String> {
    let fresh = needs_fresh_servers(session);
    let show = std::env::var_os("DIFF_SHOW").is_some();
    let mut servers: Option<(ServerProcess, ServerProcess)> = None;
    let mut failures = Vec::new();
    let variants = std::iter::once(Variant::AsWritten).chain(SPLIT_VARIANTS);
    for variant in variants {
        let steps = variant.apply(session);
        let mut attempt = 0;
        let (reference, actual, rnatsd_died) = loop {
            attempt += 1;
            if servers.is_none() || fresh {
                drop(servers.take()); // stop the old pair first
                let reference = try_start_server(Some(go), &session.server).unwrap_or_else(|e| {
                    panic!(
                        "{}: the reference nats-server does not start: {e}",
                        describe(session)
                    )
                });
                servers = Some((reference, try_start_server(None, &session.server)?));
            }
            let (g, r) = servers.as_mut().unwrap();
            let reference = run_session(g.port, session, &steps, variant);
            let actual = run_session(r.port, session, &steps, variant);
            if exited(g) && attempt < 3 {
                // The reference never runs away on its own: its port was taken by another
                // process after the readiness probe. Start over on fresh ports.
                servers = None;
                continue;
            }
            let died = exited(r).then(|| r.log_text());
            break (reference, actual, died);
        };
        if let Some(log) = &rnatsd_died {
            servers = None;
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            failures.push(format!(
                "{} [{}]: rnatsd exited during the session; last log lines:\n      {}\n",
                describe(session),
                variant.name(),
                tail.join("\n      ")
            ));
        }
        if variant == Variant::AsWritten && show {
            let mut s = format!("--- {} [Go transcript]\n", describe(session));
            for l in &reference.transcript.lines {
                let _ = writeln!(s, "    {}", clip(l));
            }
            eprint!("{s}");
        }
        let failure = if !reference.problems.is_empty() {
            Some(format!(
                "{} [{}]: reference nats-server broke the session's annotations: {}\n{}",
                describe(session),
                variant.name(),
                reference.problems.join("; "),
                reference
                    .transcript
                    .lines
                    .iter()
                    .map(|l| format!("      {}\n", clip(l)))
                    .collect::<String>()
            ))
        } else if reference.transcript != actual.transcript {
            Some(format!(
                "{} [{}]: rnatsd differs from nats-server (- expected/Go, + actual/rnatsd):\n{}",
                describe(session),
                variant.name(),
                diff(&reference.transcript.lines, &actual.transcript.lines)
            ))
        } else {
            None
        };
        if let Some(f) = failure {
            failures.push(f);
            if variant == Variant::AsWritten {
                break;
            }
        }
    }
    Ok(failures)
}

/// Run `jobs` on a small pool of threads; results come back in job order.
fn pool<J: Sync, R: Send>(jobs: &[J], f: impl Fn(&J) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(jobs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= jobs.len() {
                    break;
                }
                let r = f(&jobs[i]);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("job ran"))
        .collect()
}

fn sessions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("differential")
}

fn load(file: &str) -> Vec<Session> {
    let path = sessions_dir().join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let sessions = parse_sessions(file, &text).unwrap_or_else(|e| panic!("{e}"));
    for s in &sessions {
        if let Some(c) = &s.server.config {
            let p = sessions_dir().join(c);
            assert!(
                p.is_file(),
                "{}:{}: session {}: server_config {c} is not a file in tests/differential/",
                s.file,
                s.line,
                s.name
            );
        }
    }
    sessions
}

fn go_reference() -> PathBuf {
    go_server_bin().unwrap_or_else(|| {
        panic!(
            "Debian's nats-server (/usr/sbin/nats-server) is required as the reference for the \
             differential test but is not installed. `make test` installs it \
             (apt-get install nats-server)."
        )
    })
}

fn run_file(file: &str) {
    let go = go_reference();
    let filter = std::env::var("DIFF_FILTER").unwrap_or_default();
    let sessions: Vec<Session> = load(file)
        .into_iter()
        .filter(|s| s.name.contains(&filter))
        .collect();
    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    // rnatsd not starting with a setup is reported once per setup, not once per session.
    let mut no_start: Vec<(String, String, Vec<String>)> = Vec::new();
    for (s, r) in sessions
        .iter()
        .zip(pool(&sessions, |s| check_session(&go, s)))
    {
        match r {
            Ok(f) => failures.extend(f),
            Err(why) => {
                let setup = s.server.describe();
                match no_start
                    .iter_mut()
                    .find(|(st, w, _)| *st == setup && *w == why)
                {
                    Some((_, _, names)) => names.push(s.name.clone()),
                    None => no_start.push((setup, why, vec![s.name.clone()])),
                }
            }
        }
    }
    for (setup, why, names) in no_start {
        failures.push(format!(
            "rnatsd does not start with `{setup}`, so {} session(s) did not run ({}):\n      {why}\n",
            names.len(),
            names.join(", ")
        ));
    }
    eprintln!(
        "differential {file}: {} sessions x {} variants in {:.1}s, {} failure(s)",
        sessions.len(),
        1 + SPLIT_VARIANTS.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    if !failures.is_empty() {
        panic!(
            "{} differential failure(s) in {file}:\n\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

macro_rules! session_files {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_file($file);
            }
        )*

        /// Every `.sessions` file in the folder must be wired to a test above.
        #[test]
        fn every_session_file_is_run() {
            let known: Vec<&str> = vec![$($file),*];
            let mut missing = Vec::new();
            for entry in std::fs::read_dir(sessions_dir()).expect("read tests/differential") {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                if name.ends_with(".sessions") && !known.contains(&name.as_str()) {
                    missing.push(name);
                }
            }
            assert!(missing.is_empty(), "session files not wired into differential.rs: {missing:?}");
            let mut names = HashSet::new();
            let mut total = 0;
            for f in &known {
                for s in load(f) {
                    total += 1;
                    assert!(names.insert(s.name.clone()), "session name {} used twice", s.name);
                }
            }
            assert!(total >= 80, "expected at least 80 sessions, found {total}");
            // Every configuration file in the folder is used by some session.
            let used: HashSet<String> = known
                .iter()
                .flat_map(|f| load(f))
                .filter_map(|s| s.server.config)
                .collect();
            for entry in std::fs::read_dir(sessions_dir()).expect("read tests/differential") {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                assert!(
                    !name.ends_with(".conf") || used.contains(&name),
                    "configuration {name} is not used by any session (server_config:)"
                );
            }
        }
    };
}

session_files! {
    ping_pong => "ping.sessions",
    connect_options => "connect.sessions",
    publish_subscribe => "pubsub.sessions",
    headers => "headers.sessions",
    malformed_input => "errors.sessions",
    multiple_clients => "multi.sessions",
    authorization => "auth.sessions",
    authorization_flags => "auth_flags.sessions",
    authorization_timeout => "auth_timeout.sessions",
    accounts => "accounts.sessions",
}

// ---------------------------------------------------------------------------------------------
// Checks of the harness itself (no server needed)
// ---------------------------------------------------------------------------------------------

#[test]
fn harness_format_and_helpers() {
    assert_eq!(unescape(r"PING\r\n").unwrap(), b"PING\r\n");
    assert_eq!(unescape(r"a\tb\\c\x00\xff").unwrap(), b"a\tb\\c\x00\xff");
    assert_eq!(unescape(r"x\{3:ab}y").unwrap(), b"xabababy");
    assert!(unescape(r"\q").is_err());
    let s = parse_sessions(
        "t",
        "# c\n=== one\na> PUB foo 2\\r\\nhi\\r\\n\nsync a\nb> PING\\r\\n\nexpect_close b\nmerge_msgs q a:1 b:2\n",
    )
    .unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].steps.len(), 4);
    assert_eq!(
        s[0].merge
            .get(&("b".to_string(), "2".to_string()))
            .map(|s| s.as_str()),
        Some("q")
    );
    assert!(parse_sessions("t", "=== a\n=== a\n").is_err());
    // Server setup: file-level header lines, overridden per session before its first step.
    let h = parse_sessions(
        "t",
        "server_config: x.conf\nserver_args: --user u --pass p\n=== one\nconnect a\n=== two\nserver_args: --auth t\nawait_close a\n=== three\nserver_config: none\nserver_args:\nconnect a\n",
    )
    .unwrap();
    assert_eq!(h[0].server.config.as_deref(), Some("x.conf"));
    assert_eq!(h[0].server.args, ["--user", "u", "--pass", "p"]);
    assert_eq!(h[1].server.config.as_deref(), Some("x.conf"));
    assert_eq!(h[1].server.args, ["--auth", "t"]);
    assert_eq!(h[1].steps, [Step::AwaitClose("a".into())]);
    assert!(h[2].server.is_default());
    assert!(parse_sessions("t", "=== a\nconnect a\nserver_args: --auth t\n").is_err());
    assert!(parse_sessions("t", "server_config: ../x.conf\n=== a\nconnect a\n").is_err());
    assert!(parse_sessions("t", "server_config: /x.conf\n=== a\nconnect a\n").is_err());
    assert!(parse_sessions("t", "server_args: -p 4222\n=== a\nconnect a\n").is_err());
    assert!(parse_sessions("t", "server_args: --config=x\n=== a\nconnect a\n").is_err());
    assert_eq!(
        owed_pongs(b"PING\r\nping x\nPUB a 6\r\nPING\r\n\r\nPONG\r\n"),
        2
    );
    assert_eq!(owed_pongs(b"HPUB a 2 6\r\nPING\r\n\r\nPiNG\r\n"), 1);
    assert_eq!(owed_pongs(b"PING"), 0);
    assert_eq!(owed_pongs(b"HPUB a 2\r\nPING\r\n"), 1);
    assert_eq!(owed_pongs(b"PUB a b c 2\r\nPING\r\n"), 1);
    assert_eq!(owed_pongs(b"PUB a 1048577\r\nPING\r\n"), 1);
    assert_eq!(owed_pongs(b"pub a 4\r\nPING\r\nPING\r\n"), 1);
    // Variants keep the bytes per connection and the order of the other steps.
    let sess = &s[0];
    for v in [Variant::AsWritten, Variant::Joined, Variant::Bytes]
        .into_iter()
        .chain(SPLIT_VARIANTS)
    {
        let steps = v.apply(sess);
        let bytes = |c: &str| -> Vec<u8> {
            steps
                .iter()
                .filter_map(|st| match st {
                    Step::Send(x, d) if x == c => Some(d.clone()),
                    _ => None,
                })
                .flatten()
                .collect()
        };
        assert_eq!(bytes("a"), b"PUB foo 2\r\nhi\r\n", "{}", v.name());
        assert_eq!(bytes("b"), b"PING\r\n", "{}", v.name());
        assert!(steps
            .iter()
            .all(|st| !matches!(st, Step::Send(_, d) if d.is_empty())));
    }
    assert_eq!(Variant::Bytes.apply(sess).len(), 15 + 6 + 2);
    let d = diff(&["a".into(), "b".into()], &["a".into(), "c".into()]);
    assert!(d.contains("- b") && d.contains("+ c"), "{d}");
}
