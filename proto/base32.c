/* base32.c: RFC 4648 base32 without padding, the text form of ADC CIDs and TTHs.
 *
 * Encoding is uppercase. Decoding is strict so that each valid text has exactly
 * one byte form: '=' is refused (ADC never pads), the length must be one a real
 * encoding can have, and the unused low bits of the last char must be zero.
 * Lowercase is accepted because it is harmless (see dc-protocol-notes §1.1).
 * No allocation, no state: callers own both buffers.
 */
#include "proto/base32.h"

static const char base32_alphabet[32] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* Value of one base32 char, or -1. A switch-free range test rather than a
 * 256-entry table keeps the module small; decoding is never a hot path. */
static int base32_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a';
    if (ch >= '2' && ch <= '7')
        return ch - '2' + 26;
    return -1;
}

int dc_base32_encode(const uint8_t *in, size_t len, char *out, size_t outcap)
{
    size_t need = DC_BASE32_LEN(len);
    if (outcap < need + 1 || need > (size_t)0x7fffffff)
        return -1;
    size_t o = 0, i = 0;
    /* Whole 5-byte groups are 8 chars each, with no bits carried between
     * groups: one 40-bit load and eight look-ups (file lists encode a TTH
     * per file, so this is on the list writer's path). */
    for (; len - i >= 5; i += 5, o += 8) {
        uint64_t g = (uint64_t)in[i] << 32 | (uint64_t)in[i + 1] << 24 | (uint64_t)in[i + 2] << 16 |
                     (uint64_t)in[i + 3] << 8 | in[i + 4];
        for (int k = 0; k < 8; k++)
            out[o + k] = base32_alphabet[(g >> (35 - 5 * k)) & 31];
    }
    uint32_t acc = 0; /* pending bits, right-aligned; never more than 12 */
    int bits = 0;
    for (; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[o++] = base32_alphabet[(acc >> bits) & 31];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0)
        out[o++] = base32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return (int)o;
}

int dc_base32_decode(const char *text, size_t textlen, uint8_t *out, size_t outcap)
{
    /* Lengths mod 8 of 1, 3 and 6 chars cannot come from whole bytes. */
    size_t rem = textlen % 8;
    if (rem == 1 || rem == 3 || rem == 6)
        return -1;
    size_t nbytes = textlen * 5 / 8;
    if (nbytes > outcap || nbytes > (size_t)0x7fffffff)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < textlen; i++) {
        int v = base32_value((unsigned char)text[i]);
        if (v < 0)
            return -1;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    /* Leftover bits (< 5 of them) are padding and must be zero. */
    if (acc != 0)
        return -1;
    return (int)o;
}
