"""lazyfs: a FUSE layer that keeps un-fsynced writes in memory, as LazyFS does.

This file goes INTO every node image (``/opt/floodmark/agent/``, with its sibling
``lazyfs_ops.py``) and runs there by path with the system's ``python3`` and
``python3-fusepy``; it imports nothing from floodmark. It is the daemon: it mounts the
operations of `lazyfs_ops.LazyOps` (where the semantics are told: contents held until
fsync, names durable at once, a crash drops what is pending) and answers control commands.

Control: a Unix socket (``--socket``); one command per connection, one JSON line back::

    python3 lazyfs.py ctl status      -> {"ok": true, "mode": "lazy", "pending_files": 2, ...}
    python3 lazyfs.py ctl flush       -> apply every pending change, fsync, stay lazy
    python3 lazyfs.py ctl passthrough -> flush, then write through (before a process kill)
    python3 lazyfs.py ctl lazy        -> hold writes again
    python3 lazyfs.py ctl crash       -> drop everything pending, then EIO everything

Mount (done by ``entrypoint.sh`` when ``FLOODMARK_LAZYFS=1``)::

    python3 lazyfs.py mount --backing /var/lib/floodmark/backing --mountpoint /data \\
        --socket /run/floodmark/lazyfs.sock
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
from typing import Any

try:
    from .lazyfs_ops import LazyOps
except ImportError:  # run by path (python3 /opt/floodmark/agent/lazyfs.py): no package,
    # and this file's folder is sys.path[0], so the sibling imports by its own name
    from lazyfs_ops import LazyOps  # type: ignore[import-not-found,no-redef,unused-ignore]

_HOLD_NOTE = "un-fsynced contents are held in memory until fsync"


def serve_control(ops: LazyOps, sock_path: str) -> threading.Thread:
    """Answer control commands on a Unix socket, one per connection, in a daemon thread."""
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    os.makedirs(os.path.dirname(sock_path) or ".", exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(8)

    def loop() -> None:
        while True:
            conn, _ = server.accept()
            with conn:
                command = conn.recv(256).decode("utf-8", "replace").strip()
                try:
                    reply = ops.control(command)
                except OSError as e:
                    reply = {"ok": False, "error": f"{command} failed: {e}"}
                conn.sendall(json.dumps(reply).encode() + b"\n")

    t = threading.Thread(target=loop, name="lazyfs-control", daemon=True)
    t.start()
    return t


def control_command(sock_path: str, command: str, timeout: float = 30.0) -> dict[str, Any]:
    """Send one control command to a running daemon and return its JSON reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data)
    return reply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lazyfs", description=_HOLD_NOTE)
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mount", help="mount the layer (runs in the foreground)")
    m.add_argument("--backing", required=True)
    m.add_argument("--mountpoint", required=True)
    m.add_argument("--socket", default="/run/floodmark/lazyfs.sock")
    c = sub.add_parser("ctl", help="send a control command to the running layer")
    c.add_argument("command", choices=["status", "flush", "passthrough", "lazy", "crash"])
    c.add_argument("--socket", default="/run/floodmark/lazyfs.sock")
    args = parser.parse_args(argv)
    if args.cmd == "ctl":
        try:
            reply = control_command(args.socket, args.command)
        except OSError as e:
            reply = {"ok": False, "error": f"no lazyfs daemon answers on {args.socket}: {e}"}
        print(json.dumps(reply))
        return 0 if reply.get("ok") else 1
    try:  # Debian's python3-fusepy installs the module as ``fusepy``, PyPI's as ``fuse``
        from fusepy import FUSE  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        from fuse import FUSE  # type: ignore[import-not-found,import-untyped,unused-ignore]

    ops = LazyOps(args.backing)
    serve_control(ops, args.socket)
    # No direct_io: the kernel page cache stays on, so mmap (Kafka's index files) works;
    # our reads overlay pending writes, so the cache and the daemon agree.
    FUSE(
        ops,
        args.mountpoint,
        foreground=True,
        nothreads=False,
        allow_other=True,
        nonempty=True,
        raw_fi=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
