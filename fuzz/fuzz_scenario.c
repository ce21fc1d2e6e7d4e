/* fuzz_scenario.c: libFuzzer target for scenario files (harness/lex.c and
 * harness/scenario.c): local files, but a typo must give "file:line:
 * message", never a crash.
 *
 * Property beyond "no crash": a refusal names the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hr_error err = {{0}};
    struct hr_scenario *s = hr_scenario_parse("fuzz.dcs", (const char *)data, size, &err);
    if (!s && strncmp(err.msg, "fuzz.dcs", 8) != 0)
        abort();
    hr_scenario_free(s);
    return 0;
}
