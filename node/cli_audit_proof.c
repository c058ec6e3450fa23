/* cli_audit_proof.c — `treaty audit checkpoint` (a checkpoint file to trust), `treaty audit
 * prove` (an inclusion proof file for a tx, against the latest cosigned checkpoint) and `treaty
 * audit check-proof` (offline). Formats and checks: docs/audit.md, node/audit_proof.h. */
#include "cli.h"
#include "common/err.h"
#include "node/audit.h"
#include "node/audit_proof.h"
#include "common/bytes.h"
#include "docs/audit.pb-c.h"
#include "node/ledger.pb-c.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct body {
    char *p;
    size_t len;
};

static size_t body_write(char *ptr, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t add = size * n;
    if (b->len + add > (64u << 20))
        return 0;
    char *q = realloc(b->p, b->len + add + 1);
    if (!q)
        return 0;
    memcpy(q + b->len, ptr, add);
    b->p = q;
    b->len += add;
    q[b->len] = '\0';
    return add;
}

/* GET node+path with the bearer key; 200 expected. A cli exit code; the body in *b (free b->p)
 * on success. */
static int get_body(const char *cmd, const char *node, const char *key, const char *path,
                    struct body *out)
{
    char url[2048], auth[1024], errbuf[CURL_ERROR_SIZE] = "";
    int n = snprintf(url, sizeof url, "%s%s", node, path);
    int m = snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    if (n < 0 || (size_t)n >= sizeof url || m < 0 || (size_t)m >= sizeof auth)
        return cli_usage_error(cmd, "--node or --key is too long");
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    struct body b = {NULL, 0};
    if (!c || !h) {
        curl_slist_free_all(h);
        if (c)
            curl_easy_cleanup(c);
        cli_errorf("%s: libcurl cannot start", cmd);
        return CLI_EXIT_RUNTIME;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    int code = CLI_EXIT_OK;
    if (cc != CURLE_OK) {
        cli_errorf("%s: %s: %s", cmd, url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        code = CLI_EXIT_RUNTIME;
    } else if (status != 200) {
        cli_errorf("%s: GET %s: %ld %.300s", cmd, url, status, b.p ? b.p : "");
        code = status == 400 || status == 401 || status == 403 || status == 404 ? CLI_EXIT_USAGE
                                                                                : CLI_EXIT_RUNTIME;
    }
    if (code != CLI_EXIT_OK) {
        free(b.p);
        return code;
    }
    *out = b;
    return CLI_EXIT_OK;
}

/* As get_body, the body a JSON object: *out. */
static int get_json(const char *cmd, const char *node, const char *key, const char *path,
                    json_t **out)
{
    struct body b = {NULL, 0};
    int code = get_body(cmd, node, key, path, &b);
    if (code != CLI_EXIT_OK)
        return code;
    json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        cli_errorf("%s: GET %s%s: the answer is not a JSON object", cmd, node, path);
        json_decref(j);
        code = CLI_EXIT_RUNTIME;
    }
    free(b.p);
    if (code == CLI_EXIT_OK)
        *out = j;
    return code;
}

/* Writes `o` to `path` atomically (tmp, fsync, rename). A cli exit code. */
static int write_json(const char *cmd, const char *path, const json_t *o)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return cli_usage_error(cmd, "--out is too long");
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        cli_errorf("%s: %s: %s", cmd, tmp, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    int bad = json_dumpf(o, f, JSON_INDENT(2) | JSON_ENSURE_ASCII) != 0 || fputc('\n', f) == EOF ||
              fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        cli_errorf("%s: %s: %s", cmd, path, strerror(errno));
        unlink(tmp);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

/* Reads a JSON file. A cli exit code (2 when unreadable or not JSON). */
static int read_json(const char *cmd, const char *path, json_t **out)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        cli_errorf("%s: %s: %s", cmd, path, je.text);
        return CLI_EXIT_USAGE;
    }
    *out = j;
    return CLI_EXIT_OK;
}

/* The latest checkpoint of the node, with the keys of its current members (GET
 * /v1/ledger/checkpoints/latest and /v1/members). Keeps only cosignatures that verify with those
 * keys, saying so for any other. A cli exit code. */
static int fetch_checkpoint(const char *cmd, const char *node, const char *key, struct audit_cp *cp)
{
    json_t *c = NULL, *m = NULL;
    int code = get_json(cmd, node, key, "/v1/ledger/checkpoints/latest", &c);
    if (code == CLI_EXIT_OK)
        code = get_json(cmd, node, key, "/v1/members", &m);
    char err[320] = "";
    if (code == CLI_EXIT_OK) {
        json_t *o = json_deep_copy(c);
        json_object_set(o, "cosignatures", json_object_get(c, "cosigners"));
        json_object_set_new(o, "format", json_string(AUDIT_CP_FORMAT));
        json_object_set(o, "members", json_object_get(m, "members"));
        if (!o || audit_cp_from_json(o, 1, cp, err, sizeof err) != TR_OK) {
            cli_errorf("%s: the node's checkpoint or members are unusable: %s", cmd, err);
            code = CLI_EXIT_RUNTIME;
        }
        json_decref(o);
    }
    json_decref(c);
    json_decref(m);
    if (code != CLI_EXIT_OK)
        return code;
    size_t kept = 0;
    for (size_t i = 0; i < cp->n_cosigs; i++) {
        const uint8_t *k = audit_cp_member_key(cp, cp->cosigs[i].org);
        if (k && audit_cp_sig_ok(cp, cp->cosigs[i].bytes, k))
            cp->cosigs[kept++] = cp->cosigs[i];
        else
            fprintf(stderr,
                    "%s: dropped the cosignature of %s: it does not verify with the member key "
                    "the node reports\n",
                    cmd, cp->cosigs[i].org);
    }
    cp->n_cosigs = kept;
    return CLI_EXIT_OK;
}

struct net_args {
    const char *node, *key, *out, *tx, *since, *export, *height, *record, *version;
    char tx_buf[33];
};

static int net_args_parse(const char *cmd, int argc, char **argv, int want_tx, struct net_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--node") == 0                 ? &a->node
                            : strcmp(argv[i], "--key") == 0                ? &a->key
                            : strcmp(argv[i], "--out") == 0                ? &a->out
                            : want_tx && strcmp(argv[i], "--tx") == 0      ? &a->tx
                            : want_tx && strcmp(argv[i], "--since") == 0   ? &a->since
                            : want_tx && strcmp(argv[i], "--record") == 0  ? &a->record
                            : want_tx && strcmp(argv[i], "--version") == 0 ? &a->version
                            : !want_tx && strcmp(argv[i], "--export") == 0 ? &a->export
                            : !want_tx && strcmp(argv[i], "--height") == 0 ? &a->height
                                                                           : NULL;
        if (!slot || i + 1 >= argc)
            return cli_usage_error(cmd, "unknown option or missing value '%s'", argv[i]);
        *slot = argv[++i];
    }
    if (!want_tx && a->out && (a->export != NULL) != (!a->node && !a->key))
        return cli_usage_error(cmd, "either --node and --key, or --export, with --out");
    if (a->height &&
        (!a->export || !a->height[0] || strspn(a->height, "0123456789") != strlen(a->height)))
        return cli_usage_error(cmd, "--height takes a height (digits), with --export");
    if (a->export && a->out)
        return CLI_EXIT_OK;
    if (want_tx && (a->tx != NULL) == (a->record != NULL))
        return cli_usage_error(cmd, "either --tx ID or --record TYPE/KEY is required");
    if (a->version &&
        (!a->record || !a->version[0] || a->version[0] == '0' ||
         strspn(a->version, "0123456789") != strlen(a->version) || strlen(a->version) > 19))
        return cli_usage_error(cmd, "--version takes a version (1 or more), with --record");
    if (a->record && (!strchr(a->record, '/') || a->record[0] == '/' ||
                      !strchr(a->record, '/')[1] || strlen(a->record) > 600))
        return cli_usage_error(cmd, "--record takes TYPE/KEY (e.g. Shipment/SHP-1)");
    if (!a->node || !a->key || !a->out)
        return cli_usage_error(cmd, "--node, --key and --out are required");
    if (a->tx && (strlen(a->tx) != 32 || strspn(a->tx, "0123456789abcdef") != 32))
        return cli_usage_error(cmd, "--tx takes a tx id (32 lowercase hex digits)");
    return CLI_EXIT_OK;
}

/* The checkpoint of a verified export (at a->height, else the last), with the member keys in
 * force at its height as replayed from the genesis. A cli exit code. */
static int export_checkpoint(const char *cmd, const struct net_args *a, struct audit_cp *cp)
{
    struct audit_capture *cap = calloc(1, sizeof *cap);
    FILE *f = fopen(a->export, "rb");
    if (!cap || !f) {
        cli_errorf("%s: %s: %s", cmd, a->export, strerror(errno));
        free(cap);
        if (f)
            fclose(f);
        return CLI_EXIT_USAGE;
    }
    cap->want_height = a->height ? strtoull(a->height, NULL, 10) : 0;
    struct audit_report rep;
    char err[512] = "";
    int rc = audit_verify_file_ex(f, NULL, cap, &rep, err, sizeof err);
    int io = ferror(f), code = CLI_EXIT_OK;
    fclose(f);
    if (rc == TR_ENOMEM || io) {
        cli_errorf("%s: %s: %s", cmd, a->export, io ? "read error" : tr_strerror(rc));
        code = CLI_EXIT_RUNTIME;
    } else if (rc != TR_OK) {
        cli_errorf("%s: %s: %s", cmd, a->export, err);
        code = CLI_EXIT_USAGE;
    } else if (!rep.ok) {
        cli_errorf("%s: %s does not verify: FAILED at height %llu: %s: %s", cmd, a->export,
                   (unsigned long long)rep.fail_height, rep.fail_what, rep.fail_why);
        code = CLI_EXIT_FALSE;
    } else if (!cap->found) {
        cli_errorf("%s: %s has no checkpoint%s%s", cmd, a->export, a->height ? " at height " : "",
                   a->height ? a->height : "");
        code = CLI_EXIT_FALSE;
    } else {
        *cp = cap->cp;
        if (cap->dropped)
            fprintf(stderr,
                    "%s: left out %zu cosignatures that do not verify with the keys in force at "
                    "height %llu\n",
                    cmd, cap->dropped, (unsigned long long)cp->height);
    }
    audit_report_free(&rep);
    free(cap);
    return code;
}

static int audit_checkpoint(int argc, char **argv)
{
    const char *cmd = "audit checkpoint";
    struct net_args a;
    int code = net_args_parse(cmd, argc, argv, 0, &a);
    if (code != CLI_EXIT_OK)
        return code;
    struct audit_cp *cp = calloc(1, sizeof *cp);
    if (!cp)
        return CLI_EXIT_RUNTIME;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    code = a.export ? export_checkpoint(cmd, &a, cp) : fetch_checkpoint(cmd, a.node, a.key, cp);
    json_t *o = code == CLI_EXIT_OK ? audit_cp_to_json(cp, 1) : NULL;
    if (code == CLI_EXIT_OK && !o)
        code = CLI_EXIT_RUNTIME;
    if (code == CLI_EXIT_OK)
        code = write_json(cmd, a.out, o);
    if (code == CLI_EXIT_OK)
        printf("wrote %s: checkpoint %" PRIu64 " (tree of %" PRIu64 " leaves), %zu cosignatures, "
               "%zu members\n",
               a.out, cp->height, cp->tree_size, cp->n_cosigs, cp->n_members);
    json_decref(o);
    free(cp);
    curl_global_cleanup();
    return code;
}

static json_t *hashes_json(const json_t *a)
{
    return json_is_array(a) ? json_deep_copy(a) : json_array();
}

/* The proof file of tx a->tx against checkpoint cp (and, with --since, the consistency proof from
 * the trusted checkpoint's tree). A cli exit code; the JSON in *out. */
static int build_proof(const char *cmd, const struct net_args *a, const struct audit_cp *cp,
                       const struct audit_cp *since, json_t **out)
{
    char path[256];
    json_t *inc = NULL, *cons = NULL;
    snprintf(path, sizeof path, "/v1/ledger/proofs/inclusion?tx=%s&tree_size=%" PRIu64, a->tx,
             cp->tree_size);
    int code = get_json(cmd, a->node, a->key, path, &inc);
    if (code == CLI_EXIT_USAGE) {
        cli_errorf("%s: tx %s is unknown, or not yet in the tree of checkpoint %" PRIu64
                   " (%" PRIu64 " leaves): prove it after the next checkpoint",
                   cmd, a->tx, cp->height, cp->tree_size);
        return code;
    }
    if (code == CLI_EXIT_OK && since && since->height != cp->height) {
        snprintf(path, sizeof path,
                 "/v1/ledger/proofs/consistency?first=%" PRIu64 "&second=%" PRIu64,
                 since->tree_size, cp->tree_size);
        code = get_json(cmd, a->node, a->key, path, &cons);
    }
    if (code != CLI_EXIT_OK) {
        json_decref(inc);
        return code;
    }
    json_t *o = json_pack("{ss sO sO sO sO sO so so}", "format", AUDIT_PROOF_FORMAT, "tx",
                          json_object_get(inc, "tx"), "leaf", json_object_get(inc, "leaf"),
                          "leaf_index", json_object_get(inc, "leaf_index"), "tree_size",
                          json_object_get(inc, "tree_size"), "root", json_object_get(inc, "root"),
                          "inclusion_path", hashes_json(json_object_get(inc, "proof")),
                          "checkpoint", audit_cp_to_json(cp, 0));
    if (o && cons)
        json_object_set_new(o, "consistency",
                            json_pack("{sI so}", "from_tree_size", (json_int_t)since->tree_size,
                                      "proof", hashes_json(json_object_get(cons, "proof"))));
    json_decref(inc);
    json_decref(cons);
    if (!o) {
        cli_errorf("%s: the node's inclusion proof is unusable", cmd);
        return CLI_EXIT_RUNTIME;
    }
    *out = o;
    return CLI_EXIT_OK;
}

/* The encoded Tx `tx_id` of block `height`, from the node's export of that one block: the tx as
 * its org signed it in the block's batch, re-encoded as the ledger hashed it. */
static int block_tx(const char *cmd, const struct net_args *a, uint64_t height, const char *tx_id,
                    uint8_t **out, size_t *len)
{
    char path[128];
    struct body b = {NULL, 0};
    snprintf(path, sizeof path, "/v1/ledger/export?from=%" PRIu64 "&to=%" PRIu64, height, height);
    int code = get_body(cmd, a->node, a->key, path, &b);
    if (code != CLI_EXIT_OK)
        return code;
    code = CLI_EXIT_RUNTIME;
    for (size_t off = 0; off < b.len && code != CLI_EXIT_OK;) {
        uint64_t n = 0;
        unsigned shift = 0;
        while (off < b.len && shift < 64) {
            uint8_t c = (uint8_t)b.p[off++];
            n |= (uint64_t)(c & 0x7f) << shift;
            shift += 7;
            if (!(c & 0x80))
                break;
        }
        if (n > b.len - off)
            break;
        Treaty__Audit__ExportRecord *r =
            treaty__audit__export_record__unpack(NULL, (size_t)n, (const uint8_t *)b.p + off);
        off += (size_t)n;
        Treaty__Ledger__Entry *e =
            r && r->kind_case == TREATY__AUDIT__EXPORT_RECORD__KIND_BLOCK
                ? treaty__ledger__entry__unpack(NULL, r->block->entry_data.len,
                                                r->block->entry_data.data)
                : NULL;
        Treaty__Ledger__Batch *bt =
            e && e->batch
                ? treaty__ledger__batch__unpack(NULL, e->batch->batch.len, e->batch->batch.data)
                : NULL;
        for (size_t i = 0; bt && i < bt->n_txs && code != CLI_EXIT_OK; i++) {
            if (strcmp(bt->txs[i]->id, tx_id) != 0)
                continue;
            *len = treaty__ledger__tx__get_packed_size(bt->txs[i]);
            *out = malloc(*len ? *len : 1);
            if (*out) {
                treaty__ledger__tx__pack(bt->txs[i], *out);
                code = CLI_EXIT_OK;
            }
        }
        if (bt)
            treaty__ledger__batch__free_unpacked(bt, NULL);
        if (e)
            treaty__ledger__entry__free_unpacked(e, NULL);
        if (r)
            treaty__audit__export_record__free_unpacked(r, NULL);
    }
    free(b.p);
    if (code != CLI_EXIT_OK)
        cli_errorf("%s: block %" PRIu64 " of the node's export holds no tx %s", cmd, height, tx_id);
    return code;
}

/* For --record TYPE/KEY [--version N]: the record version's metadata from the node, the id of
 * the tx that wrote it (into a->tx) and that tx, as the proof's "record" member in *rec. */
static int record_lookup(const char *cmd, struct net_args *a, json_t **rec)
{
    const char *slash = strchr(a->record, '/');
    char type[128], path[2048];
    size_t tl = (size_t)(slash - a->record);
    if (tl >= sizeof type)
        return cli_usage_error(cmd, "--record: the type name is too long");
    memcpy(type, a->record, tl);
    type[tl] = '\0';
    char *key = curl_easy_escape(NULL, slash + 1, 0);
    if (!key)
        return CLI_EXIT_RUNTIME;
    snprintf(path, sizeof path, "/v1/data/%s/%s%s%s", type, key, a->version ? "?version=" : "",
             a->version ? a->version : "");
    curl_free(key);
    json_t *r = NULL;
    int code = get_json(cmd, a->node, a->key, path, &r);
    const char *tx = json_string_value(json_object_get(r, "_tx"));
    json_int_t version = json_integer_value(json_object_get(r, "_version"));
    json_int_t height = json_integer_value(json_object_get(r, "_height"));
    if (code == CLI_EXIT_OK && (!tx || strlen(tx) != 32 || version < 1 || height < 1)) {
        cli_errorf("%s: the node's record %s has no usable _tx, _version and _height", cmd,
                   a->record);
        code = CLI_EXIT_RUNTIME;
    }
    uint8_t *txb = NULL;
    size_t txl = 0;
    if (code == CLI_EXIT_OK) {
        memcpy(a->tx_buf, tx, 33);
        a->tx = a->tx_buf;
        code = block_tx(cmd, a, (uint64_t)height, a->tx, &txb, &txl);
    }
    json_decref(r);
    if (code != CLI_EXIT_OK)
        return code;
    char *hex = malloc(2 * txl + 1);
    if (hex)
        tr_hex_encode(txb, txl, hex);
    *rec = hex ? json_pack("{ss# ss sI ss}", "type", type, tl, "key", slash + 1, "version", version,
                           "tx", hex)
               : NULL;
    free(hex);
    free(txb);
    return *rec ? CLI_EXIT_OK : CLI_EXIT_RUNTIME;
}

static int load_cp_file(const char *cmd, const char *path, struct audit_cp *cp)
{
    json_t *j = NULL;
    char err[320] = "";
    int code = read_json(cmd, path, &j);
    if (code == CLI_EXIT_OK && audit_cp_from_json(j, 1, cp, err, sizeof err) != TR_OK) {
        cli_errorf("%s: %s: %s", cmd, path, err);
        code = CLI_EXIT_USAGE;
    }
    json_decref(j);
    return code;
}

static void print_result(const struct audit_proof *p, const struct audit_proof_result *r)
{
    if (!r->ok) {
        printf("FAILED: %s: %s\n", r->what, r->why);
        return;
    }
    if (p->has_record)
        printf("ok: record %s/%s version %" PRIu64 "%s was written by %s of tx %s of org %s "
               "(block %" PRIu64 ")\n",
               p->rec_type, p->rec_key, p->rec_version,
               r->version_by_op ? "" : " (the version as the node counts it)", r->op, p->tx, r->org,
               r->height);
    printf("ok: tx %s is leaf %" PRIu64 " of the tree of %" PRIu64 " leaves of checkpoint %" PRIu64
           ", cosigned by",
           p->tx, p->leaf_index, p->tree_size, p->cp.height);
    for (size_t i = 0; i < r->n_signers; i++)
        printf(" %s", r->signers[i]);
    printf(" (%zu of %zu members%s)\n", r->n_signers, r->n_members,
           2 * r->n_signers > r->n_members ? ", a majority" : "");
}

static int audit_prove(int argc, char **argv)
{
    const char *cmd = "audit prove";
    struct net_args a;
    int code = net_args_parse(cmd, argc, argv, 1, &a);
    if (code != CLI_EXIT_OK)
        return code;
    struct audit_cp *cp = calloc(1, sizeof *cp), *since = calloc(1, sizeof *since);
    struct audit_proof *p = calloc(1, sizeof *p);
    struct audit_proof_result *r = calloc(1, sizeof *r);
    json_t *o = NULL;
    if (!cp || !since || !p || !r)
        code = CLI_EXIT_RUNTIME;
    if (code == CLI_EXIT_OK && a.since)
        code = load_cp_file(cmd, a.since, since);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_t *rec = NULL;
    if (code == CLI_EXIT_OK && a.record)
        code = record_lookup(cmd, &a, &rec);
    if (code == CLI_EXIT_OK)
        code = fetch_checkpoint(cmd, a.node, a.key, cp);
    if (code == CLI_EXIT_OK)
        code = build_proof(cmd, &a, cp, a.since ? since : NULL, &o);
    if (code == CLI_EXIT_OK && rec)
        json_object_set(o, "record", rec);
    json_decref(rec);
    /* Check the proof as check-proof will, against the node's own checkpoint (or --since). */
    char err[320] = "";
    if (code == CLI_EXIT_OK && audit_proof_from_json(o, p, err, sizeof err) != TR_OK) {
        cli_errorf("%s: the node's answers make no usable proof: %s", cmd, err);
        code = CLI_EXIT_RUNTIME;
    }
    if (code == CLI_EXIT_OK) {
        if (!a.since)
            *since = *cp;
        audit_proof_check(p, since, r);
        if (!r->ok) {
            cli_errorf("%s: the node's proof does not hold: %s: %s", cmd, r->what, r->why);
            code = CLI_EXIT_FALSE;
        }
    }
    if (code == CLI_EXIT_OK)
        code = write_json(cmd, a.out, o);
    if (code == CLI_EXIT_OK)
        printf("wrote %s: tx %s, leaf %" PRIu64 " of %" PRIu64 ", checkpoint %" PRIu64
               ", %zu cosignatures\n",
               a.out, a.tx, p->leaf_index, p->tree_size, cp->height, cp->n_cosigs);
    json_decref(o);
    if (p)
        audit_proof_free(p);
    free(p);
    free(r);
    free(cp);
    free(since);
    curl_global_cleanup();
    return code;
}

static int audit_check_proof(int argc, char **argv)
{
    const char *cmd = "audit check-proof";
    const char *proof = NULL, *ckpt = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc)
            ckpt = argv[++i];
        else if (argv[i][0] != '-' && !proof)
            proof = argv[i];
        else
            return cli_usage_error(cmd, "unknown option or extra argument '%s'", argv[i]);
    }
    if (!proof || !ckpt)
        return cli_usage_error(cmd, "PROOF and --checkpoint C are required");
    struct audit_cp *t = calloc(1, sizeof *t);
    struct audit_proof *p = calloc(1, sizeof *p);
    struct audit_proof_result *r = calloc(1, sizeof *r);
    json_t *j = NULL;
    char err[320] = "";
    int code = t && p && r ? load_cp_file(cmd, ckpt, t) : CLI_EXIT_RUNTIME;
    if (code == CLI_EXIT_OK)
        code = read_json(cmd, proof, &j);
    if (code == CLI_EXIT_OK) {
        int rc = audit_proof_from_json(j, p, err, sizeof err);
        if (rc != TR_OK) {
            cli_errorf("%s: %s: %s", cmd, proof, rc == TR_ENOMEM ? tr_strerror(rc) : err);
            code = rc == TR_ENOMEM ? CLI_EXIT_RUNTIME : CLI_EXIT_USAGE;
        }
    }
    if (code == CLI_EXIT_OK) {
        audit_proof_check(p, t, r);
        print_result(p, r);
        code = r->ok ? CLI_EXIT_OK : CLI_EXIT_FALSE;
    }
    json_decref(j);
    if (p)
        audit_proof_free(p);
    free(p);
    free(r);
    free(t);
    return code;
}

int cli__audit_proof(int argc, char **argv)
{
    if (strcmp(argv[1], "checkpoint") == 0)
        return audit_checkpoint(argc, argv);
    if (strcmp(argv[1], "prove") == 0)
        return audit_prove(argc, argv);
    return audit_check_proof(argc, argv);
}
