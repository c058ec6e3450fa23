/* fuzz_main.c — corpus replay for builds without libFuzzer: runs one fuzz target's entry point
 * over every file of the directories (or files) named on the command line, so each committed seed
 * and each crash file added to tests/fuzz/corpus/<target>/ is re-run by ctest in every build
 * (test-fuzz-corpus-<target>). Exit 0 when all ran; a broken invariant aborts. */
#include "tests/fuzz/fuzz.h"

#include "common/alloc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Reads a whole file; NULL on failure (reported). */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = tr_realloc(buf, cap);
            if (nb == NULL)
                goto fail;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    *len = n;
    return buf;
fail:
    fprintf(stderr, "%s: read failed\n", path);
    tr_free(buf);
    fclose(f);
    return NULL;
}

static int run_file(const char *path)
{
    size_t len = 0;
    uint8_t *data = read_file(path, &len);
    if (data == NULL)
        return -1;
    LLVMFuzzerTestOneInput(data, len);
    tr_free(data);
    return 0;
}

/* Runs every regular file of `dir` (not recursive); returns the count or -1. */
static long run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        return -1;
    }
    long count = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (run_file(path) != 0) {
            count = -1;
            break;
        }
        count++;
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        long n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0)
            return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "%s: no corpus files found\n", argv[0]);
        return 1;
    }
    printf("%s: replayed %ld inputs\n", argv[0], total);
    return 0;
}
