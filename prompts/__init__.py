"""Prompts every LLM tier reads: versioned Jinja2 templates and the product-text sanitizer.

:func:`load_prompt` renders a template (:mod:`prompts.templates`); :func:`sanitize` cuts what
reads as instructions to a model out of product text (:mod:`prompts.sanitize`). A template's
version hashes its source and the sanitizer's version, and keys every judgment's cache.
"""

from prompts.sanitize import SANITIZER_VERSION, sanitize
from prompts.templates import GRADES, Prompt, escape_data, load_prompt

__all__ = ["GRADES", "SANITIZER_VERSION", "Prompt", "escape_data", "load_prompt", "sanitize"]
