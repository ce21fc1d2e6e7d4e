/* hub_nmdc.c: the NMDC side of the client core (protocol notes §2.1-2.7,
 * §4.2): login ($Lock/$Key/$ValidateNick/$Hello/$MyINFO, $GetPass), the user
 * list ($MyINFO, $Quit, $OpList), main chat, $To: private messages, and the
 * hub's refusals ($ValidateDenide, $BadPass, $HubIsFull, $ForceMove).
 *
 * Parsing and escaping are proto/nmdc's; this file only decides what a
 * message means for the session. Dispatch is a table indexed by message type.
 * We advertise NoHello and NoGetINFO, so the user list is built from $MyINFO
 * alone, and our own $MyINFO coming back completes the login. $ConnectToMe
 * and $RevConnectToMe go to cc.c (a port with suffix S: TLS); search and
 * ZPipe are not handled. On a session with TLS client connections we send
 * TLS in $Supports and flag 0x10 in $MyINFO; a peer's flag 0x10 marks it
 * TLS-capable.
 * A hub that echoes $To: to its sender is tolerated: the echo is dropped.
 */
#include "client/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nmdc.h"

static void nmdc_send_fail(struct dcc_client *c, int rc)
{
    if (rc < 0 || dcc_send_out(c) < 0)
        dcc_fail(c, "cannot format or queue a message to the hub");
}

static void nmdc_connected(struct dcc_client *c)
{
    (void)c;   /* the hub speaks first ($Lock) */
}

static void nmdc_on_lock(struct dcc_client *c, struct nmdc_msg *m)
{
    const char *const features[] = {"NoHello", "NoGetINFO", "UserIP2", "TLS"};
    size_t nfeatures = sizeof features / sizeof features[0] - (c->cc_tls ? 0 : 1);
    int rc = 0;
    dc_buf_reset(&c->out);
    if (strncmp(m->lock, "EXTENDEDPROTOCOL", 16) == 0)
        rc |= nmdc_fmt_supports(&c->out, features, nfeatures);
    rc |= nmdc_fmt_key(&c->out, m->lock, strlen(m->lock));
    rc |= nmdc_fmt_simple(&c->out, "$ValidateNick", c->nick);
    nmdc_send_fail(c, rc);
}

static int nmdc_fmt_own_info(struct dcc_client *c)
{
    char tag[128];
    uint64_t share, files;
    dcc_advertised(c, &share, &files);
    snprintf(tag, sizeof tag, "<dcc V:%s,M:%c,H:1/0/0,S:%d>", DCC_VERSION, dcc_xfer_port(c) ? 'A' : 'P',
             dcc_sget_int(c->settings, DCC_S_SLOTS));
    struct nmdc_myinfo mi = {
        .nick = c->nick,
        .description = (char *)dcc_setting_s(c, DCC_S_DESCRIPTION),
        .tag = tag,
        .connection = "100",
        .flag = (uint8_t)(0x01 | (c->cc_tls ? 0x10 : 0)),   /* normal, TLS C-C or not; not away */
        .email = (char *)dcc_setting_s(c, DCC_S_EMAIL),
        .share = share,
    };
    return nmdc_fmt_myinfo(&c->out, &mi);
}

static void nmdc_on_hello(struct dcc_client *c, struct nmdc_msg *m)
{
    if (strcmp(m->nick, c->nick) != 0)
        return;            /* someone else joining: their $MyINFO follows */
    dc_buf_reset(&c->out);
    int rc = nmdc_fmt_simple(&c->out, "$Version", "1,0091") |
             nmdc_fmt_simple(&c->out, "$GetNickList", NULL) | nmdc_fmt_own_info(c);
    nmdc_send_fail(c, rc);
}

static int nmdc_send_info(struct dcc_client *c)
{
    dc_buf_reset(&c->out);
    int rc = nmdc_fmt_own_info(c);
    if (rc < 0) {
        dc_buf_reset(&c->out);
        return -1;
    }
    return dcc_send_out(c);
}

static void nmdc_on_getpass(struct dcc_client *c, struct nmdc_msg *m)
{
    (void)m;
    const char *pw = dcc_setting_s(c, DCC_S_PASSWORD);
    if (!*pw) {
        dcc_failc(c, "password-required", "hub requires a password for '%s' and none is set", c->nick);
        return;
    }
    dc_buf_reset(&c->out);
    nmdc_send_fail(c, nmdc_fmt_simple(&c->out, "$MyPass", pw));
}

static void nmdc_on_badpass(struct dcc_client *c, struct nmdc_msg *m)
{
    (void)m;
    dcc_failc(c, "bad-password", "bad password for '%s'", c->nick);
}

static void nmdc_on_denide(struct dcc_client *c, struct nmdc_msg *m)
{
    (void)m;
    dcc_failc(c, "nick-taken", "nick '%s' refused by the hub (taken or invalid)%s%s", c->nick,
             c->last_status ? ": " : "", c->last_status ? c->last_status : "");
}

static void nmdc_on_hubisfull(struct dcc_client *c, struct nmdc_msg *m)
{
    (void)m;
    dcc_fail(c, "hub is full");
}

static void nmdc_on_forcemove(struct dcc_client *c, struct nmdc_msg *m)
{
    dcc_fail(c, "hub redirected us to %s", m->text ? m->text : "(nowhere)");
}

static bool nmdc_is_op(struct dcc_client *c, const char *nick)
{
    for (size_t i = 0; i < c->nops; i++)
        if (strcmp(c->ops_nicks[i], nick) == 0)
            return true;
    return false;
}

static void nmdc_on_myinfo(struct dcc_client *c, struct nmdc_msg *m)
{
    const struct nmdc_myinfo *mi = &m->myinfo;
    const char *v[DCC_UF_COUNT] = {
        [DCC_UF_DESCRIPTION] = mi->description ? mi->description : "",
        [DCC_UF_EMAIL] = mi->email ? mi->email : "",
        [DCC_UF_TAG] = mi->tag ? mi->tag : "",
    };
    bool joined;
    struct dcc_user *u = dcc_users_put(&c->users, mi->nick, v, &joined);
    if (!u) {
        dcc_fail(c, "out of memory");
        return;
    }
    u->share = mi->share;
    u->active = mi->tag && strstr(mi->tag, "M:A") != NULL;
    u->tls = (mi->flag & 0x10) != 0;
    u->self = strcmp(mi->nick, c->nick) == 0;
    if (joined)
        u->op = nmdc_is_op(c, mi->nick);
    bool self = u->self;
    struct dcc_event ev = {.type = joined ? DCC_EVENT_USER_JOIN : DCC_EVENT_USER_UPDATE, .user = u};
    if (dcc_emit(c, &ev) && self && c->state == DCC_STATE_LOGIN)
        dcc_online(c);
}

static void nmdc_on_quit(struct dcc_client *c, struct nmdc_msg *m)
{
    struct dcc_user *u = dcc_user_find(c, m->nick);
    if (!u || u->self)
        return;
    struct dcc_event ev = {.type = DCC_EVENT_USER_LEAVE, .user = u};
    if (dcc_emit(c, &ev))
        dcc_users_remove(&c->users, m->nick);
}

static void nmdc_on_oplist(struct dcc_client *c, struct nmdc_msg *m)
{
    char **nicks = calloc(m->nlist ? m->nlist : 1, sizeof *nicks);
    if (!nicks) {
        dcc_fail(c, "out of memory");
        return;
    }
    for (size_t i = 0; i < c->nops; i++)
        free(c->ops_nicks[i]);
    free(c->ops_nicks);
    c->ops_nicks = nicks;
    c->nops = 0;
    for (size_t i = 0; i < m->nlist; i++)
        if ((nicks[c->nops] = strdup(m->list[i])))
            c->nops++;
    /* $OpList is the complete set: report every user whose flag changed. */
    for (size_t b = 0; b < c->users.nbuckets; b++) {
        for (struct dcc_uentry *e = c->users.buckets[b]; e; e = e->next) {
            bool op = nmdc_is_op(c, e->u.nick);
            if (op == e->u.op)
                continue;
            e->u.op = op;
            struct dcc_event ev = {.type = DCC_EVENT_USER_UPDATE, .user = &e->u};
            if (!dcc_emit(c, &ev))
                return;
        }
    }
}

static void nmdc_on_chat(struct dcc_client *c, struct nmdc_msg *m)
{
    if (!m->nick) {
        dcc_status(c, -1, m->text ? m->text : "");
        return;
    }
    struct dcc_event ev = {.type = DCC_EVENT_CHAT, .from = m->nick, .text = m->text ? m->text : ""};
    if (c->state == DCC_STATE_LOGIN) {
        /* NMDC hubs explain refusals through a bot's chat line. */
        size_t n = strlen(m->nick) + strlen(ev.text) + 4;
        char *line = malloc(n);
        if (line) {
            snprintf(line, n, "<%s> %s", m->nick, ev.text);
            dcc_remember(c, line);
            free(line);
        }
    }
    dcc_emit(c, &ev);
}

static void nmdc_on_to(struct dcc_client *c, struct nmdc_msg *m)
{
    const char *from = m->from && *m->from ? m->from : m->nick;
    /* Some hubs echo $To: back to its sender (fakehub does): our own PM is
     * not a received one, and neither is anything addressed to someone else. */
    if ((from && strcmp(from, c->nick) == 0) || (m->to && strcmp(m->to, c->nick) != 0))
        return;
    struct dcc_event ev = {.type = DCC_EVENT_PM, .from = from ? from : "", .to = c->nick,
                           .text = m->text ? m->text : ""};
    dcc_emit(c, &ev);
}

static void nmdc_on_ctm(struct dcc_client *c, struct nmdc_msg *m)
{
    if (strcmp(m->nick, c->nick) != 0)
        return;
    if (m->tls && !c->cc_tls)
        dcc_log(c, "ignoring a TLS $ConnectToMe to %s:%u: TLS client connections are off", m->host, m->port);
    else
        dcc_cc_nmdc_ctm(c, m->host, m->port, m->tls);
}

static void nmdc_on_rcm(struct dcc_client *c, struct nmdc_msg *m)
{
    if (strcmp(m->nick, c->nick) == 0 && dcc_user_find(c, m->from))
        dcc_cc_nmdc_rcm(c, m->from);
}

/* Dispatch table, indexed by message type; login_only messages are ignored
 * once we are online (a stray second $Lock must not restart the login). */
static const struct nmdc_handler {
    void (*fn)(struct dcc_client *c, struct nmdc_msg *m);
    bool login_only;
} nmdc_handlers[] = {
    [NMDC_LOCK] = {nmdc_on_lock, true},
    [NMDC_HELLO] = {nmdc_on_hello, true},
    [NMDC_GETPASS] = {nmdc_on_getpass, true},
    [NMDC_BADPASS] = {nmdc_on_badpass, true},
    [NMDC_VALIDATEDENIDE] = {nmdc_on_denide, true},
    [NMDC_HUBISFULL] = {nmdc_on_hubisfull, false},
    [NMDC_FORCEMOVE] = {nmdc_on_forcemove, false},
    [NMDC_MYINFO] = {nmdc_on_myinfo, false},
    [NMDC_QUIT] = {nmdc_on_quit, false},
    [NMDC_OPLIST] = {nmdc_on_oplist, false},
    [NMDC_CHAT] = {nmdc_on_chat, false},
    [NMDC_TO] = {nmdc_on_to, false},
    [NMDC_CONNECTTOME] = {nmdc_on_ctm, false},
    [NMDC_REVCONNECTTOME] = {nmdc_on_rcm, false},
};

static void nmdc_line(struct dcc_client *c, char *line, size_t len)
{
    struct nmdc_msg m;
    const char *why = NULL;
    if (nmdc_msg_parse(line, len, &m, &why) < 0) {
        dcc_log(c, "ignoring malformed NMDC message (%s): %.120s", why ? why : "?", line);
        return;
    }
    if ((size_t)m.type < sizeof nmdc_handlers / sizeof nmdc_handlers[0]) {
        const struct nmdc_handler *h = &nmdc_handlers[m.type];
        if (h->fn && !(h->login_only && c->state != DCC_STATE_LOGIN))
            h->fn(c, &m);
    }
    nmdc_msg_cleanup(&m);
}

static int nmdc_say(struct dcc_client *c, const char *text, char *err)
{
    dc_buf_reset(&c->out);
    if (nmdc_fmt_chat(&c->out, c->nick, text) < 0)
        return dcc_err(err, "cannot format the chat message");
    if (dcc_send_out(c) < 0)
        return dcc_err(err, "cannot queue the chat message");
    return 0;
}

static int nmdc_pm(struct dcc_client *c, const struct dcc_user *to, const char *text, char *err)
{
    dc_buf_reset(&c->out);
    if (nmdc_fmt_to(&c->out, to->nick, c->nick, text) < 0)
        return dcc_err(err, "cannot format the private message");
    if (dcc_send_out(c) < 0)
        return dcc_err(err, "cannot queue the private message");
    return 0;
}

const struct dcc_proto_ops dcc_nmdc_ops = {
    .delim = '|',
    .connected = nmdc_connected,
    .line = nmdc_line,
    .say = nmdc_say,
    .pm = nmdc_pm,
    .send_info = nmdc_send_info,
};
