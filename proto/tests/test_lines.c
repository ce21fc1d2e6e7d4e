/* test_lines.c: Criterion tests for the line framer (proto/lines.c) and its
 * evbuffer adapter (proto/lines_ev.c): NMDC and ADC streams split at every
 * byte (one split point, and every read one byte) give the same lines;
 * keep-alives come out as empty lines; the bound is max bytes exactly, for
 * complete and still-arriving lines; an over-long line is reported once and
 * the next one read intact; the other protocol's separator is data; '\r'
 * and empty-line flags; the cut-off rest at EOF; reading into dc_lines_space;
 * and the adapter, on one- and many-chain evbuffers, agrees with the
 * buffered framer and leaves the bytes after a line in place untouched. */
#include <criterion/criterion.h>
#include <string.h>

#include <event2/buffer.h>

#include "proto/lines.h"
#include "proto/lines_ev.h"

/* What a framer made of a stream, as text: each line followed by "\x01",
 * each over-long report as "!\x01". */
static void note(struct dc_buf *out, enum dc_line r, const char *line, size_t len)
{
    if (r == DC_LINE_OK)
        dc_buf_append(out, line, len);
    else
        dc_buf_append_str(out, "!");
    dc_buf_append_byte(out, '\x01');
}

/* Drain every line f has now. A line must be NUL-terminated in place. */
static void drain(struct dc_lines *f, struct dc_buf *out)
{
    char *line;
    size_t len;
    enum dc_line r;
    while ((r = dc_lines_next(f, &line, &len)) != DC_LINE_MORE) {
        if (r == DC_LINE_OK) {
            cr_assert_eq(line[len], '\0');
            cr_assert_leq(len, f->max);
        }
        note(out, r, line, len);
    }
}

/* s fed to a buffered framer in reads cut at the given points (sorted,
 * ending with n); the result as note() writes it. */
static char *frame_cuts(const char *s, size_t n, char sep, size_t max, unsigned flags, const size_t *cuts,
                        size_t ncuts)
{
    struct dc_lines f;
    struct dc_buf out;
    dc_lines_init(&f, sep, max, flags);
    dc_buf_init(&out, 0);
    cr_assert_eq(cuts[ncuts - 1], n);
    size_t at = 0;
    for (size_t i = 0; i < ncuts; i++) {
        cr_assert_eq(dc_lines_feed(&f, s + at, cuts[i] - at), 0);
        at = cuts[i];
        drain(&f, &out);
        /* Held once drained: a partial line, at most max bytes. */
        cr_assert_leq(dc_lines_held(&f), max);
    }
    dc_lines_cleanup(&f);
    char *r = dc_buf_steal(&out, NULL);
    return r ? r : strdup("");
}

static char *frame_step(const char *s, size_t n, char sep, size_t max, unsigned flags, size_t step)
{
    size_t cuts[512], k = 0;
    for (size_t at = step; at < n; at += step)
        cuts[k++] = at;
    cuts[k++] = n;
    cr_assert_leq(k, 512);
    return frame_cuts(s, n, sep, max, flags, cuts, k);
}

/* The same stream through the evbuffer adapter: bytes added at the cuts
 * (each a chain of its own), lines taken after each add. An over-long line
 * ends it, as every DC caller closes then. */
static char *frame_ev(const char *s, size_t n, char sep, size_t max, const size_t *cuts, size_t ncuts)
{
    struct evbuffer *in = evbuffer_new();
    struct dc_buf out;
    dc_buf_init(&out, 0);
    char *line = malloc(max + 1);
    size_t at = 0, len;
    cr_assert_eq(cuts[ncuts - 1], n);
    for (size_t i = 0; i < ncuts; i++) {
        /* A chain per add: evbuffer_add would fill the last chain's room. */
        struct evbuffer *piece = evbuffer_new();
        evbuffer_add(piece, s + at, cuts[i] - at);
        evbuffer_add_buffer(in, piece);
        evbuffer_free(piece);
        at = cuts[i];
        enum dc_line r;
        while ((r = dc_lines_ev_next(in, sep, max, line, &len)) == DC_LINE_OK) {
            cr_assert_eq(line[len], '\0');
            note(&out, r, line, len);
        }
        if (r == DC_LINE_TOO_LONG) {
            size_t before = evbuffer_get_length(in);
            cr_assert_eq(dc_lines_ev_next(in, sep, max, line, &len), DC_LINE_TOO_LONG, "and stays so");
            cr_assert_eq(evbuffer_get_length(in), before, "nothing taken");
            note(&out, r, NULL, 0);
            break;
        }
    }
    free(line);
    evbuffer_free(in);
    char *r = dc_buf_steal(&out, NULL);
    return r ? r : strdup("");
}

/* The buffered framer's result cut after its first over-long report (what
 * the adapter's caller sees). */
static void cut_after_first_report(char *s)
{
    char *bang = strstr(s, "!\x01");
    if (bang && (bang == s || bang[-1] == '\x01'))
        bang[2] = '\0';
}

static void expect_every_split(const char *s, char sep, size_t max, unsigned flags, const char *want)
{
    size_t n = strlen(s);
    char *got;
    for (size_t step = 1; step <= n; step++) {
        got = frame_step(s, n, sep, max, flags, step);
        cr_assert_str_eq(got, want, "reads of %zu bytes", step);
        free(got);
    }
    for (size_t cut = 0; cut <= n; cut++) {
        size_t cuts[2] = {cut, n};
        got = frame_cuts(s, n, sep, max, flags, cuts, 2);
        cr_assert_str_eq(got, want, "split at %zu", cut);
        free(got);
        if (flags)
            continue;   /* the adapter has no flags */
        char *ref = strdup(want);
        cut_after_first_report(ref);
        got = frame_ev(s, n, sep, max, cuts, 2);
        cr_assert_str_eq(got, ref, "evbuffer split at %zu", cut);
        free(got);
        free(ref);
    }
    /* The adapter, one byte per chain. */
    if (!flags) {
        size_t cuts[512], k = 0;
        for (size_t at = 1; at <= n; at++)
            cuts[k++] = at;
        char *ref = strdup(want);
        cut_after_first_report(ref);
        got = frame_ev(s, n, sep, max, cuts, k);
        cr_assert_str_eq(got, ref, "evbuffer, a byte per chain");
        free(got);
        free(ref);
    }
}

Test(lines, nmdc_stream_split_at_every_byte)
{
    /* A keep-alive first, one between lines, and '\n' inside a line is data. */
    expect_every_split("|$Lock EXTENDEDPROTOCOLabc Pk=x||<a> two\nlines|$Key k|partial", '|', 64, 0,
                       "\x01$Lock EXTENDEDPROTOCOLabc Pk=x\x01\x01<a> two\nlines\x01$Key k\x01");
}

Test(lines, adc_stream_split_at_every_byte)
{
    /* uhub's bare "\n" keep-alive; '|' and '\r' are data in ADC. */
    expect_every_split("\nHSUP ADBASE ADTIGR\n\nBMSG AAAB a|b\r\nIINF", '\n', 64, 0,
                       "\x01HSUP ADBASE ADTIGR\x01\x01" "BMSG AAAB a|b\r\x01");
}

Test(lines, a_line_of_max_bytes_is_read_one_more_is_too_long)
{
    expect_every_split("12345678|ab|", '|', 8, 0, "12345678\x01" "ab\x01");
    expect_every_split("123456789|ab|", '|', 8, 0, "!\x01" "ab\x01");
    /* Still arriving: 9 bytes without a separator are already too long. */
    expect_every_split("ok|123456789", '|', 8, 0, "ok\x01!\x01");
    /* 8 without one are not (yet). */
    expect_every_split("ok|12345678", '|', 8, 0, "ok\x01");
    expect_every_split("|", '|', 0, 0, "\x01");
    expect_every_split("a|", '|', 0, 0, "!\x01");
}

Test(lines, an_overlong_line_is_reported_once_and_the_next_read_intact)
{
    expect_every_split("ok\n12345678901234567890\nnext\n", '\n', 8, 0, "ok\x01!\x01next\x01");
    expect_every_split("x|yyyyyyyyyyyyyyyyyyyy|zzzzzzzzzzzzzzzzzz|w|", '|', 4, 0, "x\x01!\x01!\x01w\x01");
}

Test(lines, flags_drop_cr_and_skip_empty_lines)
{
    expect_every_split("a\r\n\n\r\nb\n", '\n', 8, DC_LINES_CRLF, "a\x01\x01\x01" "b\x01");
    expect_every_split("a\r\n\n\r\nb\n", '\n', 8, DC_LINES_CRLF | DC_LINES_SKIP_EMPTY, "a\x01" "b\x01");
    expect_every_split("a\r\n\n\r\nb\n", '\n', 8, DC_LINES_SKIP_EMPTY, "a\r\x01\r\x01" "b\x01");
    /* The '\r' counts against the bound: it is part of the line read. */
    expect_every_split("12345678\r\nab\n", '\n', 8, DC_LINES_CRLF, "!\x01" "ab\x01");
}

Test(lines, the_rest_at_eof)
{
    struct dc_lines f;
    char *line;
    size_t len = 99;
    dc_lines_init(&f, '|', 16, 0);
    cr_assert_null(dc_lines_rest(&f, &len), "nothing fed");
    cr_assert_eq(dc_lines_feed(&f, "a|$Supp", 7), 0);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_OK);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_MORE);
    line = dc_lines_rest(&f, &len);
    cr_assert_not_null(line);
    cr_assert_eq(len, 5);
    cr_assert_str_eq(line, "$Supp");
    cr_assert_null(dc_lines_rest(&f, &len), "consumed");
    cr_assert_eq(dc_lines_held(&f), 0);

    /* The rest of an over-long line is no line. */
    f.max = 4;
    cr_assert_eq(dc_lines_feed(&f, "123456", 6), 0);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_TOO_LONG);
    cr_assert_eq(dc_lines_feed(&f, "78", 2), 0);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_MORE);
    cr_assert_null(dc_lines_rest(&f, &len));
    /* And after it, a line again. */
    cr_assert_eq(dc_lines_feed(&f, "9|ok|", 5), 0);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_OK);
    cr_assert_str_eq(line, "9");
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_OK);
    cr_assert_str_eq(line, "ok");
    dc_lines_cleanup(&f);

    /* An empty rest is a line unless empty lines are skipped; "\r" too with CRLF. */
    dc_lines_init(&f, '\n', 16, DC_LINES_CRLF | DC_LINES_SKIP_EMPTY);
    cr_assert_eq(dc_lines_feed(&f, "\r", 1), 0);
    cr_assert_null(dc_lines_rest(&f, &len));
    cr_assert_eq(dc_lines_feed(&f, "x\r", 2), 0);
    line = dc_lines_rest(&f, &len);
    cr_assert_not_null(line);
    cr_assert_str_eq(line, "x");
    dc_lines_cleanup(&f);
}

Test(lines, reads_straight_into_space)
{
    struct dc_lines f;
    char *line;
    size_t len;
    dc_lines_init(&f, '\n', 32, 0);
    const char *parts[] = {"IINF ", "AAAB\nISTA 000\nIQ", "UI AAAB\n"};
    const char *want[] = {"IINF AAAB", "ISTA 000", "IQUI AAAB"};
    size_t got = 0;
    for (size_t i = 0; i < 3; i++) {
        char *p = dc_lines_space(&f, 64);
        cr_assert_not_null(p);
        memcpy(p, parts[i], strlen(parts[i]));
        dc_lines_commit(&f, strlen(parts[i]));
        while (dc_lines_next(&f, &line, &len) == DC_LINE_OK)
            cr_assert_str_eq(line, want[got++]);
    }
    cr_assert_eq(got, 3);
    cr_assert_eq(dc_lines_held(&f), 0);
    /* reset forgets a partial line. */
    cr_assert_eq(dc_lines_feed(&f, "half", 4), 0);
    dc_lines_reset(&f);
    cr_assert_eq(dc_lines_feed(&f, "whole\n", 6), 0);
    cr_assert_eq(dc_lines_next(&f, &line, &len), DC_LINE_OK);
    cr_assert_str_eq(line, "whole");
    dc_lines_cleanup(&f);
}

Test(lines, find_resumes_after_from_and_reads_at_most_max_plus_one)
{
    size_t n = 0;
    cr_assert_eq(dc_line_find("abc|d|", 6, 0, '|', 8, &n), DC_LINE_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(dc_line_find("abc|d|", 6, 3, '|', 8, &n), DC_LINE_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(dc_line_find("abc", 3, 3, '|', 8, &n), DC_LINE_MORE);
    cr_assert_eq(dc_line_find("", 0, 0, '|', 8, &n), DC_LINE_MORE);
    cr_assert_eq(dc_line_find("abcd|", 5, 0, '|', (size_t)-1, &n), DC_LINE_OK);
    /* A buffer of exactly max + 1 bytes (no terminator after it): only those are read. */
    char exact[9];
    memcpy(exact, "12345678", 8);
    exact[8] = 'x';
    cr_assert_eq(dc_line_find(exact, 9, 0, '|', 8, &n), DC_LINE_TOO_LONG);
    exact[8] = '|';
    cr_assert_eq(dc_line_find(exact, 9, 0, '|', 8, &n), DC_LINE_OK);
    cr_assert_eq(n, 8);
    cr_assert_eq(dc_line_window(5, 8), 5);
    cr_assert_eq(dc_line_window(50, 8), 9);
    cr_assert_eq(dc_line_window((size_t)-1, (size_t)-1), (size_t)-1);
}

/* A client-client connection: the line that starts a transfer and the data
 * after it arrive in one read, or split anywhere. The adapter must hand out
 * the line and leave every data byte (separators included) in the evbuffer. */
Test(lines_ev, the_bytes_after_a_line_stay_untouched)
{
    static const char head[] = "$ADCSND file x 0 12|";
    static const char data[] = "ab|c\n|d\0e||f";   /* 12 bytes, separators and a NUL */
    char s[64];
    size_t hn = sizeof head - 1, dn = sizeof data - 1, n = hn + dn;
    memcpy(s, head, hn);
    memcpy(s + hn, data, dn);
    for (size_t cut = 0; cut <= n; cut++) {
        struct evbuffer *in = evbuffer_new();
        char line[64];
        size_t len = 0;
        evbuffer_add(in, s, cut);
        enum dc_line r = dc_lines_ev_next(in, '|', 40, line, &len);
        if (cut < hn) {
            cr_assert_eq(r, DC_LINE_MORE, "cut %zu", cut);
            cr_assert_eq(evbuffer_get_length(in), cut, "nothing taken before the line is whole");
            struct evbuffer *piece = evbuffer_new();
            evbuffer_add(piece, s + cut, n - cut);
            evbuffer_add_buffer(in, piece);
            evbuffer_free(piece);
            r = dc_lines_ev_next(in, '|', 40, line, &len);
        } else {
            evbuffer_add(in, s + cut, n - cut);
        }
        cr_assert_eq(r, DC_LINE_OK, "cut %zu", cut);
        cr_assert_eq(len, hn - 1);
        cr_assert_str_eq(line, "$ADCSND file x 0 12");
        cr_assert_eq(evbuffer_get_length(in), dn, "cut %zu", cut);
        cr_assert_eq(memcmp(evbuffer_pullup(in, -1), data, dn), 0, "cut %zu: data untouched", cut);
        evbuffer_free(in);
    }
}

Test(lines_ev, the_search_stops_at_max_plus_one)
{
    struct evbuffer *in = evbuffer_new();
    char line[9];
    size_t len;
    cr_assert_eq(dc_lines_ev_next(in, '\n', 8, line, &len), DC_LINE_MORE, "empty");
    evbuffer_add(in, "12345678", 8);
    cr_assert_eq(dc_lines_ev_next(in, '\n', 8, line, &len), DC_LINE_MORE);
    evbuffer_add(in, "\n", 1);
    cr_assert_eq(dc_lines_ev_next(in, '\n', 8, line, &len), DC_LINE_OK);
    cr_assert_eq(len, 8);
    cr_assert_str_eq(line, "12345678");
    cr_assert_eq(evbuffer_get_length(in), 0);
    /* The separator just past the window: too long, and left in place. */
    evbuffer_add(in, "123456789\nab\n", 13);
    cr_assert_eq(dc_lines_ev_next(in, '\n', 8, line, &len), DC_LINE_TOO_LONG);
    cr_assert_eq(evbuffer_get_length(in), 13);
    evbuffer_free(in);
}
