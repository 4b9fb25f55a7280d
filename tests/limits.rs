//! Black-box tests of limits and the errors and closes they cause, with nats-server's texts:
//! max_payload, max_control_line, max_connections, ping_interval/ping_max (stale connections),
//! max_pending and write_deadline (slow consumers).

mod common;

use common::{Client, ServerProcess};
use std::io::Read;
use std::time::{Duration, Instant};

#[test]
fn max_payload_violation() {
    let s = ServerProcess::start(&[]);
    let mut c = Client::quiet(s.port);
    c.send("PUB foo 1048577\r\n");
    c.expect_line("-ERR 'Maximum Payload Violation'");
    c.expect_closed();
    // Exactly the limit is fine (the payload is still to come, so the connection waits).
    let mut c = Client::quiet(s.port);
    c.send("PUB foo 1048576\r\n");
    c.send_bytes(&vec![b'x'; 1048576]);
    c.send("\r\n");
    c.flush();
}

#[test]
fn max_payload_is_configurable_and_advertised() {
    let s = ServerProcess::start(&["--max_payload", "100"]);
    let mut c = Client::quiet(s.port);
    assert!(c.info.contains("\"max_payload\":100,"), "{}", c.info);
    c.send("PUB foo 101\r\n");
    c.expect_line("-ERR 'Maximum Payload Violation'");
    c.expect_closed();
}

#[test]
fn max_control_line_exceeded() {
    let s = ServerProcess::start(&[]);
    let mut c = Client::quiet(s.port);
    c.send(&format!("SUB {} 1\r\n", "a".repeat(5000)));
    c.expect_line("-ERR 'maximum control line exceeded'");
    c.expect_closed();
    // A line split across writes is caught before it ends.
    let mut c = Client::quiet(s.port);
    c.send(&format!("PUB {}", "b".repeat(3000)));
    c.flush_nowait();
    c.send(&"b".repeat(3000));
    c.expect_line("-ERR 'maximum control line exceeded'");
    c.expect_closed();
    // Up to the limit is fine.
    let mut c = Client::quiet(s.port);
    c.send(&format!("SUB {} 1\r\nPING\r\n", "a".repeat(4000)));
    c.expect_line("PONG");
}

#[test]
fn max_connections_exceeded() {
    let s = ServerProcess::start(&["--max_connections", "2"]);
    // The harness's readiness probe may still hold a slot for a moment: retry until admitted.
    let admitted = || {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut c = Client::connect(s.port);
            c.send("PING\r\n");
            if c.try_read_line().as_deref() == Some("PONG") {
                return c;
            }
            assert!(Instant::now() < deadline, "never admitted");
        }
    };
    let _a = admitted();
    let _b = admitted();
    let mut c = Client::connect(s.port);
    c.expect_line("-ERR 'maximum connections exceeded'");
    c.expect_closed();
    // Closing one frees a slot.
    drop(_a);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Client::connect(s.port);
        c.send("PING\r\n");
        match c.try_read_line() {
            Some(l) if l == "PONG" => break,
            other => {
                assert_eq!(
                    other.as_deref(),
                    Some("-ERR 'maximum connections exceeded'")
                );
                assert!(Instant::now() < deadline, "slot never freed");
            }
        }
    }
}

#[test]
fn stale_connection_after_unanswered_pings() {
    let s = ServerProcess::start(&["--ping_interval", "100ms", "--ping_max", "2"]);
    let mut c = Client::connect(s.port);
    c.send("CONNECT {\"verbose\":false}\r\n");
    let start = Instant::now();
    c.expect_line("PING");
    c.expect_line("PING");
    c.expect_line("-ERR 'Stale Connection'");
    c.expect_closed();
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn answered_pings_keep_the_connection() {
    let s = ServerProcess::start(&["--ping_interval", "100ms", "--ping_max", "1"]);
    let mut c = Client::connect(s.port);
    c.send("CONNECT {\"verbose\":false}\r\n");
    for _ in 0..5 {
        c.expect_line("PING");
        c.send("PONG\r\n");
    }
    c.flush();
}

#[test]
fn slow_consumer_over_max_pending_is_closed() {
    let s = ServerProcess::start(&["--max_pending", "65536", "--max_payload", "16384", "-D"]);
    let mut slow = Client::quiet(s.port);
    slow.send("SUB flood 1\r\n");
    slow.flush();
    // The slow client never reads; the publisher floods until the server gives up on it.
    let mut publ = Client::quiet(s.port);
    let payload = "x".repeat(8192);
    let chunk: String = (0..16)
        .map(|_| format!("PUB flood {}\r\n{}\r\n", payload.len(), payload))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.log_text().contains("Slow Consumer Detected") {
        assert!(
            Instant::now() < deadline,
            "no slow consumer detected:\n{}",
            s.log_text()
        );
        publ.send(&chunk);
        publ.flush();
    }
    // The publisher is unaffected and the slow consumer's socket was closed.
    publ.flush();
    let bytes = slow.read_until_close(Duration::from_secs(5));
    assert!(bytes.len() < 64 * 1024 * 1024);
    assert!(
        s.log_text().contains("Slow Consumer (Pending Bytes)"),
        "{}",
        s.log_text()
    );
}

#[test]
fn write_deadline_closes_a_stuck_reader() {
    let s = ServerProcess::start(&["--write_deadline", "300ms", "-D"]);
    let mut slow = Client::quiet(s.port);
    slow.send("SUB flood 1\r\n");
    slow.flush();
    let mut publ = Client::quiet(s.port);
    let payload = "y".repeat(16384);
    let chunk: String = (0..8)
        .map(|_| format!("PUB flood {}\r\n{}\r\n", payload.len(), payload))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.log_text().contains("Slow Consumer (Write Deadline)") {
        assert!(
            Instant::now() < deadline,
            "write deadline never hit:\n{}",
            s.log_text()
        );
        publ.send(&chunk);
        publ.flush();
        // Pace the flood (about 13 MB/s) so the write deadline, not max_pending, trips first.
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!s.log_text().contains("MaxPending"), "{}", s.log_text());
    // Reading now finds the socket closed once the buffered bytes are drained.
    let mut buf = vec![0u8; 1 << 16];
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    loop {
        match slow.stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
