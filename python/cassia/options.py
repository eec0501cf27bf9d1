"""Public functions with real signatures: a misspelled keyword names the closest valid one.

Every public entry point spells out its options as typed keyword-only parameters, so
``inspect.signature`` and editors show them all. :func:`checked` adds what Python does not:
``run_pipeline(markers, tisue="blood")`` raises ``TypeError: run_pipeline() got an unexpected
keyword argument 'tisue'; did you mean 'tissue'?`` instead of an error from deep inside the
engine. The message keeps Python's own first clause, so code that recognises it still does.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def did_you_mean(name: str, valid: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The valid name closest to ``name`` (case-insensitive), or None when nothing is close."""
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def unknown_keyword_error(function: str, name: str, valid: list[str]) -> TypeError:
    """The TypeError for an unknown keyword, naming the closest valid one (or listing them)."""
    message = f"{function}() got an unexpected keyword argument {name!r}"
    guess = did_you_mean(name, valid)
    if guess is not None:
        return TypeError(f"{message}; did you mean {guess!r}?")
    return TypeError(f"{message}; its keyword arguments are: {', '.join(sorted(valid))}")


def checked(function: F) -> F:
    """Check keyword names against ``function``'s signature before calling it.

    Works for plain and ``async`` functions; the wrapper keeps the signature and docstring
    (``inspect.signature`` follows ``__wrapped__``). A function taking ``**kwargs`` is left as is.
    """
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return function
    valid = [name for name, p in parameters.items()
             if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    known = frozenset(valid)
    name = function.__name__

    def check(kwargs: dict[str, Any]) -> None:
        for key in kwargs:
            if key not in known:
                raise unknown_keyword_error(name, key, valid)

    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            check(kwargs)
            return await function(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check(kwargs)
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
