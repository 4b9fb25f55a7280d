#!/usr/bin/env python3
"""`make bench`: rnatsd against Debian's nats-server 2.9, scenario by scenario.

Builds release (`cargo build --release --bins`), installs Debian's nats-server when it is
missing (`apt-get update` once, then `apt-get install -y nats-server`), starts on loopback

    A  rnatsd (default workers: one reactor per core)
    W  rnatsd --workers 1
    G  nats-server (Go, the reference)

and runs every scenario against each, alternating A W G A W G ... (PAIRS rounds). Figures are
medians over the rounds; ratios (rnatsd / nats-server) are medians of the per-round ratios.
The final markdown table shows them against the goals. Nothing is asserted: the exit status is
0 even when goals are missed, 1 when some table cell has no successful run at all (a server or
the load generator failed a scenario twice in every round), 2 when setup failed (build, install,
a server that does not start).

Scenarios (SCENARIOS selects a comma list of these keys; default all):
  pub16 pub128 pub1k  publish only (`--pub 1 --sub 0`), 16 B / 128 B / 1 KiB, in bytes/s, each
                      also against the roofline: `rnats-bench --roofline` (no server, a raw
                      loopback read-and-discard of the same bytes), as a fraction of it
  1to1 1to4 4to4      pub/sub 128 B, msgs/s (published + delivered); 1to1 and 1to4 also give
                      the server's CPU seconds (utime+stime, /proc/PID/stat) per million
                      messages delivered
  queue               1 publisher, queue group of 4 subscribers, 128 B
  reqrep              request/reply latency, 128 B: p50 p90 p99 p99.9
  c1to1 c1to4         across a 2-server cluster (issue 5): the publisher on one server, the
                      subscribers on the other (`--sub-server`, each waits until its interest
                      has crossed the route), 128 B, msgs/s; rnatsd+rnatsd against
                      nats-server+nats-server (no -w1 column), and both servers' CPU seconds
                      per million delivered
  idle                peak RSS (VmHWM) of a freshly started server
  conns               peak RSS with CONNS idle client connections (CONNECT + PING/PONG each):
                      (HWM with them - HWM before them) / CONNS per connection
  subs                peak RSS with 100,000 subscriptions (QUICK: 10,000; 100 connections x
                      1,000 SUBs over 1,000 distinct subjects: literals, `*` and `>` wildcards),
                      every SUB flushed with PING/PONG; also the growth per subscription
Each RSS figure comes from a fresh server process. When the static musl binary exists
(`make static`; `make bench` builds it), the memory scenarios measure it as well, in rows of
their own: a dynamically linked rnatsd maps the shared libc, most of its idle resident set.

Knobs (environment, or make variables: `make bench PAIRS=5`):
  PAIRS     rounds per scenario (3; QUICK: 1)
  MSGS      base message count (2,000,000; QUICK: 50,000): 1to1 and queue publish MSGS,
            pub16 4x, pub128 2x, pub1k 1x, 1to4 and 4to4 MSGS/2; reqrep does 20,000 requests
            (QUICK: 1,000)
  QUICK=1   tiny counts, one round: a smoke run
  SCENARIOS comma list of scenario keys (above)
  README=1  also write the table into README.md between <!-- bench:begin --> and <!-- bench:end -->
  CONNS     idle connections for `conns` (5000; QUICK: 200; fewer if RLIMIT_NOFILE is low)
  TIMEOUT   seconds before one load-generator run is abandoned (60)
  BUILD=0   skip the build; RNATSD, NATS_SERVER, BENCH: the binaries (target/release/rnatsd,
            /usr/sbin/nats-server, target/release/rnats-bench; target/ is CARGO_TARGET_DIR
            when that is set); CARGO (cargo)

Raw per-run data goes to runs.json and runs.csv in a fresh directory under the system temp
dir (with the servers' logs); its path is printed. Loopback only; only the servers this script
started are stopped, by PID (SIGTERM, then SIGKILL after 5 s).
"""

import atexit
import csv
import datetime
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def env_int(name, default):
    v = os.environ.get(name, "").strip().replace("_", "").replace(",", "")
    if not v:
        return default
    try:
        return int(float(v))
    except ValueError:
        sys.exit(f"bench: bad {name}={os.environ[name]!r}")


QUICK = os.environ.get("QUICK", "0") not in ("", "0")
PAIRS = max(1, env_int("PAIRS", 1 if QUICK else 3))
MSGS = max(1, env_int("MSGS", 50_000 if QUICK else 2_000_000))
REQS = 1_000 if QUICK else 20_000
CONNS = max(1, env_int("CONNS", 200 if QUICK else 5000))
SUB_CONNS = 10 if QUICK else 100
SUBJECTS = 1000
TIMEOUT = max(5, env_int("TIMEOUT", 60))
BUILD = os.environ.get("BUILD", "1") not in ("", "0")
WRITE_README = os.environ.get("README", "0") not in ("", "0")
CARGO = os.environ.get("CARGO") or "cargo"
DEFAULT_NATS = "/usr/sbin/nats-server"
TARGET = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR") or "target", "release")
RNATSD = os.environ.get("RNATSD") or os.path.join(TARGET, "rnatsd")
NATS_SERVER = os.environ.get("NATS_SERVER") or DEFAULT_NATS
BENCH = os.environ.get("BENCH") or os.path.join(TARGET, "rnats-bench")
# The static musl binary (`make static`), measured too in the memory scenarios when present:
# it maps no shared libc, which is most of a dynamically linked rnatsd's idle resident set.
STATIC = os.environ.get("STATIC") or os.path.join(
    ROOT, os.environ.get("CARGO_TARGET_DIR") or "target", "x86_64-unknown-linux-musl", "release",
    "rnatsd")
CLK_TCK = os.sysconf("SC_CLK_TCK")

SERVERS = ("A", "W", "G")
NAMES = {"A": "rnatsd", "W": "rnatsd -w1", "G": "nats-server", "R": "roofline",
         "S": "rnatsd static"}

# Throughput scenarios: key, label, rnats-bench flags, share of MSGS, metric, goal for A/G.
THROUGHPUT = [
    ("pub16", "publish 16 B", dict(pub=1, sub=0, size=16), 4, "bytes", 1.5),
    ("pub128", "publish 128 B", dict(pub=1, sub=0, size=128), 2, "bytes", 1.5),
    ("pub1k", "publish 1 KiB", dict(pub=1, sub=0, size=1024), 1, "bytes", None),
    ("1to1", "1→1 128 B", dict(pub=1, sub=1, size=128), 1, "msgs", 1.3),
    ("1to4", "1→4 128 B", dict(pub=1, sub=4, size=128), 0.5, "msgs", 1.3),
    ("4to4", "4→4 128 B", dict(pub=4, sub=4, size=128), 0.5, "msgs", None),
    ("queue", "queue 1→4 128 B", dict(pub=1, sub=4, size=128, queue=True), 1, "msgs", None),
]
CPU_SCENARIOS = ("1to1", "1to4")
# Across a 2-server cluster: key, label, flags, share of MSGS. Publisher on one server,
# subscribers on the other; only rnatsd pairs (A) and nats-server pairs (G).
CLUSTER = [
    ("c1to1", "cluster 1→1 128 B", dict(pub=1, sub=1, size=128), 1),
    ("c1to4", "cluster fan-out 1→4 128 B", dict(pub=1, sub=4, size=128), 0.5),
]
CLUSTER_KINDS = ("A", "G")
PCTS = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"))
ALL_KEYS = ([t[0] for t in THROUGHPUT] + ["reqrep"] + [c[0] for c in CLUSTER]
            + ["idle", "conns", "subs"])

W_GOAL = 1.0  # rnatsd --workers 1 against nats-server, every throughput scenario
CPU_GOAL = 0.6
P50_GOAL = 0.8
ROOF_GOAL = 0.7
IDLE_GOAL_KB = 2.5 * 1024
CONN_GOAL = 0.3


def say(*a):
    print(*a, flush=True)


# ---------------------------------------------------------------- processes and /proc


LIVE = {}  # pid -> Popen, every server this script started and has not yet stopped


def stop_proc(p):
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
        except ProcessLookupError:
            pass
    LIVE.pop(p.pid, None)


def stop_all():
    for p in list(LIVE.values()):
        try:
            stop_proc(p)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_cpu(server):
    """The server's CPU seconds so far (a cluster pair's: both), or None when it has gone."""
    if isinstance(server, ClusterPair):
        return server.cpu()
    try:
        return cpu_seconds(server.pid) if server.alive() else None
    except (OSError, ValueError, IndexError):
        return None


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One server process on a loopback port."""

    def __init__(self, kind, logdir, tag=""):
        self.kind = kind
        self.logdir = logdir
        self.tag = tag  # log file name part, for servers of a cluster
        self.extra = lambda: []  # more arguments, asked for at every start
        self.proc = None
        self.port = None
        self.starts = 0

    @property
    def name(self):
        return NAMES[self.kind]

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Start and wait (up to 10 s) for the INFO line; raise on failure."""
        for attempt in range(3):  # a port taken between choosing and binding: try another
            self.port = free_port()
            if self.kind == "G":
                cmd = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port)]
            else:
                binary = STATIC if self.kind == "S" else RNATSD
                cmd = [binary, "-a", "127.0.0.1", "-p", str(self.port)]
                if self.kind == "W":
                    cmd += ["--workers", "1"]
            cmd += self.extra()
            self.starts += 1
            log = open(os.path.join(self.logdir, f"{self.kind}{self.tag}-{self.starts}.log"),
                       "wb")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
            log.close()
            LIVE[self.proc.pid] = self.proc
            if self.wait_ready():
                return
            stop_proc(self.proc)
        raise RuntimeError(f"{self.name} did not start: see {self.logdir}/{self.kind}-*.log")

    def wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    buf = b""
                    while b"\n" not in buf and len(buf) < 65536:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        buf += chunk
                    if buf.startswith(b"INFO "):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc)


# ---------------------------------------------------------------- load generator


def bench_cmd(subject, flags, msgs, server=None, roofline=False, sub_server=None):
    cmd = [BENCH, subject, "--pub", str(flags.get("pub", 1)), "--sub", str(flags.get("sub", 0)),
           "--msgs", str(msgs), "--size", str(flags.get("size", 128))]
    if sub_server is not None:
        cmd += ["--sub-server", sub_server.url]
    for f in ("queue", "request", "reply"):
        if flags.get(f):
            cmd.append("--" + f)
    if roofline:
        cmd.append("--roofline")
    else:
        cmd += ["-s", server.url]
    return cmd + ["--no-progress", "--json"]


def run_once(cmd):
    """One rnats-bench run: (parsed JSON, None) or (None, why it failed)."""
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"no result in {TIMEOUT} s"
    except OSError as e:
        return None, str(e)
    if r.returncode != 0:
        tail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or [""]
        return None, f"exit {r.returncode}: {tail[0][:200]}"
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line), None
            except ValueError as e:
                return None, f"bad JSON: {e}"
    return None, "no JSON line in its output"


# ---------------------------------------------------------------- formatting


def f_msgs(v):
    return f"{v / 1e6:.2f} M msgs/s"


def f_bytes(v):
    return f"{v / 1e9:.2f} GB/s" if v >= 1e9 else f"{v / 1e6:.0f} MB/s"


def f_us(ns):
    us = ns / 1000
    return f"{us:.1f} µs" if us < 100 else f"{us:,.0f} µs"


def f_cpu(v):
    return f"{v:.3f} CPU s/M"


def f_mb(kb):
    return f"{kb / 1024:.2f} MB"


def f_kbconn(kb):
    return f"{kb:.1f} KB/conn"


def f_bsub(b):
    return f"{b:.0f} B/sub"


def f_pct(v):
    return f"{v * 100:.0f}%"


def f_ratio(v):
    return f"{v:.2f}×"


def f_count(n):
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1e6:g}M"
    if n >= 1000 and n % 100 == 0:
        return f"{n / 1e3:g}k"
    return str(n)


# ---------------------------------------------------------------- results


class Results:
    def __init__(self):
        self.values = {}  # metric -> kind -> [value or None per round]
        self.runs = []  # raw records
        self.notes = []  # odd things, printed after the table

    def put(self, metric, kind, rnd, value):
        lst = self.values.setdefault(metric, {}).setdefault(kind, [None] * PAIRS)
        lst[rnd] = value

    def series(self, metric, kind):
        return self.values.get(metric, {}).get(kind, [None] * PAIRS)

    def median(self, metric, kind):
        vs = [v for v in self.series(metric, kind) if v is not None]
        return statistics.median(vs) if vs else None

    def ratio(self, metric, num, den="G"):
        a, b = self.series(metric, num), self.series(metric, den)
        rs = [x / y for x, y in zip(a, b) if x is not None and y]
        return statistics.median(rs) if rs else None

    def fraction(self, metric, kind):
        """Median over rounds of kind's figure / the roofline's."""
        return self.ratio(metric, kind, "R")

    def note(self, text):
        self.notes.append(text)
        say("  ! " + text)


def met(value, op, goal):
    if value is None:
        return "?"
    ok = value >= goal if op == ">=" else value <= goal
    return "yes" if ok else "no"


class Table:
    def __init__(self, res):
        self.res = res
        self.rows = []
        self.missing = []  # (row label, server) with no successful run

    def add(self, label, metric, fmt, goal=None, w_goal=None, ratios=True, kinds=SERVERS):
        """goal: (op, threshold, text, 'ratio'|'abs'|'frac') for A; w_goal: (op, x) for W/G."""
        res = self.res
        cells = []
        for k in SERVERS:
            if k not in kinds:
                cells.append("—")
                continue
            v = res.fraction(metric, k) if goal and goal[3] == "frac" else res.median(metric, k)
            if v is None:
                self.missing.append((label, NAMES[k]))
            cells.append("failed" if v is None else fmt(v))
        ra = res.ratio(metric, "A") if ratios else None
        rw = res.ratio(metric, "W") if ratios and "W" in kinds else None
        cells.append(f_ratio(ra) if ra is not None else ("—" if not ratios else "?"))
        cells.append(f_ratio(rw) if rw is not None else
                     ("—" if not ratios or "W" not in kinds else "?"))
        goals, mets = [], []
        if goal:
            op, x, text, how = goal
            goals.append(text)
            v = {"ratio": ra, "abs": res.median(metric, "A"),
                 "frac": res.fraction(metric, "A")}[how]
            mets.append(met(v, op, x))
        if w_goal:
            op, x = w_goal
            goals.append(f"w1 {'≥' if op == '>=' else '≤'} {x:.1f}×")
            mets.append("w1 " + met(rw, op, x))
        cells.append("; ".join(goals) if goals else "report only")
        cells.append("; ".join(mets) if mets else "—")
        self.rows.append([label] + cells)

    def markdown(self):
        head = ["scenario", "rnatsd", "rnatsd -w1", "nats-server", "ratio", "ratio -w1", "goal",
                "met"]
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            out.append("| " + " | ".join(r) + " |")
        return "\n".join(out)


# ---------------------------------------------------------------- scenarios


def measured_run(res, server, make_cmd, tag, rnd, kind, cpu):
    """Run rnats-bench (retrying once); returns (JSON, cpu seconds of the server or None).
    make_cmd() gives the command line (after any restart: the port may have changed)."""
    for attempt in (1, 2):
        if server is not None and not server.alive():
            res.note(f"[{tag}] {server.name} had exited (see its log in {server.logdir}); "
                     "restarting it")
            try:
                server.start()
            except RuntimeError as e:
                res.note(f"[{tag}] {e}")
                return None, None
        cmd = make_cmd()
        c0 = proc_cpu(server) if cpu else None
        t0 = time.monotonic()
        out, err = run_once(cmd)
        wall = time.monotonic() - t0
        c1 = proc_cpu(server) if cpu else None
        rec = {"scenario": tag, "round": rnd + 1, "server": NAMES[kind], "attempt": attempt,
               "ok": out is not None, "wall_s": round(wall, 3), "cmd": " ".join(cmd)}
        if out is not None:
            rec.update({k: v for k, v in out.items() if not isinstance(v, dict)})
            if isinstance(out.get("latency_ns"), dict):
                rec.update({"lat_" + k: v for k, v in out["latency_ns"].items()})
        else:
            rec["error"] = err
        if c0 is not None and c1 is not None:
            rec["server_cpu_s"] = round(c1 - c0, 3)
        res.runs.append(rec)
        if out is not None:
            return out, (c1 - c0 if c0 is not None and c1 is not None else None)
        what = "retrying" if attempt == 1 else "giving up on this cell"
        res.note(f"[{tag}] round {rnd + 1} {NAMES[kind]} failed ({err}); {what}")
    return None, None


def throughput(res, servers, key, label, flags, share, metric, msgs_base):
    msgs = max(1, int(msgs_base * share))
    tag = f"{label}"
    roof = flags.get("sub", 0) == 0
    kinds = SERVERS + (("R",) if roof else ())
    for rnd in range(PAIRS):
        for kind in kinds:
            if kind == "R":
                out, _ = measured_run(
                    res, None, lambda: bench_cmd(f"bench.{key}", flags, msgs, roofline=True),
                    tag, rnd, kind, False)
            else:
                srv = servers[kind]
                out, cpu = measured_run(
                    res, srv, lambda: bench_cmd(f"bench.{key}", flags, msgs, server=srv),
                    tag, rnd, kind, key in CPU_SCENARIOS)
            if out is None:
                continue
            if metric == "bytes":
                v = float(out["bytes_per_sec"])
                line = f"{f_bytes(v)} ({f_msgs(float(out['msgs_per_sec']))})"
            else:
                v = float(out["msgs_per_sec"])
                line = f_msgs(v)
            res.put(key, kind, rnd, v)
            if key in CPU_SCENARIOS and kind != "R" and cpu is not None:
                delivered = float(out.get("delivered") or 0)
                if delivered > 0:
                    per_m = cpu / (delivered / 1e6)
                    res.put("cpu:" + key, kind, rnd, per_m)
                    line += f", server {f_cpu(per_m)}"
            say(f"[{tag}] pair {rnd + 1}/{PAIRS} {NAMES[kind]}: {line}")
    return msgs


def reqrep(res, servers):
    tag = "req/rep 128 B"
    flags = dict(pub=1, sub=1, size=128, request=True, reply=True)
    for rnd in range(PAIRS):
        for kind in SERVERS:
            srv = servers[kind]
            out, _ = measured_run(
                res, srv, lambda: bench_cmd("bench.reqrep", flags, REQS, server=srv),
                tag, rnd, kind, False)
            if out is None:
                continue
            lat = out.get("latency_ns")
            if not isinstance(lat, dict):
                res.note(f"[{tag}] round {rnd + 1} {NAMES[kind]}: no latency_ns in the result")
                continue
            for p in ("p50", "p90", "p99", "p999"):
                if lat.get(p) is not None:
                    res.put("lat:" + p, kind, rnd, float(lat[p]))
            say(f"[{tag}] pair {rnd + 1}/{PAIRS} {NAMES[kind]}: "
                + " ".join(f"{n} {f_us(float(lat[p]))}" for p, n in PCTS if lat.get(p) is not None))


class ClusterPair:
    """Two servers of one kind meshed by a route: `seed` listens for routes, `peer` dials it.
    Both are restarted together when either has died (the route ports change with them)."""

    def __init__(self, kind, logdir):
        self.kind = kind
        self.logdir = logdir
        self.seed = Server(kind, logdir, ".seed")
        self.peer = Server(kind, logdir, ".peer")
        self.route_ports = (None, None)
        self.seed.extra = lambda: ["--cluster_name", "bench", "--cluster",
                                   f"nats://127.0.0.1:{self.route_ports[0]}"]
        self.peer.extra = lambda: ["--cluster_name", "bench", "--cluster",
                                   f"nats://127.0.0.1:{self.route_ports[1]}",
                                   "--routes", f"nats://127.0.0.1:{self.route_ports[0]}"]

    @property
    def name(self):
        return NAMES[self.kind] + " pair"

    def alive(self):
        return self.seed.alive() and self.peer.alive()

    def start(self):
        self.stop()
        self.route_ports = (free_port(), free_port())
        self.seed.start()
        self.peer.start()

    def stop(self):
        self.seed.stop()
        self.peer.stop()

    def cpu(self):
        a, b = proc_cpu(self.seed), proc_cpu(self.peer)
        return None if a is None or b is None else a + b


def cluster_throughput(res, pairs, key, label, flags, share, msgs_base):
    msgs = max(1, int(msgs_base * share))
    for rnd in range(PAIRS):
        for kind in CLUSTER_KINDS:
            pair = pairs[kind]
            out, cpu = measured_run(
                res, pair,
                lambda: bench_cmd(f"bench.{key}", flags, msgs, server=pair.seed,
                                  sub_server=pair.peer),
                label, rnd, kind, True)
            if out is None:
                continue
            v = float(out["msgs_per_sec"])
            res.put(key, kind, rnd, v)
            line = f_msgs(v)
            delivered = float(out.get("delivered") or 0)
            if cpu is not None and delivered > 0:
                per_m = cpu / (delivered / 1e6)
                res.put("cpu:" + key, kind, rnd, per_m)
                line += f", both servers {f_cpu(per_m)}"
            say(f"[{label}] pair {rnd + 1}/{PAIRS} {NAMES[kind]}: {line}")
    return msgs


def open_client(port, payload=b""):
    """A quiet client: CONNECT, optional payload, PING; returns once the PONG is in."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n' + payload + b"PING\r\n")
    return s


def await_pong(s):
    buf = b""
    deadline = time.monotonic() + 30
    while b"PONG\r\n" not in buf:
        if time.monotonic() > deadline:
            raise RuntimeError("no PONG in 30 s")
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before PONG")
        buf = buf[-64:] + chunk if b"-ERR" not in chunk else chunk
        if b"-ERR" in buf:
            raise RuntimeError(buf[buf.index(b"-ERR"):].split(b"\r\n")[0].decode(errors="replace"))


def subject_set(n):
    """n distinct subjects: literals, single-token and tail wildcards."""
    out = []
    for i in range(n):
        j, k = divmod(i, 5)
        out.append((f"bench.s{j}.data", f"bench.s{j}.*", f"bench.*.d{j}", f"bench.s{j}.>",
                    f"bench.t{j}.x{j % 10}.evt")[k])
    return out


def rss(res, logdir, which, conns):
    tags = {"idle": "RSS idle", "conns": f"RSS {conns} conns",
            "subs": f"RSS {SUB_CONNS * SUBJECTS // 1000}k subs"}
    tag = tags[which]
    subs_payload = b"".join(f"SUB {s} {i + 1}\r\n".encode()
                            for i, s in enumerate(subject_set(SUBJECTS)))
    static = os.access(STATIC, os.X_OK)
    for rnd in range(PAIRS):
        for kind in SERVERS + (("S",) if static else ()):
            srv = Server(kind, logdir)
            socks = []
            # The static binary's figures go in rows of their own ("...:static"), beside the
            # same round's nats-server figure for the ratio.
            put_kind, suffix = ("A", ":static") if kind == "S" else (kind, "")

            def put(metric, value):
                res.put(metric + suffix, put_kind, rnd, value)
                if kind == "G" and static:
                    res.put(metric + ":static", "G", rnd, value)
            rec = {"scenario": tag, "round": rnd + 1, "server": NAMES[kind], "attempt": 1}
            try:
                srv.start()
                time.sleep(0.5)
                base = vm_hwm_kb(srv.pid)
                rec["hwm_idle_kb"] = base
                if which == "idle":
                    put("rss:idle", base)
                    line = f_mb(base)
                else:
                    n = conns if which == "conns" else SUB_CONNS
                    payload = b"" if which == "conns" else subs_payload
                    for _ in range(n):
                        s = open_client(srv.port, payload)
                        socks.append(s)
                        if which == "conns":
                            await_pong(s)  # one at a time: never more than one in the backlog
                    if which == "subs":
                        for s in socks:
                            await_pong(s)
                    time.sleep(0.2)
                    hwm = vm_hwm_kb(srv.pid)
                    rec["hwm_kb"] = hwm
                    if which == "conns":
                        per = (hwm - base) / n
                        put("rss:conn", per)
                        line = f"{f_kbconn(per)} (peak {f_mb(base)} → {f_mb(hwm)})"
                    else:
                        per = (hwm - base) * 1024 / (n * SUBJECTS)
                        put("rss:subs", hwm)
                        put("rss:persub", per)
                        line = f"{f_mb(hwm)} ({f_bsub(per)} over the idle {f_mb(base)})"
                rec["ok"] = True
                say(f"[{tag}] pair {rnd + 1}/{PAIRS} {NAMES[kind]}: {line}")
            except (OSError, RuntimeError) as e:
                rec["ok"], rec["error"] = False, str(e)
                res.note(f"[{tag}] round {rnd + 1} {NAMES[kind]} failed: {e}")
            finally:
                for s in socks:
                    s.close()
                srv.stop()
                res.runs.append(rec)


# ---------------------------------------------------------------- setup


def build():
    say(f"== building: {CARGO} build --release --bins")
    r = subprocess.run([CARGO, "build", "--release", "--bins"], cwd=ROOT)
    if r.returncode != 0:
        say("bench: build failed")
        sys.exit(2)


def ensure_nats_server():
    if os.access(NATS_SERVER, os.X_OK):
        return
    if NATS_SERVER != DEFAULT_NATS:
        say(f"bench: NATS_SERVER={NATS_SERVER} is not an executable")
        sys.exit(2)
    say("== installing Debian's nats-server (apt-get update; apt-get install -y nats-server)")
    pre = [] if os.geteuid() == 0 else ["sudo", "-n"]
    try:
        for cmd in (pre + ["apt-get", "update"], pre + ["apt-get", "install", "-y", "nats-server"]):
            subprocess.run(cmd, timeout=900, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    except (OSError, subprocess.TimeoutExpired) as e:
        say(f"bench: apt-get: {e}")
    if not os.access(NATS_SERVER, os.X_OK):
        say(f"bench: {NATS_SERVER} is still missing after apt-get install nats-server")
        sys.exit(2)


def raise_nofile():
    """Soft RLIMIT_NOFILE to the hard limit (children inherit it); the connection count used."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target < 12_000:
        n = min(CONNS, max(64, (target - 512) // 2))
        say(f"note: RLIMIT_NOFILE hard limit is {target} (< 12,000): using {n} idle connections "
            f"instead of {CONNS}")
        return n
    return CONNS


def version(cmd):
    try:
        r = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=10)
        return (r.stdout.strip() or r.stderr.strip()).splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def machine():
    uname = " ".join((os.uname().sysname, os.uname().release, os.uname().machine))
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return uname, cpu, os.cpu_count() or 0


def write_readme(text):
    path = os.path.join(ROOT, "README.md")
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < i:
        say(f"README=1: no {begin} ... {end} markers in README.md; not written")
        return
    doc = doc[:i + len(begin)] + "\n" + text + "\n" + doc[j:]
    tmp = path + ".bench.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(doc)
    os.replace(tmp, path)
    say("README.md: table written between the bench markers")


# ---------------------------------------------------------------- main


def main():
    started = time.monotonic()
    wanted = [k.strip() for k in os.environ.get("SCENARIOS", "").split(",") if k.strip()]
    unknown = [k for k in wanted if k not in ALL_KEYS]
    if unknown:
        say(f"bench: unknown SCENARIOS {','.join(unknown)}; known: {','.join(ALL_KEYS)}")
        return 2
    keys = [k for k in ALL_KEYS if not wanted or k in wanted]

    if BUILD:
        build()
    ensure_nats_server()
    for path in (RNATSD, BENCH):
        if not os.access(path, os.X_OK):
            say(f"bench: {path} is not an executable (build it, or set RNATSD / BENCH)")
            return 2
    conns = raise_nofile()
    outdir = tempfile.mkdtemp(prefix="rnatsd-bench-")
    res = Results()
    uname, cpu, cores = machine()
    v_r, v_g = version([RNATSD]), version([NATS_SERVER])
    say(f"== {uname}, {cpu}, {cores} cores; {v_r}; {v_g}")
    say(f"== {PAIRS} round(s) per scenario, servers alternating "
        f"{' '.join(NAMES[k] for k in SERVERS)}; raw data and logs in {outdir}")

    msgs_used = {}
    servers = {}
    try:
        if any(k in keys for k in [t[0] for t in THROUGHPUT] + ["reqrep"]):
            for k in SERVERS:
                servers[k] = Server(k, outdir)
                try:
                    servers[k].start()
                except RuntimeError as e:
                    say(f"bench: {e}")
                    return 2
            for key, label, flags, share, metric, _ in THROUGHPUT:
                if key in keys:
                    msgs_used[key] = throughput(res, servers, key, label, flags, share, metric,
                                                MSGS)
            if "reqrep" in keys:
                reqrep(res, servers)
            for s in servers.values():
                s.stop()
        if any(k in keys for k in [c[0] for c in CLUSTER]):
            for k in CLUSTER_KINDS:
                servers["cluster:" + k] = ClusterPair(k, outdir)
                try:
                    servers["cluster:" + k].start()
                except RuntimeError as e:
                    say(f"bench: {e}")
                    return 2
            for key, label, flags, share in CLUSTER:
                if key in keys:
                    msgs_used[key] = cluster_throughput(
                        res, {k: servers["cluster:" + k] for k in CLUSTER_KINDS}, key, label,
                        flags, share, MSGS)
            for k in CLUSTER_KINDS:
                servers["cluster:" + k].stop()
        for which in ("idle", "conns", "subs"):
            if which in keys:
                rss(res, outdir, which, conns)
    finally:
        for s in servers.values():
            s.stop()
        save_runs(res, outdir)

    t = Table(res)
    for key, label, flags, share, metric, goal in THROUGHPUT:
        if key not in keys:
            continue
        fmt = f_bytes if metric == "bytes" else f_msgs
        g = (">=", goal, f"≥ {goal:.1f}×", "ratio") if goal else None
        t.add(f"{label}, {f_count(msgs_used[key])} msgs", key, fmt, goal=g,
              w_goal=(">=", W_GOAL))
        if flags.get("sub", 0) == 0:
            roof = res.median(key, "R")
            rl = f_bytes(roof) if roof is not None else "failed"
            if roof is None:
                t.missing.append((f"{label} roofline", "roofline"))
            t.add(f"{label} / roofline ({rl})", key, f_pct,
                  goal=(">=", ROOF_GOAL, f"rnatsd ≥ {ROOF_GOAL * 100:.0f}%", "frac"),
                  ratios=False)
    for key in CPU_SCENARIOS:
        if key in keys:
            label = [t_[1] for t_ in THROUGHPUT if t_[0] == key][0]
            t.add(f"server CPU per M delivered, {label}", "cpu:" + key, f_cpu,
                  goal=("<=", CPU_GOAL, f"≤ {CPU_GOAL:.1f}×", "ratio"))
    if "reqrep" in keys:
        for p, name in PCTS:
            g = ("<=", P50_GOAL, f"≤ {P50_GOAL:.1f}×", "ratio") if p == "p50" else None
            t.add(f"req/rep 128 B latency {name}, {f_count(REQS)} reqs", "lat:" + p, f_us, goal=g)
    for key, label, _, _ in CLUSTER:
        if key in keys:
            t.add(f"{label}, 2-server cluster, {f_count(msgs_used[key])} msgs", key, f_msgs,
                  kinds=CLUSTER_KINDS)
            t.add(f"CPU of both servers per M delivered, {label}", "cpu:" + key, f_cpu,
                  kinds=CLUSTER_KINDS)
    static = os.access(STATIC, os.X_OK)
    for sfx, what in (("", ""), (":static", " (static musl binary)")):
        if sfx and not static:
            continue
        kinds = ("A", "G") if sfx else SERVERS
        if "idle" in keys:
            t.add(f"peak RSS, idle{what}", "rss:idle" + sfx, f_mb,
                  goal=("<=", IDLE_GOAL_KB, "rnatsd ≤ 2.5 MB", "abs"), kinds=kinds)
        if "conns" in keys:
            t.add(f"RSS per idle connection, {conns} conns{what}", "rss:conn" + sfx, f_kbconn,
                  goal=("<=", CONN_GOAL, f"≤ {CONN_GOAL:.1f}×", "ratio"), kinds=kinds)
        if "subs" in keys:
            nsubs = SUB_CONNS * SUBJECTS
            t.add(f"peak RSS, {nsubs:,} subs over {SUBJECTS:,} subjects{what}",
                  "rss:subs" + sfx, f_mb, kinds=kinds)
            t.add(f"RSS per subscription, {nsubs:,} subs{what}", "rss:persub" + sfx, f_bsub,
                  kinds=kinds)

    table = t.markdown()
    elapsed = time.monotonic() - started
    when = datetime.datetime.now().strftime("%Y-%m-%d")
    rounds = f"{PAIRS} round{'s' if PAIRS > 1 else ''}"
    header = textwrap.fill(
        f"`make bench` on {when}: {uname}, {cpu}, {cores} cores; {v_r}; {v_g}. Loopback, "
        f"{rounds} per scenario alternating rnatsd / rnatsd -w1 / nats-server; figures are "
        f"medians, ratios (rnatsd / nats-server) medians of the per-round ratios.", 100,
        break_on_hyphens=False, break_long_words=False)
    say("")
    say(header)
    say("")
    say(table)
    say("")
    if res.notes:
        say("Odd things during the run:")
        for n in res.notes:
            say("  - " + n)
    for label, who in t.missing:
        say(f"no successful run: {label}, {who}")
    say(f"raw per-run data: {outdir}/runs.json and {outdir}/runs.csv")
    say(f"total time {elapsed:.0f} s")
    if WRITE_README:
        write_readme(header + "\n\n" + table)
    return 1 if t.missing else 0


def save_runs(res, outdir):
    with open(os.path.join(outdir, "runs.json"), "w") as f:
        json.dump({"pairs": PAIRS, "msgs": MSGS, "runs": res.runs, "notes": res.notes}, f,
                  indent=1)
    fields = []
    for r in res.runs:
        for k in r:
            if k not in fields:
                fields.append(k)
    with open(os.path.join(outdir, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(res.runs)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("bench: interrupted")
        sys.exit(130)
