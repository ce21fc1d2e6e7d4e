/* test_jsonl.c: Criterion tests for the JSON-lines channel (proto/jsonl.c):
 * framing across reads, CRLF and empty lines, over-long lines (complete and
 * still arriving) reported once with the next line intact, the cut-off last
 * line at EOF; request parsing and each bad-request error with its id; the
 * UTF-8 repair of dc_jsonl_str; the reply encoders' exact bytes. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/jsonl.h"

/* Feed s in pieces of step bytes; collect the lines as "a|b|" and each
 * over-long report as "!|". */
static void frame(struct dc_lines *f, const char *s, size_t n, size_t step, struct dc_buf *out)
{
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        cr_assert_eq(dc_lines_feed(f, s + i, k), 0);
        char *line;
        size_t len;
        enum dc_line r;
        while ((r = dc_lines_next(f, &line, &len)) != DC_LINE_MORE) {
            if (r == DC_LINE_OK)
                dc_buf_append(out, line, len);
            else
                dc_buf_append_str(out, "!");
            dc_buf_append_str(out, "|");
        }
    }
}

static void expect_frames(const char *in, size_t max, size_t step, const char *want)
{
    struct dc_lines f;
    struct dc_buf out;
    dc_jsonl_framer_init(&f, max);
    dc_buf_init(&out, 0);
    frame(&f, in, strlen(in), step, &out);
    cr_assert_str_eq(out.data ? out.data : "", want, "input '%s' max %zu step %zu", in, max, step);
    dc_buf_cleanup(&out);
    dc_lines_cleanup(&f);
}

Test(jsonl_framer, lines_split_across_reads_come_out_whole)
{
    const char *in = "{\"id\":1}\n{\"id\":2}\r\n\n\r\nlast-one\n";
    for (size_t step = 1; step <= strlen(in); step++)
        expect_frames(in, 64, step, "{\"id\":1}|{\"id\":2}|last-one|");
}

Test(jsonl_framer, nothing_until_the_newline)
{
    expect_frames("{\"id\":1", 64, 1, "");
    expect_frames("", 64, 1, "");
}

Test(jsonl_framer, a_line_of_exactly_max_bytes_is_read)
{
    expect_frames("12345678\nab\n", 8, 3, "12345678|ab|");
    /* The '\r' counts against the bound, as it is part of the line read. */
    expect_frames("12345678\r\nab\n", 8, 3, "!|ab|");
}

Test(jsonl_framer, an_overlong_complete_line_is_reported_once_and_skipped)
{
    for (size_t step = 1; step <= 20; step++)
        expect_frames("ok\n123456789012\nnext\n", 8, step, "ok|!|next|");
}

Test(jsonl_framer, an_overlong_line_still_arriving_is_reported_once)
{
    /* 100 bytes without '\n' in small reads: one report, the bytes are
     * dropped as they come (the framer holds at most max + one read). */
    struct dc_lines f;
    struct dc_buf out;
    dc_jsonl_framer_init(&f, 8);
    dc_buf_init(&out, 0);
    char big[100];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 10; i++) {
        frame(&f, big, 10, 10, &out);
        cr_assert_leq(f.in.len - f.start, 8 + 10);
    }
    frame(&f, "tail\nafter\n", 11, 11, &out);
    cr_assert_str_eq(out.data, "!|after|");
    dc_buf_cleanup(&out);
    dc_lines_cleanup(&f);
}

Test(jsonl_framer, the_last_line_cut_off_at_eof_is_returned)
{
    struct dc_lines f;
    dc_jsonl_framer_init(&f, 64);
    size_t len = 0;
    cr_assert_null(dc_lines_rest(&f, &len), "nothing fed");
    cr_assert_eq(dc_lines_feed(&f, "a\n{\"id\":3}\r", 11), 0);
    char *line;
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_OK);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_MORE);
    line = dc_lines_rest(&f, &len);
    cr_assert_not_null(line);
    cr_assert_eq(len, 8);
    cr_assert_eq(memcmp(line, "{\"id\":3}", 8), 0);
    cr_assert_null(dc_lines_rest(&f, &len), "consumed");
    dc_lines_cleanup(&f);

    /* The rest of an over-long line is no request. */
    dc_jsonl_framer_init(&f, 4);
    cr_assert_eq(dc_lines_feed(&f, "123456", 6), 0);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_TOO_LONG);
    cr_assert_eq(dc_lines_feed(&f, "78", 2), 0);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_MORE);
    cr_assert_null(dc_lines_rest(&f, &len));
    dc_lines_cleanup(&f);
}

Test(jsonl_framer, next_request_parses_refuses_and_takes_the_rest_at_eof)
{
    struct dc_lines f;
    struct dc_jsonl_req req;
    dc_jsonl_framer_init(&f, 32);
    const char *in = "{\"id\":1,\"cmd\":\"ping\"}\n{\"id\":2,\"cmd\":\"ping\",\"args\":{\"x\":\"0123456789\"}}\n"
                     "nope\n{\"id\":3,\"cmd\":\"quit\"}";
    cr_assert_eq(dc_lines_feed(&f, in, strlen(in)), 0);
    cr_assert_eq(dc_jsonl_next_request(&f, false, &req), 1);
    cr_assert_str_eq(req.cmd, "ping");
    cr_assert_eq(json_integer_value(req.id), 1);
    dc_jsonl_req_cleanup(&req);
    cr_assert_eq(dc_jsonl_next_request(&f, false, &req), 1, "the over-long line");
    cr_assert_null(req.cmd);
    cr_assert_null(req.id);
    cr_assert_str_eq(req.err, "request line longer than 32 bytes");
    dc_jsonl_req_cleanup(&req);
    cr_assert_eq(dc_jsonl_next_request(&f, false, &req), 1, "the bad one");
    cr_assert_null(req.cmd);
    cr_assert(strstr(req.err, "request is not valid JSON"), "%s", req.err);
    dc_jsonl_req_cleanup(&req);
    cr_assert_eq(dc_jsonl_next_request(&f, false, &req), 0, "the last is not complete before EOF");
    cr_assert_eq(dc_jsonl_next_request(&f, true, &req), 1, "and is at EOF");
    cr_assert_str_eq(req.cmd, "quit");
    cr_assert_eq(json_integer_value(req.id), 3);
    dc_jsonl_req_cleanup(&req);
    cr_assert_eq(dc_jsonl_next_request(&f, true, &req), 0);
    dc_lines_cleanup(&f);
}

/* ---- requests ---- */

static void expect_bad(const char *line, size_t len, const char *msg, json_t *want_id)
{
    struct dc_jsonl_req req;
    cr_assert_eq(dc_jsonl_parse(line, len, &req), -1, "%.*s", (int)len, line);
    cr_assert_str_eq(req.err, msg, "%.*s", (int)len, line);
    if (want_id)
        cr_assert(req.id && json_equal(req.id, want_id), "%.*s: id", (int)len, line);
    else
        cr_assert_null(req.id, "%.*s: id", (int)len, line);
    cr_assert_null(req.cmd);
    dc_jsonl_req_cleanup(&req);
    json_decref(want_id);
}

#define BAD(s, msg, id) expect_bad(s, sizeof s - 1, msg, id)

Test(jsonl_parse, a_good_request)
{
    struct dc_jsonl_req req;
    const char *s = "{\"id\":7,\"cmd\":\"pm\",\"args\":{\"nick\":\"bob\"}}";
    cr_assert_eq(dc_jsonl_parse(s, strlen(s), &req), 0, "%s", req.err);
    cr_assert_eq(json_integer_value(req.id), 7);
    cr_assert_str_eq(req.cmd, "pm");
    cr_assert_str_eq(json_string_value(json_object_get(req.args, "nick")), "bob");
    dc_jsonl_req_cleanup(&req);
    cr_assert_null(req.root);

    /* args absent or null: an empty object; a string id; no id at all. */
    const char *ok[] = {"{\"id\":\"x\",\"cmd\":\"ping\"}", "{\"cmd\":\"ping\",\"args\":null}",
                        "  {\"cmd\":\"ping\",\"args\":{}}  "};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(dc_jsonl_parse(ok[i], strlen(ok[i]), &req), 0, "%s: %s", ok[i], req.err);
        cr_assert(json_is_object(req.args) && json_object_size(req.args) == 0, "%s", ok[i]);
        cr_assert_str_eq(req.cmd, "ping");
        dc_jsonl_req_cleanup(&req);
    }
}

Test(jsonl_parse, bad_json_and_embedded_nul_and_bad_utf8)
{
    BAD("not json", "request is not valid JSON: '[' or '{' expected near 'not'", NULL);
    BAD("{\"id\":1,\"cmd\":\"ping\"", "request is not valid JSON: '}' expected near end of file", NULL);
    struct dc_jsonl_req req;
    cr_assert_eq(dc_jsonl_parse("{\"id\":1,\0\"cmd\":\"ping\"}", 22, &req), -1, "embedded NUL");
    cr_assert(strstr(req.err, "request is not valid JSON"), "%s", req.err);
    cr_assert_null(req.id);
    dc_jsonl_req_cleanup(&req);
    const char *bad_utf8 = "{\"id\":1,\"cmd\":\"p\xC0\x80m\"}";
    cr_assert_eq(dc_jsonl_parse(bad_utf8, strlen(bad_utf8), &req), -1, "overlong UTF-8");
    cr_assert(strstr(req.err, "request is not valid JSON"), "%s", req.err);
    dc_jsonl_req_cleanup(&req);
    BAD("{\"id\":1,\"id\":2,\"cmd\":\"ping\"}", "request is not valid JSON: duplicate object key near '\"id\"'", NULL);
}

Test(jsonl_parse, request_shape_errors_keep_the_id_once_read)
{
    BAD("[1,2]", "request must be a JSON object", NULL);
    BAD("[{\"cmd\":\"ping\"}]", "request must be a JSON object", NULL);
    BAD("{\"id\":[1],\"cmd\":\"ping\"}", "request id must be an integer or a string", NULL);
    BAD("{\"id\":1.5,\"cmd\":\"ping\"}", "request id must be an integer or a string", NULL);
    BAD("{\"id\":1}", "request has no \"cmd\" string", json_integer(1));
    BAD("{\"id\":\"a\",\"cmd\":5}", "request has no \"cmd\" string", json_string("a"));
    BAD("{\"id\":4,\"cmd\":\"ping\",\"args\":[1]}", "\"args\" must be an object", json_integer(4));
    BAD("{\"id\":4,\"cmd\":\"ping\",\"args\":\"x\"}", "\"args\" must be an object", json_integer(4));
    BAD("{\"id\":null,\"cmd\":\"ping\",\"args\":3}", "\"args\" must be an object", json_null());
}

/* ---- output ---- */

static void expect_line(json_t *obj, const char *want)
{
    size_t len = 0;
    char *line = dc_jsonl_line(obj, &len);
    cr_assert_not_null(line);
    cr_assert_eq(len, strlen(want), "%.*s", (int)len, line);
    cr_assert_eq(memcmp(line, want, len), 0, "%.*s", (int)len, line);
    free(line);
}

Test(jsonl_out, replies_encode_to_the_documented_lines)
{
    json_t *id = json_integer(7);
    expect_line(dc_jsonl_ok(id, NULL), "{\"id\":7,\"ok\":true,\"result\":{}}\n");
    expect_line(dc_jsonl_ok(NULL, json_pack("{s:b}", "pong", 1)), "{\"id\":null,\"ok\":true,\"result\":{\"pong\":true}}\n");
    expect_line(dc_jsonl_err(id, "no such user", NULL), "{\"id\":7,\"ok\":false,\"error\":\"no such user\"}\n");
    expect_line(dc_jsonl_err(NULL, "x", DC_JSONL_BAD_REQUEST),
                "{\"id\":null,\"ok\":false,\"error\":\"x\",\"code\":\"bad-request\"}\n");
    cr_assert_eq(json_integer_value(id), 7, "the id is borrowed");
    json_decref(id);
    size_t len = 99;
    cr_assert_null(dc_jsonl_line(NULL, &len));
}

Test(jsonl_out, bytes_that_are_not_utf8_become_replacement_characters)
{
    struct { const char *in, *want; } cases[] = {
        {"plain", "plain"},
        {"\xC3\xA9t\xC3\xA9", "\xC3\xA9t\xC3\xA9"},
        {"a\xFF" "b", "a\xEF\xBF\xBD" "b"},
        {"\xC0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"},                       /* overlong NUL */
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},       /* surrogate */
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* > U+10FFFF */
        {"cut\xE2\x82", "cut\xEF\xBF\xBD\xEF\xBF\xBD"},                /* truncated at the end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = dc_jsonl_str(cases[i].in);
        cr_assert_not_null(j, "case %zu", i);
        cr_assert_str_eq(json_string_value(j), cases[i].want, "case %zu", i);
        json_decref(j);
    }
    json_t *j = dc_jsonl_str(NULL);
    cr_assert_str_eq(json_string_value(j), "");
    json_decref(j);
    expect_line(dc_jsonl_err(NULL, "bad \xFF", "c"), "{\"id\":null,\"ok\":false,\"error\":\"bad \xEF\xBF\xBD\",\"code\":\"c\"}\n");
}
