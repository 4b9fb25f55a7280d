//! What nats-server's TLS `verify_and_map` needs from a client certificate, read straight from its
//! DER bytes: the subject as Go prints it, the subject alternative names, and the subject as the
//! structured distinguished name nats-server's `internal/ldap` package compares.
//!
//! Pure and panic-free: no IO, no recursion, every read bounds-checked. The certificate is read
//! about as strictly as Go's `x509.ParseCertificate` (the cryptobyte parser of Go 1.19-1.21, the
//! toolchains nats-server 2.9 releases were built with) reads the parts used here: DER lengths must be minimal, indefinite lengths and
//! high-tag-number identifiers are refused, attribute values must be one of the string types Go
//! accepts, SAN names must be ASCII, IP addresses 4 or 16 bytes, extensions may not repeat.
//! Signatures, validity dates, public keys and other extensions are not checked: the TLS library
//! has already verified the chain before the identity is looked at.
//!
//! How nats-server 2.9 maps a certificate to a user (`checkClientTLSCertSubject` in
//! `server/auth.go`), which [`CertIdentity::map_user`] reproduces:
//!
//! 1. no e-mail SAN, no URI SAN and an empty `Subject.String()`: refused;
//! 2. each e-mail SAN, then each DNS SAN, then each URI SAN, as a literal user name;
//! 3. (clients only) the subject as an RFC 4514 DN against every user name that parses as one:
//!    first in order, then with the RDNs in any order;
//! 4. `Subject.ToRDNSequence().String()` followed by `,DC=...` for each domain component, if any;
//! 5. `Subject.ToRDNSequence().String()` alone.

use std::fmt;

/// Why a certificate could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub &'static str);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "x509: {}", self.0)
    }
}

impl std::error::Error for Error {}

/// The identity a client certificate carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertIdentity {
    /// Go's `cert.Subject.String()` (`pkix.Name.String`): the standard attributes in Go's fixed
    /// order (`SERIALNUMBER,CN,OU,O,POSTALCODE,STREET,L,ST,C`, repeated attributes of one kind
    /// joined with `+`), then every other attribute as `OID=#hex` in reverse DER order. nats-server
    /// only uses it to check that the subject is not empty; it compares user names with
    /// [`CertIdentity::rdn_subject`].
    pub subject: String,
    /// rfc822Name SANs, in certificate order.
    pub emails: Vec<String>,
    /// dNSName SANs, in certificate order.
    pub dns_names: Vec<String>,
    /// uniformResourceIdentifier SANs, in certificate order, with the scheme lower-cased as Go's
    /// `url.URL.String()` prints it.
    pub uris: Vec<String>,
    /// Go's `cert.Subject.ToRDNSequence().String()`: [`CertIdentity::subject`] without the
    /// non-standard attributes. The string nats-server compares configured user names with.
    pub rdn_subject: String,
    /// The values of the domainComponent (DC, 0.9.2342.19200300.100.1.25) attributes, in DER
    /// order; nats-server also tries `rdn_subject + ",DC=a,DC=b"`.
    pub domain_components: Vec<String>,
    /// The subject as nats-server's `ldap.FromRawCertSubject` builds it (RDNs in reverse DER
    /// order, i.e. RFC 4514 string order), or `None` when that fails because an attribute type is
    /// not one of CN, SERIALNUMBER, C, L, ST, STREET, O, OU, POSTALCODE, DC.
    pub dn: Option<Dn>,
    /// The DER of the SubjectPublicKeyInfo (for its fingerprint).
    pub spki: Vec<u8>,
}

/// A distinguished name as nats-server's `internal/ldap` package models it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dn {
    pub rdns: Vec<Rdn>,
}

/// One relative distinguished name: a set of attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rdn {
    pub attrs: Vec<DnAttr>,
}

/// An attribute type and value. Bytes, not strings: a parsed DN may hold any byte through a
/// `\XX` escape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnAttr {
    pub typ: Vec<u8>,
    pub value: Vec<u8>,
}

impl DnAttr {
    /// Go's `AttributeTypeAndValue.Equal`: types case-insensitively, values exactly.
    fn equal(&self, o: &DnAttr) -> bool {
        eq_fold(&self.typ, &o.typ) && self.value == o.value
    }
}

/// `strings.EqualFold` for what attribute types are: ASCII case-insensitive; non-ASCII bytes must
/// match exactly (Go would also fold non-ASCII letters).
fn eq_fold(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Rdn {
    fn has_all(&self, attrs: &[DnAttr]) -> bool {
        attrs
            .iter()
            .all(|a| self.attrs.iter().any(|mine| mine.equal(a)))
    }

    /// Go's `RelativeDN.Equal`: the same number of attributes, each found in the other, in any
    /// order.
    pub fn equal(&self, o: &Rdn) -> bool {
        self.attrs.len() == o.attrs.len() && self.has_all(&o.attrs) && o.has_all(&self.attrs)
    }
}

impl Dn {
    /// nats-server's `ldap.ParseDN` (from go-ldap), quirks included: leading spaces of types and
    /// values and unescaped trailing spaces are dropped, `\` escapes one special character or
    /// gives a byte in two hex digits, a `#` value is refused, a second `=` restarts the type, and
    /// a last attribute with an empty value is dropped.
    pub fn parse(s: &str) -> Result<Dn, Error> {
        let b = s.as_bytes();
        let mut dn = Dn::default();
        let mut rdn = Rdn::default();
        let mut buf: Vec<u8> = Vec::new();
        let mut typ: Vec<u8> = Vec::new();
        let mut escaping = false;
        let mut trailing = 0usize;
        fn take(buf: &mut Vec<u8>, trailing: &mut usize) -> Vec<u8> {
            let keep = buf.len().saturating_sub(*trailing);
            buf.truncate(keep);
            *trailing = 0;
            std::mem::take(buf)
        }
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if escaping {
                trailing = 0;
                escaping = false;
                if matches!(
                    c,
                    b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\'
                ) {
                    buf.push(c);
                    i += 1;
                    continue;
                }
                let (Some(hi), Some(lo)) = (hex_val(c), b.get(i + 1).and_then(|&l| hex_val(l)))
                else {
                    return Err(Error("DN: corrupted escaped character"));
                };
                buf.push(hi << 4 | lo);
                i += 2;
                continue;
            }
            match c {
                b'\\' => {
                    trailing = 0;
                    escaping = true;
                }
                b'=' => {
                    typ = take(&mut buf, &mut trailing);
                    if b.get(i + 1) == Some(&b'#') {
                        return Err(Error("DN: unsupported BER encoding"));
                    }
                }
                b',' | b'+' => {
                    if typ.is_empty() {
                        return Err(Error("DN: incomplete type, value pair"));
                    }
                    let value = take(&mut buf, &mut trailing);
                    rdn.attrs.push(DnAttr {
                        typ: std::mem::take(&mut typ),
                        value,
                    });
                    if c == b',' {
                        dn.rdns.push(std::mem::take(&mut rdn));
                    }
                }
                b' ' if buf.is_empty() => {}
                _ => {
                    if c == b' ' {
                        trailing += 1;
                    } else {
                        trailing = 0;
                    }
                    buf.push(c);
                }
            }
            i += 1;
        }
        if !buf.is_empty() {
            if typ.is_empty() {
                return Err(Error("DN: ended with incomplete type, value pair"));
            }
            let value = take(&mut buf, &mut trailing);
            rdn.attrs.push(DnAttr { typ, value });
            dn.rdns.push(rdn);
        }
        Ok(dn)
    }

    /// Go's `DN.Equal` (RFC 4517 distinguishedNameMatch): the same RDNs in the same order.
    pub fn equal(&self, o: &Dn) -> bool {
        self.rdns.len() == o.rdns.len() && self.rdns.iter().zip(&o.rdns).all(|(a, b)| a.equal(b))
    }

    /// Go's `DN.RDNsMatch`: the same RDNs in any order, each used once.
    pub fn rdns_match(&self, o: &Dn) -> bool {
        if self.rdns.len() != o.rdns.len() {
            return false;
        }
        let mut used = vec![false; o.rdns.len()];
        self.rdns.iter().all(|r| {
            let found = o
                .rdns
                .iter()
                .enumerate()
                .find(|(j, x)| !used[*j] && r.equal(x))
                .map(|(j, _)| j);
            if let Some(j) = found {
                used[j] = true;
            }
            found.is_some()
        })
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl CertIdentity {
    /// nats-server's precondition: an e-mail SAN, a URI SAN or a non-empty subject.
    pub fn has_identity(&self) -> bool {
        !self.emails.is_empty() || !self.uris.is_empty() || !self.subject.is_empty()
    }

    /// The SAN strings nats-server 2.9 looks up as user names, in its order: e-mails, DNS names,
    /// URIs.
    fn san_candidates(&self) -> impl Iterator<Item = &str> {
        self.emails
            .iter()
            .chain(&self.dns_names)
            .chain(&self.uris)
            .map(String::as_str)
    }

    /// The subject strings nats-server 2.9 looks up as user names after the SANs (and the DN
    /// match): `rdn_subject` with `,DC=...` for each domain component (only if there are any),
    /// then `rdn_subject` alone.
    fn subject_candidates(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(2);
        if !self.domain_components.is_empty() {
            let mut s = self.rdn_subject.clone();
            for dc in &self.domain_components {
                s.push_str(",DC=");
                s.push_str(dc);
            }
            out.push(s);
        }
        out.push(self.rdn_subject.clone());
        out
    }

    /// Every literal string nats-server 2.9 looks up as a user name, in its order: e-mails, DNS
    /// names, URIs, `rdn_subject` with the domain components appended (only if there are any),
    /// `rdn_subject`. Empty strings are left out: nats-server never matches them.
    pub fn literal_candidates(&self) -> Vec<String> {
        let mut out: Vec<String> = self.san_candidates().map(str::to_owned).collect();
        out.extend(self.subject_candidates());
        out.retain(|s| !s.is_empty());
        out
    }

    /// The configured user this certificate maps to, as nats-server 2.9's `verify_and_map` picks
    /// it. `users` must hold only the users allowed for this connection type (nats-server skips
    /// the others the same way). `dn_match` turns on the distinguished-name comparison, which
    /// nats-server does for client connections but not for leafnode ones.
    pub fn map_user<'a>(&self, users: &[&'a str], dn_match: bool) -> Option<&'a str> {
        if !self.has_identity() {
            return None;
        }
        let lookup = |c: &str| {
            if c.is_empty() {
                return None;
            }
            users.iter().find(|u| **u == c).copied()
        };
        if let Some(u) = self.san_candidates().find_map(lookup) {
            return Some(u);
        }
        if let (true, Some(cert_dn)) = (dn_match, &self.dn) {
            let parsed: Vec<(&'a str, Dn)> = users
                .iter()
                .filter_map(|u| Dn::parse(u).ok().map(|d| (*u, d)))
                .collect();
            if let Some((u, _)) = parsed.iter().find(|(_, d)| d.equal(cert_dn)) {
                return Some(u);
            }
            if let Some((u, _)) = parsed.iter().find(|(_, d)| d.rdns_match(cert_dn)) {
                return Some(u);
            }
        }
        self.subject_candidates().iter().find_map(|c| lookup(c))
    }
}

/// Read the identity out of a DER certificate.
pub fn parse_identity(der: &[u8]) -> Result<CertIdentity, Error> {
    let mut input = Reader(der);
    let cert = input.read(SEQUENCE)?;
    if !input.is_empty() {
        return Err(Error("trailing data"));
    }
    let mut cert = Reader(cert);
    let mut tbs = Reader(
        cert.read(SEQUENCE)
            .map_err(|_| Error("malformed tbs certificate"))?,
    );

    let version = match tbs.read_optional(0xa0)? {
        None => 0,
        Some(v) => {
            let mut v = Reader(v);
            let n = v.read(INTEGER)?;
            if !v.is_empty() || !integer_ok(n) || n.len() > 1 || n[0] > 2 {
                return Err(Error("malformed version"));
            }
            n[0]
        }
    };
    let serial = tbs.read(INTEGER)?;
    if !integer_ok(serial) {
        return Err(Error("malformed serial number"));
    }
    let sig_ai = tbs.read(SEQUENCE)?;
    let outer_ai = cert.read(SEQUENCE)?;
    if sig_ai != outer_ai {
        return Err(Error(
            "inner and outer signature algorithm identifiers don't match",
        ));
    }
    algorithm_identifier(sig_ai)?;
    parse_name(tbs.read(SEQUENCE)?)?; // issuer: Go refuses the certificate if it is malformed
    let mut validity = Reader(tbs.read(SEQUENCE)?);
    for _ in 0..2 {
        let (tag, _) = validity.read_any()?;
        if tag != UTC_TIME && tag != GENERALIZED_TIME {
            return Err(Error("unsupported time format"));
        }
    }
    let subject = parse_name(tbs.read(SEQUENCE)?)?;
    let rest = tbs.0;
    let mut spki = Reader(tbs.read(SEQUENCE)?);
    let spki_der = rest[..rest.len() - tbs.0.len()].to_vec();
    algorithm_identifier(spki.read(SEQUENCE)?)?;
    bit_string(spki.read(BIT_STRING)?)?;

    let mut id = CertIdentity::default();
    if version >= 1 {
        tbs.read_optional(0x81)?; // issuerUniqueID
        tbs.read_optional(0x82)?; // subjectUniqueID
        if version == 2 {
            if let Some(exts) = tbs.read_optional(0xa3)? {
                extensions(exts, &mut id)?;
            }
        }
    }
    bit_string(cert.read(BIT_STRING)?)?;

    describe_subject(&subject, &mut id);
    id.spki = spki_der;
    Ok(id)
}

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// A cursor over DER elements, with the rules of Go's cryptobyte.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One element: its identifier byte and its contents.
    fn read_any(&mut self) -> Result<(u8, &'a [u8]), Error> {
        let s = self.0;
        let (&tag, rest) = s.split_first().ok_or(Error("truncated element"))?;
        if tag & 0x1f == 0x1f {
            return Err(Error("high-tag-number identifier"));
        }
        let (&l0, rest) = rest.split_first().ok_or(Error("truncated element"))?;
        let (len, rest) = if l0 & 0x80 == 0 {
            (l0 as usize, rest)
        } else {
            let n = (l0 & 0x7f) as usize;
            if n == 0 {
                return Err(Error("indefinite length"));
            }
            if n > 4 || rest.len() < n {
                return Err(Error("bad length"));
            }
            let mut len: u32 = 0;
            for &b in &rest[..n] {
                len = len << 8 | b as u32;
            }
            if len < 128 || rest[0] == 0 {
                return Err(Error("non-minimal length"));
            }
            (len as usize, &rest[n..])
        };
        if rest.len() < len {
            return Err(Error("truncated element"));
        }
        let (body, after) = rest.split_at(len);
        self.0 = after;
        Ok((tag, body))
    }

    fn read(&mut self, want: u8) -> Result<&'a [u8], Error> {
        let (tag, body) = self.read_any()?;
        if tag != want {
            return Err(Error("unexpected element"));
        }
        Ok(body)
    }

    fn read_optional(&mut self, want: u8) -> Result<Option<&'a [u8]>, Error> {
        if self.0.first() == Some(&want) {
            self.read(want).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// cryptobyte's INTEGER check: at least one byte, minimally encoded.
fn integer_ok(b: &[u8]) -> bool {
    match b {
        [] => false,
        [_] => true,
        [0, x, ..] => x & 0x80 != 0,
        [0xff, x, ..] => x & 0x80 == 0,
        _ => true,
    }
}

fn bit_string(b: &[u8]) -> Result<(), Error> {
    let (&pad, rest) = b.split_first().ok_or(Error("malformed bit string"))?;
    let bad = pad > 7
        || (rest.is_empty() && pad != 0)
        || rest
            .last()
            .is_some_and(|&l| l & ((1u8 << pad).wrapping_sub(1)) != 0);
    if bad {
        return Err(Error("malformed bit string"));
    }
    Ok(())
}

fn algorithm_identifier(b: &[u8]) -> Result<(), Error> {
    let mut r = Reader(b);
    parse_oid(r.read(OID)?)?;
    if !r.is_empty() {
        r.read_any()?;
    }
    Ok(())
}

/// An OBJECT IDENTIFIER's arcs, as cryptobyte reads them (each below 2^31).
fn parse_oid(mut b: &[u8]) -> Result<Vec<u32>, Error> {
    if b.is_empty() {
        return Err(Error("malformed OID"));
    }
    let mut arcs = Vec::with_capacity(b.len() + 1);
    let first = base128(&mut b)?;
    if first < 80 {
        arcs.push(first / 40);
        arcs.push(first % 40);
    } else {
        arcs.push(2);
        arcs.push(first - 80);
    }
    while !b.is_empty() {
        arcs.push(base128(&mut b)?);
    }
    Ok(arcs)
}

fn base128(b: &mut &[u8]) -> Result<u32, Error> {
    let mut ret: u32 = 0;
    let mut i = 0;
    while let Some((&c, rest)) = b.split_first() {
        if i == 5 || ret >= 1 << (31 - 7) || (i == 0 && c == 0x80) {
            return Err(Error("malformed OID"));
        }
        *b = rest;
        ret = ret << 7 | (c & 0x7f) as u32;
        if c & 0x80 == 0 {
            return Ok(ret);
        }
        i += 1;
    }
    Err(Error("malformed OID"))
}

fn oid_string(arcs: &[u32]) -> String {
    let parts: Vec<String> = arcs.iter().map(|a| a.to_string()).collect();
    parts.join(".")
}

/// One attribute of a name, its value decoded to a string.
struct Atv {
    oid: Vec<u32>,
    value: String,
}

/// Go's `parseName`: a SEQUENCE OF SET OF (OID, string). `b` is the SEQUENCE's contents.
fn parse_name(b: &[u8]) -> Result<Vec<Vec<Atv>>, Error> {
    let mut seq = Reader(b);
    let mut rdns = Vec::new();
    while !seq.is_empty() {
        let mut set = Reader(seq.read(SET)?);
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let mut atv = Reader(set.read(SEQUENCE)?);
            let oid = parse_oid(atv.read(OID)?)?;
            let (tag, raw) = atv.read_any()?;
            let value = decode_string(tag, raw)?;
            rdn.push(Atv { oid, value });
        }
        rdns.push(rdn);
    }
    Ok(rdns)
}

/// Go's `parseASN1String`, plus UniversalString (which Go refuses). TeletexString is read as
/// Latin-1, as Go does since golang/go#71862 (2025); the Go that built nats-server 2.9 kept the raw
/// bytes, which only reads the same for ASCII. BMPString follows that older Go: surrogate pairs
/// combined, lone surrogates replaced (newer Go refuses any surrogate).
fn decode_string(tag: u8, v: &[u8]) -> Result<String, Error> {
    match tag {
        // TeletexString / T61String
        0x14 => Ok(v.iter().map(|&b| b as char).collect()),
        // PrintableString, with the '*' and '&' Go lets through
        0x13 => {
            if v.iter().all(|&b| is_printable(b) || b == b'*' || b == b'&') {
                Ok(v.iter().map(|&b| b as char).collect())
            } else {
                Err(Error("invalid PrintableString"))
            }
        }
        // UTF8String
        0x0c => std::str::from_utf8(v)
            .map(str::to_owned)
            .map_err(|_| Error("invalid UTF-8 string")),
        // BMPString: UTF-16BE, an optional 00 00 terminator dropped, lone surrogates replaced
        // (Go's utf16.Decode).
        0x1e => {
            if v.len() % 2 != 0 {
                return Err(Error("invalid BMPString"));
            }
            let v = v.strip_suffix(&[0, 0]).unwrap_or(v);
            let units = v.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            Ok(char::decode_utf16(units)
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect())
        }
        // UniversalString: UCS-4BE.
        0x1c => {
            if v.len() % 4 != 0 {
                return Err(Error("invalid UniversalString"));
            }
            v.chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()
                .ok_or(Error("invalid UniversalString"))
        }
        // IA5String
        0x16 => {
            if v.is_ascii() {
                Ok(v.iter().map(|&b| b as char).collect())
            } else {
                Err(Error("invalid IA5String"))
            }
        }
        // NumericString
        0x12 => {
            if v.iter().all(|&b| b.is_ascii_digit() || b == b' ') {
                Ok(v.iter().map(|&b| b as char).collect())
            } else {
                Err(Error("invalid NumericString"))
            }
        }
        _ => Err(Error("unsupported string type")),
    }
}

/// encoding/asn1's PrintableString set, without the '*' and '&' extensions.
fn is_printable(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || (b'\''..=b')').contains(&b)
        || (b'+'..=b'/').contains(&b)
        || matches!(b, b' ' | b':' | b'=' | b'?')
}

const OID_SAN: [u32; 4] = [2, 5, 29, 17];
const OID_DC: [u32; 7] = [0, 9, 2342, 19200300, 100, 1, 25];

fn extensions(b: &[u8], id: &mut CertIdentity) -> Result<(), Error> {
    let mut outer = Reader(b);
    let mut exts = Reader(outer.read(SEQUENCE)?);
    let mut seen: Vec<Vec<u32>> = Vec::new();
    while !exts.is_empty() {
        let mut ext = Reader(exts.read(SEQUENCE)?);
        let oid = parse_oid(ext.read(OID)?)?;
        if let Some(crit) = ext.read_optional(BOOLEAN)? {
            if crit != [0] && crit != [0xff] {
                return Err(Error("malformed extension critical field"));
            }
        }
        let value = ext.read(OCTET_STRING)?;
        if seen.contains(&oid) {
            return Err(Error("certificate contains duplicate extensions"));
        }
        if oid == OID_SAN {
            subject_alt_names(value, id)?;
        }
        seen.push(oid);
    }
    Ok(())
}

fn subject_alt_names(b: &[u8], id: &mut CertIdentity) -> Result<(), Error> {
    let mut outer = Reader(b);
    let mut names = Reader(outer.read(SEQUENCE)?);
    while !names.is_empty() {
        let (tag, v) = names.read_any()?;
        let ascii = || -> Result<String, Error> {
            if v.is_ascii() {
                Ok(v.iter().map(|&b| b as char).collect())
            } else {
                Err(Error("SAN is malformed"))
            }
        };
        match tag {
            0x81 => id.emails.push(ascii()?),
            0x82 => id.dns_names.push(ascii()?),
            0x86 => id.uris.push(uri(&ascii()?)?),
            0x87 if v.len() != 4 && v.len() != 16 => {
                return Err(Error("cannot parse IP address"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check a URI SAN roughly as Go's `url.Parse` does and print it as `url.URL.String()` would
/// for ordinary URIs: only the scheme is lower-cased.
fn uri(s: &str) -> Result<String, Error> {
    let bad = Error("cannot parse URI");
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(bad);
    }
    let (before_frag, frag) = s.split_once('#').unwrap_or((s, ""));
    // Go's getScheme.
    let mut scheme_len = 0;
    for (i, c) in before_frag.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err(bad),
            b':' => {
                scheme_len = i;
                break;
            }
            _ => break,
        }
    }
    let rest = if scheme_len > 0 {
        &before_frag[scheme_len + 1..]
    } else {
        before_frag
    };
    let rest = match rest.find('?') {
        Some(q) => &rest[..q],
        None => rest,
    };
    if !valid_escapes(frag) {
        return Err(bad);
    }
    if !rest.starts_with('/') {
        if scheme_len > 0 {
            // Opaque: Go checks nothing more.
        } else if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err(bad);
        }
    } else if let Some(auth) = rest.strip_prefix("//") {
        let (auth, path) = auth.split_at(auth.find('/').unwrap_or(auth.len()));
        let (user, host) = auth.rsplit_once('@').unwrap_or(("", auth));
        if !valid_escapes(user) || !valid_escapes(host) || !valid_escapes(path) {
            return Err(bad);
        }
        // Go's parseHost: a bracketed IPv6 literal, or a name; either with an optional port.
        let port = if host.starts_with('[') {
            match host.rfind(']') {
                Some(i) => &host[i + 1..],
                None => return Err(bad),
            }
        } else {
            host.rfind(':').map_or("", |i| &host[i..])
        };
        if !(port.is_empty()
            || port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad);
        }
        if !host.is_empty() && !valid_domain(host) {
            return Err(bad);
        }
    } else if !valid_escapes(rest) {
        return Err(bad);
    }
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..scheme_len].to_ascii_lowercase());
    out.push_str(&s[scheme_len..]);
    Ok(out)
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Go's `domainToReverseLabels` succeeding: no empty label (so no trailing dot), only visible
/// ASCII.
fn valid_domain(host: &str) -> bool {
    host.split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|c| (33..=126).contains(&c)))
}

/// Attribute short names of Go's pkix (by the last arc of 2.5.4.x), in `ToRDNSequence` order.
const STANDARD: [(u32, &str); 9] = [
    (6, "C"),
    (8, "ST"),
    (7, "L"),
    (9, "STREET"),
    (17, "POSTALCODE"),
    (10, "O"),
    (11, "OU"),
    (3, "CN"),
    (5, "SERIALNUMBER"),
];

fn standard_arc(oid: &[u32]) -> Option<u32> {
    match oid {
        [2, 5, 4, x] if STANDARD.iter().any(|(a, _)| a == x) => Some(*x),
        _ => None,
    }
}

/// The names nats-server's ldap package knows (`attributeTypeNames` in internal/ldap/dn.go).
fn ldap_type_name(oid: &[u32]) -> Option<&'static str> {
    if oid == OID_DC {
        return Some("DC");
    }
    let arc = standard_arc(oid)?;
    STANDARD.iter().find(|(a, _)| *a == arc).map(|(_, n)| *n)
}

fn describe_subject(rdns: &[Vec<Atv>], id: &mut CertIdentity) {
    // Go's Name.FillFromRDNSequence: CN and SERIALNUMBER keep the last value, the others all.
    let mut groups: Vec<Vec<&str>> = vec![Vec::new(); STANDARD.len()];
    let mut extra: Vec<&Atv> = Vec::new();
    for atv in rdns.iter().flatten() {
        match standard_arc(&atv.oid) {
            Some(arc) => {
                let k = STANDARD.iter().position(|(a, _)| *a == arc).unwrap_or(0);
                if arc == 3 || arc == 5 {
                    groups[k] = vec![atv.value.as_str()];
                } else {
                    groups[k].push(&atv.value);
                }
            }
            None => extra.push(atv),
        }
        if atv.oid == OID_DC {
            id.domain_components.push(atv.value.clone());
        }
    }
    // ToRDNSequence skips an empty CN or SERIALNUMBER; RDNSequence.String prints RDNs last first.
    let mut parts: Vec<String> = Vec::new();
    for (k, (arc, name)) in STANDARD.iter().enumerate().rev() {
        let vals = &groups[k];
        if vals.is_empty() || ((*arc == 3 || *arc == 5) && vals[0].is_empty()) {
            continue;
        }
        let rdn: Vec<String> = vals
            .iter()
            .map(|v| format!("{name}={}", escape_value(v)))
            .collect();
        parts.push(rdn.join("+"));
    }
    id.rdn_subject = parts.join(",");
    // Name.String puts the other attributes, one RDN each, before ToRDNSequence's, so they print
    // after them, last first.
    for atv in extra.iter().rev() {
        parts.push(format!(
            "{}=#{}",
            oid_string(&atv.oid),
            hex(&marshal_string(&atv.value))
        ));
    }
    id.subject = parts.join(",");

    // ldap.FromRawCertSubject: RDNs and their attributes last first, empty RDNs skipped.
    let mut dn = Dn::default();
    for rdn in rdns.iter().rev().filter(|r| !r.is_empty()) {
        let mut r = Rdn::default();
        for atv in rdn.iter().rev() {
            let Some(name) = ldap_type_name(&atv.oid) else {
                id.dn = None;
                return;
            };
            r.attrs.push(DnAttr {
                typ: name.as_bytes().to_vec(),
                value: atv.value.as_bytes().to_vec(),
            });
        }
        dn.rdns.push(r);
    }
    id.dn = Some(dn);
}

/// RDNSequence.String's escaping: `,+"\<>;` always, a space first or last, a `#` first.
fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    for (k, c) in v.char_indices() {
        let esc = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k + 1 == v.len(),
            '#' => k == 0,
            _ => false,
        };
        if esc {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `asn1.Marshal` of a Go string: a PrintableString if it can be one, else a UTF8String.
fn marshal_string(v: &str) -> Vec<u8> {
    let tag = if v.bytes().all(is_printable) {
        0x13
    } else {
        0x0c
    };
    let mut out = vec![tag];
    let n = v.len();
    if n < 128 {
        out.push(n as u8);
    } else {
        let bytes = (n as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(v.as_bytes());
    out
}

fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests;
