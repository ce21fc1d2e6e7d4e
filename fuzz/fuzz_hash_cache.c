/* fuzz_hash_cache.c: libFuzzer target for the share hash cache
 * (data_dir/hashes.txt, client/share.c): our own file, but a crash, a full
 * disk or another program may have left anything in it. Every line of the
 * input goes through dcc_hcache_parse as share_cache_load feeds it.
 *
 * Property beyond "no crash": an accepted line has a real path and whole
 * leaves; a refused one leaves nothing allocated (LeakSanitizer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        struct dcc_hcache e;
        if (dcc_hcache_parse(line, &e) == 0) {
            if (!e.real || (e.nleaves && !e.leaves))
                abort();
            dcc_hcache_cleanup(&e);
        } else if (e.real || e.leaves) {
            abort();
        }
    }
    free(text);
    return 0;
}
