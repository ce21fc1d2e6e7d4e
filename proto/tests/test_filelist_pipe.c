/* test_filelist_pipe.c: the pipelined reader (proto/flinput.c). A list of
 * some MiB is read with bzip2 on its own thread (thread_after = 1: from the
 * second window on) and on the caller's thread only (UINT64_MAX); whatever
 * happens, both must see the same callbacks and end with the same result and
 * message: on good lists, truncated or corrupt bzip2, failing sources,
 * limits and a callback that stops the read. That the thread really runs is
 * checked by counting the process's threads from inside a callback.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/fltree.h"
#include "proto/tests/fltest.h"

#define PIPE_DIRS  40
#define PIPE_FILES 1000    /* 40,040 entries, about 4.6 MB of XML: > the ring */

/* A list of the benchmark's shape, bzip2 (caller frees). */
static char *big_list(bool compress, size_t *len)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    struct dc_fl_writer *w = dc_fl_writer_new(buf_sink, &b, compress, NULL, "/", "test");
    cr_assert_not_null(w);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    char name[96];
    for (unsigned d = 0; d < PIPE_DIRS; d++) {
        snprintf(name, sizeof name, "Artist %04u - Some Band", d);
        cr_assert_eq(dc_fl_writer_dir_begin(w, name, false), 0);
        for (unsigned f = 0; f < PIPE_FILES; f++) {
            uint8_t tth[DC_TTH_LEN];
            for (int i = 0; i < DC_TTH_LEN; i++) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                tth[i] = (uint8_t)seed;
            }
            snprintf(name, sizeof name, "%04u - Track of the River %u.flac", f, d * f);
            cr_assert_eq(dc_fl_writer_file(w, name, seed % 80000000u, tth), 0);
        }
        cr_assert_eq(dc_fl_writer_dir_end(w), 0);
    }
    cr_assert_eq(dc_fl_writer_finish(w), 0);
    return dc_buf_steal(&b, len);
}

/* What the callbacks saw: counts and a running hash of every event. */
struct seen {
    uint64_t dirs, files, ends, hash;
    uint64_t stop_after;      /* > 0: the file callback stops at this file */
    int threads_base, threads_max;
};

static void seen_mix(struct seen *s, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s->hash = (s->hash ^ ((const uint8_t *)p)[i]) * 1099511628211ULL;
}

static int on_dir(const char *name, bool inc, void *ctx)
{
    struct seen *s = ctx;
    s->dirs++;
    seen_mix(s, name, strlen(name) + 1);
    seen_mix(s, &inc, sizeof inc);
    return 0;
}

static int on_end(void *ctx)
{
    struct seen *s = ctx;
    s->ends++;
    seen_mix(s, "/", 1);
    return 0;
}

static int on_file(const char *name, uint64_t size, const uint8_t *tth, void *ctx)
{
    struct seen *s = ctx;
    s->files++;
    seen_mix(s, name, strlen(name) + 1);
    seen_mix(s, &size, sizeof size);
    seen_mix(s, tth, DC_TTH_LEN);
    if (s->files % 5000 == 1) {
        int n = thread_count();
        if (n > s->threads_max)
            s->threads_max = n;
    }
    return s->stop_after && s->files == s->stop_after ? -1 : 0;
}

/* A memory source that fails (-1) once it has handed out fail_at bytes. */
struct fail_src {
    struct mem_src m;
    size_t fail_at;    /* 0: never */
};

static long fail_source(void *buf, size_t cap, void *ctx)
{
    struct fail_src *f = ctx;
    if (f->fail_at && f->m.pos >= f->fail_at)
        return -1;
    return mem_source(buf, cap, &f->m);
}

/* One read of data with callbacks: its result, message, events and limits. */
struct outcome {
    int rc;
    char err[DC_FL_ERR_LEN];
    struct seen seen;
    struct dc_fl_limits lim;
};

static struct outcome read_once(const char *data, size_t len, size_t chunk, size_t fail_at, uint64_t thread_after,
                                struct dc_fl_limits lim, uint64_t stop_after)
{
    struct outcome o = {.seen = {.stop_after = stop_after, .threads_base = thread_count()}, .lim = lim};
    o.seen.threads_max = o.seen.threads_base;
    o.lim.thread_after = thread_after;
    struct fail_src src = {{data, len, 0, chunk}, fail_at};
    struct dc_fl_callbacks cb = {.dir_begin = on_dir, .dir_end = on_end, .file = on_file};
    o.rc = dc_fl_read_limited(fail_source, &src, &cb, &o.seen, &o.lim, o.err);
    return o;
}

/* Reads data with and without the thread and asserts the same outcome;
 * returns the threaded one. */
static struct outcome read_both(const char *data, size_t len, size_t chunk, size_t fail_at, struct dc_fl_limits lim,
                                uint64_t stop_after)
{
    struct outcome a = read_once(data, len, chunk, fail_at, thread_now, lim, stop_after);
    struct outcome b = read_once(data, len, chunk, fail_at, thread_never, lim, stop_after);
    cr_assert_eq(a.rc, b.rc, "threaded: %d \"%s\"; caller's thread: %d \"%s\"", a.rc, a.err, b.rc, b.err);
    cr_assert_str_eq(a.err, b.err);
    cr_assert_eq(a.seen.files, b.seen.files, "%s", a.err);
    cr_assert_eq(a.seen.dirs, b.seen.dirs);
    cr_assert_eq(a.seen.ends, b.seen.ends);
    cr_assert_eq(a.seen.hash, b.seen.hash);
    cr_assert_eq(a.lim.over_bytes, b.lim.over_bytes);
    cr_assert_eq(a.lim.over_entries, b.lim.over_entries);
    cr_assert_eq(b.seen.threads_max, b.seen.threads_base, "UINT64_MAX must keep the read on one thread");
    return a;
}

Test(filelist_pipe, a_large_list_reads_the_same_on_the_thread, .timeout = 120)
{
    size_t len;
    char *bz = big_list(true, &len);
    for (size_t chunk = 0; chunk <= 4093; chunk += 4093) {   /* whole reads, then odd-sized ones */
        struct outcome o = read_both(bz, len, chunk, 0, (struct dc_fl_limits){0}, 0);
        cr_assert_eq(o.rc, 0, "%s", o.err);
        cr_assert_eq(o.seen.dirs, PIPE_DIRS);
        cr_assert_eq(o.seen.files, (uint64_t)PIPE_DIRS * PIPE_FILES);
        cr_assert_gt(o.seen.threads_max, o.seen.threads_base, "the decompression thread never ran");
    }
    /* The default (thread_after 0: 1 MiB) takes the thread for this list. */
    struct outcome d = read_once(bz, len, 0, 0, 0, (struct dc_fl_limits){0}, 0);
    cr_assert_eq(d.rc, 0, "%s", d.err);
    cr_assert_gt(d.seen.threads_max, d.seen.threads_base);
    free(bz);
}

Test(filelist_pipe, plain_xml_and_small_lists_stay_on_the_callers_thread, .timeout = 120)
{
    size_t len;
    char *xml = big_list(false, &len);
    struct outcome o = read_once(xml, len, 0, 0, thread_now, (struct dc_fl_limits){0}, 0);
    cr_assert_eq(o.rc, 0, "%s", o.err);
    cr_assert_eq(o.seen.threads_max, o.seen.threads_base, "plain XML has nothing to overlap");
    free(xml);
    struct dc_fl_tree *t = sample_tree();
    char *bz = write_mem(t, true, &len);
    /* The default does not start a thread for a list under 1 MiB. */
    struct dc_fl_callbacks cb = {.file = on_file};
    struct seen s = {.threads_base = thread_count()};
    s.threads_max = s.threads_base;
    struct mem_src m = {bz, len, 0, 0};
    char err[DC_FL_ERR_LEN];
    cr_assert_eq(dc_fl_read(mem_source, &m, &cb, &s, err), 0, "%s", err);
    cr_assert_gt(s.files, 0);
    cr_assert_eq(s.threads_max, s.threads_base);
    free(bz);
    dc_fl_tree_free(t);
}

Test(filelist_pipe, truncated_bzip2_fails_after_the_same_entries, .timeout = 300)
{
    size_t len;
    char *bz = big_list(true, &len);
    for (int k = 1; k <= 12; k++) {
        size_t cut = len * (size_t)k / 13;
        struct outcome o = read_both(bz, cut, 0, 0, (struct dc_fl_limits){0}, 0);
        cr_assert_eq(o.rc, -1);
        cr_assert(strstr(o.err, "bzip2 data truncated"), "cut at %zu of %zu: %s", cut, len, o.err);
    }
    /* The end-of-stream marker missing: all blocks decode, the end never comes. */
    struct outcome o = read_both(bz, len - 4, 0, 0, (struct dc_fl_limits){0}, 0);
    cr_assert(strstr(o.err, "bzip2 data truncated"), "%s", o.err);
    free(bz);
}

Test(filelist_pipe, corrupt_bzip2_fails_the_same_way, .timeout = 300)
{
    size_t len;
    char *bz = big_list(true, &len);
    for (int k = 1; k <= 12; k++) {
        size_t at = len * (size_t)k / 13;
        bz[at] ^= 0x55;
        struct outcome o = read_both(bz, len, 0, 0, (struct dc_fl_limits){0}, 0);
        bz[at] ^= 0x55;
        cr_assert_eq(o.rc, -1, "flip at %zu read fine", at);
        cr_assert(strstr(o.err, "bzip2") || strstr(o.err, "XML") || strstr(o.err, "File"), "%s", o.err);
    }
    free(bz);
}

Test(filelist_pipe, a_failing_source_fails_after_the_same_entries, .timeout = 120)
{
    size_t len;
    char *bz = big_list(true, &len);
    for (int k = 1; k <= 4; k++) {
        struct outcome o = read_both(bz, len, 8191, len * (size_t)k / 5, (struct dc_fl_limits){0}, 0);
        cr_assert_eq(o.rc, -1);
        cr_assert_str_eq(o.err, "read error from the list source");
        cr_assert_gt(o.seen.files, 0);
        cr_assert_lt(o.seen.files, (uint64_t)PIPE_DIRS * PIPE_FILES);
    }
    free(bz);
}

Test(filelist_pipe, limits_and_stopping_callbacks_end_the_threaded_read, .timeout = 120)
{
    size_t len;
    char *bz = big_list(true, &len);
    struct outcome o = read_both(bz, len, 0, 0, (struct dc_fl_limits){.max_bytes = 2u << 20}, 0);
    cr_assert_eq(o.rc, -1);
    cr_assert(o.lim.over_bytes && !o.lim.over_entries);
    cr_assert(strstr(o.err, "larger than 2097152 bytes"), "%s", o.err);
    o = read_both(bz, len, 0, 0, (struct dc_fl_limits){.max_entries = 20000}, 0);
    cr_assert(o.lim.over_entries && !o.lim.over_bytes);
    cr_assert(strstr(o.err, "more than 20000 entries"), "%s", o.err);
    for (uint64_t stop = 1; stop <= 30001; stop += 10000) {   /* early (ring filling) to late */
        o = read_both(bz, len, 0, 0, (struct dc_fl_limits){0}, stop);
        cr_assert_eq(o.rc, -1);
        cr_assert_eq(o.seen.files, stop);
        cr_assert_str_eq(o.err, "stopped by the file callback");
    }
    free(bz);
}

Test(filelist_pipe, the_tree_reads_the_same_on_the_thread, .timeout = 120)
{
    size_t len;
    char *bz = big_list(true, &len);
    char err[DC_FL_ERR_LEN];
    struct mem_src m = {bz, len, 0, 0};
    struct dc_fl_limits lim = {.thread_after = thread_now};
    struct dc_fl_tree *a = dc_fl_read_tree_limited(mem_source, &m, &lim, NULL, err);
    cr_assert_not_null(a, "%s", err);
    m.pos = 0;
    lim = (struct dc_fl_limits){.thread_after = thread_never};
    struct dc_fl_tree *b = dc_fl_read_tree_limited(mem_source, &m, &lim, NULL, err);
    cr_assert_not_null(b, "%s", err);
    tree_eq(a, b);
    cr_assert_eq(dc_fl_tree_bytes(a, NULL), dc_fl_tree_bytes(b, NULL));
    /* The tree's bound on entries holds on the thread too. */
    m.pos = 0;
    lim = (struct dc_fl_limits){.thread_after = thread_now, .max_entries = 100};
    cr_assert_null(dc_fl_read_tree_limited(mem_source, &m, &lim, NULL, err));
    cr_assert(lim.over_entries, "%s", err);
    dc_fl_tree_free(a);
    dc_fl_tree_free(b);
    free(bz);
}
