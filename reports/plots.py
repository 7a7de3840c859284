"""The report's plots: matplotlib figures rendered to inline SVG.

Three kinds, all against seconds since the run's start, all with the fault periods
shaded (in each fault package's registered colour, `fault_colour`):

- ``latency``: each client completion's latency (ok / fail / info), log scale, plus the
  p50 and p99 of ok latencies per time bucket (computed from *every* completion);
- ``throughput``: completions per second per type;
- ``replicas-<key>``: per key, every replica's HW (solid) and LEO (dashed) over time,
  with leader changes marked (a vertical line labelled ``node e<epoch>``).

Large histories are downsampled before drawing so the SVG stays small: scatter points are
capped per type (evenly strided, all fail/info kept when they fit), series are decimated
min/max per bucket (so a short HW drop is never smoothed away). Each `Plot` says how many
points it drew out of how many.

Safety: text comes from the history (node names, fault names), so math-text parsing is
off and the SVG is parsed back and checked (`sanitize_svg`): no script, foreignObject or
event-handler attribute, links only to fragments or embedded images. Only then is it
wrapped as `markupsafe.Markup` for the template.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
from markupsafe import Markup

from faults.registry import FAULT_PACKAGES
from reports.scan import HistoryDigest, LeaderChange, ReplicaSeries, Role

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib itself (about 0.5 s to import) is imported where a figure is drawn, not here:
# every `floodmark` command and every pytest session (the plugin) imports this module
# through the run and report code, and most of them never draw a plot.

_FALLBACK: Final = ("#8c8c00", "#b07aa1", "#59a14f", "#9c755f", "#76b7b2", "#edc948")
TYPE_STYLE: Final = (("ok", "#2ca02c"), ("fail", "#d62728"), ("info", "#ff7f0e"))
NODE_COLOURS: Final = ("#1f77b4", "#e377c2", "#17becf", "#bcbd22", "#9467bd", "#8c564b")

MAX_POINTS: Final = 10_000
"""Scatter points drawn in all; shared by type in proportion to their counts, but each
type keeps at least `MIN_POINTS` (rare fail/info points stay visible, without drowning
the ok ones they are outnumbered by)."""
MIN_POINTS: Final = 1000
SERIES_BUCKETS: Final = 300
MAX_LEADER_LABELS: Final = 24
MAX_FAULT_SPANS: Final = 1500

_RC: Final[Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
}


@dataclass(frozen=True, slots=True)
class Plot:
    """One rendered plot: an id for the page, its SVG, and a caption."""

    id: str
    title: str
    svg: Markup
    caption: str


class UnsafeSvgError(ValueError):
    """The SVG matplotlib produced contains something a report must never embed."""


def fault_colour(package: str) -> str:
    """The package's own colour (``faults.registry``); a package the registry does not know
    (a history from another version) gets a stable colour of its own."""
    registered = FAULT_PACKAGES.get(package)
    if registered is not None:
        return registered.colour
    return _FALLBACK[zlib.crc32(package.encode()) % len(_FALLBACK)]


def render_plots(digest: HistoryDigest, keys: Sequence[int]) -> list[Plot]:
    """The latency and throughput plots, then one replica plot per key in ``keys``."""
    plots = [latency_plot(digest), throughput_plot(digest)]
    plots += [replica_plot(digest, k) for k in keys]
    return plots


def latency_plot(d: HistoryDigest) -> Plot:
    c = d.completions
    fig, ax = _figure(3.2)
    horizon = _horizon(d)
    drawn = total = 0
    if c is not None and len(c.time):
        lat_ms = np.maximum(c.latency * 1000.0, 1e-3)
        total = len(c.time)
        for code, (name, colour) in enumerate(TYPE_STYLE):
            idx = np.flatnonzero(c.type == code)
            if not len(idx):
                continue
            share = max(MIN_POINTS, int(MAX_POINTS * len(idx) / total))
            keep = idx[_stride(len(idx), share)]
            drawn += len(keep)
            ax.scatter(
                c.time[keep],
                lat_ms[keep],
                s=4 if code == 0 else 9,
                c=colour,
                alpha=0.45 if code == 0 else 0.8,
                linewidths=0,
                label=f"{name} ({len(idx):,})",
            )
        _quantile_lines(ax, c.time[c.type == 0], lat_ms[c.type == 0], horizon)
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter

        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    else:
        _empty(ax, "no client operations in the history")
    ax.set_ylabel("latency (ms)")
    _finish(ax, d, horizon)
    caption = f"{drawn:,} of {total:,} completions drawn; p50/p99 from all ok completions"
    return Plot("latency", "Latency over time", _svg(fig, "latency"), caption)


def throughput_plot(d: HistoryDigest) -> Plot:
    c = d.completions
    fig, ax = _figure(2.6)
    horizon = _horizon(d)
    if c is not None and len(c.time):
        width = max(horizon / 200.0, 0.25)
        edges = np.arange(0.0, horizon + width, width)
        for code, (name, colour) in enumerate(TYPE_STYLE):
            counts, _ = np.histogram(c.time[c.type == code], bins=edges)
            if counts.any():
                ax.stairs(counts / width, edges, color=colour, linewidth=1.2, label=name)
        caption = f"completions per second in {width:.2f} s buckets"
    else:
        _empty(ax, "no client operations in the history")
        caption = "no client operations"
    ax.set_ylabel("ops/s")
    ax.set_ylim(bottom=0)
    _finish(ax, d, horizon)
    return Plot("throughput", "Throughput", _svg(fig, "throughput"), caption)


def replica_plot(d: HistoryDigest, key: int) -> Plot:
    fig, ax = _figure(2.8)
    horizon = _horizon(d)
    series = [s for (k, _), s in sorted(d.replicas.items()) if k == key]
    samples = drawn = 0
    for i, s in enumerate(series):
        colour = NODE_COLOURS[i % len(NODE_COLOURS)]
        t = np.asarray(s.time)
        samples += len(t)
        for values, style, label in ((s.hw, "-", "HW"), (s.leo, "--", "LEO")):
            tt, yy = minmax_downsample(t, _offsets(values, s), SERIES_BUCKETS)
            drawn += len(tt)
            ax.plot(
                tt,
                yy,
                style,
                color=colour,
                linewidth=1.3 if style == "-" else 0.9,
                drawstyle="steps-post",
                label=f"{_short(s.node)} {label}",
            )
    changes = d.leader_changes.get(key, [])
    _leader_marks(ax, changes)
    if not series:
        _empty(ax, f"no replica-state samples for key {key}")
    ax.set_ylabel(f"offset (key {key})")
    _finish(ax, d, horizon)
    caption = (
        f"{len(series)} replicas, {samples:,} samples ({drawn:,} points drawn); "
        f"{len(changes)} leader changes"
    )
    return Plot(
        f"replicas-{key}", f"Key {key}: HW and LEO per replica", _svg(fig, f"r{key}"), caption
    )


def _offsets(values: Sequence[int], s: ReplicaSeries) -> npt.NDArray[np.float64]:
    y = np.asarray(values, dtype=np.float64)
    offline = np.asarray([r is Role.OFFLINE for r in s.role], dtype=bool)
    y[(y < 0) | offline] = np.nan
    return y


def _leader_marks(ax: Any, changes: Sequence[LeaderChange]) -> None:
    for i, ch in enumerate(changes):
        ax.axvline(ch.time, color="black", linewidth=0.8, linestyle=":", alpha=0.8)
        if i < MAX_LEADER_LABELS:
            ax.annotate(
                f"{_short(ch.node)} e{ch.epoch}",
                xy=(ch.time, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                fontsize=7,
                va="top",
                rotation=90,
            )


def _quantile_lines(
    ax: Any, t: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], horizon: float
) -> None:
    if len(t) < 20:
        return
    order = np.argsort(t, kind="stable")
    t, lat = t[order], lat[order]
    edges = np.linspace(0.0, horizon, min(120, max(2, len(t) // 20)) + 1)
    bounds = np.searchsorted(t, edges)
    mids, p50, p99 = [], [], []
    for lo, hi, a, b in zip(bounds[:-1], bounds[1:], edges[:-1], edges[1:], strict=True):
        if hi - lo >= 5:
            q = np.percentile(lat[lo:hi], [50, 99])
            mids.append((a + b) / 2)
            p50.append(q[0])
            p99.append(q[1])
    if mids:
        ax.plot(mids, p50, color="#1a1a1a", linewidth=1.2, label="ok p50")
        ax.plot(mids, p99, color="#1a1a1a", linewidth=1.0, linestyle="--", label="ok p99")


def minmax_downsample(
    t: npt.NDArray[np.float64], y: npt.NDArray[np.float64], buckets: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """At most ~2 points per time bucket: each bucket's min and max, in time order.

    Keeps the first and last points, so steps and short drops survive decimation.
    """
    n = len(t)
    if n <= 2 * buckets:
        return t, y
    lo, hi = float(t[0]), float(t[-1])
    bucket = np.minimum(((t - lo) / max(hi - lo, 1e-9) * buckets).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], n]
    keep: list[int] = [0, n - 1]
    filled = np.where(np.isnan(y), -np.inf, y)
    for a, b in zip(starts, ends, strict=True):
        seg = filled[a:b]
        keep.append(int(a + np.argmax(seg)))
        keep.append(int(a + np.argmin(np.where(np.isinf(seg), np.inf, seg))))
        if np.isnan(y[a:b]).any():
            keep.append(int(a + np.flatnonzero(np.isnan(y[a:b]))[0]))
    idx = np.unique(np.asarray(keep, dtype=np.int64))
    return t[idx], y[idx]


def _short(text: str, limit: int = 28) -> str:
    """Legend and label text from the history, cut so it cannot squeeze the axes away."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stride(n: int, cap: int) -> npt.NDArray[np.int64]:
    if n <= cap:
        return np.arange(n, dtype=np.int64)
    return np.linspace(0, n - 1, cap).astype(np.int64)


def _horizon(d: HistoryDigest) -> float:
    return max(d.duration, 1e-3)


def _figure(height: float) -> tuple[Figure, Any]:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(11.0, height), dpi=72, layout="constrained")
        ax = fig.add_subplot()
    return fig, ax


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#666")


def _finish(ax: Any, d: HistoryDigest, horizon: float) -> None:
    """Shade the fault periods, add the legend and the time axis."""
    seen: dict[str, str] = {}
    for p in d.faults[:MAX_FAULT_SPANS]:
        colour = fault_colour(p.package)
        ax.axvspan(p.start, p.end(horizon), color=colour, alpha=0.16, linewidth=0)
        seen.setdefault(p.package, colour)
    ax.set_xlim(0.0, horizon)
    ax.set_xlabel("time since start (s)")
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    for package, colour in seen.items():
        handles.append(Patch(color=colour, alpha=0.35))
        labels.append(_short(package))
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.005, 1.0),
            fontsize=8,
            frameon=False,
            markerscale=2.5,
        )


def _svg(fig: Figure, salt: str) -> Markup:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({**_RC, "svg.hashsalt": f"floodmark-{salt}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return sanitize_svg(buf.getvalue())


_SVG_NS: Final = "{http://www.w3.org/2000/svg}"
_FORBIDDEN: Final = frozenset({"script", "foreignObject", "iframe", "object", "embed", "a"})


def sanitize_svg(svg: str) -> Markup:
    """Check matplotlib's SVG and drop its XML prolog (ids are unique per plot already:
    each figure is saved with its own ``svg.hashsalt``).

    Raises `UnsafeSvgError` if the SVG holds a script, foreign object, link, event
    handler or an external reference: data-derived text must only ever appear escaped.
    """
    root = ET.fromstring(svg)
    for el in root.iter():
        tag = el.tag.removeprefix(_SVG_NS)
        if tag in _FORBIDDEN:
            raise UnsafeSvgError(f"SVG element <{tag}> is not allowed in a report")
        for attr, value in el.attrib.items():
            local = attr.rsplit("}", 1)[-1]
            if local.lower().startswith("on"):
                raise UnsafeSvgError(f"SVG event-handler attribute {local!r} is not allowed")
            if local == "href" and not value.startswith(("#", "data:image/png;base64,")):
                raise UnsafeSvgError(f"SVG reference {value[:60]!r} is not a local fragment")
    return Markup(svg[svg.index("<svg") :])
