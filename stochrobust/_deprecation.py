"""Deprecated spellings of 0.1 (one release of grace, see the migration table in CHANGELOG.md).

Internal helpers: :func:`renamed_argument` resolves a renamed keyword argument and warns
:class:`DeprecationWarning` naming the new spelling; the library itself never passes the old
spelling (pytest turns a DeprecationWarning raised from ``stochrobust.*`` into an error).
"""

from __future__ import annotations

import warnings
from typing import TypeVar

from stochrobust.errors import StochRobustTypeError

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
