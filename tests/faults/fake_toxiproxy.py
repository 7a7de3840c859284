"""A stateful fake of Toxiproxy's HTTP API for the fault packages' unit tests (part of
`tests.faults.fakes.FakeWorld`, talked to by the real `compose.toxiproxy.client.Toxiproxy`).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from compose.toxiproxy.client import Toxiproxy
from tests.fake_clock import FakeClock


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the faults send up to 32 requests at once


class FakeToxiproxy:
    """A stateful Toxiproxy 2.x HTTP API on loopback (proxies, toxics, enable/disable,
    populate, reset), answering with the real server's statuses (404 unknown proxy or
    toxic, 409 duplicate toxic). ``fail[(method, path)]`` lists statuses its next
    answers to that request take instead; ``ignore`` names proxies whose changes it
    acknowledges but does not apply (a cut that does not land)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.proxies: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.fail: dict[tuple[str, str], list[int]] = {}
        self.ignore: set[str] = set()
        self.cut_since: dict[str, float] = {}
        """Proxy → fake time since when it is disabled or carries a timeout toxic."""
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                with fake.lock:
                    status, answer = fake.handle(self.command, unquote(self.path), body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def client(self) -> Toxiproxy:
        return Toxiproxy(self.address, timeout=2.0, retry_for=0.0)

    def add(self, name: str, listen: str, upstream: str, enabled: bool = True) -> None:
        self.proxies[name] = {
            "name": name,
            "listen": listen,
            "upstream": upstream,
            "enabled": enabled,
            "toxics": [],
        }

    def _cut(self, name: str) -> None:
        p = self.proxies[name]
        if not p["enabled"] or any(t["type"] == "timeout" for t in p["toxics"]):
            self.cut_since.setdefault(name, self.clock.now())
        else:
            self.cut_since.pop(name, None)

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        failing = self.fail.get((method, path))
        if failing:
            status = failing.pop(0)
            return status, {"error": f"scripted failure {status}", "status": status}
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return 200, {"version": "2.12.0"}
        if parts == ["reset"] and method == "POST":
            for name, p in self.proxies.items():
                p["enabled"], p["toxics"] = True, []
                self._cut(name)
            return 204, None
        if parts == ["populate"] and method == "POST":
            for spec in body:
                self.add(spec["name"], spec["listen"], spec["upstream"], spec.get("enabled", True))
            return 201, {"proxies": [self.proxies[s["name"]] for s in body]}
        if parts == ["proxies"]:
            if method == "POST":
                self.add(body["name"], body["listen"], body["upstream"], body.get("enabled", True))
                return 201, self.proxies[body["name"]]
            return 200, self.proxies
        if not parts or parts[0] != "proxies" or parts[1] not in self.proxies:
            return 404, {"error": "proxy not found", "status": 404}
        name, proxy = parts[1], self.proxies[parts[1]]
        if len(parts) == 2:
            return self._proxy(method, name, proxy, body)
        if len(parts) == 3 and parts[2] == "toxics":
            return self._toxics(method, name, proxy, body)
        if len(parts) == 4 and parts[2] == "toxics":
            return self._toxic(method, name, proxy, parts[3], body)
        return 404, {"error": "not found", "status": 404}

    def _proxy(self, method: str, name: str, proxy: dict[str, Any], body: Any) -> tuple[int, Any]:
        if method == "DELETE":
            del self.proxies[name]
            return 204, None
        if method in ("PATCH", "POST"):
            if name not in self.ignore and "enabled" in body:
                proxy["enabled"] = bool(body["enabled"])
                self._cut(name)
            return 200, proxy
        return 200, proxy

    def _toxics(self, method: str, name: str, proxy: dict[str, Any], body: Any) -> tuple[int, Any]:
        if method != "POST":
            return 200, proxy["toxics"]
        if any(t["name"] == body["name"] for t in proxy["toxics"]):
            return 409, {"error": "toxic already exists", "status": 409}
        toxic = {
            "name": body["name"],
            "type": body["type"],
            "stream": body.get("stream", "downstream"),
            "toxicity": body.get("toxicity", 1.0),
            "attributes": body["attributes"],
        }
        if name not in self.ignore:
            proxy["toxics"].append(toxic)
            self._cut(name)
        return 200, toxic

    def _toxic(
        self, method: str, name: str, proxy: dict[str, Any], toxic: str, body: Any
    ) -> tuple[int, Any]:
        found = [t for t in proxy["toxics"] if t["name"] == toxic]
        if not found:
            return 404, {"error": "toxic not found", "status": 404}
        if method == "DELETE" and name in self.ignore:
            return 204, None
        if method == "DELETE":
            proxy["toxics"].remove(found[0])
            self._cut(name)
            return 204, None
        if method in ("PATCH", "POST"):
            found[0]["attributes"].update(body.get("attributes") or {})
        return 200, found[0]
