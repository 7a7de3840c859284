"""Each protocol-aware trigger fires on its danger point and not otherwise; its action."""

from __future__ import annotations

import random

import pytest

from faults.network import partition
from faults.triggers import election, isr, power, truncation
from faults.triggers.registry import TRIGGERS
from faults.triggers.seen import Replica, Role, Seen, Tracker, round_of
from faults.triggers.trigger import FINAL_HEAL, TIMER, Spot
from tests.faults.rounds import NODES, healthy, replace, sample, seen

ALL = ("kill", "pause", "partition", "lose-unfsynced")


def test_the_registry_holds_every_family_and_no_reserved_name() -> None:
    assert {t.family for t in TRIGGERS.values()} == {"isr", "truncation", "election", "power"}
    assert TIMER not in TRIGGERS and FINAL_HEAL not in TRIGGERS
    for t in TRIGGERS.values():
        assert t.doc and t.packages and 0 < t.chance <= 1


def test_a_sample_is_read_as_the_monitor_writes_it() -> None:
    r = Replica.of(sample(1, "n2", "follower", leo=7, hw=5, epoch=3, isr=("n1", "n2")))
    assert (r.key, r.node, r.role, r.leo, r.hw, r.epoch, r.isr) == (
        1, "n2", Role.FOLLOWER, 7, 5, 3, ("n1", "n2"),
    )  # fmt: skip
    assert Replica.of({"key": 0, "node": "n1", "role": "weird"}).role is Role.OFFLINE


# -- isr-alone ---------------------------------------------------------------------------


def test_isr_alone_fires_on_a_leader_alone_in_its_isr() -> None:
    rnd = replace(healthy(), 1, "n1", isr=["n1"])
    (spot,) = isr.ISR_ALONE.spot(seen(rnd))
    assert spot.key == 1 and spot.state["leader"] == "n1" and spot.state["isr"] == ["n1"]
    action = isr.ISR_ALONE.act(spot, seen(rnd), random.Random(1), ALL)
    assert action is not None and action.package in ("kill", "lose-unfsynced")
    assert action.value == {"target": "leader", "key": 1}


def test_isr_alone_does_not_fire_on_a_full_or_two_member_isr() -> None:
    assert isr.ISR_ALONE.spot(seen(healthy())) == []
    assert isr.ISR_ALONE.spot(seen(replace(healthy(), 0, "n1", isr=["n1", "n2"]))) == []
    rf1 = seen(replace(healthy(), 1, "n1", isr=["n1"]))
    assert isr.ISR_ALONE.spot(type(rf1)(rf1.at, rf1.now, rf1.before, rf1.busy, 1)) == []


def test_isr_alone_cannot_act_without_a_crash_package() -> None:
    spot = Spot(0, {"leader": "n1"})
    assert isr.ISR_ALONE.act(spot, seen(healthy()), random.Random(1), ("pause",)) is None


# -- leader-cut ----------------------------------------------------------------------------


def test_leader_cut_fires_on_each_key_with_a_full_isr_while_nothing_is_active() -> None:
    spots = isr.LEADER_CUT.spot(seen(replace(healthy(), 1, "n1", isr=["n1", "n2"])))
    assert [(s.key, s.state["leader"]) for s in spots] == [(0, "n1")]
    assert isr.LEADER_CUT.spot(seen(healthy(), busy=frozenset({"pause"}))) == []
    assert isr.LEADER_CUT.chance < 1 and isr.LEADER_CUT.min_lasts_s == isr.CUT_S


def test_leader_cut_cuts_the_leader_from_its_peers_only() -> None:
    (spot, _) = isr.LEADER_CUT.spot(seen(healthy()))
    action = isr.LEADER_CUT.act(spot, seen(healthy()), random.Random(2), ALL)
    assert action is not None and action.package == "partition"
    assert isinstance(action.value, dict)
    assert action.value["shape"] == "leader-peers" and action.value["key"] == 0
    assert action.value["mode"] in partition.MODES
    assert isr.LEADER_CUT.act(spot, seen(healthy()), random.Random(2), ("kill",)) is None


def test_follower_behind_fires_at_the_lag_and_not_below() -> None:
    lagging = replace(healthy(leo=100), 0, "n3", leo=100 - isr.LAG)
    (spot,) = isr.FOLLOWER_BEHIND.spot(seen(lagging))
    assert spot.state["follower"] == "n3" and spot.state["lag"] == isr.LAG
    close = replace(healthy(leo=100), 0, "n3", leo=100 - isr.LAG + 1)
    assert isr.FOLLOWER_BEHIND.spot(seen(close)) == []
    offline = replace(healthy(leo=100), 0, "n3", role="offline", leo=-1)
    assert isr.FOLLOWER_BEHIND.spot(seen(offline)) == []  # a dead follower is not "behind"


# -- follower-restarted, follower-back ------------------------------------------------


def restart(nodes: set[str], rnd: list[dict[str, object]]) -> Seen:
    return Tracker(3, round_of(rnd)).restart(frozenset(nodes), 9.0, frozenset())


def test_follower_restarted_fires_when_an_in_sync_follower_was_just_restarted() -> None:
    down = replace(healthy(keys=1), 0, "n2", role="offline", leo=-1, hw=-1, epoch=-1, isr=[])
    (spot,) = truncation.FOLLOWER_RESTARTED.spot(restart({"n2"}, down))
    assert spot.state == {"key": 0, "follower": "n2", "leader": "n1", "epoch": 1,
                          "isr": ["n1", "n2", "n3"], "leader_leo": 10, "leader_hw": 10}  # fmt: skip
    action = truncation.FOLLOWER_RESTARTED.act(spot, restart({"n2"}, down), random.Random(2), ALL)
    assert action is not None and action.package == "kill"  # SIGKILL, never a power loss
    assert action.value == {"target": "leader", "key": 0}
    assert truncation.FOLLOWER_RESTARTED.on_restart


def test_follower_restarted_does_not_fire_otherwise() -> None:
    out_of_isr = replace(healthy(keys=1), 0, "n1", isr=["n1", "n3"])
    assert truncation.FOLLOWER_RESTARTED.spot(restart({"n2"}, out_of_isr)) == []
    assert truncation.FOLLOWER_RESTARTED.spot(restart({"n1"}, healthy(keys=1))) == []  # the leader
    assert truncation.FOLLOWER_RESTARTED.spot(restart(set(), healthy(keys=1))) == []
    assert truncation.FOLLOWER_RESTARTED.spot(seen(healthy(keys=1))) == []  # a plain round
    spot = Spot(0, {"leader": "n1"})
    no_kill = truncation.FOLLOWER_RESTARTED.act(spot, seen([]), random.Random(1), ("pause",))
    assert no_kill is None


def test_follower_back_fires_on_the_first_round_back() -> None:
    down = replace(healthy(keys=1), 0, "n2", role="offline", leo=-1, hw=-1, epoch=-1, isr=[])
    back = replace(healthy(keys=1, leo=12), 0, "n2", leo=8, hw=8)
    (spot,) = truncation.FOLLOWER_BACK.spot(seen(back, down))
    assert spot.state == {
        "key": 0, "follower": "n2", "follower_leo": 8, "follower_hw": 8, "leader": "n1",
        "leader_leo": 12, "leader_hw": 12, "epoch": 1, "caught_up": False,
    }  # fmt: skip
    action = truncation.FOLLOWER_BACK.act(spot, seen(back, down), random.Random(2), ALL)
    assert action is not None and action.value == {"target": "leader", "key": 0}
    assert truncation.FOLLOWER_BACK.in_recovery


def test_follower_back_does_not_fire_without_a_return_or_a_leader() -> None:
    assert truncation.FOLLOWER_BACK.spot(seen(healthy(), healthy())) == []
    assert truncation.FOLLOWER_BACK.spot(seen(healthy())) == []  # nothing before
    down = replace(healthy(keys=1), 0, "n2", role="offline")
    no_leader = [sample(0, n, "follower") for n in NODES]
    assert truncation.FOLLOWER_BACK.spot(seen(no_leader, down)) == []
    assert truncation.FOLLOWER_BACK.spot(seen(down, down)) == []


# -- leader-change -----------------------------------------------------------------------


def test_leader_change_fires_on_a_new_leader_in_a_higher_epoch() -> None:
    before = healthy(keys=1, leader="n1", epoch=1)
    after = healthy(keys=1, leader="n2", epoch=2)
    (spot,) = election.LEADER_CHANGE.spot(seen(after, before))
    assert spot.state == {"key": 0, "leader": "n2", "epoch": 2, "old_leader": "n1",
                          "old_epoch": 1}  # fmt: skip
    acts = set()
    for s in range(40):
        a = election.LEADER_CHANGE.act(spot, seen(after, before), random.Random(s), ALL)
        assert a is not None and isinstance(a.value, dict)
        acts.add((a.package, str(a.value.get("nodes", a.value.get("shape")))))
    # pause the new leader, pause the old one, cut the new one (the leader shape)
    assert acts == {("pause", "['n2']"), ("pause", "['n1']"), ("partition", "leader")}
    cut = election.LEADER_CHANGE.act(spot, seen(after, before), random.Random(0), ("partition",))
    assert cut is not None and isinstance(cut.value, dict)
    assert cut.value["key"] == 0 and cut.value["mode"] in partition.MODES


def test_leader_change_fires_on_two_claims_and_not_on_a_steady_leader() -> None:
    two = replace(healthy(keys=1), 0, "n2", role="leader", epoch=1)
    (spot,) = election.LEADER_CHANGE.spot(seen(two, healthy(keys=1)))
    assert spot.state["claims"] == ["n1", "n2"]
    assert election.LEADER_CHANGE.spot(seen(healthy(keys=1), healthy(keys=1))) == []
    stale = healthy(keys=1, leader="n2", epoch=1)  # another node, same epoch: not a change
    assert election.LEADER_CHANGE.spot(seen(stale, healthy(keys=1))) == []


def test_leader_change_does_not_pause_an_old_leader_that_is_down() -> None:
    before = healthy(keys=1, leader="n1", epoch=1)
    after = replace(healthy(keys=1, leader="n2", epoch=2), 0, "n1", role="offline")
    (spot,) = election.LEADER_CHANGE.spot(seen(after, before))
    for s in range(30):
        a = election.LEADER_CHANGE.act(spot, seen(after, before), random.Random(s), ("pause",))
        assert a is not None and a.value == {"target": "one", "nodes": ["n2"]}


# -- mass-crash ----------------------------------------------------------------------------


def test_mass_crash_fires_on_a_healthy_writing_cluster() -> None:
    (spot,) = power.MASS_CRASH.spot(seen(healthy(leo=12), healthy(leo=10)))
    assert spot.state["written"] == 4 and spot.state["healthy"] is True
    kinds: list[str] = []
    packages: list[str] = []
    for s in range(400):
        a = power.MASS_CRASH.act(spot, seen(healthy(leo=12)), random.Random(s), ALL)
        assert a is not None and isinstance(a.value, dict)
        kinds.append(str(a.value["target"]))
        packages.append(a.package)
        nodes = a.value["nodes"]
        assert isinstance(nodes, list) and len(nodes) == (3 if a.value["target"] == "all" else 2)
    # leaning to the danger point: every replica, and what it had not fsynced, at once
    assert 0.78 < kinds.count("all") / 400 < 0.92 and "majority" in kinds
    assert 0.72 < packages.count("lose-unfsynced") / 400 < 0.88 and "kill" in packages
    assert power.MASS_CRASH.chance < 1
    for only in ("kill", "lose-unfsynced"):
        a = power.MASS_CRASH.act(spot, seen(healthy(leo=12)), random.Random(1), (only,))
        assert a is not None and a.package == only
    assert power.MASS_CRASH.act(spot, seen(healthy(leo=12)), random.Random(1), ("pause",)) is None


def test_mass_crash_may_come_beside_a_fault_that_leaves_every_node_up() -> None:
    for quiet in power.BESIDE:
        busy = frozenset({quiet})
        assert power.MASS_CRASH.spot(seen(healthy(leo=12), healthy(leo=10), busy=busy))


@pytest.mark.parametrize(
    "case",
    ["idle", "first-round", "busy", "isr-short", "no-leader"],
)
def test_mass_crash_does_not_fire_otherwise(case: str) -> None:
    now, before, busy = healthy(leo=12), healthy(leo=10), frozenset[str]()
    if case == "idle":
        before = now
    elif case == "first-round":
        before = []
    elif case == "busy":
        busy = frozenset({"link", "pause"})
    elif case == "isr-short":
        now = replace(now, 0, "n1", isr=["n1", "n2"])
    else:
        now = replace(now, 1, "n1", role="follower")
    assert power.MASS_CRASH.spot(seen(now, before, busy=busy)) == []
