"""A Docker engine without Docker, for the unit tests of `compose`.

`FakeEngine` holds the engine's state (images by id and by tag, containers, networks,
volumes) and answers through the two faces the code uses: `FakeAPI` (the SDK's low-level
``docker.APIClient``: inspect, pull, build, import, tag, list/remove images, raw
container lists) and `FakeClient` (``docker.DockerClient``: ``containers``, ``networks``,
``volumes``, ``api``, ``ping``). Answers are shaped like the engine's JSON: inspect data
has ``Id`` and ``Config.Labels``, builds stream ``{"stream": ...}`` lines with
``Step i/n : ...`` per Dockerfile instruction, then ``{"aux": {"ID": ...}}`` or
``{"error": ...}``; a missing image raises ``ImageNotFound``, a missing container
``NotFound``, as the SDK does. Every call is recorded in ``engine.calls`` as
``(method, args...)``::

    engine = FakeEngine()
    engine.registry["debian:bookworm-slim"] = {"Labels": {}}   # pullable
    engine.fail_build_at = (2, "apt-get update failed")        # step 2 fails
    monkeypatch.setattr(docker, "from_env", engine.from_env)   # what connect() finds

`FakeLog` is a `compose.spec.BuildLog` that keeps lines and statuses in order.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import docker
import docker.errors


def api_error(explanation: str, message: str = "500 Server Error") -> docker.errors.APIError:
    """An ``APIError`` as the SDK raises it (its ``str`` carries the explanation)."""
    return docker.errors.APIError(message, explanation=explanation)


def matches(labels: Mapping[str, str], flt: Mapping[str, Any] | None) -> bool:
    """Docker's ``label`` filter: ``key`` (present) or ``key=value``; a list means all."""
    wanted = (flt or {}).get("label")
    if wanted is None:
        return True
    for w in [wanted] if isinstance(wanted, str) else list(wanted):
        key, sep, value = str(w).partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


class FakeLog:
    """A `compose.spec.BuildLog` that remembers: ``events`` holds ("line"|"status", text)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def line(self, text: str) -> None:
        self.events.append(("line", text))

    def status(self, text: str) -> None:
        self.events.append(("status", text))

    @property
    def lines(self) -> list[str]:
        return [t for kind, t in self.events if kind == "line"]

    @property
    def statuses(self) -> list[str]:
        return [t for kind, t in self.events if kind == "status"]


@dataclass
class Build:
    """One ``api.build`` call: its arguments and the staged context as the engine saw it."""

    kwargs: dict[str, Any]
    files: dict[str, str]
    """Path in the context -> content (text files), read when the build was asked for."""


class FakeAPI:
    """The ``docker.APIClient`` face of a `FakeEngine`."""

    def __init__(self, engine: FakeEngine) -> None:
        self._e = engine

    # -- connection -----------------------------------------------------------------
    def ping(self) -> bool:
        self._e.calls.append(("ping",))
        if self._e.ping_error is not None:
            raise self._e.ping_error
        return True

    # -- images -----------------------------------------------------------------------
    def inspect_image(self, ref: str) -> dict[str, Any]:
        self._e.calls.append(("inspect_image", ref))
        image_id = self._e.tags.get(ref, ref if ref in self._e.images else None)
        if image_id is None:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return self._e.inspect_data(image_id)

    def tag(self, image: str, repository: str, tag: str, force: bool = False) -> bool:
        self._e.calls.append(("tag", image, f"{repository}:{tag}", force))
        self._e.tags[f"{repository}:{tag}"] = image
        return True

    def pull(
        self, repository: str, tag: str = "latest", stream: bool = False, decode: bool = False
    ) -> Iterator[dict[str, Any]]:
        ref = f"{repository}:{tag}"
        self._e.calls.append(("pull", ref, stream, decode))
        if self._e.pull_error is not None:
            raise self._e.pull_error
        if ref not in self._e.registry:
            raise docker.errors.NotFound(
                f"pull access denied for {repository}, repository does not exist"
            )
        events = self._e.pull_events.get(ref)
        if events is not None:
            return iter(events)
        layer = "a1b2c3d4e5f6"
        image_id = self._e.add_image(ref, dict(self._e.registry[ref].get("Labels") or {}))
        return iter(
            [
                {"status": f"Pulling from {repository}", "id": tag},
                {"status": "Pulling fs layer", "id": layer},
                {"status": "Downloading", "progress": "[==>   ] 1MB/9MB", "id": layer},
                {"status": f"Digest: sha256:{image_id[7:]}"},
                {"status": f"Status: Downloaded newer image for {ref}"},
            ]
        )

    def build(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        context = Path(kwargs["path"])
        files = {
            str(p.relative_to(context)): p.read_text(errors="replace")
            for p in sorted(context.rglob("*"))
            if p.is_file()
        }
        self._e.builds.append(Build(dict(kwargs), files))
        self._e.calls.append(("build", kwargs["tag"]))
        if self._e.build_error is not None:
            raise self._e.build_error
        dockerfile = files.get(kwargs.get("dockerfile") or "Dockerfile")
        if dockerfile is None:
            return iter([{"error": "Cannot locate specified Dockerfile: Dockerfile"}])
        steps = [
            ln.strip() for ln in dockerfile.splitlines() if ln.strip() and not ln.startswith("#")
        ]
        return self._build_events(steps, kwargs)

    def _build_events(self, steps: list[str], kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for i, instruction in enumerate(steps, 1):
            yield {"stream": f"Step {i}/{len(steps)} : {instruction}\n"}
            yield {"stream": "\n"}
            if self._e.fail_build_at is not None and self._e.fail_build_at[0] == i:
                yield {"stream": " ---> Running in 0123456789ab\n"}
                yield {"stream": "some output of the failing step\n"}
                msg = self._e.fail_build_at[1]
                yield {"errorDetail": {"code": 100, "message": msg}, "error": msg}
                return
            yield {"stream": f" ---> {i:012x}\n"}
        image_id = self._e.add_image(kwargs["tag"], dict(kwargs.get("labels") or {}))
        if self._e.build_emits_aux:
            yield {"aux": {"ID": image_id}}
        yield {"stream": f"Successfully built {image_id[7:19]}\n"}
        yield {"stream": f"Successfully tagged {kwargs['tag']}\n"}

    def import_image_from_file(
        self, filename: str, repository: str, tag: str, changes: list[str]
    ) -> str:
        self._e.calls.append(("import_image_from_file", filename, f"{repository}:{tag}"))
        self._e.imports.append(
            {"filename": filename, "ref": f"{repository}:{tag}", "changes": list(changes)}
        )
        if self._e.import_makes_image:
            labels = dict(
                c[len("LABEL ") :].split("=", 1) for c in changes if c.startswith("LABEL ")
            )
            self._e.add_image(f"{repository}:{tag}", labels)
        return '{"status":"sha256:..."}'

    def images(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self._e.calls.append(("images", dict(filters or {})))
        return [
            {
                "Id": image_id,
                "RepoTags": [t for t, i in self._e.tags.items() if i == image_id] or None,
                "Labels": labels,
            }
            for image_id, labels in self._e.images.items()
            if matches(labels, filters)
        ]

    def remove_image(self, image: str, force: bool = False) -> None:
        self._e.calls.append(("remove_image", image, force))
        if image in self._e.in_use:
            raise api_error(
                f"conflict: unable to delete {image[7:19]} (cannot be forced) - image is "
                "being used by running container 0123456789ab",
                "409 Client Error",
            )
        del self._e.images[image]
        for t in [t for t, i in self._e.tags.items() if i == image]:
            del self._e.tags[t]

    # -- containers (the cluster driver's raw calls) --------------------------------
    def containers(
        self, all: bool = False, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        self._e.calls.append(("containers", all, dict(filters or {})))
        if self._e.list_containers_error is not None:
            raise self._e.list_containers_error
        listed = [
            {"Id": c.id, "Names": [f"/{c.name}"], "Labels": c.labels}
            for c in self._e.containers.values()
            if matches(c.labels, filters)
        ]
        for hook in self._e.on_list_containers:
            hook()
        return listed

    def remove_container(self, container: str, force: bool = False, v: bool = False) -> None:
        self._e.calls.append(("remove_container", container, force, v))
        if container in self._e.remove_errors:
            raise self._e.remove_errors[container]
        if self._e.containers.pop(container, None) is None:
            raise docker.errors.NotFound(f"No such container: {container}")

    def create_endpoint_config(self, aliases: list[str]) -> dict[str, Any]:
        return {"Aliases": list(aliases)}


@dataclass
class FakeContainer:
    """A ``docker.models.containers.Container`` as the driver and the jar resolver use it."""

    engine: FakeEngine
    id: str
    name: str
    image: str
    labels: dict[str, str]
    kwargs: dict[str, Any]
    status: str = "created"
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[str, Any] = field(default_factory=dict)
    log_bytes: bytes = b""
    logs_error: Exception | None = None
    exit_code: int = 0
    wait_error: Exception | None = None
    calls: list[str] = field(default_factory=list)

    @property
    def attrs(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": f"/{self.name}",
            "Config": {"Labels": dict(self.labels)},
            "NetworkSettings": {"Ports": self.ports or None, "Networks": dict(self.networks)},
        }

    def start(self) -> None:
        self.calls.append("start")
        self.status = "running"
        if self.engine.publish_ports:
            # Docker picks host ports for the ports asked without one
            for n, (port, binding) in enumerate(sorted(self.kwargs.get("ports", {}).items())):
                host = binding[1] if len(binding) > 1 else 49000 + n
                self.ports[port] = [{"HostIp": "127.0.0.1", "HostPort": str(host)}]

    def reload(self) -> None:
        self.calls.append("reload")

    def logs(self, stdout: bool = True, stderr: bool = True) -> bytes:
        self.calls.append("logs")
        if self.logs_error is not None:
            raise self.logs_error
        return self.log_bytes

    def wait(self) -> dict[str, Any]:
        self.calls.append("wait")
        if self.wait_error is not None:
            raise self.wait_error
        return {"StatusCode": self.exit_code, "Error": None}

    def remove(self, force: bool = False) -> None:
        self.calls.append(f"remove force={force}")
        self.engine.containers.pop(self.id, None)


@dataclass
class FakeNetwork:
    engine: FakeEngine
    name: str
    labels: dict[str, str]
    kwargs: dict[str, Any]
    subnet: str | None = None
    remove_error: Exception | None = None

    @property
    def attrs(self) -> dict[str, Any]:
        config = [{"Subnet": self.subnet, "Gateway": ""}] if self.subnet else []
        return {"Name": self.name, "Labels": self.labels, "IPAM": {"Config": config}}

    def connect(self, container: FakeContainer, aliases: list[str] | None = None) -> None:
        self.engine.calls.append(("network.connect", self.name, container.name, aliases))
        subnet = sorted(self.engine.networks).index(self.name) + 1
        ip = f"10.{subnet}.0.{len(container.networks) + 2}"
        container.networks[self.name] = {"IPAddress": ip, "Aliases": aliases}

    def remove(self) -> None:
        self.engine.calls.append(("network.remove", self.name))
        if self.remove_error is not None:
            raise self.remove_error
        del self.engine.networks[self.name]


@dataclass
class FakeVolume:
    engine: FakeEngine
    name: str
    labels: dict[str, str]

    def remove(self, force: bool = False) -> None:
        self.engine.calls.append(("volume.remove", self.name, force))
        del self.engine.volumes[self.name]


class _Containers:
    def __init__(self, engine: FakeEngine) -> None:
        self._e = engine

    def create(self, image: str, command: Any = None, **kwargs: Any) -> FakeContainer:
        name = str(kwargs.get("name"))
        self._e.calls.append(("containers.create", name))
        c = self._e.add_container(name, dict(kwargs.get("labels") or {}), image, kwargs)
        c.kwargs["command"] = command
        network = kwargs.get("network")
        if network is not None:
            self._e.networks[network].connect(c)
        return c

    def run(self, image: str, command: Any = None, **kwargs: Any) -> FakeContainer:
        self._e.calls.append(("containers.run", image))
        c = self.create(image, command, name=f"run-{len(self._e.containers)}", **kwargs)
        c.start()
        for hook in self._e.on_run:
            hook(c)
        return c


class _Networks:
    def __init__(self, engine: FakeEngine) -> None:
        self._e = engine

    def create(self, name: str, **kwargs: Any) -> FakeNetwork:
        self._e.calls.append(("networks.create", name))
        self._e.network_creates.append((name, dict(kwargs)))
        if self._e.network_create_errors:
            raise self._e.network_create_errors.pop(0)
        ipam = kwargs.get("ipam")
        subnet = ipam["Config"][0]["Subnet"] if ipam else None
        net = FakeNetwork(self._e, name, dict(kwargs.get("labels") or {}), kwargs, subnet)
        self._e.networks[name] = net
        return net

    def get(self, name: str) -> FakeNetwork:
        try:
            return self._e.networks[name]
        except KeyError:
            raise docker.errors.NotFound(f"network {name} not found") from None

    def list(self, filters: Mapping[str, Any] | None = None) -> list[FakeNetwork]:
        self._e.calls.append(("networks.list", dict(filters or {})))
        return [n for n in self._e.networks.values() if matches(n.labels, filters)]


class _Volumes:
    def __init__(self, engine: FakeEngine) -> None:
        self._e = engine

    def create(self, name: str, labels: Mapping[str, str] | None = None) -> FakeVolume:
        self._e.calls.append(("volumes.create", name))
        vol = FakeVolume(self._e, name, dict(labels or {}))
        self._e.volumes[name] = vol
        return vol

    def list(self, filters: Mapping[str, Any] | None = None) -> list[FakeVolume]:
        self._e.calls.append(("volumes.list", dict(filters or {})))
        return [v for v in self._e.volumes.values() if matches(v.labels, filters)]


class FakeClient:
    """The ``docker.DockerClient`` face of a `FakeEngine`."""

    def __init__(self, engine: FakeEngine, timeout: int | None) -> None:
        self.engine = engine
        self.timeout = timeout
        self.api = FakeAPI(engine)
        self.containers = _Containers(engine)
        self.networks = _Networks(engine)
        self.volumes = _Volumes(engine)

    def ping(self) -> bool:
        return self.api.ping()


class FakeEngine:
    """One fake Docker engine (see the module docstring)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.images: dict[str, dict[str, str]] = {}
        """Image id -> labels."""
        self.tags: dict[str, str] = {}
        """``repo:tag`` -> image id."""
        self.in_use: set[str] = set()
        """Image ids a container uses (``remove_image`` refuses them)."""
        self.registry: dict[str, dict[str, Any]] = {}
        """What ``pull`` can fetch: ``repo:tag`` -> {"Labels": ...}."""
        self.pull_events: dict[str, list[dict[str, Any]]] = {}
        """Scripted pull streams (nothing is added to the engine)."""
        self.pull_error: Exception | None = None
        self.builds: list[Build] = []
        self.build_error: Exception | None = None
        self.fail_build_at: tuple[int, str] | None = None
        """(step number, error message): the build's stream ends in that error."""
        self.build_emits_aux = True
        self.imports: list[dict[str, Any]] = []
        self.import_makes_image = True
        self.containers: dict[str, FakeContainer] = {}
        self.networks: dict[str, FakeNetwork] = {}
        self.volumes: dict[str, FakeVolume] = {}
        self.network_creates: list[tuple[str, dict[str, Any]]] = []
        self.network_create_errors: list[Exception] = []
        self.remove_errors: dict[str, Exception] = {}
        self.list_containers_error: Exception | None = None
        self.on_list_containers: list[Callable[[], None]] = []
        self.on_run: list[Callable[[FakeContainer], None]] = []
        self.publish_ports = True
        self.ping_error: Exception | None = None
        self.from_env_error: Exception | None = None
        self.clients: list[FakeClient] = []
        self._ids = itertools.count(1)

    # -- what docker.from_env gives ---------------------------------------------------
    def from_env(self, timeout: int | None = None, **_: Any) -> docker.DockerClient:
        if self.from_env_error is not None:
            raise self.from_env_error
        client = FakeClient(self, timeout)
        self.clients.append(client)
        return cast(docker.DockerClient, client)

    @property
    def api(self) -> docker.APIClient:
        return cast(docker.APIClient, FakeAPI(self))

    @property
    def client(self) -> docker.DockerClient:
        return cast(docker.DockerClient, FakeClient(self, None))

    # -- state --------------------------------------------------------------------------
    def add_image(self, ref: str | None, labels: Mapping[str, str]) -> str:
        n = next(self._ids)
        image_id = (
            "sha256:" + hashlib.sha256(f"{n} {ref} {sorted(labels.items())}".encode()).hexdigest()
        )
        self.images[image_id] = dict(labels)
        if ref is not None:
            self.tags[ref] = image_id
        return image_id

    def inspect_data(self, image_id: str) -> dict[str, Any]:
        return {
            "Id": image_id,
            "RepoTags": [t for t, i in self.tags.items() if i == image_id],
            "Config": {"Labels": dict(self.images[image_id]) or None, "Cmd": ["bash"]},
        }

    def labels(self, ref: str) -> dict[str, str]:
        return dict(self.images[self.tags[ref]])

    def add_container(
        self, name: str, labels: dict[str, str], image: str = "img", kwargs: Any = None
    ) -> FakeContainer:
        cid = hashlib.sha256(f"c{next(self._ids)}".encode()).hexdigest()
        c = FakeContainer(self, cid, name, image, labels, dict(kwargs or {}))
        self.containers[cid] = c
        return c

    def by_name(self, name: str) -> FakeContainer:
        return next(c for c in self.containers.values() if c.name == name)

    def calls_named(self, *names: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] in names]
