"""Deprecated keyword spellings: one decorator for every renamed argument.

Internal. ``@renamed(x="y", clip="box")`` lets a function accept the 0.1 keyword names for
one release: each old name is mapped to the new one with a :class:`DeprecationWarning`
that names the new spelling; passing both is a :class:`~stochrobust.StochRobustTypeError`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from stochrobust.errors import StochRobustTypeError

__all__ = ["renamed"]

F = TypeVar("F", bound=Callable[..., Any])


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
                    warnings.warn(
                        f"{where}: the argument {old}= is deprecated since 0.2, use {new}=",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
