/* test_tiger.c: Tiger against the published vectors (in DC's byte order),
 * streaming in awkward chunk sizes against one-shot, the prefixed form
 * against hashing the concatenation, and random buffers against librhash's
 * independent Tiger (loaded with dlopen so only this test depends on it). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rhash_ref.h"
#include "proto/tiger.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void expect_tiger(const void *msg, size_t len, const char *want)
{
    uint8_t d[DC_TIGER_LEN];
    char h[2 * DC_TIGER_LEN + 1];
    dc_tiger(msg, len, d);
    hex(d, sizeof d, h);
    cr_assert_str_eq(h, want, "Tiger of %zu bytes", len);
}

Test(tiger, matches_published_vectors)
{
    expect_tiger("", 0, "3293ac630c13f0245f92bbb1766e16167a4e58492dde73f3");
    expect_tiger("abc", 3, "2aab1484e8c158f2bfb8c5ff41b57a525129131c957b5f93");
    expect_tiger("Tiger", 5, "dd00230799f5009fec6debc838bb6a27df2b9d6f110c7937");
    expect_tiger("\0", 1, "5d9ed00a030e638bdb753a6a24fb900e5a63b8e73e6c25b6");
    /* Exactly one block, so padding needs a second block: the reference's
     * 87FB2A9083851CF7 470D2CF810E6DF9E B586445034A5A386, per-word reversed. */
    expect_tiger("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-", 64,
                 "f71c8583902afb879edfe610f82c0d4786a3a534504486b5");
}

Test(tiger, null_data_with_zero_length_is_the_empty_hash)
{
    struct dc_tiger_ctx c;
    uint8_t a[DC_TIGER_LEN], b[DC_TIGER_LEN];
    dc_tiger_init(&c);
    dc_tiger_update(&c, NULL, 0);
    dc_tiger_final(&c, a);
    dc_tiger("", 0, b);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
}

static uint8_t *random_bytes(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
    return p;
}

Test(tiger, streaming_in_any_chunk_size_equals_one_shot)
{
    const size_t chunks[] = {1, 2, 3, 7, 55, 56, 63, 64, 65, 127, 1000};
    uint8_t *buf = random_bytes(3000, 7);
    for (size_t len = 0; len <= 3000; len += (len < 200 ? 1 : 97)) {
        uint8_t want[DC_TIGER_LEN];
        dc_tiger(buf, len, want);
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
            struct dc_tiger_ctx c;
            uint8_t got[DC_TIGER_LEN];
            dc_tiger_init(&c);
            for (size_t off = 0; off < len; off += chunks[k]) {
                size_t n = len - off < chunks[k] ? len - off : chunks[k];
                dc_tiger_update(&c, buf + off, n);
            }
            dc_tiger_final(&c, got);
            cr_assert_eq(memcmp(got, want, sizeof got), 0, "len %zu chunk %zu", len, chunks[k]);
        }
    }
    free(buf);
}

Test(tiger, prefixed_equals_hash_of_concatenation)
{
    uint8_t *buf = random_bytes(2100, 99);
    uint8_t *cat = malloc(2101);
    cr_assert_not_null(cat);
    for (size_t len = 0; len <= 2100; len += (len < 300 ? 1 : 31)) {
        for (int prefix = 0; prefix < 2; prefix++) {
            uint8_t want[DC_TIGER_LEN], got[DC_TIGER_LEN];
            cat[0] = (uint8_t)prefix;
            memcpy(cat + 1, buf, len);
            dc_tiger(cat, len + 1, want);
            /* cat + 1 is misaligned, as TTH leaves inside a file buffer are. */
            dc_tiger_prefixed((uint8_t)prefix, cat + 1, len, got);
            cr_assert_eq(memcmp(got, want, sizeof got), 0, "prefix %d len %zu", prefix, len);
        }
    }
    free(cat);
    free(buf);
}

Test(tiger, prefixed2_equals_two_prefixed_hashes)
{
    uint8_t *buf = random_bytes(4200, 31);
    for (size_t len = 0; len <= 2100; len += (len < 200 ? 1 : 37)) {
        uint8_t want1[DC_TIGER_LEN], want2[DC_TIGER_LEN], got1[DC_TIGER_LEN], got2[DC_TIGER_LEN];
        /* Overlapping, differently aligned inputs are fine: they are only read. */
        const uint8_t *d1 = buf + 1, *d2 = buf + 2099 - len % 7;
        dc_tiger_prefixed(0x00, d1, len, want1);
        dc_tiger_prefixed(0x00, d2, len, want2);
        dc_tiger_prefixed2(0x00, d1, d2, len, got1, got2);
        cr_assert_eq(memcmp(got1, want1, DC_TIGER_LEN), 0, "first, len %zu", len);
        cr_assert_eq(memcmp(got2, want2, DC_TIGER_LEN), 0, "second, len %zu", len);
    }
    free(buf);
}

Test(tiger, agrees_with_librhash_on_random_buffers)
{
    struct rhash_api r;
    rhash_open(&r);
    uint8_t *buf = random_bytes(70000, 2024);
    unsigned seed = 5;
    for (int i = 0; i < 400; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = i < 150 ? (size_t)i : (seed >> 8) % 70000;
        size_t off = (seed >> 4) % 8;
        if (off + len > 70000)
            len = 70000 - off;
        uint8_t want[DC_TIGER_LEN], got[DC_TIGER_LEN];
        cr_assert_eq(r.msg(0x10 /* RHASH_TIGER */, buf + off, len, want), 0);
        dc_tiger(buf + off, len, got);
        cr_assert_eq(memcmp(got, want, sizeof got), 0, "len %zu", len);
    }
    free(buf);
    dlclose(r.handle);
}
