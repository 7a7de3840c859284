"""The links of a cluster as faults see them: proxies, their toxics, and the switchboard.

Every directed link of a cluster is a Toxiproxy proxy (`harness.contract.plan`). Faults
read and change link state through `LinkControl`; its implementation is the Toxiproxy
HTTP client in `compose.toxiproxy.client` (infrastructure), which faults never need to
import. `Proxy` and `Toxic` are the link state it reports, as plain values; a `Toxic` is
also what `LinkControl.add_toxic` is asked to add.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

Stream = Literal["upstream", "downstream"]
"""Toxiproxy's direction names: ``upstream`` is client → server, ``downstream`` back."""


def port_of(address: str) -> int:
    """The port of ``host:port`` (``[::]:20001`` too)."""
    return int(address.rsplit(":", 1)[1])


@dataclass(frozen=True, slots=True)
class Toxic:
    """One toxic on a proxy, e.g. ``Toxic("cut", "timeout", {"timeout": 0})``: a blackhole
    of the proxy's downstream (``toxicity`` is the share of connections it applies to)."""

    name: str
    type: str
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: Stream = "downstream"
    toxicity: float = 1.0

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Toxic:
        return cls(
            name=str(d["name"]),
            type=str(d["type"]),
            attributes=dict(d.get("attributes") or {}),
            stream="upstream" if d.get("stream") == "upstream" else "downstream",
            toxicity=float(d.get("toxicity", 1.0)),
        )

    def to_json(self) -> dict[str, Any]:
        """The body of Toxiproxy's ``POST /proxies/<proxy>/toxics`` (the fields are its keys)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @property
    def listen_port(self) -> int:
        return port_of(self.listen)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Proxy:
        return cls(
            name=str(d["name"]),
            listen=str(d["listen"]),
            upstream=str(d["upstream"]),
            enabled=bool(d.get("enabled", True)),
            toxics=tuple(Toxic.from_json(t) for t in d.get("toxics") or ()),
        )


class LinkControl(Protocol):
    """What faults may do to links (Toxiproxy's API, bounded and retried by the client)."""

    def proxies(self) -> dict[str, Proxy]: ...

    def enable(self, name: str) -> Proxy: ...

    def disable(self, name: str) -> Proxy: ...

    def add_toxic(self, proxy: str, toxic: Toxic) -> Toxic: ...

    def remove_toxic(self, proxy: str, name: str, missing_ok: bool = True) -> None: ...
