/* filelist.h: DC file lists (files.xml / files.xml.bz2, protocol notes §1.6).
 *
 * Writing: a streaming writer emits <FileListing> XML, optionally through
 * bzip2, into a caller-supplied sink, one directory/file call at a time, so a
 * list of any size is written in constant memory. Past the first MiB of XML
 * of a compressed list (dc_fl_writer_thread_after), bzip2 runs on a thread of
 * its own, at most 512 KiB of XML behind the caller, so the write takes
 * about max(format, bzip2) wall time, not their sum; the sink is then called
 * from that thread (it must not share unguarded state with the caller), and
 * the thread is joined before finish or abort returns. The bytes are the same
 * either way: one bzip2 stream (DC++-family readers stop at the first
 * stream end), byte for byte what one thread writes.
 *
 * Reading: libxml2's streaming reader (xmlTextReader) fed through libbz2 (or
 * plain, if the data does not start with "BZh"), calling back per directory
 * and file; the XML text is never held whole in memory. Past the first MiB
 * of a compressed list (dc_fl_limits.thread_after), bzip2 runs on a thread
 * of its own, at most 1.5 MiB of XML ahead of the parser, so the read takes
 * about max(bunzip2, parse) wall time, not their sum; the parser and all
 * callbacks stay on the caller's thread, the source is then called from the
 * decompression thread (it must not share unguarded state with the
 * callbacks), and the thread is joined before dc_fl_read returns, whatever
 * the outcome. Malformed XML,
 * truncated bzip2 data, a missing FileListing/Base, names that are empty, "."
 * or "..", or contain '/' or '\', bad Size or TTH values are errors with a
 * reason.
 *
 * The in-memory tree (dc_fl_read_tree, dc_fl_write_tree) is in fltree.h.
 *
 * No globals: libxml2's process-wide parser init is idempotent and done by
 * libxml2 itself on first use. A read points the calling thread's libxml2
 * error handlers (xmlSetStructuredErrorFunc, xmlSetGenericErrorFunc;
 * thread-local in libxml2) at itself while it runs and restores the caller's
 * before it returns, so libxml2's messages become the read's error (the first
 * one, with its line and column) instead of text on stderr.
 */
#ifndef DC_PROTO_FILELIST_H
#define DC_PROTO_FILELIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include "proto/tth.h"

#define DC_FL_ERR_LEN 256

/* Sink: write len bytes; return 0 or -1. */
typedef int (*dc_fl_sink_cb)(const void *data, size_t len, void *ctx);

struct dc_fl_writer;   /* opaque; owns its bzip2 stream, buffers and thread */

/* cid: 39-char base32; base: "/" for a full list. compress: bzip2 or plain XML.
 * cid and generator may be NULL (attribute omitted); base NULL means "/".
 * Strings are borrowed for the call. Output has CRLF line ends and tab indents
 * (eiskaltdcpp's shape); a directory with no children is written <Directory .../>.
 * A call fails (-1) on a sink error or on a name the reader would reject (empty,
 * "."/"..", '/' or '', invalid UTF-8, control characters other than tab/LF/CR);
 * the writer then stays failed, and finish returns -1 (it still frees w).
 * Once bzip2 runs on its thread, a sink error is seen by the call that next
 * hands it text (a later call, at the latest finish); the sink is not called
 * again after it failed. */
struct dc_fl_writer *dc_fl_writer_new(dc_fl_sink_cb sink, void *sink_ctx, bool compress,
                                      const char *cid, const char *base, const char *generator);
int dc_fl_writer_dir_begin(struct dc_fl_writer *w, const char *name, bool incomplete);
int dc_fl_writer_dir_end(struct dc_fl_writer *w);
int dc_fl_writer_file(struct dc_fl_writer *w, const char *name, uint64_t size,
                      const uint8_t tth[DC_TTH_LEN]);
/* Not a bound: XML bytes compressed on the caller's thread from now on
 * before bzip2 moves to its own thread. 0: the default, 1 MiB (a smaller
 * list is written before a thread would pay off); UINT64_MAX: never. The
 * output is the same either way. A no-op when not compressing. */
void dc_fl_writer_thread_after(struct dc_fl_writer *w, uint64_t bytes);
/* Closes open elements, flushes, and frees w. Returns 0 or -1 (sink error). */
int dc_fl_writer_finish(struct dc_fl_writer *w);
void dc_fl_writer_abort(struct dc_fl_writer *w);   /* frees without finishing */

/* Convenience: sink to a FILE*. */
int dc_fl_sink_stdio(const void *data, size_t len, void *ctx);

/* Reading. Source: read up to cap bytes into buf; return bytes read, 0 at end,
 * -1 on error. */
typedef long (*dc_fl_source_cb)(void *buf, size_t cap, void *ctx);

struct dc_fl_callbacks {
    /* Return 0 to go on, non-zero to stop with an error. Strings are borrowed
     * for the duration of the call. */
    int (*listing)(const char *cid, const char *base, const char *generator, void *ctx);
    int (*dir_begin)(const char *name, bool incomplete, void *ctx);
    int (*dir_end)(void *ctx);
    int (*file)(const char *name, uint64_t size, const uint8_t tth[DC_TTH_LEN], void *ctx);
};

/* Streams the list through the callbacks. Returns 0, or -1 with a message in
 * err (DC_FL_ERR_LEN bytes, may be NULL). cb may be NULL (validate only), and
 * so may each callback. A DOCTYPE is an error (no entity expansion); libxml2
 * never prints. Multi-stream bzip2 (pbzip2) is accepted. A truncated or
 * corrupt bzip2 stream, or a source error, is reported once the parser has
 * seen the 64 KiB windows decompressed whole before it (an XML error in them
 * comes first, so it is the one reported), at the same point whether or not
 * the decompression thread ran. */
int dc_fl_read(dc_fl_source_cb source, void *source_ctx, const struct dc_fl_callbacks *cb,
               void *cb_ctx, char *err);
long dc_fl_source_stdio(void *buf, size_t cap, void *ctx);   /* ctx is a FILE* */

/* Bounds on a list from an untrusted peer: a few MB of bzip2 can expand to
 * gigabytes. Going over one stops the read with an error, and the flag says
 * which one (the caller names its setting). max_bytes counts what the parser
 * is given; the decompression thread runs at most 1.5 MiB ahead of it, so it
 * is also what memory and work are bounded by. Plain value, owned by the
 * caller; zero-initialise it and set what you need. */
struct dc_fl_limits {
    uint64_t max_entries;         /* Directory + File elements; 0: no limit */
    uint64_t max_bytes;           /* XML bytes after bzip2; 0: no limit */
    /* Not a bound: XML bytes read on the caller's thread before bzip2
     * decompression moves to its own thread. 0: the default, 1 MiB (a
     * smaller list is read before a thread would pay off); UINT64_MAX:
     * never. Results and errors are the same either way. */
    uint64_t thread_after;
    bool over_entries, over_bytes;   /* out */
};
int dc_fl_read_limited(dc_fl_source_cb source, void *source_ctx, const struct dc_fl_callbacks *cb,
                       void *cb_ctx, struct dc_fl_limits *lim, char *err);

#endif
