/* hub_nmdc.c: the NMDC side of fakehub (protocol notes §2.3-2.9, hub subset
 * §4.1).
 *
 * $Lock (EXTENDEDPROTOCOL, random) -> client $Supports/$Key/$ValidateNick
 * -> [$GetPass/$MyPass] -> $Hello -> client $MyINFO -> user list (MyINFOs
 * for NoHello/NoGetINFO clients, $NickList otherwise, $OpList), newcomer's
 * $MyINFO to everyone including itself. QuickList clients may send $MyINFO
 * instead of $ValidateNick. Chat is echoed to all; $To: goes to its target
 * only; $ConnectToMe/$RevConnectToMe/passive $SR are routed to one user;
 * $Search goes to everyone else. Sender nicks are checked everywhere.
 *
 * Relayed lines are forwarded as received (already escaped). Dispatch is a
 * table of message type, allowed login states and handler.
 */
#include "fakehub/hub_internal.h"
#include "fakehub/strict.h"

#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"
#include "proto/nmdc.h"

#define FH_S(x) (1u << (x))
#define FH_NMDC_EXTENDED 0x10u   /* sent $Supports, so gets ours */

/* ---- output ---------------------------------------------------------------- */

/* Send a formatter's output (which ends with '|') as one line. */
static void fh_nmdc_send_buf(struct fh_conn *c, const struct dc_buf *b)
{
    if (b->len > 0)
        fh_conn_send(c, b->data, b->len - 1);
}

void fh_nmdc_hub_chat(struct fh_conn *c, const char *text)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    if (nmdc_fmt_chat(&b, FH_HUB_NICK, text) == 0)
        fh_nmdc_send_buf(c, &b);
    dc_buf_cleanup(&b);
}

static bool fh_nmdc_user(const struct fh_conn *u)
{
    return u->proto == FH_PROTO_NMDC && u->state == FH_CONN_OPEN && u->login == FH_LOGIN_NORMAL;
}

/* Routing compares nicks byte-exactly (pitfall 18); uniqueness is checked
 * case-insensitively at login, so this finds at most one user. */
static struct fh_conn *fh_nmdc_by_nick(struct fh_hub *hub, const char *nick)
{
    for (struct fh_conn *u = hub->conns; u; u = u->next)
        if (fh_nmdc_user(u) && strcmp(u->nick, nick) == 0)
            return u;
    return NULL;
}

static void fh_nmdc_msg_to_all(struct fh_hub *hub, const struct fh_conn *except, struct fh_msg *m)
{
    for (struct fh_conn *u = hub->conns; u; u = u->next)
        if (u != except && fh_nmdc_user(u))
            fh_conn_send_msg(u, m);
}

static void fh_nmdc_to_all(struct fh_hub *hub, const struct fh_conn *except, const char *line,
                           size_t len)
{
    struct fh_msg *m = fh_msg_new(FH_PROTO_NMDC, line, len);
    fh_nmdc_msg_to_all(hub, except, m);
    fh_msg_unref(m);
}

void fh_nmdc_left(struct fh_conn *c)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    if (nmdc_fmt_simple(&b, "$Quit", c->nick) == 0 && b.len)
        fh_nmdc_to_all(c->hub, c, b.data, b.len - 1);
    dc_buf_cleanup(&b);
}

/* "$NickList a$$b$$" or "$OpList ..." of the NMDC users (ops only if ops). */
static void fh_nmdc_list(struct fh_hub *hub, const char *name, bool ops, struct dc_buf *out)
{
    size_t n = 0, cap = 0;
    const char **nicks = NULL;
    for (struct fh_conn *u = hub->conns; u; u = u->next) {
        if (!fh_nmdc_user(u) || (ops && !u->op))
            continue;
        if (n == cap) {
            const char **g = realloc(nicks, (cap = cap ? cap * 2 : 16) * sizeof *g);
            if (!g)
                break;
            nicks = g;
        }
        nicks[n++] = u->nick;
    }
    nmdc_fmt_nicklist(out, name, nicks, n);
    free(nicks);
}

/* Our $Lock for c, from its login secret: asked for once at accept and once
 * to check $Key, so it is derived twice rather than kept. */
static void fh_nmdc_lock(const struct fh_conn *c, char lock[48])
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t rnd[DC_TIGER_LEN];
    fh_conn_secret(c, rnd);
    int n = snprintf(lock, 48, "EXTENDEDPROTOCOL_fakehub_");
    for (size_t i = 0; i < 16; i++)
        lock[n++] = alnum[rnd[i] % (sizeof alnum - 1)];
    lock[n] = '\0';
}

void fh_nmdc_accepted(struct fh_conn *c)
{
    char lock[48];
    fh_nmdc_lock(c, lock);
    const struct fh_config *cfg = &c->hub->cfg;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    if (nmdc_fmt_lock(&b, lock, "fakehub") == 0)
        fh_nmdc_send_buf(c, &b);
    dc_buf_reset(&b);
    /* DC++ splits "$HubName name - topic" into name and description. */
    if (dc_buf_append_str(&b, "$HubName ") == 0 &&
        nmdc_escape_append(&b, cfg->name, strlen(cfg->name)) == 0 &&
        (!*cfg->topic || (dc_buf_append_str(&b, " - ") == 0 &&
                          nmdc_escape_append(&b, cfg->topic, strlen(cfg->topic)) == 0)))
        fh_conn_send(c, b.data, b.len);
    dc_buf_cleanup(&b);
}

/* ---- login ------------------------------------------------------------------- */

/* The others learn of the newcomer at once; the newcomer's own list may take
 * a while (fh_conn_list_start), so its own lines wait for fh_nmdc_list_done. */
static void fh_nmdc_complete(struct fh_conn *c)
{
    struct fh_hub *hub = c->hub;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    bool nohello = c->nmdc_feats & FH_NMDC_NOHELLO;
    fh_conn_logged_in(c);   /* in the user list from here on, so the lists include it */
    if (!nohello) {
        fh_nmdc_list(hub, "$NickList", false, &b);
        fh_nmdc_send_buf(c, &b);
        dc_buf_reset(&b);
    }
    if (c->op) {   /* everyone else learns the new op */
        fh_nmdc_list(hub, "$OpList", true, &b);
        fh_nmdc_to_all(hub, c, b.data, b.len ? b.len - 1 : 0);
    }
    dc_buf_reset(&b);
    if (nmdc_fmt_simple(&b, "$Hello", c->nick) == 0 && b.len) {   /* join notice for old clients */
        struct fh_msg *hello = fh_msg_new(FH_PROTO_NMDC, b.data, b.len - 1);
        for (struct fh_conn *u = hub->conns; u; u = u->next)
            if (u != c && fh_nmdc_user(u) && !(u->nmdc_feats & FH_NMDC_NOHELLO))
                fh_conn_send_msg(u, hello);
        fh_msg_unref(hello);
    }
    dc_buf_cleanup(&b);
    fh_nmdc_msg_to_all(hub, c, c->inf);
    /* NoHello/NoGetINFO clients get the MyINFOs pushed; others ask $GetINFO. */
    if (nohello || (c->nmdc_feats & FH_NMDC_NOGETINFO))
        fh_conn_list_start(c);
    else
        fh_nmdc_list_done(c);
}

void fh_nmdc_list_done(struct fh_conn *c)
{
    struct fh_hub *hub = c->hub;
    struct dc_buf b;
    dc_buf_init(&b, 0);
    fh_nmdc_list(hub, "$OpList", true, &b);
    fh_nmdc_send_buf(c, &b);
    dc_buf_cleanup(&b);
    char ip[FH_IP_LEN];
    if (c->nmdc_feats & FH_NMDC_USERIP2)
        fh_conn_sendf(c, "$UserIP %s %s", c->nick, fh_conn_ip(c, ip));
    fh_conn_send_msg(c, c->inf);
    if (*hub->cfg.motd)
        fh_nmdc_hub_chat(c, hub->cfg.motd);
    fh_conn_announce(c);
}

static void fh_nmdc_hello(struct fh_conn *c)
{
    if (c->nmdc_feats & FH_NMDC_EXTENDED)
        fh_conn_sendf(c, "$Supports NoHello NoGetINFO UserIP2 QuickList");
    if (c->op)
        fh_conn_sendf(c, "$LogedIn %s", c->nick);
    fh_conn_sendf(c, "$Hello %s", c->nick);
    c->login = FH_LOGIN_HELLO;
    if (c->inf)   /* QuickList: the MyINFO came first */
        fh_nmdc_complete(c);
}

static void fh_nmdc_deny(struct fh_conn *c, const char *nick, const char *why)
{
    fh_conn_sendf(c, "$ValidateDenide %s", nick);
    c->hub->n.errors++;
    fh_conn_close(c, why, true);
}

static void fh_nmdc_validate(struct fh_conn *c, const char *nick, const char *line, size_t len)
{
    struct fh_hub *hub = c->hub;
    if (!c->key_ok) {
        fh_violation(c, FH_R_NMDC_KEY, "disconnected", "nick before $Key", line, len);
        fh_conn_fail(c, NULL, NULL, "Send the key before the nick");
        return;
    }
    if (!nmdc_nick_valid(nick, strlen(nick)))   /* the notes' rule; fh_nick_valid adds the hub's own */
        fh_violation(c, FH_R_NMDC_NICK, "disconnected", nick, line, len);
    if (!nmdc_nick_valid(nick, strlen(nick)) || !fh_nick_valid(nick)) {
        fh_nmdc_deny(c, nick, "invalid nick");
        return;
    }
    if (fh_hub_nick_holder(hub, nick)) {
        fh_nmdc_deny(c, nick, "nick taken");
        return;
    }
    if (fh_hub_full(hub)) {
        fh_conn_sendf(c, "$HubIsFull");
        fh_conn_close(c, "hub full", true);
        return;
    }
    if (!(c->nick = strdup(nick))) {
        fh_conn_close(c, "out of memory", false);
        return;
    }
    const struct fh_user_cfg *reg = fh_config_find_user(&hub->cfg, nick);
    if (reg) {
        c->registered = true;
        c->op = reg->op;
        fh_conn_sendf(c, "$GetPass");
        c->login = FH_LOGIN_VERIFY;
        return;
    }
    fh_nmdc_hello(c);
}

/* ---- handlers ---------------------------------------------------------------- */

typedef void fh_nmdc_handler(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len);

static void fh_nmdc_supports(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    (void)line, (void)len;
    static const struct { const char *name; unsigned bit; } feats[] = {
        {"NoHello", FH_NMDC_NOHELLO}, {"NoGetINFO", FH_NMDC_NOGETINFO},
        {"UserIP2", FH_NMDC_USERIP2}, {"QuickList", FH_NMDC_QUICKLIST},
    };
    c->nmdc_feats |= FH_NMDC_EXTENDED;
    for (size_t i = 0; i < m->nlist; i++)
        for (size_t k = 0; k < sizeof feats / sizeof feats[0]; k++)
            if (strcmp(m->list[i], feats[k].name) == 0)
                c->nmdc_feats |= feats[k].bit;
}

static void fh_nmdc_key(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    (void)m;
    struct dc_buf want;
    dc_buf_init(&want, 0);
    /* Compare the raw wire bytes: the key may hold spaces and high bytes. */
    char lock[48];
    fh_nmdc_lock(c, lock);
    bool ok = nmdc_lock_to_key(lock, strlen(lock), &want) == 0 && len >= 5 &&
              len - 5 == want.len && memcmp(line + 5, want.data, want.len) == 0;
    dc_buf_cleanup(&want);
    if (!ok) {
        fh_violation(c, FH_R_NMDC_KEY, "disconnected", NULL, line, len);
        fh_conn_fail(c, NULL, NULL, "Wrong key for our lock");
    }
    else
        c->key_ok = true;
}

static void fh_nmdc_validatenick(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    (void)line, (void)len;
    if (c->nick) {
        fh_violation(c, FH_R_NMDC_STATE, "disconnected", "$ValidateNick twice", line, len);
        fh_conn_fail(c, NULL, NULL, "ValidateNick sent twice");
        return;
    }
    fh_nmdc_validate(c, m->nick, line, len);
}

static void fh_nmdc_mypass(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    (void)line, (void)len;
    const struct fh_user_cfg *reg = fh_config_find_user(&c->hub->cfg, c->nick);
    if (!reg || !m->text || strcmp(reg->password, m->text) != 0) {
        fh_conn_sendf(c, "$BadPass");
        c->hub->n.errors++;
        fh_conn_close(c, "bad password", true);
        return;
    }
    c->op = reg->op;
    fh_nmdc_hello(c);
}

static void fh_nmdc_ignore(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    (void)c, (void)m, (void)line, (void)len;
}

/* A hub-to-client or client-client command sent to the hub: ignored as
 * before (there is no one to relay it to), but reported. */
static void fh_nmdc_not_to_hub(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    fh_violation(c, FH_R_NMDC_CONTEXT, "ignored", m->name, line, len);
}

static void fh_nmdc_getnicklist(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    (void)m, (void)line, (void)len;
    if (c->login != FH_LOGIN_NORMAL)
        return;   /* the list follows the first $MyINFO anyway */
    struct dc_buf b;
    dc_buf_init(&b, 0);
    if (c->nmdc_feats & FH_NMDC_NOHELLO) {
        for (struct fh_conn *u = c->hub->conns; u; u = u->next)
            if (fh_nmdc_user(u))
                fh_conn_send_msg(c, u->inf);
    } else {
        fh_nmdc_list(c->hub, "$NickList", false, &b);
        fh_nmdc_send_buf(c, &b);
        dc_buf_reset(&b);
    }
    fh_nmdc_list(c->hub, "$OpList", true, &b);
    fh_nmdc_send_buf(c, &b);
    dc_buf_cleanup(&b);
}

static void fh_nmdc_myinfo(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    const char *nick = m->myinfo.nick;
    if (c->login == FH_LOGIN_START && !c->nick) {
        if (!(c->nmdc_feats & FH_NMDC_QUICKLIST)) {
            fh_violation(c, FH_R_NMDC_STATE, "disconnected", "$MyINFO before $ValidateNick", line, len);
            fh_conn_fail(c, NULL, NULL, "MyINFO before ValidateNick");
            return;
        }
        /* QuickList: the MyINFO doubles as $ValidateNick. */
        if (!(c->inf = fh_msg_new(FH_PROTO_NMDC, line, len))) {
            fh_conn_close(c, "out of memory", false);
            return;
        }
        fh_nmdc_validate(c, nick, line, len);
        return;
    }
    if (!nick || !c->nick || strcmp(nick, c->nick) != 0) {
        fh_violation(c, FH_R_NMDC_SENDER, "disconnected", nick, line, len);
        fh_conn_fail(c, NULL, NULL, "MyINFO must carry your own nick");
        return;
    }
    struct fh_msg *copy = fh_msg_new(FH_PROTO_NMDC, line, len);
    if (!copy) {
        fh_conn_close(c, "out of memory", false);
        return;
    }
    fh_msg_unref(c->inf);
    c->inf = copy;
    if (c->login == FH_LOGIN_HELLO)
        fh_nmdc_complete(c);
    else if (c->login == FH_LOGIN_NORMAL)
        fh_nmdc_msg_to_all(c->hub, NULL, c->inf);
}

static void fh_nmdc_getinfo(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    (void)line, (void)len;
    struct fh_conn *t = m->nick ? fh_nmdc_by_nick(c->hub, m->nick) : NULL;
    if (t)
        fh_conn_send_msg(c, t->inf);
}

static void fh_nmdc_chat(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    if (!m->nick || strcmp(m->nick, c->nick) != 0) {
        fh_violation(c, FH_R_NMDC_SENDER, "disconnected", m->nick, line, len);
        fh_conn_fail(c, NULL, NULL, "Chat must be sent as <your nick>");
        return;
    }
    fh_nmdc_to_all(c->hub, NULL, line, len);   /* echoed to the sender too (§2.7) */
    FH_HOOK(c->hub, chat, c, m->text ? m->text : "");
}

/* The user a private/direct message goes to, or NULL after telling the sender. */
static struct fh_conn *fh_nmdc_target(struct fh_conn *c, const char *nick)
{
    struct fh_conn *t = nick ? fh_nmdc_by_nick(c->hub, nick) : NULL;
    if (!t) {
        char text[160];
        snprintf(text, sizeof text, "User %s is not online", nick ? nick : "?");
        fh_nmdc_hub_chat(c, text);
    }
    return t;
}

static void fh_nmdc_to(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    if (!m->from || strcmp(m->from, c->nick) != 0 || (m->nick && strcmp(m->nick, c->nick) != 0)) {
        fh_violation(c, FH_R_NMDC_SENDER, "disconnected", m->from, line, len);
        fh_conn_fail(c, NULL, NULL, "PMs must be From: your own nick");
        return;
    }
    struct fh_conn *t = fh_nmdc_target(c, m->to);
    if (!t)
        return;
    fh_conn_send(t, line, len);   /* never echoed: DC++ shows its own PMs (pitfall 5) */
    FH_HOOK(c->hub, pm, c, t, m->text ? m->text : "");
}

/* Is host (the $ConnectToMe address, "1.2.3.4" or "[::1]") the address c
 * connects from? */
static bool fh_nmdc_ctm_ip_ok(const struct fh_conn *c, const char *host)
{
    char h[FH_IP_LEN];
    size_t n = host ? strlen(host) : 0;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        snprintf(h, sizeof h, "%.*s", (int)(n - 2), host + 1);
    else
        snprintf(h, sizeof h, "%s", host ? host : "");
    return fh_ip_check(h, fh_ip_is_v6(c->ip), c->ip) == FH_IP_MATCH;
}

static void fh_nmdc_ctm(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    bool rcm = m->type == NMDC_REVCONNECTTOME;
    if (rcm && (!m->from || strcmp(m->from, c->nick) != 0)) {
        fh_violation(c, FH_R_NMDC_SENDER, "disconnected", m->from, line, len);
        fh_conn_fail(c, NULL, NULL, "RevConnectToMe must name you first");
        return;
    }
    if (!rcm && !fh_nmdc_ctm_ip_ok(c, m->host) &&
        fh_violation(c, FH_R_NMDC_CTM_IP, "refused", m->host, line, len)) {
        char ip[FH_IP_LEN], text[200];
        snprintf(text, sizeof text, "$ConnectToMe refused: give your own address %s (nmdc-ctm-ip)",
                 fh_conn_ip(c, ip));
        fh_nmdc_hub_chat(c, text);
        return;
    }
    struct fh_conn *t = fh_nmdc_target(c, m->nick);
    if (!t)
        return;
    fh_conn_send(t, line, len);
    FH_HOOK(c->hub, ctm, c, t, rcm ? FH_RCM : FH_CTM);
}

static void fh_nmdc_search(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    if (m->search.passive && (!m->search.source || strcmp(m->search.source, c->nick) != 0)) {
        fh_violation(c, FH_R_NMDC_SENDER, "disconnected", m->search.source, line, len);
        fh_conn_fail(c, NULL, NULL, "Passive search must be Hub:<your nick>");
        return;
    }
    /* Passive users cannot answer passive searches (§2.9): spare them. */
    struct fh_msg *shared = fh_msg_new(FH_PROTO_NMDC, line, len);
    for (struct fh_conn *u = c->hub->conns; u; u = u->next)
        if (u != c && fh_nmdc_user(u) &&
            !(m->search.passive && u->inf && strstr(u->inf->data, ",M:P")))
            fh_conn_send_msg(u, shared);
    fh_msg_unref(shared);
}

static void fh_nmdc_sr(struct fh_conn *c, struct nmdc_msg *m, const char *line, size_t len)
{
    if (!m->sr.nick || strcmp(m->sr.nick, c->nick) != 0) {
        fh_violation(c, FH_R_NMDC_SENDER, "disconnected", m->sr.nick, line, len);
        fh_conn_fail(c, NULL, NULL, "SR must carry your own nick");
        return;
    }
    long cut = fh_nmdc_sr_target(line, len);
    if (cut < 0)
        return;   /* an active result belongs on UDP; nothing to route */
    char *target = strndup(line + cut + 1, len - (size_t)cut - 1);
    struct fh_conn *t = target ? fh_nmdc_by_nick(c->hub, target) : NULL;
    free(target);
    if (t)
        fh_conn_send(t, line, (size_t)cut);   /* without "\x05<searcher>" */
}

/* One row of the static dispatch table (nothing owned). */
struct fh_nmdc_cmd {
    enum nmdc_type type;
    unsigned states;
    fh_nmdc_handler *fn;
};

#define FH_PRE (FH_S(FH_LOGIN_START))
#define FH_ANY (~0u)
#define FH_USER (FH_S(FH_LOGIN_NORMAL))

static const struct fh_nmdc_cmd fh_nmdc_cmds[] = {
    {NMDC_SUPPORTS, FH_PRE | FH_USER, fh_nmdc_supports},
    {NMDC_KEY, FH_PRE, fh_nmdc_key},
    {NMDC_VALIDATENICK, FH_PRE, fh_nmdc_validatenick},
    {NMDC_MYPASS, FH_S(FH_LOGIN_VERIFY), fh_nmdc_mypass},
    {NMDC_VERSION, FH_ANY, fh_nmdc_ignore},
    {NMDC_GETNICKLIST, FH_S(FH_LOGIN_HELLO) | FH_USER, fh_nmdc_getnicklist},
    {NMDC_MYINFO, FH_PRE | FH_S(FH_LOGIN_HELLO) | FH_USER, fh_nmdc_myinfo},
    {NMDC_GETINFO, FH_USER, fh_nmdc_getinfo},
    {NMDC_CHAT, FH_USER, fh_nmdc_chat},
    {NMDC_TO, FH_USER, fh_nmdc_to},
    {NMDC_CONNECTTOME, FH_USER, fh_nmdc_ctm},
    {NMDC_REVCONNECTTOME, FH_USER, fh_nmdc_ctm},
    {NMDC_SEARCH, FH_USER, fh_nmdc_search},
    {NMDC_SR, FH_USER, fh_nmdc_sr},
    /* Only hubs send these (notes §2.2-2.6) ... */
    {NMDC_LOCK, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_VALIDATEDENIDE, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_HELLO, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_GETPASS, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_BADPASS, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_LOGEDIN, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_NICKLIST, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_OPLIST, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_BOTLIST, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_HUBNAME, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_HUBTOPIC, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_HUBISFULL, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_USERIP, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_QUIT, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_FORCEMOVE, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_ZON, FH_ANY, fh_nmdc_not_to_hub},
    /* ... and these go between clients (§2.10-2.11). */
    {NMDC_MYNICK, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_DIRECTION, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_ADCGET, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_ADCSND, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_MAXEDOUT, FH_ANY, fh_nmdc_not_to_hub},
    {NMDC_ERROR, FH_ANY, fh_nmdc_not_to_hub},
};

void fh_nmdc_line(struct fh_conn *c, char *line, size_t len)
{
    if (len == 0)
        return;   /* keep-alive */
    struct nmdc_msg m;
    const char *why = NULL;
    if (nmdc_msg_parse(line, len, &m, &why) < 0) {
        static const char vn[] = "$ValidateNick ";
        if (c->login == FH_LOGIN_START && len > sizeof vn - 1 && !memcmp(line, vn, sizeof vn - 1)) {
            fh_violation(c, FH_R_NMDC_NICK, "disconnected", line + sizeof vn - 1, line, len);
            fh_nmdc_deny(c, line + sizeof vn - 1, "invalid nick");   /* the codec refused the nick */
            return;
        }
        char text[160];
        snprintf(text, sizeof text, "Malformed message: %s", why ? why : "parse error");
        fh_violation(c, FH_R_NMDC_SYNTAX, "disconnected", why, line, len);
        fh_conn_fail(c, NULL, NULL, text);
        return;
    }
    for (size_t i = 0; i < sizeof fh_nmdc_cmds / sizeof fh_nmdc_cmds[0]; i++) {
        const struct fh_nmdc_cmd *d = &fh_nmdc_cmds[i];
        if (d->type != m.type)
            continue;
        if (d->states & FH_S(c->login)) {
            d->fn(c, &m, line, len);
        } else {
            fh_violation(c, FH_R_NMDC_STATE, "disconnected", m.name, line, len);
            fh_conn_fail(c, NULL, NULL, "Command not valid at this point of the login");
        }
        break;
    }
    /* Anything else (unknown commands, hub-to-client ones) is ignored (§4.1). */
    nmdc_msg_cleanup(&m);
}
