/* driver_metrics.c — the node's side of GET /readyz and GET /metrics: the api backend's
 * node_stats (Raft status, peer links, LMDB sizes, log flushes) and the driver's histograms: txs
 * per signed batch, commit latency, and the time and size of log writes and of applies. Observing
 * never allocates. Called on the loop's thread by driver_batch.c and by the api through struct
 * api_backend. */
#include "node/driver_int.h"

#include "common/err.h"

#include <lmdb.h>
#include <string.h>

static const double batch_txs_bounds[] = {1,   2,   4,    8,    16,    32,   64,
                                          128, 256, 1024, 4096, 16384, 65536};
static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};

#define N_BOUNDS(b) ((uint32_t)(sizeof(b) / sizeof((b)[0])))

static void histogram_init(struct api_histogram *h, const double *bounds, uint32_t n_bounds)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n_bounds = n_bounds;
}

void driver__metrics_init(struct driver *d)
{
    histogram_init(&d->batch_txs, batch_txs_bounds, N_BOUNDS(batch_txs_bounds));
    histogram_init(&d->commit_latency_seconds, latency_bounds, N_BOUNDS(latency_bounds));
    histogram_init(&d->persist_seconds, latency_bounds, N_BOUNDS(latency_bounds));
    histogram_init(&d->persist_entries, batch_txs_bounds, N_BOUNDS(batch_txs_bounds));
    histogram_init(&d->apply_seconds, latency_bounds, N_BOUNDS(latency_bounds));
    histogram_init(&d->apply_entries, batch_txs_bounds, N_BOUNDS(batch_txs_bounds));
}

void driver__metrics_batch(struct driver *d, size_t n_txs)
{
    api_histogram_observe(&d->batch_txs, (double)n_txs);
}

void driver__metrics_persisted(struct driver *d, size_t n_entries)
{
    api_histogram_observe(&d->persist_seconds, (double)(uv_hrtime() - d->persist_start_ns) / 1e9);
    api_histogram_observe(&d->persist_entries, (double)n_entries);
}

void driver__metrics_applied(struct driver *d, size_t n_blocks)
{
    api_histogram_observe(&d->apply_seconds, (double)(uv_hrtime() - d->apply_start_ns) / 1e9);
    api_histogram_observe(&d->apply_entries, (double)n_blocks);
}

void driver__metrics_committed(struct driver *d, uint64_t submit_ns)
{
    api_histogram_observe(&d->commit_latency_seconds, (double)(uv_hrtime() - submit_ns) / 1e9);
}

/* Whether the outbound link to `id` is up; this node counts as connected to itself. */
static bool link_up(const struct driver *d, uint64_t id)
{
    if (id == d->self_id)
        return true;
    struct net_peer_stats ps;
    return d->net && net_peer_stats(d->net, id, &ps) == TR_OK && ps.up;
}

static void stats_links(const struct driver *d, const struct raft_conf *conf,
                        struct api_node_stats *out)
{
    out->voters = conf->n_voters;
    for (uint32_t i = 0; i < conf->n_voters; i++) {
        if (!link_up(d, conf->voters[i]))
            continue;
        out->voters_connected++;
        if (conf->voters[i] != d->self_id)
            out->peers_connected++;
    }
    for (uint32_t i = 0; i < conf->n_learners; i++)
        if (conf->learners[i] != d->self_id && link_up(d, conf->learners[i]))
            out->peers_connected++;
}

/* mdb_env_info/mdb_env_stat of the store's environment: the map and the pages in use. */
static void stats_lmdb(struct driver *d, struct api_node_stats *out)
{
    MDB_env *env = d->store ? store_env(d->store) : NULL;
    MDB_envinfo info;
    MDB_stat st;
    if (!env || mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0)
        return;
    out->lmdb_map_bytes = info.me_mapsize;
    out->lmdb_used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

int driver__node_stats(void *ctx, struct api_node_stats *out)
{
    struct driver *d = ctx;
    if (!d->raft)
        return TR_ENOTFOUND;
    struct raft_status st;
    raft_status_get(d->raft, &st);
    out->term = st.term;
    out->role = raft_role_name(st.role);
    out->leader_known = st.leader != RAFT_NONE;
    out->commit_index = st.commit;
    out->applied_index = d->applied;
    stats_links(d, &st.conf, out);
    stats_lmdb(d, out);
    if (d->store)
        out->log_syncs = store_log_syncs(d->store);
    out->batch_txs = &d->batch_txs;
    out->commit_latency_seconds = &d->commit_latency_seconds;
    out->persist_seconds = &d->persist_seconds;
    out->persist_entries = &d->persist_entries;
    out->apply_seconds = &d->apply_seconds;
    out->apply_entries = &d->apply_entries;
    return TR_OK;
}
