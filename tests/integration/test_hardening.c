/* SPDX-License-Identifier: MIT */
/*
 * What an attack on the demo service and its admin endpoint must not get
 * (issue 10): hostile token files, HTTP framing that libmicrohttpd lets
 * through, slow and idle connections, and control requests stuck behind
 * long ones. Every test starts the real cat_traveler (and, for the token
 * files, the real `ctrace` command line) as a child process with both
 * ports ephemeral, and talks to it over plain sockets on loopback, so that
 * what is checked is exactly the bytes a client gets.
 *
 * Usage: test_hardening CAT_TRAVELER CTRACE_CLI [TEST-NAME-GLOB]
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/child.h"
#include "support/slow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *traveler_bin;
static const char *cli_bin;
static char scratch[64];

/* ---- The service. ---- */

struct service {
    pid_t pid;
    int out;
    unsigned port;
    unsigned admin_port;
    char token_file[128];
    char token[128];
    char output[16384];
    size_t len;
};

#define LISTENING "cat_traveler listening on http://127.0.0.1:"
#define ADMIN_ON  "admin endpoint on http://127.0.0.1:"

static int service_start(struct service *s, const char *const *extra)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->token_file, sizeof(s->token_file), "%s/token", scratch);
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
    s->len = child_read_until(
        s->out, s->output, sizeof(s->output), s->len, "\n", 2000);
    const char *line = strstr(s->output, LISTENING);
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
    s->token[strcspn(s->token, " \r\n")] = '\0';
    return 0;
}

static int service_stop(struct service *s)
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

static int setup_service(void **state)
{
    struct service *s = malloc(sizeof(*s));
    if (s == NULL || service_start(s, NULL) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown_service(void **state)
{
    struct service *s = *state;
    int status = service_stop(s);
    free(s);
    return status == 0 ? 0 : -1;
}

/* ---- Token files. ---- */

/*
 * Starts cat_traveler with `path` as its token file and expects it to
 * refuse it at once: exit status 1 within 10 s, with `message` printed.
 */
static void assert_service_refuses_token_file(const char *path,
                                              const char *message)
{
    char *argv[] = {(char *)traveler_bin,
                    "--port",
                    "0",
                    "--admin-port",
                    "0",
                    "--token-file",
                    (char *)path,
                    NULL};
    int fd;
    pid_t pid = child_spawn(argv, &fd, true);
    assert_true(pid > 0);
    char out[4096];
    long long t0 = child_now_ms();
    child_read_until(fd, out, sizeof(out), 0, NULL, 10000);
    close(fd);
    int status = child_wait_exit(pid, 2000);
    long long took = child_now_ms() - t0;
    if (status != 1 || strstr(out, message) == NULL)
        fail_msg("token file %s: exit status %d after %lld ms (1 expected "
                 "at once), output:\n%s\n(expected \"%s\")",
                 path,
                 status,
                 took,
                 out,
                 message);
}

static void fifo_as_token_file_is_refused_at_once(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/fifo", scratch);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_service_refuses_token_file(path, "is a FIFO, not a regular file");
}

static void directory_as_token_file_is_refused(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/dir", scratch);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_service_refuses_token_file(path,
                                      "is a directory, not a regular file");
}

static void symlink_as_token_file_is_refused(void **state)
{
    char target[128], path[128];
    snprintf(target, sizeof(target), "%s/real-token", scratch);
    snprintf(path, sizeof(path), "%s/link", scratch);
    int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "secret\n", 7), 7);
    close(fd);
    assert_int_equal(symlink(target, path), 0);
    assert_service_refuses_token_file(path, "is a symbolic link");
}

static void token_file_of_another_user_is_refused(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/theirs", scratch);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "secret\n", 7), 7);
    close(fd);
    /* As root, give it to nobody; otherwise use a file root owns. */
    if (chown(path, 65534, 65534) != 0)
        snprintf(path, sizeof(path), "/etc/passwd");
    assert_service_refuses_token_file(path, "belongs to user");
}

/* Runs `ctrace --url URL --token-file PATH sessions`; returns its exit status. */
static int run_cli(const struct service *s,
                   const char *token_file,
                   char *out,
                   size_t size,
                   long long *took_ms)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", s->admin_port);
    char *argv[] = {(char *)cli_bin,
                    "--url",
                    url,
                    "--token-file",
                    (char *)token_file,
                    "sessions",
                    NULL};
    int fd;
    long long t0 = child_now_ms();
    pid_t pid = child_spawn(argv, &fd, true);
    assert_true(pid > 0);
    child_read_until(fd, out, size, 0, NULL, 10000);
    close(fd);
    int status = child_wait_exit(pid, 2000);
    *took_ms = child_now_ms() - t0;
    return status;
}

static void cli_refuses_a_fifo_or_directory_token_file_at_once(void **state)
{
    struct service *s = *state;
    char fifo[128], dir[128];
    snprintf(fifo, sizeof(fifo), "%s/cli-fifo", scratch);
    snprintf(dir, sizeof(dir), "%s/cli-dir", scratch);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    const char *paths[] = {fifo, dir};
    const char *kinds[] = {"it is a FIFO, not a regular file",
                           "it is a directory, not a regular file"};
    for (size_t i = 0; i < 2; i++) {
        char out[4096];
        long long took;
        int status = run_cli(s, paths[i], out, sizeof(out), &took);
        /* 3: not authorized, with the reason the token was not read. */
        if (status != 3 || strstr(out, kinds[i]) == NULL)
            fail_msg("ctrace with token file %s: exit %d after %lld ms, "
                     "output:\n%s",
                     paths[i],
                     status,
                     took,
                     out);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: %s CAT_TRAVELER CTRACE_CLI [TEST-NAME-GLOB]\n",
                argv[0]);
        return 2;
    }
    traveler_bin = argv[1];
    cli_bin = argv[2];
    if (argc > 3)
        cmocka_set_test_filter(argv[3]);
    snprintf(scratch, sizeof(scratch), "/tmp/test_hardening.XXXXXX");
    if (mkdtemp(scratch) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
#define WITH_SERVICE(t) \
    cmocka_unit_test_setup_teardown(t, setup_service, teardown_service)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fifo_as_token_file_is_refused_at_once),
        cmocka_unit_test(directory_as_token_file_is_refused),
        cmocka_unit_test(symlink_as_token_file_is_refused),
        cmocka_unit_test(token_file_of_another_user_is_refused),
        WITH_SERVICE(cli_refuses_a_fifo_or_directory_token_file_at_once),
    };
#undef WITH_SERVICE
    int failed = cmocka_run_group_tests_name("hardening", tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", scratch);
    return failed;
}
