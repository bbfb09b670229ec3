"""The values of the feed log: every message a feed received, kept as it came.

Interface engines (Mirth, Rhapsody) give IT staff one thing above all: every message that
arrived, byte for byte, with what became of it, so that a failed message can be found, its
error read, the mapping fixed and the message replayed.  The store keeps one row per message
(indexed by sender and control id, so a re-sent message is recognised and answered from its
row);
`feeds.hl7_intake` writes them, the CLI and the console read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FEED_STATUSES", "FeedMessage", "FeedMessageQuery", "FeedStatus"]

FeedStatus = Literal["stored", "error", "rejected"]
FEED_STATUSES: tuple[FeedStatus, ...] = ("stored", "error", "rejected")
"""stored: its resources were written (ACK AA); error: understood but not stored (AE: a data
error or a refusal by the server); rejected: not understood or not accepted (AR: no usable
header, an unsupported type or version, an unknown facility)."""


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One received message and its fate.  `raw` is exactly what arrived (after transport
    framing); `ack` the answer sent; `resources` the `Type/id`s its transaction wrote."""

    id: str
    received: str  # FHIR instant (UTC) of the first delivery
    updated: str  # FHIR instant of the last processing (a replay, a re-delivery)
    channel: str  # "mllp", "http", "file"
    peer: str  # remote address, certificate subject or the user who posted it
    sending_application: str
    sending_facility: str
    control_id: str | None  # MSH-10; None when the header could not be read
    message_type: str  # "ADT^A01"; "" when unknown
    version: str
    institution: str | None  # the partition it was stored into
    status: FeedStatus
    ack_code: str  # AA, AE, AR
    error: str
    raw: bytes
    ack: bytes
    resources: tuple[str, ...] = ()
    deliveries: int = 1  # how many times it arrived
    attempts: int = 1  # how many times it was processed (deliveries after an error, replays)


@dataclass(frozen=True, slots=True)
class FeedMessageQuery:
    """Messages newest first; every field given narrows the search.  `before` pages: the
    (received, id) of the last message of the previous page."""

    status: tuple[FeedStatus, ...] = ()
    since: str | None = None  # FHIR instant, inclusive
    until: str | None = None  # exclusive
    institution: str | None = None
    sending_facility: str | None = None
    message_type: str | None = None  # "ADT" or "ADT^A01"
    control_id: str | None = None
    ids: tuple[str, ...] = field(default=())
    limit: int = 50
    before: tuple[str, str] | None = None
