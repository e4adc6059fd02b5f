"""The ``loraswarm`` command: a thin typer layer over library functions.

Each sub-command group lives in its own module and is mounted here. Errors of type
LoraswarmError are printed as one line on stderr with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import sys

import click
import typer

from loraswarm import __version__
from loraswarm.cli import chain, contracts, keys, ledger, node, task, train
from loraswarm.cli.demo import demo_cmd
from loraswarm.errors import LoraswarmError

app = typer.Typer(
    name="loraswarm",
    help="Decentralized, incentive-aligned LoRA fine-tuning over libp2p and an EVM chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(chain.app, name="chain")
app.add_typer(keys.app, name="keys")
app.add_typer(node.app, name="node")
app.add_typer(ledger.app, name="ledger")
app.add_typer(task.app, name="task")
app.add_typer(train.app, name="train")
contracts.register(app)
app.command("demo")(demo_cmd)


@app.command()
def version() -> None:
    """Print the loraswarm version."""
    typer.echo(f"loraswarm {__version__}")


def main() -> None:
    try:
        app(standalone_mode=False)
    except LoraswarmError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors: bad option, bad value
        exc.show()
        sys.exit(exc.exit_code)
