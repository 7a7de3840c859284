"""probe: is a network link open, refused or silent? (runs in node images and on the host)

Inside a node container this probes the exact path the node uses to reach a peer
(``toxiproxy:<port of the link's proxy>``); the harness imports the same function to
probe published client links. Stdlib only.

    python3 probe.py --deadline 0.5 toxiproxy:20012 toxiproxy:20013
    -> {"ok": true, "probes": {"toxiproxy:20012": {"outcome": "silent", "ms": 500.3, ...}}}

A probe connects, sends `PROBE_BYTES` and waits for any reply byte or EOF:
``answered`` (the far end reacted: the link carries data both ways), ``refused``
(nothing listens: a disabled proxy), ``silent`` (nothing came back before the
deadline: a blackholed link) or ``error``.

An ``answered`` result says how in its ``detail``: ``reply data`` (bytes came back),
``EOF`` or ``reset`` (closed before any byte came back). Toxiproxy dials a proxy's
upstream when it accepts a connection and, when that dial is refused (the destination
does not listen yet), closes the client within milliseconds, toxic or not: EOF or reset
with no data, from Toxiproxy itself rather than from the far end. Whoever reads the
probe must know the destination listened (`faults.network.partition` checks).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

PROBE_BYTES = b"\x00\x00\x00\x00"
"""A frame of length 0: invalid in every length-prefixed protocol floodmark tests (replog
and Kafka both reply with an error or close the connection), so an open link answers at
once and a blackholed link stays silent."""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    outcome: str  # "answered" | "refused" | "silent" | "error"
    seconds: float
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "ms": round(self.seconds * 1000, 1), "detail": self.detail}


def tcp_probe(address: str, deadline: float) -> ProbeResult:
    """Probe ``host:port``, waiting at most ``deadline`` seconds in all."""
    host, _, port = address.rpartition(":")
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=deadline) as s:
            s.settimeout(max(0.01, deadline - (time.monotonic() - t0)))
            s.sendall(PROBE_BYTES)
            try:
                got = s.recv(1)
            except TimeoutError:
                return ProbeResult("silent", time.monotonic() - t0)
            except ConnectionResetError:
                return ProbeResult("answered", time.monotonic() - t0, "reset")
            return ProbeResult("answered", time.monotonic() - t0, "reply data" if got else "EOF")
    except ConnectionRefusedError as e:
        return ProbeResult("refused", time.monotonic() - t0, str(e))
    except TimeoutError:
        return ProbeResult("silent", time.monotonic() - t0, "connect timed out")
    except OSError as e:
        return ProbeResult("error", time.monotonic() - t0, repr(e))


def probe_all(addresses: list[str], deadline: float) -> dict[str, ProbeResult]:
    """Probe every address concurrently (so N probes take one deadline, not N)."""
    results: dict[str, ProbeResult] = {}

    def one(a: str) -> None:
        results[a] = tcp_probe(a, deadline)

    threads = [threading.Thread(target=one, args=(a,)) for a in addresses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe")
    parser.add_argument("--deadline", type=float, default=0.5)
    parser.add_argument("addresses", nargs="+")
    args = parser.parse_args(argv)
    results = probe_all(args.addresses, args.deadline)
    print(json.dumps({"ok": True, "probes": {a: r.to_json() for a, r in results.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
