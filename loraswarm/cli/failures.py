"""Every failure of a command as one line that names the cause and the fix.

Library code raises LoraswarmError subclasses whose messages already say both. What escapes
them (a chain that stops answering mid-command, a revert nothing checked for, a usage error) is
put into words here; anything else is still one line, with a pointer to ``--debug``.
"""

from __future__ import annotations

from functools import cache

import click
import requests
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError

from loraswarm.errors import LoraswarmError

MAX_CHARS = 600
USAGE_EXIT = 2
INTERRUPTED_EXIT = 130


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_CHARS else flat[: MAX_CHARS - 3] + "..."


@cache
def _selectors() -> dict[str, str]:
    from loraswarm.evm.compile import contract_artifacts
    from loraswarm.node.chain.reverts import error_selectors

    return error_selectors(a.abi for a in contract_artifacts().values())


def _revert(exc: ContractCustomError | ContractLogicError) -> str:
    from loraswarm.node.chain.reverts import revert_name

    return revert_name(exc.data, _selectors())


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for inner in group.exceptions:
        found.extend(_leaves(inner) if isinstance(inner, BaseExceptionGroup) else [inner])
    return found


def explain(exc: BaseException, argv: list[str]) -> tuple[str, int]:
    """(the line to print, the exit status) for an exception that ended a command; an empty line
    when there is nothing to add to what was printed."""
    if isinstance(exc, BaseExceptionGroup):  # trio nurseries wrap what a node's tasks raised
        leaves = _leaves(exc)
        chosen = next((e for e in leaves if isinstance(e, LoraswarmError)), leaves[0] if leaves else exc)
        return explain(chosen, argv) if chosen is not exc else (one_line(str(exc)), 1)
    if isinstance(exc, LoraswarmError):
        return one_line(str(exc)), exc.exit_code
    if isinstance(exc, KeyboardInterrupt | click.exceptions.Abort):
        return "interrupted", INTERRUPTED_EXIT
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return "", USAGE_EXIT  # typer has printed the help: nothing to add
    if isinstance(exc, click.ClickException):
        command = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else "loraswarm"
        return one_line(f"{exc.format_message()} (see `{command} -h`)"), exc.exit_code or USAGE_EXIT
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return one_line("lost the connection to the chain's RPC endpoint mid-way: check that the chain runs and the "
                        "RPC URL is right, then run the command again"), 1
    if isinstance(exc, ContractCustomError | ContractLogicError):
        return one_line(f"the contract refused the call: {_revert(exc)}"), 1
    if isinstance(exc, Web3RPCError):
        return one_line(f"the chain's RPC endpoint refused the request: {exc}"), 1
    return one_line(f"unexpected {type(exc).__name__}: {exc} (run `loraswarm --debug {' '.join(argv)}` for the "
                    "traceback)"), 1
