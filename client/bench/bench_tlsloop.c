/* bench_tlsloop.c: what TLS costs a transfer, without the rest of a
 * download (hashing, the .part file): CPU seconds per GiB of a sender that
 * reads FILE and encrypts it into a TCP socket on 127.0.0.1, and of a
 * receiver (a child process) that decrypts it into a 1 MiB buffer, each
 * from getrusage, next to the cipher's own cost (AES-128-GCM over 16 KiB
 * records in memory, this process, no copies). Two ways, in turns, so
 * both see the same machine:
 *   openssl  OpenSSL's socket BIO both ways: one write() per record, reads
 *            with read-ahead into a 40 KiB buffer (the client before
 *            dctls_bulk/dctls_rx);
 *   dctls    as the client does now: records collected by dctls_bulk and
 *            written in large writes, read through dctls_rx.
 * Both negotiate what dctls contexts prefer (TLS 1.3, AES-128-GCM here).
 * Prints one JSON line per run. A benchmark tool, not a test:
 * bench_transfer.py runs it next to its TLS rows.
 *
 * usage: bench_tlsloop FILE [MiB=256] [ROUNDS=2]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tls/dctls.h"

#define CHUNK (256 * 1024)       /* file bytes per SSL_write, as upload.c */
#define TX_CAP (4 * 1024 * 1024) /* dctls_bulk's buffer, as upload.c */
#define RX_CAP (1024 * 1024)     /* dctls_rx's buffer, as cc.c */
#define SLOT (1024 * 1024)       /* the receiver's destination, a download slot */
#define GIB (1024.0 * 1024.0 * 1024.0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_tlsloop: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

/* AES-128-GCM over records of 16 KiB in place, as a TLS stack at its best
 * would: CPU seconds per GiB. */
static double cipher_cost(void)
{
    unsigned char *rec = calloc(1, 16384), key[16] = {1}, iv[12] = {2}, tag[16];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len;
    size_t total = (size_t)256 << 20;
    double c0 = cpu_self();
    for (size_t done = 0; rec && done < total; done += 16384) {
        iv[11]++;
        if (EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, iv) != 1 ||
            EVP_EncryptUpdate(ctx, rec, &len, rec, 16384) != 1 ||
            EVP_EncryptFinal_ex(ctx, rec, &len) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
            die("EVP AES-128-GCM");
    }
    double s = cpu_self() - c0;
    if (!rec)
        die("out of memory");
    free(rec);
    EVP_CIPHER_CTX_free(ctx);
    return s / ((double)total / GIB);
}

/* rbuf: OpenSSL's read buffer, 0 for its default. */
static SSL *handshake(SSL_CTX *ctx, int fd, bool server, size_t rbuf)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl && rbuf)
        SSL_set_default_read_buffer_len(ssl, rbuf);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || (server ? SSL_accept(ssl) : SSL_connect(ssl)) != 1)
        die("TLS handshake");
    return ssl;
}

/* The receiver: decrypt `bytes` into a slot, then report its CPU seconds
 * on out. */
static void receive(int fd, SSL_CTX *ctx, uint64_t bytes, bool dctls, int out)
{
    SSL *ssl = handshake(ctx, fd, false, dctls ? 0 : 40 * 1024);
    char err[DCTLS_ERR_LEN] = "";
    struct dctls_rx *rx = NULL;
    if (dctls && !(rx = dctls_rx_begin(ssl, RX_CAP, err)))
        die(err);
    if (!dctls)
        SSL_set_read_ahead(ssl, 1);
    unsigned char *slot = malloc(SLOT);
    size_t off = 0;
    double c0 = cpu_self();
    for (uint64_t left = bytes; left;) {
        if (rx)
            dctls_rx_bulk(rx, left);
        size_t cap = SLOT - off < left ? SLOT - off : (size_t)left;
        int r = SSL_read(ssl, slot + off, (int)cap);
        if (r <= 0)
            die("SSL_read");
        left -= (uint64_t)r;
        off = (off + (size_t)r) % SLOT;
    }
    double s = cpu_self() - c0;
    if (write(out, &s, sizeof s) != sizeof s)
        die("report");
    dctls_rx_end(rx, ssl);
    SSL_free(ssl);
    free(slot);
}

/* The sender: read file and encrypt it into fd. Its CPU seconds. */
static double send_file(int fd, SSL_CTX *ctx, int file, uint64_t bytes, bool dctls)
{
    SSL *ssl = handshake(ctx, fd, true, 0);
    char err[DCTLS_ERR_LEN] = "";
    struct dctls_bulk *b = NULL;
    if (dctls && !(b = dctls_bulk_begin(ssl, TX_CAP, err)))
        die(err);
    unsigned char *chunk = malloc(CHUNK);
    if (lseek(file, 0, SEEK_SET) < 0)
        die("lseek");
    double c0 = cpu_self();
    for (uint64_t left = bytes; left || (b && dctls_bulk_queued(b));) {
        while (left && (!b || dctls_bulk_room(b))) {
            size_t want = left < CHUNK ? (size_t)left : CHUNK;
            if (b && want > dctls_bulk_room(b))
                want = dctls_bulk_room(b);
            ssize_t n = read(file, chunk, want);
            if (n <= 0)
                die("reading the file");
            size_t w;
            if (SSL_write_ex(ssl, chunk, (size_t)n, &w) != 1 || w != (size_t)n)
                die("SSL_write");
            left -= (uint64_t)n;
        }
        while (b && dctls_bulk_queued(b))   /* a blocking socket: until all is out */
            if (dctls_bulk_send(b, fd) <= 0)
                die("write");
    }
    double s = cpu_self() - c0;
    dctls_bulk_end(b, ssl);
    SSL_free(ssl);
    free(chunk);
    return s;
}

static void run(int file, uint64_t bytes, bool dctls, SSL_CTX *sctx, SSL_CTX *cctx)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    int pfd[2];
    if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&sin, &sl) < 0 || pipe(pfd) < 0)
        die("loopback socket");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(ls);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&sin, sizeof sin) < 0)
            die("connect");
        receive(c, cctx, bytes, dctls, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    int s = accept(ls, NULL, NULL);
    if (s < 0)
        die("accept");
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    double t0 = now();
    double tx = send_file(s, sctx, file, bytes, dctls);
    double rx;
    if (read(pfd[0], &rx, sizeof rx) != sizeof rx)
        die("the receiver failed");
    double wall = now() - t0;
    int st;
    waitpid(pid, &st, 0);
    close(s);
    close(ls);
    close(pfd[0]);
    double gib = (double)bytes / GIB;
    printf("{\"mode\": \"%s\", \"bytes\": %llu, \"bytes_per_second\": %.0f, \"sender_cpu_s_per_gib\": %.3f, "
           "\"receiver_cpu_s_per_gib\": %.3f}\n",
           dctls ? "dctls" : "openssl", (unsigned long long)bytes, (double)bytes / wall, tx / gib, rx / gib);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_tlsloop FILE [MiB=256] [ROUNDS=2]\n");
        return 2;
    }
    int file = open(argv[1], O_RDONLY);
    off_t size = file >= 0 ? lseek(file, 0, SEEK_END) : -1;
    if (size < 0)
        die(argv[1]);
    uint64_t bytes = (uint64_t)(argc > 2 ? atoi(argv[2]) : 256) << 20;
    int rounds = argc > 3 ? atoi(argv[3]) : 2;
    if (bytes == 0 || bytes > (uint64_t)size || rounds < 1) {
        fprintf(stderr, "bench_tlsloop: MiB must be 1..the file's size, ROUNDS >= 1\n");
        return 2;
    }
    char err[DCTLS_ERR_LEN] = "";
    struct dctls_cert *cert = dctls_cert_generate("bench", err);
    SSL_CTX *sctx = cert ? dctls_server_ctx_new(cert, err) : NULL, *cctx = dctls_client_ctx_new(NULL, err);
    if (!sctx || !cctx)
        die(err);
    printf("{\"mode\": \"cipher\", \"cipher\": \"AES-128-GCM\", \"cpu_s_per_gib\": %.3f}\n", cipher_cost());
    fflush(stdout);
    for (int i = 0; i < rounds; i++) {
        run(file, bytes, false, sctx, cctx);
        run(file, bytes, true, sctx, cctx);
    }
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    dctls_cert_free(cert);
    close(file);
    return 0;
}
