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

#[test]
fn exports_and_imports_are_refused_not_ignored() {
    let dir = TempDir::new("acc");
    let f = dir.path.join("x.conf");
    std::fs::write(&f, "accounts { A: { exports: [ {stream: \"foo.>\"} ] } }\n").unwrap();
    let (code, _, err) = run_rnatsd(&["-t", "-c", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("account \"exports\" is not yet supported"),
        "{err}"
    );
}
