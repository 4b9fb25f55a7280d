//! Black-box tests of the client protocol against the built binary over raw TCP: INFO, CONNECT
//! options, PUB/HPUB/SUB/UNSUB, wildcards, queue groups, auto-unsubscribe, no-responders,
//! and split writes. Expected bytes are what nats-server 2.9.10 sends for the same input.

mod common;

use common::{Client, ServerProcess};
use std::collections::HashMap;

fn server() -> ServerProcess {
    ServerProcess::start(&[])
}

#[test]
fn info_has_the_go_fields() {
    let s = server();
    let c = Client::connect(s.port);
    let json: serde_json::Value =
        serde_json::from_str(c.info.strip_prefix("INFO ").unwrap()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    for k in [
        "server_id",
        "server_name",
        "version",
        "proto",
        "go",
        "host",
        "port",
        "headers",
        "max_payload",
        "client_id",
        "client_ip",
    ] {
        assert!(keys.contains(&k), "INFO lacks {k}: {}", c.info);
    }
    assert_eq!(json["proto"], 1);
    assert_eq!(json["headers"], true);
    assert_eq!(json["max_payload"], 1048576);
    assert_eq!(json["port"], s.port);
    assert_eq!(json["client_ip"], "127.0.0.1");
    assert_eq!(json["version"], "2.9.10");
    let id = json["server_id"].as_str().unwrap();
    assert!(id.len() == 56 && id.starts_with('N'));
    // Client ids are distinct per connection.
    let c2 = Client::connect(s.port);
    let json2: serde_json::Value =
        serde_json::from_str(c2.info.strip_prefix("INFO ").unwrap()).unwrap();
    assert_ne!(json["client_id"], json2["client_id"]);
}

#[test]
fn ping_pong_in_any_case_and_with_trailing_junk() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("PING\r\nping\r\nPiNg\nPINGX\r\nPING foo\r\n");
    for _ in 0..5 {
        c.expect_line("PONG");
    }
}

#[test]
fn verbose_is_on_until_connect_turns_it_off() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("SUB foo 1\r\n");
    c.expect_line("+OK");
    c.send("CONNECT {\"verbose\":false}\r\nSUB bar 2\r\nPING\r\n");
    c.expect_line("PONG");
    c.send("CONNECT {\"verbose\":true}\r\nPUB foo 2\r\nhi\r\n");
    c.expect_line("+OK");
    c.expect_line("+OK");
    let (subject, sid, reply, payload) = c.read_msg();
    assert_eq!(
        (subject.as_str(), sid.as_str(), reply, payload.as_slice()),
        ("foo", "1", None, &b"hi"[..])
    );
}

#[test]
fn pub_sub_with_reply_and_zero_length() {
    let s = server();
    let mut sub = Client::quiet(s.port);
    let mut publ = Client::quiet(s.port);
    sub.send("SUB foo 7\r\n");
    sub.flush();
    publ.send("PUB foo inbox.1 5\r\nhello\r\nPUB foo 0\r\n\r\n");
    publ.flush();
    let m = sub.read_msg();
    assert_eq!(
        m,
        (
            "foo".into(),
            "7".into(),
            Some("inbox.1".into()),
            b"hello".to_vec()
        )
    );
    let m = sub.read_msg();
    assert_eq!(m, ("foo".into(), "7".into(), None, vec![]));
}

#[test]
fn tabs_and_multiple_spaces_separate_arguments() {
    let s = server();
    let mut c = Client::quiet(s.port);
    c.send("SUB  foo \t 1\r\nPUB\tfoo  \t1 \r\na\r\n");
    let m = c.read_msg();
    assert_eq!(m.3, b"a");
}

#[test]
fn wildcards_match_as_in_nats_server() {
    let s = server();
    let mut c = Client::quiet(s.port);
    c.send("SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB *.bar 4\r\nSUB foo 5\r\nPING\r\n");
    c.expect_line("PONG");
    let cases: &[(&str, &[&str])] = &[
        ("foo.bar", &["1", "2", "3", "4"]),
        ("foo", &["3", "5"]),
        ("foo.bar.baz", &["2", "3"]),
        ("x.bar", &["3", "4"]),
        ("x", &["3"]),
    ];
    for (subject, want) in cases {
        c.send(&format!("PUB {subject} 1\r\nx\r\nPING\r\n"));
        let mut got = Vec::new();
        loop {
            let line = c.read_line();
            if line == "PONG" {
                break;
            }
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts[0], "MSG");
            assert_eq!(parts[1], *subject);
            got.push(parts[2].to_string());
            assert_eq!(c.read_line(), "x");
        }
        got.sort();
        assert_eq!(got, *want, "subject {subject}");
    }
}

#[test]
fn invalid_subjects_are_refused_without_closing() {
    let s = server();
    let mut c = Client::quiet(s.port);
    for bad in ["foo..bar", "foo.>.bar", ".foo", "foo."] {
        c.send(&format!("SUB {bad} 1\r\n"));
        c.expect_line("-ERR 'Invalid Subject'");
    }
    c.flush();
}

#[test]
fn pedantic_publish_to_wildcard_is_reported_but_delivered() {
    let s = server();
    let mut c = Client::connect_with(s.port, r#"{"verbose":false,"pedantic":true}"#);
    c.send("SUB foo.* 1\r\nPUB foo.* 1\r\nx\r\n");
    c.expect_line("-ERR 'Invalid Publish Subject'");
    assert_eq!(c.read_msg().0, "foo.*");
    c.flush();
    let mut c = Client::quiet(s.port);
    c.send("SUB foo.* 1\r\nPUB foo.* 1\r\nx\r\n");
    assert_eq!(c.read_msg().0, "foo.*");
}

#[test]
fn echo_false_hides_own_messages() {
    let s = server();
    let mut a = Client::connect_with(s.port, r#"{"verbose":false,"echo":false}"#);
    let mut b = Client::quiet(s.port);
    a.send("SUB foo 1\r\n");
    a.flush();
    b.send("SUB foo 1\r\n");
    b.flush();
    a.send("PUB foo 4\r\nfrom\r\n");
    a.flush();
    // b hears a; a does not hear itself.
    assert_eq!(b.read_msg().3, b"from");
    b.send("PUB foo 1\r\nb\r\n");
    assert_eq!(a.read_msg().3, b"b");
    assert_eq!(b.read_msg().3, b"b");
    a.flush();
    b.flush();
}

#[test]
fn queue_groups_deliver_once_and_spread() {
    let s = server();
    let mut members: Vec<Client> = (0..3).map(|_| Client::quiet(s.port)).collect();
    for m in members.iter_mut() {
        m.send("SUB work workers 1\r\n");
        m.flush();
    }
    let mut plain = Client::quiet(s.port);
    plain.send("SUB work 9\r\n");
    plain.flush();
    let mut publ = Client::quiet(s.port);
    let n = 300;
    for i in 0..n {
        publ.send(&format!("PUB work {}\r\n{}\r\n", i.to_string().len(), i));
    }
    publ.flush();
    // The plain subscriber gets every message.
    for i in 0..n {
        assert_eq!(plain.read_msg().3, i.to_string().as_bytes());
    }
    // Each member gets a share; together exactly n, no duplicates.
    let mut seen = HashMap::new();
    let mut counts = Vec::new();
    for m in members.iter_mut() {
        m.send("PING\r\n");
        let mut count = 0;
        loop {
            let line = m.read_line();
            if line == "PONG" {
                break;
            }
            let size: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
            let payload = m.read_exact(size + 2);
            *seen.entry(payload).or_insert(0) += 1;
            count += 1;
        }
        counts.push(count);
    }
    assert_eq!(counts.iter().sum::<i32>(), n);
    assert!(seen.values().all(|&v| v == 1));
    assert!(
        counts.iter().all(|&c| c > 30),
        "unbalanced queue delivery {counts:?}"
    );
}

#[test]
fn queue_group_with_echo_false_skips_the_publisher() {
    let s = server();
    let mut a = Client::connect_with(s.port, r#"{"verbose":false,"echo":false}"#);
    a.send("SUB foo q 1\r\nPUB foo 1\r\na\r\nPING\r\n");
    a.expect_line("PONG");
}

#[test]
fn auto_unsubscribe_after_max() {
    let s = server();
    let mut c = Client::quiet(s.port);
    c.send("SUB foo 1\r\nUNSUB 1 2\r\n");
    for p in ["a", "b", "c", "d"] {
        c.send(&format!("PUB foo 1\r\n{p}\r\n"));
    }
    c.send("PING\r\n");
    assert_eq!(c.read_msg().3, b"a");
    assert_eq!(c.read_msg().3, b"b");
    c.expect_line("PONG");
    // The sid is free again: a new SUB with it works.
    c.send("SUB foo 1\r\nPUB foo 1\r\ne\r\n");
    assert_eq!(c.read_msg().3, b"e");
}

#[test]
fn unsub_max_zero_or_already_reached_removes_at_once() {
    let s = server();
    let mut c = Client::quiet(s.port);
    c.send("SUB foo 1\r\nUNSUB 1 0\r\nPUB foo 1\r\na\r\nPING\r\n");
    c.expect_line("PONG");
    c.send("SUB foo 2\r\nPUB foo 1\r\nb\r\nUNSUB 2 1\r\nPUB foo 1\r\nc\r\nPING\r\n");
    assert_eq!(c.read_msg().3, b"b");
    c.expect_line("PONG");
    // Unknown sids are fine.
    c.send("UNSUB 99\r\nPING\r\n");
    c.expect_line("PONG");
}

#[test]
fn auto_unsubscribe_across_clients() {
    let s = server();
    let mut sub = Client::quiet(s.port);
    sub.send("SUB req.> 1\r\nUNSUB 1 1\r\n");
    sub.flush();
    let mut publ = Client::quiet(s.port);
    publ.send("PUB req.a 1\r\n1\r\nPUB req.b 1\r\n2\r\n");
    publ.flush();
    assert_eq!(sub.read_msg().3, b"1");
    sub.flush();
}

#[test]
fn duplicate_sid_keeps_the_first_subscription() {
    let s = server();
    let mut c = Client::quiet(s.port);
    c.send("SUB foo 1\r\nSUB bar 1\r\nPUB bar 1\r\nb\r\nPUB foo 1\r\nf\r\nPING\r\n");
    assert_eq!(c.read_msg().0, "foo");
    c.expect_line("PONG");
}

#[test]
fn headers_need_negotiation() {
    let s = server();
    let mut c = Client::connect_with(s.port, r#"{"verbose":false}"#);
    c.send("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    c.expect_closed();
}

#[test]
fn headers_delivered_as_hmsg_or_stripped() {
    let s = server();
    let mut h = Client::quiet(s.port);
    let mut plain = Client::connect_with(s.port, r#"{"verbose":false}"#);
    h.send("SUB foo 1\r\n");
    h.flush();
    plain.send("SUB foo 2\r\n");
    plain.flush();
    let mut p = Client::quiet(s.port);
    p.send("HPUB foo rep 20 22\r\nNATS/1.0\r\nA: Bee\r\n\r\nhi\r\n");
    p.flush();
    assert_eq!(h.read_line(), "HMSG foo 1 rep 20 22");
    assert_eq!(h.read_exact(24), b"NATS/1.0\r\nA: Bee\r\n\r\nhi\r\n");
    // A subscriber that did not ask for headers gets the payload alone.
    assert_eq!(
        plain.read_msg(),
        ("foo".into(), "2".into(), Some("rep".into()), b"hi".to_vec())
    );
    // A header size of zero is a plain message.
    p.send("HPUB foo 0 2\r\nok\r\n");
    p.flush();
    assert_eq!(h.read_msg().3, b"ok");
}

#[test]
fn no_responders_status() {
    let s = server();
    let mut c = Client::connect_with(
        s.port,
        r#"{"verbose":false,"headers":true,"no_responders":true}"#,
    );
    c.send("SUB _INBOX.x 1\r\nPUB svc _INBOX.x 2\r\nhi\r\n");
    assert_eq!(c.read_line(), "HMSG _INBOX.x 1 16 16");
    assert_eq!(c.read_exact(18), b"NATS/1.0 503\r\n\r\n\r\n");
    c.flush();
    // With a responder there is no status.
    let mut r = Client::quiet(s.port);
    r.send("SUB svc 1\r\n");
    r.flush();
    c.send("PUB svc _INBOX.x 2\r\nhi\r\n");
    c.flush();
    assert_eq!(r.read_msg().2.as_deref(), Some("_INBOX.x"));
    c.flush();
}

#[test]
fn no_responders_requires_headers() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("CONNECT {\"no_responders\":true}\r\n");
    c.expect_line("-ERR 'no responders requires headers support'");
    c.expect_closed();
}

#[test]
fn connect_protocol_and_bad_json() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("CONNECT {\"protocol\":2}\r\n");
    c.expect_line("-ERR 'invalid client protocol'");
    c.expect_closed();
    for bad in ["{bad", "{\"verbose\":\"x\"}", ""] {
        let mut c = Client::connect(s.port);
        c.send(&format!("CONNECT {bad}\r\n"));
        c.expect_closed();
    }
    let mut c = Client::connect(s.port);
    c.send("CONNECT{\"verbose\":false,\"unknown_field\":[1,2]}\r\nPING\r\n");
    c.expect_line("PONG");
}

#[test]
fn client_ok_info_and_err_ops() {
    let s = server();
    let mut c = Client::quiet(s.port);
    c.send("+OK\r\nINFO {}\r\nPING\r\n");
    c.expect_line("PONG");
    c.send("-ERR 'oops'\r\n");
    c.expect_closed();
}

#[test]
fn unknown_operation_closes() {
    let s = server();
    for bad in [
        "FOO\r\n",
        "MSG foo 1 2\r\nhi\r\n",
        "PUB\r\n",
        "UNSUB\r\n",
        "\r\n",
    ] {
        let mut c = Client::connect(s.port);
        c.send(bad);
        c.expect_line("-ERR 'Unknown Protocol Operation'");
        c.expect_closed();
    }
}

#[test]
fn payload_must_be_followed_by_crlf() {
    let s = server();
    for bad in ["PUB foo 5\r\nhelloXX", "PUB foo 1\r\na\nPING\r\n"] {
        let mut c = Client::quiet(s.port);
        c.send(bad);
        c.expect_line("-ERR 'Unknown Protocol Operation'");
        c.expect_closed();
    }
}

#[test]
fn bad_arguments_close_silently() {
    let s = server();
    for bad in [
        "PUB foo\r\n",
        "PUB foo -1\r\n",
        "PUB foo abc\r\n",
        "SUB foo\r\n",
        "SUB a b c d\r\n",
        "UNSUB 1 2 3\r\n",
    ] {
        let mut c = Client::connect(s.port);
        c.send(bad);
        c.expect_closed();
    }
}

#[test]
fn bare_newlines_end_control_lines() {
    let s = server();
    let mut c = Client::connect(s.port);
    c.send("CONNECT {\"verbose\":false}\nSUB foo 1\nPUB foo 2\nhi\r\nPING\n");
    assert_eq!(c.read_msg().3, b"hi");
    c.expect_line("PONG");
}

#[test]
fn byte_at_a_time_writes_parse_the_same() {
    let s = server();
    let mut c = Client::connect(s.port);
    let session = "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB foo.* q 1\r\nPUB foo.bar reply 5\r\nhello\r\n\
HPUB foo.x 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n";
    for b in session.as_bytes() {
        c.send_bytes(&[*b]);
    }
    assert_eq!(
        c.read_msg(),
        (
            "foo.bar".into(),
            "1".into(),
            Some("reply".into()),
            b"hello".to_vec()
        )
    );
    assert_eq!(c.read_line(), "HMSG foo.x 1 12 14");
    assert_eq!(c.read_exact(16), b"NATS/1.0\r\n\r\nhi\r\n");
    c.expect_line("PONG");
}

#[test]
fn large_payload_round_trip() {
    let s = server();
    let mut c = Client::quiet(s.port);
    c.send("SUB big 1\r\n");
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    c.send(&format!("PUB big {}\r\n", payload.len()));
    c.send_bytes(&payload);
    c.send("\r\n");
    let m = c.read_msg();
    assert_eq!(m.3.len(), payload.len());
    assert!(m.3 == payload);
    c.flush();
}

#[test]
fn many_messages_arrive_in_order() {
    let s = server();
    let mut sub = Client::quiet(s.port);
    sub.send("SUB seq 1\r\n");
    sub.flush();
    let mut publ = Client::quiet(s.port);
    let n = 20_000;
    let mut batch = String::new();
    for i in 0..n {
        let p = i.to_string();
        batch.push_str(&format!("PUB seq {}\r\n{}\r\n", p.len(), p));
        if batch.len() > 32 * 1024 {
            publ.send(&batch);
            batch.clear();
        }
    }
    publ.send(&batch);
    publ.flush();
    for i in 0..n {
        assert_eq!(sub.read_msg().3, i.to_string().as_bytes());
    }
    sub.flush();
}

#[test]
fn one_worker_serves_everything() {
    let s = ServerProcess::start(&["--workers", "1"]);
    let mut a = Client::quiet(s.port);
    let mut b = Client::quiet(s.port);
    a.send("SUB x 1\r\n");
    a.flush();
    b.send("PUB x 2\r\nok\r\n");
    b.flush();
    assert_eq!(a.read_msg().3, b"ok");
}
