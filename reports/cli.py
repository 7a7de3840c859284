"""The ``floodmark report`` and ``floodmark serve`` commands (wired into click by the CLI).

- `report_command(path)`: re-render a run's ``report.html`` and ``junit.xml`` (also for a
  directory holding only a ``history.jsonl``: the checkers run on it and the page
  says what is missing); refreshes the store's ``index.html`` when the run sits in a
  ``<store>/<test>/<timestamp>/`` layout whose store already has one. Returns 0, or 2
  with a message on stderr when the path is not a run or its history cannot be read.
- `serve_command(store, port)`: serve the store over HTTP on 127.0.0.1 only (never on
  other interfaces), after refreshing ``index.html``. Blocks until Ctrl-C; returns 0.
"""

from __future__ import annotations

import functools
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final, TextIO

from harness.contract.layout import INDEX
from reports.html import render
from reports.index import render_index
from reports.inputs import RunInputError
from reports.junit import write_junit

LOOPBACK: Final = "127.0.0.1"


def report_command(
    path: str | os.PathLike[str], out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        rendered = render(path)
        html = rendered.path
        junit = write_junit(html.parent)
    except RunInputError as e:
        print(f"floodmark report: {e}", file=err)
        return 2
    except (OSError, UnicodeDecodeError) as e:
        print(f"floodmark report: cannot read or write the run at {path}: {e}", file=err)
        return 2
    print(f"report: {html}", file=out)
    print(f"junit:  {junit}", file=out)
    store = html.parent.parent.parent
    if (store / INDEX).is_file():
        print(f"index:  {render_index(store)}", file=out)
    if rendered.history_error:
        print(f"floodmark report: rendered without plots: {rendered.history_error}", file=err)
        return 2
    return 0


def make_server(store: str | os.PathLike[str], port: int) -> ThreadingHTTPServer:
    """An HTTP server for ``store`` bound to 127.0.0.1 (port 0 picks a free port)."""
    root = Path(store)
    if not root.is_dir():
        raise FileNotFoundError(f"store directory {root} does not exist")
    handler = functools.partial(_QuietHandler, directory=str(root))
    return ThreadingHTTPServer((LOOPBACK, port), handler)


def serve_command(
    store: str | os.PathLike[str],
    port: int = 8080,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        render_index(store)
        server = make_server(store, port)
    except FileNotFoundError as e:
        print(f"floodmark serve: {e}; run a test first or pass --store", file=err)
        return 2
    except OSError as e:
        print(
            f"floodmark serve: cannot listen on {LOOPBACK}:{port}: {e}; try another --port",
            file=err,
        )
        return 2
    host, bound = server.server_address[:2]
    print(f"serving {store} on http://{host!s}:{bound}/ (Ctrl-C stops)", file=out)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=out)
    finally:
        server.server_close()
    return 0


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files; logs requests on stderr in one short line."""

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"serve: {self.address_string()} {format % args}\n")
