/* hub_adc.c: the ADC side of fakehub (protocol notes §3, hub subset §4.3).
 *
 * PROTOCOL (HSUP) -> IDENTIFY (BINF checked: SID, ID/PD/NI, CID == Tiger(PID),
 * nick and CID unique) -> VERIFY (IGPA/HPAS, registered nicks only) -> NORMAL
 * (user list with the newcomer's own BINF last). In NORMAL, messages are
 * routed by type letter (B all, F by features, D target, E target + sender)
 * as received, after checking the sender SID; INF updates are merged and
 * relayed with PD stripped and I4 set to the real address.
 *
 * Dispatch is a table: command, allowed type letters, allowed states,
 * handler. Any error before NORMAL, a malformed line or a spoofed SID is
 * fatal: ISTA with the code from §3.7, IQUI, close.
 */
#include "fakehub/hub_internal.h"
#include "fakehub/strict.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/base32.h"
#include "proto/buf.h"

#define FH_ADC_VERSION "fakehub/0.1"
#define FH_S(x) (1u << (x))

/* ---- output ------------------------------------------------------------- */

/* Lines are built as text into a dc_buf, never through a struct adc_msg: that
 * struct is 3 KiB, and every one on the login path was stack the hub keeps
 * resident for good (issue 4: 12 KiB of a 100-user run's growth). */

/* Append " <code><value escaped>"; code may be "" (a positional value). */
static int fh_adc_put(struct dc_buf *b, const char *code, const char *value)
{
    return dc_buf_append_byte(b, ' ') | dc_buf_append_str(b, code) |
           adc_escape_append(b, value, strlen(value));
}

/* Send what b holds (no terminator: fh_conn_send adds it), then clear b. */
static void fh_adc_send_buf(struct fh_conn *c, struct dc_buf *b, int rc)
{
    if (rc == 0 && b->len > 0)
        fh_conn_send(c, b->data, b->len);
    dc_buf_cleanup(b);
}

/* "ISTA <code> <text> [flag]" where flag is a named parameter like "FBID". */
static void fh_adc_sta(struct fh_conn *c, const char *code, const char *flag, const char *text)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    int rc = dc_buf_appendf(&b, "ISTA %s", code) | fh_adc_put(&b, "", text);
    if (flag && strlen(flag) >= 2) {
        char fc[3] = {flag[0], flag[1], '\0'};
        rc |= fh_adc_put(&b, fc, flag + 2);
    }
    fh_adc_send_buf(c, &b, rc);
}

void fh_adc_quit_self(struct fh_conn *c, const char *code, const char *flags, const char *text)
{
    if (code)
        fh_adc_sta(c, code, flags, text);
    struct dc_buf b;
    dc_buf_init(&b, 0);
    int rc = dc_buf_appendf(&b, "IQUI %s", c->sid) | fh_adc_put(&b, "MS", text);
    fh_adc_send_buf(c, &b, rc);
}

void fh_adc_hub_chat(struct fh_conn *c, const char *text)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    int rc = dc_buf_append_str(&b, "IMSG") | fh_adc_put(&b, "", text);
    fh_adc_send_buf(c, &b, rc);
}

static bool fh_adc_user(const struct fh_conn *u)
{
    return u->proto == FH_PROTO_ADC && u->state == FH_CONN_OPEN && u->login == FH_LOGIN_NORMAL;
}

void fh_adc_left(struct fh_conn *c)
{
    char line[16];
    int n = snprintf(line, sizeof line, "IQUI %s", c->sid);
    struct fh_msg *m = fh_msg_new(FH_PROTO_ADC, line, (size_t)n);
    for (struct fh_conn *u = c->hub->conns; u; u = u->next)
        if (u != c && fh_adc_user(u) && fh_conn_knows(u, c))
            fh_conn_send_msg(u, m);
    fh_msg_unref(m);
}

/* ---- INF storage ---------------------------------------------------------- */

/* The INF value the hub keeps and relays for a client's field: NULL for PD
 * (the PID is secret: never stored, never relayed) and for a field
 * fh_adc_inf_check stripped (its code cleared); I4/I6 arrive here already
 * replaced by the real address where the rules say so. */
static const char *fh_adc_inf_value(const struct adc_named *f)
{
    if (f->code[0] == '\0' || (f->code[0] == 'P' && f->code[1] == 'D'))
        return NULL;
    return f->value;
}

/* The index of the last field named `code` in f[0..n) (a repeated INF
 * field's last value wins), or -1. */
static long fh_adc_last(const struct adc_named *f, size_t n, const char *code)
{
    for (size_t i = n; i-- > 0;)
        if (f[i].code[0] == code[0] && f[i].code[1] == code[1])
            return (long)i;
    return -1;
}

/* Where the value of the named field `code` starts in a formatted INF line
 * ("BINF AAAB IDxxx NIyyy ...\n"; values hold no raw spaces), or 0. */
static uint16_t fh_adc_field_at(const struct fh_msg *line, const char *code)
{
    for (const char *p = line->data + 5; (p = strchr(p, ' ')) != NULL;) {   /* past "BINF " and the SID */
        p++;
        if (p[0] == code[0] && p[1] == code[1])
            return (uint16_t)(p + 2 - line->data);
    }
    return 0;
}

/* Merge INF fields upd[0..n) (as the client sent them: fh_adc_inf_value
 * filters) into c's BINF line, an empty value deleting a field (INF is
 * incremental, §3.5), and make the line everyone gets once, here. The old
 * line's fields keep their place and, unless updated, their escaped text;
 * new fields follow in the order sent. The BINF line is all the hub keeps of
 * the INF (CID and SU are looked up in it). */
static int fh_adc_inf_merge(struct fh_conn *c, const struct adc_named *upd, size_t n)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    int rc = dc_buf_appendf(&b, "BINF %s", c->sid);
    if (c->inf) {
        const char *end = c->inf->data + c->inf->len - 1;   /* the LF */
        for (const char *tok = c->inf->data + 5 + ADC_SID_LEN; tok < end && rc == 0;) {
            tok++;   /* the space before a field */
            const char *tok_end = memchr(tok, ' ', (size_t)(end - tok));
            if (!tok_end)
                tok_end = end;
            char code[3] = {tok[0], tok[1], '\0'};
            long i = fh_adc_last(upd, n, code);
            const char *v = i >= 0 ? fh_adc_inf_value(&upd[i]) : NULL;
            if (!v)
                rc |= dc_buf_append_byte(&b, ' ') | dc_buf_append(&b, tok, (size_t)(tok_end - tok));
            else if (*v)
                rc |= fh_adc_put(&b, code, v);
            tok = tok_end;
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *v = fh_adc_inf_value(&upd[i]);
        if (v && *v && (!c->inf || !fh_adc_field_at(c->inf, upd[i].code)) &&
            fh_adc_last(upd, n, upd[i].code) == (long)i)
            rc |= fh_adc_put(&b, upd[i].code, v);
    }
    struct fh_msg *line = NULL;
    if (rc == 0 && b.len < UINT16_MAX)
        line = fh_msg_new(FH_PROTO_ADC, b.data, b.len);
    dc_buf_cleanup(&b);
    if (!line)
        return -1;
    fh_msg_unref(c->inf);
    c->inf = line;
    c->cid_at = fh_adc_field_at(line, "ID");
    c->su_at = fh_adc_field_at(line, "SU");
    return 0;
}

/* Is the INF value at `at` (ending at ' ' or '\n') equal to s? */
static bool fh_adc_value_is(const char *at, const char *s)
{
    size_t n = strlen(s);
    return at && strncmp(at, s, n) == 0 && (at[n] == ' ' || at[n] == '\n');
}

const char *fh_adc_inf_cid(const struct fh_conn *c)
{
    return c->inf && c->cid_at ? c->inf->data + c->cid_at : NULL;
}

const char *fh_adc_inf_su(const struct fh_conn *c)
{
    return c->inf && c->su_at ? c->inf->data + c->su_at : NULL;
}

/* ---- routing ------------------------------------------------------------- */

static struct fh_conn *fh_adc_by_sid(struct fh_hub *hub, const char *sid)
{
    for (struct fh_conn *u = hub->conns; u; u = u->next)
        if (fh_adc_user(u) && strcmp(u->sid, sid) == 0)
            return u;
    return NULL;
}

/* Relay a client's line as received. Returns the target of a D/E message
 * (NULL if it is not online, after telling the sender) or the sender. */
static struct fh_conn *fh_adc_relay(struct fh_conn *c, const struct adc_msg *m, const char *line,
                                    size_t len)
{
    enum fh_route r = fh_adc_route(m->type);
    if (r == FH_ROUTE_ALL || r == FH_ROUTE_FEATURE) {
        struct fh_msg *shared = fh_msg_new(FH_PROTO_ADC, line, len);
        for (struct fh_conn *u = c->hub->conns; u; u = u->next)
            if (fh_adc_user(u) &&
                (r == FH_ROUTE_ALL || fh_adc_features_match(m->features, fh_adc_inf_su(u))))
                fh_conn_send_msg(u, shared);
        fh_msg_unref(shared);
        return c;
    }
    struct fh_conn *t = fh_adc_by_sid(c->hub, m->dst_sid);
    if (!t) {
        fh_adc_sta(c, "140", NULL, "Unknown target SID");
        return NULL;
    }
    fh_conn_send(t, line, len);
    if (r == FH_ROUTE_ECHO && t != c)
        fh_conn_send(c, line, len);
    return t;
}

/* ---- protocol rules (strict.h) ---------------------------------------------- */

/* "CODEvalue" of a named field for a violation's detail, cut short. */
static const char *fh_adc_detail(const struct adc_named *f, char out[64])
{
    snprintf(out, 64, "%s%.48s", f->code, f->value);
    return out;
}

/* A recoverable refusal (severity 1): the line is dropped, the sender told
 * which rule it broke. */
static void fh_adc_refuse(struct fh_conn *c, const char *code, const char *flag, enum fh_rule r,
                          const char *detail)
{
    char text[160];
    snprintf(text, sizeof text, "Protocol violation %s: %s", fh_rule_get(r)->id, detail);
    fh_adc_sta(c, code, flag, text);
}

/* Integer INF fields (ADC 1.0.4 INF: "integer"; AW's values from its text;
 * U4/U6 are ports). CT is the hub's (fh_adc_inf_check strips it). */
static const struct {
    char code[3];
    long long min, max;
} fh_adc_int_fields[] = {
    {"SS", 0, INT64_MAX}, {"SF", 0, INT64_MAX}, {"US", 0, INT64_MAX}, {"DS", 0, INT64_MAX},
    {"SL", 0, INT64_MAX}, {"AS", 0, INT64_MAX}, {"AM", 0, INT64_MAX}, {"HN", 0, INT64_MAX},
    {"HR", 0, INT64_MAX}, {"HO", 0, INT64_MAX}, {"AW", 0, 2}, {"U4", 1, 65535}, {"U6", 1, 65535},
};
/* Text INF fields: user-entered, so any code point >= 32 (NI: above 32). */
static const char fh_adc_text_fields[][3] = {"NI", "DE", "EM", "VE", "AP"};

/* Which rule, if any, the value of INF field f breaks (CT and I4/I6 apart). */
static enum fh_rule fh_adc_field_rule(const struct adc_named *f)
{
    for (size_t k = 0; k < sizeof fh_adc_text_fields / sizeof fh_adc_text_fields[0]; k++)
        if (!memcmp(f->code, fh_adc_text_fields[k], 2))
            return fh_text_ok(f->value, f->code[0] == 'N' ? 33 : 32) ? FH_R_COUNT : FH_R_ADC_INF_TEXT;
    for (size_t k = 0; k < sizeof fh_adc_int_fields / sizeof fh_adc_int_fields[0]; k++)
        if (!memcmp(f->code, fh_adc_int_fields[k].code, 2))
            return fh_int_in(f->value, fh_adc_int_fields[k].min, fh_adc_int_fields[k].max)
                       ? FH_R_COUNT : FH_R_ADC_INF_INT;
    if (f->code[0] == 'S' && f->code[1] == 'U')
        return fh_su_ok(f->value) ? FH_R_COUNT : FH_R_ADC_INF_SU;
    return FH_R_COUNT;
}

/* Hold a client's INF to the rules before anything of it is kept: CT is
 * stripped (code cleared, so fh_adc_inf_value skips it); I4/I6 of the
 * connection's family become its real address (ip holds it), of the other
 * family are stripped; bad text, integers or SU refuse the whole INF (fatal
 * at login, ISTA 143 later). Returns false when refused. */
static bool fh_adc_inf_check(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len,
                             char ip[FH_IP_LEN])
{
    bool login = c->login != FH_LOGIN_NORMAL;
    char detail[64];
    for (size_t i = 0; i < m->nnamed; i++) {
        struct adc_named *f = &m->named[i];
        if (f->code[0] == 'C' && f->code[1] == 'T') {
            if (fh_violation(c, FH_R_ADC_INF_CT, "stripped", fh_adc_detail(f, detail), line, len))
                f->code[0] = '\0';
            continue;
        }
        if (!*f->value)
            continue;   /* an empty value deletes the field: always allowed */
        if (f->code[0] == 'I' && (f->code[1] == '4' || f->code[1] == '6')) {
            bool own = (f->code[1] == '6') == fh_ip_is_v6(c->ip);
            enum fh_ip_check k = fh_ip_check(f->value, f->code[1] == '6', c->ip);
            if (k == FH_IP_MATCH)
                continue;
            if (k != FH_IP_ZERO && !fh_violation(c, FH_R_ADC_INF_IP, own ? "replaced" : "stripped",
                                                 fh_adc_detail(f, detail), line, len))
                continue;
            if (own)
                f->value = (char *)fh_conn_ip(c, ip);
            else
                f->code[0] = '\0';
            continue;
        }
        enum fh_rule r = fh_adc_field_rule(f);
        if (r == FH_R_COUNT ||
            !fh_violation(c, r, login ? "disconnected" : "refused", fh_adc_detail(f, detail), line, len))
            continue;
        char flag[5] = {'F', 'B', f->code[0], f->code[1], '\0'};
        if (login)
            fh_conn_fail(c, "243", flag, "INF field invalid");
        else
            fh_adc_refuse(c, "143", flag, r, detail);
        return false;
    }
    return true;
}

/* MSG flags: ME is 1 or 0 (empty: unset); PM is the sender's own SID.
 * Returns false when the message was refused. */
static bool fh_adc_msg_check(struct fh_conn *c, const struct adc_msg *m, const char *line, size_t len)
{
    char detail[64];
    for (size_t i = 0; i < m->nnamed; i++) {
        const struct adc_named *f = &m->named[i];
        enum fh_rule r;
        if (f->code[0] == 'M' && f->code[1] == 'E') {
            if (!f->value[0] || ((f->value[0] == '0' || f->value[0] == '1') && !f->value[1]))
                continue;
            r = FH_R_ADC_MSG_ME;
        } else if (f->code[0] == 'P' && f->code[1] == 'M') {
            if (strcmp(f->value, m->src_sid) == 0)
                continue;
            r = FH_R_ADC_MSG_PM;
        } else {
            continue;
        }
        if (fh_violation(c, r, "refused", fh_adc_detail(f, detail), line, len)) {
            fh_adc_refuse(c, "140", NULL, r, detail);
            return false;
        }
    }
    return true;
}

/* SCH: LE, GE, EQ sizes, TY 1 or 2. Returns false when refused. */
static bool fh_adc_sch_check(struct fh_conn *c, const struct adc_msg *m, const char *line, size_t len)
{
    char detail[64];
    for (size_t i = 0; i < m->nnamed; i++) {
        const struct adc_named *f = &m->named[i];
        bool size = (f->code[0] == 'L' || f->code[0] == 'G' || f->code[0] == 'E') &&
                    f->code[1] == (f->code[0] == 'E' ? 'Q' : 'E');
        bool ty = f->code[0] == 'T' && f->code[1] == 'Y';
        if ((!size && !ty) || fh_int_in(f->value, ty ? 1 : 0, ty ? 2 : INT64_MAX))
            continue;
        if (fh_violation(c, FH_R_ADC_SCH, "refused", fh_adc_detail(f, detail), line, len)) {
            fh_adc_refuse(c, "140", NULL, FH_R_ADC_SCH, detail);
            return false;
        }
    }
    return true;
}

/* ---- handlers -------------------------------------------------------------- */

typedef void fh_adc_handler(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len);

static void fh_adc_sup(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    if (c->login == FH_LOGIN_NORMAL) {
        /* A feature update: nothing here depends on one, but without BASE or
         * the session hash the session cannot go on (ADC-TST SUP). */
        for (size_t i = 0; i < m->nnamed; i++) {
            const char *v = m->named[i].value;
            bool tigr = !strcmp(v, "TIGR");
            if (strcmp(m->named[i].code, "RM") || (strcmp(v, "BASE") && !tigr))
                continue;
            char detail[64];
            if (fh_violation(c, FH_R_ADC_SUP_REMOVE, "disconnected",
                             fh_adc_detail(&m->named[i], detail), line, len)) {
                fh_conn_fail(c, "245", tigr ? "FCTIGR" : "FCBASE",
                             tigr ? "TIGR support removed" : "BASE support removed");
                return;
            }
        }
        return;
    }
    bool base = false, tigr = false;
    for (size_t i = 0; i < m->nnamed; i++)
        if (strcmp(m->named[i].code, "AD") == 0) {
            base |= !strcmp(m->named[i].value, "BASE") || !strcmp(m->named[i].value, "BAS0");
            tigr |= !strcmp(m->named[i].value, "TIGR");
        }
    if (!base) {
        fh_violation(c, FH_R_ADC_SUP_BASE, "disconnected", NULL, line, len);
        fh_conn_fail(c, "245", "FCBASE", "BASE support required");
        return;
    }
    if (!tigr) {
        fh_violation(c, FH_R_ADC_SUP_HASH, "disconnected", NULL, line, len);
        fh_conn_fail(c, "247", NULL, "No common hash algorithm");
        return;
    }
    const struct fh_config *cfg = &c->hub->cfg;
    fh_conn_sendf(c, "ISUP ADBASE ADTIGR");
    fh_conn_sendf(c, "ISID %s", c->sid);
    struct dc_buf b;
    dc_buf_init(&b, 0);
    int rc = dc_buf_append_str(&b, "IINF CT32") | fh_adc_put(&b, "NI", cfg->name);
    if (*cfg->topic)
        rc |= fh_adc_put(&b, "DE", cfg->topic);
    rc |= fh_adc_put(&b, "VE", FH_ADC_VERSION);
    fh_adc_send_buf(c, &b, rc);
    c->login = FH_LOGIN_IDENTIFY;
}

static void fh_adc_complete(struct fh_conn *c)
{
    if (c->registered) {
        char ct_value[2] = {c->op ? '4' : '2', '\0'};
        struct adc_named ct = {"CT", ct_value};
        if (fh_adc_inf_merge(c, &ct, 1) < 0) {
            fh_conn_close(c, "out of memory", false);
            return;
        }
    }
    fh_conn_logged_in(c);
    for (struct fh_conn *u = c->hub->conns; u; u = u->next)
        if (u != c && fh_adc_user(u))
            fh_conn_send_msg(u, c->inf);
    fh_conn_list_start(c);
}

void fh_adc_list_done(struct fh_conn *c)
{
    fh_conn_send_msg(c, c->inf);   /* own BINF last: "login complete" for DC++ (pitfall 12) */
    if (*c->hub->cfg.motd)
        fh_adc_hub_chat(c, c->hub->cfg.motd);
    fh_conn_announce(c);
}

/* First BINF: every check uhub does (notes §3.4), each with its STA code. */
static void fh_adc_login_inf(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    struct fh_hub *hub = c->hub;
    char ip[FH_IP_LEN];
    if (!fh_adc_inf_check(c, m, line, len, ip))
        return;
    static const char *const need[] = {"ID", "PD", "NI"};
    const char *val[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < m->nnamed; i++)
        for (size_t k = 0; k < 3; k++)
            if (strcmp(m->named[i].code, need[k]) == 0) {
                if (val[k]) {
                    char flag[5] = {'F', 'B', need[k][0], need[k][1], '\0'};
                    fh_violation(c, FH_R_ADC_INF_IDENTITY, "disconnected", flag + 2, line, len);
                    fh_conn_fail(c, "243", flag, "INF field given twice");
                    return;
                }
                val[k] = m->named[i].value;
            }
    for (size_t k = 0; k < 3; k++)
        if (!val[k] || !*val[k]) {
            char flag[5] = {'F', 'M', need[k][0], need[k][1], '\0'};
            fh_violation(c, FH_R_ADC_INF_IDENTITY, "disconnected", flag, line, len);
            fh_conn_fail(c, "243", flag, "INF field missing");
            return;
        }
    const char *cid = val[0], *pid = val[1], *nick = val[2];
    switch (fh_adc_check_cid(pid, cid)) {
    case FH_CID_OK:
        break;
    case FH_CID_BAD_PID:
        fh_violation(c, FH_R_ADC_INF_IDENTITY, "disconnected", "PID not a Tiger hash", line, len);
        fh_conn_fail(c, "227", "FBPD", "Invalid PID");
        return;
    case FH_CID_BAD_CID:
    case FH_CID_MISMATCH:
        fh_violation(c, FH_R_ADC_INF_IDENTITY, "disconnected", "CID is not Tiger(PID)", line, len);
        fh_conn_fail(c, "243", "FBID", "CID does not match PID");
        return;
    }
    if (!fh_nick_valid(nick)) {
        fh_conn_fail(c, "221", NULL, "Invalid nick");
        return;
    }
    if (fh_hub_nick_holder(hub, nick)) {
        fh_conn_fail(c, "222", NULL, "Nick taken");
        return;
    }
    for (struct fh_conn *u = hub->conns; u; u = u->next)
        if (u->state == FH_CONN_OPEN && fh_adc_value_is(fh_adc_inf_cid(u), cid)) {
            fh_conn_fail(c, "224", NULL, "CID taken");
            return;
        }
    if (fh_hub_full(hub)) {
        fh_conn_fail(c, "211", NULL, "Hub is full");
        return;
    }
    if (!(c->nick = strdup(nick))) {
        fh_conn_close(c, "out of memory", false);
        return;
    }
    if (fh_adc_inf_merge(c, m->named, m->nnamed) < 0) {
        fh_conn_close(c, "out of memory", false);
        return;
    }
    const struct fh_user_cfg *reg = fh_config_find_user(&hub->cfg, nick);
    if (reg) {
        c->registered = true;
        c->op = reg->op;
        uint8_t salt[DC_TIGER_LEN];
        fh_conn_secret(c, salt);
        char b32[DC_BASE32_LEN(DC_TIGER_LEN) + 1];
        dc_base32_encode(salt, sizeof salt, b32, sizeof b32);
        fh_conn_sendf(c, "IGPA %s", b32);
        c->login = FH_LOGIN_VERIFY;
        return;
    }
    fh_adc_complete(c);
}

/* Later BINF: merge and relay; ID and PD cannot change, NI must stay unique. */
static void fh_adc_update_inf(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    char ip[FH_IP_LEN];
    if (!fh_adc_inf_check(c, m, line, len, ip))
        return;
    for (size_t i = 0; i < m->nnamed; i++) {
        const char *code = m->named[i].code, *v = m->named[i].value;
        if (strcmp(code, "ID") == 0 && !fh_adc_value_is(fh_adc_inf_cid(c), v)) {
            fh_violation(c, FH_R_ADC_INF_IDENTITY, "refused", "ID changed", line, len);
            fh_adc_sta(c, "143", "FBID", "CID cannot change");
            return;
        }
        if (strcmp(code, "NI") == 0 && strcmp(v, c->nick) != 0) {
            struct fh_conn *h = fh_hub_nick_holder(c->hub, v);
            if (!fh_nick_valid(v) || (h && h != c)) {
                fh_adc_sta(c, fh_nick_valid(v) ? "122" : "121", NULL,
                           fh_nick_valid(v) ? "Nick taken" : "Invalid nick");
                return;
            }
        }
    }
    long ni = fh_adc_last(m->named, m->nnamed, "NI");
    char *nick = ni >= 0 ? strdup(m->named[ni].value) : NULL;
    if ((ni >= 0 && !nick) || fh_adc_inf_merge(c, m->named, m->nnamed) < 0) {
        free(nick);
        return;
    }
    if (nick) {
        free(c->nick);
        c->nick = nick;
    }
    /* Relayed: the update alone, as sent but for PD and what the rules changed. */
    struct dc_buf b;
    dc_buf_init(&b, 0);
    int rc = dc_buf_appendf(&b, "BINF %s", c->sid);
    for (size_t i = 0; i < m->nnamed && rc == 0; i++) {
        const char *v = fh_adc_inf_value(&m->named[i]);
        if (v)
            rc |= fh_adc_put(&b, m->named[i].code, v);
    }
    struct fh_msg *shared = rc == 0 ? fh_msg_new(FH_PROTO_ADC, b.data, b.len) : NULL;
    dc_buf_cleanup(&b);
    for (struct fh_conn *u = c->hub->conns; u; u = u->next)
        if (fh_adc_user(u) && fh_conn_knows(u, c))
            fh_conn_send_msg(u, shared);
    fh_msg_unref(shared);
}

static void fh_adc_inf(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    if (c->login == FH_LOGIN_IDENTIFY)
        fh_adc_login_inf(c, m, line, len);
    else
        fh_adc_update_inf(c, m, line, len);
}

static void fh_adc_pas(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    (void)line, (void)len;
    const struct fh_user_cfg *reg = fh_config_find_user(&c->hub->cfg, c->nick);
    char want[40];
    uint8_t salt[DC_TIGER_LEN];
    fh_conn_secret(c, salt);
    if (!reg || fh_adc_password_answer(reg->password, salt, sizeof salt, want) < 0 ||
        strcasecmp(want, m->pos[0]) != 0) {
        fh_conn_fail(c, "223", NULL, "Password is wrong");
        return;
    }
    c->op = reg->op;
    fh_adc_complete(c);
}

static void fh_adc_msg(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    if (m->nnamed && !fh_adc_msg_check(c, m, line, len))
        return;
    struct fh_conn *t = fh_adc_relay(c, m, line, len);
    if (!t)
        return;
    if (m->type == 'D' || m->type == 'E')
        FH_HOOK(c->hub, pm, c, t, m->pos[0]);
    else
        FH_HOOK(c->hub, chat, c, m->pos[0]);
}

static void fh_adc_ctm(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    struct fh_conn *t = fh_adc_relay(c, m, line, len);
    if (t)
        FH_HOOK(c->hub, ctm, c, t, m->code == ADC_CMD('C', 'T', 'M') ? FH_CTM : FH_RCM);
}

static void fh_adc_sta_in(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    if (m->type != 'H')   /* HSTA is a client's note to the hub: nothing to do */
        fh_adc_relay(c, m, line, len);
}

static void fh_adc_route_only(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    fh_adc_relay(c, m, line, len);
}

static void fh_adc_sch(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    if (fh_adc_sch_check(c, m, line, len))
        fh_adc_relay(c, m, line, len);
}

/* A command a client may not send to the hub (contexts without T): refused
 * with "access denied" for that command (ADC 1.0.4 STA 25, FC), never relayed,
 * so a client's QUI can never make others drop a user. */
static void fh_adc_not_to_hub(struct fh_conn *c, struct adc_msg *m, const char *line, size_t len)
{
    char fc[7] = {'F', 'C', m->type, m->cmd[0], m->cmd[1], m->cmd[2], '\0'};
    if (fh_violation(c, FH_R_ADC_CONTEXT, "refused", fc + 2, line, len))
        fh_adc_sta(c, "125", fc, "Command not accepted from a client");
    else if (fh_adc_route(m->type) != FH_ROUTE_HUB)
        fh_adc_relay(c, m, line, len);
}

/* One row of the static dispatch table (nothing owned). */
struct fh_adc_cmd {
    unsigned code;
    const char *types;       /* type letters accepted from a client */
    unsigned states;         /* FH_S(login state) mask */
    fh_adc_handler *fn;
};

static const struct fh_adc_cmd fh_adc_cmds[] = {
    {ADC_CMD('S', 'U', 'P'), "H", FH_S(FH_LOGIN_START) | FH_S(FH_LOGIN_NORMAL), fh_adc_sup},
    {ADC_CMD('I', 'N', 'F'), "B", FH_S(FH_LOGIN_IDENTIFY) | FH_S(FH_LOGIN_NORMAL), fh_adc_inf},
    {ADC_CMD('P', 'A', 'S'), "H", FH_S(FH_LOGIN_VERIFY), fh_adc_pas},
    {ADC_CMD('M', 'S', 'G'), "BDEF", FH_S(FH_LOGIN_NORMAL), fh_adc_msg},
    {ADC_CMD('C', 'T', 'M'), "DE", FH_S(FH_LOGIN_NORMAL), fh_adc_ctm},
    {ADC_CMD('R', 'C', 'M'), "DE", FH_S(FH_LOGIN_NORMAL), fh_adc_ctm},
    {ADC_CMD('S', 'T', 'A'), "HDE", ~0u, fh_adc_sta_in},
    {ADC_CMD('S', 'C', 'H'), "BDEF", FH_S(FH_LOGIN_NORMAL), fh_adc_sch},
    {ADC_CMD('R', 'E', 'S'), "DE", FH_S(FH_LOGIN_NORMAL), fh_adc_route_only},
    /* Contexts F only (hub to client) and C only (client to client). */
    {ADC_CMD('Q', 'U', 'I'), "BDEFH", ~0u, fh_adc_not_to_hub},
    {ADC_CMD('S', 'I', 'D'), "BDEFH", ~0u, fh_adc_not_to_hub},
    {ADC_CMD('G', 'P', 'A'), "BDEFH", ~0u, fh_adc_not_to_hub},
    {ADC_CMD('G', 'E', 'T'), "BDEFH", ~0u, fh_adc_not_to_hub},
    {ADC_CMD('G', 'F', 'I'), "BDEFH", ~0u, fh_adc_not_to_hub},
    {ADC_CMD('S', 'N', 'D'), "BDEFH", ~0u, fh_adc_not_to_hub},
};

void fh_adc_line(struct fh_conn *c, char *line, size_t len)
{
    if (len == 0)
        return;   /* keep-alive */
    struct adc_msg m;
    const char *why = NULL;
    if (adc_msg_parse(line, len, &m, &why) < 0) {
        char text[160];
        snprintf(text, sizeof text, "Malformed message: %s", why ? why : "parse error");
        fh_violation(c, FH_R_ADC_SYNTAX, "disconnected", why, line, len);
        fh_conn_fail(c, "240", NULL, text);
        return;
    }
    char fc[7] = {'F', 'C', m.type, m.cmd[0], m.cmd[1], m.cmd[2], '\0'};
    enum fh_route r = fh_adc_route(m.type);
    const struct fh_adc_cmd *d = NULL;
    for (size_t i = 0; i < sizeof fh_adc_cmds / sizeof fh_adc_cmds[0] && !d; i++)
        if (fh_adc_cmds[i].code == m.code)
            d = &fh_adc_cmds[i];
    /* Type, then state, then sender: a command out of its state gets 244
     * even before the client can know its SID (ADC-TST "MSG in PROTOCOL"). */
    if (r == FH_ROUTE_INVALID || (d && !strchr(d->types, m.type))) {
        fh_violation(c, FH_R_ADC_TYPE, "disconnected", fc + 2, line, len);
        fh_conn_fail(c, "240", fc, r == FH_ROUTE_INVALID ? "Message type not accepted from a client"
                                                         : "Message type not valid for this command");
    } else if (d ? !(d->states & FH_S(c->login)) : c->login != FH_LOGIN_NORMAL) {
        fh_violation(c, FH_R_ADC_STATE, "disconnected", fc + 2, line, len);
        fh_conn_fail(c, "244", fc, "Command not valid in this state");
    } else if (r != FH_ROUTE_HUB && strcmp(m.src_sid, c->sid) != 0) {
        fh_violation(c, FH_R_ADC_SID, "disconnected", m.src_sid, line, len);
        fh_conn_fail(c, "240", fc, "Wrong sender SID");   /* spoofing (pitfall 11) */
    } else if (d) {
        d->fn(c, &m, line, len);
    } else if (r != FH_ROUTE_HUB) {
        fh_adc_relay(c, &m, line, len);   /* unknown command: routed by type letter (ADC §3.1) */
    }
    adc_msg_cleanup(&m);
}
