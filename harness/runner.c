/* runner.c: one scenario for one protocol, in a forked process (see runner.h).
 *
 * Single-threaded poll() loop over every child's stdout/stderr pipes, the hub
 * control socket, a pidfd per child (exit without SIGCHLD handlers) and a
 * signalfd for SIGTERM/SIGINT (no globals). Steps run in order; each waits by
 * pumping that loop up to its deadline. Children are reaped only at teardown,
 * after their process group got SIGKILL, so a pgid is never reused under us.
 */
#include "harness/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/buf.h"

#define RECENT 12          /* events remembered per process for failure reports */
#define LOG_TAIL 15
#define TRACE_TAIL 30
#define MAX_LINE (1 << 20) /* a longer line from a child is cut and logged as such */

void hr_result_cleanup(struct hr_result *r)
{
    free(r->reason);
    free(r->details);
    free(r->warning);
    r->reason = r->details = r->warning = NULL;
}

static double now_s(void)
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

/* One line-buffered input stream of a child. Owns buf. */
struct stream {
    int fd;
    struct dc_buf buf;
    const char *tag;    /* "out", "err", "ctl" in the log */
};

/* One started process (hub or client). Owns its fds, log and JSON values. */
struct proc {
    char name[64];
    pid_t pid;
    int pidfd, in_fd;
    struct stream out, err, ctl;   /* ctl: the hub's control socket (fd -1 if none) */
    FILE *log;
    char log_path[4096];
    long log_mark;                 /* log size when the scenario failed, -1 before */
    bool exited, reaped, stopped, checked, log_ready;
    int exit_code, exit_sig;       /* exit_sig != 0: killed by that signal */
    double exit_at;
    int sent_sig;                  /* the last signal we sent it, for reports */
    json_t *ready;                 /* its ready line */
    json_t *pending;               /* events not yet consumed by an expect */
    json_t *replies;               /* id -> reply */
    char *recent[RECENT];          /* raw event lines, ring */
    unsigned nrecent;
    char *nick, *password;         /* clients: expanded */
    char last_err[256];            /* its last stderr line, for one-line reasons */
};

/* A background signal burst (signal ... every D). */
struct burst {
    struct proc *p;
    int signo, left;
    double every, next;
};

/* The scenario run. Borrows s/dir/opts; owns the procs. */
struct run {
    const struct hr_scenario *s;
    unsigned proto;
    const char *dir;
    const struct hr_run_opts *o;
    struct proc hub;
    struct proc *clients;
    int sigfd;
    bool interrupted;
    double t0, deadline;
    struct burst *bursts;
    size_t nbursts;
    long next_id;
    char port[16], hub_url[512], hub_host[256], hub_port[16];
    struct dc_buf why;          /* the failure, once there is one */
    struct dc_buf warning;      /* caveats of a pass */
    const struct hr_step *step; /* the failing step, if any */
    bool started;               /* hub and clients were up; steps ran */
    struct proc *focus;         /* whose events to show on failure */
    char trace_path[4096];      /* the hub's trace file, "" if none */
    double fail_t;              /* CLOCK_MONOTONIC time of the failure (fakehub's trace uses it too) */
};

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct run *r, const char *fmt, ...)
{
    if (r->why.len)
        return;   /* the first failure is the one that matters */
    va_list ap;
    va_start(ap, fmt);
    dc_buf_vappendf(&r->why, fmt, ap);
    va_end(ap);
    /* Remember where every log stood, to show what led here (teardown adds more). */
    for (size_t i = 0; i <= r->s->nclients; i++) {
        struct proc *p = i == 0 ? &r->hub : &r->clients[i - 1];
        p->log_mark = p->log ? ftell(p->log) : -1;
    }
    r->fail_t = now_s();
}

static void plog(struct proc *p, struct run *r, const char *tag, const char *line, size_t len)
{
    if (p->log) {
        fprintf(p->log, "%8.3f %s| %.*s\n", now_s() - r->t0, tag, (int)len, line);
        fflush(p->log);
    }
}

static void proc_init(struct proc *p, const char *name)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->pid = -1;
    p->pidfd = p->in_fd = p->out.fd = p->err.fd = p->ctl.fd = -1;
    p->out.tag = "out";
    p->err.tag = "err";
    p->ctl.tag = "ctl";
    p->log_mark = -1;
    p->pending = json_array();
    p->replies = json_object();
}

static void proc_cleanup(struct proc *p)
{
    int fds[] = {p->pidfd, p->in_fd, p->out.fd, p->err.fd, p->ctl.fd};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    dc_buf_cleanup(&p->out.buf);
    dc_buf_cleanup(&p->err.buf);
    dc_buf_cleanup(&p->ctl.buf);
    if (p->log)
        fclose(p->log);
    json_decref(p->ready);
    json_decref(p->pending);
    json_decref(p->replies);
    for (unsigned i = 0; i < RECENT; i++)
        free(p->recent[i]);
    free(p->nick);
    free(p->password);
}

/* JSON value as the text a scenario compares with. */
static char *json_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static void handle_line(struct run *r, struct proc *p, struct stream *st, char *line, size_t len)
{
    plog(p, r, st->tag, line, len);
    if (st == &p->err && len)
        snprintf(p->last_err, sizeof p->last_err, "%.*s", (int)len, line);
    const struct hr_profile *pr = r->o->profile;
    if (p == &r->hub && pr->ready == HR_READY_LOG && memmem(line, len, pr->ready_text, strlen(pr->ready_text)))
        p->log_ready = true;
    if (st == &p->err || len == 0 || line[0] != '{')
        return;
    json_t *msg = json_loadb(line, len, 0, NULL);
    if (!json_is_object(msg)) {
        json_decref(msg);
        return;
    }
    json_t *ev = json_object_get(msg, "event");
    if (json_is_string(ev)) {
        if (!p->ready && !strcmp(json_string_value(ev), "ready")) {
            p->ready = msg;
            return;
        }
        free(p->recent[p->nrecent % RECENT]);
        p->recent[p->nrecent++ % RECENT] = strndup(line, len);
        json_array_append_new(p->pending, msg);
    } else {
        char *id = json_text(json_object_get(msg, "id"));
        json_object_set_new(p->replies, id ? id : "null", msg);
        free(id);
    }
}

/* Read what is available on a stream; split lines. EOF closes the fd. */
static void read_stream(struct run *r, struct proc *p, struct stream *st)
{
    char buf[65536];
    ssize_t n = read(st->fd, buf, sizeof buf);
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        if (st->buf.len)
            handle_line(r, p, st, st->buf.data, st->buf.len);
        dc_buf_reset(&st->buf);
        close(st->fd);
        st->fd = -1;
        return;
    }
    dc_buf_append(&st->buf, buf, (size_t)n);
    char *start = st->buf.data, *end = start + st->buf.len, *nl;
    while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
        handle_line(r, p, st, start, (size_t)(nl - start));
        start = nl + 1;
    }
    size_t rest = (size_t)(end - start);
    if (rest > MAX_LINE) {
        handle_line(r, p, st, start, rest);
        rest = 0;
    }
    memmove(st->buf.data, start, rest);
    st->buf.len = rest;
}

/* Read what p's streams still hold until EOF or `until`, then close them:
 * a descendant that escaped the process group may keep a pipe open. */
static void drain(struct run *r, struct proc *p, double until)
{
    struct stream *sts[] = {&p->out, &p->err, &p->ctl};
    for (;;) {
        struct pollfd pf[3];
        struct stream *who[3];
        nfds_t n = 0;
        for (int k = 0; k < 3; k++)
            if (sts[k]->fd >= 0) {
                pf[n] = (struct pollfd){.fd = sts[k]->fd, .events = POLLIN};
                who[n++] = sts[k];
            }
        double left = until - now_s();
        if (!n || left <= 0 || poll(pf, n, (int)ceil(left * 1000)) <= 0)
            break;
        for (nfds_t i = 0; i < n; i++)
            if (pf[i].revents)
                read_stream(r, p, who[i]);
    }
    for (int k = 0; k < 3; k++)
        if (sts[k]->fd >= 0) {
            close(sts[k]->fd);
            sts[k]->fd = -1;
        }
}

static void note_exit(struct run *r, struct proc *p)
{
    siginfo_t si = {0};
    if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOWAIT | WNOHANG) < 0 || si.si_pid == 0)
        return;
    p->exited = true;
    p->exit_at = now_s() - r->t0;
    if (si.si_code == CLD_EXITED)
        p->exit_code = si.si_status;
    else
        p->exit_sig = si.si_status;
    close(p->pidfd);
    p->pidfd = -1;
}

static size_t nprocs(const struct run *r)
{
    return r->s->nclients + 1;
}

static struct proc *proc_at(struct run *r, size_t i)
{
    return i == 0 ? &r->hub : &r->clients[i - 1];
}

static void send_signal(struct run *r, struct proc *p, int signo)
{
    (void)r;
    if (p->pid > 0 && !p->reaped) {
        kill(p->pid, signo);   /* unreaped: the pid is still ours even after exit */
        p->sent_sig = signo;
    }
}

static void run_bursts(struct run *r)
{
    double t = now_s();
    for (size_t i = 0; i < r->nbursts; i++) {
        struct burst *b = &r->bursts[i];
        while (b->left > 0 && b->next <= t) {
            send_signal(r, b->p, b->signo);
            b->left--;
            b->next += b->every;
        }
    }
}

static bool bursts_pending(const struct run *r)
{
    for (size_t i = 0; i < r->nbursts; i++)
        if (r->bursts[i].left > 0)
            return true;
    return false;
}

/* Wait for input, exits, bursts or signals until `until` (monotonic s),
 * handling whatever arrives. Returns after one round. */
static void pump(struct run *r, double until)
{
    struct pollfd pf[4 * 64 + 1];
    struct { struct proc *p; struct stream *st; } who[4 * 64 + 1];
    nfds_t n = 0;
    for (size_t i = 0; i < nprocs(r) && n + 4 < sizeof pf / sizeof *pf; i++) {
        struct proc *p = proc_at(r, i);
        struct stream *sts[] = {&p->out, &p->err, &p->ctl};
        for (int k = 0; k < 3; k++)
            if (sts[k]->fd >= 0) {
                pf[n] = (struct pollfd){.fd = sts[k]->fd, .events = POLLIN};
                who[n++] = (typeof(who[0])){p, sts[k]};
            }
        if (p->pidfd >= 0) {
            pf[n] = (struct pollfd){.fd = p->pidfd, .events = POLLIN};
            who[n++] = (typeof(who[0])){p, NULL};
        }
    }
    pf[n] = (struct pollfd){.fd = r->sigfd, .events = POLLIN};
    who[n++] = (typeof(who[0])){NULL, NULL};
    double wake = until;
    for (size_t i = 0; i < r->nbursts; i++)
        if (r->bursts[i].left > 0 && r->bursts[i].next < wake)
            wake = r->bursts[i].next;
    double left = wake - now_s();
    int ms = left <= 0 ? 0 : (int)ceil(left * 1000);
    int k = poll(pf, n, ms);
    for (nfds_t i = 0; k > 0 && i < n; i++) {
        if (!pf[i].revents)
            continue;
        if (!who[i].p) {
            struct signalfd_siginfo si;
            if (read(r->sigfd, &si, sizeof si) == sizeof si) {
                r->interrupted = true;
                fail(r, "interrupted by signal %d (%s)", (int)si.ssi_signo, strsignal((int)si.ssi_signo));
            }
        } else if (who[i].st) {
            read_stream(r, who[i].p, who[i].st);
        } else {
            note_exit(r, who[i].p);
        }
    }
    run_bursts(r);
}

/* Step deadline: `within` or the default, never past the scenario's. */
static double step_deadline(struct run *r, const struct hr_step *st)
{
    long ms = st && st->timeout_ms ? st->timeout_ms : r->o->step_timeout_ms;
    double d = now_s() + ms * r->o->timeout_mult / 1000.0;
    return d < r->deadline ? d : r->deadline;
}

static bool stop_waiting(struct run *r, double until)
{
    return r->interrupted || now_s() >= until;
}

/* "5.0s" or "the scenario timeout (30.0s)", for "... within %s". Returns buf. */
static const char *timeout_text(struct run *r, double until, double started, char *buf, size_t len)
{
    if (until >= r->deadline)
        snprintf(buf, len, "the scenario timeout (%.1fs)", hr_scenario_timeout(r->s, r->o) / 1000.0);
    else
        snprintf(buf, len, "%.1fs", until - started);
    return buf;
}
#define TIMEOUT_TEXT(r, until, started) timeout_text((r), (until), (started), (char[64]){0}, 64)

/* ---- placeholders ---- */

/* Look-up context: the run and the acting client (NULL for the hub). */
struct lookup_ctx {
    struct run *r;
    struct proc *client;
    const char *user, *password, *role, *op_suffix;   /* profile per-user lines */
};

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
    if (IS("dir")) return r->dir;
    if (IS("bin")) return r->o->bin_dir;
    if (IS("port")) return r->port[0] ? r->port : NULL;
    if (IS("nick")) return c->client ? c->client->nick : NULL;
    if (IS("password")) return c->client ? c->client->password : c->password;
    if (IS("user")) return c->user;
    if (IS("role")) return c->role;
    if (IS("op_suffix")) return c->op_suffix;
#undef IS
    if (len > 6 && !strncmp(name, "ready:", 6) && r->hub.ready) {
        json_t *v = json_object_getn(r->hub.ready, name + 6, len - 6);
        return json_is_string(v) ? json_string_value(v) : NULL;
    }
    return NULL;
}

static char *expand(struct run *r, struct lookup_ctx *c, const char *tmpl, const char *what)
{
    char missing[64];
    char *v = hr_template_expand(tmpl, lookup, c, missing, sizeof missing);
    if (!v)
        fail(r, "%s: placeholder {%s} has no value here", what, missing);
    return v;
}

/* ---- processes ---- */

/* Fork and exec argv with stdout/stderr to pipes, stdin a pipe (want_stdin)
 * or /dev/null, in its own process group, killed if this runner dies. */
static int spawn(struct run *r, struct proc *p, char **argv, bool want_stdin)
{
    int in[2] = {-1, -1}, out[2], err[2];
    snprintf(p->log_path, sizeof p->log_path, "%s/%s.log", r->dir, p->name);
    if (!p->log && !(p->log = fopen(p->log_path, "a"))) {
        fail(r, "cannot create %s: %s", p->log_path, strerror(errno));
        return -1;
    }
    {
        struct dc_buf cmd;
        dc_buf_init(&cmd, 0);
        for (char **a = argv; *a; a++)
            dc_buf_appendf(&cmd, "%s%s", a == argv ? "" : " ", *a);
        plog(p, r, "run", cmd.data, cmd.len);
        dc_buf_cleanup(&cmd);
    }
    if ((want_stdin && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        fail(r, "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fail(r, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);   /* the runner died before prctl took effect */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(want_stdin ? in[0] : devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        if (chdir(r->dir) < 0)
            _exit(127);
        execvp(argv[0], argv);
        dprintf(2, "dcharness: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);   /* also here, so the group exists before we signal it */
    p->pid = pid;
    p->pidfd = pidfd_open(pid, 0);
    if (want_stdin) {
        close(in[0]);
        p->in_fd = in[1];
    }
    close(out[1]);
    close(err[1]);
    p->out.fd = out[0];
    p->err.fd = err[0];
    p->exited = false;
    return 0;
}

/* The `before` lines up to byte offset mark (where the file stood when the
 * scenario failed) and up to `after` lines past it, so that teardown output
 * does not push out what led to the failure. mark < 0: the file's end. */
static char *log_excerpt(const char *path, long mark, int before, int after)
{
    size_t len;
    char *buf = hr_read_file(path, &len);
    if (!buf)
        return strdup("(missing)\n");
    size_t m = mark < 0 || (size_t)mark > len ? len : (size_t)mark, i = m;
    if (i && buf[i - 1] == '\n')
        i--;
    int seen = 0;
    while (i > 0 && seen < before)
        if (buf[--i] == '\n')
            seen++;
    size_t start = seen == before ? i + 1 : 0, end = m;
    for (int n = 0; end < len && n < after;)
        if (buf[end++] == '\n')
            n++;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append(&b, buf + start, m - start);
    if (end > m)
        dc_buf_appendf(&b, "(after the failure:)\n%.*s", (int)(end - m), buf + m);
    size_t more = 0;
    for (size_t k = end; k < len; k++)
        more += buf[k] == '\n';
    if (more)
        dc_buf_appendf(&b, "(%zu more line%s in the file)\n", more, more == 1 ? "" : "s");
    free(buf);
    return dc_buf_steal(&b, NULL);
}

/* Byte offset of the first trace line stamped after time t ("t" is
 * CLOCK_MONOTONIC seconds, docs/fakehub.md): the trace is buffered, so its
 * size at the failure says nothing, but its stamps do. -1: the end. */
static long trace_offset(const char *path, double t)
{
    size_t len;
    char *buf = hr_read_file(path, &len);
    long off = -1;
    for (size_t i = 0; buf && i < len && off < 0;) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - buf - i) : len - i;
        json_t *line = json_loadb(buf + i, n, 0, NULL);
        json_t *ts = json_object_get(line, "t");
        if (json_is_number(ts) && json_number_value(ts) > t)
            off = (long)i;
        json_decref(line);
        i += n + 1;
    }
    free(buf);
    return off;
}

static void describe_exit(struct dc_buf *b, const struct proc *p)
{
    if (p->exit_sig)
        dc_buf_appendf(b, "was killed by signal %d (SIG%s)", p->exit_sig, sigabbrev_np(p->exit_sig) ? sigabbrev_np(p->exit_sig) : "?");
    else
        dc_buf_appendf(b, "exited with status %d", p->exit_code);
    dc_buf_appendf(b, " at +%.3fs", p->exit_at);
}

static bool wait_ready(struct run *r, struct proc *p, double until)
{
    double started = now_s();
    while (!p->ready && !p->exited && !stop_waiting(r, until))
        pump(r, until);
    if (p->ready)
        return true;
    if (p->exited) {
        drain(r, p, now_s() + 1);   /* what it said before dying */
        struct dc_buf b;
        dc_buf_init(&b, 0);
        describe_exit(&b, p);
        fail(r, "%s %s before its ready line%s%s%s", p->name, b.data, p->last_err[0] ? " (last words: \"" : "",
             p->last_err, p->last_err[0] ? "\")" : "");
        dc_buf_cleanup(&b);
    } else if (!r->interrupted) {
        fail(r, "%s printed no ready line within %s", p->name, TIMEOUT_TEXT(r, until, started));
    }
    return false;
}

static int connect_tcp(const char *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Readiness of a hub that does not announce it: the port accepts (and, for
 * adc-handshake, answers HSUP with ISID). Between attempts we keep pumping
 * the hub's output with a short bound: the only polling in the harness,
 * because such a hub gives nothing else to wait on. */
static bool probe_port(struct run *r, struct proc *p, bool handshake, double until)
{
    while (!p->exited && !stop_waiting(r, until)) {
        int fd = connect_tcp(r->port);
        if (fd < 0) {
            pump(r, now_s() + 0.01);
            continue;
        }
        if (!handshake) {
            close(fd);
            return true;
        }
        static const char hsup[] = "HSUP ADBASE ADTIGR\n";
        char buf[4096];
        size_t got = 0;
        bool ok = write(fd, hsup, sizeof hsup - 1) == (ssize_t)(sizeof hsup - 1);
        while (ok && got < sizeof buf - 1) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            double left = until - now_s();
            if (left <= 0 || poll(&pf, 1, (int)ceil(left * 1000)) <= 0)
                break;
            ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\nISID ") || !strncmp(buf, "ISID ", 5)) {
                close(fd);
                return true;
            }
        }
        close(fd);
        pump(r, now_s() + 0.01);
    }
    return false;
}

static int pick_port(char *out, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    snprintf(out, len, "%u", ntohs(a.sin_port));
    return 0;
}

static int write_profile_files(struct run *r)
{
    const struct hr_profile *pr = r->o->profile;
    char path[4096];
    for (size_t i = 0; i < pr->nlines; i++) {   /* fresh files on each start attempt */
        snprintf(path, sizeof path, "%s/%s", r->dir, pr->lines[i].file);
        unlink(path);
    }
    for (size_t i = 0; i < pr->nlines; i++) {
        const struct hr_profile_line *pl = &pr->lines[i];
        snprintf(path, sizeof path, "%s/%s", r->dir, pl->file);
        FILE *f = fopen(path, "a");
        if (!f) {
            fail(r, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        size_t n = pl->per_user ? r->s->nusers : 1;
        for (size_t u = 0; u < n; u++) {
            struct lookup_ctx c = {.r = r};
            if (pl->per_user) {
                const struct hr_user *us = &r->s->users[u];
                c = (struct lookup_ctx){.r = r, .user = us->nick, .password = us->password,
                                        .role = us->op ? "op" : "user", .op_suffix = us->op ? ":op" : ""};
            }
            char *line = expand(r, &c, pl->tmpl, pr->path);
            if (!line) {
                fclose(f);
                return -1;
            }
            if (*line || !pl->per_user)
                fprintf(f, "%s\n", line);
            free(line);
        }
        fclose(f);
    }
    return 0;
}

static char **hub_argv(struct run *r)
{
    const struct hr_profile *pr = r->o->profile;
    size_t n = pr->argc + pr->user_argc * r->s->nusers;
    char **argv = calloc(n + 1, sizeof *argv);
    size_t k = 0;
    for (size_t i = 0; i < pr->argc; i++) {
        struct lookup_ctx c = {.r = r};
        if (!(argv[k++] = expand(r, &c, pr->argv[i], pr->path)))
            goto fail;
    }
    for (size_t u = 0; u < r->s->nusers; u++)
        for (size_t i = 0; i < pr->user_argc; i++) {
            const struct hr_user *us = &r->s->users[u];
            struct lookup_ctx c = {.r = r, .user = us->nick, .password = us->password,
                                   .role = us->op ? "op" : "user", .op_suffix = us->op ? ":op" : ""};
            if (!(argv[k++] = expand(r, &c, pr->user_argv[i], pr->path)))
                goto fail;
        }
    return argv;
fail:
    for (size_t i = 0; i < k; i++)
        free(argv[i]);
    free(argv);
    return NULL;
}

static void free_argv(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

static bool control_request(struct run *r, struct proc *p, json_t *req, json_t **reply, double until);

static int start_hub(struct run *r)
{
    const struct hr_profile *pr = r->o->profile;
    struct proc *h = &r->hub;
    double until = now_s() + 10 * r->o->timeout_mult;
    if (until > r->deadline)
        until = r->deadline;
    if (pr->trace) {
        struct lookup_ctx c = {.r = r};
        char *t = expand(r, &c, pr->trace, pr->path);
        if (!t)
            return -1;
        snprintf(r->trace_path, sizeof r->trace_path, "%s", t);
        free(t);
    }
    for (int attempt = 1;; attempt++) {
        if (pr->pick_port && pick_port(r->port, sizeof r->port) < 0) {
            fail(r, "cannot pick a free port: %s", strerror(errno));
            return -1;
        }
        if (write_profile_files(r) < 0)
            return -1;
        char **argv = hub_argv(r);
        if (!argv)
            return -1;
        int rc = spawn(r, h, argv, false);
        free_argv(argv);
        if (rc < 0)
            return -1;
        bool ok;
        if (pr->ready == HR_READY_LINE)
            ok = wait_ready(r, h, until);
        else if (pr->ready == HR_READY_LOG) {
            while (!h->log_ready && !h->exited && !stop_waiting(r, until))
                pump(r, until);
            ok = h->log_ready;
        } else {
            ok = probe_port(r, h, pr->ready == HR_READY_ADC_HANDSHAKE, until);
        }
        if (ok)
            break;
        /* A picked port can be taken by someone else before the hub binds it:
         * the hub then exits early; try again on a new port. */
        if (h->exited && pr->pick_port && attempt < 3 && !r->interrupted) {
            static const char msg[] = "hub exited before it was ready; retrying on another port";
            plog(h, r, "dcharness", msg, sizeof msg - 1);
            waitpid(h->pid, NULL, 0);
            h->reaped = true;
            for (struct stream *st = &h->out; st <= &h->err; st++)
                if (st->fd >= 0) {
                    close(st->fd);
                    st->fd = -1;
                }
            h->exited = h->reaped = false;
            continue;
        }
        if (!r->why.len) {
            struct dc_buf b;
            dc_buf_init(&b, 0);
            if (h->exited)
                describe_exit(&b, h);
            fail(r, "the hub did not become ready (%s): %s%s%s%s", pr->ready == HR_READY_LOG ? "no log line" : "no answer on its port",
                 h->exited ? "it " : "not in time", h->exited ? b.data : "",
                 h->last_err[0] ? "; last words: " : "", h->last_err);
            dc_buf_cleanup(&b);
        }
        return -1;
    }
    struct lookup_ctx c = {.r = r};
    char *url = expand(r, &c, pr->url[hr_proto_index(r->proto)], pr->path);
    if (!url)
        return -1;
    snprintf(r->hub_url, sizeof r->hub_url, "%s", url);
    free(url);
    const char *hp = strstr(r->hub_url, "://");
    hp = hp ? hp + 3 : r->hub_url;
    const char *colon = strrchr(hp, ':');
    if (colon) {
        snprintf(r->hub_host, sizeof r->hub_host, "%.*s", (int)(colon - hp), hp);
        snprintf(r->hub_port, sizeof r->hub_port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    }
    if (pr->control && (r->s->needs & HR_FEAT_HUB_CONTROL)) {
        char *path = expand(r, &c, pr->control, pr->path);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (!path)
            return -1;
        if (strlen(path) >= sizeof a.sun_path) {
            fail(r, "the hub's control socket path is %zu bytes, over the %zu a Unix socket allows: make it relative to the scenario dir in the profile (control hub.sock)",
                 strlen(path), sizeof a.sun_path - 1);
            free(path);
            return -1;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            fail(r, "cannot connect to the hub's control socket %s: %s", path, strerror(errno));
            free(path);
            if (fd >= 0)
                close(fd);
            return -1;
        }
        free(path);
        h->ctl.fd = fd;
        json_t *reply = NULL;
        json_t *req = json_pack("{s:s}", "cmd", "subscribe");
        bool ok = control_request(r, h, req, &reply, until) && json_is_true(json_object_get(reply, "ok"));
        json_decref(reply);
        if (!ok) {
            fail(r, "the hub refused the event subscription on its control socket");
            return -1;
        }
    }
    return 0;
}

/* Send req (its id is set here) to p and wait for the reply until `until`.
 * False when none came (the failure is recorded). */
static bool control_request(struct run *r, struct proc *p, json_t *req, json_t **reply, double until)
{
    long id = ++r->next_id;
    json_object_set_new(req, "id", json_integer(id));
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    int fd = p == &r->hub ? p->ctl.fd : p->in_fd;
    plog(p, r, "in ", line, strlen(line));
    size_t len = strlen(line);
    line[len] = '\n';
    ssize_t w = fd >= 0 ? write(fd, line, len + 1) : -1;
    free(line);
    if (w != (ssize_t)(len + 1)) {
        fail(r, "cannot send the request to %s (%s)", p->name, fd < 0 ? "no control channel" : strerror(errno));
        return false;
    }
    char key[32];
    double started = now_s();
    snprintf(key, sizeof key, "%ld", id);
    while (!json_object_get(p->replies, key) && !stop_waiting(r, until)) {
        if (p->exited && (p == &r->hub ? p->ctl.fd < 0 : p->out.fd < 0))
            break;
        pump(r, until);
    }
    *reply = json_incref(json_object_get(p->replies, key));
    if (*reply) {
        json_object_del(p->replies, key);
        return true;
    }
    if (p->exited) {
        struct dc_buf b;
        dc_buf_init(&b, 0);
        describe_exit(&b, p);
        fail(r, "%s %s before replying", p->name, b.data);
        dc_buf_cleanup(&b);
    } else if (!r->interrupted) {
        fail(r, "%s sent no reply within %s", p->name, TIMEOUT_TEXT(r, until, started));
    }
    return false;
}

static int start_client(struct run *r, size_t i)
{
    const struct hr_client *c = &r->s->clients[i];
    struct proc *p = &r->clients[i];
    struct lookup_ctx lc = {.r = r};
    if (!(p->nick = expand(r, &lc, c->nick, "the client's nick")))
        return -1;
    if (c->password && !(p->password = expand(r, &lc, c->password, "the client's password")))
        return -1;
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/dcclient", r->o->bin_dir);
    char *argv[] = {bin, NULL};
    if (spawn(r, p, argv, true) < 0)
        return -1;
    double until = now_s() + 10 * r->o->timeout_mult;
    if (!wait_ready(r, p, until < r->deadline ? until : r->deadline))
        return -1;
    for (size_t k = 0; k < c->nsets; k++) {
        lc.client = p;
        char *v = expand(r, &lc, c->sets[k].value, "a client option");
        if (!v)
            return -1;
        json_t *val = c->sets[k].json ? json_loads(v, JSON_DECODE_ANY, NULL) : json_string(v);
        free(v);
        json_t *req = json_pack("{s:s,s:{s:s,s:o}}", "cmd", "set", "args", "name", c->sets[k].key, "value", val);
        json_t *reply = NULL;
        if (!control_request(r, p, req, &reply, now_s() + r->o->step_timeout_ms * r->o->timeout_mult / 1000))
            return -1;
        if (!json_is_true(json_object_get(reply, "ok"))) {
            fail(r, "client %s refused option %s: %s", c->name, c->sets[k].key,
                 json_string_value(json_object_get(reply, "error")));
            json_decref(reply);
            return -1;
        }
        json_decref(reply);
    }
    return 0;
}

/* ---- steps ---- */

static struct proc *actor(struct run *r, const struct hr_step *st)
{
    return st->actor == HR_ACTOR_HUB ? &r->hub : &r->clients[st->actor];
}

static void step_request(struct run *r, const struct hr_step *st)
{
    struct proc *p = actor(r, st);
    struct lookup_ctx c = {.r = r, .client = p == &r->hub ? NULL : p};
    json_t *args = json_object();
    for (size_t i = 0; i < st->nargs; i++) {
        char *v = expand(r, &c, st->args[i].value, st->args[i].key);
        if (!v) {
            json_decref(args);
            return;
        }
        json_t *val = st->args[i].json ? json_loads(v, JSON_DECODE_ANY, NULL) : json_string(v);
        free(v);
        if (!val) {
            fail(r, "argument %s is not valid here", st->args[i].key);
            json_decref(args);
            return;
        }
        json_object_set_new(args, st->args[i].key, val);
    }
    json_t *req = json_pack("{s:s,s:o}", "cmd", st->name, "args", args);
    json_t *reply = NULL;
    if (!control_request(r, p, req, &reply, step_deadline(r, st)))
        return;
    bool ok = json_is_true(json_object_get(reply, "ok"));
    const char *error = json_string_value(json_object_get(reply, "error"));
    if (ok && st->must_fail) {
        char *res = json_dumps(json_object_get(reply, "result"), JSON_COMPACT | JSON_ENCODE_ANY);
        fail(r, "%s's %s succeeded, but the step expects it to fail (result: %s)", p->name, st->name, res ? res : "?");
        free(res);
    } else if (!ok && !st->must_fail) {
        fail(r, "%s's %s failed: %s", p->name, st->name, error ? error : "(no error text)");
    } else if (!ok && st->nfail_texts) {
        bool found = false;
        for (size_t i = 0; i < st->nfail_texts && !found; i++)
            found = error && strcasestr(error, st->fail_texts[i]);
        if (!found) {
            struct dc_buf b;
            dc_buf_init(&b, 0);
            for (size_t i = 0; i < st->nfail_texts; i++)
                dc_buf_appendf(&b, "%s\"%s\"", i ? " or " : "", st->fail_texts[i]);
            fail(r, "%s's %s failed as expected, but with \"%s\", which does not contain %s", p->name, st->name,
                 error ? error : "", b.data);
            dc_buf_cleanup(&b);
        }
    }
    json_decref(reply);
}

static bool event_matches(struct run *r, struct lookup_ctx *c, const struct hr_step *st, json_t *ev)
{
    if (strcmp(json_string_value(json_object_get(ev, "event")), st->name))
        return false;
    for (size_t i = 0; i < st->nmatch; i++) {
        json_t *f = json_object_get(ev, st->match[i].field);
        if (!f)
            return false;
        char *want = expand(r, c, st->match[i].value, st->match[i].field);
        char *got = json_text(f);
        bool ok = want && got && (st->match[i].contains ? strcasestr(got, want) != NULL : !strcmp(got, want));
        free(want);
        free(got);
        if (!ok)
            return false;
    }
    return true;
}

static void step_expect(struct run *r, const struct hr_step *st)
{
    struct proc *p = actor(r, st);
    struct lookup_ctx c = {.r = r, .client = p == &r->hub ? NULL : p};
    double started = now_s(), until = step_deadline(r, st);
    size_t checked = 0;   /* pending events already tested */
    for (;;) {
        for (; checked < json_array_size(p->pending); checked++) {
            if (event_matches(r, &c, st, json_array_get(p->pending, checked))) {
                json_array_remove(p->pending, checked);
                return;
            }
            if (r->why.len)
                return;
        }
        bool silent = p == &r->hub ? p->ctl.fd < 0 : p->out.fd < 0;
        if (stop_waiting(r, until) || silent)
            break;
        pump(r, until);
    }
    r->focus = p;
    if (!r->interrupted)
        fail(r, "%s saw no matching %s event within %s%s", p->name, st->name, TIMEOUT_TEXT(r, until, started),
             (p == &r->hub ? p->ctl.fd < 0 : p->out.fd < 0) ? " (its output channel closed)" : "");
}

static void step_signal(struct run *r, const struct hr_step *st)
{
    struct proc *p = actor(r, st);
    if (st->every_ms > 0) {   /* background: runs alongside later steps and bursts */
        r->bursts = realloc(r->bursts, (r->nbursts + 1) * sizeof *r->bursts);
        r->bursts[r->nbursts++] = (struct burst){p, st->signo, st->count, st->every_ms / 1000.0, now_s()};
        run_bursts(r);
        return;
    }
    /* A one-shot signal (TERM after a storm) comes after the running bursts. */
    while (bursts_pending(r) && !stop_waiting(r, r->deadline))
        pump(r, r->deadline);
    for (int i = 0; i < st->count; i++)
        send_signal(r, p, st->signo);
}

static void step_exit(struct run *r, const struct hr_step *st)
{
    struct proc *p = actor(r, st);
    double started = now_s(), until = step_deadline(r, st);
    if (st->kind == HR_STEP_KILL) {
        if (p->pid > 0 && !p->exited)
            kill(-p->pid, SIGKILL);
        p->sent_sig = SIGKILL;
    }
    while (!p->exited && !stop_waiting(r, until))
        pump(r, until);
    p->checked = true;
    if (!p->exited) {
        if (!r->interrupted)
            fail(r, "%s is still running after %s", p->name, TIMEOUT_TEXT(r, until, started));
        return;
    }
    if (st->kind == HR_STEP_EXIT && st->status >= 0 && (p->exit_sig || p->exit_code != st->status)) {
        struct dc_buf b;
        dc_buf_init(&b, 0);
        describe_exit(&b, p);
        fail(r, "%s %s; expected exit status %d", p->name, b.data, st->status);
        dc_buf_cleanup(&b);
    }
}

/* ---- teardown and report ---- */

/* Send the stop signal to procs [from, to) still running and wait up to
 * the grace period for them to exit. */
static void stop_procs(struct run *r, size_t from, size_t to, double grace)
{
    const struct hr_profile *pr = r->o->profile;
    for (size_t i = from; i < to; i++) {
        struct proc *p = proc_at(r, i);
        if (p->pid > 0 && !p->exited) {
            p->stopped = true;
            send_signal(r, p, p == &r->hub ? pr->stop_signo : SIGTERM);
        }
    }
    double until = now_s() + grace;
    for (;;) {
        bool all = true;
        for (size_t i = from; i < to; i++)
            all = all && (proc_at(r, i)->pid <= 0 || proc_at(r, i)->exited);
        if (all || now_s() >= until || r->interrupted)
            break;
        pump(r, until);
    }
}

/* Kill and reap the orphans our children left behind, which were
 * reparented to us (PR_SET_CHILD_SUBREAPER); again while more show up, as
 * deeper descendants are reparented when their own parents die. */
static void reap_orphans(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    for (int round = 0; round < 100; round++) {
        char *kids = hr_read_file(path, NULL);
        int killed = 0;
        for (char *k = kids; k && *k; killed++) {
            char *e;
            long pid = strtol(k, &e, 10);
            if (e == k)
                break;
            kill((pid_t)pid, SIGKILL);
            k = e;
        }
        free(kids);
        if (!killed)
            break;
        for (int i = 0; i < killed; i++)   /* each got SIGKILL: these waits end */
            if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
                break;
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void teardown(struct run *r)
{
    const struct hr_profile *pr = r->o->profile;
    double grace = pr->grace_ms * r->o->timeout_mult / 1000.0;
    /* Clients leave first, then the hub stops: the order a real shutdown
     * has, and the hub's log then shows every client leaving. */
    stop_procs(r, 1, nprocs(r), grace);
    stop_procs(r, 0, 1, grace);
    bool ok_so_far = !r->why.len;
    bool was_running[HR_MAX_CLIENTS + 1];
    for (size_t i = 0; i < nprocs(r); i++) {
        struct proc *p = proc_at(r, i);
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
            p->exit_at = now_s() - r->t0;
            p->exit_code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 0;
            p->exit_sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
        }
    }
    reap_orphans();   /* before draining: an escaped descendant may hold the pipes */
    for (size_t i = 0; i < nprocs(r); i++) {
        struct proc *p = proc_at(r, i);
        if (p->pid <= 0)
            continue;
        drain(r, p, now_s() + 1);
        if (!ok_so_far || p->checked || r->interrupted)
            continue;
        struct dc_buf b;
        dc_buf_init(&b, 0);
        if (was_running[i])
            fail(r, "%s did not exit within %.1fs of SIG%s and was killed", p->name, grace,
                 sigabbrev_np(p == &r->hub ? pr->stop_signo : SIGTERM));
        else if (p->exit_sig && p->stopped && p == &r->hub && pr->known_stop_crash) {
            describe_exit(&r->warning, p);
            dc_buf_appendf(&r->warning, " when asked to stop (known issue of this hub: %s)", pr->known_stop_crash);
        } else if (p->exit_sig || p->exit_code) {
            describe_exit(&b, p);
            fail(r, "%s %s%s", p->name, b.data, p->stopped ? " when asked to stop" : " unexpectedly");
        }
        dc_buf_cleanup(&b);
    }
}

static char *details(struct run *r)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    if (r->step)
        dc_buf_appendf(&b, "step: %s:%d: %s\n", r->s->path, r->step->line, r->step->text);
    else
        dc_buf_appendf(&b, "step: (%s)\n", r->started ? "teardown" : "starting the hub and the clients");
    dc_buf_appendf(&b, "why: %s\n", r->why.data);
    if (r->step && r->step->kind == HR_STEP_EXPECT) {
        dc_buf_appendf(&b, "expected: event %s", r->step->name);
        for (size_t i = 0; i < r->step->nmatch; i++)
            dc_buf_appendf(&b, " %s%c\"%s\"", r->step->match[i].field, r->step->match[i].contains ? '~' : '=', r->step->match[i].value);
        dc_buf_append_str(&b, "\n");
    }
    if (r->focus) {
        struct proc *p = r->focus;
        unsigned first = p->nrecent > RECENT ? p->nrecent - RECENT : 0;
        dc_buf_appendf(&b, "last events seen by %s:%s\n", p->name, p->nrecent ? "" : " (none)");
        for (unsigned i = first; i < p->nrecent; i++)
            dc_buf_appendf(&b, "  %s\n", p->recent[i % RECENT]);
    }
    for (size_t i = 0; i < nprocs(r); i++) {
        struct proc *p = proc_at(r, i);
        if (p->pid > 0 && p->exited && !p->stopped && p->sent_sig != SIGKILL) {
            dc_buf_appendf(&b, "note: %s ", p->name);
            describe_exit(&b, p);
            dc_buf_append_str(&b, "\n");
        }
    }
    for (size_t i = 0; i < nprocs(r); i++) {
        struct proc *p = proc_at(r, i);
        if (!p->log_path[0])
            continue;
        char *t = log_excerpt(p->log_path, p->log_mark, LOG_TAIL, 5);
        dc_buf_appendf(&b, "--- %s: %s ---\n%s", p->name, p->log_path, t);
        free(t);
    }
    if (r->trace_path[0]) {
        char *t = log_excerpt(r->trace_path, trace_offset(r->trace_path, r->fail_t), TRACE_TAIL, 5);
        dc_buf_appendf(&b, "--- hub trace: %s ---\n%s", r->trace_path, t);
        free(t);
    }
    return dc_buf_steal(&b, NULL);
}

static void run_scenario(struct run *r, int result_fd)
{
    r->t0 = now_s();
    r->deadline = r->t0 + hr_scenario_timeout(r->s, r->o) / 1000.0;
    if (start_hub(r) == 0)
        for (size_t i = 0; i < r->s->nclients && !r->why.len; i++)
            start_client(r, i);
    r->started = !r->why.len;
    for (size_t i = 0; i < r->s->nsteps && !r->why.len; i++) {
        const struct hr_step *st = &r->s->steps[i];
        if (!(st->protos & r->proto))
            continue;
        r->step = st;
        if (now_s() >= r->deadline) {
            fail(r, "the scenario timeout (%.1fs) ran out before this step", hr_scenario_timeout(r->s, r->o) / 1000.0);
            break;
        }
        switch (st->kind) {
        case HR_STEP_REQUEST: step_request(r, st); break;
        case HR_STEP_EXPECT: step_expect(r, st); break;
        case HR_STEP_SIGNAL: step_signal(r, st); break;
        case HR_STEP_EXIT:
        case HR_STEP_KILL: step_exit(r, st); break;
        }
    }
    if (!r->why.len)
        r->step = NULL;
    while (!r->why.len && bursts_pending(r) && !stop_waiting(r, r->deadline))
        pump(r, r->deadline);
    if (!r->why.len && bursts_pending(r))
        fail(r, "signal bursts were still running when the scenario timeout ran out");
    teardown(r);
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

static void run_init(struct run *r, const struct hr_scenario *s, unsigned proto, const char *dir,
                     const struct hr_run_opts *opts)
{
    *r = (struct run){.s = s, .proto = proto, .dir = dir, .o = opts};
    r->sigfd = become_runner();
    dc_buf_init(&r->why, 0);
    dc_buf_init(&r->warning, 0);
    proc_init(&r->hub, "hub");
    r->clients = calloc(s->nclients ? s->nclients : 1, sizeof *r->clients);
    for (size_t i = 0; i < s->nclients; i++)
        proc_init(&r->clients[i], s->clients[i].name);
}

static void run_cleanup(struct run *r)
{
    for (size_t i = 0; i < nprocs(r); i++)
        proc_cleanup(proc_at(r, i));
    free(r->clients);
    free(r->bursts);
    dc_buf_cleanup(&r->why);
    dc_buf_cleanup(&r->warning);
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
    /* The runner: its own group, dies with dcharness, adopts orphans. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
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
        char *url = protos & b ? expand(r, &c, pr->url[hr_proto_index(b)], pr->path) : NULL;
        if (url)
            json_object_set_new(urls, hr_proto_name(b), json_string(url));
        free(url);
    }
    for (unsigned b = 1; b <= HR_FEAT_SIGNALS; b <<= 1) {
        char name[32];
        if (pr->features & b)
            json_array_append_new(features, json_string(hr_feature_names(b, name, sizeof name)));
    }
    char *ctl = pr->control ? expand(r, &c, pr->control, pr->path) : NULL;
    json_t *ready = json_pack("{s:s,s:I,s:s,s:o,s:s,s:o,s:o,s:o}", "event", "ready", "pid", (json_int_t)r->hub.pid,
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
    r.t0 = now_s();
    r.deadline = r.t0 + 1e9;   /* no scenario timeout: the hub runs until it is stopped */
    char *line = start_hub(&r) == 0 ? hub_ready_line(&r, protos) : NULL;
    if (line) {
        r.started = true;
        fprintf(out, "%s\n", line);
        fflush(out);
        free(line);
        while (!r.interrupted && !r.hub.exited)
            pump(&r, now_s() + 60);
        if (r.interrupted) {
            /* The normal end: teardown judges the hub's stop as at the end of
             * a passing scenario. A second signal cuts the grace period short. */
            r.interrupted = false;
            dc_buf_reset(&r.why);
        }
    }
    teardown(&r);
    *res = (struct hr_result){.status = r.why.len ? HR_STATUS_FAIL : HR_STATUS_PASS, .seconds = now_s() - r.t0};
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
