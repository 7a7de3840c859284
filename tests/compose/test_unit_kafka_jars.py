"""compose.kafka.jars: Maven on the host (faked subprocess) or in a container (fake engine)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import docker
import pytest

from compose import images
from compose.kafka import image, jars, releases
from tests.compose.fakes import FakeContainer, FakeEngine, FakeLog

JAR = f"kafka_2.13-{jars.KAFKA_VERSION}.jar"


@pytest.fixture
def context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "pom.xml").write_text("<project/>\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return ctx


def put_jars(libs: Path, names: list[str]) -> None:
    libs.mkdir(exist_ok=True)
    for n in names:
        (libs / n).write_bytes(b"PK")


MVN_ARGS = [
    "-B",
    "-q",
    "-f",
    "pom.xml",
    f"-Dkafka.version={jars.KAFKA_VERSION}",
    "-Dkafka.scala=2.13",
    "-P",
    ",".join(releases.default_release().profiles),
    "dependency:copy-dependencies",
    "-DoutputDirectory=libs",
]


def test_the_kafka_spec_resolves_the_default_release_before_its_build() -> None:
    spec = images.IMAGES["kafka"]
    assert spec is image.SPEC and spec.base == "base"
    assert isinstance(spec.prepare, functools.partial)
    assert spec.prepare.func is jars.resolve_jars
    assert spec.prepare.keywords == {"release": releases.default_release()}
    assert spec.context["pom.xml"] == "compose/kafka/pom.xml"
    assert spec.recipe["kafka"] == jars.KAFKA_VERSION == releases.DEFAULT_VERSION
    pom = (images.ROOT / "compose/kafka/pom.xml").read_text()
    assert "<artifactId>kafka_${kafka.scala}</artifactId>" in pom
    assert all(f"<id>{b.value}</id>" in pom for b in releases.Logging)
    assert all(f"<id>{p}</id>" in pom for r in releases.RELEASES for p in r.profiles)


def test_a_context_without_pom_is_refused(tmp_path: Path) -> None:
    with pytest.raises(jars.JarResolutionError, match="expected the Kafka pom at"):
        jars.resolve_jars(tmp_path, FakeLog())


def test_host_maven_fills_libs(context: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/mvn" if name == "mvn" else None)
    seen: list[dict[str, Any]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append({"argv": argv, **kwargs})
        put_jars(context / "libs", [JAR, "kafka-clients-3.9.2.jar"])
        return subprocess.CompletedProcess(argv, 0, "[INFO] copied\n", "")

    monkeypatch.setattr(subprocess, "run", run)
    log = FakeLog()
    jars.resolve_jars(context, log)
    (call,) = seen
    assert call["argv"] == ["/usr/bin/mvn", *MVN_ARGS]
    assert call["cwd"] == context and call["check"] is False
    assert log.statuses == [f"resolving Kafka {jars.KAFKA_VERSION} jars from Maven Central"]
    assert log.lines == ["[INFO] copied", f"resolved 2 jars into {context / 'libs'}"]


def test_host_maven_failure_says_what_and_shows_the_tail(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/mvn")
    out = "".join(f"[ERROR] line {i}\n" for i in range(20))

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, out, "Could not transfer artifact\n")

    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(jars.JarResolutionError) as info:
        jars.resolve_jars(context, FakeLog())
    msg = str(info.value)
    assert msg.startswith("/usr/bin/mvn " + " ".join(MVN_ARGS))
    assert f"exited 1 and left 0 jars (expected {JAR} among them)" in msg
    assert "[ERROR] line 6\n" in msg and "[ERROR] line 5\n" not in msg
    assert msg.endswith("Could not transfer artifact")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    e = FakeEngine()
    monkeypatch.setattr(docker, "from_env", e.from_env)
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no mvn on this host
    return e


@pytest.mark.parametrize("trust_store", [True, False])
def test_without_host_maven_it_runs_in_a_labelled_container(
    context: Path,
    fake: FakeEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trust_store: bool,
) -> None:
    store = tmp_path / "cacerts"
    if trust_store:
        store.write_bytes(b"JKS")
    monkeypatch.setattr(jars, "HOST_TRUST_STORE", str(store))

    runs: list[FakeContainer] = []

    def maven(c: FakeContainer) -> None:
        runs.append(c)
        ctx = next(h for h, b in c.kwargs["volumes"].items() if b["bind"] == "/ctx")
        put_jars(Path(ctx) / "libs", [JAR])
        c.log_bytes = b"Reading package lists...\n[INFO] BUILD SUCCESS\n"

    fake.on_run.append(maven)
    log = FakeLog()
    jars.resolve_jars(context, log)
    (c,) = runs
    assert fake.containers == {}
    assert c.image == jars.MAVEN_IMAGE == "debian:bookworm-slim"
    assert c.labels == {"floodmark.run": "image-build-kafka-jars"}
    sh, dash_c, script = c.kwargs["command"]
    assert (sh, dash_c) == ("sh", "-c")
    assert "apt-get install" in script and "maven" in script
    assert "cd /ctx; mvn " + " ".join(MVN_ARGS) + "; chown" in script
    assert script.endswith(f"chown -R {os.getuid()}:{os.getgid()} /ctx/libs")
    m2 = tmp_path / "home" / ".m2"
    expected = {
        str(context.resolve()): {"bind": "/ctx", "mode": "rw"},
        str(m2.resolve()): {"bind": "/root/.m2", "mode": "rw"},
    }
    if trust_store:
        expected[str(store)] = {"bind": "/run/host-cacerts", "mode": "ro"}
    assert c.kwargs["volumes"] == expected and m2.is_dir()
    env = {"MAVEN_OPTS": "-Djavax.net.ssl.trustStore=/run/host-cacerts"} if trust_store else {}
    assert c.kwargs["environment"] == env and c.kwargs["detach"] is True
    assert c.calls == ["start", "wait", "logs", "remove force=True"]
    assert log.lines[0].startswith("no `mvn` on this host: running Maven in a container")
    assert "[INFO] BUILD SUCCESS" in log.lines and log.lines[-1].startswith("resolved 1 jars")


def test_a_failed_container_run_names_it_and_is_removed(context: Path, fake: FakeEngine) -> None:
    def broken(c: FakeContainer) -> None:
        c.exit_code = 100
        c.log_bytes = b"E: Unable to locate package maven\n"

    fake.on_run.append(broken)
    with pytest.raises(jars.JarResolutionError) as info:
        jars.resolve_jars(context, FakeLog())
    assert str(info.value).startswith("mvn in a debian:bookworm-slim container exited 100")
    assert str(info.value).endswith("E: Unable to locate package maven")
    assert fake.containers == {}


def test_the_container_is_removed_even_when_waiting_fails(context: Path, fake: FakeEngine) -> None:
    runs: list[FakeContainer] = []

    def interrupted(c: FakeContainer) -> None:
        c.wait_error = docker.errors.APIError("500 Server Error", explanation="daemon gone")
        runs.append(c)

    fake.on_run.append(interrupted)
    with pytest.raises(docker.errors.APIError):
        jars.resolve_jars(context, FakeLog())
    assert runs[0].calls == ["start", "wait", "remove force=True"] and fake.containers == {}


def host_maven(
    context: Path, monkeypatch: pytest.MonkeyPatch, leaves: list[str]
) -> list[list[str]]:
    """Host ``mvn`` faked: each run leaves the jars ``leaves`` in libs/; returns the argvs."""
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/mvn")
    seen: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        put_jars(context / "libs", leaves)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    return seen


def test_another_release_is_resolved_with_its_own_version_and_binding(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = host_maven(context, monkeypatch, [JAR])  # the default's broker jar, not 3.8.1's
    with pytest.raises(jars.JarResolutionError, match=r"expected kafka_2\.13-3\.8\.1\.jar among"):
        jars.resolve_jars(context, FakeLog(), release=releases.release("3.8.1"))
    assert "-Dkafka.version=3.8.1" in seen[0] and seen[0][seen[0].index("-P") + 1] == "log4j1"


def test_a_zookeeper_era_release_is_resolved_with_its_pom_binding_and_jaxb(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = releases.release("0.10.2.2")
    seen = host_maven(context, monkeypatch, [r.jar, "zookeeper-3.4.9.jar", "jaxb-api-2.3.1.jar"])
    jars.resolve_jars(context, FakeLog(), release=r)
    (argv,) = seen
    assert "-Dkafka.version=0.10.2.2" in argv and "-Dkafka.scala=2.11" in argv
    assert argv[argv.index("-P") + 1] == "bundled,jaxb"
    spec = image.release_spec(r)
    assert spec.recipe["profiles"] == "bundled,jaxb"
    assert spec.context["start-zookeeper.sh"] == "compose/kafka/start-zookeeper.sh"
