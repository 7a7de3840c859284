"""Scaling certification out, for real (issue 15): Docker, Toxiproxy, replog.

- ``certify smoke --shard 1/2`` and ``--shard 2/2``, started at once as two processes
  with separate stores, then ``certify merge``: the same scenario list as one unsharded
  ``certify smoke``, and the same verdicts (each one also checked as a safe run).
- ``--jobs 2`` on a 4-scenario suite: while it runs, a watcher samples every network's
  subnet and every published host port of the suite's runs; no two live runs ever share
  one. The wall time against ``--jobs 1`` is printed (a ratio, not asserted: the machine
  is shared).
- Two concurrent ``floodmark run`` s, one killed with ``-9``: its containers, networks and
  volumes stay until the next run starts, which reaps them (and says so) while the
  other run carries on and completes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import docker
import pytest

from compose.owner import LABEL_OWNER_PID
from compose.resources import LABEL_RUN
from tests.integration.verdicts import assert_safe_run

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SHORT = ("--set", "time_limit=10", "--set", "recovery_timeout=30")


def floodmark(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        floodmark(*args),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def finish(proc: subprocess.Popen[bytes], log: Path, timeout: float = 600) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        tail = log.read_text()[-3000:]
        raise AssertionError(f"{proc.args!r} did not finish; log:\n{tail}") from None


def summary_of(store: Path, suite: str) -> tuple[Path, dict[str, Any]]:
    (out,) = [p for p in (store / "certify" / suite).iterdir() if p.is_dir()]
    return out, json.loads((out / "summary.json").read_text())


def test_two_shards_at_once_merge_into_the_unsharded_certificate(tmp_path: Path) -> None:
    procs = {
        i: start("certify", "smoke", "--shard", f"{i}/2", "--store", str(tmp_path / f"s{i}"),
                 *SHORT, log=tmp_path / f"shard-{i}.log")
        for i in (1, 2)
    }  # fmt: skip
    codes = {i: finish(p, tmp_path / f"shard-{i}.log") for i, p in procs.items()}
    assert set(codes.values()) <= {0, 2}, codes
    whole = start("certify", "smoke", "--store", str(tmp_path / "whole"), *SHORT,
                  log=tmp_path / "whole.log")  # fmt: skip
    whole_code = finish(whole, tmp_path / "whole.log")
    merged = subprocess.run(
        floodmark("certify", "merge", str(tmp_path / "s1"), str(tmp_path / "s2"),
                  "--out", str(tmp_path / "merged")),
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    m = json.loads((tmp_path / "merged" / "summary.json").read_text())
    _, w = summary_of(tmp_path / "whole", "smoke")
    assert [r["scenario"] for r in m["rows"]] == [r["scenario"] for r in w["rows"]]
    assert len(m["rows"]) == 3 and m["missing"] == [] and m["duplicated"] == []
    for rows in (m["rows"], w["rows"]):
        for r in rows:  # each a real safe run: invalid fails, floodmark's own unknown too
            assert r["verdict"] == assert_safe_run(Path(r["run_dir"]), r["scenario"]), r
    # The merge is exact: each scenario's verdict is the one its shard measured, and the
    # suite's verdict and exit code follow them as an unsharded certify's would.
    merged_v = {r["scenario"]: r["verdict"] for r in m["rows"]}
    shard_v = {
        r["scenario"]: r["verdict"]
        for i in (1, 2)
        for r in summary_of(tmp_path / f"s{i}", "smoke")[1]["rows"]
    }
    assert merged_v == shard_v, (merged_v, shard_v)
    suite_v = "valid" if set(merged_v.values()) == {"valid"} else "unknown"
    assert m["verdict"] == suite_v and merged.returncode == {"valid": 0, "unknown": 2}[suite_v], (
        m["verdict"], merged.returncode, merged.stderr
    )  # fmt: skip
    assert whole_code == {"valid": 0, "unknown": 2}[w["verdict"]], (whole_code, w["verdict"])
    # Against the unsharded run (separate runs of the same scenarios): the same verdicts
    # wherever both decided; a safe run can end unknown in one of them (reported above).
    whole_v = {r["scenario"]: r["verdict"] for r in w["rows"]}
    decided = [n for n in whole_v if "unknown" not in (whole_v[n], merged_v[n])]
    assert {n: merged_v[n] for n in decided} == {n: whole_v[n] for n in decided}
    for i in (1, 2):  # each shard's store indexes its runs like any other
        index = (tmp_path / f"s{i}" / "index.html").read_text()
        _, s = summary_of(tmp_path / f"s{i}", "smoke")
        for r in s["rows"]:
            assert Path(r["run_dir"]).parent.name in index


class Watcher(threading.Thread):
    """Samples subnets and published host ports of floodmark runs owned by ``pids()``."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.client = docker.from_env()
        self.stop = threading.Event()
        self.collisions: list[str] = []
        self.runs: set[str] = set()
        self.samples = 0
        self.max_live = 0
        self.mine: set[str] = set()
        """Owner pids whose runs count (the suite's workers); others' runs are ignored."""

    def run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(docker.errors.NotFound):  # gone between list and inspect
                self.sample()
            time.sleep(0.5)

    def sample(self) -> None:
        subnets: dict[str, set[str]] = defaultdict(set)
        ports: dict[str, set[str]] = defaultdict(set)
        live: set[str] = set()
        for net in self.client.networks.list(filters={"label": LABEL_RUN}):
            labels = net.attrs.get("Labels") or {}
            if labels.get(LABEL_OWNER_PID) not in self.mine:
                continue
            run = labels[LABEL_RUN]
            live.add(run)
            for cfg in (self.client.api.inspect_network(str(net.id)).get("IPAM") or {}).get(
                "Config"
            ) or []:
                if cfg.get("Subnet"):
                    subnets[cfg["Subnet"]].add(run)
        for c in self.client.api.containers(filters={"label": LABEL_RUN}):
            labels = c.get("Labels") or {}
            if labels.get(LABEL_OWNER_PID) not in self.mine:
                continue
            for p in c.get("Ports") or []:
                if p.get("PublicPort"):
                    ports[f"{p.get('IP')}:{p['PublicPort']}"].add(labels[LABEL_RUN])
        self.samples += 1
        self.runs |= live
        self.max_live = max(self.max_live, len(live))
        for what, table in (("subnet", subnets), ("host port", ports)):
            for key, runs in table.items():
                if len(runs) > 1:
                    self.collisions.append(f"{what} {key} shared by {sorted(runs)}")


SUITE = """
name: four-short
defaults: {system: replog, nodes: 3, keys: 2, time_limit: 10, nemesis_interval: 4,
           recovery_timeout: 30}
systems:
  - label: replog-safe
    config: {settings: {min.insync.replicas: 2}}
faults: [[kill], [pause]]
seeds: [1, 2]
"""


def _worker_pids(certify_pid: int) -> set[str]:
    out = subprocess.run(["pgrep", "-P", str(certify_pid)], capture_output=True, text=True)
    return set(out.stdout.split())


def test_jobs_2_runs_four_scenarios_without_sharing_ports_or_subnets(tmp_path: Path) -> None:
    suite = tmp_path / "four.yaml"
    suite.write_text(SUITE)
    watcher = Watcher()
    watcher.start()
    timings: dict[str, float] = {}
    try:
        for jobs in ("2", "1"):
            store = tmp_path / f"jobs{jobs}"
            log = tmp_path / f"jobs{jobs}.log"
            t0 = time.monotonic()
            proc = start("certify", str(suite), "--jobs", jobs, "--store", str(store), log=log)
            while proc.poll() is None:
                watcher.mine = _worker_pids(proc.pid) | {str(proc.pid)}
                time.sleep(0.5)
            timings[jobs] = time.monotonic() - t0
            assert proc.returncode in (0, 2), log.read_text()[-3000:]
            _, s = summary_of(store, "four-short")
            assert s["scenarios_run"] == 4 and s["plan"]["scenarios"] == [r["scenario"] for r
                                                                          in s["rows"]]  # fmt: skip
            for r in s["rows"]:
                assert r["verdict"] == assert_safe_run(Path(r["run_dir"]), r["scenario"]), r
            if jobs == "2":
                assert watcher.max_live == 2, watcher.max_live  # two clusters at once
    finally:
        watcher.stop.set()
        watcher.join(timeout=10)
    assert watcher.collisions == [], watcher.collisions[:10]
    assert len(watcher.runs) == 8
    print(
        f"\n--jobs 2: {timings['2']:.0f} s, --jobs 1: {timings['1']:.0f} s, "
        f"ratio {timings['2'] / timings['1']:.2f} ({watcher.samples} samples, no collision)"
    )


def _containers_of(client: docker.DockerClient, label: str) -> list[str]:
    return [c["Names"][0] for c in client.api.containers(all=True, filters={"label": label})]


def test_a_run_killed_with_minus_9_is_reaped_by_the_next_and_the_other_survives(
    tmp_path: Path,
) -> None:
    client = docker.from_env()
    runs = {
        name: start("run", "--time-limit", secs, "--keys", "2", "--seed", "1",
                    "--store", str(tmp_path / name), log=tmp_path / f"{name}.log")
        for name, secs in (("killed", "60"), ("other", "30"))
    }  # fmt: skip

    def owned(name: str) -> str:
        return f"{LABEL_OWNER_PID}={runs[name].pid}"

    def history_ops(name: str) -> int:
        hist = list((tmp_path / name).glob("*/*/history.jsonl"))
        return len(hist[0].read_text().splitlines()) if hist else 0

    deadline = time.monotonic() + 180
    while not (history_ops("killed") > 20 and history_ops("other") > 20):  # both under load
        assert time.monotonic() < deadline, "the two runs never got under load"
        assert all(p.poll() is None for p in runs.values())
        time.sleep(0.5)
    killed_containers = _containers_of(client, owned("killed"))
    assert len(killed_containers) == 5  # 4 replog nodes and Toxiproxy
    runs["killed"].send_signal(signal.SIGKILL)
    runs["killed"].wait(timeout=30)
    time.sleep(2)
    left = {
        "containers": len(_containers_of(client, owned("killed"))),
        "networks": len(client.networks.list(filters={"label": owned("killed")})),
        "volumes": len(client.volumes.list(filters={"label": owned("killed")})),
    }
    assert left == {"containers": 5, "networks": 5, "volumes": 4}, left  # what -9 leaves
    killed_run = json.loads(next((tmp_path / "killed").glob("*/*/test.json")).read_text())
    other_before = _containers_of(client, owned("other"))

    nxt = subprocess.run(
        floodmark("run", "--time-limit", "3", "--keys", "1", "--store", str(tmp_path / "next")),
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert nxt.returncode == 0, nxt.stderr[-3000:]
    said = " ".join(nxt.stderr.split())
    assert f"reaped run {killed_run['run_id']}" in said, nxt.stderr[-3000:]
    assert f"pid {runs['killed'].pid}" in said
    assert _containers_of(client, owned("killed")) == []
    assert client.networks.list(filters={"label": owned("killed")}) == []
    assert client.volumes.list(filters={"label": owned("killed")}) == []

    other_code = finish(runs["other"], tmp_path / "other.log")
    assert other_before and len(other_before) == 5
    other = json.loads(next((tmp_path / "other").glob("*/*/test.json")).read_text())
    assert other["outcome"]["status"] == "completed", other["outcome"]
    assert other_code == 0, (tmp_path / "other.log").read_text()[-3000:]
