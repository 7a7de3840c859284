"""Dump one topic's partitions from a Kafka node's data directory, as JSON on stdout.

Runs *inside* a floodmark Kafka container (Debian's python3, stdlib only):

    python3 /opt/kafka/kafka_logdump.py /data/kafka floodmark [--summary]

It reads the replica's own files, so what it reports is exactly that replica's state,
independent of which broker a client would be routed to:

- ``records``: every ``[offset, value]`` in the segment files, in either on-disk format:
  record batches (magic 2, from 0.11) or the message sets of 0.10 and before (magic 0
  and 1: one message per entry, each with its own offset and a CRC-32 from its magic
  byte on). Both start with an offset and a length, and both keep the magic byte at the
  same place (byte 16), so each entry says which it is. Values are decoded as integers
  when they are decimal text, else as strings. A torn or corrupt entry (short, or
  failing its CRC: power loss) ends the scan, as Kafka's log recovery would.
- ``leo``: the log end offset, one past the last complete batch's last offset.
- ``hw_checkpoint``: the HW from ``replication-offset-checkpoint``, which the broker
  writes every ``replica.high.watermark.checkpoint.interval.ms``; so it may lag the live
  HW by that interval (floodmark sets it to 1 s and waits before dumping).
- ``epochs``: the ``leader-epoch-checkpoint`` entries ``[epoch, start offset]``.

Output: ``{"partitions": {"<p>": {...}}, "error": null}``. Compressed batches (floodmark's
producers never compress) are reported as an error rather than guessed at.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from typing import Any

_HEADER = struct.Struct(">qiibIhiqqqhii")  # record batch v2 header, 61 bytes
_CRC_FROM = 21  # the CRC covers the batch from its attributes to its end
_CONTROL_BATCH = 0x20
_ENTRY = struct.Struct(">qi")  # offset (a batch's base offset) and length: every format
_MAGIC_AT = 16  # after offset, length and a 4-byte field (v2: leader epoch; v0/v1: CRC)
_COMPRESSION = 0x07


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as Kafka's record batches carry it."""
    c = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag encoded varint/varlong at ``pos``: (value, next position)."""
    shift = 0
    raw = 0
    while True:
        b = buf[pos]
        pos += 1
        raw |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
    return (raw >> 1) ^ -(raw & 1), pos


def _decode_value(v: bytes | None) -> Any:
    if v is None:
        return None
    text = v.decode("utf-8", "replace")
    try:
        return int(text)
    except ValueError:
        return text


def _records(batch: bytes, base_offset: int, count: int) -> list[list[Any]]:
    out: list[list[Any]] = []
    pos = 0
    for _ in range(count):
        length, pos = _varint(batch, pos)
        end = pos + length
        pos += 1  # attributes
        _, pos = _varint(batch, pos)  # timestamp delta
        offset_delta, pos = _varint(batch, pos)
        key_len, pos = _varint(batch, pos)
        pos += max(key_len, 0)
        value_len, pos = _varint(batch, pos)
        value = None if value_len < 0 else batch[pos : pos + value_len]
        out.append([base_offset + offset_delta, _decode_value(value)])
        pos = end
    return out


def _legacy_message(data: bytes, pos: int, end: int, path: str) -> tuple[bool, bytes | None]:
    """The message of a v0/v1 message-set entry (``data[pos:end]``): (intact, value).
    An entry failing its CRC-32 is not intact; a compressed one is an error."""
    crc, magic, attrs = struct.unpack_from(">Ibb", data, pos + 12)
    if zlib.crc32(data[pos + _MAGIC_AT : end]) != crc:
        return False, None
    if attrs & _COMPRESSION:
        offset = _ENTRY.unpack_from(data, pos)[0]
        raise ValueError(
            f"{path}: compressed message at offset {offset}; floodmark never compresses"
        )
    at = pos + 18 + (8 if magic == 1 else 0)  # v1 adds a timestamp
    (key_len,) = struct.unpack_from(">i", data, at)
    at += 4 + max(key_len, 0)
    (value_len,) = struct.unpack_from(">i", data, at)
    return True, None if value_len < 0 else data[at + 4 : at + 4 + value_len]


def scan_segment(path: str, with_records: bool = True) -> tuple[list[list[Any]], int | None]:
    """All records of one segment file and the offset after its last complete entry."""
    with open(path, "rb") as fh:
        data = fh.read()
    records: list[list[Any]] = []
    next_offset: int | None = None
    pos = 0
    while pos + _MAGIC_AT + 1 <= len(data):
        base, length = _ENTRY.unpack_from(data, pos)
        if length <= 0 or pos + 12 + length > len(data):
            break  # preallocated zeros or a torn entry: the log ends here
        if data[pos + _MAGIC_AT] in (0, 1):
            intact, value = _legacy_message(data, pos, pos + 12 + length, path)
            if not intact:
                break  # a torn or corrupt message: Kafka's recovery truncates here too
            if with_records:
                records.append([base, _decode_value(value)])
            next_offset = base + 1
            pos += 12 + length
            continue
        if pos + _HEADER.size > len(data):
            break
        (_base, _len, _ple, magic, crc, attrs, last_delta, *_rest, count) = _HEADER.unpack_from(
            data, pos
        )
        if crc32c(data[pos + _CRC_FROM : pos + 12 + length]) != crc:
            break  # a torn or corrupt batch: Kafka's recovery truncates here too
        if magic != 2:
            raise ValueError(f"{path}: batch at byte {pos} has magic {magic}, expected 0-2")
        if attrs & _COMPRESSION:
            raise ValueError(
                f"{path}: compressed batch at offset {base}; floodmark never compresses"
            )
        body = data[pos + _HEADER.size : pos + 12 + length]
        if with_records and not attrs & _CONTROL_BATCH:
            records.extend(_records(body, base, count))
        next_offset = base + last_delta + 1
        pos += 12 + length
    return records, next_offset


def _checkpoint(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
    except FileNotFoundError:
        return []
    return [ln.split() for ln in lines[2:] if ln.strip()]


def dump(data_dir: str, topic: str, summary: bool = False) -> dict[str, Any]:
    """Every partition directory of ``topic``; with ``summary`` no records are listed."""
    hws = {
        int(parts[1]): int(parts[2])
        for parts in _checkpoint(os.path.join(data_dir, "replication-offset-checkpoint"))
        if len(parts) == 3 and parts[0] == topic
    }
    out: dict[str, Any] = {}
    prefix = topic + "-"
    for name in sorted(os.listdir(data_dir)):
        if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
            continue
        partition = int(name[len(prefix) :])
        pdir = os.path.join(data_dir, name)
        segments = sorted(f for f in os.listdir(pdir) if f.endswith(".log"))
        records: list[list[Any]] = []
        leo = int(segments[0][:-4]) if segments else 0
        for seg in segments:
            recs, nxt = scan_segment(os.path.join(pdir, seg), not summary)
            records.extend(recs)
            leo = nxt if nxt is not None else max(leo, int(seg[:-4]))
        epochs = [
            [int(e), int(o)] for e, o in _checkpoint(os.path.join(pdir, "leader-epoch-checkpoint"))
        ]
        out[str(partition)] = {
            "leo": leo,
            "log_start": int(segments[0][:-4]) if segments else 0,
            "hw_checkpoint": hws.get(partition),
            "epochs": epochs,
            "records": [] if summary else records,
        }
    return out


def main(argv: list[str]) -> int:
    summary = "--summary" in argv
    args = [a for a in argv[1:] if a != "--summary"]
    if len(args) != 2:
        print("usage: kafka_logdump.py DATA_DIR TOPIC [--summary]", file=sys.stderr)
        return 2
    try:
        parts = dump(args[0], args[1], summary)
        result: dict[str, Any] = {"partitions": parts, "error": None}
    except (OSError, ValueError, IndexError, struct.error) as e:
        result = {"partitions": {}, "error": f"{type(e).__name__}: {e}"}
    json.dump(result, sys.stdout, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
