//! Top-level configuration keys onto [`Options`], with nats-server's names (case-insensitive,
//! aliases included). Every problem is collected and reported at once: unknown keys as
//! `file:line:col: unknown field "x"`, wrong types, and keys nats-server knows that rnatsd does
//! not support yet (refused, never ignored).

use std::path::PathBuf;
use std::time::Duration;

use super::file::{Kind, Map, MapEntry, Value};
use super::{parse_duration, Options};

/// Problems found while applying a configuration.
#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// nats-server 2.9 keys that rnatsd does not act on yet.
const NOT_YET: &[&str] = &[
    "gateway",
    "leaf",
    "leafnodes",
    "jetstream",
    "store_dir",
    "storedir",
    "operator",
    "operators",
    "resolver",
    "account_resolver",
    "resolver_tls",
    "resolver_preload",
    "system_account",
    "system",
    "no_system_account",
    "no_system",
    "trusted",
    "trusted_keys",
    "mqtt",
    "websocket",
    "ocsp",
    "prof_port",
    "max_subscriptions",
    "max_subs",
    "server_tags",
    "default_js_domain",
    "trace_verbose",
    "connect_error_reports",
    "reconnect_error_reports",
    "disable_sublist_cache",
    "no_sublist_cache",
];

/// Apply `map` (a loaded configuration) to `o`.
pub fn apply(map: &Map, o: &mut Options) -> Report {
    let mut r = Report::default();
    for e in &map.entries {
        let key = e.key.to_ascii_lowercase();
        let v = &e.value;
        let res = match key.as_str() {
            "listen" => listen(v).map(|(h, p)| {
                if let Some(h) = h {
                    o.host = h;
                }
                o.port = p;
            }),
            "host" | "net" => string(v, &e.key).map(|s| o.host = s),
            "port" => port(v).map(|p| o.port = p),
            "server_name" => string(v, &e.key).map(|s| o.server_name = s),
            "client_advertise" => string(v, &e.key).map(|s| o.client_advertise = Some(s)),
            "debug" => boolean(v, &e.key).map(|b| o.debug = b),
            "trace" => boolean(v, &e.key).map(|b| o.trace = b),
            "logtime" => boolean(v, &e.key).map(|b| o.logtime = b),
            "log_file" | "logfile" => {
                string(v, &e.key).map(|s| o.log_file = Some(PathBuf::from(s)))
            }
            "pid_file" | "pidfile" => {
                string(v, &e.key).map(|s| o.pid_file = Some(PathBuf::from(s)))
            }
            "ports_file_dir" | "portsfiledir" => {
                string(v, &e.key).map(|s| o.ports_file_dir = Some(PathBuf::from(s)))
            }
            "max_connections" | "max_conn" => count(v, &e.key).map(|n| o.max_connections = n),
            "max_control_line" => count(v, &e.key).map(|n| o.max_control_line = n),
            "max_payload" => count(v, &e.key).map(|n| o.max_payload = n),
            "max_pending" => count(v, &e.key).map(|n| o.max_pending = n),
            "max_closed_clients" => count(v, &e.key).map(|n| o.max_closed_clients = n),
            "max_traced_msg_len" => count(v, &e.key).map(|n| o.max_traced_msg_len = n),
            "ping_max" => count(v, &e.key).map(|n| o.ping_max = n.min(u32::MAX as usize) as u32),
            "ping_interval" => duration(v, &e.key, &mut r.warnings).map(|d| o.ping_interval = d),
            "write_deadline" => duration(v, &e.key, &mut r.warnings).map(|d| o.write_deadline = d),
            "authorization" => {
                super::auth::parse_authorization(v, &mut o.auth, &mut r.errors);
                Ok(())
            }
            "cluster" => {
                o.cluster = super::cluster::parse_cluster(v, &mut r.errors);
                Ok(())
            }
            "http" | "http_port" | "monitor_port" => {
                host_port(v, &e.key).map(|hp| o.http = Some(hp))
            }
            "https" | "https_port" => host_port(v, &e.key).map(|hp| o.https = Some(hp)),
            "http_base_path" => string(v, &e.key).map(|s| o.http_base_path = Some(s)),
            "tls" => {
                o.tls = super::tls::parse_tls(v, &mut r.errors);
                Ok(())
            }
            "accounts" => {
                super::auth::parse_accounts(v, o, &mut r.errors);
                Ok(())
            }
            "no_auth_user" => string(v, &e.key).map(|s| o.no_auth_user = Some(s)),
            "syslog" => boolean(v, &e.key).map(|b| o.syslog = b),
            "remote_syslog" => string(v, &e.key).map(|s| o.remote_syslog = Some(s)),
            "log_size_limit" | "logfile_size_limit" => {
                count(v, &e.key).map(|n| o.log_size_limit = n as u64)
            }
            "lame_duck_grace_period" => {
                duration(v, &e.key, &mut r.warnings).map(|d| o.lame_duck_grace_period = d)
            }
            "lame_duck_duration" => {
                duration(v, &e.key, &mut r.warnings).map(|d| o.lame_duck_duration = d)
            }
            k if NOT_YET.contains(&k) => Err(format!(
                "{}: \"{}\" is not yet supported by rnatsd",
                e.at, e.key
            )),
            _ => unknown(e),
        };
        if let Err(msg) = res {
            if !msg.is_empty() {
                r.errors.push(msg);
            }
        }
    }
    if let Some(u) = &o.no_auth_user {
        if !o.auth.users.iter().any(|x| &x.username == u)
            && !o.auth.nkeys.iter().any(|x| &x.nkey == u)
        {
            let at = map
                .entries
                .iter()
                .find(|e| e.key.eq_ignore_ascii_case("no_auth_user"))
                .map(|e| e.at.to_string());
            r.errors.push(format!(
                "{}: no_auth_user: \"{}\" not present as user or nkey in authorization block or account configuration",
                at.unwrap_or_default(),
                u
            ));
        }
    }
    r
}

fn unknown(e: &MapEntry) -> Result<(), String> {
    unknown_in(e)
}

/// An unknown key (in any block), unless it was only defined to be used as a variable.
pub(super) fn unknown_in(e: &MapEntry) -> Result<(), String> {
    if e.used_as_variable {
        return Ok(());
    }
    Err(format!("{}: unknown field \"{}\"", e.at, e.key))
}

fn wrong(v: &Value, key: &str, want: &str) -> String {
    format!(
        "{}: \"{}\" must be {}, not {}",
        v.at,
        key,
        want,
        v.type_name()
    )
}

pub(super) fn string(v: &Value, key: &str) -> Result<String, String> {
    match &v.kind {
        Kind::Str(s) => Ok(s.clone()),
        _ => Err(wrong(v, key, "a string")),
    }
}

fn boolean(v: &Value, key: &str) -> Result<bool, String> {
    match &v.kind {
        Kind::Bool(b) => Ok(*b),
        _ => Err(wrong(v, key, "a boolean")),
    }
}

fn count(v: &Value, key: &str) -> Result<usize, String> {
    match &v.kind {
        Kind::Int(n) if *n >= 0 => Ok(*n as usize),
        Kind::Int(_) => Err(format!("{}: \"{}\" must not be negative", v.at, key)),
        _ => Err(wrong(v, key, "an integer")),
    }
}

/// A timeout in seconds, integer or fractional (`timeout: 0.5`), as nats-server's blocks take it.
pub(super) fn seconds(v: &Value, key: &str) -> Result<Duration, String> {
    match v.kind {
        Kind::Int(n) => super::duration_from_secs(n as f64)
            .ok_or_else(|| format!("{}: \"{}\" must be a number of seconds", v.at, key)),
        Kind::Float(f) => super::duration_from_secs(f)
            .ok_or_else(|| format!("{}: \"{}\" must be a number of seconds", v.at, key)),
        _ => Err(format!("{}: \"{}\" must be a number of seconds", v.at, key)),
    }
}

/// A port: a number, where -1 means "any free port" and 0 the default.
fn port(v: &Value) -> Result<Option<u16>, String> {
    match &v.kind {
        Kind::Int(-1) => Ok(None),
        Kind::Int(0) => Ok(Some(super::DEFAULT_PORT)),
        Kind::Int(n) if (1..=65535).contains(n) => Ok(Some(*n as u16)),
        Kind::Int(n) => Err(format!("{}: port {} out of range", v.at, n)),
        _ => Err(wrong(v, "port", "an integer")),
    }
}

/// `listen`: a port, or `host:port`, or `:port`; port 0 means the default, as for `port`.
fn listen(v: &Value) -> Result<(Option<String>, Option<u16>), String> {
    let (h, p) = host_port(v, "listen")?;
    Ok((
        h,
        if p == Some(0) {
            Some(super::DEFAULT_PORT)
        } else {
            p
        },
    ))
}

/// `host:port`, `:port` or a port (`-1`: any free port).
pub(super) fn host_port(v: &Value, key: &str) -> Result<(Option<String>, Option<u16>), String> {
    let port_of = |n: i64| -> Result<Option<u16>, String> {
        match n {
            -1 => Ok(None),
            0..=65535 => Ok(Some(n as u16)),
            _ => Err(format!("{}: \"{}\": port {} out of range", v.at, key, n)),
        }
    };
    match &v.kind {
        Kind::Int(n) => port_of(*n).map(|p| (None, p)),
        Kind::Str(s) => {
            let (h, p) = s
                .rsplit_once(':')
                .ok_or_else(|| format!("{}: could not parse address string {:?}", v.at, s))?;
            let p: i64 = p
                .parse()
                .map_err(|_| format!("{}: could not parse port {:?}", v.at, p))?;
            let h = h.trim_start_matches('[').trim_end_matches(']');
            Ok(((!h.is_empty()).then(|| h.to_string()), port_of(p)?))
        }
        _ => Err(format!(
            "{}: \"{}\" must be a port or host:port, not {}",
            v.at,
            key,
            v.type_name()
        )),
    }
}

/// A duration: a Go duration string, or (with a warning, as nats-server does) seconds.
fn duration(v: &Value, key: &str, warnings: &mut Vec<String>) -> Result<Duration, String> {
    match &v.kind {
        Kind::Str(s) => parse_duration(s)
            .filter(|_| !s.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| format!("{}: error parsing {}: invalid duration {:?}", v.at, key, s)),
        Kind::Int(n) if *n >= 0 => {
            warnings.push(format!(
                "{}: invalid use of field \"{}\": {} should be converted to a duration",
                v.at, key, key
            ));
            super::duration_from_secs(*n as f64)
                .ok_or_else(|| format!("{}: error parsing {}: invalid duration {}", v.at, key, n))
        }
        _ => Err(wrong(v, key, "a duration string such as \"2m\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::file::load_str;

    /// Durations beyond what Go can hold are refused, not overflowed (a panic found by the
    /// conf_parser fuzz target: `ping_interval: "2555…5551m"`).
    #[test]
    fn huge_durations_are_errors() {
        for conf in [
            "ping_interval: \"25555555555555555555555555555555555551m\"",
            "ping_interval: 9223372036854775807",
            "write_deadline: \"3000000h\"",
            "authorization { timeout: 100000000000000000000.5 }",
            "authorization { timeout: 9223372036854775807 }",
        ] {
            assert!(!apply_text(conf).1.errors.is_empty(), "{conf}");
        }
        let (o, r) = apply_text("ping_interval: \"2000000h\"");
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(o.ping_interval, Duration::from_secs(7_200_000_000));
    }
    use std::path::Path;

    fn apply_text(text: &str) -> (Options, Report) {
        let map = load_str(text, "t.conf", Path::new(".")).unwrap();
        let mut o = Options::default();
        let r = apply(&map, &mut o);
        (o, r)
    }

    #[test]
    fn basic_keys() {
        let (o, r) = apply_text(
            "listen: 127.0.0.1:4333\nserver_name: edge\nmax_payload: 2MB\nmax_pending: 10MB\n\
             max_connections: 100\nmax_control_line: 2KB\nping_interval: \"30s\"\nping_max: 5\n\
             write_deadline: \"3s\"\ndebug: true\ntrace: on\nlogtime: false\nlog_file: /tmp/x.log\n\
             pid_file: \"/tmp/x.pid\"\nports_file_dir: /tmp\nclient_advertise: \"a.b:1\"\n\
             lame_duck_duration: \"30s\"\nmax_traced_msg_len: 10\n",
        );
        assert!(r.errors.is_empty() && r.warnings.is_empty(), "{r:?}");
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", Some(4333)));
        assert_eq!(o.server_name, "edge");
        assert_eq!((o.max_payload, o.max_pending), (2 << 20, 10 << 20));
        assert_eq!((o.max_connections, o.max_control_line), (100, 2048));
        assert_eq!((o.ping_interval, o.ping_max), (Duration::from_secs(30), 5));
        assert_eq!(o.write_deadline, Duration::from_secs(3));
        assert!(o.debug && o.trace && !o.logtime);
        assert_eq!(o.log_file, Some(PathBuf::from("/tmp/x.log")));
        assert_eq!(o.pid_file, Some(PathBuf::from("/tmp/x.pid")));
        assert_eq!(o.client_advertise.as_deref(), Some("a.b:1"));
        assert_eq!(o.lame_duck_duration, Duration::from_secs(30));
        assert_eq!(o.max_traced_msg_len, 10);
    }

    #[test]
    fn keys_are_case_insensitive_and_later_ones_win() {
        let (o, r) = apply_text("PORT: 4000\nMax_Payload: 100\nlisten: 5000\nnet: ::1");
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(
            (o.port, o.max_payload, o.host.as_str()),
            (Some(5000), 100, "::1")
        );
    }

    #[test]
    fn unknown_and_wrong_types_are_all_reported() {
        let (_, r) = apply_text(
            "port: \"abc\"\nfoo: 1\nmax_payload: true\nbar { x: 1 }\nping_interval: \"2x\"",
        );
        assert_eq!(
            r.errors,
            vec![
                "t.conf:1:6: \"port\" must be an integer, not a string",
                "t.conf:2:1: unknown field \"foo\"",
                "t.conf:3:14: \"max_payload\" must be an integer, not a boolean",
                "t.conf:4:1: unknown field \"bar\"",
                "t.conf:5:16: error parsing ping_interval: invalid duration \"2x\"",
            ]
        );
    }

    #[test]
    fn variables_are_not_unknown_fields() {
        let (o, r) = apply_text("P: 4555\nport: $P\nUNUSED: 1");
        assert_eq!(o.port, Some(4555));
        assert_eq!(r.errors, vec!["t.conf:3:1: unknown field \"UNUSED\""]);
    }

    #[test]
    fn integer_durations_warn() {
        let (o, r) = apply_text("x: 1\nping_interval: 30");
        assert_eq!(o.ping_interval, Duration::from_secs(30));
        assert_eq!(
            r.warnings,
            vec!["t.conf:2:16: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"]
        );
    }

    #[test]
    fn later_features_are_refused() {
        let (_, r) = apply_text("gateway {}\nmqtt {}\nleafnodes {}\njetstream {}");
        assert_eq!(r.errors.len(), 4, "{r:?}");
        assert!(
            r.errors.iter().all(|e| e.contains("is not yet supported")),
            "{r:?}"
        );
    }
}
