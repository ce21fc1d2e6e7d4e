/* plan.h: which jobs (scenario file x protocol) a run executes.
 *
 * hr_find_scenarios expands PATH arguments (files, or directories searched
 * recursively for *.scn) into a sorted, de-duplicated list. hr_plan_select
 * is pure: given the jobs sorted by file path then protocol name, it keeps
 * those of shard K of N (index mod N == K-1), so every job lands in exactly
 * one shard and the split never depends on timing or -j.
 */
#ifndef HR_PLAN_H
#define HR_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "harness/lex.h"

/* One planned job. Borrows path. */
struct hr_job_id {
    const char *path;
    unsigned proto;
};

/* Paths of scenario files under args (owned: free each, then the array). */
int hr_find_scenarios(char *const *args, size_t nargs, char ***out, size_t *n, struct hr_error *err);

/* The path of a file hr_find_scenarios found, relative to the scenario root
 * it was found under, with that root's own name in front (malloc'd):
 * "scenarios/sub/chat.scn" for /any/checkout/scenarios/sub/chat.scn found
 * under the argument /any/checkout/scenarios/, "data/x.scn" for a file
 * argument .../data/x.scn. So report names (JUnit classnames) do not change
 * with where the checkout is or from where dcharness is run. */
char *hr_scenario_relpath(const char *path, char *const *args, size_t nargs);

/* Parse "K/N" (1 <= K <= N). */
int hr_shard_parse(const char *s, unsigned *k, unsigned *n);

/* Sort jobs by (path, protocol name) and keep shard k of n in place;
 * returns the new count. n == 0 keeps everything. */
size_t hr_plan_select(struct hr_job_id *jobs, size_t count, unsigned k, unsigned n);

/* Does the job match a --filter pattern (glob if it has * ? [, else a
 * substring) against its path or scenario name? */
bool hr_filter_match(const char *pattern, const char *path, const char *name);

#endif
