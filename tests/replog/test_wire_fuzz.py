"""Bad input on the wire never crashes a node: the frame decoder and a live broker.

The decoder is fed random and mutated frames (Hypothesis); a live broker gets garbage,
oversized and truncated frames, non-object JSON, unknown request types, wrong field
types and byte-flipped valid requests (seeded `random`, so every run sends the same
bytes). After every case the broker must still answer on a fresh connection, and at the
end its log must be exactly what its acknowledged produces wrote.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replog.client import ReplogError
from replog.net import read_frame
from replog.wire import MAX_FRAME_BYTES, ErrorCode, FrameError, decode_body, encode
from tests.replog.conftest import ClusterFactory


def decode_stream(data: bytes) -> list[object]:
    """Decode frames from `data` until EOF or a bad frame, as a server would."""

    async def go() -> list[object]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        out: list[object] = []
        while True:
            try:
                out.append(await read_frame(reader))
            except (FrameError, asyncio.IncompleteReadError):
                return out

    return asyncio.run(go())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_survives_random_bytes(data: bytes) -> None:
    for msg in decode_stream(data):
        assert isinstance(msg, dict)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    st.integers(0, 40),
)
def test_decoder_survives_mutated_frames(
    msg: dict[str, object], flips: list[tuple[int, int]], cut: int
) -> None:
    frame = bytearray(encode(msg) * 2)
    for pos, byte in flips:
        if frame:
            frame[pos % len(frame)] = byte
    frames = decode_stream(bytes(frame[: max(len(frame) - cut, 0)]))
    assert all(isinstance(m, dict) for m in frames)
    if not flips and cut == 0:
        assert frames == [msg, msg]


def test_decoder_rejects_bad_lengths_and_bodies() -> None:
    with pytest.raises(FrameError):
        decode_body(b"[1, 2]")
    with pytest.raises(FrameError):
        decode_body(b"\xff\xfe")
    with pytest.raises(FrameError):
        decode_body(b"[" * 100_000)
    assert decode_stream(struct.pack(">I", 0)) == []
    assert decode_stream(struct.pack(">I", MAX_FRAME_BYTES + 1) + b"{}") == []


def raw_exchange(port: int, data: bytes, replies: int, timeout: float = 2.0) -> bytes:
    """Send `data`, then read until `replies` frames came back or the broker closed.

    The connection is not half-closed: a broker, like Kafka's, closes a connection at EOF
    and drops the replies still in flight."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        try:
            while len(decode_stream(got)) < replies and (chunk := s.recv(65536)):
                got += chunk
        except TimeoutError:
            pass
        return got


def frame_raw(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body


def test_live_broker_survives_fuzzed_frames(make_cluster: ClusterFactory) -> None:
    c = make_cluster(["a"], settings={"min.insync.replicas": 1})
    c.wait_leader("a")
    port = c.ports["a"]
    rng = random.Random(20240601)
    good = encode({"type": "produce", "id": 1, "key": 0, "value": 5, "acks": 1})
    cases: list[bytes] = [
        b"",
        b"\x00",
        struct.pack(">I", 0),
        struct.pack(">I", 2**32 - 1) + b"x" * 100,
        struct.pack(">I", 100) + b"{",  # truncated body
        frame_raw([1, 2, 3]),
        frame_raw("text"),
        frame_raw({"type": "no_such_request", "id": 9}),
        frame_raw({"id": 9}),
        frame_raw({"type": "produce", "id": 2, "key": "zero", "value": 1}),
        frame_raw({"type": "produce", "id": 3, "key": 0, "value": 2**80, "acks": 1}),
        frame_raw({"type": "produce", "id": 4, "key": 0, "value": 1, "acks": 7}),
        frame_raw({"type": "produce", "id": 5, "key": 0, "value": 1, "timeout_ms": 10**30}),
        frame_raw({"type": "fetch", "id": 6, "key": 0, "offset": -5}),
        frame_raw({"type": "fetch", "id": 7, "key": 99, "offset": 0}),
        frame_raw(
            {
                "type": "leader_and_isr",
                "id": 8,
                "controller_epoch": 99,
                "state_version": 1,
                "partitions": {"0": {"replicas": 5}},
            }
        ),
        frame_raw(
            {
                "type": "replica_fetch",
                "id": 9,
                "key": 0,
                "node": "zz",
                "leader_epoch": 0,
                "offset": 0,
            }
        ),
        b"\x00\x00\x00\x02{}" * 3 + good,
    ]
    for i in range(150):
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        cases.append(bytes(mutated))
        if i % 6 == 0:  # good produces between the bad frames, so the log has a history
            cases.append(
                encode({"type": "produce", "id": 1, "key": 0, "value": 1000 + i, "acks": 1})
            )
    for _ in range(50):
        cases.append(rng.randbytes(rng.randint(1, 64)))

    acked: dict[tuple[int, int], int] = {}  # (key, offset) -> value the broker acknowledged
    unanswered: set[tuple[int, int]] = set()  # (key, value) of acks=0 produces: may be there
    for data in cases:
        sent = {
            m.get("id"): m for m in decode_stream(data) if isinstance(m, dict) and m.get("type")
        }
        requests = [m for m in decode_stream(data) if isinstance(m, dict)]
        answered = [m for m in requests if not (m.get("type") == "produce" and m.get("acks") == 0)]
        for reply in decode_stream(raw_exchange(port, data, len(answered))):
            assert isinstance(reply, dict), reply
            req = sent.get(reply.get("id"))
            if "offset" in reply and req is not None and req["type"] == "produce":
                acked[(req["key"], reply["offset"])] = req["value"]
        unanswered |= {
            (m["key"], m["value"])
            for m in sent.values()
            if m["type"] == "produce" and m.get("acks") == 0
        }
        assert c.client("a").metadata()["partitions"]["0"]["leader"] == "a", data
    assert len(acked) >= 25, f"only {len(acked)} produces acknowledged: too few to check a log"

    # The node still works, and its log holds exactly what was acknowledged (and, at most,
    # the fire-and-forget records of acks=0 produces): nothing lost, nothing invented.
    cl = c.client("a")
    before = cl.list_offsets(0)["leo"]
    assert cl.produce(0, 77, acks=1) == before
    acked[(0, before)] = 77
    for key in map(int, cl.metadata()["partitions"]):
        records, hw = cl.fetch(key, 0, max_records=10_000)
        held = {(key, o): v for o, v in records}
        mine = {ko: v for ko, v in acked.items() if ko[0] == key}
        assert mine.items() <= held.items(), (key, mine, held)
        extra = {(key, v) for ko, v in held.items() if ko not in mine}
        assert extra <= unanswered, (key, extra)
        assert hw == (records[-1][0] + 1 if records else 0), (key, hw, records[-3:])
    assert c.state("a")["epoch"] == 0, "a fuzzed LeaderAndIsr must not have been applied"
    with pytest.raises(ReplogError) as e:
        cl.call({"type": "produce", "key": 0, "value": "x"})
    assert e.value.code == ErrorCode.INVALID_REQUEST
