"""partition against the fake cluster: the real Toxiproxy client talks to a stateful fake
server, and probes see what the fake network makes of the proxies' state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compose.toxiproxy.client import ToxiproxyError
from faults.common import FaultError
from faults.network.partition import TOXIC_DOWN, TOXIC_UP, PartitionFault, run_parallel
from harness.contract.history import Phase
from harness.contract.links import Toxic
from tests.faults.fake_containers import api_error
from tests.faults.fakes import FakeWorld, fake_world, recorded


@pytest.fixture
def world() -> Iterator[FakeWorld]:
    with fake_world() as w:
        yield w


def partition(world: FakeWorld) -> PartitionFault:
    return PartitionFault(world.cluster, clock=world.clock, probe=world.client_probe)


ONE_N2 = {
    "shape": "one",
    "groups": [["n2"], ["n1", "n3", "controller"]],
    "cut": [["n1", "n2"], ["n2", "n1"]],
}


def test_blackhole_puts_timeout_toxics_on_the_cut_streams_and_probes_silence(
    world: FakeWorld,
) -> None:
    fault = partition(world)
    did = fault.invoke(Phase.START, {**ONE_N2, "mode": "blackhole"})
    assert isinstance(did, dict) and did["verified"] is True, did
    assert did["proxies"] == {
        "n1-n2": ["downstream", "upstream"],
        "n2-n1": ["downstream", "upstream"],
    }
    assert {k: v["outcome"] for k, v in did["probes"].items()} == {
        "n1-n2": "silent",
        "n2-n1": "silent",
    }
    assert world.cut() == {"n1-n2": [TOXIC_DOWN, TOXIC_UP], "n2-n1": [TOXIC_DOWN, TOXIC_UP]}
    toxic = world.proxy("n1-n2")["toxics"][0]
    assert (toxic["type"], toxic["attributes"]) == ("timeout", {"timeout": 0})
    # Each probe ran in the source node: n1 probes n1-n2's listener, n2 probes n2-n1's.
    probe_argv = [c[1] for c in world.containers["n1"].calls if c[0] == "exec_run"]
    assert any("probe.py" in a[1] and "toxiproxy:22012" in a for a in probe_argv)
    healed = fault.invoke(Phase.STOP, {})
    assert healed == {"healed": {"n1-n2": "reset", "n2-n1": "reset"}, "verified": True}
    assert world.cut() == {} and fault.touched == {}
    # the heal closed the streams that lost bytes: disable, then the toxics, then enable
    patches = [(m, p, b) for m, p, b in world.toxiproxy.requests if p == "/proxies/n1-n2"]
    assert [b for _, _, b in patches] == [{"enabled": False}, {"enabled": True}]


def test_refuse_disables_the_sources_proxies_and_probes_refusal(world: FakeWorld) -> None:
    fault = partition(world)
    did = fault.invoke(Phase.START, {**ONE_N2, "mode": "refuse"})
    assert isinstance(did, dict) and did["verified"] is True, did
    assert did["proxies"] == {"n1-n2": ["disabled"], "n2-n1": ["disabled"]}
    assert world.cut() == {"n1-n2": ["disabled"], "n2-n1": ["disabled"]}
    assert fault.invoke(Phase.STOP, {}) == {
        "healed": {"n1-n2": "enabled", "n2-n1": "enabled"},
        "verified": True,
    }
    assert world.cut() == {}


def test_a_probe_answered_through_a_cut_link_is_unverified(world: FakeWorld) -> None:
    world.leaky.add("n2-n1")
    did = partition(world).invoke(Phase.START, {**ONE_N2, "mode": "blackhole"})
    assert isinstance(did, dict) and did["verified"] is False
    assert "probes through cut links should be silent" in str(did["why"])
    assert "n2-n1" in str(did["why"]) and "n1-n2" not in str(did["why"]).split("got")[1]


def test_a_cut_toxiproxy_does_not_show_is_unverified(world: FakeWorld) -> None:
    world.toxiproxy.ignore.add("n1-n2")  # acknowledged, not applied
    did = partition(world).invoke(Phase.START, {**ONE_N2, "mode": "refuse"})
    assert isinstance(did, dict) and did["verified"] is False
    assert "Toxiproxy does not show the cut on ['n1-n2']" in str(did["why"])


def test_no_probe_possible_is_neither_verified_nor_a_failure(world: FakeWorld) -> None:
    """n2 is down: n1 → n2 cannot be probed (Toxiproxy's dial to n2 is refused whatever
    the toxic), and n2 sends nothing. The cut is in place, but nothing showed it holds:
    ``verified: null`` with why, so it is not counted as verified nor makes the run
    unknown."""
    world.containers["n2"].status = "exited"
    did = partition(world).invoke(Phase.START, {**ONE_N2, "mode": "blackhole"})
    assert isinstance(did, dict) and did["verified"] is None, did
    assert did["probes"] == {} and "why" not in did
    assert did["unprobed"] == {"n2-n1": "n2 not running"}
    assert "no probe could be made through the cut links" in str(did["unconfirmed"])
    assert did["proxies"], did  # the cut itself was applied


def test_a_cut_not_read_back_is_unverified_even_when_nothing_could_be_probed(
    world: FakeWorld,
) -> None:
    world.containers["n2"].status = "exited"
    world.toxiproxy.ignore.add("n1-n2")  # Toxiproxy accepts the call but the toxic never lands
    did = partition(world).invoke(Phase.START, {**ONE_N2, "mode": "blackhole"})
    assert isinstance(did, dict) and did["verified"] is False, did
    assert "does not show the cut" in str(did["why"])


def test_a_destination_still_booting_is_left_out_the_rest_still_counts(
    world: FakeWorld,
) -> None:
    world.containers["n2"].listening = False
    did = partition(world).invoke(Phase.START, {**ONE_N2, "mode": "blackhole"})
    assert isinstance(did, dict) and did["verified"] is True, did
    assert list(did["probes"]) == ["n2-n1"]
    assert did["unprobed"] == {"n1-n2": "nothing listens on n2:9092 yet (starting up)"}


def test_a_refused_cut_to_a_stopped_node_is_still_probed(world: FakeWorld) -> None:
    world.containers["n2"].status = "exited"
    did = partition(world).invoke(Phase.START, {**ONE_N2, "mode": "refuse"})
    assert isinstance(did, dict) and did["verified"] is True, did
    assert list(did["probes"]) == ["n1-n2"]


def test_a_cut_that_maps_to_no_proxy_is_unverified(world: FakeWorld) -> None:
    did = partition(world).invoke(Phase.START, {"cut": [["admin", "n1"]], "mode": "refuse"})
    assert isinstance(did, dict) and did["verified"] is False
    assert "maps to no proxy of this cluster" in str(did["why"])
    assert world.cut() == {}


def test_the_clients_shape_probes_from_the_harness(world: FakeWorld) -> None:
    cut = {"shape": "clients", "cut": [["client", "n3"], ["n3", "client"]], "mode": "refuse"}
    did = partition(world).invoke(Phase.START, cut)
    assert isinstance(did, dict) and did["verified"] is True, did
    assert did["proxies"] == {"client-n3": ["disabled"]}
    assert did["probes"]["client-n3"]["outcome"] == "refused"


def test_client_probes_fall_back_to_the_published_port(world: FakeWorld) -> None:
    seen: list[str] = []

    def probe(address: str, deadline: float) -> object:
        seen.append(address)
        return world.client_probe(address, deadline)

    world.toxiproxy_container.fail["reload"] = [api_error(404, "No such container")]
    fault = PartitionFault(world.cluster, clock=world.clock, probe=probe)  # type: ignore[arg-type]
    cut = {"cut": [["client", "n1"], ["n1", "client"]], "mode": "refuse"}
    assert isinstance(did := fault.invoke(Phase.START, cut), dict) and did["verified"] is True
    assert seen == [world.cluster.endpoint("client-n1")]


def test_isolating_a_key_leader_resolves_it_when_the_op_runs(world: FakeWorld) -> None:
    world.leaders[0] = "n3"
    did = partition(world).invoke(Phase.START, {"shape": "leader", "key": 0, "mode": "refuse"})
    assert isinstance(did, dict) and did["verified"] is True and did["leader"] == "n3"
    assert sorted(did["proxies"]) == sorted(
        ["n3-n1", "n3-n2", "n3-controller", "n1-n3", "n2-n3", "controller-n3"]
    )
    world.containers["n3"].status = "exited"
    gone = partition(world).invoke(Phase.START, {"shape": "leader", "key": 0, "mode": "refuse"})
    assert isinstance(gone, dict) and gone["verified"] is None
    assert gone["skipped"] == "key 0 has no leader to isolate right now"


def test_a_malformed_start_is_an_error(world: FakeWorld) -> None:
    with pytest.raises(FaultError, match="start-partition expects"):
        partition(world).invoke(Phase.START, {"shape": "one", "mode": "sideways"})


def test_a_toxiproxy_error_is_recorded_unverified(world: FakeWorld, tmp_path: Path) -> None:
    world.toxiproxy.fail[("PATCH", "/proxies/n2-n1")] = [500]
    op = recorded(
        world,
        partition(world),
        "partition",
        Phase.START,
        {**ONE_N2, "mode": "refuse"},
        str(tmp_path / "h.jsonl"),
    )
    assert isinstance(op.value, dict) and op.value["verified"] is False
    assert op.error == "ToxiproxyError" and "scripted failure 500" in str(op.value["why"])


def test_heal_all_undoes_cuts_this_fault_did_not_make(world: FakeWorld) -> None:
    tp = world.cluster.toxiproxy
    tp.disable("n1-n3")
    tp.add_toxic("n3-n2", Toxic(TOXIC_UP, "timeout", {"timeout": 0}, "upstream"))
    tp.add_toxic("n3-n1", Toxic("someone-elses", "latency", {"latency": 5}))
    healed = partition(world).invoke(Phase.STOP, {"heal": "all"})
    assert healed == {"healed": {"n1-n3": "enabled", "n3-n2": "reset"}, "verified": True}
    assert world.cut() == {"n3-n1": ["someone-elses"]}  # not a partition toxic: left alone


def test_a_heal_that_does_not_land_is_unverified(world: FakeWorld) -> None:
    fault = partition(world)
    fault.invoke(Phase.START, {**ONE_N2, "mode": "refuse"})
    world.toxiproxy.ignore.add("n2-n1")
    healed = fault.invoke(Phase.STOP, {})
    assert isinstance(healed, dict) and healed["verified"] is False
    assert healed["why"] == "proxies still cut after healing: ['n2-n1']"


def test_a_heal_toxiproxy_refuses_raises(world: FakeWorld) -> None:
    fault = partition(world)
    fault.invoke(Phase.START, {**ONE_N2, "mode": "blackhole"})
    world.toxiproxy.fail[("DELETE", f"/proxies/n1-n2/toxics/{TOXIC_UP}")] = [500]
    with pytest.raises(ToxiproxyError, match="answered 500"):
        fault.invoke(Phase.STOP, {})


def test_unsure_listen_readings_count_as_listening(world: FakeWorld) -> None:
    n2 = world.containers["n2"]
    n2.agent_reply = lambda argv: (1, b"", b"cat: permission denied") if argv[0] == "cat" else None
    did = partition(world).invoke(Phase.START, {**ONE_N2, "mode": "blackhole"})
    assert isinstance(did, dict) and set(did["probes"]) == {"n1-n2", "n2-n1"}


def test_run_parallel_of_nothing_is_nothing() -> None:
    assert run_parallel([]) == []


def follower(rank: int) -> dict[str, object]:
    return {"target": "follower", "key": 0, "rank": rank}


def test_a_cut_end_may_name_a_role_resolved_when_the_op_runs(world: FakeWorld) -> None:
    """KIP-279's schedule: key 0's leader's bytes stop reaching its first follower, and
    the first follower's its second; one-way blackholes on the proxies that carry them."""
    fault = partition(world)
    leader = {"target": "leader", "key": 0}
    value = {"mode": "blackhole", "cut": [[leader, follower(1)], [follower(1), follower(2)]]}
    did = fault.invoke(Phase.START, value)
    assert isinstance(did, dict) and did["verified"] is True, did
    assert did["cut"] == [["n1", "n2"], ["n2", "n3"]]  # n1 leads key 0; n2, n3 in order
    assert did["proxies"] == {
        "n1-n2": ["upstream"],
        "n2-n1": ["downstream"],
        "n2-n3": ["upstream"],
        "n3-n2": ["downstream"],
    }
    assert world.system.calls <= 3  # each role resolved once, not once per pair end
    fault.invoke(Phase.STOP, {})
    assert world.cut() == {}


def test_a_role_that_is_not_there_skips_the_cut_and_a_bad_pair_is_refused(
    world: FakeWorld,
) -> None:
    fault = partition(world)
    did = fault.invoke(Phase.START, {"mode": "blackhole", "cut": [["n1", follower(3)]]})
    assert isinstance(did, dict) and did["verified"] is None
    assert "no in-sync follower of rank 3" in str(did["skipped"])
    assert world.cut() == {}
    with pytest.raises(FaultError, match=r"\[from, to\]"):
        fault.invoke(Phase.START, {"mode": "blackhole", "cut": [["n1"]]})
