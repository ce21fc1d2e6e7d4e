/* flinput.c: the bytes a file list read parses (see flinput.h).
 *
 * Two layers. fl_stage turns the source into parser bytes (sniff, pass
 * through or bunzip2) and knows nothing of threads. fl_input runs the stage
 * on the caller's thread for the first thread_after bytes (a small list is
 * read before a thread would even have started), then, for bzip2 only (plain
 * XML has nothing to overlap), moves the stage to a worker thread that fills
 * FL_PIPE_BLOCKS blocks of FL_PIPE_BLOCK bytes in a ring while the caller
 * parses: the worker runs at most FL_PIPE_BLOCKS - 1 blocks ahead (the caller
 * holds the block it is reading), so memory stays bounded whatever the list
 * expands to, and the byte limit, counted by the parser's side, overshoots by
 * at most that much decompression work, never by memory.
 *
 * Ownership of the stage is handed over, never shared: the caller's thread
 * uses it until pthread_create, the worker after, and the caller again only
 * after the worker said it is done (under the mutex) or was joined. The ring
 * is guarded by one mutex and one condition variable (both sides wait on it,
 * every change broadcasts). fl_input_free always stops and joins the worker.
 */
#include "proto/flinput.h"

#include <bzlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FL_IN_BUF         65536        /* raw bytes per source call */
#define FL_WINDOW         65536        /* parser bytes per bzip2 call */
#define FL_PIPE_BLOCK     (1u << 19)   /* ring block: 8 windows */
#define FL_PIPE_BLOCKS    3            /* ring size: one being parsed, two ahead */
#define FL_THREAD_AFTER   (1u << 20)   /* default dc_fl_limits.thread_after */

enum fl_mode { fl_in_unknown, fl_in_plain, fl_in_bzip2, fl_in_bzip2_next };

/* Source to parser bytes. Borrows the source; owns in[] and the bz stream. */
struct fl_stage {
    dc_fl_source_cb source;
    void *source_ctx;
    enum fl_mode mode;
    bool src_eof;
    bool bz_live;             /* bz needs BZ2_bzDecompressEnd */
    bool failed;              /* err holds the reason; every later read fails */
    bz_stream bz;
    char *in;                 /* owned: FL_IN_BUF raw bytes */
    size_t in_pos, in_len;
    char err[DC_FL_ERR_LEN];
};

static void fl_stage_fail(struct fl_stage *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fl_stage_fail(struct fl_stage *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
}

/* Append what the source gives to in[] (which must have room). 0 or -1. */
static int fl_stage_pull(struct fl_stage *s)
{
    long n = s->source(s->in + s->in_len, FL_IN_BUF - s->in_len, s->source_ctx);
    if (n < 0 || (size_t)n > FL_IN_BUF - s->in_len) {
        fl_stage_fail(s, "read error from the list source");
        return -1;
    }
    s->in_len += (size_t)n;
    s->src_eof = n == 0;
    return 0;
}

/* Refill in[] once it is used up (a no-op before that, or after EOF). */
static int fl_stage_fill(struct fl_stage *s)
{
    if (s->in_pos < s->in_len || s->src_eof)
        return 0;
    s->in_pos = s->in_len = 0;
    return fl_stage_pull(s);
}

static int fl_stage_bz_start(struct fl_stage *s)
{
    memset(&s->bz, 0, sizeof s->bz);
    if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK) {
        fl_stage_fail(s, "bzip2: cannot initialise the decompressor");
        return -1;
    }
    s->bz_live = true;
    s->mode = fl_in_bzip2;
    return 0;
}

/* The next window of parser bytes into buf (FL_WINDOW bytes of room): > 0
 * bytes, 0 at the end, -1 (s->err). One bzip2 call per window, and the
 * source is read only when the decompressor has nothing pending, so windows
 * and errors fall at the same bytes on either thread. A window whose call
 * fails is dropped: a block that fails its CRC check came out as garbage,
 * and the parser should report the corruption, not the garbage. */
static long fl_stage_window(struct fl_stage *s, char *buf)
{
    if (s->failed)
        return -1;
    if (s->mode == fl_in_unknown) {
        /* Sniff "BZh"; a short first read is topped up so a source that
         * hands out one byte at a time is sniffed correctly too. */
        while (!s->src_eof && s->in_len < 3)
            if (fl_stage_pull(s))
                return -1;
        s->mode = fl_in_plain;
        if (s->in_len >= 3 && memcmp(s->in, "BZh", 3) == 0 && fl_stage_bz_start(s))
            return -1;
    }
    for (;;) {
        if (s->mode != fl_in_bzip2 && fl_stage_fill(s))
            return -1;
        size_t avail = s->in_len - s->in_pos;
        if (s->mode == fl_in_plain) {
            size_t n = avail < FL_WINDOW ? avail : FL_WINDOW;
            memcpy(buf, s->in + s->in_pos, n);
            s->in_pos += n;
            return (long)n;
        }
        if (s->mode == fl_in_bzip2_next) {
            /* After a stream end: clean EOF, or the next stream of a
             * multi-stream file (anything else fails its magic check). */
            if (avail == 0)
                return 0;
            if (fl_stage_bz_start(s))
                return -1;
        }
        s->bz.next_in = s->in + s->in_pos;
        s->bz.avail_in = (unsigned)avail;
        s->bz.next_out = buf;
        s->bz.avail_out = FL_WINDOW;
        int rc = BZ2_bzDecompress(&s->bz);
        s->in_pos = s->in_len - s->bz.avail_in;
        size_t produced = FL_WINDOW - s->bz.avail_out;
        if (rc == BZ_STREAM_END) {
            BZ2_bzDecompressEnd(&s->bz);
            s->bz_live = false;
            s->mode = fl_in_bzip2_next;
        } else if (rc != BZ_OK) {
            fl_stage_fail(s, "bzip2 data corrupt (%s)",
                          rc == BZ_DATA_ERROR_MAGIC ? "bad magic" :
                          rc == BZ_DATA_ERROR ? "integrity check failed" :
                          rc == BZ_MEM_ERROR ? "out of memory" : "decompressor error");
            return -1;
        } else if (produced == 0 && s->in_pos == s->in_len) {
            /* BZ_OK, room left, nothing out: it needs more input. */
            if (s->src_eof) {
                fl_stage_fail(s, "bzip2 data truncated (input ended before the end of stream)");
                return -1;
            }
            if (fl_stage_fill(s))
                return -1;
        }
        if (produced > 0)
            return (long)produced;
    }
}

/* ---- the pipeline ---------------------------------------------------------- */

struct fl_input {
    struct fl_stage st;        /* owned; used by one thread at a time (see top) */
    uint64_t thread_after;     /* bytes left to hand out before the worker starts */
    bool threaded;             /* the worker was started (and is not joined yet) */
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Guarded by mu: */
    char *blocks[FL_PIPE_BLOCKS];   /* owned */
    size_t lens[FL_PIPE_BLOCKS];
    unsigned head, count;      /* ring: count full blocks from head (the caller's) */
    bool done;                 /* the worker finished; after the blocks: end or error */
    bool stop;                 /* the caller asks the worker to finish */
    long end_rc;               /* 0: end of the list; -1: st.err */
    /* Caller's thread only: */
    bool holding;              /* blocks[head] is counted and being read */
    size_t cur_pos, cur_len;   /* in blocks[head], when holding */
    char *win;                 /* owned: the window being handed out, before the thread */
    size_t win_pos, win_len;
};

static void *fl_input_worker(void *arg)
{
    struct fl_input *in = arg;
    for (;;) {
        pthread_mutex_lock(&in->mu);
        while (in->count == FL_PIPE_BLOCKS && !in->stop)
            pthread_cond_wait(&in->cv, &in->mu);
        bool stop = in->stop;
        unsigned slot = (in->head + in->count) % FL_PIPE_BLOCKS;
        pthread_mutex_unlock(&in->mu);
        if (stop)
            return NULL;
        /* slot is not counted, so the caller does not touch it. */
        size_t len = 0;
        long rc = 1;
        while (FL_PIPE_BLOCK - len >= FL_WINDOW && (rc = fl_stage_window(&in->st, in->blocks[slot] + len)) > 0)
            len += (size_t)rc;
        pthread_mutex_lock(&in->mu);
        if (len > 0) {
            in->lens[slot] = len;
            in->count++;
        }
        if (rc <= 0) {
            in->done = true;
            in->end_rc = rc;
        }
        pthread_cond_broadcast(&in->cv);
        pthread_mutex_unlock(&in->mu);
        if (rc <= 0)
            return NULL;
    }
}

/* Move the stage to the worker. Stays on the caller's thread (no error)
 * when memory or a thread cannot be had: the read is only slower. */
static void fl_input_start(struct fl_input *in)
{
    for (unsigned i = 0; i < FL_PIPE_BLOCKS; i++)
        if ((in->blocks[i] = malloc(FL_PIPE_BLOCK)) == NULL)
            goto fail;
    if (pthread_mutex_init(&in->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&in->cv, NULL) != 0) {
        pthread_mutex_destroy(&in->mu);
        goto fail;
    }
    /* The worker starts with every signal blocked, so signals still go to
     * the threads the program knows of, as before there was a worker. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&in->worker, NULL, fl_input_worker, in);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&in->cv);
        pthread_mutex_destroy(&in->mu);
        goto fail;
    }
    in->threaded = true;
    return;
fail:
    for (unsigned i = 0; i < FL_PIPE_BLOCKS; i++) {
        free(in->blocks[i]);
        in->blocks[i] = NULL;
    }
    in->thread_after = UINT64_MAX;   /* do not try again */
}

struct fl_input *fl_input_new(dc_fl_source_cb source, void *source_ctx, uint64_t thread_after)
{
    struct fl_input *in = calloc(1, sizeof *in);
    if (in == NULL)
        return NULL;
    in->st = (struct fl_stage){.source = source, .source_ctx = source_ctx, .mode = fl_in_unknown};
    in->thread_after = thread_after ? thread_after : FL_THREAD_AFTER;
    if ((in->st.in = malloc(FL_IN_BUF)) == NULL || (in->win = malloc(FL_WINDOW)) == NULL) {
        free(in->st.in);
        free(in);
        return NULL;
    }
    return in;
}

static int fl_input_read_threaded(struct fl_input *in, char *buf, int len)
{
    if (!in->holding || in->cur_pos == in->cur_len) {
        pthread_mutex_lock(&in->mu);
        if (in->holding) {          /* head used up: give it back to the worker */
            in->head = (in->head + 1) % FL_PIPE_BLOCKS;
            in->count--;
            in->holding = false;
            pthread_cond_broadcast(&in->cv);
        }
        while (in->count == 0 && !in->done)
            pthread_cond_wait(&in->cv, &in->mu);
        if (in->count > 0) {
            in->holding = true;
            in->cur_pos = 0;
            in->cur_len = in->lens[in->head];
        }
        long end_rc = in->end_rc;
        pthread_mutex_unlock(&in->mu);
        if (!in->holding)
            return (int)end_rc;    /* the worker is done: st is the caller's again */
    }
    /* blocks[head] stays the caller's until it is given back above. */
    size_t n = in->cur_len - in->cur_pos;
    if (n > (size_t)len)
        n = (size_t)len;
    memcpy(buf, in->blocks[in->head] + in->cur_pos, n);
    in->cur_pos += n;
    return (int)n;
}

int fl_input_read(struct fl_input *in, char *buf, int len)
{
    if (len <= 0)
        return 0;
    if (in->threaded)
        return fl_input_read_threaded(in, buf, len);
    if (in->win_pos == in->win_len) {
        /* Between windows: the worker can take over the stage here and go
         * on with the same windows the caller's thread would have read. */
        if (in->thread_after == 0 && (in->st.mode == fl_in_bzip2 || in->st.mode == fl_in_bzip2_next) &&
            !in->st.failed) {
            fl_input_start(in);
            if (in->threaded)
                return fl_input_read_threaded(in, buf, len);
        }
        long n = fl_stage_window(&in->st, in->win);
        if (n <= 0)
            return (int)n;
        in->win_pos = 0;
        in->win_len = (size_t)n;
        if (in->thread_after != UINT64_MAX)
            in->thread_after = (uint64_t)n < in->thread_after ? in->thread_after - (uint64_t)n : 0;
    }
    size_t n = in->win_len - in->win_pos;
    if (n > (size_t)len)
        n = (size_t)len;
    memcpy(buf, in->win + in->win_pos, n);
    in->win_pos += n;
    return (int)n;
}

const char *fl_input_error(const struct fl_input *in)
{
    /* After -1 the worker (if any) is done, so st is not being written. */
    return in->st.err;
}

void fl_input_free(struct fl_input *in)
{
    if (in == NULL)
        return;
    if (in->threaded) {
        pthread_mutex_lock(&in->mu);
        in->stop = true;
        pthread_cond_broadcast(&in->cv);
        pthread_mutex_unlock(&in->mu);
        pthread_join(in->worker, NULL);
        pthread_cond_destroy(&in->cv);
        pthread_mutex_destroy(&in->mu);
    }
    for (unsigned i = 0; i < FL_PIPE_BLOCKS; i++)
        free(in->blocks[i]);
    free(in->win);
    if (in->st.bz_live)
        BZ2_bzDecompressEnd(&in->st.bz);
    free(in->st.in);
    free(in);
}
