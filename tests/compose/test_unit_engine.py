"""compose.engine against a fake engine: connect, inspect, pull, build events, run_logged."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import docker
import docker.errors
import pytest
import requests.exceptions

from compose import engine
from compose.spec import BuildJob, ImageSpec
from tests.compose.fakes import FakeEngine, FakeLog, api_error

SPEC = ImageSpec(
    "app",
    "floodmark/app",
    {"Dockerfile": "compose/replog/Dockerfile"},
    build_args={"VERSION": "1.0"},
)
DOCKERFILE = "FROM debian:bookworm-slim\n# a comment\nRUN apt-get update\nCOPY app /app\n"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    e = FakeEngine()
    monkeypatch.setattr(docker, "from_env", e.from_env)
    monkeypatch.delenv("FLOODMARK_NO_PULL", raising=False)
    return e


def job(tmp_path: Path, log: FakeLog, *, nocache: bool = False) -> BuildJob:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    tags = ("floodmark/app:0123456789ab", "floodmark/app:latest")
    labels = {"floodmark.image": "app", "floodmark.inputs": "h" * 64}
    return BuildJob(SPEC, ctx, tags, labels, log, nocache)


# -- connect ----------------------------------------------------------------------------


def test_connect_pings_with_the_build_timeout(fake: FakeEngine) -> None:
    api = engine.connect()
    assert api.ping()
    assert fake.clients[0].timeout == engine.BUILD_TIMEOUT_S
    assert fake.calls == [("ping",), ("ping",)]


@pytest.mark.parametrize(
    "error",
    [
        docker.errors.DockerException("Error while fetching server API version"),
        requests.exceptions.ConnectionError("Connection refused"),
    ],
)
def test_connect_without_an_engine_says_to_run_make_docker(
    fake: FakeEngine, error: Exception
) -> None:
    if isinstance(error, docker.errors.DockerException):
        fake.from_env_error = error
    else:
        fake.ping_error = error
    with pytest.raises(engine.DockerUnavailable, match=r"no Docker engine answers.*make docker"):
        engine.connect()


# -- inspect, labels, tag ---------------------------------------------------------------


def test_inspect_gives_the_data_or_none(fake: FakeEngine) -> None:
    image_id = fake.add_image("floodmark/app:1", {"floodmark.image": "app"})
    found = engine.inspect(fake.api, "floodmark/app:1")
    assert found is not None and found["Id"] == image_id
    assert engine.labels_of(found) == {"floodmark.image": "app"}
    assert engine.inspect(fake.api, "floodmark/app:2") is None


def test_labels_of_an_image_without_config_or_labels() -> None:
    assert engine.labels_of({"Id": "x"}) == {}
    assert engine.labels_of({"Config": {"Labels": None}}) == {}


def test_tag_splits_the_reference_and_forces(fake: FakeEngine) -> None:
    engine.tag(fake.api, "sha256:abc", "localhost:5000/x/app:latest")
    assert fake.calls == [("tag", "sha256:abc", "localhost:5000/x/app:latest", True)]


# -- try_pull ---------------------------------------------------------------------------


def test_pull_logs_status_lines_but_not_progress(fake: FakeEngine) -> None:
    fake.registry["debian:bookworm-slim"] = {"Labels": {}}
    log = FakeLog()
    assert engine.try_pull("debian:bookworm-slim", log)
    assert fake.clients[0].timeout == engine.PULL_TIMEOUT_S
    assert fake.calls_named("pull") == [("pull", "debian:bookworm-slim", True, True)]
    assert log.statuses == ["pulling debian:bookworm-slim"]
    assert "pull debian:bookworm-slim: Pulling fs layer" in log.lines
    assert not any("Downloading" in line for line in log.lines)
    assert "debian:bookworm-slim" in fake.tags


def test_no_pull_env_skips_the_registry(fake: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOODMARK_NO_PULL", "1")
    log = FakeLog()
    assert not engine.try_pull("debian:bookworm-slim", log)
    assert fake.calls == [] and fake.clients == []
    assert log.lines == ["FLOODMARK_NO_PULL is set: not pulling debian:bookworm-slim"]


def test_pull_error_event_is_a_refusal(fake: FakeEngine) -> None:
    fake.registry["ghcr.io/x/t:1"] = {}
    fake.pull_events["ghcr.io/x/t:1"] = [
        {"status": "Pulling from x/t", "id": "1"},
        {"errorDetail": {"message": "unauthorized"}, "error": "unauthorized"},
    ]
    log = FakeLog()
    assert not engine.try_pull("ghcr.io/x/t:1", log)
    assert log.lines == ["pull ghcr.io/x/t:1: Pulling from x/t", "pull ghcr.io/x/t:1: unauthorized"]


def test_unreachable_registry_is_a_refusal(fake: FakeEngine) -> None:
    fake.pull_error = api_error("Get https://registry-1.docker.io/v2/: dial tcp: no such host")
    log = FakeLog()
    assert not engine.try_pull("debian:bookworm-slim", log)
    assert log.lines[-1].startswith("pull debian:bookworm-slim failed: ")
    assert "no such host" in log.lines[-1]


def test_a_pull_that_leaves_no_image_is_a_refusal(fake: FakeEngine) -> None:
    fake.registry["debian:bookworm-slim"] = {}
    fake.pull_events["debian:bookworm-slim"] = [{"status": "Digest: sha256:00"}]
    assert not engine.try_pull("debian:bookworm-slim", FakeLog())


# -- build_dockerfile -------------------------------------------------------------------


def test_build_passes_the_job_and_tags_the_rest(fake: FakeEngine, tmp_path: Path) -> None:
    log = FakeLog()
    j = job(tmp_path, log, nocache=True)
    image_id = engine.build_dockerfile(fake.api, j)
    (build,) = fake.builds
    assert build.kwargs == {
        "path": str(j.context_dir),
        "dockerfile": "Dockerfile",
        "tag": "floodmark/app:0123456789ab",
        "labels": dict(j.labels),
        "buildargs": {"VERSION": "1.0"},
        "rm": True,
        "forcerm": True,
        "pull": False,
        "nocache": True,
        "decode": True,
    }
    assert fake.images[image_id] == dict(j.labels)
    assert fake.tags["floodmark/app:latest"] == image_id
    assert log.statuses == [
        "Step 1/3 : FROM debian:bookworm-slim",
        "Step 2/3 : RUN apt-get update",
        "Step 3/3 : COPY app /app",
    ]
    assert "" not in log.lines and log.lines[-1] == "Successfully tagged floodmark/app:0123456789ab"


def test_a_failed_build_names_its_step_and_hint(fake: FakeEngine, tmp_path: Path) -> None:
    fake.fail_build_at = (2, "The command '/bin/sh -c apt-get update' returned a non-zero code")
    log = FakeLog()
    with pytest.raises(engine.StepFailed) as info:
        engine.build_dockerfile(fake.api, job(tmp_path, log))
    e = info.value
    assert e.step == "Step 2/3 : RUN apt-get update"
    assert "could not reach Debian's mirror" in e.hint
    assert "apt-get update" in e.detail
    assert str(e).startswith("Step 2/3 : RUN apt-get update: The command")
    assert log.lines[-1] == e.detail
    assert "floodmark/app:0123456789ab" not in fake.tags


@pytest.mark.parametrize(
    ("detail", "hint"),
    [
        ("pull access denied for floodmark/base", "build its base first"),
        ("manifest for x not found", "build its base first"),
        ("COPY failed: no source files", "see the image's log"),
    ],
)
def test_build_hints(fake: FakeEngine, tmp_path: Path, detail: str, hint: str) -> None:
    fake.fail_build_at = (1, detail)
    with pytest.raises(engine.StepFailed, match=hint) as info:
        engine.build_dockerfile(fake.api, job(tmp_path, FakeLog()))
    assert info.value.step == "Step 1/3 : FROM debian:bookworm-slim"


def test_a_failure_before_any_step_is_the_context_upload(fake: FakeEngine, tmp_path: Path) -> None:
    j = job(tmp_path, FakeLog())
    (j.context_dir / "Dockerfile").unlink()
    with pytest.raises(engine.StepFailed) as info:
        engine.build_dockerfile(fake.api, j)
    assert info.value.step == "sending the build context"


def test_without_an_aux_id_the_tag_is_inspected(fake: FakeEngine, tmp_path: Path) -> None:
    fake.build_emits_aux = False
    image_id = engine.build_dockerfile(fake.api, job(tmp_path, FakeLog()))
    assert fake.tags["floodmark/app:0123456789ab"] == image_id
    assert ("inspect_image", "floodmark/app:0123456789ab") in fake.calls


def test_a_build_that_tags_nothing_fails(
    fake: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def empty(**kwargs: Any) -> Iterator[dict[str, Any]]:
        return iter([{"stream": "Step 1/1 : FROM scratch\n"}])

    api = fake.api
    monkeypatch.setattr(api, "build", empty)
    with pytest.raises(engine.StepFailed, match="ended without an image tagged") as info:
        engine.build_dockerfile(api, job(tmp_path, FakeLog()))
    assert info.value.step == "Step 1/1 : FROM scratch"


def test_wrap_upstream_is_a_one_line_build(fake: FakeEngine, tmp_path: Path) -> None:
    log = FakeLog()
    j = job(tmp_path, log)
    image_id = engine.wrap_upstream(fake.api, j, "ghcr.io/shopify/toxiproxy:2.12.0")
    (build,) = fake.builds
    assert build.kwargs["dockerfile"] == "Dockerfile.wrap"
    assert build.files == {"Dockerfile.wrap": "FROM ghcr.io/shopify/toxiproxy:2.12.0\n"}
    assert build.kwargs["path"] != str(j.context_dir)
    assert not Path(build.kwargs["path"]).exists()  # the temporary context is gone
    assert fake.tags["floodmark/app:latest"] == image_id
    assert build.kwargs["labels"] == dict(j.labels)


# -- run_logged -------------------------------------------------------------------------


class FakePopen:
    """`subprocess.Popen` of a scripted tool: its output lines and exit status."""

    script: ClassVar[tuple[list[str], int]] = ([], 0)
    started: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, argv: Sequence[str], **kwargs: Any) -> None:
        FakePopen.started.append({"argv": list(argv), **kwargs})
        lines, self._code = FakePopen.script
        self.stdout: Iterator[str] | None = iter(line + "\n" for line in lines)
        self.returncode: int | None = None

    def __enter__(self) -> FakePopen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.returncode = self._code


@pytest.fixture
def popen(monkeypatch: pytest.MonkeyPatch) -> type[FakePopen]:
    FakePopen.started = []
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    return FakePopen


def test_run_logged_logs_every_line_and_turns_some_into_status(
    popen: type[FakePopen], tmp_path: Path
) -> None:
    popen.script = (["I: Retrieving libc6", "plain", "I: Validating libc6"], 0)
    log = FakeLog()

    def status(line: str) -> str | None:
        return line[3:].split()[0] if line.startswith("I: ") else None

    engine.run_logged(
        ["debootstrap", tmp_path / "rootfs"], log, step="debootstrap", env={"A": "1"}, status=status
    )
    (run,) = popen.started
    assert run["argv"] == ["debootstrap", str(tmp_path / "rootfs")]
    assert run["env"] == {"A": "1"}
    assert run["stdout"] is subprocess.PIPE and run["stderr"] is subprocess.STDOUT
    assert log.events == [
        ("status", "debootstrap"),
        ("line", "I: Retrieving libc6"),
        ("status", "debootstrap: Retrieving"),
        ("line", "plain"),
        ("line", "I: Validating libc6"),
        ("status", "debootstrap: Validating"),
    ]


def test_run_logged_inherits_the_environment_by_default(popen: type[FakePopen]) -> None:
    popen.script = ([], 0)
    engine.run_logged(["true"], FakeLog(), step="t")
    assert popen.started[0]["env"] is None


def test_run_logged_nonzero_exit_is_a_failed_step(popen: type[FakePopen]) -> None:
    popen.script = (["E: no such suite"], 1)
    with pytest.raises(engine.StepFailed) as info:
        engine.run_logged(["tar", "-cf", "x"], FakeLog(), step="tar it", hint="look")
    assert (info.value.step, info.value.detail, info.value.hint) == (
        "tar it",
        "tar exited with status 1",
        "look",
    )


def test_run_logged_missing_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(argv: Sequence[str], **kwargs: Any) -> None:
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    monkeypatch.setattr(subprocess, "Popen", missing)
    with pytest.raises(engine.StepFailed, match=r"go install: cannot run go: .*No such file"):
        engine.run_logged(["go", "install"], FakeLog(), step="go install")


# -- FileLog ----------------------------------------------------------------------------


def test_file_log_keeps_everything_and_the_tail(tmp_path: Path) -> None:
    seen: list[str] = []
    log = engine.FileLog(tmp_path / "deep" / "app.log", seen.append)
    for i in range(30):
        log.line(f"line {i}")
    log.status("Step 2/3 : RUN x")
    log.close()
    text = (tmp_path / "deep" / "app.log").read_text()
    assert text.startswith("line 0\n") and text.endswith("line 29\n== Step 2/3 : RUN x\n")
    assert log.tail() == [f"line {i}" for i in range(5, 30)]
    assert seen == ["Step 2/3 : RUN x"]
