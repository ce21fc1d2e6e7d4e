/* test_fltree.c: the in-memory file list (proto/fltree.h): find, unlink,
 * TTH lookup, partial writes, deep trees, empty dirs, unicode names, the
 * read limits, and a million-entry round trip with its memory per entry.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/tests/fltest.h"

Test(fltree, find_and_unlink_keep_the_tree_consistent)
{
    struct dc_fl_tree *t = sample_tree();
    cr_assert_eq(find(t, ""), DC_FL_ROOT);
    cr_assert_str_eq(dc_fl_tree_name(t, DC_FL_ROOT), "");
    cr_assert_neq(find(t, "/Music//a/b/"), DC_FL_NONE);
    cr_assert_eq(find(t, "Music/A"), DC_FL_NONE, "find is case-sensitive");
    cr_assert_eq(find(t, "Music/zero.bin/x"), DC_FL_NONE);
    cr_assert_eq(find(t, "Music/zero.bi"), DC_FL_NONE, "a prefix of a name is not the name");
    dc_fl_id music = find(t, "Music");
    cr_assert_eq(dc_fl_tree_find(t, music, "a/b/deep.flac"), find(t, "Music/a/b/deep.flac"), "find below a node");
    uint8_t tth[DC_TTH_LEN] = {0};
    cr_assert_eq(dc_fl_tree_add_file(t, find(t, "Music/zero.bin"), "x", 1, tth), DC_FL_NONE,
                 "a file cannot have children");
    cr_assert_eq(dc_fl_tree_add_dir(t, 999999, "x", false), DC_FL_NONE, "no such parent");
    /* Unlink the middle, first and last children of Music; the rest stays linked. */
    dc_fl_id zero = find(t, "Music/zero.bin");
    dc_fl_tree_unlink(t, zero);
    dc_fl_tree_unlink(t, zero);   /* a no-op */
    cr_assert_str_eq(dc_fl_tree_name(t, zero), "zero.bin", "an unlinked id stays valid");
    cr_assert_eq(dc_fl_tree_parent(t, zero), DC_FL_NONE);
    dc_fl_tree_unlink(t, find(t, "Music/a"));
    dc_fl_id first = dc_fl_tree_first_child(t, music);
    cr_assert_str_eq(dc_fl_tree_name(t, first), "empty dir");
    dc_fl_tree_unlink(t, dc_fl_tree_next_sibling(t, first));
    cr_assert_eq(dc_fl_tree_next_sibling(t, first), DC_FL_NONE);
    dc_fl_tree_unlink(t, DC_FL_ROOT);   /* refused */
    cr_assert_neq(find(t, "Music/empty dir"), DC_FL_NONE);
    /* Appending after unlinking the last child goes to the right place. */
    cr_assert_neq(dc_fl_tree_add_file(t, music, "new.bin", 7, tth), DC_FL_NONE);
    cr_assert_eq(dc_fl_tree_next_sibling(t, first), find(t, "Music/new.bin"));
    /* The trimmed tree still writes and reads back identically. */
    char *xml;
    struct dc_fl_tree *back = tree_round_trip(t, false, &xml);
    cr_assert(!strstr(xml, "zero.bin") && !strstr(xml, "deep.flac"), "%s", xml);
    dc_fl_tree_free(back);
    dc_fl_tree_free(t);
    free(xml);
}

Test(fltree, find_tth_finds_the_first_linked_file)
{
    struct dc_fl_tree *t = sample_tree();
    uint8_t t1[DC_TTH_LEN], none[DC_TTH_LEN] = {9};
    memcpy(t1, dc_fl_tree_tth(t, find(t, "Music/a/b/deep.flac")), DC_TTH_LEN);
    cr_assert_eq(dc_fl_tree_find_tth(t, t1), find(t, "Music/a/b/deep.flac"));
    cr_assert_eq(dc_fl_tree_find_tth(t, none), DC_FL_NONE);
    dc_fl_tree_unlink(t, find(t, "Music"));
    cr_assert_eq(dc_fl_tree_find_tth(t, t1), find(t, "R&D <\"quoted\"> 'x'/a&amp;b<c>d\"e'f.txt"),
                 "files under an unlinked dir are not found");
    dc_fl_tree_set_tth(t, find(t, "top-level empty"), none);   /* a dir: ignored */
    cr_assert_null(dc_fl_tree_tth(t, find(t, "top-level empty")));
    dc_fl_id f = find(t, "R&D <\"quoted\"> 'x'/tab\there\nline\rcr.txt");
    dc_fl_tree_set_tth(t, f, none);
    cr_assert_eq(dc_fl_tree_find_tth(t, none), f);
    dc_fl_tree_free(t);
}

Test(fltree, unicode_names_are_found_by_their_exact_bytes)
{
    struct dc_fl_tree *t = sample_tree();
    struct dc_fl_tree *back = tree_round_trip(t, true, NULL);
    const char *nfc = "Music/\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt";
    cr_assert_eq(dc_fl_tree_size(back, find(back, nfc)), 12345);
    cr_assert_neq(find(back, "R&D <\"quoted\"> 'x'/emoji \xf0\x9f\x98\x80.bin"), DC_FL_NONE);
    /* The same text decomposed (U+0055 U+0308 for U+00DC) is another name. */
    cr_assert_eq(find(back, "Music/U\xcc\x88n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.txt"),
                 DC_FL_NONE);
    dc_fl_tree_free(back);
    dc_fl_tree_free(t);
}

Test(fltree, empty_dirs_and_an_empty_tree_round_trip)
{
    struct dc_fl_tree *t = dc_fl_tree_new();
    size_t len;
    char err[DC_FL_ERR_LEN];
    char *xml = write_mem(t, false, &len);
    struct dc_fl_tree *back = read_mem(xml, len, 0, NULL, err);
    cr_assert_not_null(back, "%s", err);
    cr_assert_eq(dc_fl_tree_first_child(back, DC_FL_ROOT), DC_FL_NONE);
    dc_fl_tree_free(back);
    free(xml);
    dc_fl_id a = dc_fl_tree_add_dir(t, DC_FL_ROOT, "a", false);
    dc_fl_tree_add_dir(t, dc_fl_tree_add_dir(t, a, "b", false), "c", false);
    dc_fl_tree_add_dir(t, a, "b2", true);
    dc_fl_tree_add_dir(t, DC_FL_ROOT, "z", false);
    xml = write_mem(t, true, &len);
    back = read_mem(xml, len, 1, NULL, err);
    cr_assert_not_null(back, "%s", err);
    tree_eq(t, back);
    cr_assert(dc_fl_tree_incomplete(back, find(back, "a/b2")));
    cr_assert_eq(dc_fl_tree_first_child(back, find(back, "a/b/c")), DC_FL_NONE);
    dc_fl_tree_free(back);
    dc_fl_tree_free(t);
    free(xml);
}

Test(fltree, partial_lists_close_dirs_below_the_depth)
{
    struct dc_fl_tree *t = sample_tree();
    for (int depth = 0; depth <= 1; depth++) {
        struct dc_buf b;
        dc_buf_init(&b, 0);
        struct dc_fl_writer *w = dc_fl_writer_new(buf_sink, &b, false, NULL, "/Music/", NULL);
        cr_assert_eq(dc_fl_write_subtree(w, t, find(t, "Music"), depth), 0);
        cr_assert_eq(dc_fl_writer_finish(w), 0);
        char err[DC_FL_ERR_LEN];
        struct dc_fl_tree *back = read_mem(b.data, b.len, 0, NULL, err);
        cr_assert_not_null(back, "%s", err);
        cr_assert_eq(dc_fl_tree_incomplete(back, find(back, "a")), depth == 0, "depth %d", depth);
        cr_assert_eq(find(back, "a/b") != DC_FL_NONE, depth == 1, "depth %d", depth);
        if (depth == 1)
            cr_assert(dc_fl_tree_incomplete(back, find(back, "a/b")));
        cr_assert(!dc_fl_tree_incomplete(back, find(back, "empty dir")), "an empty dir is complete");
        cr_assert_eq(dc_fl_tree_size(back, find(back, "zero.bin")), 0);
        dc_fl_tree_free(back);
        dc_buf_cleanup(&b);
    }
    cr_assert_eq(dc_fl_write_subtree(NULL, t, find(t, "Music/zero.bin"), -1), -1, "top must be a dir");
    dc_fl_tree_free(t);
}

/* Counts bytes only. */
static int count_sink(const void *data, size_t len, void *ctx)
{
    (void)data;
    *(size_t *)ctx += len;
    return 0;
}

Test(fltree, deep_trees_build_find_and_write_without_recursion)
{
    struct dc_fl_tree *t = dc_fl_tree_new();
    dc_fl_id d = DC_FL_ROOT;
    enum { DEEP = 200000 };
    for (int i = 0; i < DEEP && d != DC_FL_NONE; i++)
        d = dc_fl_tree_add_dir(t, d, "d", false);
    cr_assert_neq(d, DC_FL_NONE);
    uint8_t tth[DC_TTH_LEN] = {1};
    dc_fl_id f = dc_fl_tree_add_file(t, d, "leaf", 5, tth);
    char *path = malloc(2 * DEEP + 8);
    for (int i = 0; i < DEEP; i++)
        memcpy(path + 2 * i, "d/", 2);
    strcpy(path + 2 * DEEP, "leaf");
    cr_assert_eq(find(t, path), f);
    cr_assert_eq(dc_fl_tree_find_tth(t, tth), f);
    free(path);
    dc_fl_tree_free(t);
    /* Writing is iterative too (each line is indented by its depth, so the
     * XML grows with depth squared: 5000 levels here). */
    t = dc_fl_tree_new();
    d = DC_FL_ROOT;
    for (int i = 0; i < 5000; i++)
        d = dc_fl_tree_add_dir(t, d, "d", false);
    size_t n = 0;
    cr_assert_eq(dc_fl_write_tree(t, count_sink, &n, false, NULL, NULL), 0);
    cr_assert_gt(n, (size_t)5000 * 4999, "every level written and closed, indented");
    dc_fl_tree_free(t);
    /* The reader refuses such depth (libxml2's limit); 200 levels read back. */
    t = dc_fl_tree_new();
    d = DC_FL_ROOT;
    for (int i = 0; i < 200; i++)
        d = dc_fl_tree_add_dir(t, d, "x", false);
    dc_fl_tree_free(tree_round_trip(t, true, NULL));
    dc_fl_tree_free(t);
}

Test(fltree, limits_stop_the_read_and_say_which)
{
    struct dc_fl_tree *t = sample_tree();   /* 12 entries */
    size_t len;
    char *xml = write_mem(t, true, &len);
    char err[DC_FL_ERR_LEN];
    struct mem_src m = {xml, len, 0, 0};
    struct dc_fl_limits lim = {.max_entries = 12};
    struct dc_fl_tree *back = dc_fl_read_tree_limited(mem_source, &m, &lim, NULL, err);
    cr_assert_not_null(back, "%s", err);
    cr_assert(!lim.over_entries && !lim.over_bytes);
    dc_fl_tree_free(back);
    m.pos = 0;
    lim = (struct dc_fl_limits){.max_entries = 11};
    cr_assert_null(dc_fl_read_tree_limited(mem_source, &m, &lim, NULL, err));
    cr_assert(lim.over_entries && !lim.over_bytes);
    cr_assert(strstr(err, "more than 11 entries"), "%s", err);
    size_t plain_len;
    char *plain = write_mem(t, false, &plain_len);
    m.pos = 0;
    lim = (struct dc_fl_limits){.max_bytes = plain_len - 1};   /* counted after bzip2 */
    cr_assert_null(dc_fl_read_tree_limited(mem_source, &m, &lim, NULL, err));
    cr_assert(lim.over_bytes && !lim.over_entries);
    cr_assert(strstr(err, "larger than"), "%s", err);
    m.pos = 0;
    lim.max_bytes = plain_len;
    back = dc_fl_read_tree_limited(mem_source, &m, &lim, NULL, err);
    cr_assert_not_null(back, "%s", err);
    dc_fl_tree_free(back);
    free(plain);
    free(xml);
    dc_fl_tree_free(t);
}

/* A list of the benchmark's shape: 1000 dirs x 1000 files, 1,001,000 entries,
 * round-trips through plain XML in memory; the tree stays within 64 bytes
 * per entry beyond its names by its own count. */
Test(fltree, a_million_entries_round_trip_compactly, .timeout = 600)
{
    struct dc_fl_tree *t = dc_fl_tree_new();
    uint8_t tth[DC_TTH_LEN];
    char name[64];
    for (unsigned d = 0; d < 1000; d++) {
        snprintf(name, sizeof name, "Artist %04u", d);
        dc_fl_id dir = dc_fl_tree_add_dir(t, DC_FL_ROOT, name, false);
        for (unsigned f = 0; f < 1000; f++) {
            memset(tth, 0, sizeof tth);
            memcpy(tth, &d, sizeof d);
            memcpy(tth + 8, &f, sizeof f);
            snprintf(name, sizeof name, "%04u - track \xe2\x99\xaa.flac", f);
            cr_assert_neq(dc_fl_tree_add_file(t, dir, name, (uint64_t)d * 1000 + f, tth), DC_FL_NONE);
        }
    }
    size_t names, used = dc_fl_tree_bytes(t, &names);
    cr_assert_leq((double)(used - names) / 1001000, 64.0, "%zu bytes, %zu of names", used, names);
    char *xml;
    struct dc_fl_tree *back = tree_round_trip(t, false, &xml);
    cr_assert_eq(dc_fl_tree_bytes(back, NULL), used);
    cr_assert_eq(dc_fl_tree_size(back, find(back, "Artist 0999/0999 - track \xe2\x99\xaa.flac")), 999999);
    dc_fl_tree_free(back);
    dc_fl_tree_free(t);
    free(xml);
}
