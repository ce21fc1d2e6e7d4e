/* seqdiag.h: the sequence diagram of one scenario run, as inline SVG.
 *
 * Lifelines: dcharness (the runner, which sends control requests; or the
 * case's driver, e.g. pytest), the hub
 * and each party, in that order. Arrows, in time order (top to bottom, each
 * row stamped with its time since the run's start):
 *   - one per protocol line of the hub trace (party -> hub for "in",
 *     hub -> party for "out"; the party is the one whose nick the
 *     connection had); a trace line that is not JSON is a hub self-arrow
 *     with its raw text;
 *   - one per control request (dcharness -> process, `in |` log lines) and
 *     per event or reply (process -> dcharness, `out|`), and the hub's
 *     control socket lines (`ctl|`).
 * Marks: each step's start, the failure (a red rule with the failing step)
 * and the last arrows before it. Bounds: around a failure at most
 * SD_BEFORE arrows before it and SD_AFTER after it, for a passed run the
 * first SD_PASS; a run of more than SD_RUN alike arrows (same ends, kind and
 * first word) shows its first two and its last and one marker row for the
 * rest. Every marker says how many trace lines it hides
 * (data-trace-hidden), so shown + hidden = the trace's lines.
 *
 * DOM contract (tests rely on it): g.lifeline[data-proc=NAME] per process;
 * g.arrow[data-src=trace|control] per arrow; g.collapsed[data-hidden=N]
 * [data-trace-hidden=M] per marker; g.fail-mark for the failure;
 * g.arrow.recent for the last arrows before it.
 */
#ifndef HR_SEQDIAG_H
#define HR_SEQDIAG_H

#include "harness/html.h"
#include "proto/buf.h"

#define SD_BEFORE 250
#define SD_AFTER 25
#define SD_PASS 400
#define SD_RUN 6
#define SD_RECENT 8

/* Append the <svg> of case c to out. */
void hr_seqdiag_svg(struct dc_buf *out, const struct hr_html_case *c);

#endif
