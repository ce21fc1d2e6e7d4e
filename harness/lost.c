/* lost.c: where an expected message went, read from the hub's trace (lost.h).
 *
 * Each trace record that carries a protocol line (dir in/out, or a fault
 * record) is decoded with the pure codecs into what it means for the
 * question asked: a PM or a chat line with its sender, receiver and text,
 * or a user's info. The verdict comes from the three facts "the sender's
 * line reached the hub", "the hub wrote it to the receiver", and which fault
 * rule, if any, acted on it.
 */
#include "harness/lost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/adc.h"
#include "proto/nmdc.h"

#define LOST_MAX_RECORD (1u << 20)   /* longer trace lines are skipped (fakehub caps lines far below) */

enum lost_kind { LOST_NONE, LOST_PM, LOST_CHAT, LOST_INFO };

/* One protocol line as the question sees it. Strings point into the parsed
 * message, which the caller cleans up. */
struct lost_line {
    enum lost_kind kind;
    const char *from, *to;   /* NULL when the line does not say (ADC SIDs are not mapped) */
    const char *text;        /* PM and chat text, unescaped; INF: the nick */
};

/* The facts gathered over the whole trace. */
struct lost_facts {
    double in_t, out_t, login_t;   /* first time of each, 0 = never */
    char *other_text;              /* the sender's last line of that kind with another text (owned) */
    long fault_rule;               /* a fault rule that acted on the message, -1 none */
    char fault_action[32], fault_dir[4];
};

static bool text_matches(const struct hr_lost_query *q, const char *text)
{
    if (!q->text)
        return true;
    if (!text)
        return false;
    return q->contains ? strcasestr(text, q->text) != NULL : strcmp(text, q->text) == 0;
}

static bool decode(const char *proto, const char *line, size_t len, struct nmdc_msg *nm, struct adc_msg *am,
                   struct lost_line *out)
{
    memset(out, 0, sizeof *out);
    if (!strcmp(proto, "nmdc")) {
        if (nmdc_msg_parse(line, len, nm, NULL) < 0)
            return false;
        if (nm->type == NMDC_TO)
            *out = (struct lost_line){LOST_PM, nm->from, nm->to, nm->text};
        else if (nm->type == NMDC_CHAT && nm->nick)
            *out = (struct lost_line){LOST_CHAT, nm->nick, NULL, nm->text};
        else if (nm->type == NMDC_MYINFO)
            *out = (struct lost_line){LOST_INFO, NULL, NULL, nm->myinfo.nick};
        return true;
    }
    if (adc_msg_parse(line, len, am, NULL) < 0)
        return false;
    if (!strcmp(am->cmd, "MSG") && am->npos >= 1)
        *out = (struct lost_line){adc_msg_get(am, "PM") ? LOST_PM : LOST_CHAT, NULL, NULL, am->pos[0]};
    else if (!strcmp(am->cmd, "INF") && am->type == 'B')
        *out = (struct lost_line){LOST_INFO, NULL, NULL, adc_msg_get(am, "NI")};
    return true;
}

/* Does this decoded line carry the message asked about? */
static bool is_the_message(const struct hr_lost_query *q, enum lost_kind want, const struct lost_line *l)
{
    if (l->kind != want)
        return false;
    if (want == LOST_INFO)
        return l->text && !strcmp(l->text, q->from);
    if (l->from && strcmp(l->from, q->from))
        return false;
    if (want == LOST_PM && l->to && strcmp(l->to, q->to))
        return false;
    return text_matches(q, l->text);
}

static void note_record(const struct hr_lost_query *q, enum lost_kind want, json_t *rec, struct lost_facts *f)
{
    const char *event = json_string_value(json_object_get(rec, "event"));
    const char *nick = json_string_value(json_object_get(rec, "nick"));
    double t = json_number_value(json_object_get(rec, "t"));
    if (event && !strcmp(event, "login")) {
        if (nick && !strcmp(nick, q->from) && !f->login_t)
            f->login_t = t;
        return;
    }
    if (event && strcmp(event, "fault"))
        return;
    const char *dir = json_string_value(json_object_get(rec, "dir"));
    const char *proto = json_string_value(json_object_get(rec, "proto"));
    json_t *jl = json_object_get(rec, "line");
    if (!dir || !proto || !nick || !json_is_string(jl))
        return;
    bool in = !strcmp(dir, "in");
    /* In: the sender's own connection. Out: the receiver's. */
    if (strcmp(nick, in ? q->from : q->to))
        return;
    struct nmdc_msg nm;
    struct adc_msg am;
    struct lost_line l;
    if (!decode(proto, json_string_value(jl), json_string_length(jl), &nm, &am, &l))
        return;
    bool hit = is_the_message(q, want, &l);
    if (hit && event) {
        f->fault_rule = (long)json_integer_value(json_object_get(rec, "rule"));
        snprintf(f->fault_action, sizeof f->fault_action, "%s",
                 json_string_value(json_object_get(rec, "action")) ? json_string_value(json_object_get(rec, "action"))
                                                                   : "?");
        snprintf(f->fault_dir, sizeof f->fault_dir, "%s", dir);
    } else if (hit && in && !f->in_t) {
        f->in_t = t;
    } else if (hit && !in && !f->out_t) {
        f->out_t = t;
    } else if (!hit && in && !event && want != LOST_INFO && l.kind == want && l.text &&
               (want != LOST_PM || !l.to || !strcmp(l.to, q->to))) {
        free(f->other_text);
        f->other_text = strdup(l.text);
    }
    if (!strcmp(proto, "nmdc"))
        nmdc_msg_cleanup(&nm);
    else
        adc_msg_cleanup(&am);
}

static void fault_note(const struct lost_facts *f, const char *dir, struct dc_buf *out)
{
    if (f->fault_rule >= 0 && !strcmp(f->fault_dir, dir))
        dc_buf_appendf(out, " (fault rule %ld acted on it: %s)", f->fault_rule, f->fault_action);
}

bool hr_lost_explain(const char *trace_path, const struct hr_lost_query *q, struct dc_buf *out)
{
    enum lost_kind want = !strcmp(q->kind, "pm") ? LOST_PM : !strcmp(q->kind, "chat") ? LOST_CHAT
                        : !strcmp(q->kind, "user.join") ? LOST_INFO : LOST_NONE;
    if (want == LOST_NONE || !trace_path || !*trace_path || !q->from || !q->to)
        return false;
    FILE *fp = fopen(trace_path, "r");
    if (!fp)
        return false;
    struct lost_facts f = {.fault_rule = -1};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, fp)) > 0) {
        if ((size_t)n > LOST_MAX_RECORD)
            continue;
        json_t *rec = json_loadb(line, (size_t)n, 0, NULL);
        if (json_is_object(rec))
            note_record(q, want, rec, &f);
        json_decref(rec);
    }
    free(line);
    fclose(fp);

    const char *what = want == LOST_PM ? "PM" : "chat message";
    if (want == LOST_INFO) {
        if (!f.login_t)
            dc_buf_appendf(out, "not sent by %s: %s never logged in to the hub (the hub's trace has no login)",
                           q->from, q->from);
        else if (!f.out_t) {
            dc_buf_appendf(out, "not relayed: %s logged in, but the hub sent %s no info for %s", q->from, q->to,
                           q->from);
            fault_note(&f, "out", out);
        } else
            dc_buf_appendf(out, "relayed to %s: the hub sent it %s's info, but %s reported no user.join", q->to,
                           q->from, q->to);
    } else if (!f.in_t) {
        dc_buf_appendf(out, "not sent by %s: the hub's trace has no %s from %s%s%s with that text", q->from, what,
                       q->from, want == LOST_PM ? " to " : "", want == LOST_PM ? q->to : "");
        fault_note(&f, "in", out);
        if (f.other_text)
            dc_buf_appendf(out, "; %s's last %s had the text \"%s\"", q->from, what, f.other_text);
    } else if (!f.out_t) {
        dc_buf_appendf(out, "not relayed: the hub got the %s from %s, but did not send it to %s", what, q->from,
                       q->to);
        fault_note(&f, "in", out);
        fault_note(&f, "out", out);
    } else {
        dc_buf_appendf(out, "relayed to %s: the hub sent %s the %s %.3fs after it got it from %s, but %s did not "
                       "report it", q->to, q->to, what, f.out_t - f.in_t, q->from, q->to);
    }
    free(f.other_text);
    return true;
}
