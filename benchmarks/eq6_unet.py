"""[O23] eq. 6 on the paper's U-Net: fused ``sensitivity_at`` vs a per-seed loop vs the floor.

Set-up ([O23] App. E.2.1 and E.2.3): ``UNet(s=24, depth=4)`` (one seed per down block) in
eval mode, inputs 3×64×64, ``K = 10`` seeds, 5 Adam ascent steps with lr 1
(``AdamAscent(steps=5, lr=1.0)``), L2 ball of radius 2.5 (inpainting, AI-PSNR 32.9 dB), at
``B = 8`` and ``B = 1``. Variants, timed interleaved in this process:

- ``fused``: ``stochrobust.sensitivity.sensitivity_at`` — one ``(B·K)``-row model call per
  step, clean outputs once without grad, best iterate tracked on the device, one final
  no-grad evaluation of the last iterate, PSNRs of the result.
- ``loop``: the same attack written naively — the same seeds, random start, Adam steps,
  projections and best-of, but ``model(y + δ, z_k)`` called separately for every seed
  ``k`` (``K`` calls of ``B`` rows per step).
- ``bare``: the floor — one no-grad forward of the ``(B·K)`` batch (the clean outputs) and
  5 forward+backward passes of that batch with gradients with respect to the input only
  (parameters frozen), written directly with torch.
- ``forward``: one no-grad forward of the ``(B·K)`` batch — the final evaluation of the
  last iterate that ``fused`` does on top of ``bare`` (``fused_over_bare_plus_eval``
  leaves only the library's own bookkeeping).
- ``chunked`` (CPU, ``B·K > 20``): ``fused`` with ``max_batch = 20`` rows per model call,
  the remedy for the allocator's page faults on large batches (see ``RESULTS.md``).

Reported: ``fused_over_loop_b{B}``, ``fused_over_bare_b{B}``,
``fused_over_bare_plus_eval_b{B}``, ``chunked20_over_loop_b{B}``, the median times,
``value_rel_diff_b{B}`` (loop vs fused eq. 6 values: both compute the same attack) and the
peak memory and (CPU) minor page faults of one call of ``fused``, ``loop``, ``bare`` and
``chunked`` in a fresh process (``peak_mb_b{B}``, ``extra_mb_b{B}`` and
``minor_faults_b{B}`` are the fused one's; see ``_common.child_peak``: CPU whole-process
peak RSS, CUDA ``max_memory_allocated``; ``extra`` is the part above the set-up).
``--quick`` shrinks the network (s = 8) and the images (32×32) and uses ``B = 2`` and 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from _common import child_peak, interleaved, row

from stochrobust import frozen
from stochrobust.nets import UNet
from stochrobust.sensitivity import AdamAscent, project_l2, sensitivity_at

NAME = "eq6_unet"


@dataclass(frozen=True)
class Config:
    s: int
    size: int
    batches: tuple[int, ...]
    repeats: int
    seeds: int = 10
    steps: int = 5
    lr: float = 1.0
    eps: float = 2.5
    depth: int = 4


FULL = Config(s=24, size=64, batches=(8, 1), repeats=5)
QUICK = Config(s=8, size=32, batches=(2, 1), repeats=2)


def setup(cfg: Config, batch: int, device: str) -> tuple[UNet, torch.Tensor]:
    """The network (eval mode, parameters requiring grad, as a user holds it) and inputs."""
    torch.manual_seed(0)
    net = UNet(s=cfg.s, depth=cfg.depth).to(device).eval()
    y = torch.rand(batch, 3, cfg.size, cfg.size, generator=torch.Generator().manual_seed(1))
    return net, y.to(device)


def _generator(device: str, seed: int = 7) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def fused(net: UNet, y: torch.Tensor, cfg: Config, g: torch.Generator) -> torch.Tensor:
    """The library: ``sensitivity_at`` with the paper's attack; returns the eq. 6 values."""
    solver = AdamAscent(steps=cfg.steps, lr=cfg.lr)
    res = sensitivity_at(net.estimator(), y, cfg.eps, n_seeds=cfg.seeds, solver=solver, generator=g)
    return res.value


def _draws(
    net: UNet, y: torch.Tensor, cfg: Config, g: torch.Generator
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The seeds ``(B, K, ...)`` and the random start, drawn as ``sensitivity_at`` draws them."""
    batch, k = y.shape[0], cfg.seeds
    seeds = [z.reshape(batch, k, *z.shape[1:]) for z in net.seed_sampler(batch * k, y, g)]
    d = y[0].numel()
    direction = torch.randn((batch, d), generator=g, device=g.device).to(y.device)
    radius = torch.rand((batch, 1), generator=g, device=g.device).to(y.device)
    start = direction / direction.norm(dim=1, keepdim=True) * cfg.eps * radius.pow(1.0 / d)
    return seeds, project_l2(start.reshape(y.shape), cfg.eps)


def loop(net: UNet, y: torch.Tensor, cfg: Config, g: torch.Generator) -> torch.Tensor:
    """The same attack with one model call per seed; returns the eq. 6 values."""
    batch, k = y.shape[0], cfg.seeds
    b1, b2 = 0.9, 0.999
    with frozen(net):
        seeds, delta = _draws(net, y, cfg, g)
        per_seed = [tuple(z[:, i] for z in seeds) for i in range(k)]
        with torch.no_grad():
            clean = [net(y, z) for z in per_seed]

        def objective(delta: torch.Tensor) -> torch.Tensor:
            total = torch.zeros(batch, device=y.device)
            for z, c in zip(per_seed, clean, strict=True):
                total = total + (net(y + delta, z) - c).pow(2).flatten(1).sum(1)
            return total / k

        best_value = torch.full((batch,), float("-inf"), device=y.device)
        best_delta = torch.zeros_like(y)
        m, v = torch.zeros_like(y), torch.zeros_like(y)
        for t in range(1, cfg.steps + 1):
            d = delta.detach().requires_grad_(True)
            value = objective(d)
            (grad,) = torch.autograd.grad(value.sum(), d)
            better = value.detach() > best_value
            best_value = torch.where(better, value.detach(), best_value)
            best_delta = torch.where(better.reshape(-1, 1, 1, 1), delta, best_delta)
            m = b1 * m + (1 - b1) * grad
            v = b2 * v + (1 - b2) * grad * grad
            step = cfg.lr / (1 - b1**t) * m / ((v / (1 - b2**t)).sqrt() + 1e-8)
            delta = project_l2(delta + step, cfg.eps)
        with torch.no_grad():
            value = objective(delta)
        return torch.where(value > best_value, value, best_value)


def bare(net: UNet, y: torch.Tensor, cfg: Config, g: torch.Generator) -> None:
    """The floor: 1 no-grad forward + ``steps`` forward+backward w.r.t. the input, (B·K) rows.

    Same seeds and random start as the attack, so that the passes see the same data.
    """
    k = cfg.seeds
    with frozen(net):
        seeds, delta = _draws(net, y, cfg, g)
        z = [s.flatten(0, 1) for s in seeds]
        with torch.no_grad():
            clean = net(y.repeat_interleave(k, 0), z)
        for _ in range(cfg.steps):
            d = delta.requires_grad_(True)
            out = net((y + d).repeat_interleave(k, 0), z)
            (grad,) = torch.autograd.grad((out - clean).pow(2).sum(), d)
            delta = d.detach() + 1e-3 * grad.sign()


def forward(net: UNet, y: torch.Tensor, cfg: Config, g: torch.Generator) -> None:
    """One no-grad forward of the (B·K) batch: the final evaluation ``fused`` adds to ``bare``."""
    k = cfg.seeds
    with frozen(net), torch.no_grad():
        net(y.repeat_interleave(k, 0), net.seed_sampler(y.shape[0] * k, y, g))


def chunked(net: UNet, y: torch.Tensor, cfg: Config, g: torch.Generator) -> torch.Tensor:
    """``fused`` with ``max_batch = CHUNK`` rows per model call (the CPU remedy, see RESULTS)."""
    solver = AdamAscent(steps=cfg.steps, lr=cfg.lr)
    est = net.estimator(max_batch=CHUNK)
    return sensitivity_at(est, y, cfg.eps, n_seeds=cfg.seeds, solver=solver, generator=g).value


CHUNK = 20
_ALL = {"fused": fused, "loop": loop, "bare": bare, "forward": forward, "chunked": chunked}


def memory(device: str, variant: str, batch: int, quick: bool) -> Callable[[], None]:
    """Child-process set-up for :func:`_common.child_peak`: one call of one variant."""
    cfg = QUICK if quick else FULL
    net, y = setup(cfg, batch, device)
    fn = _ALL[variant]

    def call() -> None:
        fn(net, y, cfg, _generator(device))

    return call


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    """Measure every batch size of the configuration; see the module docstring."""
    cfg = QUICK if quick else FULL
    cuda = torch.device(device).type == "cuda"
    rows: list[dict] = []
    for batch in cfg.batches:
        tag = f"b{batch}"
        net, y = setup(cfg, batch, device)
        timed = {name: fn for name, fn in _ALL.items() if name != "chunked"}
        if batch * cfg.seeds > CHUNK and not cuda:
            timed["chunked"] = chunked
        times = interleaved(
            {
                name: (lambda fn=fn, net=net, y=y: fn(net, y, cfg, _generator(device)))
                for name, fn in timed.items()
            },
            cfg.repeats,
            device,
        )
        # Targets apply at the paper's sizes (the full run); --quick is a smoke run.
        if quick:
            loop_target = bare_target = None
        elif cuda:
            loop_target, bare_target = (0.2 if batch == 1 else 0.5), 1.05
        else:
            loop_target, bare_target = 1.05, 1.10
        fused_s = times["fused"]
        rows.append(row(NAME, f"fused_over_loop_{tag}", fused_s / times["loop"], loop_target))
        rows.append(row(NAME, f"fused_over_bare_{tag}", fused_s / times["bare"], bare_target))
        floor = times["bare"] + times["forward"]
        rows.append(row(NAME, f"fused_over_bare_plus_eval_{tag}", fused_s / floor))
        if "chunked" in times:
            rel = times["chunked"] / times["loop"]
            rows.append(row(NAME, f"chunked{CHUNK}_over_loop_{tag}", rel, loop_target))
        for name, seconds in times.items():
            rows.append(row(NAME, f"seconds_{name}_{tag}", seconds))
        ours = fused(net, y, cfg, _generator(device))
        naive = loop(net, y, cfg, _generator(device))
        rel = ((ours - naive).abs() / ours.abs().clamp_min(1e-12)).max()
        rows.append(row(NAME, f"value_rel_diff_{tag}", float(rel), 1e-3))
        del net, y
        if quick and batch != cfg.batches[0]:
            continue
        for variant in [v for v in _ALL if v in times and v != "forward"]:
            peak = child_peak(NAME, "memory", device, variant=variant, batch=batch, quick=quick)
            suffix = tag if variant == "fused" else f"{variant}_{tag}"
            rows.append(row(NAME, f"peak_mb_{suffix}", peak["peak_mb"]))
            if peak["extra_mb"] is not None:
                rows.append(row(NAME, f"extra_mb_{suffix}", peak["extra_mb"]))
            if not cuda:
                rows.append(row(NAME, f"minor_faults_{suffix}", peak["minor_faults"]))
    return rows
