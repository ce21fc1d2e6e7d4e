/* checks_core.c: check-party's checks of the required core (docs/parties.md,
 * "The required core", "Lifecycle", "Error codes", "Core settings"). alice
 * is the party under test, bob dcclient (checkparty.h).
 */
#include "harness/checkparty.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Texts with what escaping gets wrong: NMDC's $ | and &#36;, ADC's \s and
 * spaces, non-ASCII, and (PM) a newline. */
#define CHAT_TEXT "check-party chat: $ | &#36; \\s <b> \xc3\xbc \xe2\x98\x83 end"
#define PM_TEXT "check-party pm: $ | &#36; \\s <b> \xc3\xbc \xe2\x98\x83\nsecond line"

void ck_ready(struct ck *k)
{
    json_t *rd = k->a->ready;
    ck_field(k, rd, "alice's ready line", "pid", CK_INT, true);
    ck_field(k, rd, "alice's ready line", "version", CK_STR, true);
    ck_field(k, rd, "alice's ready line", "party", CK_STR, false);
    /* A first request answered: whatever she wrote after the ready line
     * (a log line on stdout) has been read by then. */
    json_decref(ck_ok(k, k->a, "ping", NULL, CK_TIMEOUT));
}

/* A raw line that is not JSON gets {"id": null, "ok": false, "code":
 * "bad-request"}, and the party reads on. */
static void not_json(struct ck *k)
{
    struct party *a = k->a;
    static const char line[] = "this line is not JSON\n";
    proc_log(&k->r, a, "in ", line, sizeof line - 2);
    json_object_set_new(a->sent, "null", json_true());   /* the reply's id is null */
    if (proc_send(&k->r, a, line, sizeof line - 1) < 0) {
        ck_fail(k, "cannot write to alice's stdin");
        return;
    }
    double until = ck_secs(k, CK_TIMEOUT);
    while (!json_object_get(a->replies, "null") && !run_stop_waiting(&k->r, until) && !party_silent(a))
        proc_pump(&k->r, until);
    json_t *reply = json_object_get(a->replies, "null");
    if (!reply) {
        if (!ck_failed(k))
            ck_fail(k, "no reply: alice did not answer a line that is not JSON within %.1fs (the contract: ok:false, code bad-request, id null)",
                    CK_TIMEOUT * k->o->mult);
        return;
    }
    const char *code = json_string_value(json_object_get(reply, "code"));
    if (!json_is_false(json_object_get(reply, "ok")) || !code || strcmp(code, "bad-request"))
        ck_fail(k, "wrong error code: alice answered a line that is not JSON with ok=%s code=%s; the contract says ok:false, code bad-request",
                json_is_true(json_object_get(reply, "ok")) ? "true" : "false", code ? code : "(none)");
    json_object_del(a->replies, "null");
}

void ck_requests(struct ck *k)
{
    json_t *reply = ck_ok(k, k->a, "ping", NULL, CK_TIMEOUT);
    json_t *pong = reply ? ck_field(k, json_object_get(reply, "result"), "alice's ping result", "pong", CK_BOOL, true) : NULL;
    if (pong && !json_is_true(pong))
        ck_fail(k, "alice's ping result has \"pong\": false, not true");
    json_decref(reply);
    ck_code(k, k->a, "check-party-no-such-command", NULL, "unknown-command", "an unknown command");
    ck_code(k, k->a, "pm", json_pack("{s:s}", "nick", "bob"), "bad-request", "pm without its text argument");
    ck_code(k, k->a, "pm", json_pack("{s:s,s:i}", "nick", "bob", "text", 5), "bad-request", "pm with a number as its text");
    if (!ck_failed(k))
        not_json(k);
    json_decref(ck_ok(k, k->a, "ping", NULL, CK_TIMEOUT));   /* still reading */
}

void ck_not_connected(struct ck *k)
{
    ck_code(k, k->a, "say", json_pack("{s:s}", "text", "hello"), "not-connected", "say before connect");
    ck_code(k, k->a, "pm", json_pack("{s:s,s:s}", "nick", "bob", "text", "hello"), "not-connected", "pm before connect");
    ck_code(k, k->a, "disconnect", NULL, "not-connected", "disconnect before connect");
}

/* The index of the first pending event name/nick, or -1. */
static long pending_index(struct party *p, const char *name, const char *nick)
{
    for (size_t i = 0; i < json_array_size(p->pending); i++) {
        json_t *ev = json_array_get(p->pending, i);
        const char *n = json_string_value(json_object_get(ev, "nick"));
        if (!strcmp(json_string_value(json_object_get(ev, "event")), name) && (!nick || (n && !strcmp(n, nick))))
            return (long)i;
    }
    return -1;
}

void ck_connect_check(struct ck *k)
{
    struct party *a = k->a;
    json_t *reply = ck_call(k, a, "connect", json_pack("{s:s,s:s}", "url", k->url, "nick", "alice"), CK_CONNECT_TIMEOUT);
    if (!reply)
        return;
    if (!json_is_true(json_object_get(reply, "ok"))) {
        json_decref(reply);
        /* the same request through the helper, for its unsupported rule and message */
        ck_connect(k, a, NULL);
        return;
    }
    json_t *res = json_object_get(reply, "result");
    ck_field(k, res, "alice's connect result", "url", CK_STR, true);
    ck_text(k, res, "alice's connect result", "nick", "alice");
    json_t *proto = ck_field(k, res, "alice's connect result", "protocol", CK_STR, false);
    const char *want = hr_proto_name(hr_proto_base(k->r.proto));
    if (proto && strcmp(json_string_value(proto), want))
        ck_fail(k, "alice's connect result has \"protocol\": \"%s\", not \"%s\"", json_string_value(proto), want);
    json_decref(reply);
    /* hub.connected comes after the user.joins of the initial list. */
    json_t *ev = ck_expect(k, a, "hub.connected", NULL, NULL);
    if (!ev)
        return;
    ck_text(k, ev, "alice's hub.connected event", "nick", "alice");
    proto = ck_field(k, ev, "alice's hub.connected event", "protocol", CK_STR, false);
    if (proto && strcmp(json_string_value(proto), want))
        ck_fail(k, "alice's hub.connected event has \"protocol\": \"%s\", not \"%s\"", json_string_value(proto), want);
    json_decref(ev);
    if (ck_failed(k))
        return;
    if (pending_index(a, "user.join", "bob") < 0)
        ck_fail(k, "missing event: alice's hub.connected came before the user.join of bob, who was already online (the contract: after the user.joins of the initial list)");
    else if (pending_index(a, "user.join", "alice") < 0)
        ck_fail(k, "missing event: alice's hub.connected came before the user.join of her own nick (the contract: after the user.joins of the initial list, own nick included)");
    json_decref(ck_expect(k, a, "user.join", "nick", "alice"));
    json_decref(ck_ok(k, a, "ping", NULL, CK_TIMEOUT));   /* a round trip: a second own join would be here by now */
    if (!ck_failed(k) && pending_index(a, "user.join", "alice") >= 0)
        ck_fail(k, "alice reported the user.join of her own nick twice (the contract: exactly once)");
    ck_code(k, a, "connect", json_pack("{s:s,s:s}", "url", k->url, "nick", "alice"), "already-connected", "connect while connected");
}

void ck_bad_url(struct ck *k)
{
    ck_code(k, k->a, "connect", json_pack("{s:s,s:s}", "url", "http://127.0.0.1:1/", "nick", "alice"), "bad-url",
            "connect to http://127.0.0.1:1/");
}

void ck_connect_failed(struct ck *k)
{
    /* Port 1 of 127.0.0.1: nothing listens there (a privileged port). */
    char url[64];
    snprintf(url, sizeof url, "%s://127.0.0.1:1", k->r.proto & HR_PROTO_NMDC ? "dchub" : "adc");
    char what[160];
    snprintf(what, sizeof what, "connect to %s, where nothing listens", url);
    ck_code(k, k->a, "connect", json_pack("{s:s,s:s}", "url", url, "nick", "alice"), "connect-failed", what);
}

void ck_nick_taken(struct ck *k)
{
    ck_code(k, k->a, "connect", json_pack("{s:s,s:s}", "url", k->url, "nick", "bob"), "nick-taken",
            "connect as bob while bob is online");
}

/* One user object of a `users` result or a user event. */
static void check_user(struct ck *k, json_t *u, const char *what)
{
    if (!json_is_object(u)) {
        ck_fail(k, "wrong field type: %s holds %s, not a user object", what, json_is_array(u) ? "an array" : "a non-object");
        return;
    }
    static const struct { const char *f; enum ck_type t; bool req; } fields[] = {
        {"nick", CK_STR, true}, {"op", CK_BOOL, false}, {"share", CK_INT, false},
        {"description", CK_STR, false}, {"email", CK_STR, false}, {"tag", CK_STR, false}};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        ck_field(k, u, what, fields[i].f, fields[i].t, fields[i].req);
}

/* alice's `users` list: checked, with how often each of the nicks shows. */
static json_t *users_of(struct ck *k, struct party *p)
{
    json_t *reply = ck_ok(k, p, "users", NULL, CK_TIMEOUT);
    json_t *list = reply ? ck_field(k, json_object_get(reply, "result"), "alice's users result", "users", CK_ARR, true) : NULL;
    json_incref(list);
    json_decref(reply);
    size_t i;
    json_t *u;
    json_array_foreach(list, i, u) check_user(k, u, "alice's users result");
    return list;
}

static int count_nick(json_t *list, const char *nick)
{
    int n = 0;
    size_t i;
    json_t *u;
    json_array_foreach(list, i, u)
    {
        const char *s = json_string_value(json_object_get(u, "nick"));
        n += s && !strcmp(s, nick);
    }
    return n;
}

void ck_users(struct ck *k)
{
    if (!ck_connect(k, k->a, NULL))
        return;
    json_decref(ck_expect(k, k->a, "user.join", "nick", "bob"));
    json_t *list = users_of(k, k->a);
    for (const char *const *n = (const char *const[]){"alice", "bob", NULL}; list && *n && !ck_failed(k); n++) {
        int c = count_nick(list, *n);
        if (c != 1)
            ck_fail(k, "alice's users result lists %s %d times, not once", *n, c);
    }
    json_decref(list);
}

void ck_user_events(struct ck *k)
{
    /* bob is online first; he leaves and comes back while alice watches. */
    if (!ck_connect(k, k->a, NULL))
        return;
    json_decref(ck_expect(k, k->a, "user.join", "nick", "bob"));
    json_decref(ck_ok(k, k->b, "disconnect", NULL, CK_TIMEOUT));
    json_decref(ck_expect(k, k->a, "user.leave", "nick", "bob"));
    if (ck_connect(k, k->b, NULL))
        json_decref(ck_expect(k, k->a, "user.join", "nick", "bob"));
    json_t *list = ck_failed(k) ? NULL : users_of(k, k->a);
    if (list && count_nick(list, "bob") != 1)
        ck_fail(k, "after bob left and came back, alice's users result lists him %d times, not once", count_nick(list, "bob"));
    json_decref(list);
}

/* ev's text must be exactly text (kind: "chat line", "PM"). */
static void same_text(struct ck *k, json_t *ev, const char *who, const char *kind, const char *sender, const char *text)
{
    const char *got = json_string_value(json_object_get(ev, "text"));
    if (!got || !strcmp(got, text))
        return;
    char *g = ck_quote(got), *w = ck_quote(text);
    ck_fail(k, "%s text altered: %s sent %s, %s reported %s", kind, sender, w, who, g);
    free(g);
    free(w);
}

static bool both_connected(struct ck *k)
{
    if (!ck_connect(k, k->a, NULL))
        return false;
    json_decref(ck_expect(k, k->b, "user.join", "nick", "alice"));
    return !ck_failed(k);
}

void ck_chat(struct ck *k)
{
    if (!both_connected(k))
        return;
    json_decref(ck_ok(k, k->a, "say", json_pack("{s:s}", "text", CHAT_TEXT), CK_TIMEOUT));
    json_t *ev = ck_expect(k, k->b, "chat", "from", "alice");
    if (ev)
        same_text(k, ev, "bob (dcclient)", "chat", "alice", CHAT_TEXT);
    json_decref(ev);
    json_decref(ck_ok(k, k->b, "say", json_pack("{s:s}", "text", CHAT_TEXT), CK_TIMEOUT));
    ev = ck_expect(k, k->a, "chat", "from", "bob");
    if (ev)
        same_text(k, ev, "alice", "chat", "bob (dcclient)", CHAT_TEXT);
    json_decref(ev);
}

void ck_pm(struct ck *k)
{
    if (!both_connected(k))
        return;
    json_decref(ck_ok(k, k->b, "pm", json_pack("{s:s,s:s}", "nick", "alice", "text", PM_TEXT), CK_TIMEOUT));
    json_t *ev = ck_expect(k, k->a, "pm", "from", "bob");
    if (ev) {
        same_text(k, ev, "alice", "PM", "bob (dcclient)", PM_TEXT);
        const char *to = json_string_value(json_object_get(ev, "to"));
        if (to && strcmp(to, "alice"))
            ck_fail(k, "alice's pm event from bob has \"to\": \"%s\", not \"alice\"", to);
    }
    json_decref(ev);
    json_decref(ck_ok(k, k->a, "pm", json_pack("{s:s,s:s}", "nick", "bob", "text", PM_TEXT), CK_TIMEOUT));
    ev = ck_expect(k, k->b, "pm", "from", "alice");
    if (ev)
        same_text(k, ev, "bob (dcclient)", "PM", "alice", PM_TEXT);
    json_decref(ev);
    json_decref(ck_ok(k, k->a, "ping", NULL, CK_TIMEOUT));   /* an echo of her own PM would be here by now */
    if (!ck_failed(k) && ck_pending(k->a, "pm", "from", "alice"))
        ck_fail(k, "alice reported her own PM as a received pm event (the contract: received PMs only)");
}

void ck_not_online(struct ck *k)
{
    if (ck_connect(k, k->a, NULL))
        ck_code(k, k->a, "pm", json_pack("{s:s,s:s}", "nick", "nobody-here", "text", "hello"), "not-online",
                "pm to a nick that is not online");
}

void ck_disconnect(struct ck *k)
{
    if (!both_connected(k))
        return;
    json_t *reply = ck_ok(k, k->a, "disconnect", NULL, CK_TIMEOUT);
    json_decref(reply);
    if (!reply)
        return;
    json_decref(ck_expect(k, k->a, "hub.disconnected", NULL, NULL));
    json_decref(ck_expect(k, k->b, "user.leave", "nick", "alice"));
    ck_code(k, k->a, "disconnect", NULL, "not-connected", "a second disconnect");
    ck_code(k, k->a, "say", json_pack("{s:s}", "text", "hello"), "not-connected", "say after disconnect");
}

/* `set NAME VALUE` under the party's own name of the setting. */
static json_t *set_args(struct ck *k, const char *name, json_t *value)
{
    json_t *args = json_pack("{s:s,s:o}", "name", name, "value", value);
    party_map_setting(k->a, args);
    return args;
}

void ck_settings(struct ck *k)
{
    const struct hr_profile *pr = k->o->party;
    const struct hr_profile_setting *nick = hr_profile_setting(pr, "nick");
    if (!nick || nick->party_name) {
        json_decref(ck_ok(k, k->a, "set", set_args(k, "nick", json_string("alice")), CK_TIMEOUT));
        ck_code(k, k->a, "set", set_args(k, "nick", json_integer(5)), "bad-value", "set nick to a number");
    }
    ck_code(k, k->a, "set", set_args(k, "check-party-no-such-setting", json_string("x")), "unknown-setting",
            "set of a setting no party has");
    /* What the profile says the party cannot take, the party must refuse so. */
    for (size_t i = 0; i < pr->nsettings && !ck_failed(k); i++) {
        if (pr->settings[i].party_name)
            continue;
        char what[160];
        snprintf(what, sizeof what, "set %s, which the profile marks unsupported", pr->settings[i].name);
        json_t *reply = ck_call(k, k->a, "set", json_pack("{s:s,s:s}", "name", pr->settings[i].name, "value", "1"), CK_TIMEOUT);
        const char *code = json_string_value(json_object_get(reply, "code"));
        if (reply && (!code || (strcmp(code, "unsupported") && strcmp(code, "unknown-setting"))))
            ck_fail(k, "wrong error code: %s: alice's set %s; the contract says unsupported (or unknown-setting)", what,
                    code ? code : "succeeded");
        json_decref(reply);
    }
}

/* p left the hub: bob sees her leave, she exits 0 within her grace. */
static void leaves_and_exits(struct ck *k, const char *how)
{
    struct party *a = k->a;
    double grace = a->grace_ms / 1000.0;
    if (!ck_wait_exit(k, a, grace) && !ck_failed(k)) {
        ck_fail(k, "alice did not exit within %.1fs (the profile's grace) of %s", grace * k->o->mult, how);
        return;
    }
    a->checked = true;   /* judged here, not again at teardown */
    if (a->exit_sig || a->exit_code) {
        struct dc_buf b;
        dc_buf_init(&b, 0);
        proc_describe_exit(&b, a);
        ck_fail(k, "alice %s after %s; the contract says exit status 0", b.data, how);
        dc_buf_cleanup(&b);
        return;
    }
    json_t *ev = ck_event(k, k->b, "user.leave", "nick", "alice", CK_TIMEOUT);
    if (!ev && !ck_failed(k))
        ck_fail(k, "bob saw no user.leave of alice after %s: did she leave the hub before exiting?", how);
    json_decref(ev);
}

void ck_quit(struct ck *k)
{
    if (!both_connected(k))
        return;
    json_t *reply = ck_ok(k, k->a, "quit", NULL, CK_TIMEOUT);
    json_decref(reply);
    if (reply)
        leaves_and_exits(k, "quit");
}

void ck_stop(struct ck *k)
{
    if (!both_connected(k))
        return;
    proc_signal(&k->r, k->a, k->a->stop_signo);
    char how[48];
    snprintf(how, sizeof how, "SIG%s (the profile's stop signal)", sigabbrev_np(k->a->stop_signo));
    leaves_and_exits(k, how);
}

void ck_eof(struct ck *k)
{
    if (!both_connected(k))
        return;
    close(k->a->in_fd);   /* EOF on its stdin */
    k->a->in_fd = -1;
    leaves_and_exits(k, "EOF on its stdin");
}
