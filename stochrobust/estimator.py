"""Fused evaluation of a restoration model on many random seeds.

Almost every primitive of stochrobust evaluates a model on many random draws for the same
input: K seeds for the same-seed sensitivity ([O23] eq. 6), n noise draws for median
smoothing, 32 samples for the per-pixel diversity. :class:`Estimator` owns that hot path:
it repeats ``y`` from ``(B, ...)`` to ``(B·n, ...)``, draws the seeds ``(B, n, ...)`` with an
explicit :class:`torch.Generator`, calls the model once per chunk of at most ``max_batch``
rows and returns ``(B, n, ...)``. There is no Python loop over seeds; gradients flow back to
``y`` (and to any perturbation added to it) through the expansion.

References:
    [O23] Ohayon, Adrai, Elad, Michaeli. Reasons for the Superiority of Stochastic
    Estimators over Deterministic Ones. ICML 2023, §2 and §5 (``x̂ = G(y, z)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TypeAlias

import torch
from torch import nn

from stochrobust import _fused
from stochrobust._checks import (
    check_batch_input,
    check_callable,
    check_finite,
    check_generator,
    check_int,
    describe,
)
from stochrobust._deprecate import keyword_only_generator, renamed
from stochrobust._guard import guard
from stochrobust._seeds import Seeds, check_row_seeds, check_seed_law, draw, seed_dims
from stochrobust.errors import StochRobustTypeError

__all__ = ["Estimator", "Seeds", "as_estimator"]

SeedSampler: TypeAlias = Callable[[int, torch.Tensor, "torch.Generator | None"], Seeds]


class Estimator:
    """Wrap any torch restoration model as a (possibly stochastic) estimator.

    Deterministic when ``seed_shape`` and ``seed_sampler`` are both ``None``: the model is
    called as ``model(y)``. Otherwise it is stochastic and called as ``model(y, z)`` with a
    random seed ``z``.

    Args:
        model: an ``nn.Module`` or any callable mapping a batch ``y`` (and a seed batch ``z``)
            to an output batch with the same leading size.
        seed_shape: per-sample shape of ``z``; seeds are standard normal, drawn in ``y``'s
            dtype and on ``y``'s device.
        seed_sampler: ``seed_sampler(batch_size, y, generator)`` returns ``batch_size`` seeds
            (leading dimension ``batch_size``) as a tensor or a tuple/list/dict of tensors,
            for other seed laws (e.g. ``Z ~ U[0, 1]``) or seeds made of several tensors.
            ``y`` is the ``(B, ...)`` input, given for its dtype, device and sizes.
        max_batch: at most this many rows of the fused ``(B·n)`` batch go into one model
            call (``None``: all rows in one call). Bounds the activation memory of a single
            call. :meth:`forward_seeds` with gradients enabled still keeps the autograd graph
            of all chunks; the attacks use :meth:`foreach_chunk` instead, which
            back-propagates chunk by chunk (their gradient memory is that of one chunk).
        eval_mode: evaluate the model in eval mode (default), restoring the caller's mode
            afterwards, on clones of its buffers, so that BatchNorm statistics are never
            updated and dropout is off. Pass ``False`` to keep the caller's mode (and let the
            model update its buffers), e.g. for training-time losses.
        modules: the ``nn.Module`` objects the model uses, for models whose modules
            introspection cannot find (the discovery rules are in the "Model state" section
            of the estimator guide); ``()`` says the model holds none (no
            :class:`~stochrobust.GuardWarning`). Added to the modules found.

    Raises:
        StochRobustTypeError: ``model`` is not callable, ``seed_sampler`` is not callable or
            ``seed_shape`` is not a sequence of integers.
        RangeError: ``max_batch < 1`` or a negative entry in ``seed_shape``.
        StochRobustTypeError: ``modules`` holds something else than ``nn.Module`` objects.

    Shape:
        - ``y``: ``(B, *in_shape)``; seeds: leading ``(B, n)``; outputs: ``(B, n, *out_shape)``.

    References:
        [O23] eq. 6 (the same seeds ``Z_1..Z_K`` for clean and perturbed inputs) and
        §6.1 (``G(Y, Z)``, ``Z = 0`` for deterministic models).

    Examples:
        >>> net = lambda y, z: y + 0.1 * z
        >>> est = Estimator(net, seed_shape=(1, 4, 4))
        >>> y = torch.zeros(2, 1, 4, 4)
        >>> est.sample(y, 5, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([2, 5, 1, 4, 4])
        >>> est.is_stochastic, Estimator(torch.nn.Identity()).is_stochastic
        (True, False)
    """

    def __init__(
        self,
        model: Callable[..., torch.Tensor],
        seed_shape: Sequence[int] | None = None,
        seed_sampler: SeedSampler | None = None,
        max_batch: int | None = None,
        eval_mode: bool = True,
        *,
        modules: Sequence[nn.Module] | None = None,
    ) -> None:
        check_callable(model, "model")
        if isinstance(model, Estimator):
            raise StochRobustTypeError(
                "model: expected a torch model, got an Estimator (use it directly, or "
                "stochrobust.as_estimator to accept both)"
            )
        self.model = model
        self.seed_shape = check_seed_law(seed_shape, seed_sampler)
        self.seed_sampler = seed_sampler
        self.max_batch = None if max_batch is None else check_int(max_batch, "max_batch", minimum=1)
        if modules is not None:
            if isinstance(modules, nn.Module) or not isinstance(modules, Sequence):
                raise StochRobustTypeError(
                    f"modules: expected a list or tuple of nn.Module, got {describe(modules)}"
                )
            for j, m in enumerate(modules):
                if not isinstance(m, nn.Module):
                    raise StochRobustTypeError(
                        f"modules[{j}]: expected an nn.Module, got {describe(m)}"
                    )
        self.modules: tuple[nn.Module, ...] | None = None if modules is None else tuple(modules)
        self.eval_mode = bool(eval_mode)

    # ------------------------------------------------------------------ properties
    @property
    def is_stochastic(self) -> bool:
        """``True`` when the model takes a random seed ``z``."""
        return self.seed_shape is not None or self.seed_sampler is not None

    def __repr__(self) -> str:
        kind = "stochastic" if self.is_stochastic else "deterministic"
        seed = (
            f", seed_shape={self.seed_shape}"
            if self.seed_shape is not None
            else (", seed_sampler=..." if self.seed_sampler is not None else "")
        )
        return f"Estimator({kind}{seed}, max_batch={self.max_batch}, model={self.model!r})"

    # ------------------------------------------------------------------ seeds
    @renamed(n="n_seeds")
    @keyword_only_generator
    def sample_seeds(
        self, y: torch.Tensor, n_seeds: int, *, generator: torch.Generator | None = None
    ) -> Seeds:
        """Draw ``n = n_seeds`` seeds per input.

        Args:
            y: input batch; gives the batch size ``B``, dtype and device.
            n_seeds: number of seeds per input (``≥ 1``; ``n=``: deprecated 0.1 spelling).
            generator: random generator, keyword-only (positional: deprecated 0.1 use);
                ``None`` draws from torch's global generator. The same generator state gives
                the same seeds. A generator on another device than ``y`` is allowed: the
                draw happens on the generator's device and is moved to ``y``'s.

        Returns:
            Seeds with leading dims ``(B, n)``. For a deterministic estimator: an empty
            ``(B, n, 0)`` tensor that only carries ``B`` and ``n`` (the model never sees it).

        Shape:
            - ``y``: ``(B, *in_shape)``; result leaves: ``(B, n, *seed_shape)``.

        References:
            [O23] eq. 6: the seeds ``Z_1..Z_K`` shared by the clean and perturbed passes.

        Examples:
            >>> est = Estimator(lambda y, z: y + z, seed_shape=(3,))
            >>> est.sample_seeds(torch.zeros(2, 3), 4).shape
            torch.Size([2, 4, 3])
        """
        y = check_batch_input(y)
        n = check_int(n_seeds, "n_seeds", minimum=1)
        check_generator(generator)
        batch = y.shape[0]
        if not self.is_stochastic:
            return y.new_empty((batch, n, 0))
        if self.seed_shape is not None:
            shape = (batch * n, *self.seed_shape)
            seeds: Seeds = draw(
                torch.randn, shape, generator=generator, dtype=y.dtype, device=y.device
            )
        else:
            assert self.seed_sampler is not None
            with self.guarded("Estimator.sample_seeds"):
                seeds = self.seed_sampler(batch * n, y, generator)
        return _fused.split_rows(seeds, batch, n)

    # ------------------------------------------------------------------ evaluation
    def __call__(self, y: torch.Tensor, z: Seeds | None = None) -> torch.Tensor:
        """Evaluate the model once per row: ``model(y)`` or ``model(y, z)``.

        Args:
            y: input batch.
            z: seeds with leading dimension ``B`` (required iff the estimator is stochastic).

        Returns:
            The model output, ``(B, *out_shape)``.

        Raises:
            StochRobustTypeError: ``z`` given to a deterministic estimator or missing for a
                stochastic one.
            ShapeError: a seed's leading dimension is not ``B`` (no silent broadcasting).
            ModelError: the model raises, or returns something else than a real floating
                tensor with ``B`` rows.

        Examples:
            >>> Estimator(lambda y: 2 * y)(torch.ones(2, 3)).tolist()
            [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
        """
        y = check_batch_input(y)
        check_row_seeds(y, z, stochastic=self.is_stochastic)
        with self.guarded("Estimator.__call__"):
            return _fused.run_chunked(self.model, y, z, self.max_batch)

    def forward_seeds(self, y: torch.Tensor, seeds: Seeds) -> torch.Tensor:
        """Evaluate ``G(y_b, z_bk)`` for every input ``b`` and seed ``k``, fused.

        The ``B`` inputs are repeated ``n`` times into one ``(B·n)`` batch that goes through
        the model in chunks of at most ``max_batch`` rows; no Python loop over seeds. A
        deterministic estimator evaluates each input once and returns ``n`` identical
        copies (a stride-0 view). Differentiable with respect to ``y``.

        Args:
            y: inputs ``(B, *in_shape)`` (may require grad, e.g. ``y + delta``).
            seeds: seeds with leading dims ``(B, n)``, as returned by :meth:`sample_seeds`.

        Returns:
            Outputs ``(B, n, *out_shape)``.

        Raises:
            ShapeError: the seeds' leading dims do not match ``(B, n)``.
            ModelError: the model returns a wrong batch size or not a tensor.

        Shape:
            - ``y``: ``(B, *in_shape)``; ``seeds``: ``(B, n, ...)``; output:
              ``(B, n, *out_shape)``.

        References:
            [O23] eq. 6 (common random numbers across clean and perturbed inputs).

        Examples:
            >>> est = Estimator(lambda y, z: y * z, seed_shape=(2,))
            >>> y = torch.ones(3, 2)
            >>> seeds = est.sample_seeds(y, 4, generator=torch.Generator().manual_seed(1))
            >>> torch.equal(est.forward_seeds(y, seeds)[1, 2], y[1] * seeds[1, 2])
            True
        """
        y = check_batch_input(y)
        batch, n = seed_dims(y, seeds)
        with self.guarded("Estimator.forward_seeds"):
            if not self.is_stochastic:
                out = _fused.run_chunked(self.model, y, None, self.max_batch)
                return out.unsqueeze(1).expand(batch, n, *out.shape[1:])
            y_rep, z_flat = _fused.repeat_rows(y, n), _fused.flatten_seeds(seeds)
            out = _fused.run_chunked(self.model, y_rep, z_flat, self.max_batch)
            return out.reshape(batch, n, *out.shape[1:])

    def foreach_chunk(
        self, y: torch.Tensor, seeds: Seeds, fn: Callable[[slice, torch.Tensor], None]
    ) -> None:
        """Evaluate :meth:`forward_seeds` chunk by chunk, handing each chunk to ``fn``.

        The fused rows ``r = b·n + k`` (input ``b``, seed ``k``) are cut into consecutive
        chunks of at most ``max_batch`` model rows (all rows when ``max_batch`` is
        ``None``); for each chunk, in order, ``fn(rows, out)`` receives the slice of flat
        rows and their outputs ``(rows.stop - rows.start, *out_shape)``. Nothing is kept
        between chunks: a caller that back-propagates inside ``fn`` (e.g. with
        :func:`torch.autograd.grad`) frees each chunk's autograd graph before the next
        model call, so the memory of a gradient is that of one chunk. A deterministic
        estimator evaluates each input once and hands ``fn`` its ``n`` identical copies.

        Args:
            y: inputs ``(B, *in_shape)`` (may require grad).
            seeds: seeds with leading dims ``(B, n)``.
            fn: called once per chunk with ``(rows, outputs)``.

        Raises:
            ShapeError: the seeds' leading dims do not match ``(B, n)``.
            ModelError: the model returns a wrong batch size or not a tensor.

        Shape:
            - ``y``: ``(B, *in_shape)``; ``seeds``: ``(B, n, ...)``; each ``outputs``:
              ``(rows, *out_shape)``, the rows ``rows`` of ``forward_seeds(y, seeds)``
              flattened to ``(B·n, *out_shape)``.

        References:
            [O23] eq. 6: a sum over seeds and inputs, so its gradient is a sum of
            per-chunk gradients.

        Examples:
            >>> est = Estimator(lambda y, z: y * z, seed_shape=(2,), max_batch=4)
            >>> y, seeds = torch.ones(3, 2), torch.ones(3, 2, 2)
            >>> est.foreach_chunk(y, seeds, lambda rows, out: print(rows, tuple(out.shape)))
            slice(0, 4, None) (4, 2)
            slice(4, 6, None) (2, 2)
        """
        y = check_batch_input(y)
        _, n = seed_dims(y, seeds)
        with self.guarded("Estimator.foreach_chunk"):
            z = seeds if self.is_stochastic else None
            _fused.foreach_chunk(self.model, y, z, n, fn, self.max_batch)

    @renamed(n="n_seeds")
    @keyword_only_generator
    def sample(
        self, y: torch.Tensor, n_seeds: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``n = n_seeds`` outputs per input: :meth:`sample_seeds`, :meth:`forward_seeds`.

        Args:
            y: inputs ``(B, *in_shape)``.
            n_seeds: outputs (seeds) per input (``n=``: deprecated 0.1 spelling).
            generator: random generator for the seeds, keyword-only (positional: deprecated
                0.1 use); ``None`` draws from torch's global generator.

        Returns:
            ``(B, n, *out_shape)`` samples of ``p(x̂ | y)``.

        Raises:
            NonFiniteError: ``y`` holds NaN or Inf (checked here, once; the lower-level
                :meth:`forward_seeds` skips this check because attack loops call it).

        Examples:
            >>> est = Estimator(lambda y: y.flip(-1))
            >>> est.sample(torch.arange(3.0).reshape(1, 3), 2).tolist()
            [[[2.0, 1.0, 0.0], [2.0, 1.0, 0.0]]]
        """
        check_finite(check_batch_input(y), "y")
        with self.guarded("Estimator.sample"):
            return self.forward_seeds(y, self.sample_seeds(y, n_seeds, generator=generator))

    def guarded(
        self,
        entry: str,
        *,
        freeze: bool = False,
        eval_mode: bool | None = None,
        arg: str = "model",
    ) -> contextlib.AbstractContextManager[object]:
        """The model-state guard of one call through this estimator.

        Library functions enter it once per public call (with ``freeze=True`` for attacks);
        the methods of the estimator enter it too, which is free inside an outer entry.
        In eval mode (``eval_mode=True``) every module the estimator can reach is in eval
        mode and runs on clones of its buffers; with ``freeze`` its parameters also get
        ``requires_grad=False``; everything is restored on exit, also on exceptions. Model
        failures inside become :class:`~stochrobust.ModelError` naming ``entry``.

        Args:
            entry: the public entry point named in errors (e.g. ``"sensitivity_at"``).
            freeze: freeze the parameters too.
            eval_mode: override the estimator's ``eval_mode`` (attacks always run in eval
                mode); ``None`` keeps it.
            arg: the public argument that passed the model, for error messages.

        Returns:
            A context manager.

        Examples:
            >>> net = torch.nn.Dropout(0.5).train()
            >>> with Estimator(lambda y: net(y)).guarded("my_metric"):
            ...     net.training
            False
            >>> net.training
            True
        """
        ev = self.eval_mode if eval_mode is None else bool(eval_mode)
        return guard(
            self,
            entry=entry,
            arg=arg,
            eval_mode=ev,
            freeze=freeze,
            buffers=ev,
            declared=self.modules is not None,
        )


def as_estimator(model_or_estimator: Estimator | Callable[..., torch.Tensor]) -> Estimator:
    """Return an :class:`Estimator`, wrapping a raw model as a deterministic one.

    Args:
        model_or_estimator: an :class:`Estimator` (returned as is) or a model ``G(y)``.

    Returns:
        The estimator.

    Examples:
        >>> as_estimator(torch.nn.Identity()).is_stochastic
        False
    """
    if isinstance(model_or_estimator, Estimator):
        return model_or_estimator
    return Estimator(model_or_estimator)
