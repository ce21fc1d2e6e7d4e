/* hubsteps.c: the steps for testing any hub's signal handling and
 * robustness (docs/scenarios.md): wait, hub stop, hub log expect/never,
 * the background load (dcload), the hub's hang verdict, and the profile's
 * setup/teardown commands.
 *
 * The load generator is one more party (the last of r->parties): its
 * output is logged as load.log, it is polled and stopped with everything
 * else, and its exit status is not judged (its figures are, by `hub load
 * expect`). Hub log steps read a file (the hub's run log, or the profile's
 * `log` file), which gives nothing to wait on: they re-read it every 50 ms
 * while pumping the loop, up to their deadline.
 */
#include "harness/run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/hublog.h"
#include "harness/sig.h"

#define PROBE_BOUND_S 2.0      /* a live hub greets a fresh connection well within this */
#define GDB_TIMEOUT_S 20.0
#define CMD_TIMEOUT_S 60.0     /* a setup or teardown command's limit, before scaling */
#define LOG_POLL_S 0.05

/* ---- the hang verdict ---- */

enum hr_liveness hub_verdict(struct run *r, struct dc_buf *summary)
{
    struct party *h = r->hub;
    const char *gdb = getenv("DCHARNESS_GDB");
    struct hr_hang_probe in = {
        .pid = h->pid, .exited = h->exited, .host = r->hub_host[0] ? r->hub_host : "127.0.0.1",
        .port = r->hub_port[0] ? r->hub_port : NULL, .adc = hr_proto_base(r->proto) == HR_PROTO_ADC,
        .tls = (r->proto & HR_PROTO_TLS) != 0, .bound_s = PROBE_BOUND_S * r->o->timeout_mult,
        .gdb = gdb ? gdb : "gdb", .gdb_timeout_s = GDB_TIMEOUT_S * r->o->timeout_mult, .sigs = &h->sigs,
    };
    struct dc_buf sum, later;
    dc_buf_init(&sum, 0);
    dc_buf_init(&later, 0);
    /* The report keeps the first verdict's details (state, stacks); a later
     * one (at teardown, after a failed step) adds its summary only. */
    if (r->verdict_taken)
        in.gdb = "none";
    double t0 = hr_now();
    enum hr_liveness v = hr_hang_verdict(&in, &sum, r->verdict_taken ? &later : &r->verdict);
    r->verdict_taken = true;
    char line[1024];
    /* How long the probes took is in the line: a reader (bench_overhead.py)
     * counts that window as the run's own work, not the harness's. */
    int n = snprintf(line, sizeof line, "verdict (probed for %.3fs): the hub is %s", hr_now() - t0, sum.data);
    proc_log(r, h, "dcharness", line, n < (int)sizeof line ? (size_t)n : sizeof line - 1);
    if (summary)
        dc_buf_append_str(summary, sum.data);
    dc_buf_cleanup(&sum);
    dc_buf_cleanup(&later);
    return v;
}

/* ---- wait ---- */

void step_wait(struct run *r, const struct hr_step *st)
{
    double until = hr_now() + st->wait_ms * r->o->timeout_mult / 1000.0;
    if (until > r->deadline)
        until = r->deadline;
    (void)st;
    while (!run_stop_waiting(r, until) && !r->why.len)
        proc_pump(r, until);
}

/* ---- hub stop ---- */

void step_stop(struct run *r, const struct hr_step *st)
{
    struct party *h = r->hub;
    double grace = (st->timeout_ms ? st->timeout_ms : h->grace_ms) * r->o->timeout_mult / 1000.0;
    double until = hr_now() + grace;
    if (until > r->deadline)
        until = r->deadline;
    while (proc_bursts_pending(r) && !run_stop_waiting(r, r->deadline))
        proc_pump(r, r->deadline);   /* a stop comes after the running storms, as a one-shot signal does */
    h->stopped = h->checked = true;
    if (!h->exited)
        proc_signal(r, h, h->stop_signo);
    while (!h->exited && !run_stop_waiting(r, until))
        proc_pump(r, until);
    if (r->interrupted)
        return;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    if (!h->exited) {
        hub_verdict(r, &b);
        run_fail(r, "hub did not exit within %.1fs of %s: %s", grace, HR_SIGNAL_NAME(h->stop_signo), b.data);
    } else if (h->exit_sig && h->known_stop_crash) {
        proc_describe_exit(&r->warning, h);
        dc_buf_appendf(&r->warning, " when asked to stop (known issue of this hub: %s)", h->known_stop_crash);
    } else if (h->exit_sig || h->exit_code) {
        proc_describe_exit(&b, h);
        run_fail(r, "hub %s when asked to stop with %s", b.data, HR_SIGNAL_NAME(h->stop_signo));
    }
    dc_buf_cleanup(&b);
}

/* ---- hub log ---- */

/* The file hub log steps read, expanded: the profile's `log` file or the
 * hub's run log (stamped). NULL with the failure recorded. */
static char *log_source(struct run *r, bool *stamped)
{
    const struct hr_profile *pr = r->o->profile;
    *stamped = !pr->log;
    if (!pr->log)
        return strdup(r->hub->log_path);
    struct lookup_ctx c = {.r = r};
    char *path = run_expand(r, &c, pr->log, pr->path);
    if (path && path[0] != '/') {   /* relative: in the scenario dir, the hub's working directory */
        char *abs;
        if (asprintf(&abs, "%s/%s", r->dir, path) < 0)
            abort();
        free(path);
        path = abs;
    }
    return path;
}

static long count_lines(struct run *r, const struct hr_logpat *lp, const char *path, bool stamped, char *first, size_t len)
{
    /* Our own log is flushed per line; the hub writes its file itself. */
    if (stamped && r->hub->log)
        fflush(r->hub->log);
    long n = hr_log_count_file(lp, path, stamped, first, len);
    return n < 0 && errno == ENOENT ? 0 : n;
}

/* Compile the step's pattern (its placeholders filled in). */
static bool compile_step_pattern(struct run *r, const struct hr_step *st, struct hr_logpat *lp)
{
    struct lookup_ctx c = {.r = r};
    char *text = run_expand(r, &c, st->pattern, "the log pattern");
    if (!text)
        return false;
    char why[256];
    if (hr_logpat_compile(lp, text, st->regex, why, sizeof why) < 0) {
        run_fail(r, "the regular expression \"%s\" does not compile: %s", text, why);
        free(text);
        return false;
    }
    free(text);
    return true;
}

void step_log(struct run *r, const struct hr_step *st)
{
    struct hr_logpat lp;
    bool stamped;
    if (!compile_step_pattern(r, st, &lp))
        return;
    char *path = log_source(r, &stamped);
    if (!path) {
        hr_logpat_free(&lp);
        return;
    }
    const char *what = st->regex ? "the regex" : "";
    char first[512] = "";
    long n;
    double started = hr_now(), until = st->never ? started : run_step_deadline(r, st);
    long want = st->want_count ? st->want_count : 1;
    for (;;) {
        n = count_lines(r, &lp, path, stamped, first, sizeof first);
        if (n < 0 || st->never || n >= want || run_stop_waiting(r, until))
            break;
        double t = hr_now() + LOG_POLL_S;
        proc_pump(r, t < until ? t : until);
    }
    if (n < 0)
        run_fail(r, "cannot read the hub's log %s: %s", path, strerror(errno));
    else if (st->never && n > 0)
        run_fail(r, "the hub's log %s has %ld line%s matching %s\"%s\", which must never appear (the first: %s)", path, n,
                 n == 1 ? "" : "s", what, lp.text, first);
    else if (!st->never && n < want && !r->interrupted)
        run_fail(r, "the hub's log %s has %ld line%s matching %s\"%s\" after %s; expected %s%ld", path, n, n == 1 ? "" : "s",
                 what, lp.text, TIMEOUT_TEXT(r, until, started), st->want_count ? "exactly " : "at least ", want);
    else if (st->want_count && n > want)
        run_fail(r, "the hub's log %s has %ld lines matching %s\"%s\"; expected exactly %d (the first: %s)", path, n, what,
                 lp.text, st->want_count, first);
    free(path);
    hr_logpat_free(&lp);
}

void hub_log_final_checks(struct run *r)
{
    for (size_t i = 0; i < r->s->nsteps; i++) {
        const struct hr_step *st = &r->s->steps[i];
        if (st->kind != HR_STEP_LOG || !st->never || !(st->protos & r->proto) || i > r->cur_step)
            continue;
        const struct hr_step *saved = r->step;
        r->step = st;   /* a failure names the step whose promise broke */
        step_log(r, st);
        if (!r->why.len)
            r->step = saved;
    }
}

/* ---- load ---- */

void step_load(struct run *r, const struct hr_step *st)
{
    struct party *p = r->load;
    if (p->pid > 0 && !p->exited) {
        run_fail(r, "a load is still running; wait for it (hub load wait) before starting another");
        return;
    }
    if (p->pid > 0) {   /* an earlier load ended: this one starts afresh */
        waitpid(p->pid, NULL, 0);
        p->reaped = true;
        proc_drain(r, p, hr_now() + 1);
        p->exited = p->reaped = false;
        json_decref(r->load_report);
        r->load_report = NULL;
    }
    const struct hr_load *L = &st->load;
    long messages = lround(L->rate * L->for_ms / 1000.0);
    double timeout = (L->for_ms / 1000.0 + 30) * r->o->timeout_mult;
    char bin[4096], users[24], msgs[24], interval[32], tmo[32];
    snprintf(bin, sizeof bin, "%s/dcload", r->o->bin_dir);
    snprintf(users, sizeof users, "%d", L->users);
    snprintf(msgs, sizeof msgs, "%ld", messages > 0 ? messages : 1);
    snprintf(interval, sizeof interval, "%.6f", 1.0 / L->rate);
    snprintf(tmo, sizeof tmo, "%.0f", timeout);
    char *argv[] = {bin, "--hub", r->hub_url, "--clients", users, "--chatters", users, "--concurrency", users,
                    "--messages", msgs, "--interval", interval, "--prefix", "load", "--timeout", tmo, "--json", NULL};
    p->checked = true;   /* its exit status is a figure, not a verdict */
    p->stop_signo = SIGTERM;   /* dcload reports what it saw so far, then exits */
    p->grace_ms = 5000;
    proc_spawn(r, p, argv, NULL, false);
}

/* Parse the load's report from the last JSON line of its output (load.log). */
static void load_read_report(struct run *r)
{
    struct party *p = r->load;
    if (r->load_report || p->pid <= 0 || !p->exited)
        return;
    proc_drain(r, p, hr_now() + 2);
    if (p->log)
        fflush(p->log);
    size_t len;
    char *buf = hr_read_file(p->log_path, &len);
    for (char *l = buf; l && *l;) {
        char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char *j = memmem(l, n, "out| {", 6);
        if (j) {
            json_t *v = json_loadb(j + 5, n - (size_t)(j + 5 - l), 0, NULL);
            if (json_is_object(v)) {
                json_decref(r->load_report);
                r->load_report = v;
            } else {
                json_decref(v);
            }
        }
        l += n + (nl ? 1 : 0);
    }
    free(buf);
}

static long jint(json_t *o, const char *k)
{
    return (long)json_integer_value(json_object_get(o, k));
}

void load_figures(struct run *r, struct dc_buf *b)
{
    load_read_report(r);
    json_t *j = r->load_report;
    if (!j) {
        dc_buf_append_str(b, r->load && r->load->pid > 0 ? "no report (see load.log)" : "none");
        return;
    }
    json_t *lat = json_object_get(j, "latency_ms");
    dc_buf_appendf(b, "%ld users (%ld online, %ld failed), sent %ld, delivered %ld chat + %ld PM, lost %ld, latency ms p50 %.1f p99 %.1f max %.1f%s",
                   jint(j, "clients"), jint(j, "online"), jint(j, "failed"), jint(j, "sent"), jint(j, "chat_deliveries"),
                   jint(j, "pm_deliveries"), jint(j, "lost"), json_number_value(json_object_get(lat, "p50")),
                   json_number_value(json_object_get(lat, "p99")), json_number_value(json_object_get(lat, "max")),
                   json_is_true(json_object_get(j, "completed")) ? "" : " (stopped before the end)");
    const char *e = json_string_value(json_object_get(j, "first_error"));
    if (e && *e)
        dc_buf_appendf(b, "; first error: %s", e);
}

void step_load_wait(struct run *r, const struct hr_step *st)
{
    struct party *p = r->load;
    if (p->pid <= 0) {
        run_fail(r, "no load was started (hub load users=N ...)");
        return;
    }
    double started = hr_now(), until = run_step_deadline(r, st);
    while (!p->exited && !run_stop_waiting(r, until))
        proc_pump(r, until);
    if (!p->exited && !r->interrupted)
        run_fail(r, "the load did not end within %s", TIMEOUT_TEXT(r, until, started));
    else
        load_read_report(r);
}

void step_load_expect(struct run *r, const struct hr_step *st)
{
    step_load_wait(r, st);
    if (r->why.len)
        return;
    json_t *j = r->load_report;
    struct dc_buf fig;
    dc_buf_init(&fig, 0);
    load_figures(r, &fig);
    double p99 = json_number_value(json_object_get(json_object_get(j, "latency_ms"), "p99"));
    long delivered = jint(j, "chat_deliveries") + jint(j, "pm_deliveries");
    if (!j)
        run_fail(r, "the load ended without a report (see %s)", r->load->log_path);
    else if (st->check.max_lost >= 0 && jint(j, "lost") > st->check.max_lost)
        run_fail(r, "the load lost %ld deliveries, more than %ld: %s", jint(j, "lost"), st->check.max_lost, fig.data);
    else if (st->check.min_delivered >= 0 && delivered < st->check.min_delivered)
        run_fail(r, "the load delivered %ld messages, fewer than %ld: %s", delivered, st->check.min_delivered, fig.data);
    else if (st->check.max_p99_ms >= 0 && p99 > st->check.max_p99_ms)
        run_fail(r, "the load's p99 latency %.1fms is over %ldms: %s", p99, st->check.max_p99_ms, fig.data);
    dc_buf_cleanup(&fig);
}

/* ---- profile setup/teardown commands ---- */

/* Run one command to its end (or the bound) with output to <dir>/<what>.log;
 * in its own process group, killed with the runner. Returns a description
 * of how it failed (malloc'd) or NULL when it exited 0. */
static char *run_cmd(struct run *r, char **argv, const char *what, double bound)
{
    char logpath[4200];
    snprintf(logpath, sizeof logpath, "%s/%s.log", r->dir, what);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return strdup(strerror(errno));
    dprintf(fd, "%8.3f run|", hr_now() - r->t0);
    for (char **a = argv; *a; a++)
        dprintf(fd, " %s", *a);
    dprintf(fd, "\n");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return strdup(strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(r->dir) < 0)
            _exit(127);
        execvp(argv[0], argv);
        dprintf(2, "dcharness: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(fd);
    int pfd = pidfd_open(pid, 0);
    double until = hr_now() + bound;
    bool done = false;
    while (!done) {
        struct pollfd pf[2] = {{.fd = pfd, .events = POLLIN}, {.fd = r->sigfd, .events = POLLIN}};
        double left = until - hr_now();
        if (left <= 0 || r->interrupted)
            break;
        int k = poll(pf, 2, (int)ceil(left * 1000));
        if (k > 0 && pf[1].revents)
            break;   /* dcharness is being stopped: cut the command short */
        done = k > 0 && pf[0].revents;
    }
    kill(-pid, SIGKILL);   /* its whole group: what it left running goes too */
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    close(pfd);
    char *why = NULL;
    if (!done) {
        if (asprintf(&why, "did not finish within %.0fs and was killed", bound) < 0)
            why = NULL;
    } else if (WIFSIGNALED(ws)) {
        if (asprintf(&why, "was killed by %s", HR_SIGNAL_NAME(WTERMSIG(ws))) < 0)
            why = NULL;
    } else if (WEXITSTATUS(ws)) {
        if (asprintf(&why, "exited with status %d", WEXITSTATUS(ws)) < 0)
            why = NULL;
    }
    if (why) {
        /* Its last line, for the one-line reason. */
        char *log = hr_read_file(logpath, NULL), *last = NULL;
        for (char *l = log; l && *l;) {
            size_t n = strcspn(l, "\n");
            if (n && !(n > 13 && !strncmp(l + 9, "run|", 4)))   /* not our "   0.123 run| ..." line */
                last = l;
            l += n + (l[n] == '\n');
        }
        if (last) {
            char *w;
            if (asprintf(&w, "%s (last words: \"%.*s\")", why, (int)strcspn(last, "\n"), last) >= 0) {
                free(why);
                why = w;
            }
        }
        free(log);
    }
    return why;
}

bool run_profile_cmds(struct run *r, bool setup)
{
    const struct hr_profile *pr = r->o->profile;
    const struct hr_profile_cmd *cmds = setup ? pr->setup : pr->teardown;
    size_t n = setup ? pr->nsetup : pr->nteardown;
    bool ok = true;
    if (setup && n && pr->pick_port && !r->port[0] && party_pick_port(r->port, sizeof r->port) < 0) {
        run_fail(r, "cannot pick a free port: %s", strerror(errno));   /* {port} for the setup commands */
        return false;
    }
    for (size_t i = 0; i < n && (ok || !setup); i++) {
        char **argv = calloc(cmds[i].argc + 1, sizeof *argv);
        struct lookup_ctx c = {.r = r};
        struct dc_buf text;
        dc_buf_init(&text, 0);
        bool expanded = true;
        for (size_t k = 0; k < cmds[i].argc && expanded; k++) {
            argv[k] = run_expand(r, &c, cmds[i].argv[k], pr->path);
            expanded = argv[k] != NULL;
            if (expanded)
                dc_buf_appendf(&text, "%s%s", k ? " " : "", argv[k]);
        }
        char *why = expanded ? run_cmd(r, argv, setup ? "setup" : "teardown", CMD_TIMEOUT_S * r->o->timeout_mult)
                             : strdup("could not be expanded");
        if (why) {
            ok = false;
            if (setup || !r->why.len)
                run_fail(r, "the profile's %s command `%s` (%s:%d) %s", setup ? "setup" : "teardown", text.data ? text.data : "",
                         pr->path, cmds[i].line, why);
            else
                dc_buf_appendf(&r->notes, "note: the profile's teardown command `%s` (%s:%d) %s\n", text.data ? text.data : "",
                               pr->path, cmds[i].line, why);
        }
        free(why);
        dc_buf_cleanup(&text);
        for (size_t k = 0; k < cmds[i].argc; k++)
            free(argv[k]);
        free(argv);
    }
    return ok;
}
