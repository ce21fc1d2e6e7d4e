/* settings.c: the typed settings table and store (see dcc.h).
 *
 * The table (DCC_SETTINGS in internal.h) is the one source for names, types,
 * defaults, ranges and descriptions: dcclient's --help, the control
 * protocol's get/set/settings and the docs all read it. Defaults are given as
 * text and go through the same parser as user input, so a bad default fails
 * the unit tests instead of hiding. A store is one value slot per row; strings
 * are owned copies.
 */
#include "client/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct dcc_setting_info dcc_setting_table[DCC_S_COUNT] = {
#define DCC_SETTING_ROW(id, name, type, def, min, max, desc) \
    [DCC_S_##id] = {name, DCC_TYPE_##type, def, min, max, desc},
    DCC_SETTINGS(DCC_SETTING_ROW)
#undef DCC_SETTING_ROW
};

static const char *const dcc_type_names[] = {
    [DCC_TYPE_STRING] = "string", [DCC_TYPE_INT] = "int", [DCC_TYPE_INT64] = "int64",
    [DCC_TYPE_DOUBLE] = "double", [DCC_TYPE_BOOL] = "bool",
};

/* One store: a slot per table row. Owned by its creator; strings in it are owned. */
struct dcc_settings {
    union dcc_slot {
        char *s;
        int i;
        int64_t i64;
        double d;
        bool b;
    } v[DCC_S_COUNT];
};

const char *dcc_type_name(enum dcc_type t)
{
    return (unsigned)t < sizeof dcc_type_names / sizeof dcc_type_names[0] ? dcc_type_names[t] : "?";
}

size_t dcc_setting_count(void)
{
    return DCC_S_COUNT;
}

const struct dcc_setting_info *dcc_setting_at(size_t i)
{
    return i < DCC_S_COUNT ? &dcc_setting_table[i] : NULL;
}

static int dcc_setting_index(const char *name)
{
    for (int i = 0; name && i < DCC_S_COUNT; i++)
        if (strcmp(dcc_setting_table[i].name, name) == 0)
            return i;
    return -1;
}

const struct dcc_setting_info *dcc_setting_find(const char *name)
{
    int i = dcc_setting_index(name);
    return i < 0 ? NULL : &dcc_setting_table[i];
}

static int dcc_lookup(const char *name, char *err)
{
    int i = dcc_setting_index(name);
    if (i < 0)
        dcc_errc(err, "unknown-setting", "unknown setting '%s'", name ? name : "(null)");
    return i;
}

static int dcc_range(const struct dcc_setting_info *info, double v, char *err)
{
    if (v < info->min || v > info->max)
        return dcc_errc(err, "bad-value", "setting '%s' must be between %g and %g", info->name, info->min, info->max);
    return 0;
}

int dcc_settings_set(struct dcc_settings *s, const char *name, const struct dcc_value *v, char *err)
{
    int i = dcc_lookup(name, err);
    if (i < 0)
        return -1;
    const struct dcc_setting_info *info = &dcc_setting_table[i];
    if (!v || v->type != info->type)
        return dcc_errc(err, "bad-value", "setting '%s' is of type %s, not %s", name, dcc_type_name(info->type),
                       v ? dcc_type_name(v->type) : "null");
    union dcc_slot *slot = &s->v[i];
    switch (info->type) {
    case DCC_TYPE_STRING: {
        if (!v->u.s)
            return dcc_errc(err, "bad-value", "setting '%s' needs a string, not null", name);
        if (i == DCC_S_CC_TLS && strcmp(v->u.s, "auto") && strcmp(v->u.s, "always") && strcmp(v->u.s, "never"))
            return dcc_errc(err, "bad-value", "setting '%s' must be auto, always or never", name);
        struct in_addr ia;
        if (i == DCC_S_SOURCE_ADDRESS && *v->u.s && inet_pton(AF_INET, v->u.s, &ia) != 1)
            return dcc_errc(err, "bad-value", "setting '%s' must be an IPv4 address such as 127.0.0.3 (or empty), not '%s'", name, v->u.s);
        char *copy = strdup(v->u.s);
        if (!copy)
            return dcc_err(err, "out of memory");
        free(slot->s);
        slot->s = copy;
        return 0;
    }
    case DCC_TYPE_INT:
        if (dcc_range(info, v->u.i, err) < 0)
            return -1;
        slot->i = v->u.i;
        return 0;
    case DCC_TYPE_INT64:
        if (dcc_range(info, (double)v->u.i64, err) < 0)
            return -1;
        slot->i64 = v->u.i64;
        return 0;
    case DCC_TYPE_DOUBLE:
        if (!isfinite(v->u.d) || dcc_range(info, v->u.d, err) < 0)
            return isfinite(v->u.d) ? -1 : dcc_errc(err, "bad-value", "setting '%s' must be a finite number", name);
        slot->d = v->u.d;
        return 0;
    case DCC_TYPE_BOOL:
        slot->b = v->u.b;
        return 0;
    }
    return dcc_errc(err, "bad-value", "setting '%s' has a bad type", name);
}

int dcc_settings_get(const struct dcc_settings *s, const char *name, struct dcc_value *out, char *err)
{
    int i = dcc_lookup(name, err);
    if (i < 0)
        return -1;
    out->type = dcc_setting_table[i].type;
    switch (out->type) {
    case DCC_TYPE_STRING: out->u.s = s->v[i].s; break;
    case DCC_TYPE_INT: out->u.i = s->v[i].i; break;
    case DCC_TYPE_INT64: out->u.i64 = s->v[i].i64; break;
    case DCC_TYPE_DOUBLE: out->u.d = s->v[i].d; break;
    case DCC_TYPE_BOOL: out->u.b = s->v[i].b; break;
    }
    return 0;
}

static int dcc_parse_bool(const char *t, bool *out)
{
    const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(t, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(t, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

int dcc_settings_set_text(struct dcc_settings *s, const char *name, const char *text, char *err)
{
    int i = dcc_lookup(name, err);
    if (i < 0)
        return -1;
    const struct dcc_setting_info *info = &dcc_setting_table[i];
    struct dcc_value v = {.type = info->type};
    char *end = NULL;
    errno = 0;
    bool ok = text != NULL;
    switch (info->type) {
    case DCC_TYPE_STRING:
        v.u.s = text;
        break;
    case DCC_TYPE_INT: {
        long n = ok ? strtol(text, &end, 10) : 0;
        ok = ok && *text && !*end && errno == 0 && n >= INT32_MIN && n <= INT32_MAX;
        v.u.i = (int)n;
        break;
    }
    case DCC_TYPE_INT64:
        v.u.i64 = ok ? strtoll(text, &end, 10) : 0;
        ok = ok && *text && !*end && errno == 0;
        break;
    case DCC_TYPE_DOUBLE:
        v.u.d = ok ? strtod(text, &end) : 0;
        ok = ok && *text && !*end && errno == 0;
        break;
    case DCC_TYPE_BOOL:
        ok = ok && dcc_parse_bool(text, &v.u.b) == 0;
        break;
    }
    if (!ok)
        return dcc_errc(err, "bad-value", "setting '%s' is of type %s; '%s' is not a valid %s", name,
                       dcc_type_name(info->type), text ? text : "(null)", dcc_type_name(info->type));
    return dcc_settings_set(s, name, &v, err);
}

struct dcc_settings *dcc_settings_new(void)
{
    struct dcc_settings *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    for (int i = 0; i < DCC_S_COUNT; i++) {
        if (dcc_settings_set_text(s, dcc_setting_table[i].name, dcc_setting_table[i].def, NULL) < 0) {
            dcc_settings_free(s);
            return NULL;
        }
    }
    return s;
}

void dcc_settings_free(struct dcc_settings *s)
{
    if (!s)
        return;
    for (int i = 0; i < DCC_S_COUNT; i++)
        if (dcc_setting_table[i].type == DCC_TYPE_STRING)
            free(s->v[i].s);
    free(s);
}

/* Internal typed accessors by row id (no lookup, no error path). */
const char *dcc_sget_str(const struct dcc_settings *s, enum dcc_setting_id id) { return s->v[id].s; }
int dcc_sget_int(const struct dcc_settings *s, enum dcc_setting_id id) { return s->v[id].i; }
int64_t dcc_sget_i64(const struct dcc_settings *s, enum dcc_setting_id id) { return s->v[id].i64; }
double dcc_sget_double(const struct dcc_settings *s, enum dcc_setting_id id) { return s->v[id].d; }
bool dcc_sget_bool(const struct dcc_settings *s, enum dcc_setting_id id) { return s->v[id].b; }

static int dcc_verrc(char *err, const char *code, const char *fmt, va_list ap)
{
    if (err) {
        vsnprintf(err, DCC_ERR_LEN - DCC_ERR_CODE_LEN, fmt, ap);
        snprintf(err + DCC_ERR_LEN - DCC_ERR_CODE_LEN, DCC_ERR_CODE_LEN, "%s", code);
    }
    return -1;
}

int dcc_err(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dcc_verrc(err, "internal", fmt, ap);
    va_end(ap);
    return -1;
}

int dcc_errc(char *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dcc_verrc(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

const char *dcc_err_code(const char *err)
{
    const char *code = err + DCC_ERR_LEN - DCC_ERR_CODE_LEN;
    if (!*code || !memchr(code, '\0', DCC_ERR_CODE_LEN))
        return "internal";
    return code;
}
