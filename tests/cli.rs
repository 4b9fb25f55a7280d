//! Black-box tests of the command line, logging, pid/ports files and signals.

mod common;

use common::{rnatsd_bin, Client, ServerProcess, TempDir};
use std::process::Command;
use std::time::Duration;

fn run(args: &[&str]) -> (i32, String, String) {
    common::run_rnatsd(args)
}

#[test]
fn version_and_help() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("rnatsd: v"), "{out}");
    let (code, out, _) = run(&["-v"]);
    assert_eq!(code, 0);
    assert!(out.contains("2.9.10"), "{out}");
    let (code, out, _) = run(&["-h"]);
    assert_eq!(code, 0);
    for flag in [
        "--addr",
        "--port",
        "--server_name",
        "--pid",
        "--ports_file_dir",
        "--client_advertise",
        "--log",
        "--logtime",
        "-DV",
        "--workers",
    ] {
        assert!(out.contains(flag), "usage lacks {flag}");
    }
}

#[test]
fn unknown_flag_prints_usage_and_exits_1() {
    let (code, _, err) = run(&["--no_such_flag"]);
    assert_eq!(code, 1);
    assert!(err.contains("Usage: rnatsd"), "{err}");
    let (code, _, err) = run(&["-p", "notaport"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("invalid value \"notaport\" for flag -p"),
        "{err}"
    );
    let (code, _, _) = run(&["stray"]);
    assert_eq!(code, 1);
}

#[test]
fn later_features_are_refused_not_ignored() {
    let cases: &[&[&str]] = &[&["-js"]];
    for args in cases {
        let (code, _, err) = run(args);
        assert_ne!(code, 0, "{args:?} was accepted");
        assert!(err.contains("not yet supported"), "{args:?}: {err}");
    }
}

#[test]
fn pid_file_written_and_removed_on_sigterm() {
    let dir = TempDir::new("pid");
    let pid_file = dir.path.join("rnatsd.pid");
    let mut s = ServerProcess::start(&["-P", pid_file.to_str().unwrap()]);
    let pid = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(pid.trim(), s.child.id().to_string());
    s.signal("TERM");
    let status = s
        .wait_exit(Duration::from_secs(10))
        .expect("server exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(!pid_file.exists(), "pid file left behind");
    let log = s.log_text();
    assert!(log.contains("Trapped \"terminated\" signal"), "{log}");
    assert!(log.contains("Server Exiting.."), "{log}");
}

#[test]
fn sigint_flushes_pending_output_before_closing() {
    let mut s = ServerProcess::start(&[]);
    let mut sub = Client::quiet(s.port);
    sub.send("SUB last 1\r\n");
    sub.flush();
    let mut publ = Client::quiet(s.port);
    publ.send("PUB last 3\r\nbye\r\n");
    publ.flush();
    s.signal("INT");
    assert_eq!(sub.read_msg().3, b"bye");
    sub.expect_closed();
    assert!(s
        .wait_exit(Duration::from_secs(10))
        .expect("exits")
        .success());
}

#[test]
fn ports_file_lists_the_client_url() {
    let dir = TempDir::new("ports");
    let mut s = ServerProcess::start(&["--ports_file_dir", dir.path.to_str().unwrap()]);
    let entry = std::fs::read_dir(&dir.path)
        .unwrap()
        .next()
        .expect("a ports file")
        .unwrap();
    let name = entry.file_name().to_string_lossy().into_owned();
    assert_eq!(name, format!("rnatsd_{}.ports", s.child.id()));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
    assert_eq!(json["nats"][0], format!("nats://127.0.0.1:{}", s.port));
    s.signal("TERM");
    s.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(!entry.path().exists());
}

#[test]
fn log_file_logtime_and_trace() {
    let dir = TempDir::new("log");
    let log = dir.path.join("rnatsd.log");
    let s = ServerProcess::start(&[
        "-l",
        log.to_str().unwrap(),
        "-T=false",
        "-DV",
        "--max_traced_msg_len",
        "8",
    ]);
    let mut c = Client::quiet(s.port);
    c.send("SUB t 1\r\nPUB t 20\r\n0123456789abcdefghij\r\n");
    c.read_msg();
    c.flush();
    let text = std::fs::read_to_string(&log).unwrap();
    let first = text.lines().next().unwrap();
    // `[pid] [INF] Starting rnatsd` with no timestamp.
    assert!(
        first.starts_with(&format!("[{}] [INF] Starting rnatsd", s.child.id())),
        "{first}"
    );
    assert!(text.contains("[DBG] 127.0.0.1:"), "{text}");
    assert!(text.contains("- <<- [SUB t 1]"), "{text}");
    assert!(text.contains("- <<- [PUB t 20]"), "{text}");
    assert!(
        text.contains("- <<- MSG_PAYLOAD: [\"01234567\"...]"),
        "{text}"
    );
    assert!(text.contains("- ->> [MSG t 1 20]"), "{text}");
    assert!(text.contains("- ->> [PONG]"), "{text}");
}

#[test]
fn default_log_has_timestamps_and_no_trace() {
    let s = ServerProcess::start(&[]);
    let mut c = Client::quiet(s.port);
    c.flush();
    let log = s.log_text();
    let first = log.lines().next().unwrap();
    // `[pid] 2026/11/24 12:00:00.123456 [INF] Starting rnatsd`
    let rest = first.split_once("] ").unwrap().1;
    assert_eq!(&rest[4..5], "/", "{first}");
    assert!(rest[27..].starts_with("[INF] Starting rnatsd"), "{first}");
    assert!(
        log.contains("Listening for client connections on 127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("Server is ready"), "{log}");
    assert!(!log.contains("[TRC]") && !log.contains("[DBG]"), "{log}");
}

#[test]
fn client_advertise_and_server_name_show_in_info() {
    let s = ServerProcess::start(&[
        "--client_advertise",
        "nats.example.com:5222",
        "-n",
        "edge-1",
    ]);
    let c = Client::connect(s.port);
    assert!(
        c.info
            .contains("\"host\":\"nats.example.com\",\"port\":5222"),
        "{}",
        c.info
    );
    assert!(c.info.contains("\"server_name\":\"edge-1\""), "{}", c.info);
}

#[test]
fn port_in_use_is_fatal() {
    let s = ServerProcess::start(&[]);
    let (code, _, err) = run(&["-a", "127.0.0.1", "-p", &s.port.to_string()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("[FTL] Error listening on port: 127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn random_port() {
    // `-p -1` picks a free port; the ports file tells which.
    let dir = TempDir::new("rand");
    let mut child = Command::new(rnatsd_bin())
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "--ports_file_dir",
            dir.path.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Some(Ok(e)) = std::fs::read_dir(&dir.path).unwrap().next() {
            if let Ok(text) = std::fs::read_to_string(e.path()) {
                if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
                    let url = json["nats"][0].as_str().unwrap().to_string();
                    break url.rsplit(':').next().unwrap().parse::<u16>().unwrap();
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "no ports file");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_ne!(port, 4222);
    let mut c = Client::connect(port);
    c.flush();
    let _ = child.kill();
    let _ = child.wait();
}
