//! How nats-server's monitoring writes times and durations, and what the process costs (read
//! from /proc): RFC 3339 timestamps with nanoseconds in the local zone, Go's `Duration` text
//! ("470µs", "1.5s"), the coarse uptime form ("1d2h3m4s"), and the HTTP `Date` header.

use std::time::{Duration, Instant, SystemTime};

/// `2006-01-02T15:04:05.999999999Z07:00` (Go's `time.RFC3339Nano`: trailing zeros of the
/// fraction dropped, `Z` for UTC), in the local time zone.
pub fn rfc3339(t: SystemTime) -> String {
    // UTC with a `Z`, as nats-server writes every monitoring time whatever the local zone.
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    let mut s = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Unix nanoseconds as a `SystemTime`.
pub fn from_unix_nanos(n: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(n)
}

/// Whole-second durations as nats-server prints uptimes and idle times: `45s`, `1m33s`,
/// `2h0m5s`, `3d4h5m6s`, `1y2d3h4m5s`.
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86400);
    let years = days / 365;
    if years > 0 {
        format!(
            "{}y{}d{}h{}m{}s",
            years,
            days % 365,
            hours % 24,
            mins % 60,
            secs % 60
        )
    } else if days > 0 {
        format!("{}d{}h{}m{}s", days, hours % 24, mins % 60, secs % 60)
    } else if hours > 0 {
        format!("{}h{}m{}s", hours, mins % 60, secs % 60)
    } else if mins > 0 {
        format!("{}m{}s", mins, secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// A duration as Go's `time.Duration.String` writes it: `0s`, `850ns`, `470µs`, `48.453285ms`,
/// `1.5s`, `2m3.5s`, `1h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    // The fraction of `v` in units of `unit` nanoseconds, without trailing zeros.
    fn with_fraction(v: u128, unit: u128, digits: usize, suffix: &str) -> String {
        let whole = v / unit;
        let frac = v % unit;
        if frac == 0 {
            format!("{whole}{suffix}")
        } else {
            let f = format!("{frac:0digits$}");
            format!("{whole}.{}{suffix}", f.trim_end_matches('0'))
        }
    }
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return with_fraction(ns, 1_000, 3, "µs");
    }
    if ns < 1_000_000_000 {
        return with_fraction(ns, 1_000_000, 6, "ms");
    }
    let secs = with_fraction(ns % 60_000_000_000, 1_000_000_000, 9, "s");
    let mins = ns / 60_000_000_000;
    match (mins / 60, mins % 60) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// The round-trip time as nats-server reports it: microsecond precision below a millisecond.
pub fn rtt(ns: u64) -> String {
    let ns = if ns > 1_000 && ns < 1_000_000 {
        ns / 1_000 * 1_000
    } else {
        ns
    };
    go_duration(Duration::from_nanos(ns))
}

/// `Fri, 27 Nov 2026 21:11:51 GMT`, the HTTP `Date` header.
pub fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Resident memory of this process in bytes (/proc/self/statm).
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as u64
}

/// CPU time this process has used (user + system), from /proc/self/stat.
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i)?.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / hz)
}

/// The `cpu` figure of `/varz`: percent of one core used over the last sampling period (at
/// least a second; since start for the first sample), two decimals.
pub struct CpuMeter {
    last: Option<(Instant, Duration)>,
    value: f64,
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuMeter {
    pub fn new() -> CpuMeter {
        CpuMeter {
            last: None,
            value: 0.0,
        }
    }

    pub fn percent(&mut self, process_start: SystemTime) -> f64 {
        let now = Instant::now();
        let used = cpu_time();
        let (since, before) = match self.last {
            Some((at, _)) if now.duration_since(at) < Duration::from_secs(1) => return self.value,
            Some(last) => last,
            None => {
                let up = SystemTime::now()
                    .duration_since(process_start)
                    .unwrap_or_default();
                (now.checked_sub(up).unwrap_or(now), Duration::ZERO)
            }
        };
        let wall = now.duration_since(since).as_secs_f64();
        if wall > 0.0 {
            let pct = used.saturating_sub(before).as_secs_f64() / wall * 100.0;
            self.value = (pct * 100.0).round() / 100.0;
        }
        self.last = Some((now, used));
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ns = Duration::from_nanos;
        assert_eq!(go_duration(ns(0)), "0s");
        assert_eq!(go_duration(ns(850)), "850ns");
        assert_eq!(go_duration(ns(470_000)), "470µs");
        assert_eq!(go_duration(ns(470_500)), "470.5µs");
        assert_eq!(go_duration(ns(48_453_285)), "48.453285ms");
        assert_eq!(go_duration(ns(1_500_000_000)), "1.5s");
        assert_eq!(go_duration(ns(123_500_000_000)), "2m3.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(rtt(470_321), "470µs");
        assert_eq!(rtt(48_453_285), "48.453285ms");
    }

    #[test]
    fn uptimes() {
        let s = Duration::from_secs;
        assert_eq!(uptime(s(0)), "0s");
        assert_eq!(uptime(s(93)), "1m33s");
        assert_eq!(uptime(s(7205)), "2h0m5s");
        assert_eq!(uptime(s(86400 * 3 + 3600 * 4 + 65)), "3d4h1m5s");
        assert_eq!(uptime(s(86400 * 367)), "1y2d0h0m0s");
    }

    #[test]
    fn dates() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_813_911);
        assert_eq!(http_date(t), "Fri, 27 Nov 2026 21:11:51 GMT");
        assert_eq!(
            http_date(SystemTime::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn rfc3339_shape() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_795_813_911, 649_541_500);
        let s = rfc3339(t);
        assert!(s.contains("T"), "{s}");
        assert!(s.contains(".6495415"), "{s}");
        assert!(!s.contains(".64954150"), "{s}");
        assert_eq!(s, "2026-11-27T21:11:51.6495415Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn process_figures() {
        assert!(rss_bytes() > 0);
        let mut m = CpuMeter::new();
        assert!(m.percent(SystemTime::now() - Duration::from_secs(1)) >= 0.0);
    }
}
