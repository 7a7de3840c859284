"""``report.html``: the self-contained failure report of one run.

The reader is an engineer opening last night's failure: the top of the page says the
verdict and one line per checker (anomalies first), then how to reproduce the run; below
come each anomaly's witnesses (op tables and, for HW anomalies, a KIP-101-style replica
diagram, `reports.kip101`), the plots (`reports.plots`), the fault schedule, the
configuration, versions and statistics, and links to the node logs.

One file, no network: CSS is inline, plots are inline SVG, there is no script at all, and
a Content-Security-Policy forbids scripts and every external load. Everything that comes
from the system under test or the history is escaped by Jinja2's autoescape; the only
markup inserted unescaped is matplotlib's SVG after `reports.plots.sanitize_svg` checked
it. Tables are capped (the full counts are shown) and plots downsampled, so a
1,000,000-op history renders in seconds to a few MB (``bench/report_bench.py``).

Usage::

    from reports.html import render_report
    path = render_report("store/my-test/20250101T000000")   # -> .../report.html
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined

from harness.contract import layout
from harness.contract.history import JSON, HistoryError
from harness.contract.layout import REPORT
from harness.contract.results import Witness
from harness.contract.verdict import Verdict
from reports.inputs import CheckerSummary, RunInputs, load_run
from reports.kip101 import DIAGRAMMED, Diagram, build_diagram, witness_windows
from reports.overlap import FaultInLife, Life, life, overlapping, trigger_of
from reports.plots import Plot, fault_colour, render_plots
from reports.scan import NS, HistoryDigest, scan_history

MAX_WITNESSES: Final = 5
MAX_DIAGRAMS: Final = 3
MAX_WITNESS_OPS: Final = 40
MAX_FAULT_ROWS: Final = 300
MAX_KEY_PLOTS: Final = 8
MAX_STAT_ROWS: Final = 80
MAX_VALUE_CHARS: Final = 160


@dataclass(frozen=True, slots=True)
class OpRow:
    index: str
    time: str
    process: str
    type: str
    f: str
    node: str
    error: str
    value: str
    focus: bool


@dataclass(frozen=True, slots=True)
class WitnessView:
    witness: Witness
    ops: list[OpRow]
    ops_total: int
    diagram: Diagram | None
    diagram_id: str
    diagram_ref: str | None
    extra: str
    life: Life | None
    faults: list[FaultInLife]
    """Every fault period overlapping the witness's life, with its trigger."""


@dataclass(frozen=True, slots=True)
class AnomalyView:
    checker: CheckerSummary
    witnesses: list[WitnessView]


@dataclass(frozen=True, slots=True)
class FaultRow:
    package: str
    colour: str
    start: str
    stop: str
    duration: str
    start_value: str
    stop_value: str
    indices: str
    trigger: str
    """Why it happened: the trigger its start op recorded (`reports.overlap.trigger_of`)."""


def environment() -> Environment:
    """The Jinja2 environment of all floodmark reports (autoescape always on)."""
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else str(n)
    env.filters["secs"] = lambda s: "" if s is None else f"{s:.3f} s"
    env.filters["json"] = short_json
    env.filters["bytes"] = human_bytes
    env.globals["layout"] = layout  # run-directory file names, as everywhere else
    return env


@dataclass(frozen=True, slots=True)
class Rendered:
    """What `render` wrote, and what it could not read (the page says the same)."""

    path: Path
    notes: list[str]
    history_error: str | None
    seconds: float


def render_report(run_dir: str | os.PathLike[str]) -> Path:
    """Render ``report.html`` in ``run_dir`` (or the run holding that ``history.jsonl``).

    Tolerates missing ``test.json``/``results.json``/logs and an unreadable history (the
    page says what is missing; the checkers are run on the history). Raises
    `reports.inputs.RunInputError` when the path is not a run at all.
    """
    return render(run_dir).path


def render(run_dir: str | os.PathLike[str]) -> Rendered:
    """`render_report`, also returning the notes and any history error."""
    started = time.perf_counter()
    inputs = load_run(run_dir)
    context = build_context(inputs)
    context["render_seconds"] = time.perf_counter() - started
    html = environment().get_template("report.html.j2").render(**context)
    path = write_atomic(inputs.run_dir / REPORT, html)
    return Rendered(path, context["notes"], context["history_error"], time.perf_counter() - started)


def build_context(inputs: RunInputs) -> dict[str, Any]:
    notes = list(inputs.notes)
    anomalous = [c for c in inputs.checkers if c.verdict is not Verdict.VALID]
    digest, history_error = _digest(inputs, anomalous)
    if history_error:
        notes.append(f"the history could not be read: {history_error}")
    shown: dict[tuple[int, int], str] = {}
    anomalies = [_anomaly(c, digest, shown) for c in anomalous if c.witnesses or c.error]
    plots: list[Plot] = []
    keys: list[int] = []
    if digest is not None:
        keys = _plot_keys(digest, anomalous)
        plots = render_plots(digest, keys)
        if len(digest.keys) > len(keys):
            notes.append(
                f"HW/LEO plotted for {len(keys)} of {len(digest.keys)} keys "
                "(keys with anomalies first)"
            )
        if digest.torn_last_line:
            notes.append("the history's last line was torn (the harness was killed mid-write)")
    faults = _fault_rows(digest) if digest is not None else []
    return {
        "meta": _meta(inputs, digest),
        "inputs": inputs,
        "name": inputs.name,
        "verdict": inputs.verdict.value,
        "checkers": inputs.checkers,
        "anomalies": anomalies,
        "digest": digest,
        "plots": plots,
        "faults": faults[:MAX_FAULT_ROWS],
        "faults_total": len(faults),
        "events": (digest.events[:MAX_FAULT_ROWS] if digest else []),
        "events_total": (len(digest.events) if digest else 0),
        "fault_legend": sorted({(r.package, r.colour) for r in faults}),
        "op_counts": _op_counts(digest) if digest else [],
        "errors": sorted(digest.errors.items(), key=lambda e: -e[1]) if digest else [],
        "config": flatten(inputs.config)[:MAX_STAT_ROWS],
        "versions": flatten(inputs.test.get("versions"))[:MAX_STAT_ROWS],
        "stats": flatten(inputs.stats)[:MAX_STAT_ROWS],
        "stats_total": len(flatten(inputs.stats)),
        "seed": inputs.test.get("seed", inputs.config.get("seed")),
        "command": inputs.test.get("command"),
        "run_id": inputs.test.get("run_id"),
        "notes": notes,
        "history_error": history_error,
    }


def _meta(inputs: RunInputs, d: HistoryDigest | None) -> list[str]:
    """The header's one line: run id, system, profile, size, duration, faults."""
    run_id, cfg = inputs.test.get("run_id"), inputs.config
    parts = [f"run {short_json(run_id, 60)}"] if run_id is not None else []
    parts += [short_json(cfg["system"], 40)] if cfg.get("system") else []
    parts += [f"profile {short_json(cfg['profile'], 40)}"] if cfg.get("profile") else []
    settings = cfg.get("settings")
    for name in ("kafka.version", "kafka.dist"):  # which Kafka ran (the system records it)
        if isinstance(settings, dict) and settings.get(name):
            parts.append(f"{name.split('.')[1]} {short_json(settings[name], 60)}")
    if cfg.get("replay"):
        parts.append(f"replay of {short_json(cfg['replay'], 80)}")
    if d is not None:
        parts += [f"{d.ops:,} ops", f"{d.duration:.1f} s", f"{d.processes} client processes"]
        parts += [f"{len(d.faults)} fault periods"]
    return parts


def _digest(
    inputs: RunInputs, anomalous: list[CheckerSummary]
) -> tuple[HistoryDigest | None, str | None]:
    if not inputs.has_history:
        return None, None
    witnesses = [w for c in anomalous if c.name in DIAGRAMMED for w in c.witnesses[:MAX_DIAGRAMS]]
    try:
        return scan_history(inputs.history_path, witness_windows(witnesses)), None
    except HistoryError as e:
        return None, str(e)


def _anomaly(
    c: CheckerSummary, digest: HistoryDigest | None, shown: dict[tuple[int, int], str]
) -> AnomalyView:
    """The witnesses of one checker; a (key, offset) already drawn for an earlier witness
    is referenced rather than drawn again (one KIP-101 scenario trips several checkers)."""
    views = []
    for i, w in enumerate(c.witnesses[:MAX_WITNESSES]):
        diagram, ref = None, None
        anchor = f"kip-{c.name}-{i}"
        if digest is not None and c.name in DIAGRAMMED and i < MAX_DIAGRAMS:
            where = (w.key, w.offset) if w.key is not None and w.offset is not None else None
            if where is not None and where in shown:
                ref = shown[where]
            else:
                diagram = build_diagram(digest, w)
                if where is not None and diagram is not None:
                    shown[where] = anchor
        rows = [_op_row(op, w) for op in w.ops[:MAX_WITNESS_OPS]]
        extra = short_json(dict(w.details), 400) if w.details else ""
        span = life(w, diagram.written_at if diagram is not None else None)
        during = overlapping(digest.faults, span) if digest is not None else []
        views.append(WitnessView(w, rows, len(w.ops), diagram, anchor, ref, extra, span, during))
    return AnomalyView(c, views)


def _op_row(op: Mapping[str, JSON], w: Witness) -> OpRow:
    value = op.get("value")
    t = op.get("time")
    focus = isinstance(value, Mapping) and (
        (w.value is not None and value.get("value") == w.value)
        or (w.offset is not None and value.get("offset") == w.offset)
    )
    return OpRow(
        index=_s(op.get("index")),
        time=f"{t / NS:.3f}" if type(t) is int else _s(t),
        process=_s(op.get("process")),
        type=_s(op.get("type")),
        f=_s(op.get("f")),
        node=_s(op.get("node")),
        error=_s(op.get("error")),
        value=summarize_value(value, w.offset),
        focus=bool(focus),
    )


def summarize_value(value: JSON, focus_offset: int | None = None) -> str:
    """Compact text for an op's value; record lists become a count, a range and, when a
    witness offset is given, the records around it."""
    if not isinstance(value, Mapping) or not isinstance(value.get("records"), list):
        return short_json(value, MAX_VALUE_CHARS)
    records = value["records"]
    elided = value.get("records_elided")
    head = {k: v for k, v in value.items() if k not in ("records", "records_elided")}
    text = short_json(head, 80) + f" · {len(records):,} records"
    offsets = [r[0] for r in records if isinstance(r, list) and len(r) == 2]
    if type(elided) is int and elided > 0:
        text = short_json(head, 80) + f" · {len(records) + elided:,} records (excerpt)"
    elif offsets:
        text += f" [{offsets[0]}..{offsets[-1]}]"
    if focus_offset is not None:
        near = [
            f"{r[0]}:{r[1]}"
            for r in records
            if isinstance(r, list)
            and len(r) == 2
            and isinstance(r[0], int)
            and abs(r[0] - focus_offset) <= 2
        ]
        text += " · near offset " + str(focus_offset) + ": " + (" ".join(near) or "none")
    return text


def _plot_keys(d: HistoryDigest, anomalous: list[CheckerSummary]) -> list[int]:
    first = [w.key for c in anomalous for w in c.witnesses if w.key is not None]
    ordered = list(dict.fromkeys([k for k in first if k in set(d.keys)] + d.keys))
    return ordered[:MAX_KEY_PLOTS]


def _fault_rows(d: HistoryDigest) -> list[FaultRow]:
    rows = []
    for p in d.faults:
        end = p.end(d.duration)
        name, state = trigger_of(p)
        rows.append(
            FaultRow(
                package=p.package,
                colour=fault_colour(p.package),
                start=f"{p.start:.3f}",
                stop=f"{p.stop:.3f}" if p.stop is not None else "never stopped",
                duration=f"{end - p.start:.3f}",
                start_value=short_json(p.start_value, 300),
                stop_value=short_json(p.stop_value, 200),
                indices=f"#{p.start_index}"
                + (f" to #{p.stop_index}" if p.stop_index is not None else ""),
                trigger=name + (f" {short_json(dict(state), 200)}" if state else ""),
            )
        )
    return rows


def _op_counts(d: HistoryDigest) -> list[tuple[str, dict[str, int], int]]:
    by_f: dict[str, dict[str, int]] = {}
    for (f, typ), n in d.counts.items():
        by_f.setdefault(f, {})[typ] = n
    return sorted(((f, c, sum(c.values())) for f, c in by_f.items()), key=lambda r: -r[2])


def flatten(value: JSON, prefix: str = "") -> list[tuple[str, str]]:
    """Nested JSON objects as ``("a.b.c", "short JSON")`` rows, in order."""
    if not isinstance(value, Mapping):
        return [] if value is None and not prefix else [(prefix or "value", short_json(value))]
    rows: list[tuple[str, str]] = []
    for k, v in value.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            rows.extend(flatten(v, name))
        else:
            rows.append((name, short_json(v)))
    return rows


def short_json(value: JSON, limit: int = MAX_VALUE_CHARS) -> str:
    """Compact JSON text (strings as they are), cut to ``limit`` characters with an ellipsis."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else _dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def write_atomic(path: Path, text: str) -> Path:
    """Write through a temporary file and rename, so a reader never sees half a page."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _dumps(value: object) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def _s(v: object) -> str:
    return "" if v is None else v if isinstance(v, str) else _dumps(v)
