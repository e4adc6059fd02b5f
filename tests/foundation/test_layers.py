"""Data flows one way between the shipped packages, and no shipped module imports the harness.

    protocol (base) <- consensus <- incentives <- node <- demo <- cli
                    <- evm ------------------------^

Read from the source with ``ast`` (imports inside functions count too), so a cycle added anywhere
fails here before it can surprise a reader of the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

from loraswarm.paths import PROJECT_ROOT

BASE = "loraswarm"  # loraswarm/*.py: errors, files, keccak, paths
FOLDERS = {
    "loraswarm.protocol": "loraswarm/protocol",
    "loraswarm.evm": "loraswarm/evm",
    "loraswarm.consensus": "consensus",
    "loraswarm.incentives": "incentives",
    "loraswarm.node": "node",
    "loraswarm.demo": "loraswarm/demo",
    "loraswarm.cli": "loraswarm/cli",
}
ALLOWED = {
    "loraswarm.protocol": {BASE},
    "loraswarm.evm": {BASE, "loraswarm.protocol"},
    "loraswarm.consensus": {"loraswarm.protocol"},
    "loraswarm.incentives": {"loraswarm.protocol", "loraswarm.consensus"},
    "loraswarm.node": {BASE, "loraswarm.protocol", "loraswarm.evm", "loraswarm.consensus", "loraswarm.incentives"},
    "loraswarm.demo": {BASE, "loraswarm.protocol", "loraswarm.evm", "loraswarm.node"},
    "loraswarm.cli": {BASE, "loraswarm.protocol", "loraswarm.evm", "loraswarm.node", "loraswarm.demo"},
}


def _package_of(module: str) -> str | None:
    for name in sorted(FOLDERS, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    if module.startswith(BASE + "."):
        return BASE
    if module == "harness" or module.startswith("harness."):
        return "harness"
    return None


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_packages_import_only_the_layers_below_them() -> None:
    wrong = []
    for package, folder in FOLDERS.items():
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for module in _imports(path):
                target = _package_of(module)
                if target is not None and target != package and target not in ALLOWED[package]:
                    wrong.append(f"{path.relative_to(PROJECT_ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from loraswarm.incentives.rewards import BPS\n    import harness.attacks\n")
    assert _imports(probe) == {"loraswarm.incentives.rewards", "harness.attacks"}
    assert _package_of("loraswarm.incentives.rewards") not in ALLOWED["loraswarm.consensus"]
    assert _package_of("harness.attacks") == "harness"
