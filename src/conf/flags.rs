//! Command-line flags, spelled as `nats-server --help` (2.9) spells them. As with Go's flag
//! package, `-port 4222`, `--port=4222` and `-p 4222` all work, and boolean flags take `=false`.
//! Flags of features that are not built yet are recognised and refused, never ignored.

use std::path::PathBuf;

use super::{parse_duration, Options};

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Run with these options; the warnings (from the configuration file) are to be logged.
    Run(Box<Options>, Vec<String>),
    /// `-t`: the configuration file is valid (warnings, if any, make it invalid).
    TestConfig(PathBuf, Vec<String>, Box<Options>),
    /// `-sl CMD[=PID or pid file]`: signal a running server.
    Signal(String, Option<String>),
    Help,
    Version,
    HelpTls,
}

/// A command-line error: the message, and whether the usage text should follow it.
#[derive(Debug, PartialEq)]
pub struct FlagError {
    pub message: String,
    pub show_usage: bool,
}

impl FlagError {
    fn usage(message: String) -> Self {
        FlagError {
            message,
            show_usage: true,
        }
    }
    fn plain(message: String) -> Self {
        FlagError {
            message,
            show_usage: false,
        }
    }
}

pub const USAGE: &str = "\
Usage: rnatsd [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to rnatsd process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/rnatsd.pid)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).
        --workers <n>                Reactor threads (default: one per core)

Limits (rnatsd extensions; same names and defaults as the configuration keys):
        --max_connections <n>        Maximum client connections (default: 65536)
        --max_control_line <size>    Maximum protocol control line (default: 4096)
        --max_payload <size>         Maximum message payload (default: 1048576)
        --max_pending <size>         Maximum bytes pending for one client (default: 67108864)
        --ping_interval <duration>   Interval between server pings (default: 2m)
        --ping_max <n>               Unanswered pings before closing (default: 2)
        --write_deadline <duration>  Stalled write limit before a slow consumer close (default: 10s)

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -s, --syslog                     Log to syslog
    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: 128)

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help
";

/// Flags of later features: (short, long, takes a value).
const NOT_YET: &[(&str, &str, bool)] = &[
    ("", "js", false),
    ("", "jetstream", false),
    ("", "sd", true),
    ("", "store_dir", true),
    ("", "profile", true),
];

/// Boolean flags: (short, long).
const BOOLS: &[(&str, &str)] = &[
    ("t", ""),
    ("T", "logtime"),
    ("D", "debug"),
    ("V", "trace"),
    ("", "DV"),
    ("", "VV"),
    ("", "DVV"),
    ("h", "help"),
    ("v", "version"),
    ("", "help_tls"),
    ("", "tls"),
    ("", "tlsverify"),
    ("s", "syslog"),
    ("", "no_advertise"),
];

/// Flags with a value: (short, long).
const VALUES: &[(&str, &str)] = &[
    ("c", "config"),
    ("a", "addr"),
    ("", "net"),
    ("p", "port"),
    ("n", "name"),
    ("", "server_name"),
    ("P", "pid"),
    ("", "ports_file_dir"),
    ("", "client_advertise"),
    ("l", "log"),
    ("", "max_traced_msg_len"),
    ("", "workers"),
    ("", "max_connections"),
    ("", "max_control_line"),
    ("", "max_payload"),
    ("", "max_pending"),
    ("", "ping_interval"),
    ("", "ping_max"),
    ("", "write_deadline"),
    ("", "user"),
    ("", "pass"),
    ("", "auth"),
    ("", "tlscert"),
    ("", "tlskey"),
    ("", "tlscacert"),
    ("", "sl"),
    ("", "signal"),
    ("r", "remote_syslog"),
    ("", "log_size_limit"),
    ("m", "http_port"),
    ("", "ms"),
    ("", "https_port"),
    ("", "routes"),
    ("", "cluster"),
    ("", "cluster_listen"),
    ("", "cluster_name"),
    ("", "cluster_advertise"),
    ("", "connect_retries"),
];

fn spec() -> getopts::Options {
    let mut o = getopts::Options::new();
    o.long_only(true);
    for (s, l) in BOOLS {
        o.optflagopt(s, l, "", "BOOL");
    }
    for (s, l) in VALUES {
        o.optopt(s, l, "", "VALUE");
    }
    for (s, l, v) in NOT_YET {
        if *v {
            o.optopt(s, l, "", "VALUE");
        } else {
            o.optflagopt(s, l, "", "BOOL");
        }
    }
    o
}

/// The name a flag is known by in messages: its long name, else its short one.
fn name_of(short: &str, long: &str) -> String {
    if long.is_empty() {
        short.to_string()
    } else {
        long.to_string()
    }
}

fn key(short: &str, long: &str) -> String {
    if short.is_empty() {
        long.to_string()
    } else {
        short.to_string()
    }
}

/// Value of a boolean flag: absent → None; `-D` → true; `-D=false` → false.
fn bool_flag(m: &getopts::Matches, short: &str, long: &str) -> Result<Option<bool>, FlagError> {
    let k = key(short, long);
    if !m.opt_present(&k) {
        return Ok(None);
    }
    match m.opt_str(&k).as_deref() {
        None | Some("true") | Some("1") | Some("t") | Some("T") | Some("TRUE") | Some("True") => {
            Ok(Some(true))
        }
        Some("false") | Some("0") | Some("f") | Some("F") | Some("FALSE") | Some("False") => {
            Ok(Some(false))
        }
        Some(v) => Err(FlagError::usage(format!(
            "invalid boolean value {v:?} for -{}: parse error",
            if short.is_empty() { long } else { short }
        ))),
    }
}

/// `--cluster`/`--cluster_listen URL`, `--routes`, `--cluster_name`, `--no_advertise`,
/// `--cluster_advertise`, `--connect_retries`: each creates the cluster block if the file had none.
fn apply_cluster_flags(m: &getopts::Matches, o: &mut Options) -> Result<(), FlagError> {
    use super::cluster::{check_route, parse_listen_url};
    let bad = |flag: &str, v: &str| {
        FlagError::usage(format!("invalid value {v:?} for flag -{flag}: parse error"))
    };
    let any = [
        "cluster",
        "cluster_listen",
        "routes",
        "cluster_name",
        "cluster_advertise",
        "connect_retries",
    ]
    .iter()
    .any(|f| m.opt_present(f))
        || m.opt_present("no_advertise");
    if !any {
        return Ok(());
    }
    let c = o.cluster.get_or_insert_with(Default::default);
    for flag in ["cluster", "cluster_listen"] {
        if let Some(v) = m.opt_str(flag) {
            let (user, host, port) = parse_listen_url(&v).ok_or_else(|| bad(flag, &v))?;
            c.host = Some(host);
            c.port = port;
            if let Some((u, p)) = user {
                c.user = Some(u);
                c.password = Some(p);
            }
        }
    }
    if let Some(v) = m.opt_str("routes") {
        let routes: Vec<String> = v
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if routes.iter().any(|r| !check_route(r)) {
            return Err(bad("routes", &v));
        }
        c.routes = routes;
    }
    if let Some(v) = m.opt_str("cluster_name") {
        c.name = Some(v);
    }
    if let Some(v) = m.opt_str("cluster_advertise") {
        c.advertise = Some(v);
    }
    if let Some(v) = m.opt_str("connect_retries") {
        c.connect_retries = v.parse().map_err(|_| bad("connect_retries", &v))?;
    }
    if let Some(v) = bool_flag(m, "", "no_advertise")? {
        c.no_advertise = v;
    }
    Ok(())
}

fn number(v: &str, flag: &str) -> Result<usize, FlagError> {
    v.parse::<usize>()
        .map_err(|_| FlagError::usage(format!("invalid value {v:?} for flag -{flag}: parse error")))
}

/// Parse `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Command, FlagError> {
    let m = spec()
        .parse(args)
        .map_err(|e| FlagError::usage(format!("{e}")))?;
    if let Some(extra) = m.free.first() {
        return Err(FlagError::usage(format!("unrecognized command: {extra:?}")));
    }
    for (s, l, _) in NOT_YET {
        if m.opt_present(&key(s, l)) {
            return Err(FlagError::plain(format!(
                "flag -{} is not yet supported by rnatsd",
                name_of(s, l)
            )));
        }
    }
    if bool_flag(&m, "h", "help")? == Some(true) {
        return Ok(Command::Help);
    }
    if bool_flag(&m, "v", "version")? == Some(true) {
        return Ok(Command::Version);
    }
    if bool_flag(&m, "", "help_tls")? == Some(true) {
        return Ok(Command::HelpTls);
    }
    if let Some(v) = m.opt_str("sl").or_else(|| m.opt_str("signal")) {
        let (cmd, pid) = match v.split_once('=') {
            Some((c, p)) => (c.to_string(), Some(p.to_string())),
            None => (v, None),
        };
        return Ok(Command::Signal(cmd, pid));
    }

    let mut o = Options::default();
    let mut warnings = Vec::new();
    let config = m.opt_str("c").map(PathBuf::from);
    if let Some(path) = &config {
        let map = super::file::load(path).map_err(|e| FlagError::plain(e.0))?;
        let report = super::keys::apply(&map, &mut o);
        if !report.errors.is_empty() {
            return Err(FlagError::plain(report.errors.join("\n")));
        }
        warnings = report.warnings;
        o.config_file = Some(path.clone());
    }
    if bool_flag(&m, "t", "")? == Some(true) {
        return match config {
            Some(path) => Ok(Command::TestConfig(path, warnings, Box::new(o))),
            None => Err(FlagError::plain(
                "must specify [-c, --config] option to check configuration file syntax".into(),
            )),
        };
    }
    // Flags override the configuration file.
    if let Some(v) = m.opt_str("a").or_else(|| m.opt_str("net")) {
        o.host = v;
    }
    if let Some(v) = m.opt_str("p") {
        o.port = match v.as_str() {
            "-1" | "RANDOM" | "random" => None,
            "0" => Some(super::DEFAULT_PORT),
            _ => Some(v.parse::<u16>().map_err(|_| {
                FlagError::usage(format!("invalid value {v:?} for flag -p: parse error"))
            })?),
        };
    }
    if let Some(v) = m.opt_str("n").or_else(|| m.opt_str("server_name")) {
        o.server_name = v;
    }
    if let Some(v) = m.opt_str("P") {
        o.pid_file = Some(PathBuf::from(v));
    }
    if let Some(v) = m.opt_str("ports_file_dir") {
        o.ports_file_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = m.opt_str("client_advertise") {
        o.client_advertise = Some(v);
    }
    for (flag, https) in [("m", false), ("ms", true), ("https_port", true)] {
        if let Some(v) = m.opt_str(flag) {
            let port = match v.as_str() {
                "-1" => None,
                _ => Some(v.parse::<u16>().map_err(|_| {
                    FlagError::usage(format!("invalid value {v:?} for flag -{flag}: parse error"))
                })?),
            };
            let slot = if https { &mut o.https } else { &mut o.http };
            let host = slot.take().and_then(|(h, _)| h);
            *slot = Some((host, port));
        }
    }
    apply_cluster_flags(&m, &mut o)?;
    if let Some(v) = m.opt_str("l") {
        o.log_file = Some(PathBuf::from(v));
    }
    if let Some(v) = bool_flag(&m, "s", "syslog")? {
        o.syslog = v;
    }
    if let Some(v) = m.opt_str("r") {
        o.remote_syslog = Some(v);
    }
    if let Some(v) = m.opt_str("log_size_limit") {
        o.log_size_limit = number(&v, "log_size_limit")? as u64;
    }
    if let Some(v) = m.opt_str("user") {
        o.auth.user = Some(v);
    }
    if let Some(v) = m.opt_str("pass") {
        o.auth.password = Some(v);
    }
    if let Some(v) = m.opt_str("auth") {
        o.auth.token = Some(v);
    }
    let tls_on = bool_flag(&m, "", "tls")?;
    let verify = bool_flag(&m, "", "tlsverify")?;
    let (cert, key, ca) = (
        m.opt_str("tlscert"),
        m.opt_str("tlskey"),
        m.opt_str("tlscacert"),
    );
    if tls_on == Some(true)
        || verify == Some(true)
        || cert.is_some()
        || key.is_some()
        || ca.is_some()
    {
        let t = o.tls.get_or_insert_with(super::tls::TlsConfig::default);
        if let Some(c) = cert {
            t.cert_file = Some(PathBuf::from(c));
        }
        if let Some(k) = key {
            t.key_file = Some(PathBuf::from(k));
        }
        if let Some(c) = ca {
            t.ca_file = Some(PathBuf::from(c));
        }
        if let Some(v) = verify {
            t.verify = v;
        }
    }
    if tls_on == Some(false) && verify != Some(true) {
        o.tls = None;
    }
    if let Some(v) = bool_flag(&m, "T", "logtime")? {
        o.logtime = v;
    }
    if let Some(v) = bool_flag(&m, "D", "debug")? {
        o.debug = v;
    }
    if let Some(v) = bool_flag(&m, "V", "trace")? {
        o.trace = v;
    }
    for combo in ["VV", "DV", "DVV"] {
        if bool_flag(&m, "", combo)? == Some(true) {
            o.trace = true;
            o.debug |= combo.starts_with('D');
        }
    }
    if let Some(v) = m.opt_str("max_traced_msg_len") {
        o.max_traced_msg_len = number(&v, "max_traced_msg_len")?;
    }
    if let Some(v) = m.opt_str("workers") {
        o.workers = number(&v, "workers")?;
    }
    if let Some(v) = m.opt_str("max_connections") {
        o.max_connections = number(&v, "max_connections")?;
    }
    if let Some(v) = m.opt_str("max_control_line") {
        o.max_control_line = number(&v, "max_control_line")?;
    }
    if let Some(v) = m.opt_str("max_payload") {
        o.max_payload = number(&v, "max_payload")?;
    }
    if let Some(v) = m.opt_str("max_pending") {
        o.max_pending = number(&v, "max_pending")?;
    }
    if let Some(v) = m.opt_str("ping_max") {
        o.ping_max = number(&v, "ping_max")? as u32;
    }
    for (flag, slot) in [
        ("ping_interval", &mut o.ping_interval),
        ("write_deadline", &mut o.write_deadline),
    ] {
        if let Some(v) = m.opt_str(flag) {
            *slot = parse_duration(&v).ok_or_else(|| {
                FlagError::usage(format!("invalid value {v:?} for flag -{flag}: parse error"))
            })?;
        }
    }
    baseline(&mut o)?;
    Ok(Command::Run(Box::new(o), warnings))
}

/// As nats-server settles its options: a limit given as 0 means its default, and a payload
/// larger than a client may have pending is refused.
fn baseline(o: &mut Options) -> Result<(), FlagError> {
    let d = Options::default();
    for (v, dv) in [
        (&mut o.max_connections, d.max_connections),
        (&mut o.max_control_line, d.max_control_line),
        (&mut o.max_payload, d.max_payload),
        (&mut o.max_pending, d.max_pending),
    ] {
        if *v == 0 {
            *v = dv;
        }
    }
    if o.ping_max == 0 {
        o.ping_max = d.ping_max;
    }
    for (v, dv) in [
        (&mut o.ping_interval, d.ping_interval),
        (&mut o.write_deadline, d.write_deadline),
    ] {
        if v.is_zero() {
            *v = dv;
        }
    }
    if o.max_payload > o.max_pending {
        return Err(FlagError::plain(format!(
            "max_payload ({}) cannot be higher than max_pending ({})",
            o.max_payload, o.max_pending
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(args: &[&str]) -> Result<Options, FlagError> {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&v)? {
            Command::Run(o, _) => Ok(*o),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn zero_limits_mean_the_defaults() {
        let o = run(&[
            "--max_payload",
            "0",
            "--max_pending",
            "0",
            "--max_connections",
            "0",
            "--ping_interval",
            "0s",
        ])
        .unwrap();
        assert_eq!(o, Options::default());
        let e = run(&["--max_payload", "2000", "--max_pending", "1000"]).unwrap_err();
        assert!(
            format!("{e:?}")
                .contains("max_payload (2000) cannot be higher than max_pending (1000)"),
            "{e:?}"
        );
    }

    #[test]
    fn defaults() {
        let o = run(&[]).unwrap();
        assert_eq!(o, Options::default());
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", Some(4222)));
    }

    #[test]
    fn go_spellings() {
        let o = run(&[
            "-a",
            "127.0.0.1",
            "--port=5222",
            "-n",
            "srv",
            "-DV",
            "-T=false",
        ])
        .unwrap();
        assert_eq!(o.host, "127.0.0.1");
        assert_eq!(o.port, Some(5222));
        assert_eq!(o.server_name, "srv");
        assert!(o.debug && o.trace && !o.logtime);
        let o = run(&[
            "-net",
            "::1",
            "-port",
            "1",
            "--server_name",
            "x",
            "-V",
            "-P",
            "f.pid",
        ])
        .unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, o.trace, o.debug),
            ("::1", Some(1), true, false)
        );
        assert_eq!(o.pid_file, Some(PathBuf::from("f.pid")));
        assert_eq!(run(&["-p", "-1"]).unwrap().port, None);
    }

    #[test]
    fn extensions() {
        let o = run(&[
            "--workers",
            "1",
            "--ping_interval",
            "250ms",
            "--ping_max",
            "3",
            "--max_payload",
            "10",
        ])
        .unwrap();
        assert_eq!(o.workers, 1);
        assert_eq!(o.ping_interval, Duration::from_millis(250));
        assert_eq!((o.ping_max, o.max_payload), (3, 10));
    }

    #[test]
    fn errors() {
        assert!(run(&["-x"]).unwrap_err().show_usage);
        assert!(run(&["-p", "abc"]).unwrap_err().show_usage);
        assert!(run(&["foo"]).unwrap_err().show_usage);
        assert!(run(&["-D=maybe"]).unwrap_err().show_usage);
        let e = run(&["-c", "no-such-file.conf"]).unwrap_err();
        assert!(
            !e.show_usage && e.message.contains("no-such-file.conf"),
            "{e:?}"
        );
        assert!(run(&["-t"])
            .unwrap_err()
            .message
            .contains("must specify [-c, --config]"));
        let o = run(&[
            "--tlscert",
            "c.pem",
            "--tlskey",
            "k.pem",
            "--tlsverify",
            "--tlscacert",
            "ca.pem",
        ])
        .unwrap();
        let t = o.tls.unwrap();
        assert!(
            t.verify
                && t.cert_file == Some(PathBuf::from("c.pem"))
                && t.ca_file == Some(PathBuf::from("ca.pem"))
        );
        assert!(run(&["-js"])
            .unwrap_err()
            .message
            .contains("not yet supported"));
        let o = run(&[
            "--cluster",
            "nats://u:p@127.0.0.1:6222",
            "--routes",
            "nats://a:1, nats-route://b:2",
            "--cluster_name",
            "east",
            "--no_advertise",
            "--connect_retries",
            "3",
        ])
        .unwrap();
        let c = o.cluster.unwrap();
        assert_eq!(c.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(c.port, Some(6222));
        assert_eq!(
            (c.user.as_deref(), c.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert_eq!(c.routes, ["nats://a:1", "nats-route://b:2"]);
        assert_eq!(c.name.as_deref(), Some("east"));
        assert!(c.no_advertise);
        assert_eq!(c.connect_retries, 3);
        assert!(run(&["--routes", "ftp://x"]).is_err());
    }

    #[test]
    fn commands() {
        assert_eq!(parse(&["-h".to_string()]).unwrap(), Command::Help);
        assert_eq!(parse(&["--version".to_string()]).unwrap(), Command::Version);
    }
}
