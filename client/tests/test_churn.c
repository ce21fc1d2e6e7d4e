/* test_churn.c: create, connect (full login) and destroy a client 1,000
 * times in one process against one fakehub child, alternating NMDC and ADC,
 * every fourth client freeing itself inside its CONNECTED callback. Nothing
 * may leak (run it in the ASan build, LSan on), crash, or leave a descriptor
 * open: /proc/self/fd is counted before and after. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "client/tests/testutil.h"

#define ROUNDS 1000

static struct tu_rec rec;

static bool settled(void *arg)
{
    (void)arg;
    return tu_rec_find(&rec, DCC_EVENT_CONNECTED, NULL) || tu_rec_find(&rec, DCC_EVENT_DISCONNECTED, NULL);
}

Test(churn, thousand_clients_connect_and_free, .timeout = 600)
{
    struct tu_hub hub;
    const char *quiet[] = {"--log", "/dev/null", NULL};
    cr_assert_eq(tu_hub_start(&hub, quiet), 0, "fakehub did not start");
    struct event_base *base = event_base_new();
    struct dcc_callbacks cbs = {.event_cb = tu_rec_event_cb};
    char err[DCC_ERR_LEN], nick[32];
    int fds_before = tu_fd_count();
    cr_assert_gt(fds_before, 0);
    for (int i = 0; i < ROUNDS; i++) {
        rec = (struct tu_rec){.free_on = i % 4 == 3 ? DCC_EVENT_CONNECTED + 1 : 0};
        struct dcc_client *c = dcc_client_new(base, &cbs, &rec);
        cr_assert_not_null(c);
        rec.client = c;
        snprintf(nick, sizeof nick, "churn%d", i);
        cr_assert_eq(dcc_client_set_text(c, "nick", nick, err), 0);
        cr_assert_eq(dcc_client_connect(c, i % 2 ? hub.nmdc_url : hub.adc_url, err), 0, "%s", err);
        cr_assert(tu_run_until(base, settled, NULL, 10), "round %d: login did not finish", i);
        const struct tu_ev *d = tu_rec_find(&rec, DCC_EVENT_DISCONNECTED, NULL);
        cr_assert_null(d, "round %d: %s", i, d ? d->text : "");
        if (i % 4 == 3)
            cr_assert_null(rec.client, "round %d: not freed in the callback", i);
        else
            dcc_client_free(c);
        tu_rec_cleanup(&rec);
    }
    int fds_after = tu_fd_count();
    cr_assert_eq(fds_after, fds_before, "descriptors leaked: %d before, %d after", fds_before, fds_after);
    event_base_free(base);
    tu_hub_stop(&hub);
    cr_assert_eq(tu_leak_check(), 0, "LeakSanitizer found leaks (see stderr)");
}
