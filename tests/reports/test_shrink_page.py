"""shrink.html (reports/shrink.py): both timelines, the replay command, every step, and
schedule text escaped."""

from __future__ import annotations

from pathlib import Path

from harness.contract.history import Phase
from harness.contract.layout import SHRINK_PAGE
from harness.contract.roles import FaultOp
from harness.contract.schedule import Schedule
from reports.shrink import ShrinkView, StepRow, render_shrink, timeline


def _schedule(n: int, limit: float) -> Schedule:
    ops: list[FaultOp] = []
    for i in range(n):
        package = ("kill", "partition")[i % 2]
        ops.append(FaultOp(5.0 + 6 * i, Phase.START, package, {"why": "<script>x</script>"}))
        ops.append(FaultOp(9.0 + 6 * i, Phase.STOP, package, {}))
    return Schedule(tuple(ops), limit, 3, 10)


def test_the_page_sets_both_timelines_side_by_side_and_escapes_schedule_text(
    tmp_path: Path,
) -> None:
    view = ShrinkView(
        run="store/replog-log/20261202T000000",
        original=_schedule(6, 60.0),
        minimal=_schedule(1, 14.0),
        original_anomalies={"lost-write": 120},
        minimal_anomalies={"lost-write": 3},
        reproduced=(3, 4),
        command="floodmark run --replay store/shrink/schedule.json",
        stopped="minimal",
        elapsed_s=600.5,
        steps=[StepRow("faults", "drop 6 of 12 <b>", 6, True, ("run-1",))],
    )
    path = render_shrink(view, tmp_path)
    assert path == tmp_path / SHRINK_PAGE
    html = path.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "drop 6 of 12 &lt;b&gt;" in html
    assert html.count("<rect ") == 6 + 1
    assert "floodmark run --replay store/shrink/schedule.json" in html
    assert "reproduced in 3 of 4 final tries" in html
    assert "http://" not in html and "https://" not in html  # opens offline


def test_a_period_the_final_heal_ended_runs_to_the_time_limit() -> None:
    s = Schedule((FaultOp(10.0, Phase.START, "kill", {}),), 40.0, 1, 2)
    t = timeline("minimal", s, {}, axis_s=40.0)
    assert t.lanes == ("kill",)
    (bar,) = t.bars
    assert bar.x == 225.0 and bar.width == 675.0  # 10..40 s of a 900-px, 40-s axis
