/* json_arena.c — see json_arena.h. */
#include "node/json_arena.h"

#include "common/alloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define JSON_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSON_ARENA_ASAN 1
#endif
#endif
#ifdef JSON_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define JSON_ARENA_GAP 16
#else
#define JSON_ARENA_GAP                    0
#define ASAN_POISON_MEMORY_REGION(p, n)   ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

static _Thread_local struct json_arena *active;

static void *arena_malloc(size_t size)
{
    struct json_arena *a = active;
    if (a) {
        size_t need = (size + JSON_ARENA_GAP + 15) & ~(size_t)15;
        if (need >= size && need <= a->cap - a->used) {
            char *p = a->buf + a->used;
            a->used += need;
            ASAN_UNPOISON_MEMORY_REGION(p, size);
            return p;
        }
        a->fallbacks++;
    }
    return malloc(size);
}

static void arena_free(void *ptr)
{
    struct json_arena *a = active;
    if (a && (uintptr_t)ptr >= (uintptr_t)a->buf && (uintptr_t)ptr < (uintptr_t)a->buf + a->cap)
        return; /* emptied by json_arena_end */
    free(ptr);
}

static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void install(void)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (m == malloc && f == free)
        json_set_alloc_funcs(arena_malloc, arena_free);
}

void json_arena_init(struct json_arena *a, size_t cap)
{
    pthread_once(&install_once, install); /* early: when the ledger opens */
    a->buf = NULL;
    a->cap = cap;
    a->used = a->fallbacks = 0;
}

void json_arena_free(struct json_arena *a)
{
    if (a->buf) {
        ASAN_UNPOISON_MEMORY_REGION(a->buf, a->cap);
        tr_free(a->buf);
    }
    a->buf = NULL;
}

bool json_arena_begin(struct json_arena *a)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (m != arena_malloc || f != arena_free || active)
        return false;
    if (!a->buf) {
        a->buf = tr_malloc(a->cap);
        if (!a->buf)
            return false;
        ASAN_POISON_MEMORY_REGION(a->buf, a->cap);
    }
    a->used = 0;
    active = a;
    return true;
}

void json_arena_end(struct json_arena *a)
{
    if (active != a)
        return;
    active = NULL;
    ASAN_POISON_MEMORY_REGION(a->buf, a->used);
    a->used = 0;
}
