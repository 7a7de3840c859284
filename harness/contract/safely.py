"""The one place where teardown may swallow an error: logged, never silent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("floodmark")

T = TypeVar("T")


def best_effort(what: str, fn: Callable[[], T], default: T) -> T:
    """Run ``fn`` for teardown; on an ordinary error log it (with ``what`` was being done)
    and return ``default``, so one failed cleanup step never skips the next ones."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - teardown must go on; the error is logged
        log.warning("teardown: %s failed: %s: %s", what, type(e).__name__, e)
        return default


def attempt(what: str, fn: Callable[[], object]) -> bool:
    """`best_effort` for an action: True when it succeeded."""

    def run() -> bool:
        fn()
        return True

    return best_effort(what, run, False)
