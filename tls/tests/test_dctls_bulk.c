/* test_dctls_bulk.c: Criterion tests for dctls_rx (tls/dctls_bulk.c), the
 * read BIO of TLS downloads, over real TLS connections on a socketpair:
 * the bytes come through intact over TLS 1.3 and 1.2, with full and with
 * small records, read into buffers smaller and larger than a record; in
 * bulk mode it never takes what follows the data phase from the socket
 * (the next message stays there, and reads normally afterwards); a peer's
 * EOF is a close, a truncated record and garbage are errors, never a wait.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/util.h>
#include <openssl/err.h>

#include "tls/dctls.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks (see stderr)")
#else
#define LEAK_CHECK() ((void)0)
#endif

#define RX_CAP (256 * 1024)

/* A handshaken pair over a socketpair: srv writes, cli reads. Owned by
 * the test; pair_free frees all. */
struct pair {
    struct dctls_cert *cert;
    SSL_CTX *sctx, *cctx;
    SSL *srv, *cli;
    int sfd, cfd;
};

static void pair_open(struct pair *p, int max_version)
{
    char err[DCTLS_ERR_LEN] = "";
    p->cert = dctls_cert_generate("bulk", err);
    cr_assert_not_null(p->cert, "%s", err);
    p->sctx = dctls_server_ctx_new(p->cert, err);
    p->cctx = dctls_client_ctx_new(NULL, err);
    cr_assert(p->sctx && p->cctx, "%s", err);
    if (max_version)
        cr_assert_eq(SSL_CTX_set_max_proto_version(p->cctx, max_version), 1);
    int sv[2], big = 1 << 20;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    p->sfd = sv[0];
    p->cfd = sv[1];
    setsockopt(p->sfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    evutil_make_socket_nonblocking(p->sfd);
    evutil_make_socket_nonblocking(p->cfd);
    p->srv = SSL_new(p->sctx);
    p->cli = SSL_new(p->cctx);
    cr_assert(p->srv && p->cli);
    SSL_set_fd(p->srv, p->sfd);
    SSL_set_fd(p->cli, p->cfd);
    SSL_set_accept_state(p->srv);
    SSL_set_connect_state(p->cli);
    int a = 0, b = 0;
    for (int i = 0; i < 100 && (a != 1 || b != 1); i++) {
        if (a != 1)
            a = SSL_do_handshake(p->srv);
        if (b != 1)
            b = SSL_do_handshake(p->cli);
        cr_assert(a == 1 || SSL_get_error(p->srv, a) == SSL_ERROR_WANT_READ, "server handshake");
        cr_assert(b == 1 || SSL_get_error(p->cli, b) == SSL_ERROR_WANT_READ, "client handshake");
    }
    cr_assert(a == 1 && b == 1, "handshake did not finish");
}

static void pair_free(struct pair *p)
{
    SSL_free(p->srv);
    SSL_free(p->cli);   /* closes nothing: SSL_set_fd's BIO does not own the fd */
    close(p->sfd);
    close(p->cfd);
    SSL_CTX_free(p->sctx);
    SSL_CTX_free(p->cctx);
    dctls_cert_free(p->cert);
}

/* All of data through SSL_write; the socket buffer must hold it. */
static void srv_write(struct pair *p, const void *data, size_t len)
{
    size_t w = 0;
    cr_assert_eq(SSL_write_ex(p->srv, data, len, &w), 1, "server write");
    cr_assert_eq(w, len);
}

/* SSL_read once, through ERR and errno as the client core does: the
 * return value, and SSL_get_error's verdict in *e. */
static int cli_read(struct pair *p, void *buf, int len, int *e)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(p->cli, buf, len);
    *e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(p->cli, r);
    return r;
}

static void check_data_then_next(int max_version, int fragment)
{
    struct pair p;
    pair_open(&p, max_version);
    if (fragment)
        cr_assert_eq(SSL_set_max_send_fragment(p.srv, (long)fragment), 1);
    size_t n = 100000;
    unsigned char *data = malloc(n), *got = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    srv_write(&p, data, n);
    srv_write(&p, "NEXT\n", 5);   /* the next message, in the socket right behind the data */

    char err[DCTLS_ERR_LEN] = "";
    struct dctls_rx *rx = dctls_rx_begin(p.cli, RX_CAP, err);
    cr_assert_not_null(rx, "%s", err);
    size_t have = 0;
    for (int i = 0; have < n && i < 10000; i++) {
        cr_assert_eq(dctls_rx_bulk(rx, n - have), 0);
        int cap = i % 2 ? 7000 : 40000;   /* less than a record, and more */
        if ((size_t)cap > n - have)
            cap = (int)(n - have);
        int e, r = cli_read(&p, got + have, cap, &e);
        cr_assert_gt(r, 0, "read failed: SSL error %d", e);
        have += (size_t)r;
    }
    cr_assert_eq(have, n);
    cr_assert_eq(memcmp(got, data, n), 0, "the bytes came through changed");
    cr_assert_eq(dctls_rx_pending(rx), 0, "read past the data phase");
    cr_assert_not(SSL_has_pending(p.cli));
    char peek[8];
    cr_assert_gt(recv(p.cfd, peek, sizeof peek, MSG_PEEK), 0, "the next message is still in the socket");

    cr_assert_eq(dctls_rx_bulk(rx, 0), 0);
    char next[16] = "";
    int e, r = cli_read(&p, next, sizeof next, &e);
    cr_assert_eq(r, 5, "SSL error %d", e);
    cr_assert_eq(memcmp(next, "NEXT\n", 5), 0);
    dctls_rx_end(rx, p.cli);
    free(data);
    free(got);
    pair_free(&p);
    LEAK_CHECK();
}

Test(dctls_rx, tls13_full_records_intact_and_nothing_past_the_data) { check_data_then_next(0, 0); }
Test(dctls_rx, tls13_small_records_intact_and_nothing_past_the_data) { check_data_then_next(0, 512); }
Test(dctls_rx, tls12_full_records_intact_and_nothing_past_the_data) { check_data_then_next(TLS1_2_VERSION, 0); }
Test(dctls_rx, tls12_small_records_intact_and_nothing_past_the_data) { check_data_then_next(TLS1_2_VERSION, 512); }

/* What the client sees after the server's end does `bad` to the stream
 * that follows one good record: never WANT_READ once the socket is closed. */
static int after_bad_stream(void (*bad)(struct pair *), bool *got_good)
{
    struct pair p;
    pair_open(&p, 0);
    srv_write(&p, "good", 4);
    bad(&p);
    shutdown(p.sfd, SHUT_WR);
    char err[DCTLS_ERR_LEN] = "";
    struct dctls_rx *rx = dctls_rx_begin(p.cli, RX_CAP, err);
    cr_assert_not_null(rx, "%s", err);
    cr_assert_eq(dctls_rx_bulk(rx, 1 << 20), 0);
    char buf[32768];
    int e = SSL_ERROR_NONE, r = 0;
    *got_good = false;
    for (int i = 0; i < 10; i++) {
        r = cli_read(&p, buf, sizeof buf, &e);
        if (r == 4 && memcmp(buf, "good", 4) == 0)
            *got_good = true;
        if (r <= 0)
            break;
    }
    cr_assert_leq(r, 0, "still reading data");
    cr_assert_neq(e, SSL_ERROR_WANT_READ, "waits for a peer that has closed");
    dctls_rx_end(rx, p.cli);
    pair_free(&p);
    return e;
}

static void bad_nothing(struct pair *p) { (void)p; }

/* An application-data record header announcing 16000 bytes, then 100. */
static void bad_truncated(struct pair *p)
{
    unsigned char rec[105] = {23, 3, 3, 16000 >> 8, 16000 & 0xff};
    memset(rec + 5, 0x5a, 100);
    cr_assert_eq(write(p->sfd, rec, sizeof rec), (ssize_t)sizeof rec);
}

static void bad_garbage(struct pair *p)
{
    char junk[300];
    memset(junk, 'A', sizeof junk);
    cr_assert_eq(write(p->sfd, junk, sizeof junk), (ssize_t)sizeof junk);
}

Test(dctls_rx, peer_close_at_a_record_boundary_is_a_close)
{
    bool good;
    int e = after_bad_stream(bad_nothing, &good);
    cr_assert(good);
    cr_assert_eq(e, SSL_ERROR_ZERO_RETURN, "SSL error %d", e);
    LEAK_CHECK();
}

Test(dctls_rx, truncated_record_ends_the_read)
{
    bool good;
    int e = after_bad_stream(bad_truncated, &good);
    cr_assert(good);
    cr_assert(e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL, "SSL error %d", e);
    LEAK_CHECK();
}

Test(dctls_rx, garbage_is_a_tls_error)
{
    bool good;
    int e = after_bad_stream(bad_garbage, &good);
    cr_assert(good);
    cr_assert_eq(e, SSL_ERROR_SSL, "SSL error %d", e);
    LEAK_CHECK();
}
