"""``loraswarm train run|eval|topics`` on the real base model, a step or two only."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loraswarm.cli.train import app
from loraswarm.node.codec import decode_delta
from loraswarm.node.training import load_base_model
from tests.training.conftest import RealModel

pytestmark = pytest.mark.e2e
runner = CliRunner()


def _text(output: str) -> str:
    return " ".join(output.split())  # rich wraps long lines at the runner's terminal width
SMALL = ["--steps", "1", "--batch-size", "2", "--seq-len", "32", "--no-progress"]


def test_run_writes_a_decodable_delta_and_eval_reads_the_adapter(real_model: RealModel, tmp_path: Path) -> None:
    out, adapter = tmp_path / "delta.bin", tmp_path / "adapter.st"
    result = runner.invoke(app, ["run", "--topics", "pets", "--out", str(out), "--adapter-out", str(adapter),
                                 "--task-model-hash", real_model.model_hash, "--device", "cpu", *SMALL])
    assert result.exit_code == 0, result.output
    assert "hash 0x" in _text(result.output) and out.stat().st_size <= 0.3 * real_model.spec.fp32_bytes
    assert set(decode_delta(out.read_bytes(), real_model.spec)) == set(real_model.spec.keys)
    result = runner.invoke(app, ["eval", "--topics", "pets", "--adapter", str(adapter), "--max-records", "3",
                                 "--seq-len", "32"])
    assert result.exit_code == 0, result.output
    assert "ppl base" in _text(result.output) and "adapter.st" in _text(result.output)


def test_run_with_local_dp_reports_the_budget(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--topics", "pets", "--out", str(tmp_path / "d"), "--dp-clip", "0.5",
                                 "--dp-noise", "2.0", "--codec", "fp16", *SMALL])
    assert result.exit_code == 0, result.output
    assert "epsilon" in _text(result.output) and "clipped to 0.5" in _text(result.output)


def test_wrong_base_model_is_refused_before_training(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--topics", "pets", "--out", str(tmp_path / "d"),
                                 "--task-model-hash", "0x" + "00" * 32, *SMALL])
    assert result.exit_code != 0 and "base model hash" in str(result.exception)
    assert not (tmp_path / "d").exists()


def test_topics_lists_the_corpus() -> None:
    result = runner.invoke(app, ["topics"])
    assert result.exit_code == 0 and "cookie" in result.output


def test_default_model_loads_from_cache_quickly(real_model: RealModel) -> None:
    # The session fixture already created the cache; a second load must not dequantize again.
    began = time.perf_counter()
    _, _, model_hash = load_base_model()
    assert model_hash == real_model.model_hash and time.perf_counter() - began < 60


def test_concurrent_loads_give_whole_models(real_model: RealModel) -> None:
    # The network e2e test starts two networks at once, each loading the base model in a thread
    # of the test process; two interleaved loads once left meta tensors behind and broke every
    # later load of the process (model.py now loads one at a time).
    with ThreadPoolExecutor(2) as pool:
        loads = list(pool.map(lambda _: load_base_model(), range(2)))
    for model, _, _ in [*loads, load_base_model()]:
        assert not any(p.is_meta for p in model.parameters())
    assert all(h == real_model.model_hash for _, _, h in loads)
