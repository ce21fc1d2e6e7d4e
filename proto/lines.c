/* lines.c: the line framer (see lines.h).
 *
 * The buffered framer keeps unconsumed bytes in one dc_buf and consumes
 * lines by moving an offset, so a line handed out stays put until the next
 * feed, which first moves the unconsumed tail to the front. scanned
 * remembers how far a partial line was searched, so a line arriving in
 * many small reads is scanned once, not once per read.
 */
#include "proto/lines.h"

#include <string.h>

enum dc_line dc_line_find(const char *buf, size_t len, size_t from, char sep, size_t max, size_t *n)
{
    size_t window = dc_line_window(len, max);
    const char *end = from < window ? memchr(buf + from, sep, window - from) : NULL;
    if (end) {
        *n = (size_t)(end - buf);
        return DC_LINE_OK;
    }
    return len > max ? DC_LINE_TOO_LONG : DC_LINE_MORE;
}

void dc_lines_init(struct dc_lines *f, char sep, size_t max, unsigned flags)
{
    dc_buf_init(&f->in, 0);
    f->start = f->scanned = 0;
    f->max = max;
    f->sep = sep;
    f->flags = flags;
    f->discarding = false;
}

void dc_lines_cleanup(struct dc_lines *f)
{
    dc_buf_cleanup(&f->in);
    f->start = f->scanned = 0;
    f->discarding = false;
}

void dc_lines_reset(struct dc_lines *f)
{
    dc_buf_reset(&f->in);
    f->start = f->scanned = 0;
    f->discarding = false;
}

/* Move the unconsumed bytes to the front. */
static void dc_lines_compact(struct dc_lines *f)
{
    if (!f->start)
        return;
    size_t rest = f->in.len - f->start;
    memmove(f->in.data, f->in.data + f->start, rest);
    f->in.len = rest;
    f->in.data[rest] = '\0';
    f->start = 0;
}

int dc_lines_feed(struct dc_lines *f, const void *p, size_t n)
{
    dc_lines_compact(f);
    return dc_buf_append(&f->in, p, n);
}

char *dc_lines_space(struct dc_lines *f, size_t n)
{
    dc_lines_compact(f);
    return dc_buf_reserve(&f->in, n) < 0 ? NULL : f->in.data + f->in.len;
}

void dc_lines_commit(struct dc_lines *f, size_t n)
{
    f->in.len += n;
    f->in.data[f->in.len] = '\0';
}

/* Drop n bytes from the front of what is held. */
static void dc_lines_consume(struct dc_lines *f, size_t n)
{
    f->start += n;
    f->scanned = 0;
    if (f->start == f->in.len)
        f->start = f->in.len = 0;   /* nothing left: the next feed moves nothing */
}

enum dc_line dc_lines_next(struct dc_lines *f, char **line, size_t *len)
{
    while (dc_lines_held(f)) {
        char *p = f->in.data + f->start;
        size_t have = dc_lines_held(f), n;
        if (f->discarding) {
            /* The rest of an over-long line: skip it, however long. */
            char *end = memchr(p, f->sep, have);
            dc_lines_consume(f, end ? (size_t)(end - p) + 1 : have);
            f->discarding = !end;
            continue;
        }
        enum dc_line r = dc_line_find(p, have, f->scanned, f->sep, f->max, &n);
        if (r == DC_LINE_MORE) {
            f->scanned = have;
            return r;
        }
        if (r == DC_LINE_TOO_LONG) {
            /* The first max + 1 bytes hold no separator: drop them, skip the rest. */
            dc_lines_consume(f, dc_line_window(have, f->max));
            f->discarding = true;
            return r;
        }
        dc_lines_consume(f, n + 1);
        if ((f->flags & DC_LINES_CRLF) && n && p[n - 1] == '\r')
            n--;
        p[n] = '\0';
        if (n || !(f->flags & DC_LINES_SKIP_EMPTY)) {
            *line = p;
            *len = n;
            return DC_LINE_OK;
        }
    }
    return DC_LINE_MORE;
}

const char *dc_lines_take(struct dc_lines *f, size_t *n)
{
    *n = dc_lines_held(f);
    if (!*n)
        return NULL;
    const char *p = f->in.data + f->start;
    dc_lines_consume(f, *n);
    f->discarding = false;
    return p;
}

char *dc_lines_rest(struct dc_lines *f, size_t *len)
{
    size_t n = dc_lines_held(f);
    bool skip = f->discarding;
    f->discarding = false;
    if (!n)
        return NULL;   /* (and in.data may still be NULL) */
    char *p = f->in.data + f->start;
    dc_lines_consume(f, n);
    if (skip)
        return NULL;
    if ((f->flags & DC_LINES_CRLF) && p[n - 1] == '\r')
        n--;
    if (!n && (f->flags & DC_LINES_SKIP_EMPTY))
        return NULL;
    p[n] = '\0';
    *len = n;
    return p;
}
