"""deepinv reconstructors and samplers as stochrobust estimators.

A deepinv reconstructor is called ``model(y, physics)``; a deepinv sampler (``DDRM``,
``DiffPIR``, ``DPS``, ``ULA``, ...) is called the same way and draws its noise from torch's
global generator. :func:`reconstructor` wraps the first as a deterministic
:class:`~stochrobust.Estimator`; :func:`sampler` wraps the second as a *stochastic* one whose
seed is an integer per row: row ``i`` is computed as ``sampler(y_i, physics)`` with torch's
global generator forked and seeded with ``z_i`` (:func:`torch.random.fork_rng`), so

- the same ``generator`` state gives bit-identical samples on CPU, whatever ``max_batch``
  chunking, and the caller's global random state is left untouched;
- common random numbers hold exactly: ``G(y, z_k)`` and ``G(y + δ, z_k)`` see the same noise
  sequence, as [O23] eq. 6 requires.

The price is one sampler call per row (a Python loop over rows, unlike the fused evaluation
of ordinary models); samplers are iterative and dominated by their own steps anyway. The
input is cloned before every call: deepinv's ``DDRM`` (0.5) writes into ``y`` in place.

Gradients: deepinv's ``DDRM`` and ``DiffPIR`` run under ``torch.no_grad()``, so gradient
attacks (``sensitivity_at``) cannot go through them and stop with a
:class:`~stochrobust.ModelError`; diversity, precision/recall, W2 and smoothing need no
gradient and apply unchanged. Samplers whose steps are differentiable (e.g. ``DPS``
without its ``no_grad`` blocks) can be attacked.

References:
    [O23] eq. 6 (common random numbers), §5 (stochastic estimators ``G(y, z)``); deepinv's
    ``Reconstructor`` and ``sampling`` documentation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from stochrobust._checks import check_callable, check_int
from stochrobust.consistency.deepinv import _deepinv
from stochrobust.errors import StochRobustTypeError
from stochrobust.estimator import Estimator

__all__ = ["DeepinvModel", "DeepinvSampler", "reconstructor", "sampler"]

_SEED_HIGH = 2**62


class DeepinvModel(nn.Module):
    """``y ↦ model(y, physics)``: a deepinv reconstructor as a one-argument model.

    Args:
        model: a deepinv reconstructor (any callable ``model(y, physics)``).
        physics: the deepinv physics passed on every call.

    Examples:
        >>> import deepinv
        >>> physics = deepinv.physics.Inpainting(img_size=(1, 4, 4), mask=0.5,
        ...                                      rng=torch.Generator().manual_seed(0))
        >>> net = DeepinvModel(lambda y, physics: physics.A_adjoint(y), physics)
        >>> net(torch.ones(2, 1, 4, 4)).shape
        torch.Size([2, 1, 4, 4])
    """

    def __init__(self, model: Any, physics: Any) -> None:
        super().__init__()
        check_callable(model, "model")
        self.model = model
        self.physics = physics

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``model(y, physics)``."""
        out: torch.Tensor = self.model(y, self.physics)
        return out


class DeepinvSampler(nn.Module):
    """``(y, z) ↦ sampler(y, physics)`` row by row, each row under its own seed ``z_i``.

    Args:
        sampler: a deepinv sampler (any callable ``sampler(y, physics)`` drawing from torch's
            global generator).
        physics: the deepinv physics.

    Shape:
        - ``y``: ``(R, C, H, W)``; ``z``: ``(R,)`` int64 seeds; output: the sampler's, ``R``
          rows.

    Examples:
        >>> import deepinv
        >>> physics = deepinv.physics.Denoising()
        >>> noisy = lambda y, physics: y + torch.randn_like(y)
        >>> model = DeepinvSampler(noisy, physics)
        >>> y, z = torch.zeros(2, 1, 2, 2), torch.tensor([7, 7])
        >>> out = model(y, z)
        >>> torch.equal(out[0], out[1])     # the same seed gives the same sample
        True
    """

    def __init__(self, sampler: Any, physics: Any) -> None:
        super().__init__()
        check_callable(sampler, "sampler")
        self.sampler = sampler
        self.physics = physics

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """One sampler call per row, under a forked global generator seeded with ``z_i``."""
        devices = [y.device] if y.device.type == "cuda" else []
        outs = []
        for i, seed in enumerate(z.tolist()):
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(int(seed))
                outs.append(self.sampler(y[i : i + 1].clone(), self.physics))
        return torch.cat(outs, dim=0)


def _integer_seeds(rows: int, y: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    dev = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(0, _SEED_HIGH, (rows,), generator=generator, device=dev).to(y.device)


def reconstructor(model: Any, physics: Any, *, max_batch: int | None = None) -> Estimator:
    """A deepinv reconstructor ``model(y, physics)`` as a deterministic estimator.

    Args:
        model: a deepinv ``Reconstructor`` (or any callable ``model(y, physics)``).
        physics: the deepinv physics it reconstructs from.
        max_batch: rows per model call (see :class:`~stochrobust.Estimator`).

    Returns:
        An :class:`~stochrobust.Estimator` for ``sensitivity_at``, ``robustness``, smoothing
        and the metrics; the model's and the physics' modules are guarded like any model's.

    Raises:
        StochRobustTypeError: ``model`` is not callable.

    References:
        [O23] eq. 2 (deterministic sensitivity).

    Examples:
        >>> import deepinv
        >>> from stochrobust.sensitivity import sensitivity_at
        >>> physics = deepinv.physics.Inpainting(img_size=(1, 4, 4), mask=0.5,
        ...                                      rng=torch.Generator().manual_seed(0))
        >>> est = reconstructor(lambda y, physics: physics.A_adjoint(y), physics)
        >>> res = sensitivity_at(est, torch.rand(2, 1, 4, 4), 0.1,
        ...                      generator=torch.Generator().manual_seed(0))
        >>> [round(v, 3) for v in res.value.sqrt().tolist()]   # a mask: sigma_max = 1
        [0.1, 0.1]
    """
    return Estimator(DeepinvModel(model, physics), max_batch=max_batch)


def sampler(sampler: Any, physics: Any, *, max_batch: int | None = None) -> Estimator:
    """A deepinv posterior sampler as a stochastic estimator with reproducible seeds.

    Each seed is an int64 drawn from the caller's ``generator``; see the module docstring for
    what is reproducible and what is differentiable.

    Args:
        sampler: a deepinv sampler (``DDRM``, ``DiffPIR``, ``DPS``, ``ULA``, ... or any
            callable ``sampler(y, physics)`` drawing from torch's global generator).
        physics: the deepinv physics.
        max_batch: rows per call of the wrapped model (each row is one sampler call).

    Returns:
        A stochastic :class:`~stochrobust.Estimator`.

    Raises:
        StochRobustTypeError: ``sampler`` is not callable or ``max_batch`` is not an integer.

    References:
        [O23] §5 and eq. 6 (stochastic estimators and common random numbers).

    Examples:
        >>> import deepinv
        >>> physics = deepinv.physics.Denoising()
        >>> est = sampler(lambda y, physics: y + 0.1 * torch.randn_like(y), physics)
        >>> y = torch.zeros(2, 1, 3, 3)
        >>> a = est.sample(y, 4, generator=torch.Generator().manual_seed(0))
        >>> b = est.sample(y, 4, generator=torch.Generator().manual_seed(0))
        >>> a.shape, torch.equal(a, b)
        (torch.Size([2, 4, 1, 3, 3]), True)
    """
    _deepinv()
    if max_batch is not None:
        max_batch = check_int(max_batch, "max_batch", minimum=1)
    if not callable(sampler):
        raise StochRobustTypeError(f"sampler: expected a callable, got {type(sampler).__name__}")
    return Estimator(
        DeepinvSampler(sampler, physics), seed_sampler=_integer_seeds, max_batch=max_batch
    )
