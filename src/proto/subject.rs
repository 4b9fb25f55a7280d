//! Subject syntax: validation as nats-server 2.9 applies it, and a plain matcher used as the
//! reference model in tests and fuzzing. Tokens are separated by `.`; `*` matches one token and
//! `>` one or more trailing tokens, each only as a whole token.

/// A valid subscription subject: non-empty tokens, `>` only as the last token, no whitespace.
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut seen_fwc = false;
    for tok in subject.split(|&b| b == b'.') {
        if tok.is_empty() || seen_fwc {
            return false;
        }
        if tok.len() > 1 {
            if tok
                .iter()
                .any(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c))
            {
                return false;
            }
            continue;
        }
        match tok[0] {
            b'>' => seen_fwc = true,
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => return false,
            _ => {}
        }
    }
    true
}

/// A valid publish subject (checked in pedantic mode): non-empty tokens and no wildcard tokens.
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    subject
        .split(|&b| b == b'.')
        .all(|tok| !matches!(tok, [] | [b'*'] | [b'>']))
}

/// True when `subject` contains a wildcard token.
pub fn has_wildcard(subject: &[u8]) -> bool {
    subject
        .split(|&b| b == b'.')
        .any(|t| t == b"*" || t == b">")
}

/// Reference matcher: does the (possibly wildcard) `pattern` match the published `subject`?
/// Token by token, with no trie and no cache; the sublist must agree with it.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut p = pattern.split(|&b| b == b'.');
    let mut s = subject.split(|&b| b == b'.');
    loop {
        match (p.next(), s.next()) {
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(_)) => {}
            (Some(pt), Some(st)) if pt == st => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Is every subject `subset` matches also matched by `superset`? (Both may hold wildcards.)
pub fn is_subset_match(subset: &[u8], superset: &[u8]) -> bool {
    let mut a = subset.split(|&b| b == b'.');
    let mut b = superset.split(|&b| b == b'.');
    loop {
        match (b.next(), a.next()) {
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(t)) if t != b">" => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        for ok in [
            "foo",
            "foo.bar",
            "foo.*",
            "foo.>",
            ">",
            "*",
            "foo.*.bar",
            "foo*.bar",
            "a>b",
        ] {
            assert!(is_valid_subject(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "foo..bar",
            ".foo",
            "foo.",
            "foo.>.bar",
            ">.foo",
            "foo bar",
            "fo\to",
        ] {
            assert!(!is_valid_subject(bad.as_bytes()), "{bad}");
        }
        assert!(is_valid_literal_subject(b"foo.bar"));
        assert!(is_valid_literal_subject(b"foo*.b>"));
        assert!(!is_valid_literal_subject(b"foo.*"));
        assert!(!is_valid_literal_subject(b"foo.>"));
        assert!(!is_valid_literal_subject(b"foo..bar"));
        assert!(!is_valid_literal_subject(b""));
    }

    #[test]
    fn subset_matching() {
        assert!(is_subset_match(b"foo.bar", b"foo.*"));
        assert!(is_subset_match(b"foo.bar", b">"));
        assert!(is_subset_match(b"forbidden.>", b">"));
        assert!(is_subset_match(b"foo.*", b"foo.*"));
        assert!(is_subset_match(b"foo.*", b"foo.>"));
        assert!(!is_subset_match(b"forbidden.>", b"*.a"));
        assert!(!is_subset_match(b"foo.>", b"foo.*"));
        assert!(!is_subset_match(b"foo.*", b"foo.bar"));
        assert!(!is_subset_match(b"foo", b"foo.*"));
    }

    #[test]
    fn reference_matcher() {
        assert!(matches(b"foo", b"foo"));
        assert!(!matches(b"foo", b"foo.bar"));
        assert!(matches(b"foo.*", b"foo.bar"));
        assert!(!matches(b"foo.*", b"foo"));
        assert!(!matches(b"foo.*", b"foo.bar.baz"));
        assert!(matches(b"foo.>", b"foo.bar.baz"));
        assert!(!matches(b"foo.>", b"foo"));
        assert!(matches(b">", b"a"));
        assert!(matches(b"*.b.>", b"a.b.c"));
        assert!(!matches(b"foo*", b"foox"));
    }
}
