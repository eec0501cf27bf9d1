"""The engine's version (one place; the package, the run manifest and the R bridge read it)."""

__version__ = "0.1.0"
