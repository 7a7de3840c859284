"""lazyfs operations: a file system that keeps un-fsynced writes in memory, as LazyFS does.

`LazyOps` is what the FUSE daemon (``lazyfs.py``, which mounts it and serves its control
socket) calls for every file system operation; it runs inside the node image with the
system's ``python3`` and imports nothing but the standard library.

Semantics (what a power loss does to a file system):

- File *contents* written with ``write``/``truncate`` (including writes of shared mmap
  pages) are held in this daemon's memory, per file, in order, until ``fsync`` /
  ``fdatasync`` of that file (or ``msync``) applies them to the backing file and fsyncs it.
  Reads, ``stat`` sizes and mmap faults see the pending changes (read-after-write holds).
- Names are durable at once: create, mkdir, unlink, rename, link, symlink, chmod pass
  through to the backing directory immediately (a journaled file system's metadata). A
  file created and never fsynced therefore survives a crash empty or short, as on ext4.
- Dying loses the pending changes: when the container is SIGKILLed the daemon dies with
  its memory, which is exactly a power loss for the node. ``crash`` drops them while the
  container still runs, reports what was dropped, and fails every later operation with
  EIO (a disk that lost power), so the fault records precisely what was lost.
- A process crash (floodmark's ``kill``) keeps the OS page cache: before such a kill the
  harness sends ``passthrough``, which applies everything pending and then writes through
  until the daemon restarts with the container.

A file's pending changes, e.g. after ``write(0, b"abc")``, ``truncate(2)``,
``write(4, b"Z")`` on an empty file: ``PendingFile(size=5, changes=[Write(0, b"abc"),
Truncate(2), Write(4, b"Z")])``; a read sees ``b"ab\\x00\\x00Z"``, the backing file stays
empty until ``fsync``.
"""

from __future__ import annotations

import enum
import errno
import os
import stat
import sys
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Write:
    """``len(data)`` bytes at ``offset``; consecutive appends are merged into one."""

    offset: int
    data: bytearray

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True, slots=True)
class Truncate:
    length: int


@dataclass(slots=True)
class PendingFile:
    """The un-fsynced changes to one file, in the order they were made.

    ``size`` is the file's logical size (what ``stat`` reports); reads overlay the
    changes, in order, on the backing file's bytes.
    """

    size: int
    changes: list[Write | Truncate] = field(default_factory=list)

    @property
    def pending_bytes(self) -> int:
        return sum(len(c.data) for c in self.changes if isinstance(c, Write))

    def write(self, offset: int, data: bytes) -> None:
        last = self.changes[-1] if self.changes else None
        if isinstance(last, Write) and last.offset <= offset <= last.end:
            # Extend or overwrite the last write in place: appends stay one change.
            start = offset - last.offset
            last.data[start : start + len(data)] = data
        else:
            self.changes.append(Write(offset, bytearray(data)))
        self.size = max(self.size, offset + len(data))

    def truncate(self, length: int) -> None:
        self.changes.append(Truncate(length))
        self.size = length

    def overlay(self, buf: bytearray, offset: int) -> None:
        """Apply the changes to ``buf``, which holds the backing bytes at ``offset``."""
        end = offset + len(buf)
        for c in self.changes:
            if isinstance(c, Write):
                lo, hi = max(c.offset, offset), min(c.end, end)
                if lo < hi:
                    buf[lo - offset : hi - offset] = c.data[lo - c.offset : hi - c.offset]
            elif c.length < end:
                lo = max(c.length, offset)
                buf[lo - offset :] = bytes(end - lo)

    def apply_to(self, fd: int) -> None:
        """Write the changes to the backing file (the caller fsyncs)."""
        for c in self.changes:
            if isinstance(c, Write):
                view = memoryview(c.data)
                done = 0
                while done < len(view):
                    done += os.pwrite(fd, view[done:], c.offset + done)
            else:
                os.ftruncate(fd, c.length)
        if os.fstat(fd).st_size != self.size:
            os.ftruncate(fd, self.size)


class Mode(enum.StrEnum):
    LAZY = "lazy"
    PASSTHROUGH = "passthrough"
    CRASHED = "crashed"


FUSE_OPERATIONS = frozenset(
    (
        "init",
        "destroy",
        "getattr",
        "access",
        "readdir",
        "opendir",
        "releasedir",
        "fsyncdir",
        "readlink",
        "statfs",
        "mknod",
        "mkdir",
        "rmdir",
        "symlink",
        "link",
        "unlink",
        "rename",
        "chmod",
        "chown",
        "utimens",
        "open",
        "create",
        "read",
        "write",
        "truncate",
        "flush",
        "release",
        "fsync",
    )
)


class LazyOps:
    """The FUSE operations over a backing directory (fusepy's calling convention: the
    object is called with the operation's name; errors are raised as `OSError`). fusepy
    registers exactly the operations this object has attributes for, so every name in
    `FUSE_OPERATIONS` is a method here."""

    def __init__(self, backing: str) -> None:
        self.backing = os.path.realpath(backing)
        self.mode = Mode.LAZY
        self.pending: dict[str, PendingFile] = {}
        self._mutex = threading.RLock()
        self.fsyncs = 0
        self.dropped_total = 0

    # -- plumbing -------------------------------------------------------------------
    def __call__(self, op: str, *args: Any) -> Any:
        method = getattr(self, op, None) if op in FUSE_OPERATIONS else None
        if method is None:
            print(f"lazyfs: {op} is not implemented", file=sys.stderr, flush=True)
            raise OSError(errno.ENOSYS, f"lazyfs does not implement {op}")
        with self._mutex:
            if self.mode is Mode.CRASHED and op not in ("destroy", "release", "releasedir"):
                raise OSError(errno.EIO, "lazyfs crashed (power loss); restart the node")
            return method(*args)

    def _full(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _base_size(self, path: str) -> int:
        try:
            return os.stat(self._full(path)).st_size
        except FileNotFoundError:
            return 0

    def _pending_for(self, path: str) -> PendingFile:
        pf = self.pending.get(path)
        if pf is None:
            pf = self.pending[path] = PendingFile(self._base_size(path))
        return pf

    def _sync_file(self, path: str) -> None:
        pf = self.pending.pop(path, None)
        if pf is None:
            return
        fd = os.open(self._full(path), os.O_WRONLY)
        try:
            pf.apply_to(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.fsyncs += 1

    # -- control ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._mutex:
            return {
                "ok": True,
                "mode": self.mode.value,
                "pending_files": len(self.pending),
                "pending_bytes": sum(p.pending_bytes for p in self.pending.values()),
                "pending_changes": sum(len(p.changes) for p in self.pending.values()),
                "fsyncs": self.fsyncs,
                "dropped_total": self.dropped_total,
            }

    def flush_all(self) -> dict[str, Any]:
        with self._mutex:
            if self.mode is Mode.CRASHED:
                return {"ok": False, "error": "crashed: nothing can be flushed any more"}
            files = sorted(self.pending)
            for path in files:
                self._sync_file(path)
            return {**self.status(), "flushed_files": files}

    def set_mode(self, mode: Mode) -> dict[str, Any]:
        with self._mutex:
            if self.mode is Mode.CRASHED:
                return {"ok": False, "error": "crashed: restart the container to recover"}
            flushed = self.flush_all()["flushed_files"] if mode is Mode.PASSTHROUGH else []
            self.mode = mode
            return {**self.status(), "flushed_files": flushed}

    def crash(self) -> dict[str, Any]:
        with self._mutex:
            dropped = {
                p: {"bytes": pf.pending_bytes, "changes": len(pf.changes), "size": pf.size}
                for p, pf in sorted(self.pending.items())
            }
            self.dropped_total += sum(d["bytes"] for d in dropped.values())
            self.pending.clear()
            self.mode = Mode.CRASHED
            return {**self.status(), "dropped": dropped}

    def control(self, command: str) -> dict[str, Any]:
        actions = {
            "status": self.status,
            "flush": self.flush_all,
            "passthrough": lambda: self.set_mode(Mode.PASSTHROUGH),
            "lazy": lambda: self.set_mode(Mode.LAZY),
            "crash": self.crash,
        }
        action = actions.get(command)
        if action is None:
            return {"ok": False, "error": f"unknown command {command!r}; one of {list(actions)}"}
        return action()

    # -- file system operations ---------------------------------------------------------
    def init(self, path: str) -> None:
        return None

    def destroy(self, path: str) -> None:
        return None

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        st = os.lstat(self._full(path))
        attrs = {
            k: getattr(st, k)
            for k in (
                "st_atime",
                "st_ctime",
                "st_gid",
                "st_mode",
                "st_mtime",
                "st_nlink",
                "st_size",
                "st_uid",
                "st_blocks",
            )
        }
        pf = self.pending.get(path)
        if pf is not None and stat.S_ISREG(st.st_mode):
            attrs["st_size"] = pf.size
            attrs["st_blocks"] = (pf.size + 511) // 512
        return attrs

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._full(path), amode):
            raise OSError(errno.EACCES, path)
        return 0

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._full(path))]

    def opendir(self, path: str) -> int:
        return 0

    def releasedir(self, path: str, fh: int) -> int:
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        fd = os.open(self._full(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return 0

    def readlink(self, path: str) -> str:
        return os.readlink(self._full(path))

    def statfs(self, path: str) -> dict[str, int]:
        sv = os.statvfs(self._full(path))
        names = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree")
        return {k: getattr(sv, k) for k in (*names, "f_files", "f_flag", "f_frsize", "f_namemax")}

    def mknod(self, path: str, mode: int, dev: int) -> None:
        os.mknod(self._full(path), mode, dev)

    def mkdir(self, path: str, mode: int) -> None:
        os.mkdir(self._full(path), mode)

    def rmdir(self, path: str) -> None:
        os.rmdir(self._full(path))

    def symlink(self, target: str, source: str) -> None:
        os.symlink(source, self._full(target))

    def link(self, target: str, source: str) -> None:
        os.link(self._full(source), self._full(target))

    def unlink(self, path: str) -> None:
        os.unlink(self._full(path))
        self.pending.pop(path, None)

    def rename(self, old: str, new: str) -> None:
        os.rename(self._full(old), self._full(new))
        self.pending.pop(new, None)
        pf = self.pending.pop(old, None)
        if pf is not None:
            self.pending[new] = pf
        prefix = old.rstrip("/") + "/"  # a renamed directory moves its files' changes
        for p in [p for p in self.pending if p.startswith(prefix)]:
            self.pending[new.rstrip("/") + "/" + p[len(prefix) :]] = self.pending.pop(p)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(self._full(path), mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.lchown(self._full(path), uid, gid)

    def utimens(self, path: str, times: tuple[float, float] | None = None) -> None:
        os.utime(self._full(path), times, follow_symlinks=False)

    def _open_backing(self, path: str, flags: int, mode: int | None = None) -> int:
        # Our own descriptor reads (for the overlay) and is never in append mode: the
        # kernel already turned O_APPEND into offsets, and pwrite with O_APPEND ignores them.
        keep = flags & ~(os.O_ACCMODE | os.O_APPEND | os.O_TRUNC | os.O_DIRECT)
        if mode is None:
            return os.open(self._full(path), keep | os.O_RDWR)
        return os.open(self._full(path), keep | os.O_RDWR | os.O_CREAT, mode)

    def open(self, path: str, flags: int) -> int:
        fd = self._open_backing(path, flags)
        if flags & os.O_TRUNC:
            self.truncate(path, 0)
        return fd

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        existed = os.path.exists(self._full(path))
        fd = self._open_backing(path, os.O_CREAT, mode)
        if existed:
            self.truncate(path, 0)
        return fd

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        pf = self.pending.get(path)
        if pf is None:
            return os.pread(fh, size, offset)
        end = min(offset + size, pf.size)
        if end <= offset:
            return b""
        buf = bytearray(os.pread(fh, end - offset, offset))
        if len(buf) < end - offset:
            buf.extend(bytes(end - offset - len(buf)))
        pf.overlay(buf, offset)
        return bytes(buf)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        if self.mode is Mode.PASSTHROUGH:
            return os.pwrite(fh, data, offset)
        self._pending_for(path).write(offset, data)
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> None:
        if self.mode is Mode.PASSTHROUGH:
            os.truncate(self._full(path), length)
            return
        self._pending_for(path).truncate(length)

    def flush(self, path: str, fh: int) -> int:
        return 0  # close() is not fsync: nothing becomes durable here

    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self._sync_file(path)
        if self.mode is Mode.PASSTHROUGH:
            os.fsync(fh)
        return 0
