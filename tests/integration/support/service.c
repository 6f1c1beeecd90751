/* SPDX-License-Identifier: MIT */
/* One cat_traveler for the C integration tests (service.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "service.h"

#define LISTENING "cat_traveler listening on http://127.0.0.1:"
#define ADMIN_ON  "admin endpoint on http://127.0.0.1:"

int service_start(struct service *s,
                  const char *traveler_bin,
                  const char *dir,
                  const char *const *extra)
{
    char token_file[sizeof(s->token_file)];
    snprintf(token_file, sizeof(token_file), "%s/token", dir);
    return service_start_token(s, traveler_bin, token_file, extra);
}

int service_start_token(struct service *s,
                        const char *traveler_bin,
                        const char *token_file,
                        const char *const *extra)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->token_file, sizeof(s->token_file), "%s", token_file);
    char *argv[32] = {(char *)traveler_bin,
                      "--port",
                      "0",
                      "--threads",
                      "2",
                      "--admin-port",
                      "0",
                      "--token-file",
                      s->token_file};
    size_t n = 9;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    s->pid = child_spawn(argv, &s->out, true);
    if (s->pid < 0)
        return -1;
    s->len = child_read_until(
        s->out, s->output, sizeof(s->output), 0, LISTENING, 20000);
    const char *line = strstr(s->output, LISTENING);
    /* The port follows; wait for the end of the line too. */
    while (line != NULL && strchr(line, '\n') == NULL) {
        size_t before = s->len;
        s->len = child_read_until(
            s->out, s->output, sizeof(s->output), s->len, "\n", 2000);
        line = strstr(s->output, LISTENING);
        if (s->len == before)
            break;
    }
    const char *admin = strstr(s->output, ADMIN_ON);
    FILE *f = NULL;
    if (line == NULL || admin == NULL ||
        sscanf(line + strlen(LISTENING), "%u", &s->port) != 1 ||
        sscanf(admin + strlen(ADMIN_ON), "%u", &s->admin_port) != 1 ||
        (f = fopen(s->token_file, "r")) == NULL ||
        fgets(s->token, sizeof(s->token), f) == NULL) {
        if (f != NULL)
            fclose(f);
        print_error("cat_traveler did not start; it printed:\n%s\n", s->output);
        kill(s->pid, SIGKILL);
        child_wait_exit(s->pid, 5000);
        close(s->out);
        return -1;
    }
    fclose(f);
    size_t lead = strspn(s->token, " \t");
    memmove(s->token, s->token + lead, strlen(s->token + lead) + 1);
    s->token[strcspn(s->token, " \r\n")] = '\0';
    return 0;
}

int service_stop(struct service *s)
{
    kill(s->pid, SIGTERM);
    s->len = child_read_until(
        s->out, s->output, sizeof(s->output), s->len, NULL, 30000);
    close(s->out);
    int status = child_wait_exit(s->pid, 30000);
    if (status != 0)
        print_error("cat_traveler exited with %d; it printed:\n%s\n",
                    status,
                    s->output);
    return status;
}
