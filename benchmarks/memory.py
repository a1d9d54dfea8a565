"""Memory-bounded attacks: one-shot vs chunked δ-gradients, and a checkpointed 20-step sampler.

Part 1, [O23] eq. 6 on the U-Net (``UNet(s=24, depth=4)``, 3×64×64, eval mode, B = 1,
``AdamAscent(steps=3, lr=1.0)``, L2 ball of radius 2.5) at K = 1, 4, 16, 64 seeds:

- ``oneshot``: ``max_batch=None`` — the ``B·K`` rows in one model call, one autograd graph;
- ``chunked``: ``max_batch=CHUNK`` (4) — :meth:`~stochrobust.Estimator.foreach_chunk`
  back-propagates each chunk of 4 rows into the δ-gradient and frees its graph.

Part 2, an attack (``sensitivity_at``, K = 4, ``AdamAscent(steps=3)``) on a 20-step toy
sampler (:class:`~stochrobust.memory.IterativeSampler`, each step a 3→32→32→3 conv net on
3×64×64) without and with checkpointing of the steps.

Reported: ``peak_mb_{variant}_k{K}`` and ``extra_mb_{variant}_k{K}`` (one call in a fresh
process, ``_common.child_peak``: CPU whole-process peak RSS, CUDA
``max_memory_allocated``; ``extra`` is the part above the set-up), ``seconds_*`` (median,
interleaved), ``chunked_over_oneshot_k{K}`` (time at equal K, target 1.10),
``chunked_extra_spread`` (max/min of the chunked ``extra_mb`` over K ≥ 4, target 1.10: flat
in K), ``chunked_peak_spread`` (the same for ``peak_mb`` over all K) and, for the sampler,
``checkpoint_peak_ratio`` and ``checkpoint_over_plain`` (time). ``--quick`` shrinks the
network (s = 8), the images (32×32) and measures memory at K = 1 and 16 only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from _common import child_peak, interleaved, row
from torch import nn
from torch.utils.checkpoint import checkpoint

from stochrobust import ConvergenceWarning
from stochrobust.memory import IterativeSampler
from stochrobust.nets import UNet
from stochrobust.sensitivity import AdamAscent, sensitivity_at

NAME = "memory"
CHUNK = 4


@dataclass(frozen=True)
class Config:
    s: int
    size: int
    seeds: tuple[int, ...]
    memory_seeds: tuple[int, ...]
    repeats: int
    width: int
    steps: int = 3
    eps: float = 2.5


FULL = Config(s=24, size=64, seeds=(1, 4, 16, 64), memory_seeds=(1, 4, 16, 64), repeats=3, width=32)
QUICK = Config(s=8, size=32, seeds=(1, 4, 16, 64), memory_seeds=(1, 16), repeats=1, width=8)


class _Step(nn.Module):
    """One step of the toy sampler: ``x + 0.1·tanh(net([x, y])) + 0.05·z``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(6, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, 3, 3, padding=1),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, t: int) -> torch.Tensor:
        return x + 0.1 * torch.tanh(self.net(torch.cat([x, y], 1))) + 0.05 * z


def _inputs(cfg: Config, device: str) -> torch.Tensor:
    y = torch.rand(1, 3, cfg.size, cfg.size, generator=torch.Generator().manual_seed(1))
    return y.to(device)


def _unet(cfg: Config, device: str) -> UNet:
    torch.manual_seed(0)
    return UNet(s=cfg.s, depth=4).to(device).eval()


def _sampler(cfg: Config, device: str, checkpoint: bool) -> IterativeSampler:
    torch.manual_seed(0)
    step = _Step(cfg.width).to(device).eval()
    return IterativeSampler(step, 20, (3, cfg.size, cfg.size), checkpoint=checkpoint)


def _attack(est: object, y: torch.Tensor, k: int, cfg: Config) -> torch.Tensor:
    g = torch.Generator(device=y.device).manual_seed(7)
    solver = AdamAscent(steps=cfg.steps, lr=1.0)
    with warnings.catch_warnings():  # 3 steps are a cost probe, not a converged attack
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sensitivity_at(est, y, cfg.eps, n_seeds=k, solver=solver, generator=g).value


def _unet_call(
    net: UNet, y: torch.Tensor, k: int, cfg: Config, chunked: bool
) -> Callable[[], object]:
    est = net.estimator(max_batch=CHUNK if chunked else None)
    return lambda: _attack(est, y, k, cfg)


def _sampler_call(cfg: Config, device: str, checkpoint: bool) -> Callable[[], object]:
    est = _sampler(cfg, device, checkpoint).estimator()
    y = _inputs(cfg, device)
    return lambda: _attack(est, y, 4, cfg)


def _warm_checkpoint() -> None:
    """One tiny checkpointed pass: torch imports modules on the first one (~130 MB RSS)."""
    x = torch.ones(1, requires_grad=True)
    checkpoint(torch.sin, x, use_reentrant=False).sum().backward()


def memory(device: str, variant: str, k: int, quick: bool) -> Callable[[], None]:
    """Child-process set-up for :func:`_common.child_peak`: one attack of one variant."""
    cfg = QUICK if quick else FULL
    _warm_checkpoint()  # its lazy imports are not part of any variant's peak
    if variant in ("plain", "checkpoint"):
        call = _sampler_call(cfg, device, variant == "checkpoint")
    else:
        call = _unet_call(_unet(cfg, device), _inputs(cfg, device), k, cfg, variant == "chunked")

    def run_once() -> None:
        call()

    return run_once


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Both parts; see the module docstring."""
    cfg = QUICK if quick else FULL
    rows: list[dict] = []
    net, y = _unet(cfg, device), _inputs(cfg, device)
    for k in cfg.seeds:
        times = interleaved(
            {v: _unet_call(net, y, k, cfg, v == "chunked") for v in ("oneshot", "chunked")},
            cfg.repeats,
            device,
        )
        rel = times["chunked"] / times["oneshot"]
        rows.append(row(NAME, f"chunked_over_oneshot_k{k}", rel, None if quick else 1.10))
        for v, seconds in times.items():
            rows.append(row(NAME, f"seconds_{v}_k{k}", seconds))
        a = _unet_call(net, y, k, cfg, False)()
        b = _unet_call(net, y, k, cfg, True)()
        diff = ((a - b).abs() / a.abs().clamp_min(1e-12)).max()  # type: ignore[operator]
        rows.append(row(NAME, f"value_rel_diff_k{k}", float(diff), 1e-4))
    peaks: dict[str, dict[int, dict]] = {"oneshot": {}, "chunked": {}}
    for k in cfg.memory_seeds:
        for v in peaks:
            peak = child_peak(NAME, "memory", device, variant=v, k=k, quick=quick)
            peaks[v][k] = peak
            rows.append(row(NAME, f"peak_mb_{v}_k{k}", peak["peak_mb"]))
            if peak["extra_mb"] is not None:
                rows.append(row(NAME, f"extra_mb_{v}_k{k}", peak["extra_mb"]))
    chunked = peaks["chunked"]
    spread = max(p["peak_mb"] for p in chunked.values()) / min(
        p["peak_mb"] for p in chunked.values()
    )
    rows.append(row(NAME, "chunked_peak_spread", spread, None if quick else 1.10))
    extra = [p["extra_mb"] for k, p in chunked.items() if k >= CHUNK and p["extra_mb"]]
    if len(extra) > 1:
        rows.append(row(NAME, "chunked_extra_spread", max(extra) / min(extra), 1.10))
    # Part 2: the 20-step sampler.
    times = interleaved(
        {v: _sampler_call(cfg, device, v == "checkpoint") for v in ("plain", "checkpoint")},
        cfg.repeats,
        device,
    )
    rows.append(row(NAME, "checkpoint_over_plain", times["checkpoint"] / times["plain"]))
    for v, seconds in times.items():
        rows.append(row(NAME, f"seconds_sampler_{v}", seconds))
    sampler = {}
    for v in ("plain", "checkpoint"):
        sampler[v] = child_peak(NAME, "memory", device, variant=v, k=4, quick=quick)
        rows.append(row(NAME, f"peak_mb_sampler_{v}", sampler[v]["peak_mb"]))
        if sampler[v]["extra_mb"] is not None:
            rows.append(row(NAME, f"extra_mb_sampler_{v}", sampler[v]["extra_mb"]))
    ratio = sampler["checkpoint"]["peak_mb"] / sampler["plain"]["peak_mb"]
    rows.append(row(NAME, "checkpoint_peak_ratio", ratio))
    return rows
