/* test_base32.c: RFC 4648 vectors (unpadded), round trips of every length,
 * and the strict decoder's refusals (bad chars, '=', impossible lengths,
 * non-zero trailing bits, short buffers). */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/base32.h"

static void expect_encode(const char *in, const char *want)
{
    char out[64];
    int n = dc_base32_encode((const uint8_t *)in, strlen(in), out, sizeof out);
    cr_assert_eq(n, (int)strlen(want), "encode(\"%s\") length %d", in, n);
    cr_assert_str_eq(out, want);
}

Test(base32, encodes_rfc4648_vectors_without_padding)
{
    expect_encode("", "");
    expect_encode("f", "MY");
    expect_encode("fo", "MZXQ");
    expect_encode("foo", "MZXW6");
    expect_encode("foob", "MZXW6YQ");
    expect_encode("fooba", "MZXW6YTB");
    expect_encode("foobar", "MZXW6YTBOI");
}

Test(base32, decodes_rfc4648_vectors_in_either_case)
{
    const char *plain[] = {"f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *text[] = {"MY", "mzxq", "MZXW6", "MZXW6yq", "MZXW6YTB", "mzxw6ytboi"};
    for (size_t i = 0; i < 6; i++) {
        uint8_t out[16];
        int n = dc_base32_decode(text[i], strlen(text[i]), out, sizeof out);
        cr_assert_eq(n, (int)strlen(plain[i]), "decode %s", text[i]);
        cr_assert_eq(memcmp(out, plain[i], (size_t)n), 0, "decode %s", text[i]);
    }
    uint8_t none[1];
    cr_assert_eq(dc_base32_decode("", 0, none, 0), 0);
}

Test(base32, tiger_and_keyprint_sizes_have_documented_lengths)
{
    uint8_t d24[24], d32[32];
    char t[64];
    memset(d24, 0xff, sizeof d24);
    memset(d32, 0xff, sizeof d32);
    cr_assert_eq(DC_BASE32_LEN(24), 39);
    cr_assert_eq(DC_BASE32_LEN(32), 52);
    cr_assert_eq(dc_base32_encode(d24, 24, t, sizeof t), 39);
    /* Last char of 24 bytes carries 2 data bits and 3 zero bits: 11000 = 'Y'. */
    cr_assert_eq(t[38], 'Y');
    cr_assert_eq(dc_base32_encode(d32, 32, t, sizeof t), 52);
}

Test(base32, round_trips_every_length_and_byte_pattern)
{
    uint8_t in[70], back[70];
    char text[DC_BASE32_LEN(70) + 1];
    unsigned seed = 12345;
    for (size_t len = 0; len <= sizeof in; len++) {
        for (int rep = 0; rep < 20; rep++) {
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                in[i] = (uint8_t)(seed >> 16);
            }
            int n = dc_base32_encode(in, len, text, sizeof text);
            cr_assert_eq(n, (int)DC_BASE32_LEN(len));
            cr_assert_eq(strlen(text), (size_t)n);
            int m = dc_base32_decode(text, (size_t)n, back, sizeof back);
            cr_assert_eq(m, (int)len, "len %zu", len);
            cr_assert_eq(memcmp(in, back, len), 0, "len %zu", len);
        }
    }
}

Test(base32, rejects_bad_characters)
{
    uint8_t out[16];
    const char *bad[] = {"MZXW6YT1", "MZXW6YT8", "MZXW6YT0", "MZXW6YT ", "MZXW6YT-", "MZXW\xc3\xa9YT"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(dc_base32_decode(bad[i], strlen(bad[i]), out, sizeof out), -1, "%s", bad[i]);
    /* An embedded NUL is a bad byte, not an end of string. */
    cr_assert_eq(dc_base32_decode("MZXW\0YTB", 8, out, sizeof out), -1);
}

Test(base32, rejects_padding)
{
    uint8_t out[16];
    cr_assert_eq(dc_base32_decode("MY======", 8, out, sizeof out), -1);
    cr_assert_eq(dc_base32_decode("MZXW6===", 8, out, sizeof out), -1);
    cr_assert_eq(dc_base32_decode("MY=", 3, out, sizeof out), -1);
}

Test(base32, rejects_lengths_no_encoding_produces)
{
    uint8_t out[16];
    cr_assert_eq(dc_base32_decode("M", 1, out, sizeof out), -1);
    cr_assert_eq(dc_base32_decode("MZX", 3, out, sizeof out), -1);
    cr_assert_eq(dc_base32_decode("MZXW6Y", 6, out, sizeof out), -1);
    cr_assert_eq(dc_base32_decode("MZXW6YTBO", 9, out, sizeof out), -1);
}

Test(base32, rejects_nonzero_trailing_bits)
{
    uint8_t out[16];
    /* "MY" is 'f'; "MZ" has a 1 in the unused low bits. */
    cr_assert_eq(dc_base32_decode("MZ", 2, out, sizeof out), -1);
    cr_assert_eq(dc_base32_decode("MZXR", 4, out, sizeof out), -1);
    cr_assert_eq(dc_base32_decode("MZXW7", 5, out, sizeof out), -1);
    /* A 39-char TTH whose last char has a stray low bit ('Z' instead of 'Y'). */
    const char *tth = "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ";
    uint8_t d[24];
    cr_assert_eq(dc_base32_decode(tth, 39, d, sizeof d), 24);
    char bad[40];
    memcpy(bad, tth, 40);
    bad[38] = 'R'; /* 10001: low bit set */
    cr_assert_eq(dc_base32_decode(bad, 39, d, sizeof d), -1);
}

Test(base32, refuses_short_output_buffers)
{
    char text[8];
    uint8_t in[3] = {'f', 'o', 'o'};
    cr_assert_eq(dc_base32_encode(in, 3, text, 5), -1);  /* 5 chars, no room for NUL */
    cr_assert_eq(dc_base32_encode(in, 3, text, 6), 5);
    cr_assert_str_eq(text, "MZXW6");
    uint8_t out[8];
    cr_assert_eq(dc_base32_decode("MZXW6YTBOI", 10, out, 5), -1);
    cr_assert_eq(dc_base32_decode("MZXW6YTBOI", 10, out, 6), 6);
}
