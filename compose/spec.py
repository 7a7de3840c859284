"""What an image is made of: `ImageSpec`, the value each entry of `compose.images.IMAGES` holds.

An image is identified by the hash of its *inputs*: the files of its build context (path,
executable bit, content), its build arguments, its recipe strings (versions of what a
`prepare` step or a custom builder fetches), its upstream reference and the id of the image
it is built ``FROM``. The hash is stored on the image as the label ``floodmark.inputs``;
an image whose tag exists with that label is up to date and is not rebuilt.

How an image comes to be, in order:

1. ``upstream`` (optional): a registry reference tried with ``docker pull`` first. When the
   pull works and ``upstream`` is the image's own tag (``debian:bookworm-slim``) the pulled
   image is used as is; otherwise it is wrapped by a one-line ``FROM <upstream>`` build that
   only adds floodmark's labels and tags.
2. ``prepare`` (optional): runs on the host before the build, with the staged build context
   (a temporary copy of ``context``) to add files to, e.g. a binary built with Go or jars
   resolved with Maven. It must depend only on the declared inputs (files and ``recipe``),
   since only those enter the hash.
3. ``builder``: ``None`` for an ordinary ``docker build`` of ``dockerfile`` in the staged
   context; or a callable that makes the image some other way (the base image is made
   with debootstrap and ``docker import``).

A spec whose ``tag`` is ``None`` is tagged ``<repository>:<first 12 hex of the hash>``
and ``<repository>:latest``; with a ``tag_prefix`` (one repository, several variants: the
Kafka releases) ``<repository>:<prefix><12 hex>`` and ``<repository>:<prefix less its
trailing dash>``, e.g. ``floodmark/kafka:4.1.1-3fa2c0d19b7e`` and ``floodmark/kafka:4.1.1``.

Example (the shape the Kafka image takes)::

    ImageSpec(
        name="kafka",
        repository="floodmark/kafka",
        context={"Dockerfile": "compose/kafka/Dockerfile", "jars.txt": "compose/kafka/jars.txt"},
        recipe={"kafka": "3.7.0"},
        prepare=resolve_jars,  # (staged_context: Path, log: BuildLog) -> None
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

LABEL_IMAGE = "floodmark.image"
"""Label naming the registry entry an image was made for (never ``floodmark.run``:
images are cached across runs and ``floodmark clean`` leaves them)."""
LABEL_INPUTS = "floodmark.inputs"
"""Label holding the sha256 of the image's inputs."""
LABEL_SOURCE = "floodmark.source"
"""Label saying how the image was made: ``built``, ``imported`` or ``wrapped`` (a pulled
upstream image with floodmark's labels added)."""


class BuildLog(Protocol):
    """Where a build step reports: every line goes to the image's log file, and a short
    status line to the progress display."""

    def line(self, text: str) -> None:
        """One line of tool output (kept in the log; the last lines appear in errors)."""

    def status(self, text: str) -> None:
        """What the build is doing now, in a few words (shown as progress)."""


@dataclass(frozen=True, slots=True)
class BuildJob:
    """Everything a builder needs: where the staged context is, what to tag, which labels."""

    spec: ImageSpec
    context_dir: Path
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    log: BuildLog
    nocache: bool = False


Prepare = Callable[[Path, BuildLog], None]
"""A host step run before the build: (staged context directory, log) -> None."""
Builder = Callable[[BuildJob], str]
"""A custom builder: makes the image, tags it with every tag of the job and the labels,
and returns the image id."""


def _frozen(m: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One image floodmark can make (see the module docstring for the build order).

    ``context`` maps a path inside the build context to a file or folder of the
    repository (relative to its root); folders are copied whole, less caches
    (``__pycache__``, ``*.pyc``, ...).
    """

    name: str
    repository: str
    context: Mapping[str, str] = field(default_factory=_frozen)
    tag: str | None = None
    tag_prefix: str = ""
    dockerfile: str = "Dockerfile"
    build_args: Mapping[str, str] = field(default_factory=_frozen)
    recipe: Mapping[str, str] = field(default_factory=_frozen)
    base: str | None = None
    upstream: str | None = None
    prepare: Prepare | None = None
    builder: Builder | None = None

    def __post_init__(self) -> None:
        # Freeze the mappings so a spec really is a value.
        object.__setattr__(self, "context", _frozen(self.context))
        object.__setattr__(self, "build_args", _frozen(self.build_args))
        object.__setattr__(self, "recipe", _frozen(self.recipe))
        if self.builder is None and self.dockerfile not in self.context:
            raise ValueError(
                f"image spec {self.name!r}: its Dockerfile {self.dockerfile!r} is not in its "
                f"context {sorted(self.context)}; add it there (e.g. "
                f'"Dockerfile": "compose/{self.name}/Dockerfile") or give a builder'
            )

    def tags_for(self, inputs_hash: str) -> tuple[str, ...]:
        """The tags an image with these inputs carries; the first is the canonical one."""
        if self.tag is not None:
            return (f"{self.repository}:{self.tag}",)
        moving = self.tag_prefix.rstrip("-") or "latest"
        return (
            f"{self.repository}:{self.tag_prefix}{inputs_hash[:12]}",
            f"{self.repository}:{moving}",
        )
