"""Property tests (Hypothesis, bounded for CI): ``floodmark check`` on any input, and the
verdict on histories of a log known to be correct, then broken on purpose.

- Any bytes shaped like JSON lines (garbage, arbitrary JSON, ops with ill-typed or
  markup-looking fields, deeply nested fault values) end in exit 0, 1 or 2 with no
  traceback, and exit 1 only with a ``results.json`` that proves an anomaly.
- A well-formed history of a correct log (sends ok/fail/info, polls from each consumer's
  position, one complete final read per key) is valid; dropping one acknowledged record
  from its key's final read makes it invalid, with that value a ``lost-write``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.cli import check_command
from harness.contract.verdict import Verdict
from tests.checkers.hist import History, counts

MARKUP = st.sampled_from(["[/]", "[/bold]", "[red]x[/red]", "[bold", "]", "[/x", "\\[", "n1"])
TEXT = st.one_of(MARKUP, st.text(max_size=12))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), TEXT)
JSONS = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
FS = st.sampled_from(["send", "poll", "final-read", "replica-state", "replica-dump"]) | TEXT
TYPES = st.sampled_from(["invoke", "ok", "fail", "info"]) | TEXT
PROCESSES = st.one_of(st.integers(0, 3), st.sampled_from(["nemesis", "monitor"]), TEXT)
RECORDS = st.lists(st.tuples(st.integers(-2, 6), st.integers(-2, 6)).map(list), max_size=5)
VALUES = st.fixed_dictionaries(
    {"key": st.integers(0, 2) | SCALAR},
    optional={
        "value": st.integers(0, 6),
        "offset": st.integers(-1, 6),
        "from": st.integers(-1, 6),
        "records": RECORDS,
        "hw": st.integers(-1, 8),
        "complete": st.booleans(),
        "node": TEXT,
        "role": st.sampled_from(["leader", "follower", "offline"]),
        "leo": st.integers(-1, 8),
        "epoch": st.integers(0, 2),
        "verified": st.booleans(),
        "why": TEXT,
    },
)


DEEP = b'{"a":[' * 300 + b'"[/deep]"' + b"]}" * 300
"""A value orjson reads (its limit is 1024 levels) but will not write (254)."""


@st.composite
def op_lines(draw: st.DrawFn) -> list[bytes]:
    """A history-like file: mostly ops (well or ill formed), now and then anything."""
    lines: list[bytes] = []
    for i in range(draw(st.integers(0, 14))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(json.dumps(draw(JSONS)).encode())
        elif kind == 1:
            lines.append(draw(st.binary(max_size=20)).replace(b"\n", b" "))
        else:
            op: dict[str, object] = {
                "index": i if draw(st.integers(0, 20)) else draw(st.integers(-1, 20)),
                "time": i * 1000,
                "process": draw(PROCESSES),
                "type": draw(TYPES),
                "f": draw(FS),
                "value": draw(VALUES | JSONS),
            }
            if draw(st.booleans()):
                op["node"] = draw(TEXT)
            if draw(st.booleans()):
                op["error"] = draw(TEXT)
            if kind == 2 and draw(st.booleans()):
                op["process"], op["f"] = "nemesis", "start-pause"
                op["value"] = {"verified": False, "why": draw(TEXT), "deep": "<deep>"}
            line = json.dumps(op).encode()
            lines.append(line.replace(b'"<deep>"', DEEP))
    torn = draw(st.booleans())
    return [line + b"\n" for line in lines] if not torn else [*(x + b"\n" for x in lines), b"{"]


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=op_lines(), as_json=st.booleans())
def test_check_ends_in_0_1_or_2_with_no_traceback_on_any_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[bytes], as_json: bool
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_bytes(b"".join(lines))
    (tmp_path / "results.json").unlink(missing_ok=True)
    code = check_command(str(history), as_json=as_json)
    captured = capsys.readouterr()
    assert code in (0, 1, 2)
    assert "Traceback" not in captured.err + captured.out
    assert "failed unexpectedly" not in captured.err, captured.err
    if code == 1:  # a proven anomaly, and its proof on disk
        results = json.loads((tmp_path / "results.json").read_text())
        assert results["valid"] is False
        assert any(c["valid"] is False and c["witnesses"] for c in results["checkers"].values())


SMALL = st.integers(-1, 5)
PAIRS = st.lists(st.tuples(SMALL, SMALL).map(list), max_size=6)


@st.composite
def wellformed(draw: st.DrawFn) -> bytes:
    """A history that passes the schema and the pairing rule but says anything at all:
    random keys, values, offsets, records and HWs, every outcome, replica samples and
    dumps, fault ops whose reasons look like markup, a value nested too deep to write."""
    h = History()
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.integers(0, 5)) if draw(st.integers(0, 30)) else 6
        p, k, t = draw(st.integers(0, 3)), draw(st.integers(0, 2)), draw(TYPES_OK)
        error = draw(TEXT) if t != "ok" else None
        if kind == 0:
            v = draw(SMALL)
            done: dict[str, object] = {"key": k, "value": v}
            if t == "ok":
                done["offset"] = draw(SMALL)
            h.add(p, "invoke", "send", {"key": k, "value": v})
            h.add(p, t, "send", done, error=error)
        elif kind == 1:
            frm = draw(SMALL)
            done = {"key": k, "from": frm}
            if t == "ok":
                done.update(records=draw(PAIRS), hw=draw(SMALL))
            h.add(p, "invoke", "poll", {"key": k, "from": frm})
            h.add(p, t, "poll", done, error=error)
        elif kind == 2:
            done = {"key": k}
            if t == "ok" or draw(st.booleans()):
                done.update(records=draw(PAIRS), hw=draw(SMALL), complete=draw(st.booleans()))
            h.add(p, "invoke", "final-read", {"key": k})
            h.add(p, t, "final-read", done, error=error)
        elif kind == 3:
            state = {"key": k, "node": draw(TEXT), "role": draw(ROLES), "leo": draw(SMALL)}
            state.update(hw=draw(SMALL), epoch=draw(SMALL), isr=draw(st.lists(TEXT, max_size=3)))
            h.add("monitor", "info", "replica-state", state)
        elif kind == 4:
            dump = {"key": k, "node": draw(TEXT), "hw": draw(SMALL), "leo": draw(SMALL)}
            h.add("monitor", "info", "replica-dump", {**dump, "records": draw(PAIRS)})
        elif kind == 5:
            why = {"verified": draw(st.sampled_from([True, False, None])), "why": draw(TEXT)}
            h.add("nemesis", "info", draw(st.sampled_from(["start-kill", "stop-kill"])), why)
        else:
            h.add("nemesis", "info", "start-pause", {"verified": False, "deep": "<deep>"})
    return b"".join(op.dumps() for op in h.ops).replace(b'"<deep>"', DEEP)


TYPES_OK = st.sampled_from(["ok", "ok", "fail", "info"])
ROLES = st.sampled_from(["leader", "follower", "offline"])


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=wellformed(), as_json=st.booleans())
def test_check_of_any_well_formed_history_ends_in_0_1_or_2_with_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: bytes, as_json: bool
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_bytes(text)
    (tmp_path / "results.json").unlink(missing_ok=True)
    code = check_command(str(history), as_json=as_json)
    captured = capsys.readouterr()
    assert code in (0, 1, 2)
    assert "Traceback" not in captured.err + captured.out
    assert "failed unexpectedly" not in captured.err, captured.err
    if b"<deep>" not in text and DEEP not in text:
        assert "error" not in captured.err, captured.err  # it reads, checks and writes
    if code == 1:
        results = json.loads((tmp_path / "results.json").read_text())
        assert results["valid"] is False


@dataclass
class _Log:
    """A correct log per key, and who has read how far."""

    logs: dict[int, list[int]] = field(default_factory=dict)
    positions: dict[tuple[int, int], int] = field(default_factory=dict)
    acked: list[tuple[int, int]] = field(default_factory=list)


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["send", "poll"]),
        st.integers(0, 2),  # key
        st.integers(0, 3),  # process (producers 0..3, consumers 10..13)
        st.sampled_from(["ok", "ok", "ok", "fail", "info-happened", "info-not"]),
        st.integers(1, 4),  # poll size
    ),
    min_size=1,
    max_size=40,
)


def _correct(actions: list[tuple[str, int, int, str, int]]) -> tuple[History, _Log]:
    h, log = History(), _Log()
    value = 0
    next_process = 100
    retired: dict[int, int] = {}
    h.send(99, 0, value, 0)  # at least one acknowledged write: something is checked
    log.logs.setdefault(0, []).append(value)
    log.acked.append((0, value))
    for f, k, p, outcome, size in actions:
        log_k = log.logs.setdefault(k, [])
        process = retired.get(p, p) if f == "send" else retired.get(p + 10, p + 10)
        if f == "send":
            value += 1
            if outcome == "ok":
                log_k.append(value)
                h.send(process, k, value, len(log_k) - 1)
                log.acked.append((k, value))
            elif outcome == "fail":
                h.send(process, k, value, type="fail")
            else:
                if outcome == "info-happened":
                    log_k.append(value)
                h.send(process, k, value, type="info")
                retired[p] = next_process
                next_process += 1
        else:
            start = log.positions.get((process, k), 0)
            if outcome != "ok":
                h.poll(process, k, start, [], 0, type="fail" if outcome == "fail" else "info")
                if outcome != "fail":
                    retired[p + 10] = next_process
                    next_process += 1
                continue
            upto = min(len(log_k), start + size)
            records = [[o, log_k[o]] for o in range(start, upto)]
            h.poll(process, k, start, records, hw=len(log_k))
            log.positions[(process, k)] = upto
    for k, log_k in sorted(log.logs.items()):
        h.final_read(next_process, k, [[o, v] for o, v in enumerate(log_k)])
        next_process += 1
    return h, log


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS)
def test_a_history_of_a_correct_log_is_valid(actions: list[tuple[str, int, int, str, int]]) -> None:
    h, _ = _correct(actions)
    r = h.check()
    assert r.verdict is Verdict.VALID, (counts(r), r.notes)


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS, pick=st.integers(0, 10**6))
def test_dropping_an_acknowledged_record_from_the_final_read_is_invalid(
    actions: list[tuple[str, int, int, str, int]], pick: int
) -> None:
    h, log = _correct(actions)
    k, v = log.acked[pick % len(log.acked)]
    for i, op in enumerate(h.ops):
        if op.f == "final-read" and op.type.value == "ok" and op.value["key"] == k:
            records = [r for r in op.value["records"] if r[1] != v]
            h.ops[i] = type(op)(
                op.index, op.time, op.process, op.type, op.f, {**op.value, "records": records}
            )
    r = h.check()
    assert r.verdict is Verdict.INVALID
    assert r.exit_code == 1
    assert any(w.value == v and w.key == k for w in r.checkers["lost-write"].witnesses)
