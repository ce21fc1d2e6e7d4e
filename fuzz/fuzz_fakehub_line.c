/* fuzz_fakehub_line.c: libFuzzer target for fakehub's message handlers
 * (fakehub/input.c framing, hub_nmdc.c, hub_adc.c, rules, trace): a hub with
 * two registered users, and per input three client connections that are
 * socketpairs handed to it with fh_hub_adopt (no network reaches it).
 *
 * The first byte gives each connection its protocol (bit k set: connection
 * k speaks ADC); the rest is split at NUL bytes (never part of a DC line)
 * into segments that go to connections 0, 1, 2, 0, ... in turn, with the
 * loop run in between, so logins, relays between users, PMs, CTMs and
 * disconnects interleave. Properties: no crash, no leak, no sanitizer
 * report, and the hub frees cleanly in any state. The hub is kept from
 * input to input only when the last one left it idle (no connections). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakehub/hub.h"
#include "fakehub/hub_internal.h"
#include "fuzz_loop.h"
#include "proto/buf.h"
#include "proto/nmdc.h"

#define FZ_CONNS 3

/* The hub's lock is random, so a fuzzer could never answer it: "$Key ?|"
 * in the input stands for the right key. The lock is taken from what the
 * hub sent first on that connection. */
struct fz_conn {
    int fd;
    char lock[128];
};

static void fz_take_lock(struct fz_conn *c)
{
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *l = strstr(buf, "$Lock ");
    if (l) {
        l += 6;
        size_t len = strcspn(l, " |");
        if (len < sizeof c->lock) {
            memcpy(c->lock, l, len);
            c->lock[len] = '\0';
        }
    }
}

static void fz_send(struct fz_conn *c, const uint8_t *p, size_t n, struct dc_buf *tmp)
{
    dc_buf_reset(tmp);
    const uint8_t *end = p + n, *q;
    while ((q = memmem(p, (size_t)(end - p), "$Key ?|", 7)) != NULL) {
        dc_buf_append(tmp, p, (size_t)(q - p));
        nmdc_fmt_key(tmp, c->lock, strlen(c->lock));
        p = q + 7;
    }
    dc_buf_append(tmp, p, (size_t)(end - p));
    fz_write(c->fd, tmp->data, tmp->len);
}

/* One hub per process, built on first use and again whenever an input left
 * it stopping or holding connections: a fresh hub per input would cost more
 * than the input itself. */
static struct fh_hub *fz_hub;
static struct event_base *fz_base;   /* the hub's, kept across hubs */

static struct fh_hub *fz_hub_get(void)
{
    static const struct fh_kv ov[] = {
        {"user", "op secret op"}, {"user", "reg pw"}, {"motd", "welcome | $ \\n"}, {"max-line", "4096"},
    };
    if (fz_hub && !fz_hub->stopping && !fz_hub->conns)
        return fz_hub;
    if (getenv("FZ_VERBOSE") && fz_hub)
        fprintf(stderr, "new hub: %s\n", fz_hub->stopping ? "stopping" : "connections left");
    fh_hub_free(fz_hub);
    struct fh_hub_opts opts = {
        .nmdc_addr = "127.0.0.1:0", .overrides = ov, .noverrides = sizeof ov / sizeof ov[0],
        .trace_path = getenv("FZ_TRACE") ? getenv("FZ_TRACE") : "/dev/null", .log_path = "/dev/null",
    };
    char err[FH_ERR_LEN];
    if (!fz_base && !(fz_base = event_base_new()))
        abort();
    if (!(fz_hub = fh_hub_new(fz_base, &opts, err))) {
        fprintf(stderr, "fh_hub_new: %s\n", err);
        abort();
    }
    return fz_hub;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct fh_hub *hub = fz_hub_get();
    struct event_base *base = fh_hub_base(hub);
    int peers[FZ_CONNS];
    struct fz_conn conns[FZ_CONNS];
    struct dc_buf tmp;
    dc_buf_init(&tmp, 0);
    for (int i = 0; i < FZ_CONNS; i++) {
        int fds[2];
        if (fz_pair(fds) < 0 || fh_hub_adopt(hub, fds[0], (data[0] >> i) & 1) < 0)
            abort();
        peers[i] = conns[i].fd = fds[1];
        conns[i].lock[0] = '\0';
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    for (int i = 0; i < FZ_CONNS; i++)
        fz_take_lock(&conns[i]);
    fz_settle(base, peers, FZ_CONNS);
    const uint8_t *p = data + 1, *end = data + size;
    for (int k = 0; p < end; k++) {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);
        fz_send(&conns[k % FZ_CONNS], p, n, &tmp);
        fz_settle(base, peers, FZ_CONNS);
        p += n + (nul ? 1 : 0);
    }
    for (int i = 0; i < FZ_CONNS; i++)
        close(peers[i]);
    fz_settle(base, NULL, 0);
    dc_buf_cleanup(&tmp);
    return 0;
}
