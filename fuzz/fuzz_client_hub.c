/* fuzz_client_hub.c: libFuzzer target for the client's hub message handlers
 * (client/hub_nmdc.c, client/hub_adc.c, users, events): a fresh client per
 * input, logged into a "hub" that is the other end of a socketpair
 * (dcc_client_adopt), and the input as everything that hub sends.
 *
 * The first byte picks the protocol (bit 0: ADC) and which client calls
 * follow the input (bit 1: say and PM, bit 2: list request to every user),
 * so the handlers' state is reached by the send paths too. Properties: no
 * crash, no leak, no sanitizer report; the client stays consistent enough
 * to be freed at any point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/dcc.h"
#include "fuzz_loop.h"

static struct event_base *fz_base;

static void fz_event(struct dcc_client *c, const struct dcc_event *ev, void *ctx)
{
    (void)c, (void)ev, (void)ctx;
}

struct fz_users {
    struct dcc_client *c;
    int mode;
};

static void fz_each_user(const struct dcc_user *u, void *arg)
{
    struct fz_users *f = arg;
    if (u->self)
        return;
    if (f->mode & 2)
        dcc_client_pm(f->c, u->nick, "pm text | $ \n", NULL);
    if (f->mode & 4)
        dcc_client_list(f->c, u->nick, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!fz_base && !(fz_base = event_base_new()))
        abort();
    int mode = data[0];
    struct dcc_callbacks cbs = {.event_cb = fz_event};
    struct dcc_client *c = dcc_client_new(fz_base, &cbs, NULL);
    int fds[2];
    if (!c || fz_pair(fds) < 0)
        abort();
    dcc_client_set_text(c, "active", "false", NULL);
    dcc_client_set_text(c, "login_timeout", "3600", NULL);
    if (dcc_client_adopt(c, mode & 1 ? "adc://127.0.0.1:1" : "dchub://127.0.0.1:1", fds[0], NULL) < 0)
        abort();
    fz_settle(fz_base, &fds[1], 1);
    fz_write(fds[1], data + 1, size - 1);
    fz_settle(fz_base, &fds[1], 1);
    if (mode & 2)
        dcc_client_say(c, "said | $ \\ \n text", NULL);
    struct fz_users f = {c, mode};
    dcc_client_foreach_user(c, fz_each_user, &f);
    fz_settle(fz_base, &fds[1], 1);
    close(fds[1]);   /* the hub goes away: EOF handling */
    fz_settle(fz_base, NULL, 0);
    dcc_client_free(c);
    fz_settle(fz_base, NULL, 0);
    return 0;
}
