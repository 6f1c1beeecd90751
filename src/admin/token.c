/* SPDX-License-Identifier: MIT */
/*
 * The token file of the admin endpoint: ~/.ctrace/token by default, the way
 * Erlang keeps ~/.erlang.cookie. An existing file is read (surrounding
 * whitespace trimmed); a missing one is created, exclusively and with mode
 * 0600, holding 32 random bytes from getrandom() as 64 hex digits. Like
 * ssh with a private key, the endpoint refuses a file that its group or
 * others can read, or that belongs to someone else: anyone who can read
 * the token can trace the service. Anything but a regular file (a FIFO,
 * a directory, a device, a symbolic link) is refused too, without waiting:
 * the file is opened non-blocking, so a FIFO cannot hang the start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"

#define TOKEN_BYTES 32

static int
fail_errno(struct ctrace_error *err, int e, const char *what, const char *path)
{
    return ctrace__error_set(err,
                             -e,
                             0,
                             0,
                             "cannot %s token file %s: %s",
                             what,
                             path,
                             ctrace_strerror(-e));
}

/* What a file that is not a regular one is, for the refusal. */
static const char *kind_name(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "not a regular file";
}

/* $HOME, or the home directory of the user, or NULL. */
static const char *home_dir(void)
{
    const char *home = getenv("HOME");
    if (home != NULL && home[0] == '/')
        return home;
    struct passwd pw, *found = NULL;
    static _Thread_local char buf[1024];
    if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &found) == 0 &&
        found != NULL && pw.pw_dir != NULL && pw.pw_dir[0] == '/')
        return pw.pw_dir;
    return NULL;
}

/* The default path, with ~/.ctrace made (0700) when missing. */
static int default_path(char **out, struct ctrace_error *err)
{
    const char *home = home_dir();
    if (home == NULL)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "no home directory for the default token "
                                 "file (HOME is not set); give a token file");
    size_t n = strlen(home) + sizeof("/.ctrace/token");
    char *path = ctrace__malloc(n);
    if (path == NULL)
        return ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
    snprintf(path, n, "%s/.ctrace", home);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        ctrace__error_set(err,
                          -e,
                          0,
                          0,
                          "cannot create directory %s for the token file: %s",
                          path,
                          ctrace_strerror(-e));
        ctrace__free(path);
        return -e;
    }
    snprintf(path, n, "%s/.ctrace/token", home);
    *out = path;
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/*
 * Reads the token from an open file. Returns 0, -EAGAIN when the file is
 * still empty (another process has just created it and is writing), or
 * another negative code with `err` filled.
 */
static int read_token(struct admin *a, int fd, struct ctrace_error *err)
{
    const char *path = a->token_file;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail_errno(err, errno, "examine", path);
    if (!S_ISREG(st.st_mode))
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "token file %s is %s, not a regular file; "
                                 "refusing to use it",
                                 path,
                                 kind_name(st.st_mode));
    if (st.st_uid != geteuid())
        return ctrace__error_set(err,
                                 -EPERM,
                                 0,
                                 0,
                                 "token file %s belongs to user %u, not to "
                                 "this process's user %u; refusing to use it",
                                 path,
                                 (unsigned)st.st_uid,
                                 (unsigned)geteuid());
    if ((st.st_mode & 077) != 0)
        return ctrace__error_set(err,
                                 -EPERM,
                                 0,
                                 0,
                                 "token file %s is open to other users (mode "
                                 "%04o); refusing to use it: run chmod 600 %s",
                                 path,
                                 (unsigned)(st.st_mode & 07777),
                                 path);
    char buf[ADMIN_TOKEN_MAX + 64];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_errno(err, errno, "read", path);
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof(buf))
            return ctrace__error_set(err,
                                     CTRACE_EINVAL,
                                     0,
                                     0,
                                     "token file %s is too long: a token has "
                                     "at most %d characters",
                                     path,
                                     ADMIN_TOKEN_MAX);
    }
    size_t start = 0;
    while (start < len && is_space(buf[start]))
        start++;
    while (len > start && is_space(buf[len - 1]))
        len--;
    if (len == start)
        return -EAGAIN;
    if (len - start > ADMIN_TOKEN_MAX)
        return ctrace__error_set(err,
                                 CTRACE_EINVAL,
                                 0,
                                 0,
                                 "token file %s is too long: a token has at "
                                 "most %d characters",
                                 path,
                                 ADMIN_TOKEN_MAX);
    /* It travels in an HTTP header: printable ASCII without blanks. */
    for (size_t i = start; i < len; i++)
        if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f)
            return ctrace__error_set(err,
                                     CTRACE_EINVAL,
                                     0,
                                     0,
                                     "token file %s must hold one token of "
                                     "printable characters without blanks",
                                     path);
    memcpy(a->token, buf + start, len - start);
    a->token[len - start] = '\0';
    a->token_len = len - start;
    return 0;
}

/* Creates the file with a new token. -EEXIST when it appeared meanwhile. */
static int create_token(struct admin *a, struct ctrace_error *err)
{
    const char *path = a->token_file;
    unsigned char raw[TOKEN_BYTES];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ctrace__error_set(err,
                                     -errno,
                                     0,
                                     0,
                                     "cannot make a token: getrandom: %s",
                                     ctrace_strerror(-errno));
        got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    char text[2 * TOKEN_BYTES + 2];
    for (size_t i = 0; i < TOKEN_BYTES; i++) {
        text[2 * i] = hex[raw[i] >> 4];
        text[2 * i + 1] = hex[raw[i] & 15];
    }
    text[2 * TOKEN_BYTES] = '\n';
    text[2 * TOKEN_BYTES + 1] = '\0';
    int fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return -EEXIST;
        return fail_errno(err, errno, "create", path);
    }
    size_t off = 0, total = 2 * TOKEN_BYTES + 1;
    while (off < total) {
        ssize_t n = write(fd, text + off, total - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return fail_errno(err, e, "write", path);
        }
        off += (size_t)n;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        return fail_errno(err, e, "write", path);
    }
    memcpy(a->token, text, 2 * TOKEN_BYTES);
    a->token[2 * TOKEN_BYTES] = '\0';
    a->token_len = 2 * TOKEN_BYTES;
    return 0;
}

int ctrace__admin_token_load(struct admin *a,
                             const char *path,
                             struct ctrace_error *err)
{
    if (path == NULL) {
        int rc = default_path(&a->token_file, err);
        if (rc < 0)
            return rc;
    } else if ((a->token_file = ctrace__strdup(path)) == NULL) {
        return ctrace__error_set(err, CTRACE_ENOMEM, 0, 0, "out of memory");
    }
    if (a->token_file[0] == '\0')
        return ctrace__error_set(
            err, CTRACE_EINVAL, 0, 0, "the token file path is empty");
    /*
     * Another process (a second service, the command line) may create the
     * file at the same moment: whoever wins writes the token, the others
     * read it, waiting a little for it to be written.
     */
    for (int attempt = 0; attempt < 50; attempt++) {
        /*
         * O_NONBLOCK: opening a FIFO for reading would otherwise wait for
         * a writer forever; it is refused below, as anything that is not
         * a regular file is. On a regular file the flag changes nothing.
         */
        int fd =
            open(a->token_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0) {
            int rc = read_token(a, fd, err);
            close(fd);
            if (rc != -EAGAIN)
                return rc;
        } else if (errno == ENOENT) {
            int rc = create_token(a, err);
            if (rc != -EEXIST)
                return rc;
            continue;
        } else if (errno == ELOOP) {
            return ctrace__error_set(err,
                                     -ELOOP,
                                     0,
                                     0,
                                     "token file %s is a symbolic link; "
                                     "refusing to follow it",
                                     a->token_file);
        } else if (errno == ENXIO) {
            /* A Unix socket, or a device without its driver. */
            return ctrace__error_set(err,
                                     -ENXIO,
                                     0,
                                     0,
                                     "token file %s is not a regular file; "
                                     "refusing to use it",
                                     a->token_file);
        } else {
            return fail_errno(err, errno, "open", a->token_file);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return ctrace__error_set(
        err, CTRACE_EINVAL, 0, 0, "token file %s is empty", a->token_file);
}

bool ctrace__admin_token_equal(const struct admin *a,
                               const char *given,
                               size_t len)
{
    /*
     * Every byte of the token is compared whatever the input, so the time
     * taken says nothing about how much of a guess was right.
     */
    volatile unsigned char diff = (unsigned char)(len != a->token_len);
    for (size_t i = 0; i < a->token_len; i++) {
        unsigned char g = i < len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)a->token[i]);
    }
    return diff == 0;
}
