"""Hashing and staging an image's inputs.

The inputs hash is a sha256 over a canonical listing, one line per item, sorted:

    file <path in context> <x|-> <sha256 of content>
    arg <name>=<value>
    recipe <name>=<value>
    base <image id>
    upstream <reference>

so it changes when a file's content, name or executable bit changes, when a file is added
or removed, or when an argument, recipe entry or the base image changes, and is stable
otherwise: it does not depend on where the repository is checked out, on timestamps, or on
caches such as ``__pycache__``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec

P = ParamSpec("P")

IGNORED = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    ".pytest_cache",
    ".mypy_cache",
    "*.egg-info",
    ".DS_Store",
)
"""Names skipped when a folder is part of a context (they are caches, not inputs)."""


class InputError(ValueError):
    """An image declares an input that is not there."""


@dataclass(frozen=True, slots=True)
class ContextFile:
    """One file of a build context: where it goes in the context and where it comes from."""

    dest: str
    source: Path

    @property
    def executable(self) -> bool:
        return bool(self.source.stat().st_mode & stat.S_IXUSR)


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED)


def context_files(root: Path, context: Mapping[str, str], *, image: str = "?") -> list[ContextFile]:
    """Every file of a context, sorted by destination; folders are walked, caches skipped."""
    files: list[ContextFile] = []
    for dest, rel in context.items():
        source = root / rel
        if source.is_file():
            files.append(ContextFile(dest, source))
        elif source.is_dir():
            for dirpath, dirnames, filenames in os.walk(source):
                dirnames[:] = sorted(d for d in dirnames if not _ignored(d))
                for filename in filenames:
                    if _ignored(filename):
                        continue
                    path = Path(dirpath) / filename
                    files.append(ContextFile(f"{dest}/{path.relative_to(source).as_posix()}", path))
        else:
            raise InputError(
                f"image {image!r} declares the input {rel!r} (as {dest!r} in its build "
                f"context), but {source} does not exist; create it or fix the image's spec "
                "in compose/images.py"
            )
    files.sort(key=lambda f: f.dest)
    dests = [f.dest for f in files]
    if len(set(dests)) != len(dests):
        dupes = sorted({d for d in dests if dests.count(d) > 1})
        raise InputError(f"image {image!r}: several inputs land on {dupes} in the build context")
    return files


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def listing(
    root: Path,
    context: Mapping[str, str],
    *,
    build_args: Mapping[str, str] | None = None,
    recipe: Mapping[str, str] | None = None,
    base_id: str | None = None,
    upstream: str | None = None,
    image: str = "?",
) -> Iterator[str]:
    """The canonical lines the hash is taken over (useful to see why a hash changed)."""
    for f in context_files(root, context, image=image):
        yield f"file {f.dest} {'x' if f.executable else '-'} {_file_digest(f.source)}"
    for k, v in sorted((build_args or {}).items()):
        yield f"arg {k}={v}"
    for k, v in sorted((recipe or {}).items()):
        yield f"recipe {k}={v}"
    if base_id is not None:
        yield f"base {base_id}"
    if upstream is not None:
        yield f"upstream {upstream}"


def _sha256_of_lines(lines: Callable[P, Iterable[str]]) -> Callable[P, str]:
    """A function that takes what ``lines`` takes and returns the sha256 (hex) of the
    lines it yields, each ended by a newline."""

    def digest(*args: P.args, **kwargs: P.kwargs) -> str:
        h = hashlib.sha256()
        for line in lines(*args, **kwargs):
            h.update(line.encode("utf-8") + b"\n")
        return h.hexdigest()

    return digest


inputs_hash = _sha256_of_lines(listing)
"""sha256 (hex) of `listing`, called with the same arguments: the image's inputs hash."""


def stage(root: Path, context: Mapping[str, str], dest_dir: Path, *, image: str = "?") -> None:
    """Copy a context into ``dest_dir`` (mode bits kept, caches left out)."""
    for f in context_files(root, context, image=image):
        target = dest_dir / f.dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f.source, target)
