/* share.c: what this client shares: roots, the scan, background TTH hashing,
 * the hash cache, the file lists, and the confinement checks every upload
 * goes through.
 *
 * Hashing runs as cooperative steps on the client's event_base (one timer,
 * re-armed with a zero timeout after each step of at most DCC_HASH_STEP_MS,
 * so I/O is polled between steps), not in a worker thread: a share is
 * hashed once and then cached, so its speed matters less than simplicity
 * (no locks around the share, teardown is a plain free). Downloads, where
 * hashing is the bottleneck, verify on a thread (download.c). A file's TTHL
 * level (dc_tth_tthl_level) is kept while hashing, for tthl requests.
 *
 * Cache: <data_dir>/hashes.txt, one line per file "dev ino size mtime_ns
 * TTH LEAVES realpath" (LEAVES base32, "-" if none); an unchanged file (same
 * path, device, inode, size, mtime) is not rehashed after a restart.
 *
 * Confinement: only files found by the scan are served, under virtual paths
 * "/<root name>/<dir>/<file>". The scan refuses symlinks whose target leaves
 * their root and does not descend into symlinked directories (no loops);
 * dcc_share_open re-resolves the path, refuses it if it left the root since,
 * opens with O_NOFOLLOW and checks the inode and size are the hashed ones.
 * Names that are not valid UTF-8 or hold control characters are skipped
 * (a file list cannot carry them).
 *
 * Entry points: dcc_share_new/_free, dcc_share_add_root, dcc_share_by_tth,
 * dcc_share_by_path, dcc_share_open, dcc_share_list, dcc_share_partial.
 */
#include "client/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "proto/base32.h"
#include "proto/fltree.h"

#define DCC_HASH_CHUNK (1024 * 1024)
#define DCC_HASH_STEP_MS 20
#define DCC_SHARE_MAX_DEPTH 64

/* The share. Owns its roots, files, tree, lists, cache and hashing state. */
struct dcc_share {
    struct dcc_client *c;             /* borrowed: the owner */
    char **roots;                     /* real paths of the roots */
    size_t nroots;
    struct dcc_sfile *files;
    size_t nfiles, cap;
    struct dc_fl_tree *tree;          /* virtual tree: root dirs, dirs, files */
    size_t next;                      /* next file to hash */
    int fd;                           /* file being hashed, or -1 */
    struct dc_tth_ctx tth;
    uint8_t *buf;
    struct event *step;
    struct dc_buf list_bz2, list_xml;
    bool list_ok;                     /* lists match the tree */
    struct dcc_hcache *cache;
    size_t ncache;
    bool cache_loaded;
    double last_progress;
};

static double share_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool dcc_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
              : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
        if (!n || (n == 1 && p[0] < 0x20))
            return false;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) ||
            (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))
            return false;
        p += n;
    }
    return true;
}

/* ---- hash cache --------------------------------------------------------- */

static void share_cache_path(struct dcc_share *s, char *path, size_t cap)
{
    snprintf(path, cap, "%s/hashes.txt", dcc_setting_s(s->c, DCC_S_DATA_DIR));
}

int dcc_hcache_parse(const char *line, struct dcc_hcache *e)
{
    char tth[64], leaves[32768];
    int off = 0;
    unsigned long long dev, ino, size;
    long long mt;
    memset(e, 0, sizeof *e);
    if (sscanf(line, "%llu %llu %llu %lld %63s %32767s %n", &dev, &ino, &size, &mt, tth, leaves, &off) != 6 ||
        !off || dc_base32_decode(tth, strlen(tth), e->tth, sizeof e->tth) != DC_TTH_LEN)
        return -1;
    if (strcmp(leaves, "-") != 0) {
        size_t l = strlen(leaves), cap = l * 5 / 8 + 1;
        e->leaves = malloc(cap);
        int got = e->leaves ? dc_base32_decode(leaves, l, e->leaves, cap) : -1;
        if (got <= 0 || got % DC_TTH_LEN) {
            dcc_hcache_cleanup(e);
            return -1;
        }
        e->nleaves = (size_t)got / DC_TTH_LEN;
    }
    if (!(e->real = strdup(line + off))) {
        dcc_hcache_cleanup(e);
        return -1;
    }
    e->dev = dev, e->ino = ino, e->size = size, e->mtime_ns = mt;
    return 0;
}

void dcc_hcache_cleanup(struct dcc_hcache *e)
{
    free(e->real);
    free(e->leaves);
    memset(e, 0, sizeof *e);
}

static void share_cache_load(struct dcc_share *s)
{
    char path[PATH_MAX + 32];
    if (s->cache_loaded || !*dcc_setting_s(s->c, DCC_S_DATA_DIR))
        return;
    s->cache_loaded = true;
    share_cache_path(s, path, sizeof path);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    while ((n = getline(&line, &lcap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        struct dcc_hcache e;
        if (dcc_hcache_parse(line, &e) < 0)
            continue;   /* a damaged line only costs a rehash */
        struct dcc_hcache *grown = realloc(s->cache, (s->ncache + 1) * sizeof *grown);
        if (!grown) {
            dcc_hcache_cleanup(&e);
            break;
        }
        s->cache = grown;
        s->cache[s->ncache++] = e;
    }
    free(line);
    fclose(f);
}

static const struct dcc_hcache *share_cache_find(const struct dcc_share *s, const struct dcc_sfile *f)
{
    for (size_t i = 0; i < s->ncache; i++) {
        const struct dcc_hcache *e = &s->cache[i];
        if (e->ino == f->ino && e->dev == f->dev && e->size == f->size && e->mtime_ns == f->mtime_ns &&
            strcmp(e->real, f->real) == 0)
            return e;
    }
    return NULL;
}

/* Rewrite the cache from the hashed files (temp file + rename: a crash
 * leaves the old cache, never half a file). */
static void share_cache_save(struct dcc_share *s)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    if (!*dcc_setting_s(s->c, DCC_S_DATA_DIR))
        return;
    share_cache_path(s, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "we");
    if (!out) {
        dcc_log(s->c, "cannot write the hash cache %s: %s", tmp, strerror(errno));
        return;
    }
    bool ok = true;
    char tth[DC_TTH_BASE32_LEN + 1];
    for (size_t i = 0; i < s->nfiles && ok; i++) {
        const struct dcc_sfile *f = &s->files[i];
        if (!f->hashed || strchr(f->real, '\n'))
            continue;
        dc_base32_encode(f->tth, DC_TTH_LEN, tth, sizeof tth);
        ok = fprintf(out, "%llu %llu %llu %lld %s ", (unsigned long long)f->dev, (unsigned long long)f->ino,
                     (unsigned long long)f->size, (long long)f->mtime_ns, tth) > 0;
        if (f->nleaves > 1) {
            size_t cap = DC_BASE32_LEN(f->nleaves * DC_TTH_LEN) + 1;
            char *b = malloc(cap);
            ok = ok && b && dc_base32_encode(f->leaves, f->nleaves * DC_TTH_LEN, b, cap) > 0 && fputs(b, out) >= 0;
            free(b);
        } else {
            ok = ok && fputs("-", out) >= 0;
        }
        ok = ok && fprintf(out, " %s\n", f->real) > 0;
    }
    ok = fclose(out) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        dcc_log(s->c, "cannot write the hash cache %s", path);
        unlink(tmp);
    }
}

/* ---- scanning ----------------------------------------------------------- */

static bool share_inside(const char *root, const char *real)
{
    size_t n = strlen(root);
    return strncmp(root, real, n) == 0 && (real[n] == '/' || (n == 1 && root[0] == '/'));
}

static int share_add_file(struct dcc_share *s, size_t root, const char *vpath, const char *real,
                          const struct stat *st, dc_fl_id node)
{
    if (s->nfiles == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct dcc_sfile *f = realloc(s->files, cap * sizeof *f);
        if (!f)
            return -1;
        s->files = f;
        s->cap = cap;
    }
    struct dcc_sfile *f = &s->files[s->nfiles];
    *f = (struct dcc_sfile){.root = root, .size = (uint64_t)st->st_size, .dev = st->st_dev, .ino = st->st_ino,
                            .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
                            .node = node};
    f->vpath = strdup(vpath);
    f->real = strdup(real);
    if (!f->vpath || !f->real) {
        free(f->vpath);
        free(f->real);
        return -1;
    }
    s->nfiles++;
    return 0;
}

/* Scan the real directory dir (already inside root) into node. */
static int share_scan(struct dcc_share *s, size_t root, const char *dir, const char *vdir,
                      dc_fl_id node, int depth)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        dcc_log(s->c, "cannot read %s: %s", dir, strerror(errno));
        return 0;
    }
    int rc = 0;
    /* Hidden (dot) files and directories stay out unless share_hidden says
     * otherwise, as in DC++: editor backups, .git, .ssh under a shared home. */
    bool hidden = dcc_sget_bool(s->c->settings, DCC_S_SHARE_HIDDEN);
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char path[PATH_MAX], vpath[PATH_MAX], real[PATH_MAX];
        struct stat st;
        if (rc < 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || (name[0] == '.' && !hidden) ||
            !dcc_utf8_valid(name) ||
            snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path ||
            snprintf(vpath, sizeof vpath, "%s/%s", vdir, name) >= (int)sizeof vpath || lstat(path, &st) < 0)
            goto next;
        if (S_ISDIR(st.st_mode)) {
            dc_fl_id d = depth < DCC_SHARE_MAX_DEPTH ? dc_fl_tree_add_dir(s->tree, node, name, false) : DC_FL_NONE;
            if (d != DC_FL_NONE)
                rc = share_scan(s, root, path, vpath, d, depth + 1);
            goto next;
        }
        /* A symlinked file counts only if it resolves inside the root. */
        if (!realpath(path, real) || !share_inside(s->roots[root], real) || stat(real, &st) < 0 ||
            !S_ISREG(st.st_mode)) {
            if (S_ISLNK(st.st_mode))
                dcc_log(s->c, "not sharing %s: symlink leaving the shared directory or dangling", path);
            goto next;
        }
        static const uint8_t zero[DC_TTH_LEN];
        dc_fl_id f = dc_fl_tree_add_file(s->tree, node, name, (uint64_t)st.st_size, zero);
        if (f == DC_FL_NONE || share_add_file(s, root, vpath, real, &st, f) < 0)
            rc = -1;
    next:
        free(ents[i]);
    }
    free(ents);
    return rc;
}

/* ---- hashing ------------------------------------------------------------ */

static void share_emit(struct dcc_share *s, enum dcc_event_type type)
{
    struct dcc_share_info info = {0};
    for (size_t i = 0; i < s->nfiles; i++) {
        info.files++;
        info.bytes += s->files[i].size;
        if (s->files[i].hashed) {
            info.files_hashed++;
            info.bytes_hashed += s->files[i].size;
        }
    }
    if (s->fd >= 0)
        info.bytes_hashed += s->tth.total;
    struct dcc_event ev = {.type = type, .share = &info};
    dcc_emit_any(s->c, &ev);
}

static int share_sink_buf(const void *data, size_t len, void *ctx)
{
    return dc_buf_append(ctx, data, len);
}

/* Write the list under node into out (DC_FL_NONE: an empty list); depth -1:
 * everything, else how many directory levels to open (dc_fl_write_subtree). */
static int share_write(struct dcc_share *s, dc_fl_id node, const char *base, bool bz2, int depth,
                       struct dc_buf *out)
{
    char err[DCC_ERR_LEN];
    const char *cid = dcc_identity(s->c, err) == 0 ? s->c->cid_b32 : NULL;
    dc_buf_reset(out);
    struct dc_fl_writer *w = dc_fl_writer_new(share_sink_buf, out, bz2, cid, base, "dcclient " DCC_VERSION);
    if (!w)
        return -1;
    if (node != DC_FL_NONE && dc_fl_write_subtree(w, s->tree, node, depth) < 0) {
        dc_fl_writer_abort(w);
        return -1;
    }
    return dc_fl_writer_finish(w);
}

/* Run the next step after the loop has polled for I/O: a zero timeout, not
 * event_active, which libevent would run again in the same pass. */
static void share_again(struct dcc_share *s)
{
    struct timeval zero = {0, 0};
    evtimer_add(s->step, &zero);
}

static void share_file_done(struct dcc_share *s, struct dcc_sfile *f)
{
    f->hashed = true;
    dc_fl_tree_set_tth(s->tree, f->node, f->tth);
    s->next++;
}

/* Hash for up to one step; re-arm unless everything is hashed. */
static void share_step(struct dcc_share *s)
{
    double end = share_now() + DCC_HASH_STEP_MS / 1000.0;
    while (s->next < s->nfiles && share_now() < end) {
        struct dcc_sfile *f = &s->files[s->next];
        if (s->fd < 0) {
            const struct dcc_hcache *e = share_cache_find(s, f);
            if (e) {
                memcpy(f->tth, e->tth, DC_TTH_LEN);
                if (e->nleaves && (f->leaves = malloc(e->nleaves * DC_TTH_LEN))) {
                    memcpy(f->leaves, e->leaves, e->nleaves * DC_TTH_LEN);
                    f->nleaves = e->nleaves;
                }
                share_file_done(s, f);
                continue;
            }
            s->fd = open(f->real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (s->fd < 0) {
                dcc_log(s->c, "not sharing %s: %s", f->real, strerror(errno));
                dc_fl_tree_unlink(s->tree, f->node);
                f->node = DC_FL_NONE;
                s->next++;
                continue;
            }
            dc_tth_init(&s->tth, dc_tth_tthl_level(f->size));
        }
        ssize_t n = read(s->fd, s->buf, DCC_HASH_CHUNK);
        if (n > 0) {
            dc_tth_update(&s->tth, s->buf, (size_t)n);
            continue;
        }
        close(s->fd);
        s->fd = -1;
        size_t nk = 0;
        int ok = dc_tth_final(&s->tth, f->tth);
        const uint8_t *kept = dc_tth_kept(&s->tth, &nk);
        if (n < 0 || ok < 0 || s->tth.total != f->size) {
            dcc_log(s->c, "not sharing %s: %s", f->real, n < 0 ? strerror(errno) : "changed while hashing");
            dc_fl_tree_unlink(s->tree, f->node);
            f->node = DC_FL_NONE;
            s->next++;
        } else {
            if (nk && (f->leaves = malloc(nk * DC_TTH_LEN))) {
                memcpy(f->leaves, kept, nk * DC_TTH_LEN);
                f->nleaves = nk;
            }
            share_file_done(s, f);
        }
        dc_tth_cleanup(&s->tth);
    }
    if (s->next < s->nfiles) {
        if (share_now() - s->last_progress > 0.1) {
            s->last_progress = share_now();
            share_emit(s, DCC_EVENT_SHARE_PROGRESS);
        }
        share_again(s);
        return;
    }
    /* Drop the files that could not be hashed. */
    size_t k = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        if (s->files[i].hashed) {
            s->files[k++] = s->files[i];
        } else {
            free(s->files[i].vpath);
            free(s->files[i].real);
            free(s->files[i].leaves);
        }
    }
    s->nfiles = s->next = k;
    s->list_ok = false;
    if (*dcc_setting_s(s->c, DCC_S_DATA_DIR) && mkdir(dcc_setting_s(s->c, DCC_S_DATA_DIR), 0700) < 0 && errno != EEXIST)
        dcc_log(s->c, "cannot create data dir %s: %s", dcc_setting_s(s->c, DCC_S_DATA_DIR), strerror(errno));
    share_cache_save(s);
    dcc_share_list(s, true);   /* written now, also to <data_dir>/files.xml.bz2 */
    dcc_share_changed(s->c);
    share_emit(s, DCC_EVENT_SHARE_DONE);
}

static void share_step_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dcc_share *s = arg;
    struct dcc_client *c = s->c;
    dcc_enter(c);
    share_step(s);
    dcc_leave(c);
}

/* ---- public (to the core) ---------------------------------------------- */

struct dcc_share *dcc_share_new(struct dcc_client *c)
{
    struct dcc_share *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->c = c;
    s->fd = -1;
    dc_buf_init(&s->list_bz2, 0);
    dc_buf_init(&s->list_xml, 0);
    s->tree = dc_fl_tree_new();
    s->step = event_new(c->base, -1, 0, share_step_cb, s);
    s->buf = malloc(DCC_HASH_CHUNK);
    if (!s->tree || !s->step || !s->buf) {
        dcc_share_free(s);
        return NULL;
    }
    return s;
}

void dcc_share_free(struct dcc_share *s)
{
    if (!s)
        return;
    if (s->fd >= 0) {
        close(s->fd);
        dc_tth_cleanup(&s->tth);
    }
    if (s->step)
        event_free(s->step);
    for (size_t i = 0; i < s->nroots; i++)
        free(s->roots[i]);
    free(s->roots);
    for (size_t i = 0; i < s->nfiles; i++) {
        free(s->files[i].vpath);
        free(s->files[i].real);
        free(s->files[i].leaves);
    }
    free(s->files);
    for (size_t i = 0; i < s->ncache; i++) {
        free(s->cache[i].real);
        free(s->cache[i].leaves);
    }
    free(s->cache);
    dc_fl_tree_free(s->tree);
    dc_buf_cleanup(&s->list_bz2);
    dc_buf_cleanup(&s->list_xml);
    free(s->buf);
    free(s);
}

int dcc_share_add_root(struct dcc_share *s, const char *dir, char *err)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(dir, real) || stat(real, &st) < 0)
        return dcc_errc(err, errno == ENOENT || errno == ENOTDIR ? "no-such-dir" : "internal", "cannot share %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return dcc_errc(err, "no-such-dir", "cannot share %s: not a directory", dir);
    const char *name = strcmp(real, "/") == 0 ? "root" : strrchr(real, '/') + 1;
    if (!dcc_utf8_valid(name))
        return dcc_errc(err, "bad-value", "cannot share %s: its name is not valid UTF-8", dir);
    for (size_t i = 0; i < s->nroots; i++) {
        if (share_inside(s->roots[i], real) || share_inside(real, s->roots[i]) || strcmp(real, s->roots[i]) == 0)
            return dcc_errc(err, "bad-value", "cannot share %s: it overlaps the shared %s", dir, s->roots[i]);
        if (dc_fl_tree_find(s->tree, DC_FL_ROOT, name) != DC_FL_NONE)
            return dcc_errc(err, "bad-value", "cannot share %s: a shared directory is already named '%s'", dir, name);
    }
    char **roots = realloc(s->roots, (s->nroots + 1) * sizeof *roots);
    if (!roots)
        return dcc_err(err, "out of memory");
    s->roots = roots;
    if (!(roots[s->nroots] = strdup(real)))
        return dcc_err(err, "out of memory");
    size_t idx = s->nroots++;
    char vroot[PATH_MAX];
    snprintf(vroot, sizeof vroot, "/%s", name);
    dc_fl_id node = dc_fl_tree_add_dir(s->tree, DC_FL_ROOT, name, false);
    if (node == DC_FL_NONE || share_scan(s, idx, real, vroot, node, 0) < 0)
        return dcc_err(err, "out of memory while scanning %s", dir);
    share_cache_load(s);
    s->list_ok = false;
    s->last_progress = share_now();
    share_again(s);
    return 0;
}

bool dcc_share_hashing(const struct dcc_share *s)
{
    return s->next < s->nfiles;
}

void dcc_share_totals(const struct dcc_share *s, uint64_t *files, uint64_t *bytes)
{
    *files = *bytes = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        if (s->files[i].hashed) {
            (*files)++;
            *bytes += s->files[i].size;
        }
    }
}

const struct dcc_sfile *dcc_share_by_tth(const struct dcc_share *s, const uint8_t tth[DC_TTH_LEN])
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i].hashed && memcmp(s->files[i].tth, tth, DC_TTH_LEN) == 0)
            return &s->files[i];
    return NULL;
}

/* Virtual paths are compared as given, but "..", "." and empty components
 * are refused outright, so no spelling can climb out of the share. */
static bool share_vpath_ok(const char *vpath)
{
    if (vpath[0] != '/' || strchr(vpath, '\\'))
        return false;
    for (const char *p = vpath + 1;;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!p[n])
            return true;
        p += n + 1;
    }
}

const struct dcc_sfile *dcc_share_by_path(const struct dcc_share *s, const char *vpath)
{
    if (!share_vpath_ok(vpath))
        return NULL;
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i].hashed && strcmp(s->files[i].vpath, vpath) == 0)
            return &s->files[i];
    return NULL;
}

int dcc_share_open(const struct dcc_share *s, const struct dcc_sfile *f)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(f->real, real) || strcmp(real, f->real) != 0 || !share_inside(s->roots[f->root], real))
        return -1;
    int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != f->ino || st.st_dev != f->dev ||
        (uint64_t)st.st_size != f->size) {
        close(fd);
        return -1;
    }
    return fd;
}

const struct dc_buf *dcc_share_list(struct dcc_share *s, bool bz2)
{
    /* While hashing, the last complete list stands (or an empty one): the
     * tree already holds files without a TTH. */
    bool hashing = dcc_share_hashing(s);
    if (!s->list_ok && !(hashing && s->list_bz2.len)) {
        dc_fl_id src = hashing ? DC_FL_NONE : DC_FL_ROOT;
        if (share_write(s, src, "/", true, -1, &s->list_bz2) < 0 ||
            share_write(s, src, "/", false, -1, &s->list_xml) < 0)
            return NULL;
        s->list_ok = !hashing;
        if (*dcc_setting_s(s->c, DCC_S_DATA_DIR)) {
            /* Also on disk, for people and other tools to look at. */
            char path[PATH_MAX + 32];
            snprintf(path, sizeof path, "%s/files.xml.bz2", dcc_setting_s(s->c, DCC_S_DATA_DIR));
            FILE *f = fopen(path, "we");
            if (f) {
                fwrite(s->list_bz2.data, 1, s->list_bz2.len, f);
                fclose(f);
            }
        }
    }
    return bz2 ? &s->list_bz2 : &s->list_xml;
}

int dcc_share_partial(struct dcc_share *s, const char *dir, bool recursive, struct dc_buf *out)
{
    size_t n = strlen(dir);
    if (dcc_share_hashing(s) || n == 0 || dir[0] != '/' || dir[n - 1] != '/')
        return -1;
    dc_fl_id node = DC_FL_ROOT;
    if (n > 1) {
        char vpath[PATH_MAX];
        snprintf(vpath, sizeof vpath, "%.*s", (int)(n - 1), dir);
        if (!share_vpath_ok(vpath) || (node = dc_fl_tree_find(s->tree, DC_FL_ROOT, vpath + 1)) == DC_FL_NONE ||
            !dc_fl_tree_is_dir(s->tree, node))
            return -1;
    }
    return share_write(s, node, dir, false, recursive ? -1 : 0, out);
}
