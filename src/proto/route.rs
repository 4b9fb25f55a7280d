//! Route protocol parser and encoders: what two servers of a cluster say to each other, sans IO.
//!
//! The parser has the client parser's shape ([`super::client`]): the caller feeds whatever a read
//! returned and pulls operations out one at a time with [`Parser::next_op`]. An operation that lies
//! whole in the fed buffer comes back as slices of that buffer (zero copy); only when a read ends
//! inside an operation are its bytes stitched into the parser's side buffers (`arg` for the control
//! line, `payload` for a message body), once, so the caller may reuse its read buffer after every
//! call that returns `Ok(None)`.
//!
//! The operations are nats-server 2.9's route protocol, as its traces and wire show them:
//!
//! ```text
//! INFO {json}                CONNECT {json}             PING   PONG   +OK   -ERR 'text'
//! RS+ <account> <subject> [<queue> <weight>]            RS- <account> <subject> [<queue>]
//! LS+ <origin> <account> <subject> [<queue> <weight>]   LS- <account> <subject> [<queue>]
//! RMSG <account> <subject> [<reply> | + <reply> <queue>... | | <queue>...] <size>
//! HMSG <account> <subject> [<reply> | + <reply> <queue>... | | <queue>...] <hdr_size> <size>
//! LMSG <origin> <account> <subject> [<reply> | + <reply> <queue>... | | <queue>...] <hdr_size> <size>
//! ```
//!
//! `LS+`, `LS-` and `LMSG` carry interest and messages that came from a leaf node; a 2.9 server
//! sends them only to a route whose CONNECT/INFO said `"lnoc":true`, and 2.9 writes `LS-` with two
//! spaces after the name (`LS-  $G foo`). A message line lists the queue groups the sender left to
//! the receiver: `+` means a reply subject follows, `|` means none does.
//!
//! What is cleaner than the Go parser on purpose: a line ends at `\n`, one `\r` before it is
//! dropped, and arguments are split on spaces, tabs and stray `\r`; the first byte after the blanks
//! is never swallowed. Operation names are case-insensitive, and `PING`/`PONG`/`+OK` ignore
//! anything up to the newline, as in the client protocol. Unlike nats-server 2.9, which sets no
//! limit on route control lines or payloads, every line and payload is bounded by [`Limits`]: give
//! routes generous ones (newer nats-server allows route lines 16 × `max_control_line`; a peer may
//! forward a message up to its own `max_payload`).

use super::parse_size;

/// Bounds the parser enforces on every operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest control line (the arguments after the operation name, without the line end).
    pub max_control_line: usize,
    /// Largest message (headers and body).
    pub max_payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
        }
    }
}

/// The queue groups listed on a routed message: a view of the names as they lie in the line
/// (separated by blanks). Equality compares the names, not the spacing.
#[derive(Clone, Copy, Default)]
pub struct Queues<'a>(&'a [u8]);

impl<'a> Queues<'a> {
    /// Queue names separated by spaces (as an encoder writes them).
    pub fn new(raw: &'a [u8]) -> Queues<'a> {
        Queues(raw)
    }

    /// The names as they lie in the control line, blanks between them.
    pub fn raw(&self) -> &'a [u8] {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    pub fn iter(&self) -> QueueIter<'a> {
        QueueIter(self.0)
    }
}

impl<'a> IntoIterator for Queues<'a> {
    type Item = &'a [u8];
    type IntoIter = QueueIter<'a>;
    fn into_iter(self) -> QueueIter<'a> {
        self.iter()
    }
}

impl PartialEq for Queues<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Queues<'_> {}

impl std::fmt::Debug for Queues<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|q| q.escape_ascii().to_string()))
            .finish()
    }
}

/// The queue names of a [`Queues`] view, in order.
#[derive(Clone, Debug)]
pub struct QueueIter<'a>(&'a [u8]);

impl<'a> Iterator for QueueIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.0.iter().position(|&b| !is_sep(b))?;
        let rest = &self.0[start..];
        let len = rest.iter().position(|&b| is_sep(b)).unwrap_or(rest.len());
        self.0 = &rest[len..];
        Some(&rest[..len])
    }
}

/// A routed message (RMSG, HMSG or LMSG).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Msg<'a> {
    /// The leaf-node cluster the message came from (LMSG only).
    pub origin: Option<&'a [u8]>,
    pub account: &'a [u8],
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// Queue groups on the receiving server that should get one copy each.
    pub queues: Queues<'a>,
    /// Length of the header block at the front of `data`; 0 when there are no headers.
    pub header_len: usize,
    /// Headers (if any) followed by the payload, without the trailing CRLF.
    pub data: &'a [u8],
}

/// One route operation.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RouteOp<'a> {
    Info(&'a [u8]),
    Connect(&'a [u8]),
    Ping,
    Pong,
    Ok,
    /// The text after `-ERR`, quotes included.
    Err(&'a [u8]),
    /// `RS+`: the peer has interest; a queue subscription carries the number of members behind it.
    Sub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<(&'a [u8], u32)>,
    },
    /// `RS-`: the peer lost interest.
    Unsub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
    },
    /// `LS+`: interest of a leaf node of the peer, with the leaf's cluster.
    LeafSub {
        origin: &'a [u8],
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<(&'a [u8], u32)>,
    },
    /// `LS-` (2.9 sends it without the origin).
    LeafUnsub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
    },
    Msg(Msg<'a>),
}

/// Why parsing stopped. Every error ends the route connection.
#[derive(Debug, PartialEq, Eq, Clone)]
pub enum Error {
    /// The bytes do not start a route operation.
    UnknownOp,
    /// A well-formed operation with malformed arguments; the text says which and shows the line.
    BadArgs(String),
    /// A control line longer than `max_control_line`.
    MaxControlLine,
    /// A message larger than `max_payload`.
    MaxPayload,
    /// A message body not followed by CRLF: its declared size is wrong.
    BadPayloadEnd,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::UnknownOp => f.write_str("Route parser ERROR: Unknown Protocol Operation"),
            Error::BadArgs(s) => f.write_str(s),
            Error::MaxControlLine => f.write_str("maximum control line exceeded"),
            Error::MaxPayload => f.write_str("Maximum Payload Violation"),
            Error::BadPayloadEnd => f.write_str("Route parser ERROR: message not ended by CRLF"),
        }
    }
}

impl std::error::Error for Error {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kw {
    Info,
    Connect,
    Ping,
    Pong,
    Ok,
    Err,
    RsPlus,
    RsMinus,
    LsPlus,
    LsMinus,
    Rmsg,
    Hmsg,
    Lmsg,
}

const KEYWORDS: [(&[u8], Kw); 13] = [
    (b"INFO", Kw::Info),
    (b"CONNECT", Kw::Connect),
    (b"PING", Kw::Ping),
    (b"PONG", Kw::Pong),
    (b"+OK", Kw::Ok),
    (b"-ERR", Kw::Err),
    (b"RS+", Kw::RsPlus),
    (b"RS-", Kw::RsMinus),
    (b"LS+", Kw::LsPlus),
    (b"LS-", Kw::LsMinus),
    (b"RMSG", Kw::Rmsg),
    (b"HMSG", Kw::Hmsg),
    (b"LMSG", Kw::Lmsg),
];

impl Kw {
    fn is_msg(self) -> bool {
        matches!(self, Kw::Rmsg | Kw::Hmsg | Kw::Lmsg)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    /// Matching an operation name: bit k of `cands` set while KEYWORDS[k] still fits.
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

/// A token's place in a control line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span(usize, usize);

impl Span {
    fn of(self, line: &[u8]) -> &[u8] {
        &line[self.0..self.1]
    }
}

/// A message line's arguments as places in the line, so that no borrow of the line outlives it
/// while the payload is collected.
#[derive(Clone, Copy, Debug, Default)]
struct PendingMsg {
    origin: Option<Span>,
    account: Span,
    subject: Span,
    reply: Option<Span>,
    queues: Span,
    header_len: usize,
    size: usize,
}

impl PendingMsg {
    fn msg<'a>(&self, line: &'a [u8], data: &'a [u8]) -> Msg<'a> {
        Msg {
            origin: self.origin.map(|s| s.of(line)),
            account: self.account.of(line),
            subject: self.subject.of(line),
            reply: self.reply.map(|s| s.of(line)),
            queues: Queues(self.queues.of(line)),
            header_len: self.header_len,
            data,
        }
    }
}

/// The route protocol state machine. One per route connection.
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

    /// Parse the next operation from `buf[*pos..]`, advancing `*pos` past it. `Ok(None)` means the
    /// buffer is used up (anything partial is kept inside the parser). After an error `*pos` is at
    /// the offending byte (or past the offending line) and the connection should be closed.
    pub fn next_op<'a>(
        &'a mut self,
        buf: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<RouteOp<'a>>, Error> {
        self.side.reclaim();
        let mut i = *pos;
        let mut arg_start = i;
        while i < buf.len() {
            let b = buf[i];
            match self.state {
                State::Start | State::Keyword { .. } => {
                    let (cands, p) = match self.state {
                        State::Keyword { cands, pos } => (cands, pos),
                        _ => (u16::MAX >> (16 - KEYWORDS.len()), 0),
                    };
                    let up = b.to_ascii_uppercase();
                    let mut next = 0u16;
                    for (k, (name, _)) in KEYWORDS.iter().enumerate() {
                        if cands & (1 << k) != 0 && name.get(p as usize) == Some(&up) {
                            next |= 1 << k;
                        }
                    }
                    if next == 0 {
                        return self.fail(pos, i, Error::UnknownOp);
                    }
                    self.state = advance_keyword(next, p + 1);
                    i += 1;
                }
                State::AfterKw(kw) => match kw {
                    Kw::Ping | Kw::Pong | Kw::Ok => self.state = State::Ignore(kw),
                    _ if is_blank(b) => {
                        self.state = State::Blanks(kw);
                        i += 1;
                    }
                    // JSON may follow the name directly, as nats-server allows.
                    Kw::Info | Kw::Connect => {
                        self.state = State::Arg(kw);
                        arg_start = i;
                    }
                    _ => return self.fail(pos, i, Error::UnknownOp),
                },
                State::Blanks(kw) => {
                    if is_blank(b) {
                        i += 1;
                    } else {
                        self.state = State::Arg(kw);
                        arg_start = i;
                    }
                }
                State::Ignore(kw) => match buf[i..].iter().position(|&c| c == b'\n') {
                    Some(off) => {
                        *pos = i + off + 1;
                        self.state = State::Start;
                        return Ok(Some(match kw {
                            Kw::Ping => RouteOp::Ping,
                            Kw::Pong => RouteOp::Pong,
                            _ => RouteOp::Ok,
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
                        self.side.arg.extend_from_slice(&buf[arg_start..nl]);
                    }
                    *pos = nl + 1;
                    if !kw.is_msg() {
                        return self.finish_line(kw, buf, arg_start, nl);
                    }
                    let pm = match self.msg_args(kw, buf, arg_start, nl) {
                        Ok(pm) => pm,
                        Err(e) => return self.fail(pos, nl + 1, e),
                    };
                    let body = nl + 1;
                    let end = body.saturating_add(pm.size);
                    if buf.len() >= end.saturating_add(2) {
                        // Fast path: the whole message is in this buffer.
                        if buf[end] != b'\r' {
                            return self.fail(pos, end, Error::BadPayloadEnd);
                        }
                        if buf[end + 1] != b'\n' {
                            return self.fail(pos, end + 1, Error::BadPayloadEnd);
                        }
                        *pos = end + 2;
                        let line: &[u8] = if self.side.arg_split {
                            self.side.release = true;
                            &self.side.arg
                        } else {
                            &buf[arg_start..nl]
                        };
                        return Ok(Some(RouteOp::Msg(pm.msg(line, &buf[body..end]))));
                    }
                    // Slow path: keep the control line, collect the payload across reads.
                    if !self.side.arg_split {
                        self.side.arg.clear();
                        self.side.arg.extend_from_slice(&buf[arg_start..nl]);
                        self.side.arg_split = true;
                    }
                    self.pending = pm;
                    self.side.payload.clear();
                    self.side.payload.reserve_exact(pm.size);
                    let avail = (buf.len() - body).min(pm.size);
                    self.side
                        .payload
                        .extend_from_slice(&buf[body..body + avail]);
                    i = body + avail;
                    self.state = if avail == pm.size {
                        State::PayloadCr
                    } else {
                        State::Payload
                    };
                }
                State::Payload => {
                    let take = (self.pending.size - self.side.payload.len()).min(buf.len() - i);
                    self.side.payload.extend_from_slice(&buf[i..i + take]);
                    i += take;
                    if self.side.payload.len() == self.pending.size {
                        self.state = State::PayloadCr;
                    }
                }
                State::PayloadCr => {
                    if b != b'\r' {
                        return self.fail(pos, i, Error::BadPayloadEnd);
                    }
                    self.state = State::PayloadLf;
                    i += 1;
                }
                State::PayloadLf => {
                    if b != b'\n' {
                        return self.fail(pos, i, Error::BadPayloadEnd);
                    }
                    *pos = i + 1;
                    self.state = State::Start;
                    self.side.release = true;
                    let msg = self.pending.msg(&self.side.arg, &self.side.payload);
                    return Ok(Some(RouteOp::Msg(msg)));
                }
            }
        }
        // An empty buffer fed while a line is open: nothing to stitch, but nothing lost either.
        *pos = buf.len();
        self.check_split_line()
    }

    /// Stop at an error: `*pos` marks where, and nothing partial is kept.
    fn fail(
        &mut self,
        pos: &mut usize,
        at: usize,
        e: Error,
    ) -> Result<Option<RouteOp<'static>>, Error> {
        *pos = at;
        self.state = State::Start;
        self.side.release = true;
        Err(e)
    }

    /// A line cut by the end of a read may not already be over the limit (not counting a final CR,
    /// which will drop if LF follows).
    fn check_split_line(&mut self) -> Result<Option<RouteOp<'static>>, Error> {
        if self.side.arg_split && strip_cr(&self.side.arg).len() > self.limits.max_control_line {
            self.state = State::Start;
            self.side.release = true;
            return Err(Error::MaxControlLine);
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

    /// The control line of a non-message operation ended at `buf[nl]`; its bytes are in `arg` when
    /// the line was split, else at `buf[arg_start..nl]`.
    fn finish_line<'a>(
        &'a mut self,
        kw: Kw,
        buf: &'a [u8],
        arg_start: usize,
        nl: usize,
    ) -> Result<Option<RouteOp<'a>>, Error> {
        let line: &[u8] = if self.side.arg_split {
            self.side.release = true;
            &self.side.arg
        } else {
            &buf[arg_start..nl]
        };
        let line = strip_cr(line);
        if line.len() > self.limits.max_control_line {
            return Err(Error::MaxControlLine);
        }
        let op = match kw {
            Kw::Info => RouteOp::Info(line),
            Kw::Connect => RouteOp::Connect(line),
            Kw::Err => RouteOp::Err(line),
            Kw::RsPlus | Kw::LsPlus => {
                let leaf = kw == Kw::LsPlus;
                let base = 2 + leaf as usize;
                let t = Tokens::of(line);
                let queue = if t.n == base {
                    None
                } else if t.n == base + 2 {
                    let w = weight(t.get(base + 1).of(line), line)?;
                    Some((t.get(base).of(line), w))
                } else {
                    return Err(bad_args("processRemoteSub Parse Error", line));
                };
                let (account, subject) = (t.get(base - 2).of(line), t.get(base - 1).of(line));
                if leaf {
                    RouteOp::LeafSub {
                        origin: t.get(0).of(line),
                        account,
                        subject,
                        queue,
                    }
                } else {
                    RouteOp::Sub {
                        account,
                        subject,
                        queue,
                    }
                }
            }
            Kw::RsMinus | Kw::LsMinus => {
                let t = Tokens::of(line);
                if t.n != 2 && t.n != 3 {
                    return Err(bad_args("processRemoteUnsub parse error", line));
                }
                let account = t.get(0).of(line);
                let subject = t.get(1).of(line);
                let queue = (t.n == 3).then(|| t.get(2).of(line));
                if kw == Kw::LsMinus {
                    RouteOp::LeafUnsub {
                        account,
                        subject,
                        queue,
                    }
                } else {
                    RouteOp::Unsub {
                        account,
                        subject,
                        queue,
                    }
                }
            }
            Kw::Ping | Kw::Pong | Kw::Ok | Kw::Rmsg | Kw::Hmsg | Kw::Lmsg => {
                unreachable!("messages go through msg_args, PING/PONG/+OK through Ignore")
            }
        };
        Ok(Some(op))
    }

    /// Read an RMSG/HMSG/LMSG control line into places within the line, checking the limits.
    fn msg_args(
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
        let line = strip_cr(line);
        if line.len() > self.limits.max_control_line {
            return Err(Error::MaxControlLine);
        }
        // Leading fixed arguments (origin, account, subject) and trailing sizes.
        let (what, base, sizes) = match kw {
            Kw::Rmsg => ("processRoutedMsgArgs", 2, 1),
            Kw::Hmsg => ("processRoutedHeaderMsgArgs", 2, 2),
            _ => ("processRoutedOriginClusterMsgArgs", 3, 2),
        };
        let err = |msg: &str| bad_args(&format!("{what} {msg}"), line);
        let t = Tokens::of(line);
        let n = t.n;
        if n < base + sizes {
            return Err(err("Parse Error"));
        }
        let tail = n - sizes;
        let (reply, queues) = if n == base + sizes {
            (None, Span::default())
        } else if n == base + sizes + 1 {
            (Some(t.get(base)), Span::default())
        } else {
            let (reply, first) = match t.get(base).of(line) {
                b"+" => (Some(t.get(base + 1)), base + 2),
                b"|" => (None, base + 1),
                _ => return Err(err("Bad or Missing Reply Indicator")),
            };
            let queues = if first < tail {
                Span(t.get(first).0, t.get(tail - 1).1)
            } else {
                Span::default()
            };
            (reply, queues)
        };
        let header_len = if sizes == 2 {
            parse_size(t.get(n - 2).of(line)).ok_or_else(|| err("Bad or Missing Header Size"))?
        } else {
            0
        };
        let size = parse_size(t.get(n - 1).of(line)).ok_or_else(|| err("Bad or Missing Size"))?;
        if header_len > size {
            return Err(err("Header Size larger then TotalSize"));
        }
        if size > self.limits.max_payload {
            return Err(Error::MaxPayload);
        }
        Ok(PendingMsg {
            origin: (base == 3).then(|| t.get(0)),
            account: t.get(base - 2),
            subject: t.get(base - 1),
            reply,
            queues,
            header_len,
            size,
        })
    }
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

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Argument separators: blanks, and a CR or LF that is not the line end (as nats-server's
/// argument splitter has it).
fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The places of a line's first six and last three arguments, and how many there are: enough for
/// any route operation, however many queue names sit in the middle.
struct Tokens {
    head: [Span; 6],
    /// A ring: argument k (for the last three) is at `tail[k % 3]`.
    tail: [Span; 3],
    n: usize,
}

impl Tokens {
    fn of(line: &[u8]) -> Tokens {
        let mut t = Tokens {
            head: [Span::default(); 6],
            tail: [Span::default(); 3],
            n: 0,
        };
        let mut i = 0;
        while i < line.len() {
            if is_sep(line[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < line.len() && !is_sep(line[i]) {
                i += 1;
            }
            let s = Span(start, i);
            if t.n < t.head.len() {
                t.head[t.n] = s;
            }
            t.tail[t.n % 3] = s;
            t.n += 1;
        }
        t
    }

    /// Argument `k`: one of the first six or the last three.
    fn get(&self, k: usize) -> Span {
        debug_assert!(k < self.n && (k < self.head.len() || k + 3 >= self.n));
        if k < self.head.len() {
            self.head[k]
        } else {
            self.tail[k % 3]
        }
    }
}

fn weight(w: &[u8], line: &[u8]) -> Result<u32, Error> {
    parse_size(w)
        .and_then(|w| u32::try_from(w).ok())
        .ok_or_else(|| bad_args("processRemoteSub Bad or Missing Queue Weight", line))
}

fn bad_args(what: &str, line: &[u8]) -> Error {
    Error::BadArgs(format!("{what}: '{}'", line.escape_ascii()))
}

// Encoders. Each appends one whole control line, CRLF included, reserving its length once. The
// names, subjects and queues passed in must be non-empty and free of blanks (as subjects, queue
// names and account names always are).

/// `RS+ <account> <subject>[ <queue> <weight>]\r\n`
pub fn rs_plus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<(&[u8], u32)>) {
    sub_line(out, b"RS+ ", None, account, subject, queue);
}

/// `RS- <account> <subject>[ <queue>]\r\n`
pub fn rs_minus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    unsub_line(out, b"RS- ", account, subject, queue);
}

/// `LS+ <origin> <account> <subject>[ <queue> <weight>]\r\n`
pub fn ls_plus(
    out: &mut Vec<u8>,
    origin: &[u8],
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    sub_line(out, b"LS+ ", Some(origin), account, subject, queue);
}

/// `LS- <account> <subject>[ <queue>]\r\n` (nats-server 2.9's form, without the origin).
pub fn ls_minus(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    unsub_line(out, b"LS- ", account, subject, queue);
}

/// The control line of a routed message: `RMSG` without headers (`header_len` 0), else `HMSG`,
/// with the queue groups after `+ <reply>` or `|`. The caller appends the `total_len` bytes of
/// headers and payload, then CRLF.
pub fn rmsg_head(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    header_len: usize,
    total_len: usize,
) {
    let (kw, hdr): (&[u8], _) = if header_len > 0 {
        (b"HMSG ", Some(header_len))
    } else {
        (b"RMSG ", None)
    };
    msg_line(
        out, kw, None, account, subject, reply, queues, hdr, total_len,
    );
}

/// `LMSG <origin> ...`: a message from a leaf node, always with a header size (0 for none).
#[allow(clippy::too_many_arguments)]
pub fn lmsg_head(
    out: &mut Vec<u8>,
    origin: &[u8],
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    header_len: usize,
    total_len: usize,
) {
    msg_line(
        out,
        b"LMSG ",
        Some(origin),
        account,
        subject,
        reply,
        queues,
        Some(header_len),
        total_len,
    );
}

fn sub_line(
    out: &mut Vec<u8>,
    kw: &[u8],
    origin: Option<&[u8]>,
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    let mut digits = [0u8; 20];
    let w = queue.map(|(_, w)| decimal(w as usize, &mut digits));
    out.reserve(
        kw.len()
            + origin.map_or(0, |o| o.len() + 1)
            + account.len()
            + 1
            + subject.len()
            + queue.map_or(0, |(q, _)| q.len() + 2)
            + w.map_or(0, |w| w.len())
            + 2,
    );
    out.extend_from_slice(kw);
    if let Some(o) = origin {
        out.extend_from_slice(o);
        out.push(b' ');
    }
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let (Some((q, _)), Some(w)) = (queue, w) {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        out.extend_from_slice(w);
    }
    out.extend_from_slice(b"\r\n");
}

fn unsub_line(out: &mut Vec<u8>, kw: &[u8], account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    out.reserve(
        kw.len() + account.len() + 1 + subject.len() + queue.map_or(0, |q| q.len() + 1) + 2,
    );
    out.extend_from_slice(kw);
    push_key(out, account, subject, queue);
    out.extend_from_slice(b"\r\n");
}

/// `ACCOUNT SUBJECT[ QUEUE]`: how a route names a subscription (also its sid in /routez).
pub fn push_key(out: &mut Vec<u8>, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
}

#[allow(clippy::too_many_arguments)]
fn msg_line(
    out: &mut Vec<u8>,
    kw: &[u8],
    origin: Option<&[u8]>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: &[&[u8]],
    header_len: Option<usize>,
    total_len: usize,
) {
    let mut hdr_digits = [0u8; 20];
    let mut len_digits = [0u8; 20];
    let hdr = header_len.map(|h| decimal(h, &mut hdr_digits));
    let total = decimal(total_len, &mut len_digits);
    let marker = !queues.is_empty();
    out.reserve(
        kw.len()
            + origin.map_or(0, |o| o.len() + 1)
            + account.len()
            + 1
            + subject.len()
            + 1
            + 2 * marker as usize
            + reply.map_or(0, |r| r.len() + 1)
            + queues.iter().map(|q| q.len() + 1).sum::<usize>()
            + hdr.map_or(0, |h| h.len() + 1)
            + total.len()
            + 2,
    );
    out.extend_from_slice(kw);
    if let Some(o) = origin {
        out.extend_from_slice(o);
        out.push(b' ');
    }
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    out.push(b' ');
    if marker {
        out.extend_from_slice(if reply.is_some() { b"+ " } else { b"| " });
    }
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    for q in queues {
        out.extend_from_slice(q);
        out.push(b' ');
    }
    if let Some(h) = hdr {
        out.extend_from_slice(h);
        out.push(b' ');
    }
    out.extend_from_slice(total);
    out.extend_from_slice(b"\r\n");
}

/// Write `n` in decimal at the end of `buf`; returns the digits.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests;
