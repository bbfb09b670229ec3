"""`/console/interfaces`: the HL7 feed log, one message's raw text and ACK, and replay.

The feed log is operational data outside FHIR; what a user may read of it is `feed_scope`
(console/feed_access.py), the dashboard's rule: their institution's messages, every message
for alliance-level staff, none for patients, researchers and insurers.  A message outside
the scope answers 404, as if it did not exist.  Replay hands the message to the server's own
HL7 intake (`Hl7Intake.replay`, the one `POST /hl7v2` and `yilian hl7 replay` use) with the
user as principal, so the access policy decides the write as for any other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from yilian.console.feed_access import feed_scope
from yilian.console.i18n import N_
from yilian.console.pages import Page
from yilian.console.pages.audit import BadFilter, beijing_instant
from yilian.console.view import ConsoleView
from yilian.feeds.hl7_intake import Receipt
from yilian.fhir.outcome import OutcomeError
from yilian.ingest.hl7 import Hl7Error, decode
from yilian.store.feed_log import FEED_STATUSES, FeedMessage, FeedMessageQuery

__all__ = ["PAGES"]

PAGE_SIZE = 50


def readable(raw: bytes) -> str:
    """A message's bytes as text for display, one segment a line (undecodable bytes shown
    as replacement characters rather than refused: the page must show what arrived)."""
    try:
        text = decode(raw)
    except Hl7Error:
        text = raw.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n\x0b\x1c")


def _utc(text: str, field: str) -> str:
    """A Beijing-time filter as the UTC instant the feed log compares with."""
    return (
        datetime.fromisoformat(beijing_instant(text, field))
        .astimezone(UTC)
        .isoformat(timespec="microseconds")
    )


async def interfaces(view: ConsoleView) -> Response:
    scope = feed_scope(view.principal)
    params = view.request.query_params
    status = params.get("status", "")
    since, until = params.get("since", "").strip(), params.get("until", "").strip()
    before_received, before_id = params.get("before_received", ""), params.get("before_id", "")
    context: dict[str, Any] = {
        "statuses": FEED_STATUSES,
        "chosen_status": status,
        "since": since,
        "until": until,
    }
    if not scope.visible:
        return view.render("interfaces.html", status=403, hidden=True, messages=[], **context)
    try:
        if status and status not in FEED_STATUSES:
            raise BadFilter("status")
        statuses = tuple(s for s in FEED_STATUSES if s == status)
        query = FeedMessageQuery(
            status=statuses,
            since=_utc(since, "since") if since else None,
            until=_utc(until, "until") if until else None,
            institution=scope.institution,
            limit=PAGE_SIZE + 1,
            before=(before_received, before_id) if before_received and before_id else None,
        )
    except BadFilter as bad:
        return view.render("interfaces.html", status=400, bad_filter=str(bad), messages=[], **context)
    try:
        found = await view.router.repository.search_feed_messages(query)
    except OutcomeError:
        found = []  # a store without a feed log
    messages, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    next_link = ""
    if more:
        last = messages[-1]
        kept = {k: v for k, v in (("status", status), ("since", since), ("until", until)) if v}
        next_link = urlencode({**kept, "before_received": last.received, "before_id": last.id})
    first_link = urlencode({k: v for k, v in (("status", status), ("since", since), ("until", until)) if v})
    return view.render(
        "interfaces.html", messages=messages, next_link=next_link, first_link=first_link,
        paged=bool(query.before), **context,
    )  # fmt: skip


async def _visible_message(view: ConsoleView) -> FeedMessage | None:
    scope = feed_scope(view.principal)
    message = await view.router.repository.load_feed_message(view.request.path_params["id"])
    return message if message is not None and scope.allows(message) else None


def _message_page(view: ConsoleView, message: FeedMessage, receipt: Receipt | None = None) -> Response:
    return view.render(
        "interface_message.html",
        message=message,
        raw=readable(message.raw),
        ack=readable(message.ack) if message.ack else "",
        receipt=receipt,
        can_replay=view.console.hl7_intake is not None,
    )


async def message_page(view: ConsoleView) -> Response:
    message = await _visible_message(view)
    if message is None:
        return view.render("interface_missing.html", status=404)
    return _message_page(view, message)


async def replay(view: ConsoleView) -> Response:
    """Process the message again as the user and show what became of it."""
    message = await _visible_message(view)
    intake = view.console.hl7_intake
    if message is None:
        return view.render("interface_missing.html", status=404)
    if intake is None:
        return _message_page(view, message)
    receipt = await intake.replay(message.id, view.principal)
    again = await view.router.repository.load_feed_message(message.id)
    return _message_page(view, again or message, receipt)


PAGES = (
    Page("/interfaces", "interfaces", N_("Interfaces"), interfaces, order=70),
    Page("/interfaces/{id}", "interface-message", N_("HL7 message"), message_page, in_nav=False),
    Page(
        "/interfaces/{id}/replay", "interface-replay", N_("Replay"), replay, in_nav=False, methods=("POST",)
    ),
)
