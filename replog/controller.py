"""The replog controller: broker liveness, leader election, ISR changes, epochs.

Run it as ``python -m replog.controller --config controller.json``. It plays the part of
Kafka's controller plus ZooKeeper:

- **Controller epoch**: stored in ``<data_dir>/controller-epoch`` and bumped on every
  start. Every LeaderAndIsr carries it; a broker refuses one with an older epoch than it
  has seen (``STALE_CONTROLLER_EPOCH``), which fences a deposed controller.
- **Partition state** (``<data_dir>/controller-state.json``): per key the replicas (RF
  consecutive brokers in sorted order, starting at ``key mod N``), leader, leader epoch,
  ISR and ``isr_version``. Written atomically on every change.
- **Liveness**: brokers heartbeat; a broker silent for ``broker.session.timeout.ms`` is
  dead (like an expired ZooKeeper session). At start every broker is presumed alive for
  one session timeout. A heartbeat with a new *incarnation* means the broker restarted
  within the session: it keeps its ISR membership (the controller saw no session end),
  but partitions it led get a new leader epoch (elsewhere if possible). The incarnations
  are part of the persisted state, like ZooKeeper's broker registrations (KIP-380's
  broker epoch): a controller that starts after a broker restarted still sees the new
  incarnation, so a broker that lost un-fsynced records in a power loss while no
  controller ran does not go on leading in its old epoch (its followers would truncate
  committed records to match it).
- **Election** when a leader dies: the first live ISR member in replica order. If none
  is live: with ``unclean.leader.election.enable`` the first live replica (ISR becomes
  just it; records it lacks are lost), otherwise the partition stays leaderless until an
  ISR member returns. Every leader change bumps the leader epoch. A dead follower is
  removed from the ISR without an epoch bump.
- **AlterIsr** from a leader is accepted only for the current leader, leader epoch and
  ``isr_version``; the new ISR gets the next ``isr_version``.
- After every change the full state goes to every live broker as one ``leader_and_isr``
  request (it doubles as Kafka's UpdateMetadata), over the controller's own connection
  to each broker. A broker whose heartbeat reports an older state gets it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from replog.config import ControllerConfig, load_controller_config
from replog.net import FrameServer, Link
from replog.process import run_process
from replog.storage import write_atomically
from replog.wire import (
    ErrorCode,
    FieldError,
    Message,
    error_reply,
    field_int,
    field_list,
    field_str,
)


@dataclass(slots=True)
class PartitionState:
    replicas: list[str]
    leader: str | None
    leader_epoch: int
    isr: list[str]
    isr_version: int


@dataclass(slots=True)
class BrokerState:
    last_seen: float
    live: bool = True
    registered: bool = False
    incarnation: str = ""
    push_running: bool = False
    push_again: bool = False


def assign_replicas(brokers: list[str], key: int, rf: int) -> list[str]:
    """RF consecutive brokers (sorted order) starting at ``key mod N``."""
    order = sorted(brokers)
    return [order[(key + i) % len(order)] for i in range(rf)]


class Controller:
    """See the module docstring. `start` inside a running loop; `stop` to leave."""

    def __init__(self, config: ControllerConfig, logger: logging.Logger | None = None) -> None:
        self.config = config
        self.settings = config.settings
        self.log = logger or logging.getLogger("replog.controller")
        self.epoch = -1
        self.state_version = 0
        self.partitions: dict[int, PartitionState] = {}
        self.brokers: dict[str, BrokerState] = {}
        self.server = FrameServer("controller", self.dispatch, self.log)
        s = self.settings
        self.links = {
            n: Link(
                f"controller->{n}", a, self.log, s.reconnect_backoff_ms, s.reconnect_backoff_max_ms
            )
            for n, a in config.brokers.items()
        }
        self._tasks: list[asyncio.Task[None]] = []
        self.fenced = False
        self.stopped = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> int:
        d = self.config.data_dir
        d.mkdir(parents=True, exist_ok=True)
        epoch_file = d / "controller-epoch"
        old = int(epoch_file.read_text().strip()) if epoch_file.exists() else 0
        self.epoch = old + 1
        write_atomically(epoch_file, f"{self.epoch}\n")
        known = self._load_state()
        t = time.monotonic()
        self.brokers = {
            n: BrokerState(last_seen=t, incarnation=known.get(n, "")) for n in self.config.brokers
        }
        port = await self.server.start(self.config.listen)
        self._tasks.append(asyncio.create_task(self._liveness_loop()))
        self.log.info(
            "controller started: epoch %s (was %s), %s partitions, listening on port %s",
            self.epoch, old, len(self.partitions), port,
        )  # fmt: skip
        return port

    async def stop(self) -> None:
        self.stopped = True
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        await self.server.close()
        for link in self.links.values():
            await link.close()
        self.log.info("controller epoch %s stopped", self.epoch)

    def _state_path(self) -> Path:
        return self.config.data_dir / "controller-state.json"

    def _load_state(self) -> dict[str, str]:
        """The partition state (created on the first start); returns the brokers'
        incarnations the last controller saw."""
        path = self._state_path()
        if path.exists():
            doc = json.loads(path.read_text())
            self.partitions = {int(k): PartitionState(**v) for k, v in doc["partitions"].items()}
            return {str(k): str(v) for k, v in doc.get("incarnations", {}).items()}
        names = list(self.config.brokers)
        for key in range(self.config.partitions):
            replicas = assign_replicas(names, key, self.config.replication_factor)
            self.partitions[key] = PartitionState(replicas, replicas[0], 0, list(replicas), 0)
        self._save_state()
        return {}

    def _save_state(self) -> None:
        doc = {
            "partitions": {str(k): dataclasses.asdict(p) for k, p in self.partitions.items()},
            "incarnations": {n: b.incarnation for n, b in self.brokers.items() if b.incarnation},
        }
        write_atomically(self._state_path(), json.dumps(doc, indent=1, sort_keys=True))

    def _changed(self) -> None:
        """Persist, bump the state version and push the state to every live broker."""
        self._save_state()
        self.state_version += 1
        for node, b in self.brokers.items():
            if b.live and b.registered:
                self.push(node)

    def is_live(self, node: str) -> bool:
        b = self.brokers.get(node)
        return b is not None and b.live

    # -- state push ----------------------------------------------------------------------

    def state_message(self) -> Message:
        return {
            "type": "leader_and_isr",
            "controller_epoch": self.epoch,
            "state_version": self.state_version,
            "brokers": sorted(n for n, b in self.brokers.items() if b.live and b.registered),
            "partitions": {str(k): dataclasses.asdict(p) for k, p in self.partitions.items()},
        }

    def push(self, node: str) -> None:
        """Send the current state to `node` soon (coalescing concurrent pushes)."""
        b = self.brokers[node]
        if b.push_running:
            b.push_again = True
            return
        b.push_running = True
        task = asyncio.create_task(self._push_loop(node))
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    async def _push_loop(self, node: str) -> None:
        b = self.brokers[node]
        try:
            while True:
                b.push_again = False
                await self.send_state(node)
                if not b.push_again:
                    return
        finally:
            b.push_running = False

    async def send_state(self, node: str) -> Message | None:
        """Send LeaderAndIsr to `node` now; its reply, or None if the link failed."""
        try:
            reply = await self.links[node].request(
                self.state_message(), self.settings.request_timeout_ms / 1000
            )
        except (ConnectionError, TimeoutError) as e:
            self.log.warning("LeaderAndIsr to %s failed: %s", node, e)
            return None
        if reply.get("error") == ErrorCode.STALE_CONTROLLER_EPOCH:
            if not self.fenced:
                self.log.warning("fenced: %s says %s", node, reply.get("message"))
            self.fenced = True
        elif reply.get("error"):
            self.log.warning("LeaderAndIsr to %s refused: %s", node, reply.get("message"))
        return reply

    # -- liveness and elections --------------------------------------------------------

    async def _liveness_loop(self) -> None:
        s = self.settings
        period = min(s.broker_heartbeat_interval_ms, s.broker_session_timeout_ms / 4) / 1000
        while not self.stopped:
            await asyncio.sleep(period)
            now = time.monotonic()
            for node, b in self.brokers.items():
                if b.live and now - b.last_seen > s.broker_session_timeout_ms / 1000:
                    self.on_broker_failure(node)

    def on_broker_failure(self, node: str) -> None:
        b = self.brokers[node]
        b.live, b.registered = False, False
        self.log.warning(
            "broker %s is dead: no heartbeat for %s ms",
            node, self.settings.broker_session_timeout_ms,
        )  # fmt: skip
        for key, p in sorted(self.partitions.items()):
            if p.leader == node:
                self.elect(key, p, f"leader {node} died")
            elif node in p.isr and len(p.isr) > 1:
                p.isr = [r for r in p.isr if r != node]
                p.isr_version += 1
                self.log.info(
                    "key %s: isr shrink: dead follower %s removed -> %s", key, node, p.isr
                )
        self._changed()

    def on_broker_startup(self, node: str, restarted: bool) -> None:
        for key, p in sorted(self.partitions.items()):
            if node not in p.replicas:
                continue
            if p.leader is None:
                self.elect(key, p, f"{node} came back to a leaderless partition")
            elif restarted and p.leader == node:
                self.elect(key, p, f"leader {node} restarted", exclude=node)
        self._changed()

    def elect(self, key: int, p: PartitionState, why: str, exclude: str | None = None) -> None:
        """Pick a new leader for `p` (see module doc) and bump its leader epoch."""
        live_isr = [r for r in p.replicas if r in p.isr and self.is_live(r)]
        candidates = [r for r in live_isr if r != exclude] or live_isr
        old_leader, old_isr = p.leader, list(p.isr)
        if candidates:
            leader: str | None = candidates[0]
            isr = [r for r in p.isr if self.is_live(r)]
            kind = "clean"
        elif self.settings.unclean_leader_election_enable and any(map(self.is_live, p.replicas)):
            leader = next(r for r in p.replicas if self.is_live(r))
            isr = [leader]
            kind = "UNCLEAN (out-of-ISR replica; records it lacks are lost)"
        else:
            leader, isr, kind = None, list(p.isr), "none possible: no live ISR member, leaderless"
        p.leader, p.leader_epoch, p.isr = leader, p.leader_epoch + 1, isr
        p.isr_version += 1
        self.log.warning(
            "election key %s (%s): %s; leader %s -> %s, epoch %s, isr %s -> %s",
            key, why, kind, old_leader, leader, p.leader_epoch, old_isr, isr,
        )  # fmt: skip

    # -- requests --------------------------------------------------------------------------

    async def dispatch(self, msg: Message) -> Message | None:
        handlers = {
            "heartbeat": self._heartbeat,
            "alter_isr": self._alter_isr,
            "metadata": self._metadata,
        }
        kind = msg.get("type")
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return error_reply(
                msg.get("id"),
                ErrorCode.UNKNOWN_REQUEST_TYPE,
                f"the controller serves {sorted(handlers)}, not {kind!r}",
            )
        try:
            reply = handler(msg)
        except FieldError as e:
            return error_reply(msg.get("id"), ErrorCode.INVALID_REQUEST, f"{kind}: {e}")
        reply.setdefault("id", msg.get("id"))
        return reply

    def _metadata(self, msg: Message) -> Message:
        state = self.state_message()
        return {k: state[k] for k in ("controller_epoch", "state_version", "brokers", "partitions")}

    def _heartbeat(self, msg: Message) -> Message:
        node, inc = field_str(msg, "node"), field_str(msg, "incarnation")
        if node not in self.brokers:
            raise FieldError(f"broker {node!r} is not in the controller's 'brokers' config")
        b = self.brokers[node]
        b.last_seen = time.monotonic()
        if not b.registered or not b.live:
            b.live, b.registered = True, True
            restarted = b.incarnation not in ("", inc)
            b.incarnation = inc
            self.log.info("broker %s registered (incarnation %s)", node, inc)
            self.on_broker_startup(node, restarted)
        elif b.incarnation != inc:
            self.log.warning("broker %s restarted within its session (incarnation %s)", node, inc)
            b.incarnation = inc
            self.on_broker_startup(node, restarted=True)
        ce, sv = field_int(msg, "controller_epoch", -1), field_int(msg, "state_version", -1)
        if (ce, sv) != (self.epoch, self.state_version):
            self.push(node)
        return {"controller_epoch": self.epoch, "state_version": self.state_version}

    def _alter_isr(self, msg: Message) -> Message:
        key, leader = field_int(msg, "key"), field_str(msg, "leader")
        epoch, version = field_int(msg, "leader_epoch"), field_int(msg, "isr_version")
        isr = [str(x) for x in field_list(msg, "isr")]
        p = self.partitions.get(key)
        rid = msg.get("id")
        if p is None:
            return error_reply(rid, ErrorCode.UNKNOWN_PARTITION, f"no partition {key}")
        if leader != p.leader or epoch != p.leader_epoch:
            return error_reply(
                rid,
                ErrorCode.FENCED_EPOCH,
                f"key {key}: {leader} at epoch {epoch} is not the leader (leader {p.leader}, "
                f"epoch {p.leader_epoch})",
            )
        current = {"isr": p.isr, "isr_version": p.isr_version}
        if version != p.isr_version:
            return {
                **error_reply(
                    rid,
                    ErrorCode.STALE_ISR_VERSION,
                    f"key {key}: isr_version {version} != current {p.isr_version}",
                ),
                **current,
            }
        if leader not in isr or not set(isr) <= set(p.replicas) or len(set(isr)) != len(isr):
            return {
                **error_reply(
                    rid,
                    ErrorCode.INVALID_REQUEST,
                    f"key {key}: ISR {isr} must hold the leader and only replicas {p.replicas}",
                ),
                **current,
            }
        self.log.info("key %s: isr change by leader %s: %s -> %s", key, leader, p.isr, isr)
        p.isr, p.isr_version = isr, p.isr_version + 1
        self._changed()
        return {"isr": p.isr, "isr_version": p.isr_version}


def main(argv: list[str] | None = None) -> None:
    run_process(
        argv,
        role="controller",
        description=None,
        load=load_controller_config,
        make=Controller,
    )


if __name__ == "__main__":
    main()
