"""floodmark's images: one registry, built only when their inputs change.

``IMAGES`` maps a name to an `ImageSpec` (compose/spec.py tells how a spec is built).
`ensure_images` makes sure each named image (and the images it is built ``FROM``) exists
for the current inputs and returns their tags; it builds nothing when every image with the
right ``floodmark.inputs`` label is already there, so calling it at the start of every run
costs a few inspects. `image_tag` gives an image's tag without building.

Images carry ``floodmark.image=<name>`` (never ``floodmark.run``: they are cached across
runs and ``floodmark clean`` leaves them).

    $ python -m compose.images build base toxiproxy replog
    $ python -m compose.images list
    $ python -m compose.images prune   # drop images of older inputs

Adding an image is one entry in ``IMAGES`` (e.g. ``"kafka": compose.kafka.image.SPEC``,
with the spec defined beside its Dockerfile). Families of images, one per variant, are
named ``<family>@<variant>`` and made by a function in ``VARIANTS``: every Kafka release
(``kafka@4.1.1``) and user distribution (``kafka-dist@/path``) is its own image, cached
like the others (`compose.kafka.image.spec_for`)::

    $ python -m compose.images build kafka@4.1.1
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from rich.console import Console
from rich.errors import LiveError
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from compose import engine, inputs, offline
from compose.engine import DockerUnavailable, StepFailed
from compose.kafka import image as kafka_image
from compose.spec import LABEL_IMAGE, LABEL_INPUTS, LABEL_SOURCE, BuildJob, ImageSpec

ROOT = Path(__file__).resolve().parents[1]
"""The repository: context paths in specs are relative to it."""
LOG_DIR = ROOT / ".cache" / "images"
LOCK_PATH = Path(tempfile.gettempdir()) / "floodmark-images.lock"
"""One build at a time per machine (the engine is shared by every checkout)."""

IMAGES: dict[str, ImageSpec] = {
    "base": ImageSpec(
        name="base",
        repository="debian",
        tag="bookworm-slim",
        upstream="debian:bookworm-slim",
        context={"trim.sh": "compose/base/trim.sh"},
        recipe={"suite": "bookworm", "variant": "minbase", "cmd": '["bash"]'},
        builder=offline.debootstrap_base,
    ),
    "toxiproxy": ImageSpec(
        name="toxiproxy",
        repository="floodmark/toxiproxy",
        tag=offline.TOXIPROXY_VERSION,
        upstream=f"ghcr.io/shopify/toxiproxy:{offline.TOXIPROXY_VERSION}",
        context={"Dockerfile": "compose/toxiproxy/Dockerfile"},
        recipe={"module": f"{offline.TOXIPROXY_MODULE}/cmd/server@v{offline.TOXIPROXY_VERSION}"},
        prepare=offline.go_install_toxiproxy,
    ),
    "replog": ImageSpec(
        name="replog",
        repository="floodmark/replog",
        base="base",
        context={
            "Dockerfile": "compose/replog/Dockerfile",
            "replog": "replog",
            "agent": "faults/agent",
        },
    ),
    "kafka": kafka_image.SPEC,
}

VARIANTS: tuple[Callable[[str], ImageSpec | None], ...] = (kafka_image.spec_for,)
"""Makers of ``<family>@<variant>`` specs: each returns None for a name it does not
make, raises ValueError (with what to do) for one of its names it cannot build."""


class ImageError(RuntimeError):
    """An image could not be made or named; the message says which, where and what to do."""


class UnknownImage(ImageError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `ensure_images` did for one image."""

    name: str
    tag: str
    image_id: str
    built: bool
    seconds: float


def _spec(name: str) -> ImageSpec:
    if name in IMAGES:
        return IMAGES[name]
    for make in VARIANTS:
        try:
            spec = make(name)
        except ValueError as e:
            raise ImageError(str(e)) from None
        if spec is not None:
            return spec
    raise UnknownImage(
        f"no image named {name!r}; known images: {', '.join(sorted(IMAGES))} "
        "(and kafka@<version>, kafka-dist@<path>)"
    )


def _flat(name: str) -> str:
    """An image name as a file name (a variant's name may hold a path)."""
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", name).strip("_")


def _log_path(name: str) -> Path:
    """The build log of image ``name``."""
    return LOG_DIR / f"{_flat(name)}.log"


def _with_dependencies(names: Sequence[str]) -> list[str]:
    """The names plus the images they are built from, dependencies first."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ImageError(
                f"images depend on each other in a cycle: {' -> '.join((*path, name))}"
            )
        spec = _spec(name)
        if spec.base is not None:
            visit(spec.base, (*path, name))
        if name not in ordered:
            ordered.append(name)

    for n in names:
        visit(n, ())
    return ordered


def _hash(spec: ImageSpec, base_id: str | None) -> str:
    return inputs.inputs_hash(
        ROOT,
        spec.context,
        build_args=spec.build_args,
        recipe=spec.recipe,
        base_id=base_id,
        upstream=spec.upstream,
        image=spec.name,
    )


def _base_id(api: docker.APIClient, spec: ImageSpec) -> str | None:
    if spec.base is None:
        return None
    base_tag = image_tag(spec.base, api=api)
    found = engine.inspect(api, base_tag)
    if found is None:
        raise ImageError(
            f"image {spec.name!r} is built from {base_tag} ({spec.base!r}), which does not "
            f"exist yet; build it first: ensure_images([{spec.base!r}]) or "
            f"`python -m compose.images build {spec.base}`"
        )
    return str(found["Id"])


def image_tag(name: str, *, api: docker.APIClient | None = None) -> str:
    """The tag of image ``name`` for the current inputs (it may not be built yet).

    Images tagged by their input hash need their base image to exist (its id is an input).
    """
    spec = _spec(name)
    if spec.tag is not None:
        return f"{spec.repository}:{spec.tag}"
    api = api or engine.connect()
    return spec.tags_for(_hash(spec, _base_id(api, spec)))[0]


def _up_to_date(
    api: docker.APIClient, spec: ImageSpec, tags: tuple[str, ...], h: str
) -> str | None:
    """The id of an existing image good for these inputs, its extra tags fixed up; else None."""
    found = engine.inspect(api, tags[0])
    if found is None:
        return None
    labels = engine.labels_of(found)
    pulled_as_is = spec.upstream == tags[0] and LABEL_IMAGE not in labels
    if labels.get(LABEL_INPUTS) != h and not pulled_as_is:
        return None
    image_id = str(found["Id"])
    for ref in tags[1:]:
        other = engine.inspect(api, ref)
        if other is None or other["Id"] != image_id:
            engine.tag(api, image_id, ref)
    return image_id


def _make(
    api: docker.APIClient,
    spec: ImageSpec,
    tags: tuple[str, ...],
    h: str,
    log: engine.FileLog,
    nocache: bool,
) -> str:
    labels = {LABEL_IMAGE: spec.name, LABEL_INPUTS: h}
    with tempfile.TemporaryDirectory(prefix=f"floodmark-{_flat(spec.name)}-") as tmp:
        context = Path(tmp)
        inputs.stage(ROOT, spec.context, context, image=spec.name)
        if spec.upstream is not None and engine.try_pull(spec.upstream, log):
            if spec.upstream == tags[0]:
                found = engine.inspect(api, tags[0])
                assert found is not None  # try_pull checked it
                return str(found["Id"])
            job = BuildJob(spec, context, tags, {**labels, LABEL_SOURCE: "wrapped"}, log, nocache)
            return engine.wrap_upstream(api, job, spec.upstream)
        source = "built" if spec.builder is None else "imported"
        job = BuildJob(spec, context, tags, {**labels, LABEL_SOURCE: source}, log, nocache)
        if spec.prepare is not None:
            spec.prepare(context, log)
        if spec.builder is not None:
            return spec.builder(job)
        return engine.build_dockerfile(api, job)


@contextmanager
def _machine_lock(progress: _Display) -> Iterator[None]:
    with LOCK_PATH.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress.note("another process is building images; waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _Display:
    """Progress: a live spinner per image on a terminal, plain status lines elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[image]:<10}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._last: dict[TaskID, str] = {}

    def __enter__(self) -> _Display:
        if self.live:
            try:
                self.progress.start()
            except LiveError:  # the caller shows its own live display: print lines instead
                self.live = False
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def task(self, name: str) -> TaskID:
        return self.progress.add_task("checking", image=name, total=1)

    def status(self, task: TaskID, text: str, *, done: bool = False) -> None:
        short = text if len(text) <= 90 else text[:87] + "..."
        if self.live:
            self.progress.update(task, description=short, completed=1 if done else 0)
        elif self._last.get(task) != short:
            self._last[task] = short
            name = self.progress.tasks[task].fields["image"]
            self.console.print(f"[{name}] {short}", markup=False, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)


def ensure_images(names: list[str], *, console: Console | None = None) -> dict[str, str]:
    """Make sure the named images (and their bases) exist for the current inputs.

    Returns name -> canonical tag for every name asked. Raises `ImageError` (which image,
    which step, the last lines of output, the log file, what to do) or `DockerUnavailable`.
    """
    return {o.name: o.tag for o in ensure(names, console=console) if o.name in names}


def ensure(
    names: Sequence[str], *, console: Console | None = None, force: bool = False
) -> list[Outcome]:
    """`ensure_images` with what happened to each image (dependencies included).

    ``force`` rebuilds the named images (not their bases) without Docker's layer cache."""
    order = _with_dependencies(names)
    api = engine.connect()
    outcomes: list[Outcome] = []
    with _Display(console or Console(stderr=True)) as display, _machine_lock(display):
        for name in order:
            spec = _spec(name)
            task = display.task(name)
            start = time.monotonic()
            try:
                h = _hash(spec, _base_id(api, spec))
            except inputs.InputError as e:
                display.status(task, "FAILED", done=True)
                raise ImageError(str(e)) from e  # it says which input and what to do
            tags = spec.tags_for(h)
            rebuild = force and name in names
            image_id = None if rebuild else _up_to_date(api, spec, tags, h)
            built = image_id is None
            if image_id is None:
                log_path = _log_path(name)
                log = engine.FileLog(log_path, functools.partial(display.status, task))
                try:
                    image_id = _make(api, spec, tags, h, log, nocache=rebuild)
                except StepFailed as e:
                    display.status(task, f"FAILED at {e.step}", done=True)
                    raise ImageError(_failure(name, e, log)) from e
                except (docker.errors.DockerException, OSError, inputs.InputError) as e:
                    display.status(task, "FAILED", done=True)
                    failed = StepFailed("the build", f"{type(e).__name__}: {e}")
                    raise ImageError(_failure(name, failed, log)) from e
                finally:
                    log.close()
            seconds = time.monotonic() - start
            what = f"built {tags[0]} in {seconds:.1f} s" if built else f"up to date: {tags[0]}"
            display.status(task, what, done=True)
            outcomes.append(Outcome(name, tags[0], image_id, built, seconds))
    return outcomes


def _failure(name: str, e: StepFailed, log: engine.FileLog) -> str:
    tail = "\n".join(f"    {line}" for line in log.tail())
    hint = e.hint or "fix the cause and run `make images` again"
    return (
        f"building image {name!r} failed at step: {e.step}\n"
        f"  what happened: {e.detail}\n"
        f"  last lines of output:\n{tail}\n"
        f"  full log: {log.path}\n"
        f"  what to do: {hint}"
    )


def _cmd_list(api: docker.APIClient) -> int:
    console = Console()
    for name, spec in IMAGES.items():
        try:
            tag = image_tag(name, api=api)
            found = engine.inspect(api, tag)
            h = _hash(spec, _base_id(api, spec))
            state = (
                "missing"
                if found is None
                else ("up to date" if _up_to_date(api, spec, spec.tags_for(h), h) else "stale")
            )
        except ImageError as e:
            tag, state = f"{spec.repository}:?", f"unknown ({e})"
        console.print(f"{name:<10} {tag:<40} {state}", markup=False, highlight=False)
    return 0


def prune(api: docker.APIClient, console: Console) -> int:
    """Remove images made for a registered name that are not its current image (older
    input hashes, replaced fixed tags). Images a container still uses are kept, and so are
    images tagged outside the spec's repository (someone else's tags)."""
    current: set[str] = set()
    for name, spec in IMAGES.items():
        try:
            found = engine.inspect(api, image_tag(name, api=api))
        except ImageError:
            continue
        if found is not None:
            current.add(str(found["Id"]))
        if spec.base is not None and (base := engine.inspect(api, image_tag(spec.base, api=api))):
            current.add(str(base["Id"]))
    removed = 0
    for img in api.images(filters={"label": LABEL_IMAGE}):
        label = str((img.get("Labels") or {}).get(LABEL_IMAGE))
        owner = IMAGES.get(label) or _variant_owner(api, label, current)
        if owner is None or img["Id"] in current:
            continue
        # Only images floodmark named itself: every tag in the spec's repository (or none).
        tags = [t for t in img.get("RepoTags") or [] if t != "<none>:<none>"]
        if any(engine.split_ref(t)[0] != owner.repository for t in tags):
            continue
        refs = ", ".join(img.get("RepoTags") or []) or img["Id"][:19]
        try:
            api.remove_image(img["Id"], force=False)
        except docker.errors.APIError as e:
            console.print(f"kept {refs}: {e.explanation}", markup=False, highlight=False)
            continue
        removed += 1
        console.print(f"removed {refs}", markup=False, highlight=False)
    console.print(f"pruned {removed} image(s)", markup=False, highlight=False)
    return 0


def _variant_owner(api: docker.APIClient, name: str, current: set[str]) -> ImageSpec | None:
    """The spec of a variant image's name, its current image added to ``current``; None
    (keep the image) when the name cannot be made now (a distribution moved away)."""
    try:
        spec = _spec(name)
        found = engine.inspect(api, image_tag(name, api=api))
    except ImageError:
        return None
    if found is not None:
        current.add(str(found["Id"]))
    return spec


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m compose.images", description="Build floodmark's images when stale."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="make sure images exist for the current inputs")
    build.add_argument(
        "names", nargs="*", metavar="NAME", help=f"default: all ({', '.join(IMAGES)})"
    )
    build.add_argument(
        "--force",
        action="store_true",
        help="rebuild the named images even when up to date, without the layer cache",
    )
    sub.add_parser("list", help="show every image's tag and whether it is up to date")
    sub.add_parser("prune", help="remove floodmark images older than the current ones")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(engine.connect())
        if args.command == "prune":
            return prune(engine.connect(), Console(stderr=True))
        names = list(args.names) or list(IMAGES)
        for n in names:
            _spec(n)
        started = time.monotonic()
        outcomes = ensure(names, force=args.force)
        built = sum(o.built for o in outcomes)
        print(
            f"images: {len(outcomes)} ready, {built} built, in {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
    except UnknownImage as e:
        parser.error(str(e))
    except (ImageError, DockerUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
