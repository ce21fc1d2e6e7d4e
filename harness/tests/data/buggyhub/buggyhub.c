/* buggyhub.c: a deliberately broken minimal NMDC hub, the reference for
 * dcharness's signal and hang checks (docs/scenarios.md, "Testing your
 * hub's signal handling"). It reproduces a real case: a hub whose signal
 * handlers run the shutdown themselves and deadlock on a plugin lock.
 *
 * The hub: one thread, poll() over a listening socket and its users. NMDC
 * only: $Lock, $ValidateNick -> $Hello (or $ValidateDenide), $MyINFO
 * broadcast (login completes when the user's own $MyINFO comes back),
 * main chat, $To: private messages, $Quit. Enough for dcclient and dcload.
 *
 * The "plugin": after --warmup ms its timer hook starts and takes the
 * plugin lock (a non-recursive mutex, like an embedded interpreter's GIL)
 * in the main thread, which from then on holds it while it runs, letting
 * go only for a moment once per tick (like an interpreter's switch
 * interval). Hooks called from the main loop know the lock is theirs.
 *
 * The bugs (default build) — each one the harness must report:
 *  - SigQuitHandler runs SyncStop inside the handler: SyncStop tells every
 *    user the hub stops, which calls the chat hook through CallHook, which
 *    takes the plugin lock: after the warm-up the main thread already holds
 *    it, so the handler waits for itself for ever (a hang). SigSegvHandler
 *    does the same through UnloadPlugins.
 *  - SIGTERM and SIGUSR1 are left at their default action: the hub dies.
 *  - The shutdown hook runs twice: once in the shutdown and once more from
 *    an atexit handler ("shutdown hook ran" is logged twice).
 * SIGHUP (reload) and SIGINT (stop) are deferred correctly.
 *
 * --fixed: every handled signal (TERM INT QUIT HUP USR1) only writes its
 * number to a self-pipe; the main loop does the work; the shutdown hook runs
 * once; SIGSEGV keeps its default action.
 *
 * Output: log lines on stderr, and with --log FILE also into FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_USERS 256
#define TICK_MS 100

/* One connection. Owns fd and its buffers. */
struct user {
    int fd;
    char nick[64];
    char ip[INET_ADDRSTRLEN];
    char *myinfo;        /* last $MyINFO line (with '|'), NULL before login */
    char in[65536];
    size_t inlen;
};

/* The hub. One instance, owned by main. */
struct hub {
    int lfd;
    struct user users[MAX_USERS];
    FILE *log;
    bool fixed;
    long warmup_ms;
    double t0;
    pthread_mutex_t plugin_lock;   /* the plugin's "GIL": non-recursive */
    bool plugin_started;           /* the main thread holds plugin_lock from now on */
    bool shutdown_hook_ran;
    int sigpipe[2];                /* --fixed: handlers write signal numbers here */
    volatile sig_atomic_t stop_requested, reload_requested;   /* buggy: SIGINT/SIGHUP flags */
};

/* The signal handlers need the hub: the one mutable global, as in every C
 * program whose handlers must reach its state. */
static struct hub *the_hub;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void hub_log(struct hub *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hub_log(struct hub *h, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "buggyhub: %s\n", line);
    if (h->log) {
        fprintf(h->log, "%.3f buggyhub: %s\n", now_s() - h->t0, line);
        fflush(h->log);
    }
}

static void send_raw(struct user *u, const char *s, size_t n)
{
    while (n > 0 && u->fd >= 0) {
        ssize_t w = write(u->fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;   /* a slow or gone reader loses the line; the hub goes on */
        s += w;
        n -= (size_t)w;
    }
}

static void send_str(struct user *u, const char *s)
{
    send_raw(u, s, strlen(s));
}

static void broadcast(struct hub *h, const char *s)
{
    for (int i = 0; i < MAX_USERS; i++)
        if (h->users[i].fd >= 0 && h->users[i].myinfo)
            send_str(&h->users[i], s);
}

/* ---- the plugin ---- */

/* A hook body: what the plugin's script does. */
static void RunHook(struct hub *h, const char *name)
{
    if (!strcmp(name, "shutdown")) {
        hub_log(h, "shutdown hook ran");
        h->shutdown_hook_ran = true;
    }
}

/* A hook call from the main loop, which already holds the plugin lock once
 * the plugin runs. */
static void CallHookHeld(struct hub *h, const char *name)
{
    if (h->plugin_started)
        RunHook(h, name);
}

/* A hook call from anywhere else (meant for other threads): takes the
 * plugin lock around the hook. Called from a signal handler on the main
 * thread, which holds the lock, it never returns. */
static void CallHook(struct hub *h, const char *name)
{
    if (!h->plugin_started)
        return;
    pthread_mutex_lock(&h->plugin_lock);
    RunHook(h, name);
    pthread_mutex_unlock(&h->plugin_lock);
}

/* Once per tick: start the plugin after the warm-up, then give the lock
 * away for a moment (nobody else ever takes it in this hub). */
static void TimerHook(struct hub *h)
{
    if (!h->plugin_started) {
        if ((now_s() - h->t0) * 1000 < h->warmup_ms)
            return;
        pthread_mutex_lock(&h->plugin_lock);
        h->plugin_started = true;
        hub_log(h, "timer hook started: the plugin holds its lock in the main thread");
        return;
    }
    pthread_mutex_unlock(&h->plugin_lock);
    pthread_mutex_lock(&h->plugin_lock);
}

/* ---- shutdown ---- */

static void Shutdown(struct hub *h, bool from_handler)
{
    broadcast(h, "<Hub-Security> the hub is shutting down|");
    if (from_handler)
        CallHook(h, "chat");
    else
        CallHookHeld(h, "chat");
    if (!h->plugin_started || !from_handler)
        RunHook(h, "shutdown");   /* plugin not loaded yet: the hub's own hook */
    else
        CallHook(h, "shutdown");
    hub_log(h, "stopped");
}

static void SyncStop(struct hub *h)
{
    hub_log(h, "stopping (SyncStop)");
    Shutdown(h, true);
    exit(0);
}

static void UnloadPlugins(struct hub *h)
{
    CallHook(h, "unload");
}

static void SigQuitHandler(int signo)
{
    (void)signo;
    SyncStop(the_hub);
}

static void SigSegvHandler(int signo)
{
    UnloadPlugins(the_hub);
    signal(signo, SIG_DFL);
    raise(signo);
}

static void FlagHandler(int signo)
{
    if (signo == SIGINT)
        the_hub->stop_requested = 1;
    else
        the_hub->reload_requested = 1;
}

/* The second run of the shutdown hook (buggy build only). */
static void ShutdownAtExit(void)
{
    RunHook(the_hub, "shutdown");
}

static void PipeHandler(int signo)
{
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    if (write(the_hub->sigpipe[1], &b, 1) < 0) {
        /* pipe full: the signal is already pending there */
    }
    errno = saved;
}

static void install(int signo, void (*fn)(int))
{
    struct sigaction sa = {.sa_handler = fn};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(signo, &sa, NULL);
}

static void setup_signals(struct hub *h)
{
    signal(SIGPIPE, SIG_IGN);
    if (h->fixed) {
        if (pipe2(h->sigpipe, O_CLOEXEC | O_NONBLOCK) < 0) {
            perror("pipe2");
            exit(1);
        }
        int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
            install(sigs[i], PipeHandler);
        return;
    }
    install(SIGQUIT, SigQuitHandler);
    install(SIGSEGV, SigSegvHandler);
    install(SIGINT, FlagHandler);
    install(SIGHUP, FlagHandler);
    atexit(ShutdownAtExit);
    /* SIGTERM, SIGUSR1: default action. */
}

/* ---- protocol ---- */

static void drop(struct hub *h, struct user *u)
{
    if (u->myinfo) {
        char q[128];
        snprintf(q, sizeof q, "$Quit %s|", u->nick);
        free(u->myinfo);
        u->myinfo = NULL;
        broadcast(h, q);
        hub_log(h, "logout %s", u->nick);
    }
    close(u->fd);
    u->fd = -1;
    u->inlen = 0;
    u->nick[0] = '\0';
}

static struct user *find_nick(struct hub *h, const char *nick)
{
    for (int i = 0; i < MAX_USERS; i++)
        if (h->users[i].fd >= 0 && h->users[i].nick[0] && !strcmp(h->users[i].nick, nick))
            return &h->users[i];
    return NULL;
}

/* One message without its '|'. */
static void handle(struct hub *h, struct user *u, char *m)
{
    char out[70000];
    if (!strncmp(m, "$ValidateNick ", 14)) {
        const char *nick = m + 14;
        if (!*nick || strlen(nick) >= sizeof u->nick || find_nick(h, nick)) {
            snprintf(out, sizeof out, "$ValidateDenide %s|", nick);
            send_str(u, out);
            return;
        }
        snprintf(u->nick, sizeof u->nick, "%s", nick);
        snprintf(out, sizeof out, "$Hello %s|", nick);
        send_str(u, out);
    } else if (!strncmp(m, "$MyINFO $ALL ", 13) && u->nick[0]) {
        const char *nick = m + 13;
        size_t nl = strcspn(nick, " ");
        if (nl != strlen(u->nick) || strncmp(nick, u->nick, nl))
            return;   /* someone else's info: ignored */
        bool first = !u->myinfo;
        free(u->myinfo);
        if (asprintf(&u->myinfo, "%s|", m) < 0) {
            u->myinfo = NULL;
            return;
        }
        if (first) {
            for (int i = 0; i < MAX_USERS; i++)
                if (&h->users[i] != u && h->users[i].myinfo)
                    send_str(u, h->users[i].myinfo);
            hub_log(h, "login %s from %s", u->nick, u->ip);
        }
        broadcast(h, u->myinfo);
    } else if (m[0] == '<' && u->myinfo) {
        snprintf(out, sizeof out, "%s|", m);
        broadcast(h, out);
        CallHookHeld(h, "chat");
    } else if (!strncmp(m, "$To: ", 5) && u->myinfo) {
        char target[64];
        if (sscanf(m + 5, "%63s", target) == 1) {
            struct user *t = find_nick(h, target);
            if (t && t->myinfo) {
                snprintf(out, sizeof out, "%s|", m);
                send_str(t, out);
            }
        }
    }
    /* $Key, $Supports, $Version, $GetNickList, ...: nothing to do. */
}

static void read_user(struct hub *h, struct user *u)
{
    ssize_t n = read(u->fd, u->in + u->inlen, sizeof u->in - u->inlen);
    if (n <= 0) {
        if (n < 0 && errno == EINTR)
            return;
        drop(h, u);
        return;
    }
    u->inlen += (size_t)n;
    char *start = u->in, *end = u->in + u->inlen, *bar;
    while (u->fd >= 0 && (bar = memchr(start, '|', (size_t)(end - start)))) {
        *bar = '\0';
        handle(h, u, start);
        start = bar + 1;
    }
    if (u->fd < 0)
        return;
    u->inlen = (size_t)(end - start);
    if (u->inlen == sizeof u->in) {
        drop(h, u);   /* a line longer than the buffer */
        return;
    }
    memmove(u->in, start, u->inlen);
}

static void accept_user(struct hub *h)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd = accept4(h->lfd, (struct sockaddr *)&a, &al, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < MAX_USERS; i++)
        if (h->users[i].fd < 0) {
            struct user *u = &h->users[i];
            u->fd = fd;
            inet_ntop(AF_INET, &a.sin_addr, u->ip, sizeof u->ip);
            send_str(u, "$Lock EXTENDEDPROTOCOL_buggyhub Pk=buggyhub|$HubName buggyhub|");
            return;
        }
    close(fd);   /* full */
}

static void fixed_signal(struct hub *h, int signo)
{
    if (signo == SIGHUP) {
        hub_log(h, "SIGHUP: reloaded");
    } else if (signo == SIGUSR1) {
        hub_log(h, "SIGUSR1: statistics requested");
    } else {
        hub_log(h, "SIG%s: stopping", sigabbrev_np(signo));
        Shutdown(h, false);
        exit(0);
    }
}

static void serve(struct hub *h)
{
    double next_tick = now_s() + TICK_MS / 1000.0;
    for (;;) {
        struct pollfd pf[MAX_USERS + 2];
        struct user *who[MAX_USERS + 2];
        nfds_t n = 0;
        pf[n] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
        who[n++] = NULL;
        if (h->fixed) {
            pf[n] = (struct pollfd){.fd = h->sigpipe[0], .events = POLLIN};
            who[n++] = NULL;
        }
        for (int i = 0; i < MAX_USERS; i++)
            if (h->users[i].fd >= 0) {
                pf[n] = (struct pollfd){.fd = h->users[i].fd, .events = POLLIN};
                who[n++] = &h->users[i];
            }
        int ms = (int)((next_tick - now_s()) * 1000);
        int k = poll(pf, n, ms < 0 ? 0 : ms);
        if (h->stop_requested) {
            hub_log(h, "SIGINT: stopping");
            Shutdown(h, false);
            exit(0);
        }
        if (h->reload_requested) {
            h->reload_requested = 0;
            hub_log(h, "SIGHUP: reloaded");
        }
        for (nfds_t i = 0; k > 0 && i < n; i++) {
            if (!pf[i].revents)
                continue;
            if (who[i])
                read_user(h, who[i]);
            else if (pf[i].fd == h->lfd)
                accept_user(h);
            else {
                unsigned char b;
                while (read(h->sigpipe[0], &b, 1) == 1)
                    fixed_signal(h, b);
            }
        }
        if (now_s() >= next_tick) {
            TimerHook(h);
            next_tick = now_s() + TICK_MS / 1000.0;
        }
    }
}

int main(int argc, char **argv)
{
    static struct hub hub;
    struct hub *h = &hub;
    int port = 0;
    const char *log_path = NULL;
    h->warmup_ms = 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fixed"))
            h->fixed = true;
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--log") && i + 1 < argc)
            log_path = argv[++i];
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            h->warmup_ms = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: buggyhub [--fixed] [--port N] [--log FILE] [--warmup MS]\n");
            return 2;
        }
    }
    h->t0 = now_s();
    pthread_mutex_init(&h->plugin_lock, NULL);   /* default type: not recursive */
    for (int i = 0; i < MAX_USERS; i++)
        h->users[i].fd = -1;
    if (log_path && !(h->log = fopen(log_path, "a"))) {
        fprintf(stderr, "buggyhub: cannot open %s: %s\n", log_path, strerror(errno));
        return 1;
    }
    the_hub = h;
    setup_signals(h);
    h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (h->lfd < 0 || bind(h->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(h->lfd, 64) < 0 ||
        getsockname(h->lfd, (struct sockaddr *)&a, &al) < 0) {
        fprintf(stderr, "buggyhub: cannot listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    hub_log(h, "listening on 127.0.0.1:%u (%s)", ntohs(a.sin_port), h->fixed ? "fixed" : "buggy");
    serve(h);
    return 0;
}
