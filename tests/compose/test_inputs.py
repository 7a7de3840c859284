"""Input hashing: the hash changes exactly when something that goes into the image does."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from compose import images, inputs

CONTEXT = {"Dockerfile": "img/Dockerfile", "pkg": "img/pkg", "run.sh": "img/run.sh"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "img" / "pkg" / "sub").mkdir(parents=True)
    (root / "img" / "Dockerfile").write_text("FROM scratch\nCOPY pkg /pkg\n")
    (root / "img" / "pkg" / "__init__.py").write_text("")
    (root / "img" / "pkg" / "mod.py").write_text("X = 1\n")
    (root / "img" / "pkg" / "sub" / "data.txt").write_text("data\n")
    (root / "img" / "run.sh").write_text('#!/bin/sh\nexec "$@"\n')
    (root / "img" / "run.sh").chmod(0o755)
    return root


def h(root: Path, **kw: object) -> str:
    return inputs.inputs_hash(root, CONTEXT, image="test", **kw)  # type: ignore[arg-type]


def test_stable_for_the_same_inputs_anywhere_and_anytime(tree: Path, tmp_path: Path) -> None:
    first = h(tree)
    assert first == h(tree)
    assert len(first) == 64 and int(first, 16) >= 0
    # another checkout of the same files: same hash
    copy = tmp_path / "elsewhere"
    shutil.copytree(tree, copy)
    assert h(copy) == first
    # timestamps are not inputs
    os.utime(tree / "img" / "pkg" / "mod.py", (1_000_000, 1_000_000))
    assert h(tree) == first


def test_caches_are_not_inputs(tree: Path) -> None:
    first = h(tree)
    cache = tree / "img" / "pkg" / "__pycache__"
    cache.mkdir()
    (cache / "mod.cpython-311.pyc").write_bytes(b"\x00\x01")
    (tree / "img" / "pkg" / "stray.pyc").write_bytes(b"\x00")
    (tree / "img" / "pkg" / ".mypy_cache").mkdir()
    assert h(tree) == first


@pytest.mark.parametrize(
    "change",
    [
        "content",
        "dockerfile",
        "new-file",
        "removed-file",
        "renamed-file",
        "exec-bit",
        "nested-content",
    ],
)
def test_changes_when_a_file_changes(tree: Path, change: str) -> None:
    before = h(tree)
    pkg = tree / "img" / "pkg"
    if change == "content":
        (pkg / "mod.py").write_text("X = 2\n")
    elif change == "dockerfile":
        (tree / "img" / "Dockerfile").write_text("FROM scratch\nCOPY pkg /opt/pkg\n")
    elif change == "new-file":
        (pkg / "new.py").write_text("")
    elif change == "removed-file":
        (pkg / "__init__.py").unlink()
    elif change == "renamed-file":
        (pkg / "mod.py").rename(pkg / "mod2.py")
    elif change == "exec-bit":
        (tree / "img" / "run.sh").chmod(0o644)
    elif change == "nested-content":
        (pkg / "sub" / "data.txt").write_text("data!\n")
    assert h(tree) != before, change


def test_changes_with_args_recipe_base_and_upstream(tree: Path) -> None:
    plain = h(tree)
    variants = {
        h(tree, build_args={"A": "1"}),
        h(tree, build_args={"A": "2"}),
        h(tree, recipe={"version": "1"}),
        h(tree, base_id="sha256:aaa"),
        h(tree, base_id="sha256:bbb"),
        h(tree, upstream="example/x:1"),
    }
    assert plain not in variants
    assert len(variants) == 6
    # the order a mapping was written in does not matter
    assert h(tree, build_args={"A": "1", "B": "2"}) == h(tree, build_args={"B": "2", "A": "1"})


def test_the_listing_explains_the_hash(tree: Path) -> None:
    lines = list(inputs.listing(tree, CONTEXT, recipe={"v": "1"}, base_id="sha256:x"))
    assert lines[0].startswith("file Dockerfile - ")
    assert any(line.startswith("file run.sh x ") for line in lines)
    assert any(line.startswith("file pkg/sub/data.txt - ") for line in lines)
    assert lines[-2:] == ["recipe v=1", "base sha256:x"]


def test_a_missing_input_names_the_image_and_the_path(tree: Path) -> None:
    with pytest.raises(inputs.InputError, match=r"image 'test' declares the input 'img/nope'"):
        inputs.inputs_hash(tree, {"x": "img/nope"}, image="test")


def test_two_inputs_on_one_destination_are_refused(tree: Path) -> None:
    with pytest.raises(inputs.InputError, match="several inputs land on"):
        inputs.inputs_hash(tree, {"pkg/mod.py": "img/run.sh", "pkg": "img/pkg"}, image="test")


def test_stage_copies_the_hashed_files_with_their_mode(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "ctx"
    out.mkdir()
    (tree / "img" / "pkg" / "__pycache__").mkdir()
    (tree / "img" / "pkg" / "__pycache__" / "m.pyc").write_bytes(b"x")
    inputs.stage(tree, CONTEXT, out, image="test")
    staged = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert staged == ["Dockerfile", "pkg/__init__.py", "pkg/mod.py", "pkg/sub/data.txt", "run.sh"]
    assert os.access(out / "run.sh", os.X_OK)
    # the staged context hashes like its source
    same = {k: k for k in CONTEXT}
    assert inputs.inputs_hash(out, same) == h(tree)


def test_every_registered_image_has_its_inputs_in_the_repository() -> None:
    for name, spec in images.IMAGES.items():
        digest = inputs.inputs_hash(images.ROOT, spec.context, recipe=spec.recipe, image=name)
        assert len(digest) == 64
