"""A replog broker: holds replicas, answers clients, admin, peers and the controller.

Run it as ``python -m replog.broker --config broker.json`` (see `replog.config`). One
listening port serves everything. The broker opens, and keeps open, one connection per
outbound link: to the controller (heartbeats every ``broker.heartbeat.interval.ms``, and
AlterIsr proposals) and to each leader it follows (``replica_fetch`` long-polls and
``offsets_for_leader_epoch``). The controller opens its own connection to the broker
for LeaderAndIsr. All addresses come from the config, so each link can go through its
own proxy.

This module is the node: its lifecycle (recovery at start, checkpoints, a clean or a
crash stop), its background loops (heartbeats, ISR shrink), its links, and the state
changes LeaderAndIsr asks for (leader, follower). What it answers to each request type is
in `replog.broker_requests` (the table of requests and replies is there).

The broker logs every role change, truncation, ISR change and recovery action to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from functools import partial
from typing import Any

from replog.broker_requests import HANDLERS
from replog.config import BrokerConfig, Truncation, load_broker_config
from replog.follower import Follower
from replog.net import FrameServer, Link
from replog.partition import Replica, ReplicaError, Role
from replog.process import run_process
from replog.storage import (
    RECOVERY_CHECKPOINT,
    REPLICATION_CHECKPOINT,
    PartitionLog,
    read_offset_checkpoint,
    write_offset_checkpoint,
)
from replog.wire import REQUEST_TYPES, ErrorCode, FieldError, Message, error_reply


class Broker:
    """One broker node; `start` it inside a running event loop, `stop` it to leave."""

    def __init__(self, config: BrokerConfig, logger: logging.Logger | None = None) -> None:
        self.config = config
        self.node_id = config.node_id
        self.settings = config.settings
        self.log = logger or logging.getLogger(f"replog.broker.{config.node_id}")
        self.incarnation = os.urandom(6).hex()
        self.replicas: dict[int, Replica] = {}
        self.controller_epoch = -1
        self.state_version = -1
        self.cluster: dict[str, Any] = {"brokers": [], "partitions": {}}
        self.server = FrameServer(f"broker {self.node_id}", self.dispatch, self.log)
        s = self.settings
        self.controller_link = Link(
            f"{self.node_id}->controller",
            config.controller,
            self.log,
            s.reconnect_backoff_ms,
            s.reconnect_backoff_max_ms,
        )
        self.peer_links: dict[str, Link] = {}
        self.followers: dict[int, Follower] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_tasks: dict[int, asyncio.Task[None]] = {}
        self.running = False

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> int:
        """Recover the logs, listen, start heartbeats; returns the bound port."""
        data = self.config.data_dir
        data.mkdir(parents=True, exist_ok=True)
        hws = read_offset_checkpoint(data / REPLICATION_CHECKPOINT)
        self.log.info(
            "starting broker %s (incarnation %s, profile %s, truncation %s)",
            self.node_id, self.incarnation, self.config.profile,
            self.settings.replication_truncation,
        )  # fmt: skip
        for d in sorted(data.glob("replog-*")):
            suffix = d.name.removeprefix("replog-")
            if d.is_dir() and suffix.isdigit():
                r = self._open_replica(int(suffix), hws.get(int(suffix), 0))
                if self.settings.replication_truncation is Truncation.HW:
                    r.truncate(r.hw, "hw rule: restart, truncate to the checkpointed HW")
        self.write_checkpoints()
        port = await self.server.start(self.config.listen)
        self.running = True
        self._tasks = [
            asyncio.create_task(self._heartbeat_loop()),
            asyncio.create_task(self._isr_shrink_loop()),
        ]
        if self.settings.replica_high_watermark_checkpoint_interval_ms > 0:
            self._tasks.append(asyncio.create_task(self._checkpoint_loop()))
        self.log.info("broker %s listening on port %s", self.node_id, port)
        return port

    def _open_replica(self, key: int, hw: int) -> Replica:
        log = PartitionLog(
            self.config.data_dir / f"replog-{key}",
            key,
            self.settings.log_segment_records,
            self.settings.log_flush_interval_messages,
            self.log,
        )
        r = Replica(self.node_id, log, hw, self.settings, self.log)
        if self.settings.replica_high_watermark_checkpoint_interval_ms == 0:
            r.hw_listeners.append(lambda _key: self.write_checkpoints())
        self.replicas[key] = r
        return r

    async def stop(self, clean: bool = True) -> None:
        """Leave. ``clean``: flush and checkpoint first; otherwise behave like a crash
        (nothing more reaches the disk, all connections drop)."""
        self.running = False
        for f in list(self.followers.values()):
            await f.stop()
        self.followers.clear()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self.server.close()
        for link in [self.controller_link, *self.peer_links.values()]:
            await link.close()
        for r in self.replicas.values():
            r.go_offline()
            if clean:
                r.log.flush()
        if clean:
            self.write_checkpoints()
        for r in self.replicas.values():
            r.log.close()
        self.log.info("broker %s stopped (%s)", self.node_id, "clean" if clean else "crash")

    def write_checkpoints(self) -> None:
        d = self.config.data_dir
        write_offset_checkpoint(
            d / REPLICATION_CHECKPOINT, {k: r.hw for k, r in self.replicas.items()}
        )
        write_offset_checkpoint(
            d / RECOVERY_CHECKPOINT, {k: r.log.recovery_point for k, r in self.replicas.items()}
        )

    async def _checkpoint_loop(self) -> None:
        while self.running:
            await asyncio.sleep(self.settings.replica_high_watermark_checkpoint_interval_ms / 1000)
            self.write_checkpoints()

    async def _heartbeat_loop(self) -> None:
        s = self.settings
        failing = False
        while self.running:
            msg = {
                "type": "heartbeat",
                "node": self.node_id,
                "incarnation": self.incarnation,
                "controller_epoch": self.controller_epoch,
                "state_version": self.state_version,
            }
            try:
                await self.controller_link.request(msg, s.request_timeout_ms / 1000)
                if failing:
                    self.log.info("heartbeat: controller reachable again")
                failing = False
            except (ConnectionError, TimeoutError) as e:
                if not failing:
                    self.log.warning("heartbeat: controller unreachable: %s", e)
                failing = True
            await asyncio.sleep(s.broker_heartbeat_interval_ms / 1000)

    async def _isr_shrink_loop(self) -> None:
        period = max(self.settings.replica_lag_time_max_ms / 4, 20) / 1000
        while self.running:
            await asyncio.sleep(period)
            for r in list(self.replicas.values()):
                cand = r.shrink_candidate()
                if cand is not None:
                    self.propose_isr(r, cand, "shrink (followers lagging over lag.time.max.ms)")

    def propose_isr(self, r: Replica, isr: list[str], why: str) -> None:
        """Send AlterIsr to the controller; the ISR changes only when it accepts."""
        r.isr_change_in_flight = True
        self.log.info("key %s: isr %s proposed: %s -> %s", r.key, why, r.isr, isr)
        task = asyncio.create_task(self._alter_isr(r, isr))
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    async def _alter_isr(self, r: Replica, isr: list[str]) -> None:
        epoch, version = r.leader_epoch, r.isr_version
        msg = {
            "type": "alter_isr",
            "key": r.key,
            "leader": self.node_id,
            "leader_epoch": epoch,
            "isr_version": version,
            "isr": isr,
        }
        try:
            resp = await self.controller_link.request(msg, self.settings.request_timeout_ms / 1000)
        except (ConnectionError, TimeoutError) as e:
            self.log.warning("key %s: isr change %s not sent: %s", r.key, isr, e)
            await asyncio.sleep(self.settings.replica_fetch_backoff_ms / 1000)
            return
        finally:
            r.isr_change_in_flight = False
        if resp.get("error"):
            self.log.warning("key %s: isr change %s refused: %s", r.key, isr, resp.get("message"))
        if r.role is Role.LEADER and r.leader_epoch == epoch and "isr" in resp:
            r.update_isr(list(resp["isr"]), int(resp["isr_version"]))

    def peer_link(self, node: str) -> Link:
        if node not in self.peer_links:
            if node not in self.config.peers:
                raise ConnectionError(f"no address for peer {node!r} in config 'peers'")
            s = self.settings
            self.peer_links[node] = Link(
                f"{self.node_id}->{node}",
                self.config.peers[node],
                self.log,
                s.reconnect_backoff_ms,
                s.reconnect_backoff_max_ms,
            )
        return self.peer_links[node]

    # -- dispatch ------------------------------------------------------------------------

    async def dispatch(self, msg: Message) -> Message | None:
        req_id = msg.get("id")
        kind = msg.get("type")
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            known = sorted(HANDLERS)
            why = "is not served by a broker" if kind in REQUEST_TYPES else "is unknown"
            return error_reply(
                req_id, ErrorCode.UNKNOWN_REQUEST_TYPE, f"request type {kind!r} {why}; try {known}"
            )
        if not self.running:
            return error_reply(req_id, ErrorCode.BROKER_NOT_AVAILABLE, "broker is stopping")
        try:
            reply = await handler(self, msg)
        except ReplicaError as e:
            return error_reply(req_id, e.code, e.message)
        except FieldError as e:
            return error_reply(req_id, ErrorCode.INVALID_REQUEST, f"{kind}: {e}")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            # A structurally wrong payload deeper than the top-level fields.
            self.log.warning("%s request with a malformed payload: %r", kind, e)
            return error_reply(
                req_id, ErrorCode.INVALID_REQUEST, f"{kind}: malformed payload: {e!r:.200}"
            )
        if reply is None:
            return None
        reply["id"] = req_id
        return reply

    def replica(self, key: int) -> Replica:
        r = self.replicas.get(key)
        if r is None:
            raise ReplicaError(
                ErrorCode.UNKNOWN_PARTITION,
                f"{self.node_id} holds no replica of key {key}; known: {sorted(self.replicas)}",
            )
        return r

    # -- what requests change (`replog.broker_requests` calls these) -------------------

    async def flush_until(self, r: Replica, upto: int) -> None:
        """Group commit: wait until everything below `upto` is fsynced. One flush runs at
        a time per partition, in a worker thread; appends made while it runs share the
        next one."""
        while r.log.recovery_point < upto <= r.log.leo and self.running:  # a cut: stop
            await asyncio.shield(self._flush(r))

    def _flush(self, r: Replica) -> asyncio.Task[None]:
        """The partition's running flush, or a new one. A leader's HW counts its own
        records only once its flush policy is met, so each flush may move the HW."""
        task = self._flush_tasks.get(r.key)
        if task is None or task.done():  # done: its bookkeeping callback is pending
            task = asyncio.create_task(r.log.flush_async())
            self._flush_tasks[r.key] = task
            task.add_done_callback(partial(self._flush_done, r))
        return task

    def _flush_done(self, r: Replica, task: asyncio.Task[None]) -> None:
        if self._flush_tasks.get(r.key) is task:
            del self._flush_tasks[r.key]
        if not task.cancelled() and task.exception() is None:
            r.maybe_advance_hw()

    async def apply_partition(self, key: int, p: dict[str, Any]) -> None:
        """Take on one partition's state from LeaderAndIsr: a newer leader epoch makes this
        replica leader or follower (with a fresh `Follower`), the same epoch only updates
        the ISR of a replica already online, an older one is ignored."""
        r = self.replicas.get(key) or self._open_replica(key, 0)
        epoch, leader = int(p["leader_epoch"]), p["leader"]
        isr, version, replicas = list(p["isr"]), int(p["isr_version"]), list(p["replicas"])
        if epoch < r.leader_epoch:
            self.log.info("key %s: ignoring stale leader epoch %s < %s", key, epoch, r.leader_epoch)
            return
        if epoch == r.leader_epoch and r.role is not Role.OFFLINE:
            r.update_isr(isr, version)
            return
        old = self.followers.pop(key, None)
        if old is not None:
            await old.stop()
        if leader == self.node_id:
            r.become_leader(epoch, isr, version, replicas)
            if r.log.flush_due():  # records fetched but not yet fsynced hold the HW back
                self._flush(r)
        else:
            r.become_follower(leader, epoch, isr, version, replicas)
            if leader is not None:
                follower = Follower(self, r, leader, epoch)
                self.followers[key] = follower
                follower.start()


def main(argv: list[str] | None = None) -> None:
    run_process(
        argv,
        role="broker",
        description=__doc__.split("\n")[0],
        load=load_broker_config,
        make=Broker,
    )


if __name__ == "__main__":
    main()
