"""The Apache Kafka system adapter: cluster layout, clients, replica introspection.

Topology: brokers ``n1..nN`` (node ids 1..N) and one metadata node, as the release's row
of `compose.kafka.releases.RELEASES` says (`METADATA_NODES`):

- KRaft: ``controller``, a KRaft controller (``process.roles=controller``, node id 100);
  brokers have ``process.roles=broker``.
- ZooKeeper (0.10.2.2, 0.11.0.3): ``zk``, one standalone ZooKeeper run from the release's
  jars; the Kafka controller is whichever broker ZooKeeper elects, and it talks to the
  other brokers over the peer links. ``zk`` is the plan's controller node, so the faults
  that aim at "the controller" aim at it and the brokers-only faults never count it.
  A killed broker restarted before its ZooKeeper session expired cannot register again;
  ``zookeeper.session.timeout.ms`` is short (6 s) and start-kafka.sh retries the start.

Every node is alone on its own internal network with Toxiproxy
(`compose.docker_cluster`), so every link goes through a proxy.

A Kafka broker advertises ONE address per listener, yet each directed link needs its own
proxy. So the peer proxies are bound per source network (`ProxyPlan.listen_node`): inside
n1 the names ``n2``, ``n3`` and ``controller`` resolve (``proxy_hosts``) to Toxiproxy's
address on net-n1, where the proxies ``n1-n2``, ``n1-n3`` and ``n1-controller`` listen on
the ports those nodes advertise. Each broker has its own REPLICATION port (nJ: 9100+J),
since ``n1-n2`` and ``n1-n3`` share one address (Toxiproxy's on net-n1)::

    proxy          bound on                 port    upstream          carries
    nI-nJ          toxiproxy@net-nI         9100+J  nJ:9100+J         nI's replica fetches from nJ
    nI-controller  toxiproxy@net-nI         9093    controller:9093   nI's heartbeats, metadata
    controller-nI  toxiproxy@net-controller 9100+I  nI:9100+I         nothing: KRaft brokers pull
    nI-zk          toxiproxy@net-nI         2181    zk:2181           nI's ZooKeeper session
    zk-nI          toxiproxy@net-zk         9100+I  nI:9100+I         nothing: ZooKeeper never dials
    client-nI      all networks, published  H_c     nI:9094           the test's clients
    admin-nI       all networks, published  H_a     nI:9095           the monitor (never faulted)
    admin-zk       all networks, published  H_z     zk:2181           the monitor's leader epochs

``H_c``/``H_a`` are free host ports chosen at render time: the broker's EXTERNAL and ADMIN
listeners advertise ``127.0.0.1:H``, and the proxy listens on and is published at the same
port, so a client that bootstraps through ``client-nI`` keeps using the client proxies.

Keys are the partitions ``0..keys-1`` of the topic ``floodmark`` (created once the
cluster is up, with the run's RF and ``min.insync.replicas``).

What the monitor reports (`replica_states`), per partition and replica:

- ``isr``: from the Admin API's topic metadata (the controller's view, as served by the
  broker asked through its admin proxy);
- ``role`` leader and its ``epoch``: the current leader and leader epoch from one
  metadata response (librdkafka statistics, `LeaderEpochWatcher`, refreshed every 0.5 s),
  or in ZooKeeper mode from the partition's state znode (`ZkPartitionStates`: a broker's
  metadata carries no leader epoch before Kafka 2.1). Either is the controller's view,
  not each broker's own belief, so a deposed leader cut off from the controller is not
  seen claiming leadership (``epoch-split-brain`` cannot fire on Kafka from these
  samples);
- leader ``hw``: ``ListOffsets(latest)`` answered by the leader (the latest offset a
  read_uncommitted consumer can see), asked before the LEOs are read;
- ``leo`` of every replica, and ``hw``/``epoch`` of followers: from the replica's own
  files, read inside its container (``kafka_logdump.py --summary``): LEO after the last
  complete batch, HW from ``replication-offset-checkpoint`` (written every second, so a
  follower's HW may lag by that much), a follower's epoch from ``leader-epoch-checkpoint``
  (the epoch of its newest record; -1 before 0.11, which keeps no such file). Kafka does
  not expose a follower's LEO or HW to clients.

Replica dumps (`dump_replicas`) read each replica's segment files the same way; the
harness calls them after recovery, when the checkpoints are current (it waits 2 s).
A replica's HW read from disk is capped at its LEO, as Kafka does when it loads a log:
after a power loss the fsynced checkpoint may name offsets the un-fsynced log lost.

The fault packages on Kafka (every one works; see tests/integration/test_kafka.py):

- ``lose-unfsynced``: the lazyfs FUSE layer is mounted over ``/data`` (Kafka's
  ``log.dirs=/data/kafka``); the kernel page cache stays on, so Kafka's mmap'd index
  files work. Kafka fsyncs its checkpoints and the KRaft metadata log but, by default,
  never its partition segments, so a power loss drops every record written since the
  broker started (profile ``fsync`` fsyncs each message). start-kafka.sh flushes the
  layer once after formatting the storage (provisioning, before the node serves).
- ``slow-disk``: the blkio throttle is set on the device of the ``/data`` volume.
- ``clock``: libfaketime under the JVM, with monotonic time left real
  (``FAKETIME_DONT_FAKE_MONOTONIC=1``) and libfaketime's "monotonic fix" off
  (``FAKETIME_FORCE_MONOTONIC_FIX=0``, faults/agent/entrypoint.sh): with it on, Java's
  timed waits return early and spin, and a broker needs minutes to start.
- ``pause`` of a node whose writes wait on a slow-disk throttle can be impossible (the
  cgroup v1 freezer cannot freeze a task in uninterruptible sleep); the fault then says
  it skipped that node.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import confluent_kafka as ck
import jinja2

from compose.kafka.image import release_name
from compose.kafka.releases import DEFAULT_VERSION, Metadata, follower_fetching
from harness.contract.config import ConfigError
from harness.contract.history import JSON
from harness.contract.plan import (
    ADMIN,
    CLIENT,
    ClusterPlan,
    ClusterSpec,
    NodePlan,
    ProxyPlan,
    Role,
    link_name,
)
from harness.contract.roles import Client, Cluster
from harness.systems.kafka_admin import (
    LeaderEpochWatcher,
    admin_client,
    describe_partitions,
    ensure_topic,
)
from harness.systems.kafka_client import KafkaClient, KafkaClientConfig
from harness.systems.kafka_files import disk_hw, logdump, offline
from harness.systems.kafka_settings import (
    DEFAULT_PROFILE,
    DEFAULT_SETTINGS,
    TEMPLATED,
    build_of,
    idempotence_of,
    resolve_settings,
    topic_configs,
)
from harness.systems.kafka_zookeeper import ZkPartitionStates, get_data
from harness.systems.topology import CONTROLLER, ZOOKEEPER, broker_names, cluster_plan, link

REPLICATION_BASE_PORT: Final = 9100
"""Broker nJ's REPLICATION listener is on port 9100+J (distinct per broker, see above)."""
CONTROLLER_PORT: Final = 9093
ZOOKEEPER_PORT: Final = 2181
EXTERNAL_PORT: Final = 9094
ADMIN_PORT: Final = 9095
CONTROLLER_ID: Final = 100
TOPIC: Final = "floodmark"
CONFIG_PATH: Final = "/etc/floodmark/kafka/server.properties"
ZOOKEEPER_CONFIG_PATH: Final = "/etc/floodmark/kafka/zookeeper.properties"
CHECKPOINT_WAIT_S: Final = 2.0
"""Wait before the replica dumps: replication-offset-checkpoint is written every 1 s."""


@dataclass(frozen=True, slots=True)
class MetadataNode:
    """The node that keeps a cluster's metadata, per `Metadata` mode: its name (a fault
    target like any node), the port the brokers dial it on, and how it runs."""

    name: str
    port: int
    template: str
    config_path: str
    command: tuple[str, ...]


METADATA_NODES: Final[dict[Metadata, MetadataNode]] = {
    Metadata.KRAFT: MetadataNode(
        CONTROLLER, CONTROLLER_PORT, "server.properties.j2", CONFIG_PATH,
        ("/opt/kafka/start-kafka.sh",),
    ),
    Metadata.ZOOKEEPER: MetadataNode(
        ZOOKEEPER, ZOOKEEPER_PORT, "zookeeper.properties.j2", ZOOKEEPER_CONFIG_PATH,
        ("/opt/kafka/start-zookeeper.sh",),
    ),
}  # fmt: skip
"""KRaft: a controller (``process.roles=controller``, node id 100). ZooKeeper: one
standalone ZooKeeper, ``zk``, run from the release's own jars."""

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("compose", "kafka"),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def cluster_id(run_id: str) -> str:
    """The KRaft cluster id for a run: 16 bytes from the run id, base64url, 22 chars."""
    raw = hashlib.sha256(run_id.encode()).digest()[:16]
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 now (held open together while chosen)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True, slots=True)
class KafkaLayout:
    """Host ports chosen at render time (the brokers advertise them)."""

    client_ports: dict[str, int]
    admin_ports: dict[str, int]


class KafkaSystem:
    """`harness.contract.roles.System` for Apache Kafka (one instance per run)."""

    name = "kafka"
    doc = (
        "Apache Kafka (N brokers and a KRaft controller, or a ZooKeeper node for releases "
        f"before KRaft), confluent-kafka clients: release {DEFAULT_VERSION}, another with "
        "--kafka-version (`floodmark list kafka-releases`), or your own build with --kafka-dist"
    )
    profiles: Mapping[str, str] = {
        "safe": "RF=3, min.insync.replicas=2, unclean election off, no fsync; the default",
        "unclean": "min.insync.replicas=1 with unclean election (loses acked writes by design)",
        "fsync": "safe plus an fsync per message (survives power loss of every node)",
        "release-defaults": "the release's own min.insync.replicas (1) and unclean election "
        "(on before 0.11, KIP-106), written nowhere",
    }

    def __init__(
        self,
        connect: Callable[[str], Any] = admin_client,
        consumer: Callable[[dict[str, Any]], Any] = ck.Consumer,
        sleep: Callable[[float], None] = time.sleep,
        znodes: Callable[[tuple[str, int], list[str]], dict[str, bytes | None]] = get_data,
    ) -> None:
        """``connect`` makes an AdminClient for a bootstrap (`admin_client`), ``consumer``
        the leader-epoch watcher's consumer from its config, ``sleep`` waits for the
        checkpoints before the replica dumps, ``znodes`` reads ZooKeeper's znodes in
        ZooKeeper mode (`get_data`): confluent-kafka, ZooKeeper and real time by default,
        fakes in unit tests."""
        self._connect = connect
        self._make_consumer = consumer
        self._znodes = znodes
        self._sleep = sleep
        self._settings: dict[str, Any] = dict(DEFAULT_SETTINGS)
        self._topic_configs = topic_configs(resolve_settings(DEFAULT_PROFILE, {}))
        self._ready = False
        self._lock = threading.Lock()
        self._admin: Any = None
        self._epochs: Any = None
        self._image = release_name(DEFAULT_VERSION)
        self._metadata = Metadata.KRAFT
        self._idempotence = True

    def images(self) -> list[str]:
        """Toxiproxy and the node image `render` chose (``kafka@<version>`` or
        ``kafka-dist@<path>``; the default release before `render`)."""
        return ["toxiproxy", self._image]

    # -- layout ---------------------------------------------------------------------------

    def render(self, spec: ClusterSpec) -> ClusterPlan:
        settings = resolve_settings(spec.profile or DEFAULT_PROFILE, dict(spec.settings))
        build = build_of(settings)
        self._idempotence = idempotence_of(settings, build)
        self._image = build.image
        self._metadata = build.metadata
        self._settings = settings
        self._topic_configs = topic_configs(settings)  # at render: a bad value fails early
        if spec.replication_factor > spec.nodes:
            raise ConfigError(
                [f"kafka: replication factor {spec.replication_factor} > {spec.nodes} brokers"]
            )
        meta = METADATA_NODES[build.metadata]
        zookeeper = build.metadata is Metadata.ZOOKEEPER
        brokers = broker_names(spec.nodes)
        ports = free_ports(2 * len(brokers) + int(zookeeper))
        layout = KafkaLayout(
            client_ports=dict(zip(brokers, ports[: len(brokers)], strict=True)),
            admin_ports=dict(zip(brokers, ports[len(brokers) : 2 * len(brokers)], strict=True)),
        )
        server_props = {k: v for k, v in settings.items() if "." in k and k not in TEMPLATED}
        common = {
            "run_id": spec.run_id,
            "controller_id": CONTROLLER_ID,
            "quorum": meta.name,
            "quorum_port": meta.port,
            "zookeeper": zookeeper,
            "follower_fetching": follower_fetching(build.version),
            "replication_factor": spec.replication_factor,
            "s": settings,
            "extra": server_props,
        }
        env = {"KAFKA_CLUSTER_ID": cluster_id(spec.run_id), **spec.env}
        repl = {b: REPLICATION_BASE_PORT + i for i, b in enumerate(brokers, start=1)}
        proxies: list[ProxyPlan] = []
        nodes: list[NodePlan] = []
        for i, b in enumerate(brokers, start=1):
            cp, ap = layout.client_ports[b], layout.admin_ports[b]
            proxies += [
                link(CLIENT, b, cp, f"{b}:{EXTERNAL_PORT}", host_port=cp),
                link(ADMIN, b, ap, f"{b}:{ADMIN_PORT}", host_port=ap),
                link(b, meta.name, meta.port, f"{meta.name}:{meta.port}", listen_node=b),
                link(meta.name, b, repl[b], f"{b}:{repl[b]}", listen_node=meta.name),
            ]
            proxies += [
                link(b, other, repl[other], f"{other}:{repl[other]}", listen_node=b)
                for other in brokers
                if other != b
            ]
            props = _templates.get_template("server.properties.j2").render(
                node=b,
                role="broker",
                node_id=i,
                replication_port=repl[b],
                client_port=cp,
                admin_port=ap,
                **common,
            )
            proxy_hosts = (*(o for o in brokers if o != b), meta.name)
            nodes.append(_node(b, Role.BROKER, self._image, {CONFIG_PATH: props}, env,
                               proxy_hosts))  # fmt: skip
        if zookeeper:
            # The monitor reads leaders and epochs from ZooKeeper (`ZkPartitionStates`).
            proxies.append(link(ADMIN, meta.name, ports[-1], f"{meta.name}:{meta.port}",
                                host_port=ports[-1]))  # fmt: skip
        meta_props = _templates.get_template(meta.template).render(
            node=meta.name, role="controller", node_id=CONTROLLER_ID, port=meta.port, **common
        )
        meta_env = {**env, "KAFKA_HEAP_OPTS": "-Xms128m -Xmx256m"}
        nodes.append(
            _node(meta.name, Role.CONTROLLER, self._image, {meta.config_path: meta_props},
                  meta_env, command=meta.command)
        )  # fmt: skip
        return cluster_plan(spec, self.name, nodes, proxies)

    # -- clients ----------------------------------------------------------------------------

    def client(self, cluster: Cluster, process: int) -> Client:

        self.setup(cluster)
        bootstrap = ",".join(cluster.endpoint(link_name(CLIENT, b)) for b in cluster.plan.brokers)
        return KafkaClient(
            KafkaClientConfig(
                bootstrap=bootstrap,
                topic=TOPIC,
                idempotence=self._idempotence,
                client_id=f"floodmark-p{process}",
            )
        )

    def _admin_bootstrap(self, cluster: Cluster) -> str:
        return ",".join(cluster.endpoint(link_name(ADMIN, b)) for b in cluster.plan.brokers)

    def _leader_epochs(self, cluster: Cluster) -> Any:
        """Where the monitor reads each partition's leader and leader epoch: the KRaft
        metadata (`LeaderEpochWatcher`), or ZooKeeper's partition state znodes
        (`ZkPartitionStates`: the brokers' metadata has no epochs before Kafka 2.1)."""
        if self._metadata is Metadata.ZOOKEEPER:
            zk = cluster.endpoint(link_name(ADMIN, METADATA_NODES[Metadata.ZOOKEEPER].name))
            return ZkPartitionStates(zk, TOPIC, cluster.plan.keys, fetch=self._znodes)
        return LeaderEpochWatcher(
            self._admin_bootstrap(cluster), TOPIC, cluster.plan.keys, consumer=self._make_consumer
        )

    def setup(self, cluster: Cluster, timeout_s: float = 120.0) -> None:
        """Create the topic (once) and wait until every partition has a leader and a full
        ISR. Idempotent; called before the first client or monitor sample."""

        with self._lock:
            if self._ready:
                return
            ensure_topic(
                self._admin_bootstrap(cluster),
                TOPIC,
                partitions=cluster.plan.keys,
                replication_factor=cluster.plan.replication_factor,
                configs=self._topic_configs,
                timeout_s=timeout_s,
                connect=self._connect,
            )
            self._ready = True

    # -- introspection ------------------------------------------------------------------------

    def replica_states(self, cluster: Cluster) -> list[dict[str, JSON]]:

        self.setup(cluster)
        brokers = cluster.plan.brokers
        # Metadata and the leaders' HW first, the replicas' files after: a replica's LEO is
        # then read no earlier than the HW it is compared with (hw-above-leo).
        if self._admin is None:
            self._admin = self._connect(self._admin_bootstrap(cluster))
            self._epochs = self._leader_epochs(cluster)
        leaders = self._epochs.leaders() if self._epochs is not None else {}
        meta = describe_partitions(self._admin, TOPIC)
        with ThreadPoolExecutor(max_workers=len(brokers)) as pool:
            dumps = list(pool.map(lambda b: logdump(cluster, b, TOPIC, summary=True), brokers))
        disk = dict(zip(brokers, dumps, strict=True))
        states: list[dict[str, JSON]] = []
        for key in range(cluster.plan.keys):
            pm = meta.get(key)
            replicas = pm.replicas if pm else list(brokers)
            for node in replicas:
                d = disk[node]
                part = d.get(str(key)) if d is not None else None
                if part is None:
                    states.append(offline(key, node))
                    continue
                epochs = part["epochs"]
                epoch = int(epochs[-1][0]) if epochs else -1
                state: dict[str, JSON] = {
                    "key": key,
                    "node": node,
                    "role": "follower",
                    "leo": int(part["leo"]),
                    "hw": disk_hw(part),
                    "epoch": epoch,
                    "isr": pm.isr if pm else [],
                }
                # Leader and epoch from one metadata response (LeaderEpochWatcher); a
                # replica that is not the leader reports its newest data's epoch.
                leader, epoch_now = leaders.get(key, (None, -1))
                if leader == node:
                    state["role"] = "leader"
                    state["epoch"] = epoch_now
                    if pm is not None and pm.leader == node and pm.hw >= 0:
                        state["hw"] = pm.hw
                states.append(state)
        return states

    def dump_replicas(self, cluster: Cluster) -> list[dict[str, JSON]]:
        """Every replica's log as on its disk (nodes that cannot be read are left out)."""
        self._sleep(CHECKPOINT_WAIT_S)
        dumps: list[dict[str, JSON]] = []
        for node in cluster.plan.brokers:
            parts = logdump(cluster, node, TOPIC, summary=False)
            if parts is None:
                continue
            for key_s, part in sorted(parts.items(), key=lambda kv: int(kv[0])):
                dumps.append(
                    {
                        "key": int(key_s),
                        "node": node,
                        "hw": disk_hw(part),
                        "leo": int(part["leo"]),
                        "records": part["records"],
                    }
                )
        return dumps


def _node(
    name: str,
    role: Role,
    image: str,
    files: dict[str, str],
    env: dict[str, str],
    proxy_hosts: tuple[str, ...] = (),
    command: tuple[str, ...] = ("/opt/kafka/start-kafka.sh",),
) -> NodePlan:
    """A node of the Kafka image: its start script on its rendered config."""
    return NodePlan(
        name=name,
        role=role,
        image=image,
        command=command,
        files=files,
        data_dir="/data",
        env=env,
        proxy_hosts=proxy_hosts,
    )
