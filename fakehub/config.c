/* config.c: the fakehub option table and the `key = value` parser (see
 * config.h). The table is the single source for the config file, the
 * command line, --help and the SIGHUP change log.
 */
#include "fakehub/config.h"

#include "fakehub/fault_rule.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum fh_opt_type { FH_OPT_STR, FH_OPT_UINT };

/* One setting: an entry of the static option table (nothing owned). */
struct fh_opt {
    const char *key;
    enum fh_opt_type type;
    size_t offset;               /* into struct fh_config */
    unsigned long min, max;      /* FH_OPT_UINT */
    const char *metavar, *help;
};

#define FH_OFF(f) offsetof(struct fh_config, f)
static const struct fh_opt fh_opts[] = {
    {"name", FH_OPT_STR, FH_OFF(name), 0, 0, "TEXT", "hub name (default \"fakehub\")"},
    {"topic", FH_OPT_STR, FH_OFF(topic), 0, 0, "TEXT", "hub topic/description"},
    {"motd", FH_OPT_STR, FH_OFF(motd), 0, 0, "TEXT", "message of the day, sent as hub chat after login"},
    {"max-users", FH_OPT_UINT, FH_OFF(max_users), 1, 100000, "N", "logged-in users, both protocols (default 256)"},
    {"max-line", FH_OPT_UINT, FH_OFF(max_line), 64, 1048576, "BYTES", "longest protocol line (default 65536)"},
    {"login-timeout", FH_OPT_UINT, FH_OFF(login_timeout), 0, 86400, "SECONDS", "accept to logged in; 0 = off (default 30)"},
    {"idle-timeout", FH_OPT_UINT, FH_OFF(idle_timeout), 0, 86400, "SECONDS", "silence allowed once logged in; 0 = off (default 900)"},
    {"max-output", FH_OPT_UINT, FH_OFF(max_output), 4096, 1U << 30, "BYTES", "queued output per connection before it is dropped (default 4 MiB)"},
    {"rate-limit", FH_OPT_UINT, FH_OFF(rate_limit), 0, 1000000, "LINES", "lines per second per connection, burst twice that; 0 = off (default 500)"},
    {"tls-timeout", FH_OPT_UINT, FH_OFF(tls_timeout), 0, 86400, "SECONDS", "accept to TLS handshake done on adcs/nmdcs ports; 0 = off (default 5)"},
    {"lenient", FH_OPT_UINT, FH_OFF(lenient), 0, 1, "[=0|1]", "1: relay lines that break a protocol rule instead of refusing them, still reporting each violation (default 0: strict)"},
    {"user", FH_OPT_STR, 0, 0, 0, "\"NICK PASSWORD [op]\"", "registered user (repeatable; command line: NICK:PASSWORD[:op])"},
    {"fault", FH_OPT_STR, 0, 0, 0, "RULE", "fault rule, e.g. \"delay=2s cmd=pm\" (repeatable; docs/fakehub.md)"},
};
#define FH_NOPTS (sizeof fh_opts / sizeof fh_opts[0])

static int fh_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fh_fail(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, FH_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const struct fh_opt *fh_opt_find(const char *key)
{
    for (size_t i = 0; i < FH_NOPTS; i++)
        if (strcmp(fh_opts[i].key, key) == 0)
            return &fh_opts[i];
    return NULL;
}

bool fh_config_known(const char *key)
{
    return fh_opt_find(key) != NULL;
}

void fh_config_init(struct fh_config *c)
{
    memset(c, 0, sizeof *c);
    c->name = strdup("fakehub");
    c->topic = strdup("");
    c->motd = strdup("");
    c->max_users = 256;
    c->max_line = 65536;
    c->login_timeout = 30;
    c->idle_timeout = 900;
    c->max_output = 4U << 20;
    c->rate_limit = 500;
    c->tls_timeout = 5;   /* a plain NMDC client on a TLS port waits silently for $Lock */
}

void fh_config_cleanup(struct fh_config *c)
{
    free(c->name);
    free(c->topic);
    free(c->motd);
    for (size_t i = 0; i < c->nusers; i++) {
        free(c->users[i].nick);
        free(c->users[i].password);
    }
    free(c->users);
    for (size_t i = 0; i < c->nfaults; i++)
        free(c->faults[i]);
    free(c->faults);
    memset(c, 0, sizeof *c);
}

const struct fh_user_cfg *fh_config_find_user(const struct fh_config *c, const char *nick)
{
    for (size_t i = 0; i < c->nusers; i++)
        if (strcasecmp(c->users[i].nick, nick) == 0)
            return &c->users[i];
    return NULL;
}

/* "nick password [op]": whitespace-separated, nothing else allowed. */
static int fh_config_add_user(struct fh_config *c, const char *value, char *err)
{
    char nick[256], pass[256], flag[16];
    char extra;
    int n = sscanf(value, "%255s %255s %15s %c", nick, pass, flag, &extra);
    if (n < 2 || n > 3)
        return fh_fail(err, "user: expected \"NICK PASSWORD [op]\"");
    if (n == 3 && strcmp(flag, "op") != 0)
        return fh_fail(err, "user %s: unknown flag '%s' (only \"op\")", nick, flag);
    for (const char *p = nick; *p; p++)
        if ((unsigned char)*p <= 0x20 || strchr("$|<>", *p))
            return fh_fail(err, "user: invalid nick '%s'", nick);
    struct fh_user_cfg *u = (struct fh_user_cfg *)fh_config_find_user(c, nick);
    if (!u) {
        struct fh_user_cfg *nu = realloc(c->users, (c->nusers + 1) * sizeof *nu);
        if (!nu)
            return fh_fail(err, "out of memory");
        c->users = nu;
        u = &c->users[c->nusers++];
        u->nick = u->password = NULL;
    }
    char *dn = strdup(nick), *dp = strdup(pass);
    if (!dn || !dp) {
        free(dn);
        free(dp);
        return fh_fail(err, "out of memory");
    }
    free(u->nick);
    free(u->password);
    u->nick = dn;
    u->password = dp;
    u->op = n == 3;
    return 0;
}

/* Checked now, so a bad rule is a FILE:LINE error; kept as text. */
static int fh_config_add_fault(struct fh_config *c, const char *value, char *err)
{
    struct fh_fault_rule r;
    char why[FH_FAULT_ERR_LEN];
    if (fh_fault_rule_parse(&r, value, why) < 0)
        return fh_fail(err, "fault: %s", why);
    fh_fault_rule_cleanup(&r);
    char **nf = realloc(c->faults, (c->nfaults + 1) * sizeof *nf);
    if (!nf)
        return fh_fail(err, "out of memory");
    c->faults = nf;
    if (!(c->faults[c->nfaults] = strdup(value)))
        return fh_fail(err, "out of memory");
    c->nfaults++;
    return 0;
}

int fh_config_set(struct fh_config *c, const char *key, const char *value, char *err)
{
    const struct fh_opt *o = fh_opt_find(key);
    if (!o)
        return fh_fail(err, "unknown setting '%s'", key);
    if (strcmp(key, "user") == 0)
        return fh_config_add_user(c, value, err);
    if (strcmp(key, "fault") == 0)
        return fh_config_add_fault(c, value, err);
    if (o->type == FH_OPT_STR) {
        char *s = strdup(value), **slot = (char **)((char *)c + o->offset);
        if (!s)
            return fh_fail(err, "out of memory");
        free(*slot);
        *slot = s;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (!isdigit((unsigned char)value[0]) || *end || errno)
        return fh_fail(err, "%s: '%s' is not a number", key, value);
    if (v < o->min || v > o->max)
        return fh_fail(err, "%s: %lu is out of range %lu..%lu", key, v, o->min, o->max);
    *(unsigned *)((char *)c + o->offset) = (unsigned)v;
    return 0;
}

static void fh_trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

int fh_config_parse(struct fh_config *c, const char *text, size_t len, const char *fname,
                    char *err)
{
    const char *p = text, *end = text + len;
    for (unsigned lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end, *b = p;
        p = nl ? nl + 1 : end;
        fh_trim(&b, &le);
        if (b == le || *b == '#')
            continue;
        if (memchr(b, '\0', (size_t)(le - b)))
            return fh_fail(err, "%s:%u: NUL byte", fname, lineno);
        const char *eq = memchr(b, '=', (size_t)(le - b));
        if (!eq)
            return fh_fail(err, "%s:%u: expected 'key = value'", fname, lineno);
        const char *kb = b, *ke = eq, *vb = eq + 1, *ve = le;
        fh_trim(&kb, &ke);
        fh_trim(&vb, &ve);
        if (kb == ke)
            return fh_fail(err, "%s:%u: missing key before '='", fname, lineno);
        char key[64], value[4096];
        if ((size_t)(ke - kb) >= sizeof key || (size_t)(ve - vb) >= sizeof value)
            return fh_fail(err, "%s:%u: key or value too long", fname, lineno);
        memcpy(key, kb, (size_t)(ke - kb));
        key[ke - kb] = '\0';
        memcpy(value, vb, (size_t)(ve - vb));
        value[ve - vb] = '\0';
        char why[FH_ERR_LEN];
        if (fh_config_set(c, key, value, why) < 0)
            return fh_fail(err, "%s:%u: %s", fname, lineno, why);
    }
    return 0;
}

int fh_config_load(struct fh_config *c, const char *path, char *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fh_fail(err, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return fh_fail(err, "out of memory");
    }
    size_t n = fread(buf, 1, cap + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = fh_fail(err, "%s: read error", path);
    else if (n > cap)
        rc = fh_fail(err, "%s: larger than 1 MiB", path);
    else
        rc = fh_config_parse(c, buf, n, path, err);
    free(buf);
    return rc;
}

int fh_config_build(struct fh_config *out, const char *path, const struct fh_kv *ov,
                    size_t nov, char *err)
{
    fh_config_init(out);
    if (path && fh_config_load(out, path, err) < 0)
        goto fail;
    for (size_t i = 0; i < nov; i++) {
        char why[FH_ERR_LEN];
        if (fh_config_set(out, ov[i].key, ov[i].value, why) < 0) {
            fh_fail(err, "command line: %s", why);
            goto fail;
        }
    }
    return 0;
fail:
    fh_config_cleanup(out);
    fh_config_init(out);
    return -1;
}

void fh_config_help(FILE *out)
{
    for (size_t i = 0; i < FH_NOPTS; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s %s", fh_opts[i].key, fh_opts[i].metavar);
        fprintf(out, "  %-28s %s\n", left, fh_opts[i].help);
    }
}

static void fh_diff_add(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fh_diff_add(char *out, size_t outlen, const char *fmt, ...)
{
    size_t used = strlen(out);
    if (used + 1 >= outlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + used, outlen - used, fmt, ap);
    va_end(ap);
}

void fh_config_diff(const struct fh_config *old, const struct fh_config *new_, char *out,
                    size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    for (size_t i = 0; i < FH_NOPTS; i++) {
        const struct fh_opt *o = &fh_opts[i];
        if (strcmp(o->key, "user") == 0 || strcmp(o->key, "fault") == 0)
            continue;
        const char *a = (const char *)old + o->offset, *b = (const char *)new_ + o->offset;
        if (o->type == FH_OPT_STR && strcmp(*(char *const *)a, *(char *const *)b) != 0)
            fh_diff_add(out, outlen, "%s%s changed", *out ? "; " : "", o->key);
        if (o->type == FH_OPT_UINT && *(const unsigned *)a != *(const unsigned *)b)
            fh_diff_add(out, outlen, "%s%s %u -> %u", *out ? "; " : "", o->key,
                        *(const unsigned *)a, *(const unsigned *)b);
    }
    for (size_t i = 0; i < new_->nusers; i++) {
        const struct fh_user_cfg *u = &new_->users[i], *o = fh_config_find_user(old, u->nick);
        if (!o)
            fh_diff_add(out, outlen, "%suser %s added", *out ? "; " : "", u->nick);
        else if (strcmp(o->password, u->password) != 0 || o->op != u->op)
            fh_diff_add(out, outlen, "%suser %s changed", *out ? "; " : "", u->nick);
    }
    for (size_t i = 0; i < old->nusers; i++)
        if (!fh_config_find_user(new_, old->users[i].nick))
            fh_diff_add(out, outlen, "%suser %s removed", *out ? "; " : "", old->users[i].nick);
}
