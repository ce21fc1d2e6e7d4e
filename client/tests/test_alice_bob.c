/* test_alice_bob.c: two clients, Alice and Bob, in ONE process on one
 * event_base against a fakehub child process, for NMDC and for ADC: both log
 * in, each sees the other, private messages with awkward bytes go both ways
 * byte-exactly (no echo reported as received), main chat reaches both, and
 * each sees the other leave. This is the scenario a singleton-based client
 * library cannot run. */
#include <criterion/criterion.h>
#include <string.h>

#include "client/tests/testutil.h"

/* '$', '|', '\', newlines, NMDC entities and non-ASCII (2, 3 and 4 bytes). */
#define PM_A "from alice: dollar $ pipe | backslash \\ and \\\\ newline\nsecond line &#36; &amp; &#124; caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"
#define PM_B "from bob: |$|$ \\s\\n ADC escapes stay literal\n\n<tag> \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 end$"
#define CHAT_A "alice to all: $ | \\ \xc3\xa9"

struct party {
    const char *nick;
    struct dcc_client *c;
    struct tu_rec rec;
};

static struct event_base *base;
static struct party alice = {.nick = "alice"}, bob = {.nick = "bob"};
static char err[DCC_ERR_LEN];

static bool sees(struct party *p, const char *nick)
{
    return dcc_client_state(p->c) == DCC_STATE_ONLINE && dcc_client_find_user(p->c, nick);
}

static bool both_see_each_other(void *arg)
{
    (void)arg;
    return sees(&alice, "bob") && sees(&bob, "alice");
}

static const struct tu_ev *find_pm(struct party *p, const char *from)
{
    for (size_t i = 0; i < p->rec.n; i++)
        if (p->rec.ev[i].type == DCC_EVENT_PM && strcmp(p->rec.ev[i].from, from) == 0)
            return &p->rec.ev[i];
    return NULL;
}

static bool pms_arrived(void *arg)
{
    (void)arg;
    return find_pm(&alice, "bob") && find_pm(&bob, "alice");
}

static bool chat_arrived(void *arg)
{
    (void)arg;
    return tu_rec_find(&alice.rec, DCC_EVENT_CHAT, CHAT_A) && tu_rec_find(&bob.rec, DCC_EVENT_CHAT, CHAT_A);
}

struct leave_wait {
    struct party *watcher;
    const char *nick;
};

static bool saw_leave(void *arg)
{
    struct leave_wait *w = arg;
    return tu_rec_find(&w->watcher->rec, DCC_EVENT_USER_LEAVE, w->nick) && !dcc_client_find_user(w->watcher->c, w->nick);
}

static void start(struct party *p, const char *url)
{
    struct dcc_callbacks cbs = {.event_cb = tu_rec_event_cb};
    if (!p->c) {
        p->c = dcc_client_new(base, &cbs, &p->rec);
        cr_assert_not_null(p->c);
        p->rec.client = p->c;
        cr_assert_eq(dcc_client_set_text(p->c, "nick", p->nick, err), 0, "%s", err);
    }
    cr_assert_eq(dcc_client_connect(p->c, url, err), 0, "%s: %s", p->nick, err);
}

static void leave_and_watch(struct party *leaver, struct party *watcher, const char *url)
{
    cr_assert_eq(dcc_client_disconnect(leaver->c, err), 0, "%s", err);
    struct leave_wait w = {watcher, leaver->nick};
    cr_assert(tu_run_until(base, saw_leave, &w, 10), "%s did not see %s leave", watcher->nick, leaver->nick);
    cr_assert_eq(dcc_client_state(leaver->c), DCC_STATE_IDLE);
    /* Back in, so the other direction can be checked too. */
    start(leaver, url);
    cr_assert(tu_run_until(base, both_see_each_other, NULL, 10), "%s did not come back", leaver->nick);
}

static void alice_and_bob(bool adc)
{
    struct tu_hub hub;
    cr_assert_eq(tu_hub_start(&hub, NULL), 0, "fakehub did not start");
    const char *url = adc ? hub.adc_url : hub.nmdc_url;
    base = event_base_new();
    start(&alice, url);
    start(&bob, url);
    cr_assert(tu_run_until(base, both_see_each_other, NULL, 10), "login/user list incomplete");
    const struct dcc_user *b = dcc_client_find_user(alice.c, "bob");
    cr_assert(!b->self);
    cr_assert_eq(*b->sid != '\0', adc, "SIDs only on ADC");

    cr_assert_eq(dcc_client_pm(alice.c, "bob", PM_A, err), 0, "%s", err);
    cr_assert_eq(dcc_client_pm(bob.c, "alice", PM_B, err), 0, "%s", err);
    cr_assert(tu_run_until(base, pms_arrived, NULL, 10), "PMs did not arrive");
    const struct tu_ev *at_bob = find_pm(&bob, "alice"), *at_alice = find_pm(&alice, "bob");
    cr_assert_str_eq(at_bob->text, PM_A);
    cr_assert_str_eq(at_bob->to, "bob");
    cr_assert_str_eq(at_alice->text, PM_B);
    cr_assert_str_eq(at_alice->to, "alice");
    cr_assert_eq(tu_rec_count(&alice.rec, DCC_EVENT_PM), 1, "alice's own PM reported as received");
    cr_assert_eq(tu_rec_count(&bob.rec, DCC_EVENT_PM), 1, "bob's own PM reported as received");

    cr_assert_eq(dcc_client_say(alice.c, CHAT_A, err), 0, "%s", err);
    cr_assert(tu_run_until(base, chat_arrived, NULL, 10), "main chat did not reach both");
    cr_assert_str_eq(tu_rec_find(&bob.rec, DCC_EVENT_CHAT, CHAT_A)->from, "alice");

    leave_and_watch(&alice, &bob, url);
    leave_and_watch(&bob, &alice, url);

    dcc_client_free(alice.c);
    dcc_client_free(bob.c);
    /* Freed, not disconnected: the hub reports the drop to nobody left, and
     * no callback may fire into the freed clients while the loop runs on. */
    event_base_loop(base, EVLOOP_NONBLOCK);
    tu_rec_cleanup(&alice.rec);
    tu_rec_cleanup(&bob.rec);
    alice.c = bob.c = NULL;
    event_base_free(base);
    tu_hub_stop(&hub);
    cr_assert_eq(tu_leak_check(), 0, "LeakSanitizer found leaks (see stderr)");
}

Test(alice_bob, nmdc, .timeout = 60)
{
    alice_and_bob(false);
}

Test(alice_bob, adc, .timeout = 60)
{
    alice_and_bob(true);
}
