"""On-disk storage of one broker: partition logs, the leader-epoch cache, checkpoints.

Layout under a broker's ``data_dir`` (names as in Kafka)::

    recovery-point-offset-checkpoint   offsets below which each log is known fsynced
    replication-offset-checkpoint      each partition's high watermark (HW)
    replog-0/00000000000000000000.log  segment files of key 0, named by base offset
    replog-0/leader-epoch-checkpoint   key 0's leader-epoch cache

A *record* is 24 bytes: ``offset int64 | leader epoch int32 | value int64 | crc32`` (the
CRC covers the first 20 bytes). Offsets are dense from 0. The log keeps every record in
memory too (values are integers), so reads never touch the disk.

Checkpoint files use Kafka's text format: a version line (``0``), a count line, then one
entry per line (``replog <key> <offset>`` or, for the epoch cache, ``<epoch>
<start offset>``). They are replaced atomically (write a temp file, fsync, rename).

*Flush policy* (``log.flush.interval.messages``): with 1 every append is fsynced before it
is acknowledged; with N it is fsynced once N messages are unflushed; with 0 never (the OS
decides; a power loss may lose acknowledged records). A SIGKILL loses nothing written,
fsynced or not, because the writes are plain ``os.write`` calls into the page cache.

*Recovery* on open: each segment is scanned; the first record whose CRC or offset is wrong,
or that is cut short (a torn write), ends the log there: the file is truncated, later
segments are deleted, and a log line says so. The epoch cache then drops entries past the
new end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

RECORD = struct.Struct(">qiq")
RECORD_BYTES = RECORD.size + 4
TOPIC = "replog"
EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
RECOVERY_CHECKPOINT = "recovery-point-offset-checkpoint"
REPLICATION_CHECKPOINT = "replication-offset-checkpoint"


def encode_record(offset: int, epoch: int, value: int) -> bytes:
    head = RECORD.pack(offset, epoch, value)
    return head + struct.pack(">I", zlib.crc32(head))


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves the old or the new content."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_checkpoint_lines(path: Path) -> list[list[str]]:
    """Entries of a Kafka-format checkpoint file; [] if it does not exist."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    if len(lines) < 2 or lines[0].strip() != "0" or not lines[1].strip().isdigit():
        raise ValueError(f"{path}: not a version-0 checkpoint file (got {lines[:2]!r})")
    count = int(lines[1])
    entries = [ln.split() for ln in lines[2 : 2 + count]]
    if len(entries) != count:
        raise ValueError(f"{path}: announces {count} entries but holds {len(entries)}")
    return entries


def write_checkpoint_lines(path: Path, entries: Iterable[Iterable[object]]) -> None:
    rows = [" ".join(str(x) for x in e) for e in entries]
    write_atomically(path, "\n".join(["0", str(len(rows)), *rows]) + "\n")


def read_offset_checkpoint(path: Path) -> dict[int, int]:
    """``{key: offset}`` from a recovery-point or replication-offset checkpoint."""
    out: dict[int, int] = {}
    for entry in read_checkpoint_lines(path):
        if len(entry) != 3 or entry[0] != TOPIC:
            raise ValueError(f"{path}: bad entry {entry!r}; expected '{TOPIC} <key> <offset>'")
        out[int(entry[1])] = int(entry[2])
    return out


def write_offset_checkpoint(path: Path, offsets: dict[int, int]) -> None:
    write_checkpoint_lines(path, ([TOPIC, k, o] for k, o in sorted(offsets.items())))


class LeaderEpochCache:
    """A replica's ``(leader epoch, start offset)`` list, persisted on every change.

    The leader adds ``(epoch, LEO)`` when it becomes leader; a follower adds an entry when
    it appends the first record of a newer epoch. ``end_offset_for`` answers the
    OffsetsForLeaderEpoch request (KIP-101 with KIP-279's epoch in the reply): for the
    largest epoch ``e' <= e`` it knows, the offset where ``e'`` ended: the start offset of
    the next epoch, or the LEO if ``e'`` is the latest.
    """

    def __init__(self, path: Path, log: logging.Logger) -> None:
        self.path = path
        self._log = log
        self.entries: list[tuple[int, int]] = [
            (int(e), int(o)) for e, o in read_checkpoint_lines(path)
        ]

    def latest_epoch(self) -> int:
        return self.entries[-1][0] if self.entries else -1

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that `epoch` starts at `start_offset`; False if nothing changed."""
        if epoch <= self.latest_epoch():
            return False
        # An epoch that never got a record is superseded by a newer one at the same offset.
        while self.entries and self.entries[-1][1] >= start_offset:
            dropped = self.entries.pop()
            self._log.info("epoch cache: drop empty epoch %s at %s", dropped[0], dropped[1])
        self.entries.append((epoch, start_offset))
        self._save()
        self._log.info("epoch cache: assign epoch %s start offset %s", epoch, start_offset)
        return True

    def end_offset_for(self, epoch: int, leo: int) -> tuple[int, int]:
        """``(largest known epoch <= epoch, its end offset)``; ``(-1, -1)`` if none known."""
        if not self.entries:
            return -1, -1
        if epoch < self.entries[0][0]:
            return epoch, self.entries[0][1]
        for i in range(len(self.entries) - 1, -1, -1):
            e, _ = self.entries[i]
            if e <= epoch:
                end = leo if i == len(self.entries) - 1 else self.entries[i + 1][1]
                return e, end
        return -1, -1  # unreachable: entries[0][0] <= epoch

    def truncate_from_end(self, offset: int) -> None:
        """Forget epochs that start at or after `offset` (the log was cut there)."""
        before = list(self.entries)
        self.entries = [(e, o) for e, o in self.entries if o < offset]
        if self.entries != before:
            self._save()
            self._log.info("epoch cache: truncated to %s -> %s", offset, self.entries)

    def _save(self) -> None:
        write_checkpoint_lines(self.path, self.entries)


class PartitionLog:
    """The segmented log of one partition (all offsets from 0; no retention)."""

    def __init__(
        self,
        directory: Path,
        key: int,
        segment_records: int,
        flush_interval: int,
        log: logging.Logger,
    ) -> None:
        self.dir = directory
        self.key = key
        self.segment_records = segment_records
        self.flush_interval = flush_interval
        self._log = log
        directory.mkdir(parents=True, exist_ok=True)
        self.epochs: list[int] = []
        self.values: list[int] = []
        self._fd: int | None = None
        self._fd_base = -1
        self._dirty_fds: set[int] = set()
        self.recovery_point = 0
        self._truncations = 0  # bumped by every cut: a flush that spans one must not count
        self._recover()
        self.epoch_cache = LeaderEpochCache(directory / EPOCH_CHECKPOINT, log)
        self.epoch_cache.truncate_from_end(self.leo + 1)  # epochs starting past the end

    # -- state ------------------------------------------------------------------------

    @property
    def leo(self) -> int:
        """Log end offset: the offset the next appended record gets."""
        return len(self.values)

    @property
    def unflushed(self) -> int:
        return self.leo - self.recovery_point

    @property
    def durable_end(self) -> int:
        """The end of what may count towards the high watermark: the LEO, or the recovery
        point while the flush policy says an fsync is due (records the policy wants
        durable are not counted until they are)."""
        return self.recovery_point if self.flush_due() else self.leo

    def segment_bases(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.log") if p.stem.isdigit())

    def _segment_path(self, base: int) -> Path:
        return self.dir / f"{base:020d}.log"

    # -- recovery ----------------------------------------------------------------------

    def _recover(self) -> None:
        bases = self.segment_bases()
        for i, base in enumerate(bases):
            path = self._segment_path(base)
            data = path.read_bytes()
            good = 0
            problem = ""
            if base != self.leo:
                problem = f"segment base {base} does not follow the log end {self.leo}"
            while not problem and good + RECORD_BYTES <= len(data):
                chunk = data[good : good + RECORD_BYTES]
                head, (crc,) = chunk[: RECORD.size], struct.unpack(">I", chunk[RECORD.size :])
                offset, epoch, value = RECORD.unpack(head)
                if zlib.crc32(head) != crc:
                    problem = f"CRC mismatch at offset {self.leo}"
                elif offset != self.leo:
                    problem = f"record claims offset {offset}, expected {self.leo}"
                else:
                    self.epochs.append(epoch)
                    self.values.append(value)
                    good += RECORD_BYTES
            if not problem and good < len(data):
                problem = f"torn record: {len(data) - good} trailing bytes"
            if problem:
                self._log.warning(
                    "recovery: key %s segment %s: %s; truncating the log at offset %s",
                    self.key,
                    path.name,
                    problem,
                    self.leo,
                )
                if base == self.leo or good:
                    os.truncate(path, good)
                else:
                    path.unlink()
                for later in bases[i + 1 :]:
                    self._segment_path(later).unlink()
                    self._log.warning("recovery: deleted segment %s after the cut", later)
                break
        self.recovery_point = self.leo
        self._log.info("recovery: key %s log end offset %s", self.key, self.leo)

    # -- writes ---------------------------------------------------------------------

    def _active_fd(self) -> int:
        base = self.leo - self.leo % self.segment_records  # segments are always full
        if self._fd is None or self._fd_base != base:
            if self._fd is not None:
                os.close(self._fd)
                self._dirty_fds.discard(self._fd)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            self._fd = os.open(self._segment_path(base), flags, 0o644)
            self._fd_base = base
        return self._fd

    def append(self, records: list[tuple[int, int]]) -> int:
        """Append ``(epoch, value)`` records; returns the first one's offset.

        Does not fsync; call `flush_due` / `flush` according to the policy.
        """
        first = self.leo
        i = 0
        while i < len(records):
            fd = self._active_fd()
            room = self.segment_records - (self.leo - self._fd_base)
            batch = records[i : i + room]
            data = b"".join(encode_record(self.leo + j, e, v) for j, (e, v) in enumerate(batch))
            os.write(fd, data)
            self._dirty_fds.add(fd)
            for e, v in batch:
                self.epochs.append(e)
                self.values.append(v)
            i += len(batch)
            if self.leo - self._fd_base >= self.segment_records:
                os.fsync(fd)  # a rolled segment is complete: make it durable
                self._dirty_fds.discard(fd)
        return first

    def flush_due(self) -> bool:
        """Whether the flush policy asks for an fsync now."""
        return self.flush_interval > 0 and self.unflushed >= self.flush_interval

    def flush(self) -> None:
        """fsync what was written; the recovery point moves to the LEO."""
        for fd in list(self._dirty_fds):
            os.fsync(fd)
        self._dirty_fds.clear()
        self.recovery_point = self.leo

    async def flush_async(self) -> None:
        """`flush` with the fsyncs in a worker thread, so the event loop keeps serving.

        The descriptors are duplicated first, so a concurrent roll or truncation cannot
        close them under the worker. Appends made meanwhile wait for the next flush, and
        so does everything after a truncation made meanwhile: records appended after the
        cut went to descriptors this flush did not sync.
        """
        leo, truncations = self.leo, self._truncations
        dups = [os.dup(fd) for fd in self._dirty_fds]
        self._dirty_fds.clear()

        def sync() -> None:
            try:
                for fd in dups:
                    os.fsync(fd)
            finally:
                for fd in dups:
                    os.close(fd)

        await asyncio.to_thread(sync)
        if self._truncations == truncations:
            self.recovery_point = max(self.recovery_point, min(leo, self.leo))

    def truncate_to(self, offset: int) -> int:
        """Cut the log to end at `offset` (drop offsets >= it); returns records dropped."""
        if offset >= self.leo:
            return 0
        dropped = self.leo - offset
        if self._fd is not None:
            os.close(self._fd)
            self._dirty_fds.discard(self._fd)
            self._fd = None
        for base in self.segment_bases():
            path = self._segment_path(base)
            if base >= offset and base > 0:
                path.unlink()
            elif base + self.segment_records > offset:
                os.truncate(path, (offset - base) * RECORD_BYTES)
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        del self.epochs[offset:]
        del self.values[offset:]
        self.recovery_point = min(self.recovery_point, offset)
        self._truncations += 1
        self.epoch_cache.truncate_from_end(offset)
        return dropped

    def close(self) -> None:
        """Release file descriptors without fsyncing (a crash or a clean stop after flush)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._dirty_fds.clear()

    # -- reads ------------------------------------------------------------------------

    def read(self, start: int, end: int) -> list[list[int]]:
        """``[[offset, value], ...]`` for offsets in ``[start, end)``."""
        return [[start + i, v] for i, v in enumerate(self.values[start:end])]

    def read_with_epochs(self, start: int, end: int) -> list[list[int]]:
        """``[[offset, epoch, value], ...]`` for offsets in ``[start, end)``."""
        pairs = zip(self.epochs[start:end], self.values[start:end], strict=True)
        return [[start + i, e, v] for i, (e, v) in enumerate(pairs)]
