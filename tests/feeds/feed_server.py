"""A real yilian server with its MLLP listener, on each backend, for the feed tests; and a
small MLLP client that sends a message and returns the ACK."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.serving import _register, server_settings, serving_app

from yilian.api.app import create_app
from yilian.cli.serve import with_mllp_listener
from yilian.store.codec import PLAIN, ResourceCodec
from yilian.store.factory import open_repository
from yilian.transports.mllp import END_BLOCK, frame

__all__ = ["FACILITIES", "INSTITUTIONS", "FeedServer", "feed_server", "mllp_send", "msh"]

INSTITUTIONS = (("county-hospital", "青溪县人民医院"), ("dongshan-thc", "青溪县东山镇卫生院"))
FACILITIES = "QXXRMYY=county-hospital,DSZWSY=dongshan-thc"


@dataclass(frozen=True)
class FeedServer:
    root: str  # http://127.0.0.1:PORT
    mllp_port: int
    app: Any

    @property
    def fhir(self) -> str:
        return f"{self.root}/fhir"


@contextmanager
def feed_server(
    url: str, *, register: bool = True, codec: ResourceCodec = PLAIN, **settings: Any
) -> Iterator[FeedServer]:
    """A server on `url` whose facilities map as FACILITIES (unless overridden), with the
    MLLP listener on a free port; institutions registered once per store; its repository
    stores through `codec` (encryption keys)."""
    if register:
        _register(url, INSTITUTIONS)
    config = server_settings(url, **{"hl7_facilities": FACILITIES, **settings})
    app = create_app(config, open_repository(url, codec=codec))
    with_mllp_listener(app, config)
    with serving_app(app) as root:
        yield FeedServer(root, app.state.mllp_port, app)


def mllp_send(
    port: int, *messages: bytes, context: ssl.SSLContext | None = None, timeout: float = 30
) -> list[bytes]:
    """Send each message framed on one connection, waiting for each ACK; returns the ACKs
    unframed."""
    acks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        sock = context.wrap_socket(raw, server_hostname="localhost") if context else raw
        buffer = b""
        for message in messages:
            sock.sendall(frame(message))
            while END_BLOCK not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed before the ACK; got {buffer!r}")
                buffer += chunk
            block, _, buffer = buffer.partition(END_BLOCK)
            acks.append(block[block.find(b"\x0b") + 1 :])
    return acks


def msh(
    control_id: str,
    message_type: str = "ADT^A01^ADT_A01",
    *,
    facility: str = "QXXRMYY",
    version: str = "2.4",
    charset: str = "UNICODE UTF-8",
) -> str:
    return (
        f"MSH|^~\\&|HIS|{facility}|YILIAN|ALLIANCE|20261204083000||{message_type}|{control_id}|P|{version}"
        f"||||||{charset}"
    )
