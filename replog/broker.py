"""A replog broker: holds replicas, answers clients, admin, peers and the controller.

Run it as ``python -m replog.broker --config broker.json`` (see `replog.config`). One
listening port serves everything. The broker opens, and keeps open, one connection per
outbound link: to the controller (heartbeats every ``broker.heartbeat.interval.ms``, and
AlterIsr proposals) and to each leader it follows (``replica_fetch`` long-polls and
``offsets_for_leader_epoch``). The controller opens its own connection to the broker
for LeaderAndIsr. All addresses come from the config, so each link can go through its
own proxy.

Request handling (fields beyond ``type``/``id``):

========================= =================================================== ===============
request                   fields                                               reply
========================= =================================================== ===============
metadata                  -                                                    controller_epoch,
                                                                               brokers, partitions
produce                   key, value, acks (0, 1, -1), timeout_ms              offset
fetch                     key, offset, max_records                             records, hw
list_offsets              key                                                  start, hw, leo
replica_states            -                                                    replicas
dump                      key                                                  key, node, hw, leo,
                                                                               records, epochs
replica_fetch             key, node, leader_epoch, offset, hw, max_wait_ms,    records
                          max_records                                          ([off, epoch, v]),
                                                                               hw, leo
offsets_for_leader_epoch  key, leader_epoch, epoch                             epoch, end_offset
leader_and_isr            controller_epoch, state_version, brokers,            -
                          partitions
========================= =================================================== ===============

The broker logs every role change, truncation, ISR change and recovery action to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from replog.config import BrokerConfig, Truncation, load_broker_config
from replog.follower import Follower
from replog.net import FrameServer, Link
from replog.partition import Replica, ReplicaError, Role
from replog.storage import (
    RECOVERY_CHECKPOINT,
    REPLICATION_CHECKPOINT,
    PartitionLog,
    read_offset_checkpoint,
    write_offset_checkpoint,
)
from replog.wire import (
    REQUEST_TYPES,
    ErrorCode,
    FieldError,
    Message,
    error_reply,
    field_int,
    field_str,
)

Handler = Callable[[Message], Awaitable[Message | None]]
MAX_WAIT_MS = 3_600_000  # bounds on request fields (a frame must not break the node)
MAX_RECORDS = 100_000


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
        self._handlers: dict[str, Handler] = {
            "metadata": self._metadata,
            "produce": self._produce,
            "fetch": self._fetch,
            "list_offsets": self._list_offsets,
            "replica_states": self._replica_states,
            "dump": self._dump,
            "replica_fetch": self._replica_fetch,
            "offsets_for_leader_epoch": self._offsets_for_leader_epoch,
            "leader_and_isr": self._leader_and_isr,
        }
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
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            known = sorted(self._handlers)
            why = "is not served by a broker" if kind in REQUEST_TYPES else "is unknown"
            return error_reply(
                req_id, ErrorCode.UNKNOWN_REQUEST_TYPE, f"request type {kind!r} {why}; try {known}"
            )
        if not self.running:
            return error_reply(req_id, ErrorCode.BROKER_NOT_AVAILABLE, "broker is stopping")
        try:
            reply = await handler(msg)
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

    # -- client requests ---------------------------------------------------------------

    async def _metadata(self, msg: Message) -> Message:
        return {"controller_epoch": self.controller_epoch, **self.cluster}

    async def _produce(self, msg: Message) -> Message | None:
        key, value = field_int(msg, "key"), field_int(msg, "value")
        acks, timeout_ms = (
            field_int(msg, "acks", -1),
            field_int(msg, "timeout_ms", 5000, 0, MAX_WAIT_MS),
        )
        if acks not in (-1, 0, 1):
            raise FieldError(f"acks must be -1 (all), 0 or 1, got {acks}")
        r = self.replica(key)
        try:
            offset = r.append_as_leader(value, acks)
        except ReplicaError as e:
            if acks == 0:
                self.log.info("key %s: acks=0 produce dropped: %s", key, e.message)
                return None
            raise
        if r.log.flush_due():
            await self._flush(r, offset + 1)
        if acks == 0:
            return None
        if acks == 1:
            return {"offset": offset}
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                await r.wait_committed(offset)
        except TimeoutError:
            raise ReplicaError(
                ErrorCode.REQUEST_TIMED_OUT,
                f"offset {offset} of key {key} not committed within {timeout_ms} ms "
                f"(hw {r.hw}, isr {r.isr}); it may still commit",
            ) from None
        return {"offset": offset}

    async def _flush(self, r: Replica, upto: int) -> None:
        """Group commit: wait until everything below `upto` is fsynced. One flush runs at
        a time per partition, in a worker thread; appends made while it runs share the
        next one."""
        while r.log.recovery_point < upto and self.running:
            task = self._flush_tasks.get(r.key)
            if task is None or task.done():  # done: its bookkeeping callback is pending
                task = asyncio.create_task(r.log.flush_async())
                self._flush_tasks[r.key] = task
                task.add_done_callback(partial(self._flush_done, r.key))
            await asyncio.shield(task)

    def _flush_done(self, key: int, task: asyncio.Task[None]) -> None:
        if self._flush_tasks.get(key) is task:
            del self._flush_tasks[key]

    async def _fetch(self, msg: Message) -> Message:
        key, offset = field_int(msg, "key"), field_int(msg, "offset")
        max_records = field_int(msg, "max_records", 1000, 0, MAX_RECORDS)
        r = self.replica(key)
        r.check_leader()
        if offset < 0 or offset > r.log.leo:
            raise ReplicaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"offset {offset} of key {key} is outside 0..{r.log.leo} (the log end offset)",
            )
        end = min(r.hw, offset + max(max_records, 0))
        return {"records": r.log.read(offset, end), "hw": r.hw}

    async def _list_offsets(self, msg: Message) -> Message:
        r = self.replica(field_int(msg, "key"))
        r.check_leader()
        return {"start": 0, "hw": r.hw, "leo": r.log.leo}

    async def _replica_states(self, msg: Message) -> Message:
        return {"replicas": [self.replicas[k].state() for k in sorted(self.replicas)]}

    async def _dump(self, msg: Message) -> Message:
        return self.replica(field_int(msg, "key")).dump()

    # -- peer requests (this broker as leader) -----------------------------------------

    async def _replica_fetch(self, msg: Message) -> Message:
        s = self.settings
        key, node = field_int(msg, "key"), field_str(msg, "node")
        epoch, offset = field_int(msg, "leader_epoch"), field_int(msg, "offset")
        known_hw = field_int(msg, "hw", -1)
        max_wait = field_int(msg, "max_wait_ms", s.replica_fetch_wait_max_ms, 0, MAX_WAIT_MS)
        max_records = field_int(msg, "max_records", s.replica_fetch_max_records, 0, MAX_RECORDS)
        r = self.replica(key)
        r.check_leader()
        r.check_epoch(epoch)
        try:
            grow = r.on_follower_fetch(node, offset)
        except ReplicaError as e:
            if e.code is ErrorCode.OFFSET_OUT_OF_RANGE:
                return {**error_reply(None, e.code, e.message), "leo": r.log.leo}
            raise
        if grow is not None:
            self.propose_isr(r, grow, f"expand ({node} reached the HW at offset {offset})")
        records = r.read_for_follower(offset, max_records)
        if not records and r.hw <= known_hw and max_wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max_wait / 1000):
                    await asyncio.shield(r.changed())
            r.check_leader()
            r.check_epoch(epoch)
            if offset > r.log.leo:  # the leader truncated meanwhile (cannot happen as leader)
                return {
                    **error_reply(None, ErrorCode.OFFSET_OUT_OF_RANGE, "log shrank"),
                    "leo": r.log.leo,
                }
            records = r.read_for_follower(offset, max_records)
        return {"records": records, "hw": r.hw, "leo": r.log.leo}

    async def _offsets_for_leader_epoch(self, msg: Message) -> Message:
        r = self.replica(field_int(msg, "key"))
        r.check_leader()
        r.check_epoch(field_int(msg, "leader_epoch"))
        asked = field_int(msg, "epoch")
        epoch, end = r.epoch_end_offset(asked)
        self.log.info(
            "key %s: OffsetsForLeaderEpoch(%s) -> epoch %s end offset %s", r.key, asked, epoch, end
        )
        return {"epoch": epoch, "end_offset": end}

    # -- controller requests ------------------------------------------------------------

    async def _leader_and_isr(self, msg: Message) -> Message:
        ce, sv = field_int(msg, "controller_epoch"), field_int(msg, "state_version")
        if ce < self.controller_epoch:
            self.log.warning(
                "fenced: LeaderAndIsr from controller epoch %s < %s rejected",
                ce,
                self.controller_epoch,
            )
            raise ReplicaError(
                ErrorCode.STALE_CONTROLLER_EPOCH,
                f"controller epoch {ce} is older than {self.controller_epoch}, known to "
                f"{self.node_id}; a newer controller has taken over",
            )
        if ce == self.controller_epoch and sv <= self.state_version:
            return {"applied": False}
        parts = msg.get("partitions")
        check_partitions(parts)
        assert isinstance(parts, dict)
        if ce > self.controller_epoch:
            self.log.info("controller epoch %s -> %s", self.controller_epoch, ce)
        self.controller_epoch, self.state_version = ce, sv
        self.cluster = {"brokers": list(msg.get("brokers", [])), "partitions": parts}
        for key_s, p in sorted(parts.items(), key=lambda kv: int(kv[0])):
            if self.node_id in p["replicas"]:
                await self._apply_partition(int(key_s), p)
        return {"applied": True}

    async def _apply_partition(self, key: int, p: dict[str, Any]) -> None:
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
        else:
            r.become_follower(leader, epoch, isr, version, replicas)
            if leader is not None:
                follower = Follower(self, r, leader, epoch)
                self.followers[key] = follower
                follower.start()


def check_partitions(parts: object) -> None:
    """Validate a LeaderAndIsr ``partitions`` payload before any of it is applied."""
    if not isinstance(parts, dict):
        raise FieldError("field 'partitions' must be an object keyed by partition")
    for key_s, p in parts.items():
        if not (isinstance(key_s, str) and key_s.isdigit() and len(key_s) < 10):
            raise FieldError(f"partition key {key_s!r:.40} must be a small non-negative integer")
        if not isinstance(p, dict):
            raise FieldError(f"partition {key_s}: state must be an object")
        field_int(p, "leader_epoch", lo=0, hi=2**31)
        field_int(p, "isr_version", lo=0, hi=2**31)
        leader = p.get("leader")
        for name in ("replicas", "isr"):
            v = p.get(name)
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise FieldError(f"partition {key_s}: {name!r} must be a list of node ids")
        if leader is not None and not isinstance(leader, str):
            raise FieldError(f"partition {key_s}: 'leader' must be a node id or null")


async def run_broker(config: BrokerConfig) -> None:
    """Run until SIGTERM/SIGINT, then stop cleanly."""
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.stop(clean=True)


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m replog.broker", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", required=True, type=Path, help="broker config JSON file")
    args = parser.parse_args(argv)
    setup_logging()
    asyncio.run(run_broker(load_broker_config(args.config)))


if __name__ == "__main__":
    main()
