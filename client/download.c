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
 * continues from there. Received data is written and hashed as it arrives,
 * each block checked the moment it is complete (for files of 512 KiB and
 * more on a verifier thread, see struct dcc_vt), so a corrupt block stops
 * the transfer. Only when every block matched is the .part renamed to
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "proto/base32.h"
#include "proto/filelist.h"

#define DL_LIST_MAX (256u * 1024 * 1024)    /* largest file list accepted */
#define DL_TTHL_MAX (1024u * 1024)
#define DL_READBACK (1024 * 1024)
#define DL_PROGRESS_EVERY 0.25
#define VT_SLOTS 8                          /* verifier ring: 8 x 1 MiB */
#define VT_SLOT (1024 * 1024)
#define VT_MIN_SIZE (512 * 1024)            /* smaller downloads are verified inline */

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
    uint64_t pos;                   /* bytes in the .part (written) */
    uint64_t vpos;                  /* bytes fed to verification */
    uint64_t resumed_from, received;
    struct dc_tth_ctx blk;          /* while vt runs, only its thread touches */
    uint64_t blk_index, blk_fill;   /* blk, blk_index, blk_fill and vpos */
    struct dcc_vt *vt;              /* verifier thread, for large files */
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

static void vt_free(struct dcc_vt *v);

static void dl_free(struct dcc_dl *d)
{
    vt_free(d->vt);   /* first: its thread reads the dl */
    if (d->fd >= 0)
        close(d->fd);
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

static bool dl_emit(struct dcc_dl *d, enum dcc_event_type type, const char *text, const struct dc_fl_node *list)
{
    double secs = d->t0 > 0 ? dl_now() - d->t0 : 0;
    struct dcc_transfer_info t = {
        .id = d->id, .nick = d->nick, .is_list = d->is_list, .path = d->vpath ? d->vpath : "",
        .tth = d->resolved ? d->tth_b32 : "", .file = d->final_path ? d->final_path : "",
        .size = d->is_list ? d->mem.len : d->size, .done = d->is_list ? d->mem.len : d->pos,
        .resumed_from = d->resumed_from, .received = d->received, .seconds = secs,
        .speed = secs > 0 ? (double)d->received / secs : 0, .compressed = d->compressed, .tls = d->tls, .list = list,
    };
    struct dcc_event ev = {.type = type, .transfer = &t, .text = text};
    return dcc_emit_any(d->x->c, &ev);
}

/* End d with TRANSFER_FAILED. The .part stays. */
static void dl_fail(struct dcc_dl *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dl_fail(struct dcc_dl *d, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    dl_unlink(d);
    dcc_log(d->x->c, "download %ld from %s failed: %s", d->id, d->nick, why);
    dl_emit(d, DCC_EVENT_TRANSFER_FAILED, why, NULL);
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

const struct dc_fl_node *dcc_client_peer_list(const struct dcc_client *c, const char *nick)
{
    const struct dcc_plist *p = dl_plist(c->xfer, nick);
    return p ? p->tree : NULL;
}

static const struct dc_fl_node *dl_find_tth(const struct dc_fl_node *n, const uint8_t tth[DC_TTH_LEN])
{
    for (const struct dc_fl_node *k = n->first_child; k; k = k->next_sibling) {
        const struct dc_fl_node *hit = k->is_dir ? dl_find_tth(k, tth) : memcmp(k->tth, tth, DC_TTH_LEN) == 0 ? k : NULL;
        if (hit)
            return hit;
    }
    return NULL;
}

static char *dl_node_path(const struct dc_fl_node *n)
{
    const struct dc_fl_node *chain[256];
    size_t k = 0;
    for (; n && n->parent && k < 256; n = n->parent)
        chain[k++] = n;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    while (k--)
        if (dc_buf_appendf(&b, "/%s", chain[k]->name) < 0) {
            dc_buf_cleanup(&b);
            return NULL;
        }
    return dc_buf_steal(&b, NULL);
}

/* Fill size/TTH/name/paths from the peer's list; -1 with d failed. */
static int dl_resolve(struct dcc_dl *d)
{
    struct dcc_plist *p = dl_plist(d->x, d->nick);
    const struct dc_fl_node *n = NULL;
    uint8_t tth[DC_TTH_LEN];
    if (d->req_tth && dc_base32_decode(d->req_tth, strlen(d->req_tth), tth, sizeof tth) != DC_TTH_LEN) {
        dl_fail(d, "'%s' is not a base32 TTH", d->req_tth);
        return -1;
    }
    if (p && d->req_path)
        n = dc_fl_node_find(p->tree, d->req_path);
    else if (p)
        n = dl_find_tth(p->tree, tth);
    if (!n || n->is_dir || (d->req_tth && memcmp(n->tth, tth, DC_TTH_LEN) != 0)) {
        dl_fail(d, "%s is not a file in %s's list", d->req_path ? d->req_path : d->req_tth, d->nick);
        return -1;
    }
    memcpy(d->tth, n->tth, DC_TTH_LEN);
    dc_base32_encode(d->tth, DC_TTH_LEN, d->tth_b32, sizeof d->tth_b32);
    d->size = n->size;
    d->vpath = dl_node_path(n);
    if (!d->name)
        d->name = strdup(n->name);
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

/* ---- verifier thread ------------------------------------------------------ */

/* Hashing is the slowest step of a download, so a large file is verified on
 * a thread of its own while the loop thread reads and writes: received data
 * is copied into a ring of VT_SLOTS buffers of VT_SLOT bytes; the thread
 * feeds it to the block check (dl_feed). When the ring is full the loop
 * thread waits for a free slot, which bounds memory and is backpressure
 * (the socket is not read meanwhile). A bad block is seen by the loop at
 * its next push or at the end. The thread is the dl's and is joined before
 * the dl goes (never detached). Owned by the dl. */
struct dcc_vt {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;                /* any change: data, room, end, result */
    uint8_t *buf[VT_SLOTS];
    size_t len[VT_SLOTS];
    unsigned head, count;
    bool eof, stop, done, joined;
    int64_t bad;                      /* first bad block, or -1 */
};

static int dl_feed(struct dcc_dl *d, const uint8_t *p, size_t n);

static void *vt_main(void *arg)
{
    struct dcc_dl *d = arg;
    struct dcc_vt *v = d->vt;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (!v->count && !v->eof && !v->stop)
            pthread_cond_wait(&v->cv, &v->mu);
        if (v->stop || !v->count)
            break;
        unsigned i = v->head;
        bool skip = v->bad >= 0;
        pthread_mutex_unlock(&v->mu);
        int rc = skip ? 0 : dl_feed(d, v->buf[i], v->len[i]);
        pthread_mutex_lock(&v->mu);
        if (rc < 0)
            v->bad = (int64_t)d->blk_index;
        v->head = (v->head + 1) % VT_SLOTS;
        v->count--;
        pthread_cond_broadcast(&v->cv);
    }
    v->done = true;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

static void vt_start(struct dcc_dl *d)
{
    struct dcc_vt *v = calloc(1, sizeof *v);
    if (!v)
        return;   /* verified inline instead */
    v->bad = -1;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    d->vt = v;
    if (pthread_create(&v->th, NULL, vt_main, d) != 0) {
        pthread_mutex_destroy(&v->mu);
        pthread_cond_destroy(&v->cv);
        free(v);
        d->vt = NULL;
    }
}

/* Queue data for the thread; -1 once a block failed (v->bad). */
static int vt_push(struct dcc_vt *v, const uint8_t *p, size_t n)
{
    pthread_mutex_lock(&v->mu);
    while (n && v->bad < 0) {
        while (v->count == VT_SLOTS && v->bad < 0)
            pthread_cond_wait(&v->cv, &v->mu);
        unsigned i = (v->head + v->count) % VT_SLOTS;
        if (v->bad >= 0 || (!v->buf[i] && !(v->buf[i] = malloc(VT_SLOT))))
            break;
        size_t m = n < VT_SLOT ? n : VT_SLOT;
        memcpy(v->buf[i], p, m);
        v->len[i] = m;
        v->count++;
        pthread_cond_broadcast(&v->cv);
        p += m;
        n -= m;
    }
    int rc = n || v->bad >= 0 ? -1 : 0;
    pthread_mutex_unlock(&v->mu);
    return rc;
}

/* Wait until the thread has verified everything (end) or stop it (abort),
 * and join it; afterwards the dl's block state is the loop thread's again.
 * Returns the first bad block or -1. */
static int64_t vt_join(struct dcc_vt *v, bool abort)
{
    if (v->joined)
        return v->bad;
    pthread_mutex_lock(&v->mu);
    v->eof = true;
    v->stop = abort;
    pthread_cond_broadcast(&v->cv);
    while (!v->done)
        pthread_cond_wait(&v->cv, &v->mu);
    pthread_mutex_unlock(&v->mu);
    pthread_join(v->th, NULL);
    v->joined = true;
    return v->bad;
}

static void vt_free(struct dcc_vt *v)
{
    if (!v)
        return;
    vt_join(v, true);
    for (unsigned i = 0; i < VT_SLOTS; i++)
        free(v->buf[i]);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    free(v);
}

/* ---- verification ------------------------------------------------------------- */

/* The current block is complete: check it against its leaf. */
static int dl_block_done(struct dcc_dl *d)
{
    uint8_t root[DC_TTH_LEN];
    dc_tth_final(&d->blk, root);
    dc_tth_cleanup(&d->blk);
    dc_tth_init(&d->blk, DC_TTH_NO_LEVEL);
    if (d->blk_index >= d->nleaves || memcmp(root, d->leaves + d->blk_index * DC_TTH_LEN, DC_TTH_LEN) != 0)
        return -1;
    d->blk_index++;
    d->blk_fill = 0;
    return 0;
}

/* Hash data that continues the file at d->vpos, checking each block as it
 * completes. -1: a block failed its check (d->vpos is then its start). */
static int dl_feed(struct dcc_dl *d, const uint8_t *p, size_t n)
{
    while (n) {
        size_t m = d->bs - d->blk_fill < n ? (size_t)(d->bs - d->blk_fill) : n;
        dc_tth_update(&d->blk, p, m);
        d->blk_fill += m;
        d->vpos += m;
        p += m;
        n -= m;
        if ((d->blk_fill == d->bs || d->vpos == d->size) && dl_block_done(d) < 0) {
            d->vpos = d->blk_index * d->bs;
            return -1;
        }
    }
    return 0;
}

/* Open the .part, keep its verified prefix; -1 with d failed. */
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
    d->fd = open(d->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    struct stat st;
    if (d->fd < 0 || fstat(d->fd, &st) < 0) {
        dl_fail(d, "cannot open %s: %s", d->part_path, strerror(errno));
        return -1;
    }
    dc_tth_init(&d->blk, DC_TTH_NO_LEVEL);
    d->vpos = d->blk_index = d->blk_fill = 0;
    uint64_t have = (uint64_t)st.st_size <= d->size ? (uint64_t)st.st_size : 0;
    uint8_t *buf = have ? malloc(DL_READBACK) : NULL;
    while (buf && d->vpos < have) {
        size_t want = have - d->vpos < DL_READBACK ? (size_t)(have - d->vpos) : DL_READBACK;
        ssize_t r = read(d->fd, buf, want);
        if (r <= 0 || dl_feed(d, buf, (size_t)r) < 0) {
            dcc_log(d->x->c, "%s: keeping the verified %llu bytes", d->part_path,
                    (unsigned long long)(d->blk_index * d->bs));
            dc_tth_cleanup(&d->blk);
            dc_tth_init(&d->blk, DC_TTH_NO_LEVEL);
            d->vpos = d->blk_index * d->bs;
            d->blk_fill = 0;
            break;
        }
    }
    free(buf);
    d->pos = d->vpos;
    if (have && !buf && d->pos != have) {
        dl_fail(d, "out of memory");
        return -1;
    }
    /* A tail block read back but not yet complete is re-hashed from disk
     * above, so d->pos may sit inside a block: that is where data continues. */
    if (ftruncate(d->fd, (off_t)d->pos) < 0 || lseek(d->fd, (off_t)d->pos, SEEK_SET) < 0) {
        dl_fail(d, "cannot truncate %s: %s", d->part_path, strerror(errno));
        return -1;
    }
    d->resumed_from = d->pos;
    return 0;
}

/* ---- running ----------------------------------------------------------------- */

static bool dl_zl1(struct dcc_cc *cc)
{
    return cc->peer_zlig && dcc_sget_bool(cc->x->c->settings, DCC_S_COMPRESS);
}

static void dl_finish_file(struct dcc_dl *d);
static void dl_bad_block(struct dcc_dl *d);

static void dl_start_file(struct dcc_dl *d)
{
    d->phase = DL_PH_FILE;
    if (dl_open_part(d) < 0)
        return;
    if (d->pos == d->size && d->size) {   /* the .part was complete already */
        dl_finish_file(d);
        return;
    }
    if (d->size - d->pos >= VT_MIN_SIZE)
        vt_start(d);
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
    case DL_PH_LIST: ok = strcmp(type, "file") == 0 && (uint64_t)bytes <= DL_LIST_MAX; break;
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
    if (dcc_cc_recv_begin(cc, (uint64_t)bytes, zl1) < 0)
        dcc_cc_close(cc, "out of memory");
}

int dcc_dl_data(struct dcc_cc *cc, const void *data, size_t len)
{
    struct dcc_dl *d = cc->dl;
    if (d->phase != DL_PH_FILE) {
        if (dc_buf_append(&d->mem, data, len) < 0) {
            dcc_cc_close(cc, "out of memory");
            return -1;
        }
        return 0;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(d->fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            dl_fail(d, "cannot write %s: %s", d->part_path, strerror(errno));
            dcc_cc_close(cc, "local write error");
            return -1;
        }
        off += (size_t)w;
    }
    d->received += len;
    d->pos += len;
    if (d->vt ? vt_push(d->vt, data, len) < 0 : dl_feed(d, data, len) < 0) {
        dl_bad_block(d);
        return -1;
    }
    double now = dl_now();
    if (now - d->last_progress >= DL_PROGRESS_EVERY) {
        d->last_progress = now;
        if (!dl_emit(d, DCC_EVENT_TRANSFER_PROGRESS, NULL, NULL))
            return -1;
    }
    return 0;
}

/* A block failed: cut it (and what follows) off the .part, so a resume
 * fetches it again, fail d, and drop the connection to the liar. */
static void dl_bad_block(struct dcc_dl *d)
{
    struct dcc_cc *cc = d->cc;
    uint64_t bad = d->vt ? (uint64_t)vt_join(d->vt, true) : d->blk_index;
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
    memcpy(buf, m->data, n);
    m->data += n;
    m->len -= n;
    return (long)n;
}

static void dl_finish_list(struct dcc_dl *d)
{
    char err[DC_FL_ERR_LEN] = "";
    struct dc_buf src = d->mem;   /* a cursor over the same bytes */
    struct dc_fl_node *tree = dc_fl_read_tree(dl_mem_source, &src, NULL, err);
    if (!tree) {
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
        dc_fl_node_free(tree);
        dl_fail(d, "out of memory");
        return;
    }
    dc_fl_node_free(p->tree);
    p->tree = tree;
    d->received = d->mem.len;
    dl_unlink(d);
    dl_emit(d, DCC_EVENT_TRANSFER_DONE, NULL, tree);
    dl_free(d);
}

static void dl_finish_file(struct dcc_dl *d)
{
    if (d->vt && vt_join(d->vt, false) >= 0) {
        dl_bad_block(d);
        return;
    }
    if (d->blk_index < d->nleaves && dl_block_done(d) < 0) {   /* the empty file's one block */
        dl_fail(d, "data does not match TTH %s", d->tth_b32);
        return;
    }
    if (d->pos != d->size || d->vpos != d->size || d->blk_index != d->nleaves) {
        dl_fail(d, "transfer ended at %llu of %llu bytes", (unsigned long long)d->pos, (unsigned long long)d->size);
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
    dl_emit(d, DCC_EVENT_TRANSFER_DONE, NULL, NULL);
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
    dl_fail(d, "%s answered: %s (%d)", d->nick, *text ? text : "error", code);
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
            dl_fail(d, "%s", why);
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
            dl_fail(d, "%s did not connect within transfer_timeout", d->nick);
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
    d->fd = -1;
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
        return dcc_err(err, "not logged in to a hub");
    const struct dcc_user *u = nick ? dcc_user_find_nick(c, nick) : NULL;
    if (!u)
        return dcc_err(err, "user '%s' is not online", nick ? nick : "(null)");
    if (u->self)
        return dcc_err(err, "cannot download from ourselves");
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
        return dcc_err(err, "give exactly one of path and tth");
    if (r->tth && strlen(r->tth) != DC_TTH_BASE32_LEN)
        return dcc_err(err, "'%s' is not a base32 TTH", r->tth);
    if (!r->target_dir || stat(r->target_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return dcc_err(err, "target directory '%s' does not exist", r->target_dir ? r->target_dir : "(null)");
    if (r->name && (!*r->name || strchr(r->name, '/') || strcmp(r->name, ".") == 0 || strcmp(r->name, "..") == 0))
        return dcc_err(err, "'%s' is not a file name", r->name);
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
        dc_fl_node_free(p->tree);
        free(p->nick);
        free(p);
    }
}
