/* report.h: result formats — TAP 13 lines and JUnit XML (the schema CI
 * systems read: testsuites/testsuite/testcase with classname, name, time,
 * failure/skipped and system-out).
 *
 * Writers take plain structs and a FILE*, so tests can render into memory
 * (open_memstream) and parse the output back. XML text is escaped here:
 * markup characters become entities, characters XML 1.0 forbids (control
 * bytes) and invalid UTF-8 become U+FFFD, so any log content is safe.
 */
#ifndef HR_REPORT_H
#define HR_REPORT_H

#include <stdio.h>

#include "harness/runner.h"
#include "proto/buf.h"

/* One reported test case. Borrows every string. */
struct hr_case {
    const char *classname;  /* the scenario file, as a dotted path */
    const char *name;       /* "<scenario name> [<proto>]" */
    enum hr_status status;
    double seconds;
    const char *reason;     /* one line; fail/skip */
    const char *details;    /* multi-line; fail */
    const char *rerun;      /* command to rerun it alone; fail */
};

/* "ok 3 - name", "not ok 4 - name" plus "# " diagnostics, "ok 5 - name # SKIP reason". */
void hr_tap_case(FILE *f, size_t number, const struct hr_case *c);
void hr_junit_write(FILE *f, const char *suite, const struct hr_case *cases, size_t n);

/* Append s to b as XML character data / attribute value. */
void hr_xml_escape(struct dc_buf *b, const char *s);

/* "scenarios/chat.scn" -> "scenarios.chat" (classname convention). */
char *hr_classname(const char *path);

#endif
