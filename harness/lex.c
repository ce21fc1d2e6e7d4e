/* lex.c: the word lexer for scenario files and hub profiles (see lex.h).
 * Also the template helpers: placeholder check, expansion, durations. */
#include "harness/lex.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"

void hr_error_set(struct hr_error *err, const char *path, int line, const char *fmt, ...)
{
    if (!err)
        return;
    int n = line > 0 ? snprintf(err->msg, sizeof err->msg, "%s:%d: ", path, line)
                     : snprintf(err->msg, sizeof err->msg, "%s: ", path);
    if (n < 0 || (size_t)n >= sizeof err->msg)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - n, fmt, ap);
    va_end(ap);
}

bool hr_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        int more;
        unsigned min;
        if (c < 0x80)
            continue;
        else if ((c & 0xe0) == 0xc0) { more = 1; min = 0x80; c &= 0x1f; }
        else if ((c & 0xf0) == 0xe0) { more = 2; min = 0x800; c &= 0x0f; }
        else if ((c & 0xf8) == 0xf0) { more = 3; min = 0x10000; c &= 0x07; }
        else
            return false;
        if (end - p < more)
            return false;
        while (more--) {
            if ((*p & 0xc0) != 0x80)
                return false;
            c = c << 6 | (*p++ & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
    }
    return true;
}

static void put_utf8(struct dc_buf *b, unsigned cp)
{
    char o[4];
    int n;
    if (cp < 0x80) { o[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
    } else {
        o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        o[2] = (char)(0x80 | (cp >> 6 & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
    }
    dc_buf_append(b, o, n);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* A placeholder starts at p ('{'): {name} or {name:arg} with name [a-z_]+.
 * Returns its length including braces, or 0 if p is a literal brace. */
static size_t placeholder_len(const char *p, const char *end)
{
    const char *q = p + 1;
    while (q < end && (islower((unsigned char)*q) || *q == '_'))
        q++;
    if (q == p + 1)
        return 0;
    if (q < end && *q == ':') {
        const char *a = ++q;
        while (q < end && (isalnum((unsigned char)*q) || *q == '_' || *q == '-' || *q == '.'))
            q++;
        if (q == a)
            return 0;
    }
    return q < end && *q == '}' ? (size_t)(q - p + 1) : 0;
}

/* Append raw source text [p, end) that may hold placeholders: literal braces
 * are doubled, placeholders copied as is. */
static void put_text(struct dc_buf *b, const char *p, const char *end)
{
    while (p < end) {
        size_t n = *p == '{' ? placeholder_len(p, end) : 0;
        if (n) {
            dc_buf_append(b, p, n);
            p += n;
        } else {
            if (*p == '{' || *p == '}')
                dc_buf_append_byte(b, *p);
            dc_buf_append_byte(b, *p++);
        }
    }
}

/* Lex one word starting at *pp; fills w. Returns 0 or -1 with err. */
static int lex_word(const char **pp, const char *end, struct hr_word *w,
                    const char *path, int lineno, struct hr_error *err)
{
    const char *p = *pp;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append(&b, "", 0);
    bool in_key = true;   /* still in the leading bare name (for key=value) */
    memset(w, 0, sizeof *w);
    while (p < end && *p != ' ' && *p != '\t') {
        if (*p == '"') {
            in_key = false;
            w->quoted = true;
            p++;
            for (;;) {
                if (p >= end) {
                    hr_error_set(err, path, lineno, "unterminated \"string\": add the closing quote (use \\n for a newline inside text)");
                    goto fail;
                }
                if (*p == '"') { p++; break; }
                if (*p != '\\') {
                    const char *s = p;
                    while (p < end && *p != '"' && *p != '\\')
                        p++;
                    put_text(&b, s, p);
                    continue;
                }
                if (++p >= end) {
                    hr_error_set(err, path, lineno, "unterminated \"string\" (backslash at end of line)");
                    goto fail;
                }
                char c = *p++;
                switch (c) {
                case '\\': case '"': dc_buf_append_byte(&b, c); break;
                case 'n': dc_buf_append_byte(&b, '\n'); break;
                case 't': dc_buf_append_byte(&b, '\t'); break;
                case 'r': dc_buf_append_byte(&b, '\r'); break;
                case '{': dc_buf_append_str(&b, "{{"); break;
                case '}': dc_buf_append_str(&b, "}}"); break;
                case 'x': {
                    int h = p + 1 < end ? hexval(p[0]) : -1, l = h >= 0 ? hexval(p[1]) : -1;
                    if (l < 0) {
                        hr_error_set(err, path, lineno, "\\x needs two hex digits, as in \\x7c");
                        goto fail;
                    }
                    if (h == 0 && l == 0) {
                        hr_error_set(err, path, lineno, "\\x00: NUL bytes cannot be sent");
                        goto fail;
                    }
                    dc_buf_append_byte(&b, (char)(h << 4 | l));
                    p += 2;
                    break;
                }
                case 'u': {
                    unsigned cp = 0;
                    int nd = 0;
                    if (p < end && *p == '{') {
                        for (p++; p < end && hexval(*p) >= 0 && nd < 7; p++, nd++)
                            cp = cp << 4 | (unsigned)hexval(*p);
                    }
                    if (nd == 0 || nd > 6 || p >= end || *p != '}' || cp == 0 || cp > 0x10ffff ||
                        (cp >= 0xd800 && cp <= 0xdfff)) {
                        hr_error_set(err, path, lineno, "\\u needs a code point in braces, as in \\u{e9} (not 0, not a surrogate)");
                        goto fail;
                    }
                    p++;
                    put_utf8(&b, cp);
                    break;
                }
                default:
                    hr_error_set(err, path, lineno, "unknown escape \\%c in string (known: \\\\ \\\" \\n \\t \\r \\{ \\} \\xHH \\u{HEX})", c);
                    goto fail;
                }
            }
        } else if (*p == '\'') {
            in_key = false;
            w->quoted = true;
            const char *s = ++p;
            while (p < end && *p != '\'')
                p++;
            if (p >= end) {
                hr_error_set(err, path, lineno, "unterminated 'string': add the closing single quote");
                goto fail;
            }
            put_text(&b, s, p);
            p++;
        } else if (*p == '\\') {
            hr_error_set(err, path, lineno, "backslash outside quotes: write the text in \"double quotes\" to use escapes");
            goto fail;
        } else {
            if (in_key && (*p == '=' || *p == '~') && b.len > 0 && !w->op) {
                w->op = *p;
                w->key_len = b.len;
                in_key = false;
                dc_buf_append_byte(&b, *p++);
                continue;
            }
            if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
                in_key = false;
            const char *s = p;
            while (p < end && *p != ' ' && *p != '\t' && *p != '"' && *p != '\'' && *p != '\\' &&
                   !(in_key && (*p == '=' || *p == '~'))) {
                if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
                    in_key = false;
                p++;
            }
            put_text(&b, s, p);
        }
    }
    if (!hr_utf8_valid(b.data, b.len)) {
        hr_error_set(err, path, lineno, "text is not valid UTF-8 (check \\x escapes)");
        goto fail;
    }
    w->text = dc_buf_steal(&b, NULL);
    *pp = p;
    return 0;
fail:
    dc_buf_cleanup(&b);
    return -1;
}

static void line_cleanup(struct hr_line *l)
{
    for (size_t j = 0; j < l->nwords; j++)
        free(l->words[j].text);
    free(l->words);
    free(l->raw);
}

void hr_lines_free(struct hr_line *lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        line_cleanup(&lines[i]);
    free(lines);
}

int hr_lex(const char *path, const char *buf, size_t len,
           struct hr_line **out, size_t *n, struct hr_error *err)
{
    struct hr_line *lines = NULL;
    size_t nl = 0;
    const char *p = buf, *end = buf + len;
    for (int lineno = 1; p < end; lineno++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        if (memchr(p, '\0', (size_t)(le - p))) {
            hr_error_set(err, path, lineno, "NUL byte in the file (is it a text file?)");
            goto fail;
        }
        if (!hr_utf8_valid(p, (size_t)(le - p))) {
            hr_error_set(err, path, lineno, "line is not valid UTF-8 (save the file as UTF-8)");
            goto fail;
        }
        struct hr_line line = {.lineno = lineno};
        const char *q = p, *last = p;
        for (;;) {
            while (q < le && (*q == ' ' || *q == '\t'))
                q++;
            if (q >= le || *q == '#')
                break;
            struct hr_word w;
            if (line.nwords == 0)
                p = q;   /* raw text starts at the first word */
            if (lex_word(&q, le, &w, path, lineno, err) < 0) {
                line_cleanup(&line);
                goto fail;
            }
            struct hr_word *nw = realloc(line.words, (line.nwords + 1) * sizeof *nw);
            if (!nw) {
                free(w.text);
                line_cleanup(&line);
                hr_error_set(err, path, lineno, "out of memory");
                goto fail;
            }
            line.words = nw;
            line.words[line.nwords++] = w;
            last = q;
        }
        if (line.nwords) {
            line.raw = strndup(p, (size_t)(last - p));
            struct hr_line *nlines = line.raw ? realloc(lines, (nl + 1) * sizeof *nlines) : NULL;
            if (!nlines) {
                line_cleanup(&line);
                hr_error_set(err, path, lineno, "out of memory");
                goto fail;
            }
            lines = nlines;
            lines[nl++] = line;
        }
        p = eol + 1;
    }
    *out = lines;
    *n = nl;
    return 0;
fail:
    hr_lines_free(lines, nl);
    return -1;
}

const char *hr_template_check(const char *tmpl, const char *const *allowed)
{
    const char *end = tmpl + strlen(tmpl);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '{')
            continue;
        if (p[1] == '{') {
            p++;
            continue;
        }
        size_t n = placeholder_len(p, end);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) {
            size_t al = strlen(*a);
            if (al && (*a)[al - 1] == ':')
                ok = n > al + 1 && strncmp(p + 1, *a, al) == 0;
            else
                ok = n == al + 2 && strncmp(p + 1, *a, al) == 0;
        }
        if (!ok)
            return p;
        p += n - 1;
    }
    return NULL;
}

char *hr_template_expand(const char *tmpl, hr_lookup_cb lookup, void *ctx,
                         char *missing, size_t missing_len)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    dc_buf_append(&b, "", 0);
    for (const char *p = tmpl; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            dc_buf_append_byte(&b, *p);
            p += 2;
        } else if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t n = close ? (size_t)(close - p - 1) : 0;
            const char *v = close ? lookup(p + 1, n, ctx) : NULL;
            if (!v) {
                if (missing)
                    snprintf(missing, missing_len, "%.*s", (int)n, p + 1);
                dc_buf_cleanup(&b);
                return NULL;
            }
            dc_buf_append_str(&b, v);
            p = close + 1;
        } else {
            dc_buf_append_byte(&b, *p++);
        }
    }
    return dc_buf_steal(&b, NULL);
}

static const char *no_lookup(const char *name, size_t len, void *ctx)
{
    (void)name, (void)len, (void)ctx;
    return NULL;
}

char *hr_template_literal(const char *tmpl)
{
    return hr_template_expand(tmpl, no_lookup, NULL, NULL, 0);
}

long hr_parse_duration(const char *s)
{
    char *e;
    if (!isdigit((unsigned char)*s))
        return -1;
    double v = strtod(s, &e);
    if (strcmp(e, "ms") == 0)
        return v <= 1e9 ? (long)v : -1;
    if (strcmp(e, "s") == 0)
        return v <= 1e6 ? (long)(v * 1000) : -1;
    return -1;
}
