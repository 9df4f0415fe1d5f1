"""Grading backends behind one contract (:class:`~annotator.backends.base.Backend`)."""

from annotator.backends.base import Answer, Backend, Pair, ParseError, parse_grade
from annotator.backends.registry import BACKENDS, build_backend

__all__ = ["BACKENDS", "Answer", "Backend", "Pair", "ParseError", "build_backend", "parse_grade"]
