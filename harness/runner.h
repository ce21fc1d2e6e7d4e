/* runner.h: runs one scenario for one protocol, inside a process of its own.
 *
 * hr_job_spawn forks a scenario runner: it gets its own process group,
 * PR_SET_PDEATHSIG (dies with dcharness) and PR_SET_CHILD_SUBREAPER (orphans
 * of its children come back to it), starts the hub and the clients from the
 * scenario's dir with output captured to <dir>/<name>.log, runs the steps,
 * tears everything down (stop signal, grace, SIGKILL of each process group,
 * reap) and writes one JSON result object to a pipe. SIGTERM/SIGINT to the
 * runner end the scenario early with the same teardown.
 *
 * hr_hub_serve is `dcharness hub`: the same hub start (profile files, port
 * picking, readiness) and the same teardown, in the calling process, with
 * no clients and no steps in between, only a wait for SIGTERM/SIGINT.
 *
 * Not here: choosing scenarios, parallelism, reporting (cli.c, report.c).
 */
#ifndef HR_RUNNER_H
#define HR_RUNNER_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "harness/profile.h"
#include "harness/scenario.h"

enum hr_status {
    HR_STATUS_PASS,
    HR_STATUS_FAIL,
    HR_STATUS_SKIP,
};

/* Settings shared by every job; borrowed. */
struct hr_run_opts {
    const char *bin_dir;               /* where fakehub and dcclient live */
    const struct hr_profile *profile;  /* the hub's */
    const struct hr_profile *const *clients; /* client i's profile (scenario order); NULL for `dcharness hub` */
    const char *share_dir;             /* {share}: the dir holding parties/ and profiles/ */
    double timeout_mult;               /* DCTEST_TIMEOUT_MULTIPLIER */
    long scenario_timeout_ms;          /* default when the file sets none (before scaling) */
    long step_timeout_ms;              /* default for steps without `within` */
    bool strict;                       /* --strict: every scenario as if it declared `strict` */
};

/* The outcome of one job. Owns its strings. */
struct hr_result {
    enum hr_status status;
    char *reason;    /* one line: why it failed or was skipped; NULL on pass */
    char *details;   /* failing step, last events, log tails, hub trace; NULL on pass */
    char *warning;   /* a pass with a caveat (a known hub crash at teardown), or NULL */
    double seconds;
};

void hr_result_cleanup(struct hr_result *r);

/* Why this scenario cannot run for proto under the profile (malloc'd), or
 * NULL if it can. */
char *hr_skip_reason(const struct hr_scenario *s, unsigned proto, const struct hr_profile *p);
/* The same for the client parties (clients[i]: client i's profile): the
 * first client that lacks a capability its steps need, TLS on nmdcs/adcs, or
 * a setting it uses, as "bob (eiskaltdcpp) lacks capability resume". */
char *hr_client_skip_reason(const struct hr_scenario *s, unsigned proto, const struct hr_profile *const *clients);

/* Fork a runner for (s, proto) working in dir (which must exist). On success
 * returns its pid and sets *result_fd (read the JSON result until EOF, then
 * reap with waitpid). Returns -1 with errno on failure. */
pid_t hr_job_spawn(const struct hr_scenario *s, unsigned proto, const char *dir,
                   const struct hr_run_opts *opts, int *result_fd);

/* Parse the runner's JSON output into r; a runner that died without a
 * result gives a failure that says how it ended (wait status). */
void hr_result_from_runner(struct hr_result *r, const char *json, int wstatus);

/* Start the hub of opts->profile in dir (absolute; must exist) with the
 * registered users of s (borrowed; only its users are read), print its JSON
 * ready line to out (urls for the protocols in protos, which the profile
 * must speak), run until SIGTERM/SIGINT or until the hub exits by itself,
 * then stop, kill and reap it as at the end of a scenario. res (caller
 * cleans up with hr_result_cleanup) says whether the hub started and ended
 * cleanly, with the reason and details if not. Blocks SIGTERM/SIGINT and
 * makes the caller a child subreaper, for good. */
void hr_hub_serve(const struct hr_scenario *s, unsigned protos, const char *dir,
                  const struct hr_run_opts *opts, FILE *out, struct hr_result *res);

/* Effective scenario deadline in ms after scaling. */
long hr_scenario_timeout(const struct hr_scenario *s, const struct hr_run_opts *opts);

#endif
