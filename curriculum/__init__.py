"""Curriculum: graded candidates placed at five levels, three training stages, and the export.

:mod:`curriculum.levels` says where a graded candidate belongs, :mod:`curriculum.stages` how
levels become stage rows, :mod:`curriculum.splits` and :mod:`curriculum.augment` the
validation split and typo-noisy copies; :func:`build_curriculum` writes a build to the store
and :func:`export_curriculum` writes Hugging Face datasets with a card. Retrievers read the
curriculum only through that export (:mod:`retriever`).
"""

from curriculum.build import CurriculumReport, build_curriculum
from curriculum.config import CurriculumConfig, ExportConfig
from curriculum.export import ExportReport, export_curriculum
from curriculum.levels import LEVELS

__all__ = [
    "LEVELS",
    "CurriculumConfig",
    "CurriculumReport",
    "ExportConfig",
    "ExportReport",
    "build_curriculum",
    "export_curriculum",
]
