/* cli.h: `dcharness run`: option parsing, the job scheduler (-j), progress
 * lines, failure reports, the summary and the exit status. main.c calls
 * hr_main; tests run the executable.
 *
 * Exit status: 0 all ran scenarios passed (skips allowed), 1 a scenario
 * failed or a file did not parse, 2 usage error (bad option, no scenario
 * found, unknown hub profile). On SIGINT/SIGTERM the running scenarios are
 * torn down, the summary is printed and the signal is re-raised.
 */
#ifndef HR_CLI_H
#define HR_CLI_H

enum { HR_EXIT_OK = 0, HR_EXIT_FAIL = 1, HR_EXIT_USAGE = 2 };

int hr_main(int argc, char **argv);

#endif
