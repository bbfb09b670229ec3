"""`yilian keys`: generate the keys that protect sensitive identifiers, and rotate them.

Also the composition root's one place that turns settings into the store codec
(`build_codec`), so `serve`, `demo` and `keys rotate` protect the same values the same way.
Rotation, step by step (README "Security model"):

1. `yilian keys generate --file keys.toml --id k2` puts a new primary key in the key file,
   keeping the old one after it; restart the servers (new writes use k2, old values still
   decrypt with k1).
2. `yilian keys rotate --db URL --config FILE` re-encrypts every stored value not under k2,
   current rows and history, and the feed log's message bytes, in batches of one transaction
   each; safe to interrupt and rerun.
3. Remove k1 from the key file.  A server refuses to start while the database still needs it.

For a new search hash key: set the new `hmac_key`, run `yilian keys rotate --hmac` (it rebuilds
the search rows of protected values from their decrypted plaintext, so the old HMAC key is
not needed), then restart the servers; until then they refuse to start, rather than
silently finding nothing.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from yilian.config import Settings, SettingsError, load_settings
from yilian.fhir.outcome import OutcomeError
from yilian.privacy.encryption import RESIDENT_ID_SYSTEM, IdentifierCodec
from yilian.privacy.keyring import KEY_BYTES, Keyring, KeyringError, generate_key, key_file_text, load_keyring
from yilian.store.codec import PLAIN, KeyConfigurationError, ResourceCodec
from yilian.store.factory import open_repository
from yilian.store.sql.recode import RecodeReport
from yilian.store.sql.repository import SqlRepository

__all__ = [
    "announce_encryption",
    "build_codec",
    "describe_encryption",
    "keys_app",
    "settings_with_codec",
    "with_demo_keys",
    "write_demo_key_file",
]

keys_app = typer.Typer(
    help="Keys that encrypt resident IDs and mobile numbers at rest: generate, rotate.",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)


def build_codec(settings: Settings) -> ResourceCodec:
    """The store codec the settings describe: `IdentifierCodec` when keys are configured,
    the no-op codec otherwise.  Raises KeyringError on malformed key settings."""
    keyring = load_keyring(settings.encryption_keys, settings.hmac_key, settings.encryption_key_file)
    if keyring is None:
        return PLAIN
    extra = [s.strip() for s in settings.encrypted_identifier_systems.split(",") if s.strip()]
    types = [t.strip() for t in settings.encrypted_resource_types.split(",") if t.strip()]
    return IdentifierCodec(keyring, identifier_systems=[RESIDENT_ID_SYSTEM, *extra], resource_types=types)


def settings_with_codec(config: Path | None, db: str | None) -> tuple[Settings, ResourceCodec]:
    """The settings (`--db`, when given, over the configured database) and their store codec,
    for a command that opens the database itself; exit status 2 with the reason when either
    is malformed."""
    try:
        settings = load_settings(config_file=config, overrides={"db_url": db} if db else {})
        open_repository(settings.database_url)  # a URL no backend takes fails here, not in a traceback
        settings = with_demo_keys(settings, create=False)  # as serve does: a demo database opens
        return settings, build_codec(settings)
    except (SettingsError, ValueError) as exc:
        errors.print("[red]invalid settings:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None


def describe_encryption(codec: ResourceCodec) -> str:
    """One start-up line saying whether identifiers are encrypted, and under which key."""
    if isinstance(codec, IdentifierCodec):
        keys = codec.keyring.ids
        more = f" (also decrypting {', '.join(keys[1:])})" if len(keys) > 1 else ""
        return (
            f"identifier encryption: on, primary key {keys[0]}{more}, search hash key "
            f"{codec.keyring.hmac_id}, types {', '.join(sorted(codec.resource_types))}"
        )
    return (
        "identifier encryption: OFF (development): resident IDs and mobile numbers are stored "
        "in plaintext; configure encryption_keys and hmac_key (yilian keys generate)"
    )


def write_demo_key_file(path: Path) -> Path:
    """A key file for the demo (kept if it exists, so a second demo reads its own data)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        keyring = Keyring((("demo1", secrets.token_bytes(KEY_BYTES)),), secrets.token_bytes(KEY_BYTES))
        path.write_text(key_file_text(keyring), encoding="utf-8")
        path.chmod(0o600)
    return path


@keys_app.command("generate")
def generate(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Write a key file: a new one, or the new key added as primary to an existing one",
            dir_okay=False,
        ),
    ] = None,
    key_id: Annotated[str, typer.Option("--id", help="Id of the new encryption key")] = "k1",
) -> None:
    """Print a new random 256-bit key (base64), or put one into a key file."""
    if file is None:
        console.print(generate_key(), markup=False, highlight=False)
        return
    try:
        if file.exists():
            old = load_keyring("", "", str(file))
            assert old is not None  # a key file without keys fails to load instead
            keyring = Keyring(((key_id, secrets.token_bytes(KEY_BYTES)), *old.data_keys), old.hmac_key)
        else:
            keyring = Keyring(((key_id, secrets.token_bytes(KEY_BYTES)),), secrets.token_bytes(KEY_BYTES))
    except KeyringError as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None
    file.write_text(key_file_text(keyring), encoding="utf-8")
    file.chmod(0o600)
    console.print(
        f"wrote {escape(str(file))}: primary key [bold]{key_id}[/bold], "
        f"keys {', '.join(keyring.ids)}, search hash key {keyring.hmac_id}"
    )


@keys_app.command("rotate")
def rotate(
    db: Annotated[str | None, typer.Option("--db", help="Database URL")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML settings file (default: $YILIAN_CONFIG)", dir_okay=False),
    ] = None,
    hmac: Annotated[
        bool,
        typer.Option(
            "--hmac", help="Rebuild the search rows of protected values with the configured hmac_key"
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per transaction")] = 500,
) -> None:
    """Re-encrypt every stored identifier not under the primary key (current rows and
    history), and the feed log's message bytes."""
    try:
        settings = load_settings(config_file=config, overrides={"db_url": db})
        codec = build_codec(settings)
    except (SettingsError, KeyringError) as exc:
        errors.print("[red]invalid settings:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None
    if not codec.active:
        errors.print("[red]error:[/red] no encryption keys are configured (encryption_keys, hmac_key)")
        raise typer.Exit(2)
    try:
        report = anyio.run(_rotate, settings.database_url, codec, hmac, batch_size)
    except (KeyConfigurationError, OutcomeError, ValueError) as exc:
        errors.print("[red]error:[/red]", escape(str(exc)))
        raise typer.Exit(1) from None
    console.print(
        f"current versions: {report.current_rewritten} of {report.current_rows} re-encrypted; "
        f"history: {report.history_rewritten} of {report.history_rows}; "
        f"search rows rebuilt for {report.reindexed} resources; "
        f"feed log: {report.feed_resealed} of {report.feed_rows} messages re-sealed"
    )
    console.print(describe_encryption(codec))
    if report.retired:
        console.print(
            f"no stored value needs {', '.join(report.retired)} any more: remove it from the config"
        )


async def _rotate(url: str, codec: ResourceCodec, hmac: bool, batch_size: int) -> RecodeReport:
    repository = open_repository(url, codec=codec, check_keys=False)
    if not isinstance(repository, SqlRepository):
        raise ValueError(f"{url} is not a SQL database")
    await repository.open()
    try:
        with Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def advance(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(table, total=total)
                bar.update(tasks[table], completed=done, total=max(total, done))

            return await repository.recode(reindex=hmac, batch_size=batch_size, progress=advance)
    finally:
        await repository.close()


def announce_encryption(settings: Settings, console: Console) -> ResourceCodec:
    """Build the codec from `settings` and say at start-up whether identifiers are encrypted
    (exit status 2 on malformed key settings)."""
    try:
        codec = build_codec(settings)
    except KeyringError as exc:
        errors.print("[red]invalid settings:[/red]", escape(str(exc)))
        raise typer.Exit(2) from None
    line = describe_encryption(codec)
    if codec.active and settings.encryption_key_file:
        line += f"; keys from {settings.encryption_key_file}"
    console.print(line, style=None if codec.active else "bold yellow", markup=False, highlight=False)
    return codec


def with_demo_keys(settings: Settings, *, create: bool = True) -> Settings:
    """`settings` with the demo key file beside a SQLite database (`demo.db` ->
    `demo.keys.toml`), unless keys are configured already.  `yilian demo` makes the file on
    first use (`create`); `yilian serve` picks it up when it exists, so a demo database keeps
    opening.  A key file beside its database protects nothing against a stolen disk: this is
    for the demo and development only, and the start-up line names the file."""
    if settings.encryption_keys or settings.hmac_key or settings.encryption_key_file:
        return settings
    scheme, _, rest = settings.database_url.partition(":///")
    if scheme.lower() != "sqlite" or not rest or rest == ":memory:":
        return settings
    db_file = Path(rest)
    key_file = db_file.with_name(db_file.stem + ".keys.toml")
    if create:
        write_demo_key_file(key_file)
    elif not key_file.exists():
        return settings
    return settings.replace(encryption_key_file=str(key_file))
