/* hang.c: liveness probe, /proc state, stacks and the hang verdict (hang.h). */
#include "harness/hang.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "harness/profile.h"   /* hr_read_file */
#include "harness/sig.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- liveness probe ---- */

static int connect_to(const char *host, const char *port, double until)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);   /* "localhost" and the like */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t el = sizeof err;
    double left = until - now_s();
    if (poll(&pf, 1, left > 0 ? (int)ceil(left * 1000) : 0) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Wait until fd is readable (or writable) before until. */
static bool wait_fd(int fd, short events, double until)
{
    struct pollfd pf = {.fd = fd, .events = events};
    double left = until - now_s();
    return left > 0 && poll(&pf, 1, (int)ceil(left * 1000)) == 1;
}

/* libssl, loaded only when a TLS hub is probed (dlopen): linking it would
 * cost every dcharness start ~1.3 ms of relocations (libssl + libcrypto),
 * for a probe few runs take. The functions the probe calls, from one handle. */
struct ssl_api {
    void *lib;
    const SSL_METHOD *(*client_method)(void);
    SSL_CTX *(*ctx_new)(const SSL_METHOD *);
    void (*ctx_free)(SSL_CTX *);
    SSL *(*new)(SSL_CTX *);
    void (*free)(SSL *);
    int (*set_fd)(SSL *, int);
    int (*connect)(SSL *);
    int (*get_error)(const SSL *, int);
    int (*read)(SSL *, void *, int);
    int (*write)(SSL *, const void *, int);
};

/* false (nothing held) when libssl cannot be loaded. */
static bool ssl_api_load(struct ssl_api *a)
{
    *a = (struct ssl_api){.lib = dlopen(HR_LIBSSL_SONAME, RTLD_NOW | RTLD_LOCAL)};
    if (!a->lib)
        return false;
    /* dlsym returns void *: stored through a void * view of each pointer. */
#define SYM(field, name) (*(void **)&a->field = dlsym(a->lib, name))
    if (!SYM(client_method, "TLS_client_method") || !SYM(ctx_new, "SSL_CTX_new") || !SYM(ctx_free, "SSL_CTX_free") ||
        !SYM(new, "SSL_new") || !SYM(free, "SSL_free") || !SYM(set_fd, "SSL_set_fd") || !SYM(connect, "SSL_connect") ||
        !SYM(get_error, "SSL_get_error") || !SYM(read, "SSL_read") || !SYM(write, "SSL_write")) {
        dlclose(a->lib);
        a->lib = NULL;
        return false;
    }
#undef SYM
    return true;
}

/* One non-blocking SSL call's result: >0 done, 0 retry it (the socket became
 * ready), -1 failed or out of time. */
static int ssl_io(const struct ssl_api *api, SSL *ssl, int fd, int rc, double until)
{
    if (rc > 0)
        return rc;
    int e = api->get_error(ssl, rc);
    if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
        !wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, until))
        return -1;
    return 0;
}

enum hr_greet hr_probe_greeting(const char *host, const char *port, bool adc, bool tls, double bound_s)
{
    double until = now_s() + bound_s;
    int fd = connect_to(host, port, until);
    if (fd < 0)
        return HR_GREET_REFUSED;
    struct ssl_api api = {0};
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    enum hr_greet res = HR_GREET_SILENT;
    if (tls) {
        /* No verification: the probe asks whether the hub answers, not who it is. */
        if (!ssl_api_load(&api)) {
            res = HR_GREET_NO_TLS;
            goto out;
        }
        ctx = api.ctx_new(api.client_method());
        ssl = ctx ? api.new(ctx) : NULL;
        if (!ssl || !api.set_fd(ssl, fd))
            goto out;
        int rc;
        while ((rc = ssl_io(&api, ssl, fd, api.connect(ssl), until)) == 0)
            ;
        if (rc < 0) {
            res = now_s() < until ? HR_GREET_CLOSED : HR_GREET_SILENT;
            goto out;
        }
    }
    if (adc) {
        static const char hsup[] = "HSUP ADBASE ADTIGR\n";
        int rc;
        if (tls) {
            while ((rc = ssl_io(&api, ssl, fd, api.write(ssl, hsup, sizeof hsup - 1), until)) == 0)
                ;
        } else {
            rc = wait_fd(fd, POLLOUT, until) ? (int)write(fd, hsup, sizeof hsup - 1) : -1;
        }
        if (rc <= 0)
            goto out;
    }
    char buf[8192];
    size_t got = 0;
    const char *want = adc ? "ISID " : "$Lock ";
    while (got < sizeof buf - 1) {
        ssize_t n;
        if (tls) {
            int rc;
            while ((rc = ssl_io(&api, ssl, fd, api.read(ssl, buf + got, (int)(sizeof buf - 1 - got)), until)) == 0)
                ;
            n = rc;
        } else {
            n = wait_fd(fd, POLLIN, until) ? read(fd, buf + got, sizeof buf - 1 - got) : -2;
        }
        if (n == -2 || (n < 0 && now_s() >= until))
            break;   /* silent until the bound */
        if (n <= 0) {
            res = HR_GREET_CLOSED;
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
        char *hit = strstr(buf, want);
        if (hit && (hit == buf || hit[-1] == '\n' || hit[-1] == '|')) {
            res = HR_GREET_OK;
            break;
        }
    }
out:
    if (ssl)
        api.free(ssl);
    if (ctx)
        api.ctx_free(ctx);
    if (api.lib)
        dlclose(api.lib);
    close(fd);
    return res;
}

const char *hr_greet_text(enum hr_greet g)
{
    switch (g) {
    case HR_GREET_OK: return "greeted";
    case HR_GREET_REFUSED: return "refused the connection";
    case HR_GREET_CLOSED: return "closed the connection before its greeting";
    case HR_GREET_SILENT: return "sent no greeting";
    case HR_GREET_NO_TLS: return "was not tried: " HR_LIBSSL_SONAME " did not load";
    }
    return "?";
}

/* ---- /proc ---- */

void hr_proc_state(pid_t pid, struct hr_proc_state *st)
{
    char path[64];
    memset(st, 0, sizeof *st);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *stat = hr_read_file(path, NULL);
    /* The command name may hold blanks and parentheses: fields start after the last ')'. */
    char *p = stat ? strrchr(stat, ')') : NULL;
    if (p) {
        unsigned long utime = 0, stime = 0;
        long threads = 0;
        /* state(3) ... utime(14) stime(15) ... num_threads(20) */
        if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld",
                   &st->state, &utime, &stime, &threads) == 4) {
            st->exists = true;
            st->cpu_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
            st->nthreads = (int)threads;
        }
    }
    free(stat);
    snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
    char *w = hr_read_file(path, NULL);
    if (w && strcmp(w, "0"))
        snprintf(st->wchan, sizeof st->wchan, "%s", w);
    free(w);
}

const char *hr_proc_state_text(char state)
{
    switch (state) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "in uninterruptible wait";
    case 'T': return "stopped";
    case 't': return "stopped by a tracer";
    case 'Z': return "a zombie (exited, not reaped)";
    case 'X': return "dead";
    default: return "in an unknown state";
    }
}

/* Append each line of text to b, indented. */
static void indent(struct dc_buf *b, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        dc_buf_appendf(b, "  %.*s\n", (int)n, p);
        p += n + 1;
    }
}

/* Run gdb on pid; its output (only the stack lines and thread headers) into
 * out. False if gdb could not run or showed no frame. */
static bool gdb_stacks(pid_t pid, const char *gdb, double timeout_s, struct dc_buf *out, char *why, size_t whylen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return false;
    }
    char pidtext[16];
    snprintf(pidtext, sizeof pidtext, "%d", (int)pid);
    pid_t parent = getpid();
    pid_t g = fork();
    if (g < 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(why, whylen, "fork: %s", strerror(errno));
        return false;
    }
    if (g == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execlp(gdb, gdb, "-batch", "-nx", "-p", pidtext, "-ex", "thread apply all bt", (char *)NULL);
        dprintf(2, "cannot run %s: %s\n", gdb, strerror(errno));
        _exit(127);
    }
    setpgid(g, g);
    close(fds[1]);
    struct dc_buf raw;
    dc_buf_init(&raw, 0);
    double until = now_s() + timeout_s;
    bool timed_out = false;
    for (;;) {
        char buf[8192];
        if (!wait_fd(fds[0], POLLIN, until)) {
            timed_out = true;
            break;
        }
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0)
            break;
        dc_buf_append(&raw, buf, (size_t)n);
    }
    close(fds[0]);
    kill(-g, SIGKILL);   /* done or over time: the group goes either way */
    int ws = 0;
    while (waitpid(g, &ws, 0) < 0 && errno == EINTR)
        ;
    /* Keep thread headers and frames; drop gdb's chatter about symbols. */
    size_t frames = 0;
    char *p = raw.data, *end = raw.data ? raw.data + raw.len : NULL;
    while (p && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n && (p[0] == '#' || !strncmp(p, "Thread ", 7))) {
            dc_buf_appendf(out, "  %.*s\n", (int)n, p);
            frames += p[0] == '#';
        }
        p += n + 1;
    }
    if (!frames) {
        if (timed_out)
            snprintf(why, whylen, "%s took over %.0fs", gdb, timeout_s);
        else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127)
            snprintf(why, whylen, "%s is not installed", gdb);
        else {
            const char *last = raw.len ? raw.data : "";
            size_t l = raw.len;
            while (l && raw.data[l - 1] == '\n')
                l--;
            const char *nl = l ? memrchr(last, '\n', l) : NULL;
            snprintf(why, whylen, "%s showed no stack (%.*s)", gdb, (int)(nl ? l - (size_t)(nl + 1 - last) : l),
                     nl ? nl + 1 : last);
        }
    }
    dc_buf_cleanup(&raw);
    return frames > 0;
}

static void proc_task_stacks(pid_t pid, struct dc_buf *b)
{
    char path[320];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) {
        dc_buf_appendf(b, "  (cannot open %s: %s)\n", path, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *comm, *wchan, *stack;
        snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, e->d_name);
        comm = hr_read_file(path, NULL);
        snprintf(path, sizeof path, "/proc/%d/task/%s/wchan", (int)pid, e->d_name);
        wchan = hr_read_file(path, NULL);
        snprintf(path, sizeof path, "/proc/%d/task/%s/stack", (int)pid, e->d_name);
        stack = hr_read_file(path, NULL);
        if (comm)
            comm[strcspn(comm, "\n")] = '\0';
        dc_buf_appendf(b, "  thread %s (%s): wchan %s\n", e->d_name, comm ? comm : "?",
                       wchan && strcmp(wchan, "0") ? wchan : "(none: running)");
        if (stack && *stack)
            indent(b, stack, strlen(stack));
        else
            dc_buf_appendf(b, "  (no kernel stack readable: %s)\n", stack ? "empty" : strerror(errno));
        free(comm);
        free(wchan);
        free(stack);
    }
    closedir(d);
}

void hr_proc_stacks(pid_t pid, const char *gdb, double timeout_s, struct dc_buf *b)
{
    char why[256] = "";
    if (gdb && *gdb && strcmp(gdb, "none")) {
        struct dc_buf s;
        dc_buf_init(&s, 0);
        if (gdb_stacks(pid, gdb, timeout_s, &s, why, sizeof why)) {
            dc_buf_appendf(b, "stacks of every thread (%s -batch -p %d -ex \"thread apply all bt\"):\n", gdb, (int)pid);
            dc_buf_append(b, s.data, s.len);
            dc_buf_cleanup(&s);
            return;
        }
        dc_buf_cleanup(&s);
    } else {
        snprintf(why, sizeof why, "gdb disabled (DCHARNESS_GDB=%s)", gdb ? gdb : "");
    }
    dc_buf_appendf(b, "stacks of every thread (from /proc/%d/task/*/stack and wchan, kernel side only; %s):\n",
                   (int)pid, why);
    proc_task_stacks(pid, b);
}

/* ---- signal timeline ---- */

void hr_siglog_add(struct hr_siglog *l, int signo, double t)
{
    struct hr_siglog_entry *last = l->n ? &l->e[(l->n - 1) % HR_SIGLOG] : NULL;
    if (last && last->signo == signo) {
        last->count++;
        last->last = t;
        return;
    }
    l->e[l->n++ % HR_SIGLOG] = (struct hr_siglog_entry){signo, 1, t, t};
}

void hr_siglog_format(const struct hr_siglog *l, struct dc_buf *b)
{
    if (!l || !l->n) {
        dc_buf_append_str(b, "none");
        return;
    }
    unsigned first = l->n > HR_SIGLOG ? l->n - HR_SIGLOG : 0;
    for (unsigned i = l->n; i-- > first;) {
        const struct hr_siglog_entry *e = &l->e[i % HR_SIGLOG];
        if (i != l->n - 1)
            dc_buf_append_str(b, "; ");
        if (e->count == 1)
            dc_buf_appendf(b, "+%.3fs %s", e->first, HR_SIGNAL_NAME(e->signo));
        else
            dc_buf_appendf(b, "+%.3fs..+%.3fs %s x%ld", e->first, e->last, HR_SIGNAL_NAME(e->signo), e->count);
    }
    if (first)
        dc_buf_appendf(b, "; (%u earlier)", first);
}

/* ---- verdict ---- */

enum hr_liveness hr_hang_verdict(const struct hr_hang_probe *in, struct dc_buf *summary, struct dc_buf *details)
{
    struct hr_proc_state st;
    hr_proc_state(in->pid, &st);
    struct dc_buf sigs;
    dc_buf_init(&sigs, 0);
    hr_siglog_format(in->sigs, &sigs);
    const struct hr_siglog_entry *last = in->sigs && in->sigs->n ? &in->sigs->e[(in->sigs->n - 1) % HR_SIGLOG] : NULL;
    char lastsig[96] = "no signal was sent to it";
    if (last)
        snprintf(lastsig, sizeof lastsig, "last signal %s at +%.3fs", HR_SIGNAL_NAME(last->signo), last->last);
    enum hr_liveness v;
    if (in->exited || !st.exists || st.state == 'Z' || st.state == 'X') {
        v = HR_LIVE_DEAD;
        dc_buf_appendf(summary, "dead (%s)", lastsig);
        dc_buf_appendf(details, "hub verdict: dead\nlast signals sent: %s\n", sigs.data);
        dc_buf_cleanup(&sigs);
        return v;
    }
    const char *greeting = in->adc ? "ISID after HSUP" : "$Lock";
    enum hr_greet g = in->port ? hr_probe_greeting(in->host, in->port, in->adc, in->tls, in->bound_s) : HR_GREET_SILENT;
    char probe[512];
    if (!in->port)
        snprintf(probe, sizeof probe, "its address is unknown, so no fresh connection was tried");
    else if (g == HR_GREET_OK)
        snprintf(probe, sizeof probe, "a fresh connection got %s", greeting);
    else if (g == HR_GREET_NO_TLS)
        snprintf(probe, sizeof probe, "no fresh TLS connection was tried: %s did not load", HR_LIBSSL_SONAME);
    else
        snprintf(probe, sizeof probe, "a fresh connection %s: no %s within %.1fs", hr_greet_text(g), greeting, in->bound_s);
    v = g == HR_GREET_OK ? HR_LIVE_ANSWERING : HR_LIVE_HUNG;
    if (v == HR_LIVE_HUNG)
        dc_buf_appendf(summary, "hung (alive, but %s; %s)", probe, lastsig);
    else
        dc_buf_appendf(summary, "alive and answering (%s; %s)", probe, lastsig);
    dc_buf_appendf(details, "hub verdict: %s (%s)\n", v == HR_LIVE_HUNG ? "HUNG" : "alive and answering", probe);
    dc_buf_appendf(details, "hub process %d: %s (%c), wchan %s, CPU used %.2fs, %d thread%s\n", (int)in->pid,
                   hr_proc_state_text(st.state), st.state, st.wchan[0] ? st.wchan : "(none: running)", st.cpu_s,
                   st.nthreads, st.nthreads == 1 ? "" : "s");
    dc_buf_appendf(details, "last signals sent (newest first): %s\n", sigs.data);
    dc_buf_cleanup(&sigs);
    if (v == HR_LIVE_HUNG)   /* where it is stuck; a hub that answers needs no stacks */
        hr_proc_stacks(in->pid, in->gdb, in->gdb_timeout_s, details);
    return v;
}
