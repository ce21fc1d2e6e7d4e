/* cli.h: the dcharness commands. `dcharness run`: option parsing, the job
 * scheduler (-j), progress lines, failure reports, the summary and the exit
 * status. main.c calls hr_main; tests run the executable.
 *
 * Exit status of run: 0 all ran scenarios passed (skips allowed), 1 a scenario
 * failed or a file did not parse, 2 usage error (bad option, no scenario
 * found, unknown hub profile). On SIGINT/SIGTERM the running scenarios are
 * torn down, the summary is printed and the signal is re-raised.
 *
 * `dcharness hub` starts one hub from a profile (runner.c, hr_hub_serve),
 * prints its ready line and runs until SIGTERM/SIGINT; it exits 0 when the
 * hub stopped cleanly (docs/scenarios.md, "dcharness hub").
 */
#ifndef HR_CLI_H
#define HR_CLI_H

/* HR_EXIT_SKIP: `dcharness hub` was asked for a protocol or registered
 * users the profile does not offer (nothing was started). */
enum { HR_EXIT_OK = 0, HR_EXIT_FAIL = 1, HR_EXIT_USAGE = 2, HR_EXIT_SKIP = 3 };

int hr_main(int argc, char **argv);

#endif
