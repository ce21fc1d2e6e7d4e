/* floutput.h: where a file list writer's XML text goes (internal to
 * filelist.c).
 *
 * Hands the text to the caller's sink, as it is or through bzip2 (one
 * stream, level 9). The writer fills buffers this module owns; a full one is
 * swapped for an empty one. A large compressed list is compressed on a
 * thread of its own while the caller's thread goes on formatting XML, so a
 * write costs about max(format, bzip2) in wall time instead of their sum.
 *
 * The bytes the sink gets are the same whether the thread ran or not: bzip2
 * is fed only BZ_RUN until the end (never BZ_FLUSH), and libbz2 cuts blocks
 * by their contents, not by how the input was handed to it. Only the sizes
 * of the sink's calls may differ. Once the thread runs, the sink is called
 * on it; a sink or bzip2 error then reaches the caller at its next swap (or
 * at the finish), and the sink is not called again after it failed.
 */
#ifndef DC_PROTO_FLOUTPUT_H
#define DC_PROTO_FLOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/filelist.h"

struct fl_output;   /* opaque; owns its buffers, bzip2 stream and thread */

/* thread_after: XML bytes compressed on the caller's thread before the
 * compression moves to its own thread; 0: the default (1 MiB); UINT64_MAX:
 * never. Ignored when not compressing (plain text has nothing to overlap).
 * sink_ctx is borrowed. NULL on OOM. */
struct fl_output *fl_output_new(dc_fl_sink_cb sink, void *sink_ctx, bool compress, uint64_t thread_after);
/* Sets thread_after (as in fl_output_new) to bytes from now on; a no-op
 * once the thread runs or when not compressing. */
void fl_output_thread_after(struct fl_output *o, uint64_t bytes);
/* Takes the first len bytes of the buffer the last swap returned (len 0 on
 * the first call) and returns the buffer to fill next, with room for *cap
 * bytes (*cap >= 64). NULL on a sink or bzip2 error, or OOM (sticky: later
 * swaps and the finish fail too). */
char *fl_output_swap(struct fl_output *o, size_t len, size_t *cap);
/* Takes the last len bytes as fl_output_swap does, ends the bzip2 stream,
 * waits for the thread to deliver everything, and frees o. 0, or -1 if any
 * swap or the end failed (o is freed either way). */
int fl_output_finish(struct fl_output *o, size_t len);
/* Stops and joins the thread if it runs (what it was given is dropped, not
 * all of it delivered), then frees everything. NULL is a no-op. */
void fl_output_free(struct fl_output *o);

#endif
