/* log.c — the core's view of the Raft log: the driver's stable log (read through raft_log_ops)
 * overlaid by the unstable tail of entries appended since the last Ready. Invariant: indexes
 * >= u.offset come from the tail when it is non-empty, lower ones from the stable log, so a
 * pending truncation hides the stale stable suffix. Called by every protocol file. */
#include "consensus/raft_int.h"

#include "common/alloc.h"

#include <string.h>

/* Slots beyond max_unstable_entries that only a new leader's no-op may use (§3.6.2), so a full
 * tail never stops a leader from committing in its term. */
#define RAFT__SPARE 4

int raft__log_init(struct raft *r)
{
    r->u.ents = tr_calloc((size_t)r->cfg.max_unstable_entries + RAFT__SPARE, sizeof(*r->u.ents));
    if (!r->u.ents)
        return TR_ENOMEM;
    r->u.offset = r->stable_last + 1;
    return TR_OK;
}

static void unstable_drop_from(struct raft *r, size_t pos)
{
    for (size_t i = pos; i < r->u.n; i++) {
        r->u.bytes -= r->u.ents[i].len;
        tr_free((void *)r->u.ents[i].data);
        memset(&r->u.ents[i], 0, sizeof(r->u.ents[i]));
    }
    if (pos < r->u.n)
        r->u.n = pos;
}

void raft__log_free(struct raft *r)
{
    if (!r->u.ents)
        return;
    unstable_drop_from(r, 0);
    tr_free(r->u.ents);
    r->u.ents = NULL;
}

uint64_t raft__last_index(const struct raft *r)
{
    if (r->u.n > 0)
        return r->u.offset + r->u.n - 1;
    return r->stable_last;
}

uint64_t raft__persisted_index(const struct raft *r)
{
    if (r->u.n > 0 && r->u.offset <= r->stable_last)
        return r->u.offset - 1;
    return r->stable_last;
}

static int log_fail(struct raft *r, int rc)
{
    if (!r->err)
        r->err = rc;
    return rc;
}

uint64_t raft__term(struct raft *r, uint64_t index)
{
    if (index == 0 || index > raft__last_index(r))
        return 0;
    if (r->u.n > 0 && index >= r->u.offset)
        return r->u.ents[index - r->u.offset].term;
    uint64_t term = 0;
    int rc = r->cfg.log.term(r->cfg.log.ctx, index, &term);
    if (rc != TR_OK) {
        log_fail(r, rc);
        return 0;
    }
    return term;
}

uint64_t raft__last_term(struct raft *r)
{
    return raft__term(r, raft__last_index(r));
}

int raft__match_term(struct raft *r, uint64_t index, uint64_t term)
{
    if (index > raft__last_index(r))
        return 0;
    return raft__term(r, index) == term;
}

uint64_t raft__find_conflict_by_term(struct raft *r, uint64_t index, uint64_t term)
{
    if (index > raft__last_index(r))
        index = raft__last_index(r);
    while (index > 0) {
        if (raft__term(r, index) <= term || r->err)
            break;
        index--;
    }
    return index;
}

int raft__entry_get(struct raft *r, uint64_t index, int borrow, size_t max_len,
                    struct raft_entry *e)
{
    TR_ASSERT(index >= 1 && index <= raft__last_index(r));
    if (r->u.n > 0 && index >= r->u.offset) {
        *e = r->u.ents[index - r->u.offset];
        if (e->len > max_len)
            return TR_ELIMIT;
        if (borrow || e->len == 0)
            return TR_OK;
    } else {
        int rc = r->cfg.log.entry(r->cfg.log.ctx, index, e);
        if (rc != TR_OK)
            return log_fail(r, rc);
        if (e->index != index)
            return log_fail(r, TR_ECORRUPT);
        if (e->len > max_len)
            return TR_ELIMIT;
        if (e->len == 0) {
            e->data = NULL;
            return TR_OK;
        }
    }
    uint8_t *copy = raft__arena_alloc(r, e->len);
    if (!copy)
        return TR_ENOMEM;
    memcpy(copy, e->data, e->len);
    e->data = copy;
    return TR_OK;
}

int raft__unstable_fits(const struct raft *r, size_t n, size_t bytes)
{
    if (r->u.n + n > r->cfg.max_unstable_entries)
        return 0;
    /* One entry always fits an empty tail, so a large entry cannot wedge replication. */
    return r->u.n == 0 || r->u.bytes + bytes <= r->cfg.max_unstable_bytes;
}

/* How many of `ents` fit once the tail keeps only its first `keep` entries. A new leader's no-op
 * may use the spare slots. */
static size_t append_room(const struct raft *r, size_t keep, const struct raft_entry *ents,
                          size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < keep; i++)
        bytes += r->u.ents[i].len;
    size_t k = 0;
    while (k < n) {
        size_t cap = r->cfg.max_unstable_entries;
        if (ents[k].type == RAFT_ENTRY_NOOP)
            cap += RAFT__SPARE;
        if (keep + k + 1 > cap)
            break;
        if (keep + k > 0 && bytes + ents[k].len > r->cfg.max_unstable_bytes)
            break;
        bytes += ents[k].len;
        k++;
    }
    return k;
}

/* Copies the data of ents[0..k) into `copies`; returns how many succeeded. */
static size_t copy_data(const struct raft_entry *ents, size_t k, uint8_t **copies)
{
    for (size_t i = 0; i < k; i++) {
        copies[i] = NULL;
        if (ents[i].len == 0)
            continue;
        copies[i] = tr_malloc(ents[i].len);
        if (!copies[i])
            return i;
        memcpy(copies[i], ents[i].data, ents[i].len);
    }
    return k;
}

/* Drops everything from index `first` on (§3.5: a conflicting entry and all that follow it). */
static void truncate_from(struct raft *r, uint64_t first)
{
    TR_ASSERT(first > r->commit);
    if (r->u.n > 0 && first >= r->u.offset) {
        unstable_drop_from(r, (size_t)(first - r->u.offset));
    } else {
        unstable_drop_from(r, 0);
        r->u.offset = first;
    }
    raft__conf_truncated(r, first);
}

static int install(struct raft *r, const struct raft_entry *ents, size_t k, uint8_t **copies)
{
    int rc = TR_OK;
    for (size_t i = 0; i < k; i++) {
        struct raft_entry *e = &r->u.ents[r->u.n++];
        *e = ents[i];
        e->data = copies[i];
        r->u.bytes += e->len;
    }
    for (size_t i = 0; i < k && rc == TR_OK; i++)
        if (ents[i].type == RAFT_ENTRY_CONFIG)
            rc = raft__conf_appended(r, &ents[i]);
    return rc;
}

size_t raft__log_append(struct raft *r, const struct raft_entry *ents, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t first = ents[0].index;
    uint64_t last = raft__last_index(r);
    TR_ASSERT(first >= 1 && first <= last + 1);
    size_t keep = r->u.n;
    if (first <= last)
        keep = (r->u.n > 0 && first >= r->u.offset) ? (size_t)(first - r->u.offset) : 0;
    else if (r->u.n == 0)
        keep = 0;
    size_t k = append_room(r, keep, ents, n);
    if (k == 0)
        return 0;
    uint8_t *copies[64];
    size_t done = 0;
    while (done < k) {
        size_t chunk = k - done < 64 ? k - done : 64;
        size_t got = copy_data(ents + done, chunk, copies);
        if (got == 0)
            break;
        if (done == 0 && first <= last)
            truncate_from(r, first);
        else if (done == 0 && r->u.n == 0)
            r->u.offset = first;
        int rc = install(r, ents + done, got, copies);
        done += got;
        if (rc != TR_OK) {
            log_fail(r, rc);
            break;
        }
        if (got < chunk)
            break;
    }
    return done;
}

void raft__unstable_persisted(struct raft *r, size_t n)
{
    TR_ASSERT(n <= r->u.n);
    if (n == 0)
        return;
    r->stable_last = r->u.offset + n - 1;
    for (size_t i = 0; i < n; i++) {
        r->u.bytes -= r->u.ents[i].len;
        tr_free((void *)r->u.ents[i].data);
    }
    /* Entries proposed while the Ready was outstanding (raft_propose_early) stay unstable. */
    memmove(r->u.ents, r->u.ents + n, (r->u.n - n) * sizeof(*r->u.ents));
    memset(r->u.ents + (r->u.n - n), 0, n * sizeof(*r->u.ents));
    r->u.n -= n;
    r->u.offset = r->stable_last + 1;
}
