"""``loraswarm task create``: create a task on a deployment and write the task file peers share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from loraswarm.cli.options import (
    PASSWORD_ENV_DEFAULT,
    STATE_DIR_DEFAULT,
    Keystore,
    PasswordEnv,
    RpcUrl,
    StateDir,
    unlock,
)
from loraswarm.evm import rpc
from loraswarm.evm.deploy import Deployment, attach, deployer_account
from loraswarm.evm.tasks import TOKEN, TaskTerms, create_task
from loraswarm.node.config import config_error
from loraswarm.node.task_facts import model_facts
from loraswarm.protocol.taskspec import RecipeSection, TaskSpec

app = typer.Typer(help="Create and inspect tasks.", no_args_is_help=True)


@app.command("create")
def create(
    deployment: Annotated[Path, typer.Option("--deployment", help="Deployment file.")],
    out: Annotated[Path, typer.Option(help="Task file to write (peers' chain.task_file).")] = Path("task.json"),
    model: Annotated[str | None, typer.Option(
        help="Base model: a folder, a .gguf file or a hub id in the local cache (default: SmolLM2-135M).")] = None,
    commit_s: int = 150, reveal_s: int = 20, attest_s: int = 40, start_delay_s: int = 60,
    quorum_bps: int = 6_000, validator_bps: int = 1_000, reward_per_round: int = 1_000, budget: int = 100_000,
    peer_stake: int = 100, validator_stake: int = 1_000, validator_slash: int = 200, absence_slash: int = 50,
    claim_periods: Annotated[int, typer.Option(help="Claim window after each round, in round periods.")] = 10,
    steps: Annotated[int, typer.Option(help="Training steps every peer runs per round (must fit the commit "
                                            "window on the slowest peer's machine).")] = RecipeSection().steps,
    batch_size: Annotated[int, typer.Option(help="Blocks per training step.")] = RecipeSection().batch_size,
    lr: Annotated[float, typer.Option(help="Learning rate of every peer's training.")] = RecipeSection().lr,
    rpc_url: RpcUrl = None,
    keystore: Keystore = None,
    password_env: PasswordEnv = PASSWORD_ENV_DEFAULT,
    state_dir: StateDir = STATE_DIR_DEFAULT,
) -> None:
    """Create a task (the deployer must own the coordinator); token amounts are whole LSW."""
    try:
        recipe = RecipeSection(steps=steps, batch_size=batch_size, lr=lr)
    except ValidationError as exc:
        raise config_error("task create", exc) from None
    dep = Deployment.from_file(deployment)
    account = unlock(keystore, password_env) if keystore else None
    w3 = rpc.connect(rpc.resolve(rpc_url, dep.chain_id, state_dir), dep.chain_id)
    owner = deployer_account(w3, account)
    count = int(attach(dep, w3)["Coordinator"].functions.taskCount().call())
    spec = TaskSpec(task_id=count + 1, validator_stake=validator_stake * TOKEN, recipe=recipe)
    terms = TaskTerms(commit_s=commit_s, reveal_s=reveal_s, attest_s=attest_s, quorum_bps=quorum_bps,
                      validator_bps=validator_bps, reward_per_round=reward_per_round * TOKEN, budget=budget * TOKEN,
                      peer_stake=peer_stake * TOKEN, validator_stake=validator_stake * TOKEN,
                      validator_slash=validator_slash * TOKEN, absence_slash=absence_slash * TOKEN,
                      claim_periods=claim_periods, start_delay_s=start_delay_s)
    model_hash, initial_global = model_facts(spec, model)
    task_id = create_task(w3, dep, owner, spec, terms, model_hash, initial_global)
    spec.write(out)
    typer.echo(f"task {task_id}: base model {model_hash}, initial global {initial_global}; wrote {out}")
