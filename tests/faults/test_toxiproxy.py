"""The typed Toxiproxy client: against a fake HTTP server on loopback (timeouts, 503
retries, 500 errors, populate only what differs) and against the real container."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from compose.offline import TOXIPROXY_VERSION
from compose.toxiproxy.client import ProxySpec, Toxiproxy, ToxiproxyError
from harness.contract.links import Toxic
from tests.fake_clock import FakeClock


class FakeToxiproxy:
    """A scripted server: ``script[(method, path)]`` is a list of (status, body, delay)."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str], list[tuple[int, Any, float]]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                fake.requests.append((self.command, self.path, body))
                answers = fake.script.get((self.command, self.path)) or [(404, {"error": "?"}, 0)]
                status, reply, delay = answers.pop(0) if len(answers) > 1 else answers[0]
                time.sleep(delay)
                data = json.dumps(reply).encode() if reply is not None else b""
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeToxiproxy]:
    f = FakeToxiproxy()
    yield f
    f.close()


def proxy_json(name: str, port: int, upstream: str, enabled: bool = True) -> dict[str, Any]:
    return {"name": name, "listen": f"[::]:{port}", "upstream": upstream, "enabled": enabled,
            "toxics": []}  # fmt: skip


def test_version_and_503_is_retried(fake: FakeToxiproxy) -> None:
    busy: tuple[int, Any, float] = (503, {"error": "busy"}, 0.0)
    fake.script[("GET", "/version")] = [busy, busy, (200, {"version": "2.12.0"}, 0.0)]
    assert Toxiproxy(fake.address, retry_for=5).version() == "2.12.0"
    assert len(fake.requests) == 3


def test_500_is_a_clear_error_without_retry(fake: FakeToxiproxy) -> None:
    fake.script[("POST", "/proxies/a/toxics")] = [(500, {"error": "toxic type unknown"}, 0)]
    tp = Toxiproxy(fake.address, retry_for=5)
    with pytest.raises(ToxiproxyError) as e:
        tp.add_toxic("a", Toxic("cut", "nonsense", {}))
    assert e.value.status == 500
    assert "toxic type unknown" in str(e.value) and "POST /proxies/a/toxics" in str(e.value)
    assert len(fake.requests) == 1


def assert_gave_up_at_budget(clock: FakeClock, budget: float, attempts: int) -> None:
    """Retried with a sleep between attempts, and stopped at the first attempt past the
    budget: not before it, not after."""
    assert attempts == len(clock.sleeps) + 1, (attempts, clock.sleeps)
    assert sum(clock.sleeps[:-1]) < budget <= sum(clock.sleeps), clock.sleeps


def test_a_hanging_server_is_bounded_by_timeout_and_retry_budget(fake: FakeToxiproxy) -> None:
    fake.script[("GET", "/proxies")] = [(200, {}, 3.0)]  # every answer 3 s late
    clock = FakeClock()
    tp = Toxiproxy(fake.address, timeout=0.2, retry_for=0.8, clock=clock, sleep=clock.sleep)
    with pytest.raises(ToxiproxyError) as e:
        tp.proxies()
    assert "timed out after 0.2 s" in str(e.value) and "gave up after retrying" in str(e.value)
    assert_gave_up_at_budget(clock, 0.8, len(fake.requests))


def test_connection_refused_is_retried_then_explained() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    clock = FakeClock()
    with pytest.raises(ToxiproxyError) as e:
        Toxiproxy(f"127.0.0.1:{port}", retry_for=0.5, clock=clock, sleep=clock.sleep).reset()
    assert "connection failed" in str(e.value) and "Is the Toxiproxy container running" in str(
        e.value
    )
    assert len(clock.sleeps) >= 2 and sum(clock.sleeps[:-1]) < 0.5 <= sum(clock.sleeps)


def test_populate_sends_only_the_proxies_that_differ(fake: FakeToxiproxy) -> None:
    same = proxy_json("a", 1001, "n1:9092")  # listen rewritten by the server: still equal
    moved = proxy_json("b", 1002, "n2:9092")
    after = {"a": same, "b": proxy_json("b", 1002, "n3:9092"), "c": proxy_json("c", 1003, "x:1")}
    fake.script[("GET", "/proxies")] = [(200, {"a": same, "b": moved}, 0), (200, after, 0)]
    fake.script[("POST", "/populate")] = [(201, {"proxies": []}, 0)]
    got = Toxiproxy(fake.address).populate(
        [
            ProxySpec("a", "0.0.0.0:1001", "n1:9092"),
            ProxySpec("b", "0.0.0.0:1002", "n3:9092"),
            ProxySpec("c", "0.0.0.0:1003", "x:1"),
        ]
    )
    (posted,) = [body for m, p, body in fake.requests if p == "/populate"]
    assert [p["name"] for p in posted] == ["b", "c"]
    assert set(got) == {"a", "b", "c"}


def test_toxic_add_after_a_retried_post_that_landed_is_not_an_error(fake: FakeToxiproxy) -> None:
    toxic = {"name": "cut", "type": "timeout", "stream": "downstream", "toxicity": 1.0,
             "attributes": {"timeout": 0}}  # fmt: skip
    fake.script[("POST", "/proxies/a/toxics")] = [(409, {"error": "toxic already exists"}, 0)]
    fake.script[("GET", "/proxies/a/toxics")] = [(200, [toxic], 0)]
    t = Toxiproxy(fake.address).add_toxic("a", Toxic("cut", "timeout", {"timeout": 0}))
    assert (t.name, t.type, t.attributes) == ("cut", "timeout", {"timeout": 0})


# -- against the real Toxiproxy container ---------------------------------------------------


@pytest.fixture
def real_toxiproxy() -> Iterator[Toxiproxy]:
    import docker

    from compose.docker_cluster import docker_client
    from compose.images import ensure_images
    from compose.resources import LABEL_RUN, remove_labelled

    client = docker_client()
    tag = ensure_images(["toxiproxy"])["toxiproxy"]
    run_id = f"test-toxiproxy-{secrets.token_hex(3)}"
    try:
        ports: dict[str, Any] = {"8474/tcp": ("127.0.0.1",), "20000/tcp": ("127.0.0.1",)}
        c = client.containers.run(
            tag, name=f"fm-{run_id}", labels={LABEL_RUN: run_id}, detach=True, ports=ports
        )
        c.reload()
        api = c.attrs["NetworkSettings"]["Ports"]["8474/tcp"][0]["HostPort"]
        tp = Toxiproxy(f"127.0.0.1:{api}", retry_for=15)
        tp.version()
        tp.published = int(c.attrs["NetworkSettings"]["Ports"]["20000/tcp"][0]["HostPort"])  # type: ignore[attr-defined]
        yield tp
    except docker.errors.DockerException as e:
        pytest.fail(f"could not start the Toxiproxy container: {e}")
    finally:
        remove_labelled(client, run_id)


@pytest.mark.integration
def test_real_toxiproxy_proxies_toxics_enable_disable_reset(real_toxiproxy: Toxiproxy) -> None:
    tp = real_toxiproxy
    # the image is built with its version stamped in (compose/offline.py), as upstream's is
    assert tp.version().lstrip("v") == TOXIPROXY_VERSION, tp.version()
    # a proxy to the API itself, so the link can be probed end to end
    spec = ProxySpec("api", "0.0.0.0:20000", "127.0.0.1:8474")
    proxies = tp.populate([spec])
    assert proxies["api"].listen_port == 20000 and proxies["api"].upstream == "127.0.0.1:8474"
    again = tp.populate([spec])  # nothing differs: nothing recreated
    assert again["api"] == proxies["api"]
    probe = Toxiproxy(f"127.0.0.1:{tp.published}", timeout=0.5, retry_for=0.1)  # type: ignore[attr-defined]
    assert probe.version()
    tp.add_toxic("api", Toxic("slow", "latency", {"latency": 300, "jitter": 0}))
    t = time.monotonic()
    probe.version()
    assert time.monotonic() - t >= 0.3
    tp.update_toxic("api", "slow", {"latency": 0})
    assert [t.attributes["latency"] for t in tp.toxics("api")] == [0]
    tp.remove_toxic("api", "slow")
    tp.remove_toxic("api", "slow")  # missing_ok
    assert tp.toxics("api") == []
    tp.disable("api")
    with pytest.raises(ToxiproxyError):
        probe.version()
    tp.add_toxic("api", Toxic("cut", "timeout", {"timeout": 0}))
    tp.reset()
    assert tp.get_proxy("api").enabled and tp.toxics("api") == []
    assert probe.version()
    with pytest.raises(ToxiproxyError) as e:
        tp.get_proxy("nope")
    assert e.value.status == 404
    tp.delete_proxy("api")
    assert "api" not in tp.proxies()
