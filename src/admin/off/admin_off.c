/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint of a library built with CTRACE_WITH_ADMIN=OFF: the
 * functions of include/ctrace/admin.h exist, so that programs link either
 * way, and ctrace_admin_start() says that the endpoint was left out.
 */
#include <errno.h>
#include <string.h>

#include "base/base.h"
#include "ctrace/admin.h"

void ctrace_admin_opts_init(struct ctrace_admin_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->bind = "127.0.0.1";
    opts->port = CTRACE_ADMIN_DEFAULT_PORT;
    opts->max_sessions = 4;
    opts->max_streams = 4;
    opts->max_body = (size_t)64 * 1024;
}

struct ctrace_admin *ctrace_admin_start(const struct ctrace_admin_opts *opts,
                                        struct ctrace_error *err)
{
    ctrace__error_clear(err);
    (void)opts;
    ctrace__error_set(err,
                      -ENOSYS,
                      0,
                      0,
                      "this ctrace was built without the admin endpoint "
                      "(CTRACE_WITH_ADMIN=OFF)");
    return NULL;
}

uint16_t ctrace_admin_port(const struct ctrace_admin *admin)
{
    (void)admin;
    return 0;
}

const char *ctrace_admin_token_file(const struct ctrace_admin *admin)
{
    (void)admin;
    return NULL;
}

size_t ctrace_admin_observer_url(const struct ctrace_admin *admin,
                                 char *buf,
                                 size_t size)
{
    (void)admin;
    if (size > 0)
        buf[0] = '\0';
    return 0;
}

void ctrace_admin_stop(struct ctrace_admin *admin)
{
    (void)admin;
}
