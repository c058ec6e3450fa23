/* alloc.h — the allocator every treaty module calls instead of malloc/free, so tests can inject
 * failures (countdown fault injection, as SQLite's OOM loops) and the pure core never names libc's
 * allocator directly. Hooks are process-wide; set them before any allocation. */
#ifndef TREATY_COMMON_ALLOC_H
#define TREATY_COMMON_ALLOC_H

#include <stddef.h>

struct tr_alloc_hooks {
    void *(*malloc_fn)(void *ctx, size_t size);
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
    void (*free_fn)(void *ctx, void *ptr);
    void *ctx;
};

/* Installs `hooks` (copied); NULL restores the libc allocator. */
void tr_alloc_set_hooks(const struct tr_alloc_hooks *hooks);

/* Like malloc/realloc/calloc/free/strdup; NULL on failure (or when a test's countdown fires). */
void *tr_malloc(size_t size);
void *tr_realloc(void *ptr, size_t size);
void *tr_calloc(size_t n, size_t size);
/* The symbol is tr_alloc_free: libcheck exports a function named tr_free, and test runners link
 * both. The object-like macro keeps `tr_free(p)` and `tr_free` as a function pointer correct. */
#define tr_free tr_alloc_free
void tr_alloc_free(void *ptr);
char *tr_strdup(const char *s);
char *tr_strndup(const char *s, size_t n);

/* Countdown fault injection for tests: the `n`-th allocation from now (1 = the next) and every
 * one after it fails until tr_alloc_fail_reset(). Returns through *fired whether it has fired. */
void tr_alloc_fail_after(long n);
void tr_alloc_fail_reset(void);
int tr_alloc_fail_fired(void);

#endif
