/* fault.c: the fault rule table and its filter (fault.h). */
#include "fakehub/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakehub/hub_internal.h"
#include "fakehub/trace.h"
#include "proto/buf.h"

/* One rule in the table. Owned by struct fh_faults. */
struct fh_fault_entry {
    struct fh_fault_rule r;     /* owned */
    uint64_t rng;               /* the rule's seeded stream */
    uint32_t added;             /* fh_now_ms() */
    unsigned long matched, applied;
    bool done;                  /* count used up, ttl over, or cleared */
};

struct fh_faults {
    struct fh_hub *hub;         /* borrowed */
    struct fh_fault_entry **e;  /* owned array of owned entries */
    size_t n, cap;
    size_t active;              /* entries not done: 0 makes the filter return at once */
    unsigned next_id;
    bool registered;            /* the filter hook set is on the hub */
    struct dc_buf buf;          /* owned: a replaced or corrupted line, until the next call */
};

static const char *const fh_action_names[] = {
    [FH_FA_NONE] = "none", [FH_FA_DROP] = "drop", [FH_FA_DELAY] = "delay",
    [FH_FA_REPLACE] = "replace", [FH_FA_CORRUPT] = "corrupt", [FH_FA_DUPLICATE] = "duplicate",
    [FH_FA_DISCONNECT] = "disconnect", [FH_FA_HALF_CLOSE] = "half-close",
    [FH_FA_THROTTLE] = "throttle", [FH_FA_SLICE] = "slice", [FH_FA_STALL] = "stall",
};

/* The nick a directed input line goes to, or NULL. */
static const char *fh_in_target(struct fh_hub *hub, const struct fh_conn *c, const char *line,
                                size_t len, char *buf, size_t buflen)
{
    if (!fh_fault_line_target(c->proto, line, len, buf, buflen))
        return NULL;
    if (c->proto == FH_PROTO_NMDC)
        return buf;
    for (struct fh_conn *u = hub->conns; u; u = u->next)
        if (u->proto == FH_PROTO_ADC && u->state == FH_CONN_OPEN && u->nick && strcmp(u->sid, buf) == 0)
            return u->nick;
    return NULL;
}

static void fh_fault_trace(struct fh_faults *f, struct fh_fault_entry *e, const struct fh_conn *c,
                           enum fh_dir dir, const char *line, size_t len, const struct fh_verdict *v)
{
    struct fh_hub *hub = f->hub;
    const struct fh_fault_rule *r = &e->r;
    fh_log(hub, "fault rule %u (%s) on conn %llu %s %s", r->id, fh_action_names[r->action],
           (unsigned long long)c->id, c->nick ? c->nick : "-", dir == FH_DIR_IN ? "in" : "out");
    if (!hub->trace)
        return;
    bool l1;
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:o, s:s, s:o}", "event", "fault", "rule",
                          (json_int_t)r->id, "action", fh_action_names[r->action], "dir",
                          dir == FH_DIR_IN ? "in" : "out", "conn", (json_int_t)c->id, "nick",
                          c->nick ? fh_json_bytes(c->nick, strlen(c->nick), &l1) : json_null(),
                          "proto", fh_proto_name(c->proto), "line", fh_json_bytes(line, len, &l1));
    if (!o)
        return;
    if (v->kind == FH_REPLACE)
        json_object_set_new(o, "new", fh_json_bytes(v->line, v->len, &l1));
    if (v->kind == FH_DELAY)
        json_object_set_new(o, "delay", json_real(v->delay_ms / 1000.0));
    if (v->copies > 1)
        json_object_set_new(o, "copies", json_integer(v->copies));
    if (v->kind == FH_CLOSE)
        json_object_set_new(o, "how", json_string(v->close == FH_CLOSE_RST ? "rst"
                                                  : v->close == FH_CLOSE_HALF ? "half" : "fin"));
    if (v->shape) {
        json_object_set_new(o, "for", json_real(v->shaping.for_ms / 1000.0));
        if (v->shaping.rate)
            json_object_set_new(o, "rate", json_integer(v->shaping.rate));
        if (v->shaping.slice)
            json_object_set_new(o, "slice", json_integer(v->shaping.slice));
        if (v->shaping.stall_read || v->shaping.stall_write)
            json_object_set_new(o, "stall", json_string(!v->shaping.stall_read ? "write"
                                                        : !v->shaping.stall_write ? "read" : "both"));
    }
    fh_trace_record(hub->trace, o);
}

/* Fill the verdict for rule r on this line; false if it cannot (no memory). */
static bool fh_fault_verdict(struct fh_faults *f, struct fh_fault_entry *e, const char *line,
                             size_t len, struct fh_verdict *v)
{
    const struct fh_fault_rule *r = &e->r;
    switch (r->action) {
    case FH_FA_NONE:
        return false;
    case FH_FA_DROP:
        v->kind = FH_DROP;
        break;
    case FH_FA_DELAY:
        v->kind = FH_DELAY;
        v->delay_ms = r->delay_ms;
        break;
    case FH_FA_REPLACE:
    case FH_FA_CORRUPT:
        dc_buf_reset(&f->buf);
        if (r->action == FH_FA_REPLACE && r->find) {
            const char *at = memmem(line, len, r->find, strlen(r->find));
            size_t pre = (size_t)(at - line), fl = strlen(r->find);
            if (dc_buf_append(&f->buf, line, pre) < 0 || dc_buf_append(&f->buf, r->replace, strlen(r->replace)) < 0 ||
                dc_buf_append(&f->buf, at + fl, len - pre - fl) < 0)
                return false;
        } else if (dc_buf_append(&f->buf, r->action == FH_FA_REPLACE ? r->replace : line,
                                 r->action == FH_FA_REPLACE ? strlen(r->replace) : len) < 0) {
            return false;
        }
        if (r->action == FH_FA_CORRUPT)
            fh_fault_corrupt(f->buf.data, f->buf.len, r->corrupt_n, &e->rng);
        v->kind = FH_REPLACE;
        v->line = f->buf.data ? f->buf.data : "";
        v->len = f->buf.len;
        break;
    case FH_FA_DUPLICATE:
        v->copies = r->copies;
        break;
    case FH_FA_DISCONNECT:
    case FH_FA_HALF_CLOSE:
        v->kind = FH_CLOSE;
        v->close = r->close_how;
        break;
    case FH_FA_THROTTLE:
    case FH_FA_SLICE:
    case FH_FA_STALL:
        v->shape = true;
        v->shaping = (struct fh_shape){.rate = r->rate, .slice = r->slice, .gap_ms = r->gap_ms,
                                       .stall_read = r->stall_read, .stall_write = r->stall_write,
                                       .for_ms = r->for_ms};
        break;
    }
    return true;
}

static void fh_fault_done(struct fh_faults *f, struct fh_fault_entry *e)
{
    if (!e->done) {
        e->done = true;
        f->active--;
    }
}

static void fh_fault_filter(const struct fh_conn *c, const struct fh_conn *from, enum fh_dir dir,
                            const char *line, size_t len, struct fh_verdict *v, void *ctx)
{
    struct fh_faults *f = ctx;
    /* Only the line and `from` decided, unless a rule got past them: then
     * the recipient (to=) or the rule's stream (prob) did. */
    v->any_recipient = true;
    if (!f->active)
        return;
    char target[FH_NICK_MAX + 1];
    for (size_t i = 0; i < f->n; i++) {
        struct fh_fault_entry *e = f->e[i];
        const struct fh_fault_rule *r = &e->r;
        if (e->done || !fh_fault_rule_matches(r, dir, c->proto, line, len))
            continue;
        if (r->from) {
            const char *nick = dir == FH_DIR_IN ? c->nick : from ? from->nick : NULL;
            if (!nick || !fh_nick_equal(nick, r->from))
                continue;
        }
        v->any_recipient = false;
        if (r->to) {
            const char *nick = dir == FH_DIR_OUT ? c->nick
                               : fh_in_target(f->hub, c, line, len, target, sizeof target);
            if (!nick || !fh_nick_equal(nick, r->to))
                continue;
        }
        if (r->ttl_ms && (uint32_t)(fh_now_ms(f->hub) - e->added) >= r->ttl_ms) {
            fh_fault_done(f, e);
            continue;
        }
        e->matched++;
        /* One draw per matching line, applied or not: the same seed and the
         * same lines give the same choices. */
        if (r->prob < 1.0 && (double)(fh_fault_rand(&e->rng) >> 11) * 0x1.0p-53 >= r->prob)
            continue;
        memset(v, 0, sizeof *v);
        if (!fh_fault_verdict(f, e, line, len, v)) {
            memset(v, 0, sizeof *v);
            continue;
        }
        e->applied++;
        if (r->count && e->applied >= r->count)
            fh_fault_done(f, e);
        fh_fault_trace(f, e, c, dir, line, len, v);
        return;
    }
}

/* At shutdown: rules that never matched a line are reported, since a rule
 * with a typo in a nick or a command otherwise passes silently. */
static void fh_fault_shutdown(void *ctx)
{
    struct fh_faults *f = ctx;
    for (size_t i = 0; i < f->n; i++) {
        struct fh_fault_entry *e = f->e[i];
        if (e->matched)
            continue;
        fh_log(f->hub, "fault rule %u never matched: %s", e->r.id, e->r.text ? e->r.text : "");
        if (f->hub->trace)
            fh_trace_record(f->hub->trace, json_pack("{s:s, s:I, s:s}", "event", "fault_unmatched", "rule",
                                                     (json_int_t)e->r.id, "text", e->r.text ? e->r.text : ""));
    }
}

struct fh_faults *fh_faults_new(struct fh_hub *hub)
{
    struct fh_faults *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->hub = hub;
    f->next_id = 1;
    dc_buf_init(&f->buf, 0);
    return f;
}

void fh_faults_free(struct fh_faults *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        fh_fault_rule_cleanup(&f->e[i]->r);
        free(f->e[i]);
    }
    free(f->e);
    dc_buf_cleanup(&f->buf);
    free(f);
}

int fh_faults_add(struct fh_faults *f, struct fh_fault_rule *r, char *err)
{
    if (!f->registered) {
        const struct fh_hooks hooks = {.version = FH_HOOKS_VERSION, .size = sizeof hooks,
                                       .name = "faults", .filter = fh_fault_filter,
                                       .shutdown = fh_fault_shutdown};
        if (fh_hub_add_hooks(f->hub, &hooks, f) < 0) {
            snprintf(err, FH_FAULT_ERR_LEN, "cannot register the fault filter");
            fh_fault_rule_cleanup(r);
            return -1;
        }
        f->registered = true;
    }
    struct fh_fault_entry *e = calloc(1, sizeof *e);
    if (!e || (f->n == f->cap && !(f->e = realloc(f->e, (f->cap = f->cap ? 2 * f->cap : 8) * sizeof *f->e)))) {
        free(e);
        fh_fault_rule_cleanup(r);
        snprintf(err, FH_FAULT_ERR_LEN, "out of memory");
        return -1;
    }
    e->r = *r;
    e->r.id = f->next_id++;
    e->rng = r->seed ? r->seed : 1;
    e->added = fh_now_ms(f->hub);
    f->e[f->n++] = e;
    f->active++;
    fh_hub_filters_changed(f->hub);
    fh_log(f->hub, "fault rule %u added: %s", e->r.id, e->r.text ? e->r.text : "");
    return (int)e->r.id;
}

/* {"add": ...} in the object form: each member is a field. */
static int fh_rule_from_object(struct fh_fault_rule *r, json_t *obj, char *err)
{
    const char *key;
    json_t *val;
    fh_fault_rule_init(r);
    json_object_foreach(obj, key, val) {
        char num[64];
        const char *v;
        if (json_is_string(val))
            v = json_string_value(val);
        else if (json_is_true(val))
            v = NULL;
        else if (json_is_integer(val))
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val)), v = num;
        else if (json_is_real(val))
            snprintf(num, sizeof num, "%.17g", json_real_value(val)), v = num;
        else {
            snprintf(err, FH_FAULT_ERR_LEN, "field \"%.40s\": expected a string, a number or true", key);
            fh_fault_rule_cleanup(r);
            return -1;
        }
        if (fh_fault_rule_set(r, key, v, err) < 0) {
            fh_fault_rule_cleanup(r);
            return -1;
        }
    }
    if (fh_fault_rule_finish(r, err) < 0) {
        fh_fault_rule_cleanup(r);
        return -1;
    }
    return 0;
}

static json_t *fh_faults_list(struct fh_faults *f)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < f->n; i++) {
        struct fh_fault_entry *e = f->e[i];
        json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:I, s:I, s:b}", "id", (json_int_t)e->r.id,
                                              "rule", e->r.text ? e->r.text : "", "action",
                                              fh_action_names[e->r.action], "matched", (json_int_t)e->matched,
                                              "applied", (json_int_t)e->applied, "active", !e->done));
    }
    return json_pack("{s:o}", "rules", list);
}

json_t *fh_faults_request(struct fh_faults *f, json_t *args, char *err)
{
    json_t *add = json_object_get(args, "add"), *list = json_object_get(args, "list"),
           *clear = json_object_get(args, "clear");
    if ((add != NULL) + (list != NULL) + (clear != NULL) != 1 || json_object_size(args) != 1) {
        snprintf(err, FH_FAULT_ERR_LEN, "fault needs exactly one of \"add\" (a rule: text or an object of "
                                        "fields), \"list\": true, \"clear\": true or a rule id");
        return NULL;
    }
    if (list)
        return fh_faults_list(f);
    if (clear) {
        json_int_t id = json_is_integer(clear) ? json_integer_value(clear) : 0;
        if (!json_is_true(clear) && id <= 0) {
            snprintf(err, FH_FAULT_ERR_LEN, "field \"clear\": expected true or a rule id");
            return NULL;
        }
        size_t n = 0;
        fh_hub_filters_changed(f->hub);
        for (size_t i = 0; i < f->n; i++)
            if (!f->e[i]->done && (id == 0 || f->e[i]->r.id == (unsigned)id)) {
                fh_fault_done(f, f->e[i]);
                n++;
            }
        if (id && !n) {
            snprintf(err, FH_FAULT_ERR_LEN, "field \"clear\": no active rule %lld", (long long)id);
            return NULL;
        }
        return json_pack("{s:I}", "cleared", (json_int_t)n);
    }
    struct fh_fault_rule r;
    if (json_is_string(add)) {
        if (fh_fault_rule_parse(&r, json_string_value(add), err) < 0)
            return NULL;
    } else if (json_is_object(add)) {
        if (fh_rule_from_object(&r, add, err) < 0)
            return NULL;
    } else {
        snprintf(err, FH_FAULT_ERR_LEN, "field \"add\": expected a rule as text or as an object of fields");
        return NULL;
    }
    int id = fh_faults_add(f, &r, err);
    if (id < 0)
        return NULL;
    return json_pack("{s:i, s:s}", "id", id, "rule", f->e[f->n - 1]->r.text ? f->e[f->n - 1]->r.text : "");
}
