/* test_embed.c: fakehub embedded in a test process: the hub and two
 * libdcclient clients on ONE event_base, no child process. Alice and Bob log
 * in (NMDC and ADC), exchange private messages both ways, and a fault rule
 * added through fh_hub_fault_add drops one PM and delays another, which the
 * clients' events show. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "client/tests/testutil.h"
#include "fakehub/hub.h"

/* Per-test state: the loop, the hub and the two clients (owned here). */
struct world {
    struct event_base *base;
    struct fh_hub *hub;
    struct dcc_client *alice, *bob;
    struct tu_rec ra, rb;
};

static void world_start(struct world *w, bool adc)
{
    char err[FH_ERR_LEN] = "";
    memset(w, 0, sizeof *w);
    w->base = event_base_new();
    cr_assert_not_null(w->base);
    struct fh_hub_opts o = {.no_signals = true, .log_path = "/dev/null"};
    if (adc)
        o.adc_addr = "127.0.0.1:0";
    else
        o.nmdc_addr = "127.0.0.1:0";
    w->hub = fh_hub_new(w->base, &o, err);
    cr_assert_not_null(w->hub, "%s", err);
    json_t *ready = fh_hub_ready_json(w->hub);
    char url[128];
    snprintf(url, sizeof url, "%s://%s", adc ? "adc" : "dchub",
             json_string_value(json_object_get(ready, adc ? "adc" : "nmdc")));
    json_decref(ready);
    struct dcc_callbacks cbs = {.event_cb = tu_rec_event_cb};
    char cerr[DCC_ERR_LEN];
    w->alice = dcc_client_new(w->base, &cbs, &w->ra);
    w->bob = dcc_client_new(w->base, &cbs, &w->rb);
    w->ra.client = w->alice;
    w->rb.client = w->bob;
    cr_assert_eq(dcc_client_set_text(w->alice, "nick", "alice", cerr), 0, "%s", cerr);
    cr_assert_eq(dcc_client_set_text(w->bob, "nick", "bob", cerr), 0, "%s", cerr);
    cr_assert_eq(dcc_client_connect(w->alice, url, cerr), 0, "%s", cerr);
    cr_assert_eq(dcc_client_connect(w->bob, url, cerr), 0, "%s", cerr);
}

static void world_stop(struct world *w)
{
    dcc_client_free(w->alice);
    dcc_client_free(w->bob);
    fh_hub_shutdown(w->hub, "test over");
    fh_hub_run(w->hub);   /* returns once the shutdown is flushed */
    cr_expect(fh_hub_done(w->hub));
    fh_hub_free(w->hub);
    event_base_free(w->base);
    tu_rec_cleanup(&w->ra);
    tu_rec_cleanup(&w->rb);
}

static bool both_online(void *arg)
{
    struct world *w = arg;
    return dcc_client_state(w->alice) == DCC_STATE_ONLINE && dcc_client_state(w->bob) == DCC_STATE_ONLINE &&
           dcc_client_find_user(w->alice, "bob") && dcc_client_find_user(w->bob, "alice");
}

/* A wait for one PM text at one client. */
struct pm_wait {
    struct tu_rec *rec;
    const char *text;
};

static bool got_pm(void *arg)
{
    struct pm_wait *p = arg;
    return tu_rec_find(p->rec, DCC_EVENT_PM, p->text) != NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pm_exchange_with_faults(bool adc)
{
    struct world w;
    world_start(&w, adc);
    char err[DCC_ERR_LEN], herr[FH_ERR_LEN];
    cr_assert(tu_run_until(w.base, both_online, &w, tu_timeout(10)), "clients did not log in");

    cr_assert_eq(dcc_client_pm(w.alice, "bob", "hello bob", err), 0, "%s", err);
    cr_assert_eq(dcc_client_pm(w.bob, "alice", "hello alice", err), 0, "%s", err);
    struct pm_wait to_bob = {&w.rb, "hello bob"}, to_alice = {&w.ra, "hello alice"};
    cr_assert(tu_run_until(w.base, got_pm, &to_bob, tu_timeout(5)));
    cr_assert(tu_run_until(w.base, got_pm, &to_alice, tu_timeout(5)));

    cr_assert_eq(fh_hub_fault_add(w.hub, "drop cmd=pm from=alice text=lost count=1", herr), 1, "%s", herr);
    cr_assert_eq(fh_hub_fault_add(w.hub, "delay=600ms cmd=pm from=bob", herr), 2, "%s", herr);
    cr_assert_eq(fh_hub_fault_add(w.hub, "delay=2x", herr), -1);
    cr_expect(strstr(herr, "field \"delay\"") != NULL, "%s", herr);

    double t0 = now_s();
    cr_assert_eq(dcc_client_pm(w.alice, "bob", "lost", err), 0, "%s", err);
    cr_assert_eq(dcc_client_pm(w.alice, "bob", "kept", err), 0, "%s", err);
    cr_assert_eq(dcc_client_pm(w.bob, "alice", "slow", err), 0, "%s", err);
    struct pm_wait kept = {&w.rb, "kept"}, slow = {&w.ra, "slow"};
    cr_assert(tu_run_until(w.base, got_pm, &kept, tu_timeout(5)));
    cr_assert(tu_run_until(w.base, got_pm, &slow, tu_timeout(5)));
    cr_expect_geq(now_s() - t0, 0.55, "the delayed PM came after %.3f s", now_s() - t0);
    cr_expect_null(tu_rec_find(&w.rb, DCC_EVENT_PM, "lost"));
    world_stop(&w);
}

Test(embed, nmdc_hub_and_two_clients_on_one_loop, .timeout = 60)
{
    pm_exchange_with_faults(false);
}

Test(embed, adc_hub_and_two_clients_on_one_loop, .timeout = 60)
{
    pm_exchange_with_faults(true);
}
