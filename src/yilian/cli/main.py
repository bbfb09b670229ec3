"""The `yilian` command: serve, demo, and institution registration.

This module is the composition root: it resolves `Settings` (defaults < TOML file < `YILIAN_*`
environment < command-line options), opens the repository (cli/database.py) and hands
both to the api or the alliance functions.  It holds no FHIR or domain logic of its own.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yilian import __version__
from yilian.alliance import list_institutions, register_institution, remove_institution
from yilian.auth.dev_issuer import DevelopmentIssuer
from yilian.cli.audit import audit_app
from yilian.cli.database import check_url, with_repository
from yilian.cli.demo import (
    DemoFeeds,
    LoadedInstitution,
    demo_database,
    demo_facilities,
    demo_tokens,
    load_sample,
    with_demo_audit_key,
    write_demo_feeds,
)
from yilian.cli.export import export_command
from yilian.cli.hl7 import hl7_app
from yilian.cli.import_group import import_app
from yilian.cli.keys import announce_encryption, keys_app, with_demo_keys
from yilian.cli.options import ConfigOption, DbOption, resolve_settings
from yilian.cli.serve import announce_auth, check_auth, run_server
from yilian.cli.synth import synth_command
from yilian.cli.token import token_command
from yilian.config import Settings, SettingsError
from yilian.store.base import Repository

__all__ = ["app"]

app = typer.Typer(
    name="yilian",
    help="yilian: a FHIR R4 server for regional medical alliances (医联体).",
    no_args_is_help=True,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"yilian {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    """yilian: a FHIR R4 server for regional medical alliances (医联体).  Settings and their
    YILIAN_* variables: docs/configuration.md."""


def _default(name: str) -> str:
    """`(default: ...)` for an option whose default comes from the settings (so a config file
    or YILIAN_* variable can set it; the option itself defaults to "not given")."""
    value = getattr(Settings(), name)
    return f"(default: {value if value != '' else 'under data_dir'}; setting {name})"


app.command("token")(token_command)
app.command("export")(export_command)
app.command("synth")(synth_command)
institution_app = typer.Typer(help="Register, list and remove member institutions.", no_args_is_help=True)
app.add_typer(institution_app, name="institution")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(hl7_app, name="hl7")
app.add_typer(import_app, name="import")

console = Console()
errors = Console(stderr=True)


@app.command()
def serve(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help=f"Database URL: sqlite:///path.db or postgresql://user@host/db {_default('db_url')}"
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help=f"Interface to listen on {_default('host')}")] = None,
    port: Annotated[int | None, typer.Option(help=f"TCP port {_default('port')}")] = None,
    workers: Annotated[int | None, typer.Option(help=f"Worker processes {_default('workers')}")] = None,
    log_level: Annotated[
        str | None, typer.Option(help=f"critical, error, warning, info, debug {_default('log_level')}")
    ] = None,
    auth: Annotated[
        str | None, typer.Option("--auth", help=f"on, or off (local development only) {_default('auth')}")
    ] = None,
    dev_issuer: Annotated[
        bool | None,
        typer.Option(
            "--dev-issuer/--no-dev-issuer",
            help="Trust the development issuer (tokens from `yilian token`); local use only",
            show_default=False,
        ),
    ] = None,
    hl7_port: Annotated[
        int | None, typer.Option(help=f"Also receive HL7 v2 over MLLP on this port {_default('hl7_port')}")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the FHIR API at http://HOST:PORT/fhir/ (and HL7 v2 at /hl7v2, and over MLLP
    with --hl7-port)."""
    settings = resolve_settings(
        config,
        db_url=db,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        auth=auth,
        auth_dev_issuer=dev_issuer,
        hl7_port=hl7_port,
    )
    check_url(settings.database_url)
    _check_auth(settings)
    with_repository(settings.database_url, _reachable)  # one line now, not a worker's traceback
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"yilian serving [bold]{settings.database_url}[/bold] at [cyan]{base}/fhir/[/cyan]")
    announce_auth(settings, console)
    if settings.hl7_port:
        tls = " over TLS" if settings.hl7_tls_cert else ""
        console.print(
            f"HL7 v2 over MLLP{tls} on [cyan]{settings.hl7_host or settings.host}:{settings.hl7_port}[/cyan]"
        )
    settings = with_demo_audit_key(with_demo_keys(settings, create=False), create=False)
    announce_encryption(settings, console)
    try:
        run_server(settings)
    except SettingsError as exc:
        errors.print("[red]cannot serve:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None


async def _reachable(repository: Repository) -> None:
    """Nothing: opening the repository (and bringing its schema up to date) is the check."""


def _check_auth(settings: Settings) -> None:
    try:
        check_auth(settings)
    except SettingsError as exc:
        errors.print("[red]invalid settings:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None


@app.command()
def demo(
    db: Annotated[
        str | None, typer.Option("--db", help="SQLite file to create or reuse (default: data_dir/demo.db)")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    hl7_port: Annotated[int, typer.Option(help="MLLP port for HL7 v2 (0: none)")] = 2575,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server after loading the sample")
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Load a synthetic alliance into an embedded SQLite file and serve it (auth on, with
    ready-made development tokens), with HL7 v2 over MLLP and files to try the feeds with."""
    settings = resolve_settings(
        config, host=host, port=port, workers=1, auth_dev_issuer=True, hl7_port=hl7_port
    )
    settings = settings.replace(
        db_url=db or demo_database(settings), hl7_facilities=settings.hl7_facilities or demo_facilities()
    )
    settings = with_demo_audit_key(with_demo_keys(settings))
    _check_auth(settings)
    base = f"http://{settings.host}:{settings.port}"
    codec = announce_encryption(settings, console)
    loaded = with_repository(settings.database_url, lambda repo: load_sample(repo, f"{base}/fhir"), codec)

    table = Table(title="Sample alliance (synthetic data)")
    table.add_column("institution", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("resources loaded", justify="right")
    for inst in loaded:
        table.add_row(inst.code, escape(inst.name), str(inst.entries or "already there"))
    console.print(table)
    lines = [
        ("Alliance-wide FHIR base", f"{base}/fhir/"),
        *((f"FHIR base of {inst.code}", f"{base}/fhir/{inst.code}/") for inst in loaded),
        ("OpenAPI docs", f"{base}/docs"),
        ("Console (web application)", f"{base}/console/"),
        ("Database", settings.database_url),
    ]
    for label, value in lines:
        console.print(f"{label + ':':<34} [cyan]{escape(value)}[/cyan]", soft_wrap=True)
    _print_demo_console(settings, base)
    _print_demo_auth(settings, loaded, base)
    _print_demo_feeds(settings, write_demo_feeds(settings.data_path))
    if serve_after:
        run_server(settings)


def _print_demo_console(settings: Settings, base: str) -> None:
    """How to log in to the console (its login page lists the demo users)."""
    if settings.auth == "off":
        console.print(f"Console: open {base}/console/ (authentication is off: no login)", soft_wrap=True)
        return
    console.print(
        f"Console: open {base}/console/login and pick a demo user (a doctor at each institution, "
        "a records officer, the system administrator), or paste one of the tokens below.",
        soft_wrap=True,
        highlight=False,
    )


def _print_demo_auth(settings: Settings, loaded: list[LoadedInstitution], base: str) -> None:
    """Ready-made tokens and curl lines (or the auth-off warning)."""
    announce_auth(settings, console)
    first = loaded[0]
    if settings.auth == "off":
        console.print("Try:")
        console.print(
            f"  curl -sG '{base}/fhir/{first.code}/Patient' --data-urlencode 'family={first.example_family}'",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    try:
        tokens = demo_tokens(DevelopmentIssuer(settings.dev_issuer_key, audience=settings.audience), loaded)
    except ValueError as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    console.print("Development tokens (12 hours; more with `yilian token --help`). Paste into a shell:")
    for t in tokens:
        console.print(f"  # {escape(t.who)}", soft_wrap=True)
        console.print(f"  export {t.name}='{t.token}'", markup=False, highlight=False, soft_wrap=True)
    console.print("Try:")
    for t in tokens:
        data = "".join(f" --data-urlencode '{k}={v}'" for k, v in t.try_query)
        console.print(
            f"  curl -sG -H \"Authorization: Bearer ${t.name}\" '{base}{t.try_path}'{data}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _print_demo_feeds(settings: Settings, feeds: DemoFeeds) -> None:
    """How to try the feeds: the exports that point the CLI at the demo, a file to send over
    MLLP (one message in it is from a facility not yet mapped) and a front sheet to import."""
    console.print("Feeds (the hl7 commands read these two settings):")
    lines = [
        f"export YILIAN_DB_URL='{settings.database_url}'",
        f"export YILIAN_HL7_FACILITIES='{settings.hl7_facilities}'",
    ]
    if settings.hl7_port:
        lines += [
            f"yilian hl7 send {feeds.hl7} --port {settings.hl7_port}",
            "yilian hl7 messages --status rejected",
        ]
    lines.append(f"yilian import frontsheet {feeds.frontsheet} --institution county-hospital")
    for line in lines:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


@institution_app.command("add")
def institution_add(
    code: Annotated[str, typer.Argument(help="Institution code: lowercase letters, digits, hyphens")],
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 青溪县人民医院")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Register an institution: its partition and its Organization resource."""
    settings = resolve_settings(config, db_url=db)
    partition = with_repository(settings.database_url, lambda repo: register_institution(repo, code, name))
    console.print(
        f"registered [bold]{partition.code}[/bold] ({escape(partition.name)}), "
        f"Organization/{partition.organization_id}; FHIR base /fhir/{partition.code}/"
    )


@institution_app.command("list")
def institution_list(db: DbOption = None, config: ConfigOption = None) -> None:
    """List registered institutions."""
    settings = resolve_settings(config, db_url=db)
    partitions = with_repository(settings.database_url, list_institutions)
    if not partitions:
        console.print("no institutions registered")
        return
    table = Table()
    table.add_column("code")
    table.add_column("name")
    table.add_column("organization")
    for p in partitions:
        table.add_row(
            p.code, escape(p.name), f"Organization/{p.organization_id}" if p.organization_id else ""
        )
    console.print(table)


@institution_app.command("remove")
def institution_remove(
    code: Annotated[str, typer.Argument(help="Code of the institution to remove")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Unregister an institution (refused while it still holds records)."""
    settings = resolve_settings(config, db_url=db)
    removed = with_repository(settings.database_url, lambda repo: remove_institution(repo, code))
    console.print(f"removed [bold]{removed.code}[/bold] ({escape(removed.name)})")
