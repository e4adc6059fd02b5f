"""Wheel builds ship the compiled contracts: an installed peer has no Solidity compiler, node or
node_modules, yet deploys and talks to the contracts. They are compiled from contracts/ (or taken
from the unchanged cached build) into the wheel's loraswarm/evm/contracts/ at build time, where
loraswarm.evm.compile.contract_artifacts reads them. Everything else is in pyproject.toml."""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithContracts(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install compiles from the tree it points at
            return
        sys.path.insert(0, str(ROOT))
        from loraswarm.evm.compile import package_contracts

        package_contracts(Path(self.build_lib) / "loraswarm" / "evm" / "contracts")


setup(cmdclass={"build_py": BuildWithContracts})
