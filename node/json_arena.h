/* json_arena.h — jansson's allocations from one block while the ledger applies an op. Every node
 * parses every op's body into a jansson tree (and a replaced record's stored text), validates it
 * and frees it: a few dozen malloc and free calls per op, and the free of a tree walks it again.
 * Inside json_arena_begin/json_arena_end on one thread, jansson allocates from the arena's block
 * (what does not fit goes to malloc) and frees into it for nothing; json_arena_end empties it.
 * So no jansson value made inside may outlive the scope. The sanitizer build poisons the block
 * outside a scope and between allocations, so a value that escapes is reported. */
#ifndef TREATY_NODE_JSON_ARENA_H
#define TREATY_NODE_JSON_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct json_arena {
    char *buf;
    size_t cap, used;
    size_t fallbacks; /* allocations that did not fit (for tests) */
};

/* A block of `cap` bytes, allocated on the first json_arena_begin. The first call installs this
 * module's allocator in jansson (only over jansson's default of malloc and free; outside a scope
 * it is malloc and free). */
void json_arena_init(struct json_arena *a, size_t cap);
void json_arena_free(struct json_arena *a);
/* Jansson allocates from `a` on this thread until json_arena_end. False, and nothing changes,
 * when the block cannot be allocated, a scope is open on this thread, or jansson's allocator is
 * not this module's. */
bool json_arena_begin(struct json_arena *a);
void json_arena_end(struct json_arena *a);

#endif
