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

#include <string.h>

#include "ctrace/ctrace.h"
#include "ctrace/server.h"

/* ---- The traced code. ---- */

__attribute__((noinline)) static int contract_work(int n)
{
    CTRACE_CALL(proc_contract, work, n);
    CTRACE_RETURN(n + 1);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_version_of_null_text_is_that_of_empty_text),
        cmocka_unit_test(server_opts_init_of_null_does_nothing),
        cmocka_unit_test(an_unregistered_name_no_longer_labels_events),
    };
    return cmocka_run_group_tests_name("proc_contract", tests, NULL, NULL);
}
