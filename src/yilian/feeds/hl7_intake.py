"""`Hl7Intake`: a received HL7 v2 message becomes FHIR through the router, and is kept.

Every edge that receives HL7 (the MLLP listener, `POST /hl7v2`, `yilian hl7 replay`) hands the
bytes here and sends back the ACK it gets.  For each message:

1. decode and parse it (`ingest.hl7`); what cannot be read is answered AR and still kept;
2. a message stored before (same sender, control id and bytes: MSH-4, MSH-10) is answered
   with the ACK it got then, and nothing is written again (a re-sent message is the sender's
   retry, not new data);
3. the sending facility chooses the institution (`hl7_facilities`, else
   `hl7_default_institution`); an unmapped facility is refused;
4. the message maps to one transaction Bundle, which the router runs with the caller's
   principal (the token's on HTTP; on MLLP, which has no authentication, a system principal
   for that institution), so the access policy and the audit trail see HL7 writes as they see
   FHIR ones, and a message is stored whole or not at all;
5. the message, its status, ACK, error and the resources it wrote go to the feed log (on
   PostgreSQL committed asynchronously: the FHIR writes of step 4 are already durable, and
   losing a log row in a crash only means a re-send is processed again, idempotently).

Nothing a sender does raises out of `receive`: a failure is an AE or AR with a reason.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from yilian.auth.principal import Principal, SmartScope
from yilian.fhir.outcome import Outcome, OutcomeError
from yilian.ingest.hl7 import (
    CHARSETS,
    Header,
    Hl7Error,
    MappingOptions,
    ack,
    batch_ack,
    decode,
    parse,
    split,
    to_bundle,
)
from yilian.ingest.hl7.charset import decode_with_codec
from yilian.ingest.hl7.errors import APPLICATION_INTERNAL_ERROR
from yilian.router import FhirRouter
from yilian.router.types import FhirRequest
from yilian.store.base import Repository
from yilian.store.feed_log import FeedMessage, FeedStatus

__all__ = ["Delivery", "Hl7Intake", "IntakeSettings", "Receipt", "interface_principal"]

log = logging.getLogger(__name__)

UNKNOWN_KEY = "204"  # HL7 table 0357: unknown key identifier (here: the sending facility)
DUPLICATE_KEY = "205"  # table 0357: duplicate key identifier (an identifier two records share)


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    facilities: Mapping[str, str]  # MSH-4 namespace id (upper case) -> institution code
    default_institution: str | None = None
    timezone: str = "+08:00"


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one message."""

    code: str  # AA, AE, AR
    status: FeedStatus
    message_id: str
    error: str = ""
    duplicate: bool = False
    resources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """The answer to one delivery: the ACK bytes to send back (a batch ACK for a batch) and a
    receipt per message."""

    ack: bytes
    receipts: tuple[Receipt, ...]
    readable: bool = True  # False: no MSH at all (HTTP answers 400 rather than 200)


def interface_principal(institution: str, peer: str) -> Principal:
    """Who an MLLP message writes as: the institution's interface, a system client limited to
    that institution's partition by the router's base (MLLP itself authenticates nobody; TLS
    client certificates, when configured, decide who may connect)."""
    return Principal(
        subject=f"hl7-interface:{institution}",
        role="system",
        institution=institution,
        scopes=(SmartScope("system", "*", frozenset(("c", "r", "u", "s"))),),
        claims={"peer": peer},
    )


class Hl7Intake:
    def __init__(self, repository: Repository, router: FhirRouter, settings: IntakeSettings) -> None:
        self.repository = repository
        self.router = router
        self.settings = settings
        self._facilities = {k.upper(): v for k, v in settings.facilities.items()}
        sign = -1 if settings.timezone.startswith("-") else 1
        hours, _, minutes = settings.timezone.lstrip("+-").partition(":")
        # ACKs carry local time (MSH-7), as the sender's own messages do
        self._zone = timezone(sign * timedelta(hours=int(hours or 0), minutes=int(minutes or 0)))

    def institution_for(self, facility: str) -> str | None:
        return self._facilities.get(facility.upper(), self.settings.default_institution or None)

    async def receive(
        self,
        raw: bytes,
        *,
        channel: str,
        peer: str,
        principal: Principal | None = None,
        certified: str | None = None,
    ) -> Delivery:
        """Process one delivery (a message or a batch) and answer it.  `certified` is the
        common name of the sender's verified TLS client certificate: a message is then only
        accepted for a facility that name stands for (the facility itself or its institution)."""
        try:
            text, codec = decode_with_codec(raw)
            batch = split(text)
        except Hl7Error as failed:
            receipt = await self._keep_unreadable(raw, failed, channel, peer)
            answer = ack(failed.header, "AR", failed, control_id=_new_id(), now=self._local_now())
            return Delivery(self._encode(answer, failed.header), (receipt,), failed.header is not None)
        receipts: list[Receipt] = []
        acks: list[str] = []
        for message_text in batch.messages:
            # a batch's messages are kept one by one, each in the charset the batch came in
            message_raw = raw if batch.header is None else message_text.encode(codec, "replace")
            receipt, ack_text, header = await self._one(
                message_raw, message_text, channel, peer, principal, certified=certified
            )
            receipts.append(receipt)
            acks.append(ack_text)
        if batch.header is None:
            return Delivery(self._encode(acks[0], header), tuple(receipts))
        answer = batch_ack(batch.header, acks, control_id=_new_id(), now=self._local_now())
        return Delivery(answer.encode(codec, "replace"), tuple(receipts))

    async def refuse(self, reason: str, *, channel: str, peer: str) -> bytes:
        """Answer AR to a delivery that could not even be read whole (too large), and log it."""
        failed = Hl7Error.reject(APPLICATION_INTERNAL_ERROR, reason)
        await self._finish(b"", None, channel, peer, None, failed, (), None)
        return self._encode(ack(None, "AR", failed, control_id=_new_id(), now=self._local_now()), None)

    async def replay(self, message_id: str, principal: Principal | None = None) -> Receipt | None:
        """Process a kept message again (after a mapping or facility-map fix), whatever its
        status; its row records the new outcome and one more attempt."""
        kept = await self.repository.load_feed_message(message_id)
        if kept is None:
            return None
        try:
            text = decode(kept.raw)
            messages = split(text).messages
        except Hl7Error as failed:
            row = replace(kept, status="rejected", ack_code="AR", error=failed.text, updated=_now(),
                          attempts=kept.attempts + 1)  # fmt: skip
            await self.repository.save_feed_message(row)
            return Receipt("AR", "rejected", kept.id, failed.text)
        receipt, _, _ = await self._one(kept.raw, messages[0], kept.channel, kept.peer, principal, kept=kept)
        return receipt

    # -- one message ------------------------------------------------------------------------
    async def _one(
        self,
        raw: bytes,
        text: str,
        channel: str,
        peer: str,
        principal: Principal | None,
        *,
        kept: FeedMessage | None = None,
        certified: str | None = None,
    ) -> tuple[Receipt, str, Header | None]:
        try:
            message = parse(text)
        except Hl7Error as failed:
            if kept is None and failed.header is not None:
                earlier, answer = await self._earlier(raw, failed.header, channel, peer)
                if answer is not None:
                    return answer
                kept = earlier
            return await self._finish(raw, failed.header, channel, peer, None, failed, (), kept)
        header = message.header
        if kept is None:
            kept, answer = await self._earlier(raw, header, channel, peer)
            if answer is not None:
                return answer
        institution = self.institution_for(header.sending_facility)
        if institution is None:
            problem = Hl7Error.reject(
                UNKNOWN_KEY,
                f"sending facility {header.sending_facility!r} is not mapped to an institution: add it to "
                "the hl7_facilities setting (FACILITY=institution-code) or set hl7_default_institution",
                "MSH-4",
            ).with_header(header)
            return await self._finish(raw, header, channel, peer, None, problem, (), kept)
        if (
            certified is not None
            and certified.upper() != header.sending_facility.upper()
            and certified != institution
        ):
            problem = Hl7Error.reject(
                UNKNOWN_KEY,
                f"the client certificate {certified!r} may not send for facility {header.sending_facility!r}",
                "MSH-4",
            ).with_header(header)
            return await self._finish(raw, header, channel, peer, None, problem, (), kept)
        try:
            mapped = to_bundle(message, institution, self._options(institution))
            written = await self._submit(mapped.bundle, institution, principal, peer)
        except Hl7Error as unmappable:
            return await self._finish(
                raw, header, channel, peer, institution, unmappable.with_header(header), (), kept
            )
        except OutcomeError as refused:
            problem = _refusal(refused).with_header(header)
            return await self._finish(raw, header, channel, peer, institution, problem, (), kept)
        except Exception:  # a defect of ours must not take the listener down; the sender may retry
            log.exception("HL7 message %s from %s failed", header.control_id, header.sending_facility)
            problem = Hl7Error.content(
                APPLICATION_INTERNAL_ERROR, "yilian could not process this message; it is kept for replay"
            ).with_header(header)
            return await self._finish(raw, header, channel, peer, institution, problem, (), kept)
        return await self._finish(
            raw, header, channel, peer, institution, None, written, kept, warnings=mapped.warnings
        )

    async def _earlier(
        self, raw: bytes, header: Header, channel: str, peer: str
    ) -> tuple[FeedMessage | None, tuple[Receipt, str, Header | None] | None]:
        """What the log knows of this very message (same sender, control id and bytes):
        (the row to update, None) for a retry of a message that failed; (None, its ACK again)
        for one stored before, nothing written twice; (None, None) for a new message.  A
        control id reused for other bytes is a new message: senders reset their counters,
        and refusing their messages would stop the feed, while the writes are idempotent."""
        if not header.control_id:
            return None, None
        numbered = await self.repository.find_feed_messages(header.sending_facility, header.control_id)
        same = [m for m in numbered if m.raw == raw]
        if not same:
            return None, None
        earlier = same[0]
        if earlier.status == "stored":
            await self.repository.count_feed_delivery(earlier.id, _now())
            receipt = Receipt("AA", "stored", earlier.id, duplicate=True, resources=earlier.resources)
            return None, (receipt, earlier.ack.decode(_codec(header), "replace"), header)
        return earlier, None

    def _options(self, institution: str) -> MappingOptions:
        authorities = {facility: code for facility, code in self._facilities.items()}
        return MappingOptions(timezone=self.settings.timezone, authorities=authorities)

    async def _submit(
        self, bundle: dict[str, Any], institution: str, principal: Principal | None, peer: str
    ) -> tuple[str, ...]:
        who = principal or interface_principal(institution, peer)
        response = await self.router.handle(
            FhirRequest(method="POST", path=(), partition=institution, body=bundle, principal=who)
        )
        written = []
        for entry in (response.body or {}).get("entry", []):
            location = (entry.get("response") or {}).get("location", "")
            if location:
                written.append("/".join(location.split("/")[:2]))
        return tuple(written)

    async def _finish(
        self,
        raw: bytes,
        header: Header | None,
        channel: str,
        peer: str,
        institution: str | None,
        failed: Hl7Error | None,
        written: tuple[str, ...],
        kept: FeedMessage | None,
        *,
        warnings: tuple[str, ...] = (),
    ) -> tuple[Receipt, str, Header | None]:
        """Keep the message with its fate and answer it.  A stored message's `error` holds
        what the mapping had to leave out, so IT staff see it beside the message."""
        code = "AA" if failed is None else failed.ack_code
        status: FeedStatus = "stored" if failed is None else ("error" if code == "AE" else "rejected")
        ack_text = ack(header, code, failed, control_id=_new_id(), now=self._local_now())
        now = _now()
        row = FeedMessage(
            id=kept.id if kept else _new_id(),
            received=kept.received if kept else now,
            updated=now,
            channel=channel,
            peer=peer,
            sending_application=header.sending_application if header else "",
            sending_facility=header.sending_facility if header else "",
            control_id=(header.control_id or None) if header else None,
            message_type=header.message_type if header else "",
            version=header.version if header else "",
            institution=institution,
            status=status,
            ack_code=code,
            error=_describe(failed)
            if failed
            else ("stored without: " + "; ".join(warnings) if warnings else ""),
            raw=raw,
            ack=self._encode(ack_text, header),
            resources=written,
            deliveries=(kept.deliveries + 1) if kept else 1,
            attempts=(kept.attempts + 1) if kept else 1,
        )
        await self.repository.save_feed_message(row)
        return Receipt(code, status, row.id, row.error, resources=written), ack_text, header

    async def _keep_unreadable(self, raw: bytes, failed: Hl7Error, channel: str, peer: str) -> Receipt:
        receipt, _, _ = await self._finish(raw, failed.header, channel, peer, None, failed, (), None)
        return receipt

    def _local_now(self) -> datetime:
        return datetime.now(self._zone)

    @staticmethod
    def _encode(text: str, header: Header | None) -> bytes:
        return text.encode(_codec(header), "replace")


def _codec(header: Header | None) -> str:
    """The ACK goes back in the charset the message came in (MSH-18)."""
    if header is None or not header.charset:
        return "utf-8"
    return str(CHARSETS.get(header.charset.upper(), "utf-8"))


def _refusal(refused: OutcomeError) -> Hl7Error:
    """The server's refusal of the message's Bundle as an ACK error: a policy refusal (the
    caller may not write there) is AR, an identifier that matches several stored records is
    AE 205 (the data's problem, for a person to resolve), a resource the server finds invalid
    is AE."""
    text = str(refused)
    if refused.kind in (Outcome.FORBIDDEN, Outcome.UNAUTHORIZED, Outcome.NOT_FOUND):
        return Hl7Error.reject(APPLICATION_INTERNAL_ERROR, f"refused by the server: {text}")
    if refused.kind is Outcome.PRECONDITION_FAILED:  # the message's identifier names 2+ records
        return Hl7Error.content(
            DUPLICATE_KEY, f"an identifier in the message is shared by more than one stored record: {text}"
        )
    return Hl7Error.content(APPLICATION_INTERNAL_ERROR, f"the server could not store what it maps to: {text}")


def _describe(failed: Hl7Error) -> str:
    return f"{failed.location}: {failed.text}" if failed.location else failed.text


def _new_id() -> str:
    return uuid.uuid4().hex


def _now_dt() -> datetime:
    return datetime.now(UTC)


def _now() -> str:
    return _now_dt().isoformat(timespec="microseconds")
