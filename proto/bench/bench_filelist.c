/* bench_filelist.c: speed and memory of the file list writer and reader,
 * next to the standard tools doing the same work on the same list.
 *
 * Writes a list of 1000 directories x 1000 files (1,001,000 entries) to
 * files.xml.bz2 twice, with bzip2 on the caller's thread only
 * (dc_fl_writer_thread_after UINT64_MAX: the writer before the pipeline)
 * and pipelined (the default), wall time and CPU time of all the process's
 * threads, and the same XML uncompressed to files.xml, in a fresh temp
 * dir, then reads it back twice, each time in a new process (fork + exec of
 * this program) so neither the writer's memory nor the other read counts:
 * once with callbacks only (counting entries), once with dc_fl_read_tree,
 * and once with callbacks and bzip2 kept on the caller's thread
 * (thread_after UINT64_MAX), to show what the pipelined reader gains. Peak RSS comes from wait4()'s rusage of that child; a
 * child that only opens the file gives the process baseline. In the same
 * run, on the same files: `bzip2 -9 < files.xml` (what writing costs at
 * least: the XML has to be compressed) and `bzip2 -d < files.xml.bz2 |
 * xmllint --stream --noout -` (what a streaming read costs at least), each
 * as wall time and CPU time (user + system of all its processes), and the
 * ratios: write / bzip2 -9 (judged on wall time; the 1-thread write and
 * pipelined / 1-thread write beside it), read / (bzip2 -d | xmllint --stream) (judged
 * on wall time: both may use two cores), pipelined read / 1-thread read, tree read
 * / callbacks read, and the tree's bytes per entry beyond its names (by peak
 * RSS over the baseline, and by the tree's own count of its arrays). Every
 * figure is the median of `repeats` runs (default 3) with the range beside
 * it, as the machine may be shared, and the load average is printed. Prints figures; asserts nothing about
 * time. Usage: bench_filelist [dirs files [repeats]]
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

#include "proto/fltree.h"

/* Counts what the callbacks see; also the sink's byte counter, and for a
 * tree the bytes it says it uses. */
struct bench_count {
    uint64_t dirs, files, bytes, used;
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
static const char *const bench_modes[4] = {"baseline", "callbacks", "tree", "callbacks-1thread"};

/* Realistic-looking music share: names vary, TTHs are random (as real ones
 * are, and they dominate the compressed size). */
static int write_list(struct bench_count *c, bool compress, unsigned ndirs, unsigned nfiles, uint64_t thread_after)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    struct dc_fl_writer *w = dc_fl_writer_new(count_sink, c, compress,
                                              "5B7HQVNN7HGHBLNXHUQOUZH4ULW2GHV5X3RERFA", "/",
                                              "dcharness bench_filelist");
    if (w == NULL)
        return -1;
    dc_fl_writer_thread_after(w, thread_after);
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

/* Counts the tree's entries by walking it (as a reader of it would). */
static void count_tree(const struct dc_fl_tree *t, struct bench_count *c)
{
    size_t names;
    c->used = dc_fl_tree_bytes(t, &names);
    c->bytes = names;
    dc_fl_id n = dc_fl_tree_first_child(t, DC_FL_ROOT);
    while (n != DC_FL_NONE) {
        if (dc_fl_tree_is_dir(t, n)) {
            c->dirs++;
            if (dc_fl_tree_first_child(t, n) != DC_FL_NONE) {
                n = dc_fl_tree_first_child(t, n);
                continue;
            }
        } else {
            c->files++;
        }
        while (n != DC_FL_NONE && dc_fl_tree_next_sibling(t, n) == DC_FL_NONE)
            n = dc_fl_tree_parent(t, n);
        if (n != DC_FL_NONE)
            n = dc_fl_tree_next_sibling(t, n);
    }
}

/* Child side: "bench_filelist --read {baseline|callbacks|tree} path". Prints
 * "dirs files ms name_bytes used_bytes" on stdout; exit 0 on success. */
static int child_read(const char *mode, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 2;
    struct bench_count c = {0};
    char err[DC_FL_ERR_LEN] = "";
    double t0 = now_ms();
    int rc = 0;
    if (strcmp(mode, "callbacks") == 0 || strcmp(mode, "callbacks-1thread") == 0) {
        struct dc_fl_callbacks cb = {.dir_begin = cb_dir, .file = cb_file};
        /* 1thread: bzip2 stays on the caller's thread (the reader before
         * the pipeline), for the comparison in the same run. */
        struct dc_fl_limits lim = {.thread_after = strcmp(mode, "callbacks") ? UINT64_MAX : 0};
        rc = dc_fl_read_limited(dc_fl_source_stdio, f, &cb, &c, &lim, err);
    } else if (strcmp(mode, "tree") == 0) {
        struct dc_fl_tree *t = dc_fl_read_tree(dc_fl_source_stdio, f, NULL, err);
        if (t == NULL) {
            rc = -1;
        } else {
            count_tree(t, &c);
            dc_fl_tree_free(t);
        }
    }
    double ms = now_ms() - t0;
    fclose(f);
    if (rc != 0) {
        fprintf(stderr, "read failed: %s\n", err);
        return 1;
    }
    printf("%" PRIu64 " %" PRIu64 " %.0f %" PRIu64 " %" PRIu64 "\n", c.dirs, c.files, ms, c.bytes, c.used);
    return 0;
}

/* One measured run: wall and CPU (user + system) milliseconds. */
struct bench_time {
    double wall, cpu;
};

static double tv_ms(struct timeval tv)
{
    return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

/* Runs one read in a fresh process; fills its counts, time, name bytes and
 * the bytes the tree says it uses (tree), and peak RSS. */
static int run_child(const char *self, const char *mode, const char *path, uint64_t *dirs, uint64_t *files,
                     struct bench_time *t, uint64_t *name_bytes, uint64_t *used_bytes, long *maxrss_kib)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    double t0 = now_ms();
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
    char line[160] = "";
    FILE *in = fdopen(fd[0], "r");
    if (in == NULL || fgets(line, sizeof line, in) == NULL)
        line[0] = '\0';
    if (in)
        fclose(in);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    t->wall = now_ms() - t0;   /* the child's own figure replaces it: no exec, no open */
    t->cpu = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
    *maxrss_kib = ru.ru_maxrss;
    *dirs = *files = *name_bytes = *used_bytes = 0;
    return strcmp(mode, "baseline") == 0 ||
           sscanf(line, "%" SCNu64 " %" SCNu64 " %lf %" SCNu64 " %" SCNu64, dirs, files, &t->wall, name_bytes,
                  used_bytes) == 5 ? 0 : -1;
}

/* `sh -c cmd`, timed: wall, and CPU of every process it ran. */
static int run_shell(const char *cmd, struct bench_time *t)
{
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        return -1;
    }
    t->wall = now_ms() - t0;
    t->cpu = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);   /* sh's rusage includes its reaped children */
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define BENCH_REPEATS_MAX 9

/* Median and range of n figures. */
struct bench_stat {
    double med, lo, hi;
};

static struct bench_stat stat_of(const double *v, int n)
{
    double s[BENCH_REPEATS_MAX];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return (struct bench_stat){n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1]};
}

/* What is measured, repeats times each. */
enum { M_WRITE, M_BZIP9, M_WRITE_1T, M_READ_CB, M_BUNZIP_XMLLINT, M_READ_TREE, M_READ_CB_1T, M_COUNT };
static const char *const bench_names[M_COUNT] = {
    "write files.xml.bz2", "bzip2 -9 < files.xml", "write files.xml.bz2, 1 thread", "read with callbacks",
    "bzip2 -d | xmllint --stream", "read into a tree", "read with callbacks, 1 thread"};

static void print_stat(const char *what, const char *unit, struct bench_stat st)
{
    printf("  %-36s %8.0f %s (%.0f-%.0f)\n", what, st.med, unit, st.lo, st.hi);
}

static void print_ratio(const char *what, struct bench_stat a, struct bench_stat b, struct bench_stat ca,
                        struct bench_stat cb, const char *target)
{
    printf("%-44s %5.2fx wall, %5.2fx CPU (target: %s)\n", what, a.med / b.med, ca.med / cb.med, target);
}

/* Writes the list to path, timed: wall, and CPU of every thread of this
 * process (the pipelined writer's bzip2 thread included). */
static int timed_write(const char *path, unsigned ndirs, unsigned nfiles, uint64_t thread_after,
                       struct bench_time *t, uint64_t *bytes)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    struct bench_count bz = {.f = f};
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    double t0 = now_ms();
    int rc = write_list(&bz, true, ndirs, nfiles, thread_after);
    if (fclose(f) != 0)
        rc = -1;
    t->wall = now_ms() - t0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    t->cpu = (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6;
    *bytes = bz.bytes;
    if (rc != 0)
        fprintf(stderr, "write failed\n");
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--read") == 0)
        return child_read(argv[2], argv[3]);
    unsigned ndirs = argc >= 3 ? (unsigned)atoi(argv[1]) : 1000;
    unsigned nfiles = argc >= 3 ? (unsigned)atoi(argv[2]) : 1000;
    int repeats = argc >= 4 ? atoi(argv[3]) : 3;
    if (repeats < 1 || repeats > BENCH_REPEATS_MAX) {
        fprintf(stderr, "repeats: 1 to %d\n", BENCH_REPEATS_MAX);
        return 2;
    }

    char dir[] = "/tmp/bench_filelist.XXXXXX", path[64], xml[64], cmd[256];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/files.xml.bz2", dir);
    snprintf(xml, sizeof xml, "%s/files.xml", dir);
    int rc = 1;
    double wall[M_COUNT][BENCH_REPEATS_MAX], cpu[M_COUNT][BENCH_REPEATS_MAX];
    uint64_t entries = (uint64_t)ndirs + (uint64_t)ndirs * nfiles, bz_bytes = 0, xml_bytes = 0, names = 0, used = 0;
    long base_rss = 0, cb_rss = 0, tree_rss = 0;
    double load0 = -1;
    getloadavg(&load0, 1);
    for (int r = 0; r < repeats; r++) {
        /* The same list through one thread, then pipelined (the file the
         * reads below use), then bzip2 -9 on its XML: back to back, so each
         * repeat sees about the same load. Both writes must be identical. */
        struct bench_time t;
        uint64_t bz1_bytes;
        if (timed_write(path, ndirs, nfiles, UINT64_MAX, &t, &bz1_bytes) != 0)
            goto out;
        wall[M_WRITE_1T][r] = t.wall, cpu[M_WRITE_1T][r] = t.cpu;
        if (timed_write(path, ndirs, nfiles, 0, &t, &bz_bytes) != 0)
            goto out;
        wall[M_WRITE][r] = t.wall, cpu[M_WRITE][r] = t.cpu;
        if (bz_bytes != bz1_bytes) {
            fprintf(stderr, "pipelined write: %" PRIu64 " bytes, 1 thread: %" PRIu64 "\n", bz_bytes, bz1_bytes);
            goto out;
        }
        if (r == 0) {   /* the same list as XML, for the tools */
            struct bench_count plain = {.f = fopen(xml, "wb")};
            if (plain.f == NULL || write_list(&plain, false, ndirs, nfiles, 0) != 0 || fclose(plain.f) != 0) {
                fprintf(stderr, "write failed\n");
                goto out;
            }
            xml_bytes = plain.bytes;
        }
        snprintf(cmd, sizeof cmd, "bzip2 -9 < %s > /dev/null", xml);
        if (run_shell(cmd, &t) != 0)
            goto out;
        wall[M_BZIP9][r] = t.wall, cpu[M_BZIP9][r] = t.cpu;
        snprintf(cmd, sizeof cmd, "bzip2 -d < %s | xmllint --stream --noout -", path);
        if (run_shell(cmd, &t) != 0)
            goto out;
        wall[M_BUNZIP_XMLLINT][r] = t.wall, cpu[M_BUNZIP_XMLLINT][r] = t.cpu;
        for (int i = 0; i < 4; i++) {
            uint64_t d, fl, nb, ub;
            long rss;
            if (run_child("/proc/self/exe", bench_modes[i], path, &d, &fl, &t, &nb, &ub, &rss) != 0) {
                fprintf(stderr, "%s read failed\n", bench_modes[i]);
                goto out;
            }
            if (i == 0) {
                base_rss = rss;
                continue;
            }
            if (d + fl != entries) {
                fprintf(stderr, "%s read saw %" PRIu64 " entries, expected %" PRIu64 "\n", bench_modes[i],
                        d + fl, entries);
                goto out;
            }
            int m = i == 1 ? M_READ_CB : i == 2 ? M_READ_TREE : M_READ_CB_1T;
            wall[m][r] = t.wall, cpu[m][r] = t.cpu;
            if (i == 1)
                cb_rss = rss;
            else if (i == 2)
                tree_rss = rss, names = nb, used = ub;
        }
    }
    struct bench_stat w[M_COUNT], c[M_COUNT];
    for (int m = 0; m < M_COUNT; m++)
        w[m] = stat_of(wall[m], repeats), c[m] = stat_of(cpu[m], repeats);
    printf("entries:  %" PRIu64 " (%u dirs x %u files); XML %" PRIu64 " bytes, bz2 %" PRIu64 " bytes\n",
           entries, ndirs, nfiles, xml_bytes, bz_bytes);
    double load = -1;
    getloadavg(&load, 1);
    printf("medians of %d runs (range), load average %.2f at the start, %.2f at the end:\n", repeats, load0, load);
    for (int m = 0; m < M_COUNT; m++) {
        char what[80];
        snprintf(what, sizeof what, "%s, wall", bench_names[m]);
        print_stat(what, "ms", w[m]);
        snprintf(what, sizeof what, "%s, CPU", bench_names[m]);
        print_stat(what, "ms", c[m]);
    }
    print_ratio("write / bzip2 -9:", w[M_WRITE], w[M_BZIP9], c[M_WRITE], c[M_BZIP9], "<= 1.10x");
    print_ratio("write, 1 thread / bzip2 -9:", w[M_WRITE_1T], w[M_BZIP9], c[M_WRITE_1T], c[M_BZIP9],
                "none: the writer before the pipeline");
    print_ratio("write, pipelined / 1 thread:", w[M_WRITE], w[M_WRITE_1T], c[M_WRITE], c[M_WRITE_1T],
                "none: what the pipeline gains");
    printf("  (the write target is judged on wall time; its CPU includes the bzip2 thread, and formatting\n"
           "   the XML, which bzip2 -9 is given ready-made)\n");
    print_ratio("read callbacks / (bzip2 -d | xmllint):", w[M_READ_CB], w[M_BUNZIP_XMLLINT], c[M_READ_CB],
                c[M_BUNZIP_XMLLINT], "<= 1.10x wall");
    printf("  (the read target is judged on wall time: users wait on wall time, and both sides may use two\n"
           "   cores, the pipeline bzip2 and xmllint at once, our reader bunzip2 on its own thread)\n");
    print_ratio("read callbacks, pipelined / 1 thread:", w[M_READ_CB], w[M_READ_CB_1T], c[M_READ_CB],
                c[M_READ_CB_1T], "none: what the pipeline gains");
    print_ratio("read tree / read callbacks:", w[M_READ_TREE], w[M_READ_CB], c[M_READ_TREE], c[M_READ_CB],
                "<= 1.20x");
    double tree_bytes = (double)(tree_rss - base_rss) * 1024;
    printf("peak RSS: baseline %ld KiB, callbacks %ld KiB, tree %ld KiB (%.1f%% of the XML)\n", base_rss, cb_rss,
           tree_rss, 100.0 * tree_bytes / (double)xml_bytes);
    printf("tree: %.1f bytes per entry beyond its %.1f name bytes per entry (target <= 64), by peak RSS over the"
           " baseline;\n      %.1f by peak RSS over the callbacks read (the reader's own memory left out)\n",
           (tree_bytes - (double)names) / (double)entries, (double)names / (double)entries,
           ((double)(tree_rss - cb_rss) * 1024 - (double)names) / (double)entries);
    printf("tree: %.1f bytes per entry beyond the names by its own count (nodes, TTHs; target <= 64)\n",
           (double)(used - names) / (double)entries);
    rc = 0;
out:
    unlink(path);
    unlink(xml);
    if (rmdir(dir) != 0)
        fprintf(stderr, "rmdir %s: %s\n", dir, strerror(errno));
    return rc;
}
