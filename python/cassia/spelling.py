"""How an option is spelled in the interface the user is typing into.

The engine is reached from Python (``resume=True``), the command line (``--resume``) and R
(``resume = TRUE``). A message that tells the user which option to change must name it the way
*their* interface spells it, or the advice cannot be followed. Messages call :func:`spell`;
each interface says once, around its call into the engine, which spelling applies
(``with interface("cli"): ...``). The default is Python.

This module imports nothing from CASSIA: any layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["CLI_FLAGS", "current_interface", "interface", "key_advice", "offered", "spell"]

INTERFACES = ("python", "cli", "r")
_current: ContextVar[str] = ContextVar("cassia_interface", default="python")
_UNSET: Any = object()

# Command-line flags whose name is not ``--`` + the keyword with dashes.
CLI_FLAGS = {
    "out_dir": "--out",
    "max_p_val_adj": "--max-p-adj",
    "use_cache": "--no-cache",
    "report": "--no-report",
    "boost_iterations": "--boost-iterations",
}
# Engine keywords an interface does not offer, so advice must not suggest them: R's `cluster_col`
# names a Seurat metadata column, not a marker-table column; keys never go on a command line.
_NOT_OFFERED = {"r": {"cluster_col", "gene_col"}, "cli": {"api_key"}}
# Boolean keywords whose command-line flag says the opposite (``use_cache=False`` is ``--no-cache``).
_CLI_NEGATED = {"use_cache", "report"}


def current_interface() -> str:
    return _current.get()


@contextmanager
def interface(name: str) -> Iterator[None]:
    """Spell options the ``name`` way (``"python"``, ``"cli"`` or ``"r"``) inside the block."""
    if name not in INTERFACES:
        raise ValueError(f"unknown interface {name!r}; expected one of {INTERFACES}")
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


def spell(keyword: str, value: Any = _UNSET) -> str:
    """``keyword`` (with ``value`` when given) as the current interface writes it.

    ``spell("resume", True)`` is ``resume=True`` in Python, ``--resume`` on the command line and
    ``resume = TRUE`` in R; ``spell("max_p_val_adj", None)`` is ``max_p_val_adj=None``,
    ``--max-p-adj none`` and ``max_p_val_adj = NULL``.
    """
    where = _current.get()
    if where == "cli":
        return _cli(keyword, value)
    if value is _UNSET:
        return keyword
    if where == "r":
        return f"{keyword} = {_r_value(value)}"
    return f"{keyword}={value!r}"


def offered(keyword: str) -> bool:
    """Whether the current interface has an option for ``keyword`` (advice names only those)."""
    return keyword not in _NOT_OFFERED.get(_current.get(), set())


def key_advice(provider: str, env_var: str) -> str:
    """How to give ``provider`` its API key, in the current interface's words."""
    where = _current.get()
    if where == "cli":
        return f"set the environment variable {env_var} (keys never go on the command line)"
    if where == "r":
        return (f'set the environment variable {env_var}, or call setLLMApiKey(key, provider = "{provider}"), '
                'or pass api_key = "..."')
    return f"set the environment variable {env_var}, or call cassia.set_api_key(key, provider={provider!r}), " \
           "or pass api_key=..."


def _cli(keyword: str, value: Any) -> str:
    flag = CLI_FLAGS.get(keyword, "--" + keyword.replace("_", "-"))
    if value is _UNSET:
        return flag
    if isinstance(value, bool):
        if keyword in _CLI_NEGATED:
            return flag if not value else f"(without {flag})"
        return flag if value else f"(without {flag})"
    if value is None:
        return f"{flag} none"
    return f"{flag} {value}"


def _r_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
