"""One peer's local round, composed from the other modules: pick its texts, train from the
global adapter, form the (optionally privatized) delta, and read or write adapter files.
The CLI and the node daemon call these; they hold no logic of their own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from peft import PeftModel
from transformers import PreTrainedTokenizerBase

from loraswarm.files import write_atomic
from loraswarm.node.codec import AdapterSpec, Codec, CodecError, Delta, decode_delta, encode_delta
from loraswarm.node.training.adapter import apply_delta, compute_delta
from loraswarm.node.training.corpus import chat_formatter, load_texts, peer_data, split_held_out
from loraswarm.node.training.errors import DataError
from loraswarm.node.training.outcome import TrainStats
from loraswarm.node.training.privacy import DpParams, PrivacyAccountant, privatize
from loraswarm.node.training.tokens import TokenBlocks
from loraswarm.node.training.trainer import TrainConfig, train_lora


@dataclass(frozen=True)
class LocalUpdate:
    adapter: Delta  # global + delta: the adapter this peer's update amounts to
    delta: Delta  # what the peer publishes (privatized when DP is on)
    stats: TrainStats
    raw_norm: float | None  # L2 norm before DP clipping (None without DP)
    epsilon: float | None  # the peer's privacy budget spent so far (None without DP)


def select_texts(
    tokenizer: PreTrainedTokenizerBase,
    topics: Sequence[str],
    data_files: Sequence[Path],
    held_out_fraction: float,
    seed: int,
) -> tuple[list[str], dict[str, list[str]]]:
    """Training texts, and held-out texts per topic and per user file (under the file's name),
    from fortunes topics and/or the user's own files."""
    if not topics and not data_files:
        raise DataError("give fortunes topics or a data file")
    train: list[str] = []
    held: dict[str, list[str]] = {}
    if topics:
        data = peer_data(topics, held_out_fraction, seed)
        train += data.train_texts()
        held.update(data.held_out)
    chat = chat_formatter(tokenizer) if tokenizer.chat_template else None
    for path in data_files:
        records = load_texts(path, chat)
        file_train, held[path.name] = split_held_out(records, held_out_fraction, seed)
        train += file_train
    return train, held


def local_update(
    model: PeftModel,
    blocks: TokenBlocks,
    global_state: Delta,
    config: TrainConfig,
    dp: DpParams | None = None,
    accountant: PrivacyAccountant | None = None,
) -> LocalUpdate:
    result = train_lora(model, blocks, global_state, config)
    delta = compute_delta(result.adapter, global_state)
    if dp is None:
        return LocalUpdate(result.adapter, delta, result.stats, None, None)
    accountant = accountant or PrivacyAccountant(dp)
    delta, norm = privatize(delta, dp)
    accountant.record_round()
    return LocalUpdate(apply_delta(global_state, delta), delta, result.stats, norm, accountant.epsilon())


def save_adapter(path: Path, state: Delta, spec: AdapterSpec) -> None:
    """Adapter files use the delta wire format (same keys and shapes) at full precision."""
    write_atomic(path, encode_delta(state, spec, Codec("fp32")))


def read_adapter(path: Path, spec: AdapterSpec) -> Delta:
    try:
        return decode_delta(path.read_bytes(), spec)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    except CodecError as exc:
        raise DataError(f"{path}: not an adapter of this task ({exc})") from None
