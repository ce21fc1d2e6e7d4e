/* fuzz_tth_leaves.c: libFuzzer target for TTH leaf sets (TTHL) a peer sends
 * before a file: 8 bytes of file size, 24 bytes of claimed root, then the
 * leaves, as a downloader checks them (proto/tth.c).
 *
 * Property beyond "no crash": an accepted set rebuilds to the claimed root,
 * and its block size covers the file in at most n blocks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/tth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 + DC_TTH_LEN)
        return 0;
    uint64_t fsize = 0;
    memcpy(&fsize, data, 8);
    fsize >>= data[0] & 63;   /* small sizes too, not only huge ones */
    const uint8_t *root = data + 8, *leaves = data + 8 + DC_TTH_LEN;
    size_t nbytes = size - 8 - DC_TTH_LEN, n = nbytes / DC_TTH_LEN;
    uint64_t block = 0;
    uint8_t again[DC_TTH_LEN];
    if (dc_tth_check_leaves(leaves, n, fsize, root, &block) == 0) {
        if (dc_tth_root_from_leaves(leaves, n, again) < 0 || memcmp(again, root, DC_TTH_LEN))
            abort();
        if (block < 1024 || (fsize && (fsize + block - 1) / block > n))
            abort();
    }
    (void)dc_tth_tthl_level(fsize);
    return 0;
}
