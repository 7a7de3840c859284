"""compose/kafka/start-kafka.sh in ZooKeeper mode, run by sh with a fake ``java`` on PATH: a
broker whose start fails at once (its old ZooKeeper registration is still there) is
started again; one that ran past the window, or a start that keeps failing past the
budget, is not (the container stops and the run sees it)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from compose.images import ROOT

SCRIPT = ROOT / "compose/kafka/start-kafka.sh"


def start(
    tmp_path: Path, exits: list[int], **env: str
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the script on a ZooKeeper-mode config; the fake java exits with ``exits`` in turn
    (the last one again and again); returns the run and how many times java ran."""
    conf = tmp_path / "server.properties"
    conf.write_text(f"broker.id=1\nzookeeper.connect=zk:2181\nlog.dirs={tmp_path / 'data'}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    runs = tmp_path / "runs"
    codes = " ".join(map(str, exits))
    (bin_dir / "java").write_text(
        "#!/bin/sh\n"
        f'echo "$@" >>{runs}\n'
        f"n=$(wc -l <{runs}); set -- {codes}; "
        'while [ "$n" -gt 1 ] && [ "$#" -gt 1 ]; do shift; n=$((n - 1)); done; exit "$1"\n'
    )
    (bin_dir / "java").chmod(0o755)
    proc = subprocess.run(
        ["sh", str(SCRIPT)],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "KAFKA_CONFIG": str(conf),
             "KAFKA_HEAP_OPTS": "", "KAFKA_JVM_OPTS": "", "KAFKA_START_PAUSE_S": "0", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    return proc, len(runs.read_text().splitlines())


def test_a_start_that_fails_at_once_is_tried_again_until_the_broker_runs(tmp_path: Path) -> None:
    proc, runs = start(tmp_path, [1, 1, 0])
    assert (proc.returncode, runs) == (0, 3), proc.stderr
    assert len(re.findall(r"the broker exited 1 after \d+ s \(start attempt", proc.stdout)) == 2
    assert "ZooKeeper may still hold the registration" in proc.stdout


def test_a_broker_that_ran_past_the_window_is_not_restarted(tmp_path: Path) -> None:
    proc, runs = start(tmp_path, [3], KAFKA_START_WINDOW_S="0")
    assert (proc.returncode, runs) == (3, 1)


def test_retries_stop_when_the_budget_is_spent(tmp_path: Path) -> None:
    proc, runs = start(tmp_path, [1], KAFKA_START_BUDGET_S="0")
    assert (proc.returncode, runs) == (1, 1)
    assert "start attempt" not in proc.stdout
