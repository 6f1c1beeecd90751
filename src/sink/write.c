/* SPDX-License-Identifier: MIT */
/*
 * The file-descriptor sink: where a session's text goes when it was given
 * `fd` or `path`. Opening the file and writing whole batches to it, with
 * the two cases a long-running service must survive: a signal that
 * interrupts the write, and a reader that went away.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "sink/sink.h"

int ctrace__sink_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return fd >= 0 ? fd : -errno;
}

int ctrace__sink_write(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e == EPIPE) {
                /*
                 * The reader went away. SIGPIPE is blocked on the calling
                 * thread (a session's consumer), so it is pending here
                 * rather than killing the service: take it off, then
                 * report.
                 */
                sigset_t pipe_set;
                sigemptyset(&pipe_set);
                sigaddset(&pipe_set, SIGPIPE);
                struct timespec zero = {0, 0};
                (void)sigtimedwait(&pipe_set, NULL, &zero);
            }
            return -e;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}
