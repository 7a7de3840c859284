"""``pytest examples/`` runs the example chaos test through the plugin (issue 7, item 3).

A fresh pytest process (the plugin loaded from its ``pytest11`` entry point, as a user
would have it) runs ``examples/``: the chaos test starts a replog cluster, runs the
scenario and passes; the run directory shows up in the report output and as the
``floodmark_run_dir`` property in pytest's JUnit XML, and holds the run's results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]


def test_pytest_examples_runs_the_chaos_test_through_the_plugin(tmp_path: Path) -> None:
    store = tmp_path / "store"
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "examples/",
            "-p",
            "no:cacheprovider",
            "-rA",
            "--floodmark-store",
            str(store),
            f"--junitxml={junit}",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=540,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"pytest examples/ exited {proc.returncode}:\n{out[-4000:]}"
    assert re.search(r"\b1 passed\b", out), out[-2000:]

    run_dirs = sorted({p.parent.resolve() for p in store.glob("*/*/results.json")})
    assert len(run_dirs) == 1, f"expected one run in {store}, got {run_dirs}"
    run_dir = run_dirs[0]
    assert str(run_dir) in out, f"run directory {run_dir} not in the report output:\n{out[-3000:]}"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True

    props = {
        str(p.get("name")): str(p.get("value")) for p in ET.parse(junit).getroot().iter("property")
    }
    assert Path(props["floodmark_run_dir"]) == run_dir
