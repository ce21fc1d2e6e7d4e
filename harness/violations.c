/* violations.c: the protocol violations a run's hub reported. fakehub writes
 * a `violation` record to its trace for every rule a client breaks
 * (docs/fakehub.md, "Protocol violations"); after teardown the trace is
 * complete, and this reads it: a `strict` run (declaration or --strict)
 * fails on any, and the failure report lists them by party; a run that is
 * not strict passes with a warning naming them. A hub without a trace
 * (uhub) reports nothing, and a strict run against it says so.
 */
#include "harness/run.h"

#include <stdlib.h>
#include <string.h>

#define HR_VIOLATIONS_SHOWN 10   /* per party in the report; the trace holds every one */

/* The party a trace record is about: the client whose nick it names, else
 * the nick itself, else the connection before its nick was known. */
static void who(struct run *r, json_t *rec, char *out, size_t len)
{
    const char *nick = json_string_value(json_object_get(rec, "nick"));
    for (size_t i = 1; nick && i < r->nparties; i++)
        if (r->parties[i].nick && strcmp(r->parties[i].nick, nick) == 0) {
            snprintf(out, len, "%s", r->parties[i].name);
            return;
        }
    if (nick)
        snprintf(out, len, "nick %s", nick);
    else
        snprintf(out, len, "conn %lld (before login)",
                 (long long)json_integer_value(json_object_get(rec, "conn")));
}

/* Every violation record of the trace, as [who, record] pairs. */
static json_t *read_trace(struct run *r)
{
    json_t *all = json_array();
    FILE *f = fopen(r->trace_path, "r");
    if (!f)
        return all;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (!strstr(line, "\"event\":\"violation\""))
            continue;   /* most of a trace is protocol lines: spare them the JSON parser */
        json_t *rec = json_loads(line, 0, NULL);
        const char *ev = json_string_value(json_object_get(rec, "event"));
        if (ev && strcmp(ev, "violation") == 0) {
            char w[128];
            who(r, rec, w, sizeof w);
            json_array_append_new(all, json_pack("[s, O]", w, rec));
        }
        json_decref(rec);
    }
    free(line);
    fclose(f);
    return all;
}

static const char *field(json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s ? s : "";
}

void run_check_violations(struct run *r)
{
    bool strict = r->s->strict || r->o->strict;
    if (!r->trace_path[0]) {
        if (strict)
            dc_buf_appendf(&r->warning, "%skeeps no trace: `strict` could not be checked",
                           r->warning.len ? "; " : "");
        return;
    }
    json_t *all = read_trace(r);
    r->nviolations = json_array_size(all);
    struct dc_buf summary;
    dc_buf_init(&summary, 0);
    /* Grouped by party, in the order each first broke a rule. */
    for (size_t i = 0; i < r->nviolations; i++) {
        const char *w = json_string_value(json_array_get(json_array_get(all, i), 0));
        bool first = true;
        for (size_t k = 0; k < i && first; k++)
            first = strcmp(w, json_string_value(json_array_get(json_array_get(all, k), 0))) != 0;
        if (!first)
            continue;
        size_t n = 0;
        struct dc_buf rules;   /* " rule1 rule2 ": this party's distinct rules */
        dc_buf_init(&rules, 0);
        dc_buf_append_byte(&rules, ' ');
        dc_buf_appendf(&r->violations, "%s:\n", w);
        for (size_t k = i; k < r->nviolations; k++) {
            json_t *pair = json_array_get(all, k), *rec = json_array_get(pair, 1);
            if (strcmp(w, json_string_value(json_array_get(pair, 0))) != 0)
                continue;
            if (n < HR_VIOLATIONS_SHOWN) {
                const char *detail = field(rec, "detail");
                dc_buf_appendf(&r->violations, "  %s (%s): %s%s%s%s; line: %s\n", field(rec, "rule"),
                               field(rec, "section"), field(rec, "action"), *detail ? " [" : "",
                               detail, *detail ? "]" : "", field(rec, "line"));
            }
            char key[80];
            snprintf(key, sizeof key, " %s ", field(rec, "rule"));
            if (!strstr(rules.data, key))
                dc_buf_append_str(&rules, key + 1);
            n++;
        }
        dc_buf_appendf(&summary, "%s%s %zu (%.*s)", summary.len ? "; " : "", w, n,
                       (int)(rules.len > 2 ? rules.len - 2 : 0), rules.data + 1);
        dc_buf_cleanup(&rules);
        if (n > HR_VIOLATIONS_SHOWN)
            dc_buf_appendf(&r->violations, "  ... and %zu more (the hub trace has them all)\n",
                           n - HR_VIOLATIONS_SHOWN);
    }
    if (r->nviolations && strict)
        run_fail(r, "the hub reported %zu protocol violation%s and the run is strict: %s", r->nviolations,
                 r->nviolations == 1 ? "" : "s", summary.data);
    else if (r->nviolations)
        dc_buf_appendf(&r->warning, "%sreported %zu protocol violation%s (not strict): %s",
                       r->warning.len ? "; " : "", r->nviolations, r->nviolations == 1 ? "" : "s",
                       summary.data);
    dc_buf_cleanup(&summary);
    json_decref(all);
}
