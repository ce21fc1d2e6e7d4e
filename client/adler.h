/* adler.h: zlib's Adler-32 checksum, vectorised where the CPU can.
 *
 * ZL1 uploads compute it themselves (their deflate stream is raw, framed
 * by upload.c): zlib 1.2's scalar adler32 cost more CPU per byte than
 * storing incompressible data did. Same value as zlib's adler32().
 */
#ifndef DC_CLIENT_ADLER_H
#define DC_CLIENT_ADLER_H

#include <stddef.h>
#include <stdint.h>

/* The Adler-32 of what adler covered followed by p[0..n); start from 1. */
uint32_t dcc_adler32(uint32_t adler, const uint8_t *p, size_t n);

#endif
