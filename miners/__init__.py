"""Mining: retrieval channels, their rank metadata, and the disagreement sets.

The channel contract is :mod:`miners.base`, the channels :mod:`miners.bm25`,
:mod:`miners.dense` and :mod:`miners.catalog` (with :mod:`miners.lexicon`, :mod:`miners.terms`
and :mod:`miners.trigrams`), built by name in :mod:`miners.registry`; :mod:`miners.disagreement`
sorts their lists into sets, :mod:`miners.negatives` samples negatives,
:mod:`miners.candidates` makes each query's candidate rows, and
:func:`miners.mine.mine` runs it all as one resumable run.
"""

from miners.base import CHANNELS, Channel, ChannelName, SearchResult
from miners.config import MiningConfig, MiningSettings
from miners.mine import MiningReport
from miners.registry import build_channel

__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelName",
    "MiningConfig",
    "MiningReport",
    "MiningSettings",
    "SearchResult",
    "build_channel",
]
