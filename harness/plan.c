/* plan.c: scenario discovery, filter and sharding (see plan.h). */
#include "harness/plan.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness/scenario.h"

#define EXT ".scn"

static int add(char ***out, size_t *n, const char *path)
{
    char **o = realloc(*out, (*n + 1) * sizeof *o);
    if (!o)
        return -1;
    *out = o;
    if (!(o[*n] = strdup(path)))
        return -1;
    (*n)++;
    return 0;
}

static int walk(const char *dir, char ***out, size_t *n, struct hr_error *err)
{
    struct dirent **ents;
    int k = scandir(dir, &ents, NULL, alphasort);
    if (k < 0) {
        hr_error_set(err, dir, 0, "cannot read directory: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < k; i++) {
        const char *nm = ents[i]->d_name;
        char path[4096];
        struct stat st;
        size_t l = strlen(nm);
        snprintf(path, sizeof path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", nm);
        if (rc == 0 && nm[0] != '.' && stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                rc = walk(path, out, n, err);
            else if (l > strlen(EXT) && !strcmp(nm + l - strlen(EXT), EXT))
                rc = add(out, n, path);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int hr_find_scenarios(char *const *args, size_t nargs, char ***out, size_t *n, struct hr_error *err)
{
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < nargs; i++) {
        struct stat st;
        if (stat(args[i], &st) < 0) {
            hr_error_set(err, args[i], 0, "%s", strerror(errno));
            return -1;
        }
        if (S_ISDIR(st.st_mode) ? walk(args[i], out, n, err) < 0 : add(out, n, args[i]) < 0)
            return -1;
    }
    if (*n > 1)
        qsort(*out, *n, sizeof **out, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (w && !strcmp((*out)[w - 1], (*out)[i]))
            free((*out)[i]);
        else
            (*out)[w++] = (*out)[i];
    }
    *n = w;
    return 0;
}

char *hr_scenario_relpath(const char *path, char *const *args, size_t nargs)
{
    char root[PATH_MAX];
    const char *rel = NULL;
    for (size_t i = 0; i < nargs && !rel; i++) {
        const char *a = args[i];
        size_t n = strlen(a);
        if (!strcmp(path, a)) {   /* a file argument: its directory is the root */
            const char *slash = strrchr(a, '/');
            rel = slash ? slash + 1 : a;
            snprintf(root, sizeof root, "%.*s", slash ? (int)(slash - a) + 1 : 1, slash ? a : ".");
        } else if (n && !strncmp(path, a, n) && (a[n - 1] == '/' || path[n] == '/')) {
            rel = path + n + (a[n - 1] != '/');
            snprintf(root, sizeof root, "%s", a);
        }
    }
    if (!rel)
        return strdup(path);
    char abs[PATH_MAX], *name = realpath(root, abs) ? basename(abs) : basename(root);
    char *out;
    if (asprintf(&out, "%s%s%s", strcmp(name, "/") ? name : "", strcmp(name, "/") ? "/" : "", rel) < 0)
        return NULL;
    return out;
}

int hr_shard_parse(const char *s, unsigned *k, unsigned *n)
{
    char *e;
    unsigned long a = strtoul(s, &e, 10);
    if (e == s || *e != '/')
        return -1;
    const char *t = e + 1;
    unsigned long b = strtoul(t, &e, 10);
    if (e == t || *e || a < 1 || b < 1 || a > b || b > 100000)
        return -1;
    *k = (unsigned)a;
    *n = (unsigned)b;
    return 0;
}

static int cmp_job(const void *va, const void *vb)
{
    const struct hr_job_id *a = va, *b = vb;
    int c = strcmp(a->path, b->path);
    return c ? c : strcmp(hr_proto_name(a->proto), hr_proto_name(b->proto));
}

size_t hr_plan_select(struct hr_job_id *jobs, size_t count, unsigned k, unsigned n)
{
    if (count > 1)
        qsort(jobs, count, sizeof *jobs, cmp_job);
    if (n == 0)
        return count;
    size_t w = 0;
    for (size_t i = 0; i < count; i++)
        if (i % n == k - 1)
            jobs[w++] = jobs[i];
    return w;
}

bool hr_filter_match(const char *pattern, const char *path, const char *name)
{
    if (strpbrk(pattern, "*?["))
        return fnmatch(pattern, path, 0) == 0 || (name && fnmatch(pattern, name, 0) == 0);
    return strstr(path, pattern) || (name && strstr(name, pattern));
}
