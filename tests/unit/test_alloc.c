/* SPDX-License-Identifier: MIT */
/*
 * Allocation failures, in jansson's manner: each scenario below runs once
 * for every allocation it makes, with that one allocation failing
 * (ctrace__alloc_fail_after()). Whatever fails must fail cleanly: a call
 * that reports failure says CTRACE_ENOMEM, a call that succeeds may have
 * degraded as docs/architecture.md says (an event lost and counted, a
 * rendering cut), nothing crashes, nothing leaks (the ASan build checks at
 * exit), and the same scenario then runs through without a failure, so the
 * library is still usable. A scenario is done when a run reaches no armed
 * failure. jansson's allocations are routed through the same countdown
 * (json_set_alloc_funcs), since the library's JSON paths use it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "ctrace/ctrace.h"

/* ---- The traced code. ---- */

__attribute__((noinline)) static int work(const char *cat, int n)
{
    CTRACE_CALL(alloc_unit, work, cat, n);
    CTRACE_RETURN(n * 2);
}

__attribute__((noinline)) static void ping(const char *what)
{
    CTRACE_EVENT(alloc_unit, ping, what);
}

/* How a scenario ended: 0, or the error code of the call that failed. */
static int failed_with(int code, const char *what)
{
    if (code != CTRACE_ENOMEM && code != -ENOMEM)
        fail_msg("%s failed with %s (%d), not CTRACE_ENOMEM",
                 what,
                 ctrace_strerror(code),
                 code);
    return code;
}

/* ---- Scenarios. ---- */

static atomic_uint events_seen;

static void count_event(const struct ctrace_event *ev, void *arg)
{
    atomic_fetch_add(&events_seen, 1);
}

/* A session with every action, a callback and a text sink. */
static int scenario_session(void)
{
    const char *specs[] = {
        "alloc_unit:work -> return, stack, caller, dump, time, count",
        "alloc_unit:ping",
    };
    struct ctrace_session_opts o;
    ctrace_session_opts_init(&o);
    o.msgs = 100;
    o.on_event = count_event;
    o.fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(o.fd >= 0);
    struct ctrace_error err;
    struct ctrace_session *s = ctrace_session_start(specs, 2, &o, &err);
    if (s == NULL) {
        close(o.fd);
        return failed_with(err.code, "ctrace_session_start");
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(work("Tihon", i), 2 * i);
        ping("Murka");
    }
    ctrace_session_stop(s);
    ctrace_session_free(s);
    close(o.fd);
    return 0;
}

/* A capture of calls and returns, read back. */
static int scenario_capture(void)
{
    struct ctrace_error err;
    struct ctrace_capture *c =
        ctrace_capture_start("alloc_unit:work -> return", &err);
    if (c == NULL)
        return failed_with(err.code, "ctrace_capture_start");
    assert_int_equal(work("Barsik", 5), 10);
    ctrace_capture_stop(c);
    char *t = ctrace_capture_transcript(c);
    ctrace_free(t); /* NULL is a degraded result: out of memory */
    ctrace_capture_free(c);
    return 0;
}

/* A short-lived process with a name and a link. */
static int scenario_proc(void)
{
    uint64_t parent = ctrace_self();
    uint64_t pid = ctrace_proc_begin("alloc_unit:proc/0");
    if (pid == 0)
        return CTRACE_ENOMEM;
    int rc = ctrace_register("alloc_unit_proc", pid);
    if (rc == 0)
        ctrace_unregister("alloc_unit_proc");
    else
        failed_with(rc, "ctrace_register");
    if (parent != 0) {
        rc = ctrace_link(parent);
        if (rc == 0)
            ctrace_unlink(parent);
        else
            failed_with(rc, "ctrace_link");
    }
    ctrace_proc_end("normal");
    return 0;
}

/* A server's state: JSON text the state owns, replaced through sys. */
struct srv_state {
    int n;
};

static int srv_init(void *arg, void **state, struct ctrace_error *err)
{
    struct srv_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "no state");
    *state = st;
    return 0;
}

static int
srv_call(void *state, const void *msg, size_t len, struct ctrace_reply *reply)
{
    struct srv_state *st = state;
    st->n++;
    return ctrace_reply_set(reply, "ok", 2) < 0 ? CTRACE_SERVER_CONTINUE
                                                : CTRACE_SERVER_CONTINUE;
}

static void srv_terminate(void *state, const char *reason)
{
    free(state);
}

static char *srv_format(const void *state)
{
    const struct srv_state *st = state;
    char *s = malloc(32);
    if (s != NULL)
        snprintf(s, 32, "{\"n\":%d}", st->n);
    return s;
}

static int srv_replace(void **state,
                       const char *json,
                       size_t len,
                       struct ctrace_error *err)
{
    int n;
    if (sscanf(json, "{\"n\":%d}", &n) != 1)
        return ctrace__error_set(err, CTRACE_EINVAL, 0, 0, "want {\"n\":N}");
    ((struct srv_state *)*state)->n = n;
    return 0;
}

static int scenario_server(void)
{
    struct ctrace_server_callbacks cb = {
        .init = srv_init,
        .handle_call = srv_call,
        .terminate = srv_terminate,
        .format_state = srv_format,
        .replace_state = srv_replace,
    };
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.name = "alloc_srv";
    struct ctrace_error err;
    struct ctrace_server *srv = ctrace_server_start(&cb, &o, &err);
    if (srv == NULL)
        return failed_with(err.code, "ctrace_server_start");
    uint64_t pid = ctrace_server_pid(srv);
    char reply[8];
    size_t n = 0;
    int rc = ctrace_server_call(srv, "hi", 2, reply, sizeof(reply), &n, 5000);
    if (rc < 0)
        failed_with(rc, "ctrace_server_call");
    char *json = NULL;
    rc = ctrace_sys_get_state(pid, 5000, &json, &err);
    if (rc < 0)
        failed_with(err.code, "ctrace_sys_get_state");
    ctrace_free(json);
    rc = ctrace_sys_replace_state(pid, "{\"n\":41}", 5000, &err);
    if (rc < 0)
        failed_with(err.code, "ctrace_sys_replace_state");
    json = NULL;
    rc = ctrace_sys_get_status(pid, 5000, &json, &err);
    if (rc < 0)
        failed_with(err.code, "ctrace_sys_get_status");
    ctrace_free(json);
    ctrace_server_stop(srv, NULL);
    return 0;
}

static char token_path[64];

static int scenario_admin(void)
{
    struct ctrace_admin_opts o;
    ctrace_admin_opts_init(&o);
    o.port = 0;
    o.token_file = token_path;
    struct ctrace_error err;
    struct ctrace_admin *a = ctrace_admin_start(&o, &err);
    if (a == NULL) {
        if (err.code == -ENOSYS)
            return 0; /* built without the admin endpoint */
        return failed_with(err.code, "ctrace_admin_start");
    }
    ctrace_admin_stop(a);
    return 0;
}

/*
 * The consumer's text buffer: when rendering one event runs out of memory,
 * that event's text is lost, and the next event is written as usual.
 */
static void text_sink_recovers_after_a_failed_rendering(void **state)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *spec = "alloc_unit:work";
    struct ctrace_session_opts o;
    ctrace_session_opts_init(&o);
    o.fd = fds[1];
    struct ctrace_error err;
    struct ctrace_session *s = ctrace_session_start(&spec, 1, &o, &err);
    assert_non_null(s);

    /* Traced threads do not allocate: the next allocation is the
     * consumer's, growing the empty text buffer for the first event. */
    unsigned long before = ctrace__alloc_failures();
    ctrace__alloc_fail_after(0);
    work("Lost", 1);
    for (int i = 0; i < 5000 && ctrace__alloc_failures() == before; i++)
        usleep(1000);
    ctrace__alloc_fail_after(-1);
    assert_int_equal(ctrace__alloc_failures(), before + 1);

    work("Kept", 2);
    ctrace_session_stop(s);
    ctrace_session_free(s);
    close(fds[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 &&
           (n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fds[0]);
    assert_null(strstr(buf, "Lost"));
    assert_non_null(strstr(buf, "alloc_unit:work(\"Kept\", 2)"));
    assert_non_null(strstr(buf, "stopped"));
}

/* ---- The chaos loop. ---- */

static void run_chaos(const char *name, int (*scenario)(void))
{
    long k;
    for (k = 0; k < 100000; k++) {
        unsigned long before = ctrace__alloc_failures();
        ctrace__alloc_fail_after(k);
        int rc = scenario();
        ctrace__alloc_fail_after(-1);
        if (ctrace__alloc_failures() == before) {
            /* Every allocation of the scenario succeeded: done. */
            assert_int_equal(rc, 0);
            break;
        }
        /* Still usable: the same scenario runs through. */
        if (scenario() != 0)
            fail_msg("%s: unusable after allocation %ld failed", name, k);
    }
    assert_true(k > 0); /* the scenario allocates at all */
    assert_true(k < 100000);
    print_message("%s: %ld allocations, each failed once\n", name, k);
}

static void session_survives_every_allocation_failure(void **state)
{
    atomic_store(&events_seen, 0);
    run_chaos("session", scenario_session);
    /* The last, failure-free run delivered its calls, returns and events. */
    assert_true(atomic_load(&events_seen) > 0);
}

static void capture_survives_every_allocation_failure(void **state)
{
    run_chaos("capture", scenario_capture);
}

static void proc_survives_every_allocation_failure(void **state)
{
    run_chaos("proc", scenario_proc);
}

static void server_survives_every_allocation_failure(void **state)
{
    run_chaos("server", scenario_server);
}

static void admin_survives_every_allocation_failure(void **state)
{
    run_chaos("admin", scenario_admin);
}

static int setup_all(void **state)
{
    json_set_alloc_funcs(ctrace__malloc, ctrace__free);
    snprintf(token_path,
             sizeof(token_path),
             "/tmp/ctrace-alloc-%d/token",
             (int)getpid());
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/ctrace-alloc-%d", (int)getpid());
    return mkdir(dir, 0700) == 0 ? 0 : -1;
}

static int teardown_all(void **state)
{
    unlink(token_path);
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/ctrace-alloc-%d", (int)getpid());
    rmdir(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_survives_every_allocation_failure),
        cmocka_unit_test(capture_survives_every_allocation_failure),
        cmocka_unit_test(proc_survives_every_allocation_failure),
        cmocka_unit_test(server_survives_every_allocation_failure),
        cmocka_unit_test(admin_survives_every_allocation_failure),
        cmocka_unit_test(text_sink_recovers_after_a_failed_rendering),
    };
    return cmocka_run_group_tests_name("alloc", tests, setup_all, teardown_all);
}
