/* driver_members.c — keeps the node's links and the Raft configuration in step with the ledger's
 * member list, which only governance txs change: links accept exactly the current members' keys;
 * the leader adds a newly approved org as a learner, promotes it to voter once it has caught up,
 * and removes a removed org, one change at a time (Raft dissertation §4.1, §4.2.1). A node that
 * finds its own org removed stops. Also signs checkpoints when the ledger says one is due. */
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "node/batch.h"
#include "node/driver_int.h"
#include "node/failpoint.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_host_port(const char *s, struct net_peer *p)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof p->host)
        return TR_EINVAL;
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || port == 0 || port > 65535)
        return TR_EINVAL;
    memcpy(p->host, s, (size_t)(colon - s));
    p->host[colon - s] = '\0';
    p->port = (uint16_t)port;
    return TR_OK;
}

static int members_read(struct driver *d, struct ledger_member **m, size_t *n)
{
    MDB_txn *rtxn = NULL;
    int rc = store_read_begin(d->store, &rtxn);
    if (rc != TR_OK)
        return rc;
    rc = ledger_members(d->ledger, rtxn, m, n);
    store_read_end(d->store, rtxn);
    return rc;
}

/* Loads the next key `treaty key rotate` prepared and makes it the node's key if it is `pk`.
 * TR_OK, or TR_ENOTFOUND (no such next key) with err saying so. */
static int key_take_next(struct driver *d, const uint8_t pk[32], char *err, size_t errlen)
{
    char next_dir[4200], next_key[4300], key[4300];
    snprintf(next_dir, sizeof next_dir, "%s/%s", d->dir, DRIVER_NEXT_KEY_DIR);
    snprintf(next_key, sizeof next_key, "%s/node.key", next_dir);
    snprintf(key, sizeof key, "%s/node.key", d->dir);
    struct identity next;
    int rc = identity_load(next_dir, d->cfg.org, &next, err, errlen);
    if (rc != TR_OK || memcmp(next.pk, pk, 32) != 0) {
        identity_wipe(&next);
        snprintf(err, errlen,
                 "the ledger holds another key for org %s than %s/node.key, and %s/node.key "
                 "is not it either; this node cannot sign for its org",
                 d->cfg.org, d->dir, next_dir);
        return TR_ENOTFOUND;
    }
    if (rename(next_key, key) != 0) {
        identity_wipe(&next);
        snprintf(err, errlen, "cannot move %s to %s", next_key, key);
        return TR_EIO;
    }
    (void)rmdir(next_dir);
    identity_wipe(&d->id);
    d->id = next;
    char hex[65];
    tr_hex_encode(pk, 32, hex);
    tr_log(TR_LOG_INFO, "key_rotated", "org=%s public_key=%s", d->cfg.org, hex);
    return TR_OK;
}

/* A ROTATE_KEY tx of this org was applied while running: switch keys and reopen the links. */
static void key_switch(struct driver *d, const uint8_t pk[32])
{
    char err[1024];
    if (key_take_next(d, pk, err, sizeof err) != TR_OK)
        driver__fatal(d, "key rotation", err);
    driver__links_restart(d);
}

int driver__identity_check(struct driver *d, char *err, size_t errlen)
{
    struct ledger_member *m = NULL;
    size_t n = 0;
    int rc = members_read(d, &m, &n);
    if (rc != TR_OK) {
        snprintf(err, errlen, "cannot read the members: %s", tr_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (m[i].node_id != d->self_id)
            continue;
        if (memcmp(m[i].public_key, d->id.pk, 32) != 0) /* rotated while the node was down */
            rc = key_take_next(d, m[i].public_key, err, errlen);
        if (rc == TR_OK)
            d->was_member = true;
        break;
    }
    tr_free(m);
    return rc == TR_OK ? TR_OK : TR_EDENIED;
}

int driver__members_refresh(struct driver *d)
{
    struct ledger_member *m = NULL;
    size_t n = 0;
    int rc = members_read(d, &m, &n);
    if (rc != TR_OK)
        return rc;
    struct net_peer *peers = tr_calloc(n ? n : 1, sizeof *peers);
    if (!peers) {
        tr_free(m);
        return TR_ENOMEM;
    }
    size_t np = 0;
    bool self = false;
    for (size_t i = 0; i < n; i++) {
        if (m[i].node_id == d->self_id) {
            self = true;
            if (memcmp(m[i].public_key, d->id.pk, 32) != 0)
                key_switch(d, m[i].public_key);
            continue;
        }
        peers[np].id = m[i].node_id;
        memcpy(peers[np].ed_pk, m[i].public_key, 32);
        if (parse_host_port(m[i].peer, &peers[np]) != TR_OK) {
            tr_log(TR_LOG_WARN, "member_bad_peer", "org=%s peer=%s", m[i].org, m[i].peer);
            continue;
        }
        np++;
    }
    rc = d->net ? net_peers_set(d->net, peers, np) : TR_OK; /* reopened links reread it */
    tr_free(peers);
    tr_free(m);
    if (self)
        d->was_member = true;
    else if (d->was_member) {
        tr_log(TR_LOG_WARN, "removed", "org=%s", d->cfg.org);
        fprintf(stderr,
                "treaty node: org %s was removed from the network by governance; the "
                "node stops\n",
                d->cfg.org);
        d->stopping = true;
        d->exit_code = 0;
        uv_stop(&d->loop);
    }
    return rc;
}

static bool member_listed(const struct ledger_member *m, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].node_id == id)
            return true;
    return false;
}

static void propose_conf(struct driver *d, enum raft_conf_op op, uint64_t id, const char *what)
{
    if (d->persisting)
        return; /* the core takes no event now; the next members tick proposes again */
    int rc = raft_propose_conf(d->raft, op, id, NULL);
    if (rc == TR_OK)
        tr_log(TR_LOG_INFO, "membership", "change=%s node=%" PRIu64, what, id);
    else if (rc != TR_EBUSY)
        tr_log(TR_LOG_WARN, "membership_refused", "change=%s node=%" PRIu64 " err=%s", what, id,
               tr_strerror(rc));
    driver__pump_kick(d);
}

/* Leader only: at most one configuration change per call, and none while one is uncommitted. */
void driver__members_tick(struct driver *d)
{
    if (d->role != RAFT_LEADER)
        return;
    struct raft_status st;
    raft_status_get(d->raft, &st);
    if (st.conf_pending)
        return;
    struct ledger_member *m = NULL;
    size_t n = 0;
    if (members_read(d, &m, &n) != TR_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = m[i].node_id;
        if (!raft_conf_is_voter(&st.conf, id) && !raft_conf_is_learner(&st.conf, id)) {
            propose_conf(d, RAFT_CONF_ADD_LEARNER, id, "add-learner");
            goto done;
        }
    }
    for (uint32_t i = 0; i < st.conf.n_learners; i++) {
        uint64_t id = st.conf.learners[i];
        struct raft_progress_info pi;
        if (!member_listed(m, n, id)) {
            propose_conf(d, RAFT_CONF_REMOVE, id, "remove");
            goto done;
        }
        /* Caught up: within one append window of the leader's commit. */
        if (raft_progress_get(d->raft, id, &pi) == TR_OK && pi.match + 64 >= st.commit &&
            pi.recent_active) {
            propose_conf(d, RAFT_CONF_PROMOTE, id, "promote");
            goto done;
        }
    }
    for (uint32_t i = 0; i < st.conf.n_voters; i++) {
        if (!member_listed(m, n, st.conf.voters[i])) {
            propose_conf(d, RAFT_CONF_REMOVE, st.conf.voters[i], "remove");
            goto done;
        }
    }
done:
    tr_free(m);
}

/* Signs checkpoint `height` and orders our Cosign tx for it. The ledger records one cosignature
 * per org and checkpoint, so a resend that races a late original is refused as a duplicate. */
static void cosign_send(struct driver *d, uint64_t height)
{
    MDB_txn *rtxn = NULL;
    uint8_t *cp = NULL, *entry = NULL, sig[64];
    size_t cp_len = 0, len = 0;
    if (store_read_begin(d->store, &rtxn) != TR_OK)
        return;
    int rc = ledger_checkpoint_sign(d->ledger, rtxn, height, d->id.sk, &cp, &cp_len, sig);
    store_read_end(d->store, rtxn);
    if (rc == TR_OK) {
        uint64_t seq = driver__next_seq(d);
        uint8_t raw[16];
        char tx_id[33];
        randombytes_buf(raw, sizeof raw);
        tr_hex_encode(raw, sizeof raw, tx_id);
        rc = batch_build_cosign_entry(d->genesis->network_id, genesis_batch_sig(d->genesis),
                                      d->cfg.org, seq, d->id.sk, tx_id, cp, cp_len, sig, &entry,
                                      &len);
    }
    tr_free(cp);
    FAILPOINT_IF(rc == TR_OK, CHECKPOINT_SIGNED);
    if (rc != TR_OK) {
        tr_log(TR_LOG_WARN, "cosign_failed", "height=%" PRIu64 " err=%s", height, tr_strerror(rc));
        return;
    }
    driver__order(d, entry, len);
    tr_free(entry);
}

/* The slot remembering sends of checkpoint `height`: its own, else the lowest height's. */
static struct driver_cosign *cosign_slot(struct driver *d, uint64_t height)
{
    struct driver_cosign *low = &d->cosigns[0];
    for (size_t i = 0; i < DRIVER_COSIGN_WINDOW; i++) {
        if (d->cosigns[i].height == height)
            return &d->cosigns[i];
        if (d->cosigns[i].height < low->height)
            low = &d->cosigns[i];
    }
    *low = (struct driver_cosign){.height = height};
    return low;
}

/* How long after its tries-th send a cosignature not yet in the ledger is sent again. */
static uint64_t cosign_wait_ms(uint32_t tries)
{
    uint64_t w = (uint64_t)DRIVER_COSIGN_RESEND_MS << (tries > 6 ? 5 : tries - 1);
    return w < DRIVER_COSIGN_RESEND_MAX ? w : DRIVER_COSIGN_RESEND_MAX;
}

static void cosign_try(struct driver *d, uint64_t height, uint64_t now)
{
    struct driver_cosign *s = cosign_slot(d, height);
    if (s->tries && now - s->sent_ms < cosign_wait_ms(s->tries))
        return;
    if (s->tries && (s->tries < 8 || (s->tries & (s->tries - 1)) == 0))
        tr_log(TR_LOG_INFO, "cosign_resend", "height=%" PRIu64 " try=%" PRIu32, height,
               s->tries + 1);
    if (s->tries < UINT32_MAX)
        s->tries++;
    s->sent_ms = now;
    cosign_send(d, height);
}

void driver__checkpoint_due(struct driver *d, uint64_t height)
{
    cosign_try(d, height, driver__now_ms(d));
}

void driver__cosign_tick(struct driver *d)
{
    uint64_t now = driver__now_ms(d);
    if (now - d->cosign_check_ms < DRIVER_COSIGN_RESEND_MS / 3)
        return;
    d->cosign_check_ms = now;
    MDB_txn *rtxn = NULL;
    uint64_t owed[DRIVER_COSIGN_WINDOW];
    size_t n = 0;
    if (store_read_begin(d->store, &rtxn) != TR_OK)
        return;
    int rc = ledger_cosigns_owed(d->ledger, rtxn, d->cfg.org, DRIVER_COSIGN_WINDOW, owed, &n);
    store_read_end(d->store, rtxn);
    for (size_t i = 0; rc == TR_OK && i < n; i++)
        cosign_try(d, owed[i], now);
}

void driver__schema_refresh(struct driver *d)
{
    uint64_t version = 0;
    const struct schema_network *s = ledger_schema(d->ledger, &version);
    if (version == d->schema_version)
        return;
    d->schema_version = version;
    api_schema_set(d->api, s);
    tr_log(TR_LOG_INFO, "schema", "version=%" PRIu64 " types=%zu", version,
           schema_network_type_count(s));
}

json_t *driver__schema_precheck(struct driver *d, const json_t *doc)
{
    struct schema_limits lim;
    schema_limits_default(&lim);
    char err[256];
    struct schema_network *next = NULL;
    if (schema_network_load(doc, &lim, &next, err, sizeof err) != TR_OK)
        return json_pack("{s:s, s:s, s:i, s:s}", "type", "/problems/bad-schema", "title",
                         "The proposed schema does not compile", "status", 422, "detail", err);
    struct schema_changes ch = {0};
    json_t *errors = json_array(), *problem = NULL;
    if (schema_diff(ledger_schema(d->ledger, NULL), next, &ch) != TR_OK || !errors) {
        schema_network_destroy(next);
        json_decref(errors);
        return json_pack("{s:s, s:i, s:s}", "title", "Out of memory", "status", 503, "detail",
                         "out of memory");
    }
    for (size_t i = 0; i < ch.len; i++)
        if (ch.v[i].kind == SCHEMA_CHANGE_BREAKING)
            json_array_append_new(errors,
                                  json_pack("{s:s, s:s, s:s}", "schemaPath", ch.v[i].path, "rule",
                                            ch.v[i].rule, "message", ch.v[i].message));
    if (json_array_size(errors) > 0)
        problem =
            json_pack("{s:s, s:s, s:i, s:s, s:O}", "type", "/problems/breaking-schema-change",
                      "title", "The proposed schema change is breaking", "status", 422, "detail",
                      "schema evolution is additive: every change must be compatible "
                      "(schema diff); the errors list the breaking ones",
                      "errors", errors);
    else if (ch.len == 0)
        problem = json_pack("{s:s, s:s, s:i, s:s}", "type", "/problems/no-schema-change", "title",
                            "The proposed schema equals the schema in force", "status", 422,
                            "detail", "nothing to propose: schema diff finds no difference");
    json_decref(errors);
    schema_changes_free(&ch);
    schema_network_destroy(next);
    return problem;
}
