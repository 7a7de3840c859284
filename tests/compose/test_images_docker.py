"""The images against the real engine: idempotence, rebuild on change, what is inside.

Containers started here carry ``floodmark.run=<this test's run id>`` and are removed even
when a test fails; test images (``floodmark/test-*``) are removed after their test."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from rich.console import Console

from compose import engine, images, offline
from compose.spec import LABEL_IMAGE, LABEL_INPUTS, LABEL_SOURCE, BuildJob, ImageSpec

pytestmark = pytest.mark.integration

RUN_ID = f"test-compose-{uuid.uuid4().hex[:8]}"
QUIET = Console(file=open("/dev/null", "w"))  # noqa: SIM115  (lives as long as the module)


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    try:
        c = docker.from_env()
        c.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"no Docker engine answers ({e}); run `make docker`")
    yield c
    for leftover in c.containers.list(all=True, filters={"label": f"floodmark.run={RUN_ID}"}):
        leftover.remove(force=True)
    c.close()


@pytest.fixture(scope="module")
def built(client: docker.DockerClient) -> dict[str, str]:
    return images.ensure_images(["base", "toxiproxy", "replog"], console=QUIET)


def run_in(client: docker.DockerClient, image: str, script: str) -> str:
    out = client.containers.run(
        image,
        ["sh", "-c", script],
        entrypoint=[],
        remove=True,
        labels={"floodmark.run": RUN_ID},
    )
    return out.decode() if isinstance(out, bytes) else str(out)


def test_ensure_is_idempotent_and_rebuilds_nothing(built: dict[str, str]) -> None:
    assert set(built) == {"base", "toxiproxy", "replog"}
    assert built["toxiproxy"] == "floodmark/toxiproxy:2.12.0"
    assert built["base"] == "debian:bookworm-slim"
    outcomes = images.ensure(["replog", "toxiproxy"], console=QUIET)
    assert [o.name for o in outcomes] == ["base", "replog", "toxiproxy"]
    assert not any(o.built for o in outcomes), outcomes
    assert {o.name: o.tag for o in outcomes if o.name != "base"} == {
        "replog": built["replog"],
        "toxiproxy": built["toxiproxy"],
    }
    assert images.image_tag("replog") == built["replog"]


def test_images_carry_their_labels_and_no_run_label(
    client: docker.DockerClient, built: dict[str, str]
) -> None:
    for name in ("toxiproxy", "replog"):
        labels = client.images.get(built[name]).labels
        assert labels[LABEL_IMAGE] == name
        assert len(labels[LABEL_INPUTS]) == 64
        assert labels[LABEL_SOURCE] in ("built", "wrapped")
        assert "floodmark.run" not in labels
    latest = client.images.get("floodmark/replog:latest")
    assert latest.id == client.images.get(built["replog"]).id


def test_replog_image_has_fuse_faketime_and_the_code(
    client: docker.DockerClient, built: dict[str, str]
) -> None:
    out = run_in(
        client,
        built["replog"],
        "python3 -c 'import fusepy; print(\"fusepy\", fusepy.FUSE.__name__)' && "
        "command -v fusermount3 && dpkg -L libfaketime | grep 'libfaketime.so.1$' && "
        "test -x /opt/floodmark/agent/entrypoint.sh && "
        "PYTHONPATH=/opt python3 -c 'import replog; print(replog.__file__)' && ps --version",
    )
    assert "fusepy FUSE" in out
    assert "/fusermount3" in out
    assert "faketime/libfaketime.so.1" in out
    assert "/opt/replog/__init__.py" in out
    config = client.images.get(built["replog"]).attrs["Config"]
    assert config["Entrypoint"] == ["/opt/floodmark/agent/entrypoint.sh"]
    assert config["Cmd"][:3] == ["python3", "-m", "replog.broker"]
    assert "PYTHONPATH=/opt" in config["Env"]


def test_base_image_is_bookworm_with_apt(
    client: docker.DockerClient, built: dict[str, str]
) -> None:
    out = run_in(client, built["base"], ". /etc/os-release && echo $VERSION_CODENAME && apt-get -v")
    assert out.splitlines()[0] == "bookworm"
    assert "apt " in out


def test_toxiproxy_image_serves_its_api(client: docker.DockerClient, built: dict[str, str]) -> None:
    container: Container = client.containers.run(
        built["toxiproxy"],
        detach=True,
        labels={"floodmark.run": RUN_ID},
        ports={"8474/tcp": ("127.0.0.1", 0)},  # 0: any free port
    )
    try:
        deadline = time.monotonic() + 20
        version = None
        while version is None:
            container.reload()
            bindings = container.ports.get("8474/tcp") or []
            if bindings:
                url = f"http://127.0.0.1:{bindings[0]['HostPort']}/version"
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        version = json.loads(r.read())["version"]
                except OSError:
                    pass
            if version is None:
                assert time.monotonic() < deadline, container.logs().decode()[-2000:]
                time.sleep(0.2)
        assert version == "2.12.0"
    finally:
        container.remove(force=True)


class Sandbox:
    """A scratch repository root for test specs; their images are removed afterwards."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.repositories: list[str] = []
        monkeypatch.setattr(images, "ROOT", root)

    def repository(self, what: str) -> str:
        repo = f"floodmark/test-{what}-{uuid.uuid4().hex[:8]}"
        self.repositories.append(repo)
        return repo

    def register(self, spec: ImageSpec) -> ImageSpec:
        self.monkeypatch.setitem(images.IMAGES, spec.name, spec)
        return spec

    def cleanup(self) -> None:
        api = engine.connect()
        for repo in self.repositories:
            for img in api.images(name=repo):
                for ref in img.get("RepoTags") or []:
                    api.remove_image(ref, force=True)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "repo", monkeypatch)
    (box.root / "img").mkdir(parents=True)
    (box.root / "img" / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    (box.root / "img" / "hello.txt").write_text("one\n")
    try:
        yield box
    finally:
        box.cleanup()


@pytest.fixture
def scratch_spec(sandbox: Sandbox) -> ImageSpec:
    """A tiny FROM-scratch image registered for one test."""
    return sandbox.register(
        ImageSpec(
            name="scratch-test",
            repository=sandbox.repository("scratch"),
            context={"Dockerfile": "img/Dockerfile", "hello.txt": "img/hello.txt"},
        )
    )


def test_a_changed_input_rebuilds_and_an_unchanged_one_does_not(
    client: docker.DockerClient, scratch_spec: ImageSpec
) -> None:
    name = scratch_spec.name
    (first,) = images.ensure([name], console=QUIET)
    assert first.built and first.tag.startswith(f"{scratch_spec.repository}:")
    (again,) = images.ensure([name], console=QUIET)
    assert not again.built and again.image_id == first.image_id
    (images.ROOT / "img" / "hello.txt").write_text("two\n")
    (changed,) = images.ensure([name], console=QUIET)
    assert changed.built and changed.tag != first.tag and changed.image_id != first.image_id
    img = client.images.get(f"{scratch_spec.repository}:latest")
    assert img.id == changed.image_id
    assert img.labels[LABEL_IMAGE] == name


def test_a_failing_step_is_named(scratch_spec: ImageSpec) -> None:
    (images.ROOT / "img" / "Dockerfile").write_text("FROM scratch\nCOPY missing.txt /x\n")
    with pytest.raises(images.ImageError) as failure:
        images.ensure([scratch_spec.name], console=QUIET)
    message = str(failure.value)
    assert "building image 'scratch-test' failed at step: Step 2/" in message
    assert "missing.txt" in message
    assert "full log:" in message and "what to do:" in message


def test_prune_removes_older_inputs_only(
    client: docker.DockerClient, scratch_spec: ImageSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "IMAGES", {scratch_spec.name: scratch_spec})
    (old,) = images.ensure([scratch_spec.name], console=QUIET)
    (images.ROOT / "img" / "hello.txt").write_text("newer\n")
    (new,) = images.ensure([scratch_spec.name], console=QUIET)
    assert old.image_id != new.image_id
    images.prune(engine.connect(), QUIET)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(old.image_id)
    assert client.images.get(new.tag).id == new.image_id


@pytest.fixture
def upstream(client: docker.DockerClient, sandbox: Sandbox, tmp_path: Path) -> str:
    """A local image standing in for a registry's (no registry answers here)."""
    ctx = tmp_path / "upstream"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("upstream\n")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY hello.txt /\nCMD ["/upstream"]\n')
    ref = f"{sandbox.repository('upstream')}:1"
    client.images.build(path=str(ctx), tag=ref, rm=True)
    return ref


def test_a_pulled_upstream_is_wrapped_with_labels(
    client: docker.DockerClient,
    sandbox: Sandbox,
    upstream: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pulled: list[str] = []

    def fake_pull(ref: str, log: object) -> bool:
        pulled.append(ref)
        return True

    monkeypatch.setattr(engine, "try_pull", fake_pull)
    spec = sandbox.register(
        ImageSpec(
            name="wrap-test",
            repository=sandbox.repository("wrap"),
            tag="1",
            upstream=upstream,
            context={"Dockerfile": "img/Dockerfile", "hello.txt": "img/hello.txt"},
        )
    )
    (outcome,) = images.ensure([spec.name], console=QUIET)
    assert outcome.built and pulled == [upstream]
    img = client.images.get(outcome.tag)
    assert img.labels[LABEL_SOURCE] == "wrapped"
    assert img.attrs["Config"]["Cmd"] == ["/upstream"]  # upstream's image, not our Dockerfile
    (again,) = images.ensure([spec.name], console=QUIET)
    assert not again.built and pulled == [upstream]


def test_an_upstream_image_under_its_own_name_is_used_as_is(
    sandbox: Sandbox, upstream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pull(ref: str, log: object) -> bool:
        raise AssertionError(f"pulled {ref} although it was there")

    monkeypatch.setattr(engine, "try_pull", no_pull)
    repo, tag = engine.split_ref(upstream)
    spec = sandbox.register(
        ImageSpec(
            name="as-is-test",
            repository=repo,
            tag=tag,
            upstream=upstream,
            context={"Dockerfile": "img/Dockerfile", "hello.txt": "img/hello.txt"},
        )
    )
    (outcome,) = images.ensure([spec.name], console=QUIET)
    assert not outcome.built and outcome.tag == upstream


@pytest.mark.slow
def test_go_fallback_builds_a_static_toxiproxy(tmp_path: Path, client: docker.DockerClient) -> None:
    """The no-registry path of the toxiproxy image, run on purpose."""
    offline.go_install_toxiproxy(tmp_path, _ListLog())
    binary = tmp_path / "toxiproxy"
    assert binary.is_file()
    assert b"/lib64/ld-linux" not in binary.read_bytes()[:4096]  # no ELF interpreter: static
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY toxiproxy /toxiproxy\n")
    tag = f"floodmark/test-toxiproxy:{uuid.uuid4().hex[:8]}"
    # The binary is reproducible (-trimpath), so this build may reuse the layer of
    # floodmark/toxiproxy: remove only our tag afterwards.
    client.images.build(path=str(tmp_path), tag=tag, rm=True)
    try:
        out = client.containers.run(
            tag,
            ["-version"],
            entrypoint=["/toxiproxy"],
            remove=True,
            labels={"floodmark.run": RUN_ID},
        )
        assert b"2.12.0" in out
    finally:
        client.images.remove(tag)


@pytest.mark.slow
def test_debootstrap_fallback_builds_a_working_base(
    tmp_path: Path, client: docker.DockerClient
) -> None:
    """The no-registry path of the base image, run on purpose into a test tag."""
    spec = images.IMAGES["base"]
    (tmp_path / "trim.sh").write_bytes((images.ROOT / spec.context["trim.sh"]).read_bytes())
    tag = f"floodmark/test-base:{uuid.uuid4().hex[:8]}"
    log = _ListLog()
    job = BuildJob(spec, tmp_path, (tag,), {LABEL_IMAGE: "test-base"}, log)
    image_id = offline.debootstrap_base(job)
    try:
        out = run_in(
            client,
            tag,
            "test ! -e /usr/share/man/man1 && ls /var/lib/apt/lists | wc -l && apt-get -v",
        )
        assert out.splitlines()[0] == "0"  # apt lists trimmed
        assert client.images.get(tag).labels[LABEL_IMAGE] == "test-base"
        assert client.images.get(tag).attrs["Size"] < 150 * 1024 * 1024
    finally:
        client.images.remove(image_id, force=True)


class _ListLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)

    def status(self, text: str) -> None:
        self.lines.append(f"== {text}")
