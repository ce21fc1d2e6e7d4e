/* party.c: the hub and the clients as parties (see run.h).
 *
 * Every party is driven the same way once started: JSON lines in (its ready
 * line, replies by id, events), requests out through its channel, readiness
 * by its profile's rule. What differs is how each starts: the hub from its
 * profile (config files, a picked port, a control socket), a client as
 * dcclient with its scenario options.
 */
#include "harness/run.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/jsonl.h"

void party_init(struct party *p, const char *name)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->pid = -1;
    p->pidfd = p->in_fd = p->out.fd = p->err.fd = p->ctl.fd = -1;
    p->out.tag = "out";
    p->err.tag = "err";
    p->ctl.tag = "ctl";
    p->chan = &p->out;
    p->ready_kind = HR_READY_LINE;
    p->stop_signo = SIGTERM;
    p->grace_ms = 5000;
    p->log_mark = -1;
    dc_buf_init(&p->outq, 0);
    p->pending = json_array();
    p->replies = json_object();
    p->sent = json_object();
}

void party_cleanup(struct party *p)
{
    int fds[] = {p->pidfd, p->in_fd, p->out.fd, p->err.fd, p->ctl.fd};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    dc_buf_cleanup(&p->out.buf);
    dc_buf_cleanup(&p->err.buf);
    dc_buf_cleanup(&p->ctl.buf);
    dc_buf_cleanup(&p->outq);
    if (p->log)
        fclose(p->log);
    json_decref(p->ready);
    json_decref(p->pending);
    json_decref(p->replies);
    json_decref(p->sent);
    for (unsigned i = 0; i < HR_RECENT; i++)
        free(p->recent[i]);
    free(p->nick);
    free(p->password);
    free(p->dir);
}

const char *party_label(const struct party *p, char *buf, size_t len)
{
    if (p->profile)
        snprintf(buf, len, "%s (profile %s)", p->name, p->profile->name);
    else
        snprintf(buf, len, "%s", p->name);
    return buf;
}

void party_map_setting(const struct party *p, json_t *args)
{
    const char *name = json_string_value(json_object_get(args, "name"));
    const struct hr_profile_setting *ps = name ? hr_profile_setting(p->profile, name) : NULL;
    if (ps && ps->party_name)
        json_object_set_new(args, "name", json_string(ps->party_name));
}

bool party_silent(const struct party *p)
{
    return p->chan->fd < 0;
}

/* JSON value as the text a scenario compares with. */
static char *json_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* A contract breach by a client party: fail naming it and the line. */
static void breach(struct run *r, struct party *p, const char *what, const char *line, size_t len)
{
    run_fail(r, "%s %s: %.*s%s", PARTY_LABEL(p), what, (int)(len > 200 ? 200 : len), line, len > 200 ? "..." : "");
}

void party_line(struct run *r, struct party *p, struct stream *st, char *line, size_t len)
{
    proc_log(r, p, st->tag, line, len);
    if (st == &p->err && len)
        snprintf(p->last_err, sizeof p->last_err, "%.*s", (int)len, line);
    if (p->ready_kind == HR_READY_LOG && memmem(line, len, p->ready_text, strlen(p->ready_text)))
        p->log_ready = true;
    if (st == &p->err || len == 0 || p == r->load)
        return;   /* the load generator's stdout is its report, read when it ends */
    bool contract = p->strict && st == p->chan;
    if (contract && len > HR_MAX_LINE) {
        breach(r, p, "wrote a stdout line over 1 MiB (the contract's bound)", line, len);
        return;
    }
    if (line[0] != '{' && !contract)
        return;
    json_t *msg = json_loadb(line, len, 0, NULL);
    if (!json_is_object(msg)) {
        json_decref(msg);
        if (contract)
            breach(r, p, "wrote a stdout line that is not a JSON object (stdout is for JSON lines only; logs go to stderr)", line, len);
        return;
    }
    json_t *ev = json_object_get(msg, "event");
    if (json_is_string(ev)) {
        if (!p->ready && !strcmp(json_string_value(ev), "ready")) {
            p->ready = msg;
            return;
        }
        free(p->recent[p->nrecent % HR_RECENT]);
        p->recent[p->nrecent++ % HR_RECENT] = strndup(line, len);
        if (json_array_size(p->pending) >= HR_MAX_PENDING) {
            if (!p->flooded)
                run_fail(r, "%s flooded the harness: %d events nobody expected are pending (later ones are dropped)",
                         PARTY_LABEL(p), HR_MAX_PENDING);
            p->flooded = true;
            json_decref(msg);
            return;
        }
        json_array_append_new(p->pending, msg);
    } else {
        char *id = json_text(json_object_get(msg, "id"));
        if (st == p->chan && !json_object_get(p->sent, id ? id : "null")) {
            breach(r, p, "replied to an id no request of ours is waiting for", line, len);
            free(id);
            json_decref(msg);
            return;
        }
        json_object_del(p->sent, id ? id : "null");
        json_object_set_new(p->replies, id ? id : "null", msg);
        free(id);
    }
}

bool party_wait_ready_line(struct run *r, struct party *p, double until)
{
    double started = p->ready_since > 0 ? p->ready_since : hr_now();   /* a client's wait began at its spawn */
    while (!p->ready && !p->exited && !run_stop_waiting(r, until))
        proc_pump(r, until);
    if (p->ready)
        return true;
    if (p->exited) {
        proc_drain(r, p, hr_now() + 1);   /* what it said before dying */
        struct dc_buf b;
        dc_buf_init(&b, 0);
        proc_describe_exit(&b, p);
        run_fail(r, "%s %s before its ready line%s%s%s", p->name, b.data, p->last_err[0] ? " (last words: \"" : "",
                 p->last_err, p->last_err[0] ? "\")" : "");
        dc_buf_cleanup(&b);
    } else if (!r->interrupted) {
        run_fail(r, "%s printed no ready line within %s", p->name, TIMEOUT_TEXT(r, until, started));
    }
    return false;
}

bool party_request(struct run *r, struct party *p, json_t *req, json_t **reply, double until)
{
    long id = ++r->next_id;
    json_object_set_new(req, "id", json_integer(id));
    size_t len = 0;
    char *line = dc_jsonl_line(req, &len);   /* the channel's encoding (proto/jsonl.c) */
    if (!line) {
        run_fail(r, "cannot encode the request to %s (out of memory)", p->name);
        return false;
    }
    proc_log(r, p, "in ", line, len - 1);
    char key[32];
    snprintf(key, sizeof key, "%ld", id);
    json_object_set_new(p->sent, key, json_true());
    int rc = proc_send(r, p, line, len);
    free(line);
    if (rc < 0) {
        run_fail(r, "cannot send the request to %s (%s)", p->name, p->in_fd < 0 ? "no control channel" : strerror(p->write_errno));
        return false;
    }
    double started = hr_now();
    while (!json_object_get(p->replies, key) && !run_stop_waiting(r, until)) {
        if ((p->exited && party_silent(p)) || p->write_errno)
            break;
        proc_pump(r, until);
    }
    *reply = json_incref(json_object_get(p->replies, key));
    if (*reply) {
        json_object_del(p->replies, key);
        return true;
    }
    if (p->exited) {
        struct dc_buf b;
        dc_buf_init(&b, 0);
        proc_describe_exit(&b, p);
        run_fail(r, "%s %s before replying", p->name, b.data);
        dc_buf_cleanup(&b);
    } else if (p->write_errno) {
        run_fail(r, "cannot send the request to %s (%s)", p->name, strerror(p->write_errno));
    } else if (!r->interrupted) {
        run_fail(r, "%s sent no reply within %s", p->name, TIMEOUT_TEXT(r, until, started));
    }
    return false;
}

static char **expand_list(struct run *r, struct party *p, char *const *tmpls, const struct hr_profile_env *env, size_t n);

/* ---- the hub ---- */

static int connect_tcp(const char *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Readiness of a hub that does not announce it: the port accepts (and, for
 * adc-handshake, answers HSUP with ISID). Between attempts we keep pumping
 * the hub's output with a short bound: the only polling in the harness,
 * because such a hub gives nothing else to wait on. */
static bool probe_port(struct run *r, struct party *p, bool handshake, double until)
{
    while (!p->exited && !run_stop_waiting(r, until)) {
        int fd = connect_tcp(r->port);
        if (fd < 0) {
            proc_pump(r, hr_now() + 0.01);
            continue;
        }
        if (!handshake) {
            close(fd);
            return true;
        }
        static const char hsup[] = "HSUP ADBASE ADTIGR\n";
        char buf[4096];
        size_t got = 0;
        bool ok = write(fd, hsup, sizeof hsup - 1) == (ssize_t)(sizeof hsup - 1);
        while (ok && got < sizeof buf - 1) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            double left = until - hr_now();
            if (left <= 0 || poll(&pf, 1, (int)ceil(left * 1000)) <= 0)
                break;
            ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\nISID ") || !strncmp(buf, "ISID ", 5)) {
                close(fd);
                return true;
            }
        }
        close(fd);
        proc_pump(r, hr_now() + 0.01);
    }
    return false;
}

/* Readiness by the party's rule; false (failure recorded only for a ready
 * line: the hub's caller says more) when it did not come. */
static bool wait_ready(struct run *r, struct party *p, double until)
{
    switch (p->ready_kind) {
    case HR_READY_LINE:
        return party_wait_ready_line(r, p, until);
    case HR_READY_LOG:
        while (!p->log_ready && !p->exited && !run_stop_waiting(r, until))
            proc_pump(r, until);
        return p->log_ready;
    case HR_READY_PORT:
    case HR_READY_ADC_HANDSHAKE:
        return probe_port(r, p, p->ready_kind == HR_READY_ADC_HANDSHAKE, until);
    }
    return false;
}

int party_pick_port(char *out, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    snprintf(out, len, "%u", ntohs(a.sin_port));
    return 0;
}

static int write_profile_files(struct run *r, const struct hr_profile *pr)
{
    char path[4096];
    for (size_t i = 0; i < pr->nlines; i++) {   /* fresh files on each start attempt */
        snprintf(path, sizeof path, "%s/%s", r->dir, pr->lines[i].file);
        unlink(path);
    }
    for (size_t i = 0; i < pr->nlines; i++) {
        const struct hr_profile_line *pl = &pr->lines[i];
        snprintf(path, sizeof path, "%s/%s", r->dir, pl->file);
        FILE *f = fopen(path, "a");
        if (!f) {
            run_fail(r, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        size_t n = pl->per_user ? r->s->nusers : 1;
        for (size_t u = 0; u < n; u++) {
            struct lookup_ctx c = {.r = r};
            if (pl->per_user) {
                const struct hr_user *us = &r->s->users[u];
                c = (struct lookup_ctx){.r = r, .user = us->nick, .password = us->password,
                                        .role = us->op ? "op" : "user", .op_suffix = us->op ? ":op" : ""};
            }
            char *line = run_expand(r, &c, pl->tmpl, pr->path);
            if (!line) {
                fclose(f);
                return -1;
            }
            if (*line || !pl->per_user)
                fprintf(f, "%s\n", line);
            free(line);
        }
        fclose(f);
    }
    return 0;
}

static void free_argv(char **argv)
{
    for (char **a = argv; a && *a; a++)
        free(*a);
    free(argv);
}

static char **hub_argv(struct run *r, const struct hr_profile *pr)
{
    size_t n = pr->argc + pr->user_argc * r->s->nusers;
    for (int ix = 0; ix < HR_PROTO_COUNT; ix++)
        n += pr->proto_argc[ix];
    char **argv = calloc(n + 1, sizeof *argv);
    size_t k = 0;
    for (size_t i = 0; i < pr->argc; i++) {
        struct lookup_ctx c = {.r = r};
        if (!(argv[k++] = run_expand(r, &c, pr->argv[i], pr->path)))
            goto fail;
    }
    for (unsigned b = HR_PROTO_NMDC; b <= HR_PROTO_LAST; b <<= 1)
        for (size_t i = 0; (r->hub_protos & b) && i < pr->proto_argc[hr_proto_index(b)]; i++) {
            struct lookup_ctx c = {.r = r};
            if (!(argv[k++] = run_expand(r, &c, pr->proto_argv[hr_proto_index(b)][i], pr->path)))
                goto fail;
        }
    for (size_t u = 0; u < r->s->nusers; u++)
        for (size_t i = 0; i < pr->user_argc; i++) {
            const struct hr_user *us = &r->s->users[u];
            struct lookup_ctx c = {.r = r, .user = us->nick, .password = us->password,
                                   .role = us->op ? "op" : "user", .op_suffix = us->op ? ":op" : ""};
            if (!(argv[k++] = run_expand(r, &c, pr->user_argv[i], pr->path)))
                goto fail;
        }
    return argv;
fail:
    free_argv(argv);
    return NULL;
}

/* Connect the hub's control socket, make it the hub's request channel and
 * subscribe to its events. */
static int connect_control(struct run *r, struct party *h, const char *path, double until)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        run_fail(r, "the hub's control socket path is %zu bytes, over the %zu a Unix socket allows: make it relative to the scenario dir in the profile (control hub.sock)",
                 strlen(path), sizeof a.sun_path - 1);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        run_fail(r, "cannot connect to the hub's control socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    h->ctl.fd = fd;
    h->chan = &h->ctl;
    h->in_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);   /* its own fd: reading ends and writing ends close apart */
    json_t *reply = NULL;
    json_t *req = json_pack("{s:s}", "cmd", "subscribe");
    bool ok = party_request(r, h, req, &reply, until) && json_is_true(json_object_get(reply, "ok"));
    json_decref(reply);
    if (!ok) {
        run_fail(r, "the hub refused the event subscription on its control socket");
        return -1;
    }
    return 0;
}

int party_start_hub(struct run *r)
{
    const struct hr_profile *pr = r->o->profile;
    struct party *h = r->hub;
    h->profile = pr;
    h->ready_kind = pr->ready;
    h->ready_text = pr->ready_text;
    h->stop_signo = pr->stop_signo;
    h->grace_ms = pr->grace_ms;
    h->known_stop_crash = pr->known_stop_crash;
    double until = hr_now() + pr->ready_ms * r->o->timeout_mult / 1000.0;
    if (until > r->deadline)
        until = r->deadline;
    if (pr->trace) {
        struct lookup_ctx c = {.r = r};
        char *t = run_expand(r, &c, pr->trace, pr->path);
        if (!t)
            return -1;
        snprintf(r->trace_path, sizeof r->trace_path, "%s", t);
        free(t);
    }
    for (int attempt = 1;; attempt++) {
        /* The first attempt keeps a port picked before the setup commands. */
        if (pr->pick_port && (attempt > 1 || !r->port[0]) && party_pick_port(r->port, sizeof r->port) < 0) {
            run_fail(r, "cannot pick a free port: %s", strerror(errno));
            return -1;
        }
        if (write_profile_files(r, pr) < 0)
            return -1;
        char **argv = hub_argv(r, pr);
        char **env = argv ? expand_list(r, h, NULL, pr->env, pr->nenv) : NULL;
        if (!env) {
            free_argv(argv);
            return -1;
        }
        int rc = proc_spawn(r, h, argv, env, false);
        free_argv(argv);
        free_argv(env);
        if (rc < 0)
            return -1;
        if (wait_ready(r, h, until))
            break;
        /* A picked port can be taken by someone else before the hub binds it:
         * the hub then exits early; try again on a new port. */
        if (h->exited && pr->pick_port && attempt < 3 && !r->interrupted) {
            static const char msg[] = "hub exited before it was ready; retrying on another port";
            proc_log(r, h, "dcharness", msg, sizeof msg - 1);
            waitpid(h->pid, NULL, 0);
            h->reaped = true;
            for (struct stream *st = &h->out; st <= &h->err; st++)
                if (st->fd >= 0) {
                    close(st->fd);
                    st->fd = -1;
                }
            h->exited = h->reaped = false;
            continue;
        }
        if (!r->why.len) {
            struct dc_buf b;
            dc_buf_init(&b, 0);
            if (h->exited)
                proc_describe_exit(&b, h);
            run_fail(r, "the hub did not become ready (%s): %s%s%s%s", pr->ready == HR_READY_LOG ? "no log line" : "no answer on its port",
                     h->exited ? "it " : "not in time", h->exited ? b.data : "",
                     h->last_err[0] ? "; last words: " : "", h->last_err);
            dc_buf_cleanup(&b);
        }
        return -1;
    }
    struct lookup_ctx c = {.r = r};
    char *url = run_expand(r, &c, pr->url[hr_proto_index(r->proto)], pr->path);
    if (!url)
        return -1;
    snprintf(r->hub_url, sizeof r->hub_url, "%s", url);
    free(url);
    const char *hp = strstr(r->hub_url, "://");
    hp = hp ? hp + 3 : r->hub_url;
    const char *colon = strrchr(hp, ':');
    if (colon) {
        snprintf(r->hub_host, sizeof r->hub_host, "%.*s", (int)(colon - hp), hp);
        snprintf(r->hub_port, sizeof r->hub_port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    }
    if (pr->control && (r->s->needs & HR_FEAT_HUB_CONTROL)) {
        char *path = run_expand(r, &c, pr->control, pr->path);
        int rc = path ? connect_control(r, h, path, until) : -1;
        free(path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- clients ---- */

/* `set NAME VALUE` requests for the client's options, before it connects. */
static int send_options(struct run *r, struct party *p, const struct hr_client *c)
{
    struct lookup_ctx lc = {.r = r, .party = p};
    for (size_t k = 0; k < c->nsets; k++) {
        char *v = run_expand(r, &lc, c->sets[k].value, "a client option");
        if (!v)
            return -1;
        json_t *val = c->sets[k].json ? json_loads(v, JSON_DECODE_ANY, NULL) : json_string(v);
        free(v);
        json_t *args = json_pack("{s:s,s:o}", "name", c->sets[k].key, "value", val);
        party_map_setting(p, args);
        json_t *req = json_pack("{s:s,s:o}", "cmd", "set", "args", args);
        json_t *reply = NULL;
        if (!party_request(r, p, req, &reply, hr_now() + r->o->step_timeout_ms * r->o->timeout_mult / 1000))
            return -1;
        if (!json_is_true(json_object_get(reply, "ok"))) {
            run_fail(r, "client %s refused option %s: %s", PARTY_LABEL(p), c->sets[k].key,
                     json_string_value(json_object_get(reply, "error")));
            json_decref(reply);
            return -1;
        }
        json_decref(reply);
    }
    return 0;
}

/* argv and NAME=VALUE env of the client's profile, expanded; NULL with the
 * failure recorded. */
static char **expand_list(struct run *r, struct party *p, char *const *tmpls, const struct hr_profile_env *env, size_t n)
{
    struct lookup_ctx lc = {.r = r, .party = p, .in_profile = true};
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        char *v = run_expand(r, &lc, tmpls ? tmpls[i] : env[i].tmpl, p->profile->path);
        if (!v || (env && asprintf(&out[i], "%s=%s", env[i].name, v) < 0)) {
            free(v);
            free_argv(out);
            return NULL;
        }
        if (env)
            free(v);
        else
            out[i] = v;
    }
    return out;
}

/* A placeholder only the started hub can fill. */
static bool names_the_hub(const char *tmpl)
{
    return tmpl && (strstr(tmpl, "{hub_") || strstr(tmpl, "{port}") || strstr(tmpl, "{ready:"));
}

/* A client's {dir} is made only when its profile names it: each directory
 * costs the run a mkdir and, at cleanup, an rmdir, which on a busy ext4
 * wait for its journal (0.1 to 4 ms each). */
static bool names_dir(const struct hr_profile *pr)
{
    bool named = false;
    for (size_t k = 0; k < pr->argc; k++)
        named = named || strstr(pr->argv[k], "{dir}");
    for (size_t k = 0; k < pr->nenv; k++)
        named = named || strstr(pr->env[k].tmpl, "{dir}");
    return named;
}

bool party_client_needs_hub(const struct run *r, size_t i)
{
    const struct hr_client *c = &r->s->clients[i];
    const struct hr_profile *pr = r->o->clients[i];
    bool needs = names_the_hub(c->nick) || names_the_hub(c->password);
    for (size_t k = 0; k < pr->argc; k++)
        needs = needs || names_the_hub(pr->argv[k]);
    for (size_t k = 0; k < pr->nenv; k++)
        needs = needs || names_the_hub(pr->env[k].tmpl);
    return needs;
}

int party_spawn_client(struct run *r, size_t i)
{
    const struct hr_client *c = &r->s->clients[i];
    struct party *p = &r->parties[1 + i];
    const struct hr_profile *pr = r->o->clients[i];
    struct lookup_ctx lc = {.r = r};
    p->profile = pr;
    p->strict = true;
    p->stop_signo = pr->stop_signo;
    p->grace_ms = pr->grace_ms;
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint64_t)hr_now() * 1000003u ^ (uint64_t)getpid() << 20 ^ i;
    snprintf(p->seed, sizeof p->seed, "%llu", (unsigned long long)seed);
    if (!(p->nick = run_expand(r, &lc, c->nick, "the client's nick")))
        return -1;
    if (c->password && !(p->password = run_expand(r, &lc, c->password, "the client's password")))
        return -1;
    if (asprintf(&p->dir, "%s/party-%s", r->dir, p->name) < 0 ||
        (names_dir(pr) && mkdir(p->dir, 0700) < 0 && errno != EEXIST)) {
        run_fail(r, "cannot create %s/party-%s: %s", r->dir, p->name, strerror(errno));
        return -1;
    }
    char **argv = expand_list(r, p, pr->argv, NULL, pr->argc);
    char **env = argv ? expand_list(r, p, NULL, pr->env, pr->nenv) : NULL;
    if (!env) {
        free_argv(argv);
        return -1;
    }
    int rc = proc_spawn(r, p, argv, env, true);
    free_argv(argv);
    free_argv(env);
    p->ready_since = hr_now();
    return rc;
}

int party_ready_client(struct run *r, size_t i)
{
    struct party *p = &r->parties[1 + i];
    double until = p->ready_since + r->o->clients[i]->ready_ms * r->o->timeout_mult / 1000.0;
    if (!wait_ready(r, p, until < r->deadline ? until : r->deadline))
        return -1;
    return send_options(r, p, &r->s->clients[i]);
}
