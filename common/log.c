/* log.c — formatting and sinks of log.h. One process-wide sink and level; formatting happens in a
 * stack buffer so logging never allocates. */
#include "log.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TR__LOG_LINE_MAX 1024

static void tr__stderr_write(void *ctx, enum tr_log_level level, const char *line, size_t len)
{
    (void)ctx;
    (void)level;
    fprintf(stderr, "%.*s\n", (int)len, line);
}

static struct tr_log_sink tr__sink = {tr__stderr_write, NULL};
static enum tr_log_level tr__level = TR_LOG_INFO;
static const char *const tr__level_names[] = {"debug", "info", "warn", "error"};

void tr_log_set_sink(const struct tr_log_sink *sink)
{
    if (sink) {
        tr__sink = *sink;
    } else {
        tr__sink.write = tr__stderr_write;
        tr__sink.ctx = NULL;
    }
}

void tr_log_set_level(enum tr_log_level level)
{
    tr__level = level;
}

enum tr_log_level tr_log_get_level(void)
{
    return tr__level;
}

const char *tr_log_level_name(enum tr_log_level level)
{
    if ((unsigned)level > TR_LOG_ERROR)
        return "?";
    return tr__level_names[level];
}

int tr_log_level_parse(const char *name, enum tr_log_level *out)
{
    for (int i = 0; i <= (int)TR_LOG_ERROR; i++) {
        if (strcmp(name, tr__level_names[i]) == 0) {
            *out = (enum tr_log_level)i;
            return TR_OK;
        }
    }
    return TR_EINVAL;
}

void tr_log(enum tr_log_level level, const char *event, const char *fmt, ...)
{
    if (level < tr__level)
        return;
    char line[TR__LOG_LINE_MAX];
    static const char trunc[] = " truncated=1";
    int n = snprintf(line, sizeof line, "level=%s event=%s", tr_log_level_name(level), event);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (fmt && len < sizeof line - 1) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        n = vsnprintf(line + len, sizeof line - len, fmt, ap);
        va_end(ap);
        len += n < 0 ? 0 : (size_t)n;
    }
    if (len >= sizeof line) {
        len = sizeof line - sizeof trunc;
        memcpy(line + len, trunc, sizeof trunc);
        len += sizeof trunc - 1;
    }
    tr__sink.write(tr__sink.ctx, level, line, len);
}

static int tr__needs_quote(const char *s)
{
    if (*s == '\0')
        return 1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
            return 1;
    }
    return 0;
}

char *tr_log_quote(char *buf, size_t size, const char *s)
{
    TR_ASSERT(size >= 3);
    if (!tr__needs_quote(s)) {
        snprintf(buf, size, "%s", s);
        return buf;
    }
    size_t o = 0;
    buf[o++] = '"';
    for (; *s && o + 3 < size; s++) {
        char c = *s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
