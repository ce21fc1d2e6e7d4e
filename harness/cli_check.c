/* cli_check.c: `dcharness check-party PROFILE` (checkparty.h; docs/parties.md,
 * "Checking your party"): options, the profiles, a work dir, the exit status. */
#include "harness/cli_int.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/checkparty.h"
#include "harness/rundir.h"

int check_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"proto", required_argument, NULL, 'p'}, {"only", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'J'}, {"verbose", no_argument, NULL, 'v'}, {"keep", no_argument, NULL, 'k'},
        {"bin-dir", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct hr_check_opts o = {.protos = HR_PROTO_ALL, .out = stdout};
    const char *bin_dir_opt = NULL;
    bool keep = false;
    int c, rc = 0;
    optind = 2;
    while (!rc && (c = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (parse_protos(optarg, &o.protos) < 0 || (o.protos & ~HR_PROTO_ALL))
                rc = usage_error("check-party --proto takes nmdc, adc or nmdc,adc, not '%s' (TLS is the tls capability's check)", optarg);
            break;
        case 'o': o.only = optarg; break;
        case 'J': o.json = true; break;
        case 'v': o.verbose = true; break;
        case 'k': keep = true; break;
        case 'b': bin_dir_opt = optarg; break;
        case 'h': usage(stdout); rc = -1; break;
        default: rc = usage_error("unknown option%s", "");
        }
    }
    if (!rc && optind != argc - 1)
        rc = usage_error("check-party takes one client profile (a name or a .client file)%s", "");
    struct env env;
    struct hr_error err;
    struct hr_profile *party = NULL, *peer = NULL, *hub = NULL;
    if (!rc && !(rc = env_init(&env, bin_dir_opt))) {
        if (!(party = hr_client_profile_load(argv[optind], env.dirs, &err)) ||
            !(peer = hr_client_profile_load("dcclient", env.dirs, &err)) || !(hub = hr_profile_load("fakehub", env.dirs, &err))) {
            fprintf(stderr, "dcharness: %s\n", err.msg);
            rc = HR_EXIT_USAGE;
        }
    }
    char dir[4096];
    if (!rc && hr_rundir_create("dcharness-check", dir, sizeof dir) < 0) {
        perror("dcharness: cannot create a work dir");
        rc = HR_EXIT_FAIL;
    }
    if (!rc) {
        o.party = party;
        o.peer = peer;
        o.hub = hub;
        o.bin_dir = env.bin_dir;
        o.share_dir = env.data_dir;
        o.dir = dir;
        o.mult = env.mult;
        int nfail = hr_check_party(&o);
        if (nfail != 0 || keep) {
            hr_rundir_keep(dir);
            fprintf(stderr, "check-party: logs kept under %s\n", dir);
        } else
            rm_tree(dir);
        rc = nfail == 0 ? HR_EXIT_OK : HR_EXIT_FAIL;
        if (nfail < 0) {   /* interrupted: die of the signal, as `run` does */
            fflush(stdout);
            signal(SIGINT, SIG_DFL);
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGINT);
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            raise(SIGINT);
        }
    }
    hr_profile_free(party);
    hr_profile_free(peer);
    hr_profile_free(hub);
    return rc < 0 ? HR_EXIT_OK : rc;
}
