//! Client protocol parser: a byte state machine in the manner of nats-server's, sans IO.
//!
//! The caller feeds whatever a read returned and pulls operations out one at a time with
//! [`Parser::next_op`]. An operation that lies whole in the fed buffer is returned as slices of that
//! buffer (zero copy). Only when a read ends inside an operation are its bytes stitched into the
//! parser's own side buffers (`arg` for a control line, `payload` for a message body), once, so the
//! caller may reuse its read buffer after every call that returns `Ok(None)`.
//!
//! Behaviour copies nats-server 2.9 byte for byte where a client can see it: operation names are
//! case-insensitive and checked as each byte arrives; `PING`/`PONG`/`+OK` ignore anything up to the
//! newline; control lines may end in `\n` or `\r\n`; a payload must be followed by `\r\n`.

use super::{parse_size, split_args, split_args_ws};

/// Limits the parser enforces; the server updates `headers` once CONNECT negotiates it.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_control_line: usize,
    pub max_payload: usize,
    pub headers: bool,
    /// Authentication is required: the first operation must be CONNECT, and any other first
    /// byte is an authorization violation (as nats-server decides it, byte by byte).
    pub expect_connect: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
            headers: false,
            expect_connect: false,
        }
    }
}

/// A published message as parsed from PUB or HPUB.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Msg<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// Length of the header block at the front of `data`; 0 when there are no headers.
    pub header_len: usize,
    /// Headers (if any) followed by the payload, without the trailing CRLF.
    pub data: &'a [u8],
}

/// One client operation.
#[derive(Debug, PartialEq, Eq)]
pub enum Op<'a> {
    Connect(&'a [u8]),
    Info(&'a [u8]),
    Pub(Msg<'a>),
    Sub {
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
        sid: &'a [u8],
    },
    /// `max` is `None` without a count; an unparsable count is `Some(0)`, which (as in the Go
    /// server) removes the subscription at once.
    Unsub {
        sid: &'a [u8],
        max: Option<usize>,
    },
    Ping,
    Pong,
    Ok,
    Err(&'a [u8]),
}

/// Why parsing stopped. Every error ends the connection; some first tell the client why.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Error {
    /// `-ERR 'Unknown Protocol Operation'`
    UnknownOp,
    /// `-ERR 'maximum control line exceeded'`
    MaxControlLine,
    /// `-ERR 'Maximum Payload Violation'`
    MaxPayload,
    /// HPUB before CONNECT negotiated headers; closed without a message.
    HeadersNotSupported,
    /// Malformed arguments; closed without a message, logged with this text.
    BadArgs(String),
    /// `-ERR 'Authorization Violation'`: something other than CONNECT came first.
    AuthorizationViolation,
}

impl Error {
    /// The text sent to the client as `-ERR '<text>'`, if the Go server sends one.
    pub fn client_text(&self) -> Option<&'static str> {
        match self {
            Error::UnknownOp => Some("Unknown Protocol Operation"),
            Error::MaxControlLine => Some("maximum control line exceeded"),
            Error::MaxPayload => Some("Maximum Payload Violation"),
            Error::AuthorizationViolation => Some("Authorization Violation"),
            Error::HeadersNotSupported | Error::BadArgs(_) => None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::UnknownOp => f.write_str("Client parser ERROR: Unknown Protocol Operation"),
            Error::MaxControlLine => f.write_str("maximum control line exceeded"),
            Error::MaxPayload => f.write_str("Maximum Payload Violation"),
            Error::HeadersNotSupported => f.write_str("message headers not supported"),
            Error::BadArgs(s) => f.write_str(s),
            Error::AuthorizationViolation => f.write_str("Authorization Violation"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kw {
    Connect,
    Pub,
    Hpub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Info,
    Ok,
    Err,
}

const KEYWORDS: [(&[u8], Kw); 10] = [
    (b"CONNECT", Kw::Connect),
    (b"PUB", Kw::Pub),
    (b"HPUB", Kw::Hpub),
    (b"SUB", Kw::Sub),
    (b"UNSUB", Kw::Unsub),
    (b"PING", Kw::Ping),
    (b"PONG", Kw::Pong),
    (b"INFO", Kw::Info),
    (b"+OK", Kw::Ok),
    (b"-ERR", Kw::Err),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    /// Matching an operation name: bit i of `cands` set while KEYWORDS[i] still fits.
    Keyword {
        cands: u16,
        pos: u8,
    },
    /// The name is complete; the next byte decides.
    AfterKw(Kw),
    /// Skipping blanks before the arguments.
    Blanks(Kw),
    /// Collecting a control line up to `\n`.
    Arg(Kw),
    /// Ignoring everything up to `\n` (PING, PONG, +OK).
    Ignore(Kw),
    /// Collecting a split payload into `payload`.
    Payload,
    PayloadCr,
    PayloadLf,
}

/// A PUB/HPUB whose payload did not arrive with its control line; offsets index `arg`.
#[derive(Clone, Copy, Debug, Default)]
struct PendingMsg {
    subject: (usize, usize),
    reply: Option<(usize, usize)>,
    header_len: usize,
    size: usize,
}

/// The client protocol state machine. One per connection.
#[derive(Debug)]
pub struct Parser {
    pub limits: Limits,
    state: State,
    /// Where split lines and payloads are stitched.
    side: super::stitch::Side,
    pending: PendingMsg,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new(Limits::default())
    }
}

impl Parser {
    pub fn new(limits: Limits) -> Parser {
        Parser {
            limits,
            state: State::Start,
            side: super::stitch::Side::default(),
            pending: PendingMsg::default(),
        }
    }

    /// True when the parser is between operations (nothing partial held).
    pub fn is_idle(&self) -> bool {
        self.state == State::Start
    }

    /// Bytes held in side buffers (for memory accounting and tests).
    pub fn held_bytes(&self) -> usize {
        self.side.held_bytes()
    }

    /// Parse the next operation from `buf[*pos..]`, advancing `*pos` past it. `Ok(None)` means
    /// the buffer is used up (anything partial is kept inside the parser).
    pub fn next_op<'a>(
        &'a mut self,
        buf: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<Op<'a>>, Error> {
        self.side.reclaim();
        let mut i = *pos;
        let mut arg_start = i;
        while i < buf.len() {
            let b = buf[i];
            match self.state {
                State::Start => {
                    // Fast path for the common operation: an upper-case `PUB ` whose plain line
                    // and payload are all in this buffer is taken in one pass; anything else
                    // about it goes to its arguments, as the keyword automaton would.
                    if buf.len() - i >= 4
                        && &buf[i..i + 4] == b"PUB "
                        && !self.limits.expect_connect
                        && !self.side.arg_split
                    {
                        if let Some((msg, next)) = fast_pub(&self.limits, buf, i + 4) {
                            *pos = next;
                            return Ok(Some(Op::Pub(msg)));
                        }
                        self.state = State::Blanks(Kw::Pub);
                        i += 4;
                        continue;
                    }
                    let up = b.to_ascii_uppercase();
                    if self.limits.expect_connect && up != b'C' {
                        *pos = i;
                        return Err(Error::AuthorizationViolation);
                    }
                    let mut cands = 0u16;
                    for (k, (name, _)) in KEYWORDS.iter().enumerate() {
                        if name[0] == up {
                            cands |= 1 << k;
                        }
                    }
                    if cands == 0 {
                        *pos = i;
                        return Err(Error::UnknownOp);
                    }
                    self.state = Self::advance_keyword(cands, 1);
                    i += 1;
                }
                State::Keyword { cands, pos: p } => {
                    let up = b.to_ascii_uppercase();
                    let mut next = 0u16;
                    for (k, (name, _)) in KEYWORDS.iter().enumerate() {
                        if cands & (1 << k) != 0 && name.get(p as usize) == Some(&up) {
                            next |= 1 << k;
                        }
                    }
                    if next == 0 {
                        *pos = i;
                        return Err(Error::UnknownOp);
                    }
                    self.state = Self::advance_keyword(next, p + 1);
                    i += 1;
                }
                State::AfterKw(kw) => match kw {
                    Kw::Ping | Kw::Pong | Kw::Ok => {
                        self.state = State::Ignore(kw);
                    }
                    Kw::Connect | Kw::Info => {
                        if b == b' ' || b == b'\t' {
                            self.state = State::Blanks(kw);
                            i += 1;
                        } else {
                            // The first argument byte is taken as it is, as nats-server does.
                            self.state = State::Arg(kw);
                            arg_start = i;
                            i += 1;
                        }
                    }
                    _ => {
                        if b == b' ' || b == b'\t' {
                            self.state = State::Blanks(kw);
                            i += 1;
                        } else {
                            *pos = i;
                            return Err(Error::UnknownOp);
                        }
                    }
                },
                State::Blanks(kw) => {
                    if b != b' ' && b != b'\t' {
                        self.state = State::Arg(kw);
                        arg_start = i;
                    }
                    i += 1;
                }
                State::Ignore(kw) => match buf[i..].iter().position(|&c| c == b'\n') {
                    Some(off) => {
                        i += off + 1;
                        *pos = i;
                        self.state = State::Start;
                        return Ok(Some(match kw {
                            Kw::Ping => Op::Ping,
                            Kw::Pong => Op::Pong,
                            _ => Op::Ok,
                        }));
                    }
                    None => i = buf.len(),
                },
                State::Arg(kw) => {
                    let Some(off) = buf[i..].iter().position(|&c| c == b'\n') else {
                        // The line continues in a later read: stitch what we have.
                        self.stitch_arg(&buf[arg_start..]);
                        *pos = buf.len();
                        return self.check_split_line();
                    };
                    let nl = i + off;
                    self.state = State::Start;
                    if self.side.arg_split {
                        self.side.arg.extend_from_slice(&buf[arg_start.min(nl)..nl]);
                    }
                    if kw != Kw::Pub && kw != Kw::Hpub {
                        *pos = nl + 1;
                        return self.finish_line(kw, buf, arg_start, nl);
                    }
                    let pa = self.pub_args(kw, buf, arg_start, nl)?;
                    let body = nl + 1;
                    let end = body + pa.size;
                    if buf.len() >= end + 2 {
                        // Fast path: the whole message is in this buffer.
                        if buf[end] != b'\r' {
                            *pos = end;
                            return Err(Error::UnknownOp);
                        }
                        if buf[end + 1] != b'\n' {
                            *pos = end + 1;
                            return Err(Error::UnknownOp);
                        }
                        *pos = end + 2;
                        let line: &[u8] = if self.side.arg_split {
                            self.side.release = true;
                            &self.side.arg
                        } else {
                            &buf[arg_start..nl]
                        };
                        return Ok(Some(Op::Pub(Msg {
                            subject: &line[pa.subject.0..pa.subject.1],
                            reply: pa.reply.map(|r| &line[r.0..r.1]),
                            header_len: pa.header_len,
                            data: &buf[body..end],
                        })));
                    }
                    // Slow path: keep the control line, collect the payload across reads.
                    if !self.side.arg_split {
                        self.side.arg.clear();
                        self.side.arg.extend_from_slice(&buf[arg_start..nl]);
                        self.side.arg_split = true;
                    }
                    self.pending = pa;
                    self.side.payload.clear();
                    self.side.payload.reserve(pa.size);
                    let avail = (buf.len() - body).min(pa.size);
                    self.side
                        .payload
                        .extend_from_slice(&buf[body..body + avail]);
                    i = body + avail;
                    self.state = if avail == pa.size {
                        State::PayloadCr
                    } else {
                        State::Payload
                    };
                }
                State::Payload => {
                    let want = self.pending.size - self.side.payload.len();
                    let take = want.min(buf.len() - i);
                    self.side.payload.extend_from_slice(&buf[i..i + take]);
                    i += take;
                    if self.side.payload.len() == self.pending.size {
                        self.state = State::PayloadCr;
                    }
                }
                State::PayloadCr => {
                    if b != b'\r' {
                        *pos = i;
                        return Err(Error::UnknownOp);
                    }
                    self.state = State::PayloadLf;
                    i += 1;
                }
                State::PayloadLf => {
                    if b != b'\n' {
                        *pos = i;
                        return Err(Error::UnknownOp);
                    }
                    i += 1;
                    *pos = i;
                    self.state = State::Start;
                    self.side.release = true;
                    let p = self.pending;
                    let subject = &self.side.arg[p.subject.0..p.subject.1];
                    let reply = p.reply.map(|r| &self.side.arg[r.0..r.1]);
                    return Ok(Some(Op::Pub(Msg {
                        subject,
                        reply,
                        header_len: p.header_len,
                        data: &self.side.payload,
                    })));
                }
            }
        }
        // The buffer ended inside an argument that started in it: stitch it.
        if let State::Arg(_) = self.state {
            self.stitch_arg(&buf[arg_start.min(buf.len())..]);
        }
        *pos = buf.len();
        self.check_split_line()
    }

    /// A line cut by the end of a read may not already be over the limit (counted as the Go
    /// server counts it: without the CR it will drop).
    fn check_split_line(&self) -> Result<Option<Op<'static>>, Error> {
        if self.side.arg_split {
            check_control_line(drop_cr(&self.side.arg), self.limits.max_control_line)?;
        }
        Ok(None)
    }

    fn stitch_arg(&mut self, part: &[u8]) {
        if !self.side.arg_split {
            self.side.arg.clear();
            self.side.arg_split = true;
        }
        self.side.arg.extend_from_slice(part);
    }

    fn advance_keyword(cands: u16, pos: u8) -> State {
        if cands.count_ones() == 1 {
            let k = cands.trailing_zeros() as usize;
            if KEYWORDS[k].0.len() == pos as usize {
                return State::AfterKw(KEYWORDS[k].1);
            }
        }
        State::Keyword { cands, pos }
    }

    /// The control line of a non-PUB operation ended at `buf[nl]`; its bytes are in `arg` when
    /// the line was split, else at `buf[arg_start..nl]`.
    fn finish_line<'a>(
        &'a mut self,
        kw: Kw,
        buf: &'a [u8],
        arg_start: usize,
        nl: usize,
    ) -> Result<Option<Op<'a>>, Error> {
        let line: &[u8] = if self.side.arg_split {
            self.side.release = true;
            &self.side.arg
        } else {
            &buf[arg_start..nl]
        };
        let line = drop_cr(line);
        check_control_line(line, self.limits.max_control_line)?;
        match kw {
            Kw::Connect => Ok(Some(Op::Connect(line))),
            Kw::Info => Ok(Some(Op::Info(line))),
            Kw::Err => Ok(Some(Op::Err(line))),
            Kw::Sub => {
                let mut a = [&b""[..]; 3];
                match split_args_ws(line, &mut a) {
                    Some(2) => Ok(Some(Op::Sub {
                        subject: a[0],
                        queue: None,
                        sid: a[1],
                    })),
                    Some(3) => Ok(Some(Op::Sub {
                        subject: a[0],
                        queue: Some(a[1]),
                        sid: a[2],
                    })),
                    _ => Err(bad_args("processSub Parse Error", line)),
                }
            }
            Kw::Unsub => {
                let mut a = [&b""[..]; 2];
                match split_args_ws(line, &mut a) {
                    Some(1) => Ok(Some(Op::Unsub {
                        sid: a[0],
                        max: None,
                    })),
                    Some(2) => Ok(Some(Op::Unsub {
                        sid: a[0],
                        max: Some(parse_size(a[1]).unwrap_or(0)),
                    })),
                    _ => Err(bad_args("processUnsub Parse Error", line)),
                }
            }
            Kw::Pub | Kw::Hpub | Kw::Ping | Kw::Pong | Kw::Ok => {
                unreachable!("PUB/HPUB lines go through pub_args, the rest through Ignore")
            }
        }
    }

    /// Parse a PUB/HPUB control line into offsets within the line (so no borrow outlives it).
    fn pub_args(
        &self,
        kw: Kw,
        buf: &[u8],
        arg_start: usize,
        nl: usize,
    ) -> Result<PendingMsg, Error> {
        let line: &[u8] = if self.side.arg_split {
            &self.side.arg
        } else {
            &buf[arg_start..nl]
        };
        let line = drop_cr(line);
        check_control_line(line, self.limits.max_control_line)?;
        if kw == Kw::Hpub && !self.limits.headers {
            return Err(Error::HeadersNotSupported);
        }
        let mut a = [&b""[..]; 4];
        let n = split_args(line, &mut a);
        let (what, subject, reply, hdr, size) = match (kw, n) {
            (Kw::Pub, Some(2)) => ("processPub", a[0], None, None, a[1]),
            (Kw::Pub, Some(3)) => ("processPub", a[0], Some(a[1]), None, a[2]),
            (Kw::Pub, _) => return Err(bad_args("processPub Parse Error", line)),
            (_, Some(3)) => ("processHeaderPub", a[0], None, Some(a[1]), a[2]),
            (_, Some(4)) => ("processHeaderPub", a[0], Some(a[1]), Some(a[2]), a[3]),
            _ => return Err(bad_args("processHeaderPub Parse Error", line)),
        };
        let header_len = match hdr {
            None => 0,
            Some(h) => parse_size(h)
                .ok_or_else(|| bad_args("processHeaderPub Bad or Missing Header Size", line))?,
        };
        let size = parse_size(size).ok_or_else(|| {
            let msg = if hdr.is_some() {
                "Bad or Missing Total Size"
            } else {
                "Bad or Missing Size"
            };
            bad_args(&format!("{what} {msg}"), line)
        })?;
        if header_len > size {
            return Err(bad_args(
                "processHeaderPub Header Size larger then TotalSize",
                line,
            ));
        }
        if size > self.limits.max_payload {
            return Err(Error::MaxPayload);
        }
        let base = line.as_ptr() as usize;
        let off = |s: &[u8]| {
            let o = s.as_ptr() as usize - base;
            (o, o + s.len())
        };
        Ok(PendingMsg {
            subject: off(subject),
            reply: reply.map(off),
            header_len,
            size,
        })
    }
}

/// The arguments of a `PUB ` at `buf[at..]` in their plain form — `SUBJECT [REPLY ]SIZE\r\n`
/// with single spaces, the size within the limits, the whole payload and its CRLF in `buf` —
/// as a message and the position after it. `None` for anything else (extra blanks, tabs, a
/// split line or payload, an error), which the general path then parses from the same byte, so
/// this changes no outcome, only the cost of the common one.
#[inline]
fn fast_pub<'a>(limits: &Limits, buf: &'a [u8], at: usize) -> Option<(Msg<'a>, usize)> {
    // A token ends at a space or at any control byte (tab, CR, LF among them).
    fn token(b: &[u8]) -> Option<usize> {
        let n = b.iter().position(|&c| c == b' ' || c <= b'\r')?;
        (n > 0).then_some(n)
    }
    let args = &buf[at..];
    let s = token(args)?;
    if args[s] != b' ' {
        return None;
    }
    let t0 = s + 1;
    let t = t0 + token(&args[t0..])?;
    let (reply, z0, z) = match args[t] {
        b' ' => {
            let z0 = t + 1;
            (Some(&args[t0..t]), z0, z0 + token(&args[z0..])?)
        }
        _ => (None, t0, t),
    };
    if args.get(z) != Some(&b'\r') || args.get(z + 1) != Some(&b'\n') {
        return None;
    }
    if z > limits.max_control_line {
        return None;
    }
    let size = parse_size(&args[z0..z])?;
    if size > limits.max_payload {
        return None;
    }
    let body = at + z + 2;
    let end = body.checked_add(size)?;
    if buf.len() < end + 2 || buf[end] != b'\r' || buf[end + 1] != b'\n' {
        return None;
    }
    Some((
        Msg {
            subject: &args[..s],
            reply,
            header_len: 0,
            data: &buf[body..end],
        },
        end + 2,
    ))
}

/// A CR anywhere after the first argument byte drops the line's last byte, as in the Go parser
/// (normally that byte is the CR before the LF).
fn drop_cr(line: &[u8]) -> &[u8] {
    if line.len() > 1 && line[1..].contains(&b'\r') {
        &line[..line.len() - 1]
    } else {
        line
    }
}

fn check_control_line(line: &[u8], max: usize) -> Result<(), Error> {
    if line.len() > max {
        Err(Error::MaxControlLine)
    } else {
        Ok(())
    }
}

fn bad_args(what: &str, line: &[u8]) -> Error {
    Error::BadArgs(format!("{what}: {:?}", String::from_utf8_lossy(line)))
}

#[cfg(test)]
mod tests;
