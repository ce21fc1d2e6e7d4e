/* main.c: the fakehub executable, a thin layer over fakehub_core: parse the
 * command line (process options plus every config setting as --key VALUE),
 * start the hub, print the ready line, run, free. Exit 0 after a clean
 * shutdown, 1 if the hub cannot start, 2 on a usage error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "fakehub/hub.h"

static void fh_usage(FILE *out)
{
    fputs("usage: fakehub [--nmdc HOST:PORT] [--adc HOST:PORT] [--nmdcs HOST:PORT]\n"
          "               [--adcs HOST:PORT] [options]\n"
          "A fixture hub for Direct Connect tests (NMDC and ADC). Port 0 = any free port;\n"
          "once listening it prints one JSON ready line on stdout.\n\n"
          "process options:\n"
          "  --nmdc HOST:PORT             listen for NMDC clients\n"
          "  --adc HOST:PORT              listen for ADC clients\n"
          "  --nmdcs HOST:PORT            listen for NMDC over TLS (nmdcs://)\n"
          "  --adcs HOST:PORT             listen for ADC over TLS (adcs://)\n"
          "  --cert FILE                  PEM certificate for TLS (default: self-signed EC P-256)\n"
          "  --key FILE                   PEM private key (default: in the --cert file)\n"
          "  --data-dir DIR               keep the generated certificate in DIR/cert.pem, key.pem\n"
          "                               and reuse it on restart (default: in memory, new each run)\n"
          "  --config FILE                `key = value` settings (same keys as below), reread on SIGHUP\n"
          "  --control PATH               Unix socket for JSON-lines control (docs/fakehub.md)\n"
          "  --trace FILE                 every protocol line in/out as JSON lines\n"
          "  --log FILE                   log here instead of stderr\n"
          "  --help                       this text\n\n"
          "settings (command line overrides the config file):\n", out);
    fh_config_help(out);
    fputs("\nsignals: SIGTERM/SIGINT/SIGQUIT clean shutdown (exit 0), SIGHUP reload --config,\n"
          "SIGUSR1 state dump to the log.\n", out);
}

/* The signals the hub handles in its loop (fakehub/hub.c). */
static void fh_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
}

int main(int argc, char **argv)
{
    /* Blocked until the hub's loop handles them: a SIGTERM in the first
     * milliseconds (while the certificate is written, say) waits and then
     * shuts the hub down cleanly, instead of killing it mid-write. */
    sigset_t set;
    fh_signal_set(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct fh_hub_opts opts = {0};
    struct fh_kv *ov = calloc((size_t)argc, sizeof *ov);
    char **owned = calloc((size_t)argc, sizeof *owned);   /* converted --user values */
    size_t nov = 0, nowned = 0;
    int rc = 2;
    if (!ov || !owned) {
        fputs("fakehub: out of memory\n", stderr);
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fh_usage(stdout);
            rc = 0;
            goto out;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "fakehub: unexpected argument '%s' (see --help)\n", arg);
            goto out;
        }
        char key[64];
        const char *eq = strchr(arg, '='), *val;
        size_t klen = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (klen >= sizeof key) {
            fprintf(stderr, "fakehub: unknown option '%s' (see --help)\n", arg);
            goto out;
        }
        memcpy(key, arg + 2, klen);
        key[klen] = '\0';
        if (eq) {
            val = eq + 1;
        } else if (strcmp(key, "lenient") == 0) {
            val = "1";   /* a flag on the command line; `lenient = 0|1` in a config file */
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(stderr, "fakehub: %s needs a value\n", arg);
            goto out;
        }
        const char **slot = !strcmp(key, "nmdc") ? &opts.nmdc_addr : !strcmp(key, "adc") ? &opts.adc_addr
                          : !strcmp(key, "nmdcs") ? &opts.nmdcs_addr
                          : !strcmp(key, "adcs") ? &opts.adcs_addr
                          : !strcmp(key, "cert") ? &opts.cert_path
                          : !strcmp(key, "key") ? &opts.key_path
                          : !strcmp(key, "data-dir") ? &opts.data_dir
                          : !strcmp(key, "config") ? &opts.config_path
                          : !strcmp(key, "control") ? &opts.control_path
                          : !strcmp(key, "trace") ? &opts.trace_path
                          : !strcmp(key, "log") ? &opts.log_path : NULL;
        if (slot) {
            *slot = val;
            continue;
        }
        if (!fh_config_known(key)) {
            fprintf(stderr, "fakehub: unknown option '--%s' (see --help)\n", key);
            goto out;
        }
        if (strcmp(key, "user") == 0) {   /* NICK:PASSWORD[:op] -> "NICK PASSWORD [op]" */
            char *u = strdup(val), *c1 = u ? strchr(u, ':') : NULL;
            if (!c1) {
                free(u);
                fprintf(stderr, "fakehub: --user wants NICK:PASSWORD[:op]\n");
                goto out;
            }
            owned[nowned++] = u;
            *c1 = ' ';
            size_t n = strlen(u);
            if (n > 3 && strcmp(u + n - 3, ":op") == 0)
                u[n - 3] = ' ';
            val = u;
        }
        ov[nov++] = (struct fh_kv){key[0] ? strdup(key) : NULL, val};
        if (!ov[nov - 1].key) {
            fprintf(stderr, "fakehub: bad option '%s'\n", arg);
            goto out;
        }
    }
    if (opts.key_path && !opts.cert_path) {
        fputs("fakehub: --key needs --cert (without both, a certificate is generated)\n", stderr);
        goto out;
    }
    opts.overrides = ov;
    opts.noverrides = nov;
    signal(SIGPIPE, SIG_IGN);   /* a peer closing mid-write is an EOF, not a death */
    char err[FH_ERR_LEN] = "";
    struct event_base *base = event_base_new();
    struct fh_hub *hub = base ? fh_hub_new(base, &opts, err) : NULL;
    if (!hub) {
        fprintf(stderr, "fakehub: %s\n", base ? err : "out of memory");
        if (base)
            event_base_free(base);
        rc = 1;
        goto out;
    }
    sigprocmask(SIG_UNBLOCK, &set, NULL);   /* the hub watches them now; pending ones arrive */
    json_t *ready = fh_hub_ready_json(hub);
    char *line = ready ? json_dumps(ready, JSON_COMPACT) : NULL;
    json_decref(ready);
    if (!line) {
        fputs("fakehub: out of memory\n", stderr);
        fh_hub_free(hub);
        event_base_free(base);
        rc = 1;
        goto out;
    }
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    rc = fh_hub_run(hub);
    /* Shutdown is done: signals arriving from now on (a storm's tail) must
     * not hit the default handlers that freeing the hub's signal events
     * restores. Blocked, they stay pending and die with the process. */
    sigprocmask(SIG_BLOCK, &set, NULL);
    fh_hub_free(hub);
    event_base_free(base);
out:
    for (size_t i = 0; i < nov; i++)
        free((char *)ov[i].key);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(ov);
    free(owned);
    return rc;
}
