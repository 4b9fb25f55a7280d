//! Fuzz the certificate identity reader: any bytes either give an identity or an error, never a
//! panic. An identity must also be self-consistent:
//!
//! * `subject` (Go's `Name.String`) extends `rdn_subject` (`ToRDNSequence().String`);
//! * every literal candidate maps to itself through `map_user`, unless the certificate has no
//!   identity at all, when nothing maps;
//! * the DN, printed with every non-alphanumeric byte hex-escaped, parses back to an equal DN;
//! * the DN parser takes the input as text too without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rnatsd::proto::x509::{parse_identity, Dn};

/// `dn` as an RFC 4514 string that `Dn::parse` reads back exactly.
fn print_dn(dn: &Dn) -> String {
    let mut s = String::new();
    for (i, rdn) in dn.rdns.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        for (j, a) in rdn.attrs.iter().enumerate() {
            if j > 0 {
                s.push('+');
            }
            s.push_str(std::str::from_utf8(&a.typ).expect("ASCII attribute type"));
            s.push('=');
            for &b in &a.value {
                if b.is_ascii_alphanumeric() {
                    s.push(b as char);
                } else {
                    s.push_str(&format!("\\{b:02x}"));
                }
            }
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(d) = Dn::parse(text) {
            assert!(d.equal(&d) && d.rdns_match(&d));
        }
    }
    let Ok(id) = parse_identity(data) else {
        return;
    };
    assert!(id.subject.starts_with(&id.rdn_subject), "{id:?}");
    if !id.rdn_subject.is_empty() && id.subject.len() > id.rdn_subject.len() {
        assert_eq!(id.subject.as_bytes()[id.rdn_subject.len()], b',', "{id:?}");
    }
    for c in id.literal_candidates() {
        let want = id.has_identity().then_some(c.as_str());
        assert_eq!(id.map_user(&[c.as_str()], false), want, "{id:?}");
    }
    if let Some(dn) = &id.dn {
        // A last attribute with an empty value does not survive ParseDN.
        let empty_last = dn
            .rdns
            .last()
            .and_then(|r| r.attrs.last())
            .is_some_and(|a| a.value.is_empty());
        if !empty_last {
            let s = print_dn(dn);
            let back = Dn::parse(&s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert!(back.equal(dn), "{s:?} read back as {back:?}, not {dn:?}");
            if id.has_identity() {
                assert!(id.map_user(&[s.as_str()], true).is_some(), "{s:?}");
            }
        }
    }
});
