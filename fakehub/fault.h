/* fault.h: the hub's fault rule table (docs/fakehub.md, "Fault rules"),
 * a filter hook set (hooks.h) over fault_rule.h's rules. Rules come from
 * the config (`fault = RULE`, `--fault RULE`), the control socket's `fault`
 * request and fh_hub_fault_add (hub.h). Every fault applied is a trace
 * record; at shutdown a rule that never matched is logged and traced.
 *
 * The filter is registered with the first rule, so a hub without rules
 * never filters; with rules, a line that matches none costs one pass over
 * the table.
 */
#ifndef FH_FAULT_H
#define FH_FAULT_H

#include <jansson.h>

#include "fakehub/fault_rule.h"

struct fh_hub;
struct fh_faults;

/* Owned by the hub (hub->faults). NULL when out of memory. */
struct fh_faults *fh_faults_new(struct fh_hub *hub);
void fh_faults_free(struct fh_faults *f);
/* Takes the rule (finished: fh_fault_rule_finish or _parse). Its id, or -1
 * with err (the rule is cleaned up either way). */
int fh_faults_add(struct fh_faults *f, struct fh_fault_rule *r, char *err);
/* The control socket's `fault` request: args {"add": RULE} (text, or an
 * object of fields), {"list": true}, {"clear": true or ID}. The result
 * (new reference), or NULL with err (FH_FAULT_ERR_LEN) naming the field. */
json_t *fh_faults_request(struct fh_faults *f, json_t *args, char *err);

#endif
