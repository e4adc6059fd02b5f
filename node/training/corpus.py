"""Training text: the Debian ``fortunes`` topic files as the default non-IID corpus, and users' own
JSONL or plain-text files.

Splits are deterministic functions of the data and a seed, never of file or iteration order, so
every peer (and every test run) derives the same topics per peer and the same held-out records.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from loraswarm.node.training.errors import DataError

FORTUNES_DIR = Path(os.environ.get("LORASWARM_FORTUNES_DIR", "/usr/share/games/fortunes"))
ChatFormat = Callable[[str, str], str]


@dataclass(frozen=True)
class PeerData:
    """One peer's share of a topic corpus: its topics, and per topic its training and held-out
    records (the held-out ones never appear in any peer's training set)."""

    topics: tuple[str, ...]
    train: dict[str, list[str]]
    held_out: dict[str, list[str]]

    def train_texts(self) -> list[str]:
        return [text for topic in self.topics for text in self.train[topic]]


def list_topics(data_dir: Path = FORTUNES_DIR) -> list[str]:
    """Topic files of a fortunes directory (the ``.dat`` indexes and ``.u8`` links excluded)."""
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no fortunes directory (install the Debian package fortunes)")
    return sorted(
        p.name for p in data_dir.iterdir()
        if p.is_file() and not p.is_symlink() and not p.suffix and not p.name.startswith(".")
    )


def parse_fortunes(text: str) -> list[str]:
    """Records of a fortune file: blocks separated by lines holding only ``%``."""
    records, current = [], []
    for line in text.splitlines():
        if line.strip() == "%":
            records.append("\n".join(current).strip())
            current = []
        else:
            current.append(line.rstrip())
    records.append("\n".join(current).strip())
    return [r for r in records if r]


def load_topics(topics: Sequence[str], data_dir: Path = FORTUNES_DIR) -> dict[str, list[str]]:
    """Records per topic, deduplicated across the whole set (a quote filed under two topics stays
    in the first, in sorted topic order, so it cannot be one peer's training and another's test)."""
    known = set(list_topics(data_dir))
    unknown = sorted(set(topics) - known)
    if unknown:
        raise DataError(f"unknown fortunes topics {unknown}; available: {', '.join(sorted(known))}")
    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for topic in sorted(set(topics)):
        text = (data_dir / topic).read_bytes().decode("utf-8", errors="replace")
        out[topic] = []
        for record in parse_fortunes(text):
            if record not in seen:
                seen.add(record)
                out[topic].append(record)
    return out


def _coin(record: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\0{record}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(record: str, fraction: float, seed: int) -> bool:
    """Stable per-record coin flip: the split does not depend on order or on the other records."""
    return _coin(record, seed) < fraction


def split_held_out(records: Sequence[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Per-record coin flips; when they hold out nothing (a small file, an unlucky draw), the
    record whose coin came lowest is held out, so that the node has text to evaluate on (a user
    file of a few records otherwise stopped the node with "no tokens to evaluate on")."""
    held = [r for r in records if is_held_out(r, fraction, seed)]
    if not held and fraction > 0 and len(records) > 1:
        held = [min(records, key=lambda r: _coin(r, seed))]
    chosen = set(held)
    return [r for r in records if r not in chosen], held


def deal_topics(topics: Sequence[str], peers: int, per_peer: int, seed: int = 0) -> list[list[str]]:
    """Give each peer ``per_peer`` distinct topics, disjoint across peers (non-IID by topic)."""
    if peers * per_peer > len(topics):
        raise DataError(f"{peers} peers x {per_peer} topics need {peers * per_peer} topics, have {len(topics)}")
    order = sorted(topics)
    random.Random(seed).shuffle(order)
    return [sorted(order[i * per_peer : (i + 1) * per_peer]) for i in range(peers)]


def peer_data(
    topics: Sequence[str], held_out_fraction: float = 0.1, seed: int = 0, data_dir: Path = FORTUNES_DIR
) -> PeerData:
    by_topic = load_topics(topics, data_dir)
    train, held = {}, {}
    for topic, records in by_topic.items():
        train[topic], held[topic] = split_held_out(records, held_out_fraction, seed)
    return PeerData(tuple(sorted(by_topic)), train, held)


def chat_formatter(tokenizer: PreTrainedTokenizerBase) -> ChatFormat:
    """Render an instruction/response pair with the model's own chat template."""

    def render(instruction: str, response: str) -> str:
        messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
        return str(tokenizer.apply_chat_template(messages, tokenize=False))

    return render


def load_texts(path: Path, chat_format: ChatFormat | None = None) -> list[str]:
    """Records of a user file: ``.jsonl`` (objects with ``text``, or ``instruction`` and
    ``response``) or plain text (paragraphs split on blank lines). Errors name file and line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text") from None
    records = _jsonl_records(path, text, chat_format) if path.suffix == ".jsonl" else _paragraphs(text)
    if not records:
        raise DataError(f"{path}: no text records")
    return records


def _paragraphs(text: str) -> list[str]:
    blocks, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append("\n".join(current))
            current = []
    return blocks


def _jsonl_records(path: Path, text: str, chat_format: ChatFormat | None) -> list[str]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{number}: invalid JSON ({exc})") from None
        if isinstance(obj, dict) and isinstance(obj.get("text"), str) and set(obj) == {"text"}:
            records.append(obj["text"])
        elif (isinstance(obj, dict) and set(obj) == {"instruction", "response"}
              and all(isinstance(v, str) for v in obj.values())):
            if chat_format is None:
                raise DataError(f"{path}:{number}: instruction/response records need a chat template")
            records.append(chat_format(obj["instruction"], obj["response"]))
        else:
            raise DataError(
                f'{path}:{number}: expected {{"text": str}} or {{"instruction": str, "response": str}}'
            )
    return records
