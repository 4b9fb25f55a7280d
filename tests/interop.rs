//! Interop tests: real NATS client libraries from the package registries, each running one
//! scenario against a server started on a free loopback port.
//!
//! - Python: nats-py, in `tests/interop/python/.venv` (pinned in `python/requirements.txt`);
//! - Node: nats.js v2 (npm `nats`), in `tests/interop/node/node_modules` (package-lock.json);
//! - C: Debian's libnats (`libnats-dev`); the client program is compiled with gcc once per run.
//!
//! `tests/interop/setup.sh` installs all of it. A missing dependency fails the test with a
//! message saying so; nothing is skipped. The scripts bound every wait themselves, and each client
//! process is killed (by PID) if it outlives `CLIENT_TIMEOUT`.
//!
//! The `auth_*` scenarios start the server with credentials (flags, or a configuration file
//! written to a temporary directory) and hand them to the client in `INTEROP_*` environment
//! variables; nkey pairs are made at test time by the client's own nkeys library.
//!
//! The `tls*` scenarios start the server with TLS (`--tls`/`--tlsverify` flags, or a `tls {}`
//! block in a configuration file) using the test-only certificates in `configs/certs`, whose
//! paths the client gets in `INTEROP_TLS_*` environment variables.
//!
//! Set `RNATSD_TEST_BIN=/usr/sbin/nats-server` to run the same tests against the Go server.

mod common;

use common::{ServerProcess, TempDir};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SETUP_HINT: &str =
    "run `tests/interop/setup.sh` (as root) to install the interop test dependencies";

/// Hard limit for one client process; the scripts' own limits are well below it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the reconnect scenario may take to subscribe and print READY.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Lang {
    Python,
    Node,
    C,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Node => "node",
            Lang::C => "c",
        }
    }
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
}

fn same_contents(a: &Path, b: &Path) -> bool {
    match (std::fs::read(a), std::fs::read(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Run a short probe command; Err with what it printed if it could not run or failed.
fn probe(cmd: &mut Command) -> Result<String, String> {
    match cmd.stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "{:?} failed ({}): {}{}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!("cannot run {cmd:?}: {e}")),
    }
}

fn python_client() -> Result<(PathBuf, Vec<PathBuf>), String> {
    let dir = interop_dir().join("python");
    let venv = dir.join(".venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        return Err(format!("no python venv at {}", venv.display()));
    }
    if !same_contents(
        &venv.join("interop-requirements.txt"),
        &dir.join("requirements.txt"),
    ) {
        return Err("the venv does not match tests/interop/python/requirements.txt".into());
    }
    probe(Command::new(&python).args(["-c", "import nats, nkeys"]))?;
    Ok((python, vec![dir.join("interop_client.py")]))
}

fn node_client() -> Result<(PathBuf, Vec<PathBuf>), String> {
    let dir = interop_dir().join("node");
    probe(Command::new("node").arg("--version"))?;
    if !dir
        .join("node_modules")
        .join("nats")
        .join("package.json")
        .exists()
    {
        return Err("nats.js is not installed in tests/interop/node/node_modules".into());
    }
    if !same_contents(
        &dir.join("node_modules").join(".interop-package-lock.json"),
        &dir.join("package-lock.json"),
    ) {
        return Err("tests/interop/node/node_modules does not match package-lock.json".into());
    }
    Ok((PathBuf::from("node"), vec![dir.join("interop_client.js")]))
}

/// Compile the C client against libnats (once per test process).
fn c_client() -> Result<(PathBuf, Vec<PathBuf>), String> {
    let flags = probe(Command::new("pkg-config").args(["--cflags", "--libs", "libnats"]))
        .map_err(|e| format!("libnats-dev / pkg-config not usable: {e}"))?;
    probe(Command::new("gcc").arg("--version"))?;
    let src = interop_dir().join("c").join("interop_client.c");
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-c");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("create {}: {e}", out_dir.display()))?;
    let exe = out_dir.join("interop_client");
    let tmp = out_dir.join(format!("interop_client.{}.tmp", std::process::id()));
    let mut cmd = Command::new("gcc");
    cmd.args(["-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-o"])
        .arg(&tmp)
        .arg(&src)
        .args(flags.split_whitespace())
        .arg("-lpthread");
    probe(&mut cmd).map_err(|e| format!("compiling the C client failed: {e}"))?;
    std::fs::rename(&tmp, &exe).map_err(|e| format!("rename {}: {e}", tmp.display()))?;
    Ok((exe, vec![]))
}

/// The program (and leading arguments) that runs `lang`'s client script; panics with a pointer
/// to setup.sh when a dependency is missing.
fn client_command(lang: Lang) -> Command {
    static PY: OnceLock<Result<(PathBuf, Vec<PathBuf>), String>> = OnceLock::new();
    static NODE: OnceLock<Result<(PathBuf, Vec<PathBuf>), String>> = OnceLock::new();
    static C: OnceLock<Result<(PathBuf, Vec<PathBuf>), String>> = OnceLock::new();
    let found = match lang {
        Lang::Python => PY.get_or_init(python_client),
        Lang::Node => NODE.get_or_init(node_client),
        Lang::C => C.get_or_init(c_client),
    };
    match found {
        Ok((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args);
            cmd
        }
        Err(why) => panic!(
            "interop dependency for the {} client is missing or stale: {why}\n  -> {SETUP_HINT}",
            lang.name()
        ),
    }
}

/// A running client process whose output is collected by reader threads; killed on drop.
struct ClientRun {
    what: String,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    lines: mpsc::Receiver<String>,
    readers: Vec<JoinHandle<()>>,
}

/// The environment variables through which the auth scenarios get their credentials; any not
/// given to `ClientRun::start` are removed, so nothing leaks in from the caller's environment.
const CLIENT_ENV: &[&str] = &[
    "INTEROP_USER",
    "INTEROP_PASS",
    "INTEROP_TOKEN",
    "INTEROP_NKEY_SEED",
    "INTEROP_ADMIN_USER",
    "INTEROP_ADMIN_PASS",
    "INTEROP_TLS_CA",
    "INTEROP_TLS_CERT",
    "INTEROP_TLS_KEY",
    "INTEROP_TLS_ROGUE_CERT",
    "INTEROP_TLS_ROGUE_KEY",
];

impl ClientRun {
    fn start(lang: Lang, scenario: &str, url: &str, env: &[(&str, &str)]) -> ClientRun {
        let mut cmd = client_command(lang);
        cmd.arg(scenario).arg(url);
        for name in CLIENT_ENV {
            cmd.env_remove(name);
        }
        for (name, value) in env {
            assert!(
                CLIENT_ENV.contains(name),
                "undeclared client variable {name}"
            );
            cmd.env(name, value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("{}/{scenario}", lang.name());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {what} ({cmd:?}): {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out_pipe = child.stdout.take().unwrap();
        let err_pipe = child.stderr.take().unwrap();
        let out_buf = Arc::clone(&stdout);
        let err_buf = Arc::clone(&stderr);
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(out_pipe).lines() {
                    let Ok(line) = line else { break };
                    out_buf.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            }),
            std::thread::spawn(move || {
                let mut s = String::new();
                let mut pipe = err_pipe;
                let _ = pipe.read_to_string(&mut s);
                err_buf.lock().unwrap().push_str(&s);
            }),
        ];
        ClientRun {
            what,
            child,
            stdout,
            stderr,
            lines,
            readers,
        }
    }

    /// Wait for the client to print exactly `want` on a line; false on timeout or exit.
    fn wait_for_line(&mut self, want: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.trim() == want => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Wait for the client to exit (killing it after `limit`); returns its status, or None if
    /// it had to be killed.
    fn finish(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }

    fn report(&self, status: Option<ExitStatus>, server_logs: &[String]) -> String {
        let mut s = match status {
            Some(st) => format!("{} failed ({st})\n", self.what),
            None => format!(
                "{} did not finish within {CLIENT_TIMEOUT:?}; killed\n",
                self.what
            ),
        };
        s += &format!("--- client stdout ---\n{}", self.stdout.lock().unwrap());
        s += &format!("--- client stderr ---\n{}", self.stderr.lock().unwrap());
        for (i, log) in server_logs.iter().enumerate() {
            s += &format!("--- server log {} ---\n{log}", i + 1);
        }
        s
    }

    fn assert_passed(mut self, server_logs: impl Fn() -> Vec<String>) {
        let status = self.finish(CLIENT_TIMEOUT);
        let passed = status.is_some_and(|s| s.success())
            && self
                .stdout
                .lock()
                .unwrap()
                .contains(&format!("PASS {}", self.what));
        if !passed {
            panic!("{}", self.report(status, &server_logs()));
        }
    }
}

impl Drop for ClientRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run one scenario of one client against a fresh server.
fn run_scenario(lang: Lang, scenario: &str) {
    match scenario {
        "reconnect" => run_reconnect(lang),
        "auth_user_password" => run_with_server(
            lang,
            scenario,
            &["--user", USER, "--pass", PASS],
            &[("INTEROP_USER", USER), ("INTEROP_PASS", PASS)],
        ),
        "auth_token" => run_with_server(
            lang,
            scenario,
            &["--auth", TOKEN],
            &[("INTEROP_TOKEN", TOKEN)],
        ),
        "auth_nkey" => run_nkey(lang),
        "auth_permissions" => run_permissions(lang),
        "tls" => run_tls(lang, "tls", TlsServer::Flags),
        "tls_client_cert" => run_tls(lang, "tls_client_cert", TlsServer::VerifyFlags),
        "tls_client_cert_config" => run_tls(lang, "tls_client_cert", TlsServer::VerifyConfig),
        _ => run_with_server(lang, scenario, &[], &[]),
    }
}

/// Start a server with `server_args`, run the scenario with `env`, and check that it passed.
fn run_with_server(lang: Lang, scenario: &str, server_args: &[&str], env: &[(&str, &str)]) {
    // Check the dependency before starting a server, so a missing one fails fast and clearly.
    drop(client_command(lang));
    let server = ServerProcess::start(server_args);
    let client = ClientRun::start(lang, scenario, &server.url(), env);
    client.assert_passed(|| vec![server.log_text()]);
}

// Credentials of the auth scenarios. They need no escaping in a URL's userinfo part.
const USER: &str = "interop-user";
const PASS: &str = "s3cret-Pass.42";
const TOKEN: &str = "interop-t0ken.XYZ";
const ADMIN_USER: &str = "interop-admin";
const ADMIN_PASS: &str = "admin-Pass.7";

/// A fresh user nkey pair `(seed, public key)`, made by the client's own nkeys library
/// (`CLIENT gen_nkey -` prints `SEED S...` and `PUBLIC U...`).
fn generate_nkey(lang: Lang) -> (String, String) {
    let mut run = ClientRun::start(lang, "gen_nkey", "-", &[]);
    let status = run.finish(CLIENT_TIMEOUT);
    let out = run.stdout.lock().unwrap().clone();
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::to_string)
    };
    match (status, field("SEED"), field("PUBLIC")) {
        (Some(st), Some(seed), Some(public))
            if st.success() && seed.starts_with("SU") && public.starts_with('U') =>
        {
            (seed, public)
        }
        (status, ..) => panic!(
            "generating an nkey pair failed\n{}",
            run.report(status, &[])
        ),
    }
}

/// Write `text` as the server configuration file `name` in `dir`; returns its path.
fn write_config(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path.to_str().expect("temp path is UTF-8").to_string()
}

/// Only the nkey made for this run may connect; the client also tries a seed of its own.
fn run_nkey(lang: Lang) {
    let (seed, public) = generate_nkey(lang);
    let dir = TempDir::new("interop-nkey");
    let conf = write_config(
        &dir,
        "nkey.conf",
        &format!("authorization {{\n  users = [\n    {{ nkey: {public} }}\n  ]\n}}\n"),
    );
    run_with_server(
        lang,
        "auth_nkey",
        &["-c", &conf],
        &[("INTEROP_NKEY_SEED", &seed)],
    );
}

/// The permissions the auth_permissions scenarios expect (see their descriptions): a limited
/// user with a publish list, subscribe allow/deny and allow_responses, and an unrestricted admin
/// whose password is stored as a bcrypt hash.
fn permissions_conf(admin_hash: &str) -> String {
    format!(
        r#"authorization {{
  users = [
    {{
      user: "{USER}"
      password: "{PASS}"
      permissions: {{
        publish: ["perm.pub.>", "perm.both"]
        subscribe: {{
          allow: ["perm.sub.>", "perm.both", "perm.svc"]
          deny: ["perm.sub.secret"]
        }}
        allow_responses: true
      }}
    }}
    {{ user: "{ADMIN_USER}", password: "{admin_hash}" }}
  ]
}}
"#
    )
}

fn run_permissions(lang: Lang) {
    let hash = bcrypt::hash_with_result(ADMIN_PASS, 4)
        .expect("bcrypt")
        .format_for_version(bcrypt::Version::TwoA);
    let dir = TempDir::new("interop-perms");
    let conf = write_config(&dir, "permissions.conf", &permissions_conf(&hash));
    run_with_server(
        lang,
        "auth_permissions",
        &["-c", &conf],
        &[
            ("INTEROP_USER", USER),
            ("INTEROP_PASS", PASS),
            ("INTEROP_ADMIN_USER", ADMIN_USER),
            ("INTEROP_ADMIN_PASS", ADMIN_PASS),
        ],
    );
}

/// Path of one of the test-only certificate files in `configs/certs`.
fn cert_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join("certs")
        .join(name)
        .to_str()
        .expect("certificate path is UTF-8")
        .to_string()
}

/// How the server of a TLS scenario is configured.
#[derive(Clone, Copy)]
enum TlsServer {
    /// `--tls --tlscert --tlskey`: TLS required, no client certificates.
    Flags,
    /// `--tlsverify --tlscert --tlskey --tlscacert`: client certificates signed by the test CA
    /// required.
    VerifyFlags,
    /// The same as `VerifyFlags`, from a `tls {}` block in a configuration file.
    VerifyConfig,
}

/// Start a TLS server as `server` says and run `scenario`, handing the client the paths of the
/// test CA, a client certificate it signed, and a "rogue" client certificate signed by another CA.
fn run_tls(lang: Lang, scenario: &str, server: TlsServer) {
    let (ca, cert, key) = (
        cert_path("ca.pem"),
        cert_path("server-cert.pem"),
        cert_path("server-key.pem"),
    );
    let dir = TempDir::new("interop-tls");
    let args: Vec<String> = match server {
        TlsServer::Flags => vec![
            "--tls".into(),
            "--tlscert".into(),
            cert,
            "--tlskey".into(),
            key,
        ],
        TlsServer::VerifyFlags => vec![
            "--tlsverify".into(),
            "--tlscert".into(),
            cert,
            "--tlskey".into(),
            key,
            "--tlscacert".into(),
            ca.clone(),
        ],
        TlsServer::VerifyConfig => {
            let text = format!(
                "tls {{\n  cert_file: \"{cert}\"\n  key_file: \"{key}\"\n  ca_file: \"{ca}\"\n  \
                 verify: true\n  timeout: 2\n}}\n"
            );
            vec!["-c".into(), write_config(&dir, "tls.conf", &text)]
        }
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [
        ("INTEROP_TLS_CA", ca.clone()),
        ("INTEROP_TLS_CERT", cert_path("client-cert.pem")),
        ("INTEROP_TLS_KEY", cert_path("client-key.pem")),
        ("INTEROP_TLS_ROGUE_CERT", cert_path("rogue-cert.pem")),
        ("INTEROP_TLS_ROGUE_KEY", cert_path("rogue-key.pem")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_with_server(lang, scenario, &args, &env);
}

/// The client subscribes and prints READY; the server is killed and started again on the same
/// port; the client must reconnect by itself and its subscriptions must work again.
fn run_reconnect(lang: Lang) {
    drop(client_command(lang));
    let mut first = ServerProcess::start(&[]);
    let port = first.port;
    let mut client = ClientRun::start(lang, "reconnect", &first.url(), &[]);
    if !client.wait_for_line("READY", READY_TIMEOUT) {
        let status = client.finish(Duration::from_secs(1));
        panic!(
            "client never became READY\n{}",
            client.report(status, &[first.log_text()])
        );
    }
    let first_log = first.log_text();
    first.kill();
    drop(first);
    let second = ServerProcess::start_on_port(port, &[]);
    client.assert_passed(|| vec![first_log.clone(), second.log_text()]);
}

macro_rules! interop_tests {
    ($lang:expr => $($test:ident: $scenario:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                run_scenario($lang, $scenario);
            }
        )*
    };
}

interop_tests!(Lang::Python =>
    python_connect: "connect",
    python_pubsub: "pubsub",
    python_pubsub_wildcards: "wildcards",
    python_queue_groups: "queue_groups",
    python_request_reply: "request_reply",
    python_headers: "headers",
    python_no_responders: "no_responders",
    python_flush: "flush",
    python_drain: "drain",
    python_auto_unsubscribe: "auto_unsubscribe",
    python_large_payloads: "large_payloads",
    python_reconnect_after_restart: "reconnect",
    python_auth_user_password: "auth_user_password",
    python_auth_token: "auth_token",
    python_auth_nkey: "auth_nkey",
    python_auth_permissions: "auth_permissions",
    python_tls: "tls",
    python_tls_client_cert: "tls_client_cert",
    python_tls_client_cert_config: "tls_client_cert_config",
);

interop_tests!(Lang::Node =>
    node_connect: "connect",
    node_pubsub: "pubsub",
    node_pubsub_wildcards: "wildcards",
    node_queue_groups: "queue_groups",
    node_request_reply: "request_reply",
    node_headers: "headers",
    node_no_responders: "no_responders",
    node_flush: "flush",
    node_drain: "drain",
    node_auto_unsubscribe: "auto_unsubscribe",
    node_large_payloads: "large_payloads",
    node_reconnect_after_restart: "reconnect",
    node_auth_user_password: "auth_user_password",
    node_auth_token: "auth_token",
    node_auth_nkey: "auth_nkey",
    node_auth_permissions: "auth_permissions",
    node_tls: "tls",
    node_tls_client_cert: "tls_client_cert",
    node_tls_client_cert_config: "tls_client_cert_config",
);

interop_tests!(Lang::C =>
    c_connect: "connect",
    c_pubsub: "pubsub",
    c_pubsub_wildcards: "wildcards",
    c_queue_groups: "queue_groups",
    c_request_reply: "request_reply",
    c_headers: "headers",
    c_no_responders: "no_responders",
    c_flush: "flush",
    c_drain: "drain",
    c_auto_unsubscribe: "auto_unsubscribe",
    c_large_payloads: "large_payloads",
    c_reconnect_after_restart: "reconnect",
    c_auth_user_password: "auth_user_password",
    c_auth_token: "auth_token",
    c_auth_permissions: "auth_permissions",
    c_tls: "tls",
    c_tls_client_cert: "tls_client_cert",
    c_tls_client_cert_config: "tls_client_cert_config",
);
