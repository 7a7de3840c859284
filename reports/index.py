"""``store/index.html``: every run in the store at a glance, newest first.

The store holds ``<test>/<timestamp>/`` run directories (a ``latest`` symlink, if any, is
skipped). Each row shows the date, test, system, profile, faults, verdict, anomaly counts
and duration, and links (relatively) to the run's ``report.html``. Nothing is re-checked
here: the verdict comes from ``results.json`` ("not checked" without one), the duration
from the history's last line (read from the end of the file, so a huge history costs
nothing) or the configured time limit.

Runs of a sharded or ``--jobs`` suite are ordinary runs and listed like any other. Several
runs may finish at once in one store, each re-rendering the index: every writer uses its
own temporary file before the rename, so the page is always one whole rendering.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import orjson

from harness.contract.layout import INDEX, REPORT, RUN_MARKERS
from harness.contract.verdict import Verdict
from reports.html import environment, short_json
from reports.inputs import RunInputs, load_run
from reports.scan import NS

_STAMP: Final = re.compile(
    r"(\d{4})-?(\d{2})-?(\d{2})[T_ -]?(\d{2})[-:]?(\d{2})[-:]?(\d{2})(?:[.,](\d{1,6}))?"
)


@dataclass(frozen=True, slots=True)
class IndexRow:
    date: datetime
    test: str
    link: str
    system: str
    profile: str
    faults: str
    verdict: str
    anomalies: list[tuple[str, int]]
    duration: str
    seed: str


def find_runs(store: Path) -> list[Path]:
    """Run directories under ``store`` (``<test>/<timestamp>/``)."""
    runs = []
    for test_dir in sorted(p for p in store.iterdir() if p.is_dir() and not p.is_symlink()):
        for run in sorted(p for p in test_dir.iterdir() if p.is_dir() and not p.is_symlink()):
            if any((run / n).is_file() for n in RUN_MARKERS):
                runs.append(run)
    return runs


def render_index(store_dir: str | os.PathLike[str]) -> Path:
    """Write ``index.html`` in the store directory and return its path."""
    store = Path(store_dir)
    if not store.is_dir():
        raise FileNotFoundError(
            f"store directory {store} does not exist; give the directory holding "
            "<test>/<timestamp>/ runs (by default ./store)"
        )
    rows = [_row(store, load_run(run, run_checkers=False)) for run in find_runs(store)]
    rows.sort(key=lambda r: r.date, reverse=True)
    totals = {v.value: sum(1 for r in rows if r.verdict == v.value) for v in Verdict}
    html = (
        environment()
        .get_template("index.html.j2")
        .render(rows=rows, totals=totals, store=str(store), generated=datetime.now(UTC))
    )
    target = store / INDEX
    tmp = target.with_name(f".{INDEX}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target


def _row(store: Path, run: RunInputs) -> IndexRow:
    cfg = run.config
    verdict = run.verdict.value if run.results is not None else "not checked"
    anomalies = [(c.name, c.count) for c in run.checkers if c.verdict is Verdict.INVALID]
    report = run.run_dir / REPORT
    target = report if report.exists() else run.run_dir
    link = target.relative_to(store).as_posix() + ("" if target is report else "/")
    seed = run.test.get("seed", cfg.get("seed"))
    return IndexRow(
        date=_date(run),
        test=run.name,
        link=link,
        system=short_json(cfg.get("system"), 40),
        profile=short_json(cfg.get("profile"), 40),
        faults=_faults(cfg.get("nemesis", cfg.get("faults"))),
        verdict=verdict,
        anomalies=anomalies,
        duration=_duration(run),
        seed=short_json(seed, 24),
    )


def _faults(v: object) -> str:
    if isinstance(v, list):
        return ", ".join(short_json(x, 30) for x in v) or "none"
    if isinstance(v, dict):
        return ", ".join(str(k) for k in v) or "none"
    return short_json(v, 80) or "none"


def _date(run: RunInputs) -> datetime:
    for key in ("started_at", "start", "timestamp", "date"):
        v = run.test.get(key)
        if isinstance(v, str):
            try:
                d = datetime.fromisoformat(v)
                return d if d.tzinfo else d.replace(tzinfo=UTC)
            except ValueError:
                pass
    m = _STAMP.search(run.run_dir.name)
    if m:
        y, mo, day, h, mi, s, frac = m.groups()
        try:
            micro = int((frac or "0").ljust(6, "0"))
            return datetime(int(y), int(mo), int(day), int(h), int(mi), int(s), micro, UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(run.run_dir.stat().st_mtime, UTC)


def _duration(run: RunInputs) -> str:
    t = last_op_time(run.history_path) if run.has_history else None
    if t is None:
        limit = run.config.get("time_limit")
        return f"≤ {limit} s" if isinstance(limit, int | float) else ""
    return f"{t:.1f} s"


def last_op_time(history: Path) -> float | None:
    """Seconds of the last complete op in ``history`` (reads only the file's end, growing
    the window when the last lines are long, e.g. replica dumps)."""
    size = history.stat().st_size
    with open(history, "rb") as fh:
        for tail in (1 << 16, 1 << 20, 1 << 24):
            fh.seek(max(0, size - tail))
            lines = fh.read().split(b"\n")
            if size > tail:
                lines = lines[1:]  # the first piece is probably a line's end
            for line in reversed(lines):
                try:
                    raw = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(raw, dict) and type(raw.get("time")) is int:
                    return float(raw["time"]) / NS
            if size <= tail:
                break
    return None
