/* test_dctls.c: Criterion tests for tls/dctls: a generated certificate is
 * written, loads back and is reused; our keyprint equals what the openssl
 * and coreutils command-line tools compute from the PEM; the keyprint's
 * format; a real handshake over a socketpair in both directions with the
 * keyprints each side sees; a wrong keyprint and plain text on a TLS socket
 * are reported, not hung on. Under ASan each test ends with a leak check,
 * since Criterion ignores how its worker exits.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proto/base32.h"
#include "tls/dctls.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see stderr)")
#else
#define LEAK_CHECK() ((void)0)
#endif

/* A fresh directory under TMPDIR; the test removes it. */
static void tmpdir(char *out, size_t len)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, len, "%s/dctls-XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(out));
}

static void rmtree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* First line of a shell command's output, newline stripped. */
static void sh(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    out[0] = '\0';
    if (!fgets(out, (int)len, p))
        out[0] = '\0';
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    out[strcspn(out, "\n")] = '\0';
}

Test(dctls_cert, generated_is_written_loads_back_and_is_reused)
{
    char dir[4096], sub[4200], path[4300], err[DCTLS_ERR_LEN] = "";
    tmpdir(dir, sizeof dir);
    snprintf(sub, sizeof sub, "%s/data", dir);   /* created on demand */
    bool gen = false;
    struct dctls_cert *a = dctls_cert_load_or_create(sub, "fakehub", &gen, err);
    cr_assert_not_null(a, "%s", err);
    cr_assert(gen);
    snprintf(path, sizeof path, "%s/cert.pem", sub);
    cr_assert_str_eq(dctls_cert_path(a), path);
    struct stat st;
    snprintf(path, sizeof path, "%s/key.pem", sub);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "key.pem mode %o", st.st_mode & 0777);

    struct dctls_cert *b = dctls_cert_load_or_create(sub, "other", &gen, err);
    cr_assert_not_null(b, "%s", err);
    cr_assert_not(gen, "a second start must reuse the files");
    cr_assert_str_eq(dctls_cert_keyprint(a), dctls_cert_keyprint(b));

    char cp[4300];
    snprintf(cp, sizeof cp, "%s/cert.pem", sub);
    struct dctls_cert *c = dctls_cert_load(cp, path, err);
    cr_assert_not_null(c, "%s", err);
    cr_assert_str_eq(dctls_cert_keyprint(a), dctls_cert_keyprint(c));

    struct dctls_cert *fresh = dctls_cert_generate("x", err);
    cr_assert_not_null(fresh, "%s", err);
    cr_assert_null(dctls_cert_path(fresh));
    cr_assert_str_neq(dctls_cert_keyprint(a), dctls_cert_keyprint(fresh));
    dctls_cert_free(a);
    dctls_cert_free(b);
    dctls_cert_free(c);
    dctls_cert_free(fresh);
    rmtree(dir);
    LEAK_CHECK();
}

Test(dctls_cert, key_of_another_certificate_is_refused)
{
    char d1[4096], d2[4096], cp[4200], kp[4200], err[DCTLS_ERR_LEN] = "";
    tmpdir(d1, sizeof d1);
    tmpdir(d2, sizeof d2);
    struct dctls_cert *a = dctls_cert_load_or_create(d1, "a", NULL, err);
    struct dctls_cert *b = dctls_cert_load_or_create(d2, "b", NULL, err);
    cr_assert(a && b, "%s", err);
    snprintf(cp, sizeof cp, "%s/cert.pem", d1);
    snprintf(kp, sizeof kp, "%s/key.pem", d2);
    cr_assert_null(dctls_cert_load(cp, kp, err));
    cr_assert(strstr(err, "does not belong"), "%s", err);
    cr_assert_null(dctls_cert_load(cp, "/nonexistent/key.pem", err));
    cr_assert(strstr(err, "/nonexistent/key.pem"), "%s", err);
    cr_assert_null(dctls_cert_load(kp, kp, err));   /* a key file is no certificate */
    cr_assert(strstr(err, "no PEM certificate"), "%s", err);
    dctls_cert_free(a);
    dctls_cert_free(b);
    rmtree(d1);
    rmtree(d2);
    LEAK_CHECK();
}

Test(dctls_keyprint, equals_openssl_cli_over_the_der_certificate)
{
    char dir[4096], cmd[8800], want[128], err[DCTLS_ERR_LEN] = "";
    tmpdir(dir, sizeof dir);
    struct dctls_cert *c = dctls_cert_load_or_create(dir, "kp", NULL, err);
    cr_assert_not_null(c, "%s", err);
    /* Independent of our code: OpenSSL's CLI for DER + SHA-256, coreutils for base32. */
    snprintf(cmd, sizeof cmd,
             "openssl x509 -in '%s/cert.pem' -outform DER | openssl dgst -sha256 -binary "
             "| base32 -w0 | tr -d =",
             dir);
    sh(cmd, want, sizeof want);
    cr_assert_eq(strlen(want), 52, "'%s'", want);
    char full[160];
    snprintf(full, sizeof full, "SHA256/%s", want);
    cr_assert_str_eq(dctls_cert_keyprint(c), full);
    dctls_cert_free(c);
    rmtree(dir);
    LEAK_CHECK();
}

Test(dctls_keyprint, text_format_and_comparison)
{
    char err[DCTLS_ERR_LEN] = "";
    struct dctls_cert *c = dctls_cert_generate("fmt", err);
    cr_assert_not_null(c, "%s", err);
    const char *kp = dctls_cert_keyprint(c);
    cr_assert_eq(strlen(kp), 7 + 52);
    cr_assert_eq(strlen(kp) + 1, DCTLS_KEYPRINT_SIZE);
    cr_assert_eq(strncmp(kp, "SHA256/", 7), 0, "%s", kp);
    cr_assert_eq(strspn(kp + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 52, "%s", kp);
    uint8_t md[40];
    cr_assert_eq(dc_base32_decode(kp + 7, 52, md, sizeof md), 32);

    char lower[DCTLS_KEYPRINT_SIZE], other[DCTLS_KEYPRINT_SIZE];
    strcpy(lower, kp);
    for (char *p = lower + 7; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    cr_assert(dctls_keyprint_equal(kp, kp));
    cr_assert(dctls_keyprint_equal(kp, lower), "base32 is case-insensitive");
    strcpy(other, kp);
    other[20] = other[20] == 'A' ? 'B' : 'A';
    cr_assert_not(dctls_keyprint_equal(kp, other));
    cr_assert_not(dctls_keyprint_equal(kp, kp + 7), "the SHA256/ prefix is required");
    cr_assert_not(dctls_keyprint_equal(kp, "SHA256/"));
    cr_assert_not(dctls_keyprint_equal(kp, NULL));
    /* SHA-256("abc") from FIPS 180-2, in base32. */
    char direct[DCTLS_KEYPRINT_SIZE];
    dctls_keyprint_der((const uint8_t *)"abc", 3, direct);
    cr_assert_str_eq(direct, "SHA256/XJ4BNP4PAHH6UQKBIDPF3LRCEOYAGYNDSYLXVHFUCD7WD4QACWWQ");
    dctls_cert_free(c);
    LEAK_CHECK();
}

/* ---- handshakes over a socketpair ------------------------------------------ */

/* One side of a test connection. Owned by the test's stack; bev owned. */
struct side {
    struct bufferevent *bev;
    bool connected, failed, eof;
    char got[256];
    char why[256];
};

static void side_read_cb(struct bufferevent *bev, void *arg)
{
    struct side *s = arg;
    size_t n = strlen(s->got);
    n += bufferevent_read(bev, s->got + n, sizeof s->got - 1 - n);
    s->got[n] = '\0';
}

static void side_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct side *s = arg;
    if (what & BEV_EVENT_CONNECTED)
        s->connected = true;
    if (what & BEV_EVENT_ERROR) {
        s->failed = true;
        dctls_bev_error(bev, s->why, sizeof s->why);
    }
    if (what & BEV_EVENT_EOF)
        s->eof = true;
}

/* Runs base until done(a, b) or 5 s. */
static bool run_until(struct event_base *base, bool (*done)(struct side *, struct side *),
                      struct side *a, struct side *b)
{
    for (int i = 0; i < 500 && !done(a, b); i++) {
        struct timeval tv = {0, 10000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return done(a, b);
}

static bool both_connected(struct side *a, struct side *b) { return a->connected && b->connected; }
static bool both_got(struct side *a, struct side *b) { return strchr(a->got, '\n') && strchr(b->got, '\n'); }
static bool both_got_cli(struct side *a, struct side *b)
{
    (void)a;
    return strchr(b->got, '\n') != NULL;
}
static bool one_ended(struct side *a, struct side *b)
{
    (void)b;
    return a->failed || a->eof;
}

static void start_side(struct side *s, struct event_base *base, int fd, SSL_CTX *ctx,
                       enum dctls_role role)
{
    char err[DCTLS_ERR_LEN] = "";
    s->bev = dctls_bev_wrap_fd(base, fd, ctx, role, BEV_OPT_CLOSE_ON_FREE, err);
    cr_assert_not_null(s->bev, "%s", err);
    bufferevent_setcb(s->bev, side_read_cb, NULL, side_event_cb, s);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

Test(dctls_bev, handshake_both_keyprints_and_data_over_a_socketpair)
{
    char err[DCTLS_ERR_LEN] = "";
    struct dctls_cert *hub = dctls_cert_generate("hub", err), *me = dctls_cert_generate("me", err);
    cr_assert(hub && me, "%s", err);
    SSL_CTX *sctx = dctls_server_ctx_new(hub, err), *cctx = dctls_client_ctx_new(me, err);
    cr_assert(sctx && cctx, "%s", err);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    struct event_base *base = event_base_new();
    struct side srv = {0}, cli = {0};
    start_side(&srv, base, sv[0], sctx, DCTLS_ACCEPT);
    start_side(&cli, base, sv[1], cctx, DCTLS_CONNECT);
    /* Written before the handshake: queued until it is done. */
    bufferevent_write(srv.bev, "$Lock EXTENDEDPROTOCOL|\n", 24);
    cr_assert(run_until(base, both_connected, &srv, &cli), "srv %s / cli %s", srv.why, cli.why);
    bufferevent_write(cli.bev, "HSUP ADBASE ADTIGR\n", 19);
    cr_assert(run_until(base, both_got, &srv, &cli));
    cr_assert_str_eq(srv.got, "HSUP ADBASE ADTIGR\n");
    cr_assert_str_eq(cli.got, "$Lock EXTENDEDPROTOCOL|\n");

    cr_assert_geq(SSL_version(dctls_bev_ssl(cli.bev)), TLS1_2_VERSION);
    cr_assert_eq(dctls_bev_check_keyprint(cli.bev, dctls_cert_keyprint(hub), err), 0, "%s", err);
    char seen[DCTLS_KEYPRINT_SIZE];
    cr_assert_eq(dctls_peer_keyprint(dctls_bev_ssl(srv.bev), seen), 0);
    cr_assert_str_eq(seen, dctls_cert_keyprint(me), "the server sees the client's certificate");
    /* Mismatch: the client expected someone else's keyprint. */
    cr_assert_eq(dctls_bev_check_keyprint(cli.bev, dctls_cert_keyprint(me), err), -1);
    cr_assert(strstr(err, "mismatch") && strstr(err, dctls_cert_keyprint(hub)), "%s", err);

    bufferevent_free(cli.bev);   /* closes its end: the server sees an EOF, not an error */
    cr_assert(run_until(base, one_ended, &srv, &cli));
    cr_assert(srv.eof && !srv.failed, "%s", srv.why);
    bufferevent_free(srv.bev);
    event_base_free(base);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    dctls_cert_free(hub);
    dctls_cert_free(me);
    LEAK_CHECK();
}

Test(dctls_bev, client_without_certificate_has_no_keyprint)
{
    char err[DCTLS_ERR_LEN] = "";
    struct dctls_cert *hub = dctls_cert_generate("hub", err);
    cr_assert_not_null(hub, "%s", err);
    cr_assert_null(dctls_server_ctx_new(NULL, err), "a server needs a certificate");
    SSL_CTX *sctx = dctls_server_ctx_new(hub, err), *cctx = dctls_client_ctx_new(NULL, err);
    cr_assert(sctx && cctx, "%s", err);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    struct event_base *base = event_base_new();
    struct side srv = {0}, cli = {0};
    start_side(&srv, base, sv[0], sctx, DCTLS_ACCEPT);
    /* The client side as a filter over a plain bufferevent (TLS after a prelude). */
    struct bufferevent *under = bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE);
    cli.bev = dctls_bev_wrap_filter(base, under, cctx, DCTLS_CONNECT, BEV_OPT_CLOSE_ON_FREE, err);
    cr_assert_not_null(cli.bev, "%s", err);
    bufferevent_setcb(cli.bev, side_read_cb, NULL, side_event_cb, &cli);
    bufferevent_enable(cli.bev, EV_READ | EV_WRITE);
    cr_assert_null(dctls_bev_ssl(under), "a plain bufferevent has no SSL");
    cr_assert(run_until(base, both_connected, &srv, &cli), "srv %s / cli %s", srv.why, cli.why);
    bufferevent_write(srv.bev, "ISUP ADBASE\n", 12);
    cr_assert(run_until(base, both_got_cli, &srv, &cli));
    cr_assert_str_eq(cli.got, "ISUP ADBASE\n");
    char seen[DCTLS_KEYPRINT_SIZE];
    cr_assert_eq(dctls_peer_keyprint(dctls_bev_ssl(srv.bev), seen), -1);
    cr_assert_eq(dctls_bev_check_keyprint(cli.bev, dctls_cert_keyprint(hub), err), 0, "%s", err);
    cr_assert_eq(dctls_bev_check_keyprint(srv.bev, dctls_cert_keyprint(hub), err), -1);
    cr_assert(strstr(err, "no certificate"), "%s", err);
    bufferevent_free(cli.bev);
    bufferevent_free(srv.bev);
    event_base_free(base);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    dctls_cert_free(hub);
    LEAK_CHECK();
}

Test(dctls_bev, plain_text_to_a_tls_server_fails_at_once)
{
    char err[DCTLS_ERR_LEN] = "";
    struct dctls_cert *hub = dctls_cert_generate("hub", err);
    SSL_CTX *sctx = hub ? dctls_server_ctx_new(hub, err) : NULL;
    cr_assert_not_null(sctx, "%s", err);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    struct event_base *base = event_base_new();
    struct side srv = {0};
    start_side(&srv, base, sv[0], sctx, DCTLS_ACCEPT);
    cr_assert_eq(write(sv[1], "HSUP ADBASE ADTIGR\n", 19), 19);   /* a plain ADC client */
    cr_assert(run_until(base, one_ended, &srv, NULL));
    cr_assert(srv.failed && !srv.connected, "a handshake error, not EOF");
    cr_assert_neq(srv.why[0], '\0');
    bufferevent_free(srv.bev);
    close(sv[1]);
    event_base_free(base);
    SSL_CTX_free(sctx);
    dctls_cert_free(hub);
    LEAK_CHECK();
}

Test(dctls_bev, tls_client_against_a_plain_speaker_fails_at_once)
{
    char err[DCTLS_ERR_LEN] = "";
    SSL_CTX *cctx = dctls_client_ctx_new(NULL, err);
    cr_assert_not_null(cctx, "%s", err);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[1]);
    struct event_base *base = event_base_new();
    struct side cli = {0};
    start_side(&cli, base, sv[1], cctx, DCTLS_CONNECT);
    const char lock[] = "$Lock EXTENDEDPROTOCOL_x Pk=plainhub|";   /* a plain NMDC hub */
    cr_assert_eq(write(sv[0], lock, sizeof lock - 1), (ssize_t)(sizeof lock - 1));
    cr_assert(run_until(base, one_ended, &cli, NULL));
    cr_assert(cli.failed && !cli.connected);
    bufferevent_free(cli.bev);
    close(sv[0]);
    event_base_free(base);
    SSL_CTX_free(cctx);
    LEAK_CHECK();
}
