"""The MLLP listener: HL7 v2 over TCP (or TLS), as hospital interface engines send it.

MLLP (HL7 v2 Minimal Lower Layer Protocol, HL7 v2.5 appendix C) frames each message as
`<VT> message <FS><CR>` and expects an ACK, framed the same way, before the next one.  Each
connection is served in order: a message is acknowledged only once it is stored (or refused),
so a sender that waits for its ACK never loses one.  Bytes outside a frame are skipped;
a frame larger than `max_message_bytes` is refused with AR and the connection closed (what
follows it cannot be trusted to be framed).

MLLP authenticates nobody.  With `tls_client_ca` set, every client must present a
certificate that CA signed, and a message is only accepted from a certificate whose common
name is the message's sending facility (MSH-4) or the code of the institution it maps to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass

from yilian.feeds.hl7_intake import Hl7Intake

__all__ = ["END_BLOCK", "START_BLOCK", "MllpServer", "TlsSettings", "frame", "server_tls_context"]

log = logging.getLogger(__name__)

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"


def frame(message: bytes) -> bytes:
    return START_BLOCK + message + END_BLOCK


@dataclass(frozen=True, slots=True)
class TlsSettings:
    cert_file: str
    key_file: str
    client_ca_file: str = ""  # set: client certificates are required and checked


def server_tls_context(tls: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(tls.client_ca_file)
    return context


class MllpServer:
    """Serves MLLP connections into an `Hl7Intake` until `close()`."""

    def __init__(
        self,
        intake: Hl7Intake,
        host: str,
        port: int,
        *,
        tls: TlsSettings | None = None,
        max_message_bytes: int = 10 * 1024 * 1024,
        reuse_port: bool = False,
    ) -> None:
        self.intake = intake
        self.host = host
        self.port = port
        self.tls = tls
        self.max_message_bytes = max_message_bytes
        self.reuse_port = reuse_port  # several server workers share the port (Linux SO_REUSEPORT)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        context = server_tls_context(self.tls) if self.tls else None
        self._server = await asyncio.start_server(
            self._serve,
            self.host,
            self.port,
            ssl=context,
            limit=self.max_message_bytes + 16,
            reuse_port=self.reuse_port or None,
        )
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("MLLP listening on %s:%d%s", self.host, bound, " (TLS)" if context else "")
        return bound

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = _peer(writer)
        certified = _certificate_name(writer)
        try:
            while True:
                try:
                    block = await reader.readuntil(END_BLOCK)
                except asyncio.IncompleteReadError as eof:
                    if eof.partial.strip(b"\r\n\x00 \x1c"):
                        log.warning("MLLP %s closed mid-message (%d bytes unframed)", peer, len(eof.partial))
                    return
                except asyncio.LimitOverrunError:
                    refusal = await self.intake.refuse(
                        f"the message is larger than {self.max_message_bytes} bytes (hl7_max_message_bytes)",
                        channel="mllp",
                        peer=peer,
                    )
                    writer.write(frame(refusal))
                    await writer.drain()
                    return
                # Bytes before <VT> are line noise; a frame without <VT> is still answered.
                start = block.rfind(START_BLOCK)
                message = block[start + 1 : -len(END_BLOCK)]
                delivery = await self.intake.receive(message, channel="mllp", peer=peer, certified=certified)
                writer.write(frame(delivery.ack))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        except Exception:  # one connection's failure never stops the listener
            log.exception("MLLP connection from %s failed", peer)
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address or "unknown")


def _certificate_name(writer: asyncio.StreamWriter) -> str | None:
    """The common name of the client's verified certificate, if it presented one."""
    cert = writer.get_extra_info("peercert")
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
