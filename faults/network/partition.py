"""``partition``: cut directed links between nodes (and clients) through Toxiproxy.

Every ordered pair of nodes has its own proxy (`harness.contract.plan`): the connections ``a``
opens to ``b`` run through proxy ``a-b``, carrying ``a``'s bytes *upstream* and ``b``'s
replies *downstream*. A cut ``(a, b)`` (bytes from ``a`` no longer reach ``b``; see
`faults.network.shapes`) therefore becomes:

- mode ``blackhole`` (a real partition: data dropped, connections hang): a ``timeout``
  toxic with timeout 0 on ``a-b``'s upstream and on ``b-a``'s downstream;
- mode ``refuse``: proxy ``a-b`` disabled (connections refused, open ones closed).

All the API calls of one action run concurrently, so a whole cut lands within tens of
milliseconds (``applied_ms`` in the history). Healing removes the toxics and also resets
the blackholed proxies' connections (disable, enable): a stream that silently lost bytes
can never resynchronise, whereas after a real partition TCP would have retransmitted
them; closing it is what a long real partition does too.

Verification: the proxies are read back (every toxic in place / proxy disabled), then
each cut link's path is probed from where its traffic starts — ``docker exec`` in the
source node (``toxiproxy:<port>``, exactly the node's own route) or, for the clients,
from the harness to the Toxiproxy container's own address (see `_client_address`). A
blackholed link must stay ``silent`` and a refused one must refuse.

A blackhole probe is only evidence when the destination's process listens: Toxiproxy
dials the upstream when it accepts a connection and closes the client at once when the
dial is refused, toxic or not, which looks ``answered``. So the destinations are read
(``/proc/net/tcp`` in the destination node, `_listening`) *before* the probe, and a link
whose destination does not listen yet (a node just started or restarted, still booting)
is left out; an answered probe is read again after, in case the destination went away
during the probe. Reading it only after the probe would race with a node that starts
listening in between (milliseconds to seconds after it was restarted): its refused dial
would count as an answer. Links left out are listed under ``unprobed`` (with why); a cut
in place none of whose links could be probed is ``"verified": null`` with
``"unconfirmed"`` saying why: no evidence either way, so it neither counts as verified
nor makes the run unknown.
A schedule file may name a cut's ends by role instead of by node, resolved when the op
runs (`resolve_cut`): ``{"mode": "blackhole", "cut": [[{"target": "follower", "key": 0,
"rank": 1}, {"target": "follower", "key": 0, "rank": 2}]]}`` stops key 0's first
in-sync follower's bytes from reaching its second (KIP-279's schedule).

History value::

    start-partition {"shape": "majority", "mode": "blackhole",
        "groups": [["n1","n3","controller"], ["n2"]], "cut": [["n1","n2"], ...],
        "proxies": {"n1-n2": ["upstream"], "n2-n1": ["downstream"], ...},
        "applied_ms": 18.4, "probes": {"n1-n2": {"outcome": "silent", "ms": 500.2}},
        "verified": true}
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Final

from docker.errors import APIError

from harness.contract.history import JSON
from harness.contract.links import LinkControl, Stream, Toxic
from harness.contract.plan import ADMIN, CLIENT, LinkKind, ProxyPlan
from harness.contract.roles import Cluster, FaultOp, FaultPackage, NemesisContext, NemesisOption

from ..agent.probe import ProbeResult, tcp_probe
from ..common import (
    REAL_CLOCK,
    Clock,
    FaultError,
    NoTarget,
    StartStopFault,
    agent,
    all_nodes,
    resolve_target,
    verified,
)
from ..schedule import cycle, heal_all
from . import shapes

TOXIPROXY_NODE: Final = "toxiproxy"
"""The Toxiproxy container's name in `Cluster.container` (`compose.docker_cluster`)."""
TOXIC_UP: Final = "fm-partition-up"
TOXIC_DOWN: Final = "fm-partition-down"
MODES: Final = ("blackhole", "refuse")
PROBE_DEADLINE: Final = 0.5
PARALLEL: Final = 32

Link = tuple[str, str]


def resolve_cut(cluster: Cluster, cut: JSON) -> set[Link]:
    """A cut's directed pairs, an end named by a node or by a target spec resolved now
    (`faults.common.resolve_target`: ``{"target": "follower", "key": 0, "rank": 1}``), so
    a schedule file can cut links between roles it cannot name in advance."""
    if not isinstance(cut, list):
        raise FaultError(f"a cut is a list of [from, to] pairs, got {cut!r}")
    links: set[Link] = set()
    resolved: dict[str, list[str]] = {}  # each spec resolved once: one look at the cluster

    def nodes(end: JSON) -> list[str]:
        if isinstance(end, str):
            return [end]
        spec = json.dumps(end, sort_keys=True)
        if spec not in resolved:
            resolved[spec] = resolve_target(cluster, end)
        return resolved[spec]

    for pair in cut:
        if not isinstance(pair, list) or len(pair) != 2:
            raise FaultError(f"a cut pair is [from, to] (a node or a target spec), got {pair!r}")
        links |= {(a, b) for a in nodes(pair[0]) for b in nodes(pair[1]) if a != b}
    return links


def run_parallel(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run independent API calls concurrently; re-raises the first failure."""
    if not calls:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(calls))) as pool:
        return list(pool.map(lambda call: call(), calls))


class Links:
    """The cluster's fault-able proxies indexed by (src, dst); admin links are excluded."""

    def __init__(self, proxies: Iterable[ProxyPlan]) -> None:
        self.by_pair: dict[Link, ProxyPlan] = {
            (p.src, p.dst): p for p in proxies if p.kind is not LinkKind.ADMIN and p.src != ADMIN
        }

    def get(self, src: str, dst: str) -> ProxyPlan | None:
        return self.by_pair.get((src, dst))

    def blackhole(self, cut: Iterable[Link]) -> dict[str, list[str]]:
        """proxy name → the streams that carry the cut bytes (see module docstring)."""
        streams: dict[str, list[str]] = defaultdict(list)
        for a, b in cut:
            forward, backward = self.get(a, b), self.get(b, a)
            if forward is not None and "upstream" not in streams[forward.name]:
                streams[forward.name].append("upstream")
            if backward is not None and "downstream" not in streams[backward.name]:
                streams[backward.name].append("downstream")
        return {k: sorted(v) for k, v in sorted(streams.items()) if v}

    def refuse(self, cut: Iterable[Link]) -> list[str]:
        """The proxies to disable: the connections the cut's sources open."""
        return sorted({p.name for a, b in cut if (p := self.get(a, b)) is not None})


class PartitionFault(StartStopFault):
    """Cut the links a shape names (or a key's leader's); heal every cut on stop."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        clock: Clock = REAL_CLOCK,
        probe: Callable[[str, float], ProbeResult] = tcp_probe,
    ) -> None:
        """``probe`` probes a client link from the harness (`tcp_probe`; tests pass a fake)."""
        super().__init__(cluster, clock=clock)
        self.links = Links(cluster.plan.proxies)
        self.touched: dict[str, str] = {}  # proxy → mode it was cut with
        self._toxiproxy_ip: str | None = None  # on the public network, once known
        self._tcp_probe = probe

    def start(self, value: JSON) -> JSON:
        cluster = self.cluster
        t0 = self.clock.now()
        if not isinstance(value, dict) or value.get("mode") not in MODES:
            raise FaultError(f"start-partition expects {{'shape', 'mode', 'cut'}}, got {value!r}")
        mode = str(value["mode"])
        if value.get("shape") in ("leader", "leader-peers"):
            leader = cluster.leader(int(value["key"]))
            if leader is None:
                raise NoTarget(f"key {value['key']} has no leader to isolate right now")
            if value["shape"] == "leader":
                cut = shapes.isolate(leader, all_nodes(cluster), "leader")
            else:
                cut = shapes.from_peers(leader, cluster.plan.brokers)
            spec: dict[str, JSON] = {**value, **cut.to_json(), "leader": leader}
            links = set(cut.links)
        else:
            links = resolve_cut(cluster, value.get("cut", []))
            spec = {**value, "cut": sorted([a, b] for a, b in links)}
        applied = self.apply(cluster.toxiproxy, links, mode)
        applied_ms = (self.clock.now() - t0) * 1000
        missing = self.read_back(cluster.toxiproxy, applied, mode)
        results = self.probe(cluster, applied, mode)
        probes = {k: p for k, p in results.items() if p.get("outcome") != "skipped"}
        unprobed = {k: p.get("detail") for k, p in results.items() if k not in probes}
        expected = "silent" if mode == "blackhole" else "refused"
        bad = {k: p for k, p in probes.items() if p["outcome"] != expected}
        problems = []
        if missing:
            problems.append(f"Toxiproxy does not show the cut on {missing}")
        if bad:
            problems.append(f"probes through cut links should be {expected}, got {bad}")
        if not applied:
            problems.append(f"the cut {sorted(links)} maps to no proxy of this cluster")
        fields: dict[str, JSON] = {"unprobed": unprobed} if unprobed else {}
        out = verified(
            not problems,
            "; ".join(problems),
            spec,
            proxies=applied,
            applied_ms=round(applied_ms, 1),
            probes=probes,
            **fields,
        )
        if not problems and not probes:
            # In place (read back), but every cut link's source or destination was down
            # or not listening: no probe could show it holds, none showed it does not.
            # Neither verified nor a failure: ``verified: null`` with why (a nightly
            # run under kill + partition must not turn unknown for this).
            out["verified"] = None
            out["unconfirmed"] = (
                f"no probe could be made through the cut links {sorted(applied)} "
                f"(left out: {unprobed or 'every endpoint down'}): the cut is in place "
                "in Toxiproxy but untested"
            )
        return out

    def apply(self, tp: LinkControl, cut: Iterable[Link], mode: str) -> dict[str, list[str]]:
        calls: list[Callable[[], Any]] = []
        if mode == "refuse":
            names = self.links.refuse(cut)
            for name in names:
                calls.append(partial(tp.disable, name))
                self.touched[name] = mode
            run_parallel(calls)
            return {name: ["disabled"] for name in names}
        streams = self.links.blackhole(cut)
        for name, ss in streams.items():
            for s in ss:
                stream: Stream = "upstream" if s == "upstream" else "downstream"
                cut_toxic = TOXIC_UP if s == "upstream" else TOXIC_DOWN
                toxic = Toxic(cut_toxic, "timeout", {"timeout": 0}, stream)
                calls.append(partial(tp.add_toxic, name, toxic))
            self.touched[name] = mode
        run_parallel(calls)
        return streams

    def read_back(self, tp: LinkControl, applied: dict[str, list[str]], mode: str) -> list[str]:
        """The proxies whose state does not show the cut."""
        now = tp.proxies()
        missing = []
        for name, streams in applied.items():
            p = now.get(name)
            if p is None:
                missing.append(name)
            elif mode == "refuse":
                if p.enabled:
                    missing.append(name)
            else:
                have = {t.stream for t in p.toxics if t.name in (TOXIC_UP, TOXIC_DOWN)}
                if not set(streams) <= have:
                    missing.append(name)
        return missing

    def probe(
        self, cluster: Cluster, applied: dict[str, list[str]], mode: str
    ) -> dict[str, dict[str, JSON]]:
        """Probe every proxy whose upstream is cut (or disabled), grouped by source. A
        link that could not be probed (its source or destination down, or not
        listening) is in the result as ``"outcome": "skipped"`` with the ``detail``."""
        by_src: dict[str, list[ProxyPlan]] = defaultdict(list)
        # Toxiproxy closes a connection whose destination does not accept, toxic or not,
        # so a probe towards a node that is down proves nothing: those are left out.
        up = {n for n in all_nodes(cluster) if _running(cluster, n)}
        candidates: list[ProxyPlan] = []
        for name, streams in applied.items():
            p = cluster.plan.proxy(name)
            if (mode == "refuse" or "upstream" in streams) and (p.dst in up or mode == "refuse"):
                candidates.append(p)
        out: dict[str, dict[str, JSON]] = {}
        if mode == "blackhole":
            # Likewise a destination that runs but does not listen yet (a node booting
            # after a start or restart): read BEFORE the probe, see the module docstring.
            # A node only goes from not listening to listening while booting, so one
            # that listens now still listens while it is probed.
            out.update(_skip_not_listening(cluster, candidates, "yet (starting up)"))
            candidates = [p for p in candidates if p.name not in out]
        for p in candidates:
            by_src[p.src].append(p)

        def from_source(src: str, proxies: list[ProxyPlan]) -> dict[str, dict[str, JSON]]:
            if src == CLIENT:
                return {p.name: self._probe_client(cluster, p).to_json() for p in proxies}
            addresses = {f"toxiproxy:{p.listen_port}": p.name for p in proxies}
            c = cluster.container(src)
            if src not in up:
                return {
                    p.name: {"outcome": "skipped", "detail": f"{src} not running"} for p in proxies
                }
            reply = agent(c, "probe.py", "--deadline", str(PROBE_DEADLINE), *addresses)
            return {addresses[a]: r for a, r in reply["probes"].items()}

        for part in run_parallel([partial(from_source, s, ps) for s, ps in by_src.items()]):
            out.update(part)
        if mode == "blackhole":
            # And after, for the answered ones only: a destination that listened before
            # but no longer does (it died during the probe) proves nothing either.
            answered = [
                cluster.plan.proxy(name)
                for name, r in out.items()
                if isinstance(r, dict) and r.get("outcome") == "answered"
            ]
            out.update(_skip_not_listening(cluster, answered, "any more (went down)"))
        # A source that is down sends nothing anyway: neither evidence against the cut
        # nor for it (`start` tells the skipped apart).
        return dict(sorted(out.items()))

    def _probe_client(self, cluster: Cluster, p: ProxyPlan) -> ProbeResult:
        return self._tcp_probe(self._client_address(cluster, p), PROBE_DEADLINE)

    def _client_address(self, cluster: Cluster, p: ProxyPlan) -> str:
        """A client proxy's listener on the Toxiproxy container's own address.

        Not the published host port: Docker's userland proxy behind it accepts every
        connection and closes it when Toxiproxy refuses, so a disabled proxy would look
        ``answered`` (EOF). The container address reaches the same Toxiproxy listener
        without that layer; the published port is the fallback when it is unknown.
        """
        if self._toxiproxy_ip is None:
            try:
                c = cluster.container(TOXIPROXY_NODE)
                c.reload()
                nets = c.attrs["NetworkSettings"]["Networks"]
            except (KeyError, APIError):
                nets = {}
            pub = [v.get("IPAddress") for k, v in nets.items() if k.endswith("net-pub")]
            self._toxiproxy_ip = pub[0] if pub and pub[0] else ""
        if not self._toxiproxy_ip:
            return cluster.endpoint(p.name)
        return f"{self._toxiproxy_ip}:{p.listen_port}"

    def stop(self, everything: bool) -> JSON:
        """Undo every cut (``everything``, the final heal: any partition state on any proxy)."""
        tp = self.cluster.toxiproxy
        now = tp.proxies()
        names = set(self.touched)
        if everything:
            names |= {
                n
                for n, p in now.items()
                if n in {q.name for q in self.links.by_pair.values()}
                and (not p.enabled or any(t.name in (TOXIC_UP, TOXIC_DOWN) for t in p.toxics))
            }

        def undo(name: str) -> str:
            p = now.get(name)
            if p is None:
                return "absent"
            ours = [t.name for t in p.toxics if t.name in (TOXIC_UP, TOXIC_DOWN)]
            if ours:
                tp.disable(name)  # close the streams that lost bytes (module docstring)
                for t in ours:
                    tp.remove_toxic(name, t)
            tp.enable(name)
            return "reset" if ours else "enabled"

        order = sorted(names)
        done = dict(zip(order, run_parallel([partial(undo, n) for n in order]), strict=True))
        self.touched = {}
        after = tp.proxies()
        left = sorted(
            n
            for n in names
            if n in after
            and (
                not after[n].enabled
                or any(t.name in (TOXIC_UP, TOXIC_DOWN) for t in after[n].toxics)
            )
        )
        return verified(not left, f"proxies still cut after healing: {left}", healed=done)


def _skip_not_listening(
    cluster: Cluster, proxies: Sequence[ProxyPlan], when: str
) -> dict[str, dict[str, JSON]]:
    """A ``skipped`` probe result for each of ``proxies`` whose destination does not
    listen on its upstream port (``when`` ends the detail), each (node, port) read once,
    in parallel."""
    pairs = list({(p.dst, p.upstream): p for p in proxies}.items())
    listens = run_parallel([partial(_listening, cluster, p) for _, p in pairs])
    silent = {pair for (pair, _), ok in zip(pairs, listens, strict=True) if not ok}
    return {
        p.name: {"outcome": "skipped", "detail": f"nothing listens on {p.upstream} {when}"}
        for p in proxies
        if (p.dst, p.upstream) in silent
    }


def _listening(cluster: Cluster, p: ProxyPlan) -> bool:
    """Does a process in the destination node listen on the proxy's upstream port?
    (read from the node's /proc/net/tcp{,6}: state 0A is LISTEN). True when unsure."""
    port = int(p.upstream.rpartition(":")[2])
    try:
        code, out = cluster.container(p.dst).exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
    except APIError:
        return True
    if code != 0 or not isinstance(out, bytes):
        return True
    for line in out.decode("ascii", "replace").splitlines()[1:]:
        fields = line.split()
        listen = len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]
        if listen and int(fields[1].rpartition(":")[2], 16) == port:
            return True
    return False


def _running(cluster: Cluster, node: str) -> bool:
    c = cluster.container(node)
    c.reload()
    st = c.attrs["State"]
    return bool(st.get("Running")) and not st.get("Paused")


def _generator(ctx: NemesisContext) -> list[FaultOp]:
    members = [*ctx.brokers, *([ctx.controller] if ctx.controller else [])]
    wanted = SHAPES_OPTION.of(ctx)
    usable = [s for s in wanted if shapes.applicable(s, len(members), len(ctx.brokers))]
    modes = MODES_OPTION.of(ctx)
    if not usable:
        raise ValueError(
            f"no partition shape in {list(wanted)} fits {len(members)} nodes; use more nodes"
        )

    def start(rng: Any) -> JSON:
        shape = rng.choice(usable)
        mode = rng.choice(list(modes))
        if shape in ("leader", "leader-peers"):
            return {"shape": shape, "key": rng.randrange(max(ctx.keys, 1)), "mode": mode}
        pool = list(ctx.brokers) if shape == "clients" else members
        return {**shapes.SHAPES[shape](pool, rng).to_json(), "mode": mode}

    return list(cycle(ctx, start))


SHAPES_OPTION: Final = NemesisOption(
    "partition_shapes",
    "partition shapes to draw from",
    choices=(*shapes.ALL_SHAPES, *shapes.TARGETED_SHAPES),
    default=shapes.ALL_SHAPES,
)
MODES_OPTION: Final = NemesisOption(
    "partition_modes", "how links are cut (timeout toxic, proxy off)", choices=MODES
)

PARTITION: Final = FaultPackage(
    name="partition",
    doc="Cut links through Toxiproxy: shapes one, majority, ring, bridge, leader, one-way, "
    "clients; modes blackhole (timeout toxic) and refuse (proxy disabled).",
    fault=PartitionFault,
    generator=_generator,
    final=heal_all,
    heal_order=20,
    options=(SHAPES_OPTION, MODES_OPTION),
    colour="#1f77b4",
)
