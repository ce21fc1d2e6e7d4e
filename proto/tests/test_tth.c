/* test_tth.c: TTH roots against the vectors in dc-protocol-notes §1.3 and
 * against librhash's independent TTH (dlopen, test-only), chunking
 * independence, the kept TTHL level (each kept hash is the root of its own
 * byte range and the set rebuilds the root), DC++'s level rule, and
 * dc_tth_check_leaves refusing wrong leaves, counts and sizes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rhash_ref.h"
#include "proto/base32.h"
#include "proto/tth.h"

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
    return p;
}

static void tth_text(const void *data, size_t len, char out[DC_TTH_BASE32_LEN + 1])
{
    uint8_t root[DC_TTH_LEN];
    dc_tth(data, len, root);
    cr_assert_eq(dc_base32_encode(root, sizeof root, out, DC_TTH_BASE32_LEN + 1), DC_TTH_BASE32_LEN);
}

static void hex(const uint8_t *d, char out[2 * DC_TTH_LEN + 1])
{
    for (size_t i = 0; i < DC_TTH_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

Test(tth, matches_vectors_from_the_notes)
{
    static const struct {
        size_t len;
        char fill; /* 0 = use text */
        const char *text;
        const char *tth;
    } v[] = {
        {0, 0, "", "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"},
        {1, 0, "\0", "VK54ZIEEVTWNAUI5D5RDFIL37LX2IQNSTAXFKSA"},
        {3, 0, "abc", "ASD4UJSEH5M47PDYB46KBTSQTSGDKLBHYXOMUIA"},
        {6, 0, "hello\n", "DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI"},
        {1024, 'A', NULL, "L66Q4YVNAFWVS23X2HJIRA5ZJ7WXR3F26RSASFA"},
        {1025, 'A', NULL, "PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY"},
        {2049, 'A', NULL, "2IFFIJQ22FKZA3NCSVOQHPVJVNPJKTGDKOB3LTI"},
        {3073, 'A', NULL, "MNZXBITJXA7FB3IBAR4D7WMLKBHAXE5JNNQ22XA"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t *buf = malloc(v[i].len + 1);
        cr_assert_not_null(buf);
        if (v[i].fill)
            memset(buf, v[i].fill, v[i].len);
        else
            memcpy(buf, v[i].text, v[i].len);
        char got[DC_TTH_BASE32_LEN + 1];
        tth_text(buf, v[i].len, got);
        cr_assert_str_eq(got, v[i].tth, "TTH of %zu bytes", v[i].len);
        free(buf);
    }
}

Test(tth, empty_input_is_one_empty_leaf_and_1025_bytes_two_leaves)
{
    uint8_t root[DC_TTH_LEN];
    char h[2 * DC_TTH_LEN + 1];
    dc_tth(NULL, 0, root);
    hex(root, h);
    cr_assert_str_eq(h, "5d9ed00a030e638bdb753a6a24fb900e5a63b8e73e6c25b6");

    uint8_t a[1025];
    memset(a, 'A', sizeof a);
    uint8_t l[2 * DC_TTH_LEN];
    dc_tiger_prefixed(0x00, a, 1024, l);
    dc_tiger_prefixed(0x00, a, 1, l + DC_TTH_LEN);
    hex(l, h);
    cr_assert_str_eq(h, "5fbd0e62ad016d596b77d1d28883b94fed78ecbaf4640914");
    hex(l + DC_TTH_LEN, h);
    cr_assert_str_eq(h, "2ef661ce4d28b0b94251deae541f6340c32097868ae9ff54");
    dc_tth(a, sizeof a, root);
    hex(root, h);
    cr_assert_str_eq(h, "7e591c1cd8f2e6121fdbcd8071ba279626b771642d10a3db");
    uint8_t rebuilt[DC_TTH_LEN];
    cr_assert_eq(dc_tth_root_from_leaves(l, 2, rebuilt), 0);
    cr_assert_eq(memcmp(rebuilt, root, DC_TTH_LEN), 0);
}

Test(tth, agrees_with_librhash_on_many_sizes_and_a_multi_mib_input)
{
    struct rhash_api r;
    rhash_open(&r);
    size_t big = 5 * 1024 * 1024 + 12345;
    uint8_t *buf = pattern(big, 77);
    size_t sizes[] = {0, 1, 2, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 3073, 4096, 5121,
                      7 * 1024, 7 * 1024 + 1, 64 * 1024, 65 * 1024 - 1, 200 * 1024, 1 << 20, big};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t want[DC_TTH_LEN], got[DC_TTH_LEN];
        cr_assert_eq(r.msg(0x20 /* RHASH_TTH */, buf, sizes[i], want), 0);
        dc_tth(buf, sizes[i], got);
        cr_assert_eq(memcmp(got, want, DC_TTH_LEN), 0, "size %zu", sizes[i]);
    }
    free(buf);
    dlclose(r.handle);
}

Test(tth, chunk_boundaries_do_not_change_the_root)
{
    size_t len = 70 * 1024 + 333;
    uint8_t *buf = pattern(len, 3);
    uint8_t want[DC_TTH_LEN];
    dc_tth(buf, len, want);

    struct dc_tth_ctx c;
    uint8_t got[DC_TTH_LEN];
    dc_tth_init(&c, DC_TTH_NO_LEVEL);
    for (size_t i = 0; i < len; i++)
        dc_tth_update(&c, buf + i, 1);
    cr_assert_eq(dc_tth_final(&c, got), 0);
    dc_tth_cleanup(&c);
    cr_assert_eq(memcmp(got, want, DC_TTH_LEN), 0, "one byte at a time");

    unsigned seed = 9;
    for (int rep = 0; rep < 20; rep++) {
        dc_tth_init(&c, DC_TTH_NO_LEVEL);
        for (size_t off = 0; off < len;) {
            seed = seed * 1103515245u + 12345u;
            size_t n = (seed >> 8) % 5000;
            if (n > len - off)
                n = len - off;
            dc_tth_update(&c, buf + off, n); /* n == 0 included on purpose */
            off += n;
        }
        dc_tth_final(&c, got);
        dc_tth_cleanup(&c);
        cr_assert_eq(memcmp(got, want, DC_TTH_LEN), 0, "random chunks, rep %d", rep);
    }
    free(buf);
}

/* For each size and level: every kept hash is the TTH of its own byte range,
 * their count is ceil(leaves / 2^k), and they rebuild the root. */
Test(tth, kept_level_holds_subtree_roots_leftmost_first)
{
    size_t sizes[] = {0, 1, 1024, 1025, 4096, 4097, 64 * 1024, 64 * 1024 + 1,
                      200 * 1024, 1000 * 1024 + 7};
    int levels[] = {0, 1, 2, 3, 6, 10};
    uint8_t *buf = pattern(1000 * 1024 + 7, 11);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
            size_t len = sizes[s];
            int k = levels[l];
            size_t run = (size_t)DC_TTH_BLOCK << k;
            struct dc_tth_ctx c;
            uint8_t root[DC_TTH_LEN];
            dc_tth_init(&c, k);
            dc_tth_update(&c, buf, len);
            cr_assert_eq(dc_tth_final(&c, root), 0);
            size_t n;
            const uint8_t *kept = dc_tth_kept(&c, &n);
            size_t want_n = len == 0 ? 1 : (len + run - 1) / run;
            cr_assert_eq(n, want_n, "size %zu level %d: %zu kept", len, k, n);
            for (size_t i = 0; i < n; i++) {
                size_t off = i * run;
                size_t part = len - off < run ? len - off : run;
                uint8_t sub[DC_TTH_LEN];
                dc_tth(buf + off, part, sub);
                cr_assert_eq(memcmp(kept + i * DC_TTH_LEN, sub, DC_TTH_LEN), 0,
                             "size %zu level %d kept[%zu]", len, k, i);
            }
            uint8_t rebuilt[DC_TTH_LEN];
            cr_assert_eq(dc_tth_root_from_leaves(kept, n, rebuilt), 0);
            cr_assert_eq(memcmp(rebuilt, root, DC_TTH_LEN), 0, "size %zu level %d", len, k);
            uint64_t bs = 0;
            cr_assert_eq(dc_tth_check_leaves(kept, n, len, root, &bs), 0, "size %zu level %d", len, k);
            /* The implied block size covers the file with exactly n blocks. */
            cr_assert(bs * n >= len && (n == 1 || bs * (n - 1) < len));
            dc_tth_cleanup(&c);
        }
    }
    free(buf);
}

Test(tth, tthl_level_follows_dcpp_block_rule)
{
    cr_assert_eq(dc_tth_tthl_level(0), 6);
    cr_assert_eq(dc_tth_tthl_level(64 * 1024), 6);
    cr_assert_eq(dc_tth_tthl_level(200 * 1024), 6);
    cr_assert_eq(dc_tth_tthl_level(32u << 20), 6);        /* 512 x 64 KiB */
    cr_assert_eq(dc_tth_tthl_level((32u << 20) + 1), 7);
    cr_assert_eq(dc_tth_tthl_level(1u << 30), 11);        /* 512 x 2 MiB */
    cr_assert_eq(dc_tth_tthl_level(UINT64_MAX), 45);
    /* Whatever the size, the level gives at most 512 leaves. */
    for (uint64_t size = 1; size < (UINT64_C(1) << 50); size = size * 3 + 1) {
        int k = dc_tth_tthl_level(size);
        uint64_t bs = (uint64_t)DC_TTH_BLOCK << k;
        cr_assert((size + bs - 1) / bs <= 512, "size %llu", (unsigned long long)size);
        cr_assert(k == 6 || (size + bs / 2 - 1) / (bs / 2) > 512, "size %llu not smallest", (unsigned long long)size);
    }
}

Test(tth, root_from_leaves_promotes_odd_nodes)
{
    uint8_t l[3 * DC_TTH_LEN], ab[DC_TTH_LEN], want[DC_TTH_LEN], got[DC_TTH_LEN];
    for (int i = 0; i < 3; i++)
        dc_tiger_prefixed(0x00, &"xyz"[i], 1, l + i * DC_TTH_LEN);
    cr_assert_eq(dc_tth_root_from_leaves(l, 0, got), -1);
    cr_assert_eq(dc_tth_root_from_leaves(l, 1, got), 0);
    cr_assert_eq(memcmp(got, l, DC_TTH_LEN), 0);
    /* root = N(N(a, b), c): c is promoted, not re-hashed. */
    dc_tiger_prefixed(0x01, l, 2 * DC_TTH_LEN, ab);
    uint8_t pair[2 * DC_TTH_LEN];
    memcpy(pair, ab, DC_TTH_LEN);
    memcpy(pair + DC_TTH_LEN, l + 2 * DC_TTH_LEN, DC_TTH_LEN);
    dc_tiger_prefixed(0x01, pair, sizeof pair, want);
    cr_assert_eq(dc_tth_root_from_leaves(l, 3, got), 0);
    cr_assert_eq(memcmp(got, want, DC_TTH_LEN), 0);
}

Test(tth, check_leaves_rejects_wrong_leaf_count_or_size)
{
    size_t len = 200 * 1024;
    uint8_t *buf = pattern(len, 21);
    struct dc_tth_ctx c;
    uint8_t root[DC_TTH_LEN];
    dc_tth_init(&c, dc_tth_tthl_level(len));
    dc_tth_update(&c, buf, len);
    dc_tth_final(&c, root);
    size_t n;
    const uint8_t *kept = dc_tth_kept(&c, &n);
    cr_assert_eq(n, 4); /* §1.4: 200 KiB served as 4 x 64 KiB */
    uint8_t leaves[5 * DC_TTH_LEN];
    memcpy(leaves, kept, n * DC_TTH_LEN);
    memcpy(leaves + 4 * DC_TTH_LEN, kept + 3 * DC_TTH_LEN, DC_TTH_LEN);

    uint64_t bs = 0;
    cr_assert_eq(dc_tth_check_leaves(leaves, 4, len, root, &bs), 0);
    cr_assert_eq(bs, 64 * 1024);
    cr_assert_eq(dc_tth_check_leaves(leaves, 4, len, root, NULL), 0);
    cr_assert_eq(dc_tth_check_leaves(leaves, 3, len, root, NULL), -1, "one leaf missing");
    cr_assert_eq(dc_tth_check_leaves(leaves, 5, len, root, NULL), -1, "one leaf too many");
    cr_assert_eq(dc_tth_check_leaves(leaves, 0, len, root, NULL), -1, "no leaves");
    /* Sizes whose implied block size gives another leaf count. (A size that
     * still gives 4 leaves cannot be caught here: leaves carry no size.) */
    cr_assert_eq(dc_tth_check_leaves(leaves, 4, 3 * 1024, root, NULL), -1, "3 KiB is 3 leaves");
    cr_assert_eq(dc_tth_check_leaves(leaves, 4, 300 * 1024, root, NULL), -1, "size implies other block size");
    leaves[2 * DC_TTH_LEN + 5] ^= 0x10;
    cr_assert_eq(dc_tth_check_leaves(leaves, 4, len, root, NULL), -1, "corrupted leaf");
    leaves[2 * DC_TTH_LEN + 5] ^= 0x10;
    uint8_t bad_root[DC_TTH_LEN];
    memcpy(bad_root, root, DC_TTH_LEN);
    bad_root[0] ^= 1;
    cr_assert_eq(dc_tth_check_leaves(leaves, 4, len, bad_root, NULL), -1, "wrong root");
    /* A file of 64 KiB or less is served as its root alone. */
    uint8_t small[DC_TTH_LEN];
    dc_tth(buf, 1000, small);
    cr_assert_eq(dc_tth_check_leaves(small, 1, 1000, small, &bs), 0);
    cr_assert_eq(bs, 1024);
    dc_tth_cleanup(&c);
    free(buf);
}
