/* test_filelist.c: file list writer and streaming reader (proto/filelist.h),
 * through the tree where that is simplest (tree tests: test_fltree.c). Lists
 * are written into and read from memory; the eiskaltdcpp fixture in data/ is
 * the exact list from protocol notes §1.6.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <bzlib.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base32.h"
#include "proto/buf.h"
#include "proto/fltree.h"
#include "proto/tests/fltest.h"

#include <unistd.h>

#define FIXTURE "eiskaltdcpp.xml"

/* Path of a fixture in proto/tests/data. DC_TEST_DATA_DIR is "<dir of the
 * CMakeLists calling dc_add_test>/tests/data", which is proto/tests/tests/data
 * because proto's tests are added from proto/tests/; so fall back to data/
 * next to this file (CMake compiles with absolute paths, so __FILE__ is one). */
static void fixture_path(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", DC_TEST_DATA_DIR, name);
    if (access(out, R_OK) == 0)
        return;
    const char *slash = strrchr(__FILE__, '/');
    int dirlen = slash ? (int)(slash - __FILE__) : 1;
    snprintf(out, cap, "%.*s/data/%s", dirlen, slash ? __FILE__ : ".", name);
}

static char *slurp(const char *name, size_t *len)
{
    char path[4096];
    fixture_path(name, path, sizeof path);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    struct dc_buf b;
    dc_buf_init(&b, 0);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        cr_assert_eq(dc_buf_append(&b, tmp, n), 0);
    fclose(f);
    return dc_buf_steal(&b, len);
}

static int read_str_err(const char *xml, char *err)
{
    struct dc_fl_tree *t = read_mem(xml, strlen(xml), 0, NULL, err);
    dc_fl_tree_free(t);
    return t ? 0 : -1;
}

static void tth_of(const char *b32, uint8_t tth[DC_TTH_LEN])
{
    cr_assert_eq(dc_base32_decode(b32, strlen(b32), tth, DC_TTH_LEN), DC_TTH_LEN);
}

static void check_file(const struct dc_fl_tree *t, const char *path, uint64_t size, const char *tth_b32)
{
    dc_fl_id f = find(t, path);
    cr_assert_neq(f, DC_FL_NONE, "%s missing", path);
    cr_assert(!dc_fl_tree_is_dir(t, f));
    cr_assert_eq(dc_fl_tree_size(t, f), size, "%s size %llu", path, (unsigned long long)dc_fl_tree_size(t, f));
    uint8_t tth[DC_TTH_LEN];
    tth_of(tth_b32, tth);
    cr_assert_arr_eq(dc_fl_tree_tth(t, f), tth, DC_TTH_LEN);
}

static void check_eiskalt_tree(const struct dc_fl_tree *t)
{
    cr_assert_neq(find(t, "share/sub"), DC_FL_NONE);
    cr_assert(dc_fl_tree_is_dir(t, find(t, "share/sub")));
    check_file(t, "share/sub/hello world.txt", 6, "DCTZG7V3JMT2JDJ6VOZU4YISNZVETHE76V2GONI");
    check_file(t, "share/a1025.bin", 1025, "PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY");
    check_file(t, "share/empty.bin", 0, "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ");
    cr_assert_eq(dc_fl_tree_next_sibling(t, dc_fl_tree_first_child(t, DC_FL_ROOT)), DC_FL_NONE,
                 "only one top-level dir");
}

Test(filelist, reads_eiskaltdcpp_list_plain)
{
    size_t len;
    char *xml = slurp(FIXTURE, &len);
    cr_assert(memchr(xml, '\t', len) && strstr(xml, "\r\n"), "fixture keeps tabs and CRLF");
    char err[DC_FL_ERR_LEN], *base = NULL;
    struct dc_fl_tree *t = read_mem(xml, len, 0, &base, err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_str_eq(base, "/");
    check_eiskalt_tree(t);
    dc_fl_tree_free(t);
    free(base);
    free(xml);
}

Test(filelist, reads_eiskaltdcpp_list_bzip2)
{
    size_t len;
    char *bz = slurp(FIXTURE ".bz2", &len);
    cr_assert(len > 3 && memcmp(bz, "BZh", 3) == 0);
    char err[DC_FL_ERR_LEN];
    for (size_t chunk = 0; chunk <= 1; chunk++) {      /* whole and 1 byte per read */
        struct dc_fl_tree *t = read_mem(bz, len, chunk, NULL, err);
        cr_assert_not_null(t, "chunk %zu: %s", chunk, err);
        check_eiskalt_tree(t);
        dc_fl_tree_free(t);
    }
    free(bz);
}

/* What the callbacks saw; plain values, owns nothing. */
struct listing_seen {
    char cid[64], gen[64];
    int dirs, ends, files;
};

static int seen_listing(const char *cid, const char *base, const char *gen, void *ctx)
{
    struct listing_seen *s = ctx;
    (void)base;
    snprintf(s->cid, sizeof s->cid, "%s", cid ? cid : "(null)");
    snprintf(s->gen, sizeof s->gen, "%s", gen ? gen : "(null)");
    return 0;
}
static int seen_dir(const char *name, bool inc, void *ctx)
{
    (void)name, (void)inc;
    ((struct listing_seen *)ctx)->dirs++;
    return 0;
}
static int seen_end(void *ctx)
{
    ((struct listing_seen *)ctx)->ends++;
    return 0;
}
static int seen_file(const char *name, uint64_t size, const uint8_t *tth, void *ctx)
{
    (void)name, (void)size, (void)tth;
    ((struct listing_seen *)ctx)->files++;
    return 0;
}

Test(filelist, callbacks_see_listing_attributes_and_counts)
{
    char path[4096];
    fixture_path(FIXTURE ".bz2", path, sizeof path);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    struct dc_fl_callbacks cb = {seen_listing, seen_dir, seen_end, seen_file};
    struct listing_seen s = {0};
    char err[DC_FL_ERR_LEN];
    cr_assert_eq(dc_fl_read(dc_fl_source_stdio, f, &cb, &s, err), 0, "%s", err);
    fclose(f);
    cr_assert_str_eq(s.cid, "5B7HQVNN7HGHBLNXHUQOUZH4ULW2GHV5X3RERFA");
    cr_assert_str_eq(s.gen, "EiskaltDC++ 2.4.2");
    cr_assert_eq(s.dirs, 2);
    cr_assert_eq(s.ends, 2);
    cr_assert_eq(s.files, 3);
}

Test(filelist, writes_eiskaltdcpp_shape_byte_for_byte)
{
    size_t len, out_len;
    char *xml = slurp(FIXTURE, &len);
    char err[DC_FL_ERR_LEN];
    struct dc_fl_tree *t = read_mem(xml, len, 0, NULL, err);
    cr_assert_not_null(t, "%s", err);
    struct dc_buf b;
    dc_buf_init(&b, 0);
    cr_assert_eq(dc_fl_write_tree(t, buf_sink, &b, false,
                                  "5B7HQVNN7HGHBLNXHUQOUZH4ULW2GHV5X3RERFA", "EiskaltDC++ 2.4.2"), 0);
    char *out = dc_buf_steal(&b, &out_len);
    cr_assert_eq(out_len, len, "wrote:\n%s", out);
    cr_assert_arr_eq(out, xml, len, "wrote:\n%s", out);
    dc_fl_tree_free(t);
    free(out);
    free(xml);
}

static void round_trip(bool compress, size_t chunk)
{
    struct dc_fl_tree *src = sample_tree();
    size_t len;
    char *data = write_mem(src, compress, &len);
    cr_assert_eq(len > 3 && memcmp(data, "BZh", 3) == 0, compress);
    char err[DC_FL_ERR_LEN], *base = NULL;
    struct dc_fl_tree *back = read_mem(data, len, chunk, &base, err);
    cr_assert_not_null(back, "%s", err);
    cr_assert_str_eq(base, "/");
    tree_eq(src, back);
    cr_assert_neq(find(back, "Music/a/b/deep.flac"), DC_FL_NONE);
    cr_assert_eq(dc_fl_tree_size(back, find(back, "Music/a/b/deep.flac")), UINT64_MAX);
    cr_assert_eq(dc_fl_tree_first_child(back, find(back, "Music/empty dir")), DC_FL_NONE);
    dc_fl_tree_free(src);
    dc_fl_tree_free(back);
    free(base);
    free(data);
}

Test(filelist, round_trips_plain) { round_trip(false, 0); }
Test(filelist, round_trips_bzip2) { round_trip(true, 0); }
Test(filelist, round_trips_bzip2_one_byte_reads) { round_trip(true, 1); }
Test(filelist, round_trips_plain_seven_byte_reads) { round_trip(false, 7); }

Test(filelist, compressed_output_is_the_plain_output_bzipped)
{
    struct dc_fl_tree *t = sample_tree();
    size_t plen, clen;
    char *plain = write_mem(t, false, &plen);
    char *bz = write_mem(t, true, &clen);
    char *dec = malloc(plen + 16);
    unsigned dlen = (unsigned)plen + 16;
    cr_assert_eq(BZ2_bzBuffToBuffDecompress(dec, &dlen, bz, (unsigned)clen, 0, 0), BZ_OK);
    cr_assert_eq(dlen, plen);
    cr_assert_arr_eq(dec, plain, plen);
    cr_assert(strstr(plain, "R&amp;D &lt;&quot;quoted&quot;&gt; &apos;x&apos;"), "%s", plain);
    cr_assert(strstr(plain, "tab&#9;here&#10;line&#13;cr.txt"), "%s", plain);
    cr_assert(strstr(plain, "<Directory Name=\"empty dir\"/>"), "%s", plain);
    cr_assert_eq(strncmp(plain, "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>\r\n"
                                "<FileListing Version=\"1\" CID=\"", 86), 0, "%s", plain);
    free(dec);
    free(bz);
    free(plain);
    dc_fl_tree_free(t);
}

Test(filelist, reads_multi_stream_bzip2)
{
    size_t len;
    char *xml = slurp(FIXTURE, &len);
    size_t half = len / 2;
    unsigned cap = (unsigned)len + 1024, l1 = cap, l2 = cap;
    char *out = malloc(2 * cap);
    cr_assert_eq(BZ2_bzBuffToBuffCompress(out, &l1, xml, (unsigned)half, 9, 0, 0), BZ_OK);
    cr_assert_eq(BZ2_bzBuffToBuffCompress(out + l1, &l2, xml + half, (unsigned)(len - half),
                                          9, 0, 0), BZ_OK);
    char err[DC_FL_ERR_LEN];
    struct dc_fl_tree *t = read_mem(out, l1 + l2, 0, NULL, err);
    cr_assert_not_null(t, "%s", err);
    check_eiskalt_tree(t);
    dc_fl_tree_free(t);
    /* Trailing garbage after the stream is not a second stream. */
    char *whole = slurp(FIXTURE ".bz2", &len);
    char *bad = malloc(len + 8);
    memcpy(bad, whole, len);
    memcpy(bad + len, "junkjunk", 8);
    cr_assert_null(read_mem(bad, len + 8, 0, NULL, err));
    cr_assert(strstr(err, "bzip2"), "%s", err);
    free(bad);
    free(whole);
    free(out);
    free(xml);
}

Test(filelist, accepts_utf8_bom)
{
    const char *xml = "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                      "<FileListing Version=\"1\" Base=\"/\"><Directory Name=\"d\"/></FileListing>";
    char err[DC_FL_ERR_LEN];
    struct dc_fl_tree *t = read_mem(xml, strlen(xml), 0, NULL, err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_neq(find(t, "d"), DC_FL_NONE);
    dc_fl_tree_free(t);
}

Test(filelist, accepts_old_root_partial_list_and_unknown_elements)
{
    const char *xml =
        "<FileList Version=\"1\" Base=\"/share/\">"
        "<Directory Name=\"sub\" Incomplete=\"1\" />"
        "<Extra><Directory Name=\"ignored\"/></Extra>"
        "<File Name=\"top.txt\" Size=\"3\" TTH=\"LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ\">"
        "<Note>x</Note></File>"
        "</FileList>";
    char err[DC_FL_ERR_LEN], *base = NULL;
    struct dc_fl_tree *t = read_mem(xml, strlen(xml), 0, &base, err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_str_eq(base, "/share/");
    cr_assert(dc_fl_tree_incomplete(t, find(t, "sub")));
    cr_assert_eq(find(t, "ignored"), DC_FL_NONE);
    check_file(t, "top.txt", 3, "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ");
    dc_fl_tree_free(t);
    free(base);
}

Test(filelist, rejects_truncated_bzip2_at_every_cut)
{
    size_t len;
    char *bz = slurp(FIXTURE ".bz2", &len);
    char err[DC_FL_ERR_LEN];
    for (size_t cut = 0; cut < len; cut++) {
        err[0] = '\0';
        cr_assert_null(read_mem(bz, cut, 0, NULL, err), "cut at %zu accepted", cut);
        cr_assert(err[0] != '\0', "cut at %zu: no reason", cut);
        if (cut >= 3)
            cr_assert(strstr(err, "truncated"), "cut at %zu: %s", cut, err);
    }
    free(bz);
}

Test(filelist, rejects_corrupt_bzip2)
{
    size_t len;
    char *bz = slurp(FIXTURE ".bz2", &len);
    bz[len / 2] ^= 0x55;
    char err[DC_FL_ERR_LEN];
    cr_assert_null(read_mem(bz, len, 0, NULL, err));
    cr_assert(strstr(err, "bzip2"), "%s", err);
    free(bz);
}

static long failing_source(void *buf, size_t cap, void *ctx)
{
    (void)buf, (void)cap, (void)ctx;
    return -1;
}

#define OK_TTH "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"
#define LIST(body) "<?xml version=\"1.0\" encoding=\"utf-8\"?>" \
                   "<FileListing Version=\"1\" Base=\"/\">" body "</FileListing>"

/* One malformed input and a word its error must contain; all borrowed literals. */
struct bad_case {
    const char *what, *data, *reason;
};

static const struct bad_case bad_cases[] = {
    {"empty input", "", "XML"},
    {"garbage", "\x01\x02garbage\xff\xfe not xml at all", "XML"},
    {"bad XML", LIST("<Directory Name=\"a\"></File>"), "XML"},
    {"unclosed root", "<FileListing Base=\"/\"><Directory Name=\"a\">", "XML"},
    {"text after root", LIST("") "<x/>", ""},
    {"wrong root", "<Files Base=\"/\"/>", "root"},
    {"missing Base", "<FileListing Version=\"1\"></FileListing>", "Base"},
    {"relative Base", "<FileListing Base=\"share\"></FileListing>", "Base"},
    {"short TTH", LIST("<File Name=\"f\" Size=\"1\" TTH=\"LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLN\"/>"), "TTH"},
    {"long TTH", LIST("<File Name=\"f\" Size=\"1\" TTH=\"" OK_TTH "A\"/>"), "TTH"},
    {"bad TTH char", LIST("<File Name=\"f\" Size=\"1\" TTH=\"1WPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ\"/>"), "TTH"},
    {"missing TTH", LIST("<File Name=\"f\" Size=\"1\"/>"), "TTH"},
    {"negative Size", LIST("<File Name=\"f\" Size=\"-1\" TTH=\"" OK_TTH "\"/>"), "Size"},
    {"Size with junk", LIST("<File Name=\"f\" Size=\"12a\" TTH=\"" OK_TTH "\"/>"), "Size"},
    {"Size overflow", LIST("<File Name=\"f\" Size=\"18446744073709551616\" TTH=\"" OK_TTH "\"/>"), "Size"},
    {"empty Size", LIST("<File Name=\"f\" Size=\"\" TTH=\"" OK_TTH "\"/>"), "Size"},
    {"missing Size", LIST("<File Name=\"f\" TTH=\"" OK_TTH "\"/>"), "Size"},
    {"dotdot dir", LIST("<Directory Name=\"..\"/>"), ".."},
    {"dot file", LIST("<File Name=\".\" Size=\"1\" TTH=\"" OK_TTH "\"/>"), ".."},
    {"slash", LIST("<Directory Name=\"a/b\"/>"), "'/'"},
    {"backslash", LIST("<File Name=\"a\\b\" Size=\"1\" TTH=\"" OK_TTH "\"/>"), "'/'"},
    {"empty name", LIST("<Directory Name=\"\"/>"), "empty"},
    {"missing name", LIST("<File Size=\"1\" TTH=\"" OK_TTH "\"/>"), "Name"},
    {"duplicate files", LIST("<Directory Name=\"d\"><File Name=\"A.txt\" Size=\"1\" TTH=\"" OK_TTH "\"/>"
                             "<File Name=\"a.TXT\" Size=\"2\" TTH=\"" OK_TTH "\"/></Directory>"), "duplicate"},
    {"duplicate dir and file", LIST("<Directory Name=\"Same\"/><File Name=\"sAME\" Size=\"1\" TTH=\"" OK_TTH "\"/>"), "duplicate"},
    {"duplicate top dirs", LIST("<Directory Name=\"x\"></Directory><Directory Name=\"X\"/>"), "duplicate"},
    {"doctype (XXE)", "<?xml version=\"1.0\"?><!DOCTYPE FileListing [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                      "<FileListing Base=\"/\"><Directory Name=\"&x;\"/></FileListing>", "entity"},
    {"doctype only", "<!DOCTYPE FileListing><FileListing Base=\"/\"/>", "DOCTYPE"},
    {"billion laughs", "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
                       "<FileListing Base=\"/\"><Directory Name=\"&b;\"/></FileListing>", "DOCTYPE"},
    {"undeclared entity", LIST("<Directory Name=\"&nope;\"/>"), "XML"},
    {"unbound namespace prefix", LIST("<x:Directory Name=\"a\"/>"), "XML"},
    {"invalid UTF-8", LIST("<Directory Name=\"\xc3\x28\"/>"), "XML"},
    {"unknown encoding", "<?xml version=\"1.0\" encoding=\"x-bogus-dc\"?><FileListing Base=\"/\"/>", "XML"},
};

Test(filelist, rejects_malformed_lists_with_a_reason_and_silent_stderr, .init = cr_redirect_stderr)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        char err[DC_FL_ERR_LEN] = "";
        cr_assert_eq(read_str_err(c->data, err), -1, "%s accepted", c->what);
        cr_assert(err[0] != '\0', "%s: no reason", c->what);
        cr_assert(strstr(err, c->reason), "%s: reason \"%s\" lacks \"%s\"", c->what, err, c->reason);
    }
    char err[DC_FL_ERR_LEN];
    cr_assert_null(dc_fl_read_tree(failing_source, NULL, NULL, err));
    cr_assert(strstr(err, "read error"), "%s", err);
    fflush(stderr);
    cr_assert_stderr_eq_str("", "libxml2 printed to stderr");
}

Test(filelist, rejects_content_after_a_long_whitespace_tail)
{
    /* Far past libxml2's first chunk: the reader must still see the end. */
    const char *head = LIST("");
    size_t pad = 300000, hl = strlen(head);
    char *xml = malloc(hl + pad + 2);
    memcpy(xml, head, hl);
    memset(xml + hl, '\n', pad);
    memcpy(xml + hl + pad, "x", 2);
    char err[DC_FL_ERR_LEN];
    struct mem_src m = {xml, hl + pad + 1, 0, 0};
    cr_assert_eq(dc_fl_read(mem_source, &m, NULL, NULL, err), -1, "validate-only read accepted it");
    cr_assert(strstr(err, "XML"), "%s", err);
    m.pos = 0;
    m.len = hl + pad;
    cr_assert_eq(dc_fl_read(mem_source, &m, NULL, NULL, err), 0, "%s", err);
    free(xml);
}

Test(filelist, rejects_excessive_nesting)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append_str(&b, "<FileListing Base=\"/\">");
    for (int i = 0; i < 300; i++)
        dc_buf_appendf(&b, "<Directory Name=\"d%d\">", i);
    for (int i = 0; i < 300; i++)
        dc_buf_append_str(&b, "</Directory>");
    cr_assert_eq(dc_buf_append_str(&b, "</FileListing>"), 0);
    char err[DC_FL_ERR_LEN];
    cr_assert_eq(read_str_err(b.data, err), -1);
    cr_assert(strstr(err, "depth"), "%s", err);
    dc_buf_cleanup(&b);
}

Test(filelist, same_name_in_different_dirs_is_fine)
{
    char err[DC_FL_ERR_LEN];
    cr_assert_eq(read_str_err(LIST("<Directory Name=\"a\"><File Name=\"x\" Size=\"1\" TTH=\"" OK_TTH "\"/></Directory>"
                                   "<Directory Name=\"b\"><File Name=\"X\" Size=\"1\" TTH=\"" OK_TTH "\"/>"
                                   "<Directory Name=\"a\"/></Directory>"), err), 0, "%s", err);
}

/* Counts files; the callback stops at stop_at (0 = never). Owns nothing. */
struct stop_ctx {
    int files, stop_at;
};

static int stop_file(const char *name, uint64_t size, const uint8_t *tth, void *ctx)
{
    struct stop_ctx *s = ctx;
    (void)name, (void)size, (void)tth;
    return ++s->files == s->stop_at;
}

Test(filelist, callback_returning_nonzero_stops_with_error)
{
    const char *xml = LIST("<File Name=\"1\" Size=\"1\" TTH=\"" OK_TTH "\"/>"
                           "<File Name=\"2\" Size=\"1\" TTH=\"" OK_TTH "\"/>"
                           "<File Name=\"3\" Size=\"1\" TTH=\"" OK_TTH "\"/>");
    struct dc_fl_callbacks cb = {.file = stop_file};
    struct stop_ctx s = {0, 2};
    struct mem_src m = {xml, strlen(xml), 0, 0};
    char err[DC_FL_ERR_LEN];
    cr_assert_eq(dc_fl_read(mem_source, &m, &cb, &s, err), -1);
    cr_assert_eq(s.files, 2, "no callback after the stop");
    cr_assert(strstr(err, "callback"), "%s", err);
    s = (struct stop_ctx){0, 0};
    m.pos = 0;
    cr_assert_eq(dc_fl_read(mem_source, &m, &cb, &s, err), 0, "%s", err);
    cr_assert_eq(s.files, 3);
}

static int failing_sink(const void *data, size_t len, void *ctx)
{
    (void)data, (void)len;
    return --*(int *)ctx < 0 ? -1 : 0;
}

Test(filelist, writer_reports_sink_errors)
{
    struct dc_fl_tree *t = sample_tree();
    for (int compress = 0; compress <= 1; compress++) {
        int budget = 0;
        cr_assert_eq(dc_fl_write_tree(t, failing_sink, &budget, compress, NULL, NULL), -1);
    }
    dc_fl_tree_free(t);
}

Test(filelist, writer_refuses_names_the_reader_would_reject)
{
    const char *const bad[] = {"", ".", "..", "a/b", "a\\b", "bad\001ctl", "bad\xc3\x28utf8",
                                "overlong\xc0\xaf", "surrogate\xed\xa0\x80"};
    uint8_t tth[DC_TTH_LEN] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct dc_buf b;
        dc_buf_init(&b, 0);
        struct dc_fl_writer *w = dc_fl_writer_new(buf_sink, &b, false, NULL, "/", NULL);
        cr_assert_not_null(w);
        cr_assert_eq(dc_fl_writer_file(w, bad[i], 1, tth), -1, "file name %zu accepted", i);
        cr_assert_eq(dc_fl_writer_finish(w), -1, "finish after a refused name");
        w = dc_fl_writer_new(buf_sink, &b, true, NULL, "/", NULL);
        cr_assert_eq(dc_fl_writer_dir_begin(w, bad[i], false), -1, "dir name %zu accepted", i);
        dc_fl_writer_abort(w);
        dc_buf_cleanup(&b);
    }
}

Test(filelist, writer_closes_open_dirs_and_refuses_unbalanced_end)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    struct dc_fl_writer *w = dc_fl_writer_new(buf_sink, &b, false, NULL, "/share/", "g");
    cr_assert_eq(dc_fl_writer_dir_end(w), -1);
    dc_fl_writer_abort(w);
    dc_buf_reset(&b);
    w = dc_fl_writer_new(buf_sink, &b, false, NULL, "/share/", "g");
    uint8_t tth[DC_TTH_LEN] = {1};
    cr_assert_eq(dc_fl_writer_dir_begin(w, "a", false), 0);
    cr_assert_eq(dc_fl_writer_dir_begin(w, "b", true), 0);
    cr_assert_eq(dc_fl_writer_file(w, "f", 9, tth), 0);
    cr_assert_eq(dc_fl_writer_finish(w), 0);
    char err[DC_FL_ERR_LEN], *base = NULL;
    struct dc_fl_tree *t = read_mem(b.data, b.len, 0, &base, err);
    cr_assert_not_null(t, "%s\n%s", err, b.data);
    cr_assert_str_eq(base, "/share/");
    cr_assert(dc_fl_tree_incomplete(t, find(t, "a/b")));
    cr_assert_eq(dc_fl_tree_size(t, find(t, "a/b/f")), 9);
    dc_fl_tree_free(t);
    free(base);
    dc_buf_cleanup(&b);
}
