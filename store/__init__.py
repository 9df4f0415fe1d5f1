"""The store: the state every stage shares, in SQLite or PostgreSQL.

:mod:`store.schema` declares the tables (migrated by Alembic, :mod:`store.migrations`, when a
store is opened with :func:`open_store`); :mod:`store.catalog` is the read model of products
and queries; :mod:`store.ledger` the typed run ledger; :mod:`store.splits` the four-way split
of labelled queries; :mod:`store.ranked` the channels' ranked lists; :mod:`store.fulltext`
the catalog channel's full-text tables; :mod:`store.bulk` and :mod:`store.locks` bulk writes
and work locks.
"""

from store.db import StoreConfig, display_url, open_store

__all__ = ["StoreConfig", "display_url", "open_store"]
