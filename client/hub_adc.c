/* hub_adc.c: the ADC side of the client core (protocol notes §3.1-3.9,
 * §4.4): HSUP, ISID -> BINF (ID/PD from the client's PID), IGPA -> HPAS,
 * the user list (BINF join/update, IQUI leave), BMSG main chat, EMSG/DMSG
 * private messages, ISTA/IMSG hub status, and refusals (fatal ISTA, IQUI of
 * our own SID).
 *
 * DCTM/DRCM addressed to us go to cc.c. On a session with TLS client
 * connections our INF carries SU ADC0 and KP; peers' SU (ADC0 or ADCS) and
 * KP are kept in their user entries for cc.c.
 *
 * Parsing and escaping are proto/adc's. Dispatch is a table of {command,
 * type letters, handler}. Our own BINF coming back completes the login. Our
 * PMs go out as EMSG ... PM<own sid>; the hub echoes them to us, and the echo
 * (source = our SID) is not reported as a received PM.
 */
#include "client/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/adc.h"
#include "proto/base32.h"

/* Format m into c->out, send it and clean m up. */
static int adc_send_msg(struct dcc_client *c, struct adc_msg *m)
{
    dc_buf_reset(&c->out);
    int rc = adc_msg_format(m, &c->out);
    adc_msg_cleanup(m);
    if (rc < 0) {
        dc_buf_reset(&c->out);
        return -1;
    }
    return dcc_send_out(c);
}

static void adc_connected(struct dcc_client *c)
{
    struct adc_msg m;
    adc_msg_init(&m, 'H', "SUP");
    if (adc_msg_add_named(&m, "AD", "BASE") < 0 || adc_msg_add_named(&m, "AD", "TIGR") < 0 ||
        adc_send_msg(c, &m) < 0) {
        adc_msg_cleanup(&m);
        dcc_fail(c, "cannot queue HSUP");
    }
}

/* Our INF: everything at login (full), the fields other users see later. */
static int adc_send_inf(struct dcc_client *c, bool full)
{
    struct adc_msg m;
    char slots[16], share[24], files[24];
    uint64_t ss, sf;
    dcc_advertised(c, &ss, &sf);
    snprintf(slots, sizeof slots, "%d", dcc_sget_int(c->settings, DCC_S_SLOTS));
    snprintf(share, sizeof share, "%llu", (unsigned long long)ss);
    snprintf(files, sizeof files, "%llu", (unsigned long long)sf);
    adc_msg_init(&m, 'B', "INF");
    int rc = adc_msg_set_sids(&m, c->sid, NULL);
    if (full)
        rc |= adc_msg_add_named(&m, "ID", c->cid_b32) | adc_msg_add_named(&m, "PD", c->pid_b32) |
              adc_msg_add_named(&m, "NI", c->nick);
    rc |= adc_msg_add_named(&m, "DE", dcc_setting_s(c, DCC_S_DESCRIPTION)) |
          adc_msg_add_named(&m, "EM", dcc_setting_s(c, DCC_S_EMAIL)) |
          adc_msg_add_named(&m, "SL", slots) | adc_msg_add_named(&m, "SS", share) |
          adc_msg_add_named(&m, "SF", files);
    /* Active: the hub fills in I4; peers connect to it at our CTM port. */
    /* TLS client connections: SU ADC0 (what DC++-family clients look for)
     * and KP, the keyprint peers check our certificate against. */
    const char *su = dcc_xfer_port(c) ? (c->cc_tls ? "TCP4,ADC0" : "TCP4") : (c->cc_tls ? "ADC0" : "");
    const char *kp = c->cc_tls ? dcc_client_keyprint(c, NULL) : NULL;
    if (full)
        rc |= adc_msg_add_named(&m, "I4", "0.0.0.0") | adc_msg_add_named(&m, "SU", su);
    if (full && kp)
        rc |= adc_msg_add_named(&m, "KP", kp);
    if (full)
        rc |= adc_msg_add_named(&m, "HN", "1") |
              adc_msg_add_named(&m, "HR", "0") | adc_msg_add_named(&m, "HO", "0") |
              adc_msg_add_named(&m, "AP", "dcclient") | adc_msg_add_named(&m, "VE", DCC_VERSION);
    if (rc < 0) {
        adc_msg_cleanup(&m);
        return -1;
    }
    return adc_send_msg(c, &m);
}

static int adc_send_info(struct dcc_client *c)
{
    return adc_send_inf(c, false);
}

static void adc_on_sup(struct dcc_client *c, struct adc_msg *m)
{
    bool tigr = false;
    for (size_t i = 0; i < m->nnamed; i++)
        if (strcmp(m->named[i].code, "AD") == 0 && strcmp(m->named[i].value, "TIGR") == 0)
            tigr = true;
    if (!tigr && c->state == DCC_STATE_LOGIN)
        dcc_fail(c, "hub does not support TIGR hashing (no common hash)");
}

static void adc_on_sid(struct dcc_client *c, struct adc_msg *m)
{
    if (c->state != DCC_STATE_LOGIN || c->sid[0])
        return;
    if (!adc_sid_valid(m->pos[0])) {
        dcc_fail(c, "protocol error: hub assigned an invalid SID");
        return;
    }
    memcpy(c->sid, m->pos[0], sizeof c->sid);
    if (adc_send_inf(c, true) < 0)
        dcc_fail(c, "cannot format or queue our BINF");
}

static void adc_on_gpa(struct dcc_client *c, struct adc_msg *m)
{
    const char *pw = dcc_setting_s(c, DCC_S_PASSWORD);
    if (!*pw) {
        dcc_failc(c, "password-required", "hub requires a password for '%s' and none is set", c->nick);
        return;
    }
    size_t slen = strlen(m->pos[0]);
    uint8_t *salt = malloc(slen + 1);
    int n = salt ? dc_base32_decode(m->pos[0], slen, salt, slen + 1) : -1;
    if (n < 0) {
        free(salt);
        dcc_fail(c, "protocol error: IGPA data is not base32");
        return;
    }
    /* HPAS = base32(Tiger(password || salt)) (notes §3.6). */
    struct dc_tiger_ctx t;
    uint8_t digest[DC_TIGER_LEN];
    char text[40];
    dc_tiger_init(&t);
    dc_tiger_update(&t, pw, strlen(pw));
    dc_tiger_update(&t, salt, (size_t)n);
    dc_tiger_final(&t, digest);
    free(salt);
    dc_base32_encode(digest, sizeof digest, text, sizeof text);
    struct adc_msg r;
    adc_msg_init(&r, 'H', "PAS");
    if (adc_msg_add_pos(&r, text) < 0 || adc_send_msg(c, &r) < 0) {
        adc_msg_cleanup(&r);
        dcc_fail(c, "cannot queue HPAS");
    }
}

static void adc_on_inf(struct dcc_client *c, struct adc_msg *m)
{
    if (m->type == 'I')
        return;            /* the hub's own name/description: not a user */
    /* INF is incremental: only the fields present change; "" clears. A
     * switch on the code, not string compares: a hub sends N INFs per login. */
    const char *v[DCC_UF_COUNT] = {0}, *ss = NULL, *su = NULL, *ct = NULL;
    for (size_t i = 0; i < m->nnamed; i++) {
        const char *val = m->named[i].value;
        switch (m->named[i].code[0] << 8 | m->named[i].code[1]) {
        case 'N' << 8 | 'I': v[DCC_UF_NICK] = val; break;
        case 'D' << 8 | 'E': v[DCC_UF_DESCRIPTION] = val; break;
        case 'E' << 8 | 'M': v[DCC_UF_EMAIL] = val; break;
        case 'V' << 8 | 'E': v[DCC_UF_TAG] = val; break;
        case 'I' << 8 | 'D': v[DCC_UF_CID] = val; break;
        case 'I' << 8 | '4': v[DCC_UF_IP] = val; break;
        case 'K' << 8 | 'P': v[DCC_UF_KEYPRINT] = val; break;
        case 'S' << 8 | 'S': ss = val; break;
        case 'S' << 8 | 'U': su = val; break;
        case 'C' << 8 | 'T': ct = val; break;
        default: break;
        }
    }
    bool joined;
    struct dcc_user *u = dcc_users_put(&c->users, m->src_sid, v, &joined);
    if (!u) {
        dcc_fail(c, "out of memory");
        return;
    }
    if (ss)
        u->share = strtoull(ss, NULL, 10);
    if (su)
        u->active = strstr(su, "TCP4") != NULL, u->tls = dcc_su_tls(su);
    if (ct)
        u->op = (strtol(ct, NULL, 10) & (4 | 8 | 16)) != 0;   /* op, super user, owner */
    u->self = strcmp(m->src_sid, c->sid) == 0;
    bool self = u->self;
    struct dcc_event ev = {.type = joined ? DCC_EVENT_USER_JOIN : DCC_EVENT_USER_UPDATE, .user = u};
    if (dcc_emit(c, &ev) && self && c->state == DCC_STATE_LOGIN)
        dcc_online(c);
}

static void adc_on_qui(struct dcc_client *c, struct adc_msg *m)
{
    const char *sid = m->pos[0];
    if (strcmp(sid, c->sid) == 0 || (c->state == DCC_STATE_LOGIN && !c->sid[0])) {
        const char *ms = adc_msg_get(m, "MS"), *tl = adc_msg_get(m, "TL");
        if (tl && strcmp(tl, "-1") == 0)
            dcc_no_reconnect(c);
        dcc_fail(c, "hub disconnected us%s%s", ms || c->last_status ? ": " : "",
                 ms ? ms : c->last_status ? c->last_status : "");
        return;
    }
    struct dcc_user *u = dcc_user_find(c, sid);
    if (!u)
        return;
    struct dcc_event ev = {.type = DCC_EVENT_USER_LEAVE, .user = u};
    if (dcc_emit(c, &ev))
        dcc_users_remove(&c->users, sid);
}

static void adc_on_sta(struct dcc_client *c, struct adc_msg *m)
{
    if (m->type != 'I')
        return;            /* STA from other users is about C-C, not handled */
    int sev = 0, code = 0;
    if (adc_sta_split(m->pos[0], &sev, &code) < 0)
        sev = 0;
    const char *text = m->pos[1];
    if (dcc_status(c, (int)strtol(m->pos[0], NULL, 10), text) && sev == ADC_STA_SEV_FATAL)
        /* ADC STA 22: nick taken, 23: bad password (the ADC spec's error codes). */
        dcc_failc(c, code == 22 ? "nick-taken" : code == 23 ? "bad-password" : "connect-failed", "%s (ADC %s)",
                  *text ? text : "hub refused us", m->pos[0]);
}

static void adc_on_msg(struct dcc_client *c, struct adc_msg *m)
{
    const char *text = m->pos[0];
    if (m->type == 'I') {
        dcc_status(c, -1, text);
        return;
    }
    const struct dcc_user *u = dcc_user_find(c, m->src_sid);
    const char *from = u && *u->nick ? u->nick : m->src_sid;
    if (m->type == 'B' || !adc_msg_get(m, "PM")) {
        struct dcc_event ev = {.type = DCC_EVENT_CHAT, .from = from, .text = text};
        dcc_emit(c, &ev);
        return;
    }
    if (strcmp(m->src_sid, c->sid) == 0)
        return;            /* the hub's echo of our own PM */
    struct dcc_event ev = {.type = DCC_EVENT_PM, .from = from, .to = c->nick, .text = text};
    dcc_emit(c, &ev);
}

/* DCTM <from> <us> <proto> <port> <token>: connect to the sender. */
static void adc_on_ctm(struct dcc_client *c, struct adc_msg *m)
{
    const struct dcc_user *u = dcc_user_find(c, m->src_sid);
    long port = strtol(m->pos[1], NULL, 10);
    if (u && strcmp(m->dst_sid, c->sid) == 0 && port > 0 && port < 65536 && *u->ip)
        dcc_cc_adc_ctm(c, u, m->pos[0], (uint16_t)port, m->pos[2]);
}

/* DRCM <from> <us> <proto> <token>: the sender is passive and wants a CTM. */
static void adc_on_rcm(struct dcc_client *c, struct adc_msg *m)
{
    const struct dcc_user *u = dcc_user_find(c, m->src_sid);
    if (u && strcmp(m->dst_sid, c->sid) == 0)
        dcc_cc_adc_rcm(c, u, m->pos[0], m->pos[1]);
}

/* Dispatch table: command, type letters it is accepted with, handler. */
static const struct adc_handler {
    char cmd[4];
    const char *types;
    void (*fn)(struct dcc_client *c, struct adc_msg *m);
} adc_handlers[] = {
    {"SUP", "I", adc_on_sup},
    {"SID", "I", adc_on_sid},
    {"GPA", "I", adc_on_gpa},
    {"INF", "IB", adc_on_inf},
    {"QUI", "I", adc_on_qui},
    {"STA", "IDE", adc_on_sta},
    {"MSG", "IBDE", adc_on_msg},
    {"CTM", "DE", adc_on_ctm},
    {"RCM", "DE", adc_on_rcm},
};

static void adc_line(struct dcc_client *c, char *line, size_t len)
{
    /* ~3 KiB, so off the stack, and kept for the next line: a hub sends N
     * INFs per login, and a fresh block this size per line was a tenth of
     * a big login's cost. Handlers never reach here again (dcc_read_cb). */
    if (!c->adc_msg && !(c->adc_msg = malloc(sizeof *c->adc_msg))) {
        dcc_fail(c, "out of memory");
        return;
    }
    struct adc_msg *m = c->adc_msg;
    const char *why = NULL;
    if (adc_msg_parse(line, len, m, &why) < 0) {
        dcc_log(c, "ignoring malformed ADC message (%s): %.120s", why ? why : "?", line);
        return;
    }
    for (size_t i = 0; i < sizeof adc_handlers / sizeof adc_handlers[0]; i++) {
        const struct adc_handler *h = &adc_handlers[i];
        if (strcmp(h->cmd, m->cmd) == 0 && strchr(h->types, m->type)) {
            h->fn(c, m);
            break;
        }
    }
    adc_msg_cleanup(m);
}

static int adc_say(struct dcc_client *c, const char *text, char *err)
{
    struct adc_msg m;
    adc_msg_init(&m, 'B', "MSG");
    if (adc_msg_set_sids(&m, c->sid, NULL) < 0 || adc_msg_add_pos(&m, text) < 0 || adc_send_msg(c, &m) < 0) {
        adc_msg_cleanup(&m);
        return dcc_err(err, "cannot format or queue the chat message");
    }
    return 0;
}

static int adc_pm(struct dcc_client *c, const struct dcc_user *to, const char *text, char *err)
{
    struct adc_msg m;
    adc_msg_init(&m, 'E', "MSG");
    if (adc_msg_set_sids(&m, c->sid, to->sid) < 0 || adc_msg_add_pos(&m, text) < 0 ||
        adc_msg_add_named(&m, "PM", c->sid) < 0 || adc_send_msg(c, &m) < 0) {
        adc_msg_cleanup(&m);
        return dcc_err(err, "cannot format or queue the private message");
    }
    return 0;
}

const struct dcc_proto_ops dcc_adc_ops = {
    .delim = '\n',
    .connected = adc_connected,
    .line = adc_line,
    .say = adc_say,
    .pm = adc_pm,
    .send_info = adc_send_info,
};
