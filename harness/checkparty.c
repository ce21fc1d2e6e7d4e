/* checkparty.c: check-party's table of checks, how one check runs, the
 * helpers the checks use, and the output (see checkparty.h).
 */
#include "harness/checkparty.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/cli_int.h"
#include "proto/fixture.h"

/* One check: a row of the table. */
struct check {
    const char *name;
    unsigned cap;     /* the capability it checks: run only when the profile claims it */
    unsigned flags;   /* enum ck_flags */
    ck_fn *fn;
};

/* Every check, in the order they run and print (core first). A new check
 * is a row here and a function in checks_core.c or checks_caps.c. */
static const struct check checks[] = {
    {"ready", HR_CAP_CORE, 0, ck_ready},
    {"requests", HR_CAP_CORE, 0, ck_requests},
    {"not-connected", HR_CAP_CORE, 0, ck_not_connected},
    {"connect", HR_CAP_CORE, CK_BOB, ck_connect_check},
    {"bad-url", HR_CAP_CORE, 0, ck_bad_url},
    {"connect-failed", HR_CAP_CORE, 0, ck_connect_failed},
    {"nick-taken", HR_CAP_CORE, CK_BOB, ck_nick_taken},
    {"users", HR_CAP_CORE, CK_BOB, ck_users},
    {"user-events", HR_CAP_CORE, CK_BOB, ck_user_events},
    {"chat", HR_CAP_CORE, CK_BOB, ck_chat},
    {"pm", HR_CAP_CORE, CK_BOB, ck_pm},
    {"not-online", HR_CAP_CORE, 0, ck_not_online},
    {"disconnect", HR_CAP_CORE, CK_BOB, ck_disconnect},
    {"settings", HR_CAP_CORE, 0, ck_settings},
    {"quit", HR_CAP_CORE, CK_BOB, ck_quit},
    {"stop-signal", HR_CAP_CORE, CK_BOB, ck_stop},
    {"stdin-eof", HR_CAP_CORE, CK_BOB, ck_eof},
    {"share", HR_CAP_SHARE, 0, ck_share},
    {"upload", HR_CAP_SHARE, CK_BOB, ck_serve},
    {"list", HR_CAP_LIST, CK_BOB, ck_list},
    {"download", HR_CAP_DOWNLOAD, CK_BOB, ck_download},
    {"download-errors", HR_CAP_DOWNLOAD, CK_BOB, ck_download_errors},
    {"resume", HR_CAP_RESUME, CK_BOB, ck_resume},
    {"compress", HR_CAP_COMPRESS, CK_BOB, ck_compress},
    {"passive", HR_CAP_PASSIVE, CK_BOB, ck_passive},
    {"password", HR_CAP_PASSWORD, CK_REG_ALICE, ck_password},
    {"live-settings", HR_CAP_LIVE_SETTINGS, CK_BOB, ck_live_settings},
    {"user-fields", HR_CAP_USER_FIELDS, CK_BOB, ck_user_fields},
    {"op", HR_CAP_OP, CK_BOB | CK_REG_BOB_OP, ck_op},
    {"tls", HR_CAP_TLS, CK_TLS, ck_tls},
};

/* Contract error codes (docs/parties.md, "Error codes"). */
static const char *const codes[] = {
    "bad-request", "unknown-command", "unsupported", "not-connected", "already-connected", "not-online",
    "nick-taken", "bad-password", "password-required", "connect-failed", "bad-url", "unknown-setting",
    "bad-value", "no-such-path", "not-a-file", "no-such-dir", "refused", "transfer-failed", "timeout",
    "keyprint-mismatch", "internal", NULL};

/* Contract fields of the events (docs/parties.md): checked on every event
 * a check takes and on those left over at its end. */
struct field {
    const char *name;
    enum ck_type type;
    bool required;
};
#define USER_FIELDS {"nick", CK_STR, true}, {"op", CK_BOOL, false}, {"share", CK_INT, false}, \
    {"description", CK_STR, false}, {"email", CK_STR, false}, {"tag", CK_STR, false}
static const struct {
    const char *event;
    struct field fields[12];
} schema[] = {
    {"hub.connected", {{"nick", CK_STR, true}, {"url", CK_STR, false}, {"protocol", CK_STR, false}, {"tls", CK_BOOL, false}}},
    {"hub.disconnected", {{"reason", CK_STR, true}, {"logged_in", CK_BOOL, false}}},
    {"user.join", {USER_FIELDS}},
    {"user.update", {USER_FIELDS}},
    {"user.leave", {{"nick", CK_STR, true}}},
    {"chat", {{"from", CK_STR, true}, {"text", CK_STR, true}}},
    {"pm", {{"from", CK_STR, true}, {"to", CK_STR, false}, {"text", CK_STR, true}}},
    {"share.done", {{"files_hashed", CK_INT, false}, {"files", CK_INT, false}, {"bytes", CK_INT, false}}},
    {"transfer.done", {{"nick", CK_STR, true}, {"path", CK_STR, false}, {"size", CK_INT, false}, {"tth", CK_STR, false},
                       {"file", CK_STR, false}, {"list", CK_BOOL, false}, {"resumed_from", CK_INT, false},
                       {"received", CK_INT, false}, {"compressed", CK_BOOL, false}, {"tls", CK_BOOL, false},
                       {"seconds", CK_NUM, false}}},
};

/* ---- helpers for the checks ---- */

double ck_secs(const struct ck *k, double s)
{
    double t = hr_now() + s * k->o->mult;
    return t < k->r.deadline ? t : k->r.deadline;
}

static const char *type_name(enum ck_type t)
{
    static const char *const names[] = {"a string", "an integer", "true/false", "a number", "an object", "an array"};
    return names[t];
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: case JSON_FALSE: return "true/false";
    case JSON_NULL: return "null";
    }
    return "?";
}

static bool has_type(const json_t *v, enum ck_type t)
{
    switch (t) {
    case CK_STR: return json_is_string(v);
    case CK_INT: return json_is_integer(v);
    case CK_BOOL: return json_is_boolean(v);
    case CK_NUM: return json_is_number(v);
    case CK_OBJ: return json_is_object(v);
    case CK_ARR: return json_is_array(v);
    }
    return false;
}

json_t *ck_field(struct ck *k, json_t *obj, const char *what, const char *f, enum ck_type t, bool required)
{
    json_t *v = json_object_get(obj, f);
    if (!v) {
        if (required)
            ck_fail(k, "missing field: %s has no \"%s\" (%s)", what, f, type_name(t));
        return NULL;
    }
    if (!has_type(v, t)) {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        ck_fail(k, "wrong field type: %s has \"%s\": %.80s, %s; the contract says %s", what, f, s ? s : "?",
                json_type_name(v), type_name(t));
        free(s);
        return NULL;
    }
    return v;
}

bool ck_text(struct ck *k, json_t *obj, const char *what, const char *f, const char *want)
{
    json_t *v = ck_field(k, obj, what, f, CK_STR, true);
    if (!v)
        return false;
    if (strcmp(json_string_value(v), want)) {
        char *got = json_dumps(v, JSON_ENCODE_ANY), *exp = ck_quote(want);
        ck_fail(k, "%s has \"%s\": %s, not %s", what, f, got ? got : "?", exp ? exp : "?");
        free(got);
        free(exp);
        return false;
    }
    return true;
}

char *ck_quote(const char *s)
{
    json_t *j = json_string(s);
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return q ? q : strdup("(not UTF-8)");
}

/* An event's fields against the schema. */
static void lint_event(struct ck *k, struct party *p, json_t *ev)
{
    const char *name = json_string_value(json_object_get(ev, "event"));
    for (size_t i = 0; name && i < sizeof schema / sizeof *schema; i++) {
        if (strcmp(schema[i].event, name))
            continue;
        char what[160];
        snprintf(what, sizeof what, "%s's %s event", p->name, name);
        for (const struct field *f = schema[i].fields; f->name; f++)
            ck_field(k, ev, what, f->name, f->type, f->required);
    }
}

static bool event_is(json_t *ev, const char *name, const char *field, const char *value)
{
    if (strcmp(json_string_value(json_object_get(ev, "event")), name))
        return false;
    if (!field)
        return true;
    const char *v = json_string_value(json_object_get(ev, field));
    return v && !strcmp(v, value);
}

bool ck_pending(struct party *p, const char *name, const char *field, const char *value)
{
    for (size_t i = 0; i < json_array_size(p->pending); i++)
        if (event_is(json_array_get(p->pending, i), name, field, value))
            return true;
    return false;
}

json_t *ck_event(struct ck *k, struct party *p, const char *name, const char *field, const char *value, double secs)
{
    double until = ck_secs(k, secs);
    for (size_t checked = 0;;) {
        for (; checked < json_array_size(p->pending); checked++) {
            json_t *ev = json_array_get(p->pending, checked);
            if (event_is(ev, name, field, value)) {
                json_incref(ev);
                json_array_remove(p->pending, checked);
                lint_event(k, p, ev);
                return ev;
            }
        }
        if (run_stop_waiting(&k->r, until) || party_silent(p))
            return NULL;
        proc_pump(&k->r, until);
    }
}

json_t *ck_expect(struct ck *k, struct party *p, const char *name, const char *field, const char *value)
{
    json_t *ev = ck_event(k, p, name, field, value, CK_TIMEOUT);
    if (!ev && !ck_failed(k)) {
        k->r.focus = p;
        ck_fail(k, "missing event: %s saw no %s%s%s%s%s within %.1fs%s", p->name, name, field ? " with " : "",
                field ? field : "", field ? "=" : "", field ? value : "", CK_TIMEOUT * k->o->mult,
                party_silent(p) ? " (its stdout closed)" : "");
    }
    return ev;
}

static bool known_code(const char *code)
{
    for (const char *const *c = codes; *c; c++)
        if (!strcmp(*c, code))
            return true;
    return false;
}

/* The shape every reply must have; false recorded. */
static bool check_reply(struct ck *k, struct party *p, const char *cmd, json_t *reply)
{
    char what[160];
    snprintf(what, sizeof what, "%s's reply to %s", p->name, cmd);
    json_t *id = json_object_get(reply, "id");
    if (!json_is_integer(id)) {
        ck_fail(k, "wrong field type: %s echoes the id as %s, not as the integer it was sent", what, id ? json_type_name(id) : "nothing");
        return false;
    }
    json_t *ok = ck_field(k, reply, what, "ok", CK_BOOL, true);
    if (!ok)
        return false;
    if (json_is_true(ok))
        return ck_field(k, reply, what, "result", CK_OBJ, true) != NULL;
    json_t *code = ck_field(k, reply, what, "code", CK_STR, true);
    if (!ck_field(k, reply, what, "error", CK_STR, true) || !code)
        return false;
    if (!known_code(json_string_value(code))) {
        ck_fail(k, "unknown error code: %s has code \"%s\", which is none of the contract's", what, json_string_value(code));
        return false;
    }
    return true;
}

json_t *ck_call(struct ck *k, struct party *p, const char *cmd, json_t *args, double secs)
{
    if (ck_failed(k)) {
        json_decref(args);
        return NULL;
    }
    json_t *req = json_pack("{s:s}", "cmd", cmd);
    if (args)
        json_object_set_new(req, "args", args);
    char *text = json_dumps(req, JSON_COMPACT);
    json_t *reply = NULL;
    if (!party_request(&k->r, p, req, &reply, ck_secs(k, secs))) {
        if (ck_failed(k) && !k->r.interrupted)   /* say which request it was */
            dc_buf_appendf(&k->r.why, " (no reply to %.200s)", text);
        free(text);
        return NULL;
    }
    free(text);
    if (!check_reply(k, p, cmd, reply)) {
        json_decref(reply);
        return NULL;
    }
    return reply;
}

json_t *ck_ok(struct ck *k, struct party *p, const char *cmd, json_t *args, double secs)
{
    json_t *reply = ck_call(k, p, cmd, args, secs);
    if (reply && !json_is_true(json_object_get(reply, "ok"))) {
        ck_fail(k, "%s's %s failed: code %s (\"%s\")", p->name, cmd, json_string_value(json_object_get(reply, "code")),
                json_string_value(json_object_get(reply, "error")));
        json_decref(reply);
        return NULL;
    }
    return reply;
}

/* alice's connect said `unsupported` (a protocol or TLS she lacks): the
 * check cannot run here. True when it did. */
static bool connect_unsupported(struct ck *k, struct party *p, const char *cmd, json_t *reply)
{
    const char *code = json_string_value(json_object_get(reply, "code"));
    if (p != k->a || strcmp(cmd, "connect") || !code || strcmp(code, "unsupported") || (k->r.proto & HR_PROTO_TLS))
        return false;
    free(k->skip);
    if (asprintf(&k->skip, "alice's connect over %s says unsupported: \"%s\"", hr_proto_name(k->r.proto),
                 json_string_value(json_object_get(reply, "error"))) < 0)
        k->skip = NULL;
    k->proto_unsupported = true;
    return true;
}

bool ck_code(struct ck *k, struct party *p, const char *cmd, json_t *args, const char *code, const char *what)
{
    /* A login, or a list fetched first, may take its time to fail. */
    bool slow = !strcmp(cmd, "connect") || !strcmp(cmd, "list") || !strcmp(cmd, "download");
    json_t *reply = ck_call(k, p, cmd, args, slow ? CK_CONNECT_TIMEOUT : CK_TIMEOUT);
    if (!reply)
        return false;
    const char *got = json_string_value(json_object_get(reply, "code"));
    bool ok = false;
    if (json_is_true(json_object_get(reply, "ok")))
        ck_fail(k, "wrong error code: %s: %s's %s succeeded; the contract says it fails with code %s", what, p->name, cmd, code);
    else if (strcmp(got, code) && !connect_unsupported(k, p, cmd, reply))
        ck_fail(k, "wrong error code: %s: %s's %s failed with code %s (\"%s\"); the contract says %s", what, p->name, cmd,
                got, json_string_value(json_object_get(reply, "error")), code);
    else
        ok = !strcmp(got, code);
    json_decref(reply);
    return ok;
}

bool ck_connect(struct ck *k, struct party *p, const char *password)
{
    json_t *args = json_pack("{s:s,s:s}", "url", k->url, "nick", p->nick);
    if (password)
        json_object_set_new(args, "password", json_string(password));
    json_t *reply = ck_call(k, p, "connect", args, CK_CONNECT_TIMEOUT);
    if (!reply)
        return false;
    bool ok = json_is_true(json_object_get(reply, "ok"));
    if (!ok && !connect_unsupported(k, p, "connect", reply))
        ck_fail(k, "%s's connect to %s failed: code %s (\"%s\")", p->name, k->url, json_string_value(json_object_get(reply, "code")),
                json_string_value(json_object_get(reply, "error")));
    if (ok) {
        char what[96];
        snprintf(what, sizeof what, "%s's connect result", p->name);
        json_t *res = json_object_get(reply, "result");
        ck_field(k, res, what, "url", CK_STR, true);
        ck_text(k, res, what, "nick", p->nick);
        json_decref(ck_expect(k, p, "hub.connected", NULL, NULL));
    }
    json_decref(reply);
    return ok && !ck_failed(k);
}

bool ck_wait_exit(struct ck *k, struct party *p, double secs)
{
    double until = ck_secs(k, secs);
    while (!p->exited && !run_stop_waiting(&k->r, until))
        proc_pump(&k->r, until);
    return p->exited;
}

char *ck_path(struct ck *k, const char *rel)
{
    char *s;
    if (asprintf(&s, "%s/%s", k->r.dir, rel) < 0)
        abort();
    return s;
}

bool ck_bob_shares(struct ck *k, long long size, bool text)
{
    char *one = ck_path(k, "bobshare/one.bin"), *two = ck_path(k, "bobshare/sub/two.bin"), *dir = ck_path(k, "bobshare");
    char why[512];
    bool ok = dc_fixture_write(one, size, 7, text, why, sizeof why) == 0 && dc_fixture_write(two, 2000, 8, false, why, sizeof why) == 0;
    if (!ok)
        ck_fail(k, "cannot write bob's fixture files: %s", why);
    json_t *reply = ok ? ck_ok(k, k->b, "share", json_pack("{s:s}", "path", dir), CK_TIMEOUT) : NULL;
    json_decref(reply);
    if (reply)
        json_decref(ck_expect(k, k->b, "share.done", NULL, NULL));
    free(one);
    free(two);
    free(dir);
    return !ck_failed(k);
}

/* The user events alice reported, in order, from her log (it has every
 * stdout line): a user.join of a nick already joined (a later change is a
 * user.update), a user.update or user.leave of a nick not joined. Checks
 * take events out of order, so this is where the order is judged. */
static void lint_user_sequence(struct ck *k)
{
    struct party *a = &k->r.parties[1];
    size_t len;
    char *log = a->log_path[0] ? hr_read_file(a->log_path, &len) : NULL;
    json_t *joined = json_object();
    for (char *line = log, *next; line && *line && !ck_failed(k); line = next) {
        next = line + strcspn(line, "\n");
        if (*next)
            *next++ = '\0';
        char *j = strstr(line, " out| {");
        json_t *ev = j ? json_loads(j + 6, 0, NULL) : NULL;
        const char *name = json_string_value(json_object_get(ev, "event"));
        const char *nick = json_string_value(json_object_get(ev, "nick"));
        if (name && !strcmp(name, "hub.disconnected"))
            json_object_clear(joined);   /* a new login lists everyone anew */
        else if (name && nick && !strcmp(name, "user.join") && json_object_get(joined, nick))
            ck_fail(k, "alice reported a user.join of %s twice without a user.leave between (a change of a joined user is a user.update): %s",
                    nick, j + 6);
        else if (name && nick && !strcmp(name, "user.join"))
            json_object_set_new(joined, nick, json_true());
        else if (name && nick && (!strcmp(name, "user.update") || !strcmp(name, "user.leave")) && !json_object_get(joined, nick))
            ck_fail(k, "alice reported a %s of %s, who had no user.join: %s", name, nick, j + 6);
        else if (name && nick && !strcmp(name, "user.leave"))
            json_object_del(joined, nick);
        json_decref(ev);
    }
    json_decref(joined);
    free(log);
}

/* ---- running the checks ---- */

enum outcome { OUT_OK, OUT_FAIL, OUT_SKIP };

/* Start the run's parties as the scenario loop does (runner.c), all at
 * once; the hub URL for this protocol into k->url. */
static void start(struct ck *k)
{
    struct run *r = &k->r;
    for (size_t i = 0; i < k->s.nclients && !r->why.len; i++)
        if (!party_client_needs_hub(r, i))
            party_spawn_client(r, i);
    if (!r->why.len && party_start_hub(r) == 0)
        for (size_t i = 0; i < k->s.nclients && !r->why.len; i++)
            if (party_client_needs_hub(r, i))
                party_spawn_client(r, i);
    for (size_t i = 0; i < k->s.nclients && !r->why.len; i++)
        party_ready_client(r, i);
    r->started = !r->why.len;
    snprintf(k->url, sizeof k->url, "%s", r->hub_url);
}

/* One check for one protocol in dir. why and details (malloc'd) on failure
 * or skip; *started: alice and the hub came up. */
static enum outcome run_check(const struct hr_check_opts *o, const struct check *c, unsigned proto, const char *dir,
                              char **why, char **details, bool *started, bool *unsupported, bool *interrupted)
{
    struct ck *k = calloc(1, sizeof *k);
    if (!k)
        abort();
    k->o = o;
    static char alice[] = "alice", bob[] = "bob";   /* hr_client wants char *; never written */
    k->clients[0] = (struct hr_client){.name = alice, .nick = alice, .caps = o->party->caps};
    k->clients[1] = (struct hr_client){.name = bob, .nick = bob, .caps = o->peer->caps};
    static char pass[] = CK_PASSWORD;
    size_t nusers = 0;
    if (c->flags & CK_REG_ALICE)
        k->users[nusers++] = (struct hr_user){.nick = alice, .password = pass};
    if (c->flags & CK_REG_BOB_OP) {
        k->users[nusers++] = (struct hr_user){.nick = bob, .password = pass, .op = true};
        k->clients[1].password = pass;
    }
    k->s = (struct hr_scenario){.path = (char *)"check-party", .name = (char *)c->name, .protos = proto,
                                .needs = nusers ? HR_FEAT_REGISTERED_USERS : 0, .clients = k->clients,
                                .nclients = c->flags & CK_BOB ? 2 : 1, .users = k->users, .nusers = nusers};
    k->profiles[0] = o->party;
    k->profiles[1] = o->peer;
    k->ro = (struct hr_run_opts){.bin_dir = o->bin_dir, .profile = o->hub, .clients = k->profiles,
                                 .share_dir = o->share_dir, .timeout_mult = o->mult,
                                 .scenario_timeout_ms = 60000, .step_timeout_ms = 5000};
    unsigned p = c->flags & CK_TLS ? (proto == HR_PROTO_NMDC ? HR_PROTO_NMDCS : HR_PROTO_ADCS) : proto;
    run_init(&k->r, &k->s, p, dir, &k->ro);
    k->r.t0 = hr_now();
    k->r.deadline = k->r.t0 + 60 * o->mult;
    start(k);
    /* Up: the hub and alice's ready line (a failure right after it, such
     * as a stdout line that is not JSON, still lets later checks run). */
    *started = k->r.hub_url[0] && k->r.parties[1].ready;
    if (k->r.started) {
        k->a = &k->r.parties[1];
        k->b = k->s.nclients > 1 ? &k->r.parties[2] : NULL;
        if (k->b && !ck_connect(k, k->b, k->clients[1].password) && !ck_failed(k))
            ck_fail(k, "bob (dcclient) could not connect");
        if (!ck_failed(k))
            c->fn(k);
        for (size_t i = 0; !ck_failed(k) && i < json_array_size(k->a->pending); i++)
            lint_event(k, k->a, json_array_get(k->a->pending, i));   /* the events no check took */
    }
    run_teardown(&k->r);
    if (k->r.started && !ck_failed(k))
        lint_user_sequence(k);
    *interrupted = k->r.interrupted;
    *unsupported = k->proto_unsupported;
    enum outcome out = OUT_OK;
    if (k->r.why.len) {
        out = OUT_FAIL;
        *why = strdup(k->r.why.data);
        *details = run_details(&k->r);
    } else if (k->skip) {
        out = OUT_SKIP;
        *why = k->skip;
        k->skip = NULL;
    }
    free(k->skip);
    run_cleanup(&k->r);
    free(k);
    return out;
}

static void print_result(const struct hr_check_opts *o, const struct check *c, unsigned proto, enum outcome out,
                         const char *why, const char *details)
{
    char cap[32];
    hr_cap_names(c->cap, cap, sizeof cap);
    const char *pn = proto ? hr_proto_name(proto) : "-";
    if (o->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "check", c->name, "cap", cap, "proto", pn, "status",
                              out == OUT_OK ? "ok" : out == OUT_FAIL ? "fail" : "skip");
        if (why)
            json_object_set_new(j, "reason", json_string(why));
        if (details && o->verbose)
            json_object_set_new(j, "details", json_string(details));
        char *s = json_dumps(j, JSON_COMPACT);
        fprintf(o->out, "%s\n", s);
        free(s);
        json_decref(j);
    } else {
        fprintf(o->out, "%-14s %-16s %-5s %s%s%s%s\n", cap, c->name, pn, out == OUT_OK ? "ok" : out == OUT_FAIL ? "FAIL" : "skip",
                why ? (out == OUT_FAIL ? " " : " (") : "", why ? why : "", why && out == OUT_SKIP ? ")" : "");
        if (details && o->verbose)
            print_indented(o->out, details);
    }
    fflush(o->out);
}

static bool selected(const struct hr_check_opts *o, const struct check *c)
{
    return !o->only || strstr(c->name, o->only);
}

int hr_check_party(const struct hr_check_opts *o)
{
    int nfail = 0, nok = 0, nskip = 0, seq = 0;
    unsigned unsupported = 0;   /* protocols alice's connect refused as unsupported */
    bool stop = false, interrupted = false;
    if (!o->json)
        fprintf(o->out, "check-party: %s (%s) as alice, dcclient as bob, on fakehub\n", o->party->name, o->party->path);
    for (size_t i = 0; i < sizeof checks / sizeof *checks && !stop; i++) {
        const struct check *c = &checks[i];
        if (!selected(o, c))
            continue;
        if (!(o->party->caps & c->cap)) {
            char cap[32], why[64];
            snprintf(why, sizeof why, "profile lacks cap %s", hr_cap_names(c->cap, cap, sizeof cap));
            print_result(o, c, 0, OUT_SKIP, why, NULL);
            nskip++;
            continue;
        }
        for (unsigned proto = HR_PROTO_NMDC; proto <= HR_PROTO_ADC && !stop; proto <<= 1) {
            if (!(o->protos & proto))
                continue;
            if (unsupported & proto) {
                char why[64];
                snprintf(why, sizeof why, "alice does not speak %s: see above", hr_proto_name(proto));
                print_result(o, c, proto, OUT_SKIP, why, NULL);
                nskip++;
                continue;
            }
            char dir[4096], *why = NULL, *details = NULL;
            snprintf(dir, sizeof dir, "%s/%02d-%s-%s", o->dir, ++seq, c->name, hr_proto_name(proto));
            if (mkdir(dir, 0700) < 0) {
                fprintf(stderr, "dcharness: cannot create %s: %s\n", dir, strerror(errno));
                return -1;
            }
            bool started, unsup;
            enum outcome out = run_check(o, c, proto, dir, &why, &details, &started, &unsup, &interrupted);
            if (interrupted) {
                free(why);
                free(details);
                stop = true;
                break;
            }
            /* the TLS check runs over nmdcs/adcs: say so */
            unsigned shown = c->flags & CK_TLS ? (proto == HR_PROTO_NMDC ? HR_PROTO_NMDCS : HR_PROTO_ADCS) : proto;
            print_result(o, c, shown, out, why, details);
            nok += out == OUT_OK;
            nfail += out == OUT_FAIL;
            nskip += out == OUT_SKIP;
            if (unsup)
                unsupported |= proto;
            if (!started) {   /* every later check would fail the same way */
                fprintf(o->json ? stderr : o->out, "check-party: stopped: the hub or alice did not start (see above)\n");
                stop = true;
            }
            if (out != OUT_FAIL)   /* only failures' logs are worth keeping */
                rm_tree(dir);
            free(why);
            free(details);
        }
    }
    if (!stop && (o->protos & ~unsupported) == 0) {
        fprintf(o->json ? stderr : o->out, "check-party: FAIL: %s speaks none of the protocols checked (its connect says unsupported)\n",
                o->party->name);
        nfail++;
    }
    if (interrupted)
        return -1;
    if (!o->json)
        fprintf(o->out, "check-party: %s: %d ok, %d failed, %d skipped%s\n", o->party->name, nok, nfail, nskip,
                nfail ? "" : (stop ? "" : " (all claimed checks pass)"));
    fflush(o->out);
    return nfail;
}
