"""Ingest: load catalog, queries and human labels files into the store through a mapping.

Readers (:mod:`ingest.readers`) turn CSV, JSONL and Parquet into rows; a mapping
(:mod:`ingest.mapping`) names the columns and how labels map onto the internal 0–3 scale; one
module per section writes it (:mod:`ingest.catalog`, :mod:`ingest.queries`,
:mod:`ingest.labels`); :mod:`ingest.dataset` runs them in one transaction.
"""

from ingest.dataset import ingest_catalog, ingest_dataset, ingest_labels, ingest_queries
from ingest.fields import IngestReport, normalize_query
from ingest.mapping import DatasetMapping, load_mapping

__all__ = [
    "DatasetMapping",
    "IngestReport",
    "ingest_catalog",
    "ingest_dataset",
    "ingest_labels",
    "ingest_queries",
    "load_mapping",
    "normalize_query",
]
