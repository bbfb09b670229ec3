"""Several workers share a listening socket that `yilian serve` binds; a connection accepted on
it must have Nagle's algorithm off, or every response (written as headers, then body) waits for
the client's delayed ACK, about 40 ms a request."""

from __future__ import annotations

import asyncio
import socket

import pytest

from yilian.cli.serve import listening_socket
from yilian.config import SettingsError


async def _accepted_nodelay(sock: socket.socket) -> int:
    """TCP_NODELAY of the server side of one connection asyncio accepts on `sock`."""
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
    port = sock.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(seen, 10)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_connections_accepted_on_the_served_socket_have_nagle_off() -> None:
    sock = listening_socket("127.0.0.1", 0)
    assert asyncio.run(_accepted_nodelay(sock)) != 0


def test_a_socket_bound_without_naming_tcp_would_keep_nagle_on() -> None:
    """The cause, kept visible: how uvicorn binds for several workers (`socket.socket(family)`)."""
    sock = socket.socket(socket.AF_INET)
    sock.bind(("127.0.0.1", 0))
    assert asyncio.run(_accepted_nodelay(sock)) == 0


def test_a_port_in_use_is_a_settings_error_that_says_what_to_do() -> None:
    taken = listening_socket("127.0.0.1", 0)
    taken.listen()
    with pytest.raises(SettingsError, match="choose another --port"):
        listening_socket("127.0.0.1", taken.getsockname()[1])
    taken.close()
