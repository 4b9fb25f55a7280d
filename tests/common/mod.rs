//! Shared harness for black-box tests: start a server binary (rnatsd, or Debian's `nats-server`
//! for differential tests) on a free loopback port, wait until it answers, and speak raw protocol.
//! Every process started here is killed by PID when its handle drops.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the rnatsd binary under test: `RNATSD_TEST_BIN` when set (a static or cross-built
/// binary, or a wrapper script such as one that runs it under qemu), else the one Cargo built.
pub fn rnatsd_bin() -> PathBuf {
    match std::env::var_os("RNATSD_TEST_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_rnatsd")),
    }
}

/// Debian's Go server, if installed (`make test` installs it).
pub fn go_server_bin() -> Option<PathBuf> {
    for p in ["/usr/sbin/nats-server", "/usr/bin/nats-server"] {
        let p = PathBuf::from(p);
        if p.exists() {
            return Some(p);
        }
    }
    None
}

/// A loopback port nobody listens on, for a server to bind soon after.
///
/// Ports come from below the kernel's ephemeral range, so the local end of a test's own client
/// connection can never take one between this probe and the server's bind, and each port is
/// handed out once per test process, so two tests running in parallel never get the same one.
/// The walk starts at an offset drawn from the process id and the clock, so test binaries run
/// one after another do not reuse each other's ports while a killed server's socket lingers.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (base, span) = if low > 12000 {
        (10000, low - 10000)
    } else {
        (61000, 4000)
    };
    if NEXT.load(Ordering::Relaxed) == u32::MAX {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = (std::process::id().wrapping_mul(7919) ^ nanos) % span;
        let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (base + n % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

pub struct ServerProcess {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

impl ServerProcess {
    /// Start rnatsd on 127.0.0.1 with a free port plus `extra` arguments.
    pub fn start(extra: &[&str]) -> ServerProcess {
        Self::start_bin(&rnatsd_bin(), extra)
    }

    /// Start any NATS server binary that takes nats-server's flags, on a free port.
    pub fn start_bin(bin: &std::path::Path, extra: &[&str]) -> ServerProcess {
        for _attempt in 0..5 {
            // A port taken between probe and bind, or a slow start: try another port.
            if let Some(sp) = Self::try_start(bin, free_port(), extra) {
                return sp;
            }
        }
        panic!("server {} did not become ready", bin.display());
    }

    /// One attempt: spawn `bin` on `port` and wait until it answers with INFO.
    fn try_start(bin: &std::path::Path, port: u16, extra: &[&str]) -> Option<ServerProcess> {
        let dir = TempDir::new("srv");
        let log = dir.path.join("server.log");
        let logf = std::fs::File::create(&log).expect("create log file");
        let mut args: Vec<String> = vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("spawn server");
        let mut sp = ServerProcess {
            child,
            port,
            log,
            _dir: dir,
        };
        if sp.wait_ready(Duration::from_secs(10)) {
            return Some(sp);
        }
        sp.kill();
        None
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut r = BufReader::new(s);
                let mut line = String::new();
                if r.read_line(&mut line).is_ok() && line.starts_with("INFO ") {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send a signal to the server process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Wait for the process to exit, up to `limit`; returns its exit status if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A scratch directory removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "rnatsd-test-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A raw protocol client: line-oriented reads with a timeout, so a missing reply fails the test
/// instead of hanging it.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
    pub info: String,
}

pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

impl Client {
    /// Connect and consume the server's INFO line.
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).ok();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut c = Client {
            stream,
            reader,
            info: String::new(),
        };
        let info = c.read_line();
        assert!(info.starts_with("INFO {"), "expected INFO, got {info:?}");
        c.info = info;
        c
    }

    /// Connect and send CONNECT with the given JSON, then PING and expect PONG.
    pub fn connect_with(port: u16, connect_json: &str) -> Client {
        let mut c = Client::connect(port);
        c.send(&format!("CONNECT {connect_json}\r\nPING\r\n"));
        c.expect_line("PONG");
        c
    }

    /// A quiet client: verbose off, headers on.
    pub fn quiet(port: u16) -> Client {
        Client::connect_with(port, r#"{"verbose":false,"pedantic":false,"headers":true}"#)
    }

    pub fn send(&mut self, s: &str) {
        self.stream.write_all(s.as_bytes()).expect("write");
    }

    pub fn send_bytes(&mut self, b: &[u8]) {
        self.stream.write_all(b).expect("write");
    }

    /// Read one line without its CRLF; panics on timeout or EOF.
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("connection closed while waiting for a line"),
            Ok(_) => line.trim_end_matches(['\r', '\n']).to_string(),
            Err(e) => panic!("read_line: {e}"),
        }
    }

    /// Read one line, or None on EOF/reset.
    pub fn try_read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
            Err(_) => None,
        }
    }

    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        self.reader.read_exact(&mut buf).expect("read payload");
        buf
    }

    pub fn expect_line(&mut self, want: &str) {
        let got = self.read_line();
        assert_eq!(got, want);
    }

    /// Read a MSG line and its payload; returns (subject, sid, reply, payload).
    pub fn read_msg(&mut self) -> (String, String, Option<String>, Vec<u8>) {
        let line = self.read_line();
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts[0], "MSG", "expected MSG, got {line:?}");
        let (subject, sid, reply, size) = match parts.len() {
            4 => (parts[1], parts[2], None, parts[3]),
            5 => (parts[1], parts[2], Some(parts[3].to_string()), parts[4]),
            _ => panic!("bad MSG line {line:?}"),
        };
        let n: usize = size.parse().unwrap();
        let payload = self.read_exact(n + 2);
        assert_eq!(&payload[n..], b"\r\n");
        (
            subject.to_string(),
            sid.to_string(),
            reply,
            payload[..n].to_vec(),
        )
    }

    /// Make sure what was sent so far has left this process (no server round trip).
    pub fn flush_nowait(&mut self) {
        self.stream.flush().expect("flush");
    }

    /// PING and wait for PONG, so everything sent before has been processed.
    pub fn flush(&mut self) {
        self.send("PING\r\n");
        self.expect_line("PONG");
    }

    /// True when the server closed the connection (EOF or reset) within the read timeout.
    pub fn expect_closed(&mut self) {
        let mut buf = [0u8; 256];
        match self.reader.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected close, got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected close, got error {e}"),
        }
    }

    /// Read everything until the server closes the connection or the timeout passes.
    pub fn read_until_close(&mut self, limit: Duration) -> Vec<u8> {
        self.stream.set_read_timeout(Some(limit)).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        out
    }
}

impl ServerProcess {
    /// Start rnatsd on 127.0.0.1 on a fixed `port` plus `extra` arguments, e.g. to restart a
    /// server where its clients expect it. Retries for a while in case the port is still held.
    pub fn start_on_port(port: u16, extra: &[&str]) -> ServerProcess {
        Self::start_bin_on_port(&rnatsd_bin(), port, extra)
    }

    /// Like `start_on_port`, for any binary that takes nats-server's flags.
    pub fn start_bin_on_port(bin: &std::path::Path, port: u16, extra: &[&str]) -> ServerProcess {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(sp) = Self::try_start(bin, port, extra) {
                return sp;
            }
            assert!(
                Instant::now() < deadline,
                "server {} did not become ready on port {port}",
                bin.display()
            );
            // The port may still be held for a moment (e.g. by a process just killed): back off.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Run the rnatsd binary to completion with `args` (for commands that exit: -v, -t, bad flags),
/// returning (exit code, stdout, stderr). Killed, and the test failed, after 20 s, so a command
/// that unexpectedly starts a server cannot hang the suite.
pub fn run_rnatsd(args: &[&str]) -> (i32, String, String) {
    run_command(Command::new(rnatsd_bin()).args(args))
}

pub fn run_command(cmd: &mut Command) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn command");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command did not exit within 20 s: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status.code().unwrap_or(-1),
        t_out.join().unwrap_or_default(),
        t_err.join().unwrap_or_default(),
    )
}
