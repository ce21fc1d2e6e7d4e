/* trace.c: the --trace JSON-lines file (see trace.h), written from hooks. */
#include "fakehub/trace.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "fakehub/hub.h"

/* Owned by the hub (hub->trace). */
struct fh_trace {
    struct fh_hub *hub;   /* borrowed */
    FILE *f;              /* owned */
};

json_t *fh_json_bytes(const char *s, size_t n, bool *latin1)
{
    json_t *j = json_stringn(s, n);
    *latin1 = false;
    if (j)
        return j;
    /* Not UTF-8: one code point per byte, so the bytes stay recoverable. */
    char *u = malloc(2 * n + 1);
    if (!u)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x80) {
            u[k++] = (char)b;
        } else {
            u[k++] = (char)(0xC0 | b >> 6);
            u[k++] = (char)(0x80 | (b & 0x3F));
        }
    }
    j = json_stringn(u, k);
    free(u);
    *latin1 = j != NULL;
    return j;
}

static void fh_trace_put(struct fh_trace *t, json_t *o)
{
    if (!o)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    json_object_set_new(o, "t", json_real((double)ts.tv_sec + ts.tv_nsec / 1e9));
    /* ASCII only: U+0085 and U+2028 from latin-1 bytes would split lines for some readers. */
    if (json_dumpf(o, t->f, JSON_COMPACT | JSON_ENSURE_ASCII) == 0)
        fputc('\n', t->f);
    json_decref(o);
}

/* {"event":name,"conn":id,"nick":...,"proto":...[,"tls":true]} for a user
 * event. Lines are recorded in clear text either way; "tls" says how they
 * travelled (absent on plain connections, so plain traces are unchanged). */
static json_t *fh_trace_user_event(const char *name, const struct fh_conn *c)
{
    const char *nick = fh_conn_nick(c);
    bool l1;
    json_t *o = json_pack("{s:s, s:I, s:o, s:s}", "event", name, "conn", (json_int_t)fh_conn_id(c),
                          "nick", nick ? fh_json_bytes(nick, strlen(nick), &l1) : json_null(),
                          "proto", fh_proto_name(fh_conn_proto(c)));
    if (o && fh_conn_tls(c))
        json_object_set_new(o, "tls", json_true());
    return o;
}

static void fh_trace_line(const struct fh_conn *c, enum fh_dir dir, const char *line, size_t len,
                          void *ctx)
{
    struct fh_trace *t = ctx;
    bool latin1;
    json_t *o = fh_trace_user_event("line", c);
    json_t *l = fh_json_bytes(line, len, &latin1);
    if (!o || !l) {
        json_decref(o);
        json_decref(l);
        return;
    }
    json_object_del(o, "event");
    json_object_set_new(o, "dir", json_string(dir == FH_DIR_IN ? "in" : "out"));
    json_object_set_new(o, "line", l);
    if (latin1)
        json_object_set_new(o, "latin1", json_true());
    fh_trace_put(t, o);
}

static void fh_trace_login(const struct fh_conn *c, void *ctx)
{
    fh_trace_put(ctx, fh_trace_user_event("login", c));
}

static void fh_trace_logout(const struct fh_conn *c, const char *reason, void *ctx)
{
    json_t *o = fh_trace_user_event("logout", c);
    if (o)
        json_object_set_new(o, "reason", json_string(reason));
    fh_trace_put(ctx, o);
}

/* {"event":"violation","conn","nick","proto","rule","section","detail"?,
 * "action","line"}: what a client did wrong, next to its "in" line. */
static void fh_trace_violation(const struct fh_conn *c, const struct fh_violation *v, void *ctx)
{
    bool l1;
    json_t *o = fh_trace_user_event("violation", c);
    json_t *l = fh_json_bytes(v->line, v->len, &l1);
    if (!o || !l) {
        json_decref(o);
        json_decref(l);
        return;
    }
    json_object_set_new(o, "rule", json_string(v->rule));
    json_object_set_new(o, "section", json_string(v->section));
    if (v->detail)
        json_object_set_new(o, "detail", fh_json_bytes(v->detail, strlen(v->detail), &l1));
    json_object_set_new(o, "action", json_string(v->action));
    json_object_set_new(o, "line", l);
    fh_trace_put(ctx, o);
}

static const char *fh_signame(int signo)
{
    switch (signo) {
    case SIGHUP: return "HUP";
    case SIGINT: return "INT";
    case SIGTERM: return "TERM";
    case SIGUSR1: return "USR1";
    default: return "?";
    }
}

static void fh_trace_signal(int signo, void *ctx)
{
    fh_trace_put(ctx, json_pack("{s:s, s:s}", "event", "signal", "signal", fh_signame(signo)));
}

static void fh_trace_shutdown(void *ctx)
{
    fh_trace_put(ctx, json_pack("{s:s}", "event", "shutdown"));
}

void fh_trace_hook_called(struct fh_trace *t, const char *set_name, const char *hook)
{
    fh_trace_put(t, json_pack("{s:s, s:s, s:s}", "event", "hook_called", "hook", hook, "set",
                              set_name ? set_name : "?"));
}

void fh_trace_record(struct fh_trace *t, json_t *o)
{
    fh_trace_put(t, o);
}

void fh_trace_flush(struct fh_trace *t)
{
    fflush(t->f);
}

struct fh_trace *fh_trace_new(struct fh_hub *hub, const char *path, char *err)
{
    struct fh_trace *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, FH_ERR_LEN, "out of memory");
        return NULL;
    }
    t->hub = hub;
    if (!(t->f = fopen(path, "w"))) {
        snprintf(err, FH_ERR_LEN, "--trace %s: %s", path, strerror(errno));
        free(t);
        return NULL;
    }
    const struct fh_hooks hooks = {
        .version = FH_HOOKS_VERSION, .size = sizeof hooks, .name = "trace",
        .login = fh_trace_login, .logout = fh_trace_logout, .line = fh_trace_line,
        .signal = fh_trace_signal, .shutdown = fh_trace_shutdown,
        .violation = fh_trace_violation,
    };
    if (fh_hub_add_hooks(hub, &hooks, t) < 0) {
        snprintf(err, FH_ERR_LEN, "cannot register the trace hooks");
        fh_trace_free(t);
        return NULL;
    }
    return t;
}

void fh_trace_free(struct fh_trace *t)
{
    if (!t)
        return;
    fclose(t->f);
    free(t);
}
