"""The ``dissent`` command line: one module per command group, thin wiring over the library.

:mod:`cli.app` is the root command (``dissent --help``); :mod:`cli.ingest`, :mod:`cli.mining`,
:mod:`cli.annotate`, :mod:`cli.curriculum`, :mod:`cli.retriever`, :mod:`cli.run` and
:mod:`cli.info` and :mod:`cli.review` hold the commands. Importing this package loads no model.
"""

from cli.app import app, main

__all__ = ["app", "main"]
