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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final

import numpy as np

from harness.contract.history import JSON, F, OpType
from harness.contract.reader import Line

_FAIL: Final = OpType.FAIL
_OK: Final = OpType.OK


_SEND, _POLL, _FINAL = str(F.SEND), str(F.POLL), str(F.FINAL_READ)
_WORKLOAD: frozenset[str] = frozenset({_SEND, _POLL})
_NEVER = 1 << 62


@dataclass(slots=True)
class _KeyAvailability:
    fail: int = 0
    info: int = 0
    ok_times: array[int] = field(default_factory=lambda: array("q"))
    """When each ok send or poll on the key completed, in history order."""
    recent: list[int] = field(default_factory=list)
    """The latest of them, not yet moved into ``ok_times`` (`StatsFold._spill`)."""


@dataclass(slots=True)
class _Rate:
    first: int = _NEVER
    """The index of the operation's first invoke (rates are listed in that order)."""
    first_time: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    pending: int = 0
    latency: array[int] = field(default_factory=lambda: array("q"))
    """Nanoseconds from invoke to ok, of every ok op (so ``len`` is the ok count)."""
    recent: list[int] = field(default_factory=list)
    """The latest of them, not yet moved into ``latency``."""


Handler = Callable[[Line, "Line | None"], None]


def _longest_step(times: array[int], floor: int) -> tuple[int, int]:
    """The longest step between consecutive ``times`` greater than ``floor`` and where it
    starts (the first wins a tie); ``(floor, 0)`` when none is. Subtracted and compared
    by numpy, on the array's own buffer; exactly, in Python, when a step could pass 64
    bits."""
    if len(times) < 2:
        return floor, 0
    t = np.frombuffer(times, dtype=np.int64)
    if int(t.min()) >= -_SAFE and int(t.max()) <= _SAFE:
        steps = np.diff(t)
        at = int(steps.argmax())  # the first of equal maxima
        longest = int(steps[at])
    else:
        exact = [b - a for a, b in pairwise(times)]
        longest = max(exact)
        at = exact.index(longest)
    if longest <= floor:
        return floor, 0
    return longest, times[at]


_SAFE: Final = 1 << 62
"""Times within ±2^62 have steps that fit in 64 bits."""


class StatsFold:
    """Folds the client and monitor ops into the statistics above.

    It is fed through `handlers` (one method per kind of op, so the hot path of an ok
    send or poll has no branch to take): completions only, never invokes; the invokes
    still open at the end are given to `result`. An ok op costs three list appends (its
    key's ok time, every ok time, its latency: a list takes an int at well under half the
    cost of an array of machine integers), moved into such arrays by numpy every `_SPILL`
    ok ops; the gaps are measured at the end, in C."""

    def __init__(self) -> None:
        self._rates: dict[str, _Rate] = {}
        self._keys: dict[int, _KeyAvailability] = {}
        self._ok_times: array[int] = array("q")
        """When every ok send or poll on any key completed, in history order."""
        self._recent: list[int] = []
        """The latest of them, not yet moved into ``_ok_times``."""
        self._last_other: tuple[int, int] | None = None
        """(oks before it, time) of the last send or poll that did not end ok."""

    def handlers(self) -> dict[OpType, dict[str, Handler]]:
        """Which method observes which op: op type → ``f`` → method."""
        monitor = {str(F.REPLICA_STATE): self.sampled, str(F.REPLICA_DUMP): self.sampled}
        ok = {_SEND: self._ok(_SEND), _POLL: self._ok(_POLL)}
        return {
            OpType.OK: {**ok, _FINAL: self.other, **monitor},
            OpType.FAIL: {_SEND: self.not_ok, _POLL: self.not_ok, _FINAL: self.other, **monitor},
            OpType.INFO: {_SEND: self.not_ok, _POLL: self.not_ok, _FINAL: self.other, **monitor},
            OpType.INVOKE: dict(monitor),
        }

    def _key(self, k: int) -> _KeyAvailability:
        av = self._keys.get(k)
        if av is None:
            av = self._keys[k] = _KeyAvailability()
        return av

    def _rate(self, f: str, invoke: Line) -> _Rate:
        rate = self._rates.get(f)
        if rate is None:
            rate = self._rates[f] = _Rate()
        if invoke.index < rate.first:
            rate.first, rate.first_time = invoke.index, invoke.time
        return rate

    def _ok(self, f: str) -> Handler:
        """The observer of an ok ``f`` (a send or poll): availability, latency, the
        longest gap on any key."""
        rate = self._rates.get(f) or self._rates.setdefault(f, _Rate())
        latency, recent = rate.recent.append, self._recent
        every = recent.append
        keys = self._keys

        def ok(op: Line, invoke: Line | None) -> None:
            assert invoke is not None
            t: int = op.time
            av = keys.get(op.value.key) or self._key(op.value.key)
            av.recent.append(t)
            every(t)
            latency(t - invoke.time)
            if invoke.index < rate.first:
                rate.first, rate.first_time = invoke.index, invoke.time
            if len(recent) >= _SPILL:
                self._spill()

        return ok

    def _spill(self) -> None:
        """Move the recent ok times and latencies into their arrays (OverflowError for one
        beyond 64 bits, as an array's own append would raise)."""
        _move(self._recent, self._ok_times)
        for av in self._keys.values():
            _move(av.recent, av.ok_times)
        for rate in self._rates.values():
            _move(rate.recent, rate.latency)

    def not_ok(self, op: Line, invoke: Line | None) -> None:
        """A send or poll that failed or ended indeterminate."""
        assert invoke is not None
        rate = self._rate(op.f, invoke)
        self._last_other = (len(self._ok_times) + len(self._recent), op.time)
        av = self._keys.get(op.value.key) or self._key(op.value.key)
        if op.type is _FAIL:
            rate.fail += 1
            av.fail += 1
        else:
            rate.info += 1
            av.info += 1

    def other(self, op: Line, invoke: Line | None) -> None:
        """Any other client completion (a final read): its rate and its key."""
        assert invoke is not None
        rate = self._rate(op.f, invoke)
        if op.type is _OK:
            rate.ok += 1
        elif op.type is _FAIL:
            rate.fail += 1
        else:
            rate.info += 1
        self._key(op.value.key)

    def sampled(self, op: Line, invoke: Line | None) -> None:
        """A monitor op: its key counts among the keys."""
        self._key(op.value.key)

    def result(self, pending: Iterable[Line] = ()) -> dict[str, JSON]:
        """The statistics; ``pending`` are the client invokes that never completed."""
        self._spill()
        for op in pending:
            if op.f in _WORKLOAD or op.f == _FINAL:
                self._rate(op.f, op).pending += 1
        rates = sorted(
            ((f, r) for f, r in self._rates.items() if r.first < _NEVER), key=lambda fr: fr[1].first
        )
        return {
            "keys": sorted(self._keys),
            "rates": {
                f: {
                    "ok": r.ok + len(r.latency),
                    "fail": r.fail,
                    "info": r.info,
                    "pending": r.pending,
                }
                for f, r in rates
            },
            "availability": self.availability(),
            "latency": {
                f: _percentiles(self._rates[f].latency if f in self._rates else array("q"))
                for f in (_SEND, _POLL)
            },
        }

    def longest_gap_any_key(self) -> float | None:
        """Seconds of the longest stretch between two consecutive ok sends or polls, any
        key; None when not one was ok."""
        self._spill()
        if not self._ok_times:
            return None
        return round(_longest_step(self._ok_times, 0)[0] / 1e9, 3)

    def _start(self) -> int | None:
        """When the workload began: its first send or poll invoke."""
        firsts = [r for f, r in self._rates.items() if f in _WORKLOAD and r.first < _NEVER]
        return min(firsts, key=lambda r: r.first).first_time if firsts else None

    def _end(self) -> int | None:
        """When the workload ended: its last send or poll completion in history order."""
        other, oks = self._last_other, self._ok_times
        if other is not None and (not oks or other[0] == len(oks)):
            return other[1]
        return oks[-1] if oks else None

    def availability(self) -> dict[str, JSON]:
        """``stats.availability``: per key (as a string), its longest window without an ok
        send or poll over the workload's span, where that window lies, and its counts."""
        self._spill()
        out: dict[str, JSON] = {}
        start, end = self._start(), self._end()
        for k in sorted(self._keys):
            av = self._keys[k]
            times = av.ok_times
            gap, gap_from = _longest_step(times, -1)
            if times:  # from the start to the first ok comes first
                since = start if start is not None else times[0]
                if times[0] - since >= gap:
                    gap, gap_from = times[0] - since, since
            if start is not None and end is not None:
                since = times[-1] if times else start
                if end - since > gap:
                    gap, gap_from = end - since, since
            gap = max(gap, 0)
            out[str(k)] = {
                "longest_gap_s": round(gap / 1e9, 3),
                "longest_gap_from_s": round(gap_from / 1e9, 3),
                "longest_gap_to_s": round((gap_from + gap) / 1e9, 3),
                "ok": len(times),
                "fail": av.fail,
                "info": av.info,
            }
        return out


_SPILL: Final = 4096
"""Recent ok ops are moved into arrays every this many."""


def _move(recent: list[int], into: array[int]) -> None:
    """Append ``recent`` to ``into`` (converted by numpy, in C) and empty it. A value that
    does not fit in 64 bits is an OverflowError that names it: the op it came from is one
    of the ``len(recent)`` ok ops up to the one being folded, which the error says."""
    if not recent:
        return
    try:
        into.frombytes(np.array(recent, dtype=np.int64).tobytes())
    except OverflowError:
        big = next(v for v in recent if not -(2**63) <= v < 2**63)
        n = len(recent)
        raise OverflowError(
            f"the time or latency {big} of one of the {n} ok ops up to this one does not "
            "fit in 64 bits"
        ) from None
    finally:
        recent.clear()


def _percentiles(ns: array[int]) -> dict[str, JSON]:
    """Nearest-rank percentiles of nanosecond latencies, in milliseconds (numpy sorts the
    array's own buffer)."""
    if not ns:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    s = np.sort(np.frombuffer(ns, dtype=np.int64))

    def rank(p: float) -> float:
        return round(int(s[max(0, math.ceil(p * len(s)) - 1)]) / 1e6, 3)

    return {
        "count": len(s),
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(int(s[-1]) / 1e6, 3),
    }
