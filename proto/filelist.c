/* filelist.c: DC file lists, files.xml(.bz2) (see filelist.h, notes §1.6).
 *
 * Writer: XML text is formatted straight into a buffer that floutput.c
 * owns; a full buffer is swapped for an empty one, and floutput.c hands the
 * text to the sink, through bzip2 when compressing (for a large list on a
 * thread of its own), so memory is constant whatever the list size. Names
 * are checked before they are written so the writer never produces a list
 * the reader would reject.
 *
 * Reader: xmlTextReader over xmlReaderForIO; the IO callback takes its bytes
 * from flinput.c (sniffs "BZh", passes bytes through or bunzip2s them, for a
 * large list on a thread of its own) and counts them against the byte
 * limit; parsing and every callback stay on the caller's thread. libxml2 errors go to a
 * per-reader structured handler, never to stderr; the errors libxml2 raises
 * without a parser context (encoding conversion: "encoder error") go to its
 * thread's handlers, which are pointed at this read while it runs and put
 * back when it ends (fl_xml_handlers). A DOCTYPE is refused, so no
 * entity can be declared and expanded (XXE, billion laughs); XML_PARSE_NONET
 * and no NOENT/DTDLOAD flags are a second line of defence. Duplicate names are
 * found with one small hash set per open directory level, reused across
 * siblings, so memory follows the largest directory, not the list.
 *
 * Not here: sockets, files on disk (besides the stdio adapters), TTH hashing.
 */
#include "proto/filelist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libxml/xmlreader.h>

#include "proto/base32.h"
#include "proto/buf.h"
#include "proto/flinput.h"
#include "proto/floutput.h"

/* ---- shared validation ---------------------------------------------------- */

/* One path component: non-empty, not "." or "..", no '/' or '\'. */
static const char *fl_name_problem(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return "empty name";
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return "name is \".\" or \"..\"";
    if (strpbrk(name, "/\\") != NULL)
        return "name contains '/' or '\\'";
    return NULL;
}

/* ---- writer --------------------------------------------------------------- */

/* Owns its output (floutput.c: the sink, bzip2 and maybe a thread); text is
 * the output's buffer being filled, lent until the next swap. */
struct dc_fl_writer {
    struct fl_output *out;  /* owned */
    bool failed;            /* sticky: a sink or bzip2 error, a bad name, or API misuse */
    bool tag_open;          /* "<Directory ..." written, '>' or "/>" pending */
    unsigned depth;         /* open Directory elements */
    char *text;             /* borrowed from out; NULL once failed */
    size_t text_len, text_cap;
};

/* Hands the text written so far to the output and takes the next buffer. */
static int fl_w_flush(struct dc_fl_writer *w)
{
    if (w->failed)
        return -1;
    w->text = fl_output_swap(w->out, w->text_len, &w->text_cap);
    w->text_len = 0;
    if (w->text == NULL) {
        w->failed = true;
        w->text_cap = 0;
        return -1;
    }
    return 0;
}

/* Room for n more bytes (n <= 64, the least a buffer holds). */
static int fl_w_room(struct dc_fl_writer *w, size_t n)
{
    return w->text_cap - w->text_len >= n ? 0 : fl_w_flush(w);
}

static int fl_w_put_slow(struct dc_fl_writer *w, const char *s, size_t n)
{
    while (n > 0) {
        if (w->text_len == w->text_cap && fl_w_flush(w) != 0)
            return -1;
        size_t k = w->text_cap - w->text_len;
        if (k > n)
            k = n;
        memcpy(w->text + w->text_len, s, k);
        w->text_len += k;
        s += k;
        n -= k;
    }
    return 0;
}

static inline int fl_w_put(struct dc_fl_writer *w, const char *s, size_t n)
{
    if (n > w->text_cap - w->text_len)
        return fl_w_put_slow(w, s, n);
    memcpy(w->text + w->text_len, s, n);
    w->text_len += n;
    return 0;
}

#define fl_w_lit(w, s) fl_w_put((w), (s), sizeof(s) - 1)   /* a string literal */

/* Smallest code point for each UTF-8 sequence length (overlong check). */
static const uint32_t fl_utf8_min[5] = {0, 0, 0x80, 0x800, 0x10000};

/* Length of the valid UTF-8 sequence at s that is also an XML 1.0 Char, or 0.
 * C0 controls other than tab/LF/CR cannot appear in XML 1.0 at all, not even
 * as character references, so such names are refused instead of written. */
static size_t fl_utf8_char(const unsigned char *s)
{
    uint32_t c;
    size_t n;
    if (s[0] < 0x80) {
        return (s[0] >= 0x20 || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') ? 1 : 0;
    } else if ((s[0] & 0xe0) == 0xc0) {
        c = s[0] & 0x1f, n = 2;
    } else if ((s[0] & 0xf0) == 0xe0) {
        c = s[0] & 0x0f, n = 3;
    } else if ((s[0] & 0xf8) == 0xf0) {
        c = s[0] & 0x07, n = 4;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < fl_utf8_min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
        c == 0xfffe || c == 0xffff)
        return 0;
    return n;
}

/* How an ASCII byte is written in an attribute value: NULL as it is (or,
 * below 0x20, not at all: fl_utf8_char refuses it). Tab, LF and CR become
 * character references because a parser normalises them to spaces there. */
static const char *const fl_esc[128] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&apos;",
    ['\t'] = "&#9;", ['\n'] = "&#10;", ['\r'] = "&#13;",
};

/* Writes value XML-escaped, straight into the buffer: this runs for every
 * byte of every name, so the common byte (printable ASCII that needs no
 * escape) costs one table look-up and one store. A name that is not UTF-8,
 * or holds a character XML cannot carry, fails the writer. */
static int fl_w_value(struct dc_fl_writer *w, const char *value)
{
    const unsigned char *p = (const unsigned char *)value;
    for (;;) {
        /* Each step writes at most 6 bytes (an escape; a UTF-8 char is 4). */
        if (fl_w_room(w, 8))
            return -1;
        char *o = w->text + w->text_len, *end = w->text + w->text_cap - 8;
        while (o <= end) {
            unsigned c = *p;
            if (c >= 0x20 && c < 0x80 && fl_esc[c] == NULL) {
                *o++ = (char)c;
                p++;
                continue;
            }
            if (c == 0) {
                w->text_len = (size_t)(o - w->text);
                return 0;
            }
            size_t n = fl_utf8_char(p);
            if (n == 0) {
                w->failed = true;     /* not UTF-8 or not an XML character */
                return -1;
            }
            const char *esc = c < 0x80 ? fl_esc[c] : NULL;
            if (esc != NULL) {
                size_t k = strlen(esc);
                memcpy(o, esc, k);
                o += k;
            } else {
                memcpy(o, p, n);
                o += n;
            }
            p += n;
        }
        w->text_len = (size_t)(o - w->text);
    }
}

/* Writes ' attr="value"' with XML escaping. */
static int fl_w_attr(struct dc_fl_writer *w, const char *attr, const char *value)
{
    return fl_w_lit(w, " ") || fl_w_put(w, attr, strlen(attr)) || fl_w_lit(w, "=\"") ||
           fl_w_value(w, value) || fl_w_lit(w, "\"") ? -1 : 0;
}

/* Decimal v, straight into the buffer (snprintf's format parsing cost more
 * than the rest of a File line). */
static int fl_w_u64(struct dc_fl_writer *w, uint64_t v)
{
    char num[20], *p = num + sizeof num;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return fl_w_put(w, p, (size_t)(num + sizeof num - p));
}

/* Ends a pending "<Directory ..." with '>' because a child follows, then
 * indents one tab per open directory below the top level (eiskaltdcpp's shape). */
static int fl_w_child_start(struct dc_fl_writer *w)
{
    static const char tabs[16] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";
    if (w->failed)
        return -1;
    if (w->tag_open) {
        w->tag_open = false;
        if (fl_w_lit(w, ">\r\n"))
            return -1;
    }
    for (unsigned d = w->depth; d > 0;) {
        unsigned k = d < sizeof tabs ? d : sizeof tabs;
        if (fl_w_put(w, tabs, k))
            return -1;
        d -= k;
    }
    return 0;
}

struct dc_fl_writer *dc_fl_writer_new(dc_fl_sink_cb sink, void *sink_ctx, bool compress,
                                      const char *cid, const char *base, const char *generator)
{
    struct dc_fl_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    if ((w->out = fl_output_new(sink, sink_ctx, compress, 0)) == NULL || fl_w_flush(w) != 0) {
        dc_fl_writer_abort(w);
        return NULL;
    }
    if (fl_w_lit(w, "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>\r\n"
                    "<FileListing Version=\"1\"") ||
        (cid && fl_w_attr(w, "CID", cid)) ||
        fl_w_attr(w, "Base", base ? base : "/") ||
        (generator && fl_w_attr(w, "Generator", generator)) ||
        fl_w_lit(w, ">\r\n")) {
        dc_fl_writer_abort(w);
        return NULL;
    }
    return w;
}

void dc_fl_writer_thread_after(struct dc_fl_writer *w, uint64_t bytes)
{
    fl_output_thread_after(w->out, bytes);
}

int dc_fl_writer_dir_begin(struct dc_fl_writer *w, const char *name, bool incomplete)
{
    if (fl_w_child_start(w))
        return -1;
    if (fl_name_problem(name)) {
        w->failed = true;
        return -1;
    }
    if (fl_w_lit(w, "<Directory Name=\"") || fl_w_value(w, name) ||
        (incomplete ? fl_w_lit(w, "\" Incomplete=\"1\"") : fl_w_lit(w, "\"")))
        return -1;
    w->tag_open = true;
    w->depth++;
    return 0;
}

int dc_fl_writer_dir_end(struct dc_fl_writer *w)
{
    if (w->failed || w->depth == 0) {
        w->failed = true;
        return -1;
    }
    w->depth--;
    if (w->tag_open) {          /* no children: self-closing, as in partial lists */
        w->tag_open = false;
        return fl_w_lit(w, "/>\r\n");
    }
    return fl_w_child_start(w) || fl_w_lit(w, "</Directory>\r\n") ? -1 : 0;
}

int dc_fl_writer_file(struct dc_fl_writer *w, const char *name, uint64_t size,
                      const uint8_t tth[DC_TTH_LEN])
{
    if (fl_w_child_start(w))
        return -1;
    if (fl_name_problem(name)) {
        w->failed = true;
        return -1;
    }
    if (fl_w_lit(w, "<File Name=\"") || fl_w_value(w, name) || fl_w_lit(w, "\" Size=\"") ||
        fl_w_u64(w, size) || fl_w_lit(w, "\" TTH=\"") || fl_w_room(w, DC_TTH_BASE32_LEN + 1))
        return -1;
    /* Base32 needs no escaping: straight into the buffer (its NUL is overwritten). */
    if (dc_base32_encode(tth, DC_TTH_LEN, w->text + w->text_len, DC_TTH_BASE32_LEN + 1) != DC_TTH_BASE32_LEN) {
        w->failed = true;
        return -1;
    }
    w->text_len += DC_TTH_BASE32_LEN;
    return fl_w_lit(w, "\"/>\r\n");
}

int dc_fl_writer_finish(struct dc_fl_writer *w)
{
    if (w == NULL)
        return -1;
    while (!w->failed && w->depth > 0)
        dc_fl_writer_dir_end(w);
    int rc = -1;
    if (!w->failed && fl_w_lit(w, "</FileListing>\r\n") == 0) {
        rc = fl_output_finish(w->out, w->text_len);   /* frees the output */
        w->out = NULL;
    }
    dc_fl_writer_abort(w);
    return rc;
}

void dc_fl_writer_abort(struct dc_fl_writer *w)
{
    if (w == NULL)
        return;
    fl_output_free(w->out);    /* joins its thread, if one ran */
    free(w);
}

int dc_fl_sink_stdio(const void *data, size_t len, void *ctx)
{
    return fwrite(data, 1, len, ctx) == len ? 0 : -1;
}

/* ---- reader ---------------------------------------------------------------- */

/* Names seen in one open directory: open addressing over offsets into one
 * string buffer. Reset (memory kept) when the level is reused by a sibling. */
struct fl_level {
    struct dc_buf names;  /* owned: NUL-separated names */
    size_t *slots;        /* owned: offset+1 into names, 0 = empty */
    size_t cap, count;
};

/* One dc_fl_read() call. Borrows the source and callbacks; owns the rest. */
struct fl_reader {
    const struct dc_fl_callbacks *cb;
    void *cb_ctx;
    char *err;                /* borrowed, may be NULL */
    bool failed;              /* err already holds the first reason */
    struct fl_input *in;      /* owned: the bytes to parse (flinput.h) */
    bool seen_root;
    int root_depth;           /* xmlTextReaderDepth of the root element */
    int skip_depth;           /* >= 0: inside an ignored element at this depth */
    struct fl_level *levels;  /* owned: [0] = root, [i] = i-th open directory */
    size_t nlevels, levels_cap;
    struct dc_fl_limits *lim; /* borrowed, may be NULL */
    uint64_t entries, bytes;  /* seen so far, against lim */
    xmlTextReaderPtr x;       /* owned by dc_fl_read_limited; for error positions */
};

static void fl_fail(struct fl_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fl_fail(struct fl_reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;            /* keep the first reason: later ones are consequences */
    r->failed = true;
    if (r->err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err, DC_FL_ERR_LEN, fmt, ap);
        va_end(ap);
    }
}

/* The bytes XML parsing sees, counted against the byte limit: a few MB of
 * bzip2 can expand a thousandfold, so the limit is on what comes out. The
 * parser is given at most max_bytes, and the read fails when there is more,
 * so it stops at the same byte however the input was cut into reads. */
static int fl_io_read(void *ctx, char *buf, int len)
{
    struct fl_reader *r = ctx;
    if (r->failed)
        return -1;
    uint64_t max = r->lim ? r->lim->max_bytes : 0;
    if (max && max - r->bytes < (uint64_t)len && max > r->bytes)
        len = (int)(max - r->bytes);
    int n = fl_input_read(r->in, buf, len);
    if (n < 0) {
        fl_fail(r, "%s", fl_input_error(r->in));
        return -1;
    }
    if (max && n > 0 && r->bytes == max) {   /* one byte past the limit is enough */
        r->lim->over_bytes = true;
        fl_fail(r, "the list is larger than %llu bytes (uncompressed)", (unsigned long long)max);
        return -1;
    }
    r->bytes += (uint64_t)n;
    return n;
}

/* One libxml2 message as the read's error. A parser error carries its own
 * line and column; one raised without a parser context (encoding conversion,
 * I/O) has none, so it names where the parser stood. */
static void fl_xml_fail(struct fl_reader *r, int line, int col, const char *msg)
{
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        len--;
    if (line > 0)
        fl_fail(r, "XML error at line %d, column %d: %.*s", line, col, (int)len, msg);
    else if (r->x != NULL)
        fl_fail(r, "XML error near line %d, column %d: %.*s", xmlTextReaderGetParserLineNumber(r->x),
                xmlTextReaderGetParserColumnNumber(r->x), (int)len, msg);
    else
        fl_fail(r, "XML error: %.*s", (int)len, msg);
}

static void fl_xml_error(void *ctx, xmlErrorPtr e)
{
    if (e == NULL || e->level == XML_ERR_WARNING)
        return;
    fl_xml_fail(ctx, e->line, e->int2, e->message ? e->message : "unknown error");
}

/* libxml2's "generic" channel: messages printed without an xmlError, e.g.
 * xmlParseChunk's "encoder error". */
static void fl_xml_generic(void *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fl_xml_generic(void *ctx, const char *fmt, ...)
{
    char msg[DC_FL_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fl_xml_fail(ctx, 0, 0, msg);
}

/* The calling thread's libxml2 error handlers (thread-local in libxml2),
 * saved while a read has its own installed. */
struct fl_xml_saved {
    xmlStructuredErrorFunc serror;
    void *serror_ctx;
    xmlGenericErrorFunc generic;
    void *generic_ctx;
};

/* install: point the thread's handlers at r, saving the caller's in s;
 * otherwise put s back. Errors libxml2 raises with a parser context still
 * go to the reader's own handler (xmlTextReaderSetStructuredErrorHandler). */
static void fl_xml_handlers(struct fl_reader *r, struct fl_xml_saved *s, bool install)
{
    if (install) {
        *s = (struct fl_xml_saved){xmlStructuredError, xmlStructuredErrorContext, xmlGenericError,
                                   xmlGenericErrorContext};
        xmlSetStructuredErrorFunc(r, fl_xml_error);
        xmlSetGenericErrorFunc(r, fl_xml_generic);
    } else {
        xmlSetStructuredErrorFunc(s->serror_ctx, s->serror);
        xmlSetGenericErrorFunc(s->generic_ctx, s->generic);
    }
}

/* A fresh (or reused) level for a directory that was just opened. */
static struct fl_level *fl_level_push(struct fl_reader *r)
{
    if (r->nlevels == r->levels_cap) {
        size_t cap = r->levels_cap ? r->levels_cap * 2 : 8;
        struct fl_level *l = realloc(r->levels, cap * sizeof *l);
        if (l == NULL)
            return NULL;
        memset(l + r->levels_cap, 0, (cap - r->levels_cap) * sizeof *l);
        r->levels = l;
        r->levels_cap = cap;
    }
    struct fl_level *l = &r->levels[r->nlevels++];
    dc_buf_reset(&l->names);
    if (l->slots)
        memset(l->slots, 0, l->cap * sizeof *l->slots);
    l->count = 0;
    return l;
}

static uint64_t fl_fold_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;          /* FNV-1a over ASCII-folded bytes */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32 : c)) * 1099511628211ULL;
    }
    return h;
}

/* Adds name to l. 1 if it was already there (ASCII case folded), 0 if added,
 * -1 out of memory. */
static int fl_level_add(struct fl_level *l, const char *name)
{
    if ((l->count + 1) * 2 > l->cap) {         /* keep load <= 1/2 */
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *slots = calloc(cap, sizeof *slots);
        if (slots == NULL)
            return -1;
        for (size_t i = 0; i < l->cap; i++) {
            if (l->slots[i] == 0)
                continue;
            size_t j = fl_fold_hash(l->names.data + l->slots[i] - 1) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = l->slots[i];
        }
        free(l->slots);
        l->slots = slots;
        l->cap = cap;
    }
    size_t j = fl_fold_hash(name) & (l->cap - 1);
    for (; l->slots[j]; j = (j + 1) & (l->cap - 1))
        if (strcasecmp(l->names.data + l->slots[j] - 1, name) == 0)
            return 1;
    size_t off = l->names.len;
    if (dc_buf_append(&l->names, name, strlen(name) + 1))
        return -1;
    l->slots[j] = off + 1;
    l->count++;
    return 0;
}

/* Decimal uint64 with no sign, space or overflow. */
static int fl_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Name checks shared by Directory and File, plus the per-directory uniqueness. */
static int fl_check_name(struct fl_reader *r, const char *elem, const char *name)
{
    const char *why = name ? fl_name_problem(name) : "missing Name";
    if (why != NULL) {
        fl_fail(r, "%s: %s%s%s%s", elem, why, name ? " (\"" : "", name ? name : "",
                name ? "\")" : "");
        return -1;
    }
    int dup = fl_level_add(&r->levels[r->nlevels - 1], name);
    if (dup < 0)
        fl_fail(r, "out of memory");
    else if (dup > 0)
        fl_fail(r, "%s: duplicate name \"%s\" in one directory", elem, name);
    return dup != 0 ? -1 : 0;
}

static int fl_on_root(struct fl_reader *r, xmlTextReaderPtr x, const char *elem)
{
    if (strcmp(elem, "FileListing") != 0 && strcmp(elem, "FileList") != 0) {
        fl_fail(r, "root element is <%s>, not <FileListing>", elem);
        return -1;
    }
    r->seen_root = true;
    r->root_depth = xmlTextReaderDepth(x);
    char *cid = (char *)xmlTextReaderGetAttribute(x, BAD_CAST "CID");
    char *base = (char *)xmlTextReaderGetAttribute(x, BAD_CAST "Base");
    char *gen = (char *)xmlTextReaderGetAttribute(x, BAD_CAST "Generator");
    int rc = -1;
    if (base == NULL)
        fl_fail(r, "FileListing has no Base attribute");
    else if (base[0] != '/')
        fl_fail(r, "FileListing Base \"%s\" does not start with '/'", base);
    else if (fl_level_push(r) == NULL)
        fl_fail(r, "out of memory");
    else if (r->cb->listing && r->cb->listing(cid, base, gen, r->cb_ctx))
        fl_fail(r, "stopped by the listing callback");
    else
        rc = 0;
    xmlFree(cid);
    xmlFree(base);
    xmlFree(gen);
    return rc;
}

static int fl_on_dir_end(struct fl_reader *r)
{
    r->nlevels--;
    if (r->cb->dir_end && r->cb->dir_end(r->cb_ctx)) {
        fl_fail(r, "stopped by the dir_end callback");
        return -1;
    }
    return 0;
}

static int fl_on_element(struct fl_reader *r, xmlTextReaderPtr x)
{
    const char *elem = (const char *)xmlTextReaderConstLocalName(x);
    if (elem == NULL) {
        fl_fail(r, "out of memory");
        return -1;
    }
    if (!r->seen_root)
        return fl_on_root(r, x, elem);
    bool empty = xmlTextReaderIsEmptyElement(x) == 1;
    int rc = 0;
    if ((strcmp(elem, "Directory") == 0 || strcmp(elem, "File") == 0) && r->lim && r->lim->max_entries &&
        ++r->entries > r->lim->max_entries) {
        r->lim->over_entries = true;
        fl_fail(r, "the list has more than %llu entries", (unsigned long long)r->lim->max_entries);
        return -1;
    }
    char *name = (char *)xmlTextReaderGetAttribute(x, BAD_CAST "Name");
    if (strcmp(elem, "Directory") == 0) {
        char *inc = (char *)xmlTextReaderGetAttribute(x, BAD_CAST "Incomplete");
        bool incomplete = inc != NULL && strcmp(inc, "1") == 0;
        xmlFree(inc);
        if (fl_check_name(r, elem, name)) {
            rc = -1;
        } else if (r->cb->dir_begin && r->cb->dir_begin(name, incomplete, r->cb_ctx)) {
            fl_fail(r, "stopped by the dir_begin callback");
            rc = -1;
        } else if (fl_level_push(r) == NULL) {
            fl_fail(r, "out of memory");
            rc = -1;
        } else if (empty) {     /* <Directory .../> has no end-element node */
            rc = fl_on_dir_end(r);
        }
    } else if (strcmp(elem, "File") == 0) {
        char *size_s = (char *)xmlTextReaderGetAttribute(x, BAD_CAST "Size");
        char *tth_s = (char *)xmlTextReaderGetAttribute(x, BAD_CAST "TTH");
        uint64_t size;
        uint8_t tth[DC_TTH_LEN];
        if (fl_check_name(r, elem, name)) {
            rc = -1;
        } else if (fl_parse_u64(size_s, &size)) {
            fl_fail(r, "File \"%s\": bad Size \"%s\"", name, size_s ? size_s : "(missing)");
            rc = -1;
        } else if (tth_s == NULL || strlen(tth_s) != DC_TTH_BASE32_LEN ||
                   dc_base32_decode(tth_s, DC_TTH_BASE32_LEN, tth, sizeof tth) != DC_TTH_LEN) {
            fl_fail(r, "File \"%s\": bad TTH \"%s\"", name, tth_s ? tth_s : "(missing)");
            rc = -1;
        } else if (r->cb->file && r->cb->file(name, size, tth, r->cb_ctx)) {
            fl_fail(r, "stopped by the file callback");
            rc = -1;
        }
        xmlFree(size_s);
        xmlFree(tth_s);
        if (!empty)
            r->skip_depth = xmlTextReaderDepth(x);   /* ignore any content */
    } else if (!empty) {
        r->skip_depth = xmlTextReaderDepth(x);       /* unknown element: ignore */
    }
    xmlFree(name);
    return rc;
}

static int fl_on_node(struct fl_reader *r, xmlTextReaderPtr x)
{
    int type = xmlTextReaderNodeType(x);
    if (type == XML_READER_TYPE_DOCUMENT_TYPE) {
        fl_fail(r, "a DOCTYPE is not allowed in a file list");
        return -1;
    }
    if (r->skip_depth >= 0) {
        if (type == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(x) == r->skip_depth)
            r->skip_depth = -1;
        return 0;
    }
    if (type == XML_READER_TYPE_ELEMENT)
        return fl_on_element(r, x);
    if (type == XML_READER_TYPE_END_ELEMENT && xmlTextReaderDepth(x) > r->root_depth)
        return fl_on_dir_end(r);    /* only Directory can be open here */
    return 0;
}

int dc_fl_read(dc_fl_source_cb source, void *source_ctx, const struct dc_fl_callbacks *cb,
               void *cb_ctx, char *err)
{
    return dc_fl_read_limited(source, source_ctx, cb, cb_ctx, NULL, err);
}

int dc_fl_read_limited(dc_fl_source_cb source, void *source_ctx, const struct dc_fl_callbacks *cb,
                       void *cb_ctx, struct dc_fl_limits *lim, char *err)
{
    const struct dc_fl_callbacks none = {0};   /* cb == NULL: validate only */
    struct fl_reader r = {
        .cb = cb ? cb : &none, .cb_ctx = cb_ctx, .err = err, .skip_depth = -1, .lim = lim,
    };
    if (lim)
        lim->over_entries = lim->over_bytes = false;
    if (err != NULL)
        err[0] = '\0';
    r.in = fl_input_new(source, source_ctx, lim ? lim->thread_after : 0);
    struct fl_xml_saved saved;
    fl_xml_handlers(&r, &saved, true);
    xmlTextReaderPtr x = NULL;
    if (r.in == NULL)
        fl_fail(&r, "out of memory");
    else if ((x = xmlReaderForIO(fl_io_read, NULL, &r, NULL, NULL, XML_PARSE_NONET)) == NULL)
        fl_fail(&r, "cannot create the XML reader");
    if (x != NULL) {
        r.x = x;
        xmlTextReaderSetStructuredErrorHandler(x, fl_xml_error, &r);
        int rc = 0;
        /* Stop at the first error, also a non-fatal one libxml2 only reports
         * (e.g. an unbound namespace prefix): no callbacks after it. */
        while (!r.failed && (rc = xmlTextReaderRead(x)) == 1 && fl_on_node(&r, x) == 0)
            ;
        if (rc < 0)
            fl_fail(&r, "XML parse error");
        else if (rc == 0 && !r.seen_root)
            fl_fail(&r, "no FileListing element");
        /* rc == 0 only after the IO callback reported EOF (libxml2 must
         * rule out trailing content), so a truncated or corrupt bzip2
         * tail has been seen by then: no draining needed. */
        r.x = NULL;
        xmlFreeTextReader(x);
    }
    fl_xml_handlers(&r, &saved, false);
    fl_input_free(r.in);     /* joins the decompression thread, if one ran */
    for (size_t i = 0; i < r.levels_cap; i++) {
        dc_buf_cleanup(&r.levels[i].names);
        free(r.levels[i].slots);
    }
    free(r.levels);
    return r.failed ? -1 : 0;
}

long dc_fl_source_stdio(void *buf, size_t cap, void *ctx)
{
    size_t n = fread(buf, 1, cap, ctx);
    return n == 0 && ferror((FILE *)ctx) ? -1 : (long)n;
}
