"""``floodmark certify merge DIR...``: the shards of one suite run as one certificate.

Each DIR is a shard's certify output directory (``store/certify/<suite>/<stamp>/``) or a
store holding one or more of them (a CI artifact, say). The shards' ``summary.json``
files must carry the same `harness.shard.Plan`: suite, options, floodmark version,
scenario digest and shard count; anything else is refused (`MergeRefused`, exit 2),
because a certificate stitched from different suites would certify nothing.

The merged rows are the shards' rows in the suite's order, so the merged
``summary.json``, ``junit.xml`` and ``certificate.html`` say what one unsharded run
would have said. Scenarios of the plan that no shard ran are ``missing``; one that more
than one shard ran is ``duplicated`` (every copy is kept: a safety violation is never
merged away). Either makes the merged verdict unknown, unless a scenario is invalid,
which makes it invalid (false > unknown > true). Example, shard 2 of 2 lost::

    {"suite": "smoke", "verdict": "unknown", "missing": ["replog-safe/kill/seed-1"],
     "missing_shards": ["2/2"], "duplicated": [], "merged_from": [...], "rows": [...]}

A row's ``run_dir`` is the path on the machine that ran it; when that path does not
exist here, the same ``<test>/<stamp>`` under the shard's store (its artifact) is used.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harness.certify import output_dir, summary_of, write_summary
from harness.contract.layout import CERTIFY, SUMMARY
from harness.contract.verdict import Verdict, merge_verdicts

MERGED_SUFFIX = "-merged"


class MergeRefused(Exception):
    """Shards that cannot be merged, or nothing to merge; says which and why."""


@dataclass(frozen=True, slots=True)
class ShardOutput:
    """One shard's certify output directory and its summary.json."""

    path: Path
    summary: Mapping[str, Any]

    @property
    def plan(self) -> Mapping[str, Any]:
        plan = self.summary.get("plan")
        return plan if isinstance(plan, Mapping) else {}

    @property
    def shard(self) -> tuple[int, int]:
        s = self.plan.get("shard") or {"index": 1, "count": 1}
        return int(s["index"]), int(s["count"])

    @property
    def store(self) -> Path:
        """The store this output lives in: ``<store>/certify/<suite>/<stamp>/``."""
        return self.path.parents[2]


@dataclass(frozen=True, slots=True)
class Merged:
    out: Path
    summary: dict[str, Any]

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.summary["verdict"])


def find_outputs(dirs: Sequence[Path]) -> list[ShardOutput]:
    """The certify outputs in ``dirs`` (earlier merges skipped), in the order given."""
    found: list[ShardOutput] = []
    for d in dirs:
        if (d / SUMMARY).is_file():
            paths = [d / SUMMARY]
        else:
            paths = sorted(
                p for p in d.rglob(SUMMARY) if len(p.parents) > 3 and p.parents[2].name == CERTIFY
            )
        outputs = [_read(p) for p in paths]
        outputs = [o for o in outputs if "merged_from" not in o.summary]
        if not outputs:
            raise MergeRefused(
                f"{d}: no certify output found; expected a directory holding summary.json "
                f"(store/{CERTIFY}/<suite>/<stamp>/) or a store with such directories"
            )
        found.extend(outputs)
    return found


def _read(path: Path) -> ShardOutput:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise MergeRefused(f"{path}: unreadable summary.json ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise MergeRefused(f"{path}: not a certify summary.json (no rows)")
    out = ShardOutput(path.parent, data)
    if not out.plan:
        raise MergeRefused(
            f"{path}: summary.json has no plan (written by a floodmark from before "
            "sharding): run the shards again with this floodmark"
        )
    return out


_MUST_AGREE = (
    ("suite", "different suites"),
    ("options", "different options (--set)"),
    ("floodmark", "different floodmark versions"),
    ("digest", "different scenario lists (the suite file or its defaults changed)"),
)


def check_compatible(outputs: Sequence[ShardOutput]) -> None:
    """Refuse (`MergeRefused`) shards whose plans differ, naming what differs and where."""
    for key, what in _MUST_AGREE:
        values = {orjson.dumps(o.plan.get(key), option=orjson.OPT_SORT_KEYS) for o in outputs}
        if len(values) > 1:
            per = "; ".join(f"{o.path}: {o.plan.get(key)!r}" for o in outputs)
            raise MergeRefused(f"cannot merge shards of {what}: {per}")
    counts = {o.shard[1] for o in outputs}
    if len(counts) > 1:
        per = "; ".join(f"{o.path}: shard {o.shard[0]}/{o.shard[1]}" for o in outputs)
        raise MergeRefused(f"cannot merge shards of different splits (--shard I/N): {per}")


def merge(outputs: Sequence[ShardOutput], out: Path) -> Merged:
    """Write the merged summary.json, junit.xml and certificate.html in ``out``."""
    check_compatible(outputs)
    plan = dict(outputs[0].plan)
    planned = [str(n) for n in plan.get("scenarios", [])]
    count = outputs[0].shard[1]
    position = {name: k for k, name in reversed(list(enumerate(planned)))}
    ordered = sorted(outputs, key=lambda o: o.shard[0])
    rows = [_relocated(row, o) for o in ordered for row in o.summary["rows"]]
    rows.sort(key=lambda r: position.get(str(r.get("scenario")), len(planned)))
    want, got = Counter(planned), Counter(str(r.get("scenario")) for r in rows)
    missing = [n for n in planned if got[n] < want[n]]
    duplicated = sorted(n for n in got if got[n] > want[n] and n in want)
    unplanned = sorted(n for n in got if n not in want)
    present = {o.shard[0] for o in outputs}
    missing_shards = [f"{i}/{count}" for i in range(1, count + 1) if i not in present]
    incomplete = bool(missing or duplicated or unplanned)
    verdicts = [Verdict(str(r.get("outcome", "unknown"))) for r in rows]
    verdict = merge_verdicts([*verdicts, *([Verdict.UNKNOWN] if incomplete else [])])
    if not rows:
        verdict = Verdict.UNKNOWN
    summary = summary_of(
        str(plan["suite"]),
        str(outputs[0].summary.get("description", "")),
        len(planned),
        rows,
        verdict,
    )
    summary["plan"] = {**plan, "shard": None}
    summary["missing"] = missing
    summary["duplicated"] = duplicated
    summary["unplanned"] = unplanned
    summary["missing_shards"] = missing_shards
    summary["merged_from"] = [
        {
            "path": str(o.path),
            "shard": f"{o.shard[0]}/{o.shard[1]}",
            "verdict": o.summary.get("verdict"),
            "scenarios_run": len(o.summary["rows"]),
        }
        for o in ordered
    ]
    summary["merged_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out.mkdir(parents=True, exist_ok=True)
    write_summary(out, summary)
    return Merged(out, summary)


def merge_dirs(dirs: Sequence[Path], store: Path, out: Path | None = None) -> Merged:
    """`find_outputs` then `merge`, into ``out`` or a new
    ``<store>/certify/<suite>/<stamp>-merged/``."""
    outputs = find_outputs(dirs)
    check_compatible(outputs)
    suite = str(outputs[0].plan["suite"])
    target = out or output_dir(store / CERTIFY / suite, MERGED_SUFFIX)
    return merge(outputs, target)


def _relocated(row: Mapping[str, Any], shard: ShardOutput) -> dict[str, Any]:
    """The row, its run_dir found in the shard's store when the original is not here."""
    r = dict(row)
    r["shard"] = f"{shard.shard[0]}/{shard.shard[1]}"
    run_dir = r.get("run_dir")
    if isinstance(run_dir, str) and not Path(run_dir).exists():
        moved = shard.store.joinpath(*Path(run_dir).parts[-2:])
        if moved.exists():
            r["run_dir"] = str(moved)
    return r
