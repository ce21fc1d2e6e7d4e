/* tth.c: Tiger Tree Hash, streaming, in constant memory (dc-protocol-notes §1.3).
 *
 * Leaves are Tiger(0x00 || 1024-byte block), nodes Tiger(0x01 || left || right).
 * Rather than building the tree level by level, each finished leaf is pushed on
 * a stack of (subtree root, level) and equal levels are merged at once, as DC++
 * does; at the end the stack is folded right to left. Both give the same root:
 * promoting an odd node unchanged makes every left subtree a complete power of
 * two, which is exactly what the stack holds.
 *
 * The same stack rebuilds a root from TTHL leaves, and, when asked, records the
 * roots of aligned runs of 2^k leaves (the TTHL level, §1.4) as they complete.
 * Input bytes are hashed in place when a whole leaf is available, two leaves
 * at a time when possible; only a leaf split across update() calls is copied
 * into the context.
 */
#include "proto/tth.h"

#include <stdlib.h>
#include <string.h>

static void tth_node(const uint8_t left[DC_TTH_LEN], const uint8_t right[DC_TTH_LEN],
                     uint8_t out[DC_TTH_LEN])
{
    uint8_t pair[2 * DC_TTH_LEN];
    memcpy(pair, left, DC_TTH_LEN);
    memcpy(pair + DC_TTH_LEN, right, DC_TTH_LEN);
    dc_tiger_prefixed(0x01, pair, sizeof pair, out);
}

static void tth_keep(struct dc_tth_ctx *c, const uint8_t h[DC_TTH_LEN])
{
    if (c->oom)
        return;
    if (c->nkept == c->kept_cap) {
        size_t cap = c->kept_cap ? c->kept_cap * 2 : 16;
        uint8_t *p = realloc(c->kept, cap * DC_TTH_LEN);
        if (p == NULL) {
            c->oom = 1;
            return;
        }
        c->kept = p;
        c->kept_cap = cap;
    }
    memcpy(c->kept + c->nkept * DC_TTH_LEN, h, DC_TTH_LEN);
    c->nkept++;
}

/* Push one leaf-level hash and merge completed subtrees. 64 slots suffice:
 * levels strictly decrease up the stack and 2^64 leaves cannot exist. */
static void tth_push(struct dc_tth_ctx *c, const uint8_t h[DC_TTH_LEN])
{
    int d = c->depth;
    memcpy(c->stack[d], h, DC_TTH_LEN);
    c->stack_level[d] = 0;
    if (c->keep_level == 0)
        tth_keep(c, h);
    while (d > 0 && c->stack_level[d - 1] == c->stack_level[d]) {
        tth_node(c->stack[d - 1], c->stack[d], c->stack[d - 1]);
        d--;
        c->stack_level[d]++;
        if (c->stack_level[d] == c->keep_level)
            tth_keep(c, c->stack[d]);
    }
    c->depth = d + 1;
}

/* Fold the stack into the root. The entries above the last one at or past the
 * kept level form the final, shorter run of the kept level. */
static void tth_fold(struct dc_tth_ctx *c, uint8_t root[DC_TTH_LEN])
{
    int i = c->depth - 1;
    int partial = c->keep_level >= 0 && c->stack_level[i] < c->keep_level;
    uint8_t acc[DC_TTH_LEN];
    memcpy(acc, c->stack[i], DC_TTH_LEN);
    for (; i > 0; i--) {
        if (partial && c->stack_level[i - 1] >= c->keep_level) {
            tth_keep(c, acc);
            partial = 0;
        }
        tth_node(c->stack[i - 1], acc, acc);
    }
    if (partial)
        tth_keep(c, acc);
    memcpy(root, acc, DC_TTH_LEN);
}

void dc_tth_init(struct dc_tth_ctx *c, int keep_level)
{
    c->leaf_len = 0;
    c->nleaves = 0;
    c->total = 0;
    c->depth = 0;
    c->keep_level = keep_level < 0 ? DC_TTH_NO_LEVEL : keep_level;
    c->kept = NULL;
    c->nkept = 0;
    c->kept_cap = 0;
    c->oom = 0;
}

static void tth_leaf(struct dc_tth_ctx *c, const uint8_t *p, size_t n)
{
    uint8_t h[DC_TTH_LEN];
    dc_tiger_prefixed(0x00, p, n, h);
    c->nleaves++;
    tth_push(c, h);
}

void dc_tth_update(struct dc_tth_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len == 0)
        return; /* data may be NULL then */
    c->total += len;
    if (c->leaf_len > 0) {
        size_t take = DC_TTH_BLOCK - c->leaf_len;
        if (take > len)
            take = len;
        memcpy(c->leaf + c->leaf_len, p, take);
        c->leaf_len += take;
        p += take;
        len -= take;
        if (c->leaf_len < DC_TTH_BLOCK)
            return;
        tth_leaf(c, c->leaf, DC_TTH_BLOCK);
        c->leaf_len = 0;
    }
    /* Two leaves at a time when we can: interleaved Tiger is ~1.35x faster. */
    for (; len >= 2 * DC_TTH_BLOCK; p += 2 * DC_TTH_BLOCK, len -= 2 * DC_TTH_BLOCK) {
        uint8_t h[2][DC_TTH_LEN];
        dc_tiger_prefixed2(0x00, p, p + DC_TTH_BLOCK, DC_TTH_BLOCK, h[0], h[1]);
        c->nleaves += 2;
        tth_push(c, h[0]);
        tth_push(c, h[1]);
    }
    if (len >= DC_TTH_BLOCK) {
        tth_leaf(c, p, DC_TTH_BLOCK);
        p += DC_TTH_BLOCK;
        len -= DC_TTH_BLOCK;
    }
    if (len > 0)
        memcpy(c->leaf, p, len);
    c->leaf_len = len;
}

int dc_tth_final(struct dc_tth_ctx *c, uint8_t root[DC_TTH_LEN])
{
    /* A trailing short leaf, or the single empty leaf of an empty input. */
    if (c->leaf_len > 0 || c->nleaves == 0) {
        tth_leaf(c, c->leaf, c->leaf_len);
        c->leaf_len = 0;
    }
    tth_fold(c, root);
    return c->oom ? -1 : 0;
}

const uint8_t *dc_tth_kept(const struct dc_tth_ctx *c, size_t *count)
{
    *count = c->nkept;
    return c->kept;
}

void dc_tth_cleanup(struct dc_tth_ctx *c)
{
    free(c->kept);
    c->kept = NULL;
    c->nkept = 0;
    c->kept_cap = 0;
}

void dc_tth(const void *data, size_t len, uint8_t root[DC_TTH_LEN])
{
    struct dc_tth_ctx c;
    dc_tth_init(&c, DC_TTH_NO_LEVEL);
    dc_tth_update(&c, data, len);
    dc_tth_final(&c, root);
    dc_tth_cleanup(&c);
}

int dc_tth_tthl_level(uint64_t file_size)
{
    /* 1024 * 2^k * 512 = 2^(19 + k); k = 45 covers every 64-bit size. */
    int k = 6;
    while (k < 45 && (UINT64_C(1) << (19 + k)) < file_size)
        k++;
    return k;
}

int dc_tth_root_from_leaves(const uint8_t *leaves, size_t n, uint8_t root[DC_TTH_LEN])
{
    if (n == 0)
        return -1;
    struct dc_tth_ctx c;
    dc_tth_init(&c, DC_TTH_NO_LEVEL);
    for (size_t i = 0; i < n; i++)
        tth_push(&c, leaves + i * DC_TTH_LEN);
    tth_fold(&c, root);
    return 0;
}

int dc_tth_check_leaves(const uint8_t *leaves, size_t n, uint64_t file_size,
                        const uint8_t root[DC_TTH_LEN], uint64_t *block_size)
{
    if (n == 0)
        return -1;
    /* Smallest 1024 * 2^k with bs * n >= size, written without overflow. */
    uint64_t need = file_size / n + (file_size % n != 0);
    uint64_t bs = DC_TTH_BLOCK;
    while (bs < need) {
        if (bs >> 63)
            return -1;
        bs <<= 1;
    }
    if (block_size != NULL)
        *block_size = bs;
    /* n must be the leaf count that block size gives, else the sender padded
     * or truncated the set (an empty file still has one leaf). */
    uint64_t count = file_size == 0 ? 1 : (file_size - 1) / bs + 1;
    if (count != n)
        return -1;
    uint8_t got[DC_TTH_LEN];
    dc_tth_root_from_leaves(leaves, n, got);
    return memcmp(got, root, DC_TTH_LEN) == 0 ? 0 : -1;
}
