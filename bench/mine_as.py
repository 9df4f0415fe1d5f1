"""Mine a config's store as ``dissent mine`` does, with an experiment's channel options.

The catalog channel's title search is fixed in the product (``trigrams``); the README's proof
and curriculum-humans figures were mined with ``always``. To mine so before ``dissent
annotate``, ``dissent curriculum build`` and the rest of that chain::

    python -m bench.mine_as --config configs/homedepot-proof.yaml --title-search always

The options are part of the mining run's fingerprint, so such a run is never taken for the
product's and the other way round.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.paths import Workdir
from core.progress import progress_display
from flows.config import load_config
from miners.mine import mine
from store.db import open_store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument(
        "--title-search", choices=["always", "trigrams", "unrecognised", "never"], required=True
    )
    parser.add_argument("--limit", type=int, default=None, help="the first N queries only")
    args = parser.parse_args()
    config = load_config(args.config)
    options = {"catalog": {"title_search": args.title_search}}
    with progress_display(transient=True):
        report = mine(
            open_store(config.store_url),
            config,
            query_limit=args.limit,
            index_dir=Workdir(config.workdir).indexes,
            channel_options=options,
        )
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
