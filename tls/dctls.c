/* dctls.c: certificates, keyprints, contexts and libevent wrapping for DC
 * over TLS (see dctls.h). Everything lives in the objects handed out; the
 * only statics are functions and constant strings.
 */
#include "tls/dctls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "proto/base32.h"

#define DCTLS_PREFIX "SHA256/"

/* Owns the certificate, the key and the path string. */
struct dctls_cert {
    X509 *x509;
    EVP_PKEY *key;
    char keyprint[DCTLS_KEYPRINT_SIZE];
    char *path;   /* cert PEM path, or NULL when generated in memory only */
};

/* err gets "what: <OpenSSL's first queued reason>", and the queue is cleared
 * so the next failure does not report this one. */
static void dctls_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dctls_fail(char *err, const char *fmt, ...)
{
    unsigned long e = ERR_get_error();
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err, DCTLS_ERR_LEN, fmt, ap);
        va_end(ap);
        if (e && n >= 0 && n < DCTLS_ERR_LEN) {
            char why[200];
            ERR_error_string_n(e, why, sizeof why);
            snprintf(err + n, (size_t)(DCTLS_ERR_LEN - n), ": %s", why);
        }
    }
    ERR_clear_error();
}

/* ---- keyprints ---------------------------------------------------------- */

void dctls_keyprint_der(const uint8_t *der, size_t len, char *out)
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(der, len, md);
    memcpy(out, DCTLS_PREFIX, sizeof DCTLS_PREFIX - 1);
    dc_base32_encode(md, sizeof md, out + sizeof DCTLS_PREFIX - 1,
                     DCTLS_KEYPRINT_SIZE - (sizeof DCTLS_PREFIX - 1));
}

static int dctls_x509_keyprint(X509 *x, char *out)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    if (n <= 0)
        return -1;
    dctls_keyprint_der(der, (size_t)n, out);
    OPENSSL_free(der);
    return 0;
}

int dctls_peer_keyprint(const SSL *ssl, char *out)
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    return peer ? dctls_x509_keyprint(peer, out) : -1;
}

bool dctls_keyprint_equal(const char *a, const char *b)
{
    size_t p = sizeof DCTLS_PREFIX - 1;
    return a && b && strncmp(a, DCTLS_PREFIX, p) == 0 && strncmp(b, DCTLS_PREFIX, p) == 0 &&
           strlen(a) == DCTLS_KEYPRINT_SIZE - 1 && strcasecmp(a + p, b + p) == 0;
}

/* ---- certificates ------------------------------------------------------- */

static struct dctls_cert *dctls_cert_wrap(X509 *x, EVP_PKEY *key, const char *path, char *err)
{
    struct dctls_cert *c = calloc(1, sizeof *c);
    if (!c || (path && !(c->path = strdup(path))) || dctls_x509_keyprint(x, c->keyprint) < 0) {
        dctls_fail(err, "out of memory");
        if (c)
            free(c->path);
        free(c);
        X509_free(x);
        EVP_PKEY_free(key);
        return NULL;
    }
    c->x509 = x;
    c->key = key;
    return c;
}

void dctls_cert_free(struct dctls_cert *cert)
{
    if (!cert)
        return;
    X509_free(cert->x509);
    EVP_PKEY_free(cert->key);
    free(cert->path);
    free(cert);
}

const char *dctls_cert_keyprint(const struct dctls_cert *cert) { return cert->keyprint; }
const char *dctls_cert_path(const struct dctls_cert *cert) { return cert->path; }

struct dctls_cert *dctls_cert_load(const char *cert_path, const char *key_path, char *err)
{
    X509 *x = NULL;
    EVP_PKEY *key = NULL;
    FILE *f = fopen(cert_path, "r");
    if (!f) {
        dctls_fail(err, "%s: %s", cert_path, strerror(errno));
        return NULL;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!x) {
        dctls_fail(err, "%s: no PEM certificate", cert_path);
        return NULL;
    }
    if (!(f = fopen(key_path, "r"))) {
        dctls_fail(err, "%s: %s", key_path, strerror(errno));
        X509_free(x);
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!key || X509_check_private_key(x, key) != 1) {
        dctls_fail(err, key ? "%s does not belong to %s" : "%s: no PEM private key%.0s", key_path,
                   cert_path);
        X509_free(x);
        EVP_PKEY_free(key);
        return NULL;
    }
    return dctls_cert_wrap(x, key, cert_path, err);
}

struct dctls_cert *dctls_cert_generate(const char *cn, char *err)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    bool ok = key && x && name && RAND_bytes(serial, sizeof serial) == 1;
    serial[0] &= 0x7f;   /* a positive serial */
    ok = ok && (bn = BN_bin2bn(serial, sizeof serial, NULL)) &&
         BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
         X509_set_version(x, X509_VERSION_3) &&
         X509_gmtime_adj(X509_getm_notBefore(x), -86400L) &&      /* clock skew between peers */
         X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) &&
         X509_set_issuer_name(x, name) && X509_set_pubkey(x, key) &&
         X509_sign(x, key, EVP_sha256()) > 0;
    BN_free(bn);
    if (!ok) {
        dctls_fail(err, "generating a certificate");
        X509_free(x);
        EVP_PKEY_free(key);
        return NULL;
    }
    return dctls_cert_wrap(x, key, NULL, err);
}

/* An unnamed file in path's directory (O_TMPFILE), so nothing is left
 * behind if the process dies while writing; -1 where the file system has
 * no O_TMPFILE (the caller then writes a named temp file). */
static int dctls_tmpfile(const char *path, mode_t mode)
{
    char dir[4096] = ".";
    const char *slash = strrchr(path, '/');
    if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if (slash && (size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else if (slash)
        return -1;
    return open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
}

/* Write one PEM file atomically: into an unnamed file (or, without
 * O_TMPFILE, a temp name), linked as path.<pid>.tmp only once complete and
 * renamed over path at once. A reader never sees half a file, and a process
 * killed while writing leaves nothing (with O_TMPFILE). */
static int dctls_write_pem(const char *path, const struct dctls_cert *c, bool key, char *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= sizeof tmp) {
        dctls_fail(err, "%s: path too long", path);
        return -1;
    }
    mode_t mode = key ? 0600 : 0644;
    int fd = dctls_tmpfile(path, mode);
    bool unnamed = fd >= 0;
    if (!unnamed)
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        dctls_fail(err, "%s: %s", unnamed ? path : tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int ok = key ? PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_X509(f, c->x509);
    errno = 0;
    if (ok == 1 && fflush(f) == 0 && fsync(fd) == 0 && unnamed) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        unlink(tmp);   /* a leftover of an earlier process with our pid */
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
            ok = 0;
    }
    int e = errno;
    if (fclose(f) != 0 || ok != 1 || rename(tmp, path) < 0) {
        dctls_fail(err, "writing %s: %s", path, e ? strerror(e) : errno ? strerror(errno) : "PEM error");
        unlink(tmp);
        return -1;
    }
    return 0;
}

struct dctls_cert *dctls_cert_load_or_create(const char *dir, const char *cn, bool *generated,
                                             char *err)
{
    char cp[4096], kp[4096];
    if ((size_t)snprintf(cp, sizeof cp, "%s/cert.pem", dir) >= sizeof cp ||
        (size_t)snprintf(kp, sizeof kp, "%s/key.pem", dir) >= sizeof kp) {
        dctls_fail(err, "%s: path too long", dir);
        return NULL;
    }
    if (generated)
        *generated = false;
    if (access(cp, F_OK) == 0 && access(kp, F_OK) == 0)
        return dctls_cert_load(cp, kp, err);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        dctls_fail(err, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    struct dctls_cert *c = dctls_cert_generate(cn, err);
    /* Key first: a cert.pem never exists without its key. */
    if (!c || dctls_write_pem(kp, c, true, err) < 0 || dctls_write_pem(cp, c, false, err) < 0) {
        dctls_cert_free(c);
        return NULL;
    }
    if (!(c->path = strdup(cp))) {
        dctls_fail(err, "out of memory");
        dctls_cert_free(c);
        return NULL;
    }
    if (generated)
        *generated = true;
    return c;
}

/* ---- contexts ----------------------------------------------------------- */

/* DC certificates are self-signed: accept any chain here; the caller checks
 * the keyprint. Without this, SSL_VERIFY_PEER would refuse them. */
static int dctls_accept_any(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok, (void)store;
    return 1;
}

static SSL_CTX *dctls_ctx_new(const SSL_METHOD *method, const struct dctls_cert *cert, int verify,
                              char *err)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        (cert && (SSL_CTX_use_certificate(ctx, cert->x509) != 1 ||
                  SSL_CTX_use_PrivateKey(ctx, cert->key) != 1))) {
        dctls_fail(err, "TLS context");
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Peers often just close the TCP connection; that is an EOF, not an
     * attack worth an error (OpenSSL 3 reports it as one by default). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    /* Bulk transfers: AES-128-GCM costs about 15 % less CPU per byte than
     * OpenSSL's default first choice, AES-256-GCM, and both are far ahead of
     * ChaCha20 with AES-NI. */
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                      "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DEFAULT") != 1) {
        dctls_fail(err, "TLS cipher preferences");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, verify, verify == SSL_VERIFY_NONE ? NULL : dctls_accept_any);
    return ctx;
}

SSL_CTX *dctls_server_ctx_new(const struct dctls_cert *cert, char *err)
{
    if (!cert) {
        dctls_fail(err, "a TLS server needs a certificate");
        return NULL;
    }
    return dctls_ctx_new(TLS_server_method(), cert, SSL_VERIFY_PEER, err);
}

SSL_CTX *dctls_client_ctx_new(const struct dctls_cert *cert, char *err)
{
    /* A client always receives the server's certificate; with VERIFY_NONE
     * OpenSSL keeps it without judging it. */
    return dctls_ctx_new(TLS_client_method(), cert, SSL_VERIFY_NONE, err);
}

/* ---- bufferevents --------------------------------------------------------- */

static struct bufferevent *dctls_bev_new(struct event_base *base, evutil_socket_t fd,
                                         struct bufferevent *under, SSL_CTX *ctx,
                                         enum dctls_role role, int opts, char *err)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        dctls_fail(err, "SSL_new");
        return NULL;
    }
    enum bufferevent_ssl_state st =
        role == DCTLS_ACCEPT ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING;
    struct bufferevent *bev = under ? bufferevent_openssl_filter_new(base, under, ssl, st, opts)
                                    : bufferevent_openssl_socket_new(base, fd, ssl, st, opts);
    if (!bev) {
        SSL_free(ssl);   /* libevent frees it only once the bufferevent exists */
        dctls_fail(err, "out of memory");
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

struct bufferevent *dctls_bev_wrap_fd(struct event_base *base, evutil_socket_t fd, SSL_CTX *ctx,
                                      enum dctls_role role, int opts, char *err)
{
    return dctls_bev_new(base, fd, NULL, ctx, role, opts, err);
}

struct bufferevent *dctls_bev_wrap_filter(struct event_base *base, struct bufferevent *under,
                                          SSL_CTX *ctx, enum dctls_role role, int opts, char *err)
{
    return dctls_bev_new(base, -1, under, ctx, role, opts, err);
}

SSL *dctls_bev_ssl(struct bufferevent *bev)
{
    return bufferevent_openssl_get_ssl(bev);
}

int dctls_bev_check_keyprint(struct bufferevent *bev, const char *expected, char *err)
{
    SSL *ssl = dctls_bev_ssl(bev);
    char got[DCTLS_KEYPRINT_SIZE];
    if (!ssl || dctls_peer_keyprint(ssl, got) < 0) {
        dctls_fail(err, "the peer presented no certificate (expected %s)", expected);
        return -1;
    }
    if (!dctls_keyprint_equal(expected, got)) {
        dctls_fail(err, "keyprint mismatch: expected %s, the peer has %s", expected, got);
        return -1;
    }
    return 0;
}

const char *dctls_bev_error(struct bufferevent *bev, char *buf, size_t len)
{
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed during the handshake");
    return buf;
}
