"""The follower's fetch loop for one partition: truncate, then fetch from the leader.

On becoming follower of ``leader`` in leader epoch ``e``:

1. Truncation. Under ``hw`` the replica already cut its log at its HW
   (`Replica.become_follower`). Under ``leader-epoch`` it asks the leader
   ``OffsetsForLeaderEpoch(latest epoch in its cache)`` and cuts at the answer (retrying
   until the leader answers, because fetching before that could keep divergent records).
2. Fetch loop: ``replica_fetch(offset = own LEO, hw = own HW)``. The leader answers at
   once when it has records at that offset or a higher HW than ours, else it holds the
   request up to ``replica.fetch.wait.max.ms`` (long-poll) and answers as soon as either
   happens. The follower appends the records (with their leader epochs, adding epoch
   cache entries), flushes per policy, and sets ``HW = min(own LEO, leader HW)``.

Errors: ``OFFSET_OUT_OF_RANGE`` (our LEO is above the leader's: happens under the hw rule
after divergence) cuts the log to the leader's LEO, as Kafka before 0.11 did. A fenced
or unknown epoch, or a leader that no longer leads, means the controller's news has not
reached one side yet: back off ``replica.fetch.backoff.ms`` and retry until the next
LeaderAndIsr replaces this fetcher.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from replog.config import Truncation
from replog.partition import Replica, ReplicaError, Role
from replog.wire import ErrorCode, Message

if TYPE_CHECKING:
    from replog.broker import Broker


class Follower:
    """Fetches one partition from its leader for as long as the leader epoch holds."""

    def __init__(self, broker: Broker, replica: Replica, leader: str, epoch: int) -> None:
        self.broker = broker
        self.replica = replica
        self.leader = leader
        self.epoch = epoch
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.truncated = asyncio.Event()  # set once the truncation step is done

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopped = True  # also ends the loop if a cancellation gets swallowed
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _active(self) -> bool:
        r = self.replica
        if self._stopped or not self.broker.running:
            return False
        return r.role is Role.FOLLOWER and r.leader == self.leader and r.leader_epoch == self.epoch

    async def _request(self, msg: Message, timeout_ms: int) -> Message | None:
        """The reply, or None after logging a link failure (the caller retries)."""
        s = self.broker.settings
        try:
            link = self.broker.peer_link(self.leader)
            return await link.request(msg, timeout_ms / 1000)
        except (ConnectionError, TimeoutError) as e:
            self.broker.log.debug(
                "key %s: fetch from %s failed: %s", self.replica.key, self.leader, e
            )
            await asyncio.sleep(s.replica_fetch_backoff_ms / 1000)
            return None

    async def _backoff(self, resp: Message, what: str) -> None:
        self.broker.log.info(
            "key %s: %s from %s refused: %s %s",
            self.replica.key, what, self.leader, resp.get("error"), resp.get("message"),
        )  # fmt: skip
        await asyncio.sleep(self.broker.settings.replica_fetch_backoff_ms / 1000)

    async def _run(self) -> None:
        if self.broker.settings.replication_truncation is Truncation.LEADER_EPOCH:
            await self._truncate_by_epoch()
        self.truncated.set()
        await self._fetch_loop()

    async def _truncate_by_epoch(self) -> None:
        r, s = self.replica, self.broker.settings
        while self._active():
            asked = r.log.epoch_cache.latest_epoch()
            if asked < 0:
                if r.log.leo > 0:
                    r.truncate(r.hw, "no leader-epoch cache entries: fall back to the HW")
                return
            msg = {
                "type": "offsets_for_leader_epoch",
                "key": r.key,
                "leader_epoch": self.epoch,
                "epoch": asked,
            }
            resp = await self._request(msg, s.request_timeout_ms)
            if resp is None:
                continue
            if resp.get("error"):
                await self._backoff(resp, "OffsetsForLeaderEpoch")
                continue
            if self._active():
                r.truncate_after_epoch_reply(asked, int(resp["epoch"]), int(resp["end_offset"]))
            return

    async def _fetch_loop(self) -> None:
        r, s, b = self.replica, self.broker.settings, self.broker
        while self._active():
            msg = {
                "type": "replica_fetch",
                "key": r.key,
                "node": b.node_id,
                "leader_epoch": self.epoch,
                "offset": r.log.leo,
                "hw": r.hw,
                "max_wait_ms": s.replica_fetch_wait_max_ms,
                "max_records": s.replica_fetch_max_records,
            }
            resp = await self._request(msg, s.replica_fetch_wait_max_ms + s.request_timeout_ms)
            if resp is None or not self._active():
                continue
            err = resp.get("error")
            if err == ErrorCode.OFFSET_OUT_OF_RANGE and isinstance(resp.get("leo"), int):
                r.truncate(
                    int(resp["leo"]),
                    f"fetch offset {msg['offset']} above leader {self.leader}'s log end "
                    f"offset {resp['leo']}",
                )
                continue
            if err:
                await self._backoff(resp, "fetch")
                continue
            try:
                r.append_as_follower(list(resp["records"]), int(resp["hw"]))
                if r.log.flush_due():
                    await r.log.flush_async()
            except ReplicaError as e:
                b.log.warning("key %s: bad fetch response from %s: %s", r.key, self.leader, e)
                await asyncio.sleep(s.replica_fetch_backoff_ms / 1000)
