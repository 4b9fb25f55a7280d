//! TLS, black-box: INFO in the clear with tls_required, then the client upgrades; client
//! certificates verified against the CA; handshake timeout; cipher suites; large messages.
//! Certificates are the test-only ones in configs/certs.

mod common;

use common::{ServerProcess, TempDir};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn cert(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("configs/certs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn tls_server(extra: &[&str]) -> ServerProcess {
    let mut args = vec![
        "--tlscert",
        &*Box::leak(cert("server-cert.pem").into_boxed_str()),
    ];
    args.push("--tlskey");
    args.push(Box::leak(cert("server-key.pem").into_boxed_str()));
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

fn client_config(
    client_cert: Option<(&str, &str)>,
    suites: Option<&[rustls::SupportedCipherSuite]>,
) -> Arc<rustls::ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    let versions: &[&rustls::SupportedProtocolVersion] = match suites {
        Some(s) => {
            provider.cipher_suites = s.to_vec();
            &[&rustls::version::TLS12]
        }
        None => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match client_cert {
        Some((c, k)) => {
            let certs = CertificateDer::pem_file_iter(cert(c))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            let key = PrivateKeyDer::from_pem_file(cert(k)).unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    Arc::new(cfg)
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connect, read the clear INFO, upgrade. Returns the INFO line and the TLS stream.
fn connect_tls(port: u16, cfg: Arc<rustls::ClientConfig>) -> (String, BufReader<Tls>) {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut info = Vec::new();
    let mut b = [0u8; 1];
    while !info.ends_with(b"\r\n") {
        sock.read_exact(&mut b).unwrap();
        info.push(b[0]);
    }
    let conn =
        rustls::ClientConnection::new(cfg, ServerName::try_from("localhost").unwrap()).unwrap();
    (
        String::from_utf8(info).unwrap(),
        BufReader::new(rustls::StreamOwned::new(conn, sock)),
    )
}

fn line(r: &mut BufReader<Tls>) -> std::io::Result<String> {
    let mut s = String::new();
    r.read_line(&mut s)?;
    Ok(s.trim_end().to_string())
}

fn send(r: &mut BufReader<Tls>, s: &str) -> std::io::Result<()> {
    r.get_mut().write_all(s.as_bytes())?;
    r.get_mut().flush()
}

#[test]
fn info_in_the_clear_then_tls() {
    let s = tls_server(&[]);
    let (info, mut c) = connect_tls(s.port, client_config(None, None));
    assert!(
        info.starts_with("INFO {") && info.contains("\"tls_required\":true"),
        "{info}"
    );
    assert!(!info.contains("tls_verify"), "{info}");
    send(
        &mut c,
        "CONNECT {\"verbose\":false}\r\nSUB t 1\r\nPUB t 5\r\nhello\r\nPING\r\n",
    )
    .unwrap();
    assert_eq!(line(&mut c).unwrap(), "MSG t 1 5");
    assert_eq!(line(&mut c).unwrap(), "hello");
    assert_eq!(line(&mut c).unwrap(), "PONG");
    let (_, ver) = (
        c.get_ref().conn.negotiated_cipher_suite(),
        c.get_ref().conn.protocol_version(),
    );
    assert_eq!(ver, Some(rustls::ProtocolVersion::TLSv1_3));
}

#[test]
fn large_messages_over_tls() {
    let s = tls_server(&[]);
    let (_, mut c) = connect_tls(s.port, client_config(None, None));
    let payload = "z".repeat(1024 * 1024);
    send(&mut c, "CONNECT {\"verbose\":false}\r\nSUB big 1\r\n").unwrap();
    for _ in 0..3 {
        send(
            &mut c,
            &format!("PUB big {}\r\n{}\r\n", payload.len(), payload),
        )
        .unwrap();
    }
    send(&mut c, "PING\r\n").unwrap();
    for _ in 0..3 {
        assert_eq!(
            line(&mut c).unwrap(),
            format!("MSG big 1 {}", payload.len())
        );
        let mut body = vec![0u8; payload.len() + 2];
        c.read_exact(&mut body).unwrap();
        assert!(body[..payload.len()] == *payload.as_bytes());
    }
    assert_eq!(line(&mut c).unwrap(), "PONG");
}

#[test]
fn plaintext_client_is_dropped() {
    let s = tls_server(&[]);
    let mut c = common::Client::connect(s.port);
    c.send("CONNECT {}\r\nPING\r\n");
    let got = c.read_until_close(Duration::from_secs(5));
    assert!(!String::from_utf8_lossy(&got).contains("PONG"));
}

#[test]
fn client_certificates_are_verified() {
    let s = tls_server(&[
        "--tlsverify",
        "--tlscacert",
        Box::leak(cert("ca.pem").into_boxed_str()),
    ]);
    let (info, mut c) = connect_tls(
        s.port,
        client_config(Some(("client-cert.pem", "client-key.pem")), None),
    );
    assert!(info.contains("\"tls_verify\":true"), "{info}");
    send(&mut c, "CONNECT {\"verbose\":false}\r\nPING\r\n").unwrap();
    assert_eq!(line(&mut c).unwrap(), "PONG");
    // No certificate, or one from an untrusted CA: the handshake fails.
    for cc in [None, Some(("rogue-cert.pem", "rogue-key.pem"))] {
        let (_, mut c) = connect_tls(s.port, client_config(cc, None));
        let r = send(&mut c, "CONNECT {\"verbose\":false}\r\nPING\r\n").and_then(|_| line(&mut c));
        assert!(!matches!(r.as_deref(), Ok("PONG")), "{cc:?} got {r:?}");
    }
}

#[test]
fn handshake_timeout_closes() {
    let dir = TempDir::new("tls");
    let f = dir.path.join("tls.conf");
    std::fs::write(
        &f,
        format!(
            "tls {{\n cert_file: \"{}\"\n key_file: \"{}\"\n timeout: 0.3\n}}\n",
            cert("server-cert.pem"),
            cert("server-key.pem")
        ),
    )
    .unwrap();
    let s = ServerProcess::start(&["-c", f.to_str().unwrap(), "-D"]);
    let mut c = common::Client::connect(s.port);
    let start = std::time::Instant::now();
    c.read_until_close(Duration::from_secs(5));
    assert!(start.elapsed() < Duration::from_secs(4));
    assert!(
        s.log_text().contains("TLS handshake timeout"),
        "{}",
        s.log_text()
    );
}

#[test]
fn cipher_suites_restrict_tls12() {
    use rustls::crypto::ring::cipher_suite as cs;
    let dir = TempDir::new("tls");
    let f = dir.path.join("tls.conf");
    std::fs::write(
        &f,
        format!(
            "tls {{\n cert_file: \"{}\"\n key_file: \"{}\"\n cipher_suites: [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n curve_preferences: [\"CurveP256\"]\n}}\n",
            cert("server-cert.pem"),
            cert("server-key.pem")
        ),
    )
    .unwrap();
    let s = ServerProcess::start(&["-c", f.to_str().unwrap()]);
    let ok = client_config(None, Some(&[cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]));
    let (_, mut c) = connect_tls(s.port, ok);
    send(&mut c, "CONNECT {\"verbose\":false}\r\nPING\r\n").unwrap();
    assert_eq!(line(&mut c).unwrap(), "PONG");
    assert_eq!(
        c.get_ref().conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let other = client_config(
        None,
        Some(&[cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]),
    );
    let (_, mut c) = connect_tls(s.port, other);
    let r = send(&mut c, "CONNECT {\"verbose\":false}\r\nPING\r\n").and_then(|_| line(&mut c));
    assert!(!matches!(r.as_deref(), Ok("PONG")), "{r:?}");
}

#[test]
fn bad_tls_configuration_is_fatal() {
    let (code, _, err) = common::run_rnatsd(&["--tls"]);
    assert_eq!(code, 1);
    assert!(err.contains("TLS configuration error"), "{err}");
    let (code, _, out) = (0, 0, common::run_rnatsd(&["--help_tls"]).1);
    assert_eq!(code, 0);
    assert!(
        out.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        "{out}"
    );
}

fn map_server(users: &str) -> (ServerProcess, TempDir) {
    let dir = TempDir::new("tlsmap");
    let f = dir.path.join("tls.conf");
    std::fs::write(
        &f,
        format!(
            "tls {{\n cert_file: \"{}\"\n key_file: \"{}\"\n ca_file: \"{}\"\n verify_and_map: true\n}}\nauthorization {{ users = [ {users} ] }}\n",
            cert("server-cert.pem"),
            cert("server-key.pem"),
            cert("ca.pem")
        ),
    )
    .unwrap();
    (ServerProcess::start(&["-c", f.to_str().unwrap()]), dir)
}

fn mapped_login(port: u16) -> (String, BufReader<Tls>) {
    let (info, mut c) = connect_tls(
        port,
        client_config(Some(("client-cert.pem", "client-key.pem")), None),
    );
    // Credentials in CONNECT are ignored: the certificate says who this is.
    send(&mut c, "CONNECT {\"verbose\":false,\"user\":\"nobody\",\"pass\":\"x\"}\r\nPUB ok.1 1\r\nx\r\nPUB nope 1\r\nx\r\nPING\r\n")
        .unwrap();
    (info, c)
}

#[test]
fn verify_and_map_by_email() {
    let (s, _d) = map_server("{user: \"alice@example.com\", permissions: {publish: \"ok.>\"}}");
    let (info, mut c) = mapped_login(s.port);
    assert!(info.contains("\"tls_verify\":true"), "{info}");
    assert_eq!(
        line(&mut c).unwrap(),
        "-ERR 'Permissions Violation for Publish to \"nope\"'"
    );
    assert_eq!(line(&mut c).unwrap(), "PONG");
}

#[test]
fn verify_and_map_by_subject_dn() {
    // The DN in another order still matches (RDNs in any order), as with nats-server.
    let (s, _d) = map_server(
        "{user: \"O=rnatsd test,OU=clients,CN=alice\", permissions: {publish: \"ok.>\"}}",
    );
    let (_, mut c) = mapped_login(s.port);
    assert_eq!(
        line(&mut c).unwrap(),
        "-ERR 'Permissions Violation for Publish to \"nope\"'"
    );
    assert_eq!(line(&mut c).unwrap(), "PONG");
    let (s, _d) = map_server("{user: \"CN=alice,OU=clients,O=rnatsd test\"}");
    let (_, mut c) = mapped_login(s.port);
    assert_eq!(line(&mut c).unwrap(), "PONG");
}

#[test]
fn verify_and_map_refuses_unknown_certificates() {
    let (s, _d) = map_server("{user: \"bob@example.com\"}");
    let (_, mut c) = mapped_login(s.port);
    assert_eq!(line(&mut c).unwrap(), "-ERR 'Authorization Violation'");
}
