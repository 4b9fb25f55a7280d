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
    let out: Box<dyn std::io::Write + Send> = match &opts.log_file {
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("rnatsd: error opening log file {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(std::io::stderr()),
    };
    server::log::init(out, opts.logtime, opts.debug, opts.trace);
    for w in &warnings {
        rnatsd::warn!("{w}");
    }
    match server::run(*opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            rnatsd::fatal!("{e}");
            ExitCode::FAILURE
        }
    }
}
