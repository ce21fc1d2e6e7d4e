/* bench_tth_tiger.c: in-memory throughput of our Tiger and TTH against
 * librhash's (loaded with dlopen, so dcproto never depends on it), on the same
 * buffer, without file I/O. Prints MiB/s; checks that the digests agree.
 * Run by proto/bench/bench_tth.sh; never a timed test. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/tth.h"

#define BENCH_MIB 256

static double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void)
{
    void *h = dlopen("librhash.so.0", RTLD_NOW);
    if (h == NULL) {
        fprintf(stderr, "bench_tth_tiger: %s\n", dlerror());
        return 1;
    }
    void (*init)(void) = (void (*)(void))dlsym(h, "rhash_library_init");
    int (*msg)(unsigned, const void *, size_t, unsigned char *) =
        (int (*)(unsigned, const void *, size_t, unsigned char *))dlsym(h, "rhash_msg");
    size_t n = (size_t)BENCH_MIB << 20;
    uint8_t *buf = malloc(n);
    if (init == NULL || msg == NULL || buf == NULL) {
        fprintf(stderr, "bench_tth_tiger: setup failed\n");
        return 1;
    }
    init();
    unsigned seed = 1;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
    static const struct { const char *name; unsigned rhash_id; } kinds[] = {
        {"Tiger", 0x10 /* RHASH_TIGER */}, {"TTH", 0x20 /* RHASH_TTH */}};
    int status = 0;
    for (size_t k = 0; k < 2; k++) {
        uint8_t ours[DC_TTH_LEN], theirs[DC_TTH_LEN];
        double t0 = bench_now();
        if (k == 0)
            dc_tiger(buf, n, ours);
        else
            dc_tth(buf, n, ours);
        double t1 = bench_now();
        msg(kinds[k].rhash_id, buf, n, theirs);
        double t2 = bench_now();
        int same = memcmp(ours, theirs, DC_TTH_LEN) == 0;
        printf("in-memory %-5s %d MiB: dcproto %7.1f MiB/s, librhash %7.1f MiB/s, ratio %.3f%s\n",
               kinds[k].name, BENCH_MIB, BENCH_MIB / (t1 - t0), BENCH_MIB / (t2 - t1),
               (t2 - t1) / (t1 - t0), same ? "" : "  DIGESTS DIFFER");
        if (!same)
            status = 1;
    }
    free(buf);
    dlclose(h);
    return status;
}
