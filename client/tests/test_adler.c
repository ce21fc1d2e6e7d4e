/* dcc_adler32 against zlib's adler32: lengths around the vector block
 * (32) and the reduction interval (5552), unaligned starts, any starting
 * value, and all-0xff input (the largest sums, where an overflow would
 * show). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <zlib.h>

#include "client/adler.h"

static uint32_t ref(uint32_t a, const uint8_t *p, size_t n)
{
    return (uint32_t)adler32(a, p, (uInt)n);
}

Test(adler, matches_zlib_on_random_data)
{
    size_t cap = 3 * 5552 + 200;
    uint8_t *buf = malloc(cap);
    cr_assert(buf);
    srand(18);
    for (size_t i = 0; i < cap; i++)
        buf[i] = (uint8_t)rand();
    size_t lens[] = {0, 1, 15, 31, 32, 33, 63, 64, 65, 5551, 5552, 5553, 5552 + 31, 2 * 5552 + 7, 3 * 5552 + 100};
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
        for (size_t off = 0; off < 5; off++) {
            uint32_t starts[] = {1, 0xfff0fff0u % 65521u, (65520u << 16) | 65520u};
            for (size_t s = 0; s < 3; s++)
                cr_assert_eq(dcc_adler32(starts[s], buf + off, lens[l]), ref(starts[s], buf + off, lens[l]),
                             "len %zu off %zu start %zu", lens[l], off, s);
        }
    free(buf);
}

Test(adler, matches_zlib_on_all_ones_and_in_pieces)
{
    size_t n = 1 << 20;
    uint8_t *buf = malloc(n);
    cr_assert(buf);
    memset(buf, 0xff, n);
    cr_assert_eq(dcc_adler32((65520u << 16) | 65520u, buf, n), ref((65520u << 16) | 65520u, buf, n));
    uint32_t a = 1, z = 1;
    for (size_t o = 0, step = 1; o < n; o += step, step = step * 3 % 70001 + 1) {
        size_t m = step < n - o ? step : n - o;
        a = dcc_adler32(a, buf + o, m);
        z = ref(z, buf + o, m);
    }
    cr_assert_eq(a, z);
    free(buf);
}
