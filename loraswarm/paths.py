"""Where the project's files live. loraswarm runs from its source tree (an editable install),
because the Solidity sources, the solcjs wrapper and node_modules are part of that tree."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
COMPILER_CONFIG = CONTRACTS_DIR / "compiler.json"
SOLC_WRAPPER = PROJECT_ROOT / "scripts" / "solc"
NODE_MODULES = PROJECT_ROOT / "node_modules"
BUILD_DIR = PROJECT_ROOT / "build"
CONTRACT_BUILD_DIR = BUILD_DIR / "contracts"
HARDHAT_ARTIFACTS = BUILD_DIR / "hardhat" / "artifacts"

# Per-user runtime state (started chains, deployment files) lives in the working directory by
# default so that separate checkouts and test runs never share it; every command takes --state-dir.
DEFAULT_STATE_DIR = Path(".loraswarm")
