/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint's answers about the service: the system, trace points,
 * pattern checks, processes (recon's proc_count and proc_window) and the
 * Prometheus metrics; servers' state, status and sys switches are in
 * routes_sys.c. Everything here runs on the daemon's thread, except the
 * window job, which waits on a worker for the process table's window.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/fds.h"
#include "admin/history.h"
#include "admin/jobs.h"
#include "admin/reply.h"
#include "ctrace/point.h"
#include "ctrace/server.h"
#include "pattern/pattern.h"
#include "point/point.h"
#include "session/session.h"

/* Most rows any listing returns. */
#define MAX_LIMIT 100000

/* ---- /api/v1/system ---- */

void ctrace__admin_system(struct request *rq)
{
    struct ctrace__self_stat st = ctrace__self_stat_read();
    struct timespec boot;
    clock_gettime(CLOCK_BOOTTIME, &boot);
    uint64_t since_boot_ms =
        (uint64_t)boot.tv_sec * 1000u + (uint64_t)boot.tv_nsec / 1000000u;
    uint64_t events = 0, dropped = 0;
    ctrace__engine_totals(&events, &dropped);
    unsigned running = 0, streams = 0;
    ctrace__admin_sessions_counts(rq->admin, &running, &streams);
    struct admin *a = rq->admin;
    json_t *v = json_object();
    json_object_set_new(v, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(
        v, "program", ctrace__admin_jstr(program_invocation_short_name));
    json_object_set_new(v, "version", json_string(ctrace_version_string()));
    json_object_set_new(
        v,
        "uptime_ms",
        json_integer((json_int_t)(since_boot_ms > st.start_ms
                                      ? since_boot_ms - st.start_ms
                                      : 0)));
    json_object_set_new(v, "cpu_ms", json_integer((json_int_t)st.cpu_ms));
    json_object_set_new(v, "rss_bytes", json_integer((json_int_t)st.rss_bytes));
    json_object_set_new(v, "threads", json_integer((json_int_t)st.threads));
    json_object_set_new(
        v,
        "processes",
        json_integer((json_int_t)ctrace_proc_list(NULL, 0, false)));
    json_object_set_new(v,
                        "sessions",
                        json_pack("{sIsIsI}",
                                  "running",
                                  (json_int_t)running,
                                  "max",
                                  (json_int_t)a->opts.max_sessions,
                                  "all",
                                  (json_int_t)ctrace__engine_sessions()));
    json_object_set_new(v,
                        "streams",
                        json_pack("{sIsI}",
                                  "open",
                                  (json_int_t)streams,
                                  "max",
                                  (json_int_t)a->opts.max_streams));
    json_object_set_new(v, "events", json_integer((json_int_t)events));
    json_object_set_new(v, "dropped", json_integer((json_int_t)dropped));
    ctrace__admin_put_limits(v);
    json_object_set_new(
        v, "points", json_integer((json_int_t)ctrace__registry_count()));
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) != 3)
        load[0] = load[1] = load[2] = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    json_object_set_new(v,
                        "machine",
                        json_pack("{sIs[fff]}",
                                  "cpus",
                                  (json_int_t)(cpus > 0 ? cpus : 1),
                                  "load",
                                  load[0],
                                  load[1],
                                  load[2]));
    json_object_set_new(v, "build", json_pack("{ss}", "compiler", __VERSION__));
    json_object_set_new(v, "read_only", json_boolean(a->opts.read_only));
    ctrace__admin_reply_json(rq, MHD_HTTP_OK, v);
}

void ctrace__admin_history(struct request *rq)
{
    struct ctrace__history_sample *all =
        ctrace__malloc(CTRACE__HISTORY_MAX * sizeof(*all));
    if (all == NULL) {
        ctrace__admin_reply_error(
            rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    size_t n =
        ctrace__history_copy(&rq->admin->history, all, CTRACE__HISTORY_MAX);
    json_t *samples = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(samples,
                              json_pack("{sIsIsIsIsIsIsIsI}",
                                        "t_ms",
                                        (json_int_t)all[i].t_ms,
                                        "cpu_ms",
                                        (json_int_t)all[i].cpu_ms,
                                        "rss_bytes",
                                        (json_int_t)all[i].rss_bytes,
                                        "vm_bytes",
                                        (json_int_t)all[i].vm_bytes,
                                        "processes",
                                        (json_int_t)all[i].processes,
                                        "mailbox",
                                        (json_int_t)all[i].mailbox,
                                        "events",
                                        (json_int_t)all[i].events,
                                        "dropped",
                                        (json_int_t)all[i].dropped));
    ctrace__free(all);
    ctrace__admin_reply_json(rq,
                             MHD_HTTP_OK,
                             json_pack("{sIsIso}",
                                       "interval_ms",
                                       (json_int_t)CTRACE__HISTORY_INTERVAL_MS,
                                       "max",
                                       (json_int_t)CTRACE__HISTORY_MAX,
                                       "samples",
                                       samples));
}

/*
 * {"interval_ms", "max", "points_untracked", "t_ms": [...], "points":
 * [{"point": "m:f/a", "events": [...]}]}: each events value is the point's
 * counter at the tick of the same index in t_ms, null where it was not
 * armed.
 */
void ctrace__admin_point_history(struct request *rq)
{
    struct ctrace__point_history *h = ctrace__malloc(sizeof(*h));
    if (h == NULL) {
        ctrace__admin_reply_error(
            rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    ctrace__history_points_copy(&rq->admin->history, h);
    json_t *t_ms = json_array();
    for (size_t t = 0; t < h->ticks; t++)
        json_array_append_new(t_ms, json_integer((json_int_t)h->t_ms[t]));
    json_t *points = json_array();
    for (size_t i = 0; i < h->npoints; i++) {
        const struct ctrace__point_series *p = &h->points[i];
        json_t *events = json_array();
        for (size_t t = 0; t < h->ticks; t++)
            json_array_append_new(events,
                                  p->events[t] == CTRACE__POINT_UNARMED
                                      ? json_null()
                                      : json_integer((json_int_t)p->events[t]));
        json_array_append_new(
            points, json_pack("{ssso}", "point", p->key, "events", events));
    }
    json_t *v = json_pack("{sIsIsIsoso}",
                          "interval_ms",
                          (json_int_t)CTRACE__HISTORY_INTERVAL_MS,
                          "max",
                          (json_int_t)CTRACE__POINT_HISTORY_MAX,
                          "points_untracked",
                          (json_int_t)h->points_untracked,
                          "t_ms",
                          t_ms,
                          "points",
                          points);
    ctrace__free(h);
    ctrace__admin_reply_json(rq, MHD_HTTP_OK, v);
}

/* ---- /api/v1/memory ---- */

/* One "Name:   N kB" line of /proc/self/status, in bytes; 0 when absent. */
static uint64_t status_kb(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    if (p == NULL)
        return 0;
    return strtoull(p + strlen(name), NULL, 10) * 1024u;
}

void ctrace__admin_memory(struct request *rq)
{
    struct mallinfo2 mi = mallinfo2();
    char status[4096] = "";
    FILE *f = fopen("/proc/self/status", "re");
    if (f != NULL) {
        size_t n = fread(status, 1, sizeof(status) - 1, f);
        status[n] = '\0';
        fclose(f);
    }
    /* The process table: what ctrace holds for each process. */
    uint64_t table = 0, procs = 0;
    size_t cap = ctrace_proc_list(NULL, 0, true) + 16;
    struct ctrace_proc_info *infos = ctrace__malloc(cap * sizeof(*infos));
    if (infos != NULL) {
        size_t n = ctrace_proc_list(infos, cap, true);
        procs = n < cap ? n : cap;
        for (size_t i = 0; i < procs; i++)
            table += infos[i].memory;
        ctrace__free(infos);
    }
    json_t *v = json_object();
    json_object_set_new(v,
                        "malloc",
                        json_pack("{sIsIsIsIsIsI}",
                                  "arena_bytes",
                                  (json_int_t)mi.arena,
                                  "in_use_bytes",
                                  (json_int_t)mi.uordblks,
                                  "free_bytes",
                                  (json_int_t)mi.fordblks,
                                  "mmapped_bytes",
                                  (json_int_t)mi.hblkhd,
                                  "mmapped_chunks",
                                  (json_int_t)mi.hblks,
                                  "releasable_bytes",
                                  (json_int_t)mi.keepcost));
    json_object_set_new(v,
                        "process",
                        json_pack("{sIsIsIsIsI}",
                                  "rss_bytes",
                                  (json_int_t)status_kb(status, "VmRSS:"),
                                  "rss_peak_bytes",
                                  (json_int_t)status_kb(status, "VmHWM:"),
                                  "vm_bytes",
                                  (json_int_t)status_kb(status, "VmSize:"),
                                  "vm_peak_bytes",
                                  (json_int_t)status_kb(status, "VmPeak:"),
                                  "data_bytes",
                                  (json_int_t)status_kb(status, "VmData:")));
    json_object_set_new(v,
                        "ctrace",
                        json_pack("{sIsIsIsI}",
                                  "queues_bytes",
                                  (json_int_t)ctrace__engine_memory(),
                                  "queues_limit_bytes",
                                  (json_int_t)CTRACE__MEMORY_LIMIT,
                                  "process_table_bytes",
                                  (json_int_t)table,
                                  "processes_kept",
                                  (json_int_t)procs));
    ctrace__admin_reply_json(rq, MHD_HTTP_OK, v);
}

/* ---- /api/v1/points ---- */

struct point_row {
    char module[CTRACE_POINT_NAME_MAX + 1];
    char function[CTRACE_POINT_NAME_MAX + 1];
    unsigned arity;
    char file[128];
    unsigned line;
    unsigned armed;
};

struct point_rows {
    struct point_row *rows;
    size_t n;
    size_t cap;
    bool failed;
};

/* Registry lock held: copy, allocate, nothing else. */
static int collect_point(const struct ctrace_point *pt, void *arg)
{
    struct point_rows *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap != 0 ? r->cap * 2 : 64;
        struct point_row *p = ctrace__realloc(r->rows, cap * sizeof(*p));
        if (p == NULL) {
            r->failed = true;
            return 1;
        }
        r->rows = p;
        r->cap = cap;
    }
    struct point_row *row = &r->rows[r->n++];
    snprintf(row->module, sizeof(row->module), "%s", pt->module);
    snprintf(row->function, sizeof(row->function), "%s", pt->function);
    row->arity = pt->arity;
    const char *file = pt->file != NULL ? pt->file : "";
    const char *slash = strrchr(file, '/');
    snprintf(row->file, sizeof(row->file), "%s", slash ? slash + 1 : file);
    row->line = pt->line;
    row->armed = atomic_load_explicit(&pt->on, memory_order_relaxed);
    return 0;
}

static int cmp_point(const void *x, const void *y)
{
    const struct point_row *a = x, *b = y;
    int c = strcmp(a->module, b->module);
    if (c == 0)
        c = strcmp(a->function, b->function);
    if (c == 0)
        c = (a->arity > b->arity) - (a->arity < b->arity);
    return c;
}

void ctrace__admin_points(struct request *rq)
{
    const char *glob = ctrace__admin_query(rq, "match");
    struct point_rows r = {0};
    int rc = ctrace_points_foreach(
        glob != NULL && glob[0] != '\0' ? glob : NULL, collect_point, &r);
    if (rc < 0 || r.failed) {
        ctrace__free(r.rows);
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal",
                                  "cannot list the trace points: %s",
                                  rc < 0 ? ctrace_strerror(rc)
                                         : "out of memory");
        return;
    }
    if (r.n > 1)
        qsort(r.rows, r.n, sizeof(*r.rows), cmp_point);
    json_t *list = json_array();
    for (size_t i = 0; i < r.n; i++) {
        const struct point_row *p = &r.rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "module", ctrace__admin_jstr(p->module));
        json_object_set_new(o, "function", ctrace__admin_jstr(p->function));
        json_object_set_new(o, "arity", json_integer(p->arity));
        json_object_set_new(o, "file", ctrace__admin_jstr(p->file));
        json_object_set_new(o, "line", json_integer(p->line));
        json_object_set_new(o, "armed", json_integer(p->armed));
        json_array_append_new(list, o);
    }
    ctrace__free(r.rows);
    ctrace__admin_reply_json(
        rq, MHD_HTTP_OK, json_pack("{so}", "points", list));
}

/* ---- /api/v1/pattern ---- */

void ctrace__admin_pattern(struct request *rq)
{
    json_t *body = ctrace__admin_body_json(rq, false);
    if (body == NULL)
        return;
    json_t *spec_v = json_object_get(body, "spec");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "spec") != 0) {
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_BAD_REQUEST,
                                      "bad_request",
                                      "unknown field \"%.64s\"; the body is "
                                      "{\"spec\": \"...\"}",
                                      key);
            json_decref(body);
            return;
        }
    }
    const char *text = json_string_value(spec_v);
    if (text == NULL) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_BAD_REQUEST,
                                  "bad_request",
                                  "\"spec\" must be a string: the body is "
                                  "{\"spec\": \"...\"}");
        json_decref(body);
        return;
    }
    struct ctrace_error e = {0};
    struct ctrace__spec *spec =
        ctrace__spec_parse(text, json_string_length(spec_v), &e);
    if (spec == NULL) {
        ctrace__admin_reply_error_with(
            rq,
            e.code == CTRACE_ENOMEM ? MHD_HTTP_INTERNAL_SERVER_ERROR
                                    : MHD_HTTP_BAD_REQUEST,
            e.code == CTRACE_ENOMEM ? "internal" : "bad_pattern",
            json_pack("{siss}", "column", e.column, "spec", text),
            "%s",
            e.text);
        json_decref(body);
        return;
    }
    char *json = ctrace__spec_to_json(spec);
    ctrace__spec_free(spec);
    json_decref(body);
    /* The parser's own JSON, the same line `ctrace pattern` prints. */
    char *copy = json != NULL ? ctrace__strdup(json) : NULL;
    ctrace_free(json);
    if (copy == NULL) {
        ctrace__admin_reply_error(
            rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    ctrace__admin_reply_text(
        rq, MHD_HTTP_OK, "application/json", copy, strlen(copy));
}

/* ---- Processes. ---- */

static const char *kind_name(enum ctrace_proc_kind k)
{
    switch (k) {
    case CTRACE_PROC_THREAD:
        return "thread";
    case CTRACE_PROC_EXPLICIT:
        return "explicit";
    case CTRACE_PROC_SERVER:
        return "server";
    }
    return "unknown";
}

/* The listing's fields of a process; with `full`, everything. */
static json_t *proc_json(const struct ctrace_proc_info *p, bool full)
{
    json_t *o = json_object();
    json_object_set_new(o, "pid", ctrace__admin_jpid(p->pid));
    json_object_set_new(o, "name", ctrace__admin_jstr(p->name));
    json_object_set_new(o, "label", ctrace__admin_jstr(p->label));
    json_object_set_new(o, "initial_call", ctrace__admin_jstr(p->initial_call));
    json_object_set_new(o, "current", ctrace__admin_jstr(p->current));
    json_object_set_new(
        o, "status", json_string(ctrace_proc_status_name(p->status)));
    json_object_set_new(o, "memory", json_integer((json_int_t)p->memory));
    json_object_set_new(
        o, "reductions", json_integer((json_int_t)p->reductions));
    json_object_set_new(
        o, "message_queue_len", json_integer((json_int_t)p->message_queue_len));
    /* What the observer's tree is drawn from. */
    json_object_set_new(o,
                        "parent",
                        p->parent != 0 ? ctrace__admin_jpid(p->parent)
                                       : json_null());
    json_object_set_new(o, "kind", json_string(kind_name(p->kind)));
    if (p->status == CTRACE_PROC_DEAD)
        json_object_set_new(
            o, "exit_reason", ctrace__admin_jstr(p->exit_reason));
    if (!full)
        return o;
    if (p->status != CTRACE_PROC_DEAD)
        json_object_set_new(
            o, "exit_reason", ctrace__admin_jstr(p->exit_reason));
    json_object_set_new(o, "start_us", json_integer(p->start_us));
    json_object_set_new(o, "end_us", json_integer(p->end_us));
    json_object_set_new(o, "tid", json_integer(p->tid));
    json_t *links = json_array();
    for (size_t i = 0; i < p->nlinks && i < CTRACE_PROC_LINKS_MAX; i++)
        json_array_append_new(links, ctrace__admin_jpid(p->links[i]));
    json_object_set_new(o, "links", links);
    return o;
}

static json_t *rank_json(const struct ctrace_proc_rank *r)
{
    return json_pack("{s:o,s:I,s:o,s:o,s:o,s:o}",
                     "pid",
                     ctrace__admin_jpid(r->pid),
                     "value",
                     (json_int_t)r->value,
                     "name",
                     ctrace__admin_jstr(r->name),
                     "label",
                     ctrace__admin_jstr(r->label),
                     "initial_call",
                     ctrace__admin_jstr(r->initial_call),
                     "current",
                     ctrace__admin_jstr(r->current));
}

/*
 * Reads query argument `name` as an integer in [min, max] (`def` when
 * absent), or replies 400 and returns false.
 */
static bool query_uint(struct request *rq,
                       const char *name,
                       uint64_t min,
                       uint64_t max,
                       uint64_t def,
                       uint64_t *out)
{
    const char *s = ctrace__admin_query(rq, name);
    if (s == NULL) {
        *out = def;
        return true;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min ||
        v > max) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_BAD_REQUEST,
                                  "bad_request",
                                  "%s=%.40s: expected an integer from %" PRIu64
                                  " to %" PRIu64,
                                  name,
                                  s,
                                  min,
                                  max);
        return false;
    }
    *out = v;
    return true;
}

static bool query_attr(struct request *rq,
                       const char *name,
                       bool required,
                       enum ctrace_proc_attr *attr,
                       bool *given)
{
    const char *s = ctrace__admin_query(rq, name);
    *given = s != NULL;
    if (s == NULL && !required)
        return true;
    if (s == NULL || ctrace_proc_attr_parse(s, attr) < 0) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_BAD_REQUEST,
                                  "bad_request",
                                  "%s=%.40s: expected memory, reductions or "
                                  "message_queue_len",
                                  name,
                                  s != NULL ? s : "(missing)");
        return false;
    }
    return true;
}

void ctrace__admin_procs(struct request *rq)
{
    enum ctrace_proc_attr attr;
    bool sorted;
    uint64_t limit, dead;
    if (!query_attr(rq, "sort", false, &attr, &sorted) ||
        !query_uint(rq, "limit", 1, MAX_LIMIT, sorted ? 10 : 1000, &limit) ||
        !query_uint(rq, "dead", 0, 1, 0, &dead))
        return;
    if (sorted) {
        /* recon:proc_count, with each process's other fields too. */
        struct ctrace_proc_rank *rows = ctrace__calloc(limit, sizeof(*rows));
        size_t n = 0;
        int rc = rows != NULL ? ctrace_proc_count(attr, limit, rows, &n)
                              : CTRACE_ENOMEM;
        if (rc < 0) {
            ctrace__free(rows);
            ctrace__admin_reply_ctrace_error(rq, rc, NULL);
            return;
        }
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            struct ctrace_proc_info info;
            json_t *o;
            if (ctrace_proc_info(rows[i].pid, &info) == 0) {
                o = proc_json(&info, false);
            } else {
                o = rank_json(&rows[i]);
                json_object_set_new(o, "status", json_string("dead"));
            }
            json_object_set_new(
                o, "value", json_integer((json_int_t)rows[i].value));
            json_array_append_new(list, o);
        }
        ctrace__free(rows);
        ctrace__admin_reply_json(rq,
                                 MHD_HTTP_OK,
                                 json_pack("{s:s,s:o}",
                                           "attr",
                                           ctrace_proc_attr_name(attr),
                                           "procs",
                                           list));
        return;
    }
    /* Room for what there is now (and a few born meanwhile), not `limit`. */
    size_t cap = ctrace_proc_list(NULL, 0, dead != 0) + 16;
    if (cap > limit)
        cap = limit;
    struct ctrace_proc_info *infos = ctrace__malloc(cap * sizeof(*infos));
    if (infos == NULL) {
        ctrace__admin_reply_ctrace_error(rq, CTRACE_ENOMEM, NULL);
        return;
    }
    size_t total = ctrace_proc_list(infos, cap, dead != 0);
    size_t n = total < cap ? total : cap;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, proc_json(&infos[i], false));
    ctrace__free(infos);
    ctrace__admin_reply_json(
        rq,
        MHD_HTTP_OK,
        json_pack("{s:o,s:I}", "procs", list, "total", (json_int_t)total));
}

/* A worker: the window sleeps `ms`. */
static void window_job(struct request *rq)
{
    struct ctrace_proc_rank *rows = ctrace__calloc(rq->limit, sizeof(*rows));
    size_t n = 0;
    int rc = rows != NULL
                 ? ctrace_proc_window(rq->attr, rq->limit, rq->ms, rows, &n)
                 : CTRACE_ENOMEM;
    if (rc < 0) {
        ctrace__free(rows);
        ctrace__admin_reply_ctrace_error(rq, rc, NULL);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, rank_json(&rows[i]));
    ctrace__free(rows);
    ctrace__admin_reply_json(rq,
                             MHD_HTTP_OK,
                             json_pack("{s:s,s:I,s:o}",
                                       "attr",
                                       ctrace_proc_attr_name(rq->attr),
                                       "ms",
                                       (json_int_t)rq->ms,
                                       "procs",
                                       list));
}

void ctrace__admin_window(struct request *rq)
{
    bool given;
    uint64_t limit, ms;
    if (!query_attr(rq, "attr", true, &rq->attr, &given) ||
        !query_uint(rq, "limit", 1, MAX_LIMIT, 10, &limit) ||
        !query_uint(rq, "ms", 1, ADMIN_WINDOW_MAX_MS, 1000, &ms))
        return;
    rq->limit = (size_t)limit;
    rq->ms = (uint32_t)ms;
    ctrace__admin_run_job(rq, window_job);
}

bool ctrace__admin_find_proc(struct request *rq, struct ctrace_proc_info *info)
{
    uint64_t pid = 0;
    int rc = ctrace_proc_parse(rq->segment, &pid);
    if (rc == CTRACE_ENOPROC || (rc == 0 && ctrace_proc_info(pid, info) < 0)) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_NOT_FOUND,
                                  "no_such_process",
                                  rc == CTRACE_ENOPROC
                                      ? "no process is registered as '%s'"
                                      : "no process %s",
                                  rq->segment);
        return false;
    }
    if (rc < 0) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_NOT_FOUND,
                                  "no_such_process",
                                  "'%s' is neither a pid (<0.N.0> or N) nor "
                                  "a registered name",
                                  rq->segment);
        return false;
    }
    rq->pid = pid;
    return true;
}

void ctrace__admin_proc(struct request *rq)
{
    struct ctrace_proc_info info;
    if (!ctrace__admin_find_proc(rq, &info))
        return;
    ctrace__admin_reply_json(rq, MHD_HTTP_OK, proc_json(&info, true));
}

/* ---- /metrics ---- */

/* Appends a Prometheus label value: \, " and newline escaped. */
static void put_label(struct ctrace__sbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            ctrace__sbuf_putc(b, '\\');
            ctrace__sbuf_putc(b, *s);
        } else if (*s == '\n') {
            ctrace__sbuf_puts(b, "\\n");
        } else {
            ctrace__sbuf_putc(b, *s);
        }
    }
}

static void point_metric(const char *module,
                         const char *function,
                         unsigned arity,
                         uint64_t events,
                         void *arg)
{
    struct ctrace__sbuf *b = arg;
    ctrace__sbuf_puts(b, "ctrace_point_events_total{point=\"");
    put_label(b, module);
    ctrace__sbuf_putc(b, ':');
    put_label(b, function);
    ctrace__sbuf_printf(b, "/%u\"} %" PRIu64 "\n", arity, events);
}

void ctrace__admin_metrics(struct request *rq)
{
    uint64_t events = 0, dropped = 0;
    ctrace__engine_totals(&events, &dropped);
    unsigned running = 0, streams = 0;
    ctrace__admin_sessions_counts(rq->admin, &running, &streams);

    /* Every process, dead ones kept included, for the counts by status. */
    size_t cap = ctrace_proc_list(NULL, 0, true) + 16;
    struct ctrace_proc_info *procs = ctrace__malloc(cap * sizeof(*procs));
    size_t n = 0;
    if (procs != NULL) {
        n = ctrace_proc_list(procs, cap, true);
        if (n > cap)
            n = cap;
    }
    uint64_t by_status[4] = {0};
    for (size_t i = 0; i < n; i++)
        if ((unsigned)procs[i].status < 4)
            by_status[procs[i].status]++;

    struct ctrace__sbuf b = CTRACE__SBUF_INIT;
    ctrace__sbuf_printf(
        &b,
        "# HELP ctrace_sessions_running Trace sessions running now, started "
        "by the admin endpoint or by the program.\n"
        "# TYPE ctrace_sessions_running gauge\n"
        "ctrace_sessions_running %u\n"
        "# HELP ctrace_events_total Trace events delivered to sinks since "
        "the program started.\n"
        "# TYPE ctrace_events_total counter\n"
        "ctrace_events_total %" PRIu64 "\n"
        "# HELP ctrace_events_dropped_total Trace events dropped anywhere "
        "(the sum of ctrace_events_dropped_by_site_total).\n"
        "# TYPE ctrace_events_dropped_total counter\n"
        "ctrace_events_dropped_total %" PRIu64 "\n"
        "# HELP ctrace_processes Processes by status (dead ones are kept "
        "for a while).\n"
        "# TYPE ctrace_processes gauge\n",
        ctrace__engine_sessions(),
        events,
        dropped);
    for (unsigned s = 0; s < 4; s++)
        ctrace__sbuf_printf(&b,
                            "ctrace_processes{status=\"%s\"} %" PRIu64 "\n",
                            ctrace_proc_status_name((enum ctrace_proc_status)s),
                            by_status[s]);
    ctrace__admin_put_limits_metrics(&b);
    ctrace__sbuf_puts(&b,
                      "# HELP ctrace_message_queue_len Messages waiting in "
                      "each server's mailbox.\n"
                      "# TYPE ctrace_message_queue_len gauge\n");
    for (size_t i = 0; i < n; i++) {
        const struct ctrace_proc_info *p = &procs[i];
        if (p->kind != CTRACE_PROC_SERVER || p->status == CTRACE_PROC_DEAD)
            continue;
        ctrace__sbuf_printf(&b,
                            "ctrace_message_queue_len{pid=\"<0.%" PRIu64
                            ".0>\",name=\"",
                            p->pid);
        put_label(&b, p->name);
        ctrace__sbuf_printf(&b, "\"} %" PRIu64 "\n", p->message_queue_len);
    }
    ctrace__free(procs);
    ctrace__sbuf_puts(&b,
                      "# HELP ctrace_point_events_total Events delivered at "
                      "each trace point that a running session has armed.\n"
                      "# TYPE ctrace_point_events_total counter\n");
    ctrace__engine_armed_points(point_metric, &b);
    size_t len = b.len;
    char *text = ctrace__sbuf_take(&b);
    if (text == NULL) {
        ctrace__admin_reply_error(
            rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    /* The body goes to free(): copy out of ctrace's allocation. */
    char *copy = ctrace__malloc(len + 1);
    if (copy != NULL)
        memcpy(copy, text, len + 1);
    ctrace_free(text);
    if (copy == NULL) {
        ctrace__admin_reply_error(
            rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    ctrace__admin_reply_text(
        rq, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", copy, len);
}

/* ---- /api/v1/fds ---- */

void ctrace__admin_fds(struct request *rq)
{
    uint64_t limit;
    if (!query_uint(rq, "limit", 1, MAX_LIMIT, 1000, &limit))
        return;
    json_t *v = ctrace__fds_json((size_t)limit);
    if (v == NULL) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal",
                                  "cannot read /proc/self/fd: %s",
                                  ctrace_strerror(-errno));
        return;
    }
    ctrace__admin_reply_json(rq, MHD_HTTP_OK, v);
}
