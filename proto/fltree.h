/* fltree.h: a file list in memory (the tree behind dc_fl_read_tree and
 * dc_fl_write_tree, and a client's own share).
 *
 * Compact on purpose: a peer's list of a million entries must not cost a
 * million small allocations. Nodes are 32-byte records in one growable
 * array, linked by uint32 indices; names are NUL-terminated in one byte
 * arena; TTHs are 24 binary bytes each in another arena, for files only. So
 * a file costs 56 bytes plus its name, a directory 32 plus its name, and the
 * whole tree is three allocations.
 *
 * A node is named by its id (dc_fl_id); the root is DC_FL_ROOT, a directory
 * named "". Ids stay valid until the tree is freed: unlinking a node does not
 * reuse its slot. Pointers returned by dc_fl_tree_name / dc_fl_tree_tth are
 * borrowed and valid until the next add to the tree (the arenas may move).
 * Limits: 2^32 - 1 nodes and 4 GiB of names (adds fail beyond).
 */
#ifndef DC_PROTO_FLTREE_H
#define DC_PROTO_FLTREE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "proto/filelist.h"
#include "proto/tth.h"

typedef uint32_t dc_fl_id;
#define DC_FL_ROOT ((dc_fl_id)0)
#define DC_FL_NONE ((dc_fl_id)UINT32_MAX)

struct dc_fl_tree;   /* opaque; owns its node array and both arenas */

/* An empty tree (just the root); NULL on OOM. */
struct dc_fl_tree *dc_fl_tree_new(void);
void dc_fl_tree_free(struct dc_fl_tree *t);

/* Append a child to directory parent (children keep the order they were
 * added in). name is copied. DC_FL_NONE on OOM, a full tree, or a parent
 * that is not a directory of t. Names are not checked here: the reader and
 * the writer check them. */
dc_fl_id dc_fl_tree_add_dir(struct dc_fl_tree *t, dc_fl_id parent, const char *name, bool incomplete);
dc_fl_id dc_fl_tree_add_file(struct dc_fl_tree *t, dc_fl_id parent, const char *name, uint64_t size,
                             const uint8_t tth[DC_TTH_LEN]);
/* Take n (and its subtree) out of the tree; its memory stays until the tree
 * is freed. The root cannot be unlinked; unlinking twice is a no-op. */
void dc_fl_tree_unlink(struct dc_fl_tree *t, dc_fl_id n);
void dc_fl_tree_set_tth(struct dc_fl_tree *t, dc_fl_id file, const uint8_t tth[DC_TTH_LEN]);

/* Find by '/'-separated path below from ("a/b/c.txt"); DC_FL_NONE if absent.
 * Components match exactly (case-sensitive); empty components are skipped,
 * so "" returns from. */
dc_fl_id dc_fl_tree_find(const struct dc_fl_tree *t, dc_fl_id from, const char *path);
/* The first file (in list order) with this TTH, or DC_FL_NONE. */
dc_fl_id dc_fl_tree_find_tth(const struct dc_fl_tree *t, const uint8_t tth[DC_TTH_LEN]);

/* Accessors. n must be an id of t (not DC_FL_NONE). */
const char *dc_fl_tree_name(const struct dc_fl_tree *t, dc_fl_id n);
bool dc_fl_tree_is_dir(const struct dc_fl_tree *t, dc_fl_id n);
bool dc_fl_tree_incomplete(const struct dc_fl_tree *t, dc_fl_id n);   /* dir: Incomplete="1" */
uint64_t dc_fl_tree_size(const struct dc_fl_tree *t, dc_fl_id n);      /* file; 0 for a dir */
const uint8_t *dc_fl_tree_tth(const struct dc_fl_tree *t, dc_fl_id n); /* file; NULL for a dir */
dc_fl_id dc_fl_tree_parent(const struct dc_fl_tree *t, dc_fl_id n);    /* NONE: root or unlinked */
dc_fl_id dc_fl_tree_first_child(const struct dc_fl_tree *t, dc_fl_id n);
dc_fl_id dc_fl_tree_next_sibling(const struct dc_fl_tree *t, dc_fl_id n);

/* Bytes in use: nodes, TTHs and names (unlinked nodes included); name_bytes
 * (may be NULL) receives the names' share, NULs included. */
size_t dc_fl_tree_bytes(const struct dc_fl_tree *t, size_t *name_bytes);

/* Write the children of directory top through w (which the caller created
 * and finishes). depth < 0: everything. depth >= 0: directories are opened
 * only depth levels deep (0: top's children, their directories closed); a
 * closed directory that has children is written Incomplete="1" (a partial
 * list). A directory read as incomplete stays so. */
int dc_fl_write_subtree(struct dc_fl_writer *w, const struct dc_fl_tree *t, dc_fl_id top, int depth);
/* Write the whole tree as a full list (Base "/"). The sink may be called
 * from the writer's bzip2 thread (dc_fl_writer_new in filelist.h). */
int dc_fl_write_tree(const struct dc_fl_tree *t, dc_fl_sink_cb sink, void *sink_ctx, bool compress,
                     const char *cid, const char *generator);

/* Build a tree from a list; NULL with err (DC_FL_ERR_LEN) on failure.
 * base_out (may be NULL) receives a malloc'd copy of the Base attribute.
 * lim (may be NULL) bounds the list as in dc_fl_read_limited. */
struct dc_fl_tree *dc_fl_read_tree(dc_fl_source_cb source, void *source_ctx, char **base_out, char *err);
struct dc_fl_tree *dc_fl_read_tree_limited(dc_fl_source_cb source, void *source_ctx, struct dc_fl_limits *lim,
                                           char **base_out, char *err);

#endif
