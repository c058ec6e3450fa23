"""membership.py — the "membership" fault: an org joins or leaves by governance while another
fault runs.

The cluster has one spare slot (its own namespace, addresses and proxy links). When no org is
in it, a fresh org is made there (treaty init), a random live founder proposes adding it
(POST /v1/members/proposals) and the other live founders approve until it is a member; then its
node starts from the genesis and an empty store, joins as a learner and is promoted to voter by
the leader once caught up. When an org is in it, a live member proposes removing it and the
others approve; its node sees itself removed and stops (exit 0: an expected exit). Every request
and wait is bounded; a change that does not complete within its bounds is recorded as such
(not a violation: governance needs a majority, which the companion fault may deny) and finished
after healing, so the final state is known.
"""
import http.client as httpc
import time


def _try(node, method, path, body=None, timeout=5.0):
    try:
        return node.http(method, path, body, timeout=timeout)
    except (OSError, httpc.HTTPException) as e:
        return None, {}, str(e)


def member_views(cluster):
    """The member orgs as each live node sees them (a node lagging behind sees an older list)."""
    views = []
    for n in cluster.members_nodes():
        if not n.alive() or n.paused:
            continue
        st, _, b = _try(n, "GET", "/v1/members", timeout=3.0)
        if st == 200:
            views.append({m["org"] for m in b["members"]})
    return views


def applied(cluster, org, present):
    """True once some node has applied the change (nodes apply only committed entries)."""
    return any((org in v) == present for v in member_views(cluster))


def _propose_and_approve(cluster, rng, body, want, deadline, rec):
    """Proposes body at one live member and approves at the others until want() holds."""
    voters = [n for n in cluster.members_nodes() if n.alive() and not n.paused]
    rng.shuffle(voters)
    pid = None
    for n in voters:
        st, _, b = _try(n, "POST", "/v1/members/proposals", body, timeout=10.0)
        rec.setdefault("requests", []).append(("propose", n.org, st))
        if st == 201:
            pid, proposer = b["proposal"], n
            break
    if pid is None:
        return False
    approvers = [n for n in voters if n is not proposer]
    while time.time() < deadline:
        for n in approvers:
            st, _, _ = _try(n, "POST", "/v1/members/proposals/%s/approve" % pid, {}, 10.0)
            rec["requests"].append(("approve", n.org, st))
        for _ in range(20):
            if want():
                return True
            time.sleep(0.25)
        approvers = [n for n in approvers if n.alive() and not n.paused]
    return want()


def change(cluster, rng, rec, budget):
    """One membership change (join if the slot is empty, else leave); True when it completed."""
    deadline = time.time() + budget
    late = settle(cluster, tries=1)
    if late:
        rec["earlier_join"] = late
    if cluster.spare is None or not cluster.spare_member:
        n = cluster.new_spare()
        rec["change"] = "add " + n.org
        body = {"action": "add", "org": n.org, "public_key": n.public_key,
                "peer": "%s:%d" % (n.genesis_host, n.genesis_port)}
        ok = _propose_and_approve(cluster, rng, body, lambda: applied(cluster, n.org, True),
                                  deadline, rec)
        if ok:
            cluster.spare_member = True
            n.start()
        else:
            # not a member (yet): it may still become one from approvals already ordered
            cluster.pending_add = n
        return ok
    n = cluster.spare
    rec["change"] = "remove " + n.org
    ok = _propose_and_approve(cluster, rng, {"action": "remove", "org": n.org},
                              lambda: applied(cluster, n.org, False), deadline, rec)
    if ok:
        retire(cluster, n, 20.0)
    return ok


def retire(cluster, n, wait):
    """A removed org's node stops on its own; waits for it (bounded) and files it as retired."""
    t_applied = time.time()
    deadline = t_applied + wait
    n.resume()
    while n.alive() and time.time() < deadline:
        time.sleep(0.2)
    if n.alive():
        # docs/node.md: "a removed org's node finds itself removed when it applies that block
        # and stops" — one that had not applied it when the others dropped its links never does
        cluster.findings.append("%s: its node still ran %.0f s after its removal was applied "
                                "(stopped by the harness)" % (n.org, time.time() - t_applied))
        n.stop()
    else:
        n.poll_exit(expected=True)
    cluster.retired.append(n)
    cluster.spare = None
    cluster.spare_member = False


def settle(cluster, tries=40):
    """A join left pending is checked again (after healing: so the final state is known); a
    spare that became a member is started. An org that never joined is left out (it has no
    node; if its approvals were ordered after all, it is a learner that never counts)."""
    n = getattr(cluster, "pending_add", None)
    if n is None:
        return None
    cluster.pending_add = None
    joined = False
    for _ in range(tries):
        joined = applied(cluster, n.org, True)
        if joined:
            break
        time.sleep(0.5)
    if joined:
        cluster.spare_member = True
        if not n.alive():
            n.start()
        return "joined late"
    cluster.spare = None
    return "never joined"
