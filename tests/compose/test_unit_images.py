"""compose.images against a fake engine: up-to-date checks, build/pull/import, prune, list.

The registry is replaced by three small specs over a temporary repository, shaped like
floodmark's own: ``base`` (fixed tag, pulled as is or made by a custom builder), ``tool``
(fixed tag; a pulled upstream is wrapped, else a host prepare step and a build) and
``app`` (tagged by its inputs hash, built ``FROM`` base)."""

from __future__ import annotations

import fcntl
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from rich.console import Console
from rich.errors import LiveError
from rich.progress import Progress

from compose import engine, images, inputs
from compose.spec import LABEL_IMAGE, LABEL_INPUTS, LABEL_SOURCE, BuildJob, BuildLog, ImageSpec
from tests.compose.fakes import FakeEngine, api_error

APP_DOCKERFILE = "FROM debian:bookworm-slim\nCOPY src /src\nRUN make -C /src\n"


@dataclass
class World:
    fake: FakeEngine
    repo: Path
    out: io.StringIO
    builder_jobs: list[BuildJob] = field(default_factory=list)
    prepared: list[Path] = field(default_factory=list)

    @property
    def console(self) -> Console:
        return Console(file=self.out, width=300)

    def ensure(self, names: list[str], force: bool = False) -> list[images.Outcome]:
        return images.ensure(names, console=self.console, force=force)

    def app_tags(self) -> tuple[str, ...]:
        spec = images.IMAGES["app"]
        return spec.tags_for(images._hash(spec, images._base_id(self.fake.api, spec)))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    fake = FakeEngine()
    repo = tmp_path / "repo"
    (repo / "base").mkdir(parents=True)
    (repo / "base" / "trim.sh").write_text("rm -rf /usr/share/doc\n")
    (repo / "tool").mkdir()
    (repo / "tool" / "Dockerfile").write_text("FROM scratch\nCOPY tool-bin /tool\n")
    (repo / "app" / "src").mkdir(parents=True)
    (repo / "app" / "Dockerfile").write_text(APP_DOCKERFILE)
    (repo / "app" / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    w = World(fake, repo, io.StringIO())

    def builder(job: BuildJob) -> str:
        w.builder_jobs.append(job)
        job.log.status("docker import")
        return fake.add_image(job.tags[0], job.labels)

    def prepare(context: Path, log: BuildLog) -> None:
        w.prepared.append(context)
        log.line("compiled tool-bin")
        (context / "tool-bin").write_text("ELF")

    registry = {
        "base": ImageSpec(
            "base",
            "debian",
            {"trim.sh": "base/trim.sh"},
            tag="bookworm-slim",
            upstream="debian:bookworm-slim",
            recipe={"suite": "bookworm"},
            builder=builder,
        ),
        "tool": ImageSpec(
            "tool",
            "floodmark/tool",
            {"Dockerfile": "tool/Dockerfile"},
            tag="1.0",
            upstream="ghcr.io/x/tool:1.0",
            prepare=prepare,
        ),
        "app": ImageSpec(
            "app",
            "floodmark/app",
            {"Dockerfile": "app/Dockerfile", "src": "app/src"},
            build_args={"V": "1"},
            base="base",
        ),
    }
    monkeypatch.setattr(images, "IMAGES", registry)
    monkeypatch.setattr(images, "ROOT", repo)
    monkeypatch.setattr(images, "LOG_DIR", tmp_path / "logs")
    monkeypatch.setattr(images, "LOCK_PATH", tmp_path / "images.lock")
    monkeypatch.setattr(docker, "from_env", fake.from_env)
    monkeypatch.delenv("FLOODMARK_NO_PULL", raising=False)
    return w


def steps(fake: FakeEngine) -> list[tuple[str, str]]:
    """The making steps the engine saw, in order."""
    return [(c[0], str(c[1])) for c in fake.calls_named("pull", "build", "tag")]


# -- ensure: what is made, how, with which labels ---------------------------------------


def test_a_fresh_engine_pulls_base_as_is_and_builds_app(world: World) -> None:
    fake = world.fake
    fake.registry["debian:bookworm-slim"] = {"Labels": {}}
    outcomes = world.ensure(["app"])
    assert [(o.name, o.built) for o in outcomes] == [("base", True), ("app", True)]
    app_tags = world.app_tags()
    assert steps(fake) == [
        ("pull", "debian:bookworm-slim"),
        ("build", app_tags[0]),
        ("tag", fake.tags[app_tags[0]]),
    ]
    assert world.builder_jobs == []  # the pull made the base: no debootstrap
    (build,) = fake.builds
    h = images._hash(images.IMAGES["app"], fake.tags["debian:bookworm-slim"])
    assert app_tags == (f"floodmark/app:{h[:12]}", "floodmark/app:latest")
    assert build.kwargs["labels"] == {
        LABEL_IMAGE: "app",
        LABEL_INPUTS: h,
        LABEL_SOURCE: "built",
    }
    assert build.kwargs["buildargs"] == {"V": "1"} and build.kwargs["nocache"] is False
    assert build.files == {
        "Dockerfile": APP_DOCKERFILE,
        "src/main.c": "int main(void) { return 0; }\n",
    }
    assert fake.tags["floodmark/app:latest"] == fake.tags[app_tags[0]] == outcomes[1].image_id
    assert "floodmark.run" not in fake.labels(app_tags[0])
    out = world.out.getvalue()
    assert f"[app] built {app_tags[0]} in " in out and "[base] built debian:bookworm-slim" in out


def test_ensure_images_names_only_what_was_asked(world: World) -> None:
    world.fake.registry["debian:bookworm-slim"] = {}
    tags = images.ensure_images(["app"], console=world.console)
    assert tags == {"app": world.app_tags()[0]}


def test_up_to_date_images_are_not_rebuilt(world: World) -> None:
    world.fake.registry["debian:bookworm-slim"] = {}
    world.ensure(["app", "tool"])
    before = len(world.fake.builds)
    world.fake.calls.clear()
    again = world.ensure(["app", "tool"])
    assert [o.built for o in again] == [False, False, False]
    assert world.fake.calls_named("pull", "build", "tag", "import_image_from_file") == []
    assert len(world.fake.builds) == before
    assert "[app] up to date: floodmark/app:" in world.out.getvalue()


def test_a_changed_input_rebuilds_only_that_image(world: World) -> None:
    world.fake.registry["debian:bookworm-slim"] = {}
    first = {o.name: o for o in world.ensure(["app"])}
    (world.repo / "app" / "src" / "main.c").write_text("int main(void) { return 1; }\n")
    world.fake.calls.clear()
    second = {o.name: o for o in world.ensure(["app"])}
    assert not second["base"].built and second["base"].image_id == first["base"].image_id
    assert second["app"].built and second["app"].tag != first["app"].tag
    assert world.fake.calls_named("pull") == []
    assert world.fake.builds[-1].files["src/main.c"] == "int main(void) { return 1; }\n"
    labels = world.fake.labels(second["app"].tag)
    assert labels[LABEL_INPUTS] != world.fake.labels(first["app"].tag)[LABEL_INPUTS]
    assert world.fake.tags["floodmark/app:latest"] == second["app"].image_id


def test_a_new_base_rebuilds_what_is_built_from_it(world: World) -> None:
    fake = world.fake
    fake.registry["debian:bookworm-slim"] = {}
    first = {o.name: o for o in world.ensure(["app"])}
    fake.add_image("debian:bookworm-slim", {})  # someone pulled a newer base
    second = {o.name: o for o in world.ensure(["app"])}
    assert not second["base"].built and second["app"].built
    assert second["app"].tag != first["app"].tag


def test_a_moved_extra_tag_is_put_back_without_a_build(world: World) -> None:
    fake = world.fake
    fake.registry["debian:bookworm-slim"] = {}
    app = world.ensure(["app"])[1]
    fake.tags["floodmark/app:latest"] = fake.add_image(None, {})
    fake.calls.clear()
    again = world.ensure(["app"])[1]
    assert not again.built
    assert steps(fake) == [("tag", app.image_id)]
    assert fake.tags["floodmark/app:latest"] == app.image_id


def test_force_rebuilds_the_named_image_without_cache_not_its_base(world: World) -> None:
    world.fake.registry["debian:bookworm-slim"] = {}
    world.ensure(["app"])
    world.fake.calls.clear()
    outcomes = world.ensure(["app"], force=True)
    assert [(o.name, o.built) for o in outcomes] == [("base", False), ("app", True)]
    assert world.fake.calls_named("pull") == []
    assert world.fake.builds[-1].kwargs["nocache"] is True


def test_offline_base_is_made_by_its_builder(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOODMARK_NO_PULL", "1")
    base = world.ensure(["base"])[0]
    (job,) = world.builder_jobs
    h = images._hash(images.IMAGES["base"], None)
    assert job.tags == ("debian:bookworm-slim",)
    assert dict(job.labels) == {LABEL_IMAGE: "base", LABEL_INPUTS: h, LABEL_SOURCE: "imported"}
    assert (job.context_dir / "trim.sh").name == "trim.sh" and not job.context_dir.exists()
    assert base.built and world.fake.labels("debian:bookworm-slim")[LABEL_INPUTS] == h
    log = (images.LOG_DIR / "base.log").read_text()
    assert "FLOODMARK_NO_PULL is set: not pulling debian:bookworm-slim" in log
    assert "== docker import" in log
    # made by floodmark, so its label decides: it is up to date now
    assert not world.ensure(["base"])[0].built


def test_a_foreign_image_under_a_fixed_tag_is_replaced(world: World) -> None:
    """An image with floodmark's image label but other inputs is stale, even under the
    upstream's own tag (only an unlabelled, pulled image is taken as is)."""
    world.fake.add_image("debian:bookworm-slim", {LABEL_IMAGE: "base", LABEL_INPUTS: "old"})
    world.fake.registry["debian:bookworm-slim"] = {}
    assert world.ensure(["base"])[0].built
    assert world.fake.calls_named("pull")


def test_a_pullable_upstream_under_another_name_is_wrapped(world: World) -> None:
    world.fake.registry["ghcr.io/x/tool:1.0"] = {"Labels": {"org.opencontainers.x": "y"}}
    tool = world.ensure(["tool"])[0]
    assert world.prepared == []  # no Go build needed
    (build,) = world.fake.builds
    assert build.kwargs["dockerfile"] == "Dockerfile.wrap"
    assert build.files == {"Dockerfile.wrap": "FROM ghcr.io/x/tool:1.0\n"}
    assert build.kwargs["labels"][LABEL_SOURCE] == "wrapped"
    assert world.fake.tags["floodmark/tool:1.0"] == tool.image_id


def test_an_unpullable_upstream_runs_prepare_then_builds(world: World) -> None:
    world.ensure(["tool"])
    assert [c[0] for c in world.fake.calls_named("pull", "build")] == ["pull", "build"]
    (build,) = world.fake.builds
    assert build.files["tool-bin"] == "ELF"  # the prepare step's output is in the context
    assert build.kwargs["labels"][LABEL_SOURCE] == "built"
    log = (images.LOG_DIR / "tool.log").read_text()
    assert "pull ghcr.io/x/tool:1.0 failed" in log and "compiled tool-bin" in log


# -- failures ---------------------------------------------------------------------------


def test_a_failed_build_names_the_step_the_output_and_the_log(world: World) -> None:
    world.fake.registry["debian:bookworm-slim"] = {}
    world.fake.fail_build_at = (3, "make: *** No rule to make target")
    with pytest.raises(images.ImageError) as info:
        world.ensure(["app"])
    msg = str(info.value)
    log_path = images.LOG_DIR / "app.log"
    assert msg.startswith("building image 'app' failed at step: Step 3/3 : RUN make -C /src\n")
    assert "  what happened: make: *** No rule to make target\n" in msg
    assert "    some output of the failing step\n" in msg
    assert f"  full log: {log_path}\n" in msg
    assert "what to do: see the image's log for the full output" in msg
    assert "Step 3/3 : RUN make -C /src" in log_path.read_text()
    assert "[app] FAILED at Step 3/3 : RUN make -C /src" in world.out.getvalue()


def test_an_engine_error_during_a_build_is_an_image_error(world: World) -> None:
    world.fake.registry["debian:bookworm-slim"] = {}
    world.fake.build_error = api_error("write /var/lib/docker/tmp: no space left on device")
    with pytest.raises(images.ImageError) as info:
        world.ensure(["app"])
    msg = str(info.value)
    assert "failed at step: the build\n" in msg
    assert "what happened: APIError: 500 Server Error" in msg and "no space left" in msg
    assert "what to do: fix the cause and run `make images` again" in msg
    assert isinstance(info.value.__cause__, docker.errors.APIError)


def test_a_missing_input_file_stops_before_any_build(world: World) -> None:
    """Hashing finds it first: an `ImageError` (what `make images` reports without a
    traceback) that says which input is missing, and nothing is built."""
    world.fake.registry["debian:bookworm-slim"] = {}
    (world.repo / "app" / "Dockerfile").unlink()
    with pytest.raises(images.ImageError, match="declares the input 'app/Dockerfile'") as e:
        world.ensure(["app"])
    assert isinstance(e.value.__cause__, inputs.InputError)
    assert world.fake.builds == []


def test_a_hashed_tag_needs_its_base(world: World) -> None:
    with pytest.raises(images.ImageError, match=r"built from debian:bookworm-slim \('base'\)"):
        images.image_tag("app", api=world.fake.api)
    assert images.image_tag("base") == "debian:bookworm-slim"  # fixed: no engine needed
    assert world.fake.clients == []


def test_image_tag_connects_when_not_given_an_engine(world: World) -> None:
    world.fake.add_image("debian:bookworm-slim", {})
    assert images.image_tag("app").startswith("floodmark/app:")
    assert len(world.fake.clients) == 1


def test_ensure_without_an_engine(world: World) -> None:
    world.fake.from_env_error = docker.errors.DockerException("socket missing")
    with pytest.raises(engine.DockerUnavailable, match="make docker"):
        world.ensure(["app"])


# -- the machine lock and the display ---------------------------------------------------


class _ReleasingStream(io.StringIO):
    """Console output that lets the other holder's lock go once the wait is announced."""

    def __init__(self, holder: io.TextIOWrapper) -> None:
        super().__init__()
        self.holder = holder

    def write(self, s: str) -> int:
        if "another process is building images" in s and not self.holder.closed:
            fcntl.flock(self.holder, fcntl.LOCK_UN)
            self.holder.close()
        return super().write(s)


def test_a_held_machine_lock_is_waited_for(world: World) -> None:
    world.fake.add_image("debian:bookworm-slim", {})
    holder = images.LOCK_PATH.open("a")
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    out = _ReleasingStream(holder)
    images.ensure(["base"], console=Console(file=out, width=200))
    assert holder.closed
    assert "another process is building images; waiting for it" in out.getvalue()


def test_a_terminal_gets_a_live_display(world: World) -> None:
    world.fake.add_image("debian:bookworm-slim", {})
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    images.ensure(["base"], console=console)
    assert "up to date: debian:bookworm-slim" in out.getvalue()
    assert "[base]" not in out.getvalue()  # a spinner row, not a status line


def test_inside_another_live_display_status_lines_are_printed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(self: Progress) -> None:
        raise LiveError("Only one live display may be active at once")

    monkeypatch.setattr(Progress, "start", busy)
    world.fake.add_image("debian:bookworm-slim", {})
    out = io.StringIO()
    images.ensure(["base"], console=Console(file=out, force_terminal=True, width=200))
    assert "[base] up to date: debian:bookworm-slim" in out.getvalue()


def test_long_status_lines_are_shortened_and_repeats_dropped() -> None:
    out = io.StringIO()
    with images._Display(Console(file=out, width=300)) as display:
        task = display.task("app")
        display.status(task, "x" * 100)
        display.status(task, "x" * 100)
    assert out.getvalue() == f"[app] {'x' * 87}...\n"


@pytest.fixture
def quiet_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    out = io.StringIO()
    monkeypatch.setattr(images, "Console", lambda **kw: Console(file=out, width=300))
    yield out


# -- list and prune ---------------------------------------------------------------------


def test_list_says_which_images_are_up_to_date_stale_or_missing(
    world: World, quiet_console: io.StringIO
) -> None:
    fake = world.fake
    fake.registry["debian:bookworm-slim"] = {}
    world.ensure(["app"])
    fake.add_image("floodmark/tool:1.0", {LABEL_IMAGE: "tool", LABEL_INPUTS: "old"})
    assert images._cmd_list(fake.api) == 0
    rows = {line.split()[0]: line for line in quiet_console.getvalue().splitlines()}
    assert rows["base"].endswith("up to date") and "debian:bookworm-slim" in rows["base"]
    assert rows["app"].endswith("up to date") and world.app_tags()[0] in rows["app"]
    assert rows["tool"].endswith("stale")
    del fake.tags["floodmark/tool:1.0"]
    del fake.tags["debian:bookworm-slim"]
    quiet_console.seek(0)
    quiet_console.truncate()
    images._cmd_list(fake.api)
    rows = {line.split()[0]: line for line in quiet_console.getvalue().splitlines()}
    assert rows["tool"].endswith("missing") and rows["base"].endswith("missing")
    assert "floodmark/app:?" in rows["app"]
    assert "unknown (image 'app' is built from debian:bookworm-slim" in rows["app"]


def test_prune_removes_only_older_floodmark_images(world: World) -> None:
    fake = world.fake
    fake.registry["debian:bookworm-slim"] = {}
    world.ensure(["app"])
    current = fake.tags[world.app_tags()[0]]
    old = fake.add_image("floodmark/app:000000000000", {LABEL_IMAGE: "app", LABEL_INPUTS: "o"})
    dangling = fake.add_image(None, {LABEL_IMAGE: "app", LABEL_INPUTS: "older"})
    in_use = fake.add_image("floodmark/app:111111111111", {LABEL_IMAGE: "app"})
    fake.in_use.add(in_use)
    theirs = fake.add_image("someone/else:1", {LABEL_IMAGE: "app"})
    unknown = fake.add_image("floodmark/gone:1", {LABEL_IMAGE: "gone"})
    plain = fake.add_image("busybox:latest", {})
    out = io.StringIO()
    assert images.prune(fake.api, Console(file=out, width=300)) == 0
    assert (old not in fake.images, dangling not in fake.images) == (True, True)
    for kept in (current, in_use, theirs, unknown, plain, fake.tags["debian:bookworm-slim"]):
        assert kept in fake.images
    removed = [c[1] for c in fake.calls_named("remove_image")]
    assert removed == [old, dangling, in_use]
    text = out.getvalue()
    assert "removed floodmark/app:000000000000\n" in text
    assert f"removed {dangling[:19]}\n" in text
    assert "kept floodmark/app:111111111111: conflict: unable to delete" in text
    assert text.endswith("pruned 2 image(s)\n")


def test_prune_skips_images_it_cannot_name(world: World) -> None:
    """Nothing built yet: app's tag cannot be computed (no base), tool is missing."""
    fake = world.fake
    old = fake.add_image("floodmark/tool:0.9", {LABEL_IMAGE: "tool"})
    out = io.StringIO()
    images.prune(fake.api, Console(file=out, width=300))
    assert old not in fake.images and out.getvalue().endswith("pruned 1 image(s)\n")


# -- the command line -------------------------------------------------------------------


def test_cli_build_all_reports_counts(
    world: World, quiet_console: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    world.fake.registry["debian:bookworm-slim"] = {}
    world.fake.registry["ghcr.io/x/tool:1.0"] = {}
    assert images.main(["build"]) == 0
    assert "images: 3 ready, 3 built, in " in capsys.readouterr().err
    assert images.main(["build", "--force", "tool"]) == 0
    assert "images: 1 ready, 1 built" in capsys.readouterr().err
    assert world.fake.builds[-1].kwargs["nocache"] is True


def test_cli_list_and_prune(world: World, quiet_console: io.StringIO) -> None:
    world.fake.add_image("debian:bookworm-slim", {})
    assert images.main(["list"]) == 0
    assert images.main(["prune"]) == 0
    text = quiet_console.getvalue()
    assert "base" in text and "up to date" in text and "pruned 0 image(s)" in text


def test_cli_errors_exit_1_with_the_message(
    world: World, quiet_console: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    world.fake.registry["debian:bookworm-slim"] = {}
    world.fake.fail_build_at = (1, "pull access denied for debian")
    assert images.main(["build", "app"]) == 1
    assert "error: building image 'app' failed at step: Step 1/3" in capsys.readouterr().err
    world.fake.from_env_error = docker.errors.DockerException("no socket")
    assert images.main(["list"]) == 1
    assert "error: no Docker engine answers" in capsys.readouterr().err
