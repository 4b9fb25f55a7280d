//! `rnats-mkpasswd`: make a bcrypt hash for an `authorization` block, as nats-server's mkpasswd
//! does. Without `-p` it generates a strong random password and prints it with its hash; with
//! `-p` it reads the password from standard input (one line) and prints only the hash.
//!
//! Usage: rnats-mkpasswd [-p] [-c COST]

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use ring::rand::SecureRandom;

const DEFAULT_COST: u32 = 11;
const PASSWORD_LEN: usize = 22;
const CHARSET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&*+-.:=?@^_~";

fn generate() -> Option<String> {
    let rng = ring::rand::SystemRandom::new();
    let mut out = String::with_capacity(PASSWORD_LEN);
    while out.len() < PASSWORD_LEN {
        let mut b = [0u8; 1];
        rng.fill(&mut b).ok()?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % CHARSET.len();
        if (b[0] as usize) < limit {
            out.push(CHARSET[b[0] as usize % CHARSET.len()] as char);
        }
    }
    Some(out)
}

fn main() -> ExitCode {
    let mut o = getopts::Options::new();
    o.optflag(
        "p",
        "",
        "read the password from standard input instead of generating one",
    );
    o.optopt("c", "", "bcrypt cost (default 11)", "COST");
    o.optflag("h", "help", "show this help");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let m = match o.parse(&args) {
        Ok(m) if !m.opt_present("h") && m.free.is_empty() => m,
        Ok(_) => {
            print!("{}", o.usage("Usage: rnats-mkpasswd [-p] [-c COST]"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}\n{}", o.usage("Usage: rnats-mkpasswd [-p] [-c COST]"));
            return ExitCode::FAILURE;
        }
    };
    let cost = match m.opt_str("c").map(|c| c.parse::<u32>()) {
        None => DEFAULT_COST,
        Some(Ok(c)) if (4..=31).contains(&c) => c,
        Some(_) => {
            eprintln!("rnats-mkpasswd: the cost must be a number from 4 to 31");
            return ExitCode::FAILURE;
        }
    };
    let (password, generated) = if m.opt_present("p") {
        if std::io::stdin().is_terminal() {
            eprint!("Enter Password: ");
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            eprintln!("rnats-mkpasswd: could not read the password");
            return ExitCode::FAILURE;
        }
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            eprintln!("rnats-mkpasswd: the password is empty");
            return ExitCode::FAILURE;
        }
        (pw, false)
    } else {
        match generate() {
            Some(pw) => (pw, true),
            None => {
                eprintln!("rnats-mkpasswd: no randomness available");
                return ExitCode::FAILURE;
            }
        }
    };
    let hash = match bcrypt::hash_with_result(&password, cost) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => {
            eprintln!("rnats-mkpasswd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if generated {
        println!("pass: {password}");
    }
    println!("bcrypt hash: {hash}");
    ExitCode::SUCCESS
}
