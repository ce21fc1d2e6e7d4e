/* fltree.c: a file list in memory (see fltree.h for the layout and why).
 *
 * Three growable arrays, each doubled by realloc: nodes, names, TTHs. Big
 * ones are mremap'd by the allocator rather than copied, and the untouched
 * tail of a doubled array is not resident, so peak memory follows what is in
 * use. Children are a singly linked chain (first child, next sibling) with
 * the last child kept on the directory, so appending in list order is O(1);
 * walks are iterative over parent links, so depth costs no stack.
 *
 * Not here: parsing and writing XML (filelist.c); this builds on its
 * callbacks and its writer.
 */
#include "proto/fltree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FL_DIR        1u
#define FL_INCOMPLETE 2u

/* One entry. Indices, not pointers: half the size, and the array can move. */
struct fl_node {
    uint64_t size;      /* file: bytes */
    uint32_t parent;    /* DC_FL_NONE: the root, or unlinked */
    uint32_t next;      /* next sibling; DC_FL_NONE: the last child */
    uint32_t name;      /* offset into names (NUL-terminated) */
    uint32_t link;      /* dir: first child (DC_FL_NONE: none); file: index into tths */
    uint32_t last;      /* dir: last child, where the next one is appended */
    uint32_t flags;     /* FL_DIR, FL_INCOMPLETE */
};
_Static_assert(sizeof(struct fl_node) == 32, "a node is 32 bytes");

/* Owns all three arrays. */
struct dc_fl_tree {
    struct fl_node *nodes;
    size_t nnodes, nodes_cap;
    char *names;
    size_t names_len, names_cap;
    uint8_t *tths;          /* DC_TTH_LEN bytes per file */
    size_t ntths, tths_cap; /* in TTHs */
};

/* arr (capacity *cap elements of elem bytes) with room for need elements:
 * arr itself, or it moved, or NULL (OOM; arr is still valid). */
static void *fl_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return arr;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p = realloc(arr, c * elem);
    if (p != NULL)
        *cap = c;
    return p;
}

/* Appends a node (and its name) unlinked; DC_FL_NONE on OOM or a full tree. */
static dc_fl_id fl_add(struct dc_fl_tree *t, const char *name, uint32_t flags)
{
    size_t len = strlen(name) + 1;
    if (t->nnodes >= DC_FL_NONE || t->names_len + len > UINT32_MAX)
        return DC_FL_NONE;
    struct fl_node *nodes = fl_grow(t->nodes, &t->nodes_cap, t->nnodes + 1, sizeof *nodes);
    if (nodes == NULL)
        return DC_FL_NONE;
    t->nodes = nodes;
    char *names = fl_grow(t->names, &t->names_cap, t->names_len + len, 1);
    if (names == NULL)
        return DC_FL_NONE;
    t->names = names;
    memcpy(t->names + t->names_len, name, len);
    dc_fl_id id = (dc_fl_id)t->nnodes++;
    t->nodes[id] = (struct fl_node){.parent = DC_FL_NONE, .next = DC_FL_NONE, .name = (uint32_t)t->names_len,
                                    .link = DC_FL_NONE, .last = DC_FL_NONE, .flags = flags};
    t->names_len += len;
    return id;
}

static bool fl_is_dir(const struct dc_fl_tree *t, dc_fl_id n)
{
    return n < t->nnodes && (t->nodes[n].flags & FL_DIR);
}

static void fl_append(struct dc_fl_tree *t, dc_fl_id parent, dc_fl_id n)
{
    struct fl_node *p = &t->nodes[parent];
    if (p->last == DC_FL_NONE)
        p->link = n;
    else
        t->nodes[p->last].next = n;
    p->last = n;
    t->nodes[n].parent = parent;
}

struct dc_fl_tree *dc_fl_tree_new(void)
{
    struct dc_fl_tree *t = calloc(1, sizeof *t);
    if (t != NULL && fl_add(t, "", FL_DIR) != DC_FL_ROOT) {
        dc_fl_tree_free(t);
        return NULL;
    }
    return t;
}

void dc_fl_tree_free(struct dc_fl_tree *t)
{
    if (t == NULL)
        return;
    free(t->nodes);
    free(t->names);
    free(t->tths);
    free(t);
}

dc_fl_id dc_fl_tree_add_dir(struct dc_fl_tree *t, dc_fl_id parent, const char *name, bool incomplete)
{
    if (!fl_is_dir(t, parent))
        return DC_FL_NONE;
    dc_fl_id n = fl_add(t, name, FL_DIR | (incomplete ? FL_INCOMPLETE : 0));
    if (n != DC_FL_NONE)
        fl_append(t, parent, n);
    return n;
}

dc_fl_id dc_fl_tree_add_file(struct dc_fl_tree *t, dc_fl_id parent, const char *name, uint64_t size,
                             const uint8_t tth[DC_TTH_LEN])
{
    if (!fl_is_dir(t, parent) || t->ntths >= UINT32_MAX)
        return DC_FL_NONE;
    uint8_t *tths = fl_grow(t->tths, &t->tths_cap, t->ntths + 1, DC_TTH_LEN);
    if (tths == NULL)
        return DC_FL_NONE;
    t->tths = tths;
    dc_fl_id n = fl_add(t, name, 0);
    if (n == DC_FL_NONE)
        return DC_FL_NONE;
    memcpy(t->tths + t->ntths * DC_TTH_LEN, tth, DC_TTH_LEN);
    t->nodes[n].link = (uint32_t)t->ntths++;
    t->nodes[n].size = size;
    fl_append(t, parent, n);
    return n;
}

void dc_fl_tree_unlink(struct dc_fl_tree *t, dc_fl_id n)
{
    if (n >= t->nnodes || t->nodes[n].parent == DC_FL_NONE)
        return;
    struct fl_node *p = &t->nodes[t->nodes[n].parent];
    dc_fl_id prev = DC_FL_NONE;
    for (dc_fl_id k = p->link; k != n; k = t->nodes[k].next)
        prev = k;
    if (prev == DC_FL_NONE)
        p->link = t->nodes[n].next;
    else
        t->nodes[prev].next = t->nodes[n].next;
    if (p->last == n)
        p->last = prev;
    t->nodes[n].parent = t->nodes[n].next = DC_FL_NONE;
}

void dc_fl_tree_set_tth(struct dc_fl_tree *t, dc_fl_id file, const uint8_t tth[DC_TTH_LEN])
{
    if (file < t->nnodes && !(t->nodes[file].flags & FL_DIR))
        memcpy(t->tths + (size_t)t->nodes[file].link * DC_TTH_LEN, tth, DC_TTH_LEN);
}

/* "a//b/" finds a/b, and "" finds from itself. */
dc_fl_id dc_fl_tree_find(const struct dc_fl_tree *t, dc_fl_id from, const char *path)
{
    dc_fl_id n = from < t->nnodes ? from : DC_FL_NONE;
    while (n != DC_FL_NONE && *path) {
        size_t len = strcspn(path, "/");
        if (len > 0) {
            if (!(t->nodes[n].flags & FL_DIR))
                return DC_FL_NONE;
            dc_fl_id c = t->nodes[n].link;
            while (c != DC_FL_NONE) {
                const char *name = t->names + t->nodes[c].name;
                if (strncmp(name, path, len) == 0 && name[len] == '\0')
                    break;
                c = t->nodes[c].next;
            }
            n = c;
        }
        path += len;
        if (*path == '/')
            path++;
    }
    return n;
}

/* Pre-order successor of n, not leaving the subtree of top. */
static dc_fl_id fl_next(const struct dc_fl_tree *t, dc_fl_id n, dc_fl_id top)
{
    if ((t->nodes[n].flags & FL_DIR) && t->nodes[n].link != DC_FL_NONE)
        return t->nodes[n].link;
    while (n != top && t->nodes[n].next == DC_FL_NONE)
        n = t->nodes[n].parent;
    return n == top ? DC_FL_NONE : t->nodes[n].next;
}

/* A walk from the root, so unlinked files are not found. */
dc_fl_id dc_fl_tree_find_tth(const struct dc_fl_tree *t, const uint8_t tth[DC_TTH_LEN])
{
    for (dc_fl_id n = DC_FL_ROOT; (n = fl_next(t, n, DC_FL_ROOT)) != DC_FL_NONE;)
        if (!(t->nodes[n].flags & FL_DIR) && memcmp(t->tths + (size_t)t->nodes[n].link * DC_TTH_LEN, tth, DC_TTH_LEN) == 0)
            return n;
    return DC_FL_NONE;
}

const char *dc_fl_tree_name(const struct dc_fl_tree *t, dc_fl_id n)
{
    return t->names + t->nodes[n].name;
}

bool dc_fl_tree_is_dir(const struct dc_fl_tree *t, dc_fl_id n)
{
    return t->nodes[n].flags & FL_DIR;
}

bool dc_fl_tree_incomplete(const struct dc_fl_tree *t, dc_fl_id n)
{
    return t->nodes[n].flags & FL_INCOMPLETE;
}

uint64_t dc_fl_tree_size(const struct dc_fl_tree *t, dc_fl_id n)
{
    return t->nodes[n].size;
}

const uint8_t *dc_fl_tree_tth(const struct dc_fl_tree *t, dc_fl_id n)
{
    return t->nodes[n].flags & FL_DIR ? NULL : t->tths + (size_t)t->nodes[n].link * DC_TTH_LEN;
}

dc_fl_id dc_fl_tree_parent(const struct dc_fl_tree *t, dc_fl_id n)
{
    return t->nodes[n].parent;
}

dc_fl_id dc_fl_tree_first_child(const struct dc_fl_tree *t, dc_fl_id n)
{
    return t->nodes[n].flags & FL_DIR ? t->nodes[n].link : DC_FL_NONE;
}

dc_fl_id dc_fl_tree_next_sibling(const struct dc_fl_tree *t, dc_fl_id n)
{
    return t->nodes[n].next;
}

size_t dc_fl_tree_bytes(const struct dc_fl_tree *t, size_t *name_bytes)
{
    if (name_bytes != NULL)
        *name_bytes = t->names_len;
    return t->nnodes * sizeof *t->nodes + t->ntths * DC_TTH_LEN + t->names_len;
}

/* ---- writing ---------------------------------------------------------------- */

/* Iterative pre-order walk; level counts the directories open below top. */
int dc_fl_write_subtree(struct dc_fl_writer *w, const struct dc_fl_tree *t, dc_fl_id top, int depth)
{
    if (!fl_is_dir(t, top))
        return -1;
    int rc = 0, level = 0;
    dc_fl_id n = t->nodes[top].link;
    while (n != DC_FL_NONE && rc == 0) {
        const struct fl_node *p = &t->nodes[n];
        const char *name = t->names + p->name;
        if (p->flags & FL_DIR) {
            bool open = depth < 0 || level < depth, kids = p->link != DC_FL_NONE;
            rc = dc_fl_writer_dir_begin(w, name, (p->flags & FL_INCOMPLETE) || (kids && !open));
            if (rc == 0 && open && kids) {
                n = p->link;
                level++;
                continue;
            }
            if (rc == 0)
                rc = dc_fl_writer_dir_end(w);
        } else {
            rc = dc_fl_writer_file(w, name, p->size, t->tths + (size_t)p->link * DC_TTH_LEN);
        }
        while (rc == 0 && t->nodes[n].next == DC_FL_NONE && level > 0) {
            n = t->nodes[n].parent;
            level--;
            rc = dc_fl_writer_dir_end(w);
        }
        n = t->nodes[n].next;
    }
    return rc;
}

int dc_fl_write_tree(const struct dc_fl_tree *t, dc_fl_sink_cb sink, void *sink_ctx, bool compress,
                     const char *cid, const char *generator)
{
    if (t == NULL)
        return -1;
    struct dc_fl_writer *w = dc_fl_writer_new(sink, sink_ctx, compress, cid, "/", generator);
    if (w == NULL)
        return -1;
    if (dc_fl_write_subtree(w, t, DC_FL_ROOT, -1) != 0) {
        dc_fl_writer_abort(w);
        return -1;
    }
    return dc_fl_writer_finish(w);
}

/* ---- reading ---------------------------------------------------------------- */

/* Building state for dc_fl_read_tree. Owns base until handed out. */
struct fl_build {
    struct dc_fl_tree *t;     /* borrowed from dc_fl_read_tree_limited */
    dc_fl_id cur;             /* directory being filled */
    char *base;               /* owned */
    bool full;                /* an add failed: out of memory or over the id/name limits */
};

static int fl_build_listing(const char *cid, const char *base, const char *gen, void *ctx)
{
    struct fl_build *b = ctx;
    (void)cid;
    (void)gen;
    b->base = strdup(base);
    b->full = b->base == NULL;
    return b->full ? -1 : 0;
}

static int fl_build_dir_begin(const char *name, bool incomplete, void *ctx)
{
    struct fl_build *b = ctx;
    dc_fl_id d = dc_fl_tree_add_dir(b->t, b->cur, name, incomplete);
    b->full = d == DC_FL_NONE;
    if (!b->full)
        b->cur = d;
    return b->full ? -1 : 0;
}

static int fl_build_dir_end(void *ctx)
{
    struct fl_build *b = ctx;
    b->cur = b->t->nodes[b->cur].parent;
    return 0;
}

static int fl_build_file(const char *name, uint64_t size, const uint8_t tth[DC_TTH_LEN], void *ctx)
{
    struct fl_build *b = ctx;
    b->full = dc_fl_tree_add_file(b->t, b->cur, name, size, tth) == DC_FL_NONE;
    return b->full ? -1 : 0;
}

struct dc_fl_tree *dc_fl_read_tree(dc_fl_source_cb source, void *source_ctx, char **base_out, char *err)
{
    return dc_fl_read_tree_limited(source, source_ctx, NULL, base_out, err);
}

struct dc_fl_tree *dc_fl_read_tree_limited(dc_fl_source_cb source, void *source_ctx, struct dc_fl_limits *lim,
                                           char **base_out, char *err)
{
    /* Not static: a const table of function pointers would still be a
     * relocated (writable before relro) data symbol. */
    const struct dc_fl_callbacks cbs = {
        fl_build_listing, fl_build_dir_begin, fl_build_dir_end, fl_build_file,
    };
    struct fl_build b = {.t = dc_fl_tree_new(), .cur = DC_FL_ROOT};
    if (b.t == NULL) {
        if (err != NULL)
            snprintf(err, DC_FL_ERR_LEN, "out of memory");
        return NULL;
    }
    if (dc_fl_read_limited(source, source_ctx, &cbs, &b, lim, err) != 0) {
        if (b.full && err != NULL)   /* the reader only knows a callback stopped it */
            snprintf(err, DC_FL_ERR_LEN, "out of memory building the tree (or over %u entries or 4 GiB of names)",
                     (unsigned)DC_FL_NONE - 1);
        dc_fl_tree_free(b.t);
        free(b.base);
        return NULL;
    }
    if (base_out != NULL)
        *base_out = b.base;
    else
        free(b.base);
    return b.t;
}
