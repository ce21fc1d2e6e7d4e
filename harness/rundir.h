/* rundir.h: dcharness's temp directories ($TMPDIR/dcharness-XXXXXX), made
 * so that a killed run's directory does not pile up: each holds an `owner`
 * file naming the process (pid and start time, so a reused pid does not
 * count), and creating a new one first removes every earlier one of ours
 * whose owner is gone. A directory without an owner file (a --keep'd run,
 * or anything else) is never touched.
 */
#ifndef HR_RUNDIR_H
#define HR_RUNDIR_H

#include <stddef.h>

/* Remove stale dirs, then make "$TMPDIR/<prefix>-XXXXXX" (absolute path in
 * out, cap bytes) with its owner file. 0, or -1 with errno set. */
int hr_rundir_create(const char *prefix, char *out, size_t cap);
/* Keep dir for good (--keep): drop its owner file, so no later run removes it. */
void hr_rundir_keep(const char *dir);

#endif
