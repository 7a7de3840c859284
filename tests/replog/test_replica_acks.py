"""A leader's acks name records, not offsets; and the HW counts only what is durable.

Both rules came from runs of the safe configuration under the default schedule
(CHANGELOG, 2026-12-03): a leader deposed while its produce awaited the fsync, then
re-elected, acknowledged the record another produce had put at the same offset; and a
power loss of every broker lost a record below the HW that the followers had fsynced but
the leader had not.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from replog.config import make_settings
from replog.partition import Replica, ReplicaError
from replog.storage import PartitionLog
from replog.wire import ErrorCode

LOG = logging.getLogger("test.replica")
ISR = ["n1", "n2", "n3"]


def leader(tmp_path: Path, flush: int = 1) -> Replica:
    settings = make_settings(
        "kafka-0.11", {"log.flush.interval.messages": flush, "min.insync.replicas": 2}
    )
    r = Replica("n1", PartitionLog(tmp_path, 0, 100, flush, LOG), 0, settings, LOG)
    r.become_leader(1, ISR, 1, ISR)
    return r


def fetched_by_all(r: Replica, offset: int) -> None:
    for node in ("n2", "n3"):
        r.on_follower_fetch(node, offset)


def test_a_reelected_leader_does_not_ack_the_record_another_produce_replaced(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        r = leader(tmp_path, flush=0)
        offset = r.append_as_leader(17, -1)
        epoch = r.leader_epoch
        r.become_follower("n2", 2, ISR, 2, ISR)  # deposed before the waiter registered
        r.truncate(offset, "follow n2")
        r.become_leader(3, ISR, 3, ISR)
        assert r.append_as_leader(99, -1) == offset  # another record at the same offset
        fetched_by_all(r, offset + 1)
        assert r.hw == offset + 1
        with pytest.raises(ReplicaError) as stale:
            await r.wait_committed(offset, epoch)
        assert stale.value.code is ErrorCode.LEADERSHIP_LOST
        assert "appended in leader epoch 1" in stale.value.message
        with pytest.raises(ReplicaError):
            r.check_appended(offset, epoch)
        assert await r.wait_committed(offset, r.leader_epoch) == offset  # the new one is

    asyncio.run(scenario())


def test_a_waiter_is_refused_when_its_record_is_gone_though_the_epoch_matches(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        r = leader(tmp_path, flush=0)
        offset = r.append_as_leader(17, -1)
        waiter = r.wait_committed(offset, r.leader_epoch)
        r.log.truncate_to(offset)  # not a leader's move: the check must not trust the epoch
        r.log.append([(r.leader_epoch + 1, 5)])
        fetched_by_all(r, offset + 1)
        with pytest.raises(ReplicaError, match="the record may be gone"):
            await waiter

    asyncio.run(scenario())


def test_the_hw_waits_for_the_leaders_own_fsync_when_the_policy_asks_for_one(
    tmp_path: Path,
) -> None:
    r = leader(tmp_path, flush=1)
    offset = r.append_as_leader(17, -1)
    fetched_by_all(r, offset + 1)  # followers fsynced and reported it; the leader has not
    assert r.hw == offset
    r.log.flush()
    r.maybe_advance_hw()
    assert r.hw == offset + 1


def test_without_a_flush_policy_the_hw_counts_the_leaders_log_end(tmp_path: Path) -> None:
    r = leader(tmp_path, flush=0)
    offset = r.append_as_leader(17, -1)
    fetched_by_all(r, offset + 1)
    assert r.hw == offset + 1


def test_a_flush_spanning_a_truncation_does_not_move_the_recovery_point(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        log = PartitionLog(tmp_path, 0, 100, 1, LOG)
        log.append([(0, v) for v in range(5)])
        flush = asyncio.create_task(log.flush_async())
        await asyncio.sleep(0)  # the flush took its LEO and descriptors; fsync is running
        log.truncate_to(2)
        log.append([(1, v) for v in range(10, 14)])  # into a descriptor it did not sync
        await flush
        assert log.recovery_point == 0, "records written after the cut are not durable"
        await log.flush_async()
        assert log.recovery_point == log.leo == 6

    asyncio.run(scenario())
