/* SPDX-License-Identifier: MIT */
/*
 * The program of docs/processes-and-servers.md: a bank whose accounts live
 * in one server thread, tellers that run as short-lived processes, and the
 * tools that look into them while they run: a trace session of messages
 * and process events, sys get_state, replace_state, log and statistics,
 * and recon-style rankings of processes.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <ctrace/ctrace.h>

/* ---- The bank's messages: plain structs, copied into the mailbox. ---- */

#define BANK_NAME_MAX     15
#define BANK_ACCOUNTS_MAX 8

enum bank_op {
    BANK_OPEN,     /* call {open, Who} */
    BANK_DEPOSIT,  /* cast {deposit, Who, Amount} */
    BANK_WITHDRAW, /* call {withdraw, Who, Amount} */
    BANK_BALANCE,  /* call {balance, Who} */
    BANK_AUDIT     /* cast {audit, Ms}: Ms of CPU work, to be ranked */
};

struct bank_msg {
    enum bank_op op;
    char who[BANK_NAME_MAX + 1];
    int64_t amount;
};

enum bank_status {
    BANK_OK,
    BANK_NO_ACCOUNT,
    BANK_INSUFFICIENT_FUNDS,
    BANK_ACCOUNT_EXISTS,
    BANK_TOO_MANY_ACCOUNTS,
    BANK_BAD_REQUEST
};

struct bank_reply {
    enum bank_status status;
    int64_t balance;
};

static const char *const op_names[] = {"open",
                                       "deposit",
                                       "withdraw",
                                       "balance",
                                       "audit"};
static const char *const status_names[] = {"ok",
                                           "no_account",
                                           "insufficient_funds",
                                           "account_exists",
                                           "too_many_accounts",
                                           "bad_request"};

/* ---- The state, owned by the server's thread: no lock. ---- */

struct account {
    char who[BANK_NAME_MAX + 1];
    int64_t balance;
};

struct bank {
    size_t naccounts;
    struct account accounts[BANK_ACCOUNTS_MAX];
    int64_t transactions;
};

static struct account *find(struct bank *b, const char *who)
{
    for (size_t i = 0; i < b->naccounts; i++)
        if (strcmp(b->accounts[i].who, who) == 0)
            return &b->accounts[i];
    return NULL;
}

/* A trace point: `bank:withdraw/2` in specs. */
static enum bank_status withdraw(struct bank *b, const char *who, int64_t n)
{
    CTRACE_CALL(bank, withdraw, who, n);
    struct account *a = find(b, who);
    enum bank_status st = BANK_OK;
    if (a == NULL)
        st = BANK_NO_ACCOUNT;
    else if (a->balance < n)
        st = BANK_INSUFFICIENT_FUNDS;
    else
        a->balance -= n;
    CTRACE_RETURN_VALUE(st, ctrace_value_symbol(status_names[st]));
}

/* Simulated work for the rankings: burns `ms` of the thread's CPU time. */
static void audit(int64_t ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    volatile uint64_t sum = 0;
    do {
        for (int i = 0; i < 100000; i++)
            sum += (uint64_t)i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 +
                 (t.tv_nsec - t0.tv_nsec) / 1000000 <
             ms);
}

/* Reads a message as the bank's: the right size, a known op, and a
 * name that ends in a NUL. */
static bool decode(const void *msg, size_t len, struct bank_msg *m)
{
    if (len != sizeof(*m))
        return false;
    memcpy(m, msg, sizeof(*m));
    m->who[BANK_NAME_MAX] = '\0';
    return m->op >= BANK_OPEN && m->op <= BANK_AUDIT;
}

/* ---- The callbacks, all run on the server's thread. ---- */

static int bank_init(void *arg, void **state, struct ctrace_error *err)
{
    struct bank *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        snprintf(err->text, sizeof(err->text), "no memory for the bank");
        return CTRACE_ENOMEM;
    }
    /* The state is the bank's memory in rankings: tell the table. */
    ctrace_proc_account((int64_t)sizeof(*b));
    *state = b;
    return 0;
}

static int bank_handle_call(void *state,
                            const void *msg,
                            size_t len,
                            struct ctrace_reply *reply)
{
    struct bank *b = state;
    struct bank_msg m;
    struct bank_reply r = {BANK_BAD_REQUEST, 0};
    if (!decode(msg, len, &m)) {
        ctrace_reply_set(reply, &r, sizeof(r));
        return CTRACE_SERVER_CONTINUE;
    }
    r.status = BANK_OK;
    struct account *a = find(b, m.who);
    switch (m.op) {
    case BANK_OPEN:
        if (a != NULL) {
            r.status = BANK_ACCOUNT_EXISTS;
        } else if (b->naccounts == BANK_ACCOUNTS_MAX) {
            r.status = BANK_TOO_MANY_ACCOUNTS;
        } else {
            a = &b->accounts[b->naccounts++];
            snprintf(a->who, sizeof(a->who), "%s", m.who);
            a->balance = 0;
        }
        break;
    case BANK_WITHDRAW:
        r.status = withdraw(b, m.who, m.amount);
        b->transactions += r.status == BANK_OK;
        break;
    case BANK_BALANCE:
        r.status = a != NULL ? BANK_OK : BANK_NO_ACCOUNT;
        break;
    default: /* casts */
        r.status = BANK_BAD_REQUEST;
        break;
    }
    a = find(b, m.who);
    r.balance = a != NULL ? a->balance : 0;
    ctrace_reply_set(reply, &r, sizeof(r));
    return CTRACE_SERVER_CONTINUE;
}

static int bank_handle_cast(void *state, const void *msg, size_t len)
{
    struct bank *b = state;
    struct bank_msg m;
    if (!decode(msg, len, &m))
        return CTRACE_SERVER_CONTINUE; /* nobody to tell */
    struct account *a = find(b, m.who);
    if (m.op == BANK_AUDIT) {
        audit(m.amount);
    } else if (m.op == BANK_DEPOSIT && a != NULL) {
        a->balance += m.amount;
        b->transactions++;
    }
    return CTRACE_SERVER_CONTINUE;
}

/* Plain messages and exits of linked processes come here; the bank needs
 * none, but traces and the sys log show them. */
static int bank_handle_info(void *state,
                            enum ctrace_msg_kind kind,
                            const void *msg,
                            size_t len)
{
    return CTRACE_SERVER_CONTINUE;
}

static void bank_terminate(void *state, const char *reason)
{
    struct bank *b = state;
    printf("bank: terminate(%s) with %zu accounts\n", reason, b->naccounts);
    ctrace_proc_account(-(int64_t)sizeof(*b));
    free(b);
}

/* sys get_state: {"accounts":{"alice":70,...},"transactions":N}. */
static char *bank_format_state(const void *state)
{
    const struct bank *b = state;
    json_t *accounts = json_object();
    for (size_t i = 0; accounts != NULL && i < b->naccounts; i++)
        json_object_set_new(
            accounts, b->accounts[i].who, json_integer(b->accounts[i].balance));
    json_t *root = json_pack("{s:o?, s:I}",
                             "accounts",
                             accounts,
                             "transactions",
                             (json_int_t)b->transactions);
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return text;
}

static int reject(struct ctrace_error *err, const char *what, const char *why)
{
    if (err != NULL)
        snprintf(err->text, sizeof(err->text), "%s%s", what, why);
    return CTRACE_EINVAL;
}

/*
 * sys replace_state: takes the JSON that format_state writes. Everything is
 * checked into a new bank first, so a rejected state changes nothing.
 */
static int bank_replace_state(void **state,
                              const char *json,
                              size_t len,
                              struct ctrace_error *err)
{
    struct bank *old = *state;
    struct bank fresh = {.transactions = old->transactions};
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (root == NULL)
        return reject(err, "not JSON: ", jerr.text);
    json_t *accounts;
    json_int_t transactions = fresh.transactions;
    if (json_unpack_ex(root,
                       &jerr,
                       JSON_STRICT,
                       "{s:o, s?:I}",
                       "accounts",
                       &accounts,
                       "transactions",
                       &transactions) != 0) {
        json_decref(root);
        return reject(err, "want {\"accounts\":{...}}: ", jerr.text);
    }
    if (!json_is_object(accounts)) {
        json_decref(root);
        return reject(err, "accounts", ": not an object");
    }
    fresh.transactions = transactions;
    int rc = 0;
    const char *who; /* lives as long as root */
    json_t *balance;
    json_object_foreach(accounts, who, balance)
    {
        if (fresh.naccounts == BANK_ACCOUNTS_MAX ||
            strlen(who) > BANK_NAME_MAX || who[0] == '\0') {
            rc = reject(err, who, ": too many accounts or a bad name");
            break;
        }
        if (!json_is_integer(balance) || json_integer_value(balance) < 0) {
            rc = reject(err, who, ": a balance is an integer >= 0");
            break;
        }
        struct account *a = &fresh.accounts[fresh.naccounts++];
        snprintf(a->who, sizeof(a->who), "%s", who);
        a->balance = json_integer_value(balance);
    }
    json_decref(root);
    if (rc == 0)
        *old = fresh;
    return rc;
}

/* How traces and the sys log show messages: {withdraw,"bob",50}. */
static struct ctrace_value bank_format_msg(enum ctrace_msg_kind kind,
                                           const void *msg,
                                           size_t len,
                                           struct ctrace_value *items)
{
    if (kind == CTRACE_MSG_REPLY && len == sizeof(struct bank_reply)) {
        struct bank_reply r;
        memcpy(&r, msg, sizeof(r));
        items[0] = ctrace_value_symbol(r.status == BANK_OK ? "ok" : "error");
        items[1] = r.status == BANK_OK
                       ? ctrace_value_int(r.balance)
                       : ctrace_value_symbol(status_names[r.status]);
        return ctrace_value_tuple(items, 2);
    }
    struct bank_msg m;
    if (!decode(msg, len, &m))
        return ctrace_value_bytes(msg, len);
    /* Values may point into msg, not into the local copy m. */
    const char *who = (const char *)msg + offsetof(struct bank_msg, who);
    items[0] = ctrace_value_symbol(op_names[m.op]);
    items[1] = ctrace_value_stringn(who, strlen(m.who));
    items[2] = ctrace_value_int(m.amount);
    switch (m.op) {
    case BANK_OPEN:
    case BANK_BALANCE:
        return ctrace_value_tuple(items, 2);
    case BANK_AUDIT:
        items[1] = items[2];
        return ctrace_value_tuple(items, 2);
    default:
        return ctrace_value_tuple(items, 3);
    }
}

static const struct ctrace_server_callbacks bank_callbacks = {
    .init = bank_init,
    .handle_call = bank_handle_call,
    .handle_cast = bank_handle_cast,
    .handle_info = bank_handle_info,
    .terminate = bank_terminate,
    .format_state = bank_format_state,
    .replace_state = bank_replace_state,
    .format_msg = bank_format_msg,
};

/* ---- The client side. ---- */

static int bank_call(struct ctrace_server *bank,
                     enum bank_op op,
                     const char *who,
                     int64_t amount,
                     uint32_t timeout_ms,
                     struct bank_reply *r)
{
    struct bank_msg m = {op, "", amount};
    snprintf(m.who, sizeof(m.who), "%s", who);
    size_t len = 0;
    return ctrace_server_call(
        bank, &m, sizeof(m), r, sizeof(*r), &len, timeout_ms);
}

static int bank_cast(struct ctrace_server *bank,
                     enum bank_op op,
                     const char *who,
                     int64_t amount)
{
    struct bank_msg m = {op, "", amount};
    snprintf(m.who, sizeof(m.who), "%s", who);
    return ctrace_server_cast(bank, &m, sizeof(m));
}

/*
 * A teller serves one customer as a short-lived process, the way a web
 * server would run each request: it is born, calls the bank and ends with
 * a reason that says how it went.
 */
static uint64_t teller(struct ctrace_server *bank, const char *who, int64_t n)
{
    uint64_t pid = ctrace_proc_begin("bank_teller:withdraw/2");
    struct bank_reply r;
    int rc = bank_call(bank, BANK_WITHDRAW, who, n, 1000, &r);
    const char *reason = rc < 0                ? ctrace_err_name(rc)
                         : r.status == BANK_OK ? "normal"
                                               : status_names[r.status];
    ctrace_proc_end(reason);
    return pid;
}

/* One row per process, as recon prints them: pid, value, name, calls. */
static void
print_rank(const char *title, const struct ctrace_proc_rank *rows, size_t n)
{
    printf("%s\n", title);
    for (size_t i = 0; i < n; i++)
        printf("  <0.%" PRIu64 ".0> %8" PRIu64
               "  %-10s initial %s, current %s\n",
               rows[i].pid,
               rows[i].value,
               rows[i].label,
               rows[i].initial_call[0] != '\0' ? rows[i].initial_call : "-",
               rows[i].current[0] != '\0' ? rows[i].current : "-");
}

static void print_state(uint64_t pid)
{
    char *json = NULL;
    int rc = ctrace_sys_get_state(pid, CTRACE_SYS_TIMEOUT_MS, &json, NULL);
    printf("get_state: %s\n", rc == 0 ? json : ctrace_err_name(rc));
    ctrace_free(json);
}

int main(void)
{
    /* 1. The bank: a server registered as "bank", with a small mailbox. */
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.name = "bank";
    o.mailbox = 8;
    o.max_msg = sizeof(struct bank_msg);
    struct ctrace_error err = {0};
    struct ctrace_server *bank = ctrace_server_start(&bank_callbacks, &o, &err);
    if (bank == NULL) {
        fprintf(stderr, "bank: %s\n", err.text);
        return 1;
    }
    uint64_t pid = ctrace_server_pid(bank);
    printf("bank is <0.%" PRIu64 ".0>, whereis(bank) = <0.%" PRIu64 ".0>\n",
           pid,
           ctrace_whereis("bank"));
    struct bank_reply r;
    bank_call(bank, BANK_OPEN, "alice", 0, 1000, &r);
    bank_call(bank, BANK_OPEN, "bob", 0, 1000, &r);
    bank_cast(bank, BANK_DEPOSIT, "alice", 100);
    bank_cast(bank, BANK_DEPOSIT, "bob", 20);

    /* 2. Trace two tellers: messages, process events, withdraw/2. */
    const char *specs[] = {
        "send", "receive", "procs", "bank:withdraw -> return"};
    struct ctrace_session_opts so;
    ctrace_session_opts_init(&so);
    so.msgs = 100;
    so.fd = STDOUT_FILENO;
    fflush(stdout); /* the session writes to the same file */
    struct ctrace_session *s = ctrace_session_start(specs, 4, &so, &err);
    if (s == NULL) {
        fprintf(stderr, "cannot trace: %s\n", err.text);
        return 1;
    }
    teller(bank, "alice", 30);
    uint64_t refused = teller(bank, "bob", 50);
    ctrace_session_free(s); /* waits for the last line */

    /* 3. A dead process stays visible for a while. */
    struct ctrace_proc_info info;
    if (ctrace_proc_info(refused, &info) == 0)
        printf("<0.%" PRIu64 ".0>: %s, exit reason %s, initial call %s, "
               "parent <0.%" PRIu64 ".0>\n",
               info.pid,
               ctrace_proc_status_name(info.status),
               info.exit_reason,
               info.initial_call,
               info.parent);

    /* 4. sys: the state as JSON, replaced once and refused once. */
    print_state(pid);
    const char *good = "{\"accounts\":{\"alice\":70,\"bob\":20,\"carol\":5}}";
    int rc = ctrace_sys_replace_state(pid, good, 1000, &err);
    printf("replace_state: %s\n", rc == 0 ? "ok" : err.text);
    const char *bad = "{\"accounts\":{\"alice\":70,\"bob\":-20}}";
    memset(&err, 0, sizeof(err));
    rc = ctrace_sys_replace_state(pid, bad, 1000, &err);
    printf("replace_state: %s: %s\n", ctrace_err_name(rc), err.text);
    print_state(pid);

    /* 5. sys log and statistics, and a session on the bank alone. */
    ctrace_sys_log(pid, CTRACE_SYS_LOG_DEFAULT);
    ctrace_sys_statistics(pid, true);
    const char *names[] = {"bank"};
    const char *receive = "receive";
    ctrace_session_opts_init(&so);
    so.procs = CTRACE_PROCS_PIDS;
    so.names = names;
    so.nnames = 1;
    so.fd = STDOUT_FILENO;
    fflush(stdout);
    s = ctrace_session_start(&receive, 1, &so, &err);
    bank_cast(bank, BANK_DEPOSIT, "carol", 10);
    uint64_t linked = ctrace_proc_begin("bank_teller:balance/1");
    ctrace_link(pid); /* the bank hears of this teller's end */
    bank_call(bank, BANK_BALANCE, "carol", 0, 1000, &r);
    int64_t carol = r.balance;
    ctrace_proc_end(NULL);
    bank_call(bank, BANK_BALANCE, "alice", 0, 1000, &r);
    ctrace_session_free(s);
    printf("teller <0.%" PRIu64 ".0> saw carol's balance %" PRId64 "\n",
           linked,
           carol);
    /* Served between two messages: the log now has the last reply too. */
    print_state(pid);
    char *log = NULL;
    if (ctrace_sys_log_get(pid, &log) == 0)
        printf("log:\n%s\n", log);
    ctrace_free(log);
    struct ctrace_sys_stats st;
    if (ctrace_sys_statistics_get(pid, &st) == 0)
        printf("statistics: messages_in %" PRIu64 ", messages_out %" PRIu64
               ", queue_len %" PRIu64 ", reductions %" PRIu64 "\n",
               st.messages_in,
               st.messages_out,
               st.queue_len,
               st.reductions);
    ctrace_sys_log(pid, 0);
    ctrace_sys_statistics(pid, false);

    /* 6. Suspended: a call times out, casts fill the mailbox. */
    ctrace_sys_suspend(pid, CTRACE_SYS_TIMEOUT_MS, NULL);
    /* The caller gives up after 50 ms; the request stays in the mailbox. */
    rc = bank_call(bank, BANK_BALANCE, "alice", 0, 50, &r);
    printf("call while suspended: %s\n", ctrace_err_name(rc));
    int casts = 0;
    while ((rc = bank_cast(bank, BANK_DEPOSIT, "carol", 1)) == 0)
        casts++;
    printf("casts accepted: %d, then %s\n", casts, ctrace_err_name(rc));
    struct ctrace_proc_rank rows[3];
    size_t n = 0;
    ctrace_proc_count(CTRACE_ATTR_MESSAGE_QUEUE_LEN, 3, rows, &n);
    print_rank("proc_count(message_queue_len, 3):", rows, n);
    ctrace_proc_count(CTRACE_ATTR_MEMORY, 3, rows, &n);
    print_rank("proc_count(memory, 3):", rows, n);
    char *status = NULL;
    if (ctrace_sys_get_status(pid, CTRACE_SYS_TIMEOUT_MS, &status, NULL) == 0)
        printf("get_status: %s\n", status);
    ctrace_free(status);
    ctrace_sys_resume(pid, NULL);
    /* A full mailbox refuses at once: a client waits for room itself. */
    struct timespec one_ms = {0, 1000000};
    while (bank_call(bank, BANK_BALANCE, "carol", 0, 1000, &r) == CTRACE_EFULL)
        nanosleep(&one_ms, NULL);
    printf("resumed: carol has %" PRId64 "\n", r.balance);

    /* 7. sys trace: a line per message, written as it is handled. */
    fflush(stdout);
    ctrace_sys_trace(pid, true, STDOUT_FILENO);
    bank_cast(bank, BANK_DEPOSIT, "bob", 5);
    bank_call(bank, BANK_WITHDRAW, "bob", 10, 1000, &r);
    print_state(pid); /* after the withdraw's last line */
    ctrace_sys_trace(pid, false, -1);

    /* 8. Who is using the CPU? The audit keeps the bank busy for 300 ms. */
    bank_cast(bank, BANK_AUDIT, "", 300);
    ctrace_proc_window(CTRACE_ATTR_REDUCTIONS, 3, 100, rows, &n);
    print_rank("proc_window(reductions, 3, 100):", rows, n);

    /* 9. Stopping: terminate runs, the name goes, the process is dead. */
    ctrace_server_stop(bank, "shutdown");
    if (ctrace_proc_info(pid, &info) == 0)
        printf("<0.%" PRIu64 ".0>: %s, exit reason %s, whereis(bank) %s\n",
               info.pid,
               ctrace_proc_status_name(info.status),
               info.exit_reason,
               ctrace_whereis("bank") == 0 ? "none" : "still there");
    return 0;
}
