/* report.c: TAP and JUnit XML writers (see report.h). */
#include "harness/report.h"

#include <stdlib.h>
#include <string.h>

void hr_xml_escape(struct dc_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        size_t have = 0;
        while (have < n && p[have])
            have++;
        if (n == 0 || have < n || !hr_utf8_valid((const char *)p, n)) {
            dc_buf_append_str(b, "\xef\xbf\xbd");
            p++;
            continue;
        }
        if (n > 1) {
            /* U+FFFE and U+FFFF are not XML characters either. */
            if (n == 3 && p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
                dc_buf_append_str(b, "\xef\xbf\xbd");
            else
                dc_buf_append(b, p, n);
            p += n;
            continue;
        }
        switch (c) {
        case '&': dc_buf_append_str(b, "&amp;"); break;
        case '<': dc_buf_append_str(b, "&lt;"); break;
        case '>': dc_buf_append_str(b, "&gt;"); break;
        case '"': dc_buf_append_str(b, "&quot;"); break;
        case '\'': dc_buf_append_str(b, "&apos;"); break;
        case '\n': case '\t': dc_buf_append_byte(b, (char)c); break;
        case '\r': dc_buf_append_str(b, "&#13;"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                dc_buf_append_str(b, "\xef\xbf\xbd");
            else
                dc_buf_append_byte(b, (char)c);
        }
        p++;
    }
}

char *hr_classname(const char *path)
{
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    while (*path == '/')
        path++;
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    size_t n = dot && (!slash || dot > slash) && dot != path ? (size_t)(dot - path) : strlen(path);
    char *c = strndup(path, n);
    for (char *q = c; *q; q++)
        if (*q == '/' || *q == '.')
            *q = *q == '/' ? '.' : '_';
    return c;
}

/* TAP descriptions must not contain '#' (it starts a directive) or newlines. */
static void tap_text(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '#' ? '_' : *s == '\n' ? ' ' : *s, f);
}

void hr_tap_case(FILE *f, size_t number, const struct hr_case *c)
{
    fprintf(f, "%s %zu - ", c->status == HR_STATUS_FAIL ? "not ok" : "ok", number);
    tap_text(f, c->name);
    if (c->status == HR_STATUS_SKIP) {
        fputs(" # SKIP ", f);
        tap_text(f, c->reason ? c->reason : "");
    }
    fputc('\n', f);
    if (c->status != HR_STATUS_FAIL)
        return;
    for (const char *s = c->details ? c->details : c->reason ? c->reason : ""; *s;) {
        size_t n = strcspn(s, "\n");
        fprintf(f, "#   %.*s\n", (int)n, s);
        s += n + (s[n] == '\n');
    }
    if (c->rerun)
        fprintf(f, "#   rerun: %s\n", c->rerun);
}

void hr_junit_write(FILE *f, const char *suite, const struct hr_case *cases, size_t n)
{
    size_t fails = 0, skips = 0;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        fails += cases[i].status == HR_STATUS_FAIL;
        skips += cases[i].status == HR_STATUS_SKIP;
        total += cases[i].seconds;
    }
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_appendf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
                   n, fails, skips, total);
    dc_buf_append_str(&b, "  <testsuite name=\"");
    hr_xml_escape(&b, suite);
    dc_buf_appendf(&b, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n", n, fails, skips, total);
    for (size_t i = 0; i < n; i++) {
        const struct hr_case *c = &cases[i];
        dc_buf_append_str(&b, "    <testcase classname=\"");
        hr_xml_escape(&b, c->classname);
        dc_buf_append_str(&b, "\" name=\"");
        hr_xml_escape(&b, c->name);
        dc_buf_appendf(&b, "\" time=\"%.3f\"", c->seconds);
        if (c->status == HR_STATUS_PASS) {
            dc_buf_append_str(&b, "/>\n");
            continue;
        }
        dc_buf_append_str(&b, ">\n      <");
        dc_buf_append_str(&b, c->status == HR_STATUS_SKIP ? "skipped" : "failure");
        dc_buf_append_str(&b, " message=\"");
        hr_xml_escape(&b, c->reason ? c->reason : "");
        if (c->status == HR_STATUS_SKIP) {
            dc_buf_append_str(&b, "\"/>\n");
        } else {
            dc_buf_append_str(&b, "\" type=\"failure\">");
            hr_xml_escape(&b, c->details ? c->details : "");
            dc_buf_append_str(&b, "</failure>\n      <system-out>");
            hr_xml_escape(&b, c->details ? c->details : "");
            if (c->rerun) {
                dc_buf_append_str(&b, "rerun: ");
                hr_xml_escape(&b, c->rerun);
                dc_buf_append_str(&b, "\n");
            }
            dc_buf_append_str(&b, "</system-out>\n");
        }
        dc_buf_append_str(&b, "    </testcase>\n");
    }
    dc_buf_append_str(&b, "  </testsuite>\n</testsuites>\n");
    fwrite(b.data, 1, b.len, f);
    dc_buf_cleanup(&b);
}
