/* lines_ev.h: the line framer's rule (lines.h) applied to a libevent
 * evbuffer in place: a complete line is removed with its separator, and
 * everything after it stays in the evbuffer, untouched. For readers whose
 * stream changes from lines to something else after a line (a client-client
 * connection's data phase), or that must not move bytes they have not
 * framed yet. Its own library (dclines_ev), so proto/ needs no libevent.
 */
#ifndef DC_PROTO_LINES_EV_H
#define DC_PROTO_LINES_EV_H

#include <stddef.h>

#include <event2/buffer.h>

#include "proto/lines.h"

/* The next line in `in`: DC_LINE_OK with it copied into line (which holds
 * max + 1 bytes, borrowed), NUL-terminated where its separator was, *len
 * its length, and the line and separator removed from `in`.
 * DC_LINE_TOO_LONG and DC_LINE_MORE leave `in` as it was. Searches at most
 * max + 1 bytes. Empty lines come out as lines of length 0. */
enum dc_line dc_lines_ev_next(struct evbuffer *in, char sep, size_t max, char *line, size_t *len);

#endif
