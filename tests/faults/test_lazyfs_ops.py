"""The lazyfs layer's semantics, exercised on its operations directly (no FUSE needed):
pending writes are visible to reads, reach the backing file only on fsync, and a crash
drops them."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from faults.agent.lazyfs_ops import LazyOps, PendingFile


def test_pending_file_overlay_applies_writes_and_truncates_in_order() -> None:
    pf = PendingFile(size=8)
    pf.write(2, b"XY")
    pf.truncate(3)
    pf.write(5, b"Z")
    buf = bytearray(b"abcdefgh"[:6])
    pf.overlay(buf, 0)
    assert pf.size == 6
    assert bytes(buf) == b"abX\x00\x00Z"


def test_appends_merge_into_one_change() -> None:
    pf = PendingFile(size=0)
    for i in range(100):
        pf.write(i * 3, b"abc")
    assert len(pf.changes) == 1 and pf.pending_bytes == 300


@pytest.fixture
def fs(tmp_path: Path) -> tuple[LazyOps, Path]:
    return LazyOps(str(tmp_path)), tmp_path


def write_file(ops: LazyOps, path: str, data: bytes, offset: int = 0) -> int:
    fh: int = ops("create", path, 0o644)
    ops("write", path, data, offset, fh)
    return fh


def test_unfsynced_writes_are_read_back_but_not_on_disk(fs: tuple[LazyOps, Path]) -> None:
    ops, backing = fs
    fh = write_file(ops, "/log", b"hello")
    assert ops("read", "/log", 100, 0, fh) == b"hello"
    assert ops("getattr", "/log")["st_size"] == 5
    assert (backing / "log").read_bytes() == b""
    ops("fsync", "/log", 0, fh)
    assert (backing / "log").read_bytes() == b"hello"
    ops("write", "/log", b" world", 5, fh)
    assert ops("read", "/log", 100, 0, fh) == b"hello world"
    assert (backing / "log").read_bytes() == b"hello"
    ops("release", "/log", fh)


def test_crash_drops_pending_and_fails_everything_after(fs: tuple[LazyOps, Path]) -> None:
    ops, backing = fs
    fh = write_file(ops, "/a", b"durable")
    ops("fsync", "/a", 0, fh)
    ops("write", "/a", b"-lost", 7, fh)
    reply = ops.control("crash")
    assert reply["mode"] == "crashed"
    assert reply["dropped"] == {"/a": {"bytes": 5, "changes": 1, "size": 12}}
    assert (backing / "a").read_bytes() == b"durable"
    with pytest.raises(OSError) as e:
        ops("read", "/a", 10, 0, fh)
    assert e.value.errno == errno.EIO


def test_passthrough_flushes_then_writes_through(fs: tuple[LazyOps, Path]) -> None:
    ops, backing = fs
    fh = write_file(ops, "/b", b"one")
    reply = ops.control("passthrough")
    assert reply["flushed_files"] == ["/b"] and reply["pending_files"] == 0
    assert (backing / "b").read_bytes() == b"one"
    ops("write", "/b", b"two", 3, fh)
    assert (backing / "b").read_bytes() == b"onetwo"
    assert ops.control("lazy")["mode"] == "lazy"


def test_rename_moves_pending_changes_and_names_are_durable(fs: tuple[LazyOps, Path]) -> None:
    ops, backing = fs
    fh = write_file(ops, "/cp.tmp", b"checkpoint")
    ops("rename", "/cp.tmp", "/cp")
    assert (backing / "cp").exists() and (backing / "cp").read_bytes() == b""
    assert ops("read", "/cp", 100, 0, fh) == b"checkpoint"
    ops.control("flush")
    assert (backing / "cp").read_bytes() == b"checkpoint"


def test_truncate_then_extend_reads_zeros(fs: tuple[LazyOps, Path]) -> None:
    ops, backing = fs
    (backing / "t").write_bytes(b"abcdefgh")
    fh = ops("open", "/t", os.O_RDWR)
    ops("truncate", "/t", 2)
    ops("write", "/t", b"Z", 5, fh)
    assert ops("read", "/t", 100, 0, fh) == b"ab\x00\x00\x00Z"
    assert (backing / "t").read_bytes() == b"abcdefgh"
    ops("fsync", "/t", 0, fh)
    assert (backing / "t").read_bytes() == b"ab\x00\x00\x00Z"


def test_unknown_control_command_says_what_exists(fs: tuple[LazyOps, Path]) -> None:
    ops, _ = fs
    reply = ops.control("explode")
    assert reply["ok"] is False and "crash" in reply["error"]
