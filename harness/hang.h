/* hang.h: is the hub dead, alive and answering, or hung — and where is it?
 *
 * When a step times out or the hub outlives its grace period at teardown,
 * the runner asks for a verdict: a liveness probe (a fresh connection must
 * get the hub's greeting within a bound: NMDC `$Lock`, ADC `ISID` after our
 * `HSUP`; over TLS after the handshake), the process state from /proc
 * (state, wchan, CPU used, threads), the last signals sent with their times,
 * and a stack of every thread: `gdb -batch -p PID -ex "thread apply all bt"`
 * when gdb is there, else /proc/PID/task/TID/stack and wchan, saying which.
 *
 * Everything here blocks for at most its stated bound; gdb runs in its own
 * process group with PR_SET_PDEATHSIG and is killed when over time. No
 * state beyond what callers pass in.
 */
#ifndef HR_HANG_H
#define HR_HANG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proto/buf.h"

enum hr_greet {
    HR_GREET_OK,      /* the greeting arrived */
    HR_GREET_REFUSED, /* no TCP connection */
    HR_GREET_CLOSED,  /* connected, then closed (or TLS failed) before the greeting */
    HR_GREET_SILENT,  /* connected, nothing (or no greeting) within the bound */
    HR_GREET_NO_TLS,  /* a TLS probe, and libssl (loaded on demand) did not load */
};

/* Connect to host:port (IPv4), over TLS if tls, and wait up to bound_s for
 * the greeting: "$Lock " (NMDC) or "ISID " after sending HSUP (adc). */
enum hr_greet hr_probe_greeting(const char *host, const char *port, bool adc, bool tls, double bound_s);
const char *hr_greet_text(enum hr_greet g);

/* A process's state from /proc. */
struct hr_proc_state {
    bool exists;        /* /proc/PID/stat was readable */
    char state;         /* R S D T Z ... */
    char wchan[64];     /* where it sleeps in the kernel, "" if running */
    double cpu_s;       /* user + system CPU time */
    int nthreads;
};
void hr_proc_state(pid_t pid, struct hr_proc_state *st);
const char *hr_proc_state_text(char state);   /* 'S' -> "sleeping" */

/* Append a stack of every thread of pid to b, headed by the method used:
 * gdb (the command; NULL or "" or "none": skip it) within timeout_s, else
 * /proc/PID/task/TID/stack (kernel stacks: root only) and wchan per thread. */
void hr_proc_stacks(pid_t pid, const char *gdb, double timeout_s, struct dc_buf *b);

/* The signals sent to a process, with times (seconds since the run's start).
 * Runs of one signal are merged ("SIGHUP x200 from +1.000s to +1.200s"), so
 * a storm is one entry; the last HR_SIGLOG entries are kept. */
#define HR_SIGLOG 8
struct hr_siglog_entry {
    int signo;
    long count;
    double first, last;
};
struct hr_siglog {
    struct hr_siglog_entry e[HR_SIGLOG];
    unsigned n;   /* entries ever started; e[(n - 1) % HR_SIGLOG] is the newest */
};
void hr_siglog_add(struct hr_siglog *l, int signo, double t);
/* "+3.012s SIGQUIT; +1.000s..+2.000s SIGHUP x1000" (newest first), or "none". */
void hr_siglog_format(const struct hr_siglog *l, struct dc_buf *b);

enum hr_liveness {
    HR_LIVE_DEAD,
    HR_LIVE_ANSWERING,
    HR_LIVE_HUNG,
};

/* What the verdict looks at. Borrows every pointer. */
struct hr_hang_probe {
    pid_t pid;
    bool exited;               /* the runner already saw it exit */
    const char *host, *port;   /* where a fresh connection goes; NULL: no probe */
    bool adc, tls;
    double bound_s;            /* how long the greeting may take */
    const char *gdb;           /* see hr_proc_stacks */
    double gdb_timeout_s;
    const struct hr_siglog *sigs;
};

/* Judge the process, append the full report (verdict, state, signals,
 * stacks when hung) to details and a one-line summary to summary: "hung
 * (alive, but a fresh connection sent no greeting: no $Lock within 2.0s;
 * last signal SIGQUIT at +3.012s)", "alive and answering (...)" or
 * "dead (...)". */
enum hr_liveness hr_hang_verdict(const struct hr_hang_probe *in, struct dc_buf *summary, struct dc_buf *details);

#endif
