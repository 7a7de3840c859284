"""The report as a person sees it: headless Debian chromium, network off.

Needs ``chromium`` (``scripts/ensure-chromium.sh`` installs it); skipped without it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from reports.html import render_report
from tests.reports.browser import chromium, open_page
from tests.reports.conftest import PAYLOAD

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium() is None, reason="chromium missing: scripts/ensure-chromium.sh"),
]


class _Dom(HTMLParser):
    """Elements (tag, attrs) and visible text of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("style", "title"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _parse(dom: str) -> _Dom:
    p = _Dom()
    p.feed(dom)
    return p


def test_report_renders_offline_with_every_plot(anomaly_run: Path) -> None:
    html = render_report(anomaly_run)
    page = open_page(html, anomaly_run / "report.png")
    assert page.requests == [], f"the page fetched {page.requests}"
    figures = re.findall(r'<figure class="plot" id="plot-([\w-]+)">(.*?)</figure>', page.dom, re.S)
    assert [f for f, _ in figures] == [
        "latency",
        "throughput",
        "replicas-0",
        "replicas-1",
        "replicas-2",
    ]
    for name, body in figures:
        assert "<svg" in body, name
        assert body.count("<path") + body.count("<use") > 50, name
        assert "time since start (s)" in body, name
    dom = _parse(page.dom)
    assert not [e for e in dom.elements if e[0] == "script"]
    text = " ".join(dom.text)
    assert "INVALID" in text and "lost-write" in text
    shot = Image.open(page.screenshot).convert("L")
    assert shot.size[0] >= 1200
    assert ImageStat.Stat(shot).stddev[0] > 20, "the screenshot is blank"
    assert (anomaly_run / "report.png").stat().st_size > 50_000


def test_the_request_detector_catches_an_external_load(tmp_path: Path) -> None:
    page_file = tmp_path / "leaky.html"
    page_file.write_text('<html><body><img src="http://203.0.113.9/x.png">hi</body></html>')
    page = open_page(page_file, tmp_path / "leaky.png", height=400)
    assert any("203.0.113.9" in u for u in page.requests)


def test_hostile_strings_are_shown_literally_and_never_run(payload_run: Path) -> None:
    html = render_report(payload_run)
    page = open_page(html, payload_run / "report.png")
    dom = _parse(page.dom)
    tags = [t for t, _ in dom.elements]
    assert "script" not in tags and "img" not in tags
    assert not any(a.get("id") == "pwned" or "onerror" in a for _, a in dom.elements)
    assert "pwned" not in re.findall(r"<title>(.*?)</title>", page.dom, re.S)[0].split("·")[0]
    text = " ".join(dom.text)
    assert PAYLOAD in text  # the node name, shown literally
    assert f"timeout {PAYLOAD}" in text  # an error message
    assert f"checker crashed on {PAYLOAD}" in text
    svg_text = " ".join(re.findall(r"<text[^>]*>(.*?)</text>", page.dom, re.S))
    assert "&lt;script&gt;" in svg_text  # a legend entry in a plot (cut short), escaped
    assert page.dom.count("<svg") == 5
