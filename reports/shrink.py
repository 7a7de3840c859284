"""``shrink.html``: a failing run's fault timeline beside the minimal one a shrink found.

The page sets the original schedule and the minimal schedule side by side (one lane per
fault package, each fault period a bar in its package's colour, on one time axis), with
the anomalies each produced, the reproduction rate of the minimal schedule over the final
tries, the command that replays it, and every candidate the shrink tried. It is one
self-contained file (inline CSS and SVG, no script), like every floodmark report; all
text from a history or a schedule (fault values, triggers) is escaped by the template.

The inputs are plain values (`ShrinkView`), built by `harness.shrink`'s command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from faults.registry import FAULT_PACKAGES
from harness.contract.layout import SHRINK_PAGE
from harness.contract.schedule import Schedule, periods
from reports.html import environment, short_json, write_atomic

LANE_PX: Final = 22
WIDTH_PX: Final = 900
_UNKNOWN_COLOUR: Final = "#7f7f7f"


@dataclass(frozen=True, slots=True)
class Bar:
    """One fault period drawn: its lane, where it starts and how wide it is (pixels)."""

    lane: int
    x: float
    width: float
    colour: str
    title: str


@dataclass(frozen=True, slots=True)
class Timeline:
    """One schedule drawn on the shared axis."""

    label: str
    lanes: tuple[str, ...]
    bars: tuple[Bar, ...]
    ops: int
    time_limit: float
    keys: int
    concurrency: int
    anomalies: Mapping[str, int]
    height: int


@dataclass(frozen=True, slots=True)
class StepRow:
    """One candidate tried: the pass, the change, its fault ops, kept or not, its runs."""

    stage: str
    what: str
    ops: int
    kept: bool
    runs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ShrinkView:
    """Everything the page shows."""

    run: str
    original: Schedule
    minimal: Schedule
    original_anomalies: Mapping[str, int]
    minimal_anomalies: Mapping[str, int]
    reproduced: tuple[int, int]
    """(failing tries, tries) of the minimal schedule in the final round."""
    command: str
    stopped: str
    elapsed_s: float
    steps: Sequence[StepRow]


def timeline(
    label: str, schedule: Schedule, anomalies: Mapping[str, int], axis_s: float
) -> Timeline:
    """``schedule`` drawn on an axis of ``axis_s`` seconds (a period the final heal ended
    runs to the time limit)."""
    ps = periods(schedule.ops)
    lanes = tuple(dict.fromkeys(p.start.package for p in ps))
    scale = WIDTH_PX / max(axis_s, 1e-9)
    bars = []
    for p in ps:
        end = p.stop.at if p.stop is not None else schedule.time_limit
        pkg = FAULT_PACKAGES.get(p.start.package)
        bars.append(
            Bar(
                lane=lanes.index(p.start.package),
                x=round(p.start.at * scale, 1),
                width=round(max(2.0, (end - p.start.at) * scale), 1),
                colour=pkg.colour if pkg is not None else _UNKNOWN_COLOUR,
                title=f"{p.start.f} at {p.start.at:g} s until {end:g} s: "
                + short_json(p.start.value, 120)
                + (f" (trigger {short_json(p.start.trigger, 120)})" if p.start.trigger else ""),
            )
        )
    return Timeline(
        label,
        lanes,
        tuple(bars),
        len(schedule.ops),
        schedule.time_limit,
        schedule.keys,
        schedule.concurrency,
        dict(anomalies),
        height=max(1, len(lanes)) * LANE_PX + 24,
    )


def render_shrink(view: ShrinkView, out_dir: str | Path) -> Path:
    """Write ``shrink.html`` into ``out_dir``; returns its path."""
    axis = max(view.original.time_limit, view.minimal.time_limit)
    original = timeline("original", view.original, view.original_anomalies, axis)
    minimal = timeline("minimal", view.minimal, view.minimal_anomalies, axis)
    ticks = [(round(t * WIDTH_PX / max(axis, 1e-9), 1), t) for t in range(0, int(axis) + 1, 10)]
    html = (
        environment()
        .get_template("shrink.html.j2")
        .render(
            view=view,
            timelines=(original, minimal),
            ticks=ticks,
            width=WIDTH_PX,
            lane_px=LANE_PX,
        )
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return write_atomic(out / SHRINK_PAGE, html)
