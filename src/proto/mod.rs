//! Protocol layer: pure parsers and encoders over byte slices. No IO, no sockets, no knowledge of
//! connections; the server feeds bytes in and acts on the operations that come out.

pub mod client;
pub mod conf;
pub mod http;
pub mod nkey;
pub mod route;
pub mod stitch;
pub mod subject;
pub mod x509;

/// Parse a decimal size as nats-server does: ASCII digits only, no sign. `None` (a bad or missing
/// size) for anything else, including numbers too long to be a sane size.
pub fn parse_size(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    let mut n: usize = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as usize;
    }
    Some(n)
}

/// Split PUB/HPUB arguments on spaces and tabs into at most `N` slices; returns the count, or
/// `None` when there are more than `N` arguments.
pub fn split_args<'a, const N: usize>(arg: &'a [u8], out: &mut [&'a [u8]; N]) -> Option<usize> {
    split_on(arg, out, |b| b == b' ' || b == b'\t')
}

/// Split SUB/UNSUB arguments, where nats-server also treats CR and LF as separators.
pub fn split_args_ws<'a, const N: usize>(arg: &'a [u8], out: &mut [&'a [u8]; N]) -> Option<usize> {
    split_on(arg, out, |b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn split_on<'a, const N: usize>(
    arg: &'a [u8],
    out: &mut [&'a [u8]; N],
    sep: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut n = 0;
    let mut start: Option<usize> = None;
    for (i, &b) in arg.iter().enumerate() {
        if sep(b) {
            if let Some(s) = start.take() {
                if n == N {
                    return None;
                }
                out[n] = &arg[s..i];
                n += 1;
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        if n == N {
            return None;
        }
        out[n] = &arg[s..];
        n += 1;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b"1048576"), Some(1048576));
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"-1"), None);
        assert_eq!(parse_size(b"1a"), None);
        assert_eq!(parse_size(b"9999999999999999999"), None);
    }

    #[test]
    fn args() {
        let mut out = [&b""[..]; 3];
        assert_eq!(split_args(b"  foo \t bar  5 ", &mut out), Some(3));
        assert_eq!(out, [&b"foo"[..], b"bar", b"5"]);
        assert_eq!(split_args(b"a b c d", &mut out), None);
        assert_eq!(split_args(b"", &mut out), Some(0));
        assert_eq!(split_args(b"\r", &mut out), Some(1));
        assert_eq!(split_args_ws(b"\r", &mut out), Some(0));
        assert_eq!(split_args_ws(b"a\rb\nc", &mut out), Some(3));
    }
}
