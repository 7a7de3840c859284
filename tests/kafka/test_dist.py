"""compose.kafka.dist and the image specs of releases and distributions: what a
``--kafka-dist`` may be, what it is refused for, and that its image is keyed by content."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from compose import images, inputs
from compose.kafka import dist, image, releases
from compose.kafka.dist import DistError


def jars(libs: Path, version: str = "4.1.1", extra: tuple[str, ...] = ()) -> Path:
    libs.mkdir(parents=True, exist_ok=True)
    for name in (f"kafka_2.13-{version}.jar", f"kafka-clients-{version}.jar", *extra):
        (libs / name).write_bytes(f"PK {name}".encode())
    return libs


def archive(path: Path, version: str = "4.1.1") -> Path:
    top = f"kafka_2.13-{version}"
    with tarfile.open(path, "w:gz") as tar:
        for name in (f"libs/kafka_2.13-{version}.jar", "libs/kafka-clients.jar", "bin/x.sh"):
            data = f"PK {name}".encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_an_unpacked_distribution_is_its_libs_folder(tmp_path: Path) -> None:
    jars(tmp_path / "kafka" / "libs", extra=("kafka_2.13-4.1.1-test.jar",))
    d = dist.inspect_dist(tmp_path / "kafka")
    assert d == dist.Dist(tmp_path / "kafka" / "libs", False, "4.1.1", "2.13")


def test_a_directory_of_jars_is_taken_as_it_is(tmp_path: Path) -> None:
    jars(tmp_path / "j", version="4.2.0-SNAPSHOT")
    d = dist.inspect_dist(tmp_path / "j")
    assert (d.path, d.archive, d.version) == (tmp_path / "j", False, "4.2.0-SNAPSHOT")


def test_an_archive_is_read_without_unpacking_and_unpacked_by_its_prepare_step(
    tmp_path: Path,
) -> None:
    tgz = archive(tmp_path / "kafka_2.13-4.1.1.tgz")
    d = dist.inspect_dist(tgz)
    assert (d.path, d.archive, d.version, d.scala) == (tgz, True, "4.1.1", "2.13")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / dist.ARCHIVE_NAME).write_bytes(tgz.read_bytes())
    dist.unpack_libs(ctx)
    assert sorted(p.name for p in (ctx / "libs").iterdir()) == [
        "kafka-clients.jar",
        "kafka_2.13-4.1.1.jar",
    ]
    assert not (ctx / dist.ARCHIVE_NAME).exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such file or directory; expected a Kafka distribution"),
        (lambda p: jars(p / "j", version="2.8.2").parent / "j", "needs ZooKeeper mode"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no Kafka broker jar"),
        (lambda p: jars(p / "two", extra=("kafka_2.12-4.1.1.jar",)), "several broker jars"),
        (lambda p: (p / "x.zip").write_bytes(b"PK") and p / "x.zip", "not a .tgz/.tar.gz"),
        (lambda p: (p / "x.tgz").write_bytes(b"junk") and p / "x.tgz", "cannot read it"),
    ],
    ids=["missing", "zookeeper-era", "no-broker-jar", "two-broker-jars", "zip", "corrupt"],
)
def test_what_cannot_run_is_refused_saying_what_was_expected(
    tmp_path: Path, make: object, message: str
) -> None:
    assert callable(make)
    with pytest.raises(DistError, match=message):
        dist.inspect_dist(make(tmp_path))


def test_a_distribution_image_is_keyed_by_its_content_not_its_path(tmp_path: Path) -> None:
    def inputs_hash(d: dist.Dist) -> str:
        spec = image.dist_spec(d)
        return inputs.inputs_hash(images.ROOT, spec.context, recipe=spec.recipe, base_id="b")

    a = dist.inspect_dist(jars(tmp_path / "a"))
    b = dist.inspect_dist(jars(tmp_path / "b"))
    assert inputs_hash(a) == inputs_hash(b)
    (tmp_path / "b" / "kafka-clients-4.1.1.jar").write_bytes(b"PK rebuilt")
    assert inputs_hash(a) != inputs_hash(b)
    spec = image.dist_spec(a)
    assert spec.tags_for("0" * 64) == ("floodmark/kafka:dist-000000000000", "floodmark/kafka:dist")
    assert spec.name == f"kafka-dist@{tmp_path / 'a'}" and spec.prepare is None


def test_a_release_image_is_keyed_by_its_version_and_tagged_with_it() -> None:
    a, b = (image.release_spec(releases.release(v)) for v in ("4.1.1", "3.9.2"))
    assert a.recipe["kafka"] == "4.1.1" and a.recipe["profiles"] == "log4j2"
    assert b.recipe["profiles"] == "log4j1"
    ha = inputs.inputs_hash(images.ROOT, a.context, recipe=a.recipe, base_id="b")
    hb = inputs.inputs_hash(images.ROOT, b.context, recipe=b.recipe, base_id="b")
    assert ha != hb
    assert a.tags_for(ha) == (f"floodmark/kafka:4.1.1-{ha[:12]}", "floodmark/kafka:4.1.1")


def test_image_names_resolve_to_their_specs_and_bad_ones_say_why(tmp_path: Path) -> None:
    assert images._spec("kafka") is image.SPEC
    assert image.SPEC.recipe["kafka"] == releases.DEFAULT_VERSION
    assert images._spec("kafka@4.1.1").recipe["kafka"] == "4.1.1"
    jars(tmp_path / "d" / "libs")
    assert images._spec(f"kafka-dist@{tmp_path / 'd'}").context["libs"] == str(
        tmp_path / "d" / "libs"
    )
    assert images._spec("kafka@0.10.2.2").recipe["profiles"] == "bundled,jaxb"
    with pytest.raises(images.ImageError, match=r"Kafka 9\.9\.9 is not a release"):
        images._spec("kafka@9.9.9")
    with pytest.raises(images.ImageError, match="no such file or directory"):
        images._spec(f"kafka-dist@{tmp_path / 'gone'}")
    with pytest.raises(images.UnknownImage, match="kafka@<version>"):
        images._spec("zookeeper@3.4")


def test_a_variant_with_a_path_gets_a_flat_build_log_name() -> None:
    assert images._log_path("kafka-dist@/home/u/k/libs").name == "kafka-dist@_home_u_k_libs.log"
    assert images._log_path("kafka@4.1.1").name == "kafka@4.1.1.log"
