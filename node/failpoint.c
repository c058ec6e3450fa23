/* failpoint.c — the crash points of failpoint.h: the armed point and its countdown. Armed once at
 * start-up (before threads); hit from the loop thread and the persist worker, so the countdown is
 * atomic. The kill is SIGKILL: nothing runs after it, as in a real crash. */
#include "node/failpoint.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAILPOINT_COUNT_MAX 1000000

static const char *const failpoint_names[FAILPOINT_COUNT] = {
#define FAILPOINT_NAME(id, name, about) name,
    FAILPOINT_MAP(FAILPOINT_NAME)
#undef FAILPOINT_NAME
};

static const char *const failpoint_abouts[FAILPOINT_COUNT] = {
#define FAILPOINT_ABOUT(id, name, about) about,
    FAILPOINT_MAP(FAILPOINT_ABOUT)
#undef FAILPOINT_ABOUT
};

static int failpoint_armed = -1;       /* enum failpoint, or -1 */
static unsigned long failpoint_at = 0; /* the pass that kills */
static int failpoint_want_role = -1;   /* 1 leader, 0 follower, -1 any */
static atomic_ulong failpoint_passes;  /* passes through the armed point so far */

bool failpoint_built(void)
{
#ifdef TREATY_FAILPOINTS
    return true;
#else
    return false;
#endif
}

const char *failpoint_name(size_t i)
{
    return i < FAILPOINT_COUNT ? failpoint_names[i] : NULL;
}

const char *failpoint_about(size_t i)
{
    return i < FAILPOINT_COUNT ? failpoint_abouts[i] : NULL;
}

#ifdef TREATY_FAILPOINTS
static atomic_int failpoint_leader; /* 1 while this node leads */

void failpoint_role_set(bool leader)
{
    atomic_store(&failpoint_leader, leader ? 1 : 0);
}

void failpoint_hit(enum failpoint fp)
{
    if ((int)fp != failpoint_armed)
        return;
    if (failpoint_want_role >= 0 && atomic_load(&failpoint_leader) != failpoint_want_role)
        return;
    if (atomic_fetch_add(&failpoint_passes, 1) + 1 != failpoint_at)
        return;
    /* One unbuffered line so the test knows which point killed the node; then die at once. */
    char line[160];
    int n = snprintf(line, sizeof line, "treaty node: failpoint %s reached (pass %lu): SIGKILL\n",
                     failpoint_names[fp], failpoint_at);
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    raise(SIGKILL);
    _exit(137); /* not reached */
}
#endif

/* The count in s[0..len), or 0 if it is not a number in 1..FAILPOINT_COUNT_MAX. */
static unsigned long failpoint_count_parse(const char *s, size_t len)
{
    unsigned long v = 0;
    if (len == 0 || len > 7)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v <= FAILPOINT_COUNT_MAX ? v : 0;
}

/* The point named s[0..len), or -1. */
static int failpoint_lookup(const char *s, size_t len)
{
    for (size_t i = 0; i < FAILPOINT_COUNT; i++)
        if (strlen(failpoint_names[i]) == len && strncmp(failpoint_names[i], s, len) == 0)
            return (int)i;
    return -1;
}

int failpoint_arm_env(char *err, size_t errlen)
{
    const char *spec = getenv("TREATY_FAILPOINT");
    if (spec == NULL || spec[0] == '\0')
        return 0;
    if (!failpoint_built()) {
        snprintf(err, errlen,
                 "TREATY_FAILPOINT=%.100s is set but this build has no failpoints "
                 "(build with -DTREATY_FAILPOINTS=ON)",
                 spec);
        return -1;
    }
    const char *at = strchr(spec, '@');
    size_t head = at ? (size_t)(at - spec) : strlen(spec);
    const char *colon = memchr(spec, ':', head);
    size_t name_len = colon ? (size_t)(colon - spec) : head;
    int fp = failpoint_lookup(spec, name_len);
    if (fp < 0) {
        snprintf(
            err, errlen,
            "TREATY_FAILPOINT=%.100s: no failpoint of that name (treaty failpoints lists them)",
            spec);
        return -1;
    }
    unsigned long count = colon ? failpoint_count_parse(colon + 1, head - name_len - 1) : 1;
    if (count == 0) {
        snprintf(err, errlen, "TREATY_FAILPOINT=%.100s: the count after ':' must be 1..%d", spec,
                 FAILPOINT_COUNT_MAX);
        return -1;
    }
    int role = -1;
    if (at && strcmp(at + 1, "leader") == 0)
        role = 1;
    else if (at && strcmp(at + 1, "follower") == 0)
        role = 0;
    else if (at) {
        snprintf(err, errlen,
                 "TREATY_FAILPOINT=%.100s: the role after '@' must be leader or follower", spec);
        return -1;
    }
    failpoint_armed = fp;
    failpoint_at = count;
    failpoint_want_role = role;
    atomic_store(&failpoint_passes, 0);
    return 0;
}
