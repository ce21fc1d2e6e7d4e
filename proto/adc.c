/* adc.c: ADC message codec (see adc.h; protocol notes §3.1).
 *
 * Parsing copies the line once into the message's storage and splits it in
 * place: every parameter pointer aims into that single block, so cleanup is one
 * free(). Builders append copies to the same storage and rebase the pointers
 * when it moves. The number of positional parameters comes from a per-command
 * table, because the wire cannot tell "MSG text PMxyz" (positional) from a
 * named parameter. Nothing here does I/O or keeps state between calls.
 */
#include "proto/adc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The positional parameters of the commands the codec knows (adc.h), one
 * char per parameter saying what it must hold: '.' any text, 'c' a STA code
 * (three digits), 'p' a TCP port 1..65535, 'i' a decimal integer (GET/SND
 * start and byte count; -1 allowed), 's' a SID, 'b' base32 data. NULL for an
 * unknown command: every parameter is then positional. A switch on the code,
 * not a table scan: this runs for every line received. */
static const char *adc_cmd_kinds(const char *cmd)
{
    switch (ADC_CMD(cmd[0], cmd[1], cmd[2])) {
    case ADC_CMD('I', 'N', 'F'): case ADC_CMD('S', 'U', 'P'):
    case ADC_CMD('S', 'C', 'H'): case ADC_CMD('R', 'E', 'S'):
        return "";
    case ADC_CMD('M', 'S', 'G'): case ADC_CMD('C', 'M', 'D'):
        return ".";
    case ADC_CMD('S', 'T', 'A'):
        return "c.";
    case ADC_CMD('C', 'T', 'M'):
        return ".p.";
    case ADC_CMD('R', 'C', 'M'): case ADC_CMD('G', 'F', 'I'):
        return "..";
    case ADC_CMD('G', 'E', 'T'): case ADC_CMD('S', 'N', 'D'):
        return "..ii";
    case ADC_CMD('S', 'I', 'D'): case ADC_CMD('Q', 'U', 'I'):
        return "s";
    case ADC_CMD('G', 'P', 'A'): case ADC_CMD('P', 'A', 'S'):
        return "b";
    default:
        return NULL;
    }
}

static bool adc_is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool adc_is_digit(char c) { return c >= '0' && c <= '9'; }
static bool adc_is_b32(char c) { return adc_is_upper(c) || (c >= '2' && c <= '7'); }

static bool adc_type_valid(char t)
{
    return t && strchr("BCDEFHIU", t) != NULL;
}

static bool adc_cmd_valid(const char *c)
{
    return adc_is_upper(c[0]) && (adc_is_upper(c[1]) || adc_is_digit(c[1])) &&
           (adc_is_upper(c[2]) || adc_is_digit(c[2]));
}

static bool adc_code_valid(const char *c)
{
    return adc_is_upper(c[0]) && (adc_is_upper(c[1]) || adc_is_digit(c[1]));
}

bool adc_sid_valid(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < ADC_SID_LEN; i++)
        if (!adc_is_b32(s[i]))
            return false;
    return s[ADC_SID_LEN] == '\0';
}

static const char adc_base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void adc_sid_format(unsigned value, char out[ADC_SID_LEN + 1])
{
    for (int i = ADC_SID_LEN - 1; i >= 0; i--) {
        out[i] = adc_base32_alphabet[value & 31];
        value >>= 5;
    }
    out[ADC_SID_LEN] = '\0';
}

long adc_sid_value(const char *s)
{
    if (!adc_sid_valid(s))
        return -1;
    long v = 0;
    for (int i = 0; i < ADC_SID_LEN; i++)
        v = v * 32 + (adc_is_upper(s[i]) ? s[i] - 'A' : s[i] - '2' + 26);
    return v;
}

int adc_sta_split(const char *code, int *severity, int *error)
{
    if (!code || !adc_is_digit(code[0]) || !adc_is_digit(code[1]) ||
        !adc_is_digit(code[2]) || code[3] != '\0')
        return -1;
    if (severity)
        *severity = code[0] - '0';
    if (error)
        *error = (code[1] - '0') * 10 + (code[2] - '0');
    return 0;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing past U+10FFFF.
 * ASCII is skipped eight bytes at a time (no byte of the word has its top bit
 * set): almost every line is all ASCII, and this runs over every line. */
static bool adc_utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t w;
        while (len - i >= sizeof w && (memcpy(&w, s + i, sizeof w), !(w & 0x8080808080808080u)))
            i += sizeof w;
        if (i == len)
            break;
        unsigned char c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1; cp = c & 0x1F; min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2; cp = c & 0x0F; min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3; cp = c & 0x07; min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/* Does a (unescaped) positional value match its kind from adc_cmd_kinds? */
static bool adc_pos_valid(char kind, const char *v)
{
    size_t n = strlen(v), digits = n - (kind == 'i' && v[0] == '-');
    switch (kind) {
    case 'c':
        return adc_sta_split(v, NULL, NULL) == 0;
    case 's':
        return adc_sid_valid(v);
    case 'b':
        if (!n)
            return false;
        for (; *v; v++)
            if (!adc_is_b32(*v))
                return false;
        return true;
    case 'p':
    case 'i':
        /* At most 18 digits: always fits int64_t, no overflow checks needed. */
        if (!digits || digits > (kind == 'p' ? 5 : 18))
            return false;
        for (const char *d = v + (n - digits); *d; d++)
            if (!adc_is_digit(*d))
                return false;
        return kind == 'i' || (atol(v) >= 1 && atol(v) <= 65535);
    default:
        return true;
    }
}

long adc_unescape_inplace(char *s, size_t len)
{
    /* Most values hold no escape: find the first one with memchr and start
     * copying there, so a plain value is only scanned, never rewritten. */
    const char *bs = memchr(s, '\\', len);
    if (!bs)
        return (long)len;
    size_t o = (size_t)(bs - s);
    for (size_t i = o; i < len; i++) {
        if (s[i] != '\\') {
            s[o++] = s[i];
            continue;
        }
        if (++i == len)
            return -1;
        switch (s[i]) {
        case 's': s[o++] = ' '; break;
        case 'n': s[o++] = '\n'; break;
        case '\\': s[o++] = '\\'; break;
        default: return -1;
        }
    }
    if (o < len)
        s[o] = '\0';
    return (long)o;
}

int adc_escape_append(struct dc_buf *out, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = s[i] == ' ' ? "\\s" : s[i] == '\n' ? "\\n" : s[i] == '\\' ? "\\\\" : NULL;
        if (!esc)
            continue;
        if (dc_buf_append(out, s + start, i - start) < 0 || dc_buf_append(out, esc, 2) < 0)
            return -1;
        start = i + 1;
    }
    return dc_buf_append(out, s + start, len - start);
}

/* An empty message without touching pos[] and named[] (3 KiB): nothing reads
 * them past npos and nnamed, and clearing them cost more than the parse. */
static void adc_msg_clear(struct adc_msg *m)
{
    m->type = '\0';
    memset(m->cmd, 0, sizeof m->cmd);
    m->code = 0;
    memset(m->src_sid, 0, sizeof m->src_sid);
    memset(m->dst_sid, 0, sizeof m->dst_sid);
    m->cid = m->features = m->storage = NULL;
    m->npos = m->nnamed = m->storage_len = m->storage_cap = 0;
}

void adc_msg_init(struct adc_msg *m, char type, const char *cmd)
{
    adc_msg_clear(m);
    m->type = type;
    if (cmd && strlen(cmd) == 3) {
        memcpy(m->cmd, cmd, 3);
        m->code = ADC_CMD(cmd[0], cmd[1], cmd[2]);
    }
}

void adc_msg_cleanup(struct adc_msg *m)
{
    free(m->storage);
    adc_msg_clear(m);
}

static int adc_fail(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return -1;
}

/* Splits the parameter part (after the header) at single spaces and sorts the
 * tokens into positional and named. p..end is inside storage, NUL at end;
 * esc says whether the line holds a backslash at all (most do not, and then
 * no token needs unescaping). */
static int adc_parse_params(struct adc_msg *m, char *p, char *end, bool esc, const char *kinds,
                            const char **reason)
{
    int npos = kinds ? (int)strlen(kinds) : -1;
    while (p) {
        char *sp = memchr(p, ' ', (size_t)(end - p));
        if (sp)
            *sp = '\0';
        size_t tlen = (size_t)((sp ? sp : end) - p);
        if (npos < 0 || m->npos < (size_t)npos) {
            if (m->npos >= ADC_MAX_PARAMS)
                return adc_fail(reason, "too many parameters");
            long n = esc ? adc_unescape_inplace(p, tlen) : (long)tlen;
            if (n < 0)
                return adc_fail(reason, "bad escape sequence");
            p[n] = '\0';
            if (kinds && !adc_pos_valid(kinds[m->npos], p))
                return adc_fail(reason, "malformed positional parameter");
            m->pos[m->npos++] = p;
        } else {
            if (tlen < 2 || !adc_code_valid(p))
                return adc_fail(reason, "bad named parameter");
            if (m->nnamed >= ADC_MAX_PARAMS)
                return adc_fail(reason, "too many parameters");
            long n = esc ? adc_unescape_inplace(p + 2, tlen - 2) : (long)(tlen - 2);
            if (n < 0)
                return adc_fail(reason, "bad escape sequence");
            p[2 + n] = '\0';
            struct adc_named *nm = &m->named[m->nnamed++];
            memcpy(nm->code, p, 2);
            nm->code[2] = '\0';
            nm->value = p + 2;
        }
        p = sp ? sp + 1 : NULL;
    }
    if (npos > 0 && m->npos < (size_t)npos)
        return adc_fail(reason, "missing positional parameter");
    return 0;
}

/* Takes the next space-terminated header token of exactly want chars (0 = any
 * non-empty length). Returns it NUL-terminated, or NULL. */
static char *adc_header_token(char **pp, size_t want)
{
    char *p = *pp;
    if (!p)
        return NULL;
    char *sp = strchr(p, ' ');
    size_t n = sp ? (size_t)(sp - p) : strlen(p);
    if (n == 0 || (want && n != want))
        return NULL;
    if (sp)
        *sp = '\0';
    *pp = sp ? sp + 1 : NULL;
    return p;
}

static bool adc_features_valid(const char *f)
{
    if (!*f)
        return false;
    for (; *f; f += 5) {
        if ((f[0] != '+' && f[0] != '-') || strnlen(f + 1, 4) < 4 || !adc_is_upper(f[1]))
            return false;
        for (int i = 2; i <= 4; i++)
            if (!adc_is_upper(f[i]) && !adc_is_digit(f[i]))
                return false;
    }
    return true;
}

static bool adc_cid_valid(const char *c)
{
    for (; *c; c++)
        if (!adc_is_b32(*c))
            return false;
    return true;
}

int adc_msg_parse(const char *line, size_t len, struct adc_msg *out, const char **reason)
{
    adc_msg_clear(out);
    if (len && line[len - 1] == '\n')
        len--;
    if (len == 0)
        return adc_fail(reason, "empty line");
    if (memchr(line, '\0', len))
        return adc_fail(reason, "NUL byte in message");
    if (memchr(line, '\n', len))
        return adc_fail(reason, "LF inside message");
    if (!adc_utf8_valid((const unsigned char *)line, len))
        return adc_fail(reason, "invalid UTF-8");
    if (len < 4 || !adc_type_valid(line[0]))
        return adc_fail(reason, len < 4 ? "message too short" : "bad type letter");
    if (!adc_cmd_valid(line + 1))
        return adc_fail(reason, "bad command name");
    if (len > 4 && line[4] != ' ')
        return adc_fail(reason, "bad command name");

    struct adc_msg *m = out;
    m->storage = malloc(len + 1);
    if (!m->storage)
        return adc_fail(reason, "out of memory");
    memcpy(m->storage, line, len);
    m->storage[len] = '\0';
    m->storage_len = m->storage_cap = len + 1;
    m->type = line[0];
    memcpy(m->cmd, line + 1, 3);
    m->code = ADC_CMD(line[1], line[2], line[3]);

    char *p = len > 4 ? m->storage + 5 : NULL;
    const char *why = NULL;
    char *tok;
    switch (m->type) {
    case 'B': case 'D': case 'E': case 'F':
        if (!(tok = adc_header_token(&p, ADC_SID_LEN)) || !adc_sid_valid(tok)) {
            why = "missing or bad source SID";
            break;
        }
        memcpy(m->src_sid, tok, ADC_SID_LEN + 1);
        if (m->type == 'D' || m->type == 'E') {
            if (!(tok = adc_header_token(&p, ADC_SID_LEN)) || !adc_sid_valid(tok)) {
                why = "missing or bad target SID";
                break;
            }
            memcpy(m->dst_sid, tok, ADC_SID_LEN + 1);
        } else if (m->type == 'F') {
            if (!(tok = adc_header_token(&p, 0)) || !adc_features_valid(tok)) {
                why = "missing or bad feature list";
                break;
            }
            m->features = tok;
        }
        break;
    case 'U':
        if (!(tok = adc_header_token(&p, 0)) || !adc_cid_valid(tok))
            why = "missing or bad CID";
        else
            m->cid = tok;
        break;
    default:
        break;
    }
    if (!why && adc_parse_params(m, p, m->storage + len, memchr(line, '\\', len) != NULL,
                                 adc_cmd_kinds(m->cmd), &why) == 0)
        return 0;
    adc_msg_cleanup(m);
    return adc_fail(reason, why);
}

const char *adc_msg_get(const struct adc_msg *m, const char *code)
{
    if (!code || strlen(code) != 2)
        return NULL;
    for (size_t i = 0; i < m->nnamed; i++)
        if (memcmp(m->named[i].code, code, 2) == 0)
            return m->named[i].value;
    return NULL;
}

/* Copies s into storage and returns the copy. Every pointer already into
 * storage is rebased when it moves. */
static char *adc_store(struct adc_msg *m, const char *s)
{
    size_t n = strlen(s) + 1;
    if (n > m->storage_cap - m->storage_len) {
        size_t cap = m->storage_cap ? m->storage_cap : 64;
        while (cap - m->storage_len < n)
            cap *= 2;
        /* malloc+copy rather than realloc: the old block must stay readable
         * while the pointers into it are moved across. */
        char *old = m->storage, *p = malloc(cap);
        if (!p)
            return NULL;
        if (old) {
            memcpy(p, old, m->storage_len);
            for (size_t i = 0; i < m->npos; i++)
                m->pos[i] = p + (m->pos[i] - old);
            for (size_t i = 0; i < m->nnamed; i++)
                m->named[i].value = p + (m->named[i].value - old);
            if (m->cid)
                m->cid = p + (m->cid - old);
            if (m->features)
                m->features = p + (m->features - old);
            free(old);
        }
        m->storage = p;
        m->storage_cap = cap;
    }
    char *dst = m->storage + m->storage_len;
    memcpy(dst, s, n);
    m->storage_len += n;
    return dst;
}

int adc_msg_set_sids(struct adc_msg *m, const char *src, const char *dst)
{
    if ((src && !adc_sid_valid(src)) || (dst && !adc_sid_valid(dst)))
        return -1;
    if (src)
        memcpy(m->src_sid, src, ADC_SID_LEN + 1);
    if (dst)
        memcpy(m->dst_sid, dst, ADC_SID_LEN + 1);
    return 0;
}

int adc_msg_set_cid(struct adc_msg *m, const char *cid)
{
    char *c;
    if (!cid || !*cid || !adc_cid_valid(cid) || !(c = adc_store(m, cid)))
        return -1;
    m->cid = c;
    return 0;
}

int adc_msg_set_features(struct adc_msg *m, const char *features)
{
    char *f;
    if (!features || !adc_features_valid(features) || !(f = adc_store(m, features)))
        return -1;
    m->features = f;
    return 0;
}

int adc_msg_add_pos(struct adc_msg *m, const char *value)
{
    char *v;
    if (!value || m->npos >= ADC_MAX_PARAMS || !(v = adc_store(m, value)))
        return -1;
    m->pos[m->npos++] = v;
    return 0;
}

int adc_msg_add_named(struct adc_msg *m, const char *code, const char *value)
{
    char *v;
    if (!code || strlen(code) != 2 || !adc_code_valid(code) || !value ||
        m->nnamed >= ADC_MAX_PARAMS || !(v = adc_store(m, value)))
        return -1;
    struct adc_named *nm = &m->named[m->nnamed++];
    memcpy(nm->code, code, 3);
    nm->value = v;
    return 0;
}

/* What the header needs for each type letter, checked before writing. */
static bool adc_header_complete(const struct adc_msg *m)
{
    if (!adc_type_valid(m->type) || !adc_cmd_valid(m->cmd))
        return false;
    bool src = strchr("BDEF", m->type) != NULL, dst = strchr("DE", m->type) != NULL;
    if (src && !adc_sid_valid(m->src_sid))
        return false;
    if (dst && !adc_sid_valid(m->dst_sid))
        return false;
    if (m->type == 'F' && (!m->features || !adc_features_valid(m->features)))
        return false;
    if (m->type == 'U' && (!m->cid || !*m->cid || !adc_cid_valid(m->cid)))
        return false;
    return true;
}

int adc_msg_format(const struct adc_msg *m, struct dc_buf *out)
{
    if (!adc_header_complete(m))
        return -1;
    const char *kinds = adc_cmd_kinds(m->cmd);
    /* A known command must carry exactly its positional count, or the
     * receiver would read the wrong tokens as named parameters. */
    if (kinds && m->npos != strlen(kinds))
        return -1;
    for (size_t i = 0; kinds && i < m->npos; i++)
        if (!adc_pos_valid(kinds[i], m->pos[i]))
            return -1;
    size_t undo = out->len;
    int rc = dc_buf_append_byte(out, m->type) | dc_buf_append(out, m->cmd, 3);
    if (strchr("BDEF", m->type))
        rc |= dc_buf_append_byte(out, ' ') | dc_buf_append(out, m->src_sid, ADC_SID_LEN);
    if (strchr("DE", m->type))
        rc |= dc_buf_append_byte(out, ' ') | dc_buf_append(out, m->dst_sid, ADC_SID_LEN);
    if (m->type == 'F')
        rc |= dc_buf_append_byte(out, ' ') | dc_buf_append_str(out, m->features);
    if (m->type == 'U')
        rc |= dc_buf_append_byte(out, ' ') | dc_buf_append_str(out, m->cid);
    for (size_t i = 0; i < m->npos && rc == 0; i++)
        rc |= dc_buf_append_byte(out, ' ') | adc_escape_append(out, m->pos[i], strlen(m->pos[i]));
    for (size_t i = 0; i < m->nnamed && rc == 0; i++)
        rc |= dc_buf_append_byte(out, ' ') | dc_buf_append(out, m->named[i].code, 2) |
              adc_escape_append(out, m->named[i].value, strlen(m->named[i].value));
    rc |= dc_buf_append_byte(out, '\n');
    if (rc) {
        out->len = undo;
        if (out->data)
            out->data[undo] = '\0';
        return -1;
    }
    return 0;
}
