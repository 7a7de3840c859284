"""A user's own Kafka build as the system under test (``--kafka-dist PATH``).

Two shapes are accepted, both holding the broker jar ``kafka_<scala>-<version>.jar``:

- a distribution archive, ``kafka_2.13-4.1.1.tgz`` (``.tgz``/``.tar.gz``) as Kafka's
  build (``./gradlew releaseTarGz``) or its download page makes it: the jars under
  ``<top>/libs/``;
- a directory: a distribution unpacked (``<dir>/libs/*.jar``) or a directory of jars.

Its jars go into the same image layout as a release resolved from Maven Central
(``/opt/kafka/libs``), so the start script, the log dump and the faults work the same.
The image's inputs are the jars' (or the archive's) content, never its path: the same
build in another directory is the same image, and a rebuilt jar is a new one.
"""

from __future__ import annotations

import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from compose.kafka.releases import KRAFT_SINCE, UnsupportedRelease, version_key

BROKER_JAR: Final = re.compile(r"kafka_(?P<scala>\d+\.\d+)-(?P<version>\d[^/]*?)\.jar")
"""The broker jar; ``-test``, ``-sources``, ``-javadoc`` and ``-scaladoc`` jars are not it."""
NOT_BROKER: Final = ("-test.jar", "-sources.jar", "-javadoc.jar", "-scaladoc.jar")
ARCHIVE_SUFFIXES: Final = (".tgz", ".tar.gz")
ARCHIVE_NAME: Final = "dist.tgz"
"""Where an archive is staged in the build context (unpacked by `unpack_libs`)."""


class DistError(ValueError):
    """A ``--kafka-dist`` that cannot be the system under test; says what was expected."""


@dataclass(frozen=True, slots=True)
class Dist:
    """A user's Kafka build: where it is, what it holds."""

    path: Path
    """The archive, or the directory holding the jars (``<dir>/libs`` or ``<dir>``)."""
    archive: bool
    version: str
    scala: str


def _broker(names: list[str], where: Path) -> tuple[str, str]:
    """(version, scala) of the one broker jar among ``names``."""
    found = sorted(
        {
            (m["version"], m["scala"])
            for n in names
            if not n.endswith(NOT_BROKER) and (m := BROKER_JAR.fullmatch(PurePosixPath(n).name))
        }
    )
    if not found:
        raise DistError(
            f"--kafka-dist {where}: no Kafka broker jar (kafka_<scala>-<version>.jar, e.g. "
            "kafka_2.13-4.1.1.jar) in it; expected a Kafka distribution (.tgz, or a "
            "directory with libs/*.jar) or a directory of jars"
        )
    if len(found) > 1:
        jars = ", ".join(f"kafka_{s}-{v}.jar" for v, s in found)
        raise DistError(f"--kafka-dist {where}: several broker jars ({jars}); keep one")
    return found[0]


def _archive_jars(path: Path) -> list[str]:
    try:
        with tarfile.open(path, "r:*") as tar:
            return [
                m.name
                for m in tar.getmembers()
                if m.isfile() and "libs" in PurePosixPath(m.name).parts[:-1]
            ]
    except (tarfile.TarError, OSError) as e:
        raise DistError(f"--kafka-dist {path}: cannot read it as a .tgz archive: {e}") from None


def inspect_dist(given: str | Path) -> Dist:
    """Check a ``--kafka-dist`` and say what it holds; `DistError` when it cannot run."""
    path = Path(given).expanduser().resolve()
    if not path.exists():
        raise DistError(
            f"--kafka-dist {given}: no such file or directory; expected a Kafka distribution "
            "(kafka_2.13-4.1.1.tgz, or a directory with libs/*.jar) or a directory of jars"
        )
    if path.is_file():
        if not path.name.endswith(ARCHIVE_SUFFIXES):
            raise DistError(
                f"--kafka-dist {given}: a file that is not a .tgz/.tar.gz archive; give the "
                "distribution archive or a directory of jars"
            )
        version, scala = _broker(_archive_jars(path), path)
        dist = Dist(path, True, version, scala)
    else:
        libs = path / "libs" if (path / "libs").is_dir() else path
        names = [p.name for p in libs.glob("*.jar")]
        version, scala = _broker(names, path)
        dist = Dist(libs, False, version, scala)
    try:
        kraft = version_key(dist.version) >= KRAFT_SINCE
    except UnsupportedRelease as e:
        raise DistError(f"--kafka-dist {given}: {e}") from None
    if not kraft:
        raise DistError(
            f"--kafka-dist {given}: Kafka {dist.version} needs ZooKeeper mode, which floodmark "
            "runs for the releases of its table (--kafka-version), not yet for a "
            f"distribution: it must be Kafka {'.'.join(map(str, KRAFT_SINCE))} or newer (KRaft)"
        )
    return dist


def unpack_libs(context: Path) -> None:
    """Prepare step of an archive's image: ``<context>/dist.tgz``'s ``libs/`` jars into
    ``<context>/libs/``, then the archive out of the context (it is not copied into the
    image, only hashed)."""
    archive = context / ARCHIVE_NAME
    libs = context / "libs"
    libs.mkdir(exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        for m in tar.getmembers():
            parts = PurePosixPath(m.name).parts
            if not m.isfile() or "libs" not in parts[:-1] or not parts[-1].endswith(".jar"):
                continue
            source = tar.extractfile(m)
            if source is None:
                continue
            with source, (libs / parts[-1]).open("wb") as out:
                shutil.copyfileobj(source, out)
    archive.unlink()
