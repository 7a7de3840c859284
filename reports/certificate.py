"""``certificate.html``: a certification suite's verdict on one self-contained page.

Rendered from the suite's ``summary.json`` (see `harness.certify`): the suite verdict,
one row per scenario (verdict, anomalies, fault packages that really acted, duration,
liveness problems, a link to the run's own report), and for the self-test the detection
table (per known bug: caught fraction and median time to the first anomaly; per safe
configuration: false alarms). A shard's certificate says which shard it is; a merged one
(``floodmark certify merge``) names its shards and lists missing or duplicated
scenarios. Every value is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.contract.layout import CERTIFICATE, REPORT
from reports.html import environment, write_atomic


def render_certificate(out_dir: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """Write ``certificate.html`` in ``out_dir``; links to runs are made relative to it."""
    out = Path(out_dir)
    rows = []
    for row in summary.get("rows", []):
        link = None
        run_dir = row.get("run_dir")
        if run_dir:
            target = Path(run_dir) / REPORT
            if not target.exists():
                target = Path(run_dir)
            link = os.path.relpath(target, out)
        rows.append({**row, "link": link})
    html = environment().get_template("certificate.html.j2").render(summary=summary, rows=rows)
    return write_atomic(out / CERTIFICATE, html)
