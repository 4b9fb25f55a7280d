//! The `rnatsd` server binary: parse flags, set up logging, run.

use std::process::ExitCode;

use rnatsd::conf::flags::{self, Command, USAGE};
use rnatsd::conf::{COMPAT_VERSION, VERSION};
use rnatsd::server;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (opts, warnings) = match flags::parse(&args) {
        Ok(Command::Run(o, w)) => (o, w),
        Ok(Command::TestConfig(path, warnings, opts)) => {
            if let Some(t) = &opts.tls {
                if let Err(e) = server::tls::server_config(t) {
                    eprintln!("rnatsd: {}: TLS configuration error: {e}\n", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if warnings.is_empty() {
                eprintln!("rnatsd: configuration file {} is valid", path.display());
                return ExitCode::SUCCESS;
            }
            eprintln!("rnatsd: {}\n", warnings.join("\n"));
            return ExitCode::FAILURE;
        }
        Ok(Command::Help) => {
            print!("\n{USAGE}\n");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("rnatsd: v{VERSION} (nats-server v{COMPAT_VERSION} compatible)");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Signal(cmd, pid)) => return send_signal(&cmd, pid.as_deref()),
        Ok(Command::HelpTls) => {
            print!("{}", server::tls::help_text());
            return ExitCode::SUCCESS;
        }
        Err(e) if !e.show_usage => {
            eprintln!("rnatsd: {}\n", e.message);
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{}", e.message);
            if e.show_usage {
                eprint!("\n{USAGE}\n");
            }
            return ExitCode::FAILURE;
        }
    };
    server::log::init(opts.logtime, opts.debug, opts.trace);
    if let Err(e) = server::log::set_target(&server::log::Target::from_options(&opts)) {
        eprintln!("rnatsd: error opening the log output: {e}");
        return ExitCode::FAILURE;
    }
    for w in &warnings {
        rnatsd::warn!("{w}");
    }
    match server::run(*opts, args, vec![Box::new(rnatsd::monitor::start)]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rnatsd::fatal!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `-sl CMD[=PID|PIDFILE]`: find the server and send it the signal for CMD.
fn send_signal(cmd: &str, target: Option<&str>) -> ExitCode {
    let Some(sig) = server::signals::for_command(cmd) else {
        eprintln!("rnatsd: unknown signal {cmd:?}");
        return ExitCode::FAILURE;
    };
    let pid = match target {
        Some(t) => match t.parse::<i32>() {
            Ok(p) => p,
            Err(_) => match std::fs::read_to_string(t).map(|s| s.trim().parse::<i32>()) {
                Ok(Ok(p)) => p,
                _ => {
                    eprintln!("rnatsd: could not read a pid from {t:?}");
                    return ExitCode::FAILURE;
                }
            },
        },
        None => match running_servers().as_slice() {
            [p] => *p,
            [] => {
                eprintln!("rnatsd: no rnatsd processes running");
                return ExitCode::FAILURE;
            }
            many => {
                let list: Vec<String> = many.iter().map(|p| p.to_string()).collect();
                eprintln!(
                    "rnatsd: multiple rnatsd processes running:\n{}",
                    list.join("\n")
                );
                return ExitCode::FAILURE;
            }
        },
    };
    // SAFETY: kill(2) with a pid and signal number; no memory is involved.
    if unsafe { libc::kill(pid, sig) } != 0 {
        eprintln!(
            "rnatsd: signal {cmd:?} to {pid}: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Other processes named rnatsd, from /proc.
fn running_servers() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| p != me)
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "rnatsd")
        })
        .collect();
    out.sort_unstable();
    out
}
