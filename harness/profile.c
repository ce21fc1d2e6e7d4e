/* profile.c: hub profile parser and loader (see profile.h). */
#include "harness/profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/scenario.h"

static const char *const placeholders[] = {
    "bin", "dir", "port", "user", "password", "role", "op_suffix", "ready:", NULL};
const char *const hr_client_placeholders[] = {
    "bin", "share", "dir", "name", "nick", "seed", "python", NULL};

char *hr_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap = cap * 2 + 4096);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void hr_profile_free(struct hr_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->argc; i++)
        free(p->argv[i]);
    for (size_t i = 0; i < p->user_argc; i++)
        free(p->user_argv[i]);
    for (size_t i = 0; i < p->nlines; i++) {
        free(p->lines[i].file);
        free(p->lines[i].tmpl);
    }
    for (int k = 0; k < HR_PROTO_COUNT; k++) {
        for (size_t i = 0; i < p->proto_argc[k]; i++)
            free(p->proto_argv[k][i]);
        free(p->proto_argv[k]);
    }
    free(p->argv);
    free(p->user_argv);
    free(p->lines);
    free(p->ready_text);
    for (int i = 0; i < HR_PROTO_COUNT; i++)
        free(p->url[i]);
    free(p->control);
    free(p->trace);
    free(p->known_stop_crash);
    for (size_t i = 0; i < p->nenv; i++) {
        free(p->env[i].name);
        free(p->env[i].tmpl);
    }
    free(p->env);
    for (size_t i = 0; i < p->nsettings; i++) {
        free(p->settings[i].name);
        free(p->settings[i].party_name);
    }
    free(p->settings);
    for (int k = 0; k < 2; k++) {
        struct hr_profile_cmd *cmds = k ? p->teardown : p->setup;
        for (size_t i = 0, n = k ? p->nteardown : p->nsetup; i < n; i++) {
            for (size_t j = 0; j < cmds[i].argc; j++)
                free(cmds[i].argv[j]);
            free(cmds[i].argv);
        }
        free(cmds);
    }
    free(p->log);
    free(p->shutdown_log);
    free(p->path);
    free(p->name);
    free(p);
}

#define FAIL(...) do { hr_error_set(err, path, l->lineno, __VA_ARGS__); goto fail; } while (0)

/* Check a template's placeholders; copy it. */
static char *tmpl_dup(const char *t, enum hr_profile_kind kind, const char *path, int line, struct hr_error *err)
{
    const char *bad = hr_template_check(t, kind == HR_PROFILE_CLIENT ? hr_client_placeholders : placeholders);
    if (bad) {
        const char *close = strchr(bad, '}');
        if (kind == HR_PROFILE_CLIENT)
            hr_error_set(err, path, line, "unknown placeholder %.*s in '%s' (known: {bin} {share} {dir} {name} {nick} {seed} {python})",
                         (int)(close ? close - bad + 1 : 1), bad, t);
        else
            hr_error_set(err, path, line, "unknown placeholder in '%s' (known: {bin} {dir} {port} {user} {password} {role} {op_suffix} {ready:KEY})", t);
        return NULL;
    }
    return strdup(t);
}

static int words_to(char ***argv, size_t *argc, const struct hr_line *l, enum hr_profile_kind kind,
                    const char *path, struct hr_error *err)
{
    *argv = calloc(l->nwords, sizeof **argv);
    if (!*argv)
        return -1;
    for (size_t i = 1; i < l->nwords; i++)
        if (!((*argv)[(*argc)++] = tmpl_dup(l->words[i].text, kind, path, l->lineno, err)))
            return -1;
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcmp(s + n - k, suffix);
}

/* Lines only a hub profile may have, and only a client profile. */
static const char *const hub_only[] = {"protocols", "features", "per-user", "file", "per-user-file", "port", "url",
                                       "control", "trace", "known-stop-crash", NULL};
static const char *const client_only[] = {"caps", "setting", NULL};

static bool in_list(const char *k, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(k, *list))
            return true;
    return false;
}

struct hr_profile *hr_profile_parse(const char *path, const char *buf, size_t len,
                                    struct hr_error *err)
{
    struct hr_line *lines, *l = NULL;
    size_t nl;
    if (hr_lex(path, buf, len, &lines, &nl, err) < 0)
        return NULL;
    struct hr_profile *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->path = strdup(path);
    p->kind = ends_with(path, ".client") ? HR_PROFILE_CLIENT : HR_PROFILE_HUB;
    enum hr_profile_kind kind = p->kind;
    p->stop_signo = 15;
    p->grace_ms = kind == HR_PROFILE_CLIENT ? 5000 : 3000;
    p->ready_ms = 10000;
    p->caps = HR_CAP_CORE;
    for (size_t i = 0; i < nl; i++) {
        l = &lines[i];
        const char *k = l->words[0].text;
        size_t n = l->nwords;
        if (in_list(k, kind == HR_PROFILE_CLIENT ? hub_only : client_only))
            FAIL("'%s' is a line of %s profiles; this is a %s profile", k,
                 kind == HR_PROFILE_CLIENT ? "hub" : "client", kind == HR_PROFILE_CLIENT ? "client" : "hub");
        if (!strcmp(k, "name") && n == 2) {
            free(p->name);
            p->name = hr_template_literal(l->words[1].text);
        } else if (!strcmp(k, "protocols") && n >= 2) {
            for (size_t j = 1; j < n; j++) {
                unsigned b = hr_proto_from_name(l->words[j].text);
                if (!b)
                    FAIL("unknown protocol '%s' (known: nmdc adc nmdcs adcs)", l->words[j].text);
                p->protos |= b;
            }
        } else if (!strcmp(k, "features")) {
            for (size_t j = 1; j < n; j++) {
                unsigned b = hr_feature_from_name(l->words[j].text);
                if (!b)
                    FAIL("unknown feature '%s' (known: hub-control registered-users signals hup quit shutdown-log)", l->words[j].text);
                p->features |= b;
            }
        } else if (!strcmp(k, "command") && n >= 2 && !p->argv) {
            if (words_to(&p->argv, &p->argc, l, kind, path, err) < 0)
                goto fail;
        } else if (!strcmp(k, "per-user") && n >= 2 && !p->user_argv) {
            if (words_to(&p->user_argv, &p->user_argc, l, kind, path, err) < 0)
                goto fail;
        } else if (!strcmp(k, "per-protocol") && n >= 3 && kind == HR_PROFILE_HUB) {
            /* Listeners a run needs only for its protocol: a TLS one costs the
             * hub a certificate and OpenSSL's start, tens of ms per run. */
            unsigned b = hr_proto_from_name(l->words[1].text);
            if (!b)
                FAIL("per-protocol: unknown protocol '%s' (known: nmdc adc nmdcs adcs)", l->words[1].text);
            int ix = hr_proto_index(b);
            if (p->proto_argv[ix])
                FAIL("per-protocol %s given twice", l->words[1].text);
            if (!(p->proto_argv[ix] = calloc(n, sizeof *p->proto_argv[ix])))
                abort();
            for (size_t j = 2; j < n; j++)
                if (!(p->proto_argv[ix][p->proto_argc[ix]++] = tmpl_dup(l->words[j].text, kind, path, l->lineno, err)))
                    goto fail;
        } else if ((!strcmp(k, "file") || !strcmp(k, "per-user-file")) && (n == 3 || n == 2)) {
            if (strchr(l->words[1].text, '/') || l->words[1].text[0] == '.')
                FAIL("file names a file inside the hub's dir, without '/': file uhub.conf \"line\"");
            p->lines = realloc(p->lines, (p->nlines + 1) * sizeof *p->lines);
            if (!p->lines)
                abort();
            struct hr_profile_line *pl = &p->lines[p->nlines++];
            pl->file = strdup(l->words[1].text);
            pl->per_user = k[0] == 'p';
            if (!(pl->tmpl = tmpl_dup(n == 3 ? l->words[2].text : "", kind, path, l->lineno, err)))
                goto fail;
        } else if (!strcmp(k, "port") && n == 2 && !strcmp(l->words[1].text, "pick")) {
            p->pick_port = true;
        } else if (!strcmp(k, "ready") && n >= 2) {
            const char *r = l->words[1].text;
            if (kind == HR_PROFILE_CLIENT && (strcmp(r, "line") || n > 3 || (n == 3 && (p->ready_ms = hr_parse_duration(l->words[2].text)) <= 0)))
                FAIL("a client party is ready by its JSON ready line: ready line [TIMEOUT], as in ready line 15s");
            if (kind == HR_PROFILE_CLIENT)
                p->ready = HR_READY_LINE;
            else if (!strcmp(r, "line") && n == 2)
                p->ready = HR_READY_LINE;
            else if (!strcmp(r, "port") && n == 2)
                p->ready = HR_READY_PORT;
            else if (!strcmp(r, "adc-handshake") && n == 2)
                p->ready = HR_READY_ADC_HANDSHAKE;
            else if (!strcmp(r, "log") && n == 3 && (p->ready_text = hr_template_literal(l->words[2].text)))
                p->ready = HR_READY_LOG;
            else
                FAIL("ready is one of: line, port, adc-handshake, log \"TEXT\"");
        } else if (!strcmp(k, "url") && n == 3) {
            unsigned b = hr_proto_from_name(l->words[1].text);
            if (!b)
                FAIL("url PROTOCOL TEMPLATE, as in: url adc \"adc://127.0.0.1:{port}\"");
            char **slot = &p->url[hr_proto_index(b)];
            free(*slot);
            if (!(*slot = tmpl_dup(l->words[2].text, kind, path, l->lineno, err)))
                goto fail;
        } else if ((!strcmp(k, "control") || !strcmp(k, "trace")) && n == 2) {
            char **slot = k[0] == 'c' ? &p->control : &p->trace;
            free(*slot);
            if (!(*slot = tmpl_dup(l->words[1].text, kind, path, l->lineno, err)))
                goto fail;
        } else if (!strcmp(k, "known-stop-crash") && n == 2) {
            free(p->known_stop_crash);
            p->known_stop_crash = hr_template_literal(l->words[1].text);
        } else if (!strcmp(k, "stop") && (n == 2 || n == 3)) {
            if (!(p->stop_signo = hr_signal_from_name(l->words[1].text)) ||
                (n == 3 && (p->grace_ms = hr_parse_duration(l->words[2].text)) < 0))
                FAIL("stop SIGNAL [GRACE], as in: stop TERM 2s");
        } else if (!strcmp(k, "env") && n == 3) {
            p->env = realloc(p->env, (p->nenv + 1) * sizeof *p->env);
            if (!p->env)
                abort();
            struct hr_profile_env *e = &p->env[p->nenv++];
            e->name = hr_template_literal(l->words[1].text);
            e->tmpl = NULL;
            if (!e->name || !*e->name || strchr(e->name, '='))
                FAIL("env NAME VALUE: NAME is a plain variable name, as in env LANG C.UTF-8");
            if (!(e->tmpl = tmpl_dup(l->words[2].text, kind, path, l->lineno, err)))
                goto fail;
        } else if (!strcmp(k, "caps") && n >= 2) {
            for (size_t j = 1; j < n; j++) {
                unsigned b = hr_cap_from_name(l->words[j].text);
                if (!b)
                    FAIL("unknown capability '%s' (known: core share list download resume compress tls passive password live-settings user-fields op control-ext)",
                         l->words[j].text);
                p->caps |= b;
            }
        } else if (!strcmp(k, "setting") && n == 3) {
            char *name = hr_template_literal(l->words[1].text), *to = hr_template_literal(l->words[2].text);
            if (!name || !to || !*name || !*to) {
                free(name);
                free(to);
                FAIL("setting NAME PARTY_NAME|unsupported, as in: setting description desc");
            }
            p->settings = realloc(p->settings, (p->nsettings + 1) * sizeof *p->settings);
            if (!p->settings)
                abort();
            bool unsupported = !strcmp(to, "unsupported");
            p->settings[p->nsettings++] = (struct hr_profile_setting){name, unsupported ? NULL : to};
            if (unsupported)
                free(to);
        } else if (kind == HR_PROFILE_HUB && (!strcmp(k, "setup") || !strcmp(k, "teardown")) && n >= 2) {
            bool setup = k[0] == 's';
            struct hr_profile_cmd **cmds = setup ? &p->setup : &p->teardown;
            size_t *ncmds = setup ? &p->nsetup : &p->nteardown;
            *cmds = realloc(*cmds, (*ncmds + 1) * sizeof **cmds);
            if (!*cmds)
                abort();
            struct hr_profile_cmd *c = &(*cmds)[(*ncmds)++];
            *c = (struct hr_profile_cmd){.line = l->lineno};
            if (words_to(&c->argv, &c->argc, l, kind, path, err) < 0)
                goto fail;
        } else if (kind == HR_PROFILE_HUB && !strcmp(k, "log") && n == 2) {
            free(p->log);
            if (!(p->log = tmpl_dup(l->words[1].text, kind, path, l->lineno, err)))
                goto fail;
        } else if (kind == HR_PROFILE_HUB && !strcmp(k, "shutdown-log") && n == 2) {
            free(p->shutdown_log);
            if (!(p->shutdown_log = hr_template_literal(l->words[1].text)) || !*p->shutdown_log)
                FAIL("shutdown-log \"TEXT\": the line the hub's shutdown hook logs, without placeholders");
            p->features |= HR_FEAT_SHUTDOWN_LOG;
        } else if (kind == HR_PROFILE_CLIENT) {
            FAIL("unknown or malformed client profile line (lines: name, command, ready line [TIMEOUT], caps, stop, setting, env)");
        } else {
            FAIL("unknown or malformed profile line (lines: name, protocols, features, command, per-user, per-protocol, file, per-user-file, port pick, ready, url, control, trace, stop, known-stop-crash, env, setup, teardown, log, shutdown-log)");
        }
    }
    l = NULL;
    if (!p->argv) {
        hr_error_set(err, path, 0, "the profile has no command line");
        goto fail;
    }
    if (kind == HR_PROFILE_CLIENT)
        goto named;
    if (!p->protos) {
        hr_error_set(err, path, 0, "the profile has no protocols line");
        goto fail;
    }
    for (unsigned b = HR_PROTO_NMDC; b <= HR_PROTO_LAST; b <<= 1)
        if ((p->protos & b) && !p->url[hr_proto_index(b)]) {
            hr_error_set(err, path, 0, "protocol %s has no url line", hr_proto_name(b));
            goto fail;
        }
    if ((p->ready == HR_READY_PORT || p->ready == HR_READY_ADC_HANDSHAKE) && !p->pick_port) {
        hr_error_set(err, path, 0, "ready %s needs 'port pick'", p->ready == HR_READY_PORT ? "port" : "adc-handshake");
        goto fail;
    }
    if ((p->features & HR_FEAT_SHUTDOWN_LOG) && !p->shutdown_log) {
        hr_error_set(err, path, 0, "feature shutdown-log needs a 'shutdown-log \"TEXT\"' line");
        goto fail;
    }
    if ((p->features & HR_FEAT_HUB_CONTROL) && !p->control) {
        hr_error_set(err, path, 0, "feature hub-control needs a 'control PATH' line");
        goto fail;
    }
named:
    if (!p->name) {
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        const char *dot = strrchr(b, '.');
        p->name = strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
    }
    hr_lines_free(lines, nl);
    return p;
fail:
    hr_lines_free(lines, nl);
    hr_profile_free(p);
    return NULL;
}

static struct hr_profile *load(const char *name, const char *const *dirs, const char *ext, struct hr_error *err)
{
    const char *what = !strcmp(ext, ".hub") ? "hub" : "client";
    size_t nl = strlen(name);
    char path[4096];
    if (strchr(name, '/') || (nl > strlen(ext) && !strcmp(name + nl - strlen(ext), ext))) {
        snprintf(path, sizeof path, "%s", name);
    } else {
        path[0] = '\0';
        for (const char *const *d = dirs; *d; d++) {
            snprintf(path, sizeof path, "%s/%s%s", *d, name, ext);
            if (access(path, R_OK) == 0)
                break;
            path[0] = '\0';
        }
        if (!path[0]) {
            char where[2048] = "";
            for (const char *const *d = dirs; *d; d++)
                snprintf(where + strlen(where), sizeof where - strlen(where), "%s%s", d == dirs ? "" : ", ", *d);
            hr_error_set(err, name, 0, "no %s profile named %s (looked for %s%s in %s)", what, name, name, ext, where);
            return NULL;
        }
    }
    size_t len;
    char *buf = hr_read_file(path, &len);
    if (!buf) {
        hr_error_set(err, path, 0, "cannot read %s profile: %s", what, strerror(errno));
        return NULL;
    }
    struct hr_profile *p = hr_profile_parse(path, buf, len, err);
    free(buf);
    if (p && p->kind != (!strcmp(ext, ".hub") ? HR_PROFILE_HUB : HR_PROFILE_CLIENT)) {
        hr_error_set(err, path, 0, "this is a %s profile, where a %s profile is needed", p->kind == HR_PROFILE_HUB ? "hub" : "client", what);
        hr_profile_free(p);
        return NULL;
    }
    return p;
}

struct hr_profile *hr_profile_load(const char *name, const char *const *dirs, struct hr_error *err)
{
    return load(name, dirs, ".hub", err);
}

struct hr_profile *hr_client_profile_load(const char *name, const char *const *dirs, struct hr_error *err)
{
    return load(name, dirs, ".client", err);
}

const struct hr_profile_setting *hr_profile_setting(const struct hr_profile *p, const char *name)
{
    for (size_t i = 0; p && i < p->nsettings; i++)
        if (!strcmp(p->settings[i].name, name))
            return &p->settings[i];
    return NULL;
}
