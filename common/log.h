/* log.h — treaty's log: leveled, one line per event in `key=value` form, written to a sink the
 * process installs (stderr by default; tests install a capturing sink). Not for the pure core:
 * consensus/ reports through its Ready batch, not through a log. */
#ifndef TREATY_COMMON_LOG_H
#define TREATY_COMMON_LOG_H

#include <stddef.h>

enum tr_log_level { TR_LOG_DEBUG = 0, TR_LOG_INFO = 1, TR_LOG_WARN = 2, TR_LOG_ERROR = 3 };

/* A sink receives each formatted line (no trailing newline), borrowed for the call only. */
struct tr_log_sink {
    void (*write)(void *ctx, enum tr_log_level level, const char *line, size_t len);
    void *ctx;
};

/* Installs `sink` (copied); NULL restores the stderr sink. */
void tr_log_set_sink(const struct tr_log_sink *sink);
/* Lines below `level` are dropped before formatting. Default TR_LOG_INFO. */
void tr_log_set_level(enum tr_log_level level);
enum tr_log_level tr_log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns 0 and sets *out, or TR_EINVAL. */
int tr_log_level_parse(const char *name, enum tr_log_level *out);
const char *tr_log_level_name(enum tr_log_level level);

/* Logs `level=L event=EVENT` followed by the caller's `key=value` pairs, formatted from `fmt`
 * (may be NULL). Values with spaces or quotes should be passed through tr_log_quote. Lines longer
 * than 1 KiB are truncated and end in `…truncated=1`. */
void tr_log(enum tr_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes `s` into buf as a log value: bare if it has no space, quote, '=' or control byte,
 * otherwise double-quoted with \" \\ \n escapes. Always NUL-terminates; truncates to fit. Returns
 * buf. */
char *tr_log_quote(char *buf, size_t size, const char *s);

#endif
