/* html.h: the HTML report of a run (`dcharness run --html FILE`,
 * `dcharness html`): one self-contained page, no script, no fetch of
 * anything (docs/scenarios.md, "HTML report").
 *
 * The page has a summary table; per scenario run its steps with result and
 * time, its failure report, and for a failed run (every run with `all`) a
 * sequence diagram (seqdiag.h); the logs and the hub trace in collapsible
 * <details>. Every text from outside (logs, traces, names, reasons) goes
 * through hr_html_text: markup escaped, bytes that are not UTF-8 and control
 * bytes shown as \xHH, long texts cut with a visible marker, so any log
 * content gives a well-formed page of bounded size.
 *
 * The writer takes plain structs and reads the log and trace files they
 * name; it owns nothing it is given.
 */
#ifndef HR_HTML_H
#define HR_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "harness/runner.h"
#include "proto/buf.h"

/* One step of a run. Borrows text. Times are seconds since the run's start,
 * the clock of the logs' stamps. */
struct hr_html_step {
    int line;
    const char *text;
    enum hr_status status;   /* PASS, FAIL, or SKIP: not reached */
    double start, seconds;
};

/* A process of the run: the hub first, then each party. Borrows strings. */
struct hr_html_proc {
    const char *name;       /* "hub", "alice" */
    const char *nick;       /* its nick in the hub trace; NULL for the hub */
    const char *log_path;   /* <name>.log (stamped lines, docs/scenarios.md), or NULL */
};

/* Another file to show in a collapsible block. Borrows strings. */
struct hr_html_file {
    const char *title, *path;
};

/* One scenario run. Borrows everything. */
struct hr_html_case {
    const char *name;        /* "<scenario> [proto]" */
    const char *file;        /* the scenario file */
    enum hr_status status;
    double seconds;
    const char *reason, *details, *warning;   /* each may be NULL */
    const struct hr_html_step *steps;
    size_t nsteps;
    const struct hr_html_proc *procs;
    size_t nprocs;
    const struct hr_html_file *files;   /* more logs to show (a pytest party's stderr) */
    size_t nfiles;
    const char *trace_path;  /* the hub's protocol trace (fakehub --trace), or NULL */
    const char *driver;      /* who sends the control requests: "dcharness" (NULL), "pytest" */
    double t0;               /* CLOCK_MONOTONIC at log time 0 (trace "t" - t0 = log time) */
    double fail_at;          /* log time of the failure; < 0: none */
    int fail_step;           /* index into steps of the failing one, or -1 */
};

struct hr_html_opts {
    const char *title;
    bool all;                /* a diagram for passed runs too */
};

/* Fill c from a JSON object (docs/scenarios.md, "HTML report"): the
 * runner's result with name/file/status added, or one case of
 * `dcharness html`'s input:
 *   {"name","file","status":"pass|fail|skip","seconds","reason","details",
 *    "warning","t0","fail_at","fail_step","trace","driver",
 *    "steps":[{"line","text","status","start","seconds"}],
 *    "parties":[{"name","nick","log"}],   (the hub first)
 *    "files":[{"title","path"}]}         (more logs to show)
 * Missing members are empty. c borrows o's strings (o must outlive it) and
 * owns its steps and procs arrays: hr_html_case_cleanup. */
void hr_html_case_from_json(struct hr_html_case *c, const json_t *o);
void hr_html_case_cleanup(struct hr_html_case *c);

/* The page of a JSON array of such cases; 0, or -1 with errno. */
int hr_html_write_json(FILE *f, const json_t *cases, const struct hr_html_opts *o);

/* `dcharness html [--all] [--title TEXT] --out FILE INPUT.json`: the page
 * of INPUT ({"title", "cases": [...]} or a bare list). Exit status. */
int hr_html_main(int argc, char **argv);

/* Write the page; 0, or -1 with errno when writing failed. */
int hr_html_write(FILE *f, const struct hr_html_case *cases, size_t n, const struct hr_html_opts *o);

/* Append len bytes of s as HTML text (also safe in attribute values):
 * & < > " ' as entities, invalid UTF-8 and control bytes but \t and \n as a
 * visible \xHH, and after max input bytes a marker
 * `<span class="cut">[... N more bytes]</span>` instead of the rest. */
void hr_html_text(struct dc_buf *b, const char *s, size_t len, size_t max);

/* The same inside SVG: the markers as <tspan> (an HTML <span> would end
 * the SVG in an HTML parser), or with plain=true as bare text (for
 * <title>, which holds no markup). */
void hr_svg_text(struct dc_buf *b, const char *s, size_t len, size_t max, bool plain);

/* The last max bytes of a file (malloc'd, NUL-terminated), starting at a
 * line start when cut; *skipped: bytes left out in front. NULL with errno. */
char *hr_html_read_tail(const char *path, size_t max, size_t *len, size_t *skipped);

#endif
