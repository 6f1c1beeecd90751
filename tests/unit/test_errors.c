/* SPDX-License-Identifier: MIT */
/*
 * The error contract of the public API: every function that takes a
 * struct ctrace_error * clears it on entry, so that one error struct can be
 * reused across calls and always describes the last call. Each case first
 * leaves a syntax error in the struct (a real failed session start), then
 * makes the function under test fail for a reason of another kind, or
 * succeed, and checks that nothing of the old error is left.
 *
 * errors.coverage (tests/unit/errors_coverage.sh) fails when a public
 * function taking a struct ctrace_error * has no case here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrace/ctrace.h"

__attribute__((noinline)) static int probe(int n)
{
    CTRACE_CALL(errors_unit, probe, n);
    CTRACE_RETURN(n + 1);
}

/* Leaves a syntax error, with a column, in `err`. */
static void leave_syntax_error(struct ctrace_error *err)
{
    const char *spec = "errors_unit:probe(";
    struct ctrace_session *s = ctrace_session_start(&spec, 1, NULL, err);
    assert_null(s);
    assert_int_equal(err->code, CTRACE_ESYNTAX);
    assert_true(err->column > 0);
    assert_true(err->text[0] != '\0');
}

/* `err` says `code` and nothing of the syntax error is left. */
static void assert_replaced(const struct ctrace_error *err, int code)
{
    assert_int_equal(err->code, code);
    assert_int_equal(err->column, 0);
    assert_null(strstr(err->text, "errors_unit:probe("));
    assert_null(strstr(err->text, "expected"));
    assert_true(err->text[0] != '\0');
}

/* `err` was cleared by a call that succeeded. */
static void assert_cleared(const struct ctrace_error *err)
{
    assert_int_equal(err->code, 0);
    assert_int_equal(err->column, 0);
    assert_string_equal(err->text, "");
}

static void session_start_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    const char *spec = "errors_nosuch:fn/1";
    assert_null(ctrace_session_start(&spec, 1, NULL, &err));
    assert_replaced(&err, CTRACE_ENOMATCH);

    leave_syntax_error(&err);
    spec = "errors_unit:probe/1";
    struct ctrace_session *s = ctrace_session_start(&spec, 1, NULL, &err);
    assert_non_null(s);
    assert_cleared(&err);
    assert_int_equal(probe(1), 2);
    ctrace_session_free(s);
}

static void capture_start_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    assert_null(ctrace_capture_start("errors_nosuch:fn/1", &err));
    assert_replaced(&err, CTRACE_ENOMATCH);

    leave_syntax_error(&err);
    struct ctrace_capture *c = ctrace_capture_start("errors_unit:probe", &err);
    assert_non_null(c);
    assert_cleared(&err);
    ctrace_capture_free(c);
}

static void capture_start_opts_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    struct ctrace_capture_opts o;
    ctrace_capture_opts_init(&o);
    o.max_events = 0;
    const char *spec = "errors_unit:probe";
    assert_null(ctrace_capture_start_opts(&spec, 1, &o, &err));
    assert_replaced(&err, CTRACE_EINVAL);
}

static int init_ok(void *arg, void **state, struct ctrace_error *err)
{
    *state = NULL;
    return 0;
}

static void server_start_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    /* No callbacks at all: an invalid argument. */
    assert_null(ctrace_server_start(NULL, NULL, &err));
    assert_replaced(&err, CTRACE_EINVAL);

    leave_syntax_error(&err);
    struct ctrace_server_callbacks cb = {.init = init_ok};
    struct ctrace_server_opts o;
    ctrace_server_opts_init(&o);
    o.name = "errors_srv";
    struct ctrace_server *srv = ctrace_server_start(&cb, &o, &err);
    assert_non_null(srv);
    assert_cleared(&err);

    /* The name is taken now: another kind of error again. */
    leave_syntax_error(&err);
    assert_null(ctrace_server_start(&cb, &o, &err));
    assert_replaced(&err, -EEXIST);
    ctrace_server_stop(srv, NULL);
}

/* A pid no server has: the sys calls all fail with CTRACE_ENOPROC. */
#define NO_SUCH_PID UINT64_C(987654321)

static void sys_get_state_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    char *json = NULL;
    assert_true(ctrace_sys_get_state(NO_SUCH_PID, 100, &json, &err) < 0);
    assert_replaced(&err, CTRACE_ENOPROC);
    assert_null(json);
}

static void sys_replace_state_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    assert_true(ctrace_sys_replace_state(NO_SUCH_PID, "{}", 100, &err) < 0);
    assert_replaced(&err, CTRACE_ENOPROC);
}

static void sys_replace_state_if_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    assert_true(
        ctrace_sys_replace_state_if(NO_SUCH_PID, "{}", 1, 100, NULL, &err) < 0);
    assert_replaced(&err, CTRACE_ENOPROC);
}

static void sys_patch_state_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    assert_true(
        ctrace_sys_patch_state(NO_SUCH_PID, "{}", NULL, 100, NULL, &err) < 0);
    assert_replaced(&err, CTRACE_ENOPROC);
}

static void sys_get_status_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    char *json = NULL;
    assert_true(ctrace_sys_get_status(NO_SUCH_PID, 100, &json, &err) < 0);
    assert_replaced(&err, CTRACE_ENOPROC);
}

static void sys_suspend_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    assert_true(ctrace_sys_suspend(NO_SUCH_PID, 100, &err) < 0);
    assert_replaced(&err, CTRACE_ENOPROC);
}

static void sys_resume_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    assert_true(ctrace_sys_resume(NO_SUCH_PID, &err) < 0);
    assert_replaced(&err, CTRACE_ENOPROC);
}

static void admin_start_reports_its_own_error(void **state)
{
    struct ctrace_error err;
    leave_syntax_error(&err);
    struct ctrace_admin_opts o;
    ctrace_admin_opts_init(&o);
    o.bind = "not an address";
    o.port = 0;
    o.token_file = "/nonexistent-dir-of-ctrace-tests/token";
    assert_null(ctrace_admin_start(&o, &err));
    assert_true(err.code != 0);
    assert_true(err.code != CTRACE_ESYNTAX);
    assert_int_equal(err.column, 0);
    assert_null(strstr(err.text, "errors_unit:probe("));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(session_start_reports_its_own_error),
        cmocka_unit_test(capture_start_reports_its_own_error),
        cmocka_unit_test(capture_start_opts_reports_its_own_error),
        cmocka_unit_test(server_start_reports_its_own_error),
        cmocka_unit_test(sys_get_state_reports_its_own_error),
        cmocka_unit_test(sys_replace_state_reports_its_own_error),
        cmocka_unit_test(sys_replace_state_if_reports_its_own_error),
        cmocka_unit_test(sys_patch_state_reports_its_own_error),
        cmocka_unit_test(sys_get_status_reports_its_own_error),
        cmocka_unit_test(sys_suspend_reports_its_own_error),
        cmocka_unit_test(sys_resume_reports_its_own_error),
        cmocka_unit_test(admin_start_reports_its_own_error),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
