"""pyproject lists every package under the card's folders, so a built wheel is complete."""

from __future__ import annotations

import tomllib

from loraswarm.paths import PROJECT_ROOT


def test_every_python_folder_is_a_listed_package() -> None:
    setup = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    found = set()
    for name, folder in setup["package-dir"].items():
        root = PROJECT_ROOT / folder
        for init in root.rglob("*.py"):
            parts = init.parent.relative_to(root).parts
            if "__pycache__" in parts or "js" in parts:
                continue
            found.add(".".join((name, *parts)))
    assert found == listed
