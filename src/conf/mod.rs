//! Configuration: the typed [`Options`] the server runs with, built from a configuration file
//! (`file` loads it, `keys` maps it) and command-line flags, which override the file. Options are
//! immutable once the server starts.

pub mod auth;
pub mod cluster;
pub mod file;
pub mod flags;
pub mod keys;
pub mod tls;

use std::path::PathBuf;
use std::time::Duration;

/// Version of this program.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The nats-server release whose protocol and behaviour we follow; clients see it in INFO.
pub const COMPAT_VERSION: &str = "2.9.10";

pub const DEFAULT_PORT: u16 = 4222;
pub const DEFAULT_HOST: &str = "0.0.0.0";

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub host: String,
    /// `None` means "any free port" (`-p -1` / `-p RANDOM`).
    pub port: Option<u16>,
    pub server_name: String,
    pub pid_file: Option<PathBuf>,
    pub ports_file_dir: Option<PathBuf>,
    pub client_advertise: Option<String>,
    pub log_file: Option<PathBuf>,
    /// Rotate the log file once it reaches this many bytes (0: never).
    pub log_size_limit: u64,
    /// Log to the local syslog.
    pub syslog: bool,
    /// Log to a remote syslog: `udp://host:port`, `tcp://host:port` or `unix:///path`.
    pub remote_syslog: Option<String>,
    pub logtime: bool,
    pub debug: bool,
    pub trace: bool,
    /// Payload bytes shown in a protocol trace before the rest is elided.
    pub max_traced_msg_len: usize,
    pub max_connections: usize,
    pub max_control_line: usize,
    pub max_payload: usize,
    pub max_pending: usize,
    /// Closed connections kept for `/connz?state=closed`.
    pub max_closed_clients: usize,
    pub ping_interval: Duration,
    pub ping_max: u32,
    pub write_deadline: Duration,
    /// Reactor threads; 0 means one per core.
    pub workers: usize,
    /// How long lame-duck mode spreads client closes over.
    pub lame_duck_duration: Duration,
    /// How long lame-duck mode waits before it starts closing clients.
    pub lame_duck_grace_period: Duration,
    /// The configuration file the options came from, if any.
    pub config_file: Option<PathBuf>,
    /// Client authentication and permissions.
    pub auth: auth::Authorization,
    /// The user a client without credentials is taken to be.
    pub no_auth_user: Option<String>,
    /// Accounts defined besides the global one (`$G`).
    pub accounts: Vec<String>,
    /// What accounts export and import.
    pub exports: Vec<auth::Export>,
    pub imports: Vec<auth::Import>,
    /// TLS for client connections.
    pub tls: Option<tls::TlsConfig>,
    /// The `cluster` block (checked; routes come with the clustering work).
    pub cluster: Option<cluster::ClusterConfig>,
    /// Monitoring listeners (checked; the monitoring server comes later): host, port.
    pub http: Option<(Option<String>, Option<u16>)>,
    pub https: Option<(Option<String>, Option<u16>)>,
    pub http_base_path: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: DEFAULT_HOST.to_string(),
            port: Some(DEFAULT_PORT),
            server_name: String::new(),
            pid_file: None,
            ports_file_dir: None,
            client_advertise: None,
            log_file: None,
            log_size_limit: 0,
            syslog: false,
            remote_syslog: None,
            logtime: true,
            debug: false,
            trace: false,
            max_traced_msg_len: 128,
            max_connections: 64 * 1024,
            max_control_line: 4096,
            max_payload: 1024 * 1024,
            max_pending: 64 * 1024 * 1024,
            max_closed_clients: 10_000,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            workers: 0,
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            config_file: None,
            auth: auth::Authorization::default(),
            no_auth_user: None,
            accounts: Vec::new(),
            exports: Vec::new(),
            imports: Vec::new(),
            tls: None,
            cluster: None,
            http: None,
            https: None,
            http_base_path: None,
        }
    }
}

impl Options {
    /// Worker threads to run: the option, else the number of cores.
    /// The authentication timeout in force: as configured, else (as nats-server) one second
    /// more than the TLS handshake timeout when TLS is on, else two seconds.
    pub fn auth_timeout(&self) -> Duration {
        match &self.tls {
            Some(t) if !self.auth.timeout_set => t.timeout + Duration::from_secs(1),
            _ => self.auth.timeout,
        }
    }

    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// Parse a Go-style duration ("2m", "1m30s", "250ms", "1.5s", "10us", "1h") or a bare number of
/// seconds, as nats-server accepts in its configuration.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<u64>() {
        return duration_from_secs(secs as f64);
    }
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total = 0f64;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let num: f64 = s[start..i].parse().ok()?;
        let ustart = i;
        while i < b.len() && !(b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let scale = match &s[ustart..i] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += num * scale;
    }
    duration_from_secs(total)
}

/// The longest duration Go can hold (2^63 - 1 nanoseconds, about 292 years); longer ones are
/// refused, as Go's ParseDuration refuses them, instead of overflowing later.
const MAX_DURATION_SECS: f64 = 9_223_372_036.854_775;

/// `secs` seconds as a duration, if it is a number of seconds Go's durations can hold.
pub fn duration_from_secs(secs: f64) -> Option<Duration> {
    if secs.is_finite() && (0.0..=MAX_DURATION_SECS).contains(&secs) {
        Some(Duration::from_secs_f64(secs))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(parse_duration(""), None);
    }
}
