"""A seeded generator of realistic run directories for the report tests and benchmark.

It simulates a 3-replica log with concurrent producers and consumers (sends, polls with
records below the HW, fail and info completions, retired processes), ``replica-state``
samples every second per key and node (followers lag, the ISR shrinks while a node is
cut off), a fault schedule (partition, pause, kill, slow-disk), final reads and replica
dumps. With ``anomalies=True`` key 0 goes through KIP-101's scenario: the leader is
killed right after acknowledging offset ``m``; the new leader, whose HW had not yet
passed ``m``, truncates it and writes a different value there; the old leader restarts,
truncates only to its own HW and keeps its value. The final read misses the acked value
(lost-write), offset ``m`` holds two values (inconsistent-offsets) and the replica dumps
disagree below both HWs (replica-divergence).

`generate_run` writes ``history.jsonl``, ``test.json``, ``logs/`` and (unless told not
to) ``results.json`` with the anomalies the simulation knows it introduced, in the
format of DESIGN.md §4 (the checkers' own output where they are importable is tested
separately).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.contract.history import FaultF, Phase

NS = 1_000_000_000


@dataclass(frozen=True)
class GenSpec:
    ops: int = 4000
    duration: float = 20.0
    keys: int = 3
    nodes: tuple[str, str, str] = ("n1", "n2", "n3")
    processes: int = 6
    seed: int = 7
    anomalies: bool = True
    payload: str = ""
    """Text planted in error messages, fault values, names and messages (escaping tests)."""
    write_results: bool = True
    name: str = "kip-101-hw-truncation"


@dataclass
class _Key:
    log: list[int] = field(default_factory=list)
    leader: int = 0
    epoch: int = 1
    follower_leo: list[int] = field(default_factory=lambda: [0, 0, 0])
    hw: int = 0
    old_leader_log: list[int] | None = None


@dataclass
class _Fault:
    start: float
    stop: float
    package: str
    value: dict[str, Any]


class _Writer:
    def __init__(self, path: Path) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.index = 0
        self.last: dict[str, Any] = {}

    def op(
        self, t: float, process: Any, typ: str, f: str, value: Any, **extra: Any
    ) -> dict[str, Any]:
        d = {
            "index": self.index,
            "time": int(t * NS),
            "process": process,
            "type": typ,
            "f": f,
            "value": value,
        }
        d.update({k: v for k, v in extra.items() if v is not None})
        self.fh.write(orjson.dumps(d) + b"\n")
        self.index += 1
        return d

    def close(self) -> None:
        self.fh.close()


def generate_run(run_dir: Path, spec: GenSpec = GenSpec()) -> dict[str, Any]:
    """Write a run directory; returns the results (also written to results.json if asked)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(spec.seed)
    nodes = list(spec.nodes)
    d = spec.duration
    faults = [
        _Fault(
            0.18 * d,
            0.30 * d,
            "partition",
            {
                "shape": spec.payload or "one",
                "cut": {nodes[2]: [nodes[0], nodes[1]]},
                "toxic": "timeout",
            },
        ),
        _Fault(0.38 * d, 0.44 * d, "pause", {"nodes": [nodes[1]], "how": "cgroup freezer"}),
        _Fault(0.55 * d, 0.62 * d, "kill", {"nodes": [nodes[0]], "signal": "SIGKILL"}),
        _Fault(
            0.70 * d,
            0.80 * d,
            "slow-disk",
            {"nodes": [nodes[2]], "write_bps": 1048576, "device": "8:16"},
        ),
    ]
    keys = [_Key(leader=0) for _ in range(spec.keys)]
    w = _Writer(run_dir / "history.jsonl")
    witness: dict[str, Any] = {}
    acks: dict[int, dict[str, Any]] = {}
    invokes: dict[int, dict[str, Any]] = {}
    next_value = 1
    next_proc = spec.processes
    positions: dict[tuple[int, int], int] = {}
    heap: list[tuple[float, int, int, str]] = []
    seq = 0
    for p in range(spec.processes):
        heapq.heappush(heap, (rng.uniform(0, 0.01), seq, p, "invoke"))
        seq += 1
    pending: dict[int, tuple[str, dict[str, Any], float]] = {}
    mean_gap = spec.duration * spec.processes / max(1, spec.ops / 2)
    next_sample = 0.0
    fault_events = sorted(
        [(f.start, "start", f) for f in faults] + [(f.stop, "stop", f) for f in faults],
        key=lambda e: e[0],
    )
    budget = spec.ops - spec.keys * 2 - spec.keys * len(nodes)

    def active(t: float) -> list[_Fault]:
        return [f for f in faults if f.start <= t < f.stop]

    def sample(t: float) -> None:
        for k, st in enumerate(keys):
            cut = {nodes[2]} if any(f.package == "partition" for f in active(t)) else set()
            dead = {nodes[0]} if any(f.package == "kill" for f in active(t)) else set()
            for i, n in enumerate(nodes):
                leo = len(st.log) if i == st.leader else st.follower_leo[i]
                isr = [x for x in nodes if x not in cut | dead]
                role = "offline" if n in dead else ("leader" if i == st.leader else "follower")
                hw = st.hw if i == st.leader else min(leo, st.hw)
                w.op(
                    t,
                    "monitor",
                    "info",
                    "replica-state",
                    {
                        "key": k,
                        "node": n,
                        "role": role,
                        "leo": leo,
                        "hw": hw,
                        "epoch": st.epoch,
                        "isr": isr,
                    },
                )

    def replicate(t: float) -> None:
        for st in keys:
            leo = len(st.log)
            for i in range(3):
                if i == st.leader:
                    continue
                blocked = (
                    (i == 2 and any(f.package == "partition" for f in active(t)))
                    or (i == 1 and any(f.package == "pause" for f in active(t)))
                    or (i == 0 and any(f.package == "kill" for f in active(t)))
                )
                if not blocked:
                    st.follower_leo[i] = max(0, leo - rng.randint(0, 2))
            in_sync = [len(st.log)] + [
                st.follower_leo[i]
                for i in range(3)
                if i != st.leader
                and not (i == 2 and any(f.package == "partition" for f in active(t)))
                and not (i == 0 and any(f.package == "kill" for f in active(t)))
            ]
            st.hw = max(st.hw if st.hw <= len(st.log) else len(st.log), min(in_sync))

    def kill_leader_of_key0(t: float) -> None:
        st = keys[0]
        if not spec.anomalies or not st.log or 0 not in acks:
            return
        m = acks[0]["ok"]["value"]["offset"]
        st.old_leader_log = list(st.log)
        st.log = st.log[:m]  # the new leader had not seen the HW pass m: truncates it
        st.leader = 1
        st.epoch += 1
        st.hw = min(st.hw, m)
        st.follower_leo = [len(st.old_leader_log), m, min(st.follower_leo[2], m)]
        witness["m"] = m
        witness["old"] = st.old_leader_log[m]
        witness["ack"] = acks[0]

    fault_i = 0
    t = 0.0

    def advance(t: float) -> None:
        """Write the samples and fault ops due by ``t``, in time order."""
        nonlocal next_sample, fault_i
        while True:
            ft = fault_events[fault_i][0] if fault_i < len(fault_events) else float("inf")
            if min(ft, next_sample) > t:
                return
            if next_sample <= ft:
                replicate(next_sample)
                sample(next_sample)
                next_sample += 0.25
                continue
            _, phase, f = fault_events[fault_i]
            fault_i += 1
            if phase == "start":
                if f.package == "kill":
                    kill_leader_of_key0(ft)
                w.op(ft, "nemesis", "info", str(FaultF(Phase.START, f.package)), f.value)
            else:
                if f.package == "kill":
                    keys[0].follower_leo[0] = len(keys[0].log)
                stop_value = {"healed": True, "note": spec.payload} if spec.payload else None
                w.op(ft, "nemesis", "info", str(FaultF(Phase.STOP, f.package)), stop_value)

    while heap and w.index < budget:
        t, _, proc, kind = heapq.heappop(heap)
        advance(t)
        if kind == "invoke":
            k = rng.randrange(spec.keys)
            if rng.random() < 0.6:
                value = {"key": k, "value": next_value}
                next_value += 1
                f = "send"
            else:
                value = {"key": k, "from": positions.get((proc, k), 0)}
                f = "poll"
            inv = w.op(t, proc, "invoke", f, value)
            invokes[proc] = inv
            faulty = bool(active(t))
            lat = rng.lognormvariate(-5.5, 0.6) * (8 if faulty else 1)
            pending[proc] = (f, value, t)
            heapq.heappush(heap, (t + lat, seq, proc, "complete"))
            seq += 1
            continue
        f, value, _t0 = pending.pop(proc)
        k = value["key"]
        st = keys[k]
        faulty = bool(active(t))
        r = rng.random()
        err_text = f"timeout {spec.payload}".strip()
        retired = False
        if f == "send":
            if r < (0.08 if faulty else 0.005):
                w.op(t, proc, "info", f, value, error=err_text)
                if rng.random() < 0.5:
                    st.log.append(value["value"])
                retired = True
            elif r < (0.16 if faulty else 0.01):
                w.op(t, proc, "fail", f, value, error="not-leader-for-partition")
            else:
                st.log.append(value["value"])
                done = w.op(
                    t, proc, "ok", f, {**value, "offset": len(st.log) - 1}, node=nodes[st.leader]
                )
                acks[k] = {"invoke": invokes[proc], "ok": done}
        else:
            frm = value["from"]
            if r < (0.1 if faulty else 0.01):
                w.op(t, proc, "fail", f, value, error=err_text)
            else:
                hi = min(st.hw, frm + 8, len(st.log))
                records = [[o, st.log[o]] for o in range(frm, hi)]
                w.op(
                    t,
                    proc,
                    "ok",
                    f,
                    {**value, "records": records, "hw": st.hw},
                    node=nodes[st.leader],
                )
                positions[(proc, k)] = frm + len(records)
        if retired:
            proc = next_proc
            next_proc += 1
        heapq.heappush(heap, (t + rng.uniform(0, 2 * mean_gap), seq, proc, "invoke"))
        seq += 1
    for proc, (f, value, _t0) in sorted(pending.items()):
        w.op(t, proc, "info", f, value, error="run ended")
    advance(max(t, spec.duration))
    end = max(t, spec.duration) + 0.5
    finals: dict[int, dict[str, Any]] = {}
    for k, st in enumerate(keys):
        proc = next_proc
        w.op(end, proc, "invoke", "final-read", {"key": k})
        finals[k] = w.op(
            end + 0.01,
            proc,
            "ok",
            "final-read",
            {
                "key": k,
                "records": [[o, v] for o, v in enumerate(st.log)],
                "hw": len(st.log),
                "complete": True,
            },
            node=nodes[st.leader],
        )
        next_proc += 1
    dumps: dict[str, dict[str, Any]] = {}
    for k, st in enumerate(keys):
        for i, n in enumerate(nodes):
            log = list(st.log)
            if k == 0 and i == 0 and st.old_leader_log is not None and "m" in witness:
                log[witness["m"]] = witness["old"]
            op = w.op(
                end + 0.1,
                "monitor",
                "info",
                "replica-dump",
                {
                    "key": k,
                    "node": n,
                    "hw": len(log),
                    "leo": len(log),
                    "records": [[o, v] for o, v in enumerate(log)],
                },
            )
            if k == 0:
                dumps[n] = op
    w.close()
    _write_meta(run_dir, spec, end)
    results = _results(spec, witness, finals, dumps, w.index, nodes)
    if spec.write_results:
        (run_dir / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return results


def _write_meta(run_dir: Path, spec: GenSpec, end: float) -> None:
    name = spec.name + (f" {spec.payload}" if spec.payload else "")
    test = {
        "name": name,
        "run_id": "20250101T020000-" + str(spec.seed),
        "seed": spec.seed,
        "config": {
            "system": "replog",
            "profile": "kafka-0.10",
            "nodes": list(spec.nodes),
            "keys": spec.keys,
            "time_limit": spec.duration,
            "nemesis": ["partition", "pause", "kill", "slow-disk"],
            "seed": spec.seed,
            "note": spec.payload or None,
        },
        "versions": {"floodmark": "0.1.0", "replog": "0.1.0", "python": "3.11"},
        "command": f"floodmark run --system replog --profile kafka-0.10 --seed {spec.seed} "
        f"--time-limit {spec.duration:g} --nemesis partition,pause,kill,slow-disk"
        + (f" --name '{spec.payload}'" if spec.payload else ""),
    }
    (run_dir / "test.json").write_bytes(orjson.dumps(test, option=orjson.OPT_INDENT_2))
    logs = run_dir / "logs"
    logs.mkdir(exist_ok=True)
    for n in spec.nodes:
        safe = "".join(c if c.isalnum() else "_" for c in n)
        (logs / f"{safe}.log").write_text(f"[{n}] started\n[{n}] {spec.payload}\n")


def _results(
    spec: GenSpec,
    witness: dict[str, Any],
    finals: dict[int, dict[str, Any]],
    dumps: dict[str, dict[str, Any]],
    n_ops: int,
    nodes: list[str],
) -> dict[str, Any]:
    ok = {"valid": True, "count": 0, "witnesses": []}
    checkers: dict[str, Any] = {
        name: dict(ok)
        for name in (
            "duplicate",
            "lost-read",
            "hw-above-leo",
            "epoch-split-brain",
            "nonmonotonic-poll",
            "poll-skip",
            "nonmonotonic-send",
            "unseen",
        )
    }
    valid: bool | str = True
    if spec.anomalies and "m" in witness:
        m, old = witness["m"], witness["old"]
        new = (
            finals[0]["value"]["records"][m][1] if m < len(finals[0]["value"]["records"]) else None
        )
        ack = witness["ack"]
        p = spec.payload
        checkers["lost-write"] = {
            "valid": False,
            "count": 1,
            "witnesses": [
                {
                    "message": f"value {old} acknowledged at key 0 offset {m} is missing from the "
                    f"complete final read {p}".strip(),
                    "key": 0,
                    "offset": m,
                    "value": old,
                    "ops": [ack["invoke"], ack["ok"], finals[0]],
                }
            ],
        }
        checkers["inconsistent-offsets"] = {
            "valid": False,
            "count": 1,
            "witnesses": [
                {
                    "message": f"key 0 offset {m} held {old} (ack) and {new} (final read)",
                    "key": 0,
                    "offset": m,
                    "values": [old, new],
                    "ops": [ack["ok"], finals[0]],
                }
            ],
        }
        checkers["replica-divergence"] = {
            "valid": False,
            "count": 1,
            "witnesses": [
                {
                    "message": f"{nodes[0]} holds {old} but {nodes[1]} holds {new} "
                    f"at key 0 offset {m}, below both HWs",
                    "key": 0,
                    "offset": m,
                    "ops": [dumps[nodes[0]], dumps[nodes[1]]],
                }
            ],
        }
        valid = False
    else:
        for name in ("lost-write", "inconsistent-offsets", "replica-divergence"):
            checkers[name] = dict(ok)
    if spec.payload:
        checkers["unseen"] = {
            "valid": "unknown",
            "count": 0,
            "witnesses": [],
            "error": f"checker crashed on {spec.payload}",
        }
        valid = False if valid is False else "unknown"
    return {
        "valid": valid,
        "checkers": checkers,
        "stats": {
            "ops": n_ops,
            "torn_last_line": False,
            "latency": {"send": {"p50_ms": 4.1, "p99_ms": 48.0}},
            "availability": {"longest_gap_s": {"0": 3.2}},
        },
    }
