/* fltest.h: helpers shared by the file list tests (test_filelist*.c,
 * test_fltree.c): a memory source and sink, reading and writing a tree in
 * memory, tree equality, a sample tree, and counting the process's
 * threads. Static inline, so a test file
 * that does not use one does not warn. */
#ifndef DC_PROTO_TESTS_FLTEST_H
#define DC_PROTO_TESTS_FLTEST_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/buf.h"
#include "proto/fltree.h"

/* A memory source that hands out at most chunk bytes per call (0 = any).
 * Borrows data. */
struct mem_src {
    const char *data;
    size_t len, pos, chunk;
};

static inline long mem_source(void *buf, size_t cap, void *ctx)
{
    struct mem_src *m = ctx;
    size_t n = m->len - m->pos;
    if (n > cap)
        n = cap;
    if (m->chunk && n > m->chunk)
        n = m->chunk;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (long)n;
}

static inline int buf_sink(const void *data, size_t len, void *ctx)
{
    return dc_buf_append(ctx, data, len);
}

static inline struct dc_fl_tree *read_mem(const char *data, size_t len, size_t chunk, char **base,
                                   char *err)
{
    struct mem_src m = {data, len, 0, chunk};
    return dc_fl_read_tree(mem_source, &m, base, err);
}

static inline dc_fl_id find(const struct dc_fl_tree *t, const char *path)
{
    return dc_fl_tree_find(t, DC_FL_ROOT, path);
}

/* Structural equality of the subtrees at x in a and y in b, including order.
 * Iterative, so it also compares deep trees. */
static inline void tree_eq_at(const struct dc_fl_tree *a, dc_fl_id x, const struct dc_fl_tree *b, dc_fl_id y)
{
    dc_fl_id top = x;
    for (;;) {
        const char *name = dc_fl_tree_name(a, x);
        cr_assert_str_eq(name, dc_fl_tree_name(b, y));
        cr_assert_eq(dc_fl_tree_is_dir(a, x), dc_fl_tree_is_dir(b, y), "%s", name);
        if (dc_fl_tree_is_dir(a, x)) {
            cr_assert_eq(dc_fl_tree_incomplete(a, x), dc_fl_tree_incomplete(b, y), "%s", name);
            dc_fl_id cx = dc_fl_tree_first_child(a, x), cy = dc_fl_tree_first_child(b, y);
            cr_assert_eq(cx == DC_FL_NONE, cy == DC_FL_NONE, "children of \"%s\"", name);
            if (cx != DC_FL_NONE) {
                cr_assert_eq(dc_fl_tree_parent(a, cx), x);
                cr_assert_eq(dc_fl_tree_parent(b, cy), y);
                x = cx, y = cy;
                continue;
            }
        } else {
            cr_assert_eq(dc_fl_tree_size(a, x), dc_fl_tree_size(b, y), "%s", name);
            cr_assert_arr_eq(dc_fl_tree_tth(a, x), dc_fl_tree_tth(b, y), DC_TTH_LEN, "%s", name);
        }
        for (;;) {
            if (x == top)
                return;
            dc_fl_id nx = dc_fl_tree_next_sibling(a, x), ny = dc_fl_tree_next_sibling(b, y);
            cr_assert_eq(nx == DC_FL_NONE, ny == DC_FL_NONE, "child count differs after \"%s\"",
                         dc_fl_tree_name(a, x));
            if (nx != DC_FL_NONE) {
                x = nx, y = ny;
                break;
            }
            x = dc_fl_tree_parent(a, x), y = dc_fl_tree_parent(b, y);
        }
    }
}

static inline void tree_eq(const struct dc_fl_tree *a, const struct dc_fl_tree *b)
{
    tree_eq_at(a, DC_FL_ROOT, b, DC_FL_ROOT);
}

/* A tree with nested dirs, an empty dir, 0-byte files, UTF-8 and XML
 * special characters in names. */
static inline struct dc_fl_tree *sample_tree(void)
{
    uint8_t t1[DC_TTH_LEN], t2[DC_TTH_LEN];
    for (int i = 0; i < DC_TTH_LEN; i++)
        t1[i] = (uint8_t)i, t2[i] = (uint8_t)(255 - 7 * i);
    struct dc_fl_tree *t = dc_fl_tree_new();
    cr_assert_not_null(t);
    dc_fl_id music = dc_fl_tree_add_dir(t, DC_FL_ROOT, "Music", false);
    dc_fl_id deep = dc_fl_tree_add_dir(t, dc_fl_tree_add_dir(t, music, "a", false), "b", false);
    dc_fl_tree_add_file(t, deep, "deep.flac", UINT64_MAX, t1);
    dc_fl_tree_add_file(t, music, "zero.bin", 0, t2);
    dc_fl_tree_add_dir(t, music, "empty dir", false);
    dc_fl_tree_add_file(t, music, "\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt", 12345, t2);
    dc_fl_id odd = dc_fl_tree_add_dir(t, DC_FL_ROOT, "R&D <\"quoted\"> 'x'", false);
    dc_fl_tree_add_file(t, odd, "a&amp;b<c>d\"e'f.txt", 1, t1);
    dc_fl_tree_add_file(t, odd, "tab\there\nline\rcr.txt", 2, t1);
    cr_assert_neq(dc_fl_tree_add_file(t, odd, "emoji \xf0\x9f\x98\x80.bin", 0, t2), DC_FL_NONE);
    cr_assert_neq(dc_fl_tree_add_dir(t, DC_FL_ROOT, "top-level empty", false), DC_FL_NONE);
    return t;
}

static inline char *write_mem(const struct dc_fl_tree *root, bool compress, size_t *len)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(dc_fl_write_tree(root, buf_sink, &b, compress,
                                  "5B7HQVNN7HGHBLNXHUQOUZH4ULW2GHV5X3RERFA", "dcharness test"), 0);
    return dc_buf_steal(&b, len);
}

/* Write t (bz2 or plain XML), read it back in one piece, check it is the
 * same tree; the tree read back (caller frees), and with xml_out the bytes
 * written (caller frees). */
static inline struct dc_fl_tree *tree_round_trip(const struct dc_fl_tree *t, bool compress, char **xml_out)
{
    size_t len;
    char *xml = write_mem(t, compress, &len);
    char err[DC_FL_ERR_LEN];
    struct dc_fl_tree *back = read_mem(xml, len, 0, NULL, err);
    cr_assert_not_null(back, "%s", err);
    tree_eq(t, back);
    if (xml_out)
        *xml_out = xml;
    else
        free(xml);
    return back;
}

/* thread_after values of the list reader and writer: a thread from the
 * first byte, or never. */
static const uint64_t thread_now = 1, thread_never = UINT64_MAX;

/* Threads of this process right now (entries of /proc/self/task). */
static inline int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Threads of this process once the count is back to want, or after 2 s:
 * a joined thread can stay listed in /proc/self/task for a moment (glibc's
 * pthread_join returns when the kernel clears the thread id, a little before
 * the task is reaped), while one that was never joined is still blocked on
 * the ring and stays. */
static inline int thread_count_settled(int want)
{
    int n = thread_count();
    for (int i = 0; i < 200 && n != want; i++) {
        usleep(10000);
        n = thread_count();
    }
    return n;
}

#endif
