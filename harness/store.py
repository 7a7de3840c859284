"""The store: one directory per run, and ``latest`` links.

Layout (every name is defined once, in `harness.contract.layout`)::

    store/
      latest -> replog-log/20261121T122400Z         (the newest run of any test)
      replog-log/
        latest -> 20261121T122400Z
        20261121T122400Z/
          test.json       config, seed, versions, the command that reproduces the run
          history.jsonl   the history (DESIGN.md §3), appended and flushed as the run goes
          cluster.json    the rendered cluster plan (nodes, proxies)
          cluster/        the rendered node config files (mounted read-only)
          logs/n1.log     node logs, collected before the containers are removed
          harness.log     the harness's own log of the run
          results.json    the checkers' verdict (written after the run)
          report.html     the report, and junit.xml

Timestamps are UTC, to the second; a second run in the same second gets ``-2``, ``-3``...
(``mkdir`` decides, so concurrent runs of one test in one store never share a directory).

`on_open` lets the caller of a run learn its directory the moment it exists: the
``--jobs`` worker (`harness.jobs`) reports it to the certifying process at once, so a
run killed half-way still points at its partial history.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from harness.contract import layout
from harness.contract.config import TestConfig


@dataclass(frozen=True, slots=True)
class RunDir:
    """An opened run directory."""

    path: Path
    run_id: str
    """Label value ``floodmark.run`` of every Docker resource of this run."""
    started: dt.datetime

    @property
    def history(self) -> Path:
        return self.path / layout.HISTORY

    @property
    def test_json(self) -> Path:
        return self.path / layout.TEST

    @property
    def cluster_json(self) -> Path:
        return self.path / layout.CLUSTER

    @property
    def logs(self) -> Path:
        return self.path / layout.LOGS

    @property
    def harness_log(self) -> Path:
        return self.path / layout.HARNESS_LOG


_OPENED: list[Callable[[RunDir], None]] = []


def on_open(callback: Callable[[RunDir], None]) -> Callable[[], None]:
    """Call ``callback`` with every run directory `open_run` creates in this process;
    returns the function that unregisters it."""
    _OPENED.append(callback)
    return lambda: _OPENED.remove(callback)


def new_run_id(now: dt.datetime | None = None) -> str:
    """``<utc timestamp>-<6 hex>``: the value of every resource's ``floodmark.run`` label."""
    started = now or dt.datetime.now(dt.UTC)
    return f"{started.strftime('%Y%m%dt%H%M%Sz')}-{secrets.token_hex(3)}"


def open_run(config: TestConfig, run_id: str, now: dt.datetime | None = None) -> RunDir:
    """Create ``<store>/<test>/<UTC timestamp>/`` and point the ``latest`` links at it."""
    started = now or dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    test_dir = Path(config.store).absolute() / config.name
    test_dir.mkdir(parents=True, exist_ok=True)
    path = test_dir / stamp
    n = 1
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            n += 1
            path = test_dir / f"{stamp}-{n}"
    (path / layout.LOGS).mkdir()
    _relink(test_dir / layout.LATEST, Path(path.name))
    _relink(test_dir.parent / layout.LATEST, Path(config.name) / path.name)
    run = RunDir(path=path, run_id=run_id, started=started)
    for callback in list(_OPENED):
        callback(run)
    return run


def _relink(link: Path, target: Path) -> None:
    """Atomically (re)point a symlink."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def versions(images: dict[str, str] | None = None) -> dict[str, Any]:
    """Versions that explain a run: floodmark, Python, platform, images used."""
    try:
        floodmark = metadata.version("floodmark")
    except metadata.PackageNotFoundError:
        floodmark = "0.1.0+source"
    return {
        "floodmark": floodmark,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "images": dict(images or {}),
    }


def write_test_json(run: RunDir, config: TestConfig, extra: dict[str, Any]) -> None:
    """(Re)write test.json atomically; ``extra`` carries versions, timings, outcome."""
    body: dict[str, Any] = {
        "name": config.name,
        "run_id": run.run_id,
        "started": run.started.isoformat(),
        "seed": config.seed,
        "config": config.to_json(),
        "command": config.command(),
    }
    body.update(extra)
    tmp = run.test_json.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    os.replace(tmp, run.test_json)
