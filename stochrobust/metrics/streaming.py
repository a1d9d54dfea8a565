"""Streaming, mergeable metric states: the public base class :class:`MetricState`.

A state accumulates a data set batch by batch (``update``), combines with another state of
the same kind (``merge``), gathers the states of every rank of a ``torch.distributed``
process group (``sync``) and turns its accumulated tensors into the metric (``value`` for
this object alone, ``compute`` for the whole group). Everything a state holds lives in
tensors registered with :meth:`MetricState.add_state`, each with a reduction:

- ``"sum"``: added (counts, float64 sums, sums of squares); an empty tensor is the
  neutral element, so shapes may be fixed by the first ``update``;
- ``"max"`` / ``"min"``: elementwise extremum;
- ``"cat"``: a list of per-sample tensors ``(n_i, *tail)`` concatenated along dim 0 — the
  list state for per-sample values, with uneven sizes on the ranks;
- ``"custom"``: combined by the subclass's :meth:`MetricState.merge_custom` (e.g. the
  Chan et al. merge of means and centred second moments, :func:`chan_merge`).

``sync`` gathers every state tensor from every rank with
:func:`~stochrobust.metrics.distributed.all_gather_uneven` (shapes travel first, so
uneven sizes and empty ranks never deadlock) and merges the rank copies in rank order.
So with data split contiguously in rank order, ``compute()`` on any number of ranks
equals the one-process value (to float reduction order; integer counts exactly).

Subclassing: call ``super().__init__(group=..., sync_on_compute=...)``, register states
in ``__init__``, implement ``update`` and ``value``. ``merge``, ``sync``, ``reset``,
``compute`` and ``state_tensors`` then work unchanged.

References:
    T. F. Chan, G. H. Golub, R. J. LeVeque. *Updating Formulae and a Pairwise Algorithm
    for Computing Sample Variances.* 1979 (pairwise merge of means and ``M2``);
    torchmetrics' ``Metric`` (the update / compute / reset / sync vocabulary).
"""

from __future__ import annotations

import copy
from typing import Any, Literal, TypeVar

import torch
import torch.distributed as dist

from stochrobust._checks import check_tensor
from stochrobust.errors import ShapeError, StochRobustTypeError
from stochrobust.metrics.distributed import all_gather_uneven, is_distributed

__all__ = ["MeanState", "MetricState", "Reduction", "chan_merge"]

Reduction = Literal["sum", "max", "min", "cat", "custom"]
_REDUCTIONS = ("sum", "max", "min", "cat", "custom")

S = TypeVar("S", bound="MetricState")


def chan_merge(
    a: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    b: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    outer: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Merge two ``(count, mean, M2)`` moment triples (Chan et al. 1979).

    ``M2`` is the sum of squared deviations from the mean: elementwise, or the matrix
    ``Σ (x − μ)(x − μ)ᵀ`` when ``outer``. ``δ = μ_b − μ_a``, ``n = n_a + n_b``,
    ``μ = μ_a + δ n_b / n`` and ``M2 = M2_a + M2_b + δ δ n_a n_b / n`` — exact in exact
    arithmetic and stable in floating point (no ``Σx² − nμ²`` cancellation). A triple
    with count 0 is neutral, whatever the shape of its mean.

    Args:
        a: ``(count, mean, m2)``, count a 0-d tensor.
        b: the other triple.
        outer: ``M2`` is a ``(D, D)`` matrix for ``(D,)`` means.

    Returns:
        The merged ``(count, mean, m2)``.

    Examples:
        >>> x = torch.tensor([1.0, 2.0, 4.0, 7.0], dtype=torch.float64)
        >>> def moments(v):
        ...     n = torch.tensor(float(len(v)), dtype=v.dtype)
        ...     return n, v.mean(), ((v - v.mean()) ** 2).sum()
        >>> n, mu, m2 = chan_merge(moments(x[:1]), moments(x[1:]))
        >>> float(n), float(mu), float(m2 / (n - 1)), float(x.var())
        (4.0, 3.5, 7.0, 7.0)
    """
    n_a, mu_a, m2_a = a
    n_b, mu_b, m2_b = b
    if mu_a.numel() == 0 and mu_b.numel() != 0:  # a shape not fixed yet: neutral
        return n_b.clone(), mu_b.clone(), m2_b.clone()
    if mu_b.numel() == 0:
        return n_a.clone(), mu_a.clone(), m2_a.clone()
    n = n_a + n_b
    safe = n.clamp_min(1)  # counts are whole numbers: no host synchronisation needed
    delta = mu_b - mu_a
    cross = torch.outer(delta, delta) if outer else delta * delta
    return n, mu_a + delta * (n_b / safe), m2_a + m2_b + cross * (n_a * n_b / safe)


class MetricState:
    """Base class of streaming, mergeable, distributed metric states.

    Subclasses register their tensors with :meth:`add_state` and implement
    :meth:`update` and :meth:`value`; ``merge`` / ``sync`` / ``reset`` / ``compute`` are
    inherited. States are plain attributes (``self.<name>``; a list of tensors for
    ``"cat"`` states).

    Args:
        group: the process group to sync over, ``None`` for the default one.
        sync_on_compute: :meth:`compute` syncs over ``group`` when ``torch.distributed``
            is initialised with more than one rank (otherwise it equals :meth:`value`).

    Raises:
        StochRobustTypeError: :meth:`merge` with a state of another class.

    Shape:
        - defined by each subclass.

    References:
        Chan et al. 1979 (moment merges); torchmetrics ``Metric`` (vocabulary).

    Examples:
        >>> class Count(MetricState):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.add_state("n", torch.zeros((), dtype=torch.int64), "sum")
        ...     def update(self, x):
        ...         self.n += x.shape[0]
        ...     def value(self):
        ...         return self.n.clone()
        >>> a, b = Count(), Count()
        >>> a.update(torch.zeros(3)); b.update(torch.zeros(2))
        >>> int(a.merge(b).compute())
        5
    """

    def __init__(
        self, *, group: dist.ProcessGroup | None = None, sync_on_compute: bool = True
    ) -> None:
        self.group = group
        self.sync_on_compute = sync_on_compute
        self._defaults: dict[str, tuple[torch.Tensor, Reduction]] = {}

    # ------------------------------------------------------------------ registration
    def add_state(self, name: str, default: torch.Tensor, reduction: Reduction) -> None:
        """Register a state tensor, its value after :meth:`reset` and its reduction.

        Args:
            name: attribute name.
            default: the initial value; for ``"cat"``, an empty ``(0, *tail)`` tensor
                giving the dtype and tail shape of the concatenation.
            reduction: ``"sum"``, ``"max"``, ``"min"``, ``"cat"`` or ``"custom"``.

        Raises:
            StochRobustTypeError: ``default`` is not a tensor or ``reduction`` unknown.

        Examples:
            >>> s = MetricState(); s.add_state("total", torch.zeros(()), "sum"); float(s.total)
            0.0
        """
        if not isinstance(default, torch.Tensor):
            raise StochRobustTypeError(f"default: expected a torch.Tensor, got {default!r}")
        if reduction not in _REDUCTIONS:
            raise StochRobustTypeError(
                f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}"
            )
        self._defaults[name] = (default.detach().clone(), reduction)
        self._set_default(name)

    def _set_default(self, name: str) -> None:
        default, reduction = self._defaults[name]
        setattr(self, name, [] if reduction == "cat" else default.clone())

    # ------------------------------------------------------------------ the protocol
    def update(self, *args: Any, **kwargs: Any) -> None:
        """Accumulate one batch (implemented by subclasses)."""
        raise NotImplementedError(f"{type(self).__name__}.update")

    def value(self) -> Any:
        """The metric from this object's own state, without communication (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__}.value")

    def compute(self) -> Any:
        """The metric over every rank of ``group`` (a collective when distributed).

        Returns:
            :meth:`value` of the synced state, or of this state when not distributed or
            ``sync_on_compute`` is off.
        """
        if self.sync_on_compute and is_distributed(self.group):
            return self.sync().value()
        return self.value()

    def reset(self) -> None:
        """Return every state to its registered default."""
        for name in self._defaults:
            self._set_default(name)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Every state as one tensor (``"cat"`` lists concatenated), by name."""
        out = {}
        for name, (default, reduction) in self._defaults.items():
            held = getattr(self, name)
            if reduction == "cat":
                held = torch.cat(held) if held else default
            out[name] = held
        return out

    def merge_custom(self: S, other: S) -> None:
        """Combine the ``"custom"`` states of ``other`` into this object (subclasses).

        Raises:
            NotImplementedError: a subclass registered ``"custom"`` states without it.
        """
        raise NotImplementedError(f"{type(self).__name__}.merge_custom")

    def merge(self: S, other: S) -> S:
        """Fold ``other``'s accumulated data into this state (in place; ``other`` unchanged).

        Args:
            other: a state of the same class and configuration.

        Returns:
            ``self``, for chaining.

        Raises:
            StochRobustTypeError: ``other`` is not of the same class.
            ShapeError: ``"sum"``/``"max"``/``"min"`` states of different shapes.
        """
        if type(other) is not type(self):
            raise StochRobustTypeError(
                f"other: expected a {type(self).__name__}, got {type(other).__name__}"
            )
        custom = False
        for name, (_, reduction) in self._defaults.items():
            mine, theirs = getattr(self, name), getattr(other, name)
            if reduction == "cat":
                setattr(self, name, [*mine, *theirs])
            elif reduction == "custom":
                custom = True
            elif theirs.numel() == 0:
                continue
            elif mine.numel() == 0:
                setattr(self, name, theirs.clone())
            elif mine.shape != theirs.shape:
                raise ShapeError(
                    f"other: expected state {name!r} of shape {tuple(mine.shape)}, "
                    f"got {tuple(theirs.shape)}"
                )
            elif reduction == "sum":
                setattr(self, name, mine + theirs)
            elif reduction == "max":
                setattr(self, name, torch.maximum(mine, theirs))
            else:
                setattr(self, name, torch.minimum(mine, theirs))
        if custom:
            self.merge_custom(other)
        return self

    def sync(self: S, group: dist.ProcessGroup | None = None) -> S:
        """A new state holding every rank's data, merged in rank order (a collective).

        Every rank of the group must call it (an empty rank is fine). This state is left
        unchanged. Without ``torch.distributed`` it returns a copy.

        Args:
            group: the process group, default ``self.group``.

        Returns:
            A state of the same class, identical on every rank.
        """
        grp = self.group if group is None else group
        gathered = {n: all_gather_uneven(t, grp) for n, t in self.state_tensors().items()}
        out: S | None = None
        for rank in range(len(next(iter(gathered.values()), [None]))):
            part = copy.copy(self)
            for name, (_, reduction) in self._defaults.items():
                t = gathered[name][rank].clone()  # never alias this state's tensors
                setattr(part, name, [t] if reduction == "cat" else t)
            out = part if out is None else out.merge(part)
        return copy.deepcopy(self) if out is None else out


class MeanState(MetricState):
    """Mean and variance of per-sample values, merged with Chan et al.'s pairwise update.

    ``update(values)`` adds a batch of per-sample values (any shape; every entry is one
    sample); ``value()`` is their mean, ``variance()`` the unbiased variance. The state is
    ``(count, mean, m2)`` in float64 (``m2`` the sum of squared deviations, no ``Σv²``
    cancellation); the values of all ranks are pooled as if concatenated.

    Args:
        group: process group for :meth:`compute`, ``None`` for the default one.
        sync_on_compute: sync in :meth:`compute` when distributed.

    Raises:
        StochRobustTypeError: ``values`` is not a floating-point tensor.

    Shape:
        - ``values``: any; output: ``()``.

    References:
        Chan et al. 1979 (pairwise merge of means and ``M2``).

    Examples:
        >>> m = MeanState()
        >>> m.update(torch.tensor([1.0, 2.0])); m.update(torch.tensor([6.0]))
        >>> float(m.compute()), float(m.variance())
        (3.0, 7.0)
    """

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor

    def __init__(
        self, *, group: dist.ProcessGroup | None = None, sync_on_compute: bool = True
    ) -> None:
        super().__init__(group=group, sync_on_compute=sync_on_compute)
        zero = torch.zeros((), dtype=torch.float64)
        for name in ("count", "mean", "m2"):
            self.add_state(name, zero, "custom")

    def _moments(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.count, self.mean, self.m2

    def update(self, values: torch.Tensor) -> None:
        """Add per-sample values (detached, accumulated in float64).

        Args:
            values: a floating-point tensor; every entry is one sample.
        """
        v = check_tensor(values, "values").detach().to(torch.float64).reshape(-1)
        mean = v.mean() if v.numel() else v.new_zeros(())
        batch = (v.new_tensor(float(v.numel())), mean, (v - mean).square().sum())
        here = tuple(t.to(v.device) for t in self._moments())
        self.count, self.mean, self.m2 = chan_merge(here, batch)  # type: ignore[arg-type]

    def merge_custom(self, other: MeanState) -> None:
        """Chan-merge ``other``'s ``(count, mean, m2)`` into this state."""
        self.count, self.mean, self.m2 = chan_merge(self._moments(), other._moments())

    def value(self) -> torch.Tensor:
        """Mean of the values added so far, 0-d float64 (0 before any update)."""
        return self.mean.clone()

    def variance(self) -> torch.Tensor:
        """Unbiased variance ``m2 / (count − 1)`` of this state's values, 0-d float64.

        Returns:
            The variance (call :meth:`sync` first for the whole group's value).
        """
        return self.m2 / (self.count - 1)
