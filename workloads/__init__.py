"""Workloads: what the test's client processes do, as values in one registry.

A workload gives each worker thread an `OpSource`: a seeded stream of operations
(``f``, ``value``) that also hears how each one completed (a consumer moves its offset
on an ``ok`` poll). The harness (`harness.load`) owns the threads, the rate, the clients
and the history; a workload only decides *what* to do next. Adding a workload is one
module plus one line in `WORKLOADS`.
"""

from __future__ import annotations

from workloads.base import OpSource, Workload, WorkloadParams
from workloads.log import LOG

WORKLOADS: dict[str, Workload] = {LOG.name: LOG}

__all__ = ["WORKLOADS", "OpSource", "Workload", "WorkloadParams"]
