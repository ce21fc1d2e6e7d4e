/* test_buf.c: Criterion tests for dc_buf (proto/buf.c): growth, the cap
 * refusing growth while keeping the content, appendf, steal, reset, and
 * appending a buffer's own bytes to itself across a reallocation. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"

Test(dc_buf, grows_and_stays_nul_terminated)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_null(b.data);
    for (int i = 0; i < 10000; i++) {
        cr_assert_eq(dc_buf_append_byte(&b, (char)('a' + i % 26)), 0);
        cr_assert_gt(b.cap, b.len);
        cr_assert_eq(b.data[b.len], '\0');
    }
    cr_assert_eq(b.len, 10000);
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(b.data[i], (char)('a' + i % 26), "byte %d", i);
    cr_assert_eq(dc_buf_append(&b, "", 0), 0);
    cr_assert_eq(b.len, 10000);
    dc_buf_cleanup(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
}

Test(dc_buf, binary_bytes_kept)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    const char bin[] = {0, 1, '|', 0, (char)0xff};
    cr_assert_eq(dc_buf_append(&b, bin, sizeof bin), 0);
    cr_assert_eq(b.len, sizeof bin);
    cr_assert_eq(memcmp(b.data, bin, sizeof bin), 0);
    dc_buf_cleanup(&b);
}

Test(dc_buf, cap_refuses_and_keeps_content)
{
    struct dc_buf b;
    dc_buf_init(&b, 10);
    cr_assert_eq(dc_buf_append_str(&b, "12345678"), 0);
    cr_assert_eq(dc_buf_append_str(&b, "abc"), -1, "grew past the cap");
    cr_assert_eq(b.len, 8);
    cr_assert_str_eq(b.data, "12345678");
    cr_assert_eq(dc_buf_appendf(&b, "%d", 123), -1, "appendf grew past the cap");
    cr_assert_str_eq(b.data, "12345678");
    cr_assert_eq(dc_buf_append_str(&b, "90"), 0, "exactly the cap must fit");
    cr_assert_str_eq(b.data, "1234567890");
    cr_assert_eq(dc_buf_append_byte(&b, 'x'), -1);
    cr_assert_eq(b.len, 10);
    dc_buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    cr_assert_eq(dc_buf_append_str(&b, "0123456789"), 0, "reset frees room under the cap");
    dc_buf_cleanup(&b);
}

Test(dc_buf, reserve_overflow_refused)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append_str(&b, "keep");
    cr_assert_eq(dc_buf_reserve(&b, SIZE_MAX), -1);
    cr_assert_eq(dc_buf_reserve(&b, SIZE_MAX - 4), -1);
    cr_assert_str_eq(b.data, "keep");
    cr_assert_eq(dc_buf_reserve(&b, 1000), 0);
    cr_assert_geq(b.cap, b.len + 1000 + 1);
    cr_assert_str_eq(b.data, "keep");
    dc_buf_cleanup(&b);
}

Test(dc_buf, appendf_formats_and_grows)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(dc_buf_appendf(&b, "%s:%u%c", "port", 4111u, '|'), 0);
    cr_assert_str_eq(b.data, "port:4111|");
    char big[5000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(dc_buf_appendf(&b, "[%s]", big), 0);
    cr_assert_eq(b.len, 10 + 2 + sizeof big - 1);
    cr_assert_eq(b.data[10], '[');
    cr_assert_eq(b.data[b.len - 1], ']');
    cr_assert_eq(b.data[b.len], '\0');
    cr_assert_eq(dc_buf_appendf(&b, "%s", ""), 0);
    cr_assert_eq(b.len, 10 + 2 + sizeof big - 1);
    dc_buf_cleanup(&b);
}

Test(dc_buf, steal_moves_ownership)
{
    struct dc_buf b;
    dc_buf_init(&b, 100);
    dc_buf_append_str(&b, "hello");
    size_t len = 0;
    char *s = dc_buf_steal(&b, &len);
    cr_assert_not_null(s);
    cr_assert_eq(len, 5);
    cr_assert_str_eq(s, "hello");
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(dc_buf_append_str(&b, "again"), 0, "buffer reusable after steal");
    cr_assert_str_eq(b.data, "again");
    free(s);
    dc_buf_cleanup(&b);

    dc_buf_init(&b, 0);
    s = dc_buf_steal(&b, NULL);
    cr_assert_not_null(s, "steal of an empty buffer gives an empty string");
    cr_assert_str_eq(s, "");
    free(s);
}

Test(dc_buf, self_append_across_reallocation)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append_str(&b, "abcdefgh");
    /* Doubling forces reallocations while the source is the buffer itself. */
    for (int i = 0; i < 12; i++)
        cr_assert_eq(dc_buf_append(&b, b.data, b.len), 0);
    cr_assert_eq(b.len, 8u << 12);
    for (size_t i = 0; i < b.len; i++)
        cr_assert_eq(b.data[i], "abcdefgh"[i % 8], "byte %zu", i);
    dc_buf_cleanup(&b);
}
