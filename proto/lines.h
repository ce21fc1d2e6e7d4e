/* lines.h: the one line framer of every byte stream this project reads
 * line by line: DC hub and client-client connections (NMDC lines end in
 * '|', ADC lines in '\n'; protocol notes §2, §3) and the JSON-lines control
 * sockets ('\n', jsonl.h). Pure: bytes in; lines, "too long" or "need
 * more" out; no I/O. proto/lines_ev.h applies the same rule to a libevent
 * evbuffer in place, for a reader that must leave the bytes after a line
 * where they are (a client-client connection switching to binary data).
 *
 * The rule, shared by both: a line is at most max bytes, its separator not
 * counted. The separator is looked for in the first max + 1 bytes only; if
 * it is not there, more than max bytes waiting is DC_LINE_TOO_LONG (the
 * line cannot end in time, whether or not it is complete), else
 * DC_LINE_MORE. An empty line (a separator right after the last one) is a
 * line of length 0: the DC keep-alive (a bare '|' on NMDC, a bare '\n' on
 * ADC) comes out as one, and the caller ignores it; DC_LINES_SKIP_EMPTY
 * drops them here instead. Bytes after the last separator are not a line
 * until their separator comes; at EOF the caller decides (dc_lines_rest).
 */
#ifndef DC_PROTO_LINES_H
#define DC_PROTO_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/buf.h"

enum dc_line {
    DC_LINE_MORE,         /* no complete line yet: feed more */
    DC_LINE_OK,           /* a complete line */
    DC_LINE_TOO_LONG,     /* a line over max, complete or not */
};

/* The first line of buf[0..len), whose first from bytes are known to hold
 * no separator (0 if unknown). DC_LINE_OK: *n is its length, the separator
 * is buf[*n]; the line and separator are *n + 1 bytes. Reads at most
 * max + 1 bytes of buf. */
enum dc_line dc_line_find(const char *buf, size_t len, size_t from, char sep, size_t max, size_t *n);
/* How many bytes from the front the rule looks at for a separator. */
static inline size_t dc_line_window(size_t have, size_t max)
{
    return have <= max ? have : max + 1;   /* have > max: max + 1 cannot overflow */
}

/* Flags of a buffered framer. */
#define DC_LINES_CRLF 1u          /* a '\r' before the separator is dropped (JSON lines) */
#define DC_LINES_SKIP_EMPTY 2u    /* empty lines (after the '\r' is dropped) are not returned */

/* A buffered framer: bytes fed in, lines out, NUL-terminated in place.
 * The caller owns the struct; in is owned by it (dc_lines_cleanup). */
struct dc_lines {
    struct dc_buf in;     /* bytes fed and not yet consumed, from start */
    size_t start;         /* first unconsumed byte of in */
    size_t scanned;       /* bytes after start known to hold no separator */
    size_t max;           /* longest line, without its separator; may be changed between calls */
    char sep;
    unsigned flags;       /* DC_LINES_* */
    bool discarding;      /* skipping the rest of an over-long line */
};

void dc_lines_init(struct dc_lines *f, char sep, size_t max, unsigned flags);
void dc_lines_cleanup(struct dc_lines *f);
/* Forget every byte held (memory is kept). */
void dc_lines_reset(struct dc_lines *f);
/* Append bytes read. 0, or -1 when out of memory (nothing is appended). */
int dc_lines_feed(struct dc_lines *f, const void *p, size_t n);
/* Room for n more bytes, to read into directly (recv, evbuffer_remove),
 * then dc_lines_commit with how many were written. NULL when out of memory.
 * Like dc_lines_feed, it may move the bytes held: lines handed out before
 * are no longer valid. */
char *dc_lines_space(struct dc_lines *f, size_t n);
void dc_lines_commit(struct dc_lines *f, size_t n);
/* Bytes held and not yet handed out (a partial line, or lines not taken). */
static inline size_t dc_lines_held(const struct dc_lines *f)
{
    return f->in.len - f->start;
}
/* The next line: DC_LINE_OK with *line (NUL-terminated where its separator,
 * or the '\r' before it, was) and *len; it stays valid until the next
 * dc_lines_feed or dc_lines_space. DC_LINE_TOO_LONG once per over-long
 * line: its bytes up to its separator are skipped, so a caller that goes on
 * reading gets the next line intact (one that stops may close). The framer
 * never holds more than max + 1 bytes plus one feed. */
enum dc_line dc_lines_next(struct dc_lines *f, char **line, size_t *len);
/* For a caller that keeps a partial line elsewhere between reads (fakehub
 * frames every plain connection in one framer): the bytes held, consumed,
 * as they are (not a line: not NUL-terminated). NULL when none. */
const char *dc_lines_take(struct dc_lines *f, size_t *n);
/* At EOF: what is left, cut off without its separator, as a last line
 * ('\r' dropped with DC_LINES_CRLF), or NULL (nothing left, only the rest
 * of an over-long line, or empty with DC_LINES_SKIP_EMPTY). Consumes it;
 * NUL-terminated in place like a line. */
char *dc_lines_rest(struct dc_lines *f, size_t *len);

#endif
