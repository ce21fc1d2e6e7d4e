/* jsonl.c: the JSON-lines request channel (see jsonl.h); framing is
 * lines.c's. */
#include "proto/jsonl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- requests ------------------------------------------------------------ */

static int dc_jsonl_fail(struct dc_jsonl_req *req, const char *fmt, const char *arg)
{
    snprintf(req->err, sizeof req->err, fmt, arg);
    return -1;
}

int dc_jsonl_parse(const char *line, size_t len, struct dc_jsonl_req *req)
{
    *req = (struct dc_jsonl_req){0};
    json_error_t je;
    req->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!req->root)
        return dc_jsonl_fail(req, "request is not valid JSON: %s", je.text);
    if (!json_is_object(req->root))
        return dc_jsonl_fail(req, "%s", "request must be a JSON object");
    json_t *id = json_object_get(req->root, "id");
    if (id && !json_is_integer(id) && !json_is_string(id) && !json_is_null(id))
        return dc_jsonl_fail(req, "%s", "request id must be an integer or a string");
    req->id = id;
    const char *cmd = json_string_value(json_object_get(req->root, "cmd"));
    if (!cmd)
        return dc_jsonl_fail(req, "%s", "request has no \"cmd\" string");
    json_t *args = json_object_get(req->root, "args");
    if (args && !json_is_object(args) && !json_is_null(args))
        return dc_jsonl_fail(req, "%s", "\"args\" must be an object");
    req->args = json_is_object(args) ? json_incref(args) : json_object();
    if (!req->args)
        return dc_jsonl_fail(req, "%s", "out of memory");
    req->cmd = cmd;
    return 0;
}

void dc_jsonl_req_cleanup(struct dc_jsonl_req *req)
{
    json_decref(req->args);
    json_decref(req->root);
    req->root = req->args = req->id = NULL;
    req->cmd = NULL;
}

int dc_jsonl_next_request(struct dc_lines *f, bool eof, struct dc_jsonl_req *req)
{
    char *line;
    size_t len;
    switch (dc_lines_next(f, &line, &len)) {
    case DC_LINE_OK:
        dc_jsonl_parse(line, len, req);
        return 1;
    case DC_LINE_TOO_LONG:
        *req = (struct dc_jsonl_req){0};
        snprintf(req->err, sizeof req->err, "request line longer than %zu bytes", f->max);
        return 1;
    case DC_LINE_MORE:
        break;
    }
    if (!eof || !(line = dc_lines_rest(f, &len)))
        return 0;
    dc_jsonl_parse(line, len, req);
    return 1;
}

/* ---- output -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0. p is NUL-terminated, and a NUL is
 * never a continuation byte, so the reads stop at the end. */
static int dc_jsonl_utf8_len(const unsigned char *p)
{
    int n = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
          : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) ||
        (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

json_t *dc_jsonl_str(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j)
        return j;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = dc_jsonl_utf8_len(p);
        if (n)
            dc_buf_append(&b, p, (size_t)n), p += n;
        else
            dc_buf_append_str(&b, "\xEF\xBF\xBD"), p++;
    }
    j = json_string(b.data ? b.data : "");
    dc_buf_cleanup(&b);
    return j;
}

json_t *dc_jsonl_ok(json_t *id, json_t *result)
{
    return json_pack("{s:O?,s:b,s:o}", "id", id, "ok", 1, "result", result ? result : json_object());
}

json_t *dc_jsonl_err(json_t *id, const char *message, const char *code)
{
    json_t *j = json_pack("{s:O?,s:b,s:o}", "id", id, "ok", 0, "error", dc_jsonl_str(message));
    if (j && code)
        json_object_set_new(j, "code", json_string(code));
    return j;
}

char *dc_jsonl_line(json_t *obj, size_t *len)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    text[n] = '\n';    /* json_dumps' NUL becomes the line end */
    *len = n + 1;
    return text;
}
