/* floutput.c: where a file list writer's XML text goes (see floutput.h).
 *
 * Two layers, as in flinput.c. fl_ostage hands text to the sink, as it is
 * or through bzip2, and knows nothing of threads. fl_output runs the stage
 * on the caller's thread, one FL_OUT_TEXT buffer at a time, for the first
 * thread_after bytes (a small list is written before a thread would even
 * have started), then, for bzip2 only, moves the stage to a worker thread
 * that compresses FL_OUT_BLOCK blocks from a ring of FL_OUT_BLOCKS while the
 * caller fills the next one: the caller runs at most FL_OUT_BLOCKS - 1
 * blocks ahead (it holds the one it fills), so memory stays fixed whatever
 * the list's size.
 *
 * Ownership of the stage is handed over, never shared: the caller's thread
 * uses it until pthread_create, the worker after, and the caller again only
 * once the worker is joined. The ring is guarded by one mutex and one
 * condition variable (both sides wait on it, every change broadcasts). A
 * worker that fails (sink or bzip2 error) says so under the mutex and ends;
 * the caller sees it at its next swap. fl_output_free always stops and
 * joins the worker.
 */
#include "proto/floutput.h"

#include <bzlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define FL_OUT_TEXT          65536        /* text per bzip2 call, before the thread */
#define FL_OUT_BZ            65536        /* compressed bytes per sink call, at most */
#define FL_OUT_BLOCK         (1u << 17)   /* ring block: 128 KiB of text */
#define FL_OUT_BLOCKS        4            /* ring size: one being filled, three queued */
#define FL_OUT_THREAD_AFTER  (1u << 20)   /* default thread_after */
#define FL_OUT_LEVEL         9            /* what the bzip2 tool and DC++ use */

/* Text to the sink. Borrows the sink; owns out[] and the bz stream. */
struct fl_ostage {
    dc_fl_sink_cb sink;
    void *sink_ctx;
    bool compress;
    bool bz_live;             /* bz needs BZ2_bzCompressEnd */
    bool failed;              /* sticky: the sink or bzip2 failed; no more sink calls */
    bz_stream bz;
    char *out;                /* owned: FL_OUT_BZ compressed bytes (compress only) */
};

/* Plain: text to the sink. bzip2: compress text with action (BZ_RUN or
 * BZ_FINISH), draining out[] into the sink whenever it fills. 0 or -1. */
static int fl_ostage_put(struct fl_ostage *s, char *text, size_t len, int action)
{
    if (s->failed)
        return -1;
    if (!s->compress) {
        if (len > 0 && s->sink(text, len, s->sink_ctx) != 0)
            s->failed = true;
        return s->failed ? -1 : 0;
    }
    if (action == BZ_RUN && len == 0)
        return 0;     /* bzlib calls a no-progress BZ_RUN a parameter error */
    s->bz.next_in = text;
    s->bz.avail_in = (unsigned)len;
    for (;;) {
        s->bz.next_out = s->out;
        s->bz.avail_out = FL_OUT_BZ;
        int rc = BZ2_bzCompress(&s->bz, action);
        size_t n = FL_OUT_BZ - s->bz.avail_out;
        if ((rc != BZ_RUN_OK && rc != BZ_FINISH_OK && rc != BZ_STREAM_END) ||
            (n > 0 && s->sink(s->out, n, s->sink_ctx) != 0)) {
            s->failed = true;
            return -1;
        }
        if (action == BZ_RUN ? s->bz.avail_in == 0 : rc == BZ_STREAM_END)
            return 0;
    }
}

struct fl_output {
    struct fl_ostage st;       /* owned; used by one thread at a time (see top) */
    uint64_t thread_after;     /* bytes left before the worker starts; UINT64_MAX: never */
    char *text;                /* owned: FL_OUT_TEXT, the caller's buffer before the thread */
    bool failed;               /* caller's thread: sticky, a swap failed */
    bool threaded;             /* the worker was started and is not joined yet */
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Guarded by mu once threaded: */
    char *blocks[FL_OUT_BLOCKS];   /* owned */
    size_t lens[FL_OUT_BLOCKS];
    unsigned head, count;      /* ring: count queued blocks from head (the worker's) */
    bool finish;               /* the caller queued its last block: end the stream */
    bool stop;                 /* the caller asks the worker to drop the rest and end */
    bool worker_failed;        /* the worker's stage failed; it has ended */
};

static void *fl_output_worker(void *arg)
{
    struct fl_output *o = arg;
    for (;;) {
        pthread_mutex_lock(&o->mu);
        while (o->count == 0 && !o->finish && !o->stop)
            pthread_cond_wait(&o->cv, &o->mu);
        bool stop = o->stop, end = o->count == 0;
        unsigned slot = o->head;
        size_t len = o->lens[slot];
        pthread_mutex_unlock(&o->mu);
        if (stop)
            return NULL;
        if (end)      /* finish, and every queued block compressed */
            break;
        /* slot is counted, so the caller does not touch it. */
        int rc = fl_ostage_put(&o->st, o->blocks[slot], len, BZ_RUN);
        pthread_mutex_lock(&o->mu);
        o->head = (o->head + 1) % FL_OUT_BLOCKS;
        o->count--;
        o->worker_failed = rc != 0;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
        if (rc != 0)
            return NULL;
    }
    /* The caller reads st.failed after joining. */
    fl_ostage_put(&o->st, NULL, 0, BZ_FINISH);
    return NULL;
}

/* Move the stage to the worker. Stays on the caller's thread (no error)
 * when memory or a thread cannot be had: the write is only slower. */
static void fl_output_start(struct fl_output *o)
{
    for (unsigned i = 0; i < FL_OUT_BLOCKS; i++)
        if ((o->blocks[i] = malloc(FL_OUT_BLOCK)) == NULL)
            goto fail;
    if (pthread_mutex_init(&o->mu, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&o->cv, NULL) != 0) {
        pthread_mutex_destroy(&o->mu);
        goto fail;
    }
    /* The worker starts with every signal blocked, so signals still go to
     * the threads the program knows of, as before there was a worker. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&o->worker, NULL, fl_output_worker, o);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&o->cv);
        pthread_mutex_destroy(&o->mu);
        goto fail;
    }
    o->threaded = true;
    return;
fail:
    for (unsigned i = 0; i < FL_OUT_BLOCKS; i++) {
        free(o->blocks[i]);
        o->blocks[i] = NULL;
    }
    o->thread_after = UINT64_MAX;   /* do not try again */
}

struct fl_output *fl_output_new(dc_fl_sink_cb sink, void *sink_ctx, bool compress, uint64_t thread_after)
{
    struct fl_output *o = calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->st = (struct fl_ostage){.sink = sink, .sink_ctx = sink_ctx, .compress = compress};
    o->thread_after = !compress ? UINT64_MAX : thread_after ? thread_after : FL_OUT_THREAD_AFTER;
    if ((o->text = malloc(FL_OUT_TEXT)) == NULL ||
        (compress && (o->st.out = malloc(FL_OUT_BZ)) == NULL)) {
        fl_output_free(o);
        return NULL;
    }
    if (compress) {
        if (BZ2_bzCompressInit(&o->st.bz, FL_OUT_LEVEL, 0, 0) != BZ_OK) {
            fl_output_free(o);
            return NULL;
        }
        o->st.bz_live = true;
    }
    return o;
}

void fl_output_thread_after(struct fl_output *o, uint64_t bytes)
{
    if (o->st.compress && !o->threaded && o->thread_after != UINT64_MAX)
        o->thread_after = bytes ? bytes : FL_OUT_THREAD_AFTER;
}

/* Queue the caller's block (len bytes) and wait for a free one: the next
 * buffer, or NULL once the worker has failed. */
static char *fl_output_swap_threaded(struct fl_output *o, size_t len, size_t *cap)
{
    pthread_mutex_lock(&o->mu);
    if (len > 0 && !o->worker_failed) {
        o->lens[(o->head + o->count) % FL_OUT_BLOCKS] = len;
        o->count++;
        pthread_cond_broadcast(&o->cv);
    }
    while (o->count == FL_OUT_BLOCKS && !o->worker_failed)
        pthread_cond_wait(&o->cv, &o->mu);
    bool failed = o->worker_failed;
    unsigned next = (o->head + o->count) % FL_OUT_BLOCKS;   /* not counted: the caller's */
    pthread_mutex_unlock(&o->mu);
    if (failed) {
        o->failed = true;
        return NULL;
    }
    *cap = FL_OUT_BLOCK;
    return o->blocks[next];
}

char *fl_output_swap(struct fl_output *o, size_t len, size_t *cap)
{
    if (o->failed)
        return NULL;
    if (o->threaded)
        return fl_output_swap_threaded(o, len, cap);
    if (fl_ostage_put(&o->st, o->text, len, BZ_RUN) != 0) {
        o->failed = true;
        return NULL;
    }
    if (o->thread_after != UINT64_MAX) {
        o->thread_after -= len < o->thread_after ? len : o->thread_after;
        if (o->thread_after == 0) {
            fl_output_start(o);
            if (o->threaded) {
                *cap = FL_OUT_BLOCK;
                return o->blocks[0];     /* head = count = 0: the caller's */
            }
        }
    }
    *cap = FL_OUT_TEXT;
    return o->text;
}

int fl_output_finish(struct fl_output *o, size_t len)
{
    int rc = -1;
    if (o->threaded) {
        pthread_mutex_lock(&o->mu);
        if (len > 0 && !o->worker_failed) {   /* count < FL_OUT_BLOCKS after a swap */
            o->lens[(o->head + o->count) % FL_OUT_BLOCKS] = len;
            o->count++;
        }
        o->finish = true;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->worker, NULL);
        o->threaded = false;
        pthread_cond_destroy(&o->cv);
        pthread_mutex_destroy(&o->mu);
        rc = o->failed || o->st.failed ? -1 : 0;
    } else if (!o->failed) {
        rc = fl_ostage_put(&o->st, o->text, len, BZ_FINISH);
    }
    fl_output_free(o);
    return rc;
}

void fl_output_free(struct fl_output *o)
{
    if (o == NULL)
        return;
    if (o->threaded) {
        pthread_mutex_lock(&o->mu);
        o->stop = true;
        pthread_cond_broadcast(&o->cv);
        pthread_mutex_unlock(&o->mu);
        pthread_join(o->worker, NULL);
        pthread_cond_destroy(&o->cv);
        pthread_mutex_destroy(&o->mu);
    }
    for (unsigned i = 0; i < FL_OUT_BLOCKS; i++)
        free(o->blocks[i]);
    if (o->st.bz_live)
        BZ2_bzCompressEnd(&o->st.bz);
    free(o->st.out);
    free(o->text);
    free(o);
}
