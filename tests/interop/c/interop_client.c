/*
 * Interop scenarios for the NATS C client (libnats, Debian's libnats-dev), run by
 * tests/interop.rs, which compiles this file with gcc and `pkg-config --cflags --libs libnats`.
 *
 * Usage: interop_client SCENARIO URL
 *
 * Prints "PASS c/SCENARIO" and exits 0 on success; prints "FAIL c/SCENARIO: why" to stderr and
 * exits non-zero on any failure. Every wait is bounded, and an alarm ends the process if a
 * scenario as a whole takes too long. The reconnect scenario prints "READY" on its own line once
 * the test harness may restart the server.
 *
 * The auth_* scenarios take their credentials from environment variables set by the harness
 * (INTEROP_USER, INTEROP_PASS, INTEROP_TOKEN, INTEROP_ADMIN_USER, INTEROP_ADMIN_PASS); the
 * server is started with the matching flags or configuration file.
 *
 * The tls* scenarios take the test certificates' paths from INTEROP_TLS_CA (the CA the server's
 * certificate is signed by), INTEROP_TLS_CERT / INTEROP_TLS_KEY (a client certificate signed by
 * that CA) and INTEROP_TLS_ROGUE_CERT / INTEROP_TLS_ROGUE_KEY (one signed by a CA the server does
 * not trust). "tls" runs against a server with TLS but without client verification,
 * "tls_client_cert" against one that requires client certificates signed by INTEROP_TLS_CA.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#define WAIT_MS 10000      /* upper bound for any single wait */
#define OVERALL_SECS 30    /* upper bound for a whole scenario */
#define MAX_PAYLOAD (1024 * 1024)

static const char *scenario = "?";
static const char *url = NULL;

static void fail(int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL c/%s: ", scenario);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (interop_client.c:%d)\n", line);
    nats_PrintLastErrorStack(stderr);
    fflush(stderr);
    _exit(1);
}

#define CHECK(cond, ...)                        \
    do {                                        \
        if (!(cond))                            \
            fail(__LINE__, __VA_ARGS__);        \
    } while (0)

#define OK(call)                                                                   \
    do {                                                                           \
        natsStatus s_ = (call);                                                    \
        if (s_ != NATS_OK)                                                         \
            fail(__LINE__, "%s returned %s", #call, natsStatus_GetText(s_));      \
    } while (0)

#define EXPECT_STATUS(call, want)                                                  \
    do {                                                                           \
        natsStatus s_ = (call);                                                    \
        if (s_ != (want))                                                          \
            fail(__LINE__, "%s returned %s, want %s", #call, natsStatus_GetText(s_), \
                 natsStatus_GetText(want));                                        \
    } while (0)

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL c: scenario timed out\n";
    ssize_t r = write(2, msg, sizeof(msg) - 1);
    (void)r;
    _exit(3);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a tiny event latch (mutex + condition variable) with a bounded wait ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
} latch;

static void latch_init(latch *l)
{
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->count = 0;
}

static void latch_add(latch *l)
{
    pthread_mutex_lock(&l->mu);
    l->count++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static int latch_get(latch *l)
{
    pthread_mutex_lock(&l->mu);
    int c = l->count;
    pthread_mutex_unlock(&l->mu);
    return c;
}

/* Wait until the count reaches `want`; returns 0 on timeout. */
static int latch_wait(latch *l, int want, int64_t timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    while (l->count < want && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&l->cv, &l->mu, &deadline);
    int ok = l->count >= want;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

/* ---- connections ---- */

static latch async_errors;

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    fprintf(stderr, "async error: %s\n", natsStatus_GetText(err));
    latch_add(&async_errors);
}

static natsOptions *base_opts(void)
{
    natsOptions *o = NULL;
    OK(natsOptions_Create(&o));
    OK(natsOptions_SetURL(o, url));
    OK(natsOptions_SetTimeout(o, 5000));
    OK(natsOptions_SetAllowReconnect(o, false));
    OK(natsOptions_SetErrorHandler(o, on_async_error, NULL));
    return o;
}

static natsConnection *connect_with(natsOptions *o)
{
    natsConnection *nc = NULL;
    OK(natsConnection_Connect(&nc, o));
    natsOptions_Destroy(o);
    return nc;
}

static natsConnection *open_conn(void)
{
    return connect_with(base_opts());
}

static void flush(natsConnection *nc)
{
    OK(natsConnection_FlushTimeout(nc, WAIT_MS));
}

static void finish(natsConnection *nc)
{
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
}

static void check_no_async_errors(void)
{
    CHECK(latch_get(&async_errors) == 0, "library reported %d async errors", latch_get(&async_errors));
}

/* Number of messages already delivered to a synchronous subscription. */
static int pending(natsSubscription *sub)
{
    int msgs = 0, bytes = 0;
    OK(natsSubscription_GetPending(sub, &msgs, &bytes));
    return msgs;
}

static natsMsg *next(natsSubscription *sub)
{
    natsMsg *m = NULL;
    OK(natsSubscription_NextMsg(&m, sub, WAIT_MS));
    return m;
}

static int data_is(natsMsg *m, const char *s)
{
    int n = natsMsg_GetDataLength(m);
    return n == (int)strlen(s) && memcmp(natsMsg_GetData(m), s, n) == 0;
}

static int data_int(natsMsg *m)
{
    char buf[32];
    int n = natsMsg_GetDataLength(m);
    if (n <= 0 || n >= (int)sizeof(buf))
        return -1;
    memcpy(buf, natsMsg_GetData(m), n);
    buf[n] = 0;
    return atoi(buf);
}

static void pub_str(natsConnection *nc, const char *subj, const char *s)
{
    OK(natsConnection_PublishString(nc, subj, s));
}

static void pub_int(natsConnection *nc, const char *subj, int i)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", i);
    pub_str(nc, subj, buf);
}

static uint64_t in_msgs(natsConnection *nc)
{
    natsStatistics *st = NULL;
    uint64_t in = 0, inb = 0, out = 0, outb = 0, rc = 0;
    OK(natsStatistics_Create(&st));
    OK(natsConnection_GetStats(nc, st));
    OK(natsStatistics_GetCounts(st, &in, &inb, &out, &outb, &rc));
    natsStatistics_Destroy(st);
    return in;
}

/* ---- responders (asynchronous subscriptions) ---- */

static void echo_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    const char *prefix = closure ? (const char *)closure : "";
    int plen = (int)strlen(prefix), n = natsMsg_GetDataLength(msg);
    char *buf = malloc(plen + n + 1);
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, natsMsg_GetData(msg), n);
    if (natsMsg_GetReply(msg))
        natsConnection_Publish(nc, natsMsg_GetReply(msg), buf, plen + n);
    free(buf);
    natsMsg_Destroy(msg);
}

/* ---------------------------------------------------------------------------------------- */

static void scenario_connect(void)
{
    natsOptions *o = base_opts();
    OK(natsOptions_SetName(o, "interop-c"));
    natsConnection *nc = connect_with(o);
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED, "not connected");
    CHECK(natsConnection_GetMaxPayload(nc) == MAX_PAYLOAD, "max_payload %lld",
          (long long)natsConnection_GetMaxPayload(nc));
    OK(natsConnection_HasHeaderSupport(nc));
    uint64_t cid = 0;
    OK(natsConnection_GetClientID(nc, &cid));
    CHECK(cid > 0, "client id 0");
    char sid[256];
    OK(natsConnection_GetConnectedServerId(nc, sid, sizeof(sid)));
    CHECK(strlen(sid) > 0, "empty server id");
    int64_t rtt = -1;
    OK(natsConnection_GetRTT(nc, &rtt));
    CHECK(rtt >= 0, "negative rtt");
    flush(nc);

    /* Verbose and pedantic mode: the server acknowledges every command with +OK. */
    o = base_opts();
    OK(natsOptions_SetVerbose(o, true));
    OK(natsOptions_SetPedantic(o, true));
    natsConnection *vc = connect_with(o);
    natsSubscription *vs = NULL;
    OK(natsConnection_SubscribeSync(&vs, vc, "interop.verbose"));
    pub_str(vc, "interop.verbose", "v");
    flush(vc);
    natsMsg *m = next(vs);
    CHECK(data_is(m, "v"), "verbose connection got the wrong message");
    natsMsg_Destroy(m);
    natsSubscription_Destroy(vs);
    finish(vc);

    natsConnection_Close(nc);
    CHECK(natsConnection_IsClosed(nc), "not closed after close");
    EXPECT_STATUS(natsConnection_PublishString(nc, "interop.after.close", "x"), NATS_CONNECTION_CLOSED);
    natsConnection_Destroy(nc);
    check_no_async_errors();
}

static void scenario_pubsub(void)
{
    natsConnection *sub_nc = open_conn(), *pub = open_conn();
    natsSubscription *sub = NULL;
    OK(natsConnection_SubscribeSync(&sub, sub_nc, "interop.pubsub"));
    flush(sub_nc);

    const int n = 100;
    char buf[64];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "msg-%d", i);
        pub_str(pub, "interop.pubsub", buf);
    }
    OK(natsConnection_PublishRequest(pub, "interop.pubsub", "interop.reply.to", NULL, 0));
    pub_str(pub, "interop.other", "not for us");
    flush(pub);
    flush(sub_nc);

    CHECK(pending(sub) == n + 1, "%d messages delivered, want %d", pending(sub), n + 1);
    for (int i = 0; i < n; i++) {
        natsMsg *m = next(sub);
        snprintf(buf, sizeof(buf), "msg-%d", i);
        CHECK(strcmp(natsMsg_GetSubject(m), "interop.pubsub") == 0, "subject %s", natsMsg_GetSubject(m));
        CHECK(data_is(m, buf), "message %d out of order or wrong", i);
        CHECK(natsMsg_GetReply(m) == NULL || natsMsg_GetReply(m)[0] == 0, "unexpected reply subject");
        natsMsg_Destroy(m);
    }
    natsMsg *m = next(sub);
    CHECK(natsMsg_GetDataLength(m) == 0, "empty payload came back with %d bytes", natsMsg_GetDataLength(m));
    CHECK(natsMsg_GetReply(m) && strcmp(natsMsg_GetReply(m), "interop.reply.to") == 0, "reply subject");
    natsMsg_Destroy(m);

    /* Echo: a connection receives its own messages by default. */
    natsSubscription *own = NULL;
    OK(natsConnection_SubscribeSync(&own, pub, "interop.echo"));
    pub_str(pub, "interop.echo", "self");
    flush(pub);
    m = next(own);
    CHECK(data_is(m, "self"), "echo payload");
    natsMsg_Destroy(m);
    natsSubscription_Destroy(own);

    /* After unsubscribe nothing more arrives. */
    OK(natsSubscription_Unsubscribe(sub));
    flush(sub_nc);
    uint64_t before = in_msgs(sub_nc);
    pub_str(pub, "interop.pubsub", "after unsubscribe");
    flush(pub);
    flush(sub_nc);
    CHECK(in_msgs(sub_nc) == before, "server still delivered after unsubscribe");
    natsSubscription_Destroy(sub);
    finish(pub);
    finish(sub_nc);
    check_no_async_errors();
}

static void scenario_wildcards(void)
{
    natsConnection *nc = open_conn(), *pub = open_conn();
    const char *patterns[] = {"w.*.x", "w.>", "*.a.*", "w.a.>", ">"};
    const char *published[] = {"w.a.x", "w.b.x", "w.a.y", "w.a.b.c", "w", "w.a", "other.a.x", "w.a.x.y", "x.a"};
    const char *expected[][10] = {
        {"w.a.x", "w.b.x", NULL},
        {"w.a.x", "w.b.x", "w.a.y", "w.a.b.c", "w.a", "w.a.x.y", NULL},
        {"w.a.x", "w.a.y", "other.a.x", NULL},
        {"w.a.x", "w.a.y", "w.a.b.c", "w.a.x.y", NULL},
        {"w.a.x", "w.b.x", "w.a.y", "w.a.b.c", "w", "w.a", "other.a.x", "w.a.x.y", "x.a", NULL},
    };
    const int np = sizeof(patterns) / sizeof(patterns[0]);
    const int npub = sizeof(published) / sizeof(published[0]);
    natsSubscription *subs[5];
    for (int p = 0; p < np; p++)
        OK(natsConnection_SubscribeSync(&subs[p], nc, patterns[p]));
    flush(nc);
    for (int i = 0; i < npub; i++)
        pub_str(pub, published[i], published[i]);
    flush(pub);
    flush(nc);
    for (int p = 0; p < np; p++) {
        int want = 0;
        while (expected[p][want])
            want++;
        CHECK(pending(subs[p]) == want, "subscription %s got %d messages, want %d", patterns[p],
              pending(subs[p]), want);
        for (int k = 0; k < want; k++) {
            natsMsg *m = next(subs[p]);
            CHECK(strcmp(natsMsg_GetSubject(m), expected[p][k]) == 0, "subscription %s: message %d is %s, want %s",
                  patterns[p], k, natsMsg_GetSubject(m), expected[p][k]);
            CHECK(data_is(m, expected[p][k]), "payload for %s", expected[p][k]);
            natsMsg_Destroy(m);
        }
        natsSubscription_Destroy(subs[p]);
    }
    finish(pub);
    finish(nc);
    check_no_async_errors();
}

static void scenario_queue_groups(void)
{
    enum { MEMBERS = 3, N = 300 };
    natsConnection *conns[MEMBERS];
    natsSubscription *subs[MEMBERS];
    for (int i = 0; i < MEMBERS; i++) {
        conns[i] = open_conn();
        OK(natsConnection_QueueSubscribeSync(&subs[i], conns[i], "interop.jobs", "workers"));
        flush(conns[i]);
    }
    natsConnection *watch = open_conn();
    natsSubscription *watcher = NULL, *auditors = NULL;
    OK(natsConnection_SubscribeSync(&watcher, watch, "interop.jobs"));
    OK(natsConnection_QueueSubscribeSync(&auditors, watch, "interop.jobs", "auditors"));
    flush(watch);

    natsConnection *pub = open_conn();
    for (int i = 0; i < N; i++)
        pub_int(pub, "interop.jobs", i);
    flush(pub);

    int seen[N] = {0}, counts[MEMBERS], total = 0;
    for (int i = 0; i < MEMBERS; i++) {
        flush(conns[i]);
        counts[i] = pending(subs[i]);
        for (int k = 0; k < counts[i]; k++) {
            natsMsg *m = next(subs[i]);
            int v = data_int(m);
            CHECK(v >= 0 && v < N, "bad payload");
            seen[v]++;
            total++;
            natsMsg_Destroy(m);
        }
    }
    CHECK(total == N, "queue members got %d messages in all (%d/%d/%d), want %d", total, counts[0], counts[1],
          counts[2], N);
    for (int v = 0; v < N; v++)
        CHECK(seen[v] == 1, "message %d delivered %d times to the group", v, seen[v]);
    for (int i = 0; i < MEMBERS; i++)
        CHECK(counts[i] > 0, "messages not spread across members: %d/%d/%d", counts[0], counts[1], counts[2]);

    flush(watch);
    CHECK(pending(watcher) == N, "plain subscriber got %d, want %d", pending(watcher), N);
    for (int v = 0; v < N; v++) {
        natsMsg *m = next(watcher);
        CHECK(data_int(m) == v, "plain subscriber: message %d out of order", v);
        natsMsg_Destroy(m);
    }
    CHECK(pending(auditors) == N, "single-member group got %d, want %d", pending(auditors), N);

    natsSubscription_Destroy(watcher);
    natsSubscription_Destroy(auditors);
    for (int i = 0; i < MEMBERS; i++) {
        natsSubscription_Destroy(subs[i]);
        finish(conns[i]);
    }
    finish(watch);
    finish(pub);
    check_no_async_errors();
}

static latch answered;

static void tag_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    latch_add(&answered);
    natsConnection_PublishString(nc, natsMsg_GetReply(msg), (const char *)closure);
    natsMsg_Destroy(msg);
}

static void scenario_request_reply(void)
{
    natsConnection *svc = open_conn();
    natsSubscription *echo = NULL, *qa = NULL, *qb = NULL;
    OK(natsConnection_Subscribe(&echo, svc, "interop.svc.echo", echo_cb, "echo:"));
    latch_init(&answered);
    OK(natsConnection_QueueSubscribe(&qa, svc, "interop.svc.q", "svc", tag_cb, "a"));
    OK(natsConnection_QueueSubscribe(&qb, svc, "interop.svc.q", "svc", tag_cb, "b"));
    flush(svc);

    natsConnection *nc = open_conn();
    char req[32], want[64];
    for (int i = 0; i < 20; i++) {
        natsMsg *r = NULL;
        snprintf(req, sizeof(req), "r%d", i);
        snprintf(want, sizeof(want), "echo:r%d", i);
        OK(natsConnection_RequestString(&r, nc, "interop.svc.echo", req, WAIT_MS));
        CHECK(data_is(r, want), "reply %d", i);
        natsMsg_Destroy(r);
    }

    /* Old-style requests: a dedicated inbox subscription per request. */
    natsOptions *o = base_opts();
    OK(natsOptions_UseOldRequestStyle(o, true));
    natsConnection *old = connect_with(o);
    for (int i = 0; i < 5; i++) {
        natsMsg *r = NULL;
        OK(natsConnection_RequestString(&r, old, "interop.svc.echo", "old", WAIT_MS));
        CHECK(data_is(r, "echo:old"), "old-style reply");
        natsMsg_Destroy(r);
    }
    finish(old);

    for (int i = 0; i < 20; i++) {
        natsMsg *r = NULL;
        OK(natsConnection_RequestString(&r, nc, "interop.svc.q", "", WAIT_MS));
        CHECK(data_is(r, "a") || data_is(r, "b"), "queue reply");
        natsMsg_Destroy(r);
    }
    CHECK(latch_get(&answered) == 20, "queue responders answered %d times, want 20", latch_get(&answered));

    /* Manual request: publish with an explicit reply inbox. */
    natsInbox *inbox = NULL;
    OK(natsInbox_Create(&inbox));
    natsSubscription *isub = NULL;
    OK(natsConnection_SubscribeSync(&isub, nc, inbox));
    OK(natsConnection_PublishRequestString(nc, "interop.svc.echo", inbox, "manual"));
    natsMsg *m = next(isub);
    CHECK(data_is(m, "echo:manual"), "manual reply");
    natsMsg_Destroy(m);
    natsSubscription_Destroy(isub);
    natsInbox_Destroy(inbox);

    natsSubscription_Destroy(echo);
    natsSubscription_Destroy(qa);
    natsSubscription_Destroy(qb);
    finish(nc);
    finish(svc);
    check_no_async_errors();
}

static void hdr_svc_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    const char *saw = NULL;
    if (natsMsgHeader_Get(msg, "X-Req", &saw) != NATS_OK)
        saw = "";
    char body[128];
    snprintf(body, sizeof(body), "resp:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    natsMsg *r = NULL;
    if (natsMsg_Create(&r, natsMsg_GetReply(msg), NULL, body, (int)strlen(body)) == NATS_OK) {
        natsMsgHeader_Set(r, "X-Reply", "yes");
        natsMsgHeader_Set(r, "X-Saw", saw);
        natsConnection_PublishMsg(nc, r);
        natsMsg_Destroy(r);
    }
    natsMsg_Destroy(msg);
}

static void scenario_headers(void)
{
    natsConnection *sub_nc = open_conn();
    natsSubscription *sub = NULL, *plain = NULL, *svc = NULL;
    OK(natsConnection_SubscribeSync(&sub, sub_nc, "interop.hdr"));
    OK(natsConnection_SubscribeSync(&plain, sub_nc, "interop.nohdr"));
    OK(natsConnection_Subscribe(&svc, sub_nc, "interop.hdr.svc", hdr_svc_cb, NULL));
    flush(sub_nc);

    natsConnection *pub = open_conn();
    natsMsg *m = NULL;
    OK(natsMsg_Create(&m, "interop.hdr", NULL, "with headers", 12));
    OK(natsMsgHeader_Set(m, "X-Interop", "yes"));
    OK(natsMsgHeader_Set(m, "X-Number", "42"));
    OK(natsMsgHeader_Add(m, "X-Multi", "a"));
    OK(natsMsgHeader_Add(m, "X-Multi", "b"));
    OK(natsConnection_PublishMsg(pub, m));
    natsMsg_Destroy(m);
    OK(natsMsg_Create(&m, "interop.hdr", NULL, NULL, 0));
    OK(natsMsgHeader_Set(m, "X-Only", "header"));
    OK(natsConnection_PublishMsg(pub, m));
    natsMsg_Destroy(m);
    OK(natsMsg_Create(&m, "interop.hdr", NULL, "spaces", 6));
    OK(natsMsgHeader_Set(m, "X-Spaces", "a b  c"));
    OK(natsConnection_PublishMsg(pub, m));
    natsMsg_Destroy(m);
    pub_str(pub, "interop.nohdr", "plain");
    flush(pub);
    flush(sub_nc);

    CHECK(pending(sub) == 3, "received %d header messages, want 3", pending(sub));
    const char *v = NULL;
    m = next(sub);
    OK(natsMsgHeader_Get(m, "X-Interop", &v));
    CHECK(strcmp(v, "yes") == 0, "X-Interop %s", v);
    OK(natsMsgHeader_Get(m, "X-Number", &v));
    CHECK(strcmp(v, "42") == 0, "X-Number %s", v);
    const char **vals = NULL;
    int count = 0;
    OK(natsMsgHeader_Values(m, "X-Multi", &vals, &count));
    CHECK(count == 2 && strcmp(vals[0], "a") == 0 && strcmp(vals[1], "b") == 0, "X-Multi has %d values", count);
    free((void *)vals);
    CHECK(data_is(m, "with headers"), "payload of the message with headers");
    natsMsg_Destroy(m);
    m = next(sub);
    OK(natsMsgHeader_Get(m, "X-Only", &v));
    CHECK(strcmp(v, "header") == 0, "X-Only %s", v);
    CHECK(natsMsg_GetDataLength(m) == 0, "header-only payload has %d bytes", natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
    m = next(sub);
    OK(natsMsgHeader_Get(m, "X-Spaces", &v));
    CHECK(strcmp(v, "a b  c") == 0, "X-Spaces '%s'", v);
    natsMsg_Destroy(m);
    m = next(plain);
    CHECK(data_is(m, "plain"), "plain payload");
    const char **keys = NULL;
    EXPECT_STATUS(natsMsgHeader_Keys(m, &keys, &count), NATS_NOT_FOUND);
    natsMsg_Destroy(m);

    natsMsg *rq = NULL, *r = NULL;
    OK(natsMsg_Create(&rq, "interop.hdr.svc", NULL, "q", 1));
    OK(natsMsgHeader_Set(rq, "X-Req", "42"));
    OK(natsConnection_RequestMsg(&r, pub, rq, WAIT_MS));
    CHECK(data_is(r, "resp:q"), "reply payload");
    OK(natsMsgHeader_Get(r, "X-Reply", &v));
    CHECK(strcmp(v, "yes") == 0, "X-Reply %s", v);
    OK(natsMsgHeader_Get(r, "X-Saw", &v));
    CHECK(strcmp(v, "42") == 0, "X-Saw %s", v);
    natsMsg_Destroy(r);
    natsMsg_Destroy(rq);

    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(plain);
    natsSubscription_Destroy(svc);
    finish(pub);
    finish(sub_nc);
    check_no_async_errors();
}

static void scenario_no_responders(void)
{
    natsConnection *nc = open_conn();
    natsOptions *o = base_opts();
    OK(natsOptions_UseOldRequestStyle(o, true));
    natsConnection *old = connect_with(o);
    natsConnection *both[2] = {nc, old};
    for (int k = 0; k < 2; k++) {
        natsMsg *r = NULL;
        int64_t start = now_ms();
        EXPECT_STATUS(natsConnection_RequestString(&r, both[k], "interop.nobody.home", "anyone?", WAIT_MS),
                      NATS_NO_RESPONDERS);
        int64_t elapsed = now_ms() - start;
        CHECK(elapsed < 3000, "no-responders error took %lld ms (old style: %d)", (long long)elapsed, k);
        CHECK(r == NULL, "got a reply message");
    }

    natsConnection *svc = open_conn();
    natsSubscription *s = NULL;
    OK(natsConnection_Subscribe(&s, svc, "interop.nobody.home", echo_cb, "here:"));
    flush(svc);
    natsMsg *r = NULL;
    OK(natsConnection_RequestString(&r, nc, "interop.nobody.home", "x", WAIT_MS));
    CHECK(data_is(r, "here:x"), "reply");
    natsMsg_Destroy(r);
    r = NULL;
    OK(natsSubscription_Unsubscribe(s));
    flush(svc);
    EXPECT_STATUS(natsConnection_RequestString(&r, nc, "interop.nobody.home", "x", WAIT_MS), NATS_NO_RESPONDERS);
    natsSubscription_Destroy(s);
    finish(svc);
    finish(old);
    finish(nc);
    check_no_async_errors();
}

static void scenario_flush(void)
{
    natsConnection *nc = open_conn();
    natsSubscription *sub = NULL;
    OK(natsConnection_SubscribeSync(&sub, nc, "interop.flush"));
    const int n = 1000;
    for (int i = 0; i < n; i++)
        pub_int(nc, "interop.flush", i);
    OK(natsConnection_Flush(nc));
    /* The PONG comes after every message the server routed before it. */
    CHECK(pending(sub) == n, "%d messages delivered after flush, want %d", pending(sub), n);
    for (int i = 0; i < 5; i++)
        flush(nc);
    CHECK(pending(sub) == n, "%d messages pending after more flushes", pending(sub));
    for (int i = 0; i < n; i++) {
        natsMsg *m = next(sub);
        CHECK(data_int(m) == i, "message %d out of order", i);
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    finish(nc);
    check_no_async_errors();
}

static latch processed;

static void count_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    natsMsg_Destroy(msg);
    latch_add(&processed);
}

static latch closed_evt;

static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    latch_add(&closed_evt);
}

static void scenario_drain(void)
{
    natsConnection *pub = open_conn(), *sub_nc = open_conn();
    latch_init(&processed);
    natsSubscription *sub = NULL;
    OK(natsConnection_Subscribe(&sub, sub_nc, "interop.drain.sub", count_cb, NULL));
    flush(sub_nc);
    const int n = 200;
    for (int i = 0; i < n; i++)
        pub_int(pub, "interop.drain.sub", i);
    flush(pub);
    OK(natsSubscription_Drain(sub));
    OK(natsSubscription_WaitForDrainCompletion(sub, WAIT_MS));
    OK(natsSubscription_DrainCompletionStatus(sub));
    CHECK(latch_get(&processed) == n, "drained subscription processed %d of %d", latch_get(&processed), n);
    uint64_t before = in_msgs(sub_nc);
    for (int i = 0; i < 10; i++)
        pub_str(pub, "interop.drain.sub", "late");
    flush(pub);
    flush(sub_nc);
    CHECK(in_msgs(sub_nc) == before, "server still delivers to the drained subscription");
    CHECK(latch_get(&processed) == n, "drained subscription still receives messages");
    natsSubscription_Destroy(sub);
    finish(sub_nc);

    /* Draining a connection processes what is in flight, then closes it. */
    latch_init(&processed);
    latch_init(&closed_evt);
    natsOptions *o = base_opts();
    OK(natsOptions_SetClosedCB(o, on_closed, NULL));
    natsConnection *dnc = connect_with(o);
    natsSubscription *d1 = NULL, *d2 = NULL;
    OK(natsConnection_Subscribe(&d1, dnc, "interop.drain.conn", count_cb, NULL));
    OK(natsConnection_Subscribe(&d2, dnc, "interop.drain.conn2", count_cb, NULL));
    flush(dnc);
    for (int i = 0; i < 100; i++)
        pub_int(pub, "interop.drain.conn", i);
    flush(pub);
    OK(natsConnection_DrainTimeout(dnc, WAIT_MS));
    CHECK(latch_wait(&closed_evt, 1, WAIT_MS), "connection not closed after drain");
    CHECK(natsConnection_IsClosed(dnc), "connection not closed after drain");
    CHECK(latch_get(&processed) == 100, "connection drain processed %d of 100", latch_get(&processed));
    EXPECT_STATUS(natsConnection_PublishString(dnc, "interop.drain.conn", "x"), NATS_CONNECTION_CLOSED);
    natsSubscription_Destroy(d1);
    natsSubscription_Destroy(d2);
    natsConnection_Destroy(dnc);
    finish(pub);
    check_no_async_errors();
}

static void scenario_auto_unsubscribe(void)
{
    natsConnection *pub = open_conn(), *nc = open_conn();

    /* UNSUB with a limit before any message: the server delivers exactly 5. */
    natsSubscription *a = NULL;
    OK(natsConnection_SubscribeSync(&a, nc, "interop.au.a"));
    OK(natsSubscription_AutoUnsubscribe(a, 5));
    flush(nc);
    for (int i = 0; i < 10; i++)
        pub_int(pub, "interop.au.a", i);
    flush(pub);
    flush(nc);
    CHECK(in_msgs(nc) == 5, "server delivered %llu messages, want 5", (unsigned long long)in_msgs(nc));
    for (int i = 0; i < 5; i++) {
        natsMsg *m = next(a);
        CHECK(data_int(m) == i, "message %d", i);
        natsMsg_Destroy(m);
    }
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, a, 0);
    CHECK(s != NATS_OK, "a sixth message was delivered");
    CHECK(!natsSubscription_IsValid(a), "subscription still valid after max reached");
    natsSubscription_Destroy(a);

    /* Limit set after two messages arrived: the limit counts them, so two more come. */
    uint64_t before = in_msgs(nc);
    natsSubscription *b = NULL;
    OK(natsConnection_SubscribeSync(&b, nc, "interop.au.b"));
    flush(nc);
    pub_int(pub, "interop.au.b", 0);
    pub_int(pub, "interop.au.b", 1);
    flush(pub);
    flush(nc);
    CHECK(pending(b) == 2, "got %d before the limit, want 2", pending(b));
    OK(natsSubscription_AutoUnsubscribe(b, 4));
    flush(nc);
    for (int i = 2; i < 10; i++)
        pub_int(pub, "interop.au.b", i);
    flush(pub);
    flush(nc);
    uint64_t delivered = in_msgs(nc) - before;
    CHECK(delivered == 4, "server delivered %llu on interop.au.b, want 4", (unsigned long long)delivered);
    for (int i = 0; i < 4; i++) {
        m = next(b);
        CHECK(data_int(m) == i, "message %d on interop.au.b", i);
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(b);
    finish(nc);
    finish(pub);
    check_no_async_errors();
}

static void scenario_large_payloads(void)
{
    natsConnection *sub_nc = open_conn(), *pub = open_conn();
    CHECK(natsConnection_GetMaxPayload(pub) == MAX_PAYLOAD, "max_payload %lld",
          (long long)natsConnection_GetMaxPayload(pub));
    natsSubscription *sub = NULL, *echo = NULL;
    OK(natsConnection_SubscribeSync(&sub, sub_nc, "interop.big"));
    OK(natsConnection_Subscribe(&echo, sub_nc, "interop.big.echo", echo_cb, NULL));
    flush(sub_nc);

    const int sizes[3] = {512 * 1024, MAX_PAYLOAD - 100, MAX_PAYLOAD};
    char *payloads[3];
    for (int k = 0; k < 3; k++) {
        payloads[k] = malloc(sizes[k]);
        for (int i = 0; i < sizes[k]; i++)
            payloads[k][i] = (char)((i * 7 + k) % 251);
        OK(natsConnection_Publish(pub, "interop.big", payloads[k], sizes[k]));
    }
    flush(pub);
    for (int k = 0; k < 3; k++) {
        natsMsg *m = next(sub);
        CHECK(natsMsg_GetDataLength(m) == sizes[k], "payload %d: got %d bytes, want %d", k,
              natsMsg_GetDataLength(m), sizes[k]);
        CHECK(memcmp(natsMsg_GetData(m), payloads[k], sizes[k]) == 0, "payload %d of %d bytes corrupted", k,
              sizes[k]);
        natsMsg_Destroy(m);
    }

    natsMsg *r = NULL;
    OK(natsConnection_Request(&r, pub, "interop.big.echo", payloads[0], sizes[0], WAIT_MS));
    CHECK(natsMsg_GetDataLength(r) == sizes[0] && memcmp(natsMsg_GetData(r), payloads[0], sizes[0]) == 0,
          "512 KiB request/reply corrupted");
    natsMsg_Destroy(r);

    char *too_big = calloc(1, MAX_PAYLOAD + 1);
    EXPECT_STATUS(natsConnection_Publish(pub, "interop.big", too_big, MAX_PAYLOAD + 1), NATS_MAX_PAYLOAD);
    free(too_big);
    pub_str(pub, "interop.big", "small");
    flush(pub);
    natsMsg *m = next(sub);
    CHECK(data_is(m, "small"), "after the oversize attempt got %d bytes", natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);

    for (int k = 0; k < 3; k++)
        free(payloads[k]);
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(echo);
    finish(pub);
    finish(sub_nc);
    check_no_async_errors();
}

static latch disconnected_evt, reconnected_evt;

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    latch_add(&disconnected_evt);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    latch_add(&reconnected_evt);
}

static void scenario_reconnect(void)
{
    latch_init(&disconnected_evt);
    latch_init(&reconnected_evt);
    natsOptions *o = base_opts();
    OK(natsOptions_SetAllowReconnect(o, true));
    OK(natsOptions_SetReconnectWait(o, 100));
    OK(natsOptions_SetReconnectJitter(o, 0, 0));
    OK(natsOptions_SetMaxReconnect(o, 300));
    OK(natsOptions_SetDisconnectedCB(o, on_disconnected, NULL));
    OK(natsOptions_SetReconnectedCB(o, on_reconnected, NULL));
    natsConnection *nc = connect_with(o);
    natsSubscription *sub = NULL, *q = NULL, *svc = NULL;
    OK(natsConnection_SubscribeSync(&sub, nc, "interop.rc"));
    OK(natsConnection_QueueSubscribeSync(&q, nc, "interop.rc.q", "rcq"));
    OK(natsConnection_Subscribe(&svc, nc, "interop.rc.svc", echo_cb, "still here:"));
    pub_str(nc, "interop.rc", "before");
    flush(nc);
    natsMsg *m = next(sub);
    CHECK(data_is(m, "before"), "before restart");
    natsMsg_Destroy(m);

    printf("READY\n");
    fflush(stdout);
    CHECK(latch_wait(&disconnected_evt, 1, WAIT_MS), "no disconnect event");
    CHECK(latch_wait(&reconnected_evt, 1, 20000), "no reconnect event");
    /* Our re-sent SUBs are processed once this round trip completes. */
    flush(nc);

    natsConnection *other = open_conn();
    pub_str(other, "interop.rc", "after");
    pub_str(other, "interop.rc.q", "queued");
    flush(other);
    m = next(sub);
    CHECK(data_is(m, "after"), "subscription after restart");
    natsMsg_Destroy(m);
    m = next(q);
    CHECK(data_is(m, "queued"), "queue subscription after restart");
    natsMsg_Destroy(m);
    natsMsg *r = NULL;
    OK(natsConnection_RequestString(&r, other, "interop.rc.svc", "x", WAIT_MS));
    CHECK(data_is(r, "still here:x"), "service after restart");
    natsMsg_Destroy(r);
    pub_str(nc, "interop.rc", "mine");
    flush(nc);
    m = next(sub);
    CHECK(data_is(m, "mine"), "own publish after restart");
    natsMsg_Destroy(m);

    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(q);
    natsSubscription_Destroy(svc);
    finish(other);
    finish(nc);
}

/* ---- authentication ---- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    CHECK(v != NULL && *v != 0, "environment variable %s is not set (tests/interop.rs sets it)",
          name);
    return v;
}

/* The server URL with credentials embedded: nats://USERINFO@host:port (caller frees). */
static char *url_with_userinfo(const char *userinfo)
{
    const char *rest = strstr(url, "://");
    CHECK(rest != NULL, "URL %s has no scheme", url);
    rest += 3;
    size_t n = strlen(url) + strlen(userinfo) + 2;
    char *out = malloc(n);
    CHECK(out != NULL, "out of memory");
    snprintf(out, n, "%.*s%s@%s", (int)(rest - url), url, userinfo, rest);
    return out;
}

static natsOptions *opts_with_url(const char *u)
{
    natsOptions *o = base_opts();
    OK(natsOptions_SetURL(o, u));
    return o;
}

/* A message published on nc reaches nc's own subscription. */
static void round_trip(natsConnection *nc, const char *subject)
{
    natsSubscription *sub = NULL;
    OK(natsConnection_SubscribeSync(&sub, nc, subject));
    pub_str(nc, subject, "round trip");
    flush(nc);
    natsMsg *m = next(sub);
    CHECK(strcmp(natsMsg_GetSubject(m), subject) == 0 && data_is(m, "round trip"),
          "round trip on %s failed", subject);
    natsMsg_Destroy(m);
    OK(natsSubscription_Unsubscribe(sub));
    natsSubscription_Destroy(sub);
}

/* Connecting with these options (destroyed here) must fail with the server's authorization
 * error. */
static void expect_auth_failure(const char *what, natsOptions *o)
{
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s == NATS_OK) {
        finish(nc);
        CHECK(0, "%s: connect succeeded, want an authorization error", what);
    }
    /* libnats keeps the server's -ERR text as the error text. */
    const char *text = nats_GetLastError(NULL);
    CHECK(s == NATS_CONNECTION_AUTH_FAILED && text != NULL && strstr(text, "Authorization Violation"),
          "%s: connect returned %s (%s), want %s with 'Authorization Violation'", what,
          natsStatus_GetText(s), text ? text : "no error text",
          natsStatus_GetText(NATS_CONNECTION_AUTH_FAILED));
}

static void scenario_auth_user_password(void)
{
    const char *user = env("INTEROP_USER"), *pass = env("INTEROP_PASS");
    char userinfo[512];

    /* Credentials in the URL, and as options. */
    snprintf(userinfo, sizeof(userinfo), "%s:%s", user, pass);
    char *u = url_with_userinfo(userinfo);
    natsConnection *by_url = connect_with(opts_with_url(u));
    free(u);
    round_trip(by_url, "interop.auth.url");
    natsOptions *o = base_opts();
    OK(natsOptions_SetUserInfo(o, user, pass));
    natsConnection *by_opts = connect_with(o);
    round_trip(by_opts, "interop.auth.opts");
    natsSubscription *sub = NULL;
    OK(natsConnection_SubscribeSync(&sub, by_url, "interop.auth.cross"));
    flush(by_url);
    pub_str(by_opts, "interop.auth.cross", "across");
    flush(by_opts);
    natsMsg *m = next(sub);
    CHECK(data_is(m, "across"), "cross-connection message has the wrong payload");
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);

    char bad[256];
    snprintf(bad, sizeof(bad), "%sx", pass);
    snprintf(userinfo, sizeof(userinfo), "%s:%s", user, bad);
    u = url_with_userinfo(userinfo);
    expect_auth_failure("wrong password in the URL", opts_with_url(u));
    free(u);
    o = base_opts();
    OK(natsOptions_SetUserInfo(o, user, bad));
    expect_auth_failure("wrong password as options", o);
    snprintf(bad, sizeof(bad), "%sx", user);
    o = base_opts();
    OK(natsOptions_SetUserInfo(o, bad, pass));
    expect_auth_failure("unknown user", o);
    o = base_opts();
    OK(natsOptions_SetToken(o, pass));
    expect_auth_failure("token instead of user/password", o);
    expect_auth_failure("no credentials", base_opts());

    /* The rejected attempts did not disturb the authenticated connections. */
    round_trip(by_url, "interop.auth.url.after");
    round_trip(by_opts, "interop.auth.opts.after");
    finish(by_url);
    finish(by_opts);
    check_no_async_errors();
}

static void scenario_auth_token(void)
{
    const char *token = env("INTEROP_TOKEN");
    char *u = url_with_userinfo(token);
    natsConnection *by_url = connect_with(opts_with_url(u));
    free(u);
    round_trip(by_url, "interop.auth.url");
    natsOptions *o = base_opts();
    OK(natsOptions_SetToken(o, token));
    natsConnection *by_opts = connect_with(o);
    round_trip(by_opts, "interop.auth.opts");

    char bad[256];
    snprintf(bad, sizeof(bad), "%sx", token);
    u = url_with_userinfo(bad);
    expect_auth_failure("wrong token in the URL", opts_with_url(u));
    free(u);
    o = base_opts();
    OK(natsOptions_SetToken(o, bad));
    expect_auth_failure("wrong token as option", o);
    o = base_opts();
    OK(natsOptions_SetUserInfo(o, token, token));
    expect_auth_failure("user/password instead of the token", o);
    expect_auth_failure("no credentials", base_opts());

    round_trip(by_url, "interop.auth.url.after");
    round_trip(by_opts, "interop.auth.opts.after");
    finish(by_url);
    finish(by_opts);
    check_no_async_errors();
}

/* Errors reported to the limited connection of the permissions scenario, with their texts. */
#define MAX_PERM_ERRORS 16
static latch perm_errors;
static pthread_mutex_t perm_mu = PTHREAD_MUTEX_INITIALIZER;
static natsStatus perm_status[MAX_PERM_ERRORS];
static char perm_text[MAX_PERM_ERRORS][256];

static void on_perm_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)sub;
    (void)closure;
    const char *text = NULL;
    natsConnection_GetLastError(nc, &text);
    pthread_mutex_lock(&perm_mu);
    int i = latch_get(&perm_errors);
    if (i < MAX_PERM_ERRORS) {
        perm_status[i] = err;
        snprintf(perm_text[i], sizeof(perm_text[i]), "%s", text ? text : "");
    }
    pthread_mutex_unlock(&perm_mu);
    latch_add(&perm_errors);
}

/* Wait for the n-th (1-based) error of the limited connection and check it. */
static void expect_perm_error(int n, const char *want)
{
    CHECK(latch_wait(&perm_errors, n, WAIT_MS), "no error %d (want %s); %d so far", n, want,
          latch_get(&perm_errors));
    pthread_mutex_lock(&perm_mu);
    natsStatus st = perm_status[n - 1];
    char text[256];
    snprintf(text, sizeof(text), "%s", perm_text[n - 1]);
    pthread_mutex_unlock(&perm_mu);
    CHECK(st == NATS_NOT_PERMITTED && strstr(text, want) != NULL,
          "error %d is %s (%s), want %s with %s", n, natsStatus_GetText(st), text,
          natsStatus_GetText(NATS_NOT_PERMITTED), want);
}

static void expect_msg(natsSubscription *sub, const char *subject, const char *data)
{
    natsMsg *m = next(sub);
    CHECK(strcmp(natsMsg_GetSubject(m), subject) == 0 && data_is(m, data),
          "got a message on %s, want %s with %s", natsMsg_GetSubject(m), subject, data);
    natsMsg_Destroy(m);
}

/* The server configuration (tests/interop.rs, permissions_conf) gives the limited user:
 * publish ["perm.pub.>", "perm.both"]; subscribe allow ["perm.sub.>", "perm.both", "perm.svc"],
 * deny ["perm.sub.secret"]; allow_responses. The admin user may do anything. */
static void scenario_auth_permissions(void)
{
    latch_init(&perm_errors);
    natsOptions *o = base_opts();
    OK(natsOptions_SetUserInfo(o, env("INTEROP_ADMIN_USER"), env("INTEROP_ADMIN_PASS")));
    natsConnection *admin = connect_with(o);
    o = base_opts();
    OK(natsOptions_SetUserInfo(o, env("INTEROP_USER"), env("INTEROP_PASS")));
    OK(natsOptions_SetErrorHandler(o, on_perm_error, NULL));
    natsConnection *lim = connect_with(o);
    natsSubscription *watch = NULL, *sub = NULL, *both = NULL, *other = NULL, *secret = NULL;
    OK(natsConnection_SubscribeSync(&watch, admin, "perm.>"));
    flush(admin);

    /* Permitted subscriptions and publications work. */
    OK(natsConnection_SubscribeSync(&sub, lim, "perm.sub.>"));
    OK(natsConnection_SubscribeSync(&both, lim, "perm.both"));
    flush(lim);
    pub_str(admin, "perm.sub.a", "to limited");
    flush(admin);
    pub_str(lim, "perm.pub.a", "from limited");
    pub_str(lim, "perm.both", "both ways");
    flush(lim);
    flush(admin);
    expect_msg(sub, "perm.sub.a", "to limited");
    expect_msg(both, "perm.both", "both ways");
    expect_msg(watch, "perm.sub.a", "to limited");
    expect_msg(watch, "perm.pub.a", "from limited");
    expect_msg(watch, "perm.both", "both ways");
    CHECK(pending(watch) == 0, "admin saw %d more messages", pending(watch));
    CHECK(latch_get(&perm_errors) == 0, "errors for permitted operations");

    /* A forbidden publish: an asynchronous error, nothing delivered, still connected. */
    pub_str(lim, "perm.forbidden", "nope");
    flush(lim);
    expect_perm_error(1, "Permissions Violation for Publish to \"perm.forbidden\"");
    CHECK(natsConnection_Status(lim) == NATS_CONN_STATUS_CONNECTED, "limited connection dropped");
    pub_str(lim, "perm.pub.b", "still allowed");
    flush(lim);
    flush(admin);
    expect_msg(watch, "perm.pub.b", "still allowed");
    CHECK(pending(watch) == 0, "admin saw the forbidden publish");

    /* A forbidden subscription, and a denied subject inside an allowed wildcard: asynchronous
     * errors, no messages (the wildcard subscription's deliveries are filtered too). */
    OK(natsConnection_SubscribeSync(&other, lim, "perm.other"));
    flush(lim);
    expect_perm_error(2, "Permissions Violation for Subscription to \"perm.other\"");
    OK(natsConnection_SubscribeSync(&secret, lim, "perm.sub.secret"));
    flush(lim);
    expect_perm_error(3, "Permissions Violation for Subscription to \"perm.sub.secret\"");
    CHECK(natsConnection_Status(lim) == NATS_CONN_STATUS_CONNECTED, "limited connection dropped");
    pub_str(admin, "perm.other", "x");
    pub_str(admin, "perm.sub.secret", "secret");
    pub_str(admin, "perm.sub.b", "open");
    flush(admin);
    flush(lim);
    CHECK(pending(other) == 0 && pending(secret) == 0, "a refused subscription received messages");
    expect_msg(sub, "perm.sub.b", "open");
    CHECK(pending(sub) == 0, "the wildcard subscription received the denied subject");

    /* allow_responses: the limited user may answer a request although the reply subject is
     * outside its publish permissions. */
    natsSubscription *svc = NULL;
    OK(natsConnection_Subscribe(&svc, lim, "perm.svc", echo_cb, "answer:"));
    flush(lim);
    natsMsg *r = NULL;
    OK(natsConnection_RequestString(&r, admin, "perm.svc", "question", WAIT_MS));
    CHECK(data_is(r, "answer:question"), "wrong reply to the request");
    natsMsg_Destroy(r);
    round_trip(lim, "perm.both");

    CHECK(latch_get(&perm_errors) == 3, "%d errors on the limited connection, want 3",
          latch_get(&perm_errors));
    CHECK(natsConnection_Status(lim) == NATS_CONN_STATUS_CONNECTED
              && natsConnection_Status(admin) == NATS_CONN_STATUS_CONNECTED,
          "a connection dropped");
    natsSubscription_Destroy(svc);
    natsSubscription_Destroy(secret);
    natsSubscription_Destroy(other);
    natsSubscription_Destroy(both);
    natsSubscription_Destroy(sub);
    natsSubscription_Destroy(watch);
    finish(lim);
    finish(admin);
    check_no_async_errors();
}

/* ---- TLS ---- */

/* Options for a TLS connection that trusts the test CA and expects the server's certificate to
 * be for "localhost"; with a client certificate from the given environment variables (cert,
 * key) unless they are NULL. */
static natsOptions *tls_opts(const char *cert_var, const char *key_var)
{
    natsOptions *o = base_opts();
    OK(natsOptions_SetSecure(o, true));
    OK(natsOptions_LoadCATrustedCertificates(o, env("INTEROP_TLS_CA")));
    OK(natsOptions_SetExpectedHostname(o, "localhost"));
    if (cert_var != NULL)
        OK(natsOptions_LoadCertificatesChain(o, env(cert_var), env(key_var)));
    return o;
}

/* The server URL with the tls:// scheme (caller frees). */
static char *tls_url(void)
{
    const char *rest = strstr(url, "://");
    CHECK(rest != NULL, "URL %s has no scheme", url);
    size_t n = strlen(rest) + 4;
    char *out = malloc(n);
    CHECK(out != NULL, "out of memory");
    snprintf(out, n, "tls%s", rest);
    return out;
}

/* Publish/subscribe, headers, request/reply and max_payload messages between two TLS
 * connections, in both directions. */
static void tls_traffic(natsConnection *a, natsConnection *b, const char *tag)
{
    char subject[64], svc_subject[80], back_subject[80], buf[64], want[80];
    snprintf(subject, sizeof(subject), "interop.tls.%s", tag);
    snprintf(svc_subject, sizeof(svc_subject), "%s.svc", subject);
    snprintf(back_subject, sizeof(back_subject), "%s.back", subject);
    natsSubscription *sub = NULL, *svc = NULL, *hsvc = NULL, *back = NULL;
    OK(natsConnection_SubscribeSync(&sub, b, subject));
    OK(natsConnection_Subscribe(&svc, b, svc_subject, echo_cb, "echo:"));
    OK(natsConnection_Subscribe(&hsvc, b, "interop.tls.hdr.svc", hdr_svc_cb, NULL));
    flush(b);

    const int n = 100;
    for (int i = 0; i < n; i++)
        pub_int(a, subject, i);
    natsMsg *hm = NULL;
    OK(natsMsg_Create(&hm, subject, NULL, "with headers", 12));
    OK(natsMsgHeader_Set(hm, "X-Tls", tag));
    OK(natsConnection_PublishMsg(a, hm));
    natsMsg_Destroy(hm);
    flush(a);
    flush(b);
    CHECK(pending(sub) == n + 1, "%s: %d messages delivered, want %d", tag, pending(sub), n + 1);
    for (int i = 0; i < n; i++) {
        natsMsg *m = next(sub);
        CHECK(data_int(m) == i, "%s: message %d out of order or wrong", tag, i);
        natsMsg_Destroy(m);
    }
    natsMsg *m = next(sub);
    const char *hv = NULL;
    CHECK(data_is(m, "with headers") && natsMsgHeader_Get(m, "X-Tls", &hv) == NATS_OK && strcmp(hv, tag) == 0,
          "%s: message with headers came back wrong", tag);
    natsMsg_Destroy(m);

    for (int i = 0; i < 20; i++) {
        natsMsg *r = NULL;
        snprintf(buf, sizeof(buf), "r%d", i);
        snprintf(want, sizeof(want), "echo:r%d", i);
        OK(natsConnection_RequestString(&r, a, svc_subject, buf, WAIT_MS));
        CHECK(data_is(r, want), "%s: reply %d", tag, i);
        natsMsg_Destroy(r);
    }
    natsMsg *req = NULL, *r = NULL;
    OK(natsMsg_Create(&req, "interop.tls.hdr.svc", NULL, "q", 1));
    OK(natsMsgHeader_Set(req, "X-Req", "42"));
    OK(natsConnection_RequestMsg(&r, a, req, WAIT_MS));
    const char *saw = NULL;
    CHECK(data_is(r, "resp:q") && natsMsgHeader_Get(r, "X-Saw", &saw) == NATS_OK && strcmp(saw, "42") == 0,
          "%s: reply with headers came back wrong", tag);
    natsMsg_Destroy(r);
    natsMsg_Destroy(req);

    /* A message of max_payload bytes spans many TLS records. */
    char *big = malloc(MAX_PAYLOAD);
    CHECK(big != NULL, "out of memory");
    for (int i = 0; i < MAX_PAYLOAD; i++)
        big[i] = (char)((i * 31 + 7) % 251);
    OK(natsConnection_Publish(a, subject, big, MAX_PAYLOAD));
    flush(a);
    m = next(sub);
    CHECK(natsMsg_GetDataLength(m) == MAX_PAYLOAD && memcmp(natsMsg_GetData(m), big, MAX_PAYLOAD) == 0,
          "%s: %d-byte message came back as %d bytes, or corrupted", tag, MAX_PAYLOAD,
          natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
    const int rn = MAX_PAYLOAD - 5; /* room for the "echo:" prefix of the reply */
    OK(natsConnection_Request(&r, a, svc_subject, big, rn, WAIT_MS));
    CHECK(natsMsg_GetDataLength(r) == rn + 5 && memcmp(natsMsg_GetData(r), "echo:", 5) == 0
              && memcmp(natsMsg_GetData(r) + 5, big, rn) == 0,
          "%s: large request/reply corrupted", tag);
    natsMsg_Destroy(r);
    free(big);

    /* The other direction. */
    OK(natsConnection_SubscribeSync(&back, a, back_subject));
    flush(a);
    pub_str(b, back_subject, "back");
    flush(b);
    m = next(back);
    CHECK(data_is(m, "back"), "%s: reverse message wrong", tag);
    natsMsg_Destroy(m);

    natsSubscription_Destroy(back);
    natsSubscription_Destroy(hsvc);
    natsSubscription_Destroy(svc);
    natsSubscription_Destroy(sub);
}

/* Connecting with these options (destroyed here) must fail promptly (not by timing out). If
 * `want` is not NATS_OK, the connect must return exactly that status. */
static void expect_tls_failure(const char *what, natsOptions *o, natsStatus want)
{
    natsConnection *nc = NULL;
    int64_t start = now_ms();
    natsStatus s = natsConnection_Connect(&nc, o);
    int64_t elapsed = now_ms() - start;
    natsOptions_Destroy(o);
    if (s == NATS_OK) {
        finish(nc);
        CHECK(0, "%s: connect succeeded, want a TLS failure", what);
    }
    const char *text = nats_GetLastError(NULL);
    fprintf(stderr, "%s: connect failed as expected: %s (%s) after %lld ms\n", what, natsStatus_GetText(s),
            text ? text : "", (long long)elapsed);
    CHECK(s != NATS_TIMEOUT, "%s: connect timed out (%s), want a refusal", what, text ? text : "");
    CHECK(want == NATS_OK || s == want, "%s: connect returned %s (%s), want %s", what, natsStatus_GetText(s),
          text ? text : "", natsStatus_GetText(want));
    CHECK(elapsed < 4000, "%s: the refusal took %lld ms", what, (long long)elapsed);
}

static void scenario_tls(void)
{
    natsConnection *a = connect_with(tls_opts(NULL, NULL));
    char *u = tls_url();
    natsOptions *o = tls_opts(NULL, NULL);
    OK(natsOptions_SetURL(o, u));
    natsConnection *b = connect_with(o);
    tls_traffic(a, b, "a");

    /* The client rejects the server's certificate when it does not trust the test CA, or when it
     * expects another name. */
    o = base_opts();
    OK(natsOptions_SetSecure(o, true));
    expect_tls_failure("no trusted CA", o, NATS_SSL_ERROR);
    o = base_opts();
    OK(natsOptions_SetURL(o, u));
    expect_tls_failure("tls:// URL, no trusted CA", o, NATS_SSL_ERROR);
    o = tls_opts(NULL, NULL);
    OK(natsOptions_SetExpectedHostname(o, "wrong.example"));
    expect_tls_failure("wrong server name", o, NATS_SSL_ERROR);
    free(u);

    /* The refused attempts did not disturb the established connections. */
    round_trip(a, "interop.tls.after.a");
    round_trip(b, "interop.tls.after.b");
    tls_traffic(b, a, "b");
    finish(a);
    finish(b);
    check_no_async_errors();
}

static void scenario_tls_client_cert(void)
{
    natsConnection *a = connect_with(tls_opts("INTEROP_TLS_CERT", "INTEROP_TLS_KEY"));
    char *u = tls_url();
    natsOptions *o = tls_opts("INTEROP_TLS_CERT", "INTEROP_TLS_KEY");
    OK(natsOptions_SetURL(o, u));
    free(u);
    natsConnection *b = connect_with(o);
    tls_traffic(a, b, "a");

    /* Without a client certificate, or with one signed by a CA the server does not trust, the
     * server refuses the connection. */
    expect_tls_failure("no client certificate", tls_opts(NULL, NULL), NATS_OK);
    expect_tls_failure("certificate from an untrusted CA",
                       tls_opts("INTEROP_TLS_ROGUE_CERT", "INTEROP_TLS_ROGUE_KEY"), NATS_OK);
    /* Nor does the client accept the server without the test CA. */
    o = base_opts();
    OK(natsOptions_SetSecure(o, true));
    OK(natsOptions_LoadCertificatesChain(o, env("INTEROP_TLS_CERT"), env("INTEROP_TLS_KEY")));
    expect_tls_failure("no trusted CA", o, NATS_SSL_ERROR);

    round_trip(a, "interop.tls.after.a");
    round_trip(b, "interop.tls.after.b");
    tls_traffic(b, a, "b");
    finish(a);
    finish(b);
    check_no_async_errors();
}

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"connect", scenario_connect},
    {"pubsub", scenario_pubsub},
    {"wildcards", scenario_wildcards},
    {"queue_groups", scenario_queue_groups},
    {"request_reply", scenario_request_reply},
    {"headers", scenario_headers},
    {"no_responders", scenario_no_responders},
    {"flush", scenario_flush},
    {"drain", scenario_drain},
    {"auto_unsubscribe", scenario_auto_unsubscribe},
    {"large_payloads", scenario_large_payloads},
    {"reconnect", scenario_reconnect},
    {"auth_user_password", scenario_auth_user_password},
    {"auth_token", scenario_auth_token},
    {"auth_permissions", scenario_auth_permissions},
    {"tls", scenario_tls},
    {"tls_client_cert", scenario_tls_client_cert},
};

int main(int argc, char **argv)
{
    const int n = sizeof(scenarios) / sizeof(scenarios[0]);
    int which = -1;
    if (argc == 3)
        for (int i = 0; i < n; i++)
            if (strcmp(argv[1], scenarios[i].name) == 0)
                which = i;
    if (which < 0) {
        fprintf(stderr, "usage: %s SCENARIO URL\n", argv[0]);
        return 2;
    }
    scenario = argv[1];
    url = argv[2];
    signal(SIGALRM, on_alarm);
    alarm(OVERALL_SECS);
    latch_init(&async_errors);
    OK(nats_Open(-1));
    scenarios[which].run();
    printf("PASS c/%s (libnats %s)\n", scenario, nats_GetVersion());
    fflush(stdout);
    nats_CloseAndWait(WAIT_MS);
    return 0;
}
