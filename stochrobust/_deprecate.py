"""Deprecated 0.1 spellings: one decorator for renamed arguments, one for ``generator``.

Internal. ``@renamed(x="y", clip="box")`` lets a function accept the 0.1 keyword names for
one release: each old name is mapped to the new one with a :class:`DeprecationWarning`
that names the new spelling; passing both is a :class:`~stochrobust.StochRobustTypeError`.
Where a signature keeps the old name as a keyword-only parameter defaulting to
:data:`_UNSET` (so that it shows in the signature), :func:`renamed_argument` resolves it;
:func:`warn_renamed` warns for renamed attributes. The library itself never uses the old
spellings (pytest turns a DeprecationWarning raised from ``stochrobust.*`` into an error).
``@keyword_only_generator`` still accepts a now keyword-only ``generator`` (and the
options after it) at its 0.1 position, with a :class:`DeprecationWarning`. Stack
``@renamed`` outside ``@keyword_only_generator``.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from stochrobust.errors import StochRobustTypeError

__all__ = ["keyword_only_generator", "renamed", "renamed_argument", "warn_renamed"]

F = TypeVar("F", bound=Callable[..., Any])


def _warn(message: str) -> None:
    """Warn ``DeprecationWarning`` at the first caller outside this module (decorators stack)."""
    frame = sys._getframe(0)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
        level += 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Decorator mapping deprecated keyword names to their new names (see module doc)."""

    def wrap(fn: F) -> F:
        where = fn.__qualname__

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise StochRobustTypeError(
                            f"{new}: expected one of {new}= and its deprecated spelling "
                            f"{old}=, got both"
                        )
                    _warn(f"{where}: the argument {old}= is deprecated since 0.2, use {new}=")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def keyword_only_generator(fn: F) -> F:
    """Decorator for a ``generator`` that became keyword-only in 0.2.

    ``fn`` declares ``*, generator`` (followed by any other options that were positional
    after it in 0.1, in their 0.1 order). For one release, positional arguments beyond
    ``fn``'s positional parameters are still accepted: they are bound, in order, to the
    keyword-only parameters, with a :class:`DeprecationWarning`; passing one both ways is a
    :class:`~stochrobust.StochRobustTypeError`.
    """
    params = list(inspect.signature(fn).parameters.values())
    n_positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    keyword_only = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    where = fn.__qualname__

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        extra = args[n_positional:]
        if extra and len(extra) <= len(keyword_only):
            names = keyword_only[: len(extra)]
            for name, value in zip(names, extra, strict=True):
                if name in kwargs:
                    raise StochRobustTypeError(
                        f"{name}: expected it once, got it positionally and as {name}="
                    )
                kwargs[name] = value
            _warn(
                f"{where}: passing {', '.join(names)} positionally is deprecated since 0.2, "
                f"use {'=, '.join(names)}="
            )
            args = args[:n_positional]
        return fn(*args, **kwargs)

    return inner  # type: ignore[return-value]


T = TypeVar("T")

_UNSET: object = object()
"""Sentinel default of a deprecated keyword argument (distinguishes "not passed")."""


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (removed in the next release)."""
    warnings.warn(
        f"{old} is deprecated since stochrobust 0.2 and will be removed in 0.3; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_argument(old: str, old_value: object, new: str, new_value: T, default: T) -> T:
    """The value of argument ``new``, taking the deprecated ``old`` into account.

    ``old_value`` is :data:`_UNSET` when the caller did not pass ``old``. Passing both raises
    :class:`~stochrobust.StochRobustTypeError`; passing only ``old`` warns.
    """
    if old_value is _UNSET:
        return new_value
    if new_value != default:
        raise StochRobustTypeError(
            f"{old}: expected either {new}= or the deprecated {old}=, got both"
        )
    warn_renamed(f"the argument {old}=", f"{new}=", stacklevel=4)
    return old_value  # type: ignore[return-value]
