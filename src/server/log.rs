//! Logging in nats-server's format: `[pid] 2026/11/24 12:00:00.123456 [INF] message`, levels
//! INF/WRN/ERR/FTL/DBG/TRC, debug and trace switched on by `-D`/`-V`, timestamps by `-T`. One
//! process-wide logger writing to stderr or a file; the level checks are atomics, so a disabled
//! level costs one load and no formatting.

use std::fmt::Arguments;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

struct Logger {
    pid: u32,
    time: AtomicBool,
    out: Mutex<Box<dyn Write + Send>>,
    /// The log file, when logging to one (reopened on SIGUSR1, replaced on reload).
    path: Mutex<Option<std::path::PathBuf>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static DEBUG: AtomicBool = AtomicBool::new(false);
static TRACE: AtomicBool = AtomicBool::new(false);

/// Set the logger up; later calls only change the levels and timestamp switch.
pub fn init(out: Box<dyn Write + Send>, logtime: bool, debug: bool, trace: bool) {
    DEBUG.store(debug, Ordering::Relaxed);
    TRACE.store(trace, Ordering::Relaxed);
    let l = LOGGER.get_or_init(|| Logger {
        pid: std::process::id(),
        time: AtomicBool::new(logtime),
        out: Mutex::new(out),
        path: Mutex::new(None),
    });
    l.time.store(logtime, Ordering::Relaxed);
}

/// Change the levels and the timestamp switch (configuration reload).
pub fn set_levels(logtime: bool, debug: bool, trace: bool) {
    DEBUG.store(debug, Ordering::Relaxed);
    TRACE.store(trace, Ordering::Relaxed);
    if let Some(l) = LOGGER.get() {
        l.time.store(logtime, Ordering::Relaxed);
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Log to `path` from now on (or to stderr with `None`).
pub fn set_file(path: Option<&std::path::Path>) -> std::io::Result<()> {
    let Some(l) = LOGGER.get() else { return Ok(()) };
    let out: Box<dyn Write + Send> = match path {
        Some(p) => Box::new(open_append(p)?),
        None => Box::new(std::io::stderr()),
    };
    *l.out.lock().unwrap_or_else(|e| e.into_inner()) = out;
    *l.path.lock().unwrap_or_else(|e| e.into_inner()) = path.map(|p| p.to_path_buf());
    Ok(())
}

/// The log file in use, if any.
pub fn file() -> Option<std::path::PathBuf> {
    LOGGER
        .get()
        .and_then(|l| l.path.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

/// Reopen the log file (after logrotate moved it away).
pub fn reopen() -> std::io::Result<()> {
    match file() {
        Some(p) => set_file(Some(&p)),
        None => Ok(()),
    }
}

#[inline]
pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

#[inline]
pub fn trace_enabled() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// Write one line at `level` ("INF", "DBG", ...).
pub fn write(level: &str, args: Arguments<'_>) {
    let Some(l) = LOGGER.get() else {
        eprintln!("[{level}] {args}");
        return;
    };
    let mut line = String::with_capacity(128);
    use std::fmt::Write as _;
    let _ = write!(line, "[{}] ", l.pid);
    if l.time.load(Ordering::Relaxed) {
        line.push_str(&timestamp());
        line.push(' ');
    }
    let _ = writeln!(line, "[{level}] {args}");
    if let Ok(mut out) = l.out.lock() {
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// Local time as `2006/01/02 15:04:05.000000`.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r only writes the tm we hand it.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_micros()
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
