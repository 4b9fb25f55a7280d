//! Route TLS: routes between rnatsd servers, and between rnatsd and nats-server 2.9.10, go
//! through TLS verified in both directions (each side checks the other's certificate against
//! the cluster's CA); a server whose certificate that CA did not sign is not let in.

mod common;

use common::{free_port, go_server_bin, Client, ServerProcess, TempDir};
use std::path::Path;
use std::time::{Duration, Instant};

fn certs() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs/certs")
        .display()
        .to_string()
}

/// A config file with a TLS cluster block listening on `port`, dialling `routes`.
fn conf(dir: &TempDir, name: &str, port: u16, routes: &[u16], cert: &str, ca: &str) -> String {
    let c = certs();
    let routes: String = routes
        .iter()
        .map(|p| format!(" \"nats-route://127.0.0.1:{p}\""))
        .collect();
    let path = dir.path.join(name);
    std::fs::write(
        &path,
        format!(
            "cluster {{\n  name: tls\n  listen: \"127.0.0.1:{port}\"\n  \
             tls {{ cert_file: \"{c}/{cert}-cert.pem\", key_file: \"{c}/{cert}-key.pem\", \
             ca_file: \"{c}/{ca}\", timeout: 2 }}\n  routes: [{routes} ]\n}}\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Publish probes on `p` until `s` (subscribed to `subject`) gets one, within `limit`.
fn crosses(p: &mut Client, s: &mut Client, subject: &str, limit: Duration) -> bool {
    s.send(&format!("SUB {subject} 1\r\n"));
    s.flush();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        p.send(&format!("PUB {subject} 5\r\nprobe\r\n"));
        p.flush();
        s.send("PING\r\n");
        loop {
            let line = s.read_line();
            if line.starts_with("MSG ") {
                return true;
            }
            if line == "PONG" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn quiet(port: u16) -> Client {
    Client::connect_with(port, r#"{"verbose":false}"#)
}

#[test]
fn routes_between_rnatsd_servers_use_verified_tls() {
    let dir = TempDir::new("rtls");
    let (ra, rb) = (free_port(), free_port());
    let a = ServerProcess::start(&["-c", &conf(&dir, "a.conf", ra, &[], "route", "ca.pem")]);
    let b = ServerProcess::start(&["-c", &conf(&dir, "b.conf", rb, &[ra], "route", "ca.pem")]);
    let (mut pa, mut sb) = (quiet(a.port), quiet(b.port));
    assert!(
        crosses(&mut pa, &mut sb, "t.ab", Duration::from_secs(10)),
        "no route; logs:\n{}\n{}",
        a.log_text(),
        b.log_text()
    );
    let (mut pb, mut sa) = (quiet(b.port), quiet(a.port));
    assert!(crosses(&mut pb, &mut sa, "t.ba", Duration::from_secs(10)));
    assert!(
        !a.log_text().contains("TLS handshake error"),
        "{}",
        a.log_text()
    );
}

#[test]
fn a_server_with_a_certificate_from_another_ca_is_refused() {
    let dir = TempDir::new("rtls-rogue");
    let (ra, rc) = (free_port(), free_port());
    let a = ServerProcess::start(&["-c", &conf(&dir, "a.conf", ra, &[], "route", "ca.pem")]);
    // The rogue certificate is signed by a CA the cluster does not trust (and trusts only it).
    let c = ServerProcess::start(&[
        "-c",
        &conf(&dir, "c.conf", rc, &[ra], "rogue", "other-ca.pem"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.log_text().contains("TLS handshake error") {
        assert!(Instant::now() < deadline, "no refusal:\n{}", a.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (mut pc, mut sa) = (quiet(c.port), quiet(a.port));
    assert!(!crosses(
        &mut pc,
        &mut sa,
        "t.rogue",
        Duration::from_millis(500)
    ));
    assert!(!a.log_text().contains("Route connection created"));
}

#[test]
fn tls_routes_with_nats_server_both_ways() {
    let Some(go) = go_server_bin() else {
        eprintln!("SKIP: nats-server not installed");
        return;
    };
    let dir = TempDir::new("rtls-go");
    // Go seed, rnatsd joining.
    let (rg, rr) = (free_port(), free_port());
    let g = ServerProcess::start_bin(
        &go,
        &["-c", &conf(&dir, "g.conf", rg, &[], "route", "ca.pem")],
    );
    let r = ServerProcess::start(&["-c", &conf(&dir, "r.conf", rr, &[rg], "route", "ca.pem")]);
    let (mut pg, mut sr) = (quiet(g.port), quiet(r.port));
    assert!(
        crosses(&mut pg, &mut sr, "t.gr", Duration::from_secs(10)),
        "rnatsd log:\n{}",
        r.log_text()
    );
    let (mut pr, mut sg) = (quiet(r.port), quiet(g.port));
    assert!(crosses(&mut pr, &mut sg, "t.rg", Duration::from_secs(10)));
    drop((g, r));
    // rnatsd seed, Go joining.
    let (rr, rg) = (free_port(), free_port());
    let r = ServerProcess::start(&["-c", &conf(&dir, "r2.conf", rr, &[], "route", "ca.pem")]);
    let g = ServerProcess::start_bin(
        &go,
        &["-c", &conf(&dir, "g2.conf", rg, &[rr], "route", "ca.pem")],
    );
    let (mut pg, mut sr) = (quiet(g.port), quiet(r.port));
    assert!(
        crosses(&mut pg, &mut sr, "t.gr2", Duration::from_secs(10)),
        "rnatsd log:\n{}",
        r.log_text()
    );
}
