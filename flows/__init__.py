"""Prefect flows over the library, and the ``dissent`` command line.

Flows (one module each): :mod:`flows.ingestion`, :mod:`flows.mine`, :mod:`flows.calibrate`,
:mod:`flows.annotate`, :mod:`flows.datasets` (build_curriculum, export) and
:mod:`flows.pipeline`; the CLI is :mod:`flows.cli`; the pipeline configuration,
:mod:`flows.config`. Importing this package has no side effects.
"""
