/* steps.c: what each step verb does at run time.
 *
 * One table maps a step kind (scenario.h, parsed by scenario.c) to its
 * handler. A handler acts on the step's party (r->parties[actor + 1]; the
 * hub is actor -1), records a failure with run_fail and returns; the
 * scenario loop (runner.c) stops at the first failure. To add a verb: a kind
 * in scenario.h, its parsing in scenario.c, a row here (the handler may live
 * in a file of its own, declared in run.h).
 */
#include "harness/run.h"

#include "proto/fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct party *actor(struct run *r, const struct hr_step *st)
{
    return &r->parties[st->actor + 1];   /* HR_ACTOR_HUB is -1: the hub is parties[0] */
}

/* JSON value as the text a scenario compares with. */
static char *json_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static void step_request(struct run *r, const struct hr_step *st)
{
    struct party *p = actor(r, st);
    struct lookup_ctx c = {.r = r, .party = p};
    json_t *args = json_object();
    for (size_t i = 0; i < st->nargs; i++) {
        char *v = run_expand(r, &c, st->args[i].value, st->args[i].key);
        if (!v) {
            json_decref(args);
            return;
        }
        json_t *val = st->args[i].json ? json_loads(v, JSON_DECODE_ANY, NULL) : json_string(v);
        free(v);
        if (!val) {
            run_fail(r, "argument %s is not valid here", st->args[i].key);
            json_decref(args);
            return;
        }
        json_object_set_new(args, st->args[i].key, val);
    }
    if (!strcmp(st->name, "set"))
        party_map_setting(p, args);
    json_t *req = json_pack("{s:s,s:o}", "cmd", st->name, "args", args);
    json_t *reply = NULL;
    if (!party_request(r, p, req, &reply, run_step_deadline(r, st)))
        return;
    bool ok = json_is_true(json_object_get(reply, "ok"));
    const char *error = json_string_value(json_object_get(reply, "error"));
    if (ok && st->must_fail) {
        char *res = json_dumps(json_object_get(reply, "result"), JSON_COMPACT | JSON_ENCODE_ANY);
        run_fail(r, "%s's %s succeeded, but the step expects it to fail (result: %s)", p->name, st->name, res ? res : "?");
        free(res);
    } else if (!ok && !st->must_fail) {
        run_fail(r, "%s's %s failed: %s", p->name, st->name, error ? error : "(no error text)");
    } else if (!ok && st->nfail_codes) {
        const char *code = json_string_value(json_object_get(reply, "code"));
        bool found = false;
        for (size_t i = 0; i < st->nfail_codes && !found; i++)
            found = code && !strcmp(code, st->fail_codes[i]);
        if (!found) {
            struct dc_buf b;
            dc_buf_init(&b, 0);
            for (size_t i = 0; i < st->nfail_codes; i++)
                dc_buf_appendf(&b, "%s%s", i ? " or " : "", st->fail_codes[i]);
            run_fail(r, "%s's %s failed as expected, but with code %s (\"%s\"), not %s", p->name, st->name,
                     code ? code : "(none)", error ? error : "", b.data);
            dc_buf_cleanup(&b);
        }
    }
    if (!ok && st->must_fail && st->nfail_texts && !r->why.len) {
        bool found = false;
        for (size_t i = 0; i < st->nfail_texts && !found; i++)
            found = error && strcasestr(error, st->fail_texts[i]);
        if (!found) {
            struct dc_buf b;
            dc_buf_init(&b, 0);
            for (size_t i = 0; i < st->nfail_texts; i++)
                dc_buf_appendf(&b, "%s\"%s\"", i ? " or " : "", st->fail_texts[i]);
            run_fail(r, "%s's %s failed as expected, but with \"%s\", which does not contain %s", p->name, st->name,
                     error ? error : "", b.data);
            dc_buf_cleanup(&b);
        }
    }
    json_decref(reply);
}

/* Is name one of the step's event names ("user.join|user.update")? */
static bool name_matches(const char *names, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = names; p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL)
        if (!strncmp(p, name, n) && (p[n] == '|' || p[n] == '\0'))
            return true;
    return false;
}

static bool event_matches(struct run *r, struct lookup_ctx *c, const struct hr_step *st, json_t *ev)
{
    if (!name_matches(st->name, json_string_value(json_object_get(ev, "event"))))
        return false;
    for (size_t i = 0; i < st->nmatch; i++) {
        json_t *f = json_object_get(ev, st->match[i].field);
        if (!f)
            return false;
        char *want = run_expand(r, c, st->match[i].value, st->match[i].field);
        char *got = json_text(f);
        bool ok = want && got && (st->match[i].contains ? strcasestr(got, want) != NULL : !strcmp(got, want));
        free(want);
        free(got);
        if (!ok)
            return false;
    }
    return true;
}

/* expect EVENT [count=N]: consume N matching events (one by default) within
 * the step's time; with count=N, more than N by then fails. expect EVENT
 * never: none may arrive within the step's time (none is consumed). */
static void step_expect(struct run *r, const struct hr_step *st)
{
    struct party *p = actor(r, st);
    struct lookup_ctx c = {.r = r, .party = p};
    double started = hr_now(), until = run_step_deadline(r, st);
    size_t checked = 0;   /* pending events already tested */
    int want = st->want_count ? st->want_count : 1, seen = 0;
    for (;;) {
        for (; checked < json_array_size(p->pending); checked++) {
            json_t *ev = json_array_get(p->pending, checked);
            if (event_matches(r, &c, st, ev)) {
                if (st->never) {
                    char *s = json_dumps(ev, JSON_COMPACT);
                    r->focus = p;
                    run_fail(r, "%s saw a %s event that must never come: %s", p->name, st->name, s ? s : "?");
                    free(s);
                    return;
                }
                json_array_remove(p->pending, checked--);
                if (++seen == want && !st->want_count)
                    return;
            }
            if (r->why.len)
                return;
        }
        if (run_stop_waiting(r, until) || party_silent(p) || (st->want_count && seen > want))
            break;
        proc_pump(r, until);
    }
    if (st->never)
        return;   /* the whole time passed without it (the run's failures are already recorded) */
    if (st->want_count && seen == want)
        return;   /* exactly N by the end of the step's time */
    r->focus = p;
    if (r->interrupted)
        return;
    if (st->want_count)
        run_fail(r, "%s saw %d matching %s event%s within %s; expected exactly %d", p->name, seen, st->name,
                 seen == 1 ? "" : "s", TIMEOUT_TEXT(r, until, started), want);
    else
        run_fail(r, "%s saw no matching %s event within %s%s", p->name, st->name, TIMEOUT_TEXT(r, until, started),
                 party_silent(p) ? " (its output channel closed)" : "");
}

static void step_signal(struct run *r, const struct hr_step *st)
{
    struct party *p = actor(r, st);
    if (st->every_ms > 0) {   /* background: runs alongside later steps and bursts */
        r->bursts = realloc(r->bursts, (r->nbursts + 1) * sizeof *r->bursts);
        r->bursts[r->nbursts++] = (struct burst){p, st->signo, st->count, st->every_ms / 1000.0, hr_now()};
        proc_run_bursts(r);
        return;
    }
    /* A one-shot signal (TERM after a storm) comes after the running bursts. */
    while (proc_bursts_pending(r) && !run_stop_waiting(r, r->deadline))
        proc_pump(r, r->deadline);
    for (int i = 0; i < st->count; i++)
        proc_signal(r, p, st->signo);
}

/* exits and kill: both wait for the party's end. */
static void step_exit(struct run *r, const struct hr_step *st)
{
    struct party *p = actor(r, st);
    double started = hr_now(), until = run_step_deadline(r, st);
    if (st->kind == HR_STEP_KILL) {
        if (p->pid > 0 && !p->exited)
            kill(-p->pid, SIGKILL);
        p->sent_sig = SIGKILL;
    }
    while (!p->exited && !run_stop_waiting(r, until))
        proc_pump(r, until);
    p->checked = true;
    if (!p->exited) {
        if (!r->interrupted)
            run_fail(r, "%s is still running after %s", p->name, TIMEOUT_TEXT(r, until, started));
        return;
    }
    if (st->kind == HR_STEP_EXIT && st->status >= 0 && (p->exit_sig || p->exit_code != st->status)) {
        struct dc_buf b;
        dc_buf_init(&b, 0);
        proc_describe_exit(&b, p);
        run_fail(r, "%s %s; expected exit status %d", p->name, b.data, st->status);
        dc_buf_cleanup(&b);
    }
}

/* fixture file/dir: written by the harness itself (proto/fixture.h). */
static void step_fixture(struct run *r, const struct hr_step *st)
{
    struct lookup_ctx c = {.r = r};
    char *path = NULL;
    long long size = 0;
    unsigned long long seed = 1;
    bool text = false;
    for (size_t i = 0; i < st->nargs; i++) {
        if (!strcmp(st->args[i].key, "path") && !(path = run_expand(r, &c, st->args[i].value, "the fixture path")))
            return;
        if (!strcmp(st->args[i].key, "size"))
            size = strtoll(st->args[i].value, NULL, 10);
        if (!strcmp(st->args[i].key, "seed"))
            seed = strtoull(st->args[i].value, NULL, 10);
        if (!strcmp(st->args[i].key, "text"))
            text = !strcmp(st->args[i].value, "true");
    }
    char *target = path;
    if (!strcmp(st->name, "dir") && (!*path || path[strlen(path) - 1] != '/') && asprintf(&target, "%s/", path) < 0)
        target = NULL;
    char why[512];
    if (!target || dc_fixture_write(target, size, seed, text, why, sizeof why) < 0)
        run_fail(r, "fixture %s: %s", st->name, target ? why : "out of memory");
    if (target != path)
        free(target);
    free(path);
}

typedef void step_fn(struct run *r, const struct hr_step *st);

/* The verb table, by step kind. */
static step_fn *const handlers[] = {
    [HR_STEP_REQUEST] = step_request,
    [HR_STEP_EXPECT] = step_expect,
    [HR_STEP_SIGNAL] = step_signal,
    [HR_STEP_EXIT] = step_exit,
    [HR_STEP_KILL] = step_exit,
    [HR_STEP_FAULT] = step_fault,
    [HR_STEP_FIXTURE] = step_fixture,
    [HR_STEP_WAIT] = step_wait,
    [HR_STEP_STOP] = step_stop,
    [HR_STEP_LOG] = step_log,
    [HR_STEP_LOAD] = step_load,
    [HR_STEP_LOAD_WAIT] = step_load_wait,
    [HR_STEP_LOAD_EXPECT] = step_load_expect,
};

void step_run(struct run *r, const struct hr_step *st)
{
    if ((size_t)st->kind >= sizeof handlers / sizeof *handlers || !handlers[st->kind]) {
        run_fail(r, "internal: no handler for the step kind %d", (int)st->kind);
        return;
    }
    handlers[st->kind](r, st);
}
