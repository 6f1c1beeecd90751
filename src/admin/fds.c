/* SPDX-License-Identifier: MIT */
/* The process's file descriptors: see fds.h. */
#include "admin/fds.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

/* One descriptor, as /proc/self/fd says. */
struct fd_row {
    int fd;
    char target[256];
    uint64_t inode; /* of a socket, else 0 */
    json_t *socket; /* what /proc/self/net says of it, or NULL */
};

static int cmp_fd(const void *a, const void *b)
{
    const struct fd_row *x = a, *y = b;
    return (x->fd > y->fd) - (x->fd < y->fd);
}

/* The row whose socket is `inode`, by a scan (the rows are few). */
static struct fd_row *by_inode(struct fd_row *rows, size_t n, uint64_t inode)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].inode == inode && rows[i].socket == NULL)
            return &rows[i];
    return NULL;
}

/* TCP's states as /proc/net/tcp numbers them (include/net/tcp_states.h). */
static const char *tcp_state(unsigned st)
{
    static const char *const names[] = {"",
                                        "ESTABLISHED",
                                        "SYN_SENT",
                                        "SYN_RECV",
                                        "FIN_WAIT1",
                                        "FIN_WAIT2",
                                        "TIME_WAIT",
                                        "CLOSE",
                                        "CLOSE_WAIT",
                                        "LAST_ACK",
                                        "LISTEN",
                                        "CLOSING",
                                        "NEW_SYN_RECV"};
    return st < sizeof(names) / sizeof(names[0]) ? names[st] : "UNKNOWN";
}

/* "0100007F:1F90" (IPv4) or 32 hex digits and a port (IPv6), as the
 * kernel writes them, into "127.0.0.1:8080" or "[::1]:8080". */
static void format_address(const char *hex, bool v6, char *out, size_t size)
{
    unsigned port = 0;
    const char *colon = strchr(hex, ':');
    if (colon == NULL || sscanf(colon + 1, "%x", &port) != 1) {
        snprintf(out, size, "?");
        return;
    }
    unsigned char addr[16] = {0};
    size_t nbytes = v6 ? 16 : 4;
    /* The kernel prints each 32-bit word in host order. */
    for (size_t w = 0; w < nbytes / 4; w++) {
        unsigned v = 0;
        if (sscanf(hex + w * 8, "%8x", &v) != 1) {
            snprintf(out, size, "?");
            return;
        }
        memcpy(addr + w * 4, &v, 4);
    }
    char text[INET6_ADDRSTRLEN] = "?";
    inet_ntop(v6 ? AF_INET6 : AF_INET, addr, text, sizeof(text));
    snprintf(out, size, v6 ? "[%s]:%u" : "%s:%u", text, port);
}

/* Fills the sockets of `rows` found in /proc/self/net/`proto`. */
static void
read_inet(struct fd_row *rows, size_t n, const char *proto, bool v6, bool tcp)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/net/%s", proto);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[512];
    if (fgets(line, sizeof(line), f) == NULL) { /* the heading */
        fclose(f);
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char local[64], remote[64];
        unsigned st = 0;
        unsigned long tx = 0, rx = 0;
        unsigned long long inode = 0;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line,
                   " %*s %63s %63s %x %lx:%lx %*s %*s %*s %*s %llu",
                   local,
                   remote,
                   &st,
                   &tx,
                   &rx,
                   &inode) != 6 ||
            inode == 0)
            continue;
        struct fd_row *r = by_inode(rows, n, inode);
        if (r == NULL)
            continue;
        char l[80], rm[80];
        format_address(local, v6, l, sizeof(l));
        format_address(remote, v6, rm, sizeof(rm));
        r->socket = json_pack("{sssssssssIsI}",
                              "proto",
                              proto,
                              "local",
                              l,
                              "remote",
                              rm,
                              "state",
                              tcp ? tcp_state(st)
                                  : (st == 7 ? "UNCONN" : "ESTABLISHED"),
                              "tx_queue",
                              (json_int_t)tx,
                              "rx_queue",
                              (json_int_t)rx);
    }
    fclose(f);
}

/* Fills the unix sockets of `rows` from /proc/self/net/unix. */
static void read_unix(struct fd_row *rows, size_t n)
{
    FILE *f = fopen("/proc/self/net/unix", "re");
    if (f == NULL)
        return;
    char line[512];
    if (fgets(line, sizeof(line), f) == NULL) {
        fclose(f);
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned type = 0, st = 0;
        unsigned long long inode = 0;
        int used = 0;
        /* Num RefCount Protocol Flags Type St Inode [Path] */
        if (sscanf(line,
                   " %*s %*s %*s %*s %x %x %llu%n",
                   &type,
                   &st,
                   &inode,
                   &used) != 3)
            continue;
        struct fd_row *r = by_inode(rows, n, inode);
        if (r == NULL)
            continue;
        char *p = line + used;
        while (*p == ' ')
            p++;
        p[strcspn(p, "\n")] = '\0';
        /* SS_CONNECTED is 3 (include/uapi/linux/net.h). */
        r->socket = json_pack("{ssssss}",
                              "proto",
                              type == 1 ? "unix stream" : "unix dgram",
                              "path",
                              p,
                              "state",
                              st == 3 ? "CONNECTED" : "UNCONNECTED");
    }
    fclose(f);
}

json_t *ctrace__fds_json(size_t limit)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return NULL;
    int own = dirfd(d);
    size_t n = 0, cap = 64;
    struct fd_row *rows = ctrace__malloc(cap * sizeof(*rows));
    struct dirent *e;
    while (rows != NULL && (e = readdir(d)) != NULL) {
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end != '\0' ||
            fd == own)
            continue;
        if (n == cap) {
            struct fd_row *more =
                ctrace__realloc(rows, 2 * cap * sizeof(*rows));
            if (more == NULL) {
                ctrace__free(rows);
                rows = NULL;
                break;
            }
            rows = more;
            cap *= 2;
        }
        struct fd_row *r = &rows[n];
        memset(r, 0, sizeof(*r));
        r->fd = (int)fd;
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
        ssize_t len = readlink(link, r->target, sizeof(r->target) - 1);
        if (len < 0)
            continue; /* closed meanwhile */
        r->target[len] = '\0';
        unsigned long long inode;
        if (sscanf(r->target, "socket:[%llu]", &inode) == 1)
            r->inode = inode;
        n++;
    }
    closedir(d);
    if (rows == NULL)
        return NULL;
    qsort(rows, n, sizeof(*rows), cmp_fd);
    read_inet(rows, n, "tcp", false, true);
    read_inet(rows, n, "tcp6", true, true);
    read_inet(rows, n, "udp", false, false);
    read_inet(rows, n, "udp6", true, false);
    read_unix(rows, n);

    json_t *list = json_array();
    size_t files = 0, pipes = 0, sockets = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        struct fd_row *r = &rows[i];
        const char *type = "other";
        if (r->inode != 0) {
            type = "socket";
            sockets++;
        } else if (strncmp(r->target, "pipe:", 5) == 0) {
            type = "pipe";
            pipes++;
        } else if (r->target[0] == '/') {
            type = "file";
            files++;
        } else {
            other++; /* anon_inode:[eventfd], and the like */
        }
        if (i >= limit) {
            json_decref(r->socket);
            continue;
        }
        json_t *o = json_pack(
            "{sissss}", "fd", r->fd, "type", type, "target", r->target);
        if (r->socket != NULL)
            json_object_update(o, r->socket);
        json_decref(r->socket);
        json_array_append_new(list, o);
    }
    ctrace__free(rows);
    return json_pack("{sosIs{sIsIsIsI}}",
                     "fds",
                     list,
                     "total",
                     (json_int_t)n,
                     "by_type",
                     "file",
                     (json_int_t)files,
                     "pipe",
                     (json_int_t)pipes,
                     "socket",
                     (json_int_t)sockets,
                     "other",
                     (json_int_t)other);
}
