/* dctth.c: `dctth FILE...` prints "<base32 TTH>  <file>" per file, the format
 * of `rhash --tth --simple` (but uppercase, as DC writes TTHs). "-" reads
 * stdin and is printed as "(stdin)", as rhash does.
 *
 * A file that cannot be opened or read is reported on stderr by name and the
 * exit status becomes 1; the remaining files are still hashed. Files are read
 * with large read() calls into one buffer reused for every file; the hashing
 * itself is proto/tth.c, which works in constant memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/base32.h"
#include "proto/tth.h"

#define DCTTH_BUF (1u << 20) /* large enough to amortise syscalls, small for the cache */

/* Hash one open descriptor. Returns 0, or an errno value on a read error. */
static int dctth_fd(int fd, uint8_t *buf, uint8_t root[DC_TTH_LEN])
{
    struct dc_tth_ctx c;
    dc_tth_init(&c, DC_TTH_NO_LEVEL);
    for (;;) {
        ssize_t n = read(fd, buf, DCTTH_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            dc_tth_cleanup(&c);
            return err;
        }
        if (n == 0)
            break;
        dc_tth_update(&c, buf, (size_t)n);
    }
    dc_tth_final(&c, root);
    dc_tth_cleanup(&c);
    return 0;
}

/* Hash and print one named file; returns 0 or -1 after reporting the error. */
static int dctth_file(const char *name, uint8_t *buf)
{
    int is_stdin = strcmp(name, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "dctth: %s: %s\n", name, strerror(errno));
        return -1;
    }
    if (!is_stdin)
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    uint8_t root[DC_TTH_LEN];
    int err = dctth_fd(fd, buf, root);
    if (!is_stdin)
        close(fd);
    if (err != 0) {
        fprintf(stderr, "dctth: %s: %s\n", name, strerror(err));
        return -1;
    }
    char text[DC_TTH_BASE32_LEN + 1];
    dc_base32_encode(root, sizeof root, text, sizeof text);
    printf("%s  %s\n", text, is_stdin ? "(stdin)" : name);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: dctth FILE...   (\"-\" reads stdin)\n"
                        "prints the Tiger Tree Hash of each file as base32, like rhash --tth --simple\n");
        return 2;
    }
    uint8_t *buf = malloc(DCTTH_BUF);
    if (buf == NULL) {
        fprintf(stderr, "dctth: out of memory\n");
        return 1;
    }
    int status = 0;
    for (int i = 1; i < argc; i++)
        if (dctth_file(argv[i], buf) != 0)
            status = 1;
    free(buf);
    /* A full disk or closed pipe on stdout must not look like success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "dctth: writing output: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}
