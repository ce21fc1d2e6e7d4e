/* trace.h: the --trace file, every protocol line in and out plus hook
 * events, one JSON object per line:
 *   {"t":12.345678,"conn":3,"nick":"alice","proto":"nmdc","dir":"in","line":"..."}
 *   {"t":...,"event":"login"|"logout"|"signal"|"shutdown"|"hook_called",...}
 * t is CLOCK_MONOTONIC seconds. The file is pure ASCII (non-ASCII as JSON
 * \u escapes, so no reader splits a line at U+0085/U+2028). A line that is
 * not valid UTF-8 is written with each byte as U+00XX and "latin1":true, so
 * the bytes are recoverable (encode the string as latin-1).
 *
 * Built on the hook interface (hooks.h); buffered, flushed at SIGUSR1 dumps,
 * at shutdown and when freed. Owned by the hub.
 */
#ifndef FH_TRACE_H
#define FH_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct fh_hub;
struct fh_trace;

/* A JSON string for arbitrary bytes: UTF-8 as is, anything else one code
 * point per byte with *latin1 set. New reference, NULL on OOM. Also used by
 * the control socket for chat text. */
json_t *fh_json_bytes(const char *s, size_t n, bool *latin1);

/* Opens (truncates) path and registers the trace's hooks on hub. NULL with a
 * message in err (FH_ERR_LEN) on failure. */
struct fh_trace *fh_trace_new(struct fh_hub *hub, const char *path, char *err);
/* The hub records each hook set's shutdown call here, so a test can count them. */
void fh_trace_hook_called(struct fh_trace *t, const char *set_name, const char *hook);
/* Write a record built elsewhere (takes o; "t" is added): the fault rules'
 * {"event":"fault",...} and {"event":"fault_unmatched",...}. */
void fh_trace_record(struct fh_trace *t, json_t *o);
void fh_trace_flush(struct fh_trace *t);
void fh_trace_free(struct fh_trace *t);

#endif
