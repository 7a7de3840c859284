"""Docker-less fakes for the fault packages' unit tests: a running cluster as faults see it.

`FakeWorld` is one simulated cluster, built from a real plan (replog's, 3 brokers and a
controller): node containers (`FakeContainer`, answering like Docker does, with the
in-container agent simulated), a stateful Toxiproxy HTTP server (`FakeToxiproxy`, talked
to by the real `compose.toxiproxy.client.Toxiproxy`), a network model that decides what a
probe through a proxy sees, the replicas' state (a leader per key, an ISR that shrinks
when the leader's peers have been cut for `FakeWorld.lag` s), the host's cgroup files
(`FakeFiles`) and a clock that moves only when something sleeps (`FakeClock`)::

    world = FakeWorld()
    fault = KillFault(world.cluster, clock=world.clock)
    fault.invoke(Phase.START, {"target": "one", "nodes": ["n2"]})
    assert world.containers["n2"].status == "exited"
    assert ("kill", "SIGKILL") in world.containers["n2"].calls

Every container records its calls (``calls``), the server its requests (``requests``).
Failures are scripted: ``container.fail["pause"] = [api_error(409, "...")]`` makes the
next pause raise that error; ``container.agent_reply = lambda argv: ...`` overrides the
agent; ``toxiproxy.fail[("PATCH", "/proxies/n1-n2")] = [500]``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import docker
import requests
from docker.errors import APIError
from docker.models.containers import Container, ExecResult

from compose.toxiproxy.client import Toxiproxy
from faults.agent.probe import ProbeResult
from faults.registry import FAULT_PACKAGES
from harness.contract.history import JSON, NEMESIS, HistoryWriter, Op, Phase
from harness.contract.plan import CLIENT, ClusterPlan, ClusterSpec, link_name
from harness.contract.reader import read_history
from harness.contract.roles import Client, Cluster, Fault, FaultOp, System
from harness.nemesis import Nemesis
from harness.systems.replog import ReplogSystem
from tests.fake_clock import FakeClock

Argv = list[str]
Reply = tuple[int, bytes, bytes]
"""What a command run in a container gives: exit code, stdout, stderr."""


def api_error(status: int, explanation: str, path: str = "/containers/x") -> APIError:
    """An `APIError` as docker-py raises it for a daemon's error reply."""
    response = requests.Response()
    response.status_code = status
    response.url = f"http+docker://localhost/v1.45{path}"
    response.reason = {304: "Not Modified", 404: "Not Found", 409: "Conflict"}.get(
        status, "Internal Server Error"
    )
    return APIError(f"{status}", response=response, explanation=explanation)


def reply(obj: Any, code: int = 0) -> Reply:
    return code, (json.dumps(obj) + "\n").encode(), b""


class FakeFiles:
    """The host's /proc and /sys as a dict (`faults.common.HostFiles`). A cgroup
    ``*_device`` throttle file behaves as the kernel's: writing ``"<dev> <limit>"`` sets
    that device's limit (0 removes it) and reading lists the non-zero limits."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.devices: dict[str, tuple[int, int]] = {}
        self.writes: list[tuple[str, str]] = []
        self.refuse_writes: set[str] = set()
        """Paths whose writes the kernel ignores (a throttle that does not stick)."""

    def read(self, path: str) -> str:
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", path) from None

    def write(self, path: str, text: str) -> None:
        if path not in self.files:
            raise FileNotFoundError(2, "No such file or directory", path)
        self.writes.append((path, text))
        if path in self.refuse_writes:
            return
        if path.endswith("_device"):
            dev, limit = text.split()
            limits = dict(line.split() for line in self.files[path].splitlines() if line)
            limits[dev] = limit
            self.files[path] = "".join(f"{d} {v}\n" for d, v in limits.items() if v != "0")
        else:
            self.files[path] = text

    def exists(self, path: str) -> bool:
        return path in self.files

    def device(self, path: str) -> tuple[int, int]:
        try:
            return self.devices[path]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", path) from None

    def limit(self, path: str) -> str:
        return self.files.get(path, "").strip()


class FakeContainer:
    """A node's container as docker-py's `Container` shows it to faults: ``attrs``
    (refreshed by `reload`, as Docker's are), ``kill``/``pause``/``unpause``/``start``/
    ``stop``/``restart`` with Docker's state rules and errors, and ``exec_run`` of the
    in-container agent (lazyfs, clock, probe, /proc/net/tcp, the fsync probe)."""

    def __init__(self, world: FakeWorld, node: str, env: dict[str, str]) -> None:
        self.world = world
        self.node = node
        self.name = f"fm-{world.plan.run_id}-{node}"
        self.id = f"{abs(hash(self.name)):x}"[:12]
        self.env = dict(env)
        self.status = "running"
        self.pid = 100 + len(world.containers)
        self.calls: list[tuple[Any, ...]] = []
        self.fail: dict[str, list[APIError]] = {}
        """Per method name, errors its next calls raise (one popped per call)."""
        self.agent_reply: Callable[[Argv], Reply | None] | None = None
        """Answers commands before the simulated agent does (None: fall through)."""
        self.dies_on_kill = True
        """False: Docker accepts the SIGKILL but the process stays (a stuck kernel task)."""
        self.listening = True
        """Does its process listen (False: booting after a start)."""
        self.lazyfs_mode: str | None = "lazy" if env.get("FLOODMARK_LAZYFS") == "1" else None
        self.lazyfs_boot = 0
        """Status queries a restarted lazyfs layer fails before it answers."""
        self.pending: dict[str, dict[str, int]] = {}
        """Un-fsynced writes the lazyfs layer holds: path → {"bytes": n}."""
        self.offset = 0.0
        self.clock_stale_reads = 0
        """`verify` readings after a change that still report the old offset."""
        self._reported = 0.0
        self._stale = 0
        self.network_ip = "172.30.0.2"
        self.mounts = [
            {
                "Type": "volume",
                "Source": f"/var/lib/docker/volumes/{self.name}-data/_data",
                "Destination": "/data",
            }
        ]
        self.attrs: dict[str, Any] = {}
        self._refresh()

    # -- docker-py's Container ----------------------------------------------------------

    def _refresh(self) -> None:
        running = self.status in ("running", "paused")
        self.attrs = {
            "Id": self.id,
            "Name": f"/{self.name}",
            "State": {
                "Status": self.status,
                "Running": running,
                "Paused": self.status == "paused",
                "Pid": self.pid if running else 0,
            },
            "Config": {"Env": [f"{k}={v}" for k, v in self.env.items()]},
            "Mounts": [dict(m) for m in self.mounts],
            "NetworkSettings": {
                "Networks": {f"fm-{self.world.plan.run_id}-net-pub": {"IPAddress": self.network_ip}}
            },
        }

    def _call(self, method: str, *args: Any) -> None:
        self.calls.append((method, *args))
        errors = self.fail.get(method)
        if errors:
            raise errors.pop(0)

    def _conflict(self, what: str) -> APIError:
        return api_error(409, what, f"/containers/{self.id}")

    def reload(self) -> None:
        self._call("reload")
        self._refresh()

    def kill(self, signal: str | int | None = None) -> None:
        self._call("kill", signal)
        if self.status != "running":
            why = "is paused, unpause it first" if self.status == "paused" else "is not running"
            raise self._conflict(f"Cannot kill container: {self.id}: Container {self.id} {why}")
        if self.dies_on_kill:
            self._exit()

    def stop(self, timeout: int | None = None) -> None:
        self._call("stop", timeout)
        if self.status != "exited":
            self._exit()

    def start(self) -> None:
        self._call("start")
        if self.status == "exited":  # a running one: 304 Not Modified, no error
            self.status = "running"
            self.pid = self.world.next_pid()
            if self.lazyfs_mode is not None:
                self.lazyfs_mode = "lazy"  # the entrypoint mounts a fresh layer
            self.offset = self._reported = 0.0  # the faketime file is re-created at boot
            self.world.started(self.node)

    def restart(self, timeout: int | None = None) -> None:
        self._call("restart", timeout)
        self._exit()
        self.start()

    def pause(self) -> None:
        self._call("pause")
        if self.status == "paused":
            raise self._conflict(f"Container {self.id} is already paused")
        if self.status != "running":
            raise self._conflict(f"Container {self.id} is not running")
        self.status = "paused"
        self.world.files.files[self.world.freezer_file(self)] = "FROZEN\n"

    def unpause(self) -> None:
        self._call("unpause")
        if self.status != "paused":
            raise self._conflict(f"Container {self.id} is not paused")
        self.status = "running"
        self.world.files.files[self.world.freezer_file(self)] = "THAWED\n"

    def logs(self, stdout: bool = True, stderr: bool = True) -> bytes:
        self.calls.append(("logs",))
        return f"{self.node} log\n".encode()

    def exec_run(
        self, cmd: Argv | str, demux: bool = False, detach: bool = False, **_: Any
    ) -> ExecResult:
        argv = cmd.split() if isinstance(cmd, str) else list(cmd)
        self._call("exec_run", argv)
        if self.status == "paused":
            raise self._conflict(
                f"Container {self.id} is paused, unpause the container before exec"
            )
        if self.status != "running":
            raise self._conflict(f"Container {self.id} is not running")
        code, out, err = self._exec(argv)
        if detach:
            return ExecResult(None, b"")
        output: Any = (out or None, err or None) if demux else out + err
        return ExecResult(code, output)

    def _exit(self) -> None:
        self.status = "exited"
        self.pid = 0
        if self.lazyfs_mode == "crashed":
            self.pending = {}
        self.world.stopped(self.node)

    # -- what runs inside ---------------------------------------------------------------

    def _exec(self, argv: Argv) -> Reply:
        if self.agent_reply is not None:
            got = self.agent_reply(argv)
            if got is not None:
                return got
        if argv[:2] == ["cat", "/proc/net/tcp"]:
            return 0, self.proc_net_tcp().encode(), b""
        if argv[:2] == ["python3", "-c"]:
            n = int(argv[-1])
            return reply({"ok": True, "ms": [self.world.fsync_ms(self.node)] * n})
        if len(argv) >= 2 and argv[0] == "python3" and argv[1].startswith("/opt/floodmark/agent/"):
            script = argv[1].rsplit("/", 1)[1]
            handler = {"lazyfs.py": self._lazyfs, "clock.py": self._clock, "probe.py": self._probe}
            if script in handler:
                return handler[script](argv[2:])
        return 127, b"", f"exec: {argv[0]!r}: not found in $PATH\n".encode()

    def proc_net_tcp(self) -> str:
        header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when\n"
        if not self.listening:
            return header
        ports = sorted(self.world.ports_of(self.node))
        return header + "".join(
            f"   {i}: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000\n"
            for i, port in enumerate(ports)
        )

    def _lazyfs(self, args: Argv) -> Reply:
        command = args[-1]
        if self.lazyfs_mode is None:
            error = "no lazyfs daemon answers on /run/floodmark/lazyfs.sock: [Errno 2]"
            return reply({"ok": False, "error": error}, 1)
        if command == "status" and self.lazyfs_boot > 0:
            self.lazyfs_boot -= 1
            return reply({"ok": False, "error": "connection refused (mounting)"}, 1)
        if self.lazyfs_mode == "crashed" and command != "status":
            return reply({"ok": False, "error": f"{command} failed: the layer crashed"}, 1)
        if command == "crash":
            dropped, self.pending = self.pending, {}
            self.lazyfs_mode = "crashed"
            return reply({"ok": True, "mode": "crashed", "dropped": dropped})
        if command in ("passthrough", "lazy"):
            self.lazyfs_mode = command
        return reply({"ok": True, "mode": self.lazyfs_mode, "pending_files": len(self.pending)})

    def _clock(self, args: Argv) -> Reply:
        faked = self.env.get("FLOODMARK_FAKETIME") == "1"
        command = args[0]
        if command in ("set", "strobe"):
            self.offset = float(args[args.index("--offset") + 1]) if faked else 0.0
            self._stale = self.clock_stale_reads
            return reply({"ok": True, "file": f"{self.offset:+g}"})
        if command == "reset":
            self.offset = 0.0
            self._stale = self.clock_stale_reads
            return reply({"ok": True, "file": "+0", "stopped_strobe": None})
        if self._stale > 0:
            self._stale -= 1
        else:
            self._reported = self.offset
        return reply({"ok": True, "preloaded": faked, "mapped": faked, "offset": self._reported})

    def _probe(self, args: Argv) -> Reply:
        addresses = [a for a in args[2:]]  # after "--deadline <s>"
        probes = {}
        for address in addresses:
            port = int(address.rpartition(":")[2])
            probes[address] = self.world.probe(self.node, port).to_json()
        return reply({"ok": True, "probes": probes})


# -- Toxiproxy ------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the faults send up to 32 requests at once


class FakeToxiproxy:
    """A stateful Toxiproxy 2.x HTTP API on loopback (proxies, toxics, enable/disable,
    populate, reset), answering with the real server's statuses (404 unknown proxy or
    toxic, 409 duplicate toxic). ``fail[(method, path)]`` lists statuses its next
    answers to that request take instead; ``ignore`` names proxies whose changes it
    acknowledges but does not apply (a cut that does not land)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.proxies: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.fail: dict[tuple[str, str], list[int]] = {}
        self.ignore: set[str] = set()
        self.cut_since: dict[str, float] = {}
        """Proxy → fake time since when it is disabled or carries a timeout toxic."""
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                with fake.lock:
                    status, answer = fake.handle(self.command, unquote(self.path), body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def client(self) -> Toxiproxy:
        return Toxiproxy(self.address, timeout=2.0, retry_for=0.0)

    def add(self, name: str, listen: str, upstream: str, enabled: bool = True) -> None:
        self.proxies[name] = {
            "name": name,
            "listen": listen,
            "upstream": upstream,
            "enabled": enabled,
            "toxics": [],
        }

    def _cut(self, name: str) -> None:
        p = self.proxies[name]
        if not p["enabled"] or any(t["type"] == "timeout" for t in p["toxics"]):
            self.cut_since.setdefault(name, self.clock.now())
        else:
            self.cut_since.pop(name, None)

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        failing = self.fail.get((method, path))
        if failing:
            status = failing.pop(0)
            return status, {"error": f"scripted failure {status}", "status": status}
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return 200, {"version": "2.12.0"}
        if parts == ["reset"] and method == "POST":
            for name, p in self.proxies.items():
                p["enabled"], p["toxics"] = True, []
                self._cut(name)
            return 204, None
        if parts == ["populate"] and method == "POST":
            for spec in body:
                self.add(spec["name"], spec["listen"], spec["upstream"], spec.get("enabled", True))
            return 201, {"proxies": [self.proxies[s["name"]] for s in body]}
        if parts == ["proxies"]:
            if method == "POST":
                self.add(body["name"], body["listen"], body["upstream"], body.get("enabled", True))
                return 201, self.proxies[body["name"]]
            return 200, self.proxies
        if not parts or parts[0] != "proxies" or parts[1] not in self.proxies:
            return 404, {"error": "proxy not found", "status": 404}
        name, proxy = parts[1], self.proxies[parts[1]]
        if len(parts) == 2:
            return self._proxy(method, name, proxy, body)
        if len(parts) == 3 and parts[2] == "toxics":
            return self._toxics(method, name, proxy, body)
        if len(parts) == 4 and parts[2] == "toxics":
            return self._toxic(method, name, proxy, parts[3], body)
        return 404, {"error": "not found", "status": 404}

    def _proxy(self, method: str, name: str, proxy: dict[str, Any], body: Any) -> tuple[int, Any]:
        if method == "DELETE":
            del self.proxies[name]
            return 204, None
        if method in ("PATCH", "POST"):
            if name not in self.ignore and "enabled" in body:
                proxy["enabled"] = bool(body["enabled"])
                self._cut(name)
            return 200, proxy
        return 200, proxy

    def _toxics(self, method: str, name: str, proxy: dict[str, Any], body: Any) -> tuple[int, Any]:
        if method != "POST":
            return 200, proxy["toxics"]
        if any(t["name"] == body["name"] for t in proxy["toxics"]):
            return 409, {"error": "toxic already exists", "status": 409}
        toxic = {
            "name": body["name"],
            "type": body["type"],
            "stream": body.get("stream", "downstream"),
            "toxicity": body.get("toxicity", 1.0),
            "attributes": body["attributes"],
        }
        if name not in self.ignore:
            proxy["toxics"].append(toxic)
            self._cut(name)
        return 200, toxic

    def _toxic(
        self, method: str, name: str, proxy: dict[str, Any], toxic: str, body: Any
    ) -> tuple[int, Any]:
        found = [t for t in proxy["toxics"] if t["name"] == toxic]
        if not found:
            return 404, {"error": "toxic not found", "status": 404}
        if method == "DELETE" and name in self.ignore:
            return 204, None
        if method == "DELETE":
            proxy["toxics"].remove(found[0])
            self._cut(name)
            return 204, None
        if method in ("PATCH", "POST"):
            found[0]["attributes"].update(body.get("attributes") or {})
        return 200, found[0]


# -- the cluster ----------------------------------------------------------------------------


class FakeSystem:
    """The replog system as faults see it: the plan is replog's, replica states come from
    the `FakeWorld`."""

    name = "fake"
    doc = "a simulated replicated log"

    def __init__(self, world: FakeWorld) -> None:
        self.profiles: dict[str, str] = {}
        self.world = world
        self.calls = 0

    def images(self) -> list[str]:
        return []

    def render(self, spec: ClusterSpec) -> ClusterPlan:
        return ReplogSystem().render(spec)

    def client(self, cluster: Cluster, process: int) -> Client:
        raise NotImplementedError("faults never open clients")

    def replica_states(self, cluster: Cluster) -> list[dict[str, JSON]]:
        self.calls += 1
        return self.world.replica_states()

    def dump_replicas(self, cluster: Cluster) -> list[dict[str, JSON]]:
        return []


class FakeCluster:
    """`harness.contract.roles.Cluster` over a `FakeWorld` (what `DockerCluster` is over
    Docker): same lookups, same errors."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.run_id = world.plan.run_id
        self.plan = world.plan
        self.toxiproxy = world.toxiproxy.client()
        self.system = cast(System, world.system)
        self.docker = cast(docker.DockerClient, None)

    def container(self, node: str) -> Container:
        if node == "toxiproxy":
            return cast(Container, self.world.toxiproxy_container)
        try:
            return cast(Container, self.world.containers[node])
        except KeyError:
            raise KeyError(f"no container for node {node!r}") from None

    def link(self, src: str, dst: str) -> str:
        name = link_name(src, dst)
        self.plan.proxy(name)
        return name

    def endpoint(self, proxy: str) -> str:
        return f"127.0.0.1:{40000 + self.plan.proxy(proxy).listen_port % 1000}"

    def leader(self, key: int) -> str | None:
        best: tuple[int, str] | None = None
        for s in self.system.replica_states(cast(Cluster, self)):
            if s["key"] == key and s["role"] == "leader":
                cand = (int(str(s["epoch"])), str(s["node"]))
                best = cand if best is None or cand > best else best
        return None if best is None else best[1]


class FakeWorld:
    """One simulated cluster (see the module docstring)."""

    def __init__(self, nodes: int = 3, keys: int = 2, env: dict[str, str] | None = None) -> None:
        self.clock = FakeClock()
        spec = ClusterSpec("r1", nodes, keys, min(3, nodes), "kafka-0.11", {}, dict(env or {}))
        self.plan = ReplogSystem().render(spec)
        self.files = FakeFiles()
        self._pid = 1000
        self.containers: dict[str, FakeContainer] = {}
        for n in self.plan.nodes:
            self.containers[n.name] = FakeContainer(
                self, n.name, {"FLOODMARK_NODE": n.name, **n.env}
            )
        self.toxiproxy_container = FakeContainer(self, "toxiproxy", {})
        self.toxiproxy = FakeToxiproxy(self.clock)
        for p in self.plan.proxies:
            self.toxiproxy.add(p.name, f"[::]:{p.listen_port}", p.upstream)
        self.leaders: dict[int, str] = {k: self.plan.brokers[k % nodes] for k in range(keys)}
        self.epochs: dict[int, int] = dict.fromkeys(range(keys), 1)
        self.lag: float | None = 1.0
        """Seconds a follower's fetches must be cut before the leader drops it from the
        ISR (None: never, as with a ``replica.lag.time.max.ms`` longer than the wait)."""
        self.leaky: set[str] = set()
        """Proxies a probe gets through whatever Toxiproxy says (a cut that leaks)."""
        self.throttled_ms = 120.0
        self.fsync_base_ms = 2.0
        self.system = FakeSystem(self)
        self.cluster = cast(Cluster, FakeCluster(self))
        for c in [*self.containers.values(), self.toxiproxy_container]:
            self._cgroups(c)

    def close(self) -> None:
        self.toxiproxy.close()

    def next_pid(self) -> int:
        self._pid += 1
        return self._pid

    # -- the host's cgroup files ---------------------------------------------------------

    def freezer_file(self, c: FakeContainer) -> str:
        return f"/sys/fs/cgroup/freezer/docker/{c.id}/freezer.state"

    def blkio_dir(self, c: FakeContainer) -> str:
        return f"/sys/fs/cgroup/blkio/docker/{c.id}"

    def _cgroups(self, c: FakeContainer) -> None:
        f = self.files
        f.files[f"/proc/{c.pid}/cgroup"] = (
            f"12:blkio:/docker/{c.id}\n11:freezer:/docker/{c.id}\n0::/system.slice\n"
        )
        f.files.setdefault(self.freezer_file(c), "THAWED\n")
        for name in ("blkio.throttle.write_bps_device", "blkio.throttle.write_iops_device"):
            f.files.setdefault(f"{self.blkio_dir(c)}/{name}", "")
        for m in c.mounts:
            f.devices[m["Source"]] = (8, 1)  # /dev/sda1, a partition of 8:0
        f.files["/sys/dev/block/8:1/partition"] = "1\n"
        f.files["/sys/dev/block/8:1/../dev"] = "8:0\n"

    def started(self, node: str) -> None:
        self._cgroups(self.containers[node])

    def stopped(self, node: str) -> None:
        pass

    def fsync_ms(self, node: str) -> float:
        c = self.containers[node]
        limit = self.files.limit(f"{self.blkio_dir(c)}/blkio.throttle.write_iops_device")
        return self.throttled_ms if limit else self.fsync_base_ms

    # -- the network ---------------------------------------------------------------------

    def ports_of(self, node: str) -> set[int]:
        """The ports a node's process listens on (the upstreams of the links into it)."""
        return {int(p.upstream.rpartition(":")[2]) for p in self.plan.proxies if p.dst == node}

    def up(self, node: str) -> bool:
        c = self.containers.get(node)
        return c is not None and c.status == "running" and c.listening

    def probe(self, src: str, port: int) -> ProbeResult:
        """What a probe from ``src`` to Toxiproxy's ``port`` sees, given the proxies'
        state: refused (no such proxy, or disabled), silent (a timeout toxic holds the
        bytes), answered (EOF: Toxiproxy's dial was refused; data: the node replied)."""
        plan = [p for p in self.plan.proxies if p.listen_port == port]
        if not plan or plan[0].name not in self.toxiproxy.proxies:
            return ProbeResult("refused", 0.001, "[Errno 111] Connection refused")
        p = plan[0]
        state = self.toxiproxy.proxies[p.name]
        if p.name not in self.leaky:
            if not state["enabled"]:
                return ProbeResult("refused", 0.001, "[Errno 111] Connection refused")
            if any(t["type"] == "timeout" for t in state["toxics"]):
                return ProbeResult("silent", 0.5)
        if not self.up(p.dst):
            return ProbeResult("answered", 0.002, "EOF")
        return ProbeResult("answered", 0.002, "reply data")

    def client_probe(self, address: str, deadline: float) -> ProbeResult:
        """`PartitionFault`'s ``probe`` for client links: ``<toxiproxy ip>:<port>``."""
        return self.probe(CLIENT, int(address.rpartition(":")[2]))

    def proxy(self, name: str) -> dict[str, Any]:
        return self.toxiproxy.proxies[name]

    def cut(self) -> dict[str, list[str]]:
        """Proxy → what cuts it now (``disabled``, toxic names)."""
        out: dict[str, list[str]] = {}
        for name, p in sorted(self.toxiproxy.proxies.items()):
            what = ([] if p["enabled"] else ["disabled"]) + sorted(t["name"] for t in p["toxics"])
            if what:
                out[name] = what
        return out

    # -- the replicas --------------------------------------------------------------------

    def replica_states(self) -> list[dict[str, JSON]]:
        """Per key and broker: the leader with its ISR (a follower whose fetch link to the
        leader has been cut for `lag` s is out; a stopped one too), the followers, and
        ``offline`` for stopped nodes."""
        now = self.clock.now()
        out: list[dict[str, JSON]] = []
        for key, leader in self.leaders.items():
            isr = [leader]
            for f in self.plan.brokers:
                if f == leader or not self.up(f):
                    continue
                since = self.toxiproxy.cut_since.get(link_name(f, leader))
                if since is None or self.lag is None or now - since < self.lag:
                    isr.append(f)
            for node in self.plan.brokers:
                c = self.containers[node]
                if c.status != "running":
                    out.append(
                        {
                            "key": key,
                            "node": node,
                            "role": "offline",
                            "leo": -1,
                            "hw": -1,
                            "epoch": -1,
                            "isr": [],
                        }
                    )
                    continue
                role = "leader" if node == leader else "follower"
                out.append(
                    {
                        "key": key,
                        "node": node,
                        "role": role,
                        "leo": 5,
                        "hw": 5,
                        "epoch": self.epochs[key],
                        "isr": sorted(isr) if role == "leader" else [],
                    }
                )
        return out


@contextmanager
def fake_world(
    nodes: int = 3, keys: int = 2, env: dict[str, str] | None = None
) -> Iterator[FakeWorld]:
    world = FakeWorld(nodes, keys, env)
    try:
        yield world
    finally:
        world.close()


def recorded(
    world: FakeWorld, fault: Fault, package: str, phase: Phase, value: JSON, history: str
) -> Op:
    """Run one op of ``fault`` the way the run does (`harness.nemesis.Nemesis.execute`)
    and return the nemesis op it wrote to the history file ``history``."""
    pkg = replace(FAULT_PACKAGES[package], fault=lambda _cluster: fault)
    with HistoryWriter(Path(history)) as writer:
        Nemesis(world.cluster, {package: pkg}, {}, [], writer).execute(
            FaultOp(0.0, phase, package, value)
        )
    ops, _ = read_history(history)
    (op,) = [o for o in ops if o.process == NEMESIS]
    return op
