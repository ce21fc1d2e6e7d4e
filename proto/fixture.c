/* fixture.c: deterministic fixture files (see fixture.h). */
#include "proto/fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The byte stream of one file, produced chunk by chunk. */
struct gen {
    bool text;
    uint64_t x;      /* xorshift64* state */
    uint64_t line;   /* text: number of the current line */
    size_t at;       /* text: bytes of the current line already produced */
};

/* The next n bytes; n is a multiple of 8 except for the last chunk, so the
 * random stream steps once per 8 bytes across chunks. */
static void gen_fill(struct gen *g, char *buf, size_t n)
{
    if (g->text) {
        enum { LINE = 34 };   /* strlen("dcharness fixture line 0000000000\n") */
        char l[LINE + 1];
        for (size_t i = 0; i < n;) {
            snprintf(l, sizeof l, "dcharness fixture line %010llu\n", (unsigned long long)g->line);
            size_t k = LINE - g->at < n - i ? LINE - g->at : n - i;
            memcpy(buf + i, l + g->at, k);
            i += k;
            g->at += k;
            if (g->at == LINE)
                g->at = 0, g->line++;
        }
        return;
    }
    uint64_t x = g->x;
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0)
            x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        buf[i] = (char)((x * 0x2545F4914F6CDD1Du) >> (8 * (i % 8)));
    }
    g->x = x;
}

/* mkdir -p of path's parent directories. */
static int mkparents(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int dc_fixture_write(const char *path, int64_t size, uint64_t seed, bool text, char *err, size_t errlen)
{
    if (size < 0 || size > DC_FIXTURE_MAX_SIZE) {
        snprintf(err, errlen, "size must be 0..2^40");
        return -1;
    }
    size_t plen = strlen(path);
    if (plen && path[plen - 1] == '/') {   /* a directory (possibly empty) */
        if (mkparents(path) < 0) {
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    int fd = mkparents(path) < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    enum { CHUNK = 1 << 20 };   /* a multiple of 8 */
    char *buf = malloc(CHUNK);
    bool ok = buf != NULL;
    struct gen g = {.text = text, .x = seed ? seed : 0x9E3779B97F4A7C15u};   /* 0 would stick at 0 */
    for (int64_t left = size; ok && left > 0;) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        gen_fill(&g, buf, n);
        ok = write_all(fd, buf, n) == 0;
        left -= (int64_t)n;
    }
    free(buf);
    ok = close(fd) == 0 && ok;
    if (!ok) {
        snprintf(err, errlen, "cannot write %s", path);
        return -1;
    }
    return 0;
}
