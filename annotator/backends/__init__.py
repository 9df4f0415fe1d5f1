"""Grading backends behind one contract (:class:`~annotator.backends.base.Backend`).

:mod:`~annotator.backends.base` holds the contract, the backend names and the endpoint settings a
backend reads; :mod:`~annotator.backends.registry` builds a backend from a tier's settings and
says what its class can do; each backend is its own module (``cross_encoder``, ``llama_cpp``,
``llama_server``, ``openai_compatible``, ``vllm``, ``scripted``), imported only when used.
"""

from annotator.backends.base import (
    BACKENDS,
    Answer,
    Backend,
    BackendName,
    Capabilities,
    EndpointSettings,
    Pair,
    ParseError,
    parse_grade,
)
from annotator.backends.registry import backend_class, build_backend

__all__ = [
    "BACKENDS",
    "Answer",
    "Backend",
    "BackendName",
    "Capabilities",
    "EndpointSettings",
    "Pair",
    "ParseError",
    "backend_class",
    "build_backend",
    "parse_grade",
]
