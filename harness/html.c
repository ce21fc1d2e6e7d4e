/* html.c: the HTML report page (see html.h); the diagram is seqdiag.c's. */
#include "harness/html.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/lex.h"
#include "harness/seqdiag.h"

#define LOG_MAX (256 * 1024)   /* of each log or trace: its tail */
#define LINE_MAX_SHOWN 2000    /* bytes of one log line */
#define TEXT_MAX 65536         /* reasons, details */

/* Length of the UTF-8 sequence starting at p (of at most left bytes), or 0
 * when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned c = *p;
    size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n <= 1)
        return n;
    return n <= left && hr_utf8_valid((const char *)p, n) ? n : 0;
}

enum mode { HTML, SVG, PLAIN };

/* Markers in each mode: an escaped byte, a cut. */
static const char *const ESC[] = {"<span class=\"esc\">\\x%02X</span>", "<tspan class=\"esc\">\\x%02X</tspan>", "\\x%02X"};
static const char *const CUT[] = {"<span class=\"cut\">[&#8230; %zu more bytes]</span>",
                                  "<tspan class=\"cut\">[&#8230; %zu more bytes]</tspan>", "[&#8230; %zu more bytes]"};

static void text_in(struct dc_buf *b, const char *s, size_t len, size_t max, enum mode m)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_len(p + i, len - i);
        if (i + (n ? n : 1) > max)
            break;
        if (n > 1) {
            dc_buf_append(b, p + i, n);
            i += n;
            continue;
        }
        unsigned c = p[i++];
        switch (c) {
        case '&': dc_buf_append_str(b, "&amp;"); break;
        case '<': dc_buf_append_str(b, "&lt;"); break;
        case '>': dc_buf_append_str(b, "&gt;"); break;
        case '"': dc_buf_append_str(b, "&quot;"); break;
        case '\'': dc_buf_append_str(b, "&#39;"); break;
        case '\n': case '\t': dc_buf_append_byte(b, (char)c); break;
        default:
            if (n == 0 || c < 0x20 || c == 0x7f)
                dc_buf_appendf(b, ESC[m], c);
            else
                dc_buf_append_byte(b, (char)c);
        }
    }
    if (i < len)
        dc_buf_appendf(b, CUT[m], len - i);
}

void hr_html_text(struct dc_buf *b, const char *s, size_t len, size_t max)
{
    text_in(b, s, len, max, HTML);
}

void hr_svg_text(struct dc_buf *b, const char *s, size_t len, size_t max, bool plain)
{
    text_in(b, s, len, max, plain ? PLAIN : SVG);
}

static void text(struct dc_buf *b, const char *s)
{
    if (s)
        hr_html_text(b, s, strlen(s), TEXT_MAX);
}

char *hr_html_read_tail(const char *path, size_t max, size_t *len, size_t *skipped)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    size_t size = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 0;
    size_t from = size > max ? size - max : 0;
    char *buf = malloc((size - from) + 1);
    size_t got = buf && fseek(f, (long)from, SEEK_SET) == 0 ? fread(buf, 1, size - from, f) : 0;
    int saved = errno;
    fclose(f);
    if (!buf) {
        errno = saved;
        return NULL;
    }
    size_t start = 0;
    if (from) {   /* begin at a line start */
        char *nl = memchr(buf, '\n', got);
        start = nl ? (size_t)(nl - buf) + 1 : 0;
        memmove(buf, buf + start, got - start);
        got -= start;
    }
    buf[got] = '\0';
    *len = got;
    *skipped = from + start;
    return buf;
}

static const char *status_word(enum hr_status s)
{
    return s == HR_STATUS_PASS ? "pass" : s == HR_STATUS_FAIL ? "fail" : "skip";
}

static const char CSS[] =
    "body{font:14px/1.4 sans-serif;margin:1.5em;color:#222;background:#fff}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin:0 0 .4em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".badge{display:inline-block;min-width:3.2em;text-align:center;border-radius:3px;color:#fff;font-weight:bold;font-size:.85em;padding:0 4px}"
    ".badge.pass{background:#2a8a3a}.badge.fail{background:#c62828}.badge.skip{background:#888}"
    "tr.step.fail td{background:#fde8e8;font-weight:bold}tr.step.skip td{color:#999}"
    "section.case{border:1px solid #ddd;border-left:6px solid #888;padding:.6em 1em;margin:1em 0}"
    "section.case.pass{border-left-color:#2a8a3a}section.case.fail{border-left-color:#c62828}"
    "pre{background:#f7f7f7;border:1px solid #e4e4e4;padding:.5em;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:12px}"
    "code,pre,.mono{font-family:monospace}"
    ".cut{color:#fff;background:#b26a00;border-radius:2px;padding:0 3px}.esc{color:#b00;background:#fee}"
    "details{margin:.3em 0}summary{cursor:pointer}.diagram{overflow-x:auto;border:1px solid #e4e4e4;margin:.5em 0}"
    ".reason{color:#b71c1c;font-weight:bold}.warning{color:#8a5a00}";

static void steps_table(struct dc_buf *b, const struct hr_html_case *c)
{
    if (!c->nsteps)
        return;
    dc_buf_append_str(b, "<table class=\"steps\"><tr><th>line</th><th>step</th><th>result</th><th>start</th><th>time</th></tr>\n");
    for (size_t i = 0; i < c->nsteps; i++) {
        const struct hr_html_step *s = &c->steps[i];
        const char *word = s->status == HR_STATUS_PASS ? "pass" : s->status == HR_STATUS_FAIL ? "fail" : "not run";
        dc_buf_appendf(b, "<tr class=\"step %s\"%s><td class=\"num\">%d</td><td class=\"mono\">", status_word(s->status),
                       (int)i == c->fail_step ? " data-failing=\"1\"" : "", s->line);
        text(b, s->text);
        dc_buf_appendf(b, "</td><td><span class=\"badge %s\">%s</span></td>", status_word(s->status), word);
        if (s->status == HR_STATUS_SKIP)
            dc_buf_append_str(b, "<td></td><td></td></tr>\n");
        else
            dc_buf_appendf(b, "<td class=\"num\">+%.3f</td><td class=\"num\">%.3fs</td></tr>\n", s->start, s->seconds);
    }
    dc_buf_append_str(b, "</table>\n");
}

/* A log or trace in a collapsible block, each line cut at LINE_MAX_SHOWN. */
static void file_block(struct dc_buf *b, const char *title, const char *path)
{
    size_t len = 0, skipped = 0;
    char *buf = hr_html_read_tail(path, LOG_MAX, &len, &skipped);
    size_t lines = 0;
    for (size_t i = 0; buf && i < len; i++)
        lines += buf[i] == '\n';
    dc_buf_append_str(b, "<details class=\"log\"><summary>");
    text(b, title);
    dc_buf_append_str(b, " <span class=\"mono\">");
    text(b, path);
    if (buf)
        dc_buf_appendf(b, "</span> (%zu line%s%s)</summary><pre>", lines, lines == 1 ? "" : "s", skipped ? ", the end" : "");
    else
        dc_buf_appendf(b, "</span> (cannot read: %s)</summary><pre>", strerror(errno));
    if (skipped)
        dc_buf_appendf(b, "<span class=\"cut\">[&#8230; the first %zu bytes are not shown]</span>\n", skipped);
    for (size_t i = 0; buf && i < len;) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - buf) - i : len - i;
        hr_html_text(b, buf + i, n, LINE_MAX_SHOWN);
        dc_buf_append_byte(b, '\n');
        i += n + 1;
    }
    dc_buf_append_str(b, "</pre></details>\n");
    free(buf);
}

static void case_section(struct dc_buf *b, size_t idx, const struct hr_html_case *c, const struct hr_html_opts *o)
{
    const char *st = status_word(c->status);
    dc_buf_appendf(b, "<section class=\"case %s\" id=\"case-%zu\" data-status=\"%s\"><h2><span class=\"badge %s\">%s</span> ", st,
                   idx + 1, st, st, c->status == HR_STATUS_PASS ? "PASS" : c->status == HR_STATUS_FAIL ? "FAIL" : "SKIP");
    text(b, c->name);
    dc_buf_appendf(b, " <small>(%.2fs)</small></h2>\n<div class=\"mono\">", c->seconds);
    text(b, c->file);
    dc_buf_append_str(b, "</div>\n");
    if (c->reason) {
        dc_buf_appendf(b, "<p class=\"%s\">", c->status == HR_STATUS_FAIL ? "reason" : "skip-reason");
        text(b, c->reason);
        dc_buf_append_str(b, "</p>\n");
    }
    if (c->warning) {
        dc_buf_append_str(b, "<p class=\"warning\">warning: ");
        text(b, c->warning);
        dc_buf_append_str(b, "</p>\n");
    }
    steps_table(b, c);
    if (c->status == HR_STATUS_FAIL && c->details) {
        dc_buf_append_str(b, "<details class=\"report\"><summary>the failure report (as printed)</summary><pre>");
        text(b, c->details);
        dc_buf_append_str(b, "</pre></details>\n");
    }
    if (c->status != HR_STATUS_SKIP && (c->status == HR_STATUS_FAIL || o->all) && (c->nprocs || c->trace_path)) {
        dc_buf_append_str(b, "<div class=\"diagram\">\n");
        hr_seqdiag_svg(b, c);
        dc_buf_append_str(b, "</div>\n");
    }
    for (size_t i = 0; i < c->nprocs; i++)
        if (c->procs[i].log_path)
            file_block(b, c->procs[i].name, c->procs[i].log_path);
    for (size_t i = 0; i < c->nfiles; i++)
        file_block(b, c->files[i].title, c->files[i].path);
    if (c->trace_path)
        file_block(b, "hub trace", c->trace_path);
    dc_buf_append_str(b, "</section>\n");
}

int hr_html_write(FILE *f, const struct hr_html_case *cases, size_t n, const struct hr_html_opts *o)
{
    size_t count[3] = {0, 0, 0};
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        count[cases[i].status]++;
        total += cases[i].seconds;
    }
    struct dc_buf b;
    dc_buf_init(&b, 0);
    const char *title = o->title ? o->title : "dcharness report";
    dc_buf_append_str(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\n<title>");
    text(&b, title);
    dc_buf_appendf(&b, "</title>\n<style>%s</style></head>\n<body>\n<h1>", CSS);
    text(&b, title);
    dc_buf_appendf(&b, ": %zu run%s, %zu passed, %zu failed, %zu skipped (%.1fs)</h1>\n", n, n == 1 ? "" : "s",
                   count[HR_STATUS_PASS], count[HR_STATUS_FAIL], count[HR_STATUS_SKIP], total);
    dc_buf_append_str(&b, "<table class=\"summary\"><tr><th>#</th><th>result</th><th>scenario</th><th>file</th><th>time</th><th>why</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        const struct hr_html_case *c = &cases[i];
        const char *st = status_word(c->status);
        dc_buf_appendf(&b, "<tr class=\"%s\"><td class=\"num\">%zu</td><td><span class=\"badge %s\">%s</span></td><td><a href=\"#case-%zu\">",
                       st, i + 1, st, st, i + 1);
        text(&b, c->name);
        dc_buf_append_str(&b, "</a></td><td class=\"mono\">");
        text(&b, c->file);
        dc_buf_appendf(&b, "</td><td class=\"num\">%.2fs</td><td>", c->seconds);
        if (c->reason)
            hr_html_text(&b, c->reason, strlen(c->reason), 200);
        dc_buf_append_str(&b, "</td></tr>\n");
    }
    dc_buf_append_str(&b, "</table>\n");
    for (size_t i = 0; i < n; i++) {
        case_section(&b, i, &cases[i], o);
        /* Write as we go: a page of many failed runs is large. */
        if (fwrite(b.data, 1, b.len, f) != b.len) {
            dc_buf_cleanup(&b);
            return -1;
        }
        dc_buf_reset(&b);
    }
    dc_buf_append_str(&b, "</body></html>\n");
    size_t w = fwrite(b.data, 1, b.len, f);
    int rc = w == b.len && fflush(f) == 0 ? 0 : -1;
    dc_buf_cleanup(&b);
    return rc;
}
