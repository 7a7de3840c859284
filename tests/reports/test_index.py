"""store/index.html: every run, newest first."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from reports.html import render_report
from reports.index import last_op_time, render_index
from tests.reports.history_gen import GenSpec, generate_run


def test_index_lists_runs_newest_first_with_verdicts_and_links(tmp_path: Path) -> None:
    store = tmp_path / "store"
    bad = store / "kip-101" / "20250103T020000"
    generate_run(bad, GenSpec(ops=1500, duration=8))
    render_report(bad)
    good = store / "kip-101" / "20250101T020000"
    generate_run(good, GenSpec(ops=1500, duration=8, anomalies=False, name="clean"))
    copied = store / "ci-copy" / "2025-01-02T02-00-00"
    copied.mkdir(parents=True)
    shutil.copy(bad / "history.jsonl", copied)
    (store / "latest").symlink_to(bad.parent)
    html = render_index(store).read_text()
    rows = re.findall(r"<tr class=\"row-(\w+)\">(.*?)</tr>", html, re.S)
    assert len(rows) == 3
    dates = [re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", r).group(0) for _, r in rows]  # type: ignore[union-attr]
    assert dates == ["2025-01-03 02:00:00", "2025-01-02 02:00:00", "2025-01-01 02:00:00"]
    first, second, third = (r for _, r in rows)
    assert 'href="kip-101/20250103T020000/report.html"' in first and "INVALID" in first
    assert "lost-write <b>1</b>" in first and "partition, pause, kill, slow-disk" in first
    assert "not checked" in second and 'href="ci-copy/2025-01-02T02-00-00/"' in second
    assert "VALID" in third and "clean" in third
    assert "1 invalid · 0 unknown · 1 valid" in html


def test_duration_is_read_from_the_end_of_a_long_history(tmp_path: Path) -> None:
    run = tmp_path / "r"
    generate_run(run, GenSpec(ops=3000, duration=12))
    t = last_op_time(run / "history.jsonl")
    assert t is not None and 12.0 < t < 14.0
