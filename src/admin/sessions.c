/* SPDX-License-Identifier: MIT */
/*
 * The trace sessions the admin endpoint starts, and their event streams.
 * One concept, the sessions resource over HTTP (start, list, stream, stop,
 * reap), and so one file although it is over 900 lines.
 *
 * Each session has a record (struct asession) that owns the engine's
 * session and a bounded buffer of Server-Sent Events frames: the session's
 * consumer thread renders every event (the session's text format and the
 * JSON form) into a frame through on_event, and the stream's reader, on the
 * daemon's thread, copies frames out. A reader with nothing to send
 * suspends its connection; a new frame resumes it. When the buffer is full
 * (max_queue frames, or ADMIN_SESSION_BYTES) the event is dropped and the
 * session stopped ("queue overflow: consumer too slow"), as the engine does
 * with its own queue: memory stays bounded, the service never waits.
 *
 * The housekeeping thread notices sessions that stopped (a limit, or the
 * user) and queues their last frame, `stopped`; stops sessions whose reader
 * went away, that nobody read within ADMIN_NO_READER_MS, or that
 * overflowed; sends heartbeats; notices a reader that hung up while its
 * stream was suspended (libmicrohttpd does not look at a suspended
 * connection); shuts down a stream whose reader takes nothing for
 * ADMIN_STALL_MS; and forgets stopped sessions after keep_ms, or beyond
 * the ADMIN_KEEP_MAX most recent (their queue memory and consumer thread
 * went when they stopped; only the summary stays till then).
 *
 * Records are reference counted under admin.lock: the list holds one, an
 * attached stream one, and whoever works on a record outside the lock one.
 * The last reference frees the engine's session too, which by then has
 * stopped.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "admin/admin.h"
#include "admin/jobs.h"
#include "admin/reply.h"
#include "pattern/pattern.h"
#include "session/session.h"
#include "sink/sink.h"

/* Most specs, and most processes in a `procs` filter, of one session. */
#define MAX_SPECS 32
#define MAX_PROCS 64
/*
 * A suspended stream is resumed as soon as this much is buffered for it;
 * less waits for the housekeeper's next tick (ADMIN_TICK_MS). Resuming on
 * every event of a storm cost the endpoint's thread more than rendering the
 * events did.
 */
#define STREAM_BATCH_BYTES (16 * 1024)
/*
 * The endpoint's thread time sending a stream is charged to the session's
 * overhead budget. A reader on this machine (loopback) takes its own share
 * of the machine, which the endpoint cannot see, so it is charged per byte
 * sent to it: the `ctrace` CLI parsing the events and writing them to a
 * file spends about 35 ns a byte (14 us an event of about 400 bytes;
 * measured in a storm, docs/performance.md), more than the sending does
 * now that a stream is resumed per STREAM_BATCH_BYTES. A leaner local
 * reader is charged as much: the safe side.
 */
#define LOCAL_READER_NS_PER_BYTE 35

/* One Server-Sent Events frame waiting for the reader. */
struct frame {
    struct frame *next;
    size_t len;
    char data[];
};

struct asession {
    /* Under admin.lock. */
    struct asession *next;
    bool listed;
    unsigned refs;

    /* Immutable once listed. */
    struct admin *admin;
    uint64_t id;
    struct ctrace_session *s;
    json_t *specs;
    int64_t started_us;
    uint64_t start_ms;
    struct ctrace__format_opts fmt;
    uint32_t max_frames;

    pthread_mutex_t lock; /* everything below */
    struct frame *head;
    struct frame *tail;
    size_t head_off; /* bytes of `head` already sent */
    size_t nframes;
    size_t bytes;
    uint64_t events;  /* trace events buffered */
    uint64_t dropped; /* refused: the buffer was full */
    bool overflow;
    bool stopping;     /* a stop was asked for */
    char reason[64];   /* the endpoint's reason, or "" for the engine's */
    bool final_queued; /* the `stopped` frame is in the buffer */
    char final_reason[128];
    uint64_t final_events;
    uint64_t final_dropped;
    int64_t stopped_us;
    uint64_t stop_ms;
    /* The stream. */
    bool had_reader;
    bool attached;
    bool reader_gone; /* detached before the end */
    bool hangup;      /* the reader hung up while suspended */
    bool shut;        /* shut down for stalling */
    struct MHD_Connection *conn;
    int fd;
    bool suspended; /* by the reader; cleared when it runs again */
    bool resuming;  /* MHD_resume_connection() called since */
    uint64_t last_write_ms;
    uint64_t last_progress_ms;
    uint64_t read_cpu_ns; /* the endpoint thread's CPU time, last read */
    bool local_reader;    /* the stream's reader is on loopback */
};

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- Records and references. ---- */

static void asession_free(struct asession *as)
{
    ctrace_session_free(as->s);
    for (struct frame *f = as->head; f != NULL;) {
        struct frame *next = f->next;
        ctrace__free(f);
        f = next;
    }
    json_decref(as->specs);
    pthread_mutex_destroy(&as->lock);
    ctrace__free(as);
}

/* Drops a reference; the last frees the record. Takes admin.lock. */
static void asession_put(struct asession *as)
{
    struct admin *a = as->admin;
    pthread_mutex_lock(&a->lock);
    bool last = --as->refs == 0;
    pthread_mutex_unlock(&a->lock);
    if (last)
        asession_free(as);
}

/* The listed session `id` with a reference, or NULL. */
static struct asession *asession_find(struct admin *a, uint64_t id)
{
    pthread_mutex_lock(&a->lock);
    struct asession *as = a->list;
    while (as != NULL && as->id != id)
        as = as->next;
    if (as != NULL)
        as->refs++;
    pthread_mutex_unlock(&a->lock);
    return as;
}

/*
 * The session the request's path names, with a reference; or NULL with a
 * 404 reply set.
 */
static struct asession *session_or_404(struct request *rq)
{
    struct asession *as = asession_find(rq->admin, rq->session_id);
    if (as == NULL)
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_NOT_FOUND,
                                  "not_found",
                                  "no session %" PRIu64,
                                  rq->session_id);
    return as;
}

/*
 * Every listed session, each with a reference, in *out (allocated; free
 * it); returns how many. NULL and 0 when there are none or memory ran out.
 */
static size_t asession_snapshot(struct admin *a, struct asession ***out)
{
    *out = NULL;
    pthread_mutex_lock(&a->lock);
    size_t n = 0;
    for (struct asession *as = a->list; as != NULL; as = as->next)
        n++;
    struct asession **arr = n > 0 ? ctrace__malloc(n * sizeof(*arr)) : NULL;
    if (arr == NULL)
        n = 0;
    size_t i = 0;
    for (struct asession *as = a->list; as != NULL && i < n; as = as->next) {
        as->refs++;
        arr[i++] = as;
    }
    pthread_mutex_unlock(&a->lock);
    *out = arr;
    return n;
}

/* ---- The buffer. ---- */

/* Resumes the stream if its reader waits for data. Session lock held. */
static void wake_reader(struct asession *as)
{
    if (as->attached && as->suspended && !as->resuming) {
        MHD_resume_connection(as->conn);
        as->resuming = true;
    }
}

/*
 * Appends a frame. An event counts against the buffer's limits: when it
 * does not fit it is dropped and the session marked overflowing. Other
 * frames (heartbeats, the last one) always go in. Session lock held.
 */
static void
push_frame(struct asession *as, const char *data, size_t len, bool is_event)
{
    /* `bytes` may be over the cap by a heartbeat or two: no subtraction. */
    if (is_event && (as->nframes >= as->max_frames ||
                     as->bytes + len > ADMIN_SESSION_BYTES)) {
        as->dropped++;
        ctrace__drops_add(CTRACE__DROP_STREAM, 1);
        as->overflow = true;
        return;
    }
    struct frame *f = ctrace__malloc(sizeof(*f) + len);
    if (f == NULL) {
        if (is_event) {
            as->dropped++;
            ctrace__drops_add(CTRACE__DROP_STREAM, 1);
            as->overflow = true;
        }
        return;
    }
    f->next = NULL;
    f->len = len;
    memcpy(f->data, data, len);
    if (as->tail != NULL) {
        as->tail->next = f;
    } else {
        as->head = f;
        /* A stall is counted from when there is something to send. */
        as->last_progress_ms = ctrace__admin_now_ms();
    }
    as->tail = f;
    as->nframes++;
    as->bytes += len;
    if (is_event)
        as->events++;
    if (!is_event || as->bytes >= STREAM_BATCH_BYTES)
        wake_reader(as);
}

/* The session's consumer thread: one event becomes one frame. */
static void on_event(const struct ctrace_event *ev, void *arg)
{
    struct asession *as = arg;
    struct ctrace__sbuf text = CTRACE__SBUF_INIT;
    struct ctrace__sbuf json = CTRACE__SBUF_INIT;
    struct ctrace__sbuf frame = CTRACE__SBUF_INIT;
    ctrace__format_event(&as->fmt, ev, &text);
    struct ctrace__format_opts jf = as->fmt;
    jf.format = CTRACE_FORMAT_JSON;
    ctrace__format_event(&jf, ev, &json);
    while (json.len > 0 && json.data[json.len - 1] == '\n')
        json.data[--json.len] = '\0';
    ctrace__sbuf_puts(&frame, "event: trace\ndata: {\"text\":");
    ctrace__admin_put_json_string(
        &frame, text.data != NULL ? text.data : "", text.len);
    ctrace__sbuf_puts(&frame, ",\"event\":");
    ctrace__sbuf_append(&frame,
                        json.data != NULL ? json.data : "null",
                        json.data != NULL ? json.len : 4);
    ctrace__sbuf_puts(&frame, "}\n\n");
    bool ok = !text.failed && !json.failed && !frame.failed;
    pthread_mutex_lock(&as->lock);
    if (ok) {
        push_frame(as, frame.data, frame.len, true);
    } else {
        as->dropped++;
        ctrace__drops_add(CTRACE__DROP_STREAM, 1);
        as->overflow = true;
    }
    pthread_mutex_unlock(&as->lock);
    ctrace__sbuf_free(&text);
    ctrace__sbuf_free(&json);
    ctrace__sbuf_free(&frame);
}

/*
 * Queues the `stopped` frame once the engine's session has stopped, and
 * counts the session as no longer running. Does nothing while it runs or
 * when done before. Takes the session lock, then admin.lock with the
 * session lock inside it.
 */
static void finalize(struct asession *as)
{
    struct ctrace_session_stats st;
    ctrace_session_stats(as->s, &st);
    if (st.reason == CTRACE_STOP_RUNNING)
        return;
    pthread_mutex_lock(&as->lock);
    bool done = as->final_queued;
    pthread_mutex_unlock(&as->lock);
    if (done)
        return;
    char *counters = ctrace__session_counters_report(as->s);
    const char *engine_reason = ctrace_session_reason(as->s);

    /*
     * admin.lock around the session's: the count drops in the same
     * critical section that publishes "stopped", so whoever sees the state
     * sees the count without it.
     */
    pthread_mutex_lock(&as->admin->lock);
    pthread_mutex_lock(&as->lock);
    bool mine = !as->final_queued;
    if (mine) {
        snprintf(as->final_reason,
                 sizeof(as->final_reason),
                 "%s",
                 as->reason[0] != '\0' ? as->reason : engine_reason);
        as->final_events = as->events;
        as->final_dropped = st.dropped + as->dropped;
        struct ctrace__sbuf text = CTRACE__SBUF_INIT;
        if (counters != NULL)
            ctrace__sbuf_puts(&text, counters);
        ctrace__format_stopped(&as->fmt,
                               as->final_reason,
                               as->final_events,
                               as->final_dropped,
                               st.shed,
                               &text);
        struct ctrace__sbuf frame = CTRACE__SBUF_INIT;
        ctrace__sbuf_puts(&frame, "event: stopped\ndata: {\"reason\":");
        ctrace__admin_put_json_string(
            &frame, as->final_reason, strlen(as->final_reason));
        ctrace__sbuf_printf(&frame,
                            ",\"events\":%" PRIu64 ",\"dropped\":%" PRIu64
                            ",\"text\":",
                            as->final_events,
                            as->final_dropped);
        ctrace__admin_put_json_string(
            &frame, text.data != NULL ? text.data : "", text.len);
        ctrace__sbuf_puts(&frame, "}\n\n");
        if (!frame.failed)
            push_frame(as, frame.data, frame.len, false);
        ctrace__sbuf_free(&text);
        ctrace__sbuf_free(&frame);
        as->final_queued = true;
        as->stop_ms = ctrace__admin_now_ms();
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        as->stopped_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        as->admin->running--;
        /* Its reader, if suspended, must see the end. */
        wake_reader(as);
    }
    pthread_mutex_unlock(&as->lock);
    pthread_mutex_unlock(&as->admin->lock);
    ctrace_free(counters);
    /* Its consumer thread (and stack) goes now, not when forgotten. */
    if (mine)
        ctrace__session_reap(as->s);
}

/* Asks the session to stop with the endpoint's `reason` (NULL: the
 * engine's), waits for it and queues its last frame. No lock held. */
static void stop_session(struct asession *as, const char *reason)
{
    pthread_mutex_lock(&as->lock);
    if (!as->final_queued && !as->stopping) {
        as->stopping = true;
        if (reason != NULL)
            snprintf(as->reason, sizeof(as->reason), "%s", reason);
    }
    pthread_mutex_unlock(&as->lock);
    ctrace_session_stop(as->s);
    finalize(as);
}

/* ---- The stream. ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct asession *as = cls;
    struct admin *a = as->admin;
    ctrace__admin_thread_mark();
    uint64_t cpu = thread_cpu_ns();
    pthread_mutex_lock(&as->lock);
    /*
     * What this thread spent since the last read (sending that data, mostly)
     * is charged to the session's overhead budget.
     */
    if (!as->final_queued && as->read_cpu_ns != 0 && cpu > as->read_cpu_ns)
        ctrace__session_charge(as->s, cpu - as->read_cpu_ns);
    as->read_cpu_ns = cpu;
    if (as->suspended) {
        as->suspended = false;
        as->resuming = false;
        atomic_fetch_sub(&a->suspended, 1);
    }
    if (as->hangup) {
        pthread_mutex_unlock(&as->lock);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = 0;
    while (n < max && as->head != NULL) {
        struct frame *f = as->head;
        size_t take = f->len - as->head_off;
        if (take > max - n)
            take = max - n;
        memcpy(buf + n, f->data + as->head_off, take);
        n += take;
        as->head_off += take;
        if (as->head_off == f->len) {
            as->head = f->next;
            if (as->head == NULL)
                as->tail = NULL;
            as->head_off = 0;
            as->nframes--;
            as->bytes -= f->len;
            ctrace__free(f);
        }
    }
    if (n > 0) {
        if (as->local_reader && !as->final_queued)
            ctrace__session_charge(as->s,
                                   (uint64_t)n * LOCAL_READER_NS_PER_BYTE);
        as->last_write_ms = as->last_progress_ms = ctrace__admin_now_ms();
        pthread_mutex_unlock(&as->lock);
        return (ssize_t)n;
    }
    if (as->final_queued) {
        pthread_mutex_unlock(&as->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /*
     * Nothing to send: sleep until a frame comes (push_frame() resumes the
     * connection). Returning 0 without suspending would make libmicrohttpd
     * call again at once, forever.
     */
    MHD_suspend_connection(as->conn);
    as->suspended = true;
    atomic_fetch_add(&a->suspended, 1);
    pthread_mutex_unlock(&as->lock);
    return 0;
}

/* The stream's response is gone: its connection ended, one way or another. */
static void stream_free(void *cls)
{
    struct asession *as = cls;
    struct admin *a = as->admin;
    pthread_mutex_lock(&a->lock);
    a->streams--;
    pthread_mutex_lock(&as->lock);
    if (as->suspended) {
        as->suspended = false;
        atomic_fetch_sub(&a->suspended, 1);
    }
    as->attached = false;
    as->conn = NULL;
    as->fd = -1;
    if (!as->final_queued)
        as->reader_gone = true;
    pthread_mutex_unlock(&as->lock);
    pthread_cond_signal(&a->tick);
    pthread_mutex_unlock(&a->lock);
    asession_put(as);
}

struct MHD_Response *ctrace__admin_session_events(struct request *rq)
{
    struct admin *a = rq->admin;
    struct asession *as = session_or_404(rq);
    if (as == NULL)
        return NULL;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_mutex_lock(&a->lock);
    if (a->streams >= a->opts.max_streams) {
        pthread_mutex_unlock(&a->lock);
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_TOO_MANY_REQUESTS,
                                  "too_many",
                                  "%u event streams are open already, the "
                                  "most at once",
                                  a->opts.max_streams);
        asession_put(as);
        return NULL;
    }
    pthread_mutex_lock(&as->lock);
    if (as->had_reader) {
        pthread_mutex_unlock(&as->lock);
        pthread_mutex_unlock(&a->lock);
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_CONFLICT,
                                  "conflict",
                                  "the events of session %" PRIu64
                                  " have a reader already; a session has "
                                  "one",
                                  rq->session_id);
        asession_put(as);
        return NULL;
    }
    as->had_reader = true;
    as->attached = true;
    as->local_reader = ctrace__admin_from_loopback(rq->conn);
    as->conn = rq->conn;
    as->fd = ci != NULL ? (int)ci->connect_fd : -1;
    as->last_write_ms = as->last_progress_ms = ctrace__admin_now_ms();
    /* A first comment, so that the headers and a first chunk go out. */
    char hello[64];
    int len = snprintf(
        hello, sizeof(hello), ": ctrace session %" PRIu64 "\n\n", as->id);
    push_frame(as, hello, (size_t)len, false);
    pthread_mutex_unlock(&as->lock);
    a->streams++;
    as->refs++; /* the response's */
    pthread_mutex_unlock(&a->lock);

    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, as, stream_free);
    if (resp == NULL) {
        stream_free(as); /* undoes the attachment, drops that reference */
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal",
                                  "cannot make the event stream");
        asession_put(as);
        return NULL;
    }
    MHD_add_response_header(
        resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    asession_put(as);
    return resp;
}

/* ---- Session objects. ---- */

static json_t *session_json(struct asession *as)
{
    struct ctrace_session_stats st;
    ctrace_session_stats(as->s, &st);
    json_t *v = json_object();
    if (v == NULL)
        return NULL;
    pthread_mutex_lock(&as->lock);
    bool stopped = as->final_queued;
    json_object_set_new(v, "id", json_integer((json_int_t)as->id));
    /*
     * A copy: the reply is serialized and freed on the HTTP thread after
     * the record may have been freed on the housekeeper's, and jansson's
     * reference counts do not order the two threads' accesses.
     */
    json_object_set_new(v, "specs", json_deep_copy(as->specs));
    json_object_set_new(
        v, "state", json_string(stopped ? "stopped" : "running"));
    json_object_set_new(
        v,
        "reason",
        ctrace__admin_jstr(stopped ? as->final_reason : "running"));
    json_object_set_new(
        v,
        "events",
        json_integer((json_int_t)(stopped ? as->final_events : as->events)));
    json_object_set_new(
        v,
        "dropped",
        json_integer((json_int_t)(stopped ? as->final_dropped
                                          : st.dropped + as->dropped)));
    json_object_set_new(v, "started_us", json_integer(as->started_us));
    if (stopped)
        json_object_set_new(v, "stopped_us", json_integer(as->stopped_us));
    json_object_set_new(v, "reader", json_boolean(as->attached));
    pthread_mutex_unlock(&as->lock);
    return v;
}

/*
 * The last sessions of the program (not the endpoint's, whose sink is the
 * stream) that stopped because their sink failed, newest first.
 */
static json_t *sink_failures_json(void)
{
    struct ctrace__sink_failure f[8];
    size_t n = ctrace__engine_sink_failures(f, CTRACE__ARRAY_SIZE(f), NULL);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list,
                              json_pack("{s:o,s:I,s:I,s:I}",
                                        "reason",
                                        ctrace__admin_jstr(f[i].reason),
                                        "events",
                                        (json_int_t)f[i].events,
                                        "dropped",
                                        (json_int_t)f[i].dropped,
                                        "stopped_us",
                                        (json_int_t)f[i].stopped_us));
    return list;
}

void ctrace__admin_sessions_list(struct request *rq)
{
    struct asession **all;
    size_t n = asession_snapshot(rq->admin, &all);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(list, session_json(all[i]));
        asession_put(all[i]);
    }
    ctrace__free(all);
    ctrace__admin_reply_json(
        rq,
        MHD_HTTP_OK,
        json_pack(
            "{soso}", "sessions", list, "sink_failures", sink_failures_json()));
}

void ctrace__admin_put_limits(json_t *v)
{
    uint64_t by_site[CTRACE__DROP_SITES];
    ctrace__drops_read(by_site);
    json_t *d = json_object();
    for (unsigned i = 0; i < CTRACE__DROP_SITES; i++)
        json_object_set_new(d,
                            ctrace__drop_site_name((enum ctrace__drop_site)i),
                            json_integer((json_int_t)by_site[i]));
    json_object_set_new(v, "dropped_by", d);
    json_object_set_new(v,
                        "memory",
                        json_pack("{sIsI}",
                                  "queues_bytes",
                                  (json_int_t)ctrace__engine_memory(),
                                  "limit_bytes",
                                  (json_int_t)CTRACE__MEMORY_LIMIT));
    uint64_t failures = 0;
    (void)ctrace__engine_sink_failures(NULL, 0, &failures);
    json_object_set_new(v, "sink_failures", json_integer((json_int_t)failures));
}

void ctrace__admin_put_limits_metrics(struct ctrace__sbuf *b)
{
    uint64_t by_site[CTRACE__DROP_SITES];
    ctrace__drops_read(by_site);
    ctrace__sbuf_puts(b,
                      "# HELP ctrace_events_dropped_by_site_total Trace "
                      "events dropped, by where: a session's queue, shed "
                      "for overhead, the admin stream's buffer, an export.\n"
                      "# TYPE ctrace_events_dropped_by_site_total counter\n");
    for (unsigned i = 0; i < CTRACE__DROP_SITES; i++)
        ctrace__sbuf_printf(
            b,
            "ctrace_events_dropped_by_site_total{site=\"%s\"} %" PRIu64 "\n",
            ctrace__drop_site_name((enum ctrace__drop_site)i),
            by_site[i]);
    uint64_t failures = 0;
    (void)ctrace__engine_sink_failures(NULL, 0, &failures);
    ctrace__sbuf_printf(
        b,
        "# HELP ctrace_sink_failures_total Sessions stopped because their "
        "sink failed (a write error such as a full disk).\n"
        "# TYPE ctrace_sink_failures_total counter\n"
        "ctrace_sink_failures_total %" PRIu64 "\n"
        "# HELP ctrace_queue_memory_bytes Queue memory that running "
        "sessions hold.\n"
        "# TYPE ctrace_queue_memory_bytes gauge\n"
        "ctrace_queue_memory_bytes %zu\n"
        "# HELP ctrace_queue_memory_limit_bytes The cap on it; a start "
        "beyond it is refused.\n"
        "# TYPE ctrace_queue_memory_limit_bytes gauge\n"
        "ctrace_queue_memory_limit_bytes %zu\n",
        failures,
        ctrace__engine_memory(),
        (size_t)CTRACE__MEMORY_LIMIT);
}

void ctrace__admin_session_get(struct request *rq)
{
    struct asession *as = session_or_404(rq);
    if (as == NULL)
        return;
    ctrace__admin_reply_json(rq, MHD_HTTP_OK, session_json(as));
    asession_put(as);
}

/* A worker: stopping waits for the session's consumer. */
static void delete_job(struct request *rq)
{
    struct asession *as = session_or_404(rq);
    if (as == NULL)
        return;
    stop_session(as, NULL);
    ctrace__admin_reply_json(rq, MHD_HTTP_OK, session_json(as));
    asession_put(as);
}

void ctrace__admin_session_delete(struct request *rq)
{
    /* Checked here too, so that an unknown id costs no worker. */
    struct asession *as = session_or_404(rq);
    if (as == NULL)
        return;
    asession_put(as);
    ctrace__admin_run_job(rq, delete_job);
}

/* ---- Starting a session. ---- */

/* What POST /api/v1/sessions asked for. */
struct start_args {
    const char *specs[MAX_SPECS];
    size_t nspecs;
    struct ctrace_session_opts opts;
    uint64_t pids[MAX_PROCS];
};

static bool bad(struct request *rq, const char *fmt, ...) CTRACE__PRINTF(2, 3);

static bool bad(struct request *rq, const char *fmt, ...)
{
    char detail[CTRACE_ERROR_TEXT_LENGTH];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    ctrace__admin_reply_error(
        rq, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", detail);
    return false;
}

static bool
get_u32(struct request *rq, json_t *body, const char *key, uint32_t *out)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)UINT32_MAX)
        return bad(rq, "\"%s\" must be an integer from 0 to 4294967295", key);
    *out = (uint32_t)json_integer_value(v);
    return true;
}

static bool
get_bool(struct request *rq, json_t *body, const char *key, bool *out)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL)
        return true;
    if (!json_is_boolean(v))
        return bad(rq, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return true;
}

/* "N/MS": at most N events in any window of MS milliseconds. */
static bool get_rate(struct request *rq, json_t *body, struct start_args *sa)
{
    json_t *v = json_object_get(body, "rate");
    if (v == NULL || json_is_null(v))
        return true;
    const char *s = json_string_value(v);
    unsigned long long n = 0, ms = 0;
    int used = 0;
    if (s == NULL || sscanf(s, "%llu/%llu%n", &n, &ms, &used) != 2 ||
        (size_t)used != strlen(s) || strspn(s, "0123456789/") != strlen(s) ||
        n == 0 || ms == 0 || n > UINT32_MAX || ms > UINT32_MAX)
        return bad(rq,
                   "\"rate\" must be \"N/MS\" (at most N events in MS "
                   "milliseconds), both from 1 to 4294967295");
    sa->opts.rate_count = (uint32_t)n;
    sa->opts.rate_ms = (uint32_t)ms;
    return true;
}

/* One process of a `procs` list: "<0.N.0>", "N", N or a registered name. */
static bool add_proc(struct request *rq,
                     struct start_args *sa,
                     json_t *item,
                     const char *text)
{
    if (sa->opts.npids == MAX_PROCS)
        return bad(rq, "\"procs\" names at most %d processes", MAX_PROCS);
    uint64_t pid = 0;
    char buf[ADMIN_SEGMENT_MAX + 1];
    if (item != NULL && json_is_integer(item)) {
        if (json_integer_value(item) <= 0)
            return bad(rq,
                       "\"procs\": %" JSON_INTEGER_FORMAT " is not a pid",
                       json_integer_value(item));
        pid = (uint64_t)json_integer_value(item);
        snprintf(buf, sizeof(buf), "<0.%" PRIu64 ".0>", pid);
    } else {
        if (text == NULL)
            return bad(rq,
                       "\"procs\" must be \"all\", \"new\", \"existing\", or "
                       "a list of pids and registered names");
        snprintf(buf, sizeof(buf), "%s", text);
        int rc = ctrace_proc_parse(buf, &pid);
        if (rc == CTRACE_ENOPROC) {
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_NOT_FOUND,
                                      "no_such_process",
                                      "no process is registered as '%s'",
                                      buf);
            return false;
        }
        if (rc < 0)
            return bad(rq,
                       "\"procs\": '%s' is neither a pid (<0.N.0> or N) nor a "
                       "registered name",
                       buf);
    }
    struct ctrace_proc_info info;
    if (ctrace_proc_info(pid, &info) < 0) {
        ctrace__admin_reply_error(
            rq, MHD_HTTP_NOT_FOUND, "no_such_process", "no process %s", buf);
        return false;
    }
    sa->pids[sa->opts.npids++] = pid;
    return true;
}

static bool get_procs(struct request *rq, json_t *body, struct start_args *sa)
{
    json_t *v = json_object_get(body, "procs");
    if (v == NULL || json_is_null(v))
        return true;
    const char *s = json_string_value(v);
    if (s != NULL && strcmp(s, "all") == 0) {
        sa->opts.procs = CTRACE_PROCS_ALL;
        return true;
    }
    if (s != NULL && strcmp(s, "new") == 0) {
        sa->opts.procs = CTRACE_PROCS_NEW;
        return true;
    }
    if (s != NULL && strcmp(s, "existing") == 0) {
        sa->opts.procs = CTRACE_PROCS_EXISTING;
        return true;
    }
    sa->opts.procs = CTRACE_PROCS_PIDS;
    sa->opts.pids = sa->pids;
    sa->opts.npids = 0;
    if (s != NULL) {
        /* One process, or several separated by commas. */
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", s);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            if (!add_proc(rq, sa, NULL, t))
                return false;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (!add_proc(rq, sa, item, json_string_value(item)))
                return false;
        }
    } else {
        return add_proc(rq, sa, NULL, NULL);
    }
    if (sa->opts.npids == 0)
        return bad(rq, "\"procs\" lists no process");
    return true;
}

/* Reads the body of POST /api/v1/sessions into `sa`, or replies 4xx. */
static bool parse_start(struct request *rq, json_t *body, struct start_args *sa)
{
    static const char *const known[] = {"specs",
                                        "time_ms",
                                        "msgs",
                                        "calls",
                                        "rate",
                                        "procs",
                                        "format",
                                        "timestamps_ms",
                                        "max_msg_size",
                                        "print_depth",
                                        "max_queue",
                                        "max_overhead_pct",
                                        "overhead_trip_ms",
                                        "force"};
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < CTRACE__ARRAY_SIZE(known) && !ok; i++)
            ok = strcmp(key, known[i]) == 0;
        if (!ok)
            return bad(rq,
                       "unknown field \"%.64s\"; the fields are specs, "
                       "time_ms, msgs, calls, rate, procs, format, "
                       "timestamps_ms, max_msg_size, print_depth, "
                       "max_queue, max_overhead_pct, overhead_trip_ms, "
                       "force",
                       key);
    }
    json_t *specs = json_object_get(body, "specs");
    if (!json_is_array(specs) || json_array_size(specs) == 0)
        return bad(rq, "\"specs\" must be a non-empty list of trace specs");
    if (json_array_size(specs) > MAX_SPECS)
        return bad(rq,
                   "%zu trace specs given; at most %d",
                   json_array_size(specs),
                   MAX_SPECS);
    size_t i;
    json_array_foreach(specs, i, v)
    {
        const char *text = json_string_value(v);
        if (text == NULL)
            return bad(rq, "\"specs\"[%zu] must be a string", i);
        /*
         * Parsed here first, for the column-precise message and the spec
         * it belongs to, the same as `ctrace pattern` gives.
         */
        struct ctrace_error e = {0};
        struct ctrace__spec *spec =
            ctrace__spec_parse(text, json_string_length(v), &e);
        if (spec == NULL) {
            json_t *extra = json_pack(
                "{sisssi}", "column", e.column, "spec", text, "index", (int)i);
            ctrace__admin_reply_error_with(
                rq,
                MHD_HTTP_BAD_REQUEST,
                e.code == CTRACE_ENOMEM ? "internal" : "bad_pattern",
                extra,
                "%s",
                e.text);
            if (e.code == CTRACE_ENOMEM)
                rq->reply.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            return false;
        }
        ctrace__spec_free(spec);
        sa->specs[i] = text;
    }
    sa->nspecs = json_array_size(specs);

    ctrace_session_opts_init(&sa->opts);
    if (!get_u32(rq, body, "time_ms", &sa->opts.time_ms) ||
        !get_u32(rq, body, "msgs", &sa->opts.msgs) ||
        !get_u32(rq, body, "calls", &sa->opts.calls) ||
        !get_u32(rq, body, "max_msg_size", &sa->opts.max_msg_size) ||
        !get_u32(rq, body, "print_depth", &sa->opts.print_depth) ||
        !get_u32(rq, body, "max_queue", &sa->opts.max_queue) ||
        !get_u32(rq, body, "max_overhead_pct", &sa->opts.max_overhead_pct) ||
        !get_u32(rq, body, "overhead_trip_ms", &sa->opts.overhead_trip_ms) ||
        !get_bool(rq, body, "timestamps_ms", &sa->opts.timestamps_ms) ||
        !get_bool(rq, body, "force", &sa->opts.force) ||
        !get_rate(rq, body, sa) || !get_procs(rq, body, sa))
        return false;
    v = json_object_get(body, "format");
    if (v != NULL) {
        const char *f = json_string_value(v);
        if (f != NULL && strcmp(f, "redbug") == 0)
            sa->opts.format = CTRACE_FORMAT_REDBUG;
        else if (f != NULL && strcmp(f, "recon") == 0)
            sa->opts.format = CTRACE_FORMAT_RECON;
        else if (f != NULL && strcmp(f, "json") == 0)
            sa->opts.format = CTRACE_FORMAT_JSON;
        else
            return bad(rq,
                       "\"format\" must be \"redbug\", \"recon\" or \"json\"");
    }
    return true;
}

void ctrace__admin_sessions_start(struct request *rq)
{
    struct admin *a = rq->admin;
    json_t *body = ctrace__admin_body_json(rq, false);
    if (body == NULL)
        return;
    struct start_args *sa = ctrace__calloc(1, sizeof(*sa));
    struct asession *as = ctrace__calloc(1, sizeof(*as));
    if (sa == NULL || as == NULL) {
        ctrace__free(sa);
        ctrace__free(as);
        json_decref(body);
        ctrace__admin_reply_error(
            rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    if (!parse_start(rq, body, sa)) {
        ctrace__free(sa);
        ctrace__free(as);
        json_decref(body);
        return;
    }

    pthread_mutex_lock(&a->lock);
    if (a->running >= a->opts.max_sessions) {
        pthread_mutex_unlock(&a->lock);
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_TOO_MANY_REQUESTS,
                                  "too_many",
                                  "%u sessions are running already, the most "
                                  "at once; stop one first",
                                  a->opts.max_sessions);
        ctrace__free(sa);
        ctrace__free(as);
        json_decref(body);
        return;
    }
    a->running++;
    as->id = a->next_id++;
    pthread_mutex_unlock(&a->lock);

    as->admin = a;
    as->refs = 1; /* the list's, from when it is listed */
    as->fd = -1;
    /* Its own copy: `body` is this thread's. */
    as->specs = json_deep_copy(json_object_get(body, "specs"));
    as->max_frames = sa->opts.max_queue;
    as->start_ms = ctrace__admin_now_ms();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    as->started_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    pthread_mutex_init(&as->lock, NULL);
    ctrace__format_opts_init(&as->fmt);
    as->fmt.format = sa->opts.format;
    as->fmt.timestamps_ms = sa->opts.timestamps_ms;
    as->fmt.render.depth = sa->opts.print_depth;
    as->fmt.render.max_size = sa->opts.max_msg_size;
    sa->opts.on_event = on_event;
    sa->opts.arg = as;

    struct ctrace_error e = {0};
    as->s = ctrace_session_start(sa->specs, sa->nspecs, &sa->opts, &e);
    ctrace__free(sa);
    json_decref(body);
    if (as->s == NULL) {
        pthread_mutex_lock(&a->lock);
        a->running--;
        pthread_mutex_unlock(&a->lock);
        asession_free(as);
        ctrace__admin_reply_ctrace_error(rq, e.code, &e);
        return;
    }
    pthread_mutex_lock(&a->lock);
    /*
     * ctrace_admin_stop() stops the sessions it finds listed after setting
     * `stopping`; one listed later would escape it.
     */
    bool stopping = atomic_load(&a->stopping);
    if (!stopping) {
        as->next = a->list;
        a->list = as;
        as->listed = true;
        pthread_cond_signal(&a->tick);
    }
    pthread_mutex_unlock(&a->lock);
    if (stopping) {
        pthread_mutex_lock(&a->lock);
        a->running--;
        pthread_mutex_unlock(&a->lock);
        asession_free(as);
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_SERVICE_UNAVAILABLE,
                                  "unavailable",
                                  "the admin endpoint is stopping");
        return;
    }

    snprintf(rq->location,
             sizeof(rq->location),
             "/api/v1/sessions/%" PRIu64,
             as->id);
    char events[sizeof(rq->location) + 8];
    snprintf(events, sizeof(events), "%s/events", rq->location);
    ctrace__admin_reply_json(
        rq,
        MHD_HTTP_CREATED,
        json_pack("{sIss}", "id", (json_int_t)as->id, "events", events));
    rq->reply.location = rq->location;
}

/* ---- Housekeeping. ---- */

/*
 * Milliseconds from `then` to `now`; 0 when `then` is later, as a time
 * another thread stamped after `now` was read can be.
 */
static uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

/*
 * Frees the frames of a stopped session whose one reader has come and
 * gone: nobody can read them any more. Session lock held.
 */
static void forget_frames(struct asession *as)
{
    if (!as->final_queued || !as->had_reader || as->attached)
        return;
    for (struct frame *f = as->head; f != NULL;) {
        struct frame *next = f->next;
        ctrace__free(f);
        f = next;
    }
    as->head = as->tail = NULL;
    as->head_off = 0;
    as->nframes = 0;
    as->bytes = 0;
}

/* One round of housekeeping for one session. No lock held. */
static void tend(struct asession *as, uint64_t now)
{
    const char *why = NULL;
    pthread_mutex_lock(&as->lock);
    forget_frames(as);
    if (!as->final_queued && !as->stopping) {
        if (as->reader_gone)
            why = "reader went away";
        else if (as->overflow)
            why = "queue overflow: consumer too slow";
        else if (!as->had_reader &&
                 since(now, as->start_ms) >= ADMIN_NO_READER_MS)
            why = "no reader";
    }
    /*
     * The stream's connection is alive while `attached` (stream_free()
     * clears it before libmicrohttpd closes the socket, and needs this
     * lock to do so), so its descriptor may be looked at here.
     */
    if (as->attached) {
        /* Frames short of a batch (push_frame()) go out now. */
        if (as->head != NULL)
            wake_reader(as);
        if (as->head == NULL && !as->final_queued &&
            since(now, as->last_write_ms) >= ADMIN_HEARTBEAT_MS) {
            static const char beat[] = ": keepalive\n\n";
            push_frame(as, beat, sizeof(beat) - 1, false);
        }
        if (as->suspended && !as->resuming && as->fd >= 0) {
            struct pollfd p = {.fd = as->fd, .events = POLLRDHUP};
            if (poll(&p, 1, 0) > 0 &&
                (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                as->hangup = true;
                MHD_resume_connection(as->conn);
                as->resuming = true;
            }
        }
        if (as->head != NULL && !as->shut && as->fd >= 0 &&
            since(now, as->last_progress_ms) >= ADMIN_STALL_MS) {
            /* libmicrohttpd then sees the socket fail and closes it. */
            (void)shutdown(as->fd, SHUT_RDWR);
            as->shut = true;
        }
    }
    bool check = !as->final_queued;
    pthread_mutex_unlock(&as->lock);
    if (why != NULL)
        stop_session(as, why);
    else if (check)
        finalize(as);
}

void *ctrace__admin_housekeeper(void *arg)
{
    struct admin *a = arg;
    ctrace__admin_thread_mark();
    pthread_mutex_lock(&a->lock);
    while (!a->housekeeper_quit) {
        unsigned ms = a->list != NULL ? ADMIN_TICK_MS : ADMIN_IDLE_TICK_MS;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->tick, &a->lock, &until);
        if (a->housekeeper_quit)
            break;
        pthread_mutex_unlock(&a->lock);

        struct asession **all;
        size_t n = asession_snapshot(a, &all);
        uint64_t now = ctrace__admin_now_ms();
        (void)ctrace__history_tick(&a->history, now);
        for (size_t i = 0; i < n; i++)
            tend(all[i], now);
        /*
         * Forget sessions stopped long enough ago whose stream is over, and
         * the oldest beyond ADMIN_KEEP_MAX (the list is newest first), so
         * that a churn of starts and stops keeps memory flat.
         */
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            struct asession *as = all[i];
            pthread_mutex_lock(&as->lock);
            bool over = as->final_queued && !as->attached;
            /* stop_ms may be later than `now`: finalized just above. */
            bool expired =
                over && (since(now, as->stop_ms) >= a->opts.keep_ms ||
                         kept >= ADMIN_KEEP_MAX);
            if (over && !expired)
                kept++;
            pthread_mutex_unlock(&as->lock);
            if (expired) {
                pthread_mutex_lock(&a->lock);
                if (as->listed) {
                    struct asession **link = &a->list;
                    while (*link != as)
                        link = &(*link)->next;
                    *link = as->next;
                    as->listed = false;
                    as->refs--; /* the list's; ours keeps it alive */
                }
                pthread_mutex_unlock(&a->lock);
            }
            asession_put(as);
        }
        ctrace__free(all);
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

void ctrace__admin_sessions_stop_all(struct admin *a)
{
    struct asession **all;
    size_t n = asession_snapshot(a, &all);
    for (size_t i = 0; i < n; i++) {
        stop_session(all[i], "admin endpoint stopped");
        /* A stream waiting for data sees the end now. */
        pthread_mutex_lock(&all[i]->lock);
        wake_reader(all[i]);
        pthread_mutex_unlock(&all[i]->lock);
        asession_put(all[i]);
    }
    ctrace__free(all);
}

void ctrace__admin_sessions_free_all(struct admin *a)
{
    pthread_mutex_lock(&a->lock);
    struct asession *as = a->list;
    a->list = NULL;
    pthread_mutex_unlock(&a->lock);
    while (as != NULL) {
        struct asession *next = as->next;
        as->listed = false;
        asession_put(as);
        as = next;
    }
}

void ctrace__admin_sessions_counts(struct admin *a,
                                   unsigned *running,
                                   unsigned *streams)
{
    pthread_mutex_lock(&a->lock);
    *running = a->running;
    *streams = a->streams;
    pthread_mutex_unlock(&a->lock);
}
