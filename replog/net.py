"""asyncio networking shared by brokers and the controller: a frame server and `Link`s.

`FrameServer` accepts connections and runs each request frame through a dispatch
coroutine in its own task (so a long-polling fetch does not hold up the requests behind
it); replies go back tagged with the request's ``id``. A bad frame closes that one
connection after an ``INVALID_REQUEST`` reply; the server keeps serving.

`Link` is the initiating side of one node-to-node path (follower→leader,
broker→controller, controller→broker): ONE persistent TCP connection, so that a proxy on
the path can delay, blackhole or cut exactly that link. Requests are multiplexed by
``id``. A request that gets no reply within its timeout raises `TimeoutError` and the
connection is dropped (as Kafka's network client does); the next request reconnects,
no sooner than a bounded exponential backoff after the last failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from replog.wire import (
    HEADER,
    ErrorCode,
    FrameError,
    Message,
    decode_body,
    decode_length,
    encode,
    error_reply,
    split_address,
)

Dispatch = Callable[[Message], Awaitable[Message | None]]
MAX_IN_FLIGHT_PER_CONNECTION = 128


async def read_frame(reader: asyncio.StreamReader) -> Message:
    """One decoded frame; `FrameError` on a bad one, `IncompleteReadError` on EOF."""
    length = decode_length(await reader.readexactly(HEADER.size))
    return decode_body(await reader.readexactly(length))


class FrameServer:
    """Serves request frames on one listening socket; see the module docstring."""

    def __init__(self, name: str, dispatch: Dispatch, log: logging.Logger) -> None:
        self.name = name
        self._dispatch = dispatch
        self._log = log
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, address: str) -> int:
        host, port = split_address(address)
        self._server = await asyncio.start_server(self._serve, host, port, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        """Stop listening, drop every connection, cancel in-flight requests.

        Closing a connection's transport ends its reading task (EOF), so only the request
        handlers are cancelled here.
        """
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        slots = asyncio.Semaphore(MAX_IN_FLIGHT_PER_CONNECTION)
        try:
            while True:
                try:
                    msg = await read_frame(reader)
                except FrameError as e:
                    self._log.warning("%s: bad frame from %s: %s; closing it", self.name, peer, e)
                    with contextlib.suppress(OSError, FrameError):
                        writer.write(encode(error_reply(None, ErrorCode.INVALID_REQUEST, str(e))))
                        await writer.drain()
                    return
                await slots.acquire()
                task = asyncio.create_task(self._handle(msg, writer, slots))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _handle(
        self, msg: Message, writer: asyncio.StreamWriter, slots: asyncio.Semaphore
    ) -> None:
        try:
            reply = await self._dispatch(msg)
            if reply is None or writer.is_closing():
                return
            try:
                frame = encode(reply)
            except FrameError as e:
                frame = encode(error_reply(msg.get("id"), ErrorCode.INVALID_REQUEST, str(e)))
            writer.write(frame)
            await writer.drain()
        except (ConnectionError, OSError):
            writer.close()
        finally:
            slots.release()


class Link:
    """One persistent outbound connection with request/reply matching; see module doc."""

    def __init__(
        self,
        name: str,
        address: str,
        log: logging.Logger,
        backoff_ms: int = 50,
        backoff_max_ms: int = 1000,
    ) -> None:
        self.name = name
        self.address = address
        self._log = log
        self._backoff_min = backoff_ms / 1000
        self._backoff_max = backoff_max_ms / 1000
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._ids = itertools.count(1)
        self._connect_lock = asyncio.Lock()
        self._closed = False
        self.connected_once = False

    @staticmethod
    def _loop_deadline(deadline: float) -> float:
        """A `time.monotonic` deadline on the event loop's clock."""
        return asyncio.get_running_loop().time() + (deadline - time.monotonic())

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def _ensure_connected(self, deadline: float) -> asyncio.StreamWriter:
        async with self._connect_lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            if self._closed:
                raise ConnectionError(f"link {self.name} is closed")
            wait = self._next_attempt - time.monotonic()
            if wait > 0:
                if time.monotonic() + wait > deadline:
                    raise ConnectionError(f"link {self.name} to {self.address}: backing off")
                await asyncio.sleep(wait)
            host, port = split_address(self.address)
            try:
                async with asyncio.timeout_at(self._loop_deadline(deadline)):
                    reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
            except (OSError, TimeoutError) as e:
                self._backoff = min(max(self._backoff * 2, self._backoff_min), self._backoff_max)
                self._next_attempt = time.monotonic() + self._backoff
                raise ConnectionError(f"link {self.name} to {self.address}: {e}") from e
            self._backoff = 0.0
            self._reader, self._writer = reader, writer
            self._reader_task = asyncio.create_task(self._read_loop(reader, writer))
            if not self.connected_once:
                self._log.info("link %s: connected to %s", self.name, self.address)
            self.connected_once = True
            return writer

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        why = "closed"
        try:
            while True:
                msg = await read_frame(reader)
                fut = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
            why = f"connection lost ({type(e).__name__})"
        except FrameError as e:
            why = f"bad frame: {e}"
        finally:
            self._drop(writer, why)

    def _drop(self, writer: asyncio.StreamWriter, why: str) -> None:
        if self._writer is writer:
            self._writer = None
            self._reader = None
            self._backoff = min(max(self._backoff * 2, self._backoff_min), self._backoff_max)
            self._next_attempt = time.monotonic() + self._backoff
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError(f"link {self.name}: {why}"))
            self._pending.clear()
            if not self._closed:
                self._log.info("link %s to %s: %s", self.name, self.address, why)
        writer.close()

    async def request(self, msg: Message, timeout: float) -> Message:
        """Send `msg`, return the reply (errors are in the reply's ``error`` field).

        Raises `ConnectionError` when the link cannot carry it and `TimeoutError` when no
        reply came within `timeout` seconds (the connection is then dropped).
        """
        deadline = time.monotonic() + timeout
        writer = await self._ensure_connected(deadline)
        req_id = next(self._ids)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            writer.write(encode({**msg, "id": req_id}))
            async with asyncio.timeout_at(self._loop_deadline(deadline)):
                return await fut
        except TimeoutError:
            self._log.info(
                "link %s: %s got no reply in %.1fs; dropping the connection",
                self.name, msg.get("type"), timeout,
            )  # fmt: skip
            self._drop(writer, "request timed out")
            raise
        finally:
            self._pending.pop(req_id, None)

    def cut(self) -> None:
        """Drop the current connection (the next request reconnects)."""
        if self._writer is not None:
            self._drop(self._writer, "cut")

    async def close(self) -> None:
        self._closed = True
        self.cut()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
