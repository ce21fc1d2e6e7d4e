/* base32.h: RFC 4648 base32 (alphabet A-Z2-7), no padding, as ADC and TTH use it.
 *
 * Encoding emits uppercase. Decoding accepts upper and lower case, rejects '='
 * and every other byte, and rejects non-zero trailing bits (so every valid text
 * has exactly one byte form). 24 bytes <-> 39 chars; 32 bytes <-> 52 chars.
 */
#ifndef DC_PROTO_BASE32_H
#define DC_PROTO_BASE32_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode n bytes (without the NUL). */
#define DC_BASE32_LEN(n) (((n) * 8 + 4) / 5)

/* Writes DC_BASE32_LEN(len) chars plus a NUL to out (outcap must be large
 * enough). Returns the number of chars written, or -1 if outcap is too small. */
int dc_base32_encode(const uint8_t *in, size_t len, char *out, size_t outcap);

/* Decodes exactly textlen chars into out. Returns the number of bytes written,
 * or -1 on a bad character, bad length, non-zero padding bits or if outcap is
 * too small. */
int dc_base32_decode(const char *text, size_t textlen, uint8_t *out, size_t outcap);

#endif
