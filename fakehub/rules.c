/* rules.c: pure hub decisions (see rules.h). */
#include "fakehub/rules.h"

#include <string.h>
#include <strings.h>

#include "proto/base32.h"
#include "proto/tiger.h"

bool fh_nick_equal(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

bool fh_nick_valid(const char *nick)
{
    size_t n = strlen(nick);
    if (n == 0 || n > FH_NICK_MAX || fh_nick_equal(nick, FH_HUB_NICK))
        return false;
    for (const unsigned char *p = (const unsigned char *)nick; *p; p++)
        if (*p <= 0x20 || *p == '$' || *p == '|' || *p == '<' || *p == '>')
            return false;
    return true;
}

enum fh_cid_check fh_adc_check_cid(const char *pid_b32, const char *cid_b32)
{
    uint8_t pid[DC_TIGER_LEN], cid[DC_TIGER_LEN], want[DC_TIGER_LEN];
    if (strlen(pid_b32) != DC_BASE32_LEN(DC_TIGER_LEN) ||
        dc_base32_decode(pid_b32, strlen(pid_b32), pid, sizeof pid) != DC_TIGER_LEN)
        return FH_CID_BAD_PID;
    if (strlen(cid_b32) != DC_BASE32_LEN(DC_TIGER_LEN) ||
        dc_base32_decode(cid_b32, strlen(cid_b32), cid, sizeof cid) != DC_TIGER_LEN)
        return FH_CID_BAD_CID;
    dc_tiger(pid, sizeof pid, want);
    return memcmp(cid, want, sizeof want) == 0 ? FH_CID_OK : FH_CID_MISMATCH;
}

int fh_adc_password_answer(const char *password, const uint8_t *salt, size_t saltlen,
                           char out[40])
{
    size_t pl = strlen(password);
    if (pl > 4096)
        return -1;
    struct dc_tiger_ctx t;
    uint8_t digest[DC_TIGER_LEN];
    dc_tiger_init(&t);
    dc_tiger_update(&t, password, pl);
    dc_tiger_update(&t, salt, saltlen);
    dc_tiger_final(&t, digest);
    return dc_base32_encode(digest, sizeof digest, out, 40) == 39 ? 0 : -1;
}

/* Is the 4-char feature at f listed in the comma-separated su? su ends at
 * NUL, ' ' or '\n' (it may point into a whole INF line). */
static bool fh_su_has(const char *su, const char *f)
{
    for (const char *p = su; p && *p && *p != ' ' && *p != '\n';) {
        size_t n = strcspn(p, ", \n");
        if (n == 4 && memcmp(p, f, 4) == 0)
            return true;
        p = p[n] == ',' ? p + n + 1 : NULL;
    }
    return false;
}

bool fh_adc_features_match(const char *features, const char *su)
{
    size_t n = strlen(features);
    if (n == 0 || n % 5)
        return false;
    for (size_t i = 0; i < n; i += 5) {
        char sign = features[i];
        if (sign != '+' && sign != '-')
            return false;
        if (fh_su_has(su, features + i + 1) != (sign == '+'))
            return false;
    }
    return true;
}

enum fh_route fh_adc_route(char type)
{
    switch (type) {
    case 'B': return FH_ROUTE_ALL;
    case 'F': return FH_ROUTE_FEATURE;
    case 'D': return FH_ROUTE_TARGET;
    case 'E': return FH_ROUTE_ECHO;
    case 'H': return FH_ROUTE_HUB;
    default: return FH_ROUTE_INVALID;
    }
}

long fh_nmdc_sr_target(const char *msg, size_t len)
{
    const char *x = memrchr(msg, '\x05', len);
    if (!x || x + 1 == msg + len)
        return -1;
    /* The searcher nick is the last field: no space, no '(' (which would
     * mean the \x05 we found is the one before "TTH:... (hub)"). */
    for (const char *p = x + 1; p < msg + len; p++)
        if (*p == ' ' || *p == '(' || *p == ')')
            return -1;
    return (long)(x - msg);
}
