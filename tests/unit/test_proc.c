/* SPDX-License-Identifier: MIT */
/*
 * Processes: the table (implicit, explicit, dead), names, links, ranking,
 * and what sessions see of processes: filters and `procs` events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctrace/ctrace.h"

/* ---- The traced code. ---- */

__attribute__((noinline)) static int work(int n)
{
    CTRACE_CALL(proc_test, work, n);
    CTRACE_RETURN(n + 1);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- A callback sink that keeps what it saw. ---- */

#define MAX_SEEN 4096

struct seen {
    pthread_mutex_t lock;
    size_t n;
    struct {
        enum ctrace_event_kind kind;
        uint64_t pid;
        uint64_t peer_pid;
        bool dead;
        char text[128];   /* the peer, reason or name */
        char process[64]; /* the label */
        char dump[1024];
    } ev[MAX_SEEN];
    /* If set, the first event waits until `release` is true. */
    atomic_bool hold;
    atomic_bool release;
};

static struct seen *seen_new(void)
{
    struct seen *s = calloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void seen_free(struct seen *s)
{
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void on_event(const struct ctrace_event *ev, void *arg)
{
    struct seen *s = arg;
    if (atomic_exchange(&s->hold, false))
        while (!atomic_load(&s->release))
            sleep_ms(1);
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_SEEN) {
        s->ev[s->n].kind = ev->kind;
        s->ev[s->n].pid = ev->pid;
        s->ev[s->n].peer_pid = ev->peer_pid;
        s->ev[s->n].dead = ev->dead;
        const char *t = ev->reason != NULL ? ev->reason
                        : ev->name != NULL ? ev->name
                        : ev->peer != NULL ? ev->peer
                                           : "";
        snprintf(s->ev[s->n].text, sizeof(s->ev[s->n].text), "%s", t);
        snprintf(s->ev[s->n].process,
                 sizeof(s->ev[s->n].process),
                 "%s",
                 ev->process != NULL ? ev->process : "");
        snprintf(s->ev[s->n].dump,
                 sizeof(s->ev[s->n].dump),
                 "%s",
                 ev->dump != NULL ? ev->dump : "");
        s->n++;
    }
    pthread_mutex_unlock(&s->lock);
}

static struct ctrace_session *
start(const char *spec, enum ctrace_procs_filter procs, struct seen *seen)
{
    struct ctrace_session_opts o;
    ctrace_session_opts_init(&o);
    o.msgs = 1000;
    o.time_ms = 10000;
    o.procs = procs;
    o.on_event = on_event;
    o.arg = seen;
    struct ctrace_error err = {0};
    const char *specs[] = {spec};
    struct ctrace_session *s = ctrace_session_start(specs, 1, &o, &err);
    if (s == NULL)
        fail_msg("session %s: %s", spec, err.text);
    return s;
}

/* Stops the session and waits until every event was delivered. */
static void finish(struct ctrace_session *s)
{
    ctrace_session_stop(s);
    assert_int_equal(ctrace_session_wait(s, 10000), 0);
    ctrace_session_free(s);
}

static size_t count_kind(struct seen *s, enum ctrace_event_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->ev[i].kind == k;
    return n;
}

/* ---- The table. ---- */

static void a_thread_gets_an_implicit_process(void **state)
{
    (void)state;
    uint64_t pid = ctrace_self();
    assert_true(pid > 0);
    assert_int_equal(ctrace_self(), pid);
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(pid, &info), 0);
    assert_int_equal(info.pid, pid);
    assert_int_equal(info.kind, CTRACE_PROC_THREAD);
    assert_int_equal(info.status, CTRACE_PROC_RUNNING);
    assert_int_equal(info.tid, (int)syscall(SYS_gettid));
    assert_true(info.start_us > 0);
    assert_int_equal(info.end_us, 0);
    assert_true(info.memory > 0);
    assert_int_equal(info.message_queue_len, 0);
}

static void explicit_processes_nest_and_end_with_a_reason(void **state)
{
    (void)state;
    uint64_t thread_pid = ctrace_self();
    uint64_t req = ctrace_proc_begin("cat_traveler_http:request/2");
    assert_true(req > thread_pid);
    assert_int_equal(ctrace_self(), req);
    uint64_t inner = ctrace_proc_begin("inner:job/0");
    assert_int_equal(ctrace_self(), inner);

    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(inner, &info), 0);
    assert_int_equal(info.parent, req);
    assert_int_equal(info.kind, CTRACE_PROC_EXPLICIT);
    assert_string_equal(info.initial_call, "inner:job/0");
    assert_string_equal(info.label, "inner:job/0");

    assert_int_equal(ctrace_proc_end("boom"), 0);
    assert_int_equal(ctrace_self(), req);
    assert_int_equal(ctrace_proc_end(NULL), 0);
    assert_int_equal(ctrace_self(), thread_pid);
    /* Nothing begun is left to end. */
    assert_int_equal(ctrace_proc_end(NULL), CTRACE_ENOTFOUND);

    assert_int_equal(ctrace_proc_info(inner, &info), 0);
    assert_int_equal(info.status, CTRACE_PROC_DEAD);
    assert_string_equal(info.exit_reason, "boom");
    assert_true(info.end_us >= info.start_us);
    assert_int_equal(ctrace_proc_info(req, &info), 0);
    assert_string_equal(info.exit_reason, "normal");
    assert_int_equal(info.parent, thread_pid);
}

static void names_register_resolve_and_go_with_the_process(void **state)
{
    (void)state;
    assert_int_equal(ctrace_register("", 0), CTRACE_EINVAL);
    assert_int_equal(ctrace_register("bad name", 0), CTRACE_EINVAL);
    assert_int_equal(ctrace_register("1cat", 0), CTRACE_EINVAL);
    char longname[CTRACE_PROC_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(ctrace_register(longname, 0), CTRACE_EINVAL);

    uint64_t pid = ctrace_proc_begin("names:test/0");
    assert_int_equal(ctrace_register("cat_Tihon", 0), 0);
    assert_int_equal(ctrace_whereis("cat_Tihon"), pid);
    /* One name per process, one process per name. */
    assert_int_equal(ctrace_register("cat_Other", 0), -EEXIST);
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(pid, &info), 0);
    assert_string_equal(info.name, "cat_Tihon");
    assert_string_equal(info.label, "cat_Tihon");
    uint64_t parsed = 0;
    assert_int_equal(ctrace_proc_parse("cat_Tihon", &parsed), 0);
    assert_int_equal(parsed, pid);
    assert_int_equal(ctrace_proc_end(NULL), 0);
    /* Dead processes hold no name. */
    assert_int_equal(ctrace_whereis("cat_Tihon"), 0);
    assert_int_equal(ctrace_unregister("cat_Tihon"), CTRACE_ENOTFOUND);
    assert_int_equal(ctrace_register("cat_Tihon", pid), CTRACE_ENOPROC);
    /* The dead keep the label they had. */
    assert_int_equal(ctrace_proc_info(pid, &info), 0);
    assert_string_equal(info.label, "cat_Tihon");
    assert_string_equal(info.name, "");

    /* Another process's pid, and unregister. */
    uint64_t me = ctrace_self();
    assert_int_equal(ctrace_register("proc_test_main", me), 0);
    assert_int_equal(ctrace_register("proc_test_main", me), -EEXIST);
    assert_int_equal(ctrace_unregister("proc_test_main"), 0);
    assert_int_equal(ctrace_whereis("proc_test_main"), 0);
}

static void process_references_parse_like_users_write_them(void **state)
{
    (void)state;
    uint64_t pid = 0;
    assert_int_equal(ctrace_proc_parse("<0.42.0>", &pid), 0);
    assert_int_equal(pid, 42);
    assert_int_equal(ctrace_proc_parse("17", &pid), 0);
    assert_int_equal(pid, 17);
    assert_int_equal(ctrace_proc_parse("<0.42.0>x", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("<1.42.0>", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("12x", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("0", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("no_such_name", &pid), CTRACE_ENOPROC);
    assert_int_equal(ctrace_proc_parse(NULL, &pid), CTRACE_EINVAL);
    /* Only digits and the exact shape: no sign, space or missing '>'. */
    pid = 0;
    assert_int_equal(ctrace_proc_parse("<0.42.0", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("<0.-1.0>", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("<0.+7.0>", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("< 0.42.0>", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("<0. 42.0>", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("<0.42.0 >", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("<0.42>", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("<0.0.0>", &pid), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_parse("18446744073709551616", &pid),
                     CTRACE_EINVAL);
    assert_int_equal(pid, 0);
    assert_int_equal(ctrace_proc_parse("<0.18446744073709551615.0>", &pid), 0);
    assert_int_equal(pid, UINT64_MAX);

    enum ctrace_proc_attr a;
    assert_int_equal(ctrace_proc_attr_parse("reductions", &a), 0);
    assert_int_equal(a, CTRACE_ATTR_REDUCTIONS);
    assert_int_equal(ctrace_proc_attr_parse("message_queue_len", &a), 0);
    assert_int_equal(a, CTRACE_ATTR_MESSAGE_QUEUE_LEN);
    assert_int_equal(ctrace_proc_attr_parse("heap_size", &a), CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_attr_parse("memory", NULL), CTRACE_EINVAL);
    assert_string_equal(ctrace_proc_attr_name(CTRACE_ATTR_MEMORY), "memory");
    assert_string_equal(ctrace_proc_status_name(CTRACE_PROC_SUSPENDED),
                        "suspended");
}

struct thread_arg {
    uint64_t pid;
    uint64_t linked_to;
    uint64_t explicit_pid;
    atomic_bool go;
    atomic_bool ready;
    atomic_bool busy;
    atomic_bool stop;
};

static void *short_thread(void *p)
{
    struct thread_arg *a = p;
    a->pid = ctrace_self();
    if (a->linked_to != 0)
        assert_int_equal(ctrace_link(a->linked_to), 0);
    /* Left running: the thread's exit ends it. */
    a->explicit_pid = ctrace_proc_begin("left:open/0");
    return NULL;
}

static void thread_exit_ends_its_processes(void **state)
{
    (void)state;
    struct thread_arg a = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, short_thread, &a), 0);
    pthread_join(th, NULL);
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(a.explicit_pid, &info), 0);
    assert_int_equal(info.status, CTRACE_PROC_DEAD);
    assert_string_equal(info.exit_reason, "thread exited");
    assert_int_equal(ctrace_proc_info(a.pid, &info), 0);
    assert_int_equal(info.status, CTRACE_PROC_DEAD);
    assert_string_equal(info.exit_reason, "normal");
}

static void a_linked_process_learns_how_the_other_ended(void **state)
{
    (void)state;
    uint64_t me = ctrace_self();
    /* A linked explicit process that crashes. */
    uint64_t req = ctrace_proc_begin("linked:req/0");
    assert_int_equal(ctrace_link(me), 0);
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(req, &info), 0);
    assert_int_equal(info.nlinks, 1);
    assert_int_equal(info.links[0], me);
    assert_int_equal(ctrace_proc_end("crash"), 0);

    /* And a linked thread that exits. */
    struct thread_arg a = {.linked_to = me};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, short_thread, &a), 0);
    pthread_join(th, NULL);

    struct ctrace_exit_notice n[4];
    assert_int_equal(ctrace_proc_exits(n, 4), 2);
    assert_int_equal(n[0].pid, req);
    assert_string_equal(n[0].reason, "crash");
    assert_int_equal(n[1].pid, a.pid);
    assert_string_equal(n[1].reason, "normal");
    assert_int_equal(ctrace_proc_exits(n, 4), 0);
    assert_int_equal(ctrace_proc_info(me, &info), 0);
    assert_int_equal(info.nlinks, 0);

    /* Unlinked, nobody is told; dead or unknown pids cannot be linked. */
    req = ctrace_proc_begin("linked:req/0");
    assert_int_equal(ctrace_link(me), 0);
    assert_int_equal(ctrace_unlink(me), 0);
    assert_int_equal(ctrace_proc_end("crash"), 0);
    assert_int_equal(ctrace_proc_exits(n, 4), 0);
    assert_int_equal(ctrace_link(req), CTRACE_ENOPROC);
    assert_int_equal(ctrace_link(UINT64_MAX), CTRACE_ENOPROC);
}

static void many_short_lived_processes_leave_the_table_bounded(void **state)
{
    (void)state;
    size_t before = ctrace_proc_list(NULL, 0, false);
    uint64_t first = 0, last = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t pid = ctrace_proc_begin("churn:req/1");
        assert_true(pid > 0);
        if (i == 0)
            first = pid;
        last = pid;
        assert_int_equal(ctrace_proc_end(NULL), 0);
    }
    /* Live processes are as before; the dead kept are capped. */
    assert_int_equal(ctrace_proc_list(NULL, 0, false), before);
    size_t all = ctrace_proc_list(NULL, 0, true);
    assert_true(all <= before + CTRACE_PROC_DEAD_KEEP);
    assert_true(all >= before + CTRACE_PROC_DEAD_KEEP - 1);
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(first, &info), CTRACE_ENOPROC);
    assert_int_equal(ctrace_proc_info(last, &info), 0);
    assert_int_equal(info.status, CTRACE_PROC_DEAD);

    /* The list: live in pid order, then the dead. */
    struct ctrace_proc_info *list = calloc(all, sizeof(*list));
    assert_int_equal(ctrace_proc_list(list, all, true), all);
    for (size_t i = 1; i < before; i++)
        assert_true(list[i - 1].pid < list[i].pid);
    assert_int_equal(list[all - 1].pid, last);
    free(list);
}

static void *idle_thread(void *p)
{
    struct thread_arg *a = p;
    a->pid = ctrace_self();
    atomic_store(&a->ready, true);
    while (!atomic_load(&a->stop)) {
        if (atomic_load(&a->busy)) {
            /* Burn CPU while asked to. */
            volatile uint64_t x = 0;
            for (int i = 0; i < 100000; i++)
                x += (uint64_t)i;
        } else {
            sleep_ms(1);
        }
    }
    return NULL;
}

/*
 * Four threads for the window test. They live on the heap and the teardown
 * stops and joins them, so a failed assert (which leaves the test through
 * longjmp) cannot leave them running on storage that went out of scope.
 */
struct idle_threads {
    struct thread_arg a[4];
    pthread_t th[4];
    int started;
};

static int setup_idle_threads(void **state)
{
    struct idle_threads *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    for (; t->started < 4; t->started++)
        if (pthread_create(
                &t->th[t->started], NULL, idle_thread, &t->a[t->started]) != 0)
            break;
    *state = t;
    if (t->started < 4)
        return -1;
    for (int i = 0; i < 4; i++)
        while (!atomic_load(&t->a[i].ready))
            sleep_ms(1);
    return 0;
}

static int teardown_idle_threads(void **state)
{
    struct idle_threads *t = *state;
    if (t == NULL)
        return 0;
    for (int i = 0; i < t->started; i++)
        atomic_store(&t->a[i].stop, true);
    for (int i = 0; i < t->started; i++)
        pthread_join(t->th[i], NULL);
    free(t);
    return 0;
}

static void proc_window_finds_the_process_that_got_busy(void **state)
{
    struct idle_threads *t = *state;
    struct thread_arg *a = t->a;
    /* One of them gets busy just as the window opens. */
    atomic_store(&a[2].busy, true);
    struct ctrace_proc_rank top[3];
    size_t n = 0;
    assert_int_equal(
        ctrace_proc_window(CTRACE_ATTR_REDUCTIONS, 3, 500, top, &n), 0);
    assert_int_equal(n, 3);
    /*
     * Only relative facts: how much CPU the busy thread got depends on the
     * machine's load, but it got more than any process that slept.
     */
    assert_int_equal(top[0].pid, a[2].pid);
    assert_true(top[0].value > top[1].value);
    assert_true(top[1].value >= top[2].value);

    /* proc_count ranks what processes hold now: memory they report. */
    uint64_t me = ctrace_self();
    ctrace_proc_account(64 * 1024 * 1024);
    assert_int_equal(ctrace_proc_count(CTRACE_ATTR_MEMORY, 2, top, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(top[0].pid, me);
    assert_true(top[0].value >= 64 * 1024 * 1024);
    ctrace_proc_account(-64 * 1024 * 1024);

    /* Asking for more than there are gives what there is. */
    size_t live = ctrace_proc_list(NULL, 0, false);
    struct ctrace_proc_rank *all = calloc(live + 10, sizeof(*all));
    assert_int_equal(
        ctrace_proc_count(CTRACE_ATTR_REDUCTIONS, live + 10, all, &n), 0);
    assert_int_equal(n, live);
    free(all);

    assert_int_equal(ctrace_proc_count(CTRACE_ATTR_MEMORY, 0, top, &n),
                     CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_count((enum ctrace_proc_attr)9, 1, top, &n),
                     CTRACE_EINVAL);
    assert_int_equal(ctrace_proc_window(CTRACE_ATTR_MEMORY, 1, 0, top, &n),
                     CTRACE_EINVAL);
}

/* A cat as cat_load runs it: an explicit process for the thread's life. */
struct cat_thread {
    uint64_t thread_pid;
    uint64_t cat_pid;
    atomic_bool ready;
    atomic_bool stop;
};

static void *cat_thread_main(void *p)
{
    struct cat_thread *c = p;
    c->thread_pid = ctrace_self();
    c->cat_pid = ctrace_proc_begin("cat_load:cat/1");
    ctrace_register("cat_Tihon", 0);
    atomic_store(&c->ready, true);
    while (!atomic_load(&c->stop)) {
        volatile uint64_t x = 0;
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i;
    }
    ctrace_proc_end(NULL);
    /* Back on the thread's own process until told to exit. */
    atomic_store(&c->ready, false);
    while (!atomic_load(&c->ready))
        sleep_ms(1);
    return NULL;
}

/* How often `pid` is in the table's list, and the rankings' first rows. */
static int listed(uint64_t pid)
{
    size_t cap = ctrace_proc_list(NULL, 0, false) + 16;
    struct ctrace_proc_info *all = calloc(cap, sizeof(*all));
    size_t n = ctrace_proc_list(all, cap, false);
    int times = 0;
    for (size_t i = 0; i < n && i < cap; i++)
        times += all[i].pid == pid;
    free(all);
    return times;
}

static int ranked(uint64_t pid, bool window)
{
    struct ctrace_proc_rank top[64];
    size_t n = 0;
    if (window)
        assert_int_equal(
            ctrace_proc_window(CTRACE_ATTR_REDUCTIONS, 64, 200, top, &n), 0);
    else
        assert_int_equal(ctrace_proc_count(CTRACE_ATTR_REDUCTIONS, 64, top, &n),
                         0);
    int times = 0;
    for (size_t i = 0; i < n; i++)
        times += top[i].pid == pid;
    return times;
}

static int setup_cat_thread(void **state)
{
    struct cat_thread *c = calloc(1, sizeof(*c));
    pthread_t *th = calloc(1, sizeof(*th));
    void **pair = calloc(2, sizeof(*pair));
    if (c == NULL || th == NULL || pair == NULL ||
        pthread_create(th, NULL, cat_thread_main, c) != 0) {
        free(c);
        free(th);
        free(pair);
        return -1;
    }
    pair[0] = c;
    pair[1] = th;
    *state = pair;
    while (!atomic_load(&c->ready))
        sleep_ms(1);
    return 0;
}

static int teardown_cat_thread(void **state)
{
    void **pair = *state;
    struct cat_thread *c = pair[0];
    pthread_t *th = pair[1];
    atomic_store(&c->stop, true);
    while (atomic_load(&c->ready))
        sleep_ms(1);
    atomic_store(&c->ready, true);
    pthread_join(*th, NULL);
    free(c);
    free(th);
    free(pair);
    return 0;
}

static void a_thread_running_an_explicit_process_is_one_process(void **state)
{
    void **pair = *state;
    struct cat_thread *c = pair[0];
    assert_true(c->thread_pid != 0 && c->cat_pid != 0);
    assert_true(c->thread_pid != c->cat_pid);
    /* The cat is listed and ranked once; its thread's process not at all. */
    assert_int_equal(listed(c->cat_pid), 1);
    assert_int_equal(listed(c->thread_pid), 0);
    assert_int_equal(ranked(c->cat_pid, false), 1);
    assert_int_equal(ranked(c->thread_pid, false), 0);
    assert_int_equal(ranked(c->cat_pid, true), 1);
    assert_int_equal(ranked(c->thread_pid, true), 0);
    /* The busy cat, not its thread, gets the CPU it burns. */
    struct ctrace_proc_rank top[1];
    size_t n = 0;
    assert_int_equal(
        ctrace_proc_window(CTRACE_ATTR_REDUCTIONS, 1, 200, top, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(top[0].pid, c->cat_pid);
    /* By pid, the thread's process is still there, and the cat's parent. */
    struct ctrace_proc_info info;
    assert_int_equal(ctrace_proc_info(c->thread_pid, &info), 0);
    assert_int_equal(info.status, CTRACE_PROC_RUNNING);
    assert_int_equal(ctrace_proc_info(c->cat_pid, &info), 0);
    assert_int_equal(info.parent, c->thread_pid);
    assert_string_equal(info.name, "cat_Tihon");

    /* Once the cat ends, the thread's process shows again. */
    atomic_store(&c->stop, true);
    while (atomic_load(&c->ready))
        sleep_ms(1);
    assert_int_equal(listed(c->thread_pid), 1);
    assert_int_equal(listed(c->cat_pid), 0);
    assert_int_equal(ranked(c->thread_pid, false), 1);
}

/* ---- What sessions see. ---- */

static void *call_work_thread(void *p)
{
    struct thread_arg *a = p;
    a->pid = ctrace_self();
    atomic_store(&a->ready, true);
    while (!atomic_load(&a->go))
        sleep_ms(1);
    work(7);
    return NULL;
}

static void new_and_existing_filters_split_processes_at_the_start(void **state)
{
    (void)state;
    struct thread_arg old = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, call_work_thread, &old), 0);
    while (!atomic_load(&old.ready))
        sleep_ms(1);

    struct seen *news = seen_new(), *olds = seen_new();
    struct ctrace_session *sn = start("proc_test:work", CTRACE_PROCS_NEW, news);
    struct ctrace_session *so =
        start("proc_test:work", CTRACE_PROCS_EXISTING, olds);
    /* A process that begins now is new to both sessions. */
    uint64_t fresh = ctrace_proc_begin("fresh:req/0");
    work(1);
    ctrace_proc_end(NULL);
    atomic_store(&old.go, true);
    pthread_join(th, NULL);
    finish(sn);
    finish(so);

    assert_int_equal(count_kind(news, CTRACE_EVENT_CALL), 1);
    assert_int_equal(news->ev[0].pid, fresh);
    assert_int_equal(count_kind(olds, CTRACE_EVENT_CALL), 1);
    assert_int_equal(olds->ev[0].pid, old.pid);
    seen_free(news);
    seen_free(olds);
}

static void a_registered_name_filters_a_session(void **state)
{
    (void)state;
    struct thread_arg other = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, call_work_thread, &other), 0);
    while (!atomic_load(&other.ready))
        sleep_ms(1);
    assert_int_equal(ctrace_register("proc_test_worker", other.pid), 0);

    struct ctrace_session_opts o;
    ctrace_session_opts_init(&o);
    o.procs = CTRACE_PROCS_PIDS;
    const char *names[] = {"proc_test_worker"};
    o.names = names;
    o.nnames = 1;
    struct seen *seen = seen_new();
    o.on_event = on_event;
    o.arg = seen;
    const char *specs[] = {"proc_test:work"};
    struct ctrace_error err = {0};
    struct ctrace_session *s = ctrace_session_start(specs, 1, &o, &err);
    assert_non_null(s);
    work(1); /* this process is not the one named */
    atomic_store(&other.go, true);
    pthread_join(th, NULL);
    finish(s);
    assert_int_equal(seen->n, 1);
    assert_int_equal(seen->ev[0].pid, other.pid);
    seen_free(seen);

    /* A name nobody holds is an error that names it. */
    const char *bad[] = {"nobody_here"};
    o.names = bad;
    memset(&err, 0, sizeof(err));
    assert_null(ctrace_session_start(specs, 1, &o, &err));
    assert_int_equal(err.code, CTRACE_ENOPROC);
    assert_non_null(strstr(err.text, "nobody_here"));
}

static void procs_events_show_a_process_life(void **state)
{
    (void)state;
    uint64_t me = ctrace_self();
    struct seen *seen = seen_new();
    struct ctrace_session *s = start("procs", CTRACE_PROCS_ALL, seen);
    uint64_t pid = ctrace_proc_begin("life:req/1");
    assert_int_equal(ctrace_register("proc_test_life", 0), 0);
    assert_int_equal(ctrace_link(me), 0);
    assert_int_equal(ctrace_unlink(me), 0);
    assert_int_equal(ctrace_proc_end("boom"), 0);
    finish(s);

    /* The life of `pid`, in order; other threads may add their own. */
    enum ctrace_event_kind want[] = {CTRACE_EVENT_SPAWN,
                                     CTRACE_EVENT_REGISTER,
                                     CTRACE_EVENT_LINK,
                                     CTRACE_EVENT_UNLINK,
                                     CTRACE_EVENT_EXIT,
                                     CTRACE_EVENT_UNREGISTER};
    size_t k = 0;
    for (size_t i = 0; i < seen->n && k < 6; i++) {
        bool mine =
            seen->ev[i].pid == pid || (seen->ev[i].kind == CTRACE_EVENT_SPAWN &&
                                       seen->ev[i].peer_pid == pid);
        if (!mine)
            continue;
        assert_int_equal(seen->ev[i].kind, want[k]);
        switch (want[k]) {
        case CTRACE_EVENT_SPAWN:
            /* Raised by the parent, as in Erlang. */
            assert_int_equal(seen->ev[i].pid, me);
            assert_string_equal(seen->ev[i].text, "life:req/1");
            break;
        case CTRACE_EVENT_REGISTER:
        case CTRACE_EVENT_UNREGISTER:
            assert_string_equal(seen->ev[i].text, "proc_test_life");
            break;
        case CTRACE_EVENT_LINK:
        case CTRACE_EVENT_UNLINK:
            assert_int_equal(seen->ev[i].peer_pid, me);
            break;
        case CTRACE_EVENT_EXIT:
            assert_string_equal(seen->ev[i].text, "boom");
            break;
        default:
            break;
        }
        k++;
    }
    assert_int_equal(k, 6);
    seen_free(seen);
}

static void procs_events_print_in_redbug_style(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct ctrace_session_opts o;
    ctrace_session_opts_init(&o);
    o.fd = fds[1];
    o.procs = CTRACE_PROCS_NEW;
    const char *specs[] = {"procs"};
    struct ctrace_session *s = ctrace_session_start(specs, 1, &o, NULL);
    assert_non_null(s);
    uint64_t pid = ctrace_proc_begin("print:req/1");
    uint64_t inner = ctrace_proc_begin("print:inner/0");
    ctrace_proc_end("timeout");
    ctrace_proc_end(NULL);
    ctrace_session_stop(s);
    assert_int_equal(ctrace_session_wait(s, 5000), 0);
    ctrace_session_free(s);
    close(fds[1]);
    char out[4096];
    ssize_t len = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    assert_true(len > 0);
    out[len] = '\0';
    char want[128];
    /* The spawn of `inner` is raised by `pid`, which is new. */
    snprintf(want,
             sizeof(want),
             "%% spawned <0.%llu.0> as print:inner/0\n",
             (unsigned long long)inner);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "% exit timeout\n"));
    assert_non_null(strstr(out, "% exit normal\n"));
    snprintf(want, sizeof(want), "<0.%llu.0>", (unsigned long long)pid);
    assert_non_null(strstr(out, want));
}

static void
call_lines_show_the_label_of_the_call_and_returns_say_dead(void **state)
{
    (void)state;
    struct seen *seen = seen_new();
    atomic_store(&seen->hold, true);
    struct ctrace_session *s =
        start("proc_test:work -> return", CTRACE_PROCS_ALL, seen);
    uint64_t pid = ctrace_proc_begin("dead:req/0");
    work(1); /* held in the callback until the process has ended */
    assert_int_equal(ctrace_register("proc_test_later", 0), 0);
    work(2);
    ctrace_proc_end(NULL);
    atomic_store(&seen->release, true);
    finish(s);
    size_t calls = 0, returns = 0;
    for (size_t i = 0; i < seen->n; i++) {
        if (seen->ev[i].pid != pid)
            continue;
        if (seen->ev[i].kind == CTRACE_EVENT_CALL) {
            /* As redbug: the process ran when it called. */
            assert_false(seen->ev[i].dead);
            /* The label it had then: the name came after the first call. */
            assert_string_equal(seen->ev[i].process,
                                calls == 0 ? "dead:req/0" : "proc_test_later");
            calls++;
        } else if (seen->ev[i].kind == CTRACE_EVENT_RETURN) {
            /* Printed after the process ended. */
            assert_true(seen->ev[i].dead);
            returns++;
        }
    }
    assert_int_equal(calls, 2);
    assert_int_equal(returns, 2);
    seen_free(seen);
}

static void dump_describes_the_process_as_it_was_at_the_call(void **state)
{
    (void)state;
    struct seen *seen = seen_new();
    atomic_store(&seen->hold, true);
    struct ctrace_session *s =
        start("proc_test:work -> dump", CTRACE_PROCS_ALL, seen);
    uint64_t pid = ctrace_proc_begin("dumped:req/0");
    assert_int_equal(ctrace_register("proc_test_dumped", 0), 0);
    work(4); /* printed only after the process has ended */
    ctrace_proc_end("done");
    atomic_store(&seen->release, true);
    finish(s);
    bool found = false;
    for (size_t i = 0; i < seen->n; i++) {
        if (seen->ev[i].kind != CTRACE_EVENT_CALL || seen->ev[i].pid != pid)
            continue;
        found = true;
        assert_non_null(strstr(seen->ev[i].dump, "status: running"));
        assert_non_null(
            strstr(seen->ev[i].dump, "registered_name: proc_test_dumped"));
        assert_non_null(strstr(seen->ev[i].dump, "current: proc_test:work/1"));
    }
    assert_true(found);
    seen_free(seen);
}

static void dump_shows_the_table_view_of_the_process(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct ctrace_session_opts o;
    ctrace_session_opts_init(&o);
    o.fd = fds[1];
    o.msgs = 1;
    const char *specs[] = {"proc_test:work -> dump"};
    struct ctrace_session *s = ctrace_session_start(specs, 1, &o, NULL);
    assert_non_null(s);
    uint64_t pid = ctrace_proc_begin("dump:req/0");
    assert_int_equal(ctrace_register("proc_test_dump", 0), 0);
    work(3);
    assert_int_equal(ctrace_session_wait(s, 5000), 0);
    /* The list shows the current trace point too, as info does. */
    size_t n = ctrace_proc_list(NULL, 0, false);
    struct ctrace_proc_info *rows = calloc(n, sizeof(*rows));
    assert_int_equal(ctrace_proc_list(rows, n, false), n);
    bool listed = false;
    for (size_t i = 0; i < n; i++)
        if (rows[i].pid == pid) {
            assert_string_equal(rows[i].current, "proc_test:work/1");
            listed = true;
        }
    assert_true(listed);
    free(rows);
    ctrace_proc_end(NULL);
    ctrace_session_free(s);
    close(fds[1]);
    char out[4096];
    ssize_t len = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    assert_true(len > 0);
    out[len] = '\0';
    char want[64];
    snprintf(want, sizeof(want), "pid: <0.%llu.0>", (unsigned long long)pid);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "registered_name: proc_test_dump"));
    assert_non_null(strstr(out, "initial_call: dump:req/0"));
    assert_non_null(strstr(out, "current: proc_test:work/1"));
    assert_non_null(strstr(out, "status: running"));
    assert_non_null(strstr(out, "message_queue_len: 0"));
}

/*
 * After fork() only the forking thread lives on: the table of the child
 * holds its processes alone, and works (the lock was not left held).
 */
static void a_forked_child_keeps_only_its_own_processes(void **state)
{
    (void)state;
    struct thread_arg other = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, idle_thread, &other), 0);
    while (!atomic_load(&other.ready))
        sleep_ms(1);
    uint64_t me = ctrace_self();
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct ctrace_proc_info info;
        int bad = 0;
        bad |= ctrace_self() != me;
        bad |= ctrace_proc_info(other.pid, &info) != CTRACE_ENOPROC;
        bad |= ctrace_proc_list(NULL, 0, false) != 1;
        uint64_t pid = ctrace_proc_begin("child:req/0");
        bad |= pid == 0 || ctrace_self() != pid;
        bad |= ctrace_proc_end(NULL) != 0;
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    atomic_store(&other.stop, true);
    pthread_join(th, NULL);
}

/*
 * The same without any session ever started, so that only the process
 * table's own fork handler runs (the engine installs its handler at the
 * first session start): it must run first in main().
 */
static void a_forked_child_forgets_other_threads_without_a_session(void **state)
{
    (void)state;
    struct thread_arg other = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, idle_thread, &other), 0);
    while (!atomic_load(&other.ready))
        sleep_ms(1);
    assert_int_equal(ctrace_register("proc_test_ghost", other.pid), 0);
    uint64_t me = ctrace_self();
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct ctrace_proc_info info;
        int bad = 0;
        bad |= (ctrace_self() != me) << 0;
        bad |= (ctrace_proc_info(other.pid, &info) != CTRACE_ENOPROC) << 1;
        bad |= (ctrace_whereis("proc_test_ghost") != 0) << 2;
        bad |= (ctrace_proc_list(NULL, 0, false) != 1) << 3;
        /* A new thread of the child can take the name over. */
        bad |= (ctrace_register("proc_test_ghost", 0) != 0) << 4;
        _exit(bad);
    }
    int status = 0;
    pid_t waited = waitpid(child, &status, 0);
    /* The thread points into this frame: stopped before any assert. */
    atomic_store(&other.stop, true);
    pthread_join(th, NULL);
    assert_int_equal(waited, child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * Asking for more rows than there are processes ranks them all, however
 * large n is: the heap is sized by the live processes, not by n (n * 16
 * bytes would wrap around into a tiny allocation).
 */
static void rankings_take_any_n(void **state)
{
    (void)state;
    struct thread_arg a[3] = {0};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, idle_thread, &a[i]), 0);
    for (int i = 0; i < 3; i++)
        while (!atomic_load(&a[i].ready))
            sleep_ms(1);
    size_t live = ctrace_proc_list(NULL, 0, false);
    struct ctrace_proc_rank top[64];
    size_t huge = SIZE_MAX / 16 + 2; /* times 16 is 32 */
    size_t n = 0, nw = 0;
    int rc = ctrace_proc_count(CTRACE_ATTR_MEMORY, huge, top, &n);
    bool sorted = true;
    for (size_t i = 1; i < n && i < 64; i++)
        sorted &= top[i - 1].value >= top[i].value;
    int rcw = ctrace_proc_window(CTRACE_ATTR_MEMORY, huge, 2, top, &nw);
    /* The threads point into this frame: stopped before any assert. */
    for (int i = 0; i < 3; i++) {
        atomic_store(&a[i].stop, true);
        pthread_join(th[i], NULL);
    }
    assert_true(live >= 4 && live <= 64);
    assert_int_equal(rc, 0);
    assert_true(n >= 4 && n <= 64);
    assert_true(sorted);
    assert_int_equal(rcw, 0);
    assert_true(nw >= 4 && nw <= 64);
}

/* NULL where a result would go is refused, never followed. */
static void null_result_pointers_are_refused(void **state)
{
    (void)state;
    assert_int_equal(ctrace_proc_exits(NULL, 4), 0);
    size_t all = ctrace_proc_list(NULL, 0, true);
    assert_int_equal(ctrace_proc_list(NULL, 16, true), all);
}

/* ---- Churn under sanitizers. ---- */

struct churn {
    atomic_bool stop;
    atomic_uint_fast64_t rounds;
};

static void *churn_thread(void *p)
{
    struct churn *c = p;
    char name[32];
    snprintf(name, sizeof(name), "churn_%lu", (unsigned long)pthread_self());
    uint64_t me = ctrace_self();
    while (!atomic_load(&c->stop)) {
        uint64_t pid = ctrace_proc_begin("churn:req/1");
        (void)ctrace_register(name, 0);
        (void)ctrace_link(me);
        work(1);
        ctrace_proc_account(100);
        ctrace_proc_end(atomic_load(&c->rounds) % 2 ? "normal" : "crash");
        struct ctrace_exit_notice n[8];
        (void)ctrace_proc_exits(n, 8);
        struct ctrace_proc_info info;
        (void)ctrace_proc_info(pid, &info);
        atomic_fetch_add(&c->rounds, 1);
    }
    return NULL;
}

static void *short_lived_thread(void *p)
{
    (void)p;
    work(2);
    return NULL;
}

static void table_survives_churn_and_readers(void **state)
{
    (void)state;
    struct churn c = {0};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, churn_thread, &c), 0);
    struct seen *seen = seen_new();
    uint64_t until_ns = 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    until_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec +
               1500000000u;
    for (int round = 0;; round++) {
        struct ctrace_session *s = start(
            round % 2 ? "procs" : "proc_test:work", CTRACE_PROCS_ALL, seen);
        struct ctrace_proc_rank top[5];
        size_t n;
        assert_int_equal(ctrace_proc_count(CTRACE_ATTR_REDUCTIONS, 5, top, &n),
                         0);
        assert_int_equal(ctrace_proc_window(CTRACE_ATTR_MEMORY, 5, 5, top, &n),
                         0);
        struct ctrace_proc_info list[64];
        (void)ctrace_proc_list(list, 64, true);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, short_lived_thread, NULL), 0);
        pthread_join(t, NULL);
        finish(s);
        pthread_mutex_lock(&seen->lock);
        seen->n = 0;
        pthread_mutex_unlock(&seen->lock);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec >
                until_ns &&
            round >= 4)
            break;
    }
    atomic_store(&c.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_true(atomic_load(&c.rounds) > 0);
    /* Bounded, whatever came and went. */
    assert_true(ctrace_proc_list(NULL, 0, true) <
                ctrace_proc_list(NULL, 0, false) + CTRACE_PROC_DEAD_KEEP + 1);
    seen_free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: no session may have been started before it. */
        cmocka_unit_test(
            a_forked_child_forgets_other_threads_without_a_session),
        cmocka_unit_test(a_thread_gets_an_implicit_process),
        cmocka_unit_test(explicit_processes_nest_and_end_with_a_reason),
        cmocka_unit_test(names_register_resolve_and_go_with_the_process),
        cmocka_unit_test(process_references_parse_like_users_write_them),
        cmocka_unit_test(thread_exit_ends_its_processes),
        cmocka_unit_test(a_linked_process_learns_how_the_other_ended),
        cmocka_unit_test(many_short_lived_processes_leave_the_table_bounded),
        cmocka_unit_test_setup_teardown(
            proc_window_finds_the_process_that_got_busy,
            setup_idle_threads,
            teardown_idle_threads),
        cmocka_unit_test_setup_teardown(
            a_thread_running_an_explicit_process_is_one_process,
            setup_cat_thread,
            teardown_cat_thread),
        cmocka_unit_test(new_and_existing_filters_split_processes_at_the_start),
        cmocka_unit_test(a_registered_name_filters_a_session),
        cmocka_unit_test(procs_events_show_a_process_life),
        cmocka_unit_test(procs_events_print_in_redbug_style),
        cmocka_unit_test(
            call_lines_show_the_label_of_the_call_and_returns_say_dead),
        cmocka_unit_test(dump_describes_the_process_as_it_was_at_the_call),
        cmocka_unit_test(dump_shows_the_table_view_of_the_process),
        cmocka_unit_test(a_forked_child_keeps_only_its_own_processes),
        cmocka_unit_test(rankings_take_any_n),
        cmocka_unit_test(null_result_pointers_are_refused),
        cmocka_unit_test(table_survives_churn_and_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
