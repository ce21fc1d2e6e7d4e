/* main.c: dcclient, a thin executable over libdcclient: command-line options,
 * signals and the event loop. All behaviour is in the library (control.c
 * for the JSON-lines protocol, client.c and friends for the hub session).
 *
 * The options mirror the settings table: --nick, --password, --description,
 * --email, --data-dir, --reconnect write the setting of that name, and
 * --set name=value reaches any setting. --share DIR (repeatable) shares a
 * directory. --hub URL connects at start;
 * --control-socket PATH adds a Unix socket for more controllers. SIGTERM,
 * SIGINT and EOF on stdin leave the hub cleanly and exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "client/control.h"
#include "client/dcc.h"

enum opt_kind { OPT_SETTING, OPT_HUB, OPT_SET, OPT_SOCKET, OPT_SHARE, OPT_HELP, OPT_VERSION };

#define MAX_SHARES 32

/* Options: name, kind, setting written, value for flags (NULL: takes an
 * argument), argument name, help (NULL: the setting's description). */
static const struct dcc_opt {
    const char *name;
    enum opt_kind kind;
    const char *setting;
    const char *flag_value;
    const char *arg;
    const char *help;
} dcc_opts[] = {
    {"nick", OPT_SETTING, "nick", NULL, "NICK", NULL},
    {"password", OPT_SETTING, "password", NULL, "PASSWORD", NULL},
    {"description", OPT_SETTING, "description", NULL, "TEXT", NULL},
    {"email", OPT_SETTING, "email", NULL, "ADDRESS", NULL},
    {"data-dir", OPT_SETTING, "data_dir", NULL, "DIR", NULL},
    {"reconnect", OPT_SETTING, "reconnect", "true", NULL, NULL},
    {"set", OPT_SET, NULL, NULL, "NAME=VALUE", "set any setting (see the list below)"},
    {"hub", OPT_HUB, NULL, NULL, "URL", "connect to this hub at start (dchub://, nmdc://, adc://)"},
    {"share", OPT_SHARE, NULL, NULL, "DIR", "share this directory (repeatable; hashed in the background)"},
    {"control-socket", OPT_SOCKET, NULL, NULL, "PATH", "also accept controllers on this Unix socket"},
    {"help", OPT_HELP, NULL, NULL, NULL, "show this help"},
    {"version", OPT_VERSION, NULL, NULL, NULL, "print the version"},
};
#define N_OPTS (sizeof dcc_opts / sizeof dcc_opts[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: dcclient [options]\n"
               "Direct Connect client driven by JSON lines on stdin/stdout "
               "(docs/control-protocol.md).\n\noptions:\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct dcc_opt *o = &dcc_opts[i];
        const char *help = o->help ? o->help : dcc_setting_find(o->setting)->description;
        fprintf(f, "  --%s%s%-*s %s\n", o->name, o->arg ? " " : "", (int)(24 - strlen(o->name)),
                o->arg ? o->arg : "", help);
    }
    fprintf(f, "\nsettings (--set NAME=VALUE, control commands get/set):\n");
    for (size_t i = 0; i < dcc_setting_count(); i++) {
        const struct dcc_setting_info *s = dcc_setting_at(i);
        fprintf(f, "  %-20s %-6s default '%s': %s\n", s->name, dcc_type_name(s->type), s->def, s->description);
    }
}

static void quit_cb(void *ctx)
{
    event_base_loopexit(ctx, NULL);
}

struct sig_ctx {
    struct dcc_ctl *ctl;       /* borrowed */
    struct event_base *base;   /* borrowed */
    int count;
};

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct sig_ctx *s = arg;
    (void)sig;
    (void)what;
    /* The first signal leaves the hub cleanly; a second one does not wait. */
    if (s->count++)
        event_base_loopexit(s->base, NULL);
    else
        dcc_ctl_quit(s->ctl);
}

/* Apply one option; returns 0, 1 (exit 0 now) or -1 (usage error). */
/* Shares are applied after all options, so --data-dir (the hash cache) counts
 * wherever it appears. */
struct shares {
    const char *dir[MAX_SHARES];
    int n;
};

static int apply_option(struct dcc_ctl *ctl, const struct dcc_opt *o, const char *arg, const char **hub,
                        const char **sock, struct shares *sh, char *err)
{
    struct dcc_client *c = dcc_ctl_client(ctl);
    switch (o->kind) {
    case OPT_SETTING:
        return dcc_client_set_text(c, o->setting, o->flag_value ? o->flag_value : arg, err);
    case OPT_SET: {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg) {
            snprintf(err, DCC_ERR_LEN, "--set needs NAME=VALUE, got '%s'", arg);
            return -1;
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
        return dcc_client_set_text(c, name, eq + 1, err);
    }
    case OPT_HUB: {
        struct dcc_url u;
        *hub = arg;
        return dcc_url_parse(arg, &u, err);
    }
    case OPT_SOCKET:
        *sock = arg;
        return 0;
    case OPT_SHARE:
        if (sh->n == MAX_SHARES) {
            snprintf(err, DCC_ERR_LEN, "at most %d --share options", MAX_SHARES);
            return -1;
        }
        sh->dir[sh->n++] = arg;
        return 0;
    case OPT_HELP:
        usage(stdout);
        return 1;
    case OPT_VERSION:
        printf("dcclient %s\n", DCC_VERSION);
        return 1;
    }
    return -1;
}

static int parse_args(struct dcc_ctl *ctl, int argc, char **argv, const char **hub, const char **sock,
                      struct shares *sh)
{
    char err[DCC_ERR_LEN] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "dcclient: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        a += 2;
        size_t len = strcspn(a, "=");
        const struct dcc_opt *o = NULL;
        for (size_t k = 0; k < N_OPTS; k++)
            if (strlen(dcc_opts[k].name) == len && strncmp(dcc_opts[k].name, a, len) == 0)
                o = &dcc_opts[k];
        if (!o) {
            fprintf(stderr, "dcclient: unknown option '%s' (see --help)\n", argv[i]);
            return -1;
        }
        if (a[len] == '=')
            val = a + len + 1;
        if (o->arg && !val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "dcclient: --%s needs %s\n", o->name, o->arg);
                return -1;
            }
            val = argv[++i];
        } else if (!o->arg && val) {
            fprintf(stderr, "dcclient: --%s takes no value\n", o->name);
            return -1;
        }
        int rc = apply_option(ctl, o, val, hub, sock, sh, err);
        if (rc < 0)
            fprintf(stderr, "dcclient: --%s: %s\n", o->name, err);
        if (rc)
            return rc;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char err[DCC_ERR_LEN] = "";
    const char *hub = NULL, *sock = NULL;
    int status = 0;
    signal(SIGPIPE, SIG_IGN);   /* a vanished controller is an error return, not death */
    struct event_base *base = event_base_new();
    struct dcc_ctl *ctl = base ? dcc_ctl_new(base, quit_cb, base, err) : NULL;
    if (!ctl) {
        fprintf(stderr, "dcclient: cannot start: %s\n", base ? err : "no event base");
        if (base)
            event_base_free(base);
        return 1;
    }
    struct sig_ctx sc = {ctl, base, 0};
    struct event *sigterm = evsignal_new(base, SIGTERM, signal_cb, &sc);
    struct event *sigint = evsignal_new(base, SIGINT, signal_cb, &sc);
    struct shares sh = {.n = 0};
    int rc = parse_args(ctl, argc, argv, &hub, &sock, &sh);
    if (rc) {
        status = rc < 0 ? 2 : 0;
        goto out;
    }
    for (int i = 0; i < sh.n; i++) {
        if (dcc_client_share(dcc_ctl_client(ctl), sh.dir[i], err) < 0) {
            fprintf(stderr, "dcclient: --share: %s\n", err);
            status = 2;
            goto out;
        }
    }
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
        fprintf(stderr, "dcclient: cannot install signal handlers\n");
        status = 1;
        goto out;
    }
    if (sock && dcc_ctl_listen(ctl, sock, err) < 0) {
        fprintf(stderr, "dcclient: %s\n", err);
        status = 1;
        goto out;
    }
    if (dcc_ctl_stdio(ctl, 0, 1, err) < 0) {
        fprintf(stderr, "dcclient: stdio control channel: %s\n", err);
        status = 1;
        goto out;
    }
    if (hub && dcc_ctl_connect(ctl, hub, err) < 0)
        fprintf(stderr, "dcclient: --hub %s: %s\n", hub, err);
    event_base_dispatch(base);
out:
    dcc_ctl_free(ctl);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    event_base_free(base);
    return status;
}
