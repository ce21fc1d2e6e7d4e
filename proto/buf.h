/* buf.h: a growable byte buffer, the one output type of every proto/ formatter.
 *
 * Formatters append to a caller-owned struct dc_buf; the data is always kept
 * NUL-terminated (the NUL is not counted in len) so text output can be used as a
 * C string. A buffer may carry a cap: growth past it fails instead of eating
 * memory (curl's dynbuf "toobig").
 *
 * Ownership: the caller owns the struct; data is owned by it and released by
 * dc_buf_cleanup(). Functions return 0 or -1 (allocation failure or cap reached),
 * and on failure the buffer keeps its previous content.
 */
#ifndef DC_PROTO_BUF_H
#define DC_PROTO_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct dc_buf {
    char *data;   /* owned; NULL until the first append */
    size_t len;   /* bytes used, excluding the trailing NUL */
    size_t cap;   /* bytes allocated */
    size_t max;   /* 0 = unlimited, else the largest len allowed */
};

void dc_buf_init(struct dc_buf *b, size_t max);
void dc_buf_cleanup(struct dc_buf *b);
void dc_buf_reset(struct dc_buf *b);                     /* len = 0, keeps memory */
int dc_buf_reserve(struct dc_buf *b, size_t extra);
int dc_buf_append(struct dc_buf *b, const void *p, size_t n);
int dc_buf_append_str(struct dc_buf *b, const char *s);
int dc_buf_append_byte(struct dc_buf *b, char c);
/* The arguments must not point into b itself: growth may move it. */
int dc_buf_appendf(struct dc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dc_buf_vappendf(struct dc_buf *b, const char *fmt, va_list ap);
/* Move the data out: the caller owns the returned string (free()); b is left empty. */
char *dc_buf_steal(struct dc_buf *b, size_t *len);

#endif
