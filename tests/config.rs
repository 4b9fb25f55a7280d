//! Configuration files: `-c` to run with one, `-t` to check one, flags overriding the file,
//! includes, variables, and every error reported at once with its file, line and column.

mod common;

use common::{free_port, rnatsd_bin, Client, ServerProcess, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

fn check(conf: &std::path::Path) -> (i32, String) {
    let out = Command::new(rnatsd_bin())
        .arg("-t")
        .arg("-c")
        .arg(conf)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn test_flag_accepts_a_valid_file() {
    let dir = TempDir::new("conf");
    let f = dir.path.join("ok.conf");
    std::fs::write(
        &f,
        "# sample\nport: 4222\nping_interval: \"30s\"\nmax_payload: 512KB\n",
    )
    .unwrap();
    let (code, err) = check(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err.trim(),
        format!("rnatsd: configuration file {} is valid", f.display())
    );
}

#[test]
fn test_flag_reports_every_error_with_its_place() {
    let dir = TempDir::new("conf");
    let f = dir.path.join("bad.conf");
    std::fs::write(
        &f,
        "port: 4222\nfoo_unknown: 1\ngateway {\n  name: A\n}\nmax_payload: \"big\"\n",
    )
    .unwrap();
    let (code, err) = check(&f);
    assert_eq!(code, 1);
    let name = f.display().to_string();
    assert!(err.starts_with("rnatsd: "), "{err}");
    assert!(
        err.contains(&format!("{name}:2:1: unknown field \"foo_unknown\"")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}:3:1: \"gateway\" is not yet supported")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}:6:14: \"max_payload\" must be an integer")),
        "{err}"
    );
    // A syntax error names line and column.
    std::fs::write(&f, "port: 4222\nlisten {\n").unwrap();
    let (code, err) = check(&f);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{name}:3:1: Unexpected EOF processing map.")),
        "{err}"
    );
    // An integer duration is a warning, which -t counts as a failure (as nats-server does).
    std::fs::write(&f, "ping_interval: 30\n").unwrap();
    let (code, err) = check(&f);
    assert_eq!(code, 1);
    assert!(
        err.contains("ping_interval should be converted to a duration"),
        "{err}"
    );
}

#[test]
fn server_runs_with_the_file_and_flags_override_it() {
    let dir = TempDir::new("conf");
    let f = dir.path.join("srv.conf");
    std::fs::write(
        &f,
        "port: 1 # overridden by -p\nserver_name: from-file\nmax_payload: 2KB\nping_interval: \"100ms\"\nping_max: 1\n",
    )
    .unwrap();
    let s = ServerProcess::start(&["-c", f.to_str().unwrap(), "--max_payload", "3000"]);
    let mut c = Client::connect(s.port);
    assert!(
        c.info.contains("\"server_name\":\"from-file\""),
        "{}",
        c.info
    );
    assert!(c.info.contains("\"max_payload\":3000,"), "{}", c.info);
    // ping settings come from the file: one unanswered PING, then the close.
    c.send("CONNECT {\"verbose\":false}\r\n");
    c.expect_line("PING");
    c.expect_line("-ERR 'Stale Connection'");
}

#[test]
fn port_listen_includes_and_variables_from_the_file() {
    let dir = TempDir::new("conf");
    let port = free_port();
    std::fs::create_dir_all(dir.path.join("inc")).unwrap();
    std::fs::write(dir.path.join("inc/limits.conf"), "max_payload: $LIMIT\n").unwrap();
    std::fs::write(
        dir.path.join("main.conf"),
        format!("LIMIT: 1000\nlisten: 127.0.0.1:{port}\ninclude inc/limits.conf\nserver_name: $RNATSD_TEST_NAME\n"),
    )
    .unwrap();
    let mut child = Command::new(rnatsd_bin())
        .arg("-c")
        .arg(dir.path.join("main.conf"))
        .env("RNATSD_TEST_NAME", "env-name")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let c = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            drop(s);
            break Client::connect(port);
        }
        assert!(Instant::now() < deadline, "server never listened on {port}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(c.info.contains("\"max_payload\":1000,"), "{}", c.info);
    assert!(
        c.info.contains("\"server_name\":\"env-name\""),
        "{}",
        c.info
    );
}

#[test]
fn missing_file_and_missing_variable() {
    let dir = TempDir::new("conf");
    let (code, err) = check(&dir.path.join("nope.conf"));
    assert_eq!(code, 1);
    assert!(err.contains("nope.conf"), "{err}");
    let f = dir.path.join("var.conf");
    std::fs::write(&f, "port: $RNATSD_SURELY_UNSET_VARIABLE\n").unwrap();
    let (code, err) = check(&f);
    assert_eq!(code, 1);
    assert!(
        err.contains("variable reference for 'RNATSD_SURELY_UNSET_VARIABLE' can not be found"),
        "{err}"
    );
}

#[test]
fn shipped_sample_configs_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "conf") {
            let (code, err) = check(&p);
            assert_eq!(code, 0, "{}: {err}", p.display());
            n += 1;
        }
    }
    assert!(n >= 3, "only {n} sample configs");
}

#[test]
fn cluster_and_monitoring_blocks_are_checked_and_announced() {
    let dir = TempDir::new("conf");
    let f = dir.path.join("c.conf");
    let mport = free_port();
    std::fs::write(
        &f,
        format!("http: 127.0.0.1:{mport}\ncluster {{\n name: east\n listen: 127.0.0.1:-1\n routes: [nats-route://127.0.0.1:6223]\n}}\n"),
    )
    .unwrap();
    let (code, err) = check(&f);
    assert_eq!(code, 0, "{err}");
    let s = ServerProcess::start(&["-c", f.to_str().unwrap()]);
    let log = s.log_text();
    assert!(log.contains("[INF] Cluster name is east"), "{log}");
    assert!(
        log.contains("[INF] Listening for route connections on 127.0.0.1:"),
        "{log}"
    );
    assert!(
        log.contains(&format!("[INF] Starting http monitor on 127.0.0.1:{mport}")),
        "{log}"
    );
    std::fs::write(&f, "cluster {\n routes: [\"ftp://x\"]\n colour: red\n}\n").unwrap();
    let (code, err) = check(&f);
    assert_eq!(code, 1);
    assert!(
        err.contains("error parsing route url") && err.contains("unknown field \"colour\""),
        "{err}"
    );
}
