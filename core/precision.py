"""Which precision a torch model runs in: one decision for every model Dissent runs.

The pipeline's ``precision`` key (``auto``, ``float32`` or ``bfloat16``) applies to the dense
channel's encoder, tier training and grading, and retriever training and evaluation alike.
``auto`` picks bfloat16 autocast where the hardware runs it natively — a CPU with AMX-BF16 or
AVX512-BF16 (about twice as fast, embeddings equal to float32 to a cosine of 0.9999), or a GPU
that supports it — and float32 elsewhere.

Example:
    >>> resolve_precision("float32")
    'float32'
    >>> resolve_precision("bfloat16", device="cpu")
    'bfloat16'
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["Precision", "cpu_has_bf16", "resolve_precision"]

Precision = Literal["auto", "float32", "bfloat16"]
"""What the ``precision`` key accepts."""


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 matmuls natively (AMX-BF16 or AVX512-BF16; Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _gpu_has_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_bf16_supported())


def resolve_precision(setting: str = "auto", device: str = "cpu") -> Literal["float32", "bfloat16"]:
    """The precision to run in on ``device`` (``cpu``, ``cuda``, ``cuda:1``) for ``setting``.

    ``float32`` and ``bfloat16`` are taken as they are; ``auto`` is bfloat16 where the device
    runs it natively, else float32.

    Raises:
        ValueError: ``setting`` is not one of ``auto``, ``float32``, ``bfloat16``.
    """
    if setting in ("float32", "bfloat16"):
        return setting  # type: ignore[return-value]
    if setting != "auto":
        raise ValueError(f"precision must be auto, float32 or bfloat16, got {setting!r}")
    native = _gpu_has_bf16() if device.startswith("cuda") else cpu_has_bf16()
    return "bfloat16" if native else "float32"
