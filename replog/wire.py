"""replog's wire protocol: length-prefixed JSON frames over TCP, and its error codes.

Every message on every link (client→broker, follower→leader, broker→controller,
controller→broker) is one *frame*::

    +---------------------------+------------------------------------+
    | length: uint32 big-endian | body: `length` bytes of UTF-8 JSON |
    +---------------------------+------------------------------------+

``1 <= length <= MAX_FRAME_BYTES``. The body is a JSON object. A request carries
``"type"`` (one of `REQUEST_TYPES`) and an integer ``"id"``; its response carries the same
``"id"`` plus either the result fields or ``"error"`` (an `ErrorCode`) and ``"message"``.
Responses on one connection may come back out of order (a follower's long-poll fetch
must not hold up other requests), so callers match them by ``id``.

Bad input is contained to its connection: a frame whose length is 0 or above the
maximum, or whose body is not a JSON object, gets an ``INVALID_REQUEST`` reply (when an
``id`` can be found) and the connection is closed; an unknown ``type`` or missing field
gets an error reply and the connection stays open. The node keeps serving everyone else.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Callable
from typing import Any

MAX_FRAME_BYTES = 8 * 1024 * 1024
HEADER = struct.Struct(">I")

Message = dict[str, Any]


class ErrorCode(enum.StrEnum):
    """Every error a replog node puts on the wire, in one place.

    Whether an error means "the operation definitely did not happen" is for the caller's
    error table; the notes below say what replog knows when it sends each code.
    """

    # Definite: the request was refused before anything was written.
    NOT_LEADER = "NOT_LEADER"  # this broker does not lead the partition (or leader unknown)
    NOT_ENOUGH_REPLICAS = "NOT_ENOUGH_REPLICAS"  # acks=all refused: ISR < min.insync.replicas
    UNKNOWN_PARTITION = "UNKNOWN_PARTITION"  # no such key on this broker / in the cluster
    OFFSET_OUT_OF_RANGE = "OFFSET_OUT_OF_RANGE"  # fetch offset above the LEO (or negative)
    INVALID_REQUEST = "INVALID_REQUEST"  # malformed frame, bad or missing field
    UNKNOWN_REQUEST_TYPE = "UNKNOWN_REQUEST_TYPE"  # "type" is not one of REQUEST_TYPES
    BROKER_NOT_AVAILABLE = "BROKER_NOT_AVAILABLE"  # node is starting or shutting down
    FENCED_EPOCH = "FENCED_EPOCH"  # request carries a leader epoch older than this node's
    UNKNOWN_LEADER_EPOCH = "UNKNOWN_LEADER_EPOCH"  # request carries a newer leader epoch
    STALE_CONTROLLER_EPOCH = "STALE_CONTROLLER_EPOCH"  # request from a deposed controller
    STALE_ISR_VERSION = "STALE_ISR_VERSION"  # AlterIsr based on an outdated ISR
    # Indeterminate: the record was appended to the leader's log, then:
    REQUEST_TIMED_OUT = "REQUEST_TIMED_OUT"  # the HW did not pass it in time; may commit
    LEADERSHIP_LOST = "LEADERSHIP_LOST"  # this broker stopped leading before the HW passed
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = "NOT_ENOUGH_REPLICAS_AFTER_APPEND"  # committed with
    # an ISR smaller than min.insync.replicas (Kafka reports this as an error too)


# Codes for which the broker guarantees the write was NOT appended.
DEFINITE_PRODUCE_ERRORS = frozenset(
    {
        ErrorCode.NOT_LEADER,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.UNKNOWN_PARTITION,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.UNKNOWN_REQUEST_TYPE,
        ErrorCode.BROKER_NOT_AVAILABLE,
    }
)

# Requests a broker answers (clients, admin, peers, controller) and the controller answers.
CLIENT_REQUESTS = ("metadata", "produce", "fetch", "list_offsets")
ADMIN_REQUESTS = ("replica_states", "dump")
PEER_REQUESTS = ("replica_fetch", "offsets_for_leader_epoch")
CONTROLLER_TO_BROKER = ("leader_and_isr",)
BROKER_TO_CONTROLLER = ("heartbeat", "alter_isr")
REQUEST_TYPES = frozenset(
    CLIENT_REQUESTS + ADMIN_REQUESTS + PEER_REQUESTS + CONTROLLER_TO_BROKER + BROKER_TO_CONTROLLER
)


class FrameError(ValueError):
    """A frame that cannot be decoded; the connection it came from must be closed."""


def encode(msg: Message) -> bytes:
    """One frame for `msg`; raises `FrameError` if it would exceed `MAX_FRAME_BYTES`."""
    body = json.dumps(msg, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME_BYTES:
        raise FrameError(
            f"message of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte frame limit; "
            "ask for fewer records"
        )
    return HEADER.pack(len(body)) + body


def decode_length(header: bytes) -> int:
    """The body length announced by a 4-byte header; `FrameError` if out of bounds."""
    if len(header) != HEADER.size:
        raise FrameError(f"truncated frame header: expected 4 bytes, got {len(header)}")
    (length,) = HEADER.unpack(header)
    if length == 0 or length > MAX_FRAME_BYTES:
        raise FrameError(
            f"frame length {length} is outside 1..{MAX_FRAME_BYTES}; "
            "frames are a uint32 big-endian length followed by a JSON object"
        )
    return int(length)


def decode_body(body: bytes) -> Message:
    """The JSON object in a frame body; `FrameError` if it is not one."""
    try:
        msg = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise FrameError(f"frame body is not UTF-8 JSON: {e}") from e
    if not isinstance(msg, dict):
        raise FrameError(f"frame body must be a JSON object, got {type(msg).__name__}")
    return msg


def read_frame_blocking(read_exactly: Callable[[int], bytes]) -> Message:
    """One frame read through ``read_exactly(n)`` (exactly ``n`` bytes, or it raises):
    the header, then the body it announces; `FrameError` on a bad one. The asyncio
    servers and links read with `replog.net.read_frame`."""
    length = decode_length(read_exactly(HEADER.size))
    return decode_body(read_exactly(length))


def error_reply(req_id: object, code: ErrorCode, message: str) -> Message:
    """The response for a failed request."""
    return {"id": req_id, "error": str(code), "message": message}


class FieldError(ValueError):
    """A request field is missing or has the wrong type (answered with INVALID_REQUEST)."""


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def field_int(
    msg: Message, name: str, default: int | None = None, lo: int = INT64_MIN, hi: int = INT64_MAX
) -> int:
    """An integer field of a request within ``[lo, hi]`` (bools are not integers here)."""
    v = msg.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise FieldError(f"field {name!r} must be an integer, got {v!r:.80}")
    if not lo <= v <= hi:
        raise FieldError(f"field {name!r} must be within {lo}..{hi}, got {v!r:.80}")
    return v


def field_str(msg: Message, name: str, default: str | None = None) -> str:
    """A string field of a request."""
    v = msg.get(name, default)
    if not isinstance(v, str):
        raise FieldError(f"field {name!r} must be a string, got {v!r}")
    return v


def field_list(msg: Message, name: str) -> list[Any]:
    """A list field of a request."""
    v = msg.get(name)
    if not isinstance(v, list):
        raise FieldError(f"field {name!r} must be a list, got {v!r}")
    return v


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` → ``(host, port)``; ValueError with the expected form otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"address {address!r} must look like 'host:port', e.g. 'n1:9092'")
    return host, int(port)
