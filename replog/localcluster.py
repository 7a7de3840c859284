"""A replog cluster of real processes on loopback, for tests, benchmarks and tinkering.

    >>> with LocalCluster(Path("/tmp/rl"), ["n1", "n2", "n3"], partitions=3) as lc:
    ...     lc.wait_ready()
    ...     ReplogClient(lc.address(lc.leader(0))).produce(0, 42)

Each node is ``python -m replog.controller|broker --config <root>/<node>.json``; its
stderr goes to ``<root>/<node>.log``. Nodes talk to each other directly (no proxies).
`kill` sends SIGKILL; `restart` starts the node again on the same port and data dir.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from replog.client import ReplogClient

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


class Ports:
    """Loopback ports held for a cluster's lifetime, so that no one else is handed them.

    Finding a free port by binding to port 0 and closing the socket does not reserve it:
    the next bind to port 0, in this process or another, may be handed the same number,
    and the second node to listen on it fails with "address already in use" (about one
    cluster in a hundred drew such a pair among its 16 ports). `take` keeps its socket
    bound, with SO_REUSEADDR and never listening, until `release`: the kernel gives the
    port to no other bind to port 0 nor to an outgoing connection, a connection to it is
    refused while no node listens there (as to a crashed node), and a node may listen on
    it, again after every restart, since asyncio's servers set SO_REUSEADDR too.
    """

    def __init__(self) -> None:
        self._held: list[socket.socket] = []

    def take(self) -> int:
        """A port on 127.0.0.1 that stays this cluster's until `release`."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
        except OSError:
            s.close()
            raise
        self._held.append(s)
        return int(s.getsockname()[1])

    def release(self) -> None:
        for s in self._held:
            s.close()
        self._held.clear()


class LocalCluster:
    """A controller and brokers as subprocesses; see the module docstring."""

    def __init__(
        self,
        root: Path,
        nodes: list[str],
        partitions: int = 1,
        replication_factor: int | None = None,
        profile: str = "kafka-0.11",
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.nodes = nodes
        self.reserved = Ports()
        self.ports = {n: self.reserved.take() for n in nodes}
        self.controller_port = self.reserved.take()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        root.mkdir(parents=True, exist_ok=True)
        addr = {n: f"127.0.0.1:{p}" for n, p in self.ports.items()}
        common = {"profile": profile, "settings": settings or {}}
        self._write(
            "controller",
            {
                "listen": f"127.0.0.1:{self.controller_port}",
                "data_dir": str(root / "controller"),
                "brokers": addr,
                "partitions": partitions,
                "replication_factor": replication_factor or len(nodes),
                **common,
            },
        )
        for n in nodes:
            self._write(
                n,
                {
                    "node_id": n,
                    "listen": addr[n],
                    "data_dir": str(root / n),
                    "controller": f"127.0.0.1:{self.controller_port}",
                    "peers": {m: a for m, a in addr.items() if m != n},
                    **common,
                },
            )

    def _write(self, name: str, doc: dict[str, Any]) -> None:
        (self.root / f"{name}.json").write_text(json.dumps(doc, indent=1))

    def start_node(self, name: str) -> None:
        """Start the controller (``"controller"``) or a broker by node id."""
        module = "replog.controller" if name == "controller" else "replog.broker"
        env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT}
        with (self.root / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", module, "--config", str(self.root / f"{name}.json")],
                stdout=log,
                stderr=log,
                env=env,
            )

    def start(self) -> LocalCluster:
        self.start_node("controller")
        for n in self.nodes:
            self.start_node(n)
        return self

    def kill(self, name: str) -> None:
        """SIGKILL a node and reap it."""
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def restart(self, name: str) -> None:
        self.start_node(name)

    def stop(self) -> None:
        """SIGTERM every node (clean shutdown), SIGKILL what does not exit in 10 s; then
        give up the cluster's ports."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs.clear()
        self.reserved.release()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def address(self, node: str) -> str:
        return f"127.0.0.1:{self.ports[node]}"

    def log_text(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def metadata(self, node: str | None = None) -> dict[str, Any]:
        """Metadata from `node`, or from the controller."""
        addr = self.address(node) if node else f"127.0.0.1:{self.controller_port}"
        with ReplogClient(addr, timeout=2.0) as c:
            return c.metadata()

    def leader(self, key: int) -> str:
        leader = self.metadata()["partitions"][str(key)]["leader"]
        if leader is None:
            raise LookupError(f"key {key} has no leader")
        return str(leader)

    def wait_ready(self, timeout: float = 30.0, live: list[str] | None = None) -> dict[str, Any]:
        """Wait until every broker in `live` (default: all) is registered, every partition
        has a leader and every live broker has heard so; the controller's metadata."""
        want = sorted(live or self.nodes)
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                md = self.metadata()
                parts = md["partitions"]
                if md["brokers"] == want and all(p["leader"] in want for p in parts.values()):
                    views = [self.metadata(n) for n in want]
                    if all(v["partitions"] == parts for v in views):
                        return md
                last = md
            except (OSError, TimeoutError) as e:
                last = e
            time.sleep(0.05)
        raise TimeoutError(f"cluster not ready in {timeout}s; last: {last!r}; logs in {self.root}")
