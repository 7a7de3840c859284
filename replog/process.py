"""What the two replog processes share: logging, the command line, running until a signal.

A broker and the controller are each ``python -m replog.<role> --config <file>.json``:
`main` parses that command line and loads the config (a bad one stops the process before
anything listens), sets up logging to stderr, builds the node inside the event loop and
runs it until SIGTERM or SIGINT, then stops it cleanly::

    $ python -m replog.controller --config controller.json
    2024-06-01T12:00:00.123 INFO replog.controller controller started: epoch 1 (was 0), ...
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

C = TypeVar("C")


class Node(Protocol):
    """A broker or the controller, as a process runs it."""

    async def start(self) -> int: ...

    async def stop(self) -> None: ...


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )


async def run_until_signalled(make: Callable[[], Node]) -> None:
    """Build and start the node, run until SIGTERM/SIGINT, then stop it cleanly."""
    node = make()
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await node.stop()


def run_process(
    argv: list[str] | None,
    *,
    role: str,
    description: str | None,
    load: Callable[[Path], C],
    make: Callable[[C], Node],
) -> None:
    """``python -m replog.<role> --config <file>``: ``load`` reads the file, ``make``
    builds the node from what it read."""
    parser = argparse.ArgumentParser(prog=f"python -m replog.{role}", description=description)
    parser.add_argument("--config", required=True, type=Path, help=f"{role} config JSON file")
    args = parser.parse_args(argv)
    setup_logging()
    config = load(args.config)
    asyncio.run(run_until_signalled(lambda: make(config)))
