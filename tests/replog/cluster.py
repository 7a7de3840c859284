"""An in-process replog cluster for step-driven tests.

One asyncio loop runs in a background thread and hosts the controller and the brokers;
the test thread drives them with the blocking `ReplogClient` and `Cluster` methods.
Every node-to-node link (``("b", "a")`` = b's connection to a, which carries b's
fetches from a; ``("b", "controller")``; ``("controller", "b")``) goes through its own
`LinkProxy`, so a test can blackhole one direction of one link, or cut it, exactly as
Toxiproxy does in a real run. Clients talk to brokers directly.

Crash = `Broker.stop(clean=False)`: no flush, no checkpoint, every connection dropped;
what was written stays (like SIGKILL: the page cache survives). Synchronisation is by
condition polling with a deadline (`wait_until`), never by bare sleeps.

Ports: each node's port is reserved for the cluster's lifetime (`replog.localcluster.Ports`:
a restarted node listens on it again, and no other test or process is handed it); each
proxy listens on a port the OS chose when it started, and keeps it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from replog.broker import Broker
from replog.client import ReplogClient
from replog.config import broker_config_from_dict, controller_config_from_dict
from replog.controller import Controller
from replog.localcluster import Ports
from replog.storage import RECORD_BYTES

T = TypeVar("T")
LOG = logging.getLogger("tests.replog.cluster")

FAST_SETTINGS: dict[str, Any] = {
    "broker.session.timeout.ms": 1500,
    "broker.heartbeat.interval.ms": 100,
    "replica.lag.time.max.ms": 60_000,
    "replica.fetch.wait.max.ms": 200,
    "replica.fetch.backoff.ms": 50,
    "replica.high.watermark.checkpoint.interval.ms": 0,
    "request.timeout.ms": 2000,
    "reconnect.backoff.max.ms": 200,
}


def wait_until(cond: Callable[[], T | None], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll `cond` until it returns something truthy; its value. AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except (OSError, TimeoutError, KeyError, ValueError) as e:
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} ({last_exc!r})")
        time.sleep(0.02)


class LinkProxy:
    """A TCP proxy for one link; each direction can be blackholed, connections cut."""

    def __init__(self, name: str, target_port: int) -> None:
        self.name = name
        self.target_port = target_port
        self.port = 0
        """The port it listens on, chosen by the OS in `start` (and never given up)."""
        self.forward = True  # initiator -> listener bytes flow
        self.backward = True  # listener -> initiator bytes flow
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()

    def cut(self) -> None:
        for w in list(self._conns):
            w.transport.abort()
        self._conns.clear()

    async def _accept(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            tr, tw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            w.transport.abort()
            return
        self._conns.update({w, tw})
        await asyncio.gather(self._pipe(r, tw, True), self._pipe(tr, w, False))

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, fwd: bool) -> None:
        try:
            while data := await r.read(65536):
                if self.forward if fwd else self.backward:
                    w.write(data)
                    await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._conns.discard(w)
            w.transport.abort()


class Cluster:
    """Controller + brokers on loopback in a background loop; see the module docstring."""

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
        self.profile = profile
        self.settings = {**FAST_SETTINGS, **(settings or {})}
        self.rf = replication_factor or len(nodes)
        self.partitions = partitions
        self.reserved = Ports()
        """Every node's port stays the cluster's (a restart listens on it again)."""
        self.ports = {n: self.reserved.take() for n in nodes}
        self.controller_port = self.reserved.take()
        self.brokers: dict[str, Broker] = {}
        self.controller: Controller | None = None
        self.proxies: dict[tuple[str, str], LinkProxy] = {}
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        for src in nodes:
            for dst in nodes:
                if src != dst:
                    self.proxies[(src, dst)] = LinkProxy(f"{src}->{dst}", self.ports[dst])
            self.proxies[(src, "controller")] = LinkProxy(f"{src}->ctl", self.controller_port)
            self.proxies[("controller", src)] = LinkProxy(f"ctl->{src}", self.ports[src])
        for p in self.proxies.values():
            self.run(p.start())

    # -- plumbing ----------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run `coro` on the cluster's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the loop thread (to touch node state safely)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def client(self, node: str, timeout: float = 5.0) -> ReplogClient:
        return ReplogClient(f"127.0.0.1:{self.ports[node]}", timeout=timeout)

    def controller_client(self) -> ReplogClient:
        return ReplogClient(f"127.0.0.1:{self.controller_port}")

    # -- nodes ---------------------------------------------------------------------------

    def controller_config(self, data_dir: Path | None = None, port: int | None = None) -> Any:
        return controller_config_from_dict(
            {
                "listen": f"127.0.0.1:{port or self.controller_port}",
                "data_dir": str(data_dir or self.root / "controller"),
                "brokers": {
                    n: f"127.0.0.1:{self.proxies[('controller', n)].port}" for n in self.nodes
                },
                "partitions": self.partitions,
                "replication_factor": self.rf,
                "profile": self.profile,
                "settings": self.settings,
            }
        )

    def start_controller(self) -> Controller:
        c = Controller(self.controller_config())
        self.run(c.start())
        self.controller = c
        return c

    def broker_config(self, node: str) -> Any:
        return broker_config_from_dict(
            {
                "node_id": node,
                "listen": f"127.0.0.1:{self.ports[node]}",
                "data_dir": str(self.root / node),
                "controller": f"127.0.0.1:{self.proxies[(node, 'controller')].port}",
                "peers": {
                    m: f"127.0.0.1:{self.proxies[(node, m)].port}" for m in self.nodes if m != node
                },
                "profile": self.profile,
                "settings": self.settings,
            }
        )

    def start_broker(self, node: str) -> Broker:
        b = Broker(self.broker_config(node))
        self.run(b.start())
        self.brokers[node] = b
        return b

    def start(self) -> Cluster:
        self.start_controller()
        for n in self.nodes:
            self.start_broker(n)
        return self

    def crash(self, node: str, lose_unflushed: bool = False) -> None:
        """Stop `node` like SIGKILL: nothing flushed or checkpointed, connections dropped.

        ``lose_unflushed`` makes it a power loss: every segment is cut back to the log's
        recovery point (what was fsynced), as if the page cache vanished.
        """
        b = self.brokers.pop(node)
        points = self.call(lambda: {r.log.dir: r.log.recovery_point for r in b.replicas.values()})
        seg = b.settings.log_segment_records
        self.run(b.stop(clean=False))
        if lose_unflushed:
            for d, rp in points.items():
                for f in sorted(d.glob("*.log")):
                    keep = max(0, min(seg, rp - int(f.stem)))
                    os.truncate(f, min(f.stat().st_size, keep * RECORD_BYTES))
        for (src, dst), p in self.proxies.items():
            if node in (src, dst):
                p.cut()

    def restart(self, node: str) -> Broker:
        return self.start_broker(node)

    def _teardown_step(self, what: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run one teardown step; a failure is logged and the teardown goes on."""
        try:
            self.run(coro, timeout=10)
        except Exception:
            LOG.exception("teardown of %s failed; continuing", what)

    def close(self) -> None:
        """Stop every node and proxy, then the loop (also after a failed test)."""
        for n in list(self.brokers):
            self._teardown_step(f"broker {n}", self.brokers.pop(n).stop(clean=True))
        if self.controller is not None:
            self._teardown_step("controller", self.controller.stop())
        for name, p in self.proxies.items():
            self._teardown_step(f"proxy {name}", p.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.reserved.release()

    # -- links ---------------------------------------------------------------------------

    def block(self, src: str, dst: str, forward: bool = False, backward: bool = False) -> None:
        """Blackhole the link src→dst: by default both directions stop carrying bytes."""
        p = self.proxies[(src, dst)]

        def apply() -> None:
            p.forward, p.backward = forward, backward

        self.call(apply)

    def heal(self, src: str, dst: str) -> None:
        """Let src→dst carry bytes again and cut its connections (they may hold a partial
        frame from the blackhole), so the initiator reconnects cleanly."""
        p = self.proxies[(src, dst)]

        def apply() -> None:
            p.forward = p.backward = True
            p.cut()

        self.call(apply)

    # -- observations ----------------------------------------------------------------------

    def state(self, node: str, key: int = 0) -> dict[str, Any]:
        """The replica of `key` on `node` (read on the loop thread, no network)."""
        return self.call(lambda: self.brokers[node].replicas[key].state())

    def records(self, node: str, key: int = 0) -> list[int]:
        return self.call(lambda: list(self.brokers[node].replicas[key].log.values))

    def partition(self, key: int = 0) -> dict[str, Any]:
        """The controller's view of `key`."""
        assert self.controller is not None
        c = self.controller
        return self.call(lambda: dict(c.state_message()["partitions"][str(key)]))

    def wait_leader(
        self, node: str | None, key: int = 0, epoch: int | None = None
    ) -> dict[str, Any]:
        """Wait until the controller has `node` as leader (and `epoch`), and the node knows."""

        def ok() -> dict[str, Any] | None:
            p = self.partition(key)
            if p["leader"] != node or (epoch is not None and p["leader_epoch"] != epoch):
                return None
            if node is not None:
                s = self.state(node, key)
                if s["role"] != "leader" or s["epoch"] != p["leader_epoch"]:
                    return None
            return p

        return wait_until(ok, what=f"leader {node} (epoch {epoch}) of key {key}")

    def wait_isr(self, isr: set[str], key: int = 0) -> None:
        def ok() -> bool:
            p = self.partition(key)
            leader = p["leader"]
            return set(p["isr"]) == isr and (
                leader is None
                or leader not in self.brokers
                or set(self.state(leader, key)["isr"]) == isr
            )

        wait_until(ok, what=f"isr {sorted(isr)} of key {key}")

    def wait_caught_up(self, node: str, leo: int, key: int = 0) -> None:
        wait_until(lambda: self.state(node, key)["leo"] == leo, what=f"{node} at leo {leo}")

    def wait_hw(self, node: str, hw: int, key: int = 0) -> None:
        wait_until(lambda: self.state(node, key)["hw"] == hw, what=f"{node} at hw {hw}")

    def controller_sees_live(self, node: str) -> bool:
        c = self.controller
        assert c is not None
        return self.call(lambda: c.is_live(node))

    def controller_epoch_of(self, node: str) -> int:
        return self.call(lambda: self.brokers[node].controller_epoch)
