/* flinput.h: the bytes a file list read parses (internal to filelist.c).
 *
 * Takes the caller's source, sniffs "BZh", and hands out either the bytes as
 * they are or what bzip2 decompresses from them (multi-stream files, as
 * pbzip2 writes, are accepted). A large compressed list is decompressed on a
 * thread of its own, a few blocks ahead of the parser, so a read costs about
 * max(bunzip2, parse) in wall time instead of their sum.
 *
 * Errors land at the same byte on either thread: bzip2 output is cut into
 * windows of 64 KiB (one BZ2_bzDecompress call each), the source is read
 * only when the decompressor has nothing pending, and a window whose call
 * fails (a block that fails its CRC check) is not parsed. So a truncated or
 * corrupt stream, or a source error, is reported after the same bytes, and
 * a read gives the same result and first error whether the thread ran or not.
 */
#ifndef DC_PROTO_FLINPUT_H
#define DC_PROTO_FLINPUT_H

#include <stdint.h>
#include "proto/filelist.h"

struct fl_input;   /* opaque; owns its buffers, bzip2 stream and thread */

/* thread_after: bytes handed out on the caller's thread before the bzip2
 * decompression moves to its own thread (0 and UINT64_MAX as in
 * dc_fl_limits.thread_after). NULL on OOM. */
struct fl_input *fl_input_new(dc_fl_source_cb source, void *source_ctx, uint64_t thread_after);
/* Up to len bytes into buf: > 0 bytes, 0 at the end, -1 on an error whose
 * message fl_input_error gives (sticky: later calls return -1 too). */
int fl_input_read(struct fl_input *in, char *buf, int len);
const char *fl_input_error(const struct fl_input *in);
/* Stops and joins the thread if it runs, then frees everything. NULL is a no-op. */
void fl_input_free(struct fl_input *in);

#endif
