/* control_cmds.c: dcclient's control verbs (docs/control-protocol.md).
 *
 * The ctl_cmds table gives each command its argument spec; ctl_check_args
 * validates names, types and presence before a handler runs, so handlers
 * never re-check. A handler returns its result, or NULL with r->err set
 * (message and code), or NULL with r->deferred set when it answers later
 * (connect, disconnect, list, download) or has answered already (quit).
 */
#include "client/control_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/fixture.h"

/* ---- commands ------------------------------------------------------------ */

static json_t *cmd_ping(struct dcc_ctl *t, struct ctl_req *r)
{
    (void)t;
    (void)r;
    return json_pack("{s:b}", "pong", 1);
}

static json_t *cmd_connect(struct dcc_ctl *t, struct ctl_req *r)
{
    const char *names[] = {"nick", "password"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(r->args, names[i]);
        if (v && dcc_client_set_text(t->client, names[i], json_string_value(v), r->err) < 0)
            return NULL;
    }
    if (dcc_client_connect(t->client, json_string_value(json_object_get(r->args, "url")), r->err) < 0)
        return NULL;
    dcc_ctl_resolve(&t->connect, NULL, "superseded by a newer connect", "connect-failed");
    t->connect.chan = r->chan;
    t->connect.id = json_incref(r->id);
    r->deferred = true;
    return NULL;
}

static json_t *cmd_disconnect(struct dcc_ctl *t, struct ctl_req *r)
{
    if (t->disconnect.id) {
        ctl_fail(r, "not-connected", "already disconnecting");
        return NULL;
    }
    /* Registered first: the DISCONNECTED event may come synchronously. */
    t->disconnect.chan = r->chan;
    t->disconnect.id = json_incref(r->id);
    r->deferred = true;
    if (dcc_client_disconnect(t->client, r->err) < 0) {
        json_decref(t->disconnect.id);
        t->disconnect.id = NULL;
        t->disconnect.chan = NULL;
        r->deferred = false;
    }
    return NULL;
}

static json_t *cmd_say(struct dcc_ctl *t, struct ctl_req *r)
{
    if (dcc_client_say(t->client, json_string_value(json_object_get(r->args, "text")), r->err) < 0)
        return NULL;
    return json_object();
}

static json_t *cmd_pm(struct dcc_ctl *t, struct ctl_req *r)
{
    if (dcc_client_pm(t->client, json_string_value(json_object_get(r->args, "nick")),
                      json_string_value(json_object_get(r->args, "text")), r->err) < 0)
        return NULL;
    return json_object();
}

/* One flood line: "flood <i> " padded with x to size bytes. */
static int ctl_flood_line(struct dcc_client *c, const char *nick, long i, long size, char *err)
{
    char *text = malloc((size_t)size + 1);
    if (!text)
        return dcc_errc(err, "internal", "out of memory");
    int k = snprintf(text, (size_t)size + 1, "flood %ld ", i);
    memset(text + k, 'x', (size_t)(size - k));
    text[size] = '\0';
    int rc = nick ? dcc_client_pm(c, nick, text, err) : dcc_client_say(c, text, err);
    free(text);
    return rc;
}

void dcc_ctl_flood_free(struct dcc_ctl *t)
{
    if (!t->flood)
        return;
    event_free(t->flood->ev);
    free(t->flood->nick);
    free(t->flood);
    t->flood = NULL;
}

static void ctl_flood_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ctl_flood *f = arg;
    struct dcc_ctl *t = f->t;
    char err[DCC_ERR_LEN] = "";
    if (ctl_flood_line(t->client, f->nick, f->sent, f->size, err) == 0)
        f->sent++;
    if (*err || f->sent == f->count) {
        json_t *ev = json_pack("{s:s, s:i}", "event", "flood.done", "sent", (int)f->sent);
        if (ev && *err)
            json_object_set_new(ev, "error", json_string(err));
        dcc_ctl_flood_free(t);
        dcc_ctl_broadcast(t, ev);
        return;
    }
    evtimer_add(f->ev, &f->every);
}

/* A flood (fault): count chat lines, or PMs to nick, of size bytes each,
 * so a hub meets a client that sends more than it should: all at once, or
 * one per interval ms (then replied at once, and `flood.done` at the end). */
static json_t *cmd_flood(struct dcc_ctl *t, struct ctl_req *r)
{
    json_t *jc = json_object_get(r->args, "count"), *js = json_object_get(r->args, "size");
    json_t *ji = json_object_get(r->args, "interval");
    const char *nick = json_string_value(json_object_get(r->args, "nick"));
    json_int_t count = json_integer_value(jc), size = js ? json_integer_value(js) : 64;
    json_int_t interval = ji ? json_integer_value(ji) : 0;
    if (interval < 0 || interval > 60000) {
        ctl_fail(r, "bad-request", "interval: %lld is out of range 0..60000 (ms)", (long long)interval);
        return NULL;
    }
    if (t->flood) {
        ctl_fail(r, "bad-request", "a flood is already under way");
        return NULL;
    }
    if (count < 1 || count > 100000) {
        ctl_fail(r, "bad-request", "count: %lld is out of range 1..100000", (long long)count);
        return NULL;
    }
    if (size < 16 || size > 1048576) {
        ctl_fail(r, "bad-request", "size: %lld is out of range 16..1048576", (long long)size);
        return NULL;
    }
    if (interval) {
        struct ctl_flood *f = calloc(1, sizeof *f);
        if (!f || (nick && !(f->nick = strdup(nick))) || !(f->ev = evtimer_new(t->base, ctl_flood_cb, f))) {
            if (f)
                free(f->nick);
            free(f);
            ctl_fail(r, "internal", "out of memory");
            return NULL;
        }
        *f = (struct ctl_flood){.t = t, .ev = f->ev, .count = (long)count, .size = (long)size, .nick = f->nick,
                                .every = {interval / 1000, (long)(interval % 1000) * 1000}};
        t->flood = f;
        evtimer_add(f->ev, &f->every);
        return json_pack("{s:I}", "queued", count);
    }
    json_int_t sent = 0;
    while (sent < count && ctl_flood_line(t->client, nick, (long)sent, (long)size, r->err) == 0)
        sent++;
    if (sent == 0)
        return NULL;
    return json_pack("{s:I}", "sent", sent);
}

static json_t *cmd_raw(struct dcc_ctl *t, struct ctl_req *r)
{
    if (dcc_client_raw(t->client, json_string_value(json_object_get(r->args, "line")), r->err) < 0)
        return NULL;
    return json_object();
}

static void ctl_add_user(const struct dcc_user *u, void *arg)
{
    json_array_append_new(arg, dcc_ctl_user_json(u));
}

static int ctl_nick_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "nick")),
                  json_string_value(json_object_get(*(json_t *const *)b, "nick")));
}

static json_t *cmd_users(struct dcc_ctl *t, struct ctl_req *r)
{
    (void)r;
    json_t *arr = json_array();
    dcc_client_foreach_user(t->client, ctl_add_user, arr);
    /* Sorted by nick, so the reply is the same whatever the hash order. */
    size_t n = json_array_size(arr);
    json_t **items = calloc(n ? n : 1, sizeof *items);
    json_t *sorted = json_array();
    for (size_t i = 0; items && i < n; i++)
        items[i] = json_array_get(arr, i);
    if (items)
        qsort(items, n, sizeof *items, ctl_nick_cmp);
    for (size_t i = 0; items && i < n; i++)
        json_array_append(sorted, items[i]);
    free(items);
    json_decref(arr);
    return json_pack("{s:o}", "users", sorted);
}

static json_t *ctl_value_json(const struct dcc_value *v)
{
    switch (v->type) {
    case DCC_TYPE_STRING: return dc_jsonl_str(v->u.s);
    case DCC_TYPE_INT: return json_integer(v->u.i);
    case DCC_TYPE_INT64: return json_integer(v->u.i64);
    case DCC_TYPE_DOUBLE: return json_real(v->u.d);
    case DCC_TYPE_BOOL: return json_boolean(v->u.b);
    }
    return json_null();
}

static json_t *cmd_get(struct dcc_ctl *t, struct ctl_req *r)
{
    const char *name = json_string_value(json_object_get(r->args, "name"));
    struct dcc_value v;
    if (dcc_client_get(t->client, name, &v, r->err) < 0)
        return NULL;
    return json_pack("{s:s,s:s,s:o}", "name", name, "type", dcc_type_name(v.type), "value", ctl_value_json(&v));
}

static const char *ctl_json_type(int type)
{
    switch (type) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static json_t *cmd_set(struct dcc_ctl *t, struct ctl_req *r)
{
    const char *name = json_string_value(json_object_get(r->args, "name"));
    json_t *j = json_object_get(r->args, "value");
    const struct dcc_setting_info *info = dcc_setting_find(name);
    if (!info) {
        ctl_fail(r, "unknown-setting", "unknown setting '%s'", name);
        return NULL;
    }
    /* The JSON type must match: no "5" for an int. */
    struct dcc_value v = {.type = info->type};
    bool ok = false;
    switch (info->type) {
    case DCC_TYPE_STRING:
        ok = json_is_string(j), v.u.s = json_string_value(j);
        break;
    case DCC_TYPE_INT:
        ok = json_is_integer(j) && json_integer_value(j) >= INT32_MIN && json_integer_value(j) <= INT32_MAX;
        v.u.i = (int)json_integer_value(j);
        break;
    case DCC_TYPE_INT64:
        ok = json_is_integer(j), v.u.i64 = json_integer_value(j);
        break;
    case DCC_TYPE_DOUBLE:
        ok = json_is_number(j), v.u.d = json_number_value(j);
        break;
    case DCC_TYPE_BOOL:
        ok = json_is_boolean(j), v.u.b = json_is_true(j);
        break;
    }
    if (!ok) {
        ctl_fail(r, "bad-value", "setting '%s' is of type %s, not %s", name, dcc_type_name(info->type),
                 ctl_json_type(j ? (int)json_typeof(j) : JSON_NULL));
        return NULL;
    }
    return dcc_client_set(t->client, name, &v, r->err) < 0 ? NULL : json_object();
}

static json_t *cmd_settings(struct dcc_ctl *t, struct ctl_req *r)
{
    (void)r;
    json_t *arr = json_array();
    for (size_t i = 0; i < dcc_setting_count(); i++) {
        const struct dcc_setting_info *info = dcc_setting_at(i);
        struct dcc_value v;
        dcc_client_get(t->client, info->name, &v, NULL);
        json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:s,s:s}", "name", info->name, "type",
                                             dcc_type_name(info->type), "value", ctl_value_json(&v),
                                             "default", info->def, "description", info->description));
    }
    return json_pack("{s:o}", "settings", arr);
}

static json_t *cmd_share(struct dcc_ctl *t, struct ctl_req *r)
{
    const char *path = json_string_value(json_object_get(r->args, "path"));
    if (dcc_client_share(t->client, path, r->err) < 0)
        return NULL;
    return json_pack("{s:s}", "path", path);
}

/* Remember a request answered when transfer xid ends. */
static json_t *ctl_defer(struct dcc_ctl *t, struct ctl_req *r, long xid, const char *path)
{
    struct ctl_xpending *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path ? path : ""))) {
        free(p);
        ctl_fail(r, "internal", "out of memory");
        return NULL;
    }
    p->xid = xid;
    p->chan = r->chan;
    p->id = json_incref(r->id);
    p->next = t->xpending;
    t->xpending = p;
    r->deferred = true;
    return NULL;
}

static json_t *cmd_list(struct dcc_ctl *t, struct ctl_req *r)
{
    long xid = dcc_client_list(t->client, json_string_value(json_object_get(r->args, "nick")), r->err);
    return xid < 0 ? NULL : ctl_defer(t, r, xid, json_string_value(json_object_get(r->args, "path")));
}

static json_t *cmd_download(struct dcc_ctl *t, struct ctl_req *r)
{
    struct dcc_download_req q = {
        .nick = json_string_value(json_object_get(r->args, "nick")),
        .path = json_string_value(json_object_get(r->args, "path")),
        .tth = json_string_value(json_object_get(r->args, "tth")),
        .target_dir = json_string_value(json_object_get(r->args, "target_dir")),
        .name = json_string_value(json_object_get(r->args, "name")),
    };
    long xid = dcc_client_download(t->client, &q, r->err);
    return xid < 0 ? NULL : ctl_defer(t, r, xid, NULL);
}

/* Fixture files for scenarios (proto/fixture.h: the bytes dcharness's
 * `fixture` step writes too): size bytes from a seeded xorshift64* stream,
 * or with text=true numbered text lines. Blocks the client while writing;
 * meant for test set-up. A path ending in '/' creates that directory. */
static json_t *cmd_mkfile(struct dcc_ctl *t, struct ctl_req *r)
{
    (void)t;
    const char *path = json_string_value(json_object_get(r->args, "path"));
    json_int_t size = json_integer_value(json_object_get(r->args, "size"));
    json_t *seedj = json_object_get(r->args, "seed"), *textj = json_object_get(r->args, "text");
    if (textj && !json_is_boolean(textj)) {
        ctl_fail(r, "bad-request", "mkfile: argument 'text' must be a boolean");
        return NULL;
    }
    if (size < 0 || size > DC_FIXTURE_MAX_SIZE) {
        ctl_fail(r, "bad-request", "mkfile: size must be 0..2^40");
        return NULL;
    }
    char why[512];
    size_t plen = strlen(path);
    if (dc_fixture_write(path, size, seedj ? (uint64_t)json_integer_value(seedj) : 1, json_is_true(textj), why,
                         sizeof why) < 0) {
        ctl_fail(r, "internal", "mkfile: %s", why);
        return NULL;
    }
    return json_pack("{s:s,s:I}", "path", path, "size", plen && path[plen - 1] == '/' ? (json_int_t)0 : size);
}

static json_t *cmd_quit(struct dcc_ctl *t, struct ctl_req *r)
{
    dcc_ctl_reply_ok(r->chan, r->id, NULL);
    r->deferred = true;    /* replied already: the reply must precede the exit */
    dcc_ctl_quit(t);
    return NULL;
}

#define CTL_MAX_ARGS 5

/* An argument: name, JSON type (-1: any), required. */
struct ctl_arg {
    const char *name;
    int type;
    bool required;
};

static const struct ctl_cmd {
    const char *name;
    json_t *(*fn)(struct dcc_ctl *t, struct ctl_req *r);
    struct ctl_arg args[CTL_MAX_ARGS];
} ctl_cmds[] = {
    {"ping", cmd_ping, {{0}}},
    {"connect", cmd_connect, {{"url", JSON_STRING, true}, {"nick", JSON_STRING, false}, {"password", JSON_STRING, false}}},
    {"disconnect", cmd_disconnect, {{0}}},
    {"say", cmd_say, {{"text", JSON_STRING, true}}},
    {"pm", cmd_pm, {{"nick", JSON_STRING, true}, {"text", JSON_STRING, true}}},
    {"flood", cmd_flood, {{"count", JSON_INTEGER, true}, {"size", JSON_INTEGER, false}, {"nick", JSON_STRING, false},
                          {"interval", JSON_INTEGER, false}}},
    {"users", cmd_users, {{0}}},
    {"raw", cmd_raw, {{"line", JSON_STRING, true}}},
    {"get", cmd_get, {{"name", JSON_STRING, true}}},
    {"set", cmd_set, {{"name", JSON_STRING, true}, {"value", -1, true}}},
    {"settings", cmd_settings, {{0}}},
    {"share", cmd_share, {{"path", JSON_STRING, true}}},
    {"list", cmd_list, {{"nick", JSON_STRING, true}, {"path", JSON_STRING, false}}},
    {"download", cmd_download, {{"nick", JSON_STRING, true}, {"path", JSON_STRING, false}, {"tth", JSON_STRING, false},
                                {"target_dir", JSON_STRING, true}, {"name", JSON_STRING, false}}},
    {"mkfile", cmd_mkfile, {{"path", JSON_STRING, true}, {"size", JSON_INTEGER, false}, {"seed", JSON_INTEGER, false},
                            {"text", -1, false}}},
    {"quit", cmd_quit, {{0}}},
};


/* Every given argument known and of the right type; every required one given. */
static int ctl_check_args(const struct ctl_cmd *cmd, json_t *args, char *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(args, key, v) {
        const struct ctl_arg *a = NULL;
        for (size_t i = 0; i < CTL_MAX_ARGS && cmd->args[i].name; i++)
            if (strcmp(cmd->args[i].name, key) == 0)
                a = &cmd->args[i];
        if (!a)
            return dcc_errc(err, "bad-request", "%s: unknown argument '%s'", cmd->name, key);
        if (a->type >= 0 && (int)json_typeof(v) != a->type)
            return dcc_errc(err, "bad-request", "%s: argument '%s' must be %s", cmd->name, key, ctl_json_type(a->type));
    }
    for (size_t i = 0; i < CTL_MAX_ARGS && cmd->args[i].name; i++)
        if (cmd->args[i].required && !json_object_get(args, cmd->args[i].name))
            return dcc_errc(err, "bad-request", "%s: missing argument '%s'", cmd->name, cmd->args[i].name);
    return 0;
}

void dcc_ctl_request(struct dcc_chan *ch, const struct dc_jsonl_req *q)
{
    struct ctl_req r = {.chan = ch, .id = q->id, .args = q->args};
    const struct ctl_cmd *cmd = NULL;
    if (!q->cmd) {
        dcc_ctl_reply_err(ch, q->id, q->err, DC_JSONL_BAD_REQUEST);
        return;
    }
    for (size_t i = 0; i < sizeof ctl_cmds / sizeof ctl_cmds[0]; i++)
        if (strcmp(ctl_cmds[i].name, q->cmd) == 0)
            cmd = &ctl_cmds[i];
    if (!cmd) {
        ctl_fail(&r, "unknown-command", "unknown command '%s'", q->cmd);
    } else if (ctl_check_args(cmd, r.args, r.err) == 0) {
        json_t *result = cmd->fn(ch->ctl, &r);
        if (result)
            dcc_ctl_reply_ok(ch, r.id, result);
        if (result || r.deferred)
            return;
    }
    dcc_ctl_reply_err(ch, r.id, r.err[0] ? r.err : "failed", dcc_err_code(r.err));
}
