/* seqdiag.c: a scenario run's sequence diagram as inline SVG (see seqdiag.h).
 *
 * Three passes: gather arrows from the hub trace and the logs; choose what
 * to show (a window around the failure, alike runs collapsed); lay the rows
 * out top to bottom and write SVG. Text goes through hr_svg_text, so any
 * byte in a trace or log is safe here.
 */
#include "harness/seqdiag.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define LANE_W 230
#define LEFT 78          /* the time column */
#define HEAD 44          /* lifeline heads */
#define ROW 21
#define TRACE_MAX (16u << 20)   /* of a trace: its tail (about 5 s of parsing on a loaded machine) */
#define LOG_MAX (16u << 20)
#define LABEL_MAX 4096          /* bytes of an arrow's text kept for its tooltip */

enum kind { K_PROTO, K_REQUEST, K_EVENT, K_REPLY, K_RAW, K_COLLAPSED };

/* One row of the diagram. Owns label. */
struct arrow {
    double t;
    int from, to;            /* lane indexes */
    enum kind kind;
    bool trace;              /* from the hub trace (else a control line) */
    bool recent;             /* among the last before the failure */
    char *label;
    size_t label_len;        /* bytes kept in label (it may hold NULs from a raw line) */
    size_t full_len;         /* bytes the line had */
    size_t hidden, trace_hidden;   /* K_COLLAPSED: arrows and trace lines it stands for */
    size_t seq;              /* order of reading: ties in time keep it (log stamps are in ms) */
};

/* Lanes: 0 dcharness, 1 the hub (procs[0]), 2.. the parties, then "other"
 * (connections whose nick is no party's) when needed. Owns the arrows. */
struct diag {
    const struct hr_html_case *c;
    size_t nlanes;
    int other;               /* lane of unknown connections, -1 until needed */
    struct arrow *a;
    size_t n, cap;
    size_t trace_skipped;    /* bytes at the trace's start not read (TRACE_MAX) */
};

static void add(struct diag *d, struct arrow a)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 256;
        d->a = realloc(d->a, d->cap * sizeof *d->a);
        if (!d->a)
            abort();
    }
    a.seq = d->n;
    d->a[d->n++] = a;
}

/* A label: at most LABEL_MAX bytes of s (cut before a UTF-8 sequence),
 * remembering the full length for the tooltip's marker. */
static void set_label(struct arrow *a, const char *s, size_t n)
{
    size_t k = n;
    if (k > LABEL_MAX) {
        k = LABEL_MAX;
        while (k > LABEL_MAX - 4 && ((unsigned char)s[k] & 0xc0) == 0x80)
            k--;
    }
    a->label = malloc(k + 1);
    if (!a->label)
        abort();
    memcpy(a->label, s, k);
    a->label[k] = '\0';
    a->label_len = k;
    a->full_len = n;
}

static int party_lane(struct diag *d, const char *nick)
{
    for (size_t i = 1; nick && i < d->c->nprocs; i++)
        if (d->c->procs[i].nick && !strcmp(d->c->procs[i].nick, nick))
            return (int)i + 1;
    if (d->other < 0)
        d->other = (int)d->nlanes++;
    return d->other;
}

/* Calls fn for each non-empty line of buf with the line parsed (NULL when it
 * is not a JSON object; jansson also refuses what is not UTF-8). Parsed
 * once per pass and dropped at once, so a large trace costs its text and
 * the arrows, not a tree of JSON values per line. */
static void each_line(char *buf, size_t len, void (*fn)(void *ctx, json_t *o, const char *raw, size_t n), void *ctx)
{
    for (size_t i = 0; i < len;) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - buf) - i : len - i;
        if (n) {
            json_t *o = json_loadb(buf + i, n, 0, NULL);
            fn(ctx, json_is_object(o) ? o : NULL, buf + i, n);
            json_decref(o);
        }
        i += n + 1;
    }
}

/* conn -> the first nick it had: lines before the nick was accepted have
 * none, and belong on the same lifeline. */
static void learn_nick(void *ctx, json_t *o, const char *raw, size_t n)
{
    (void)raw, (void)n;
    json_t *nicks = ctx, *nick = json_object_get(o, "nick"), *conn = json_object_get(o, "conn");
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)json_integer_value(conn));
    if (json_is_string(nick) && json_is_integer(conn) && !json_object_get(nicks, key))
        json_object_set(nicks, key, nick);
}

struct trace_pass {
    struct diag *d;
    json_t *nicks;
    double last_t;
};

static void trace_arrow(void *ctx, json_t *o, const char *raw, size_t n)
{
    struct trace_pass *tp = ctx;
    struct diag *d = tp->d;
    json_t *t = json_object_get(o, "t");
    double at = json_is_number(t) ? json_number_value(t) - d->c->t0 : tp->last_t;
    tp->last_t = at;
    if (!o) {   /* not JSON: a raw hub self-arrow */
        struct arrow a = {.t = at, .from = 1, .to = 1, .kind = K_RAW, .trace = true};
        set_label(&a, raw, n);
        add(d, a);
        return;
    }
    json_t *line = json_object_get(o, "line");
    if (!json_is_string(line))
        return;   /* login/logout/signal records: the hub's own events, not lines */
    const char *nick = json_string_value(json_object_get(o, "nick"));
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(o, "conn")));
    if (!nick)
        nick = json_string_value(json_object_get(tp->nicks, key));
    int party = party_lane(d, nick);
    const char *dir = json_string_value(json_object_get(o, "dir"));
    bool in = dir && !strcmp(dir, "in");
    struct arrow a = {.t = at, .from = in ? party : 1, .to = in ? 1 : party, .kind = K_PROTO, .trace = true};
    set_label(&a, json_string_value(line), json_string_length(line));
    add(d, a);
}

static void read_trace(struct diag *d)
{
    size_t len, skipped;
    char *buf = d->c->trace_path ? hr_html_read_tail(d->c->trace_path, TRACE_MAX, &len, &skipped) : NULL;
    if (!buf)
        return;
    d->trace_skipped = skipped;
    struct trace_pass tp = {.d = d, .nicks = json_object()};
    each_line(buf, len, learn_nick, tp.nicks);
    each_line(buf, len, trace_arrow, &tp);
    json_decref(tp.nicks);
    free(buf);
}

/* "pm nick=bob text=hi" from {"cmd":"pm","args":{"nick":"bob","text":"hi"}}:
 * what a control line says, short. */
static char *control_label(json_t *o, enum kind *kind, size_t *len)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    const char *cmd = json_string_value(json_object_get(o, "cmd"));
    const char *ev = json_string_value(json_object_get(o, "event"));
    json_t *fields = o;
    if (cmd) {
        *kind = K_REQUEST;
        dc_buf_append_str(&b, cmd);
        fields = json_object_get(o, "args");
    } else if (ev) {
        *kind = K_EVENT;
        dc_buf_append_str(&b, ev);
    } else {
        *kind = K_REPLY;
        json_t *ok = json_object_get(o, "ok");
        const char *err = json_string_value(json_object_get(o, "error"));
        dc_buf_appendf(&b, "%s #%lld", json_is_true(ok) ? "ok" : "error", (long long)json_integer_value(json_object_get(o, "id")));
        if (err)
            dc_buf_appendf(&b, ": %s", err);
        fields = NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(fields, key, v) {
        if (!strcmp(key, "event") || !strcmp(key, "id") || json_is_object(v) || json_is_array(v))
            continue;
        char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        dc_buf_appendf(&b, " %s=%s", key, s ? s : json_string_value(v));
        free(s);
        if (b.len > LABEL_MAX)
            break;
    }
    return dc_buf_steal(&b, len);
}

static void read_log(struct diag *d, size_t proc)
{
    size_t len, skipped;
    const char *path = d->c->procs[proc].log_path;
    char *buf = path ? hr_html_read_tail(path, LOG_MAX, &len, &skipped) : NULL;
    int lane = (int)proc + 1;
    for (size_t i = 0; buf && i < len;) {
        char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - buf) - i : len - i;
        char *line = buf + i;
        i += n + 1;
        /* "%8.3f tag| text" */
        char *end;
        double t = strtod(line, &end);
        if (end == line || (size_t)(end - line) + 6 > n || end[0] != ' ' || end[4] != '|')
            continue;
        const char *tag = end + 1, *body = end + 6;
        bool request = !strncmp(tag, "in ", 3);
        if (!request && strncmp(tag, "out", 3) && strncmp(tag, "ctl", 3))
            continue;
        json_t *o = json_loadb(body, n - (size_t)(body - line), 0, NULL);
        if (json_is_object(o) && (json_object_get(o, "cmd") || json_object_get(o, "event") || json_object_get(o, "ok"))) {
            struct arrow a = {.t = t, .from = request ? 0 : lane, .to = request ? lane : 0};
            size_t n2;
            char *label = control_label(o, &a.kind, &n2);
            set_label(&a, label, n2);
            free(label);
            add(d, a);
        }
        json_decref(o);
    }
    free(buf);
}

static int by_time(const void *va, const void *vb)
{
    const struct arrow *a = va, *b = vb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* First word of a label, for "alike" runs. */
static size_t verb_len(const struct arrow *a)
{
    size_t n = strcspn(a->label, " ");
    return n > 32 ? 32 : n;
}

static bool alike(const struct arrow *a, const struct arrow *b)
{
    size_t n = verb_len(a);
    return a->from == b->from && a->to == b->to && a->kind == b->kind && a->kind != K_COLLAPSED && n == verb_len(b) &&
           !strncmp(a->label, b->label, n);
}

static struct arrow marker(const struct arrow *first, size_t count, size_t traced, const char *what)
{
    struct arrow m = {.t = first->t, .from = first->from, .to = first->to, .kind = K_COLLAPSED,
                      .hidden = count, .trace_hidden = traced};
    if (asprintf(&m.label, "%zu %s not shown", count, what) < 0)
        abort();
    m.label_len = m.full_len = strlen(m.label);
    return m;
}

/* Keep what is shown in d->a: the window, the recent marks, runs collapsed. */
static void choose(struct diag *d)
{
    const struct hr_html_case *c = d->c;
    size_t lo = 0, hi = d->n;
    if (c->fail_at >= 0) {
        size_t at = 0;
        while (at < d->n && d->a[at].t <= c->fail_at)
            at++;
        lo = at > SD_BEFORE ? at - SD_BEFORE : 0;
        hi = at + SD_AFTER < d->n ? at + SD_AFTER : d->n;
        for (size_t i = at > SD_RECENT ? at - SD_RECENT : 0; i < at; i++)
            d->a[i].recent = true;
    } else if (d->n > SD_PASS) {
        hi = SD_PASS;
    }
    struct arrow *out = calloc(d->n + 4, sizeof *out);
    size_t w = 0;
    if (d->trace_skipped && d->n) {   /* said, not counted: those lines were never read */
        out[w] = marker(&d->a[0], 0, 0, "");
        free(out[w].label);
        if (asprintf(&out[w].label, "the trace's first %zu bytes are not read (the report reads its last %u MiB)",
                     d->trace_skipped, TRACE_MAX >> 20) < 0)
            abort();
        out[w].label_len = out[w].full_len = strlen(out[w].label);
        w++;
    }
    size_t traced = 0;
    for (size_t i = 0; i < lo; i++)
        traced += d->a[i].trace;
    if (lo)
        out[w++] = marker(&d->a[lo], lo, traced, "earlier lines and messages");
    for (size_t i = lo; i < hi;) {
        size_t j = i + 1;
        while (j < hi && alike(&d->a[i], &d->a[j]) && !d->a[j].recent)
            j++;
        if (j - i > SD_RUN && !d->a[i].recent) {
            /* the first two, one marker, the last */
            out[w++] = d->a[i];
            out[w++] = d->a[i + 1];
            traced = 0;
            for (size_t k = i + 2; k < j - 1; k++) {
                traced += d->a[k].trace;
                free(d->a[k].label);
            }
            char what[64];
            snprintf(what, sizeof what, "more alike '%.*s'", (int)verb_len(&d->a[i]), d->a[i].label);
            out[w++] = marker(&d->a[i + 2], j - 1 - (i + 2), traced, what);
            out[w++] = d->a[j - 1];
        } else {
            for (size_t k = i; k < j; k++)
                out[w++] = d->a[k];
        }
        i = j;
    }
    traced = 0;
    for (size_t i = hi; i < d->n; i++)
        traced += d->a[i].trace;
    if (hi < d->n)
        out[w++] = marker(&d->a[hi], d->n - hi, traced, "later lines and messages");
    for (size_t i = 0; i < lo; i++)
        free(d->a[i].label);
    for (size_t i = hi; i < d->n; i++)
        free(d->a[i].label);
    free(d->a);
    d->a = out;
    d->n = w;
}

static int lane_x(int lane)
{
    return LEFT + LANE_W / 2 + lane * LANE_W;
}

static const char *lane_name(const struct diag *d, size_t lane)
{
    if (lane == 0)
        return d->c->driver ? d->c->driver : "dcharness";
    if ((int)lane == d->other)
        return "other connections";
    return lane - 1 < d->c->nprocs ? d->c->procs[lane - 1].name : "hub";   /* a case that names no parties */
}

static const char *const KIND_CLASS[] = {"proto", "request", "event", "reply", "raw", "collapsed"};

static void draw_arrow(struct dc_buf *b, const struct arrow *a, int y, int width)
{
    int x1 = lane_x(a->from), x2 = lane_x(a->to);
    if (a->kind == K_COLLAPSED) {
        dc_buf_appendf(b, "<g class=\"collapsed\" data-hidden=\"%zu\" data-trace-hidden=\"%zu\">"
                          "<rect x=\"%d\" y=\"%d\" width=\"%zu\" height=\"%d\" class=\"fold\"/>"
                          "<text x=\"%d\" y=\"%d\" class=\"fold\">&#8942; ",
                       a->hidden, a->trace_hidden, LEFT, y - ROW + 6, (size_t)(width - LEFT), ROW - 4, LEFT + 8, y - 3);
        hr_svg_text(b, a->label, strlen(a->label), 200, false);
        dc_buf_append_str(b, "</text></g>\n");
        return;
    }
    dc_buf_appendf(b, "<g class=\"arrow %s%s\" data-src=\"%s\"><title>", KIND_CLASS[a->kind], a->recent ? " recent" : "",
                   a->trace ? "trace" : "control");
    hr_svg_text(b, a->label, a->label_len, LABEL_MAX, true);
    if (a->full_len > a->label_len)
        dc_buf_appendf(b, " [&#8230; %zu more bytes]", a->full_len - a->label_len);
    dc_buf_appendf(b, "</title><text x=\"4\" y=\"%d\" class=\"time\">+%.3f</text>", y, a->t);
    int span = x1 == x2 ? LANE_W - 40 : abs(x2 - x1) - 16;
    size_t chars = span > 0 ? (size_t)span / 7 : 4;
    if (x1 == x2) {
        dc_buf_appendf(b, "<path d=\"M%d %d h24 v8 h-24\" class=\"line\"/><polygon points=\"%d,%d %d,%d %d,%d\" class=\"head\"/>"
                          "<text x=\"%d\" y=\"%d\" class=\"label\" text-anchor=\"start\">",
                       x1, y - 8, x1, y, x1 + 7, y - 3, x1 + 7, y + 3, x1 + 30, y);
    } else {
        int dir = x2 > x1 ? 1 : -1;
        dc_buf_appendf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"line\"/>"
                          "<polygon points=\"%d,%d %d,%d %d,%d\" class=\"head\"/>"
                          "<text x=\"%d\" y=\"%d\" class=\"label\" text-anchor=\"middle\">",
                       x1, y, x2 - dir * 2, y, x2, y, x2 - dir * 8, y - 4, x2 - dir * 8, y + 4, (x1 + x2) / 2, y - 4);
    }
    /* The label: about as many characters as fit, with a marker when cut. */
    size_t n = a->label_len;
    if (a->full_len > n && n > chars - 1)
        n = chars + 1;   /* cut anyway */
    if (n > chars) {
        size_t k = chars > 2 ? chars - 2 : 1;
        while (k > 0 && ((unsigned char)a->label[k] & 0xc0) == 0x80)
            k--;   /* not inside a UTF-8 sequence */
        hr_svg_text(b, a->label, k, k, false);
        dc_buf_append_str(b, "&#8230;");
    } else {
        hr_svg_text(b, a->label, n, n, false);
    }
    dc_buf_append_str(b, "</text></g>\n");
}

static const char SVG_STYLE[] =
    "<style>"
    ".sd text{font:11px monospace;fill:#222}.sd .time{fill:#888}.sd .head-box{fill:#eef3fb;stroke:#4a6fa5}"
    ".sd .life{stroke:#9aa;stroke-dasharray:4 3}.sd .line{stroke:#555;fill:none}.sd .head{fill:#555}"
    ".sd .proto .line{stroke:#1f5fbf}.sd .proto .head{fill:#1f5fbf}"
    ".sd .request .line{stroke:#2e7d32;stroke-dasharray:5 2}.sd .request .head{fill:#2e7d32}"
    ".sd .event .line,.sd .reply .line{stroke:#7b3fa0;stroke-dasharray:2 2}.sd .event .head,.sd .reply .head{fill:#7b3fa0}"
    ".sd .raw .line{stroke:#b00}.sd .recent .label{font-weight:bold;fill:#a04000}.sd .recent .line{stroke-width:2.5}"
    ".sd rect.recent-band{fill:#fff3e0}.sd .fold{fill:#f2f2f2;stroke:none}.sd text.fold{fill:#666;font-style:italic}"
    ".sd .step line{stroke:#bbb}.sd .step text{fill:#666}.sd .step.failing text{fill:#c62828;font-weight:bold}.sd .step.failing line{stroke:#c62828}"
    ".sd .esc{fill:#b00}.sd .cut{fill:#b26a00;font-style:italic}.sd .fail-mark line{stroke:#c62828;stroke-width:2}"
    ".sd .fail-mark text{fill:#c62828;font-weight:bold}.sd .gap text{fill:#999;font-style:italic}"
    "</style>";

void hr_seqdiag_svg(struct dc_buf *out, const struct hr_html_case *c)
{
    struct diag d = {.c = c, .nlanes = 1 + (c->nprocs ? c->nprocs : 1), .other = -1};
    read_trace(&d);
    for (size_t i = 0; i < c->nprocs; i++)
        read_log(&d, i);
    qsort(d.a, d.n, sizeof *d.a, by_time);
    choose(&d);

    struct dc_buf body;
    dc_buf_init(&body, 0);
    int y = HEAD + 14;
    size_t step = 0;
    bool failed_drawn = c->fail_at < 0;
    int width = LEFT + (int)d.nlanes * LANE_W;
    double prev = 0;
    for (size_t i = 0; i <= d.n; i++) {
        double t = i < d.n ? d.a[i].t : 1e300;
        /* Steps that started by now, then the failure, then the arrow. */
        for (; step < c->nsteps && c->steps[step].status != HR_STATUS_SKIP && c->steps[step].start <= t; step++) {
            const struct hr_html_step *s = &c->steps[step];
            y += ROW;
            dc_buf_appendf(&body, "<g class=\"step%s\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><text x=\"%d\" y=\"%d\">line %d: ",
                           (int)step == c->fail_step ? " failing" : "", LEFT, y - 13, width, y - 13, LEFT + 4, y - 2, s->line);
            hr_svg_text(&body, s->text, strlen(s->text), 160, false);
            dc_buf_append_str(&body, "</text></g>\n");
        }
        if (!failed_drawn && c->fail_at <= t) {
            failed_drawn = true;
            y += ROW + 4;
            const struct hr_html_step *s = c->fail_step >= 0 ? &c->steps[c->fail_step] : NULL;
            dc_buf_appendf(&body, "<g class=\"fail-mark\"><line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                                  "<text x=\"4\" y=\"%d\">+%.3f &#10007; failed", y - 16, width, y - 16, y - 3, c->fail_at);
            if (s) {
                dc_buf_appendf(&body, " at line %d: ", s->line);
                hr_svg_text(&body, s->text, strlen(s->text), 200, false);
            } else if (c->reason) {
                dc_buf_append_str(&body, ": ");
                hr_svg_text(&body, c->reason, strlen(c->reason), 200, false);
            }
            dc_buf_append_str(&body, "</text></g>\n");
        }
        if (i == d.n)
            break;
        if (i && t - prev > 0.5) {   /* a pause: say how long */
            y += 14;
            dc_buf_appendf(&body, "<g class=\"gap\"><text x=\"4\" y=\"%d\">&#8942; %.2fs</text></g>\n", y - 2, t - prev);
        }
        prev = t;
        y += ROW;
        if (d.a[i].recent)
            dc_buf_appendf(&body, "<rect class=\"recent-band\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>", LEFT, y - ROW + 6,
                           width - LEFT, ROW);
        draw_arrow(&body, &d.a[i], y, width);
    }
    int height = y + 24;
    dc_buf_appendf(out, "<svg class=\"sd\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">%s\n",
                   width, height, width, height, SVG_STYLE);
    for (size_t l = 0; l < d.nlanes; l++) {
        int x = lane_x((int)l);
        dc_buf_append_str(out, "<g class=\"lifeline\" data-proc=\"");
        const char *name = lane_name(&d, l);
        hr_svg_text(out, name, strlen(name), 64, true);
        dc_buf_appendf(out, "\"><line class=\"life\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                            "<rect class=\"head-box\" x=\"%d\" y=\"6\" width=\"%d\" height=\"28\" rx=\"4\"/>"
                            "<text x=\"%d\" y=\"25\" text-anchor=\"middle\">",
                       x, HEAD - 10, x, height - 6, x - LANE_W / 2 + 20, LANE_W - 40, x);
        hr_svg_text(out, name, strlen(name), 64, false);
        dc_buf_append_str(out, "</text></g>\n");
    }
    dc_buf_append(out, body.data, body.len);
    dc_buf_append_str(out, "</svg>\n");
    dc_buf_cleanup(&body);
    for (size_t i = 0; i < d.n; i++)
        free(d.a[i].label);
    free(d.a);
}
