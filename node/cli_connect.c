/* cli_connect.c — `treaty connect --config FILE`: runs the SaaS connectors of a config file as
 * a process of their own, next to a node, until SIGTERM or SIGINT. Fills in what connectors/
 * may not reach by itself: the connector's own LMDB environment (cursors, offsets, synced
 * hashes, dead letters; one fsync'd transaction per put) and libsodium's hashes and randomness. */
#include "cli.h"
#include "connectors/conn.h"

#include <curl/curl.h>
#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"

#define CONNECT_MAP_BYTES ((size_t)1 << 30)

struct cstore {
    MDB_env *env;
    MDB_dbi dbi;
};

static int cs_get(void *ctx, const char *key, char **val)
{
    struct cstore *s = ctx;
    MDB_txn *t;
    MDB_val k = {strlen(key), (void *)key}, v;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t) != 0)
        return TR_EIO;
    int rc = mdb_get(t, s->dbi, &k, &v);
    if (rc == 0) {
        *val = tr_strndup(v.mv_data, v.mv_size);
        rc = *val ? TR_OK : TR_ENOMEM;
    } else {
        rc = rc == MDB_NOTFOUND ? TR_ENOTFOUND : TR_EIO;
    }
    mdb_txn_abort(t);
    return rc;
}

static int cs_put(void *ctx, const struct conn_kv *kvs, size_t n)
{
    struct cstore *s = ctx;
    MDB_txn *t;
    if (mdb_txn_begin(s->env, NULL, 0, &t) != 0)
        return TR_EIO;
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {strlen(kvs[i].key), (void *)kvs[i].key};
        int rc;
        if (kvs[i].val) {
            MDB_val v = {strlen(kvs[i].val), (void *)kvs[i].val};
            rc = mdb_put(t, s->dbi, &k, &v, 0);
        } else {
            rc = mdb_del(t, s->dbi, &k, NULL);
            rc = rc == MDB_NOTFOUND ? 0 : rc;
        }
        if (rc != 0) {
            mdb_txn_abort(t);
            tr_log(TR_LOG_ERROR, "connect_store", "error=%s", mdb_strerror(rc));
            return rc == MDB_MAP_FULL ? TR_ELIMIT : TR_EIO;
        }
    }
    int rc = mdb_txn_commit(t);
    if (rc != 0) {
        tr_log(TR_LOG_ERROR, "connect_store", "commit_error=%s", mdb_strerror(rc));
        return TR_EIO;
    }
    return 0;
}

static int cs_scan(void *ctx, const char *prefix, size_t limit,
                   int (*fn)(void *arg, const char *key, const char *val), void *arg)
{
    struct cstore *s = ctx;
    MDB_txn *t;
    MDB_cursor *c;
    size_t pl = strlen(prefix), calls = 0;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t) != 0)
        return TR_EIO;
    if (mdb_cursor_open(t, s->dbi, &c) != 0) {
        mdb_txn_abort(t);
        return TR_EIO;
    }
    MDB_val k = {pl, (void *)prefix}, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && calls < limit && k.mv_size >= pl && memcmp(k.mv_data, prefix, pl) == 0) {
        char *ks = tr_strndup(k.mv_data, k.mv_size), *vs = tr_strndup(v.mv_data, v.mv_size);
        if (ks && vs)
            fn(arg, ks, vs);
        tr_free(ks);
        tr_free(vs);
        calls++;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(t);
    return 0;
}

static int cs_open(struct cstore *s, const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: %s", dir, strerror(errno));
        return TR_EIO;
    }
    MDB_txn *t;
    int rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, CONNECT_MAP_BYTES);
    if (rc == 0)
        rc = mdb_env_open(s->env, dir, 0, 0600);
    if (rc == 0 && (rc = mdb_txn_begin(s->env, NULL, 0, &t)) == 0) {
        rc = mdb_dbi_open(t, NULL, 0, &s->dbi);
        rc = rc == 0 ? mdb_txn_commit(t) : (mdb_txn_abort(t), rc);
    }
    if (rc != 0) {
        snprintf(err, errlen, "state_dir %s: %s", dir, mdb_strerror(rc));
        return TR_EIO;
    }
    return 0;
}

static void hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
                        uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, len);
    crypto_auth_hmacsha256_final(&st, out);
}

static void sha256(const uint8_t *msg, size_t len, uint8_t out[32])
{
    crypto_hash_sha256(out, msg, len);
}

static uint64_t random64(void)
{
    uint64_t v;
    randombytes_buf(&v, sizeof v);
    return v;
}

struct connect_run {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct conn_runner *runner;
};

static void on_signal(uv_signal_t *sig, int signum)
{
    struct connect_run *cr = sig->data;
    tr_log(TR_LOG_INFO, "connect_stop", "signal=%d", signum);
    conn_runner_stop(cr->runner);
    uv_close((uv_handle_t *)&cr->sigterm, NULL);
    uv_close((uv_handle_t *)&cr->sigint, NULL);
}

static void connect_help(FILE *out)
{
    fprintf(out, "usage: treaty connect --config FILE\n\n"
                 "Runs the SaaS connectors of FILE (Salesforce, HubSpot, SAP S/4HANA, outbound\n"
                 "webhooks) next to a node: inbound changes are written through the node's HTTP\n"
                 "API with idempotency keys, outbound changes are read from its event stream.\n"
                 "Cursors, offsets and dead letters live in the config's state_dir (an LMDB\n"
                 "environment). The status is served at GET /v1/connectors and GET /metrics on\n"
                 "status_listen. See docs/connectors.md.\n\n"
                 "Stops cleanly on SIGTERM or SIGINT. Exit codes: 0 stopped, 2 bad config or\n"
                 "usage (the message names the field), 3 runtime failure.\n");
}

static int run_connectors(struct conn_cfg *cfg, struct cstore *cs)
{
    struct conn_store st = {cs, cs_get, cs_put, cs_scan};
    struct conn_crypto cc = {hmac_sha256, sha256, random64};
    struct connect_run cr;
    int code = CLI_EXIT_RUNTIME;
    memset(&cr, 0, sizeof cr);
    uv_loop_init(&cr.loop);
    if (conn_runner_create(&cr.loop, cfg, &st, &cc, &cr.runner) < 0) {
        cli_errorf("connect: out of memory");
        goto out;
    }
    uv_signal_init(&cr.loop, &cr.sigterm);
    uv_signal_init(&cr.loop, &cr.sigint);
    cr.sigterm.data = cr.sigint.data = &cr;
    uv_signal_start(&cr.sigterm, on_signal, SIGTERM);
    uv_signal_start(&cr.sigint, on_signal, SIGINT);
    if (conn_runner_start(cr.runner) < 0) {
        cli_errorf("connect: status_listen %s:%d: cannot listen", cfg->status_host,
                   cfg->status_port);
        conn_runner_stop(cr.runner);
        uv_close((uv_handle_t *)&cr.sigterm, NULL);
        uv_close((uv_handle_t *)&cr.sigint, NULL);
    } else {
        tr_log(TR_LOG_INFO, "connect_start", "connectors=%zu status_port=%d", cfg->nconnectors,
               cfg->status_port);
        code = CLI_EXIT_OK;
    }
    uv_run(&cr.loop, UV_RUN_DEFAULT);
out:
    conn_runner_destroy(cr.runner);
    uv_loop_close(&cr.loop);
    return code;
}

int cli_cmd_connect(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        connect_help(stdout);
        return CLI_EXIT_OK;
    }
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--config") == 0)
            return cli_usage_error("connect", "--config needs a value");
        else
            return cli_usage_error("connect", "unknown option '%s'", argv[i]);
    }
    if (!path)
        return cli_usage_error("connect", "--config is required");
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        cli_errorf("connect: %s:%d: %s", path, jerr.line, jerr.text);
        return CLI_EXIT_USAGE;
    }
    struct conn_cfg *cfg = NULL;
    char err[512];
    int rc = conn_cfg_parse(doc, &cfg, err, sizeof err);
    json_decref(doc);
    if (rc < 0) {
        cli_errorf("connect: %s: %s", path, err);
        return rc == TR_ENOMEM ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
    }
    struct cstore cs = {0};
    int code = CLI_EXIT_RUNTIME;
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cli_errorf("connect: libsodium or libcurl failed to initialise");
    } else if (cs_open(&cs, cfg->state_dir, err, sizeof err) < 0) {
        cli_errorf("connect: %s", err);
        code = CLI_EXIT_USAGE;
    } else {
        code = run_connectors(cfg, &cs);
    }
    if (cs.env)
        mdb_env_close(cs.env);
    curl_global_cleanup();
    conn_cfg_destroy(cfg);
    return code;
}
