"""Keep third-party libraries' chatter out of what a user sees by default.

Model libraries print tables and bars of their own (transformers' "LOAD REPORT" of a freshly
initialised grade head, the Hugging Face libraries' download and save bars, numba and faiss
notes). Front ends (the CLI, ``make demo``) call :func:`quiet_third_parties` once, before those
libraries are imported; ``--verbose`` leaves them as they are. Library code never calls it.
"""

from __future__ import annotations

import logging
import os

__all__ = ["THIRD_PARTY_LOGGERS", "quiet_third_parties"]

THIRD_PARTY_LOGGERS = (
    "transformers",
    "sentence_transformers",
    "datasets",
    "huggingface_hub",
    "httpx",
    "httpcore",
    "urllib3",
    "numba",
    "faiss",
    "alembic",
    "bm25s",
    "filelock",
)
# Read by the libraries when they first set up their logging or bars.
_QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def quiet_third_parties(verbose: bool = False) -> None:
    """Show only warnings and errors from the libraries Dissent runs, unless ``verbose``.

    Environment variables the user set are left alone.
    """
    if verbose:
        return
    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:  # already imported: its verbosity was read from the environment at import
        import sys

        if "transformers" in sys.modules:
            sys.modules["transformers"].logging.set_verbosity_error()
        if "datasets" in sys.modules:
            sys.modules["datasets"].disable_progress_bars()
    except AttributeError:  # an unexpected version: its chatter stays
        pass
