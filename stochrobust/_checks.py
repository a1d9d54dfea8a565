"""Input validation helpers and the model-state guard's 0.1 location.

Every public function of stochrobust validates its inputs with the helpers below, so that
bad input fails early with a message of the form ``"<argument>: expected <what>, got
<received>"``. The errors raised are the typed exceptions of :mod:`stochrobust.errors`,
which subclass the built-in ``ValueError`` / ``TypeError`` so that existing
``except ValueError`` handlers keep working.

0.1 defined those exceptions here: for one release ``stochrobust._checks.ShapeError`` (and
every other :class:`~stochrobust.errors.StochRobustError`) still resolves, through the
module ``__getattr__``, to the class in :mod:`stochrobust.errors`, with a
``DeprecationWarning`` naming ``stochrobust.errors.<name>``. The library imports them from
:mod:`stochrobust.errors`.

The model-state guard lives in :mod:`stochrobust._guard` (public as
:func:`stochrobust.frozen`; re-exported here, its 0.1 location).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch

from stochrobust import errors
from stochrobust._deprecate import warn_renamed
from stochrobust._guard import frozen

__all__ = ["frozen"]


def __getattr__(name: str) -> type[errors.StochRobustError]:
    """The 0.1 spelling ``stochrobust._checks.<error>``: the class, with a warning."""
    moved = getattr(errors, name, None)  # 0.1 defined its errors here
    if isinstance(moved, type) and issubclass(moved, errors.StochRobustError):
        warn_renamed(f"stochrobust._checks.{name}", f"stochrobust.errors.{name}")
        return moved
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def describe(x: object) -> str:
    """Short human description of ``x`` for error messages."""
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"


def check_tensor(x: object, name: str) -> torch.Tensor:
    """Check that ``x`` is a real floating-point tensor and return it."""
    if not isinstance(x, torch.Tensor):
        raise errors.StochRobustTypeError(f"{name}: expected a torch.Tensor, got {describe(x)}")
    if not x.is_floating_point():
        raise errors.StochRobustTypeError(
            f"{name}: expected a real floating-point tensor, got dtype {x.dtype}"
        )
    return x


def check_ndim(x: torch.Tensor, name: str, ndim: int | Sequence[int], what: str = "") -> None:
    """Check the number of dimensions of ``x``."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        dims = " or ".join(str(d) for d in allowed)
        layout = f" {what}" if what else ""
        raise errors.ShapeError(
            f"{name}: expected a {dims}-D tensor{layout}, got shape {tuple(x.shape)}"
        )


def check_image(x: object, name: str, *, finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a finite floating-point image batch of shape ``(N, C, H, W)``."""
    t = check_tensor(x, name)
    check_ndim(t, name, 4, "(N, C, H, W)")
    if t.shape[0] == 0:
        raise errors.ShapeError(f"{name}: expected a non-empty batch, got shape {tuple(t.shape)}")
    if finite:
        check_finite(t, name)
    return t


def check_batch(x: object, name: str, *, finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a non-empty floating-point batch ``(N, ...)`` with ``N ≥ 1``."""
    t = check_tensor(x, name)
    if t.ndim < 1 or t.shape[0] == 0:
        raise errors.ShapeError(
            f"{name}: expected a non-empty batch with a leading batch dimension, "
            f"got shape {tuple(t.shape)}"
        )
    if finite:
        check_finite(t, name)
    return t


def check_features(x: object, name: str, *, finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a non-empty floating-point feature matrix of shape ``(N, D)``."""
    t = check_tensor(x, name)
    check_ndim(t, name, 2, "(N, D)")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise errors.ShapeError(
            f"{name}: expected a non-empty (N, D) matrix, got shape {tuple(t.shape)}"
        )
    if finite:
        check_finite(t, name)
    return t


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise :class:`~stochrobust.NonFiniteError` if ``x`` holds NaN or ±Inf (one host sync)."""
    if not bool(torch.isfinite(x).all()):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise errors.NonFiniteError(
            f"{name}: expected finite values, got {n_nan} NaN and {n_inf} Inf entries "
            f"in a tensor of shape {tuple(x.shape)}"
        )


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Check that two tensors have the same shape."""
    if a.shape != b.shape:
        raise errors.ShapeError(
            f"{name_b}: expected the shape of {name_a} {tuple(a.shape)}, got {tuple(b.shape)}"
        )


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number in the given interval; return it as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value)
        else:
            raise errors.StochRobustTypeError(
                f"{name}: expected a real number, got {describe(value)}"
            )
    v = float(value)
    if not math.isfinite(v):
        raise errors.NonFiniteError(f"{name}: expected a finite number, got {v}")
    lo_ok = low is None or (v >= low if low_inclusive else v > low)
    hi_ok = high is None or (v <= high if high_inclusive else v < high)
    if not (lo_ok and hi_ok):
        lb = "-inf" if low is None else f"{low:g}"
        hb = "inf" if high is None else f"{high:g}"
        lo_br = "[" if (low_inclusive and low is not None) else "("
        hi_br = "]" if (high_inclusive and high is not None) else ")"
        raise errors.RangeError(f"{name}: expected a number in {lo_br}{lb}, {hb}{hi_br}, got {v:g}")
    return v


def check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Check that ``value`` is a finite number ``> 0`` (or ``≥ 0`` with ``allow_zero``)."""
    return check_number(value, name, low=0.0, low_inclusive=allow_zero)


def check_probability(value: object, name: str) -> float:
    """Check that ``value`` lies in the open interval (0, 1)."""
    return check_number(value, name, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """Check that ``value`` is an integer (not a bool), optionally ``≥ minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise errors.StochRobustTypeError(f"{name}: expected an integer, got {describe(value)}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise errors.RangeError(f"{name}: expected an integer >= {minimum}, got {v}")
    return v


def check_eps(
    eps: float | torch.Tensor,
    batch_size: int,
    *,
    name: str = "eps",
    allow_zero: bool = True,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Validate a radius given as a number or a per-sample ``(B,)`` tensor.

    Returns a ``(B,)`` tensor on ``device`` in ``dtype``. A tensor radius is checked for
    negative and non-finite entries, which costs one host synchronisation on accelerators;
    call this once at an API boundary, never inside an iteration loop.
    """
    if isinstance(eps, torch.Tensor):
        if eps.ndim == 0:
            eps = eps.reshape(1).expand(batch_size)
        if eps.ndim != 1 or eps.shape[0] != batch_size:
            raise errors.ShapeError(
                f"{name}: expected a number or a tensor of shape ({batch_size},), "
                f"got shape {tuple(eps.shape)}"
            )
        if eps.is_complex() or not (eps.is_floating_point() or eps.dtype in _INT_DTYPES):
            raise errors.StochRobustTypeError(
                f"{name}: expected a real tensor, got dtype {eps.dtype}"
            )
        check_finite(eps.double(), name)
        bad = (eps < 0) if allow_zero else (eps <= 0)
        if bool(bad.any()):
            rel = ">= 0" if allow_zero else "> 0"
            raise errors.RangeError(
                f"{name}: expected every entry {rel}, got minimum {float(eps.min()):g}"
            )
        return eps.to(device=device, dtype=dtype)
    v = check_positive(eps, name, allow_zero=allow_zero)
    return torch.full((batch_size,), v, device=device, dtype=dtype)


_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def check_generator(generator: object, name: str = "generator") -> torch.Generator | None:
    """Check that ``generator`` is ``None`` or a :class:`torch.Generator`."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise errors.StochRobustTypeError(
            f"{name}: expected a torch.Generator or None, got {describe(generator)}"
        )
    return generator


def check_callable(model: object, name: str = "model") -> None:
    """Check that ``model`` can be called."""
    if not callable(model):
        raise errors.StochRobustTypeError(
            f"{name}: expected a callable or nn.Module, got {describe(model)}"
        )


def check_data_range(y: torch.Tensor, data_range: object, name: str = "y") -> float | None:
    """Validate ``data_range`` (``> 0`` or ``None``) and that ``y`` lies in ``[0, data_range]``.

    ``None`` is the opt-out: the inputs are not images on a known range, nothing is checked
    and the caller reports PSNRs as NaN. One host synchronisation (min and max of ``y``).
    """
    if data_range is None:
        return None
    r = check_positive(data_range, "data_range")
    lo, hi = float(y.detach().min()), float(y.detach().max())
    if lo < 0 or hi > r:
        raise errors.RangeError(
            f"{name}: expected values in [0, data_range] = [0, {r:g}], got values in "
            f"[{lo:g}, {hi:g}]; pass data_range= the peak value of your images (e.g. 255 for "
            "8-bit data), or data_range=None to skip this check (PSNR fields are then NaN)"
        )
    return r


def check_batch_input(y: object, name: str = "y") -> torch.Tensor:
    """Check a model input batch ``(B, *in_shape)``: a float tensor, ``B ≥ 1``, ``ndim ≥ 2``.

    A 1-D tensor is refused: stochrobust reads the first dimension as the batch, so a
    ``(B,)`` tensor would be ``B`` inputs of no size; pass ``y[:, None]`` for ``B`` scalar
    inputs or ``y[None]`` for one vector input.

    Args:
        y: the input.
        name: the public argument name for messages.

    Returns:
        ``y``.

    Raises:
        StochRobustTypeError: not a real floating tensor, or an inference tensor.
        ShapeError: fewer than 2 dimensions or an empty batch.

    Examples:
        >>> check_batch_input(torch.zeros(2, 3)).shape
        torch.Size([2, 3])
    """
    t = check_tensor(y, name)
    if t.ndim < 2:
        raise errors.ShapeError(
            f"{name}: expected a batch (B, *in_shape) with the batch dimension first and at "
            f"least 2 dimensions, got shape {tuple(t.shape)} (pass {name}[:, None] for B "
            f"scalar inputs, or {name}[None] for a single vector input)"
        )
    if t.shape[0] == 0:
        raise errors.ShapeError(
            f"{name}: expected a non-empty batch (B, ...), got shape {tuple(t.shape)}"
        )
    if t.is_inference():
        raise errors.StochRobustTypeError(
            f"{name}: expected a normal tensor, got an inference tensor (created under "
            f"torch.inference_mode(), which forbids the gradients attacks need); create it "
            f"outside inference_mode or pass {name}.clone() from outside it"
        )
    return t


def check_model_input(y: object, name: str, data_range: object) -> torch.Tensor:
    """:func:`check_batch_input`, finiteness and :func:`check_data_range`, naming ``name``.

    For callers whose public argument is not ``y`` (``robustness(data=...)``,
    ``run_audit(inputs=...)``): validating here first keeps the messages on their name.
    """
    t = check_batch_input(y, name)
    check_finite(t, name)
    check_data_range(t, data_range, name)
    return t
