"""A clock for unit tests: time that moves only when something sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable


class FakeClock:
    """Monotonic time that moves only when something sleeps (`faults.common.Clock`)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self.on_sleep: list[Callable[[float], None]] = []
        """Called with the seconds slept so far after each sleep (the world moving on)."""
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def __call__(self) -> float:
        """The time, for seams that take a ``clock: Callable[[], float]``."""
        return self.now()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.t += max(0.0, seconds)
        for hook in self.on_sleep:
            hook(self.slept)

    @property
    def slept(self) -> float:
        return sum(self.sleeps)
