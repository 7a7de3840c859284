"""Partition shapes: the cuts they form, on hand-checkable member sets."""

from __future__ import annotations

import random

import pytest

from faults.network import shapes
from harness.contract.plan import CLIENT

FIVE = ["n1", "n2", "n3", "n4", "n5"]


def reachable(members: list[str], cut: frozenset[tuple[str, str]], node: str) -> set[str]:
    """Who ``node`` hears from directly (itself included)."""
    return {m for m in members if m == node or (m, node) not in cut}


def test_one_isolates_a_single_node_both_ways() -> None:
    cut = shapes.one(FIVE, random.Random(3))
    (alone,), others = cut.groups
    assert len(others) == 4 and alone not in others
    assert cut.links == {(alone, o) for o in others} | {(o, alone) for o in others}


def test_majority_splits_into_a_majority_and_the_rest() -> None:
    for seed in range(20):
        cut = shapes.majority(FIVE, random.Random(seed))
        big, small = cut.groups
        assert len(big) == 3 and len(small) == 2 and set(big) | set(small) == set(FIVE)
        assert len(cut.links) == 2 * 3 * 2
        assert all((a in big) != (b in big) for a, b in cut.links)


def test_ring_gives_every_node_a_distinct_majority() -> None:
    for n in (4, 5, 6, 7):
        members = [f"n{i}" for i in range(1, n + 1)]
        cut = shapes.ring(members, random.Random(n))
        views = [frozenset(reachable(members, cut.links, m)) for m in members]
        assert all(len(v) > n // 2 for v in views), views
        assert all(len(v) < n for v in views)
        assert len(set(views)) == n, "two nodes see the same majority"
        assert all((b, a) in cut.links for a, b in cut.links), "ring cuts are symmetric"


def test_ring_refuses_three_members() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        shapes.ring(["a", "b", "c"], random.Random(0))


def test_bridge_node_talks_to_both_halves_which_are_cut() -> None:
    cut = shapes.bridge(FIVE, random.Random(9))
    left, (bridge,), right = cut.groups
    assert len(left) == 2 and len(right) == 2
    assert all(bridge not in link for link in cut.links)
    assert cut.links == shapes.between(left, right)


def test_one_way_cuts_exactly_one_direction() -> None:
    cut = shapes.one_way(FIVE, random.Random(1))
    ((a, b),) = cut.links
    assert a != b and (b, a) not in cut.links


def test_clients_cut_from_a_strict_subset_of_brokers() -> None:
    for seed in range(20):
        cut = shapes.clients(FIVE, random.Random(seed))
        (_client,), cut_brokers = cut.groups
        assert 1 <= len(cut_brokers) <= 4
        assert cut.links == shapes.between([CLIENT], cut_brokers)


def test_shapes_are_pure_functions_of_the_rng() -> None:
    for name, shape in shapes.SHAPES.items():
        a = shape(FIVE, random.Random(42))
        b = shape(FIVE, random.Random(42))
        assert a == b, name


def test_applicable_sizes() -> None:
    assert not shapes.applicable("ring", 3, 3)
    assert shapes.applicable("ring", 4, 3)
    assert not shapes.applicable("clients", 1, 1)
    assert shapes.applicable("leader", 3, 3)


def test_leader_peers_cuts_only_broker_links_of_that_node() -> None:
    cut = shapes.from_peers("n2", ["n1", "n2", "n3"])
    assert cut.shape == "leader-peers" and cut.groups == (("n2",), ("n1", "n3"))
    assert cut.links == {("n2", "n1"), ("n1", "n2"), ("n2", "n3"), ("n3", "n2")}
    assert not any("controller" in link or CLIENT in link for link in cut.links)
    assert shapes.applicable("leader-peers", 2, 2)
    assert not shapes.applicable("leader-peers", 2, 1)
    assert "leader-peers" not in shapes.ALL_SHAPES  # never drawn unless asked for
