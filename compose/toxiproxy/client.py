"""A small typed client for the Toxiproxy HTTP API (server 2.x).

Why not ``toxiproxy-python`` (0.1.1, 2019): it has no request timeouts, keeps the server
address in process-global state, ends in a ``KeyError`` on 5xx replies, and its
``populate()`` recreates every proxy because the server rewrites listen addresses
(``0.0.0.0:20001`` comes back as ``[::]:20001``). A chaos harness must never hang on its
own fault API, so this client:

- bounds every request with a socket timeout (`Toxiproxy.timeout`);
- retries with tenacity on connection errors, timeouts and 503 replies, for at most
  `Toxiproxy.retry_for` seconds in total, then raises `ToxiproxyError`;
- raises `ToxiproxyError` (method, path, status, server message, what to do) on any
  other unexpected status;
- compares proxies by name, upstream and listen *port* (never the rewritten host), so
  `populate` only (re)creates the proxies that differ.

Example::

    tp = Toxiproxy("127.0.0.1:8474")
    tp.populate([ProxySpec("n1-n2", "0.0.0.0:22012", "n2:9092")])
    tp.add_toxic("n1-n2", Toxic("cut", "timeout", {"timeout": 0}))  # blackhole n1 → n2
    tp.remove_toxic("n1-n2", "cut")
    tp.disable("n1-n2"); tp.enable("n1-n2")                          # refuse / accept
    tp.reset()                                                       # enable all, drop toxics
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import quote

import tenacity

from harness.contract.links import Proxy, Toxic, port_of

_RETRY_STATUSES: Final = frozenset({503})
_USER_AGENT: Final = "floodmark-toxiproxy/1"


class ToxiproxyError(RuntimeError):
    """The Toxiproxy API did not do what was asked; says what, how it answered, what to do."""

    def __init__(
        self, method: str, path: str, status: int | None, message: str, hint: str = ""
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        answered = f"answered {status}" if status is not None else "did not answer"
        super().__init__(
            f"Toxiproxy {method} {path} {answered}: {message}." + (f" {hint}" if hint else "")
        )


class _Retryable(Exception):
    """Internal: a transient failure tenacity should retry."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """A proxy to create: ``listen`` as seen inside the Toxiproxy container."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True

    def matches(self, p: Proxy) -> bool:
        """Same name, upstream, listen port and enabled state (the host part is rewritten
        by the server, so it is not compared)."""
        return (
            p.name == self.name
            and p.upstream == self.upstream
            and p.listen_port == port_of(self.listen)
            and p.enabled == self.enabled
        )

    def to_json(self) -> dict[str, Any]:
        """The body of ``POST /proxies`` and an entry of ``POST /populate`` (the fields are
        its keys)."""
        return asdict(self)


class Toxiproxy:
    """Blocking, thread-safe (one HTTP connection per request) Toxiproxy API client."""

    def __init__(
        self,
        address: str,
        timeout: float = 3.0,
        retry_for: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``address`` is ``host:port`` of the API (e.g. ``127.0.0.1:49153``); ``clock`` and
        ``sleep`` time the retries (injected by tests)."""
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"Toxiproxy address must be 'host:port', got {address!r}")
        self.address = address
        self.host = host
        self.port = int(port)
        self.timeout = timeout
        self.retry_for = retry_for
        self._clock = clock
        self._sleep = sleep

    # -- server -------------------------------------------------------------------------

    def version(self) -> str:
        body = self._request("GET", "/version", expect=(200,))
        if isinstance(body, dict):
            return str(body.get("version", body))
        return str(body).strip()

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._request("POST", "/reset", expect=(200, 204))

    # -- proxies ------------------------------------------------------------------------

    def proxies(self) -> dict[str, Proxy]:
        body = self._request("GET", "/proxies", expect=(200,))
        return {name: Proxy.from_json(p) for name, p in _as_dict(body, "/proxies").items()}

    def populate(self, specs: Iterable[ProxySpec]) -> dict[str, Proxy]:
        """Create the proxies that are missing or differ (one ``POST /populate``); leaves
        equal ones untouched. Returns every proxy the server has afterwards."""
        wanted = list(specs)
        existing = self.proxies()
        changed = [s for s in wanted if not (s.name in existing and s.matches(existing[s.name]))]
        if changed:
            self._request("POST", "/populate", [s.to_json() for s in changed], expect=(200, 201))
        after = self.proxies()
        missing = [s.name for s in wanted if s.name not in after]
        if missing:
            raise ToxiproxyError(
                "POST",
                "/populate",
                None,
                f"proxies {missing} are absent after populate",
                "Check the Toxiproxy container's log (port already in use?).",
            )
        return after

    def create_proxy(self, spec: ProxySpec) -> Proxy:
        body = self._request("POST", "/proxies", spec.to_json(), expect=(200, 201))
        return Proxy.from_json(_as_dict(body, "/proxies"))

    def get_proxy(self, name: str) -> Proxy:
        path = f"/proxies/{quote(name)}"
        return Proxy.from_json(_as_dict(self._request("GET", path, expect=(200,)), path))

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", f"/proxies/{quote(name)}", expect=(200, 204))

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        """Disable (connections refused, open ones closed) or enable a proxy."""
        path = f"/proxies/{quote(name)}"
        return Proxy.from_json(_as_dict(self._update(path, {"enabled": enabled}), path))

    def enable(self, name: str) -> Proxy:
        return self.set_enabled(name, True)

    def disable(self, name: str) -> Proxy:
        return self.set_enabled(name, False)

    # -- toxics -------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[Toxic]:
        path = f"/proxies/{quote(proxy)}/toxics"
        body = self._request("GET", path, expect=(200,))
        if not isinstance(body, list):
            raise ToxiproxyError("GET", path, 200, f"expected a JSON list, got {body!r}")
        return [Toxic.from_json(t) for t in body]

    def add_toxic(self, proxy: str, toxic: Toxic) -> Toxic:
        """Add a toxic (e.g. ``timeout`` with ``{"timeout": 0}`` blackholes the link)."""
        path = f"/proxies/{quote(proxy)}/toxics"
        try:
            body = self._request("POST", path, toxic.to_json(), expect=(200, 201))
        except ToxiproxyError as e:
            # A retried POST whose first attempt landed: the toxic is there; same is fine.
            if e.status == 409:
                for t in self.toxics(proxy):
                    if (t.name, t.type, t.attributes) == (toxic.name, toxic.type, toxic.attributes):
                        return t
            raise
        return Toxic.from_json(_as_dict(body, path))

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: dict[str, Any],
        toxicity: float | None = None,
    ) -> Toxic:
        path = f"/proxies/{quote(proxy)}/toxics/{quote(name)}"
        payload: dict[str, Any] = {"attributes": attributes}
        if toxicity is not None:
            payload["toxicity"] = toxicity
        return Toxic.from_json(_as_dict(self._update(path, payload), path))

    def remove_toxic(self, proxy: str, name: str, missing_ok: bool = True) -> None:
        path = f"/proxies/{quote(proxy)}/toxics/{quote(name)}"
        expect = (200, 204, 404) if missing_ok else (200, 204)
        self._request("DELETE", path, expect=expect)

    # -- transport ----------------------------------------------------------------------

    def _update(self, path: str, payload: Any) -> Any:
        """PATCH (servers >= 2.6 deprecate POST for updates); POST when PATCH is unknown."""
        try:
            return self._request("PATCH", path, payload, expect=(200,))
        except ToxiproxyError as e:
            if e.status != 405:
                raise
        return self._request("POST", path, payload, expect=(200,))

    def _request(
        self, method: str, path: str, payload: Any = None, *, expect: tuple[int, ...]
    ) -> Any:
        started = self._clock()
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            stop=lambda _state: self._clock() - started >= self.retry_for,
            wait=tenacity.wait_exponential(multiplier=0.05, max=1.0),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, path, payload, expect)
        except _Retryable as e:
            raise ToxiproxyError(
                method,
                path,
                e.status,
                f"{e.message} (gave up after retrying for {self.retry_for:g} s)",
                f"Is the Toxiproxy container running and its API published at {self.address}?",
            ) from None
        raise AssertionError("unreachable: tenacity neither returned nor raised")

    def _once(self, method: str, path: str, payload: Any, expect: tuple[int, ...]) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            status = resp.status
            raw = resp.read()
        except TimeoutError as e:
            raise _Retryable(None, f"timed out after {self.timeout:g} s ({e})") from e
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise _Retryable(None, f"connection failed: {e!r}") from e
        finally:
            conn.close()
        text = raw.decode("utf-8", "replace")
        if status in _RETRY_STATUSES:
            raise _Retryable(status, _server_message(text))
        if status not in expect:
            raise ToxiproxyError(
                method,
                path,
                status,
                _server_message(text),
                f"Expected {'/'.join(map(str, expect))}; payload was {payload!r}.",
            )
        if not raw.strip():
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text


def _server_message(text: str) -> str:
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text.strip()[:300] or "(empty body)"
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return text.strip()[:300]


def _as_dict(body: Any, path: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ToxiproxyError("?", path, None, f"expected a JSON object, got {body!r}")
    return body
