"""Light peers for scale runs (benchmarks/scale.py), never a shipped configuration.

A light peer is a real node process: the real daemon, libp2p host, chain client, commit, reveal,
gossip, blob serving and claims. Only its model work differs: instead of loading the base model
and training, it submits a delta that the real model trained once for it, read from a cache. Each
light peer has its own cached trainings (its own fortunes topic and seed, one per round), so no
two peers send the same vector and every delta is a real training; every cached round trains
from the task's initial global, so from round 1 on a delta is not relative to the round's own
global (a scale run measures costs, not learning). Validators stay
full nodes that judge them with the real pipeline. A light peer neither loads the model's
libraries (transformers, peft) nor evaluates: a scale run measures the protocol's costs, and
dozens of light peers fit where dozens of full nodes would not (~0.3 GB each against ~1.3 GB).

    build_cache(task_file, folder, peers, rounds, topics)   # once per task recipe (real training)
    python -m harness.light_peer --config peer.toml --cache folder --index i --rounds R
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from loraswarm.node.codec import AdapterSpec, Delta, content_hash, decode_delta, encode_delta
from loraswarm.node.config import Behaviour, NodeConfig, TrainingSection, load_config
from loraswarm.node.daemon import NodeDaemon
from loraswarm.node.globals import GLOBAL_CODEC
from loraswarm.node.training.outcome import TrainedDelta, TrainStats, bend
from loraswarm.protocol.taskspec import TaskSpec

MANIFEST = "manifest.json"
# Light peers' data seeds start here: a full node trains with seed 0 (the config's default), and a
# light peer on the same topic and seed would send that node's exact update (scaled, when it is the
# attacker: then the honest node's update is judged a copy of the attack).
SEED_BASE = 1000


def _delta_file(folder: Path, index: int, round_: int) -> Path:
    return folder / f"peer{index}-round{round_}.bin"


def build_cache(task_file: Path, folder: Path, peers: int, rounds: int, topics: Sequence[str],
                threads: int = 2, progress: Callable[[str], None] = print) -> None:
    """Train, with the real model, every light peer's delta of every round (peer i on
    ``topics[i % len(topics)]`` with seed SEED_BASE + i, from the task's initial global), and keep them
    exactly (fp32) with the adapter spec and the initial global. Deltas already cached for the
    same task file and seeds are kept: the cache is built once per task recipe."""
    from loraswarm.node.learner import Learner  # the model's libraries: only the builder loads them

    spec_file = TaskSpec.read(task_file)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if (manifest.get("spec_hash"), manifest.get("seed_base")) != (spec_file.spec_hash(), SEED_BASE):
        manifest = {"spec_hash": spec_file.spec_hash(), "seed_base": SEED_BASE, "trained": {}}
    missing = [(i, r) for i in range(peers) for r in range(rounds)
               if not _delta_file(folder, i, r).exists() or f"{i}/{r}" not in manifest["trained"]]
    if not missing:
        return
    learner = Learner(spec_file, TrainingSection(topics=[topics[0]], threads=threads), None)
    start, initial_bytes, initial_hash = learner.initial_global()
    (folder / "initial.bin").write_bytes(initial_bytes)
    manifest.update(model_hash=learner.model_hash, initial_global=initial_hash,
                    spec=[[k, list(s)] for k, s in learner.spec.shapes])
    began = time.monotonic()
    for n, (index, round_) in enumerate(missing):
        # One model for every peer: only the data (topic, seed) changes between trainings.
        learner.training = TrainingSection(topics=[topics[index % len(topics)]], seed=SEED_BASE + index,
                                           threads=threads)
        learner.load_data()
        trained = learner.train(start, round_, Behaviour.HONEST)
        _delta_file(folder, index, round_).write_bytes(encode_delta(trained.delta, learner.spec, GLOBAL_CODEC))
        manifest["trained"][f"{index}/{round_}"] = {"steps": trained.stats.steps, "tokens": trained.stats.tokens,
                                                    "seconds": round(trained.stats.seconds, 3)}
        manifest_path.write_text(json.dumps(manifest))
        progress(f"light-peer cache: {n + 1}/{len(missing)} trainings ({time.monotonic() - began:.0f} s)")


class LightLearner:
    """The learner interface the node's roles use, served from a light peer's cached trainings."""

    def __init__(self, folder: Path, index: int) -> None:
        manifest = json.loads((folder / MANIFEST).read_text())
        self.folder = folder
        self.index = index
        self.trained: dict[str, dict[str, float]] = manifest["trained"]
        self.rounds = len([key for key in self.trained if key.startswith(f"{index}/")])
        if self.rounds == 0:
            raise SystemExit(f"light-peer cache {folder} holds nothing for peer {index}: build it first")
        self.spec = AdapterSpec.of([(k, s) for k, s in manifest["spec"]])
        self.model_hash: str = manifest["model_hash"]
        self.initial_hash: str = manifest["initial_global"]

    def initial_global(self) -> tuple[Delta, bytes, str]:
        data = (self.folder / "initial.bin").read_bytes()
        return decode_delta(data, self.spec), data, content_hash(data)

    def train(self, global_state: Delta, round_: int, behaviour: Behaviour,
              deadline: float | None = None) -> TrainedDelta:
        """The cached training of this round (rounds past the cache reuse it cyclically), bent by
        the peer's behaviour like a full node's."""
        cached = round_ % self.rounds
        facts = self.trained[f"{self.index}/{cached}"]
        delta = decode_delta(_delta_file(self.folder, self.index, cached).read_bytes(), self.spec)
        seconds = float(facts["seconds"])
        stats = TrainStats(steps=int(facts["steps"]), tokens=int(facts["tokens"]), seconds=seconds,
                           tokens_per_s=facts["tokens"] / seconds if seconds else 0.0, mean_loss=float("nan"),
                           final_loss=float("nan"), interrupted=False)
        return TrainedDelta(bend(delta, behaviour), stats)


class LightDaemon(NodeDaemon):
    """The real daemon with the light learner in place of the model (see the module docstring)."""

    evaluates = False

    def __init__(self, config: NodeConfig, cache: Path, index: int, password: str | None = None,
                 max_rounds: int | None = None) -> None:
        if config.training.personal:
            raise SystemExit("a light peer keeps no personal adapter: it has no model to blend with")
        super().__init__(config, password, max_rounds)
        self.learner = LightLearner(cache, index)

    def check_training(self, task_model: str) -> None:
        if self.learner.model_hash != task_model:
            raise SystemExit(f"the light-peer cache was trained on model {self.learner.model_hash}, "
                             f"the task's is {task_model}")

    def load_learner(self, task_model: str) -> LightLearner:  # type: ignore[override]
        return self.learner


def main() -> None:
    parser = argparse.ArgumentParser(description="A light peer (scale runs only): a real node that "
                                     "submits cached real trainings")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--log-file", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, filename=args.log_file,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    daemon = LightDaemon(load_config(args.config), args.cache, args.index, max_rounds=args.rounds)
    trio.run(daemon.run)


if __name__ == "__main__":
    main()
