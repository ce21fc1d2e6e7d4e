/* fault_step.c: the `hub fault FIELD...` step (docs/scenarios.md, "Fault
 * rules"): a fakehub fault rule, checked when the scenario is parsed (a bad
 * field is an error at file:line, by fakehub's own rule parser) and added
 * through the hub's control socket when the step runs; and, once the run is
 * over, the rules that never matched, read from the hub's trace, as the
 * scenario's warning.
 */
#include "harness/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fakehub/fault_rule.h"

int hr_fault_check(const struct hr_step *st, char *err, size_t errlen)
{
    struct fh_fault_rule r;
    char why[FH_FAULT_ERR_LEN];
    fh_fault_rule_init(&r);
    int rc = 0;
    for (size_t i = 0; i < st->nargs && rc == 0; i++)
        if (!strchr(st->args[i].value, '{'))   /* placeholders are known at run time only */
            rc = fh_fault_rule_set(&r, st->args[i].key, st->args[i].bare ? NULL : st->args[i].value, why);
        else if (fh_fault_rule_set(&r, st->args[i].key, NULL, why) < 0 && strstr(why, "unknown field"))
            rc = -1;   /* the name at least must be known */
    if (rc == 0)
        rc = fh_fault_rule_finish(&r, why);
    fh_fault_rule_cleanup(&r);
    if (rc < 0)
        snprintf(err, errlen, "hub fault: %s", why);
    return rc;
}

void step_fault(struct run *r, const struct hr_step *st)
{
    struct party *hub = &r->parties[0];
    struct lookup_ctx c = {.r = r, .party = hub};
    json_t *fields = json_object();
    for (size_t i = 0; i < st->nargs; i++) {
        if (st->args[i].bare) {
            json_object_set_new(fields, st->args[i].key, json_true());
            continue;
        }
        char *v = run_expand(r, &c, st->args[i].value, st->args[i].key);
        if (!v) {
            json_decref(fields);
            return;
        }
        json_object_set_new(fields, st->args[i].key, json_string(v));
        free(v);
    }
    json_t *req = json_pack("{s:s,s:{s:o}}", "cmd", "fault", "args", "add", fields);
    json_t *reply = NULL;
    if (!party_request(r, hub, req, &reply, run_step_deadline(r, st)))
        return;
    bool ok = json_is_true(json_object_get(reply, "ok"));
    const char *error = json_string_value(json_object_get(reply, "error"));
    if (ok && st->must_fail) {
        run_fail(r, "the hub accepted the fault rule, but the step expects it to be refused");
    } else if (!ok && !st->must_fail) {
        run_fail(r, "the hub refused the fault rule: %s", error ? error : "(no error text)");
    } else if (!ok) {
        bool found = !st->nfail_texts;
        for (size_t i = 0; i < st->nfail_texts && !found; i++)
            found = error && strcasestr(error, st->fail_texts[i]);
        if (!found)
            run_fail(r, "the hub refused the fault rule as expected, but with \"%s\"", error ? error : "");
    }
    json_decref(reply);
}

void run_fault_report(struct run *r)
{
    if (!r->trace_path[0])
        return;
    FILE *f = fopen(r->trace_path, "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (!strstr(line, "\"fault_unmatched\""))
            continue;
        json_t *j = json_loads(line, 0, NULL);
        const char *text = json_string_value(json_object_get(j, "text"));
        if (text)
            dc_buf_appendf(&r->warning, "%sfault rule %lld never matched: %s", r->warning.len ? "; " : "",
                           (long long)json_integer_value(json_object_get(j, "rule")), text);
        json_decref(j);
    }
    free(line);
    fclose(f);
}
