"""Partition shapes: pure functions from members + a seeded RNG to the links to cut.

A *cut* is a set of directed pairs ``(a, b)``: bytes sent by ``a`` no longer reach ``b``.
A symmetric partition between ``a`` and ``b`` cuts both ``(a, b)`` and ``(b, a)``; a
one-way partition cuts one of them. ``members`` are the cluster's nodes (brokers and the
controller, which is a node of the network like any other); the test's clients are the
pseudo-node `CLIENT`, reached only by the ``clients`` shape.

Shapes (Jepsen's names where they exist):

================  =====================================================================
``one``           isolate one node from every other member
``majority``      split the members into random halves (the larger half keeps a majority)
``ring``          every node sees a majority but no two see the same one (needs ≥ 4)
``bridge``        two halves that only one node (the bridge) can talk to both of
``leader``        isolate the node leading a key (resolved when the fault runs: `isolate`)
``leader-peers``  cut the node leading a key from the other brokers only; it keeps the
                  controller and the clients (resolved when it runs: `from_peers`). Only
                  on request (``partition_shapes``), never drawn by default: it aims at
                  one known scenario (an ISR shrunk to the leader alone keeps acking)
``one-way``       one node's bytes stop reaching one other node (the reverse still works)
``clients``       the clients are cut from a random non-empty strict subset of brokers
================  =====================================================================

Example: ``majority(["n1", "n2", "n3"], random.Random(1))`` might give groups
``[["n1", "n3"], ["n2"]]`` and cut ``{("n1","n2"), ("n2","n1"), ("n3","n2"), ("n2","n3")}``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from harness.contract.history import JSON
from harness.contract.plan import CLIENT

Link = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Cut:
    """What a shape decided: its name, the groups it formed (for people) and the links."""

    shape: str
    groups: tuple[tuple[str, ...], ...]
    links: frozenset[Link]

    def to_json(self) -> dict[str, JSON]:
        return {
            "shape": self.shape,
            "groups": [list(g) for g in self.groups],
            "cut": sorted([a, b] for a, b in self.links),
        }


def between(side_a: Sequence[str], side_b: Sequence[str]) -> frozenset[Link]:
    """Both directions of every link between the two sides."""
    return frozenset(
        {(a, b) for a in side_a for b in side_b} | {(b, a) for a in side_a for b in side_b}
    )


def isolate(node: str, members: Sequence[str], shape: str = "one") -> Cut:
    others = tuple(m for m in members if m != node)
    return Cut(shape, ((node,), others), between([node], others))


def from_peers(node: str, brokers: Sequence[str], shape: str = "leader-peers") -> Cut:
    """Cut ``node`` from the other brokers (both directions); other links stay."""
    peers = tuple(b for b in brokers if b != node)
    return Cut(shape, ((node,), peers), between([node], peers))


def one(members: Sequence[str], rng: random.Random) -> Cut:
    return isolate(rng.choice(list(members)), members)


def majority(members: Sequence[str], rng: random.Random) -> Cut:
    shuffled = list(members)
    rng.shuffle(shuffled)
    k = len(shuffled) // 2 + 1
    big, small = tuple(sorted(shuffled[:k])), tuple(sorted(shuffled[k:]))
    return Cut("majority", (big, small), between(big, small))


def ring(members: Sequence[str], rng: random.Random) -> Cut:
    """Members in a shuffled ring; each keeps the links to the nodes within ``reach``
    ring steps, where ``reach`` is the smallest that gives every node a majority."""
    n = len(members)
    if n < 4:
        raise ValueError(f"the ring shape needs at least 4 members, got {n}")
    order = list(members)
    rng.shuffle(order)
    reach = (n // 2 + 1) // 2  # 2*reach + 1 >= n//2 + 1 nodes seen, itself included
    links = set()
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            d = min((i - j) % n, (j - i) % n)
            if d > reach:
                links.add((a, b))
    return Cut("ring", (tuple(order),), frozenset(links))


def bridge(members: Sequence[str], rng: random.Random) -> Cut:
    if len(members) < 3:
        raise ValueError(f"the bridge shape needs at least 3 members, got {len(members)}")
    order = list(members)
    rng.shuffle(order)
    mid = len(order) // 2
    left, node, right = tuple(sorted(order[:mid])), order[mid], tuple(sorted(order[mid + 1 :]))
    return Cut("bridge", (left, (node,), right), between(left, right))


def one_way(members: Sequence[str], rng: random.Random) -> Cut:
    a, b = rng.sample(list(members), 2)
    return Cut("one-way", ((a,), (b,)), frozenset({(a, b)}))


def clients(brokers: Sequence[str], rng: random.Random) -> Cut:
    """Cut the clients from 1 … n-1 random brokers (both directions)."""
    n = len(brokers)
    k = rng.randint(1, max(1, n - 1))
    cut = tuple(sorted(rng.sample(list(brokers), k)))
    return Cut("clients", ((CLIENT,), cut), between([CLIENT], cut))


Shape = Callable[[Sequence[str], random.Random], Cut]

SHAPES: Final[dict[str, Shape]] = {
    "one": one,
    "majority": majority,
    "ring": ring,
    "bridge": bridge,
    "one-way": one_way,
    "clients": clients,
}
"""Shapes decided entirely at schedule time. ``leader`` is decided when it runs."""

ALL_SHAPES: Final = (*SHAPES, "leader")
"""What a partition draws from when the run does not restrict ``partition_shapes``."""

TARGETED_SHAPES: Final = ("leader-peers",)
"""Shapes only drawn when asked for by name (they would change every seed's schedule)."""

MIN_MEMBERS: Final = {"ring": 4, "bridge": 3, "one-way": 2, "majority": 2, "one": 2}


def applicable(shape: str, members: int, brokers: int) -> bool:
    """Can ``shape`` be formed on a cluster of this size?"""
    if shape == "clients":
        return brokers >= 2
    if shape == "leader":
        return members >= 2
    if shape == "leader-peers":
        return brokers >= 2
    return members >= MIN_MEMBERS.get(shape, 2)
