"""The dense channel with the packaged all-MiniLM-L6-v2 (a real model, loaded offline)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.encoder import Encoder
from core.errors import StoreError
from core.models import default_model_path
from miners.config import DenseConfig
from miners.dense import DenseChannel
from miners.embeddings import EmbeddingCache
from store.catalog import ProductDoc, product_text
from tests.miners.conftest import by_id

QUERIES = ["cordless drill", "celing fan with light", "vaccum cleaner", "garden hose"]
# What a careful reader expects on top for each query, misspellings included. For the fan
# query the model's top hit is the lexical trap the sample plants (a ceiling *exhaust* fan with
# light): still a fan, and exactly the kind of pair the cascade has to grade.
EXPECTED = {0: "drill", 1: "fan", 2: "vacuum", 3: "hose"}


@pytest.fixture(scope="module")
def vectors(sample_products: list[ProductDoc], encoder: Encoder) -> np.ndarray:
    return DenseChannel(encoder=encoder).embed_products(sample_products)


def channel_with(
    config: DenseConfig, encoder: Encoder, products: list[ProductDoc], vectors: np.ndarray
) -> DenseChannel:
    channel = DenseChannel(config, encoder=encoder)
    channel.index_vectors([p.id for p in products], vectors)
    return channel


def test_model_loads_from_the_installed_package() -> None:
    path = Path(default_model_path())
    assert (path / "config.json").exists() and "site-packages" in str(path)


def test_semantic_matches_survive_misspellings(
    sample_products: list[ProductDoc], encoder: Encoder, vectors: np.ndarray
) -> None:
    channel = channel_with(DenseConfig(), encoder, sample_products, vectors)
    result = channel.search(QUERIES, k=3)
    docs = by_id(sample_products)
    for i, word in EXPECTED.items():
        top = docs[int(result.ids[i][0])]
        assert word in f"{top.title} {top.product_type}".lower(), (QUERIES[i], top.title)
    assert (np.diff(result.scores, axis=1) <= 1e-6).all()  # best first


@pytest.mark.parametrize(
    "config",
    [
        DenseConfig(index="ivf", nlist=8, nprobe=8),
        DenseConfig(index="hnsw"),
        DenseConfig(truncate_dim=128),
        DenseConfig(binary=True),
    ],
    ids=["ivf", "hnsw", "matryoshka-128", "binary"],
)
def test_large_catalog_options_agree_with_flat(
    config: DenseConfig, sample_products: list[ProductDoc], encoder: Encoder, vectors: np.ndarray
) -> None:
    flat = channel_with(DenseConfig(), encoder, sample_products, vectors).search(QUERIES, k=10)
    other = channel_with(config, encoder, sample_products, vectors).search(QUERIES, k=10)
    overlap = np.mean([len(set(flat.ids[i]) & set(other.ids[i])) / 10 for i in range(len(QUERIES))])
    # Exact for ivf (all lists probed) and hnsw on 296 items; approximate for the compressed ones.
    assert overlap >= (0.99 if config.index != "flat" else 0.5)


def test_embedding_cache_encodes_each_content_once(
    sample_products: list[ProductDoc], encoder: Encoder, tmp_path: Path
) -> None:
    few = sample_products[:20]
    channel = DenseChannel(cache_dir=tmp_path, encoder=encoder)
    first = channel.embed_products(few)
    cache = EmbeddingCache(tmp_path, encoder.key)
    assert len(cache) == 20
    found, cached = cache.lookup([p.content_hash for p in few])
    assert found.all()
    np.testing.assert_allclose(cached, first, atol=1e-6)

    calls = []
    original = encoder.encode
    encoder.encode = lambda texts, label=None: calls.append(len(texts)) or original(texts)  # type: ignore[method-assign]
    try:
        changed = [*few[:19], ProductDoc(few[19].id, "A different title", content_hash="new-hash")]
        DenseChannel(cache_dir=tmp_path, encoder=encoder).embed_products(changed)
    finally:
        encoder.encode = original  # type: ignore[method-assign]
    assert calls == [1]  # only the changed product was encoded


def test_cache_with_repeated_content_stays_aligned(
    sample_products: list[ProductDoc], encoder: Encoder, tmp_path: Path
) -> None:
    # Two products with the same content share a hash: the cache must keep one vector for it
    # and every later vector on its own row (a misaligned cache returned other products' vectors).
    twin = dataclasses.replace(sample_products[0], id=9999)
    products = [sample_products[0], twin, *sample_products[1:30]]
    first = DenseChannel(cache_dir=tmp_path, encoder=encoder).embed_products(products)
    again = DenseChannel(cache_dir=tmp_path, encoder=encoder).embed_products(products)
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert len(EmbeddingCache(tmp_path, encoder.key)) == 30


@pytest.mark.parametrize("cached", [True, False])
def test_repeated_content_is_encoded_once_in_a_pass(
    sample_products: list[ProductDoc], encoder: Encoder, tmp_path: Path, cached: bool
) -> None:
    twin = dataclasses.replace(sample_products[2], id=9999)
    products = [*sample_products[:5], twin, sample_products[7]]
    calls: list[int] = []
    original = encoder.encode
    encoder.encode = lambda texts, label=None: calls.append(len(texts)) or original(texts)  # type: ignore[method-assign]
    try:
        channel = DenseChannel(cache_dir=tmp_path if cached else None, encoder=encoder)
        got = channel.embed_products(products)
    finally:
        encoder.encode = original  # type: ignore[method-assign]
    assert calls == [6]  # seven products, six contents
    np.testing.assert_array_equal(got[5], got[2])  # the twin shares its original's vector
    alone = encoder.encode([product_text(p) for p in products])
    np.testing.assert_allclose(got, alone, atol=2e-2)  # each row its own product's vector


def test_precomputed_embeddings_npy_and_parquet(
    sample_products: list[ProductDoc], encoder: Encoder, vectors: np.ndarray, tmp_path: Path
) -> None:
    ids = [p.external_id for p in sample_products]
    np.save(tmp_path / "emb.npy", vectors[::-1])
    (tmp_path / "emb.ids.txt").write_text("\n".join(reversed(ids)))
    pq.write_table(
        pa.table({"external_id": ids, "embedding": vectors.tolist()}), tmp_path / "emb.parquet"
    )
    for path in (tmp_path / "emb.npy", tmp_path / "emb.parquet"):
        loaded = DenseChannel(DenseConfig(embeddings_path=path), encoder=encoder).embed_products(
            sample_products
        )
        np.testing.assert_allclose(loaded, vectors, atol=1e-6)
    with pytest.raises(StoreError, match="no embedding for 1 of"):
        extra = [*sample_products, ProductDoc(999, "x", external_id="P0999")]
        DenseChannel(
            DenseConfig(embeddings_path=tmp_path / "emb.parquet"), encoder=encoder
        ).embed_products(extra)


@pytest.mark.parametrize("binary", [False, True])
def test_save_load_round_trip(
    binary: bool,
    sample_products: list[ProductDoc],
    encoder: Encoder,
    vectors: np.ndarray,
    tmp_path: Path,
) -> None:
    channel = channel_with(DenseConfig(binary=binary), encoder, sample_products, vectors)
    before = channel.search(QUERIES, k=10)
    channel.save(tmp_path / "dense")
    loaded = DenseChannel(encoder=encoder)
    loaded.load(tmp_path / "dense")
    after = loaded.search(QUERIES, k=10)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_allclose(before.scores, after.scores, atol=1e-6)


def test_bfloat16_encoding_matches_float32(
    sample_products: list[ProductDoc], encoder: Encoder
) -> None:
    titles = [p.title for p in sample_products[:64]]
    fast = Encoder(precision="bfloat16")
    fast._model = encoder._load()  # same weights, another precision
    cosines = np.sum(encoder.encode(titles) * fast.encode(titles), axis=1)
    assert cosines.min() > 0.999
    assert fast.key.endswith("-bf16") and not encoder.key.endswith("-bf16")  # cached apart


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_encoding_batch_by_batch_for_progress_gives_the_same_vectors(
    precision: str, sample_products: list[ProductDoc], encoder: Encoder
) -> None:
    from core.progress import progress_display

    texts = [product_text(p) for p in sample_products[:150]]  # three batches, the last short
    model = Encoder(precision=precision, batch_size=64)
    model._model = encoder._load()
    stream = io.StringIO()
    with progress_display(stream=stream, interval_s=0):
        batched = model.encode(texts, label="encoding")
    np.testing.assert_array_equal(batched, model.encode(texts))
    assert "encoding: 150 / 150 (100%)" in stream.getvalue()
