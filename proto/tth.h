/* tth.h: Tiger Tree Hash (THEX Merkle tree over 1024-byte leaves, 0x00 leaf and
 * 0x01 node prefixes, odd nodes promoted unchanged).
 *
 * Streaming: feed chunks of any size; the context keeps one 1024-byte leaf
 * buffer and a stack of at most 64 pending subtree roots, so memory is constant
 * whatever the input size (a 10 GiB file costs the same as 1 KiB).
 *
 * Optionally the context also records the tree level used for TTHL: set
 * keep_level = k to collect the roots of every aligned run of 2^k leaves
 * (the last one may be shorter). Those are the "leaves" a TTHL transfer sends,
 * leftmost first. They are kept in a heap array owned by the context.
 */
#ifndef DC_PROTO_TTH_H
#define DC_PROTO_TTH_H

#include <stddef.h>
#include <stdint.h>
#include "proto/tiger.h"

#define DC_TTH_LEN 24
#define DC_TTH_BASE32_LEN 39
#define DC_TTH_BLOCK 1024
#define DC_TTH_NO_LEVEL (-1)

struct dc_tth_ctx {
    uint8_t leaf[DC_TTH_BLOCK];
    size_t leaf_len;
    uint64_t nleaves;                 /* completed leaves so far */
    uint64_t total;                   /* bytes fed so far */
    uint8_t stack[64][DC_TTH_LEN];    /* pending subtree roots */
    uint8_t stack_level[64];          /* log2 of each pending subtree's leaf count */
    int depth;
    int keep_level;                   /* DC_TTH_NO_LEVEL or k >= 0 */
    uint8_t *kept;                    /* owned: nkept * 24 bytes */
    size_t nkept, kept_cap;
    int oom;                          /* set if recording the kept level failed */
};

void dc_tth_init(struct dc_tth_ctx *c, int keep_level);
void dc_tth_update(struct dc_tth_ctx *c, const void *data, size_t len);
/* Writes the root. Returns 0, or -1 if the kept level could not be recorded
 * (out of memory); the root is valid either way. */
int dc_tth_final(struct dc_tth_ctx *c, uint8_t root[DC_TTH_LEN]);
/* After final: the kept level (borrowed; valid until cleanup). */
const uint8_t *dc_tth_kept(const struct dc_tth_ctx *c, size_t *count);
void dc_tth_cleanup(struct dc_tth_ctx *c);

/* One-shot root of a buffer. */
void dc_tth(const void *data, size_t len, uint8_t root[DC_TTH_LEN]);

/* The level DC++ serves in TTHL for a file of this size: the smallest k with
 * 1024 * 2^k * 512 >= size, and at least 64 KiB per leaf (k >= 6). */
int dc_tth_tthl_level(uint64_t file_size);

/* Rebuild a root from n TTHL leaves (leftmost first) with the 0x01 node rule.
 * Returns 0, or -1 if n == 0. */
int dc_tth_root_from_leaves(const uint8_t *leaves, size_t n, uint8_t root[DC_TTH_LEN]);

/* Check a TTHL leaf set against a file size and root: the block size implied
 * by n and the size (smallest 1024*2^k with blocks*n >= size) must be
 * consistent and the rebuilt root must match. Returns 0 if valid, -1 if not;
 * *block_size (may be NULL) receives the implied block size. */
int dc_tth_check_leaves(const uint8_t *leaves, size_t n, uint64_t file_size,
                        const uint8_t root[DC_TTH_LEN], uint64_t *block_size);

#endif
