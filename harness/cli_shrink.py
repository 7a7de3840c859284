"""``floodmark shrink RUN_DIR``: the command around `harness.shrinking`.

Exit codes: 1 when the minimal schedule proved the anomaly again in the final tries (a
proven safety anomaly, as for any run), 2 when it could not be reproduced or the run
cannot be shrunk (with why), 130 when interrupted (the best schedule so far is kept).
"""

from __future__ import annotations

import re
import sys
from typing import Final

import click
from rich.console import Console

from harness.contract.schedule import Schedule
from harness.progress import Ui
from harness.run import run
from harness.shrink import Step
from harness.shrinking import ShrinkError, describe, plan, shrink

_err = Console(stderr=True, highlight=False, markup=False)
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNIT: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``20m``, ``1.5h`` in seconds (`click.BadParameter` otherwise)."""
    m = _DURATION.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise click.BadParameter(
            f"expected a duration such as 900, 90s, 20m or 1.5h, got {text!r}",
            param_hint="--budget",
        )
    return float(m.group(1)) * _UNIT[m.group(2)]


@click.command("shrink")
@click.argument("run_dir", type=click.Path())
@click.option("--budget", default="20m", show_default=True, help="Wall time for the shrink.")
@click.option(
    "--tries",
    type=click.IntRange(1, 20),
    default=2,
    show_default=True,
    help="Replays of a candidate; it is kept when any proves the anomaly.",
)
@click.option(
    "--final-tries",
    type=click.IntRange(0, 50),
    default=4,
    show_default=True,
    help="Replays of the minimal schedule that measure its reproduction rate.",
)
def shrink_command(run_dir: str, budget: str, tries: int, final_tries: int) -> None:
    """Cut a failing run's fault schedule down to a minimal reproduction.

    Drops fault periods (halves, then single ones), then shortens the run and moves the
    faults earlier, then uses fewer keys and processes; a candidate is kept when one of
    TRIES replays of it proves an anomaly of the same kind. Every try is an ordinary run
    in the store. Writes RUN_DIR/shrink/minimal.json and shrink.html, and prints the
    command that replays the minimal schedule."""
    budget_s = parse_duration(budget)
    try:
        p = plan(run_dir)
    except ShrinkError as e:
        _err.print(f"error: {e}", style="red")
        sys.exit(2)
    kinds = ", ".join(sorted(p.target))
    _err.print(
        f"shrinking {p.run_dir}: {len(p.schedule.ops)} fault op(s), {kinds}; budget "
        f"{budget_s:g} s, {tries} tr{'y' if tries == 1 else 'ies'} per candidate"
    )

    def step(s: Step, best: Schedule) -> None:
        mark = "kept" if s.kept else "no  "
        runs = " ".join(o.run_dir.rsplit("/", 1)[-1] for o in s.outcomes)
        _err.print(f"  [{s.stage}] {mark} {s.what} -> best {len(best.ops)} op(s)  {runs}")

    summary = shrink(
        p,
        lambda config: run(config, Ui(console=_err, quiet=True)),
        budget_s=budget_s,
        tries=tries,
        final_tries=final_tries,
        on_step=step,
    )
    best = summary.shrunk.best
    hits, of = summary.reproduced
    _err.print(
        f"minimal schedule: {len(best.ops)} fault op(s) (from {len(p.schedule.ops)}), "
        f"{best.time_limit:g} s, {best.keys} key(s), {best.concurrency} process(es); "
        f"stopped: {summary.shrunk.stopped} after {summary.shrunk.elapsed_s:.0f} s"
    )
    _err.print(describe(best))
    _err.print(f"reproduced in {hits} of {of} final tries; page: {summary.page}")
    _err.print(f"replay it: {summary.command}")
    if summary.shrunk.stopped == "interrupted":
        sys.exit(130)
    sys.exit(1 if hits else 2)
