"""Interop scenarios for the nats-py client, run by tests/interop.rs.

Usage: interop_client.py SCENARIO URL

Prints "PASS python/SCENARIO" and exits 0 on success; prints "FAIL python/SCENARIO: why" to
stderr and exits non-zero on any failure. Every wait is bounded. The reconnect scenario prints
"READY" on its own line once the test harness may restart the server.

The auth_* scenarios take their credentials from environment variables set by the harness
(INTEROP_USER, INTEROP_PASS, INTEROP_TOKEN, INTEROP_NKEY_SEED, INTEROP_ADMIN_USER,
INTEROP_ADMIN_PASS); the server is started with the matching flags or configuration file.

The tls* scenarios take the test certificates' paths from INTEROP_TLS_CA (the CA the server's
certificate is signed by), INTEROP_TLS_CERT / INTEROP_TLS_KEY (a client certificate signed by
that CA) and INTEROP_TLS_ROGUE_CERT / INTEROP_TLS_ROGUE_KEY (one signed by a CA the server does
not trust). "tls" runs against a server with TLS but without client verification,
"tls_client_cert" against one that requires client certificates signed by INTEROP_TLS_CA.

Usage: interop_client.py gen_nkey -
    Prints a fresh user nkey pair, made with the nkeys package, as "SEED S..." and "PUBLIC U...".
"""

import asyncio
import importlib.metadata
import os
import ssl
import sys
import tempfile
import time
import traceback
import urllib.parse

import nats
import nats.errors
import nkeys

WAIT = 10.0  # upper bound for any single wait, seconds
OVERALL = 30.0  # upper bound for a whole scenario, seconds
MAX_PAYLOAD = 1024 * 1024


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Conns:
    """Opens connections and remembers them so they are all closed at the end; records
    asynchronous errors reported by the library so a scenario can insist there were none."""

    def __init__(self, url):
        self.url = url
        self.conns = []
        self.async_errors = []

    async def open(self, **kwargs):
        async def error_cb(e):
            self.async_errors.append(repr(e))

        opts = dict(
            servers=[self.url],
            connect_timeout=5,
            allow_reconnect=False,
            error_cb=error_cb,
        )
        opts.update(kwargs)
        nc = await nats.connect(**opts)
        self.conns.append(nc)
        return nc

    async def close_all(self):
        for nc in self.conns:
            if not nc.is_closed:
                await nc.close()

    def check_no_async_errors(self):
        check(not self.async_errors, f"library reported async errors: {self.async_errors}")


async def sync(nc):
    """A round trip after which the server has processed everything sent before it.

    nats-py's flush() writes its PING straight to the socket, ahead of commands still queued
    for its flusher task, so a single flush() can complete before the server has seen PUB or
    SUB commands issued just before it. The flusher writes them out while the first PING is in
    flight, so the second PING follows them."""
    await nc.flush(timeout=WAIT)
    await nc.flush(timeout=WAIT)


async def take_pending(sub):
    """All messages already delivered to a subscription (call after a flush)."""
    out = []
    for _ in range(sub.pending_msgs):
        out.append(await sub.next_msg(timeout=WAIT))
    return out


async def expect_none_pending(sub, what):
    check(sub.pending_msgs == 0, f"{what}: expected no further messages, {sub.pending_msgs} pending")


# ---------------------------------------------------------------------------------------------


async def scenario_connect(c):
    nc = await c.open(name="interop-python")
    check(nc.is_connected, "not connected after connect()")
    check(nc.max_payload == MAX_PAYLOAD, f"max_payload {nc.max_payload}, want {MAX_PAYLOAD}")
    check(isinstance(nc.client_id, int) and nc.client_id > 0, f"bad client_id {nc.client_id!r}")
    v = nc.connected_server_version
    check(
        (v.major, v.minor) >= (2, 2),
        f"server version {v.major}.{v.minor}.{v.patch} is below 2.2 (clients disable headers)",
    )
    rtt = await nc.rtt(timeout=5)
    check(rtt >= 0, "negative rtt")
    await sync(nc)

    # Verbose and pedantic mode: the server acknowledges every command with +OK.
    vc = await c.open(verbose=True, pedantic=True)
    sub = await vc.subscribe("interop.verbose")
    await vc.publish("interop.verbose", b"v")
    await sync(vc)
    msg = await sub.next_msg(timeout=WAIT)
    check(msg.data == b"v", f"verbose connection got {msg.data!r}")

    closed = asyncio.Event()

    async def closed_cb():
        closed.set()

    nc2 = await c.open(closed_cb=closed_cb)
    await nc2.close()
    await asyncio.wait_for(closed.wait(), WAIT)
    check(nc2.is_closed, "not closed after close()")
    try:
        await nc2.publish("interop.after.close", b"x")
        raise Failure("publish on a closed connection did not fail")
    except nats.errors.ConnectionClosedError:
        pass
    c.check_no_async_errors()


async def scenario_pubsub(c):
    sub_nc = await c.open()
    pub_nc = await c.open()
    sub = await sub_nc.subscribe("interop.pubsub")
    await sync(sub_nc)

    n = 100
    for i in range(n):
        await pub_nc.publish("interop.pubsub", f"msg-{i}".encode())
    await pub_nc.publish("interop.pubsub", b"", reply="interop.reply.to")
    await pub_nc.publish("interop.other", b"not for us")
    await sync(pub_nc)
    await sync(sub_nc)

    msgs = await take_pending(sub)
    check(len(msgs) == n + 1, f"received {len(msgs)} messages, want {n + 1}")
    for i in range(n):
        check(msgs[i].subject == "interop.pubsub", f"subject {msgs[i].subject!r}")
        check(msgs[i].data == f"msg-{i}".encode(), f"message {i} out of order or wrong: {msgs[i].data!r}")
        check(not msgs[i].reply, f"unexpected reply subject {msgs[i].reply!r}")
    check(msgs[n].data == b"", f"empty payload came back as {msgs[n].data!r}")
    check(msgs[n].reply == "interop.reply.to", f"reply subject {msgs[n].reply!r}")

    # Echo: a connection receives its own messages by default.
    own = await pub_nc.subscribe("interop.echo")
    await pub_nc.publish("interop.echo", b"self")
    await sync(pub_nc)
    got = await own.next_msg(timeout=WAIT)
    check(got.data == b"self", f"echo got {got.data!r}")

    # After unsubscribe nothing more arrives.
    await sub.unsubscribe()
    await sync(sub_nc)
    sub2 = await sub_nc.subscribe("interop.pubsub.probe")
    await sync(sub_nc)
    await pub_nc.publish("interop.pubsub", b"after unsubscribe")
    await pub_nc.publish("interop.pubsub.probe", b"probe")
    await sync(pub_nc)
    await sync(sub_nc)
    check(len(await take_pending(sub2)) == 1, "probe message missing")
    check(sub_nc.stats["in_msgs"] == n + 2, f"in_msgs {sub_nc.stats['in_msgs']}, want {n + 2}")
    c.check_no_async_errors()


async def scenario_wildcards(c):
    nc = await c.open()
    pub = await c.open()
    patterns = ["w.*.x", "w.>", "*.a.*", "w.a.>", ">"]
    subs = {p: await nc.subscribe(p) for p in patterns}
    await sync(nc)

    published = ["w.a.x", "w.b.x", "w.a.y", "w.a.b.c", "w", "w.a", "other.a.x", "w.a.x.y", "x.a"]
    expected = {
        "w.*.x": ["w.a.x", "w.b.x"],
        "w.>": ["w.a.x", "w.b.x", "w.a.y", "w.a.b.c", "w.a", "w.a.x.y"],
        "*.a.*": ["w.a.x", "w.a.y", "other.a.x"],
        "w.a.>": ["w.a.x", "w.a.y", "w.a.b.c", "w.a.x.y"],
        ">": published,
    }
    for s in published:
        await pub.publish(s, s.encode())
    await sync(pub)
    await sync(nc)

    for p in patterns:
        msgs = await take_pending(subs[p])
        got = [m.subject for m in msgs]
        check(got == expected[p], f"subscription {p!r} got {got}, want {expected[p]}")
        for m in msgs:
            check(m.data == m.subject.encode(), f"payload {m.data!r} for subject {m.subject!r}")
    c.check_no_async_errors()


async def scenario_queue_groups(c):
    members = []
    for _ in range(3):
        nc = await c.open()
        sub = await nc.subscribe("interop.jobs", queue="workers")
        await sync(nc)
        members.append((nc, sub))
    # A plain subscriber on the same subject receives every message, and a second queue
    # group receives every message once too.
    watch_nc = await c.open()
    watcher = await watch_nc.subscribe("interop.jobs")
    other_group = await watch_nc.subscribe("interop.jobs", queue="auditors")
    await sync(watch_nc)

    pub = await c.open()
    n = 300
    for i in range(n):
        await pub.publish("interop.jobs", str(i).encode())
    await sync(pub)

    counts = []
    seen = []
    for nc, sub in members:
        await sync(nc)
        msgs = await take_pending(sub)
        counts.append(len(msgs))
        seen.extend(int(m.data) for m in msgs)
    check(len(seen) == n, f"queue members got {len(seen)} messages in all (per member {counts}), want {n}")
    check(sorted(seen) == list(range(n)), "queue group lost or duplicated messages")
    check(all(k > 0 for k in counts), f"messages not spread across members: {counts}")

    await sync(watch_nc)
    all_msgs = await take_pending(watcher)
    check([int(m.data) for m in all_msgs] == list(range(n)), "plain subscriber did not get every message in order")
    audit = await take_pending(other_group)
    check(len(audit) == n, f"single-member group got {len(audit)}, want {n}")
    c.check_no_async_errors()


async def scenario_request_reply(c):
    svc = await c.open()

    async def echo(msg):
        await svc.publish(msg.reply, b"echo:" + msg.data)

    await svc.subscribe("interop.svc.echo", cb=echo)

    # Two responders in a queue group: each request gets exactly one answer.
    answered = []

    def worker(tag):
        async def handler(msg):
            answered.append(tag)
            await svc.publish(msg.reply, tag.encode())

        return handler

    await svc.subscribe("interop.svc.q", queue="svc", cb=worker("a"))
    await svc.subscribe("interop.svc.q", queue="svc", cb=worker("b"))
    await sync(svc)

    nc = await c.open()
    for i in range(20):
        resp = await nc.request("interop.svc.echo", f"r{i}".encode(), timeout=WAIT)
        check(resp.data == f"echo:r{i}".encode(), f"reply {resp.data!r}")
    resps = await asyncio.gather(
        *[nc.request("interop.svc.echo", f"p{i}".encode(), timeout=WAIT) for i in range(50)]
    )
    for i, r in enumerate(resps):
        check(r.data == f"echo:p{i}".encode(), f"parallel reply {i}: {r.data!r}")
    resp = await nc.request("interop.svc.echo", b"old", timeout=WAIT, old_style=True)
    check(resp.data == b"echo:old", f"old-style reply {resp.data!r}")

    for i in range(20):
        resp = await nc.request("interop.svc.q", b"", timeout=WAIT)
        check(resp.data in (b"a", b"b"), f"queue reply {resp.data!r}")
    await sync(svc)
    check(len(answered) == 20, f"queue responders answered {len(answered)} times, want 20")

    # Manual request: publish with an explicit reply inbox.
    inbox = nc.new_inbox()
    isub = await nc.subscribe(inbox)
    await nc.publish("interop.svc.echo", b"manual", reply=inbox)
    got = await isub.next_msg(timeout=WAIT)
    check(got.data == b"echo:manual", f"manual reply {got.data!r}")
    c.check_no_async_errors()


async def scenario_headers(c):
    sub_nc = await c.open()
    sub = await sub_nc.subscribe("interop.hdr")
    plain = await sub_nc.subscribe("interop.nohdr")

    async def responder(msg):
        h = {"X-Reply": "yes", "X-Saw": msg.headers.get("X-Req", "") if msg.headers else ""}
        await sub_nc.publish(msg.reply, b"resp:" + msg.data, headers=h)

    await sub_nc.subscribe("interop.hdr.svc", cb=responder)
    await sync(sub_nc)

    pub = await c.open()
    await pub.publish("interop.hdr", b"with headers", headers={"X-Interop": "yes", "X-Number": "42"})
    await pub.publish("interop.hdr", b"", headers={"X-Only": "header"})
    await pub.publish("interop.hdr", b"value with spaces", headers={"X-Spaces": "a b  c"})
    await pub.publish("interop.nohdr", b"plain")
    await sync(pub)
    await sync(sub_nc)

    msgs = await take_pending(sub)
    check(len(msgs) == 3, f"received {len(msgs)} header messages, want 3")
    h = msgs[0].headers or {}
    check(h.get("X-Interop") == "yes" and h.get("X-Number") == "42", f"headers {h!r}")
    check(msgs[0].data == b"with headers", f"payload {msgs[0].data!r}")
    check((msgs[1].headers or {}).get("X-Only") == "header", f"header-only msg {msgs[1].headers!r}")
    check(msgs[1].data == b"", f"header-only payload {msgs[1].data!r}")
    check((msgs[2].headers or {}).get("X-Spaces") == "a b  c", f"spaces {msgs[2].headers!r}")
    pm = await take_pending(plain)
    check(len(pm) == 1 and pm[0].data == b"plain" and not pm[0].headers, f"plain message {pm!r}")

    resp = await pub.request("interop.hdr.svc", b"q", timeout=WAIT, headers={"X-Req": "42"})
    rh = resp.headers or {}
    check(resp.data == b"resp:q", f"reply payload {resp.data!r}")
    check(rh.get("X-Reply") == "yes" and rh.get("X-Saw") == "42", f"reply headers {rh!r}")
    c.check_no_async_errors()


async def scenario_no_responders(c):
    nc = await c.open()
    for old_style in (False, True):
        start = time.monotonic()
        try:
            await nc.request("interop.nobody.home", b"anyone?", timeout=WAIT, old_style=old_style)
            raise Failure(f"request (old_style={old_style}) with no responders succeeded")
        except nats.errors.NoRespondersError:
            pass
        elapsed = time.monotonic() - start
        check(elapsed < 3.0, f"no-responders error took {elapsed:.2f}s (old_style={old_style})")

    # A responder that appears later is reachable; one that leaves makes it fail fast again.
    svc = await c.open()

    async def ok(msg):
        await svc.publish(msg.reply, b"here")

    s = await svc.subscribe("interop.nobody.home", cb=ok)
    await sync(svc)
    resp = await nc.request("interop.nobody.home", b"", timeout=WAIT)
    check(resp.data == b"here", f"reply {resp.data!r}")
    await s.unsubscribe()
    await sync(svc)
    try:
        await nc.request("interop.nobody.home", b"", timeout=WAIT)
        raise Failure("request after the responder left succeeded")
    except nats.errors.NoRespondersError:
        pass
    c.check_no_async_errors()


async def scenario_flush(c):
    nc = await c.open()
    sub = await nc.subscribe("interop.flush")
    n = 1000
    for i in range(n):
        await nc.publish("interop.flush", str(i).encode())
    await nc.flush(timeout=WAIT)
    # flush() has written out everything buffered ...
    check(nc.pending_data_size == 0, f"{nc.pending_data_size} bytes still buffered after flush")
    # ... and a PONG comes after every message the server routed before it (see sync()).
    await nc.flush(timeout=WAIT)
    check(sub.pending_msgs == n, f"{sub.pending_msgs} messages delivered after flush, want {n}")
    for _ in range(5):
        await nc.flush(timeout=WAIT)
    check(sub.pending_msgs == n, f"{sub.pending_msgs} messages pending after more flushes")
    msgs = await take_pending(sub)
    check([int(m.data) for m in msgs] == list(range(n)), "flushed messages out of order")

    # Flushes from many tasks at once all complete.
    await asyncio.gather(*[nc.flush(timeout=5) for _ in range(20)])
    c.check_no_async_errors()


async def scenario_drain(c):
    pub = await c.open()
    sub_nc = await c.open()
    processed = []

    async def slow(msg):
        await asyncio.sleep(0)  # yield to the event loop while "processing"
        processed.append(int(msg.data))

    sub = await sub_nc.subscribe("interop.drain.sub", cb=slow)
    await sync(sub_nc)
    n = 200
    for i in range(n):
        await pub.publish("interop.drain.sub", str(i).encode())
    await sync(pub)
    await asyncio.wait_for(sub.drain(), WAIT)
    check(processed == list(range(n)), f"drained subscription processed {len(processed)} of {n}")
    for i in range(10):
        await pub.publish("interop.drain.sub", b"late")
    await sync(pub)
    await sync(sub_nc)
    check(len(processed) == n, "drained subscription still receives messages")

    # Draining a connection processes what is in flight, then closes it.
    closed = asyncio.Event()

    async def closed_cb():
        closed.set()

    dnc = await c.open(closed_cb=closed_cb)
    got = []

    async def cb(msg):
        await asyncio.sleep(0)
        got.append(int(msg.data))

    await dnc.subscribe("interop.drain.conn", cb=cb)
    await dnc.subscribe("interop.drain.conn2", cb=cb)
    await sync(dnc)
    for i in range(100):
        await pub.publish("interop.drain.conn", str(i).encode())
    await sync(pub)
    await asyncio.wait_for(dnc.drain(), WAIT)
    await asyncio.wait_for(closed.wait(), WAIT)
    check(dnc.is_closed, "connection not closed after drain")
    check(got == list(range(100)), f"connection drain processed {len(got)} of 100")
    try:
        await dnc.publish("interop.drain.conn", b"x")
        raise Failure("publish after drain did not fail")
    except nats.errors.ConnectionClosedError:
        pass
    c.check_no_async_errors()


async def scenario_auto_unsubscribe(c):
    pub = await c.open()
    nc = await c.open()

    # UNSUB with a limit before any message: the server delivers exactly 5.
    sub = await nc.subscribe("interop.au.a")
    await sub.unsubscribe(limit=5)
    await sync(nc)
    for i in range(10):
        await pub.publish("interop.au.a", str(i).encode())
    await sync(pub)
    await sync(nc)
    check(nc.stats["in_msgs"] == 5, f"server delivered {nc.stats['in_msgs']} messages, want 5")
    msgs = [await sub.next_msg(timeout=WAIT) for _ in range(5)]
    check([int(m.data) for m in msgs] == list(range(5)), f"got {[m.data for m in msgs]}")
    await expect_none_pending(sub, "after max reached")

    # Limit set after two messages arrived: the limit counts them, so two more come.
    before = nc.stats["in_msgs"]
    sub = await nc.subscribe("interop.au.b")
    await sync(nc)
    await pub.publish("interop.au.b", b"0")
    await pub.publish("interop.au.b", b"1")
    await sync(pub)
    await sync(nc)
    first = await take_pending(sub)
    check(len(first) == 2, f"got {len(first)} before the limit, want 2")
    await sub.unsubscribe(limit=4)
    await sync(nc)
    for i in range(2, 10):
        await pub.publish("interop.au.b", str(i).encode())
    await sync(pub)
    await sync(nc)
    delivered = nc.stats["in_msgs"] - before
    check(delivered == 4, f"server delivered {delivered} on interop.au.b, want 4")
    rest = await take_pending(sub)
    check([int(m.data) for m in rest] == [2, 3], f"after limit got {[m.data for m in rest]}")

    # Client-side max_msgs on subscribe.
    sub = await nc.subscribe("interop.au.c", max_msgs=3)
    await sync(nc)
    for i in range(6):
        await pub.publish("interop.au.c", str(i).encode())
    await sync(pub)
    await sync(nc)
    got = await take_pending(sub)
    check([int(m.data) for m in got] == [0, 1, 2], f"max_msgs=3 got {[m.data for m in got]}")
    c.check_no_async_errors()


async def scenario_large_payloads(c):
    sub_nc = await c.open()
    pub = await c.open()
    check(pub.max_payload == MAX_PAYLOAD, f"max_payload {pub.max_payload}")
    sub = await sub_nc.subscribe("interop.big")

    async def echo(msg):
        await sub_nc.publish(msg.reply, msg.data)

    await sub_nc.subscribe("interop.big.echo", cb=echo)
    await sync(sub_nc)

    sizes = [512 * 1024, MAX_PAYLOAD - 100, MAX_PAYLOAD]
    payloads = [bytes((i * 7 + k) % 251 for i in range(size)) for k, size in enumerate(sizes)]
    for p in payloads:
        await pub.publish("interop.big", p)
    await sync(pub)
    for k, p in enumerate(payloads):
        m = await sub.next_msg(timeout=WAIT)
        check(len(m.data) == len(p), f"payload {k}: got {len(m.data)} bytes, want {len(p)}")
        check(m.data == p, f"payload {k} of {len(p)} bytes corrupted")

    resp = await pub.request("interop.big.echo", payloads[0], timeout=WAIT)
    check(resp.data == payloads[0], "512 KiB request/reply corrupted")

    try:
        await pub.publish("interop.big", b"x" * (MAX_PAYLOAD + 1))
        raise Failure("publishing max_payload+1 bytes did not fail")
    except nats.errors.MaxPayloadError:
        pass
    # The connection is still fine.
    await pub.publish("interop.big", b"small")
    await sync(pub)
    m = await sub.next_msg(timeout=WAIT)
    check(m.data == b"small", f"after oversize attempt got {len(m.data)} bytes")
    c.check_no_async_errors()


async def scenario_reconnect(c):
    disconnected = asyncio.Event()
    reconnected = asyncio.Event()

    async def on_disconnect():
        disconnected.set()

    async def on_reconnect():
        reconnected.set()

    nc = await c.open(
        allow_reconnect=True,
        reconnect_time_wait=0.1,
        max_reconnect_attempts=300,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
    sub = await nc.subscribe("interop.rc")
    qsub = await nc.subscribe("interop.rc.q", queue="rcq")

    async def svc(msg):
        await nc.publish(msg.reply, b"still here")

    await nc.subscribe("interop.rc.svc", cb=svc)
    await nc.publish("interop.rc", b"before")
    await sync(nc)
    m = await sub.next_msg(timeout=WAIT)
    check(m.data == b"before", f"before restart got {m.data!r}")

    print("READY", flush=True)
    await asyncio.wait_for(disconnected.wait(), WAIT)
    await asyncio.wait_for(reconnected.wait(), 20)
    check(nc.is_connected, "not connected after the reconnected callback")
    # Our re-sent SUBs are processed once this round trip completes.
    await sync(nc)

    other = await c.open()
    await other.publish("interop.rc", b"after")
    await other.publish("interop.rc.q", b"queued")
    await sync(other)
    await sync(nc)
    m = await sub.next_msg(timeout=WAIT)
    check(m.data == b"after", f"after restart got {m.data!r}")
    m = await qsub.next_msg(timeout=WAIT)
    check(m.data == b"queued", f"queue sub after restart got {m.data!r}")
    resp = await other.request("interop.rc.svc", b"", timeout=WAIT)
    check(resp.data == b"still here", f"service after restart replied {resp.data!r}")
    check(nc.stats["reconnects"] >= 1, f"reconnects stat {nc.stats['reconnects']}")
    # Publishing from the reconnected connection works too.
    await nc.publish("interop.rc", b"mine")
    await sync(nc)
    m = await sub.next_msg(timeout=WAIT)
    check(m.data == b"mine", f"own publish after restart got {m.data!r}")


# ---- authentication and authorization --------------------------------------------------------


def env(name):
    value = os.environ.get(name)
    check(value, f"environment variable {name} is not set (tests/interop.rs sets it)")
    return value


def with_userinfo(url, userinfo):
    """The server URL with credentials embedded: nats://USERINFO@host:port."""
    check(
        urllib.parse.quote(userinfo, safe=":") == userinfo,
        f"credentials {userinfo!r} would need URL escaping",
    )
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, f"{userinfo}@{u.netloc}", u.path, u.query, u.fragment))


def new_user_seed():
    """A fresh, random user nkey seed (S...) that no server configuration knows."""
    return nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()


async def round_trip(nc, subject):
    """A message published on nc reaches nc's own subscription."""
    sub = await nc.subscribe(subject)
    await sync(nc)
    await nc.publish(subject, b"round trip")
    await sync(nc)
    m = await sub.next_msg(timeout=WAIT)
    check(
        m.subject == subject and m.data == b"round trip",
        f"round trip on {subject}: got {m.subject} {m.data!r}",
    )
    await sub.unsubscribe()


async def expect_auth_failure(c, what, **kwargs):
    """Connecting with these options must fail with the server's authorization error."""
    reported = []

    async def error_cb(e):
        reported.append(repr(e))

    opts = dict(servers=[c.url], connect_timeout=5, allow_reconnect=False, error_cb=error_cb)
    opts.update(kwargs)
    try:
        nc = await asyncio.wait_for(nats.connect(**opts), WAIT)
    except nats.errors.Error as e:
        # nats-py raises the server's -ERR line as it is.
        check(
            "'Authorization Violation'" in str(e),
            f"{what}: connect failed with {e!r} (reported: {reported}), want 'Authorization Violation'",
        )
        return
    connected = nc.is_connected
    await nc.close()
    raise Failure(f"{what}: connect succeeded (is_connected={connected}), want 'Authorization Violation'")


async def scenario_auth_user_password(c):
    user, password = env("INTEROP_USER"), env("INTEROP_PASS")
    # Credentials in the URL, and as connect options.
    by_url = await c.open(servers=[with_userinfo(c.url, f"{user}:{password}")])
    await round_trip(by_url, "interop.auth.url")
    by_opts = await c.open(user=user, password=password)
    await round_trip(by_opts, "interop.auth.opts")
    sub = await by_url.subscribe("interop.auth.cross")
    await sync(by_url)
    await by_opts.publish("interop.auth.cross", b"across")
    await sync(by_opts)
    m = await sub.next_msg(timeout=WAIT)
    check(m.data == b"across", f"cross-connection message {m.data!r}")

    bad = password + "x"
    await expect_auth_failure(c, "wrong password in the URL", servers=[with_userinfo(c.url, f"{user}:{bad}")])
    await expect_auth_failure(c, "wrong password as options", user=user, password=bad)
    await expect_auth_failure(c, "unknown user", user=user + "x", password=password)
    await expect_auth_failure(c, "token instead of user/password", token=password)
    await expect_auth_failure(c, "no credentials")

    # The rejected attempts did not disturb the authenticated connections.
    await round_trip(by_url, "interop.auth.url.after")
    await round_trip(by_opts, "interop.auth.opts.after")
    c.check_no_async_errors()


async def scenario_auth_token(c):
    token = env("INTEROP_TOKEN")
    by_url = await c.open(servers=[with_userinfo(c.url, token)])
    await round_trip(by_url, "interop.auth.url")
    by_opts = await c.open(token=token)
    await round_trip(by_opts, "interop.auth.opts")

    bad = token + "x"
    await expect_auth_failure(c, "wrong token in the URL", servers=[with_userinfo(c.url, bad)])
    await expect_auth_failure(c, "wrong token as option", token=bad)
    await expect_auth_failure(c, "user/password instead of the token", user=token, password=token)
    await expect_auth_failure(c, "no credentials")

    await round_trip(by_url, "interop.auth.url.after")
    await round_trip(by_opts, "interop.auth.opts.after")
    c.check_no_async_errors()


async def scenario_auth_nkey(c):
    seed = env("INTEROP_NKEY_SEED")
    # The seed as a string, and from a file.
    by_str = await c.open(nkeys_seed_str=seed)
    await round_trip(by_str, "interop.auth.nkey.str")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "user.nk")
        with open(path, "w") as f:
            f.write(seed + "\n")
        by_file = await c.open(nkeys_seed=path)
    await round_trip(by_file, "interop.auth.nkey.file")

    await expect_auth_failure(c, "a different seed", nkeys_seed_str=new_user_seed())
    await expect_auth_failure(c, "no credentials")

    await round_trip(by_str, "interop.auth.nkey.str.after")
    await round_trip(by_file, "interop.auth.nkey.file.after")
    c.check_no_async_errors()


async def wait_for_error(errors, want, what):
    """Wait until the error callback has reported an error containing `want`. nats-py hands on
    the server's -ERR text in lower case, so the comparison ignores case."""
    deadline = time.monotonic() + WAIT
    while not any(want.lower() in e.lower() for e in errors):
        check(time.monotonic() < deadline, f"{what}: no error containing {want!r}; errors: {errors}")
        await asyncio.sleep(0.01)


async def scenario_auth_permissions(c):
    """The server configuration (tests/interop.rs, permissions_conf) gives the limited user:
    publish ["perm.pub.>", "perm.both"]; subscribe allow ["perm.sub.>", "perm.both", "perm.svc"],
    deny ["perm.sub.secret"]; allow_responses. The admin user may do anything."""
    admin = await c.open(user=env("INTEROP_ADMIN_USER"), password=env("INTEROP_ADMIN_PASS"))
    errors = []

    async def limited_error_cb(e):
        errors.append(str(e))

    lim = await c.open(user=env("INTEROP_USER"), password=env("INTEROP_PASS"), error_cb=limited_error_cb)
    watch = await admin.subscribe("perm.>")
    await sync(admin)

    # Permitted subscriptions and publications work.
    sub = await lim.subscribe("perm.sub.>")
    both = await lim.subscribe("perm.both")
    await sync(lim)
    await admin.publish("perm.sub.a", b"to limited")
    await sync(admin)
    await lim.publish("perm.pub.a", b"from limited")
    await lim.publish("perm.both", b"both ways")
    await sync(lim)
    await sync(admin)
    m = await sub.next_msg(timeout=WAIT)
    check((m.subject, m.data) == ("perm.sub.a", b"to limited"), f"limited got {m.subject} {m.data!r}")
    m = await both.next_msg(timeout=WAIT)
    check(m.data == b"both ways", f"limited's own message came back as {m.data!r}")
    seen = [(m.subject, m.data) for m in await take_pending(watch)]
    want = [("perm.sub.a", b"to limited"), ("perm.pub.a", b"from limited"), ("perm.both", b"both ways")]
    check(seen == want, f"admin saw {seen}, want {want}")
    check(not errors, f"errors for permitted operations: {errors}")

    # A forbidden publish: an asynchronous error, nothing delivered, the connection stays up.
    await lim.publish("perm.forbidden", b"nope")
    await sync(lim)
    await wait_for_error(errors, 'Permissions Violation for Publish to "perm.forbidden"', "forbidden publish")
    check(lim.is_connected, "limited connection dropped after a forbidden publish")
    await lim.publish("perm.pub.b", b"still allowed")
    await sync(lim)
    await sync(admin)
    seen = [(m.subject, m.data) for m in await take_pending(watch)]
    check(seen == [("perm.pub.b", b"still allowed")], f"after the forbidden publish admin saw {seen}")

    # A forbidden subscription: an asynchronous error, no messages, the connection stays up.
    other = await lim.subscribe("perm.other")
    await sync(lim)
    await wait_for_error(
        errors, 'Permissions Violation for Subscription to "perm.other"', "forbidden subscription"
    )
    # A denied subject inside an allowed wildcard: refused as a subscription, and filtered out
    # of the wildcard subscription's deliveries.
    secret = await lim.subscribe("perm.sub.secret")
    await sync(lim)
    await wait_for_error(
        errors, 'Permissions Violation for Subscription to "perm.sub.secret"', "denied subscription"
    )
    check(lim.is_connected, "limited connection dropped after a forbidden subscription")
    await admin.publish("perm.other", b"x")
    await admin.publish("perm.sub.secret", b"secret")
    await admin.publish("perm.sub.b", b"open")
    await sync(admin)
    await sync(lim)
    check(other.pending_msgs == 0, f"forbidden subscription received {other.pending_msgs} messages")
    check(secret.pending_msgs == 0, f"denied subscription received {secret.pending_msgs} messages")
    got = [(m.subject, m.data) for m in await take_pending(sub)]
    check(got == [("perm.sub.b", b"open")], f"wildcard subscription got {got}, want only perm.sub.b")

    # allow_responses: the limited user may answer a request although the reply subject is
    # outside its publish permissions.
    async def service(msg):
        await lim.publish(msg.reply, b"answer")

    await lim.subscribe("perm.svc", cb=service)
    await sync(lim)
    resp = await admin.request("perm.svc", b"question", timeout=WAIT)
    check(resp.data == b"answer", f"reply {resp.data!r}")
    await round_trip(lim, "perm.both")

    want_errors = ['"perm.forbidden"', '"perm.other"', '"perm.sub.secret"']
    check(
        len(errors) == len(want_errors) and all(w in e.lower() for w, e in zip(want_errors, errors)),
        f"limited connection errors {errors}, want one each for {want_errors}",
    )
    check(lim.is_connected and admin.is_connected, "a connection dropped")
    c.check_no_async_errors()


# ---- TLS ---------------------------------------------------------------------------------------


def tls_context(cert=None):
    """A client context that trusts the test CA and verifies the server's name, optionally
    presenting a client certificate (a pair of environment variable names: cert, key)."""
    ctx = ssl.create_default_context(cafile=env("INTEROP_TLS_CA"))
    if cert is not None:
        ctx.load_cert_chain(env(cert[0]), env(cert[1]))
    return ctx


def with_scheme(url, scheme):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((scheme, u.netloc, u.path, u.query, u.fragment))


def is_tls(nc):
    """Whether the connection's transport is encrypted. nats-py has no public accessor for this;
    this asks the stream writer of its TCP transport (private, as of the pinned nats-py)."""
    writer = getattr(nc._transport, "_io_writer", None)
    return writer is not None and writer.get_extra_info("ssl_object") is not None


async def tls_traffic(a, b, tag):
    """Publish/subscribe, headers, request/reply and max_payload messages between two TLS
    connections, in both directions."""
    subject = f"interop.tls.{tag}"
    sub = await b.subscribe(subject)

    async def echo(msg):
        await b.publish(msg.reply, b"echo:" + msg.data, headers=msg.headers)

    await b.subscribe(f"{subject}.svc", cb=echo)
    await sync(b)

    n = 100
    for i in range(n):
        await a.publish(subject, f"m{i}".encode())
    await a.publish(subject, b"with headers", headers={"X-Tls": tag})
    await sync(a)
    await sync(b)
    msgs = await take_pending(sub)
    check(len(msgs) == n + 1, f"{tag}: received {len(msgs)} messages, want {n + 1}")
    check([m.data for m in msgs[:n]] == [f"m{i}".encode() for i in range(n)], f"{tag}: messages out of order")
    check((msgs[n].headers or {}).get("X-Tls") == tag, f"{tag}: headers {msgs[n].headers!r}")

    for i in range(10):
        resp = await a.request(f"{subject}.svc", f"r{i}".encode(), timeout=WAIT)
        check(resp.data == f"echo:r{i}".encode(), f"{tag}: reply {resp.data!r}")
    resps = await asyncio.gather(
        *[a.request(f"{subject}.svc", f"p{i}".encode(), timeout=WAIT) for i in range(30)]
    )
    for i, r in enumerate(resps):
        check(r.data == f"echo:p{i}".encode(), f"{tag}: parallel reply {i}: {r.data!r}")
    resp = await a.request(f"{subject}.svc", b"h", timeout=WAIT, headers={"X-Req": "1"})
    check(
        resp.data == b"echo:h" and (resp.headers or {}).get("X-Req") == "1",
        f"{tag}: reply with headers {resp.data!r} {resp.headers!r}",
    )

    # A message of max_payload bytes spans many TLS records.
    big = bytes((i * 31 + 7) % 251 for i in range(MAX_PAYLOAD))
    await a.publish(subject, big)
    await sync(a)
    m = await sub.next_msg(timeout=WAIT)
    check(m.data == big, f"{tag}: {len(big)}-byte message came back as {len(m.data)} bytes, or corrupted")
    resp = await a.request(f"{subject}.svc", big[: MAX_PAYLOAD - 5], timeout=WAIT)
    check(resp.data == b"echo:" + big[: MAX_PAYLOAD - 5], f"{tag}: large request/reply corrupted")

    # The other direction.
    back = await a.subscribe(f"{subject}.back")
    await sync(a)
    await b.publish(f"{subject}.back", b"back")
    await sync(b)
    m = await back.next_msg(timeout=WAIT)
    check(m.data == b"back", f"{tag}: reverse message {m.data!r}")
    await sub.unsubscribe()
    await back.unsubscribe()


async def expect_tls_failure(c, what, want_verify_error=False, **kwargs):
    """Connecting with these options must fail promptly: the TLS handshake or the first round
    trip is refused (not a timeout). With want_verify_error, the client itself must reject the
    server's certificate."""
    opts = dict(servers=[c.url], connect_timeout=5, allow_reconnect=False)
    opts.update(kwargs)

    async def error_cb(e):
        pass

    opts.setdefault("error_cb", error_cb)
    start = time.monotonic()
    try:
        nc = await asyncio.wait_for(nats.connect(**opts), WAIT)
    except (asyncio.TimeoutError, nats.errors.TimeoutError) as e:
        raise Failure(f"{what}: connect timed out ({e!r}) after {time.monotonic() - start:.2f}s, want a refusal")
    except Exception as e:
        elapsed = time.monotonic() - start
        if want_verify_error:
            check(
                isinstance(e, ssl.SSLCertVerificationError),
                f"{what}: connect failed with {e!r}, want a certificate verification error",
            )
        check(elapsed < 4.0, f"{what}: the refusal took {elapsed:.2f}s")
        return
    connected = nc.is_connected
    await nc.close()
    raise Failure(f"{what}: connect succeeded (is_connected={connected}), want a TLS failure")


async def scenario_tls(c):
    ctx = tls_context()
    by_scheme = await c.open(servers=[with_scheme(c.url, "tls")], tls=ctx)
    by_option = await c.open(tls=ctx)
    named = await c.open(tls=ctx, tls_hostname="localhost")
    for nc in (by_scheme, by_option, named):
        check(is_tls(nc), "the connection is not encrypted")
    await tls_traffic(by_scheme, by_option, "a")
    await tls_traffic(named, by_scheme, "b")

    # A client that does not trust the test CA (the system's default trust store), or that
    # expects another server name, rejects the server's certificate.
    await expect_tls_failure(c, "default trust store", True, servers=[with_scheme(c.url, "tls")])
    await expect_tls_failure(c, "default trust store, nats:// URL", True)
    await expect_tls_failure(c, "wrong server name", True, tls=ctx, tls_hostname="wrong.example")

    # The refused attempts did not disturb the established connections.
    await round_trip(by_scheme, "interop.tls.after.a")
    await round_trip(by_option, "interop.tls.after.b")
    c.check_no_async_errors()


async def scenario_tls_client_cert(c):
    ctx = tls_context(("INTEROP_TLS_CERT", "INTEROP_TLS_KEY"))
    a = await c.open(tls=ctx)
    b = await c.open(servers=[with_scheme(c.url, "tls")], tls=ctx)
    check(is_tls(a) and is_tls(b), "a connection is not encrypted")
    await tls_traffic(a, b, "a")

    # Without a client certificate, or with one signed by a CA the server does not trust, the
    # server refuses the connection.
    await expect_tls_failure(c, "no client certificate", tls=tls_context())
    await expect_tls_failure(
        c, "certificate from an untrusted CA", tls=tls_context(("INTEROP_TLS_ROGUE_CERT", "INTEROP_TLS_ROGUE_KEY"))
    )
    # Nor does the client accept the server without the test CA.
    await expect_tls_failure(c, "default trust store", True, servers=[with_scheme(c.url, "tls")])

    await round_trip(a, "interop.tls.after.a")
    await round_trip(b, "interop.tls.after.b")
    await tls_traffic(b, a, "b")
    c.check_no_async_errors()


SCENARIOS = {
    "connect": scenario_connect,
    "pubsub": scenario_pubsub,
    "wildcards": scenario_wildcards,
    "queue_groups": scenario_queue_groups,
    "request_reply": scenario_request_reply,
    "headers": scenario_headers,
    "no_responders": scenario_no_responders,
    "flush": scenario_flush,
    "drain": scenario_drain,
    "auto_unsubscribe": scenario_auto_unsubscribe,
    "large_payloads": scenario_large_payloads,
    "reconnect": scenario_reconnect,
    "auth_user_password": scenario_auth_user_password,
    "auth_token": scenario_auth_token,
    "auth_nkey": scenario_auth_nkey,
    "auth_permissions": scenario_auth_permissions,
    "tls": scenario_tls,
    "tls_client_cert": scenario_tls_client_cert,
}


def gen_nkey():
    seed = new_user_seed()
    print(f"SEED {seed}")
    print(f"PUBLIC {nkeys.from_seed(seed.encode()).public_key.decode()}")
    return 0


async def run(name, url):
    c = Conns(url)
    try:
        await asyncio.wait_for(SCENARIOS[name](c), OVERALL)
    finally:
        try:
            await asyncio.wait_for(c.close_all(), WAIT)
        except Exception:
            pass


def main():
    if sys.argv[1:] == ["gen_nkey", "-"]:
        return gen_nkey()
    if len(sys.argv) != 3 or sys.argv[1] not in SCENARIOS:
        print(f"usage: {sys.argv[0]} {{{'|'.join(SCENARIOS)}}} URL", file=sys.stderr)
        return 2
    name, url = sys.argv[1], sys.argv[2]
    try:
        asyncio.run(run(name, url))
    except Failure as e:
        print(f"FAIL python/{name}: {e}", file=sys.stderr)
        return 1
    except (Exception, asyncio.TimeoutError) as e:
        traceback.print_exc()
        print(f"FAIL python/{name}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"PASS python/{name} (nats-py {importlib.metadata.version('nats-py')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
