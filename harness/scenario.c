/* scenario.c: parser of the scenario language (grammar in docs/scenarios.md).
 *
 * Each line is a header (scenario, protocols, timeout, needs, client, hub
 * profile, hub user) or a step `[nmdc:|adc:] ACTOR VERB ARGS... [fails TEXT...] [within D]`.
 * Client verbs that are sugar (connect, say, pm, ...) become REQUEST steps
 * with named arguments, so the runner knows one request path only.
 */
#include "harness/scenario.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/hublog.h"
#include "proto/buf.h"

const char *const hr_scenario_placeholders[] = {
    "hub_url", "hub_host", "hub_port", "proto", "scheme", "tls", "dir", "nick", "password", "shutdown_log", NULL};

static const struct { const char *name; unsigned bit; } features[] = {
    {"hub-control", HR_FEAT_HUB_CONTROL},
    {"registered-users", HR_FEAT_REGISTERED_USERS},
    {"signals", HR_FEAT_SIGNALS},
    {"hup", HR_FEAT_HUP},
    {"quit", HR_FEAT_QUIT},
    {"shutdown-log", HR_FEAT_SHUTDOWN_LOG},
};

static const struct { const char *name; unsigned bit; } caps[] = {
    {"core", HR_CAP_CORE}, {"share", HR_CAP_SHARE}, {"list", HR_CAP_LIST},
    {"download", HR_CAP_DOWNLOAD}, {"resume", HR_CAP_RESUME}, {"compress", HR_CAP_COMPRESS},
    {"tls", HR_CAP_TLS}, {"passive", HR_CAP_PASSIVE}, {"password", HR_CAP_PASSWORD},
    {"live-settings", HR_CAP_LIVE_SETTINGS}, {"user-fields", HR_CAP_USER_FIELDS}, {"op", HR_CAP_OP},
    {"control-ext", HR_CAP_CONTROL_EXT}, {"faults", HR_CAP_FAULTS},
    {"non-bmp", HR_CAP_NON_BMP},
};

static const char *const hr_proto_names[HR_PROTO_COUNT] = {"nmdc", "adc", "nmdcs", "adcs"};

unsigned hr_proto_from_name(const char *name)
{
    for (int i = 0; i < HR_PROTO_COUNT; i++)
        if (strcmp(name, hr_proto_names[i]) == 0)
            return 1u << i;
    return 0;
}

int hr_proto_index(unsigned proto)
{
    for (int i = 0; i < HR_PROTO_COUNT; i++)
        if (proto == 1u << i)
            return i;
    return 0;
}

const char *hr_proto_name(unsigned proto)
{
    for (int i = 0; i < HR_PROTO_COUNT; i++)
        if (proto == 1u << i)
            return hr_proto_names[i];
    return "?";
}

unsigned hr_proto_base(unsigned proto)
{
    return proto == HR_PROTO_NMDCS ? HR_PROTO_NMDC : proto == HR_PROTO_ADCS ? HR_PROTO_ADC : proto;
}

unsigned hr_proto_runs(unsigned protos)
{
    return protos | (protos & HR_PROTO_NMDC ? HR_PROTO_NMDCS : 0) | (protos & HR_PROTO_ADC ? HR_PROTO_ADCS : 0);
}

unsigned hr_feature_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        if (strcmp(name, features[i].name) == 0)
            return features[i].bit;
    return 0;
}

const char *hr_feature_names(unsigned mask, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        if (mask & features[i].bit) {
            int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", features[i].name);
            if (n < 0 || (size_t)n >= len - used)
                break;
            used += (size_t)n;
        }
    return buf;
}

unsigned hr_cap_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++)
        if (strcmp(name, caps[i].name) == 0)
            return caps[i].bit;
    return 0;
}

const char *hr_cap_names(unsigned mask, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++)
        if (mask & caps[i].bit) {
            int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", caps[i].name);
            if (n < 0 || (size_t)n >= len - used)
                break;
            used += (size_t)n;
        }
    return buf;
}

static void args_free(struct hr_arg *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].key);
        free(a[i].value);
    }
    free(a);
}

void hr_scenario_free(struct hr_scenario *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nclients; i++) {
        free(s->clients[i].name);
        free(s->clients[i].profile);
        free(s->clients[i].nick);
        free(s->clients[i].password);
        args_free(s->clients[i].sets, s->clients[i].nsets);
    }
    for (size_t i = 0; i < s->nusers; i++) {
        free(s->users[i].nick);
        free(s->users[i].password);
    }
    for (size_t i = 0; i < s->nsteps; i++) {
        struct hr_step *st = &s->steps[i];
        free(st->text);
        free(st->name);
        args_free(st->args, st->nargs);
        for (size_t j = 0; j < st->nmatch; j++) {
            free(st->match[j].field);
            free(st->match[j].value);
        }
        free(st->match);
        for (size_t j = 0; j < st->nfail_texts; j++)
            free(st->fail_texts[j]);
        free(st->fail_texts);
        for (size_t j = 0; j < st->nfail_codes; j++)
            free(st->fail_codes[j]);
        free(st->fail_codes);
        free(st->pattern);
    }
    free(s->clients);
    free(s->users);
    free(s->steps);
    free(s->path);
    free(s->name);
    free(s->hub);
    free(s);
}

/* Parsing context for one file. Borrows path; the scenario is owned by the caller. */
struct parser {
    const char *path;
    struct hr_line *line;
    struct hr_error *err;
    struct hr_scenario *s;
    bool seen_name, seen_protos, seen_timeout;
};

#define FAIL(P, ...) do { hr_error_set((P)->err, (P)->path, (P)->line->lineno, __VA_ARGS__); return -1; } while (0)

/* Bare keyword test: unquoted, no key=value, equal to kw. */
static bool is_kw(const struct hr_word *w, const char *kw)
{
    return !w->quoted && !w->op && strcmp(w->text, kw) == 0;
}

/* A word used as a plain literal (name, number, keyword argument). */
static int literal(struct parser *p, const struct hr_word *w, const char *what, char **out)
{
    *out = hr_template_literal(w->text);
    if (!*out)
        FAIL(p, "%s cannot contain a placeholder: '%s'", what, w->text);
    return 0;
}

static int check_placeholders(struct parser *p, const char *tmpl)
{
    const char *bad = hr_template_check(tmpl, hr_scenario_placeholders);
    if (bad) {
        const char *close = strchr(bad, '}');
        FAIL(p, "unknown placeholder %.*s (known: {hub_url} {hub_host} {hub_port} {proto} {scheme} {tls} {dir} {nick} {password} {shutdown_log}; write \\{ in double quotes for a literal brace)",
             (int)(close - bad + 1), bad);
    }
    return 0;
}

static void *grow(void *arr, size_t n, size_t size)
{
    void *r = realloc(arr, (n + 1) * size);
    if (!r)
        abort();   /* out of memory while parsing a small text file: nothing sensible left to do */
    memset((char *)r + n * size, 0, size);
    return r;
}

static bool looks_json_scalar(const char *t)
{
    if (!strcmp(t, "true") || !strcmp(t, "false") || !strcmp(t, "null"))
        return true;
    char *e;
    if (!*t || !(isdigit((unsigned char)*t) || *t == '-'))
        return false;
    (void)strtod(t, &e);
    return *e == '\0';
}

/* Add a key=value word as a request argument. */
static int add_arg(struct parser *p, struct hr_arg **args, size_t *n, const char *key,
                   const struct hr_word *w, const char *value_tmpl)
{
    if (check_placeholders(p, value_tmpl) < 0)
        return -1;
    *args = grow(*args, *n, sizeof **args);
    struct hr_arg *a = &(*args)[(*n)++];
    a->key = strdup(key);
    a->value = strdup(value_tmpl);
    a->json = w && !w->quoted && looks_json_scalar(value_tmpl);
    return 0;
}

static int kv_arg(struct parser *p, struct hr_arg **args, size_t *n, const struct hr_word *w)
{
    if (w->op != '=')
        FAIL(p, "'%s': request arguments are written key=value", w->text);
    char *key = strndup(w->text, w->key_len);
    int r = add_arg(p, args, n, key, w, w->text + w->key_len + 1);
    free(key);
    return r;
}

static int parse_client(struct parser *p)
{
    struct hr_line *l = p->line;
    struct hr_scenario *s = p->s;
    if (l->nwords < 2 || l->words[1].op || l->words[1].quoted)
        FAIL(p, "client needs a name: client alice [password=secret] [description=\"...\"]");
    const char *name = l->words[1].text;
    for (const char *c = name; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_' || *c == '-'))
            FAIL(p, "client name '%s' may only hold letters, digits, '_' and '-' (set nick=\"...\" for any other nick)", name);
    if (!strcmp(name, "hub") || !strcmp(name, "fixture") || !strcmp(name, "wait") || !strcmp(name, "load") || !strcmp(name, "nmdc:") || !strcmp(name, "adc:"))
        FAIL(p, "'%s' is reserved and cannot name a client", name);
    for (size_t i = 0; i < s->nclients; i++)
        if (!strcmp(s->clients[i].name, name))
            FAIL(p, "client %s is already declared", name);
    if (s->nclients >= HR_MAX_CLIENTS)
        FAIL(p, "at most %d clients per scenario", HR_MAX_CLIENTS);
    s->clients = grow(s->clients, s->nclients, sizeof *s->clients);
    struct hr_client *c = &s->clients[s->nclients++];
    c->name = strdup(name);
    c->line = l->lineno;
    for (size_t i = 2; i < l->nwords; i++) {
        struct hr_word *w = &l->words[i];
        if (w->op != '=')
            FAIL(p, "client options are written key=value, as in password=secret; got '%s'", w->text);
        const char *v = w->text + w->key_len + 1;
        if (check_placeholders(p, v) < 0)
            return -1;
        if (!strncmp(w->text, "nick", w->key_len) && w->key_len == 4) {
            free(c->nick);
            c->nick = strdup(v);
        } else if (!strncmp(w->text, "password", w->key_len) && w->key_len == 8) {
            free(c->password);
            c->password = strdup(v);
        } else if (!strncmp(w->text, "profile", w->key_len) && w->key_len == 7) {
            free(c->profile);
            if (!(c->profile = hr_template_literal(v)) || !*c->profile)
                FAIL(p, "profile= names a client profile (dcclient, eiskaltdcpp, or a .client file), without placeholders");
        } else if (!strncmp(w->text, "source", w->key_len) && w->key_len == 6) {
            /* The address the client's hub connection comes from: its
             * source_address setting, kept on loopback. */
            struct in_addr a;
            if (inet_pton(AF_INET, v, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
                FAIL(p, "source=%s: write an address in 127.0.0.0/8, as in source=127.0.0.3", v);
            if (add_arg(p, &c->sets, &c->nsets, "source_address", w, v) < 0)
                return -1;
        } else if (kv_arg(p, &c->sets, &c->nsets, w) < 0) {
            return -1;
        }
    }
    if (!c->nick)
        c->nick = strdup(name);
    return 0;
}

static int parse_header(struct parser *p, bool *handled)
{
    struct hr_line *l = p->line;
    struct hr_scenario *s = p->s;
    const struct hr_word *w0 = &l->words[0];
    *handled = true;
    if (is_kw(w0, "scenario")) {
        if (p->seen_name)
            FAIL(p, "the scenario is already named");
        if (l->nwords != 2)
            FAIL(p, "write the name as one word or in quotes: scenario \"Alice and Bob\"");
        if (literal(p, &l->words[1], "the scenario name", &s->name) < 0)
            return -1;
        p->seen_name = true;
    } else if (is_kw(w0, "protocols")) {
        if (p->seen_protos)
            FAIL(p, "protocols are already declared");
        if (l->nwords < 2)
            FAIL(p, "protocols needs at least one of: nmdc adc (their TLS variants nmdcs adcs follow; or name those alone)");
        s->protos = 0;
        for (size_t i = 1; i < l->nwords; i++) {
            unsigned b = hr_proto_from_name(l->words[i].text);
            if (!b)
                FAIL(p, "unknown protocol '%s' (known: nmdc adc nmdcs adcs)", l->words[i].text);
            s->protos |= b;
        }
        p->seen_protos = true;
    } else if (is_kw(w0, "timeout")) {
        if (p->seen_timeout)
            FAIL(p, "the timeout is already set");
        if (l->nwords != 2 || (s->timeout_ms = hr_parse_duration(l->words[1].text)) <= 0)
            FAIL(p, "timeout needs one duration, as in: timeout 20s (units: ms, s)");
        p->seen_timeout = true;
    } else if (is_kw(w0, "strict")) {
        if (l->nwords != 1)
            FAIL(p, "strict takes no arguments: the run fails on any protocol violation the hub reports");
        s->strict = true;
    } else if (is_kw(w0, "needs")) {
        if (l->nwords < 2)
            FAIL(p, "needs takes feature names: hub-control registered-users signals hup quit shutdown-log, or client capabilities cap:NAME");
        for (size_t i = 1; i < l->nwords; i++) {
            if (!strncmp(l->words[i].text, "cap:", 4)) {
                unsigned c = hr_cap_from_name(l->words[i].text + 4);
                if (!c)
                    FAIL(p, "unknown capability '%s' (known: core share list download resume compress tls passive password live-settings user-fields op control-ext)",
                         l->words[i].text + 4);
                s->needs_caps |= c;
                continue;
            }
            unsigned b = hr_feature_from_name(l->words[i].text);
            if (!b)
                FAIL(p, "unknown feature '%s' (known: hub-control registered-users signals hup quit shutdown-log; client capabilities: cap:NAME)", l->words[i].text);
            s->needs |= b;
        }
    } else if (is_kw(w0, "client")) {
        return parse_client(p);
    } else if (is_kw(w0, "hub") && l->nwords >= 2 && is_kw(&l->words[1], "profile")) {
        if (s->hub)
            FAIL(p, "the hub profile is already chosen");
        if (l->nwords != 3)
            FAIL(p, "write: hub profile NAME (fakehub, uhub, or a .hub file)");
        if (literal(p, &l->words[2], "a hub profile name", &s->hub) < 0)
            return -1;
        s->hub_line = l->lineno;
    } else if (is_kw(w0, "hub") && l->nwords >= 2 && is_kw(&l->words[1], "user")) {
        if (l->nwords < 4 || l->nwords > 5 || (l->nwords == 5 && !is_kw(&l->words[4], "op")))
            FAIL(p, "write: hub user NICK PASSWORD [op]");
        s->users = grow(s->users, s->nusers, sizeof *s->users);
        struct hr_user *u = &s->users[s->nusers++];
        u->op = l->nwords == 5;
        if (literal(p, &l->words[2], "a registered nick", &u->nick) < 0 ||
            literal(p, &l->words[3], "a registered password", &u->password) < 0)
            return -1;
        s->needs |= HR_FEAT_REGISTERED_USERS;
    } else {
        *handled = false;
    }
    return 0;
}

/* Request sugar: verb -> (command, positional argument names). */
static const struct {
    const char *verb, *cmd;
    const char *pos[2];
    int min, max;
} sugar[] = {
    {"connect", "connect", {"url"}, 0, 1},
    {"say", "say", {"text"}, 1, 1},
    {"pm", "pm", {"nick", "text"}, 2, 2},
    {"disconnect", "disconnect", {NULL}, 0, 0},
    {"set", "set", {"name", "value"}, 2, 2},
    {"users", "users", {NULL}, 0, 0},
    {"quit", "quit", {NULL}, 0, 0},
};

#define HUB_VERBS "request expect signal exits kill fault stop log load"

/* The step being parsed: the words from `i` on are the verb's to take. */
struct step_ctx {
    struct hr_line *l;
    const struct hr_word *aw;   /* the actor word */
    const char *verb;
    size_t i, n;
    struct hr_step *st;
    bool is_request, takes_kv;  /* may end in `fails ...`; takes key=value words */
    int sugar;                  /* index into sugar[] for sugar verbs */
};

static int parse_sugar(struct parser *p, struct step_ctx *c)
{
    struct hr_line *l = c->l;
    struct hr_step *st = c->st;
    int sg = c->sugar;
    if (st->actor == HR_ACTOR_HUB)
        FAIL(p, "the hub cannot %s; hub verbs: " HUB_VERBS, c->verb);
    st->kind = HR_STEP_REQUEST;
    st->name = strdup(sugar[sg].cmd);
    c->is_request = true;
    int np = 0;
    for (; c->i < c->n && np < sugar[sg].max && !l->words[c->i].op; c->i++, np++) {
        if ((is_kw(&l->words[c->i], "fails") || is_kw(&l->words[c->i], "within")) && np >= sugar[sg].min)
            break;
        if (add_arg(p, &st->args, &st->nargs, sugar[sg].pos[np], &l->words[c->i], l->words[c->i].text) < 0)
            return -1;
    }
    if (np < sugar[sg].min)
        FAIL(p, "%s needs %d argument%s: %s %s%s%s", c->verb, sugar[sg].min, sugar[sg].min > 1 ? "s" : "",
             c->verb, sugar[sg].pos[0], sugar[sg].pos[1] ? " " : "", sugar[sg].pos[1] ? sugar[sg].pos[1] : "");
    if (!strcmp(c->verb, "connect")) {
        /* connect fills in what the client declaration says. */
        struct hr_client *cl = &p->s->clients[st->actor];
        if (np == 0)
            add_arg(p, &st->args, &st->nargs, "url", NULL, "{hub_url}");
        add_arg(p, &st->args, &st->nargs, "nick", NULL, "{nick}");
        if (cl->password)
            add_arg(p, &st->args, &st->nargs, "password", NULL, "{password}");
    }
    return 0;
}

static int parse_request(struct parser *p, struct step_ctx *c)
{
    if (c->i >= c->n || c->l->words[c->i].op || c->l->words[c->i].quoted)
        FAIL(p, "request needs a command name: %s request CMD [key=value...]", c->aw->text);
    c->st->kind = HR_STEP_REQUEST;
    c->st->name = strdup(c->l->words[c->i++].text);
    c->is_request = c->takes_kv = true;
    return 0;
}

/* "3" -> 3 (1..100000); -1 otherwise. */
static int parse_count(const char *v, int *out)
{
    char *e;
    long n = strtol(v, &e, 10);
    if (!isdigit((unsigned char)*v) || *e || n < 1 || n > 100000)
        return -1;
    *out = (int)n;
    return 0;
}

static int parse_expect(struct parser *p, struct step_ctx *c)
{
    struct hr_step *st = c->st;
    if (c->i >= c->n || c->l->words[c->i].op || c->l->words[c->i].quoted)
        FAIL(p, "expect needs an event name: %s expect EVENT [field=value | field~text ...] [count=N] [never] [within D]", c->aw->text);
    st->kind = HR_STEP_EXPECT;
    st->name = strdup(c->l->words[c->i++].text);
    for (; c->i < c->n && c->l->words[c->i].op; c->i++) {
        const struct hr_word *w = &c->l->words[c->i];
        const char *v = w->text + w->key_len + 1;
        if (w->key_len == 5 && !strncmp(w->text, "count", 5) && w->op == '=') {
            if (parse_count(v, &st->want_count) < 0)
                FAIL(p, "count=N takes a number 1-100000, got '%s'", v);
            continue;
        }
        if (check_placeholders(p, v) < 0)
            return -1;
        st->match = grow(st->match, st->nmatch, sizeof *st->match);
        st->match[st->nmatch].field = strndup(w->text, w->key_len);
        st->match[st->nmatch].value = strdup(v);
        st->match[st->nmatch++].contains = w->op == '~';
    }
    return 0;
}

static int parse_signal(struct parser *p, struct step_ctx *c)
{
    struct hr_step *st = c->st;
    struct hr_word *w = c->l->words;
    st->kind = HR_STEP_SIGNAL;
    st->count = 1;
    if (c->i >= c->n)
        FAIL(p, "signal needs a signal name or number (HUP, QUIT, SEGV, USR2, 15, ...): %s signal HUP [x20] [every 5ms]", c->aw->text);
    if (!(st->signo = hr_signal_from_name(w[c->i].text)))
        FAIL(p, "unknown signal '%s' (write a name such as QUIT, SIGSEGV, USR2, RTMIN+1, or a number 1-64)", w[c->i].text);
    c->i++;
    if (c->i < c->n && w[c->i].text[0] == 'x' && !w[c->i].quoted) {
        char *e;
        long n = strtol(w[c->i].text + 1, &e, 10);
        if (*e || n < 1 || n > 100000)
            FAIL(p, "repeat count is written x20 (1 to 100000), got '%s'", w[c->i].text);
        st->count = (int)n;
        c->i++;
    }
    if (c->i < c->n && is_kw(&w[c->i], "every")) {
        if (c->i + 1 >= c->n || (st->every_ms = hr_parse_duration(w[c->i + 1].text)) <= 0)
            FAIL(p, "every needs a duration, as in: every 5ms");
        c->i += 2;
    }
    if (c->i < c->n && is_kw(&w[c->i], "for")) {
        /* A storm for a time: as many signals as fit, `every` apart. */
        if (!st->every_ms || st->count != 1)
            FAIL(p, "for D goes with every D and without xN: %s signal HUP every 1ms for 2s", c->aw->text);
        if (c->i + 1 >= c->n || (st->for_ms = hr_parse_duration(w[c->i + 1].text)) <= 0)
            FAIL(p, "for needs a duration, as in: every 1ms for 2s");
        long n = st->for_ms / st->every_ms;
        if (n < 1 || n > 1000000)
            FAIL(p, "every %ldms for %ldms is %ld signals; between 1 and 1000000 fit", st->every_ms, st->for_ms, n);
        st->count = (int)n;
        c->i += 2;
    }
    return 0;
}

static int parse_exits(struct parser *p, struct step_ctx *c)
{
    struct hr_word *w = c->l->words;
    c->st->kind = HR_STEP_EXIT;
    if (c->i < c->n && !is_kw(&w[c->i], "within")) {
        char *e;
        if (is_kw(&w[c->i], "any")) {
            c->st->status = -1;
        } else {
            long v = strtol(w[c->i].text, &e, 10);
            if (*e || e == w[c->i].text || v < 0 || v > 255)
                FAIL(p, "exits takes an exit status 0-255 or 'any', got '%s'", w[c->i].text);
            c->st->status = (int)v;
        }
        c->i++;
    }
    return 0;
}

/* hub fault FIELD... : key=value words (text~PART too) and bare fields. */
static int parse_fault(struct parser *p, struct step_ctx *c)
{
    struct hr_step *st = c->st;
    if (st->actor != HR_ACTOR_HUB)
        FAIL(p, "only the hub takes fault rules: hub fault delay=2s cmd=pm ...");
    st->kind = HR_STEP_FAULT;
    st->name = strdup("fault");
    c->is_request = true;
    for (; c->i < c->n; c->i++) {
        const struct hr_word *w = &c->l->words[c->i];
        if (is_kw(w, "fails") || is_kw(w, "within"))
            break;
        if (w->op) {
            char *key = strndup(w->text, w->key_len);
            int rc = add_arg(p, &st->args, &st->nargs, key, w, w->text + w->key_len + 1);
            free(key);
            if (rc < 0)
                return -1;
        } else if (w->quoted) {
            FAIL(p, "hub fault: '%s' is not a field (fields are key=value or a bare name such as drop)", w->text);
        } else {
            if (add_arg(p, &st->args, &st->nargs, w->text, NULL, "") < 0)
                return -1;
            st->args[st->nargs - 1].bare = true;
        }
    }
    if (!st->nargs)
        FAIL(p, "hub fault needs a rule: hub fault drop cmd=pm from=alice count=1 (docs/fakehub.md, \"Fault rules\")");
    return 0;
}

static int parse_kill(struct parser *p, struct step_ctx *c)
{
    (void)p;
    c->st->kind = HR_STEP_KILL;
    return 0;
}

static int hub_only(struct parser *p, struct step_ctx *c)
{
    if (c->st->actor != HR_ACTOR_HUB)
        FAIL(p, "%s is a hub verb: hub %s ...", c->verb, c->verb);
    return 0;
}

static int parse_stop(struct parser *p, struct step_ctx *c)
{
    c->st->kind = HR_STEP_STOP;
    return hub_only(p, c);
}

/* hub log expect [regex] TEXT [count=N] | hub log never [regex] TEXT */
static int parse_log(struct parser *p, struct step_ctx *c)
{
    struct hr_step *st = c->st;
    struct hr_word *w = c->l->words;
    st->kind = HR_STEP_LOG;
    if (hub_only(p, c) < 0)
        return -1;
    if (c->i < c->n && (is_kw(&w[c->i], "expect") || is_kw(&w[c->i], "never")))
        st->never = w[c->i++].text[0] == 'n';
    else
        FAIL(p, "write: hub log expect [regex] TEXT [count=N] [within D], or hub log never [regex] TEXT");
    if (c->i < c->n && is_kw(&w[c->i], "regex") && c->i + 1 < c->n) {
        st->regex = true;
        c->i++;
    }
    if (c->i >= c->n || w[c->i].op)
        FAIL(p, "hub log %s needs the text to look for (in double quotes if it has blanks)", st->never ? "never" : "expect");
    if (check_placeholders(p, w[c->i].text) < 0)
        return -1;
    st->pattern = strdup(w[c->i++].text);
    if (strstr(st->pattern, "{shutdown_log}"))
        p->s->needs |= HR_FEAT_SHUTDOWN_LOG;
    char *lit = hr_template_literal(st->pattern);
    if (lit && st->regex) {   /* without placeholders: compile it now, so a bad one fails here */
        struct hr_logpat lp;
        char why[256];
        int rc = hr_logpat_compile(&lp, lit, true, why, sizeof why);
        free(lit);
        if (rc < 0)
            FAIL(p, "the regular expression does not compile: %s", why);
        hr_logpat_free(&lp);
    } else {
        free(lit);
    }
    if (c->i < c->n && w[c->i].op == '=' && w[c->i].key_len == 5 && !strncmp(w[c->i].text, "count", 5)) {
        if (st->never || parse_count(w[c->i].text + 6, &st->want_count) < 0)
            FAIL(p, "count=N takes a number 1-100000 (with hub log expect), got '%s'", w[c->i].text + 6);
        c->i++;
    }
    if (st->never && c->i < c->n && is_kw(&w[c->i], "within"))
        FAIL(p, "hub log never is checked now and again at the end; it takes no within");
    return 0;
}

/* hub load users=N [rate=R] [for=D] | hub load wait | hub load expect CHECKS */
static int parse_load(struct parser *p, struct step_ctx *c)
{
    struct hr_step *st = c->st;
    struct hr_word *w = c->l->words;
    if (hub_only(p, c) < 0)
        return -1;
    if (c->i < c->n && is_kw(&w[c->i], "wait")) {
        st->kind = HR_STEP_LOAD_WAIT;
        c->i++;
        return 0;
    }
    bool expect = c->i < c->n && is_kw(&w[c->i], "expect");
    st->kind = expect ? HR_STEP_LOAD_EXPECT : HR_STEP_LOAD;
    c->i += expect;
    st->load = (struct hr_load){.users = 0, .rate = 10, .for_ms = 5000};
    st->check = (struct hr_load_check){-1, -1, -1};
    for (; c->i < c->n && w[c->i].op == '='; c->i++) {
        char key[32], *e;
        snprintf(key, sizeof key, "%.*s", (int)w[c->i].key_len, w[c->i].text);
        const char *v = w[c->i].text + w[c->i].key_len + 1;
        double d = strtod(v, &e);
        bool num = isdigit((unsigned char)*v) && !*e && d >= 0;
        if (!expect && !strcmp(key, "users") && num && d >= 1 && d <= 1000 && d == (int)d)
            st->load.users = (int)d;
        else if (!expect && !strcmp(key, "rate") && num && d > 0 && d <= 1000)
            st->load.rate = d;
        else if (!expect && !strcmp(key, "for") && (st->load.for_ms = hr_parse_duration(v)) > 0)
            ;
        else if (expect && !strcmp(key, "max_lost") && num && d == (long)d)
            st->check.max_lost = (long)d;
        else if (expect && !strcmp(key, "min_delivered") && num && d == (long)d)
            st->check.min_delivered = (long)d;
        else if (expect && !strcmp(key, "max_p99") && (st->check.max_p99_ms = hr_parse_duration(v)) >= 0)
            ;
        else if (expect)
            FAIL(p, "hub load expect takes max_lost=N min_delivered=N max_p99=DURATION; got '%s'", w[c->i].text);
        else
            FAIL(p, "hub load takes users=N (1-1000) rate=R (messages a second per user, up to 1000) for=DURATION; got '%s'", w[c->i].text);
    }
    if (!expect && !st->load.users)
        FAIL(p, "hub load needs users=N, as in: hub load users=10 rate=20 for=5s");
    if (expect && st->check.max_lost < 0 && st->check.min_delivered < 0 && st->check.max_p99_ms < 0)
        FAIL(p, "hub load expect needs a check: max_lost=N min_delivered=N max_p99=DURATION");
    return 0;
}

/* The step verbs: verb -> parser of its words (the runner's handlers are
 * in steps.c, by kind). Sugar verbs (connect, say, ...) come first. */
static const struct {
    const char *verb;
    int (*parse)(struct parser *p, struct step_ctx *c);
} verbs[] = {
    {"request", parse_request},
    {"expect", parse_expect},
    {"signal", parse_signal},
    {"exits", parse_exits},
    {"kill", parse_kill},
    {"fault", parse_fault},
    {"stop", parse_stop},
    {"log", parse_log},
    {"load", parse_load},
};

/* fixture file PATH [size=N] [seed=S] [text=true] | fixture dir PATH: files
 * the harness writes itself (proto/fixture.h, the bytes of dcclient's
 * mkfile), so that any party can share them. */
static int parse_fixture(struct parser *p, struct hr_step *st, size_t i)
{
    struct hr_line *l = p->line;
    size_t n = l->nwords;
    const struct hr_word *vw = &l->words[i++];
    bool file = is_kw(vw, "file");
    if (!file && !is_kw(vw, "dir"))
        FAIL(p, "write: fixture file PATH [size=N] [seed=S] [text=true], or fixture dir PATH");
    if (i >= n || l->words[i].op)
        FAIL(p, "fixture %s needs a path, as in: fixture %s \"{dir}/share/one.bin\"", vw->text, vw->text);
    st->kind = HR_STEP_FIXTURE;
    st->name = strdup(vw->text);
    if (add_arg(p, &st->args, &st->nargs, "path", &l->words[i], l->words[i].text) < 0)
        return -1;
    for (i++; i < n; i++) {
        const struct hr_word *w = &l->words[i];
        const char *v = w->text + w->key_len + 1;
        char *e;
        bool size = w->key_len == 4 && !strncmp(w->text, "size", 4), seed = w->key_len == 4 && !strncmp(w->text, "seed", 4);
        bool text = w->key_len == 4 && !strncmp(w->text, "text", 4);
        if (!file || w->op != '=' || !(size || seed || text))
            FAIL(p, "unexpected '%s' (fixture file PATH takes size=N seed=S text=true; fixture dir PATH nothing)", w->text);
        if ((size || seed) && (!*v || strtoull(v, &e, 10) == ULLONG_MAX || *e || *v == '-'))
            FAIL(p, "%.*s= takes a number, not '%s'", (int)w->key_len, w->text, v);
        if (text && strcmp(v, "true") && strcmp(v, "false"))
            FAIL(p, "text= is true or false, not '%s'", v);
        if (kv_arg(p, &st->args, &st->nargs, w) < 0)
            return -1;
    }
    return 0;
}

static int parse_step(struct parser *p)
{
    struct hr_line *l = p->line;
    struct hr_scenario *s = p->s;
    size_t i = 0, n = l->nwords;
    /* nmdc:/adc: limit a step to a protocol, over TLS or not; nmdcs:/adcs:
     * to its TLS variant alone. */
    unsigned protos = HR_PROTO_ANY;
    if (is_kw(&l->words[0], "nmdc:") || is_kw(&l->words[0], "adc:")) {
        protos = hr_proto_runs(l->words[0].text[0] == 'n' ? HR_PROTO_NMDC : HR_PROTO_ADC);
        i++;
    } else if (is_kw(&l->words[0], "nmdcs:") || is_kw(&l->words[0], "adcs:")) {
        protos = l->words[0].text[0] == 'n' ? HR_PROTO_NMDCS : HR_PROTO_ADCS;
        i++;
    }
    if (n - i == 2 && is_kw(&l->words[i], "wait")) {
        /* wait D: no actor; everything keeps running meanwhile. */
        s->steps = grow(s->steps, s->nsteps, sizeof *s->steps);
        struct hr_step *st = &s->steps[s->nsteps++];
        *st = (struct hr_step){.line = l->lineno, .text = strdup(l->raw), .protos = protos,
                               .actor = HR_ACTOR_HUB, .kind = HR_STEP_WAIT};
        if ((st->wait_ms = hr_parse_duration(l->words[i + 1].text)) <= 0)
            FAIL(p, "wait needs a duration, as in: wait 3s");
        return 0;
    }
    if (n - i < 2)
        FAIL(p, "a step is ACTOR VERB ...; e.g. alice say hello, hub signal TERM (or a header: scenario, protocols, timeout, needs, client, hub profile, hub user)");
    const struct hr_word *aw = &l->words[i++];
    int actor = HR_ACTOR_HUB;
    if (is_kw(aw, "fixture")) {
        s->steps = grow(s->steps, s->nsteps, sizeof *s->steps);
        struct hr_step *st = &s->steps[s->nsteps++];
        st->line = l->lineno;
        st->text = strdup(l->raw);
        st->protos = protos;
        st->actor = HR_ACTOR_HUB;   /* no party acts: the harness does */
        return parse_fixture(p, st, i);
    }
    if (!is_kw(aw, "hub")) {
        actor = -2;
        for (size_t c = 0; c < s->nclients; c++)
            if (!aw->quoted && !strcmp(s->clients[c].name, aw->text))
                actor = (int)c;
        if (actor == -2)
            FAIL(p, "'%s' is not a declared client, the hub, or a header keyword (declare it first: client %s)", aw->text, aw->text);
    }
    const struct hr_word *vw = &l->words[i++];
    const char *verb = vw->text;
    s->steps = grow(s->steps, s->nsteps, sizeof *s->steps);
    struct hr_step *st = &s->steps[s->nsteps++];
    st->line = l->lineno;
    st->text = strdup(l->raw);
    st->protos = protos;
    st->actor = actor;
    st->status = 0;
    if (vw->quoted || vw->op)
        FAIL(p, "expected a verb after %s, got '%s'", aw->text, verb);

    struct step_ctx c = {.l = l, .aw = aw, .verb = verb, .i = i, .n = n, .st = st, .sugar = -1};
    for (size_t k = 0; k < sizeof sugar / sizeof *sugar && c.sugar < 0; k++)
        if (!strcmp(verb, sugar[k].verb))
            c.sugar = (int)k;
    int rc = -2;
    if (c.sugar >= 0)
        rc = parse_sugar(p, &c);
    for (size_t k = 0; rc == -2 && k < sizeof verbs / sizeof *verbs; k++)
        if (!strcmp(verb, verbs[k].verb))
            rc = verbs[k].parse(p, &c);
    if (rc == -2)
        FAIL(p, "unknown verb '%s' (client: connect say pm disconnect set users quit request expect signal exits kill; hub: " HUB_VERBS ")", verb);
    if (rc < 0)
        return -1;
    i = c.i;

    /* Trailing parts: key=value arguments (request), fails TEXT..., within D. */
    for (; i < n; i++) {
        const struct hr_word *w = &l->words[i];
        if (is_kw(w, "within")) {
            if (i + 1 >= n || (st->timeout_ms = hr_parse_duration(l->words[i + 1].text)) <= 0)
                FAIL(p, "within needs a duration, as in: within 5s (units: ms, s)");
            if (st->kind == HR_STEP_SIGNAL || st->kind == HR_STEP_LOAD || st->kind == HR_STEP_LOAD_EXPECT)
                FAIL(p, "a %s step does not wait; put the bound on the next step (hub exits 0 within 2s)", c.verb);
            if (i + 2 != n)
                FAIL(p, "within D must end the step");
            break;
        } else if (is_kw(w, "fails")) {
            if (!c.is_request)
                FAIL(p, "only requests can be expected to fail (connect, say, pm, set, request ...)");
            st->must_fail = true;
            for (i++; i < n && !is_kw(&l->words[i], "within"); i++) {
                const struct hr_word *fw = &l->words[i];
                char *t;
                if (fw->op == '=' && fw->key_len == 4 && !strncmp(fw->text, "code", 4)) {
                    if (!(t = hr_template_literal(fw->text + 5)) || !*t) {
                        free(t);
                        FAIL(p, "fails code=CODE names an error code, as in fails code=not-online");
                    }
                    st->fail_codes = grow(st->fail_codes, st->nfail_codes, sizeof *st->fail_codes);
                    st->fail_codes[st->nfail_codes++] = t;
                    continue;
                }
                if (fw->op)
                    FAIL(p, "after fails: error texts (\"not online\") or code=CODE, not '%s'", fw->text);
                if (literal(p, fw, "an expected error text", &t) < 0)
                    return -1;
                st->fail_texts = grow(st->fail_texts, st->nfail_texts, sizeof *st->fail_texts);
                st->fail_texts[st->nfail_texts++] = t;
            }
            i--;
        } else if (st->kind == HR_STEP_EXPECT && is_kw(w, "never") && !st->never) {
            if (st->want_count)
                FAIL(p, "count=N and never do not go together: never means none");
            st->never = true;   /* a fault dropped it: it must not come within the step's time */
        } else if (c.takes_kv && w->op && !st->must_fail) {
            if (kv_arg(p, &st->args, &st->nargs, w) < 0)
                return -1;
        } else {
            FAIL(p, "unexpected '%s' here (a quoted text with spaces needs \"double quotes\")", w->text);
        }
    }
    if (st->kind == HR_STEP_FAULT && !st->must_fail) {
        char why[300];
        if (hr_fault_check(st, why, sizeof why) < 0)
            FAIL(p, "%s", why);
    }
    if (actor == HR_ACTOR_HUB && (st->kind == HR_STEP_REQUEST || st->kind == HR_STEP_EXPECT || st->kind == HR_STEP_FAULT))
        s->needs |= HR_FEAT_HUB_CONTROL;
    return 0;
}

static bool arg_is(const struct hr_step *st, const char *key, const char *value)
{
    for (size_t i = 0; i < st->nargs; i++)
        if (!strcmp(st->args[i].key, key))
            return !value || !strcmp(st->args[i].value, value);
    return false;
}

static bool has_field(const struct hr_step *st, const char *const *fields)
{
    for (size_t i = 0; i < st->nmatch; i++)
        for (const char *const *f = fields; *f; f++)
            if (!strcmp(st->match[i].field, *f))
                return true;
    return false;
}

/* dcclient's fault settings (docs/control-protocol.md, "Faults"): the
 * uploader's up_* and the hub client's hub_read. */
static bool is_fault_setting(const char *name)
{
    return !strncmp(name, "up_", 3) || !strcmp(name, "hub_read");
}

/* 4-byte UTF-8 (a code point outside the BMP, e.g. an emoji): a lead byte
 * 0xF0..0xF4. */
static bool has_non_bmp(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0xF0)
            return true;
    return false;
}

/* The capabilities each client's steps need (docs/scenarios.md, "Client
 * profiles"): what a party without them could only fail by a timeout. */
static void infer_caps(struct hr_scenario *s)
{
    static const char *const core[] = {"ping", "connect", "disconnect", "say", "pm", "users", "quit", "set", NULL};
    static const char *const user_fields[] = {"description", "email", "share", "tag", NULL};
    static const char *const op_field[] = {"op", NULL};
    static const char *const resumed[] = {"resumed_from", NULL};
    static const char *const compressed[] = {"compressed", NULL};
    static const struct { const char *cmd; unsigned cap; } cap_cmds[] = {
        {"share", HR_CAP_SHARE}, {"list", HR_CAP_LIST}, {"download", HR_CAP_DOWNLOAD}};
    bool connected[HR_MAX_CLIENTS] = {false};
    for (size_t i = 0; i < s->nclients; i++) {
        struct hr_client *c = &s->clients[i];
        c->caps |= HR_CAP_CORE | s->needs_caps;
        if (c->password)
            c->caps |= HR_CAP_PASSWORD;
        for (size_t k = 0; k < c->nsets; k++) {
            if (!strcmp(c->sets[k].key, "active") && !strcmp(c->sets[k].value, "false"))
                c->caps |= HR_CAP_PASSIVE;
            if (is_fault_setting(c->sets[k].key))
                c->caps |= HR_CAP_FAULTS;
        }
    }
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct hr_step *st = &s->steps[i];
        if (st->actor < 0)
            continue;
        struct hr_client *c = &s->clients[st->actor];
        if (st->kind == HR_STEP_REQUEST) {
            bool known = false;
            for (const char *const *k = core; *k && !known; k++)
                known = !strcmp(st->name, *k);
            for (size_t k = 0; k < sizeof cap_cmds / sizeof *cap_cmds; k++)
                if (!strcmp(st->name, cap_cmds[k].cmd)) {
                    c->caps |= cap_cmds[k].cap;
                    known = true;
                }
            if (!known)
                c->caps |= HR_CAP_CONTROL_EXT;
            for (size_t k = 0; k < st->nargs; k++)
                if ((!strcmp(st->name, "pm") || !strcmp(st->name, "say")) && has_non_bmp(st->args[k].value))
                    c->caps |= HR_CAP_NON_BMP;
            if (!strcmp(st->name, "connect"))
                connected[st->actor] = true;
            else if (!strcmp(st->name, "disconnect"))
                connected[st->actor] = false;
            else if (!strcmp(st->name, "set")) {
                if (connected[st->actor])
                    c->caps |= HR_CAP_LIVE_SETTINGS;
                if (arg_is(st, "name", "active") && arg_is(st, "value", "false"))
                    c->caps |= HR_CAP_PASSIVE;
                for (size_t k = 0; k < st->nargs; k++)
                    if (!strcmp(st->args[k].key, "name") && is_fault_setting(st->args[k].value))
                        c->caps |= HR_CAP_FAULTS;
            }
        } else if (st->kind == HR_STEP_EXPECT) {
            if (!strncmp(st->name, "user.", 5) && has_field(st, user_fields))
                c->caps |= HR_CAP_USER_FIELDS;
            if (!strncmp(st->name, "user.", 5) && has_field(st, op_field))
                c->caps |= HR_CAP_OP;
            for (size_t k = 0; k < st->nmatch; k++)
                if ((!strcmp(st->name, "pm") || !strcmp(st->name, "chat")) && has_non_bmp(st->match[k].value))
                    c->caps |= HR_CAP_NON_BMP;
            if (!strcmp(st->name, "transfer.done") && has_field(st, resumed))
                c->caps |= HR_CAP_RESUME;
            if (!strcmp(st->name, "transfer.done") && has_field(st, compressed))
                c->caps |= HR_CAP_COMPRESS;
        }
    }
}

struct hr_scenario *hr_scenario_parse(const char *path, const char *buf, size_t len,
                                      struct hr_error *err)
{
    struct hr_line *lines;
    size_t nlines;
    if (hr_lex(path, buf, len, &lines, &nlines, err) < 0)
        return NULL;
    struct hr_scenario *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->path = strdup(path);
    s->protos = HR_PROTO_ALL;
    struct parser p = {.path = path, .err = err, .s = s};
    for (size_t i = 0; i < nlines; i++) {
        bool handled;
        p.line = &lines[i];
        if (parse_header(&p, &handled) < 0 || (!handled && parse_step(&p) < 0))
            goto fail;
    }
    if (s->nsteps == 0) {
        hr_error_set(err, path, 0, "no steps: add lines such as 'alice connect' after the declarations");
        goto fail;
    }
    long limit = s->timeout_ms ? s->timeout_ms : HR_DEFAULT_TIMEOUT_MS;
    for (size_t i = 0; i < s->nsteps; i++)
        if (s->steps[i].kind == HR_STEP_WAIT && s->steps[i].wait_ms >= limit) {
            hr_error_set(err, path, s->steps[i].line, "wait %.1fs does not fit in the scenario's timeout (%.1fs): raise it with timeout D",
                         s->steps[i].wait_ms / 1000.0, limit / 1000.0);
            goto fail;
        }
    for (size_t i = 0; i < s->nsteps; i++)
        if (!(s->steps[i].protos & hr_proto_runs(s->protos))) {
            hr_error_set(err, path, s->steps[i].line, "this step is limited to %s, which the scenario's protocols line does not include",
                         hr_proto_name(s->steps[i].protos & -s->steps[i].protos));
            goto fail;
        }
    infer_caps(s);
    if (!s->name) {
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        const char *dot = strrchr(b, '.');
        s->name = strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
    }
    hr_lines_free(lines, nlines);
    return s;
fail:
    hr_lines_free(lines, nlines);
    hr_scenario_free(s);
    return NULL;
}
