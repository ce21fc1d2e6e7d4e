/* test_hub_events.c: the client core against canned hub lines over a real
 * loopback socket (a scripted hub from testutil): what it sends at each
 * login step, which events each hub message produces, refusals with the
 * hub's reason, malformed input, limits, timeouts and reconnect backoff. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "client/tests/testutil.h"
#include "proto/base32.h"
#include "proto/tiger.h"

static struct event_base *base;
static struct tu_peer peer;
static struct tu_rec rec;
static struct dcc_client *c;
static char err[DCC_ERR_LEN];
static char url[64];

static void setup(void)
{
    base = event_base_new();
    cr_assert_eq(tu_peer_start(&peer, base), 0);
    memset(&rec, 0, sizeof rec);
    struct dcc_callbacks cbs = {.event_cb = tu_rec_event_cb};
    c = dcc_client_new(base, &cbs, &rec);
    rec.client = c;
    cr_assert_not_null(c);
    cr_assert_eq(dcc_client_set_text(c, "nick", "alice", err), 0);
}

static void teardown(void)
{
    dcc_client_free(c);
    tu_peer_stop(&peer);
    tu_rec_cleanup(&rec);
    event_base_free(base);
    cr_assert_eq(tu_leak_check(), 0, "LeakSanitizer found leaks (see stderr)");
}

TestSuite(nmdc_events, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(adc_events, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(session, .init = setup, .fini = teardown, .timeout = 30);

struct wait_ev {
    enum dcc_event_type type;
    const char *key;
    size_t count;
};

static bool has_event(void *arg)
{
    struct wait_ev *w = arg;
    size_t n = 0;
    for (size_t i = 0; i < rec.n; i++) {
        const struct tu_ev *e = &rec.ev[i];
        const char *k = e->nick ? e->nick : e->text;
        n += e->type == w->type && (!w->key || (k && strcmp(k, w->key) == 0));
    }
    return n >= (w->count ? w->count : 1);
}

static bool wait_event(enum dcc_event_type type, const char *key)
{
    struct wait_ev w = {type, key, 1};
    return tu_run_until(base, has_event, &w, 5);
}

static void connect_to(const char *scheme)
{
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", scheme, peer.port);
    cr_assert_eq(dcc_client_connect(c, url, err), 0, "%s", err);
}

static const struct tu_ev *last_disconnect(void)
{
    cr_assert(wait_event(DCC_EVENT_DISCONNECTED, NULL), "no DISCONNECTED event");
    return tu_rec_find(&rec, DCC_EVENT_DISCONNECTED, NULL);
}

/* ---- NMDC ---------------------------------------------------------------- */

#define BOB_INFO "$MyINFO $ALL bob bob's desc<++ V:0.868,M:A,H:1/0/0,S:2>$ $100\x01$bob@example.org$1234$|"
#define ALICE_INFO "$MyINFO $ALL alice <dcc V:0.1,M:P,H:1/0/0,S:2>$ $100\x01$$0$|"

/* Drive a full NMDC login and check each thing the client sends. */
static void nmdc_login(void)
{
    peer.greeting = "$Lock EXTENDEDPROTOCOLABCABCABCABCABCABC Pk=test|$HubName Test Hub|";
    connect_to("dchub");
    cr_assert(tu_peer_expect(&peer, "$ValidateNick alice|", 5), "no $ValidateNick");
    cr_assert(tu_peer_expect(&peer, "$Supports NoHello NoGetINFO UserIP2|", 1));
    /* The key of DC++'s own lock, from the protocol notes §2.2. */
    cr_assert(tu_peer_expect(&peer, "$Key \x14\xd1\xc0\x11\xb0\xa0\x10\x10\x41\x20\xd1\xb1\xb1\xc0\xc0\x30\xd0\x30"
                                    "\x10\x20\x30\x10\x20\x30\x10\x20\x30\x10\x20\x30\x10\x20\x30\x10|", 1));
    cr_assert_eq(dcc_client_state(c), DCC_STATE_LOGIN);
    tu_peer_send(&peer, "$Hello alice|");
    cr_assert(tu_peer_expect(&peer, "$MyINFO $ALL alice ", 5), "no $MyINFO");
    cr_assert(tu_peer_expect(&peer, "$Version 1,0091|", 1));
    cr_assert(tu_peer_expect(&peer, "$GetNickList|", 1));
    tu_peer_send(&peer, BOB_INFO "$OpList bob$$|" ALICE_INFO);
    cr_assert(wait_event(DCC_EVENT_CONNECTED, NULL), "login did not complete");
    cr_assert_eq(dcc_client_state(c), DCC_STATE_ONLINE);
}

Test(nmdc_events, login_builds_the_user_list)
{
    nmdc_login();
    cr_assert_eq(dcc_client_user_count(c), 2);
    const struct dcc_user *bob = dcc_client_find_user(c, "bob");
    cr_assert_not_null(bob);
    cr_assert_str_eq(bob->description, "bob's desc");
    cr_assert_str_eq(bob->tag, "<++ V:0.868,M:A,H:1/0/0,S:2>");
    cr_assert_str_eq(bob->email, "bob@example.org");
    cr_assert_eq(bob->share, 1234);
    cr_assert(bob->op, "$OpList must mark bob");
    cr_assert(!bob->self);
    cr_assert(dcc_client_find_user(c, "alice")->self);
    cr_assert_not_null(tu_rec_find(&rec, DCC_EVENT_USER_JOIN, "bob"));
    cr_assert_not_null(tu_rec_find(&rec, DCC_EVENT_USER_UPDATE, "bob"), "op change is an update");
    /* Our own line comes before CONNECTED. */
    const struct tu_ev *last = &rec.ev[rec.n - 1];
    cr_assert_eq(last->type, DCC_EVENT_CONNECTED);
    /* Our MyINFO carries the settings. */
    cr_assert_eq(dcc_client_set_text(c, "description", "new $desc", err), 0);
    cr_assert(tu_peer_expect(&peer, "$MyINFO $ALL alice new &#36;desc <dcc V:", 5), "no MyINFO update");
}

Test(nmdc_events, chat_pm_status_and_leave)
{
    nmdc_login();
    tu_peer_send(&peer, "<bob> hi &#36; &#124; &amp;#36; there|");
    tu_peer_send(&peer, "$To: bob From: alice $<alice> our own, echoed|");   /* not received */
    tu_peer_send(&peer, "$To: carol From: bob $<bob> not for us|");
    tu_peer_send(&peer, "$To: alice From: bob $<bob> line1\nline2 &#124; \xc3\xa9|");
    tu_peer_send(&peer, "Hub is going down soon|");
    tu_peer_send(&peer, "$MyINFO $ALL bob changed$ $100\x01$$99$|");
    tu_peer_send(&peer, "$Quit bob|");
    cr_assert(wait_event(DCC_EVENT_USER_LEAVE, "bob"));
    const struct tu_ev *chat = tu_rec_find(&rec, DCC_EVENT_CHAT, NULL);
    cr_assert_str_eq(chat->from, "bob");
    cr_assert_str_eq(chat->text, "hi $ | &#36; there");
    const struct tu_ev *pm = tu_rec_find(&rec, DCC_EVENT_PM, NULL);
    cr_assert_eq(tu_rec_count(&rec, DCC_EVENT_PM), 1, "an echo or a PM for someone else was reported");
    cr_assert_str_eq(pm->from, "bob");
    cr_assert_str_eq(pm->to, "alice");
    cr_assert_str_eq(pm->text, "line1\nline2 | \xc3\xa9");
    const struct tu_ev *st = tu_rec_find(&rec, DCC_EVENT_STATUS, "Hub is going down soon");
    cr_assert_not_null(st);
    cr_assert_eq(st->code, -1);
    cr_assert_eq(tu_rec_count(&rec, DCC_EVENT_USER_UPDATE), 2);
    cr_assert_null(dcc_client_find_user(c, "bob"));
    cr_assert_eq(dcc_client_user_count(c), 1);
}

Test(nmdc_events, sends_escaped_chat_and_pm)
{
    nmdc_login();
    cr_assert_eq(dcc_client_say(c, "a $ b | c & d", err), 0, "%s", err);
    cr_assert_eq(dcc_client_pm(c, "bob", "x$y|z &#124;", err), 0, "%s", err);
    cr_assert(tu_peer_expect(&peer, "<alice> a &#36; b &#124; c & d|", 5));
    cr_assert(tu_peer_expect(&peer, "$To: bob From: alice $<alice> x&#36;y&#124;z &amp;#124;|", 5));
    cr_assert_eq(dcc_client_pm(c, "carol", "hi", err), -1);
    cr_assert(strstr(err, "'carol' is not online"), "%s", err);
    cr_assert_eq(dcc_client_say(c, "", err), -1);
}

Test(nmdc_events, malformed_lines_are_skipped)
{
    nmdc_login();
    tu_peer_send(&peer, "$MyINFO garbage|$To: nonsense|$Quit|||<bob> still here|");
    cr_assert(wait_event(DCC_EVENT_CHAT, "still here"));
    cr_assert_eq(dcc_client_state(c), DCC_STATE_ONLINE);
    cr_assert_eq(dcc_client_user_count(c), 2);
}

Test(nmdc_events, nick_taken_reports_the_hubs_reason)
{
    peer.greeting = "$Lock EXTENDEDPROTOCOLx Pk=y|";
    connect_to("dchub");
    cr_assert(tu_peer_expect(&peer, "$ValidateNick alice|", 5));
    tu_peer_send(&peer, "<Hub-Security> The nick alice is already taken|$ValidateDenide alice|");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "refused") && strstr(d->text, "already taken"), "%s", d->text);
    cr_assert(!d->logged_in);
    cr_assert_eq(tu_rec_count(&rec, DCC_EVENT_CONNECTED), 0);
    cr_assert_eq(dcc_client_state(c), DCC_STATE_IDLE);
}

Test(nmdc_events, password_is_sent_and_bad_password_reported)
{
    cr_assert_eq(dcc_client_set_text(c, "password", "s3cret", err), 0);
    peer.greeting = "$Lock EXTENDEDPROTOCOLx Pk=y|";
    connect_to("dchub");
    cr_assert(tu_peer_expect(&peer, "$ValidateNick alice|", 5));
    tu_peer_send(&peer, "$GetPass|");
    cr_assert(tu_peer_expect(&peer, "$MyPass s3cret|", 5));
    tu_peer_send(&peer, "$BadPass|");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "bad password"), "%s", d->text);
}

Test(nmdc_events, password_required_but_none_set)
{
    peer.greeting = "$Lock EXTENDEDPROTOCOLx Pk=y|";
    connect_to("dchub");
    cr_assert(tu_peer_expect(&peer, "$ValidateNick alice|", 5));
    tu_peer_send(&peer, "$GetPass|");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "requires a password"), "%s", d->text);
}

Test(nmdc_events, hub_closing_after_a_message_gives_that_message)
{
    peer.greeting = "$Lock EXTENDEDPROTOCOLx Pk=y|";
    connect_to("dchub");
    cr_assert(tu_peer_expect(&peer, "$ValidateNick alice|", 5));
    tu_peer_send(&peer, "This hub is for registered users only|");
    cr_assert(wait_event(DCC_EVENT_STATUS, NULL));
    tu_peer_drop(&peer);
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "closed the connection: This hub is for registered users only"), "%s", d->text);
}

Test(nmdc_events, over_long_message_is_a_protocol_error)
{
    cr_assert_eq(dcc_client_set_text(c, "max_line", "256", err), 0);
    nmdc_login();
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tu_peer_send(&peer, big);
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "longer than 256 bytes"), "%s", d->text);
    cr_assert(d->logged_in);
}

/* ---- ADC ----------------------------------------------------------------- */

/* Drive an ADC login; checks HSUP, the BINF fields and CID = Tiger(PID). */
static void adc_login(void)
{
    connect_to("adc");
    cr_assert(tu_peer_expect(&peer, "HSUP ADBASE ADTIGR\n", 5), "no HSUP");
    tu_peer_send(&peer, "ISUP ADBASE ADTIGR\nISID AAAB\nIINF CT32 NITest\\sHub\nISTA 000 Welcome\\sto\\sthe\\shub\n");
    cr_assert(tu_peer_expect(&peer, "NIalice", 5), "no BINF");
    cr_assert(tu_peer_expect(&peer, "\n", 1));
    /* Pull the BINF line out and check the identity. */
    size_t len = evbuffer_get_length(peer.got);
    char *all = calloc(1, len + 1);
    evbuffer_copyout(peer.got, all, len);
    char *binf = strstr(all, "BINF AAAB ");
    cr_assert_not_null(binf, "%s", all);
    *strchr(binf, '\n') = '\0';
    char *id = strstr(binf, " ID"), *pd = strstr(binf, " PD");
    cr_assert(id && pd, "%s", binf);
    uint8_t pid[24], cid[24], want[24];
    cr_assert_eq(dc_base32_decode(pd + 3, 39, pid, sizeof pid), 24);
    cr_assert_eq(dc_base32_decode(id + 3, 39, cid, sizeof cid), 24);
    dc_tiger(pid, sizeof pid, want);
    cr_assert_arr_eq(cid, want, 24, "CID must be Tiger(PID)");
    cr_assert(strncmp(id + 3, dcc_client_cid(c, err), 39) == 0);
    free(all);
    tu_peer_send(&peer, "BINF AAAC IDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA NIbob DEbob\\sdesc SS1234 CT4 EMb@x VE1.0\n");
    tu_peer_send(&peer, "BINF AAAB IDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB NIalice SS0\n");
    cr_assert(wait_event(DCC_EVENT_CONNECTED, NULL), "login did not complete");
}

Test(adc_events, login_builds_the_user_list)
{
    adc_login();
    const struct dcc_user *bob = dcc_client_find_user(c, "bob");
    cr_assert_not_null(bob);
    cr_assert_str_eq(bob->sid, "AAAC");
    cr_assert_str_eq(bob->description, "bob desc");
    cr_assert_str_eq(bob->email, "b@x");
    cr_assert_str_eq(bob->tag, "1.0");
    cr_assert_eq(bob->share, 1234);
    cr_assert(bob->op, "CT4 is an operator");
    cr_assert(dcc_client_find_user(c, "alice")->self);
    const struct tu_ev *st = tu_rec_find(&rec, DCC_EVENT_STATUS, "Welcome to the hub");
    cr_assert_not_null(st);
    cr_assert_eq(st->code, 0);
}

Test(adc_events, chat_pm_echo_updates_and_leave)
{
    adc_login();
    tu_peer_send(&peer, "BMSG AAAC hello\\sall\n");
    tu_peer_send(&peer, "EMSG AAAC AAAB hi\\sthere\\nline2\\\\ PMAAAC\n");
    tu_peer_send(&peer, "EMSG AAAB AAAC my\\sown\\spm PMAAAB\n");   /* the hub's echo of ours */
    tu_peer_send(&peer, "IMSG hub\\ssays\n");
    tu_peer_send(&peer, "BINF AAAC DEnew SS99\n");
    tu_peer_send(&peer, "BINF AAAC EM\n");
    tu_peer_send(&peer, "IQUI AAAC\n");
    cr_assert(wait_event(DCC_EVENT_USER_LEAVE, "bob"));
    const struct tu_ev *chat = tu_rec_find(&rec, DCC_EVENT_CHAT, NULL);
    cr_assert_str_eq(chat->from, "bob");
    cr_assert_str_eq(chat->text, "hello all");
    cr_assert_eq(tu_rec_count(&rec, DCC_EVENT_PM), 1, "our own echoed PM must not be reported");
    const struct tu_ev *pm = tu_rec_find(&rec, DCC_EVENT_PM, NULL);
    cr_assert_str_eq(pm->from, "bob");
    cr_assert_str_eq(pm->to, "alice");
    cr_assert_str_eq(pm->text, "hi there\nline2\\");
    cr_assert_not_null(tu_rec_find(&rec, DCC_EVENT_STATUS, "hub says"));
    cr_assert_geq(tu_rec_count(&rec, DCC_EVENT_USER_UPDATE), 2);
    cr_assert_null(dcc_client_find_user(c, "bob"));
}

Test(adc_events, inf_updates_are_incremental)
{
    adc_login();
    tu_peer_send(&peer, "BINF AAAC DEnew\n");
    struct wait_ev w = {DCC_EVENT_USER_UPDATE, "bob", 1};
    cr_assert(tu_run_until(base, has_event, &w, 5));
    const struct dcc_user *bob = dcc_client_find_user(c, "bob");
    cr_assert_str_eq(bob->description, "new");
    cr_assert_eq(bob->share, 1234, "fields not in the update stay");
    cr_assert_str_eq(bob->email, "b@x");
    tu_peer_send(&peer, "BINF AAAC EM CT\n");
    w.count = 2;
    cr_assert(tu_run_until(base, has_event, &w, 5));
    bob = dcc_client_find_user(c, "bob");
    cr_assert_str_eq(bob->email, "", "an empty value clears the field");
    cr_assert(!bob->op);
}

Test(adc_events, sends_escaped_chat_and_pm)
{
    adc_login();
    cr_assert_eq(dcc_client_say(c, "a b\\c", err), 0, "%s", err);
    cr_assert_eq(dcc_client_pm(c, "bob", "x y\nz", err), 0, "%s", err);
    cr_assert(tu_peer_expect(&peer, "BMSG AAAB a\\sb\\\\c\n", 5));
    cr_assert(tu_peer_expect(&peer, "EMSG AAAB AAAC x\\sy\\nz PMAAAB\n", 5));
}

Test(adc_events, malformed_lines_are_skipped)
{
    adc_login();
    tu_peer_send(&peer, "garbage\nBINF\nEMSG AAAC AAAB bad\\qescape PMAAAC\nBMSG ZZ\n\n\nBMSG AAAC after\n");
    cr_assert(wait_event(DCC_EVENT_CHAT, "after"));
    cr_assert_eq(tu_rec_count(&rec, DCC_EVENT_PM), 0);
    cr_assert_eq(dcc_client_state(c), DCC_STATE_ONLINE);
}

Test(adc_events, nick_taken_reports_the_hubs_reason)
{
    connect_to("adc");
    cr_assert(tu_peer_expect(&peer, "HSUP", 5));
    tu_peer_send(&peer, "ISUP ADBASE ADTIGR\nISID AAAB\n");
    cr_assert(tu_peer_expect(&peer, "BINF", 5));
    tu_peer_send(&peer, "ISTA 222 Nickname\\sis\\salready\\sin\\suse\nIQUI AAAB MSNickname\\sis\\salready\\sin\\suse\n");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "Nickname is already in use") && strstr(d->text, "222"), "%s", d->text);
    cr_assert(!d->logged_in);
    cr_assert_eq(tu_rec_find(&rec, DCC_EVENT_STATUS, NULL)->code, 222);
}

Test(adc_events, password_hash_matches_the_uhub_vector)
{
    cr_assert_eq(dcc_client_set_text(c, "password", "secret", err), 0);
    connect_to("adc");
    cr_assert(tu_peer_expect(&peer, "HSUP", 5));
    tu_peer_send(&peer, "ISUP ADBASE ADTIGR\nISID AAAB\n");
    cr_assert(tu_peer_expect(&peer, "BINF", 5));
    tu_peer_send(&peer, "IGPA RYVW3JXNQGUUUBRANMJ62YH6S25I66ZZJ33OMEY\n");
    cr_assert(tu_peer_expect(&peer, "HPAS 252QOB7PFWQDJAPMOQV67VJKI3XKSD3KAFIFH3A\n", 5));
    tu_peer_send(&peer, "ISTA 223 Password\\sis\\swrong\n");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "Password is wrong"), "%s", d->text);
}

Test(adc_events, hub_kick_with_message)
{
    adc_login();
    tu_peer_send(&peer, "IQUI AAAB MSyou\\sare\\skicked TL-1\n");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "you are kicked"), "%s", d->text);
    cr_assert(d->logged_in);
    cr_assert_eq(dcc_client_user_count(c), 0);
}

Test(adc_events, persisted_pid_survives_clients)
{
    char dir[] = "/tmp/dcc-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char sub[64];
    snprintf(sub, sizeof sub, "%s/data", dir);
    cr_assert_eq(dcc_client_set_text(c, "data_dir", sub, err), 0);
    char first[40];
    snprintf(first, sizeof first, "%s", dcc_client_cid(c, err));
    struct dcc_client *c2 = dcc_client_new(base, NULL, NULL);
    dcc_client_set_text(c2, "data_dir", sub, err);
    cr_assert_str_eq(dcc_client_cid(c2, err), first, "same data dir, same identity");
    struct dcc_client *c3 = dcc_client_new(base, NULL, NULL);
    cr_assert_str_neq(dcc_client_cid(c3, err), first, "no data dir: a random PID");
    dcc_client_free(c2);
    dcc_client_free(c3);
    char path[128];
    snprintf(path, sizeof path, "%s/adc-pid", sub);
    FILE *f = fopen(path, "w");
    fputs("not base32!\n", f);
    fclose(f);
    struct dcc_client *c4 = dcc_client_new(base, NULL, NULL);
    dcc_client_set_text(c4, "data_dir", sub, err);
    cr_assert_null(dcc_client_cid(c4, err));
    cr_assert(strstr(err, "adc-pid"), "%s", err);
    cr_assert_eq(dcc_client_set_text(c4, "nick", "x", err), 0);
    snprintf(url, sizeof url, "adc://127.0.0.1:%d", peer.port);
    cr_assert_eq(dcc_client_connect(c4, url, err), -1, "a bad PID file fails connect synchronously");
    dcc_client_free(c4);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

/* ---- session: connect errors, timeouts, disconnect, reconnect ----------- */

Test(session, refused_connection_is_reported_not_synchronous)
{
    int port = peer.port;
    tu_peer_stop(&peer);                  /* nobody listens there now */
    snprintf(url, sizeof url, "dchub://127.0.0.1:%d", port);
    cr_assert_eq(dcc_client_connect(c, url, err), 0, "%s", err);
    cr_assert_eq(rec.n, 0, "no callback inside connect");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "cannot connect"), "%s", d->text);
    tu_peer_start(&peer, base);
}

Test(session, bad_urls_and_states_fail_synchronously)
{
    cr_assert_eq(dcc_client_connect(c, "adcs://127.0.0.1:1/?kp=SHA256/TOOSHORT", err), -1);
    cr_assert(strstr(err, "52 base32"), "%s", err);
    cr_assert_eq(dcc_client_connect(c, "adc://127.0.0.1:1/?kp=SHA256/TOOSHORT", err), -1);
    /* No TLS identity (data_dir unusable): refused before anything starts. */
    cr_assert_eq(dcc_client_set_text(c, "data_dir", "/dev/null/nowhere", err), 0);
    cr_assert_eq(dcc_client_connect(c, "nmdcs://127.0.0.1:1", err), -1);
    cr_assert(strstr(err, "TLS certificate"), "%s", err);
    cr_assert_eq(dcc_client_set_text(c, "data_dir", "", err), 0);
    cr_assert_eq(dcc_client_disconnect(c, err), -1);
    cr_assert(strstr(err, "not connected"), "%s", err);
    cr_assert_eq(dcc_client_say(c, "x", err), -1);
    dcc_client_set_text(c, "nick", "bad nick", err);
    cr_assert_eq(dcc_client_connect(c, "dchub://127.0.0.1:1", err), -1);
    cr_assert(strstr(err, "not valid for nmdc"), "%s", err);
    dcc_client_set_text(c, "nick", "alice", err);
    connect_to("dchub");
    cr_assert_eq(dcc_client_connect(c, url, err), -1);
    cr_assert(strstr(err, "already"), "%s", err);
    cr_assert_eq(rec.n, 0);
}

Test(session, login_timeout)
{
    cr_assert_eq(dcc_client_set_text(c, "login_timeout", "0.2", err), 0);
    connect_to("dchub");                  /* the peer never sends $Lock */
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "timed out"), "%s", d->text);
}

Test(session, tls_url_against_a_plain_hub_fails_fast)
{
    /* An NMDC hub greets with $Lock: our ClientHello gets plain text back. */
    cr_assert_eq(dcc_client_set_text(c, "login_timeout", "5", err), 0);
    peer.greeting = "$Lock EXTENDEDPROTOCOLabc Pk=x|";
    double t0 = tu_now();
    connect_to("nmdcs");
    const struct tu_ev *d = last_disconnect();
    cr_assert(tu_now() - t0 < tu_timeout(2), "took %.2fs", tu_now() - t0);
    cr_assert(strstr(d->text, "TLS handshake with 127.0.0.1:") && strstr(d->text, "not a TLS port"), "%s",
              d->text);
    cr_assert(!d->logged_in);
    cr_assert_str_eq(dcc_client_hub_keyprint(c), "");
    cr_assert(dcc_client_tls(c));
}

Test(session, tls_url_against_a_silent_plain_hub_times_out_with_a_hint)
{
    /* An ADC hub waits for HSUP: the handshake never completes. */
    cr_assert_eq(dcc_client_set_text(c, "login_timeout", "0.3", err), 0);
    connect_to("adcs");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "timed out") && strstr(d->text, "TLS handshake did not complete"), "%s", d->text);
}

Test(session, plain_url_against_a_silent_hub_says_it_may_be_tls)
{
    cr_assert_eq(dcc_client_set_text(c, "login_timeout", "0.3", err), 0);
    connect_to("dchub");
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "nothing received from the hub (a TLS port?"), "%s", d->text);
    cr_assert(!dcc_client_tls(c));
}

Test(session, own_keyprint_is_stable_per_client_and_dir)
{
    char dir[] = "/tmp/dcc-kp-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    const char *kp = dcc_client_keyprint(c, err);
    cr_assert_not_null(kp, "%s", err);
    cr_assert_eq(strlen(kp), DCC_KEYPRINT_LEN);
    char first[DCC_KEYPRINT_LEN + 1];
    snprintf(first, sizeof first, "%s", kp);
    cr_assert_str_eq(dcc_client_keyprint(c, err), first);   /* in memory: made once */
    cr_assert_eq(dcc_client_set_text(c, "data_dir", dir, err), 0);
    kp = dcc_client_keyprint(c, err);
    cr_assert_not_null(kp, "%s", err);
    cr_assert_str_neq(kp, first);                           /* a new one, now kept in dir */
    snprintf(first, sizeof first, "%s", kp);
    struct dcc_client *c2 = dcc_client_new(base, NULL, NULL);
    cr_assert_eq(dcc_client_set_text(c2, "data_dir", dir, err), 0);
    cr_assert_str_eq(dcc_client_keyprint(c2, err), first);  /* loaded, not made again */
    dcc_client_free(c2);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(session, disconnect_flushes_queued_messages)
{
    peer.greeting = "$Lock EXTENDEDPROTOCOLx Pk=y|";
    connect_to("dchub");
    cr_assert(tu_peer_expect(&peer, "$ValidateNick alice|", 5));
    tu_peer_send(&peer, "$Hello alice|");
    cr_assert(tu_peer_expect(&peer, "$GetNickList|", 5));
    tu_peer_send(&peer, BOB_INFO ALICE_INFO);
    cr_assert(wait_event(DCC_EVENT_CONNECTED, NULL));
    cr_assert_eq(dcc_client_pm(c, "bob", "last words", err), 0);
    cr_assert_eq(dcc_client_disconnect(c, err), 0, "%s", err);
    const struct tu_ev *d = last_disconnect();
    cr_assert(strstr(d->text, "on request"), "%s", d->text);
    cr_assert(d->logged_in);
    cr_assert(tu_peer_expect(&peer, "$To: bob From: alice $<alice> last words|", 5), "queued PM lost");
    cr_assert_eq(dcc_client_state(c), DCC_STATE_IDLE);
    cr_assert_eq(tu_rec_count(&rec, DCC_EVENT_RECONNECTING), 0);
}

static bool accepts_at_least_5(void *arg)
{
    (void)arg;
    return peer.accepts >= 5;
}

Test(session, reconnect_backs_off_exponentially_up_to_the_bound)
{
    peer.close_on_accept = true;
    dcc_client_set_text(c, "reconnect", "true", err);
    dcc_client_set_text(c, "reconnect_delay", "0.05", err);
    dcc_client_set_text(c, "reconnect_max_delay", "0.2", err);
    connect_to("dchub");
    cr_assert(tu_run_until(base, accepts_at_least_5, NULL, 10));
    double want[] = {0.05, 0.1, 0.2, 0.2};
    size_t k = 0;
    for (size_t i = 0; i < rec.n && k < 4; i++)
        if (rec.ev[i].type == DCC_EVENT_RECONNECTING) {
            double got = rec.ev[i].delay, exp = want[k++];
            cr_assert_float_eq(got, exp, 1e-9, "attempt %zu: delay %g, want %g", k, got, exp);
        }
    cr_assert_eq(k, 4);
    for (int i = 1; i < 5; i++)
        cr_assert_geq(peer.accept_times[i] - peer.accept_times[i - 1], want[i - 1] * 0.9,
                      "attempt %d came too early", i);
    /* A disconnect while waiting cancels the reconnect. */
    cr_assert_eq(dcc_client_disconnect(c, err), 0, "%s", err);
    cr_assert_eq(dcc_client_state(c), DCC_STATE_IDLE);
    int n = peer.accepts;
    struct wait_ev never = {DCC_EVENT_CONNECTED, "never", 1};
    tu_run_until(base, has_event, &never, 0.5);
    cr_assert_eq(peer.accepts, n, "reconnected after disconnect");
}

Test(session, reconnect_is_off_by_default)
{
    peer.close_on_accept = true;
    connect_to("dchub");
    last_disconnect();
    struct wait_ev never = {DCC_EVENT_CONNECTED, "never", 1};
    tu_run_until(base, has_event, &never, 0.5);
    cr_assert_eq(peer.accepts, 1);
    cr_assert_eq(tu_rec_count(&rec, DCC_EVENT_RECONNECTING), 0);
    cr_assert_eq(dcc_client_state(c), DCC_STATE_IDLE);
}

Test(session, free_inside_callbacks_is_safe)
{
    /* One client frees itself in its DISCONNECTED callback (refused connect),
     * another in its CONNECTED callback in the middle of a read burst. */
    peer.greeting = "$Lock EXTENDEDPROTOCOLx Pk=y|";
    struct dcc_callbacks cbs = {.event_cb = tu_rec_event_cb};
    struct tu_rec r2 = {.free_on = DCC_EVENT_DISCONNECTED + 1};
    struct dcc_client *c2 = dcc_client_new(base, &cbs, &r2);
    r2.client = c2;
    dcc_client_set_text(c2, "nick", "x", err);
    cr_assert_eq(dcc_client_connect(c2, "dchub://127.0.0.1:1", err), 0, "%s", err);
    rec.free_on = DCC_EVENT_CONNECTED + 1;
    connect_to("dchub");
    cr_assert(tu_peer_expect(&peer, "$ValidateNick alice|", 5));
    tu_peer_send(&peer, "$Hello alice|");
    cr_assert(tu_peer_expect(&peer, "$GetNickList|", 5));
    tu_peer_send(&peer, ALICE_INFO BOB_INFO "<bob> after the free|");
    cr_assert(wait_event(DCC_EVENT_CONNECTED, NULL));
    struct wait_ev w = {DCC_EVENT_DISCONNECTED, NULL, 1};
    (void)w;
    double end = tu_now() + tu_timeout(5);
    while (r2.client && tu_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    cr_assert_null(r2.client, "c2 did not free itself");
    cr_assert_null(rec.client);
    c = NULL;              /* freed inside its callback; teardown must not free it again */
    /* Nothing after the CONNECTED that freed the client is reported. */
    cr_assert_eq(rec.ev[rec.n - 1].type, DCC_EVENT_CONNECTED);
    cr_assert_eq(r2.n, 1);
    tu_rec_cleanup(&r2);
}
