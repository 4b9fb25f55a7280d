//! The `tls { ... }` block and the `--tls*` flags: certificate, key, client-certificate CA,
//! verification, handshake timeout, cipher suites and curves, with nats-server's key names.

use std::path::PathBuf;
use std::time::Duration;

use super::file::{Kind, Value};
use super::keys::{seconds, string, unknown_in};

#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// Require and verify client certificates.
    pub verify: bool,
    /// Verify client certificates and take the user from the certificate.
    pub verify_and_map: bool,
    pub timeout: Duration,
    /// Go names, e.g. `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`; empty means the defaults.
    pub cipher_suites: Vec<String>,
    /// Go names: `X25519`, `CurveP256`, `CurveP384`; empty means the defaults.
    pub curve_preferences: Vec<String>,
}

/// nats-server's default TLS handshake timeout.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(2);

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            ca_file: None,
            verify: false,
            verify_and_map: false,
            timeout: TLS_TIMEOUT,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
        }
    }
}

/// Keys of nats-server's tls block that rnatsd does not act on yet.
const NOT_YET: &[&str] = &[
    "insecure",
    "pinned_certs",
    "cert_store",
    "cert_match_by",
    "cert_match",
    "verify_cert_and_check_known_urls",
];

/// Parse a `tls` block.
pub fn parse_tls(v: &Value, errors: &mut Vec<String>) -> Option<TlsConfig> {
    let Kind::Map(m) = &v.kind else {
        errors.push(format!(
            "{}: \"tls\" must be a map, not {}",
            v.at,
            v.type_name()
        ));
        return None;
    };
    let mut t = TlsConfig::default();
    for e in &m.entries {
        let v = &e.value;
        let key = e.key.to_ascii_lowercase();
        let r = match key.as_str() {
            "cert_file" => string(v, &e.key).map(|s| t.cert_file = Some(s.into())),
            "key_file" => string(v, &e.key).map(|s| t.key_file = Some(s.into())),
            "ca_file" => string(v, &e.key).map(|s| t.ca_file = Some(s.into())),
            "verify" => bool_of(v, &e.key).map(|b| t.verify = b),
            "verify_and_map" => bool_of(v, &e.key).map(|b| {
                t.verify_and_map = b;
                t.verify |= b;
            }),
            "timeout" => match &v.kind {
                Kind::Str(s) => super::parse_duration(s)
                    .map(|d| t.timeout = d)
                    .ok_or_else(|| format!("{}: error parsing tls timeout {:?}", v.at, s)),
                _ => seconds(v, &e.key).map(|d| t.timeout = d),
            },
            "cipher_suites" => strings(v, &e.key).map(|l| t.cipher_suites = l),
            "curve_preferences" => strings(v, &e.key).map(|l| t.curve_preferences = l),
            k if NOT_YET.contains(&k) => Err(format!(
                "{}: \"{}\" is not yet supported by rnatsd",
                e.at, e.key
            )),
            _ => unknown_in(e),
        };
        if let Err(msg) = r {
            errors.push(msg);
        }
    }
    if t.cert_file.is_none() || t.key_file.is_none() {
        errors.push(format!(
            "{}: missing 'cert_file' or 'key_file' in TLS configuration",
            v.at
        ));
    }
    Some(t)
}

fn bool_of(v: &Value, key: &str) -> Result<bool, String> {
    match v.kind {
        Kind::Bool(b) => Ok(b),
        _ => Err(format!(
            "{}: \"{}\" must be a boolean, not {}",
            v.at,
            key,
            v.type_name()
        )),
    }
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    let Kind::Array(items) = &v.kind else {
        return Err(format!("{}: \"{}\" must be an array of strings", v.at, key));
    };
    items.iter().map(|i| string(i, key)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::file::load_str;
    use std::path::Path;

    fn tls_of(text: &str) -> (Option<TlsConfig>, Vec<String>) {
        let m = load_str(text, "t.conf", Path::new(".")).unwrap();
        let mut errors = Vec::new();
        let t = parse_tls(m.get("tls").unwrap(), &mut errors);
        (t, errors)
    }

    #[test]
    fn full_block() {
        let (t, e) = tls_of(
            "tls {\n cert_file: \"s.pem\"\n key_file: \"k.pem\"\n ca_file: \"ca.pem\"\n verify: true\n timeout: 0.5\n\
             cipher_suites: [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n curve_preferences: [\"X25519\"]\n}",
        );
        assert!(e.is_empty(), "{e:?}");
        let t = t.unwrap();
        assert_eq!(t.cert_file, Some(PathBuf::from("s.pem")));
        assert!(t.verify && !t.verify_and_map);
        assert_eq!(t.timeout, Duration::from_millis(500));
        assert_eq!(t.cipher_suites.len(), 1);
        assert_eq!(t.curve_preferences, vec!["X25519".to_string()]);
    }

    #[test]
    fn errors() {
        let (_, e) = tls_of("tls { cert_file: a, verify: 1, color: red, insecure: true }");
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e.iter()
                .any(|x| x.contains("missing 'cert_file' or 'key_file'")),
            "{e:?}"
        );
    }
}
