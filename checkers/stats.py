"""Statistics beside the safety verdict: availability, error rates, latency.

None of these make a run invalid; they are ``results.json["stats"]``:

- ``rates``: per operation (``send``, ``poll``, ``final-read``), how many completions were
  ``ok``, ``fail`` and ``info``, and how many invokes never completed (``pending``: the
  harness stopped first; such an op is indeterminate, like ``info``).
- ``availability``: per key, over the workload's span (from the first client invoke of a
  ``send`` or ``poll`` to the last completion of one; final reads come after recovery
  and are left out), the longest window in which no ``send`` or ``poll`` on that key
  completed ``ok`` (``longest_gap_s``, with where it starts and ends), and the key's
  ``ok``/``fail``/``info`` counts. A key with no ``ok`` at all was unavailable for the
  whole span. The same fold also keeps, for ``results.json["liveness"]``, the longest
  time between two consecutive ``ok`` sends or polls on any key (`longest_gap_any_key`).
- ``latency``: per operation (``send``, ``poll``), percentiles p50/p95/p99 and the max of
  ``ok`` ops, invoke to completion, in milliseconds (nearest-rank percentiles over every
  op; the array is sorted once at the end).
- ``keys``: every key any op mentioned.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import ClassVar

from harness.contract.history import JSON, F, Op, OpType

_WORKLOAD: frozenset[str] = frozenset({F.SEND.value, F.POLL.value})


@dataclass(slots=True)
class _KeyAvailability:
    ok: int = 0
    fail: int = 0
    info: int = 0
    last_ok: int | None = None
    gap: int = -1
    gap_from: int = 0


class StatsFold:
    """Folds the client and monitor ops into the statistics above."""

    fs: ClassVar[frozenset[str]] = frozenset(
        {F.SEND, F.POLL, F.FINAL_READ, F.REPLICA_STATE, F.REPLICA_DUMP}
    )

    def __init__(self) -> None:
        self._rates: dict[str, dict[str, int]] = {}
        self._keys: dict[int, _KeyAvailability] = {}
        self._latency: dict[str, array[int]] = {F.SEND.value: array("q"), F.POLL.value: array("q")}
        self._start: int | None = None
        self._end: int | None = None
        self._last_ok: int | None = None
        self._gap_any = 0

    def observe(self, op: Op, invoke: Op | None) -> None:
        value = op.value
        if type(op.process) is not int:
            if value["key"] not in self._keys:
                self._keys[value["key"]] = _KeyAvailability()
            return
        f, typ = op.f, op.type
        rates = self._rates.get(f)
        if rates is None:
            rates = self._rates[f] = {"ok": 0, "fail": 0, "info": 0, "pending": 0}
        if typ is OpType.INVOKE:
            rates["pending"] += 1
            if self._start is None and f in _WORKLOAD:
                self._start = op.time
            return
        rates["pending"] -= 1
        k: int = value["key"]
        av = self._keys.get(k)
        if av is None:
            av = self._keys[k] = _KeyAvailability()
        if typ is OpType.OK:
            rates["ok"] += 1
            if f not in _WORKLOAD:
                return
            self._end = t = op.time
            av.ok += 1
            since = av.last_ok
            if since is None:
                since = self._start if self._start is not None else t
            if t - since > av.gap:
                av.gap, av.gap_from = t - since, since
            av.last_ok = t
            if self._last_ok is not None and t - self._last_ok > self._gap_any:
                self._gap_any = t - self._last_ok
            self._last_ok = t
            if invoke is not None:
                self._latency[f].append(t - invoke.time)
            return
        if typ is OpType.FAIL:
            rates["fail"] += 1
            if f in _WORKLOAD:
                self._end = op.time
                av.fail += 1
        else:
            rates["info"] += 1
            if f in _WORKLOAD:
                self._end = op.time
                av.info += 1

    def result(self) -> dict[str, JSON]:
        return {
            "keys": sorted(self._keys),
            "rates": self._rates,
            "availability": self.availability(),
            "latency": {f: _percentiles(ns) for f, ns in self._latency.items()},
        }

    def longest_gap_any_key(self) -> float | None:
        """Seconds of the longest stretch between two consecutive ok sends or polls, any
        key; None when not one was ok."""
        return None if self._last_ok is None else round(self._gap_any / 1e9, 3)

    def availability(self) -> dict[str, JSON]:
        """``stats.availability``: per key (as a string), its longest window without an ok
        send or poll over the workload's span, where that window lies, and its counts."""
        out: dict[str, JSON] = {}
        start, end = self._start, self._end
        for k in sorted(self._keys):
            av = self._keys[k]
            gap, gap_from = av.gap, av.gap_from
            if start is not None and end is not None:
                since = av.last_ok if av.last_ok is not None else start
                if end - since > gap:
                    gap, gap_from = end - since, since
            gap = max(gap, 0)
            out[str(k)] = {
                "longest_gap_s": round(gap / 1e9, 3),
                "longest_gap_from_s": round(gap_from / 1e9, 3),
                "longest_gap_to_s": round((gap_from + gap) / 1e9, 3),
                "ok": av.ok,
                "fail": av.fail,
                "info": av.info,
            }
        return out


def _percentiles(ns: array[int]) -> dict[str, JSON]:
    if not ns:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    s = sorted(ns)

    def rank(p: float) -> float:
        return round(s[max(0, math.ceil(p * len(s)) - 1)] / 1e6, 3)

    return {
        "count": len(s),
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(s[-1] / 1e6, 3),
    }
