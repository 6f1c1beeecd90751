/* SPDX-License-Identifier: MIT */
/*
 * Captures (ctrace/capture.h): a session whose callback sink deep-copies
 * every event into memory the capture owns, for unit tests to read after
 * the traced calls are long gone.
 *
 * Each kept event is one allocation: the struct ctrace_event, its text line,
 * and everything the event points to (names, argument values with their
 * nested tuples, lists, strings and bytes, stack frames), laid out in that
 * one block by a measuring pass and a copying pass. A block never moves
 * and never changes once it is in the capture, so the pointers handed out
 * stay valid until the capture is freed, and readers only need the lock to
 * find a block, not to read it.
 *
 * Work happens on the session's consumer thread, outside the lock; the lock
 * is held only to append a block or to read the list. Lock order: stop_lock,
 * then lock. The consumer takes only `lock`, and ctrace_capture_stop() waits
 * for the consumer while holding only `stop_lock`, so the two never wait on
 * each other.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ctrace/capture.h"
#include "ctrace/proc.h"
#include "ctrace/session.h"
#include "pattern/pattern.h"
#include "session/record.h"
#include "sink/sink.h"

/* Deepest nesting copied; deeper containers are kept empty. The renderer
   prints nothing deeper than 256 levels either (ctrace/value.h). */
#define COPY_DEPTH_MAX 256
/* A rendered value up to this size is formatted on the stack. */
/* Room for "module:function/arity" with names of the longest kind. */
#define NAME_BUF (2 * 128 + 16)

_Atomic unsigned long ctrace__capture_fail_countdown;

/* One kept event: the head of its block. */
struct entry {
    struct ctrace_event ev;
    const char *text;
};

struct ctrace_capture {
    struct ctrace_capture_opts opts;
    struct ctrace_render_opts render; /* how texts print values */
    uint64_t pid;                     /* only_this_thread: the pid kept */
    struct ctrace__sbuf scratch;      /* the consumer's text buffer */

    pthread_mutex_t stop_lock;      /* serializes stops; taken before `lock` */
    struct ctrace_session *session; /* NULL once stopped */
    int stop_rc;
    uint64_t dropped; /* the session's drops, once stopped */

    pthread_mutex_t lock; /* guards what follows */
    struct entry **items;
    size_t n, cap;
    uint64_t lost;
    bool nomem;
};

/* ---- Allocation, with the test hook of sink.h. ---- */

static bool fail_injected(void)
{
    unsigned long n = atomic_load(&ctrace__capture_fail_countdown);
    while (n > 0)
        if (atomic_compare_exchange_weak(
                &ctrace__capture_fail_countdown, &n, n - 1))
            return n == 1;
    return false;
}

static void *capture_malloc(size_t size)
{
    return fail_injected() ? NULL : ctrace__malloc(size);
}

static void *capture_realloc(void *p, size_t size)
{
    return fail_injected() ? NULL : ctrace__realloc(p, size);
}

/* ---- Text lines. ---- */

static void put_name(struct ctrace__sbuf *out, const char *s)
{
    ctrace__sbuf_puts(out, s != NULL ? s : "?");
}

/* Appends `v` as a term; NULL as `?`. */
static void put_value(struct ctrace__sbuf *out,
                      const struct ctrace_render_opts *render,
                      const struct ctrace_value *v)
{
    ctrace__sbuf_put_value(out, v, render, false);
}

static void put_mfa(struct ctrace__sbuf *out, const struct ctrace_event *ev)
{
    put_name(out, ev->module);
    ctrace__sbuf_putc(out, ':');
    put_name(out, ev->function);
    ctrace__sbuf_printf(out, "/%u", ev->arity);
}

/*
 * The line of ctrace_capture_text(): what happened, never when or where, so
 * that a test can compare it with a constant. Process events name the
 * message, reason or name they carry but not the pids.
 */
static void render_text(const struct ctrace_render_opts *render,
                        const struct ctrace_event *ev,
                        struct ctrace__sbuf *out)
{
    switch (ev->kind) {
    case CTRACE_EVENT_CALL:
        if (ev->args == NULL && ev->arity > 0) {
            put_mfa(out, ev);
            return;
        }
        put_name(out, ev->module);
        ctrace__sbuf_putc(out, ':');
        put_name(out, ev->function);
        ctrace__sbuf_putc(out, '(');
        for (size_t i = 0; ev->args != NULL && i < ev->nargs; i++) {
            if (i > 0)
                ctrace__sbuf_puts(out, ", ");
            put_value(out, render, &ev->args[i]);
        }
        ctrace__sbuf_putc(out, ')');
        return;
    case CTRACE_EVENT_RETURN:
        put_mfa(out, ev);
        ctrace__sbuf_puts(out, " -> ");
        put_value(out, render, ev->result);
        return;
    case CTRACE_EVENT_SEND:
        ctrace__sbuf_puts(out, "send ");
        put_value(out, render, ev->message);
        return;
    case CTRACE_EVENT_RECEIVE:
        ctrace__sbuf_puts(out, "receive ");
        put_value(out, render, ev->message);
        return;
    case CTRACE_EVENT_SPAWN:
        ctrace__sbuf_puts(out, "spawn ");
        put_name(out, ev->peer);
        return;
    case CTRACE_EVENT_EXIT:
        ctrace__sbuf_puts(out, "exit ");
        put_name(out, ev->reason);
        return;
    case CTRACE_EVENT_REGISTER:
        ctrace__sbuf_puts(out, "register ");
        put_name(out, ev->name);
        return;
    case CTRACE_EVENT_UNREGISTER:
        ctrace__sbuf_puts(out, "unregister ");
        put_name(out, ev->name);
        return;
    case CTRACE_EVENT_LINK:
        ctrace__sbuf_puts(out, "link");
        return;
    case CTRACE_EVENT_UNLINK:
        ctrace__sbuf_puts(out, "unlink");
        return;
    }
    ctrace__sbuf_printf(out, "event %d", (int)ev->kind);
}

/* ---- Deep copy of one event into one block. ---- */

/* What an event needs besides its struct ctrace_event. */
struct need {
    size_t values; /* struct ctrace_value, top level and nested */
    size_t frames; /* stack frame pointers */
    size_t chars;  /* names, texts, string bytes, each with a NUL */
};

/* Where the copying pass takes memory from, inside the block. */
struct bump {
    struct ctrace_value *values;
    const char **frames;
    char *chars;
};

static bool is_text_kind(enum ctrace_value_kind k)
{
    return k == CTRACE_VALUE_STRING || k == CTRACE_VALUE_BYTES ||
           k == CTRACE_VALUE_SYMBOL;
}

static bool is_seq_kind(enum ctrace_value_kind k)
{
    return k == CTRACE_VALUE_TUPLE || k == CTRACE_VALUE_LIST;
}

/* What the nested parts of `v` need (not `v` itself). */
static void
measure_value(const struct ctrace_value *v, unsigned depth, struct need *need)
{
    if (is_text_kind(v->kind)) {
        need->chars += v->as.str.len + 1;
    } else if (is_seq_kind(v->kind) && depth < COPY_DEPTH_MAX) {
        need->values += v->as.seq.len;
        for (size_t i = 0; i < v->as.seq.len; i++)
            measure_value(&v->as.seq.items[i], depth + 1, need);
    }
}

/* Counts `n` top-level values at `v` (NULL: none) and what they hold. */
static void
measure_values(const struct ctrace_value *v, size_t n, struct need *need)
{
    if (v == NULL)
        return;
    need->values += n;
    for (size_t i = 0; i < n; i++)
        measure_value(&v[i], 1, need);
}

static void measure_string(const char *s, struct need *need)
{
    if (s != NULL)
        need->chars += strlen(s) + 1;
}

static const char *copy_chars(struct bump *b, const char *s, size_t len)
{
    char *d = b->chars;
    if (len > 0)
        memcpy(d, s, len);
    d[len] = '\0';
    b->chars += len + 1;
    return d;
}

static const char *copy_string(struct bump *b, const char *s)
{
    return s != NULL ? copy_chars(b, s, strlen(s)) : NULL;
}

/* Fills `dst` (already holding a copy of the source) with its own memory. */
static void copy_value(struct bump *b, struct ctrace_value *dst, unsigned depth)
{
    if (is_text_kind(dst->kind)) {
        dst->as.str.ptr = copy_chars(b, dst->as.str.ptr, dst->as.str.len);
    } else if (is_seq_kind(dst->kind)) {
        size_t len = depth < COPY_DEPTH_MAX ? dst->as.seq.len : 0;
        struct ctrace_value *items = b->values;
        b->values += len;
        if (len > 0)
            memcpy(items, dst->as.seq.items, len * sizeof(*items));
        for (size_t i = 0; i < len; i++)
            copy_value(b, &items[i], depth + 1);
        dst->as.seq.items = items;
        dst->as.seq.len = len;
    }
}

static const struct ctrace_value *
copy_values(struct bump *b, const struct ctrace_value *v, size_t n)
{
    if (v == NULL)
        return NULL;
    struct ctrace_value *dst = b->values;
    b->values += n;
    if (n > 0)
        memcpy(dst, v, n * sizeof(*dst));
    for (size_t i = 0; i < n; i++)
        copy_value(b, &dst[i], 1);
    return dst;
}

static size_t round_up(size_t n, size_t align)
{
    return (n + align - 1) / align * align;
}

/*
 * Copies `ev` and its text into a new block; NULL when memory runs out.
 * Layout: entry, values, frame pointers, characters, each part aligned for
 * what it holds.
 */
static struct entry *
copy_event(const struct ctrace_event *ev, const char *text, size_t text_len)
{
    struct need need = {0};
    size_t nargs = ev->args != NULL ? ev->nargs : 0;
    measure_values(ev->args, nargs, &need);
    measure_values(ev->result, 1, &need);
    measure_values(ev->message, 1, &need);
    const char *const *names[] = {&ev->module,
                                  &ev->function,
                                  &ev->process,
                                  &ev->caller,
                                  &ev->peer,
                                  &ev->reason,
                                  &ev->name};
    for (size_t i = 0; i < CTRACE__ARRAY_SIZE(names); i++)
        measure_string(*names[i], &need);
    size_t nframes = ev->stack != NULL ? ev->stack_len : 0;
    need.frames = nframes;
    for (size_t i = 0; i < nframes; i++)
        measure_string(ev->stack[i], &need);
    need.chars += text_len + 1;

    size_t values_at = round_up(sizeof(struct entry), alignof(max_align_t));
    size_t frames_at =
        round_up(values_at + need.values * sizeof(struct ctrace_value),
                 alignof(max_align_t));
    size_t chars_at = frames_at + need.frames * sizeof(const char *);
    unsigned char *block = capture_malloc(chars_at + need.chars);
    if (block == NULL)
        return NULL;

    struct bump b = {
        .values = (struct ctrace_value *)(void *)(block + values_at),
        .frames = (const char **)(void *)(block + frames_at),
        .chars = (char *)block + chars_at,
    };
    struct entry *e = (struct entry *)(void *)block;
    memset(&e->ev, 0, sizeof(e->ev));
    size_t have =
        ev->struct_size < sizeof(e->ev) ? ev->struct_size : sizeof(e->ev);
    memcpy(&e->ev, ev, have);
    e->ev.struct_size = sizeof(e->ev);
    e->ev.args = copy_values(&b, ev->args, nargs);
    e->ev.nargs = nargs;
    e->ev.result = copy_values(&b, ev->result, 1);
    e->ev.message = copy_values(&b, ev->message, 1);
    e->ev.module = copy_string(&b, ev->module);
    e->ev.function = copy_string(&b, ev->function);
    e->ev.process = copy_string(&b, ev->process);
    e->ev.caller = copy_string(&b, ev->caller);
    e->ev.peer = copy_string(&b, ev->peer);
    e->ev.reason = copy_string(&b, ev->reason);
    e->ev.name = copy_string(&b, ev->name);
    if (nframes > 0) {
        for (size_t i = 0; i < nframes; i++)
            b.frames[i] = copy_string(&b, ev->stack[i]);
        e->ev.stack = b.frames;
    } else {
        e->ev.stack = NULL;
    }
    e->ev.stack_len = nframes;
    e->text = copy_chars(&b, text, text_len);
    return e;
}

/* ---- The sink: runs on the session's consumer thread. ---- */

static void count_lost(struct ctrace_capture *c, bool nomem)
{
    pthread_mutex_lock(&c->lock);
    c->lost++;
    if (nomem)
        c->nomem = true;
    pthread_mutex_unlock(&c->lock);
}

static void on_event(const struct ctrace_event *ev, void *arg)
{
    struct ctrace_capture *c = arg;
    /* Only this thread appends, so a capture found full stays full. */
    pthread_mutex_lock(&c->lock);
    bool full = c->n >= c->opts.max_events;
    if (full)
        c->lost++;
    pthread_mutex_unlock(&c->lock);
    if (full)
        return;

    struct ctrace__sbuf *text = &c->scratch;
    if (text->failed)
        ctrace__sbuf_free(text);
    text->len = 0;
    render_text(&c->render, ev, text);
    struct entry *e =
        text->failed
            ? NULL
            : copy_event(ev, text->data != NULL ? text->data : "", text->len);
    if (e == NULL) {
        count_lost(c, true);
        return;
    }

    pthread_mutex_lock(&c->lock);
    if (c->n == c->cap) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 64;
        struct entry **items = capture_realloc(c->items, cap * sizeof(*items));
        if (items == NULL) {
            c->lost++;
            c->nomem = true;
            pthread_mutex_unlock(&c->lock);
            ctrace__free(e);
            return;
        }
        c->items = items;
        c->cap = cap;
    }
    c->items[c->n++] = e;
    pthread_mutex_unlock(&c->lock);
}

/* ---- Control. ---- */

void ctrace_capture_opts_init(struct ctrace_capture_opts *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->only_this_thread = false;
    opts->max_events = 100000;
    opts->max_queue = 8192;
    opts->max_msg_size = 256;
}

static void capture_destroy(struct ctrace_capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        ctrace__free(c->items[i]);
    ctrace__free(c->items);
    ctrace__sbuf_free(&c->scratch);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->stop_lock);
    ctrace__free(c);
}

struct ctrace_capture *ctrace_capture_start(const char *spec,
                                            struct ctrace_error *err)
{
    return ctrace_capture_start_opts(&spec, 1, NULL, err);
}

struct ctrace_capture *
ctrace_capture_start_opts(const char *const *specs,
                          size_t nspecs,
                          const struct ctrace_capture_opts *opts,
                          struct ctrace_error *err)
{
    ctrace__error_clear(err);
    struct ctrace_capture_opts defaults;
    if (opts == NULL) {
        ctrace_capture_opts_init(&defaults);
        opts = &defaults;
    }
    if (opts->max_events == 0) {
        ctrace__error_set(
            err, CTRACE_EINVAL, 0, 0, "max_events must be at least 1");
        return NULL;
    }
    struct ctrace_capture *c = ctrace__calloc(1, sizeof(*c));
    if (c == NULL) {
        ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
        return NULL;
    }
    c->opts = *opts;
    pthread_mutex_init(&c->stop_lock, NULL);
    pthread_mutex_init(&c->lock, NULL);
    c->scratch = (struct ctrace__sbuf)CTRACE__SBUF_INIT;
    /*
     * Render what the record kept, with the record's own limits, so that
     * whatever the engine cut shows as `...`.
     */
    ctrace_render_opts_init(&c->render);
    c->render.depth = CTRACE__RECORD_DEPTH;
    c->render.max_size = opts->max_msg_size;

    struct ctrace_session_opts so;
    ctrace_session_opts_init(&so);
    so.force = true;
    so.time_ms = 0;
    /* A test wants every call, whatever it costs: never shed. */
    so.max_overhead_pct = 100;
    /*
     * One call more than the capture keeps: the call that passes the limit
     * is delivered, refused and counted, so a capture that hit the limit
     * always knows it lost something. Then the session stops by itself.
     */
    so.msgs = opts->max_events < UINT32_MAX ? opts->max_events + 1 : 0;
    so.max_queue = opts->max_queue;
    so.max_msg_size = opts->max_msg_size;
    so.on_event = on_event;
    so.arg = c;
    if (opts->only_this_thread) {
        c->pid = ctrace_self();
        if (c->pid == 0) {
            ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
            capture_destroy(c);
            return NULL;
        }
        so.procs = CTRACE_PROCS_PIDS;
        so.pids = &c->pid;
        so.npids = 1;
    }
    c->session = ctrace_session_start(specs, nspecs, &so, err);
    if (c->session == NULL) {
        capture_destroy(c);
        return NULL;
    }
    return c;
}

int ctrace_capture_stop(struct ctrace_capture *c)
{
    pthread_mutex_lock(&c->stop_lock);
    if (c->session != NULL) {
        ctrace_session_stop(c->session);
        struct ctrace_session_stats st;
        ctrace_session_stats(c->session, &st);
        /* The queue can be large: give it back now, not at free. */
        ctrace_session_free(c->session);
        c->session = NULL;
        c->dropped = st.dropped;
        pthread_mutex_lock(&c->lock);
        if (c->nomem)
            c->stop_rc = CTRACE_ENOMEM;
        else if (c->lost > 0 || st.dropped > 0 || st.reason != CTRACE_STOP_USER)
            c->stop_rc = CTRACE_ELIMIT;
        pthread_mutex_unlock(&c->lock);
    }
    int rc = c->stop_rc;
    pthread_mutex_unlock(&c->stop_lock);
    return rc;
}

/* ---- Reading. The lock finds a block; blocks never change. ---- */

static struct ctrace_capture *unconst(const struct ctrace_capture *c)
{
    /* Reading takes the locks, which live in the capture: not const. */
    return (struct ctrace_capture *)c;
}

uint64_t ctrace_capture_lost(const struct ctrace_capture *cc)
{
    struct ctrace_capture *c = unconst(cc);
    pthread_mutex_lock(&c->stop_lock);
    uint64_t dropped = c->dropped;
    if (c->session != NULL) {
        struct ctrace_session_stats st;
        ctrace_session_stats(c->session, &st);
        dropped = st.dropped;
    }
    pthread_mutex_unlock(&c->stop_lock);
    pthread_mutex_lock(&c->lock);
    uint64_t lost = c->lost;
    pthread_mutex_unlock(&c->lock);
    return lost + dropped;
}

size_t ctrace_capture_count(const struct ctrace_capture *cc)
{
    struct ctrace_capture *c = unconst(cc);
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static const struct entry *entry_at(const struct ctrace_capture *cc, size_t i)
{
    struct ctrace_capture *c = unconst(cc);
    pthread_mutex_lock(&c->lock);
    const struct entry *e = i < c->n ? c->items[i] : NULL;
    pthread_mutex_unlock(&c->lock);
    return e;
}

const struct ctrace_event *ctrace_capture_event(const struct ctrace_capture *c,
                                                size_t i)
{
    const struct entry *e = entry_at(c, i);
    return e != NULL ? &e->ev : NULL;
}

const char *ctrace_capture_text(const struct ctrace_capture *c, size_t i)
{
    const struct entry *e = entry_at(c, i);
    return e != NULL ? e->text : NULL;
}

const struct ctrace_value *
ctrace_capture_arg(const struct ctrace_capture *c, size_t i, size_t k)
{
    const struct entry *e = entry_at(c, i);
    if (e == NULL || e->ev.kind != CTRACE_EVENT_CALL || e->ev.args == NULL ||
        k >= e->ev.nargs)
        return NULL;
    return &e->ev.args[k];
}

const struct ctrace_value *ctrace_capture_result(const struct ctrace_capture *c,
                                                 size_t i)
{
    const struct entry *e = entry_at(c, i);
    if (e == NULL || e->ev.kind != CTRACE_EVENT_RETURN)
        return NULL;
    return e->ev.result;
}

/*
 * Whether a call matches a glob of ctrace_capture_calls(): the glob is
 * matched against "module:function/arity" cut to as many parts as it has.
 */
static bool call_matches(const struct ctrace_event *ev, const char *glob)
{
    if (glob == NULL)
        return true;
    const char *module = ev->module != NULL ? ev->module : "?";
    const char *function = ev->function != NULL ? ev->function : "?";
    const char *colon = strchr(glob, ':');
    if (colon == NULL)
        return ctrace__glob_match(glob, module);
    char name[NAME_BUF];
    int n;
    if (strchr(colon, '/') != NULL)
        n = snprintf(
            name, sizeof(name), "%s:%s/%u", module, function, ev->arity);
    else
        n = snprintf(name, sizeof(name), "%s:%s", module, function);
    return n >= 0 && (size_t)n < sizeof(name) && ctrace__glob_match(glob, name);
}

size_t ctrace_capture_calls(const struct ctrace_capture *cc, const char *glob)
{
    struct ctrace_capture *c = unconst(cc);
    size_t calls = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        const struct ctrace_event *ev = &c->items[i]->ev;
        if (ev->kind == CTRACE_EVENT_CALL && call_matches(ev, glob))
            calls++;
    }
    pthread_mutex_unlock(&c->lock);
    return calls;
}

size_t ctrace_capture_find(const struct ctrace_capture *cc,
                           const char *glob,
                           size_t from)
{
    struct ctrace_capture *c = unconst(cc);
    size_t found = SIZE_MAX;
    pthread_mutex_lock(&c->lock);
    for (size_t i = from; glob != NULL && i < c->n; i++)
        if (ctrace__glob_match(glob, c->items[i]->text)) {
            found = i;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    return found;
}

char *ctrace_capture_transcript(const struct ctrace_capture *cc)
{
    struct ctrace_capture *c = unconst(cc);
    struct ctrace__sbuf out = CTRACE__SBUF_INIT;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        ctrace__sbuf_puts(&out, c->items[i]->text);
        ctrace__sbuf_putc(&out, '\n');
    }
    pthread_mutex_unlock(&c->lock);
    return ctrace__sbuf_take(&out);
}

void ctrace_capture_free(struct ctrace_capture *c)
{
    if (c == NULL)
        return;
    ctrace_capture_stop(c);
    capture_destroy(c);
}
