"""`[training] device`: which torch device a name means, and the one-line error for a GPU that
is not there. The choice is logic over what torch reports, so both answers are tested here by
making torch report them; training itself on a GPU is tests/training/test_cuda_training.py, which runs
where torch sees a CUDA GPU."""

from __future__ import annotations

import pytest
import torch

from loraswarm.node.training.device import pick_device
from loraswarm.node.training.errors import DeviceUnavailable


def _torch_sees(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(("cuda", "mps", "auto"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_takes_a_cuda_gpu_then_mps_then_the_cpu(monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool,
                                                     auto: str) -> None:
    _torch_sees(monkeypatch, cuda, mps)
    assert pick_device("auto") == torch.device(auto)
    assert pick_device("cpu") == torch.device("cpu")


def test_a_gpu_that_is_not_there_is_one_line_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    _torch_sees(monkeypatch, cuda=False, mps=False)
    with pytest.raises(DeviceUnavailable, match=r'sees no CUDA GPU: install a CUDA build .* or set device = "cpu"'):
        pick_device("cuda")
    with pytest.raises(DeviceUnavailable, match=r'sees no Apple GPU here: set device = "cpu"'):
        pick_device("mps")
    _torch_sees(monkeypatch, cuda=True, mps=False)
    assert pick_device("cuda") == torch.device("cuda")


def test_an_unknown_device_names_the_choices() -> None:
    with pytest.raises(DeviceUnavailable, match="device 'tpu': use one of auto, cpu, cuda, mps"):
        pick_device("tpu")
