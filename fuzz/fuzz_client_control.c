/* fuzz_client_control.c: libFuzzer target for dcclient's control protocol
 * (client/control.c, control_cmds.c and proto/jsonl.c: JSON-lines framing
 * and requests, argument checks, settings, replies), driven as `dcclient
 * --stdio` is: requests on a socket, replies to /dev/null. Requests that would reach the network or the file system
 * (connect, share, mkfile, download) are dropped by the target before the
 * controller sees them, decided by parsing each line as the controller
 * does; everything else, including malformed JSON, goes through.
 * Properties: no crash, no leak, no sanitizer report. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/control.h"
#include "proto/jsonl.h"
#include "fuzz_loop.h"

static struct event_base *fz_base;

static void fz_quit(void *ctx)
{
    *(int *)ctx = 1;
}

static int fz_denied(const uint8_t *line, size_t len)
{
    static const char *const deny[] = {"connect", "share", "mkfile", "download"};
    struct dc_jsonl_req req;
    int bad = 0;
    if (dc_jsonl_parse((const char *)line, len, &req) == 0)
        for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++)
            bad |= strcmp(req.cmd, deny[i]) == 0;
    dc_jsonl_req_cleanup(&req);
    return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_base && !(fz_base = event_base_new()))
        abort();
    int quit = 0, fds[2];
    int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct dcc_ctl *t = dcc_ctl_new(fz_base, fz_quit, &quit, NULL);
    if (!t || out < 0 || fz_pair(fds) < 0 || dcc_ctl_stdio(t, fds[0], out, NULL) != 0)
        abort();
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (!fz_denied(p, n)) {
            fz_write(fds[1], p, n);
            fz_write(fds[1], "\n", 1);
        }
        p += n + 1;
    }
    fz_settle(fz_base, &fds[1], 1);
    close(fds[1]);
    fz_settle(fz_base, NULL, 0);
    dcc_ctl_free(t);
    fz_settle(fz_base, NULL, 0);
    close(fds[0]);
    close(out);
    return 0;
}
