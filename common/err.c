/* err.c — messages and names of the error table in err.h, and the always-on assert. */
#include "err.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const tr__err_msgs[] = {
#define TR__ERR_MSG(name, msg) msg,
    TR_ERRNO_MAP(TR__ERR_MSG)
#undef TR__ERR_MSG
};

static const char *const tr__err_names[] = {
#define TR__ERR_NAME(name, msg) "TR_E" #name,
    TR_ERRNO_MAP(TR__ERR_NAME)
#undef TR__ERR_NAME
};

const char *tr_strerror(int err)
{
    if (err > 0 || -err >= TR__ERR_COUNT)
        return "unknown error";
    return tr__err_msgs[-err];
}

const char *tr_err_name(int err)
{
    if (err == TR_OK)
        return "TR_OK";
    if (err > 0 || -err >= TR__ERR_COUNT)
        return "TR_E?";
    return tr__err_names[-err];
}

void tr__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "treaty: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
