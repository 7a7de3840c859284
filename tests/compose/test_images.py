"""The image registry without Docker: naming, ordering, specs, mirror discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from compose import engine, images, offline
from compose.spec import ImageSpec


def test_dependencies_come_first_once() -> None:
    assert images._with_dependencies(["replog"]) == ["base", "replog"]
    assert images._with_dependencies(["replog", "base", "toxiproxy"]) == [
        "base",
        "replog",
        "toxiproxy",
    ]


def test_unknown_image_lists_the_known_ones() -> None:
    with pytest.raises(images.UnknownImage, match=r"no image named 'nope'; known images: .*replog"):
        images.ensure_images(["nope"])


def test_cycles_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = {"Dockerfile": "compose/replog/Dockerfile"}
    monkeypatch.setitem(images.IMAGES, "a", ImageSpec("a", "t/a", ctx, base="b"))
    monkeypatch.setitem(images.IMAGES, "b", ImageSpec("b", "t/b", ctx, base="a"))
    with pytest.raises(images.ImageError, match="cycle: a -> b -> a"):
        images._with_dependencies(["a"])


def test_fixed_and_hashed_tags() -> None:
    assert images.image_tag("base") == "debian:bookworm-slim"
    assert images.image_tag("toxiproxy") == "floodmark/toxiproxy:2.12.0"
    spec = images.IMAGES["replog"]
    digest = "ab" * 32
    assert spec.tags_for(digest) == (f"floodmark/replog:{'ab' * 6}", "floodmark/replog:latest")


def test_a_spec_without_its_dockerfile_is_refused() -> None:
    with pytest.raises(ValueError, match="Dockerfile 'Dockerfile' is not in its context"):
        ImageSpec("x", "t/x", {"app": "replog"})


def test_specs_are_values() -> None:
    spec = images.IMAGES["replog"]
    with pytest.raises(TypeError):
        spec.context["extra"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("debian:bookworm-slim", ("debian", "bookworm-slim")),
        ("ghcr.io/shopify/toxiproxy:2.12.0", ("ghcr.io/shopify/toxiproxy", "2.12.0")),
        ("localhost:5000/x", ("localhost:5000/x", "latest")),
        ("busybox", ("busybox", "latest")),
    ],
)
def test_split_ref(ref: str, expected: tuple[str, str]) -> None:
    assert engine.split_ref(ref) == expected


def test_mirror_from_deb822_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOODMARK_DEBIAN_MIRROR", raising=False)
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
    )
    paths = (tmp_path / "sources.list", d)
    assert offline.debian_mirror(paths) == "http://mirror.example/debian"
    assert offline.security_mirror(paths) == "http://mirror.example/debian-security"


def test_mirror_from_one_line_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOODMARK_DEBIAN_MIRROR", raising=False)
    lst = tmp_path / "sources.list"
    lst.write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] https://other.example/apt stable main\n"
        "deb http://ftp.example/debian bookworm main\n"
    )
    paths = (lst, tmp_path / "none.d")
    assert offline.debian_mirror(paths) == "http://ftp.example/debian"
    assert offline.security_mirror(paths) == offline.DEFAULT_SECURITY_MIRROR


def test_mirror_defaults_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOODMARK_DEBIAN_MIRROR", raising=False)
    assert offline.debian_mirror((tmp_path / "missing",)) == offline.DEFAULT_MIRROR
    monkeypatch.setenv("FLOODMARK_DEBIAN_MIRROR", "http://mine.example/debian/")
    assert offline.debian_mirror((tmp_path / "missing",)) == "http://mine.example/debian"


def test_cli_refuses_unknown_images(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        images.main(["build", "nope"])
    assert exit_info.value.code == 2
    assert "no image named 'nope'" in capsys.readouterr().err
