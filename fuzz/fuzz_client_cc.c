/* fuzz_client_cc.c: libFuzzer target for client-client connections
 * (client/cc.c, upload.c, download.c): the handshake and commands of both
 * protocols, the data phase raw and ZLIB-compressed, and the file list that
 * arrives through it. A fresh client per input logs into a scripted hub (a
 * socketpair, not fuzzed) that lists the user "peer"; the input is what
 * "peer" sends on an incoming connection (dcc_cc_adopt, a socketpair).
 *
 * The first byte: bit 0 ADC (else NMDC); bit 1 a list request to peer is
 * queued first, so the client downloads (the input can then answer with a
 * SND and data); bit 2 compress=true (ZL1 asked for). Properties: no crash,
 * no leak, no sanitizer report, and the client can be freed at any point. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "fuzz_loop.h"

#define FZ_PEER_CID "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static const char fz_nmdc_login[] =
    "$Lock EXTENDEDPROTOCOLABCABCABCABCABCABC Pk=fuzz|$HubName fuzz|$Hello dcclient|"
    "$MyINFO $ALL dcclient $ $1\x01$$0$|"
    "$MyINFO $ALL peer d<++ V:0.1,M:A,H:1/0/0,S:3>$ $1\x01$$1000$|";
static const char fz_adc_login[] =
    "ISUP ADBASE ADTIGR\nISID AAAB\nIINF CT32 NIfuzz\n"
    "BINF AAAB NIdcclient\n"
    "BINF AAAC ID" FZ_PEER_CID " NIpeer SUTCP4 I4127.0.0.1 SS1000\n";

static struct event_base *fz_base;

static void fz_event(struct dcc_client *c, const struct dcc_event *ev, void *ctx)
{
    (void)c, (void)ctx;
    if (getenv("FZ_VERBOSE"))
        fprintf(stderr, "event %d %s\n", (int)ev->type, ev->text ? ev->text : "");
}

static void fz_log(struct dcc_client *c, const char *line, void *ctx)
{
    (void)c, (void)ctx;
    if (getenv("FZ_VERBOSE"))
        fprintf(stderr, "log %s\n", line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!fz_base && !(fz_base = event_base_new()))
        abort();
    int mode = data[0];
    bool adc = mode & 1;
    struct dcc_callbacks cbs = {.event_cb = fz_event, .log_cb = fz_log};
    struct dcc_client *c = dcc_client_new(fz_base, &cbs, NULL);
    int hub[2], cc[2];
    if (!c || fz_pair(hub) < 0 || fz_pair(cc) < 0)
        abort();
    dcc_client_set_text(c, "active", "false", NULL);
    dcc_client_set_text(c, "compress", mode & 4 ? "true" : "false", NULL);
    dcc_client_set_text(c, "cc_tls", "never", NULL);
    if (dcc_client_adopt(c, adc ? "adc://127.0.0.1:1" : "dchub://127.0.0.1:1", hub[0], NULL) < 0)
        abort();
    fz_settle(fz_base, &hub[1], 1);
    fz_write(hub[1], adc ? fz_adc_login : fz_nmdc_login, adc ? sizeof fz_adc_login - 1 : sizeof fz_nmdc_login - 1);
    fz_settle(fz_base, &hub[1], 1);
    if (dcc_client_state(c) != DCC_STATE_ONLINE)
        abort();   /* the script must log in, or the target fuzzes nothing */
    if (mode & 2)
        dcc_client_list(c, "peer", NULL);
    fz_settle(fz_base, &hub[1], 1);
    dcc_cc_adopt(c, cc[0]);
    int peers[2] = {hub[1], cc[1]};
    fz_settle(fz_base, peers, 2);
    fz_write(cc[1], data + 1, size - 1);
    fz_settle(fz_base, peers, 2);
    close(cc[1]);
    fz_settle(fz_base, &hub[1], 1);
    close(hub[1]);
    fz_settle(fz_base, NULL, 0);
    dcc_client_free(c);
    fz_settle(fz_base, NULL, 0);
    return 0;
}
