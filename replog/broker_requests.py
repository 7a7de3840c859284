"""What a replog broker answers: one handler per request type, in one registry.

`HANDLERS` maps a request ``type`` to its handler; `replog.broker.Broker.dispatch` looks
the type up, checks the broker is running, and turns `ReplicaError` / `FieldError` into
error replies. A handler reads its fields with `replog.wire.field_int`/`field_str`
(bounded, so no frame can break the node) and returns the reply's fields, or None for no
reply (``acks=0``). For example::

    {"type": "produce", "id": 7, "key": 0, "value": 17}   ->  {"id": 7, "offset": 5}
    {"type": "fetch", "id": 8, "key": 0, "offset": 5}     ->  {"id": 8, "records": [[5, 17]],
                                                               "hw": 6}

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

``metadata`` to ``dump`` come from clients and the harness's monitor, ``replica_fetch``
and ``offsets_for_leader_epoch`` from followers (this broker as leader),
``leader_and_isr`` from the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from replog.partition import ReplicaError
from replog.wire import ErrorCode, FieldError, Message, error_reply, field_int, field_str

if TYPE_CHECKING:
    from replog.broker import Broker

Handler = Callable[["Broker", Message], Awaitable[Message | None]]
MAX_WAIT_MS = 3_600_000  # bounds on request fields (a frame must not break the node)
MAX_RECORDS = 100_000

# -- client requests -------------------------------------------------------------------


async def metadata(b: Broker, msg: Message) -> Message:
    return {"controller_epoch": b.controller_epoch, **b.cluster}


async def produce(b: Broker, msg: Message) -> Message | None:
    key, value = field_int(msg, "key"), field_int(msg, "value")
    acks, timeout_ms = (
        field_int(msg, "acks", -1),
        field_int(msg, "timeout_ms", 5000, 0, MAX_WAIT_MS),
    )
    if acks not in (-1, 0, 1):
        raise FieldError(f"acks must be -1 (all), 0 or 1, got {acks}")
    r = b.replica(key)
    try:
        offset = r.append_as_leader(value, acks)
        epoch = r.leader_epoch  # with the offset, it names this record (no await between)
    except ReplicaError as e:
        if acks == 0:
            b.log.info("key %s: acks=0 produce dropped: %s", key, e.message)
            return None
        raise
    if r.log.flush_due():
        await b.flush_until(r, offset + 1)
    if acks == 0:
        return None
    r.check_appended(offset, epoch)  # deposed during the flush: the record may be gone
    if acks == 1:
        return {"offset": offset}
    try:
        async with asyncio.timeout(timeout_ms / 1000):
            await r.wait_committed(offset, epoch)
    except TimeoutError:
        raise ReplicaError(
            ErrorCode.REQUEST_TIMED_OUT,
            f"offset {offset} of key {key} not committed within {timeout_ms} ms "
            f"(hw {r.hw}, isr {r.isr}); it may still commit",
        ) from None
    return {"offset": offset}


async def fetch(b: Broker, msg: Message) -> Message:
    key, offset = field_int(msg, "key"), field_int(msg, "offset")
    max_records = field_int(msg, "max_records", 1000, 0, MAX_RECORDS)
    r = b.replica(key)
    r.check_leader()
    if offset < 0 or offset > r.log.leo:
        raise ReplicaError(
            ErrorCode.OFFSET_OUT_OF_RANGE,
            f"offset {offset} of key {key} is outside 0..{r.log.leo} (the log end offset)",
        )
    end = min(r.hw, offset + max(max_records, 0))
    return {"records": r.log.read(offset, end), "hw": r.hw}


async def list_offsets(b: Broker, msg: Message) -> Message:
    r = b.replica(field_int(msg, "key"))
    r.check_leader()
    return {"start": 0, "hw": r.hw, "leo": r.log.leo}


async def replica_states(b: Broker, msg: Message) -> Message:
    return {"replicas": [b.replicas[k].state() for k in sorted(b.replicas)]}


async def dump(b: Broker, msg: Message) -> Message:
    return b.replica(field_int(msg, "key")).dump()


# -- peer requests (this broker as leader) ---------------------------------------------


async def replica_fetch(b: Broker, msg: Message) -> Message:
    s = b.settings
    key, node = field_int(msg, "key"), field_str(msg, "node")
    epoch, offset = field_int(msg, "leader_epoch"), field_int(msg, "offset")
    known_hw = field_int(msg, "hw", -1)
    max_wait = field_int(msg, "max_wait_ms", s.replica_fetch_wait_max_ms, 0, MAX_WAIT_MS)
    max_records = field_int(msg, "max_records", s.replica_fetch_max_records, 0, MAX_RECORDS)
    r = b.replica(key)
    r.check_leader()
    r.check_epoch(epoch)
    try:
        grow = r.on_follower_fetch(node, offset)
    except ReplicaError as e:
        if e.code is ErrorCode.OFFSET_OUT_OF_RANGE:
            return {**error_reply(None, e.code, e.message), "leo": r.log.leo}
        raise
    if grow is not None:
        b.propose_isr(r, grow, f"expand ({node} reached the HW at offset {offset})")
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


async def offsets_for_leader_epoch(b: Broker, msg: Message) -> Message:
    r = b.replica(field_int(msg, "key"))
    r.check_leader()
    r.check_epoch(field_int(msg, "leader_epoch"))
    asked = field_int(msg, "epoch")
    epoch, end = r.epoch_end_offset(asked)
    b.log.info(
        "key %s: OffsetsForLeaderEpoch(%s) -> epoch %s end offset %s", r.key, asked, epoch, end
    )
    return {"epoch": epoch, "end_offset": end}


# -- controller requests ----------------------------------------------------------------


async def leader_and_isr(b: Broker, msg: Message) -> Message:
    ce, sv = field_int(msg, "controller_epoch"), field_int(msg, "state_version")
    if ce < b.controller_epoch:
        b.log.warning(
            "fenced: LeaderAndIsr from controller epoch %s < %s rejected",
            ce,
            b.controller_epoch,
        )
        raise ReplicaError(
            ErrorCode.STALE_CONTROLLER_EPOCH,
            f"controller epoch {ce} is older than {b.controller_epoch}, known to "
            f"{b.node_id}; a newer controller has taken over",
        )
    if ce == b.controller_epoch and sv <= b.state_version:
        return {"applied": False}
    parts = msg.get("partitions")
    check_partitions(parts)
    assert isinstance(parts, dict)
    if ce > b.controller_epoch:
        b.log.info("controller epoch %s -> %s", b.controller_epoch, ce)
    b.controller_epoch, b.state_version = ce, sv
    b.cluster = {"brokers": list(msg.get("brokers", [])), "partitions": parts}
    for key_s, p in sorted(parts.items(), key=lambda kv: int(kv[0])):
        if b.node_id in p["replicas"]:
            await b.apply_partition(int(key_s), p)
    return {"applied": True}


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


HANDLERS: dict[str, Handler] = {
    "metadata": metadata,
    "produce": produce,
    "fetch": fetch,
    "list_offsets": list_offsets,
    "replica_states": replica_states,
    "dump": dump,
    "replica_fetch": replica_fetch,
    "offsets_for_leader_epoch": offsets_for_leader_epoch,
    "leader_and_isr": leader_and_isr,
}
"""Request type -> handler: every request a broker serves."""
