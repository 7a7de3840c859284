"""The Docker engine seen from the image builder: connect, inspect, pull, build, import, tag,
and the logging/progress plumbing every build step reports through.

Everything here talks to the daemon with the docker SDK's low-level `APIClient` (it
streams build output as JSON events, so a failure names the Dockerfile step it happened
in) and to host tools (debootstrap, go, tar) through `run_logged`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import docker
import docker.errors
import requests.exceptions

from compose.spec import BuildJob, BuildLog

BUILD_TIMEOUT_S = 1800
"""Socket timeout for build requests (one read; builds stream output as they go)."""
PULL_TIMEOUT_S = 30
"""Socket timeout for pulls: where no registry answers, give up quickly."""


class DockerUnavailable(RuntimeError):
    """No Docker engine answers."""


class StepFailed(RuntimeError):
    """A build step failed: which step, what happened, and what to do about it."""

    def __init__(self, step: str, detail: str, hint: str = "") -> None:
        super().__init__(f"{step}: {detail}" + (f" ({hint})" if hint else ""))
        self.step = step
        self.detail = detail
        self.hint = hint


def connect(timeout: int = BUILD_TIMEOUT_S) -> docker.APIClient:
    """An API client for the engine named by the environment (DOCKER_HOST or the socket)."""
    try:
        api = docker.from_env(timeout=timeout).api
        api.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise DockerUnavailable(
            f"no Docker engine answers ({e}); start one with `make docker` "
            "(scripts/ensure-docker.sh installs Debian's docker.io and starts dockerd when "
            "run as root), or point DOCKER_HOST at a running engine"
        ) from e
    return api


def inspect(api: docker.APIClient, ref: str) -> dict[str, Any] | None:
    """The image's inspect data, or None when no image has that reference."""
    try:
        data: dict[str, Any] = api.inspect_image(ref)  # type: ignore[no-untyped-call]
    except docker.errors.ImageNotFound:
        return None
    return data


def labels_of(image: Mapping[str, Any]) -> dict[str, str]:
    config = image.get("Config") or {}
    return dict(config.get("Labels") or {})


def split_ref(ref: str) -> tuple[str, str]:
    """``"ghcr.io/a/b:1.2"`` -> ``("ghcr.io/a/b", "1.2")``; no tag means ``latest``."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


def tag(api: docker.APIClient, image_id: str, ref: str) -> None:
    repo, t = split_ref(ref)
    api.tag(image_id, repo, t, force=True)


def try_pull(ref: str, log: BuildLog) -> bool:
    """Pull ``ref``; False (and the reason in the log) when no registry gives it to us.

    ``FLOODMARK_NO_PULL=1`` skips the attempt (machines known to be offline)."""
    if os.environ.get("FLOODMARK_NO_PULL", "") not in ("", "0"):
        log.line(f"FLOODMARK_NO_PULL is set: not pulling {ref}")
        return False
    log.status(f"pulling {ref}")
    repo, t = split_ref(ref)
    try:
        api = docker.from_env(timeout=PULL_TIMEOUT_S).api
        for event in api.pull(repo, tag=t, stream=True, decode=True):
            if "error" in event:
                log.line(f"pull {ref}: {event['error']}")
                return False
            if "status" in event and "progress" not in event:
                log.line(f"pull {ref}: {event['status']}")
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        log.line(f"pull {ref} failed: {e}")
        return False
    return inspect(api, ref) is not None


def build_dockerfile(api: docker.APIClient, job: BuildJob, dockerfile: str | None = None) -> str:
    """``docker build`` of the job's staged context; returns the image id.

    Raises `StepFailed` naming the Dockerfile step that failed."""
    step = "sending the build context"
    image_id: str | None = None
    stream = api.build(
        path=str(job.context_dir),
        dockerfile=dockerfile or job.spec.dockerfile,
        tag=job.tags[0],
        labels=dict(job.labels),
        buildargs=dict(job.spec.build_args),
        rm=True,
        forcerm=True,
        pull=False,
        nocache=job.nocache,
        decode=True,
    )
    for event in stream:
        for line in str(event.get("stream", "")).splitlines():
            if not line.strip():
                continue
            job.log.line(line)
            if line.startswith("Step "):
                step = line.strip()
                job.log.status(step)
        aux = event.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            image_id = str(aux["ID"])
        if "error" in event:
            detail = str(event["error"]).strip()
            job.log.line(detail)
            raise StepFailed(step, detail, _build_hint(detail))
    if image_id is None:
        found = inspect(api, job.tags[0])
        if found is None:
            raise StepFailed(step, f"the build ended without an image tagged {job.tags[0]}")
        image_id = str(found["Id"])
    for ref in job.tags[1:]:
        tag(api, image_id, ref)
    return image_id


def _build_hint(detail: str) -> str:
    if "apt-get" in detail or "Temporary failure resolving" in detail:
        return (
            "the build container could not reach Debian's mirror; check that containers "
            "have network access (docker run --rm debian:bookworm-slim apt-get update)"
        )
    if "pull access denied" in detail or "not found" in detail:
        return "an image the Dockerfile needs is missing; build its base first"
    return "see the image's log for the full output"


def wrap_upstream(api: docker.APIClient, job: BuildJob, upstream: str) -> str:
    """Give a pulled upstream image floodmark's tags and labels (a one-line build)."""
    with tempfile.TemporaryDirectory(prefix="floodmark-wrap-") as tmp:
        (Path(tmp) / "Dockerfile.wrap").write_text(f"FROM {upstream}\n")
        wrapped = BuildJob(job.spec, Path(tmp), job.tags, job.labels, job.log, job.nocache)
        return build_dockerfile(api, wrapped, dockerfile="Dockerfile.wrap")


def run_logged(
    cmd: Sequence[str | Path],
    log: BuildLog,
    *,
    step: str,
    hint: str = "",
    env: Mapping[str, str] | None = None,
    status: Callable[[str], str | None] | None = None,
) -> None:
    """Run a host command, every output line to the log; `StepFailed` on a non-zero exit.

    ``status`` turns an output line into a progress status (or None to leave it)."""
    log.status(step)
    try:
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=dict(env) if env is not None else None,
        )
    except OSError as e:
        raise StepFailed(step, f"cannot run {cmd[0]}: {e}", hint) from e
    assert proc.stdout is not None
    with proc:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            log.line(line)
            if status is not None and (s := status(line)) is not None:
                log.status(f"{step}: {s}")
    if proc.returncode != 0:
        raise StepFailed(step, f"{cmd[0]} exited with status {proc.returncode}", hint)


class FileLog:
    """A `compose.spec.BuildLog` writing to a file, keeping the last lines for errors and
    passing status changes to a callback (the progress display)."""

    def __init__(self, path: Path, on_status: Callable[[str], None]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO = path.open("w", encoding="utf-8")
        self._tail: deque[str] = deque(maxlen=25)
        self._on_status = on_status

    def line(self, text: str) -> None:
        self._file.write(text + "\n")
        self._file.flush()
        self._tail.append(text)

    def status(self, text: str) -> None:
        self._file.write(f"== {text}\n")
        self._on_status(text)

    def tail(self) -> list[str]:
        return list(self._tail)

    def close(self) -> None:
        self._file.close()
