//! Authentication and permissions, black-box: flags (`--user/--pass`, `--auth`), the
//! `authorization` block (users with plain and bcrypt passwords, nkeys, permissions, default
//! permissions, allow_responses, timeout), with nats-server's error texts.

mod common;

use common::{Client, ServerProcess, TempDir};
use ring::signature::{Ed25519KeyPair, KeyPair};

fn with_config(text: &str) -> (ServerProcess, TempDir) {
    let dir = TempDir::new("auth");
    let f = dir.path.join("auth.conf");
    std::fs::write(&f, text).unwrap();
    (ServerProcess::start(&["-c", f.to_str().unwrap()]), dir)
}

fn info_json(c: &Client) -> serde_json::Value {
    serde_json::from_str(c.info.strip_prefix("INFO ").unwrap()).unwrap()
}

#[test]
fn no_auth_means_no_auth_required() {
    let s = ServerProcess::start(&[]);
    let c = Client::connect(s.port);
    assert!(info_json(&c).get("auth_required").is_none(), "{}", c.info);
}

#[test]
fn single_user_from_flags() {
    let s = ServerProcess::start(&["--user", "derek", "--pass", "s3cr3t"]);
    let c = Client::connect_with(
        s.port,
        r#"{"verbose":false,"user":"derek","pass":"s3cr3t"}"#,
    );
    assert_eq!(info_json(&c)["auth_required"], true);
    for bad in [
        r#"{"user":"derek","pass":"nope"}"#,
        r#"{"user":"x","pass":"s3cr3t"}"#,
        r#"{}"#,
    ] {
        let mut c = Client::connect(s.port);
        c.send(&format!("CONNECT {bad}\r\nPING\r\n"));
        c.expect_line("-ERR 'Authorization Violation'");
        c.expect_closed();
    }
}

#[test]
fn token_from_flags() {
    let s = ServerProcess::start(&["--auth", "t0k3n"]);
    Client::connect_with(s.port, r#"{"verbose":false,"auth_token":"t0k3n"}"#);
    let mut c = Client::connect(s.port);
    c.send("CONNECT {\"auth_token\":\"wrong\"}\r\n");
    c.expect_line("-ERR 'Authorization Violation'");
    c.expect_closed();
}

#[test]
fn connect_must_come_first() {
    let s = ServerProcess::start(&["--user", "u", "--pass", "p"]);
    for first in ["PING\r\n", "SUB foo 1\r\n", "PUB foo 1\r\nx\r\n"] {
        let mut c = Client::connect(s.port);
        c.send(first);
        c.expect_line("-ERR 'Authorization Violation'");
        c.expect_closed();
    }
}

#[test]
fn authentication_timeout() {
    let (s, _d) = with_config("authorization { user: u, password: p, timeout: 0.3 }\n");
    let mut c = Client::connect(s.port);
    c.expect_line("-ERR 'Authentication Timeout'");
    c.expect_closed();
}

#[test]
fn users_with_bcrypt_and_permissions() {
    let hash = bcrypt::hash("bcrypted", 4).unwrap();
    let (s, _d) = with_config(&format!(
        "authorization {{\n  default_permissions: {{ publish: \"public.>\", subscribe: \"public.>\" }}\n  users = [\n\
         {{user: alice, password: \"{hash}\", permissions: {{publish: [\"foo.>\"], subscribe: {{allow: [\"foo.>\", \"bar\"], deny: [\"foo.secret\"]}}}}}}\n\
         {{user: bob, password: plain}}\n  ]\n}}\n"
    ));
    let mut alice = Client::connect_with(
        s.port,
        r#"{"verbose":false,"user":"alice","pass":"bcrypted"}"#,
    );
    alice.send("PUB nope 1\r\nx\r\nSUB nope 1\r\nSUB foo.secret 2\r\nSUB foo.* 3\r\nPUB foo.secret 1\r\ny\r\nPUB foo.a 1\r\nz\r\nPING\r\n");
    alice.expect_line("-ERR 'Permissions Violation for Publish to \"nope\"'");
    alice.expect_line("-ERR 'Permissions Violation for Subscription to \"nope\"'");
    alice.expect_line("-ERR 'Permissions Violation for Subscription to \"foo.secret\"'");
    // foo.secret is withheld from the wildcard subscription; foo.a arrives.
    assert_eq!(
        alice.read_msg(),
        ("foo.a".into(), "3".into(), None, b"z".to_vec())
    );
    alice.expect_line("PONG");
    // bob gets the default permissions.
    let mut bob = Client::connect_with(s.port, r#"{"verbose":false,"user":"bob","pass":"plain"}"#);
    bob.send("SUB public.x 1\r\nPUB public.x 2\r\nok\r\nPUB private 1\r\nx\r\nPING\r\n");
    assert_eq!(bob.read_msg().3, b"ok");
    bob.expect_line("-ERR 'Permissions Violation for Publish to \"private\"'");
    bob.expect_line("PONG");
    // Wrong bcrypt password.
    let mut c = Client::connect(s.port);
    c.send("CONNECT {\"user\":\"alice\",\"pass\":\"plain\"}\r\n");
    c.expect_line("-ERR 'Authorization Violation'");
    c.expect_closed();
}

#[test]
fn allow_responses_lets_a_service_answer_once() {
    let (s, _d) = with_config(
        "authorization { users = [\n {user: svc, password: s, permissions: {subscribe: \"svc\", allow_responses: true}}\n\
         {user: cli, password: c}\n] }\n",
    );
    let mut svc = Client::connect_with(s.port, r#"{"verbose":false,"user":"svc","pass":"s"}"#);
    svc.send("SUB svc 1\r\n");
    svc.flush();
    let mut cli = Client::connect_with(s.port, r#"{"verbose":false,"user":"cli","pass":"c"}"#);
    cli.send("SUB _INBOX.r 1\r\nPUB svc _INBOX.r 2\r\nhi\r\n");
    cli.flush();
    let (_, _, reply, _) = svc.read_msg();
    assert_eq!(reply.as_deref(), Some("_INBOX.r"));
    svc.send("PUB _INBOX.r 3\r\nyes\r\nPUB _INBOX.r 3\r\nagn\r\nPUB other 1\r\nx\r\nPING\r\n");
    svc.expect_line("-ERR 'Permissions Violation for Publish to \"_INBOX.r\"'");
    svc.expect_line("-ERR 'Permissions Violation for Publish to \"other\"'");
    svc.expect_line("PONG");
    assert_eq!(cli.read_msg().3, b"yes");
    cli.flush();
}

#[test]
fn no_auth_user_is_used_without_credentials() {
    let (s, _d) = with_config(
        "authorization { users = [ {user: anon, password: x, permissions: {publish: \"open.>\"}} ] }\nno_auth_user: anon\n",
    );
    let mut c = Client::connect_with(s.port, r#"{"verbose":false}"#);
    c.send("PUB closed 1\r\nx\r\nPING\r\n");
    c.expect_line("-ERR 'Permissions Violation for Publish to \"closed\"'");
    c.expect_line("PONG");
}

/// A user nkey for a fresh key pair (what `nk -gen user` makes), with the pair.
fn new_nkey_user() -> (String, Ed25519KeyPair) {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let kp = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    (
        rnatsd::proto::nkey::encode_user_key(kp.public_key().as_ref()),
        kp,
    )
}

#[test]
fn nkey_users_sign_the_nonce() {
    let (pk, kp) = new_nkey_user();
    let (other_pk, other_kp) = new_nkey_user();
    let (s, _d) = with_config(&format!("authorization {{ users = [ {{nkey: {pk}}} ] }}\n"));
    let mut c = Client::connect(s.port);
    let nonce = info_json(&c)["nonce"]
        .as_str()
        .expect("nonce in INFO")
        .to_string();
    let sig = rnatsd::proto::nkey::base64_url_encode(kp.sign(nonce.as_bytes()).as_ref());
    c.send(&format!(
        "CONNECT {{\"verbose\":false,\"nkey\":\"{pk}\",\"sig\":\"{sig}\"}}\r\nPING\r\n"
    ));
    c.expect_line("PONG");
    // A signature by another key, or an unknown key, is refused.
    let mut c = Client::connect(s.port);
    let nonce = info_json(&c)["nonce"].as_str().unwrap().to_string();
    let sig = rnatsd::proto::nkey::base64_url_encode(other_kp.sign(nonce.as_bytes()).as_ref());
    c.send(&format!(
        "CONNECT {{\"nkey\":\"{pk}\",\"sig\":\"{sig}\"}}\r\n"
    ));
    c.expect_line("-ERR 'Authorization Violation'");
    c.expect_closed();
    let mut c = Client::connect(s.port);
    c.send(&format!(
        "CONNECT {{\"nkey\":\"{other_pk}\",\"sig\":\"{sig}\"}}\r\n"
    ));
    c.expect_line("-ERR 'Authorization Violation'");
    c.expect_closed();
    // Nonces differ per connection.
    let a = info_json(&Client::connect(s.port))["nonce"].clone();
    let b = info_json(&Client::connect(s.port))["nonce"].clone();
    assert_ne!(a, b);
}

#[test]
fn shipped_authorization_sample_works_as_documented() {
    let conf = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/authorization.conf");
    let s = ServerProcess::start(&["-c", conf.to_str().unwrap()]);
    // The sample's comment says the bcrypt hash is for "s3cr3t".
    Client::connect_with(
        s.port,
        r#"{"verbose":false,"user":"admin","pass":"s3cr3t"}"#,
    );
    // No credentials: the guest (no_auth_user) with the default permissions.
    let mut g = Client::connect_with(s.port, r#"{"verbose":false}"#);
    g.send("PUB private 1\r\nx\r\nPING\r\n");
    g.expect_line("-ERR 'Permissions Violation for Publish to \"private\"'");
    g.expect_line("PONG");
}
