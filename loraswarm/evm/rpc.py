"""Reaching a chain: which RPC endpoint a command or a node uses, and a Web3 on it that has
answered once, so that a wrong URL or a stopped chain is one line naming the endpoint, never a
transport traceback halfway through a command.

Endpoints are per user and per node (an operator's URL may carry an API key), so no file that
peers share names one: a command takes ``--rpc-url`` or ``LORASWARM_RPC_URL``, a node its
config's ``[chain] rpc_url`` or the same variable; on a development machine the chain that
``loraswarm chain up`` recorded in the state directory is the fallback.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from eth_utils import is_address, to_checksum_address
from web3 import HTTPProvider, Web3

from loraswarm.errors import BadAddress, BadRpcUrl, ChainNotRunning, NoRpcUrl, WrongChainId
from loraswarm.evm.localchain import read_record, rpc_chain_id, shown_url

RPC_ENV = "LORASWARM_RPC_URL"
TIMEOUT_S = 10.0


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host, else BadRpcUrl."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRpcUrl(f"{url!r} is not an RPC URL: give an http(s) URL such as http://127.0.0.1:8545")
    return url


def check_address(text: str) -> str:
    """The checksummed account address ``text`` names, else BadAddress."""
    if not is_address(text):
        raise BadAddress(f"{text!r} is not an account address: give one like "
                         "0x70997970C51812dc3A010C7d01b50e0d17dc79C8 (`loraswarm keys list` shows yours)")
    return to_checksum_address(text)


def resolve(explicit: str | None, chain_id: int | None = None, state_dir: Path | None = None) -> str:
    """The endpoint to use: the one given, else $LORASWARM_RPC_URL, else the local chain recorded
    in ``state_dir`` (when it is the chain asked for)."""
    url = explicit or os.environ.get(RPC_ENV)
    if url:
        return check_url(url)
    if state_dir is not None:
        try:
            record = read_record(state_dir)
        except ChainNotRunning:
            pass
        else:
            if chain_id is None or record.chain_id == chain_id:
                return record.rpc_url
            raise WrongChainId(f"the local chain recorded in {state_dir} ({record.rpc_url}) serves chain id "
                               f"{record.chain_id}, the deployment is on chain {chain_id}: pass --rpc-url URL of "
                               f"chain {chain_id}, or set {RPC_ENV}")
    on = f" for chain {chain_id}" if chain_id is not None else ""
    raise NoRpcUrl(f"no RPC endpoint{on}: pass --rpc-url URL or set {RPC_ENV} (a node: [chain] rpc_url)")


def connect(url: str, chain_id: int | None = None) -> Web3:
    """A Web3 on ``url`` once it has answered (ChainUnreachable otherwise), on chain ``chain_id``
    when one is given (WrongChainId otherwise)."""
    answered = rpc_chain_id(check_url(url), timeout_s=TIMEOUT_S)
    if chain_id is not None and answered != chain_id:
        raise WrongChainId(f"{shown_url(url)} serves chain id {answered}, the deployment is on chain {chain_id}: "
                           f"use an RPC endpoint of chain {chain_id}")
    return Web3(HTTPProvider(url, request_kwargs={"timeout": TIMEOUT_S}))
