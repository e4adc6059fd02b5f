"""Options shared by several sub-commands."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from eth_account.signers.local import LocalAccount

from loraswarm.evm.rpc import RPC_ENV
from loraswarm.node.keys import PASSWORD_ENV, KeystoreError, load_account
from loraswarm.paths import DEFAULT_STATE_DIR

StateDir = Annotated[
    Path,
    typer.Option("--state-dir", help="Where started chains and deployment files are recorded."),
]
STATE_DIR_DEFAULT = DEFAULT_STATE_DIR
RpcUrl = Annotated[
    str | None,
    typer.Option("--rpc-url", envvar=RPC_ENV, show_envvar=True,
                 help="The chain's JSON-RPC endpoint (default: the local chain recorded in --state-dir)."),
]
Keystore = Annotated[
    Path | None,
    typer.Option("--keystore", help="Encrypted key file (`loraswarm keys new`) to send from; password from "
                                     "$LORASWARM_PASSWORD (or --password-env) or a prompt."),
]
PasswordEnv = Annotated[str, typer.Option(help="Environment variable holding the keystore password.")]
PASSWORD_ENV_DEFAULT = PASSWORD_ENV


def unlock(keystore: Path, password_env: str) -> LocalAccount:
    """Decrypt a keystore with the password from ``password_env``, else from a prompt."""
    password = os.environ.get(password_env)
    if password is None:
        if not sys.stdin.isatty():
            raise KeystoreError(f"no password for keystore {keystore}: set {password_env} or run in a terminal")
        password = typer.prompt(f"password of {keystore}", hide_input=True)
    return load_account(keystore.expanduser(), password)
