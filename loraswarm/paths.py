"""Where the project's files live, in a source checkout and in an installed wheel.

A checkout (the editable install of ``scripts/setup``, the tests) has the Solidity sources, the
solcjs wrapper and node_modules beside the package: contracts are compiled from there and local
chains run from there. An installed wheel has none of them; it carries the compiled contracts as
package data (built from contracts/ when the wheel was built) and keeps caches in the user's cache
directory.
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
CONTRACTS_DIR = PROJECT_ROOT / "contracts"
COMPILER_CONFIG = CONTRACTS_DIR / "compiler.json"
SOLC_WRAPPER = PROJECT_ROOT / "scripts" / "solc"
NODE_MODULES = PROJECT_ROOT / "node_modules"
IN_SOURCE_TREE = COMPILER_CONFIG.is_file() and (PROJECT_ROOT / "pyproject.toml").is_file()
# The compiled contracts a wheel ships (setup.py writes them when it builds one).
PACKAGED_CONTRACTS = PACKAGE_DIR / "evm" / "contracts"
BUILD_DIR = (PROJECT_ROOT / "build" if IN_SOURCE_TREE
             else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "loraswarm")
CONTRACT_BUILD_DIR = BUILD_DIR / "contracts"
HARDHAT_ARTIFACTS = BUILD_DIR / "hardhat" / "artifacts"

# Per-user runtime state (started chains, deployment files) lives in the working directory by
# default so that separate checkouts and test runs never share it; every command takes --state-dir.
DEFAULT_STATE_DIR = Path(".loraswarm")
