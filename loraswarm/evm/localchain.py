"""Start and stop a local EVM testnet (anvil or hardhat) on 127.0.0.1 (or another local address).

The chain binary is started directly (never through npx, which leaves a child behind) in its own
process group; its PID, port and engine are recorded in ``<state-dir>/chain.json`` so that
``chain down`` stops exactly that process and nothing else.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from web3 import HTTPProvider, Web3

from loraswarm.errors import ChainNotRunning, ChainUnreachable, PortInUse, ToolchainMissing
from loraswarm.files import write_atomic
from loraswarm.paths import NODE_MODULES, PROJECT_ROOT

Engine = Literal["anvil", "hardhat"]
ENGINES: tuple[Engine, ...] = ("anvil", "hardhat")
HOST = "127.0.0.1"
DEFAULT_PORT = 8545
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
DEV_ACCOUNTS = 10
DEV_BALANCE_ETH = 10_000
# The well-known development mnemonic that anvil and hardhat both default to.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


@dataclass(frozen=True)
class ChainRecord:
    engine: str
    port: int
    pid: int
    rpc_url: str
    chain_id: int
    log: str


def _command(engine: Engine, port: int, block_time: int | None, host: str = HOST) -> list[str]:
    if engine == "anvil":
        binary = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
        if not binary.is_file():
            raise ToolchainMissing(f"anvil binary not found at {binary}; run scripts/setup")
        return [
            str(binary), "--host", host, "--port", str(port),
            "--accounts", str(DEV_ACCOUNTS), "--balance", str(DEV_BALANCE_ETH),
            "--mnemonic", DEV_MNEMONIC,
            *(["--block-time", str(block_time), "--mixed-mining"] if block_time else []),
        ]
    cli = NODE_MODULES / "hardhat" / "internal" / "cli" / "cli.js"
    if not cli.is_file():
        raise ToolchainMissing(f"hardhat not found at {cli}; run scripts/setup")
    return ["node", str(cli), "node", "--hostname", host, "--port", str(port)]


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


_HANDED_OUT: set[int] = set()
_HANDING = threading.Lock()
# Below Linux's ephemeral range (32768-60999): a port the kernel gives a client socket or a `tcp/0`
# listener can never be one handed out here, and processes that draw at once (test workers, two
# networks set up together) rarely draw the same one among ~22,000.
_PORTS = range(10_000, 32_768)
_DRAW = random.SystemRandom()


def free_port(host: str = HOST) -> int:
    """A TCP port on host that nothing listens on right now and that this process has not handed
    out before (the kernel's own choice repeated 7 times in 500 draws)."""
    with _HANDING:
        while True:
            port = _DRAW.choice(_PORTS)
            if port not in _HANDED_OUT and port_free(port, host):
                _HANDED_OUT.add(port)
                return port


def shown_url(url: str) -> str:
    """An RPC URL as messages show it: scheme, host and port only (a provider's API key may sit in
    the user part, the path or the query, and messages end up in logs and bug reports)."""
    parts = urlsplit(url)
    hidden = "/..." if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}{hidden}"


def rpc_chain_id(rpc_url: str, timeout_s: float = 2.0) -> int:
    """The chain id an RPC endpoint answers with, or ChainUnreachable."""
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    try:
        return int(w3.eth.chain_id)
    except Exception as exc:  # any transport failure means the same thing to the user
        raise ChainUnreachable(f"chain unreachable: no EVM JSON-RPC answers at {shown_url(rpc_url)}; start the chain "
                               "or give the right RPC URL") from exc


def _record_path(state_dir: Path) -> Path:
    return state_dir / "chain.json"


def read_record(state_dir: Path) -> ChainRecord:
    path = _record_path(state_dir)
    if not path.is_file():
        raise ChainNotRunning(f"no local chain recorded in {path}; start one with `loraswarm chain up`")
    return ChainRecord(**json.loads(path.read_text()))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not a running chain.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def start_chain(engine: Engine, port: int, state_dir: Path, block_time: int | None = None,
                host: str = HOST) -> ChainRecord:
    """Start a chain listening on host:port, wait until it answers JSON-RPC, record it and return
    the record. ``host`` may be another local address, e.g. the gateway of a test network of namespaces.

    ``block_time`` adds a block every that many seconds on top of instant mining, so that the
    latest block's timestamp follows the clock as on a live chain (nodes estimate time-windowed
    calls against it); without it a local chain only mines when a transaction arrives."""
    existing = _record_path(state_dir)
    if existing.is_file():
        record = read_record(state_dir)
        if _alive(record.pid):
            raise PortInUse(
                f"a {record.engine} chain (pid {record.pid}) is already recorded at {record.rpc_url}; "
                "stop it with `loraswarm chain down`"
            )
        existing.unlink()
    if not port_free(port, host):
        raise PortInUse(f"port {port} on {host} is already in use")
    command = _command(engine, port, block_time, host)
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / f"chain-{engine}-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT, start_new_session=True,
        )
    rpc_url = f"http://{host}:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-400:]
            raise ChainUnreachable(f"{engine} exited with code {proc.returncode}: {tail.strip()}")
        try:
            chain_id = rpc_chain_id(rpc_url, timeout_s=1.0)
            break
        except ChainUnreachable:
            if time.monotonic() > deadline:
                _terminate(proc.pid)
                raise ChainUnreachable(
                    f"{engine} did not answer on {rpc_url} within {START_TIMEOUT_S:.0f} s"
                ) from None
            time.sleep(0.1)
    if block_time and engine == "hardhat":
        # hardhat keeps automine on and adds interval blocks (anvil's --mixed-mining)
        Web3(HTTPProvider(rpc_url)).provider.make_request("evm_setIntervalMining", [block_time * 1000])
    record = ChainRecord(engine, port, proc.pid, rpc_url, chain_id, str(log_path))
    write_atomic(_record_path(state_dir), json.dumps(asdict(record), indent=1))
    return record


def _terminate(pid: int) -> None:
    """SIGTERM the chain's process group, then SIGKILL what is left after a grace period."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                # Reap it if it is our child; otherwise just poll for its exit.
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                if not _alive(pid):
                    return
            time.sleep(0.05)


def stop_chain(state_dir: Path) -> ChainRecord:
    """Stop the chain recorded in state_dir, and only that one."""
    record = read_record(state_dir)
    if _alive(record.pid) and _owns(record):
        _terminate(record.pid)
    _record_path(state_dir).unlink(missing_ok=True)
    return record


def _owns(record: ChainRecord) -> bool:
    """Guard against PID reuse: the recorded PID must still run the chain we started."""
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    marker = "anvil" if record.engine == "anvil" else "hardhat"
    return marker in cmdline and str(record.port) in cmdline


def dev_accounts(rpc_url: str) -> list[tuple[str, int]]:
    """(address, balance in wei) of the chain's unlocked development accounts."""
    w3 = Web3(HTTPProvider(rpc_url))
    return [(acct, int(w3.eth.get_balance(acct))) for acct in w3.eth.accounts]
