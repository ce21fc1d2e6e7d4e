/* fuzz_profile.c: libFuzzer target for hub profiles (harness/profile.c, the
 * *.hub files that say how to start and stop a real hub).
 *
 * Property beyond "no crash": a refusal names the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hr_error err = {{0}};
    struct hr_profile *p = hr_profile_parse("fuzz.hub", (const char *)data, size, &err);
    if (!p && strncmp(err.msg, "fuzz.hub", 8) != 0)
        abort();
    hr_profile_free(p);
    return 0;
}
