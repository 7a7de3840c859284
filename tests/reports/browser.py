"""Headless Debian chromium for the report tests, with the network off.

`open_page` loads a local HTML file the way a person would open it, with every network
path closed (an unreachable proxy, every host name unresolvable, background services
off), and returns the DOM after load (``--dump-dom``), a screenshot, and the URLs of every
request chromium's network log recorded — so a test can assert that the page needed
nothing but its own file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

NETWORK_OFF = [
    "--proxy-server=http://127.0.0.1:9",  # discard port: nothing listens, nothing leaves
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-features=MediaRouter,OptimizationHints,Translate",
]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass(frozen=True)
class Page:
    dom: str
    screenshot: Path
    requests: list[str]
    stderr: str


def open_page(
    html: Path, screenshot: Path, width: int = 1360, height: int = 3000, timeout: float = 120.0
) -> Page:
    """Load ``html`` (a file) in headless chromium; dump the DOM and take a screenshot."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed; run scripts/ensure-chromium.sh")
    with tempfile.TemporaryDirectory(prefix="fm-chromium-") as tmp:
        netlog = Path(tmp) / "netlog.json"
        base = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={tmp}/profile",
            f"--log-net-log={netlog}",
            "--net-log-capture-mode=Default",
            f"--window-size={width},{height}",
            *NETWORK_OFF,
        ]
        url = html.resolve().as_uri()
        dom = subprocess.run(
            [*base, "--virtual-time-budget=2000", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        requests = _requested_urls(netlog)
        shot = subprocess.run(
            [*base, f"--screenshot={screenshot}", url],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        if not screenshot.is_file():
            raise RuntimeError(f"chromium wrote no screenshot: {shot.stderr[-2000:]}")
        return Page(dom.stdout, screenshot, requests, dom.stderr + shot.stderr)


def _requested_urls(netlog: Path) -> list[str]:
    """URLs the *page* asked the network stack for while loading.

    Chromium's own background chatter (update checks and the like, which the dead proxy
    swallows) is started with the initiator "not an origin"; anything a page loads
    carries the page's origin ("null" for a file:// page).
    """
    if not netlog.is_file():
        return []
    text = netlog.read_text(errors="replace").rstrip().rstrip(",")
    if not text.endswith("}"):
        text += "]}"  # an unfinished log (chromium exited): close the events list
    data = json.loads(text)
    names = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    urls: list[str] = []
    for ev in data.get("events", []):
        if names.get(ev.get("type")) != "URL_REQUEST_START_JOB":
            continue
        params = ev.get("params") or {}
        url = params.get("url")
        if params.get("initiator") == "not an origin" or not isinstance(url, str):
            continue
        if url not in urls:
            urls.append(url)
    return urls
