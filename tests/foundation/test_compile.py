"""The offline Solidity build and its parity with hardhat."""

from __future__ import annotations

import json
import subprocess

import pytest

from loraswarm.evm.compile import compile_contracts, compiler_config
from loraswarm.paths import HARDHAT_ARTIFACTS, PROJECT_ROOT, SOLC_WRAPPER


def test_solc_wrapper_speaks_native_cli() -> None:
    out = subprocess.run([str(SOLC_WRAPPER), "--version"], capture_output=True, text=True, check=True)
    assert f"Version: {compiler_config()['version']}+commit" in out.stdout


def test_compile_produces_abi_and_bytecode(tmp_path) -> None:
    artifacts = compile_contracts(force=True, out_dir=tmp_path / "contracts")
    assert {"RewardToken", "Coordinator"} <= set(artifacts)
    token = artifacts["RewardToken"]
    assert any(item.get("name") == "transfer" for item in token.abi)
    assert len(token.deployed_bytecode) > 1000
    # A second call with unchanged inputs reuses the build instead of recompiling.
    stamp = (tmp_path / "contracts" / "digest").stat().st_mtime_ns
    again = compile_contracts(out_dir=tmp_path / "contracts")
    assert (tmp_path / "contracts" / "digest").stat().st_mtime_ns == stamp
    assert again["RewardToken"] == token


@pytest.mark.e2e
def test_hardhat_and_python_build_identical_bytecode(tmp_path) -> None:
    subprocess.run(
        ["node", "node_modules/hardhat/internal/cli/cli.js", "compile", "--force", "--quiet"],
        cwd=PROJECT_ROOT, check=True, capture_output=True, timeout=300,
    )
    ours = compile_contracts(force=True, out_dir=tmp_path)  # never under other tests reading the build
    for name, artifact in ours.items():
        source = artifact.source.split("/", 1)[1]
        hardhat = json.loads((HARDHAT_ARTIFACTS / "contracts" / source / f"{name}.json").read_text())
        assert hardhat["deployedBytecode"] == artifact.deployed_bytecode, name
        assert hardhat["bytecode"] == artifact.bytecode, name
