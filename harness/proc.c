/* proc.c: the processes of a run (see run.h).
 *
 * Single-threaded poll() loop over every party's stdout/stderr pipes and
 * control socket, a pidfd per party (exit without SIGCHLD handlers), the
 * writable side of channels that hold queued requests, and a signalfd for
 * SIGTERM/SIGINT (no globals). Children are reaped only at teardown, after
 * their process group got SIGKILL, so a pgid is never reused under us.
 */
#include "harness/run.h"
#include "harness/sig.h"

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
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

void proc_log(struct run *r, struct party *p, const char *tag, const char *line, size_t len)
{
    if (p->log) {
        fprintf(p->log, "%8.3f %s| %.*s\n", hr_now() - r->t0, tag, (int)len, line);
        fflush(p->log);
    }
}

/* What a spawned child needs, all made before vfork: the child shares our
 * memory until its exec, so it only makes system calls on these. */
struct spawn_plan {
    char **argv, **envp;
    int fd[3];          /* its stdin, stdout, stderr */
    const char *dir;
    pid_t parent;
};

/* fd onto target, without the close-on-exec flag the pipes carry. */
static void move_fd(int fd, int target)
{
    if (fd == target)
        fcntl(fd, F_SETFD, 0);
    else
        dup2(fd, target);
}

static __attribute__((noreturn)) void spawn_child(const struct spawn_plan *sp)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != sp->parent)
        _exit(127);   /* the runner died before prctl took effect */
    /* Every signal at its default action, whatever dcharness inherited
     * (a shell runs background jobs with INT and QUIT ignored): a hub
     * that leaves one alone must meet its default. The actions are reset
     * before the mask is cleared, so no handler of the runner can run in
     * this child, which still shares the runner's memory. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < SIGRTMIN; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int k = 0; k < 3; k++)
        move_fd(sp->fd[k], k);
    if (chdir(sp->dir) < 0)
        _exit(127);
    execvpe(sp->argv[0], sp->argv, sp->envp);
    const char *why = strerror(errno);
    struct iovec iov[] = {{"dcharness: cannot run ", 22}, {sp->argv[0], strlen(sp->argv[0])}, {": ", 2},
                          {(char *)why, strlen(why)}, {"\n", 1}};
    if (writev(2, iov, 5) < 0)
        _exit(127);
    _exit(127);
}

/* environ with env's NAME=VALUE strings in place of (or added to) the same
 * names, as putenv would leave it; the strings are borrowed. */
static char **spawn_env(char **env)
{
    size_t n = 0, k = 0;
    for (char **e = environ; *e; e++)
        n++;
    for (char **e = env; e && *e; e++)
        n++;
    char **out = calloc(n + 1, sizeof *out);
    if (!out)
        abort();
    for (char **e = environ; *e; e++) {
        size_t name = strcspn(*e, "=");
        bool replaced = false;
        for (char **o = env; o && *o && !replaced; o++)
            replaced = strcspn(*o, "=") == name && !strncmp(*o, *e, name);
        if (!replaced)
            out[k++] = *e;
    }
    for (char **e = env; e && *e; e++) {
        size_t name = strcspn(*e, "=");
        bool later = false;   /* the last of two equal names wins, as with putenv */
        for (char **o = e + 1; *o && !later; o++)
            later = strcspn(*o, "=") == name && !strncmp(*o, *e, name);
        if (!later)
            out[k++] = *e;
    }
    return out;
}

int proc_spawn(struct run *r, struct party *p, char **argv, char **env, bool want_stdin)
{
    int in[2] = {-1, -1}, out[2], err[2];
    snprintf(p->log_path, sizeof p->log_path, "%s/%s.log", r->dir, p->name);
    if (!p->log && !(p->log = fopen(p->log_path, "a"))) {
        run_fail(r, "cannot create %s: %s", p->log_path, strerror(errno));
        return -1;
    }
    {
        struct dc_buf cmd;
        dc_buf_init(&cmd, 0);
        if (p->profile) {
            dc_buf_appendf(&cmd, "%s: profile %s (%s)", p->name, p->profile->name, p->profile->path);
            proc_log(r, p, "dcharness", cmd.data, cmd.len);
            dc_buf_reset(&cmd);
        }
        for (char **a = argv; *a; a++)
            dc_buf_appendf(&cmd, "%s%s", a == argv ? "" : " ", *a);
        proc_log(r, p, "run", cmd.data, cmd.len);
        dc_buf_cleanup(&cmd);
    }
    if ((want_stdin && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        run_fail(r, "pipe: %s", strerror(errno));
        return -1;
    }
    int devnull = want_stdin ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct spawn_plan sp = {.argv = argv, .envp = spawn_env(env), .fd = {want_stdin ? in[0] : devnull, out[1], err[1]},
                            .dir = r->dir, .parent = getpid()};
    /* vfork: we wait until the child has exec'd (no copy of our memory, and
     * on a loaded machine the child runs now rather than when the scheduler
     * gets to it); fork's copy-on-write also cost us a fault per page we
     * touched afterwards. */
    pid_t pid = vfork();
    if (pid == 0)
        spawn_child(&sp);
    int spawn_errno = errno;
    free(sp.envp);
    if (devnull >= 0)
        close(devnull);
    if (pid < 0) {
        run_fail(r, "vfork: %s", strerror(spawn_errno));
        return -1;
    }
    setpgid(pid, pid);   /* also here, so the group exists before we signal it */
    p->pid = pid;
    p->pidfd = pidfd_open(pid, 0);
    if (want_stdin) {
        close(in[0]);
        /* Our end only (the child's is another open file): a party that
         * stops reading its stdin must not block the runner. */
        fcntl(in[1], F_SETFL, O_NONBLOCK);
        p->in_fd = in[1];
    }
    close(out[1]);
    close(err[1]);
    p->out.fd = out[0];
    p->err.fd = err[0];
    p->exited = false;
    return 0;
}

/* Write what p's queue holds until the channel is full. */
static void flush_out(struct party *p)
{
    while (p->outq.len && p->in_fd >= 0) {
        ssize_t w = write(p->in_fd, p->outq.data, p->outq.len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0) {
            p->write_errno = w < 0 ? errno : EPIPE;
            dc_buf_reset(&p->outq);
            return;
        }
        memmove(p->outq.data, p->outq.data + w, p->outq.len - (size_t)w);
        p->outq.len -= (size_t)w;
    }
}

int proc_send(struct run *r, struct party *p, const char *data, size_t len)
{
    (void)r;
    if (p->in_fd < 0 || p->write_errno)
        return -1;
    dc_buf_append(&p->outq, data, len);
    flush_out(p);
    return p->write_errno ? -1 : 0;
}

/* Read what is available on a stream; split lines. EOF closes the fd. */
static void read_stream(struct run *r, struct party *p, struct stream *st)
{
    char buf[65536];
    ssize_t n = read(st->fd, buf, sizeof buf);
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        if (st->buf.len)
            party_line(r, p, st, st->buf.data, st->buf.len);
        dc_buf_reset(&st->buf);
        close(st->fd);
        st->fd = -1;
        return;
    }
    dc_buf_append(&st->buf, buf, (size_t)n);
    char *start = st->buf.data, *end = start + st->buf.len, *nl;
    while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
        party_line(r, p, st, start, (size_t)(nl - start));
        start = nl + 1;
    }
    size_t rest = (size_t)(end - start);
    if (rest > HR_MAX_LINE) {
        party_line(r, p, st, start, rest);
        rest = 0;
    }
    memmove(st->buf.data, start, rest);
    st->buf.len = rest;
}

/* A descendant that escaped the process group may keep a pipe open, hence
 * the bound. */
void proc_drain(struct run *r, struct party *p, double until)
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
        double left = until - hr_now();
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

/* "exit| exited with status 0 at +1.234s": when the party ended, in its
 * log, so a reader (bench_overhead.py) sees how long a stop took. */
void proc_log_exit(struct run *r, struct party *p)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    proc_describe_exit(&b, p);
    proc_log(r, p, "exit", b.data, b.len);
    dc_buf_cleanup(&b);
}

static void note_exit(struct run *r, struct party *p)
{
    siginfo_t si = {0};
    if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOWAIT | WNOHANG) < 0 || si.si_pid == 0)
        return;
    p->exited = true;
    p->exit_at = hr_now() - r->t0;
    if (si.si_code == CLD_EXITED)
        p->exit_code = si.si_status;
    else
        p->exit_sig = si.si_status;
    close(p->pidfd);
    p->pidfd = -1;
    proc_log_exit(r, p);
    /* A hub that ends while no later step expects it (hub exits/kill/stop)
     * fails the running step at once, not when that step times out. */
    if (p == r->hub && r->started && !p->stopped && (long)r->cur_step > r->hub_end_step) {
        struct dc_buf b, sigs;
        dc_buf_init(&b, 0);
        dc_buf_init(&sigs, 0);
        proc_describe_exit(&b, p);
        hr_siglog_format(&p->sigs, &sigs);
        run_fail(r, "the hub %s during this step, and no later step expects it to end (signals sent to it: %s)",
                 b.data, sigs.data);
        dc_buf_cleanup(&b);
        dc_buf_cleanup(&sigs);
    }
}

void proc_signal(struct run *r, struct party *p, int signo)
{
    if (p->pid > 0 && !p->reaped) {
        kill(p->pid, signo);   /* unreaped: the pid is still ours even after exit */
        p->sent_sig = signo;
        /* The signal timeline, also in the party's run log: one line per
         * run of one signal (a storm is one line, then its count). */
        unsigned n = p->sigs.n;
        hr_siglog_add(&p->sigs, signo, hr_now() - r->t0);
        if (p->sigs.n != n) {
            const char *name = HR_SIGNAL_NAME(signo);
            proc_log(r, p, "sig", name, strlen(name));
        }
    }
}

/* After a storm: its count into the run log. */
static void log_storm_end(struct run *r, struct burst *b, bool target_gone)
{
    const struct hr_siglog_entry *e = &b->p->sigs.e[(b->p->sigs.n - 1) % HR_SIGLOG];
    char line[160];
    int n = snprintf(line, sizeof line, "%s x%ld sent (storm from +%.3fs to +%.3fs%s)", HR_SIGNAL_NAME(e->signo),
                     e->count, e->first, e->last, target_gone ? "; ended early: the process exited" : "");
    proc_log(r, b->p, "sig", line, (size_t)n);
}

void proc_run_bursts(struct run *r)
{
    double t = hr_now();
    for (size_t i = 0; i < r->nbursts; i++) {
        struct burst *b = &r->bursts[i];
        /* A storm on a process that has ended signals a zombie: nothing can
         * receive the rest, so it ends now (its count says what was sent),
         * and teardown, `hub stop` and one-shot signals need not wait for it. */
        if (b->left > 0 && (b->p->exited || b->p->reaped)) {
            b->left = 0;
            log_storm_end(r, b, true);
            continue;
        }
        while (b->left > 0 && b->next <= t) {
            proc_signal(r, b->p, b->signo);
            b->left--;
            b->next += b->every;
            if (!b->left)
                log_storm_end(r, b, false);
        }
    }
}

bool proc_bursts_pending(const struct run *r)
{
    for (size_t i = 0; i < r->nbursts; i++)
        if (r->bursts[i].left > 0)
            return true;
    return false;
}

enum watch { W_READ, W_WRITE, W_EXIT, W_SIGNAL };

#define MAX_POLL (5 * HR_MAX_PARTIES + 1)   /* 3 streams, pidfd, write side per party; signalfd */

void proc_pump(struct run *r, double until)
{
    struct pollfd pf[MAX_POLL];
    struct { struct party *p; struct stream *st; enum watch w; } who[MAX_POLL];
    nfds_t n = 0;
    for (size_t i = 0; i < r->nparties; i++) {
        struct party *p = &r->parties[i];
        struct stream *sts[] = {&p->out, &p->err, &p->ctl};
        for (int k = 0; k < 3; k++)
            if (sts[k]->fd >= 0) {
                pf[n] = (struct pollfd){.fd = sts[k]->fd, .events = POLLIN};
                who[n++] = (typeof(who[0])){p, sts[k], W_READ};
            }
        if (p->pidfd >= 0) {
            pf[n] = (struct pollfd){.fd = p->pidfd, .events = POLLIN};
            who[n++] = (typeof(who[0])){p, NULL, W_EXIT};
        }
        if (p->outq.len && p->in_fd >= 0) {
            pf[n] = (struct pollfd){.fd = p->in_fd, .events = POLLOUT};
            who[n++] = (typeof(who[0])){p, NULL, W_WRITE};
        }
    }
    pf[n] = (struct pollfd){.fd = r->sigfd, .events = POLLIN};
    who[n++] = (typeof(who[0])){NULL, NULL, W_SIGNAL};
    double wake = until;
    for (size_t i = 0; i < r->nbursts; i++)
        if (r->bursts[i].left > 0 && r->bursts[i].next < wake)
            wake = r->bursts[i].next;
    double left = wake - hr_now();
    int ms = left <= 0 ? 0 : (int)ceil(left * 1000);
    int k = poll(pf, n, ms);
    for (nfds_t i = 0; k > 0 && i < n; i++) {
        if (!pf[i].revents)
            continue;
        switch (who[i].w) {
        case W_SIGNAL: {
            struct signalfd_siginfo si;
            if (read(r->sigfd, &si, sizeof si) == sizeof si) {
                r->interrupted = true;
                run_fail(r, "interrupted by signal %d (%s)", (int)si.ssi_signo, strsignal((int)si.ssi_signo));
            }
            break;
        }
        case W_READ: read_stream(r, who[i].p, who[i].st); break;
        case W_WRITE: flush_out(who[i].p); break;
        case W_EXIT: note_exit(r, who[i].p); break;
        }
    }
    proc_run_bursts(r);
}

void proc_describe_exit(struct dc_buf *b, const struct party *p)
{
    if (p->exit_sig)
        dc_buf_appendf(b, "was killed by signal %d (SIG%s)", p->exit_sig, sigabbrev_np(p->exit_sig) ? sigabbrev_np(p->exit_sig) : "?");
    else
        dc_buf_appendf(b, "exited with status %d", p->exit_code);
    dc_buf_appendf(b, " at +%.3fs", p->exit_at);
    /* Killed by the very signal we sent: it was left at its default action. */
    const struct hr_siglog_entry *last = p->sigs.n ? &p->sigs.e[(p->sigs.n - 1) % HR_SIGLOG] : NULL;
    if (p->exit_sig && p->exit_sig != SIGKILL && last && last->signo == p->exit_sig)
        dc_buf_appendf(b, " (by the %s sent at +%.3fs: it does not handle that signal, so its default action ran)",
                       HR_SIGNAL_NAME(p->exit_sig), last->last);
}

/* Orphans of our children were reparented to us (PR_SET_CHILD_SUBREAPER);
 * again while more show up, as deeper descendants are reparented when their
 * own parents die. */
void proc_reap_orphans(void)
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

/* The `before` lines up to byte offset mark (where the file stood when the
 * scenario failed) and up to `after` lines past it, so that teardown output
 * does not push out what led to the failure. mark < 0: the file's end. */
char *proc_log_excerpt(const char *path, long mark, int before, int after)
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

/* "t" is CLOCK_MONOTONIC seconds (docs/fakehub.md): the trace is buffered,
 * so its size at the failure says nothing, but its stamps do. */
long proc_trace_offset(const char *path, double t)
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
