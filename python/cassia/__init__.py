"""CASSIA: multi-agent LLM annotation of single-cell clusters (public API)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
