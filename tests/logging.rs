//! Log outputs: a file rotated at log_size_limit, a remote syslog over UDP and over a unix
//! datagram socket (the same writer the local syslog uses), set by flags or the configuration.

mod common;

use common::{Client, ServerProcess, TempDir};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

#[test]
fn log_file_rotates_at_the_size_limit() {
    let dir = TempDir::new("rotate");
    let log = dir.path.join("srv.log");
    let s = ServerProcess::start(&[
        "-l",
        log.to_str().unwrap(),
        "--log_size_limit",
        "4000",
        "-DV",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let rotated = loop {
        let mut c = Client::quiet(s.port);
        c.send("SUB some.subject.to.trace 1\r\nPUB some.subject.to.trace 5\r\nhello\r\n");
        c.read_msg();
        let backups: Vec<_> = std::fs::read_dir(&dir.path)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("srv.log."))
            .collect();
        if !backups.is_empty() {
            break backups;
        }
        assert!(Instant::now() < deadline, "no rotation");
    };
    // `srv.log.2006.01.02.15.04.05.999999999`
    let suffix = rotated[0].strip_prefix("srv.log.").unwrap();
    assert_eq!(suffix.split('.').count(), 7, "{suffix}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Rotated log, backup saved as"), "{text}");
    let backup_len = std::fs::metadata(dir.path.join(&rotated[0])).unwrap().len();
    assert!(backup_len >= 4000 && backup_len < 8000, "{backup_len}");
}

fn recv_until(mut recv: impl FnMut() -> Option<String>, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while !got.iter().any(|l: &String| l.contains(want)) {
        assert!(Instant::now() < deadline, "no {want:?} in {got:?}");
        if let Some(l) = recv() {
            got.push(l);
        }
    }
    got
}

#[test]
fn remote_syslog_over_udp() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let url = format!("udp://{}", sock.local_addr().unwrap());
    let s = ServerProcess::start(&["-r", &url, "-D"]);
    let mut buf = [0u8; 2048];
    let got = recv_until(
        || {
            sock.recv(&mut buf)
                .ok()
                .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
        },
        "Server is ready",
    );
    let ready = got.iter().find(|l| l.contains("Server is ready")).unwrap();
    // <daemon.notice> timestamp host rnatsd[pid]: message
    assert!(ready.starts_with("<29>"), "{ready}");
    assert!(
        ready.contains(&format!(" rnatsd[{}]: Server is ready", s.child.id())),
        "{ready}"
    );
    // Debug lines carry the debug severity.
    let mut c = Client::quiet(s.port);
    c.flush();
    let got = recv_until(
        || {
            sock.recv(&mut buf)
                .ok()
                .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
        },
        "Client connection created",
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("<31>") && l.contains("Client connection created")),
        "{got:?}"
    );
}

#[test]
fn syslog_over_a_unix_socket_from_the_config() {
    let dir = TempDir::new("syslog");
    let path = dir.path.join("log.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let conf = dir.path.join("srv.conf");
    std::fs::write(
        &conf,
        format!("remote_syslog: \"unix://{}\"\n", path.display()),
    )
    .unwrap();
    let _s = ServerProcess::start(&["-c", conf.to_str().unwrap()]);
    let mut buf = [0u8; 2048];
    recv_until(
        || {
            sock.recv(&mut buf)
                .ok()
                .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
        },
        "Listening for client connections",
    );
}

#[test]
fn bad_syslog_address_is_fatal() {
    let (code, _, err) = common::run_rnatsd(&["-r", "carrier-pigeon://x"]);
    assert_eq!(code, 1);
    assert!(err.contains("bad syslog address"), "{err}");
}
