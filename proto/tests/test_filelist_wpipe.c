/* test_filelist_wpipe.c: the pipelined writer (proto/floutput.c). The same
 * list is written with bzip2 on its own thread from the first swap on
 * (thread_after = 1), from a threshold near the list's size, at the default
 * (1 MiB), and on the caller's thread only (UINT64_MAX): the bytes must be
 * identical, one bzip2 stream with nothing after it, and read back whole. A
 * sink that fails (short write, ENOSPC) must fail the write the same way on
 * both paths: finish returns -1, the sink is never called again after it
 * failed, what it took is a prefix of the good output, and the thread is
 * gone afterwards. That the thread really runs is checked by the thread the
 * sink is called on and by counting the process's threads.
 */
#include <bzlib.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/tests/fltest.h"

/* A sink into a buffer that fails from the call that would take it past
 * fail_at bytes (SIZE_MAX: never), taking only the part that fits, as a
 * short write does; it notes every call after the failure and whether it
 * was called from a thread other than the writer's. */
struct test_sink {
    struct dc_buf buf;
    size_t fail_at;
    int fail_errno;           /* set as errno when failing, as a write(2) would */
    bool failed, called_after_failure, other_thread;
    pthread_t caller;
    int threads_max;
};

static int test_sink(const void *data, size_t len, void *ctx)
{
    struct test_sink *s = ctx;
    if (s->failed) {
        s->called_after_failure = true;
        return -1;
    }
    if (!pthread_equal(pthread_self(), s->caller))
        s->other_thread = true;
    int n = thread_count();
    if (n > s->threads_max)
        s->threads_max = n;
    if (len > s->fail_at - s->buf.len) {
        cr_assert_eq(dc_buf_append(&s->buf, data, s->fail_at - s->buf.len), 0);
        s->failed = true;
        errno = s->fail_errno;
        return -1;
    }
    cr_assert_eq(dc_buf_append(&s->buf, data, len), 0);
    return 0;
}

/* One write of a list of ndirs x nfiles (names with escapes and UTF-8,
 * random TTHs), and a file with a bad name at entry bad_at (0: none). */
struct write_result {
    int rc;                   /* finish's result */
    int first_fail;           /* entry index of the first call that failed; -1: none */
    bool ok_after_fail;       /* a call succeeded after one had failed */
    struct test_sink sink;
    int threads_before, threads_after;
};

static void note(struct write_result *r, int entry, int rc)
{
    if (rc != 0 && r->first_fail < 0)
        r->first_fail = entry;
    else if (rc == 0 && r->first_fail >= 0)
        r->ok_after_fail = true;
}

static struct write_result write_list(unsigned ndirs, unsigned nfiles, uint64_t thread_after, size_t fail_at,
                                      unsigned bad_at, bool abort_at_end)
{
    struct write_result r = {.first_fail = -1,
                             .sink = {.fail_at = fail_at, .fail_errno = ENOSPC, .caller = pthread_self()}};
    dc_buf_init(&r.sink.buf, 0);
    r.threads_before = r.sink.threads_max = thread_count();
    struct dc_fl_writer *w = dc_fl_writer_new(test_sink, &r.sink, true, "5B7HQVNN7HGHBLNXHUQOUZH4ULW2GHV5X3RERFA",
                                              "/", "wpipe test");
    cr_assert_not_null(w);
    dc_fl_writer_thread_after(w, thread_after);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    char name[96];
    int entry = 0;
    for (unsigned d = 0; d < ndirs; d++) {
        snprintf(name, sizeof name, "Artist %04u & <Band> \"\xc3\x9c\" '%u'", d, d * 7);
        note(&r, entry++, dc_fl_writer_dir_begin(w, name, d % 3 == 1));
        for (unsigned f = 0; f < nfiles; f++, entry++) {
            uint8_t tth[DC_TTH_LEN];
            for (int i = 0; i < DC_TTH_LEN; i++) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                tth[i] = (uint8_t)seed;
            }
            if ((unsigned)entry == bad_at)
                snprintf(name, sizeof name, "bad\x01name %u", f);
            else
                snprintf(name, sizeof name, "%04u - Track\tof the River %u \xe6\x97\xa5.flac", f, d * f);
            note(&r, entry, dc_fl_writer_file(w, name, seed % 80000000u, tth));
        }
        if (d % 2 == 0)     /* odd ones are left for finish to close */
            note(&r, entry, dc_fl_writer_dir_end(w));
    }
    if (abort_at_end) {
        dc_fl_writer_abort(w);
        r.rc = -2;
    } else {
        r.rc = dc_fl_writer_finish(w);
    }
    r.threads_after = thread_count_settled(r.threads_before);
    return r;
}

/* data is exactly one complete bzip2 stream; its text is appended to xml. */
static void assert_one_stream(const struct dc_buf *data, struct dc_buf *xml)
{
    bz_stream bz = {0};
    cr_assert_eq(BZ2_bzDecompressInit(&bz, 0, 0), BZ_OK);
    bz.next_in = data->data;
    bz.avail_in = (unsigned)data->len;
    char out[65536];
    int rc;
    do {
        bz.next_out = out;
        bz.avail_out = sizeof out;
        rc = BZ2_bzDecompress(&bz);
        cr_assert(rc == BZ_OK || rc == BZ_STREAM_END, "bzip2 error %d", rc);
        cr_assert_eq(dc_buf_append(xml, out, sizeof out - bz.avail_out), 0);
        cr_assert(rc == BZ_STREAM_END || bz.avail_out == 0 || bz.avail_in > 0, "stream truncated");
    } while (rc != BZ_STREAM_END);
    cr_assert_eq(bz.avail_in, 0, "%u bytes after the end of the first bzip2 stream", bz.avail_in);
    BZ2_bzDecompressEnd(&bz);
}

static void free_result(struct write_result *r)
{
    dc_buf_cleanup(&r->sink.buf);
}

/* Writes the list on the caller's thread only and with each thresholds; all
 * must give the same bytes, one stream that reads back with every entry. */
static void assert_same_bytes(unsigned ndirs, unsigned nfiles, bool expect_thread)
{
    struct write_result one = write_list(ndirs, nfiles, thread_never, SIZE_MAX, 0, false);
    cr_assert_eq(one.rc, 0);
    cr_assert_eq(one.first_fail, -1);
    cr_assert_not(one.sink.other_thread, "UINT64_MAX must keep the write on one thread");
    cr_assert_eq(one.sink.threads_max, one.threads_before);
    struct dc_buf xml;
    dc_buf_init(&xml, 0);
    assert_one_stream(&one.sink.buf, &xml);
    /* Thresholds: from the first swap on, the default, and around the
     * list's own size (the thread starts near its end, or not at all). */
    const uint64_t afters[] = {thread_now, 0, 65536, xml.len > 65536 ? xml.len - 65536 : 2, xml.len, xml.len + 1};
    for (size_t i = 0; i < sizeof afters / sizeof afters[0]; i++) {
        struct write_result two = write_list(ndirs, nfiles, afters[i], SIZE_MAX, 0, false);
        cr_assert_eq(two.rc, 0);
        cr_assert_eq(two.sink.buf.len, one.sink.buf.len, "thread_after %llu: %zu bytes, one thread %zu",
                     (unsigned long long)afters[i], two.sink.buf.len, one.sink.buf.len);
        cr_assert_arr_eq(two.sink.buf.data, one.sink.buf.data, one.sink.buf.len, "thread_after %llu",
                         (unsigned long long)afters[i]);
        cr_assert_eq(two.threads_after, two.threads_before, "the thread was not joined");
        if (afters[i] == thread_now) {
            cr_assert_eq(two.sink.other_thread, expect_thread, "thread_after 1, %zu XML bytes", xml.len);
            if (expect_thread)
                cr_assert_gt(two.sink.threads_max, two.threads_before);
        }
        free_result(&two);
    }
    char err[DC_FL_ERR_LEN];
    struct dc_fl_tree *t = read_mem(one.sink.buf.data, one.sink.buf.len, 0, NULL, err);
    cr_assert_not_null(t, "%s", err);
    size_t names;
    dc_fl_tree_bytes(t, &names);
    cr_assert_gt(names, (size_t)(ndirs + ndirs * nfiles) * 10);
    dc_fl_tree_free(t);
    dc_buf_cleanup(&xml);
    free_result(&one);
}

Test(filelist_wpipe, an_empty_list_is_the_same_either_way)
{
    assert_same_bytes(0, 0, false);
}

Test(filelist_wpipe, a_list_under_one_buffer_never_starts_the_thread)
{
    assert_same_bytes(1, 3, false);      /* well under the 64 KiB text buffer */
    assert_same_bytes(1, 500, false);    /* about 60 KiB: just under it */
}

Test(filelist_wpipe, lists_around_one_buffer_are_the_same_either_way, .timeout = 120)
{
    assert_same_bytes(1, 560, true);     /* just over 64 KiB: one swap */
    assert_same_bytes(2, 600, true);
}

Test(filelist_wpipe, lists_around_the_default_threshold_are_the_same_either_way, .timeout = 120)
{
    assert_same_bytes(9, 1000, true);    /* about 1 MiB of XML */
    assert_same_bytes(10, 1000, true);
}

Test(filelist_wpipe, a_large_list_is_one_identical_stream, .timeout = 240)
{
    assert_same_bytes(40, 1000, true);   /* about 4.6 MB of XML: several bzip2 blocks, many ring turns */
}

/* Writes the list with a sink that fails at fail_at on both paths; both
 * must fail the write, never call the sink again, have delivered a prefix
 * of good, and leave no thread behind. */
static void assert_fails_alike(unsigned ndirs, unsigned nfiles, const struct dc_buf *good, size_t fail_at)
{
    const uint64_t afters[] = {thread_never, thread_now, 0};
    for (size_t i = 0; i < sizeof afters / sizeof afters[0]; i++) {
        struct write_result r = write_list(ndirs, nfiles, afters[i], fail_at, 0, false);
        cr_assert_eq(r.rc, -1, "thread_after %llu, fail at %zu: finish returned %d", (unsigned long long)afters[i],
                     fail_at, r.rc);
        cr_assert(r.sink.failed);
        cr_assert_not(r.sink.called_after_failure, "the sink was called again after it failed");
        cr_assert_eq(r.sink.buf.len, fail_at);
        cr_assert_arr_eq(r.sink.buf.data, good->data, fail_at);
        cr_assert_eq(r.threads_after, r.threads_before, "the thread was not joined");
        cr_assert_not(r.ok_after_fail, "a call succeeded after one had failed");
        free_result(&r);
    }
}

Test(filelist_wpipe, a_failing_sink_fails_the_write_alike_on_both_paths, .timeout = 240)
{
    struct write_result good = write_list(20, 1000, thread_never, SIZE_MAX, 0, false);
    cr_assert_eq(good.rc, 0);
    size_t len = good.sink.buf.len;
    /* First call, mid first bzip2 block's output, mid list, the last bytes. */
    const size_t at[] = {0, 1, 65536, len / 2, len - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        assert_fails_alike(20, 1000, &good.sink.buf, at[i]);
    free_result(&good);
}

Test(filelist_wpipe, calls_after_a_sink_failure_fail_too, .timeout = 120)
{
    /* The sink fails on its first call (bzip2's first block out, about
     * 900 kB of XML in), while the list goes on for MiBs: a later call
     * must report it, on the thread at most the ring (512 KiB of XML, some
     * 4,600 entries of this list) after the caller's thread would have. */
    struct write_result one = write_list(20, 1000, thread_never, 0, 0, false);
    struct write_result two = write_list(20, 1000, thread_now, 0, 0, false);
    cr_assert_eq(one.rc, -1);
    cr_assert_eq(two.rc, -1);
    cr_assert_gt(one.first_fail, 0, "no call failed before finish");
    cr_assert_geq(two.first_fail, one.first_fail);
    cr_assert_lt(two.first_fail, one.first_fail + 5000, "seen at entry %d on the thread, %d without",
                 two.first_fail, one.first_fail);
    cr_assert(two.sink.other_thread);
    cr_assert_not(one.ok_after_fail);
    cr_assert_not(two.ok_after_fail);
    cr_assert_eq(two.threads_after, two.threads_before);
    free_result(&one);
    free_result(&two);
}

Test(filelist_wpipe, a_bad_name_on_the_thread_fails_at_once_and_joins, .timeout = 120)
{
    for (int i = 0; i < 2; i++) {
        uint64_t after = i ? thread_now : thread_never;
        struct write_result r = write_list(20, 1000, after, SIZE_MAX, 15000, false);
        cr_assert_eq(r.rc, -1);
        cr_assert_eq(r.first_fail, 15000, "thread_after %llu", (unsigned long long)after);
        cr_assert_not(r.ok_after_fail);
        cr_assert_eq(r.threads_after, r.threads_before);
        free_result(&r);
    }
}

Test(filelist_wpipe, abort_stops_and_joins_the_thread, .timeout = 120)
{
    struct write_result r = write_list(20, 1000, thread_now, SIZE_MAX, 0, true);
    cr_assert(r.sink.other_thread, "the thread never ran");
    cr_assert_eq(r.threads_after, r.threads_before, "the thread was not joined");
    free_result(&r);
}
