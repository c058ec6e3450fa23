/* cli_audit_export.c — `treaty audit export --node URL --key KEY --out FILE [--from H] [--to H]`:
 * streams GET /v1/ledger/export into FILE.tmp.<pid> (libcurl), follows the record framing to show
 * progress (a bar on a terminal, a line per 10 % otherwise), and renames the file into place only
 * once the end record has arrived and the data is fsynced: FILE is never half written. */
#include "cli.h"
#include "common/err.h"
#include "docs/audit.pb-c.h"
#include "node/audit.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Follows the length-delimited framing of the bytes as they arrive. */
struct exp_state {
    FILE *out;
    int tty, write_failed, ended;
    uint64_t from, to, blocks, last_shown;
    /* framing */
    uint64_t need; /* bytes left in the current record; 0: reading a length */
    uint64_t varint;
    unsigned shift;
    int first_byte; /* next byte is the record's first (its field tag) */
    int in_header;
    uint8_t hdr[1 << 16]; /* the header record, decoded for the range (its genesis may be long) */
    size_t hdr_len;
    uint64_t hdr_total;
};

static void exp_progress(struct exp_state *s, int final)
{
    uint64_t total = s->to >= s->from && s->to ? s->to - s->from + 1 : 0;
    if (!total)
        return;
    uint64_t pct = s->blocks * 100 / total;
    if (s->tty) {
        int w = (int)(pct * 40 / 100);
        fprintf(stderr, "\r[%-40.*s] %3" PRIu64 "%% %" PRIu64 "/%" PRIu64 " blocks", w,
                "========================================", pct, s->blocks, total);
        if (final)
            fputc('\n', stderr);
    } else if (final || pct / 10 > s->last_shown / 10) {
        fprintf(stderr, "export: %" PRIu64 "/%" PRIu64 " blocks (%" PRIu64 "%%)\n", s->blocks,
                total, pct);
    }
    s->last_shown = pct;
}

static void exp_header_done(struct exp_state *s)
{
    Treaty__Audit__ExportRecord *r = treaty__audit__export_record__unpack(NULL, s->hdr_len, s->hdr);
    if (r && r->kind_case == TREATY__AUDIT__EXPORT_RECORD__KIND_HEADER) {
        s->from = r->header->from;
        s->to = r->header->to;
    }
    if (r)
        treaty__audit__export_record__free_unpacked(r, NULL);
}

static void exp_byte(struct exp_state *s, uint8_t c)
{
    if (s->need == 0) {
        s->varint |= (uint64_t)(c & 0x7f) << s->shift;
        s->shift += 7;
        if (c & 0x80 && s->shift < 64)
            return;
        s->need = s->varint;
        s->varint = 0;
        s->shift = 0;
        s->first_byte = 1;
        s->in_header = s->hdr_total == 0 && s->need <= sizeof s->hdr;
        if (s->in_header)
            s->hdr_total = s->need;
        return;
    }
    if (s->first_byte) {
        s->first_byte = 0;
        if (c == 0x12) { /* field 2 (block), length-delimited */
            s->blocks++;
            exp_progress(s, 0);
        } else if (c == 0x22) { /* field 4 (end) */
            s->ended = 1;
        }
    }
    if (s->in_header)
        s->hdr[s->hdr_len++] = c;
    if (--s->need == 0 && s->in_header) {
        s->in_header = 0;
        exp_header_done(s);
    }
}

static size_t exp_write(char *p, size_t size, size_t n, void *arg)
{
    struct exp_state *s = arg;
    size_t len = size * n;
    if (fwrite(p, 1, len, s->out) != len) {
        s->write_failed = 1;
        return 0;
    }
    for (size_t i = 0; i < len; i++)
        exp_byte(s, (uint8_t)p[i]);
    return len;
}

struct exp_args {
    const char *node, *key, *out, *from, *to;
};

static int exp_args_parse(int argc, char **argv, struct exp_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--node") == 0)
            slot = &a->node;
        else if (strcmp(argv[i], "--key") == 0)
            slot = &a->key;
        else if (strcmp(argv[i], "--out") == 0)
            slot = &a->out;
        else if (strcmp(argv[i], "--from") == 0)
            slot = &a->from;
        else if (strcmp(argv[i], "--to") == 0)
            slot = &a->to;
        if (!slot || i + 1 >= argc)
            return cli_usage_error("audit export", "unknown option or missing value '%s'", argv[i]);
        *slot = argv[++i];
    }
    if (!a->node || !a->key || !a->out)
        return cli_usage_error("audit export", "--node, --key and --out are required");
    const char *nums[2] = {a->from, a->to};
    for (int i = 0; i < 2; i++)
        if (nums[i] && (!nums[i][0] || strspn(nums[i], "0123456789") != strlen(nums[i])))
            return cli_usage_error("audit export", "--from and --to take a height (digits)");
    return CLI_EXIT_OK;
}

/* GETs the export into s->out. Returns a cli exit code, having said why on failure. */
static int exp_fetch(const struct exp_args *a, struct exp_state *s)
{
    char url[2048], auth[1024], errbuf[CURL_ERROR_SIZE] = "";
    int n = snprintf(url, sizeof url, "%s/v1/ledger/export?from=%s%s%s", a->node,
                     a->from ? a->from : "1", a->to ? "&to=" : "", a->to ? a->to : "");
    int m = snprintf(auth, sizeof auth, "Authorization: Bearer %s", a->key);
    if (n < 0 || (size_t)n >= sizeof url || m < 0 || (size_t)m >= sizeof auth)
        return cli_usage_error("audit export", "--node or --key is too long");
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, auth);
    if (!c || !h) {
        curl_slist_free_all(h);
        if (c)
            curl_easy_cleanup(c);
        cli_errorf("audit export: libcurl cannot start");
        return CLI_EXIT_RUNTIME;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, exp_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (s->write_failed) {
        cli_errorf("audit export: %s: %s", a->out, strerror(errno));
        return CLI_EXIT_RUNTIME;
    }
    if (cc != CURLE_OK) {
        cli_errorf("audit export: %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return status == 400 || status == 401 || status == 403 ? CLI_EXIT_USAGE : CLI_EXIT_RUNTIME;
    }
    if (!s->ended) {
        cli_errorf("audit export: %s: the stream ended before its end record", url);
        return CLI_EXIT_RUNTIME;
    }
    return CLI_EXIT_OK;
}

int cli__audit_export(int argc, char **argv)
{
    struct exp_args a;
    int code = exp_args_parse(argc, argv, &a);
    if (code != CLI_EXIT_OK)
        return code;
    char tmp[4200];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a.out, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return cli_usage_error("audit export", "--out is too long");
    struct exp_state *s = calloc(1, sizeof *s);
    if (!s)
        return CLI_EXIT_RUNTIME;
    s->tty = isatty(STDERR_FILENO);
    s->out = fopen(tmp, "wb");
    if (!s->out) {
        cli_errorf("audit export: %s: %s", tmp, strerror(errno));
        free(s);
        return CLI_EXIT_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    code = exp_fetch(&a, s);
    if (code == CLI_EXIT_OK)
        exp_progress(s, 1);
    if (fflush(s->out) != 0 || fsync(fileno(s->out)) != 0) {
        if (code == CLI_EXIT_OK)
            cli_errorf("audit export: %s: %s", tmp, strerror(errno));
        code = code == CLI_EXIT_OK ? CLI_EXIT_RUNTIME : code;
    }
    fclose(s->out);
    if (code == CLI_EXIT_OK && rename(tmp, a.out) != 0) {
        cli_errorf("audit export: %s: %s", a.out, strerror(errno));
        code = CLI_EXIT_RUNTIME;
    }
    if (code != CLI_EXIT_OK)
        unlink(tmp);
    else
        printf("wrote %s: blocks %" PRIu64 "..%" PRIu64 "\n", a.out, s->from, s->to);
    free(s);
    curl_global_cleanup();
    return code;
}
