"""Prefect flows over the library: thin wiring, one module per stage.

:mod:`flows.ingestion`, :mod:`flows.mine`, :mod:`flows.calibrate`, :mod:`flows.annotate`,
:mod:`flows.datasets` (build_curriculum, export), :mod:`flows.retriever` (train, evaluate) and
:mod:`flows.pipeline`; the pipeline configuration is :mod:`flows.config`, what flows share
:mod:`flows.common`. The ``dissent`` command line is the :mod:`cli` package. Importing this
package loads nothing.
"""

__all__: list[str] = []
