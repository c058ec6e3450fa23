/* alloc.c — the injectable allocator of alloc.h. The default hooks are libc's; the countdown
 * makes every allocation fail from a chosen point, to walk failure paths in tests. */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

static void *tr__libc_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *tr__libc_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void tr__libc_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static struct tr_alloc_hooks tr__hooks = {tr__libc_malloc, tr__libc_realloc, tr__libc_free, NULL};
static long tr__countdown = -1; /* -1: off */
static int tr__fired;

void tr_alloc_set_hooks(const struct tr_alloc_hooks *hooks)
{
    if (hooks) {
        tr__hooks = *hooks;
    } else {
        tr__hooks.malloc_fn = tr__libc_malloc;
        tr__hooks.realloc_fn = tr__libc_realloc;
        tr__hooks.free_fn = tr__libc_free;
        tr__hooks.ctx = NULL;
    }
}

static int tr__should_fail(void)
{
    if (tr__countdown < 0)
        return 0;
    if (tr__countdown > 1) {
        tr__countdown--;
        return 0;
    }
    tr__countdown = 0;
    tr__fired = 1;
    return 1;
}

void *tr_malloc(size_t size)
{
    if (tr__should_fail())
        return NULL;
    return tr__hooks.malloc_fn(tr__hooks.ctx, size ? size : 1);
}

void *tr_realloc(void *ptr, size_t size)
{
    if (tr__should_fail())
        return NULL;
    return tr__hooks.realloc_fn(tr__hooks.ctx, ptr, size ? size : 1);
}

void *tr_calloc(size_t n, size_t size)
{
    if (size && n > (size_t)-1 / size)
        return NULL;
    void *p = tr_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void tr_free(void *ptr)
{
    if (ptr)
        tr__hooks.free_fn(tr__hooks.ctx, ptr);
}

char *tr_strndup(const char *s, size_t n)
{
    char *p = tr_malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *tr_strdup(const char *s)
{
    return tr_strndup(s, strlen(s));
}

void tr_alloc_fail_after(long n)
{
    tr__countdown = n < 1 ? 1 : n;
    tr__fired = 0;
}

void tr_alloc_fail_reset(void)
{
    tr__countdown = -1;
    tr__fired = 0;
}

int tr_alloc_fail_fired(void)
{
    return tr__fired;
}
