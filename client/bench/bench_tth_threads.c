/* bench_tth_threads.c: how fast this machine can TTH-verify, the ceiling of
 * a verified download: SIZE_MiB of random bytes in memory, hashed the way
 * download.c's workers do (TTH root of every 1 MiB unit, units shared out
 * among the threads), on 1 thread and on as many as there are cores. Prints
 * one JSON line per thread count {"threads", "bytes", "seconds",
 * "bytes_per_second", "cpu_seconds"} (cpu_seconds: the workers' CPU time,
 * which a loaded machine inflates less than the wall clock). With "all",
 * only the run on every core. A benchmark tool, not a test:
 * bench_transfer.py runs it next to the downloads it measures.
 *
 * usage: bench_tth_threads [SIZE_MiB=256] [all]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/tth.h"

#define UNIT (1024 * 1024)

struct job {
    const uint8_t *data;
    size_t units;
    atomic_size_t next;       /* the next unit to take */
    uint8_t *roots;
    _Atomic double cpu;       /* CPU seconds of the workers, summed */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    for (size_t u; (u = atomic_fetch_add(&j->next, 1)) < j->units;)
        dc_tth(j->data + u * UNIT, UNIT, j->roots + u * DC_TTH_LEN);
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    double mine = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, was = j->cpu;
    while (!atomic_compare_exchange_weak(&j->cpu, &was, was + mine))
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint8_t *data = malloc(mib * UNIT), *roots = malloc(mib * DC_TTH_LEN);
    bool all_only = argc > 2 && strcmp(argv[2], "all") == 0;
    if (!mib || !data || !roots || (argc > 2 && !all_only)) {
        fprintf(stderr, "usage: bench_tth_threads [SIZE_MiB=256] [all] (or out of memory)\n");
        return 2;
    }
    uint64_t x = 0x9E3779B97F4A7C15u;   /* xorshift: random enough, no syscall per byte */
    for (size_t i = 0; i < mib * UNIT / 8; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ((uint64_t *)data)[i] = x;
    }
    int counts[2] = {1, ncpu < 1 ? 1 : ncpu > 64 ? 64 : (int)ncpu};
    for (int k = all_only && counts[1] > 1; k < (counts[1] > 1 ? 2 : 1); k++) {
        struct job j = {.data = data, .units = mib, .roots = roots};
        pthread_t th[64];
        int n = counts[k];
        double t0 = now();
        for (int i = 0; i < n; i++)
            pthread_create(&th[i], NULL, worker, &j);
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        double secs = now() - t0;
        printf("{\"threads\": %d, \"bytes\": %zu, \"seconds\": %.3f, \"bytes_per_second\": %.0f, "
               "\"cpu_seconds\": %.3f}\n", n, mib * UNIT, secs, (double)(mib * UNIT) / secs, (double)j.cpu);
    }
    free(data);
    free(roots);
    return 0;
}
