/* run.h: the state of one scenario run, shared by the runner's modules.
 *
 * A run is one scenario for one protocol (runner.h). Everything it starts is
 * a party: the hub and every client alike are a process started from a
 * profile, with captured output, a readiness rule, a JSON-lines request
 * channel (a client's stdin/stdout, the hub's control socket), events, a
 * stop signal with a grace period, and a log.
 *
 *   proc.c    processes: spawn, streams and logs, the poll loop (pump),
 *             queued nonblocking writes, exits, reaping, log excerpts
 *   party.c   parties: init/cleanup, JSON lines in (ready, replies, events),
 *             readiness, requests, starting the hub and the clients
 *   steps.c   the step verbs: one table from step kind to handler
 *   runner.c  the scenario loop, placeholders, failures, teardown, the
 *             result, `dcharness hub`
 *
 * Include order: runner.h (public) <- run.h <- the four .c files. Nothing
 * here includes a .c file's own header, so there are no cycles.
 */
#ifndef HR_RUN_H
#define HR_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "harness/hang.h"
#include "harness/runner.h"
#include "proto/buf.h"

#define HR_RECENT 12          /* events remembered per party for failure reports */
#define HR_LOG_TAIL 15
#define HR_TRACE_TAIL 30
#define HR_MAX_LINE (1 << 20) /* a longer line from a party is cut and logged as such */
#define HR_MAX_PENDING 100000 /* unconsumed events a party may pile up before it counts as flooding */
#define HR_MAX_PARTIES (HR_MAX_CLIENTS + 2)   /* the hub, the clients, the load generator */

/* One line-buffered input stream of a party. Owns buf. */
struct stream {
    int fd;
    struct dc_buf buf;
    const char *tag;    /* "out", "err", "ctl" in the log */
};

/* One party: a started process and the channel it is driven through.
 * Owns its fds, log, queued output and JSON values; borrows profile. */
struct party {
    char name[64];
    /* How it runs: filled from its profile before the start. */
    const struct hr_profile *profile; /* the hub's or the client's */
    bool strict;                      /* contract framing: every stdout line is a JSON object */
    enum hr_ready ready_kind;
    const char *ready_text;           /* HR_READY_LOG */
    int stop_signo;
    long grace_ms;                    /* before scaling */
    const char *known_stop_crash;     /* see hr_profile */
    /* The process. */
    pid_t pid;
    int pidfd;
    double ready_since;               /* client: spawned at (its ready line is due ready_ms later) */
    struct stream out, err, ctl;      /* ctl: the hub's control socket (fd -1 if none) */
    struct stream *chan;              /* where replies and events arrive: &out or &ctl */
    int in_fd;                        /* where requests go (nonblocking), -1 if nowhere */
    struct dc_buf outq;               /* request bytes not yet taken by in_fd */
    int write_errno;                  /* the last write to in_fd failed with this */
    FILE *log;
    char log_path[4096];
    long log_mark;                    /* log size when the scenario failed, -1 before */
    bool exited, reaped, stopped, checked, log_ready;
    int exit_code, exit_sig;          /* exit_sig != 0: killed by that signal */
    double exit_at;
    int sent_sig;                     /* the last signal we sent it, for reports */
    json_t *ready;                    /* its ready line */
    json_t *pending;                  /* events not yet consumed by an expect */
    json_t *replies;                  /* id -> reply */
    json_t *sent;                     /* id -> true: requests sent and not answered yet */
    bool flooded;                     /* pending hit HR_MAX_PENDING: later events are dropped */
    char *recent[HR_RECENT];          /* raw event lines, ring */
    unsigned nrecent;
    char *nick, *password;            /* clients: expanded */
    char *dir;                        /* clients: its own directory in the scenario dir ({dir} of its profile) */
    char seed[24];                    /* clients: {seed}, a random 64-bit number */
    char last_err[256];               /* its last stderr line, for one-line reasons */
    struct hr_siglog sigs;            /* the signals we sent it, with times */
};

/* A background signal burst (signal ... every D). */
struct burst {
    struct party *p;
    int signo, left;
    double every, next;
};

/* The scenario run. Borrows s/dir/opts; owns the parties. */
struct run {
    const struct hr_scenario *s;
    unsigned proto;
    unsigned hub_protos;              /* protocols the hub must offer (per-protocol profile args) */
    const char *dir;
    const struct hr_run_opts *o;
    struct party *parties;      /* [0] the hub, [1 + i] client i of the scenario */
    size_t nparties;
    struct party *hub;          /* &parties[0] */
    int sigfd;
    bool interrupted;
    double t0, deadline;
    struct burst *bursts;
    size_t nbursts;
    long next_id;
    char port[16], hub_url[512], hub_host[256], hub_port[16];
    struct dc_buf why;          /* the failure, once there is one */
    struct dc_buf warning;      /* caveats of a pass */
    const struct hr_step *step; /* the failing step, if any */
    bool started;               /* hub and clients were up; steps ran */
    struct party *focus;        /* whose events to show on failure */
    char trace_path[4096];      /* the hub's trace file, "" if none */
    struct dc_buf violations;   /* the trace's violation records, by party, for the report */
    size_t nviolations;
    double fail_t;              /* CLOCK_MONOTONIC time of the failure (fakehub's trace uses it too) */
    struct dc_buf notes;        /* more to report: teardown kills after a failure, the load's figures */
    struct dc_buf verdict;      /* the hub's hang verdict with its state and stacks, once taken */
    bool verdict_taken;
    struct party *load;         /* the load generator (`hub load`), &parties[nparties - 1] */
    json_t *load_report;        /* its figures once it ended (dcload --json), or NULL */
    size_t cur_step;            /* index of the running step */
    long hub_end_step;          /* last step that expects the hub to end (exits/kill/stop), -1 none */
};

/* Placeholder look-up context: the run, the acting party (NULL: none) and,
 * for a hub profile's per-user lines, the user. in_profile: expanding the
 * party's own profile ({dir} is then the party's directory). */
struct lookup_ctx {
    struct run *r;
    struct party *party;
    bool in_profile;
    const char *user, *password, *role, *op_suffix;
};

/* ---- runner.c ---- */
double hr_now(void);
/* Record the run's failure (the first one wins). */
void run_fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Expand a template; NULL with the failure recorded (`what` names it). */
char *run_expand(struct run *r, struct lookup_ctx *c, const char *tmpl, const char *what);
/* Step deadline: `within` or the default, never past the scenario's. */
double run_step_deadline(struct run *r, const struct hr_step *st);
bool run_stop_waiting(struct run *r, double until);
/* "5.0s" or "the scenario timeout (30.0s)", for "... within %s". Returns buf. */
const char *run_timeout_text(struct run *r, double until, double started, char *buf, size_t len);
#define TIMEOUT_TEXT(r, until, started) run_timeout_text((r), (until), (started), (char[64]){0}, 64)

/* A run driven by other code than the scenario loop (checkparty.c) uses
 * these as hr_hub_serve does: init (blocks SIGTERM/SIGINT into r->sigfd,
 * makes the caller a subreaper), start parties (party.c), drive them,
 * teardown (stop, grace, SIGKILL of each group, reap; a bad stop becomes
 * the run's failure), details (the failure report), cleanup. */
void run_init(struct run *r, const struct hr_scenario *s, unsigned proto, const char *dir,
              const struct hr_run_opts *opts);
void run_teardown(struct run *r);
char *run_details(struct run *r);   /* malloc'd */
void run_cleanup(struct run *r);

/* ---- violations.c ---- */
/* Read the protocol violations the hub's trace records (after teardown, when
 * the trace is complete) into r->violations / r->nviolations; then fail the
 * run if it is strict, else note them in r->warning. */
void run_check_violations(struct run *r);

/* ---- proc.c ---- */
/* Append a line to p's log with the time and tag. */
void proc_log(struct run *r, struct party *p, const char *tag, const char *line, size_t len);
/* Fork and exec argv (with env: NAME=VALUE strings added to the
 * environment, or NULL) with stdout/stderr to pipes, stdin a nonblocking
 * pipe (want_stdin) or /dev/null, in its own process group, killed if this
 * runner dies. -1 with the failure recorded. */
int proc_spawn(struct run *r, struct party *p, char **argv, char **env, bool want_stdin);
/* Queue bytes for p's in_fd and write what it takes now; never blocks.
 * -1 (failure not recorded) when p has no channel or the write failed. */
int proc_send(struct run *r, struct party *p, const char *data, size_t len);
/* Wait for input, exits, writable channels, bursts or signals until `until`
 * (monotonic s), handling whatever arrives. Returns after one round. */
void proc_pump(struct run *r, double until);
/* Read what p's streams still hold until EOF or `until`, then close them. */
void proc_drain(struct run *r, struct party *p, double until);
void proc_signal(struct run *r, struct party *p, int signo);
void proc_run_bursts(struct run *r);
bool proc_bursts_pending(const struct run *r);
/* "exited with status N at +T" / "was killed by signal N (SIGX) at +T". */
void proc_describe_exit(struct dc_buf *b, const struct party *p);
/* Logs the exit (proc_describe_exit) in the party's log as an `exit|` line. */
void proc_log_exit(struct run *r, struct party *p);
/* Kill and reap what our children left behind (we are their subreaper). */
void proc_reap_orphans(void);
/* Lines of a file around byte offset mark (malloc'd); see proc.c. */
char *proc_log_excerpt(const char *path, long mark, int before, int after);
/* Byte offset of the first hub trace line stamped after t; -1: the end. */
long proc_trace_offset(const char *path, double t);

/* ---- party.c ---- */
void party_init(struct party *p, const char *name);
void party_cleanup(struct party *p);
/* One complete line from one of p's streams (log, ready, replies, events). */
void party_line(struct run *r, struct party *p, struct stream *st, char *line, size_t len);
/* Wait for a party's JSON ready line until `until`; false with the failure recorded. */
bool party_wait_ready_line(struct run *r, struct party *p, double until);
/* Send req (its id is set here; req is consumed) and wait for the reply
 * until `until`. False when none came (the failure is recorded). */
bool party_request(struct run *r, struct party *p, json_t *req, json_t **reply, double until);
/* Has p's reply/event channel closed? */
bool party_silent(const struct party *p);
/* "alice (profile dcclient)", for reasons and reports. Returns buf. */
const char *party_label(const struct party *p, char *buf, size_t len);
#define PARTY_LABEL(p) party_label((p), (char[160]){0}, 160)
/* Put the party's own name of a setting into a `set` request's args. */
void party_map_setting(const struct party *p, json_t *args);
int party_start_hub(struct run *r);
/* A free port on 127.0.0.1 (bind 0, close) as text; -1 with errno. */
int party_pick_port(char *out, size_t len);
/* Clients start in two halves, so they all start at once (and with the
 * hub, unless their nick or password names something of it): spawn, then
 * wait for the ready line and apply the client's options. */
bool party_client_needs_hub(const struct run *r, size_t i);
int party_spawn_client(struct run *r, size_t i);
int party_ready_client(struct run *r, size_t i);

/* ---- hubsteps.c ---- */
/* Take the hub's hang verdict once (probe, /proc, signals, stacks when
 * hung) into r->verdict; the one-line summary into summary if not NULL. */
enum hr_liveness hub_verdict(struct run *r, struct dc_buf *summary);
/* Run the profile's setup (or teardown) commands in order; false with the
 * failure recorded (setup) or noted (teardown) when one fails. */
bool run_profile_cmds(struct run *r, bool setup);
/* At the end: `hub log never` lines must still match nothing. */
void hub_log_final_checks(struct run *r);
/* The load's figures as one line ("sent 400, delivered ..."), into b. */
void load_figures(struct run *r, struct dc_buf *b);
void step_wait(struct run *r, const struct hr_step *st);
void step_stop(struct run *r, const struct hr_step *st);
void step_log(struct run *r, const struct hr_step *st);
void step_load(struct run *r, const struct hr_step *st);
void step_load_wait(struct run *r, const struct hr_step *st);
void step_load_expect(struct run *r, const struct hr_step *st);

/* ---- steps.c ---- */
/* Run one step (the table in steps.c says how). */
void step_run(struct run *r, const struct hr_step *st);
/* fault_step.c: `hub fault ...`, and the rules that never matched (from the
 * trace, after teardown) as the run's warning. */
void step_fault(struct run *r, const struct hr_step *st);
void run_fault_report(struct run *r);

#endif
