// Interop scenarios for the nats.js v2 client (npm "nats"), run by tests/interop.rs.
//
// Usage: node interop_client.js SCENARIO URL
//
// Prints "PASS node/SCENARIO" and exits 0 on success; prints "FAIL node/SCENARIO: why" to
// stderr and exits non-zero on any failure. Every wait is bounded. The reconnect scenario prints
// "READY" on its own line once the test harness may restart the server.
//
// The auth_* scenarios take their credentials from environment variables set by the harness
// (INTEROP_USER, INTEROP_PASS, INTEROP_TOKEN, INTEROP_NKEY_SEED, INTEROP_ADMIN_USER,
// INTEROP_ADMIN_PASS); the server is started with the matching flags or configuration file.
//
// The tls* scenarios take the test certificates' paths from INTEROP_TLS_CA (the CA the server's
// certificate is signed by), INTEROP_TLS_CERT / INTEROP_TLS_KEY (a client certificate signed by
// that CA) and INTEROP_TLS_ROGUE_CERT / INTEROP_TLS_ROGUE_KEY (one signed by a CA the server does
// not trust). "tls" runs against a server with TLS but without client verification,
// "tls_client_cert" against one that requires client certificates signed by INTEROP_TLS_CA.
//
// Usage: node interop_client.js gen_nkey -
//   Prints a fresh user nkey pair, made with nats.js's nkeys, as "SEED S..." and "PUBLIC U...".
"use strict";

const {
  connect,
  headers,
  createInbox,
  ErrorCode,
  Events,
  nkeyAuthenticator,
  nkeys,
} = require("nats");

const WAIT = 10000; // upper bound for any single wait, ms
const OVERALL = 30000; // upper bound for a whole scenario, ms
const MAX_PAYLOAD = 1024 * 1024;

const enc = new TextEncoder();
const dec = new TextDecoder();
const str = (data) => dec.decode(data);

class Failure extends Error {}

function check(cond, what) {
  if (!cond) throw new Failure(what);
}

function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const range = (n, from = 0) => Array.from({ length: n - from }, (_, i) => i + from);

class Conns {
  constructor(url) {
    this.url = url;
    this.conns = [];
    this.asyncErrors = [];
  }

  // `onError` receives the connection's error status events; by default they are recorded as
  // unexpected asynchronous errors.
  async open(opts = {}, onError = (s) => this.asyncErrors.push(String(s.data))) {
    const nc = await within(
      connect({ servers: this.url, timeout: 5000, reconnect: false, ...opts }),
      WAIT,
      "connect",
    );
    this.conns.push(nc);
    // Asynchronous errors reported by the server (-ERR) show up as status events.
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === Events.Error) onError(s);
      }
    })().catch(() => {});
    return nc;
  }

  async closeAll() {
    for (const nc of this.conns) {
      if (!nc.isClosed()) await nc.close();
    }
  }

  checkNoAsyncErrors() {
    check(this.asyncErrors.length === 0, `async errors: ${this.asyncErrors.join("; ")}`);
  }
}

// A subscription whose messages are collected synchronously by a callback: nats.js invokes
// callbacks as it parses each MSG, so after a flush() every message the server sent before the
// PONG is in `msgs`.
function collect(nc, subject, opts = {}) {
  const msgs = [];
  const sub = nc.subscribe(subject, {
    ...opts,
    callback: (err, msg) => {
      if (err) msgs.push({ error: err });
      else msgs.push(msg);
    },
  });
  return { sub, msgs };
}

function expectError(fn, code, what) {
  try {
    fn();
  } catch (err) {
    check(err.code === code, `${what}: error code ${err.code} (${err.message}), want ${code}`);
    return;
  }
  throw new Failure(`${what}: did not throw`);
}

async function expectRejects(promise, code, what) {
  try {
    await promise;
  } catch (err) {
    check(err.code === code, `${what}: error code ${err.code} (${err.message}), want ${code}`);
    return;
  }
  throw new Failure(`${what}: did not fail`);
}

// ---------------------------------------------------------------------------------------------

const scenarios = {};

scenarios.connect = async (c) => {
  const nc = await c.open({ name: "interop-node" });
  check(!nc.isClosed(), "closed right after connect");
  const info = nc.info;
  check(info && typeof info.server_id === "string" && info.server_id.length > 0, "no server_id");
  check(info.max_payload === MAX_PAYLOAD, `max_payload ${info.max_payload}`);
  check(info.headers === true, `headers ${info.headers}`);
  check(info.proto >= 1, `proto ${info.proto}`);
  const [maj, min] = String(info.version).split(".").map(Number);
  check(maj === 2 && min >= 2, `server version ${info.version} is below 2.2 (clients disable headers)`);
  check(Number.isInteger(info.client_id) && info.client_id > 0, `client_id ${info.client_id}`);
  const rtt = await within(nc.rtt(), WAIT, "rtt");
  check(rtt >= 0, "negative rtt");
  await within(nc.flush(), WAIT, "flush");

  // Verbose and pedantic mode: the server acknowledges every command with +OK.
  const vc = await c.open({ verbose: true, pedantic: true });
  const v = collect(vc, "interop.verbose");
  vc.publish("interop.verbose", enc.encode("v"));
  await within(vc.flush(), WAIT, "verbose flush");
  check(v.msgs.length === 1 && str(v.msgs[0].data) === "v", "verbose connection lost its message");

  const nc2 = await c.open();
  const done = nc2.closed();
  await within(nc2.close(), WAIT, "close");
  const why = await within(done, WAIT, "closed()");
  check(why === undefined, `closed() resolved with error ${why}`);
  check(nc2.isClosed(), "not closed after close()");
  expectError(() => nc2.publish("interop.after.close"), ErrorCode.ConnectionClosed, "publish after close");
  c.checkNoAsyncErrors();
};

scenarios.pubsub = async (c) => {
  const subNc = await c.open();
  const pub = await c.open();
  const s = collect(subNc, "interop.pubsub");
  await within(subNc.flush(), WAIT, "flush");

  const n = 100;
  for (const i of range(n)) pub.publish("interop.pubsub", enc.encode(`msg-${i}`));
  pub.publish("interop.pubsub", new Uint8Array(0), { reply: "interop.reply.to" });
  pub.publish("interop.other", enc.encode("not for us"));
  await within(pub.flush(), WAIT, "pub flush");
  await within(subNc.flush(), WAIT, "sub flush");

  check(s.msgs.length === n + 1, `received ${s.msgs.length}, want ${n + 1}`);
  for (const i of range(n)) {
    const m = s.msgs[i];
    check(m.subject === "interop.pubsub", `subject ${m.subject}`);
    check(str(m.data) === `msg-${i}`, `message ${i}: ${str(m.data)}`);
    check(!m.reply, `unexpected reply ${m.reply}`);
  }
  check(s.msgs[n].data.length === 0, "empty payload not empty");
  check(s.msgs[n].reply === "interop.reply.to", `reply ${s.msgs[n].reply}`);

  // Echo: a connection receives its own messages by default.
  const own = collect(pub, "interop.echo");
  pub.publish("interop.echo", enc.encode("self"));
  await within(pub.flush(), WAIT, "echo flush");
  check(own.msgs.length === 1 && str(own.msgs[0].data) === "self", "echo not received");

  // Async-iterator style subscription.
  const it = subNc.subscribe("interop.iter", { max: 3 });
  await within(subNc.flush(), WAIT, "flush");
  for (const i of range(3)) pub.publish("interop.iter", enc.encode(String(i)));
  await within(pub.flush(), WAIT, "flush");
  const got = [];
  await within(
    (async () => {
      for await (const m of it) got.push(str(m.data));
    })(),
    WAIT,
    "iterator",
  );
  check(eq(got, ["0", "1", "2"]), `iterator got ${got}`);

  // After unsubscribe nothing more arrives.
  s.sub.unsubscribe();
  const before = subNc.stats().inMsgs;
  await within(subNc.flush(), WAIT, "flush");
  pub.publish("interop.pubsub", enc.encode("after unsubscribe"));
  await within(pub.flush(), WAIT, "flush");
  await within(subNc.flush(), WAIT, "flush");
  check(subNc.stats().inMsgs === before, "server still delivered after unsubscribe");
  check(s.msgs.length === n + 1, "message after unsubscribe");
  c.checkNoAsyncErrors();
};

scenarios.wildcards = async (c) => {
  const nc = await c.open();
  const pub = await c.open();
  const patterns = ["w.*.x", "w.>", "*.a.*", "w.a.>", ">"];
  const subs = Object.fromEntries(patterns.map((p) => [p, collect(nc, p)]));
  await within(nc.flush(), WAIT, "flush");

  const published = ["w.a.x", "w.b.x", "w.a.y", "w.a.b.c", "w", "w.a", "other.a.x", "w.a.x.y", "x.a"];
  const expected = {
    "w.*.x": ["w.a.x", "w.b.x"],
    "w.>": ["w.a.x", "w.b.x", "w.a.y", "w.a.b.c", "w.a", "w.a.x.y"],
    "*.a.*": ["w.a.x", "w.a.y", "other.a.x"],
    "w.a.>": ["w.a.x", "w.a.y", "w.a.b.c", "w.a.x.y"],
    ">": published,
  };
  for (const s of published) pub.publish(s, enc.encode(s));
  await within(pub.flush(), WAIT, "pub flush");
  await within(nc.flush(), WAIT, "sub flush");
  for (const p of patterns) {
    const got = subs[p].msgs.map((m) => m.subject);
    check(eq(got, expected[p]), `subscription ${p} got ${JSON.stringify(got)}, want ${JSON.stringify(expected[p])}`);
    for (const m of subs[p].msgs) check(str(m.data) === m.subject, `payload for ${m.subject}`);
  }
  c.checkNoAsyncErrors();
};

scenarios.queue_groups = async (c) => {
  const members = [];
  for (const _ of range(3)) {
    const nc = await c.open();
    const s = collect(nc, "interop.jobs", { queue: "workers" });
    await within(nc.flush(), WAIT, "flush");
    members.push({ nc, s });
  }
  const watchNc = await c.open();
  const watcher = collect(watchNc, "interop.jobs");
  const auditors = collect(watchNc, "interop.jobs", { queue: "auditors" });
  await within(watchNc.flush(), WAIT, "flush");

  const pub = await c.open();
  const n = 300;
  for (const i of range(n)) pub.publish("interop.jobs", enc.encode(String(i)));
  await within(pub.flush(), WAIT, "pub flush");

  const counts = [];
  const seen = [];
  for (const { nc, s } of members) {
    await within(nc.flush(), WAIT, "member flush");
    counts.push(s.msgs.length);
    for (const m of s.msgs) seen.push(Number(str(m.data)));
  }
  check(seen.length === n, `queue members got ${seen.length} in all (${counts}), want ${n}`);
  seen.sort((a, b) => a - b);
  check(eq(seen, range(n)), "queue group lost or duplicated messages");
  check(counts.every((k) => k > 0), `messages not spread across members: ${counts}`);

  await within(watchNc.flush(), WAIT, "flush");
  check(eq(watcher.msgs.map((m) => Number(str(m.data))), range(n)), "plain subscriber missed messages");
  check(auditors.msgs.length === n, `single-member group got ${auditors.msgs.length}`);
  c.checkNoAsyncErrors();
};

scenarios.request_reply = async (c) => {
  const svc = await c.open();
  svc.subscribe("interop.svc.echo", {
    callback: (err, msg) => {
      if (!err) msg.respond(enc.encode("echo:" + str(msg.data)));
    },
  });
  const answered = [];
  for (const tag of ["a", "b"]) {
    svc.subscribe("interop.svc.q", {
      queue: "svc",
      callback: (err, msg) => {
        answered.push(tag);
        msg.respond(enc.encode(tag));
      },
    });
  }
  await within(svc.flush(), WAIT, "flush");

  const nc = await c.open();
  for (const i of range(20)) {
    const r = await nc.request("interop.svc.echo", enc.encode(`r${i}`), { timeout: WAIT });
    check(str(r.data) === `echo:r${i}`, `reply ${str(r.data)}`);
  }
  const rs = await Promise.all(
    range(50).map((i) => nc.request("interop.svc.echo", enc.encode(`p${i}`), { timeout: WAIT })),
  );
  rs.forEach((r, i) => check(str(r.data) === `echo:p${i}`, `parallel reply ${i}: ${str(r.data)}`));

  // Old-style request: a dedicated inbox subscription per request.
  const r = await nc.request("interop.svc.echo", enc.encode("old"), {
    timeout: WAIT,
    noMux: true,
    reply: createInbox(),
  });
  check(str(r.data) === "echo:old", `noMux reply ${str(r.data)}`);

  for (const _ of range(20)) {
    const q = await nc.request("interop.svc.q", new Uint8Array(0), { timeout: WAIT });
    check(["a", "b"].includes(str(q.data)), `queue reply ${str(q.data)}`);
  }
  await within(svc.flush(), WAIT, "flush");
  check(answered.length === 20, `queue responders answered ${answered.length} times, want 20`);

  // Manual request: publish with an explicit reply inbox.
  const inbox = createInbox();
  const m = collect(nc, inbox);
  nc.publish("interop.svc.echo", enc.encode("manual"), { reply: inbox });
  await within(nc.flush(), WAIT, "flush");
  await within(svc.flush(), WAIT, "flush");
  await within(nc.flush(), WAIT, "flush");
  check(m.msgs.length === 1 && str(m.msgs[0].data) === "echo:manual", "manual reply missing");
  c.checkNoAsyncErrors();
};

scenarios.headers = async (c) => {
  const subNc = await c.open();
  const s = collect(subNc, "interop.hdr");
  const plain = collect(subNc, "interop.nohdr");
  subNc.subscribe("interop.hdr.svc", {
    callback: (err, msg) => {
      const h = headers();
      h.set("X-Reply", "yes");
      h.set("X-Saw", msg.headers ? msg.headers.get("X-Req") : "");
      msg.respond(enc.encode("resp:" + str(msg.data)), { headers: h });
    },
  });
  await within(subNc.flush(), WAIT, "flush");

  const pub = await c.open();
  const h1 = headers();
  h1.set("X-Interop", "yes");
  h1.set("X-Number", "42");
  h1.append("X-Multi", "a");
  h1.append("X-Multi", "b");
  pub.publish("interop.hdr", enc.encode("with headers"), { headers: h1 });
  const h2 = headers();
  h2.set("X-Only", "header");
  pub.publish("interop.hdr", new Uint8Array(0), { headers: h2 });
  const h3 = headers();
  h3.set("X-Spaces", "a b  c");
  pub.publish("interop.hdr", enc.encode("spaces"), { headers: h3 });
  pub.publish("interop.nohdr", enc.encode("plain"));
  await within(pub.flush(), WAIT, "flush");
  await within(subNc.flush(), WAIT, "flush");

  check(s.msgs.length === 3, `received ${s.msgs.length} header messages, want 3`);
  const m0 = s.msgs[0];
  check(m0.headers, "first message has no headers");
  check(m0.headers.get("X-Interop") === "yes", `X-Interop ${m0.headers.get("X-Interop")}`);
  check(m0.headers.get("X-Number") === "42", `X-Number ${m0.headers.get("X-Number")}`);
  check(eq(m0.headers.values("X-Multi"), ["a", "b"]), `X-Multi ${m0.headers.values("X-Multi")}`);
  check(str(m0.data) === "with headers", `payload ${str(m0.data)}`);
  check(s.msgs[1].headers && s.msgs[1].headers.get("X-Only") === "header", "header-only message");
  check(s.msgs[1].data.length === 0, "header-only payload not empty");
  check(s.msgs[2].headers && s.msgs[2].headers.get("X-Spaces") === "a b  c", "header value with spaces");
  check(plain.msgs.length === 1 && !plain.msgs[0].headers, "plain message carries headers");

  const rh = headers();
  rh.set("X-Req", "42");
  const r = await pub.request("interop.hdr.svc", enc.encode("q"), { timeout: WAIT, headers: rh });
  check(str(r.data) === "resp:q", `reply ${str(r.data)}`);
  check(r.headers && r.headers.get("X-Reply") === "yes" && r.headers.get("X-Saw") === "42", "reply headers");
  c.checkNoAsyncErrors();
};

scenarios.no_responders = async (c) => {
  const nc = await c.open();
  for (const noMux of [false, true]) {
    const start = Date.now();
    const opts = noMux ? { timeout: WAIT, noMux: true, reply: createInbox() } : { timeout: WAIT };
    await expectRejects(
      nc.request("interop.nobody.home", enc.encode("anyone?"), opts),
      ErrorCode.NoResponders,
      `request (noMux=${noMux}) with no responders`,
    );
    const elapsed = Date.now() - start;
    check(elapsed < 3000, `no-responders error took ${elapsed} ms (noMux=${noMux})`);
  }

  const svc = await c.open();
  const sub = svc.subscribe("interop.nobody.home", {
    callback: (err, msg) => msg.respond(enc.encode("here")),
  });
  await within(svc.flush(), WAIT, "flush");
  const r = await nc.request("interop.nobody.home", new Uint8Array(0), { timeout: WAIT });
  check(str(r.data) === "here", `reply ${str(r.data)}`);
  sub.unsubscribe();
  await within(svc.flush(), WAIT, "flush");
  await expectRejects(
    nc.request("interop.nobody.home", new Uint8Array(0), { timeout: WAIT }),
    ErrorCode.NoResponders,
    "request after the responder left",
  );
  c.checkNoAsyncErrors();
};

scenarios.flush = async (c) => {
  const nc = await c.open();
  const s = collect(nc, "interop.flush");
  const n = 1000;
  for (const i of range(n)) nc.publish("interop.flush", enc.encode(String(i)));
  await within(nc.flush(), WAIT, "flush");
  // The PONG comes after every message the server routed before it.
  check(s.msgs.length === n, `${s.msgs.length} messages delivered after flush, want ${n}`);
  check(eq(s.msgs.map((m) => Number(str(m.data))), range(n)), "flushed messages out of order");
  for (const _ of range(5)) await within(nc.flush(), WAIT, "flush");
  await within(Promise.all(range(20).map(() => nc.flush())), WAIT, "parallel flushes");
  check(s.msgs.length === n, "extra messages after more flushes");
  c.checkNoAsyncErrors();
};

scenarios.drain = async (c) => {
  const pub = await c.open();
  const subNc = await c.open();
  // An async-iterator subscription that takes a moment per message.
  const sub = subNc.subscribe("interop.drain.sub");
  const processed = [];
  const done = (async () => {
    for await (const m of sub) {
      await new Promise((r) => setImmediate(r));
      processed.push(Number(str(m.data)));
    }
  })();
  await within(subNc.flush(), WAIT, "flush");
  const n = 200;
  for (const i of range(n)) pub.publish("interop.drain.sub", enc.encode(String(i)));
  await within(pub.flush(), WAIT, "flush");
  await within(sub.drain(), WAIT, "subscription drain");
  await within(done, WAIT, "iterator end after drain");
  check(eq(processed, range(n)), `drained subscription processed ${processed.length} of ${n}`);
  check(sub.isClosed(), "subscription not closed after drain");
  for (const _ of range(10)) pub.publish("interop.drain.sub", enc.encode("late"));
  await within(pub.flush(), WAIT, "flush");
  await within(subNc.flush(), WAIT, "flush");
  check(processed.length === n, "drained subscription still receives messages");

  // Draining a connection processes what is in flight, then closes it.
  const dnc = await c.open();
  const dsub = dnc.subscribe("interop.drain.conn");
  const got = [];
  const ddone = (async () => {
    for await (const m of dsub) {
      await new Promise((r) => setImmediate(r));
      got.push(Number(str(m.data)));
    }
  })();
  await within(dnc.flush(), WAIT, "flush");
  for (const i of range(100)) pub.publish("interop.drain.conn", enc.encode(String(i)));
  await within(pub.flush(), WAIT, "flush");
  const closed = dnc.closed();
  await within(dnc.drain(), WAIT, "connection drain");
  const why = await within(closed, WAIT, "closed() after drain");
  check(why === undefined, `closed() resolved with error ${why}`);
  await within(ddone, WAIT, "iterator end after connection drain");
  check(dnc.isClosed(), "connection not closed after drain");
  check(eq(got, range(100)), `connection drain processed ${got.length} of 100`);
  expectError(() => dnc.publish("interop.drain.conn"), ErrorCode.ConnectionClosed, "publish after drain");
  c.checkNoAsyncErrors();
};

scenarios.auto_unsubscribe = async (c) => {
  const pub = await c.open();
  const nc = await c.open();

  // SUB with max (UNSUB sid 5) before any message: the server delivers exactly 5.
  const a = collect(nc, "interop.au.a", { max: 5 });
  await within(nc.flush(), WAIT, "flush");
  for (const i of range(10)) pub.publish("interop.au.a", enc.encode(String(i)));
  await within(pub.flush(), WAIT, "flush");
  await within(nc.flush(), WAIT, "flush");
  check(nc.stats().inMsgs === 5, `server delivered ${nc.stats().inMsgs} messages, want 5`);
  check(eq(a.msgs.map((m) => str(m.data)), ["0", "1", "2", "3", "4"]), "max=5 messages");
  await within(a.sub.closed, WAIT, "subscription closed after max");
  check(a.sub.isClosed(), "subscription not closed after max");

  // Limit set after two messages arrived: the limit counts them, so two more come.
  const before = nc.stats().inMsgs;
  const b = collect(nc, "interop.au.b");
  await within(nc.flush(), WAIT, "flush");
  pub.publish("interop.au.b", enc.encode("0"));
  pub.publish("interop.au.b", enc.encode("1"));
  await within(pub.flush(), WAIT, "flush");
  await within(nc.flush(), WAIT, "flush");
  check(b.msgs.length === 2, `got ${b.msgs.length} before the limit, want 2`);
  b.sub.unsubscribe(4);
  await within(nc.flush(), WAIT, "flush");
  for (const i of range(10, 2)) pub.publish("interop.au.b", enc.encode(String(i)));
  await within(pub.flush(), WAIT, "flush");
  await within(nc.flush(), WAIT, "flush");
  const delivered = nc.stats().inMsgs - before;
  check(delivered === 4, `server delivered ${delivered} on interop.au.b, want 4`);
  check(eq(b.msgs.map((m) => str(m.data)), ["0", "1", "2", "3"]), "limit after two messages");
  c.checkNoAsyncErrors();
};

scenarios.large_payloads = async (c) => {
  const subNc = await c.open();
  const pub = await c.open();
  check(pub.info.max_payload === MAX_PAYLOAD, `max_payload ${pub.info.max_payload}`);
  const s = collect(subNc, "interop.big");
  subNc.subscribe("interop.big.echo", { callback: (err, msg) => msg.respond(msg.data) });
  await within(subNc.flush(), WAIT, "flush");

  const sizes = [512 * 1024, MAX_PAYLOAD - 100, MAX_PAYLOAD];
  const payloads = sizes.map((size, k) => {
    const p = new Uint8Array(size);
    for (let i = 0; i < size; i++) p[i] = (i * 7 + k) % 251;
    return p;
  });
  for (const p of payloads) pub.publish("interop.big", p);
  await within(pub.flush(), WAIT, "flush");
  await within(subNc.flush(), WAIT, "flush");
  check(s.msgs.length === payloads.length, `received ${s.msgs.length} large messages`);
  payloads.forEach((p, k) => {
    const got = s.msgs[k].data;
    check(got.length === p.length, `payload ${k}: ${got.length} bytes, want ${p.length}`);
    check(Buffer.from(got).equals(Buffer.from(p)), `payload ${k} of ${p.length} bytes corrupted`);
  });

  const r = await pub.request("interop.big.echo", payloads[0], { timeout: WAIT });
  check(Buffer.from(r.data).equals(Buffer.from(payloads[0])), "512 KiB request/reply corrupted");

  expectError(
    () => pub.publish("interop.big", new Uint8Array(MAX_PAYLOAD + 1)),
    ErrorCode.MaxPayloadExceeded,
    "publishing max_payload+1 bytes",
  );
  pub.publish("interop.big", enc.encode("small"));
  await within(pub.flush(), WAIT, "flush");
  await within(subNc.flush(), WAIT, "flush");
  check(s.msgs.length === payloads.length + 1 && str(s.msgs[payloads.length].data) === "small", "after oversize");
  c.checkNoAsyncErrors();
};

scenarios.reconnect = async (c) => {
  const nc = await c.open({
    reconnect: true,
    reconnectTimeWait: 100,
    reconnectJitter: 0,
    maxReconnectAttempts: 300,
  });
  let disconnected;
  let reconnected;
  const sawDisconnect = new Promise((r) => (disconnected = r));
  const sawReconnect = new Promise((r) => (reconnected = r));
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) disconnected();
      if (s.type === Events.Reconnect) reconnected();
    }
  })().catch(() => {});

  const s = collect(nc, "interop.rc");
  const q = collect(nc, "interop.rc.q", { queue: "rcq" });
  nc.subscribe("interop.rc.svc", { callback: (err, msg) => msg.respond(enc.encode("still here")) });
  nc.publish("interop.rc", enc.encode("before"));
  await within(nc.flush(), WAIT, "flush");
  check(s.msgs.length === 1 && str(s.msgs[0].data) === "before", "before restart");

  console.log("READY");
  await within(sawDisconnect, WAIT, "disconnect event");
  await within(sawReconnect, 20000, "reconnect event");
  // Our re-sent SUBs are processed once this round trip completes.
  await within(nc.flush(), WAIT, "flush after reconnect");

  const other = await c.open();
  other.publish("interop.rc", enc.encode("after"));
  other.publish("interop.rc.q", enc.encode("queued"));
  await within(other.flush(), WAIT, "flush");
  await within(nc.flush(), WAIT, "flush");
  check(s.msgs.length === 2 && str(s.msgs[1].data) === "after", "subscription after restart");
  check(q.msgs.length === 1 && str(q.msgs[0].data) === "queued", "queue subscription after restart");
  const r = await other.request("interop.rc.svc", new Uint8Array(0), { timeout: WAIT });
  check(str(r.data) === "still here", `service after restart replied ${str(r.data)}`);
  nc.publish("interop.rc", enc.encode("mine"));
  await within(nc.flush(), WAIT, "flush");
  check(s.msgs.length === 3 && str(s.msgs[2].data) === "mine", "own publish after restart");
};

// ---- authentication and authorization --------------------------------------------------------

function env(name) {
  const value = process.env[name];
  check(value, `environment variable ${name} is not set (tests/interop.rs sets it)`);
  return value;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(cond, what) {
  const deadline = Date.now() + WAIT;
  while (!cond()) {
    check(Date.now() < deadline, `timed out after ${WAIT} ms: ${what}`);
    await sleep(10);
  }
}

// A message published on nc reaches nc's own subscription.
async function roundTrip(nc, subject) {
  const s = collect(nc, subject);
  nc.publish(subject, enc.encode("round trip"));
  await within(nc.flush(), WAIT, `flush (${subject})`);
  check(s.msgs.length === 1 && str(s.msgs[0].data) === "round trip", `round trip on ${subject} failed`);
  s.sub.unsubscribe();
}

// Connecting with these options must fail with the server's authorization error.
async function expectAuthFailure(c, what, opts = {}) {
  let nc;
  try {
    nc = await within(
      connect({ servers: c.url, timeout: 5000, reconnect: false, ...opts }),
      WAIT,
      `${what}: connect`,
    );
  } catch (err) {
    if (err instanceof Failure) throw err;
    check(
      err.code === ErrorCode.AuthorizationViolation && err.message.includes("'Authorization Violation'"),
      `${what}: connect failed with ${err.code} (${err.message}), want ${ErrorCode.AuthorizationViolation}`,
    );
    return;
  }
  await nc.close();
  throw new Failure(`${what}: connect succeeded, want an authorization violation`);
}

// nats.js takes credentials only as options (it ignores any in the server URL).
scenarios.auth_user_password = async (c) => {
  const user = env("INTEROP_USER");
  const pass = env("INTEROP_PASS");
  const a = await c.open({ user, pass });
  const b = await c.open({ user, pass });
  await roundTrip(a, "interop.auth.a");
  const s = collect(b, "interop.auth.cross");
  await within(b.flush(), WAIT, "flush");
  a.publish("interop.auth.cross", enc.encode("across"));
  await within(a.flush(), WAIT, "flush");
  await within(b.flush(), WAIT, "flush");
  check(s.msgs.length === 1 && str(s.msgs[0].data) === "across", "cross-connection message missing");

  await expectAuthFailure(c, "wrong password", { user, pass: pass + "x" });
  await expectAuthFailure(c, "unknown user", { user: user + "x", pass });
  await expectAuthFailure(c, "token instead of user/password", { token: pass });
  await expectAuthFailure(c, "no credentials");

  // The rejected attempts did not disturb the authenticated connections.
  await roundTrip(a, "interop.auth.a.after");
  await roundTrip(b, "interop.auth.b.after");
  c.checkNoAsyncErrors();
};

scenarios.auth_token = async (c) => {
  const token = env("INTEROP_TOKEN");
  const nc = await c.open({ token });
  await roundTrip(nc, "interop.auth.token");

  await expectAuthFailure(c, "wrong token", { token: token + "x" });
  await expectAuthFailure(c, "user/password instead of the token", { user: token, pass: token });
  await expectAuthFailure(c, "no credentials");

  await roundTrip(nc, "interop.auth.token.after");
  c.checkNoAsyncErrors();
};

scenarios.auth_nkey = async (c) => {
  const seed = env("INTEROP_NKEY_SEED");
  const nc = await c.open({ authenticator: nkeyAuthenticator(enc.encode(seed)) });
  await roundTrip(nc, "interop.auth.nkey");

  const other = nkeys.createUser().getSeed();
  await expectAuthFailure(c, "a different seed", { authenticator: nkeyAuthenticator(other) });
  await expectAuthFailure(c, "no credentials");

  await roundTrip(nc, "interop.auth.nkey.after");
  c.checkNoAsyncErrors();
};

// The server configuration (tests/interop.rs, permissions_conf) gives the limited user:
// publish ["perm.pub.>", "perm.both"]; subscribe allow ["perm.sub.>", "perm.both", "perm.svc"],
// deny ["perm.sub.secret"]; allow_responses. The admin user may do anything.
scenarios.auth_permissions = async (c) => {
  const flush = (nc) => within(nc.flush(), WAIT, "flush");
  // Take the collected messages, as "subject payload" strings.
  const seen = (msgs) =>
    msgs.splice(0).map((m) => (m.error ? `error ${m.error.message}` : `${m.subject} ${str(m.data)}`));
  const admin = await c.open({ user: env("INTEROP_ADMIN_USER"), pass: env("INTEROP_ADMIN_PASS") });
  const events = [];
  const lim = await c.open({ user: env("INTEROP_USER"), pass: env("INTEROP_PASS") }, (s) => events.push(s));
  const watch = collect(admin, "perm.>");
  await flush(admin);

  // Permitted subscriptions and publications work.
  const sub = collect(lim, "perm.sub.>");
  const both = collect(lim, "perm.both");
  await flush(lim);
  admin.publish("perm.sub.a", enc.encode("to limited"));
  await flush(admin);
  lim.publish("perm.pub.a", enc.encode("from limited"));
  lim.publish("perm.both", enc.encode("both ways"));
  await flush(lim);
  await flush(admin);
  let got = seen(sub.msgs);
  check(eq(got, ["perm.sub.a to limited"]), `limited got ${got}`);
  got = seen(both.msgs);
  check(eq(got, ["perm.both both ways"]), `limited's own message: ${got}`);
  got = seen(watch.msgs);
  const want = ["perm.sub.a to limited", "perm.pub.a from limited", "perm.both both ways"];
  check(eq(got, want), `admin saw ${got}, want ${want}`);
  check(events.length === 0, `errors for permitted operations: ${JSON.stringify(events)}`);

  // A forbidden publish: an error status event naming the subject (which nats.js parses out of
  // 'Permissions Violation for Publish to "perm.forbidden"'), nothing delivered, still connected.
  const isViolation = (e, operation, subject) =>
    e.data === ErrorCode.PermissionsViolation &&
    e.permissionContext &&
    e.permissionContext.operation === operation &&
    e.permissionContext.subject === subject;
  lim.publish("perm.forbidden", enc.encode("nope"));
  await flush(lim);
  await waitUntil(
    () => events.some((e) => isViolation(e, "publish", "perm.forbidden")),
    "publish violation event",
  );
  check(!lim.isClosed(), "limited connection closed after a forbidden publish");
  lim.publish("perm.pub.b", enc.encode("still allowed"));
  await flush(lim);
  await flush(admin);
  got = seen(watch.msgs);
  check(eq(got, ["perm.pub.b still allowed"]), `after the forbidden publish admin saw ${got}`);

  // A forbidden subscription: its callback gets the server's error and it is closed; a denied
  // subject inside an allowed wildcard is refused too, and filtered out of the wildcard's
  // deliveries.
  const other = collect(lim, "perm.other");
  const secret = collect(lim, "perm.sub.secret");
  await flush(lim);
  await waitUntil(() => other.msgs.length > 0 && secret.msgs.length > 0, "subscription violations");
  for (const [s, subject] of [[other, "perm.other"], [secret, "perm.sub.secret"]]) {
    const errs = s.msgs.filter((m) => m.error).map((m) => m.error);
    const text = `Permissions Violation for Subscription to "${subject}"`;
    check(
      errs.length === 1 && errs[0].code === ErrorCode.PermissionsViolation && errs[0].message.includes(text),
      `subscription to ${subject}: errors ${errs.map((e) => `${e.code} ${e.message}`)}, want ${text}`,
    );
    check(s.sub.isClosed(), `subscription to ${subject} not closed after the violation`);
    s.msgs.splice(0);
  }
  await waitUntil(
    () =>
      events.some((e) => isViolation(e, "subscription", "perm.other")) &&
      events.some((e) => isViolation(e, "subscription", "perm.sub.secret")),
    "subscription violation events",
  );
  check(!lim.isClosed(), "limited connection closed after a forbidden subscription");
  admin.publish("perm.other", enc.encode("x"));
  admin.publish("perm.sub.secret", enc.encode("secret"));
  admin.publish("perm.sub.b", enc.encode("open"));
  await flush(admin);
  await flush(lim);
  check(other.msgs.length === 0 && secret.msgs.length === 0, "a refused subscription received messages");
  check(lim.stats().inMsgs === 3, `limited received ${lim.stats().inMsgs} messages in all, want 3`);
  got = seen(sub.msgs);
  check(eq(got, ["perm.sub.b open"]), `wildcard subscription got ${got}, want only perm.sub.b`);

  // allow_responses: the limited user may answer a request although the reply subject is
  // outside its publish permissions.
  lim.subscribe("perm.svc", { callback: (err, msg) => !err && msg.respond(enc.encode("answer")) });
  await flush(lim);
  const r = await admin.request("perm.svc", enc.encode("question"), { timeout: WAIT });
  check(str(r.data) === "answer", `reply ${str(r.data)}`);
  await roundTrip(lim, "perm.both");

  check(events.length === 3, `limited connection error events: ${JSON.stringify(events)}, want 3`);
  check(!lim.isClosed() && !admin.isClosed(), "a connection closed");
  c.checkNoAsyncErrors();
};

// ---- TLS ---------------------------------------------------------------------------------------

// nats.js options for a TLS connection that trusts the test CA, optionally with a client
// certificate from the given environment variables (cert, key).
function tlsOpts(certVar, keyVar, extra = {}) {
  const tls = { caFile: env("INTEROP_TLS_CA"), ...extra };
  if (certVar) {
    tls.certFile = env(certVar);
    tls.keyFile = env(keyVar);
  }
  return { tls };
}

// The connection runs over TLS: the server's INFO asked for it and the socket is a TLS socket.
function checkTls(nc, verify) {
  check(nc.info.tls_required === true, `INFO tls_required ${nc.info.tls_required}`);
  check(
    verify ? nc.info.tls_verify === true : !nc.info.tls_verify,
    `INFO tls_verify ${nc.info.tls_verify}, want ${verify}`,
  );
  const transport = nc.protocol && nc.protocol.transport;
  check(transport && transport.isEncrypted() === true, "the connection is not encrypted");
}

// Publish/subscribe, headers, request/reply and max_payload messages between two TLS
// connections, in both directions.
async function tlsTraffic(a, b, tag) {
  const flush = (nc) => within(nc.flush(), WAIT, "flush");
  const subject = `interop.tls.${tag}`;
  const s = collect(b, subject);
  b.subscribe(`${subject}.svc`, {
    callback: (err, msg) => {
      if (err) return;
      const data = new Uint8Array(5 + msg.data.length);
      data.set(enc.encode("echo:"));
      data.set(msg.data, 5);
      msg.respond(data, msg.headers ? { headers: msg.headers } : undefined);
    },
  });
  await flush(b);

  const n = 100;
  for (const i of range(n)) a.publish(subject, enc.encode(`m${i}`));
  const h = headers();
  h.set("X-Tls", tag);
  a.publish(subject, enc.encode("with headers"), { headers: h });
  await flush(a);
  await flush(b);
  check(s.msgs.length === n + 1, `${tag}: received ${s.msgs.length} messages, want ${n + 1}`);
  const got = s.msgs.slice(0, n).map((m) => str(m.data));
  check(eq(got, range(n).map((i) => `m${i}`)), `${tag}: messages out of order`);
  const hm = s.msgs[n];
  check(hm.headers && hm.headers.get("X-Tls") === tag, `${tag}: headers missing`);
  s.msgs.splice(0);

  for (const i of range(10)) {
    const r = await a.request(`${subject}.svc`, enc.encode(`r${i}`), { timeout: WAIT });
    check(str(r.data) === `echo:r${i}`, `${tag}: reply ${str(r.data)}`);
  }
  const resps = await Promise.all(
    range(30).map((i) => a.request(`${subject}.svc`, enc.encode(`p${i}`), { timeout: WAIT })),
  );
  resps.forEach((r, i) => check(str(r.data) === `echo:p${i}`, `${tag}: parallel reply ${i}: ${str(r.data)}`));
  const rh = headers();
  rh.set("X-Req", "1");
  const hr = await a.request(`${subject}.svc`, enc.encode("h"), { timeout: WAIT, headers: rh });
  check(str(hr.data) === "echo:h" && hr.headers && hr.headers.get("X-Req") === "1", `${tag}: reply with headers`);

  // A message of max_payload bytes spans many TLS records.
  const big = new Uint8Array(MAX_PAYLOAD);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) % 251;
  a.publish(subject, big);
  await flush(a);
  await flush(b);
  check(
    s.msgs.length === 1 && Buffer.compare(Buffer.from(s.msgs[0].data), Buffer.from(big)) === 0,
    `${tag}: ${big.length}-byte message lost or corrupted`,
  );
  s.msgs.splice(0);
  const part = big.subarray(0, MAX_PAYLOAD - 5);
  const br = await a.request(`${subject}.svc`, part, { timeout: WAIT });
  check(
    br.data.length === MAX_PAYLOAD &&
      str(br.data.subarray(0, 5)) === "echo:" &&
      Buffer.compare(Buffer.from(br.data.subarray(5)), Buffer.from(part)) === 0,
    `${tag}: large request/reply corrupted`,
  );

  // The other direction.
  const back = collect(a, `${subject}.back`);
  await flush(a);
  b.publish(`${subject}.back`, enc.encode("back"));
  await flush(b);
  await flush(a);
  check(back.msgs.length === 1 && str(back.msgs[0].data) === "back", `${tag}: reverse message missing`);
  s.sub.unsubscribe();
  back.sub.unsubscribe();
}

// Connecting with these options must fail promptly (not by timing out). With `wantCode`, the
// error (or the error it wraps) must carry that code, e.g. one of Node's certificate errors.
async function expectTlsFailure(c, what, opts, wantCode) {
  const start = Date.now();
  let nc;
  try {
    nc = await within(
      connect({ servers: c.url, timeout: 5000, reconnect: false, ...opts }),
      WAIT,
      `${what}: connect`,
    );
  } catch (err) {
    if (err instanceof Failure) throw err;
    const elapsed = Date.now() - start;
    const codes = [err.code, err.chainedError && err.chainedError.code];
    console.error(`${what}: connect failed as expected: ${codes} (${err.message}) after ${elapsed} ms`);
    check(err.code !== ErrorCode.Timeout, `${what}: connect timed out, want a refusal`);
    check(
      !wantCode || codes.includes(wantCode),
      `${what}: connect failed with ${codes} (${err.message}), want ${wantCode}`,
    );
    check(elapsed < 4000, `${what}: the refusal took ${elapsed} ms`);
    return;
  }
  await nc.close();
  throw new Failure(`${what}: connect succeeded, want a TLS failure`);
}

scenarios.tls = async (c) => {
  const a = await c.open(tlsOpts());
  const b = await c.open(tlsOpts(null, null, { servername: "localhost" }));
  checkTls(a, false);
  checkTls(b, false);
  await tlsTraffic(a, b, "a");

  // The client rejects the server's certificate when it does not trust the test CA, or when it
  // expects another name.
  await expectTlsFailure(c, "no trusted CA", { tls: {} }, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
  await expectTlsFailure(
    c,
    "wrong server name",
    tlsOpts(null, null, { servername: "wrong.example" }),
    "ERR_TLS_CERT_ALTNAME_INVALID",
  );

  // The refused attempts did not disturb the established connections.
  await roundTrip(a, "interop.tls.after.a");
  await roundTrip(b, "interop.tls.after.b");
  await tlsTraffic(b, a, "b");
  c.checkNoAsyncErrors();
};

scenarios.tls_client_cert = async (c) => {
  const a = await c.open(tlsOpts("INTEROP_TLS_CERT", "INTEROP_TLS_KEY"));
  const b = await c.open(tlsOpts("INTEROP_TLS_CERT", "INTEROP_TLS_KEY"));
  checkTls(a, true);
  checkTls(b, true);
  await tlsTraffic(a, b, "a");

  // Without a client certificate, or with one signed by a CA the server does not trust, the
  // server refuses the connection.
  await expectTlsFailure(c, "no client certificate", tlsOpts());
  await expectTlsFailure(
    c,
    "certificate from an untrusted CA",
    tlsOpts("INTEROP_TLS_ROGUE_CERT", "INTEROP_TLS_ROGUE_KEY"),
  );
  // Nor does the client accept the server without the test CA.
  await expectTlsFailure(
    c,
    "no trusted CA",
    { tls: { certFile: env("INTEROP_TLS_CERT"), keyFile: env("INTEROP_TLS_KEY") } },
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  );

  await roundTrip(a, "interop.tls.after.a");
  await roundTrip(b, "interop.tls.after.b");
  await tlsTraffic(b, a, "b");
  c.checkNoAsyncErrors();
};

function genNkey() {
  const kp = nkeys.createUser();
  console.log(`SEED ${dec.decode(kp.getSeed())}`);
  console.log(`PUBLIC ${kp.getPublicKey()}`);
}

async function main() {
  const [name, url] = process.argv.slice(2);
  if (name === "gen_nkey" && url === "-") {
    genNkey();
    process.exit(0);
  }
  if (!name || !url || !scenarios[name]) {
    console.error(`usage: node interop_client.js {${Object.keys(scenarios).join("|")}} URL`);
    process.exit(2);
  }
  const version = require("nats/package.json").version;
  const c = new Conns(url);
  try {
    await within(scenarios[name](c), OVERALL, `scenario ${name}`);
  } catch (err) {
    if (!(err instanceof Failure)) console.error(err);
    console.error(`FAIL node/${name}: ${err.message}`);
    process.exit(1);
  }
  try {
    await within(c.closeAll(), WAIT, "close");
  } catch (_) {
    // closing is not part of the scenario
  }
  console.log(`PASS node/${name} (nats.js ${version})`);
  process.exit(0);
}

main();
