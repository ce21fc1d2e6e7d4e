/* testutil.c: helpers for the client core's Criterion tests (see testutil.h). */
#include "client/tests/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <jansson.h>
#include <netinet/in.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tu_timeout(double seconds)
{
    const char *m = getenv("DCTEST_TIMEOUT_MULTIPLIER");
    double k = m ? atof(m) : 1.0;
    return seconds * (k > 0 ? k : 1.0);
}

static void tu_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

bool tu_run_until(struct event_base *base, bool (*cond_cb)(void *ctx), void *ctx, double timeout)
{
    bool expired = false;
    struct event *t = evtimer_new(base, tu_deadline_cb, &expired);
    double s = tu_timeout(timeout);
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    evtimer_add(t, &tv);
    bool ok;
    while (!(ok = cond_cb(ctx)) && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
    return ok;
}

/* ---- recorder ------------------------------------------------------------ */

static char *tu_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void tu_rec_event_cb(struct dcc_client *c, const struct dcc_event *ev, void *ctx)
{
    struct tu_rec *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->ev = realloc(r->ev, r->cap * sizeof *r->ev);
    }
    struct tu_ev *e = &r->ev[r->n++];
    *e = (struct tu_ev){
        .type = ev->type,
        .nick = tu_dup(ev->user ? ev->user->nick : NULL),
        .from = tu_dup(ev->from),
        .to = tu_dup(ev->to),
        .text = tu_dup(ev->text),
        .code = ev->code,
        .delay = ev->delay,
        .logged_in = ev->logged_in,
    };
    if (r->free_on && (int)ev->type == r->free_on - 1) {
        dcc_client_free(c);      /* inside the callback: must be safe */
        r->client = NULL;
    }
}

void tu_rec_cleanup(struct tu_rec *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ev[i].nick);
        free(r->ev[i].from);
        free(r->ev[i].to);
        free(r->ev[i].text);
    }
    free(r->ev);
    memset(r, 0, sizeof *r);
}

const struct tu_ev *tu_rec_find(const struct tu_rec *r, enum dcc_event_type type, const char *key)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct tu_ev *e = &r->ev[i];
        const char *k = e->nick ? e->nick : e->text;
        if (e->type == type && (!key || (k && strcmp(k, key) == 0)))
            return e;
    }
    return NULL;
}

size_t tu_rec_count(const struct tu_rec *r, enum dcc_event_type type)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->ev[i].type == type;
    return n;
}

/* ---- scripted peer ------------------------------------------------------- */

static void tu_peer_read_cb(struct bufferevent *bev, void *arg)
{
    struct tu_peer *p = arg;
    evbuffer_add_buffer(p->got, bufferevent_get_input(bev));
}

static void tu_peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tu_peer *p = arg;
    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && bev == p->bev) {
        bufferevent_free(p->bev);
        p->bev = NULL;
    }
}

static void tu_peer_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    struct tu_peer *p = arg;
    (void)l;
    (void)sa;
    (void)len;
    if (p->accepts < 64)
        p->accept_times[p->accepts] = tu_now();
    p->accepts++;
    if (p->close_on_accept) {
        close(fd);
        return;
    }
    if (p->bev)
        bufferevent_free(p->bev);
    evbuffer_drain(p->got, evbuffer_get_length(p->got));
    p->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(p->bev, tu_peer_read_cb, NULL, tu_peer_event_cb, p);
    bufferevent_enable(p->bev, EV_READ | EV_WRITE);
    if (p->greeting)
        tu_peer_send(p, p->greeting);
}

int tu_peer_start(struct tu_peer *p, struct event_base *base)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    memset(p, 0, sizeof *p);
    p->base = base;
    p->got = evbuffer_new();
    p->listener = evconnlistener_new_bind(base, tu_peer_accept_cb, p, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                          (struct sockaddr *)&sin, sizeof sin);
    if (!p->listener)
        return -1;
    socklen_t sl = sizeof sin;
    getsockname(evconnlistener_get_fd(p->listener), (struct sockaddr *)&sin, &sl);
    p->port = ntohs(sin.sin_port);
    return 0;
}

void tu_peer_drop(struct tu_peer *p)
{
    if (p->bev)
        bufferevent_free(p->bev);
    p->bev = NULL;
}

void tu_peer_stop(struct tu_peer *p)
{
    tu_peer_drop(p);
    if (p->listener)
        evconnlistener_free(p->listener);
    if (p->got)
        evbuffer_free(p->got);
    memset(p, 0, sizeof *p);
}

void tu_peer_send(struct tu_peer *p, const char *text)
{
    if (p->bev)
        bufferevent_write(p->bev, text, strlen(text));
}

struct tu_expect {
    struct tu_peer *p;
    const char *needle;
};

static bool tu_peer_has(void *arg)
{
    struct tu_expect *x = arg;
    size_t n = strlen(x->needle);
    return evbuffer_search(x->p->got, x->needle, n, NULL).pos >= 0;
}

bool tu_peer_expect(struct tu_peer *p, const char *needle, double timeout)
{
    struct tu_expect x = {p, needle};
    return tu_run_until(p->base, tu_peer_has, &x, timeout);
}

/* ---- fakehub child ------------------------------------------------------- */

int tu_hub_start(struct tu_hub *h, const char *const *extra)
{
    char bin[4096];
    const char *argv[32] = {NULL};
    size_t n = 0;
    snprintf(bin, sizeof bin, "%s/fakehub", DCC_BIN_DIR);
    argv[n++] = bin;
    argv[n++] = "--nmdc";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--adc";
    argv[n++] = "127.0.0.1:0";
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    memset(h, 0, sizeof *h);
    int pfd[2];
    if (access(bin, X_OK) < 0) {
        fprintf(stderr, "tu_hub_start: %s is not built\n", bin);
        return -1;
    }
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(pfd[1], 1);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    h->pid = pid;
    /* The ready line, with a deadline. */
    char line[1024];
    size_t len = 0;
    double end = tu_now() + tu_timeout(10);
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        struct pollfd pf = {pfd[0], POLLIN, 0};
        int ms = (int)((end - tu_now()) * 1000);
        if (ms <= 0 || poll(&pf, 1, ms) <= 0)
            break;
        ssize_t r = read(pfd[0], line + len, sizeof line - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(pfd[0]);
    line[len] = '\0';
    json_t *j = json_loads(line, 0, NULL);
    const char *nmdc = json_string_value(json_object_get(j, "nmdc"));
    const char *adc = json_string_value(json_object_get(j, "adc"));
    if (!nmdc || !adc) {
        fprintf(stderr, "tu_hub_start: bad ready line from fakehub: '%s'\n", line);
        json_decref(j);
        tu_hub_stop(h);
        return -1;
    }
    snprintf(h->nmdc_url, sizeof h->nmdc_url, "dchub://%s", nmdc);
    snprintf(h->adc_url, sizeof h->adc_url, "adc://%s", adc);
    const char *nmdcs = json_string_value(json_object_get(j, "nmdcs"));
    const char *adcs = json_string_value(json_object_get(j, "adcs"));
    const char *kp = json_string_value(json_object_get(j, "keyprint"));
    h->nmdcs_url[0] = h->adcs_url[0] = h->keyprint[0] = '\0';
    if (kp)
        snprintf(h->keyprint, sizeof h->keyprint, "%s", kp);
    if (nmdcs && kp)
        snprintf(h->nmdcs_url, sizeof h->nmdcs_url, "nmdcs://%s/?kp=%s", nmdcs, kp);
    if (adcs && kp)
        snprintf(h->adcs_url, sizeof h->adcs_url, "adcs://%s/?kp=%s", adcs, kp);
    json_decref(j);
    return 0;
}

void tu_hub_stop(struct tu_hub *h)
{
    if (h->pid <= 0)
        return;
    kill(h->pid, SIGTERM);
    double end = tu_now() + tu_timeout(3);
    int st;
    while (waitpid(h->pid, &st, WNOHANG) == 0) {
        if (tu_now() > end) {
            kill(h->pid, SIGKILL);
            waitpid(h->pid, &st, 0);
            break;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    h->pid = 0;
}

int tu_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3;   /* ".", ".." and the DIR's own descriptor */
}

int tu_leak_check(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __lsan_do_recoverable_leak_check();
#else
    return 0;
#endif
}
