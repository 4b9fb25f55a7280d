//! Accounts: users in `accounts {}` get their own subject space; the global account `$G` holds
//! everyone else; no_auth_user may name an account user.

mod common;

use common::{run_rnatsd, Client, ServerProcess, TempDir};

const CONF: &str = "accounts {\n\
  A: { users: [ {user: a1, password: p}, {user: a2, password: p} ] }\n\
  B: { users: [ {user: b1, password: p, permissions: {publish: \"foo\"}} ] }\n\
}\n\
authorization { users: [ {user: g, password: p} ] }\n";

fn server(conf: &str) -> (ServerProcess, TempDir) {
    let dir = TempDir::new("acc");
    let f = dir.path.join("acc.conf");
    std::fs::write(&f, conf).unwrap();
    (ServerProcess::start(&["-c", f.to_str().unwrap()]), dir)
}

fn login(port: u16, user: &str) -> Client {
    Client::connect_with(
        port,
        &format!(r#"{{"verbose":false,"user":"{user}","pass":"p"}}"#),
    )
}

#[test]
fn accounts_are_isolated() {
    let (s, _d) = server(CONF);
    let mut a1 = login(s.port, "a1");
    let mut a2 = login(s.port, "a2");
    let mut b1 = login(s.port, "b1");
    let mut g = login(s.port, "g");
    for c in [&mut a2, &mut b1, &mut g] {
        c.send("SUB foo 1\r\nSUB > 2\r\nSUB foo q 3\r\n");
        c.flush();
    }
    a1.send("PUB foo 2\r\nhi\r\n");
    a1.flush();
    let mut got = vec![a2.read_msg(), a2.read_msg(), a2.read_msg()];
    got.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(
        got.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    // Nothing crossed into B or $G.
    b1.flush();
    g.flush();
    // B's own traffic stays in B.
    b1.send("PUB foo 1\r\nb\r\nPING\r\n");
    let mut got: Vec<String> = (0..3).map(|_| b1.read_msg().1).collect();
    got.sort();
    assert_eq!(got, ["1", "2", "3"]);
    b1.expect_line("PONG");
    a2.flush();
    g.flush();
    // Permissions still apply inside an account.
    b1.send("PUB bar 1\r\nx\r\nPING\r\n");
    b1.expect_line("-ERR 'Permissions Violation for Publish to \"bar\"'");
    b1.expect_line("PONG");
}

#[test]
fn no_auth_user_can_live_in_an_account() {
    let (s, _d) = server(&format!("{CONF}no_auth_user: a2\n"));
    let mut anon = Client::quiet(s.port);
    anon.send("SUB foo 1\r\n");
    anon.flush();
    let mut a1 = login(s.port, "a1");
    a1.send("PUB foo 3\r\nfor\r\n");
    a1.flush();
    assert_eq!(anon.read_msg().3, b"for");
    let mut g = login(s.port, "g");
    g.send("PUB foo 3\r\nnot\r\n");
    g.flush();
    anon.flush();
}

const LINKS: &str = "accounts {\n\
  A: { users: [{user: a, password: p}], exports: [ {stream: \"news.>\"}, {service: \"help.>\"}, {stream: \"private.>\", accounts: [C]} ] }\n\
  B: { users: [{user: b, password: p}], imports: [ {stream: {account: A, subject: \"news.>\"}, prefix: \"a\"}, {service: {account: A, subject: \"help.me\"}, to: \"ahelp\"} ] }\n\
  C: { users: [{user: c, password: p}], imports: [ {stream: {account: A, subject: \"news.sports\"}}, {stream: {account: A, subject: \"private.>\"}} ] }\n\
}\n";

#[test]
fn stream_imports_carry_messages_across_with_their_prefix() {
    let (s, _d) = server(LINKS);
    let mut a = Client::connect_with(s.port, r#"{"verbose":false,"user":"a","pass":"p"}"#);
    let mut b = Client::connect_with(s.port, r#"{"verbose":false,"user":"b","pass":"p"}"#);
    let mut c = Client::connect_with(s.port, r#"{"verbose":false,"user":"c","pass":"p"}"#);
    b.send("SUB a.news.> 1\r\nSUB news.> 2\r\n");
    b.flush();
    c.send("SUB news.> 1\r\nSUB private.> 2\r\n");
    c.flush();
    a.send("PUB news.sports 2\r\nhi\r\nPUB news.weather 2\r\nwx\r\nPUB private.x 2\r\npx\r\n");
    a.flush();
    // B gets news under its prefix, and only there; no private stream (not imported).
    assert_eq!(
        b.read_msg(),
        ("a.news.sports".into(), "1".into(), None, b"hi".to_vec())
    );
    assert_eq!(
        b.read_msg(),
        ("a.news.weather".into(), "1".into(), None, b"wx".to_vec())
    );
    b.flush();
    // C imported one literal subject and the private stream it was allowed.
    assert_eq!(
        c.read_msg(),
        ("news.sports".into(), "1".into(), None, b"hi".to_vec())
    );
    assert_eq!(
        c.read_msg(),
        ("private.x".into(), "2".into(), None, b"px".to_vec())
    );
    c.flush();
}

#[test]
fn service_imports_route_requests_and_one_reply() {
    let (s, _d) = server(LINKS);
    let mut a = Client::connect_with(s.port, r#"{"verbose":false,"user":"a","pass":"p"}"#);
    let mut b = Client::connect_with(s.port, r#"{"verbose":false,"user":"b","pass":"p"}"#);
    a.send("SUB help.me 9\r\n");
    a.flush();
    b.send("SUB inbox.> 3\r\nPUB ahelp inbox.1 3\r\nreq\r\n");
    b.flush();
    let (subject, sid, reply, payload) = a.read_msg();
    assert_eq!(
        (subject.as_str(), sid.as_str(), payload.as_slice()),
        ("help.me", "9", &b"req"[..])
    );
    // The requester's reply subject is hidden behind one of the exporter's own.
    let reply = reply.expect("a reply subject");
    assert!(
        reply.starts_with("_R_.") && reply.len() == "_R_.dHxuwa.olIBdz".len(),
        "{reply}"
    );
    a.send(&format!(
        "PUB {reply} 3\r\nans\r\nPUB {reply} 4\r\nans2\r\n"
    ));
    a.flush();
    assert_eq!(
        b.read_msg(),
        ("inbox.1".into(), "3".into(), None, b"ans".to_vec())
    );
    // Only one reply crosses; publishing to the service's real name from B goes nowhere.
    b.send("PUB help.me inbox.2 1\r\nx\r\n");
    b.flush();
    a.flush();
}

#[test]
fn imports_must_be_exported_to_the_importer() {
    let dir = TempDir::new("acc");
    let f = dir.path.join("x.conf");
    std::fs::write(
        &f,
        "accounts {\n A: { exports: [ {stream: \"foo.>\", accounts: [C]} ] }\n B: { imports: [ {stream: {account: A, subject: \"foo.x\"}} , {service: {account: A, subject: \"svc\"}}] }\n C: {}\n}\n",
    )
    .unwrap();
    let (code, _, err) = run_rnatsd(&["-t", "-c", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    // nats-server's words.
    assert!(
        err.contains("Error adding stream import \"foo.x\": stream import not authorized"),
        "{err}"
    );
    assert!(
        err.contains("Error adding service import \"svc\": service import not authorized"),
        "{err}"
    );
}
