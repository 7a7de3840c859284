"""link against the fake cluster: toxics on the chosen proxies, read back, removed."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from compose.toxiproxy.client import ToxiproxyError
from faults.common import FaultError
from faults.network.link import LINK, LinkFault
from harness.contract.history import Phase
from harness.contract.links import Toxic
from harness.contract.roles import NemesisContext
from tests.faults.fakes import FakeWorld, fake_world


@pytest.fixture
def world() -> Iterator[FakeWorld]:
    with fake_world() as w:
        yield w


LATENCY = {
    "toxic": "latency",
    "attributes": {"latency": 200, "jitter": 20},
    "streams": ["upstream", "downstream"],
}


def test_latency_on_every_peer_and_control_link_of_a_node_then_removed(
    world: FakeWorld,
) -> None:
    fault = LinkFault(world.cluster)
    did = fault.invoke(Phase.START, {"links": "peers-of", "node": "n2", **LATENCY})
    assert isinstance(did, dict) and did["verified"] is True, did
    expected = ["controller-n2", "n1-n2", "n2-controller", "n2-n1", "n2-n3", "n3-n2"]
    assert did["proxies"] == expected and did["streams"] == ["upstream", "downstream"]
    both = ["fm-link-latency-downstream", "fm-link-latency-upstream"]
    assert world.cut() == dict.fromkeys(expected, both)
    assert world.proxy("n1-n2")["toxics"][0]["attributes"] == {"latency": 200, "jitter": 20}
    undo = fault.invoke(Phase.STOP, {})
    assert isinstance(undo, dict) and undo["verified"] is True
    assert sorted(undo["removed"]) == expected
    assert world.cut() == {} and fault.active == {}


def test_the_leaders_client_link_is_resolved_when_the_op_runs(world: FakeWorld) -> None:
    world.leaders[1] = "n3"
    value = {"links": "leader-client", "key": 1, "toxic": "bandwidth", "attributes": {"rate": 64}}
    did = LinkFault(world.cluster).invoke(Phase.START, value)
    assert isinstance(did, dict) and did["verified"] is True
    assert did["leader"] == "n3" and did["proxies"] == ["client-n3"]
    assert did["streams"] == ["downstream"]
    assert world.cut() == {"client-n3": ["fm-link-bandwidth-downstream"]}
    assert "leader" not in value, "the scheduled value itself is not changed"


def test_a_leaderless_key_is_skipped(world: FakeWorld) -> None:
    world.containers["n1"].status = "exited"
    did = LinkFault(world.cluster).invoke(
        Phase.START, {"links": "leader-client", "key": 0, "toxic": "slicer", "attributes": {}}
    )
    assert isinstance(did, dict) and did["verified"] is None
    assert "no leader" in str(did["skipped"]) and world.cut() == {}


def test_named_links_and_a_target_without_proxies(world: FakeWorld) -> None:
    fault = LinkFault(world.cluster)
    did = fault.invoke(
        Phase.START, {"links": ["n1-n3"], "toxic": "slicer", "attributes": {"average_size": 64}}
    )
    assert isinstance(did, dict) and did["verified"] is True and did["proxies"] == ["n1-n3"]
    none = fault.invoke(Phase.START, {"links": "client", "node": "n9", **LATENCY})
    assert isinstance(none, dict) and none["verified"] is False
    assert "maps to no proxy" in str(none["why"])


def test_a_toxic_toxiproxy_does_not_show_is_unverified(world: FakeWorld) -> None:
    world.toxiproxy.ignore.add("client-n2")
    did = LinkFault(world.cluster).invoke(Phase.START, {"links": "client", "node": "n2", **LATENCY})
    assert isinstance(did, dict) and did["verified"] is False
    assert (
        "does not show the latency toxic on ['client-n2/upstream', 'client-n2/downstream']"
        in str(did["why"])
    )


def test_bad_values_are_errors(world: FakeWorld) -> None:
    fault = LinkFault(world.cluster)
    with pytest.raises(FaultError, match="start-link expects"):
        fault.invoke(Phase.START, {"links": "client", "node": "n1", "toxic": "teleport"})
    with pytest.raises(FaultError, match="unknown link target 'everything'"):
        fault.invoke(Phase.START, {"links": "everything", **LATENCY})
    with pytest.raises(ToxiproxyError, match="proxy not found"):
        fault.invoke(Phase.START, {"links": ["nope"], **LATENCY})


def test_heal_all_removes_link_toxics_left_by_anyone_and_only_those(world: FakeWorld) -> None:
    tp = world.cluster.toxiproxy
    tp.add_toxic("n2-n3", Toxic("fm-link-latency-downstream", "latency", {"latency": 9}))
    tp.add_toxic("n2-n3", Toxic("fm-partition-up", "timeout", {"timeout": 0}, "upstream"))
    undo = LinkFault(world.cluster).invoke(Phase.STOP, {"heal": "all"})
    assert undo == {"removed": {"n2-n3": ["fm-link-latency-downstream"]}, "verified": True}
    assert world.cut() == {"n2-n3": ["fm-partition-up"]}


def test_toxics_that_stay_make_the_heal_unverified(world: FakeWorld) -> None:
    fault = LinkFault(world.cluster)
    fault.invoke(Phase.START, {"links": ["n1-n2"], **LATENCY})
    world.toxiproxy.ignore.add("n1-n2")
    undo = fault.invoke(Phase.STOP, {})
    assert isinstance(undo, dict) and undo["verified"] is False
    assert "link toxics remain" in str(undo["why"]) and "n1-n2" in str(undo["why"])


def test_the_schedule_draws_known_toxics_and_targets() -> None:
    ctx = NemesisContext("link", random.Random(5), ("n1", "n2", "n3"), "controller", 2, 120.0, 5.0)
    starts = [op.value for op in LINK.generator(ctx) if op.phase is Phase.START]
    assert starts
    for v in starts:
        assert isinstance(v, dict) and v["toxic"] in ("latency", "bandwidth", "slicer")
        assert v["links"] in ("peers-of", "client", "leader-client")
        assert v["streams"] == (
            ["upstream", "downstream"] if v["toxic"] == "latency" else ["downstream"]
        )


def test_pairs_slow_one_direction_of_roles_resolved_when_the_op_runs(world: FakeWorld) -> None:
    """KIP-279's schedule: key 0's first follower's bytes to its second are delayed; the
    second's bytes to the first are not (requests arrive, answers come late)."""
    fault = LinkFault(world.cluster)
    first, second = ({"target": "follower", "key": 0, "rank": r} for r in (1, 2))
    value = {"pairs": [[first, second]], "toxic": "latency", "attributes": {"latency": 8000}}
    did = fault.invoke(Phase.START, value)
    assert isinstance(did, dict) and did["verified"] is True, did
    assert did["pairs"] == [["n2", "n3"]]  # n1 leads key 0
    assert did["proxy_streams"] == {"n2-n3": ["upstream"], "n3-n2": ["downstream"]}
    assert world.cut() == {
        "n2-n3": ["fm-link-latency-upstream"],
        "n3-n2": ["fm-link-latency-downstream"],
    }
    fault.invoke(Phase.STOP, {})
    assert world.cut() == {}
    gone = {**value, "pairs": [["n1", {"target": "follower", "key": 0, "rank": 5}]]}
    skipped = fault.invoke(Phase.START, gone)
    assert isinstance(skipped, dict) and skipped["verified"] is None and world.cut() == {}
