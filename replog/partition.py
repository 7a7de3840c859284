"""One replica of one partition: Kafka's leader/follower replication rules, without I/O.

Vocabulary (as in Kafka and floodmark's DESIGN.md §1):

- **LEO** (log end offset): the offset the next appended record gets (`PartitionLog.leo`).
- **HW** (high watermark): records below it are committed. A *leader* sets
  ``HW = min(LEO of every ISR member)`` and never moves it backwards (its own LEO counts
  only as far as its flush policy allows: records it must fsync count once they are, as
  a follower reports a fetched batch only after fsyncing it); a *follower* sets
  ``HW = min(own LEO, HW in the leader's last fetch response)``. Consumers read below it.
- **ISR**: the leader tracks, per follower, ``lastCaughtUpTime``: the time of the latest
  fetch whose offset reached the leader's LEO *at that fetch* (or reached the LEO the
  leader had at the follower's previous fetch). A follower whose ``lastCaughtUpTime`` is
  older than ``replica.lag.time.max.ms`` is shrunk out of the ISR; a follower rejoins once
  its fetch offset (its LEO) reaches the HW. The leader only *proposes* ISR changes; they
  take effect when the controller accepts them (AlterIsr), versioned by ``isr_version``.
- **acks=all**: refused with NOT_ENOUGH_REPLICAS when the ISR is smaller than
  ``min.insync.replicas``; otherwise answered when the HW passes the record, provided the
  record at its offset is still the one appended (same leader epoch): a leader deposed
  and re-elected meanwhile may hold another record there.
- **leader epoch**: every leader change bumps it. The leader adds ``(epoch, LEO)`` to its
  epoch cache when it takes over; followers copy the epoch of every record they fetch.
- **truncation** before following a new leader:

  * ``hw`` (Kafka < 0.11): cut the log at the replica's own HW, on restart and on
    becoming a follower. KIP-101 scenario 1: a follower restarts with HW one record
    behind, cuts an acknowledged record, then is elected: the record is lost. Scenario 2:
    both crash, the one with the shorter log leads and takes a new write at the offset
    the other still holds: the logs diverge below both HWs.
  * ``leader-epoch`` (KIP-101, KIP-279): ask the leader ``OffsetsForLeaderEpoch(latest
    epoch in my cache)``; the leader answers ``(e', end offset of e')`` for the largest
    epoch ``e' <= `` the one asked; cut the log at ``min(that end offset, my own end
    offset of e')``. Records the leader also holds are kept; divergent ones are cut.

The broker (`replog.broker`) feeds this class requests and link events; everything here
is synchronous except waiting for the HW or for new data (long-poll).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from replog.config import Settings, Truncation
from replog.storage import PartitionLog
from replog.wire import ErrorCode


class Role(enum.StrEnum):
    """What a replica is doing. OFFLINE: on disk, but no LeaderAndIsr received yet."""

    OFFLINE = "offline"
    LEADER = "leader"
    FOLLOWER = "follower"


class ReplicaError(Exception):
    """A request this replica refuses; carries the wire error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class RemoteReplica:
    """What the leader knows about one follower."""

    leo: int = -1
    last_caught_up: float = 0.0
    last_fetch_time: float = 0.0
    last_fetch_leader_leo: int = -1


@dataclass(slots=True)
class PendingAck:
    offset: int
    epoch: int
    """The leader epoch the record was appended in: it identifies the record."""
    future: asyncio.Future[int] = field(repr=False)


def now_ms() -> float:
    return time.monotonic() * 1000.0


class Replica:
    """One partition's replica on this broker; see the module docstring."""

    def __init__(
        self, node_id: str, log: PartitionLog, hw: int, settings: Settings, logger: logging.Logger
    ) -> None:
        self.node_id = node_id
        self.key = log.key
        self.log = log
        self.settings = settings
        self._logger = logger
        self.hw = min(hw, log.leo)
        self.role = Role.OFFLINE
        self.leader: str | None = None
        self.leader_epoch = -1
        self.isr: list[str] = []
        self.isr_version = -1
        self.replicas: list[str] = []
        self.remotes: dict[str, RemoteReplica] = {}
        self.pending: list[PendingAck] = []
        self.isr_change_in_flight = False
        self._changed: asyncio.Future[None] | None = None
        self.hw_listeners: list[Any] = []  # callables(key) run when the HW moves

    def info(self, fmt: str, *args: object) -> None:
        self._logger.info("key %s: " + fmt, self.key, *args)

    # -- change notification (long-poll) ---------------------------------------------

    def changed(self) -> asyncio.Future[None]:
        """A future resolved at the next append, truncation, HW or role change."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    def _set_hw(self, hw: int) -> None:
        if hw != self.hw:
            self.hw = hw
            for listener in self.hw_listeners:
                listener(self.key)

    # -- role transitions (LeaderAndIsr) ---------------------------------------------

    def become_leader(
        self, epoch: int, isr: list[str], isr_version: int, replicas: list[str]
    ) -> None:
        """Take over as leader of `epoch`: cache ``(epoch, LEO)``, reset follower tracking."""
        self.info(
            "role change: %s -> leader, epoch %s -> %s, isr %s, leo %s, hw %s",
            self.role, self.leader_epoch, epoch, isr, self.log.leo, self.hw,
        )  # fmt: skip
        self.role, self.leader, self.leader_epoch = Role.LEADER, self.node_id, epoch
        self.isr, self.isr_version, self.replicas = list(isr), isr_version, list(replicas)
        t = now_ms()
        self.remotes = {r: RemoteReplica(last_caught_up=t) for r in replicas if r != self.node_id}
        self.isr_change_in_flight = False
        self.log.epoch_cache.assign(epoch, self.log.leo)
        self.maybe_advance_hw()
        self._notify()

    def become_follower(
        self, leader: str | None, epoch: int, isr: list[str], isr_version: int, replicas: list[str]
    ) -> None:
        """Follow `leader` (None: leaderless) in `epoch`; under the hw rule cut to the HW."""
        self.info(
            "role change: %s -> follower of %s, epoch %s -> %s, isr %s, leo %s, hw %s",
            self.role, leader, self.leader_epoch, epoch, isr, self.log.leo, self.hw,
        )  # fmt: skip
        was_leader = self.role is Role.LEADER
        self.role, self.leader, self.leader_epoch = Role.FOLLOWER, leader, epoch
        self.isr, self.isr_version, self.replicas = list(isr), isr_version, list(replicas)
        self.remotes = {}
        if was_leader:
            self.fail_pending(ErrorCode.LEADERSHIP_LOST, f"leadership moved to {leader}")
        if self.settings.replication_truncation is Truncation.HW:
            self.truncate(self.hw, "hw rule: becoming follower, truncate to own high watermark")
        self._notify()

    def update_isr(self, isr: list[str], isr_version: int) -> None:
        """A newer ISR for the same leader epoch (accepted AlterIsr or controller change)."""
        if isr_version <= self.isr_version:
            return
        self.info("isr change: %s -> %s (version %s)", self.isr, isr, isr_version)
        self.isr, self.isr_version = list(isr), isr_version
        if self.role is Role.LEADER:
            for r in isr:
                if r in self.remotes and r != self.node_id:
                    self.remotes[r].last_caught_up = max(self.remotes[r].last_caught_up, now_ms())
            self.maybe_advance_hw()
        self._notify()

    def go_offline(self) -> None:
        self.fail_pending(ErrorCode.LEADERSHIP_LOST, "replica going offline")
        self.role = Role.OFFLINE

    # -- truncation ---------------------------------------------------------------------

    def truncate(self, offset: int, reason: str) -> None:
        dropped = self.log.truncate_to(offset)
        if dropped:
            self.info(
                "truncation: %s: log cut to %s, %s record(s) dropped", reason, offset, dropped
            )
        if self.hw > self.log.leo:
            self._set_hw(self.log.leo)
        self._notify()

    def truncate_after_epoch_reply(self, asked_epoch: int, epoch: int, end_offset: int) -> None:
        """Apply the leader's OffsetsForLeaderEpoch reply ``(epoch, end_offset)``."""
        if epoch < 0 or end_offset < 0:
            self.truncate(self.hw, "leader knows no epoch <= ours: fall back to the HW")
            return
        # Where our own epochs <= e' end: anything after is from epochs the leader lacks.
        _, own_end = self.log.epoch_cache.end_offset_for(epoch, self.log.leo)
        cut = min(end_offset, own_end if own_end >= 0 else end_offset, self.log.leo)
        self.truncate(
            cut,
            f"leader-epoch rule: asked epoch {asked_epoch}, leader says epoch {epoch} ends at "
            f"{end_offset}, ours ends at {own_end}",
        )

    def epoch_end_offset(self, epoch: int) -> tuple[int, int]:
        """OffsetsForLeaderEpoch, answered by the leader."""
        return self.log.epoch_cache.end_offset_for(epoch, self.log.leo)

    # -- leader side ---------------------------------------------------------------------

    def check_leader(self) -> None:
        if self.role is not Role.LEADER:
            raise ReplicaError(
                ErrorCode.NOT_LEADER,
                f"{self.node_id} is not the leader of key {self.key} (leader: {self.leader}, "
                f"epoch {self.leader_epoch}); refresh metadata and retry there",
            )

    def check_epoch(self, epoch: int) -> None:
        if epoch < self.leader_epoch:
            raise ReplicaError(
                ErrorCode.FENCED_EPOCH,
                f"request leader epoch {epoch} < current {self.leader_epoch} on {self.node_id}",
            )
        if epoch > self.leader_epoch:
            raise ReplicaError(
                ErrorCode.UNKNOWN_LEADER_EPOCH,
                f"request leader epoch {epoch} > current {self.leader_epoch} on {self.node_id}",
            )

    def append_as_leader(self, value: int, acks: int) -> int:
        """Append one record in the current epoch; the offset. Checks min.insync for acks=all."""
        self.check_leader()
        if acks == -1 and len(self.isr) < self.settings.min_insync_replicas:
            raise ReplicaError(
                ErrorCode.NOT_ENOUGH_REPLICAS,
                f"acks=all needs min.insync.replicas={self.settings.min_insync_replicas} but "
                f"the ISR of key {self.key} is {self.isr}",
            )
        offset = self.log.append([(self.leader_epoch, value)])
        self.maybe_advance_hw()
        self._notify()
        return offset

    def wait_committed(self, offset: int, epoch: int) -> asyncio.Future[int]:
        """A future resolved with `offset` when the HW passes the record appended there in
        leader epoch `epoch`, failed with LEADERSHIP_LOST if this replica no longer leads in
        that epoch (the record may be gone, or another may stand at `offset`)."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if not self.leads_with(offset, epoch):
            fut.set_exception(self._deposed(offset, epoch))
        elif self.hw > offset:
            self._settle(PendingAck(offset, epoch, fut))
        else:
            self.pending.append(PendingAck(offset, epoch, fut))
        return fut

    def leads_with(self, offset: int, epoch: int) -> bool:
        """Whether this replica still leads in `epoch` and holds the record it appended at
        `offset` then (a leader never truncates within its own epoch)."""
        return (
            self.role is Role.LEADER
            and self.leader_epoch == epoch
            and offset < len(self.log.epochs)
            and self.log.epochs[offset] == epoch
        )

    def check_appended(self, offset: int, epoch: int) -> None:
        """LEADERSHIP_LOST unless `leads_with(offset, epoch)`."""
        if not self.leads_with(offset, epoch):
            raise self._deposed(offset, epoch)

    def _deposed(self, offset: int, epoch: int) -> ReplicaError:
        return ReplicaError(
            ErrorCode.LEADERSHIP_LOST,
            f"offset {offset} of key {self.key} was appended in leader epoch {epoch}, but "
            f"{self.node_id} is now {self.role} in epoch {self.leader_epoch}; the record may "
            "be gone",
        )

    def _settle(self, p: PendingAck) -> None:
        """Answer a waiter whose offset is below the HW."""
        if not self.leads_with(p.offset, p.epoch):
            p.future.set_exception(self._deposed(p.offset, p.epoch))
        elif len(self.isr) < self.settings.min_insync_replicas:
            p.future.set_exception(
                ReplicaError(
                    ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                    f"offset {p.offset} committed with ISR {self.isr}, smaller than "
                    f"min.insync.replicas={self.settings.min_insync_replicas}",
                )
            )
        else:
            p.future.set_result(p.offset)

    def fail_pending(self, code: ErrorCode, message: str) -> None:
        for p in self.pending:
            if not p.future.done():
                p.future.set_exception(ReplicaError(code, message))
        self.pending.clear()

    def maybe_advance_hw(self) -> None:
        """Leader: HW = min LEO over the ISR (never backwards); resolve acks=all waiters."""
        if self.role is not Role.LEADER:
            return
        leos = [self.log.durable_end]
        for r in self.isr:
            if r != self.node_id:
                leos.append(self.remotes[r].leo if r in self.remotes else -1)
        new_hw = max(self.hw, min(leos))
        if new_hw > self.hw:
            self._set_hw(new_hw)
            self._notify()
        if self.pending and self.pending[0].offset < self.hw:
            keep = []
            for p in self.pending:
                if p.offset >= self.hw:
                    keep.append(p)
                elif not p.future.done():
                    self._settle(p)
            self.pending = keep

    def on_follower_fetch(self, node: str, offset: int) -> list[str] | None:
        """Record a follower's fetch at `offset` (its LEO); a proposed larger ISR or None."""
        self.check_leader()
        if node not in self.remotes:
            raise ReplicaError(
                ErrorCode.INVALID_REQUEST,
                f"{node} is not a replica of key {self.key} (replicas: {self.replicas})",
            )
        if offset > self.log.leo:
            raise ReplicaError(
                ErrorCode.OFFSET_OUT_OF_RANGE,
                f"fetch offset {offset} is above the leader's log end offset {self.log.leo}",
            )
        r, t, leo = self.remotes[node], now_ms(), self.log.leo
        if offset >= leo:
            r.last_caught_up = t
        elif offset >= r.last_fetch_leader_leo >= 0:
            r.last_caught_up = max(r.last_caught_up, r.last_fetch_time)
        r.leo, r.last_fetch_time, r.last_fetch_leader_leo = offset, t, leo
        self.maybe_advance_hw()
        if node not in self.isr and offset >= self.hw and not self.isr_change_in_flight:
            return [*self.isr, node]
        return None

    def shrink_candidate(self) -> list[str] | None:
        """A smaller ISR without followers lagging over replica.lag.time.max.ms, or None."""
        if self.role is not Role.LEADER or self.isr_change_in_flight:
            return None
        t, lag = now_ms(), self.settings.replica_lag_time_max_ms
        out = [
            r
            for r in self.isr
            if r != self.node_id and r in self.remotes and t - self.remotes[r].last_caught_up > lag
        ]
        if not out:
            return None
        return [r for r in self.isr if r not in out]

    def read_for_follower(self, offset: int, max_records: int) -> list[list[int]]:
        return self.log.read_with_epochs(offset, min(self.log.leo, offset + max_records))

    # -- follower side -----------------------------------------------------------------

    def append_as_follower(self, records: list[list[int]], leader_hw: int) -> None:
        """Append fetched ``[offset, epoch, value]`` records; HW = min(LEO, leader HW).

        The caller flushes per policy before its next fetch reports the new LEO.
        """
        if records:
            if records[0][0] != self.log.leo:
                raise ReplicaError(
                    ErrorCode.INVALID_REQUEST,
                    f"fetched records start at {records[0][0]}, expected our LEO {self.log.leo}",
                )
            cache = self.log.epoch_cache
            for off, epoch, _ in records:
                if epoch > cache.latest_epoch():
                    cache.assign(epoch, off)
            self.log.append([(e, v) for _, e, v in records])
        self._set_hw(min(self.log.leo, leader_hw))
        self._notify()

    # -- views ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "node": self.node_id,
            "role": str(self.role),
            "leader": self.leader,
            "leo": self.log.leo,
            "hw": self.hw,
            "epoch": self.leader_epoch,
            "isr": list(self.isr),
            "isr_version": self.isr_version,
            "replicas": list(self.replicas),
            "epoch_cache": [list(e) for e in self.log.epoch_cache.entries],
            "recovery_point": self.log.recovery_point,
        }

    def dump(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "node": self.node_id,
            "hw": self.hw,
            "leo": self.log.leo,
            "records": self.log.read(0, self.log.leo),
            "epochs": [[o, e] for o, e in enumerate(self.log.epochs)],
        }
