"""CSGM: invert a generative model by gradient descent on its latent (Bora et al. 2017).

:func:`csgm` minimises ``‖A G(z) − y‖²`` over ``z ∈ B₂(r)`` for every measurement and every
random initial latent at once (one batched optimisation of ``B·K`` rows), keeping the best
iterate of each row. Started from random latents it is a stochastic restoration estimator
``x̂ = G(y, z₀)``; :class:`~stochrobust.inversion.InversionEstimator` wraps it as one.

References:
    Bora, Jalal, Price, Dimakis. *Compressed Sensing using Generative Models*. ICML 2017
    (eq. 2: ``min_z ‖A G(z) − y‖²``). [D21] Algorithm 1, line 1 (the CSGM step of ILO,
    over ``B₂ᵏ(r₁)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from stochrobust._checks import check_callable, check_generator, frozen
from stochrobust.consistency import LinearOperator
from stochrobust.inversion._descent import (
    UserLoss,
    check_measurements,
    check_options,
    check_output,
    descend,
    l2_ball,
    measurement_objective,
    squared_error,
    starts,
)
from stochrobust.inversion.results import CSGMResult

__all__ = ["csgm"]


def csgm(
    net: Callable[[torch.Tensor], torch.Tensor],
    op: LinearOperator,
    y: torch.Tensor,
    *,
    z0: torch.Tensor | None = None,
    n_seeds: int = 1,
    latent_shape: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    steps: int = 200,
    lr: float = 0.05,
    radius: float | None = None,
    noise_std: float = 0.0,
    loss: UserLoss | None = None,
    check: bool = True,
) -> CSGMResult:
    """Reconstruct from ``y = A x`` with a generator: ``min_{‖z‖₂ ≤ r} ‖A net(z) − y‖²``.

    Projected Adam on the latent (the projection onto ``B₂(r)`` after every step), batched
    over the ``B`` measurements and ``K`` starts (``B·K`` independent rows), the best iterate
    of every row kept on device; no host synchronisation inside the loop. The network is
    evaluated in eval mode with frozen parameters and comes back unchanged.

    Differentiable with respect to ``y`` (and ``z0``): when grad mode is on and either
    requires grad, the descent is unrolled (gradients taken with ``create_graph=True``), so
    ``x_hat`` is the exact derivative-carrying function of ``y`` that the ``steps`` Adam
    steps compute (the best-iterate choice is piecewise constant). Otherwise the result is
    detached and no graph is kept.

    Args:
        net: the generative model ``G``: latents ``(R, *latent_shape)`` → images
            ``(R, C, H, W)`` (any callable; modules are protected).
        op: the degradation operator ``A`` (a :class:`~stochrobust.consistency.LinearOperator`).
        y: measurements ``(B, *range_shape)``.
        z0: starting latents ``(B, K, *latent_shape)``; ``None``: ``K = n_seeds`` draws of
            ``N(0, I)`` from ``generator``.
        n_seeds: random starts per measurement when ``z0`` is ``None`` (the seeds of the
            stochastic estimator ``G(y, z₀)``, hence the name).
        latent_shape: per-row latent shape when ``z0`` is ``None`` (default:
            ``net.latent_shape``).
        generator: random generator for the starts and the SNA noise.
        steps: Adam steps (``≥ 0``).
        lr: Adam learning rate.
        radius: the latent ball's radius ``r``; ``None``: ``2·sqrt(k)`` (``k`` latent entries),
            which holds the typical set of ``N(0, I_k)``.
        noise_std: std of the Gaussian noise added to ``net(z)`` before ``A`` in the loss
            (Stochastic Noise Addition, [D21] §4, for noisy ``y``); ``0``: none.
        loss: an extra term ``loss(x, y) → (R,)`` added to the objective (``x`` the
            noise-free images, ``y`` the repeated measurements).
        check: validate the tensors ``y`` and ``z0`` and the result's finiteness (two host
            syncs); ``False`` skips them, so that the call never synchronises (for callers
            that validated once, e.g. inside an attack loop).

    Returns:
        A :class:`CSGMResult` with ``x_hat``, ``z``, ``loss`` and ``n_evals``.

    Raises:
        StochRobustTypeError: ``net`` or ``loss`` is not callable, ``op`` is not a
            ``LinearOperator``, a wrong ``generator``, or no latent shape is known.
        ShapeError: ``y`` is not in ``op``'s range or ``z0`` is not ``(B, K, ...)``.
        RangeError: negative ``steps`` or ``noise_std``, non-positive ``lr`` or ``radius``.
        NonFiniteError: NaN or Inf in ``y`` or ``z0``.
        ModelError: the optimisation produced NaN or Inf.

    Shape:
        - ``y``: ``(B, *range_shape)``; ``z0``: ``(B, K, *latent_shape)``;
          ``x_hat``: ``(B, K, C, H, W)``; ``loss``: ``(B, K)``.

    References:
        Bora et al. ICML 2017, eq. 2; [D21] Algorithm 1, line 1 (``z ∈ B₂ᵏ(r₁)``) and §4
        (SNA).

    Examples:
        >>> from stochrobust.consistency import Inpainting
        >>> from stochrobust.inversion import LayeredGenerator
        >>> net = LayeredGenerator(4, (16,), (1, 4, 4), generator=torch.Generator().manual_seed(0))
        >>> op = Inpainting(torch.rand(4, 4, generator=torch.Generator().manual_seed(1)) > 0.5)
        >>> with torch.no_grad():
        ...     x = net(torch.randn(2, 4, generator=torch.Generator().manual_seed(2)))
        >>> res = csgm(net, op, op.A(x), n_seeds=3, steps=100, lr=0.1,
        ...            generator=torch.Generator().manual_seed(3))
        >>> bool((res.best() - x).abs().max() < 0.2)
        True
    """
    if check:
        check_callable(net, "net")
        y = check_measurements(op, y)
        check_generator(generator)
    (n_steps,), rate, std = check_options(
        steps=[("steps", steps)], lr=lr, noise_std=noise_std, loss=loss
    )
    z_start, batch, k, latent, r, y_rows = starts(
        y, z0=z0, n_seeds=n_seeds, latent_shape=latent_shape, net=net, radius=radius,
        generator=generator, check=check,
    )  # fmt: skip
    rows = z_start.reshape(batch * k, *latent)
    unroll = torch.is_grad_enabled() and (y.requires_grad or rows.requires_grad)
    with frozen(net), torch.enable_grad():
        objective = measurement_objective(
            net, op, y_rows, noise_std=std, loss=loss, generator=generator
        )
        found = descend(objective, rows, l2_ball(r), steps=n_steps, lr=rate, unroll=unroll)
        with torch.set_grad_enabled(unroll):
            x_hat = net(found.x)
            err = squared_error(op.A(x_hat, check=False), y_rows)
    if check:
        check_output(x_hat, "net")
    return CSGMResult(
        x_hat=x_hat.reshape(batch, k, *x_hat.shape[1:]),
        z=found.x.reshape(batch, k, *latent),
        loss=err.reshape(batch, k),
        n_evals=found.n_evals + 1,
    )
