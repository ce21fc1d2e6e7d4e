/* url.c: hub URL parsing (protocol notes §1.7): scheme -> protocol, TLS,
 * host, port, and the hub's expected keyprint from "?kp=SHA256/<base32>".
 * Pure; no I/O. Other query parameters are ignored; a malformed kp is an
 * error (a typo must not silently turn the check off).
 */
#include "client/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Scheme table: name, protocol, TLS, default port (0 = port required). */
static const struct dcc_scheme {
    const char *name;
    enum dcc_proto proto;
    bool tls;
    uint16_t default_port;
} dcc_schemes[] = {
    {"dchub", DCC_PROTO_NMDC, false, 411},
    {"nmdc", DCC_PROTO_NMDC, false, 411},
    {"adc", DCC_PROTO_ADC, false, 0},
    {"nmdcs", DCC_PROTO_NMDC, true, 0},
    {"adcs", DCC_PROTO_ADC, true, 0},
};

const char *dcc_proto_name(enum dcc_proto p)
{
    return p == DCC_PROTO_NMDC ? "nmdc" : p == DCC_PROTO_ADC ? "adc" : "none";
}

/* The query after '?': "kp=SHA256/<52 base32>" sets out->kp; other
 * parameters (separated by '&') are ignored. */
static int dcc_url_query(const char *url, const char *q, struct dcc_url *out, char *err)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        if (n > 3 && strncasecmp(q, "kp=", 3) == 0) {
            const char *v = q + 3;
            size_t vlen = n - 3;
            static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz";
            bool ok = vlen == DCC_KEYPRINT_LEN && strncmp(v, "SHA256/", 7) == 0;
            for (size_t i = 7; ok && i < vlen; i++)
                ok = v[i] && strchr(b32, v[i]) != NULL;
            if (!ok)
                return dcc_errc(err, "bad-url", "bad hub URL '%s': kp must be SHA256/ and 52 base32 characters", url);
            memcpy(out->kp, v, vlen);
            out->kp[vlen] = '\0';
        }
        q += n + (q[n] == '&');
    }
    return 0;
}

int dcc_url_parse(const char *url, struct dcc_url *out, char *err)
{
    memset(out, 0, sizeof *out);
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep)
        return dcc_errc(err, "bad-url", "bad hub URL '%s': expected scheme://host[:port]", url ? url : "(null)");
    const struct dcc_scheme *sch = NULL;
    for (size_t i = 0; i < sizeof dcc_schemes / sizeof dcc_schemes[0]; i++)
        if (strlen(dcc_schemes[i].name) == (size_t)(sep - url) &&
            strncasecmp(url, dcc_schemes[i].name, (size_t)(sep - url)) == 0)
            sch = &dcc_schemes[i];
    if (!sch)
        return dcc_errc(err, "bad-url", "bad hub URL '%s': unknown scheme (use dchub://, nmdc://, adc://, nmdcs:// or adcs://)",
                       url);

    const char *host = sep + 3, *end = host + strlen(host);
    const char *query = strchr(host, '?');
    if (query) {
        if (dcc_url_query(url, query + 1, out, err) < 0)
            return -1;
        if (*out->kp && !sch->tls)
            return dcc_errc(err, "bad-url", "bad hub URL '%s': ?kp= needs a TLS URL (adcs:// or nmdcs://)", url);
        end = query;
    }
    if (end > host && end[-1] == '/')
        end--;
    const char *hend, *rest;
    if (*host == '[') {                       /* [v6]:port */
        hend = memchr(host, ']', (size_t)(end - host));
        if (!hend)
            return dcc_errc(err, "bad-url", "bad hub URL '%s': unterminated '['", url);
        host++;
        rest = hend + 1;
    } else {
        hend = host;
        while (hend < end && *hend != ':' && *hend != '/')
            hend++;
        rest = hend;
    }
    size_t hlen = (size_t)(hend - host);
    if (hlen == 0)
        return dcc_errc(err, "bad-url", "bad hub URL '%s': no host", url);
    if (hlen >= sizeof out->host)
        return dcc_errc(err, "bad-url", "bad hub URL '%s': host name too long", url);
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)host[i] <= ' ' || strchr("/?#@", host[i]))
            return dcc_errc(err, "bad-url", "bad hub URL '%s': bad character in host", url);
    unsigned long port = sch->default_port;
    if (rest < end && *rest == ':') {
        char *pend;
        const char *p = rest + 1;
        if (p >= end || *p < '0' || *p > '9')
            return dcc_errc(err, "bad-url", "bad hub URL '%s': bad port", url);
        port = strtoul(p, &pend, 10);
        if (pend != end || port == 0 || port > 65535)
            return dcc_errc(err, "bad-url", "bad hub URL '%s': bad port", url);
    } else if (rest != end) {
        return dcc_errc(err, "bad-url", "bad hub URL '%s': unexpected text after the host", url);
    }
    if (port == 0)
        return dcc_errc(err, "bad-url", "bad hub URL '%s': %s:// needs a port", url, sch->name);
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = (uint16_t)port;
    out->proto = sch->proto;
    out->tls = sch->tls;
    return 0;
}
