"""`yilian hl7`: the HL7 v2 feed as IT staff run it: listen over MLLP, send a file of
messages, list what arrived and replay what failed.

`listen` and `replay` run the same composition as `serve` (the app's lifespan: repository,
router, access policy, audit trail), so a message behaves the same whichever way it comes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yilian.cli.database import check_url, with_repository
from yilian.cli.hl7_send import send_file
from yilian.cli.keys import settings_with_codec
from yilian.cli.options import ConfigOption, DbOption, resolve_settings
from yilian.cli.serve import mllp_server, prepared_settings, within_app
from yilian.config import Settings
from yilian.feeds.hl7_intake import Hl7Intake
from yilian.store.feed_log import FEED_STATUSES, FeedMessage, FeedMessageQuery, FeedStatus

__all__ = ["hl7_app"]

hl7_app = typer.Typer(
    help="HL7 v2 feeds: listen over MLLP, send a file of messages, list kept messages, replay failed ones.",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)
BEIJING = timezone(timedelta(hours=8))
T = TypeVar("T")


@hl7_app.command("listen")
def listen(
    port: Annotated[int, typer.Option(help="MLLP port (2575 is HL7's registered port)")] = 2575,
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: setting hl7_host, else host)")
    ] = None,
    tls_cert: Annotated[str | None, typer.Option(help="PEM certificate: MLLP over TLS")] = None,
    tls_key: Annotated[str | None, typer.Option(help="PEM private key of --tls-cert")] = None,
    tls_client_ca: Annotated[
        str | None, typer.Option(help="PEM CA bundle: require client certificates it signed")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Receive HL7 v2 over MLLP until interrupted (Ctrl-C), acknowledging each message once
    it is stored.  Facilities map to institutions by the hl7_facilities setting."""
    settings = resolve_settings(
        config,
        db_url=db,
        hl7_host=host,
        hl7_tls_cert=tls_cert,
        hl7_tls_key=tls_key,
        hl7_tls_client_ca=tls_client_ca,
    )
    settings = prepared_settings(settings)

    async def run(intake: Hl7Intake) -> None:
        server = mllp_server(settings, intake, port)
        try:
            bound = await server.start()
        except OSError as exc:
            errors.print(f"[red]cannot listen on port {port}:[/red] {escape(exc.strerror or str(exc))}")
            raise typer.Exit(2) from None
        scheme = "MLLP over TLS" if settings.hl7_tls_cert else "MLLP"
        console.print(
            f"yilian receiving HL7 v2 ({scheme}) on [cyan]{server.host}:{bound}[/cyan]; Ctrl-C stops"
        )
        _announce_facilities(settings)
        try:
            await server.serve_forever()
        finally:
            await server.close()

    try:
        asyncio.run(_with_intake(settings, run))
    except KeyboardInterrupt:
        console.print("stopped")


@hl7_app.command("send")
def send(
    file: Annotated[
        Path,
        typer.Argument(
            help="A file of HL7 v2 messages (one or many, any line endings)", exists=True, dir_okay=False
        ),
    ],
    host: Annotated[str, typer.Option(help="The MLLP listener's host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The MLLP listener's port")] = 2575,
    tls_ca: Annotated[
        str | None, typer.Option(help="PEM CA that signed the listener's certificate: use TLS")
    ] = None,
    tls_cert: Annotated[
        str | None, typer.Option(help="PEM client certificate (when the listener asks for one)")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(help="PEM key of --tls-cert")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each ACK")] = 30.0,
) -> None:
    """Send every message of FILE over MLLP, one at a time, and print each ACK's code."""
    try:
        results = asyncio.run(send_file(file, host, port, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key,
                                        timeout=timeout))  # fmt: skip
    except (OSError, TimeoutError) as exc:
        errors.print(f"[red]cannot send to {host}:{port}:[/red] {escape(str(exc) or type(exc).__name__)}")
        raise typer.Exit(2) from None
    failed = 0
    for result in results:
        style = "green" if result.code in ("AA", "CA") else "red"
        failed += result.code not in ("AA", "CA")
        detail = f" {escape(result.error)}" if result.error else ""
        console.print(f"[{style}]{result.code}[/{style}] {escape(result.control_id)}{detail}")
    console.print(f"{len(results)} sent, {len(results) - failed} accepted, {failed} not")
    raise typer.Exit(1 if failed else 0)


@hl7_app.command("messages")
def messages(
    status: Annotated[
        list[str] | None, typer.Option("--status", help="stored, error or rejected (repeatable)")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Received at or after: 2026-12-04, 2026-12-04T08:00 (Beijing time), or 2h / 3d ago"
        ),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Received before (same forms as --since)")] = None,
    institution: Annotated[
        str | None, typer.Option(help="Only messages stored into this institution")
    ] = None,
    facility: Annotated[
        str | None, typer.Option(help="Only messages from this sending facility (MSH-4)")
    ] = None,
    message_type: Annotated[str | None, typer.Option("--type", help="ADT, or ADT^A01")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 50,
    show: Annotated[
        str | None, typer.Option(help="Show one message whole: its raw text, ACK and error")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """List the HL7 messages kept, newest first, or show one whole."""
    settings, codec = settings_with_codec(config, db)  # the kept bytes are sealed when keys are set
    check_url(settings.database_url)
    if show:
        found = with_repository(settings.database_url, lambda r: r.load_feed_message(show), codec)
        if found is None:
            errors.print(f"[red]no message {escape(show)}[/red]")
            raise typer.Exit(1)
        _show_message(found)
        return
    query = FeedMessageQuery(
        status=_statuses(status),
        since=_instant(since, "--since"),
        until=_instant(until, "--until"),
        institution=institution,
        sending_facility=facility,
        message_type=message_type.upper() if message_type else None,
        limit=max(1, limit),
    )
    found_list = with_repository(settings.database_url, lambda r: r.search_feed_messages(query), codec)
    console = Console()  # sized to the terminal now, not when the module was imported
    if not found_list:
        console.print("no messages match")
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=32)  # what --show and replay take: never elided
    for column in ("received (Beijing)", "status", "type", "facility", "control id", "institution", "error"):
        table.add_column(column)
    for m in found_list:
        style = {"stored": "green", "error": "yellow", "rejected": "red"}[m.status]
        table.add_row(
            m.id, _beijing(m.received), f"[{style}]{m.status} {m.ack_code}[/{style}]", m.message_type,
            m.sending_facility, m.control_id or "", m.institution or "", escape(m.error[:200]),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(found_list)} shown; `yilian hl7 messages --show ID` shows one whole")


@hl7_app.command("replay")
def replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Message ids (from `yilian hl7 messages`)")] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Replay every message with this status (repeatable)")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="With --status: received at or after (as for messages)")
    ] = None,
    limit: Annotated[int, typer.Option(help="With --status: at most this many")] = 1000,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Process kept messages again (after fixing a facility map or a mapping), oldest first,
    and print what became of each."""
    if not ids and not status:
        errors.print("[red]name message ids, or --status error (with --since) to choose them[/red]")
        raise typer.Exit(2)
    settings = prepared_settings(resolve_settings(config, db_url=db))
    chosen_query = FeedMessageQuery(status=_statuses(status), since=_instant(since, "--since"), limit=limit)

    async def run(intake: Hl7Intake) -> list[tuple[str, Any]]:
        chosen = list(ids or [])
        if status:
            found = await intake.repository.search_feed_messages(chosen_query)
            chosen += [m.id for m in reversed(found)]
        return [(message_id, await intake.replay(message_id)) for message_id in chosen]

    outcomes = asyncio.run(_with_intake(settings, run))
    bad = 0
    for message_id, receipt in outcomes:
        if receipt is None:
            bad += 1
            console.print(f"[red]{escape(message_id)}: no such message[/red]")
            continue
        style = "green" if receipt.code == "AA" else "red"
        bad += receipt.code != "AA"
        detail = f" {escape(receipt.error)}" if receipt.error else ""
        console.print(f"[{style}]{receipt.code}[/{style}] {escape(message_id)}{detail}")
    console.print(f"{len(outcomes)} replayed, {len(outcomes) - bad} stored")
    raise typer.Exit(1 if bad else 0)


# -- helpers -------------------------------------------------------------------------------
async def _with_intake(settings: Settings, run: Callable[[Hl7Intake], Awaitable[T]]) -> T:
    async def inside(app: Any) -> T:
        intake: Hl7Intake = app.state.hl7_intake
        return await run(intake)

    return await within_app(settings, inside)


def _announce_facilities(settings: Settings) -> None:
    mapping = settings.hl7_facility_map
    if mapping:
        console.print("facilities: " + ", ".join(f"{k} -> {v}" for k, v in sorted(mapping.items())))
    else:
        console.print(
            "[yellow]no facility is mapped (hl7_facilities): messages will be refused (AR)[/yellow]"
        )
    if settings.hl7_default_institution:
        console.print(f"other facilities -> {settings.hl7_default_institution}")


def _statuses(given: list[str] | None) -> tuple[FeedStatus, ...]:
    out: list[FeedStatus] = []
    for value in given or []:
        if value not in FEED_STATUSES:
            errors.print(
                f"[red]--status must be one of {', '.join(FEED_STATUSES)}, not {escape(value)!r}[/red]"
            )
            raise typer.Exit(2)
        out.append(value)
    return tuple(out)


_AGO = re.compile(r"^(\d+)\s*([mhd])$")


def _instant(text: str | None, option: str) -> str | None:
    """A UTC instant for a time the user wrote in Beijing time (or "2h" ago)."""
    if not text:
        return None
    ago = _AGO.match(text.strip())
    if ago:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[ago.group(2)]
        when = datetime.now(UTC) - timedelta(**{unit: int(ago.group(1))})
    else:
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            errors.print(f"[red]{option} takes a date (2026-12-04), a time (2026-12-04T08:00) or 2h / 3d, "
                         f"not {escape(text)!r}[/red]")  # fmt: skip
            raise typer.Exit(2) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=BEIJING)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _beijing(instant: str) -> str:
    try:
        return datetime.fromisoformat(instant).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return instant


def _show_message(m: FeedMessage) -> None:
    console.print(f"[bold]{m.id}[/bold] {m.message_type} from {escape(m.sending_application)}@"
                  f"{escape(m.sending_facility)}, control id {escape(m.control_id or '-')}")  # fmt: skip
    console.print(f"received {_beijing(m.received)} via {m.channel} ({escape(m.peer)}); last processed "
                  f"{_beijing(m.updated)}; {m.deliveries} deliveries, {m.attempts} attempts")  # fmt: skip
    console.print(f"status [bold]{m.status}[/bold] ({m.ack_code}); institution {m.institution or '-'}")
    if m.error:
        console.print(f"[red]error:[/red] {escape(m.error)}")
    if m.resources:
        console.print("wrote: " + ", ".join(m.resources))
    console.print("[bold]message:[/bold]")
    console.print(escape(_text(m.raw)), highlight=False)
    console.print("[bold]ACK:[/bold]")
    console.print(escape(_text(m.ack)), highlight=False)


def _text(raw: bytes) -> str:
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec).replace("\r", "\n")
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1").replace("\r", "\n")
