/* cli_int.h: internals shared by the dcharness commands (cli.c: run,
 * cli_hub.c: hub, cli_check.c: check-party): usage, option helpers, the environment. */
#ifndef HR_CLI_INT_H
#define HR_CLI_INT_H

#include <limits.h>
#include <stdio.h>

#include "harness/cli.h"

/* What both commands need: where dcharness, the executables and the
 * profiles are, the data dir ({share}: parties/, profiles/; installed
 * <prefix>/share/dcharness, in a build tree the source root) and the
 * timeout multiplier. dirs borrows share_dir. */
struct env {
    char self[PATH_MAX], bin_dir[PATH_MAX], share_dir[PATH_MAX + 64], data_dir[PATH_MAX + 64];
    const char *dirs[4];
    double mult;
};

/* 0, or a usage error (printed) to exit with. */
int env_init(struct env *e, const char *bin_dir);
void usage(FILE *f);
/* Print "dcharness: " fmt (with arg) and a hint; returns HR_EXIT_USAGE. */
int usage_error(const char *fmt, const char *arg);
/* "nmdc,adc" -> protocol bits; -1 if a name is unknown or none is given. */
int parse_protos(const char *arg, unsigned *protos);
void rm_tree(const char *dir);
/* text, each line indented by 8 spaces. */
void print_indented(FILE *f, const char *text);
int hub_main(int argc, char **argv);
int check_main(int argc, char **argv);   /* cli_check.c */

#endif
