//! Logging in nats-server's format: `[pid] 2026/11/24 12:00:00.123456 [INF] message`, levels
//! INF/WRN/ERR/FTL/DBG/TRC, debug and trace switched on by `-D`/`-V`, timestamps by `-T`. One
//! process-wide logger; the level checks are atomics, so a disabled level costs one load and no
//! formatting. Output goes to stderr, a file (rotated past `log_size_limit`, reopened on
//! SIGUSR1), the local syslog (`/dev/log`) or a remote one (`udp://`, `tcp://`, `unix://`), in
//! nats-server's order of preference: file, remote syslog, local syslog, stderr.

use std::fmt::Arguments;
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

enum Output {
    Stderr,
    File {
        file: std::fs::File,
        path: PathBuf,
        written: u64,
        limit: u64,
    },
    Syslog {
        conn: SyslogConn,
        remote: bool,
    },
}

enum SyslogConn {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

struct Logger {
    pid: u32,
    time: AtomicBool,
    out: Mutex<Output>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static DEBUG: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);

/// Set the logger up (to stderr); later calls only change the levels and timestamp switch.
pub fn init(logtime: bool, debug: bool, trace: bool) {
    DEBUG.store(debug, Ordering::Relaxed);
    TRACE.store(trace, Ordering::Relaxed);
    let l = LOGGER.get_or_init(|| Logger {
        pid: std::process::id(),
        time: AtomicBool::new(logtime),
        out: Mutex::new(Output::Stderr),
    });
    l.time.store(logtime, Ordering::Relaxed);
}

#[inline]
pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

#[inline]
pub fn trace_enabled() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// Change the levels and the timestamp switch (configuration reload).
pub fn set_levels(logtime: bool, debug: bool, trace: bool) {
    init(logtime, debug, trace);
}

/// Where log lines go.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Target {
    #[default]
    Stderr,
    File {
        path: PathBuf,
        size_limit: u64,
    },
    /// The local syslog daemon.
    Syslog,
    /// `udp://host:port`, `tcp://host:port` or `unix:///path`.
    RemoteSyslog(String),
}

impl Target {
    /// nats-server's choice among the logging options.
    pub fn from_options(o: &crate::conf::Options) -> Target {
        if let Some(p) = &o.log_file {
            Target::File {
                path: p.clone(),
                size_limit: o.log_size_limit,
            }
        } else if let Some(r) = &o.remote_syslog {
            Target::RemoteSyslog(r.clone())
        } else if o.syslog {
            Target::Syslog
        } else {
            Target::Stderr
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn open_file(path: &Path, limit: u64) -> std::io::Result<Output> {
    let file = open_append(path)?;
    let written = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(Output::File {
        file,
        path: path.to_path_buf(),
        written,
        limit,
    })
}

fn open_syslog(target: &Target) -> std::io::Result<Output> {
    let bad = |u: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("bad syslog address {u:?}"),
        )
    };
    match target {
        Target::Syslog => {
            let sock = UnixDatagram::unbound()?;
            let mut last = None;
            for p in ["/dev/log", "/var/run/syslog", "/var/run/log"] {
                match sock.connect(p) {
                    Ok(()) => {
                        return Ok(Output::Syslog {
                            conn: SyslogConn::Unix(sock),
                            remote: false,
                        })
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| bad("local")))
        }
        Target::RemoteSyslog(url) => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("udp", url.as_str()));
            let conn = match scheme {
                "udp" => {
                    let s = UdpSocket::bind(if rest.starts_with('[') {
                        "[::]:0"
                    } else {
                        "0.0.0.0:0"
                    })?;
                    s.connect(rest)?;
                    SyslogConn::Udp(s)
                }
                "tcp" => SyslogConn::Tcp(TcpStream::connect(rest)?),
                "unix" => {
                    let s = UnixDatagram::unbound()?;
                    s.connect(rest)?;
                    SyslogConn::Unix(s)
                }
                _ => return Err(bad(url)),
            };
            Ok(Output::Syslog { conn, remote: true })
        }
        _ => Err(bad("")),
    }
}

/// Send log lines to `target` from now on.
pub fn set_target(target: &Target) -> std::io::Result<()> {
    let Some(l) = LOGGER.get() else { return Ok(()) };
    let out = match target {
        Target::Stderr => Output::Stderr,
        Target::File { path, size_limit } => open_file(path, *size_limit)?,
        t => open_syslog(t)?,
    };
    *l.out.lock().unwrap_or_else(|e| e.into_inner()) = out;
    Ok(())
}

/// Reopen the log file (after logrotate moved it away).
pub fn reopen() -> std::io::Result<()> {
    let Some(l) = LOGGER.get() else { return Ok(()) };
    let mut out = l.out.lock().unwrap_or_else(|e| e.into_inner());
    if let Output::File { path, limit, .. } = &*out {
        let (path, limit) = (path.clone(), *limit);
        *out = open_file(&path, limit)?;
    }
    Ok(())
}

/// Syslog severity for our levels (facility daemon).
fn syslog_priority(level: &str) -> u8 {
    let severity = match level {
        "FTL" => 2,
        "ERR" => 3,
        "WRN" => 4,
        "INF" => 5,
        _ => 7,
    };
    3 * 8 + severity
}

/// Write one line at `level` ("INF", "DBG", ...).
pub fn write(level: &str, args: Arguments<'_>) {
    let Some(l) = LOGGER.get() else {
        eprintln!("[{level}] {args}");
        return;
    };
    use std::fmt::Write as _;
    let mut out = l.out.lock().unwrap_or_else(|e| e.into_inner());
    let mut line = String::with_capacity(128);
    if let Output::Syslog { conn, remote } = &mut *out {
        // `<PRI>Mmm dd hh:mm:ss [host ]rnatsd[pid]: message`, as syslog(3) writes it; the
        // priority carries the level.
        let _ = write!(line, "<{}>{} ", syslog_priority(level), syslog_timestamp());
        if *remote {
            let _ = write!(line, "{} ", hostname());
        }
        let _ = write!(line, "rnatsd[{}]: {args}", l.pid);
        let _ = match conn {
            SyslogConn::Unix(s) => s.send(line.as_bytes()).map(|_| ()),
            SyslogConn::Udp(s) => s.send(line.as_bytes()).map(|_| ()),
            SyslogConn::Tcp(s) => {
                line.push('\n');
                s.write_all(line.as_bytes())
            }
        };
        return;
    }
    let _ = write!(line, "[{}] ", l.pid);
    if l.time.load(Ordering::Relaxed) {
        line.push_str(&timestamp());
        line.push(' ');
    }
    let _ = writeln!(line, "[{level}] {args}");
    match &mut *out {
        Output::Stderr => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        Output::File {
            file,
            path,
            written,
            limit,
        } => {
            let _ = file.write_all(line.as_bytes());
            *written += line.len() as u64;
            if *limit > 0 && *written >= *limit {
                let backup = format!("{}.{}", path.display(), rotation_suffix());
                if std::fs::rename(&*path, &backup).is_ok() {
                    if let Ok(f) = open_append(path) {
                        *file = f;
                        *written = 0;
                        let note = format!(
                            "[{}] [INF] Rotated log, backup saved as {}\n",
                            l.pid, backup
                        );
                        let _ = file.write_all(note.as_bytes());
                        *written += note.len() as u64;
                    }
                }
            }
        }
        Output::Syslog { .. } => {}
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn local_tm() -> (libc::tm, u32) {
    local_time(std::time::SystemTime::now())
}

/// `t` broken down in the local time zone (`tm_gmtoff` holds the offset), and its nanoseconds.
pub fn local_time(t: std::time::SystemTime) -> (libc::tm, u32) {
    let now = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // musl's `time_t` alias is marked deprecated in the libc crate (its width changed in musl
    // 1.2); it is 64 bits on every target this builds for.
    #[allow(deprecated)]
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r only writes the tm we hand it.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    (tm, now.subsec_nanos())
}

/// `Jan _2 15:04:05`, syslog's timestamp.
fn syslog_timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (tm, _) = local_tm();
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `2006.01.02.15.04.05.999999999`, the suffix of a rotated log file.
fn rotation_suffix() -> String {
    let (tm, nanos) = local_tm();
    format!(
        "{:04}.{:02}.{:02}.{:02}.{:02}.{:02}.{:09}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        nanos
    )
}

/// Local time as `2006/01/02 15:04:05.000000`.
fn timestamp() -> String {
    let (tm, nanos) = local_tm();
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        nanos / 1000
    )
}

#[macro_export]
macro_rules! notice {
    ($($a:tt)*) => { $crate::server::log::write("INF", format_args!($($a)*)) };
}
#[macro_export]
macro_rules! warn {
    ($($a:tt)*) => { $crate::server::log::write("WRN", format_args!($($a)*)) };
}
#[macro_export]
macro_rules! error {
    ($($a:tt)*) => { $crate::server::log::write("ERR", format_args!($($a)*)) };
}
#[macro_export]
macro_rules! fatal {
    ($($a:tt)*) => { $crate::server::log::write("FTL", format_args!($($a)*)) };
}
#[macro_export]
macro_rules! debug {
    ($($a:tt)*) => { if $crate::server::log::debug_enabled() { $crate::server::log::write("DBG", format_args!($($a)*)) } };
}
#[macro_export]
macro_rules! trace {
    ($($a:tt)*) => { if $crate::server::log::trace_enabled() { $crate::server::log::write("TRC", format_args!($($a)*)) } };
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_shape() {
        let t = super::timestamp();
        assert_eq!(t.len(), "2026/11/24 12:00:00.123456".len(), "{t}");
        assert_eq!(&t[4..5], "/");
        assert_eq!(&t[19..20], ".");
    }
}
