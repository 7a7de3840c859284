"""Apache Kafka as the system under test (issue 8), with real Docker and Toxiproxy.

- every directed link (broker → broker replication, broker → controller) goes through its
  own proxy although each broker advertises one address per listener: disabling one
  proxy breaks exactly that link;
- the client acks sends with offsets, polls and final reads see them, and the replica
  dumps read from each broker's files agree with them;
- ``floodmark run --system kafka`` end to end: ok sends and polls, final reads, dumps;
- every fault package acts on Kafka and verifies it did (FUSE layer under Kafka's data
  directory with its mmap'd indexes, blkio throttle on the Kafka volume, libfaketime
  under the JVM, ...);
- Kafka's default (no fsync, durability by replication) loses acknowledged writes when
  every broker loses power at once, and floodmark reports them as ``lost-write``;
- a second release's image (issue 12), built once and cached, and a distribution directory
  made of its jars (``--kafka-dist``) run as the system under test, keyed by content.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from compose.docker_cluster import DockerCluster, docker_client
from compose.images import ensure_images
from compose.kafka.image import release_name
from compose.kafka.releases import DEFAULT_VERSION, logging_of, supported
from compose.resources import remove_labelled
from harness.contract.history import OpType, Phase
from harness.contract.plan import ClusterSpec
from harness.contract.reader import read_history
from harness.monitor import wait_healthy
from harness.systems.kafka import KafkaSystem
from tests.integration.verdicts import assert_safe_run

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

REPO = Path(__file__).resolve().parents[2]

PROBE = (
    "import socket,sys\n"
    "try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()\n"
    "except OSError as e:\n    print(type(e).__name__, e); sys.exit(1)\n"
)


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerCluster]:
    system = KafkaSystem()
    run_id = f"test-kafka-{os.getpid()}"
    plan = system.render(ClusterSpec(run_id, 3, 2, 3, "safe"))
    images = ensure_images(system.images())
    c = DockerCluster(plan, system, images, tmp_path_factory.mktemp("kafka"), docker_client())
    try:
        c.start()
        assert wait_healthy(c, 120) == {}
        yield c
    finally:
        remove_labelled(docker_client(), run_id)


def reaches(c: DockerCluster, src: str, host: str, port: int) -> bool:
    code, out = c.container(src).exec_run(["python3", "-c", PROBE, host, str(port)])
    assert isinstance(out, bytes)
    return code == 0


@pytest.mark.slow
def test_every_link_goes_through_its_own_proxy(kafka: DockerCluster) -> None:
    plan = kafka.plan
    peer_links = [(a, b) for a in plan.brokers for b in plan.brokers if a != b]
    links = [*peer_links, *((b, "controller") for b in plan.brokers)]
    port = {(a, b): plan.proxy(f"{a}-{b}").listen_port for a, b in links}
    assert all(reaches(kafka, a, b, port[(a, b)]) for a, b in links)
    for cut in links:
        kafka.toxiproxy.disable(f"{cut[0]}-{cut[1]}")
        try:
            assert not reaches(kafka, cut[0], cut[1], port[cut]), f"{cut} still open"
            # its reverse and the cut node's other links stay open
            others = [lk for lk in links if lk != cut and (cut[0] in lk or cut[1] in lk)]
            closed = [lk for lk in others if not reaches(kafka, lk[0], lk[1], port[lk])]
            assert closed == [], f"cutting {cut} also cut {closed}"
        finally:
            kafka.toxiproxy.enable(f"{cut[0]}-{cut[1]}")


@pytest.mark.slow
def test_client_ops_agree_with_replica_dumps(kafka: DockerCluster) -> None:
    system = kafka.system
    client = system.client(kafka, 0)
    client.open()
    try:
        acked: dict[int, list[list[int]]] = {0: [], 1: []}
        for v in range(30):
            r = client.invoke("send", {"key": v % 2, "value": 1000 + v})
            assert r.type is OpType.OK, r
            acked[v % 2].append([r.value["offset"], 1000 + v])
        for key in (0, 1):
            base = acked[key][0][0]
            poll = client.invoke("poll", {"key": key, "from": base})
            assert poll.type is OpType.OK, poll
            assert poll.value["records"][: len(acked[key])] == acked[key]
            assert poll.value["hw"] >= acked[key][-1][0] + 1
            final = client.invoke("final-read", {"key": key})
            assert final.type is OpType.OK and final.value["complete"], final
            tail = final.value["records"][-len(acked[key]) :]
            assert tail == acked[key]
            for dump in (d for d in system.dump_replicas(kafka) if d["key"] == key):
                assert dump["records"] == final.value["records"], dump["node"]
                assert dump["hw"] == dump["leo"] == final.value["hw"]
        states = system.replica_states(kafka)
        assert {s["role"] for s in states} == {"leader", "follower"}
        assert all(s["hw"] <= s["leo"] for s in states)
    finally:
        client.close()


def floodmark_run(store: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``floodmark run --system kafka ... --quiet`` into ``store``; (process, run dir)."""
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--system", "kafka", "--store", str(store),
         "--quiet", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=400,
    )  # fmt: skip
    d = (store / "latest").resolve()
    assert (d / "test.json").exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, d


@pytest.mark.slow
def test_floodmark_run_kafka_end_to_end(tmp_path: Path) -> None:
    # The default schedule (no --nemesis), triggers included, on Kafka's own monitor
    # samples. Profile fsync: the schedule's power losses of every broker lose acked
    # writes for real under Kafka's default of never fsyncing (the test below shows it).
    proc, d = floodmark_run(
        tmp_path, "--profile", "fsync", "--time-limit", "15", "--keys", "3", "--seed", "8"
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ops, _ = read_history(d / "history.jsonl")
    count = Counter((op.f, op.type.value) for op in ops)
    assert count[("send", "ok")] >= 100 and count[("poll", "ok")] >= 10, count
    finals = [op for op in ops if op.f == "final-read" and op.type is OpType.OK]
    assert sorted(op.value["key"] for op in finals) == [0, 1, 2]
    assert all(op.value["complete"] for op in finals)
    dumps = {(op.value["key"], op.value["node"]) for op in ops if op.f == "replica-dump"}
    assert dumps == {(k, n) for k in range(3) for n in ("n1", "n2", "n3")}
    results = json.loads((d / "results.json").read_text())
    assert results["valid"] is True


EVERY_FAULT = ("partition", "link", "kill", "pause", "slow-disk", "lose-unfsynced", "clock")


@pytest.mark.slow
def test_every_fault_package_acts_on_kafka_and_verifies_it(tmp_path: Path) -> None:
    # Seven packages at once: an action whose target is down (killed, paused) is skipped,
    # so kills, pauses and power losses hit one named node at a time (a key may have no
    # leader while another fault acts), and each package gets
    # about six starts to be verified at least once.
    # Profile fsync: with Kafka's default (no fsync) two power losses a few seconds apart
    # can lose acked writes for real (a replica that lost its page cache rejoins, leads,
    # the others truncate to it); an fsync per message keeps every ack on disk.
    proc, d = floodmark_run(
        tmp_path, "--profile", "fsync", "--time-limit", "40", "--keys", "2", "--seed", "3",
        "--nemesis", ",".join(EVERY_FAULT), "--nemesis-interval", "3",
        "--nemesis-option", "kill_targets=one",
        "--nemesis-option", "pause_targets=one,controller",
        "--nemesis-option", "lose_unfsynced_targets=one",
    )  # fmt: skip
    out = proc.stdout[-3000:] + proc.stderr[-3000:]
    ops, _ = read_history(d / "history.jsonl")
    nemesis = [op for op in ops if op.process == "nemesis" and isinstance(op.value, dict)]
    unverified = [(op.f, op.value.get("why")) for op in nemesis if op.value["verified"] is False]
    assert unverified == [], unverified
    took_effect = {
        f.package
        for op in nemesis
        if op.value["verified"] is True and (f := op.fault) is not None and f.phase is Phase.START
    }
    assert set(EVERY_FAULT) <= took_effect, (sorted(took_effect), out)
    # The fsync profile keeps every acknowledged write through these.
    verdict = assert_safe_run(d, "kafka, fsync profile, every fault package")
    assert proc.returncode == {"valid": 0, "unknown": 2}[verdict], out
    assert (d / "report.html").stat().st_size > 0, out


@pytest.mark.slow
def test_power_loss_of_every_broker_loses_acknowledged_writes(tmp_path: Path) -> None:
    """No fsync (Kafka's default) and all brokers crash with their page cache: the acked
    writes were only in memory everywhere, so floodmark must report them lost."""
    proc, d = floodmark_run(
        tmp_path, "--profile", "safe", "--time-limit", "20", "--keys", "1", "--seed", "5",
        "--nemesis", "lose-unfsynced", "--nemesis-option", "lose_unfsynced_targets=all",
        "--nemesis-interval", "10",
    )  # fmt: skip
    out = proc.stdout[-3000:] + proc.stderr[-3000:]
    ops, _ = read_history(d / "history.jsonl")
    crashes = [op for op in ops if op.f == "start-lose-unfsynced" and op.value["verified"]]
    assert crashes and sorted(crashes[0].value["killed"]) == ["n1", "n2", "n3"], out
    results = json.loads((d / "results.json").read_text())
    assert results["checkers"]["lost-write"]["count"] > 0, out
    assert results["valid"] is False and proc.returncode == 1, out


OTHER_RELEASE = next(
    r.version for r in supported() if logging_of(r.version) != logging_of(DEFAULT_VERSION)
)
"""A release of the other major line than the default (3.x vs 4.x: the other logging
backend): its image is built once, then cached like every image."""


def distribution_from(image: str, dest: Path) -> Path:
    """``dest/libs/*.jar`` copied out of an image, as a user's unpacked distribution."""
    run_id = f"test-kafka-dist-{os.getpid()}"
    client = docker_client()
    container = client.containers.create(image, labels={"floodmark.run": run_id})
    try:
        stream, _ = container.get_archive("/opt/kafka/libs")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            tar.extractall(dest, filter="data")
    finally:
        container.remove(force=True)
    return dest


@pytest.mark.slow
def test_a_distribution_directory_of_another_release_runs_end_to_end(tmp_path: Path) -> None:
    name = release_name(OTHER_RELEASE)
    tag = ensure_images([name])[name]
    dist = distribution_from(tag, tmp_path / "my-kafka")
    assert (dist / "libs" / f"kafka_2.13-{OTHER_RELEASE}.jar").is_file()
    proc, d = floodmark_run(
        tmp_path / "store", "--kafka-dist", str(dist), "--time-limit", "10", "--keys", "1",
        "--seed", "4", "--nemesis", "none",
    )  # fmt: skip
    out = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, out
    test = json.loads((d / "test.json").read_text())
    assert test["config"]["settings"] == {"kafka.dist": str(dist)}
    images = test["versions"]["images"]
    assert images[f"kafka-dist@{dist / 'libs'}"].startswith("floodmark/kafka:dist-"), images
    assert f"Kafka version: {OTHER_RELEASE}" in (d / "logs" / "n1.log").read_text()
