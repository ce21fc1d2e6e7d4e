/* nmdc.c: NMDC message codec (see nmdc.h; protocol notes §2).
 *
 * A message is copied once into the struct's storage and cut up in place, so
 * every string field points into that block (empty fields point at its final
 * NUL) and cleanup is two free()s: storage and the list array. Commands are
 * dispatched through a name -> (type, parser) table; each parser validates its
 * own fields and returns a static reason on failure. No charset conversion:
 * bytes pass through as sent, only the three text entities are undone.
 */
#include "proto/nmdc.h"

#include <stdlib.h>
#include <string.h>

#define NMDC_MAX_NICK 64
#define NMDC_TRANSFER_MAX_TOKENS 16   /* type ident start bytes + flags */

bool nmdc_nick_valid(const char *nick, size_t len)
{
    if (!nick || len == 0 || len > NMDC_MAX_NICK)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)nick[i];
        if (c <= 0x20 || c == '$' || c == '|' || c == '<' || c == '>')
            return false;
    }
    return true;
}

/* ---- text escaping ---- */

/* Arrays, not pointers, in the tables below: no relocations, so they live in
 * .rodata (nm shows no writable symbols for this object). */
struct nmdc_entity {
    char ch;
    char text[7];
    size_t len;
};

static const struct nmdc_entity nmdc_entities[] = {
    {'$', "&#36;", 5}, {'|', "&#124;", 6}, {'&', "&amp;", 5},
};

static const struct nmdc_entity *nmdc_entity_at(const char *s, size_t left)
{
    for (size_t i = 0; i < sizeof nmdc_entities / sizeof nmdc_entities[0]; i++)
        if (left >= nmdc_entities[i].len && memcmp(s, nmdc_entities[i].text, nmdc_entities[i].len) == 0)
            return &nmdc_entities[i];
    return NULL;
}

int nmdc_escape_append(struct dc_buf *out, const char *s, size_t len)
{
    size_t undo = out->len, start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = s[i] == '$' ? "&#36;" : s[i] == '|' ? "&#124;" :
                          s[i] == '&' && nmdc_entity_at(s + i, len - i) ? "&amp;" : NULL;
        if (!rep)
            continue;
        if (dc_buf_append(out, s + start, i - start) < 0 || dc_buf_append_str(out, rep) < 0)
            goto fail;
        start = i + 1;
    }
    if (dc_buf_append(out, s + start, len - start) == 0)
        return 0;
fail:
    out->len = undo;
    if (out->data)
        out->data[undo] = '\0';
    return -1;
}

size_t nmdc_unescape_inplace(char *s, size_t len)
{
    /* Most text holds no '&': find the first with memchr and start there, so
     * plain text is only scanned, never rewritten. */
    const char *amp = memchr(s, '&', len);
    if (!amp)
        return len;
    size_t o = (size_t)(amp - s);
    for (size_t i = o; i < len;) {
        const struct nmdc_entity *e = s[i] == '&' ? nmdc_entity_at(s + i, len - i) : NULL;
        if (e) {
            s[o++] = e->ch;
            i += e->len;
        } else {
            s[o++] = s[i++];
        }
    }
    if (o < len)
        s[o] = '\0';
    return o;
}

/* ---- $Lock -> $Key ---- */

int nmdc_lock_to_key(const char *lock, size_t n, struct dc_buf *out)
{
    if (n < 3)
        return 0;
    const unsigned char *l = (const unsigned char *)lock;
    size_t undo = out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char k = i == 0 ? (unsigned char)(l[0] ^ l[n - 1] ^ l[n - 2] ^ 5)
                                 : (unsigned char)(l[i] ^ l[i - 1]);
        k = (unsigned char)((k << 4) | (k >> 4));
        int rc = (k == 0 || k == 5 || k == 36 || k == 96 || k == 124 || k == 126)
                     ? dc_buf_appendf(out, "/%%DCN%03u%%/", k)
                     : dc_buf_append_byte(out, (char)k);
        if (rc < 0) {
            out->len = undo;
            if (out->data)
                out->data[undo] = '\0';
            return -1;
        }
    }
    return 0;
}

/* ---- parsing helpers ---- */

static int nmdc_fail(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return -1;
}

/* Strict unsigned decimal: at least one digit, no sign, no overflow. */
static bool nmdc_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static bool nmdc_parse_int(const char *s, long min, long max, long *out)
{
    uint64_t v;
    bool neg = *s == '-';
    if (!nmdc_parse_u64(s + neg, &v) || v > (uint64_t)INT64_MAX)
        return false;
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < min || x > max)
        return false;
    *out = (long)x;
    return true;
}

/* Cuts s at the first sep: returns s, leaves *rest after the separator (NULL
 * when sep does not occur). */
static char *nmdc_cut(char *s, const char *sep, char **rest)
{
    /* strchr for the one-byte separators, which are most of them. */
    char *at = sep[1] ? strstr(s, sep) : strchr(s, sep[0]);
    if (!at) {
        *rest = NULL;
        return s;
    }
    *at = '\0';
    *rest = at + strlen(sep);
    return s;
}

static char *nmdc_unescape_str(char *s)
{
    /* strchr first: one pass instead of strlen plus a scan for '&'. */
    char *amp = strchr(s, '&');
    if (amp)
        nmdc_unescape_inplace(amp, strlen(amp));
    return s;
}

/* Appends a list entry, refusing more than NMDC_MAX_LIST. */
static int nmdc_list_add(struct nmdc_msg *m, char *item, const char **why)
{
    if (m->nlist >= NMDC_MAX_LIST)
        return nmdc_fail(why, "list too long");
    if (!m->list && !(m->list = malloc(NMDC_MAX_LIST * sizeof *m->list)))
        return nmdc_fail(why, "out of memory");
    m->list[m->nlist++] = item;
    return 0;
}

/* Splits s on sep, dropping empty items ("a$$b$$" -> a, b). */
static int nmdc_split_list(struct nmdc_msg *m, char *s, const char *sep, const char **why)
{
    while (s) {
        char *rest;
        char *item = nmdc_cut(s, sep, &rest);
        if (*item && nmdc_list_add(m, item, why) < 0)
            return -1;
        s = rest;
    }
    return 0;
}

/* ---- one parser per message shape; args is the NUL-terminated text after
 * "$Name " ("" when absent) inside storage. ---- */

typedef int (*nmdc_parse_fn)(struct nmdc_msg *m, char *args, const char **why);

static int nmdc_p_none(struct nmdc_msg *m, char *args, const char **why)
{
    (void)m, (void)args, (void)why;
    return 0;
}

static int nmdc_p_nick(struct nmdc_msg *m, char *args, const char **why)
{
    if (!nmdc_nick_valid(args, strlen(args)))
        return nmdc_fail(why, "missing or invalid nick");
    m->nick = args;
    return 0;
}

static int nmdc_p_nick_opt(struct nmdc_msg *m, char *args, const char **why)
{
    return *args ? nmdc_p_nick(m, args, why) : (m->nick = args, 0);
}

static int nmdc_p_text_raw(struct nmdc_msg *m, char *args, const char **why)
{
    (void)why;
    m->text = args;
    return 0;
}

static int nmdc_p_text_req(struct nmdc_msg *m, char *args, const char **why)
{
    if (!*args)
        return nmdc_fail(why, "missing argument");
    m->text = args;
    return 0;
}

static int nmdc_p_text_esc(struct nmdc_msg *m, char *args, const char **why)
{
    (void)why;
    m->text = nmdc_unescape_str(args);
    return 0;
}

static int nmdc_p_getpass(struct nmdc_msg *m, char *args, const char **why)
{
    (void)why;
    m->text = *args ? args : NULL;
    return 0;
}

static int nmdc_p_lock(struct nmdc_msg *m, char *args, const char **why)
{
    char *rest;
    m->lock = nmdc_cut(args, " Pk=", &rest);
    if (rest)
        m->pk = rest;
    else
        nmdc_cut(args, " ", &rest);   /* DC++: no Pk= -> lock is the first token */
    if (!*m->lock)
        return nmdc_fail(why, "empty lock");
    return 0;
}

static int nmdc_p_key(struct nmdc_msg *m, char *args, const char **why)
{
    (void)why;
    m->key = args;
    m->key_len = strlen(args);
    return 0;
}

static int nmdc_p_supports(struct nmdc_msg *m, char *args, const char **why)
{
    return nmdc_split_list(m, args, " ", why);
}

static int nmdc_p_dollar_list(struct nmdc_msg *m, char *args, const char **why)
{
    return nmdc_split_list(m, args, "$$", why);
}

static int nmdc_p_two_nicks(char *args, char **first, char **second, const char **why)
{
    char *rest;
    *first = nmdc_cut(args, " ", &rest);
    if (!rest || !nmdc_nick_valid(*first, strlen(*first)) || !nmdc_nick_valid(rest, strlen(rest)))
        return nmdc_fail(why, "expected two valid nicks");
    *second = rest;
    return 0;
}

static int nmdc_p_getinfo(struct nmdc_msg *m, char *args, const char **why)
{
    return nmdc_p_two_nicks(args, &m->nick, &m->from, why);
}

static int nmdc_p_rcm(struct nmdc_msg *m, char *args, const char **why)
{
    return nmdc_p_two_nicks(args, &m->from, &m->nick, why);
}

static int nmdc_p_myinfo(struct nmdc_msg *m, char *args, const char **why)
{
    if (strncmp(args, "$ALL ", 5) != 0)
        return nmdc_fail(why, "$MyINFO without $ALL");
    char *rest, *f[6];
    char *nick = nmdc_cut(args + 5, " ", &rest);
    if (!rest || !nmdc_nick_valid(nick, strlen(nick)))
        return nmdc_fail(why, "$MyINFO: missing or invalid nick");
    for (int i = 0; i < 6; i++) {
        if (!rest)
            return nmdc_fail(why, "$MyINFO: needs five '$' after the nick");
        f[i] = nmdc_cut(rest, "$", &rest);
    }
    if (rest || *f[5])
        return nmdc_fail(why, "$MyINFO: text after the final '$'");
    struct nmdc_myinfo *mi = &m->myinfo;
    mi->nick = nick;
    char *desc = f[0], *lt;
    size_t dl = strlen(desc);
    mi->tag = desc + dl;
    if (dl && desc[dl - 1] == '>' && (lt = strrchr(desc, '<'))) {
        /* Shift the tag one byte right so the description gets a terminator
         * where '<' was. The tag's NUL lands on the first byte of the
         * ignored legacy field (the " " between "$ $"), never further. */
        memmove(lt + 1, lt, strlen(lt) + 1);
        *lt = '\0';
        mi->tag = lt + 1;
        if (lt > desc && lt[-1] == ' ')
            lt[-1] = '\0';   /* DC++ writes "desc <tag>" */
    }
    mi->description = nmdc_unescape_str(desc);
    nmdc_unescape_str(mi->tag);
    size_t cl = strlen(f[2]);
    mi->connection = f[2];
    if (cl) {
        mi->flag = (uint8_t)f[2][cl - 1];
        f[2][cl - 1] = '\0';
    }
    mi->email = nmdc_unescape_str(f[3]);
    if (*f[4] && !nmdc_parse_u64(f[4], &mi->share))
        return nmdc_fail(why, "$MyINFO: bad share size");
    m->nick = nick;
    return 0;
}

static int nmdc_p_to(struct nmdc_msg *m, char *args, const char **why)
{
    char *rest;
    m->to = nmdc_cut(args, " From: ", &rest);
    if (!rest || !nmdc_nick_valid(m->to, strlen(m->to)))
        return nmdc_fail(why, "$To: missing target or From:");
    m->from = nmdc_cut(rest, " $<", &rest);
    if (!rest || !nmdc_nick_valid(m->from, strlen(m->from)))
        return nmdc_fail(why, "$To: missing sender or $<nick>");
    m->nick = nmdc_cut(rest, ">", &rest);
    if (!rest || !nmdc_nick_valid(m->nick, strlen(m->nick)))
        return nmdc_fail(why, "$To: bad $<nick> part");
    m->text = nmdc_unescape_str(*rest == ' ' ? rest + 1 : rest);
    return 0;
}

/* Port suffixes: S = TLS; N/R are DC++ NAT traversal, accepted and ignored. */
#define NMDC_CTM_NSUFFIXES 6
static const char nmdc_ctm_suffixes[NMDC_CTM_NSUFFIXES][3] = {"", "S", "N", "R", "NS", "RS"};

/* "host:port" with an optional suffix; a trailing sender nick is ignored. */
static int nmdc_p_ctm(struct nmdc_msg *m, char *args, const char **why)
{
    char *rest;
    m->nick = nmdc_cut(args, " ", &rest);
    if (!rest || !nmdc_nick_valid(m->nick, strlen(m->nick)))
        return nmdc_fail(why, "$ConnectToMe: missing or invalid target nick");
    char *addr = nmdc_cut(rest, " ", &rest);
    char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return nmdc_fail(why, "$ConnectToMe: address is not host:port");
    *colon = '\0';
    char *p = colon + 1, *suffix = p;
    while (*suffix >= '0' && *suffix <= '9')
        suffix++;
    size_t i = 0;
    while (i < NMDC_CTM_NSUFFIXES && strcmp(suffix, nmdc_ctm_suffixes[i]) != 0)
        i++;
    if (i == NMDC_CTM_NSUFFIXES)
        return nmdc_fail(why, "$ConnectToMe: bad port suffix");
    m->tls = strchr(suffix, 'S') != NULL;
    *suffix = '\0';
    long port;
    if (!nmdc_parse_int(p, 1, 65535, &port) || *p == '-')
        return nmdc_fail(why, "$ConnectToMe: bad port");
    m->host = addr;
    m->port = (uint16_t)port;
    return 0;
}

static int nmdc_tf(const char *s, bool *out)
{
    if (strcmp(s, "T") && strcmp(s, "F"))
        return -1;
    *out = *s == 'T';
    return 0;
}

static int nmdc_p_search(struct nmdc_msg *m, char *args, const char **why)
{
    struct nmdc_search *s = &m->search;
    char *rest, *f[4];
    char *src = nmdc_cut(args, " ", &rest);
    if (!rest || !*src)
        return nmdc_fail(why, "$Search: missing source");
    if (strncmp(src, "Hub:", 4) == 0) {
        s->passive = true;
        s->source = src + 4;
        if (!nmdc_nick_valid(s->source, strlen(s->source)))
            return nmdc_fail(why, "$Search: bad passive nick");
    } else {
        s->source = src;
        if (!strchr(src, ':'))
            return nmdc_fail(why, "$Search: source is not ip:port");
    }
    for (int i = 0; i < 4; i++) {
        f[i] = nmdc_cut(rest, "?", &rest);
        if (!rest)
            return nmdc_fail(why, "$Search: needs four '?' fields before the pattern");
    }
    long type;
    if (nmdc_tf(f[0], &s->size_restricted) < 0 || nmdc_tf(f[1], &s->is_max_size) < 0)
        return nmdc_fail(why, "$Search: size flags must be T or F");
    if (!nmdc_parse_u64(f[2], &s->size))
        return nmdc_fail(why, "$Search: bad size");
    if (!nmdc_parse_int(f[3], 1, 99, &type) || *f[3] == '-')
        return nmdc_fail(why, "$Search: bad data type");
    s->data_type = (int)type;
    for (char *c = rest; *c; c++)
        if (*c == '$')
            *c = ' ';
    s->pattern = nmdc_unescape_str(rest);
    return 0;
}

/* "free/total" */
static int nmdc_slots(char *s, struct nmdc_sr *sr)
{
    char *rest;
    char *fr = nmdc_cut(s, "/", &rest);
    long a, b;
    if (!rest || !nmdc_parse_int(fr, 0, 1 << 20, &a) || !nmdc_parse_int(rest, 0, 1 << 20, &b) ||
        *fr == '-' || *rest == '-')
        return -1;
    sr->free_slots = (int)a;
    sr->total_slots = (int)b;
    return 0;
}

static int nmdc_p_sr(struct nmdc_msg *m, char *args, const char **why)
{
    struct nmdc_sr *sr = &m->sr;
    char *rest, *part[4];
    sr->nick = nmdc_cut(args, " ", &rest);
    if (!rest || !nmdc_nick_valid(sr->nick, strlen(sr->nick)))
        return nmdc_fail(why, "$SR: missing or invalid nick");
    size_t n = 0;
    while (rest && n < 4)
        part[n++] = nmdc_cut(rest, "\x05", &rest);
    if (rest || n < 2)
        return nmdc_fail(why, "$SR: wrong number of \\x05 fields");
    /* A file has "path", "size slots", "hub (addr)"; a directory folds the
     * slots into "path slots". Either may end with "\x05target". */
    size_t pl = strlen(part[1]);
    sr->is_dir = pl && part[1][pl - 1] == ')';
    size_t hub = sr->is_dir ? 1 : 2;
    if (hub >= n || n > hub + 2)
        return nmdc_fail(why, "$SR: wrong number of \\x05 fields");
    char *slots;
    if (sr->is_dir) {
        slots = strrchr(part[0], ' ');
        if (!slots)
            return nmdc_fail(why, "$SR: directory without slots");
        *slots++ = '\0';
    } else {
        char *size = nmdc_cut(part[1], " ", &slots);
        if (!slots || !nmdc_parse_u64(size, &sr->size))
            return nmdc_fail(why, "$SR: bad size");
    }
    sr->path = part[0];
    if (!*sr->path || nmdc_slots(slots, sr) < 0)
        return nmdc_fail(why, "$SR: bad path or slots");
    char *h = part[hub];
    size_t hl = strlen(h);
    char *open = strrchr(h, '(');
    if (!hl || h[hl - 1] != ')' || !open || open == h || open[-1] != ' ')
        return nmdc_fail(why, "$SR: bad hub field");
    open[-1] = '\0';
    h[hl - 1] = '\0';
    sr->hub_info = h;
    sr->hub_addr = open + 1;
    if (n == hub + 2) {
        sr->target = part[hub + 1];
        if (!nmdc_nick_valid(sr->target, strlen(sr->target)))
            return nmdc_fail(why, "$SR: bad target nick");
    }
    m->nick = sr->nick;
    return 0;
}

/* Escape-aware tokeniser for $ADCGET/$ADCSND: "\ " and "\s" are spaces. */
static int nmdc_p_transfer(struct nmdc_msg *m, char *args, const char **why)
{
    char *tok[NMDC_TRANSFER_MAX_TOKENS];
    size_t n = 0;
    char *o = args, *start = args;
    for (char *p = args;; p++) {
        if (*p == '\\') {
            char c = p[1] == ' ' || p[1] == 's' ? ' ' : p[1] == 'n' ? '\n' : p[1] == '\\' ? '\\' : 0;
            if (!c)
                return nmdc_fail(why, "transfer: bad escape in identifier");
            *o++ = c;
            p++;
        } else if (*p == ' ' || *p == '\0') {
            bool end = *p == '\0';
            *o++ = '\0';
            if (n == NMDC_TRANSFER_MAX_TOKENS)
                return nmdc_fail(why, "transfer: too many parameters");
            tok[n++] = start;
            start = o;
            if (end)
                break;
        } else {
            *o++ = *p;
        }
    }
    if (n < 4)
        return nmdc_fail(why, "transfer: needs type, identifier, start and bytes");
    struct nmdc_transfer *t = &m->transfer;
    t->type = tok[0];
    t->ident = tok[1];
    if (!*t->type || !*t->ident)
        return nmdc_fail(why, "transfer: empty type or identifier");
    uint64_t start_v;
    if (!nmdc_parse_u64(tok[2], &start_v) || start_v > (uint64_t)INT64_MAX)
        return nmdc_fail(why, "transfer: bad start");
    t->start = (int64_t)start_v;
    if (strcmp(tok[3], "-1") == 0 && m->type == NMDC_ADCGET) {
        t->bytes = -1;
    } else {
        uint64_t b;
        if (!nmdc_parse_u64(tok[3], &b) || b > (uint64_t)INT64_MAX)
            return nmdc_fail(why, "transfer: bad byte count");
        t->bytes = (int64_t)b;
    }
    for (size_t i = 4; i < n; i++) {
        if (!*tok[i])
            return nmdc_fail(why, "transfer: empty flag");
        t->zl1 |= strcmp(tok[i], "ZL1") == 0;
        t->re1 |= strcmp(tok[i], "RE1") == 0;
    }
    return 0;
}

static int nmdc_p_direction(struct nmdc_msg *m, char *args, const char **why)
{
    char *rest;
    m->text = nmdc_cut(args, " ", &rest);
    if (!rest || (strcmp(m->text, "Download") && strcmp(m->text, "Upload")) ||
        !nmdc_parse_int(rest, 0, 0x7fffffff, &m->number) || *rest == '-')
        return nmdc_fail(why, "$Direction: expected Download|Upload <number>");
    return 0;
}

/* Command names by type, and a perfect hash of a name to its type: the
 * second byte, the last byte and the length (nmdc_cmd_hash) place every known
 * name in its own slot of 128, so a lookup is one hash and one memcmp instead
 * of a strcmp per table entry. Slots left out are 0, NMDC_UNKNOWN. Adding a
 * command means finding a hash that still has no collision; the test
 * nmdc_parse::every_command_name parses every name and a near miss of each. */
static const char nmdc_cmd_names[NMDC_ZON + 1][16] = {
    [NMDC_LOCK] = "$Lock",
    [NMDC_KEY] = "$Key",
    [NMDC_SUPPORTS] = "$Supports",
    [NMDC_VALIDATENICK] = "$ValidateNick",
    [NMDC_VALIDATEDENIDE] = "$ValidateDenide",
    [NMDC_HELLO] = "$Hello",
    [NMDC_GETPASS] = "$GetPass",
    [NMDC_MYPASS] = "$MyPass",
    [NMDC_BADPASS] = "$BadPass",
    [NMDC_LOGEDIN] = "$LogedIn",
    [NMDC_VERSION] = "$Version",
    [NMDC_GETNICKLIST] = "$GetNickList",
    [NMDC_NICKLIST] = "$NickList",
    [NMDC_OPLIST] = "$OpList",
    [NMDC_BOTLIST] = "$BotList",
    [NMDC_MYINFO] = "$MyINFO",
    [NMDC_GETINFO] = "$GetINFO",
    [NMDC_HUBNAME] = "$HubName",
    [NMDC_HUBTOPIC] = "$HubTopic",
    [NMDC_HUBISFULL] = "$HubIsFull",
    [NMDC_USERIP] = "$UserIP",
    [NMDC_TO] = "$To:",
    [NMDC_CONNECTTOME] = "$ConnectToMe",
    [NMDC_REVCONNECTTOME] = "$RevConnectToMe",
    [NMDC_SEARCH] = "$Search",
    [NMDC_SR] = "$SR",
    [NMDC_QUIT] = "$Quit",
    [NMDC_FORCEMOVE] = "$ForceMove",
    [NMDC_KICK] = "$Kick",
    [NMDC_MYNICK] = "$MyNick",
    [NMDC_DIRECTION] = "$Direction",
    [NMDC_ADCGET] = "$ADCGET",
    [NMDC_ADCSND] = "$ADCSND",
    [NMDC_ERROR] = "$Error",
    [NMDC_MAXEDOUT] = "$MaxedOut",
    [NMDC_ZON] = "$ZOn",
};

static const unsigned char nmdc_cmd_by_hash[128] = {
    [5] = NMDC_SR,
    [6] = NMDC_HUBISFULL,
    [11] = NMDC_ADCSND,
    [16] = NMDC_VALIDATENICK,
    [18] = NMDC_MYNICK,
    [22] = NMDC_LOGEDIN,
    [24] = NMDC_GETNICKLIST,
    [26] = NMDC_MYPASS,
    [27] = NMDC_ADCGET,
    [28] = NMDC_VALIDATEDENIDE,
    [41] = NMDC_QUIT,
    [43] = NMDC_OPLIST,
    [45] = NMDC_MAXEDOUT,
    [53] = NMDC_NICKLIST,
    [55] = NMDC_USERIP,
    [63] = NMDC_SEARCH,
    [75] = NMDC_BADPASS,
    [76] = NMDC_BOTLIST,
    [79] = NMDC_GETINFO,
    [80] = NMDC_ERROR,
    [92] = NMDC_SUPPORTS,
    [98] = NMDC_ZON,
    [101] = NMDC_HELLO,
    [102] = NMDC_VERSION,
    [104] = NMDC_DIRECTION,
    [105] = NMDC_CONNECTTOME,
    [109] = NMDC_HUBNAME,
    [111] = NMDC_FORCEMOVE,
    [112] = NMDC_KICK,
    [115] = NMDC_GETPASS,
    [116] = NMDC_HUBTOPIC,
    [117] = NMDC_KEY,
    [118] = NMDC_MYINFO,
    [120] = NMDC_LOCK,
    [124] = NMDC_REVCONNECTTOME,
    [126] = NMDC_TO,
};

/* name[len] is its NUL, so name[1] exists even for "$". */
static unsigned nmdc_cmd_hash(const char *name, size_t len)
{
    return ((unsigned)(unsigned char)name[1] * 8 + (unsigned char)name[len - 1] + (unsigned)len * 9) & 127;
}

static enum nmdc_type nmdc_cmd_type(const char *name, size_t len)
{
    enum nmdc_type t = (enum nmdc_type)nmdc_cmd_by_hash[nmdc_cmd_hash(name, len)];
    if (t == NMDC_UNKNOWN || len >= sizeof nmdc_cmd_names[0] || memcmp(nmdc_cmd_names[t], name, len + 1) != 0)
        return NMDC_UNKNOWN;
    return t;
}

/* The parser for each known type (a switch rather than function pointers in
 * the table, which would make the table writable relocated data). */
static nmdc_parse_fn nmdc_parser(enum nmdc_type type)
{
    switch (type) {
    case NMDC_LOCK:
        return nmdc_p_lock;
    case NMDC_KEY:
        return nmdc_p_key;
    case NMDC_SUPPORTS:
        return nmdc_p_supports;
    case NMDC_VALIDATENICK:
    case NMDC_HELLO:
    case NMDC_LOGEDIN:
    case NMDC_QUIT:
    case NMDC_KICK:
    case NMDC_MYNICK:
        return nmdc_p_nick;
    case NMDC_VALIDATEDENIDE:
        return nmdc_p_nick_opt;
    case NMDC_GETPASS:
        return nmdc_p_getpass;
    case NMDC_MYPASS:
    case NMDC_FORCEMOVE:
        return nmdc_p_text_req;
    case NMDC_BADPASS:
    case NMDC_GETNICKLIST:
    case NMDC_HUBISFULL:
    case NMDC_MAXEDOUT:
    case NMDC_ZON:
        return nmdc_p_none;
    case NMDC_VERSION:
    case NMDC_ERROR:
        return nmdc_p_text_raw;
    case NMDC_NICKLIST:
    case NMDC_OPLIST:
    case NMDC_BOTLIST:
    case NMDC_USERIP:
        return nmdc_p_dollar_list;
    case NMDC_MYINFO:
        return nmdc_p_myinfo;
    case NMDC_GETINFO:
        return nmdc_p_getinfo;
    case NMDC_HUBNAME:
    case NMDC_HUBTOPIC:
        return nmdc_p_text_esc;
    case NMDC_TO:
        return nmdc_p_to;
    case NMDC_CONNECTTOME:
        return nmdc_p_ctm;
    case NMDC_REVCONNECTTOME:
        return nmdc_p_rcm;
    case NMDC_SEARCH:
        return nmdc_p_search;
    case NMDC_SR:
        return nmdc_p_sr;
    case NMDC_DIRECTION:
        return nmdc_p_direction;
    case NMDC_ADCGET:
    case NMDC_ADCSND:
        return nmdc_p_transfer;
    default:
        return nmdc_p_none;
    }
}

/* "<nick> text" (space after '>' optional) or a status line without a nick. */
static void nmdc_parse_chat(struct nmdc_msg *m, char *s)
{
    char *gt;
    m->type = NMDC_CHAT;
    if (s[0] == '<' && (gt = strchr(s, '>')) && nmdc_nick_valid(s + 1, (size_t)(gt - s - 1))) {
        *gt = '\0';
        m->nick = s + 1;
        s = gt[1] == ' ' ? gt + 2 : gt + 1;
    }
    m->text = nmdc_unescape_str(s);
}

int nmdc_msg_parse(const char *msg, size_t len, struct nmdc_msg *out, const char **reason)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return nmdc_fail(reason, "empty message");
    if (memchr(msg, '\0', len))
        return nmdc_fail(reason, "NUL byte in message");
    if (memchr(msg, '|', len))
        return nmdc_fail(reason, "'|' inside a message");
    struct nmdc_msg *m = out;
    if (!(m->storage = malloc(len + 1)))
        return nmdc_fail(reason, "out of memory");
    memcpy(m->storage, msg, len);
    m->storage[len] = '\0';
    if (m->storage[0] != '$') {
        nmdc_parse_chat(m, m->storage);
        return 0;
    }
    char *args = memchr(m->storage, ' ', len);
    size_t name_len = args ? (size_t)(args - m->storage) : len;
    m->name = m->storage;
    if (args)
        *args++ = '\0';
    else
        args = m->storage + len;   /* "" */
    m->args = args;
    m->type = nmdc_cmd_type(m->name, name_len);
    if (m->type == NMDC_UNKNOWN)
        return 0;
    const char *why = NULL;
    m->args = NULL;
    if (nmdc_parser(m->type)(m, args, &why) == 0)
        return 0;
    nmdc_msg_cleanup(m);
    return nmdc_fail(reason, why);
}

void nmdc_msg_cleanup(struct nmdc_msg *m)
{
    free(m->list);
    free(m->storage);
    memset(m, 0, sizeof *m);
}

/* ---- formatters ---- */

/* Verbatim fields must not break framing or the '$'-separated layouts. */
static bool nmdc_plain(const char *s)
{
    return s && !strpbrk(s, "|$");
}

static int nmdc_finish(struct dc_buf *out, size_t undo, int rc)
{
    if (rc == 0 && dc_buf_append_byte(out, '|') == 0)
        return 0;
    out->len = undo;
    if (out->data)
        out->data[undo] = '\0';
    return -1;
}

static int nmdc_esc_str(struct dc_buf *out, const char *s)
{
    return nmdc_escape_append(out, s, strlen(s));
}

static bool nmdc_nick_ok(const char *n)
{
    return n && nmdc_nick_valid(n, strlen(n));
}

int nmdc_fmt_lock(struct dc_buf *out, const char *lock, const char *pk)
{
    if (!lock || !*lock || strpbrk(lock, " $|") || (pk && !nmdc_plain(pk)))
        return -1;
    size_t undo = out->len;
    int rc = dc_buf_appendf(out, "$Lock %s", lock);
    if (pk)
        rc |= dc_buf_appendf(out, " Pk=%s", pk);
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_key(struct dc_buf *out, const char *lock, size_t lock_len)
{
    size_t undo = out->len;
    int rc = dc_buf_append_str(out, "$Key ") | nmdc_lock_to_key(lock, lock_len, out);
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_supports(struct dc_buf *out, const char *const *features, size_t n)
{
    size_t undo = out->len;
    int rc = dc_buf_append_str(out, "$Supports");
    for (size_t i = 0; i < n; i++) {
        if (!nmdc_plain(features[i]) || !*features[i] || strchr(features[i], ' '))
            rc = -1;
        else
            rc |= dc_buf_append_byte(out, ' ') | dc_buf_append_str(out, features[i]);
    }
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_simple(struct dc_buf *out, const char *name, const char *arg)
{
    if (!name || !*name || strpbrk(name, " |") || (arg && strchr(arg, '|')))
        return -1;
    size_t undo = out->len;
    int rc = name[0] == '$' ? 0 : dc_buf_append_byte(out, '$');
    rc |= dc_buf_append_str(out, name);
    if (arg)
        rc |= dc_buf_append_byte(out, ' ') | dc_buf_append_str(out, arg);
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_chat(struct dc_buf *out, const char *nick, const char *text)
{
    if ((nick && !nmdc_nick_ok(nick)) || !text)
        return -1;
    size_t undo = out->len;
    int rc = nick ? dc_buf_appendf(out, "<%s> ", nick) : 0;
    /* A status line starting with '$' would read as a command. */
    if (!nick && (text[0] == '$' || !text[0]))
        rc = -1;
    rc |= nmdc_esc_str(out, text);
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_to(struct dc_buf *out, const char *to, const char *from, const char *text)
{
    if (!nmdc_nick_ok(to) || !nmdc_nick_ok(from) || !text)
        return -1;
    size_t undo = out->len;
    int rc = dc_buf_appendf(out, "$To: %s From: %s $<%s> ", to, from, from) | nmdc_esc_str(out, text);
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_myinfo(struct dc_buf *out, const struct nmdc_myinfo *mi)
{
    const char *tag = mi->tag ? mi->tag : "", *conn = mi->connection ? mi->connection : "";
    size_t tl = strlen(tag);
    if (!nmdc_nick_ok(mi->nick) || !nmdc_plain(conn) ||
        (tl && (tag[0] != '<' || tag[tl - 1] != '>')) ||
        (*conn && (mi->flag == 0 || mi->flag == '$' || mi->flag == '|')) ||
        (!*conn && mi->flag && (mi->flag == '$' || mi->flag == '|')))
        return -1;
    size_t undo = out->len;
    int rc = dc_buf_appendf(out, "$MyINFO $ALL %s ", mi->nick);
    rc |= nmdc_esc_str(out, mi->description ? mi->description : "");
    if (tl)
        rc |= dc_buf_append_byte(out, ' ') | nmdc_esc_str(out, tag);
    rc |= dc_buf_append_str(out, "$ $") | dc_buf_append_str(out, conn);
    if (mi->flag)
        rc |= dc_buf_append_byte(out, (char)mi->flag);
    rc |= dc_buf_append_byte(out, '$') | nmdc_esc_str(out, mi->email ? mi->email : "");
    rc |= dc_buf_appendf(out, "$%llu$", (unsigned long long)mi->share);
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_nicklist(struct dc_buf *out, const char *name, const char *const *nicks, size_t n)
{
    if (!name || (strcmp(name, "$NickList") && strcmp(name, "$OpList") && strcmp(name, "$BotList")))
        return -1;
    size_t undo = out->len;
    /* An empty list is "$OpList|" (notes §2.6), not "$OpList |". */
    int rc = dc_buf_append_str(out, name) | (n ? dc_buf_append_byte(out, ' ') : 0);
    for (size_t i = 0; i < n; i++)
        rc |= nmdc_nick_ok(nicks[i]) ? dc_buf_appendf(out, "%s$$", nicks[i]) : -1;
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_ctm(struct dc_buf *out, const char *target, const char *host, uint16_t port, bool tls)
{
    if (!nmdc_nick_ok(target) || !host || !*host || strpbrk(host, " $|") || port == 0)
        return -1;
    size_t undo = out->len;
    int rc = dc_buf_appendf(out, "$ConnectToMe %s %s:%u%s", target, host, (unsigned)port, tls ? "S" : "");
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_rcm(struct dc_buf *out, const char *from, const char *target)
{
    if (!nmdc_nick_ok(from) || !nmdc_nick_ok(target))
        return -1;
    size_t undo = out->len;
    return nmdc_finish(out, undo, dc_buf_appendf(out, "$RevConnectToMe %s %s", from, target));
}

int nmdc_fmt_search(struct dc_buf *out, const struct nmdc_search *s)
{
    if (!s->source || !*s->source || strpbrk(s->source, " $|?") || !s->pattern ||
        s->data_type < 1 || s->data_type > 99 || (s->passive && !nmdc_nick_ok(s->source)))
        return -1;
    size_t undo = out->len;
    int rc = dc_buf_appendf(out, "$Search %s%s %c?%c?%llu?%d?", s->passive ? "Hub:" : "", s->source,
                            s->size_restricted ? 'T' : 'F', s->is_max_size ? 'T' : 'F',
                            (unsigned long long)s->size, s->data_type);
    size_t pat = out->len;
    rc |= nmdc_esc_str(out, s->pattern);
    for (size_t i = pat; rc == 0 && i < out->len; i++)
        if (out->data[i] == ' ')
            out->data[i] = '$';
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_sr(struct dc_buf *out, const struct nmdc_sr *sr)
{
    if (!nmdc_nick_ok(sr->nick) || !sr->path || !*sr->path || strpbrk(sr->path, "\x05|$") ||
        !sr->hub_info || strpbrk(sr->hub_info, "\x05|$") || !sr->hub_addr ||
        strpbrk(sr->hub_addr, "\x05|$()") || (sr->target && !nmdc_nick_ok(sr->target)) ||
        sr->free_slots < 0 || sr->total_slots < 0)
        return -1;
    size_t undo = out->len;
    int rc = dc_buf_appendf(out, "$SR %s %s", sr->nick, sr->path);
    if (sr->is_dir)
        rc |= dc_buf_appendf(out, " %d/%d", sr->free_slots, sr->total_slots);
    else
        rc |= dc_buf_appendf(out, "\x05%llu %d/%d", (unsigned long long)sr->size, sr->free_slots,
                             sr->total_slots);
    rc |= dc_buf_appendf(out, "\x05%s (%s)", sr->hub_info, sr->hub_addr);
    if (sr->target)
        rc |= dc_buf_appendf(out, "\x05%s", sr->target);
    return nmdc_finish(out, undo, rc);
}

int nmdc_fmt_transfer(struct dc_buf *out, bool is_snd, const struct nmdc_transfer *t)
{
    if (!t->type || !*t->type || strpbrk(t->type, " \\|$") || !t->ident || !*t->ident ||
        strchr(t->ident, '|') || t->start < 0 || t->bytes < (is_snd ? 0 : -1))
        return -1;
    size_t undo = out->len;
    int rc = dc_buf_appendf(out, "$%s %s ", is_snd ? "ADCSND" : "ADCGET", t->type);
    /* DC++ writes "\ " for a space on NMDC (notes §2.11). */
    for (const char *p = t->ident; *p && rc == 0; p++)
        rc |= *p == ' ' ? dc_buf_append(out, "\\ ", 2) : *p == '\\' ? dc_buf_append(out, "\\\\", 2) :
              *p == '\n' ? dc_buf_append(out, "\\n", 2) : dc_buf_append_byte(out, *p);
    rc |= dc_buf_appendf(out, " %lld %lld", (long long)t->start, (long long)t->bytes);
    if (t->zl1)
        rc |= dc_buf_append_str(out, " ZL1");
    if (t->re1)
        rc |= dc_buf_append_str(out, " RE1");
    return nmdc_finish(out, undo, rc);
}
