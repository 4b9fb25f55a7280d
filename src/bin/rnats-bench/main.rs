//! `rnats-bench`: a small NATS load generator in the manner of `nats bench`, for comparing
//! servers.
//!
//! Publishers stream PUBs in large batched writes (`--msgs` in all, shared between them);
//! subscribers count MSGs with a byte scan over large reads; every subscriber gets every
//! message, or with `--queue` the subscribers join the queue group `rnats-bench` and get each
//! message once in all. The clock runs from the moment every client is ready until every
//! subscriber has its messages (or, with none, until the server has answered every
//! publisher's final PING). msgs/s counts published + delivered.
//!
//! With `--request` the publishers are requesters: each subscribes to its inbox
//! `_INBOX.<token>.*`, then sends its requests one at a time (`PUB SUBJECT _INBOX.<token>.<n>`),
//! timing each round trip into a log-linear histogram (`hist`): p50, p90, p99, p99.9, min, max
//! and mean are printed. With `--reply` the subscribers answer every message that has a reply
//! subject with its own payload. Both together make a request/reply run on one server; either
//! alone works against the other side run elsewhere. A request unanswered for 5 s fails the
//! run.
//!
//! With `--roofline` there is no server: the publishers write the same bytes to an in-process
//! sink that only reads (`roofline`), giving the ceiling a server's publish-only run can be
//! compared with.
//!
//! With `--http URL` (repeatable, or comma-separated), `--http-clients N` threads flood those
//! monitoring endpoints with keep-alive HTTP/1.1 GETs for exactly the measured run, one request
//! in flight per thread (`--http-rate N` caps the total at N requests/s), and the flood's
//! requests, requests/s, errors and the clients' own CPU time are reported too (`flood`).
//!
//! With `--sub-server URL` the subscribers connect to another server of a cluster; each waits
//! until a probe published on the publishers' server reaches it (its interest has crossed the
//! route) before the clock starts.
//!
//! Output: a human-readable line (and latency and flood lines where measured); `--json` adds
//! one JSON line last; `--csv FILE` appends one line per run. Once a second a progress line
//! goes to stderr when it is a terminal (not with `--no-progress`).
//!
//! Usage: rnats-bench SUBJECT [--pub N] [--sub N] [--msgs N] [--size N] [-s URL] [--csv FILE]
//!        [--request] [--reply] [--queue] [--no-progress] [--json] [--roofline]
//!        [--sub-server URL] [--http URL]... [--http-clients N] [--http-rate N]

mod flood;
mod hist;
mod publisher;
mod report;
mod roofline;
mod subscriber;
mod wire;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flood::{FloodStats, HttpTarget, MAX_HTTP_CLIENTS};
use hist::Histogram;
use report::{append_csv, json_line, print_human, Report};
use wire::{aborted, is_aborted, Conn};

const USAGE: &str = "\
Usage: rnats-bench SUBJECT [--pub N] [--sub N] [--msgs N] [--size N] [-s URL] [--csv FILE]
                   [--request] [--reply] [--queue] [--no-progress] [--json] [--roofline]
                   [--sub-server URL] [--http URL]... [--http-clients N] [--http-rate N]

A NATS load generator. Publishers send --msgs messages of --size bytes on SUBJECT in all;
every subscriber receives all of them (with --queue the group shares them). The clock runs
from the moment every client is ready until every message has arrived (publish only: until
the server has answered each publisher's final PING); msgs/s counts published + delivered.";

const USAGE_TAIL: &str = "\
Request/reply: --request makes the publishers requesters (one request in flight each, every
round trip timed: min, p50, p90, p99, p99.9, max, mean); --reply makes the subscribers
answer each message with its payload. Together: --pub 1 --sub 1 --request --reply; either
alone works with the other side run elsewhere. A request unanswered for 5 s fails the run.

Roofline: --roofline --pub N --size N runs no server at all: the publishers write the same
bytes as a publish-only run to an in-process sink on 127.0.0.1 that reads and discards them;
divide a server's publish-only bytes/s by the roofline's.

Output: a human-readable line (plus latency and flood lines where measured). --json adds one
JSON line last: {\"pubs\",\"subs\",\"queue\",\"request\",\"msgs\",\"size\",\"secs\",\"published\",
\"delivered\",\"msgs_per_sec\",\"published_per_sec\",\"delivered_per_sec\",\"bytes_per_sec\",
\"mb_per_sec\",\"latency_ns\": null or {\"count\",\"min\",\"p50\",\"p90\",\"p99\",\"p999\",\"max\",
\"mean\"}} (request mode: published = requests, delivered = replies). --csv FILE appends
pubs,subs,msgs,size,secs,msgs_per_sec,mb_per_sec[,http_clients,http_requests,http_req_per_s,
http_errors,http_body_bytes,http_client_cpu_s][,p50_ns,p90_ns,p99_ns,p999_ns], after a
'#' header line when FILE is new or empty.

Exit status: 0, or 1 when the arguments are wrong or a client failed (the error is printed).
";

pub struct Config {
    pub subject: String,
    pub pubs: usize,
    pub subs: usize,
    pub msgs: u64,
    pub size: usize,
    /// Where publishers (and, without `sub_addr`, subscribers) connect.
    pub addr: String,
    /// Where subscribers connect, when not where the publishers do.
    pub sub_addr: Option<String>,
    /// With `sub_addr`: the subject of the probes that show a subscription crossed the route.
    pub probe: Option<String>,
    pub csv: Option<String>,
    pub request: bool,
    pub reply: bool,
    pub queue: bool,
    pub json: bool,
    pub roofline: bool,
    /// Print progress lines to stderr.
    pub progress: bool,
    /// Monitoring endpoints to flood during the run (empty: no flood).
    pub http: Vec<HttpTarget>,
    pub http_clients: usize,
    /// Cap on the flood's total requests per second (None: as fast as answers come).
    pub http_rate: Option<f64>,
}

/// What the command line asked for instead of a run.
enum Stop {
    Help(String),
    Bad(String),
}

fn parse_args(args: &[String]) -> Result<Config, Stop> {
    let mut o = getopts::Options::new();
    o.long_only(true);
    o.optopt(
        "",
        "pub",
        "publishers (requesters with --request; default 1)",
        "N",
    );
    o.optopt(
        "",
        "sub",
        "subscribers (responders with --reply; default 0)",
        "N",
    );
    o.optopt(
        "",
        "msgs",
        "messages (requests) to publish in all, shared by the publishers (default 100000)",
        "N",
    );
    o.optopt("", "size", "payload size in bytes (default 128)", "N");
    o.optopt(
        "s",
        "server",
        "server URL (default nats://127.0.0.1:4222)",
        "URL",
    );
    o.optopt(
        "",
        "csv",
        "append a CSV line of results to FILE (a '#' header first if FILE is new or empty)",
        "FILE",
    );
    o.optflag(
        "",
        "request",
        "publishers send requests one at a time and time each round trip",
    );
    o.optflag(
        "",
        "reply",
        "subscribers answer every message that has a reply subject with its payload",
    );
    o.optflag(
        "",
        "queue",
        "subscribers join the queue group rnats-bench: each message is delivered once in all",
    );
    o.optflag(
        "",
        "no-progress",
        "no progress lines (they go to stderr once a second, only when it is a terminal)",
    );
    o.optflag("", "json", "print one line of JSON with the results last");
    o.optflag(
        "",
        "roofline",
        "no server: publishers write the same bytes to an in-process sink that only reads",
    );
    o.optopt(
        "",
        "sub-server",
        "subscribers connect here (another server of the cluster; default: -s)",
        "URL",
    );
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
    o.optflag("h", "help", "show this help");
    let usage = || format!("{}\n{}", o.usage(USAGE), USAGE_TAIL);
    let m = o
        .parse(args)
        .map_err(|e| Stop::Bad(format!("{e}\n\n{}", usage())))?;
    if m.opt_present("h") {
        return Err(Stop::Help(usage()));
    }
    if m.free.len() != 1 {
        return Err(Stop::Bad(usage()));
    }
    let num = |k: &str, d: u64| -> Result<u64, Stop> {
        m.opt_str(k)
            .map(|v| {
                v.replace('_', "")
                    .parse::<u64>()
                    .map_err(|_| Stop::Bad(format!("bad --{k}: {v}")))
            })
            .unwrap_or(Ok(d))
    };
    let bad = |s: &str| Err(Stop::Bad(s.to_string()));
    let url = m
        .opt_str("s")
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let addr = url.trim_start_matches("nats://").to_string();
    let mut http = Vec::new();
    for v in m.opt_strs("http") {
        for u in v.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            http.push(flood::parse_http_url(u).map_err(Stop::Bad)?);
        }
    }
    let http_clients = num("http-clients", 4)? as usize;
    if !(1..=MAX_HTTP_CLIENTS).contains(&http_clients) {
        return Err(Stop::Bad(format!(
            "bad --http-clients: {http_clients} (1 to {MAX_HTTP_CLIENTS})"
        )));
    }
    let http_rate = match m.opt_str("http-rate") {
        None => None,
        Some(v) => match v.replace('_', "").parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Some(r),
            _ => return Err(Stop::Bad(format!("bad --http-rate: {v}"))),
        },
    };
    if (m.opt_present("http-clients") || http_rate.is_some()) && http.is_empty() {
        return bad("--http-clients and --http-rate need --http URL");
    }
    let sub_addr = m
        .opt_str("sub-server")
        .map(|u| u.trim_start_matches("nats://").to_string());
    let probe = sub_addr
        .as_ref()
        .map(|_| format!("_rnats_bench_probe.{}", std::process::id()));
    let cfg = Config {
        subject: m.free[0].clone(),
        pubs: num("pub", 1)? as usize,
        subs: num("sub", 0)? as usize,
        msgs: num("msgs", 100_000)?,
        size: num("size", 128)? as usize,
        addr,
        sub_addr,
        probe,
        csv: m.opt_str("csv"),
        request: m.opt_present("request"),
        reply: m.opt_present("reply"),
        queue: m.opt_present("queue"),
        json: m.opt_present("json"),
        roofline: m.opt_present("roofline"),
        // SAFETY: isatty only inspects a file descriptor number.
        progress: !m.opt_present("no-progress") && unsafe { libc::isatty(2) } == 1,
        http,
        http_clients,
        http_rate,
    };
    if cfg.subject.is_empty() || cfg.subject.contains([' ', '\t', '\r', '\n']) {
        return bad("SUBJECT must be one word");
    }
    if cfg.roofline {
        if cfg.subs > 0 || cfg.request || cfg.reply || cfg.queue {
            return bad(
                "--roofline measures publishers alone: no --sub, --request, --reply, --queue",
            );
        }
        if !cfg.http.is_empty() || cfg.sub_addr.is_some() {
            return bad("--roofline runs no server: no --http, --sub-server");
        }
        if cfg.pubs == 0 {
            return bad("--roofline needs --pub N (N >= 1)");
        }
    }
    if cfg.pubs == 0 && cfg.subs == 0 {
        return bad("nothing to run: --pub 0 and --sub 0");
    }
    if cfg.request && cfg.pubs == 0 {
        return bad("--request needs --pub N (N >= 1): the publishers are the requesters");
    }
    if (cfg.reply || cfg.queue) && cfg.subs == 0 {
        return bad("--reply and --queue need --sub N (N >= 1)");
    }
    Ok(cfg)
}

/// What the clients of one run share.
pub struct Shared {
    /// Every client and the main thread meet here before the clock starts.
    pub ready: Arc<Barrier>,
    /// Set by a client that failed: the others stop within a poll interval.
    pub abort: AtomicBool,
    /// Messages (requests) written so far, for progress lines.
    pub published: AtomicU64,
    /// Messages delivered (replies received; roofline: bytes the sink read) so far.
    pub received: AtomicU64,
    /// With `--queue`: messages the whole group has received, to know when it is done.
    pub group: AtomicU64,
    /// Publishers still running (subscribers give up waiting sooner once none is).
    pub pubs_running: AtomicUsize,
}

impl Shared {
    fn new(parties: usize, pubs: usize) -> Shared {
        Shared {
            ready: Arc::new(Barrier::new(parties)),
            abort: AtomicBool::new(false),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            group: AtomicU64::new(0),
            pubs_running: AtomicUsize::new(pubs),
        }
    }
}

/// What one client did in the measured run.
pub struct Outcome {
    /// When its part of the run ended (its last message, reply or PONG).
    pub finished: Instant,
    /// Messages published or received, requests answered, or (sink) bytes read.
    pub count: u64,
    /// Requesters: the round-trip times.
    pub hist: Option<Histogram>,
    /// Requesters: replies to earlier requests (from further responders) that were discarded.
    pub late: u64,
}

impl Outcome {
    pub fn new(finished: Instant, count: u64) -> Outcome {
        Outcome {
            finished,
            count,
            hist: None,
            late: 0,
        }
    }
}

/// One client's part: `setup` before the start barrier (connections, subscriptions), `run`
/// after it. A failure on either side aborts the other clients; every client reaches the
/// barrier either way, so nobody waits there for one that failed.
pub fn role<S>(
    shared: &Shared,
    setup: impl FnOnce() -> io::Result<S>,
    run: impl FnOnce(S) -> io::Result<Outcome>,
) -> io::Result<Outcome> {
    let prepared = setup();
    if prepared.is_err() {
        shared.abort.store(true, Ordering::Relaxed);
    }
    shared.ready.wait();
    let state = prepared?;
    if shared.abort.load(Ordering::Relaxed) {
        return Err(aborted());
    }
    let result = run(state);
    if result.is_err() {
        shared.abort.store(true, Ordering::Relaxed);
    }
    result
}

/// Client `i`'s share of `total` among `n`.
pub fn share(total: u64, n: usize, i: usize) -> u64 {
    total / n as u64 + u64::from((i as u64) < total % n as u64)
}

/// Join clients; print each failure (but not the aborts it caused). None if any failed.
pub fn join_clients(
    clients: Vec<(String, JoinHandle<io::Result<Outcome>>)>,
) -> Option<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    let mut failed = false;
    for (name, h) in clients {
        match h.join() {
            Ok(Ok(o)) => outcomes.push(o),
            Ok(Err(e)) => {
                if !is_aborted(&e) {
                    eprintln!("rnats-bench: {name}: {e}");
                }
                failed = true;
            }
            Err(_) => {
                eprintln!("rnats-bench: {name}: panicked");
                failed = true;
            }
        }
    }
    (!failed).then_some(outcomes)
}

/// Once a second, a progress line on stderr until `stop`.
fn start_progress(
    cfg: &Arc<Config>,
    shared: &Arc<Shared>,
) -> Option<(Arc<AtomicBool>, JoinHandle<()>)> {
    if !cfg.progress {
        return None;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (cfg, shared, flag) = (cfg.clone(), shared.clone(), stop.clone());
    let to_publish = if cfg.pubs > 0 { cfg.msgs } else { 0 };
    let h = std::thread::spawn(move || {
        let mut next = Instant::now() + Duration::from_secs(1);
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if Instant::now() < next {
                continue;
            }
            next += Duration::from_secs(1);
            let published = shared.published.load(Ordering::Relaxed);
            let received = shared.received.load(Ordering::Relaxed);
            if cfg.roofline {
                eprintln!(
                    "published {published}/{to_publish}, sink read {:.1} MB",
                    received as f64 / 1e6
                );
            } else {
                eprintln!("published {published}/{to_publish}, received {received}");
            }
        }
    });
    Some((stop, h))
}

fn stop_progress(p: Option<(Arc<AtomicBool>, JoinHandle<()>)>) {
    if let Some((stop, h)) = p {
        stop.store(true, Ordering::Relaxed);
        let _ = h.join();
    }
}

/// A run against a NATS server (or two, with --sub-server). Errors have been printed when this
/// returns None.
fn run_nats(cfg: &Arc<Config>) -> Option<Report> {
    let flood_clients = if cfg.http.is_empty() {
        0
    } else {
        cfg.http_clients
    };
    let shared = Arc::new(Shared::new(
        cfg.subs + cfg.pubs + flood_clients + 1,
        cfg.pubs,
    ));
    // Across a cluster, a probe publisher on the publishers' server runs until every
    // subscriber has seen a probe: their interest has reached it.
    let probing = Arc::new(AtomicBool::new(true));
    let prober = cfg.probe.clone().map(|subject| {
        let (cfg, shared, probing) = (cfg.clone(), shared.clone(), probing.clone());
        std::thread::spawn(move || -> io::Result<()> {
            let result = (|| {
                let mut c = Conn::connect(&cfg.addr, &shared.abort)?;
                let probe = format!("PUB {subject} 0\r\n\r\nPING\r\n");
                while probing.load(Ordering::Acquire) && !shared.abort.load(Ordering::Relaxed) {
                    c.write(probe.as_bytes())?;
                    c.wait_pong(Duration::from_secs(5), &shared.abort)?;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(())
            })();
            if result.is_err() {
                shared.abort.store(true, Ordering::Relaxed);
            }
            result
        })
    });
    let mut subs = Vec::new();
    for i in 0..cfg.subs {
        let (cfg, shared) = (cfg.clone(), shared.clone());
        let name = format!(
            "{} {}",
            if cfg.reply { "responder" } else { "subscriber" },
            i + 1
        );
        subs.push((
            name,
            std::thread::spawn(move || {
                role(
                    &shared,
                    || subscriber::subscriber_setup(&cfg, &shared),
                    |c| subscriber::subscriber_run(c, &cfg, &shared),
                )
            }),
        ));
    }
    let mut pubs = Vec::new();
    for i in 0..cfg.pubs {
        let count = share(cfg.msgs, cfg.pubs, i);
        let (cfg, shared) = (cfg.clone(), shared.clone());
        let name = format!(
            "{} {}",
            if cfg.request {
                "requester"
            } else {
                "publisher"
            },
            i + 1
        );
        pubs.push((
            name,
            std::thread::spawn(move || {
                let result = if cfg.request {
                    role(
                        &shared,
                        || publisher::requester_setup(&cfg, &shared, i, count),
                        |r| publisher::requester_run(r, &shared),
                    )
                } else {
                    role(
                        &shared,
                        || publisher::publisher_setup(&cfg, &shared, count),
                        |p| publisher::publisher_run(p, &shared),
                    )
                };
                shared.pubs_running.fetch_sub(1, Ordering::Release);
                result
            }),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let targets = Arc::new(cfg.http.clone());
    let mut flood = Vec::new();
    let interval = cfg
        .http_rate
        .map(|r| Duration::from_secs_f64(flood_clients as f64 / r));
    for i in 0..flood_clients {
        let (targets, ready, stop) = (targets.clone(), shared.ready.clone(), stop.clone());
        let first = i % targets.len();
        flood.push(std::thread::spawn(move || {
            flood::flood_client(targets, first, interval, ready, stop)
        }));
    }
    shared.ready.wait();
    let start = Instant::now();
    probing.store(false, Ordering::Release);
    let progress = start_progress(cfg, &shared);
    let mut failed = false;
    if let Some(p) = prober {
        match p.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if !is_aborted(&e) {
                    eprintln!("rnats-bench: probe publisher: {e}");
                }
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    let pub_outcomes = join_clients(pubs);
    let sub_outcomes = join_clients(subs);
    stop_progress(progress);
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
    let (Some(pub_outcomes), Some(sub_outcomes), false) = (pub_outcomes, sub_outcomes, failed)
    else {
        return None;
    };
    let finished = pub_outcomes
        .iter()
        .chain(&sub_outcomes)
        .map(|o| o.finished)
        .max()
        .unwrap_or(start);
    let published = pub_outcomes.iter().map(|o| o.count).sum();
    let mut hist = None;
    let mut late = 0;
    let delivered = if cfg.request {
        let mut h = Histogram::new();
        for o in &pub_outcomes {
            if let Some(oh) = &o.hist {
                h.merge(oh);
            }
            late += o.late;
        }
        let replies = h.count();
        hist = Some(h);
        replies
    } else {
        sub_outcomes.iter().map(|o| o.count).sum()
    };
    Some(Report {
        secs: finished.saturating_duration_since(start).as_secs_f64(),
        published,
        delivered,
        hist,
        late,
        flood: (flood_clients > 0).then_some((flood_clients, fl)),
        wire_bytes: None,
    })
}

fn run_roofline(cfg: &Arc<Config>) -> Option<Report> {
    let shared = Arc::new(Shared::new(cfg.pubs + 1, cfg.pubs));
    let mut progress = None;
    let r = roofline::run(cfg, &shared, || progress = start_progress(cfg, &shared));
    stop_progress(progress);
    let r = r?;
    Some(Report {
        secs: r.finished.saturating_duration_since(r.start).as_secs_f64(),
        published: r.published,
        delivered: 0,
        hist: None,
        late: 0,
        flood: None,
        wire_bytes: Some(r.wire_bytes),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(c) => Arc::new(c),
        Err(Stop::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(Stop::Bad(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let report = if cfg.roofline {
        run_roofline(&cfg)
    } else {
        run_nats(&cfg)
    };
    let Some(report) = report else {
        return ExitCode::FAILURE;
    };
    print_human(&cfg, &report);
    if let Some(path) = &cfg.csv {
        if let Err(e) = append_csv(path, &cfg, &report) {
            eprintln!("rnats-bench: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if cfg.json {
        println!("{}", json_line(&cfg, &report));
    }
    let _ = io::stdout().flush();
    ExitCode::SUCCESS
}

#[cfg(test)]
pub mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    pub fn cfg(s: &str) -> Config {
        match parse_args(&args(s)) {
            Ok(c) => c,
            Err(Stop::Help(_)) => panic!("help for {s}"),
            Err(Stop::Bad(e)) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn flags_long_and_long_only() {
        let c = cfg("foo -pub 2 --sub 4 -msgs 1_000 --size 16 -s nats://127.0.0.1:5 --queue -json");
        assert_eq!((c.pubs, c.subs, c.msgs, c.size), (2, 4, 1000, 16));
        assert_eq!(c.addr, "127.0.0.1:5");
        assert!(c.queue && c.json && !c.request && !c.reply && !c.roofline);
        let c = cfg("foo --pub 1 --sub 1 --request --reply --no-progress");
        assert!(c.request && c.reply && !c.progress);
        assert!(cfg("foo --roofline --pub 3").roofline);
        for bad in [
            "foo --roofline --sub 1",
            "foo --roofline --pub 1 --request",
            "foo --reply",
            "foo --queue --sub 0",
            "foo --request --pub 0 --sub 1",
            "foo --pub 0",
            "foo --msgs x",
            "foo bar",
            "",
        ] {
            assert!(matches!(parse_args(&args(bad)), Err(Stop::Bad(_))), "{bad}");
        }
        let Err(Stop::Help(text)) = parse_args(&args("-h")) else {
            panic!("no help")
        };
        for flag in [
            "--pub",
            "--sub",
            "--msgs",
            "--size",
            "--server",
            "--csv",
            "--request",
            "--reply",
            "--queue",
            "--no-progress",
            "--json",
            "--roofline",
            "--sub-server",
            "--http",
            "--http-clients",
            "--http-rate",
        ] {
            assert!(text.contains(&flag[1..]), "usage lacks {flag}");
        }
    }

    #[test]
    fn shares_add_up() {
        for (total, n) in [(10, 3), (0, 2), (7, 7), (5, 8)] {
            let parts: Vec<u64> = (0..n).map(|i| share(total, n, i)).collect();
            assert_eq!(parts.iter().sum::<u64>(), total);
            assert!(parts.iter().max().unwrap() - parts.iter().min().unwrap() <= 1);
        }
    }
}
