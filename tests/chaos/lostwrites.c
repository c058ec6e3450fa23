/* lostwrites.c — an LD_PRELOAD shim that records what a power loss would leave of the files
 * under $TREATY_LOSTWRITES_DIR: beside each file written there, <file>.durable holds the file as
 * of its last completed fsync/fdatasync/syncfs/sync (writes through an O_SYNC/O_DSYNC fd count at
 * once). tests/chaos/lostwrites.py "loses" the rest after a SIGKILL by moving each image over its
 * file. Invariant: every byte range written or truncated since a file's last sync is in its dirty
 * list. One mutex guards all state (the node has a persist worker thread). Linux/glibc only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define LW_MAX_FD 65536
#define LW_SUFFIX ".durable"
#define LW_ALL    UINT64_MAX /* a range end: to the end of the file, whatever its size */

struct lw_range {
    uint64_t start, end;
};

struct lw_file {
    dev_t dev;
    ino_t ino;
    char *path; /* canonical; NULL once the entry is dropped */
    struct lw_range *r;
    size_t n, cap;
};

static pthread_mutex_t lw_mu = PTHREAD_MUTEX_INITIALIZER;
static char lw_dir[PATH_MAX]; /* canonical, with a trailing '/'; empty: the shim is off */
static size_t lw_dir_len;
static struct lw_file *lw_files;
static size_t lw_nfiles, lw_capfiles;
static int lw_fd_file[LW_MAX_FD]; /* file index + 1; 0: fd not tracked */
static unsigned char lw_fd_sync[LW_MAX_FD];

#define REAL(name, ret, args) static ret(*real_##name) args
REAL(openat, int, (int, const char *, int, ...));
REAL(close, int, (int));
REAL(write, ssize_t, (int, const void *, size_t));
REAL(pwrite, ssize_t, (int, const void *, size_t, off_t));
REAL(writev, ssize_t, (int, const struct iovec *, int));
REAL(pwritev, ssize_t, (int, const struct iovec *, int, off_t));
REAL(pwritev2, ssize_t, (int, const struct iovec *, int, off_t, int));
REAL(ftruncate, int, (int, off_t));
REAL(fsync, int, (int));
REAL(fdatasync, int, (int));
REAL(syncfs, int, (int));
REAL(sync, void, (void));
REAL(renameat, int, (int, const char *, int, const char *));
REAL(unlinkat, int, (int, const char *, int));

static void lw_die(const char *what)
{
    fprintf(stderr, "lostwrites: %s: %s\n", what, strerror(errno));
    abort();
}

static void *lw_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        fprintf(stderr, "lostwrites: no symbol %s\n", name);
        abort();
    }
    return p;
}

#define RESOLVE(name) memcpy(&real_##name, &(void *){lw_sym(#name)}, sizeof real_##name)

__attribute__((constructor)) static void lw_init(void)
{
    RESOLVE(openat);
    RESOLVE(close);
    RESOLVE(write);
    RESOLVE(pwrite);
    RESOLVE(writev);
    RESOLVE(pwritev);
    RESOLVE(pwritev2);
    RESOLVE(ftruncate);
    RESOLVE(fsync);
    RESOLVE(fdatasync);
    RESOLVE(syncfs);
    RESOLVE(sync);
    RESOLVE(renameat);
    RESOLVE(unlinkat);
    const char *dir = getenv("TREATY_LOSTWRITES_DIR");
    if (dir == NULL || *dir == '\0')
        return;
    if (realpath(dir, lw_dir) == NULL)
        lw_die("TREATY_LOSTWRITES_DIR");
    lw_dir_len = strlen(lw_dir);
    if (lw_dir_len + 1 >= sizeof lw_dir)
        lw_die("TREATY_LOSTWRITES_DIR too long");
    lw_dir[lw_dir_len++] = '/';
    lw_dir[lw_dir_len] = '\0';
}

/* ---- images (the caller holds lw_mu) ---- */

static void lw_image_path(const char *path, char *out)
{
    if (snprintf(out, PATH_MAX, "%s" LW_SUFFIX, path) >= PATH_MAX)
        lw_die("path too long");
}

static void lw_copy(int from, int to, uint64_t start, uint64_t end)
{
    char buf[65536];
    while (start < end) {
        size_t want = end - start < sizeof buf ? (size_t)(end - start) : sizeof buf;
        ssize_t got = pread(from, buf, want, (off_t)start);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            lw_die("read for the image");
        if (got == 0)
            return;
        for (ssize_t done = 0; done < got;) {
            ssize_t w = real_pwrite(to, buf + done, (size_t)(got - done), (off_t)start + done);
            if (w < 0 && errno != EINTR)
                lw_die("write to the image");
            done += w > 0 ? w : 0;
        }
        start += (uint64_t)got;
    }
}

/* Copies the dirty ranges of f (or, with whole, all of it) into its image and gives the image
 * the file's current size; the dirty list is then empty. A crash part way leaves an image with
 * some of the ranges: a legal power-loss state, since before fsync returns the kernel may write
 * the dirty pages in any order. */
static void lw_flush(struct lw_file *f, int whole)
{
    char img[PATH_MAX];
    lw_image_path(f->path, img);
    int src = real_openat(AT_FDCWD, f->path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        lw_die(f->path);
    int dst =
        real_openat(AT_FDCWD, img, O_WRONLY | O_CREAT | O_CLOEXEC | (whole ? O_TRUNC : 0), 0600);
    if (dst < 0)
        lw_die(img);
    struct stat st;
    if (fstat(src, &st) != 0)
        lw_die(f->path);
    uint64_t size = (uint64_t)st.st_size;
    if (whole) {
        lw_copy(src, dst, 0, size);
    } else {
        for (size_t i = 0; i < f->n; i++)
            if (f->r[i].start < size)
                lw_copy(src, dst, f->r[i].start, f->r[i].end < size ? f->r[i].end : size);
    }
    if (real_ftruncate(dst, (off_t)size) != 0)
        lw_die(img);
    real_close(src);
    real_close(dst);
    f->n = 0;
}

/* Makes the byte range [start, end) of the file, as it is now, durable at once (O_DSYNC). */
static void lw_flush_range(struct lw_file *f, uint64_t start, uint64_t end)
{
    char img[PATH_MAX];
    lw_image_path(f->path, img);
    int src = real_openat(AT_FDCWD, f->path, O_RDONLY | O_CLOEXEC);
    int dst = real_openat(AT_FDCWD, img, O_WRONLY | O_CLOEXEC);
    if (src < 0 || dst < 0)
        lw_die(f->path);
    lw_copy(src, dst, start, end);
    real_close(src);
    real_close(dst);
}

/* Adds [start, end) to the sorted, disjoint dirty list of f, merging what touches it. */
static void lw_dirty(struct lw_file *f, uint64_t start, uint64_t end)
{
    if (start >= end)
        return;
    size_t i = 0;
    while (i < f->n && f->r[i].end < start)
        i++;
    size_t j = i;
    while (j < f->n && f->r[j].start <= end) {
        start = f->r[j].start < start ? f->r[j].start : start;
        end = f->r[j].end > end ? f->r[j].end : end;
        j++;
    }
    if (i == j && f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->r = realloc(f->r, f->cap * sizeof *f->r);
        if (f->r == NULL)
            lw_die("realloc");
    }
    if (i == j) {
        memmove(&f->r[i + 1], &f->r[i], (f->n - i) * sizeof *f->r);
        f->n++;
    } else {
        memmove(&f->r[i + 1], &f->r[j], (f->n - j) * sizeof *f->r);
        f->n -= j - i - 1;
    }
    f->r[i] = (struct lw_range){start, end};
}

static struct lw_file *lw_find(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < lw_nfiles; i++)
        if (lw_files[i].path != NULL && lw_files[i].dev == dev && lw_files[i].ino == ino)
            return &lw_files[i];
    return NULL;
}

/* The entry of the regular file open on fd if it lies under lw_dir, made (with an image copied
 * from the file as it is now) at the first open in this process; NULL otherwise. */
static struct lw_file *lw_entry(int fd)
{
    struct stat st;
    if (lw_dir_len == 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    struct lw_file *f = lw_find(st.st_dev, st.st_ino);
    if (f != NULL)
        return f;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len <= 0 || (size_t)len >= sizeof path - sizeof LW_SUFFIX)
        return NULL;
    path[len] = '\0';
    size_t sl = strlen(LW_SUFFIX);
    if (strncmp(path, lw_dir, lw_dir_len) != 0 ||
        ((size_t)len > sl && strcmp(path + len - (ssize_t)sl, LW_SUFFIX) == 0))
        return NULL;
    if (lw_nfiles == lw_capfiles) {
        lw_capfiles = lw_capfiles ? lw_capfiles * 2 : 16;
        lw_files = realloc(lw_files, lw_capfiles * sizeof *lw_files);
        if (lw_files == NULL)
            lw_die("realloc");
    }
    f = &lw_files[lw_nfiles++];
    *f = (struct lw_file){.dev = st.st_dev, .ino = st.st_ino, .path = strdup(path)};
    if (f->path == NULL)
        lw_die("strdup");
    lw_flush(f, 1);
    return f;
}

static struct lw_file *lw_of_fd(int fd)
{
    if (fd < 0 || fd >= LW_MAX_FD || lw_fd_file[fd] == 0)
        return NULL;
    return &lw_files[lw_fd_file[fd] - 1];
}

/* ---- opening and closing ---- */

static int lw_open(int dirfd, const char *path, int flags, mode_t mode)
{
    int writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
    if (lw_dir_len == 0 || !writes)
        return real_openat(dirfd, path, flags, mode);
    pthread_mutex_lock(&lw_mu);
    if (flags & O_TRUNC) { /* image the file before the open truncates it */
        int pre = real_openat(dirfd, path, O_RDONLY | O_CLOEXEC);
        if (pre >= 0) {
            lw_entry(pre);
            real_close(pre);
        }
    }
    int fd = real_openat(dirfd, path, flags, mode);
    int saved = errno;
    struct lw_file *f = fd >= 0 ? lw_entry(fd) : NULL;
    if (f != NULL) {
        if (fd >= LW_MAX_FD)
            lw_die("fd beyond the shim's table");
        lw_fd_file[fd] = (int)(f - lw_files) + 1;
        lw_fd_sync[fd] = (flags & (O_SYNC | O_DSYNC)) != 0;
        if (flags & O_TRUNC)
            lw_dirty(f, 0, LW_ALL);
    }
    pthread_mutex_unlock(&lw_mu);
    errno = saved;
    return fd;
}

static mode_t lw_mode(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_AT(name)                                                                              \
    int name(int dirfd, const char *path, int flags, ...)                                          \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = lw_mode(flags, ap);                                                          \
        va_end(ap);                                                                                \
        return lw_open(dirfd, path, flags, mode);                                                  \
    }
#define OPEN(name)                                                                                 \
    int name(const char *path, int flags, ...)                                                     \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = lw_mode(flags, ap);                                                          \
        va_end(ap);                                                                                \
        return lw_open(AT_FDCWD, path, flags, mode);                                               \
    }
OPEN(open)
OPEN(open64)
OPEN_AT(openat)
OPEN_AT(openat64)

/* The fortified entry points (_FORTIFY_SOURCE, two-argument open). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __open_2(const char *path, int flags)
{
    return lw_open(AT_FDCWD, path, flags, 0);
}
int __open64_2(const char *path, int flags)
{
    return lw_open(AT_FDCWD, path, flags, 0);
}

int close(int fd)
{
    if (fd >= 0 && fd < LW_MAX_FD && lw_fd_file[fd] != 0) {
        pthread_mutex_lock(&lw_mu);
        lw_fd_file[fd] = 0;
        lw_fd_sync[fd] = 0;
        pthread_mutex_unlock(&lw_mu);
    }
    return real_close(fd);
}

/* ---- writes ---- */

/* After a successful write of n bytes at off on fd: marks them dirty, or durable on a sync fd. */
static void lw_wrote(int fd, struct lw_file *f, uint64_t off, ssize_t n)
{
    if (n <= 0)
        return;
    if (lw_fd_sync[fd])
        lw_flush_range(f, off, off + (uint64_t)n);
    else
        lw_dirty(f, off, off + (uint64_t)n);
}

/* A write call on fd, tracked when fd is a file of ours: `start` (evaluated after the call, with
 * its result in n) is where the n bytes written begin; negative when unknown. */
#define TRACKED(call, start)                                                                       \
    pthread_mutex_lock(&lw_mu);                                                                    \
    struct lw_file *f = lw_of_fd(fd);                                                              \
    if (f == NULL) {                                                                               \
        pthread_mutex_unlock(&lw_mu);                                                              \
        return call;                                                                               \
    }                                                                                              \
    ssize_t n = call;                                                                              \
    int saved = errno;                                                                             \
    off_t at = n > 0 ? (off_t)(start) : -1;                                                        \
    if (at >= 0)                                                                                   \
        lw_wrote(fd, f, (uint64_t)at, n);                                                          \
    pthread_mutex_unlock(&lw_mu);                                                                  \
    errno = saved;                                                                                 \
    return n

/* write/writev at the file position: the range ends at the position after the call. */
#define AT_POS(call)      TRACKED(call, lseek(fd, 0, SEEK_CUR) - n)
#define AT_OFF(call, off) TRACKED(call, off)

ssize_t write(int fd, const void *buf, size_t len)
{
    AT_POS(real_write(fd, buf, len));
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    AT_POS(real_writev(fd, iov, cnt));
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    AT_OFF(real_pwrite(fd, buf, len, off), off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    AT_OFF(real_pwrite(fd, buf, len, off), off);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    AT_OFF(real_pwritev(fd, iov, cnt, off), off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    AT_OFF(real_pwritev(fd, iov, cnt, off), off);
}

/* pwritev2 with offset -1 writes at the file position; RWF_DSYNC/RWF_SYNC make it durable. */
static ssize_t lw_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
    if (off == -1) {
        AT_POS(real_pwritev2(fd, iov, cnt, off, fl));
    }
    pthread_mutex_lock(&lw_mu);
    struct lw_file *f = lw_of_fd(fd);
    ssize_t n = real_pwritev2(fd, iov, cnt, off, fl);
    int saved = errno;
    if (f != NULL && n > 0 && (fl & (RWF_DSYNC | RWF_SYNC)))
        lw_flush_range(f, (uint64_t)off, (uint64_t)off + (uint64_t)n);
    else if (f != NULL)
        lw_wrote(fd, f, (uint64_t)off, n);
    pthread_mutex_unlock(&lw_mu);
    errno = saved;
    return n;
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
    return lw_pwritev2(fd, iov, cnt, off, fl);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int fl);
ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
    return lw_pwritev2(fd, iov, cnt, off, fl);
}

static int lw_truncate(int fd, off_t len)
{
    pthread_mutex_lock(&lw_mu);
    struct lw_file *f = lw_of_fd(fd);
    int rc = real_ftruncate(fd, len);
    int saved = errno;
    if (f != NULL && rc == 0) /* what lies past len now reads as zeros until written again */
        lw_dirty(f, (uint64_t)len, LW_ALL);
    pthread_mutex_unlock(&lw_mu);
    errno = saved;
    return rc;
}

int ftruncate(int fd, off_t len)
{
    return lw_truncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
    return lw_truncate(fd, len);
}

/* ---- syncs: the image first, then the real call ---- */

static int lw_sync_fd(int fd, int (*real)(int))
{
    pthread_mutex_lock(&lw_mu);
    struct lw_file *f = lw_of_fd(fd);
    struct stat st;
    if (f == NULL && lw_dir_len != 0 && fstat(fd, &st) == 0) /* e.g. a read-only fd */
        f = lw_find(st.st_dev, st.st_ino);
    if (f != NULL)
        lw_flush(f, 0);
    pthread_mutex_unlock(&lw_mu);
    return real(fd);
}

int fsync(int fd)
{
    return lw_sync_fd(fd, real_fsync);
}

int fdatasync(int fd)
{
    return lw_sync_fd(fd, real_fdatasync);
}

static void lw_flush_all(void)
{
    pthread_mutex_lock(&lw_mu);
    for (size_t i = 0; i < lw_nfiles; i++)
        if (lw_files[i].path != NULL)
            lw_flush(&lw_files[i], 0);
    pthread_mutex_unlock(&lw_mu);
}

int syncfs(int fd)
{
    lw_flush_all(); /* every tracked file is taken to be on fd's file system */
    return real_syncfs(fd);
}

void sync(void)
{
    lw_flush_all();
    real_sync();
}

/* ---- directory entries: taken as durable at once (see docs/reliability.md) ---- */

static void lw_drop(struct lw_file *f)
{
    char img[PATH_MAX];
    lw_image_path(f->path, img);
    real_unlinkat(AT_FDCWD, img, 0);
    free(f->path);
    free(f->r);
    f->path = NULL;
    f->r = NULL;
    f->n = f->cap = 0;
    for (int fd = 0; fd < LW_MAX_FD; fd++)
        if (lw_fd_file[fd] == (int)(f - lw_files) + 1)
            lw_fd_file[fd] = 0;
}

/* The entry of the file at (dirfd, path) if this process tracks it. */
static struct lw_file *lw_at(int dirfd, const char *path)
{
    struct stat st;
    if (lw_dir_len == 0 || fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return NULL;
    return lw_find(st.st_dev, st.st_ino);
}

int renameat(int olddir, const char *old, int newdir, const char *new)
{
    pthread_mutex_lock(&lw_mu);
    struct lw_file *moved = lw_at(olddir, old), *replaced = lw_at(newdir, new);
    int rc = real_renameat(olddir, old, newdir, new);
    int saved = errno;
    if (rc == 0 && replaced != NULL && replaced != moved)
        lw_drop(replaced);
    if (rc == 0 && moved != NULL) {
        int fd = real_openat(newdir, new, O_RDONLY | O_CLOEXEC);
        char link[64], path[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = fd >= 0 ? readlink(link, path, sizeof path - 1) : -1;
        if (len <= 0)
            lw_die("rename");
        path[len] = '\0';
        real_close(fd);
        lw_image_path(moved->path, from);
        lw_image_path(path, to);
        if (real_renameat(AT_FDCWD, from, AT_FDCWD, to) != 0)
            lw_die("rename of an image");
        free(moved->path);
        moved->path = strdup(path);
        if (moved->path == NULL)
            lw_die("strdup");
    }
    pthread_mutex_unlock(&lw_mu);
    errno = saved;
    return rc;
}

int rename(const char *old, const char *new)
{
    return renameat(AT_FDCWD, old, AT_FDCWD, new);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    pthread_mutex_lock(&lw_mu);
    struct lw_file *f = (flags & AT_REMOVEDIR) ? NULL : lw_at(dirfd, path);
    int rc = real_unlinkat(dirfd, path, flags);
    int saved = errno;
    if (rc == 0 && f != NULL)
        lw_drop(f);
    pthread_mutex_unlock(&lw_mu);
    errno = saved;
    return rc;
}

int unlink(const char *path)
{
    return unlinkat(AT_FDCWD, path, 0);
}
