/* test_hooks.c: Criterion tests for the hook registry and the deferred
 * signal path of fakehub_core, in process: version/size checks, and a raised
 * SIGTERM storm that ends in exactly one shutdown call per hook set, made
 * from the event loop (not from the signal handler). */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

#include <event2/event.h>

#include "fakehub/hub.h"

/* Per-test observations; owned by the test function's stack. */
struct seen {
    int shutdowns, signals;
};

static struct event_base *base;

static struct fh_hub *new_hub(void)
{
    struct fh_hub_opts o = {.adc_addr = "127.0.0.1:0", .log_path = "/dev/null"};
    char err[FH_ERR_LEN] = "";
    if (!base)
        base = event_base_new();
    struct fh_hub *hub = fh_hub_new(base, &o, err);
    cr_assert_not_null(hub, "%s", err);
    return hub;
}

static void on_shutdown(void *ctx)
{
    ((struct seen *)ctx)->shutdowns++;
}

static void on_signal(int signo, void *ctx)
{
    (void)signo;
    ((struct seen *)ctx)->signals++;
}

Test(hooks, version_and_size_are_checked)
{
    struct fh_hub *hub = new_hub();
    struct seen s = {0};
    struct fh_hooks h = {.version = FH_HOOKS_VERSION + 1, .size = sizeof h, .shutdown = on_shutdown};
    cr_expect_eq(fh_hub_add_hooks(hub, &h, &s), -1);
    h.version = FH_HOOKS_VERSION;
    h.size = sizeof h + 8;
    cr_expect_eq(fh_hub_add_hooks(hub, &h, &s), -1);
    h.size = 1;
    cr_expect_eq(fh_hub_add_hooks(hub, &h, &s), -1);
    h.size = sizeof h;
    cr_expect_eq(fh_hub_add_hooks(hub, &h, &s), 0);
    fh_hub_free(hub);
    cr_expect_eq(s.shutdowns, 0);   /* freeing calls no hooks */
}

static void storm_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    for (int i = 0; i < 20; i++) {
        raise(SIGHUP);
        raise(SIGUSR1);
        raise(SIGTERM);
        raise(SIGINT);
    }
}

Test(hooks, signal_storm_gives_one_shutdown_per_set)
{
    struct fh_hub *hub = new_hub();
    struct seen a = {0}, b = {0};
    struct fh_hooks h = {.version = FH_HOOKS_VERSION, .size = sizeof h, .name = "t",
                         .shutdown = on_shutdown, .signal = on_signal};
    cr_assert_eq(fh_hub_add_hooks(hub, &h, &a), 0);
    cr_assert_eq(fh_hub_add_hooks(hub, &h, &b), 0);
    struct event *ev = evtimer_new(fh_hub_base(hub), storm_cb, NULL);
    struct timeval now = {0, 0};
    evtimer_add(ev, &now);
    cr_assert_eq(fh_hub_run(hub), 0);   /* returns once the shutdown is flushed */
    event_free(ev);
    fh_hub_free(hub);
    cr_expect_eq(a.shutdowns, 1);
    cr_expect_eq(b.shutdowns, 1);
    cr_expect_geq(a.signals, 1);        /* signals are coalesced, never lost entirely */
    cr_expect_eq(a.signals, b.signals);
}
