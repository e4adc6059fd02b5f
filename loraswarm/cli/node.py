"""``loraswarm node init|id|run|status``: write a peer's config, print the address others dial,
run the peer, show what it reports."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from loraswarm.cli.options import STATE_DIR_DEFAULT, RpcUrl, StateDir, unlock
from loraswarm.errors import NoRpcUrl, WrongChainId
from loraswarm.evm import rpc
from loraswarm.evm.deploy import Deployment
from loraswarm.node import keys
from loraswarm.node.config import (
    ChainSection,
    ConfigError,
    KeysSection,
    NodeSection,
    P2PSection,
    Role,
    TrainingSection,
    config_error,
    load_config,
    names_hub_model,
    render_config,
)
from loraswarm.protocol.taskspec import TaskSpec

app = typer.Typer(help="Set up and run a peer node.", no_args_is_help=True)
ConfigOpt = Annotated[Path, typer.Option("--config", help="The peer's TOML config.")]


def _relative(path: Path, base: Path) -> Path:
    """``path`` as the config file in ``base`` should name it: relative below it, else absolute."""
    absolute = path.expanduser().resolve()
    return absolute.relative_to(base) if absolute.is_relative_to(base) else absolute


@app.command("init")
def init(
    deployment: Annotated[Path, typer.Option("--deployment", help="Deployment file from the network's operator.")],
    task_file: Annotated[Path, typer.Option("--task-file", help="Task file from the network's operator.")],
    keystore: Annotated[Path | None, typer.Option(help="Your keystore (`loraswarm keys new`).")] = None,
    new_key: Annotated[bool, typer.Option("--new-key", help="Create a key in --key-dir instead.")] = False,
    key_dir: Annotated[Path, typer.Option(help="Where --new-key writes the keystore.")] = Path("keys"),
    name: Annotated[str, typer.Option(help="The node's name (logs, status).")] = "peer",
    data_dir: Annotated[Path | None, typer.Option(help="The node's state (default: data/NAME).")] = None,
    validator: Annotated[bool, typer.Option(help="Also validate (stakes the task's validator stake).")] = False,
    listen: Annotated[str, typer.Option(help="Multiaddr to listen on; open its TCP port.")] = "/ip4/0.0.0.0/tcp/9100",
    bootstrap: Annotated[list[str] | None, typer.Option(
        help="A peer to dial first (/ip4/HOST/tcp/PORT/p2p/PEER_ID, from the operator); repeatable.")] = None,
    topics: Annotated[str, typer.Option(help="Comma-separated fortunes topics to train on.")] = "computers",
    data: Annotated[list[Path] | None, typer.Option(help="Your own .jsonl or text file instead; repeatable.")] = None,
    model: Annotated[str | None, typer.Option(
        help="The task's base model, if not the default: a folder, a .gguf file or a cached hub id.")] = None,
    rpc_url: RpcUrl = None,
    out: Annotated[Path, typer.Option(help="Config file to write.")] = Path("peer.toml"),
    force: Annotated[bool, typer.Option(help="Replace an existing config file.")] = False,
    password_env: Annotated[str, typer.Option(help="Variable holding the keystore password.")] = keys.PASSWORD_ENV,
    state_dir: StateDir = STATE_DIR_DEFAULT,
) -> None:
    """Write a commented peer config from a deployment file, a task file and a keystore."""
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists: pass --force to replace it, or --out another file")
    if (keystore is None) == (not new_key):
        raise ConfigError("give either --keystore FILE or --new-key")
    chain_id = Deployment.from_file(deployment).chain_id
    recipe = TaskSpec.read(task_file).recipe
    try:
        endpoint: str | None = rpc.resolve(rpc_url, chain_id, state_dir)
    except (NoRpcUrl, WrongChainId):  # none given, and the local chain (if any) is another one
        endpoint = None  # the operator sets it in the file or in the environment later
    base = out.expanduser().resolve().parent
    try:  # every value checked before a key is made: a refused init leaves no stray keystore
        node = NodeSection(name=name, data_dir=_relative(data_dir or Path("data") / name, base),
                           roles=[Role.TRAINER, Role.VALIDATOR] if validator else [Role.TRAINER])
        chain = ChainSection(deployment=_relative(deployment, base), task_file=_relative(task_file, base),
                             rpc_url=endpoint)
        p2p = P2PSection(listen=listen, bootstrap=bootstrap or [])
        training = TrainingSection(topics=[] if data else [t.strip() for t in topics.split(",") if t.strip()],
                                   data=[_relative(p, base) for p in data or []],
                                   model=None if model is None else model if names_hub_model(model, Path.cwd())
                                   else str(_relative(Path(model), base)))
        if new_key:
            made = keys.new_key(key_dir, _new_password(password_env))
            keystore, address = made.path, made.address
        else:
            assert keystore is not None
            address = _keystore_address(keystore)
        text = render_config(node, KeysSection(keystore=_relative(keystore, base), password_env=password_env),
                             chain, chain_id, p2p, training)
    except ValidationError as exc:
        raise config_error("node init", exc) from None
    _write_checked(out, text)
    typer.echo(f"wrote {out} for account {address} on chain {chain_id}; the task trains {recipe.steps} steps of "
               f"{recipe.batch_size} blocks at lr {recipe.lr:g} per round")
    typer.echo(f"next: fund {address} with ETH for gas and LSW to stake, then `loraswarm node id --config {out}` "
               f"and `loraswarm node run --config {out}`")


def _new_password(env: str) -> str:
    if value := os.environ.get(env):
        return value
    return str(typer.prompt("password for the new keystore", hide_input=True, confirmation_prompt=True))


def _keystore_address(path: Path) -> str:
    found = {k.path.resolve(): k.address for k in keys.list_keys(path.expanduser().parent)}
    address = found.get(path.expanduser().resolve())
    if address is None:
        raise keys.KeystoreError(f"{path} is not a keystore file: create one with `loraswarm keys new` or pass "
                                 "--new-key")
    return address


def _write_checked(out: Path, text: str) -> None:
    """Write the config only if it loads: validated beside its final place, so that its relative
    paths resolve the same."""
    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, staged = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".toml", dir=out.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        load_config(Path(staged))
        os.replace(staged, out)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


@app.command("id")
def id_(config: ConfigOpt) -> None:
    """Print the node's account, peer id and the multiaddr others bootstrap from (before it runs)."""
    from loraswarm.node.p2p.keys import identity_from_account  # libp2p loads in seconds: only here

    loaded = load_config(config)
    account = unlock(loaded.keys.keystore, loaded.keys.password_env)
    peer_id = identity_from_account(account).peer_id
    typer.echo(f"account   {account.address}")
    typer.echo(f"peer id   {peer_id}")
    typer.echo(f"multiaddr {loaded.p2p.listen}/p2p/{peer_id}")
    if "/0.0.0.0/" in loaded.p2p.listen or "/::/" in loaded.p2p.listen:
        typer.echo("note: it listens on every interface; others dial it at this host's reachable address in "
                   "place of 0.0.0.0")
    if loaded.p2p.listen.endswith("/tcp/0"):
        typer.echo("note: port 0 picks a free port at start; set a fixed port for others to bootstrap from")


@app.command("run")
def run(
    config: ConfigOpt,
    rounds: Annotated[int | None, typer.Option(
        help="Stop after this many rounds, counting those finished before a restart (default: run forever).")] = None,
    log_file: Annotated[Path | None, typer.Option(help="Write the node's log here (default: stderr).")] = None,
) -> None:
    """Train, gossip, validate, attest and claim, round after round, until stopped."""
    from loraswarm.node.daemon import run_node  # torch and libp2p load only when a node runs

    run_node(load_config(config), max_rounds=rounds, log_file=log_file)


@app.command("status")
def status(
    config: ConfigOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status file as JSON.")] = False,
) -> None:
    """Show a node's round, phase, rewards, verdicts and held-out perplexities (base model, global
    and personal adapter after each round), read from its status file (the node need not run)."""
    from rich.console import Console
    from rich.table import Table

    from loraswarm.node.status import NodeStatus

    path = load_config(config).node.data_dir / "status.json"
    found = NodeStatus.read(path)
    if found is None:
        raise typer.BadParameter(f"no node status at {path}: has this node run yet?", param_hint="--config")
    if as_json:
        typer.echo(json.dumps(asdict(found), sort_keys=True))
        return
    console = Console()
    console.print(f"{found.name} {found.address} ({'+'.join(found.roles)}, {found.behaviour}): round {found.round}, "
                  f"{found.phase}{f' ({found.detail})' if found.detail else ''}; {found.committed} commits, "
                  f"{found.attested} attestations, {found.rewards / 10**18:,.2f} LSW claimed in "
                  f"{found.claimed_rounds} rounds")
    base = found.ppl.get("base", float("nan"))
    table = Table("round", "own verdict", "ppl global", "ppl personal",
                  title=f"held-out perplexity on the node's own text (base model {base:.2f})")
    for round_ in sorted({int(k.split("@")[1]) for k in found.ppl if "@" in k} | {int(r) for r in found.verdicts}):
        cells = [f"{found.ppl[k]:.2f}" if (k := f"{name}@{round_}") in found.ppl else "-"
                 for name in ("global", "personal")]
        table.add_row(str(round_), found.verdicts.get(str(round_), "-"), *cells)
    console.print(table)
