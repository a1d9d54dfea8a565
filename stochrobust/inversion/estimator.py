"""CSGM and ILO as stochastic restoration estimators ``x̂ = G(y, z₀)``.

Inverting a generator from a random initial latent ``z₀`` gives a different consistent
reconstruction for every ``z₀``: a stochastic estimator in the sense of [O23]. Wrapped as
an :class:`~stochrobust.Estimator` whose seed is ``z₀ ~ N(0, I)``, it plugs into
:func:`~stochrobust.sensitivity.sensitivity_at` (eq. 6),
:func:`~stochrobust.sensitivity.robustness`, :func:`~stochrobust.metrics.per_pixel_std`,
precision/recall and median smoothing unchanged.

References:
    [D21] Algorithm 1 and §4 (random initial latents); [O23] eq. 6 (the same seeds ``Z_k``
    for the clean and the perturbed input).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stochrobust._checks import check_callable, check_int, describe
from stochrobust.consistency import LinearOperator
from stochrobust.errors import RangeError, StochRobustTypeError
from stochrobust.estimator import Estimator
from stochrobust.inversion._descent import Chain
from stochrobust.inversion.csgm import csgm
from stochrobust.inversion.ilo import ilo

__all__ = ["InversionEstimator"]

_METHODS: dict[str, Callable[..., Any]] = {"ilo": ilo, "csgm": csgm}
_RESERVED = {"net", "layers", "op", "y", "z0", "n_seeds", "latent_shape", "check"}


class _Inversion(nn.Module):
    """``(y, z₀) ↦ x̂``: one inversion per row, started at that row's latent."""

    def __init__(
        self,
        method: str,
        layers: list[Callable[[torch.Tensor], torch.Tensor]] | None,
        net: Callable[[torch.Tensor], torch.Tensor],
        op: LinearOperator,
        latent_shape: tuple[int, ...],
        options: dict[str, Any],
    ) -> None:
        super().__init__()
        self.method, self.layers, self.net, self.op = method, layers, net, op
        self.latent_shape, self.options = latent_shape, options

    def forward(self, y: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if z is None:  # the deterministic estimator: z₀ = 0
            z = y.new_zeros((y.shape[0], *self.latent_shape))
        z0 = z.unsqueeze(1)
        if self.method == "ilo":
            assert self.layers is not None
            res = ilo(self.layers, self.op, y, z0=z0, check=False, **self.options)
            return res.x_hat[:, 0]
        return csgm(self.net, self.op, y, z0=z0, check=False, **self.options).x_hat[:, 0]


class InversionEstimator(Estimator):
    """ILO or CSGM started from a random latent, as a stochastic :class:`~stochrobust.Estimator`.

    ``G(y, z₀)`` runs :func:`~stochrobust.inversion.ilo` (or :func:`~stochrobust.inversion.csgm`)
    on the measurements ``y`` from the initial latent ``z₀``; the seeds are
    ``z₀ ~ N(0, I)`` of shape ``latent_shape``, so the Estimator's fused evaluation runs one
    batched inversion of all ``B·n_seeds`` rows. With ``deterministic=True`` the start is
    ``z₀ = 0`` (the papers' deterministic estimator) and the estimator takes no seed.

    Gradients with respect to ``y`` (which the attack solvers of
    :mod:`stochrobust.sensitivity` use) are exact derivatives of the unrolled optimisation:
    every Adam step is differentiated through (second derivatives of the generator); an
    unrolled inversion and its backward pass cost 1.75× a plain inversion in
    ``benchmarks/ilo_batched.py`` (CPU, the 8 → 32 → 64 → 8×8 generator). Evaluations with
    ``y`` not requiring grad keep no graph.

    Args:
        layers_or_net: the generator: a sequence of layers whose composition is ``G``, or a
            module with a ``layers`` attribute (such as :class:`LayeredGenerator`); for
            ``method="csgm"`` any network ``z ↦ x`` also works.
        op: the degradation operator ``A``.
        method: ``"ilo"`` (default) or ``"csgm"``.
        latent_shape: the latent's per-row shape (default: ``layers_or_net.latent_shape``).
        deterministic: start every inversion at ``z₀ = 0`` instead of a random seed.
        max_batch: at most this many rows per inversion call (see :class:`~stochrobust.Estimator`).
        options: keyword arguments of :func:`ilo` / :func:`csgm` (``steps``, ``lr``,
            ``radius``, ``radii``, ``rounds``, ...); values are validated at every call,
            before any optimisation starts. With ``noise_std > 0`` the SNA noise comes
            from torch's global RNG, so outputs are no longer a function of the seed alone.

    Raises:
        StochRobustTypeError: ``op`` is not a ``LinearOperator``, ``layers_or_net`` is not a
            network or sequence of layers (ILO needs layers), an option that
            ``method`` does not take, or no latent shape is known.
        RangeError: an unknown ``method``.

    Shape:
        - ``y``: ``(B, *range_shape)``; outputs ``(B, n, C, H, W)``.

    References:
        [D21] Algorithm 1; [O23] eq. 6 (``G(y, Z)`` with shared seeds).

    Examples:
        >>> from stochrobust.consistency import AvgPoolDownsample
        >>> from stochrobust.inversion import LayeredGenerator
        >>> net = LayeredGenerator(2, (8,), (1, 4, 4), generator=torch.Generator().manual_seed(0))
        >>> est = InversionEstimator(net, AvgPoolDownsample(2),
        ...                          options={"csgm_steps": 5, "steps_per_layer": 5})
        >>> est.sample(torch.full((2, 1, 2, 2), 0.5), 3).shape
        torch.Size([2, 3, 1, 4, 4])
    """

    def __init__(
        self,
        layers_or_net: object,
        op: LinearOperator,
        *,
        method: str = "ilo",
        latent_shape: Sequence[int] | None = None,
        deterministic: bool = False,
        max_batch: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if method not in _METHODS:
            raise RangeError(f"method: expected 'ilo' or 'csgm', got {method!r}")
        if not isinstance(op, LinearOperator):
            raise StochRobustTypeError(
                f"op: expected a stochrobust.consistency.LinearOperator, got {describe(op)}"
            )
        layers, net = _layers_and_net(layers_or_net, method)
        shape = (
            latent_shape
            if latent_shape is not None
            else getattr(layers_or_net, "latent_shape", None)
        )
        if shape is None or isinstance(shape, int) or not isinstance(shape, Sequence):
            raise StochRobustTypeError(
                f"latent_shape: expected a tuple of integers, got {describe(shape)}"
            )
        dims = tuple(check_int(s, "latent_shape", minimum=1) for s in shape)
        opts = dict(options or {})
        allowed = set(inspect.signature(_METHODS[method]).parameters) - _RESERVED
        for key in opts:
            if key not in allowed:
                raise StochRobustTypeError(
                    f"options: expected keywords of {method}() among {sorted(allowed)}, got {key!r}"
                )
        model = _Inversion(method, layers, net, op, dims, opts)
        super().__init__(model, seed_shape=None if deterministic else dims, max_batch=max_batch)
        self.method = method
        self.latent_shape = dims


def _layers_and_net(
    value: object, method: str
) -> tuple[
    list[Callable[[torch.Tensor], torch.Tensor]] | None, Callable[[torch.Tensor], torch.Tensor]
]:
    inner = getattr(value, "layers", None) if isinstance(value, nn.Module) else None
    if inner is not None or (isinstance(value, Sequence) and not isinstance(value, str)):
        seq = list(inner if inner is not None else value)  # type: ignore[arg-type]
        for item in seq:
            check_callable(item, "layers_or_net")
        net = value if inner is not None else Chain(seq)
        return seq, net  # type: ignore[return-value]
    if method == "ilo":
        raise StochRobustTypeError(
            "layers_or_net: expected a sequence of layers or a module with a `layers` "
            f"attribute for method='ilo', got {describe(value)}"
        )
    check_callable(value, "layers_or_net")
    return None, value  # type: ignore[return-value]
