"""`notesqa keys`: API keys, stored hashed in the data folder; the only way to create the first key."""
from __future__ import annotations

from typing import Annotated

import typer

from service.cli.common import EXIT_BAD_INPUT, DataDirOption, SummaryGroup, fail, make_settings, print_json
from service.domain.keys import ROLES, KeyRequestError, KeyStore

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]

keys_app = typer.Typer(cls=SummaryGroup, no_args_is_help=True, rich_markup_mode=None, help="API keys (stored hashed).")


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
                role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
                collections: Annotated[str, typer.Option(
                    "--collections", help="Comma-separated collections, or '*' for all (admin: always all).")] = "",
                origins: Annotated[str, typer.Option(
                    "--origins", help="Comma-separated browser origins (public widget keys).")] = "",
                data_dir: DataDirOption = None, json_output: JsonOption = False) -> None:
    """Create a key; its token is printed once (only a hash is kept)."""
    settings = make_settings(data_dir=data_dir)
    wanted = collections.split(",") if collections else []
    if role == "admin" and not wanted:
        wanted = ["*"]
    try:
        record, token = KeyStore(settings.data_dir / "keys.json").create(name, role, wanted, origins.split(","))
    except KeyRequestError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if json_output:
        print_json({"key": record.public_view(), "token": token})
        return
    typer.echo(token)
    typer.echo(f"Created {record.role} key {record.name!r} (id {record.id}) for "
               f"{', '.join(record.collections)}. The token above is shown only now.", err=True)
    if record.role == "public":
        typer.echo(f"Browsers on {', '.join(record.origins)} pass CORS once the server restarts (its origins are "
                   f"added at start-up), or list them in NOTESQA_CORS_ORIGINS.", err=True)


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None, json_output: JsonOption = False,
              all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False) -> None:
    """The keys (never their tokens)."""
    records = [r for r in KeyStore(make_settings(data_dir=data_dir).data_dir / "keys.json").list()
               if all_keys or r.revoked_at is None]
    if json_output:
        print_json({"keys": [r.public_view() for r in records]})
        return
    if not records:
        typer.echo("No keys: the API is open, and `notesqa serve` binds loopback only.")
    for r in records:
        revoked = f"  REVOKED {r.revoked_at}" if r.revoked_at else ""
        origins = f"  origins {','.join(r.origins)}" if r.origins else ""
        typer.echo(f"{r.id}  {r.name}  {r.role}  {','.join(r.collections)}  {r.prefix}…{origins}{revoked}")


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or name.")],
                data_dir: DataDirOption = None) -> None:
    """Revoke a key at once (a running server re-reads the keys file)."""
    try:
        record = KeyStore(make_settings(data_dir=data_dir).data_dir / "keys.json").revoke(key)
    except KeyRequestError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    typer.echo(f"Revoked key {record.name!r} (id {record.id})")
