/* cli.c: `dcharness run` and `dcharness hub` (see cli.h).
 *
 * The scheduler is a poll() loop over each running job's result pipe and
 * pidfd plus a signalfd for SIGINT/SIGTERM. Results are printed in plan
 * order (sorted by file then protocol), whatever order jobs finish in, so
 * -j N and -j 1 print the same report.
 */
#include "harness/cli_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/html.h"
#include "harness/plan.h"
#include "harness/profile.h"
#include "harness/report.h"
#include "harness/rundir.h"
#include "harness/runner.h"
#include "harness/scenario.h"
#include "proto/buf.h"

/* Command-line options. Borrows argv strings. */
struct opts {
    unsigned jobs;
    unsigned protos;
    const char *hub, *junit, *filter, *bin_dir, *html, *json;
    const char *client;             /* --client PROFILE */
    struct { const char *name, *profile; } named[HR_MAX_CLIENTS]; /* --client NAME=PROFILE */
    size_t nnamed;
    bool tap, keep, list, html_all, strict;
    unsigned shard_k, shard_n;
    char **paths;
    size_t npaths;
};

/* One job of the plan. Owns dir, parse_error and result; borrows scenario. */
struct job {
    const char *path;
    unsigned proto;                 /* 0: the file did not parse */
    const struct hr_scenario *s;
    char *parse_error;
    char *name;                     /* "<scenario> [proto]" */
    char *dir;
    pid_t pid;
    int result_fd;   /* -1 once the runner's result pipe reached EOF */
    struct dc_buf out;
    double start, kill_at;
    bool running, done, term_sent;
    struct hr_result result;
    json_t *report;                 /* the runner's whole result, for --html; NULL if none */
    struct hr_run_opts ro;          /* borrows the job's profiles from the cache */
    const struct hr_profile **clients; /* owned array (ro.clients), borrowed profiles */
};

/* Loaded profiles by kind and name, shared by jobs. Owns the profiles. */
struct profiles {
    char *names[64];
    enum hr_profile_kind kinds[64];
    struct hr_profile *p[64];
    size_t n;
};

/* The profile of that kind called name (loaded once), or NULL with err filled. */
static struct hr_profile *profile_get_kind(struct profiles *c, const char *name, enum hr_profile_kind kind,
                                           const char *const *dirs, struct hr_error *err)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->kinds[i] == kind && !strcmp(c->names[i], name))
            return c->p[i];
    if (c->n == sizeof c->p / sizeof *c->p) {
        hr_error_set(err, name, 0, "too many different profiles in one run");
        return NULL;
    }
    struct hr_profile *p = kind == HR_PROFILE_HUB ? hr_profile_load(name, dirs, err) : hr_client_profile_load(name, dirs, err);
    if (p) {
        c->names[c->n] = strdup(name);
        c->kinds[c->n] = kind;
        c->p[c->n++] = p;
    }
    return p;
}

static struct hr_profile *profile_get(struct profiles *c, const char *name, const char *const *dirs, struct hr_error *err)
{
    return profile_get_kind(c, name, HR_PROFILE_HUB, dirs, err);
}

static void profiles_free(struct profiles *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->names[i]);
        hr_profile_free(c->p[i]);
    }
    c->n = 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"proto", required_argument, NULL, 'p'}, {"hub", required_argument, NULL, 'H'},
        {"client", required_argument, NULL, 'C'},
        {"junit", required_argument, NULL, 'J'}, {"tap", no_argument, NULL, 'T'},
        {"keep", no_argument, NULL, 'k'}, {"filter", required_argument, NULL, 'f'},
        {"shard", required_argument, NULL, 's'}, {"bin-dir", required_argument, NULL, 'b'},
        {"list", no_argument, NULL, 'L'}, {"html", required_argument, NULL, 'W'},
        {"html-all", no_argument, NULL, 'A'}, {"json", required_argument, NULL, 'O'}, {"strict", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    *o = (struct opts){.jobs = 1, .protos = HR_PROTO_ALL};
    if (argc < 2 || strcmp(argv[1], "run") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return -1;
        }
        usage(stderr);
        return HR_EXIT_USAGE;
    }
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "+j:h", longopts, NULL)) != -1) {
        char *e;
        switch (c) {
        case 'j': {
            long j = strtol(optarg, &e, 10);
            if (*e || j < 1 || j > 64)
                return usage_error("-j needs a number from 1 to 64, not '%s'", optarg);
            o->jobs = (unsigned)j;
            break;
        }
        case 'p':
            if (parse_protos(optarg, &o->protos) < 0)
                return usage_error("--proto takes a list of nmdc, adc, nmdcs, adcs, not '%s'", optarg);
            break;
        case 'H': o->hub = optarg; break;
        case 'C': {
            /* NAME=PROFILE when NAME is a client name (no '/'); else a profile for all. */
            const char *eq = strchr(optarg, '=');
            if (eq && eq > optarg && !memchr(optarg, '/', (size_t)(eq - optarg))) {
                if (!eq[1])
                    return usage_error("--client NAME=PROFILE needs a profile after '=': '%s'", optarg);
                if (o->nnamed == HR_MAX_CLIENTS)
                    return usage_error("too many --client NAME=PROFILE options (last: '%s')", optarg);
                o->named[o->nnamed].name = strndup(optarg, (size_t)(eq - optarg));
                o->named[o->nnamed++].profile = eq + 1;
            } else {
                o->client = optarg;
            }
            break;
        }
        case 'J': o->junit = optarg; break;
        case 'T': o->tap = true; break;
        case 'k': o->keep = true; break;
        case 'L': o->list = true; break;
        case 'W': o->html = optarg; break;
        case 'O': o->json = optarg; break;
        case 'A': o->html_all = true; break;
        case 'S': o->strict = true; break;
        case 'f': o->filter = optarg; break;
        case 'b': o->bin_dir = optarg; break;
        case 's':
            if (hr_shard_parse(optarg, &o->shard_k, &o->shard_n) < 0)
                return usage_error("--shard is K/N with 1 <= K <= N, as in 2/4, not '%s'", optarg);
            break;
        case 'h': usage(stdout); return -1;
        default: return usage_error("unknown option%s", "");
        }
    }
    o->paths = argv + optind;
    o->npaths = (size_t)(argc - optind);
    if (!o->npaths)
        return usage_error("no scenario files or directories given%s", "");
    return 0;
}

/* Shell-quote one word for the rerun line. */
static void shell_word(struct dc_buf *b, const char *w)
{
    if (*w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,:=+") == strlen(w)) {
        dc_buf_append_str(b, w);
        return;
    }
    dc_buf_append_byte(b, '\'');
    for (; *w; w++)
        dc_buf_append_str(b, *w == '\'' ? "'\\''" : (char[2]){*w, 0});
    dc_buf_append_byte(b, '\'');
}

static char *rerun_cmd(const struct opts *o, const char *self, const char *bin_dir, const struct job *j)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    const char *mult = getenv("DCTEST_TIMEOUT_MULTIPLIER");
    if (mult && *mult) {
        dc_buf_append_str(&b, "DCTEST_TIMEOUT_MULTIPLIER=");
        shell_word(&b, mult);
        dc_buf_append_byte(&b, ' ');
    }
    shell_word(&b, self);
    dc_buf_append_str(&b, " run --keep");
    if (j->proto) {
        dc_buf_append_str(&b, " --proto ");
        dc_buf_append_str(&b, hr_proto_name(j->proto));
    }
    if (o->hub) {
        /* The profile by the absolute path of the file that was loaded, so
         * the line works from any directory and without DCHARNESS_PROFILE_DIR. */
        char abs[PATH_MAX];
        const char *file = j->ro.profile ? j->ro.profile->path : o->hub;
        dc_buf_append_str(&b, " --hub ");
        shell_word(&b, realpath(file, abs) ? abs : o->hub);
    }
    /* Client profiles by the path of the file loaded, as --hub. */
    for (size_t i = 0; j->clients && i < j->s->nclients; i++) {
        const char *name = j->s->clients[i].name, *given = o->client;
        for (size_t k = 0; k < o->nnamed; k++)
            if (!strcmp(o->named[k].name, name))
                given = o->named[k].profile;
        if (!given)
            continue;
        char abs[PATH_MAX];
        dc_buf_appendf(&b, " --client %s=", name);
        shell_word(&b, realpath(j->clients[i]->path, abs) ? abs : given);
    }
    if (o->strict)
        dc_buf_append_str(&b, " --strict");
    dc_buf_append_str(&b, " --bin-dir ");
    shell_word(&b, bin_dir);
    dc_buf_append_byte(&b, ' ');
    char abs[PATH_MAX];
    shell_word(&b, realpath(j->path, abs) ? abs : j->path);
    return dc_buf_steal(&b, NULL);
}

/* Each client's profile for job j: --client NAME=P, --client P, the
 * client's profile= option, dcclient. -1 with err (path:line) filled. */
static int job_clients(struct job *j, const struct opts *o, struct profiles *cache, const char *const *dirs,
                       struct hr_error *err)
{
    j->clients = calloc(j->s->nclients + 1, sizeof *j->clients);
    for (size_t i = 0; i < j->s->nclients; i++) {
        const struct hr_client *c = &j->s->clients[i];
        const char *name = o->client ? o->client : c->profile ? c->profile : "dcclient";
        for (size_t k = 0; k < o->nnamed; k++)
            if (!strcmp(o->named[k].name, c->name))
                name = o->named[k].profile;
        struct hr_error e;
        if (!(j->clients[i] = profile_get_kind(cache, name, HR_PROFILE_CLIENT, dirs, &e))) {
            hr_error_set(err, j->path, c->line, "client %s: %s", c->name, e.msg);
            return -1;
        }
    }
    j->ro.clients = j->clients;
    return 0;
}

/* The longest teardown of a job: the clients' grace, then the hub's. */
static long job_grace_ms(const struct job *j)
{
    long g = 0;
    for (size_t i = 0; j->clients && i < j->s->nclients; i++)
        g = j->clients[i]->grace_ms > g ? j->clients[i]->grace_ms : g;
    return g + j->ro.profile->grace_ms;
}

static int start_job(struct job *j, const char *root, size_t idx)
{
    const char *base = strrchr(j->path, '/');
    base = base ? base + 1 : j->path;
    size_t stem = strcspn(base, ".");
    if (stem > 40)
        stem = 40;   /* the hub's control socket path must stay under 108 bytes */
    if (asprintf(&j->dir, "%s/%03zu-%.*s-%s", root, idx + 1, (int)stem, base, hr_proto_name(j->proto)) < 0 ||
        mkdir(j->dir, 0700) < 0)
        return -1;
    const struct hr_run_opts *ro = &j->ro;
    j->pid = hr_job_spawn(j->s, j->proto, j->dir, ro, &j->result_fd);
    if (j->pid < 0)
        return -1;
    dc_buf_init(&j->out, 0);
    j->start = now_s();
    /* Backstop: a runner that overruns its own deadline plus teardown is killed
     * (its children follow through PR_SET_PDEATHSIG). */
    j->kill_at = j->start + hr_scenario_timeout(j->s, ro) / 1000.0 + 2 * job_grace_ms(j) * ro->timeout_mult / 1000.0 + 10;
    j->running = true;
    return 0;
}

static void finish_job(struct job *j, bool keep_report)
{
    int ws = 0;
    while (waitpid(j->pid, &ws, 0) < 0 && errno == EINTR)
        ;
    hr_result_from_runner(&j->result, j->out.len ? j->out.data : NULL, ws);
    if (keep_report && j->out.len)
        j->report = json_loadb(j->out.data, j->out.len, 0, NULL);
    j->result.seconds = now_s() - j->start;
    dc_buf_cleanup(&j->out);
    j->running = false;
    j->done = true;
}

static void make_case(struct hr_case *c, const struct job *j, const char *rerun)
{
    static const char *const none = "";
    *c = (struct hr_case){.classname = none, .name = j->name, .status = j->result.status,
                          .seconds = j->result.seconds, .reason = j->result.reason,
                          .details = j->result.details, .rerun = rerun};
}

/* --list: the plan as JSON lines, in plan order; 1 if a file did not parse. */
static int list_plan(const struct hr_job_id *ids, size_t nids, char **files, struct hr_scenario **scn,
                     char **perr, size_t nfiles)
{
    int rc = HR_EXIT_OK;
    for (size_t i = 0; i < nids; i++) {
        size_t f = 0;
        while (f < nfiles && strcmp(files[f], ids[i].path))
            f++;
        json_t *o = ids[i].proto ? json_pack("{s:s,s:s,s:s}", "path", ids[i].path, "proto", hr_proto_name(ids[i].proto),
                                             "name", scn[f]->name)
                                 : json_pack("{s:s,s:s}", "path", ids[i].path, "error", perr[f]);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(o);
        rc = ids[i].proto ? rc : HR_EXIT_FAIL;
    }
    return rc;
}

/* One case of the HTML report: the runner's result (steps, parties, trace,
 * times) with what the scheduler knows on top. */
static json_t *report_case(const struct job *j, const struct hr_case *c)
{
    json_t *o = j->report ? json_deep_copy(j->report) : json_object();
    static const char *const words[] = {[HR_STATUS_PASS] = "pass", [HR_STATUS_FAIL] = "fail", [HR_STATUS_SKIP] = "skip"};
    json_object_set_new(o, "name", json_string_nocheck(c->name));   /* in memory only: any bytes */
    json_object_set_new(o, "file", json_string_nocheck(j->path));
    json_object_set_new(o, "status", json_string(words[c->status]));
    json_object_set_new(o, "seconds", json_real(c->seconds));
    json_object_set_new(o, "reason", c->reason ? json_string_nocheck(c->reason) : json_null());
    json_object_set_new(o, "details", c->details ? json_string_nocheck(c->details) : json_null());
    json_object_set_new(o, "warning", j->result.warning ? json_string_nocheck(j->result.warning) : json_null());
    return o;
}

/* A relative PATH that is not here names a shipped scenario or directory
 * (<data dir>/scenarios: installed, <prefix>/share/dcharness/scenarios), so
 * `dcharness run chat.scn` works from anywhere. Replaced paths are stored
 * in owned (the caller frees them). */
static void shipped_paths(struct opts *o, const char *data_dir, char **owned)
{
    for (size_t i = 0; i < o->npaths; i++) {
        struct stat st;
        char *alt;
        if (o->paths[i][0] == '/' || stat(o->paths[i], &st) == 0 ||
            asprintf(&alt, "%s/scenarios/%s", data_dir, o->paths[i]) < 0)
            continue;
        if (stat(alt, &st) == 0)
            o->paths[i] = owned[i] = alt;
        else
            free(alt);
    }
}

static int run_main(int argc, char **argv, char **owned)
{
    struct opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;

    struct env env;
    if ((rc = env_init(&env, o.bin_dir)))
        return rc;
    shipped_paths(&o, env.data_dir, owned);
    const char *self = env.self, *bin_dir = env.bin_dir, *const *dirs = env.dirs;
    double mult = env.mult;
    struct hr_error err;
    struct profiles cache = {.n = 0};
    /* --hub wins over the scenarios' own `hub profile` lines; a bad --hub is a usage error. */
    bool bad = o.hub && !profile_get(&cache, o.hub, dirs, &err);
    bad = bad || (o.client && !profile_get_kind(&cache, o.client, HR_PROFILE_CLIENT, dirs, &err));
    for (size_t i = 0; i < o.nnamed && !bad; i++)
        bad = !profile_get_kind(&cache, o.named[i].profile, HR_PROFILE_CLIENT, dirs, &err);
    if (bad) {
        fprintf(stderr, "dcharness: %s\n", err.msg);
        profiles_free(&cache);
        return HR_EXIT_USAGE;
    }
    struct hr_run_opts ro = {.bin_dir = bin_dir, .share_dir = env.data_dir, .timeout_mult = mult,
                             .scenario_timeout_ms = 30000, .step_timeout_ms = 5000,
                             .strict = o.strict};

    char **files;
    size_t nfiles;
    int found = hr_find_scenarios(o.paths, o.npaths, &files, &nfiles, &err);
    if (found < 0 || nfiles == 0) {
        if (found == 0)
            snprintf(err.msg, sizeof err.msg, "no *.scn scenario files found in the given paths");
        fprintf(stderr, "dcharness: %s%s%s%s\n", err.msg, found < 0 ? " (nor under " : "",
                found < 0 ? env.data_dir : "", found < 0 ? "/scenarios)" : "");
        profiles_free(&cache);
        return HR_EXIT_USAGE;
    }

    /* Parse every file; plan (file x protocol) jobs; filter; shard. */
    struct hr_scenario **scn = calloc(nfiles, sizeof *scn);
    char **perr = calloc(nfiles, sizeof *perr);
    struct hr_job_id *ids = calloc(nfiles * HR_PROTO_COUNT + 1, sizeof *ids);
    size_t nids = 0;
    for (size_t i = 0; i < nfiles; i++) {
        size_t len;
        char *buf = hr_read_file(files[i], &len);
        if (!buf)
            hr_error_set(&err, files[i], 0, "cannot read: %s", strerror(errno));
        else
            scn[i] = hr_scenario_parse(files[i], buf, len, &err);
        free(buf);
        if (!scn[i]) {
            perr[i] = strdup(err.msg);
            if (!o.filter || hr_filter_match(o.filter, files[i], NULL))
                ids[nids++] = (struct hr_job_id){files[i], 0};
            continue;
        }
        if (o.filter && !hr_filter_match(o.filter, files[i], scn[i]->name))
            continue;
        for (unsigned b = HR_PROTO_NMDC; b <= HR_PROTO_LAST; b <<= 1)
            if (hr_proto_runs(scn[i]->protos) & o.protos & b)
                ids[nids++] = (struct hr_job_id){files[i], b};
    }
    nids = hr_plan_select(ids, nids, o.shard_k, o.shard_n);
    if (o.list) {
        rc = list_plan(ids, nids, files, scn, perr, nfiles);
        for (size_t i = 0; i < nfiles; i++) {
            hr_scenario_free(scn[i]);
            free(perr[i]);
            free(files[i]);
        }
        free(ids);
        free(scn);
        free(perr);
        free(files);
        profiles_free(&cache);
        return rc;
    }
    /* An --html file that cannot be written is a usage error now, not a
     * surprise after the run. */
    FILE *html = NULL, *json = NULL;
    if ((o.html && !(html = fopen(o.html, "w"))) || (o.json && !(json = fopen(o.json, "w")))) {
        fprintf(stderr, "dcharness: --%s %s: cannot write it: %s\n", o.html && !html ? "html" : "json",
                o.html && !html ? o.html : o.json, strerror(errno));
        if (html)
            fclose(html);
        for (size_t i = 0; i < nfiles; i++) {
            hr_scenario_free(scn[i]);
            free(perr[i]);
            free(files[i]);
        }
        free(ids);
        free(scn);
        free(perr);
        free(files);
        profiles_free(&cache);
        return HR_EXIT_USAGE;
    }
    struct job *jobs = calloc(nids + 1, sizeof *jobs);
    for (size_t i = 0; i < nids; i++) {
        struct job *j = &jobs[i];
        size_t f = 0;
        while (strcmp(files[f], ids[i].path))
            f++;
        *j = (struct job){.path = files[f], .proto = ids[i].proto, .s = scn[f], .result_fd = -1};
        if (!j->proto) {
            j->name = strdup(files[f]);
            j->done = true;
            j->result = (struct hr_result){.status = HR_STATUS_FAIL, .reason = strdup(perr[f]), .details = strdup(perr[f])};
            continue;
        }
        if (asprintf(&j->name, "%s [%s]", j->s->name, hr_proto_name(j->proto)) < 0)
            abort();
        j->ro = ro;
        const char *hub = o.hub ? o.hub : j->s->hub ? j->s->hub : "fakehub";
        if (!(j->ro.profile = profile_get(&cache, hub, dirs, &err))) {
            char *msg;
            if (asprintf(&msg, "%s:%d: %s", j->path, j->s->hub_line, err.msg) < 0)
                abort();
            j->done = true;
            j->result = (struct hr_result){.status = HR_STATUS_FAIL, .reason = msg, .details = strdup(msg)};
            continue;
        }
        if (job_clients(j, &o, &cache, dirs, &err) < 0) {
            j->done = true;
            j->result = (struct hr_result){.status = HR_STATUS_FAIL, .reason = strdup(err.msg), .details = strdup(err.msg)};
            continue;
        }
        char *skip = hr_skip_reason(j->s, j->proto, j->ro.profile);
        if (!skip)
            skip = hr_client_skip_reason(j->s, j->proto, j->ro.clients);
        if (skip) {
            j->done = true;
            j->result = (struct hr_result){.status = HR_STATUS_SKIP, .reason = skip};
        }
    }

    char root[PATH_MAX];   /* absolute: runners chdir into it */
    if (hr_rundir_create("dcharness", root, sizeof root) < 0) {
        const char *tmp = getenv("TMPDIR");
        fprintf(stderr, "dcharness: cannot create a directory under %s: %s\n", tmp && *tmp ? tmp : "/tmp", strerror(errno));
        if (html)
            fclose(html);
        if (json)
            fclose(json);
        return HR_EXIT_FAIL;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);

    FILE *out = stdout;
    setvbuf(out, NULL, _IOLBF, 0);
    if (o.tap)
        fprintf(out, "TAP version 13\n1..%zu\n", nids);
    else
    {
        fprintf(out, "dcharness: %zu scenario run%s", nids, nids == 1 ? "" : "s");
        for (int kind = HR_PROFILE_HUB; kind <= HR_PROFILE_CLIENT; kind++) {
            size_t n = 0;
            for (size_t i = 0; i < cache.n; i++)
                n += cache.kinds[i] == (enum hr_profile_kind)kind;
            for (size_t i = 0, k = 0; i < cache.n; i++)
                if (cache.kinds[i] == (enum hr_profile_kind)kind)
                    fprintf(out, "%s %s (%s)", k++ ? "," : kind == HR_PROFILE_HUB ? (n == 1 ? ", hub profile" : ", hub profiles")
                                                                          : (n == 1 ? "; client profile" : "; client profiles"),
                            cache.p[i]->name, cache.p[i]->path);
        }
        fputc('\n', out);
    }

    size_t next_start = 0, next_print = 0, running = 0;
    int interrupted = 0;
    double t0 = now_s();
    char **reruns = calloc(nids + 1, sizeof *reruns);
    while (next_print < nids) {
        /* Start what we may. */
        while (!interrupted && running < o.jobs && next_start < nids) {
            struct job *j = &jobs[next_start++];
            if (j->done)
                continue;
            if (start_job(j, root, next_start - 1) < 0) {
                j->done = true;
                j->result = (struct hr_result){.status = HR_STATUS_FAIL, .reason = strdup(strerror(errno))};
                j->result.details = strdup(j->result.reason);
                continue;
            }
            running++;
        }
        /* Report finished jobs in plan order. */
        while (next_print < nids && jobs[next_print].done) {
            struct job *j = &jobs[next_print++];
            if (j->result.status == HR_STATUS_FAIL)
                reruns[next_print - 1] = rerun_cmd(&o, self, bin_dir, j);
            struct hr_case c;
            make_case(&c, j, reruns[next_print - 1]);
            if (o.tap) {
                hr_tap_case(out, next_print, &c);
                if (j->result.warning)
                    fprintf(out, "# warning: %s\n", j->result.warning);
            } else {
                const char *tag = c.status == HR_STATUS_PASS ? "PASS" : c.status == HR_STATUS_SKIP ? "SKIP" : "FAIL";
                fprintf(out, "[%*zu/%zu] %s  %s: %s (%.2fs)%s%s\n", (int)snprintf(NULL, 0, "%zu", nids), next_print, nids,
                        tag, j->path, j->name, c.seconds, c.status == HR_STATUS_SKIP ? ": " : "",
                        c.status == HR_STATUS_SKIP ? c.reason : "");
                if (j->result.warning)
                    fprintf(out, "        warning: %s\n", j->result.warning);
                if (c.status == HR_STATUS_FAIL) {
                    print_indented(out, c.details ? c.details : c.reason);
                    fprintf(out, "        rerun: %s\n", c.rerun);
                }
            }
            if (o.keep && j->dir)
                fprintf(out, "%skept: %s\n", o.tap ? "# " : "        ", j->dir);
        }
        if (next_print >= nids)
            break;
        if (interrupted && running == 0) {
            /* Jobs never started are reported as not run. */
            for (size_t i = next_start; i < nids; i++)
                if (!jobs[i].done) {
                    jobs[i].done = true;
                    jobs[i].result = (struct hr_result){.status = HR_STATUS_SKIP, .reason = strdup("not run: interrupted")};
                }
            next_start = nids;
            continue;
        }
        /* Wait for results, exits, signals. */
        struct pollfd pf[2 * 64 + 1];
        struct job *who[2 * 64 + 1];
        nfds_t n = 0;
        double wake = now_s() + 60;
        for (size_t i = 0; i < nids; i++) {
            struct job *j = &jobs[i];
            if (!j->running)
                continue;
            if (j->result_fd >= 0) {
                pf[n] = (struct pollfd){.fd = j->result_fd, .events = POLLIN};
                who[n++] = j;
            }
            if (j->kill_at < wake)
                wake = j->kill_at;
        }
        pf[n] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        who[n++] = NULL;
        double left = wake - now_s();
        int k = poll(pf, n, left > 0 ? (int)ceil(left * 1000) : 0);
        for (nfds_t i = 0; k > 0 && i < n; i++) {
            if (!pf[i].revents)
                continue;
            struct job *j = who[i];
            if (!j) {
                struct signalfd_siginfo si;
                if (read(sigfd, &si, sizeof si) == sizeof si && !interrupted) {
                    interrupted = (int)si.ssi_signo;
                    fprintf(stderr, "dcharness: %s: stopping the running scenarios\n", strsignal(interrupted));
                    for (size_t q = 0; q < nids; q++)
                        if (jobs[q].running) {
                            kill(jobs[q].pid, interrupted);   /* the runners report which signal it was */
                            jobs[q].kill_at = now_s() + 2 * job_grace_ms(&jobs[q]) * mult / 1000.0 + 5;
                        }
                }
            } else if (j->running && pf[i].fd == j->result_fd) {
                char buf[65536];
                ssize_t r = read(j->result_fd, buf, sizeof buf);
                if (r > 0) {
                    dc_buf_append(&j->out, buf, (size_t)r);
                } else if (r == 0 || errno != EINTR) {
                    close(j->result_fd);
                    j->result_fd = -1;
                }
            }
        }
        /* A job is done once its result pipe closed and the runner exited. */
        for (size_t i = 0; i < nids; i++) {
            struct job *j = &jobs[i];
            if (!j->running)
                continue;
            if (now_s() >= j->kill_at) {
                kill(j->pid, SIGKILL);
                j->kill_at = now_s() + 60;
            }
            if (j->result_fd < 0) {
                finish_job(j, html || json);
                running--;
            }
        }
    }

    size_t pass = 0, fail = 0, skip = 0;
    struct hr_case *cases = calloc(nids + 1, sizeof *cases);
    char **classes = calloc(nids + 1, sizeof *classes);
    for (size_t i = 0; i < nids; i++) {
        struct job *j = &jobs[i];
        pass += j->result.status == HR_STATUS_PASS;
        fail += j->result.status == HR_STATUS_FAIL;
        skip += j->result.status == HR_STATUS_SKIP;
        make_case(&cases[i], j, reruns[i]);
        char *rel = hr_scenario_relpath(j->path, o.paths, o.npaths);
        cases[i].classname = classes[i] = hr_classname(rel ? rel : j->path);
        free(rel);
    }
    double total = now_s() - t0;
    if (o.tap)
        fprintf(out, "# %zu passed, %zu failed, %zu skipped in %.1fs\n", pass, fail, skip, total);
    else {
        fprintf(out, "\n%zu scenario run%s: %zu passed, %zu failed, %zu skipped in %.1fs\n", nids, nids == 1 ? "" : "s",
                pass, fail, skip, total);
        for (size_t i = 0; i < nids; i++)
            if (jobs[i].result.status == HR_STATUS_FAIL)
                fprintf(out, "  FAILED %s: %s\n    rerun: %s\n", jobs[i].path, jobs[i].name, reruns[i]);
    }
    if (o.junit) {
        FILE *jf = fopen(o.junit, "w");
        if (!jf) {
            fprintf(stderr, "dcharness: cannot write %s: %s\n", o.junit, strerror(errno));
            fail++;
        } else {
            hr_junit_write(jf, "dcharness", cases, nids);
            if (fclose(jf) != 0)
                fail++;
        }
    }
    if (html || json) {   /* before the scenario directories go: the page reads their logs */
        json_t *all = json_array();
        for (size_t i = 0; i < nids; i++)
            json_array_append_new(all, report_case(&jobs[i], &cases[i]));
        struct hr_html_opts ho = {.title = "dcharness", .all = o.html_all};
        if (html && (hr_html_write_json(html, all, &ho) < 0 || fclose(html) != 0)) {
            fprintf(stderr, "dcharness: writing %s failed: %s\n", o.html, strerror(errno));
            fail++;
        } else if (html && !o.tap) {
            fprintf(out, "HTML report: %s\n", o.html);
        }
        json_t *doc = json_pack("{s:o}", "cases", all);
        if (json && (json_dumpf(doc, json, JSON_INDENT(1)) < 0 || fclose(json) != 0)) {
            fprintf(stderr, "dcharness: writing %s failed: %s\n", o.json, strerror(errno));
            fail++;
        }
        json_decref(doc);
    }
    if (o.keep) {
        hr_rundir_keep(root);
        fprintf(out, "%sscenario directories kept under %s\n", o.tap ? "# " : "", root);
    } else {
        rm_tree(root);
    }

    for (size_t i = 0; i < nids; i++) {
        free(jobs[i].name);
        free(jobs[i].dir);
        free(reruns[i]);
        free(classes[i]);
        hr_result_cleanup(&jobs[i].result);
        json_decref(jobs[i].report);
        free(jobs[i].clients);
    }
    for (size_t i = 0; i < nfiles; i++) {
        hr_scenario_free(scn[i]);
        free(perr[i]);
        free(files[i]);
    }
    free(jobs);
    free(reruns);
    free(classes);
    free(cases);
    free(ids);
    free(scn);
    free(perr);
    free(files);
    profiles_free(&cache);
    for (size_t i = 0; i < o.nnamed; i++)
        free((char *)o.named[i].name);
    close(sigfd);
    if (interrupted) {
        /* Die of the same signal, so callers see an honest status. */
        fflush(NULL);
        signal(interrupted, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(interrupted);
    }
    return fail ? HR_EXIT_FAIL : HR_EXIT_OK;
}

int hr_main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "html"))
        return hr_html_main(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "hub"))
        return hub_main(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "check-party"))
        return check_main(argc, argv);
    char **owned = calloc((size_t)argc + 1, sizeof *owned);   /* paths run_main replaced */
    if (!owned)
        abort();
    int rc = run_main(argc, argv, owned);
    for (int i = 0; i < argc; i++)
        free(owned[i]);
    free(owned);
    return rc;
}
