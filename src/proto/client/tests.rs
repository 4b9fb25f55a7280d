use super::*;

/// An owned copy of an operation, so results from many feeds can be compared.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Owned {
    Connect(Vec<u8>),
    Info(Vec<u8>),
    Pub {
        subject: Vec<u8>,
        reply: Option<Vec<u8>>,
        header_len: usize,
        data: Vec<u8>,
    },
    Sub {
        subject: Vec<u8>,
        queue: Option<Vec<u8>>,
        sid: Vec<u8>,
    },
    Unsub {
        sid: Vec<u8>,
        max: Option<usize>,
    },
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
}

fn own(op: Op<'_>) -> Owned {
    match op {
        Op::Connect(a) => Owned::Connect(a.to_vec()),
        Op::Info(a) => Owned::Info(a.to_vec()),
        Op::Pub(m) => Owned::Pub {
            subject: m.subject.to_vec(),
            reply: m.reply.map(|r| r.to_vec()),
            header_len: m.header_len,
            data: m.data.to_vec(),
        },
        Op::Sub {
            subject,
            queue,
            sid,
        } => Owned::Sub {
            subject: subject.to_vec(),
            queue: queue.map(|q| q.to_vec()),
            sid: sid.to_vec(),
        },
        Op::Unsub { sid, max } => Owned::Unsub {
            sid: sid.to_vec(),
            max,
        },
        Op::Ping => Owned::Ping,
        Op::Pong => Owned::Pong,
        Op::Ok => Owned::Ok,
        Op::Err(a) => Owned::Err(a.to_vec()),
    }
}

fn limits() -> Limits {
    Limits {
        headers: true,
        ..Limits::default()
    }
}

/// Feed `input` in the given chunks; collect ops until the end or the first error.
fn feed(chunks: &[&[u8]], lim: Limits) -> (Vec<Owned>, Option<Error>) {
    let mut p = Parser::new(lim);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut pos = 0;
        loop {
            match p.next_op(chunk, &mut pos) {
                Ok(Some(op)) => out.push(own(op)),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        assert_eq!(pos, chunk.len());
    }
    (out, None)
}

fn whole(input: &[u8]) -> (Vec<Owned>, Option<Error>) {
    feed(&[input], limits())
}

fn pubm(subject: &str, reply: Option<&str>, data: &str) -> Owned {
    Owned::Pub {
        subject: subject.into(),
        reply: reply.map(|r| r.into()),
        header_len: 0,
        data: data.into(),
    }
}

const SESSION: &[u8] =
    b"CONNECT {\"verbose\":false}\r\nPING\r\npong\r\nSUB foo 1\r\nSUB foo.* q 2\r\n\
PUB foo 5\r\nhello\r\nPUB foo bar 0\r\n\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n\
hpub foo r 12 12\r\nNATS/1.0\r\n\r\n\r\nUNSUB 1\r\nunsub 2 10\r\n+OK\r\n-ERR 'x'\r\nINFO {}\r\n\
pub  \tfoo\t 3 \r\nabc\r\nPING\n";

fn session_ops() -> Vec<Owned> {
    vec![
        Owned::Connect(b"{\"verbose\":false}".to_vec()),
        Owned::Ping,
        Owned::Pong,
        Owned::Sub {
            subject: b"foo".to_vec(),
            queue: None,
            sid: b"1".to_vec(),
        },
        Owned::Sub {
            subject: b"foo.*".to_vec(),
            queue: Some(b"q".to_vec()),
            sid: b"2".to_vec(),
        },
        pubm("foo", None, "hello"),
        pubm("foo", Some("bar"), ""),
        Owned::Pub {
            subject: b"foo".to_vec(),
            reply: None,
            header_len: 12,
            data: b"NATS/1.0\r\n\r\nhi".to_vec(),
        },
        Owned::Pub {
            subject: b"foo".to_vec(),
            reply: Some(b"r".to_vec()),
            header_len: 12,
            data: b"NATS/1.0\r\n\r\n".to_vec(),
        },
        Owned::Unsub {
            sid: b"1".to_vec(),
            max: None,
        },
        Owned::Unsub {
            sid: b"2".to_vec(),
            max: Some(10),
        },
        Owned::Ok,
        Owned::Err(b"'x'".to_vec()),
        Owned::Info(b"{}".to_vec()),
        pubm("foo", None, "abc"),
        Owned::Ping,
    ]
}

#[test]
fn whole_session() {
    assert_eq!(whole(SESSION), (session_ops(), None));
}

#[test]
fn every_split_point_parses_the_same() {
    let want = session_ops();
    for cut in 0..=SESSION.len() {
        let (a, b) = SESSION.split_at(cut);
        assert_eq!(
            feed(&[a, b], limits()),
            (want.clone(), None),
            "cut at {cut}"
        );
    }
    for cut1 in (0..SESSION.len()).step_by(7) {
        for cut2 in cut1..=SESSION.len() {
            let parts = [&SESSION[..cut1], &SESSION[cut1..cut2], &SESSION[cut2..]];
            assert_eq!(
                feed(&parts, limits()),
                (want.clone(), None),
                "cuts {cut1} {cut2}"
            );
        }
    }
}

#[test]
fn byte_at_a_time() {
    let chunks: Vec<&[u8]> = SESSION.chunks(1).collect();
    assert_eq!(feed(&chunks, limits()), (session_ops(), None));
}

#[test]
fn each_op_split_at_every_byte() {
    let ops: &[&[u8]] = &[
        b"CONNECT {}\r\n",
        b"PING\r\n",
        b"PONG\r\n",
        b"SUB a.b q 99\r\n",
        b"UNSUB 99 3\r\n",
        b"PUB a.b r 3\r\nxyz\r\n",
        b"HPUB a r 12 13\r\nNATS/1.0\r\n\r\nz\r\n",
        b"+OK\r\n",
        b"-ERR 'e'\r\n",
        b"INFO {\"a\":1}\r\n",
    ];
    for op in ops {
        let want = whole(op);
        assert!(want.1.is_none() && want.0.len() == 1, "{want:?}");
        for cut in 0..=op.len() {
            let (a, b) = op.split_at(cut);
            assert_eq!(
                feed(&[a, b], limits()),
                want,
                "{:?} cut at {cut}",
                String::from_utf8_lossy(op)
            );
        }
    }
}

#[test]
fn unknown_ops_fail_at_the_first_wrong_byte() {
    for bad in [
        &b"F"[..],
        b"PX",
        b"PINX",
        b"SUBX",
        b"\r\n",
        b"MSG foo 1 2\r\n",
        b"PUB\r\n",
        b"UNSUB\r\n",
        b"CONNEC\r\n",
    ] {
        assert_eq!(
            whole(bad).1,
            Some(Error::UnknownOp),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Trailing junk after PING is ignored up to the newline, as nats-server does.
    assert_eq!(whole(b"PINGX\r\n"), (vec![Owned::Ping], None));
    assert_eq!(whole(b"ping foo\r\n"), (vec![Owned::Ping], None));
    // CONNECT needs no blank before its argument.
    assert_eq!(
        whole(b"CONNECT{}\r\n"),
        (vec![Owned::Connect(b"{}".to_vec())], None)
    );
}

#[test]
fn payload_must_end_in_crlf() {
    assert_eq!(whole(b"PUB foo 5\r\nhelloXX").1, Some(Error::UnknownOp));
    assert_eq!(
        whole(b"PUB foo 5\r\nhello\nPING\r\n").1,
        Some(Error::UnknownOp)
    );
    assert_eq!(whole(b"PUB foo 1\r\na\rPING\r\n").1, Some(Error::UnknownOp));
    assert_eq!(
        feed(&[b"PUB foo 1\r\na", b"X"], limits()).1,
        Some(Error::UnknownOp)
    );
    assert_eq!(
        feed(&[b"PUB foo 1\r\na\r", b"X"], limits()).1,
        Some(Error::UnknownOp)
    );
}

#[test]
fn bad_arguments() {
    for bad in [
        &b"PUB foo\r\n"[..],
        b"PUB foo -1\r\n",
        b"PUB foo abc\r\n",
        b"PUB a b c 1\r\n",
        b"PUB \r\n",
        b"SUB foo\r\n",
        b"SUB a b c d\r\n",
        b"UNSUB 1 2 3\r\n",
        b"HPUB foo 2\r\n",
        b"HPUB foo 3 2\r\n",
        b"HPUB foo x 2\r\n",
    ] {
        match whole(bad).1 {
            Some(Error::BadArgs(_)) => {}
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bad)),
        }
    }
    // An unparsable max on UNSUB means "remove now", as in the Go server.
    assert_eq!(
        whole(b"UNSUB 1 x\r\n"),
        (
            vec![Owned::Unsub {
                sid: b"1".to_vec(),
                max: Some(0)
            }],
            None
        )
    );
}

#[test]
fn limits_are_enforced() {
    let lim = Limits {
        max_control_line: 16,
        max_payload: 10,
        headers: false,
        expect_connect: false,
    };
    assert_eq!(feed(&[b"PUB foo 11\r\n"], lim).1, Some(Error::MaxPayload));
    assert_eq!(feed(&[b"PUB foo 10\r\n0123456789\r\n"], lim).1, None);
    assert_eq!(
        feed(&[b"SUB aaaaaaaaaaaaaaaa 1\r\n"], lim).1,
        Some(Error::MaxControlLine)
    );
    assert_eq!(
        feed(&[b"SUB aaaaaaaaaaaaaaaaaa"], lim).1,
        Some(Error::MaxControlLine)
    );
    assert_eq!(
        feed(&[b"SUB aaaaaaaaaa", b"aaaaaaaaaaaa"], lim).1,
        Some(Error::MaxControlLine)
    );
    assert_eq!(
        feed(&[b"HPUB foo 1 2\r\n"], lim).1,
        Some(Error::HeadersNotSupported)
    );
    // Exactly at the limit is fine.
    assert_eq!(feed(&[b"SUB aaaaaaaaaaaaa 1\r\n"], lim).1, None);
}

#[test]
fn large_split_payload_is_stitched() {
    let payload = vec![b'x'; 200_000];
    let mut input = b"PUB big 200000\r\n".to_vec();
    input.extend_from_slice(&payload);
    input.extend_from_slice(b"\r\nPING\r\n");
    let chunks: Vec<&[u8]> = input.chunks(4096).collect();
    let (ops, err) = feed(&chunks, limits());
    assert_eq!(err, None);
    assert_eq!(
        ops,
        vec![
            pubm("big", None, std::str::from_utf8(&payload).unwrap()),
            Owned::Ping
        ]
    );
}

#[test]
fn parser_releases_side_buffers() {
    let mut p = Parser::new(limits());
    let input = b"PUB foo 5\r\nhello\r\n";
    for cut in 1..input.len() {
        let mut pos = 0;
        assert!(p.next_op(&input[..cut], &mut pos).unwrap().is_none());
        let mut pos = 0;
        let rest = &input[cut..];
        assert!(matches!(p.next_op(rest, &mut pos), Ok(Some(Op::Pub(_)))));
        assert!(p.next_op(rest, &mut pos).unwrap().is_none());
        assert!(p.is_idle());
    }
}

#[test]
fn line_at_limit_split_between_cr_and_lf() {
    let lim = Limits {
        max_control_line: 16,
        max_payload: 256,
        headers: false,
        expect_connect: false,
    };
    let want = feed(&[b"SUB foo.bar.bazzzz 1\r\nPING\r\n"], lim);
    assert_eq!(want.1, None);
    assert_eq!(feed(&[b"SUB foo.bar.bazzzz 1\r", b"\nPING\r\n"], lim), want);
}

#[test]
fn every_control_line_is_limited() {
    let lim = Limits {
        max_control_line: 16,
        max_payload: 256,
        headers: false,
        expect_connect: false,
    };
    for line in [
        &b"CONNECT {\"verbose\":false}\r\n"[..],
        b"INFO {\"server_id\":\"x\"}\r\n",
        b"-ERR 'Unknown Protocol Operation'\r\n",
    ] {
        assert_eq!(feed(&[line], lim).1, Some(Error::MaxControlLine));
    }
}
