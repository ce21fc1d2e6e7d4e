/* test_transfer.c: Alice shares, Bob browses and downloads, both clients in
 * ONE process on one event_base against a fakehub child; NMDC and ADC, with
 * Bob active (he listens: CTM) and passive (RCM), plain and over TLS
 * (nmdcs://, adcs://: the client connections are TLS too, which every
 * transfer event must say). Files are generated in a
 * temp dir: nested and empty directories, a non-ASCII name, 0 B, 1 B,
 * 1 MiB and (outside sanitizer builds) 100 MiB. Each download must equal the
 * source byte for byte and report the TTH computed here; no .part remains. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/tests/testutil.h"
#include "proto/base32.h"
#include "proto/fltree.h"
#include "proto/tth.h"

#if defined(__SANITIZE_ADDRESS__)
#define BIG_FILES 0
#else
#define BIG_FILES 1
#endif

/* What a party saw: the last transfer outcome and share completion. */
struct party {
    struct dcc_client *c;
    bool share_done;
    long done_id, failed_id;
    char tth[64], file[4096], error[512];
    uint64_t size;
    bool list_ok;
    bool tls;                        /* of the last finished transfer */
};

static void party_cb(struct dcc_client *c, const struct dcc_event *ev, void *ctx)
{
    struct party *p = ctx;
    (void)c;
    if (ev->type == DCC_EVENT_SHARE_DONE)
        p->share_done = true;
    if (ev->type == DCC_EVENT_TRANSFER_DONE) {
        p->done_id = ev->transfer->id;
        snprintf(p->tth, sizeof p->tth, "%s", ev->transfer->tth);
        snprintf(p->file, sizeof p->file, "%s", ev->transfer->file);
        p->size = ev->transfer->size;
        p->tls = ev->transfer->tls;
        /* The list's shape: share/{empty, sub/deeper, café}. */
        const struct dc_fl_tree *l = ev->transfer->list;
        dc_fl_id empty = l ? dc_fl_tree_find(l, DC_FL_ROOT, "share/empty") : DC_FL_NONE;
        p->list_ok = empty != DC_FL_NONE && dc_fl_tree_is_dir(l, empty) &&
                     dc_fl_tree_first_child(l, empty) == DC_FL_NONE &&
                     dc_fl_tree_find(l, DC_FL_ROOT, "share/sub/deeper/1mib.bin") != DC_FL_NONE &&
                     dc_fl_tree_find(l, DC_FL_ROOT, "share/caf\xc3\xa9/\xe2\x82\xac.txt") != DC_FL_NONE;
    }
    if (ev->type == DCC_EVENT_TRANSFER_FAILED) {
        p->failed_id = ev->transfer->id;
        snprintf(p->error, sizeof p->error, "%s", ev->text);
    }
}

static struct event_base *base;
static struct party alice, bob;
static bool want_tls;
static char err[DCC_ERR_LEN];

static bool share_done(void *arg)
{
    return ((struct party *)arg)->share_done;
}

static bool online(void *arg)
{
    (void)arg;
    return dcc_client_find_user(alice.c, "bob") && dcc_client_find_user(bob.c, "alice") &&
           dcc_client_find_user(bob.c, "alice")->share > 0;
}

static long want_id;
static bool finished(void *arg)
{
    struct party *p = arg;
    return p->done_id == want_id || p->failed_id == want_id;
}

static void write_file(const char *path, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    char *buf = malloc(1 << 20);
    while (size) {
        size_t n = size < (1u << 20) ? size : (1u << 20);
        cr_assert_eq(getrandom(buf, n, 0), (ssize_t)n);
        cr_assert_eq(write(fd, buf, n), (ssize_t)n);
        size -= n;
    }
    free(buf);
    close(fd);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void download_one(const char *root, const char *rel, const char *target)
{
    char vpath[512], src[4096];
    snprintf(vpath, sizeof vpath, "/share/%s", rel);
    snprintf(src, sizeof src, "%s/share/%s", root, rel);
    struct dcc_download_req r = {.nick = "alice", .path = vpath, .target_dir = target};
    want_id = dcc_client_download(bob.c, &r, err);
    cr_assert_gt(want_id, 0, "%s", err);
    cr_assert(tu_run_until(base, finished, &bob, 120), "download of %s did not finish", rel);
    cr_assert_eq(bob.done_id, want_id, "%s failed: %s", rel, bob.error);
    cr_assert_eq(bob.tls, want_tls, "%s: tls %d", rel, bob.tls);
    size_t a, b;
    char *x = slurp(src, &a), *y = slurp(bob.file, &b);
    cr_assert_eq(a, b, "%s: size %zu != %zu", rel, a, b);
    cr_assert(memcmp(x, y, a) == 0, "%s: content differs", rel);
    uint8_t root_hash[DC_TTH_LEN];
    char tth[64];
    dc_tth(x, a, root_hash);
    dc_base32_encode(root_hash, DC_TTH_LEN, tth, sizeof tth);
    cr_assert_str_eq(bob.tth, tth, "%s: reported TTH", rel);
    free(x);
    free(y);
    char part[4200];
    snprintf(part, sizeof part, "%s.part", bob.file);
    cr_assert(access(part, F_OK) < 0, "%s left behind", part);
    if (a > 2)
        unlink(bob.file);   /* keep the temp dir small */
}

static void run(bool adc, bool bob_active, bool tls)
{
    want_tls = tls;
    char root[] = "/tmp/dcc-xfer-XXXXXX", path[4096], target[4200];
    cr_assert_not_null(mkdtemp(root));
    const char *dirs[] = {"share", "share/empty", "share/sub", "share/sub/deeper", "share/caf\xc3\xa9", "got"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
        cr_assert_eq(mkdir(path, 0755), 0);
    }
    const struct { const char *rel; size_t size; } files[] = {
        {"zero.bin", 0}, {"one.bin", 1}, {"sub/deeper/1mib.bin", 1 << 20},
        {"caf\xc3\xa9/\xe2\x82\xac.txt", 5}, {"100mib.bin", 100u << 20},
    };
    size_t nfiles = BIG_FILES ? 5 : 4;
    for (size_t i = 0; i < nfiles; i++) {
        snprintf(path, sizeof path, "%s/share/%s", root, files[i].rel);
        write_file(path, files[i].size);
    }
    struct tu_hub hub;
    const char *const tls_args[] = {"--nmdcs", "127.0.0.1:0", "--adcs", "127.0.0.1:0", NULL};
    cr_assert_eq(tu_hub_start(&hub, tls ? tls_args : NULL), 0);
    base = event_base_new();
    struct dcc_callbacks cbs = {.event_cb = party_cb};
    memset(&alice, 0, sizeof alice);
    memset(&bob, 0, sizeof bob);
    alice.c = dcc_client_new(base, &cbs, &alice);
    bob.c = dcc_client_new(base, &cbs, &bob);
    cr_assert_eq(dcc_client_set_text(alice.c, "nick", "alice", err), 0);
    cr_assert_eq(dcc_client_set_text(bob.c, "nick", "bob", err), 0);
    cr_assert_eq(dcc_client_set_text(bob.c, "active", bob_active ? "true" : "false", err), 0);
    snprintf(path, sizeof path, "%s/share", root);
    cr_assert_eq(dcc_client_share(alice.c, path, err), 0, "%s", err);
    cr_assert(tu_run_until(base, share_done, &alice, 120), "hashing did not finish");
    const char *url = tls ? (adc ? hub.adcs_url : hub.nmdcs_url) : adc ? hub.adc_url : hub.nmdc_url;
    cr_assert(*url, "fakehub did not announce the TLS listener");
    cr_assert_eq(dcc_client_connect(alice.c, url, err), 0, "%s", err);
    cr_assert_eq(dcc_client_connect(bob.c, url, err), 0, "%s", err);
    cr_assert(tu_run_until(base, online, NULL, 10), "not both online with alice's share");

    want_id = dcc_client_list(bob.c, "alice", err);
    cr_assert_gt(want_id, 0, "%s", err);
    cr_assert(tu_run_until(base, finished, &bob, 30), "list did not arrive");
    cr_assert_eq(bob.done_id, want_id, "list failed: %s", bob.error);
    cr_assert(bob.list_ok, "list lacks the expected entries");
    cr_assert_eq(bob.tls, tls);

    snprintf(target, sizeof target, "%s/got", root);
    for (size_t i = 0; i < nfiles; i++)
        download_one(root, files[i].rel, target);

    /* A file not in the list fails cleanly, and the next download works. */
    struct dcc_download_req r = {.nick = "alice", .path = "/share/nope", .target_dir = target};
    want_id = dcc_client_download(bob.c, &r, err);
    cr_assert(tu_run_until(base, finished, &bob, 10));
    cr_assert_eq(bob.failed_id, want_id);

    dcc_client_free(alice.c);
    dcc_client_free(bob.c);
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    tu_hub_stop(&hub);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(tu_leak_check(), 0, "LeakSanitizer found leaks (see stderr)");
}

Test(transfer, nmdc_active, .timeout = 300)
{
    run(false, true, false);
}

Test(transfer, nmdc_passive, .timeout = 300)
{
    run(false, false, false);
}

Test(transfer, adc_active, .timeout = 300)
{
    run(true, true, false);
}

Test(transfer, adc_passive, .timeout = 300)
{
    run(true, false, false);
}

Test(transfer, nmdcs_active, .timeout = 300)
{
    run(false, true, true);
}

Test(transfer, nmdcs_passive, .timeout = 300)
{
    run(false, false, true);
}

Test(transfer, adcs_active, .timeout = 300)
{
    run(true, true, true);
}

Test(transfer, adcs_passive, .timeout = 300)
{
    run(true, false, true);
}
