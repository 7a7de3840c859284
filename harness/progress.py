"""What a person sees while a run goes: setup phases, then a live ok/fail/info line.

On a terminal the load line updates in place (rich ``Live``); elsewhere (CI logs) it is
printed every 5 seconds. Everything goes to stderr, so stdout stays clean for scripts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text


class Ui:
    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True, highlight=False, markup=False)
        self.quiet = quiet
        self._t0 = time.monotonic()

    def since(self, t0: float) -> None:
        """Count the displayed elapsed time from ``t0`` (a `time.monotonic` value)."""
        self._t0 = t0

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def phase(self, what: str) -> None:
        """Print a step of the run; ``what`` is text, never console markup (it may carry a
        node name or an error from the system under test)."""
        if not self.quiet:
            self.console.print(Text.assemble((f"{self.elapsed():6.1f}s", "dim"), "  ", what))

    def note(self, what: str) -> None:
        """Print something that went wrong or needs attention (text, like `phase`)."""
        if not self.quiet:
            self.console.print(
                Text.assemble((f"{self.elapsed():6.1f}s", "dim"), "  ", (what, "yellow"))
            )

    def load(
        self,
        seconds: float,
        counts: Callable[[], dict[str, int]],
        extra: Callable[[], str] = lambda: "",
    ) -> None:
        """Block for ``seconds`` (interruptible by signals) showing the live counts."""
        end = time.monotonic() + seconds

        def line() -> Text:
            c = counts()
            left = max(0.0, end - time.monotonic())
            return Text.assemble(
                (f"{self.elapsed():6.1f}s", "dim"),
                "  load: ",
                (f"ok {c.get('ok', 0)}", "green"),
                "  ",
                (f"fail {c.get('fail', 0)}", "red"),
                "  ",
                (f"info {c.get('info', 0)}", "yellow"),
                f"  {extra()}  ",
                (f"{left:4.0f}s left", "dim"),
            )

        if self.quiet:
            while time.monotonic() < end:
                time.sleep(min(0.2, max(0.0, end - time.monotonic())))
            return
        if self.console.is_terminal:
            with Live(line(), console=self.console, refresh_per_second=4, transient=False) as lv:
                while time.monotonic() < end:
                    time.sleep(min(0.25, max(0.0, end - time.monotonic())))
                    lv.update(line())
            return
        next_print = time.monotonic()
        while time.monotonic() < end:
            if time.monotonic() >= next_print:
                self.console.print(line())
                next_print += 5.0
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))
        self.console.print(line())
