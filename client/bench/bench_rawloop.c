/* bench_rawloop.c: the raw loopback limit a DC transfer is measured
 * against: one process sendfile()s FILE into a TCP socket on 127.0.0.1, a
 * child reads it with large reads and discards the bytes. Prints one JSON
 * line {"bytes", "seconds", "bytes_per_second"}. A benchmark tool, not a
 * test: bench_transfer.py runs it next to a dcclient download.
 *
 * usage: bench_rawloop FILE
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_rawloop FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[1]);
        return 1;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sin, &sl) < 0) {
        perror("listen");
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {   /* reader: large reads, discard */
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(s, (struct sockaddr *)&sin, sizeof sin) < 0)
            _exit(1);
        char *buf = malloc(1 << 20);
        while (read(s, buf, 1 << 20) > 0)
            ;
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    double t0 = now();
    off_t off = 0;
    while (off < st.st_size)
        if (sendfile(s, fd, &off, (size_t)(st.st_size - off)) <= 0) {
            perror("sendfile");
            return 1;
        }
    close(s);
    int status;
    waitpid(pid, &status, 0);   /* the reader has everything once it exits */
    double secs = now() - t0;
    printf("{\"bytes\": %lld, \"seconds\": %.3f, \"bytes_per_second\": %.0f}\n", (long long)st.st_size, secs,
           (double)st.st_size / secs);
    close(l);
    close(fd);
    return status == 0 ? 0 : 1;
}
