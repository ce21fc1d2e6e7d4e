/* tiger.h: the Tiger hash (original padding, not Tiger2), 24-byte digest in the
 * byte order DC and rhash print (Tiger("") = 3293ac63...).
 *
 * Streaming: init, update with chunks of any size, final. No globals: the
 * S-boxes are const tables; the context is the caller's.
 */
#ifndef DC_PROTO_TIGER_H
#define DC_PROTO_TIGER_H

#include <stddef.h>
#include <stdint.h>

#define DC_TIGER_LEN 24

struct dc_tiger_ctx {
    uint64_t state[3];
    uint64_t length;        /* bytes fed so far */
    uint8_t block[64];
    size_t block_len;
};

void dc_tiger_init(struct dc_tiger_ctx *c);
void dc_tiger_update(struct dc_tiger_ctx *c, const void *data, size_t len);
void dc_tiger_final(struct dc_tiger_ctx *c, uint8_t out[DC_TIGER_LEN]);
/* One-shot convenience. */
void dc_tiger(const void *data, size_t len, uint8_t out[DC_TIGER_LEN]);
/* Tiger(prefix || data) without copying data: TTH's leaf (0x00) and node
 * (0x01) hashes. Only the first and last 64-byte blocks are copied. */
void dc_tiger_prefixed(uint8_t prefix, const void *data, size_t len, uint8_t out[DC_TIGER_LEN]);
/* Two prefixed hashes of equal-length messages at once (out1 for data1, out2
 * for data2), interleaved for speed; same results as two dc_tiger_prefixed. */
void dc_tiger_prefixed2(uint8_t prefix, const void *data1, const void *data2, size_t len,
                        uint8_t out1[DC_TIGER_LEN], uint8_t out2[DC_TIGER_LEN]);

#endif
