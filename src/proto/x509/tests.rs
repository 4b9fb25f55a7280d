use super::*;

/// The DER of the first certificate in a PEM text.
fn pem_der(pem: &str) -> Vec<u8> {
    let start = pem.find("-----BEGIN CERTIFICATE-----").expect("BEGIN line") + 28;
    let end = pem[start..]
        .find("-----END CERTIFICATE-----")
        .expect("END line")
        + start;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    crate::proto::nkey::base64_decode(&b64).expect("base64")
}

fn cert_file(name: &str) -> Vec<u8> {
    let path = format!("{}/configs/certs/{name}", env!("CARGO_MANIFEST_DIR"));
    pem_der(&std::fs::read_to_string(&path).expect("test certificate"))
}

fn dn(s: &str) -> Dn {
    Dn::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn test_certs() {
    let id = parse_identity(&cert_file("client-cert.pem")).unwrap();
    assert_eq!(id.subject, "CN=alice,OU=clients,O=rnatsd test");
    assert_eq!(id.rdn_subject, id.subject);
    assert_eq!(id.emails, ["alice@example.com"]);
    assert!(id.dns_names.is_empty() && id.uris.is_empty() && id.domain_components.is_empty());
    assert_eq!(id.dn, Some(dn("CN=alice,OU=clients,O=rnatsd test")));

    let id = parse_identity(&cert_file("server-cert.pem")).unwrap();
    assert_eq!(id.subject, "CN=localhost,O=rnatsd test");
    assert_eq!(id.dns_names, ["localhost"]);
    assert!(id.emails.is_empty() && id.uris.is_empty());

    let id = parse_identity(&cert_file("ca.pem")).unwrap();
    assert_eq!(id.subject, "CN=rnatsd test CA,O=rnatsd test");
    let id = parse_identity(&cert_file("rogue-cert.pem")).unwrap();
    assert_eq!(id.subject, "CN=mallory,O=rnatsd test");
    assert!(id.emails.is_empty() && id.dns_names.is_empty());
}

/// openssl req -x509 `-multivalue-rdn -utf8 -subj '/DC=org/DC=example/C=US/ST=CA/O=Acme\, Inc./OU=ops+OU=dev/UID=jdoe/CN=#1 "J<o>e"; a\\b\+c /emailAddress=jdoe@example.org'`,
/// SAN `email:jdoe@example.org,DNS:jdoe.example.org,DNS:*.example.org,
/// URI:SPIFFE://example.org/ns/default/sa/jdoe,IP:10.0.0.1,email:j@example.com`.
/// openssl sorts the SET: `dev` comes before `ops` in the DER.
const ESCAPES_PEM: &str = r"
-----BEGIN CERTIFICATE-----
MIIDbDCCAxOgAwIBAgIUbinPovx+cTnuMbN4bqVnS/Z61oAwCgYIKoZIzj0EAwIw
gcsxEzARBgoJkiaJk/IsZAEZFgNvcmcxFzAVBgoJkiaJk/IsZAEZFgdleGFtcGxl
MQswCQYDVQQGEwJVUzELMAkGA1UECAwCQ0ExEzARBgNVBAoMCkFjbWUsIEluYy4x
GDAKBgNVBAsMA2RldjAKBgNVBAsMA29wczEUMBIGCgmSJomT8ixkAQEMBGpkb2Ux
GzAZBgNVBAMMEiMxICJKPG8+ZSI7IGFcYitjIDEfMB0GCSqGSIb3DQEJARYQamRv
ZUBleGFtcGxlLm9yZzAgFw0yNjExMjcxNzU3NTFaGA8yMTI2MTEwMzE3NTc1MVow
gcsxEzARBgoJkiaJk/IsZAEZFgNvcmcxFzAVBgoJkiaJk/IsZAEZFgdleGFtcGxl
MQswCQYDVQQGEwJVUzELMAkGA1UECAwCQ0ExEzARBgNVBAoMCkFjbWUsIEluYy4x
GDAKBgNVBAsMA2RldjAKBgNVBAsMA29wczEUMBIGCgmSJomT8ixkAQEMBGpkb2Ux
GzAZBgNVBAMMEiMxICJKPG8+ZSI7IGFcYitjIDEfMB0GCSqGSIb3DQEJARYQamRv
ZUBleGFtcGxlLm9yZzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKxVlErj5fbY
uCyi6QxZ/pNy4f8Rn/dJbDb/ozEUvxy3R2q9RVzLl7m9gtL6lWdA6ou/K7w1sumh
mTGtMZ/yT76jgdAwgc0wHQYDVR0OBBYEFEQNUbO7Q4C6V+bgVKvFbTm/E0+sMB8G
A1UdIwQYMBaAFEQNUbO7Q4C6V+bgVKvFbTm/E0+sMA8GA1UdEwEB/wQFMAMBAf8w
egYDVR0RBHMwcYEQamRvZUBleGFtcGxlLm9yZ4IQamRvZS5leGFtcGxlLm9yZ4IN
Ki5leGFtcGxlLm9yZ4YnU1BJRkZFOi8vZXhhbXBsZS5vcmcvbnMvZGVmYXVsdC9z
YS9qZG9lhwQKAAABgQ1qQGV4YW1wbGUuY29tMAoGCCqGSM49BAMCA0cAMEQCIF0q
nfHDqh0Xpn4yM1oSurITTB0Zmp9c1LABxNEKuPkaAiB593bHVEotq6QIsC0L7qCQ
aOZHaOLg66fGXvYnzXZVqg==
-----END CERTIFICATE-----
";

/// openssl req -x509 `-subj '/CN=*.example.com/OU=NATS/O=NATS/L=Los Angeles/ST=CA/C=US/DC=foo1/DC=foo2'`:
/// CN first in the DER, the reverse of the usual order.
const DC_PEM: &str = r"
-----BEGIN CERTIFICATE-----
MIICfTCCAiOgAwIBAgIUC1C1oQUiu4G/9Z4EVLxmxik7Fs8wCgYIKoZIzj0EAwIw
gZIxFjAUBgNVBAMMDSouZXhhbXBsZS5jb20xDTALBgNVBAsMBE5BVFMxDTALBgNV
BAoMBE5BVFMxFDASBgNVBAcMC0xvcyBBbmdlbGVzMQswCQYDVQQIDAJDQTELMAkG
A1UEBhMCVVMxFDASBgoJkiaJk/IsZAEZFgRmb28xMRQwEgYKCZImiZPyLGQBGRYE
Zm9vMjAgFw0yNjExMjcxNzU4MTBaGA8yMTI2MTEwMzE3NTgxMFowgZIxFjAUBgNV
BAMMDSouZXhhbXBsZS5jb20xDTALBgNVBAsMBE5BVFMxDTALBgNVBAoMBE5BVFMx
FDASBgNVBAcMC0xvcyBBbmdlbGVzMQswCQYDVQQIDAJDQTELMAkGA1UEBhMCVVMx
FDASBgoJkiaJk/IsZAEZFgRmb28xMRQwEgYKCZImiZPyLGQBGRYEZm9vMjBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABKxVlErj5fbYuCyi6QxZ/pNy4f8Rn/dJbDb/
ozEUvxy3R2q9RVzLl7m9gtL6lWdA6ou/K7w1sumhmTGtMZ/yT76jUzBRMB0GA1Ud
DgQWBBREDVGzu0OAulfm4FSrxW05vxNPrDAfBgNVHSMEGDAWgBREDVGzu0OAulfm
4FSrxW05vxNPrDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCICnM
VN7aZAbKr+aLJMvPj2Cvm1IZ0DtVunn54av3ForwAiEAjG4fmlFBV5xCOfiSJaRx
/1NH7nzJA4ZaTG8kVLf5t0M=
-----END CERTIFICATE-----
";

/// openssl req -x509 with `string_mask = MASK:0x800` (BMPString only), `O = Zoë & Co`,
/// `CN = 日本 Zoë`: a v1 certificate.
const BMP_PEM: &str = r"
-----BEGIN CERTIFICATE-----
MIIBYTCCAQcCFBYRfmnZDCbowokwD18nlyQp6c6mMAoGCCqGSM49BAMCMDIxGTAX
BgNVBAoeEABaAG8A6wAgACYAIABDAG8xFTATBgNVBAMeDGXlZywAIABaAG8A6zAg
Fw0yNjExMjcxNzU4MTBaGA8yMTI2MTEwMzE3NTgxMFowMjEZMBcGA1UECh4QAFoA
bwDrACAAJgAgAEMAbzEVMBMGA1UEAx4MZeVnLAAgAFoAbwDrMFkwEwYHKoZIzj0C
AQYIKoZIzj0DAQcDQgAErFWUSuPl9ti4LKLpDFn+k3Lh/xGf90lsNv+jMRS/HLdH
ar1FXMuXub2C0vqVZ0Dqi78rvDWy6aGZMa0xn/JPvjAKBggqhkjOPQQDAgNIADBF
AiA4WSWXHLVjAR/yac2Z61X5G/qg95XVUBBSrsFEGk3phgIhAIAYi4kAoW6I7hn2
Mq/W+gtOH6+eStQauMIyhKQHP53g
-----END CERTIFICATE-----
";

/// openssl req -x509 with `string_mask = MASK:0x4` (TeletexString only), `L = Zürich`,
/// `CN = café` (Latin-1 bytes): a v1 certificate.
const T61_PEM: &str = r"
-----BEGIN CERTIFICATE-----
MIIBPDCB4wIULJyl1+ZWHaUdxH9DTxN4HC81IpQwCgYIKoZIzj0EAwIwIDEPMA0G
A1UEBxQGWvxyaWNoMQ0wCwYDVQQDFARjYWbpMCAXDTI2MTEyNzE3NTgxMFoYDzIx
MjYxMTAzMTc1ODEwWjAgMQ8wDQYDVQQHFAZa/HJpY2gxDTALBgNVBAMUBGNhZukw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASsVZRK4+X22LgsoukMWf6TcuH/EZ/3
SWw2/6MxFL8ct0dqvUVcy5e5vYLS+pVnQOqLvyu8NbLpoZkxrTGf8k++MAoGCCqG
SM49BAMCA0gAMEUCIAe4aSK4mgUP7nNbMNyGwejN3oiCGLA981P4nWG5N5yhAiEA
6dGv9kMWXwCUnOcUxGDPl9P/Bkey+efkmqQofhi3WCk=
-----END CERTIFICATE-----
";

#[test]
fn escapes_multivalue_and_extra_attributes() {
    let id = parse_identity(&pem_der(ESCAPES_PEM)).unwrap();
    // Go's fixed order, the two OUs as one multi-valued RDN in DER order, RFC 2253 escapes.
    let rdn = r#"CN=\#1 \"J\<o\>e\"\; a\\b\+c\ ,OU=dev+OU=ops,O=Acme\, Inc.,ST=CA,C=US"#;
    assert_eq!(id.rdn_subject, rdn);
    // Name.String adds emailAddress, UID and the DCs, last first, re-encoded by asn1.Marshal:
    // "jdoe@example.org" is not printable ('@'), so a UTF8String; the rest PrintableStrings
    // (the DCs were IA5Strings in the certificate).
    let extra = "1.2.840.113549.1.9.1=#0c106a646f65406578616d706c652e6f7267,\
                 0.9.2342.19200300.100.1.1=#13046a646f65,\
                 0.9.2342.19200300.100.1.25=#13076578616d706c65,\
                 0.9.2342.19200300.100.1.25=#13036f7267";
    assert_eq!(id.subject, format!("{rdn},{extra}"));
    assert_eq!(id.domain_components, ["org", "example"]);
    assert_eq!(id.emails, ["jdoe@example.org", "j@example.com"]);
    assert_eq!(id.dns_names, ["jdoe.example.org", "*.example.org"]);
    assert_eq!(id.uris, ["spiffe://example.org/ns/default/sa/jdoe"]);
    // UID and emailAddress are unknown to nats-server's ldap package: no DN matching.
    assert_eq!(id.dn, None);
    assert_eq!(
        id.literal_candidates(),
        [
            "jdoe@example.org",
            "j@example.com",
            "jdoe.example.org",
            "*.example.org",
            "spiffe://example.org/ns/default/sa/jdoe",
            &format!("{rdn},DC=org,DC=example"),
            rdn,
        ]
    );
}

#[test]
fn domain_components_and_go_order() {
    let id = parse_identity(&pem_der(DC_PEM)).unwrap();
    let rdn = "CN=*.example.com,OU=NATS,O=NATS,L=Los Angeles,ST=CA,C=US";
    assert_eq!(id.rdn_subject, rdn);
    assert_eq!(
        id.subject,
        format!(
            "{rdn},0.9.2342.19200300.100.1.25=#1304666f6f32,0.9.2342.19200300.100.1.25=#1304666f6f31"
        )
    );
    assert_eq!(id.domain_components, ["foo1", "foo2"]);
    // The DN is the DER order reversed.
    assert_eq!(
        id.dn,
        Some(dn(
            "DC=foo2,DC=foo1,C=US,ST=CA,L=Los Angeles,O=NATS,OU=NATS,CN=*.example.com"
        ))
    );
    let with_dcs = format!("{rdn},DC=foo1,DC=foo2");
    assert_eq!(
        id.map_user(&["nobody", &with_dcs, rdn], true),
        Some(&*with_dcs)
    );
    assert_eq!(id.map_user(&["nobody", rdn], true), Some(rdn));
    // Through the DN: exactly, then reordered, spaces and case of types not mattering.
    let exact = "dc=foo2, dc=foo1, c=US, st=CA, l=Los Angeles, o=NATS, ou=NATS, cn=*.example.com";
    let reordered =
        "CN=*.example.com, OU=NATS, O=NATS, L=Los Angeles, ST=CA, C=US, DC=foo2, DC=foo1";
    assert_eq!(id.map_user(&[reordered, exact, rdn], true), Some(exact));
    assert_eq!(id.map_user(&[reordered, rdn], true), Some(reordered));
    assert_eq!(id.map_user(&[reordered], false), None);
    assert_eq!(id.map_user(&["CN=*.example.com,OU=NATS"], true), None);
}

#[test]
fn bmp_and_teletex() {
    let id = parse_identity(&pem_der(BMP_PEM)).unwrap();
    assert_eq!(id.subject, "CN=日本 Zoë,O=Zoë & Co");
    assert_eq!(id.rdn_subject, id.subject);
    assert_eq!(id.dn, Some(dn("CN=日本 Zoë,O=Zoë & Co")));
    let id = parse_identity(&pem_der(T61_PEM)).unwrap();
    assert_eq!(id.subject, "CN=café,L=Zürich");
}

// ---- A small DER writer for hand-made certificates ----

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 128 {
        out.push(n as u8);
    } else {
        let b = (n as u32).to_be_bytes();
        let skip = b.iter().take_while(|&&x| x == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&b[skip..]);
    }
    out.extend_from_slice(body);
    out
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn oid(arcs: &[u32]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut push = |mut v: u32| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend(tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    for &a in &arcs[2..] {
        push(a);
    }
    tlv(0x06, &body)
}

const CN: &[u32] = &[2, 5, 4, 3];
const SN: &[u32] = &[2, 5, 4, 5];
const C: &[u32] = &[2, 5, 4, 6];
const L: &[u32] = &[2, 5, 4, 7];
const ST: &[u32] = &[2, 5, 4, 8];
const STREET: &[u32] = &[2, 5, 4, 9];
const O: &[u32] = &[2, 5, 4, 10];
const OU: &[u32] = &[2, 5, 4, 11];
const POSTAL: &[u32] = &[2, 5, 4, 17];
const SURNAME: &[u32] = &[2, 5, 4, 4];
const DC: &[u32] = &[0, 9, 2342, 19200300, 100, 1, 25];
const UTF8: u8 = 0x0c;
const PRINTABLE: u8 = 0x13;

/// An attribute: type, string tag, value bytes.
type RawAtv<'a> = (&'a [u32], u8, &'a [u8]);

/// A Name from its RDNs.
fn name(rdns: &[&[RawAtv]]) -> Vec<u8> {
    let sets: Vec<Vec<u8>> = rdns
        .iter()
        .map(|rdn| {
            let atvs: Vec<Vec<u8>> = rdn
                .iter()
                .map(|(t, tag, v)| tlv(0x30, &cat(&[oid(t), tlv(*tag, v)])))
                .collect();
            tlv(0x31, &atvs.concat())
        })
        .collect();
    tlv(0x30, &sets.concat())
}

fn utf8_name(rdns: &[&[(&[u32], &str)]]) -> Vec<u8> {
    let v: Vec<Vec<RawAtv>> = rdns
        .iter()
        .map(|r| r.iter().map(|(t, s)| (*t, UTF8, s.as_bytes())).collect())
        .collect();
    let refs: Vec<&[RawAtv]> = v.iter().map(|r| r.as_slice()).collect();
    name(&refs)
}

fn ext(id: &[u32], critical: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
    let crit = critical.map(|c| tlv(0x01, c)).unwrap_or_default();
    tlv(0x30, &cat(&[oid(id), crit, tlv(0x04, value)]))
}

fn san(names: &[(u8, &[u8])]) -> Vec<u8> {
    let body: Vec<Vec<u8>> = names.iter().map(|(t, v)| tlv(*t, v)).collect();
    ext(&[2, 5, 29, 17], None, &tlv(0x30, &body.concat()))
}

fn alg() -> Vec<u8> {
    tlv(0x30, &oid(&[1, 2, 840, 10045, 4, 3, 2]))
}

/// The parts of a hand-made certificate; `Default` gives a v3 one with an empty extension list.
struct Parts {
    /// The [0] INTEGER contents, None for v1.
    version: Option<Vec<u8>>,
    serial: Vec<u8>,
    inner_alg: Vec<u8>,
    outer_alg: Vec<u8>,
    subject: Vec<u8>,
    /// The [3] SEQUENCE contents, None for no [3].
    exts: Option<Vec<u8>>,
}

impl Default for Parts {
    fn default() -> Parts {
        Parts {
            version: Some(vec![2]),
            serial: vec![1],
            inner_alg: alg(),
            outer_alg: alg(),
            subject: utf8_name(&[&[(CN, "x")]]),
            exts: Some(Vec::new()),
        }
    }
}

fn build(p: Parts) -> Vec<u8> {
    let mut tbs = Vec::new();
    if let Some(v) = p.version {
        tbs.extend(tlv(0xa0, &tlv(0x02, &v)));
    }
    tbs.extend(tlv(0x02, &p.serial));
    tbs.extend(p.inner_alg);
    tbs.extend(utf8_name(&[&[(CN, "issuer")]]));
    tbs.extend(tlv(
        0x30,
        &cat(&[tlv(0x17, b"260101000000Z"), tlv(0x17, b"360101000000Z")]),
    ));
    tbs.extend(p.subject);
    tbs.extend(tlv(
        0x30,
        &cat(&[tlv(0x30, &oid(&[1, 3, 101, 112])), tlv(0x03, &[0; 33])]),
    ));
    if let Some(e) = p.exts {
        tbs.extend(tlv(0xa3, &tlv(0x30, &e)));
    }
    tlv(
        0x30,
        &cat(&[tlv(0x30, &tbs), p.outer_alg, tlv(0x03, &[0, 1, 2, 3])]),
    )
}

fn cert_with(version: Option<u8>, subject: Vec<u8>, exts: Option<Vec<u8>>) -> Vec<u8> {
    build(Parts {
        version: version.map(|v| vec![v]),
        subject,
        exts,
        ..Parts::default()
    })
}

fn cert(subject: Vec<u8>, exts: &[Vec<u8>]) -> Vec<u8> {
    cert_with(Some(2), subject, Some(exts.concat()))
}

fn subject_of(n: Vec<u8>) -> Result<String, Error> {
    parse_identity(&cert(n, &[])).map(|id| id.subject)
}

#[test]
fn go_order_and_grouping() {
    // Every standard attribute, in a scrambled DER order, some repeated.
    let n = utf8_name(&[
        &[(CN, "first")],
        &[(C, "US")],
        &[(SN, "1"), (OU, "b")],
        &[(POSTAL, "94103"), (STREET, "1 Main St")],
        &[(L, "SF")],
        &[(OU, "a")],
        &[(ST, "CA")],
        &[(O, "o1")],
        &[(CN, "second")],
        &[(C, "DE")],
        &[(O, "")],
        &[(SN, "7")],
    ]);
    let id = parse_identity(&cert(n, &[])).unwrap();
    // CN and SERIALNUMBER: the last value; the rest all, one multi-valued RDN per type.
    assert_eq!(
        id.rdn_subject,
        "SERIALNUMBER=7,CN=second,OU=b+OU=a,O=o1+O=,POSTALCODE=94103,STREET=1 Main St,L=SF,ST=CA,C=US+C=DE"
    );
    assert_eq!(id.subject, id.rdn_subject);
    // The DN keeps the DER structure: reversed RDNs, reversed attributes within.
    assert_eq!(
        id.dn,
        Some(dn(
            "SERIALNUMBER=7,O=,C=DE,CN=second,O=o1,ST=CA,OU=a,L=SF,\
                 STREET=1 Main St+POSTALCODE=94103,OU=b+SERIALNUMBER=1,C=US,CN=first"
        ))
    );

    // An empty CN or SERIALNUMBER is left out (only those two).
    assert_eq!(
        subject_of(utf8_name(&[&[(O, "x")], &[(CN, "")], &[(SN, "")]])).unwrap(),
        "O=x"
    );
    assert_eq!(
        subject_of(utf8_name(&[&[(CN, "a")], &[(CN, "")]])).unwrap(),
        ""
    );
    assert_eq!(subject_of(tlv(0x30, &[])).unwrap(), "");
    // Empty RDN sets are allowed and ignored.
    assert_eq!(
        subject_of(tlv(
            0x30,
            &cat(&[tlv(0x31, &[]), utf8_name(&[&[(CN, "a")]])[2..].to_vec()])
        ))
        .unwrap(),
        "CN=a"
    );
}

#[test]
fn extra_attributes_as_hex() {
    let long = "x".repeat(200);
    let n = utf8_name(&[
        &[(SURNAME, "Doe")],
        &[(CN, "c")],
        &[(&[1, 2, 3, 4], "a*b")],
        &[(&[1, 2, 3, 5], "é")],
        &[(&[2, 999, 3], &long)],
        &[(DC, "d"), (&[1, 2, 3, 6], "")],
    ]);
    let id = parse_identity(&cert(n, &[])).unwrap();
    assert_eq!(id.rdn_subject, "CN=c");
    let long_hex = format!("13 81c8 {}", "78".repeat(200)).replace(' ', "");
    assert_eq!(
        id.subject,
        format!(
            "CN=c,1.2.3.6=#1300,0.9.2342.19200300.100.1.25=#130164,2.999.3=#{long_hex},\
             1.2.3.5=#0c02c3a9,1.2.3.4=#0c03612a62,2.5.4.4=#1303446f65"
        )
    );
    assert_eq!(id.domain_components, ["d"]);
    assert_eq!(id.dn, None);
}

#[test]
fn value_escaping() {
    let cases: &[(&str, &str)] = &[
        (" lead", r"\ lead"),
        ("trail ", r"trail\ "),
        (" ", r"\ "),
        ("  ", r"\ \ "),
        ("in side", "in side"),
        ("#x#", r"\#x#"),
        ("a=b", "a=b"),
        (r#",+"\<>;"#, r#"\,\+\"\\\<\>\;"#),
        ("é ", r"é\ "),
        ("\0\n", "\0\n"),
    ];
    for (raw, want) in cases {
        assert_eq!(
            subject_of(utf8_name(&[&[(CN, raw)]])).unwrap(),
            format!("CN={want}"),
            "{raw:?}"
        );
    }
}

#[test]
fn string_types() {
    let one = |tag: u8, v: &[u8]| subject_of(name(&[&[(CN, tag, v)]]));
    // PrintableString: Go's set plus '*' and '&'.
    assert_eq!(
        one(PRINTABLE, b"A-z 0'()+,./:=?*&").unwrap(),
        r"CN=A-z 0'()\+\,./:=?*&"
    );
    assert!(one(PRINTABLE, b"a@b").is_err());
    assert!(one(PRINTABLE, b"a_b").is_err());
    // UTF8String
    assert_eq!(one(UTF8, "ü😀".as_bytes()).unwrap(), "CN=ü😀");
    assert!(one(UTF8, b"\xff").is_err());
    assert!(one(UTF8, b"\xed\xa0\x80").is_err()); // an encoded surrogate
                                                  // IA5String: ASCII
    assert_eq!(one(0x16, b"a@b").unwrap(), "CN=a@b");
    assert!(one(0x16, b"\x80").is_err());
    // NumericString
    assert_eq!(one(0x12, b"12 3").unwrap(), "CN=12 3");
    assert!(one(0x12, b"1a").is_err());
    // TeletexString: Latin-1
    assert_eq!(one(0x14, b"\xe9t\xe9").unwrap(), "CN=été");
    // BMPString: UTF-16BE, surrogate pairs, a 00 00 terminator dropped, lone surrogates replaced.
    assert_eq!(
        one(0x1e, b"\x00A\xd8\x3d\xde\x00\x00\x00").unwrap(),
        "CN=A😀"
    );
    assert_eq!(one(0x1e, b"\xd8\x3d\x00A").unwrap(), "CN=\u{fffd}A");
    assert_eq!(one(0x1e, b"").unwrap(), "");
    assert!(one(0x1e, b"\x00A\x00").is_err());
    // UniversalString: UCS-4BE.
    assert_eq!(
        one(0x1c, b"\x00\x00\x00A\x00\x01\xf6\x00").unwrap(),
        "CN=A😀"
    );
    assert!(one(0x1c, b"\x00\x00\x00").is_err());
    assert!(one(0x1c, b"\x00\x11\x00\x00").is_err());
    assert!(one(0x1c, b"\x00\x00\xd8\x00").is_err());
    // Anything else: Go refuses the certificate.
    for tag in [0x1a, 0x1b, 0x02, 0x04, 0x05, 0x30, 0x2c, 0x80] {
        assert!(one(tag, b"x").is_err(), "tag {tag:#x}");
    }
}

#[test]
fn subject_alt_names() {
    let c = cert(
        utf8_name(&[&[(CN, "x")]]),
        &[san(&[
            (0x81, b"a@example.com"),
            (0x80 | 0x20, &tlv(0x06, &[0x2a])), // otherName, constructed: ignored
            (0x82, b"example.com"),
            (0x87, &[127, 0, 0, 1]),
            (0x87, &[0; 16]),
            (0x86, b"HTTPS://Example.com:4222/p?q=%zz#f"),
            (0xa4, &utf8_name(&[&[(CN, "dir")]])), // directoryName: ignored
            (0x88, &[0x2a, 0x03]),                 // registeredID: ignored
            (0xa1, b""),                           // constructed [1]: not an e-mail for Go
            (0x86, b"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
            (0x81, b""),
        ])],
    );
    let id = parse_identity(&c).unwrap();
    assert_eq!(id.emails, ["a@example.com", ""]);
    assert_eq!(id.dns_names, ["example.com"]);
    assert_eq!(
        id.uris,
        [
            "https://Example.com:4222/p?q=%zz#f",
            "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"
        ]
    );

    let bad = |n: (u8, &[u8])| parse_identity(&cert(utf8_name(&[&[(CN, "x")]]), &[san(&[n])]));
    assert!(bad((0x81, "é@x".as_bytes())).is_err());
    assert!(bad((0x82, b"\xff")).is_err());
    assert!(bad((0x87, &[1, 2, 3])).is_err());
    for u in [
        &b":nope"[..],
        b"http://exa mple.com/",
        b"http://example.com./",
        b"http://a..b/",
        b"http://h/%zz",
        b"http://h/#%g0",
        b"a:b/c\x01",
    ] {
        assert!(bad((0x86, u)).is_err(), "{:?}", String::from_utf8_lossy(u));
    }
    for u in [
        &b"http://h:x/"[..],
        b"http://[::1/",
        b"http://[::1]x/",
        b"http://%zz@h/",
    ] {
        assert!(bad((0x86, u)).is_err(), "{:?}", String::from_utf8_lossy(u));
    }
    for u in [
        &b"http://h:/"[..],
        b"http://[::1]:4222/",
        b"http://u:p@h:1/",
        b"file:///x",
    ] {
        assert!(bad((0x86, u)).is_ok(), "{:?}", String::from_utf8_lossy(u));
    }
    assert!(bad((0x86, b"rel/path:x")).is_ok());
    assert!(bad((0x86, b"rel:x/path")).is_ok()); // "rel" is a scheme: opaque
    assert!(bad((0x86, b"1rel:x/path")).is_err()); // no scheme: colon in the first segment
    assert_eq!(
        bad((0x86, b"spiffe://user@Trust.Domain/x")).unwrap().uris,
        ["spiffe://user@Trust.Domain/x"]
    );
}

#[test]
fn extensions_rules() {
    let subj = || utf8_name(&[&[(CN, "x")]]);
    let e = |n: &[u8]| san(&[(0x81, n)]);
    // Duplicate extensions are refused (Go 1.19+), whatever they are.
    assert!(parse_identity(&cert(subj(), &[e(b"a"), e(b"b")])).is_err());
    let other = ext(&[2, 5, 29, 15], Some(&[0xff]), &tlv(0x03, &[7, 0x80]));
    assert!(parse_identity(&cert(subj(), &[other.clone(), other.clone()])).is_err());
    assert!(parse_identity(&cert(subj(), &[other.clone(), e(b"a")])).is_ok());
    // The critical flag must be a DER BOOLEAN.
    let crit = |c: &[u8]| ext(&[2, 5, 29, 17], Some(c), &tlv(0x30, &tlv(0x81, b"a")));
    assert_eq!(
        parse_identity(&cert(subj(), &[crit(&[0xff])]))
            .unwrap()
            .emails,
        ["a"]
    );
    assert!(parse_identity(&cert(subj(), &[crit(&[0x00])])).is_ok());
    assert!(parse_identity(&cert(subj(), &[crit(&[0x01])])).is_err());
    assert!(parse_identity(&cert(subj(), &[crit(&[])])).is_err());
    // An empty extension list, and none at all.
    assert!(parse_identity(&cert(subj(), &[])).is_ok());
    assert!(parse_identity(&cert_with(Some(2), subj(), None)).is_ok());
    // SANs are only read from v3 certificates, like Go; v2 is fine without extensions.
    let v1 = cert_with(None, subj(), Some(e(b"a")));
    assert_eq!(parse_identity(&v1).unwrap().emails, Vec::<String>::new());
    assert!(parse_identity(&cert_with(Some(1), subj(), None)).is_ok());
    assert!(parse_identity(&cert_with(Some(3), subj(), None)).is_err());
    // A malformed SAN is an error.
    let bad_san = ext(&[2, 5, 29, 17], None, &tlv(0x31, &[]));
    assert!(parse_identity(&cert(subj(), &[bad_san])).is_err());
}

#[test]
fn der_rules() {
    let good = build(Parts::default());
    assert!(parse_identity(&good).is_ok());
    // Trailing bytes after the certificate.
    let mut t = good.clone();
    t.push(0);
    assert!(parse_identity(&t).is_err());
    // Every proper prefix fails.
    for n in 0..good.len() {
        assert!(parse_identity(&good[..n]).is_err(), "prefix {n}");
    }
    // Length forms: long form only when needed, minimal, at most 4 bytes, never indefinite.
    assert!((128..256).contains(&(good.len() - 3)) && good[1] == 0x81);
    let body = &good[3..];
    let n = body.len() as u8;
    let relen = |len: &[u8]| cat(&[vec![0x30], len.to_vec(), body.to_vec()]);
    assert!(parse_identity(&relen(&[0x81, n])).is_ok());
    assert!(parse_identity(&relen(&[0x82, 0, n])).is_err());
    assert!(parse_identity(&relen(&[0x84, 0, 0, 0, n])).is_err());
    assert!(parse_identity(&relen(&[0x85, 0, 0, 0, 0, n])).is_err());
    assert!(parse_identity(&relen(&[0x80])).is_err());
    assert!(Reader(&[0x04, 0x81, 0x01, 0xaa]).read_any().is_err());
    assert_eq!(
        Reader(&[0x04, 0x01, 0xaa]).read_any(),
        Ok((0x04, &[0xaa][..]))
    );
    let mut long = vec![0x04, 0x82, 0x01, 0x00];
    long.extend([7; 256]);
    assert_eq!(Reader(&long).read_any().map(|(_, b)| b.len()), Ok(256));
    let big = cert(utf8_name(&[&[(CN, &"y".repeat(70_000))]]), &[]);
    assert_eq!(big[1], 0x83);
    assert_eq!(parse_identity(&big).unwrap().subject.len(), 70_003);
    // A length past the end of the input.
    assert!(parse_identity(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]).is_err());
    assert!(parse_identity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    // High-tag-number identifiers are refused.
    assert!(parse_identity(&[0x3f, 0x01, 0x00]).is_err());
    assert!(Reader(&[0x1f, 0x01, 0x00]).read_any().is_err());
    // Inner and outer signature algorithms must be the same bytes.
    let other = tlv(0x30, &oid(&[1, 2, 840, 10045, 4, 3, 3]));
    assert!(parse_identity(&build(Parts {
        outer_alg: other.clone(),
        ..Parts::default()
    }))
    .is_err());
    assert!(parse_identity(&build(Parts {
        outer_alg: other.clone(),
        inner_alg: other,
        ..Parts::default()
    }))
    .is_ok());
    // INTEGERs must be minimal (negative serials are fine, as in Go).
    for (serial, ok) in [
        (vec![0x00, 0x01], false),
        (vec![0xff, 0x80], false),
        (vec![], false),
        (vec![0x00, 0x80], true),
        (vec![0xff], true),
        (vec![0x7f; 20], true),
    ] {
        let r = parse_identity(&build(Parts {
            serial: serial.clone(),
            ..Parts::default()
        }));
        assert_eq!(r.is_ok(), ok, "serial {serial:x?}");
    }
    for (version, ok) in [
        (vec![0x00], true),
        (vec![0x01], true),
        (vec![0x02], true),
        (vec![0x03], false),
        (vec![0x00, 0x02], false),
        (vec![0xff], false),
        (vec![], false),
    ] {
        let r = parse_identity(&build(Parts {
            version: Some(version.clone()),
            ..Parts::default()
        }));
        assert_eq!(r.is_ok(), ok, "version {version:x?}");
    }
}

#[test]
fn oids() {
    let parse = |b: &[u8]| parse_oid(b).map(|a| oid_string(&a));
    assert_eq!(parse(&[0x2a, 0x86, 0x48]).unwrap(), "1.2.840");
    assert_eq!(parse(&[0x88, 0x37, 0x03]).unwrap(), "2.999.3");
    assert_eq!(parse(&[0x09, 0x92, 0x26]).unwrap(), "0.9.2342");
    assert_eq!(
        parse(&[0x2a, 0x87, 0xff, 0xff, 0xff, 0x7f]).unwrap(),
        "1.2.2147483647"
    );
    assert!(parse(&[0x2a, 0x88, 0x80, 0x80, 0x80, 0x00]).is_err()); // 2^31
    assert!(parse(&[]).is_err());
    assert!(parse(&[0x2a, 0x80, 0x01]).is_err()); // non-minimal
    assert!(parse(&[0x2a, 0x81]).is_err()); // truncated
}

#[test]
fn dn_parse() {
    let a = |t: &str, v: &[u8]| DnAttr {
        typ: t.as_bytes().to_vec(),
        value: v.to_vec(),
    };
    let d = dn("  CN = alice ,OU=a+OU=b , O=x\\2C y\\,\\ ");
    assert_eq!(
        d.rdns,
        [
            Rdn {
                attrs: vec![a("CN", b"alice")]
            },
            Rdn {
                attrs: vec![a("OU", b"a"), a("OU", b"b")]
            },
            Rdn {
                attrs: vec![a("O", b"x, y, ")]
            },
        ]
    );
    assert_eq!(
        dn("CN=\\e9t\\C3\\A9").rdns[0].attrs[0].value,
        b"\xe9t\xc3\xa9"
    );
    // A second '=' starts the type over; an empty last value drops the last RDN.
    assert_eq!(dn("CN=a=b").rdns[0].attrs[0], a("a", b"b"));
    assert_eq!(dn("O=x,CN=").rdns.len(), 1);
    assert_eq!(dn("").rdns.len(), 0);
    // A backslash at the very end is ignored, as in Go.
    assert_eq!(dn("CN=a\\").rdns[0].attrs[0], a("CN", b"a"));
    for bad in ["alice", "CN=#0403", "=x,", ",", "CN=a\\zz", "CN=a\\4"] {
        assert!(Dn::parse(bad).is_err(), "{bad:?}");
    }
    // Equality: types without case, values exactly, attributes of an RDN in any order.
    assert!(dn("cn=a+o=b,c=US").equal(&dn("O=b+CN=a,C=US")));
    assert!(!dn("CN=a").equal(&dn("CN=A")));
    assert!(!dn("CN=a,C=US").equal(&dn("C=US,CN=a")));
    assert!(dn("CN=a,C=US").rdns_match(&dn("C=US,CN=a")));
    assert!(!dn("CN=a,CN=a").rdns_match(&dn("CN=a,C=US")));
    assert!(!dn("CN=a+C=US").rdns_match(&dn("CN=a,C=US")));
}

#[test]
fn map_user_order() {
    let id = parse_identity(&pem_der(ESCAPES_PEM)).unwrap();
    let rdn = id.rdn_subject.clone();
    let users = [
        rdn.as_str(),
        "spiffe://example.org/ns/default/sa/jdoe",
        "*.example.org",
        "j@example.com",
    ];
    assert_eq!(id.map_user(&users, true), Some("j@example.com"));
    assert_eq!(id.map_user(&users[..3], true), Some("*.example.org"));
    assert_eq!(
        id.map_user(&users[..2], true),
        Some("spiffe://example.org/ns/default/sa/jdoe")
    );
    assert_eq!(id.map_user(&users[..1], true), Some(rdn.as_str()));
    assert_eq!(id.map_user(&[], true), None);
    // The original (upper-case) URI scheme is not what Go prints.
    assert_eq!(
        id.map_user(&["SPIFFE://example.org/ns/default/sa/jdoe"], true),
        None
    );

    // The client test certificate maps by e-mail first, then by DN or subject.
    let id = parse_identity(&cert_file("client-cert.pem")).unwrap();
    let subj = "CN=alice,OU=clients,O=rnatsd test";
    assert_eq!(
        id.map_user(&[subj, "alice@example.com"], true),
        Some("alice@example.com")
    );
    assert_eq!(id.map_user(&[subj], false), Some(subj));
    assert_eq!(
        id.map_user(&["CN=alice, OU=clients, O=rnatsd test"], true),
        Some("CN=alice, OU=clients, O=rnatsd test")
    );
    assert_eq!(
        id.map_user(&["CN=alice, OU=clients, O=rnatsd test"], false),
        None
    );
    assert_eq!(
        id.map_user(&["O=rnatsd test,OU=clients,CN=alice"], true),
        Some("O=rnatsd test,OU=clients,CN=alice")
    );
    assert_eq!(id.map_user(&["CN=alice"], true), None);

    // No e-mail, no URI and an empty subject: refused even with a matching DNS name.
    let c = cert(tlv(0x30, &[]), &[san(&[(0x82, b"host")])]);
    let id = parse_identity(&c).unwrap();
    assert!(!id.has_identity());
    assert_eq!(id.map_user(&["host"], true), None);
    let c = cert(tlv(0x30, &[]), &[san(&[(0x82, b"host"), (0x86, b"x:y")])]);
    assert_eq!(
        parse_identity(&c).unwrap().map_user(&["host"], true),
        Some("host")
    );
}

/// Cut, flipped and stretched variants of every sample certificate never panic.
#[test]
fn mutations_never_panic() {
    let mut samples = vec![
        pem_der(ESCAPES_PEM),
        pem_der(DC_PEM),
        pem_der(BMP_PEM),
        pem_der(T61_PEM),
        cert_file("client-cert.pem"),
        cert_file("server-cert.pem"),
    ];
    samples.push(cert(
        utf8_name(&[&[(CN, "x")]]),
        &[san(&[(0x86, b"http://h/")])],
    ));
    let mut runs = 0;
    for s in &samples {
        for i in 0..s.len() {
            for x in [0x00, 0x01, 0x7f, 0x80, 0x81, 0xff] {
                let mut m = s.clone();
                m[i] ^= x;
                let _ = parse_identity(&m);
                m[i] = x;
                let _ = parse_identity(&m);
                runs += 2;
            }
            let _ = parse_identity(&s[i..]);
            let mut m = s.clone();
            m.insert(i, 0x00);
            let _ = parse_identity(&m);
        }
    }
    assert!(runs > 10_000);
}
