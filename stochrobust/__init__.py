"""stochrobust: robustness primitives for image-restoration models.

Wrap any torch generator — deterministic ``G(y)`` or stochastic ``G(y, z)`` — in an
:class:`Estimator` and measure, regularise, project and certify it:

- :mod:`stochrobust.sensitivity` — worst-case sensitivity and robustness ([O23] eqs. 2–9),
  attack solvers, norm-ball projections and a training regulariser;
- :mod:`stochrobust.consistency` — degradation operators and exact projections onto
  ``D(x) = y``;
- :mod:`stochrobust.smoothing` — median randomized smoothing with certified bounds;
- :mod:`stochrobust.metrics` — precision/recall, Wasserstein-2, Fréchet distance,
  per-pixel diversity, PSNR/SSIM.

Everything is imported lazily on first attribute access, so ``import stochrobust`` is
instant and does not import torch.

Examples:
    >>> import torch, stochrobust as sr
    >>> est = sr.Estimator(lambda y, z: y + 0.1 * z, seed_shape=(1, 8, 8))
    >>> est.sample(torch.zeros(2, 1, 8, 8), 4).shape
    torch.Size([2, 4, 1, 8, 8])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names and the module that defines each; imported on first access so that
# ``import stochrobust`` (and the pytest plugin, which pytest loads in every session of an
# environment where stochrobust is installed) does not import torch.
_LAZY = {
    "Estimator": "stochrobust.estimator",
    "as_estimator": "stochrobust.estimator",
    "frozen": "stochrobust._checks",
    "ModelError": "stochrobust.errors",
    "NonFiniteError": "stochrobust.errors",
    "RangeError": "stochrobust.errors",
    "ShapeError": "stochrobust.errors",
    "StochRobustError": "stochrobust.errors",
    "StochRobustTypeError": "stochrobust.errors",
    "StochRobustWarning": "stochrobust.errors",
    "ConvergenceWarning": "stochrobust.errors",
    "GuardWarning": "stochrobust.errors",
}

_SUBMODULES = (
    "sensitivity",
    "consistency",
    "smoothing",
    "metrics",
    "nets",
    "toy",
    "testing",
    "audit",
    "cli",
    "errors",
    "interop",
)

if TYPE_CHECKING:  # pragma: no cover
    from stochrobust import (  # noqa: F401
        audit,
        consistency,
        metrics,
        nets,
        sensitivity,
        smoothing,
        testing,
        toy,
    )
    from stochrobust._checks import frozen
    from stochrobust.errors import (
        ConvergenceWarning,
        GuardWarning,
        ModelError,
        NonFiniteError,
        RangeError,
        ShapeError,
        StochRobustError,
        StochRobustTypeError,
        StochRobustWarning,
    )
    from stochrobust.estimator import Estimator, as_estimator

__all__ = [
    "ConvergenceWarning",
    "Estimator",
    "GuardWarning",
    "ModelError",
    "NonFiniteError",
    "RangeError",
    "ShapeError",
    "StochRobustError",
    "StochRobustTypeError",
    "StochRobustWarning",
    "__version__",
    "as_estimator",
    "frozen",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"stochrobust.{name}")
    raise AttributeError(f"module 'stochrobust' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
