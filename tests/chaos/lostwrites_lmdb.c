/* lostwrites_lmdb.c — the LMDB half of test_lostwrites.py: "write DIR N M FLAG" commits N durable
 * transactions, then sets the environment flag FLAG (nosync: MDB_NOSYNC, nometasync:
 * MDB_NOMETASYNC) and commits M more (one key each, "k%06d"), prints "ready" and waits to be
 * killed; "check DIR" opens the environment and prints how many keys it holds and the first
 * missing one. Exit 1 on any LMDB error (a store that does not open after the loss). The flags
 * are set on the environment: LMDB 0.9 ignores MDB_NOSYNC/MDB_NOMETASYNC given to mdb_txn_begin. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "lostwrites-lmdb: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

static int put(MDB_env *env, MDB_dbi dbi, long i, unsigned flags)
{
    char key[32];
    snprintf(key, sizeof key, "k%06ld", i);
    MDB_val k = {strlen(key), key}, v = {sizeof key, key};
    MDB_txn *txn;
    int rc = mdb_txn_begin(env, NULL, flags, &txn);
    if (rc == 0 && (rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
        mdb_txn_abort(txn);
    else if (rc == 0)
        rc = mdb_txn_commit(txn);
    return rc;
}

static int do_write(MDB_env *env, MDB_dbi dbi, long n, long m, const char *flag)
{
    unsigned lazy = strcmp(flag, "nosync") == 0 ? MDB_NOSYNC : MDB_NOMETASYNC;
    for (long i = 0; i < n + m; i++) {
        int rc = i == n ? mdb_env_set_flags(env, lazy, 1) : 0;
        if (rc == 0)
            rc = put(env, dbi, i, 0);
        if (rc != 0)
            return fail("commit", rc);
    }
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < 600; i++) /* bounded: the test kills it long before */
        sleep(1);
    return 1;
}

static int do_check(MDB_env *env, MDB_dbi dbi)
{
    MDB_txn *txn;
    MDB_stat st;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return fail("read txn", rc);
    rc = mdb_stat(txn, dbi, &st);
    if (rc != 0)
        return fail("stat", rc);
    long first_missing = -1;
    for (long i = 0; i < (long)st.ms_entries + 1 && first_missing < 0; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%06ld", i);
        MDB_val k = {strlen(key), key}, v;
        if (mdb_get(txn, dbi, &k, &v) == MDB_NOTFOUND)
            first_missing = i;
    }
    mdb_txn_abort(txn);
    printf("%zu %ld\n", st.ms_entries, first_missing);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "write") == 0 && argc != 6)) {
        fprintf(stderr, "usage: lostwrites-lmdb write DIR N M nosync|nometasync | check DIR\n");
        return 2;
    }
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, 64u << 20);
    if (rc == 0)
        rc = mdb_env_open(env, argv[2], 0, 0600);
    if (rc != 0)
        return fail("open", rc);
    rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    if (rc != 0)
        return fail("dbi", rc);
    if (strcmp(argv[1], "write") == 0)
        rc = do_write(env, dbi, atol(argv[3]), atol(argv[4]), argv[5]);
    else
        rc = do_check(env, dbi);
    mdb_env_close(env);
    return rc;
}
