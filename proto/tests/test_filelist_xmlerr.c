/* test_filelist_xmlerr.c: libxml2's own messages while reading a hostile
 * file list (encoding conversion failures, which libxml2 raises without a
 * parser context) become the read's error, naming line and column, and never
 * reach stderr; the caller's libxml2 error handlers are back afterwards. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <string.h>
#include <libxml/parser.h>

#include "proto/filelist.h"

struct mem_src {
    const char *data;
    size_t len, pos;
};

static long mem_source(void *buf, size_t cap, void *ctx)
{
    struct mem_src *m = ctx;
    size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (long)n;
}

static int read_err(const char *xml, char *err)
{
    struct mem_src m = {xml, strlen(xml), 0};
    return dc_fl_read(mem_source, &m, NULL, NULL, err);
}

/* Declared Shift_JIS (iconv converts it), with a lead byte followed by bytes
 * no Shift_JIS sequence has: libxml2 prints "input conversion failed" and
 * "encoder error" through its process handlers, not the reader's. */
static const char bad_sjis[] = "<?xml version=\"1.0\" encoding=\"SHIFT_JIS\"?>\n"
                               "<FileListing Version=\"1\" Base=\"/\">\n"
                               "<Directory Name=\"a\x81\x20\xff\xfe\"/></FileListing>";

Test(filelist_xmlerr, malformed_encoding_is_the_error_and_stderr_stays_silent,
     .init = cr_redirect_stderr)
{
    char err[DC_FL_ERR_LEN] = "";
    cr_assert_eq(read_err(bad_sjis, err), -1, "a list that cannot be decoded was accepted");
    cr_assert(strstr(err, "input conversion failed"), "not libxml2's first message: \"%s\"", err);
    cr_assert(strstr(err, "line ") && strstr(err, "column "), "no position: \"%s\"", err);
    /* A parser error (wrong declared encoding) names its exact position. */
    cr_assert_eq(read_err("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<FileListing Base=\"/\"/>", err), -1);
    cr_assert(strstr(err, "XML error at line 1, column "), "\"%s\"", err);
    fflush(stderr);
    cr_assert_stderr_eq_str("", "libxml2 printed to stderr");
}

struct seen {
    int structured, generic;
};

static void count_structured(void *ctx, xmlErrorPtr e)
{
    (void)e;
    ((struct seen *)ctx)->structured++;
}

static void count_generic(void *ctx, const char *fmt, ...)
{
    (void)fmt;
    ((struct seen *)ctx)->generic++;
}

Test(filelist_xmlerr, the_callers_libxml2_handlers_are_untouched_and_restored)
{
    struct seen s = {0, 0};
    xmlSetStructuredErrorFunc(&s, count_structured);
    xmlSetGenericErrorFunc(&s, count_generic);
    char err[DC_FL_ERR_LEN];
    cr_assert_eq(read_err(bad_sjis, err), -1);
    cr_assert_eq(s.structured + s.generic, 0, "the read's messages reached the caller's handlers");
    cr_assert_eq(xmlStructuredError, count_structured, "structured handler not restored");
    cr_assert_eq(xmlStructuredErrorContext, &s);
    cr_assert_eq(xmlGenericError, count_generic, "generic handler not restored");
    cr_assert_eq(xmlGenericErrorContext, &s);
    /* And they still work: the caller's own bad parse reaches them. */
    xmlDocPtr doc = xmlReadMemory("<a>", 3, "x.xml", NULL, XML_PARSE_NONET);
    cr_assert_null(doc);
    cr_assert_gt(s.structured, 0, "the caller's handler no longer receives errors");
    xmlSetStructuredErrorFunc(NULL, NULL);
    xmlSetGenericErrorFunc(NULL, NULL);
}
