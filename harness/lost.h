/* lost.h: where an expected message went. When a run fails waiting for a
 * pm, chat or user.join, the hub's trace (fakehub --trace: every line in and
 * out, fault records, logins) tells the three cases apart: the sender's line
 * never reached the hub, the hub got it and did not send it on, or the hub
 * sent it to the receiver, which did not report it.
 */
#ifndef HR_LOST_H
#define HR_LOST_H

#include <stdbool.h>

#include "proto/buf.h"

/* What was expected. Strings are borrowed for the call. */
struct hr_lost_query {
    const char *kind;   /* "pm", "chat" or "user.join" */
    const char *from;   /* pm, chat: the sender's nick; user.join: the joining nick */
    const char *to;     /* the receiver's nick */
    const char *text;   /* pm, chat: the expected text; NULL: any */
    bool contains;      /* text is a case-insensitive substring, not the whole text */
};

/* Appends one verdict sentence to out, starting "not sent by", "not relayed"
 * or "relayed to". Returns false (out untouched) when the trace cannot tell:
 * no trace, an unreadable one, or a kind it has no rule for. */
bool hr_lost_explain(const char *trace_path, const struct hr_lost_query *q, struct dc_buf *out);

#endif
