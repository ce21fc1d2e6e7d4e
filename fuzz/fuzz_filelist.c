/* fuzz_filelist.c: libFuzzer target for file lists from peers (files.xml and
 * files.xml.bz2, proto/filelist.c): any peer we download a list from chooses
 * every byte. The input goes through dc_fl_read_tree in odd-sized reads
 * (bzip2 and XML boundaries land anywhere), with the entry and byte limits
 * a client applies.
 *
 * Properties beyond "no crash": a refusal carries a reason; a list that
 * reads writes back (plain XML) and reads again to the same tree; every
 * top-level entry and every entry one below is found by its path; bzip2
 * input read with the decompression on its own thread from the second 64 KiB
 * window on (thread_after = 1) gives the same tree or the same error as read
 * on the caller's thread only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"
#include "proto/fltree.h"

struct fz_src {
    const uint8_t *p;
    size_t left, step;
};

static long fz_read(void *buf, size_t cap, void *ctx)
{
    struct fz_src *s = ctx;
    size_t n = s->left < cap ? s->left : cap;
    if (n > s->step)
        n = s->step;
    memcpy(buf, s->p, n);
    s->p += n;
    s->left -= n;
    return (long)n;
}

static int fz_sink(const void *data, size_t len, void *ctx)
{
    return dc_buf_append(ctx, data, len);
}

/* Same shape, names, sizes and TTHs, in the same order. Iterative over the
 * two trees at once; the ids may differ (they do not here, but need not). */
static void fz_same(const struct dc_fl_tree *a, const struct dc_fl_tree *b)
{
    dc_fl_id x = dc_fl_tree_first_child(a, DC_FL_ROOT), y = dc_fl_tree_first_child(b, DC_FL_ROOT);
    while (x != DC_FL_NONE || y != DC_FL_NONE) {
        if (x == DC_FL_NONE || y == DC_FL_NONE || strcmp(dc_fl_tree_name(a, x), dc_fl_tree_name(b, y)) ||
            dc_fl_tree_is_dir(a, x) != dc_fl_tree_is_dir(b, y) || dc_fl_tree_size(a, x) != dc_fl_tree_size(b, y) ||
            dc_fl_tree_incomplete(a, x) != dc_fl_tree_incomplete(b, y) ||
            (!dc_fl_tree_is_dir(a, x) && memcmp(dc_fl_tree_tth(a, x), dc_fl_tree_tth(b, y), DC_TTH_LEN)))
            abort();
        if (dc_fl_tree_first_child(a, x) != DC_FL_NONE || dc_fl_tree_first_child(b, y) != DC_FL_NONE) {
            x = dc_fl_tree_first_child(a, x), y = dc_fl_tree_first_child(b, y);
            continue;   /* a NONE on one side only aborts above */
        }
        while (x != DC_FL_ROOT && y != DC_FL_ROOT && dc_fl_tree_next_sibling(a, x) == DC_FL_NONE &&
               dc_fl_tree_next_sibling(b, y) == DC_FL_NONE)
            x = dc_fl_tree_parent(a, x), y = dc_fl_tree_parent(b, y);
        if ((x == DC_FL_ROOT) != (y == DC_FL_ROOT))
            abort();
        if (x == DC_FL_ROOT)
            return;
        x = dc_fl_tree_next_sibling(a, x), y = dc_fl_tree_next_sibling(b, y);
    }
}

/* find() reaches each top-level entry and each entry one below by its path
 * (names are unique per directory, so the path names one node). Two levels
 * are enough to exercise find without paths of unbounded length. */
static void fz_find_all(const struct dc_fl_tree *t)
{
    char path[4096];
    for (dc_fl_id n = dc_fl_tree_first_child(t, DC_FL_ROOT); n != DC_FL_NONE; n = dc_fl_tree_next_sibling(t, n)) {
        if (dc_fl_tree_find(t, DC_FL_ROOT, dc_fl_tree_name(t, n)) != n)
            abort();
        for (dc_fl_id c = dc_fl_tree_first_child(t, n); c != DC_FL_NONE; c = dc_fl_tree_next_sibling(t, c))
            if ((size_t)snprintf(path, sizeof path, "%s/%s", dc_fl_tree_name(t, n), dc_fl_tree_name(t, c)) <
                    sizeof path && dc_fl_tree_find(t, DC_FL_ROOT, path) != c)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* The first byte picks the read size: 1..256 bytes, or everything. */
    struct fz_src src = {data + 1, size - 1, data[0] ? data[0] : SIZE_MAX};
    char err[DC_FL_ERR_LEN] = "";
    struct dc_fl_limits lim = {.max_entries = 10000, .max_bytes = 4u << 20, .thread_after = UINT64_MAX};
    struct dc_fl_tree *t = dc_fl_read_tree_limited(fz_read, &src, &lim, NULL, err);
    if (size >= 4 && memcmp(data + 1, "BZh", 3) == 0) {
        struct fz_src src2 = {data + 1, size - 1, data[0] ? data[0] : SIZE_MAX};
        char err2[DC_FL_ERR_LEN] = "";
        struct dc_fl_limits lim2 = {.max_entries = 10000, .max_bytes = 4u << 20, .thread_after = 1};
        struct dc_fl_tree *t2 = dc_fl_read_tree_limited(fz_read, &src2, &lim2, NULL, err2);
        if ((t == NULL) != (t2 == NULL) || strcmp(err, err2) != 0 || lim.over_bytes != lim2.over_bytes ||
            lim.over_entries != lim2.over_entries)
            abort();
        if (t != NULL)
            fz_same(t, t2);
        dc_fl_tree_free(t2);
    }
    if (!t) {
        if (!err[0])
            abort();
        return 0;
    }
    struct dc_buf out;
    dc_buf_init(&out, 0);
    fz_find_all(t);
    if (dc_fl_write_tree(t, fz_sink, &out, false, NULL, NULL) == 0) {
        struct fz_src again = {(const uint8_t *)out.data, out.len, SIZE_MAX};
        struct dc_fl_tree *t2 = dc_fl_read_tree(fz_read, &again, NULL, err);
        if (!t2)
            abort();   /* what we write, we read */
        fz_same(t, t2);
        dc_fl_tree_free(t2);
    }
    dc_buf_cleanup(&out);
    dc_fl_tree_free(t);
    return 0;
}
