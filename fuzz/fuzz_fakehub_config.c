/* fuzz_fakehub_config.c: libFuzzer target for fakehub's config file
 * (fakehub/config.c, `key = value` lines, reread on SIGHUP).
 *
 * Property beyond "no crash": a refusal names the file and line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakehub/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fh_config c;
    char err[FH_ERR_LEN] = "";
    fh_config_init(&c);
    if (fh_config_parse(&c, (const char *)data, size, "fuzz.conf", err) < 0 &&
        strncmp(err, "fuzz.conf:", 10) != 0)
        abort();
    fh_config_cleanup(&c);
    return 0;
}
