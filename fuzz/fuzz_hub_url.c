/* fuzz_hub_url.c: libFuzzer target for hub URLs (client/url.c): a URL comes
 * from a scenario, a control request or a hub's redirect.
 *
 * Property beyond "no crash": a refusal names a reason; an accepted URL has
 * a protocol, a host and, for TLS schemes and ADC, a port. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/dcc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct dcc_url u;
    char err[DCC_ERR_LEN] = "";
    if (dcc_url_parse(s, &u, err) < 0) {
        if (!err[0])
            abort();
    } else {
        if (u.proto == DCC_PROTO_NONE || !u.host[0] || (u.proto == DCC_PROTO_ADC && !u.port))
            abort();
        if (u.kp[0] && (!u.tls || strlen(u.kp) != DCC_KEYPRINT_LEN))
            abort();
    }
    free(s);
    return 0;
}
