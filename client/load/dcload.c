/* dcload.c: a load generator built on the client core: N clients from ONE
 * process on one event_base log into any hub (URL), some of them chat and
 * send PMs, and it reports logins/s, message deliveries/s and delivery
 * latency percentiles; with --hub-pid, the hub's memory per user from
 * /proc/<pid>/status (VmRSS before the first login and once all are in).
 *
 * Phases: (1) logins, at most --concurrency in flight at once; (2) the
 * chatters wait until they see their PM targets; (3) each of the --chatters
 * first clients sends --messages main-chat lines and as many PMs (to the
 * client --pm-offset places after it), one every --interval seconds; every
 * delivery is timed from the send time carried in the text; (4) report,
 * free everything, exit 0 (1 if a phase did not finish in --timeout or a
 * client failed to log in or lost the hub). SIGINT or SIGTERM end it early
 * with the report of what happened so far; "lost" counts the deliveries
 * due for what was sent (each chat line to every user online then, each PM
 * to its target) that did not arrive.
 *
 * It keeps its state in struct load (no globals) and uses only the public
 * API in client/dcc.h. Not a test: tests check it runs (test_dcload.py).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/event.h>

#include "client/dcc.h"

#define TAG "dcload "

/* Command-line options (values parsed into struct load_opts). */
struct load_opts {
    const char *hub;
    const char *prefix;
    int clients, concurrency, chatters, messages, pm_offset;
    double interval, timeout;
    long hub_pid;
    bool json;
};

struct load;

/* One simulated user. Owned by struct load's array; c is owned. */
struct load_client {
    struct load *load;          /* borrowed back-pointer */
    struct dcc_client *c;
    int index;
    double started;             /* when connect was called */
    bool online, failed;
    int sent;                   /* chat lines sent so far (PMs follow each) */
    struct event *send_timer;   /* chatters only */
};

/* The whole run. Owns the clients, the latency samples and the timers. */
struct load {
    struct load_opts o;
    struct event_base *base;    /* owned */
    struct load_client *cl;     /* owned array of o.clients */
    int next_to_start, in_flight, online, failed;
    double t_login_start, t_login_end;
    double *lat;                /* owned: delivery latencies, seconds */
    size_t nlat, caplat;
    long chat_deliveries, pm_deliveries, sent;
    long owed;                  /* deliveries due for what was sent: online users per chat line, 1 per PM */
    double t_send_start, t_last_delivery;
    char first_error[DCC_ERR_LEN];
    long rss_before, rss_after; /* hub VmRSS in KiB around the logins; -1 unknown */
    long anon_before, anon_after; /* its RssAnon: the same without file pages (code) */
    int phase;                  /* 1 login, 2 settle, 3 messages, 4 done */
    bool timed_out;
    struct event *deadline;     /* owned */
    struct event *sigint;       /* owned */
    struct event *sigterm;      /* owned: like SIGINT, so a harness can stop it and still get figures */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One "Name: N kB" figure of /proc/<pid>/status, or -1. */
static long status_kib(long pid, const char *name)
{
    char path[64], line[256];
    long kib = -1;
    size_t n = strlen(name);
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':' && sscanf(line + n + 1, "%ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Each client holds one socket: raise the soft fd limit to the hard one and
 * warn when even that cannot hold them (the failures then say EMFILE). */
static void raise_nofile(int clients)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)clients + 32)
        fprintf(stderr, "dcload: RLIMIT_NOFILE %llu is too low for %d clients (ulimit -Hn)\n",
                (unsigned long long)rl.rlim_cur, clients);
}

static void start_more(struct load *L);
static void maybe_advance(struct load *L);

static void record(struct load *L, double latency)
{
    if (L->nlat == L->caplat) {
        size_t cap = L->caplat ? L->caplat * 2 : 1024;
        double *p = realloc(L->lat, cap * sizeof *p);
        if (!p)
            return;
        L->lat = p;
        L->caplat = cap;
    }
    L->lat[L->nlat++] = latency;
    L->t_last_delivery = now_s();
}

/* "dcload <sender> <seq> <send time>": the latency of this delivery, or -1.
 * Only the send time is parsed, with strtod: this runs once per delivery, and
 * sscanf was dcload's own largest cost (perf: 2.7% of a 1,000-client run,
 * nearly all of it inside the ~0.2 s message phase). */
static double latency_of(const char *text)
{
    const char *sp = strrchr(text, ' ');
    char *end;
    if (strncmp(text, TAG, strlen(TAG)) != 0 || !sp || sp < text + strlen(TAG))
        return -1;
    double sent = strtod(sp + 1, &end);
    return end == sp + 1 || *end ? -1 : now_s() - sent;
}

static void event_cb(struct dcc_client *c, const struct dcc_event *ev, void *arg)
{
    struct load_client *lc = arg;
    struct load *L = lc->load;
    (void)c;
    double lat;
    switch (ev->type) {
    case DCC_EVENT_CONNECTED:
        lc->online = true;
        L->online++;
        L->in_flight--;
        break;
    case DCC_EVENT_DISCONNECTED:
        if (!lc->online) {
            L->in_flight--;
            L->failed++;
            lc->failed = true;
            if (!L->first_error[0])
                snprintf(L->first_error, sizeof L->first_error, "%s", ev->text);
        } else {
            lc->online = false;
            L->online--;
            L->failed++;
            if (!L->first_error[0])
                snprintf(L->first_error, sizeof L->first_error, "lost: %s", ev->text);
        }
        break;
    case DCC_EVENT_CHAT:
        if ((lat = latency_of(ev->text)) >= 0) {
            L->chat_deliveries++;
            record(L, lat);
        }
        break;
    case DCC_EVENT_PM:
        if ((lat = latency_of(ev->text)) >= 0) {
            L->pm_deliveries++;
            record(L, lat);
        }
        break;
    default:
        break;
    }
    maybe_advance(L);
}

static void send_cb(evutil_socket_t fd, short what, void *arg)
{
    struct load_client *lc = arg;
    struct load *L = lc->load;
    (void)fd;
    (void)what;
    char text[128], err[DCC_ERR_LEN], target[64];
    if (!lc->online || lc->sent >= L->o.messages)
        return;
    int to = (lc->index + L->o.pm_offset) % L->o.clients;
    snprintf(target, sizeof target, "%s%d", L->o.prefix, to);
    snprintf(text, sizeof text, TAG "%d %d %.9f", lc->index, lc->sent, now_s());
    if (dcc_client_say(lc->c, text, err) == 0) {
        L->sent++;
        L->owed += L->online;   /* the hub echoes chat to everyone, sender included */
    }
    snprintf(text, sizeof text, TAG "%d %d %.9f", lc->index, lc->sent, now_s());
    if (to != lc->index && dcc_client_pm(lc->c, target, text, err) == 0) {
        L->sent++;
        L->owed++;
    }
    if (++lc->sent < L->o.messages) {
        struct timeval tv = {(time_t)L->o.interval, (suseconds_t)((L->o.interval - (time_t)L->o.interval) * 1e6)};
        evtimer_add(lc->send_timer, &tv);
    }
}

static int online_chatters_see_targets(struct load *L)
{
    char target[64];
    for (int i = 0; i < L->o.chatters; i++) {
        struct load_client *lc = &L->cl[i];
        int to = (i + L->o.pm_offset) % L->o.clients;
        snprintf(target, sizeof target, "%s%d", L->o.prefix, to);
        if (lc->online && !L->cl[to].failed && !dcc_client_find_user(lc->c, target))
            return 0;
    }
    return 1;
}

static long expected_deliveries(struct load *L)
{
    long chat = 0, pm = 0;
    for (int i = 0; i < L->o.chatters; i++) {
        if (!L->cl[i].online)
            continue;
        chat += (long)L->o.messages * L->online;   /* the hub echoes chat to everyone, sender included */
        pm += (i + L->o.pm_offset) % L->o.clients != i ? L->o.messages : 0;
    }
    return chat + pm;
}

static void maybe_advance(struct load *L)
{
    if (L->phase == 1) {
        start_more(L);
        if (L->online + L->failed == L->o.clients) {
            L->t_login_end = now_s();
            L->phase = 2;
            if (L->o.hub_pid > 0) {
                L->rss_after = status_kib(L->o.hub_pid, "VmRSS");
                L->anon_after = status_kib(L->o.hub_pid, "RssAnon");
            }
        }
    }
    if (L->phase == 2 && online_chatters_see_targets(L)) {
        L->phase = 3;
        L->t_send_start = now_s();
        for (int i = 0; i < L->o.chatters; i++)
            if (L->cl[i].online)
                event_active(L->cl[i].send_timer, EV_TIMEOUT, 1);
    }
    if (L->phase == 3 && L->chat_deliveries + L->pm_deliveries >= expected_deliveries(L)) {
        L->phase = 4;
        event_base_loopexit(L->base, NULL);
    }
}

static void start_more(struct load *L)
{
    char err[DCC_ERR_LEN];
    while (L->next_to_start < L->o.clients && L->in_flight < L->o.concurrency) {
        struct load_client *lc = &L->cl[L->next_to_start++];
        lc->started = now_s();
        L->in_flight++;
        if (dcc_client_connect(lc->c, L->o.hub, err) < 0) {
            L->in_flight--;
            L->failed++;
            lc->failed = true;
            if (!L->first_error[0])
                snprintf(L->first_error, sizeof L->first_error, "%s", err);
        }
    }
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct load *L = arg;
    (void)fd;
    (void)what;
    L->timed_out = true;
    event_base_loopexit(L->base, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Deliveries due for what was sent and not seen (the hub lost them, or the
 * run was stopped before they arrived). */
static long lost(struct load *L)
{
    long missing = L->owed - L->chat_deliveries - L->pm_deliveries;
    return missing > 0 ? missing : 0;
}

static void report(struct load *L)
{
    long rss_before = L->rss_before, rss_after = L->rss_after;
    if (L->nlat)   /* lat is NULL when nothing was delivered (qsort's base must not be) */
        qsort(L->lat, L->nlat, sizeof *L->lat, cmp_double);
    double login_s = L->t_login_end > 0 ? L->t_login_end - L->t_login_start : now_s() - L->t_login_start;
    double msg_s = L->t_last_delivery > L->t_send_start ? L->t_last_delivery - L->t_send_start : 0;
    long deliveries = L->chat_deliveries + L->pm_deliveries;
    double per_user = rss_before >= 0 && rss_after >= 0 && L->online ? (double)(rss_after - rss_before) / L->online : -1;
    /* VmRSS also counts the code pages the first logins fault in (~16 KiB
     * for fakehub: 0.16 KiB a user of a 100-user run); RssAnon is the
     * hub's own data only. Both are reported; bench_load judges VmRSS. */
    double anon_per_user = L->anon_before >= 0 && L->anon_after >= 0 && L->online
                               ? (double)(L->anon_after - L->anon_before) / L->online : -1;
    const char *phase[] = {"", "login", "settle", "messages", "done"};
    if (L->o.json) {
        printf("{\"clients\":%d,\"online\":%d,\"failed\":%d,\"login_seconds\":%.6f,\"logins_per_second\":%.2f,"
               "\"sent\":%ld,\"chat_deliveries\":%ld,\"pm_deliveries\":%ld,\"expected_deliveries\":%ld,\"lost\":%ld,"
               "\"deliveries_per_second\":%.2f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
               "\"hub_rss_kib_before\":%ld,\"hub_rss_kib_after\":%ld,\"hub_kib_per_user\":%.2f,"
               "\"hub_anon_kib_per_user\":%.2f,"
               "\"completed\":%s,\"phase\":\"%s\",\"first_error\":\"",
               L->o.clients, L->online, L->failed, login_s, login_s > 0 ? L->online / login_s : 0, L->sent,
               L->chat_deliveries, L->pm_deliveries, expected_deliveries(L), lost(L), msg_s > 0 ? deliveries / msg_s : 0,
               1e3 * pct(L->lat, L->nlat, 50), 1e3 * pct(L->lat, L->nlat, 90), 1e3 * pct(L->lat, L->nlat, 99),
               1e3 * pct(L->lat, L->nlat, 100), rss_before, rss_after, per_user, anon_per_user,
               L->phase == 4 ? "true" : "false",
               phase[L->phase]);
        for (const char *p = L->first_error; *p; p++)   /* JSON-escape the one free-text field */
            printf(*p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 0x20 ? "?" : "%c", *p);
        printf("\"}\n");
        return;
    }
    printf("clients            %d (online %d, failed %d)\n", L->o.clients, L->online, L->failed);
    printf("logins             %.3f s, %.1f logins/s\n", login_s, login_s > 0 ? L->online / login_s : 0);
    printf("messages sent      %ld; delivered %ld chat + %ld PM of %ld expected; lost %ld\n", L->sent,
           L->chat_deliveries, L->pm_deliveries, expected_deliveries(L), lost(L));
    printf("deliveries         %.1f /s over %.3f s\n", msg_s > 0 ? deliveries / msg_s : 0, msg_s);
    printf("latency (ms)       p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", 1e3 * pct(L->lat, L->nlat, 50),
           1e3 * pct(L->lat, L->nlat, 90), 1e3 * pct(L->lat, L->nlat, 99), 1e3 * pct(L->lat, L->nlat, 100));
    if (L->o.hub_pid > 0)
        printf("hub VmRSS          %ld kB before, %ld kB after: %.2f kB per user (RssAnon: %.2f)\n", rss_before,
               rss_after, per_user, anon_per_user);
    if (L->first_error[0])
        printf("first error        %s\n", L->first_error);
    if (L->phase != 4)
        printf("INCOMPLETE         stopped in the %s phase%s\n", phase[L->phase], L->timed_out ? " (timeout)" : "");
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dcload --hub URL [--clients N] [--concurrency N] [--chatters N] [--messages N]\n"
               "              [--interval SECONDS] [--pm-offset N] [--prefix NICK] [--hub-pid PID]\n"
               "              [--timeout SECONDS] [--json]\n"
               "Logs N clients from one process into a hub, has the first --chatters of them send\n"
               "--messages main-chat lines and PMs each, and reports logins/s, deliveries/s and latency.\n"
               "defaults: --clients 100 --concurrency 50 --chatters 10 --messages 10 --interval 0.01\n"
               "          --pm-offset 1 --prefix load --timeout 60\n");
}

static int parse(int argc, char **argv, struct load_opts *o)
{
    *o = (struct load_opts){.prefix = "load", .clients = 100, .concurrency = 50, .chatters = 10,
                            .messages = 10, .pm_offset = 1, .interval = 0.01, .timeout = 60};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *ip = !strcmp(a, "--clients") ? &o->clients : !strcmp(a, "--concurrency") ? &o->concurrency
                : !strcmp(a, "--chatters") ? &o->chatters : !strcmp(a, "--messages") ? &o->messages
                : !strcmp(a, "--pm-offset") ? &o->pm_offset : NULL;
        double *dp = !strcmp(a, "--interval") ? &o->interval : !strcmp(a, "--timeout") ? &o->timeout : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
            continue;
        } else if (!v) {
            fprintf(stderr, "dcload: %s needs a value (see --help)\n", a);
            return -1;
        } else if (ip) {
            long n = strtol(v, &end, 10);
            if (*end || n < 0 || n > 1000000)
                return fprintf(stderr, "dcload: bad number for %s: %s\n", a, v), -1;
            *ip = (int)n;
        } else if (dp) {
            *dp = strtod(v, &end);
            if (*end || *dp < 0)
                return fprintf(stderr, "dcload: bad number for %s: %s\n", a, v), -1;
        } else if (!strcmp(a, "--hub")) {
            o->hub = v;
        } else if (!strcmp(a, "--prefix")) {
            o->prefix = v;
        } else if (!strcmp(a, "--hub-pid")) {
            o->hub_pid = strtol(v, &end, 10);
            if (*end || o->hub_pid <= 0)
                return fprintf(stderr, "dcload: bad pid: %s\n", v), -1;
        } else {
            fprintf(stderr, "dcload: unknown option %s (see --help)\n", a);
            return -1;
        }
        i++;
    }
    if (!o->hub || o->clients < 1 || o->concurrency < 1) {
        fprintf(stderr, "dcload: --hub URL is required; --clients and --concurrency must be >= 1\n");
        return -1;
    }
    if (o->chatters > o->clients)
        o->chatters = o->clients;
    return 0;
}

static void sigint_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(((struct load *)arg)->base, NULL);
}

int main(int argc, char **argv)
{
    struct load L = {0};
    int rc = parse(argc, argv, &L.o);
    if (rc)
        return rc < 0 ? 2 : 0;
    struct dcc_url u;
    char err[DCC_ERR_LEN], nick[64];
    if (dcc_url_parse(L.o.hub, &u, err) < 0) {
        fprintf(stderr, "dcload: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(L.o.clients);
    L.base = event_base_new();
    L.cl = calloc((size_t)L.o.clients, sizeof *L.cl);
    if (!L.base || !L.cl) {
        fprintf(stderr, "dcload: out of memory\n");
        return 1;
    }
    struct dcc_callbacks cbs = {.event_cb = event_cb};
    for (int i = 0; i < L.o.clients; i++) {
        struct load_client *lc = &L.cl[i];
        lc->load = &L;
        lc->index = i;
        lc->c = dcc_client_new(L.base, &cbs, lc);
        lc->send_timer = evtimer_new(L.base, send_cb, lc);
        snprintf(nick, sizeof nick, "%s%d", L.o.prefix, i);
        if (!lc->c || !lc->send_timer || dcc_client_set_text(lc->c, "nick", nick, err) < 0 ||
            dcc_client_set_text(lc->c, "description", "dcload", err) < 0) {
            fprintf(stderr, "dcload: client %d: %s\n", i, lc->c ? err : "out of memory");
            return 1;
        }
    }
    L.rss_before = L.rss_after = L.anon_before = L.anon_after = -1;
    if (L.o.hub_pid > 0) {
        L.rss_before = status_kib(L.o.hub_pid, "VmRSS");
        L.anon_before = status_kib(L.o.hub_pid, "RssAnon");
    }
    if (L.o.hub_pid > 0 && L.rss_before < 0)
        fprintf(stderr, "dcload: cannot read /proc/%ld/status\n", L.o.hub_pid);
    L.deadline = evtimer_new(L.base, deadline_cb, &L);
    L.sigint = evsignal_new(L.base, SIGINT, sigint_cb, &L);
    L.sigterm = evsignal_new(L.base, SIGTERM, sigint_cb, &L);
    struct timeval tv = {(time_t)L.o.timeout, (suseconds_t)((L.o.timeout - (time_t)L.o.timeout) * 1e6)};
    evtimer_add(L.deadline, &tv);
    evsignal_add(L.sigint, NULL);
    evsignal_add(L.sigterm, NULL);
    L.phase = 1;
    L.t_login_start = now_s();
    maybe_advance(&L);
    event_base_dispatch(L.base);
    report(&L);
    for (int i = 0; i < L.o.clients; i++) {
        dcc_client_free(L.cl[i].c);
        event_free(L.cl[i].send_timer);
    }
    event_free(L.deadline);
    event_free(L.sigint);
    event_free(L.sigterm);
    event_base_free(L.base);
    free(L.cl);
    free(L.lat);
    return L.phase == 4 && L.failed == 0 ? 0 : 1;
}
