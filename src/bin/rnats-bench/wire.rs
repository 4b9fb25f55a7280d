//! The NATS client wire as the bench needs it: `parse_op`, a sans-IO parser for what a server
//! sends (offsets into the caller's buffer, no allocation); `ReadBuf`, which feeds it from a
//! socket in large reads; `Conn`, the handshake and the waits on top of both; and `PubFrames`,
//! a publisher's bytes built once and written in large batches (shared by real and roofline
//! runs, so both write exactly the same bytes).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest control line accepted from a server (an INFO line included).
const MAX_LINE: usize = 64 * 1024;
/// Largest payload accepted in a MSG (the server's max_payload is far below).
const MAX_PAYLOAD: usize = 64 << 20;
/// Read buffer size: many messages per read.
pub const READ_BUF: usize = 256 * 1024;
/// How often a blocked read wakes to look at the run's state (abort, deadlines, a queue group
/// done).
pub const POLL: Duration = Duration::from_millis(100);
/// A write blocked this long fails the run instead of hanging it.
const WRITE_LIMIT: Duration = Duration::from_secs(10);
/// A connection must answer its handshake within this.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(5);

/// One operation from a server.
#[derive(Debug, PartialEq)]
pub enum Op<'a> {
    Msg {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        payload: &'a [u8],
    },
    Ping,
    Pong,
    Ok,
    /// The INFO line's JSON.
    Info(&'a [u8]),
    Err(&'a [u8]),
}

#[derive(Debug, PartialEq)]
pub enum Parsed<'a> {
    /// An op and the bytes it took.
    Op(Op<'a>, usize),
    /// The buffer holds only the start of an op, which needs at least this many bytes.
    Partial(usize),
}

/// Parse the op at the start of `buf`.
pub fn parse_op(buf: &[u8]) -> Result<Parsed<'_>, String> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_LINE {
            return Err(format!(
                "a line from the server longer than {MAX_LINE} bytes"
            ));
        }
        return Ok(Parsed::Partial(buf.len() + 1));
    };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(args) = line.strip_prefix(b"MSG ") {
        // subject sid [reply] size
        let mut a: [&[u8]; 4] = [&[]; 4];
        let mut n = 0;
        for t in args
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty())
        {
            if n == 4 {
                return Err(bad_line("MSG with too many arguments", line));
            }
            a[n] = t;
            n += 1;
        }
        let (subject, reply, size) = match n {
            3 => (a[0], None, a[2]),
            4 => (a[0], Some(a[2]), a[3]),
            _ => return Err(bad_line("MSG with too few arguments", line)),
        };
        let size = parse_size(size).ok_or_else(|| bad_line("MSG with a bad size", line))?;
        let start = nl + 1;
        let total = start + size + 2;
        if buf.len() < total {
            return Ok(Parsed::Partial(total));
        }
        if &buf[start + size..total] != b"\r\n" {
            return Err(bad_line("MSG payload not followed by CRLF", line));
        }
        let payload = &buf[start..start + size];
        return Ok(Parsed::Op(
            Op::Msg {
                subject,
                reply,
                payload,
            },
            total,
        ));
    }
    let op = if line == b"PING" {
        Op::Ping
    } else if line == b"PONG" {
        Op::Pong
    } else if line == b"+OK" {
        Op::Ok
    } else if let Some(info) = line.strip_prefix(b"INFO ") {
        Op::Info(info.trim_ascii())
    } else if let Some(e) = line.strip_prefix(b"-ERR") {
        Op::Err(e.trim_ascii())
    } else {
        return Err(bad_line("unexpected from the server", line));
    };
    Ok(Parsed::Op(op, nl + 1))
}

fn bad_line(what: &str, line: &[u8]) -> String {
    let shown = &line[..line.len().min(200)];
    format!("{what}: {:?}", String::from_utf8_lossy(shown))
}

fn parse_size(t: &[u8]) -> Option<usize> {
    if t.is_empty() || t.len() > 9 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = t
        .iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
    (n <= MAX_PAYLOAD).then_some(n)
}

/// Append `n` in decimal (no formatting machinery, no allocation within capacity).
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A read buffer parsed in place: ops are handed out as slices of it; only the start of a
/// split op is moved (to the front) before the next read, and the buffer grows only for an op
/// larger than itself.
pub struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes the op at `start` needs in all (from the last Partial).
    need: usize,
}

impl ReadBuf {
    pub fn new(capacity: usize) -> ReadBuf {
        ReadBuf {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
            need: 0,
        }
    }

    /// One read from `r` into the free space. Ok(0) at the end of the stream.
    pub fn fill(&mut self, r: &mut impl Read) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0
            && (self.buf.len() - self.end < self.buf.len() / 4
                || self.start + self.need > self.buf.len())
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Grow only for an op larger than the buffer.
        let want = self.need.max(self.end + 1);
        if want > self.buf.len() {
            self.buf.resize(want.next_power_of_two(), 0);
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// The next complete op, consumed; None when the rest is only part of one.
    pub fn next_op(&mut self) -> io::Result<Option<Op<'_>>> {
        match parse_op(&self.buf[self.start..self.end]).map_err(io::Error::other)? {
            Parsed::Op(op, n) => {
                self.start += n;
                self.need = 0;
                Ok(Some(op))
            }
            Parsed::Partial(need) => {
                self.need = need;
                Ok(None)
            }
        }
    }
}

/// A client connection to a NATS server (or, for the roofline, to the in-process sink).
pub struct Conn {
    pub stream: TcpStream,
    pub rb: ReadBuf,
    /// The server's max_payload, from its INFO.
    pub max_payload: Option<u64>,
}

/// Whether an I/O error is a read or write timeout.
pub fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The error a thread returns when it stops because another one failed (not reported again).
pub fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "aborted")
}

pub fn is_aborted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted && e.to_string() == "aborted"
}

/// Open a TCP connection the way every bench client does: no Nagle delay, reads that wake every
/// `POLL`, writes that give up after `WRITE_LIMIT`.
pub fn open(addr: &str) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("connecting to {addr}: {e}")))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(POLL))?;
    s.set_write_timeout(Some(WRITE_LIMIT))?;
    Ok(s)
}

impl Conn {
    /// Connect, read INFO, send a quiet CONNECT, and wait for the PONG that confirms it.
    pub fn connect(addr: &str, abort: &AtomicBool) -> io::Result<Conn> {
        let mut c = Conn {
            stream: open(addr)?,
            rb: ReadBuf::new(READ_BUF),
            max_payload: None,
        };
        let deadline = Instant::now() + HANDSHAKE_LIMIT;
        loop {
            match c.rb.next_op()? {
                Some(Op::Info(json)) => {
                    c.max_payload = serde_json::from_slice::<serde_json::Value>(json)
                        .ok()
                        .and_then(|v| v.get("max_payload")?.as_u64());
                    break;
                }
                Some(Op::Err(e)) => return Err(server_error(e)),
                Some(_) => {
                    return Err(io::Error::other(format!("{addr}: no INFO from the server")))
                }
                None => c.fill_until(deadline, abort, "the server's INFO")?,
            }
        }
        c.write(
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"rnats-bench\"}\r\nPING\r\n",
        )?;
        c.wait_pong(HANDSHAKE_LIMIT, abort)
            .map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e}")))?;
        Ok(c)
    }

    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        write_all(&self.stream, bytes)
    }

    /// One read. Ok(false): the poll interval passed with nothing; a closed connection is an
    /// error.
    pub fn fill(&mut self) -> io::Result<bool> {
        match self.rb.fill(&mut self.stream) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            )),
            Ok(_) => Ok(true),
            Err(e) if timed_out(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Read until there is more to parse, failing at `deadline` (waiting for `what`) or on abort.
    fn fill_until(&mut self, deadline: Instant, abort: &AtomicBool, what: &str) -> io::Result<()> {
        loop {
            if self.fill()? {
                return Ok(());
            }
            if abort.load(Ordering::Relaxed) {
                return Err(aborted());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no answer from the server within {limit:?} waiting for {what}",
                        limit = HANDSHAKE_LIMIT
                    ),
                ));
            }
        }
    }

    /// A write failed: the server may have said why before it closed (-ERR 'Maximum Payload
    /// Violation', 'Slow Consumer' ...). Look for that briefly, else return `e`.
    pub fn explain(&mut self, e: io::Error) -> io::Error {
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            match self.rb.next_op() {
                Ok(Some(Op::Err(msg))) => return server_error(msg),
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(_) => return e,
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) if Instant::now() < deadline => {}
                _ => return e,
            }
        }
    }

    /// Wait for a PONG (to a PING the caller sent), answering PINGs, discarding messages,
    /// failing on -ERR or when none comes within `limit`.
    pub fn wait_pong(&mut self, limit: Duration, abort: &AtomicBool) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            match self.rb.next_op()? {
                Some(Op::Pong) => return Ok(()),
                Some(Op::Ping) => write_all(&self.stream, b"PONG\r\n")?,
                Some(Op::Err(e)) => return Err(server_error(e)),
                Some(_) => {}
                None => {
                    if !self.fill()? {
                        if abort.load(Ordering::Relaxed) {
                            return Err(aborted());
                        }
                        if Instant::now() >= deadline {
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                format!("no PONG from the server within {limit:?}"),
                            ));
                        }
                    }
                }
            }
        }
    }
}

pub fn server_error(e: &[u8]) -> io::Error {
    io::Error::other(format!("server error: -ERR {}", String::from_utf8_lossy(e)))
}

/// `write_all` that names a stalled write.
pub fn write_all(mut w: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    w.write_all(bytes).map_err(|e| {
        if timed_out(&e) {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "a write made no progress for {WRITE_LIMIT:?} (the server stopped reading)"
                ),
            )
        } else {
            e
        }
    })
}

/// A publisher's bytes, built once: the frame `PUB subject size\r\n` + payload + `\r\n`,
/// repeated to fill a batch of about 64 KiB that goes out in one write.
pub struct PubFrames {
    batch: Vec<u8>,
    frame_len: usize,
    per_batch: usize,
}

/// Target size of one publisher write.
const BATCH_BYTES: usize = 64 * 1024;

impl PubFrames {
    pub fn new(subject: &str, size: usize) -> PubFrames {
        let mut frame = format!("PUB {subject} {size}\r\n").into_bytes();
        frame.resize(frame.len() + size, b'x');
        frame.extend_from_slice(b"\r\n");
        let per_batch = (BATCH_BYTES / frame.len()).max(1);
        PubFrames {
            batch: frame.repeat(per_batch),
            frame_len: frame.len(),
            per_batch,
        }
    }

    /// Bytes that `count` frames take on the wire.
    pub fn bytes_for(&self, count: u64) -> u64 {
        count * self.frame_len as u64
    }

    /// Write `count` frames in batch-sized writes, counting them into `published` batch by
    /// batch.
    pub fn write(&self, w: &TcpStream, count: u64, published: &AtomicU64) -> io::Result<()> {
        let per_batch = self.per_batch as u64;
        let mut left = count;
        while left > 0 {
            let n = left.min(per_batch);
            write_all(w, &self.batch[..n as usize * self.frame_len])?;
            published.fetch_add(n, Ordering::Relaxed);
            left -= n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(buf: &[u8]) -> (Op<'_>, usize) {
        match parse_op(buf).unwrap() {
            Parsed::Op(op, n) => (op, n),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn parses_server_ops() {
        let b = b"MSG foo.bar 1 5\r\nhello\r\nMSG x 22 _INBOX.ab.7 0\r\n\r\nPING\r\n";
        let (o, n) = op(b);
        assert_eq!(
            o,
            Op::Msg {
                subject: b"foo.bar",
                reply: None,
                payload: b"hello"
            }
        );
        assert_eq!(n, 24);
        let (o, m) = op(&b[n..]);
        assert_eq!(
            o,
            Op::Msg {
                subject: b"x",
                reply: Some(b"_INBOX.ab.7"),
                payload: b""
            }
        );
        assert_eq!(op(&b[n + m..]), (Op::Ping, 6));
        assert_eq!(op(b"PONG\r\n").0, Op::Pong);
        assert_eq!(op(b"+OK\r\n").0, Op::Ok);
        assert_eq!(op(b"INFO {\"a\":1} \r\n").0, Op::Info(b"{\"a\":1}"));
        assert_eq!(
            op(b"-ERR 'Maximum Payload Violation'\r\n").0,
            Op::Err(b"'Maximum Payload Violation'")
        );
        // Tabs and repeated spaces between arguments, a bare LF.
        assert_eq!(
            op(b"MSG a\t1  2\nhi\r\n").0,
            Op::Msg {
                subject: b"a",
                reply: None,
                payload: b"hi"
            }
        );
    }

    #[test]
    fn partial_ops_say_what_they_need() {
        assert_eq!(parse_op(b"").unwrap(), Parsed::Partial(1));
        assert_eq!(parse_op(b"MSG foo 1 5").unwrap(), Parsed::Partial(12));
        assert_eq!(
            parse_op(b"MSG foo 1 5\r\nhel").unwrap(),
            Parsed::Partial(20)
        );
        assert_eq!(
            parse_op(b"MSG foo 1 5\r\nhello\r").unwrap(),
            Parsed::Partial(20)
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            &b"MSG foo 5\r\n"[..],
            b"MSG a b c d e\r\n",
            b"MSG foo 1 x\r\n",
            b"MSG foo 1 99999999999\r\n",
            b"MSG foo 1 2\r\nabcd\r\n",
            b"HELLO\r\n",
        ] {
            assert!(parse_op(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(parse_op(&vec![b'a'; MAX_LINE + 1]).is_err());
    }

    #[test]
    fn read_buf_stitches_split_ops_and_grows_for_big_ones() {
        let mut wire = Vec::new();
        for i in 0..50u64 {
            let size = (i * 37 % 300) as usize;
            wire.extend_from_slice(format!("MSG s.{i} 1 {size}\r\n").as_bytes());
            wire.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, size));
            wire.extend_from_slice(b"\r\nPING\r\n");
        }
        // A reader that hands out 7 bytes at a time into a 64-byte buffer.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = out.len().min(7).min(self.0.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = Trickle(&wire);
        let mut rb = ReadBuf::new(64);
        let (mut msgs, mut pings) = (0u64, 0);
        loop {
            while let Some(op) = rb.next_op().unwrap() {
                match op {
                    Op::Msg {
                        subject, payload, ..
                    } => {
                        assert_eq!(subject, format!("s.{msgs}").as_bytes());
                        assert_eq!(payload.len(), (msgs * 37 % 300) as usize);
                        assert!(payload.iter().all(|&b| b == b'a' + (msgs % 26) as u8));
                        msgs += 1;
                    }
                    Op::Ping => pings += 1,
                    o => panic!("{o:?}"),
                }
            }
            if rb.fill(&mut r).unwrap() == 0 {
                break;
            }
        }
        assert_eq!((msgs, pings), (50, 50));
    }

    #[test]
    fn pub_frames_write_whole_frames_in_batches() {
        let f = PubFrames::new("a.b", 100);
        let one = format!("PUB a.b 100\r\n{}\r\n", "x".repeat(100));
        assert_eq!(f.frame_len, one.len());
        assert_eq!(f.per_batch, 64 * 1024 / one.len());
        assert_eq!(f.batch, one.repeat(f.per_batch).into_bytes());
        assert_eq!(f.bytes_for(1000), 1000 * one.len() as u64);
        // A frame bigger than a batch still goes out whole.
        let big = PubFrames::new("a", 100_000);
        assert_eq!(big.per_batch, 1);
    }

    #[test]
    fn decimal() {
        let mut v = Vec::new();
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            v.clear();
            push_decimal(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }
}
