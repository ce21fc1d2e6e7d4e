/* fixture.h: deterministic fixture files for tests (dcclient's `mkfile`
 * request and dcharness's `fixture` step write the same bytes).
 *
 * A file of `size` bytes is either a seeded xorshift64* stream (8 bytes per
 * step, little end first) or, with text, numbered lines
 * "dcharness fixture line 0000000000\n" (compressible). The same seed gives
 * the same bytes and a shorter file is a prefix of a longer one, so a test
 * can write a partial download (.part) and know every TTH in advance.
 * Unlike the rest of proto/, this does file I/O (blocking; meant for set-up).
 */
#ifndef DC_PROTO_FIXTURE_H
#define DC_PROTO_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DC_FIXTURE_MAX_SIZE ((int64_t)1 << 40)

/* Create path (and its parent directories) holding `size` bytes. A path
 * ending in '/' creates that directory (and its parents) only. 0, or -1 with
 * a message in err (errlen bytes). */
int dc_fixture_write(const char *path, int64_t size, uint64_t seed, bool text, char *err, size_t errlen);

#endif
