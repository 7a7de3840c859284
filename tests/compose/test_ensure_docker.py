"""scripts/ensure-docker.sh against stub commands (no real engine is touched).

The stubs stand in for ``docker`` (answers ``info`` once the stub ``dockerd`` has run),
``dockerd``, ``apt-get`` (records what it installs, and installing docker.io puts the
``dockerd`` stub on PATH) and ``id``."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from compose.images import ROOT

SCRIPT = ROOT / "scripts" / "ensure-docker.sh"

DOCKER = """#!/bin/sh
case "$1" in
  info) [ -e "$STATE/started" ] ;;
  version) echo stub-20.10 ;;
  *) exit 2 ;;
esac
"""
DOCKERD = """#!/bin/sh
echo "dockerd stub starting" >&2
[ -n "${NEVER_ANSWER:-}" ] || touch "$STATE/started"
"""
APT_GET = """#!/bin/sh
echo "$*" >>"$STATE/apt.log"
for pkg in "$@"; do
  case "$pkg" in
    docker.io) cp "$STATE/dockerd.stub" "$STUBS/dockerd"; chmod +x "$STUBS/dockerd" ;;
    iptables|debootstrap) echo 'exit 0' >"$STUBS/$pkg"; chmod +x "$STUBS/$pkg" ;;
  esac
done
exit 0
"""


@dataclass
class Sandbox:
    stubs: Path
    state: Path

    def run(self, *, uid: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
        (self.stubs / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        (self.stubs / "id").chmod(0o755)
        full_env = {
            "PATH": f"{self.stubs}:/usr/bin:/bin",
            "STATE": str(self.state),
            "STUBS": str(self.stubs),
            "FLOODMARK_DOCKERD_LOG": str(self.state / "dockerd.log"),
            "FLOODMARK_DOCKERD_PIDFILE": str(self.state / "docker.pid"),
            "FLOODMARK_DOCKERD_WAIT": "10",
            **env,
        }
        return subprocess.run(
            ["bash", str(SCRIPT)], env=full_env, capture_output=True, text=True, timeout=30
        )

    def apt_calls(self) -> list[str]:
        log = self.state / "apt.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    stubs, state = tmp_path / "bin", tmp_path / "state"
    stubs.mkdir()
    state.mkdir()
    for name, body in {"docker": DOCKER, "apt-get": APT_GET}.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    (state / "dockerd.stub").write_text(DOCKERD)
    # stand-ins for the build tools, so only what a case removes is missing
    for tool in ("debootstrap", "iptables"):
        (stubs / tool).write_text("#!/bin/sh\nexit 0\n")
        (stubs / tool).chmod(0o755)
    return Sandbox(stubs, state)


def test_an_answering_engine_is_left_alone(sandbox: Sandbox) -> None:
    (sandbox.state / "started").touch()
    result = sandbox.run()
    assert result.returncode == 0, result.stderr
    assert sandbox.apt_calls() == []
    assert not (sandbox.stubs / "dockerd").exists()


def test_an_answering_engine_still_gets_missing_build_tools(sandbox: Sandbox) -> None:
    (sandbox.state / "started").touch()
    (sandbox.stubs / "debootstrap").unlink()
    result = sandbox.run()
    assert result.returncode == 0, result.stderr
    installs = [c for c in sandbox.apt_calls() if "install" in c]
    assert len(installs) == 1 and "debootstrap" in installs[0] and "docker.io" not in installs[0]


def test_not_root_without_engine_says_what_to_do(sandbox: Sandbox) -> None:
    result = sandbox.run(uid=1000)
    assert result.returncode == 1
    assert "not root" in result.stderr and "sudo make docker" in result.stderr
    assert sandbox.apt_calls() == []


def test_root_without_engine_installs_and_starts_dockerd(sandbox: Sandbox) -> None:
    (sandbox.stubs / "iptables").unlink()
    result = sandbox.run()
    assert result.returncode == 0, result.stderr
    calls = sandbox.apt_calls()
    assert calls[0].startswith("update")
    install = next(c for c in calls if "install" in c)
    assert "docker.io" in install and "iptables" in install and "debootstrap" not in install
    assert (sandbox.state / "started").exists()
    assert "dockerd stub starting" in (sandbox.state / "dockerd.log").read_text()
    assert "Docker engine is up" in result.stderr
    # idempotent: a second run finds the engine and does nothing more
    again = sandbox.run()
    assert again.returncode == 0 and sandbox.apt_calls() == calls


def test_a_dockerd_that_never_answers_fails_after_the_deadline(sandbox: Sandbox) -> None:
    result = sandbox.run(NEVER_ANSWER="1", FLOODMARK_DOCKERD_WAIT="1")
    assert result.returncode == 1
    assert "did not answer within 1 s" in result.stderr
    assert "dockerd stub starting" in result.stderr  # the log's tail is shown


def test_the_script_is_executable() -> None:
    assert os.access(SCRIPT, os.X_OK)
