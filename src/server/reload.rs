//! Configuration reload (SIGHUP) and lame-duck mode (SIGUSR2).
//!
//! A reload reads the configuration file again, applies the original command line over it (flags
//! still win), refuses the whole reload if an option that cannot change live did change (as
//! nats-server does, naming it), and otherwise installs the new options: logging, limits,
//! authorization (every connected client is checked again and its permissions replaced) and TLS
//! certificates (for new connections).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Server;
use crate::conf::flags::{self, Command};
use crate::conf::Options;

/// Options that cannot change without a restart: (Go's field name, old, new) when they differ.
fn unsupported_changes(old: &Options, new: &Options) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, a: String, b: String| {
        if a != b {
            out.push(format!(
                "config reload not supported for {name}: old={a}, new={b}"
            ));
        }
    };
    let port = |p: Option<u16>| p.map_or("-1".to_string(), |p| p.to_string());
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    check("Host", old.host.clone(), new.host.clone());
    check("Port", port(old.port), port(new.port));
    check(
        "ServerName",
        old.server_name.clone(),
        new.server_name.clone(),
    );
    check(
        "ClientAdvertise",
        old.client_advertise.clone().unwrap_or_default(),
        new.client_advertise.clone().unwrap_or_default(),
    );
    check("PidFile", path(&old.pid_file), path(&new.pid_file));
    check(
        "PortsFileDir",
        path(&old.ports_file_dir),
        path(&new.ports_file_dir),
    );
    // Routes are built at start: a changed cluster block is refused, not half applied.
    check(
        "Cluster",
        format!("{:?}", old.cluster),
        format!("{:?}", new.cluster),
    );
    let hp = |v: &Option<(Option<String>, Option<u16>)>| match v {
        Some((h, p)) => (h.clone().unwrap_or_default(), port(*p)),
        None => (String::new(), "0".to_string()),
    };
    let (was, now) = (hp(&old.http), hp(&new.http));
    check("HTTPHost", was.0, now.0);
    check("HTTPPort", was.1, now.1);
    check("HTTPSPort", hp(&old.https).1, hp(&new.https).1);
    check(
        "HTTPBasePath",
        old.http_base_path.clone().unwrap_or_default(),
        new.http_base_path.clone().unwrap_or_default(),
    );
    out
}

/// Reload the configuration file. On error nothing changes.
pub fn reload(server: &Arc<Server>) -> Result<(), String> {
    let old = server.opts();
    if old.config_file.is_none() {
        return Err("can only reload config when a file is provided using -c or --config".into());
    }
    let (mut new, warnings) = match flags::parse(&server.args) {
        Ok(Command::Run(o, w)) => (o, w),
        Ok(_) => return Err("the command line no longer starts a server".into()),
        Err(e) => return Err(e.message),
    };
    new.workers = old.workers;
    let problems = unsupported_changes(&old, &new);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let tls = match &new.tls {
        Some(t) => Some(super::tls::server_config(t)?),
        None => None,
    };
    for w in &warnings {
        crate::warn!("{w}");
    }
    let target = super::log::Target::from_options(&new);
    if target != super::log::Target::from_options(&old) {
        super::log::set_target(&target).map_err(|e| format!("opening the log output: {e}"))?;
    }
    super::log::set_levels(new.logtime, new.debug, new.trace);
    server.install(Arc::new(*new), tls);
    *server
        .config_load_time
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = std::time::SystemTime::now();
    *server.reloaded.0.lock().unwrap_or_else(|e| e.into_inner()) = 0;
    for h in &server.workers {
        h.inbox.lock().unwrap_or_else(|e| e.into_inner()).reload = true;
        let _ = h.waker.wake();
    }
    // As with nats-server, the reload is done once every client has been checked against it.
    let (lock, cvar) = &server.reloaded;
    let done = lock.lock().unwrap_or_else(|e| e.into_inner());
    let (_done, timeout) = cvar
        .wait_timeout_while(done, Duration::from_secs(10), |n| *n < server.workers.len())
        .unwrap_or_else(|e| e.into_inner());
    if timeout.timed_out() {
        crate::warn!("reload: not every worker confirmed the new configuration in time");
    }
    Ok(())
}

/// The lame-duck sequence after new clients are refused and told: wait the grace period, then
/// close the clients a batch at a time over the rest of `lame_duck_duration`.
pub fn lame_duck(server: &Arc<Server>) {
    let opts = server.opts();
    let grace = opts.lame_duck_grace_period.min(opts.lame_duck_duration);
    let spread = opts.lame_duck_duration.saturating_sub(grace);
    sleep_unless_stopped(server, grace);
    let clients: Vec<(usize, usize, u64)> = {
        let map = server.clients.lock().unwrap_or_else(|e| e.into_inner());
        map.values().map(|c| (c.worker, c.token, c.cid)).collect()
    };
    crate::notice!("Closing existing clients");
    // At most ten batches a second, at least one client per batch.
    let batches = ((spread.as_millis() / 100) as usize).clamp(1, clients.len().max(1));
    let per_batch = clients.len().div_ceil(batches).max(1);
    let pause = if batches > 1 {
        spread / batches as u32
    } else {
        Duration::ZERO
    };
    for chunk in clients.chunks(per_batch) {
        if server.shutting_down.load(Ordering::Acquire) {
            return;
        }
        for &(w, slot, cid) in chunk {
            server.workers[w]
                .inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .close
                .push((slot, cid));
        }
        for h in &server.workers {
            let _ = h.waker.wake();
        }
        sleep_unless_stopped(server, pause);
    }
}

fn sleep_unless_stopped(server: &Server, d: Duration) {
    let until = Instant::now() + d;
    while !server.shutting_down.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_changes_are_named() {
        let a = Options::default();
        let mut b = a.clone();
        b.port = Some(4333);
        b.max_payload = 10;
        let c = unsupported_changes(&a, &b);
        assert_eq!(
            c,
            vec!["config reload not supported for Port: old=4222, new=4333".to_string()]
        );
        assert!(unsupported_changes(&a, &a).is_empty());
        let mut c = a.clone();
        c.cluster = Some(Default::default());
        assert!(
            unsupported_changes(&a, &c)[0].starts_with("config reload not supported for Cluster")
        );
    }
}
