/* fuzz_adc_parse.c: libFuzzer target for adc_msg_parse, the first code that
 * sees every byte an ADC peer sends (hub and client, before login).
 *
 * Property beyond "no crash": a message that parses must format, and the
 * formatted line must parse again to an equal struct (parse -> format ->
 * parse is the identity on the parsed form). Also checks that escaping any
 * parameter value and unescaping it gives the value back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/adc.h"

static void adc_fuzz_same(const struct adc_msg *a, const struct adc_msg *b)
{
    if (a->type != b->type || a->code != b->code || strcmp(a->cmd, b->cmd) ||
        strcmp(a->src_sid, b->src_sid) || strcmp(a->dst_sid, b->dst_sid) ||
        !a->cid != !b->cid || (a->cid && strcmp(a->cid, b->cid)) ||
        !a->features != !b->features || (a->features && strcmp(a->features, b->features)) ||
        a->npos != b->npos || a->nnamed != b->nnamed)
        abort();
    for (size_t i = 0; i < a->npos; i++)
        if (strcmp(a->pos[i], b->pos[i]))
            abort();
    for (size_t i = 0; i < a->nnamed; i++)
        if (strcmp(a->named[i].code, b->named[i].code) || strcmp(a->named[i].value, b->named[i].value))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct adc_msg m, again;
    const char *why = NULL;
    if (adc_msg_parse((const char *)data, size, &m, &why) < 0) {
        if (!why)
            abort();   /* every refusal must say why */
        return 0;
    }
    struct dc_buf out;
    dc_buf_init(&out, 0);
    if (adc_msg_format(&m, &out) < 0)
        abort();
    if (adc_msg_parse(out.data, out.len, &again, &why) < 0)
        abort();
    adc_fuzz_same(&m, &again);

    /* escape/unescape round trip over every parameter value */
    for (size_t i = 0; i < m.npos + m.nnamed; i++) {
        const char *v = i < m.npos ? m.pos[i] : m.named[i - m.npos].value;
        size_t vlen = strlen(v);
        dc_buf_reset(&out);
        if (adc_escape_append(&out, v, vlen) < 0)
            abort();
        long n = adc_unescape_inplace(out.data, out.len);
        if (n != (long)vlen || memcmp(out.data, v, vlen))
            abort();
    }
    adc_msg_cleanup(&again);
    adc_msg_cleanup(&m);
    dc_buf_cleanup(&out);
    return 0;
}
