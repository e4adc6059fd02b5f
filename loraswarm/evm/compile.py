"""Offline Solidity build: ``scripts/solc`` (solcjs behind native solc's ``--standard-json``).

Source unit names are the same as hardhat's (``contracts/X.sol``, ``@openzeppelin/...``) and the
settings come from ``contracts/compiler.json``, so the metadata hash appended to the bytecode,
and with it the whole deployed bytecode, is identical to what ``npx hardhat compile`` emits.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loraswarm.errors import CompileError, ToolchainMissing
from loraswarm.files import write_atomic
from loraswarm.paths import (
    COMPILER_CONFIG,
    CONTRACT_BUILD_DIR,
    CONTRACTS_DIR,
    IN_SOURCE_TREE,
    NODE_MODULES,
    PACKAGED_CONTRACTS,
    PROJECT_ROOT,
    SOLC_WRAPPER,
)

OUTPUT_SELECTION = {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}}


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: what deployment and tests need."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    @property
    def abi_hash(self) -> str:
        canonical = json.dumps(self.abi, sort_keys=True, separators=(",", ":"))
        return "0x" + hashlib.sha256(canonical.encode()).hexdigest()


def compiler_config() -> dict[str, Any]:
    return json.loads(COMPILER_CONFIG.read_text())


def project_sources() -> dict[str, Path]:
    """Source unit name -> file, for every .sol under contracts/ (hardhat's naming)."""
    return {
        path.relative_to(PROJECT_ROOT).as_posix(): path
        for path in sorted(CONTRACTS_DIR.rglob("*.sol"))
    }


def standard_input() -> dict[str, Any]:
    config = compiler_config()
    sources = {name: {"content": path.read_text()} for name, path in project_sources().items()}
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {**config["settings"], "outputSelection": OUTPUT_SELECTION},
    }


def _input_digest(data: dict[str, Any]) -> str:
    # The imported OpenZeppelin files are part of the input too: their version is pinned by the
    # lockfile, so the lockfile's hash stands for them.
    lock = (PROJECT_ROOT / "package-lock.json").read_bytes()
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode())
    digest.update(lock)
    digest.update(SOLC_WRAPPER.read_bytes())
    return digest.hexdigest()


def _check_toolchain() -> None:
    if shutil.which("node") is None:
        raise ToolchainMissing("node is not installed; run scripts/setup")
    if not (NODE_MODULES / "solc").is_dir():
        raise ToolchainMissing("node_modules/solc is missing; run scripts/setup (npm ci)")


def _run_solc(data: dict[str, Any]) -> dict[str, Any]:
    _check_toolchain()
    done = subprocess.run([str(SOLC_WRAPPER), "--standard-json"], input=json.dumps(data), capture_output=True,
                          text=True, cwd=PROJECT_ROOT, check=False)
    if done.returncode != 0:
        raise CompileError(f"solc failed (exit {done.returncode}): {done.stderr.strip()[:400]}")
    output: dict[str, Any] = json.loads(done.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        first = errors[0].get("formattedMessage", errors[0].get("message", "?")).strip()
        raise CompileError(f"{len(errors)} Solidity error(s); first: {first}")
    return output


def _artifacts_from_output(output: dict[str, Any]) -> dict[str, Artifact]:
    artifacts: dict[str, Artifact] = {}
    project = set(project_sources())
    for source, contracts in output["contracts"].items():
        if source not in project:
            continue
        for name, compiled in contracts.items():
            artifacts[name] = Artifact(
                name=name,
                source=source,
                abi=compiled["abi"],
                bytecode="0x" + compiled["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + compiled["evm"]["deployedBytecode"]["object"],
            )
    return artifacts


def _write(artifacts: dict[str, Artifact], digest: str, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for artifact in artifacts.values():
        write_atomic(out_dir / f"{artifact.name}.json", json.dumps(artifact.__dict__, indent=1))
    (out_dir / "digest").write_text(digest)


def _read(out_dir: Path) -> dict[str, Artifact]:
    return {
        path.stem: Artifact(**json.loads(path.read_text())) for path in out_dir.glob("*.json")
    }


def compile_contracts(force: bool = False, out_dir: Path = CONTRACT_BUILD_DIR) -> dict[str, Artifact]:
    """Compile contracts/ (or reuse the build if no input changed) and return artifacts by name."""
    data = standard_input()
    digest = _input_digest(data)
    stamp = out_dir / "digest"
    if not force and stamp.is_file() and stamp.read_text() == digest:
        return _read(out_dir)
    if out_dir.is_dir():
        shutil.rmtree(out_dir)
    artifacts = _artifacts_from_output(_run_solc(data))
    _write(artifacts, digest, out_dir)
    return artifacts


def package_contracts(out_dir: Path) -> dict[str, Artifact]:
    """Write the compiled contracts where a wheel carries them (setup.py, at build time)."""
    artifacts = compile_contracts()
    _write(artifacts, _input_digest(standard_input()), out_dir)
    return artifacts


def contract_artifacts() -> dict[str, Artifact]:
    """The contracts this loraswarm deploys and talks to: compiled from contracts/ in a source
    checkout, the wheel's packaged build otherwise (an installed peer has no compiler)."""
    if IN_SOURCE_TREE:
        return compile_contracts()
    if not PACKAGED_CONTRACTS.is_dir():
        raise ToolchainMissing(f"this loraswarm installation has no compiled contracts in {PACKAGED_CONTRACTS}: "
                               "reinstall it from a wheel built with `pip wheel` in a source checkout")
    return _read(PACKAGED_CONTRACTS)


def load_artifact(name: str) -> Artifact:
    artifacts = contract_artifacts()
    if name not in artifacts:
        raise CompileError(f"no contract named {name} in contracts/")
    return artifacts[name]
