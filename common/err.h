/* err.h — treaty's one table of operating-error codes, each with its message.
 * Every module returns these as values (0 = success, negative = failure); bugs are asserts
 * (TR_ASSERT), never error codes. The table is an X-macro so the enum, the names and the
 * messages cannot drift apart (the idea of libuv's UV_ERRNO_MAP). */
#ifndef TREATY_COMMON_ERR_H
#define TREATY_COMMON_ERR_H

/* X(NAME, "message"). The order fixes the numeric values: keep OK first, append new codes. */
#define TR_ERRNO_MAP(X)                                                                            \
    X(OK, "success")                                                                               \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(PARSE, "malformed input")                                                                    \
    X(SCHEMA, "schema is not usable")                                                              \
    X(INVALID, "does not conform to the schema")                                                   \
    X(LIMIT, "limit exceeded")                                                                     \
    X(IO, "input/output error")                                                                    \
    X(NOTFOUND, "not found")                                                                       \
    X(EXISTS, "already exists")                                                                    \
    X(CONFLICT, "version conflict")                                                                \
    X(DENIED, "access denied")                                                                     \
    X(UNSUPPORTED, "not supported")                                                                \
    X(CORRUPT, "stored data is corrupt")                                                           \
    X(CRYPTO, "cryptographic check failed")                                                        \
    X(TIMEOUT, "timed out")                                                                        \
    X(BUSY, "resource busy")                                                                       \
    X(CLOSED, "closed")                                                                            \
    X(NOTLEADER, "not the leader")                                                                 \
    X(INTERNAL, "internal error")

/* TR_OK is 0; every failure is negative: TR_ENOMEM == -1, TR_EINVAL == -2, … */
enum tr_err {
#define TR__ERR_ENUM(name, msg) TR__ERR_POS_##name,
    TR_ERRNO_MAP(TR__ERR_ENUM)
#undef TR__ERR_ENUM
        TR__ERR_COUNT
};

#define TR__ERR_NEG(name) (-(int)TR__ERR_POS_##name)
#define TR_OK             0
#define TR_ENOMEM         TR__ERR_NEG(NOMEM)
#define TR_EINVAL         TR__ERR_NEG(INVAL)
#define TR_EPARSE         TR__ERR_NEG(PARSE)
#define TR_ESCHEMA        TR__ERR_NEG(SCHEMA)
#define TR_EINVALID       TR__ERR_NEG(INVALID)
#define TR_ELIMIT         TR__ERR_NEG(LIMIT)
#define TR_EIO            TR__ERR_NEG(IO)
#define TR_ENOTFOUND      TR__ERR_NEG(NOTFOUND)
#define TR_EEXISTS        TR__ERR_NEG(EXISTS)
#define TR_ECONFLICT      TR__ERR_NEG(CONFLICT)
#define TR_EDENIED        TR__ERR_NEG(DENIED)
#define TR_EUNSUPPORTED   TR__ERR_NEG(UNSUPPORTED)
#define TR_ECORRUPT       TR__ERR_NEG(CORRUPT)
#define TR_ECRYPTO        TR__ERR_NEG(CRYPTO)
#define TR_ETIMEOUT       TR__ERR_NEG(TIMEOUT)
#define TR_EBUSY          TR__ERR_NEG(BUSY)
#define TR_ECLOSED        TR__ERR_NEG(CLOSED)
#define TR_ENOTLEADER     TR__ERR_NEG(NOTLEADER)
#define TR_EINTERNAL      TR__ERR_NEG(INTERNAL)

/* The message of code `err` ("out of memory"); "unknown error" for a value not in the table. */
const char *tr_strerror(int err);
/* The symbolic name of `err` ("TR_ENOMEM", "TR_OK"); "TR_E?" for a value not in the table. */
const char *tr_err_name(int err);

/* Invariant check that stays on in release builds: a failed invariant is a bug, and bugs crash
 * with the file, line and expression rather than corrupt a ledger. */
#define TR_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            tr__assert_fail(#cond, __FILE__, __LINE__);                                            \
    } while (0)

_Noreturn void tr__assert_fail(const char *expr, const char *file, int line);

#endif
