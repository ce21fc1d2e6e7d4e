/* buf.c: growable byte buffer (see buf.h). Growth doubles from 64 bytes; the
 * cap check happens before any allocation, so a refused append leaves the
 * buffer exactly as it was. */
#include "proto/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dc_buf_init(struct dc_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void dc_buf_cleanup(struct dc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void dc_buf_reset(struct dc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int dc_buf_reserve(struct dc_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return -1;
    size_t need = b->len + extra + 1;   /* room for the NUL */
    if (b->max && b->len + extra > b->max)
        return -1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int dc_buf_append(struct dc_buf *b, const void *p, size_t n)
{
    /* p may point into b itself (appending part of the buffer to itself):
     * remember it as an offset, since reserve may move the data. */
    const char *src = p;
    size_t self = b->data && src >= b->data && src < b->data + b->cap
                      ? (size_t)(src - b->data) : SIZE_MAX;
    if (dc_buf_reserve(b, n) < 0)
        return -1;
    if (self != SIZE_MAX)
        p = b->data + self;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int dc_buf_append_str(struct dc_buf *b, const char *s)
{
    return dc_buf_append(b, s, strlen(s));
}

int dc_buf_append_byte(struct dc_buf *b, char c)
{
    return dc_buf_append(b, &c, 1);
}

/* Unlike dc_buf_append, the arguments must not point into b itself: they are
 * read while b->data is written (and possibly moved), which cannot be detected
 * through a va_list. */
int dc_buf_vappendf(struct dc_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || dc_buf_reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int dc_buf_appendf(struct dc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dc_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *dc_buf_steal(struct dc_buf *b, size_t *len)
{
    if (!b->data && dc_buf_reserve(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
