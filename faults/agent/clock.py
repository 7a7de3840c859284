"""clock: drive libfaketime inside a node container (runs there with the system python3).

``entrypoint.sh`` preloads libfaketime into the node's process when ``FLOODMARK_FAKETIME=1``
and points it at a timestamp file (``FAKETIME_TIMESTAMP_FILE``) that libfaketime re-reads
every ``FAKETIME_CACHE_DURATION`` seconds (1 s). Writing ``+30`` there moves the node's
wall clock 30 s ahead within a second; ``+0`` heals. CLOCK_MONOTONIC is left alone
(``FAKETIME_DONT_FAKE_MONOTONIC=1``), as when NTP steps a real clock.

Commands (each prints one JSON line)::

    python3 clock.py set --offset 30        # shift by +30 s (negative: behind)
    python3 clock.py strobe --offset 5 --period 1.0 --duration 10
                                            # flip between +5 s and +0 every second
    python3 clock.py reset                  # stop any strobe, offset back to 0
    python3 clock.py verify                 # what the node's libc reports vs real time

``verify`` reads the environment of the node process (pid 1 after the entrypoint's exec),
checks libfaketime is mapped into it, and runs ``date`` with that same environment, so
the time it reports is the time the node sees.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

FILE = os.environ.get("FLOODMARK_FAKETIME_FILE", "/run/floodmark/faketime")
STROBE_PID = "/run/floodmark/faketime-strobe.pid"


def spec(offset: float) -> str:
    """libfaketime's relative-offset syntax: ``+30``, ``-2.5``."""
    return f"{offset:+g}"


def write_offset(offset: float) -> None:
    tmp = f"{FILE}.{os.getpid()}.tmp"  # a strobe being stopped may still be writing
    with open(tmp, "w") as fh:
        fh.write(spec(offset) + "\n")
    os.replace(tmp, FILE)


def stop_strobe() -> int | None:
    try:
        with open(STROBE_PID) as fh:
            pid = int(fh.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid = -pid  # it had already ended
    os.unlink(STROBE_PID)
    return pid


def strobe(offset: float, period: float, duration: float) -> None:
    """Flip between ``offset`` and 0 every ``period`` seconds for ``duration`` seconds,
    then settle on 0. Runs detached (``docker exec -d``); its pid is in STROBE_PID."""
    with open(STROBE_PID, "w") as fh:
        fh.write(str(os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + duration
    on = True
    try:
        while time.monotonic() < deadline:
            write_offset(offset if on else 0.0)
            on = not on
            time.sleep(period)
    finally:
        write_offset(0.0)


def verify() -> dict[str, Any]:
    with open("/proc/1/environ", "rb") as fh:
        env = dict(
            kv.split("=", 1) for kv in fh.read().decode("utf-8", "replace").split("\0") if "=" in kv
        )
    with open("/proc/1/maps") as fh:
        mapped = "libfaketime" in fh.read()
    real = time.time()
    out = subprocess.run(
        ["date", "+%s.%N"], env=env, capture_output=True, text=True, check=True, timeout=10
    )
    reported = float(out.stdout.strip())
    try:
        with open(FILE) as fh:
            current = fh.read().strip()
    except FileNotFoundError:
        current = None
    return {
        "ok": True,
        "preloaded": "faketime" in env.get("LD_PRELOAD", ""),
        "mapped": mapped,
        "file": current,
        "real": real,
        "reported": reported,
        "offset": round(reported - real, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clock")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("set")
    s.add_argument("--offset", type=float, required=True)
    st = sub.add_parser("strobe")
    st.add_argument("--offset", type=float, required=True)
    st.add_argument("--period", type=float, default=1.0)
    st.add_argument("--duration", type=float, required=True)
    sub.add_parser("reset")
    sub.add_parser("verify")
    args = parser.parse_args(argv)
    reply: dict[str, Any]
    if args.cmd == "set":
        stop_strobe()
        write_offset(args.offset)
        reply = {"ok": True, "file": spec(args.offset)}
    elif args.cmd == "strobe":
        stop_strobe()
        strobe(args.offset, args.period, args.duration)
        reply = {"ok": True}
    elif args.cmd == "reset":
        stopped = stop_strobe()
        write_offset(0.0)
        reply = {"ok": True, "file": spec(0.0), "stopped_strobe": stopped}
    else:
        reply = verify()
    print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
