"""When Docker's default address pools are used up, networks get a free /28 instead."""

from __future__ import annotations

from typing import Any

import docker.errors

from compose.docker_cluster import _free_subnets


class _Net:
    def __init__(self, subnet: str) -> None:
        self.attrs = {"IPAM": {"Config": [{"Subnet": subnet}]}}


class _Networks:
    def __init__(self, used: list[str], exhausted: bool) -> None:
        self.used = used
        self.exhausted = exhausted
        self.created: list[dict[str, Any]] = []

    def list(self) -> list[_Net]:
        return [_Net(s) for s in self.used]

    def create(self, name: str, **kw: Any) -> None:
        if "ipam" not in kw and self.exhausted:
            raise docker.errors.APIError(
                "could not find an available, non-overlapping IPv4 address pool"
            )
        self.created.append({"name": name, **kw})


class _Client:
    def __init__(self, networks: _Networks) -> None:
        self.networks = networks


def test_free_subnets_skip_every_used_range() -> None:
    client: Any = _Client(_Networks(["172.30.0.0/24", "172.30.1.0/28", "fd00::/64"], True))
    first = [str(s) for _, s in zip(range(3), _free_subnets(client), strict=False)]
    assert first == ["172.30.1.16/28", "172.30.1.32/28", "172.30.1.48/28"]


def test_exhausted_defaults_fall_back_to_an_explicit_small_subnet() -> None:
    from compose.docker_cluster import DockerCluster

    nets = _Networks(["172.30.0.0/16"], exhausted=True)
    cluster = DockerCluster.__new__(DockerCluster)
    cluster._docker = _Client(nets)  # type: ignore[assignment]
    cluster._prefix = "fm-test"
    cluster._plan = type("P", (), {"run_id": "test"})()
    cluster._create_network("n1")
    (made,) = nets.created
    pool = made["ipam"]["Config"][0]["Subnet"]
    assert pool == "172.29.0.0/28" and made["internal"] is True
