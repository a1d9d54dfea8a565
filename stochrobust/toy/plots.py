"""Figures of the toy problems in the style of [O23] Fig. 3.

matplotlib is imported inside the functions, with the non-interactive ``Agg`` backend, so
that ``import stochrobust`` stays fast and the figures render on machines without a display.

References:
    [O23] Fig. 3 (support of ``p_X`` and of each estimator's outputs; 100 samples against
    100 data points; precision/recall in the titles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from stochrobust._checks import check_tensor, describe
from stochrobust.errors import RangeError, ShapeError, StochRobustTypeError

__all__ = ["OutputColumn", "plot_outputs", "plot_sensitivity_recall"]

REGIONS = ("disk", "square")
"""Supports of ``p_X`` that :func:`plot_outputs` can draw."""


class OutputColumn(NamedTuple):
    """One column of :func:`plot_outputs`: one estimator."""

    title: str
    """Column title (e.g. the estimator's name and its precision/recall)."""
    support: torch.Tensor
    """``(n, 2)`` outputs tracing the support of ``p_X̂`` (the paper uses 10 000)."""
    samples: torch.Tensor
    """``(m, 2)`` outputs drawn against the data points (the paper uses 100)."""
    line: bool
    """Draw ``support`` as a line through the points sorted by ``x⁽¹⁾`` (deterministic
    estimators: their outputs form a curve) instead of a cloud of dots."""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (parents created) at 130 dpi and close it."""
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def _points(t: object, name: str) -> Any:
    t = check_tensor(t, name)
    if t.ndim != 2 or t.shape[1] != 2 or t.shape[0] == 0:
        raise ShapeError(f"{name}: expected a non-empty (n, 2) tensor, got shape {tuple(t.shape)}")
    return t.detach().to("cpu", torch.float64).numpy()


def _draw_region(ax: Any, region: str) -> None:
    from matplotlib.patches import Circle, Rectangle

    patch = (
        Circle((0.0, 0.0), 1.0, color="0.85", zorder=0)
        if region == "disk"
        else Rectangle((0.0, 0.0), 1.0, 1.0, color="0.85", zorder=0)
    )
    ax.add_patch(patch)
    lo, hi = (-1.12, 1.12) if region == "disk" else (-0.06, 1.06)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)


def plot_outputs(
    columns: Sequence[OutputColumn],
    data: torch.Tensor,
    path: str | Path,
    *,
    region: str = "disk",
    title: str | None = None,
) -> Path:
    """Draw the [O23] Fig. 3 grid: one column per estimator, two rows, and save it as PNG.

    Top row: the support of ``p_X`` (gray) and the estimator's output support (a colored
    line for a deterministic estimator, a cloud for a stochastic one). Bottom row: data
    points (gray dots) against the estimator's samples (colored stars).

    Args:
        columns: the estimators to draw, left to right.
        data: ``(m, 2)`` samples of ``p_X`` for the bottom row.
        path: output file (``.png``); parent folders are created.
        region: the support of ``p_X``: ``"disk"`` (unit disk) or ``"square"`` (``[0, 1]²``).
        title: optional figure title.

    Returns:
        The path written.

    Raises:
        ShapeError: a tensor is not ``(n, 2)`` or ``columns`` is empty.
        RangeError: unknown ``region``.

    References:
        [O23] Fig. 3 (disk), Fig. 6 (square zigzag).

    Examples:
        >>> import tempfile
        >>> from stochrobust.toy import sample_disk, sine_disk
        >>> x, y = sample_disk(200, generator=torch.Generator().manual_seed(0))
        >>> col = OutputColumn("alpha = 5", sine_disk(y, 5.0), sine_disk(y[:20], 5.0), True)
        >>> out = plot_outputs([col], x[:20], Path(tempfile.mkdtemp()) / "f.png")
        >>> out.exists()
        True
    """
    if len(columns) == 0:
        raise ShapeError("columns: expected at least one OutputColumn, got none")
    if region not in REGIONS:
        raise RangeError(f"region: expected one of {REGIONS}, got {region!r}")
    data_np = _points(data, "data")
    plt = _pyplot()
    ncol = len(columns)
    fig, axes = plt.subplots(2, ncol, figsize=(2.6 * ncol, 5.6), squeeze=False)
    colors = plt.get_cmap("tab10")
    for j, col in enumerate(columns):
        if not isinstance(col, OutputColumn):
            raise StochRobustTypeError(
                f"columns[{j}]: expected an OutputColumn, got {describe(col)}"
            )
        sup = _points(col.support, f"columns[{j}].support")
        smp = _points(col.samples, f"columns[{j}].samples")
        color = colors(j % 10)
        top, bottom = axes[0, j], axes[1, j]
        _draw_region(top, region)
        if col.line:
            order = sup[:, 0].argsort()
            top.plot(sup[order, 0], sup[order, 1], color=color, lw=0.7)
        else:
            top.scatter(sup[:, 0], sup[:, 1], s=0.6, color=color, alpha=0.5, lw=0)
        top.set_title(col.title, fontsize=9)
        top.tick_params(labelbottom=False)
        _draw_region(bottom, region)
        bottom.scatter(data_np[:, 0], data_np[:, 1], s=9, color="0.45", label="data $X$", lw=0)
        bottom.scatter(smp[:, 0], smp[:, 1], s=28, marker="*", color=color, label=r"$\hat X$", lw=0)
        bottom.set_xlabel(r"$x^{(1)} = y$", fontsize=8)
        if j == 0:
            top.set_ylabel(r"support: $x^{(2)}$", fontsize=8)
            bottom.set_ylabel(r"samples: $x^{(2)}$", fontsize=8)
            bottom.legend(loc="lower left", fontsize=7, framealpha=0.9, handletextpad=0.2)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(plt, fig, path)


def plot_sensitivity_recall(
    labels: Sequence[str],
    recall: Sequence[float],
    sensitivity: Sequence[float],
    stochastic: Sequence[bool],
    path: str | Path,
    *,
    title: str | None = None,
    ylabel: str = r"sensitivity $\tilde r$ (eq. 6, mean over $Y$)",
) -> Path:
    """Scatter sensitivity (log scale) against recall, one labelled point per estimator.

    Deterministic estimators are joined by a line in the given order (e.g. increasing α)
    and drawn as circles; stochastic ones as stars.

    Args:
        labels: one label per estimator.
        recall: recall of each estimator.
        sensitivity: positive sensitivity of each estimator (plotted on a log axis).
        stochastic: whether each estimator is stochastic.
        path: output file (``.png``); parent folders are created.
        title: optional title.
        ylabel: label of the sensitivity axis.

    Returns:
        The path written.

    Raises:
        ShapeError: the sequences differ in length or are empty.
        RangeError: a sensitivity is not positive and finite.

    References:
        [O23] §4–5: deterministic estimators buy recall with sensitivity; stochastic ones
        need not.

    Examples:
        >>> import tempfile
        >>> p = plot_sensitivity_recall(
        ...     ["a", "b"], [0.1, 0.9], [1e-6, 1e-3], [False, False],
        ...     Path(tempfile.mkdtemp()) / "s.png")
        >>> p.exists()
        True
    """
    n = len(labels)
    if n == 0 or not (len(recall) == len(sensitivity) == len(stochastic) == n):
        raise ShapeError(
            "labels, recall, sensitivity, stochastic: expected equal non-zero lengths, got "
            f"{(n, len(recall), len(sensitivity), len(stochastic))}"
        )
    for i, s in enumerate(sensitivity):
        if not (math.isfinite(s) and s > 0):
            raise RangeError(f"sensitivity[{i}]: expected a positive finite number, got {s}")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    kinds = (
        (False, "o-", "tab:blue", "deterministic", 7),
        (True, "*", "tab:red", "stochastic", 14),
    )
    for kind, style, color, label, size in kinds:
        rows = [i for i in range(n) if bool(stochastic[i]) is kind]
        if rows:
            ax.plot(
                [recall[i] for i in rows],
                [sensitivity[i] for i in rows],
                style,
                color=color,
                label=label,
                ms=size,
            )
    for i in range(n):
        ax.annotate(
            labels[i],
            (recall[i], sensitivity[i]),
            textcoords="offset points",
            xytext=(6, -12 if stochastic[i] else 6),
            fontsize=8,
        )
    ax.set_yscale("log")
    ax.set_xlim(-0.05, 1.12)
    lo, hi = min(sensitivity), max(sensitivity)
    ax.set_ylim(lo / 3, hi * 3)
    ax.set_xlabel("recall (k-NN manifold coverage of $p_X$)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(plt, fig, path)
