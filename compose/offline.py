"""The offline paths: images made without an image registry.

- `debootstrap_base` makes ``debian:bookworm-slim`` from Debian's own packages:
  ``debootstrap --variant=minbase bookworm`` from the host's Debian mirror into a
  temporary directory, trimmed by ``compose/base/trim.sh`` (apt lists, docs, man pages,
  locales; dpkg told to keep them out later, as the official slim image does), then
  ``docker import``-ed under that name with floodmark's labels.
- `go_install_toxiproxy` builds Toxiproxy's server from its Go module with
  ``CGO_ENABLED=0`` into the staged build context, for a ``FROM scratch`` image.

The mirror is taken from the host's apt sources (``FLOODMARK_DEBIAN_MIRROR`` overrides it),
falling back to ``http://deb.debian.org/debian``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from compose import engine
from compose.engine import StepFailed
from compose.spec import BuildJob, BuildLog

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def _apt_uris(paths: tuple[Path, ...] = APT_SOURCES) -> list[str]:
    """Every ``deb`` URI in the host's apt sources, one-line and deb822 formats, in order."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(p.glob("*.list")) + sorted(p.glob("*.sources")))
        elif p.is_file():
            files.append(p)
    uris: list[str] = []
    for f in files:
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":
            # deb822 stanzas: take URIs of stanzas whose Types include deb.
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (m.group(1).lower(), m.group(2).strip())
                    for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE)
                )
                if (
                    "deb" in fields.get("types", "").split()
                    and fields.get("enabled", "yes") != "no"
                ):
                    uris.extend(fields.get("uris", "").split())
        else:
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if words and words[0] == "deb":
                    rest = [w for w in words[1:] if not w.startswith("[")]
                    # drop an options block "[arch=amd64 signed-by=...]" spanning words
                    rest = [w for w in rest if "=" not in w and not w.endswith("]")]
                    if rest:
                        uris.append(rest[0])
    return uris


def debian_mirror(paths: tuple[Path, ...] = APT_SOURCES) -> str:
    """The host's Debian archive URI (not the security one), or Debian's default."""
    if env := os.environ.get("FLOODMARK_DEBIAN_MIRROR"):
        return env.rstrip("/")
    for uri in _apt_uris(paths):
        clean = uri.rstrip("/")
        if clean.endswith("/debian") and "security" not in clean:
            return clean
    return DEFAULT_MIRROR


def security_mirror(paths: tuple[Path, ...] = APT_SOURCES) -> str:
    """The host's Debian security archive URI, or Debian's default."""
    for uri in _apt_uris(paths):
        clean = uri.rstrip("/")
        if clean.endswith("/debian-security"):
            return clean
    return DEFAULT_SECURITY_MIRROR


def _debootstrap_status(line: str) -> str | None:
    # "I: Retrieving libc6 2.36-9" -> "Retrieving"; only the phase is news.
    if line.startswith("I: ") and len(line) > 3:
        return line[3:].split()[0].rstrip(".")
    return None


def debootstrap_base(job: BuildJob) -> str:
    """Builder of the base image: debootstrap, trim, ``docker import``; returns the image id."""
    suite = job.spec.recipe["suite"]
    variant = job.spec.recipe["variant"]
    if os.geteuid() != 0:
        raise StepFailed(
            "debootstrap",
            "building the base image without a registry needs root (debootstrap chroots)",
            "run `make images` as root, or load debian:bookworm-slim into Docker by hand "
            "(docker load / docker pull)",
        )
    exe = shutil.which("debootstrap")
    if exe is None:
        raise StepFailed(
            "debootstrap",
            "the debootstrap command is not installed",
            "run `make docker` (it installs debootstrap) or `apt-get install debootstrap`",
        )
    mirror = debian_mirror()
    security = security_mirror()
    job.log.line(f"debootstrap {suite} ({variant}) from {mirror}")
    with tempfile.TemporaryDirectory(prefix="floodmark-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        engine.run_logged(
            [exe, f"--variant={variant}", suite, rootfs, mirror],
            job.log,
            step=f"debootstrap {suite}",
            hint=f"check that {mirror} answers (FLOODMARK_DEBIAN_MIRROR picks another mirror)",
            status=_debootstrap_status,
        )
        engine.run_logged(
            ["sh", job.context_dir / "trim.sh", rootfs, suite, mirror, security],
            job.log,
            step="trim the root filesystem",
        )
        tarball = Path(tmp) / "rootfs.tar"
        engine.run_logged(
            ["tar", "--numeric-owner", "-C", rootfs, "-cf", tarball, "."],
            job.log,
            step="tar the root filesystem",
        )
        job.log.status("docker import")
        api = engine.connect()
        repo, tag = engine.split_ref(job.tags[0])
        changes = [f"LABEL {k}={v}" for k, v in job.labels.items()]
        changes.append(f"CMD {job.spec.recipe['cmd']}")
        api.import_image_from_file(str(tarball), repository=repo, tag=tag, changes=changes)
    found = engine.inspect(api, job.tags[0])
    if found is None:
        raise StepFailed("docker import", f"no image tagged {job.tags[0]} after the import")
    image_id = str(found["Id"])
    for ref in job.tags[1:]:
        engine.tag(api, image_id, ref)
    return image_id


TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
TOXIPROXY_VERSION = "2.12.0"


def _go() -> str:
    found = shutil.which("go")
    if found is not None:
        return found
    if Path("/usr/local/go/bin/go").exists():
        return "/usr/local/go/bin/go"
    raise StepFailed(
        "go install toxiproxy",
        "no Go toolchain found (neither `go` on PATH nor /usr/local/go/bin/go)",
        "install Go 1.22 or newer, or make ghcr.io/shopify/toxiproxy:2.12.0 pullable",
    )


def go_install_toxiproxy(context_dir: Path, log: BuildLog) -> None:
    """Prepare step of the Toxiproxy image: put a static ``toxiproxy`` server binary
    (``TOXIPROXY_VERSION``, its version string set as upstream's release does) in the
    staged context."""
    version = TOXIPROXY_VERSION
    gobin = context_dir / ".gobin"
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOBIN": str(gobin), "GOOS": "linux"})
    env.pop("GOARCH", None)
    engine.run_logged(
        [
            _go(),
            "install",
            "-trimpath",
            f"-ldflags=-s -w -X {TOXIPROXY_MODULE}.Version={version}",
            f"{TOXIPROXY_MODULE}/cmd/server@v{version}",
        ],
        log,
        step=f"go install toxiproxy server v{version}",
        hint="the Go module proxy must answer (GOPROXY); see the log for the compiler output",
        env=env,
    )
    server = gobin / "server"
    if not server.is_file():
        raise StepFailed("go install toxiproxy", f"go install finished but {server} is missing")
    server.rename(context_dir / "toxiproxy")
    shutil.rmtree(gobin)
