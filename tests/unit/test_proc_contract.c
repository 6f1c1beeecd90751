/* SPDX-License-Identifier: MIT */
/*
 * The contracts of ctrace/proc.h and ctrace/server.h where the code did
 * not keep them: NULL arguments the headers accept, and a registered name
 * that went on labelling events after it was removed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrace/ctrace.h"
#include "ctrace/server.h"

/* ---- The traced code. ---- */

__attribute__((noinline)) static int contract_work(int n)
{
    CTRACE_CALL(proc_contract, work, n);
    CTRACE_RETURN(n + 1);
}

/* ---- A server whose state is a JSON text. ---- */

static char doc_state[256];

static int doc_init(void *arg, void **state, struct ctrace_error *err)
{
    (void)err;
    snprintf(doc_state, sizeof(doc_state), "%s", (const char *)arg);
    *state = doc_state;
    return 0;
}

static char *doc_format(const void *state)
{
    size_t len = strlen(state) + 1;
    char *copy = malloc(len);
    if (copy != NULL)
        memcpy(copy, state, len);
    return copy;
}

static int doc_replace(void **state,
                       const char *json,
                       size_t len,
                       struct ctrace_error *err)
{
    (void)err;
    if (len >= sizeof(doc_state))
        return CTRACE_ETOOLONG;
    memcpy(*state, json, len + 1);
    return 0;
}

static struct ctrace_server *start_doc(const char *json)
{
    static const struct ctrace_server_callbacks cb = {
        .init = doc_init,
        .format_state = doc_format,
        .replace_state = doc_replace,
    };
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.arg = (void *)json;
    struct ctrace_server *srv = ctrace_server_start(&cb, &o, NULL);
    assert_non_null(srv);
    return srv;
}

/* ---- Cases. ---- */

static void state_version_of_null_text_is_that_of_empty_text(void **unused)
{
    (void)unused;
    assert_true(ctrace_sys_state_version(NULL, 7) ==
                ctrace_sys_state_version("", 0));
    assert_true(ctrace_sys_state_version(NULL, 0) ==
                ctrace_sys_state_version("", 0));
}

static void server_opts_init_of_null_does_nothing(void **unused)
{
    (void)unused;
    ctrace_server_opts_init(NULL);
    struct ctrace_server_opts o;
    memset(&o, 0xff, sizeof(o));
    ctrace_server_opts_init(&o);
    assert_int_equal(o.mailbox, 64);
    assert_int_equal(o.max_msg, 1024);
    assert_null(o.name);
}

static void an_unregistered_name_no_longer_labels_events(void **unused)
{
    (void)unused;
    struct ctrace_error err;
    struct ctrace_capture *c = ctrace_capture_start("proc_contract:work", &err);
    assert_non_null(c);
    assert_int_equal(ctrace_register("contract_cat", 0), 0);
    contract_work(1);
    assert_int_equal(ctrace_unregister("contract_cat"), 0);
    contract_work(2);
    assert_int_equal(ctrace_capture_stop(c), 0);
    assert_int_equal(ctrace_capture_count(c), 2);
    const struct ctrace_event *named = ctrace_capture_event(c, 0);
    const struct ctrace_event *unnamed = ctrace_capture_event(c, 1);
    assert_non_null(named->process);
    assert_string_equal(named->process, "contract_cat");
    assert_true(unnamed->process == NULL ||
                strcmp(unnamed->process, "contract_cat") != 0);
    ctrace_capture_free(c);
}

/* struct ctrace_error's contract (error.h): `column` is where, 1-based. */
static void a_patch_that_is_not_json_gives_the_column_in_err(void **unused)
{
    (void)unused;
    struct ctrace_server *srv = start_doc("{\"a\":1}");
    struct ctrace_error err;
    assert_int_equal(
        ctrace_sys_patch_state(
            ctrace_server_pid(srv), "{\"a\": x}", NULL, 1000, NULL, &err),
        CTRACE_EINVAL);
    assert_int_equal(err.code, CTRACE_EINVAL);
    assert_int_equal(err.column, 7);
    assert_int_equal(err.position, 6);
    assert_non_null(strstr(err.text, "the patch is not JSON"));
    ctrace_server_stop(srv, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_version_of_null_text_is_that_of_empty_text),
        cmocka_unit_test(server_opts_init_of_null_does_nothing),
        cmocka_unit_test(an_unregistered_name_no_longer_labels_events),
        cmocka_unit_test(a_patch_that_is_not_json_gives_the_column_in_err),
    };
    return cmocka_run_group_tests_name("proc_contract", tests, NULL, NULL);
}
