"""compose.offline with faked host tools: debootstrap + trim + tar + import, go install."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

from compose import engine, images, offline
from compose.engine import StepFailed
from compose.spec import LABEL_IMAGE, LABEL_INPUTS, LABEL_SOURCE, BuildJob, BuildLog
from tests.compose.fakes import FakeEngine, FakeLog

MIRROR = "http://mirror.example/debian"
SECURITY = "http://mirror.example/debian-security"


@dataclass
class Tools:
    """The host tools `engine.run_logged` would run: recorded, their effects simulated."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    effects: dict[str, Callable[[list[str]], None]] = field(default_factory=dict)
    fail: dict[str, StepFailed] = field(default_factory=dict)

    def run_logged(
        self,
        cmd: Sequence[str | Path],
        log: BuildLog,
        *,
        step: str,
        hint: str = "",
        env: dict[str, str] | None = None,
        status: Callable[[str], str | None] | None = None,
    ) -> None:
        argv = [str(c) for c in cmd]
        self.runs.append({"argv": argv, "step": step, "hint": hint, "env": env, "status": status})
        log.status(step)
        tool = Path(argv[0]).name
        if tool in self.fail:
            raise self.fail[tool]
        if tool in self.effects:
            self.effects[tool](argv)


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> Tools:
    t = Tools()
    monkeypatch.setattr(engine, "run_logged", t.run_logged)
    return t


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    e = FakeEngine()
    monkeypatch.setattr(docker, "from_env", e.from_env)
    return e


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A root host with debootstrap, whose apt sources name our mirrors."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        shutil, "which", lambda name: "/usr/sbin/debootstrap" if name == "debootstrap" else None
    )
    monkeypatch.delenv("FLOODMARK_DEBIAN_MIRROR", raising=False)
    monkeypatch.setattr(offline, "_apt_uris", lambda paths=(): [f"{SECURITY}/", f"{MIRROR}/"])


def base_job(tmp_path: Path, log: FakeLog, tags: tuple[str, ...] = ()) -> BuildJob:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "trim.sh").write_text("#!/bin/sh\n")
    labels = {LABEL_IMAGE: "base", LABEL_INPUTS: "f" * 64, LABEL_SOURCE: "imported"}
    spec = images.IMAGES["base"]
    return BuildJob(spec, ctx, tags or ("debian:bookworm-slim",), labels, log)


def test_debootstrap_trim_tar_then_import_with_the_labels(
    tmp_path: Path, tools: Tools, fake: FakeEngine, host: None
) -> None:
    tarballs: list[Path] = []

    def tar(argv: list[str]) -> None:
        tarball = Path(argv[argv.index("-cf") + 1])
        tarball.write_bytes(b"rootfs")
        tarballs.append(tarball)

    tools.effects["tar"] = tar
    log = FakeLog()
    job = base_job(tmp_path, log, ("debian:bookworm-slim", "floodmark/base:latest"))
    image_id = offline.debootstrap_base(job)

    debootstrap, trim, tar_run = tools.runs
    rootfs = str(Path(tarballs[0]).parent / "rootfs")
    assert debootstrap["argv"] == [
        "/usr/sbin/debootstrap",
        "--variant=minbase",
        "bookworm",
        rootfs,
        MIRROR,
    ]
    assert debootstrap["step"] == "debootstrap bookworm" and MIRROR in debootstrap["hint"]
    assert debootstrap["status"]("I: Retrieving libc6 2.36-9") == "Retrieving"
    assert debootstrap["status"]("I: Validating.") == "Validating"
    assert debootstrap["status"]("W: something") is None
    assert trim["argv"] == ["sh", str(job.context_dir / "trim.sh"), rootfs, "bookworm", MIRROR,
                            SECURITY]  # fmt: skip
    assert tar_run["argv"] == ["tar", "--numeric-owner", "-C", rootfs, "-cf", str(tarballs[0]), "."]
    (imported,) = fake.imports
    assert imported["filename"] == str(tarballs[0]) and imported["ref"] == "debian:bookworm-slim"
    assert imported["changes"] == [
        f"LABEL {LABEL_IMAGE}=base",
        f"LABEL {LABEL_INPUTS}={'f' * 64}",
        f"LABEL {LABEL_SOURCE}=imported",
        'CMD ["bash"]',
    ]
    assert not tarballs[0].exists()  # the temporary root filesystem is gone
    assert fake.tags["debian:bookworm-slim"] == image_id == fake.tags["floodmark/base:latest"]
    assert fake.labels("debian:bookworm-slim")[LABEL_INPUTS] == "f" * 64
    assert log.lines[0] == f"debootstrap bookworm (minbase) from {MIRROR}"
    assert "docker import" in log.statuses


def test_debootstrap_needs_root(
    tmp_path: Path, tools: Tools, host: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(StepFailed, match="needs root") as info:
        offline.debootstrap_base(base_job(tmp_path, FakeLog()))
    assert info.value.step == "debootstrap" and "docker pull" in info.value.hint
    assert tools.runs == []


def test_debootstrap_must_be_installed(
    tmp_path: Path, tools: Tools, host: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(StepFailed, match="not installed") as info:
        offline.debootstrap_base(base_job(tmp_path, FakeLog()))
    assert "make docker" in info.value.hint and tools.runs == []


def test_a_failed_debootstrap_stops_before_the_import(
    tmp_path: Path, tools: Tools, fake: FakeEngine, host: None
) -> None:
    tools.fail["debootstrap"] = StepFailed("debootstrap bookworm", "exited with status 1")
    with pytest.raises(StepFailed, match="debootstrap bookworm"):
        offline.debootstrap_base(base_job(tmp_path, FakeLog()))
    assert len(tools.runs) == 1 and fake.imports == []


def test_an_import_that_tags_nothing_fails(
    tmp_path: Path, tools: Tools, fake: FakeEngine, host: None
) -> None:
    fake.import_makes_image = False
    with pytest.raises(StepFailed, match="no image tagged debian:bookworm-slim") as info:
        offline.debootstrap_base(base_job(tmp_path, FakeLog()))
    assert info.value.step == "docker import"


def test_mirror_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offline, "_apt_uris", lambda paths=(): [f"{MIRROR}/"])
    monkeypatch.setenv("FLOODMARK_DEBIAN_MIRROR", "http://mine.example/debian/")
    assert offline.debian_mirror() == "http://mine.example/debian"
    monkeypatch.delenv("FLOODMARK_DEBIAN_MIRROR")
    assert offline.debian_mirror() == MIRROR
    assert offline.security_mirror() == offline.DEFAULT_SECURITY_MIRROR


def test_disabled_deb822_stanzas_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.sources").write_text(
        "Types: deb\nURIs: http://off.example/debian\nEnabled: no\n\n"
        "Types: deb\nURIs: http://on.example/debian\n"
    )
    assert offline._apt_uris((tmp_path,)) == ["http://on.example/debian"]


# -- go install toxiproxy ---------------------------------------------------------------


def test_go_install_puts_a_static_server_in_the_context(
    tmp_path: Path, tools: Tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/go/bin/go" if name == "go" else None)
    monkeypatch.setenv("GOARCH", "arm64")

    def go(argv: list[str]) -> None:
        gobin = Path(str(tools.runs[-1]["env"]["GOBIN"]))
        gobin.mkdir()
        (gobin / "server").write_text("ELF")

    tools.effects["go"] = go
    offline.go_install_toxiproxy(tmp_path, FakeLog())
    (run,) = tools.runs
    v = offline.TOXIPROXY_VERSION
    assert run["argv"] == [
        "/opt/go/bin/go",
        "install",
        "-trimpath",
        f"-ldflags=-s -w -X {offline.TOXIPROXY_MODULE}.Version={v}",
        f"{offline.TOXIPROXY_MODULE}/cmd/server@v{v}",
    ]
    env = run["env"]
    assert (env["CGO_ENABLED"], env["GOOS"], env["GOBIN"]) == (
        "0",
        "linux",
        str(tmp_path / ".gobin"),
    )
    assert "GOARCH" not in env and env["PATH"] == os.environ["PATH"]
    assert (tmp_path / "toxiproxy").read_text() == "ELF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toxiproxy"]


def test_go_install_that_leaves_no_binary_fails(
    tmp_path: Path, tools: Tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/go/bin/go")
    with pytest.raises(StepFailed, match=r"go install finished but .*server is missing"):
        offline.go_install_toxiproxy(tmp_path, FakeLog())


def test_go_is_found_on_path_or_in_usr_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    local = {"/usr/local/go/bin/go"}
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda p: str(p) in local or real_exists(p))
    assert offline._go() == "/usr/local/go/bin/go"
    local.clear()
    monkeypatch.setattr(Path, "exists", lambda p: False)
    with pytest.raises(StepFailed, match="no Go toolchain found") as info:
        offline._go()
    assert "make ghcr.io/shopify/toxiproxy:2.12.0 pullable" in info.value.hint
