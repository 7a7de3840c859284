"""Resolve one Kafka release's broker jars from Maven Central into a staged build context.

The image's ``prepare`` step (`compose.spec.Prepare`, bound to one row of
`compose.kafka.releases.RELEASES`): runs ``mvn dependency:copy-dependencies`` on the
context's ``pom.xml`` with that release's version, Scala suffix and profiles
(``-Dkafka.version=4.1.1 -Dkafka.scala=2.13 -P log4j2``: ``kafka_2.13`` and its runtime
dependencies, plus the logging binding its distribution ships; ``-P bundled,jaxb`` for
0.10.2.2, whose pom brings its binding and which needs ``jaxb-api`` on Java 17) and
leaves the jars in
``<context>/libs/``. Maven's local repository (``~/.m2``) caches
them, so a rebuild after a change to the Dockerfile resolves nothing over the network.

Where the host has no ``mvn``, Maven runs in a throwaway container of the base image
(``debian:bookworm-slim`` plus Debian's ``maven`` package), with the context and the
host's ``~/.m2`` mounted: a fresh machine needs only Docker. That costs the package
installation (about a minute) on each resolution; installing ``maven`` on the host
avoids it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final, Protocol

import docker

from compose.kafka.releases import DEFAULT_VERSION, Release, default_release

KAFKA_VERSION: Final = DEFAULT_VERSION
"""The default release (`compose.kafka.releases.DEFAULT_VERSION`)."""

MAVEN_IMAGE: Final = "debian:bookworm-slim"
"""The base image the container fallback installs Maven into (built or pulled as
``base`` before the Kafka image)."""

HOST_TRUST_STORE: Final = "/etc/ssl/certs/java/cacerts"

BUILD_LABEL: Final = {"floodmark.run": "image-build-kafka-jars"}


class _Log(Protocol):
    def line(self, text: str) -> None: ...

    def status(self, text: str) -> None: ...


class JarResolutionError(RuntimeError):
    """Maven could not resolve the Kafka jars."""


def resolve_jars(context: Path, log: _Log, release: Release | None = None) -> None:
    """Fill ``context/libs`` with ``release``'s jars (default: the default release), as
    ``context/pom.xml`` resolves them (host ``mvn``, or Maven in a container when the host
    has none)."""
    release = release or default_release()
    pom = context / "pom.xml"
    if not pom.is_file():
        raise JarResolutionError(f"expected the Kafka pom at {pom}, found nothing there")
    mvn = shutil.which("mvn")
    log.status(f"resolving Kafka {release.version} jars from Maven Central")
    if mvn is not None:
        argv = [mvn, *_mvn_args("pom.xml", "libs", release)]
        proc = subprocess.run(argv, cwd=context, capture_output=True, text=True, check=False)
        code, output, how = proc.returncode, proc.stdout + proc.stderr, " ".join(argv)
    else:
        log.line("no `mvn` on this host: running Maven in a container of " + MAVEN_IMAGE)
        code, output = _resolve_in_container(context, release)
        how = f"mvn in a {MAVEN_IMAGE} container"
    for text in output.splitlines():
        log.line(text)
    jars = sorted((context / "libs").glob("*.jar"))
    if code != 0 or not any(j.name == release.jar for j in jars):
        tail = "\n".join(output.splitlines()[-15:])
        raise JarResolutionError(
            f"{how} exited {code} and left {len(jars)} jars (expected "
            f"{release.jar} among them). Check that Maven Central is "
            f"reachable (or ~/.m2 holds the jars). Last output:\n{tail}"
        )
    log.line(f"resolved {len(jars)} jars into {context / 'libs'}")


def _mvn_args(pom: str, out: str, release: Release) -> list[str]:
    return [
        "-B",
        "-q",
        "-f",
        pom,
        f"-Dkafka.version={release.version}",
        f"-Dkafka.scala={release.scala}",
        "-P",
        ",".join(release.profiles),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out}",
    ]


def _resolve_in_container(context: Path, release: Release) -> tuple[int, str]:
    """Run Maven in a throwaway container; returns (exit code, output)."""
    m2 = Path.home() / ".m2"
    m2.mkdir(exist_ok=True)
    script = (
        "set -e; mkdir -p /usr/share/man/man1; apt-get update -qq >/dev/null; "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "maven >/dev/null; cd /ctx; mvn " + " ".join(_mvn_args("pom.xml", "libs", release)) + "; "
        f"chown -R {os.getuid()}:{os.getgid()} /ctx/libs"
    )
    volumes = {
        str(context.resolve()): {"bind": "/ctx", "mode": "rw"},
        str(m2.resolve()): {"bind": "/root/.m2", "mode": "rw"},
    }
    env = {}
    if Path(HOST_TRUST_STORE).is_file():
        # Trust what the host's Java trusts (a CI network that re-signs TLS has its CA
        # there): mounted aside, named to Maven's JVM as its trust store.
        volumes[HOST_TRUST_STORE] = {"bind": "/run/host-cacerts", "mode": "ro"}
        env["MAVEN_OPTS"] = "-Djavax.net.ssl.trustStore=/run/host-cacerts"
    client = docker.from_env()
    container = client.containers.run(
        MAVEN_IMAGE,
        ["sh", "-c", script],
        volumes=volumes,
        environment=env,
        labels=BUILD_LABEL,
        detach=True,
    )
    try:
        code = int(container.wait()["StatusCode"])
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    return code, output
