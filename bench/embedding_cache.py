"""Benchmark: a re-mine after adding 1% of products encodes about 1% of them.

The dense channel caches each product's vector by content hash (``workdir/cache/embeddings``,
:class:`miners.embeddings.EmbeddingCache`); products with the same content share one vector.
On Home Depot's catalog (54,667 products), with a fresh cache:

1. the dense channel indexes the catalog less a seeded 1% (the "before" catalog): every
   distinct content is encoded;
2. it indexes the whole catalog, as a re-mine after those products were added would: only the
   added products whose content is new should be encoded;
3. it indexes the whole catalog again, unchanged: nothing should be encoded.

Each step is ``DenseChannel.index`` in a new channel with the default configuration's
``mining.dense`` settings (what ``dissent mine``'s dense index step runs), timed, with the
texts the encoder was given (``encoded``) and the vectors the cache gained (``new_vectors``).
The model is loaded before the first step, so no step pays for it. Writes
``bench/results/embedding-cache.json``.

    python -m bench.embedding_cache [--share 0.01] [--seed 0] [--output PATH]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.command import command_line, write_results
from core.encoder import Encoder, Matrix
from flows.config import load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.config import DenseConfig
from miners.dense import DenseChannel
from miners.embeddings import EmbeddingCache
from store.catalog import ProductDoc, load_products
from store.db import open_store

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISSENT_HOMEDEPOT_DIR", ROOT.parent / "shared/data/homedepot"))
RESULTS = ROOT / "bench" / "results"


class _CountingEncoder(Encoder):
    """The encoder, counting the texts it is given."""

    texts = 0

    def encode(self, texts: Sequence[str], label: str | None = None) -> Matrix:
        self.texts += len(texts)
        return super().encode(texts, label)


def _index(
    products: list[ProductDoc], config: DenseConfig, cache_dir: Path, encoder: _CountingEncoder
) -> dict[str, Any]:
    """Index ``products`` with a new dense channel on the cache: time, texts encoded."""
    vectors, texts = len(EmbeddingCache(cache_dir, encoder.key)), encoder.texts
    started = time.perf_counter()
    DenseChannel(config, cache_dir=cache_dir, encoder=encoder).index(products)
    seconds = time.perf_counter() - started
    return {
        "products": len(products),
        "distinct_contents": len({p.content_hash for p in products}),
        "encoded": encoder.texts - texts,
        "new_vectors": len(EmbeddingCache(cache_dir, encoder.key)) - vectors,
        "seconds": round(seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--share", type=float, default=0.01, help="products added (share)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "embedding-cache.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    csv = DATA / "train.csv"
    if not csv.exists():
        print(f"skip: {csv} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    with tempfile.TemporaryDirectory(prefix="dissent-cache-") as tmp:
        env = {"DISSENT_STORE__URL": f"sqlite:///{tmp}/bench.db", "DISSENT_WORKDIR": tmp}
        cfg = load_config(None, environ=env)
        engine = open_store(cfg.store_url)
        ingest_dataset(engine, load_mapping(ROOT / "configs/homedepot.yaml"), csv)
        products = load_products(engine)
        engine.dispose()
        count = round(args.share * len(products))
        added = set(random.Random(args.seed).sample(range(len(products)), count))
        before = [p for i, p in enumerate(products) if i not in added]
        new_contents = {products[i].content_hash for i in added} - {p.content_hash for p in before}
        dense = cfg.mining.dense
        encoder = _CountingEncoder(dense.model, dense.batch_size, precision=cfg.precision)
        encoder.encode(["warm up"])  # load the model before any step is timed
        encoder.texts = 0
        cache_dir = Path(tmp) / "cache" / "embeddings"
        steps = {
            "first": _index(before, dense, cache_dir, encoder),
            "after_adding": _index(products, dense, cache_dir, encoder),
            "unchanged": _index(products, dense, cache_dir, encoder),
        }
    for name, step in steps.items():
        print(
            f"{name}: {step['products']:,} products ({step['distinct_contents']:,} distinct), "
            f"{step['encoded']:,} encoded, {step['new_vectors']:,} new vectors, "
            f"{step['seconds']:.1f} s"
        )
    first, again = steps["first"], steps["after_adding"]
    result = {
        "command": command_line("bench.embedding_cache"),
        "cores": os.cpu_count(),
        "precision": encoder.precision,
        "added": len(added),
        "added_with_new_content": len(new_contents),
        "steps": steps,
        "share_encoded_after_adding": again["encoded"] / again["products"],
        "time_after_adding_vs_first": again["seconds"] / first["seconds"],
    }
    print(
        f"after adding {len(added):,} products ({args.share:.0%}): encoded "
        f"{result['share_encoded_after_adding']:.2%} of the catalog in "
        f"{result['time_after_adding_vs_first']:.1%} of the first index's time"
    )
    write_results(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
