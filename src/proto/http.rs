//! HTTP/1.x request heads for the monitoring server, parsed in place: the caller keeps bytes in a
//! buffer and asks again; the parser answers `Partial` or `Complete` with slices of that buffer
//! and how many bytes the head took (httparse's shape). Limits on the request line, header count
//! and total head size bound what a client can make the server hold. Monitoring requests carry
//! no body, so a request with one is refused.

/// Limits on a request head.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_request_line: usize,
    pub max_headers: usize,
    pub max_head: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 4096,
            max_headers: 32,
            max_head: 8192,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Method {
    Get,
    Head,
    Post,
    Other,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    /// The path without the query string.
    pub path: &'a [u8],
    /// The query string, without the `?`.
    pub query: &'a [u8],
    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    pub keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    Partial,
    Complete(Request<'a>, usize),
}

/// Why a request is refused, with the status to answer.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Error {
    /// 400 Bad Request.
    Malformed,
    /// 414 URI Too Long.
    LineTooLong,
    /// 431 Request Header Fields Too Large.
    HeadersTooLarge,
    /// 505 HTTP Version Not Supported.
    Version,
    /// 413 Payload Too Large (monitoring requests have no body).
    Body,
}

impl Error {
    pub fn status(self) -> (u16, &'static str) {
        match self {
            Error::Malformed => (400, "Bad Request"),
            Error::LineTooLong => (414, "URI Too Long"),
            Error::HeadersTooLarge => (431, "Request Header Fields Too Large"),
            Error::Version => (505, "HTTP Version Not Supported"),
            Error::Body => (413, "Payload Too Large"),
        }
    }
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Find the end of the line starting at `from`: (index of the first byte of the line ending,
/// index after it). Lines end in CRLF or a bare LF.
fn line_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let nl = from + buf[from..].iter().position(|&b| b == b'\n')?;
    let end = if nl > from && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((end, nl + 1))
}

/// Parse the request head at the start of `buf`.
pub fn parse<'a>(buf: &'a [u8], lim: &Limits) -> Result<Parsed<'a>, Error> {
    // Request line.
    let Some((line_stop, mut pos)) = line_end(buf, 0) else {
        if buf.len() > lim.max_request_line {
            return Err(Error::LineTooLong);
        }
        return Ok(Parsed::Partial);
    };
    if line_stop > lim.max_request_line {
        return Err(Error::LineTooLong);
    }
    let line = &buf[..line_stop];
    let mut parts = line.split(|&b| b == b' ');
    let (Some(m), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::Malformed);
    };
    if m.is_empty() || !m.iter().all(|&b| is_token(b)) || target.is_empty() {
        return Err(Error::Malformed);
    }
    let method = match m {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        _ => Method::Other,
    };
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        v if v.starts_with(b"HTTP/") => return Err(Error::Version),
        _ => return Err(Error::Malformed),
    };
    if target[0] != b'/' || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(Error::Malformed);
    }
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &target[target.len()..]),
    };
    // Headers.
    let mut keep_alive = http11;
    let mut count = 0;
    loop {
        if pos > lim.max_head {
            return Err(Error::HeadersTooLarge);
        }
        let Some((stop, next)) = line_end(buf, pos) else {
            if buf.len() > lim.max_head {
                return Err(Error::HeadersTooLarge);
            }
            return Ok(Parsed::Partial);
        };
        if stop == pos {
            if next > lim.max_head {
                return Err(Error::HeadersTooLarge);
            }
            return Ok(Parsed::Complete(
                Request {
                    method,
                    path,
                    query,
                    keep_alive,
                },
                next,
            ));
        }
        count += 1;
        if count > lim.max_headers {
            return Err(Error::HeadersTooLarge);
        }
        let h = &buf[pos..stop];
        let colon = h.iter().position(|&b| b == b':').ok_or(Error::Malformed)?;
        let (name, value) = (&h[..colon], trim(&h[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(Error::Malformed);
        }
        if name.eq_ignore_ascii_case(b"connection") {
            if value.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value != b"0" {
                return Err(Error::Body);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(Error::Body);
        }
        pos = next;
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// The value of `key` in a query string (`a=1&b=2`), percent-decoding not applied (monitoring
/// parameters are plain words and numbers).
pub fn query_param<'a>(query: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    query.split(|&b| b == b'&').find_map(|kv| {
        let (k, v) = match kv.iter().position(|&b| b == b'=') {
            Some(i) => (&kv[..i], &kv[i + 1..]),
            None => (kv, &kv[kv.len()..]),
        };
        (k == key).then_some(v)
    })
}

/// The first value of `key` in a query string, decoded as HTML forms encode it (`%XX`
/// escapes, `+` for a space). A malformed escape is kept as written.
pub fn query_value(query: &[u8], key: &str) -> Option<String> {
    query.split(|&b| b == b'&').find_map(|kv| {
        let (k, v) = match kv.iter().position(|&b| b == b'=') {
            Some(i) => (&kv[..i], &kv[i + 1..]),
            None => (kv, &kv[kv.len()..]),
        };
        (unescape(k) == key.as_bytes()).then(|| String::from_utf8_lossy(&unescape(v)).into_owned())
    })
}

/// A request path percent-decoded (`+` stays a plus), as Go's `URL.Path` holds it.
pub fn decode_path(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let hex = |j: usize| path.get(j).and_then(|&b| (b as char).to_digit(16));
        match (path[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h << 4 | l) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The canonical form of a path as Go's `ServeMux` wants it: no empty, `.` or `..` segments
/// (`..` removing the one before it), rooted, and keeping a trailing slash. A request whose
/// path is not already canonical is redirected to this one.
pub fn clean_path(path: &[u8]) -> Vec<u8> {
    let mut segs: Vec<&[u8]> = Vec::new();
    for seg in path.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for s in &segs {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if out.is_empty() || (path.ends_with(b"/") && !segs.is_empty()) {
        out.push(b'/');
    }
    out
}

fn unescape(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                s.get(i + 1).and_then(|&b| hex(b)),
                s.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits::default()
    }

    #[test]
    fn complete_requests() {
        let r = b"GET /varz?subs=1&limit=5 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nrest";
        match parse(r, &lim()).unwrap() {
            Parsed::Complete(req, n) => {
                assert_eq!(req.method, Method::Get);
                assert_eq!(
                    (req.path, req.query),
                    (&b"/varz"[..], &b"subs=1&limit=5"[..])
                );
                assert!(req.keep_alive);
                assert_eq!(&r[n..], b"rest");
                assert_eq!(query_param(req.query, b"limit"), Some(&b"5"[..]));
                assert_eq!(query_param(req.query, b"subs"), Some(&b"1"[..]));
                assert_eq!(query_param(req.query, b"none"), None);
                assert_eq!(query_value(req.query, "limit").as_deref(), Some("5"));
            }
            p => panic!("{p:?}"),
        }
        let r = b"HEAD / HTTP/1.0\nConnection: keep-alive\n\n";
        assert!(matches!(
            parse(r, &lim()),
            Ok(Parsed::Complete(
                Request {
                    method: Method::Head,
                    keep_alive: true,
                    ..
                },
                _
            ))
        ));
        let r = b"GET / HTTP/1.1\r\nconnection: Close\r\n\r\n";
        assert!(matches!(
            parse(r, &lim()),
            Ok(Parsed::Complete(
                Request {
                    keep_alive: false,
                    ..
                },
                _
            ))
        ));
        let r = b"PUT /x HTTP/1.1\r\n\r\n";
        assert!(matches!(
            parse(r, &lim()),
            Ok(Parsed::Complete(
                Request {
                    method: Method::Other,
                    ..
                },
                _
            ))
        ));
    }

    #[test]
    fn paths_are_decoded_and_cleaned() {
        assert_eq!(decode_path(b"/%76arz"), b"/varz");
        assert_eq!(decode_path(b"/a%2"), b"/a%2");
        assert_eq!(decode_path(b"/a+b"), b"/a+b");
        assert_eq!(clean_path(b"/varz"), b"/varz");
        assert_eq!(clean_path(b"//varz"), b"/varz");
        assert_eq!(clean_path(b"/a/./b/../varz"), b"/a/varz");
        assert_eq!(clean_path(b"/../.."), b"/");
        assert_eq!(clean_path(b"/"), b"/");
        assert_eq!(clean_path(b"/mon/"), b"/mon/");
        assert_eq!(clean_path(b"/mon//x/"), b"/mon/x/");
    }

    #[test]
    fn query_values_are_decoded() {
        let q = b"callback=a%28b&test=foo.%3E&x=a+b&bad=%zz%4&subs";
        assert_eq!(query_value(q, "callback").as_deref(), Some("a(b"));
        assert_eq!(query_value(q, "test").as_deref(), Some("foo.>"));
        assert_eq!(query_value(q, "x").as_deref(), Some("a b"));
        assert_eq!(query_value(q, "bad").as_deref(), Some("%zz%4"));
        assert_eq!(query_value(q, "subs").as_deref(), Some(""));
        assert_eq!(query_value(q, "none"), None);
    }

    #[test]
    fn every_split_is_partial_until_complete() {
        let r = b"GET /connz?sort=cid HTTP/1.1\r\nHost: localhost:8222\r\n\r\n";
        for cut in 0..r.len() {
            assert_eq!(parse(&r[..cut], &lim()), Ok(Parsed::Partial), "cut {cut}");
        }
        assert!(matches!(parse(r, &lim()), Ok(Parsed::Complete(_, n)) if n == r.len()));
    }

    #[test]
    fn bad_requests() {
        for (r, e) in [
            (&b"GET\r\n\r\n"[..], Error::Malformed),
            (b"GET / HTTP/2.0\r\n\r\n", Error::Version),
            (b"GET / FTP/1.0\r\n\r\n", Error::Malformed),
            (b"GET varz HTTP/1.1\r\n\r\n", Error::Malformed),
            (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", Error::Malformed),
            (b"G(T / HTTP/1.1\r\n\r\n", Error::Malformed),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
                Error::Body,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Error::Body,
            ),
        ] {
            assert_eq!(parse(r, &lim()), Err(e), "{:?}", String::from_utf8_lossy(r));
        }
        assert_eq!(Error::Malformed.status(), (400, "Bad Request"));
    }

    #[test]
    fn limits() {
        let small = Limits {
            max_request_line: 32,
            max_headers: 2,
            max_head: 96,
        };
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(40));
        assert_eq!(parse(long.as_bytes(), &small), Err(Error::LineTooLong));
        assert_eq!(
            parse(&long.as_bytes()[..36], &small),
            Err(Error::LineTooLong)
        );
        let many = b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
        assert_eq!(parse(many, &small), Err(Error::HeadersTooLarge));
        let big = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "v".repeat(100));
        assert_eq!(parse(big.as_bytes(), &small), Err(Error::HeadersTooLarge));
        assert_eq!(
            parse(&big.as_bytes()[..100], &small),
            Err(Error::HeadersTooLarge)
        );
    }
}
