"""The public exception and warning types of stochrobust.

Every error that stochrobust raises for bad input or a misbehaving model is an instance of
:class:`StochRobustError`. The concrete types also subclass the built-in ``ValueError`` or
``TypeError``, so existing ``except ValueError`` handlers keep working. Messages have the
form ``"<public argument>: expected <what>, got <received>"``.

Warnings subclass :class:`StochRobustWarning` (a ``UserWarning``), so they can be filtered
as a group: ``warnings.simplefilter("error", stochrobust.StochRobustWarning)``.

Examples:
    >>> import stochrobust as sr
    >>> issubclass(sr.ShapeError, ValueError), issubclass(sr.StochRobustTypeError, TypeError)
    (True, True)
    >>> issubclass(sr.ConvergenceWarning, UserWarning)
    True
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "GuardWarning",
    "ModelError",
    "NonFiniteError",
    "RangeError",
    "ShapeError",
    "StochRobustError",
    "StochRobustTypeError",
    "StochRobustWarning",
]


class StochRobustError(Exception):
    """Base class of every error raised by stochrobust's input validation."""


class ShapeError(StochRobustError, ValueError):
    """A tensor has the wrong number of dimensions or the wrong size."""


class RangeError(StochRobustError, ValueError):
    """A number is outside its admissible range (e.g. a negative ε or σ)."""


class NonFiniteError(StochRobustError, ValueError):
    """A tensor holds NaN or ±Inf where finite values are required."""


class ModelError(StochRobustError, ValueError, RuntimeError):
    """A user model misbehaves: it raised, or returned a wrong shape, dtype or non-finite output.

    Also a ``RuntimeError``, so handlers written for the model's own exceptions keep working;
    the model's original exception is chained as ``__cause__``.
    """


class StochRobustTypeError(StochRobustError, TypeError):
    """An argument has the wrong type."""


class StochRobustWarning(UserWarning):
    """Base class of every warning issued by stochrobust."""


class ConvergenceWarning(StochRobustWarning):
    """A worst-case search reported a value that has not converged (it may still be low)."""


class GuardWarning(StochRobustWarning):
    """The model-state guard found no module to protect in a callable that is not a function."""
