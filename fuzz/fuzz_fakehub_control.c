/* fuzz_fakehub_control.c: libFuzzer target for fakehub's control socket
 * (fakehub/control.c over proto/jsonl.c: JSON-lines framing and requests,
 * subscriptions, events). A hub
 * (kept while inputs leave it idle) and per input two ADC users logging in over socketpairs
 * (fh_hub_adopt), and the input written by a controller connected to the
 * control socket (a Unix socket in the current directory; ci/fuzz runs each
 * target in its own scratch directory). Properties: no crash, no leak, no
 * sanitizer report; every request line gets handled without stalling the
 * hub, which then shuts down and frees cleanly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "fakehub/hub.h"
#include "fakehub/hub_internal.h"
#include "fuzz_loop.h"

static const char *const fz_logins[] = {
    "HSUP ADBASE ADTIGR\nBINF AAAB ID353G577K53QGEPJCBZKW6IERMGSSX7FLTSMZ56Q "
    "PDBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA NIalice SUTCP4 I40.0.0.0\n",
    "HSUP ADBASE ADTIGR\nBINF AAAC IDLUPHEUKOP6S46XOXEQFMB5LYB6QN7G5LKLSZESQ "
    "PDCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA NIbob SUTCP4 I40.0.0.0\n",
};

/* One hub per process, built again whenever an input left it stopping
 * (the shutdown request) or holding connections. */
static struct fh_hub *fz_hub;
static struct event_base *fz_base;   /* the hub's, kept across hubs */
static char fz_path[64];

static struct fh_hub *fz_hub_get(void)
{
    if (fz_hub && !fz_hub->stopping && !fz_hub->conns)
        return fz_hub;
    fh_hub_free(fz_hub);
    snprintf(fz_path, sizeof fz_path, "fz-%d.sock", (int)getpid());
    struct fh_hub_opts opts = {
        .adc_addr = "127.0.0.1:0", .control_path = fz_path, .log_path = "/dev/null",
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
    struct fh_hub *hub = fz_hub_get();
    struct event_base *base = fh_hub_base(hub);
    int peers[3];
    for (int i = 0; i < 2; i++) {
        int fds[2];
        if (fz_pair(fds) < 0 || fh_hub_adopt(hub, fds[0], true) < 0)
            abort();
        peers[i] = fds[1];
        fz_write(peers[i], fz_logins[i], strlen(fz_logins[i]));
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fz_path);
    peers[2] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (peers[2] < 0 || connect(peers[2], (struct sockaddr *)&sun, sizeof sun) < 0)
        abort();
    fz_settle(base, peers, 3);
    fz_write(peers[2], data, size);
    fz_write(peers[2], "\n", 1);
    fz_settle(base, peers, 3);
    for (int i = 0; i < 3; i++)
        close(peers[i]);
    fz_settle(base, NULL, 0);
    return 0;
}
