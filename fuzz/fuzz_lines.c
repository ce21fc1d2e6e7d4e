/* fuzz_lines.c: libFuzzer target for the line framer (proto/lines.c) and its
 * evbuffer adapter (proto/lines_ev.c), which frame every byte a hub, a peer
 * or a controller sends.
 *
 * Input: byte 0 picks the separator ('|' or '\n') and the flags (CRLF,
 * SKIP_EMPTY); byte 1 the bound (0..63, or 64..4095 scaled); bytes 2-3 seed
 * the read sizes (1..64 bytes each); the rest is the stream.
 *
 * Properties: the buffered framer fed the stream in those reads gives what
 * a reference that sees the whole stream at once gives (lines, over-long
 * reports, the rest at EOF), whatever the reads; every line is at most max
 * bytes, holds no separator and is NUL-terminated; what it holds after
 * draining is at most max bytes. Without flags, the adapter, given the
 * same reads as separate evbuffer chains, gives the same lines up to the
 * first over-long report, and leaves the rest of the stream in the evbuffer
 * byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/lines.h"
#include "proto/lines_ev.h"

/* Events as bytes: a line as 'L' + its bytes + 0xFF... is ambiguous with
 * binary lines, so each event is a tag, a 4-byte length and the bytes. */
static void ev_put(struct dc_buf *out, char tag, const char *p, size_t n)
{
    uint32_t len = (uint32_t)n;
    dc_buf_append_byte(out, tag);
    dc_buf_append(out, &len, sizeof len);
    if (n)
        dc_buf_append(out, p, n);
}

/* The rule applied to the whole stream at once, without the framer. */
static void reference(const char *s, size_t n, char sep, size_t max, unsigned flags, struct dc_buf *out)
{
    size_t pos = 0;
    while (pos < n) {
        const char *end = memchr(s + pos, sep, n - pos);
        size_t len = end ? (size_t)(end - (s + pos)) : n - pos;
        if (len > max) {
            ev_put(out, '!', NULL, 0);
            if (!end)
                return;   /* an over-long rest is no line at EOF */
        } else if (!end) {
            if ((flags & DC_LINES_CRLF) && s[pos + len - 1] == '\r')
                len--;
            if (len || !(flags & DC_LINES_SKIP_EMPTY))
                ev_put(out, 'E', s + pos, len);
            return;
        } else {
            size_t l = len;
            if ((flags & DC_LINES_CRLF) && l && s[pos + l - 1] == '\r')
                l--;
            if (l || !(flags & DC_LINES_SKIP_EMPTY))
                ev_put(out, 'L', s + pos, l);
        }
        pos += len + 1;
    }
}

static size_t next_read(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return 1 + *x % 64;
}

static void check_line(const char *line, size_t len, char sep, size_t max)
{
    if (len > max || line[len] != '\0' || memchr(line, sep, len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    char sep = data[0] & 1 ? '\n' : '|';
    unsigned flags = (data[0] >> 1) & 3;
    size_t max = data[1] < 64 ? data[1] : (size_t)(data[1] - 63) * 21;
    uint32_t seed = (uint32_t)data[2] << 8 | data[3] | 1u << 20;
    const char *s = (const char *)data + 4;
    size_t n = size - 4;

    struct dc_buf want, got;
    dc_buf_init(&want, 0);
    dc_buf_init(&got, 0);
    reference(s, n, sep, max, flags, &want);

    struct dc_lines f;
    dc_lines_init(&f, sep, max, flags);
    struct evbuffer *in = evbuffer_new();
    struct dc_buf ev;
    dc_buf_init(&ev, 0);
    char *evline = malloc(max + 1);
    bool ev_stopped = flags != 0;   /* the adapter has no flags */
    size_t at = 0, len;
    uint32_t x = seed;
    while (at < n) {
        size_t k = next_read(&x);
        if (k > n - at)
            k = n - at;
        /* Alternate the two ways of feeding. */
        if (x & 1) {
            char *room = dc_lines_space(&f, k);
            if (!room)
                abort();
            memcpy(room, s + at, k);
            dc_lines_commit(&f, k);
        } else if (dc_lines_feed(&f, s + at, k) < 0) {
            abort();
        }
        char *line;
        enum dc_line r;
        while ((r = dc_lines_next(&f, &line, &len)) != DC_LINE_MORE) {
            if (r == DC_LINE_OK)
                check_line(line, len, sep, max);
            ev_put(&got, r == DC_LINE_OK ? 'L' : '!', r == DC_LINE_OK ? line : NULL, r == DC_LINE_OK ? len : 0);
        }
        if (dc_lines_held(&f) > max)
            abort();
        if (!ev_stopped) {
            struct evbuffer *piece = evbuffer_new();
            evbuffer_add(piece, s + at, k);
            evbuffer_add_buffer(in, piece);
            evbuffer_free(piece);
            while ((r = dc_lines_ev_next(in, sep, max, evline, &len)) == DC_LINE_OK) {
                check_line(evline, len, sep, max);
                ev_put(&ev, 'L', evline, len);
            }
            if (r == DC_LINE_TOO_LONG) {
                ev_put(&ev, '!', NULL, 0);
                ev_stopped = true;
                /* Nothing was taken from the over-long line on: it and all
                 * after it are still there, byte for byte. */
                size_t consumed = 0;
                for (size_t i = 0; i < ev.len;) {
                    uint32_t l;
                    memcpy(&l, ev.data + i + 1, sizeof l);
                    consumed += ev.data[i] == 'L' ? l + 1 : 0;
                    i += 1 + sizeof l + l;
                }
                size_t left = evbuffer_get_length(in);
                if (consumed + left != at + k || memcmp(evbuffer_pullup(in, -1), s + consumed, left))
                    abort();
            }
        }
        at += k;
    }
    char *rest = dc_lines_rest(&f, &len);
    if (rest) {
        check_line(rest, len, sep, (size_t)-1);
        ev_put(&got, 'E', rest, len);
    }
    if (got.len != want.len || (got.len && memcmp(got.data, want.data, got.len)))
        abort();
    /* The adapter's lines are the reference's, up to its first report. */
    if (flags == 0 && ev.len && (ev.len > want.len || memcmp(ev.data, want.data, ev.len)))
        abort();
    if (flags == 0 && !ev_stopped) {
        /* No report: every line, and the unterminated rest still in the evbuffer. */
        size_t left = evbuffer_get_length(in);
        if (left && memcmp(evbuffer_pullup(in, -1), s + n - left, left))
            abort();
    }
    free(evline);
    dc_buf_cleanup(&ev);
    evbuffer_free(in);
    dc_lines_cleanup(&f);
    dc_buf_cleanup(&got);
    dc_buf_cleanup(&want);
    return 0;
}
