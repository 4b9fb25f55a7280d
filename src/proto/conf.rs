//! The NATS configuration format, as text → syntax tree. Pure: no files, no environment.
//!
//! The grammar is nats-server's: `key = value`, `key: value` or `key value`; keys bare or quoted;
//! values are double-quoted strings (with `\t \n \r \" \\ \xHH` escapes), single-quoted raw
//! strings, bare strings, integers with size suffixes (`k`/`kb`, `m`/`mb`, `g`/`gb`: the `b` forms
//! are powers of 1024), floats, booleans (`true/false/yes/no/on/off`), ISO8601 Zulu datetimes,
//! IP-and-port strings (`127.0.0.1:4222`), `$variables`, arrays `[...]`, maps `{...}`, and block
//! strings `( ... )` closed by a `)` alone on a line. Entries end at a newline, `;` or `,`;
//! comments start with `#` or `//`. `include path` splices another file in, resolved by the
//! caller (`conf::file`), as are variables.

use std::fmt;

/// Where something starts: 1-based line and column (in bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

/// A value as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Syn {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    /// `$name`, not yet resolved.
    Var(String),
    Array(Vec<Item>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub value: Syn,
    pub pos: Pos,
}

/// One entry of a map (or of the top level).
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    KeyValue { key: String, pos: Pos, value: Item },
    Include { path: String, pos: Pos },
}

/// A syntax error with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub pos: Pos,
    pub msg: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.msg)
    }
}

/// Nesting deeper than this is refused (the input is untrusted and the parser recursive).
const MAX_DEPTH: usize = 64;

/// Parse a whole configuration text into its top-level entries.
pub fn parse(text: &[u8]) -> Result<Vec<Entry>, Error> {
    let mut p = Parser {
        s: text,
        i: 0,
        line: 1,
        line_start: 0,
        depth: 0,
    };
    p.top()
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    line: u32,
    line_start: usize,
    depth: usize,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_nl(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

fn is_space(b: u8) -> bool {
    is_blank(b) || is_nl(b) || b == 0x0b || b == 0x0c
}

fn show(b: Option<u8>) -> String {
    match b {
        None => "EOF".into(),
        Some(b'\n') => "\\n".into(),
        Some(b'\r') => "\\r".into(),
        Some(b'\t') => "\\t".into(),
        Some(b) if b.is_ascii_graphic() || b == b' ' => (b as char).to_string(),
        Some(b) => format!("\\x{b:02x}"),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn peek2(&self) -> Option<u8> {
        self.s.get(self.i + 1).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        if b == b'\n' {
            self.line += 1;
            self.line_start = self.i;
        }
        Some(b)
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: (self.i - self.line_start) as u32 + 1,
        }
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, Error> {
        Err(Error {
            pos: self.pos(),
            msg: msg.into(),
        })
    }

    fn at_comment(&self) -> bool {
        self.peek() == Some(b'#') || (self.peek() == Some(b'/') && self.peek2() == Some(b'/'))
    }

    fn skip_comment(&mut self) {
        while let Some(b) = self.peek() {
            if is_nl(b) {
                break;
            }
            self.bump();
        }
    }

    /// Skip blanks, newlines and comments.
    fn skip_all(&mut self) {
        loop {
            match self.peek() {
                Some(b) if is_space(b) => {
                    self.bump();
                }
                _ if self.at_comment() => self.skip_comment(),
                _ => return,
            }
        }
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.bump();
        }
    }

    fn utf8(&self, bytes: &[u8], pos: Pos) -> Result<String, Error> {
        String::from_utf8(bytes.to_vec()).map_err(|_| Error {
            pos,
            msg: "invalid UTF-8".into(),
        })
    }

    fn top(&mut self) -> Result<Vec<Entry>, Error> {
        let mut entries = Vec::new();
        loop {
            self.skip_all();
            match self.peek() {
                None => return Ok(entries),
                // The whole file may be wrapped in braces.
                Some(b'{') | Some(b'}') => {
                    self.bump();
                    continue;
                }
                _ => {}
            }
            let e = self.entry()?;
            let was_include = matches!(e, Entry::Include { .. });
            entries.push(e);
            // After a value: blanks, then a comment, newline, EOF, `;`, `,` or `}`.
            self.skip_blanks();
            match self.peek() {
                None => return Ok(entries),
                Some(b) if is_nl(b) || b == b';' || b == b',' || b == b'}' => {
                    self.bump();
                }
                _ if self.at_comment() => self.skip_comment(),
                other if !was_include => {
                    return self.err(format!(
                        "Expected a top-level value to end with a new line, comment or EOF, but got '{}' instead.",
                        show(other)
                    ))
                }
                _ => {}
            }
        }
    }

    /// A key and its value, or an include.
    fn entry(&mut self) -> Result<Entry, Error> {
        let pos = self.pos();
        let key = match self.peek() {
            Some(q @ (b'"' | b'\'')) => self.quoted(q, pos, "Unexpected EOF.")?,
            Some(b'=') | Some(b':') => {
                return self.err(format!("Unexpected key separator '{}'", show(self.peek())));
            }
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|b| !is_space(b) && b != b'=' && b != b':')
                {
                    self.bump();
                }
                let k = self.utf8(&self.s[start..self.i], pos)?;
                if k.eq_ignore_ascii_case("include") && self.peek().is_some_and(is_blank) {
                    return self.include(pos);
                }
                k
            }
        };
        // Blanks and even newlines may stand between a key and its separator or value.
        while self.peek().is_some_and(is_space) {
            self.bump();
        }
        if matches!(self.peek(), Some(b'=') | Some(b':')) {
            self.bump();
        }
        if self.peek().is_none() {
            return self.err(format!("Unexpected EOF: no value for key {key:?}"));
        }
        let value = self.value()?;
        Ok(Entry::KeyValue { key, pos, value })
    }

    fn include(&mut self, pos: Pos) -> Result<Entry, Error> {
        self.skip_blanks();
        let path = match self.peek() {
            Some(q @ (b'"' | b'\'')) => self.quoted(q, pos, "Unexpected EOF in include path.")?,
            Some(b) if is_nl(b) => return self.err("Expected include value but found new line"),
            None => return self.err("Expected include value but found EOF"),
            Some(b'[') | Some(b'{') | Some(b'(') => {
                return self.err(format!(
                    "Expected include value but found '{}'",
                    show(self.peek())
                ))
            }
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|b| !is_space(b) && b != b';' && b != b'}')
                {
                    self.bump();
                }
                self.utf8(&self.s[start..self.i], pos)?
            }
        };
        Ok(Entry::Include { path, pos })
    }

    fn value(&mut self) -> Result<Item, Error> {
        self.skip_blanks();
        let pos = self.pos();
        let b = match self.peek() {
            None => return self.err("Unexpected EOF: expected a value"),
            Some(b) => b,
        };
        let value = match b {
            b'[' => self.nested(Self::array)?,
            b'{' => self.nested(Self::map)?,
            b'"' => Syn::Str(self.dq_string()?),
            b'\'' => Syn::Str(self.sq_string()?),
            b'(' => Syn::Str(self.block()?),
            b'-' | b'0'..=b'9' => self.number()?,
            b'.' => return self.err("Floats must start with a digit"),
            b if is_nl(b) => return self.err("Expected value but found new line"),
            _ => self.bare()?,
        };
        Ok(Item { value, pos })
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Syn, Error>) -> Result<Syn, Error> {
        if self.depth >= MAX_DEPTH {
            return self.err("nesting too deep");
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn array(&mut self) -> Result<Syn, Error> {
        self.bump(); // '['
        let mut items = Vec::new();
        loop {
            self.skip_all();
            match self.peek() {
                None => return self.err("Unexpected EOF processing array."),
                Some(b']') => {
                    self.bump();
                    return Ok(Syn::Array(items));
                }
                Some(b',') => return self.err("Unexpected array value terminator ','."),
                _ => {}
            }
            items.push(self.value()?);
            self.skip_blanks();
            if self.at_comment() {
                self.skip_comment();
            }
            match self.peek() {
                Some(b',') => {
                    self.bump();
                }
                Some(b) if is_nl(b) => {
                    self.bump();
                }
                Some(b']') => {
                    self.bump();
                    return Ok(Syn::Array(items));
                }
                other => {
                    return self.err(format!(
                        "Expected an array value terminator \",\" or an array terminator \"]\", but got '{}' instead.",
                        show(other)
                    ))
                }
            }
        }
    }

    fn map(&mut self) -> Result<Syn, Error> {
        self.bump(); // '{'
        let mut entries = Vec::new();
        loop {
            self.skip_all();
            match self.peek() {
                None => return self.err("Unexpected EOF processing map."),
                Some(b'}') => {
                    self.bump();
                    return Ok(Syn::Map(entries));
                }
                Some(b',') => return self.err("Unexpected map value terminator ','."),
                Some(b']') => return self.err("Unexpected array end ']' processing map."),
                _ => {}
            }
            let e = self.entry()?;
            let was_include = matches!(e, Entry::Include { .. });
            entries.push(e);
            self.skip_blanks();
            if self.at_comment() {
                self.skip_comment();
            }
            match self.peek() {
                Some(b',') | Some(b';') => {
                    self.bump();
                }
                Some(b) if is_nl(b) => {
                    self.bump();
                }
                Some(b'}') => {
                    self.bump();
                    return Ok(Syn::Map(entries));
                }
                None => return self.err("Unexpected EOF processing map."),
                _ if was_include => {}
                other => {
                    return self.err(format!(
                        "Expected a map value terminator \",\" or a map terminator \"}}\", but got '{}' instead.",
                        show(other)
                    ))
                }
            }
        }
    }

    fn dq_string(&mut self) -> Result<String, Error> {
        let pos = self.pos();
        self.bump(); // '"'
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return self.err("Unexpected EOF."),
                Some(b'"') => return self.utf8(&out, pos),
                Some(b'\\') => out.push(self.escape()?),
                Some(b) => out.push(b),
            }
        }
    }

    fn escape(&mut self) -> Result<u8, Error> {
        match self.bump() {
            Some(b't') => Ok(b'\t'),
            Some(b'n') => Ok(b'\n'),
            Some(b'r') => Ok(b'\r'),
            Some(b'"') => Ok(b'"'),
            Some(b'\\') => Ok(b'\\'),
            Some(b'x') => {
                let hex = |b: Option<u8>| b.and_then(|b| (b as char).to_digit(16));
                match (hex(self.peek()), hex(self.peek2())) {
                    (Some(h), Some(l)) => {
                        self.bump();
                        self.bump();
                        Ok((h * 16 + l) as u8)
                    }
                    _ => self.err("Expected two hexadecimal digits after '\\x'"),
                }
            }
            other => self.err(format!(
                "Invalid escape character '{}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                show(other)
            )),
        }
    }

    fn sq_string(&mut self) -> Result<String, Error> {
        let pos = self.pos();
        self.quoted(b'\'', pos, "Unexpected EOF.")
    }

    /// Text between the quote `q` at the cursor and the next `q`, taken as it is.
    fn quoted(&mut self, q: u8, pos: Pos, eof_msg: &str) -> Result<String, Error> {
        self.bump();
        let start = self.i;
        while self.peek().is_some_and(|b| b != q) {
            self.bump();
        }
        if self.peek().is_none() {
            return self.err(eof_msg);
        }
        let text = self.utf8(&self.s[start..self.i], pos)?;
        self.bump();
        Ok(text)
    }

    /// `(` ... `)` where the closing parenthesis stands alone on its line.
    fn block(&mut self) -> Result<String, Error> {
        let pos = self.pos();
        self.bump(); // '('
        let start = self.i;
        loop {
            match self.peek() {
                None => return self.err("Unexpected EOF in block string."),
                Some(b')')
                    if self.i > start
                        && self.s[self.i - 1] == b'\n'
                        && matches!(self.s.get(self.i + 1), None | Some(b'\n')) =>
                {
                    let text = self.utf8(&self.s[start..self.i - 1], pos)?;
                    self.bump();
                    return Ok(text);
                }
                _ => {
                    self.bump();
                }
            }
        }
    }

    fn number(&mut self) -> Result<Syn, Error> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.bump();
        }
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return self.err(format!("Expected a digit but got '{}'.", show(self.peek())));
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.bump();
        }
        match self.peek() {
            Some(b'-') if self.i - start == 4 && self.s[start] != b'-' => {
                return self.datetime(start)
            }
            Some(b'.') => {
                self.bump();
                if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return self.err(format!(
                        "Floats must have a digit after the '.', but got '{}' instead.",
                        show(self.peek())
                    ));
                }
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.bump();
                }
                if self.peek() == Some(b'.') {
                    // Not a float after all: an IP address, maybe with a port.
                    while self
                        .peek()
                        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b':' | b'-'))
                    {
                        self.bump();
                    }
                    return Ok(Syn::Str(
                        String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                    ));
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                return match text.parse::<f64>() {
                    Ok(f) => Ok(Syn::Float(f)),
                    Err(_) => self.err(format!("invalid float {text:?}")),
                };
            }
            _ => {}
        }
        let digits_end = self.i;
        if self
            .peek()
            .is_some_and(|b| matches!(b, b'k' | b'K' | b'm' | b'M' | b'g' | b'G'))
        {
            self.bump();
            while self.peek().is_some_and(|b| b == b'b' || b == b'B') {
                self.bump();
            }
        }
        let digits = std::str::from_utf8(&self.s[start..digits_end]).unwrap_or("");
        let suffix = std::str::from_utf8(&self.s[digits_end..self.i])
            .unwrap_or("")
            .to_ascii_lowercase();
        let mult: i64 = match suffix.as_str() {
            "" => 1,
            "k" => 1000,
            "kb" => 1024,
            "m" => 1000 * 1000,
            "mb" => 1024 * 1024,
            "g" => 1000 * 1000 * 1000,
            "gb" => 1024 * 1024 * 1024,
            _ => return self.err(format!("unknown size suffix {suffix:?}")),
        };
        match digits.parse::<i64>().ok().and_then(|n| n.checked_mul(mult)) {
            Some(n) => Ok(Syn::Int(n)),
            None => self.err(format!("integer out of range: {}", &digits)),
        }
    }

    fn datetime(&mut self, start: usize) -> Result<Syn, Error> {
        // YYYY- has been read; the rest must be MM-DDTHH:MM:SSZ.
        const FORM: &[u8] = b"-00-00T00:00:00Z";
        for &f in FORM {
            let b = self.peek();
            let ok = match f {
                b'0' => b.is_some_and(|b| b.is_ascii_digit()),
                _ => b == Some(f),
            };
            if !ok {
                return self.err(format!(
                    "Expected '{}' in ISO8601 datetime, but found '{}' instead.",
                    f as char,
                    show(b)
                ));
            }
            self.bump();
        }
        Ok(Syn::Datetime(
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
        ))
    }

    /// An unquoted string, boolean or variable: up to a blank, newline, `;`, `,`, `]` or `}`.
    fn bare(&mut self) -> Result<Syn, Error> {
        let pos = self.pos();
        let mut out = Vec::new();
        let mut escaped = false;
        while let Some(b) = self.peek() {
            if is_space(b) || matches!(b, b';' | b',' | b']' | b'}') {
                break;
            }
            self.bump();
            if b == b'\\' {
                out.push(self.escape()?);
                escaped = true;
            } else {
                out.push(b);
            }
        }
        let s = self.utf8(&out, pos)?;
        if escaped {
            return Ok(Syn::Str(s));
        }
        match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => return Ok(Syn::Bool(true)),
            "false" | "no" | "off" => return Ok(Syn::Bool(false)),
            _ => {}
        }
        match s.strip_prefix('$') {
            Some(name) if !name.is_empty() => Ok(Syn::Var(name.to_string())),
            _ => Ok(Syn::Str(s)),
        }
    }
}

#[cfg(test)]
mod tests;
