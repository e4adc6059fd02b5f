"""``loraswarm task create``: create a task on a deployment and write the task file peers share;
``loraswarm task windows``: the window lengths a task needs for the peers it expects."""

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
from loraswarm.errors import LoraswarmError
from loraswarm.evm import rpc
from loraswarm.evm.deploy import Deployment, attach, deployer_account
from loraswarm.evm.tasks import TOKEN, TaskTerms, create_task
from loraswarm.node.config import config_error
from loraswarm.node.task_facts import model_facts
from loraswarm.node.windows import (
    PIN_GRACE_S,
    AdapterSize,
    Conditions,
    RoundCosts,
    WindowPlan,
    default_step_s,
    suggest_windows,
)
from loraswarm.protocol.taskspec import RecipeSection, TaskSpec

app = typer.Typer(help="Create and inspect tasks.", no_args_is_help=True)

COSTS = RoundCosts()
RECIPE = RecipeSection()  # the task file's defaults

ExpectedValidators = Annotated[int, typer.Option(min=1, help="Validators the task expects.")]
StepS = Annotated[float | None, typer.Option(
    min=0.0, help="Seconds one training step of the recipe takes on the slowest peer [default: batch x seq_len "
                  f"tokens at {COSTS.train_tokens_per_s:g} tokens/s, benchmarks/train.py on 2 CPU cores].")]
BandwidthMbit = Annotated[float, typer.Option(
    min=0.001, help="Download rate of the validators and the slowest peer, Mbit/s.")]
BlockTimeS = Annotated[float, typer.Option(
    min=0.0, help="The chain's block time, seconds (a local `chain up`: 1; OP-stack L2s: 2; Ethereum: 12).")]
Model = Annotated[str | None, typer.Option(
    help="Base model: a folder, a .gguf file or a hub id in the local cache (default: SmolLM2-135M).")]
Steps = Annotated[int, typer.Option(help="Training steps every peer runs per round (must fit the commit window "
                                         "on the slowest peer's machine).")]
BatchSize = Annotated[int, typer.Option(help="Blocks per training step.")]


class WindowsTooShort(LoraswarmError):
    """A given window is shorter than the expected peers need."""


def _recipe(command: str, steps: int, batch_size: int, lr: float = RECIPE.lr) -> RecipeSection:
    try:
        return RecipeSection(steps=steps, batch_size=batch_size, lr=lr)
    except ValidationError as exc:
        raise config_error(command, exc) from None


def _plan(spec: TaskSpec, adapter: AdapterSize, peers: int, validators: int, step_s: float | None,
          bandwidth_mbit: float, block_time_s: float) -> WindowPlan:
    step = default_step_s(spec.recipe, spec.seq_len, COSTS) if step_s is None else step_s
    return suggest_windows(peers, validators, spec.recipe, adapter,
                           Conditions(step, bandwidth_mbit, block_time_s), COSTS)


@app.command("windows")
def windows(
    expected_peers: Annotated[int, typer.Option(min=1, help="Peers the task expects per round.")],
    expected_validators: ExpectedValidators = 3,
    step_s: StepS = None,
    bandwidth_mbit: BandwidthMbit = 50.0,
    block_time_s: BlockTimeS = 2.0,
    model: Model = None,
    steps: Steps = RECIPE.steps,
    batch_size: BatchSize = RECIPE.batch_size,
) -> None:
    """Print the commit, reveal and attest windows a task needs, with the arithmetic (no chain)."""
    spec = TaskSpec(task_id=1, recipe=_recipe("task windows", steps, batch_size))
    plan = _plan(spec, model_facts(spec, model).adapter, expected_peers, expected_validators, step_s,
                 bandwidth_mbit, block_time_s)
    typer.echo("\n".join(plan.lines()))


@app.command("create")
def create(
    deployment: Annotated[Path, typer.Option("--deployment", help="Deployment file.")],
    out: Annotated[Path, typer.Option(help="Task file to write (peers' chain.task_file).")] = Path("task.json"),
    model: Model = None,
    commit_s: int = 150, reveal_s: int = 20, attest_s: int = 40, start_delay_s: int = 60,
    quorum_bps: int = 6_000, validator_bps: int = 1_000, reward_per_round: int = 1_000, budget: int = 100_000,
    peer_stake: int = 100, validator_stake: int = 1_000, validator_slash: int = 200, absence_slash: int = 50,
    claim_periods: Annotated[int, typer.Option(help="Claim window after each round, in round periods.")] = 10,
    steps: Steps = RECIPE.steps,
    batch_size: BatchSize = RECIPE.batch_size,
    lr: Annotated[float, typer.Option(help="Learning rate of every peer's training.")] = RECIPE.lr,
    expected_peers: Annotated[int | None, typer.Option(
        min=1, help="Peers the task expects per round: print the windows they need and refuse shorter ones "
                    "(see `task windows`).")] = None,
    expected_validators: ExpectedValidators = 3,
    step_s: StepS = None,
    bandwidth_mbit: BandwidthMbit = 50.0,
    block_time_s: BlockTimeS = 2.0,
    accept_short_windows: Annotated[bool, typer.Option(
        help="Create the task even when a window is shorter than --expected-peers need.")] = False,
    pin_grace_s: Annotated[float, typer.Option(
        min=1, max=600, help="How long past a reveal window validators wait for a later block before pinning "
                             "the latest, on a chain that mines only on demand: longer than its clock may lag "
                             "theirs.")] = PIN_GRACE_S,
    phases_end_early: Annotated[bool, typer.Option(
        "--phases-end-early/--fixed-windows",
        help="A phase also ends once everyone it waits for has acted (commit, seal), and a validator starts the "
             "next round once one is finalized: the windows are upper bounds. --fixed-windows runs every "
             "window at its full length.")] = True,
    rpc_url: RpcUrl = None,
    keystore: Keystore = None,
    password_env: PasswordEnv = PASSWORD_ENV_DEFAULT,
    state_dir: StateDir = STATE_DIR_DEFAULT,
) -> None:
    """Create a task (the deployer must own the coordinator); token amounts are whole LSW."""
    recipe = _recipe("task create", steps, batch_size, lr)
    dep = Deployment.from_file(deployment)
    account = unlock(keystore, password_env) if keystore else None
    w3 = rpc.connect(rpc.resolve(rpc_url, dep.chain_id, state_dir), dep.chain_id)
    owner = deployer_account(w3, account)
    count = int(attach(dep, w3)["Coordinator"].functions.taskCount().call())
    spec = TaskSpec(task_id=count + 1, validator_stake=validator_stake * TOKEN, recipe=recipe, pin_grace_s=pin_grace_s)
    terms = TaskTerms(commit_s=commit_s, reveal_s=reveal_s, attest_s=attest_s, quorum_bps=quorum_bps,
                      validator_bps=validator_bps, reward_per_round=reward_per_round * TOKEN, budget=budget * TOKEN,
                      peer_stake=peer_stake * TOKEN, validator_stake=validator_stake * TOKEN,
                      validator_slash=validator_slash * TOKEN, absence_slash=absence_slash * TOKEN,
                      claim_periods=claim_periods, start_delay_s=start_delay_s, phases_end_early=phases_end_early)
    facts = model_facts(spec, model)
    if expected_peers is not None:
        plan = _plan(spec, facts.adapter, expected_peers, expected_validators, step_s, bandwidth_mbit, block_time_s)
        typer.echo("\n".join(plan.lines()))
        short = plan.shortfalls(commit_s, reveal_s, attest_s)
        if short and not accept_short_windows:
            raise WindowsTooShort("; ".join(short) + ": lengthen it, or pass --accept-short-windows")
    task_id = create_task(w3, dep, owner, spec, terms, facts.model_hash, facts.initial_global)
    spec.write(out)
    typer.echo(f"task {task_id}: base model {facts.model_hash}, initial global {facts.initial_global}; wrote {out}")
