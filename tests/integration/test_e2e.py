"""End to end without faults: real Docker, real Toxiproxy, real replog (issue 3).

- a short run yields ok sends and polls from ≥ 8 processes over ≥ 3 keys, a final read
  per key, a replica dump per replica, monitor samples; the time from ``floodmark run``
  to leaders + full ISR on every key is printed (and bounded generously);
- nodes reach each other only through Toxiproxy;
- SIGINT/SIGTERM during setup, load and final reads leave nothing labelled with the run;
- after ``kill -9`` the history parses and ``floodmark clean`` removes what was left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from compose.docker_cluster import DockerCluster, docker_client
from compose.images import ensure_images
from compose.resources import LABEL_RUN, labelled_containers, remove_labelled
from harness.contract.glossary import Anomaly
from harness.contract.plan import ClusterSpec
from harness.contract.reader import read_history
from harness.contract.results import Results
from harness.monitor import wait_healthy
from harness.systems.replog import ReplogSystem
from replog.client import ReplogClient

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def floodmark(
    args: list[str], store: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args, "--store", str(store)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(
    what: str, cond: Callable[[], object], timeout: float, proc: subprocess.Popen[str] | None = None
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"floodmark exited ({proc.returncode}) before {what}:\n{out}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def run_dir(store: Path) -> Path | None:
    latest = store / "latest"
    return latest.resolve() if latest.exists() and (latest / "test.json").exists() else None


def run_id_of(store: Path) -> str:
    d = wait_for("test.json", lambda: run_dir(store), 120)
    assert isinstance(d, Path)
    return str(json.loads((d / "test.json").read_text())["run_id"])


def leftovers(run_id: str) -> dict[str, list[str]]:
    client = docker_client()
    flt: dict[str, str | list[str] | bool] = {"label": f"{LABEL_RUN}={run_id}"}
    return {
        "containers": [name for _id, name in labelled_containers(client, f"{LABEL_RUN}={run_id}")],
        "networks": [str(n.name) for n in client.networks.list(filters=flt)],
        "volumes": [v.name for v in client.volumes.list(filters=flt)],
    }


def read_if_there(path: Path) -> bytes:
    """The file's bytes, or none while the run has not created it yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def client_ops(history: Path) -> int:
    return sum(1 for line in read_if_there(history).splitlines() if b'"process":"' not in line)


@pytest.mark.slow
def test_short_run_end_to_end(tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = floodmark(
        [
            "run",
            "--time-limit",
            "15",
            "--keys",
            "3",
            "--concurrency",
            "8",
            "--seed",
            "11",
            "--nemesis",
            "none",
        ],
        tmp_path,
    )
    out, _ = proc.communicate(timeout=300)
    wall = time.monotonic() - t0
    d = run_dir(tmp_path)
    assert d is not None, out
    test = json.loads((d / "test.json").read_text())
    assert proc.returncode == 0, out  # no faults: the checkers must find the run valid
    assert test["outcome"]["status"] == "completed"
    healthy = test["timings"]["cluster_healthy"]
    print(
        f"\nfloodmark run → leaders + full ISR on every key: {healthy:.2f} s; run wall {wall:.1f} s"
    )
    assert healthy < 30

    ops, stats = read_history(d / "history.jsonl")
    assert not stats.torn_last_line
    count = Counter((op.f, op.type.value) for op in ops)
    assert count[("send", "ok")] >= 300 and count[("poll", "ok")] >= 300, count
    assert count[("send", "invoke")] == sum(count[("send", t)] for t in ("ok", "fail", "info"))
    sending = {op.process for op in ops if op.f == "send" and op.type == "ok"}
    polling = {op.process for op in ops if op.f == "poll" and op.type == "ok"}
    assert len(sending | polling) >= 8
    assert {op.value["key"] for op in ops if op.f == "send" and op.type == "ok"} == {0, 1, 2}
    assert any(op.value["records"] for op in ops if op.f == "poll" and op.type == "ok")
    finals = [op for op in ops if op.f == "final-read" and op.type == "ok"]
    assert sorted(op.value["key"] for op in finals) == [0, 1, 2]
    assert all(op.value["complete"] for op in finals)
    acked = {op.value["value"] for op in ops if op.f == "send" and op.type == "ok"}
    read = {v for op in finals for _o, v in op.value["records"]}
    assert acked <= read
    dumps = {(op.value["key"], op.value["node"]) for op in ops if op.f == "replica-dump"}
    assert dumps == {(k, n) for k in range(3) for n in ("n1", "n2", "n3")}
    samples = [op for op in ops if op.f == "replica-state"]
    assert len(samples) >= 15 * 9  # ≥ 1/s for every replica during 15 s of load
    assert {s.value["role"] for s in samples} <= {"leader", "follower"}
    results = Results.read(d)  # the run checked its history: a verdict and a liveness section
    live = results.liveness
    assert live is not None and live.unfinished_final_reads == []
    assert live.anomalies[Anomaly.UNRECOVERED].count == 0
    for node in ("n1", "n2", "n3", "controller", "toxiproxy"):
        assert (d / "logs" / f"{node}.log").stat().st_size > 0
    assert leftovers(test["run_id"]) == {"containers": [], "networks": [], "volumes": []}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DockerCluster]:
    system = ReplogSystem()
    run_id = f"test-isolation-{os.getpid()}"
    plan = system.render(ClusterSpec(run_id, 3, 2, 3, "kafka-0.11"))
    images = ensure_images(system.images())
    c = DockerCluster(plan, system, images, tmp_path, docker_client())
    try:
        c.start()
        assert wait_healthy(c, 60) == {}
        yield c
    finally:
        remove_labelled(docker_client(), run_id)


PROBE = (
    "import socket,sys\n"
    "try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()\n"
    "except OSError as e:\n    print(type(e).__name__, e); sys.exit(1)\n"
)


def probe(c: DockerCluster, node: str, host: str, port: int) -> tuple[int, str]:
    code, out = c.container(node).exec_run(["python3", "-c", PROBE, host, str(port)])
    assert isinstance(out, bytes) and code is not None
    return code, out.decode()


@pytest.mark.slow
def test_nodes_reach_each_other_only_through_toxiproxy(cluster: DockerCluster) -> None:
    n2 = cluster.container("n2")
    n2.reload()
    n2_ip = next(iter(n2.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    assert probe(cluster, "n1", "n2", 9092)[0] != 0  # not even resolvable
    code, out = probe(cluster, "n1", n2_ip, 9092)
    assert code != 0, f"n1 reached n2's real address {n2_ip} directly: {out}"
    assert probe(cluster, "n1", "controller", 9093)[0] != 0
    port = cluster.plan.proxy("n1-n2").listen_port
    assert probe(cluster, "n1", "toxiproxy", port) == (0, "")
    # cutting n1 → n2 leaves n2 → n1 open
    cluster.toxiproxy.disable("n1-n2")
    assert probe(cluster, "n1", "toxiproxy", port)[0] != 0
    assert probe(cluster, "n2", "toxiproxy", cluster.plan.proxy("n2-n1").listen_port)[0] == 0
    cluster.toxiproxy.enable("n1-n2")
    # the harness's client and admin paths are published on 127.0.0.1
    for name in ("client-n1", "admin-n3"):
        host, _, _port = cluster.endpoint(name).partition(":")
        assert host == "127.0.0.1"
        with ReplogClient(cluster.endpoint(name), timeout=5) as rc:
            assert set(rc.metadata()["partitions"]) == {"0", "1"}


PHASES = {
    "setup": {},
    "load": {},
    "final-read": {"FLOODMARK_TEST_PAUSE": "final-read=60"},
}


@pytest.mark.slow
@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_at_any_moment_tears_everything_down(
    tmp_path: Path, phase: str, sig: signal.Signals
) -> None:
    proc = floodmark(["run", "--time-limit", "4" if phase == "final-read" else "60"], tmp_path,
                     env=PHASES[phase])  # fmt: skip
    try:
        run_id = run_id_of(tmp_path)
        d = run_dir(tmp_path)
        assert d is not None
        history = d / "history.jsonl"
        if phase == "setup":
            wait_for("a container", lambda: leftovers(run_id)["containers"], 60, proc)
        elif phase == "load":
            wait_for("client ops", lambda: client_ops(history) >= 100, 60, proc)
        else:
            wait_for("a final read", lambda: b'"final-read"' in read_if_there(history), 90, proc)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, out
    assert leftovers(run_id) == {"containers": [], "networks": [], "volumes": []}, out
    test = json.loads((d / "test.json").read_text())
    assert test["outcome"] == {"status": "interrupted", "signal": sig.name}
    ops, _ = read_history(history)
    if phase == "setup":
        assert not [op for op in ops if op.is_client], "the signal was meant to land in setup"
    if phase == "final-read":
        assert [op for op in ops if op.f == "final-read" and op.type == "invoke"]
        assert (d / "logs" / "n1.log").stat().st_size > 0  # logs collected before removal


@pytest.mark.slow
def test_kill_9_leaves_a_parseable_history_and_clean_removes_the_rest(tmp_path: Path) -> None:
    proc = floodmark(["run", "--time-limit", "120"], tmp_path)
    try:
        run_id = run_id_of(tmp_path)
        d = run_dir(tmp_path)
        assert d is not None
        wait_for("client ops", lambda: client_ops(d / "history.jsonl") >= 300, 90, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        ops, stats = read_history(d / "history.jsonl")  # at most a torn last line
        assert len(ops) >= 300 and stats.lines - len(ops) <= 1
        left = leftovers(run_id)
        assert left["containers"] and left["networks"] and left["volumes"]
    finally:
        clean = subprocess.run(
            [sys.executable, "-m", "harness.cli", "clean", "--run", run_id],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    assert leftovers(run_id) == {"containers": [], "networks": [], "volumes": []}
