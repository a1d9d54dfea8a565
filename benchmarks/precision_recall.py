"""Improved precision/recall: time and peak memory against piq.PR (and torch-fidelity).

Features: ``N`` real standard normals and ``N`` generated ``1.1·g + 0.1`` in 64-D, ``k = 3``,
at ``N`` = 2 000, 10 000 and 30 000 (``--quick``: 500 and 4 000).

- ``ours_over_peer_n{N}``: median time of ``stochrobust.metrics.precision_recall`` over
  ``piq.PR`` (``ours_over_torch_fidelity_n{N}`` likewise, when torch-fidelity is installed
  — it is optional and not installed by any extra), timed interleaved in this process after
  a warm-up. Peers run only where their dense ``N × N`` distance matrices (three of them
  for piq) fit in 40 % of the available memory; at 30 000 points piq would hold 10.8 GB.
- ``peak_mb_n{N}`` / ``extra_mb_n{N}`` (and ``peer_…`` for piq): one call in a fresh
  process (``_common.child_peak``): the whole-process peak RSS, and the part above the
  imports and the data. Target at 30 000: peak ≤ 1.5 GB; ``seconds_single_n30000`` is the
  time of that one call (target < 60 s).
- ``precision_diff_vs_peer_n{N}``: ``|ours − piq|`` on the precision, where piq's
  definition agrees with ours (its recall uses another convention, see docs/metrics.md).

Scale rows, at the paper's feature width ``D = 2048`` (``N`` real and ``N`` generated
features, ``k = 3``; ``N = 6 000``, ``--quick``: 500 — the 50 000 of [O23] takes about
70× longer than ``N = 6 000`` on a 2-core machine, beyond the benchmark budget, so the
``…_n50000`` rows are extrapolations, ``N²`` for time and ``N`` for memory, and say so):

- ``floor_seconds_d2048_n{N}``: the three blockwise distance products of the same shapes
  (real × real, fake × fake, fake × real, float32, ``1024 × 16384`` blocks) timed alone:
  the arithmetic no exact k-NN method can skip;
- ``prdc_over_floor_d2048_n{N}``: ``prdc`` (precision, recall, density, coverage, every
  decision proven or re-measured in float64) over that floor, timed side by side
  (target ≤ 1.3);
- ``prdc_peak_mb_d2048_n{N}``: whole-process peak RSS of one call in a fresh process;
- ``ranks2_seconds_d2048_n{N}`` / ``ranks2_over_floor_d2048_n{N}`` /
  ``ranks2_peak_mb_per_rank_d2048_n{N}``: ``sharded_prdc`` on 2 Gloo ranks
  (``torchrun``, each rank holding half of each set, one thread each) against the same
  one-process floor (same machine, same total work), and the largest rank's peak RSS;
- ``extrapolated_seconds_d2048_n50000`` and ``extrapolated_peak_mb_d2048_n50000``
  (target ≤ 6 000 MB).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from _common import available_memory_mb, child_peak, interleaved, note, row, sync
from scale_runs import scale_rows

NAME = "precision_recall"
DIM = 64


def features(n: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The real and generated feature clouds."""
    g = torch.Generator().manual_seed(n)
    real = torch.randn(n, DIM, generator=g)
    fake = 1.1 * torch.randn(n, DIM, generator=g) + 0.1
    return real.to(device), fake.to(device)


def _torch_fidelity() -> Any:
    try:
        from torch_fidelity import metric_prc
    except ImportError:
        return None
    return metric_prc


def implementations(device: str) -> dict[str, Callable[[torch.Tensor, torch.Tensor], Any]]:
    """name → ``fn(real, fake)`` for ours and every installed peer."""
    import piq

    from stochrobust.metrics import precision_recall

    impls: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
        "ours": lambda real, fake: precision_recall(real, fake, k=3),
        "piq": lambda real, fake: piq.PR(nearest_k=3).compute_metric(real, fake),
    }
    prc = _torch_fidelity()
    if prc is not None:  # positional: the keyword names differ between its versions
        impls["torch_fidelity"] = lambda real, fake: prc.calculate_precision_recall_part(fake, real)
    return impls


def memory(device: str, n: int, which: str) -> Callable[[], dict]:
    """Child-process set-up for :func:`_common.child_peak`: one timed call of ``which``."""
    real, fake = features(n, device)
    fn = implementations(device)[which]
    fn(real[:100], fake[:100])  # warm-up (lazy imports, kernels)

    def call() -> dict:
        start = time.perf_counter()
        fn(real, fake)
        sync(device)
        return {"seconds": time.perf_counter() - start}

    return call


def _fits(which: str, n: int, device: str) -> bool:
    """Whether a dense peer's ``N × N`` float32 matrices fit in 40 % of the free memory."""
    matrices = 3 if which == "piq" else 2
    if torch.device(device).type == "cuda":
        free_mb = torch.cuda.mem_get_info(torch.device(device))[0] / 2**20
    else:
        free_mb = available_memory_mb()
    return matrices * n * n * 4 / 2**20 <= 0.4 * free_mb


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure; see the module docstring."""
    sizes = (500, 4000) if quick else (2000, 10_000, 30_000)
    impls = implementations(device)
    if "torch_fidelity" not in impls:
        note(NAME, "torch-fidelity is not installed: its column is skipped")
    rows: list[dict] = []
    for n in sizes:
        real, fake = features(n, device)
        peers = [p for p in impls if p != "ours" and _fits(p, n, device)]
        for p in impls:
            if p != "ours" and p not in peers:
                note(NAME, f"{p} skipped at N = {n}: its dense N × N matrices do not fit")
        if peers:
            repeats = 3 if quick or n >= 10_000 else 7
            times = interleaved(
                {p: (lambda p=p, r=real, f=fake: impls[p](r, f)) for p in ["ours", *peers]},
                repeats,
                device,
            )
            for p in peers:
                metric = "ours_over_peer" if p == "piq" else f"ours_over_{p}"
                target = None if quick else 1.0
                rows.append(row(NAME, f"{metric}_n{n}", times["ours"] / times[p], target))
            rows += [row(NAME, f"seconds_{p}_n{n}", t) for p, t in times.items()]
            if "piq" in peers:
                ours = float(impls["ours"](real, fake).precision)
                peer = float(impls["piq"](real, fake)[0])
                rows.append(row(NAME, f"precision_diff_vs_peer_n{n}", abs(ours - peer), 1e-6))
        del real, fake
        if n < 4000:
            continue
        for which in ["ours", *(["piq"] if "piq" in peers else [])]:
            peak = child_peak(NAME, "memory", device, n=n, which=which)
            prefix = "" if which == "ours" else "peer_"
            target = 1500.0 if n == 30_000 and which == "ours" else None
            rows.append(row(NAME, f"{prefix}peak_mb_n{n}", peak["peak_mb"], target))
            if peak["extra_mb"] is not None:
                rows.append(row(NAME, f"{prefix}extra_mb_n{n}", peak["extra_mb"]))
            if n == sizes[-1]:  # too big for repeated timings: the child's single call
                target = 60.0 if which == "ours" and not quick else None
                rows.append(row(NAME, f"{prefix}seconds_single_n{n}", peak["seconds"], target))
    return rows + scale_rows(NAME, 500 if quick else 6000, device)
