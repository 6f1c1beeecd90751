/* SPDX-License-Identifier: MIT */
/*
 * `ctrace fds`: the service's file descriptors, as GET /api/v1/fds gives
 * them (docs/admin-api.md) and the observer's Ports tab shows them: one
 * line each, sockets with their addresses, state and queues, and a summary.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char *str_of(const json_t *row, const char *key)
{
    const char *s = json_string_value(json_object_get(row, key));
    return s != NULL ? s : "";
}

int ctrace_cli_fds(struct ctrace_cli *cli, int argc, char **argv)
{
    int rc = ctrace_cli_no_args("fds", argc, argv);
    if (rc >= 0)
        return rc;
    json_t *reply;
    rc = ctrace_cli_request(
        cli, "GET", "/api/v1/fds?limit=100000", NULL, 0, &reply);
    if (rc != CTRACE_CLI_OK)
        return rc;
    json_t *fds = json_object_get(reply, "fds");
    if (cli->json) {
        size_t i;
        json_t *row;
        json_array_foreach(fds, i, row)
        {
            ctrace_cli_print_json_line(row);
        }
        json_decref(reply);
        return CTRACE_CLI_OK;
    }
    printf("%5s  %-6s  %-28s  %-22s  %-22s  %-11s  %6s  %6s\n",
           "FD",
           "TYPE",
           "WHAT",
           "LOCAL",
           "REMOTE",
           "STATE",
           "SEND-Q",
           "RECV-Q");
    size_t i;
    json_t *row;
    json_array_foreach(fds, i, row)
    {
        char what[320];
        const char *proto = str_of(row, "proto");
        if (proto[0] != '\0')
            snprintf(what,
                     sizeof(what),
                     "%s%s%s",
                     proto,
                     str_of(row, "path")[0] != '\0' ? " " : "",
                     str_of(row, "path"));
        else
            snprintf(what, sizeof(what), "%s", str_of(row, "target"));
        char sendq[24] = "", recvq[24] = "";
        if (json_is_integer(json_object_get(row, "tx_queue")))
            snprintf(sendq,
                     sizeof(sendq),
                     "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(row, "tx_queue")));
        if (json_is_integer(json_object_get(row, "rx_queue")))
            snprintf(recvq,
                     sizeof(recvq),
                     "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(row, "rx_queue")));
        char line[1024];
        snprintf(line,
                 sizeof(line),
                 "%5" JSON_INTEGER_FORMAT
                 "  %-6s  %-28s  %-22s  %-22s  %-11s  %6s  %6s",
                 json_integer_value(json_object_get(row, "fd")),
                 str_of(row, "type"),
                 what,
                 str_of(row, "local"),
                 str_of(row, "remote"),
                 str_of(row, "state"),
                 sendq,
                 recvq);
        /* Files and pipes end after WHAT: no trailing blanks. */
        size_t n = strlen(line);
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = '\0';
        puts(line);
    }
    json_t *by = json_object_get(reply, "by_type");
    printf("%" JSON_INTEGER_FORMAT " open: %" JSON_INTEGER_FORMAT
           " sockets, %" JSON_INTEGER_FORMAT " files, %" JSON_INTEGER_FORMAT
           " pipes, %" JSON_INTEGER_FORMAT " other\n",
           json_integer_value(json_object_get(reply, "total")),
           json_integer_value(json_object_get(by, "socket")),
           json_integer_value(json_object_get(by, "file")),
           json_integer_value(json_object_get(by, "pipe")),
           json_integer_value(json_object_get(by, "other")));
    json_decref(reply);
    return CTRACE_CLI_OK;
}
