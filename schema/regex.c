/* regex.c — PCRE2 (8-bit, UTF) behind the schema module's regex API, set up to behave like
 * ECMA-262 regular expressions, which is what draft-07 `pattern` and `format: regex` mean
 * (draft-07 validation §4.3). Compiled codes are read-only; each search builds its match data in
 * a buffer of the calling thread, so threads share nothing and the JIT path allocates nothing
 * (without JIT, PCRE2's interpreter allocates its backtracking frames per search).
 *
 * Where PCRE2 10.4x still differs from ECMA-262 with the options below:
 *   - \s is ASCII whitespace only; ECMA also matches Unicode spaces (U+00A0, U+FEFF, U+2028 …).
 *     PCRE2_UCP would fix \s but would also make \d and \w Unicode, which ECMA keeps ASCII.
 *   - `.` excludes \r and \n (PCRE2_NEWLINE_ANYCRLF) but not U+2028 / U+2029 as ECMA does.
 *   - Syntax ECMA lacks is accepted: possessive quantifiers, atomic groups, \A \Z \z, \Q…\E,
 *     (?i) inline flags, POSIX classes, recursion, callouts: they mean what PCRE2 says.
 *   - Lookbehind must have a bounded length (ECMA 2018 allows any).
 *   - \cX, octal escapes and \u{…} (ECMA's `u` flag form) follow PCRE2's rules; \uHHHH is ECMA's
 *     (PCRE2_ALT_BSUX), as are `[]` (matches nothing), `[^]` (matches anything) and back
 *     references to unset groups matching the empty string.
 *   - Match, depth and heap limits make a catastrophic pattern fail with TR_ELIMIT where an ECMA
 *     engine would run for ever. JIT and interpreter count steps differently, so a subject close
 *     to the limit could pass on one and hit the limit on the other: the nodes of a network
 *     should run the same build. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "schema/regex.h"
#include "common/alloc.h"
#include "common/err.h"

#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Backtracking budget per search: a 1 KB subject with an ordinary pattern needs far fewer steps,
 * while "(a+)+$" against 30 characters needs hundreds of millions. Nesting depth is bounded by
 * the heap limit (interpreter) and the JIT stack size, not by the depth limit. */
#define REGEX_MATCH_LIMIT     1000000u
#define REGEX_DEPTH_LIMIT     1000000u
#define REGEX_HEAP_LIMIT_KIB  16384u
#define REGEX_JIT_STACK_START (64u * 1024u)
#define REGEX_JIT_STACK_MAX   (8u * 1024u * 1024u)

struct schema__regex {
    pcre2_code *code;
    pcre2_match_context *mctx;
    pcre2_general_context *match_gctx; /* allocates match data from this thread's buffer */
};

static void *regex_mem_alloc(PCRE2_SIZE size, void *data)
{
    (void)data;
    return tr_malloc(size);
}

static void regex_mem_free(void *ptr, void *data)
{
    (void)data;
    tr_free(ptr);
}

/* Match data lives for one search only, in a buffer of the calling thread: no allocation per
 * search, nothing shared between threads, and nothing to free when a thread exits (the buffer
 * is part of the thread's TLS block). A search is never re-entered on one thread (no callouts),
 * so one buffer per thread suffices; anything larger, such as the interpreter's backtracking
 * frames, comes from the heap and is freed at the end of the search. */
static _Thread_local _Alignas(max_align_t) unsigned char regex_tls_buf[512];
static _Thread_local bool regex_tls_busy;
static _Thread_local bool regex_tls_armed; /* only the match data itself goes in the buffer */

static void *regex_tls_alloc(PCRE2_SIZE size, void *data)
{
    (void)data;
    if (regex_tls_armed && !regex_tls_busy && size <= sizeof regex_tls_buf) {
        regex_tls_busy = true;
        return regex_tls_buf;
    }
    return tr_malloc(size);
}

static void regex_tls_free(void *ptr, void *data)
{
    (void)data;
    if (ptr == regex_tls_buf)
        regex_tls_busy = false;
    else
        tr_free(ptr);
}

static int regex_set_limits(pcre2_match_context *mctx)
{
    if (pcre2_set_match_limit(mctx, REGEX_MATCH_LIMIT) != 0 ||
        pcre2_set_depth_limit(mctx, REGEX_DEPTH_LIMIT) != 0 ||
        pcre2_set_heap_limit(mctx, REGEX_HEAP_LIMIT_KIB) != 0)
        return TR_EINTERNAL;
    return TR_OK;
}

static int regex_compile_code(const char *pattern, size_t len, pcre2_general_context *gctx,
                              pcre2_code **code, char *errmsg, size_t errlen)
{
    pcre2_compile_context *cctx = pcre2_compile_context_create(gctx);
    if (!cctx)
        return TR_ENOMEM;
    pcre2_set_newline(cctx, PCRE2_NEWLINE_ANYCRLF);
    uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS |
                    PCRE2_MATCH_UNSET_BACKREF | PCRE2_NEVER_BACKSLASH_C;
    int ecode = 0;
    PCRE2_SIZE eoff = 0;
    *code = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &ecode, &eoff, cctx);
    pcre2_compile_context_free(cctx);
    if (*code)
        return TR_OK;
    if (ecode == PCRE2_ERROR_HEAP_FAILED)
        return TR_ENOMEM;
    PCRE2_UCHAR msg[160];
    if (pcre2_get_error_message(ecode, msg, sizeof msg) < 0)
        snprintf((char *)msg, sizeof msg, "error %d", ecode);
    snprintf(errmsg, errlen, "%s at offset %zu", (const char *)msg, (size_t)eoff);
    return TR_ESCHEMA;
}

int schema__regex_compile(const char *pattern, size_t len, struct schema__regex **out, char *errmsg,
                          size_t errlen)
{
    *out = NULL;
    int rc = TR_ENOMEM;
    pcre2_general_context *gctx =
        pcre2_general_context_create(regex_mem_alloc, regex_mem_free, NULL);
    struct schema__regex *re = tr_calloc(1, sizeof *re);
    if (!gctx || !re)
        goto fail;
    rc = regex_compile_code(pattern, len, gctx, &re->code, errmsg, errlen);
    if (rc != TR_OK)
        goto fail;
    rc = TR_ENOMEM;
    re->mctx = pcre2_match_context_create(gctx);
    re->match_gctx = pcre2_general_context_create(regex_tls_alloc, regex_tls_free, NULL);
    if (!re->mctx || !re->match_gctx)
        goto fail;
    rc = regex_set_limits(re->mctx);
    if (rc != TR_OK)
        goto fail;
    /* JIT is an optimisation only: without it (not built in, no executable memory) the
     * interpreter gives the same answers under the same limits. */
    uint32_t have_jit = 0;
    if (pcre2_config(PCRE2_CONFIG_JIT, &have_jit) >= 0 && have_jit)
        (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    pcre2_general_context_free(gctx);
    *out = re;
    return TR_OK;
fail:
    if (rc == TR_ENOMEM)
        snprintf(errmsg, errlen, "out of memory");
    pcre2_general_context_free(gctx);
    schema__regex_destroy(re);
    return rc;
}

/* pcre2_match with this thread's match data. */
static int regex_match(const struct schema__regex *re, const char *s, size_t len,
                       pcre2_match_context *mctx)
{
    regex_tls_armed = true;
    pcre2_match_data *md = pcre2_match_data_create(1, re->match_gctx);
    regex_tls_armed = false;
    if (!md)
        return PCRE2_ERROR_NOMEMORY;
    int r = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, mctx);
    pcre2_match_data_free(md);
    return r;
}

/* JIT code runs on a 32 KiB machine stack, which deep group repetition ("^(a|b)*$" over 10,000
 * characters) exhausts. Such a search is retried once on a JIT stack of its own: the match
 * context is shared between threads, so the stack goes on a private copy. */
static int regex_match_big_stack(const struct schema__regex *re, const char *s, size_t len)
{
    pcre2_match_context *mctx = pcre2_match_context_copy(re->mctx);
    pcre2_jit_stack *stack =
        mctx ? pcre2_jit_stack_create(REGEX_JIT_STACK_START, REGEX_JIT_STACK_MAX, NULL) : NULL;
    int r = PCRE2_ERROR_NOMEMORY;
    if (stack) {
        pcre2_jit_stack_assign(mctx, NULL, stack);
        r = regex_match(re, s, len, mctx);
    }
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(mctx);
    return r;
}

int schema__regex_search(const struct schema__regex *re, const char *s, size_t len)
{
    int r = regex_match(re, s, len, re->mctx);
    if (r == PCRE2_ERROR_JIT_STACKLIMIT)
        r = regex_match_big_stack(re, s, len);
    if (r >= 0)
        return 1;
    switch (r) {
    case PCRE2_ERROR_NOMATCH:
        return 0;
    case PCRE2_ERROR_MATCHLIMIT:
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_HEAPLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
        return TR_ELIMIT;
    case PCRE2_ERROR_NOMEMORY:
        return TR_ENOMEM;
    default:
        /* What remains are the subject's UTF-8 errors (PCRE2_ERROR_UTF8_*): compiled patterns
         * and our own match data rule out PCRE2's other runtime errors. */
        return TR_EINVAL;
    }
}

void schema__regex_destroy(struct schema__regex *re)
{
    if (!re)
        return;
    pcre2_match_context_free(re->mctx);
    pcre2_general_context_free(re->match_gctx);
    pcre2_code_free(re->code);
    tr_free(re);
}
