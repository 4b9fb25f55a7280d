//! The mkpasswd tool: its hashes are bcrypt ($2a$) and log a user in.

mod common;

use common::{Client, ServerProcess, TempDir};
use std::io::Write;
use std::process::{Command, Stdio};

fn mkpasswd(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rnats-mkpasswd"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn generated_password_and_hash() {
    let (ok, out) = mkpasswd(&["-c", "4"], "");
    assert!(ok);
    let mut lines = out.lines();
    let pass = lines
        .next()
        .unwrap()
        .strip_prefix("pass: ")
        .unwrap()
        .to_string();
    let hash = lines
        .next()
        .unwrap()
        .strip_prefix("bcrypt hash: ")
        .unwrap()
        .to_string();
    assert_eq!(pass.len(), 22);
    assert!(hash.starts_with("$2a$04$"), "{hash}");
    assert!(bcrypt::verify(&pass, &hash).unwrap());
    let (_, again) = mkpasswd(&["-c", "4"], "");
    assert_ne!(out, again);
}

#[test]
fn hash_from_stdin_logs_in() {
    let (ok, out) = mkpasswd(&["-p", "-c", "4"], "hunter2\n");
    assert!(ok);
    let hash = out
        .trim()
        .strip_prefix("bcrypt hash: ")
        .unwrap()
        .to_string();
    let dir = TempDir::new("mkpw");
    let f = dir.path.join("a.conf");
    std::fs::write(
        &f,
        format!("authorization {{ users = [ {{user: me, password: \"{hash}\"}} ] }}\n"),
    )
    .unwrap();
    let s = ServerProcess::start(&["-c", f.to_str().unwrap()]);
    Client::connect_with(s.port, r#"{"verbose":false,"user":"me","pass":"hunter2"}"#);
    assert!(!mkpasswd(&["-c", "99"], "").0);
    assert!(!mkpasswd(&["-p"], "\n").0);
}
