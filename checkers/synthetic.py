"""Synthetic histories of a *correct* replicated log, for benchmarks and tests.

`write_history` simulates many client processes against an in-memory log per key that
never loses, reorders or duplicates anything, and writes the history it would produce
(DESIGN.md §3): interleaved sends and polls with ``ok``/``fail``/``info`` outcomes (an
``info`` send takes effect or not, at random, and retires its process), monitor
``replica-state`` samples with leader changes, nemesis start/stop pairs, then a complete
final read per key and one ``replica-dump`` per replica, some with an uncommitted tail
above their HW that differs between replicas (legal). Checking it must find nothing;
tests break it on purpose to show that a checker notices.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from harness.contract.history import JSON, MONITOR, NEMESIS, FaultF, Phase

_START = str(FaultF(Phase.START, "partition"))
_STOP = str(FaultF(Phase.STOP, "partition"))


@dataclass(frozen=True, slots=True)
class Shape:
    """How big and busy the synthetic run is."""

    ops: int = 10_000
    keys: int = 8
    producers: int = 40
    consumers: int = 16
    nodes: int = 3
    poll_max: int = 10
    p_fail: float = 0.03
    p_info: float = 0.04
    sample_every: int = 40
    """One replica-state sample per this many client ops (on average)."""
    fault_every: int = 5_000


@dataclass(slots=True)
class _Proc:
    number: int
    consumer: bool
    pending: dict[str, JSON] | None = None
    pending_f: str = ""
    invoked_at: int = 0
    positions: dict[int, int] = field(default_factory=dict)


class _Writer:
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.index = 0
        self.time = 0

    def op(self, process: int | str, type_: str, f: str, value: JSON, **extra: str) -> None:
        self.time += 1_000 + (self.index * 7919) % 90_000
        d: dict[str, JSON] = {
            "index": self.index,
            "time": self.time,
            "process": process,
            "type": type_,
            "f": f,
            "value": value,
        }
        d.update(extra)
        self.fh.write(orjson.dumps(d) + b"\n")
        self.index += 1


def write_history(path: str | Path, shape: Shape = Shape(), seed: int = 0) -> int:
    """Write a synthetic history of about ``shape.ops`` ops to ``path``; returns the count."""
    rng = random.Random(seed)
    logs: dict[int, list[int]] = {k: [] for k in range(shape.keys)}
    nodes = [f"n{i + 1}" for i in range(shape.nodes)]
    leader = {k: nodes[k % len(nodes)] for k in logs}
    epoch = dict.fromkeys(logs, 1)
    procs = [
        _Proc(i, consumer=i >= shape.producers) for i in range(shape.producers + shape.consumers)
    ]
    next_process = len(procs)
    next_value = 0
    tail_ops = 2 * shape.keys + shape.keys * shape.nodes
    with open(path, "wb") as fh:
        w = _Writer(fh)
        in_flight = 0
        while w.index + tail_ops + in_flight < shape.ops:
            if rng.random() < 1 / shape.sample_every:
                k = rng.randrange(shape.keys)
                if rng.random() < 0.02:
                    epoch[k] += 1
                    leader[k] = rng.choice(nodes)
                _sample(w, rng, k, nodes, leader[k], epoch[k], len(logs[k]))
                continue
            if w.index % shape.fault_every == shape.fault_every - 1:
                victim = rng.choice(nodes)
                w.op(NEMESIS, "info", _START, {"shape": "one", "cut": [victim]})
                w.op(NEMESIS, "info", _STOP, None)
                continue
            slot = rng.randrange(len(procs))
            p = procs[slot]
            if p.pending is None:
                _invoke(w, rng, p, shape, next_value)
                in_flight += 1
                if not p.consumer:
                    next_value += 1
                continue
            in_flight -= 1
            if _complete(w, rng, p, shape, logs):
                procs[slot] = _Proc(next_process, consumer=p.consumer)
                next_process += 1
        for p in procs:  # the workload stops: what is in flight ends indeterminate
            if p.pending is not None:
                w.op(p.number, "info", p.pending_f, p.pending, error="timeout")
        _tail(w, rng, logs, nodes, next_process)
    return w.index


def _sample(
    w: _Writer, rng: random.Random, k: int, nodes: list[str], lead: str, ep: int, leo: int
) -> None:
    node = rng.choice(nodes)
    lag = 0 if node == lead else rng.randrange(3)
    own_leo = max(0, leo - lag)
    value = {
        "key": k,
        "node": node,
        "role": "leader" if node == lead else "follower",
        "leo": own_leo,
        "hw": max(0, own_leo - rng.randrange(2)),
        "epoch": ep,
        "isr": nodes,
    }
    w.op(MONITOR, "info", "replica-state", value)


def _invoke(w: _Writer, rng: random.Random, p: _Proc, shape: Shape, value: int) -> None:
    k = rng.randrange(shape.keys)
    if p.consumer:
        p.pending, p.pending_f = {"key": k, "from": p.positions.get(k, 0)}, "poll"
    else:
        p.pending, p.pending_f = {"key": k, "value": value}, "send"
    p.invoked_at = w.index
    w.op(p.number, "invoke", p.pending_f, p.pending)


def _complete(
    w: _Writer, rng: random.Random, p: _Proc, shape: Shape, logs: dict[int, list[int]]
) -> bool:
    """Complete ``p``'s op; True when the process must be retired (an ``info``)."""
    assert p.pending is not None
    inv, f = p.pending, p.pending_f
    p.pending = None
    k = inv["key"]
    log = logs[k]
    r = rng.random()
    if r < shape.p_fail:
        w.op(p.number, "fail", f, inv, error="not-enough-replicas")
        return False
    if r < shape.p_fail + shape.p_info:
        if f == "send" and rng.random() < 0.5:
            log.append(inv["value"])  # it happened; the client will never know
        w.op(p.number, "info", f, inv, error="timeout")
        return True
    if f == "send":
        log.append(inv["value"])
        w.op(p.number, "ok", f, {**inv, "offset": len(log) - 1}, node="n1")
        return False
    start = inv["from"]
    upto = min(len(log), start + rng.randrange(1, shape.poll_max + 1))
    records = [[o, log[o]] for o in range(start, upto)]
    p.positions[k] = upto
    w.op(p.number, "ok", f, {**inv, "records": records, "hw": len(log)}, node="n1")
    return False


def _tail(
    w: _Writer, rng: random.Random, logs: dict[int, list[int]], nodes: list[str], process: int
) -> None:
    """Final reads (one fresh process per key), then every replica's dump."""
    for k, log in logs.items():
        records = [[o, v] for o, v in enumerate(log)]
        w.op(process, "invoke", "final-read", {"key": k})
        w.op(
            process,
            "ok",
            "final-read",
            {"key": k, "records": records, "hw": len(log), "complete": True},
        )
        process += 1
    stray = -1
    for k, log in logs.items():
        for node in nodes:
            records = [[o, v] for o, v in enumerate(log)]
            extra = rng.randrange(3)  # an uncommitted tail above the HW: legal divergence
            for i in range(extra):
                records.append([len(log) + i, stray])
                stray -= 1
            value = {
                "key": k,
                "node": node,
                "hw": len(log),
                "leo": len(records),
                "records": records,
            }
            w.op(MONITOR, "info", "replica-dump", value)
