/* test_html.c: the HTML report and its sequence diagram, rendered from
 * hand-made logs and a trace (hostile bytes, a huge line, a long run of
 * alike lines) and parsed back with libxml2: the page is well-formed, its
 * diagram has one lifeline per process, one arrow per trace line shown (the
 * rest counted by the fold markers), the failure marked, and nothing
 * fetched from elsewhere. */
#include <criterion/criterion.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/html.h"
#include "harness/seqdiag.h"

static char *escaped(const char *s, size_t len, size_t max)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    hr_html_text(&b, s, len, max);
    dc_buf_append_byte(&b, 0);
    return dc_buf_steal(&b, NULL);
}

Test(html, text_is_escaped_and_cut_with_a_marker)
{
    char *e = escaped("<a href=\"x\">&'</a>", 18, 100);
    cr_assert_str_eq(e, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    free(e);
    /* bytes that are not UTF-8 and control bytes: visible \xHH; UTF-8 kept */
    e = escaped("\xff\x01 \xc3\xa9 \xe2\x82", 8, 100);
    cr_assert_str_eq(e, "<span class=\"esc\">\\xFF</span><span class=\"esc\">\\x01</span> \xc3\xa9 "
                        "<span class=\"esc\">\\xE2</span><span class=\"esc\">\\x82</span>");
    free(e);
    /* cut after max bytes, never inside a UTF-8 sequence */
    e = escaped("ab\xc3\xa9zzzz", 8, 3);
    cr_assert_str_eq(e, "ab<span class=\"cut\">[&#8230; 6 more bytes]</span>");
    free(e);
}

static void put(const char *dir, const char *name, const char *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "ab");
    cr_assert_not_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

static void putf(const char *dir, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void putf(const char *dir, const char *name, const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0);
    put(dir, name, s, (size_t)n);
    free(s);
}

static long count(xmlXPathContextPtr x, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)expr, x);
    cr_assert_not_null(o, "xpath %s", expr);
    long n = o->type == XPATH_NUMBER ? (long)o->floatval : o->nodesetval ? o->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(o);
    return n;
}

static char dir[] = "/tmp/dcharness-html-XXXXXX";
static char paths[4][600];
static size_t trace_lines;   /* lines of the trace that are protocol lines or raw */

/* A failed NMDC run of alice and bob: logs, and a trace whose clock is
 * 100 s ahead of the logs'. */
static void make_run(void)
{
    cr_assert_not_null(mkdtemp(dir));
    putf(dir, "hub.log", "%s", "   0.000 run| fakehub --nmdc 127.0.0.1:0\n"
                               "   0.010 out| {\"event\":\"ready\",\"pid\":1,\"nmdc\":\"127.0.0.1:4111\"}\n"
                               "   0.011 in | {\"cmd\":\"subscribe\",\"id\":1}\n"
                               "   0.012 ctl| {\"id\":1,\"ok\":true,\"result\":{}}\n");
    putf(dir, "alice.log", "%s", "   0.020 run| dcclient\n"
                                 "   0.021 out| {\"event\":\"ready\",\"pid\":2}\n"
                                 "   0.030 in | {\"cmd\":\"connect\",\"args\":{\"url\":\"dchub://127.0.0.1:4111\",\"nick\":\"alice\"},\"id\":2}\n"
                                 "   0.040 out| {\"id\":2,\"ok\":true,\"result\":{}}\n"
                                 "   0.300 in | {\"cmd\":\"pm\",\"args\":{\"nick\":\"bob\",\"text\":\"<b>hi</b>\"},\"id\":3}\n"
                                 "   0.301 out| {\"id\":3,\"ok\":true,\"result\":{}}\n"
                                 "   0.302 err| raw \xff\xfe bytes <script>alert(1)</script>\n");
    putf(dir, "bob.log", "%s", "   0.020 run| dcclient\n"
                               "   0.035 in | {\"cmd\":\"connect\",\"args\":{\"url\":\"dchub://127.0.0.1:4111\",\"nick\":\"bob\"},\"id\":4}\n"
                               "   0.045 out| {\"id\":4,\"ok\":true,\"result\":{}}\n"
                               "   0.310 out| {\"event\":\"pm\",\"from\":\"alice\",\"text\":\"<b>hi</b>\"}\n");
    /* a huge stderr line in bob's log */
    char *big = malloc(300000);
    memset(big, 'B', 300000);
    put(dir, "bob.log", "   0.320 err| ", 14);
    put(dir, "bob.log", big, 300000);
    put(dir, "bob.log", "\n", 1);

    const char *t = "hub.trace";
    putf(dir, t, "{\"conn\":1,\"nick\":null,\"proto\":\"nmdc\",\"dir\":\"in\",\"line\":\"$ValidateNick alice\",\"t\":100.031}\n");
    putf(dir, t, "{\"conn\":1,\"nick\":\"alice\",\"proto\":\"nmdc\",\"dir\":\"out\",\"line\":\"$Hello alice\",\"t\":100.032}\n");
    putf(dir, t, "{\"conn\":1,\"nick\":null,\"proto\":\"nmdc\",\"dir\":\"in\",\"line\":\"$Key \\u00F7\\u00D1\",\"latin1\":true,\"t\":100.033}\n");
    putf(dir, t, "{\"event\":\"login\",\"conn\":1,\"nick\":\"alice\",\"proto\":\"nmdc\",\"t\":100.034}\n");
    putf(dir, t, "{\"conn\":2,\"nick\":\"bob\",\"proto\":\"nmdc\",\"dir\":\"in\",\"line\":\"$ValidateNick bob\",\"t\":100.036}\n");
    trace_lines = 4;
    for (int i = 0; i < 40; i++, trace_lines++)   /* a long run of alike lines: collapsed */
        putf(dir, t, "{\"conn\":2,\"nick\":\"bob\",\"proto\":\"nmdc\",\"dir\":\"out\",\"line\":\"$MyINFO $ALL u%d <x>$ $1$$0$\",\"t\":%.3f}\n",
             i, 100.05 + i * 0.001);
    /* not JSON, not UTF-8: a raw self-arrow, escaped */
    put(dir, t, "garbage \xff\xfe <svg onload=x>\n", 26);
    trace_lines++;
    /* a 1 MiB protocol line */
    put(dir, t, "{\"conn\":1,\"nick\":\"alice\",\"proto\":\"nmdc\",\"dir\":\"in\",\"line\":\"", 58);
    char *huge = malloc(1 << 20);
    memset(huge, 'H', 1 << 20);
    put(dir, t, huge, 1 << 20);
    put(dir, t, "\",\"t\":100.2}\n", 13);
    trace_lines++;
    putf(dir, t, "{\"conn\":1,\"nick\":\"alice\",\"proto\":\"nmdc\",\"dir\":\"in\",\"line\":\"$To: bob From: alice $<alice> <b>hi</b>\",\"t\":100.300}\n");
    putf(dir, t, "{\"conn\":2,\"nick\":\"bob\",\"proto\":\"nmdc\",\"dir\":\"out\",\"line\":\"$To: bob From: alice $<alice> <b>hi</b>\",\"t\":100.301}\n");
    putf(dir, t, "{\"event\":\"shutdown\",\"t\":101.5}\n");
    trace_lines += 2;
    free(big);
    free(huge);
    const char *names[] = {"hub.log", "alice.log", "bob.log", "hub.trace"};
    for (int i = 0; i < 4; i++)
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, names[i]);
}

static void remove_run(void)
{
    const char *names[] = {"hub.log", "alice.log", "bob.log", "hub.trace"};
    for (int i = 0; i < 4; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

Test(html, page_with_a_failed_run, .init = make_run, .fini = remove_run)
{
    struct hr_html_step steps[] = {
        {.line = 9, .text = "alice connect", .status = HR_STATUS_PASS, .start = 0.03, .seconds = 0.01},
        {.line = 12, .text = "alice pm bob \"<b>hi</b>\"", .status = HR_STATUS_PASS, .start = 0.3, .seconds = 0.001},
        {.line = 13, .text = "bob expect pm text=\"nobody & <sends>\"", .status = HR_STATUS_FAIL, .start = 0.301, .seconds = 1.0},
        {.line = 14, .text = "hub exits 0", .status = HR_STATUS_SKIP},
    };
    struct hr_html_proc procs[] = {{"hub", NULL, paths[0]}, {"alice", "alice", paths[1]}, {"bob", "bob", paths[2]}};
    struct hr_html_case cases[] = {
        {.name = "passing one [nmdc]", .file = "s/ok.scn", .status = HR_STATUS_PASS, .seconds = 0.1},
        {.name = "failing <PM> [nmdc]", .file = "s/pm.scn", .status = HR_STATUS_FAIL, .seconds = 1.4,
         .reason = "bob saw no matching pm event within 1.0s", .details = "step: s/pm.scn:13: ...\n\xff",
         .steps = steps, .nsteps = 4, .procs = procs, .nprocs = 3, .trace_path = paths[3], .t0 = 100.0,
         .fail_at = 1.301, .fail_step = 2},
        {.name = "skipped [adc]", .file = "s/pm.scn", .status = HR_STATUS_SKIP, .reason = "hub profile uhub does not speak nmdc"},
    };
    char *page;
    size_t len;
    FILE *f = open_memstream(&page, &len);
    struct hr_html_opts o = {.title = "dcharness"};
    cr_assert_eq(hr_html_write(f, cases, 3, &o), 0);
    fclose(f);
    cr_assert_lt(len, 1 << 20, "the page is bounded: %zu bytes", len);

    xmlDocPtr doc = xmlReadMemory(page, (int)len, "report.html", "UTF-8", XML_PARSE_NONET | XML_PARSE_HUGE);
    cr_assert_not_null(doc, "the page is not well-formed");
    xmlXPathContextPtr x = xmlXPathNewContext(doc);
    cr_assert_eq(count(x, "count(//table[@class='summary']/tr[td])"), 3);
    cr_assert_eq(count(x, "//section[@data-status='fail']"), 1);
    /* a diagram for the failed run only */
    cr_assert_eq(count(x, "//svg"), 1);
    cr_assert_eq(count(x, "//section[@data-status='fail']//svg"), 1);
    /* one lifeline per process: the runner, the hub, alice, bob */
    cr_assert_eq(count(x, "//g[@class='lifeline']"), 4);
    const char *procs_seen[] = {"dcharness", "hub", "alice", "bob"};
    for (int i = 0; i < 4; i++) {
        char q[128];
        snprintf(q, sizeof q, "//g[@class='lifeline'][@data-proc='%s']", procs_seen[i]);
        cr_assert_eq(count(x, q), 1, "%s", q);
    }
    /* every protocol (or raw) trace line: an arrow, or counted by a fold */
    long shown = count(x, "//g[@data-src='trace']");
    long hidden = count(x, "sum(//g[@class='collapsed']/@data-trace-hidden)");
    cr_assert_eq(shown + hidden, (long)trace_lines, "%ld shown + %ld hidden != %zu", shown, hidden, trace_lines);
    cr_assert_gt(hidden, 30, "the run of 40 $MyINFO lines is folded");
    cr_assert_eq(count(x, "//g[@class='collapsed']"), 1);
    /* control arrows: 2 hub (subscribe + reply, ready) + alice 5 + bob 3 */
    cr_assert_eq(count(x, "//g[@data-src='control']"), 3 + 5 + 3);
    /* a line before the nick was accepted ($Key, nick null) starts on
     * alice's lifeline, as her later $To: does */
    cr_assert_eq(count(x, "//g[contains(title,'$Key')]/line[@x1 = //g[contains(title,'$To: bob From: alice')]/line/@x1]"), 1);
    cr_assert_eq(count(x, "//g[@class='lifeline'][@data-proc='other connections']"), 0);
    /* the failure: a mark naming the step, the step row, recent arrows */
    cr_assert_eq(count(x, "//g[@class='fail-mark'][contains(., 'line 13: bob expect pm text=\"nobody &amp; &lt;sends&gt;\"')]"), 0);
    cr_assert_eq(count(x, "//g[@class='fail-mark'][contains(., 'line 13: bob expect pm text=\"nobody & <sends>\"')]"), 1);
    cr_assert_eq(count(x, "//tr[@data-failing]"), 1);
    cr_assert_eq(count(x, "//tr[@data-failing]/td[2][.='bob expect pm text=\"nobody & <sends>\"']"), 1);
    cr_assert_eq(count(x, "//tr[contains(@class,'skip')][td[2]='hub exits 0']"), 1);
    cr_assert_geq(count(x, "//g[contains(@class,'arrow')][contains(@class,'recent')]"), 1);
    /* hostile text stays text */
    cr_assert_eq(count(x, "//script"), 0);
    cr_assert_eq(count(x, "//svg//svg | //svg//span | //svg//div"), 0);   /* HTML inside SVG would end it */
    cr_assert_geq(count(x, "//svg//tspan[@class='esc']"), 1, "the raw trace line's bytes, escaped in the diagram");
    /* the report's and alice's log's \xff (the trace's raw line is before its last 256 KiB) */
    cr_assert_eq(count(x, "//span[@class='esc'][.='\\xFF']"), 2);
    cr_assert_geq(count(x, "//span[@class='cut']"), 2, "the huge lines are cut with a marker");
    /* self-contained: nothing to fetch */
    cr_assert_eq(count(x, "//@src | //@href[not(starts-with(., '#'))] | //link | //img | //iframe"), 0);
    cr_assert_null(strstr(page, "http://"));
    cr_assert_null(strstr(page, "https://"));
    /* logs in collapsible sections: 3 logs and the trace */
    cr_assert_eq(count(x, "//section[@data-status='fail']//details[@class='log']"), 4);
    xmlXPathFreeContext(x);
    xmlFreeDoc(doc);
    free(page);
}

Test(html, a_trace_without_parties_still_draws, .init = make_run, .fini = remove_run)
{
    /* dcharness html input that names only a trace: the hub lifeline and
     * one for every connection, nothing read out of bounds */
    struct hr_html_case c = {.name = "trace only", .status = HR_STATUS_FAIL, .trace_path = paths[3], .t0 = 100.0,
                             .fail_at = 0.2, .fail_step = -1, .reason = "r"};
    char *page;
    size_t len;
    FILE *f = open_memstream(&page, &len);
    struct hr_html_opts o = {.title = NULL};
    cr_assert_eq(hr_html_write(f, &c, 1, &o), 0);
    fclose(f);
    xmlDocPtr doc = xmlReadMemory(page, (int)len, "report.html", "UTF-8", XML_PARSE_NONET | XML_PARSE_HUGE);
    cr_assert_not_null(doc);
    xmlXPathContextPtr x = xmlXPathNewContext(doc);
    cr_assert_eq(count(x, "//g[@class='lifeline']"), 3);   /* dcharness, hub, other connections */
    cr_assert_eq(count(x, "//g[@class='lifeline'][@data-proc='other connections']"), 1);
    long shown = count(x, "//g[@data-src='trace']");
    long hidden = count(x, "sum(//g[@class='collapsed']/@data-trace-hidden)");
    cr_assert_eq(shown + hidden, (long)trace_lines);
    xmlXPathFreeContext(x);
    xmlFreeDoc(doc);
    free(page);
}

Test(html, all_draws_passed_runs_and_bounds_a_long_trace, .init = make_run, .fini = remove_run)
{
    /* a long passed run: 3000 more alternating lines */
    for (int i = 0; i < 3000; i++, trace_lines++)
        putf(dir, "hub.trace", "{\"conn\":%d,\"nick\":\"%s\",\"proto\":\"nmdc\",\"dir\":\"%s\",\"line\":\"$Search %d\",\"t\":%.4f}\n",
             1 + i % 2, i % 2 ? "bob" : "alice", i % 3 ? "in" : "out", i, 102 + i * 0.0001);
    struct hr_html_proc procs[] = {{"hub", NULL, paths[0]}, {"alice", "alice", paths[1]}, {"bob", "bob", paths[2]}};
    struct hr_html_case c = {.name = "long", .file = "l.scn", .status = HR_STATUS_PASS, .procs = procs, .nprocs = 3,
                             .trace_path = paths[3], .t0 = 100.0, .fail_at = -1, .fail_step = -1};
    char *page;
    size_t len;
    FILE *f = open_memstream(&page, &len);
    struct hr_html_opts o = {.all = true};
    cr_assert_eq(hr_html_write(f, &c, 1, &o), 0);
    fclose(f);
    xmlDocPtr doc = xmlReadMemory(page, (int)len, "report.html", "UTF-8", XML_PARSE_NONET | XML_PARSE_HUGE);
    cr_assert_not_null(doc);
    xmlXPathContextPtr x = xmlXPathNewContext(doc);
    cr_assert_eq(count(x, "//svg"), 1);
    long arrows = count(x, "//g[contains(@class,'arrow')]");
    cr_assert_leq(arrows, SD_PASS, "%ld arrows", arrows);
    long shown = count(x, "//g[@data-src='trace']");
    long hidden = count(x, "sum(//g[@class='collapsed']/@data-trace-hidden)");
    cr_assert_eq(shown + hidden, (long)trace_lines, "%ld + %ld != %zu", shown, hidden, trace_lines);
    cr_assert_eq(count(x, "//g[@class='fail-mark']"), 0);
    xmlXPathFreeContext(x);
    xmlFreeDoc(doc);
    free(page);
}
