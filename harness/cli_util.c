/* cli_util.c: what the dcharness commands share (see cli_int.h). */
#include "harness/cli_int.h"

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/scenario.h"

#ifndef HR_PROFILE_DIR
#define HR_PROFILE_DIR ""
#endif
#ifndef HR_SHARE_DIR
#define HR_SHARE_DIR ""
#endif

void usage(FILE *f)
{
    fputs("usage: dcharness run [options] PATH...\n"
          "       dcharness check-party [options] PROFILE\n"
          "       dcharness hub [--hub PROFILE] [--proto LIST] [--user NICK:PASSWORD[:op]]... [--bin-dir DIR] [--dir DIR]\n"
          "\n"
          "dcharness run: run DC scenario files (PATH: *.scn files or directories holding them).\n"
          "  -j N               run N scenarios at once (default 1)\n"
          "  --proto LIST       only these protocols: nmdc,adc,nmdcs,adcs (default: nmdc,adc as each file\n"
          "                     declares; a file declaring nmdc/adc runs for nmdcs/adcs too when asked)\n"
          "  --hub PROFILE      hub profile name (fakehub, uhub) or .hub file, for every scenario\n"
          "                     (default: the scenario's `hub profile` line, else fakehub)\n"
          "  --client PROFILE   client profile name (dcclient, eiskaltdcpp) or .client file for every\n"
          "                     client; --client NAME=PROFILE for client NAME only (repeatable; wins)\n"
          "                     (default: the client's profile= option, else dcclient)\n"
          "  --filter PATTERN   only scenarios whose path or name contains PATTERN (or matches the glob)\n"
          "  --shard K/N        only the K-th of N deterministic shards\n"
          "  --junit FILE       also write JUnit XML to FILE\n"
          "  --tap              print TAP instead of progress lines\n"
          "  --html FILE        also write an HTML report: steps, logs, and a sequence diagram per failed run\n"
          "  --html-all         ... and a diagram for passed runs too\n"
          "  --json FILE        also write each run's result as JSON (what `dcharness html` draws)\n"
          "  --list             print the planned runs as JSON lines ({\"path\",\"proto\",\"name\"}, or\n"
          "                     {\"path\",\"error\"} for a file that does not parse) instead of running them\n"
          "  --keep             keep each scenario's directory (logs, hub trace) and say where\n"
          "  --strict           fail any run in which the hub reports a protocol violation, as if\n"
          "                     every scenario declared `strict` (fakehub's trace has them)\n"
          "  --bin-dir DIR      where fakehub and dcclient are (default: dcharness's own dir)\n"
          "Exit status: 0 passed, 1 a scenario failed, 2 usage error.\n"
          "\n"
          "dcharness hub: start one hub from a profile as a scenario run does, print one JSON line\n"
          "{\"event\":\"ready\",\"pid\",\"profile\",\"urls\",\"dir\",\"control\",\"trace\",\"features\"} on stdout,\n"
          "and run until SIGTERM or SIGINT; then stop the hub the profile's way and exit.\n"
          "  --hub PROFILE      hub profile name or .hub file (default fakehub)\n"
          "  --proto LIST       protocols the hub must offer (default: every one the profile speaks)\n"
          "  --user N:P[:op]    a registered user (repeatable)\n"
          "  --bin-dir DIR      where fakehub is (default: dcharness's own dir)\n"
          "  --dir DIR          the hub's directory (config files, logs, control socket), kept\n"
          "                     (default: a new one under $TMPDIR, removed at exit)\n"
          "Exit status: 0 the hub started and stopped cleanly, 1 it did not (reason on stderr),\n"
          "2 usage error, 3 the profile cannot offer a protocol or users asked for (reason on stderr).\n"
          "\n"
          "dcharness check-party PROFILE: run the party contract's checks (docs/parties.md) for the core and\n"
          "each capability the client profile claims, against fakehub, with the party as alice and dcclient\n"
          "as bob; one line per check: ok, FAIL and what is wrong, or skip and why.\n"
          "  --proto LIST       nmdc, adc or nmdc,adc (default both)\n"
          "  --only TEXT        only the checks whose name contains TEXT\n"
          "  --json             one JSON object per check instead ({\"check\",\"cap\",\"proto\",\"status\",\"reason\"})\n"
          "  -v, --verbose      with each failure its details: logs of alice, bob and the hub, the hub trace\n"
          "  --keep             keep the work dir (always kept when a check failed)\n"
          "  --bin-dir DIR      where fakehub and dcclient are (default: dcharness's own dir)\n"
          "Exit status: 0 every check the profile's capabilities call for passed, 1 one failed, 2 usage error.\n"
          "\n"
          "Environment: DCTEST_TIMEOUT_MULTIPLIER scales every timeout; DCHARNESS_PROFILE_DIR adds a profile dir.\n", f);
}

int usage_error(const char *fmt, const char *arg)
{
    fputs("dcharness: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(dcharness --help for usage)\n", stderr);
    return HR_EXIT_USAGE;
}

/* "nmdc,adc" -> protocol bits; -1 if a name is unknown or none is given. */
int parse_protos(const char *arg, unsigned *protos)
{
    *protos = 0;
    for (const char *t = arg; *t;) {
        size_t n = strcspn(t, ",");
        char name[8];
        snprintf(name, sizeof name, "%.*s", (int)n, t);
        unsigned b = n < sizeof name ? hr_proto_from_name(name) : 0;
        if (!b)
            return -1;
        *protos |= b;
        t += n + (t[n] == ',');
    }
    return *protos ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void print_indented(FILE *f, const char *text)
{
    for (const char *s = text; *s;) {
        size_t n = strcspn(s, "\n");
        fprintf(f, "        %.*s\n", (int)n, s);
        s += n + (s[n] == '\n');
    }
}


/* 0, or a usage error (printed) to exit with. */
int env_init(struct env *e, const char *bin_dir)
{
    *e = (struct env){.mult = 1};
    ssize_t sl = readlink("/proc/self/exe", e->self, sizeof e->self - 1);
    e->self[sl > 0 ? sl : 0] = '\0';
    if (bin_dir) {
        if (!realpath(bin_dir, e->bin_dir))
            return usage_error("--bin-dir %s does not exist", bin_dir);
    } else {
        snprintf(e->bin_dir, sizeof e->bin_dir, "%s", e->self);
        dirname(e->bin_dir);
    }
    /* An installed dcharness finds its profiles in <prefix>/share/dcharness,
     * beside its own bin/ (cmake --install to any prefix, the .deb). */
    char share[PATH_MAX + 64];
    snprintf(share, sizeof share, "%s/../share/dcharness/profiles", e->bin_dir);
    if (!realpath(share, e->share_dir))
        snprintf(e->share_dir, sizeof e->share_dir, "%s", share);
    snprintf(share, sizeof share, "%s/../share/dcharness", e->bin_dir);
    char data[PATH_MAX];
    snprintf(e->data_dir, sizeof e->data_dir, "%s", realpath(share, data) ? data : HR_SHARE_DIR);
    const char *env_dir = getenv("DCHARNESS_PROFILE_DIR");
    size_t nd = 0;
    if (env_dir && *env_dir)
        e->dirs[nd++] = env_dir;
    e->dirs[nd++] = e->share_dir;
    if (*HR_PROFILE_DIR)
        e->dirs[nd++] = HR_PROFILE_DIR;
    const char *m = getenv("DCTEST_TIMEOUT_MULTIPLIER");
    if (m && *m && (!(e->mult = strtod(m, NULL)) || e->mult <= 0 || !isfinite(e->mult)))
        return usage_error("DCTEST_TIMEOUT_MULTIPLIER must be a positive number, not '%s'", m);
    return 0;
}
