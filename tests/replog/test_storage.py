"""Storage: segments, recovery of torn/corrupt tails, checkpoints, the leader-epoch cache."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from replog.config import ConfigError, Truncation, broker_config_from_dict, make_settings
from replog.storage import (
    EPOCH_CHECKPOINT,
    RECORD_BYTES,
    LeaderEpochCache,
    PartitionLog,
    read_offset_checkpoint,
    write_offset_checkpoint,
)

LOG = logging.getLogger("test.storage")


def open_log(d: Path, segment: int = 4, flush: int = 1) -> PartitionLog:
    return PartitionLog(d, 0, segment, flush, LOG)


def test_append_roll_reopen_and_truncate_across_segments(tmp_path: Path) -> None:
    log = open_log(tmp_path)
    assert log.append([(0, v) for v in range(10)]) == 0
    assert log.segment_bases() == [0, 4, 8]
    log.close()
    log = open_log(tmp_path)
    assert log.values == list(range(10)) and log.leo == 10
    assert log.read(8, 20) == [[8, 8], [9, 9]]
    assert log.truncate_to(5) == 5
    assert log.segment_bases() == [0, 4]
    assert log.append([(1, 50), (1, 60), (1, 70), (1, 80)]) == 5
    log.close()
    log = open_log(tmp_path)
    assert log.values == [0, 1, 2, 3, 4, 50, 60, 70, 80]
    assert log.epochs == [0] * 5 + [1] * 4
    assert log.read_with_epochs(4, 6) == [[4, 0, 4], [5, 1, 50]]


def test_torn_tail_is_cut_with_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = open_log(tmp_path, segment=100)
    log.append([(0, v) for v in range(5)])
    log.close()
    seg = tmp_path / f"{0:020d}.log"
    with seg.open("r+b") as f:
        f.truncate(5 * RECORD_BYTES - 3)
    with caplog.at_level(logging.WARNING):
        log = open_log(tmp_path, segment=100)
    assert log.values == [0, 1, 2, 3] and seg.stat().st_size == 4 * RECORD_BYTES
    assert "torn record" in caplog.text and "truncating the log at offset 4" in caplog.text


def test_corrupt_record_ends_the_log_and_later_segments_go(tmp_path: Path) -> None:
    log = open_log(tmp_path, segment=4)
    log.append([(0, v) for v in range(10)])
    log.close()
    seg = tmp_path / f"{0:020d}.log"
    data = bytearray(seg.read_bytes())
    data[2 * RECORD_BYTES + 15] ^= 0xFF  # flip a byte of offset 2's value
    seg.write_bytes(bytes(data))
    log = open_log(tmp_path, segment=4)
    assert log.values == [0, 1] and log.segment_bases() == [0]


def test_epoch_cache_assign_end_offsets_and_truncation(tmp_path: Path) -> None:
    cache = LeaderEpochCache(tmp_path / EPOCH_CHECKPOINT, LOG)
    assert cache.end_offset_for(0, 0) == (-1, -1)
    assert cache.assign(0, 0)
    assert not cache.assign(0, 3)  # same epoch: no change
    assert cache.assign(2, 3)
    assert cache.assign(4, 7)
    assert cache.entries == [(0, 0), (2, 3), (4, 7)]
    assert cache.end_offset_for(0, 9) == (0, 3)
    assert cache.end_offset_for(1, 9) == (0, 3)  # KIP-279: largest epoch <= asked
    assert cache.end_offset_for(3, 9) == (2, 7)
    assert cache.end_offset_for(4, 9) == (4, 9)  # latest epoch ends at the LEO
    assert cache.end_offset_for(9, 9) == (4, 9)
    assert cache.assign(5, 7)  # epoch 4 never got a record: superseded
    assert cache.entries == [(0, 0), (2, 3), (5, 7)]
    cache.truncate_from_end(3)
    assert cache.entries == [(0, 0)]
    text = (tmp_path / EPOCH_CHECKPOINT).read_text()
    assert text == "0\n1\n0 0\n"
    assert LeaderEpochCache(tmp_path / EPOCH_CHECKPOINT, LOG).entries == [(0, 0)]


def test_offset_checkpoint_kafka_format(tmp_path: Path) -> None:
    path = tmp_path / "replication-offset-checkpoint"
    write_offset_checkpoint(path, {1: 7, 0: 3})
    assert path.read_text() == "0\n2\nreplog 0 3\nreplog 1 7\n"
    assert read_offset_checkpoint(path) == {0: 3, 1: 7}
    path.write_text("0\n3\nreplog 0 3\n")
    with pytest.raises(ValueError, match="announces 3 entries"):
        read_offset_checkpoint(path)


def test_profiles_and_settings() -> None:
    assert make_settings("kafka-0.10", {}).replication_truncation is Truncation.HW
    s = make_settings(
        "kafka-0.11", {"min.insync.replicas": 1, "unclean.leader.election.enable": True}
    )
    assert s.replication_truncation is Truncation.LEADER_EPOCH
    assert s.min_insync_replicas == 1 and s.unclean_leader_election_enable
    assert (
        make_settings("kafka-0.11", {"replication.truncation": "hw"}).replication_truncation == "hw"
    )
    with pytest.raises(ConfigError, match=r"unknown setting 'replica\.lag\.max'"):
        make_settings("kafka-0.11", {"replica.lag.max": 1})
    with pytest.raises(ConfigError, match="unknown profile"):
        make_settings("kafka-9", {})
    with pytest.raises(ConfigError, match="must be an integer"):
        make_settings("kafka-0.11", {"min.insync.replicas": "two"})
    with pytest.raises(ConfigError, match="missing required field 'controller'"):
        broker_config_from_dict({"node_id": "n1", "listen": "0.0.0.0:9092", "data_dir": "/d"})
    with pytest.raises(ConfigError, match="host:port"):
        broker_config_from_dict(
            {"node_id": "n1", "listen": "9092", "data_dir": "/d", "controller": "c:1"}
        )
