"""Resolve the Kafka broker jars from Maven Central into a staged build context.

The image's ``prepare`` step (`compose.spec.Prepare`): runs
``mvn dependency:copy-dependencies`` on the context's ``pom.xml`` (Kafka
``kafka_2.13`` and its runtime dependencies, plus the reload4j logging binding) and
leaves the jars in ``<context>/libs/``. Maven's local repository (``~/.m2``) caches
them, so a rebuild after a change to the Dockerfile resolves nothing over the network.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Final, Protocol

KAFKA_VERSION: Final = "3.9.2"
"""Must match ``kafka.version`` in pom.xml (it is part of the image's recipe hash)."""


class _Log(Protocol):
    def line(self, text: str) -> None: ...

    def status(self, text: str) -> None: ...


class JarResolutionError(RuntimeError):
    """Maven could not resolve the Kafka jars."""


def resolve_jars(context: Path, log: _Log) -> None:
    """Fill ``context/libs`` with the jars ``context/pom.xml`` names (needs ``mvn``)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarResolutionError(
            "building the Kafka image needs Maven (`mvn`) on the host to resolve the Kafka "
            "jars from Maven Central; install it (Debian: `apt-get install maven`) and retry"
        )
    pom = context / "pom.xml"
    if not pom.is_file():
        raise JarResolutionError(f"expected the Kafka pom at {pom}, found nothing there")
    log.status(f"resolving Kafka {KAFKA_VERSION} jars from Maven Central")
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={context / 'libs'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for text in (proc.stdout + proc.stderr).splitlines():
        log.line(text)
    jars = sorted((context / "libs").glob("*.jar"))
    if proc.returncode != 0 or not any(j.name.startswith("kafka_2.13-") for j in jars):
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise JarResolutionError(
            f"`{' '.join(cmd)}` exited {proc.returncode} and left {len(jars)} jars (expected "
            f"kafka_2.13-{KAFKA_VERSION}.jar among them). Check that Maven Central is "
            f"reachable (or ~/.m2 holds the jars). Last output:\n{tail}"
        )
    log.line(f"resolved {len(jars)} jars into {context / 'libs'}")
