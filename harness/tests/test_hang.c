/* test_hang.c: the liveness probe over real sockets, /proc state and stacks
 * of a real child process, the signal timeline and the verdict. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/hang.h"
#include "tls/dctls.h"

/* A listening socket on 127.0.0.1; its port as text into port. */
static int listener(char *port, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 8) == 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    snprintf(port, len, "%u", ntohs(a.sin_port));
    return fd;
}

/* A greeter thread: accepts one connection, optionally reads a line first,
 * then writes its text. */
struct greeter {
    int lfd;
    const char *text;
    bool read_first;
    char got[256];
};

static void *greet(void *arg)
{
    struct greeter *g = arg;
    int fd = accept(g->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (g->read_first) {
        ssize_t n = read(fd, g->got, sizeof g->got - 1);
        g->got[n > 0 ? n : 0] = '\0';
    }
    if (write(fd, g->text, strlen(g->text)) < 0)
        g->got[0] = '!';
    usleep(200 * 1000);
    close(fd);
    return NULL;
}

Test(hang, nmdc_probe_sees_the_lock_and_adc_probe_sends_hsup)
{
    char port[16];
    struct greeter g = {.lfd = listener(port, sizeof port), .text = "$Lock EXTENDEDPROTOCOLabc Pk=x|$HubName h|"};
    pthread_t t;
    pthread_create(&t, NULL, greet, &g);
    cr_assert_eq(hr_probe_greeting("127.0.0.1", port, false, false, 3), HR_GREET_OK);
    pthread_join(t, NULL);

    g = (struct greeter){.lfd = g.lfd, .text = "ISUP ADBASE\nISID AAAB\n", .read_first = true};
    pthread_create(&t, NULL, greet, &g);
    cr_assert_eq(hr_probe_greeting("127.0.0.1", port, true, false, 3), HR_GREET_OK);
    pthread_join(t, NULL);
    cr_assert(strstr(g.got, "HSUP ADBASE"), "the probe sent: %s", g.got);
    close(g.lfd);
}

/* A TLS greeter: accepts one connection, completes the handshake with a
 * fresh self-signed certificate and writes its text. */
struct tls_greeter {
    int lfd;
    SSL_CTX *ctx;
    const char *text;
    bool ok;
};

static void *tls_greet(void *arg)
{
    struct tls_greeter *g = arg;
    int fd = accept(g->lfd, NULL, NULL);
    SSL *ssl = fd >= 0 ? SSL_new(g->ctx) : NULL;
    if (ssl && SSL_set_fd(ssl, fd) && SSL_accept(ssl) == 1)
        g->ok = SSL_write(ssl, g->text, (int)strlen(g->text)) > 0;
    usleep(200 * 1000);
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* The probe loads libssl itself (dlopen, hang.c): it must find it and greet. */
Test(hang, tls_probe_loads_libssl_and_sees_the_lock)
{
    char port[16], err[DCTLS_ERR_LEN];
    struct dctls_cert *cert = dctls_cert_generate("probe-test", err);
    cr_assert(cert, "%s", err);
    struct tls_greeter g = {.lfd = listener(port, sizeof port), .ctx = dctls_server_ctx_new(cert, err),
                            .text = "$Lock EXTENDEDPROTOCOLabc Pk=x|"};
    cr_assert(g.ctx, "%s", err);
    pthread_t t;
    pthread_create(&t, NULL, tls_greet, &g);
    cr_assert_eq(hr_probe_greeting("127.0.0.1", port, false, true, 3), HR_GREET_OK);
    pthread_join(t, NULL);
    cr_assert(g.ok);
    SSL_CTX_free(g.ctx);
    dctls_cert_free(cert);
    close(g.lfd);
}

Test(hang, silent_closed_and_refusing_hubs_are_told_apart)
{
    char port[16];
    int lfd = listener(port, sizeof port);   /* the kernel accepts; nobody speaks */
    cr_assert_eq(hr_probe_greeting("127.0.0.1", port, false, false, 0.3), HR_GREET_SILENT);
    close(lfd);
    lfd = listener(port, sizeof port);   /* fresh: no probe left in its backlog */
    struct greeter g = {.lfd = lfd, .text = "<Hub> something else|"};
    pthread_t t;
    pthread_create(&t, NULL, greet, &g);
    cr_assert_eq(hr_probe_greeting("127.0.0.1", port, false, false, 3), HR_GREET_CLOSED);
    pthread_join(t, NULL);
    close(lfd);
    cr_assert_eq(hr_probe_greeting("127.0.0.1", port, false, false, 1), HR_GREET_REFUSED);
}

/* What the child runs: named so its stack can be found. */
__attribute__((noinline)) void hang_test_marker_sleeper(void)
{
    for (;;)
        pause();
}

static pid_t sleeper(void)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        hang_test_marker_sleeper();
        _exit(0);
    }
    usleep(100 * 1000);   /* let it reach pause() */
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

Test(hang, proc_state_of_a_sleeping_child)
{
    pid_t pid = sleeper();
    struct hr_proc_state st;
    hr_proc_state(pid, &st);
    cr_assert(st.exists);
    cr_assert_eq(st.state, 'S');
    cr_assert_eq(st.nthreads, 1);
    cr_assert_neq(st.wchan[0], '\0');
    reap(pid);
    hr_proc_state(pid, &st);
    cr_assert_not(st.exists);
}

Test(hang, gdb_stacks_name_the_function_and_say_gdb)
{
    if (access("/usr/bin/gdb", X_OK) != 0)
        cr_skip_test("gdb is not installed (ci/setup installs it)");
    pid_t pid = sleeper();
    struct dc_buf b;
    dc_buf_init(&b, 0);
    hr_proc_stacks(pid, "gdb", 30, &b);
    reap(pid);
    cr_assert(strstr(b.data, "gdb -batch -p"), "%s", b.data);
    cr_assert(strstr(b.data, "hang_test_marker_sleeper"), "%s", b.data);
    dc_buf_cleanup(&b);
}

Test(hang, without_gdb_stacks_come_from_proc_and_say_so)
{
    pid_t pid = sleeper();
    struct dc_buf b;
    dc_buf_init(&b, 0);
    hr_proc_stacks(pid, "/nonexistent/gdb", 5, &b);
    reap(pid);
    cr_assert(strstr(b.data, "from /proc/"), "%s", b.data);
    cr_assert(strstr(b.data, "/nonexistent/gdb is not installed"), "%s", b.data);
    cr_assert(strstr(b.data, "wchan"), "%s", b.data);
    dc_buf_cleanup(&b);
}

Test(hang, signal_timeline_merges_storms_newest_first)
{
    struct hr_siglog l = {0};
    for (int i = 0; i < 100; i++)
        hr_siglog_add(&l, SIGHUP, 1.0 + i * 0.01);
    hr_siglog_add(&l, SIGQUIT, 3.5);
    struct dc_buf b;
    dc_buf_init(&b, 0);
    hr_siglog_format(&l, &b);
    cr_assert_str_eq(b.data, "+3.500s SIGQUIT; +1.000s..+1.990s SIGHUP x100");
    for (int i = 0; i < 20; i++)
        hr_siglog_add(&l, i % 2 ? SIGUSR1 : SIGUSR2, 4 + i);
    dc_buf_reset(&b);
    hr_siglog_format(&l, &b);
    cr_assert(strstr(b.data, "+23.000s SIGUSR1; +22.000s SIGUSR2"), "%s", b.data);
    cr_assert(strstr(b.data, "(14 earlier)"), "%s", b.data);
    dc_buf_cleanup(&b);
}

Test(hang, a_live_process_that_does_not_greet_is_hung_and_a_dead_one_dead)
{
    char port[16];
    int lfd = listener(port, sizeof port);
    pid_t pid = sleeper();
    struct hr_siglog l = {0};
    hr_siglog_add(&l, SIGQUIT, 3.012);
    struct hr_hang_probe in = {.pid = pid, .host = "127.0.0.1", .port = port, .bound_s = 0.3,
                               .gdb = "none", .sigs = &l};
    struct dc_buf sum, det;
    dc_buf_init(&sum, 0);
    dc_buf_init(&det, 0);
    cr_assert_eq(hr_hang_verdict(&in, &sum, &det), HR_LIVE_HUNG);
    cr_assert(strstr(sum.data, "hung (alive, but a fresh connection sent no greeting: no $Lock within 0.3s"), "%s", sum.data);
    cr_assert(strstr(sum.data, "last signal SIGQUIT at +3.012s"), "%s", sum.data);
    cr_assert(strstr(det.data, "sleeping (S)"), "%s", det.data);
    cr_assert(strstr(det.data, "CPU used"), "%s", det.data);
    kill(pid, SIGKILL);
    usleep(100 * 1000);   /* a zombie now: dead, though not reaped */
    dc_buf_reset(&sum);
    cr_assert_eq(hr_hang_verdict(&in, &sum, &det), HR_LIVE_DEAD);
    cr_assert(strstr(sum.data, "dead"), "%s", sum.data);
    waitpid(pid, NULL, 0);
    close(lfd);
    dc_buf_cleanup(&sum);
    dc_buf_cleanup(&det);
}
