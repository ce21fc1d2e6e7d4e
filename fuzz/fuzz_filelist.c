/* fuzz_filelist.c: libFuzzer target for file lists from peers (files.xml and
 * files.xml.bz2, proto/filelist.c): any peer we download a list from chooses
 * every byte. The input goes through dc_fl_read_tree in odd-sized reads
 * (bzip2 and XML boundaries land anywhere), with the entry and byte limits
 * a client applies.
 *
 * Properties beyond "no crash": a refusal carries a reason; a list that
 * reads writes back (plain XML) and reads again to the same tree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"
#include "proto/filelist.h"

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

static void fz_same(const struct dc_fl_node *a, const struct dc_fl_node *b)
{
    if (!a != !b)
        abort();
    for (; a && b; a = a->next_sibling, b = b->next_sibling) {
        if (strcmp(a->name, b->name) || a->is_dir != b->is_dir || a->size != b->size ||
            (!a->is_dir && memcmp(a->tth, b->tth, DC_TTH_LEN)))
            abort();
        fz_same(a->first_child, b->first_child);
        if (!a->next_sibling != !b->next_sibling)
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
    struct dc_fl_limits lim = {.max_entries = 10000, .max_bytes = 4u << 20};
    struct dc_fl_node *root = dc_fl_read_tree_limited(fz_read, &src, &lim, NULL, err);
    if (!root) {
        if (!err[0])
            abort();
        return 0;
    }
    struct dc_buf out;
    dc_buf_init(&out, 0);
    if (dc_fl_write_tree(root, fz_sink, &out, false, NULL, NULL) == 0) {
        struct fz_src again = {(const uint8_t *)out.data, out.len, SIZE_MAX};
        struct dc_fl_node *root2 = dc_fl_read_tree(fz_read, &again, NULL, err);
        if (!root2)
            abort();   /* what we write, we read */
        fz_same(root->first_child, root2->first_child);
        dc_fl_node_free(root2);
    }
    dc_buf_cleanup(&out);
    dc_fl_node_free(root);
    return 0;
}
