/* jsonl.h: the JSON-lines request channel of both control sockets
 * (dcclient: docs/control-protocol.md; fakehub: docs/fakehub.md "Control
 * socket"): line framing, request parsing, reply and line encoding.
 *
 * Pure: bytes in, lines and requests out, lines to write out; no sockets.
 * The callers own the I/O and their verb tables: bytes read go into the
 * framer (dc_lines_feed), dc_jsonl_next_request hands out each request as
 * {id, cmd, args} or as a bad-request error whose message is the one both
 * channels document, the caller looks cmd up in its own table and answers
 * with dc_jsonl_ok / dc_jsonl_err, turned into bytes by dc_jsonl_line.
 *
 * Framing is the project's one line framer (lines.h): '\n'-terminated
 * lines of at most max bytes (without the '\n'); a trailing '\r' is
 * dropped and empty lines are skipped. A longer line is refused once and
 * skipped up to its '\n', so the next line is read intact.
 */
#ifndef DC_PROTO_JSONL_H
#define DC_PROTO_JSONL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "proto/buf.h"
#include "proto/lines.h"

/* The code of every framing and request-shape error. */
#define DC_JSONL_BAD_REQUEST "bad-request"
#define DC_JSONL_ERR_LEN 256

/* The framer of a JSON-lines channel (lines.h): '\n', a '\r' before it
 * dropped, empty lines skipped, lines of at most max bytes. The caller
 * feeds it (dc_lines_feed) and frees it (dc_lines_cleanup). */
static inline void dc_jsonl_framer_init(struct dc_lines *f, size_t max)
{
    dc_lines_init(f, '\n', max, DC_LINES_CRLF | DC_LINES_SKIP_EMPTY);
}

/* A parsed request. The caller owns the struct; root and args are owned
 * references (dc_jsonl_req_cleanup), id and cmd are borrowed from root. */
struct dc_jsonl_req {
    json_t *root;
    json_t *id;           /* integer, string or JSON null; NULL if absent or unusable */
    const char *cmd;      /* NULL unless the request parsed */
    json_t *args;         /* an object: the request's, or {} when absent or null */
    char err[DC_JSONL_ERR_LEN];   /* on failure: the reply's text (code bad-request) */
};

/* Parse one line: 0 with id, cmd and args set, or -1 with err set and id
 * the request's id once it could be read (else NULL: the reply's id is
 * null). Duplicate keys are refused. Either way call dc_jsonl_req_cleanup. */
int dc_jsonl_parse(const char *line, size_t len, struct dc_jsonl_req *req);
void dc_jsonl_req_cleanup(struct dc_jsonl_req *req);
/* What a channel's reader calls: the next request framed by f, parsed. 1
 * with *req set: a request (cmd set), or one to refuse with req->err and
 * code bad-request (cmd NULL: an over-long line, or dc_jsonl_parse failed);
 * call dc_jsonl_req_cleanup after each. 0: no complete line left. With eof,
 * the last line cut off without its '\n' comes last. */
int dc_jsonl_next_request(struct dc_lines *f, bool eof, struct dc_jsonl_req *req);

/* A JSON string for bytes that may not be UTF-8 (text from a hub or a peer):
 * each byte that does not start a valid UTF-8 sequence becomes U+FFFD.
 * NULL gives "". New reference, NULL only when out of memory. */
json_t *dc_jsonl_str(const char *s);
/* {"id", "ok": true, "result"}; result is consumed (NULL: {}); id borrowed
 * (NULL: null). */
json_t *dc_jsonl_ok(json_t *id, json_t *result);
/* {"id", "ok": false, "error": message, "code": code}; code NULL: no code. */
json_t *dc_jsonl_err(json_t *id, const char *message, const char *code);
/* obj (consumed) as one compact line ending in '\n' (no NUL after it);
 * *len counts the '\n'. The caller frees it. NULL when obj is NULL or out of memory. */
char *dc_jsonl_line(json_t *obj, size_t *len);

#endif
