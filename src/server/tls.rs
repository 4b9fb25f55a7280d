//! TLS glue: a rustls (ring provider) server configuration built from the `tls` options, with
//! nats-server's names for cipher suites and curves, TLS 1.2 as the minimum, and client
//! certificates verified against the configured CA when asked to.

use std::sync::Arc;

use rustls::crypto::ring as provider;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{NamedGroup, RootCertStore, ServerConfig, SupportedCipherSuite};

use crate::conf::tls::TlsConfig;

/// The Go name of a cipher suite (TLS 1.2 suites only; TLS 1.3 suites are not configurable).
fn go_name(s: &SupportedCipherSuite) -> Option<String> {
    match s {
        // Go calls the ChaCha20 suites ..._CHACHA20_POLY1305, without the _SHA256.
        SupportedCipherSuite::Tls12(_) => s
            .suite()
            .as_str()
            .map(|n| n.replace("CHACHA20_POLY1305_SHA256", "CHACHA20_POLY1305")),
        SupportedCipherSuite::Tls13(_) => None,
    }
}

fn suite_matches(s: &SupportedCipherSuite, wanted: &str) -> bool {
    let Some(full) = s.suite().as_str() else {
        return false;
    };
    go_name(s).as_deref() == Some(wanted) || full == wanted
}

/// Curve names as nats-server spells them.
const CURVES: &[(&str, NamedGroup)] = &[
    ("X25519", NamedGroup::X25519),
    ("CurveP256", NamedGroup::secp256r1),
    ("CurveP384", NamedGroup::secp384r1),
];

/// What `--help_tls` prints.
pub fn help_text() -> String {
    let p = provider::default_provider();
    let mut out = String::from("Available cipher suites include:\n");
    for s in &p.cipher_suites {
        if let Some(n) = go_name(s) {
            out.push_str(&format!("    {n}\n"));
        }
    }
    out.push_str("\nAvailable curve preferences include:\n");
    for (name, _) in CURVES {
        out.push_str(&format!("    {name}\n"));
    }
    out.push_str("\nTLS 1.3 suites (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)\n");
    out.push_str("are always enabled; TLS 1.2 is the minimum version.\n");
    out
}

/// Build the rustls configuration, or say what is wrong with the options.
pub fn server_config(t: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let mut p: CryptoProvider = provider::default_provider();
    if !t.cipher_suites.is_empty() {
        for wanted in &t.cipher_suites {
            if !p.cipher_suites.iter().any(|s| suite_matches(s, wanted)) {
                return Err(format!(
                    "unrecognized cipher suite: {wanted:?} (see --help_tls)"
                ));
            }
        }
        p.cipher_suites.retain(|s| {
            matches!(s, SupportedCipherSuite::Tls13(_))
                || t.cipher_suites.iter().any(|w| suite_matches(s, w))
        });
    }
    if !t.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for wanted in &t.curve_preferences {
            let Some((_, g)) = CURVES.iter().find(|(n, _)| n == wanted) else {
                return Err(format!(
                    "unrecognized curve preference: {wanted:?} (see --help_tls)"
                ));
            };
            if let Some(kx) = p.kx_groups.iter().find(|k| k.name() == *g) {
                groups.push(*kx);
            }
        }
        p.kx_groups = groups;
    }
    // Go's preference, which it applies whatever the client prefers: AES-128-GCM first.
    p.cipher_suites
        .sort_by_key(|s| !format!("{:?}", s.suite()).contains("AES_128_GCM"));
    let cert_file = t
        .cert_file
        .as_ref()
        .ok_or("TLS needs a certificate (cert_file / --tlscert)")?;
    let key_file = t
        .key_file
        .as_ref()
        .ok_or("TLS needs a private key (key_file / --tlskey)")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "error parsing X509 certificate/key pair: {}: {e}",
                cert_file.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "error parsing X509 certificate/key pair: no certificate in {}",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
        format!(
            "error parsing X509 certificate/key pair: {}: {e}",
            key_file.display()
        )
    })?;
    let p = Arc::new(p);
    let builder = ServerConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if t.verify {
        let ca = t
            .ca_file
            .as_ref()
            .ok_or("verify needs a CA to check client certificates (ca_file / --tlscacert)")?;
        let roots = load_roots(ca)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), p)
            .build()
            .map_err(|e| format!("client certificate verification: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Read plaintext through a TLS session, pulling records from `sock` as needed: `Ok(0)` at the
/// end of the stream, `WouldBlock` when nothing more has arrived. A protocol failure sends the
/// alert rustls queued and is reported as `InvalidData`.
pub fn read_plaintext(
    tls: &mut rustls::Connection,
    sock: &mut (impl std::io::Read + std::io::Write),
    buf: &mut [u8],
) -> std::io::Result<usize> {
    use std::io::{ErrorKind, Read};
    loop {
        match tls.reader().read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(e),
        }
        if tls.read_tls(sock)? == 0 {
            return Ok(0);
        }
        if let Err(e) = tls.process_new_packets() {
            let _ = tls.write_tls(sock);
            return Err(std::io::Error::new(ErrorKind::InvalidData, e));
        }
    }
}

/// The certificates of a CA file, as a root store.
fn load_roots(ca: &std::path::Path) -> Result<RootCertStore, String> {
    let bad = |e: &dyn std::fmt::Display| {
        format!("failed to parse root ca certificate: {}: {e}", ca.display())
    };
    let mut roots = RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(&e))?;
    for c in cas {
        roots.add(c).map_err(|e| bad(&e))?;
    }
    Ok(roots)
}

/// TLS for routes: the accepting side (a server that asks for the peer's certificate when
/// `verify` is set) and the dialling side (which checks the peer against `ca_file` and shows
/// its own certificate), so both directions are verified as nats-server does.
pub fn route_configs(
    t: &TlsConfig,
) -> Result<(Arc<ServerConfig>, Arc<rustls::ClientConfig>), String> {
    // Routes always verify both ways (nats-server requires the peer's certificate too).
    let mut strict = t.clone();
    strict.verify = true;
    strict.verify_and_map = false;
    let server = server_config(&strict)?;
    let p = Arc::new(provider::default_provider());
    let ca = t
        .ca_file
        .as_ref()
        .ok_or("route TLS needs ca_file to check the other servers")?;
    let roots = load_roots(ca)?;
    let (cert_file, key_file) = match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => (c, k),
        _ => return Err("route TLS needs cert_file and key_file".into()),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "error parsing X509 certificate: {}: {e}",
                cert_file.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("error parsing private key: {}: {e}", key_file.display()))?;
    let client = rustls::ClientConfig::builder_with_provider(p)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("TLS certificate/key: {e}"))?;
    Ok((server, Arc::new(client)))
}

/// The same certificate for HTTPS monitoring, without asking for client certificates (as
/// nats-server does for its monitoring port).
pub fn monitor_config(t: &TlsConfig) -> Result<Arc<ServerConfig>, String> {
    let mut t = t.clone();
    t.verify = false;
    t.verify_and_map = false;
    server_config(&t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn certs_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/certs")
    }

    fn base() -> TlsConfig {
        TlsConfig {
            cert_file: Some(certs_dir().join("server-cert.pem")),
            key_file: Some(certs_dir().join("server-key.pem")),
            ..TlsConfig::default()
        }
    }

    #[test]
    fn builds_with_test_certs() {
        assert!(server_config(&base()).is_ok());
        let mut t = base();
        t.verify = true;
        assert!(server_config(&t).unwrap_err().contains("needs a CA"));
        t.ca_file = Some(certs_dir().join("ca.pem"));
        assert!(server_config(&t).is_ok());
    }

    #[test]
    fn suites_and_curves_by_go_name() {
        let mut t = base();
        t.cipher_suites = vec!["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()];
        t.curve_preferences = vec!["CurveP256".into(), "X25519".into()];
        assert!(server_config(&t).is_ok());
        t.cipher_suites = vec!["TLS_RSA_WITH_RC4_128_SHA".into()];
        assert!(server_config(&t)
            .unwrap_err()
            .contains("unrecognized cipher suite"));
        t.cipher_suites.clear();
        t.curve_preferences = vec!["CurveP521".into()];
        assert!(server_config(&t)
            .unwrap_err()
            .contains("unrecognized curve"));
        assert!(help_text().contains("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"));
    }

    #[test]
    fn missing_files_are_reported() {
        let mut t = base();
        t.cert_file = Some(PathBuf::from("/nonexistent/cert.pem"));
        assert!(server_config(&t).unwrap_err().contains("cert.pem"));
    }
}
