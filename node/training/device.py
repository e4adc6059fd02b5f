"""Where a peer's own training and evaluation run (``[training] device``). Nothing that decides a
verdict runs here: validators judge the wire's fixed-point integers on the CPU, so a peer's device
changes how fast it trains, never what the network accepts or pays."""

from __future__ import annotations

from typing import get_args

import torch

from loraswarm.node.config import DeviceName
from loraswarm.node.training.errors import DeviceUnavailable


def _mps_available() -> bool:
    return bool(torch.backends.mps.is_available())


def pick_device(name: DeviceName | str) -> torch.device:
    """The torch device ``name`` means here: ``auto`` takes a CUDA GPU, else Apple's MPS, else the
    CPU; an explicit GPU that torch cannot use is DeviceUnavailable (naming the fix)."""
    if name not in get_args(DeviceName):
        raise DeviceUnavailable(f"device {name!r}: use one of {', '.join(get_args(DeviceName))}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f'[training] device = "cuda", but this torch ({torch.__version__}, CUDA '
                                f"{torch.version.cuda or 'not built in'}) sees no CUDA GPU: install a CUDA build of "
                                'torch on a machine with one, or set device = "cpu" (or "auto")')
    if name == "mps" and not _mps_available():
        raise DeviceUnavailable('[training] device = "mps", but torch sees no Apple GPU here: set device = "cpu" '
                                '(or "auto")')
    return torch.device(name)


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
