/* cli_hub.c: `dcharness hub` (see cli.h): one hub from a profile, its
 * ready line on stdout, until SIGTERM/SIGINT. */
#include "harness/cli_int.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/profile.h"
#include "harness/rundir.h"
#include "harness/runner.h"
#include "harness/scenario.h"

/* The hub is served by a child in its own process group whose death signal
 * is SIGTERM: a SIGKILLed dcharness then still has the hub stopped the
 * profile's way, the setup commands' children (adopted by the server, a
 * subreaper) killed and the directory removed. This process stays in front:
 * it forwards each SIGINT/SIGTERM it gets once (the server's own group gets
 * no terminal signals, so a second Ctrl-C still cuts the grace short) and
 * exits as the server does. Returns the child's pid (0 in the child), -1 on
 * failure. */
static pid_t fork_server(void)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    fflush(NULL);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        fprintf(stderr, "dcharness: fork: %s\n", strerror(errno));
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(HR_EXIT_FAIL);
        /* INT and TERM stay blocked: the runner reads them from its signalfd. */
        sigdelset(&set, SIGINT);
        sigdelset(&set, SIGTERM);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        return 0;
    }
    setpgid(pid, pid);
    return pid;
}

/* Wait for the server, forwarding SIGINT/SIGTERM; its exit status, or die of
 * the signal it died of. */
static int supervise(pid_t server)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    for (;;) {
        siginfo_t si;
        if (sigwaitinfo(&set, &si) < 0)
            continue;   /* EINTR */
        if (si.si_signo != SIGCHLD) {
            kill(server, si.si_signo);
            continue;
        }
        int ws;
        if (waitpid(server, &ws, WNOHANG) != server)
            continue;
        if (WIFSIGNALED(ws)) {
            signal(WTERMSIG(ws), SIG_DFL);
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            raise(WTERMSIG(ws));
        }
        return WIFEXITED(ws) ? WEXITSTATUS(ws) : HR_EXIT_FAIL;
    }
}

/* NICK:PASSWORD[:op] into u (owned strings); -1 if malformed. */
static int parse_user(const char *arg, struct hr_user *u)
{
    const char *c1 = strchr(arg, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || c1 == arg || (c2 && strcmp(c2, ":op")))
        return -1;
    u->nick = strndup(arg, (size_t)(c1 - arg));
    u->password = c2 ? strndup(c1 + 1, (size_t)(c2 - c1 - 1)) : strdup(c1 + 1);
    u->op = c2 != NULL;
    return 0;
}

static void free_users(struct hr_user *users, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(users[i].nick);
        free(users[i].password);
    }
    free(users);
}

int hub_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"hub", required_argument, NULL, 'H'}, {"proto", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'}, {"bin-dir", required_argument, NULL, 'b'},
        {"dir", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *hub = "fakehub", *bin_dir_opt = NULL, *dir_opt = NULL;
    unsigned protos = 0;
    /* Only the users of this scenario are read (hr_hub_serve); it owns them. */
    struct hr_scenario s = {.name = "hub"};
    int c, rc = 0;
    optind = 2;
    while (!rc && (c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': hub = optarg; break;
        case 'b': bin_dir_opt = optarg; break;
        case 'd': dir_opt = optarg; break;
        case 'p':
            if (parse_protos(optarg, &protos) < 0)
                rc = usage_error("--proto takes a list of nmdc, adc, nmdcs, adcs, not '%s'", optarg);
            break;
        case 'u':
            if (!(s.users = realloc(s.users, (s.nusers + 1) * sizeof *s.users)))
                abort();
            if (parse_user(optarg, &s.users[s.nusers]) < 0)
                rc = usage_error("--user is NICK:PASSWORD or NICK:PASSWORD:op, not '%s'", optarg);
            else
                s.nusers++;
            break;
        case 'h': usage(stdout); rc = -1; break;
        default: rc = usage_error("unknown option%s", "");
        }
    }
    if (!rc && optind < argc)
        rc = usage_error("dcharness hub takes no arguments besides options, not '%s'", argv[optind]);
    struct env env;
    struct hr_error err;
    struct hr_profile *p = NULL;
    if (!rc && !(rc = env_init(&env, bin_dir_opt)) && !(p = hr_profile_load(hub, env.dirs, &err))) {
        fprintf(stderr, "dcharness: %s\n", err.msg);
        rc = HR_EXIT_USAGE;
    }
    /* What the profile cannot offer is refused before anything starts, with
     * the reason a scenario run gives when it skips. */
    s.protos = protos ? protos : p ? p->protos : 0;
    s.needs = s.nusers ? HR_FEAT_REGISTERED_USERS : 0;
    for (unsigned b = HR_PROTO_NMDC; !rc && b <= HR_PROTO_LAST; b <<= 1) {
        char *skip = s.protos & b ? hr_skip_reason(&s, b, p) : NULL;
        if (skip) {
            fprintf(stderr, "dcharness: %s\n", skip);
            free(skip);
            rc = HR_EXIT_SKIP;
        }
    }
    char dir[PATH_MAX];
    if (!rc) {
        char *abs = NULL;
        snprintf(dir, sizeof dir, "%s", dir_opt ? dir_opt : "$TMPDIR/dcharness-hub-XXXXXX");
        if (dir_opt ? (mkdir(dir, 0700) == 0 || errno == EEXIST) && (abs = realpath(dir, NULL))
                    : hr_rundir_create("dcharness-hub", dir, sizeof dir) == 0) {
            if (abs)
                snprintf(dir, sizeof dir, "%s", abs);
        } else {
            fprintf(stderr, "dcharness: cannot create the hub's directory %s: %s\n", dir, strerror(errno));
            rc = HR_EXIT_FAIL;
        }
        free(abs);
    }
    pid_t server = -1;
    if (!rc && (server = fork_server()) < 0)
        rc = HR_EXIT_FAIL;
    if (!rc && server > 0)
        rc = supervise(server);   /* returns only if the server exited (or died of another signal) */
    if (!rc && server == 0) {
        struct hr_run_opts ro = {.bin_dir = env.bin_dir, .profile = p, .timeout_mult = env.mult,
                                 .scenario_timeout_ms = 30000, .step_timeout_ms = 5000};
        struct hr_result res;
        hr_hub_serve(&s, s.protos, dir, &ro, stdout, &res);
        if (res.warning)
            fprintf(stderr, "dcharness: warning: %s\n", res.warning);
        if (res.status == HR_STATUS_FAIL) {
            fprintf(stderr, "dcharness: %s\n", res.reason);
            print_indented(stderr, res.details);
            rc = HR_EXIT_FAIL;
        }
        hr_result_cleanup(&res);
        if (!dir_opt)
            rm_tree(dir);
    }
    hr_profile_free(p);
    free_users(s.users, s.nusers);
    return rc < 0 ? HR_EXIT_OK : rc;
}
