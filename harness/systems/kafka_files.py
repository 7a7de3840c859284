"""A Kafka replica's own files, read inside its container by ``kafka_logdump.py``
(`compose.kafka.kafka_logdump`, shipped in the image): LEO, checkpointed HW and epochs for
the monitor, whole logs for the replica dumps."""

from __future__ import annotations

import json
from typing import Any, Final

import docker.errors

from harness.contract.history import JSON
from harness.contract.roles import Cluster

DATA_DIR: Final = "/data/kafka"
LOGDUMP: Final = "/opt/kafka/kafka_logdump.py"


def offline(key: int, node: str) -> dict[str, JSON]:
    return {"key": key, "node": node, "role": "offline", "leo": -1, "hw": -1, "epoch": -1,
            "isr": []}  # fmt: skip


def disk_hw(part: dict[str, Any]) -> int:
    """A replica's HW as the broker holds it, from its files: the checkpointed HW capped
    at the log's end, which is what Kafka does when it loads a log
    (``UnifiedLog.updateHighWatermark``). The checkpoint is fsynced and the log is not, so
    after a power loss (lose-unfsynced) the file may name an HW far beyond the log that
    survived; the broker never serves that HW. -1 when there is no checkpoint entry."""
    hw = part["hw_checkpoint"]
    return min(int(hw), int(part["leo"])) if hw is not None else -1


def logdump(cluster: Cluster, node: str, topic: str, summary: bool) -> dict[str, Any] | None:
    """Run kafka_logdump.py in the node's container; None when it cannot be read (stopped,
    paused, or the tool failed)."""
    cmd = ["python3", LOGDUMP, DATA_DIR, topic] + (["--summary"] if summary else [])
    try:
        res = cluster.container(node).exec_run(cmd, stdout=True, stderr=False)
    except docker.errors.APIError:
        return None  # stopped or paused
    if res.exit_code != 0 or not isinstance(res.output, bytes):
        return None
    try:
        out = json.loads(res.output)
    except json.JSONDecodeError:
        return None  # the container stopped while the tool ran (no output, or cut short)
    if not isinstance(out, dict) or out.get("error"):
        return None
    parts: dict[str, Any] = out["partitions"]
    return parts
