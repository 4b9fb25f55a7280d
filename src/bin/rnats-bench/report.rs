//! What a run measured and how it is told: the human-readable lines, the one-line JSON
//! summary (`--json`) and the CSV line (`--csv`).

use std::io::{self, Write};

use crate::flood::FloodStats;
use crate::hist::Histogram;
use crate::Config;

/// The figures of one run.
pub struct Report {
    pub secs: f64,
    pub published: u64,
    pub delivered: u64,
    /// Round-trip times, when requests were timed.
    pub hist: Option<Histogram>,
    /// Discarded replies to earlier requests.
    pub late: u64,
    /// The flood's clients and totals, when flooding.
    pub flood: Option<(usize, FloodStats)>,
    /// Roofline: bytes the sink read.
    pub wire_bytes: Option<u64>,
}

impl Report {
    pub fn per_sec(&self, n: f64) -> f64 {
        if self.secs > 0.0 {
            n / self.secs
        } else {
            0.0
        }
    }

    pub fn msgs_per_sec(&self) -> f64 {
        self.per_sec((self.published + self.delivered) as f64)
    }
}

/// A duration in ns, for people.
fn human_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{:.1}us", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.3}s", ns / 1e9)
    }
}

/// The latency figures: count, min, p50, p90, p99, p99.9, max (ns) and mean; None when
/// nothing was timed.
fn latency(h: &Histogram) -> Option<([u64; 7], f64)> {
    let q = |n, d| h.quantile(n, d);
    Some((
        [
            h.count(),
            h.min()?,
            q(1, 2)?,
            q(9, 10)?,
            q(99, 100)?,
            q(999, 1000)?,
            h.max()?,
        ],
        h.mean()?,
    ))
}

pub fn print_human(cfg: &Config, r: &Report) {
    let rate = r.msgs_per_sec();
    let mbs = rate * cfg.size as f64 / 1e6;
    if let Some(wire) = r.wire_bytes {
        println!(
            "roofline (no server: in-process sink on 127.0.0.1): {} pub, {} msgs x {} B: {:.3}s, \
             {:.0} msgs/s, {:.1} MB/s of payload, {:.1} MB/s on the wire",
            cfg.pubs,
            r.published,
            cfg.size,
            r.secs,
            rate,
            mbs,
            r.per_sec(wire as f64) / 1e6
        );
        return;
    }
    if cfg.request {
        println!(
            "{} requester, {} {}, {} requests x {} B: {:.3}s, {:.0} msgs/s ({:.0} requests/s, \
             {:.0} replies/s), {:.1} MB/s",
            cfg.pubs,
            cfg.subs,
            if cfg.reply { "responder" } else { "sub" },
            r.published,
            cfg.size,
            r.secs,
            rate,
            r.per_sec(r.published as f64),
            r.per_sec(r.delivered as f64),
            mbs
        );
    } else {
        println!(
            "{} pub, {} {}{}, {} msgs x {} B: {:.3}s, {:.0} msgs/s ({:.0} published/s, \
             {:.0} delivered/s), {:.1} MB/s",
            cfg.pubs,
            cfg.subs,
            if cfg.reply { "responder" } else { "sub" },
            if cfg.queue { " (queue group)" } else { "" },
            cfg.msgs,
            cfg.size,
            r.secs,
            rate,
            r.per_sec(r.published as f64),
            r.per_sec(r.delivered as f64),
            mbs
        );
    }
    if let Some(([n, min, p50, p90, p99, p999, max], mean)) = r.hist.as_ref().and_then(latency) {
        let h = |v: u64| human_ns(v as f64);
        println!(
            "latency (round trip, {n} requests): min {} p50 {} p90 {} p99 {} p99.9 {} max {} \
             mean {}",
            h(min),
            h(p50),
            h(p90),
            h(p99),
            h(p999),
            h(max),
            human_ns(mean)
        );
    }
    if r.late > 0 {
        println!(
            "{} further replies (from more than one responder) were discarded",
            r.late
        );
    }
    if let Some((clients, fl)) = &r.flood {
        let cap = cfg
            .http_rate
            .map_or(String::new(), |r| format!(" (capped at {r:.0} req/s)"));
        let cpu = fl.cpu.map_or(String::new(), |c| {
            format!(
                ", clients used {:.2} CPU-s ({:.0}% of a core)",
                c.as_secs_f64(),
                r.per_sec(100.0 * c.as_secs_f64())
            )
        });
        println!(
            "http flood: {} clients over {} endpoints{}, {} requests ({:.0} req/s), {} errors, {:.1} MB received{}",
            clients,
            cfg.http.len(),
            cap,
            fl.requests,
            r.per_sec(fl.requests as f64),
            fl.errors,
            fl.body_bytes as f64 / 1e6,
            cpu
        );
        if let Some(e) = &fl.first_error {
            eprintln!("http flood: first error: {e}");
        }
    }
}

/// A JSON number; null where there is none (a run too short to time).
fn jnum(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "null".into()
    }
}

/// The one-line JSON summary (keys in a fixed order; see the usage text).
pub fn json_line(cfg: &Config, r: &Report) -> String {
    let latency = match r.hist.as_ref().and_then(latency) {
        Some(([n, min, p50, p90, p99, p999, max], mean)) => format!(
            "{{\"count\":{n},\"min\":{min},\"p50\":{p50},\"p90\":{p90},\"p99\":{p99},\
             \"p999\":{p999},\"max\":{max},\"mean\":{}}}",
            jnum(mean, 1)
        ),
        None => "null".into(),
    };
    let rate = r.msgs_per_sec();
    let bytes = rate * cfg.size as f64;
    format!(
        "{{\"pubs\":{},\"subs\":{},\"queue\":{},\"request\":{},\"msgs\":{},\"size\":{},\
         \"secs\":{},\"published\":{},\"delivered\":{},\"msgs_per_sec\":{},\
         \"published_per_sec\":{},\"delivered_per_sec\":{},\"bytes_per_sec\":{},\
         \"mb_per_sec\":{},\"latency_ns\":{}}}",
        cfg.pubs,
        cfg.subs,
        cfg.queue,
        cfg.request,
        cfg.msgs,
        cfg.size,
        jnum(r.secs, 6),
        r.published,
        r.delivered,
        jnum(rate, 1),
        jnum(r.per_sec(r.published as f64), 1),
        jnum(r.per_sec(r.delivered as f64), 1),
        jnum(bytes, 1),
        jnum(bytes / 1e6, 3),
        latency
    )
}

/// The CSV header (after `#`) and line for one run.
fn csv_lines(cfg: &Config, r: &Report) -> (String, String) {
    let rate = r.msgs_per_sec();
    let mut header = String::from("#pubs,subs,msgs,size,secs,msgs_per_sec,mb_per_sec");
    let mut line = format!(
        "{},{},{},{},{:.6},{:.0},{:.2}",
        cfg.pubs,
        cfg.subs,
        cfg.msgs,
        cfg.size,
        r.secs,
        rate,
        rate * cfg.size as f64 / 1e6
    );
    if let Some((clients, fl)) = &r.flood {
        header += ",http_clients,http_requests,http_req_per_s,http_errors,http_body_bytes,\
                   http_client_cpu_s";
        // The flood clients' own CPU time, in seconds (-1 where /proc cannot tell).
        line += &format!(
            ",{},{},{:.0},{},{},{:.3}",
            clients,
            fl.requests,
            r.per_sec(fl.requests as f64),
            fl.errors,
            fl.body_bytes,
            fl.cpu.map_or(-1.0, |c| c.as_secs_f64())
        );
    }
    if let Some(h) = &r.hist {
        header += ",p50_ns,p90_ns,p99_ns,p999_ns";
        let q = |n, d| h.quantile(n, d).unwrap_or(0);
        line += &format!(",{},{},{},{}", q(1, 2), q(9, 10), q(99, 100), q(999, 1000));
    }
    header.push('\n');
    line.push('\n');
    (header, line)
}

pub fn append_csv(path: &str, cfg: &Config, r: &Report) -> io::Result<()> {
    let (header, line) = csv_lines(cfg, r);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let text = if f.metadata()?.len() == 0 {
        header + &line
    } else {
        line
    };
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::cfg;

    fn report(hist: Option<Histogram>) -> Report {
        Report {
            secs: 0.5,
            published: 1000,
            delivered: 4000,
            hist,
            late: 0,
            flood: None,
            wire_bytes: None,
        }
    }

    #[test]
    fn json_is_one_parseable_line_with_every_key() {
        let c = cfg("foo --sub 4 --msgs 1000");
        let line = json_line(&c, &report(None));
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "pubs",
            "subs",
            "queue",
            "request",
            "msgs",
            "size",
            "secs",
            "published",
            "delivered",
            "msgs_per_sec",
            "published_per_sec",
            "delivered_per_sec",
            "bytes_per_sec",
            "mb_per_sec",
            "latency_ns",
        ] {
            assert!(keys.contains(&k), "{k} missing from {line}");
        }
        assert_eq!(keys.len(), 15);
        assert_eq!(v["msgs_per_sec"].as_f64(), Some(10_000.0));
        assert_eq!(v["bytes_per_sec"].as_f64(), Some(1_280_000.0));
        assert!(v["latency_ns"].is_null());

        let mut h = Histogram::new();
        for ns in [1000, 2000, 3000, 4000] {
            h.record(ns);
        }
        let c = cfg("foo --sub 1 --request --reply");
        let v: serde_json::Value = serde_json::from_str(&json_line(&c, &report(Some(h)))).unwrap();
        let l = &v["latency_ns"];
        assert_eq!(l["count"], 4);
        assert_eq!(
            (l["min"].as_u64(), l["max"].as_u64()),
            (Some(1000), Some(4000))
        );
        // Within the histogram's error (1/256).
        assert!(l["p50"].as_u64().unwrap().abs_diff(2000) <= 2000 / 256);
        assert_eq!(l["mean"].as_f64(), Some(2500.0));
        assert_eq!(v["request"], true);

        // A zero-length run gives rates of 0, never NaN or inf.
        let mut r = report(None);
        r.secs = 0.0;
        let v: serde_json::Value = serde_json::from_str(&json_line(&c, &r)).unwrap();
        assert_eq!(v["msgs_per_sec"].as_f64(), Some(0.0));
    }

    #[test]
    fn csv_columns() {
        let c = cfg("foo --sub 4 --msgs 1000");
        let (header, line) = csv_lines(&c, &report(None));
        assert_eq!(
            header,
            "#pubs,subs,msgs,size,secs,msgs_per_sec,mb_per_sec\n"
        );
        assert_eq!(line, "1,4,1000,128,0.500000,10000,1.28\n");
        let mut h = Histogram::new();
        h.record(5000);
        let (header, line) = csv_lines(&c, &report(Some(h)));
        assert!(header.ends_with(",mb_per_sec,p50_ns,p90_ns,p99_ns,p999_ns\n"));
        assert!(line.ends_with(",1.28,5000,5000,5000,5000\n"));
    }
}
