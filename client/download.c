/* download.c: the download queue: file lists and files, their .part files,
 * verification, and the transfer events.
 *
 * A file download is resolved against the peer's file list (fetched first
 * when we have none), which gives its size, TTH and name. Then, on one
 * connection: tthl (when the peer supports it) -> the leaves are checked
 * against the root (dc_tth_check_leaves) and fix the block size; without
 * them the whole file is one block whose leaf is the root. The .part file
 * in the target directory is read back and verified block by block; data is
 * kept up to the first bad block (a bad block is cut off), and the GET
 * continues from there. Received data is written and hashed as it arrives
 * (received straight into slots that worker threads write and hash, see
 * struct dcc_pipe), each block checked as soon as it is complete, so a
 * corrupt block stops the transfer. Only when every block matched is the .part renamed to
 * its final name: no unverified byte ever sits under the final name.
 *
 * Failures (peer errors, a lost connection, a bad block, local I/O) end the
 * download with TRANSFER_FAILED; the .part stays for a later resume.
 */
#include "client/xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "proto/base32.h"
#include "proto/fltree.h"

#define DL_LIST_MAX (256u * 1024 * 1024)    /* largest file list accepted */
#define DL_TTHL_MAX (1024u * 1024)
#define DL_PROGRESS_EVERY 0.25
#define DL_SLOTS 8                          /* receive ring: 8 x 1 MiB */
#define DL_SLOT (1024 * 1024)
#define DL_ALIGN 4096                       /* O_DIRECT offsets, lengths, buffers */
#define DL_HUGE (2 * 1024 * 1024)           /* the ring's alignment: a transparent huge page */
#define DL_THREADS_MAX 4                    /* hashing workers */
#define DL_WRITE_BATCH 4                    /* slots the writer writes in one pwritev */
#define DL_THREADS_MIN (512 * 1024)         /* smaller downloads are written and hashed inline */

enum dl_phase { DL_PH_LIST, DL_PH_TTHL, DL_PH_FILE };

/* One queued or running download. Owned by the xfer's queue. */
struct dcc_dl {
    long id;
    struct dcc_xfer *x;             /* borrowed */
    char *nick;
    bool is_list;
    char *req_path, *req_tth;       /* what was asked (either may be NULL) */
    char *target_dir, *name;
    bool resolved;
    uint8_t tth[DC_TTH_LEN];
    char tth_b32[DC_TTH_BASE32_LEN + 1];
    uint64_t size;
    char *vpath, *final_path, *part_path;
    struct dcc_cc *cc;              /* borrowed: the connection serving it */
    struct event *timer;            /* first: the deferred start; then: waiting for a connection */
    bool started;
    enum dl_phase phase;
    struct dc_buf mem;              /* list / tthl bytes */
    uint8_t *leaves;
    size_t nleaves;
    uint64_t bs;                    /* verification block size */
    int fd;
    int dfd;                        /* the .part again, O_DIRECT; -1 if not */
    uint64_t pos;                   /* bytes received (in the .part or in a slot) */
    uint64_t vpos;                  /* bytes written and hashed, in order */
    uint64_t resumed_from, received;
    uint64_t unit;                  /* hashing unit: min(bs, DL_SLOT) */
    uint8_t *uroots;                /* TTH root of every unit of the file */
    uint64_t blk_index;             /* blocks before it are checked */
    struct dcc_pipe *pipe;          /* receive ring and workers, file phase */
    bool compressed;
    bool tls;                       /* the connection serving it is TLS */
    double t0, last_progress;
    struct dcc_dl *next;
};

static double dl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dl_pipe_abort(struct dcc_dl *d);

static void dl_free(struct dcc_dl *d)
{
    dl_pipe_abort(d);   /* first: its threads read the dl */
    if (d->fd >= 0)
        close(d->fd);
    if (d->dfd >= 0)
        close(d->dfd);
    if (d->timer)
        event_free(d->timer);
    free(d->nick);
    free(d->req_path);
    free(d->req_tth);
    free(d->target_dir);
    free(d->name);
    free(d->vpath);
    free(d->final_path);
    free(d->part_path);
    free(d->leaves);
    free(d->uroots);
    dc_buf_cleanup(&d->mem);
    free(d);
}

static void dl_unlink(struct dcc_dl *d)
{
    for (struct dcc_dl **pp = &d->x->dls; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    if (d->cc)
        d->cc->dl = NULL;
    d->cc = NULL;
}

static bool dl_emit(struct dcc_dl *d, enum dcc_event_type type, const char *text, const char *code,
                    const struct dc_fl_tree *list)
{
    double secs = d->t0 > 0 ? dl_now() - d->t0 : 0;
    struct dcc_transfer_info t = {
        .id = d->id, .nick = d->nick, .is_list = d->is_list, .path = d->vpath ? d->vpath : "",
        .tth = d->resolved ? d->tth_b32 : "", .file = d->final_path ? d->final_path : "",
        .size = d->is_list ? d->mem.len : d->size, .done = d->is_list ? d->mem.len : d->pos,
        .resumed_from = d->resumed_from, .received = d->received, .seconds = secs,
        .speed = secs > 0 ? (double)d->received / secs : 0, .compressed = d->compressed, .tls = d->tls, .list = list,
    };
    struct dcc_event ev = {.type = type, .transfer = &t, .text = text, .error_code = code};
    return dcc_emit_any(d->x->c, &ev);
}

/* End d with TRANSFER_FAILED and a stable code (docs/parties.md). The .part stays. */
static void dl_failc(struct dcc_dl *d, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define dl_fail(d, ...) dl_failc((d), "transfer-failed", __VA_ARGS__)
static void dl_failc(struct dcc_dl *d, const char *code, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    dl_pipe_abort(d);   /* the .part is final before anyone hears of the failure */
    dl_unlink(d);
    dcc_log(d->x->c, "download %ld from %s failed: %s", d->id, d->nick, why);
    dl_emit(d, DCC_EVENT_TRANSFER_FAILED, why, code, NULL);
    dl_free(d);
}

/* ---- peer lists ------------------------------------------------------------ */

static struct dcc_plist *dl_plist(struct dcc_xfer *x, const char *nick)
{
    for (struct dcc_plist *p = x->lists; p; p = p->next)
        if (strcmp(p->nick, nick) == 0)
            return p;
    return NULL;
}

const struct dc_fl_tree *dcc_client_peer_list(const struct dcc_client *c, const char *nick)
{
    const struct dcc_plist *p = dl_plist(c->xfer, nick);
    return p ? p->tree : NULL;
}

/* "/dir/.../name" of n in t. */
static char *dl_node_path(const struct dc_fl_tree *t, dc_fl_id n)
{
    dc_fl_id chain[256];
    size_t k = 0;
    for (; n != DC_FL_NONE && dc_fl_tree_parent(t, n) != DC_FL_NONE && k < 256; n = dc_fl_tree_parent(t, n))
        chain[k++] = n;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    while (k--)
        if (dc_buf_appendf(&b, "/%s", dc_fl_tree_name(t, chain[k])) < 0) {
            dc_buf_cleanup(&b);
            return NULL;
        }
    return dc_buf_steal(&b, NULL);
}

/* Fill size/TTH/name/paths from the peer's list; -1 with d failed. */
static int dl_resolve(struct dcc_dl *d)
{
    struct dcc_plist *p = dl_plist(d->x, d->nick);
    dc_fl_id n = DC_FL_NONE;
    uint8_t tth[DC_TTH_LEN];
    if (d->req_tth && dc_base32_decode(d->req_tth, strlen(d->req_tth), tth, sizeof tth) != DC_TTH_LEN) {
        dl_failc(d, "bad-request", "'%s' is not a base32 TTH", d->req_tth);
        return -1;
    }
    const struct dc_fl_tree *t = p ? p->tree : NULL;
    if (p && d->req_path)
        n = dc_fl_tree_find(t, DC_FL_ROOT, d->req_path);
    else if (p)
        n = dc_fl_tree_find_tth(t, tth);
    bool dir = n != DC_FL_NONE && dc_fl_tree_is_dir(t, n);
    if (n == DC_FL_NONE || dir || (d->req_tth && memcmp(dc_fl_tree_tth(t, n), tth, DC_TTH_LEN) != 0)) {
        dl_failc(d, dir ? "not-a-file" : "no-such-path", "%s is not a file in %s's list",
                 d->req_path ? d->req_path : d->req_tth, d->nick);
        return -1;
    }
    memcpy(d->tth, dc_fl_tree_tth(t, n), DC_TTH_LEN);
    dc_base32_encode(d->tth, DC_TTH_LEN, d->tth_b32, sizeof d->tth_b32);
    d->size = dc_fl_tree_size(t, n);
    d->vpath = dl_node_path(t, n);
    if (!d->name)
        d->name = strdup(dc_fl_tree_name(t, n));
    size_t len = strlen(d->target_dir) + strlen(d->name ? d->name : "") + 8;
    d->final_path = malloc(len);
    d->part_path = malloc(len);
    if (!d->vpath || !d->name || !d->final_path || !d->part_path) {
        dl_fail(d, "out of memory");
        return -1;
    }
    snprintf(d->final_path, len, "%s/%s", d->target_dir, d->name);
    snprintf(d->part_path, len, "%s/%s.part", d->target_dir, d->name);
    d->resolved = true;
    return 0;
}

/* ---- the receive pipeline --------------------------------------------------- */

/* A file's bytes are received straight into slots: DL_SLOTS buffers, each
 * covering one aligned MiB of the file (the first after a resume may start
 * later in its MiB). A full slot is hashed by worker threads (one per core,
 * several slots at once) and written to the .part by one writer thread, in
 * file order, up to DL_WRITE_BATCH consecutive slots per pwritev, all from
 * the same buffer: no copy between the socket and the disk or the hash.
 * Writing apart from hashing keeps the cores hashing while a write waits
 * for the disk (ext4 serialises O_DIRECT writes that extend the file
 * anyway): with a worker writing then hashing each slot, bench_transfer
 * saw the workers blocked on writes a quarter of the time.
 *
 * Hashing in parallel works because a TTH splits into independent subtrees:
 * every aligned unit of g = min(block size, 1 MiB) bytes (a power of two
 * times 1 KiB, so a slot holds whole units) gets its own root, and a block's
 * root is folded from its units' roots by the same rule that folds TTHL
 * leaves into the file's root (dc_tth_root_from_leaves). Blocks are checked
 * against their leaves on the loop thread, in file order, as the slots
 * before them finish; a bad block stops the transfer. Downloads smaller than
 * DL_THREADS_MIN do the same work inline, without threads.
 *
 * Writes go through an O_DIRECT descriptor where the range is 4 KiB-aligned
 * (every slot but a resumed first one and the file's tail): the bytes go
 * from the slot to the disk, with no page-cache copy and no dirty-page
 * throttling of the writer. Filesystems without O_DIRECT get the plain one.
 *
 * The ring is one allocation on transparent huge pages where the kernel
 * gives them: an O_DIRECT write then pins 2 MiB folios, not 4 KiB pages
 * (bench_transfer: the writer's CPU per GiB halved).
 *
 * When all slots are in use the loop thread waits for the oldest: that
 * bounds memory and is backpressure (the socket is not read meanwhile).
 * Workers are the dl's and are joined before it goes (never detached);
 * after an abort the received whole slots are written out (not after a bad
 * block or a failed write) and the .part cut back to the bytes written in
 * order. */
struct dl_slot {
    uint8_t *buf;                   /* DL_SLOT bytes of the ring; file byte o is at buf[o % DL_SLOT] */
    uint64_t off;                   /* first file byte held */
    size_t len;
    enum { SL_FREE, SL_FILL, SL_READY } st;   /* READY: complete, to hash and write */
    bool hashing, hashed;           /* a worker took it / its units' roots are in */
    bool writing, written;          /* the writer took it / it is in the .part (or err) */
    int err;                        /* errno of a failed write, or 0 */
};

struct dcc_pipe {
    pthread_mutex_t mu;
    pthread_cond_t work;            /* workers and writer: a slot is ready, or stop */
    pthread_cond_t done;            /* loop: a slot was hashed or written */
    pthread_t th[DL_THREADS_MAX + 1];   /* th[0] the writer, then the hashing workers */
    uint8_t *ring;                  /* owned: DL_SLOTS * DL_SLOT bytes, every slot's buffer */
    int nth;
    bool stop;
    bool no_flush;                  /* an abort leaves unwritten slots out (bad block, failed write) */
    struct dl_slot slot[DL_SLOTS];
    unsigned head, count;           /* in use, oldest (lowest offset) first */
    struct dl_slot *fill;           /* the slot being received into (the loop thread's), or NULL */
};

static uint64_t dl_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Roots of the units in [off, off + len) (unit-aligned; the last unit of
 * the file may be short) into d->uroots. */
static void dl_hash_units(struct dcc_dl *d, const uint8_t *p, uint64_t off, size_t len)
{
    for (uint64_t o = off, end = off + len; o < end; o += d->unit)
        dc_tth(p + (o - off), (size_t)dl_min(d->unit, end - o), d->uroots + o / d->unit * DC_TTH_LEN);
}

/* Write n consecutive slots (file order, no gap) to the .part: O_DIRECT
 * where every range is 4 KiB-aligned. The errno of a failure, or 0. The
 * writer thread calls this with the slots its own (writing). */
static int dl_write_slots(struct dcc_dl *d, struct dl_slot **sl, int n)
{
    struct iovec iov[DL_WRITE_BATCH];
    uint64_t off = sl[0]->off;
    size_t total = 0;
    bool direct = d->dfd >= 0;
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = sl[i]->buf + sl[i]->off % DL_SLOT;
        iov[i].iov_len = sl[i]->len;
        total += sl[i]->len;
        direct = direct && sl[i]->off % DL_ALIGN == 0 && sl[i]->len % DL_ALIGN == 0;
    }
    struct iovec *v = iov;
    for (size_t done = 0; done < total;) {
        ssize_t w = pwritev(direct ? d->dfd : d->fd, v, n - (int)(v - iov), (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && direct && errno == EINVAL) {   /* alignment the filesystem refuses */
            direct = false;
            continue;
        }
        if (w <= 0)
            return w < 0 ? errno : EIO;
        done += (size_t)w;
        for (size_t k = (size_t)w; k;) {   /* skip what went out */
            size_t m = k < v->iov_len ? k : v->iov_len;
            v->iov_base = (uint8_t *)v->iov_base + m;
            v->iov_len -= m;
            k -= m;
            if (!v->iov_len)
                v++;
        }
        direct = direct && done % DL_ALIGN == 0;
    }
    return 0;
}

/* Hash the slot's units. Worker threads call this with the slot theirs
 * (hashing); it touches only the slot and its units' roots. */
static void dl_slot_hash(struct dcc_dl *d, struct dl_slot *s)
{
    dl_hash_units(d, s->buf + s->off % DL_SLOT, s->off, s->len);
}

/* A hashing worker: the oldest ready slot nobody hashes yet. */
static void *dl_worker(void *arg)
{
    struct dcc_dl *d = arg;
    struct dcc_pipe *q = d->pipe;
    pthread_setname_np(pthread_self(), "dcc-hash");   /* bench_transfer tells the threads apart by name */
    pthread_mutex_lock(&q->mu);
    while (!q->stop) {
        struct dl_slot *s = NULL;
        for (unsigned k = 0; k < q->count && !s; k++) {
            struct dl_slot *t = &q->slot[(q->head + k) % DL_SLOTS];
            if (t->st == SL_READY && !t->hashing)
                s = t;
        }
        if (!s) {
            pthread_cond_wait(&q->work, &q->mu);
            continue;
        }
        s->hashing = true;
        pthread_mutex_unlock(&q->mu);
        dl_slot_hash(d, s);
        pthread_mutex_lock(&q->mu);
        s->hashed = true;
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* The writer: the oldest unwritten slot once it is ready, with the ready
 * ones after it, in one write. */
static void *dl_writer(void *arg)
{
    struct dcc_dl *d = arg;
    struct dcc_pipe *q = d->pipe;
    pthread_setname_np(pthread_self(), "dcc-write");
    pthread_mutex_lock(&q->mu);
    while (!q->stop) {
        struct dl_slot *sl[DL_WRITE_BATCH];
        int n = 0;
        unsigned k = 0;
        while (k < q->count && q->slot[(q->head + k) % DL_SLOTS].written)
            k++;
        for (; k < q->count && n < DL_WRITE_BATCH && q->slot[(q->head + k) % DL_SLOTS].st == SL_READY; k++)
            sl[n++] = &q->slot[(q->head + k) % DL_SLOTS];
        if (!n) {
            pthread_cond_wait(&q->work, &q->mu);
            continue;
        }
        for (int i = 0; i < n; i++)
            sl[i]->writing = true;
        pthread_mutex_unlock(&q->mu);
        int err = dl_write_slots(d, sl, n);
        pthread_mutex_lock(&q->mu);
        for (int i = 0; i < n; i++) {
            sl[i]->err = err;
            sl[i]->written = true;
        }
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static bool dl_slot_done(const struct dl_slot *s)
{
    return s->st == SL_READY && s->hashed && s->written;
}

/* Stop and join the workers (queued slots stay unprocessed). */
static void dl_pipe_stop(struct dcc_pipe *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->nth; i++)
        pthread_join(q->th[i], NULL);
    q->nth = 0;
}

static void dl_pipe_free(struct dcc_pipe *q)
{
    if (!q)
        return;
    dl_pipe_stop(q);
    free(q->ring);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    free(q);
}

/* The pipeline for d, workers started when the rest of the file is worth
 * it (and when they can be: else everything runs inline). -1: no memory. */
static int dl_pipe_start(struct dcc_dl *d)
{
    /* A slot per MiB of the file the rest touches, at most DL_SLOTS: with
     * fewer, the ring never wraps, so the slots past them are never used. */
    size_t nslots = (size_t)dl_min((d->size - 1) / DL_SLOT - d->pos / DL_SLOT + 1, DL_SLOTS);
    struct dcc_pipe *q = calloc(1, sizeof *q);
    void *ring = NULL;   /* posix_memalign: aligned_alloc wants the size a multiple of the alignment */
    if (!q || posix_memalign(&ring, nslots * DL_SLOT >= DL_HUGE ? DL_HUGE : DL_ALIGN, nslots * DL_SLOT) != 0) {
        free(q);
        return -1;
    }
    q->ring = ring;
    /* Huge pages where the kernel gives them (THP "madvise" mode): O_DIRECT
     * pins a 2 MiB folio at a time and sends the disk fewer, larger
     * segments; the socket copy and the hashing miss the TLB less. Only a
     * hint: without it the ring is ordinary pages. */
    if (nslots * DL_SLOT >= DL_HUGE)
        madvise(q->ring, nslots * DL_SLOT, MADV_HUGEPAGE);
    for (size_t i = 0; i < nslots; i++)
        q->slot[i].buf = q->ring + i * DL_SLOT;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    d->pipe = q;
    /* The writer, then a hashing worker per core; without both, inline. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int want = d->size - d->pos < DL_THREADS_MIN ? 0 : 1 + (ncpu >= DL_THREADS_MAX ? DL_THREADS_MAX : ncpu > 0 ? (int)ncpu : 1);
    if (want && pthread_create(&q->th[0], NULL, dl_writer, d) == 0)
        q->nth = 1;
    while (q->nth && q->nth < want && pthread_create(&q->th[q->nth], NULL, dl_worker, d) == 0)
        q->nth++;
    if (q->nth == 1)   /* a writer alone would leave the hashing undone */
        dl_pipe_stop(q);
    q->stop = false;
    return 0;
}

/* The block b is complete: fold its units' roots and check its leaf. */
static int dl_block_check(struct dcc_dl *d, uint64_t b)
{
    uint64_t first = b * d->bs / d->unit;
    uint64_t end = dl_min((b + 1) * d->bs, d->size);
    size_t n = end > b * d->bs ? (size_t)((end - b * d->bs + d->unit - 1) / d->unit) : 1;   /* empty file: 1 */
    uint8_t root[DC_TTH_LEN];
    dc_tth_root_from_leaves(d->uroots + first * DC_TTH_LEN, n, root);
    return memcmp(root, d->leaves + b * DC_TTH_LEN, DC_TTH_LEN) == 0 ? 0 : -1;
}

/* Everything before upto is hashed: check the blocks it completes.
 * -1: d->blk_index is a bad block. */
static int dl_check_upto(struct dcc_dl *d, uint64_t upto)
{
    for (; d->blk_index < d->nleaves && dl_min((d->blk_index + 1) * d->bs, d->size) <= upto; d->blk_index++)
        if (dl_block_check(d, d->blk_index) < 0)
            return -1;
    return 0;
}

/* Retire the finished slots at the head, in file order, and check the
 * blocks they complete; wait for the head first if asked. 0; -1 with
 * *why set: a write failed (errno) or a block is bad (0). */
static int dl_reap(struct dcc_dl *d, bool wait, int *why)
{
    struct dcc_pipe *q = d->pipe;
    pthread_mutex_lock(&q->mu);
    if (wait)
        while (q->count && !dl_slot_done(&q->slot[q->head]))
            pthread_cond_wait(&q->done, &q->mu);
    int err = 0;
    while (q->count && dl_slot_done(&q->slot[q->head]) && !err) {
        struct dl_slot *s = &q->slot[q->head];
        err = s->err;
        if (!err)
            d->vpos = s->off + s->len;
        s->st = SL_FREE;
        q->head = (q->head + 1) % DL_SLOTS;
        q->count--;
    }
    pthread_mutex_unlock(&q->mu);
    *why = err;
    return err || dl_check_upto(d, d->vpos) < 0 ? -1 : 0;
}

/* The filling slot is complete: to a worker, or run it here. */
static void dl_submit(struct dcc_dl *d, struct dl_slot *s)
{
    struct dcc_pipe *q = d->pipe;
    if (!q->nth) {   /* no thread to race with */
        s->st = SL_READY;
        s->err = dl_write_slots(d, &s, 1);
        dl_slot_hash(d, s);
        s->written = s->hashed = true;
        return;
    }
    pthread_mutex_lock(&q->mu);
    s->st = SL_READY;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
}

/* The slot receiving file byte d->pos, started (after waiting for room)
 * when needed; NULL with *why set as for dl_reap. */
static struct dl_slot *dl_fill_slot(struct dcc_dl *d, int *why)
{
    struct dcc_pipe *q = d->pipe;
    if (q->fill)
        return q->fill;
    if (q->count == DL_SLOTS && dl_reap(d, true, why) < 0)
        return NULL;
    struct dl_slot *s = &q->slot[(q->head + q->count) % DL_SLOTS];
    s->off = d->pos;
    s->len = 0;
    s->err = 0;
    s->hashing = s->hashed = s->writing = s->written = false;
    pthread_mutex_lock(&q->mu);
    s->st = SL_FILL;
    q->count++;
    pthread_mutex_unlock(&q->mu);
    return q->fill = s;
}

/* Wait for every slot, join the workers; afterwards the dl's verification
 * state is the loop thread's alone. 0, or -1 with *why as for dl_reap. */
static int dl_pipe_drain(struct dcc_dl *d, int *why)
{
    while (d->pipe->count)
        if (dl_reap(d, true, why) < 0)
            return -1;
    dl_pipe_stop(d->pipe);
    return 0;
}

/* Stop the workers of an unfinished download, write the whole slots
 * received but not written yet (a lost connection: a resume re-verifies
 * them from the .part), and cut the .part back to the bytes written in
 * order: nothing past a hole stays. */
static void dl_pipe_abort(struct dcc_dl *d)
{
    struct dcc_pipe *q = d->pipe;
    if (!q)
        return;
    dl_pipe_stop(q);
    uint64_t keep = d->vpos;
    for (unsigned k = 0; k < q->count; k++) {
        struct dl_slot *s = &q->slot[(q->head + k) % DL_SLOTS];
        if (s->st == SL_READY && !s->written && !q->no_flush) {   /* received, not out yet: out now */
            s->err = dl_write_slots(d, &s, 1);
            s->written = true;
        }
        if (s->st != SL_READY || !s->written || s->err)
            break;
        keep = s->off + s->len;
    }
    struct stat st;
    if (d->fd >= 0 && fstat(d->fd, &st) == 0 && (uint64_t)st.st_size > keep && ftruncate(d->fd, (off_t)keep) < 0)
        dcc_log(d->x->c, "cannot truncate %s: %s", d->part_path, strerror(errno));
    dl_pipe_free(q);
    d->pipe = NULL;
}

/* Open the .part, keep its verified prefix; -1 with d failed. The prefix
 * is read back in whole units (a partial last unit is dropped) and checked
 * block by block; a tail block not yet complete keeps its units' roots and
 * is checked once the download completes it. */
static int dl_open_part(struct dcc_dl *d)
{
    if (!d->leaves) {   /* no TTHL: one block, the whole file */
        if (!(d->leaves = malloc(DC_TTH_LEN))) {
            dl_fail(d, "out of memory");
            return -1;
        }
        memcpy(d->leaves, d->tth, DC_TTH_LEN);
        d->nleaves = 1;
        dc_tth_check_leaves(d->leaves, 1, d->size, d->tth, &d->bs);
    }
    d->unit = d->bs < DL_SLOT ? d->bs : DL_SLOT;
    size_t nunits = d->size ? (size_t)((d->size - 1) / d->unit + 1) : 1;
    free(d->uroots);
    if (!(d->uroots = malloc(nunits * DC_TTH_LEN))) {
        dl_fail(d, "out of memory");
        return -1;
    }
    if (!d->size)
        dc_tth(NULL, 0, d->uroots);   /* the empty file's one leaf */
    d->fd = open(d->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    struct stat st;
    if (d->fd < 0 || fstat(d->fd, &st) < 0) {
        dl_fail(d, "cannot open %s: %s", d->part_path, strerror(errno));
        return -1;
    }
    d->pos = d->vpos = d->blk_index = 0;
    uint64_t have = (uint64_t)st.st_size <= d->size ? (uint64_t)st.st_size : 0;
    if (have < d->size)
        have -= have % d->unit;
    uint8_t *buf = have ? malloc(DL_SLOT) : NULL;
    while (buf && d->pos < have) {
        size_t want = (size_t)dl_min(have - d->pos, DL_SLOT), got = 0;
        ssize_t r = 1;
        while (got < want && (r = pread(d->fd, buf + got, want - got, (off_t)(d->pos + got))) > 0)
            got += (size_t)r;
        if (got < want)
            break;
        dl_hash_units(d, buf, d->pos, want);
        d->pos += want;
        if (dl_check_upto(d, d->pos) < 0) {
            d->pos = d->blk_index * d->bs;
            break;
        }
    }
    free(buf);
    if (d->pos < have)
        dcc_log(d->x->c, "%s: keeping the verified %llu bytes", d->part_path, (unsigned long long)d->pos);
    if (have && !buf) {
        dl_fail(d, "out of memory");
        return -1;
    }
    d->vpos = d->pos;
    if (ftruncate(d->fd, (off_t)d->pos) < 0) {
        dl_fail(d, "cannot truncate %s: %s", d->part_path, strerror(errno));
        return -1;
    }
    d->resumed_from = d->pos;
    if (d->pos < d->size) {
        d->dfd = open(d->part_path, O_WRONLY | O_DIRECT | O_CLOEXEC);   /* -1: plain writes only */
        if (dl_pipe_start(d) < 0) {
            dl_fail(d, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* ---- running ----------------------------------------------------------------- */

static bool dl_zl1(struct dcc_cc *cc)
{
    return cc->peer_zlig && dcc_sget_bool(cc->x->c->settings, DCC_S_COMPRESS);
}

static void dl_finish_file(struct dcc_dl *d);
static void dl_pipe_failed(struct dcc_dl *d, int err);

static void dl_start_file(struct dcc_dl *d)
{
    d->phase = DL_PH_FILE;
    if (dl_open_part(d) < 0)
        return;
    if (d->pos == d->size && d->size) {   /* the .part was complete already */
        dl_finish_file(d);
        return;
    }
    char ident[64];
    snprintf(ident, sizeof ident, "TTH/%s", d->tth_b32);
    d->t0 = dl_now();
    if (dcc_cc_send_get(d->cc, "file", ident, (int64_t)d->pos, -1, dl_zl1(d->cc)) < 0)
        dl_fail(d, "cannot send the request");
}

void dcc_dl_next(struct dcc_cc *cc)
{
    struct dcc_dl *d;
    while (!cc->closed && !cc->dl && cc->state == DCC_CC_IDLE) {
        for (d = cc->x->dls; d && (d->cc || strcmp(d->nick, cc->nick) != 0); d = d->next)
            ;
        if (!d)
            return;
        evtimer_del(d->timer);
        if (!d->is_list && !d->resolved && dl_resolve(d) < 0)
            continue;
        d->cc = cc;
        cc->dl = d;
        dc_buf_reset(&d->mem);
        if (d->is_list) {
            d->phase = DL_PH_LIST;
            d->t0 = dl_now();
            if (dcc_cc_send_get(cc, "file", "files.xml.bz2", 0, -1, dl_zl1(cc)) < 0)
                dl_fail(d, "cannot send the request");
        } else if (d->size && cc->peer_tthl && !d->leaves) {
            char ident[64];
            snprintf(ident, sizeof ident, "TTH/%s", d->tth_b32);
            d->phase = DL_PH_TTHL;
            if (dcc_cc_send_get(cc, "tthl", ident, 0, -1, false) < 0)
                dl_fail(d, "cannot send the request");
        } else {
            dl_start_file(d);
        }
    }
}

bool dcc_dl_wanted(struct dcc_xfer *x, const char *nick)
{
    for (struct dcc_dl *d = x->dls; d; d = d->next)
        if (!d->cc && strcmp(d->nick, nick) == 0)
            return true;
    return false;
}

void dcc_dl_on_snd(struct dcc_cc *cc, const char *type, const char *ident, int64_t start, int64_t bytes, bool zl1)
{
    struct dcc_dl *d = cc->dl;
    if (!d) {
        dcc_cc_close(cc, "SND without a request");
        return;
    }
    bool ok;
    switch (d->phase) {
    case DL_PH_LIST: {
        /* A list is held whole until parsed: one that says up front it is
         * bigger than list_max_bytes (compressed is smaller) is refused
         * before any of it arrives. */
        uint64_t max = (uint64_t)dcc_sget_i64(cc->x->c->settings, DCC_S_LIST_MAX_BYTES);
        if (strcmp(type, "file") == 0 && bytes >= 0 && (uint64_t)bytes > max) {
            dl_fail(d, "%s's file list is %lld bytes, over list_max_bytes (%llu)", d->nick, (long long)bytes,
                    (unsigned long long)max);
            if (!cc->x->c->doomed)
                dcc_cc_close(cc, "file list too large");   /* its data would follow */
            return;
        }
        ok = strcmp(type, "file") == 0 && (uint64_t)bytes <= DL_LIST_MAX;
        break;
    }
    case DL_PH_TTHL:
        ok = strcmp(type, "tthl") == 0 && bytes % DC_TTH_LEN == 0 && bytes > 0 && (uint64_t)bytes <= DL_TTHL_MAX;
        break;
    default:
        ok = strcmp(type, "file") == 0 && (uint64_t)start == d->pos && (uint64_t)bytes == d->size - d->pos;
        break;
    }
    if (!ok || (d->phase != DL_PH_LIST && strncmp(ident, "TTH/", 4) != 0)) {
        dcc_cc_close(cc, "the peer's SND does not match our request");
        return;
    }
    d->compressed = zl1;
    d->tls = cc->tls;
    d->received = 0;
    d->t0 = d->last_progress = dl_now();
    if (dcc_cc_recv_begin(cc, (uint64_t)bytes, zl1, d->phase == DL_PH_FILE) < 0)
        dcc_cc_close(cc, "out of memory");
}

uint8_t *dcc_dl_space(struct dcc_cc *cc, size_t *cap)
{
    struct dcc_dl *d = cc->dl;
    if (d->phase != DL_PH_FILE) {
        size_t n = (size_t)dl_min(cc->want ? cc->want : 1, DL_SLOT);
        if (dc_buf_reserve(&d->mem, n) < 0) {
            dcc_cc_close(cc, "out of memory");
            return NULL;
        }
        *cap = n;
        return (uint8_t *)d->mem.data + d->mem.len;
    }
    if (!d->pipe) {
        dcc_cc_close(cc, "data past the end of the file");
        return NULL;
    }
    int why = 0;
    struct dl_slot *s = dl_fill_slot(d, &why);
    if (!s) {
        dl_pipe_failed(d, why);
        return NULL;
    }
    *cap = (size_t)(dl_min((s->off / DL_SLOT + 1) * DL_SLOT, d->size) - d->pos);
    return s->buf + d->pos % DL_SLOT;
}

int dcc_dl_commit(struct dcc_cc *cc, size_t n)
{
    struct dcc_dl *d = cc->dl;
    d->received += n;
    if (d->phase != DL_PH_FILE) {
        d->mem.len += n;
        d->mem.data[d->mem.len] = '\0';
        return 0;
    }
    struct dcc_pipe *q = d->pipe;
    struct dl_slot *s = q->fill;
    s->len += n;
    d->pos += n;
    int why = 0;
    if (d->pos == dl_min((s->off / DL_SLOT + 1) * DL_SLOT, d->size)) {
        q->fill = NULL;
        dl_submit(d, s);
        if (dl_reap(d, false, &why) < 0) {   /* a bad block stops the transfer early */
            dl_pipe_failed(d, why);
            return -1;
        }
    }
    double now = dl_now();
    if (now - d->last_progress >= DL_PROGRESS_EVERY) {
        d->last_progress = now;
        if (!dl_emit(d, DCC_EVENT_TRANSFER_PROGRESS, NULL, NULL, NULL))
            return -1;
    }
    return 0;
}

int dcc_dl_data(struct dcc_cc *cc, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        size_t cap;
        uint8_t *to = dcc_dl_space(cc, &cap);
        if (!to)
            return -1;
        size_t m = cap < len ? cap : len;
        memcpy(to, p, m);
        if (dcc_dl_commit(cc, m) < 0)
            return -1;
        p += m;
        len -= m;
    }
    return 0;
}

/* The pipeline failed: a write (err, an errno) or, with err 0, the block
 * d->blk_index. A bad block is cut off the .part (and what follows), so a
 * resume fetches it again; d fails and the connection to the liar goes. */
static void dl_pipe_failed(struct dcc_dl *d, int err)
{
    struct dcc_cc *cc = d->cc;
    if (d->pipe) {
        dl_pipe_stop(d->pipe);
        d->pipe->no_flush = true;   /* nothing past a bad block or a failed write */
    }
    if (err) {
        dl_fail(d, "cannot write %s: %s", d->part_path, strerror(err));
        if (cc)
            dcc_cc_close(cc, "local write error");
        return;
    }
    uint64_t bad = d->blk_index;
    if (ftruncate(d->fd, (off_t)(bad * d->bs)) < 0)
        dcc_log(d->x->c, "cannot truncate %s", d->part_path);
    dl_fail(d, "block %llu (bytes %llu..) does not match the TTH leaves: corrupt data from %s",
            (unsigned long long)bad, (unsigned long long)(bad * d->bs), cc ? cc->nick : "the peer");
    if (cc)
        dcc_cc_close(cc, "corrupt data");
}

static long dl_mem_source(void *buf, size_t cap, void *ctx)
{
    struct dc_buf *m = ctx;   /* len counts down what is left; data advances */
    size_t n = m->len < cap ? m->len : cap;
    if (!n)   /* also an empty list (SND ... 0 0), whose data was never allocated (NULL) */
        return 0;
    memcpy(buf, m->data, n);
    m->data += n;
    m->len -= n;
    return (long)n;
}

static void dl_finish_list(struct dcc_dl *d)
{
    char err[DC_FL_ERR_LEN] = "";
    struct dc_buf src = d->mem;   /* a cursor over the same bytes */
    const struct dcc_settings *s = d->x->c->settings;
    struct dc_fl_limits lim = {
        .max_entries = (uint64_t)dcc_sget_i64(s, DCC_S_LIST_MAX_ENTRIES),
        .max_bytes = (uint64_t)dcc_sget_i64(s, DCC_S_LIST_MAX_BYTES),
    };
    struct dc_fl_tree *tree = dc_fl_read_tree_limited(dl_mem_source, &src, &lim, NULL, err);
    if (!tree) {
        if (lim.over_entries || lim.over_bytes)
            dl_fail(d, "%s's file list is over %s (%llu): %s", d->nick,
                    lim.over_entries ? "list_max_entries" : "list_max_bytes",
                    (unsigned long long)(lim.over_entries ? lim.max_entries : lim.max_bytes), err);
        else
            dl_fail(d, "%s's file list is not valid: %s", d->nick, err);
        return;
    }
    struct dcc_plist *p = dl_plist(d->x, d->nick);
    if (!p && (p = calloc(1, sizeof *p))) {
        if ((p->nick = strdup(d->nick))) {
            p->next = d->x->lists;
            d->x->lists = p;
        } else {
            free(p);
            p = NULL;
        }
    }
    if (!p) {
        dc_fl_tree_free(tree);
        dl_fail(d, "out of memory");
        return;
    }
    dc_fl_tree_free(p->tree);
    p->tree = tree;
    d->received = d->mem.len;
    dl_unlink(d);
    dl_emit(d, DCC_EVENT_TRANSFER_DONE, NULL, NULL, tree);
    dl_free(d);
}

static void dl_finish_file(struct dcc_dl *d)
{
    int why = 0;
    if (d->pos != d->size) {
        dl_fail(d, "transfer ended at %llu of %llu bytes", (unsigned long long)d->pos, (unsigned long long)d->size);
        return;
    }
    if ((d->pipe && dl_pipe_drain(d, &why) < 0) || dl_check_upto(d, d->size) < 0) {   /* the empty file's one block */
        dl_pipe_failed(d, why);
        return;
    }
    if (d->blk_index != d->nleaves) {
        dl_fail(d, "data does not match TTH %s", d->tth_b32);
        return;
    }
    if (close(d->fd) < 0 || (d->fd = -1, rename(d->part_path, d->final_path) < 0)) {
        d->fd = -1;
        dl_fail(d, "cannot move %s to %s: %s", d->part_path, d->final_path, strerror(errno));
        return;
    }
    dl_unlink(d);
    dcc_log(d->x->c, "downloaded %s from %s: %llu bytes, TTH %s", d->final_path, d->nick,
            (unsigned long long)d->size, d->tth_b32);
    dl_emit(d, DCC_EVENT_TRANSFER_DONE, NULL, NULL, NULL);
    dl_free(d);
}

void dcc_dl_data_end(struct dcc_cc *cc)
{
    struct dcc_dl *d = cc->dl;
    dcc_cc_idle(cc);
    if (!d)
        return;
    switch (d->phase) {
    case DL_PH_LIST:
        dl_finish_list(d);
        break;
    case DL_PH_TTHL: {
        size_t n = d->mem.len / DC_TTH_LEN;
        uint8_t *l = malloc(d->mem.len);
        if (!l || dc_tth_check_leaves((const uint8_t *)d->mem.data, n, d->size, d->tth, &d->bs) < 0) {
            free(l);
            dl_fail(d, "%s's TTH leaves do not match TTH %s", d->nick, d->tth_b32);
            break;
        }
        memcpy(l, d->mem.data, d->mem.len);
        d->leaves = l;
        d->nleaves = n;
        dl_start_file(d);
        return;    /* the same item continues on this connection */
    }
    case DL_PH_FILE:
        dl_finish_file(d);
        break;
    }
    if (!cc->x->c->doomed)
        dcc_dl_next(cc);
}

void dcc_dl_on_error(struct dcc_cc *cc, int code, const char *text)
{
    struct dcc_dl *d = cc->dl;
    dcc_cc_idle(cc);
    if (!d)
        return;
    if (d->phase == DL_PH_TTHL && code % 100 == 51) {
        dl_start_file(d);    /* no leaves for it: verify the whole file against the root */
        return;
    }
    dl_failc(d, "refused", "%s answered: %s (%d)", d->nick, *text ? text : "error", code);
    if (!cc->x->c->doomed)
        dcc_dl_next(cc);
}

void dcc_dl_conn_lost(struct dcc_cc *cc, const char *why)
{
    struct dcc_dl *d = cc->dl;
    if (d)
        dl_fail(d, "connection to %s lost: %s", d->nick, why);
}

void dcc_dl_refused(struct dcc_xfer *x, const char *nick, const char *why)
{
    for (struct dcc_dl *d = x->dls, *next; d; d = next) {
        next = d->next;
        if (d->started && !d->cc && strcmp(d->nick, nick) == 0) {
            dl_failc(d, "refused", "%s", why);
            next = x->dls;   /* the callback may have changed the queue */
            if (x->c->doomed)
                return;
        }
    }
}

/* ---- queueing ---------------------------------------------------------------- */

static void dl_kick(struct dcc_dl *d);

static void dl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dcc_dl *d = arg;
    struct dcc_client *c = d->x->c;
    dcc_enter(c);
    if (!d->started) {
        d->started = true;
        dl_kick(d);
    } else if (!d->cc) {
        if (dcc_cc_find(d->x, d->nick, true)) {
            double t = dcc_sget_double(c->settings, DCC_S_TRANSFER_TIMEOUT);
            struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
            evtimer_add(d->timer, &tv);
        } else {
            dl_failc(d, "timeout", "%s did not connect within transfer_timeout", d->nick);
        }
    }
    dcc_leave(c);
}

/* Start d from the loop, never inside dcc_client_list/download: their
 * caller gets the id before any event about it. */
static void dl_defer(struct dcc_dl *d)
{
    struct timeval zero = {0, 0};
    evtimer_add(d->timer, &zero);
}

/* Get d going: an idle connection to its peer, or ask for one. */
static void dl_kick(struct dcc_dl *d)
{
    struct dcc_xfer *x = d->x;
    struct dcc_cc *cc = dcc_cc_find(x, d->nick, true);
    double t = dcc_sget_double(x->c->settings, DCC_S_TRANSFER_TIMEOUT);
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    evtimer_add(d->timer, &tv);
    if (cc) {
        if (cc->state == DCC_CC_IDLE && cc->download)
            dcc_dl_next(cc);
        return;
    }
    for (struct dcc_dl *o = x->dls; o; o = o->next)
        if (o != d && o->started && !o->cc && strcmp(o->nick, d->nick) == 0 && evtimer_pending(o->timer, NULL))
            return;   /* a request for this peer is out already */
    char err[DCC_ERR_LEN];
    if (dcc_cc_request(x, d->nick, err) < 0)
        dl_fail(d, "%s", err);
}

static struct dcc_dl *dl_new(struct dcc_xfer *x, const char *nick, bool is_list, char *err)
{
    struct dcc_dl *d = calloc(1, sizeof *d);
    if (!d) {
        dcc_err(err, "out of memory");
        return NULL;
    }
    d->x = x;
    d->fd = d->dfd = -1;
    d->is_list = is_list;
    d->id = ++x->next_id;
    dc_buf_init(&d->mem, is_list ? DL_LIST_MAX : DL_TTHL_MAX);
    d->nick = strdup(nick);
    d->timer = evtimer_new(x->c->base, dl_timer_cb, d);
    if (!d->nick || !d->timer) {
        dl_free(d);
        dcc_err(err, "out of memory");
        return NULL;
    }
    struct dcc_dl **pp = &x->dls;
    while (*pp)
        pp = &(*pp)->next;
    *pp = d;
    return d;
}

static int dl_check_peer(struct dcc_client *c, const char *nick, char *err)
{
    if (c->state != DCC_STATE_ONLINE)
        return dcc_errc(err, "not-connected", "not logged in to a hub");
    const struct dcc_user *u = nick ? dcc_user_find_nick(c, nick) : NULL;
    if (!u)
        return dcc_errc(err, "not-online", "user '%s' is not online", nick ? nick : "(null)");
    if (u->self)
        return dcc_errc(err, "bad-request", "cannot download from ourselves");
    return 0;
}

long dcc_client_list(struct dcc_client *c, const char *nick, char *err)
{
    if (dl_check_peer(c, nick, err) < 0)
        return -1;
    struct dcc_dl *d = dl_new(c->xfer, nick, true, err);
    if (!d)
        return -1;
    dl_defer(d);
    return d->id;
}

long dcc_client_download(struct dcc_client *c, const struct dcc_download_req *r, char *err)
{
    struct stat st;
    if (dl_check_peer(c, r->nick, err) < 0)
        return -1;
    if (!r->path == !r->tth)
        return dcc_errc(err, "bad-request", "give exactly one of path and tth");
    if (r->tth && strlen(r->tth) != DC_TTH_BASE32_LEN)
        return dcc_errc(err, "bad-request", "'%s' is not a base32 TTH", r->tth);
    if (!r->target_dir || stat(r->target_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return dcc_errc(err, "no-such-dir", "target directory '%s' does not exist", r->target_dir ? r->target_dir : "(null)");
    if (r->name && (!*r->name || strchr(r->name, '/') || strcmp(r->name, ".") == 0 || strcmp(r->name, "..") == 0))
        return dcc_errc(err, "bad-request", "'%s' is not a file name", r->name);
    struct dcc_xfer *x = c->xfer;
    bool need_list = !dl_plist(x, r->nick);
    for (struct dcc_dl *o = x->dls; o && need_list; o = o->next)
        need_list = !(o->is_list && strcmp(o->nick, r->nick) == 0);
    struct dcc_dl *l = need_list ? dl_new(x, r->nick, true, err) : NULL;
    if (need_list && !l)
        return -1;
    struct dcc_dl *d = dl_new(x, r->nick, false, err);
    if (!d)
        return -1;
    d->req_path = r->path ? strdup(r->path) : NULL;
    d->req_tth = r->tth ? strdup(r->tth) : NULL;
    d->target_dir = strdup(r->target_dir);
    d->name = r->name ? strdup(r->name) : NULL;
    if ((r->path && !d->req_path) || (r->tth && !d->req_tth) || !d->target_dir || (r->name && !d->name)) {
        dl_unlink(d);
        dl_free(d);
        return dcc_err(err, "out of memory");
    }
    if (l)
        dl_defer(l);
    dl_defer(d);
    return d->id;
}

void dcc_dl_free_all(struct dcc_xfer *x)
{
    while (x->dls) {
        struct dcc_dl *d = x->dls;
        x->dls = d->next;
        dl_free(d);
    }
    while (x->lists) {
        struct dcc_plist *p = x->lists;
        x->lists = p->next;
        dc_fl_tree_free(p->tree);
        free(p->nick);
        free(p);
    }
}
