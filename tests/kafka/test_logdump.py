"""kafka_logdump reads Kafka's on-disk formats: record batch v2 segments, the message
sets of 0.10 and before (magic 0 and 1), and checkpoints.

The segments here are encoded by small independent writers of each format (v2: varints
zig-zag encoded, 61-byte batch header; v0/v1: one message per entry, CRC-32 from the
magic byte), so a decoding mistake shows up as a mismatch.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from compose.kafka import kafka_logdump as ld


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _record(offset_delta: int, value: bytes | None) -> bytes:
    body = b"\x00" + _varint(0) + _varint(offset_delta) + _varint(-1)
    body += _varint(-1) if value is None else _varint(len(value)) + value
    body += _varint(0)  # no headers
    return _varint(len(body)) + body


def batch(base: int, values: list[bytes | None], attrs: int = 0, epoch: int = 0) -> bytes:
    recs = b"".join(_record(i, v) for i, v in enumerate(values))
    crc_covered = (
        struct.pack(">hiqqqhii", attrs, len(values) - 1, 0, 0, -1, -1, -1, len(values)) + recs
    )
    crc = ld.crc32c(crc_covered)
    after_length = struct.pack(">ibI", epoch, 2, crc) + crc_covered
    return struct.pack(">qi", base, len(after_length)) + after_length


def test_crc32c_matches_the_castagnoli_check_value() -> None:
    assert ld.crc32c(b"123456789") == 0xE3069283


def test_a_batch_failing_its_crc_ends_the_log(tmp_path: Path) -> None:
    second = bytearray(batch(1, [b"2"]))
    second[-3] ^= 0xFF
    write_partition(tmp_path, "t", 0, {0: batch(0, [b"1"]) + bytes(second)})
    part = ld.dump(str(tmp_path), "t")["0"]
    assert part["records"] == [[0, 1]] and part["leo"] == 1


def write_partition(root: Path, topic: str, p: int, segments: dict[int, bytes]) -> Path:
    d = root / f"{topic}-{p}"
    d.mkdir(parents=True)
    for base, data in segments.items():
        (d / f"{base:020d}.log").write_bytes(data)
    return d


def test_records_leo_epochs_and_hw_come_from_the_files(tmp_path: Path) -> None:
    d = write_partition(
        tmp_path,
        "t",
        0,
        {0: batch(0, [b"10", b"11"]) + batch(2, [b"12"]), 3: batch(3, [b"13", b"x"])},
    )
    (d / "leader-epoch-checkpoint").write_text("0\n2\n0 0\n3 2\n")
    (tmp_path / "replication-offset-checkpoint").write_text("0\n2\nt 0 4\nother 0 9\n")
    out = ld.dump(str(tmp_path), "t")
    part = out["0"]
    assert part["records"] == [[0, 10], [1, 11], [2, 12], [3, 13], [4, "x"]]
    assert part["leo"] == 5
    assert part["hw_checkpoint"] == 4
    assert part["epochs"] == [[0, 0], [3, 2]]
    summary = ld.dump(str(tmp_path), "t", summary=True)["0"]
    assert summary["records"] == [] and summary["leo"] == 5


def test_a_torn_last_batch_ends_the_log(tmp_path: Path) -> None:
    good = batch(0, [b"1", b"2"])
    torn = batch(2, [b"3", b"4"])[:-5]
    write_partition(tmp_path, "t", 1, {0: good + torn + b"\x00" * 64})
    part = ld.dump(str(tmp_path), "t")["1"]
    assert part["records"] == [[0, 1], [1, 2]]
    assert part["leo"] == 2
    assert part["hw_checkpoint"] is None


def test_control_batches_advance_the_leo_but_hold_no_records(tmp_path: Path) -> None:
    write_partition(tmp_path, "t", 0, {0: batch(0, [b"7"]) + batch(1, [b"", b""], attrs=0x20)})
    part = ld.dump(str(tmp_path), "t")["0"]
    assert part["records"] == [[0, 7]]
    assert part["leo"] == 3


def test_compressed_batches_are_an_error_not_a_guess(tmp_path: Path) -> None:
    write_partition(tmp_path, "t", 0, {0: batch(0, [b"7"], attrs=1)})
    with pytest.raises(ValueError, match="compressed"):
        ld.dump(str(tmp_path), "t")


def test_other_topics_and_empty_partitions(tmp_path: Path) -> None:
    write_partition(tmp_path, "t", 2, {})
    write_partition(tmp_path, "tt", 0, {0: batch(0, [b"1"])})
    out = ld.dump(str(tmp_path), "t")
    assert list(out) == ["2"]
    assert out["2"]["leo"] == 0 and out["2"]["records"] == []


def test_a_replica_hw_is_capped_at_what_survived_on_disk(tmp_path: Path) -> None:
    """After a power loss the fsynced HW checkpoint can name offsets the un-fsynced log
    lost; Kafka loads HW = min(checkpoint, LEO), and so does the monitor."""
    from harness.systems.kafka_files import disk_hw

    write_partition(tmp_path, "t", 0, {0: batch(0, [b"1", b"2"])})
    (tmp_path / "replication-offset-checkpoint").write_text("0\n1\nt 0 228\n")
    part = ld.dump(str(tmp_path), "t", summary=True)["0"]
    assert (part["hw_checkpoint"], part["leo"]) == (228, 2)
    assert disk_hw(part) == 2
    (tmp_path / "replication-offset-checkpoint").write_text("0\n1\nt 0 1\n")
    assert disk_hw(ld.dump(str(tmp_path), "t", summary=True)["0"]) == 1
    (tmp_path / "replication-offset-checkpoint").write_text("0\n0\n")
    assert disk_hw(ld.dump(str(tmp_path), "t", summary=True)["0"]) == -1


def message(offset: int, value: bytes | None, magic: int = 1, attrs: int = 0) -> bytes:
    """One v0/v1 message-set entry: offset, size, then CRC-32 over magic..value."""
    key = struct.pack(">i", -1)
    val = struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value
    stamp = struct.pack(">q", 1_700_000_000_000) if magic == 1 else b""
    body = struct.pack(">bb", magic, attrs) + stamp + key + val
    msg = struct.pack(">I", zlib.crc32(body)) + body
    return struct.pack(">qi", offset, len(msg)) + msg


@pytest.mark.parametrize("magic", [0, 1])
def test_message_sets_of_0_10_and_before_are_read(tmp_path: Path, magic: int) -> None:
    d = write_partition(
        tmp_path,
        "t",
        0,
        {0: message(0, b"10", magic) + message(1, None, magic) + message(2, b"x", magic)},
    )
    (tmp_path / "replication-offset-checkpoint").write_text("0\n1\nt 0 2\n")
    part = ld.dump(str(tmp_path), "t")["0"]
    assert part["records"] == [[0, 10], [1, None], [2, "x"]]
    assert part["leo"] == 3 and part["hw_checkpoint"] == 2 and part["epochs"] == []
    assert not (d / "leader-epoch-checkpoint").exists()  # 0.10 keeps none
    assert ld.dump(str(tmp_path), "t", summary=True)["0"]["leo"] == 3


def test_a_message_failing_its_crc_or_torn_ends_the_log(tmp_path: Path) -> None:
    bad = bytearray(message(1, b"2"))
    bad[-1] ^= 0xFF
    torn = message(2, b"3")[:-2]
    write_partition(tmp_path, "t", 0, {0: message(0, b"1") + bytes(bad) + message(2, b"3")})
    write_partition(tmp_path, "u", 0, {0: message(0, b"1") + torn})
    assert ld.dump(str(tmp_path), "t")["0"]["records"] == [[0, 1]]
    torn_part = ld.dump(str(tmp_path), "u")["0"]
    assert torn_part["records"] == [[0, 1]] and torn_part["leo"] == 1


def test_a_compressed_message_is_an_error(tmp_path: Path) -> None:
    write_partition(tmp_path, "t", 0, {0: message(0, b"1", attrs=1)})
    with pytest.raises(ValueError, match="compressed message at offset 0"):
        ld.dump(str(tmp_path), "t")


def test_a_log_upgraded_from_message_sets_to_batches_reads_both(tmp_path: Path) -> None:
    write_partition(tmp_path, "t", 0, {0: message(0, b"5") + message(1, b"6") + batch(2, [b"7"])})
    part = ld.dump(str(tmp_path), "t")["0"]
    assert part["records"] == [[0, 5], [1, 6], [2, 7]] and part["leo"] == 3
