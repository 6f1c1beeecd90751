/* SPDX-License-Identifier: MIT */
/*
 * The admin endpoint's routes into servers: get and replace state (with
 * ETag / If-Match and JSON merge patches), status, and the sys switches
 * (suspend, resume, trace, log, statistics). Each request runs as a job on
 * a worker, since it waits for the server's own thread (admin/jobs.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/jobs.h"
#include "admin/reply.h"
#include "ctrace/point.h"
#include "ctrace/server.h"
#include "pattern/pattern.h"
#include "point/point.h"
#include "session/session.h"

/* ---- Servers: state, status, sys. ---- */

/* Finds the server named in the path, or replies 404 or 409. */
static bool find_server(struct request *rq)
{
    struct ctrace_proc_info info;
    if (!ctrace__admin_find_proc(rq, &info))
        return false;
    char pid[32];
    snprintf(pid, sizeof(pid), "<0.%" PRIu64 ".0>", info.pid);
    if (info.status == CTRACE_PROC_DEAD) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_NOT_FOUND,
                                  "no_such_process",
                                  "%s (%s) has ended: %s",
                                  pid,
                                  info.label,
                                  info.exit_reason);
        return false;
    }
    if (info.kind != CTRACE_PROC_SERVER) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_CONFLICT,
                                  "conflict",
                                  "%s (%s) is not a server: only servers have "
                                  "a state and sys operations",
                                  pid,
                                  info.label);
        return false;
    }
    return true;
}

/* Replies to a failed sys call of a server. */
static void sys_error(struct request *rq, int rc, const struct ctrace_error *e)
{
    const char *text =
        e != NULL && e->text[0] != '\0' ? e->text : ctrace_strerror(rc);
    if (rc == CTRACE_EUNSUPPORTED)
        ctrace__admin_reply_error(
            rq, MHD_HTTP_CONFLICT, "conflict", "%s", text);
    else if (rc == CTRACE_ENOPROC)
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_NOT_FOUND,
                                  "no_such_process",
                                  "no server <0.%" PRIu64 ".0> any more",
                                  rq->pid);
    else
        ctrace__admin_reply_ctrace_error(rq, rc, e);
}

/* A server's JSON text as a value, or NULL with a 502-ish reply. */
static json_t *
server_json(struct request *rq, const char *text, const char *what)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (v == NULL)
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal",
                                  "the server's %s is not valid JSON: %s",
                                  what,
                                  je.text);
    return v;
}

/* The state's version as an ETag: a quoted strong entity tag. */
static void set_etag(struct request *rq, uint64_t version)
{
    snprintf(
        rq->reply.etag, sizeof(rq->reply.etag), "\"%016" PRIx64 "\"", version);
}

/*
 * Replies 200 with {"pid", "state", "version"} and the version as ETag, or
 * `fallback` (a new reference) when the server has no format_state text.
 */
static void reply_state(struct request *rq, char *text, json_t *fallback)
{
    if (text == NULL) {
        ctrace__admin_reply_json(rq, MHD_HTTP_OK, fallback);
        return;
    }
    json_decref(fallback);
    uint64_t version = ctrace_sys_state_version(text, strlen(text));
    json_t *state = server_json(rq, text, "format_state");
    ctrace_free(text);
    if (state == NULL)
        return;
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, version);
    ctrace__admin_reply_json(rq,
                             MHD_HTTP_OK,
                             json_pack("{s:o,s:o,s:s}",
                                       "pid",
                                       ctrace__admin_jpid(rq->pid),
                                       "state",
                                       state,
                                       "version",
                                       hex));
    set_etag(rq, version);
}

/*
 * A worker: asks the request's server for its state or status with `get`
 * (ctrace_sys_get_state or ctrace_sys_get_status) into *text (free it
 * with ctrace_free()). Returns false with an error reply set when the
 * call failed.
 */
static bool
sys_text(struct request *rq,
         int (*get)(uint64_t, uint32_t, char **, struct ctrace_error *),
         char **text)
{
    *text = NULL;
    struct ctrace_error e = {0};
    int rc = get(rq->pid, 0, text, &e);
    if (rc < 0) {
        sys_error(rq, rc, &e);
        return false;
    }
    return true;
}

static void get_state_job(struct request *rq)
{
    char *text;
    if (sys_text(rq, ctrace_sys_get_state, &text))
        reply_state(rq, text, NULL);
}

/* PUT (replace) and PATCH (JSON merge patch) of a state. */
static void replace_state_job(struct request *rq)
{
    struct ctrace_error e = {0};
    char *text = NULL;
    int rc;
    if (strcmp(rq->method, "PATCH") == 0)
        rc = ctrace_sys_patch_state(rq->pid,
                                    rq->body,
                                    rq->if_match ? &rq->version : NULL,
                                    0,
                                    &text,
                                    &e);
    else if (rq->if_match)
        rc = ctrace_sys_replace_state_if(
            rq->pid, rq->body, rq->version, 0, &text, &e);
    else
        rc = ctrace_sys_replace_state(rq->pid, rq->body, 0, &e);
    if (rc == 0) {
        if (strcmp(rq->method, "PATCH") == 0) {
            reply_state(rq, text, json_pack("{ss}", "result", "ok"));
            return;
        }
        ctrace_free(text);
        ctrace__admin_reply_json(
            rq, MHD_HTTP_OK, json_pack("{ss}", "result", "ok"));
        return;
    }
    if (rc == CTRACE_ESTALE) {
        ctrace__admin_reply_error(
            rq, MHD_HTTP_PRECONDITION_FAILED, "stale", "%s", e.text);
        return;
    }
    if (rc == CTRACE_ENOPROC || rc == CTRACE_EUNSUPPORTED || rc == -ETIMEDOUT ||
        rc == CTRACE_ENOMEM) {
        sys_error(rq, rc, &e);
        return;
    }
    /* Refused by replace_state: the old state stays. */
    ctrace__admin_reply_error(rq,
                              MHD_HTTP_UNPROCESSABLE_CONTENT,
                              "rejected",
                              "%s",
                              e.text[0] != '\0' ? e.text : ctrace_strerror(rc));
}

/*
 * If-Match: "*" (any state) or one strong entity tag as GET gave it.
 * Returns false with a 400 reply when the header says anything else.
 */
static bool parse_if_match(struct request *rq)
{
    const char *h = MHD_lookup_connection_value(
        rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
    if (h == NULL)
        return true;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t len = strlen(h);
    while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    if (len == 1 && h[0] == '*')
        return true;
    bool ok = len == 18 && h[0] == '"' && h[17] == '"';
    for (size_t i = 1; ok && i < 17; i++)
        ok = isxdigit((unsigned char)h[i]) != 0;
    if (!ok) {
        ctrace__admin_reply_error(
            rq,
            MHD_HTTP_BAD_REQUEST,
            "bad_request",
            "If-Match must be * or one ETag as GET .../state gave it, "
            "such as \"0123456789abcdef\"; got '%.*s'",
            (int)(len > 64 ? 64 : len),
            h);
        return false;
    }
    char hex[17];
    memcpy(hex, h + 1, 16);
    hex[16] = '\0';
    rq->if_match = true;
    rq->version = strtoull(hex, NULL, 16);
    return true;
}

/* PATCH takes application/merge-patch+json, with parameters or not. */
static bool merge_patch_type(struct request *rq)
{
    static const char type[] = "application/merge-patch+json";
    const char *h = MHD_lookup_connection_value(
        rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = sizeof(type) - 1;
    if (h != NULL && strncasecmp(h, type, n) == 0 &&
        (h[n] == '\0' || h[n] == ';' || h[n] == ' '))
        return true;
    ctrace__admin_reply_error(rq,
                              MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "unsupported_media_type",
                              "PATCH takes a JSON merge patch (RFC 7386) with "
                              "Content-Type: %s; got %s",
                              type,
                              h != NULL ? h : "no Content-Type");
    return false;
}

void ctrace__admin_state(struct request *rq)
{
    if (!find_server(rq))
        return;
    bool patch = strcmp(rq->method, "PATCH") == 0;
    if (strcmp(rq->method, "PUT") != 0 && !patch) {
        ctrace__admin_run_job(rq, get_state_job);
        return;
    }
    if (patch && !merge_patch_type(rq))
        return;
    if (!parse_if_match(rq))
        return;
    /* Checked here, so that the server only sees well-formed JSON. */
    json_t *v = ctrace__admin_body_json(rq, true);
    if (v == NULL)
        return;
    json_decref(v);
    ctrace__admin_run_job(rq, replace_state_job);
}

static void status_job(struct request *rq)
{
    char *text;
    if (!sys_text(rq, ctrace_sys_get_status, &text))
        return;
    json_t *status = server_json(rq, text, "status");
    ctrace_free(text);
    if (status != NULL)
        ctrace__admin_reply_json(rq, MHD_HTTP_OK, status);
}

void ctrace__admin_status(struct request *rq)
{
    if (find_server(rq))
        ctrace__admin_run_job(rq, status_job);
}

static json_t *ok_json(void)
{
    return json_pack("{ss}", "result", "ok");
}

/* Splits the log's text into a list of lines. */
static json_t *log_lines(const char *text)
{
    json_t *list = json_array();
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char *line = ctrace__strndup(p, len);
        if (line != NULL) {
            json_array_append_new(list, ctrace__admin_jstr(line));
            ctrace__free(line);
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return list;
}

/* The body of POST .../sys, checked beforehand: rq->args. */
static void sys_job(struct request *rq)
{
    const char *cmd = json_string_value(json_object_get(rq->args, "command"));
    const char *action = json_string_value(json_object_get(rq->args, "action"));
    struct ctrace_error e = {0};
    int rc;
    if (strcmp(cmd, "suspend") == 0) {
        rc = ctrace_sys_suspend(rq->pid, 0, &e);
    } else if (strcmp(cmd, "resume") == 0) {
        rc = ctrace_sys_resume(rq->pid, &e);
    } else if (strcmp(cmd, "trace") == 0) {
        rc = ctrace_sys_trace(
            rq->pid, json_is_true(json_object_get(rq->args, "on")), -1);
    } else if (strcmp(cmd, "log") == 0) {
        if (strcmp(action, "on") == 0) {
            json_t *n = json_object_get(rq->args, "n");
            rc = ctrace_sys_log(rq->pid,
                                n != NULL ? (unsigned)json_integer_value(n)
                                          : CTRACE_SYS_LOG_DEFAULT);
        } else if (strcmp(action, "off") == 0) {
            rc = ctrace_sys_log(rq->pid, 0);
        } else {
            /*
             * get and print: the lines go to the caller. A print into the
             * service's standard error would land where no operator looks.
             */
            char *text = NULL;
            rc = ctrace_sys_log_get(rq->pid, &text);
            if (rc == 0) {
                ctrace__admin_reply_json(
                    rq, MHD_HTTP_OK, json_pack("{so}", "log", log_lines(text)));
                ctrace_free(text);
                return;
            }
        }
    } else { /* statistics */
        if (strcmp(action, "get") == 0) {
            struct ctrace_sys_stats st;
            rc = ctrace_sys_statistics_get(rq->pid, &st);
            if (rc == CTRACE_ENOTFOUND) {
                ctrace__admin_reply_error(rq,
                                          MHD_HTTP_CONFLICT,
                                          "conflict",
                                          "statistics are off for <0.%" PRIu64
                                          ".0>; turn them on first",
                                          rq->pid);
                return;
            }
            if (rc == 0) {
                ctrace__admin_reply_json(rq,
                                         MHD_HTTP_OK,
                                         json_pack("{s{sIsIsIsIsI}}",
                                                   "statistics",
                                                   "start_us",
                                                   (json_int_t)st.start_us,
                                                   "messages_in",
                                                   (json_int_t)st.messages_in,
                                                   "messages_out",
                                                   (json_int_t)st.messages_out,
                                                   "reductions",
                                                   (json_int_t)st.reductions,
                                                   "queue_len",
                                                   (json_int_t)st.queue_len));
                return;
            }
        } else {
            rc = ctrace_sys_statistics(rq->pid, strcmp(action, "on") == 0);
        }
    }
    if (rc < 0)
        sys_error(rq, rc, &e);
    else
        ctrace__admin_reply_json(rq, MHD_HTTP_OK, ok_json());
}

/* Checks the body of POST .../sys; replies 400 and returns false if bad. */
static bool check_sys(struct request *rq, json_t *b)
{
    const char *cmd = json_string_value(json_object_get(b, "command"));
    const char *allowed;
    if (cmd == NULL) {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_BAD_REQUEST,
                                  "bad_request",
                                  "\"command\" must be one of suspend, resume, "
                                  "trace, log, statistics");
        return false;
    }
    if (strcmp(cmd, "suspend") == 0 || strcmp(cmd, "resume") == 0) {
        allowed = "command";
    } else if (strcmp(cmd, "trace") == 0) {
        allowed = "command on";
        if (!json_is_boolean(json_object_get(b, "on"))) {
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_BAD_REQUEST,
                                      "bad_request",
                                      "trace needs \"on\": true or false");
            return false;
        }
    } else if (strcmp(cmd, "log") == 0 || strcmp(cmd, "statistics") == 0) {
        bool log = cmd[0] == 'l';
        const char *action = json_string_value(json_object_get(b, "action"));
        const char *choices = log ? "on, off, get, print" : "on, off, get";
        bool ok = action != NULL &&
                  (strcmp(action, "on") == 0 || strcmp(action, "off") == 0 ||
                   strcmp(action, "get") == 0 ||
                   (log && strcmp(action, "print") == 0));
        if (!ok) {
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_BAD_REQUEST,
                                      "bad_request",
                                      "%s needs \"action\": one of %s",
                                      cmd,
                                      choices);
            return false;
        }
        allowed = "command action";
        json_t *n = json_object_get(b, "n");
        if (log && n != NULL) {
            if (strcmp(action, "on") != 0 || !json_is_integer(n) ||
                json_integer_value(n) < 1 ||
                json_integer_value(n) > CTRACE_SYS_LOG_MAX) {
                ctrace__admin_reply_error(rq,
                                          MHD_HTTP_BAD_REQUEST,
                                          "bad_request",
                                          "\"n\" goes with log on: an integer "
                                          "from 1 to %d",
                                          CTRACE_SYS_LOG_MAX);
                return false;
            }
            allowed = "command action n";
        }
    } else {
        ctrace__admin_reply_error(rq,
                                  MHD_HTTP_BAD_REQUEST,
                                  "bad_request",
                                  "unknown command \"%.40s\"; the commands are "
                                  "suspend, resume, trace, log, statistics",
                                  cmd);
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v)
    {
        /* Whole words of `allowed` only. */
        size_t len = strlen(key);
        bool ok = false;
        for (const char *p = allowed; *p != '\0' && !ok;) {
            size_t w = strcspn(p, " ");
            ok = w == len && strncmp(p, key, len) == 0;
            p += w;
            while (*p == ' ')
                p++;
        }
        if (!ok) {
            ctrace__admin_reply_error(rq,
                                      MHD_HTTP_BAD_REQUEST,
                                      "bad_request",
                                      "unknown field \"%.40s\" for %s",
                                      key,
                                      cmd);
            return false;
        }
    }
    return true;
}

void ctrace__admin_sys(struct request *rq)
{
    json_t *body = ctrace__admin_body_json(rq, false);
    if (body == NULL)
        return;
    if (!check_sys(rq, body) || !find_server(rq)) {
        json_decref(body);
        return;
    }
    rq->args = body;
    ctrace__admin_run_job(rq, sys_job);
}
