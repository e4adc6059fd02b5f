"""loraswarm: decentralized, incentive-aligned LoRA fine-tuning over libp2p and an EVM chain.

The card's top-level folders are mapped into this namespace by pyproject.toml
(``loraswarm.node`` is ``node/``, ``loraswarm.consensus`` is ``consensus/``, ...), so the
installed package never claims a generic top-level name such as ``node``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loraswarm")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
