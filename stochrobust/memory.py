"""Memory tools for big models: checkpointed multi-step samplers and an automatic ``max_batch``.

The attacks back-propagate chunk by chunk when the estimator has a ``max_batch``
(:meth:`~stochrobust.Estimator.foreach_chunk`), so their gradient memory is that of one
chunk of ``max_batch`` rows, whatever the number of seeds. Two further bounds live here:

- :class:`IterativeSampler` turns a step ``x ← step(x, y, z_t, t)`` into a stochastic model
  ``G(y, z)`` whose seed ``z`` is the whole noise sequence ``(z_0, ..., z_{T-1})``, with
  activation checkpointing of every step (:func:`torch.utils.checkpoint.checkpoint`): a
  gradient through ``T`` steps keeps the ``T`` step inputs and the activations of one step
  at a time (recomputed in the backward pass), not the activations of all ``T`` steps.
- :func:`auto_max_batch` picks ``max_batch`` on CUDA from the free device memory and the
  measured memory of one row's forward and backward pass (:func:`max_batch_for` is the
  arithmetic). On CPU it returns ``None``: see the estimator guide, "Memory", for the
  measured advice there.

References:
    [O23] Ohayon et al. ICML 2023, eq. 6 (a sum over seeds, hence over chunks).
    Chen, Xu, Zhang, Guestrin. Training Deep Nets with Sublinear Memory Cost. 2016
    (gradient checkpointing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as _checkpoint

from stochrobust._checks import check_batch_input, check_callable, check_int, check_number, describe
from stochrobust.errors import ShapeError, StochRobustTypeError
from stochrobust.estimator import Estimator, as_estimator

__all__ = ["IterativeSampler", "auto_max_batch", "max_batch_for"]

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


class IterativeSampler(nn.Module):
    """A ``T``-step stochastic restorer ``G(y, z)`` whose seed is its whole noise sequence.

    ``x_0 = init(y)`` (``y`` itself by default), then ``x_{t+1} = step(x_t, y, z[:, t], t)``
    for ``t = 0..T-1``; the output is ``x_T``. With ``checkpoint=True`` (default) every step
    is run under :func:`torch.utils.checkpoint.checkpoint` (non-reentrant, RNG state
    preserved) while gradients are enabled, so a gradient through the sampler keeps only
    the step inputs and recomputes each step's activations during the backward pass; the
    values and gradients are those without checkpointing. The recomputation happens in the
    backward pass: run it inside the call that made the graph (the attacks do), so that the
    modules are in the same mode. With ``checkpoint=False`` the graph of all steps is kept.

    Args:
        step: ``step(x, y, z_t, t)`` → the next state, same shape as ``x``; an ``nn.Module``
            is registered as a submodule (the model-state guard finds it).
        n_steps: ``T ≥ 1``.
        noise_shape: per-row shape of one step's noise ``z_t``.
        init: ``init(y)`` → the initial state ``x_0`` (``None``: ``y``).
        checkpoint: checkpoint every step when gradients are enabled.

    Raises:
        StochRobustTypeError: ``step`` or ``init`` is not callable, ``noise_shape`` is not
            a sequence of integers.
        RangeError: ``n_steps < 1`` or a negative entry in ``noise_shape``.

    Shape:
        - ``y``: ``(R, *in_shape)``; ``z``: ``(R, T, *noise_shape)``; output: the state's.

    References:
        Chen et al. 2016 (gradient checkpointing); [O23] §5 (``x̂ = G(y, z)``).

    Examples:
        >>> step = lambda x, y, z, t: 0.5 * (x + y) + 0.1 * z
        >>> sampler = IterativeSampler(step, n_steps=20, noise_shape=(3,))
        >>> est = sampler.estimator()
        >>> est.seed_shape
        (20, 3)
        >>> est.sample(torch.ones(2, 3), 4, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2, 4, 3])
    """

    def __init__(
        self,
        step: Step,
        n_steps: int,
        noise_shape: Sequence[int],
        init: Callable[[torch.Tensor], torch.Tensor] | None = None,
        checkpoint: bool = True,
    ) -> None:
        super().__init__()
        check_callable(step, "step")
        if init is not None:
            check_callable(init, "init")
        if isinstance(noise_shape, int) or not isinstance(noise_shape, Sequence):
            raise StochRobustTypeError(
                f"noise_shape: expected a tuple of integers, got {describe(noise_shape)}"
            )
        self.noise_shape = tuple(check_int(s, "noise_shape", minimum=0) for s in noise_shape)
        self.n_steps = check_int(n_steps, "n_steps", minimum=1)
        self.step = step
        self.init = init
        self.checkpoint = bool(checkpoint)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Run the ``T`` steps from ``init(y)`` with the noise sequence ``z``."""
        if z.ndim < 2 or z.shape[1] != self.n_steps:
            raise ShapeError(
                f"z: expected a noise sequence of shape (R, {self.n_steps}, "
                f"*{self.noise_shape}), got {describe(z)}"
            )
        x = y if self.init is None else self.init(y)
        use = self.checkpoint and torch.is_grad_enabled()
        for t in range(self.n_steps):
            if use:
                x = _checkpoint(self.step, x, y, z[:, t], t, use_reentrant=False)
            else:
                x = self.step(x, y, z[:, t], t)
        return x

    def estimator(self, max_batch: int | None = None) -> Estimator:
        """An :class:`~stochrobust.Estimator` drawing the noise sequence as standard normal.

        Args:
            max_batch: most rows per model call (and per chunk of a gradient).

        Returns:
            ``Estimator(self, seed_shape=(T, *noise_shape), max_batch=max_batch)``.

        Examples:
            >>> IterativeSampler(lambda x, y, z, t: x + z, 5, (2,)).estimator(8).max_batch
            8
        """
        return Estimator(self, seed_shape=(self.n_steps, *self.noise_shape), max_batch=max_batch)


def max_batch_for(free_bytes: float, bytes_per_row: float, rows: int, fraction: float = 0.5) -> int:
    """The heuristic of :func:`auto_max_batch`: ``floor(fraction · free / per_row)`` in [1, rows].

    Args:
        free_bytes: free device memory.
        bytes_per_row: measured peak memory of one row's forward and backward pass.
        rows: the fused rows ``B·K`` (no chunk needs more).
        fraction: the share of the free memory one chunk may use (the rest is headroom
            for the allocator's fragmentation and the solver's own tensors).

    Returns:
        The number of rows per chunk.

    Raises:
        RangeError: a negative size, ``rows < 1`` or ``fraction`` outside ``(0, 1]``.

    Examples:
        >>> max_batch_for(8e9, 1e8, rows=640)
        40
        >>> max_batch_for(8e9, 1e8, rows=16), max_batch_for(1e6, 1e8, rows=16)
        (16, 1)
    """
    free = check_number(free_bytes, "free_bytes", low=0.0)
    per_row = check_number(bytes_per_row, "bytes_per_row", low=0.0)
    n = check_int(rows, "rows", minimum=1)
    share = check_number(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False)
    if per_row == 0.0:
        return n
    return max(1, min(n, math.floor(share * free / per_row)))


def _is_cuda(t: torch.Tensor) -> bool:
    return t.device.type == "cuda"


def auto_max_batch(
    estimator: Estimator | Callable[..., torch.Tensor],
    y: torch.Tensor,
    n_seeds: int,
    *,
    fraction: float = 0.5,
    probe_rows: int = 2,
) -> int | None:
    """Choose ``max_batch`` for an attack on CUDA from the free memory (``None`` on CPU).

    Heuristic: run ``probe_rows`` rows of ``y`` through the model with a backward pass to
    the input (in eval mode, parameters frozen, inside the model-state guard), measure the
    peak allocated memory above the memory allocated before (``bytes_per_row`` is that
    divided by ``probe_rows``), query the free memory (:func:`torch.cuda.mem_get_info`) and
    return :func:`max_batch_for` of them with ``rows = B·n_seeds``. The probe's seeds are
    drawn from torch's global RNG on a fresh generator-less draw, so it changes nothing an
    attack with an explicit ``generator`` draws.

    Args:
        estimator: an :class:`~stochrobust.Estimator` or a model ``G(y)``.
        y: the inputs of the attack ``(B, *in_shape)``.
        n_seeds: the seeds per input the attack will use.
        fraction: the share of the free memory one chunk may use.
        probe_rows: rows of the probe pass (at least 1; 2 amortises fixed buffers).

    Returns:
        The rows per chunk, or ``None`` when ``y`` is not on a CUDA device.

    Raises:
        RangeError: ``n_seeds < 1``, ``probe_rows < 1`` or ``fraction`` outside ``(0, 1]``.

    Shape:
        - ``y``: ``(B, *in_shape)``.

    References:
        [O23] eq. 6 (the fused ``B·K`` rows).

    Examples:
        >>> auto_max_batch(torch.nn.Identity(), torch.zeros(2, 3), 4) is None  # CPU
        True
    """
    est = as_estimator(estimator)
    yt = check_batch_input(y, "y")
    k = check_int(n_seeds, "n_seeds", minimum=1)
    probe = check_int(probe_rows, "probe_rows", minimum=1)
    check_number(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False)
    if not _is_cuda(yt):
        return None
    device = yt.device
    rows = yt.shape[0] * (k if est.is_stochastic else 1)
    probe = min(probe, rows)
    index = torch.arange(probe, device=device) % yt.shape[0]
    x = yt.index_select(0, index).detach().requires_grad_(True)
    with est.guarded("auto_max_batch", freeze=True, eval_mode=True, arg="estimator"):
        seeds = est.sample_seeds(x, 1)
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.enable_grad():
            out = est.forward_seeds(x, seeds)
            torch.autograd.grad(out.pow(2).sum(), x)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
    free, _ = torch.cuda.mem_get_info(device)
    return max_batch_for(free, max(0, peak - base) / probe, rows, fraction)
