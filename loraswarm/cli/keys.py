"""``loraswarm keys new|list|import``: encrypted keystores; only addresses are ever printed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from loraswarm.node import keys

app = typer.Typer(help="Create, import and list encrypted peer keys.", no_args_is_help=True)

KeyDir = Annotated[Path, typer.Option("--dir", help="Keystore directory.")]
PasswordEnv = Annotated[
    str, typer.Option(help="Environment variable holding the password (prompted for if unset).")
]
DEFAULT_DIR = Path(".loraswarm/keys")


def _password(env: str) -> str:
    value = os.environ.get(env)
    if value:
        return value
    return typer.prompt("keystore password", hide_input=True, confirmation_prompt=True)


@app.command("new")
def new(directory: KeyDir = DEFAULT_DIR, password_env: PasswordEnv = keys.PASSWORD_ENV) -> None:
    """Create a new secp256k1 key in an encrypted keystore."""
    made = keys.new_key(directory, _password(password_env))
    typer.echo(f"{made.address}  {made.path}")


@app.command("import")
def import_(directory: KeyDir = DEFAULT_DIR, password_env: PasswordEnv = keys.PASSWORD_ENV) -> None:
    """Import a private key (read from standard input, never from the command line)."""
    secret = typer.prompt("private key (hex)", hide_input=True)
    made = keys.import_key(secret.strip(), directory, _password(password_env))
    typer.echo(f"{made.address}  {made.path}")


@app.command("list")
def list_(directory: KeyDir = DEFAULT_DIR) -> None:
    """List the addresses of the keystores in a directory."""
    found = keys.list_keys(directory)
    if not found:
        typer.echo(f"no keystores in {directory}")
    for key in found:
        typer.echo(f"{key.address}  {key.path}")
