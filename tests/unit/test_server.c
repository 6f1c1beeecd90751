/* SPDX-License-Identifier: MIT */
/*
 * Servers: calls, casts and infos through a bounded mailbox, timeouts,
 * linked exits, send and receive events, and the sys functions (state,
 * status, suspend, trace, log, statistics), on a small key-value server
 * written the way a user would write one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctrace/ctrace.h"
#include "ctrace/server.h"

/* ---- The server under test: a counter and a small key-value store. ---- */

enum kv_op {
    KV_INC = 1,   /* counter += n; replies the counter */
    KV_COUNTER,   /* replies the counter */
    KV_ENTER,     /* a cat (key) enters a town (val); replies ok */
    KV_GET,       /* replies the town of a cat, or undefined */
    KV_SELF_CALL, /* calls its own server (srv); replies the code */
    KV_TIMEOUT,   /* sets a timeout of n ms */
    KV_COUNTS,    /* replies "infos timeouts exits" */
    KV_LAST_EXIT, /* replies "pid reason" of the last exit notice */
    KV_SLEEP,     /* sleeps n ms; replies ok */
    KV_STOP,      /* replies bye and stops */
    KV_BIG        /* replies n bytes of 'x' */
};

struct kv_msg {
    uint32_t op;
    int32_t n;
    char key[16];
    char val[16];
    struct ctrace_server *srv;
};

#define KV_PAIRS 8

struct kv_state {
    long counter;
    int npairs;
    char keys[KV_PAIRS][16];
    char vals[KV_PAIRS][16];
    long infos;
    long timeouts;
    long exits;
    uint64_t exit_pid;
    char exit_reason[CTRACE_PROC_TEXT_MAX + 1];
};

/* How init should go: arg of the server. */
struct kv_init {
    long counter;
    bool fail;
    atomic_int *terminated; /* incremented by terminate, if set */
    char reason[64];        /* the reason terminate saw */
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int kv_init(void *arg, void **state, struct ctrace_error *err)
{
    struct kv_init *in = arg;
    if (in != NULL && in->fail) {
        snprintf(err->text, sizeof(err->text), "no cats today");
        err->code = CTRACE_EINVAL;
        return CTRACE_EINVAL;
    }
    struct kv_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return CTRACE_ENOMEM;
    st->counter = in != NULL ? in->counter : 0;
    *state = st;
    return 0;
}

static int reply_text(struct ctrace_reply *reply, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int reply_text(struct ctrace_reply *reply, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return ctrace_reply_set(reply, buf, (size_t)n);
}

static const char *kv_lookup(const struct kv_state *st, const char *key)
{
    for (int i = 0; i < st->npairs; i++)
        if (strcmp(st->keys[i], key) == 0)
            return st->vals[i];
    return NULL;
}

static void kv_enter(struct kv_state *st, const char *key, const char *val)
{
    for (int i = 0; i < st->npairs; i++)
        if (strcmp(st->keys[i], key) == 0) {
            snprintf(st->vals[i], sizeof(st->vals[i]), "%s", val);
            return;
        }
    if (st->npairs < KV_PAIRS) {
        snprintf(st->keys[st->npairs], 16, "%s", key);
        snprintf(st->vals[st->npairs], 16, "%s", val);
        st->npairs++;
    }
}

static int kv_handle_call(void *state,
                          const void *msg,
                          size_t len,
                          struct ctrace_reply *reply)
{
    struct kv_state *st = state;
    struct kv_msg m;
    if (len != sizeof(m)) {
        reply_text(reply, "badarg");
        return CTRACE_SERVER_CONTINUE;
    }
    memcpy(&m, msg, sizeof(m));
    switch (m.op) {
    case KV_INC:
        st->counter += m.n;
        reply_text(reply, "%ld", st->counter);
        break;
    case KV_COUNTER:
        reply_text(reply, "%ld", st->counter);
        break;
    case KV_ENTER:
        kv_enter(st, m.key, m.val);
        reply_text(reply, "ok");
        break;
    case KV_GET: {
        const char *v = kv_lookup(st, m.key);
        reply_text(reply, "%s", v != NULL ? v : "undefined");
        break;
    }
    case KV_SELF_CALL: {
        struct kv_msg inner = {.op = KV_COUNTER};
        char buf[32];
        size_t n = 0;
        int rc = ctrace_server_call(
            m.srv, &inner, sizeof(inner), buf, sizeof(buf), &n, 1000);
        reply_text(reply, "%d", rc);
        break;
    }
    case KV_TIMEOUT:
        ctrace_server_set_timeout((uint32_t)m.n);
        reply_text(reply, "ok");
        break;
    case KV_COUNTS:
        reply_text(reply, "%ld %ld %ld", st->infos, st->timeouts, st->exits);
        break;
    case KV_LAST_EXIT:
        reply_text(reply, "%" PRIu64 " %s", st->exit_pid, st->exit_reason);
        break;
    case KV_SLEEP:
        sleep_ms(m.n);
        reply_text(reply, "ok");
        break;
    case KV_STOP:
        reply_text(reply, "bye");
        return CTRACE_SERVER_STOP;
    case KV_BIG: {
        char *big = malloc((size_t)m.n);
        memset(big, 'x', (size_t)m.n);
        ctrace_reply_set(reply, big, (size_t)m.n);
        free(big);
        break;
    }
    default:
        reply_text(reply, "badarg");
    }
    return CTRACE_SERVER_CONTINUE;
}

static int kv_handle_cast(void *state, const void *msg, size_t len)
{
    struct kv_state *st = state;
    struct kv_msg m;
    if (len != sizeof(m))
        return CTRACE_SERVER_CONTINUE;
    memcpy(&m, msg, sizeof(m));
    if (m.op == KV_INC)
        st->counter += m.n;
    else if (m.op == KV_ENTER)
        kv_enter(st, m.key, m.val);
    else if (m.op == KV_TIMEOUT)
        ctrace_server_set_timeout((uint32_t)m.n);
    else if (m.op == KV_SLEEP)
        sleep_ms(m.n);
    else if (m.op == KV_STOP)
        return CTRACE_SERVER_STOP;
    return CTRACE_SERVER_CONTINUE;
}

static int kv_handle_info(void *state,
                          enum ctrace_msg_kind kind,
                          const void *msg,
                          size_t len)
{
    struct kv_state *st = state;
    if (kind == CTRACE_MSG_TIMEOUT) {
        assert_null(msg);
        st->timeouts++;
    } else if (kind == CTRACE_MSG_EXIT) {
        struct ctrace_exit_notice n;
        assert_int_equal(len, sizeof(n));
        memcpy(&n, msg, sizeof(n));
        st->exits++;
        st->exit_pid = n.pid;
        snprintf(st->exit_reason, sizeof(st->exit_reason), "%s", n.reason);
    } else {
        st->infos++;
    }
    return CTRACE_SERVER_CONTINUE;
}

static struct kv_init *terminate_watch;

static void kv_terminate(void *state, const char *reason)
{
    struct kv_init *w = terminate_watch;
    if (w != NULL && w->terminated != NULL) {
        snprintf(w->reason, sizeof(w->reason), "%s", reason);
        atomic_fetch_add(w->terminated, 1);
    }
    free(state);
}

static char *kv_format_state(const void *state)
{
    const struct kv_state *st = state;
    char buf[1024];
    int n = snprintf(
        buf, sizeof(buf), "{\"counter\": %ld,\n \"cats\": {", st->counter);
    for (int i = 0; i < st->npairs; i++)
        n += snprintf(buf + n,
                      sizeof(buf) - (size_t)n,
                      "%s\"%s\": \"%s\"",
                      i > 0 ? ", " : "",
                      st->keys[i],
                      st->vals[i]);
    snprintf(buf + n, sizeof(buf) - (size_t)n, "}}");
    return strdup(buf);
}

static int kv_replace_state(void **state,
                            const char *json,
                            size_t len,
                            struct ctrace_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    struct kv_state next;
    memset(&next, 0, sizeof(next));
    int rc = 0;
    json_t *counter = json_object_get(root, "counter");
    json_t *cats = json_object_get(root, "cats");
    if (root == NULL) {
        snprintf(err->text, sizeof(err->text), "not JSON: %s", je.text);
        rc = CTRACE_EINVAL;
    } else if (!json_is_integer(counter)) {
        snprintf(err->text, sizeof(err->text), "counter must be an integer");
        rc = CTRACE_EINVAL;
    } else {
        next.counter = (long)json_integer_value(counter);
        const char *k;
        json_t *v;
        json_object_foreach(cats, k, v)
        {
            if (!json_is_string(v) || strlen(k) > 15 ||
                strlen(json_string_value(v)) > 15 || next.npairs == KV_PAIRS) {
                snprintf(err->text, sizeof(err->text), "bad cat %s", k);
                rc = CTRACE_EINVAL;
                break;
            }
            kv_enter(&next, k, json_string_value(v));
        }
    }
    json_decref(root);
    if (rc < 0) {
        err->code = rc;
        return rc;
    }
    struct kv_state *st = *state;
    next.infos = st->infos;
    next.timeouts = st->timeouts;
    next.exits = st->exits;
    *st = next;
    return 0;
}

static const char *op_name(uint32_t op)
{
    static const char *const names[] = {"?",
                                        "inc",
                                        "counter",
                                        "enter",
                                        "get",
                                        "self_call",
                                        "timeout",
                                        "counts",
                                        "last_exit",
                                        "sleep",
                                        "stop",
                                        "big"};
    return op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

/* {enter,"Tihon","Barcelona"}, {inc,N}, or the op's name. Replies of
 * digits show as numbers, others as atoms. */
static struct ctrace_value kv_format_msg(enum ctrace_msg_kind kind,
                                         const void *msg,
                                         size_t len,
                                         struct ctrace_value *items)
{
    if (kind == CTRACE_MSG_REPLY) {
        const char *s = msg;
        bool digits = len > 0 && len < 18;
        for (size_t i = 0; i < len && digits; i++)
            digits = s[i] >= '0' && s[i] <= '9';
        if (digits) {
            int64_t v = 0;
            for (size_t i = 0; i < len; i++)
                v = v * 10 + (s[i] - '0');
            return ctrace_value_int(v);
        }
        struct ctrace_value v = ctrace_value_stringn(s, len);
        v.kind = CTRACE_VALUE_SYMBOL;
        return v;
    }
    if (len != sizeof(struct kv_msg))
        return ctrace_value_bytes(msg, len);
    const struct kv_msg *m = msg;
    items[0] = ctrace_value_symbol(op_name(m->op));
    if (m->op == KV_ENTER) {
        items[1] = ctrace_value_stringn(m->key, strnlen(m->key, 16));
        items[2] = ctrace_value_stringn(m->val, strnlen(m->val, 16));
        return ctrace_value_tuple(items, 3);
    }
    if (m->op == KV_INC) {
        items[1] = ctrace_value_int(m->n);
        return ctrace_value_tuple(items, 2);
    }
    return items[0];
}

static const struct ctrace_server_callbacks kv_callbacks = {
    .init = kv_init,
    .handle_call = kv_handle_call,
    .handle_cast = kv_handle_cast,
    .handle_info = kv_handle_info,
    .terminate = kv_terminate,
    .format_state = kv_format_state,
    .replace_state = kv_replace_state,
    .format_msg = kv_format_msg,
};

/* ---- Helpers. ---- */

static struct kv_msg kv(uint32_t op, int n, const char *key, const char *val)
{
    struct kv_msg m;
    memset(&m, 0, sizeof(m));
    m.op = op;
    m.n = n;
    if (key != NULL)
        snprintf(m.key, sizeof(m.key), "%s", key);
    if (val != NULL)
        snprintf(m.val, sizeof(m.val), "%s", val);
    return m;
}

static struct ctrace_server *start_kv(const char *name, uint32_t mailbox)
{
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.name = name;
    if (mailbox > 0)
        o.mailbox = mailbox;
    struct ctrace_error err = {0};
    struct ctrace_server *srv = ctrace_server_start(&kv_callbacks, &o, &err);
    if (srv == NULL)
        fail_msg("start %s: %s", name != NULL ? name : "-", err.text);
    return srv;
}

/* Calls with `m` and returns the code; the reply as a string in `out`. */
static int kv_call(struct ctrace_server *srv,
                   struct kv_msg m,
                   char *out,
                   size_t cap,
                   uint32_t timeout_ms)
{
    size_t n = 0;
    int rc =
        ctrace_server_call(srv, &m, sizeof(m), out, cap - 1, &n, timeout_ms);
    out[rc == 0 ? n : 0] = '\0';
    return rc;
}

static long counter_of(struct ctrace_server *srv)
{
    char out[64];
    assert_int_equal(
        kv_call(srv, kv(KV_COUNTER, 0, NULL, NULL), out, sizeof(out), 5000), 0);
    return atol(out);
}

static int kv_cast(struct ctrace_server *srv, struct kv_msg m)
{
    return ctrace_server_cast(srv, &m, sizeof(m));
}

/* Polls `cond(arg)` for up to `ms`; returns whether it came true. */
static bool eventually(bool (*cond)(void *), void *arg, long ms)
{
    int64_t until = mono_ms() + ms;
    while (!cond(arg)) {
        if (mono_ms() > until)
            return false;
        sleep_ms(2);
    }
    return true;
}

static bool queue_is_empty(void *arg)
{
    struct ctrace_proc_info info;
    return ctrace_proc_info(*(uint64_t *)arg, &info) == 0 &&
           info.message_queue_len == 0;
}

static bool queue_is_one(void *arg)
{
    struct ctrace_proc_info info;
    return ctrace_proc_info(*(uint64_t *)arg, &info) == 0 &&
           info.message_queue_len == 1;
}

/* ---- Calls, casts, infos. ---- */

static void a_call_gets_the_reply_of_handle_call(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    char out[64];
    assert_int_equal(
        kv_call(srv, kv(KV_INC, 5, NULL, NULL), out, sizeof(out), 0), 0);
    assert_string_equal(out, "5");
    assert_int_equal(
        kv_call(
            srv, kv(KV_ENTER, 0, "Tihon", "Barcelona"), out, sizeof(out), 1000),
        0);
    assert_string_equal(out, "ok");
    assert_int_equal(
        kv_call(srv, kv(KV_GET, 0, "Tihon", NULL), out, sizeof(out), 1000), 0);
    assert_string_equal(out, "Barcelona");
    /* The server is a process of kind server with its initial call. */
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(ctrace_server_pid(srv), &info), 0);
    assert_int_equal(info.kind, CTRACE_PROC_SERVER);
    assert_string_equal(info.initial_call, "ctrace_server:init/1");
    assert_int_equal(ctrace_server_stop(srv, NULL), 0);
}

static void a_cast_is_handled_before_a_later_call(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    /* The first cast keeps the server busy while the others queue. */
    assert_int_equal(kv_cast(srv, kv(KV_SLEEP, 30, NULL, NULL)), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(kv_cast(srv, kv(KV_INC, 1, NULL, NULL)), 0);
    assert_int_equal(counter_of(srv), 10);
    struct kv_msg info = kv(KV_INC, 0, NULL, NULL);
    assert_int_equal(ctrace_server_send(srv, &info, sizeof(info)), 0);
    char out[64];
    assert_int_equal(
        kv_call(srv, kv(KV_COUNTS, 0, NULL, NULL), out, sizeof(out), 1000), 0);
    assert_string_equal(out, "1 0 0");
    ctrace_server_stop(srv, NULL);
}

static void a_full_mailbox_fails_the_sender(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 4);
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(ctrace_sys_suspend(pid, 1000, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(kv_cast(srv, kv(KV_INC, 1, NULL, NULL)), 0);
    assert_int_equal(kv_cast(srv, kv(KV_INC, 1, NULL, NULL)), CTRACE_EFULL);
    struct kv_msg m = kv(KV_INC, 1, NULL, NULL);
    assert_int_equal(ctrace_server_send(srv, &m, sizeof(m)), CTRACE_EFULL);
    char out[16];
    assert_int_equal(
        kv_call(srv, kv(KV_COUNTER, 0, NULL, NULL), out, sizeof(out), 100),
        CTRACE_EFULL);
    /* The table sees the queue and the bytes it holds. */
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(pid, &info), 0);
    assert_int_equal(info.message_queue_len, 4);
    assert_int_equal(info.status, CTRACE_PROC_SUSPENDED);
    assert_true(info.memory >= 4 * sizeof(m));
    assert_int_equal(ctrace_sys_resume(pid, NULL), 0);
    /* Once resumed it drains the mailbox; a sender may then send again. */
    assert_true(eventually(queue_is_empty, &pid, 5000));
    assert_int_equal(counter_of(srv), 4);
    ctrace_server_stop(srv, NULL);
}

static void a_call_times_out_and_its_late_reply_is_dropped(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(ctrace_sys_suspend(pid, 1000, NULL), 0);
    char late[64];
    memset(late, 'Z', sizeof(late));
    struct kv_msg m = kv(KV_INC, 7, NULL, NULL);
    size_t n = 99;
    assert_int_equal(
        ctrace_server_call(srv, &m, sizeof(m), late, sizeof(late), &n, 50),
        -ETIMEDOUT);
    assert_int_equal(n, 0);
    /* The caller is running again, not waiting. */
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(ctrace_self(), &info), 0);
    assert_int_equal(info.status, CTRACE_PROC_RUNNING);
    assert_int_equal(ctrace_sys_resume(pid, NULL), 0);
    /* The request was still handled, and its reply went nowhere. */
    assert_int_equal(counter_of(srv), 7);
    for (size_t i = 0; i < sizeof(late); i++)
        assert_int_equal(late[i], 'Z');
    /* A call that times out while the server is in the callback. */
    char out[64];
    assert_int_equal(
        kv_call(srv, kv(KV_SLEEP, 100, NULL, NULL), out, sizeof(out), 20),
        -ETIMEDOUT);
    assert_int_equal(counter_of(srv), 7);
    ctrace_server_stop(srv, NULL);
}

static void too_long_messages_and_replies_are_refused(void **state)
{
    (void)state;
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.max_msg = 128;
    struct ctrace_server *srv = ctrace_server_start(&kv_callbacks, &o, NULL);
    assert_non_null(srv);
    char big[129] = {0};
    assert_int_equal(ctrace_server_cast(srv, big, sizeof(big)),
                     CTRACE_ETOOLONG);
    assert_int_equal(ctrace_server_send(srv, big, sizeof(big)),
                     CTRACE_ETOOLONG);
    char out[8];
    size_t n;
    assert_int_equal(
        ctrace_server_call(srv, big, sizeof(big), out, sizeof(out), &n, 100),
        CTRACE_ETOOLONG);
    /* A reply longer than the caller's buffer. */
    struct kv_msg m = kv(KV_BIG, 100, NULL, NULL);
    assert_int_equal(
        ctrace_server_call(srv, &m, sizeof(m), out, sizeof(out), &n, 1000),
        CTRACE_ETOOLONG);
    /* A reply longer than max_msg: handle_call's ctrace_reply_set fails
     * and the reply is empty. */
    m = kv(KV_BIG, 200, NULL, NULL);
    char wide[512];
    assert_int_equal(
        ctrace_server_call(srv, &m, sizeof(m), wide, sizeof(wide), &n, 1000),
        0);
    assert_int_equal(n, 0);
    struct ctrace_reply r = {out, sizeof(out), 0};
    assert_int_equal(ctrace_reply_set(&r, big, 9), CTRACE_ETOOLONG);
    assert_int_equal(r.len, 0);
    assert_int_equal(ctrace_reply_set(&r, "ok", 2), 0);
    assert_int_equal(r.len, 2);
    ctrace_server_stop(srv, NULL);
}

static void a_server_calling_itself_gets_edeadlock(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    struct kv_msg m = kv(KV_SELF_CALL, 0, NULL, NULL);
    m.srv = srv;
    char out[32];
    size_t n = 0;
    assert_int_equal(
        ctrace_server_call(srv, &m, sizeof(m), out, sizeof(out) - 1, &n, 1000),
        0);
    out[n] = '\0';
    assert_int_equal(atoi(out), CTRACE_EDEADLOCK);
    ctrace_server_stop(srv, NULL);
}

static void bad_input_is_refused_with_a_reason(void **state)
{
    (void)state;
    assert_int_equal(ctrace_server_cast(NULL, "x", 1), CTRACE_EINVAL);
    assert_int_equal(ctrace_server_send(NULL, "x", 1), CTRACE_EINVAL);
    assert_int_equal(ctrace_server_call(NULL, "x", 1, NULL, 0, NULL, 0),
                     CTRACE_EINVAL);
    assert_int_equal(ctrace_server_stop(NULL, NULL), 0);
    assert_int_equal(ctrace_server_pid(NULL), 0);

    struct ctrace_server_opts o;
    struct ctrace_error err;
    ctrace_server_opts_init(&o);
    o.mailbox = 0;
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_server_start(&kv_callbacks, &o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "mailbox"));
    o.mailbox = (1u << 16) + 1;
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_server_start(&kv_callbacks, &o, &err));
    assert_non_null(strstr(err.text, "mailbox"));
    ctrace_server_opts_init(&o);
    o.max_msg = 0;
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_server_start(&kv_callbacks, &o, &err));
    assert_non_null(strstr(err.text, "max_msg"));
    o.max_msg = (1u << 20) + 1;
    assert_null(ctrace_server_start(&kv_callbacks, &o, NULL));
    struct ctrace_server_callbacks none = {0};
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_server_start(&none, NULL, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "init"));
    assert_null(ctrace_server_start(NULL, NULL, NULL));

    /* init's failure comes back with its code and text. */
    struct kv_init fail = {.fail = true};
    ctrace_server_opts_init(&o);
    o.arg = &fail;
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_server_start(&kv_callbacks, &o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_string_equal(err.text, "no cats today");

    /* A taken name. */
    struct ctrace_server *srv = start_kv("kv_taken", 0);
    o.arg = NULL;
    o.name = "kv_taken";
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_server_start(&kv_callbacks, &o, &err));
    assert_int_equal(err.code, -EEXIST);
    assert_string_equal(err.text, "name kv_taken is taken");
    o.name = "no spaces allowed";
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_server_start(&kv_callbacks, &o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);

    struct kv_msg m = kv(KV_INC, 1, NULL, NULL);
    char out[8];
    assert_int_equal(
        ctrace_server_call(srv, NULL, 4, out, sizeof(out), NULL, 0),
        CTRACE_EINVAL);
    assert_int_equal(ctrace_server_call(srv, &m, sizeof(m), NULL, 4, NULL, 0),
                     CTRACE_EINVAL);
    assert_int_equal(ctrace_server_cast(srv, NULL, 4), CTRACE_EINVAL);
    ctrace_server_stop(srv, NULL);

    /* sys on pids that are not servers. */
    assert_int_equal(ctrace_sys_get_status(ctrace_self(), 100, NULL, NULL),
                     CTRACE_EINVAL);
    char *json = NULL;
    memset(&err, 0, sizeof(err));
    assert_int_equal(ctrace_sys_get_status(ctrace_self(), 100, &json, &err),
                     CTRACE_ENOPROC);
    assert_null(json);
    assert_non_null(strstr(err.text, "no server"));
    assert_int_equal(ctrace_sys_suspend(0, 100, NULL), CTRACE_ENOPROC);
    assert_int_equal(ctrace_sys_resume(12345678, NULL), CTRACE_ENOPROC);
    assert_int_equal(ctrace_sys_log(12345678, 3), CTRACE_ENOPROC);
    assert_int_equal(ctrace_sys_trace(12345678, true, -1), CTRACE_ENOPROC);
    assert_int_equal(ctrace_sys_statistics(12345678, true), CTRACE_ENOPROC);
}

/* ---- Timeouts and stopping. ---- */

static void handle_info_gets_a_timeout_when_nothing_arrives(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    char out[64];
    assert_int_equal(kv_cast(srv, kv(KV_TIMEOUT, 30, NULL, NULL)), 0);
    sleep_ms(150);
    assert_int_equal(
        kv_call(srv, kv(KV_COUNTS, 0, NULL, NULL), out, sizeof(out), 1000), 0);
    assert_string_equal(out, "0 1 0");
    /* A message that arrives first cancels it. */
    assert_int_equal(kv_cast(srv, kv(KV_TIMEOUT, 150, NULL, NULL)), 0);
    assert_int_equal(kv_cast(srv, kv(KV_INC, 1, NULL, NULL)), 0);
    sleep_ms(250);
    assert_int_equal(
        kv_call(srv, kv(KV_COUNTS, 0, NULL, NULL), out, sizeof(out), 1000), 0);
    assert_string_equal(out, "0 1 0");
    ctrace_server_stop(srv, NULL);
}

struct caller {
    struct ctrace_server *srv;
    struct kv_msg msg;
    uint32_t timeout_ms;
    atomic_bool *flag; /* read when the call returns */
    bool flag_seen;
    int rc;
    char out[64];
    uint64_t pid;
    atomic_bool started;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    c->pid = ctrace_self();
    atomic_store(&c->started, true);
    c->rc = kv_call(c->srv, c->msg, c->out, sizeof(c->out), c->timeout_ms);
    if (c->flag != NULL)
        c->flag_seen = atomic_load(c->flag);
    return NULL;
}

static bool is_waiting(void *arg)
{
    struct ctrace_proc_info info;
    return ctrace_proc_info(*(uint64_t *)arg, &info) == 0 &&
           info.status == CTRACE_PROC_WAITING;
}

static void stop_fails_a_waiting_caller(void **state)
{
    (void)state;
    atomic_int terminated = 0;
    struct kv_init watch = {.terminated = &terminated};
    terminate_watch = &watch;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(ctrace_sys_suspend(pid, 1000, NULL), 0);
    struct caller c = {.srv = srv, .msg = kv(KV_COUNTER, 0, NULL, NULL)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, caller_main, &c), 0);
    while (!atomic_load(&c.started))
        sleep_ms(1);
    assert_true(eventually(queue_is_one, &pid, 5000));
    /*
     * The caller waits, and the table says so (its message is queued a
     * moment before it marks itself waiting).
     */
    assert_true(eventually(is_waiting, &c.pid, 5000));
    struct ctrace_exit_notice old[CTRACE_PROC_NOTICES_MAX];
    (void)ctrace_proc_exits(old, CTRACE_PROC_NOTICES_MAX);
    assert_int_equal(ctrace_link(pid), 0);
    assert_int_equal(ctrace_server_stop(srv, "shutdown"), 0);
    /* A linked process learns the reason the server was stopped with. */
    struct ctrace_exit_notice n[CTRACE_PROC_NOTICES_MAX];
    size_t nn = ctrace_proc_exits(n, CTRACE_PROC_NOTICES_MAX);
    bool told = false;
    for (size_t i = 0; i < nn; i++)
        told =
            told || (n[i].pid == pid && strcmp(n[i].reason, "shutdown") == 0);
    assert_true(told);
    pthread_join(th, NULL);
    assert_int_equal(c.rc, CTRACE_ESTOPPED);
    assert_int_equal(atomic_load(&terminated), 1);
    assert_string_equal(watch.reason, "shutdown");
    terminate_watch = NULL;
    /* The process is dead with the stop's reason, and sys no longer
     * finds it. */
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(pid, &info), 0);
    assert_int_equal(info.status, CTRACE_PROC_DEAD);
    assert_string_equal(info.exit_reason, "shutdown");
    assert_int_equal(ctrace_sys_resume(pid, NULL), CTRACE_ENOPROC);
}

static void a_callback_can_stop_its_server(void **state)
{
    (void)state;
    atomic_int terminated = 0;
    struct kv_init watch = {.terminated = &terminated};
    terminate_watch = &watch;
    struct ctrace_server *srv = start_kv("kv_stops_itself", 0);
    uint64_t pid = ctrace_server_pid(srv);
    char out[16];
    assert_int_equal(
        kv_call(srv, kv(KV_STOP, 0, NULL, NULL), out, sizeof(out), 1000), 0);
    assert_string_equal(out, "bye");
    for (int i = 0; i < 500 && atomic_load(&terminated) == 0; i++)
        sleep_ms(2);
    assert_int_equal(atomic_load(&terminated), 1);
    assert_string_equal(watch.reason, "normal");
    assert_int_equal(kv_cast(srv, kv(KV_INC, 1, NULL, NULL)), CTRACE_ESTOPPED);
    assert_int_equal(
        kv_call(srv, kv(KV_COUNTER, 0, NULL, NULL), out, sizeof(out), 1000),
        CTRACE_ESTOPPED);
    assert_int_equal(ctrace_sys_suspend(pid, 100, NULL), CTRACE_ENOPROC);
    assert_int_equal(ctrace_server_stop(srv, NULL), 0);
    terminate_watch = NULL;
    /* The name went with the process. */
    assert_int_equal(ctrace_whereis("kv_stops_itself"), 0);
}

/* ---- sys. ---- */

static void get_state_round_trips_through_replace_state(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    char out[64];
    kv_call(srv, kv(KV_INC, 3, NULL, NULL), out, sizeof(out), 1000);
    kv_call(srv, kv(KV_ENTER, 0, "Tihon", "Minsk"), out, sizeof(out), 1000);
    char *json = NULL;
    struct ctrace_error err = {0};
    assert_int_equal(ctrace_sys_get_state(pid, 1000, &json, &err), 0);
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "counter")), 3);
    json_object_set_new(root, "counter", json_integer(40));
    json_object_set_new(
        json_object_get(root, "cats"), "Murka", json_string("Rome"));
    char *next = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    ctrace_free(json);
    assert_int_equal(ctrace_sys_replace_state(pid, next, 1000, &err), 0);
    free(next);
    assert_int_equal(counter_of(srv), 40);
    assert_int_equal(
        kv_call(srv, kv(KV_GET, 0, "Murka", NULL), out, sizeof(out), 1000), 0);
    assert_string_equal(out, "Rome");
    assert_int_equal(
        kv_call(srv, kv(KV_GET, 0, "Tihon", NULL), out, sizeof(out), 1000), 0);
    assert_string_equal(out, "Minsk");
    ctrace_server_stop(srv, NULL);

    /* Without format_state or replace_state there is nothing to do. */
    struct ctrace_server_callbacks bare = {.init = kv_init,
                                           .handle_call = kv_handle_call,
                                           .terminate = kv_terminate};
    srv = ctrace_server_start(&bare, NULL, NULL);
    assert_non_null(srv);
    pid = ctrace_server_pid(srv);
    assert_int_equal(ctrace_sys_get_state(pid, 1000, &json, NULL),
                     CTRACE_EUNSUPPORTED);
    assert_int_equal(ctrace_sys_replace_state(pid, "{}", 1000, NULL),
                     CTRACE_EUNSUPPORTED);
    /* get_status works without them, with a null state. */
    assert_int_equal(ctrace_sys_get_status(pid, 1000, &json, NULL), 0);
    assert_non_null(strstr(json, "\"state\":null"));
    ctrace_free(json);
    ctrace_server_stop(srv, NULL);
}

/*
 * A server that declares its state private (secrets): format_state, which
 * it has, is never called, so no sys request, status or log line shows
 * the state, and the refusal says why; replace_state still works.
 */
static void a_private_state_is_shown_nowhere(void **state)
{
    (void)state;
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    assert_false(o.private_state);
    o.private_state = true;
    struct ctrace_error err = {0};
    struct ctrace_server *srv = ctrace_server_start(&kv_callbacks, &o, &err);
    assert_non_null(srv);
    uint64_t pid = ctrace_server_pid(srv);
    char out[64];
    kv_call(
        srv, kv(KV_ENTER, 0, "Tihon", "Secretville"), out, sizeof(out), 1000);
    char *json = NULL;
    assert_int_equal(ctrace_sys_get_state(pid, 1000, &json, &err),
                     CTRACE_EUNSUPPORTED);
    assert_null(json);
    assert_non_null(strstr(err.text, "declares its state private"));
    assert_int_equal(ctrace_sys_patch_state(pid, "{}", NULL, 1000, NULL, &err),
                     CTRACE_EUNSUPPORTED);
    assert_non_null(strstr(err.text, "declares its state private"));
    /* get_status: everything but the state. */
    assert_int_equal(ctrace_sys_get_status(pid, 1000, &json, NULL), 0);
    assert_non_null(strstr(json, "\"state\":null"));
    assert_null(strstr(json, "Secretville"));
    ctrace_free(json);
    /* The sys log's lines carry no state either. */
    assert_int_equal(ctrace_sys_log(pid, 5), 0);
    kv_call(
        srv, kv(KV_ENTER, 0, "Murka", "Secretville"), out, sizeof(out), 1000);
    char *log = NULL;
    assert_int_equal(ctrace_sys_log_get(pid, &log), 0);
    assert_non_null(strstr(log, "*DBG*"));
    assert_null(strstr(log, "new state"));
    ctrace_free(log);
    /* Written blind, it is taken. */
    assert_int_equal(
        ctrace_sys_replace_state(pid, "{\"counter\":7}", 1000, &err), 0);
    assert_int_equal(counter_of(srv), 7);
    ctrace_server_stop(srv, NULL);
}

static void a_rejected_replace_state_keeps_the_old_state(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    char out[64];
    kv_call(srv, kv(KV_INC, 9, NULL, NULL), out, sizeof(out), 1000);
    struct ctrace_error err = {0};
    assert_int_equal(
        ctrace_sys_replace_state(pid, "{\"counter\":\"many\"}", 1000, &err),
        CTRACE_EINVAL);
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_string_equal(err.text, "counter must be an integer");
    memset(&err, 0, sizeof(err));
    assert_int_equal(ctrace_sys_replace_state(pid, "{nope", 1000, &err),
                     CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "not JSON"));
    assert_int_equal(counter_of(srv), 9);
    ctrace_server_stop(srv, NULL);
}

/* A server whose state is any JSON document, kept as its text. */
static int doc_init(void *arg, void **state, struct ctrace_error *err)
{
    (void)err;
    *state = strdup(arg != NULL ? arg : "{}");
    return *state != NULL ? 0 : CTRACE_ENOMEM;
}

static int
doc_call(void *state, const void *msg, size_t len, struct ctrace_reply *reply)
{
    (void)state;
    (void)msg;
    (void)len;
    (void)reply;
    return CTRACE_SERVER_CONTINUE;
}

static void doc_terminate(void *state, const char *reason)
{
    (void)reason;
    free(state);
}

static char *doc_format_state(const void *state)
{
    return strdup(state);
}

static int doc_replace_state(void **state,
                             const char *json,
                             size_t len,
                             struct ctrace_error *err)
{
    (void)err;
    char *next = strndup(json, len);
    if (next == NULL)
        return CTRACE_ENOMEM;
    free(*state);
    *state = next;
    return 0;
}

static struct ctrace_server *start_doc(const char *doc)
{
    static const struct ctrace_server_callbacks cb = {
        .init = doc_init,
        .handle_call = doc_call,
        .terminate = doc_terminate,
        .format_state = doc_format_state,
        .replace_state = doc_replace_state,
    };
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.arg = (void *)doc;
    struct ctrace_server *srv = ctrace_server_start(&cb, &o, NULL);
    assert_non_null(srv);
    return srv;
}

/* Whether two JSON texts are the same value. */
static bool same_json(const char *a, const char *b)
{
    json_error_t je;
    json_t *x = json_loads(a, JSON_DECODE_ANY, &je);
    json_t *y = json_loads(b, JSON_DECODE_ANY, &je);
    bool same = x != NULL && y != NULL && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return same;
}

static void a_merge_patch_follows_rfc_7386(void **state)
{
    (void)state;
    /* The examples of RFC 7386, appendix A: target, patch, result. */
    static const char *const cases[][3] = {
        {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
        {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
        {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
        {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
        {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
        {"{\"a\":{\"b\":\"c\"}}",
         "{\"a\":{\"b\":\"d\",\"c\":null}}",
         "{\"a\":{\"b\":\"d\"}}"},
        {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
        {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
        {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
        {"{\"a\":\"foo\"}", "null", "null"},
        {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
        {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
        {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
        {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctrace_server *srv = start_doc(cases[i][0]);
        uint64_t pid = ctrace_server_pid(srv);
        char *now = NULL;
        struct ctrace_error err = {0};
        int rc =
            ctrace_sys_patch_state(pid, cases[i][1], NULL, 1000, &now, &err);
        if (rc != 0 || !same_json(now, cases[i][2]))
            fail_msg("case %zu: %s + %s gave %d %s (%s), expected %s",
                     i,
                     cases[i][0],
                     cases[i][1],
                     rc,
                     now != NULL ? now : "-",
                     err.text,
                     cases[i][2]);
        ctrace_free(now);
        /* What the server keeps is what the call answered. */
        assert_int_equal(ctrace_sys_get_state(pid, 1000, &now, NULL), 0);
        assert_true(same_json(now, cases[i][2]));
        ctrace_free(now);
        ctrace_server_stop(srv, NULL);
    }
}

static void
a_patch_that_is_not_json_says_where_and_changes_nothing(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_doc("{\"a\":1}");
    uint64_t pid = ctrace_server_pid(srv);
    struct ctrace_error err = {0};
    assert_int_equal(
        ctrace_sys_patch_state(pid, "{\"a\":", NULL, 1000, NULL, &err),
        CTRACE_EINVAL);
    assert_non_null(strstr(err.text, "the patch is not JSON: line 1, column"));
    assert_int_equal(ctrace_sys_patch_state(pid, NULL, NULL, 1000, NULL, &err),
                     CTRACE_EINVAL);
    char *now = NULL;
    assert_int_equal(ctrace_sys_get_state(pid, 1000, &now, NULL), 0);
    assert_string_equal(now, "{\"a\":1}");
    ctrace_free(now);
    ctrace_server_stop(srv, NULL);
}

static void a_stale_version_replaces_nothing(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    char out[64];
    char *read = NULL;
    assert_int_equal(ctrace_sys_get_state(pid, 1000, &read, NULL), 0);
    uint64_t v = ctrace_sys_state_version(read, strlen(read));
    /* A message changes the state after it was read. */
    kv_call(srv, kv(KV_INC, 5, NULL, NULL), out, sizeof(out), 1000);
    struct ctrace_error err = {0};
    assert_int_equal(
        ctrace_sys_replace_state_if(pid, read, v, 1000, NULL, &err),
        CTRACE_ESTALE);
    assert_non_null(strstr(err.text, "the state changed since version"));
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        ctrace_sys_patch_state(pid, "{\"counter\":0}", &v, 1000, NULL, &err),
        CTRACE_ESTALE);
    assert_int_equal(counter_of(srv), 5);
    ctrace_free(read);

    /* The version of what is there now is taken, and the answer is the new
     * state with its own version. */
    assert_int_equal(ctrace_sys_get_state(pid, 1000, &read, NULL), 0);
    v = ctrace_sys_state_version(read, strlen(read));
    assert_int_equal(ctrace_sys_state_version(read, strlen(read)), v);
    char *now = NULL;
    assert_int_equal(
        ctrace_sys_patch_state(pid, "{\"counter\":42}", &v, 1000, &now, &err),
        0);
    assert_non_null(strstr(now, "\"counter\": 42"));
    assert_true(ctrace_sys_state_version(now, strlen(now)) != v);
    assert_int_equal(counter_of(srv), 42);
    ctrace_free(read);
    ctrace_free(now);
    ctrace_server_stop(srv, NULL);

    /* A version or a patch needs format_state. */
    struct ctrace_server_callbacks no_format = kv_callbacks;
    no_format.format_state = NULL;
    srv = ctrace_server_start(&no_format, NULL, NULL);
    assert_non_null(srv);
    pid = ctrace_server_pid(srv);
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        ctrace_sys_replace_state_if(pid, "{}", v, 1000, NULL, &err),
        CTRACE_EUNSUPPORTED);
    assert_non_null(strstr(err.text, "no format_state callback"));
    assert_int_equal(ctrace_sys_patch_state(pid, "{}", NULL, 1000, NULL, &err),
                     CTRACE_EUNSUPPORTED);
    ctrace_server_stop(srv, NULL);
}

struct incrementer {
    struct ctrace_server *srv;
    int n;
};

static void *increment_main(void *arg)
{
    struct incrementer *w = arg;
    char out[64];
    for (int i = 0; i < w->n; i++)
        kv_call(w->srv, kv(KV_INC, 1, NULL, NULL), out, sizeof(out), 5000);
    return NULL;
}

static void a_patch_loses_no_update_made_by_messages(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    struct incrementer w = {srv, 2000};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, increment_main, &w), 0);
    /* Meanwhile the cats change, by patch only: the counter is the
     * messages' alone. */
    for (int i = 0; i < 200; i++) {
        char patch[64];
        snprintf(patch, sizeof(patch), "{\"cats\":{\"Murka\":\"T%d\"}}", i);
        struct ctrace_error err = {0};
        int rc = ctrace_sys_patch_state(pid, patch, NULL, 5000, NULL, &err);
        if (rc != 0) {
            pthread_join(th, NULL);
            fail_msg("patch %d: %s", i, err.text);
        }
    }
    pthread_join(th, NULL);
    assert_int_equal(counter_of(srv), 2000);
    char out[64];
    assert_int_equal(
        kv_call(srv, kv(KV_GET, 0, "Murka", NULL), out, sizeof(out), 1000), 0);
    assert_string_equal(out, "T199");
    ctrace_server_stop(srv, NULL);
}

static void get_status_describes_the_server(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv("kv_status", 8);
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(ctrace_whereis("kv_status"), pid);
    char out[64];
    kv_call(srv, kv(KV_INC, 2, NULL, NULL), out, sizeof(out), 1000);
    char *text = NULL;
    assert_int_equal(ctrace_sys_get_status(pid, 1000, &text, NULL), 0);
    assert_null(strchr(text, '\n'));
    json_error_t je;
    json_t *st = json_loads(text, 0, &je);
    assert_non_null(st);
    char want_pid[48];
    snprintf(want_pid, sizeof(want_pid), "<0.%" PRIu64 ".0>", pid);
    assert_string_equal(json_string_value(json_object_get(st, "pid")),
                        want_pid);
    assert_string_equal(json_string_value(json_object_get(st, "name")),
                        "kv_status");
    assert_string_equal(json_string_value(json_object_get(st, "initial_call")),
                        "kv_status:init/1");
    assert_string_equal(json_string_value(json_object_get(st, "status")),
                        "running");
    json_t *mb = json_object_get(st, "mailbox");
    assert_int_equal(json_integer_value(json_object_get(mb, "len")), 0);
    assert_int_equal(json_integer_value(json_object_get(mb, "capacity")), 8);
    json_t *dbg = json_object_get(st, "debug");
    assert_true(json_is_false(json_object_get(dbg, "trace")));
    assert_int_equal(json_integer_value(json_object_get(dbg, "log")), 0);
    assert_true(json_is_false(json_object_get(dbg, "statistics")));
    assert_null(json_object_get(st, "statistics"));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(st, "state"), "counter")),
                     2);
    json_decref(st);
    ctrace_free(text);

    /* Suspended, with statistics and a log. */
    assert_int_equal(ctrace_sys_statistics(pid, true), 0);
    assert_int_equal(ctrace_sys_log(pid, 5), 0);
    assert_int_equal(ctrace_sys_suspend(pid, 1000, NULL), 0);
    assert_int_equal(kv_cast(srv, kv(KV_INC, 1, NULL, NULL)), 0);
    assert_int_equal(ctrace_sys_get_status(pid, 1000, &text, NULL), 0);
    st = json_loads(text, 0, &je);
    assert_non_null(st);
    assert_string_equal(json_string_value(json_object_get(st, "status")),
                        "suspended");
    mb = json_object_get(st, "mailbox");
    assert_int_equal(json_integer_value(json_object_get(mb, "len")), 1);
    dbg = json_object_get(st, "debug");
    assert_int_equal(json_integer_value(json_object_get(dbg, "log")), 5);
    assert_true(json_is_true(json_object_get(dbg, "statistics")));
    json_t *stats = json_object_get(st, "statistics");
    assert_non_null(stats);
    assert_int_equal(json_integer_value(json_object_get(stats, "queue_len")),
                     1);
    assert_non_null(json_object_get(stats, "reductions"));
    json_decref(st);
    ctrace_free(text);
    assert_int_equal(ctrace_sys_resume(pid, NULL), 0);
    assert_int_equal(counter_of(srv), 3);
    ctrace_server_stop(srv, NULL);
}

static void suspend_holds_calls_until_resume(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(ctrace_sys_suspend(pid, 1000, NULL), 0);
    /* Suspending twice is fine; sys requests still work. */
    assert_int_equal(ctrace_sys_suspend(pid, 1000, NULL), 0);
    atomic_bool resumed = false;
    struct caller c = {
        .srv = srv, .msg = kv(KV_INC, 1, NULL, NULL), .flag = &resumed};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, caller_main, &c), 0);
    assert_true(eventually(queue_is_one, &pid, 5000));
    char *json = NULL;
    assert_int_equal(ctrace_sys_get_state(pid, 1000, &json, NULL), 0);
    ctrace_free(json);
    sleep_ms(100);
    atomic_store(&resumed, true);
    assert_int_equal(ctrace_sys_resume(pid, NULL), 0);
    pthread_join(th, NULL);
    assert_int_equal(c.rc, 0);
    assert_true(c.flag_seen);
    assert_string_equal(c.out, "1");
    ctrace_server_stop(srv, NULL);
}

static void a_sys_request_times_out_on_a_busy_server(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(kv_cast(srv, kv(KV_SLEEP, 300, NULL, NULL)), 0);
    /* Taken from the mailbox: the server is in the callback. */
    assert_true(eventually(queue_is_empty, &pid, 5000));
    struct ctrace_error err = {0};
    char *json = NULL;
    assert_int_equal(ctrace_sys_get_state(pid, 30, &json, &err), -ETIMEDOUT);
    assert_null(json);
    assert_non_null(strstr(err.text, "did not answer"));
    /* The late answer is thrown away; the next request works. */
    assert_int_equal(ctrace_sys_get_state(pid, 2000, &json, NULL), 0);
    assert_non_null(json);
    ctrace_free(json);
    ctrace_server_stop(srv, NULL);
}

struct log_wait {
    uint64_t pid;
    const char *needle;
};

static bool log_has(void *arg)
{
    struct log_wait *w = arg;
    char *text = NULL;
    bool found = ctrace_sys_log_get(w->pid, &text) == 0 &&
                 strstr(text, w->needle) != NULL;
    ctrace_free(text);
    return found;
}

static void the_sys_log_keeps_the_last_n_events(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv("kv_log", 0);
    uint64_t pid = ctrace_server_pid(srv);
    char *text = NULL;
    assert_int_equal(ctrace_sys_log_get(pid, &text), 0);
    assert_string_equal(text, "");
    ctrace_free(text);
    assert_int_equal(ctrace_sys_log(pid, 3), 0);
    const char *cats[] = {"c1", "c2", "c3", "c4", "c5"};
    for (int i = 0; i < 5; i++) {
        /* Infos that leave the state alone: one line each. */
        struct kv_msg m = kv(KV_ENTER, 0, cats[i], "Oslo");
        assert_int_equal(ctrace_server_send(srv, &m, sizeof(m)), 0);
    }
    struct log_wait w = {pid, "c5"};
    assert_true(eventually(log_has, &w, 5000));
    assert_int_equal(ctrace_sys_log_get(pid, &text), 0);
    assert_string_equal(text,
                        "*DBG* kv_log got {enter,\"c3\",\"Oslo\"}\n"
                        "*DBG* kv_log got {enter,\"c4\",\"Oslo\"}\n"
                        "*DBG* kv_log got {enter,\"c5\",\"Oslo\"}");
    ctrace_free(text);

    /* A cast that changes the state logs its new state on one line. */
    assert_int_equal(kv_cast(srv, kv(KV_INC, 2, NULL, NULL)), 0);
    w.needle = "new state";
    assert_true(eventually(log_has, &w, 5000));
    assert_int_equal(ctrace_sys_log_get(pid, &text), 0);
    assert_non_null(strstr(text,
                           "*DBG* kv_log got cast {inc,2}\n"
                           "*DBG* kv_log new state "
                           "{\"counter\":2,\"cats\":{}}"));
    ctrace_free(text);

    /* A reply is in the log by the time its caller has it. */
    char out[64];
    assert_int_equal(
        kv_call(srv, kv(KV_COUNTER, 0, NULL, NULL), out, sizeof(out), 5000), 0);
    assert_int_equal(ctrace_sys_log_get(pid, &text), 0);
    assert_non_null(strstr(text, "*DBG* kv_log sent "));
    ctrace_free(text);

    /* Shrinking keeps the newest; printing writes them, one a line. */
    assert_int_equal(ctrace_sys_log(pid, 1), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(ctrace_sys_log_print(pid, fds[1]), 0);
    close(fds[1]);
    char buf[512] = {0};
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    /* The one line kept: the newest, the reply above. */
    assert_int_equal(strncmp(buf, "*DBG* kv_log sent 2 to <0.", 26), 0);
    assert_non_null(strstr(buf, ", new state {\"counter\":2,\"cats\":{}}\n"));
    assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
    assert_int_equal(ctrace_sys_log(pid, 0), 0);
    assert_int_equal(ctrace_sys_log_get(pid, &text), 0);
    assert_string_equal(text, "");
    ctrace_free(text);
    assert_int_equal(ctrace_sys_log(pid, CTRACE_SYS_LOG_MAX + 1),
                     CTRACE_EINVAL);
    ctrace_server_stop(srv, NULL);
}

static void sys_trace_writes_lines_to_a_fd(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv("kv_trace", 0);
    uint64_t pid = ctrace_server_pid(srv);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(ctrace_sys_trace(pid, true, fds[1]), 0);
    char out[64];
    assert_int_equal(
        kv_call(
            srv, kv(KV_ENTER, 0, "Tihon", "Barcelona"), out, sizeof(out), 1000),
        0);
    /* The reply reaches the caller before the server writes its "sent"
     * line; a sys request is served only once that is done. */
    char *json = NULL;
    assert_int_equal(ctrace_sys_get_state(pid, 1000, &json, NULL), 0);
    ctrace_free(json);
    assert_int_equal(ctrace_sys_trace(pid, false, -1), 0);
    /* Nothing more is written once trace is off. */
    kv_call(srv, kv(KV_INC, 1, NULL, NULL), out, sizeof(out), 1000);
    close(fds[1]);
    char buf[1024] = {0};
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    char want[512];
    uint64_t me = ctrace_self();
    snprintf(want,
             sizeof(want),
             "*DBG* kv_trace got call {enter,\"Tihon\",\"Barcelona\"} from "
             "<0.%" PRIu64 ".0>\n"
             "*DBG* kv_trace sent ok to <0.%" PRIu64 ".0>, new state "
             "{\"counter\":0,\"cats\":{\"Tihon\":\"Barcelona\"}}\n",
             me,
             me);
    assert_string_equal(buf, want);
    ctrace_server_stop(srv, NULL);
}

static void statistics_count_messages_in_and_out(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);
    struct ctrace_sys_stats st;
    assert_int_equal(ctrace_sys_statistics_get(pid, &st), CTRACE_ENOTFOUND);
    char out[64];
    kv_call(srv, kv(KV_INC, 1, NULL, NULL), out, sizeof(out), 1000);
    assert_int_equal(ctrace_sys_statistics(pid, true), 0);
    for (int i = 0; i < 3; i++)
        kv_call(srv, kv(KV_INC, 1, NULL, NULL), out, sizeof(out), 1000);
    for (int i = 0; i < 2; i++)
        kv_cast(srv, kv(KV_INC, 1, NULL, NULL));
    struct kv_msg m = kv(KV_INC, 0, NULL, NULL);
    ctrace_server_send(srv, &m, sizeof(m));
    assert_int_equal(counter_of(srv), 6);
    assert_int_equal(ctrace_sys_statistics_get(pid, &st), 0);
    assert_int_equal(st.messages_in, 7);
    assert_int_equal(st.messages_out, 4);
    assert_int_equal(st.queue_len, 0);
    assert_true(st.start_us > 1000000000000000LL);
    assert_int_equal(ctrace_sys_statistics(pid, false), 0);
    assert_int_equal(ctrace_sys_statistics_get(pid, &st), CTRACE_ENOTFOUND);
    ctrace_server_stop(srv, NULL);
}

/* ---- Links and process events. ---- */

struct linker {
    uint64_t server;
    uint64_t pid;
    const char *reason;
    int rc;
};

static void *linker_main(void *arg)
{
    struct linker *l = arg;
    l->pid = ctrace_proc_begin("kv_test:linker/1");
    l->rc = ctrace_link(l->server);
    ctrace_proc_end(l->reason);
    return NULL;
}

struct exits_wait {
    struct ctrace_server *srv;
    long want;
};

static bool exits_reached(void *arg)
{
    struct exits_wait *w = arg;
    char out[64];
    if (kv_call(w->srv, kv(KV_COUNTS, 0, NULL, NULL), out, sizeof(out), 1000) !=
        0)
        return false;
    long infos, timeouts, exits;
    return sscanf(out, "%ld %ld %ld", &infos, &timeouts, &exits) == 3 &&
           exits >= w->want;
}

static void a_linked_process_exit_reaches_handle_info(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 2);
    struct linker l = {.server = ctrace_server_pid(srv), .reason = "boom"};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, linker_main, &l), 0);
    pthread_join(th, NULL);
    assert_int_equal(l.rc, 0);
    struct exits_wait w = {srv, 1};
    assert_true(eventually(exits_reached, &w, 5000));
    char out[256];
    assert_int_equal(
        kv_call(srv, kv(KV_LAST_EXIT, 0, NULL, NULL), out, sizeof(out), 1000),
        0);
    char want[256];
    snprintf(want, sizeof(want), "%" PRIu64 " boom", l.pid);
    assert_string_equal(out, want);

    /* Notices are not lost to a full mailbox: suspended with both slots
     * taken, three linked processes end. */
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(ctrace_sys_suspend(pid, 1000, NULL), 0);
    assert_int_equal(kv_cast(srv, kv(KV_INC, 1, NULL, NULL)), 0);
    assert_int_equal(kv_cast(srv, kv(KV_INC, 1, NULL, NULL)), 0);
    for (int i = 0; i < 3; i++) {
        struct linker k = {.server = pid, .reason = "crash"};
        assert_int_equal(pthread_create(&th, NULL, linker_main, &k), 0);
        pthread_join(th, NULL);
        assert_int_equal(k.rc, 0);
    }
    assert_int_equal(ctrace_sys_resume(pid, NULL), 0);
    w.want = 4;
    assert_true(eventually(exits_reached, &w, 5000));
    assert_int_equal(counter_of(srv), 2);
    ctrace_server_stop(srv, NULL);
}

#define MAX_SEEN 64

struct seen {
    pthread_mutex_t lock;
    size_t n;
    struct {
        enum ctrace_event_kind kind;
        uint64_t pid;
        uint64_t peer_pid;
        char message[128];
    } ev[MAX_SEEN];
};

static void on_event(const struct ctrace_event *ev, void *arg)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_SEEN) {
        s->ev[s->n].kind = ev->kind;
        s->ev[s->n].pid = ev->pid;
        s->ev[s->n].peer_pid = ev->peer_pid;
        if (ev->message != NULL)
            ctrace_value_format(ev->message,
                                NULL,
                                s->ev[s->n].message,
                                sizeof(s->ev[s->n].message));
        s->n++;
    }
    pthread_mutex_unlock(&s->lock);
}

static void sessions_see_sends_and_receives(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv("kv_events", 0);
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(ctrace_whereis("kv_events"), pid);
    uint64_t me = ctrace_self();

    struct seen *seen = calloc(1, sizeof(*seen));
    pthread_mutex_init(&seen->lock, NULL);
    struct ctrace_session_opts o;
    ctrace_session_opts_init(&o);
    o.msgs = 1000;
    o.time_ms = 10000;
    o.procs = CTRACE_PROCS_ALL;
    o.on_event = on_event;
    o.arg = seen;
    const char *specs[] = {"send", "receive"};
    struct ctrace_error err = {0};
    struct ctrace_session *s = ctrace_session_start(specs, 2, &o, &err);
    if (s == NULL)
        fail_msg("session: %s", err.text);
    char out[64];
    assert_int_equal(
        kv_call(
            srv, kv(KV_ENTER, 0, "Tihon", "Barcelona"), out, sizeof(out), 1000),
        0);
    assert_int_equal(kv_cast(srv, kv(KV_INC, 4, NULL, NULL)), 0);
    assert_int_equal(counter_of(srv), 4);
    ctrace_session_stop(s);
    assert_int_equal(ctrace_session_wait(s, 10000), 0);
    ctrace_session_free(s);

    bool sent_call = false, got_call = false, sent_reply = false;
    bool got_cast = false;
    for (size_t i = 0; i < seen->n; i++) {
        if (seen->ev[i].kind == CTRACE_EVENT_SEND && seen->ev[i].pid == me &&
            seen->ev[i].peer_pid == pid &&
            strcmp(seen->ev[i].message,
                   "{call,{enter,\"Tihon\",\"Barcelona\"}}") == 0)
            sent_call = true;
        if (seen->ev[i].kind == CTRACE_EVENT_RECEIVE &&
            seen->ev[i].pid == pid && seen->ev[i].peer_pid == me &&
            strcmp(seen->ev[i].message,
                   "{call,{enter,\"Tihon\",\"Barcelona\"}}") == 0) {
            assert_true(sent_call); /* the send comes first */
            got_call = true;
        }
        if (seen->ev[i].kind == CTRACE_EVENT_SEND && seen->ev[i].pid == pid &&
            seen->ev[i].peer_pid == me &&
            strcmp(seen->ev[i].message, "{reply,ok}") == 0)
            sent_reply = true;
        if (seen->ev[i].kind == CTRACE_EVENT_RECEIVE &&
            seen->ev[i].pid == pid &&
            strcmp(seen->ev[i].message, "{cast,{inc,4}}") == 0)
            got_cast = true;
    }
    if (!(sent_call && got_call && sent_reply && got_cast)) {
        for (size_t i = 0; i < seen->n; i++)
            print_message("%d %" PRIu64 " -> %" PRIu64 " %s\n",
                          (int)seen->ev[i].kind,
                          seen->ev[i].pid,
                          seen->ev[i].peer_pid,
                          seen->ev[i].message);
    }
    assert_true(sent_call);
    assert_true(got_call);
    assert_true(sent_reply);
    assert_true(got_cast);
    pthread_mutex_destroy(&seen->lock);
    free(seen);
    ctrace_server_stop(srv, NULL);
}

/* ---- Stress. ---- */

struct stress {
    struct ctrace_server *srv;
    uint64_t pid;
    atomic_bool stop;
    _Atomic uint64_t churn_pid;
    atomic_long incs_ok;      /* casts queued and calls answered */
    atomic_long incs_unknown; /* calls that timed out: maybe handled */
    atomic_long bad;          /* unexpected results, checked at the end */
    atomic_long churned;      /* servers started and stopped */
    atomic_long suspends;     /* suspends that succeeded */
    int null_fd;
};

static void *stress_caller(void *arg)
{
    struct stress *s = arg;
    unsigned i = 0;
    while (!atomic_load(&s->stop)) {
        char out[64];
        i++;
        if (i % 3 == 0) {
            if (kv_cast(s->srv, kv(KV_INC, 1, NULL, NULL)) == 0)
                atomic_fetch_add(&s->incs_ok, 1);
        } else if (i % 7 == 0) {
            struct kv_msg m = kv(KV_ENTER, 0, "Tihon", "Paris");
            (void)ctrace_server_send(s->srv, &m, sizeof(m));
        } else {
            int rc = kv_call(
                s->srv, kv(KV_INC, 1, NULL, NULL), out, sizeof(out), 20);
            if (rc == 0)
                atomic_fetch_add(&s->incs_ok, 1);
            else if (rc == -ETIMEDOUT)
                atomic_fetch_add(&s->incs_unknown, 1);
            else if (rc != CTRACE_EFULL)
                atomic_fetch_add(&s->bad, 1);
        }
    }
    return NULL;
}

static void *stress_toggler(void *arg)
{
    struct stress *s = arg;
    unsigned i = 0;
    while (!atomic_load(&s->stop)) {
        i++;
        uint64_t pid = (i % 2) ? s->pid : atomic_load(&s->churn_pid);
        int rc = ctrace_sys_suspend(pid, 50, NULL);
        if (rc == 0)
            atomic_fetch_add(&s->suspends, 1);
        if (rc != 0 && rc != -ETIMEDOUT && rc != CTRACE_ENOPROC)
            atomic_fetch_add(&s->bad, 1);
        /* Now and then long enough for waiting calls to time out. */
        sleep_ms(i % 16 == 1 ? 30 : 1);
        rc = ctrace_sys_resume(pid, NULL);
        if (rc != 0 && rc != CTRACE_ENOPROC)
            atomic_fetch_add(&s->bad, 1);
        (void)ctrace_sys_log(pid, (i % 4) ? 5 : 0);
        (void)ctrace_sys_statistics(pid, i % 3 != 0);
        (void)ctrace_sys_trace(pid, i % 5 == 0, s->null_fd);
        struct ctrace_sys_stats st;
        (void)ctrace_sys_statistics_get(pid, &st);
        char *text = NULL;
        if (ctrace_sys_get_status(pid, 50, &text, NULL) == 0) {
            json_error_t je;
            json_t *j = json_loads(text, 0, &je);
            if (j == NULL)
                atomic_fetch_add(&s->bad, 1);
            json_decref(j);
        }
        ctrace_free(text);
        text = NULL;
        if (ctrace_sys_log_get(pid, &text) == 0)
            ctrace_free(text);
        if (i % 8 == 0)
            (void)ctrace_sys_replace_state(
                pid, "{\"counter\":\"x\"}", 50, NULL);
    }
    /* Leave the long-lived server running. */
    (void)ctrace_sys_resume(s->pid, NULL);
    return NULL;
}

static void *stress_churner(void *arg)
{
    struct stress *s = arg;
    while (!atomic_load(&s->stop)) {
        struct ctrace_server *srv = start_kv(NULL, 4);
        atomic_store(&s->churn_pid, ctrace_server_pid(srv));
        char out[64];
        for (int i = 0; i < 5; i++) {
            (void)kv_cast(srv, kv(KV_INC, 1, NULL, NULL));
            (void)kv_call(srv, kv(KV_INC, 1, NULL, NULL), out, sizeof(out), 20);
        }
        struct linker l = {.server = ctrace_server_pid(srv), .reason = "churn"};
        pthread_t th;
        if (pthread_create(&th, NULL, linker_main, &l) == 0)
            pthread_join(th, NULL);
        ctrace_server_stop(srv, "churn");
        atomic_fetch_add(&s->churned, 1);
    }
    return NULL;
}

static void servers_survive_concurrent_callers_and_sys_requests(void **state)
{
    (void)state;
    struct stress s;
    memset(&s, 0, sizeof(s));
    s.srv = start_kv("kv_stress", 16);
    s.pid = ctrace_server_pid(s.srv);
    s.null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(s.null_fd >= 0);
    enum { CALLERS = 3 };
    pthread_t callers[CALLERS], toggler, churner;
    for (int i = 0; i < CALLERS; i++)
        assert_int_equal(pthread_create(&callers[i], NULL, stress_caller, &s),
                         0);
    assert_int_equal(pthread_create(&toggler, NULL, stress_toggler, &s), 0);
    assert_int_equal(pthread_create(&churner, NULL, stress_churner, &s), 0);
    const char *env = getenv("CTRACE_STRESS_SECONDS");
    long ms = env != NULL ? atol(env) * 1000 : 2000;
    if (ms > 5000)
        ms = 5000;
    sleep_ms(ms);
    atomic_store(&s.stop, true);
    for (int i = 0; i < CALLERS; i++)
        pthread_join(callers[i], NULL);
    pthread_join(toggler, NULL);
    pthread_join(churner, NULL);
    assert_int_equal(ctrace_sys_log(s.pid, 0), 0);
    assert_int_equal(ctrace_sys_trace(s.pid, false, -1), 0);
    assert_int_equal(ctrace_sys_resume(s.pid, NULL), 0);
    /* Timed-out calls may or may not have been handled; every cast and
     * answered call was (the replacements were all rejected). */
    long counter = counter_of(s.srv);
    long most = atomic_load(&s.incs_ok) + atomic_load(&s.incs_unknown);
    print_message("stress: %ld incs, %ld timed out, %ld suspends, %ld "
                  "servers started and stopped\n",
                  atomic_load(&s.incs_ok),
                  atomic_load(&s.incs_unknown),
                  atomic_load(&s.suspends),
                  atomic_load(&s.churned));
    assert_int_equal(atomic_load(&s.bad), 0);
    assert_true(counter >= atomic_load(&s.incs_ok));
    assert_true(counter <= most);
    assert_true(atomic_load(&s.incs_ok) > 0);
    ctrace_server_stop(s.srv, NULL);
    close(s.null_fd);
}

/* ---- Callers that go away, init failures, fork. ---- */

/* init that links to the pid in `arg` and then fails. */
static int
linked_failing_init(void *arg, void **state, struct ctrace_error *err)
{
    (void)state;
    if (ctrace_link(*(const uint64_t *)arg) != 0)
        return CTRACE_ENOPROC;
    snprintf(err->text, sizeof(err->text), "no cats today");
    return CTRACE_EINVAL;
}

/*
 * A server whose init fails ends with that failure, as gen_server's
 * {stop, Reason} does, and a process init linked to learns it.
 */
static void a_failed_init_ends_the_process_with_its_reason(void **state)
{
    (void)state;
    struct ctrace_exit_notice old[CTRACE_PROC_NOTICES_MAX];
    (void)ctrace_proc_exits(old, CTRACE_PROC_NOTICES_MAX);
    uint64_t me = ctrace_self();
    const struct ctrace_server_callbacks cb = {.init = linked_failing_init};
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.arg = &me;
    struct ctrace_error err = {0};
    assert_null(ctrace_server_start(&cb, &o, &err));
    assert_int_equal(err.code, CTRACE_EINVAL);
    struct ctrace_exit_notice n[CTRACE_PROC_NOTICES_MAX];
    assert_int_equal(ctrace_proc_exits(n, CTRACE_PROC_NOTICES_MAX), 1);
    assert_string_equal(n[0].reason, "no cats today");
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(n[0].pid, &info), 0);
    assert_int_equal(info.status, CTRACE_PROC_DEAD);
    assert_string_equal(info.exit_reason, "no cats today");
}

/* A helper that does its work on a thread of its own, with a deadline. */
struct watched {
    struct ctrace_server *srv;
    uint64_t pid;
    int rc;
    long counter;
    atomic_bool done;
};

static void *resume_and_count(void *arg)
{
    struct watched *w = arg;
    char out[64] = "";
    w->rc = ctrace_sys_resume(w->pid, NULL);
    if (w->rc == 0)
        w->rc = kv_call(
            w->srv, kv(KV_COUNTER, 0, NULL, NULL), out, sizeof(out), 2000);
    w->counter = atol(out);
    atomic_store(&w->done, true);
    return NULL;
}

static void *get_state_main(void *arg)
{
    struct watched *w = arg;
    char *json = NULL;
    w->rc = ctrace_sys_get_state(w->pid, 3000, &json, NULL);
    ctrace_free(json);
    atomic_store(&w->done, true);
    return NULL;
}

static bool is_done(void *arg)
{
    return atomic_load(&((struct watched *)arg)->done);
}

/*
 * A caller or sys requester cancelled while it waits (its wait is a
 * cancellation point) gives the server's lock back and withdraws the
 * context on its stack: the server keeps serving, and never writes into
 * the dead frame. Without that, the lock stayed held by a thread that no
 * longer exists and every later use of the server hung.
 */
static void a_cancelled_caller_leaves_the_server_usable(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv(NULL, 0);
    uint64_t pid = ctrace_server_pid(srv);

    /* A caller waiting for ever on a suspended server. */
    assert_int_equal(ctrace_sys_suspend(pid, 1000, NULL), 0);
    struct caller c = {.srv = srv, .msg = kv(KV_INC, 1, NULL, NULL)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, caller_main, &c), 0);
    assert_true(eventually(queue_is_one, &pid, 5000));
    sleep_ms(20);
    assert_int_equal(pthread_cancel(th), 0);
    void *ret = NULL;
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_ptr_equal(ret, PTHREAD_CANCELED);
    struct watched w = {.srv = srv, .pid = pid};
    pthread_t helper;
    assert_int_equal(pthread_create(&helper, NULL, resume_and_count, &w), 0);
    if (!eventually(is_done, &w, 5000))
        fail_msg("the cancelled caller left the server's lock held");
    pthread_join(helper, NULL);
    assert_int_equal(w.rc, 0);
    /* Its message was sent: it is handled, its reply dropped. */
    assert_int_equal(w.counter, 1);

    /* A sys requester waiting on a server busy with a long callback. */
    /* Long enough that the requester below is still waiting when it is
     * cancelled, however slowly a loaded machine schedules it. */
    assert_int_equal(kv_cast(srv, kv(KV_SLEEP, 1500, NULL, NULL)), 0);
    /*
     * Wait until the server has taken the cast and runs it: a sys request
     * that arrives first is answered ahead of the queued cast.
     */
    for (int i = 0; i < 5000; i++) {
        struct ctrace_proc_info info;
        assert_int_equal(ctrace_proc_info(pid, &info), 0);
        if (info.message_queue_len == 0 && info.status == CTRACE_PROC_RUNNING)
            break;
        sleep_ms(1);
    }
    sleep_ms(20);
    struct watched r = {.srv = srv, .pid = pid};
    assert_int_equal(pthread_create(&th, NULL, get_state_main, &r), 0);
    sleep_ms(100);
    assert_int_equal(pthread_cancel(th), 0);
    assert_int_equal(pthread_join(th, &ret), 0);
    assert_ptr_equal(ret, PTHREAD_CANCELED);
    struct watched r2 = {.srv = srv, .pid = pid};
    assert_int_equal(pthread_create(&helper, NULL, get_state_main, &r2), 0);
    if (!eventually(is_done, &r2, 5000))
        fail_msg("the cancelled requester left the server's lock held");
    pthread_join(helper, NULL);
    assert_int_equal(r2.rc, 0);
    assert_int_equal(counter_of(srv), 1);
    ctrace_server_stop(srv, NULL);
}

static int null_init(void *arg, void **state, struct ctrace_error *err)
{
    (void)arg;
    (void)err;
    *state = NULL;
    return 0;
}

static int
null_call(void *state, const void *msg, size_t len, struct ctrace_reply *reply)
{
    (void)state;
    (void)msg;
    (void)len;
    (void)reply;
    return CTRACE_SERVER_CONTINUE;
}

static int exiting_cast(void *state, const void *msg, size_t len)
{
    (void)state;
    (void)msg;
    (void)len;
    pthread_exit(NULL);
}

static bool is_dead(void *arg)
{
    struct ctrace_proc_info info;
    return ctrace_proc_info(*(uint64_t *)arg, &info) == 0 &&
           info.status == CTRACE_PROC_DEAD;
}

/*
 * A callback that ends the server's thread (pthread_exit()) leaves a
 * server that reads as stopped, not one whose callers wait for a thread
 * that is gone and whose mailbox updates a freed process entry.
 */
static void a_server_whose_thread_exits_reads_as_stopped(void **state)
{
    (void)state;
    const struct ctrace_server_callbacks cb = {
        .init = null_init,
        .handle_call = null_call,
        .handle_cast = exiting_cast,
    };
    struct ctrace_error err = {0};
    struct ctrace_server *srv = ctrace_server_start(&cb, NULL, &err);
    assert_non_null(srv);
    uint64_t pid = ctrace_server_pid(srv);
    struct ctrace_exit_notice n[CTRACE_PROC_NOTICES_MAX];
    (void)ctrace_proc_exits(n, CTRACE_PROC_NOTICES_MAX);
    assert_int_equal(ctrace_link(pid), 0);
    assert_int_equal(ctrace_server_cast(srv, "x", 1), 0);
    assert_true(eventually(is_dead, &pid, 5000));
    int64_t t0 = mono_ms();
    char out[8];
    assert_int_equal(
        ctrace_server_call(srv, "y", 1, out, sizeof(out), NULL, 3000),
        CTRACE_ESTOPPED);
    assert_true(mono_ms() - t0 < 1000);
    assert_int_equal(ctrace_server_cast(srv, "x", 1), CTRACE_ESTOPPED);
    char *json = NULL;
    assert_int_equal(ctrace_sys_get_status(pid, 1000, &json, NULL),
                     CTRACE_ENOPROC);
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(pid, &info), 0);
    assert_string_equal(info.exit_reason, "thread exited");
    assert_int_equal(ctrace_proc_exits(n, CTRACE_PROC_NOTICES_MAX), 1);
    assert_int_equal(n[0].pid, pid);
    assert_string_equal(n[0].reason, "thread exited");
    assert_int_equal(ctrace_server_stop(srv, NULL), 0);
}

/*
 * After fork() the child has none of the servers' threads: their handles
 * read as stopped there, at once, and stopping one frees it without
 * waiting for a thread that does not exist.
 */
static void a_forked_child_finds_its_servers_stopped(void **state)
{
    (void)state;
    struct ctrace_server *srv = start_kv("kv_forked", 0);
    uint64_t pid = ctrace_server_pid(srv);
    assert_int_equal(counter_of(srv), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        alarm(10); /* a hang fails the test rather than blocking it */
        int bad = 0;
        struct kv_msg m = kv(KV_INC, 1, NULL, NULL);
        bad |= (ctrace_server_cast(srv, &m, sizeof(m)) != CTRACE_ESTOPPED) << 0;
        char out[64];
        int64_t t0 = mono_ms();
        int rc = kv_call(srv, m, out, sizeof(out), 3000);
        bad |= (rc != CTRACE_ESTOPPED || mono_ms() - t0 > 1000) << 1;
        char *json = NULL;
        bad |= (ctrace_sys_get_status(pid, 1000, &json, NULL) != CTRACE_ENOPROC)
               << 3;
        bad |= (ctrace_sys_log(pid, 3) != CTRACE_ENOPROC) << 4;
        struct ctrace_proc_info info;
        bad |= (ctrace_proc_info(pid, &info) != CTRACE_ENOPROC) << 5;
        bad |= (ctrace_whereis("kv_forked") != 0) << 6;
        bad |= (ctrace_server_stop(srv, NULL) != 0) << 7;
#ifndef __SANITIZE_THREAD__
        /*
         * A server started in the child works as usual (TSan does not let
         * a child of a threaded program make threads).
         */
        struct ctrace_server_opts o;
        ctrace_server_opts_init(&o);
        o.name = "kv_forked";
        struct ctrace_server *again =
            ctrace_server_start(&kv_callbacks, &o, NULL);
        bad |= (again == NULL || kv_call(again, m, out, sizeof(out), 3000) != 0)
               << 2;
        ctrace_server_stop(again, NULL);
#endif
        _exit(bad);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    if (WIFSIGNALED(status))
        fail_msg("the child died of signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent's server is untouched. */
    assert_int_equal(counter_of(srv), 0);
    ctrace_server_stop(srv, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_call_gets_the_reply_of_handle_call),
        cmocka_unit_test(a_cast_is_handled_before_a_later_call),
        cmocka_unit_test(a_full_mailbox_fails_the_sender),
        cmocka_unit_test(a_call_times_out_and_its_late_reply_is_dropped),
        cmocka_unit_test(too_long_messages_and_replies_are_refused),
        cmocka_unit_test(a_server_calling_itself_gets_edeadlock),
        cmocka_unit_test(bad_input_is_refused_with_a_reason),
        cmocka_unit_test(handle_info_gets_a_timeout_when_nothing_arrives),
        cmocka_unit_test(stop_fails_a_waiting_caller),
        cmocka_unit_test(a_callback_can_stop_its_server),
        cmocka_unit_test(get_state_round_trips_through_replace_state),
        cmocka_unit_test(a_private_state_is_shown_nowhere),
        cmocka_unit_test(a_rejected_replace_state_keeps_the_old_state),
        cmocka_unit_test(a_merge_patch_follows_rfc_7386),
        cmocka_unit_test(
            a_patch_that_is_not_json_says_where_and_changes_nothing),
        cmocka_unit_test(a_stale_version_replaces_nothing),
        cmocka_unit_test(a_patch_loses_no_update_made_by_messages),
        cmocka_unit_test(get_status_describes_the_server),
        cmocka_unit_test(suspend_holds_calls_until_resume),
        cmocka_unit_test(a_sys_request_times_out_on_a_busy_server),
        cmocka_unit_test(the_sys_log_keeps_the_last_n_events),
        cmocka_unit_test(sys_trace_writes_lines_to_a_fd),
        cmocka_unit_test(statistics_count_messages_in_and_out),
        cmocka_unit_test(a_linked_process_exit_reaches_handle_info),
        cmocka_unit_test(sessions_see_sends_and_receives),
        cmocka_unit_test(servers_survive_concurrent_callers_and_sys_requests),
        cmocka_unit_test(a_failed_init_ends_the_process_with_its_reason),
        cmocka_unit_test(a_cancelled_caller_leaves_the_server_usable),
        cmocka_unit_test(a_server_whose_thread_exits_reads_as_stopped),
        cmocka_unit_test(a_forked_child_finds_its_servers_stopped),
    };
    return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
