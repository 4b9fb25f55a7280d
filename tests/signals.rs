//! Signals: SIGHUP reloads the configuration (users, permissions, logging, limits applied live;
//! the rest refused), SIGUSR1 reopens the log file, SIGUSR2 enters lame-duck mode, and `-sl`
//! sends them by name to a pid or pid file.

mod common;

use common::{run_rnatsd, Client, ServerProcess, TempDir};
use std::time::{Duration, Instant};

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const USERS_V1: &str = "authorization { users = [\n\
  {user: alice, password: a, permissions: {publish: \"foo.>\"}}\n\
  {user: bob, password: b}\n] }\n";

const USERS_V2: &str = "debug: true\nauthorization { users = [\n\
  {user: alice, password: a, permissions: {publish: \"bar.>\"}}\n] }\n";

#[test]
fn reload_applies_users_and_permissions_live() {
    let dir = TempDir::new("reload");
    let conf = dir.path.join("srv.conf");
    std::fs::write(&conf, USERS_V1).unwrap();
    let s = ServerProcess::start(&["-c", conf.to_str().unwrap()]);
    let mut alice = Client::connect_with(s.port, r#"{"verbose":false,"user":"alice","pass":"a"}"#);
    let mut bob = Client::connect_with(s.port, r#"{"verbose":false,"user":"bob","pass":"b"}"#);
    alice.send("PUB foo.x 1\r\nx\r\nPING\r\n");
    alice.expect_line("PONG");

    std::fs::write(&conf, USERS_V2).unwrap();
    s.signal("HUP");
    // bob is gone from the configuration: his connection is closed.
    bob.expect_line("-ERR 'Authorization Violation'");
    bob.expect_closed();
    wait_for("reload log line", || {
        s.log_text().contains("Reloaded server configuration")
    });
    // alice stays, with her new permissions.
    alice.send("PUB foo.x 1\r\nx\r\nPUB bar.x 1\r\ny\r\nPING\r\n");
    alice.expect_line("-ERR 'Permissions Violation for Publish to \"foo.x\"'");
    alice.expect_line("PONG");
    // New logins follow the new file; debug logging came on.
    let mut c = Client::connect(s.port);
    c.send("CONNECT {\"user\":\"bob\",\"pass\":\"b\"}\r\n");
    c.expect_line("-ERR 'Authorization Violation'");
    wait_for("debug lines", || s.log_text().contains("[DBG]"));
}

#[test]
fn reload_refuses_what_cannot_change() {
    let dir = TempDir::new("reload");
    let conf = dir.path.join("srv.conf");
    std::fs::write(&conf, "server_name: one\nmax_payload: 100\n").unwrap();
    let s = ServerProcess::start(&["-c", conf.to_str().unwrap()]);
    std::fs::write(&conf, "server_name: two\nmax_payload: 200\n").unwrap();
    s.signal("HUP");
    wait_for("refusal", || {
        s.log_text()
            .contains("config reload not supported for ServerName: old=one, new=two")
    });
    // Nothing changed: the old limit still holds.
    let mut c = Client::quiet(s.port);
    assert!(c.info.contains("\"max_payload\":100,"), "{}", c.info);
    c.send("PUB x 150\r\n");
    c.expect_line("-ERR 'Maximum Payload Violation'");
    // A broken file is refused too, and the server keeps running.
    std::fs::write(&conf, "server_name: one\nmax_payload: {\n").unwrap();
    s.signal("HUP");
    wait_for("parse error", || {
        s.log_text()
            .contains("Failed to reload server configuration")
    });
    Client::quiet(s.port).flush();
}

#[test]
fn reload_applies_limits_to_existing_connections() {
    let dir = TempDir::new("reload");
    let conf = dir.path.join("srv.conf");
    std::fs::write(&conf, "max_payload: 100\n").unwrap();
    let pid_file = dir.path.join("srv.pid");
    let s = ServerProcess::start(&[
        "-c",
        conf.to_str().unwrap(),
        "-P",
        pid_file.to_str().unwrap(),
    ]);
    let mut c = Client::quiet(s.port);
    std::fs::write(&conf, "max_payload: 1000\n").unwrap();
    // Through -sl and the pid file this time.
    let (code, _, err) = run_rnatsd(&["-sl", &format!("reload={}", pid_file.display())]);
    assert_eq!(code, 0, "{err}");
    wait_for("reload", || {
        s.log_text().contains("Reloaded server configuration")
    });
    c.send(&format!("SUB x 1\r\nPUB x 500\r\n{}\r\n", "z".repeat(500)));
    assert_eq!(c.read_msg().3.len(), 500);
    assert!(Client::connect(s.port)
        .info
        .contains("\"max_payload\":1000,"));
}

#[test]
fn sigusr1_reopens_the_log_file() {
    let dir = TempDir::new("reopen");
    let log = dir.path.join("srv.log");
    let s = ServerProcess::start(&["-l", log.to_str().unwrap(), "-DV"]);
    let rotated = dir.path.join("srv.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    s.signal("USR1");
    wait_for("a new log file", || log.exists());
    Client::connect_with(s.port, r#"{"verbose":false,"name":"after-rotation"}"#);
    wait_for("new lines in the new file", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("after-rotation")
    });
    assert!(!std::fs::read_to_string(&rotated)
        .unwrap()
        .contains("after-rotation"));
}

#[test]
fn lame_duck_mode_drains_clients_then_exits() {
    let dir = TempDir::new("ldm");
    let conf = dir.path.join("srv.conf");
    std::fs::write(
        &conf,
        "lame_duck_duration: \"1s\"\nlame_duck_grace_period: \"200ms\"\n",
    )
    .unwrap();
    let mut s = ServerProcess::start(&["-c", conf.to_str().unwrap()]);
    let mut clients: Vec<Client> = (0..5).map(|_| Client::quiet(s.port)).collect();
    s.signal("USR2");
    for c in clients.iter_mut() {
        let line = c.read_line();
        assert!(
            line.starts_with("INFO ") && line.contains("\"ldm\":true"),
            "{line}"
        );
    }
    // No new clients.
    wait_for("the listener to close", || {
        std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err()
    });
    for c in clients.iter_mut() {
        c.expect_closed();
    }
    let st = s
        .wait_exit(Duration::from_secs(10))
        .expect("server exits after lame duck");
    assert!(st.success());
    assert!(
        s.log_text().contains("Entering lame duck mode"),
        "{}",
        s.log_text()
    );
}

#[test]
fn signal_command_errors() {
    let (code, _, err) = run_rnatsd(&["-sl", "bogus=1"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown signal"), "{err}");
    let (code, _, err) = run_rnatsd(&["--signal", "reload=/nonexistent/x.pid"]);
    assert_eq!(code, 1);
    assert!(err.contains("could not read a pid"), "{err}");
}
