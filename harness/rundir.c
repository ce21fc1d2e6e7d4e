/* rundir.c: temp directories that a killed run cannot leave piling up
 * (rundir.h). A SIGKILLed dcharness cannot clean up after itself; the next
 * run does, for directories whose owner process is provably gone. */
#include "harness/rundir.h"
#include "harness/cli_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HR_OWNER_FILE "owner"

/* Start time of pid in clock ticks since boot (/proc/PID/stat field 22),
 * or 0 if there is no such process. */
static unsigned long long hr_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');   /* the command name may hold spaces and ')' */
    unsigned long long start = 0;
    /* after ") ": state is field 3, starttime field 22 */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     &start) != 1)
        return 0;
    return start;
}

/* True if the owner file of dir names a process that is gone: no such pid,
 * or a pid now used by a process that started at another time. */
static int hr_owner_gone(int dirfd)
{
    int fd = openat(dirfd, HR_OWNER_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;   /* no owner file: not ours to judge */
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    int pid;
    unsigned long long start;
    if (sscanf(buf, "%d %llu", &pid, &start) != 2 || pid <= 0)
        return 0;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 1;
    unsigned long long now = hr_start_time(pid);
    return now && now != start;   /* the pid was reused */
}

/* Remove $TMPDIR/<prefix>-* directories of ours whose owner is gone.
 * Every run pays this before its first party starts, and a shared $TMPDIR
 * piles up kept (--keep) runs, which have no owner file: one faccessat
 * rules each of those out, and only a directory with an owner file gets
 * the careful checks (ours, not a symlink, owner gone). */
static void hr_rundir_sweep(const char *tmp, const char *prefix)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    size_t plen = strlen(prefix);
    uid_t uid = getuid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0 || e->d_name[plen] != '-')
            continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        char rel[sizeof e->d_name + sizeof "/" HR_OWNER_FILE];
        snprintf(rel, sizeof rel, "%s/" HR_OWNER_FILE, e->d_name);
        if (faccessat(dirfd(d), rel, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid)
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        int gone = hr_owner_gone(fd);
        close(fd);
        char path[PATH_MAX];
        if (gone && (size_t)snprintf(path, sizeof path, "%s/%s", tmp, e->d_name) < sizeof path)
            rm_tree(path);
    }
    closedir(d);
}

int hr_rundir_create(const char *prefix, char *out, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    hr_rundir_sweep(tmp, prefix);
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s/%s-XXXXXX", tmp, prefix) >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *abs = mkdtemp(dir) ? realpath(dir, NULL) : NULL;
    if (!abs)
        return -1;
    char owner[PATH_MAX + 16];
    snprintf(owner, sizeof owner, "%s/" HR_OWNER_FILE, abs);
    FILE *f = fopen(owner, "wxe");
    int ok = f && fprintf(f, "%d %llu\n", (int)getpid(), hr_start_time(getpid())) > 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok || strlen(abs) >= cap) {
        int e = ok ? ENAMETOOLONG : errno;
        rm_tree(abs);
        free(abs);
        errno = e;
        return -1;
    }
    snprintf(out, cap, "%s", abs);
    free(abs);
    return 0;
}

void hr_rundir_keep(const char *dir)
{
    char owner[PATH_MAX + 16];
    snprintf(owner, sizeof owner, "%s/" HR_OWNER_FILE, dir);
    unlink(owner);
}
