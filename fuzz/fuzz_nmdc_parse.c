/* fuzz_nmdc_parse.c: libFuzzer target for the NMDC input path: dc_line_find
 * (proto/lines.h) splits the input on '|' as a connection would, and every frame goes through
 * nmdc_msg_parse. These see every byte an NMDC hub or peer sends, pre-login.
 *
 * Properties beyond "no crash": refusals carry a reason; text escaping is
 * undone exactly by unescaping; and for chat, PM, $ConnectToMe and
 * $ADCGET/$ADCSND a parsed message that the formatter accepts parses back to
 * the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/lines.h"
#include "proto/nmdc.h"

#define FUZZ_MAX_FRAME 4096

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Formats the parsed message again (where a formatter exists) and checks that
 * the result parses to the same fields. */
static void nmdc_fuzz_round_trip(const struct nmdc_msg *m, struct dc_buf *out)
{
    int rc;
    dc_buf_reset(out);
    switch (m->type) {
    case NMDC_CHAT:
        if (!m->nick)
            return;
        rc = nmdc_fmt_chat(out, m->nick, m->text);
        break;
    case NMDC_TO:
        rc = nmdc_fmt_to(out, m->to, m->from, m->text);
        break;
    case NMDC_CONNECTTOME:
        rc = nmdc_fmt_ctm(out, m->nick, m->host, m->port, m->tls);
        break;
    case NMDC_ADCGET:
    case NMDC_ADCSND:
        rc = nmdc_fmt_transfer(out, m->type == NMDC_ADCSND, &m->transfer);
        break;
    default:
        return;
    }
    if (rc < 0)
        return;   /* fields the formatter refuses (e.g. '$' in a host) */
    struct nmdc_msg b;
    const char *why;
    if (out->len == 0 || out->data[out->len - 1] != '|' ||
        nmdc_msg_parse(out->data, out->len - 1, &b, &why) < 0 || b.type != m->type)
        abort();
    int ok = same(m->nick, b.nick) && same(m->text, b.text) && same(m->to, b.to) &&
             same(m->from, b.from) && same(m->host, b.host) && m->port == b.port && m->tls == b.tls;
    if (m->type == NMDC_ADCGET || m->type == NMDC_ADCSND)
        ok = same(m->transfer.type, b.transfer.type) && same(m->transfer.ident, b.transfer.ident) &&
             m->transfer.start == b.transfer.start && m->transfer.bytes == b.transfer.bytes &&
             m->transfer.zl1 == b.transfer.zl1 && m->transfer.re1 == b.transfer.re1;
    if (m->type == NMDC_TO)   /* the formatter always writes $<from> */
        ok = same(m->to, b.to) && same(m->from, b.from) && same(m->text, b.text);
    if (!ok)
        abort();
    nmdc_msg_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct dc_buf out;
    dc_buf_init(&out, 0);

    /* escaping property over the raw input */
    if (nmdc_escape_append(&out, p, size) < 0)
        abort();
    if (nmdc_unescape_inplace(out.data, out.len) != size || memcmp(out.data, p, size))
        abort();

    size_t left = size, len;
    enum dc_line r;
    while (left && (r = dc_line_find(p, left, 0, '|', FUZZ_MAX_FRAME, &len)) != DC_LINE_MORE) {
        if (r == DC_LINE_TOO_LONG)
            break;   /* over-long frame: a connection would be refused here */
        if (len) {
            struct nmdc_msg m;
            const char *why = NULL;
            if (nmdc_msg_parse(p, len, &m, &why) == 0) {
                nmdc_fuzz_round_trip(&m, &out);
                nmdc_msg_cleanup(&m);
            } else if (!why) {
                abort();
            }
        }
        p += len + 1;
        left -= len + 1;
    }
    /* the unterminated tail is parsed too: a peer controls where '|' falls */
    if (left && left <= FUZZ_MAX_FRAME) {
        struct nmdc_msg m;
        const char *why = NULL;
        if (nmdc_msg_parse(p, left, &m, &why) == 0)
            nmdc_msg_cleanup(&m);
        else if (!why)
            abort();
    }
    dc_buf_cleanup(&out);
    return 0;
}
