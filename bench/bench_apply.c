/* bench_apply.c — treaty-bench-apply: throughput of ledger_apply for record creates in batches
 * of 1, 64 and 256 txs (--batches), one process, a real LMDB env in a temporary folder with an
 * fsync per block (one write txn per block, as the store does). Entries are built and signed
 * before the clock starts. Default records: 1 KB of a one-type schema; --schema/--type/--key/
 * --body-file apply the records a network gets instead (bench_compare.py passes the Shipment
 * body treaty-loadgen sends, from `treaty-loadgen --print-body`). A body is applied as the API
 * writes an op's body: compact, keys sorted. Prints figures only.
 *
 *   treaty-bench-apply [TXS] [--txs N] [--batches 1,64,256] [--schema FILE --type NAME
 *       --key TEMPLATE --body-file FILE] [--json FILE]
 * TEMPLATE and the body may contain {n:8}: the tx number, zero-padded to 8 digits. */
#include "common/alloc.h"
#include "common/err.h"
#include "node/batch.h"
#include "node/ledger.h"
#include "schema/schema.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BATCHES 8
#define MAX_BODY    (1u << 20)
#define NUM_TAG     "{n:8}"
#define NUM_TAG_LEN 5

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{\"Doc\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"x-treaty-key\":\"id\",\"required\":[\"id\",\"data\"],"
    "\"properties\":{\"id\":{\"type\":\"string\"},\"data\":{\"type\":\"string\"}}}}}}";

struct opts {
    size_t total;
    size_t batches[MAX_BATCHES], n_batches;
    const char *schema_file, *type, *key, *body_file, *json;
    char *body; /* template, owned */
    size_t body_len;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
    char dir[64];
    MDB_env *env;
    struct ledger *l;
    uint8_t net[32], pk[32], sk[64];
    uint64_t height, seq, next;
};

static int bench_open(struct bench *b, const struct schema_network *sn)
{
    char err[256];
    MDB_txn *txn;
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/treaty-bench-apply-XXXXXX");
    if (!mkdtemp(b->dir))
        return TR_EIO;
    crypto_sign_keypair(b->pk, b->sk);
    memset(b->net, 1, sizeof b->net);
    struct ledger_member m = {"acme", {0}, 0, "127.0.0.1:7401"};
    memcpy(m.public_key, b->pk, 32);
    struct ledger_config cfg = {b->net, sn, &m, 1, 0, 0, BATCH_SIG_V2};
    if (mdb_env_create(&b->env) || mdb_env_set_maxdbs(b->env, 32) ||
        mdb_env_set_mapsize(b->env, (size_t)4 << 30) || mdb_env_open(b->env, b->dir, 0, 0600) ||
        mdb_txn_begin(b->env, NULL, 0, &txn))
        return TR_EIO;
    int rc = ledger_open(b->env, txn, &cfg, &b->l, err, sizeof err);
    if (rc != TR_OK) {
        fprintf(stderr, "bench: %s\n", err);
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn) ? TR_EIO : TR_OK;
}

static void bench_close(struct bench *b)
{
    char cmd[128];
    ledger_destroy(b->l);
    mdb_env_close(b->env);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", b->dir);
}

/* Renders tmpl (len bytes) with each {n:8} replaced by k, zero-padded; out has room for
 * len + 16 * (number of tags) bytes. Returns the length. */
static size_t render(const char *tmpl, size_t len, unsigned long long k, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (len - i >= NUM_TAG_LEN && memcmp(tmpl + i, NUM_TAG, NUM_TAG_LEN) == 0) {
            o += (size_t)sprintf(out + o, "%08llu", k);
            i += NUM_TAG_LEN;
        } else {
            out[o++] = tmpl[i++];
        }
    }
    out[o] = '\0';
    return o;
}

/* Builds one entry of n creates of the options' records. */
static int bench_entry(struct bench *b, const struct opts *o, size_t n, uint8_t **out, size_t *len)
{
    size_t key_cap = strlen(o->key) * 4 + 32, body_cap = o->body_len * 4 + 32;
    struct batch_tx *txs = calloc(n, sizeof *txs);
    struct batch_op *ops = calloc(n, sizeof *ops);
    char *keys = calloc(n, key_cap), *bodies = calloc(n, body_cap);
    int rc = TR_ENOMEM;
    if (txs && ops && keys && bodies) {
        for (size_t i = 0; i < n; i++) {
            unsigned long long k = ++b->next;
            char *key = keys + i * key_cap, *body = bodies + i * body_cap;
            render(o->key, strlen(o->key), k, key);
            size_t bl = render(o->body, o->body_len, k, body);
            ops[i] = (struct batch_op){BATCH_OP_CREATE, o->type, key, 0, body, bl};
            snprintf(txs[i].id, sizeof txs[i].id, "%032llx", k);
            txs[i].ops = &ops[i];
            txs[i].n_ops = 1;
        }
        rc = batch_build_entry(b->net, BATCH_SIG_V2, "acme", ++b->seq, b->sk, txs, n, out, len);
    }
    free(txs);
    free(ops);
    free(keys);
    free(bodies);
    return rc;
}

/* One run: `total` txs in blocks of per_batch; appends {batch, txs, seconds, txs_per_s} to runs. */
static int bench_run(const struct schema_network *sn, const struct opts *o, size_t per_batch,
                     size_t total, json_t *runs)
{
    struct bench b;
    memset(&b, 0, sizeof b);
    size_t blocks = total / per_batch ? total / per_batch : 1;
    uint8_t **ents = calloc(blocks, sizeof *ents);
    size_t *lens = calloc(blocks, sizeof *lens);
    int rc = ents && lens ? bench_open(&b, sn) : TR_ENOMEM;
    for (size_t i = 0; rc == TR_OK && i < blocks; i++)
        rc = bench_entry(&b, o, per_batch, &ents[i], &lens[i]);
    double t0 = now_s();
    size_t committed = 0;
    for (size_t i = 0; rc == TR_OK && i < blocks; i++) {
        MDB_txn *txn;
        struct ledger_block_outcome out;
        struct raft_entry e = {++b.height, 1, RAFT_ENTRY_NORMAL, ents[i], lens[i]};
        if (mdb_txn_begin(b.env, NULL, 0, &txn)) {
            rc = TR_EIO;
            break;
        }
        rc = ledger_apply(b.l, txn, &e, &out);
        if (rc != TR_OK) {
            fprintf(stderr, "bench: %s\n", ledger_errmsg(b.l));
            mdb_txn_abort(txn);
            break;
        }
        for (size_t j = 0; j < out.n_txs; j++)
            committed += (size_t)out.txs[j].committed;
        if (mdb_txn_commit(txn)) /* fsync */
            rc = TR_EIO;
    }
    double secs = now_s() - t0;
    if (rc == TR_OK && committed != blocks * per_batch) {
        fprintf(stderr, "bench: only %zu of %zu txs committed (is the record valid?)\n", committed,
                blocks * per_batch);
        rc = TR_EINVAL;
    }
    if (rc == TR_OK)
        json_array_append_new(
            runs, json_pack("{s:I, s:I, s:I, s:f, s:f}", "batch", (json_int_t)per_batch, "txs",
                            (json_int_t)(blocks * per_batch), "blocks", (json_int_t)blocks,
                            "seconds", secs, "txs_per_s", (double)(blocks * per_batch) / secs));
    if (rc == TR_OK)
        printf("batch %4zu txs: %6zu txs (%zu committed) in %zu blocks, %7.3f s: %10.0f txs/s "
               "%8.0f blocks/s\n",
               per_batch, blocks * per_batch, committed, blocks, secs,
               (double)(blocks * per_batch) / secs, (double)blocks / secs);
    for (size_t i = 0; ents && i < blocks; i++)
        tr_free(ents[i]);
    free(ents);
    free(lens);
    if (b.env)
        bench_close(&b);
    return rc;
}

static int usage_error(const char *what, const char *val)
{
    fprintf(stderr,
            "treaty-bench-apply: %s%s%s\nusage: treaty-bench-apply [TXS] [--txs N] [--batches "
            "1,64,256] [--schema FILE --type NAME --key TEMPLATE --body-file FILE] [--json FILE]\n",
            what, val ? " " : "", val ? val : "");
    return 2;
}

static int parse_count(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || v < lo || v > hi)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_batches(const char *s, struct opts *o)
{
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    o->n_batches = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (o->n_batches == MAX_BATCHES || parse_count(t, 1, 65536, &o->batches[o->n_batches++]))
            return -1;
    return o->n_batches ? 0 : -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(MAX_BODY + 1) : NULL;
    if (buf) {
        *len = fread(buf, 1, MAX_BODY + 1, f);
        if (ferror(f) || *len > MAX_BODY) {
            free(buf);
            buf = NULL;
        } else {
            buf[*len] = '\0';
        }
    }
    if (f)
        fclose(f);
    return buf;
}

/* The body as a network's ledger gets it: the API writes an op's body compactly with keys sorted
 * (the text the apply stores without serializing it again). A body that is not a JSON object is
 * kept as it is: the ledger refuses it. */
static void canonical_body(struct opts *o)
{
    json_t *doc = json_loadb(o->body, o->body_len, JSON_REJECT_DUPLICATES, NULL);
    size_t len = 0;
    char *text = json_is_object(doc) ? schema_json_dumps(doc, true, &len) : NULL;
    json_decref(doc);
    if (text) {
        free(o->body);
        o->body = text;
        o->body_len = len;
    }
}

static int opts_parse(int argc, char **argv, struct opts *o)
{
    o->total = 2048;
    o->batches[0] = 1, o->batches[1] = 64, o->batches[2] = 256, o->n_batches = 3;
    o->type = "Doc";
    o->key = "doc-" NUM_TAG;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **str = strcmp(a, "--schema") == 0      ? &o->schema_file
                           : strcmp(a, "--type") == 0      ? &o->type
                           : strcmp(a, "--key") == 0       ? &o->key
                           : strcmp(a, "--body-file") == 0 ? &o->body_file
                           : strcmp(a, "--json") == 0      ? &o->json
                                                           : NULL;
        if (a[0] != '-' && i == 1) {
            if (parse_count(a, 1, 100000000, &o->total))
                return usage_error("TXS must be 1..100000000, not", a);
            continue;
        }
        if (!v && (str || !strcmp(a, "--txs") || !strcmp(a, "--batches")))
            return usage_error(a, "needs a value");
        if (str)
            *str = v;
        else if (strcmp(a, "--txs") == 0 && parse_count(v, 1, 100000000, &o->total))
            return usage_error("--txs must be 1..100000000, not", v);
        else if (strcmp(a, "--batches") == 0 && parse_batches(v, o))
            return usage_error("--batches: expected up to 8 sizes 1..65536, not", v);
        else if (strcmp(a, "--txs") && strcmp(a, "--batches"))
            return usage_error("unknown option", a);
        i++;
    }
    if (!o->schema_file != !o->body_file)
        return usage_error("--schema and --body-file go together", NULL);
    if (o->body_file) {
        o->body = slurp(o->body_file, &o->body_len);
        if (!o->body || o->body_len == 0) {
            free(o->body);
            return usage_error("cannot read a body of 1 byte to 1 MB from", o->body_file);
        }
    } else {
        o->body = malloc(1100);
        if (!o->body)
            return 1;
        o->body_len = (size_t)snprintf(o->body, 1100,
                                       "{\"id\":\"doc-" NUM_TAG "\",\"data\":\"%0*d\"}", 1000, 7);
    }
    canonical_body(o);
    return 0;
}

static json_t *schema_doc(const struct opts *o)
{
    json_error_t jerr;
    json_t *doc = o->schema_file ? json_load_file(o->schema_file, 0, &jerr)
                                 : json_loads(schema_text, 0, &jerr);
    if (!doc)
        fprintf(stderr, "treaty-bench-apply: %s:%d: %s\n",
                o->schema_file ? o->schema_file : "schema", jerr.line, jerr.text);
    return doc;
}

int main(int argc, char **argv)
{
    char err[256];
    struct opts o;
    memset(&o, 0, sizeof o);
    int ex = opts_parse(argc, argv, &o);
    if (ex)
        return ex;
    json_t *doc = schema_doc(&o), *runs = json_array();
    struct schema_network *sn = NULL;
    if (sodium_init() < 0 || !doc || !runs ||
        schema_network_load(doc, NULL, &sn, err, sizeof err) != TR_OK) {
        fprintf(stderr, "treaty-bench-apply: setup failed%s%s\n", sn || !doc ? "" : ": ",
                sn || !doc ? "" : err);
        json_decref(doc);
        json_decref(runs);
        free(o.body);
        return 1;
    }
    json_decref(doc);
    size_t blen;
    char *first = malloc(o.body_len * 4 + 32);
    blen = first ? render(o.body, o.body_len, 1, first) : 0;
    free(first);
    printf("ledger_apply, %s creates of %zu bytes, LMDB with fsync per block, %zu txs per run\n",
           o.type, blen, o.total);
    int rc = TR_OK;
    double best = 0;
    for (size_t i = 0; rc == TR_OK && i < o.n_batches; i++) {
        size_t per = o.batches[i];
        rc = bench_run(sn, &o, per, per == 1 && o.total > 512 ? 512 : o.total, runs);
    }
    for (size_t i = 0; i < json_array_size(runs); i++) {
        double r = json_real_value(json_object_get(json_array_get(runs, i), "txs_per_s"));
        best = r > best ? r : best;
    }
    schema_network_destroy(sn);
    if (rc != TR_OK)
        fprintf(stderr, "treaty-bench-apply: %s\n", tr_strerror(rc));
    else if (o.json) {
        json_t *rep =
            json_pack("{s:s, s:I, s:o, s:f}", "type", o.type, "record_bytes", (json_int_t)blen,
                      "runs", json_incref(runs), "best_txs_per_s", best);
        if (!rep || json_dump_file(rep, o.json, JSON_INDENT(2)) != 0) {
            fprintf(stderr, "treaty-bench-apply: cannot write %s\n", o.json);
            rc = TR_EIO;
        }
        json_decref(rep);
    }
    json_decref(runs);
    free(o.body);
    return rc == TR_OK ? 0 : 1;
}
