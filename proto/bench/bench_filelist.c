/* bench_filelist.c: speed and memory of the file list writer and reader.
 *
 * Writes a list of 1000 directories x 1000 files (1,001,000 entries) to
 * files.xml.bz2 in a fresh temp dir, then reads it back twice, each time in a
 * new process (fork + exec of this program) so neither the writer's memory
 * nor the other read counts: once with callbacks only (counting entries) and
 * once with dc_fl_read_tree. Peak RSS comes from wait4()'s rusage of that
 * child; a child that only opens the file gives the process baseline.
 * Prints figures; asserts nothing about time. Usage: bench_filelist [dirs files]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/filelist.h"

/* Counts what the callbacks see; also the sink's byte counter. */
struct bench_count {
    uint64_t dirs, files, bytes;
    FILE *f;               /* borrowed; NULL = count only */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int count_sink(const void *data, size_t len, void *ctx)
{
    struct bench_count *c = ctx;
    c->bytes += len;
    return c->f ? dc_fl_sink_stdio(data, len, c->f) : 0;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static const char *const bench_words[12] = {"Blue", "Night", "River", "Echo", "Silver",
    "Dream", "Storm", "Garden", "Light", "Shadow", "Ocean", "Fire"};
static const char *const bench_modes[3] = {"baseline", "callbacks", "tree"};

/* Realistic-looking music share: names vary, TTHs are random (as real ones
 * are, and they dominate the compressed size). */
static int write_list(struct bench_count *c, bool compress, unsigned ndirs, unsigned nfiles)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    struct dc_fl_writer *w = dc_fl_writer_new(count_sink, c, compress,
                                              "5B7HQVNN7HGHBLNXHUQOUZH4ULW2GHV5X3RERFA", "/",
                                              "dcharness bench_filelist");
    if (w == NULL)
        return -1;
    char name[160];
    for (unsigned d = 0; d < ndirs; d++) {
        snprintf(name, sizeof name, "Artist %04u - %s %s (%u)", d, bench_words[d % 12],
                 bench_words[(d / 12) % 12], 1960 + d % 60);
        if (dc_fl_writer_dir_begin(w, name, false))
            goto fail;
        for (unsigned f = 0; f < nfiles; f++) {
            uint8_t tth[DC_TTH_LEN];
            for (int i = 0; i < DC_TTH_LEN; i += 8) {
                uint64_t r = xorshift(&seed);
                memcpy(tth + i, &r, 8);
            }
            snprintf(name, sizeof name, "%04u - %s of the %s %s.flac", f, bench_words[f % 12],
                     bench_words[(f / 12) % 12], bench_words[(f * 7 + d) % 12]);
            if (dc_fl_writer_file(w, name, xorshift(&seed) % 80000000u, tth))
                goto fail;
        }
        if (dc_fl_writer_dir_end(w))
            goto fail;
    }
    return dc_fl_writer_finish(w);
fail:
    dc_fl_writer_abort(w);
    return -1;
}

static int cb_dir(const char *name, bool incomplete, void *ctx)
{
    (void)name, (void)incomplete;
    ((struct bench_count *)ctx)->dirs++;
    return 0;
}

static int cb_file(const char *name, uint64_t size, const uint8_t *tth, void *ctx)
{
    (void)name, (void)size, (void)tth;
    ((struct bench_count *)ctx)->files++;
    return 0;
}

static void count_tree(const struct dc_fl_node *n, struct bench_count *c)
{
    for (const struct dc_fl_node *k = n->first_child; k; k = k->next_sibling) {
        if (k->is_dir) {
            c->dirs++;
            count_tree(k, c);     /* depth is 2 here */
        } else {
            c->files++;
        }
    }
}

/* Child side: "bench_filelist --read {baseline|callbacks|tree} path". Prints
 * "entries ms" on stdout; exit 0 on success. */
static int child_read(const char *mode, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 2;
    struct bench_count c = {0};
    char err[DC_FL_ERR_LEN] = "";
    double t0 = now_ms();
    int rc = 0;
    if (strcmp(mode, "callbacks") == 0) {
        struct dc_fl_callbacks cb = {.dir_begin = cb_dir, .file = cb_file};
        rc = dc_fl_read(dc_fl_source_stdio, f, &cb, &c, err);
    } else if (strcmp(mode, "tree") == 0) {
        struct dc_fl_node *t = dc_fl_read_tree(dc_fl_source_stdio, f, NULL, err);
        if (t == NULL) {
            rc = -1;
        } else {
            count_tree(t, &c);
            dc_fl_node_free(t);
        }
    }
    double ms = now_ms() - t0;
    fclose(f);
    if (rc != 0) {
        fprintf(stderr, "read failed: %s\n", err);
        return 1;
    }
    printf("%" PRIu64 " %" PRIu64 " %.0f\n", c.dirs, c.files, ms);
    return 0;
}

/* Runs one read in a fresh process; fills its counts, time and peak RSS. */
static int run_child(const char *self, const char *mode, const char *path,
                     uint64_t *dirs, uint64_t *files, double *ms, long *maxrss_kib)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execl(self, self, "--read", mode, path, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char line[128] = "";
    FILE *in = fdopen(fd[0], "r");
    if (in == NULL || fgets(line, sizeof line, in) == NULL)
        line[0] = '\0';
    if (in)
        fclose(in);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    *maxrss_kib = ru.ru_maxrss;
    *dirs = *files = 0;
    *ms = 0;
    return strcmp(mode, "baseline") == 0 ||
           sscanf(line, "%" SCNu64 " %" SCNu64 " %lf", dirs, files, ms) == 3 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--read") == 0)
        return child_read(argv[2], argv[3]);
    unsigned ndirs = argc == 3 ? (unsigned)atoi(argv[1]) : 1000;
    unsigned nfiles = argc == 3 ? (unsigned)atoi(argv[2]) : 1000;

    char dir[] = "/tmp/bench_filelist.XXXXXX", path[64];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/files.xml.bz2", dir);
    int rc = 1;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        goto out;
    }
    struct bench_count bz = {.f = f}, plain = {0};
    double t0 = now_ms();
    int wrc = write_list(&bz, true, ndirs, nfiles);
    if (fclose(f) != 0)
        wrc = -1;
    double write_bz_ms = now_ms() - t0;
    t0 = now_ms();
    if (wrc != 0 || write_list(&plain, false, ndirs, nfiles) != 0) {
        fprintf(stderr, "write failed\n");
        goto out;
    }
    double write_plain_ms = now_ms() - t0;
    uint64_t entries = (uint64_t)ndirs + (uint64_t)ndirs * nfiles;
    printf("entries:            %" PRIu64 " (%u dirs x %u files)\n", entries, ndirs, nfiles);
    printf("write bz2:          %.0f ms -> %" PRIu64 " bytes compressed\n", write_bz_ms, bz.bytes);
    printf("write plain:        %.0f ms -> %" PRIu64 " bytes of XML (uncompressed size)\n",
           write_plain_ms, plain.bytes);
    struct rusage self;
    if (getrusage(RUSAGE_SELF, &self) == 0)   /* both writes, in this process */
        printf("writer process:     peak RSS %ld KiB\n", self.ru_maxrss);

    for (int i = 0; i < 3; i++) {
        uint64_t d, fl;
        double ms;
        long rss;
        if (run_child("/proc/self/exe", bench_modes[i], path,
                      &d, &fl, &ms, &rss) != 0) {
            fprintf(stderr, "%s read failed\n", bench_modes[i]);
            goto out;
        }
        if (i == 0) {
            printf("child baseline:     peak RSS %ld KiB (process with libs, no read)\n", rss);
            continue;
        }
        if (d + fl != entries) {
            fprintf(stderr, "%s read saw %" PRIu64 " entries, expected %" PRIu64 "\n",
                    bench_modes[i], d + fl, entries);
            goto out;
        }
        printf("read %-9s      %.0f ms, %" PRIu64 " entries, peak RSS %ld KiB (%.1f%% of the XML)\n",
               bench_modes[i], ms, d + fl, rss, 100.0 * rss * 1024 / (double)plain.bytes);
    }
    rc = 0;
out:
    unlink(path);
    if (rmdir(dir) != 0)
        fprintf(stderr, "rmdir %s: %s\n", dir, strerror(errno));
    return rc;
}
