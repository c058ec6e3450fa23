/* regex.h — the schema module's regular expressions: a thin PCRE2 wrapper with options chosen to
 * come as close to ECMA-262 (what draft-07 `pattern` means) as PCRE2 allows; regex.c lists the
 * differences. Compiled patterns are immutable and may be matched from several threads at once.
 * Called by compile.c (pattern, patternProperties) and format.c (format "regex"). */
#ifndef TREATY_SCHEMA_REGEX_H
#define TREATY_SCHEMA_REGEX_H

#include <stddef.h>

struct schema__regex;

/* Compiles `pattern` (UTF-8, `len` bytes, may contain NUL). Returns TR_OK and *out (owned by the
 * caller, free with schema__regex_destroy), TR_ESCHEMA with PCRE2's message and the offset in
 * errmsg, or TR_ENOMEM. */
int schema__regex_compile(const char *pattern, size_t len, struct schema__regex **out, char *errmsg,
                          size_t errlen);

/* ECMA-262 `RegExp.prototype.test` semantics: unanchored search of `s` (`len` bytes of UTF-8).
 * Returns 1 if the pattern matches somewhere, 0 if not, TR_ELIMIT when the match limit is hit
 * (catastrophic backtracking), TR_EINVAL if `s` is not valid UTF-8, TR_ENOMEM. */
int schema__regex_search(const struct schema__regex *re, const char *s, size_t len);

/* Frees `re`; NULL is allowed. */
void schema__regex_destroy(struct schema__regex *re);

#endif
