"""The ``loraswarm`` command: a thin typer layer over library functions.

Each sub-command group lives in its own module and is mounted here. Every failure ends the
command with one line on stderr that names the cause and the fix (``failures.explain``) and a
non-zero exit; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from loraswarm import __version__
from loraswarm.cli import chain, contracts, keys, ledger, node, operator, task, train
from loraswarm.cli.demo import demo_cmd
from loraswarm.cli.export import export_cmd
from loraswarm.cli.failures import explain

app = typer.Typer(
    name="loraswarm",
    help="Decentralized, incentive-aligned LoRA fine-tuning over libp2p and an EVM chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(chain.app, name="chain")
app.add_typer(keys.app, name="keys")
app.add_typer(node.app, name="node")
app.add_typer(ledger.app, name="ledger")
app.add_typer(task.app, name="task")
app.add_typer(train.app, name="train")
contracts.register(app)
operator.register(app)
app.command("demo")(demo_cmd)
app.command("export")(export_cmd)

_debug = False


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"loraswarm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    _version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                           help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of a failure.")] = False,
) -> None:
    """Decentralized, incentive-aligned LoRA fine-tuning over libp2p and an EVM chain."""
    global _debug
    _debug = debug


@app.command()
def version() -> None:
    """Print the loraswarm version."""
    typer.echo(f"loraswarm {__version__}")


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except BaseException as exc:  # every failure, as one line
        if _debug or isinstance(exc, SystemExit):
            raise
        line, code = explain(exc, sys.argv[1:])
        if line:
            typer.echo(f"error: {line}", err=True)
        sys.exit(code)
    sys.exit(code if isinstance(code, int) else 0)
