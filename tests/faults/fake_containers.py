"""The container layer of `tests.faults.fakes.FakeWorld`: node containers answering like
Docker does, with the in-container agent simulated (`FakeContainer`), and the host's
cgroup files (`FakeFiles`). Failures are scripted: ``container.fail["pause"] =
[api_error(409, "...")]`` makes the next pause raise that error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests
from docker.errors import APIError
from docker.models.containers import ExecResult

if TYPE_CHECKING:
    from tests.faults.fakes import FakeWorld

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
        if argv[:2] == ["python3", "-c"]:  # the fsync probe: dir, n, least, budget_s
            n, least, budget_s = int(argv[4]), int(argv[5]), float(argv[6])
            ms = self.world.fsync_ms(self.node)
            made = next((k for k in range(least, n) if k * ms / 1000 >= budget_s), n)
            return reply({"ok": True, "ms": [ms] * made})
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
