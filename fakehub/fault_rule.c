/* fault_rule.c: parsing and matching of one fault rule (fault_rule.h). */
#include "fakehub/fault_rule.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum fh_field {
    F_DIR, F_PROTO, F_CMD, F_FROM, F_TO, F_TEXT,
    F_DROP, F_DELAY, F_REPLACE, F_CORRUPT, F_DUPLICATE, F_DISCONNECT, F_HALF_CLOSE,
    F_THROTTLE, F_SLICE, F_STALL,
    F_FIND, F_SEED, F_PROB, F_GAP, F_FOR, F_COUNT, F_TTL,
    F_N,
};
static const char *const fh_field_names[F_N] = {
    "dir", "proto", "cmd", "from", "to", "text",
    "drop", "delay", "replace", "corrupt", "duplicate", "disconnect", "half-close",
    "throttle", "slice", "stall",
    "find", "seed", "prob", "gap", "for", "count", "ttl",
};
#define FH_FIRST_ACTION F_DROP
#define FH_LAST_ACTION F_STALL

static int fh_ferr(char *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fh_ferr(char *err, const char *field, const char *fmt, ...)
{
    if (err) {
        int k = snprintf(err, FH_FAULT_ERR_LEN, "field \"%.40s\": ", field);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, FH_FAULT_ERR_LEN - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void fh_fault_rule_init(struct fh_fault_rule *r)
{
    memset(r, 0, sizeof *r);
    r->dirs = FH_FR_IN;
    r->prob = 1.0;
    r->seed = 1;
    r->copies = 2;
    r->corrupt_n = 1;
    r->gap_ms = 10;
}

void fh_fault_rule_cleanup(struct fh_fault_rule *r)
{
    free(r->text);
    free(r->from);
    free(r->to);
    free(r->text_sub);
    free(r->replace);
    free(r->find);
    memset(r, 0, sizeof *r);
}

long fh_fault_duration(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isdigit((unsigned char)s[0]) || v < 0 || v > 86400.0 * 7)
        return -1;
    if (strcmp(end, "ms") == 0)
        return (long)(v + 0.5);
    if (strcmp(end, "s") == 0)
        return (long)(v * 1000.0 + 0.5);
    return -1;
}

static int fh_uint(const char *field, const char *v, unsigned long min, unsigned long max,
                   unsigned *out, char *err)
{
    char *end;
    errno = 0;
    unsigned long n = v ? strtoul(v, &end, 10) : 0;
    if (!v || !isdigit((unsigned char)v[0]) || *end || errno)
        return fh_ferr(err, field, "'%s' is not a whole number", v ? v : "");
    if (n < min || n > max)
        return fh_ferr(err, field, "%lu is out of range %lu..%lu", n, min, max);
    *out = (unsigned)n;
    return 0;
}

static int fh_ms(const char *field, const char *v, unsigned *out, char *err)
{
    long ms = v ? fh_fault_duration(v) : -1;
    if (ms < 0)
        return fh_ferr(err, field, "bad duration '%s' (e.g. 250ms, 2s, 1.5s)", v ? v : "");
    *out = (unsigned)ms;
    return 0;
}

static int fh_str(const char *field, const char *v, char **out, char *err)
{
    if (!v || !*v)
        return fh_ferr(err, field, "needs a non-empty value");
    char *s = strdup(v);
    if (!s)
        return fh_ferr(err, field, "out of memory");
    free(*out);
    *out = s;
    return 0;
}

static const struct { const char *name; enum fh_fault_cmd cls; } fh_cmd_aliases[] = {
    {"pm", FH_FC_PM}, {"chat", FH_FC_CHAT}, {"ctm", FH_FC_CTM}, {"rcm", FH_FC_RCM},
    {"info", FH_FC_INFO}, {"quit", FH_FC_QUIT}, {"search", FH_FC_SEARCH},
};

/* ADC commands: 3 letters (any type) or a type letter and 3 letters. */
static bool fh_adc_cmd(const char *v)
{
    size_t n = strlen(v);
    if (n != 3 && n != 4)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)v[i]) && !(i == n - 1 && isdigit((unsigned char)v[i])))
            return false;
    return true;
}

static int fh_set_cmd(struct fh_fault_rule *r, const char *v, char *err)
{
    if (!v || !*v)
        return fh_ferr(err, "cmd", "needs a value (pm, chat, ctm, rcm, info, quit, search, an "
                                   "NMDC $Command or an ADC command like EMSG or MSG)");
    for (size_t i = 0; i < sizeof fh_cmd_aliases / sizeof fh_cmd_aliases[0]; i++)
        if (strcmp(v, fh_cmd_aliases[i].name) == 0) {
            r->cmd_class = fh_cmd_aliases[i].cls;
            return 0;
        }
    const char *name = v[0] == '$' ? v + 1 : v;
    if (!*name || strlen(v) + 2 > sizeof r->cmd || strpbrk(name, " |$"))
        return fh_ferr(err, "cmd", "'%s' is not a command name", v);
    r->cmd_class = FH_FC_RAW;
    if (v[0] != '$' && fh_adc_cmd(v))
        snprintf(r->cmd, sizeof r->cmd, "%s", v);
    else
        snprintf(r->cmd, sizeof r->cmd, "$%s", name);
    r->cmd_len = strlen(r->cmd);
    return 0;
}

static int fh_field_find(const char *key)
{
    for (int i = 0; i < F_N; i++)
        if (strcmp(fh_field_names[i], key) == 0)
            return i;
    return -1;
}

static int fh_text_add(char **text, const char *key, const char *v);
static int fh_rule_set(struct fh_fault_rule *r, const char *key, const char *v, char *err);

int fh_fault_rule_set(struct fh_fault_rule *r, const char *key, const char *v, char *err)
{
    if (fh_rule_set(r, key, v, err) < 0)
        return -1;
    if (fh_text_add(&r->text, key, v) < 0)
        return fh_ferr(err, key, "out of memory");
    return 0;
}

static int fh_rule_set(struct fh_fault_rule *r, const char *key, const char *v, char *err)
{
    int f = fh_field_find(key);
    if (f < 0)
        return fh_ferr(err, key, "unknown field (match: dir proto cmd from to text; actions: drop "
                                 "delay replace corrupt duplicate disconnect half-close throttle "
                                 "slice stall; find seed prob gap for count ttl)");
    if (r->has[f])
        return fh_ferr(err, key, "given twice");
    if (f >= FH_FIRST_ACTION && f <= FH_LAST_ACTION) {
        if (r->action != FH_FA_NONE)
            return fh_ferr(err, key, "a rule has one action, and it already has one");
        r->action = (enum fh_fault_action)(FH_FA_DROP + (f - FH_FIRST_ACTION));
    }
    r->has[f] = true;
    switch (f) {
    case F_DIR:
        if (v && strcmp(v, "in") == 0)
            r->dirs = FH_FR_IN;
        else if (v && strcmp(v, "out") == 0)
            r->dirs = FH_FR_OUT;
        else if (v && strcmp(v, "both") == 0)
            r->dirs = FH_FR_IN | FH_FR_OUT;
        else
            return fh_ferr(err, key, "'%s': expected in, out or both", v ? v : "");
        return 0;
    case F_PROTO:
        if (v && strcmp(v, "nmdc") == 0)
            r->protos = 1u << FH_PROTO_NMDC;
        else if (v && strcmp(v, "adc") == 0)
            r->protos = 1u << FH_PROTO_ADC;
        else
            return fh_ferr(err, key, "'%s': expected nmdc or adc", v ? v : "");
        return 0;
    case F_CMD:
        return fh_set_cmd(r, v, err);
    case F_FROM:
        return fh_str(key, v, &r->from, err);
    case F_TO:
        return fh_str(key, v, &r->to, err);
    case F_TEXT:
        return fh_str(key, v, &r->text_sub, err);
    case F_DROP:
    case F_PROB: {   /* drop=P: a probability */
        if (f == F_DROP && !v)
            return 0;
        char *end;
        errno = 0;
        double p = v ? strtod(v, &end) : -1;
        if (!v || end == v || *end || errno || !(p > 0.0 && p <= 1.0))
            return fh_ferr(err, key, "'%s': expected a probability in (0, 1]", v ? v : "");
        r->prob = p;
        return 0;
    }
    case F_DELAY:
        return fh_ms(key, v, &r->delay_ms, err);
    case F_REPLACE:
        if (!v)
            return fh_ferr(err, key, "needs the new text (replace=TEXT, with find=OLD for a part)");
        free(r->replace);
        if (!(r->replace = strdup(v)))   /* may be empty: the line becomes empty */
            return fh_ferr(err, key, "out of memory");
        return 0;
    case F_CORRUPT:
        return v ? fh_uint(key, v, 1, 65536, &r->corrupt_n, err) : 0;
    case F_DUPLICATE:
        return v ? fh_uint(key, v, 2, 100, &r->copies, err) : 0;
    case F_DISCONNECT:
        if (!v || strcmp(v, "fin") == 0)
            r->close_how = FH_CLOSE_FIN;
        else if (strcmp(v, "rst") == 0)
            r->close_how = FH_CLOSE_RST;
        else
            return fh_ferr(err, key, "'%s': expected fin or rst", v);
        return 0;
    case F_HALF_CLOSE:
        if (v)
            return fh_ferr(err, key, "takes no value");
        r->close_how = FH_CLOSE_HALF;
        return 0;
    case F_THROTTLE:
        return fh_uint(key, v, 1, 1u << 30, &r->rate, err);
    case F_SLICE:
        return fh_uint(key, v, 1, 1u << 20, &r->slice, err);
    case F_STALL:
        if (v && strcmp(v, "read") == 0)
            r->stall_read = true;
        else if (v && strcmp(v, "write") == 0)
            r->stall_write = true;
        else if (v && strcmp(v, "both") == 0)
            r->stall_read = r->stall_write = true;
        else
            return fh_ferr(err, key, "'%s': expected read, write or both", v ? v : "");
        return 0;
    case F_FIND:
        return fh_str(key, v, &r->find, err);
    case F_SEED: {
        char *end;
        errno = 0;
        unsigned long long s = v ? strtoull(v, &end, 10) : 0;
        if (!v || !isdigit((unsigned char)v[0]) || *end || errno)
            return fh_ferr(err, key, "'%s' is not a whole number", v ? v : "");
        r->seed = s;
        return 0;
    }
    case F_GAP:
        return fh_ms(key, v, &r->gap_ms, err);
    case F_FOR:
        return fh_ms(key, v, &r->for_ms, err);
    case F_COUNT:
        return fh_uint(key, v, 1, 1u << 30, &r->count, err);
    case F_TTL:
        return fh_ms(key, v, &r->ttl_ms, err);
    }
    return 0;
}

/* Append `key` or `key=value` (quoted when needed) to the rule's text. */
static int fh_text_add(char **text, const char *key, const char *v)
{
    size_t old = *text ? strlen(*text) : 0, vl = v ? strlen(v) : 0;
    char *t = realloc(*text, old + strlen(key) + 2 * vl + 6);
    if (!t)
        return -1;
    *text = t;
    char *p = t + old;
    if (old)
        *p++ = ' ';
    p += sprintf(p, "%s", key);
    if (v) {
        bool quote = !*v || strpbrk(v, " \t\"\\") != NULL;
        *p++ = '=';
        if (quote)
            *p++ = '"';
        for (const char *s = v; *s; s++) {
            if (quote && (*s == '"' || *s == '\\'))
                *p++ = '\\';
            *p++ = *s;
        }
        if (quote)
            *p++ = '"';
    }
    *p = '\0';
    return 0;
}

int fh_fault_rule_finish(struct fh_fault_rule *r, char *err)
{
    if (r->action == FH_FA_NONE)
        return fh_ferr(err, "action", "missing: one of drop, delay, replace, corrupt, duplicate, "
                                      "disconnect, half-close, throttle, slice, stall");
    if (r->has[F_FIND] && r->action != FH_FA_REPLACE)
        return fh_ferr(err, "find", "only with replace");
    if (r->has[F_GAP] && r->action != FH_FA_SLICE)
        return fh_ferr(err, "gap", "only with slice");
    if (r->has[F_FOR] && r->action != FH_FA_THROTTLE && r->action != FH_FA_SLICE &&
        r->action != FH_FA_STALL)
        return fh_ferr(err, "for", "only with throttle, slice or stall (a rule's own life is ttl)");
    if (r->has[F_DROP] && r->has[F_PROB])
        return fh_ferr(err, "prob", "drop=P already gives the probability");
    if (r->cmd_class == FH_FC_RAW && r->protos) {
        bool adc = r->cmd[0] != '$';
        if (r->protos != 1u << (adc ? FH_PROTO_ADC : FH_PROTO_NMDC))
            return fh_ferr(err, "cmd", "%s is an %s command, but proto is %s: the rule could never match",
                           r->cmd, adc ? "ADC" : "NMDC", adc ? "nmdc" : "adc");
    }
    return 0;
}

/* Cut the next field off the text form: key in key, value in val (NULL if
 * bare). Returns the rest, or NULL at the end; *bad on a syntax error. */
static const char *fh_next_field(const char *p, char *key, size_t keylen, char **val, bool *bad,
                                 char *err)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return NULL;
    size_t k = 0;
    while (*p && *p != '=' && *p != '~' && *p != ' ' && *p != '\t') {
        if (k + 1 >= keylen) {
            *bad = true;
            fh_ferr(err, "?", "field name too long");
            return NULL;
        }
        key[k++] = *p++;
    }
    key[k] = '\0';
    *val = NULL;
    if (*p != '=' && *p != '~')
        return p;
    if (*p == '~' && strcmp(key, "text") != 0) {
        *bad = true;
        fh_ferr(err, key, "'~' only with text (text~PART)");
        return NULL;
    }
    p++;
    char *v = malloc(strlen(p) + 1), *o = v;
    if (!v) {
        *bad = true;
        fh_ferr(err, key, "out of memory");
        return NULL;
    }
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            *o++ = *p++;
        }
        if (*p != '"') {
            free(v);
            *bad = true;
            fh_ferr(err, key, "missing closing quote");
            return NULL;
        }
        p++;
    } else {
        while (*p && *p != ' ' && *p != '\t')
            *o++ = *p++;
    }
    *o = '\0';
    *val = v;
    return p;
}

int fh_fault_rule_parse(struct fh_fault_rule *r, const char *text, char *err)
{
    fh_fault_rule_init(r);
    const char *p = text;
    char key[64];
    char *val;
    bool bad = false;
    while ((p = fh_next_field(p, key, sizeof key, &val, &bad, err))) {
        int rc = fh_fault_rule_set(r, key, val, err);
        free(val);
        if (rc < 0) {
            fh_fault_rule_cleanup(r);
            return -1;
        }
    }
    if (bad || fh_fault_rule_finish(r, err) < 0) {
        fh_fault_rule_cleanup(r);
        return -1;
    }
    return 0;
}

/* A command word: the line starts with w and then ends or has a blank. */
static bool fh_starts_word(const char *line, size_t len, const char *w, size_t wl)
{
    return len >= wl && memcmp(line, w, wl) == 0 && (len == wl || line[wl] == ' ');
}

static bool fh_adc_is(const char *line, size_t len, const char *types, const char *name)
{
    return len >= 4 && strchr(types, line[0]) && memcmp(line + 1, name, 3) == 0 &&
           (len == 4 || line[4] == ' ');
}

static bool fh_cmd_matches(const struct fh_fault_rule *r, enum fh_proto proto, const char *line,
                           size_t len)
{
    bool nmdc = proto == FH_PROTO_NMDC;
    switch (r->cmd_class) {
    case FH_FC_ANY:
        return true;
    case FH_FC_RAW:
        if (r->cmd[0] == '$')
            return nmdc && fh_starts_word(line, len, r->cmd, r->cmd_len);
        if (nmdc)
            return false;
        if (r->cmd_len == 3)
            return len >= 4 && memcmp(line + 1, r->cmd, 3) == 0 && (len == 4 || line[4] == ' ');
        return fh_starts_word(line, len, r->cmd, 4);
    case FH_FC_PM:
        if (nmdc)
            return fh_starts_word(line, len, "$To:", 4);
        return fh_adc_is(line, len, "ED", "MSG") && memmem(line, len, " PM", 3);
    case FH_FC_CHAT:
        return nmdc ? len > 0 && line[0] == '<' : fh_adc_is(line, len, "B", "MSG");
    case FH_FC_CTM:
        return nmdc ? fh_starts_word(line, len, "$ConnectToMe", 12) : fh_adc_is(line, len, "DE", "CTM");
    case FH_FC_RCM:
        return nmdc ? fh_starts_word(line, len, "$RevConnectToMe", 15) : fh_adc_is(line, len, "DE", "RCM");
    case FH_FC_INFO:
        return nmdc ? fh_starts_word(line, len, "$MyINFO", 7) : fh_adc_is(line, len, "BI", "INF");
    case FH_FC_QUIT:
        return nmdc ? fh_starts_word(line, len, "$Quit", 5) : fh_adc_is(line, len, "I", "QUI");
    case FH_FC_SEARCH:
        return nmdc ? fh_starts_word(line, len, "$Search", 7) : fh_adc_is(line, len, "BF", "SCH");
    }
    return false;
}

bool fh_fault_rule_matches(const struct fh_fault_rule *r, enum fh_dir dir, enum fh_proto proto,
                           const char *line, size_t len)
{
    if (!(r->dirs & (dir == FH_DIR_IN ? FH_FR_IN : FH_FR_OUT)))
        return false;
    if (r->protos && !(r->protos & (1u << proto)))
        return false;
    if (!fh_cmd_matches(r, proto, line, len))
        return false;
    if (r->text_sub && !memmem(line, len, r->text_sub, strlen(r->text_sub)))
        return false;
    if (r->find && !memmem(line, len, r->find, strlen(r->find)))
        return false;
    return true;
}

/* The word after `skip` words of line (NMDC), into out. */
static bool fh_word(const char *line, size_t len, unsigned skip, char *out, size_t outlen)
{
    size_t i = 0;
    for (unsigned w = 0; w < skip; w++) {
        while (i < len && line[i] != ' ')
            i++;
        while (i < len && line[i] == ' ')
            i++;
    }
    size_t s = i;
    while (i < len && line[i] != ' ')
        i++;
    if (i == s || i - s >= outlen)
        return false;
    memcpy(out, line + s, i - s);
    out[i - s] = '\0';
    return true;
}

bool fh_fault_line_target(enum fh_proto proto, const char *line, size_t len, char *out,
                          size_t outlen)
{
    if (proto == FH_PROTO_ADC) {
        /* "DMSG AAAB AAAC ...": type, command, source SID, target SID */
        if (len < 14 || (line[0] != 'D' && line[0] != 'E') || line[4] != ' ' || line[9] != ' ' ||
            outlen < 5)
            return false;
        memcpy(out, line + 10, 4);
        out[4] = '\0';
        return true;
    }
    if (fh_starts_word(line, len, "$To:", 4) || fh_starts_word(line, len, "$ConnectToMe", 12))
        return fh_word(line, len, 1, out, outlen);
    if (fh_starts_word(line, len, "$RevConnectToMe", 15))
        return fh_word(line, len, 2, out, outlen);
    return false;
}

uint64_t fh_fault_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void fh_fault_corrupt(char *buf, size_t len, unsigned n, uint64_t *state)
{
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (unsigned k = 0; k < n && len > 0; k++) {
        size_t at = (size_t)(fh_fault_rand(state) % len);
        char c;
        do
            c = letters[fh_fault_rand(state) % (sizeof letters - 1)];
        while (c == buf[at]);
        buf[at] = c;
    }
}
