/* test_report.c: TAP lines and JUnit XML. The XML is parsed back with
 * libxml2 (hostile log content included) and checked for the structure CI
 * systems read. */
#include <criterion/criterion.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report.h"

static char *render_tap(const struct hr_case *c, size_t n)
{
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    for (size_t i = 0; i < n; i++)
        hr_tap_case(f, i + 1, &c[i]);
    fclose(f);
    return buf;
}

static const struct hr_case cases[] = {
    {.classname = "scenarios.chat", .name = "chat [adc]", .status = HR_STATUS_PASS, .seconds = 0.25},
    {.classname = "scenarios.pm", .name = "pm #1 [nmdc]", .status = HR_STATUS_FAIL, .seconds = 5,
     .reason = "bob saw no matching pm event within 5.0s",
     .details = "step: pm.scn:7: bob expect pm text=\"<&>\"\nlog: \x01\x02 bad \xff\xfe utf8 ]]> \r\n\xef\xbf\xbe",
     .rerun = "dcharness run --keep --proto nmdc pm.scn"},
    {.classname = "scenarios.storm", .name = "storm [adc]", .status = HR_STATUS_SKIP,
     .reason = "needs signals, which hub profile uhub does not offer"},
};

Test(report, tap_lines_follow_the_protocol)
{
    char *t = render_tap(cases, 3);
    cr_assert_str_eq(t,
                     "ok 1 - chat [adc]\n"
                     "not ok 2 - pm _1 [nmdc]\n"
                     "#   step: pm.scn:7: bob expect pm text=\"<&>\"\n"
                     "#   log: \x01\x02 bad \xff\xfe utf8 ]]> \r\n"
                     "#   \xef\xbf\xbe\n"
                     "#   rerun: dcharness run --keep --proto nmdc pm.scn\n"
                     "ok 3 - storm [adc] # SKIP needs signals, which hub profile uhub does not offer\n");
    free(t);
}

Test(report, xml_escape_makes_any_bytes_safe)
{
    struct dc_buf b;
    dc_buf_init(&b, 0);
    hr_xml_escape(&b, "a<b>&\"'\x01\xff\xc3\xa9\r\t\n");
    cr_assert_str_eq(b.data, "a&lt;b&gt;&amp;&quot;&apos;\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9&#13;\t\n");
    dc_buf_cleanup(&b);
}

static xmlNode *child(xmlNode *n, const char *name, int index)
{
    for (xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name) && index-- == 0)
            return c;
    return NULL;
}

static void attr_eq(xmlNode *n, const char *name, const char *want)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    cr_assert_not_null(v, "no attribute %s on <%s>", name, n->name);
    cr_assert_str_eq((const char *)v, want);
    xmlFree(v);
}

Test(report, junit_xml_parses_back_with_the_ci_structure)
{
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    hr_junit_write(f, "dcharness", cases, 3);
    fclose(f);
    xmlDoc *doc = xmlReadMemory(buf, (int)len, "junit.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    cr_assert_not_null(doc, "not well-formed XML:\n%s", buf);
    xmlNode *root = xmlDocGetRootElement(doc);
    cr_assert_str_eq((const char *)root->name, "testsuites");
    attr_eq(root, "tests", "3");
    attr_eq(root, "failures", "1");
    xmlNode *suite = child(root, "testsuite", 0);
    cr_assert_not_null(suite);
    attr_eq(suite, "skipped", "1");
    xmlNode *tc = child(suite, "testcase", 1);
    attr_eq(tc, "classname", "scenarios.pm");
    attr_eq(tc, "name", "pm #1 [nmdc]");
    attr_eq(tc, "time", "5.000");
    xmlNode *failure = child(tc, "failure", 0);
    cr_assert_not_null(failure);
    attr_eq(failure, "message", "bob saw no matching pm event within 5.0s");
    xmlChar *text = xmlNodeGetContent(failure);
    cr_assert(strstr((const char *)text, "text=\"<&>\""), "escaped text comes back: %s", text);
    cr_assert(strstr((const char *)text, "]]>"));
    xmlFree(text);
    xmlNode *out = child(tc, "system-out", 0);
    text = xmlNodeGetContent(out);
    cr_assert(strstr((const char *)text, "rerun: dcharness run --keep"), "%s", text);
    xmlFree(text);
    cr_assert_null(child(child(suite, "testcase", 0), "failure", 0));
    cr_assert_not_null(child(child(suite, "testcase", 2), "skipped", 0));
    xmlFreeDoc(doc);
    free(buf);
}

Test(report, classnames_are_dotted_paths_without_extension)
{
    char *c = hr_classname("./scenarios/pm-both.scn");
    cr_assert_str_eq(c, "scenarios.pm-both");
    free(c);
    c = hr_classname("/abs/x.y.scn");
    cr_assert_str_eq(c, "abs.x_y");
    free(c);
}
