/* suites.h — X-macro list of the node module's Check suites: NODE_SUITE(name) names the suite
 * that test_<name>.c defines as `Suite *suite_<name>(void)`. main.c expands it twice (declare,
 * add). No include guard on purpose. */
NODE_SUITE(merkle)
NODE_SUITE(noise)
NODE_SUITE(store)
NODE_SUITE(identity)
NODE_SUITE(config)
NODE_SUITE(genesis)
NODE_SUITE(batch)
NODE_SUITE(ledger)
NODE_SUITE(ledger_merkle)
NODE_SUITE(ledger_changes)
NODE_SUITE(net)
NODE_SUITE(ledger_query)
NODE_SUITE(wire)
NODE_SUITE(apikeys)
NODE_SUITE(audit_verify)
NODE_SUITE(audit_proof)
