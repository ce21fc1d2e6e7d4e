/* runner.c: one scenario for one protocol, in a forked process (see runner.h
 * and, for the modules it is built of, run.h).
 *
 * The scenario loop: start the hub and the clients (party.c), run the steps
 * in order (steps.c), each waiting by pumping the poll loop (proc.c) up to
 * its deadline; then teardown, the failure details and the result.
 */
#include "harness/lost.h"
#include "harness/run.h"
#include "harness/sig.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void hr_result_cleanup(struct hr_result *r)
{
    free(r->reason);
    free(r->details);
    free(r->warning);
    r->reason = r->details = r->warning = NULL;
}

double hr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

long hr_scenario_timeout(const struct hr_scenario *s, const struct hr_run_opts *o)
{
    return lround((s->timeout_ms ? s->timeout_ms : o->scenario_timeout_ms) * o->timeout_mult);
}

char *hr_skip_reason(const struct hr_scenario *s, unsigned proto, const struct hr_profile *p)
{
    char *r = NULL, names[128];
    if (!(p->protos & proto)) {
        if (asprintf(&r, "hub profile %s does not speak %s", p->name, hr_proto_name(proto)) < 0)
            r = NULL;
    } else if (s->needs & ~p->features) {
        if (asprintf(&r, "needs %s, which hub profile %s does not offer", hr_feature_names(s->needs & ~p->features, names, sizeof names), p->name) < 0)
            r = NULL;
    }
    return r;
}

/* A setting the client's profile marks unsupported, used by its options or
 * `set` steps; NULL if none. */
static const char *unsupported_setting(const struct hr_scenario *s, size_t ci, const struct hr_profile *p)
{
    const struct hr_client *c = &s->clients[ci];
    for (size_t k = 0; k < c->nsets; k++) {
        const struct hr_profile_setting *ps = hr_profile_setting(p, c->sets[k].key);
        if (ps && !ps->party_name)
            return ps->name;
    }
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct hr_step *st = &s->steps[i];
        if (st->actor != (int)ci || st->kind != HR_STEP_REQUEST || strcmp(st->name, "set"))
            continue;
        for (size_t k = 0; k < st->nargs; k++) {
            const struct hr_profile_setting *ps = !strcmp(st->args[k].key, "name") ? hr_profile_setting(p, st->args[k].value) : NULL;
            if (ps && !ps->party_name)
                return ps->name;
        }
    }
    return NULL;
}

char *hr_client_skip_reason(const struct hr_scenario *s, unsigned proto, const struct hr_profile *const *clients)
{
    char *r = NULL, names[256];
    for (size_t i = 0; clients && i < s->nclients && !r; i++) {
        const struct hr_profile *p = clients[i];
        unsigned need = s->clients[i].caps | (proto & HR_PROTO_TLS ? HR_CAP_TLS : 0);
        unsigned missing = need & ~p->caps;
        const char *setting = unsupported_setting(s, i, p);
        if (missing) {
            if (asprintf(&r, "%s (%s) lacks capabilit%s %s", s->clients[i].name, p->name,
                         missing & (missing - 1) ? "ies" : "y", hr_cap_names(missing, names, sizeof names)) < 0)
                r = NULL;
        } else if (setting) {
            if (asprintf(&r, "%s (%s) does not support setting %s", s->clients[i].name, p->name, setting) < 0)
                r = NULL;
        }
    }
    return r;
}

void run_fail(struct run *r, const char *fmt, ...)
{
    if (r->why.len)
        return;   /* the first failure is the one that matters */
    va_list ap;
    va_start(ap, fmt);
    dc_buf_vappendf(&r->why, fmt, ap);
    va_end(ap);
    /* Remember where every log stood, to show what led here (teardown adds more). */
    for (size_t i = 0; i < r->nparties; i++) {
        struct party *p = &r->parties[i];
        p->log_mark = p->log ? ftell(p->log) : -1;
    }
    r->fail_t = hr_now();
}

double run_step_deadline(struct run *r, const struct hr_step *st)
{
    long ms = st && st->timeout_ms ? st->timeout_ms : r->o->step_timeout_ms;
    double d = hr_now() + ms * r->o->timeout_mult / 1000.0;
    return d < r->deadline ? d : r->deadline;
}

bool run_stop_waiting(struct run *r, double until)
{
    return r->interrupted || r->why.len || hr_now() >= until;
}

const char *run_timeout_text(struct run *r, double until, double started, char *buf, size_t len)
{
    if (until >= r->deadline)
        snprintf(buf, len, "the scenario timeout (%.1fs)", hr_scenario_timeout(r->s, r->o) / 1000.0);
    else
        snprintf(buf, len, "%.1fs", until - started);
    return buf;
}

/* ---- placeholders ---- */

static const char *lookup(const char *name, size_t len, void *vctx)
{
    struct lookup_ctx *c = vctx;
    struct run *r = c->r;
#define IS(s) (len == strlen(s) && !strncmp(name, s, len))
    if (IS("hub_url")) return r->hub_url[0] ? r->hub_url : NULL;
    if (IS("hub_host")) return r->hub_host[0] ? r->hub_host : NULL;
    if (IS("hub_port") ) return r->hub_port[0] ? r->hub_port : NULL;
    if (IS("proto")) return hr_proto_name(hr_proto_base(r->proto));   /* as hubs and clients name it */
    if (IS("scheme")) return hr_proto_name(r->proto);                /* nmdc adc nmdcs adcs */
    if (IS("tls")) return r->proto & HR_PROTO_TLS ? "true" : "false";
    if (IS("dir")) return c->in_profile && c->party && c->party->dir ? c->party->dir : r->dir;
    if (IS("bin")) return r->o->bin_dir;
    if (IS("port")) return r->port[0] ? r->port : NULL;
    if (IS("nick")) return c->party ? c->party->nick : NULL;
    if (IS("password")) return c->party ? c->party->password : c->password;
    if (IS("user")) return c->user;
    if (IS("role")) return c->role;
    if (IS("op_suffix")) return c->op_suffix;
    if (IS("name")) return c->party ? c->party->name : NULL;
    if (IS("seed")) return c->party && c->party->seed[0] ? c->party->seed : NULL;
    if (IS("share")) return r->o->share_dir;
    if (IS("python")) return "/usr/bin/python3";
    if (IS("shutdown_log")) return r->o->profile->shutdown_log;
#undef IS
    if (len > 6 && !strncmp(name, "ready:", 6) && r->hub->ready) {
        json_t *v = json_object_getn(r->hub->ready, name + 6, len - 6);
        return json_is_string(v) ? json_string_value(v) : NULL;
    }
    return NULL;
}

char *run_expand(struct run *r, struct lookup_ctx *c, const char *tmpl, const char *what)
{
    char missing[64];
    char *v = hr_template_expand(tmpl, lookup, c, missing, sizeof missing);
    if (!v)
        run_fail(r, "%s: placeholder {%s} has no value here", what, missing);
    return v;
}

/* ---- teardown and report ---- */

/* Send each of parties [from, to) still running its stop signal and wait
 * until they exited or their grace periods ran out. */
static void stop_parties(struct run *r, size_t from, size_t to)
{
    double t = hr_now(), until = t;
    for (size_t i = from; i < to; i++) {
        struct party *p = &r->parties[i];
        if (p->pid > 0 && !p->exited) {
            p->stopped = true;
            proc_signal(r, p, p->stop_signo);
            double u = t + p->grace_ms * r->o->timeout_mult / 1000.0;
            until = u > until ? u : until;
        }
    }
    for (;;) {
        bool all = true;
        double now = hr_now();
        for (size_t i = from; i < to; i++) {
            struct party *p = &r->parties[i];
            all = all && (p->pid <= 0 || p->exited || now >= t + p->grace_ms * r->o->timeout_mult / 1000.0);
        }
        if (all || now >= until || r->interrupted)
            break;
        proc_pump(r, until);
    }
}

static void teardown(struct run *r)
{
    /* Clients leave first, then the hub stops: the order a real shutdown
     * has, and the hub's log then shows every client leaving. */
    stop_parties(r, 1, r->nparties);
    stop_parties(r, 0, 1);
    bool ok_so_far = !r->why.len;
    bool was_running[HR_MAX_PARTIES];
    struct dc_buf hung;
    dc_buf_init(&hung, 0);
    if (r->hub->pid > 0 && !r->hub->exited && !r->interrupted)
        hub_verdict(r, &hung);   /* before the SIGKILL: where is it stuck? */
    for (size_t i = 0; i < r->nparties; i++) {
        struct party *p = &r->parties[i];
        was_running[i] = p->pid > 0 && !p->exited;
        if (p->pid <= 0)
            continue;
        kill(-p->pid, SIGKILL);   /* the whole group; the leader is unreaped, so the pgid is still ours */
        int ws;
        while (waitpid(p->pid, &ws, 0) < 0 && errno == EINTR)
            ;
        p->reaped = true;
        if (!p->exited) {
            p->exited = true;
            p->exit_at = hr_now() - r->t0;
            p->exit_code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 0;
            p->exit_sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
            proc_log_exit(r, p);
        }
    }
    proc_reap_orphans();   /* before draining: an escaped descendant may hold the pipes */
    for (size_t i = 0; i < r->nparties; i++) {
        struct party *p = &r->parties[i];
        if (p->pid <= 0)
            continue;
        proc_drain(r, p, hr_now() + 1);
        if (was_running[i] && (!ok_so_far || p->checked) && !r->interrupted && p != r->load)
            /* A teardown SIGKILL is always reported, also after an earlier failure. */
            dc_buf_appendf(&r->notes, "note: at teardown %s did not exit within %.1fs of %s and was killed (SIGKILL)%s%s\n",
                           p->name, p->grace_ms * r->o->timeout_mult / 1000.0, HR_SIGNAL_NAME(p->stop_signo),
                           p == r->hub && hung.len ? "; it was " : "", p == r->hub ? hung.data ? hung.data : "" : "");
        if (!ok_so_far || p->checked || r->interrupted)
            continue;
        struct dc_buf b;
        dc_buf_init(&b, 0);
        if (was_running[i])
            run_fail(r, "%s did not exit within %.1fs of %s and was killed%s%s", p->name,
                     p->grace_ms * r->o->timeout_mult / 1000.0, HR_SIGNAL_NAME(p->stop_signo),
                     p == r->hub && hung.len ? ": " : "", p == r->hub && hung.data ? hung.data : "");
        else if (p->exit_sig && p->stopped && p->known_stop_crash) {
            proc_describe_exit(&r->warning, p);
            dc_buf_appendf(&r->warning, " when asked to stop (known issue of this hub: %s)", p->known_stop_crash);
        } else if (p->exit_sig || p->exit_code) {
            proc_describe_exit(&b, p);
            run_fail(r, "%s %s%s", p->name, b.data, p->stopped ? " when asked to stop" : " unexpectedly");
        }
        dc_buf_cleanup(&b);
    }
    dc_buf_cleanup(&hung);
    if (!r->interrupted)
        hub_log_final_checks(r);   /* the hub's output is complete now */
    if (r->load && r->load->pid > 0) {
        struct dc_buf fig;
        dc_buf_init(&fig, 0);
        load_figures(r, &fig);
        dc_buf_appendf(&r->notes, "load: %s\n", fig.data);
        dc_buf_cleanup(&fig);
    }
    run_profile_cmds(r, false);
}

/* An expected pm, chat or user.join never came: the hub's trace, complete
 * after teardown, says where it was lost (lost.h). */
static void locate_loss(struct run *r)
{
    const struct hr_step *st = r->step;
    if (!r->why.len || r->interrupted || !st || st->kind != HR_STEP_EXPECT || st->never || st->want_count ||
        st->actor < 0 || !r->trace_path[0])
        return;
    struct party *p = &r->parties[st->actor + 1];
    struct lookup_ctx c = {.r = r, .party = p};
    const char *from_field = !strcmp(st->name, "user.join") ? "nick" : "from";
    char *from = NULL, *text = NULL;
    bool contains = false;
    for (size_t i = 0; i < st->nmatch; i++) {
        if (!strcmp(st->match[i].field, from_field) && !st->match[i].contains && !from)
            from = run_expand(r, &c, st->match[i].value, st->match[i].field);
        else if (!strcmp(st->match[i].field, "text") && !text) {
            text = run_expand(r, &c, st->match[i].value, st->match[i].field);
            contains = st->match[i].contains;
        }
    }
    struct hr_lost_query q = {st->name, from, p->nick, text, contains};
    struct dc_buf v;
    dc_buf_init(&v, 0);
    if (from && p->nick && hr_lost_explain(r->trace_path, &q, &v))
        dc_buf_appendf(&r->why, "; %s", v.data);
    dc_buf_cleanup(&v);
    free(from);
    free(text);
}

static char *details(struct run *r)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    if (r->step)
        dc_buf_appendf(&b, "step: %s:%d: %s\n", r->s->path, r->step->line, r->step->text);
    else
        dc_buf_appendf(&b, "step: (%s)\n", !r->started ? "starting the hub and the clients"
                                           : r->nviolations ? "after the steps: the run is strict" : "teardown");
    dc_buf_appendf(&b, "why: %s\n", r->why.data);
    if (r->step && r->step->kind == HR_STEP_EXPECT) {
        dc_buf_appendf(&b, "expected: event %s", r->step->name);
        for (size_t i = 0; i < r->step->nmatch; i++)
            dc_buf_appendf(&b, " %s%c\"%s\"", r->step->match[i].field, r->step->match[i].contains ? '~' : '=', r->step->match[i].value);
        dc_buf_append_str(&b, "\n");
    }
    if (r->focus) {
        struct party *p = r->focus;
        unsigned first = p->nrecent > HR_RECENT ? p->nrecent - HR_RECENT : 0;
        dc_buf_appendf(&b, "last events seen by %s:%s\n", p->name, p->nrecent ? "" : " (none)");
        for (unsigned i = first; i < p->nrecent; i++)
            dc_buf_appendf(&b, "  %s\n", p->recent[i % HR_RECENT]);
    }
    if (r->verdict.len)
        dc_buf_append(&b, r->verdict.data, r->verdict.len);
    if (r->notes.len)
        dc_buf_append(&b, r->notes.data, r->notes.len);
    for (size_t i = 0; i < r->nparties; i++) {
        struct party *p = &r->parties[i];
        if (p->pid > 0 && p->exited && !p->stopped && p->sent_sig != SIGKILL && p != r->load) {
            dc_buf_appendf(&b, "note: %s ", p->name);
            proc_describe_exit(&b, p);
            dc_buf_append_str(&b, "\n");
        }
    }
    for (size_t i = 0; i < r->nparties; i++) {
        struct party *p = &r->parties[i];
        if (!p->log_path[0])
            continue;
        char *t = proc_log_excerpt(p->log_path, p->log_mark, HR_LOG_TAIL, 5);
        dc_buf_appendf(&b, "--- %s: %s ---\n%s", PARTY_LABEL(p), p->log_path, t);
        free(t);
    }
    if (r->nviolations)
        dc_buf_appendf(&b, "--- protocol violations the hub reported (%zu), by party ---\n%s", r->nviolations,
                       r->violations.data);
    if (r->trace_path[0]) {
        char *t = proc_log_excerpt(r->trace_path, proc_trace_offset(r->trace_path, r->fail_t), HR_TRACE_TAIL, 5);
        dc_buf_appendf(&b, "--- hub trace: %s ---\n%s", r->trace_path, t);
        free(t);
    }
    return dc_buf_steal(&b, NULL);
}

/* What the HTML report draws (docs/scenarios.md, "HTML report"): the steps
 * of this protocol with result and times, the parties and their logs, the
 * trace, and the clock that relates the trace's stamps to the logs'. */
static void report_run(struct run *r, json_t *res, const double *began, const double *ended)
{
    json_t *steps = json_array(), *parties = json_array();
    int fail_step = -1;
    for (size_t i = 0; i < r->s->nsteps; i++) {
        const struct hr_step *st = &r->s->steps[i];
        if (!(st->protos & r->proto))
            continue;
        bool failed = r->why.len && r->step == st;
        bool ran = began[i] > 0 && (failed || ended[i] > 0);
        if (failed)
            fail_step = (int)json_array_size(steps);
        double end = failed ? r->fail_t - r->t0 : ended[i];
        json_array_append_new(steps, json_pack("{s:i,s:s,s:s,s:f,s:f}", "line", st->line, "text", st->text,
                                               "status", failed ? "fail" : ran ? "pass" : "skip",
                                               "start", ran ? began[i] : 0.0, "seconds", ran ? end - began[i] : 0.0));
    }
    for (size_t i = 0; i < r->nparties; i++) {
        const struct party *p = &r->parties[i];
        if (p == r->load && p->pid <= 0)
            continue;   /* no `hub load`: no load lifeline */
        json_t *o = json_pack("{s:s,s:s?}", "name", i ? p->name : "hub", "nick", i ? p->nick : NULL);
        if (p->log_path[0])
            json_object_set_new(o, "log", json_string(p->log_path));
        json_array_append_new(parties, o);
    }
    json_object_set_new(res, "steps", steps);
    json_object_set_new(res, "parties", parties);
    if (r->trace_path[0])
        json_object_set_new(res, "trace", json_string(r->trace_path));
    json_object_set_new(res, "t0", json_real(r->t0));
    if (r->why.len) {
        json_object_set_new(res, "fail_at", json_real(r->fail_t - r->t0));
        json_object_set_new(res, "fail_step", json_integer(fail_step));
    }
}

static void run_scenario(struct run *r, int result_fd)
{
    r->t0 = hr_now();
    r->deadline = r->t0 + hr_scenario_timeout(r->s, r->o) / 1000.0;
    r->hub_end_step = -1;
    for (size_t i = 0; i < r->s->nsteps; i++) {
        const struct hr_step *st = &r->s->steps[i];
        if ((st->protos & r->proto) && st->actor == HR_ACTOR_HUB &&
            (st->kind == HR_STEP_EXIT || st->kind == HR_STEP_KILL || st->kind == HR_STEP_STOP))
            r->hub_end_step = (long)i;
    }
    /* Everything starts at once (after the profile's setup commands): the
     * clients need the hub only at their connect step, so their start
     * overlaps the hub's, and each other's. */
    if (run_profile_cmds(r, true))
        for (size_t i = 0; i < r->s->nclients && !r->why.len; i++)
            if (!party_client_needs_hub(r, i))
                party_spawn_client(r, i);
    if (!r->why.len && party_start_hub(r) == 0)
        for (size_t i = 0; i < r->s->nclients && !r->why.len; i++)
            if (party_client_needs_hub(r, i))
                party_spawn_client(r, i);
    for (size_t i = 0; i < r->s->nclients && !r->why.len; i++)
        party_ready_client(r, i);
    r->started = !r->why.len;
    /* When each step started and ended (log time), for the HTML report. */
    double *began = calloc(r->s->nsteps + 1, sizeof *began), *ended = calloc(r->s->nsteps + 1, sizeof *ended);
    if (!began || !ended)
        abort();
    for (size_t i = 0; i < r->s->nsteps && !r->why.len; i++) {
        const struct hr_step *st = &r->s->steps[i];
        if (!(st->protos & r->proto))
            continue;
        r->step = st;
        began[i] = hr_now() - r->t0;
        r->cur_step = i;
        if (hr_now() >= r->deadline) {
            run_fail(r, "the scenario timeout (%.1fs) ran out before this step", hr_scenario_timeout(r->s, r->o) / 1000.0);
            break;
        }
        step_run(r, st);
        ended[i] = hr_now() - r->t0;
        if (r->why.len && !r->interrupted && r->hub->pid > 0 && !r->hub->exited && !r->verdict_taken) {
            /* The step failed while the hub runs: is it stuck? */
            struct dc_buf v;
            dc_buf_init(&v, 0);
            hub_verdict(r, &v);
            dc_buf_appendf(&r->why, "; the hub is %s", v.data);
            dc_buf_cleanup(&v);
        }
    }
    if (!r->why.len)
        r->step = NULL;
    while (!r->why.len && proc_bursts_pending(r) && !run_stop_waiting(r, r->deadline))
        proc_pump(r, r->deadline);
    if (!r->why.len && proc_bursts_pending(r))
        run_fail(r, "signal bursts were still running when the scenario timeout ran out");
    teardown(r);
    locate_loss(r);
    run_fault_report(r);
    run_check_violations(r);
    json_t *res = json_object();
    json_object_set_new(res, "status", json_string(r->why.len ? "fail" : "pass"));
    if (r->warning.len && !r->why.len) {
        char *w;
        if (asprintf(&w, "hub %s", r->warning.data) >= 0) {
            json_object_set_new(res, "warning", json_string(w));
            free(w);
        }
    }
    if (r->why.len) {
        char *d = details(r);
        json_object_set_new(res, "reason", json_string(r->why.data));
        json_object_set_new(res, "details", json_string(d));
        free(d);
    }
    report_run(r, res, began, ended);
    free(began);
    free(ended);
    char *out = json_dumps(res, JSON_COMPACT);
    for (size_t off = 0, len = strlen(out); off < len;) {
        ssize_t w = write(result_fd, out + off, len - off);
        if (w <= 0 && errno != EINTR)
            break;
        off += w > 0 ? (size_t)w : 0;
    }
    free(out);
    json_decref(res);
}

/* Block SIGTERM/SIGINT (they arrive through the returned signalfd), ignore
 * SIGPIPE and adopt the orphans of our children: what every runner does. */
static int become_runner(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

void run_init(struct run *r, const struct hr_scenario *s, unsigned proto, const char *dir,
                     const struct hr_run_opts *opts)
{
    *r = (struct run){.s = s, .proto = proto, .hub_protos = proto, .dir = dir, .o = opts};
    r->sigfd = become_runner();
    dc_buf_init(&r->why, 0);
    dc_buf_init(&r->warning, 0);
    dc_buf_init(&r->violations, 0);
    dc_buf_init(&r->notes, 0);
    dc_buf_init(&r->verdict, 0);
    r->nparties = s->nclients + 2;   /* hub, clients, the load generator */
    r->parties = calloc(r->nparties, sizeof *r->parties);
    r->hub = &r->parties[0];
    party_init(r->hub, "hub");
    for (size_t i = 0; i < s->nclients; i++)
        party_init(&r->parties[1 + i], s->clients[i].name);
    r->load = &r->parties[r->nparties - 1];   /* started by `hub load`; pid -1 until then */
    party_init(r->load, "load");
}

void run_cleanup(struct run *r)
{
    for (size_t i = 0; i < r->nparties; i++)
        party_cleanup(&r->parties[i]);
    free(r->parties);
    free(r->bursts);
    dc_buf_cleanup(&r->why);
    dc_buf_cleanup(&r->warning);
    dc_buf_cleanup(&r->violations);
    dc_buf_cleanup(&r->notes);
    dc_buf_cleanup(&r->verdict);
    json_decref(r->load_report);
    if (r->sigfd >= 0)
        close(r->sigfd);
}

pid_t hr_job_spawn(const struct hr_scenario *s, unsigned proto, const char *dir,
                   const struct hr_run_opts *opts, int *result_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid > 0) {
        close(fds[1]);
        *result_fd = fds[0];
        return pid;
    }
    /* The runner: its own group, adopts orphans, and tears down when
     * dcharness dies, also of SIGKILL: the death signal is a SIGTERM, which
     * it reads through its signalfd like a Ctrl-C, so it stops the parties
     * and kills the grandchildren it adopted (a setup command's `sh -c`
     * children), which a SIGKILL of the runner would leave running. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    dup2(fds[1], 3);
    fcntl(3, F_SETFD, FD_CLOEXEC);   /* the hub and clients must not hold our result pipe */
    close_range(4, ~0U, 0);   /* other jobs' pipes and pidfds stay with dcharness */
    /* Work from the scenario dir, as the hub does: relative socket paths
     * there stay short whatever TMPDIR is (sun_path holds 107 bytes). */
    if (chdir(dir) < 0)
        _exit(1);
    struct run r;
    run_init(&r, s, proto, dir, opts);
    run_scenario(&r, 3);
    run_cleanup(&r);
    _exit(0);
}

/* For runs driven by other code than the step loop (check-party). */
void run_teardown(struct run *r)
{
    teardown(r);
}

char *run_details(struct run *r)
{
    return details(r);
}

/* ---- `dcharness hub` ---- */

/* path as a JSON string, made absolute against dir when relative. */
static json_t *path_in(const char *dir, const char *path)
{
    if (path[0] == '/')
        return json_string(path);
    char *abs;
    if (asprintf(&abs, "%s/%s", dir, path) < 0)
        abort();
    json_t *v = json_string(abs);
    free(abs);
    return v;
}

/* The ready line of `dcharness hub` for the started hub (docs/scenarios.md),
 * or NULL with the failure recorded. */
static char *hub_ready_line(struct run *r, unsigned protos)
{
    const struct hr_profile *pr = r->o->profile;
    struct lookup_ctx c = {.r = r};
    json_t *urls = json_object(), *features = json_array();
    for (unsigned b = HR_PROTO_NMDC; b <= HR_PROTO_LAST; b <<= 1) {
        char *url = protos & b ? run_expand(r, &c, pr->url[hr_proto_index(b)], pr->path) : NULL;
        if (url)
            json_object_set_new(urls, hr_proto_name(b), json_string(url));
        free(url);
    }
    for (unsigned b = 1; b <= HR_FEAT_LAST; b <<= 1) {   /* every hr_feature bit */
        char name[32];
        if (pr->features & b)
            json_array_append_new(features, json_string(hr_feature_names(b, name, sizeof name)));
    }
    char *ctl = pr->control ? run_expand(r, &c, pr->control, pr->path) : NULL;
    json_t *ready = json_pack("{s:s,s:I,s:s,s:o,s:s,s:o,s:o,s:o}", "event", "ready", "pid", (json_int_t)r->hub->pid,
                              "profile", pr->name, "urls", urls, "dir", r->dir,
                              "control", ctl ? path_in(r->dir, ctl) : json_null(),
                              "trace", r->trace_path[0] ? path_in(r->dir, r->trace_path) : json_null(),
                              "features", features);
    free(ctl);
    char *line = r->why.len ? NULL : json_dumps(ready, JSON_COMPACT);
    json_decref(ready);
    return line;
}

void hr_hub_serve(const struct hr_scenario *s, unsigned protos, const char *dir,
                  const struct hr_run_opts *opts, FILE *out, struct hr_result *res)
{
    struct run r;
    run_init(&r, s, protos & -protos, dir, opts);   /* any one of them */
    r.hub_protos = protos;                          /* but listening on all */
    r.t0 = hr_now();
    r.deadline = r.t0 + 1e9;   /* no scenario timeout: the hub runs until it is stopped */
    r.hub_end_step = 1;   /* no steps: the hub ending by itself is judged at teardown */
    char *line = run_profile_cmds(&r, true) && party_start_hub(&r) == 0 ? hub_ready_line(&r, protos) : NULL;
    if (line) {
        r.started = true;
        fprintf(out, "%s\n", line);
        fflush(out);
        free(line);
        while (!r.interrupted && !r.hub->exited)
            proc_pump(&r, hr_now() + 60);
        if (r.interrupted) {
            /* The normal end: teardown judges the hub's stop as at the end of
             * a passing scenario. A second signal cuts the grace period short. */
            r.interrupted = false;
            dc_buf_reset(&r.why);
        }
    }
    teardown(&r);
    *res = (struct hr_result){.status = r.why.len ? HR_STATUS_FAIL : HR_STATUS_PASS, .seconds = hr_now() - r.t0};
    if (r.why.len) {
        res->reason = strdup(r.why.data);
        res->details = details(&r);
    }
    if (r.warning.len && asprintf(&res->warning, "hub %s", r.warning.data) < 0)
        res->warning = NULL;
    run_cleanup(&r);
}

void hr_result_from_runner(struct hr_result *res, const char *json, int ws)
{
    json_t *j = json ? json_loads(json, 0, NULL) : NULL;
    const char *st = json_string_value(json_object_get(j, "status"));
    memset(res, 0, sizeof *res);
    if (!st) {
        res->status = HR_STATUS_FAIL;
        char buf[160];
        if (WIFSIGNALED(ws))
            snprintf(buf, sizeof buf, "the scenario runner was killed by signal %d (%s) before reporting", WTERMSIG(ws), strsignal(WTERMSIG(ws)));
        else
            snprintf(buf, sizeof buf, "the scenario runner exited with status %d without a result", WEXITSTATUS(ws));
        res->reason = strdup(buf);
        res->details = strdup(buf);
    } else {
        res->status = !strcmp(st, "pass") ? HR_STATUS_PASS : !strcmp(st, "skip") ? HR_STATUS_SKIP : HR_STATUS_FAIL;
        const char *reason = json_string_value(json_object_get(j, "reason"));
        const char *det = json_string_value(json_object_get(j, "details"));
        const char *warn = json_string_value(json_object_get(j, "warning"));
        res->warning = warn ? strdup(warn) : NULL;
        res->reason = reason ? strdup(reason) : NULL;
        res->details = det ? strdup(det) : NULL;
    }
    json_decref(j);
}
