"""``link``: degrade chosen links with Toxiproxy toxics (latency + jitter, bandwidth, slicer).

Targets, decided by the seeded schedule:

- ``{"links": "peers-of", "node": "n2"}``: every replication/control link into and out of n2;
- ``{"links": "client", "node": "n1"}``: the clients' link to n1;
- ``{"links": "leader-client", "key": 3}``: the clients' link to the current leader of
  key 3 (looked up when the op runs);
- ``{"links": ["n1-n2", ...]}``: named proxies;
- ``{"pairs": [[a, b], ...]}``: the bytes ``a`` sends to ``b`` (proxy ``a-b`` upstream and
  ``b-a`` downstream, as a partition's cut), an end being a node or a target spec resolved
  when the op runs (``{"target": "follower", "key": 0, "rank": 1}``); ``streams`` is then
  implied.

Toxics (``toxic`` + ``attributes``, Toxiproxy's own names), on the ``streams`` listed
(``upstream`` = requests, ``downstream`` = replies, the default). Latency is one-way, as
netem's: on both streams a request/reply round trip gains twice ``latency`` (Toxiproxy
counts the delay from when it read the bytes, so one stream alone can add a few ms less
than ``latency`` to a round trip):
``latency`` ``{"latency": ms, "jitter": ms}``, ``bandwidth`` ``{"rate": KB/s}``,
``slicer`` ``{"average_size": bytes, "size_variation": bytes, "delay": µs}``.

Toxiproxy puts a toxic on a proxy's live connections before it answers, so the read-back
of every proxy (each named toxic present with the asked attributes) verifies it.
History value::

    start-link {"links": "leader-client", "key": 3, "proxies": ["client-n2"],
                "toxic": "latency", "attributes": {"latency": 200, "jitter": 20},
                "streams": ["upstream", "downstream"], "verified": true}
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any, Final

from harness.contract.history import JSON
from harness.contract.links import Stream, Toxic
from harness.contract.plan import CLIENT, LinkKind
from harness.contract.roles import Cluster, FaultPackage, NemesisContext

from ..common import FaultError, NoTarget, StartStopFault, verified
from ..schedule import cycling, heal_all
from .partition import Links, resolve_cut, run_parallel

PREFIX: Final = "fm-link-"
TOXICS: Final = {
    "latency": ({"latency": 200, "jitter": 20}, {"latency": 50, "jitter": 50}),
    "bandwidth": ({"rate": 64}, {"rate": 512}),
    "slicer": ({"average_size": 64, "size_variation": 32, "delay": 1000},),
}


def as_streams(names: list[str]) -> list[Stream]:
    """Stream names as `Stream` s (anything but ``upstream`` is ``downstream``)."""
    return ["upstream" if s == "upstream" else "downstream" for s in names]


def toxic_name(toxic: str, stream: str) -> str:
    return f"{PREFIX}{toxic}-{stream}"


class LinkFault(StartStopFault):
    """Put a toxic on the target links; remove this package's toxics on stop."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.links = Links(cluster.plan.proxies)
        self.active: dict[str, list[str]] = {}  # proxy → toxic names

    def proxies_for(self, value: dict[str, Any]) -> list[str]:
        cluster = self.cluster
        target = value.get("links")
        if isinstance(target, list):
            return [str(n) for n in target]
        if target == "leader-client":
            leader = cluster.leader(int(value["key"]))
            if leader is None:
                raise NoTarget(f"key {value['key']} has no leader whose link could be slowed")
            value["leader"] = leader
            target, value_node = "client", leader
        else:
            value_node = str(value.get("node"))
        pairs = self.links.by_pair
        if target == "client":
            return [p.name for (s, d), p in pairs.items() if s == CLIENT and d == value_node]
        if target == "peers-of":
            return sorted(
                p.name
                for (s, d), p in pairs.items()
                if p.kind in (LinkKind.PEER, LinkKind.CONTROL) and value_node in (s, d)
            )
        raise FaultError(f"unknown link target {target!r}; see faults.network.link")

    def streams_for(self, spec: dict[str, Any]) -> dict[str, list[Stream]]:
        """proxy → the streams the toxic goes on: the ``pairs``' bytes (`Links.blackhole`'s
        mapping), or every stream of ``streams`` on the proxies of `proxies_for`."""
        if "pairs" in spec:
            links = resolve_cut(self.cluster, spec["pairs"])
            spec["pairs"] = sorted([a, b] for a, b in links)
            return {
                name: as_streams(streams) for name, streams in self.links.blackhole(links).items()
            }
        streams = self.given_streams(spec)
        return {name: list(streams) for name in self.proxies_for(spec)}

    @staticmethod
    def given_streams(spec: dict[str, Any]) -> list[Stream]:
        return as_streams(spec.get("streams") or ["downstream"])

    def start(self, value: JSON) -> JSON:
        tp = self.cluster.toxiproxy
        if not isinstance(value, dict) or value.get("toxic") not in TOXICS:
            raise FaultError(
                f"start-link expects {{'links', 'toxic', 'attributes'}}, got {value!r}"
            )
        spec = dict(value)
        plan = self.streams_for(spec)
        toxic, attributes = str(spec["toxic"]), dict(spec.get("attributes") or {})
        calls = []
        for name, streams in plan.items():
            for s in streams:
                tname = toxic_name(toxic, s)
                calls.append(partial(tp.add_toxic, name, Toxic(tname, toxic, attributes, s)))
                self.active.setdefault(name, []).append(tname)
        run_parallel(calls)
        now = tp.proxies()
        missing = []
        for name, streams in plan.items():
            have = {
                (t.name, t.stream): t.attributes for t in (now[name].toxics if name in now else ())
            }
            for s in streams:
                got = have.get((toxic_name(toxic, s), s))
                if got is None or any(got.get(k) != v for k, v in attributes.items()):
                    missing.append(f"{name}/{s}")
        problems = []
        if not plan:
            problems.append(
                f"the target {spec.get('links') or spec.get('pairs')!r} maps to no proxy"
            )
        if missing:
            problems.append(f"Toxiproxy does not show the {toxic} toxic on {missing}")
        fields: dict[str, JSON] = {"proxies": list(plan)}
        if "pairs" in spec:
            fields["proxy_streams"] = {n: list(ss) for n, ss in plan.items()}
        else:
            fields["streams"] = list(next(iter(plan.values()), self.given_streams(spec)))
        return verified(not problems, "; ".join(problems), spec, **fields)

    def stop(self, everything: bool) -> JSON:
        tp = self.cluster.toxiproxy
        now = tp.proxies()
        todo: dict[str, list[str]] = {n: list(ts) for n, ts in self.active.items()}
        if everything:
            for n, p in now.items():
                ours = [t.name for t in p.toxics if t.name.startswith(PREFIX)]
                if ours:
                    todo[n] = sorted(set(todo.get(n, [])) | set(ours))
        calls = [partial(tp.remove_toxic, n, t) for n, ts in todo.items() for t in ts]
        run_parallel(calls)
        self.active = {}
        after = tp.proxies()
        left = {
            n: [t.name for t in p.toxics if t.name.startswith(PREFIX)]
            for n, p in after.items()
            if any(t.name.startswith(PREFIX) for t in p.toxics)
        }
        return verified(not left, f"link toxics remain: {left}", removed=todo)


def _start(ctx: NemesisContext, rng: random.Random) -> JSON:
    toxic = rng.choice(sorted(TOXICS))
    attributes = dict(rng.choice(TOXICS[toxic]))
    kind = rng.choice(["peers-of", "client", "leader-client"])
    target: dict[str, JSON]
    if kind == "leader-client":
        target = {"links": kind, "key": rng.randrange(max(ctx.keys, 1))}
    else:
        target = {"links": kind, "node": rng.choice(ctx.brokers)}
    streams = ["upstream", "downstream"] if toxic == "latency" else ["downstream"]
    return {**target, "toxic": toxic, "attributes": attributes, "streams": streams}


LINK: Final = FaultPackage(
    name="link",
    doc="Degrade links with Toxiproxy toxics: latency+jitter, bandwidth, slicer.",
    fault=LinkFault,
    generator=cycling(_start),
    final=heal_all,
    heal_order=20,
    colour="#ff7f0e",
)
