"""A self-contained HTML page for an :class:`~stochrobust.audit.AuditReport`.

:func:`write_report` writes ``index.html`` (no scripts, no network: inline CSS, images
beside it), ``report.json`` (:meth:`AuditReport.to_dict`), a histogram of the per-input
eq. 6 values and, for the most sensitive image inputs, one figure row each:
``y``, the maximiser ``δ`` (amplified, its scale in the title), ``G(y, z₁)``,
``G(y + δ, z₁)``, the heat map ``sqrt(mean_k Σ_c (G(y+δ, z_k) − G(y, z_k))²)`` (its sum of
squares over the pixels is the eq. 6 value at ``δ`` for these seeds) and, for stochastic
models, the per-pixel standard deviation over ``n_diversity_seeds`` samples.

References:
    [O23] eqs. 6, 9 and Table 2 (per-pixel std).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stochrobust._checks import check_int
from stochrobust.audit.report import AuditReport
from stochrobust.estimator import Estimator, as_estimator

__all__ = ["PER_INPUT_COLUMNS", "write_report"]

PER_INPUT_COLUMNS = ("index", "name", "value", "root", "output_psnr", "input_psnr",
                     "lipschitz_lower_bound", "per_pixel_std")  # fmt: skip
"""Columns of the per-input table: the keys of ``to_dict()["per_input"]``, in order."""

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;max-width:380px;overflow-wrap:anywhere}th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.worst{background:#fff3e0}img{max-width:100%}figure{margin:0 0 18px}
figcaption{font-size:13px;color:#555}.grid{display:flex;gap:32px;flex-wrap:wrap}"""


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f'<td class="n">{v:.6g}</td>'
    if isinstance(v, int) and not isinstance(v, bool):
        return f'<td class="n">{v}</td>'
    return f"<td>{html.escape('' if v is None else str(v))}</td>"


def _table(
    rows: list[list[object]], head: list[str], attrs: str = "", marks: frozenset[int] = frozenset()
) -> str:
    out = [f"<table{attrs}><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for i, row in enumerate(rows):
        cls = ' class="worst"' if i in marks else ""
        out.append(f"<tr{cls}>" + "".join(_cell(v) for v in row) + "</tr>")
    return "\n".join([*out, "</table>"])


def _image(t: torch.Tensor, data_range: float) -> np.ndarray | None:
    """``(C, H, W)`` → an array matplotlib shows (gray or RGB, in [0, 1]); else None."""
    if t.ndim != 3 or t.shape[0] not in (1, 3) or min(t.shape[1:]) < 2:
        return None
    a = (t.detach().double().cpu() / data_range).clamp(0, 1).permute(1, 2, 0).numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


def _figure_row(panels: list[tuple[str, np.ndarray, str | None]], path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(2.6 * len(panels), 2.9), layout="constrained")
    for k, (title, arr, cmap) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), k)
        if cmap is None:
            ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
        else:
            im = ax.imshow(arr, cmap=cmap)
            fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.savefig(path, dpi=80)


def _histogram(rep: AuditReport, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.0), layout="constrained")
    ax = fig.add_subplot()
    v = rep.value.double().numpy()
    ax.hist(v, bins=max(5, min(40, int(math.sqrt(v.size)) * 2)), color="#4c72b0")
    ax.set_xlabel("eq. 6 value (squared) per input")
    ax.set_ylabel("inputs")
    fig.savefig(path, dpi=80)


@torch.no_grad()
def _worst_rows(
    rep: AuditReport, est: Estimator, y: torch.Tensor, order: list[int], out: Path,
    generator: torch.Generator | None, data_range: float, n_div: int,
) -> list[str]:  # fmt: skip
    idx = torch.tensor(order, device=y.device)
    yk = y[idx]
    dk = rep.delta[idx].to(device=y.device, dtype=y.dtype)
    seeds = est.sample_seeds(yk, rep.n_seeds, generator=generator)
    diff = est.forward_seeds(yk + dk, seeds) - est.forward_seeds(yk, seeds)  # (k, n, C, H, W)
    first = est.forward_seeds(yk, _first(seeds))[:, 0]
    moved = est.forward_seeds(yk + dk, _first(seeds))[:, 0]
    std = est.sample(yk, n_div, generator=generator).std(dim=1) if est.is_stochastic else None
    parts = []
    for j, i in enumerate(order):
        clean, pert = _image(first[j], data_range), _image(moved[j], data_range)
        src = _image(yk[j], data_range)
        if clean is None or pert is None or src is None or diff.ndim != 5:
            continue
        scale = 0.5 / max(float(dk[j].abs().max()), 1e-30)
        heat = diff[j].double().pow(2).sum(dim=1).mean(dim=0)
        panels: list[tuple[str, np.ndarray, str | None]] = [
            ("y", src, None),
            (f"0.5 + {scale:.3g}·δ", _image(0.5 + scale * dk[j], 1.0), None),  # type: ignore[list-item]
            ("G(y, z₁)" if std is not None else "G(y)", clean, None),
            ("G(y + δ, z₁)" if std is not None else "G(y + δ)", pert, None),
            (
                "|G(y+δ, z) − G(y, z)| (RMS over seeds)" if std is not None else "|G(y+δ) − G(y)|",
                heat.sqrt().cpu().numpy(),
                "magma",
            ),
        ]
        if std is not None:
            panels.append(("per-pixel std", std[j].double().mean(0).cpu().numpy(), "viridis"))
        name = f"worst_{j + 1}.png"
        _figure_row(panels, out / name)
        parts.append(
            f'<figure><img src="{name}" alt="input {i}"><figcaption>input '
            f"{html.escape(rep.label(i))}: eq. 6 value {float(rep.value[i]):.4g}; the heat map's "
            f"sum of squares{' at these seeds' if std is not None else ''} is "
            f"{float(heat.sum()):.4g}; eq. 9 PSNR "
            f"{float(rep.output_psnr[i]):.2f} dB; AI-PSNR {float(rep.input_psnr[i]):.2f} dB"
            "</figcaption></figure>"
        )
    return parts


def _first(seeds: Any) -> Any:
    if isinstance(seeds, torch.Tensor):
        return seeds[:, :1]
    if isinstance(seeds, dict):
        return {k: _first(v) for k, v in seeds.items()}
    return type(seeds)(_first(v) for v in seeds)


def write_report(
    report: AuditReport,
    estimator: Estimator | Any,
    y: torch.Tensor,
    out_dir: str | Path,
    *,
    n_worst: int = 3,
    n_diversity_seeds: int = 8,
    generator: torch.Generator | None = None,
) -> Path:
    """Write the HTML report of an audit to ``out_dir`` (created if needed).

    The per-input table has the columns :data:`PER_INPUT_COLUMNS` with the numbers of
    ``report.json`` (6 significant digits); the ``n_worst`` most sensitive inputs get a
    figure row if inputs and outputs are ``(C, H, W)`` images with 1 or 3 channels
    (otherwise the page says so). The model is evaluated again for the figures (fresh
    seeds from ``generator`` for stochastic models).

    Args:
        report: the audit (:func:`~stochrobust.audit.run_audit`).
        estimator: the estimator or model that was audited.
        y: the audited inputs ``(N, *in_shape)`` (``report.delta`` is added to them).
        out_dir: the folder.
        n_worst: figure rows (``≥ 0``).
        n_diversity_seeds: samples per input for the per-pixel std map (``≥ 2``).
        generator: random generator for the figures' seeds; ``None`` uses torch's global
            generator.

    Returns:
        The path of ``index.html``.

    Raises:
        OSError: ``out_dir`` cannot be written.

    Shape:
        - ``y``: ``(N, *in_shape)`` as audited.

    References:
        [O23] eqs. 6, 9, Table 2.

    Examples:
        >>> import tempfile
        >>> from stochrobust.audit import run_audit
        >>> y = torch.rand(2, 1, 8, 8)
        >>> rep = run_audit(lambda t: t.flip(-1), y, 0.5)
        >>> page = write_report(rep, lambda t: t.flip(-1), y, tempfile.mkdtemp())
        >>> sorted(p.name for p in page.parent.iterdir())
        ['histogram.png', 'index.html', 'report.json', 'worst_1.png', 'worst_2.png']
    """
    est = as_estimator(estimator)
    k = min(check_int(n_worst, "n_worst", minimum=0), len(report.names))
    n_div = check_int(n_diversity_seeds, "n_diversity_seeds", minimum=2)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    (out / "report.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    data_range = float(report.settings.get("data_range", 1.0))
    order = [int(i) for i in torch.argsort(report.value.double(), descending=True,
                                           stable=True)[:k].tolist()]  # fmt: skip
    figures = _worst_rows(report, est, y, order, out, generator, data_range, n_div) if k else []
    _histogram(report, out / "histogram.png")
    settings = _table([[key, v] for key, v in data["settings"].items()], ["setting", "value"])
    agg = _table([[key, v] for key, v in data["aggregate"].items()], ["aggregate", "value"])
    rows = [[row[c] for c in PER_INPUT_COLUMNS] for row in data["per_input"]]
    table = _table(rows, list(PER_INPUT_COLUMNS), ' id="per-input"', frozenset(order))
    if not figures:
        figures = ["<p>No figures: they need (C, H, W) image inputs and outputs with 1 or 3 "
                   "channels.</p>"]  # fmt: skip
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>stochrobust audit</title>
<style>{_CSS}</style></head><body>
<h1>stochrobust audit: {html.escape(str(report.settings.get("model", "model")))}</h1>
<p>{len(report.names)} inputs of shape {report.input_shape}; ε = {report.eps:.4g} on the
{report.ball} ball (worst-case AI-PSNR {report.ai_psnr:.2f} dB); eq. 6 is the same-seed
sensitivity E<sub>z</sub>‖G(y+δ, z) − G(y, z)‖² at the maximiser δ (Ohayon et al. 2023).</p>
<h2>Most sensitive inputs</h2>
{"".join(figures)}
<div class="grid"><div><h2>Aggregate</h2>{agg}</div><div><h2>Per-input eq. 6 values</h2>
<img src="histogram.png" alt="histogram of the eq. 6 values"></div>
<div><h2>Settings</h2>{settings}</div></div>
<h2>Per input</h2>
{table}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
