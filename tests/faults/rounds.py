"""Hand-made rounds of ``replica-state`` samples for the trigger tests (the shape
`harness.monitor.Monitor` records; DESIGN.md §3)."""

from __future__ import annotations

from faults.triggers.seen import Seen, round_of
from harness.contract.history import JSON

NODES = ("n1", "n2", "n3")


def sample(
    key: int,
    node: str,
    role: str,
    *,
    leo: int = 10,
    hw: int = 10,
    epoch: int = 1,
    isr: tuple[str, ...] = NODES,
) -> dict[str, JSON]:
    if role == "offline":
        return {"key": key, "node": node, "role": role, "leo": -1, "hw": -1, "epoch": -1,
                "isr": []}  # fmt: skip
    return {"key": key, "node": node, "role": role, "leo": leo, "hw": hw, "epoch": epoch,
            "isr": list(isr)}  # fmt: skip


def healthy(
    keys: int = 2, leader: str = "n1", leo: int = 10, epoch: int = 1
) -> list[dict[str, JSON]]:
    """Every key led by ``leader`` with a full ISR, every replica at ``leo``."""
    return [
        sample(k, n, "leader" if n == leader else "follower", leo=leo, hw=leo, epoch=epoch)
        for k in range(keys)
        for n in NODES
    ]


def replace(
    rnd: list[dict[str, JSON]], key: int, node: str, **fields: JSON
) -> list[dict[str, JSON]]:
    """``rnd`` with the sample of (key, node) changed."""
    out = []
    for s in rnd:
        if s["key"] == key and s["node"] == node:
            s = {**s, **fields}
        out.append(s)
    return out


def seen(
    now: list[dict[str, JSON]],
    before: list[dict[str, JSON]] | None = None,
    at: float = 10.0,
    busy: frozenset[str] = frozenset(),
) -> Seen:
    return Seen(at, round_of(now), round_of(before or []), busy, 3)
