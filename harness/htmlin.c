/* htmlin.c: report cases from JSON (see html.h): the runner's result for
 * `dcharness run --html`, and the input of `dcharness html` (which the
 * pytest plugin writes for --dc-html). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness/html.h"

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static double num(const json_t *o, const char *key, double none)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : none;
}

static enum hr_status status(const char *s)
{
    return s && !strcmp(s, "pass") ? HR_STATUS_PASS : s && !strcmp(s, "fail") ? HR_STATUS_FAIL : HR_STATUS_SKIP;
}

void hr_html_case_from_json(struct hr_html_case *c, const json_t *o)
{
    *c = (struct hr_html_case){.name = str(o, "name"), .file = str(o, "file"), .status = status(str(o, "status")),
                               .seconds = num(o, "seconds", 0), .reason = str(o, "reason"), .details = str(o, "details"),
                               .warning = str(o, "warning"), .trace_path = str(o, "trace"), .driver = str(o, "driver"), .t0 = num(o, "t0", 0),
                               .fail_at = num(o, "fail_at", -1), .fail_step = (int)num(o, "fail_step", -1)};
    if (!c->name)
        c->name = "(unnamed)";
    json_t *steps = json_object_get(o, "steps"), *parties = json_object_get(o, "parties"), *files = json_object_get(o, "files");
    size_t ns = json_array_size(steps), np = json_array_size(parties), nf = json_array_size(files);
    struct hr_html_step *st = calloc(ns + 1, sizeof *st);
    struct hr_html_proc *pr = calloc(np + 1, sizeof *pr);
    struct hr_html_file *fi = calloc(nf + 1, sizeof *fi);
    if (!st || !pr || !fi)
        abort();
    size_t nfi = 0;
    for (size_t i = 0; i < nf; i++) {
        json_t *f = json_array_get(files, i);
        if (str(f, "path"))
            fi[nfi++] = (struct hr_html_file){.title = str(f, "title") ? str(f, "title") : "", .path = str(f, "path")};
    }
    c->files = fi;
    c->nfiles = nfi;
    for (size_t i = 0; i < ns; i++) {
        json_t *s = json_array_get(steps, i);
        const char *text = str(s, "text");
        st[i] = (struct hr_html_step){.line = (int)num(s, "line", 0), .text = text ? text : "",
                                      .status = status(str(s, "status")), .start = num(s, "start", 0),
                                      .seconds = num(s, "seconds", 0)};
    }
    size_t k = 0;
    for (size_t i = 0; i < np; i++) {
        json_t *p = json_array_get(parties, i);
        if (str(p, "name"))
            pr[k++] = (struct hr_html_proc){.name = str(p, "name"), .nick = str(p, "nick"), .log_path = str(p, "log")};
    }
    if (c->fail_step >= (int)ns)
        c->fail_step = -1;
    c->steps = st;
    c->nsteps = ns;
    c->procs = pr;
    c->nprocs = k;
}

void hr_html_case_cleanup(struct hr_html_case *c)
{
    free((void *)c->steps);
    free((void *)c->procs);
    free((void *)c->files);
    c->steps = NULL;
    c->procs = NULL;
    c->files = NULL;
    c->nsteps = c->nprocs = c->nfiles = 0;
}

int hr_html_write_json(FILE *f, const json_t *cases, const struct hr_html_opts *o)
{
    size_t n = json_array_size(cases);
    struct hr_html_case *c = calloc(n + 1, sizeof *c);
    if (!c)
        abort();
    for (size_t i = 0; i < n; i++)
        hr_html_case_from_json(&c[i], json_array_get(cases, i));
    int rc = hr_html_write(f, c, n, o);
    for (size_t i = 0; i < n; i++)
        hr_html_case_cleanup(&c[i]);
    free(c);
    return rc;
}

/* `dcharness html [--all] [--title TEXT] --out FILE INPUT.json`. */
int hr_html_main(int argc, char **argv)
{
    struct hr_html_opts o = {.title = NULL};
    const char *out = NULL, *in = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--all"))
            o.all = true;
        else if (!strcmp(argv[i], "--title") && i + 1 < argc)
            o.title = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] != '-' && !in)
            in = argv[i];
        else {
            fprintf(stderr, "dcharness html: unexpected argument '%s'\n"
                            "usage: dcharness html [--all] [--title TEXT] --out FILE INPUT.json\n", argv[i]);
            return 2;
        }
    }
    if (!out || !in) {
        fputs("usage: dcharness html [--all] [--title TEXT] --out FILE INPUT.json\n", stderr);
        return 2;
    }
    json_error_t e;
    json_t *doc = json_load_file(in, 0, &e);
    json_t *cases = json_is_object(doc) ? json_object_get(doc, "cases") : doc;
    if (!json_is_array(cases)) {
        fprintf(stderr, "dcharness html: %s:%d: %s\n", in, e.line,
                doc ? "expected {\"cases\": [...]} or a list of cases" : e.text);
        json_decref(doc);
        return 2;
    }
    if (!o.title && json_is_object(doc))
        o.title = json_string_value(json_object_get(doc, "title"));
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "dcharness html: cannot write %s: %s\n", out, strerror(errno));
        json_decref(doc);
        return 2;
    }
    int rc = hr_html_write_json(f, cases, &o);
    if (fclose(f) != 0)
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "dcharness html: writing %s failed: %s\n", out, strerror(errno));
    json_decref(doc);
    return rc < 0 ? 1 : 0;
}
