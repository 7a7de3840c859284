"""The history scan (fault pairing, leader changes) and the plot helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from harness.contract.history import HistoryError
from reports.plots import UnsafeSvgError, latency_plot, minmax_downsample, sanitize_svg
from reports.scan import scan_history


def _write(path: Path, ops: list[dict[str, object]]) -> Path:
    with open(path, "wb") as fh:
        for i, op in enumerate(ops):
            fh.write(orjson.dumps({"index": i, **op}) + b"\n")
    return path


def _state(t: int, node: str, role: str, epoch: int) -> dict[str, object]:
    return {
        "time": t,
        "process": "monitor",
        "type": "info",
        "f": "replica-state",
        "value": {
            "key": 0,
            "node": node,
            "role": role,
            "leo": 3,
            "hw": 2,
            "epoch": epoch,
            "isr": ["n1"],
        },
    }


def test_scan_pairs_faults_and_finds_leader_changes(tmp_path: Path) -> None:
    s = 1_000_000_000
    ops = [
        {
            "time": 0,
            "process": "nemesis",
            "type": "info",
            "f": "start-partition",
            "value": {"a": 1},
        },
        _state(1 * s, "n1", "leader", 1),
        {"time": 2 * s, "process": "nemesis", "type": "info", "f": "start-kill", "value": None},
        {"time": 3 * s, "process": "nemesis", "type": "info", "f": "stop-partition", "value": None},
        _state(4 * s, "n1", "leader", 1),
        _state(5 * s, "n2", "leader", 2),
        {"time": 6 * s, "process": "nemesis", "type": "info", "f": "heal-all", "value": None},
        {
            "time": 7 * s,
            "process": 0,
            "type": "invoke",
            "f": "send",
            "value": {"key": 0, "value": 1},
        },
        {
            "time": 8 * s,
            "process": 0,
            "type": "info",
            "f": "send",
            "value": {"key": 0, "value": 1},
            "error": "timeout",
        },
    ]
    d = scan_history(_write(tmp_path / "h.jsonl", ops))
    assert [(p.package, p.start, p.stop) for p in d.faults] == [
        ("partition", 0.0, 3.0),
        ("kill", 2.0, None),
    ]
    assert [e.f for e in d.events] == ["heal-all"]
    assert [(c.node, c.epoch, c.time) for c in d.leader_changes[0]] == [
        ("n1", 1, 1.0),
        ("n2", 2, 5.0),
    ]
    assert d.completions is not None and d.completions.latency.tolist() == [1.0]
    assert d.errors == {("send", "info", "timeout"): 1}
    assert d.duration == 8.0 and d.ops == 9


def test_fault_names_are_parsed_as_the_contract_says(tmp_path: Path) -> None:
    ops: list[dict[str, object]] = [
        {"time": t, "process": "nemesis", "type": "info", "f": f, "value": None}
        for t, f in enumerate(["start-slow-disk", "start-", "stop-slow-disk", "stop-partition"])
    ]
    d = scan_history(_write(tmp_path / "h.jsonl", ops))
    assert [(p.package, p.start_index, p.stop_index) for p in d.faults] == [("slow-disk", 0, 2)]
    assert [e.f for e in d.events] == ["start-", "stop-partition"]


def test_scan_pairs_invokes_and_completions_as_the_checkers_do(tmp_path: Path) -> None:
    done = {"time": 1, "process": 3, "type": "fail", "f": "send", "value": {"key": 0, "value": 1}}
    with pytest.raises(HistoryError, match="completes nothing"):
        scan_history(_write(tmp_path / "h.jsonl", [done]))


def test_minmax_downsample_keeps_a_short_drop() -> None:
    t = np.arange(100_000, dtype=np.float64)
    y = t.copy()
    y[50_123] = -5.0  # one-sample truncation
    tt, yy = minmax_downsample(t, y, 200)
    assert len(tt) <= 2 * 200 + 2
    assert -5.0 in yy and yy[0] == 0 and yy[-1] == 99_999


def test_sanitize_svg_refuses_scripts_handlers_and_external_links() -> None:
    ns = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    ok = sanitize_svg(f'<?xml version="1.0"?>\n<svg {ns}><text>&lt;script&gt;</text></svg>')
    assert str(ok).startswith("<svg")
    for bad in (
        f"<svg {ns}><script>alert(1)</script></svg>",
        f'<svg {ns}><rect onload="alert(1)"/></svg>',
        f'<svg {ns}><image xlink:href="http://example.com/x.png"/></svg>',
        f"<svg {ns}><foreignObject><div/></foreignObject></svg>",
    ):
        with pytest.raises(UnsafeSvgError):
            sanitize_svg(bad)


def test_latency_plot_downsamples_and_says_so(tmp_path: Path) -> None:
    ops: list[dict[str, object]] = []
    for i in range(20_000):
        ops.append(
            {
                "time": i * 1000,
                "process": i % 4,
                "type": "invoke",
                "f": "send",
                "value": {"key": 0, "value": i},
            }
        )
        ops.append(
            {
                "time": i * 1000 + 500,
                "process": i % 4,
                "type": "ok",
                "f": "send",
                "value": {"key": 0, "value": i, "offset": i},
            }
        )
    d = scan_history(_write(tmp_path / "h.jsonl", ops))
    plot = latency_plot(d)
    assert plot.caption.startswith("10,000 of 20,000 completions drawn")
    assert len(plot.svg) < 2_000_000
