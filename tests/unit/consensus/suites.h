/* suites.h — the Check suites of test-unit-consensus, one line each: CONSENSUS_SUITE(name) means
 * `Suite *suite_<name>(void)`, defined in test_<name>.c. No include guard: an X-macro list. */
CONSENSUS_SUITE(election)
CONSENSUS_SUITE(replication)
CONSENSUS_SUITE(progress)
CONSENSUS_SUITE(membership)
CONSENSUS_SUITE(read_index)
CONSENSUS_SUITE(transfer)
CONSENSUS_SUITE(log)
CONSENSUS_SUITE(ready)
CONSENSUS_SUITE(raft)
